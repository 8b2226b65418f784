//! The loop's contract: hooks between backward and step, early stopping restores the
//! best epoch, same seed same result, bad settings are typed errors.

use anneal_data::ClassificationData;
use anneal_models::{ActivationKind, Mlp, MlpConfig};
use anneal_optim::OptimizerConfig;
use anneal_regularize::{EarlyStoppingConfig, Goal};
use anneal_train::{
    Backend, EpochRecord, Fitted, Loss, Progress, StepInfo, TrainConfig, TrainError, TrainHook, Trainer, evaluate,
};
use burn::optim::GradientsParams;

fn model(seed: u64) -> Mlp {
    let config = MlpConfig {
        input: 4,
        hidden: vec![16],
        output: 3,
        activation: ActivationKind::Relu,
        dropout: 0.2,
        layer_dropout: vec![],
    };
    config.init(seed, &Backend::Flex.device().unwrap().autodiff()).unwrap()
}

fn config(epochs: usize) -> TrainConfig {
    TrainConfig { seed: 3, ..TrainConfig::new(epochs, 16) }
}

fn fit(config: TrainConfig, train: &ClassificationData, valid: &ClassificationData) -> Result<Fitted<Mlp>, TrainError> {
    let mut optimizer = OptimizerConfig::adam(0.01).init().unwrap();
    Trainer::new(config, Backend::Flex.device().unwrap()).with_progress(Progress::Silent).fit(
        model(1),
        &mut optimizer,
        train,
        Some(valid),
    )
}

#[test]
fn same_seed_same_history() {
    let (train, valid) = (super::blobs(120, 4, 1, 1.5), super::blobs(60, 4, 2, 1.5));
    let a = fit(config(5), &train, &valid).unwrap();
    let b = fit(config(5), &train, &valid).unwrap();
    let strip = |h: &[EpochRecord]| h.iter().map(|r| (r.train_loss, r.metric("val_loss"))).collect::<Vec<_>>();
    assert_eq!(strip(&a.history), strip(&b.history));
}

/// A hook that throws the gradients away: if it really runs between backward and
/// the optimiser step, no weight can change.
struct DropGradients(usize);

impl TrainHook for DropGradients {
    fn after_backward(&mut self, _step: &StepInfo, grads: &mut GradientsParams) {
        assert!(!grads.is_empty());
        *grads = GradientsParams::new();
        self.0 += 1;
    }
}

#[test]
fn gradient_hook_runs_between_backward_and_step() {
    let data = super::blobs(64, 4, 1, 1.0);
    let device = Backend::Flex.device().unwrap();
    let before = evaluate(&model(1), &data, &Loss::CrossEntropy, &device, 64).unwrap();
    let mut optimizer = OptimizerConfig::adam(0.1).init().unwrap();
    let mut hook = DropGradients(0);
    let fitted = Trainer::new(config(3), device.clone())
        .with_progress(Progress::Silent)
        .with_hook(&mut hook)
        .fit(model(1), &mut optimizer, &data, None)
        .unwrap();
    let after = evaluate(&fitted.model, &data, &Loss::CrossEntropy, &device, 64).unwrap();
    assert_eq!(before.predictions, after.predictions);
    assert_eq!(hook.0, 3 * 4);
}

#[test]
fn early_stopping_restores_the_best_epoch() {
    // Noisy, overlapping classes: validation loss turns up while training loss falls.
    let (train, valid) = (super::blobs(60, 4, 7, 3.0), super::blobs(60, 4, 8, 3.0));
    let mut c = config(300);
    c.early_stopping = Some(EarlyStoppingConfig {
        monitor: "val_loss".into(),
        goal: Goal::Minimize,
        patience: 5,
        min_delta: 0.0,
        restore_best: true,
        warmup_epochs: 0,
    });
    let fitted = fit(c, &train, &valid).unwrap();
    assert!(fitted.stopped_early, "ran all {} epochs", fitted.history.len());
    let best =
        fitted.history.iter().min_by(|a, b| a.metric("val_loss").partial_cmp(&b.metric("val_loss")).unwrap()).unwrap();
    assert_eq!(fitted.best_epoch, best.epoch);
    assert_eq!(fitted.history.len(), best.epoch + 5);
    let now = evaluate(&fitted.model, &valid, &Loss::CrossEntropy, &Backend::Flex.device().unwrap(), 1024).unwrap();
    assert!(
        (now.loss - best.metric("val_loss").unwrap()).abs() < 1e-6,
        "{} vs {:?}",
        now.loss,
        best.metric("val_loss")
    );
}

#[test]
fn bad_settings_are_typed_errors() {
    let data = super::blobs(30, 4, 1, 1.0);
    let mut c = config(1);
    c.batch_size = 0;
    assert!(matches!(fit(c, &data, &data), Err(TrainError::BatchSize { batch_size: 0, rows: 30 })));
    let mut c = config(1);
    c.batch_size = 31;
    let err = fit(c, &data, &data).unwrap_err();
    assert_eq!(err.to_string(), "batch_size = 31 is invalid: it must be between 1 and the 30 training rows");
    let mut c = config(1);
    c.early_stopping = Some(EarlyStoppingConfig {
        monitor: "val_acc".into(),
        goal: Goal::Maximize,
        patience: 1,
        min_delta: 0.0,
        restore_best: true,
        warmup_epochs: 0,
    });
    assert!(matches!(fit(c, &data, &data), Err(TrainError::UnknownMetric { name, .. }) if name == "val_acc"));
}

#[test]
fn accounting_reads_like_the_seed() {
    let c = TrainConfig::new(20, 100);
    assert_eq!(c.accounting(1000), "1000 samples, batch 100 → 10 iterations per epoch × 20 epochs = 200 iterations");
}

/// A hook that asks to stop after a given epoch, as a pruner would; it records the
/// epochs it saw.
struct StopAfter {
    epoch: usize,
    seen: Vec<usize>,
}

impl TrainHook for StopAfter {
    fn on_epoch_end(&mut self, record: &EpochRecord) {
        self.seen.push(record.epoch);
    }
    fn stop_requested(&self) -> bool {
        self.seen.last() == Some(&self.epoch)
    }
}

#[test]
fn a_hook_can_stop_the_run() {
    let (train, valid) = (super::blobs(64, 4, 1, 1.5), super::blobs(32, 4, 2, 1.5));
    let device = Backend::Flex.device().unwrap();
    let run = |stop_at: usize| {
        let mut optimizer = OptimizerConfig::adam(0.01).init().unwrap();
        let mut hook = StopAfter { epoch: stop_at, seen: Vec::new() };
        let fitted = Trainer::new(config(10), device.clone())
            .with_progress(Progress::Silent)
            .with_hook(&mut hook)
            .fit(model(1), &mut optimizer, &train, Some(&valid))
            .unwrap();
        (fitted, hook.seen)
    };
    let (stopped, seen) = run(4);
    assert_eq!(stopped.stopped_by_hook, Some(4));
    assert!(!stopped.stopped_early);
    assert_eq!((stopped.history.len(), stopped.best_epoch), (4, 4));
    assert_eq!(seen, vec![1, 2, 3, 4]);
    // The same run without the stop: the first four epochs are the same ones.
    let (full, _) = run(0);
    assert_eq!(full.stopped_by_hook, None);
    assert_eq!(full.history.len(), 10);
    let losses = |h: &[EpochRecord]| h.iter().map(|r| r.metric("val_loss")).collect::<Vec<_>>();
    assert_eq!(losses(&stopped.history), losses(&full.history[..4]));
    // Asked at the last epoch, the run simply ends: nothing was stopped.
    assert_eq!(run(10).0.stopped_by_hook, None);
}
