//! Augmentation of image rows as the training loop sees them: flattened,
//! channel-major and standardised per channel.

use anneal_data::dataset::{Batch, BatchAugment, Target};
use anneal_data::{DataError, Result as DataResult};
use anneal_regularize::augment::ImageAugmenter;
use burn::prelude::*;

use crate::error::TrainError;

/// An [`ImageAugmenter`] for batches of image rows `[batch, channels × height ×
/// width]` holding `(pixel − mean[c]) / std[c]` (how `anneal` feeds images to a
/// model): each batch is mapped back to pixels in `[0, 1]`, augmented, and
/// standardised again with the same statistics.
#[derive(Debug, Clone)]
pub struct ImageRowsAugment {
    augmenter: ImageAugmenter,
    shape: [usize; 3],
    mean: Vec<f32>,
    std: Vec<f32>,
}

impl ImageRowsAugment {
    /// Augments `[channels, height, width]` = `shape` images standardised with the
    /// per-channel `mean` and `std` (one of each per channel, `std` positive).
    pub fn new(augmenter: ImageAugmenter, shape: [usize; 3], mean: &[f64], std: &[f64]) -> Result<Self, TrainError> {
        let [c, h, w] = shape;
        if mean.len() != c || std.len() != c || std.iter().any(|s| s.is_nan() || *s <= 0.0 || !s.is_finite()) {
            return Err(TrainError::InvalidSetting(format!(
                "image augmentation needs one mean and one positive std per channel ({c}), got {} and {}",
                mean.len(),
                std.len()
            )));
        }
        if augmenter.needs_square() && h != w {
            return Err(TrainError::InvalidSetting(format!(
                "augment step rotate90 needs square images, but the images are {h}x{w}"
            )));
        }
        Ok(Self {
            augmenter,
            shape,
            mean: mean.iter().map(|&m| m as f32).collect(),
            std: std.iter().map(|&s| s as f32).collect(),
        })
    }

    fn channel(&self, values: &[f32], device: &Device) -> Tensor<4> {
        Tensor::from_data(TensorData::new(values.to_vec(), [1, self.shape[0], 1, 1]), device)
    }
}

impl BatchAugment<Tensor<2>> for ImageRowsAugment {
    fn augment(&self, batch: Batch<Tensor<2>>, rows: &[usize], epoch: usize) -> DataResult<Batch<Tensor<2>>> {
        let Batch { input, target } = batch;
        let [n, features] = input.dims();
        let [c, h, w] = self.shape;
        if features != c * h * w {
            return Err(DataError::Shape(format!("{features} features per row for images of {c}x{h}x{w}")));
        }
        let device = input.device();
        let (mean, std) = (self.channel(&self.mean, &device), self.channel(&self.std, &device));
        let pixels = input.reshape([n, c, h, w]) * std.clone() + mean.clone();
        let failed = |e: anneal_regularize::RegularizeError| DataError::Augment(e.to_string());
        let (augmented, target) = match target {
            Target::Classes(y) if self.augmenter.config().has_mixing() => {
                let (images, mixing) = self.augmenter.apply_labelled(pixels, y.clone(), rows, epoch).map_err(failed)?;
                let target = match mixing {
                    Some(m) => Target::Mixed { first: y, second: m.second, weight: m.weight },
                    None => Target::Classes(y),
                };
                (images, target)
            }
            target => (self.augmenter.apply(pixels, rows, epoch).map_err(failed)?, target),
        };
        Ok(Batch { input: ((augmented - mean) / std).reshape([n, features]), target })
    }
}
