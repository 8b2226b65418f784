//! [`ModelConfig`]: every model kind a run can train, as one config, and
//! [`AnyModel`], the model it builds.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::cnn::{Cnn, CnnConfig, ConvBlockConfig};
use crate::error::ModelError;
use crate::linear::{LinearConfig, LinearModel};
use crate::mlp::{ActivationKind, Mlp, MlpConfig};
use crate::model::Model;
use crate::transformer::{NormPlacement, Pooling, PositionKind, Transformer, TransformerConfig};

pub(crate) fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A model of any kind, as the `[model]` table of a run config spells it:
/// `kind = "linear"` or `kind = "mlp"` (the default) beside that kind's own keys.
/// The input and output sizes are left out there and come from the data
/// ([`with_shape`](ModelConfig::with_shape)).
///
/// ```
/// use anneal_models::{ModelConfig, Model};
/// use burn::prelude::*;
///
/// let config: ModelConfig = toml::from_str("kind = \"mlp\"\nhidden = [8]\ndropout = 0.1")?;
/// let model = config.with_shape(4, 3).init(1, &Device::flex())?;
/// assert_eq!(model.forward(Tensor::zeros([2, 4], &Device::flex())).dims(), [2, 3]);
///
/// let linear: ModelConfig = toml::from_str("kind = \"linear\"")?;
/// assert_eq!(linear, ModelConfig::Linear(Default::default()));
/// // A key of another kind is an error, not silently ignored.
/// assert!(toml::from_str::<ModelConfig>("kind = \"linear\"\nhidden = [8]").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelConfig {
    /// A linear model: linear regression, logistic / softmax regression.
    Linear(LinearConfig),
    /// A multi-layer perceptron.
    Mlp(MlpConfig),
    /// A convolutional network for images.
    Cnn(CnnConfig),
    /// A transformer encoder for token sequences (text).
    Transformer(TransformerConfig),
}

/// The kinds, as spelled in `kind = "..."`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Linear,
    #[default]
    Mlp,
    Cnn,
    Transformer,
}

/// Every key any kind takes, so that one table can be read and then checked
/// against the kind it names (serde's tagged enums cannot default the tag).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    kind: Kind,
    #[serde(default)]
    input: usize,
    #[serde(default)]
    output: usize,
    hidden: Option<Vec<usize>>,
    activation: Option<ActivationKind>,
    dropout: Option<f64>,
    layer_dropout: Option<Vec<f64>>,
    blocks: Option<Vec<ConvBlockConfig>>,
    global_pool: Option<bool>,
    #[serde(default)]
    channels_in: usize,
    #[serde(default)]
    height: usize,
    #[serde(default)]
    width: usize,
    #[serde(default)]
    vocab: usize,
    #[serde(default)]
    max_len: usize,
    d_model: Option<usize>,
    layers: Option<usize>,
    heads: Option<usize>,
    d_ff: Option<usize>,
    norm: Option<NormPlacement>,
    position: Option<PositionKind>,
    pooling: Option<Pooling>,
}

impl Raw {
    /// The first transformer setting given, for refusing it in another kind.
    fn transformer_key(&self) -> Option<&'static str> {
        [
            ("d_model", self.d_model.is_some()),
            ("layers", self.layers.is_some()),
            ("heads", self.heads.is_some()),
            ("d_ff", self.d_ff.is_some()),
            ("norm", self.norm.is_some()),
            ("position", self.position.is_some()),
            ("pooling", self.pooling.is_some()),
            ("vocab", self.vocab > 0),
            ("max_len", self.max_len > 0),
        ]
        .into_iter()
        .find(|(_, given)| *given)
        .map(|(key, _)| key)
    }
}

impl<'de> Deserialize<'de> for ModelConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = Raw::deserialize(deserializer)?;
        if raw.kind != Kind::Transformer
            && let Some(key) = raw.transformer_key()
        {
            return Err(D::Error::custom(format!(
                "`{key}` is a setting of kind = \"transformer\"; set kind = \"transformer\" for a transformer encoder"
            )));
        }
        match raw.kind {
            Kind::Transformer => {
                let foreign = [
                    ("hidden", raw.hidden.is_some()),
                    ("layer_dropout", raw.layer_dropout.is_some()),
                    ("blocks", raw.blocks.is_some()),
                    ("global_pool", raw.global_pool.is_some()),
                    ("channels_in", raw.channels_in > 0),
                    ("height", raw.height > 0),
                    ("width", raw.width > 0),
                    ("input", raw.input > 0),
                ];
                if let Some((key, _)) = foreign.iter().find(|(_, given)| *given) {
                    return Err(D::Error::custom(format!(
                        "`{key}` is not a setting of kind = \"transformer\" (it takes d_model, layers, heads, d_ff, \
                         dropout, norm, position, pooling, activation)"
                    )));
                }
                let d = TransformerConfig::default();
                Ok(ModelConfig::Transformer(TransformerConfig {
                    vocab: raw.vocab,
                    max_len: raw.max_len,
                    d_model: raw.d_model.unwrap_or(d.d_model),
                    layers: raw.layers.unwrap_or(d.layers),
                    heads: raw.heads.unwrap_or(d.heads),
                    d_ff: raw.d_ff.unwrap_or(d.d_ff),
                    dropout: raw.dropout.unwrap_or(d.dropout),
                    norm: raw.norm.unwrap_or(d.norm),
                    position: raw.position.unwrap_or(d.position),
                    pooling: raw.pooling.unwrap_or(d.pooling),
                    activation: raw.activation.unwrap_or(d.activation),
                    output: raw.output,
                    causal: false,
                }))
            }
            Kind::Linear => {
                let foreign = [
                    ("hidden", raw.hidden.is_some()),
                    ("activation", raw.activation.is_some()),
                    ("dropout", raw.dropout.is_some()),
                    ("layer_dropout", raw.layer_dropout.is_some()),
                    ("blocks", raw.blocks.is_some()),
                    ("global_pool", raw.global_pool.is_some()),
                    ("channels_in", raw.channels_in > 0),
                    ("height", raw.height > 0),
                    ("width", raw.width > 0),
                ];
                if let Some((key, _)) = foreign.iter().find(|(_, given)| *given) {
                    let owner = if ["blocks", "global_pool", "channels_in", "height", "width"].contains(key) {
                        "cnn"
                    } else {
                        "mlp"
                    };
                    return Err(D::Error::custom(format!(
                        "`{key}` is a setting of kind = \"{owner}\"; a kind = \"linear\" model has no hidden layers \
                         or convolutions"
                    )));
                }
                Ok(ModelConfig::Linear(LinearConfig { input: raw.input, output: raw.output }))
            }
            Kind::Mlp
                if raw.blocks.is_some()
                    || raw.global_pool.is_some()
                    || raw.channels_in + raw.height + raw.width > 0 =>
            {
                Err(D::Error::custom(
                    "`blocks`, `global_pool` and the image sizes are settings of kind = \"cnn\"; set kind = \"cnn\" \
                     for a convolutional network",
                ))
            }
            Kind::Cnn => {
                if raw.layer_dropout.is_some() {
                    return Err(D::Error::custom(
                        "`layer_dropout` is a setting of kind = \"mlp\"; a cnn takes `dropout`",
                    ));
                }
                Ok(ModelConfig::Cnn(CnnConfig {
                    channels_in: raw.channels_in,
                    height: raw.height,
                    width: raw.width,
                    blocks: raw.blocks.ok_or_else(|| {
                        D::Error::custom(
                            "kind = \"cnn\" needs `blocks`, e.g. blocks = [{ channels = 32, pool = \"max\" }, \
                             { channels = 64, pool = \"max\" }]",
                        )
                    })?,
                    global_pool: raw.global_pool.unwrap_or(false),
                    hidden: raw.hidden.unwrap_or_default(),
                    output: raw.output,
                    activation: raw.activation.unwrap_or_default(),
                    dropout: raw.dropout.unwrap_or(0.0),
                }))
            }
            Kind::Mlp => Ok(ModelConfig::Mlp(MlpConfig {
                input: raw.input,
                hidden: raw.hidden.ok_or_else(|| {
                    D::Error::custom("kind = \"mlp\" needs `hidden`, the units of each hidden layer (e.g. [32, 16])")
                })?,
                output: raw.output,
                activation: raw.activation.unwrap_or_default(),
                dropout: raw.dropout.unwrap_or(0.0),
                layer_dropout: raw.layer_dropout.unwrap_or_default(),
            })),
        }
    }
}

impl ModelConfig {
    /// The same config with `input` features and `output` outputs.
    pub fn with_shape(&self, input: usize, output: usize) -> Self {
        match self {
            ModelConfig::Linear(_) => ModelConfig::Linear(LinearConfig { input, output }),
            ModelConfig::Mlp(c) => ModelConfig::Mlp(MlpConfig { input, output, ..c.clone() }),
            ModelConfig::Cnn(c) => ModelConfig::Cnn(CnnConfig { output, ..c.clone() }),
            ModelConfig::Transformer(c) => ModelConfig::Transformer(TransformerConfig { output, ..c.clone() }),
        }
    }

    /// The same config reading rows of `max_len` token ids below `vocab`: a
    /// transformer takes both; other kinds read the ids as numbers and are unchanged.
    pub fn with_text(&self, vocab: usize, max_len: usize) -> Self {
        match self {
            ModelConfig::Transformer(c) => ModelConfig::Transformer(TransformerConfig { vocab, max_len, ..c.clone() }),
            other => other.clone(),
        }
    }

    /// Whether the model needs token ids (a transformer).
    pub fn needs_text(&self) -> bool {
        matches!(self, ModelConfig::Transformer(_))
    }

    /// The same config reading `[channels, height, width]` images: a CNN takes
    /// the shape; other kinds read the flattened pixels and are unchanged.
    pub fn with_image(&self, image: [usize; 3]) -> Self {
        match self {
            ModelConfig::Cnn(c) => {
                let [channels_in, height, width] = image;
                ModelConfig::Cnn(CnnConfig { channels_in, height, width, ..c.clone() })
            }
            other => other.clone(),
        }
    }

    /// Whether the model needs image data (a CNN).
    pub fn needs_images(&self) -> bool {
        matches!(self, ModelConfig::Cnn(_))
    }

    /// The kind's name (`linear`, `mlp`).
    pub fn kind(&self) -> &'static str {
        match self {
            ModelConfig::Linear(_) => "linear",
            ModelConfig::Mlp(_) => "mlp",
            ModelConfig::Cnn(_) => "cnn",
            ModelConfig::Transformer(_) => "transformer",
        }
    }

    /// Checks the settings that do not depend on the data (sizes of 0 are
    /// allowed here: the data fills them in).
    pub fn validate_settings(&self) -> Result<(), ModelError> {
        match self {
            ModelConfig::Linear(_) => Ok(()),
            ModelConfig::Mlp(c) => MlpConfig { input: 1, output: 1, ..c.clone() }.validate(),
            // The image size decides whether the blocks fit; check the rest on a large one.
            ModelConfig::Cnn(c) => {
                let big = 1 << 16;
                CnnConfig { channels_in: 1, height: big, width: big, output: 1, ..c.clone() }.validate()
            }
            ModelConfig::Transformer(c) => {
                TransformerConfig { vocab: 2, max_len: 1, output: 1, ..c.clone() }.validate()
            }
        }
    }

    /// The model in words, for reports: `MLP 10-32-16-1 (Relu, dropout 0.1)`,
    /// or `MLP with hidden layers [32, 16] (Relu, dropout 0.1)` before the data
    /// has set its sizes.
    pub fn describe(&self) -> String {
        match self {
            ModelConfig::Linear(c) if c.input == 0 => "linear".to_string(),
            ModelConfig::Linear(c) => format!("linear {}-{}", c.input, c.output),
            ModelConfig::Mlp(c) if c.input == 0 => {
                format!("MLP with hidden layers {:?} ({:?}, dropout {})", c.hidden, c.activation, c.dropout)
            }
            ModelConfig::Mlp(c) => {
                let sizes: Vec<String> = std::iter::once(c.input)
                    .chain(c.hidden.iter().copied())
                    .chain([c.output])
                    .map(|n| n.to_string())
                    .collect();
                format!("MLP {} ({:?}, dropout {})", sizes.join("-"), c.activation, c.dropout)
            }
            ModelConfig::Cnn(c) => {
                let blocks: Vec<String> = c
                    .blocks
                    .iter()
                    .map(|b| {
                        let mut s = format!("conv{}x{} {}", b.kernel, b.kernel, b.channels);
                        if b.stride != 1 {
                            s += &format!("/{}", b.stride);
                        }
                        if b.batch_norm {
                            s += " bn";
                        }
                        if let Some(p) = b.pool {
                            s += &format!(
                                " {}pool{}",
                                if p == crate::cnn::PoolKind::Max { "max" } else { "avg" },
                                b.pool_size
                            );
                        }
                        s
                    })
                    .collect();
                let input = if c.input_len() == 0 {
                    String::new()
                } else {
                    format!("{}x{}x{} → ", c.channels_in, c.height, c.width)
                };
                let head: Vec<String> = c
                    .hidden
                    .iter()
                    .map(|h| h.to_string())
                    .chain((c.output > 0).then(|| c.output.to_string()))
                    .collect();
                format!(
                    "CNN {input}{}{} → dense {} ({:?}, dropout {})",
                    blocks.join(" → "),
                    if c.global_pool { " → global avg pool" } else { "" },
                    head.join("-"),
                    c.activation,
                    c.dropout
                )
            }
            ModelConfig::Transformer(c) => {
                let input =
                    if c.vocab == 0 { String::new() } else { format!("{} tokens × {} ids → ", c.max_len, c.vocab) };
                format!(
                    "transformer encoder {input}{} {}-LN layers (d_model {}, {} heads, d_ff {}, {:?}, dropout {}), \
                     {} positions, {} pooling{}",
                    c.layers,
                    if c.norm == NormPlacement::Pre { "pre" } else { "post" },
                    c.d_model,
                    c.heads,
                    c.d_ff,
                    c.activation,
                    c.dropout,
                    if c.position == PositionKind::Learned { "learned" } else { "sinusoidal" },
                    if c.pooling == Pooling::Mean { "masked mean" } else { "[CLS]" },
                    if c.output > 0 { format!(" → {}", c.output) } else { String::new() }
                )
            }
        }
    }

    /// Where the parameter or layer at `path` (a module path such as
    /// `blocks.1.conv.weight` or `Cnn.head.0`, with or without the kind's
    /// variant first) sits for transfer learning: `None` for the head (the output
    /// layer, whose shape is the label set's), or `Some(stage)` of the backbone,
    /// stages numbered from the input: an MLP's hidden layers; a CNN's
    /// convolution blocks, then its hidden dense layers; a transformer's
    /// embeddings (stage 0), then its encoder blocks (the final norm goes with
    /// the last block). A linear model is all head.
    ///
    /// ```
    /// let cnn: anneal_models::ModelConfig = toml::from_str("kind = \"cnn\"\nblocks = [{ channels = 8 }, { channels = 16 }]\nhidden = [32]")?;
    /// assert_eq!(cnn.backbone_stages(), 3);
    /// assert_eq!(cnn.stage_of("blocks.1.conv.weight")?, Some(1));
    /// assert_eq!(cnn.stage_of("Cnn.head.0")?, Some(2));
    /// assert_eq!(cnn.stage_of("head.1.bias")?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stage_of(&self, path: &str) -> Result<Option<usize>, ModelError> {
        let mut parts: Vec<&str> = path.split('.').collect();
        if parts.first().is_some_and(|p| p.starts_with(|c: char| c.is_ascii_uppercase())) {
            parts.remove(0);
        }
        let index = |i: usize| parts.get(i).and_then(|p| p.parse::<usize>().ok());
        let unknown = || ModelError::Transfer(format!("`{path}` is not a parameter of a {} model", self.kind()));
        match (self, parts.first().copied()) {
            (ModelConfig::Linear(_), _) => Ok(None),
            (ModelConfig::Mlp(c), Some("layers")) => {
                let i = index(1).ok_or_else(unknown)?;
                Ok((i < c.hidden.len()).then_some(i))
            }
            (ModelConfig::Cnn(_), Some("blocks")) => Ok(Some(index(1).ok_or_else(unknown)?)),
            (ModelConfig::Cnn(c), Some("head")) => {
                let j = index(1).ok_or_else(unknown)?;
                Ok((j < c.hidden.len()).then_some(c.blocks.len() + j))
            }
            (ModelConfig::Transformer(_), Some("token" | "position" | "cls")) => Ok(Some(0)),
            (ModelConfig::Transformer(_), Some("blocks")) => Ok(Some(index(1).ok_or_else(unknown)? + 1)),
            (ModelConfig::Transformer(c), Some("final_norm")) => Ok(Some(c.layers)),
            (ModelConfig::Transformer(_), Some("head")) => Ok(None),
            _ => Err(unknown()),
        }
    }

    /// Stages of the backbone, below the head ([`stage_of`](ModelConfig::stage_of)).
    pub fn backbone_stages(&self) -> usize {
        match self {
            ModelConfig::Linear(_) => 0,
            ModelConfig::Mlp(c) => c.hidden.len(),
            ModelConfig::Cnn(c) => c.blocks.len() + c.hidden.len(),
            ModelConfig::Transformer(c) => c.layers + 1,
        }
    }

    /// Builds the model on `device` with weights drawn from `seed`.
    pub fn init(&self, seed: u64, device: &Device) -> Result<AnyModel, ModelError> {
        Ok(match self {
            ModelConfig::Linear(c) => AnyModel::Linear(c.init(seed, device)?),
            ModelConfig::Mlp(c) => AnyModel::Mlp(c.init(seed, device)?),
            ModelConfig::Cnn(c) => AnyModel::Cnn(c.init(seed, device)?),
            ModelConfig::Transformer(c) => AnyModel::Transformer(c.init(seed, device)?),
        })
    }
}

/// A model of any kind [`ModelConfig`] builds.
// Boxing a variant is not something burn's Module derive takes, and a model is
// moved once per step: a few hundred bytes against a step's megabytes of tensors.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum AnyModel {
    /// A linear model.
    Linear(LinearModel),
    /// A multi-layer perceptron.
    Mlp(Mlp),
    /// A convolutional network.
    Cnn(Cnn),
    /// A transformer encoder.
    Transformer(Transformer),
}

impl Model for AnyModel {
    type Input = Tensor<2>;

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        match self {
            AnyModel::Linear(m) => Model::forward(m, x),
            AnyModel::Mlp(m) => Model::forward(m, x),
            AnyModel::Cnn(m) => Model::forward(m, x),
            AnyModel::Transformer(m) => Model::forward(m, x),
        }
    }

    fn rng_state(&self) -> Vec<u64> {
        match self {
            AnyModel::Linear(m) => m.rng_state(),
            AnyModel::Mlp(m) => Model::rng_state(m),
            AnyModel::Cnn(m) => Model::rng_state(m),
            AnyModel::Transformer(m) => Model::rng_state(m),
        }
    }

    fn set_rng_state(&self, state: &[u64]) {
        match self {
            AnyModel::Linear(m) => m.set_rng_state(state),
            AnyModel::Mlp(m) => Model::set_rng_state(m, state),
            AnyModel::Cnn(m) => Model::set_rng_state(m, state),
            AnyModel::Transformer(m) => Model::set_rng_state(m, state),
        }
    }
}
