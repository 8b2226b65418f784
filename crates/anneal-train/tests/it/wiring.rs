//! The optimiser parts through the loop: full-batch GD, schedules per epoch and
//! per iteration, hypergradient rates in the history, accumulation, clipping,
//! gradient norms, hooks, the divergence guard and the typed errors.

use anneal_data::ClassificationData;
use anneal_models::{ActivationKind, Mlp, MlpConfig};
use anneal_optim::{
    GradientClippingConfig, HypergradientRule, OptimError, OptimizerConfig, ScheduleConfig, ScheduleUnit,
};
use anneal_train::{
    Accounting, Backend, EpochRecord, Fitted, Progress, ScheduleSettings, StepInfo, TrainConfig, TrainError, TrainHook,
    Trainer,
};
use burn::optim::GradientsParams;

fn model(hidden: Vec<usize>) -> Mlp {
    let config = MlpConfig {
        input: 4,
        hidden,
        output: 3,
        activation: ActivationKind::Relu,
        dropout: 0.0,
        layer_dropout: vec![],
    };
    config.init(1, &Backend::Flex.device().unwrap().autodiff()).unwrap()
}

fn fit(config: TrainConfig, optimizer: OptimizerConfig, data: &ClassificationData) -> Result<Fitted<Mlp>, TrainError> {
    let mut optimizer = optimizer.init()?;
    Trainer::new(config, Backend::Flex.device().unwrap()).with_progress(Progress::Silent).fit(
        model(vec![8]),
        &mut optimizer,
        data,
        Some(data),
    )
}

fn sgd(lr: f64) -> OptimizerConfig {
    OptimizerConfig::Sgd { learning_rate: lr, momentum: 0.0, nesterov: false, weight_decay: 0.0 }
}

fn lrs(f: &Fitted<Mlp>) -> Vec<f64> {
    f.history.iter().map(|r| r.learning_rate).collect()
}

#[test]
fn gd_uses_the_whole_training_set_as_one_batch() {
    let data = super::blobs(90, 4, 1, 1.0);
    let f = fit(TrainConfig::new(5, 16), OptimizerConfig::Gd { learning_rate: 0.5 }, &data).unwrap();
    assert_eq!(
        f.accounting.to_string(),
        "90 samples, batch 90 (full batch) → 1 iterations per epoch × 5 epochs = 5 iterations"
    );
    assert!(f.history[4].train_loss < f.history[0].train_loss);
}

#[test]
fn schedules_set_the_rate_per_epoch_or_per_iteration() {
    let data = super::blobs(64, 4, 1, 1.0); // 4 batches of 16 per epoch
    let step = ScheduleConfig::Step { step_size: 2, gamma: 0.5 };
    let per_epoch = TrainConfig {
        schedule: Some(ScheduleSettings { unit: ScheduleUnit::Epoch, schedule: step.clone() }),
        ..TrainConfig::new(5, 16)
    };
    let f = fit(per_epoch, sgd(0.1), &data).unwrap();
    assert_eq!(lrs(&f), [0.1, 0.1, 0.05, 0.05, 0.025]);
    // Per iteration the record shows the rate of the epoch's last update (update 4, 8, ...).
    let per_iteration = TrainConfig {
        schedule: Some(ScheduleSettings { unit: ScheduleUnit::Iteration, schedule: step }),
        ..TrainConfig::new(3, 16)
    };
    let f = fit(per_iteration, sgd(0.1), &data).unwrap();
    let expected: Vec<f64> = [3, 7, 11].iter().map(|t| 0.1 * 0.5f64.powi(t / 2)).collect();
    assert_eq!(lrs(&f), expected);
}

#[test]
fn hypergradient_rate_is_learnt_and_logged() {
    let data = super::blobs(96, 4, 1, 1.0);
    let hd = OptimizerConfig::AdamHd {
        learning_rate: 1e-3,
        hypergradient_lr: 1e-5,
        rule: HypergradientRule::Additive,
        max_lr_factor: None,
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-8,
    };
    let f = fit(TrainConfig::new(4, 16), hd, &data).unwrap();
    let rates = lrs(&f);
    assert!(rates.windows(2).all(|w| w[0] != w[1]), "the rate must move every epoch: {rates:?}");
    assert!(rates[3] > 1e-3, "on an easy problem the rate should grow from 1e-3: {rates:?}");
}

#[test]
fn accumulating_two_half_batches_equals_one_full_batch() {
    let data = super::blobs(64, 4, 1, 1.0);
    let whole = fit(TrainConfig { seed: 4, ..TrainConfig::new(3, 16) }, sgd(0.2), &data).unwrap();
    let halves = fit(TrainConfig { seed: 4, accumulation: 2, ..TrainConfig::new(3, 8) }, sgd(0.2), &data).unwrap();
    assert_eq!(halves.accounting.updates(), whole.accounting.updates());
    for (a, b) in super::params(&whole.model).iter().zip(super::params(&halves.model)) {
        for (x, y) in a.1.iter().zip(&b.1) {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }
    }
}

#[test]
fn clipping_and_gradient_norms() {
    let data = super::blobs(64, 4, 1, 1.0);
    let config = TrainConfig { log_gradient_norms: true, ..TrainConfig::new(2, 16) };
    let mut optimizer = sgd(0.1).init().unwrap();
    let f = Trainer::new(config, Backend::Flex.device().unwrap())
        .with_progress(Progress::Silent)
        .fit(model(vec![8, 8]), &mut optimizer, &data, None)
        .unwrap();
    let norms = f.history[0].gradient_norms.as_ref().unwrap();
    assert_eq!(norms.len(), 3, "one norm per linear layer");
    assert!(norms.iter().all(|n| *n > 0.0 && n.is_finite()), "{norms:?}");
    // Clipping by a tiny global norm slows learning down.
    let clipped = TrainConfig {
        gradient_clipping: Some(GradientClippingConfig::Norm { max_norm: 1e-3 }),
        ..TrainConfig::new(2, 16)
    };
    let slow = fit(clipped, sgd(0.1), &data).unwrap();
    let fast = fit(TrainConfig::new(2, 16), sgd(0.1), &data).unwrap();
    assert!(slow.history[1].train_loss > fast.history[1].train_loss);
}

/// Records the order of hook calls.
#[derive(Default)]
struct Events(Vec<String>);

impl TrainHook for Events {
    fn on_train_start(&mut self, plan: &Accounting, history: &[EpochRecord]) {
        self.0.push(format!("start {} {}", plan.iterations(), history.len()));
    }
    fn on_epoch_start(&mut self, epoch: usize) {
        self.0.push(format!("epoch {epoch}"));
    }
    fn on_batch_start(&mut self, s: &StepInfo) {
        self.0.push(format!("batch {}", s.iteration));
    }
    fn after_backward(&mut self, s: &StepInfo, _grads: &mut GradientsParams) {
        self.0.push(format!("grads {}", s.iteration));
    }
    fn on_batch_end(&mut self, s: &StepInfo) {
        self.0.push(format!("end {}", s.iteration));
    }
    fn on_epoch_end(&mut self, r: &EpochRecord) {
        self.0.push(format!("epoch end {}", r.epoch));
    }
    fn on_train_end(&mut self, history: &[EpochRecord]) {
        self.0.push(format!("done {}", history.len()));
    }
}

#[test]
fn hooks_run_at_every_boundary_in_order() {
    let data = super::blobs(24, 4, 1, 1.0); // 2 batches of 12
    let mut events = Events::default();
    let config = TrainConfig { accumulation: 2, ..TrainConfig::new(2, 12) };
    let mut optimizer = sgd(0.1).init().unwrap();
    Trainer::new(config, Backend::Flex.device().unwrap())
        .with_progress(Progress::Silent)
        .with_hook(&mut events)
        .fit(model(vec![8]), &mut optimizer, &data, None)
        .unwrap();
    let expected = [
        "start 4 0",
        "epoch 1",
        "batch 1",
        "end 1",
        "batch 2",
        "grads 2",
        "end 2",
        "epoch end 1",
        "epoch 2",
        "batch 3",
        "end 3",
        "batch 4",
        "grads 4",
        "end 4",
        "epoch end 2",
        "done 2",
    ];
    assert_eq!(events.0, expected);
}

#[test]
fn a_non_finite_loss_names_epoch_and_iteration() {
    // Features of 1e30: the first update overflows the weights, the next loss is not finite.
    let x: Vec<f32> = (0..64).map(|i| if i % 2 == 0 { 1e30 } else { -1e30 }).collect();
    let data = ClassificationData::new(x, 4, (0..16).map(|i| i % 3).collect()).unwrap();
    let err = fit(TrainConfig::new(3, 4), sgd(1e10), &data).unwrap_err();
    match &err {
        TrainError::Diverged { epoch: 1, iteration, reason, last_checkpoint: None } => {
            assert!(*iteration <= 4, "{err}");
            assert!(reason.starts_with("the loss"), "{err}");
        }
        other => panic!("expected a divergence, got {other:?}"),
    }
    assert!(err.to_string().starts_with("training diverged at epoch 1, iteration"), "{err}");
    assert!(err.to_string().contains("no checkpoint was written before it"), "{err}");
}

#[test]
fn an_exploding_finite_loss_is_a_divergence_and_nothing_of_it_is_checkpointed() {
    // Adam at 1e6 (the hardening trial's case): the loss stays finite but grows
    // by orders of magnitude within the first epoch.
    let data = super::blobs(96, 4, 3, 1.0);
    let dir = tempfile::tempdir().unwrap();
    let mut optimizer = OptimizerConfig::adam(1e6).init().unwrap();
    let err = Trainer::new(TrainConfig::new(5, 8), Backend::Flex.device().unwrap())
        .with_progress(Progress::Silent)
        .with_checkpoints(dir.path().join("ck"))
        .fit(model(vec![8]), &mut optimizer, &data, Some(&data))
        .unwrap_err();
    match &err {
        TrainError::Diverged { epoch: 1, iteration, reason, last_checkpoint: None } => {
            assert!(*iteration >= 2 && *iteration <= 12, "{err}");
            assert!(reason.contains("above 1000 × the first batch's loss") || reason.contains("NaN"), "{err}");
        }
        other => panic!("expected a divergence, got {other:?}"),
    }
    assert!(!anneal_train::has_checkpoint(&dir.path().join("ck")), "a diverged epoch was checkpointed");
}

#[test]
fn bad_settings_are_typed_errors() {
    let data = super::blobs(30, 4, 1, 1.0);
    let warmup = ScheduleConfig::Warmup { steps: 20, start_factor: 0.1, then: Box::new(ScheduleConfig::Constant {}) };
    let c = TrainConfig {
        schedule: Some(ScheduleSettings { unit: ScheduleUnit::Epoch, schedule: warmup }),
        ..TrainConfig::new(10, 8)
    };
    assert!(matches!(
        fit(c, sgd(0.1), &data),
        Err(TrainError::Optim(OptimError::WarmupTooLong { warmup: 20, total: 10 }))
    ));

    let cosine =
        ScheduleSettings { unit: ScheduleUnit::Epoch, schedule: ScheduleConfig::Cosine { t_max: None, eta_min: 0.0 } };
    let c = TrainConfig { schedule: Some(cosine), ..TrainConfig::new(10, 8) };
    let hd = OptimizerConfig::with_defaults("adam_hd", 0.01).unwrap();
    assert!(matches!(fit(c, hd, &data), Err(TrainError::ScheduleWithAdaptiveRate { optimizer: "adam_hd" })));

    let c = TrainConfig {
        gradient_clipping: Some(GradientClippingConfig::Norm { max_norm: 0.0 }),
        ..TrainConfig::new(1, 8)
    };
    let err = fit(c, sgd(0.1), &data).unwrap_err();
    assert!(err.to_string().contains("max_norm = 0 is outside its valid range"), "{err}");

    let mut es = anneal_regularize::EarlyStoppingConfig::new("val_loss", anneal_regularize::Goal::Minimize, 2);
    es.warmup_epochs = 5;
    let c = TrainConfig { early_stopping: Some(es), ..TrainConfig::new(5, 8) };
    let err = fit(c, sgd(0.1), &data).unwrap_err();
    assert!(err.to_string().contains("warmup_epochs = 5 is not shorter than the run's 5 epochs"), "{err}");
}
