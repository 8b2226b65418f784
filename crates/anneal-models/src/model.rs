//! The model abstraction the training loop trains: a burn module that maps a
//! batch's input to one row of outputs per example.

use burn::prelude::*;

/// A model the training loop can train and evaluate.
///
/// The loop knows nothing else about a model: a new kind (a CNN, a transformer
/// encoder) implements this trait in this crate, with a config variant in
/// [`ModelConfig`](crate::ModelConfig), and trains without any change to
/// `anneal-train`. What the outputs mean (class logits, regression values, a
/// Poisson log-rate) is the objective's business, not the model's.
pub trait Model: Module {
    /// What the model reads from a batch (`Tensor<2>` `[batch, features]` for tabular rows).
    type Input: Clone;

    /// The outputs for a batch.
    ///
    /// # Shapes
    /// - output: `[batch, outputs]`
    fn forward(&self, input: Self::Input) -> Tensor<2>;

    /// The state of the model's own random generators (dropout), for checkpoints.
    fn rng_state(&self) -> Vec<u64> {
        Vec::new()
    }

    /// Restores a state read with [`rng_state`](Model::rng_state).
    fn set_rng_state(&self, _state: &[u64]) {}
}
