//! The error type of `anneal-optim`: optimiser settings that cannot work.

/// An optimiser configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OptimError {
    /// The learning rate is zero, negative or not finite.
    #[error("learning rate must be a positive finite number, got {0}")]
    LearningRate(f64),
    /// A hyperparameter is outside its valid range.
    #[error("{name} = {value} is outside its valid range {range}")]
    OutOfRange {
        /// The hyperparameter.
        name: &'static str,
        /// The value given.
        value: f64,
        /// The valid range, as text.
        range: &'static str,
    },
}
