//! The training loop that ties Anneal's crates together.
//!
//! [`Trainer::fit`] runs epochs of seeded, shuffled mini-batches. Each step is
//! explicit — forward → loss → backward → gradients → [`TrainHook::after_backward`]
//! → optimiser step — so gradient all-reduce, gradient surgery or hypergradients
//! plug in between backward and step. It validates every epoch, stops early on a
//! monitored metric and keeps a per-epoch history. The [`Backend`] is chosen at run
//! time; models never name one.
//!
//! See [`Trainer`] for a runnable example.

pub mod backend;
pub mod error;
pub mod trainer;

pub use backend::Backend;
pub use error::TrainError;
pub use trainer::{
    Classifier, EpochRecord, Evaluation, Fitted, Progress, StepInfo, TrainConfig, TrainHook, Trainer, evaluate,
    train_step,
};

/// One `use` for the common types.
pub mod prelude {
    pub use crate::backend::Backend;
    pub use crate::error::TrainError;
    pub use crate::trainer::{Classifier, Progress, TrainConfig, TrainHook, Trainer};
}
