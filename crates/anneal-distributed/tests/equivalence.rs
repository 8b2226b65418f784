//! Data-parallel replicas equal one model trained on the global batch.

use anneal_data::dataset::ShuffledBatches;
use anneal_data::{BatchSampler, ClassificationData, LastBatch, Sharded};
use anneal_distributed::{Collective, DistError, GradientSync, ThreadReplicas};
use anneal_models::{ActivationKind, Mlp, MlpConfig};
use anneal_optim::OptimizerConfig;
use anneal_train::{EpochRecord, Progress, TrainConfig, TrainError, TrainHook, Trainer};
use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;

/// 256 rows of 12 features in 3 classes, from a fixed formula.
fn data() -> ClassificationData {
    let n = 256;
    let features: Vec<f32> = (0..n * 12).map(|i| (((i * 2654435761_usize) % 1000) as f32 / 500.0) - 1.0).collect();
    let classes: Vec<usize> =
        (0..n).map(|r| ((features[r * 12] + features[r * 12 + 1] > 0.0) as usize) + (r % 2)).collect();
    ClassificationData::new(features, 12, classes).unwrap()
}

fn model(device: &Device) -> Mlp {
    MlpConfig {
        input: 12,
        hidden: vec![32, 16],
        output: 3,
        activation: ActivationKind::Relu,
        dropout: 0.0,
        layer_dropout: vec![],
    }
    .init(7, &device.clone().autodiff())
    .unwrap()
}

struct Weights(Vec<f32>);
impl ModuleVisitor for Weights {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.extend(param.val().into_data().convert::<f32>().try_into_vec::<f32>().unwrap());
    }
}
fn weights(m: &Mlp) -> Vec<f32> {
    let mut w = Weights(Vec::new());
    m.visit(&mut w);
    w.0
}

/// `epochs` epochs of SGD with momentum (4 updates each at global batch 64).
fn config(epochs: usize, batch: usize) -> TrainConfig {
    TrainConfig { seed: 3, ..TrainConfig::new(epochs, batch) }
}

fn optimizer() -> OptimizerConfig {
    toml::from_str("name = \"sgd\"\nlearning_rate = 0.1\nmomentum = 0.9").unwrap()
}

fn single(epochs: usize) -> (Vec<f32>, Vec<EpochRecord>) {
    single_at(epochs, 64)
}

fn single_at(epochs: usize, batch: usize) -> (Vec<f32>, Vec<EpochRecord>) {
    let device = Device::flex();
    let data = data();
    let mut opt = optimizer().init().unwrap();
    let fitted = Trainer::new(config(epochs, batch), device.clone())
        .with_progress(Progress::Silent)
        .fit(model(&device), &mut opt, &data, None)
        .unwrap();
    (weights(&fitted.model), fitted.history)
}

fn replicated(replicas: usize, epochs: usize, bucket: usize) -> Vec<(Vec<f32>, Vec<EpochRecord>)> {
    replicated_at(replicas, epochs, bucket, 64)
}

/// Global batches of `batch` rows shared among `replicas`.
fn replicated_at(replicas: usize, epochs: usize, bucket: usize, batch: usize) -> Vec<(Vec<f32>, Vec<EpochRecord>)> {
    let device = Device::flex();
    let data = data();
    ThreadReplicas::new(replicas)
        .run(|collective| {
            let rank = collective.rank();
            let global = ShuffledBatches { batch_size: batch, seed: 3, last: LastBatch::Keep };
            let mut sync = GradientSync::new(collective).with_bucket_values(bucket);
            let mut opt = optimizer().init()?;
            let fitted = Trainer::new(config(epochs, batch), device.clone())
                .with_progress(Progress::Silent)
                .with_sampler(Sharded::new(global, rank, replicas)?)
                .with_hook(&mut sync)
                .fit(model(&device), &mut opt, &data, None)?;
            sync.into_collective().finish();
            Ok((weights(&fitted.model), fitted.history))
        })
        .unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn two_replicas_at_32_equal_one_at_64_after_20_steps() {
    // 256 rows / 64 = 4 updates per epoch × 5 epochs = 20 steps.
    let (w1, h1) = single(5);
    let runs = replicated(2, 5, anneal_distributed::DEFAULT_BUCKET_VALUES);
    let (w2, h2) = &runs[0];
    assert!(w1.iter().all(|v| v.is_finite()));
    let d = max_diff(&w1, w2);
    assert!(d < 1e-5, "max |Δw| = {d}");
    // The replicas themselves are identical, bit for bit.
    assert_eq!(runs[0].0, runs[1].0);
    // The agreed records (all but the wall-clock seconds): the training loss over
    // all rows equals the single run's.
    let agreed = |h: &[EpochRecord]| h.iter().map(|r| (r.train_loss, r.metrics.clone())).collect::<Vec<_>>();
    assert_eq!(agreed(&runs[0].1), agreed(&runs[1].1));
    for (a, b) in h1.iter().zip(h2) {
        assert!((a.train_loss - b.train_loss).abs() < 1e-5, "{} vs {}", a.train_loss, b.train_loss);
        let (x, y) = (a.metric("train_accuracy").unwrap(), b.metric("train_accuracy").unwrap());
        assert!((x - y).abs() < 1e-9, "{x} vs {y}");
    }
    // Training did something: the weights moved.
    assert!(max_diff(&w1, &weights(&model(&Device::flex()))) > 1e-2);
}

#[test]
fn one_replica_trains_exactly_as_the_plain_loop() {
    // A world of one skips the gradient exchange: the same weights and losses,
    // bit for bit, as training without the hook (a round trip through host
    // buffers scaled by the rows and back used to cost the baseline time, and
    // rounded: batches of 48 and a last one of 16 rows).
    let (w1, h1) = single_at(2, 48);
    let runs = replicated_at(1, 2, anneal_distributed::DEFAULT_BUCKET_VALUES, 48);
    assert_eq!(w1, runs[0].0);
    let losses = |h: &[EpochRecord]| h.iter().map(|r| r.train_loss).collect::<Vec<_>>();
    assert_eq!(losses(&h1), losses(&runs[0].1));
}

#[test]
fn small_buckets_and_uneven_parts_give_the_same_update() {
    // Three replicas: 64 rows split 21/21/22; buckets of 100 values.
    let (w1, _) = single(2);
    let runs = replicated(3, 2, 100);
    let d = max_diff(&w1, &runs[0].0);
    assert!(d < 1e-5, "max |Δw| = {d}");
    assert_eq!(runs[0].0, runs[2].0);
}

#[test]
fn every_row_is_seen_once_per_epoch_across_replicas() {
    let global = ShuffledBatches { batch_size: 64, seed: 9, last: LastBatch::Keep };
    let mut seen: Vec<usize> =
        (0..3).flat_map(|r| Sharded::new(global, r, 3).unwrap().batches(250, 2).unwrap().concat()).collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..250).collect::<Vec<_>>());
}

/// A replica whose training fails ends the other with its own error, not a hang.
#[test]
fn a_failing_replica_ends_the_run_with_its_error() {
    struct FailAt(usize);
    impl TrainHook for FailAt {
        fn failure(&mut self) -> Option<String> {
            // Asked after each of an epoch's 4 batches, after its flush and its record: call 8 is epoch 2's second batch.
            self.0 = self.0.saturating_sub(1);
            (self.0 == 0).then(|| "injected failure".to_string())
        }
    }
    let device = Device::flex();
    let data = data();
    let start = std::time::Instant::now();
    let err = ThreadReplicas::new(2)
        .run(|collective| {
            let rank = collective.rank();
            let global = ShuffledBatches { batch_size: 64, seed: 3, last: LastBatch::Keep };
            let mut sync = GradientSync::new(collective);
            let mut opt = optimizer().init()?;
            let mut trainer = Trainer::new(config(5, 64), device.clone())
                .with_progress(Progress::Silent)
                .with_sampler(Sharded::new(global, rank, 2)?)
                .with_hook(&mut sync);
            if rank == 1 {
                trainer = trainer.with_hook(FailAt(8));
            }
            trainer.fit(model(&device), &mut opt, &data, None).map(|_| ())
        })
        .unwrap_err();
    assert!(start.elapsed().as_secs() < 30);
    match &err {
        DistError::Replica { rank: 1, source: TrainError::Aborted { reason, epoch: 2, .. } } => {
            assert_eq!(reason, "injected failure")
        }
        other => panic!("expected replica 1's own failure, got {other}"),
    }
}
