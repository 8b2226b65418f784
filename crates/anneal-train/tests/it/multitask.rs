//! Multi-task training through the loop: tasks of mixed kinds with missing
//! labels, uncertainty weighting, and gradient surgery (a sum that must update
//! exactly as the plain total does, and PCGrad), on every compiled backend.

use anneal_data::multitask::{MultiTaskData, Task, TaskLabels};
use anneal_data::{SeededRng, TargetTransformKind};
use anneal_models::{ActivationKind, MlpConfig, TaskUncertainty};
use anneal_optim::OptimizerConfig;
use anneal_train::{
    Backend, GradientSurgeryConfig, MultiTask, Progress, SurgeryMethod, TaskSpec, TaskWeighting, TrainConfig, Trainer,
};

/// Rows of 4 features; a class (which of 3 centres) and a value (a noisy linear
/// function), each missing on some rows.
fn data(n: usize, seed: u64) -> (Vec<f32>, Vec<Task>) {
    let mut rng = SeededRng::new(seed);
    let centres: Vec<Vec<f64>> = (0..3).map(|_| (0..4).map(|_| rng.normal() * 2.0).collect()).collect();
    let (mut x, mut codes, mut values) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let row: Vec<f64> = centres[i % 3].iter().map(|m| m + rng.normal()).collect();
        values.push(100.0 + 10.0 * (row[0] - row[1]) + rng.normal());
        x.extend(row.iter().map(|&v| v as f32));
        codes.push(i % 3);
    }
    let tasks = vec![
        Task::new("kind", TaskLabels::Classes { codes, n_classes: 3 })
            .with_present((0..n).map(|i| i % 7 != 3).collect()),
        Task::new("size", TaskLabels::Values { values, n_targets: 1 })
            .with_present((0..n).map(|i| i % 5 != 1).collect()),
    ];
    (x, tasks)
}

/// The tasks' labels of rows `range`.
fn rows(tasks: &[Task], range: std::ops::Range<usize>) -> Vec<Task> {
    tasks
        .iter()
        .map(|t| {
            let labels = match &t.labels {
                TaskLabels::Classes { codes, n_classes } => {
                    TaskLabels::Classes { codes: codes[range.clone()].to_vec(), n_classes: *n_classes }
                }
                TaskLabels::Values { values, n_targets } => {
                    TaskLabels::Values { values: values[range.clone()].to_vec(), n_targets: *n_targets }
                }
            };
            Task::new(t.name.clone(), labels).with_present(t.present[range.clone()].to_vec())
        })
        .collect()
}

fn specs() -> Vec<TaskSpec> {
    vec![
        TaskSpec { name: "kind".into(), loss: anneal_train::Loss::CrossEntropy, outputs: 3, weight: 1.0 },
        TaskSpec { name: "size".into(), loss: anneal_train::Loss::Mse, outputs: 1, weight: 1.0 },
    ]
}

/// What a run left: its parameters, history and learned log-variances (empty without).
struct Run {
    params: Vec<(bool, Vec<f32>)>,
    history: Vec<anneal_train::EpochRecord>,
    log_variances: Vec<f32>,
}

/// Trains a 4-16-(3+1) MLP with dropout (and learned task variances under
/// uncertainty weighting) for 4 epochs.
fn fit(backend: Backend, mut surgery: Option<GradientSurgeryConfig>, weighting: TaskWeighting) -> Run {
    let uncertainty = weighting == TaskWeighting::Uncertainty;
    if let Some(s) = &mut surgery {
        let heads = if uncertainty { vec!["model.layers.1", "log_vars"] } else { vec!["layers.1"] };
        s.task_specific = heads.into_iter().map(String::from).collect();
    }
    let (x, tasks) = data(120, 1);
    let train =
        MultiTaskData::fit(x[..90 * 4].to_vec(), 4, rows(&tasks, 0..90), TargetTransformKind::Standard).unwrap();
    let valid = train.like(x[90 * 4..].to_vec(), 4, rows(&tasks, 90..120)).unwrap();
    let device = backend.device().unwrap().autodiff();
    let mlp = MlpConfig {
        input: 4,
        hidden: vec![16],
        output: 4,
        activation: ActivationKind::Tanh,
        dropout: 0.1,
        layer_dropout: vec![],
    }
    .init(3, &device)
    .unwrap();
    let config = TrainConfig { seed: 5, gradient_surgery: surgery, ..TrainConfig::new(4, 16) };
    let mut trainer = Trainer::new(config, backend.device().unwrap())
        .with_progress(Progress::Silent)
        .with_objective(MultiTask::new(specs(), weighting).unwrap());
    let mut adam = OptimizerConfig::adam(1e-2).init().unwrap();
    if uncertainty {
        let fitted = trainer.fit(TaskUncertainty::new(mlp, 2, &device), &mut adam, &train, Some(&valid)).unwrap();
        let log_variances = fitted.model.log_variances();
        Run { params: super::params(&fitted.model), history: fitted.history, log_variances }
    } else {
        let fitted = trainer.fit(mlp, &mut adam, &train, Some(&valid)).unwrap();
        Run { params: super::params(&fitted.model), history: fitted.history, log_variances: Vec::new() }
    }
}

fn surgery(method: SurgeryMethod) -> Option<GradientSurgeryConfig> {
    // The heads (the output layer) and the log-variances belong to single tasks.
    // (`fit` names them for the model it builds.)
    Some(GradientSurgeryConfig { method, task_specific: Vec::new() })
}

#[test]
fn summed_surgery_updates_as_the_plain_total_does() {
    let plain = fit(Backend::Flex, None, TaskWeighting::Uncertainty);
    let summed = fit(Backend::Flex, surgery(SurgeryMethod::Sum), TaskWeighting::Uncertainty);
    let (a, b) = (&plain.params, &summed.params);
    let worst =
        a.iter().zip(b).flat_map(|(p, q)| p.1.iter().zip(&q.1).map(|(x, y)| (x - y).abs())).fold(0f32, f32::max);
    assert!(worst < 1e-5, "per-term backward passes summed differ from the total's by {worst}");
    let last = summed.history.last().unwrap();
    let rate = last.metric("train_conflict_rate").unwrap();
    assert!((0.0..=1.0).contains(&rate));
    assert!(last.metric("train_gradient_cosine").unwrap().abs() <= 1.0);
    assert!(plain.history.last().unwrap().metric("train_conflict_rate").is_none());
    for name in ["val_kind_accuracy", "val_kind_macro_f1", "val_size_r2", "val_size_rmse", "train_kind", "train_size"] {
        assert!(last.metric(name).is_some(), "{name} not recorded: {:?}", last.names());
    }
    // The task learnt and the variances moved off 0.
    assert!(last.metric("val_kind_accuracy").unwrap() > 0.8, "{last:?}");
    assert!(summed.log_variances.len() == 2 && summed.log_variances.iter().all(|s| *s != 0.0));
}

#[test]
fn pcgrad_is_seeded_and_differs_from_the_sum_when_tasks_conflict() {
    let a = fit(Backend::Flex, surgery(SurgeryMethod::Pcgrad), TaskWeighting::Fixed);
    let b = fit(Backend::Flex, surgery(SurgeryMethod::Pcgrad), TaskWeighting::Fixed);
    assert_eq!(a.params, b.params);
    let conflicts: f64 = a.history.iter().map(|r| r.metric("train_conflict_rate").unwrap()).sum();
    let summed = fit(Backend::Flex, surgery(SurgeryMethod::Sum), TaskWeighting::Fixed);
    if conflicts > 0.0 {
        assert_ne!(a.params, summed.params);
    } else {
        assert_eq!(a.params, summed.params);
    }
}

#[test]
fn dwa_records_its_weights_and_a_missing_objective_or_layer_is_named() {
    let fitted = fit(Backend::Flex, None, TaskWeighting::Dwa { temperature: 2.0 });
    let w: Vec<f64> = fitted.history.iter().map(|r| r.metric("task_weight_kind").unwrap()).collect();
    assert_eq!(w[..2], [1.0, 1.0]);
    assert!(w[2] != 1.0 && w[2] > 0.0 && w[2] < 2.0, "{w:?}");

    let (x, tasks) = data(30, 1);
    let train = MultiTaskData::fit(x, 4, tasks, TargetTransformKind::Standard).unwrap();
    let device = Backend::Flex.device().unwrap();
    let mlp = || {
        MlpConfig {
            input: 4,
            hidden: vec![4],
            output: 4,
            activation: ActivationKind::Relu,
            dropout: 0.0,
            layer_dropout: vec![],
        }
        .init(1, &device.clone().autodiff())
        .unwrap()
    };
    let err = Trainer::new(TrainConfig::new(1, 10), device.clone())
        .with_progress(Progress::Silent)
        .fit(mlp(), &mut OptimizerConfig::adam(1e-2).init().unwrap(), &train, None)
        .unwrap_err();
    assert!(err.to_string().contains("multi-task objective"), "{err}");
    let wrong = GradientSurgeryConfig { method: SurgeryMethod::Pcgrad, task_specific: vec!["heads".into()] };
    let err = Trainer::new(TrainConfig { gradient_surgery: Some(wrong), ..TrainConfig::new(1, 10) }, device.clone())
        .with_progress(Progress::Silent)
        .with_objective(MultiTask::new(specs(), TaskWeighting::Fixed).unwrap())
        .fit(mlp(), &mut OptimizerConfig::adam(1e-2).init().unwrap(), &train, None)
        .unwrap_err();
    assert!(err.to_string().contains("`heads`, which is no layer") && err.to_string().contains("`layers.1`"), "{err}");
}

#[test]
fn every_compiled_backend_trains_multiple_tasks_alike() {
    let losses = |b| -> Vec<f32> {
        fit(b, surgery(SurgeryMethod::Pcgrad), TaskWeighting::Uncertainty)
            .history
            .iter()
            .map(|r| r.train_loss as f32)
            .collect()
    };
    let reference = losses(Backend::Flex);
    for backend in Backend::compiled().into_iter().filter(|b| *b != Backend::Flex) {
        let other = losses(backend);
        let worst = reference.iter().zip(&other).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        eprintln!("{backend} vs flex, multi-task + PCGrad: max |loss difference| = {worst:e}");
        assert!(worst < 1e-4, "{backend}: {other:?} vs flex {reference:?}");
    }
}
