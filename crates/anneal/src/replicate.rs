//! `[distributed] replicas > 1`: the run's training on data-parallel replicas,
//! each a thread with its own compute pool, model copy and optimiser; rank 0
//! reports progress, writes checkpoints and runs the run folder's hooks.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use anneal_data::dataset::ShuffledBatches;
use anneal_data::{BatchSampler, Sharded};
use anneal_distributed::{Collective, GradientSync, ThreadReplicas};
use anneal_train::{Fitted, Progress, TrainConfig, TrainError, TrainHook, Trainer};
use burn::prelude::Device;

use crate::config::{DistributedSection, RunConfig};
use crate::pipeline::Prepared;
use crate::{Error, Result};

/// Everything the replicas of one run need.
pub(crate) struct ReplicaJob<'a> {
    /// The one-model config the replicas equal ([`RunConfig::global`]).
    pub config: &'a RunConfig,
    /// The `[distributed]` settings.
    pub settings: &'a DistributedSection,
    pub model_config: &'a anneal_models::ModelConfig,
    /// The loop's settings (global batch).
    pub train_config: TrainConfig,
    pub device: &'a Device,
    pub data: &'a Prepared,
    pub checkpoints: PathBuf,
    pub resume: bool,
    pub progress: Progress,
    /// Rank 0's hooks (the run folder's history, the caller's).
    pub hooks: Vec<&'a mut (dyn TrainHook + Send)>,
}

/// Trains `job` on its replicas and returns rank 0's result.
pub(crate) fn fit_replicas(job: ReplicaJob<'_>) -> Result<Fitted<anneal_models::AnyModel>> {
    let ReplicaJob { config, settings, model_config, train_config, device, data, checkpoints, resume, progress, hooks } =
        job;
    let world = settings.replicas;
    // Settings errors surface here, once, before any thread starts.
    let objective = crate::pipeline::objective(config, &data.loaded.target, &data.train)?;
    drop(objective);
    let models = (0..world)
        .map(|_| crate::pipeline::init_model(config, model_config, &device.clone().autodiff()).map(Some))
        .collect::<Result<Vec<_>>>()?;
    let models = Mutex::new(models);
    let hooks = Mutex::new(Some(hooks));
    let global_batch = train_config.batch_size;
    let full_batch = config.optimizer.is_full_batch();
    let runner = ThreadReplicas {
        replicas: world,
        threads_per_replica: settings.threads_per_replica,
        timeout: Duration::from_secs_f64(settings.timeout_seconds),
    };
    let results = runner.run(|collective| {
        let rank = collective.rank();
        let lost = |what: &str| TrainError::InvalidSetting(format!("replica {rank}: {what}"));
        let model = models.lock().map_err(|_| lost("the model store was poisoned"))?[rank]
            .take()
            .ok_or_else(|| lost("no model"))?;
        let objective =
            crate::pipeline::objective(config, &data.loaded.target, &data.train).map_err(|e| lost(&e.to_string()))?;
        let global: Box<dyn BatchSampler + Send> = if full_batch {
            Box::new(anneal_data::dataset::FullBatch)
        } else {
            Box::new(ShuffledBatches {
                batch_size: global_batch,
                seed: train_config.seed,
                last: train_config.last_batch,
            })
        };
        let mut optimizer = config.optimizer.init()?;
        let mut sync = GradientSync::new(collective).with_bucket_values(settings.bucket_values());
        let mut trainer = Trainer::new(train_config.clone(), device.clone())
            .with_progress(if rank == 0 { progress } else { Progress::Silent })
            .with_objective(objective)
            .with_sampler(Sharded::new(global, rank, world)?)
            .with_checkpoints(&checkpoints)
            .writing_checkpoints(rank == 0)
            .resuming(resume)
            .with_hook(&mut sync);
        // Rank 0's hooks run after the sync, on the agreed epoch records.
        let mine = if rank == 0 { hooks.lock().ok().and_then(|mut h| h.take()) } else { None };
        for hook in mine.into_iter().flatten() {
            trainer = trainer.with_hook(hook);
        }
        let fitted = trainer.fit(model, &mut optimizer, &data.train, Some(&data.valid))?;
        drop(trainer);
        sync.into_collective().finish();
        Ok(fitted)
    })?;
    results.into_iter().next().ok_or_else(|| Error::Setting("no replica returned a model".into()))
}
