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
    /// The batch size is 0 or larger than the training set.
    #[error("batch_size = {batch_size} is invalid: it must be between 1 and the {rows} training rows")]
    BatchSize {
        /// The batch size given.
        batch_size: usize,
        /// Training rows.
        rows: usize,
    },
    /// A learning-rate schedule was given to an optimiser that adapts its own rate.
    #[error(
        "optimizer `{optimizer}` learns its own learning rate; remove the [schedule] or use its non-hypergradient variant"
    )]
    ScheduleWithAdaptiveRate {
        /// The optimiser's name.
        optimizer: &'static str,
    },
    /// Training diverged: a loss or a weight became NaN or infinite, or the
    /// loss grew above [`DIVERGENCE_FACTOR`](crate::trainer::DIVERGENCE_FACTOR) times the
    /// first batch's. Nothing of the diverged state is checkpointed.
    #[error(
        "training diverged at epoch {epoch}, iteration {iteration}: {reason}; {}",
        match last_checkpoint {
            Some(e) => format!("the last good checkpoint (epoch {e}) is kept"),
            None => "no checkpoint was written before it".to_string(),
        }
    )]
    Diverged {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based iteration within the run (the epoch's last one for the checks
        /// made once an epoch: weights and validation loss).
        iteration: usize,
        /// What was found (`the loss is NaN`, `the loss 1.6e19 is above 1000 × ...`).
        reason: String,
        /// The epoch of the last checkpoint written, if any: it is left as it was.
        last_checkpoint: Option<usize>,
    },
    /// A hook ended the run with an error ([`TrainHook::failure`](crate::TrainHook::failure)):
    /// a data-parallel peer that left or timed out.
    #[error(
        "training stopped at epoch {epoch}, iteration {iteration}: {reason}; {}",
        match last_checkpoint {
            Some(e) => format!("the last checkpoint (epoch {e}) is kept"),
            None => "no checkpoint was written before it".to_string(),
        }
    )]
    Aborted {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based iteration within the run.
        iteration: usize,
        /// What the hook reported.
        reason: String,
        /// The epoch of the last checkpoint written, if any: it is left as it was.
        last_checkpoint: Option<usize>,
    },
    /// A checkpoint could not be written or read.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The checkpoint folder or file.
        path: std::path::PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A history or plot file could not be written.
    #[error("cannot write {path}: {message}")]
    Output {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A chart could not be drawn.
    #[error("cannot draw {path}: {message}")]
    Plot {
        /// The image file.
        path: std::path::PathBuf,
        /// What plotters reported.
        message: String,
    },
}
