//! Data preparation for Anneal: everything between a raw file and the tensors a
//! model sees.
//!
//! A [`Table`] is a typed, columnar Arrow record batch loaded from CSV (plain or
//! gzip). Preprocessing is fit/transform: [`PreprocessConfig`] holds the
//! hyperparameters, [`Preprocessor`] the statistics fitted on the training split
//! only, which serialise and re-apply identically to new data. Splits are seeded.
//! With the `tensors` feature (the only part that needs burn), [`dataset`] and
//! [`batch`] cut the result into shuffled mini-batches of burn tensors.
//!
//! ```
//! use anneal_data::prelude::*;
//!
//! let csv = "len,island,species\n1.0,A,x\n2.0,B,y\n,A,x\n4.0,B,y\n5.0,A,x\n6.0,B,y\n";
//! let table = Table::from_csv_reader(csv.as_bytes(), "inline.csv", &CsvOptions::default())?;
//! let labels = LabelEncoder::fit(&table, "species")?;
//! let y = labels.encode(&table)?;
//! let split = stratified_holdout(&y, labels.classes(), SplitFractions { train: 2.0 / 3.0, valid: 0.0, test: 1.0 / 3.0 }, 7)?;
//!
//! let train = table.take(&split.train)?;
//! let pre = PreprocessConfig::default().fit(&train, &["len".into(), "island".into()])?;
//! let x = pre.transform(&train)?;
//! // len, and island one-hot encoded: 4 training rows of 3 columns.
//! assert_eq!((x.n_rows, x.n_cols), (4, 3));
//! # #[cfg(feature = "tensors")]
//! # {
//! // With the `tensors` feature: shuffled mini-batches of burn tensors.
//! let targets = split.train.iter().map(|&i| y[i]).collect();
//! let data = ClassificationData::new(x.values, x.n_cols, targets)?;
//! let device = burn::prelude::Device::flex();
//! let batches = data.batch_indices(2, Some(&mut SeededRng::new(7)), LastBatch::Keep)?;
//! let (xb, yb) = data.batch(&batches[0], &device);
//! assert_eq!(xb.dims(), [2, 3]);
//! assert_eq!(yb.dims(), [2]);
//! # }
//! # Ok::<(), anneal_data::DataError>(())
//! ```

pub use anneal_core::rng;

pub mod audio;
#[cfg(feature = "tensors")]
pub mod batch;
pub mod clean;
pub mod curriculum;
#[cfg(feature = "tensors")]
pub mod dataset;
pub mod dates;
pub mod dense;
pub mod encode;
pub mod error;
pub mod folds;
pub mod image;
pub mod impute;
pub mod inspect;
#[cfg(feature = "tensors")]
pub mod masked;
#[cfg(feature = "tensors")]
pub mod multitask;
#[cfg(feature = "parquet")]
mod parquet;
pub mod pca;
pub mod poly;
pub mod power;
pub mod preprocess;
mod reader;
pub mod scale;
pub mod split;
pub mod table;
pub mod target;
pub mod text;

pub use anneal_core::{Fold, SeededRng, Stream};
#[cfg(feature = "tensors")]
pub use batch::{ClassificationData, LastBatch, RegressionData, epoch_batches, sqrt_batch_size};
#[cfg(feature = "tensors")]
pub use dataset::{
    Augmented, Batch, BatchAugment, BatchSampler, Dataset, Sharded, TabularData, Target, Targets, TaskTarget,
    TaskTargets,
};
pub use dense::Dense;
pub use error::{DataError, Result};
pub use preprocess::{LabelEncoder, Matrix, PreprocessConfig, Preprocessor};
pub use split::{Split, SplitFractions, group_holdout, holdout, stratified_holdout};
pub use table::{Column, ColumnKind, CsvOptions, NonFinite, Table};
pub use target::{TargetTransform, TargetTransformKind};

/// One `use` for the common types.
pub mod prelude {
    #[cfg(feature = "tensors")]
    pub use crate::batch::{ClassificationData, LastBatch, RegressionData};
    #[cfg(feature = "tensors")]
    pub use crate::dataset::{BatchSampler, Dataset, TabularData};
    pub use crate::error::DataError;
    pub use crate::preprocess::{LabelEncoder, PreprocessConfig, Preprocessor};
    pub use crate::rng::SeededRng;
    pub use crate::split::{SplitFractions, stratified_holdout};
    pub use crate::table::{CsvOptions, Table};
}
