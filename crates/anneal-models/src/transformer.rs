//! A transformer encoder for token sequences (Vaswani et al. 2017,
//! <https://arxiv.org/abs/1706.03762>): token + position embedding, `layers`
//! blocks of multi-head self-attention and a feed-forward network, each
//! wrapped in a residual connection and layer normalisation, then a pooled
//! vector and a linear head.
//!
//! The norm's placement is a switch ([`NormPlacement`]): `post` as in the
//! original paper (`x = norm(x + sublayer(x))`), `pre` as in most models since
//! (`x = x + sublayer(norm(x))`, with a final norm; Xiong et al. 2020,
//! <https://arxiv.org/abs/2002.04745>). The layers are PyTorch's
//! `nn.TransformerEncoderLayer` (`batch_first`, dropout on the attention
//! weights, after each sublayer and inside the feed-forward network).
//!
//! Rows reach the model as every dataset gives them: one row of `max_len`
//! token ids (as floats) per example, `0` being `<pad>`
//! ([`anneal_data::text`]). The padding mask is read from the ids: padded
//! positions get no attention and are left out of mean pooling, so a text's
//! outputs do not depend on how much padding follows it.
//!
//! The encoder computes only what reaches the output: the real tokens of a
//! batch are packed as rows `[tokens, d_model]` for the projections, norms,
//! feed-forward networks and dropout, and laid out as `[batch, heads, seq, seq]`
//! only for the attention scores. A padded position's state feeds nothing (it is
//! masked as a key and left out of pooling), so this is the padded network's
//! result with about half the work on reviews that fill half of `max_len`
//! (PyTorch does the same at inference with nested tensors, not in training).

use anneal_core::{SeededRng, Stream};
use burn::module::Param;
use burn::nn::activation::Activation;
use burn::nn::{Embedding, LayerNorm, LayerNormConfig, Linear};
use burn::prelude::*;
use burn::tensor::IndexingUpdateOp;
use burn::tensor::activation::softmax;
use serde::{Deserialize, Serialize};

use crate::dropout::Dropout;
use crate::error::ModelError;
use crate::mlp::{ActivationKind, linear_layer};
use crate::model::Model;

/// Where layer normalisation sits in each block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NormPlacement {
    /// Before each sublayer, inside the residual branch, plus a final norm
    /// (pre-LN): trains without warm-up in most reports.
    #[default]
    Pre,
    /// After each residual sum (post-LN, the original transformer).
    Post,
}

/// How positions are told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PositionKind {
    /// A learned vector per position (BERT; PyTorch's `nn.Embedding(max_len, d)`).
    #[default]
    Learned,
    /// Fixed sines and cosines of the original transformer.
    Sinusoidal,
}

/// How the sequence becomes one vector for the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// The mean over the real (not padded) tokens.
    #[default]
    Mean,
    /// The output at a learned `[CLS]` vector put before the tokens (BERT).
    Cls,
}

/// The shape of a [`Transformer`].
///
/// `vocab`, `max_len` and `output` come from the data in a run config (0
/// there). The reference network of `examples/configs/fine_foods_transformer.toml`:
///
/// ```
/// use anneal_models::{Model, TransformerConfig};
/// use burn::module::Module;
/// use burn::prelude::*;
///
/// let config = TransformerConfig { vocab: 8002, max_len: 128, output: 2, ..TransformerConfig::default() };
/// let device = Device::flex();
/// let model = config.init(0, &device)?;
/// // PyTorch's count for the same network (transformer_train.py with --norm-first 1).
/// assert_eq!(model.num_params(), 1_306_114);
/// // Two texts of 128 ids, padded with 0.
/// let ids = Tensor::<2>::from_data(TensorData::new(vec![5.0f32; 256], [2, 128]), &device);
/// assert_eq!(model.forward(ids).dims(), [2, 2]);
/// # Ok::<(), anneal_models::ModelError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformerConfig {
    /// Token ids, `<pad>` = 0 included (0 in a run config: from the tokenizer).
    #[serde(default, skip_serializing_if = "crate::config::is_zero")]
    pub vocab: usize,
    /// The longest sequence (0 in a run config: the tokenizer's `max_len`).
    #[serde(default, skip_serializing_if = "crate::config::is_zero")]
    pub max_len: usize,
    /// Width of every token's vector (128).
    pub d_model: usize,
    /// Encoder blocks (2).
    pub layers: usize,
    /// Attention heads per block; `d_model` must be a multiple (4).
    pub heads: usize,
    /// Hidden units of the feed-forward network (256).
    pub d_ff: usize,
    /// Dropout on attention weights, sublayer outputs and the feed-forward hidden layer (0.1).
    pub dropout: f64,
    /// `pre` (default) or `post` layer normalisation.
    pub norm: NormPlacement,
    /// `learned` (default) or `sinusoidal` positions.
    pub position: PositionKind,
    /// `mean` (default, masked) or `cls` pooling.
    pub pooling: Pooling,
    /// The feed-forward activation (`relu`; `gelu`).
    pub activation: ActivationKind,
    /// Number of outputs (0 in a run config: from the data).
    #[serde(default, skip_serializing_if = "crate::config::is_zero")]
    pub output: usize,
    /// A causal (decoder-only) model: each position attends only to itself and
    /// the positions before it, so the output at a position depends on no
    /// later token (a language model's next-token prediction). `false`: every
    /// real token sees every other (an encoder).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub causal: bool,
}

impl Default for TransformerConfig {
    fn default() -> Self {
        Self {
            vocab: 0,
            max_len: 0,
            d_model: 128,
            layers: 2,
            heads: 4,
            d_ff: 256,
            dropout: 0.1,
            norm: NormPlacement::Pre,
            position: PositionKind::Learned,
            pooling: Pooling::Mean,
            activation: ActivationKind::Relu,
            output: 0,
            causal: false,
        }
    }
}

impl TransformerConfig {
    /// Checks the settings: sizes of at least 1, heads dividing `d_model`,
    /// dropout in `[0, 1)`, no `[CLS]` pooling in a causal model (its `[CLS]`
    /// would see only itself).
    pub fn validate(&self) -> Result<(), ModelError> {
        for (layer, n) in [
            ("vocab", self.vocab),
            ("max_len", self.max_len),
            ("d_model", self.d_model),
            ("layers", self.layers),
            ("heads", self.heads),
            ("d_ff", self.d_ff),
            ("output", self.output),
        ] {
            if n == 0 {
                return Err(ModelError::EmptyLayer { layer: format!("transformer {layer}") });
            }
        }
        if !self.d_model.is_multiple_of(self.heads) {
            return Err(ModelError::Heads { d_model: self.d_model, heads: self.heads });
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(ModelError::Dropout(self.dropout));
        }
        if self.causal && self.pooling == Pooling::Cls {
            return Err(ModelError::Incompatible(
                "a causal transformer cannot pool at [CLS]: placed first, it would attend only to itself; use \
                 pooling = \"mean\""
                    .into(),
            ));
        }
        Ok(())
    }

    /// Builds the network with weights drawn from `seed` on the host, so a
    /// seed gives the same initial weights on every backend. As PyTorch:
    /// embeddings (tokens, learned positions, `[CLS]`) from N(0, 1); the
    /// attention's query, key and value projections Xavier-uniform over their
    /// stacked `3·d × d` matrix with zero biases, its output projection
    /// U(±1/√d) with a zero bias; the feed-forward and head layers U(±1/√fan_in)
    /// (weights and biases); norms at scale 1, shift 0, ε 1e-5.
    pub fn init(&self, seed: u64, device: &Device) -> Result<Transformer, ModelError> {
        self.validate()?;
        let mut rng = SeededRng::stream(seed, Stream::Init);
        let d = self.d_model;
        let mut normal = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.normal() as f32).collect() };
        let token =
            Embedding { weight: Param::from_data(TensorData::new(normal(self.vocab * d), [self.vocab, d]), device) };
        let positions = self.max_len + usize::from(self.pooling == Pooling::Cls);
        let position = (self.position == PositionKind::Learned)
            .then(|| Param::from_data(TensorData::new(normal(positions * d), [positions, d]), device));
        let cls =
            (self.pooling == Pooling::Cls).then(|| Param::from_data(TensorData::new(normal(d), [1, 1, d]), device));
        let norm = |device: &Device| LayerNormConfig::new(d).with_epsilon(1e-5).init(device);
        let blocks = BlockShape { d_model: d, d_ff: self.d_ff, layers: self.layers, dropout: self.dropout }
            .init(seed, &mut rng, device);
        Ok(Transformer {
            token,
            position,
            cls,
            blocks,
            final_norm: (self.norm == NormPlacement::Pre).then(|| norm(device)),
            head: linear_layer(&mut rng, d, self.output, device),
            activation: self.activation.config().init(device),
            sinusoids: match self.position {
                PositionKind::Sinusoidal => sinusoids(positions, d),
                PositionKind::Learned => Vec::new(),
            },
            heads: self.heads,
            pre_norm: self.norm == NormPlacement::Pre,
            causal: self.causal,
        })
    }
}

/// The sizes of a stack of encoder blocks (shared by [`Transformer`] and
/// [`InContextRegressor`](crate::incontext::InContextRegressor)).
pub(crate) struct BlockShape {
    pub(crate) d_model: usize,
    pub(crate) d_ff: usize,
    pub(crate) layers: usize,
    pub(crate) dropout: f64,
}

impl BlockShape {
    /// The blocks, weights drawn from `rng` as PyTorch initialises
    /// `nn.TransformerEncoderLayer` (see [`TransformerConfig::init`]), dropout
    /// generators from `seed`.
    pub(crate) fn init(&self, seed: u64, rng: &mut SeededRng, device: &Device) -> Vec<EncoderBlock> {
        let d = self.d_model;
        let norm = |device: &Device| LayerNormConfig::new(d).with_epsilon(1e-5).init(device);
        let mut dropouts = 0u64;
        let mut dropout = || {
            dropouts += 1;
            Dropout::new(self.dropout, SeededRng::stream(seed, Stream::Dropout(dropouts - 1)))
        };
        let mut blocks = Vec::with_capacity(self.layers);
        for _ in 0..self.layers {
            let xavier = (6.0 / (4 * d) as f64).sqrt();
            let mut projection = |bound: f64| -> Linear {
                let weight: Vec<f32> = (0..d * d).map(|_| ((rng.next_f64() * 2.0 - 1.0) * bound) as f32).collect();
                Linear {
                    weight: Param::from_data(TensorData::new(weight, [d, d]), device),
                    bias: Some(Param::from_data(TensorData::new(vec![0.0f32; d], [d]), device)),
                }
            };
            let (query, key, value) = (projection(xavier), projection(xavier), projection(xavier));
            let out = projection(1.0 / (d as f64).sqrt());
            blocks.push(EncoderBlock {
                query,
                key,
                value,
                out,
                ff_in: linear_layer(rng, d, self.d_ff, device),
                ff_out: linear_layer(rng, self.d_ff, d, device),
                norm_attention: norm(device),
                norm_ff: norm(device),
                attention_dropout: dropout(),
                attention_out_dropout: dropout(),
                ff_dropout: dropout(),
                ff_out_dropout: dropout(),
            });
        }
        blocks
    }
}

/// The fixed position table of the original transformer, `[positions, d]`
/// row-major: `sin(p / 10000^(2i/d))` at `2i`, `cos` at `2i + 1`.
fn sinusoids(positions: usize, d: usize) -> Vec<f32> {
    let mut table = vec![0.0f32; positions * d];
    for p in 0..positions {
        for i in 0..d {
            let angle = p as f64 / 10000f64.powf((i / 2 * 2) as f64 / d as f64);
            table[p * d + i] = if i % 2 == 0 { angle.sin() } else { angle.cos() } as f32;
        }
    }
    table
}

/// One encoder block: self-attention and a feed-forward network.
#[derive(Module, Debug)]
pub struct EncoderBlock {
    query: Linear,
    key: Linear,
    value: Linear,
    out: Linear,
    ff_in: Linear,
    ff_out: Linear,
    norm_attention: LayerNorm,
    norm_ff: LayerNorm,
    attention_dropout: Dropout,
    attention_out_dropout: Dropout,
    ff_dropout: Dropout,
    ff_out_dropout: Dropout,
}

impl EncoderBlock {
    /// Multi-head self-attention of the packed rows `x` (`[tokens, d]`): laid
    /// out as `[batch, heads, seq, head_dim]` (zeros at padding) for the scores,
    /// whose padded keys `packing.mask` removes, and packed again after.
    fn attention(&self, x: Tensor<2>, packing: &Packing, heads: usize) -> Tensor<2> {
        let d = x.dims()[1];
        let (b, t) = (packing.batch, packing.seq);
        let dh = d / heads;
        let device = x.device();
        let split = |z: Tensor<2>| {
            let z = if packing.dense {
                z
            } else {
                Tensor::<2>::zeros([b * t, d], &device).select_assign(0, packing.rows.clone(), z, IndexingUpdateOp::Add)
            };
            z.reshape([b, t, heads, dh]).swap_dims(1, 2)
        };
        // Scaling the queries rather than the scores: t / head_dim times fewer products.
        let q = split(self.query.forward(x.clone())).mul_scalar(1.0 / (dh as f64).sqrt());
        let k = split(self.key.forward(x.clone()));
        let v = split(self.value.forward(x));
        let scores = q.matmul(k.swap_dims(2, 3)) + packing.mask.clone();
        let weights = self.attention_dropout.forward(softmax(scores, 3));
        let z = weights.matmul(v).swap_dims(1, 2).reshape([b * t, d]);
        let z = if packing.dense { z } else { z.select(0, packing.rows.clone()) };
        self.attention_out_dropout.forward(self.out.forward(z))
    }

    fn feed_forward(&self, x: Tensor<2>, activation: &Activation) -> Tensor<2> {
        let h = self.ff_dropout.forward(activation.forward(self.ff_in.forward(x)));
        self.ff_out_dropout.forward(self.ff_out.forward(h))
    }

    fn forward(
        &self,
        x: Tensor<2>,
        packing: &Packing,
        heads: usize,
        pre_norm: bool,
        activation: &Activation,
    ) -> Tensor<2> {
        if pre_norm {
            let x = x.clone() + self.attention(self.norm_attention.forward(x), packing, heads);
            x.clone() + self.feed_forward(self.norm_ff.forward(x), activation)
        } else {
            let x = self.norm_attention.forward(x.clone() + self.attention(x, packing, heads));
            self.norm_ff.forward(x.clone() + self.feed_forward(x, activation))
        }
    }

    fn dropouts(&self) -> [&Dropout; 4] {
        [&self.attention_dropout, &self.attention_out_dropout, &self.ff_dropout, &self.ff_out_dropout]
    }
}

/// A transformer encoder classifier / regressor over token ids. Build it with
/// [`TransformerConfig::init`].
#[derive(Module, Debug)]
pub struct Transformer {
    token: Embedding,
    position: Option<Param<Tensor<2>>>,
    cls: Option<Param<Tensor<3>>>,
    blocks: Vec<EncoderBlock>,
    final_norm: Option<LayerNorm>,
    head: Linear,
    activation: Activation,
    #[module(skip)]
    sinusoids: Vec<f32>,
    heads: usize,
    pre_norm: bool,
    causal: bool,
}

/// Where a batch's real tokens are, read from its ids on the host.
pub(crate) struct Packing {
    batch: usize,
    /// Positions per text, `[CLS]` included.
    seq: usize,
    /// The row `text · seq + position` of every real token (`[CLS]` included), in order.
    rows: Tensor<1, Int>,
    /// The same rows on the host (ascending).
    host_rows: Vec<i64>,
    /// Every position is a real token (no padding): the rows are the layout's own.
    dense: bool,
    /// Added to every attention score, `[batch, 1, 1, seq]` (`[batch, 1, seq,
    /// seq]` when causal: −∞ also at every key after the query): −∞ at a padded
    /// key (exp gives exactly 0, without libm's slow underflow path), 0
    /// elsewhere, and 0 throughout a text with no real token, which therefore
    /// attends to its padding and stays finite. A causal query always sees
    /// itself, so no row of scores is all −∞.
    mask: Tensor<4>,
    /// Each text's span of packed rows.
    spans: Vec<std::ops::Range<usize>>,
}

/// How the packed rows become one vector per text.
enum Pool {
    /// The row of each text's `[CLS]`.
    First(Tensor<1, Int>),
    /// `[batch, tokens]`: `1 / n` at a text's `n` real tokens, so its product
    /// with the rows is the masked mean (zeros for a text with none).
    Mean(Tensor<2>),
}

impl Packing {
    fn new(x: &Tensor<2>, cls: bool, causal: bool) -> Self {
        let [b, t] = x.dims();
        let device = x.device();
        let ids = x.to_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default();
        let seq = t + usize::from(cls);
        let mut rows: Vec<i64> = Vec::with_capacity(b * seq);
        let mut padded = vec![false; b * seq];
        let mut spans = Vec::with_capacity(b);
        for i in 0..b {
            let text = ids.get(i * t..(i + 1) * t).unwrap_or_default();
            let start = rows.len();
            if cls {
                rows.push((i * seq) as i64);
            }
            let shift = i * seq + usize::from(cls);
            // `as i64` truncates as the embedding's `int()` cast does.
            rows.extend(text.iter().enumerate().filter(|&(_, &id)| id as i64 != 0).map(|(j, _)| (shift + j) as i64));
            if rows.len() > start {
                for (j, &id) in text.iter().enumerate() {
                    padded[shift + j] = id as i64 == 0;
                }
            }
            spans.push(start..rows.len());
        }
        let dense = rows.len() == b * seq;
        let mask = if causal {
            let mut mask = vec![0.0f32; b * seq * seq];
            for i in 0..b {
                for q in 0..seq {
                    for k in 0..seq {
                        if k != q && (k > q || padded[i * seq + k]) {
                            mask[(i * seq + q) * seq + k] = f32::NEG_INFINITY;
                        }
                    }
                }
            }
            Tensor::<1>::from_data(TensorData::new(mask, [b * seq * seq]), &device).reshape([b, 1, seq, seq])
        } else {
            let mask = padded.iter().map(|&p| if p { f32::NEG_INFINITY } else { 0.0 }).collect();
            Tensor::<2>::from_data(TensorData::new(mask, [b, seq]), &device).reshape([b, 1, 1, seq])
        };
        let n = rows.len();
        Self {
            batch: b,
            seq,
            rows: Tensor::from_data(TensorData::new(rows.clone(), [n]), &device),
            host_rows: rows,
            dense,
            mask,
            spans,
        }
    }

    /// `batch` sequences of `seq` real positions each, every one attending to
    /// itself and those before it (a causal mask, no padding).
    pub(crate) fn causal_dense(batch: usize, seq: usize, device: &Device) -> Self {
        let mut mask = vec![0.0f32; seq * seq];
        for q in 0..seq {
            mask[q * seq + q + 1..(q + 1) * seq].fill(f32::NEG_INFINITY);
        }
        let rows: Vec<i64> = (0..(batch * seq) as i64).collect();
        Self {
            batch,
            seq,
            rows: Tensor::from_data(TensorData::new(rows.clone(), [batch * seq]), device),
            host_rows: rows,
            dense: true,
            mask: Tensor::<2>::from_data(TensorData::new(mask, [seq, seq]), device).reshape([1, 1, seq, seq]),
            spans: (0..batch).map(|i| i * seq..(i + 1) * seq).collect(),
        }
    }

    /// One vector per text from the packed rows `h`: its `[CLS]` row, or the
    /// mean of its tokens'.
    fn pooled(&self, h: Tensor<2>, cls: bool, device: &Device) -> Tensor<2> {
        match self.pool(cls, device) {
            Pool::First(rows) => h.select(0, rows),
            Pool::Mean(weights) => weights.matmul(h),
        }
    }

    /// How [`Transformer::forward`] pools the packed rows.
    fn pool(&self, cls: bool, device: &Device) -> Pool {
        let b = self.batch;
        if cls {
            let first: Vec<i64> = self.spans.iter().map(|s| s.start as i64).collect();
            Pool::First(Tensor::from_data(TensorData::new(first, [b]), device))
        } else {
            let n = self.tokens();
            let mut weights = vec![0.0f32; b * n];
            for (i, span) in self.spans.iter().enumerate() {
                let share = 1.0 / span.len().max(1) as f32;
                weights[i * n + span.start..i * n + span.end].fill(share);
            }
            Pool::Mean(Tensor::from_data(TensorData::new(weights, [b, n]), device))
        }
    }

    fn tokens(&self) -> usize {
        self.host_rows.len()
    }
}

/// The packed rows (`[tokens, d]`) of a batch of ids `x`: token embeddings,
/// the `[CLS]` vector first when there is one, plus positions (learned, or the
/// sinusoids when `position` is `None`).
fn embed(
    token: &Embedding,
    position: Option<&Param<Tensor<2>>>,
    cls: Option<&Param<Tensor<3>>>,
    sinusoids: &[f32],
    x: Tensor<2>,
    packing: &Packing,
) -> Tensor<2> {
    let [b, _] = x.dims();
    let device = x.device();
    let mut h = token.forward(x.int());
    let d = h.dims()[2];
    if let Some(cls) = cls {
        h = Tensor::cat(vec![cls.val().expand([b, 1, d]), h], 1);
    }
    let seq = packing.seq;
    let positions: Tensor<2> = match position {
        Some(p) => p.val().slice([0..seq, 0..d]),
        None => Tensor::from_data(TensorData::new(sinusoids[..seq * d].to_vec(), [seq, d]), &device),
    };
    h = h + positions.unsqueeze::<3>();
    let h: Tensor<2> = h.reshape([b * seq, d]);
    if packing.dense { h } else { h.select(0, packing.rows.clone()) }
}

/// Runs `blocks` over the packed rows `h` (`[tokens, d]`).
pub(crate) fn run_blocks(
    blocks: &[EncoderBlock],
    mut h: Tensor<2>,
    packing: &Packing,
    heads: usize,
    pre_norm: bool,
    activation: &Activation,
) -> Tensor<2> {
    for block in blocks {
        h = block.forward(h, packing, heads, pre_norm, activation);
    }
    h
}

impl Transformer {
    /// Computes the outputs (logits, for a classifier).
    ///
    /// # Shapes
    /// - `x`: `[batch, seq]` token ids as floats, `seq` at most `max_len`, 0 = `<pad>`
    /// - output: `[batch, output]`
    ///
    /// A row of only padding attends to nothing real and pools to zeros; the
    /// tokenizer never makes one (an empty text is one `<unk>`).
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [b, _] = x.dims();
        let device = x.device();
        let packing = Packing::new(&x, self.cls.is_some(), self.causal);
        let Some(h) = self.encode(x, &packing) else {
            // Only padding, and no [CLS]: every text pools to zeros.
            return self.head.forward(Tensor::zeros([b, self.d_model()], &device));
        };
        self.head.forward(packing.pooled(h, self.cls.is_some(), &device))
    }

    /// The head's outputs at single tokens instead of pooled texts: masked-token
    /// pretraining, where the head maps each token's vector to the vocabulary,
    /// and a causal language model, whose output at a position scores the
    /// token after it.
    ///
    /// # Shapes
    /// - `x`: `[batch, seq]` token ids as floats, as for [`forward`](Transformer::forward)
    /// - `at`: `row · seq + position` of real (non-padding) tokens
    /// - output: `[at.len(), output]`
    ///
    /// A position of padding (which a caller should not give) reads the first
    /// real token of the batch.
    pub fn forward_at(&self, x: Tensor<2>, at: &[usize]) -> Tensor<2> {
        self.head.forward(self.hidden_at(x, at))
    }

    /// The encoder's vectors (before the head) at single tokens: what
    /// [`forward_at`](Transformer::forward_at) feeds the head, for a second
    /// head on the same trunk (a policy's value estimate).
    ///
    /// # Shapes
    /// - `x`, `at`: as for [`forward_at`](Transformer::forward_at)
    /// - output: `[at.len(), d_model]`
    pub fn hidden_at(&self, x: Tensor<2>, at: &[usize]) -> Tensor<2> {
        let [_, t] = x.dims();
        let device = x.device();
        let packing = Packing::new(&x, self.cls.is_some(), self.causal);
        let Some(h) = self.encode(x, &packing) else {
            return Tensor::zeros([at.len(), self.d_model()], &device);
        };
        // Each position's row among the packed tokens.
        let cls = usize::from(self.cls.is_some());
        let picks: Vec<i64> = at
            .iter()
            .map(|&p| {
                let key = ((p / t) * packing.seq + cls + p % t) as i64;
                packing.host_rows.binary_search(&key).unwrap_or(0) as i64
            })
            .collect();
        let picks = Tensor::<1, Int>::from_data(TensorData::new(picks, [at.len()]), &device);
        h.select(0, picks)
    }

    /// The output head applied to vectors from [`hidden_at`](Transformer::hidden_at).
    ///
    /// # Shapes
    /// - `h`: `[n, d_model]`
    /// - output: `[n, output]`
    pub fn apply_head(&self, h: Tensor<2>) -> Tensor<2> {
        self.head.forward(h)
    }

    /// The width of the vectors [`hidden_at`](Transformer::hidden_at) returns.
    pub fn d_model(&self) -> usize {
        self.token.weight.val().dims()[1]
    }

    /// The encoder's output for every real token of `x`, packed (`None` when
    /// the batch holds only padding and no `[CLS]`).
    fn encode(&self, x: Tensor<2>, packing: &Packing) -> Option<Tensor<2>> {
        if packing.tokens() == 0 {
            return None;
        }
        let h = embed(&self.token, self.position.as_ref(), self.cls.as_ref(), &self.sinusoids, x, packing);
        let mut h = run_blocks(&self.blocks, h, packing, self.heads, self.pre_norm, &self.activation);
        if let Some(norm) = &self.final_norm {
            h = norm.forward(h);
        }
        Some(h)
    }

    /// The dropout generators' states, four per block, for checkpoints.
    pub fn rng_state(&self) -> Vec<u64> {
        self.blocks.iter().flat_map(|b| b.dropouts().map(Dropout::rng_state)).collect()
    }

    /// Restores states read with [`rng_state`](Transformer::rng_state).
    pub fn set_rng_state(&self, state: &[u64]) {
        for (d, &s) in self.blocks.iter().flat_map(|b| b.dropouts()).zip(state) {
            d.set_rng_state(s);
        }
    }
}

impl Transformer {
    /// Parameters of each unit a pipeline can cut between: the embedding
    /// (tokens, positions, `[CLS]`), every block, then the head (with the final
    /// norm of a pre-LN model).
    pub(crate) fn unit_params(&self) -> Vec<usize> {
        let embedding = self.token.num_params()
            + self.position.as_ref().map_or(0, |p| p.num_params())
            + self.cls.as_ref().map_or(0, |c| c.num_params());
        let head = self.head.num_params() + self.final_norm.as_ref().map_or(0, Module::num_params);
        std::iter::once(embedding)
            .chain(self.blocks.iter().map(Module::num_params))
            .chain(std::iter::once(head))
            .collect()
    }

    /// Moves the units into parts at `ranges` (consecutive, covering every
    /// unit; see [`unit_params`](Transformer::unit_params)).
    pub(crate) fn split(self, ranges: &[std::ops::Range<usize>]) -> Vec<TransformerPart> {
        let d_model = self.d_model();
        let n = self.blocks.len();
        let units = n + 2;
        let has_cls = self.cls.is_some();
        let (mut token, mut position, mut cls, mut sinusoids) =
            (Some(self.token), self.position, self.cls, Some(self.sinusoids));
        let (mut final_norm, mut head) = (self.final_norm, Some(self.head));
        let mut blocks = self.blocks.into_iter();
        ranges
            .iter()
            .map(|r| {
                let embeds = r.start == 0;
                let ends = r.end == units;
                let inner = r.start.clamp(1, n + 1)..r.end.clamp(1, n + 1);
                TransformerPart {
                    token: if embeds { token.take() } else { None },
                    position: if embeds { position.take() } else { None },
                    cls: if embeds { cls.take() } else { None },
                    sinusoids: if embeds { sinusoids.take().unwrap_or_default() } else { Vec::new() },
                    blocks: blocks.by_ref().take(inner.len()).collect(),
                    final_norm: if ends { final_norm.take() } else { None },
                    head: if ends { head.take() } else { None },
                    activation: self.activation.clone(),
                    heads: self.heads,
                    pre_norm: self.pre_norm,
                    causal: self.causal,
                    has_cls,
                    d_model,
                    first: r.start,
                }
            })
            .collect()
    }

    /// The model whose units `parts` hold, in order.
    pub(crate) fn join(parts: Vec<TransformerPart>) -> Result<Transformer, ModelError> {
        let missing = |what: &str| ModelError::Incompatible(format!("the pipeline's stages hold no {what}"));
        let first = parts.first().ok_or_else(|| missing("unit"))?;
        let (activation, heads, pre_norm, causal) =
            (first.activation.clone(), first.heads, first.pre_norm, first.causal);
        let (mut token, mut position, mut cls, mut sinusoids) = (None, None, None, Vec::new());
        let (mut blocks, mut final_norm, mut head) = (Vec::new(), None, None);
        let mut next = 0;
        for part in parts {
            if part.first != next {
                return Err(ModelError::Incompatible(format!(
                    "pipeline stages out of order: a part starting at unit {} where unit {next} was due",
                    part.first
                )));
            }
            next = part.first + part.units_held();
            if part.token.is_some() {
                token = part.token;
                position = part.position;
                cls = part.cls;
                sinusoids = part.sinusoids;
            }
            blocks.extend(part.blocks);
            if part.head.is_some() {
                head = part.head;
                final_norm = part.final_norm;
            }
        }
        Ok(Transformer {
            token: token.ok_or_else(|| missing("embedding"))?,
            position,
            cls,
            blocks,
            final_norm,
            head: head.ok_or_else(|| missing("head"))?,
            activation,
            sinusoids,
            heads,
            pre_norm,
            causal,
        })
    }
}

/// Consecutive units of a [`Transformer`] (the embedding, blocks, the head):
/// one stage of a pipeline ([`pipeline`](crate::pipeline)). Between stages the
/// activations are the packed rows of the batch's real tokens (`[tokens,
/// d_model]`); every stage reads where they are from the batch's ids.
#[derive(Module, Debug)]
pub struct TransformerPart {
    token: Option<Embedding>,
    position: Option<Param<Tensor<2>>>,
    cls: Option<Param<Tensor<3>>>,
    blocks: Vec<EncoderBlock>,
    final_norm: Option<LayerNorm>,
    head: Option<Linear>,
    activation: Activation,
    sinusoids: Vec<f32>,
    heads: usize,
    pre_norm: bool,
    causal: bool,
    has_cls: bool,
    d_model: usize,
    /// The model's index of this part's first unit.
    first: usize,
}

impl TransformerPart {
    /// Units this part holds.
    fn units_held(&self) -> usize {
        usize::from(self.token.is_some()) + self.blocks.len() + usize::from(self.head.is_some())
    }

    /// This part's units on the batch of ids `x` (`[batch, seq]`): the first
    /// part embeds `x` itself; the others read the packed rows `h` the part
    /// before returned. The last returns the outputs `[batch, output]`.
    pub fn forward(&self, x: &Tensor<2>, h: Tensor<2>) -> Tensor<2> {
        let [b, _] = x.dims();
        let device = x.device();
        let packing = Packing::new(x, self.has_cls, self.causal);
        if packing.tokens() == 0 {
            // Only padding and no [CLS]: every text pools to zeros, as in Transformer::forward.
            return match &self.head {
                Some(head) => head.forward(Tensor::zeros([b, self.d_model], &device)),
                None => Tensor::zeros([1, self.d_model], &device),
            };
        }
        let mut h = match &self.token {
            Some(token) => {
                embed(token, self.position.as_ref(), self.cls.as_ref(), &self.sinusoids, x.clone(), &packing)
            }
            None => h,
        };
        h = run_blocks(&self.blocks, h, &packing, self.heads, self.pre_norm, &self.activation);
        let Some(head) = &self.head else { return h };
        if let Some(norm) = &self.final_norm {
            h = norm.forward(h);
        }
        head.forward(packing.pooled(h, self.has_cls, &device))
    }
}

impl Model for Transformer {
    type Input = Tensor<2>;

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        Transformer::forward(self, x)
    }

    fn rng_state(&self) -> Vec<u64> {
        Transformer::rng_state(self)
    }

    fn set_rng_state(&self, state: &[u64]) {
        Transformer::set_rng_state(self, state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(norm: NormPlacement, pooling: Pooling, position: PositionKind) -> TransformerConfig {
        TransformerConfig {
            vocab: 20,
            max_len: 8,
            d_model: 16,
            layers: 2,
            heads: 4,
            d_ff: 32,
            dropout: 0.0,
            norm,
            position,
            pooling,
            output: 3,
            ..TransformerConfig::default()
        }
    }

    fn rows(rows: &[[f32; 8]], device: &Device) -> Tensor<2> {
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        Tensor::from_data(TensorData::new(flat, [rows.len(), 8]), device)
    }

    fn values(t: Tensor<2>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// Padding changes nothing: a text alone, or beside a longer one, or
    /// with its padding cut off, gives the same outputs (every placement, pooling, position kind).
    #[test]
    fn padding_is_masked_out_of_attention_and_pooling() {
        let device = Device::flex();
        for norm in [NormPlacement::Pre, NormPlacement::Post] {
            for pooling in [Pooling::Mean, Pooling::Cls] {
                for position in [PositionKind::Learned, PositionKind::Sinusoidal] {
                    let model = small(norm, pooling, position).init(3, &device).unwrap();
                    let short = [4.0, 9.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0];
                    let long = [5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0];
                    let alone = values(model.forward(rows(&[short], &device)));
                    let batched = values(model.forward(rows(&[long, short], &device)));
                    let cut = values(
                        model.forward(Tensor::from_data(TensorData::new(vec![4.0f32, 9.0, 2.0], [1, 3]), &device)),
                    );
                    for (a, b) in alone.iter().zip(&batched[3..]).chain(alone.iter().zip(&cut)) {
                        assert!(
                            (a - b).abs() < 1e-5,
                            "{norm:?} {pooling:?} {position:?}: {alone:?} {batched:?} {cut:?}"
                        );
                    }
                    // And a different text gives different outputs.
                    assert!(alone.iter().zip(&batched[..3]).any(|(a, b)| (a - b).abs() > 1e-4));
                }
            }
        }
    }

    /// A text of only padding (the tokenizer never makes one, a caller might)
    /// pools to zeros with mean pooling, and no output or gradient turns NaN,
    /// beside a real text or alone in its batch.
    #[test]
    fn a_text_of_only_padding_stays_finite() {
        let device = Device::flex().autodiff();
        let text = [4.0, 9.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        for pooling in [Pooling::Mean, Pooling::Cls] {
            let config =
                TransformerConfig { dropout: 0.1, ..small(NormPlacement::Pre, pooling, PositionKind::Learned) };
            let model = config.init(3, &device).unwrap();
            for batch in [vec![[0.0; 8], text], vec![[0.0; 8]]] {
                let out = model.forward(rows(&batch, &device));
                let grads = out.clone().sum().backward();
                let out = values(out);
                assert!(out.iter().all(|v| v.is_finite()), "{pooling:?}: {out:?}");
                if pooling == Pooling::Mean {
                    let bias = model.head.bias.as_ref().unwrap().val().into_data().try_to_vec::<f32>().unwrap();
                    assert_eq!(&out[..3], &bias[..], "a text of padding pools to zeros: the head's bias");
                }
                if let Some(g) = model.token.weight.val().grad(&grads) {
                    assert!(g.into_data().try_to_vec::<f32>().unwrap().iter().all(|v| v.is_finite()));
                }
            }
            // Dropout is live on the packed rows: two training passes draw two masks.
            let x = rows(&[text], &device);
            assert_ne!(values(model.forward(x.clone())), values(model.forward(x)));
        }
    }

    #[test]
    fn same_seed_same_weights_and_bad_shapes_are_named() {
        let device = Device::flex();
        let config = small(NormPlacement::Post, Pooling::Mean, PositionKind::Learned);
        let x = rows(&[[1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0]], &device);
        let a = values(config.init(1, &device).unwrap().forward(x.clone()));
        let b = values(config.init(1, &device).unwrap().forward(x.clone()));
        let c = values(config.init(2, &device).unwrap().forward(x));
        assert_eq!(a, b);
        assert_ne!(a, c);
        let e = TransformerConfig { heads: 3, ..config.clone() }.validate().unwrap_err().to_string();
        assert!(e.contains("d_model 16") && e.contains("3 heads"), "{e}");
        assert!(TransformerConfig { layers: 0, ..config.clone() }.validate().is_err());
        assert!(TransformerConfig { dropout: 1.0, ..config }.validate().is_err());
    }

    /// A causal model's output at a position depends on no later token, nor on
    /// the padding after a text; an encoder's does. `[CLS]` pooling is refused.
    #[test]
    fn a_causal_model_sees_no_later_token() {
        let device = Device::flex();
        let config =
            TransformerConfig { causal: true, ..small(NormPlacement::Pre, Pooling::Mean, PositionKind::Learned) };
        let model = config.clone().init(4, &device).unwrap();
        let encoder = TransformerConfig { causal: false, ..config.clone() }.init(4, &device).unwrap();
        let a = [4.0, 9.0, 2.0, 7.0, 0.0, 0.0, 0.0, 0.0];
        let b = [4.0, 9.0, 2.0, 5.0, 6.0, 0.0, 0.0, 0.0];
        let at = [0, 1, 2, 8, 9, 10];
        let causal = values(model.forward_at(rows(&[a, b], &device), &at));
        assert_eq!(&causal[..9], &causal[9..], "positions 0-2 agree whatever follows");
        let alone = values(model.forward_at(rows(&[a], &device), &[3]));
        let beside = values(model.forward_at(rows(&[b, a], &device), &[11]));
        for (x, y) in alone.iter().zip(&beside) {
            assert!((x - y).abs() < 1e-5, "{alone:?} {beside:?}");
        }
        let full = values(encoder.forward_at(rows(&[a, b], &device), &at));
        assert!(full[..9].iter().zip(&full[9..]).any(|(x, y)| (x - y).abs() > 1e-4));
        let e = TransformerConfig { pooling: Pooling::Cls, ..config }.validate().unwrap_err().to_string();
        assert!(e.contains("causal") && e.contains("[CLS]"), "{e}");
    }

    #[test]
    fn sinusoids_are_the_papers() {
        let t = sinusoids(3, 4);
        assert_eq!(&t[..4], &[0.0, 1.0, 0.0, 1.0]);
        assert!((t[4] - 1f32.sin()).abs() < 1e-7);
        assert!((t[7] - (1.0f64 / 100.0).cos() as f32).abs() < 1e-7);
    }
}

/// A transformer trained to predict tokens at positions (its head maps each
/// token's vector to the vocabulary): masked tokens for an encoder (the model
/// of `anneal pretrain`), the next token for a causal language model. Its
/// [`encoder`](MaskedLm::into_encoder) is an ordinary [`Transformer`] whose
/// head a fine-tuning run replaces.
#[derive(Module, Debug)]
pub struct MaskedLm {
    encoder: Transformer,
}

impl MaskedLm {
    /// Wraps `encoder`, whose `output` must be its vocabulary.
    pub fn new(encoder: Transformer) -> Self {
        Self { encoder }
    }

    /// The encoder, with the vocabulary head.
    pub fn into_encoder(self) -> Transformer {
        self.encoder
    }
}

impl Model for MaskedLm {
    type Input = anneal_data::masked::MaskedIds;

    /// # Shapes
    /// - output: `[masked tokens, vocab]`
    fn forward(&self, input: anneal_data::masked::MaskedIds) -> Tensor<2> {
        self.encoder.forward_at(input.ids, &input.at)
    }

    fn rng_state(&self) -> Vec<u64> {
        self.encoder.rng_state()
    }

    fn set_rng_state(&self, state: &[u64]) {
        self.encoder.set_rng_state(state)
    }
}
