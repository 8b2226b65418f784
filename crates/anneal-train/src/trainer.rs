//! The training loop: seeded epochs of mini-batches through one explicit step,
//! a learning-rate schedule, validation every epoch, early stopping,
//! checkpoints with exact resume, a divergence guard and a metrics history.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use std::collections::BTreeMap;
use std::sync::Arc;

use anneal_data::dataset::{BatchSampler, FullBatch, SequentialBatches, ShuffledBatches};
use anneal_data::{Dataset, LastBatch, Targets};
use anneal_evaluate::{ConfusionMatrix, confusion_matrix};
use anneal_models::Model;
use anneal_optim::{GradientClippingConfig, Optimizer, OptimizerConfig, ScheduleConfig, ScheduleUnit, Scheduler};
use anneal_regularize::{EarlyStopping, EarlyStoppingConfig, PenaltyConfig, Verdict};
use burn::optim::GradientsParams;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, VERSION};
use crate::energy::{EnergyMeter, EnergyModel, EnergyReport};
use crate::error::TrainError;
use crate::metric::{BuiltinMetric, Metric, argmax_rows};
use crate::objective::{Loss, Objective, total};
use crate::params::{LayerNorms, ParamGroupConfig, ParamGroups, ParamLayout, Penalties};
use crate::step::Stepper;
use crate::surgery::{GradientSurgery, GradientSurgeryConfig};

/// Where the loop is, passed to hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepInfo {
    /// 1-based epoch.
    pub epoch: usize,
    /// 1-based iteration since the start of the run.
    pub iteration: usize,
    /// Rows in this batch.
    pub batch_len: usize,
}

/// Code that runs inside the loop. Every method has an empty default.
///
/// The order in a run: `on_train_start`, then per epoch `on_epoch_start`, per
/// batch `on_batch_start` → (`after_backward` when the batch completes an
/// update) → `on_batch_end` (then [`failure`](Self::failure) is asked), then
/// `reduce_record` and `on_epoch_end` after validation, and `on_train_end` once
/// at the end. After `on_epoch_end` the loop asks every
/// hook [`stop_requested`](Self::stop_requested); one `true` ends the run
/// there (a pruner stopping a trial, a time budget).
pub trait TrainHook {
    /// Once, before training starts: where every parameter sits in the model
    /// (layer path, bias or not), for hooks that work on gradients by name
    /// ([`ParamLayout::map_gradients`] in [`after_backward`](Self::after_backward)).
    fn on_layout(&mut self, _layout: &ParamLayout) {}
    /// Once, before the first epoch; `history` holds the epochs a resumed run
    /// has already done (empty otherwise).
    fn on_train_start(&mut self, _plan: &Accounting, _history: &[EpochRecord]) {}
    /// Before the first batch of `epoch` (1-based).
    fn on_epoch_start(&mut self, _epoch: usize) {}
    /// Before the forward pass of a batch.
    fn on_batch_start(&mut self, _step: &StepInfo) {}
    /// Between backward and the optimiser step: the place to inspect, rescale,
    /// all-reduce or replace the gradients. With gradient accumulation it runs
    /// once per update, on the accumulated mean; L2 penalty gradients are
    /// already added, clipping comes after.
    fn after_backward(&mut self, _step: &StepInfo, _grads: &mut GradientsParams) {}
    /// After the optimiser step of a batch.
    fn on_batch_end(&mut self, _step: &StepInfo) {}
    /// After validation, before the epoch is reported, recorded or acted on
    /// (early stopping, schedules, checkpoints): the place to rewrite the epoch's
    /// record, as data-parallel replicas do to agree on one (training metrics
    /// over every replica's rows, the first replica's validation metrics).
    fn reduce_record(&mut self, _record: &mut EpochRecord) {}
    /// After validation at the end of an epoch.
    fn on_epoch_end(&mut self, _record: &EpochRecord) {}
    /// Asked after `on_epoch_end` of every epoch: `true` stops the run after
    /// that epoch, as early stopping would (checkpoint written, best weights
    /// restored), and [`Fitted::stopped_by_hook`] names the epoch.
    fn stop_requested(&self) -> bool {
        false
    }
    /// Asked after every batch: `Some(reason)` ends the run at once with
    /// [`TrainError::Aborted`] (no checkpoint is written for the unfinished epoch;
    /// the last one is kept). For hooks whose work can fail mid-epoch, such as a
    /// gradient all-reduce whose peer has gone.
    fn failure(&mut self) -> Option<String> {
        None
    }
    /// Once, after the last epoch.
    fn on_train_end(&mut self, _history: &[EpochRecord]) {}
}

/// A borrowed hook is a hook, so a caller can read its state after training.
impl<H: TrainHook + ?Sized> TrainHook for &mut H {
    fn on_layout(&mut self, layout: &ParamLayout) {
        (**self).on_layout(layout)
    }
    fn on_train_start(&mut self, plan: &Accounting, history: &[EpochRecord]) {
        (**self).on_train_start(plan, history)
    }
    fn on_epoch_start(&mut self, epoch: usize) {
        (**self).on_epoch_start(epoch)
    }
    fn on_batch_start(&mut self, step: &StepInfo) {
        (**self).on_batch_start(step)
    }
    fn after_backward(&mut self, step: &StepInfo, grads: &mut GradientsParams) {
        (**self).after_backward(step, grads)
    }
    fn on_batch_end(&mut self, step: &StepInfo) {
        (**self).on_batch_end(step)
    }
    fn reduce_record(&mut self, record: &mut EpochRecord) {
        (**self).reduce_record(record)
    }
    fn on_epoch_end(&mut self, record: &EpochRecord) {
        (**self).on_epoch_end(record)
    }
    fn stop_requested(&self) -> bool {
        (**self).stop_requested()
    }
    fn failure(&mut self) -> Option<String> {
        (**self).failure()
    }
    fn on_train_end(&mut self, history: &[EpochRecord]) {
        (**self).on_train_end(history)
    }
}

/// How the loop reports progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Progress {
    /// A progress bar on a terminal, plain log lines otherwise.
    #[default]
    Auto,
    /// One log line per epoch on standard error.
    Log,
    /// Nothing.
    Silent,
}

/// A learning-rate schedule and how often it steps. In TOML one table:
/// `unit` beside the schedule's own keys.
///
/// ```
/// use anneal_optim::{ScheduleConfig, ScheduleUnit};
/// use anneal_train::ScheduleSettings;
///
/// let s: ScheduleSettings = toml::from_str("unit = \"iteration\"\nname = \"cosine\"")?;
/// assert_eq!(s.unit, ScheduleUnit::Iteration);
/// assert_eq!(s.schedule, ScheduleConfig::Cosine { t_max: None, eta_min: 0.0 });
/// assert!(toml::from_str::<ScheduleSettings>("unit = \"batch\"\nname = \"cosine\"").is_err());
/// // It writes back to TOML as it was read.
/// assert_eq!(toml::from_str::<ScheduleSettings>(&toml::to_string(&s)?)?, s);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleSettings {
    /// Step the schedule after every update (`iteration`) or after every epoch (`epoch`, the default).
    pub unit: ScheduleUnit,
    /// The schedule.
    pub schedule: ScheduleConfig,
}

impl Serialize for ScheduleSettings {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut value = serde_json::to_value(&self.schedule).map_err(serde::ser::Error::custom)?;
        // TOML has no null: leave unset options out, as serde does for TOML.
        fn drop_nulls(v: &mut serde_json::Value) {
            if let serde_json::Value::Object(map) = v {
                map.retain(|_, v| !v.is_null());
                map.values_mut().for_each(drop_nulls);
            }
        }
        drop_nulls(&mut value);
        if let serde_json::Value::Object(map) = &mut value {
            map.insert("unit".into(), serde_json::to_value(self.unit).map_err(serde::ser::Error::custom)?);
        }
        value.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ScheduleSettings {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut value = serde_json::Value::deserialize(deserializer)?;
        let unit = match value.as_object_mut().and_then(|m| m.remove("unit")) {
            Some(u) => serde_json::from_value(u).map_err(|e| D::Error::custom(format!("schedule unit: {e}")))?,
            None => ScheduleUnit::default(),
        };
        let schedule = serde_json::from_value(value).map_err(D::Error::custom)?;
        Ok(Self { unit, schedule })
    }
}

fn one() -> usize {
    1
}

/// Training-loop settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Passes over the training data.
    pub epochs: usize,
    /// Rows per mini-batch (ignored by full-batch gradient descent, `gd`).
    pub batch_size: usize,
    /// Seed of the per-epoch shuffles (initial weights and dropout masks take the model's seed).
    #[serde(default)]
    pub seed: u64,
    /// What to do with a last, smaller batch.
    #[serde(default)]
    pub last_batch: LastBatch,
    /// Optional early stopping.
    #[serde(default)]
    pub early_stopping: Option<EarlyStoppingConfig>,
    /// Optional learning-rate schedule.
    #[serde(default)]
    pub schedule: Option<ScheduleSettings>,
    /// Optional gradient clipping (by global norm or by value).
    #[serde(default)]
    pub gradient_clipping: Option<GradientClippingConfig>,
    /// Mini-batches whose gradients are averaged into one update (1: none).
    #[serde(default = "one")]
    pub accumulation: usize,
    /// L1/L2 penalties on the weights.
    #[serde(default)]
    pub regularization: PenaltyConfig,
    /// Write a checkpoint every this many epochs (0: only at the end); needs
    /// [`Trainer::with_checkpoints`].
    #[serde(default)]
    pub checkpoint_every: usize,
    /// Record the mean gradient norm of each layer per epoch ([`EpochRecord::gradient_norms`]).
    #[serde(default)]
    pub log_gradient_norms: bool,
    /// Optimiser parameter groups: frozen layers, layers with their own
    /// learning-rate factor (fine-tuning).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub param_groups: Vec<ParamGroupConfig>,
    /// Gradient surgery on the objective's terms (multi-task learning): each
    /// term back-propagated alone, the gradients combined by PCGrad or summed,
    /// and the share of updates whose terms' gradients conflict recorded as
    /// `train_conflict_rate` (with `train_gradient_cosine`, the mean cosine of
    /// the first two terms' gradients).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gradient_surgery: Option<GradientSurgeryConfig>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self::new(10, 32)
    }
}

impl TrainConfig {
    /// `epochs` epochs of batches of `batch_size`, everything else off.
    pub fn new(epochs: usize, batch_size: usize) -> Self {
        Self {
            epochs,
            batch_size,
            seed: 0,
            last_batch: LastBatch::Keep,
            early_stopping: None,
            schedule: None,
            gradient_clipping: None,
            accumulation: 1,
            regularization: PenaltyConfig::default(),
            checkpoint_every: 0,
            log_gradient_norms: false,
            param_groups: Vec::new(),
            gradient_surgery: None,
        }
    }

    /// Checks the settings against the training set size (for mini-batch optimisers).
    pub fn validate(&self, n_train: usize, has_validation: bool) -> Result<(), TrainError> {
        self.validate_for(n_train, has_validation, None)
    }

    /// Checks the settings against the training set size and the optimiser:
    /// epochs and batch size, early stopping (warm-up, a validation metric
    /// without validation rows; [`Trainer::fit`] checks the metric's name against
    /// the metrics it records), the schedule
    /// (warm-up longer than the run, a schedule on a hypergradient optimiser),
    /// clipping threshold, accumulation and penalties.
    pub fn validate_for(
        &self,
        n_train: usize,
        has_validation: bool,
        optimizer: Option<&OptimizerConfig>,
    ) -> Result<(), TrainError> {
        if self.epochs == 0 {
            return Err(TrainError::InvalidSetting("epochs must be at least 1".into()));
        }
        if n_train == 0 {
            return Err(TrainError::InvalidSetting("the training set is empty".into()));
        }
        let full_batch = optimizer.is_some_and(OptimizerConfig::is_full_batch);
        if !full_batch && (self.batch_size == 0 || self.batch_size > n_train) {
            return Err(TrainError::BatchSize { batch_size: self.batch_size, rows: n_train });
        }
        if self.accumulation == 0 {
            return Err(TrainError::InvalidSetting("accumulation must be at least 1 batch per update".into()));
        }
        if let Some(es) = &self.early_stopping {
            es.validate_for(self.epochs)?;
            if es.monitor.starts_with("val_") && !has_validation {
                return Err(TrainError::InvalidSetting(format!(
                    "early stopping monitors `{}` but there is no validation set",
                    es.monitor
                )));
            }
        }
        if let Some(c) = &self.gradient_clipping {
            c.validate()?;
        }
        self.regularization.validate()?;
        if let Some(s) = &self.schedule {
            if let Some(o) = optimizer.filter(|o| o.adapts_learning_rate()) {
                return Err(TrainError::ScheduleWithAdaptiveRate { optimizer: o.name() });
            }
            let plan = self.plan(n_train, full_batch);
            let lr = optimizer.map_or(1e-3, OptimizerConfig::learning_rate);
            s.schedule.build(lr, s.unit.total_steps(self.epochs, plan.updates_per_epoch()))?;
        }
        Ok(())
    }

    /// The run's size ([`Accounting`]); `full_batch` for gradient descent on the whole set.
    pub fn plan(&self, n_train: usize, full_batch: bool) -> Accounting {
        let batch_size = if full_batch { n_train } else { self.batch_size };
        let last_batch = if full_batch { LastBatch::Keep } else { self.last_batch };
        Accounting {
            samples: n_train,
            batch_size,
            iterations_per_epoch: iterations_per_epoch(n_train, batch_size, last_batch),
            epochs: self.epochs,
            accumulation: self.accumulation.max(1),
            full_batch,
        }
    }

    /// The run's size in words: "245 samples, batch 16 → 16 iterations per epoch × 100 epochs = 1600 iterations".
    pub fn accounting(&self, n_train: usize) -> String {
        self.plan(n_train, false).to_string()
    }
}

fn iterations_per_epoch(n: usize, batch: usize, last: LastBatch) -> usize {
    match last {
        LastBatch::Keep => n.div_ceil(batch.max(1)),
        LastBatch::Drop => n / batch.max(1),
    }
}

/// The size of a run: samples, batches, iterations and updates. Printed at the
/// start of training and returned in [`Fitted::accounting`].
///
/// ```
/// use anneal_train::TrainConfig;
///
/// let plan = TrainConfig::new(20, 100).plan(1000, false);
/// assert_eq!(plan.iterations(), 200);
/// assert_eq!(plan.to_string(), "1000 samples, batch 100 → 10 iterations per epoch × 20 epochs = 200 iterations");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accounting {
    /// Training rows.
    pub samples: usize,
    /// Rows per batch (all of them for full-batch gradient descent).
    pub batch_size: usize,
    /// Batches per epoch.
    pub iterations_per_epoch: usize,
    /// Epochs asked for.
    pub epochs: usize,
    /// Batches per optimiser update (gradient accumulation).
    pub accumulation: usize,
    /// Whether the whole training set is one batch (`gd`).
    pub full_batch: bool,
}

impl Accounting {
    /// Batches in the whole run.
    pub fn iterations(&self) -> usize {
        self.iterations_per_epoch * self.epochs
    }

    /// Optimiser updates per epoch (a last, incomplete accumulation group counts).
    pub fn updates_per_epoch(&self) -> usize {
        self.iterations_per_epoch.div_ceil(self.accumulation)
    }

    /// Optimiser updates in the whole run.
    pub fn updates(&self) -> usize {
        self.updates_per_epoch() * self.epochs
    }
}

impl std::fmt::Display for Accounting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} samples, batch {}{} → {} iterations per epoch × {} epochs = {} iterations",
            self.samples,
            self.batch_size,
            if self.full_batch { " (full batch)" } else { "" },
            self.iterations_per_epoch,
            self.epochs,
            self.iterations()
        )?;
        if self.accumulation > 1 {
            write!(f, "; {} batches per update → {} updates", self.accumulation, self.updates())?;
        }
        Ok(())
    }
}

/// Metrics of one epoch.
///
/// Besides the fixed fields, [`metrics`](EpochRecord::metrics) maps names to
/// values: `val_loss` and `val_<metric>` for every metric the loop records
/// (`val_accuracy`, `val_macro_f1` for classes; `val_r2`, `val_rmse`, ... for
/// values; any [`Metric`] added with [`Trainer::with_metric`]), `train_accuracy`
/// for class targets, and `train_<term>` for an objective of several terms. In
/// JSON they sit beside the fixed fields, one flat object per epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (weighted by batch size), data
    /// term only: penalties are not included, so it compares with `val_loss`.
    pub train_loss: f64,
    /// Learning rate of the epoch's last update: the schedule's rate, or the rate
    /// a hypergradient optimiser has learnt by the end of the epoch.
    pub learning_rate: f64,
    /// Wall-clock seconds of the epoch, validation included.
    pub seconds: f64,
    /// Mean L2 norm of each layer's gradient over the epoch's updates, when
    /// [`TrainConfig::log_gradient_norms`] is set (layer 0 is nearest the input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gradient_norms: Option<Vec<f64>>,
    /// Every other metric of the epoch by name.
    #[serde(flatten)]
    pub metrics: BTreeMap<String, f64>,
}

impl EpochRecord {
    /// The value of a metric by name (`train_loss` or a key of
    /// [`metrics`](EpochRecord::metrics)).
    pub fn metric(&self, name: &str) -> Option<f64> {
        match name {
            "train_loss" => Some(self.train_loss),
            _ => self.metrics.get(name).copied(),
        }
    }

    /// Every metric name the record holds, `train_loss` first.
    pub fn names(&self) -> Vec<String> {
        std::iter::once("train_loss".to_string()).chain(self.metrics.keys().cloned()).collect()
    }
}

/// The outcome of [`Trainer::fit`].
#[derive(Debug)]
pub struct Fitted<M> {
    /// The trained model (the best epoch's, when early stopping restores it).
    pub model: M,
    /// One record per completed epoch (a resumed run's earlier epochs included).
    pub history: Vec<EpochRecord>,
    /// The epoch whose weights `model` holds.
    pub best_epoch: usize,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
    /// The epoch after which a hook's [`TrainHook::stop_requested`] ended the
    /// run (`None` when no hook asked).
    pub stopped_by_hook: Option<usize>,
    /// The run's size.
    pub accounting: Accounting,
    /// The epoch a resumed run continued from.
    pub resumed_from: Option<usize>,
    /// Energy and time of this call (not of the epochs before a resume).
    pub energy: EnergyReport,
}

impl<M> Fitted<M> {
    /// The same outcome with the model mapped by `f` (a wrapper's inner model).
    pub fn map_model<N>(self, f: impl FnOnce(M) -> N) -> Fitted<N> {
        Fitted {
            model: f(self.model),
            history: self.history,
            best_epoch: self.best_epoch,
            stopped_early: self.stopped_early,
            stopped_by_hook: self.stopped_by_hook,
            accounting: self.accounting,
            resumed_from: self.resumed_from,
            energy: self.energy,
        }
    }
}

/// A model's predictions over a dataset, with the dataset's targets.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Mean loss of the objective (in the units the model was trained on).
    pub loss: f64,
    /// Row-major predictions, `n_outputs` per row, in the user's units: class
    /// probabilities for class targets, values (a target transform inverted)
    /// for numeric ones.
    pub predictions: Vec<f32>,
    /// Outputs per row (classes, or targets).
    pub n_outputs: usize,
    /// The dataset's targets in the user's units.
    pub targets: Targets,
    /// Each term's mean when the objective has several (a multi-task
    /// objective's per-task losses), averaged over batches weighted by their rows.
    pub terms: BTreeMap<String, f64>,
}

impl Evaluation {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.predictions.len() / self.n_outputs.max(1)
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.predictions.is_empty()
    }

    /// The most probable class of each row (class targets).
    pub fn predicted_classes(&self) -> Vec<usize> {
        argmax_rows(&self.predictions, self.n_outputs)
    }

    /// Accuracy, macro-F1 and the confusion matrix (class targets).
    pub fn scores(&self) -> Result<(f64, f64, ConfusionMatrix), TrainError> {
        let Targets::Classes(y) = &self.targets else {
            return Err(TrainError::InvalidSetting("accuracy and F1 need class targets".into()));
        };
        let cm = confusion_matrix(y, &self.predicted_classes(), self.n_outputs)?;
        Ok((cm.accuracy(), cm.macro_f1(), cm))
    }

    /// Prediction `j` of every row as `f64` (value targets: target `j`).
    pub fn column(&self, j: usize) -> Vec<f64> {
        self.predictions.iter().skip(j).step_by(self.n_outputs.max(1)).map(|&v| f64::from(v)).collect()
    }

    /// The value of `metric` on these predictions.
    pub fn metric(&self, metric: &dyn Metric) -> Result<Option<f64>, TrainError> {
        metric.compute(&self.predictions, self.n_outputs, &self.targets)
    }
}

/// Runs the training loop on one device.
///
/// ```
/// use anneal_data::ClassificationData;
/// use anneal_models::MlpConfig;
/// use anneal_optim::OptimizerConfig;
/// use anneal_train::{Backend, Progress, TrainConfig, Trainer};
///
/// // Two well-separated blobs.
/// let x: Vec<f32> = (0..40).flat_map(|i| { let s = if i % 2 == 0 { -1.0 } else { 1.0 }; [s + 0.01 * i as f32, s] }).collect();
/// let y: Vec<usize> = (0..40).map(|i| i % 2).collect();
/// let data = ClassificationData::new(x, 2, y)?;
///
/// let device = Backend::Flex.device()?;
/// let model = MlpConfig { input: 2, hidden: vec![8], output: 2, activation: Default::default(), dropout: 0.0, layer_dropout: vec![] }
///     .init(1, &device.clone().autodiff())?;
/// let mut optimizer = OptimizerConfig::adam(0.05).init()?;
/// let config = TrainConfig { seed: 1, ..TrainConfig::new(20, 8) };
/// let fitted = Trainer::new(config, device.clone()).with_progress(Progress::Silent).fit(model, &mut optimizer, &data, Some(&data))?;
/// assert_eq!(fitted.accounting.to_string(), "40 samples, batch 8 → 5 iterations per epoch × 20 epochs = 100 iterations");
/// assert!(fitted.history.last().unwrap().metric("val_accuracy").unwrap() > 0.95);
/// # Ok::<(), anneal_train::TrainError>(())
/// ```
pub struct Trainer<'h> {
    config: TrainConfig,
    device: Device,
    progress: Progress,
    objective: Option<Arc<dyn Objective>>,
    metrics: Vec<Arc<dyn Metric>>,
    sampler: Option<Box<dyn BatchSampler + 'h>>,
    hooks: Vec<Box<dyn TrainHook + 'h>>,
    checkpoints: Option<PathBuf>,
    write_checkpoints: bool,
    resume: bool,
    energy: EnergyModel,
}

/// Everything a run carries from epoch to epoch besides the model and optimiser.
struct LoopState<M> {
    epochs_done: usize,
    iteration: usize,
    history: Vec<EpochRecord>,
    best: Option<(usize, M)>,
    stopped_early: bool,
    scheduler_metrics: Vec<u64>,
    last_checkpoint: Option<usize>,
    /// The first batch's loss, before any update: the divergence guard's yardstick.
    reference_loss: Option<f64>,
}

impl<M> LoopState<M> {
    /// The divergence error at `epoch` and the current iteration, naming the
    /// checkpoint left as it was.
    fn diverged(&self, epoch: usize, reason: String) -> TrainError {
        TrainError::Diverged { epoch, iteration: self.iteration, reason, last_checkpoint: self.last_checkpoint }
    }

    /// The error of a run a hook ended at `epoch` ([`TrainHook::failure`]).
    fn aborted(&self, epoch: usize, reason: String) -> TrainError {
        TrainError::Aborted { epoch, iteration: self.iteration, reason, last_checkpoint: self.last_checkpoint }
    }
}

/// The divergence guard stops a run whose batch loss grows above this many times
/// the first batch's loss (measured before any update; at least 1 is used as the
/// yardstick, so a near-zero first loss does not make every wobble a divergence).
pub const DIVERGENCE_FACTOR: f64 = 1e3;

/// The batches of an epoch, prepared in order on a thread of `scope` one batch
/// ahead of the consumer (a channel of one): the receiving end.
fn prefetched<'scope, 'env, D>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    train: &'env D,
    batches: &'env [Vec<usize>],
    epoch: usize,
    device: &Device,
) -> std::sync::mpsc::Receiver<Result<anneal_data::Batch<D::Input>, anneal_data::DataError>>
where
    D: Dataset + Sync,
    D::Input: Send,
{
    let (send, receive) = std::sync::mpsc::sync_channel(1);
    let device = device.clone();
    scope.spawn(move || {
        for rows in batches {
            // The consumer has stopped (an error, a diverged run): stop too.
            if send.send(train.train_batch(rows, epoch, &device)).is_err() {
                break;
            }
        }
    });
    receive
}

/// Why a batch loss means the run diverged, if it does.
fn divergence(loss: f64, reference: f64) -> Option<String> {
    let limit = DIVERGENCE_FACTOR * reference.abs().max(1.0);
    if !loss.is_finite() {
        Some(format!("the loss is {loss}"))
    } else if loss > limit {
        Some(format!(
            "the loss {loss:.4e} is above {DIVERGENCE_FACTOR} × the first batch's loss ({reference:.4}); lower the \
             learning rate or clip gradients"
        ))
    } else {
        None
    }
}

impl<'h> Trainer<'h> {
    /// A trainer for `config` on `device` (with or without autodiff: the loop adds it).
    pub fn new(config: TrainConfig, device: Device) -> Self {
        Self {
            config,
            device: device.without_autodiff(),
            progress: Progress::Auto,
            objective: None,
            metrics: Vec::new(),
            sampler: None,
            hooks: Vec::new(),
            checkpoints: None,
            write_checkpoints: true,
            resume: false,
            energy: EnergyModel::default(),
        }
    }

    /// Sets how progress is reported.
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// What to minimise; by default cross-entropy for class targets and mean
    /// squared error for values ([`Loss`]).
    pub fn with_objective(mut self, objective: impl Objective + 'static) -> Self {
        self.objective = Some(Arc::new(objective));
        self
    }

    /// Records one more metric on the validation rows every epoch, as
    /// `val_<name>`, beside the built-in ones for the targets
    /// ([`BuiltinMetric::defaults_for`]); early stopping can monitor it.
    pub fn with_metric(mut self, metric: impl Metric + 'static) -> Self {
        self.metrics.push(Arc::new(metric));
        self
    }

    /// Decides each epoch's batches; by default the rows shuffled anew each epoch
    /// from the config's seed ([`ShuffledBatches`]), or the whole set for
    /// full-batch gradient descent ([`FullBatch`]). The run's
    /// [`Accounting`] still counts batches as the config's batch size cuts them.
    pub fn with_sampler(mut self, sampler: impl BatchSampler + 'h) -> Self {
        self.sampler = Some(Box::new(sampler));
        self
    }

    /// Adds a hook; hooks run in the order they were added.
    pub fn with_hook(mut self, hook: impl TrainHook + 'h) -> Self {
        self.hooks.push(Box::new(hook));
        self
    }

    /// Writes checkpoints into the folder `dir`: every
    /// [`checkpoint_every`](TrainConfig::checkpoint_every) epochs and at the end.
    pub fn with_checkpoints(mut self, dir: impl Into<PathBuf>) -> Self {
        self.checkpoints = Some(dir.into());
        self
    }

    /// Whether checkpoints are written into the
    /// [`with_checkpoints`](Trainer::with_checkpoints) folder (default `true`). A
    /// data-parallel replica other than the first reads the folder to resume but
    /// leaves writing to the first.
    pub fn writing_checkpoints(mut self, write: bool) -> Self {
        self.write_checkpoints = write;
        self
    }

    /// Continues from the checkpoint in the [`with_checkpoints`](Trainer::with_checkpoints)
    /// folder instead of starting afresh. `fit` must get a model of the same shape
    /// and an optimiser built from the same config; the result equals an
    /// uninterrupted run's bit for bit on the same backend.
    pub fn resuming(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }

    /// The assumptions of the energy estimate in [`Fitted::energy`].
    pub fn with_energy_model(mut self, model: EnergyModel) -> Self {
        self.energy = model;
        self
    }

    /// Trains `model` (built on this trainer's device with autodiff) with `optimizer`.
    ///
    /// Errors: invalid settings (before anything runs), a diverged run
    /// ([`TrainError::Diverged`], naming the epoch and iteration: a NaN or
    /// infinite loss, checked every step; a loss above [`DIVERGENCE_FACTOR`] ×
    /// the first batch's; non-finite weights or validation loss, checked every
    /// epoch before its checkpoint, so only finite states are checkpointed; the
    /// last checkpoint is left as it was), a checkpoint that cannot be written,
    /// or read and verified.
    pub fn fit<M, D>(
        &mut self,
        model: M,
        optimizer: &mut Optimizer,
        train: &D,
        valid: Option<&D>,
    ) -> Result<Fitted<M>, TrainError>
    where
        M: Model,
        D: Dataset<Input = M::Input> + Sync,
        M::Input: Send,
    {
        let meter = EnergyMeter::start(self.energy);
        let valid = valid.filter(|v| !v.is_empty());
        let config = self.config.clone();
        config.validate_for(train.len(), valid.is_some(), Some(optimizer.config()))?;
        let train_targets = train.all_targets();
        let classes = matches!(train_targets, Targets::Classes(_));
        let objective = self.objective.clone().unwrap_or_else(|| default_objective(&train_targets));
        let metrics: Vec<Arc<dyn Metric>> = BuiltinMetric::defaults_for(&train_targets)
            .iter()
            .map(|m| Arc::new(*m) as Arc<dyn Metric>)
            .chain(objective.metrics())
            .chain(self.metrics.iter().cloned())
            .collect();
        if let Some(es) = &config.early_stopping {
            let mut known = vec![("train_loss".to_string(), false)];
            if classes {
                known.push(("train_accuracy".into(), true));
            }
            if valid.is_some() {
                known.push(("val_loss".into(), false));
                known.extend(metrics.iter().map(|m| (format!("val_{}", m.name()), m.higher_is_better())));
            }
            check_monitor(es, &known)?;
        }
        let default_sampler: Box<dyn BatchSampler> = if optimizer.config().is_full_batch() {
            Box::new(FullBatch)
        } else {
            Box::new(ShuffledBatches { batch_size: config.batch_size, seed: config.seed, last: config.last_batch })
        };
        let plan = config.plan(train.len(), optimizer.config().is_full_batch());
        let train_device = self.device.clone().autodiff();
        let mut model = model.fork(&train_device).train();
        let checkpoint = match (&self.checkpoints, self.resume) {
            (Some(dir), true) => {
                // Weights first: the parameter ids in the checkpoint key the
                // optimiser state, the penalties and the gradient norms.
                let ck = Checkpoint::read(dir)?;
                model = Checkpoint::load_model(dir, model)?;
                Some((dir.clone(), ck))
            }
            (None, true) => {
                return Err(TrainError::InvalidSetting(
                    "resuming needs a checkpoint folder (Trainer::with_checkpoints)".into(),
                ));
            }
            _ => None,
        };
        let layout = ParamLayout::of(&model);
        let groups = ParamGroups::new(&config.param_groups, &layout)?;
        if config.param_groups.iter().any(|g| !g.frozen && g.lr_scale != 1.0)
            && optimizer.config().adapts_learning_rate()
        {
            return Err(TrainError::InvalidSetting(format!(
                "param_groups with lr_scale need an optimiser with a set learning rate; {} learns one rate for the whole model",
                optimizer.config().name()
            )));
        }
        let mut penalties = Penalties::new(&config.regularization, &layout)?;
        if let (Some(p), Some(g)) = (penalties.as_mut(), groups.as_ref()) {
            p.exclude(&g.always_frozen());
        }
        for hook in &mut self.hooks {
            hook.on_layout(&layout);
        }
        let clipping = config.gradient_clipping.map(|c| c.init()).transpose()?;
        let mut stepper = Stepper::plain()
            .with_accumulation(config.accumulation)?
            .with_penalties(penalties)
            .with_clipping(clipping)
            .with_norms(config.log_gradient_norms.then(|| LayerNorms::new(&layout)))
            .with_groups(groups)
            .with_surgery(
                config.gradient_surgery.as_ref().map(|s| GradientSurgery::new(s, &layout, config.seed)).transpose()?,
                &layout,
            )
            .with_accuracy(classes);
        let mut scheduler: Option<(ScheduleUnit, Scheduler)> = match &config.schedule {
            Some(s) => {
                let total = s.unit.total_steps(config.epochs, plan.updates_per_epoch());
                Some((s.unit, s.schedule.build(optimizer.config().learning_rate(), total)?))
            }
            None => None,
        };
        let mut stopper = config.early_stopping.clone().map(EarlyStopping::new).transpose()?;
        let restore = config.early_stopping.as_ref().is_some_and(|e| e.restore_best);

        let mut state = LoopState {
            epochs_done: 0,
            iteration: 0,
            history: Vec::with_capacity(config.epochs),
            best: None,
            stopped_early: false,
            scheduler_metrics: Vec::new(),
            last_checkpoint: None,
            reference_loss: None,
        };
        let mut resumed_from = None;
        let mut finished = false;
        let mut stopped_by_hook = None;
        if let Some((dir, ck)) = checkpoint {
            if ck.config != config {
                return Err(TrainError::Checkpoint {
                    path: dir,
                    message: "it was written with other training settings than this run's".into(),
                });
            }
            model.set_rng_state(&ck.rng);
            Checkpoint::load_optimizer(&dir, optimizer, &self.device)?;
            if let (Some(s), Some(saved)) = (stopper.as_mut(), ck.early_stopping) {
                s.restore(saved);
            }
            if let Some(e) = ck.best_epoch {
                state.best = Some((e, Checkpoint::load_best(&dir, model.clone())?));
            }
            if let Some((_, s)) = scheduler.as_mut() {
                if s.is_metric_driven() {
                    ck.scheduler_metrics.iter().for_each(|&bits| s.step_with_metric(f64::from_bits(bits)));
                } else {
                    (0..ck.scheduler_steps).for_each(|_| s.step());
                }
            }
            state.epochs_done = ck.epoch;
            state.iteration = ck.iteration;
            state.history = ck.history;
            state.stopped_early = ck.stopped_early;
            state.scheduler_metrics = ck.scheduler_metrics;
            state.last_checkpoint = Some(ck.epoch);
            state.reference_loss = ck.reference_loss.map(f64::from_bits);
            resumed_from = Some(ck.epoch);
            finished = ck.finished;
        }

        let reporter = Reporter::new(self.progress, &plan, resumed_from);
        for hook in &mut self.hooks {
            hook.on_train_start(&plan, &state.history);
        }
        let first_epoch = state.epochs_done + 1;
        for epoch in first_epoch..=config.epochs {
            if finished {
                break;
            }
            let start = Instant::now();
            for hook in &mut self.hooks {
                hook.on_epoch_start(epoch);
            }
            if let Some((ScheduleUnit::Epoch, s)) = &scheduler {
                optimizer.set_learning_rate(s.lr());
            }
            model = stepper.enter_epoch(epoch, model)?;
            objective.enter_epoch(&state.history)?;
            let sampler = self.sampler.as_deref().unwrap_or(default_sampler.as_ref());
            if sampler.needs_losses() {
                // Self-paced: the rows are chosen by the current model's loss on them.
                let losses = row_losses(&model, train, objective.as_ref(), &self.device, 1024)?;
                sampler.observe_losses(epoch, &losses)?;
            }
            let batches = sampler.batches(train.len(), epoch)?;
            let mut losses = Vec::with_capacity(batches.len());
            let mut terms: BTreeMap<String, Vec<Tensor<1>>> = BTreeMap::new();
            let mut correct = Vec::with_capacity(batches.len());
            let mut counted = 0usize;
            // Updates with gradient surgery, those with a conflict, and the first pair's cosines.
            let (mut operated, mut conflicts, mut cosines) = (0usize, 0usize, Vec::new());
            let mut info = StepInfo { epoch, iteration: state.iteration, batch_len: 0 };
            // An augmenting dataset prepares the next batch on another thread while
            // this one trains (batches are pure functions of rows and epoch, so this
            // changes nothing but the time).
            let prefetch = train.prefetch() && batches.len() > 1;
            model = std::thread::scope(|scope| -> Result<M, TrainError> {
                let mut model = model;
                let upcoming = prefetch.then(|| prefetched(scope, train, &batches, epoch, &train_device));
                for indices in &batches {
                    state.iteration += 1;
                    info = StepInfo { epoch, iteration: state.iteration, batch_len: indices.len() };
                    for hook in &mut self.hooks {
                        hook.on_batch_start(&info);
                    }
                    if let Some((ScheduleUnit::Iteration, s)) = &scheduler {
                        optimizer.set_learning_rate(s.lr());
                    }
                    let batch = match &upcoming {
                        Some(next) => next.recv().map_err(|_| {
                            TrainError::InvalidSetting("the batch-preparing thread stopped (it panicked)".into())
                        })??,
                        None => train.train_batch(indices, epoch, &train_device)?,
                    };
                    let out;
                    (model, out) = stepper.step(model, optimizer, batch, objective.as_ref(), &info, &mut self.hooks)?;
                    // The divergence guard, every step: one scalar read back (kept for
                    // the epoch's mean, so the losses are read from the device once).
                    let loss = read_vec(out.loss)?.first().copied().unwrap_or(f32::NAN);
                    let value = f64::from(loss);
                    let reference = *state.reference_loss.get_or_insert(value);
                    if let Some(reason) = divergence(value, reference) {
                        reporter.finish();
                        return Err(state.diverged(epoch, reason));
                    }
                    losses.push(loss);
                    for (name, value) in out.terms {
                        terms.entry(name).or_default().push(value);
                    }
                    if let Some(c) = out.correct {
                        correct.push(c);
                        counted += out.counted;
                    }
                    if let Some(report) = &out.surgery {
                        operated += 1;
                        conflicts += usize::from(report.conflict());
                        cosines.extend(report.cosines.first().copied().filter(|c| c.is_finite()));
                    }
                    if let (true, Some((ScheduleUnit::Iteration, s))) = (out.updated, &mut scheduler) {
                        s.step();
                    }
                    for hook in &mut self.hooks {
                        hook.on_batch_end(&info);
                    }
                    if let Some(reason) = self.hooks.iter_mut().find_map(|h| h.failure()) {
                        reporter.finish();
                        return Err(state.aborted(epoch, reason));
                    }
                    reporter.tick();
                }
                Ok(model)
            })?;
            let flushed;
            (model, flushed) = stepper.flush(model, optimizer, &info, &mut self.hooks);
            if let (true, Some((ScheduleUnit::Iteration, s))) = (flushed, &mut scheduler) {
                s.step();
            }
            if let Some(reason) = self.hooks.iter_mut().find_map(|h| h.failure()) {
                reporter.finish();
                return Err(state.aborted(epoch, reason));
            }

            // The last update of the epoch has no loss after it yet: look at the weights.
            if let Some(layer) = crate::params::non_finite_layer(&model, &layout)? {
                reporter.finish();
                return Err(state.diverged(epoch, format!("layer `{layer}` has NaN or infinite weights")));
            }
            let seen: usize = batches.iter().map(Vec::len).sum();
            let weighted = |values: &[f32]| -> f64 {
                values.iter().zip(&batches).map(|(l, b)| *l as f64 * b.len() as f64).sum::<f64>() / seen as f64
            };
            let train_loss = weighted(&losses);
            let mut metrics_of_epoch = BTreeMap::new();
            if !correct.is_empty() {
                let right = Tensor::cat(correct, 0).sum().into_data().convert::<i64>().try_to_vec::<i64>();
                if let Some(c) = right.ok().and_then(|v| v.first().copied()) {
                    metrics_of_epoch.insert("train_accuracy".to_string(), c as f64 / counted.max(1) as f64);
                }
            }
            for (name, values) in terms {
                metrics_of_epoch.insert(format!("train_{name}"), weighted(&read_vec(Tensor::cat(values, 0))?));
            }
            if operated > 0 {
                metrics_of_epoch.insert("train_conflict_rate".to_string(), conflicts as f64 / operated as f64);
                if !cosines.is_empty() {
                    let mean = cosines.iter().sum::<f64>() / cosines.len() as f64;
                    metrics_of_epoch.insert("train_gradient_cosine".to_string(), mean);
                }
            }
            metrics_of_epoch.extend(objective.epoch_metrics());
            if let Some(v) = valid {
                let eval = evaluate(&model, v, objective.as_ref(), &self.device, 1024)?;
                if !eval.loss.is_finite() {
                    reporter.finish();
                    return Err(state.diverged(epoch, format!("the validation loss is {}", eval.loss)));
                }
                metrics_of_epoch.insert("val_loss".to_string(), eval.loss);
                for m in &metrics {
                    if let Some(value) = eval.metric(m.as_ref())? {
                        metrics_of_epoch.insert(format!("val_{}", m.name()), value);
                    }
                }
            }
            let mut record = EpochRecord {
                epoch,
                train_loss,
                learning_rate: optimizer.learning_rate(),
                seconds: start.elapsed().as_secs_f64(),
                gradient_norms: stepper.take_gradient_norms(),
                metrics: metrics_of_epoch,
            };
            for hook in &mut self.hooks {
                hook.reduce_record(&mut record);
            }
            if let Some(reason) = self.hooks.iter_mut().find_map(|h| h.failure()) {
                reporter.finish();
                return Err(state.aborted(epoch, reason));
            }
            reporter.epoch(&record, config.epochs);
            for hook in &mut self.hooks {
                hook.on_epoch_end(&record);
            }
            let hook_stop = self.hooks.iter().any(|h| h.stop_requested());
            if let Some((ScheduleUnit::Epoch, s)) = &mut scheduler {
                if s.is_metric_driven() {
                    let metric = record.metric("val_loss").unwrap_or(record.train_loss);
                    state.scheduler_metrics.push(metric.to_bits());
                    s.step_with_metric(metric);
                } else {
                    s.step();
                }
            }
            let verdict = stopper.as_mut().map(|s| {
                let value = record.metric(&s.config().monitor).unwrap_or(f64::NAN);
                s.update(epoch, value)
            });
            state.history.push(record);
            state.epochs_done = epoch;
            match verdict {
                Some(Verdict::Improved) if restore => state.best = Some((epoch, model.clone())),
                Some(Verdict::Stop) => state.stopped_early = true,
                _ => {}
            }
            let last = state.stopped_early || epoch == config.epochs;
            // A stop asked before the last epoch is recorded even when early stopping
            // ends the run at the same epoch: both are reasons it ended there.
            if hook_stop && epoch < config.epochs {
                stopped_by_hook = Some(epoch);
            }
            let due = config.checkpoint_every > 0 && epoch % config.checkpoint_every == 0;
            if let Some(dir) = self.checkpoints.as_ref().filter(|_| self.write_checkpoints)
                && (due || last || stopped_by_hook.is_some())
            {
                let ck = Checkpoint {
                    version: VERSION,
                    config: config.clone(),
                    epoch,
                    iteration: state.iteration,
                    history: state.history.clone(),
                    early_stopping: stopper.as_ref().map(EarlyStopping::state),
                    best_epoch: state.best.as_ref().map(|(e, _)| *e),
                    scheduler_steps: scheduler.as_ref().map_or(0, |(_, s)| s.steps()),
                    scheduler_metrics: state.scheduler_metrics.clone(),
                    rng: model.rng_state(),
                    stopped_early: state.stopped_early,
                    finished: last,
                    reference_loss: state.reference_loss.map(f64::to_bits),
                };
                ck.write(dir, &model, state.best.as_ref().map(|(_, m)| m), optimizer)?;
                state.last_checkpoint = Some(epoch);
            }
            if state.stopped_early || stopped_by_hook.is_some() {
                break;
            }
        }
        reporter.finish();
        for hook in &mut self.hooks {
            hook.on_train_end(&state.history);
        }
        let (best_epoch, model) = match state.best {
            Some((epoch, m)) => (epoch, m),
            None => (state.history.len(), model),
        };
        Ok(Fitted {
            model,
            history: state.history,
            best_epoch,
            stopped_early: state.stopped_early,
            stopped_by_hook,
            accounting: plan,
            resumed_from,
            energy: meter.finish(),
        })
    }
}

/// Checks that early stopping monitors one of `known` (each metric's name and
/// whether larger is better) in the direction its goal says: an unknown name
/// lists the known ones, and a goal against the metric's direction (which
/// would keep the worst epoch) names the goal to set.
pub fn check_monitor(es: &EarlyStoppingConfig, known: &[(String, bool)]) -> Result<(), TrainError> {
    let Some(&(_, higher_is_better)) = known.iter().find(|(name, _)| *name == es.monitor) else {
        return Err(TrainError::UnknownMetric {
            name: es.monitor.clone(),
            available: known.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", "),
        });
    };
    let goal_says_higher = es.goal == anneal_regularize::Goal::Maximize;
    if goal_says_higher != higher_is_better {
        return Err(TrainError::InvalidSetting(format!(
            "early stopping monitors `{}`, which is better when {}: set goal = \"{}\"",
            es.monitor,
            if higher_is_better { "larger" } else { "smaller" },
            if higher_is_better { "maximize" } else { "minimize" }
        )));
    }
    Ok(())
}

/// The objective a run gets when none is given: cross-entropy for class
/// targets, mean squared error for values.
pub fn default_objective(targets: &Targets) -> Arc<dyn Objective> {
    match targets {
        Targets::Classes(_) => Arc::new(Loss::CrossEntropy),
        Targets::Values { .. } => Arc::new(Loss::Mse),
        // Which loss each task takes and how wide its head is are the
        // objective's to say: without one every batch is refused by name.
        Targets::Tasks(_) => Arc::new(crate::objective::NoMultiTaskObjective),
    }
}

/// The loss of `model` (in evaluation mode, no autodiff) on every row of
/// `data`, in row order: what a self-paced curriculum ranks rows by. Errors
/// when the objective has no per-row form.
pub fn row_losses<M, D>(
    model: &M,
    data: &D,
    objective: &dyn Objective,
    device: &Device,
    batch_size: usize,
) -> Result<Vec<f64>, TrainError>
where
    M: Model,
    D: Dataset<Input = M::Input>,
{
    let device = device.clone().without_autodiff();
    let model = model.valid().fork(&device);
    let mut losses = Vec::with_capacity(data.len());
    let batches = SequentialBatches { batch_size: batch_size.max(1), last: LastBatch::Keep }.batches(data.len(), 0)?;
    for rows in &batches {
        let batch = data.batch(rows, &device);
        let Some(per_row) = objective.per_row(model.forward(batch.input), &batch.target)? else {
            return Err(TrainError::InvalidSetting(format!(
                "ranking rows by the model's own loss needs each row's loss, which the objective `{}` does not give",
                objective.name()
            )));
        };
        losses.extend(read_vec(per_row)?.into_iter().map(f64::from));
    }
    Ok(losses)
}

/// Predicts every row of `data` in batches of `batch_size` on `device` (no
/// autodiff): the objective's mean loss, and its predictions in the user's
/// units ([`Objective::predict`], then [`Dataset::decode_predictions`]).
pub fn evaluate<M, D>(
    model: &M,
    data: &D,
    objective: &dyn Objective,
    device: &Device,
    batch_size: usize,
) -> Result<Evaluation, TrainError>
where
    M: Model,
    D: Dataset<Input = M::Input>,
{
    let device = device.clone().without_autodiff();
    let model = model.valid().fork(&device);
    let mut loss_sum = 0.0;
    let mut term_sums: BTreeMap<String, f64> = BTreeMap::new();
    let mut predictions = Vec::new();
    let mut n_outputs = 0;
    let batches = SequentialBatches { batch_size: batch_size.max(1), last: LastBatch::Keep }.batches(data.len(), 0)?;
    for rows in &batches {
        let batch = data.batch(rows, &device);
        let output = model.forward(batch.input);
        let terms = objective.terms(output.clone(), &batch.target)?;
        if terms.len() > 1 {
            for t in &terms {
                *term_sums.entry(t.name.clone()).or_default() += read_scalar(t.value.clone())? * rows.len() as f64;
            }
        }
        loss_sum += read_scalar(total(&terms)?)? * rows.len() as f64;
        // The predictions' width, which an objective may narrow (a multi-task
        // objective drops learned task variances).
        let predicted = objective.predict(output);
        n_outputs = predicted.dims()[1];
        predictions.extend(read_vec(predicted)?);
    }
    data.decode_predictions(&mut predictions);
    let rows = data.len().max(1) as f64;
    let terms = term_sums.into_iter().map(|(k, v)| (k, v / rows)).collect();
    Ok(Evaluation { loss: loss_sum / rows, predictions, n_outputs, targets: data.all_targets(), terms })
}

pub(crate) fn read_scalar(t: Tensor<1>) -> Result<f64, TrainError> {
    Ok(read_vec(t)?.first().copied().unwrap_or(f32::NAN) as f64)
}

pub(crate) fn read_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, TrainError> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| TrainError::InvalidSetting(format!("reading a tensor back from the device failed: {e:?}")))
}

/// Progress output: an indicatif bar on a terminal, log lines otherwise.
struct Reporter {
    bar: Option<indicatif::ProgressBar>,
    log: bool,
}

impl Reporter {
    fn new(progress: Progress, plan: &Accounting, resumed_from: Option<usize>) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let (bar, log) = match progress {
            Progress::Silent => (false, false),
            Progress::Log => (false, true),
            Progress::Auto => (terminal, !terminal),
        };
        if bar || log {
            eprintln!("{plan}");
            if let Some(e) = resumed_from {
                eprintln!("resuming after epoch {e}");
            }
        }
        let bar = bar.then(|| {
            let pb = indicatif::ProgressBar::new(plan.iterations() as u64);
            pb.set_style(
                indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} it  {elapsed_precise}  {msg}")
                    .expect("static template is valid"),
            );
            pb.set_position((resumed_from.unwrap_or(0) * plan.iterations_per_epoch) as u64);
            pb
        });
        Self { bar, log }
    }

    fn tick(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    fn epoch(&self, r: &EpochRecord, epochs: usize) {
        let mut line = format!("epoch {}/{epochs}  train_loss {:.4}", r.epoch, r.train_loss);
        // Training metrics, the validation loss and at most three validation
        // metrics after it (the headline ones first), to keep one line.
        const FIRST: [&str; 5] = ["val_accuracy", "val_macro_f1", "val_r2", "val_rmse", "val_mae"];
        let train = r.metrics.iter().filter(|(k, _)| k.starts_with("train_"));
        let val_loss = r.metrics.get_key_value("val_loss");
        let headline = FIRST.iter().filter_map(|k| r.metrics.get_key_value(*k));
        // Then each task's headline (`val_<task>_accuracy`, `val_<task>_r2`) of a multi-task run.
        let mut others: Vec<_> = r
            .metrics
            .iter()
            .filter(|(k, _)| k.starts_with("val_") && !FIRST.contains(&k.as_str()) && *k != "val_loss")
            .collect();
        others.sort_by_key(|(k, _)| !(k.ends_with("_accuracy") || k.ends_with("_r2")));
        for (name, value) in train.chain(val_loss).chain(headline.chain(others).take(3)) {
            line += &format!("  {name} {value:.4}");
        }
        line += &format!("  lr {:.3e}", r.learning_rate);
        if let Some(bar) = &self.bar {
            bar.set_message(line);
        } else if self.log {
            eprintln!("{line}  ({:.2} s)", r.seconds);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

/// Whether `dir` holds a checkpoint a run can resume from.
pub fn has_checkpoint(dir: &Path) -> bool {
    Checkpoint::locate(dir).is_some()
}
