//! Pipeline model parallelism's half in the models: a model cut into stages of
//! consecutive units (layers, convolution blocks, transformer blocks), each a
//! module of its own that holds only its units' parameters, and joined back
//! into the model after training.
//!
//! ```
//! use anneal_models::pipeline::{self, Flow, Split};
//! use anneal_models::{ActivationKind, AnyModel, Model, MlpConfig};
//! use burn::prelude::*;
//!
//! let device = Device::flex();
//! let config = MlpConfig { input: 3, hidden: vec![8, 8, 8], output: 2, activation: ActivationKind::Relu, dropout: 0.0, layer_dropout: vec![] };
//! let model = AnyModel::Mlp(config.init(0, &device)?);
//! let x = Tensor::<2>::ones([4, 3], &device);
//! let whole = model.forward(x.clone());
//! // Two stages of two layers each; the second reads what the first returned.
//! let stages = pipeline::split(model, &Split::Balanced, 2)?;
//! let mut flow = Flow::Rows(x.clone());
//! for stage in &stages {
//!     flow = stage.forward(&x, flow);
//! }
//! let Flow::Rows(staged) = flow else { unreachable!() };
//! staged.into_data().assert_approx_eq::<f32>(&whole.into_data(), burn::tensor::Tolerance::default());
//! let joined = pipeline::join(stages)?;
//! assert!(matches!(joined, AnyModel::Mlp(_)));
//! # Ok::<(), anneal_models::ModelError>(())
//! ```

use std::ops::Range;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::cnn::{Cnn, CnnPart};
use crate::config::AnyModel;
use crate::error::ModelError;
use crate::mlp::{Mlp, MlpPart};
use crate::transformer::{Transformer, TransformerPart};

/// What passes from one stage to the next: rows (`[batch, width]`; packed
/// token rows `[tokens, d_model]` inside a transformer) or feature maps
/// (`[batch, channels, height, width]`) inside a CNN's convolution blocks.
#[derive(Debug, Clone)]
pub enum Flow {
    /// Two-dimensional activations.
    Rows(Tensor<2>),
    /// Four-dimensional activations.
    Maps(Tensor<4>),
}

impl Flow {
    /// The activation's shape.
    pub fn dims(&self) -> Vec<usize> {
        match self {
            Flow::Rows(t) => t.dims().to_vec(),
            Flow::Maps(t) => t.dims().to_vec(),
        }
    }

    /// Values in row-major order and shape, read back to the host.
    pub fn into_data(self) -> TensorData {
        match self {
            Flow::Rows(t) => t.into_data(),
            Flow::Maps(t) => t.into_data(),
        }
    }

    /// The activation of `data` (two or four dimensions) on `device`.
    pub fn from_data(data: TensorData, device: &Device) -> Result<Self, ModelError> {
        match data.shape().len() {
            2 => Ok(Flow::Rows(Tensor::from_data(data, device))),
            4 => Ok(Flow::Maps(Tensor::from_data(data, device))),
            n => Err(ModelError::Incompatible(format!("a pipeline activation has 2 or 4 dimensions, not {n}"))),
        }
    }

    /// The same values as a leaf that records its gradient (a stage's input).
    pub fn require_grad(self) -> Self {
        match self {
            Flow::Rows(t) => Flow::Rows(t.require_grad()),
            Flow::Maps(t) => Flow::Maps(t.require_grad()),
        }
    }

    /// The gradient a backward pass left on this leaf (`None` when nothing
    /// depended on it), on the host.
    pub fn grad(&self, grads: &burn::tensor::Gradients) -> Option<TensorData> {
        match self {
            Flow::Rows(t) => t.grad(grads).map(Tensor::into_data),
            Flow::Maps(t) => t.grad(grads).map(Tensor::into_data),
        }
    }

    /// `Σ self · other` over every value: back-propagating it gives each
    /// parameter the vector-Jacobian product of `other`, the gradient the next
    /// stage sent back.
    pub fn dot(self, other: Flow) -> Result<Tensor<1>, ModelError> {
        match (self, other) {
            (Flow::Rows(a), Flow::Rows(b)) if a.dims() == b.dims() => Ok((a * b).sum()),
            (Flow::Maps(a), Flow::Maps(b)) if a.dims() == b.dims() => Ok((a * b).sum()),
            (a, b) => Err(ModelError::Incompatible(format!(
                "a gradient of shape {:?} for an activation of shape {:?}",
                b.dims(),
                a.dims()
            ))),
        }
    }
}

/// Where a model is cut into stages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// Cuts that make the largest stage's parameter count as small as it can
    /// be ([`balanced_cuts`]).
    #[default]
    Balanced,
    /// Cuts that balance the units' measured training time instead (forward
    /// and backward of a batch): parameters say little about work (a
    /// convolution has few weights and much arithmetic). The caller measures
    /// the units and passes their times as the weights of [`stage_ranges`]
    /// (`anneal_distributed::pipeline::unit_times`).
    Time,
    /// The units each stage starts at, after the first (which starts at 0):
    /// `[2]` gives stage 0 units 0 and 1, stage 1 the rest.
    At(Vec<usize>),
}

/// One stage of a pipeline: consecutive units of a model, with only their
/// parameters.
// Not boxed, as AnyModel: a stage moves once per update, a few hundred bytes
// against a step's megabytes of tensors.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Stage {
    /// Layers of an MLP.
    Mlp(MlpPart),
    /// Blocks and dense layers of a CNN.
    Cnn(CnnPart),
    /// Embedding, blocks and head of a transformer.
    Transformer(TransformerPart),
}

impl Stage {
    /// This stage's units on one batch: `input` is the batch as the model
    /// reads it (the first stage's `flow` is `Flow::Rows(input)`; a
    /// transformer's later stages read where the real tokens are from it),
    /// `flow` what the stage before returned. The last stage returns the
    /// model's outputs, `Flow::Rows` `[batch, outputs]`.
    pub fn forward(&self, input: &Tensor<2>, flow: Flow) -> Flow {
        match (self, flow) {
            (Stage::Mlp(p), Flow::Rows(h)) => Flow::Rows(p.forward(h)),
            (Stage::Cnn(p), flow) => p.forward(flow),
            (Stage::Transformer(p), Flow::Rows(h)) => Flow::Rows(p.forward(input, h)),
            // Feature maps reach only a CNN's stages: pass them on flattened.
            (Stage::Mlp(p), Flow::Maps(z)) => {
                let [b, c, h, w] = z.dims();
                Flow::Rows(p.forward(z.reshape([b, c * h * w])))
            }
            (Stage::Transformer(p), Flow::Maps(z)) => {
                let [b, c, h, w] = z.dims();
                Flow::Rows(p.forward(input, z.reshape([b, c * h * w])))
            }
        }
    }
}

/// Parameters of each unit of `model`, input side first: an MLP's layers; a
/// CNN's convolution blocks, then its dense layers; a transformer's embedding,
/// its blocks, then its head. A linear model is one unit.
pub fn unit_params(model: &AnyModel) -> Vec<usize> {
    match model {
        AnyModel::Linear(m) => vec![m.num_params()],
        AnyModel::Mlp(m) => m.layer_params(),
        AnyModel::Cnn(m) => m.unit_params(),
        AnyModel::Transformer(m) => m.unit_params(),
    }
}

/// The cuts (each stage's first unit, after stage 0's) that split units of
/// `weights` into `stages` non-empty consecutive stages whose largest total
/// is the smallest possible; among equal splits, the one whose cuts come
/// first.
pub fn balanced_cuts(weights: &[usize], stages: usize) -> Result<Vec<usize>, ModelError> {
    let n = weights.len();
    if stages == 0 || stages > n {
        return Err(ModelError::Incompatible(format!("{stages} pipeline stages for a model of {n} units")));
    }
    let prefix: Vec<usize> = std::iter::once(0)
        .chain(weights.iter().scan(0, |s, &w| {
            *s += w;
            Some(*s)
        }))
        .collect();
    // best[k][i]: the smallest largest stage of the first i units in k stages; from[k][i] its last cut.
    let mut best = vec![vec![usize::MAX; n + 1]; stages + 1];
    let mut from = vec![vec![0usize; n + 1]; stages + 1];
    best[0][0] = 0;
    for k in 1..=stages {
        for i in k..=n {
            for j in (k - 1)..i {
                if best[k - 1][j] == usize::MAX {
                    continue;
                }
                let cost = best[k - 1][j].max(prefix[i] - prefix[j]);
                if cost < best[k][i] {
                    best[k][i] = cost;
                    from[k][i] = j;
                }
            }
        }
    }
    let mut cuts = Vec::with_capacity(stages - 1);
    let mut i = n;
    for k in (2..=stages).rev() {
        i = from[k][i];
        cuts.push(i);
    }
    cuts.reverse();
    Ok(cuts)
}

/// The unit ranges of `stages` stages cut by `split`, for a model whose units
/// weigh `weights` (their parameters, [`unit_params`]; their measured times
/// for [`Split::Time`]).
pub fn stage_ranges(weights: &[usize], split: &Split, stages: usize) -> Result<Vec<Range<usize>>, ModelError> {
    let n = weights.len();
    let cuts = match split {
        Split::Balanced | Split::Time => balanced_cuts(weights, stages)?,
        Split::At(cuts) => {
            if cuts.len() + 1 != stages {
                return Err(ModelError::Incompatible(format!(
                    "{} cuts make {} stages, not {stages}",
                    cuts.len(),
                    cuts.len() + 1
                )));
            }
            let mut last = 0;
            for &c in cuts {
                if c <= last || c >= n {
                    return Err(ModelError::Incompatible(format!(
                        "pipeline cuts {cuts:?}: each must be above the one before (and above 0) and below the \
                         model's {n} units, so that no stage is empty"
                    )));
                }
                last = c;
            }
            cuts.clone()
        }
    };
    let bounds: Vec<usize> = std::iter::once(0).chain(cuts).chain(std::iter::once(n)).collect();
    Ok(bounds.windows(2).map(|w| w[0]..w[1]).collect())
}

/// Cuts `model` into `stages` stages by `split` (balancing parameters, or at
/// given cuts; [`Split::Time`] needs the units' times: [`split_at`] with
/// [`stage_ranges`] of them). The parameters move (they keep their ids, so an
/// optimiser's state for the whole model serves the stages); [`join`] puts
/// them back.
pub fn split(model: AnyModel, split: &Split, stages: usize) -> Result<Vec<Stage>, ModelError> {
    if *split == Split::Time {
        return Err(ModelError::Incompatible(
            "split = \"time\" cuts by the units' measured times: measure them and cut with split_at".into(),
        ));
    }
    refuse_linear(&model)?;
    let ranges = stage_ranges(&unit_params(&model), split, stages)?;
    split_at(model, &ranges)
}

fn refuse_linear(model: &AnyModel) -> Result<(), ModelError> {
    if matches!(model, AnyModel::Linear(_)) {
        return Err(ModelError::Incompatible(
            "a linear model is one layer; pipeline stages cut between the layers of an mlp, a cnn or a transformer"
                .into(),
        ));
    }
    Ok(())
}

/// Cuts `model` into stages of the unit `ranges` (consecutive, from unit 0 to
/// the last, none empty; see [`stage_ranges`]).
pub fn split_at(model: AnyModel, ranges: &[Range<usize>]) -> Result<Vec<Stage>, ModelError> {
    refuse_linear(&model)?;
    let units = unit_params(&model).len();
    let consecutive = ranges.first().is_some_and(|r| r.start == 0)
        && ranges.last().is_some_and(|r| r.end == units)
        && ranges.iter().all(|r| !r.is_empty())
        && ranges.windows(2).all(|w| w[0].end == w[1].start);
    if !consecutive {
        return Err(ModelError::Incompatible(format!(
            "pipeline stages {ranges:?} do not cover the model's {units} units in order, each non-empty"
        )));
    }
    Ok(match model {
        AnyModel::Mlp(m) => m.split(ranges).into_iter().map(Stage::Mlp).collect(),
        AnyModel::Cnn(m) => m.split(ranges).into_iter().map(Stage::Cnn).collect(),
        AnyModel::Transformer(m) => m.split(ranges).into_iter().map(Stage::Transformer).collect(),
        AnyModel::Linear(_) => Vec::new(),
    })
}

/// The model whose units `stages` hold, in order (what [`split`] cut).
pub fn join(stages: Vec<Stage>) -> Result<AnyModel, ModelError> {
    let mixed = || ModelError::Incompatible("pipeline stages of different kinds of model".into());
    match stages.first() {
        None => Err(ModelError::Incompatible("no pipeline stages to join".into())),
        Some(Stage::Mlp(_)) => {
            let parts = stages.into_iter().map(|s| if let Stage::Mlp(p) = s { Ok(p) } else { Err(mixed()) });
            Ok(AnyModel::Mlp(Mlp::join(parts.collect::<Result<_, _>>()?)?))
        }
        Some(Stage::Cnn(_)) => {
            let parts = stages.into_iter().map(|s| if let Stage::Cnn(p) = s { Ok(p) } else { Err(mixed()) });
            Ok(AnyModel::Cnn(Cnn::join(parts.collect::<Result<_, _>>()?)?))
        }
        Some(Stage::Transformer(_)) => {
            let parts = stages.into_iter().map(|s| if let Stage::Transformer(p) = s { Ok(p) } else { Err(mixed()) });
            Ok(AnyModel::Transformer(Transformer::join(parts.collect::<Result<_, _>>()?)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cnn::{CnnConfig, ConvBlockConfig, PoolKind};
    use crate::mlp::{ActivationKind, MlpConfig};
    use crate::model::Model;
    use crate::transformer::{NormPlacement, Pooling, PositionKind, TransformerConfig};
    use burn::tensor::Tolerance;

    fn run(stages: &[Stage], x: &Tensor<2>) -> Tensor<2> {
        let mut flow = Flow::Rows(x.clone());
        for stage in stages {
            flow = stage.forward(x, flow);
        }
        match flow {
            Flow::Rows(out) => out,
            Flow::Maps(_) => panic!("the last stage returned feature maps"),
        }
    }

    /// Every way to cut `model` into 2 and 3 stages gives its outputs, and
    /// joining the stages gives the model back (same outputs, same parameters).
    fn cuts_preserve(build: impl Fn() -> AnyModel, x: Tensor<2>) {
        let whole = build().forward(x.clone());
        let params = build().num_params();
        let units = unit_params(&build()).len();
        let mut splits: Vec<Vec<usize>> = (1..units).map(|c| vec![c]).collect();
        splits.extend((1..units).flat_map(|a| (a + 1..units).map(move |b| vec![a, b])));
        for cuts in splits {
            let stages = split(build(), &Split::At(cuts.clone()), cuts.len() + 1).unwrap();
            assert_eq!(stages.iter().map(Module::num_params).sum::<usize>(), params, "{cuts:?}");
            run(&stages, &x).into_data().assert_approx_eq::<f32>(&whole.to_data(), Tolerance::absolute(1e-5));
            let joined = join(stages).unwrap();
            assert_eq!(joined.num_params(), params);
            joined.forward(x.clone()).into_data().assert_approx_eq::<f32>(&whole.to_data(), Tolerance::absolute(1e-6));
        }
    }

    #[test]
    fn an_mlp_cut_anywhere_computes_the_same_outputs() {
        let device = Device::flex();
        let config = MlpConfig {
            input: 5,
            hidden: vec![7, 6, 4],
            output: 3,
            activation: ActivationKind::Tanh,
            dropout: 0.0,
            layer_dropout: vec![],
        };
        let x = Tensor::<2>::from_data(
            TensorData::new((0..20).map(|i| (i as f32 * 0.37).sin()).collect::<Vec<_>>(), [4, 5]),
            &device,
        );
        cuts_preserve(|| AnyModel::Mlp(config.init(1, &device).unwrap()), x);
    }

    #[test]
    fn a_cnn_cut_among_blocks_or_head_computes_the_same_outputs() {
        let device = Device::flex();
        let mut config = CnnConfig {
            blocks: vec![ConvBlockConfig::new(4).with_pool(PoolKind::Max, 2), ConvBlockConfig::new(6)],
            hidden: vec![8],
            dropout: 0.0,
            ..CnnConfig::new([2, 12, 12], 3)
        };
        config.blocks[1].pool = Some(PoolKind::Avg);
        let x = Tensor::<2>::from_data(
            TensorData::new((0..3 * 288).map(|i| (i as f32 * 0.11).cos()).collect::<Vec<_>>(), [3, 288]),
            &device,
        );
        cuts_preserve(|| AnyModel::Cnn(config.init(2, &device).unwrap()), x.clone());
        config.global_pool = true;
        config.blocks[0].batch_norm = true;
        cuts_preserve(|| AnyModel::Cnn(config.init(2, &device).unwrap()), x);
    }

    #[test]
    fn a_transformer_cut_anywhere_computes_the_same_outputs() {
        let device = Device::flex();
        // Padding in two of the three texts.
        let ids: Vec<f32> = vec![3., 4., 5., 6., 2., 7., 0., 0., 9., 0., 0., 0.];
        let x = Tensor::<2>::from_data(TensorData::new(ids, [3, 4]), &device);
        for (norm, pooling, position, causal) in [
            (NormPlacement::Pre, Pooling::Mean, PositionKind::Learned, false),
            (NormPlacement::Post, Pooling::Cls, PositionKind::Sinusoidal, false),
            (NormPlacement::Pre, Pooling::Mean, PositionKind::Sinusoidal, true),
        ] {
            let config = TransformerConfig {
                vocab: 10,
                max_len: 4,
                d_model: 8,
                layers: 2,
                heads: 2,
                d_ff: 16,
                dropout: 0.0,
                norm,
                pooling,
                position,
                causal,
                output: 3,
                ..TransformerConfig::default()
            };
            cuts_preserve(|| AnyModel::Transformer(config.init(4, &device).unwrap()), x.clone());
        }
    }

    #[test]
    fn balanced_cuts_minimise_the_largest_stage() {
        assert_eq!(balanced_cuts(&[1, 1, 1, 1], 2).unwrap(), vec![2]);
        assert_eq!(balanced_cuts(&[10, 1, 1, 1, 1, 1], 2).unwrap(), vec![1]);
        assert_eq!(balanced_cuts(&[3, 3, 3, 3, 3, 3], 3).unwrap(), vec![2, 4]);
        assert_eq!(balanced_cuts(&[5, 1, 1, 1, 1, 1, 5], 3).unwrap(), vec![1, 6]);
        // Exhaustively against every split of 6 units into 3 stages.
        let w = [4usize, 9, 1, 7, 3, 8];
        let cuts = balanced_cuts(&w, 3).unwrap();
        let largest = |c: &[usize]| {
            let b: Vec<usize> = std::iter::once(0).chain(c.iter().copied()).chain(std::iter::once(6)).collect();
            b.windows(2).map(|r| w[r[0]..r[1]].iter().sum::<usize>()).max().unwrap()
        };
        let best = (1..6).flat_map(|a| (a + 1..6).map(move |b| [a, b])).map(|c| largest(&c)).min().unwrap();
        assert_eq!(largest(&cuts), best);
        assert!(balanced_cuts(&w, 7).is_err());
        assert!(balanced_cuts(&w, 0).is_err());
    }

    #[test]
    fn bad_splits_are_named() {
        let device = Device::flex();
        let mlp = || {
            AnyModel::Mlp(
                MlpConfig {
                    input: 2,
                    hidden: vec![3],
                    output: 2,
                    activation: ActivationKind::Relu,
                    dropout: 0.0,
                    layer_dropout: vec![],
                }
                .init(0, &device)
                .unwrap(),
            )
        };
        let message = |r: Result<Vec<Stage>, ModelError>| r.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message(split(mlp(), &Split::Balanced, 3)).contains("3 pipeline stages for a model of 2 units"));
        assert!(message(split(mlp(), &Split::At(vec![2]), 2)).contains("below the model's 2 units"));
        assert!(message(split(mlp(), &Split::At(vec![1]), 3)).contains("1 cuts make 2 stages"));
        let linear = AnyModel::Linear(crate::linear::LinearConfig { input: 2, output: 1 }.init(0, &device).unwrap());
        assert!(message(split(linear, &Split::Balanced, 2)).contains("a linear model is one layer"));
        assert!(message(split(mlp(), &Split::Time, 2)).contains("measured times"));
        assert!(message(split_at(mlp(), &[0..1, 2..2])).contains("do not cover"));
        let only_first = vec![std::ops::Range { start: 0, end: 1 }];
        assert!(message(split_at(mlp(), &only_first)).contains("do not cover"));
        assert_eq!(split_at(mlp(), &[0..1, 1..2]).unwrap().len(), 2);
        let stages = split(mlp(), &Split::Balanced, 2).unwrap();
        let reversed: Vec<Stage> = stages.into_iter().rev().collect();
        assert!(join(reversed).unwrap_err().to_string().contains("out of order"));
    }
}
