//! Mini-batching: a dense feature matrix with class targets
//! ([`ClassificationData`]) or continuous targets ([`RegressionData`]), cut into
//! seeded, shuffled mini-batches of burn tensors.

use burn::prelude::*;

use crate::error::{DataError, Result};
use crate::rng::SeededRng;
use crate::target::TargetTransform;

/// What to do with the last batch when the batch size does not divide the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LastBatch {
    /// Keep the smaller last batch (every row is seen each epoch).
    #[default]
    Keep,
    /// Drop it (every batch has the same size).
    Drop,
}

/// Features (`f32`, row-major) and integer class targets, held on the host and
/// turned into tensors one batch at a time.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassificationData {
    features: Vec<f32>,
    targets: Vec<i64>,
    n_features: usize,
}

impl ClassificationData {
    /// Pairs a row-major feature matrix with one target per row.
    pub fn new(features: Vec<f32>, n_features: usize, targets: Vec<usize>) -> Result<Self> {
        if n_features == 0 || features.len() != targets.len() * n_features {
            return Err(DataError::InvalidBatch(format!(
                "{} feature values do not make {} rows of {n_features} features",
                features.len(),
                targets.len()
            )));
        }
        Ok(Self { features, targets: targets.into_iter().map(|t| t as i64).collect(), n_features })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Number of features per row.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// The targets as class codes.
    pub fn targets(&self) -> Vec<usize> {
        self.targets.iter().map(|&t| t as usize).collect()
    }

    /// The row-major features.
    pub fn features(&self) -> &[f32] {
        &self.features
    }

    /// Row indices of each mini-batch for one epoch: shuffled by `rng` when given,
    /// in order otherwise.
    pub fn batch_indices(
        &self,
        batch_size: usize,
        rng: Option<&mut SeededRng>,
        last: LastBatch,
    ) -> Result<Vec<Vec<usize>>> {
        epoch_batches(self.len(), batch_size, rng, last)
    }

    /// The rows `indices` as a `[batch, n_features]` float tensor and a `[batch]` int tensor.
    ///
    /// # Panics
    /// If an index is out of range (indices come from [`Self::batch_indices`]).
    pub fn batch(&self, indices: &[usize], device: &Device) -> (Tensor<2>, Tensor<1, Int>) {
        let d = self.n_features;
        let mut x = Vec::with_capacity(indices.len() * d);
        let mut y = Vec::with_capacity(indices.len());
        for &i in indices {
            x.extend_from_slice(&self.features[i * d..(i + 1) * d]);
            y.push(self.targets[i]);
        }
        (
            Tensor::from_data(TensorData::new(x, [indices.len(), d]), device),
            Tensor::from_data(TensorData::new(y, [indices.len()]), device),
        )
    }
}

/// Row indices of each mini-batch of one epoch over `n` rows: shuffled by `rng`
/// when given, in order otherwise; the last partial batch kept or dropped.
pub fn epoch_batches(
    n: usize,
    batch_size: usize,
    rng: Option<&mut SeededRng>,
    last: LastBatch,
) -> Result<Vec<Vec<usize>>> {
    if batch_size == 0 {
        return Err(DataError::InvalidBatch("batch size must be at least 1".into()));
    }
    let mut order: Vec<usize> = (0..n).collect();
    if let Some(rng) = rng {
        rng.shuffle(&mut order);
    }
    let mut batches: Vec<Vec<usize>> = order.chunks(batch_size).map(<[usize]>::to_vec).collect();
    if last == LastBatch::Drop && batches.last().is_some_and(|b| b.len() < batch_size) {
        batches.pop();
    }
    Ok(batches)
}

/// Features (`f32`, row-major) and continuous targets (`f32`, `n_targets` per row,
/// row-major) for regression, held on the host and turned into tensors one batch
/// at a time.
///
/// ```
/// use anneal_data::{LastBatch, RegressionData, SeededRng};
/// use burn::prelude::*;
///
/// let data = RegressionData::new(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, vec![0.5, 1.5, 2.5], 1)?;
/// let batches = data.batch_indices(2, Some(&mut SeededRng::new(7)), LastBatch::Keep)?;
/// let (x, y) = data.batch(&batches[0], &Device::default());
/// assert_eq!((x.dims(), y.dims()), ([2, 2], [2, 1]));
/// # Ok::<(), anneal_data::DataError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RegressionData {
    features: Vec<f32>,
    targets: Vec<f32>,
    n_features: usize,
    n_targets: usize,
    transform: Option<TargetTransform>,
}

impl RegressionData {
    /// Pairs a row-major feature matrix with `n_targets` targets per row; a
    /// non-finite target is an error naming its row.
    pub fn new(features: Vec<f32>, n_features: usize, targets: Vec<f32>, n_targets: usize) -> Result<Self> {
        if n_features == 0 || n_targets == 0 || !targets.len().is_multiple_of(n_targets) {
            return Err(DataError::InvalidBatch(format!(
                "{} target values do not make rows of {n_targets} targets (with {n_features} features)",
                targets.len()
            )));
        }
        let rows = targets.len() / n_targets;
        if features.len() != rows * n_features {
            return Err(DataError::InvalidBatch(format!(
                "{} feature values do not make {rows} rows of {n_features} features",
                features.len()
            )));
        }
        if let Some(i) = targets.iter().position(|t| !t.is_finite()) {
            return Err(DataError::NotFinite { column: "target".into(), row: i / n_targets, what: "regression" });
        }
        Ok(Self { features, targets, n_features, n_targets, transform: None })
    }

    /// Records the transform the targets were put through, so that predictions
    /// and [`Dataset::all_targets`](crate::dataset::Dataset::all_targets) come back
    /// in the user's units.
    pub fn with_transform(mut self, transform: TargetTransform) -> Self {
        self.transform = Some(transform);
        self
    }

    /// The transform the targets were put through, if any.
    pub fn transform(&self) -> Option<&TargetTransform> {
        self.transform.as_ref()
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.targets.len() / self.n_targets
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Number of features per row.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// The row-major features.
    pub fn features(&self) -> &[f32] {
        &self.features
    }

    /// Number of targets per row.
    pub fn n_targets(&self) -> usize {
        self.n_targets
    }

    /// The row-major targets, in the units the model is trained on.
    pub fn targets(&self) -> &[f32] {
        &self.targets
    }

    /// Row indices of each mini-batch for one epoch (see [`epoch_batches`]).
    pub fn batch_indices(
        &self,
        batch_size: usize,
        rng: Option<&mut SeededRng>,
        last: LastBatch,
    ) -> Result<Vec<Vec<usize>>> {
        epoch_batches(self.len(), batch_size, rng, last)
    }

    /// The rows `indices` as a `[batch, n_features]` and a `[batch, n_targets]` float tensor.
    ///
    /// # Panics
    /// If an index is out of range (indices come from [`Self::batch_indices`]).
    pub fn batch(&self, indices: &[usize], device: &Device) -> (Tensor<2>, Tensor<2>) {
        let (d, k) = (self.n_features, self.n_targets);
        let mut x = Vec::with_capacity(indices.len() * d);
        let mut y = Vec::with_capacity(indices.len() * k);
        for &i in indices {
            x.extend_from_slice(&self.features[i * d..(i + 1) * d]);
            y.extend_from_slice(&self.targets[i * k..(i + 1) * k]);
        }
        (
            Tensor::from_data(TensorData::new(x, [indices.len(), d]), device),
            Tensor::from_data(TensorData::new(y, [indices.len(), k]), device),
        )
    }
}

/// The √N rule of thumb for a first mini-batch size: the square root of the number
/// of training rows, rounded to the nearest power of two, within `1..=n`.
pub fn sqrt_batch_size(n_rows: usize) -> usize {
    if n_rows <= 1 {
        return 1;
    }
    let root = (n_rows as f64).sqrt();
    let pow = 2f64.powf(root.log2().round()) as usize;
    pow.clamp(1, n_rows)
}

/// A seeded synthetic classification set, as PyTorch's benchmark script
/// (`examples/reference/mlp_train.py`) makes it: `n` rows of `d` standard-normal
/// features, labelled by the argmax of a random linear teacher (weights
/// `N(0, 1/d)`) over `k` classes plus `N(0, 0.25)` noise. The training
/// benchmarks' workload; `d = 0` is an error.
///
/// ```
/// use anneal_data::batch::linear_teacher;
/// let data = linear_teacher(100, 5, 3, 0)?;
/// assert_eq!((data.len(), data.n_features()), (100, 5));
/// assert_eq!(linear_teacher(100, 5, 3, 0)?, data); // seeded
/// assert!(linear_teacher(10, 0, 3, 0).is_err()); // no features
/// # Ok::<(), anneal_data::DataError>(())
/// ```
pub fn linear_teacher(n: usize, d: usize, k: usize, seed: u64) -> Result<ClassificationData> {
    let mut rng = crate::SeededRng::new(seed);
    let x: Vec<f32> = (0..n * d).map(|_| rng.normal() as f32).collect();
    let w: Vec<f32> = (0..d * k).map(|_| (rng.normal() / (d as f64).sqrt()) as f32).collect();
    let y = (0..n)
        .map(|i| {
            let row = &x[i * d..(i + 1) * d];
            (0..k)
                .map(|c| row.iter().enumerate().map(|(j, v)| v * w[j * k + c]).sum::<f32>() + 0.5 * rng.normal() as f32)
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |acc, (c, v)| if v > acc.1 { (c, v) } else { acc })
                .0
        })
        .collect();
    ClassificationData::new(x, d, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_once_per_epoch() {
        let data = ClassificationData::new(vec![0.0; 10 * 2], 2, vec![0; 10]).unwrap();
        let b = data.batch_indices(3, Some(&mut SeededRng::new(1)), LastBatch::Keep).unwrap();
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 3, 1]);
        let mut all: Vec<usize> = b.concat();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        let d = data.batch_indices(3, None, LastBatch::Drop).unwrap();
        assert_eq!(d.len(), 3);
    }

    #[test]
    fn regression_batches_carry_float_targets() {
        let data = RegressionData::new((0..12).map(|v| v as f32).collect(), 3, vec![0.5, 1.5, 2.5, 3.5], 1).unwrap();
        let b = data.batch_indices(3, None, LastBatch::Keep).unwrap();
        let (x, y) = data.batch(&b[1], &Device::default());
        assert_eq!(x.into_data().try_to_vec::<f32>().unwrap(), [9.0, 10.0, 11.0]);
        assert_eq!(y.into_data().try_to_vec::<f32>().unwrap(), [3.5]);
        assert!(matches!(
            RegressionData::new(vec![0.0; 4], 2, vec![1.0, f32::NAN], 1),
            Err(DataError::NotFinite { row: 1, .. })
        ));
        assert!(RegressionData::new(vec![0.0; 5], 2, vec![1.0, 2.0], 1).is_err());
    }

    #[test]
    fn sqrt_rule() {
        assert_eq!(sqrt_batch_size(1000), 32);
        assert_eq!(sqrt_batch_size(60000), 256);
        assert_eq!(sqrt_batch_size(2), 2);
    }
}
