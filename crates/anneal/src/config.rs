//! The run config: one TOML file that describes a whole training job.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anneal_data::clean::CleanConfig;
use anneal_data::{ColumnKind, LastBatch, PreprocessConfig, SplitFractions};
use anneal_models::{ActivationKind, MlpConfig};
use anneal_optim::{GradientClippingConfig, OptimizerConfig};
use anneal_regularize::{EarlyStoppingConfig, PenaltyConfig};
use anneal_train::energy::EnergyModel;
use anneal_train::{ScheduleSettings, TrainConfig};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A training job: data, split, preprocessing, model, optimiser and loop settings.
///
/// Unknown keys are errors, so a misspelt setting is never silently ignored.
///
/// ```
/// let config: anneal::RunConfig = toml::from_str(r#"
///     seed = 1
///     [data]
///     path = "data.csv"
///     target = "label"
///     [model]
///     hidden = [16]
///     [optimizer]
///     name = "adam"
///     learning_rate = 0.01
///     [training]
///     epochs = 10
///     batch_size = 8
/// "#)?;
/// assert_eq!(config.model.hidden, [16]);
/// assert!(toml::from_str::<anneal::RunConfig>("seed = 1\nsede = 2").is_err());
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Seed of every random choice: split, initial weights, shuffles, dropout.
    #[serde(default)]
    pub seed: u64,
    /// Where the data is and what to predict.
    pub data: DataSection,
    /// Cleaning: duplicates, rows or columns with missing cells, outlier trimming.
    #[serde(default)]
    pub clean: CleanConfig,
    /// Train / validation / test fractions.
    #[serde(default)]
    pub split: SplitSection,
    /// Imputation, scaling and encoding.
    #[serde(default)]
    pub preprocess: PreprocessConfig,
    /// The model.
    pub model: ModelSection,
    /// The optimiser.
    pub optimizer: OptimizerConfig,
    /// An optional learning-rate schedule, stepped per epoch or per iteration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleSettings>,
    /// L1/L2 penalties on the weights.
    #[serde(default)]
    pub regularization: PenaltyConfig,
    /// The training loop.
    pub training: TrainingSection,
    /// Assumptions of the energy estimate in the report.
    #[serde(default)]
    pub energy: EnergyModel,
}

/// The `[data]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// CSV file (plain or gzip), relative to the config file.
    pub path: PathBuf,
    /// Column to predict (a classification target).
    pub target: String,
    /// Feature columns; default: every column but the target and `exclude`.
    #[serde(default)]
    pub features: Option<Vec<String>>,
    /// Columns never used as features.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Column kinds that override inference.
    #[serde(default)]
    pub column_kinds: BTreeMap<String, ColumnKind>,
}

/// The `[split]` table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitSection {
    /// Fraction of rows for training.
    pub train: f64,
    /// Fraction for validation (early stopping and model selection).
    pub valid: f64,
    /// Fraction for the final, untouched test.
    pub test: f64,
    /// Keep class proportions in every part.
    #[serde(default = "yes")]
    pub stratify: bool,
}

fn yes() -> bool {
    true
}

impl Default for SplitSection {
    fn default() -> Self {
        let f = SplitFractions::default();
        Self { train: f.train, valid: f.valid, test: f.test, stratify: true }
    }
}

impl SplitSection {
    /// The fractions as the data crate takes them.
    pub fn fractions(&self) -> SplitFractions {
        SplitFractions { train: self.train, valid: self.valid, test: self.test }
    }
}

/// The kinds of model a run can train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// A multi-layer perceptron.
    #[default]
    Mlp,
}

/// The `[model]` table; input and output sizes come from the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// Which model.
    #[serde(default)]
    pub kind: ModelKind,
    /// Units of each hidden layer.
    pub hidden: Vec<usize>,
    /// Activation between layers.
    #[serde(default)]
    pub activation: ActivationKind,
    /// Dropout after each hidden layer.
    #[serde(default)]
    pub dropout: f64,
    /// Dropout per hidden layer, overriding `dropout` (one value per hidden layer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layer_dropout: Vec<f64>,
}

/// The `[training]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingSection {
    /// Passes over the training data.
    pub epochs: usize,
    /// Rows per mini-batch.
    pub batch_size: usize,
    /// What to do with a last, smaller batch.
    #[serde(default)]
    pub last_batch: LastBatch,
    /// Optional early stopping on a validation metric.
    #[serde(default)]
    pub early_stopping: Option<EarlyStoppingConfig>,
    /// Optional gradient clipping: `{ by = "norm", max_norm }` or `{ by = "value", clip_value }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gradient_clipping: Option<GradientClippingConfig>,
    /// Mini-batches whose gradients are averaged into one update.
    #[serde(default = "one")]
    pub accumulation: usize,
    /// Write a checkpoint every this many epochs (0: only at the end).
    #[serde(default = "one")]
    pub checkpoint_every: usize,
    /// Record each layer's mean gradient norm per epoch.
    #[serde(default)]
    pub log_gradient_norms: bool,
}

fn one() -> usize {
    1
}

impl RunConfig {
    /// The training-loop settings of this config.
    pub fn train_config(&self) -> TrainConfig {
        let t = &self.training;
        TrainConfig {
            epochs: t.epochs,
            batch_size: t.batch_size,
            seed: self.seed,
            last_batch: t.last_batch,
            early_stopping: t.early_stopping.clone(),
            schedule: self.schedule.clone(),
            gradient_clipping: t.gradient_clipping,
            accumulation: t.accumulation,
            regularization: self.regularization.clone(),
            checkpoint_every: t.checkpoint_every,
            log_gradient_norms: t.log_gradient_norms,
        }
    }

    /// The model of this config for `input` features and `output` classes.
    pub fn model_config(&self, input: usize, output: usize) -> MlpConfig {
        MlpConfig {
            input,
            hidden: self.model.hidden.clone(),
            output,
            activation: self.model.activation,
            dropout: self.model.dropout,
            layer_dropout: self.model.layer_dropout.clone(),
        }
    }

    /// Reads a config file; the data path is resolved relative to the file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(crate::error::io(path))?;
        let mut config: RunConfig = toml::from_str(&text)
            .map_err(|e| Error::Config { path: path.to_path_buf(), message: e.to_string().trim().to_string() })?;
        if config.data.path.is_relative() {
            let base = path.parent().unwrap_or(Path::new("."));
            config.data.path = normalize(&base.join(&config.data.path));
        }
        Ok(config)
    }
}

/// Removes `.` and `name/..` pairs without touching the file system, so messages and
/// reports show `data/x.csv` rather than `examples/configs/../../data/x.csv`.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    if out.is_empty() { PathBuf::from(".") } else { out.iter().collect() }
}

#[cfg(test)]
mod tests {
    use super::normalize;
    use std::path::Path;

    #[test]
    fn normalizes_lexically() {
        assert_eq!(normalize(Path::new("examples/configs/../../data/p.csv")), Path::new("data/p.csv"));
        assert_eq!(normalize(Path::new("../x/./y")), Path::new("../x/y"));
        assert_eq!(normalize(Path::new("/a/../b")), Path::new("/b"));
    }
}
