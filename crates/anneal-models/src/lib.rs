//! Model definitions for Anneal.
//!
//! Models are plain burn modules with no backend parameter: the device they are
//! built on decides where they run. Each has a config type that validates itself and
//! builds the model from a seed, so the same seed gives the same initial weights on
//! every backend.
//!
//! ```
//! use anneal_models::prelude::*;
//! use burn::prelude::*;
//!
//! let device = Device::flex();
//! let mlp = MlpConfig { input: 3, hidden: vec![16, 8], output: 2, activation: ActivationKind::Relu, dropout: 0.0, layer_dropout: vec![] }
//!     .init(7, &device)?;
//! let logits = mlp.forward(Tensor::zeros([5, 3], &device));
//! assert_eq!(logits.dims(), [5, 2]);
//! # Ok::<(), anneal_models::ModelError>(())
//! ```
//!
//! Every model implements [`Model`] (what the training loop trains); [`ModelConfig`]
//! is the enum over kinds a run config names (`linear`, `mlp`, `cnn`,
//! `transformer`), and [`AnyModel`] the model it builds; a multi-task model is
//! any of them with the tasks' heads side by side in its output layer
//! ([`TaskUncertainty`] adds learned task weights).
//! A new kind is a module here plus a variant of both; the training loop does not change.

pub mod cnn;
pub mod config;
pub mod dropout;
pub mod error;
mod fused;
pub mod incontext;
pub mod linear;
pub mod mlp;
pub mod model;
pub mod multitask;
pub mod pipeline;
pub mod transformer;
pub mod weights;

pub use cnn::{Cnn, CnnConfig, ConvBlockConfig, PoolKind};
pub use config::{AnyModel, ModelConfig};
pub use dropout::Dropout;
pub use error::ModelError;
pub use linear::{LinearConfig, LinearModel};
pub use mlp::{ActivationKind, Mlp, MlpConfig};
pub use model::Model;
pub use multitask::TaskUncertainty;
pub use transformer::{MaskedLm, NormPlacement, Pooling, PositionKind, Transformer, TransformerConfig};
pub use weights::{InitFrom, InitReport, export_safetensors, transfer_weights};

/// One `use` for the common types.
pub mod prelude {
    pub use crate::cnn::{Cnn, CnnConfig, ConvBlockConfig, PoolKind};
    pub use crate::config::{AnyModel, ModelConfig};
    pub use crate::error::ModelError;
    pub use crate::linear::{LinearConfig, LinearModel};
    pub use crate::mlp::{ActivationKind, Mlp, MlpConfig};
    pub use crate::model::Model;
    pub use crate::transformer::{NormPlacement, Pooling, PositionKind, Transformer, TransformerConfig};
}
