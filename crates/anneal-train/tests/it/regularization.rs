//! Regularisation through the loop: L1 makes a linear model sparse, L2 shrinks
//! its weights monotonically, early stopping honours its warm-up.

use anneal_models::{ActivationKind, Mlp, MlpConfig};
use anneal_optim::OptimizerConfig;
use anneal_regularize::{EarlyStoppingConfig, Goal, PenaltyConfig};
use anneal_train::{Backend, Loss, Progress, TrainConfig, Trainer, evaluate};

/// Logistic regression as an MLP without hidden layers.
fn linear(input: usize, output: usize) -> Mlp {
    let config = MlpConfig {
        input,
        hidden: vec![],
        output,
        activation: ActivationKind::Relu,
        dropout: 0.0,
        layer_dropout: vec![],
    };
    config.init(3, &Backend::Flex.device().unwrap().autodiff()).unwrap()
}

pub fn train_linear(penalty: PenaltyConfig, epochs: usize, optimizer: OptimizerConfig) -> (Mlp, f64) {
    let (train, test) = super::sklearn("sklearn_breast_cancer.csv.gz");
    let config = TrainConfig { seed: 1, regularization: penalty, ..TrainConfig::new(epochs, 32) };
    let mut optimizer = optimizer.init().unwrap();
    let device = Backend::Flex.device().unwrap();
    let fitted = Trainer::new(config, device.clone())
        .with_progress(Progress::Silent)
        .fit(linear(train.n_features(), 2), &mut optimizer, &train, None)
        .unwrap();
    let eval = evaluate(&fitted.model, &test, &Loss::CrossEntropy, &device, 1024).unwrap();
    let accuracy = eval.scores().unwrap().0;
    (fitted.model, accuracy)
}

/// Full-batch gradient descent: with the proximal L1 step this is ISTA.
fn gd() -> OptimizerConfig {
    OptimizerConfig::Gd { learning_rate: 0.5 }
}

fn sgd() -> OptimizerConfig {
    OptimizerConfig::Sgd { learning_rate: 0.1, momentum: 0.0, nesterov: false, weight_decay: 0.0 }
}

pub fn weights(model: &Mlp) -> Vec<f32> {
    super::params(model).into_iter().filter(|(bias, _)| !bias).flat_map(|(_, v)| v).collect()
}

#[test]
fn l1_zeroes_at_least_half_of_a_linear_models_weights() {
    let (dense, dense_accuracy) = train_linear(PenaltyConfig::default(), 200, gd());
    let (sparse, sparse_accuracy) = train_linear(PenaltyConfig { l1: 0.02, ..Default::default() }, 200, gd());
    let zero = |w: &[f32]| w.iter().filter(|v| v.abs() < 1e-6).count();
    let (w_dense, w_sparse) = (weights(&dense), weights(&sparse));
    assert_eq!(w_sparse.len(), 60);
    eprintln!(
        "breast_cancer, linear model: {} of 60 weights below 1e-6 with l1 = 0.02 (test accuracy {sparse_accuracy:.4}), {} without (accuracy {dense_accuracy:.4})",
        zero(&w_sparse),
        zero(&w_dense)
    );
    assert!(zero(&w_sparse) >= 30, "{w_sparse:?}");
    assert_eq!(zero(&w_dense), 0);
    assert!(sparse_accuracy >= 0.9, "the sparse model must still work: {sparse_accuracy}");
}

#[test]
fn l2_weight_norm_falls_monotonically_with_lambda() {
    let norms: Vec<f64> = [0.0, 1e-3, 1e-2, 1e-1, 1.0]
        .iter()
        .map(|&l2| {
            let (model, _) = train_linear(PenaltyConfig { l2, ..Default::default() }, 10, sgd());
            weights(&model).iter().map(|w| (*w as f64).powi(2)).sum::<f64>().sqrt()
        })
        .collect();
    eprintln!("L2 weight norms for lambda 0, 1e-3, 1e-2, 1e-1, 1: {norms:?}");
    assert!(norms.windows(2).all(|w| w[1] < w[0]), "{norms:?}");
}

#[test]
fn early_stopping_never_stops_or_keeps_an_epoch_inside_its_warm_up() {
    let (train, valid) = (super::blobs(60, 4, 7, 3.0), super::blobs(60, 4, 8, 3.0));
    let mut es = EarlyStoppingConfig::new("val_loss", Goal::Minimize, 3);
    es.warmup_epochs = 40;
    let config = TrainConfig { seed: 3, early_stopping: Some(es), ..TrainConfig::new(300, 16) };
    let mut optimizer = OptimizerConfig::adam(0.01).init().unwrap();
    let model = MlpConfig {
        input: 4,
        hidden: vec![16],
        output: 3,
        activation: ActivationKind::Relu,
        dropout: 0.0,
        layer_dropout: vec![],
    }
    .init(1, &Backend::Flex.device().unwrap().autodiff())
    .unwrap();
    let fitted = Trainer::new(config, Backend::Flex.device().unwrap())
        .with_progress(Progress::Silent)
        .fit(model, &mut optimizer, &train, Some(&valid))
        .unwrap();
    assert!(fitted.stopped_early);
    assert!(fitted.best_epoch > 40, "best epoch {} is inside the warm-up", fitted.best_epoch);
    let best = fitted.history[40..]
        .iter()
        .min_by(|a, b| a.metric("val_loss").partial_cmp(&b.metric("val_loss")).unwrap())
        .unwrap();
    assert_eq!(fitted.best_epoch, best.epoch);
    assert_eq!(fitted.history.len(), best.epoch + 3);
}
