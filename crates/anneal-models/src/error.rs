//! The error type of `anneal-models`: invalid model configurations.

/// A model configuration that cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A layer would have no units.
    #[error("{layer} has 0 units; every layer needs at least one")]
    EmptyLayer {
        /// Which layer (`input`, `hidden layer 2`, `output`).
        layer: String,
    },
    /// Dropout probability outside `[0, 1)`.
    #[error("dropout {0} is outside [0, 1)")]
    Dropout(f64),
    /// `layer_dropout` does not give one probability per hidden layer.
    #[error("layer_dropout has {given} values but the model has {hidden} hidden layers")]
    LayerDropout {
        /// Values given.
        given: usize,
        /// Hidden layers.
        hidden: usize,
    },
}
