//! Self-paced curriculum through the loop: the rows of each epoch are those
//! the current model finds easy, by its own loss computed before the epoch;
//! a run crashed after a checkpoint and resumed ends with the same weights.

use std::panic::AssertUnwindSafe;

use anneal_data::LastBatch;
use anneal_data::curriculum::{Order, Pacing, PacingConfig, SelfPaced, SelfPacedBatches};
use anneal_models::{ActivationKind, Mlp, MlpConfig};
use anneal_optim::OptimizerConfig;
use anneal_train::{Backend, Fitted, Progress, StepInfo, TrainConfig, TrainHook, Trainer};

fn model_on(backend: Backend) -> Mlp {
    MlpConfig {
        input: 4,
        hidden: vec![8],
        output: 3,
        activation: ActivationKind::Tanh,
        dropout: 0.1,
        layer_dropout: vec![],
    }
    .init(2, &backend.device().unwrap().autodiff())
    .unwrap()
}

fn model() -> Mlp {
    model_on(Backend::Flex)
}

fn sampler(threshold: f64, growth: f64) -> SelfPacedBatches {
    let pacing = PacingConfig { pacing: Pacing::SelfPaced, start: 0.25, full_at: 4, stages: 1 };
    SelfPacedBatches::new(pacing, Some(SelfPaced { threshold, growth }), Order::EasyFirst, None, 8, 3, LastBatch::Keep)
        .unwrap()
}

/// Rows trained on per epoch.
#[derive(Default)]
struct Seen(Vec<usize>);

impl TrainHook for Seen {
    fn on_batch_start(&mut self, step: &StepInfo) {
        if self.0.len() < step.epoch {
            self.0.resize(step.epoch, 0);
        }
        self.0[step.epoch - 1] += step.batch_len;
    }
}

fn fit(sampler: SelfPacedBatches, hooks: &mut Seen) -> Fitted<Mlp> {
    fit_on(Backend::Flex, sampler, hooks)
}

fn fit_on(backend: Backend, sampler: SelfPacedBatches, hooks: &mut Seen) -> Fitted<Mlp> {
    let data = super::blobs(60, 4, 1, 1.0);
    Trainer::new(TrainConfig { seed: 3, ..TrainConfig::new(5, 8) }, backend.device().unwrap())
        .with_progress(Progress::Silent)
        .with_sampler(sampler)
        .with_hook(hooks)
        .fit(model_on(backend), &mut OptimizerConfig::adam(0.02).init().unwrap(), &data, None)
        .unwrap()
}

/// The same self-paced run on every compiled backend admits the same rows
/// and has the same losses.
#[test]
fn every_compiled_backend_paces_itself_alike() {
    let run = |b: Backend| {
        let mut seen = Seen::default();
        let fitted = fit_on(b, sampler(1.0, 1.5), &mut seen);
        (seen.0, fitted.history.iter().map(|r| r.train_loss).collect::<Vec<_>>())
    };
    let (rows, losses) = run(Backend::Flex);
    for backend in Backend::compiled().into_iter().filter(|b| *b != Backend::Flex) {
        let (r, l) = run(backend);
        assert_eq!(r, rows, "{backend} admitted other rows");
        let worst = l.iter().zip(&losses).map(|(a, b)| (a - b).abs()).fold(0f64, f64::max);
        assert!(worst < 1e-4, "{backend}: losses differ by {worst}");
    }
}

#[test]
fn the_threshold_admits_what_the_current_model_finds_easy() {
    // A threshold nothing is below: the floor share (25 % of 60), then all from epoch 4.
    let mut seen = Seen::default();
    fit(sampler(1e-9, 1.0), &mut seen);
    assert_eq!(seen.0, [15, 15, 15, 60, 60]);
    // A threshold everything is below: every row from epoch 1.
    let mut seen = Seen::default();
    fit(sampler(1e9, 1.0), &mut seen);
    assert_eq!(seen.0, [60; 5]);
    // Cross-entropy of a fresh 3-class model is about ln 3 = 1.1: a threshold of
    // 1.0 growing by 1.5 admits some rows first and more as the model learns.
    let mut seen = Seen::default();
    fit(sampler(1.0, 1.5), &mut seen);
    assert!(seen.0[0] > 15 && seen.0[0] < 60, "{:?}", seen.0);
    assert!(seen.0.windows(2).all(|w| w[0] <= w[1]) && seen.0[3] == 60, "{:?}", seen.0);
}

/// Panics during epoch 3, after the checkpoint of epoch 2.
struct Crash;

impl TrainHook for Crash {
    fn on_batch_start(&mut self, step: &StepInfo) {
        if step.epoch == 3 {
            panic!("simulated crash");
        }
    }
}

#[test]
fn a_self_paced_run_resumes_bit_for_bit() {
    let data = super::blobs(60, 4, 1, 1.0);
    let config = TrainConfig { seed: 3, checkpoint_every: 1, ..TrainConfig::new(5, 8) };
    let device = Backend::Flex.device().unwrap();
    let run = |dir: &std::path::Path, resume: bool, crash: bool| {
        let mut trainer = Trainer::new(config.clone(), device.clone())
            .with_progress(Progress::Silent)
            .with_sampler(sampler(1.0, 1.5))
            .with_checkpoints(dir)
            .resuming(resume);
        if crash {
            trainer = trainer.with_hook(Crash);
        }
        trainer.fit(model(), &mut OptimizerConfig::adam(0.02).init().unwrap(), &data, None)
    };
    let straight = tempfile::tempdir().unwrap();
    let reference = run(straight.path(), false, false).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let crashed = std::panic::catch_unwind(AssertUnwindSafe(|| run(dir.path(), false, true)));
    assert!(crashed.is_err(), "the run should have crashed in epoch 3");
    let resumed = run(dir.path(), true, false).unwrap();
    assert_eq!(resumed.resumed_from, Some(2));
    assert_eq!(super::params(&resumed.model), super::params(&reference.model));
}

#[test]
fn a_sampler_without_losses_and_bad_settings_are_refused() {
    use anneal_data::BatchSampler;
    let s = sampler(0.5, 1.2);
    assert!(s.batches(10, 1).unwrap_err().to_string().contains("needs the model's losses before epoch 1"));
    s.observe_losses(1, &[0.1, 0.9, 0.3, 2.0]).unwrap();
    // 0.1 and 0.3 are below 0.5; the floor is 1 of 4.
    let rows: Vec<usize> = s.batches(4, 1).unwrap().concat();
    let mut sorted = rows.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [0, 2]);
    assert!(s.batches(4, 2).is_err(), "losses of epoch 1 must not serve epoch 2");
    assert!(s.observe_losses(2, &[0.1, f64::NAN]).unwrap_err().to_string().contains("training row 1"));
    let pacing = PacingConfig { pacing: Pacing::SelfPaced, start: 0.25, full_at: 4, stages: 1 };
    let make = |sp| SelfPacedBatches::new(pacing, sp, Order::EasyFirst, None, 8, 3, LastBatch::Keep);
    assert!(make(None).unwrap_err().to_string().contains("needs a loss threshold"));
    assert!(make(Some(SelfPaced { threshold: 0.0, growth: 1.3 })).is_err());
    assert!(make(Some(SelfPaced { threshold: 0.5, growth: 0.9 })).is_err());
}
