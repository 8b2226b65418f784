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
        // The root cause: a panic, or a failure that is not a peer's departure.
        let consequence = |e: &DistError| {
            matches!(e, DistError::Replica { source: TrainError::Aborted { reason, .. }, .. }
                if reason.contains("left the group") || reason.contains("waited"))
        };
        let index = errors.iter().position(|e| !consequence(e)).unwrap_or(0);
        Err(errors.swap_remove(index))
    }
}
