//! The crate's one error type.

use std::path::PathBuf;

use thiserror::Error;

/// What can go wrong in environments, agents and the rollout driver.
#[derive(Debug, Error)]
pub enum RlError {
    /// An action outside the environment's action space.
    #[error("action {action} is outside the action space Discrete({n})")]
    Action {
        /// The action given.
        action: usize,
        /// Number of actions.
        n: usize,
    },
    /// `step` after the episode ended, without a `reset`.
    #[error("step() called after the episode ended: call reset() first")]
    EpisodeOver,
    /// `step` before the first `reset`.
    #[error("step() called before reset()")]
    NotReset,
    /// A setting out of its range, named.
    #[error("{name} = {value} is invalid: {expected}")]
    Setting {
        /// The setting.
        name: String,
        /// The value given.
        value: String,
        /// What is allowed.
        expected: String,
    },
    /// A gridworld layout that cannot be played.
    #[error("gridworld layout: {0}")]
    Layout(String),
    /// An agent and an environment that do not fit (a continuous action
    /// space for a discrete-action agent, observations of another size).
    #[error("the agent does not fit the environment: {0}")]
    Mismatch(String),
    /// The policy produced non-finite numbers (the run diverged).
    #[error("the {what} became non-finite at environment step {step}: the run diverged (lower the learning rate)")]
    Diverged {
        /// Which quantity.
        what: String,
        /// Environment steps done.
        step: usize,
    },
    /// A checkpoint or run file that cannot be read or written.
    #[error("{path}: {message}")]
    File {
        /// The file or folder.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A tensor's values could not be read back to the host.
    #[error("reading a tensor's values: {0}")]
    Tensor(String),
    /// An error of the data crate (reading and tokenizing texts).
    #[error(transparent)]
    Data(#[from] anneal_data::DataError),
    /// An error of the model crate.
    #[error(transparent)]
    Model(#[from] anneal_models::ModelError),
    /// An error of the optimiser crate.
    #[error(transparent)]
    Optim(#[from] anneal_optim::OptimError),
    /// An error of the training core (the step, checkpoints).
    #[error(transparent)]
    Train(#[from] anneal_train::TrainError),
    /// An error while drawing a chart.
    #[error(transparent)]
    Eval(#[from] anneal_evaluate::EvalError),
}

/// `Result` with [`RlError`].
pub type Result<T, E = RlError> = std::result::Result<T, E>;

pub(crate) fn setting(name: &str, value: impl std::fmt::Display, expected: &str) -> RlError {
    RlError::Setting { name: name.to_string(), value: value.to_string(), expected: expected.to_string() }
}
