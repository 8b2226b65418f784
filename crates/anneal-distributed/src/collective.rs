//! Collective operations between replicas, and their implementation on threads.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
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
    /// Sends `buf` to rank `to` alone (point to point, what a pipeline's stages
    /// exchange); rank `to` takes it with [`recv`](Self::recv). Messages from
    /// one rank to another arrive in the order they were sent. The default
    /// refuses: a group without point-to-point messages.
    fn send(&mut self, to: usize, buf: &[f32]) -> Result<()> {
        let _ = buf;
        Err(DistError::InvalidSetting(format!("this group cannot send to rank {to}: no point-to-point messages")))
    }
    /// The next message rank `from` sent to this rank with [`send`](Self::send),
    /// waiting for it.
    fn recv(&mut self, from: usize) -> Result<Vec<f32>> {
        Err(DistError::InvalidSetting(format!(
            "this group cannot receive from rank {from}: no point-to-point messages"
        )))
    }
    /// The mean over replicas of `tensors` (the same shapes on every replica),
    /// each replica's weighted by its `weight` (the rows its gradients came
    /// from): `Σ wᵣ·tᵣ / Σ wᵣ`, the same values on every replica.
    ///
    /// The default goes through the host: every replica first checks its
    /// number of values against rank 0's (a replica that differs fails with
    /// [`DistError::Mismatch`] and the others' next operation with
    /// [`DistError::PeerLeft`], instead of summing unrelated buckets); then
    /// each tensor is read into a host buffer (without a copy where the backend
    /// allows), scaled by `wᵣ` in place, summed with
    /// [`all_reduce_sum`](Self::all_reduce_sum) in buckets of at most `bucket`
    /// values (the weights' sum in the last one) and divided by `Σ w`. (Sharing the tensors between threads and summing them with the
    /// backend's ops was measured slower on flex: fresh output tensors each
    /// update, and the sum runs on one replica while the others wait.)
    fn all_reduce_mean(&mut self, tensors: Vec<Tensor<1>>, weight: f64, bucket: usize) -> Result<Vec<Tensor<1>>> {
        staged_mean(self, tensors, weight, bucket)
    }
}

/// A borrowed collective is one: a caller can lend its group to an operation
/// that takes one by value (a pipeline) and keep it for what follows.
impl<C: Collective + ?Sized> Collective for &mut C {
    fn rank(&self) -> usize {
        (**self).rank()
    }
    fn world(&self) -> usize {
        (**self).world()
    }
    fn all_reduce_sum(&mut self, buf: &mut [f32]) -> Result<()> {
        (**self).all_reduce_sum(buf)
    }
    fn all_reduce_sum_many(&mut self, bufs: &mut [&mut [f32]]) -> Result<()> {
        (**self).all_reduce_sum_many(bufs)
    }
    fn broadcast(&mut self, buf: &mut [f32], root: usize) -> Result<()> {
        (**self).broadcast(buf, root)
    }
    fn barrier(&mut self) -> Result<()> {
        (**self).barrier()
    }
    fn send(&mut self, to: usize, buf: &[f32]) -> Result<()> {
        (**self).send(to, buf)
    }
    fn recv(&mut self, from: usize) -> Result<Vec<f32>> {
        (**self).recv(from)
    }
    fn all_reduce_mean(&mut self, tensors: Vec<Tensor<1>>, weight: f64, bucket: usize) -> Result<Vec<Tensor<1>>> {
        (**self).all_reduce_mean(tensors, weight, bucket)
    }
}

/// [`Collective::all_reduce_mean`]'s default: through host buffers and
/// [`Collective::all_reduce_sum_many`] in buckets.
fn staged_mean<C: Collective + ?Sized>(
    collective: &mut C,
    tensors: Vec<Tensor<1>>,
    weight: f64,
    bucket: usize,
) -> Result<Vec<Tensor<1>>> {
    let bucket = bucket.max(1);
    // Replicas with different numbers of values would cut different buckets and
    // could pair them silently: every replica checks its count against rank 0's
    // (exactly, in 24-bit halves) and leaves on a difference, which ends the
    // others' next operation.
    let count: usize = tensors.iter().map(|t| t.dims()[0]).sum();
    let halves = |n: usize| [(n >> 24) as f32, (n & 0xFF_FFFF) as f32];
    let mut first = halves(count);
    collective.broadcast(&mut first, 0)?;
    if first != halves(count) {
        let expected = ((first[0] as usize) << 24) + first[1] as usize;
        return Err(DistError::Mismatch { operation: "all-reduce", rank: collective.rank(), expected, got: count });
    }
    let (devices, mut host) = to_host(tensors)?;
    for values in &mut host {
        values.iter_mut().for_each(|v| *v *= weight as f32);
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
                collective.all_reduce_sum_many(&mut group)?;
                group.clear();
                size = 0;
            }
            size += piece.len();
            group.push(piece);
        }
        collective.all_reduce_sum_many(&mut group)?;
    }
    let inverse = if total[0] > 0.0 { 1.0 / total[0] } else { 0.0 };
    for values in &mut host {
        values.iter_mut().for_each(|v| *v *= inverse);
    }
    Ok(to_tensors(host, devices))
}

/// Each tensor's device and values in a host buffer (without a copy where the
/// backend allows).
fn to_host(tensors: Vec<Tensor<1>>) -> Result<(Vec<Device>, Vec<Vec<f32>>)> {
    let mut devices = Vec::with_capacity(tensors.len());
    let mut host = Vec::with_capacity(tensors.len());
    for t in tensors {
        devices.push(t.device());
        host.push(
            t.into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .map_err(|e| DistError::InvalidSetting(format!("cannot read a tensor to all-reduce: {e:?}")))?,
        );
    }
    Ok((devices, host))
}

/// Host buffers back into tensors on their devices.
fn to_tensors(host: Vec<Vec<f32>>, devices: Vec<Device>) -> Vec<Tensor<1>> {
    host.into_iter()
        .zip(devices)
        .map(|(values, device)| {
            let n = values.len();
            Tensor::from_data(TensorData::new(values, [n]), &device)
        })
        .collect()
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
                inputs: vec![Vec::new(); world],
                result: Vec::new(),
                left: None,
                mismatch: None,
            }),
            cond: Condvar::new(),
            contributions: (0..world).map(|_| RwLock::default()).collect(),
            parts: (0..world).map(|_| RwLock::default()).collect(),
        });
        // One channel per ordered pair of ranks: outboxes[from][to], inboxes[to][from].
        let mut outboxes: Vec<Vec<Sender<Vec<f32>>>> = (0..world).map(|_| Vec::with_capacity(world)).collect();
        let mut inboxes: Vec<Vec<Option<Receiver<Vec<f32>>>>> =
            (0..world).map(|_| (0..world).map(|_| None).collect()).collect();
        for (from, outbox) in outboxes.iter_mut().enumerate() {
            for inbox in inboxes.iter_mut() {
                let (tx, rx) = channel();
                outbox.push(tx);
                inbox[from] = Some(rx);
            }
        }
        Ok(outboxes
            .into_iter()
            .zip(inboxes)
            .enumerate()
            .map(|(rank, (outbox, inbox))| ThreadCollective {
                rank,
                shared: Arc::clone(&shared),
                finished: false,
                outbox,
                inbox: inbox.into_iter().flatten().collect(),
            })
            .collect())
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
    /// Each replica's contribution to the weighted mean under way.
    contributions: Vec<RwLock<Contribution>>,
    /// Each replica's share of the weighted mean's result.
    parts: Vec<RwLock<Vec<f32>>>,
}

/// One replica's contribution to [`ThreadCollective`]'s weighted mean: its
/// weight and its tensors' values, moved in without a copy.
#[derive(Debug, Default)]
struct Contribution {
    weight: f64,
    values: Vec<Vec<f32>>,
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
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
    /// Each replica's buffers (concatenated) in the operation under way.
    inputs: Vec<Vec<f32>>,
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
    /// Point-to-point messages to each rank.
    outbox: Vec<Sender<Vec<f32>>>,
    /// Point-to-point messages from each rank.
    inbox: Vec<Receiver<Vec<f32>>>,
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

    /// One operation: every replica leaves its buffers (concatenated) in its
    /// input slot; the last to arrive `combine`s all inputs, in rank order (so
    /// the result does not depend on who came first), into the result; everyone
    /// copies the result back into its buffers.
    fn operate(
        &mut self,
        operation: &'static str,
        bufs: &mut [&mut [f32]],
        combine: impl FnOnce(&[Vec<f32>], &mut Vec<f32>),
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
        let input = &mut state.inputs[self.rank];
        input.clear();
        bufs.iter().for_each(|b| input.extend_from_slice(b));
        state.arrived += 1;
        if state.arrived == shared.world {
            state.arrived = 0;
            state.generation += 1;
            if state.mismatch.is_none_or(|m| m.0 != generation) {
                let State { inputs, result, .. } = &mut *state;
                combine(inputs, result);
            }
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

    fn send(&mut self, to: usize, buf: &[f32]) -> Result<()> {
        let outbox = self.outbox.get(to).ok_or_else(|| {
            DistError::InvalidSetting(format!("send to rank {to} in a group of {}", self.shared.world))
        })?;
        outbox.send(buf.to_vec()).map_err(|_| DistError::PeerLeft { rank: to, operation: "send" })
    }

    fn recv(&mut self, from: usize) -> Result<Vec<f32>> {
        let inbox = self.inbox.get(from).ok_or_else(|| {
            DistError::InvalidSetting(format!("receive from rank {from} in a group of {}", self.shared.world))
        })?;
        inbox.recv_timeout(self.shared.timeout).map_err(|e| match e {
            RecvTimeoutError::Timeout => {
                DistError::Timeout { operation: "receive", seconds: self.shared.timeout.as_secs_f64() }
            }
            RecvTimeoutError::Disconnected => DistError::PeerLeft { rank: from, operation: "receive" },
        })
    }

    fn world(&self) -> usize {
        self.shared.world
    }

    fn all_reduce_sum(&mut self, buf: &mut [f32]) -> Result<()> {
        self.all_reduce_sum_many(&mut [buf])
    }

    fn all_reduce_sum_many(&mut self, bufs: &mut [&mut [f32]]) -> Result<()> {
        self.operate("all-reduce", bufs, |inputs, sum| {
            sum.clear();
            sum.extend_from_slice(&inputs[0]);
            for input in &inputs[1..] {
                sum.iter_mut().zip(input).for_each(|(s, v)| *s += v);
            }
        })
    }

    /// The weighted mean without a lock held over the arithmetic: every replica
    /// moves its values into its own slot, then computes its `1/world` share of
    /// the result from every slot at once (in rank order, so every element is
    /// computed once, the same way, whatever the timing), then copies every
    /// share into its own buffers. Three passes over the values per replica, in
    /// parallel, where the bucketed [`all_reduce_sum`](Self::all_reduce_sum)
    /// scales, sums and copies them one replica after the other under the
    /// group's lock: a third of the time at 262 144 values on two replicas
    /// (`cargo xtask bench distributed`; the MLP's gradients are 235 146). `bucket` does not apply:
    /// nothing is staged. Below 8 192 values, where the second wait costs more
    /// than the parallel arithmetic saves, it goes the staged way.
    fn all_reduce_mean(&mut self, tensors: Vec<Tensor<1>>, weight: f64, bucket: usize) -> Result<Vec<Tensor<1>>> {
        const OPERATION: &str = "all-reduce";
        if tensors.iter().map(|t| t.dims()[0]).sum::<usize>() < SMALL_MEAN {
            return staged_mean(self, tensors, weight, bucket);
        }
        let (devices, values) = to_host(tensors)?;
        let shared = Arc::clone(&self.shared);
        *write(&shared.contributions[self.rank]) = Contribution { weight, values };
        self.operate(OPERATION, &mut [], |_, _| {})?;
        {
            let all: Vec<_> = shared.contributions.iter().map(read).collect();
            // Every replica checks the same slots, so all fail alike.
            let lens: Vec<usize> = all[0].values.iter().map(Vec::len).collect();
            let expected: usize = lens.iter().sum();
            for (rank, c) in all.iter().enumerate().skip(1) {
                if c.values.len() != lens.len() || c.values.iter().zip(&lens).any(|(v, &n)| v.len() != n) {
                    let got = c.values.iter().map(Vec::len).sum();
                    return Err(DistError::Mismatch { operation: OPERATION, rank, expected, got });
                }
            }
            let total: f64 = all.iter().map(|c| c.weight).sum();
            let scales: Vec<f32> =
                all.iter().map(|c| if total > 0.0 { (c.weight / total) as f32 } else { 0.0 }).collect();
            let (lo, hi) = share(expected, self.rank, shared.world);
            let mut part = write(&shared.parts[self.rank]);
            part.clear();
            part.resize(hi - lo, 0.0);
            let mut offset = 0;
            for (i, &n) in lens.iter().enumerate() {
                let (a, b) = (lo.max(offset), hi.min(offset + n));
                if a < b {
                    let out = &mut part[a - lo..b - lo];
                    for (k, (c, &scale)) in all.iter().zip(&scales).enumerate() {
                        let src = &c.values[i][a - offset..b - offset];
                        if k == 0 {
                            out.iter_mut().zip(src).for_each(|(o, v)| *o = v * scale);
                        } else {
                            out.iter_mut().zip(src).for_each(|(o, v)| *o += v * scale);
                        }
                    }
                }
                offset += n;
            }
        }
        self.operate(OPERATION, &mut [], |_, _| {})?;
        // No replica reads the slots again in this operation: the result goes
        // into this replica's own values.
        let mut mine = write(&shared.contributions[self.rank]);
        let parts: Vec<_> = shared.parts.iter().map(read).collect();
        let mut shares = parts.iter().map(|p| &p[..]);
        let mut from: &[f32] = &[];
        for values in &mut mine.values {
            let mut to = &mut values[..];
            while !to.is_empty() {
                if from.is_empty() {
                    match shares.next() {
                        Some(next) => from = next,
                        None => break,
                    }
                    continue;
                }
                let k = from.len().min(to.len());
                to[..k].copy_from_slice(&from[..k]);
                (to, from) = (&mut to[k..], &from[k..]);
            }
        }
        Ok(to_tensors(std::mem::take(&mut mine.values), devices))
    }

    fn broadcast(&mut self, buf: &mut [f32], root: usize) -> Result<()> {
        if root >= self.shared.world {
            return Err(DistError::InvalidSetting(format!(
                "broadcast from replica {root} in a group of {}",
                self.shared.world
            )));
        }
        self.operate("broadcast", &mut [buf], |inputs, result| {
            result.clear();
            result.extend_from_slice(&inputs[root]);
        })
    }
}

/// Below this many values [`ThreadCollective::all_reduce_mean`] goes the staged
/// way (one wait instead of two): measured faster up to 4 096 values, slower
/// from 16 384.
const SMALL_MEAN: usize = 8192;

/// The range of `len` values replica `rank` of `world` computes.
fn share(len: usize, rank: usize, world: usize) -> (usize, usize) {
    (len * rank / world, len * (rank + 1) / world)
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
    fn point_to_point_messages_arrive_in_order_and_a_leaver_is_named() {
        let got = run(3, |mut c| {
            let r = c.rank();
            if r == 0 {
                c.send(2, &[1.0, 2.0]).unwrap();
                c.send(2, &[3.0]).unwrap();
                c.send(1, &[]).unwrap();
                Vec::new()
            } else if r == 1 {
                let empty = c.recv(0).unwrap();
                assert!(empty.is_empty());
                // Rank 2 leaves without sending: the wait ends with its name.
                assert!(matches!(c.recv(2), Err(DistError::PeerLeft { rank: 2, operation: "receive" })));
                c.finish();
                Vec::new()
            } else {
                let mut got = c.recv(0).unwrap();
                got.extend(c.recv(0).unwrap());
                got
            }
        });
        assert_eq!(got[2], vec![1.0, 2.0, 3.0]);
        let mut members = ThreadGroup::new(1, Duration::from_millis(20)).unwrap();
        let c = &mut members[0];
        assert!(c.send(1, &[1.0]).is_err());
        c.send(0, &[4.0]).unwrap();
        assert_eq!(c.recv(0).unwrap(), vec![4.0]);
        assert!(matches!(c.recv(0), Err(DistError::Timeout { .. })));
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
    fn the_sum_is_in_rank_order_whoever_arrives_last() {
        // In f32, (1e8 + 1) - 1e8 = 0 but (1e8 - 1e8) + 1 = 1: rank order gives 0
        // even when replica 1 arrives last.
        let out = run(3, |mut c| {
            let mut buf = [[1e8f32, 1.0, -1e8][c.rank()]];
            if c.rank() == 1 {
                std::thread::sleep(Duration::from_millis(50));
            }
            c.all_reduce_sum(&mut buf).unwrap();
            c.finish();
            buf[0]
        });
        assert_eq!(out, [0.0; 3]);
    }

    /// Rank `r`'s tensors of lengths `lens`, weighted `r + 1`.
    fn weighted_mean_inputs(rank: usize, lens: &[usize]) -> (Vec<Tensor<1>>, f64) {
        let device = Device::flex();
        let tensors = lens
            .iter()
            .enumerate()
            .map(|(t, &n)| {
                let values: Vec<f32> = (0..n).map(|i| (rank * 100 + t * 10 + i) as f32 * 0.37 - 5.0).collect();
                Tensor::from_data(TensorData::new(values, [n]), &device)
            })
            .collect();
        (tensors, (rank + 1) as f64)
    }

    #[test]
    fn the_weighted_mean_is_every_replicas_values_weighted_by_rows() {
        // 13 values go the staged way; 12 001 the parallel one, whose three
        // shares of 4 000 and 4 001 values cut across the tensors.
        weighted_mean_of(&[5, 1, 7]);
        weighted_mean_of(&[5000, 1, 7000]);
    }

    fn weighted_mean_of(lens: &[usize]) {
        let world = 3;
        let out = run(world, |mut c| {
            let mut rounds = Vec::new();
            // Several rounds: the slots are reused without a replica overtaking another.
            for _ in 0..50 {
                let (tensors, weight) = weighted_mean_inputs(c.rank(), lens);
                let mean = c.all_reduce_mean(tensors, weight, 1).unwrap();
                rounds.push(mean.into_iter().map(|t| t.into_data().try_to_vec::<f32>().unwrap()).collect::<Vec<_>>());
            }
            c.finish();
            rounds
        });
        let total: f64 = (1..=world).map(|w| w as f64).sum();
        for (t, values) in out[0][0].iter().enumerate() {
            assert_eq!(values.len(), lens[t]);
            for (i, &got) in values.iter().enumerate() {
                let expected: f64 = (0..world)
                    .map(|r| ((r * 100 + t * 10 + i) as f32 * 0.37 - 5.0) as f64 * (r + 1) as f64 / total)
                    .sum();
                let got = got as f64;
                assert!(
                    (got - expected).abs() < 1e-6 * expected.abs().max(1.0),
                    "tensor {t}[{i}]: {got} vs {expected}"
                );
            }
        }
        // Every replica and every round holds the same bits.
        for replica in &out {
            for round in replica {
                assert_eq!(
                    round.iter().flatten().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    out[0][0].iter().flatten().map(|v| v.to_bits()).collect::<Vec<_>>()
                );
            }
        }
    }

    #[test]
    fn the_weighted_mean_of_different_models_is_a_mismatch_on_every_replica() {
        let out = run(2, |mut c| {
            let lens: &[usize] = if c.rank() == 0 { &[9000, 1] } else { &[9000, 2] };
            let (tensors, weight) = weighted_mean_inputs(c.rank(), lens);
            c.all_reduce_mean(tensors, weight, 1).map(|_| ())
        });
        for r in out {
            assert!(matches!(r, Err(DistError::Mismatch { rank: 1, expected: 9001, got: 9002, .. })), "{r:?}");
        }
        // The staged way, in buckets of one value: the replica that differs from
        // rank 0 leaves with the mismatch, and rank 0 learns that it left.
        let out = run(2, |mut c| {
            let lens: &[usize] = if c.rank() == 0 { &[5, 1] } else { &[5, 2] };
            let (tensors, weight) = weighted_mean_inputs(c.rank(), lens);
            c.all_reduce_mean(tensors, weight, 1).map(|_| ())
        });
        assert!(matches!(out[0], Err(DistError::PeerLeft { rank: 1, .. })), "{:?}", out[0]);
        assert!(matches!(out[1], Err(DistError::Mismatch { rank: 1, expected: 6, got: 7, .. })), "{:?}", out[1]);
    }

    #[test]
    fn settings_are_checked() {
        assert!(ThreadGroup::new(0, Duration::from_secs(1)).is_err());
        assert!(ThreadGroup::new(2, Duration::ZERO).is_err());
    }
}
