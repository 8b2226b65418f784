//! A multi-layer perceptron: linear layers with an activation and dropout between them.

use anneal_core::{SeededRng, Stream};
use burn::nn::Linear;
use burn::nn::activation::{Activation, ActivationConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::dropout::Dropout;
use crate::error::ModelError;
use crate::model::Model;

/// The non-linearity between layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ActivationKind {
    /// max(0, x).
    #[default]
    Relu,
    /// Hyperbolic tangent.
    Tanh,
    /// Logistic sigmoid.
    Sigmoid,
    /// Gaussian error linear unit.
    Gelu,
}

impl ActivationKind {
    pub(crate) fn config(self) -> ActivationConfig {
        match self {
            ActivationKind::Relu => ActivationConfig::Relu,
            ActivationKind::Tanh => ActivationConfig::Tanh,
            ActivationKind::Sigmoid => ActivationConfig::Sigmoid,
            ActivationKind::Gelu => ActivationConfig::Gelu,
        }
    }
}

/// The shape of an [`Mlp`]: `input -> hidden[0] -> ... -> output`.
///
/// ```
/// use anneal_models::{ActivationKind, MlpConfig};
/// use burn::module::Module;
///
/// let config = MlpConfig { input: 4, hidden: vec![8], output: 3, activation: ActivationKind::Relu, dropout: 0.1, layer_dropout: vec![] };
/// let model = config.init(42, &burn::prelude::Device::flex())?;
/// assert_eq!(model.num_params(), 4 * 8 + 8 + 8 * 3 + 3);
/// # Ok::<(), anneal_models::ModelError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpConfig {
    /// Number of input features (0 in a run config: taken from the data).
    #[serde(default, skip_serializing_if = "crate::config::is_zero")]
    pub input: usize,
    /// Units of each hidden layer.
    pub hidden: Vec<usize>,
    /// Number of outputs: classes, or regression targets (0 in a run config: from the data).
    #[serde(default, skip_serializing_if = "crate::config::is_zero")]
    pub output: usize,
    /// Activation after each hidden layer.
    #[serde(default)]
    pub activation: ActivationKind,
    /// Dropout probability after each hidden activation (0 disables it).
    #[serde(default)]
    pub dropout: f64,
    /// Dropout probability per hidden layer, overriding `dropout` (empty: `dropout`
    /// everywhere; otherwise one value per hidden layer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layer_dropout: Vec<f64>,
}

/// A multi-layer perceptron. Build it with [`MlpConfig::init`].
#[derive(Module, Debug)]
pub struct Mlp {
    layers: Vec<Linear>,
    activation: Activation,
    dropout: Vec<Dropout>,
}

impl MlpConfig {
    /// Checks the layer sizes and the dropout probability.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.input == 0 {
            return Err(ModelError::EmptyLayer { layer: "input".into() });
        }
        if let Some(i) = self.hidden.iter().position(|&h| h == 0) {
            return Err(ModelError::EmptyLayer { layer: format!("hidden layer {}", i + 1) });
        }
        if self.output == 0 {
            return Err(ModelError::EmptyLayer { layer: "output".into() });
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(ModelError::Dropout(self.dropout));
        }
        if !self.layer_dropout.is_empty() && self.layer_dropout.len() != self.hidden.len() {
            return Err(ModelError::LayerDropout { given: self.layer_dropout.len(), hidden: self.hidden.len() });
        }
        if let Some(&p) = self.layer_dropout.iter().find(|p| !(0.0..1.0).contains(*p)) {
            return Err(ModelError::Dropout(p));
        }
        Ok(())
    }

    /// The dropout probability after hidden layer `i` (0-based).
    pub fn dropout_of(&self, i: usize) -> f64 {
        self.layer_dropout.get(i).copied().unwrap_or(self.dropout)
    }

    /// Builds the model on `device` with weights drawn from `seed`.
    ///
    /// Weights and biases are drawn on the host from U(-1/√fan_in, 1/√fan_in)
    /// (PyTorch's `nn.Linear` default) with a portable generator, so the same seed
    /// gives bit-identical initial weights on every backend. Dropout masks come from
    /// the model's own generator, also seeded from `seed`.
    pub fn init(&self, seed: u64, device: &Device) -> Result<Mlp, ModelError> {
        self.validate()?;
        let mut rng = SeededRng::stream(seed, Stream::Init);
        let sizes: Vec<usize> = std::iter::once(self.input)
            .chain(self.hidden.iter().copied())
            .chain(std::iter::once(self.output))
            .collect();
        let layers = sizes.windows(2).map(|w| linear_layer(&mut rng, w[0], w[1], device)).collect();
        Ok(Mlp {
            layers,
            activation: self.activation.config().init(device),
            // Each dropout layer has a stream of its own.
            dropout: (0..self.hidden.len())
                .map(|i| Dropout::new(self.dropout_of(i), SeededRng::stream(seed, Stream::Dropout(i as u64))))
                .collect(),
        })
    }
}

impl Mlp {
    /// Computes the outputs (logits, for a classifier).
    ///
    /// # Shapes
    /// - `x`: `[batch, input]`
    /// - output: `[batch, output]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        let mut h = x;
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(h);
            if i < last {
                h = self.dropout[i].forward(self.activation.forward(h));
            }
        }
        h
    }

    /// The dropout generators' states, one per hidden layer, for checkpoints.
    pub fn rng_state(&self) -> Vec<u64> {
        self.dropout.iter().map(Dropout::rng_state).collect()
    }

    /// Restores states read with [`rng_state`](Mlp::rng_state); extra or missing
    /// entries are ignored.
    pub fn set_rng_state(&self, state: &[u64]) {
        for (d, &s) in self.dropout.iter().zip(state) {
            d.set_rng_state(s);
        }
    }

    /// Number of linear layers (hidden layers + 1).
    pub fn depth(&self) -> usize {
        self.layers.len()
    }
}

/// A linear layer with weights and bias drawn on the host from
/// U(−1/√fan_in, 1/√fan_in) (PyTorch's `nn.Linear` default), weights first.
pub(crate) fn linear_layer(rng: &mut SeededRng, fan_in: usize, fan_out: usize, device: &Device) -> Linear {
    let bound = 1.0 / (fan_in as f64).sqrt();
    let mut draw = |n: usize| -> Vec<f32> { (0..n).map(|_| ((rng.next_f64() * 2.0 - 1.0) * bound) as f32).collect() };
    let weight = draw(fan_in * fan_out);
    let bias = draw(fan_out);
    Linear {
        weight: burn::module::Param::from_data(TensorData::new(weight, [fan_in, fan_out]), device),
        bias: Some(burn::module::Param::from_data(TensorData::new(bias, [fan_out]), device)),
    }
}

impl Model for Mlp {
    type Input = Tensor<2>;

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        Mlp::forward(self, x)
    }

    fn rng_state(&self) -> Vec<u64> {
        Mlp::rng_state(self)
    }

    fn set_rng_state(&self, state: &[u64]) {
        Mlp::set_rng_state(self, state)
    }
}
