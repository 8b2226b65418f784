//! A causal transformer over sequences of vectors, for in-context learning as
//! Garg et al. (2022, "What can transformers learn in-context? A case study of
//! simple function classes", <https://arxiv.org/abs/2208.01633>) study it: a
//! prompt `x₁, y₁, x₂, y₂, …, x_k, y_k, x_query` of one function's inputs and
//! outputs, the model's output at every `x` token its guess of that `x`'s `y`
//! from the pairs before it. A new function needs no parameter update: what
//! the model learns is to read the function off its prompt.
//!
//! Tokens are vectors of `dim + 1` values: an input `x` is `[x, 0]`, an output
//! `y` is `[0, …, 0, y]`. A linear read-in maps them to `d_model`, a learned
//! position vector is added, pre-LN blocks of [`Transformer`](crate::Transformer)'s
//! kind (with a causal mask) and a final norm follow, and a linear read-out
//! gives one value at each `x` token.

use anneal_core::{SeededRng, Stream};
use burn::module::Param;
use burn::nn::activation::Activation;
use burn::nn::{LayerNorm, LayerNormConfig, Linear};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::mlp::{ActivationKind, linear_layer};
use crate::model::Model;
use crate::transformer::{BlockShape, EncoderBlock, Packing, run_blocks};

/// The shape of an [`InContextRegressor`].
///
/// ```
/// use anneal_models::incontext::InContextConfig;
/// use anneal_models::Model;
/// use burn::prelude::*;
///
/// let config = InContextConfig { dim: 5, points: 16, d_model: 32, layers: 2, heads: 4, d_ff: 64 };
/// let device = Device::flex();
/// let model = config.init(0, &device)?;
/// // Three prompts of 16 (x, y) pairs: 32 tokens of dim + 1 = 6 values.
/// let prompts = Tensor::<3>::zeros([3, 32, 6], &device);
/// assert_eq!(model.forward(prompts).dims(), [3 * 16, 1]); // a guess at every x
/// # Ok::<(), anneal_models::ModelError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InContextConfig {
    /// The inputs' dimension `d`.
    pub dim: usize,
    /// The most `(x, y)` pairs in a prompt (the query's included): positions are `2 · points`.
    pub points: usize,
    /// Width of every token's vector.
    pub d_model: usize,
    /// Transformer blocks.
    pub layers: usize,
    /// Attention heads per block; `d_model` must be a multiple.
    pub heads: usize,
    /// Hidden units of each block's feed-forward network.
    pub d_ff: usize,
}

impl InContextConfig {
    /// Checks the settings: sizes of at least 1, heads dividing `d_model`.
    pub fn validate(&self) -> Result<(), ModelError> {
        for (layer, n) in [
            ("dim", self.dim),
            ("points", self.points),
            ("d_model", self.d_model),
            ("layers", self.layers),
            ("heads", self.heads),
            ("d_ff", self.d_ff),
        ] {
            if n == 0 {
                return Err(ModelError::EmptyLayer { layer: format!("in-context transformer {layer}") });
            }
        }
        if !self.d_model.is_multiple_of(self.heads) {
            return Err(ModelError::Heads { d_model: self.d_model, heads: self.heads });
        }
        Ok(())
    }

    /// Builds the network with weights drawn from `seed` on the host: read-in,
    /// read-out and feed-forward layers U(±1/√fan_in), positions N(0, 0.02²) (GPT-2's),
    /// the blocks as [`TransformerConfig::init`](crate::TransformerConfig::init)'s.
    pub fn init(&self, seed: u64, device: &Device) -> Result<InContextRegressor, ModelError> {
        self.validate()?;
        let mut rng = SeededRng::stream(seed, Stream::Init);
        let d = self.d_model;
        let read_in = linear_layer(&mut rng, self.dim + 1, d, device);
        let positions = 2 * self.points;
        let position: Vec<f32> = (0..positions * d).map(|_| (0.02 * rng.normal()) as f32).collect();
        let blocks =
            BlockShape { d_model: d, d_ff: self.d_ff, layers: self.layers, dropout: 0.0 }.init(seed, &mut rng, device);
        Ok(InContextRegressor {
            read_in,
            position: Param::from_data(TensorData::new(position, [positions, d]), device),
            blocks,
            final_norm: LayerNormConfig::new(d).with_epsilon(1e-5).init(device),
            read_out: linear_layer(&mut rng, d, 1, device),
            activation: ActivationKind::Gelu.config().init(device),
            heads: self.heads,
            dim: self.dim,
        })
    }

    /// The number of trainable values.
    pub fn num_params(&self) -> usize {
        let (d, f) = (self.d_model, self.d_ff);
        let block = 4 * (d * d + d) + (d * f + f) + (f * d + d) + 4 * d;
        (self.dim + 1) * d + d + 2 * self.points * d + self.layers * block + 2 * d + d + 1
    }
}

/// A causal transformer that reads a prompt of `(x, y)` pairs and guesses the
/// `y` of every `x` from the pairs before it. Build it with [`InContextConfig::init`].
#[derive(Module, Debug)]
pub struct InContextRegressor {
    read_in: Linear,
    position: Param<Tensor<2>>,
    blocks: Vec<EncoderBlock>,
    final_norm: LayerNorm,
    read_out: Linear,
    activation: Activation,
    heads: usize,
    dim: usize,
}

impl InContextRegressor {
    /// The guesses at every `x` token.
    ///
    /// # Shapes
    /// - `prompts`: `[batch, 2 · pairs, dim + 1]`, tokens `x₁, y₁, x₂, y₂, …`
    ///   (`[x, 0]` and `[0, …, 0, y]`), `pairs` at most the config's `points`
    /// - output: `[batch · pairs, 1]`, row `b · pairs + i` the guess of `yᵢ₊₁`
    ///   from the first `i` pairs and `xᵢ₊₁`
    pub fn forward(&self, prompts: Tensor<3>) -> Tensor<2> {
        let [b, s, width] = prompts.dims();
        let device = prompts.device();
        let d = self.position.val().dims()[1];
        debug_assert_eq!(width, self.dim + 1);
        let h = self.read_in.forward(prompts) + self.position.val().slice([0..s, 0..d]).unsqueeze::<3>();
        let packing = Packing::causal_dense(b, s, &device);
        let h = run_blocks(&self.blocks, h.reshape([b * s, d]), &packing, self.heads, true, &self.activation);
        let h = self.final_norm.forward(h);
        let xs: Vec<i64> = (0..(b * s) as i64).step_by(2).collect();
        let n = xs.len();
        let at_x = h.select(0, Tensor::<1, Int>::from_data(TensorData::new(xs, [n]), &device));
        self.read_out.forward(at_x)
    }
}

impl Model for InContextRegressor {
    type Input = Tensor<3>;

    fn forward(&self, prompts: Tensor<3>) -> Tensor<2> {
        InContextRegressor::forward(self, prompts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> InContextConfig {
        InContextConfig { dim: 2, points: 4, d_model: 8, layers: 2, heads: 2, d_ff: 16 }
    }

    /// The guess at an `x` depends on no later token: changing the last pair
    /// moves only the last guess.
    #[test]
    fn guesses_see_only_the_pairs_before_them() {
        let device = Device::flex();
        let model = config().init(1, &device).unwrap();
        let mut values: Vec<f32> = (0..8 * 3).map(|i| ((i * 7 % 11) as f32 - 5.0) / 5.0).collect();
        let before = model.forward(Tensor::from_data(TensorData::new(values.clone(), [1, 8, 3]), &device));
        values[6 * 3] += 1.0; // x₄
        values[7 * 3 + 2] += 1.0; // y₄
        let after = model.forward(Tensor::from_data(TensorData::new(values, [1, 8, 3]), &device));
        let (before, after) =
            (before.into_data().try_to_vec::<f32>().unwrap(), after.into_data().try_to_vec::<f32>().unwrap());
        assert_eq!(&before[..3], &after[..3]);
        assert_ne!(before[3], after[3]);
    }

    #[test]
    fn the_count_of_values_is_the_modules_and_bad_shapes_are_named() {
        use burn::module::Module;
        let device = Device::flex();
        let config = config();
        assert_eq!(config.init(0, &device).unwrap().num_params(), config.num_params());
        let e = InContextConfig { heads: 3, ..config.clone() }.validate().unwrap_err().to_string();
        assert!(e.contains("3 heads"), "{e}");
        assert!(InContextConfig { points: 0, ..config }.validate().is_err());
    }
}
