//! Collective operations between replicas, and their implementation on threads.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use burn::prelude::*;

use crate::error::{DistError, Result};

/// The operations data-parallel training needs between its replicas. Every
/// replica calls the same operations in the same order with buffers of the same
/// length; an operation returns once every replica has taken part, or with an
/// error when a peer has left or the wait timed out (never a silent hang).
pub trait Collective {
    /// This replica's rank, `0..world()`.
    fn rank(&self) -> usize;
    /// Number of replicas.
    fn world(&self) -> usize;
    /// Replaces `buf` on every replica by the element-wise sum of all replicas' `buf`.
    fn all_reduce_sum(&mut self, buf: &mut [f32]) -> Result<()>;
    /// [`all_reduce_sum`](Self::all_reduce_sum) of several buffers in one
    /// operation (the default: one operation per buffer).
    fn all_reduce_sum_many(&mut self, bufs: &mut [&mut [f32]]) -> Result<()> {
        for buf in bufs.iter_mut() {
            self.all_reduce_sum(buf)?;
        }
        Ok(())
    }
    /// Replaces `buf` on every replica by replica `root`'s `buf`.
    fn broadcast(&mut self, buf: &mut [f32], root: usize) -> Result<()>;
    /// Returns once every replica has called it.
    fn barrier(&mut self) -> Result<()> {
        self.all_reduce_sum(&mut [])
    }
    /// The mean over replicas of `tensors` (the same shapes on every replica),
    /// each replica's weighted by its `weight` (the rows its gradients came
    /// from): `Σ wᵣ·tᵣ / Σ wᵣ`, the same values on every replica.
    ///
    /// The default goes through the host: the weights are summed first, then
    /// each tensor is read into a host buffer (without a copy where the backend
    /// allows), scaled by `wᵣ / Σ w` in place and summed with
    /// [`all_reduce_sum`](Self::all_reduce_sum) in buckets of at most `bucket`
    /// values. (Sharing the tensors between threads and summing them with the
    /// backend's ops was measured slower on flex: fresh output tensors each
    /// update, and the sum runs on one replica while the others wait.)
    fn all_reduce_mean(&mut self, tensors: Vec<Tensor<1>>, weight: f64, bucket: usize) -> Result<Vec<Tensor<1>>> {
        let bucket = bucket.max(1);
        let mut devices = Vec::with_capacity(tensors.len());
        let mut host: Vec<Vec<f32>> = Vec::with_capacity(tensors.len());
        for t in tensors {
            devices.push(t.device());
            let mut values = t
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .map_err(|e| DistError::InvalidSetting(format!("cannot read a tensor to all-reduce: {e:?}")))?;
            values.iter_mut().for_each(|v| *v *= weight as f32);
            host.push(values);
        }
        let mut total = [weight as f32];
        {
            // Buckets of at most `bucket` values, the weight in the last one.
            let mut pieces: Vec<&mut [f32]> = host.iter_mut().flat_map(|v| v.chunks_mut(bucket)).collect();
            pieces.push(&mut total);
            let mut group: Vec<&mut [f32]> = Vec::new();
            let mut size = 0;
            for piece in pieces {
                if size + piece.len() > bucket && !group.is_empty() {
                    self.all_reduce_sum_many(&mut group)?;
                    group.clear();
                    size = 0;
                }
                size += piece.len();
                group.push(piece);
            }
            self.all_reduce_sum_many(&mut group)?;
        }
        let inverse = if total[0] > 0.0 { 1.0 / total[0] } else { 0.0 };
        Ok(host
            .into_iter()
            .zip(devices)
            .map(|(mut values, device)| {
                values.iter_mut().for_each(|v| *v *= inverse);
                let n = values.len();
                Tensor::from_data(TensorData::new(values, [n]), &device)
            })
            .collect())
    }
}

/// A group of replicas in one process, one [`ThreadCollective`] per thread.
///
/// ```
/// use anneal_distributed::{Collective, ThreadGroup};
///
/// let members = ThreadGroup::new(2, std::time::Duration::from_secs(10))?;
/// let sums: Vec<Vec<f32>> = std::thread::scope(|s| {
///     let handles: Vec<_> = members
///         .into_iter()
///         .map(|mut c| s.spawn(move || {
///             let mut buf = vec![c.rank() as f32 + 1.0; 3];
///             c.all_reduce_sum(&mut buf).map(|()| buf)
///         }))
///         .collect();
///     handles.into_iter().map(|h| h.join().unwrap().unwrap()).collect()
/// });
/// assert_eq!(sums, [vec![3.0; 3], vec![3.0; 3]]);
/// # Ok::<(), anneal_distributed::DistError>(())
/// ```
#[derive(Debug)]
pub struct ThreadGroup;

impl ThreadGroup {
    /// `world` members (rank 0 first) that wait at most `timeout` for each other
    /// in any one operation.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(world: usize, timeout: Duration) -> Result<Vec<ThreadCollective>> {
        if world == 0 {
            return Err(DistError::InvalidSetting("a group needs at least one replica".into()));
        }
        if timeout.is_zero() {
            return Err(DistError::InvalidSetting("the collective timeout must be positive".into()));
        }
        let shared = Arc::new(Shared {
            world,
            timeout,
            spin: std::thread::available_parallelism().is_ok_and(|n| n.get() >= world),
            completed: AtomicU64::new(0),
            broken: AtomicBool::new(false),
            state: Mutex::new(State {
                generation: 0,
                arrived: 0,
                len: 0,
                acc: Vec::new(),
                result: Vec::new(),
                left: None,
                mismatch: None,
            }),
            cond: Condvar::new(),
        });
        Ok((0..world).map(|rank| ThreadCollective { rank, shared: Arc::clone(&shared), finished: false }).collect())
    }
}

#[derive(Debug)]
struct Shared {
    world: usize,
    timeout: Duration,
    /// Whether a waiting replica spins briefly before sleeping: only when every
    /// replica can have a core of its own.
    spin: bool,
    state: Mutex<State>,
    cond: Condvar,
    /// Operations completed (mirrors `State::generation`, read while spinning).
    completed: AtomicU64,
    /// A replica left (mirrors `State::left`, read while spinning).
    broken: AtomicBool,
}

/// How long a waiting replica spins before it sleeps on the condition variable:
/// waking a sleeping thread costs tens of microseconds in a VM, several times per
/// update, while the peers usually arrive within this.
const SPIN: Duration = Duration::from_micros(200);

#[derive(Debug)]
struct State {
    /// Operations completed so far.
    generation: u64,
    /// Replicas that have contributed to the operation under way.
    arrived: usize,
    /// Length of the operation under way (the first arrival's).
    len: usize,
    /// The operation's running sum.
    acc: Vec<f32>,
    /// The last completed operation's result.
    result: Vec<f32>,
    /// A replica that left before the group finished.
    left: Option<usize>,
    /// A length mismatch: (the operation's generation, rank, expected, got).
    mismatch: Option<(u64, usize, usize, usize)>,
}

/// One replica's end of a [`ThreadGroup`]. Dropping it (the replica finished,
/// failed or panicked) wakes the peers still waiting: they fail with
/// [`DistError::PeerLeft`] instead of waiting forever.
#[derive(Debug)]
pub struct ThreadCollective {
    rank: usize,
    shared: Arc<Shared>,
    finished: bool,
}

impl ThreadCollective {
    /// Marks this replica as done with the group: dropping it afterwards does not
    /// fail the peers (they must not call another operation either).
    pub fn finish(mut self) {
        self.finished = true;
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the sums half-written in a
        // way that matters: the panicking replica counts as having left.
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One operation: `contribute` folds this replica's buffers (concatenated)
    /// into the running value (`first` when it is the first to arrive); everyone
    /// copies the result back into its buffers.
    fn operate(
        &mut self,
        operation: &'static str,
        bufs: &mut [&mut [f32]],
        contribute: impl FnOnce(&mut Vec<f32>, &[&mut [f32]], bool),
    ) -> Result<()> {
        let shared = Arc::clone(&self.shared);
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        let mut state = self.lock();
        if let Some(rank) = state.left {
            return Err(DistError::PeerLeft { rank, operation });
        }
        let generation = state.generation;
        let first = state.arrived == 0;
        if first {
            state.len = len;
        } else if state.len != len && state.mismatch.is_none_or(|m| m.0 != generation) {
            state.mismatch = Some((generation, self.rank, state.len, len));
        }
        if state.mismatch.is_none_or(|m| m.0 != generation) {
            contribute(&mut state.acc, bufs, first);
        }
        state.arrived += 1;
        if state.arrived == shared.world {
            state.arrived = 0;
            state.generation += 1;
            let State { acc, result, .. } = &mut *state;
            std::mem::swap(acc, result);
            shared.completed.store(state.generation, Ordering::Release);
            shared.cond.notify_all();
        } else {
            state = self.wait(state, generation, operation)?;
        }
        if let Some((g, rank, expected, got)) = state.mismatch
            && g == generation
        {
            return Err(DistError::Mismatch { operation, rank, expected, got });
        }
        let mut offset = 0;
        for buf in bufs.iter_mut() {
            buf.copy_from_slice(&state.result[offset..offset + buf.len()]);
            offset += buf.len();
        }
        Ok(())
    }
}

impl ThreadCollective {
    /// Waits until operation `generation` completes; `state` is the held lock.
    fn wait<'a>(
        &'a self,
        state: MutexGuard<'a, State>,
        generation: u64,
        operation: &'static str,
    ) -> Result<MutexGuard<'a, State>> {
        let mut state = state;
        if self.shared.spin {
            drop(state);
            let until = Instant::now() + SPIN;
            while self.shared.completed.load(Ordering::Acquire) == generation
                && !self.shared.broken.load(Ordering::Acquire)
                && Instant::now() < until
            {
                std::hint::spin_loop();
            }
            state = self.lock();
        }
        let deadline = Instant::now() + self.shared.timeout;
        while state.generation == generation {
            if let Some(rank) = state.left {
                return Err(DistError::PeerLeft { rank, operation });
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(DistError::Timeout { operation, seconds: self.shared.timeout.as_secs_f64() });
            }
            state = self.shared.cond.wait_timeout(state, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
        Ok(state)
    }
}

impl Collective for ThreadCollective {
    fn rank(&self) -> usize {
        self.rank
    }

    fn world(&self) -> usize {
        self.shared.world
    }

    fn all_reduce_sum(&mut self, buf: &mut [f32]) -> Result<()> {
        self.all_reduce_sum_many(&mut [buf])
    }

    fn all_reduce_sum_many(&mut self, bufs: &mut [&mut [f32]]) -> Result<()> {
        self.operate("all-reduce", bufs, |acc, mine, first| {
            if first {
                acc.clear();
                mine.iter().for_each(|b| acc.extend_from_slice(b));
            } else {
                let mut offset = 0;
                for b in mine {
                    acc[offset..offset + b.len()].iter_mut().zip(b.iter()).for_each(|(a, m)| *a += m);
                    offset += b.len();
                }
            }
        })
    }

    fn broadcast(&mut self, buf: &mut [f32], root: usize) -> Result<()> {
        if root >= self.shared.world {
            return Err(DistError::InvalidSetting(format!(
                "broadcast from replica {root} in a group of {}",
                self.shared.world
            )));
        }
        let is_root = self.rank == root;
        self.operate("broadcast", &mut [buf], |acc, mine, first| {
            if first {
                acc.clear();
                acc.resize(mine[0].len(), 0.0);
            }
            if is_root {
                acc.copy_from_slice(mine[0]);
            }
        })
    }
}

impl Drop for ThreadCollective {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let mut state = self.lock();
        if state.left.is_none() {
            state.left = Some(self.rank);
        }
        self.shared.broken.store(true, Ordering::Release);
        self.shared.cond.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<T: Send>(world: usize, f: impl Fn(ThreadCollective) -> T + Sync) -> Vec<T> {
        let members = ThreadGroup::new(world, Duration::from_secs(5)).unwrap();
        std::thread::scope(|s| {
            let f = &f;
            let handles: Vec<_> = members.into_iter().map(|c| s.spawn(move || f(c))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    #[test]
    fn all_reduce_sums_many_rounds_in_order() {
        let out = run(3, |mut c| {
            let mut seen = Vec::new();
            for round in 0..200 {
                let mut buf = vec![(c.rank() * 1000 + round) as f32; 4];
                c.all_reduce_sum(&mut buf).unwrap();
                seen.push(buf[0]);
            }
            c.finish();
            seen
        });
        for seen in &out {
            for (round, v) in seen.iter().enumerate() {
                assert_eq!(*v, (3000 + 3 * round) as f32);
            }
        }
    }

    #[test]
    fn broadcast_takes_the_roots_values_exactly() {
        let out = run(2, |mut c| {
            let mut buf = if c.rank() == 1 { vec![-0.0, 1.5, f32::MIN_POSITIVE] } else { vec![9.0; 3] };
            c.broadcast(&mut buf, 1).unwrap();
            c.finish();
            buf
        });
        for buf in out {
            assert_eq!(buf.map_bits(), vec![-0.0f32, 1.5, f32::MIN_POSITIVE].map_bits());
        }
    }

    trait Bits {
        fn map_bits(&self) -> Vec<u32>;
    }
    impl Bits for Vec<f32> {
        fn map_bits(&self) -> Vec<u32> {
            self.iter().map(|v| v.to_bits()).collect()
        }
    }

    #[test]
    fn a_peer_that_leaves_fails_the_waiters() {
        let out = run(2, |mut c| {
            if c.rank() == 1 {
                drop(c);
                return None;
            }
            let mut buf = vec![1.0];
            Some(c.all_reduce_sum(&mut buf))
        });
        match &out[0] {
            Some(Err(DistError::PeerLeft { rank: 1, .. })) => {}
            other => panic!("expected PeerLeft, got {other:?}"),
        }
    }

    #[test]
    fn a_hanging_peer_times_out() {
        let members = ThreadGroup::new(2, Duration::from_millis(200)).unwrap();
        let mut it = members.into_iter();
        let mut c0 = it.next().unwrap();
        let _c1 = it.next().unwrap();
        let start = Instant::now();
        let err = c0.all_reduce_sum(&mut [1.0]).unwrap_err();
        assert!(matches!(err, DistError::Timeout { .. }), "{err}");
        assert!(start.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn different_lengths_are_a_mismatch_on_every_replica() {
        let out = run(2, |mut c| {
            let mut buf = vec![1.0; 2 + c.rank()];
            c.all_reduce_sum(&mut buf)
        });
        // Whichever replica arrived second is named, against the first one's length.
        for r in out {
            assert!(
                matches!(
                    r,
                    Err(DistError::Mismatch { rank: 1, expected: 2, got: 3, .. }
                        | DistError::Mismatch { rank: 0, expected: 3, got: 2, .. })
                ),
                "{r:?}"
            );
        }
    }

    #[test]
    fn settings_are_checked() {
        assert!(ThreadGroup::new(0, Duration::from_secs(1)).is_err());
        assert!(ThreadGroup::new(2, Duration::ZERO).is_err());
    }
}
