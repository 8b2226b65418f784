//! Hyperparameter optimisation for Anneal: search spaces, samplers, pruners and trial
//! storage, with no dependency on a tensor library (the objective is a closure).
//!
//! A [`Study`] asks a [`Sampler`](sampler::Sampler) for each trial's parameters, runs the
//! objective, and records the result in a [`Storage`]. Parameters are
//! declared up front as a [`SearchSpace`] (in Rust or TOML, with conditional parameters) or
//! suggested define-by-run inside the objective, as in Optuna. Samplers: grid, random,
//! scrambled Sobol, multivariate TPE and Gaussian-process BO. Pruners stop bad trials from
//! their intermediate reports: median, ASHA and Hyperband; synchronous successive halving and
//! Hyperband run as study drivers.
//!
//! ```
//! use anneal_hpo::prelude::*;
//!
//! let space = SearchSpace::new()
//!     .with("lr", Distribution::log_float(1e-4, 1e-1))
//!     .with("optimizer", Distribution::categorical(["sgd", "adam"]))
//!     .with_condition("momentum", Distribution::float(0.0, 0.99), "optimizer", ["sgd"]);
//! let study = Study::builder("demo")
//!     .space(space)
//!     .sampler(TpeSampler::new(42))
//!     .pruner(MedianPruner::new(5, 2))
//!     .build()?;
//! study.optimize(40, |trial| {
//!     let p = trial.suggest_space()?;
//!     let lr = p["lr"].as_f64().unwrap_or_default();
//!     let mut loss = (lr.log10() + 2.0).powi(2);
//!     for epoch in 0..5 {
//!         loss *= 0.9;
//!         trial.report(epoch, loss)?;
//!         if trial.should_prune()? {
//!             return Err(ObjectiveError::Pruned);
//!         }
//!     }
//!     Ok(loss)
//! })?;
//! let best = study.best_trial()?.expect("at least one trial completed");
//! assert!(best.value.unwrap() < 0.5);
//! # Ok::<(), anneal_hpo::HpoError>(())
//! ```

pub mod analysis;
mod math;
pub mod open;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub mod error;
pub mod pruner;

pub mod sampler;
pub mod schedule;
pub mod space;
pub mod storage;
pub mod study;

pub use error::{HpoError, Result};
pub use open::open_storage;
pub use space::{Choice, Condition, Distribution, ParamSpec, ParamValue, SearchSpace};
pub use storage::{Direction, FrozenTrial, InMemoryStorage, Storage, StudySummary, TrialState};
pub use study::{ObjectiveError, Study, StudyBuilder, Trial};

/// One `use` for the common types.
pub mod prelude {
    pub use crate::error::HpoError;
    pub use crate::pruner::{AshaPruner, HyperbandPruner, MedianPruner, NopPruner, Pruner};
    pub use crate::sampler::{GpSampler, GridSampler, RandomSampler, Sampler, SobolSampler, TpeSampler};
    pub use crate::space::{Distribution, ParamValue, SearchSpace};
    pub use crate::storage::{Direction, InMemoryStorage, Storage, TrialState};
    pub use crate::study::{ObjectiveError, Study, Trial};
}
