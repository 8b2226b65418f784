//! The error type of `anneal-train`.

use anneal_data::DataError;
use anneal_evaluate::EvalError;
use anneal_models::ModelError;
use anneal_optim::OptimError;
use anneal_regularize::RegularizeError;

/// Everything that can stop a training run, including errors from the crates it drives.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// Bad data or batching.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A model configuration that cannot be built.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// An optimiser configuration that cannot be used.
    #[error(transparent)]
    Optim(#[from] OptimError),
    /// Invalid early-stopping settings.
    #[error(transparent)]
    Regularize(#[from] RegularizeError),
    /// A metric that could not be computed.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// A backend name that does not exist.
    #[error("unknown device `{name}`: expected one of ndarray, flex, wgpu, cuda")]
    UnknownBackend {
        /// The name given.
        name: String,
    },
    /// A backend that exists but is not compiled into this build.
    #[error("device `{name}` is not compiled into this build: rebuild with `--features {feature}`")]
    BackendNotCompiled {
        /// The backend asked for.
        name: &'static str,
        /// The cargo feature that adds it.
        feature: &'static str,
    },
    /// The backend is compiled in but could not start (for wgpu: no GPU or Vulkan driver).
    #[error("device `{name}` could not be started: {reason}")]
    BackendUnavailable {
        /// The backend asked for.
        name: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// A training setting that cannot work.
    #[error("invalid training setting: {0}")]
    InvalidSetting(String),
    /// Early stopping monitors a metric the loop does not compute.
    #[error("cannot monitor `{name}`: available metrics are {available}")]
    UnknownMetric {
        /// The requested metric.
        name: String,
        /// The metrics that exist, comma-separated.
        available: String,
    },
    /// The loss became NaN or infinite.
    #[error("training diverged: the loss is {loss} at epoch {epoch}, iteration {iteration}")]
    Diverged {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based iteration within the run.
        iteration: usize,
        /// The non-finite loss.
        loss: f64,
    },
}
