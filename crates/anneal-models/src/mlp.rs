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

    /// Builds the model with orthogonal weights (Saxe et al. 2014,
    /// <https://arxiv.org/abs/1312.6120>) scaled by `hidden_gain` for the hidden
    /// layers and `output_gain` for the last one, and zero biases: PyTorch's
    /// `nn.init.orthogonal_(w, gain)`, the initialisation policy-gradient agents
    /// use (Stable-Baselines3's actor-critic: gain √2 hidden, 0.01 for the policy
    /// head, 1 for the value head).
    pub fn init_orthogonal(
        &self,
        seed: u64,
        hidden_gain: f64,
        output_gain: f64,
        device: &Device,
    ) -> Result<Mlp, ModelError> {
        let mut model = self.init(seed, device)?;
        let mut rng = SeededRng::stream(seed, Stream::Named("orthogonal_init", 0));
        let last = model.layers.len() - 1;
        for (i, layer) in model.layers.iter_mut().enumerate() {
            let [fan_in, fan_out] = layer.weight.shape().dims();
            let gain = if i == last { output_gain } else { hidden_gain };
            let weight = orthogonal(&mut rng, fan_out, fan_in, gain);
            layer.weight = burn::module::Param::from_data(TensorData::new(weight, [fan_in, fan_out]), device);
            layer.bias =
                Some(burn::module::Param::from_data(TensorData::new(vec![0.0f32; fan_out], [fan_out]), device));
        }
        Ok(model)
    }
}

/// A `rows × cols` matrix with orthonormal rows or columns (whichever are
/// fewer) times `gain`, returned transposed (`cols × rows`, burn's `[fan_in,
/// fan_out]` layout for a PyTorch `[fan_out, fan_in]` weight): Gram-Schmidt on
/// a standard normal matrix, which is the Q of its QR decomposition with a
/// positive diagonal in R, as PyTorch's `orthogonal_` makes it.
fn orthogonal(rng: &mut SeededRng, rows: usize, cols: usize, gain: f64) -> Vec<f32> {
    // Orthonormalise the `k` vectors of length `n` of the tall orientation.
    let (n, k) = if rows >= cols { (rows, cols) } else { (cols, rows) };
    let mut v: Vec<Vec<f64>> = (0..k).map(|_| (0..n).map(|_| rng.normal()).collect()).collect();
    for j in 0..k {
        let (done, rest) = v.split_at_mut(j);
        let vj = &mut rest[0];
        for vp in done.iter() {
            let dot: f64 = vj.iter().zip(vp).map(|(a, b)| a * b).sum();
            vj.iter_mut().zip(vp).for_each(|(x, p)| *x -= dot * p);
        }
        let norm = vj.iter().map(|x| x * x).sum::<f64>().sqrt().max(f64::MIN_POSITIVE);
        vj.iter_mut().for_each(|x| *x /= norm);
    }
    // Entry (r, c) of the rows × cols matrix, written at [c, r].
    let mut out = vec![0.0f32; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            let value = if rows >= cols { v[c][r] } else { v[r][c] };
            out[c * rows + r] = (value * gain) as f32;
        }
    }
    out
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

/// Consecutive layers of an [`Mlp`]: one stage of a pipeline
/// ([`pipeline`](crate::pipeline)). Each layer is followed by the model's
/// activation and dropout unless it is the model's last.
#[derive(Module, Debug)]
pub struct MlpPart {
    layers: Vec<Linear>,
    activation: Activation,
    dropout: Vec<Dropout>,
    /// The model's index of the first layer here.
    first: usize,
    /// Layers in the whole model.
    depth: usize,
}

impl Mlp {
    /// Parameters of each layer, input side first: what a balanced split weighs.
    pub(crate) fn layer_params(&self) -> Vec<usize> {
        self.layers.iter().map(Module::num_params).collect()
    }

    /// Moves the layers into parts at `ranges` (consecutive, covering every layer).
    pub(crate) fn split(self, ranges: &[std::ops::Range<usize>]) -> Vec<MlpPart> {
        let depth = self.layers.len();
        let (mut layers, mut dropout) = (self.layers.into_iter(), self.dropout.into_iter());
        ranges
            .iter()
            .map(|r| MlpPart {
                layers: layers.by_ref().take(r.len()).collect(),
                activation: self.activation.clone(),
                // Dropout follows every layer but the last.
                dropout: dropout.by_ref().take(r.end.min(depth - 1).saturating_sub(r.start)).collect(),
                first: r.start,
                depth,
            })
            .collect()
    }

    /// The model whose layers `parts` hold, in order.
    pub(crate) fn join(parts: Vec<MlpPart>) -> Result<Mlp, ModelError> {
        let activation = parts.first().map(|p| p.activation.clone()).ok_or(ModelError::NoBlocks)?;
        let (mut layers, mut dropout) = (Vec::new(), Vec::new());
        for part in parts {
            if part.first != layers.len() {
                return Err(ModelError::Incompatible(format!(
                    "pipeline stages out of order: a part starting at layer {} after {} layers",
                    part.first,
                    layers.len()
                )));
            }
            layers.extend(part.layers);
            dropout.extend(part.dropout);
        }
        Ok(Mlp { layers, activation, dropout })
    }
}

impl MlpPart {
    /// This part's layers.
    ///
    /// # Shapes
    /// - `h`: `[batch, width of the layer before this part]`
    /// - output: `[batch, width of this part's last layer]`
    pub fn forward(&self, mut h: Tensor<2>) -> Tensor<2> {
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(h);
            if self.first + i + 1 < self.depth {
                h = self.dropout[i].forward(self.activation.forward(h));
            }
        }
        h
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Wᵀ·W (or W·Wᵀ) is gain²·I: orthonormal columns for a tall matrix, rows for a wide one.
    #[test]
    fn orthogonal_weights_are_orthonormal_times_the_gain() {
        for (rows, cols) in [(8, 3), (3, 8), (5, 5)] {
            let mut rng = SeededRng::new(7);
            let w = orthogonal(&mut rng, rows, cols, 2.0); // [cols, rows] layout: w[c * rows + r]
            let at = |r: usize, c: usize| w[c * rows + r] as f64;
            let k = rows.min(cols);
            for a in 0..k {
                for b in 0..k {
                    let dot: f64 = if rows >= cols {
                        (0..rows).map(|r| at(r, a) * at(r, b)).sum()
                    } else {
                        (0..cols).map(|c| at(a, c) * at(b, c)).sum()
                    };
                    let want = if a == b { 4.0 } else { 0.0 };
                    assert!((dot - want).abs() < 1e-5, "{rows}x{cols} ({a},{b}): {dot}");
                }
            }
        }
    }

    #[test]
    fn orthogonal_init_zeroes_biases_and_keeps_shapes() {
        let config = MlpConfig {
            input: 4,
            hidden: vec![16, 16],
            output: 2,
            activation: ActivationKind::Tanh,
            dropout: 0.0,
            layer_dropout: vec![],
        };
        let device = Device::flex();
        let model = config.init_orthogonal(3, 2f64.sqrt(), 0.01, &device).unwrap();
        assert_eq!(model.num_params(), config.init(3, &device).unwrap().num_params());
        let bias: Vec<f32> = model.layers[2].bias.as_ref().unwrap().val().into_data().try_to_vec::<f32>().unwrap();
        assert!(bias.iter().all(|&b| b == 0.0));
        let head: Vec<f32> = model.layers[2].weight.val().into_data().try_to_vec::<f32>().unwrap();
        // Two orthonormal rows scaled by 0.01: each row's norm is 0.01.
        let norm0: f32 = (0..16).map(|i| head[i * 2] * head[i * 2]).sum::<f32>().sqrt();
        assert!((norm0 - 0.01).abs() < 1e-6, "{norm0}");
    }
}
