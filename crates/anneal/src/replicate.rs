//! Data-parallel runs: `[distributed] replicas > 1` on threads of this process,
//! or this process's rank under MPI. Every replica has its own model copy and
//! optimiser and trains on its part of every global batch; rank 0 reports
//! progress, writes checkpoints and runs the run folder's hooks.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use anneal_data::dataset::{FullBatch, ShuffledBatches};
use anneal_data::{Augmented, BatchSampler, Sharded};
use anneal_distributed::{Collective, GradientSync, ThreadReplicas};
use anneal_models::AnyModel;
use anneal_train::{Fitted, Objective, Progress, TrainConfig, TrainError, TrainHook, Trainer};
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
