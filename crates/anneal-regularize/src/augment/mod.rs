//! Data augmentation: a seeded, composable pipeline of transforms applied to
//! training batches only.
//!
//! The pipeline is configured as an ordered list of [`Step`]s (the run config's
//! `[augment]` table, [`AugmentConfig`]): transforms, each applied with its own
//! probability, and `one_of` / `some_of` groups. Every sample draws its own
//! parameters from a generator keyed by the seed, the epoch and its row
//! ([`plan::sample_rng`]), so the augmentation of a row in an epoch is
//! reproducible and independent of batching.
//!
//! The configuration and the parameter drawing ([`plan`]) need no tensor
//! library; applying the pipeline to `[batch, channels, height, width]` burn
//! tensors ([`ImageAugmenter`]) needs the `tensors` feature, and runs on any
//! burn device.

pub mod audio;
pub mod config;
#[cfg(feature = "tensors")]
pub mod image;
pub mod plan;
pub mod text;

pub use audio::AudioAugmenter;
pub use config::{AugmentConfig, Media, NoiseColor, Step};
#[cfg(feature = "tensors")]
pub use image::{ImageAugmenter, Mixing};
pub use text::TextAugmenter;
