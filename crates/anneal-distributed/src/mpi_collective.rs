//! [`MpiCollective`]: replicas in separate processes, on one machine or many,
//! through MPI (`mpirun -np N anneal train ... --distributed mpi`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::point_to_point::{Destination, Source};
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives, Root};

use crate::collective::Collective;
use crate::error::{DistError, Result};

/// This process's end of MPI's world communicator. Rank and world size come
/// from MPI (`mpirun -np N`).
///
/// MPI cannot cancel a blocking collective, so a watchdog thread ends the
/// process with a message naming the operation when one waits longer than the
/// timeout (a peer that hangs; `mpirun` then stops the other ranks). A peer that
/// dies is noticed by `mpirun`, which stops every rank.
pub struct MpiCollective {
    world: SimpleCommunicator,
    rank: usize,
    size: usize,
    /// Milliseconds since `epoch` at which the operation under way started (0: none).
    started: Arc<AtomicU64>,
    epoch: Instant,
    // Last: MPI is finalised when the universe drops, after the communicator.
    _universe: Universe,
}

impl std::fmt::Debug for MpiCollective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpiCollective").field("rank", &self.rank).field("size", &self.size).finish()
    }
}

impl MpiCollective {
    /// Initialises MPI (once per process) and joins its world. `timeout` is the
    /// longest any one collective operation may wait.
    pub fn init(timeout: Duration) -> Result<Self> {
        if timeout.is_zero() {
            return Err(DistError::InvalidSetting("the collective timeout must be positive".into()));
        }
        let universe = mpi::initialize().ok_or_else(|| {
            DistError::InvalidSetting("MPI could not be initialised (it was already, or it is not available)".into())
        })?;
        let world = universe.world();
        let rank = usize::try_from(world.rank()).unwrap_or(0);
        let size = usize::try_from(world.size()).unwrap_or(1);
        let started = Arc::new(AtomicU64::new(0));
        let epoch = Instant::now();
        let watched = Arc::clone(&started);
        std::thread::Builder::new()
            .name("anneal-mpi-watchdog".into())
            .spawn(move || {
                let limit = timeout.as_millis() as u64;
                loop {
                    std::thread::sleep(Duration::from_millis(200).min(timeout));
                    let since = watched.load(Ordering::Acquire);
                    if since > 0 && (epoch.elapsed().as_millis() as u64).saturating_sub(since) > limit {
                        eprintln!(
                            "error: MPI rank {rank}: a collective operation waited more than {:.0} s for the other \
                             ranks (a rank hangs or died); ending this rank",
                            timeout.as_secs_f64()
                        );
                        std::process::exit(70);
                    }
                }
            })
            .map_err(|e| DistError::InvalidSetting(format!("cannot start the MPI watchdog: {e}")))?;
        Ok(Self { world, rank, size, started, epoch, _universe: universe })
    }

    /// Runs one MPI operation under the watchdog.
    fn watched<T>(&self, op: impl FnOnce(&SimpleCommunicator) -> T) -> T {
        self.started.store((self.epoch.elapsed().as_millis() as u64).max(1), Ordering::Release);
        let out = op(&self.world);
        self.started.store(0, Ordering::Release);
        out
    }
}

impl Collective for MpiCollective {
    fn rank(&self) -> usize {
        self.rank
    }

    fn world(&self) -> usize {
        self.size
    }

    fn all_reduce_sum(&mut self, buf: &mut [f32]) -> Result<()> {
        // Lengths are checked first: MPI would read past a shorter buffer.
        let len = [buf.len() as u64];
        let mut max = [0u64];
        self.watched(|w| w.all_reduce_into(&len[..], &mut max[..], SystemOperation::max()));
        if max[0] != len[0] {
            return Err(DistError::Mismatch {
                operation: "all-reduce",
                rank: self.rank,
                expected: max[0] as usize,
                got: buf.len(),
            });
        }
        let send = buf.to_vec();
        self.watched(|w| w.all_reduce_into(&send[..], buf, SystemOperation::sum()));
        Ok(())
    }

    fn all_reduce_sum_many(&mut self, bufs: &mut [&mut [f32]]) -> Result<()> {
        // One MPI call for all of them: concatenate, reduce, split.
        let mut joined: Vec<f32> = Vec::with_capacity(bufs.iter().map(|b| b.len()).sum());
        bufs.iter().for_each(|b| joined.extend_from_slice(b));
        self.all_reduce_sum(&mut joined)?;
        let mut offset = 0;
        for b in bufs.iter_mut() {
            b.copy_from_slice(&joined[offset..offset + b.len()]);
            offset += b.len();
        }
        Ok(())
    }

    fn broadcast(&mut self, buf: &mut [f32], root: usize) -> Result<()> {
        if root >= self.size {
            return Err(DistError::InvalidSetting(format!("broadcast from rank {root} in a world of {}", self.size)));
        }
        let r = root as mpi::Rank;
        self.watched(|w| w.process_at_rank(r).broadcast_into(buf));
        Ok(())
    }

    fn send(&mut self, to: usize, buf: &[f32]) -> Result<()> {
        if to >= self.size {
            return Err(DistError::InvalidSetting(format!("send to rank {to} in a world of {}", self.size)));
        }
        let r = to as mpi::Rank;
        self.watched(|w| w.process_at_rank(r).send(buf));
        Ok(())
    }

    fn recv(&mut self, from: usize) -> Result<Vec<f32>> {
        if from >= self.size {
            return Err(DistError::InvalidSetting(format!("receive from rank {from} in a world of {}", self.size)));
        }
        let r = from as mpi::Rank;
        Ok(self.watched(|w| w.process_at_rank(r).receive_vec::<f32>().0))
    }

    fn barrier(&mut self) -> Result<()> {
        self.watched(|w| w.barrier());
        Ok(())
    }
}
