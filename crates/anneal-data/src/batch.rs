//! Mini-batching: a dense feature matrix with class targets, cut into seeded,
//! shuffled mini-batches of burn tensors.

use burn::prelude::*;

use crate::error::{DataError, Result};
use crate::rng::SeededRng;

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
        if batch_size == 0 {
            return Err(DataError::InvalidBatch("batch size must be at least 1".into()));
        }
        let mut order: Vec<usize> = (0..self.len()).collect();
        if let Some(rng) = rng {
            rng.shuffle(&mut order);
        }
        let mut batches: Vec<Vec<usize>> = order.chunks(batch_size).map(<[usize]>::to_vec).collect();
        if last == LastBatch::Drop && batches.last().is_some_and(|b| b.len() < batch_size) {
            batches.pop();
        }
        Ok(batches)
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
    fn sqrt_rule() {
        assert_eq!(sqrt_batch_size(1000), 32);
        assert_eq!(sqrt_batch_size(60000), 256);
        assert_eq!(sqrt_batch_size(2), 2);
    }
}
