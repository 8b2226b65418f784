//! The extension points, used from outside the training crate: a model and a
//! metric defined here, in a test of the facade, train through the public API
//! with no change to `anneal-train`, and early stopping monitors the new metric.

use anneal::data::{RegressionData, SeededRng, Targets};
use anneal::models::Model;
use anneal::optim::OptimizerConfig;
use anneal::regularize::{EarlyStoppingConfig, Goal};
use anneal::train::{Backend, Metric, Progress, TrainConfig, TrainError, Trainer};
use burn::module::Param;
use burn::prelude::*;

/// y = x · w, one weight per feature and no bias: a model the loop has never seen.
#[derive(Module, Debug)]
struct Through0 {
    w: Param<Tensor<2>>,
}

impl Model for Through0 {
    type Input = Tensor<2>;

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        x.matmul(self.w.val())
    }
}

/// Share of rows predicted within `tolerance` of the target: a metric the loop has never seen.
struct WithinTolerance {
    tolerance: f64,
}

impl Metric for WithinTolerance {
    fn name(&self) -> String {
        "within_tolerance".into()
    }

    fn higher_is_better(&self) -> bool {
        true
    }

    fn compute(&self, predictions: &[f32], _n_outputs: usize, targets: &Targets) -> Result<Option<f64>, TrainError> {
        let Some(y) = targets.column(0) else { return Ok(None) };
        let hits = predictions.iter().zip(&y).filter(|(p, t)| (f64::from(**p) - **t).abs() < self.tolerance).count();
        Ok(Some(hits as f64 / y.len().max(1) as f64))
    }
}

/// y = 2·x₀ − x₁ + noise (sd 0.02).
fn data(n: usize, seed: u64) -> RegressionData {
    let mut rng = SeededRng::new(seed);
    let x: Vec<f32> = (0..2 * n).map(|_| rng.normal() as f32).collect();
    let y = x.chunks(2).map(|r| 2.0 * r[0] - r[1] + 0.02 * rng.normal() as f32).collect();
    RegressionData::new(x, 2, y, 1).unwrap()
}

fn trainer(early: EarlyStoppingConfig) -> Trainer<'static> {
    let config = TrainConfig { early_stopping: Some(early), seed: 5, ..TrainConfig::new(200, 16) };
    Trainer::new(config, Backend::Flex.device().unwrap())
        .with_progress(Progress::Silent)
        .with_metric(WithinTolerance { tolerance: 0.1 })
}

fn model() -> Through0 {
    let device = Backend::Flex.device().unwrap().autodiff();
    Through0 { w: Param::from_data(TensorData::new(vec![0.0f32, 0.0], [2, 1]), &device) }
}

#[test]
fn a_new_model_and_metric_train_through_the_public_api() {
    let (train, valid) = (data(256, 1), data(128, 2));
    let early = EarlyStoppingConfig::new("val_within_tolerance", Goal::Maximize, 10);
    let mut optimizer = OptimizerConfig::adam(0.05).init().unwrap();
    let fitted = trainer(early).fit(model(), &mut optimizer, &train, Some(&valid)).unwrap();
    let first = fitted.history[0].metric("val_within_tolerance").unwrap();
    let last = fitted.history.last().unwrap().metric("val_within_tolerance").unwrap();
    assert!(first < 0.5, "the untrained model is rarely within tolerance: {first}");
    assert!(last > 0.9, "the trained one nearly always is: {last}");
    // The built-in regression metrics are recorded beside it.
    assert!(fitted.history[0].metric("val_rmse").is_some());
    assert!(fitted.stopped_early, "early stopping monitored the new metric and ended the run");
    let w: Vec<f32> = fitted.model.w.val().into_data().try_to_vec().unwrap();
    assert!((w[0] - 2.0).abs() < 0.05 && (w[1] + 1.0).abs() < 0.05, "{w:?}");
}

#[test]
fn monitoring_a_metric_nobody_records_names_the_ones_recorded() {
    let (train, valid) = (data(64, 1), data(32, 2));
    let early = EarlyStoppingConfig::new("val_within", Goal::Maximize, 10);
    let mut optimizer = OptimizerConfig::adam(0.05).init().unwrap();
    let err = trainer(early).fit(model(), &mut optimizer, &train, Some(&valid)).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("val_within_tolerance") && message.contains("val_r2"), "{message}");
    // The new metric's direction is checked too: it is better when larger.
    let early = EarlyStoppingConfig::new("val_within_tolerance", Goal::Minimize, 10);
    let err = trainer(early).fit(model(), &mut optimizer, &train, Some(&valid)).unwrap_err();
    assert!(err.to_string().contains("set goal = \"maximize\""), "{err}");
}
