//! Augmentation in the loop: the training loop augments every training batch
//! once, with its rows and epoch, and never a validation batch.

use std::sync::Mutex;

use anneal_data::{Augmented, Batch, BatchAugment, Result as DataResult};
use anneal_models::{ActivationKind, MlpConfig};
use anneal_optim::OptimizerConfig;
use anneal_train::{Backend, Progress, TrainConfig, Trainer};
use burn::prelude::*;

use super::blobs;

/// The rows and epoch of one augmented batch.
type Call = (Vec<usize>, usize);

/// Records every call and adds `shift` to the inputs.
struct Recording {
    calls: Mutex<Vec<Call>>,
    shift: f32,
}

impl BatchAugment<Tensor<2>> for Recording {
    fn augment(&self, batch: Batch<Tensor<2>>, rows: &[usize], epoch: usize) -> DataResult<Batch<Tensor<2>>> {
        self.calls.lock().unwrap().push((rows.to_vec(), epoch));
        Ok(Batch { input: batch.input.add_scalar(self.shift), target: batch.target })
    }
}

fn fit(train_shift: f32, epochs: usize) -> (Vec<f32>, Vec<Call>, usize) {
    let (train, valid) = (blobs(50, 4, 1, 1.0), blobs(20, 4, 2, 1.0));
    let on_train = Recording { calls: Mutex::new(Vec::new()), shift: train_shift };
    let on_valid = Recording { calls: Mutex::new(Vec::new()), shift: 100.0 };
    let device = Backend::Flex.device().unwrap();
    let model = MlpConfig {
        input: 4,
        hidden: vec![8],
        output: 3,
        activation: ActivationKind::Relu,
        dropout: 0.0,
        layer_dropout: vec![],
    }
    .init(3, &device.clone().autodiff())
    .unwrap();
    let mut optimizer = OptimizerConfig::with_defaults("adam", 0.01).unwrap().init().unwrap();
    let fitted = Trainer::new(TrainConfig::new(epochs, 16), device)
        .with_progress(Progress::Silent)
        .fit(model, &mut optimizer, &Augmented::new(&train, &on_train), Some(&Augmented::new(&valid, &on_valid)))
        .unwrap();
    let losses = fitted.history.iter().map(|r| r.metrics["val_loss"] as f32).collect();
    let calls = on_train.calls.into_inner().unwrap();
    (losses, calls, on_valid.calls.into_inner().unwrap().len())
}

#[test]
fn every_training_batch_is_augmented_once_and_no_validation_batch() {
    let (_, calls, valid_calls) = fit(0.5, 3);
    assert_eq!(valid_calls, 0, "a validation batch was augmented");
    // 50 rows in batches of 16: 4 batches an epoch, each row once per epoch.
    assert_eq!(calls.len(), 12);
    for epoch in 1..=3 {
        let mut rows: Vec<usize> = calls.iter().filter(|c| c.1 == epoch).flat_map(|c| c.0.clone()).collect();
        rows.sort_unstable();
        assert_eq!(rows, (0..50).collect::<Vec<_>>(), "epoch {epoch}");
    }
}

#[test]
fn the_augmentation_reaches_the_model() {
    let (plain, ..) = fit(0.0, 2);
    let (shifted, ..) = fit(3.0, 2);
    assert_ne!(plain, shifted, "shifting every training input changed nothing");
}
