//! Data-parallel runs: `[distributed] replicas > 1` on threads of this process,
//! or this process's rank under MPI. Every replica has its own model copy and
//! optimiser and trains on its part of every global batch; rank 0 reports
//! progress, writes checkpoints and runs the run folder's hooks.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use anneal_data::dataset::{FullBatch, ShuffledBatches};
use anneal_data::{Augmented, BatchSampler, Sharded};
use std::sync::Arc;

use anneal_distributed::pipeline::{StageJob, TrainedStage, gather_stages};
use anneal_distributed::{
    Collective, GradientSync, PipelineConfig, StageStats, ThreadReplicas, all_gather_f64, fit_stage,
};
use anneal_models::AnyModel;
use anneal_models::pipeline::{join, split_at};
use anneal_train::{
    EnergyMeter, EpochRecord, Fitted, Objective, Progress, TrainConfig, TrainError, TrainHook, Trainer,
};
use burn::prelude::Device;

use crate::config::{DistributedSection, RunConfig};
use crate::pipeline::Prepared;
use crate::{Error, Result};

/// What every replica of one run shares.
pub(crate) struct ReplicaJob<'a> {
    /// The one-model config the replicas equal ([`RunConfig::global`]).
    pub config: &'a RunConfig,
    /// The `[distributed]` settings.
    pub settings: &'a DistributedSection,
    /// The model every replica builds.
    pub model_config: &'a anneal_models::ModelConfig,
    /// The loop's settings (global batch).
    pub train_config: TrainConfig,
    /// The device every replica trains on.
    pub device: &'a Device,
    /// The prepared data (each replica reads its part).
    pub data: &'a Prepared,
    /// The run's checkpoint folder (rank 0 writes it, every rank reads it to resume).
    pub checkpoints: PathBuf,
    /// Whether the run resumes from its checkpoint.
    pub resume: bool,
    /// Rank 0's progress output.
    pub progress: Progress,
    /// The augmentation of the training batches (`[augment]`), the same on every replica.
    pub augment: &'a Option<anneal_train::RowsAugment>,
    /// The curriculum's sampler, sharded across the replicas (`[curriculum]`).
    pub curriculum: &'a Option<anneal_data::curriculum::Curriculum>,
}

/// Trains `job` on `settings.replicas` threads and returns rank 0's result;
/// `hooks` (the run folder's history, the caller's) run on rank 0.
pub(crate) fn fit_replicas(job: &ReplicaJob<'_>, hooks: Vec<&mut (dyn TrainHook + Send)>) -> Result<Fitted<AnyModel>> {
    let world = job.settings.replicas;
    // Settings errors surface here, once, before any thread starts.
    let objective = crate::pipeline::objective(job.config, &job.data.loaded.target, &job.data.train)?;
    drop(objective);
    let models = (0..world)
        .map(|_| crate::pipeline::init_model(job.config, job.model_config, &job.device.clone().autodiff()).map(Some))
        .collect::<Result<Vec<_>>>()?;
    let models = Mutex::new(models);
    let hooks = Mutex::new(Some(hooks));
    let runner = ThreadReplicas {
        replicas: world,
        threads_per_replica: job.settings.threads_per_replica,
        timeout: Duration::from_secs_f64(job.settings.timeout_seconds),
    };
    let results = runner.run(|collective| {
        let rank = collective.rank();
        let lost = |what: &str| TrainError::InvalidSetting(format!("replica {rank}: {what}"));
        let model = models.lock().map_err(|_| lost("the model store was poisoned"))?[rank]
            .take()
            .ok_or_else(|| lost("no model"))?;
        let objective = crate::pipeline::objective(job.config, &job.data.loaded.target, &job.data.train)
            .map_err(|e| lost(&e.to_string()))?;
        let mine = if rank == 0 { hooks.lock().ok().and_then(|mut h| h.take()) } else { None };
        let (fitted, collective) = fit_rank(collective, job, model, objective, mine.unwrap_or_default())?;
        collective.finish();
        Ok(fitted)
    })?;
    results.into_iter().next().ok_or_else(|| Error::Setting("no replica returned a model".into()))
}

/// Trains this process's rank of `job` over `collective` (MPI: one replica per
/// process); `hooks` run on rank 0.
pub(crate) fn fit_mpi<C: Collective>(
    collective: C,
    job: &ReplicaJob<'_>,
    hooks: Vec<&mut (dyn TrainHook + Send)>,
) -> Result<Fitted<AnyModel>> {
    let model = crate::pipeline::init_model(job.config, job.model_config, &job.device.clone().autodiff())?;
    let objective = crate::pipeline::objective(job.config, &job.data.loaded.target, &job.data.train)?;
    let hooks = if collective.rank() == 0 { hooks } else { Vec::new() };
    Ok(fit_rank(collective, job, model, objective, hooks)?.0)
}

/// One replica's loop: its part of every global batch of the run's sampler,
/// gradients all-reduced through `collective`, checkpoints written by rank 0
/// alone (every rank reads them to resume); `hooks` run after the sync, on the
/// agreed epoch records. Returns the collective for whatever follows.
fn fit_rank<C: Collective>(
    collective: C,
    job: &ReplicaJob<'_>,
    model: AnyModel,
    objective: Box<dyn Objective>,
    hooks: Vec<&mut (dyn TrainHook + Send)>,
) -> std::result::Result<(Fitted<AnyModel>, C), TrainError> {
    let (rank, world) = (collective.rank(), collective.world());
    let tc = &job.train_config;
    let global: Box<dyn BatchSampler> = if job.config.optimizer.is_full_batch() {
        Box::new(FullBatch)
    } else if let Some(curriculum) = job.curriculum {
        Box::new(curriculum.clone())
    } else {
        Box::new(ShuffledBatches { batch_size: tc.batch_size, seed: tc.seed, last: tc.last_batch })
    };
    let mut optimizer = job.config.optimizer.init()?;
    let mut sync = GradientSync::new(collective).with_bucket_values(job.settings.bucket_values());
    let mut trainer = Trainer::new(tc.clone(), job.device.clone())
        .with_progress(if rank == 0 { job.progress } else { Progress::Silent })
        .with_objective(objective)
        .with_sampler(Sharded::new(global, rank, world)?)
        .with_checkpoints(&job.checkpoints)
        .writing_checkpoints(rank == 0)
        .resuming(job.resume)
        .with_hook(&mut sync);
    for hook in hooks {
        trainer = trainer.with_hook(hook);
    }
    let train = crate::pipeline::augmented(job.augment, None, &job.data.train);
    let fitted = trainer.fit(model, &mut optimizer, &train, Some(&Augmented::plain(&job.data.valid)))?;
    drop(trainer);
    Ok((fitted, sync.into_collective()))
}

/// What a pipelined run returns: rank 0's model (the stages joined) and every
/// stage's measurements; an MPI rank other than 0 gets `None` for the model.
pub(crate) struct Pipelined {
    /// The trained model, with its history (rank 0).
    pub fitted: Option<Fitted<AnyModel>>,
    /// Each stage's measurements.
    pub stats: Vec<StageStats>,
    /// Each stage's units (the model's unit indices it held).
    pub ranges: Vec<std::ops::Range<usize>>,
    /// What the cut balanced, per unit: parameters, or measured seconds (`split = "time"`).
    pub weights: Vec<f64>,
}

/// The stages' unit ranges for `job`'s model (see
/// [`anneal_distributed::pipeline::plan`]): a `split = "time"` measures the
/// units of a model of its own (so the run's model, its dropout generators
/// included, is untouched) on the first training batch.
fn plan_stages<C: Collective>(
    job: &ReplicaJob<'_>,
    pipeline: &PipelineConfig,
    collective: Option<&mut C>,
) -> Result<(Vec<std::ops::Range<usize>>, Vec<f64>)> {
    let device = job.device.clone().autodiff();
    let probe = crate::pipeline::init_model(job.config, job.model_config, &device)?;
    let sample = || {
        let rows: Vec<usize> =
            (0..job.train_config.batch_size.min(anneal_data::Dataset::len(&job.data.train))).collect();
        Ok(anneal_data::Dataset::batch(&job.data.train, &rows, &device).input)
    };
    Ok(anneal_distributed::pipeline::plan(&probe, pipeline, sample, collective)?)
}

/// Everything a stage of `job` needs besides its collective: the objective, and
/// the loop's settings.
fn stage_job<'a>(
    job: &'a ReplicaJob<'a>,
    train: &'a Augmented<'a, &'a anneal_data::TabularData>,
    valid: &'a Augmented<'a, &'a anneal_data::TabularData>,
    rank: usize,
    logs: bool,
) -> std::result::Result<StageJob<'a, Augmented<'a, &'a anneal_data::TabularData>>, TrainError> {
    let objective = crate::pipeline::objective(job.config, &job.data.loaded.target, &job.data.train)
        .map_err(|e| TrainError::InvalidSetting(format!("stage {rank}: {e}")))?;
    Ok(StageJob {
        config: &job.train_config,
        objective: Arc::from(objective),
        train,
        valid: Some(valid),
        device: job.device.clone(),
        progress: if logs { job.progress } else { Progress::Silent },
    })
}

/// What a stage's loop recorded (every stage recorded the same).
struct Outcome {
    history: Vec<EpochRecord>,
    best_epoch: usize,
    stopped_early: bool,
    stopped_by_hook: Option<usize>,
}

impl Outcome {
    fn of<C>(t: &TrainedStage<C>) -> Self {
        Self {
            history: t.history.clone(),
            best_epoch: t.best_epoch,
            stopped_early: t.stopped_early,
            stopped_by_hook: t.stopped_by_hook,
        }
    }
}

/// A pipelined run's outcome as the plain loop's: the joined model and the record.
fn fitted(job: &ReplicaJob<'_>, model: AnyModel, outcome: Outcome, meter: EnergyMeter) -> Fitted<AnyModel> {
    let full_batch = job.config.optimizer.is_full_batch();
    Fitted {
        model,
        best_epoch: outcome.best_epoch,
        history: outcome.history,
        stopped_early: outcome.stopped_early,
        stopped_by_hook: outcome.stopped_by_hook,
        accounting: job.train_config.plan(anneal_data::Dataset::len(&job.data.train), full_batch),
        resumed_from: None,
        energy: meter.finish(),
    }
}

/// Trains `job` as a pipeline of `pipeline.stages` stages on threads of this
/// process, or as a grid of `[distributed] replicas` such pipelines (each on
/// its share of every global batch, each stage's gradients all-reduced across
/// the pipelines); `hooks` run on the first pipeline's first stage.
pub(crate) fn fit_pipeline(
    job: &ReplicaJob<'_>,
    pipeline: &PipelineConfig,
    hooks: Vec<&mut (dyn TrainHook + Send)>,
) -> Result<Pipelined> {
    let meter = EnergyMeter::start(job.config.energy);
    let (n_stages, pipelines) = (pipeline.stages, job.settings.replicas.max(1));
    let (ranges, weights) = plan_stages(job, pipeline, None::<&mut anneal_distributed::ThreadCollective>)?;
    // Every pipeline's stages, cut from its own copy of the model (the same seed: the same weights).
    let mut store = Vec::with_capacity(pipelines * n_stages);
    for _ in 0..pipelines {
        let model = crate::pipeline::init_model(job.config, job.model_config, &job.device.clone().autodiff())?;
        store.extend(split_at(model, &ranges)?.into_iter().map(Some));
    }
    let store = Mutex::new(store);
    let hooks = Mutex::new(Some(hooks));
    let train = crate::pipeline::augmented(job.augment, None, &job.data.train);
    let valid = Augmented::plain(&job.data.valid);
    let runner = ThreadReplicas {
        replicas: pipelines,
        threads_per_replica: job.settings.threads_per_replica,
        timeout: Duration::from_secs_f64(job.settings.timeout_seconds),
    };
    let results = runner.run_grid(n_stages, |pipe, mut across| {
        let (p, rank) = (across.rank(), pipe.rank());
        let lost = |what: &str| TrainError::InvalidSetting(format!("pipeline {p}, stage {rank}: {what}"));
        let stage = store.lock().map_err(|_| lost("the stage store was poisoned"))?[p * n_stages + rank]
            .take()
            .ok_or_else(|| lost("no stage"))?;
        let stage_job = stage_job(job, &train, &valid, rank, p == 0 && rank == 0)?;
        let mine = if p == 0 && rank == 0 { hooks.lock().ok().and_then(|mut h| h.take()) } else { None };
        let mut optimizer = job.config.optimizer.init()?;
        let replicas: Option<&mut (dyn Collective + Send)> = if pipelines > 1 { Some(&mut across) } else { None };
        let t = fit_stage(
            pipe,
            stage,
            pipeline.micro_batches,
            &mut optimizer,
            &stage_job,
            mine.unwrap_or_default(),
            replicas,
        )?;
        let outcome = Outcome::of(&t);
        t.collective.finish();
        across.finish();
        Ok((t.stage, t.stats, outcome))
    })?;
    // The first pipeline's stages: every pipeline holds the same weights.
    let mut stages = Vec::with_capacity(n_stages);
    let mut stats = Vec::with_capacity(n_stages);
    let mut first = None;
    for (stage, s, outcome) in results.into_iter().take(n_stages) {
        stages.push(stage);
        stats.push(s);
        first.get_or_insert(outcome);
    }
    let outcome = first.ok_or_else(|| Error::Setting("no pipeline stage returned".into()))?;
    let model = join(stages)?;
    Ok(Pipelined { fitted: Some(fitted(job, model, outcome, meter)), stats, ranges, weights })
}

/// This process's stage of a pipeline over MPI (rank r holds stage r; the
/// world's size is the number of stages): rank 0 gathers the trained stages
/// and every stage's measurements.
pub(crate) fn fit_pipeline_mpi<C: Collective>(
    mut collective: C,
    job: &ReplicaJob<'_>,
    pipeline: &PipelineConfig,
    hooks: Vec<&mut (dyn TrainHook + Send)>,
) -> Result<Pipelined> {
    let meter = EnergyMeter::start(job.config.energy);
    let (rank, world) = (collective.rank(), collective.world());
    if world != pipeline.stages {
        return Err(Error::Setting(format!(
            "[distributed] pipeline has {} stages but mpirun started {world} ranks: one rank per stage",
            pipeline.stages
        )));
    }
    // Every rank builds the model from the same seed and keeps its own stage;
    // rank 0 keeps the others as the skeleton it gathers the trained values into.
    let model = crate::pipeline::init_model(job.config, job.model_config, &job.device.clone().autodiff())?;
    let (ranges, weights) = plan_stages(job, pipeline, Some(&mut collective))?;
    let mut stages = split_at(model, &ranges)?;
    let mine = stages.swap_remove(rank);
    let skeleton = if rank == 0 {
        split_at(crate::pipeline::init_model(job.config, job.model_config, job.device)?, &ranges)?
    } else {
        Vec::new()
    };
    drop(stages);
    let train = crate::pipeline::augmented(job.augment, None, &job.data.train);
    let valid = Augmented::plain(&job.data.valid);
    let stage_job = stage_job(job, &train, &valid, rank, rank == 0)?;
    let mut optimizer = job.config.optimizer.init()?;
    let hooks = if rank == 0 { hooks } else { Vec::new() };
    let trained = fit_stage(collective, mine, pipeline.micro_batches, &mut optimizer, &stage_job, hooks, None)?;
    let outcome = Outcome::of(&trained);
    let mut collective = trained.collective;
    // Every stage's measurements on every rank, exactly (rank 0 reports them).
    let s = &trained.stats;
    let mine = [s.stage, s.steps, s.parameters, s.boundary_values].map(|v| v as f64);
    let stats = all_gather_f64(&mut collective, &[&mine[..], &[s.step_seconds, s.wait_seconds]].concat())?
        .into_iter()
        .map(|v| StageStats {
            stage: v[0] as usize,
            steps: v[1] as usize,
            parameters: v[2] as usize,
            boundary_values: v[3] as usize,
            step_seconds: v[4],
            wait_seconds: v[5],
        })
        .collect();
    let fitted = match gather_stages(&mut collective, trained.stage, skeleton)? {
        Some(stages) => Some(fitted(job, join(stages)?, outcome, meter)),
        None => None,
    };
    Ok(Pipelined { fitted, stats, ranges, weights })
}
