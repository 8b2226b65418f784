//! The learning-rate range test (Smith, *Cyclical Learning Rates for Training
//! Neural Networks*, WACV 2017, <https://arxiv.org/abs/1506.01186>): train for a
//! few hundred steps while the learning rate grows exponentially, watch the
//! loss, and pick the rate where it falls fastest.

use std::path::{Path, PathBuf};

use anneal_data::Dataset;
use anneal_data::dataset::{BatchSampler, FullBatch, ShuffledBatches};
use anneal_models::Model;
use anneal_optim::OptimizerConfig;
use serde::{Deserialize, Serialize};

use crate::error::TrainError;
use crate::objective::Objective;
use crate::plot::{Chart, PALETTE, Series, save_charts};
use crate::step::Stepper;
use crate::trainer::{StepInfo, read_scalar};

/// Settings of the range test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LrFindConfig {
    /// The first learning rate.
    #[serde(default = "default_start")]
    pub start_lr: f64,
    /// The last learning rate (reached at the last step if the loss has not diverged).
    #[serde(default = "default_end")]
    pub end_lr: f64,
    /// Steps (mini-batches) of the sweep.
    #[serde(default = "default_steps")]
    pub steps: usize,
    /// Weight of the old value in the exponential moving average of the loss.
    #[serde(default = "default_smoothing")]
    pub smoothing: f64,
    /// Stop when the smoothed loss exceeds this multiple of its minimum.
    #[serde(default = "default_divergence")]
    pub divergence: f64,
    /// Rows per batch (ignored by `gd`, which uses the whole training set).
    pub batch_size: usize,
    /// Seed of the batch shuffles.
    #[serde(default)]
    pub seed: u64,
}

fn default_start() -> f64 {
    1e-7
}
fn default_end() -> f64 {
    10.0
}
fn default_steps() -> usize {
    100
}
fn default_smoothing() -> f64 {
    0.98
}
fn default_divergence() -> f64 {
    4.0
}

impl LrFindConfig {
    /// The fastai defaults (1e-7 to 10 over 100 steps, smoothing 0.98, stop at 4× the minimum).
    pub fn new(batch_size: usize) -> Self {
        Self {
            start_lr: default_start(),
            end_lr: default_end(),
            steps: default_steps(),
            smoothing: default_smoothing(),
            divergence: default_divergence(),
            batch_size,
            seed: 0,
        }
    }

    /// Checks the settings.
    pub fn validate(&self, n_train: usize, full_batch: bool) -> Result<(), TrainError> {
        let bad = |m: String| Err(TrainError::InvalidSetting(m));
        if !(self.start_lr > 0.0 && self.start_lr < self.end_lr && self.end_lr.is_finite()) {
            return bad(format!("lr-find needs 0 < start_lr < end_lr, got {} and {}", self.start_lr, self.end_lr));
        }
        if self.steps < 2 {
            return bad(format!("lr-find needs at least 2 steps, got {}", self.steps));
        }
        if !(0.0..1.0).contains(&self.smoothing) {
            return bad(format!("lr-find smoothing must be in [0, 1), got {}", self.smoothing));
        }
        if self.divergence.is_nan() || self.divergence <= 1.0 {
            return bad(format!("lr-find divergence must be above 1, got {}", self.divergence));
        }
        if !full_batch && (self.batch_size == 0 || self.batch_size > n_train) {
            return Err(TrainError::BatchSize { batch_size: self.batch_size, rows: n_train });
        }
        Ok(())
    }

    /// The learning rate of step `i` (0-based): `start·(end/start)^(i/(steps−1))`.
    pub fn lr_at(&self, i: usize) -> f64 {
        self.start_lr * (self.end_lr / self.start_lr).powf(i as f64 / (self.steps - 1) as f64)
    }
}

/// The result of the range test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LrFindResult {
    /// The learning rate of each step taken.
    pub learning_rates: Vec<f64>,
    /// The batch loss of each step, before its update.
    pub losses: Vec<f64>,
    /// The bias-corrected exponential moving average of the losses.
    pub smoothed: Vec<f64>,
    /// The suggested learning rate: where the smoothed loss falls fastest
    /// against log(lr), before its minimum.
    pub suggestion: Option<f64>,
    /// Whether the sweep stopped because the loss diverged.
    pub diverged: bool,
}

/// Runs the range test on a fresh `model` (on an autodiff device) with the
/// optimiser of `optimizer` (its learning rate is overridden each step),
/// minimising `objective`.
pub fn lr_find<M, D>(
    model: M,
    optimizer: &OptimizerConfig,
    data: &D,
    objective: &dyn Objective,
    config: &LrFindConfig,
) -> Result<LrFindResult, TrainError>
where
    M: Model,
    D: Dataset<Input = M::Input>,
{
    let full_batch = optimizer.is_full_batch();
    config.validate(data.len(), full_batch)?;
    let mut optimizer = optimizer.init()?;
    let device = model
        .devices()
        .first()
        .cloned()
        .ok_or_else(|| TrainError::InvalidSetting("the model has no parameters".into()))?;
    let mut model = model.train();
    let mut stepper = Stepper::plain();
    let mut result = LrFindResult {
        learning_rates: Vec::new(),
        losses: Vec::new(),
        smoothed: Vec::new(),
        suggestion: None,
        diverged: false,
    };
    let (mut average, mut best) = (0.0, f64::INFINITY);
    let mut batches = Vec::new().into_iter();
    let mut epoch = 0;
    for i in 0..config.steps {
        let indices = match batches.next() {
            Some(b) => b,
            None => {
                epoch += 1;
                let epoch_batches = if full_batch {
                    FullBatch.batches(data.len(), epoch)?
                } else {
                    let last = anneal_data::LastBatch::Drop;
                    ShuffledBatches { batch_size: config.batch_size, seed: config.seed, last }
                        .batches(data.len(), epoch)?
                };
                batches = epoch_batches.into_iter();
                batches.next().expect("batch_size <= rows gives a batch")
            }
        };
        let lr = config.lr_at(i);
        optimizer.set_learning_rate(lr);
        let batch = data.batch(&indices, &device);
        let info = StepInfo { epoch, iteration: i + 1, batch_len: indices.len() };
        let out;
        (model, out) = stepper.step(model, &mut optimizer, batch, objective, &info, &mut [])?;
        let loss = read_scalar(out.loss)?;
        average = config.smoothing * average + (1.0 - config.smoothing) * loss;
        let smoothed = average / (1.0 - config.smoothing.powi(i as i32 + 1));
        result.learning_rates.push(lr);
        result.losses.push(loss);
        result.smoothed.push(smoothed);
        if !smoothed.is_finite() || smoothed > config.divergence * best {
            result.diverged = true;
            break;
        }
        best = best.min(smoothed);
    }
    result.suggestion = steepest(&result.learning_rates, &result.smoothed);
    Ok(result)
}

/// The learning rate where `losses` falls fastest against `log10(lr)`, among
/// the points before the minimum (skipping the first tenth, where the moving
/// average has little history). `None` with fewer than 5 usable points.
pub fn steepest(lrs: &[f64], losses: &[f64]) -> Option<f64> {
    let finite = losses.iter().take_while(|l| l.is_finite()).count();
    let min_at = (0..finite).min_by(|&a, &b| losses[a].total_cmp(&losses[b]))?;
    let skip = finite / 10;
    if min_at < skip + 4 {
        return None;
    }
    // Central differences against log10(lr) on points skip..=min_at.
    (skip + 1..min_at)
        .map(|i| {
            let slope = (losses[i + 1] - losses[i - 1]) / (lrs[i + 1].log10() - lrs[i - 1].log10());
            (i, slope)
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| lrs[i])
}

/// Writes `<stem>.png`/`.svg` (loss against learning rate, log scale, the
/// suggestion marked) and `<stem>.csv`; returns the image paths.
pub fn plot_lr_find(result: &LrFindResult, stem: &Path) -> Result<[PathBuf; 2], TrainError> {
    let zip = |ys: &[f64]| result.learning_rates.iter().copied().zip(ys.iter().copied()).collect::<Vec<_>>();
    let chart = Chart {
        title: "Learning-rate range test".into(),
        x_label: "learning rate".into(),
        y_label: "training loss".into(),
        log_x: true,
        series: vec![
            Series::line("batch loss", zip(&result.losses), (170, 170, 170)),
            Series::line("smoothed", zip(&result.smoothed), PALETTE[0]),
        ],
        marker: result.suggestion.map(|s| (s, format!("suggested {s:.2e}"))),
        // The smoothed curve decides the view: up to 1.5 times its start, so the
        // raw spikes of the diverging end do not flatten everything else.
        y_range: {
            let finite = || result.smoothed.iter().chain(&result.losses).copied().filter(|v| v.is_finite());
            let low = finite().fold(f64::INFINITY, f64::min);
            let start = result.smoothed.first().copied().filter(|v| v.is_finite());
            match start {
                Some(s) if low.is_finite() && s > low => Some((low - 0.05 * (s - low), 1.5 * s - 0.5 * low)),
                _ => None,
            }
        },
        ..Default::default()
    };
    let mut csv = String::from("learning_rate,loss,smoothed\n");
    for ((lr, l), s) in result.learning_rates.iter().zip(&result.losses).zip(&result.smoothed) {
        csv += &format!("{lr},{l},{s}\n");
    }
    let path = stem.with_extension("csv");
    std::fs::write(&path, csv).map_err(|e| TrainError::Output { path: path.clone(), message: e.to_string() })?;
    Ok(save_charts(&[chart], stem)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steepest_finds_the_fastest_fall_before_the_minimum() {
        // A loss that is flat, falls fastest around lr = 1e-3, bottoms out at 1e-1, then rises.
        let lrs: Vec<f64> = (0..60).map(|i| 10f64.powf(-6.0 + i as f64 / 10.0)).collect();
        let losses: Vec<f64> = lrs
            .iter()
            .map(|lr| {
                let x = lr.log10();
                if x < -1.0 { 2.0 - 1.5 / (1.0 + (-(x + 3.0) * 3.0).exp()) } else { 0.5 + (x + 1.0).powi(2) }
            })
            .collect();
        let s = steepest(&lrs, &losses).unwrap();
        assert!((s.log10() + 3.0).abs() <= 0.11, "{s}");
        assert_eq!(steepest(&lrs[..3], &losses[..3]), None);
    }

    #[test]
    fn sweep_is_exponential() {
        let c = LrFindConfig { start_lr: 1e-4, end_lr: 1.0, steps: 5, ..LrFindConfig::new(8) };
        let lrs: Vec<f64> = (0..5).map(|i| c.lr_at(i)).collect();
        for (a, b) in lrs.iter().zip([1e-4, 1e-3, 1e-2, 1e-1, 1.0]) {
            assert!((a / b - 1.0).abs() < 1e-12, "{lrs:?}");
        }
    }
}
