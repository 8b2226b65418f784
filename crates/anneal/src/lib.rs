//! Anneal: the whole job of training a model — prepare the data, build the model,
//! optimise it, regularise it and evaluate it honestly — in one typed toolkit on
//! [burn](https://burn.dev).
//!
//! This facade re-exports the crates and runs whole jobs from a TOML [`RunConfig`]:
//! [`run::train`] is what `anneal train` does, [`run::predict`] what `anneal predict`
//! does, [`cv::cross_validate`] what `anneal cv` does and [`eval::evaluate_run`] what
//! `anneal eval` does.
//!
//! | crate | owns |
//! |---|---|
//! | [`data`] | tables, CSV loading, imputation, scaling, encoding, splits, batching |
//! | [`models`] | model definitions (linear, MLP, CNN, transformer encoder) |
//! | [`optim`] | optimisers over burn-optim |
//! | [`regularize`] | early stopping |
//! | [`evaluate`] | metrics |
//! | [`train`] | the training loop and backend choice |
//! | [`hpo`] | hyperparameter search: spaces, samplers, pruners, storages |
//! | [`distributed`] | data-parallel training: collectives, gradient all-reduce, replicas on threads |

pub mod config;
pub mod cv;
pub mod error;
pub mod eval;
pub mod incontext;
pub mod pipeline;
pub mod pretrain;
pub mod reinforcement;
mod replicate;
pub mod run;
pub mod tune;

pub use anneal_data as data;
pub use anneal_distributed as distributed;
pub use anneal_evaluate as evaluate;
pub use anneal_hpo as hpo;
pub use anneal_models as models;
pub use anneal_optim as optim;
pub use anneal_regularize as regularize;
pub use anneal_rl as rl;
pub use anneal_train as train;
pub use config::RunConfig;
pub use error::{Error, Result};
