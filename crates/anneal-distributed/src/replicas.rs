//! Data-parallel replicas on threads of one process.

use std::time::Duration;

use anneal_train::TrainError;

use crate::collective::{ThreadCollective, ThreadGroup};
use crate::error::{DistError, Result};

/// How to run data-parallel replicas on threads: `replicas` replicas, each on a
/// thread of its own with a compute pool of `threads_per_replica` threads (the
/// backend's intra-op parallelism), waiting at most `timeout` for each other in
/// any one collective operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadReplicas {
    /// Number of replicas (1: plain training, with the same code path).
    pub replicas: usize,
    /// Compute threads of each replica.
    pub threads_per_replica: usize,
    /// The longest wait in one collective operation before it fails.
    pub timeout: Duration,
}

impl ThreadReplicas {
    /// `replicas` replicas of one compute thread each, with a 10-minute timeout.
    pub fn new(replicas: usize) -> Self {
        Self { replicas, threads_per_replica: 1, timeout: Duration::from_secs(600) }
    }

    /// Runs `replica` once per rank, each on its own thread and compute pool with
    /// its end of one [`ThreadGroup`], and returns every replica's result in
    /// rank order.
    ///
    /// When replicas fail, the error is the one that caused it: a replica's own
    /// failure (a diverged loss, a bad checkpoint) rather than its peers'
    /// "replica 1 left" that followed, or a panic as [`DistError::Panicked`].
    pub fn run<T, F>(&self, replica: F) -> Result<Vec<T>>
    where
        T: Send,
        F: Fn(ThreadCollective) -> std::result::Result<T, TrainError> + Sync,
    {
        if self.replicas == 0 || self.threads_per_replica == 0 {
            return Err(DistError::InvalidSetting(format!(
                "{} replicas of {} threads each: both must be at least 1",
                self.replicas, self.threads_per_replica
            )));
        }
        let members = ThreadGroup::new(self.replicas, self.timeout)?;
        let mut pools = Vec::with_capacity(self.replicas);
        for rank in 0..self.replicas {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(self.threads_per_replica)
                .thread_name(move |i| format!("anneal-replica-{rank}-{i}"))
                .build()
                .map_err(|e| DistError::InvalidSetting(format!("cannot start replica {rank}'s threads: {e}")))?;
            pools.push(pool);
        }
        let outcomes: Vec<std::thread::Result<std::result::Result<T, TrainError>>> = std::thread::scope(|s| {
            let replica = &replica;
            let handles: Vec<_> = members
                .into_iter()
                .zip(&pools)
                .map(|(member, pool)| s.spawn(move || pool.install(move || replica(member))))
                .collect();
            handles.into_iter().map(|h| h.join()).collect()
        });
        root_cause(outcomes)
    }

    /// A grid of `pipelines` pipelines of `stages` stages each (pipeline
    /// model parallelism × data parallelism): `pipelines × stages` threads,
    /// each with its own compute pool of `threads_per_replica` threads; the
    /// worker at `(pipeline p, stage s)` gets its end of pipeline `p`'s group
    /// (rank `s`) and of stage `s`'s group across the pipelines (rank `p`).
    /// Results come pipeline by pipeline, stage by stage; failures as for
    /// [`run`](Self::run), the rank in an error being `p · stages + s`.
    pub fn run_grid<T, F>(&self, stages: usize, worker: F) -> Result<Vec<T>>
    where
        T: Send,
        F: Fn(ThreadCollective, ThreadCollective) -> std::result::Result<T, TrainError> + Sync,
    {
        let pipelines = self.replicas;
        if pipelines == 0 || stages == 0 || self.threads_per_replica == 0 {
            return Err(DistError::InvalidSetting(format!(
                "{pipelines} pipelines of {stages} stages of {} threads each: all must be at least 1",
                self.threads_per_replica
            )));
        }
        let mut along: Vec<Vec<ThreadCollective>> =
            (0..pipelines).map(|_| ThreadGroup::new(stages, self.timeout)).collect::<Result<_>>()?;
        let mut across: Vec<Vec<ThreadCollective>> =
            (0..stages).map(|_| ThreadGroup::new(pipelines, self.timeout)).collect::<Result<_>>()?;
        // Worker (p, s) takes pipeline p's member s and stage s's member p; popped from the back.
        let mut workers = Vec::with_capacity(pipelines * stages);
        for p in (0..pipelines).rev() {
            for s in (0..stages).rev() {
                let pipe =
                    along[p].pop().ok_or_else(|| DistError::InvalidSetting("a pipeline group ran short".into()))?;
                let dp =
                    across[s].pop().ok_or_else(|| DistError::InvalidSetting("a replica group ran short".into()))?;
                workers.push((pipe, dp));
            }
        }
        workers.reverse();
        let pools = (0..pipelines * stages)
            .map(|w| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(self.threads_per_replica)
                    .thread_name(move |i| format!("anneal-stage-{w}-{i}"))
                    .build()
                    .map_err(|e| DistError::InvalidSetting(format!("cannot start worker {w}'s threads: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let outcomes = std::thread::scope(|scope| {
            let worker = &worker;
            let handles: Vec<_> = workers
                .into_iter()
                .zip(&pools)
                .map(|((pipe, dp), pool)| scope.spawn(move || pool.install(move || worker(pipe, dp))))
                .collect();
            handles.into_iter().map(|h| h.join()).collect()
        });
        root_cause(outcomes)
    }
}

/// Every worker's result in order, or the error that caused the failures: a
/// panic, or a worker's own failure (a diverged loss, a bad checkpoint) rather
/// than its peers' "left the group" that followed.
fn root_cause<T>(outcomes: Vec<std::thread::Result<std::result::Result<T, TrainError>>>) -> Result<Vec<T>> {
    let mut results = Vec::with_capacity(outcomes.len());
    let mut errors: Vec<DistError> = Vec::new();
    for (rank, outcome) in outcomes.into_iter().enumerate() {
        match outcome {
            Ok(Ok(value)) => results.push(value),
            Ok(Err(source)) => errors.push(DistError::Replica { rank, source }),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".into());
                errors.push(DistError::Panicked { rank, message });
            }
        }
    }
    if errors.is_empty() {
        return Ok(results);
    }
    // A peer's departure or a wait for it, as a data-parallel hook reports it
    // (Aborted) or a pipeline's exchange does (its message).
    let consequence = |e: &DistError| match e {
        DistError::Replica { source, .. } => {
            let message = source.to_string();
            message.contains("left the group") || message.contains("waited")
        }
        _ => false,
    };
    let index = errors.iter().position(|e| !consequence(e)).unwrap_or(0);
    Err(errors.swap_remove(index))
}
