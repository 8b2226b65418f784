//! What the training loop iterates over, split in three parts:
//!
//! - a [`Dataset`] knows its rows and turns any set of them into a [`Batch`] of
//!   tensors (the batcher): tabular rows today ([`ClassificationData`],
//!   [`RegressionData`], [`TabularData`]), image, token and audio batches next;
//! - a [`BatchSampler`] decides which rows go into each batch of an epoch, and in
//!   what order ([`ShuffledBatches`], [`SequentialBatches`], [`FullBatch`]; later
//!   curriculum pacing, class balancing or a data-parallel shard);
//! - [`Targets`] are a dataset's targets on the host, in the units the user gave
//!   them, for metrics.
//!
//! ```
//! use anneal_data::dataset::{BatchSampler, Dataset, ShuffledBatches, Target};
//! use anneal_data::{LastBatch, RegressionData};
//! use burn::prelude::*;
//!
//! let data = RegressionData::new(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, vec![0.5, 1.5, 2.5], 1)?;
//! let sampler = ShuffledBatches { batch_size: 2, seed: 7, last: LastBatch::Keep };
//! let epoch = sampler.batches(data.len(), 1)?;
//! assert_eq!(epoch.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);
//! let batch = Dataset::batch(&data, &epoch[0], &Device::flex());
//! assert_eq!(batch.input.dims(), [2, 2]);
//! assert!(matches!(batch.target, Target::Values(ref y) if y.dims() == [2, 1]));
//! # Ok::<(), anneal_data::DataError>(())
//! ```

use burn::prelude::*;

use crate::batch::{ClassificationData, LastBatch, RegressionData, epoch_batches};
use crate::error::{DataError, Result};
use crate::rng::{SeededRng, Stream};

/// The targets of a batch, as tensors on the batch's device.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant, reason = "one value per batch, moved a few times: boxing would buy nothing")]
pub enum Target {
    /// One class code per row: `[batch]`.
    Classes(Tensor<1, Int>),
    /// `n_targets` values per row: `[batch, n_targets]`.
    Values(Tensor<2>),
    /// Two class codes per row and the weight of the first, from mixing two
    /// images (mixup, CutMix): a row's loss is `weight · loss(first) + (1 − weight) ·
    /// loss(second)`. All three are `[batch]`.
    Mixed {
        /// The class of the row's own image.
        first: Tensor<1, Int>,
        /// The class of the image mixed into it.
        second: Tensor<1, Int>,
        /// The share of the first image, in `[0, 1]`.
        weight: Tensor<1>,
    },
    /// Class codes and a teacher model's outputs for the same rows (knowledge
    /// distillation): the student learns from both.
    Taught {
        /// One class code per row: `[batch]`.
        classes: Tensor<1, Int>,
        /// The teacher's logits, or its log-probabilities (the same up to a
        /// per-row shift, which a softmax ignores): `[batch, classes]`.
        teacher: Tensor<2>,
    },
    /// Several tasks' targets for the same rows (multi-task learning), in the
    /// order of the model's heads; a row may lack some tasks' labels.
    Tasks(Vec<TaskTarget>),
}

/// One task's targets in a multi-task batch ([`Target::Tasks`]).
#[derive(Debug, Clone)]
pub struct TaskTarget {
    /// [`Target::Classes`] or [`Target::Values`]; a row without this task's label
    /// holds class 0 or zeros, which `present` masks out.
    pub target: Target,
    /// `[batch]`: 1 where the row has this task's label, 0 where it is missing.
    pub present: Tensor<1>,
}

/// A batch: the model's input and the targets it is trained towards.
#[derive(Debug, Clone)]
pub struct Batch<I> {
    /// What the model reads (for tabular rows a `[batch, features]` tensor).
    pub input: I,
    /// What the model should predict.
    pub target: Target,
}

/// A dataset's targets on the host, in the units the user gave them (a target
/// transform used for training already inverted).
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// One class code per row.
    Classes(Vec<usize>),
    /// Row-major values, `n_targets` per row.
    Values {
        /// The values.
        values: Vec<f32>,
        /// Targets per row.
        n_targets: usize,
    },
    /// Several tasks' targets (multi-task learning), in the order of the model's heads.
    Tasks(Vec<TaskTargets>),
}

/// One task's targets on the host ([`Targets::Tasks`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskTargets {
    /// The task's name.
    pub name: String,
    /// [`Targets::Classes`] or [`Targets::Values`], one entry per row (a row
    /// without this task's label holds class 0 or zeros).
    pub targets: Targets,
    /// Whether each row has this task's label.
    pub present: Vec<bool>,
}

impl Targets {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes(c) => c.len(),
            Targets::Values { values, n_targets } => values.len() / (*n_targets).max(1),
            Targets::Tasks(tasks) => tasks.first().map_or(0, |t| t.present.len()),
        }
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The class codes, for class targets.
    pub fn classes(&self) -> Option<&[usize]> {
        match self {
            Targets::Classes(c) => Some(c),
            Targets::Values { .. } | Targets::Tasks(_) => None,
        }
    }

    /// Target `j` of every row as `f64`, for value targets.
    pub fn column(&self, j: usize) -> Option<Vec<f64>> {
        match self {
            Targets::Values { values, n_targets } if j < *n_targets => {
                Some(values.iter().skip(j).step_by(*n_targets).map(|&v| f64::from(v)).collect())
            }
            _ => None,
        }
    }
}

/// Rows that can be cut into batches of tensors: the batcher half of a dataset.
///
/// A new kind of data (images, token sequences, audio) implements this with its
/// own [`Input`](Dataset::Input); the training loop needs nothing else from it.
pub trait Dataset {
    /// What a model reads from one batch (a `[batch, features]` tensor for tabular rows).
    type Input;

    /// Number of rows.
    fn len(&self) -> usize;

    /// Whether there are no rows.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows `rows` as a batch on `device`. Rows come from a [`BatchSampler`]
    /// over `0..len()`.
    fn batch(&self, rows: &[usize], device: &Device) -> Batch<Self::Input>;

    /// The rows `rows` as a batch for training in epoch `epoch` (1-based): the
    /// place where a dataset augments its training batches ([`Augmented`]). The
    /// training loop calls this for training batches and [`batch`](Dataset::batch)
    /// for everything it only evaluates, so validation and test rows are never
    /// augmented. The default is [`batch`](Dataset::batch).
    fn train_batch(&self, rows: &[usize], epoch: usize, device: &Device) -> Result<Batch<Self::Input>> {
        let _ = epoch;
        Ok(self.batch(rows, device))
    }

    /// Whether training batches cost enough to prepare that the loop should build
    /// the next one on another thread while the current one trains (an augmenting
    /// dataset says so). The default is no.
    fn prefetch(&self) -> bool {
        false
    }

    /// Every row's target in the user's units.
    fn all_targets(&self) -> Targets;

    /// Maps model predictions in the units the model was trained on (row-major,
    /// one value per target) back to the user's units: the inverse of a target
    /// transform. The default changes nothing.
    fn decode_predictions(&self, _values: &mut [f32]) {}
}

/// A reference to a dataset is the dataset (so [`Augmented`] can wrap a borrowed one).
impl<D: Dataset + ?Sized> Dataset for &D {
    type Input = D::Input;

    fn len(&self) -> usize {
        (**self).len()
    }

    fn batch(&self, rows: &[usize], device: &Device) -> Batch<D::Input> {
        (**self).batch(rows, device)
    }

    fn train_batch(&self, rows: &[usize], epoch: usize, device: &Device) -> Result<Batch<D::Input>> {
        (**self).train_batch(rows, epoch, device)
    }

    fn prefetch(&self) -> bool {
        (**self).prefetch()
    }

    fn all_targets(&self) -> Targets {
        (**self).all_targets()
    }

    fn decode_predictions(&self, values: &mut [f32]) {
        (**self).decode_predictions(values)
    }
}

/// Changes training batches (data augmentation), given the rows they hold and
/// the epoch, so that it can draw each row's changes from a generator of its own
/// (an augmented epoch then replays exactly). Most augmentations change the input
/// only; mixing ones (mixup, CutMix) also turn class targets into
/// [`Target::Mixed`].
pub trait BatchAugment<I>: Send + Sync {
    /// The augmented batch of `rows` in `epoch`.
    fn augment(&self, batch: Batch<I>, rows: &[usize], epoch: usize) -> Result<Batch<I>>;
}

/// A dataset whose training batches pass through augmentations, in order (and
/// whose evaluation batches do not): wrap the training part with
/// [`Augmented::new`] (and [`then`](Augmented::then) for more) and the
/// validation part with [`Augmented::plain`], so both have the one type the
/// training loop takes.
pub struct Augmented<'a, D: Dataset> {
    inner: D,
    augments: Vec<&'a dyn BatchAugment<D::Input>>,
}

impl<'a, D: Dataset> Augmented<'a, D> {
    /// `inner`, its training batches augmented by `augment`.
    pub fn new(inner: D, augment: &'a dyn BatchAugment<D::Input>) -> Self {
        Self { inner, augments: vec![augment] }
    }

    /// `inner` unchanged.
    pub fn plain(inner: D) -> Self {
        Self { inner, augments: Vec::new() }
    }

    /// The same, with `next` applied to training batches after the augmentations
    /// so far (an image augmentation, then a teacher's targets).
    pub fn then(mut self, next: &'a dyn BatchAugment<D::Input>) -> Self {
        self.augments.push(next);
        self
    }

    /// The wrapped dataset.
    pub fn inner(&self) -> &D {
        &self.inner
    }
}

impl<D: Dataset> Dataset for Augmented<'_, D> {
    type Input = D::Input;

    fn len(&self) -> usize {
        self.inner.len()
    }

    fn batch(&self, rows: &[usize], device: &Device) -> Batch<D::Input> {
        self.inner.batch(rows, device)
    }

    fn train_batch(&self, rows: &[usize], epoch: usize, device: &Device) -> Result<Batch<D::Input>> {
        let mut batch = self.inner.train_batch(rows, epoch, device)?;
        for augment in &self.augments {
            batch = augment.augment(batch, rows, epoch)?;
        }
        Ok(batch)
    }

    fn prefetch(&self) -> bool {
        !self.augments.is_empty() || self.inner.prefetch()
    }

    fn all_targets(&self) -> Targets {
        self.inner.all_targets()
    }

    fn decode_predictions(&self, values: &mut [f32]) {
        self.inner.decode_predictions(values)
    }
}

/// Decides the rows of each batch of an epoch.
pub trait BatchSampler {
    /// The batches of epoch `epoch` (1-based) over `n` rows.
    fn batches(&self, n: usize, epoch: usize) -> Result<Vec<Vec<usize>>>;

    /// Whether the sampler chooses rows by the model's current loss on them
    /// (self-paced learning): the training loop then computes every row's loss
    /// before each epoch and passes it to
    /// [`observe_losses`](BatchSampler::observe_losses). Default: no.
    fn needs_losses(&self) -> bool {
        false
    }

    /// The current model's loss on every row (in row order), before epoch
    /// `epoch`'s batches are drawn. Ignored by default.
    fn observe_losses(&self, epoch: usize, losses: &[f64]) -> Result<()> {
        let _ = (epoch, losses);
        Ok(())
    }
}

/// A boxed sampler is a sampler (so a sampler chosen at run time can be wrapped,
/// in [`Sharded`] for instance).
impl<S: BatchSampler + ?Sized> BatchSampler for Box<S> {
    fn batches(&self, n: usize, epoch: usize) -> Result<Vec<Vec<usize>>> {
        (**self).batches(n, epoch)
    }

    fn needs_losses(&self) -> bool {
        (**self).needs_losses()
    }

    fn observe_losses(&self, epoch: usize, losses: &[f64]) -> Result<()> {
        (**self).observe_losses(epoch, losses)
    }
}

/// Mini-batches of the rows shuffled anew each epoch, from the stream
/// [`Stream::Shuffle`]`(epoch)` of `seed` alone (so a resumed run sees the same order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShuffledBatches {
    /// Rows per batch.
    pub batch_size: usize,
    /// The run's seed.
    pub seed: u64,
    /// What to do with a last, smaller batch.
    pub last: LastBatch,
}

impl BatchSampler for ShuffledBatches {
    fn batches(&self, n: usize, epoch: usize) -> Result<Vec<Vec<usize>>> {
        let mut rng = SeededRng::stream(self.seed, Stream::Shuffle(epoch as u64));
        epoch_batches(n, self.batch_size, Some(&mut rng), self.last)
    }
}

/// Mini-batches of the rows in order (evaluation, or data already in a meaningful order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequentialBatches {
    /// Rows per batch.
    pub batch_size: usize,
    /// What to do with a last, smaller batch.
    pub last: LastBatch,
}

impl BatchSampler for SequentialBatches {
    fn batches(&self, n: usize, _epoch: usize) -> Result<Vec<Vec<usize>>> {
        epoch_batches(n, self.batch_size, None, self.last)
    }
}

/// One replica's share of another sampler's batches, for data-parallel
/// training: each global batch of `inner` is cut into `world` contiguous,
/// near-equal parts (sizes differ by at most one row) and replica `rank` gets
/// part `rank`. Every replica draws the same global batches from the same seed,
/// so across replicas each row is seen exactly once per epoch, and the mean of
/// the replicas' gradients (weighted by their parts' sizes) is the gradient of
/// the global batch.
///
/// A global batch with fewer rows than replicas is an error (a replica would get
/// an empty batch), never a silently dropped row.
///
/// ```
/// use anneal_data::dataset::SequentialBatches;
/// use anneal_data::{BatchSampler, LastBatch, Sharded};
///
/// let global = SequentialBatches { batch_size: 4, last: LastBatch::Keep };
/// let rank0 = Sharded::new(global, 0, 2)?;
/// let rank1 = Sharded::new(global, 1, 2)?;
/// assert_eq!(rank0.batches(7, 1)?, [vec![0, 1], vec![4]]);
/// assert_eq!(rank1.batches(7, 1)?, [vec![2, 3], vec![5, 6]]);
/// assert!(Sharded::new(global, 0, 2)?.batches(5, 1).is_err()); // the last batch has 1 row for 2 replicas
/// # Ok::<(), anneal_data::DataError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sharded<S> {
    inner: S,
    rank: usize,
    world: usize,
}

impl<S: BatchSampler> Sharded<S> {
    /// Replica `rank` (0-based) of `world` replicas over `inner`'s global batches.
    pub fn new(inner: S, rank: usize, world: usize) -> Result<Self> {
        if world == 0 || rank >= world {
            return Err(DataError::InvalidBatch(format!(
                "replica {rank} of {world}: the rank must be below the number of replicas"
            )));
        }
        Ok(Self { inner, rank, world })
    }

    /// The range of a global batch of `len` rows that replica `rank` of `world` gets.
    pub fn part(len: usize, rank: usize, world: usize) -> std::ops::Range<usize> {
        (rank * len / world)..((rank + 1) * len / world)
    }
}

impl<S: BatchSampler> BatchSampler for Sharded<S> {
    fn batches(&self, n: usize, epoch: usize) -> Result<Vec<Vec<usize>>> {
        let global = self.inner.batches(n, epoch)?;
        global
            .into_iter()
            .enumerate()
            .map(|(i, batch)| {
                if batch.len() < self.world {
                    return Err(DataError::InvalidBatch(format!(
                        "batch {} of epoch {epoch} has {} row(s), fewer than the {} replicas: choose a batch size \
                         that leaves no such remainder of the {n} rows, or drop the last batch (last_batch = \"drop\")",
                        i + 1,
                        batch.len(),
                        self.world
                    )));
                }
                Ok(batch[Self::part(batch.len(), self.rank, self.world)].to_vec())
            })
            .collect()
    }

    fn needs_losses(&self) -> bool {
        self.inner.needs_losses()
    }

    fn observe_losses(&self, epoch: usize, losses: &[f64]) -> Result<()> {
        self.inner.observe_losses(epoch, losses)
    }
}

/// The whole set as one batch, in order (full-batch gradient descent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FullBatch;

impl BatchSampler for FullBatch {
    fn batches(&self, n: usize, _epoch: usize) -> Result<Vec<Vec<usize>>> {
        Ok(vec![(0..n).collect()])
    }
}

impl Dataset for ClassificationData {
    type Input = Tensor<2>;

    fn len(&self) -> usize {
        ClassificationData::len(self)
    }

    fn batch(&self, rows: &[usize], device: &Device) -> Batch<Tensor<2>> {
        let (input, y) = ClassificationData::batch(self, rows, device);
        Batch { input, target: Target::Classes(y) }
    }

    fn all_targets(&self) -> Targets {
        Targets::Classes(self.targets())
    }
}

impl Dataset for RegressionData {
    type Input = Tensor<2>;

    fn len(&self) -> usize {
        RegressionData::len(self)
    }

    fn batch(&self, rows: &[usize], device: &Device) -> Batch<Tensor<2>> {
        let (input, y) = RegressionData::batch(self, rows, device);
        Batch { input, target: Target::Values(y) }
    }

    fn all_targets(&self) -> Targets {
        let mut values = self.targets().to_vec();
        self.decode_predictions(&mut values);
        Targets::Values { values, n_targets: self.n_targets() }
    }

    fn decode_predictions(&self, values: &mut [f32]) {
        if let Some(t) = self.transform() {
            t.inverse(values);
        }
    }
}

/// Tabular rows with either kind of target: what a run config's pipeline makes.
#[derive(Debug, Clone, PartialEq)]
pub enum TabularData {
    /// Class targets.
    Classification(ClassificationData),
    /// Numeric targets.
    Regression(RegressionData),
    /// Several tasks' targets (multi-task learning).
    MultiTask(crate::multitask::MultiTaskData),
}

impl TabularData {
    /// Number of features per row.
    pub fn n_features(&self) -> usize {
        match self {
            TabularData::Classification(d) => d.n_features(),
            TabularData::Regression(d) => d.n_features(),
            TabularData::MultiTask(d) => d.n_features(),
        }
    }

    /// The row-major features.
    pub fn features(&self) -> &[f32] {
        match self {
            TabularData::Classification(d) => d.features(),
            TabularData::Regression(d) => d.features(),
            TabularData::MultiTask(d) => d.features(),
        }
    }
}

impl Dataset for TabularData {
    type Input = Tensor<2>;

    fn len(&self) -> usize {
        match self {
            TabularData::Classification(d) => Dataset::len(d),
            TabularData::Regression(d) => Dataset::len(d),
            TabularData::MultiTask(d) => Dataset::len(d),
        }
    }

    fn batch(&self, rows: &[usize], device: &Device) -> Batch<Tensor<2>> {
        match self {
            TabularData::Classification(d) => Dataset::batch(d, rows, device),
            TabularData::Regression(d) => Dataset::batch(d, rows, device),
            TabularData::MultiTask(d) => Dataset::batch(d, rows, device),
        }
    }

    fn all_targets(&self) -> Targets {
        match self {
            TabularData::Classification(d) => d.all_targets(),
            TabularData::Regression(d) => d.all_targets(),
            TabularData::MultiTask(d) => d.all_targets(),
        }
    }

    fn decode_predictions(&self, values: &mut [f32]) {
        match self {
            TabularData::Regression(d) => d.decode_predictions(values),
            TabularData::MultiTask(d) => d.decode_predictions(values),
            TabularData::Classification(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samplers_cover_every_row_once() {
        let shuffled = ShuffledBatches { batch_size: 3, seed: 5, last: LastBatch::Keep };
        let a = shuffled.batches(10, 1).unwrap();
        assert_eq!(a, shuffled.batches(10, 1).unwrap(), "same seed and epoch, same order");
        assert_ne!(a, shuffled.batches(10, 2).unwrap(), "each epoch is shuffled anew");
        let mut all = a.concat();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(SequentialBatches { batch_size: 4, last: LastBatch::Drop }.batches(10, 1).unwrap().len(), 2);
        assert_eq!(FullBatch.batches(4, 3).unwrap(), [vec![0, 1, 2, 3]]);
    }

    #[test]
    fn value_targets_come_back_in_user_units() {
        use crate::target::{TargetTransform, TargetTransformKind};
        let y = [10.0, 20.0, 30.0, 40.0];
        let t = TargetTransform::fit(TargetTransformKind::Standard, &y, 1).unwrap();
        let data = RegressionData::new(vec![0.0; 4], 1, t.transform(&y).unwrap(), 1).unwrap().with_transform(t);
        let Targets::Values { values, .. } = data.all_targets() else { panic!("value targets") };
        for (v, want) in values.iter().zip(y) {
            assert!((f64::from(*v) - want).abs() < 1e-4, "{v} vs {want}");
        }
        assert_eq!(data.all_targets().column(0).map(|c| c.len()), Some(4));
    }
}
