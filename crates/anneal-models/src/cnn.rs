//! A convolutional network for images: blocks of convolution, optional batch
//! norm, activation and pooling, then a dense head (optionally after global
//! average pooling).
//!
//! Images reach the model as the rows every other dataset gives it, one
//! flattened image per row in channel-major (`[channels, height, width]`, PyTorch's
//! `NCHW`) order; the network views a batch as `[batch, channels, height, width]`,
//! which costs no copy. So splits, batches, cross-validation and prediction serve
//! images exactly as they serve tables.

use anneal_core::{SeededRng, Stream};
use burn::module::Param;
use burn::nn::activation::Activation;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, PaddingConfig2d};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::dropout::Dropout;
use crate::error::ModelError;
use crate::mlp::{ActivationKind, linear_layer};
use crate::model::Model;

/// Pooling after a convolution block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolKind {
    /// The maximum of each window.
    Max,
    /// The mean of each window.
    Avg,
}

fn one() -> usize {
    1
}
fn two() -> usize {
    2
}
fn three() -> usize {
    3
}
fn is_false(b: &bool) -> bool {
    !*b
}

/// One convolution block: `conv(kernel, stride, padding) → [batch norm] →
/// activation → [pool(pool_size)]`.
///
/// In a run config: `{ channels = 32, kernel = 3, pool = "max" }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvBlockConfig {
    /// Output channels (filters).
    pub channels: usize,
    /// Square kernel size (3).
    #[serde(default = "three")]
    pub kernel: usize,
    /// Stride (1).
    #[serde(default = "one")]
    pub stride: usize,
    /// Zero padding on every side (0).
    #[serde(default)]
    pub padding: usize,
    /// Batch normalisation between the convolution and the activation (false).
    /// The convolution then has no bias, as the norm's shift replaces it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub batch_norm: bool,
    /// Pooling after the activation (none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<PoolKind>,
    /// Pooling window and stride (2).
    #[serde(default = "two")]
    pub pool_size: usize,
}

impl ConvBlockConfig {
    /// A block of `channels` 3×3 filters, stride 1, no padding, no norm, no pooling.
    pub fn new(channels: usize) -> Self {
        Self { channels, kernel: 3, stride: 1, padding: 0, batch_norm: false, pool: None, pool_size: 2 }
    }

    /// The same block followed by pooling of `kind` over `size`×`size` windows.
    pub fn with_pool(self, kind: PoolKind, size: usize) -> Self {
        Self { pool: Some(kind), pool_size: size, ..self }
    }

    /// The spatial size after this block, for an input of `size` (`None` when it would vanish).
    fn output_size(&self, size: usize) -> Option<usize> {
        let padded = size + 2 * self.padding;
        let conv = padded.checked_sub(self.kernel)? / self.stride + 1;
        match self.pool {
            None => Some(conv),
            Some(_) => (conv >= self.pool_size).then(|| conv / self.pool_size),
        }
    }
}

/// The shape of a [`Cnn`].
///
/// `channels_in`, `height`, `width` and `output` come from the data in a run
/// config (0 there). The config of the reference MNIST network
/// (`examples/configs/mnist_cnn.toml`):
///
/// ```
/// use anneal_models::{CnnConfig, ConvBlockConfig, PoolKind};
/// use burn::module::Module;
///
/// let config = CnnConfig {
///     blocks: vec![
///         ConvBlockConfig::new(32).with_pool(PoolKind::Max, 2),
///         ConvBlockConfig::new(64).with_pool(PoolKind::Max, 2),
///     ],
///     hidden: vec![128],
///     dropout: 0.25,
///     ..CnnConfig::new([1, 28, 28], 10)
/// };
/// let model = config.init(0, &burn::prelude::Device::flex())?;
/// // Same count as PyTorch's Conv(1,32,3)-Pool-Conv(32,64,3)-Pool-FC(1600,128)-FC(128,10).
/// assert_eq!(model.num_params(), 320 + 18_496 + 204_928 + 1_290);
/// # Ok::<(), anneal_models::ModelError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CnnConfig {
    /// Input channels (1 grey, 3 colour; 0 in a run config: from the data).
    #[serde(default, skip_serializing_if = "crate::config::is_zero")]
    pub channels_in: usize,
    /// Input height in pixels (0 in a run config: from the data).
    #[serde(default, skip_serializing_if = "crate::config::is_zero")]
    pub height: usize,
    /// Input width in pixels (0 in a run config: from the data).
    #[serde(default, skip_serializing_if = "crate::config::is_zero")]
    pub width: usize,
    /// The convolution blocks, in order.
    pub blocks: Vec<ConvBlockConfig>,
    /// Average each channel over the whole image after the blocks (global
    /// average pooling), instead of flattening every position into the head.
    #[serde(default, skip_serializing_if = "is_false")]
    pub global_pool: bool,
    /// Units of each hidden dense layer of the head.
    #[serde(default)]
    pub hidden: Vec<usize>,
    /// Number of outputs (0 in a run config: from the data).
    #[serde(default, skip_serializing_if = "crate::config::is_zero")]
    pub output: usize,
    /// Activation after every convolution and hidden dense layer.
    #[serde(default)]
    pub activation: ActivationKind,
    /// Dropout probability after each hidden dense layer's activation.
    #[serde(default)]
    pub dropout: f64,
}

impl CnnConfig {
    /// A network for `[channels, height, width]` images and `output` outputs,
    /// with no blocks and no hidden layers yet.
    pub fn new(image: [usize; 3], output: usize) -> Self {
        let [channels_in, height, width] = image;
        Self {
            channels_in,
            height,
            width,
            blocks: Vec::new(),
            global_pool: false,
            hidden: Vec::new(),
            output,
            activation: ActivationKind::Relu,
            dropout: 0.0,
        }
    }

    /// Input values per example: `channels_in × height × width`.
    pub fn input_len(&self) -> usize {
        self.channels_in * self.height * self.width
    }

    /// The `[channels, height, width]` after the last block, checked: a block
    /// whose kernel or pooling window is larger than what reaches it is an error
    /// naming the block.
    pub fn feature_shape(&self) -> Result<[usize; 3], ModelError> {
        let (mut h, mut w, mut c) = (self.height, self.width, self.channels_in);
        for (i, b) in self.blocks.iter().enumerate() {
            match (b.output_size(h), b.output_size(w)) {
                (Some(nh), Some(nw)) if nh > 0 && nw > 0 => (h, w, c) = (nh, nw, b.channels),
                _ => {
                    return Err(ModelError::ImageTooSmall {
                        block: i + 1,
                        height: h,
                        width: w,
                        kernel: b.kernel,
                        pool: b.pool.map(|_| b.pool_size),
                    });
                }
            }
        }
        Ok([c, h, w])
    }

    /// Inputs of the dense head: the flattened feature map, or its channels under global pooling.
    pub fn head_input(&self) -> Result<usize, ModelError> {
        let [c, h, w] = self.feature_shape()?;
        Ok(if self.global_pool { c } else { c * h * w })
    }

    /// Checks sizes, kernel / stride / pool settings and dropout.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.input_len() == 0 {
            return Err(ModelError::NotImages);
        }
        if self.blocks.is_empty() {
            return Err(ModelError::NoBlocks);
        }
        for (i, b) in self.blocks.iter().enumerate() {
            let block = i + 1;
            if b.channels == 0 {
                return Err(ModelError::EmptyLayer { layer: format!("conv block {block}") });
            }
            for (key, v) in [("kernel", b.kernel), ("stride", b.stride), ("pool_size", b.pool_size)] {
                if v == 0 {
                    return Err(ModelError::BlockSetting { block, key });
                }
            }
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
        self.feature_shape().map(|_| ())
    }

    /// Builds the network on `device` with weights drawn from `seed`.
    ///
    /// Every weight and bias is drawn on the host from U(−1/√fan_in, 1/√fan_in),
    /// PyTorch's default for `nn.Conv2d` and `nn.Linear` (fan_in = in-channels ×
    /// kernel² for a convolution), with the portable generator, so a seed gives
    /// bit-identical initial weights on every backend. Batch norm starts at
    /// scale 1, shift 0, running mean 0 and variance 1 (momentum 0.1, ε 1e-5, as PyTorch).
    pub fn init(&self, seed: u64, device: &Device) -> Result<Cnn, ModelError> {
        self.validate()?;
        let mut rng = SeededRng::stream(seed, Stream::Init);
        let mut channels = self.channels_in;
        let mut blocks = Vec::with_capacity(self.blocks.len());
        for b in &self.blocks {
            let fan_in = channels * b.kernel * b.kernel;
            let bound = 1.0 / (fan_in as f64).sqrt();
            let mut draw =
                |n: usize| -> Vec<f32> { (0..n).map(|_| ((rng.next_f64() * 2.0 - 1.0) * bound) as f32).collect() };
            let p = b.padding;
            let mut conv = Conv2dConfig::new([channels, b.channels], [b.kernel, b.kernel])
                .with_stride([b.stride, b.stride])
                .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                .with_bias(!b.batch_norm)
                .init(device);
            conv.weight = Param::from_data(
                TensorData::new(draw(fan_in * b.channels), [b.channels, channels, b.kernel, b.kernel]),
                device,
            );
            if !b.batch_norm {
                conv.bias = Some(Param::from_data(TensorData::new(draw(b.channels), [b.channels]), device));
            }
            let window = [b.pool_size, b.pool_size];
            blocks.push(ConvBlock {
                conv,
                norm: b.batch_norm.then(|| BatchNormConfig::new(b.channels).init(device)),
                max_pool: (b.pool == Some(PoolKind::Max)).then(|| MaxPool2dConfig::new(window).init()),
                avg_pool: (b.pool == Some(PoolKind::Avg)).then(|| AvgPool2dConfig::new(window).init()),
            });
            channels = b.channels;
        }
        let sizes: Vec<usize> = std::iter::once(self.head_input()?)
            .chain(self.hidden.iter().copied())
            .chain(std::iter::once(self.output))
            .collect();
        let head = sizes.windows(2).map(|w| linear_layer(&mut rng, w[0], w[1], device)).collect();
        Ok(Cnn {
            blocks,
            head,
            activation: self.activation.config().init(device),
            dropout: (0..self.hidden.len())
                .map(|i| Dropout::new(self.dropout, SeededRng::stream(seed, Stream::Dropout(i as u64))))
                .collect(),
            image: [self.channels_in, self.height, self.width],
            global_pool: self.global_pool,
        })
    }
}

/// One block of a [`Cnn`]: convolution, optional batch norm, pooling.
#[derive(Module, Debug)]
pub struct ConvBlock {
    conv: Conv2d,
    norm: Option<BatchNorm>,
    max_pool: Option<MaxPool2d>,
    avg_pool: Option<AvgPool2d>,
}

/// A convolutional network. Build it with [`CnnConfig::init`].
#[derive(Module, Debug)]
pub struct Cnn {
    blocks: Vec<ConvBlock>,
    head: Vec<Linear>,
    activation: Activation,
    dropout: Vec<Dropout>,
    image: [usize; 3],
    global_pool: bool,
}

impl Cnn {
    /// Computes the outputs (logits, for a classifier).
    ///
    /// # Shapes
    /// - `x`: `[batch, channels × height × width]`, each row one image in channel-major order
    /// - output: `[batch, output]`
    ///
    /// # Panics
    /// When a row does not hold `channels × height × width` values (the data
    /// pipeline checks this before a batch is built).
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [batch, _] = x.dims();
        let [c, h, w] = self.image;
        let mut z: Tensor<4> = x.reshape([batch, c, h, w]);
        for block in &self.blocks {
            z = block.forward(z, &self.activation);
        }
        let mut v = flatten(z, self.global_pool);
        let last = self.head.len() - 1;
        for (i, layer) in self.head.iter().enumerate() {
            v = layer.forward(v);
            if i < last {
                v = self.dropout[i].forward(self.activation.forward(v));
            }
        }
        v
    }

    /// Parameters of each unit a pipeline can cut between: every convolution
    /// block, then every dense layer of the head.
    pub(crate) fn unit_params(&self) -> Vec<usize> {
        self.blocks.iter().map(Module::num_params).chain(self.head.iter().map(Module::num_params)).collect()
    }

    /// Moves the blocks and dense layers into parts at `ranges` (consecutive,
    /// covering every unit; see [`unit_params`](Cnn::unit_params)).
    pub(crate) fn split(self, ranges: &[std::ops::Range<usize>]) -> Vec<CnnPart> {
        let (n_blocks, n_head) = (self.blocks.len(), self.head.len());
        let (mut blocks, mut head, mut dropout) =
            (self.blocks.into_iter(), self.head.into_iter(), self.dropout.into_iter());
        ranges
            .iter()
            .map(|r| {
                let (b, d) = (r.start.min(n_blocks)..r.end.min(n_blocks), r.start.max(n_blocks)..r.end.max(n_blocks));
                let dense = (d.start - n_blocks)..(d.end - n_blocks);
                CnnPart {
                    blocks: blocks.by_ref().take(b.len()).collect(),
                    head: head.by_ref().take(dense.len()).collect(),
                    dropout: dropout.by_ref().take(dense.end.min(n_head - 1).saturating_sub(dense.start)).collect(),
                    activation: self.activation.clone(),
                    image: self.image,
                    global_pool: self.global_pool,
                    first: r.start,
                    n_blocks,
                    units: n_blocks + n_head,
                }
            })
            .collect()
    }

    /// The model whose units `parts` hold, in order.
    pub(crate) fn join(parts: Vec<CnnPart>) -> Result<Cnn, ModelError> {
        let first = parts.first().ok_or(ModelError::NoBlocks)?;
        let (activation, image, global_pool) = (first.activation.clone(), first.image, first.global_pool);
        let (mut blocks, mut head, mut dropout) = (Vec::new(), Vec::new(), Vec::new());
        for part in parts {
            if part.first != blocks.len() + head.len() {
                return Err(ModelError::Incompatible(format!(
                    "pipeline stages out of order: a part starting at unit {} after {}",
                    part.first,
                    blocks.len() + head.len()
                )));
            }
            blocks.extend(part.blocks);
            head.extend(part.head);
            dropout.extend(part.dropout);
        }
        Ok(Cnn { blocks, head, activation, dropout, image, global_pool })
    }
}

/// A batch of feature maps as the head's rows: the mean of each channel
/// (global average pooling) or every value, channel-major.
fn flatten(z: Tensor<4>, global_pool: bool) -> Tensor<2> {
    let [batch, c, h, w] = z.dims();
    if global_pool {
        z.reshape([batch, c, h * w]).mean_dim(2).reshape([batch, c])
    } else {
        z.reshape([batch, c * h * w])
    }
}

impl ConvBlock {
    /// Convolution, batch norm, activation, pooling.
    fn forward(&self, z: Tensor<4>, activation: &Activation) -> Tensor<4> {
        match self.fused(&z, activation) {
            Some(out) => out,
            None => self.composed(z, activation),
        }
    }

    /// The block as one operation ([`crate::fused`]) where it applies: a
    /// convolution with bias, ReLU, max or no pooling, on the flex backend.
    fn fused(&self, z: &Tensor<4>, activation: &Activation) -> Option<Tensor<4>> {
        let conv = &self.conv;
        let relu = matches!(activation, Activation::Relu(_));
        let padding = match conv.padding {
            PaddingConfig2d::Explicit(a, b, c, d) if [b, c, d] == [a, a, a] => a,
            PaddingConfig2d::Valid => 0,
            _ => return None,
        };
        let plain = conv.groups == 1 && conv.dilation == [1, 1] && conv.stride[0] == conv.stride[1];
        let pool = match &self.max_pool {
            None => 1,
            Some(p)
                if p.kernel_size[0] == p.kernel_size[1]
                    && p.stride == p.kernel_size
                    && p.dilation == [1, 1]
                    && matches!(p.padding, PaddingConfig2d::Valid)
                    && !p.ceil_mode =>
            {
                p.kernel_size[0]
            }
            Some(_) => return None,
        };
        if !relu || !plain || self.norm.is_some() || self.avg_pool.is_some() {
            return None;
        }
        let bias = conv.bias.as_ref()?;
        crate::fused::conv_relu_max_pool(z, conv.weight.val(), bias.val(), conv.stride[0], padding, pool)
    }

    /// The block as burn's operations, one after the other.
    pub(crate) fn composed(&self, mut z: Tensor<4>, activation: &Activation) -> Tensor<4> {
        z = self.conv.forward(z);
        if let Some(norm) = &self.norm {
            z = norm.forward(z);
        }
        z = activation.forward(z);
        if let Some(pool) = &self.max_pool {
            z = pool.forward(z);
        }
        if let Some(pool) = &self.avg_pool {
            z = pool.forward(z);
        }
        z
    }
}

/// Consecutive units of a [`Cnn`] (convolution blocks, then dense layers):
/// one stage of a pipeline ([`pipeline`](crate::pipeline)).
#[derive(Module, Debug)]
pub struct CnnPart {
    blocks: Vec<ConvBlock>,
    head: Vec<Linear>,
    dropout: Vec<Dropout>,
    activation: Activation,
    image: [usize; 3],
    global_pool: bool,
    /// The model's index of this part's first unit.
    first: usize,
    /// Convolution blocks in the whole model.
    n_blocks: usize,
    /// Units in the whole model.
    units: usize,
}

impl CnnPart {
    /// This part's units. The first part reads image rows; a part that starts
    /// among the blocks reads and (unless it reaches the head) returns feature
    /// maps; the head's parts read and return rows.
    pub fn forward(&self, flow: crate::pipeline::Flow) -> crate::pipeline::Flow {
        use crate::pipeline::Flow;
        let mut flow = match flow {
            Flow::Rows(x) if self.first == 0 && self.n_blocks > 0 => {
                let [batch, _] = x.dims();
                let [c, h, w] = self.image;
                Flow::Maps(x.reshape([batch, c, h, w]))
            }
            other => other,
        };
        for block in &self.blocks {
            if let Flow::Maps(z) = flow {
                flow = Flow::Maps(block.forward(z, &self.activation));
            }
        }
        if self.head.is_empty() {
            return flow;
        }
        let mut v = match flow {
            Flow::Maps(z) => flatten(z, self.global_pool),
            Flow::Rows(v) => v,
        };
        let first_dense = self.first.max(self.n_blocks);
        for (i, layer) in self.head.iter().enumerate() {
            v = layer.forward(v);
            if first_dense + i + 1 < self.units {
                v = self.dropout[i].forward(self.activation.forward(v));
            }
        }
        Flow::Rows(v)
    }
}

impl Cnn {
    /// The dropout generators' states, one per hidden dense layer, for checkpoints.
    pub fn rng_state(&self) -> Vec<u64> {
        self.dropout.iter().map(Dropout::rng_state).collect()
    }

    /// Restores states read with [`rng_state`](Cnn::rng_state).
    pub fn set_rng_state(&self, state: &[u64]) {
        for (d, &s) in self.dropout.iter().zip(state) {
            d.set_rng_state(s);
        }
    }
}

impl Model for Cnn {
    type Input = Tensor<2>;

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        Cnn::forward(self, x)
    }

    fn rng_state(&self) -> Vec<u64> {
        Cnn::rng_state(self)
    }

    fn set_rng_state(&self, state: &[u64]) {
        Cnn::set_rng_state(self, state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference() -> CnnConfig {
        CnnConfig {
            blocks: vec![
                ConvBlockConfig::new(32).with_pool(PoolKind::Max, 2),
                ConvBlockConfig::new(64).with_pool(PoolKind::Max, 2),
            ],
            hidden: vec![128],
            dropout: 0.25,
            ..CnnConfig::new([1, 28, 28], 10)
        }
    }

    #[test]
    fn the_reference_network_has_pytorchs_shapes() {
        let c = reference();
        assert_eq!(c.feature_shape().unwrap(), [64, 5, 5]);
        assert_eq!(c.head_input().unwrap(), 1600);
        let model = c.init(3, &Device::flex()).unwrap();
        let out = model.forward(Tensor::zeros([2, 784], &Device::flex()));
        assert_eq!(out.dims(), [2, 10]);
    }

    #[test]
    fn same_seed_same_weights_and_global_pooling_and_batch_norm_work() {
        let device = Device::flex();
        let mut c = reference();
        c.blocks[0].batch_norm = true;
        c.blocks[1].padding = 1;
        c.blocks[1].pool = Some(PoolKind::Avg);
        c.global_pool = true;
        let x = Tensor::<2>::from_data(
            TensorData::new((0..3 * 784).map(|i| (i % 17) as f32 / 17.0).collect::<Vec<_>>(), [3, 784]),
            &device,
        );
        let a = c.init(9, &device).unwrap().forward(x.clone()).into_data();
        let b = c.init(9, &device).unwrap().forward(x.clone()).into_data();
        assert_eq!(a, b);
        assert_ne!(a, c.init(10, &device).unwrap().forward(x).into_data());
        assert_eq!(c.head_input().unwrap(), 64);
    }

    /// The fused block (flex) against burn's composition of the same block:
    /// outputs and the gradients of the input, weights and bias.
    #[test]
    #[allow(deprecated)] // Device::ndarray: the backend without the fused path
    fn the_fused_block_equals_burns_operations_forward_and_backward() {
        let device = Device::flex().autodiff();
        // (channels in, image h × w, block): images large enough to take one matrix product
        // each (and to leave their buffers for the next cases); padding, stride, pooling with a
        // remainder, no pooling.
        let cases = [
            (1, [300, 290], ConvBlockConfig::new(4).with_pool(PoolKind::Max, 2)),
            (2, [9, 8], ConvBlockConfig { padding: 1, ..ConvBlockConfig::new(4).with_pool(PoolKind::Max, 2) }),
            (3, [11, 10], ConvBlockConfig { stride: 2, kernel: 2, ..ConvBlockConfig::new(5) }),
            (1, [13, 13], ConvBlockConfig::new(6).with_pool(PoolKind::Max, 3)),
            (2, [7, 9], ConvBlockConfig { stride: 2, padding: 2, kernel: 5, ..ConvBlockConfig::new(3) }),
        ];
        for (i, (ci, [h, w], block)) in cases.into_iter().enumerate() {
            let config = CnnConfig { blocks: vec![block], ..CnnConfig::new([ci, h, w], 2) };
            let model = config.init(i as u64, &device).unwrap();
            let block = &model.blocks[0];
            let n = 3;
            let values: Vec<f32> = (0..n * ci * h * w).map(|j| ((j * 37 % 23) as f32 - 11.0) / 7.0).collect();
            let x = || Tensor::<4>::from_data(TensorData::new(values.clone(), [n, ci, h, w]), &device).require_grad();
            let (x1, x2) = (x(), x());
            let fused = block.fused(&x1, &model.activation).expect("the fused path applies on flex");
            let composed = block.composed(x2.clone(), &model.activation);
            fused.to_data().assert_approx_eq::<f32>(&composed.to_data(), burn::tensor::Tolerance::absolute(1e-5));
            // A loss that weighs every output differently.
            let weights = Tensor::<4>::from_data(
                TensorData::new(
                    (0..fused.shape().num_elements()).map(|j| (j % 5) as f32 - 1.5).collect::<Vec<_>>(),
                    fused.dims(),
                ),
                &device,
            );
            let g1 = (fused * weights.clone()).sum().backward();
            let g2 = (composed * weights).sum().backward();
            let tol = burn::tensor::Tolerance::rel_abs(1e-4, 1e-4);
            x1.grad(&g1).unwrap().to_data().assert_approx_eq::<f32>(&x2.grad(&g2).unwrap().to_data(), tol);
            let (wt, bias) = (&block.conv.weight, block.conv.bias.as_ref().unwrap());
            wt.grad(&g1).unwrap().to_data().assert_approx_eq::<f32>(&wt.grad(&g2).unwrap().to_data(), tol);
            bias.grad(&g1).unwrap().to_data().assert_approx_eq::<f32>(&bias.grad(&g2).unwrap().to_data(), tol);
            // Without autodiff (evaluation) the same outputs.
            let valid = model.valid();
            let xv = Tensor::<4>::from_data(TensorData::new(values.clone(), [n, ci, h, w]), &Device::flex());
            let vb = &valid.blocks[0];
            vb.fused(&xv, &valid.activation).unwrap().to_data().assert_approx_eq::<f32>(
                &vb.composed(xv, &valid.activation).to_data(),
                burn::tensor::Tolerance::absolute(1e-5),
            );
        }
        // Other backends and blocks with batch norm take burn's operations.
        let ndarray = CnnConfig { blocks: vec![ConvBlockConfig::new(2)], ..CnnConfig::new([1, 5, 5], 2) };
        let model = ndarray.init(0, &Device::ndarray()).unwrap();
        assert!(model.blocks[0].fused(&Tensor::zeros([1, 1, 5, 5], &Device::ndarray()), &model.activation).is_none());
        // So do empty batches.
        let model = ndarray.init(0, &Device::flex()).unwrap();
        assert!(model.blocks[0].fused(&Tensor::zeros([0, 1, 5, 5], &Device::flex()), &model.activation).is_none());
        let bn = CnnConfig { blocks: vec![ConvBlockConfig { batch_norm: true, ..ConvBlockConfig::new(2) }], ..ndarray };
        let model = bn.init(0, &Device::flex()).unwrap();
        assert!(model.blocks[0].fused(&Tensor::zeros([1, 1, 5, 5], &Device::flex()), &model.activation).is_none());
    }

    #[test]
    fn a_block_too_large_for_the_image_is_an_error_naming_it() {
        let mut c = reference();
        c.height = 8;
        c.width = 8;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("conv block 2"), "{e}");
        let mut c = reference();
        c.blocks[0].stride = 0;
        assert!(c.validate().unwrap_err().to_string().contains("stride"));
        c.blocks.clear();
        assert!(c.validate().is_err());
    }
}
