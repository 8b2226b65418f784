//! Checkpoints: a run interrupted after a checkpoint and resumed ends with the
//! weights of an uninterrupted run, bit for bit; the LR range test.

use std::panic::AssertUnwindSafe;

use anneal_models::{ActivationKind, Mlp, MlpConfig};
use anneal_optim::{OptimizerConfig, ScheduleConfig, ScheduleUnit};
use anneal_regularize::{EarlyStoppingConfig, Goal, PenaltyConfig};
use anneal_train::{
    Backend, Checkpoint, Fitted, Loss, LrFindConfig, Progress, ScheduleSettings, StepInfo, TrainConfig, TrainError,
    TrainHook, Trainer, lr_find,
};

fn model() -> Mlp {
    let config = MlpConfig {
        input: 4,
        hidden: vec![16, 8],
        output: 3,
        activation: ActivationKind::Relu,
        dropout: 0.2,
        layer_dropout: vec![0.3, 0.1],
    };
    config.init(5, &Backend::Flex.device().unwrap().autodiff()).unwrap()
}

fn config() -> TrainConfig {
    let mut es = EarlyStoppingConfig::new("val_loss", Goal::Minimize, 50);
    es.warmup_epochs = 1;
    TrainConfig {
        seed: 9,
        checkpoint_every: 2,
        schedule: Some(ScheduleSettings {
            unit: ScheduleUnit::Iteration,
            schedule: ScheduleConfig::Cosine { t_max: None, eta_min: 1e-4 },
        }),
        regularization: PenaltyConfig { l2: 1e-3, ..Default::default() },
        early_stopping: Some(es),
        ..TrainConfig::new(7, 16)
    }
}

/// Panics at the start of an epoch, like a process killed during it.
struct Crash(usize);

impl TrainHook for Crash {
    fn on_batch_start(&mut self, step: &StepInfo) {
        if step.epoch == self.0 && step.iteration % 4 == 2 {
            panic!("simulated crash in epoch {}", self.0);
        }
    }
}

#[test]
fn resumed_run_equals_an_uninterrupted_one_bit_for_bit() {
    let (train, valid) = (super::blobs(64, 4, 1, 1.5), super::blobs(48, 4, 2, 1.5));
    for backend in [Backend::Flex, Backend::Ndarray] {
        let device = backend.device().unwrap();
        let straight = {
            let mut optimizer = OptimizerConfig::adam(0.01).init().unwrap();
            let dir = tempfile::tempdir().unwrap();
            Trainer::new(config(), device.clone())
                .with_progress(Progress::Silent)
                .with_checkpoints(dir.path().join("ck"))
                .fit(model(), &mut optimizer, &train, Some(&valid))
                .unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        let ck = dir.path().join("ck");
        let crashed = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let mut optimizer = OptimizerConfig::adam(0.01).init().unwrap();
            Trainer::new(config(), device.clone())
                .with_progress(Progress::Silent)
                .with_checkpoints(&ck)
                .with_hook(Crash(5))
                .fit(model(), &mut optimizer, &train, Some(&valid))
        }));
        assert!(crashed.is_err());
        let saved = Checkpoint::read(&ck).unwrap();
        assert_eq!((saved.epoch, saved.finished), (4, false));
        let mut optimizer = OptimizerConfig::adam(0.01).init().unwrap();
        let resumed = Trainer::new(config(), device.clone())
            .with_progress(Progress::Silent)
            .with_checkpoints(&ck)
            .resuming(true)
            .fit(model(), &mut optimizer, &train, Some(&valid))
            .unwrap();
        assert_eq!(resumed.resumed_from, Some(4));
        assert_eq!(super::params(&resumed.model), super::params(&straight.model), "{backend}: weights differ");
        assert_eq!(resumed.best_epoch, straight.best_epoch);
        let strip = |h: &[anneal_train::EpochRecord]| {
            h.iter().map(|r| (r.train_loss, r.metric("val_loss"), r.learning_rate)).collect::<Vec<_>>()
        };
        assert_eq!(strip(&resumed.history), strip(&straight.history), "{backend}");
        assert!(Checkpoint::read(&ck).unwrap().finished);
    }
}

/// Trains (or, with `resume`, resumes) the blobs model with Adam on the flex
/// backend, without validation rows, checkpointing into `dir`.
fn fit_checkpointed(config: TrainConfig, dir: &std::path::Path, resume: bool) -> Result<Fitted<Mlp>, TrainError> {
    let train = super::blobs(64, 4, 1, 1.5);
    let mut optimizer = OptimizerConfig::adam(0.01).init().unwrap();
    Trainer::new(config, Backend::Flex.device().unwrap())
        .with_progress(Progress::Silent)
        .with_checkpoints(dir)
        .resuming(resume)
        .fit(model(), &mut optimizer, &train, None)
}

#[test]
fn resuming_with_other_settings_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fit_checkpointed(TrainConfig::new(2, 16), dir.path(), false).unwrap();
    let err = fit_checkpointed(TrainConfig::new(3, 16), dir.path(), true).unwrap_err();
    assert!(err.to_string().contains("other training settings"), "{err}");
    let empty = tempfile::tempdir().unwrap();
    let err = fit_checkpointed(TrainConfig::new(2, 16), empty.path(), true).unwrap_err();
    assert!(err.to_string().contains("state.json is missing"), "{err}");
}

#[test]
fn lr_range_test_sweeps_until_divergence_and_suggests_a_rate() {
    let data = super::blobs(256, 4, 3, 1.0);
    let m = MlpConfig {
        input: 4,
        hidden: vec![16],
        output: 3,
        activation: ActivationKind::Relu,
        dropout: 0.0,
        layer_dropout: vec![],
    }
    .init(1, &Backend::Flex.device().unwrap().autodiff())
    .unwrap();
    let config = LrFindConfig { start_lr: 1e-5, end_lr: 100.0, steps: 120, ..LrFindConfig::new(16) };
    let r =
        lr_find(m, &OptimizerConfig::Gd { learning_rate: 0.1 }.clone(), &data, &Loss::CrossEntropy, &config).unwrap();
    let s = r.suggestion.expect("a suggestion");
    eprintln!("suggested {s:e}, {} steps, diverged {}", r.learning_rates.len(), r.diverged);
    assert!(r.learning_rates.windows(2).all(|w| w[1] > w[0]));
    assert!(s > 1e-4 && s < 100.0, "{s}");
    let dir = tempfile::tempdir().unwrap();
    let [png, svg] = anneal_train::lr_find::plot_lr_find(&r, &dir.path().join("lr_find")).unwrap();
    assert!(png.is_file() && svg.is_file() && dir.path().join("lr_find.csv").is_file());
}

/// Asks the loop to stop after epoch `.0`, as a pruner does (`.1`: the last epoch seen).
struct StopAfter(usize, usize);

impl TrainHook for StopAfter {
    fn on_epoch_end(&mut self, record: &anneal_train::EpochRecord) {
        self.1 = record.epoch;
    }
    fn stop_requested(&self) -> bool {
        self.1 == self.0
    }
}

#[test]
fn a_run_stopped_by_a_hook_checkpoints_and_resumes_bit_for_bit() {
    let (train, valid) = (super::blobs(64, 4, 1, 1.5), super::blobs(48, 4, 2, 1.5));
    let device = Backend::Flex.device().unwrap();
    let mut optimizer = OptimizerConfig::adam(0.01).init().unwrap();
    let straight = Trainer::new(config(), device.clone())
        .with_progress(Progress::Silent)
        .fit(model(), &mut optimizer, &train, Some(&valid))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck");
    let mut optimizer = OptimizerConfig::adam(0.01).init().unwrap();
    // Epoch 3 is not a checkpoint epoch (every 2): the stop writes one anyway.
    let stopped = Trainer::new(config(), device.clone())
        .with_progress(Progress::Silent)
        .with_checkpoints(&ck)
        .with_hook(StopAfter(3, 0))
        .fit(model(), &mut optimizer, &train, Some(&valid))
        .unwrap();
    assert_eq!((stopped.stopped_by_hook, stopped.history.len()), (Some(3), 3));
    let saved = Checkpoint::read(&ck).unwrap();
    assert_eq!((saved.epoch, saved.finished), (3, false));
    let mut optimizer = OptimizerConfig::adam(0.01).init().unwrap();
    let resumed = Trainer::new(config(), device.clone())
        .with_progress(Progress::Silent)
        .with_checkpoints(&ck)
        .resuming(true)
        .fit(model(), &mut optimizer, &train, Some(&valid))
        .unwrap();
    assert_eq!((resumed.resumed_from, resumed.stopped_by_hook), (Some(3), None));
    assert_eq!(super::params(&resumed.model), super::params(&straight.model));
    assert_eq!(resumed.history.len(), straight.history.len());
}

#[test]
fn a_corrupted_checkpoint_file_is_refused_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    fit_checkpointed(TrainConfig::new(2, 16), dir.path(), false).unwrap();
    // One flipped byte near the end of the weights.
    let weights = dir.path().join("model.bpk");
    let mut bytes = std::fs::read(&weights).unwrap();
    let at = bytes.len() - 10;
    bytes[at] ^= 0x40;
    std::fs::write(&weights, bytes).unwrap();
    let err = fit_checkpointed(TrainConfig::new(2, 16), dir.path(), true).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("model.bpk") && message.contains("integrity") || message.contains("changed"), "{message}");
}
