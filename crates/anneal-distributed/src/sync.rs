//! The training hook that makes replicas one data-parallel run: gradients
//! all-reduced before every update, epoch records agreed after every epoch.

use std::time::Instant;

use anneal_train::{EpochRecord, ParamLayout, StepInfo, TrainHook};
use burn::optim::GradientsParams;

use crate::collective::Collective;

/// Default bucket size of the gradient all-reduce, in `f32` values (25 MB, as
/// PyTorch's DistributedDataParallel).
pub const DEFAULT_BUCKET_VALUES: usize = 25 * 1024 * 1024 / 4;

/// Time spent in the gradient all-reduce, for the report and the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SyncStats {
    /// Updates whose gradients were all-reduced.
    pub updates: usize,
    /// Gradient values all-reduced per update.
    pub values: usize,
    /// Seconds spent in the hook's gradient work (collecting, all-reducing and
    /// putting back the gradients).
    pub seconds: f64,
    /// Of those, the seconds inside the all-reduce itself (waiting for the
    /// slowest replica included).
    pub reduce_seconds: f64,
}

/// A [`TrainHook`] that keeps data-parallel replicas in step through a
/// [`Collective`]:
///
/// - in [`after_backward`](TrainHook::after_backward), every gradient (in the
///   model's parameter order) is replaced by the mean over replicas, weighted by
///   the rows each replica's update saw ([`Collective::all_reduce_mean`]; host
///   collectives flatten the gradients into buckets of
///   [`bucket_values`](Self::with_bucket_values)): the gradient of the global
///   batch, so every replica takes the same optimiser step (a world of one
///   keeps its gradients as they are: one replica trains exactly as the plain
///   loop does);
/// - in [`reduce_record`](TrainHook::reduce_record), the epoch's training
///   metrics become the means over every replica's rows and the validation
///   metrics rank 0's, so early stopping, schedules and hooks decide the same on
///   every replica.
///
/// A failed operation (a peer left or timed out) ends the run through
/// [`failure`](TrainHook::failure).
///
/// burn computes all gradients in one backward call, so the all-reduce cannot
/// overlap the backward pass; it runs after it.
#[derive(Debug)]
pub struct GradientSync<C> {
    collective: C,
    layout: Option<ParamLayout>,
    bucket_values: usize,
    rows_since_update: usize,
    rows_this_epoch: usize,
    failure: Option<String>,
    stats: SyncStats,
}

impl<C: Collective> GradientSync<C> {
    /// A hook over `collective`.
    pub fn new(collective: C) -> Self {
        Self {
            collective,
            layout: None,
            bucket_values: DEFAULT_BUCKET_VALUES,
            rows_since_update: 0,
            rows_this_epoch: 0,
            failure: None,
            stats: SyncStats::default(),
        }
    }

    /// All-reduces the gradients in buckets of at most `values` values (at least
    /// 1) where the collective goes through host buffers.
    pub fn with_bucket_values(mut self, values: usize) -> Self {
        self.bucket_values = values.max(1);
        self
    }

    /// Time spent synchronising so far.
    pub fn stats(&self) -> SyncStats {
        self.stats
    }

    /// The collective back (to finish it, or for more operations after training).
    pub fn into_collective(self) -> C {
        self.collective
    }

    /// The collective, for exchanges of the caller's own between the same replicas.
    pub fn collective_mut(&mut self) -> &mut C {
        &mut self.collective
    }

    fn fail(&mut self, what: &str, e: crate::DistError) {
        if self.failure.is_none() {
            self.failure = Some(format!("data-parallel {what} failed on replica {}: {e}", self.collective.rank()));
        }
    }
}

impl<C: Collective> TrainHook for GradientSync<C> {
    fn on_layout(&mut self, layout: &ParamLayout) {
        self.layout = Some(layout.clone());
    }

    fn on_epoch_start(&mut self, _epoch: usize) {
        self.rows_this_epoch = 0;
    }

    fn on_batch_start(&mut self, step: &StepInfo) {
        self.rows_since_update += step.batch_len;
        self.rows_this_epoch += step.batch_len;
    }

    fn after_backward(&mut self, _step: &StepInfo, grads: &mut GradientsParams) {
        if self.failure.is_some() {
            return;
        }
        if self.collective.world() == 1 {
            // The mean over one replica is its own gradient: no round trip
            // through host buffers, so one replica trains as the plain loop does.
            self.rows_since_update = 0;
            return;
        }
        let Some(layout) = self.layout.take() else {
            self.failure = Some("data-parallel gradient sync: the loop gave no parameter layout".into());
            return;
        };
        let start = Instant::now();
        let weight = self.rows_since_update as f64;
        self.rows_since_update = 0;
        let taken = layout.take_gradients_flat(grads);
        let values = taken.iter().map(|(_, t)| t.dims()[0]).sum();
        let (indices, tensors): (Vec<usize>, Vec<_>) = taken.into_iter().unzip();
        let count = tensors.len();
        let reduce = Instant::now();
        let reduced = match self.collective.all_reduce_mean(tensors, weight, self.bucket_values) {
            Ok(r) if r.len() == count => r,
            Ok(r) => {
                self.failure = Some(format!(
                    "data-parallel gradient all-reduce returned {} tensors for {count} gradients",
                    r.len()
                ));
                self.layout = Some(layout);
                return;
            }
            Err(e) => {
                self.fail("gradient all-reduce", e);
                self.layout = Some(layout);
                return;
            }
        };
        self.stats.reduce_seconds += reduce.elapsed().as_secs_f64();
        if let Err(e) = layout.put_gradients(grads, indices.into_iter().zip(reduced).collect()) {
            self.failure = Some(format!("data-parallel gradient sync: {e}"));
        }
        self.stats.values = values;
        self.layout = Some(layout);
        self.stats.updates += 1;
        self.stats.seconds += start.elapsed().as_secs_f64();
    }

    fn reduce_record(&mut self, record: &mut EpochRecord) {
        if self.failure.is_some() {
            return;
        }
        // Every replica's values, bit for bit, then the same f64 arithmetic in the
        // same order on every replica: the records agree exactly.
        let keys: Vec<String> = record.metrics.keys().cloned().collect();
        let mine: Vec<f64> = [self.rows_this_epoch as f64, record.train_loss]
            .into_iter()
            .chain(keys.iter().map(|k| record.metrics[k]))
            .collect();
        let all = match all_gather_f64(&mut self.collective, &mine) {
            Ok(all) => all,
            Err(e) => return self.fail("epoch-record exchange", e),
        };
        let rows: f64 = all.iter().map(|v| v[0]).sum();
        let mean = |i: usize| -> f64 {
            if rows > 0.0 { all.iter().map(|v| v[i] * v[0]).sum::<f64>() / rows } else { all[0][i] }
        };
        record.train_loss = mean(1);
        for (i, key) in keys.iter().enumerate() {
            let value = if key.starts_with("train_") { mean(i + 2) } else { all[0][i + 2] };
            record.metrics.insert(key.clone(), value);
        }
    }

    fn failure(&mut self) -> Option<String> {
        self.failure.take()
    }
}

/// Every replica's `values` (the same length on all), in rank order, exactly:
/// each `f64` travels as its two 32-bit halves through broadcasts, which copy
/// and never add.
pub fn all_gather_f64(collective: &mut impl Collective, values: &[f64]) -> Result<Vec<Vec<f64>>, crate::DistError> {
    let mine = to_halves(values);
    let mut all = Vec::with_capacity(collective.world());
    for root in 0..collective.world() {
        let mut buf = if root == collective.rank() { mine.clone() } else { vec![0.0; mine.len()] };
        collective.broadcast(&mut buf, root)?;
        all.push(from_halves(&buf));
    }
    Ok(all)
}

/// Rank `root`'s `values` on every rank, exactly (as [`all_gather_f64`] sends them).
pub fn broadcast_f64(
    collective: &mut impl Collective,
    values: &[f64],
    root: usize,
) -> Result<Vec<f64>, crate::DistError> {
    let mut halves = to_halves(values);
    collective.broadcast(&mut halves, root)?;
    Ok(from_halves(&halves))
}

/// Each `f64` as the bit patterns of two `f32`s (a broadcast copies them, it never computes).
fn to_halves(values: &[f64]) -> Vec<f32> {
    values
        .iter()
        .flat_map(|v| {
            let bits = v.to_bits();
            [f32::from_bits((bits >> 32) as u32), f32::from_bits(bits as u32)]
        })
        .collect()
}

fn from_halves(halves: &[f32]) -> Vec<f64> {
    halves
        .chunks_exact(2)
        .map(|h| f64::from_bits((u64::from(h[0].to_bits()) << 32) | u64::from(h[1].to_bits())))
        .collect()
}
