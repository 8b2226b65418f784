//! Pipeline model parallelism (GPipe, Huang et al. 2019,
//! <https://arxiv.org/abs/1811.06965>): the model's units cut into stages
//! ([`anneal_models::pipeline`]), one per rank of a [`Collective`] (a thread of
//! this process or an MPI process), each holding and updating only its own
//! parameters.
//!
//! Every global batch is cut into `M` micro-batches of consecutive rows. Each
//! stage runs the forward pass of every micro-batch in turn, receiving the
//! activations of the stage before and sending its own to the stage after;
//! the last stage computes each micro-batch's loss (weighted by its share of
//! the batch's rows). Then the backward passes run in reverse order, each stage
//! receiving the gradient of its outputs, back-propagating it through its units
//! and sending the gradient of its inputs back. Parameter gradients are summed
//! over the micro-batches, and every stage takes one optimiser step: the same
//! update as one device on the whole batch (without batch norm, whose
//! statistics are per micro-batch here; without dropout, whose masks differ).
//!
//! While the first micro-batch travels forward and the last travels back some
//! stages wait: the pipeline's bubble, in theory `(S − 1) / (M + S − 1)` of
//! each step for `S` equal stages. [`StageStats`] measures it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use anneal_data::dataset::{SequentialBatches, ShuffledBatches};
use anneal_data::{BatchSampler, Dataset, LastBatch, Sharded, Target, Targets};
use anneal_models::AnyModel;
use anneal_models::pipeline::{Flow, Split, Stage, split_at, stage_ranges, unit_params};
use anneal_optim::{Optimizer, Scheduler};
use anneal_regularize::{EarlyStopping, Verdict};
use anneal_train::{
    BuiltinMetric, EpochRecord, Evaluation, Metric, Objective, ParamLayout, Progress, StepInfo, TrainConfig,
    TrainError, TrainHook,
};
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::collective::Collective;
use crate::error::{DistError, Result};
use crate::sync::{GradientSync, broadcast_f64};

/// The pipeline's shape: `[distributed] pipeline = { stages = 2, micro_batches = 4 }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Stages the model is cut into, one per thread or MPI rank (at least 2).
    pub stages: usize,
    /// Micro-batches per global batch (at least 1; `M` of the bubble's `(S − 1) / (M + S − 1)`).
    #[serde(default = "one")]
    pub micro_batches: usize,
    /// Where the model is cut: `"balanced"` (by parameter count, the default),
    /// `"time"` (by each unit's training time, measured on a batch when the
    /// run starts), or `{ at = [k, ...] }`, the unit each stage after the
    /// first starts at.
    #[serde(default)]
    pub split: anneal_models::pipeline::Split,
}

fn one() -> usize {
    1
}

impl PipelineConfig {
    /// Checks the numbers.
    pub fn validate(&self) -> Result<()> {
        if self.stages < 2 {
            return Err(DistError::InvalidSetting(format!(
                "pipeline stages = {}: a pipeline has at least 2 stages",
                self.stages
            )));
        }
        if self.micro_batches == 0 {
            return Err(DistError::InvalidSetting("pipeline micro_batches = 0: at least 1".into()));
        }
        Ok(())
    }
}

/// What one stage measured over a run: the pipeline's bubble and its memory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageStats {
    /// The stage (its rank).
    pub stage: usize,
    /// Optimiser steps taken.
    pub steps: usize,
    /// Seconds inside the steps (forward, backward, update, and the waits).
    pub step_seconds: f64,
    /// Seconds of those spent waiting for another stage's activations or gradients.
    pub wait_seconds: f64,
    /// Parameters the stage holds.
    pub parameters: usize,
    /// The largest sum over one step's micro-batches of the activations this
    /// stage kept for its backward passes at its two ends (its input, when it
    /// has a gradient, and its output), in values: what crosses between stages.
    pub boundary_values: usize,
}

impl StageStats {
    /// The share of the step time this stage waited: its bubble.
    pub fn bubble(&self) -> f64 {
        if self.step_seconds > 0.0 { self.wait_seconds / self.step_seconds } else { 0.0 }
    }
}

/// The bubble of `stages` equal stages and `micro_batches` micro-batches in
/// GPipe's schedule: `(S − 1) / (M + S − 1)`.
pub fn theoretical_bubble(stages: usize, micro_batches: usize) -> f64 {
    (stages.saturating_sub(1)) as f64 / (micro_batches + stages).saturating_sub(1).max(1) as f64
}

/// One stage of a GPipe pipeline over a [`Collective`] whose rank is the stage.
pub struct GPipe<C> {
    collective: C,
    /// `None` only while the optimiser updates it.
    stage: Option<Stage>,
    micro_batches: usize,
    stats: StageStats,
    /// When the step under way began (its gradients), until its update.
    step_started: Option<Instant>,
}

impl<C> std::fmt::Debug for GPipe<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GPipe").field("micro_batches", &self.micro_batches).field("stats", &self.stats).finish()
    }
}

/// What a stage's backward passes produced for one global batch.
#[derive(Debug)]
pub struct BatchGradients {
    /// The stage's parameter gradients, summed over the micro-batches.
    pub grads: GradientsParams,
    /// The batch's mean loss (the last stage; `None` elsewhere).
    pub loss: Option<f64>,
    /// Rows the last stage classified correctly (class targets).
    pub correct: Option<usize>,
}

/// Activations are sent as `[dimensions, shape…, values…]` in one message.
fn encode(data: TensorData) -> Result<Vec<f32>> {
    let shape = data.shape().to_vec();
    if shape.iter().any(|&d| d > 1 << 24) {
        return Err(DistError::InvalidSetting(format!("an activation of shape {shape:?} is too large to send")));
    }
    let values = data
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| DistError::InvalidSetting(format!("reading an activation back failed: {e:?}")))?;
    let mut out = Vec::with_capacity(1 + shape.len() + values.len());
    out.push(shape.len() as f32);
    out.extend(shape.iter().map(|&d| d as f32));
    out.extend(values);
    Ok(out)
}

fn decode(message: Vec<f32>, device: &Device, from: usize) -> Result<Flow> {
    let bad = || DistError::InvalidSetting(format!("stage {from} sent a malformed activation"));
    let rank = *message.first().ok_or_else(bad)? as usize;
    let shape: Vec<usize> = message.get(1..=rank).ok_or_else(bad)?.iter().map(|&d| d as usize).collect();
    let values = message[1 + rank..].to_vec();
    if values.len() != shape.iter().product::<usize>() {
        return Err(bad());
    }
    Flow::from_data(TensorData::new(values, shape), device).map_err(|e| DistError::InvalidSetting(e.to_string()))
}

fn train_error(e: impl std::fmt::Display) -> TrainError {
    TrainError::InvalidSetting(e.to_string())
}

fn scalar(t: Tensor<1>) -> Result<f64, TrainError> {
    let v = t.into_data().convert::<f32>().try_into_vec::<f32>().map_err(|e| train_error(format!("{e:?}")))?;
    Ok(v.first().copied().map_or(f64::NAN, f64::from))
}

/// The micro-batches of `rows`: `m` runs of consecutive rows as even as can
/// be (none empty; fewer when the batch has fewer rows).
pub fn micro_batches(rows: &[usize], m: usize) -> Vec<&[usize]> {
    let n = rows.len();
    let m = m.min(n).max(1);
    (0..m).map(|j| &rows[n * j / m..n * (j + 1) / m]).filter(|r| !r.is_empty()).collect()
}

impl<C: Collective> GPipe<C> {
    /// Stage `collective.rank()` of `collective.world()`, holding `stage`.
    pub fn new(collective: C, stage: Stage, micro_batches: usize) -> Result<Self> {
        if micro_batches == 0 {
            return Err(DistError::InvalidSetting("pipeline micro_batches = 0: at least 1".into()));
        }
        let stats = StageStats { stage: collective.rank(), parameters: stage.num_params(), ..StageStats::default() };
        Ok(Self { collective, stage: Some(stage), micro_batches, stats, step_started: None })
    }

    fn first(&self) -> bool {
        self.collective.rank() == 0
    }

    fn last(&self) -> bool {
        self.collective.rank() + 1 == self.collective.world()
    }

    /// The stage this rank holds.
    pub fn stage(&self) -> std::result::Result<&Stage, TrainError> {
        self.stage.as_ref().ok_or_else(|| train_error("the stage was lost in a failed update"))
    }

    /// What the stage measured so far.
    pub fn stats(&self) -> &StageStats {
        &self.stats
    }

    /// The stage, the collective and the measurements, for what follows.
    pub fn into_parts(self) -> std::result::Result<(Stage, C, StageStats), TrainError> {
        let stage = self.stage.ok_or_else(|| train_error("the stage was lost in a failed update"))?;
        Ok((stage, self.collective, self.stats))
    }

    fn recv(&mut self, from: usize, device: &Device) -> Result<Flow> {
        let start = Instant::now();
        let message = self.collective.recv(from)?;
        self.stats.wait_seconds += start.elapsed().as_secs_f64();
        decode(message, device, from)
    }

    /// Forward and backward passes of the global batch `rows` of `data` (on the
    /// autodiff `device`), GPipe's schedule: the stage's parameter gradients
    /// summed over the micro-batches, each micro-batch's loss weighted by its
    /// share of the rows, so that they equal the whole batch's.
    pub fn gradients<D>(
        &mut self,
        data: &D,
        rows: &[usize],
        epoch: usize,
        objective: &dyn Objective,
        device: &Device,
    ) -> std::result::Result<BatchGradients, TrainError>
    where
        D: Dataset<Input = Tensor<2>>,
    {
        self.step_started = Some(Instant::now());
        let rank = self.collective.rank();
        let parts = micro_batches(rows, self.micro_batches);
        let total = rows.len().max(1) as f64;
        // What each micro-batch's backward pass needs: the stage's input leaf
        // (None on the first stage) and its output, or the weighted loss.
        let mut kept: Vec<(Option<Flow>, Flow, Option<Tensor<1>>)> = Vec::with_capacity(parts.len());
        let (mut loss_sum, mut correct) = (0.0, None::<usize>);
        let mut boundary = 0usize;
        for part in &parts {
            let batch = data.train_batch(part, epoch, device)?;
            let input = if self.first() {
                None
            } else {
                Some(self.recv(rank - 1, device).map_err(train_error)?.require_grad())
            };
            let flow = input.clone().unwrap_or_else(|| Flow::Rows(batch.input.clone()));
            boundary += input.as_ref().map_or(0, |f| f.dims().iter().product());
            let out = self.stage()?.forward(&batch.input, flow);
            boundary += out.dims().iter().product::<usize>();
            if self.last() {
                let Flow::Rows(output) = out.clone() else {
                    return Err(train_error("the last pipeline stage returned feature maps, not outputs"));
                };
                if let Target::Classes(y) = &batch.target {
                    let predicted = output.clone().inner().argmax(1).flatten::<1>(0, 1);
                    let right = predicted.equal(y.clone().inner()).int().sum().into_data();
                    let right =
                        right.convert::<i64>().try_into_vec::<i64>().map_err(|e| train_error(format!("{e:?}")))?;
                    *correct.get_or_insert(0) += right.first().copied().unwrap_or(0).max(0) as usize;
                }
                let terms = objective.terms(output, &batch.target)?;
                let loss = anneal_train::objective::total(&terms)?.mul_scalar(part.len() as f64 / total);
                loss_sum += scalar(loss.clone().detach().inner())?;
                kept.push((input, out, Some(loss)));
            } else {
                let message = encode(out.clone().into_data()).map_err(train_error)?;
                self.collective.send(rank + 1, &message).map_err(train_error)?;
                kept.push((input, out, None));
            }
        }
        self.stats.boundary_values = self.stats.boundary_values.max(boundary);
        let mut accumulator = GradientsAccumulator::<Stage>::new();
        for (input, out, loss) in kept.into_iter().rev() {
            let grads = match loss {
                Some(loss) => loss.backward(),
                None => {
                    let upstream = self.recv(rank + 1, device).map_err(train_error)?;
                    out.dot(upstream).map_err(train_error)?.backward()
                }
            };
            if let Some(input) = input {
                let grad = match input.grad(&grads) {
                    Some(g) => g,
                    // Nothing of this micro-batch depended on the input (a text of padding alone).
                    None => TensorData::new(vec![0.0f32; input.dims().iter().product()], input.dims()),
                };
                let message = encode(grad).map_err(train_error)?;
                self.collective.send(rank - 1, &message).map_err(train_error)?;
            }
            let stage = self.stage()?;
            accumulator.accumulate(stage, GradientsParams::from_grads(grads, stage));
        }
        let loss = self.last().then_some(loss_sum);
        Ok(BatchGradients { grads: accumulator.grads(), loss, correct })
    }

    /// `optimizer`'s update of this stage with `grads` (what
    /// [`gradients`](Self::gradients) returned, all-reduced across replicas in
    /// a grid); ends the step whose time [`StageStats`] counts.
    pub fn update(&mut self, optimizer: &mut Optimizer, grads: GradientsParams) -> std::result::Result<(), TrainError> {
        let stage = self.stage.take().ok_or_else(|| train_error("the stage was lost in a failed update"))?;
        self.stage = Some(optimizer.step(stage, grads));
        self.stats.steps += 1;
        if let Some(start) = self.step_started.take() {
            self.stats.step_seconds += start.elapsed().as_secs_f64();
        }
        Ok(())
    }

    /// The outputs for every row of `data` in batches of `batch_size`, through
    /// the stages without autodiff: the last stage returns the objective's mean
    /// loss and the predictions ([`anneal_train::evaluate`]'s `Evaluation`);
    /// the others `None`.
    pub fn evaluate<D>(
        &mut self,
        data: &D,
        objective: &dyn Objective,
        device: &Device,
        batch_size: usize,
    ) -> std::result::Result<Option<Evaluation>, TrainError>
    where
        D: Dataset<Input = Tensor<2>>,
    {
        let rank = self.collective.rank();
        let device = device.clone().without_autodiff();
        let stage = self.stage()?.valid().fork(&device);
        let batches =
            SequentialBatches { batch_size: batch_size.max(1), last: LastBatch::Keep }.batches(data.len(), 0)?;
        let (mut loss_sum, mut predictions, mut n_outputs) = (0.0, Vec::new(), 0);
        for rows in &batches {
            let batch = data.batch(rows, &device);
            let flow = if self.first() {
                Flow::Rows(batch.input.clone())
            } else {
                decode(self.collective.recv(rank - 1).map_err(train_error)?, &device, rank - 1).map_err(train_error)?
            };
            let out = stage.forward(&batch.input, flow);
            if !self.last() {
                self.collective.send(rank + 1, &encode(out.into_data()).map_err(train_error)?).map_err(train_error)?;
                continue;
            }
            let Flow::Rows(output) = out else {
                return Err(train_error("the last pipeline stage returned feature maps, not outputs"));
            };
            let terms = objective.terms(output.clone(), &batch.target)?;
            loss_sum += scalar(anneal_train::objective::total(&terms)?)? * rows.len() as f64;
            let predicted = objective.predict(output);
            n_outputs = predicted.dims()[1];
            predictions.extend(
                predicted
                    .into_data()
                    .convert::<f32>()
                    .try_into_vec::<f32>()
                    .map_err(|e| train_error(format!("{e:?}")))?,
            );
        }
        if !self.last() {
            return Ok(None);
        }
        data.decode_predictions(&mut predictions);
        Ok(Some(Evaluation {
            loss: loss_sum / data.len().max(1) as f64,
            predictions,
            n_outputs,
            targets: data.all_targets(),
            terms: BTreeMap::new(),
        }))
    }
}

/// Everything a stage needs to train besides its pipeline.
pub struct StageJob<'a, D> {
    /// The loop's settings (epochs, global batch, seed, schedule).
    pub config: &'a TrainConfig,
    /// The objective.
    pub objective: Arc<dyn Objective>,
    /// The training rows.
    pub train: &'a D,
    /// The validation rows (`val_*` metrics each epoch).
    pub valid: Option<&'a D>,
    /// The device the stage trains on (without autodiff; the stage adds it).
    pub device: Device,
    /// Progress lines from the first stage (`Progress::Silent`: none).
    pub progress: Progress,
}

impl<D> std::fmt::Debug for StageJob<'_, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageJob").field("config", &self.config).finish_non_exhaustive()
    }
}

/// A trained stage.
#[derive(Debug)]
pub struct TrainedStage<C> {
    /// The stage with its trained parameters.
    pub stage: Stage,
    /// One record per epoch, the same on every stage (the last stage computes
    /// the losses and metrics and sends them to the others).
    pub history: Vec<EpochRecord>,
    /// What the stage measured.
    pub stats: StageStats,
    /// The collective, for what follows (gathering the stages).
    pub collective: C,
    /// The epoch after which a hook ended the run.
    pub stopped_by_hook: Option<usize>,
    /// The epoch whose weights `stage` holds (the best one, when early
    /// stopping restores it).
    pub best_epoch: usize,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
}

/// The settings of `config` a pipeline does not implement, named.
/// (`checkpoint_every` is not among them, but a pipelined run writes no
/// checkpoints: it cannot be resumed.)
pub fn unsupported(config: &TrainConfig) -> Option<&'static str> {
    if config.gradient_clipping.is_some() {
        Some("gradient_clipping")
    } else if config.accumulation > 1 {
        Some("accumulation (the pipeline's micro-batches already accumulate)")
    } else if config.regularization != Default::default() {
        Some("[regularization] l1/l2 (an optimiser's weight_decay works)")
    } else if !config.param_groups.is_empty() {
        Some("param_groups")
    } else if config.gradient_surgery.is_some() {
        Some("gradient_surgery")
    } else if config.log_gradient_norms {
        Some("log_gradient_norms")
    } else if config.schedule.as_ref().is_some_and(|s| s.schedule.is_metric_driven()) {
        Some("a metric-driven schedule (reduce_on_plateau)")
    } else {
        None
    }
}

/// Trains this rank's stage: `job.config.epochs` epochs of the global batches
/// of a shuffled sampler (the same on every stage), GPipe's schedule for each,
/// one `optimizer` step per batch on this stage's parameters. The last stage
/// computes each epoch's training loss (and accuracy), evaluates the
/// validation rows through the pipeline, and broadcasts the record; early
/// stopping then decides alike on every stage (each keeps its own best
/// weights when they are restored).
///
/// `hooks` run on rank 0: `on_train_start`, `on_epoch_start`, `on_epoch_end`
/// with the agreed record, and `stop_requested`, which ends every stage after
/// that epoch (a pruned trial); the per-batch and gradient hooks do not run
/// (no rank holds the whole model's gradients).
///
/// `replicas`: in a grid of pipelines × data-parallel replicas, this stage's
/// group across the replicas (the same stage of every pipeline). Each
/// pipeline then trains on its share of every global batch, this stage's
/// gradients are averaged across the group before every update (weighted by
/// rows), and the epoch's record is agreed across it as data-parallel
/// replicas agree theirs; the first replica's hooks decide a stop for all.
pub fn fit_stage<C: Collective, D>(
    collective: C,
    stage: Stage,
    micro_batches: usize,
    optimizer: &mut Optimizer,
    job: &StageJob<'_, D>,
    mut hooks: Vec<&mut (dyn TrainHook + Send)>,
    replicas: Option<&mut (dyn Collective + Send)>,
) -> std::result::Result<TrainedStage<C>, TrainError>
where
    D: Dataset<Input = Tensor<2>>,
{
    let config = job.config;
    if let Some(name) = unsupported(config) {
        return Err(TrainError::InvalidSetting(format!("{name} is not supported in a pipelined run")));
    }
    let world = collective.world();
    let rank = collective.rank();
    let full_batch = optimizer.config().is_full_batch();
    let global = ShuffledBatches {
        batch_size: if full_batch { job.train.len() } else { config.batch_size },
        seed: config.seed,
        last: if full_batch { LastBatch::Keep } else { config.last_batch },
    };
    let (replica, n_replicas) = replicas.as_ref().map_or((0, 1), |r| (r.rank(), r.world()));
    let sampler = Sharded::new(global, replica, n_replicas)?;
    let mut sync = replicas.map(GradientSync::new);
    let plan = config.plan(job.train.len(), full_batch);
    let mut scheduler: Option<(anneal_optim::ScheduleUnit, Scheduler)> = match &config.schedule {
        Some(s) => {
            let total = s.unit.total_steps(config.epochs, plan.updates_per_epoch());
            Some((s.unit, s.schedule.build(optimizer.config().learning_rate(), total)?))
        }
        None => None,
    };
    let device = job.device.clone().autodiff();
    let stage = stage.fork(&device).train();
    if let Some(s) = sync.as_mut() {
        s.on_layout(&ParamLayout::of(&stage));
    }
    let mut pipe = GPipe::new(collective, stage, micro_batches).map_err(train_error)?;
    let classes = matches!(job.train.all_targets(), Targets::Classes(_));
    let metrics: Vec<BuiltinMetric> = match job.valid {
        Some(v) => BuiltinMetric::defaults_for(&v.all_targets()).to_vec(),
        None => Vec::new(),
    };
    let has_valid = job.valid.is_some_and(|v| !v.is_empty());
    let mut stopper = match &config.early_stopping {
        Some(es) => {
            let mut known = vec![("train_loss".to_string(), false)];
            if classes {
                known.push(("train_accuracy".into(), true));
            }
            if has_valid {
                known.push(("val_loss".into(), false));
                known.extend(metrics.iter().map(|m| (format!("val_{}", m.name()), m.higher_is_better())));
            }
            anneal_train::check_monitor(es, &known)?;
            Some(EarlyStopping::new(es.clone())?)
        }
        None => None,
    };
    let restore = config.early_stopping.as_ref().is_some_and(|e| e.restore_best);
    let mut best: Option<(usize, Stage)> = None;
    let mut stopped_early = false;
    let log = rank == 0 && job.progress != Progress::Silent;
    if log {
        eprintln!("{plan}; pipeline of {world} stages × {micro_batches} micro-batches");
    }
    let mut history = Vec::with_capacity(config.epochs);
    let mut reference = None;
    let mut stopped_by_hook = None;
    let mut iteration = 0usize;
    for hook in &mut hooks {
        hook.on_train_start(&plan, &[]);
    }
    for epoch in 1..=config.epochs {
        let start = Instant::now();
        for hook in &mut hooks {
            hook.on_epoch_start(epoch);
        }
        if let Some((anneal_optim::ScheduleUnit::Epoch, s)) = &scheduler {
            optimizer.set_learning_rate(s.lr());
        }
        if let Some(s) = sync.as_mut() {
            s.on_epoch_start(epoch);
        }
        let (mut loss_sum, mut correct, mut rows_seen) = (0.0, 0usize, 0usize);
        for rows in sampler.batches(job.train.len(), epoch)? {
            iteration += 1;
            if let Some((anneal_optim::ScheduleUnit::Iteration, s)) = &scheduler {
                optimizer.set_learning_rate(s.lr());
            }
            let info = StepInfo { epoch, iteration, batch_len: rows.len() };
            let mut out = pipe.gradients(job.train, &rows, epoch, job.objective.as_ref(), &device)?;
            let mut grads = std::mem::replace(&mut out.grads, GradientsParams::new());
            if let Some(s) = sync.as_mut() {
                s.on_batch_start(&info);
                s.after_backward(&info, &mut grads);
                if let Some(reason) = s.failure() {
                    return Err(TrainError::Aborted { epoch, iteration, reason, last_checkpoint: None });
                }
            }
            pipe.update(optimizer, grads)?;
            if let Some(loss) = out.loss {
                let reference = *reference.get_or_insert(loss);
                if !loss.is_finite() || loss > 1e4 * f64::max(1.0, f64::abs(reference)) {
                    return Err(TrainError::InvalidSetting(format!(
                        "the loss diverged in epoch {epoch} ({loss}); lower the learning rate"
                    )));
                }
                loss_sum += loss * rows.len() as f64;
            }
            correct += out.correct.unwrap_or(0);
            rows_seen += rows.len();
            if let Some((anneal_optim::ScheduleUnit::Iteration, s)) = &mut scheduler {
                s.step();
            }
        }
        if let Some((anneal_optim::ScheduleUnit::Epoch, s)) = &mut scheduler {
            s.step();
        }
        // The last stage knows the epoch's numbers: [loss, accuracy, val_loss, val metrics…].
        let mut numbers = vec![0.0f64; 3 + metrics.len()];
        let evaluation = match job.valid.filter(|v| !v.is_empty()) {
            Some(v) => pipe.evaluate(v, job.objective.as_ref(), &device, config.batch_size.max(256))?,
            None => None,
        };
        if pipe.last() {
            numbers[0] = loss_sum / rows_seen.max(1) as f64;
            numbers[1] = correct as f64 / rows_seen.max(1) as f64;
            if let Some(e) = &evaluation {
                numbers[2] = e.loss;
                for (i, m) in metrics.iter().enumerate() {
                    numbers[3 + i] = e.metric(m)?.unwrap_or(f64::NAN);
                }
            }
        }
        let numbers = broadcast_f64(&mut pipe.collective, &numbers, world - 1).map_err(train_error)?;
        let mut record = EpochRecord {
            epoch,
            train_loss: numbers[0],
            learning_rate: optimizer.learning_rate(),
            seconds: start.elapsed().as_secs_f64(),
            gradient_norms: None,
            metrics: BTreeMap::new(),
        };
        if classes {
            record.metrics.insert("train_accuracy".into(), numbers[1]);
        }
        if job.valid.is_some_and(|v| !v.is_empty()) {
            record.metrics.insert("val_loss".into(), numbers[2]);
            for (i, m) in metrics.iter().enumerate() {
                record.metrics.insert(format!("val_{}", m.name()), numbers[3 + i]);
            }
        }
        // A grid: the same stage of every pipeline agrees on the record (training
        // numbers over every replica's rows, the first replica's validation).
        if let Some(s) = sync.as_mut() {
            s.reduce_record(&mut record);
            if let Some(reason) = s.failure() {
                return Err(TrainError::Aborted { epoch, iteration, reason, last_checkpoint: None });
            }
        }
        if log {
            let val = record.metrics.get("val_loss").map(|v| format!("  val_loss {v:.4}")).unwrap_or_default();
            eprintln!(
                "epoch {epoch}/{}  train_loss {:.4}{val}  {:.1} s",
                config.epochs, record.train_loss, record.seconds
            );
        }
        for hook in &mut hooks {
            hook.on_epoch_end(&record);
        }
        // Every stage holds the same record, so every stage reaches the same verdict.
        let verdict = stopper.as_mut().map(|s| s.update(epoch, record.metric(&s.config().monitor).unwrap_or(f64::NAN)));
        history.push(record);
        match verdict {
            Some(Verdict::Improved) if restore => best = Some((epoch, pipe.stage()?.clone())),
            Some(Verdict::Stop) => stopped_early = true,
            _ => {}
        }
        // Rank 0's hooks may end the run (anneal tune's pruner): every stage stops after this epoch.
        let stop = if hooks.iter().any(|h| h.stop_requested()) { 1.0 } else { 0.0 };
        let mut stop = broadcast_f64(&mut pipe.collective, &[stop], 0).map_err(train_error)?;
        if let Some(s) = sync.as_mut() {
            // The first replica's stop (its first stage ran the hooks) for every replica.
            stop = broadcast_f64(s.collective_mut(), &stop, 0).map_err(train_error)?;
        }
        if stop.first().is_some_and(|&s| s > 0.0) && epoch < config.epochs {
            stopped_by_hook = Some(epoch);
            break;
        }
        if stopped_early {
            break;
        }
    }
    for hook in &mut hooks {
        hook.on_train_end(&history);
    }
    let (stage, collective, stats) = pipe.into_parts()?;
    let (best_epoch, stage) = best.unwrap_or((history.len(), stage));
    Ok(TrainedStage { stage: stage.valid(), history, stats, collective, stopped_by_hook, best_epoch, stopped_early })
}

/// Each unit's training time on `input` (a batch as the model reads it, on
/// the autodiff device `model` is on): the forward pass of every unit in turn
/// (reading its output back, as a stage does to send it) and the backward pass
/// through it, in seconds, the median of three passes after a warm-up. What
/// [`Split::Time`] balances.
pub fn unit_times(model: &AnyModel, input: &Tensor<2>) -> std::result::Result<Vec<f64>, TrainError> {
    let device = input.device();
    let n = unit_params(model).len();
    let ranges: Vec<std::ops::Range<usize>> = (0..n).map(|i| i..i + 1).collect();
    let units = split_at(model.clone(), &ranges).map_err(train_error)?;
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); n];
    for pass in 0..4 {
        let mut flow = Flow::Rows(input.clone());
        for (i, unit) in units.iter().enumerate() {
            let leaf = if i == 0 { flow } else { flow.require_grad() };
            let start = Instant::now();
            let out = unit.forward(input, leaf);
            let data = out.clone().into_data();
            let signal = Flow::from_data(data.clone(), &device).map_err(train_error)?;
            drop(out.dot(signal).map_err(train_error)?.backward());
            if pass > 0 {
                times[i].push(start.elapsed().as_secs_f64());
            }
            flow = Flow::from_data(data, &device).map_err(train_error)?;
        }
    }
    Ok(times
        .into_iter()
        .map(|mut t| {
            t.sort_by(f64::total_cmp);
            t[t.len() / 2]
        })
        .collect())
}

/// The unit ranges of `config`'s stages for `model`: by parameters, at the
/// given cuts, or (`split = "time"`) by the times [`unit_times`] measures on
/// `sample` (a batch on `model`'s autodiff device), which `collective`'s rank
/// 0 measures and sends to the others so that every rank cuts alike. Returns
/// the ranges and the weights they balance (parameters, or seconds).
pub fn plan<C: Collective>(
    model: &AnyModel,
    config: &PipelineConfig,
    sample: impl FnOnce() -> std::result::Result<Tensor<2>, TrainError>,
    collective: Option<&mut C>,
) -> std::result::Result<(Vec<std::ops::Range<usize>>, Vec<f64>), TrainError> {
    let (integer, weights): (Vec<usize>, Vec<f64>) = match config.split {
        Split::Time => {
            let mut times = unit_times(model, &sample()?)?;
            if let Some(c) = collective {
                times = broadcast_f64(c, &times, 0).map_err(train_error)?;
            }
            // Microseconds (at least 1) as the integer weights of the balanced cut.
            (times.iter().map(|t| ((t * 1e6).round() as usize).max(1)).collect(), times)
        }
        _ => {
            let params = unit_params(model);
            let weights = params.iter().map(|&p| p as f64).collect();
            (params, weights)
        }
    };
    let ranges = stage_ranges(&integer, &config.split, config.stages).map_err(train_error)?;
    Ok((ranges, weights))
}

/// Every stage's parameters as one list of values, in the stage's own order
/// (what [`gather_stages`] sends to rank 0).
fn flatten_params(stage: &Stage) -> Vec<f32> {
    struct Collect(Vec<f32>);
    impl burn::module::ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            if let Ok(v) = param.val().into_data().convert::<f32>().try_into_vec::<f32>() {
                self.0.extend(v);
            }
        }
    }
    let mut c = Collect(Vec::new());
    stage.visit(&mut c);
    c.0
}

/// Loads values [`flatten_params`] wrote into `stage` (the same units).
fn load_params(stage: Stage, values: &[f32]) -> Result<Stage> {
    struct Load<'a> {
        values: &'a [f32],
        at: usize,
        short: bool,
    }
    impl burn::module::ModuleMapper for Load<'_> {
        fn map_float<const D: usize>(
            &mut self,
            param: burn::module::Param<Tensor<D>>,
        ) -> burn::module::Param<Tensor<D>> {
            let (id, tensor, mapper) = param.consume();
            let shape = tensor.shape();
            let n = shape.num_elements();
            let Some(values) = self.values.get(self.at..self.at + n) else {
                self.short = true;
                return burn::module::Param::from_mapped_value(id, tensor, mapper);
            };
            self.at += n;
            let loaded = Tensor::from_data(TensorData::new(values.to_vec(), shape), &tensor.device());
            burn::module::Param::from_mapped_value(id, loaded, mapper)
        }
    }
    let mut load = Load { values, at: 0, short: false };
    let stage = stage.map(&mut load);
    if load.short || load.at != values.len() {
        return Err(DistError::Mismatch { operation: "gather stages", rank: 0, expected: load.at, got: values.len() });
    }
    Ok(stage)
}

/// Gathers every rank's trained stage on rank 0: each other rank sends its
/// parameters; rank 0 loads them into `skeleton` (the same model's stages,
/// built from the same config, whose own stage 0 is replaced by `mine`) and
/// returns all the stages in order. Other ranks return `None`.
pub fn gather_stages<C: Collective>(
    collective: &mut C,
    mine: Stage,
    skeleton: Vec<Stage>,
) -> Result<Option<Vec<Stage>>> {
    let (rank, world) = (collective.rank(), collective.world());
    if rank != 0 {
        collective.send(0, &flatten_params(&mine))?;
        return Ok(None);
    }
    if skeleton.len() != world {
        return Err(DistError::Mismatch { operation: "gather stages", rank, expected: world, got: skeleton.len() });
    }
    let mut stages = Vec::with_capacity(world);
    for (r, stage) in skeleton.into_iter().enumerate() {
        stages.push(if r == 0 { mine.clone() } else { load_params(stage, &collective.recv(r)?)? });
    }
    Ok(Some(stages))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micro_batches_are_consecutive_and_even() {
        let rows: Vec<usize> = (10..20).collect();
        let parts = micro_batches(&rows, 4);
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), vec![2, 3, 2, 3]);
        assert_eq!(parts.concat(), rows);
        assert_eq!(micro_batches(&rows[..3], 8).len(), 3);
        assert_eq!(micro_batches(&[], 4).len(), 0);
    }

    #[test]
    fn the_theoretical_bubble_is_gpipes() {
        assert_eq!(theoretical_bubble(2, 1), 0.5);
        assert!((theoretical_bubble(2, 4) - 0.2).abs() < 1e-12);
        assert!((theoretical_bubble(4, 8) - 3.0 / 11.0).abs() < 1e-12);
        assert_eq!(theoretical_bubble(1, 4), 0.0);
    }

    #[test]
    fn activations_cross_the_wire_unchanged() {
        let device = Device::flex();
        let data = TensorData::new((0..24).map(|i| i as f32 * 0.5 - 3.0).collect::<Vec<_>>(), [2, 3, 2, 2]);
        let flow = decode(encode(data.clone()).unwrap(), &device, 0).unwrap();
        assert_eq!(flow.dims(), vec![2, 3, 2, 2]);
        assert_eq!(flow.into_data(), data);
        assert!(decode(vec![2.0, 3.0, 4.0, 1.0], &device, 1).unwrap_err().to_string().contains("stage 1"));
        assert!(decode(Vec::new(), &device, 1).is_err());
    }
}
