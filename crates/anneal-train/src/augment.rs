//! Augmentation of rows as the training loop sees them: images flattened,
//! channel-major and standardised per channel; audio clips as standardised
//! log-mel spectrograms (augmented on the waveform, then on the spectrogram);
//! texts as token ids (augmented on the words, then tokenized again).

use anneal_data::audio::LogMel;
use anneal_data::dataset::{Batch, BatchAugment, Target};
use anneal_data::text::TextEncoder;
use anneal_data::{DataError, Result as DataResult};
use anneal_regularize::augment::audio::AudioOp;
use anneal_regularize::augment::{AudioAugmenter, ImageAugmenter, TextAugmenter};
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

/// Waveform augmentation of audio rows: each batch row's clip (kept raw, at the
/// data's sample rate) goes through the waveform steps, becomes a log-mel
/// spectrogram again, is standardised with the training statistics, and gets
/// the spectrogram steps (masks fill with 0, the training mean). Clips are
/// processed in parallel; each one's result depends only on its row and epoch.
#[derive(Debug, Clone)]
pub struct AudioRowsAugment {
    augmenter: AudioAugmenter,
    front_end: LogMel,
    clips: Vec<Vec<f32>>,
    mean: f32,
    std: f32,
}

impl AudioRowsAugment {
    /// Augments the training rows whose clips are `clips` (row `i` of the
    /// training data is `clips[i]`), spectrograms made by `front_end` and
    /// standardised as `(dB − mean) / std`.
    pub fn new(
        augmenter: AudioAugmenter,
        front_end: LogMel,
        clips: Vec<Vec<f32>>,
        mean: f64,
        std: f64,
    ) -> Result<Self, TrainError> {
        if !(std.is_finite() && std > 0.0 && mean.is_finite()) {
            return Err(TrainError::InvalidSetting(format!(
                "audio augmentation needs a finite mean and a positive std, got {mean} and {std}"
            )));
        }
        Ok(Self { augmenter, front_end, clips, mean: mean as f32, std: std as f32 })
    }

    /// `[1, bands, frames]` of the spectrograms.
    pub fn shape(&self) -> [usize; 3] {
        self.front_end.shape()
    }

    /// The sample rate of the clips.
    pub fn sample_rate(&self) -> u32 {
        self.front_end.options().sample_rate
    }

    /// The clip of training row `row`, as read.
    pub fn original_clip(&self, row: usize) -> DataResult<&[f32]> {
        self.clips.get(row).map(Vec::as_slice).ok_or_else(|| {
            DataError::Augment(format!("row {row} has no clip (the augmenter holds {})", self.clips.len()))
        })
    }

    /// The waveform of training row `row` after the waveform steps of `epoch`,
    /// and what every step does (the spectrogram steps are still to come).
    pub fn waveform(&self, row: usize, epoch: usize) -> DataResult<(Vec<f32>, Vec<Option<AudioOp>>)> {
        let [_, bands, frames] = self.front_end.shape();
        let clip = self.original_clip(row)?;
        let ops = self.augmenter.plan(row, epoch, bands, frames);
        let wave = self.augmenter.apply_waveform(clip, &ops).map_err(|e| DataError::Augment(e.to_string()))?;
        Ok((wave, ops))
    }

    /// The log-mel spectrogram (dB) of `wave`, with the spectrogram steps of
    /// `ops` when given (masked values at the training mean).
    pub fn spectrogram(&self, wave: &[f32], ops: Option<&[Option<AudioOp>]>) -> Vec<f32> {
        let [_, bands, frames] = self.front_end.shape();
        let mut spectrogram = self.front_end.compute(wave);
        if let Some(ops) = ops {
            self.augmenter.apply_spectrogram(&mut spectrogram, bands, frames, ops, self.mean);
        }
        spectrogram
    }

    /// The spectrogram, standardised, of training row `row` in `epoch`.
    pub fn row(&self, row: usize, epoch: usize) -> DataResult<Vec<f32>> {
        let (wave, ops) = self.waveform(row, epoch)?;
        // Masked values are the mean, so they standardise to exactly 0.
        let mut spectrogram = self.spectrogram(&wave, Some(&ops));
        for v in &mut spectrogram {
            *v = (*v - self.mean) / self.std;
        }
        Ok(spectrogram)
    }
}

impl BatchAugment<Tensor<2>> for AudioRowsAugment {
    fn augment(&self, batch: Batch<Tensor<2>>, rows: &[usize], epoch: usize) -> DataResult<Batch<Tensor<2>>> {
        use rayon::prelude::*;
        let Batch { input, target } = batch;
        let [n, features] = input.dims();
        let [c, h, w] = self.front_end.shape();
        if features != c * h * w || rows.len() != n {
            return Err(DataError::Shape(format!(
                "{n} rows of {features} values for {} clips of {c}x{h}x{w} spectrograms",
                rows.len()
            )));
        }
        let spectrograms: Vec<Vec<f32>> =
            rows.par_iter().map(|&row| self.row(row, epoch)).collect::<DataResult<_>>()?;
        let values = TensorData::new(spectrograms.concat(), [n, features]);
        Ok(Batch { input: Tensor::from_data(values, &input.device()), target })
    }
}

/// Word-level augmentation of text rows: each batch row's text (kept raw) goes
/// through the text steps and is tokenized again by the run's fitted encoder.
#[derive(Debug, Clone)]
pub struct TextRowsAugment {
    augmenter: TextAugmenter,
    encoder: TextEncoder,
    texts: Vec<String>,
}

impl TextRowsAugment {
    /// Augments the training rows whose texts are `texts` (row `i` of the
    /// training data is `texts[i]`), tokenized by `encoder`.
    pub fn new(augmenter: TextAugmenter, encoder: TextEncoder, texts: Vec<String>) -> Self {
        Self { augmenter, encoder, texts }
    }

    /// The text of training row `row`, as read.
    pub fn original(&self, row: usize) -> DataResult<&str> {
        self.texts.get(row).map(String::as_str).ok_or_else(|| {
            DataError::Augment(format!("row {row} has no text (the augmenter holds {})", self.texts.len()))
        })
    }

    /// The pipeline's configuration.
    pub fn config(&self) -> &anneal_regularize::augment::AugmentConfig {
        self.augmenter.config()
    }

    /// The augmented text of training row `row` in `epoch`.
    pub fn text(&self, row: usize, epoch: usize) -> DataResult<String> {
        Ok(self.augmenter.augment(self.original(row)?, row, epoch))
    }
}

impl BatchAugment<Tensor<2>> for TextRowsAugment {
    fn augment(&self, batch: Batch<Tensor<2>>, rows: &[usize], epoch: usize) -> DataResult<Batch<Tensor<2>>> {
        let Batch { input, target } = batch;
        let [n, features] = input.dims();
        if features != self.encoder.max_len() || rows.len() != n {
            return Err(DataError::Shape(format!(
                "{n} rows of {features} token ids for {} texts of up to {} tokens",
                rows.len(),
                self.encoder.max_len()
            )));
        }
        let texts: Vec<String> = rows.iter().map(|&row| self.text(row, epoch)).collect::<DataResult<_>>()?;
        let (ids, _) = self.encoder.encode_texts(&texts)?;
        let values = TensorData::new(ids.values, [n, features]);
        Ok(Batch { input: Tensor::from_data(values, &input.device()), target })
    }
}

/// The augmentation of a run's training rows, by what the rows are.
#[derive(Debug, Clone)]
pub enum RowsAugment {
    /// Image rows.
    Image(ImageRowsAugment),
    /// Audio rows (log-mel spectrograms of kept clips).
    Audio(AudioRowsAugment),
    /// Text rows (token ids of kept texts).
    Text(TextRowsAugment),
}

impl BatchAugment<Tensor<2>> for RowsAugment {
    fn augment(&self, batch: Batch<Tensor<2>>, rows: &[usize], epoch: usize) -> DataResult<Batch<Tensor<2>>> {
        match self {
            RowsAugment::Image(a) => a.augment(batch, rows, epoch),
            RowsAugment::Audio(a) => a.augment(batch, rows, epoch),
            RowsAugment::Text(a) => a.augment(batch, rows, epoch),
        }
    }
}
