//! The training loop: seeded epochs of mini-batches, an explicit step with a
//! gradient hook, validation every epoch, early stopping and a metrics history.

use std::io::IsTerminal;
use std::time::Instant;

use anneal_data::{ClassificationData, LastBatch, SeededRng};
use anneal_evaluate::{ConfusionMatrix, confusion_matrix};
use anneal_models::Mlp;
use anneal_optim::Optimizer;
use anneal_regularize::{EarlyStopping, EarlyStoppingConfig, Verdict};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::TrainError;

/// A model the loop can train as a classifier: it maps a feature batch to logits.
pub trait Classifier: Module {
    /// Unnormalised class scores.
    ///
    /// # Shapes
    /// - `x`: `[batch, features]`
    /// - output: `[batch, classes]`
    fn logits(&self, x: Tensor<2>) -> Tensor<2>;
}

impl Classifier for Mlp {
    fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward(x)
    }
}

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
pub trait TrainHook {
    /// Before the first batch of `epoch` (1-based).
    fn on_epoch_start(&mut self, _epoch: usize) {}
    /// Between backward and the optimiser step: the place to inspect, rescale,
    /// all-reduce or replace the gradients.
    fn after_backward(&mut self, _step: &StepInfo, _grads: &mut GradientsParams) {}
    /// After the optimiser step of a batch.
    fn on_batch_end(&mut self, _step: &StepInfo) {}
    /// After validation at the end of an epoch.
    fn on_epoch_end(&mut self, _record: &EpochRecord) {}
}

/// A borrowed hook is a hook, so a caller can read its state after training.
impl<H: TrainHook + ?Sized> TrainHook for &mut H {
    fn on_epoch_start(&mut self, epoch: usize) {
        (**self).on_epoch_start(epoch)
    }
    fn after_backward(&mut self, step: &StepInfo, grads: &mut GradientsParams) {
        (**self).after_backward(step, grads)
    }
    fn on_batch_end(&mut self, step: &StepInfo) {
        (**self).on_batch_end(step)
    }
    fn on_epoch_end(&mut self, record: &EpochRecord) {
        (**self).on_epoch_end(record)
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

/// Training-loop settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Passes over the training data.
    pub epochs: usize,
    /// Rows per mini-batch.
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
}

impl TrainConfig {
    /// Checks the settings against the training set size.
    pub fn validate(&self, n_train: usize, has_validation: bool) -> Result<(), TrainError> {
        if self.epochs == 0 {
            return Err(TrainError::InvalidSetting("epochs must be at least 1".into()));
        }
        if self.batch_size == 0 {
            return Err(TrainError::InvalidSetting("batch_size must be at least 1".into()));
        }
        if n_train == 0 {
            return Err(TrainError::InvalidSetting("the training set is empty".into()));
        }
        if self.batch_size > n_train && self.last_batch == LastBatch::Drop {
            return Err(TrainError::InvalidSetting(format!(
                "batch_size {} is larger than the {n_train} training rows and last_batch = drop leaves no batch",
                self.batch_size
            )));
        }
        if let Some(es) = &self.early_stopping {
            es.validate()?;
            if !EpochRecord::METRICS.contains(&es.monitor.as_str()) {
                return Err(TrainError::UnknownMetric {
                    name: es.monitor.clone(),
                    available: EpochRecord::METRICS.join(", "),
                });
            }
            if es.monitor.starts_with("val_") && !has_validation {
                return Err(TrainError::InvalidSetting(format!(
                    "early stopping monitors `{}` but there is no validation set",
                    es.monitor
                )));
            }
        }
        Ok(())
    }

    /// The run's size in words: "245 samples, batch 16 → 16 iterations per epoch × 100 epochs = 1600 iterations".
    pub fn accounting(&self, n_train: usize) -> String {
        let per_epoch = iterations_per_epoch(n_train, self.batch_size, self.last_batch);
        format!(
            "{n_train} samples, batch {} → {per_epoch} iterations per epoch × {} epochs = {} iterations",
            self.batch_size,
            self.epochs,
            per_epoch * self.epochs
        )
    }
}

fn iterations_per_epoch(n: usize, batch: usize, last: LastBatch) -> usize {
    match last {
        LastBatch::Keep => n.div_ceil(batch.max(1)),
        LastBatch::Drop => n / batch.max(1),
    }
}

/// Metrics of one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (weighted by batch size).
    pub train_loss: f64,
    /// Validation loss, if there is a validation set.
    pub val_loss: Option<f64>,
    /// Validation accuracy.
    pub val_accuracy: Option<f64>,
    /// Validation macro-F1.
    pub val_macro_f1: Option<f64>,
    /// Learning rate used in the epoch.
    pub learning_rate: f64,
    /// Wall-clock seconds of the epoch, validation included.
    pub seconds: f64,
}

impl EpochRecord {
    /// Names of the metrics early stopping can monitor.
    pub const METRICS: [&'static str; 4] = ["train_loss", "val_loss", "val_accuracy", "val_macro_f1"];

    /// The value of a metric by name.
    pub fn metric(&self, name: &str) -> Option<f64> {
        match name {
            "train_loss" => Some(self.train_loss),
            "val_loss" => self.val_loss,
            "val_accuracy" => self.val_accuracy,
            "val_macro_f1" => self.val_macro_f1,
            _ => None,
        }
    }
}

/// The outcome of [`Trainer::fit`].
#[derive(Debug)]
pub struct Fitted<M> {
    /// The trained model (the best epoch's, when early stopping restores it).
    pub model: M,
    /// One record per completed epoch.
    pub history: Vec<EpochRecord>,
    /// The epoch whose weights `model` holds.
    pub best_epoch: usize,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
}

/// Predictions of a classifier over a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Mean cross-entropy loss.
    pub loss: f64,
    /// Predicted class per row.
    pub predictions: Vec<usize>,
    /// Row-major class probabilities, `rows × classes`.
    pub probabilities: Vec<f32>,
    /// Number of classes.
    pub n_classes: usize,
}

impl Evaluation {
    /// Accuracy, macro-F1 and the confusion matrix against `targets`.
    pub fn scores(&self, targets: &[usize]) -> Result<(f64, f64, ConfusionMatrix), TrainError> {
        let cm = confusion_matrix(targets, &self.predictions, self.n_classes)?;
        Ok((cm.accuracy(), cm.macro_f1(), cm))
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
/// let model = MlpConfig { input: 2, hidden: vec![8], output: 2, activation: Default::default(), dropout: 0.0 }.init(1, &device.clone().autodiff())?;
/// let mut optimizer = OptimizerConfig::adam(0.05).init()?;
/// let config = TrainConfig { epochs: 20, batch_size: 8, seed: 1, last_batch: Default::default(), early_stopping: None };
/// let fitted = Trainer::new(config, device.clone()).with_progress(Progress::Silent).fit(model, &mut optimizer, &data, Some(&data))?;
/// assert!(fitted.history.last().unwrap().val_accuracy.unwrap() > 0.95);
/// # Ok::<(), anneal_train::TrainError>(())
/// ```
pub struct Trainer<'h> {
    config: TrainConfig,
    device: Device,
    progress: Progress,
    hooks: Vec<Box<dyn TrainHook + 'h>>,
}

impl<'h> Trainer<'h> {
    /// A trainer for `config` on `device` (with or without autodiff: the loop adds it).
    pub fn new(config: TrainConfig, device: Device) -> Self {
        Self { config, device: device.without_autodiff(), progress: Progress::Auto, hooks: Vec::new() }
    }

    /// Sets how progress is reported.
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// Adds a hook; hooks run in the order they were added.
    pub fn with_hook(mut self, hook: impl TrainHook + 'h) -> Self {
        self.hooks.push(Box::new(hook));
        self
    }

    /// Trains `model` (built on this trainer's device with autodiff) with `optimizer`.
    pub fn fit<M: Classifier>(
        &mut self,
        model: M,
        optimizer: &mut Optimizer,
        train: &ClassificationData,
        valid: Option<&ClassificationData>,
    ) -> Result<Fitted<M>, TrainError> {
        let valid = valid.filter(|v| !v.is_empty());
        self.config.validate(train.len(), valid.is_some())?;
        let config = self.config.clone();
        let train_device = self.device.clone().autodiff();
        let mut model = model.fork(&train_device).train();
        let mut stopper = config.early_stopping.clone().map(EarlyStopping::new).transpose()?;
        let restore = config.early_stopping.as_ref().is_some_and(|e| e.restore_best);
        let mut best: Option<(usize, M)> = None;

        let reporter = Reporter::new(self.progress, &config, train.len());
        let mut history = Vec::with_capacity(config.epochs);
        let mut iteration = 0;
        let mut stopped_early = false;
        for epoch in 1..=config.epochs {
            let start = Instant::now();
            for hook in &mut self.hooks {
                hook.on_epoch_start(epoch);
            }
            let mut rng = SeededRng::derive(config.seed, 1_000 + epoch as u64);
            let batches = train.batch_indices(config.batch_size, Some(&mut rng), config.last_batch)?;
            let mut loss_sum = Tensor::<1>::zeros([1], &train_device.clone().without_autodiff());
            let mut seen = 0usize;
            for indices in &batches {
                iteration += 1;
                let (x, y) = train.batch(indices, &train_device);
                let step = StepInfo { epoch, iteration, batch_len: indices.len() };
                let loss;
                (model, loss) = train_step(model, optimizer, x, y, &step, &mut self.hooks);
                loss_sum = loss_sum + loss.mul_scalar(indices.len() as f64);
                seen += indices.len();
                for hook in &mut self.hooks {
                    hook.on_batch_end(&step);
                }
                reporter.tick();
            }
            let train_loss = read_scalar(loss_sum)? / seen as f64;
            if !train_loss.is_finite() {
                return Err(TrainError::Diverged { epoch, iteration, loss: train_loss });
            }
            let (val_loss, val_accuracy, val_macro_f1) = match valid {
                Some(v) => {
                    let eval = evaluate(&model, v, &self.device, 1024)?;
                    let (acc, f1, _) = eval.scores(&v.targets())?;
                    (Some(eval.loss), Some(acc), Some(f1))
                }
                None => (None, None, None),
            };
            let record = EpochRecord {
                epoch,
                train_loss,
                val_loss,
                val_accuracy,
                val_macro_f1,
                learning_rate: optimizer.learning_rate(),
                seconds: start.elapsed().as_secs_f64(),
            };
            reporter.epoch(&record, config.epochs);
            for hook in &mut self.hooks {
                hook.on_epoch_end(&record);
            }
            let verdict = stopper.as_mut().map(|s| {
                let value = record.metric(&s.config().monitor).unwrap_or(f64::NAN);
                s.update(epoch, value)
            });
            history.push(record);
            match verdict {
                Some(Verdict::Improved) if restore => best = Some((epoch, model.clone())),
                Some(Verdict::Stop) => {
                    stopped_early = true;
                    break;
                }
                _ => {}
            }
        }
        reporter.finish();
        let last_epoch = history.len();
        let (best_epoch, model) = match best {
            Some((epoch, m)) => (epoch, m),
            None => (last_epoch, model),
        };
        Ok(Fitted { model, history, best_epoch, stopped_early })
    }
}

/// One optimisation step: forward → loss → backward → gradients → hooks → optimiser
/// step. Returns the updated model and the batch's mean loss (detached, on the
/// inner device).
///
/// `x` and `y` must be on the model's autodiff device.
pub fn train_step<M: Classifier>(
    model: M,
    optimizer: &mut Optimizer,
    x: Tensor<2>,
    y: Tensor<1, Int>,
    step: &StepInfo,
    hooks: &mut [Box<dyn TrainHook + '_>],
) -> (M, Tensor<1>) {
    let logits = model.logits(x);
    let loss = CrossEntropyLossConfig::new().init(&logits.device()).forward(logits, y);
    let value = loss.clone().detach().without_autodiff();
    let mut grads = GradientsParams::from_grads(loss.backward(), &model);
    for hook in hooks.iter_mut() {
        hook.after_backward(step, &mut grads);
    }
    (optimizer.step(model, grads), value)
}

/// Predicts every row of `data` in batches of `batch_size` on `device` (no autodiff).
pub fn evaluate<M: Classifier>(
    model: &M,
    data: &ClassificationData,
    device: &Device,
    batch_size: usize,
) -> Result<Evaluation, TrainError> {
    let device = device.clone().without_autodiff();
    let model = model.valid().fork(&device);
    let mut loss_sum = 0.0;
    let mut predictions = Vec::with_capacity(data.len());
    let mut probabilities = Vec::new();
    let mut n_classes = 0;
    let indices = data.batch_indices(batch_size.max(1), None, LastBatch::Keep)?;
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    for idx in &indices {
        let (x, y) = data.batch(idx, &device);
        let logits = model.logits(x);
        n_classes = logits.dims()[1];
        loss_sum += read_scalar(loss_fn.forward(logits.clone(), y))? * idx.len() as f64;
        let probs = burn::tensor::activation::softmax(logits, 1);
        let values = read_vec(probs)?;
        for row in values.chunks(n_classes) {
            // First maximum wins, as numpy's argmax.
            let (arg, _) = row
                .iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |acc, (i, &p)| if p > acc.1 { (i, p) } else { acc });
            predictions.push(arg);
        }
        probabilities.extend(values);
    }
    Ok(Evaluation { loss: loss_sum / data.len().max(1) as f64, predictions, probabilities, n_classes })
}

fn read_scalar(t: Tensor<1>) -> Result<f64, TrainError> {
    Ok(read_vec(t)?.first().copied().unwrap_or(f32::NAN) as f64)
}

fn read_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, TrainError> {
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
    fn new(progress: Progress, config: &TrainConfig, n_train: usize) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let (bar, log) = match progress {
            Progress::Silent => (false, false),
            Progress::Log => (false, true),
            Progress::Auto => (terminal, !terminal),
        };
        if bar || log {
            eprintln!("{}", config.accounting(n_train));
        }
        let bar = bar.then(|| {
            let total = iterations_per_epoch(n_train, config.batch_size, config.last_batch) * config.epochs;
            let pb = indicatif::ProgressBar::new(total as u64);
            pb.set_style(
                indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} it  {elapsed_precise}  {msg}")
                    .expect("static template is valid"),
            );
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
        if let (Some(l), Some(a), Some(f)) = (r.val_loss, r.val_accuracy, r.val_macro_f1) {
            line += &format!("  val_loss {l:.4}  val_accuracy {a:.4}  val_macro_f1 {f:.4}");
        }
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
