//! The error type of `anneal-optim`: optimiser, schedule and gradient settings that cannot work.

/// An optimiser, schedule, clipping or accumulation setting that cannot be used.
///
/// Every message names the setting at fault and the value given.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum OptimError {
    /// The learning rate is zero, negative or not finite.
    #[error("learning rate must be a positive finite number, got {0}")]
    LearningRate(f64),
    /// A real-valued hyperparameter is outside its valid range.
    #[error("{name} = {value} is outside its valid range {range}")]
    OutOfRange {
        /// The hyperparameter.
        name: &'static str,
        /// The value given.
        value: f64,
        /// The valid range, as text.
        range: &'static str,
    },
    /// A count (steps, iterations, micro-batches) is too small.
    #[error("{name} = {value} must be at least {min}")]
    TooFew {
        /// The setting.
        name: &'static str,
        /// The value given.
        value: usize,
        /// The smallest valid value.
        min: usize,
    },
    /// No optimiser has this name.
    #[error("unknown optimizer `{name}`, expected one of: {known}")]
    UnknownOptimizer {
        /// The name given.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// Nesterov momentum was asked for without momentum (PyTorch refuses it too).
    #[error("nesterov = true needs momentum > 0, got momentum = {momentum}")]
    NesterovWithoutMomentum {
        /// The momentum given.
        momentum: f64,
    },
    /// Multi-step milestones are empty, zero, or not strictly increasing.
    #[error("milestones must be non-empty, positive and strictly increasing, got {milestones:?}")]
    Milestones {
        /// The milestones given.
        milestones: Vec<usize>,
    },
    /// The warm-up is longer than the whole run.
    #[error("warm-up of {warmup} steps is longer than the run's {total} steps")]
    WarmupTooLong {
        /// Warm-up steps.
        warmup: usize,
        /// Steps in the whole run (or in what is left of it after an enclosing warm-up).
        total: usize,
    },
    /// A saved optimiser state could not be written or read back.
    #[error("optimizer state in {path}: {message}")]
    State {
        /// The folder of the state.
        path: std::path::PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A one-cycle schedule whose warm-up phase would be shorter than one step.
    #[error(
        "one-cycle needs pct_start × total_steps > 1 for a rising phase, got pct_start = {pct_start} and total_steps = {total_steps}"
    )]
    OneCycleTooShort {
        /// The fraction of the run spent rising.
        pct_start: f64,
        /// Steps in the run.
        total_steps: usize,
    },
}
