//! The run config: one TOML file that describes a whole training job.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anneal_data::clean::CleanConfig;
use anneal_data::{ColumnKind, LastBatch, PreprocessConfig, SplitFractions, TargetTransformKind};
use anneal_models::ModelConfig;
use anneal_optim::{GradientClippingConfig, OptimizerConfig};
use anneal_regularize::augment::AugmentConfig;
use anneal_regularize::{EarlyStoppingConfig, PenaltyConfig};
use anneal_train::energy::EnergyModel;
use anneal_train::{Loss, ScheduleSettings, TrainConfig};
use serde::de::DeserializeOwned;
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
/// assert!(matches!(*config.model, anneal::models::ModelConfig::Mlp(ref m) if m.hidden == [16]));
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
    /// The model: `kind = "mlp"` (the default), `"linear"` or `"cnn"`, with that
    /// kind's settings; its input and output sizes come from the data. Optionally
    /// initialised from weights trained elsewhere (`init_from`).
    pub model: ModelSection,
    /// The optimiser.
    pub optimizer: OptimizerConfig,
    /// An optional learning-rate schedule, stepped per epoch or per iteration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleSettings>,
    /// L1/L2 penalties on the weights.
    #[serde(default)]
    pub regularization: PenaltyConfig,
    /// Augmentation of the training rows: `[augment] steps = [...]`, applied on
    /// the fly to training batches only (image, audio and text runs).
    #[serde(default, skip_serializing_if = "AugmentConfig::is_empty")]
    pub augment: AugmentConfig,
    /// The training loop.
    pub training: TrainingSection,
    /// Assumptions of the energy estimate in the report.
    #[serde(default)]
    pub energy: EnergyModel,
    /// Data-parallel replicas (threads of this process).
    #[serde(default, skip_serializing_if = "DistributedSection::is_single")]
    pub distributed: DistributedSection,
    /// Curriculum learning: each epoch trains on the easiest share of the
    /// training rows, a share that grows to all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curriculum: Option<CurriculumSection>,
    /// Transfer learning: the model starts from a trained model's weights (a
    /// run folder or a weights file) with a new head, its backbone frozen or
    /// fine-tuned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<TransferSection>,
    /// Knowledge distillation: the model also learns from a trained teacher
    /// run's softened outputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distill: Option<DistillSection>,
    /// Multi-task learning: each `[data] target` column is a task with a head
    /// of its own on the shared model; how their losses are weighted and their
    /// gradients combined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multitask: Option<MultitaskSection>,
}

/// The `[multitask]` table: every `[data] target` column is a task (a head of
/// its own on one shared model, side by side in the output layer); rows missing
/// one task's label still train the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultitaskSection {
    /// How the tasks' losses are weighted: `fixed` (each task's `weight`),
    /// `uncertainty` (learned, Kendall et al. 2018) or `dwa` (dynamic weight
    /// average, Liu et al. 2019).
    #[serde(default)]
    pub weighting: WeightingName,
    /// DWA's softmax temperature.
    #[serde(default = "two")]
    pub dwa_temperature: f64,
    /// How the tasks' gradients are combined: `sum` (the plain total) or
    /// `pcgrad` (conflicting components projected away, Yu et al. 2020).
    #[serde(default)]
    pub gradients: anneal_train::SurgeryMethod,
    /// With `gradients = "sum"`, still back-propagate the tasks apart to record
    /// how often their gradients conflict (`train_conflict_rate`); a pass per task.
    #[serde(default)]
    pub measure_conflicts: bool,
    /// Per-task settings by column: `kind`, `loss`, `weight`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tasks: BTreeMap<String, TaskSection>,
}

fn two() -> f64 {
    2.0
}

impl Default for MultitaskSection {
    fn default() -> Self {
        Self {
            weighting: WeightingName::default(),
            dwa_temperature: two(),
            gradients: anneal_train::SurgeryMethod::default(),
            measure_conflicts: false,
            tasks: BTreeMap::new(),
        }
    }
}

/// The loss weightings `[multitask] weighting` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightingName {
    /// Each task's `weight`.
    #[default]
    Fixed,
    /// Learned log-variances.
    Uncertainty,
    /// Dynamic weight average.
    Dwa,
}

/// One task's settings in `[multitask.tasks.<column>]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSection {
    /// `classification` or `regression` (inferred from the column as `[data]
    /// task` is when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Task>,
    /// Its loss (`cross_entropy` for a classification; `mse` by default, `mae`,
    /// `huber` or `poisson` for a regression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<LossName>,
    /// `huber`'s delta.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub huber_delta: Option<f64>,
    /// Its weight (`fixed`; a prior factor under the other weightings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
}

/// How a `[transfer]` run uses the source model's backbone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferMode {
    /// The backbone is frozen (no gradient is computed for it); only the new
    /// head trains.
    FeatureExtraction,
    /// The backbone trains too: all of it or its last stages, at its own rate,
    /// optionally unfrozen stage by stage.
    FineTune,
}

/// The `[transfer]` table: where the weights come from and what trains. The
/// head (the output layer) is always new, sized for this run's labels; every
/// other parameter comes from the source. From a run folder, this run also
/// reads its inputs as the source run did (its tokenizer, image normalisation
/// or preprocessing), so token ids and pixels mean what they meant to it.
///
/// ```
/// let t: anneal::config::TransferSection =
///     toml::from_str("from = \"runs/digits04\"\nmode = \"fine_tune\"\nunfreeze_last = 1\nbackbone_lr_scale = 0.1")?;
/// assert_eq!(t.mode, anneal::config::TransferMode::FineTune);
/// assert!(t.validate().is_ok());
/// let fe: anneal::config::TransferSection =
///     toml::from_str("from = \"w.safetensors\"\nmode = \"feature_extraction\"\nbackbone_lr_scale = 0.1")?;
/// assert!(fe.validate().is_err()); // a frozen backbone has no rate
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferSection {
    /// A run folder of `anneal train`, or a `.safetensors` / `.pt` / `.pth`
    /// weights file (PyTorch's layout), relative to the config file.
    pub from: PathBuf,
    /// `feature_extraction` or `fine_tune`.
    pub mode: TransferMode,
    /// Fine-tuning: how many stages of the backbone train, counted down from
    /// the head (the others stay frozen); all of them when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unfreeze_last: Option<usize>,
    /// Fine-tuning: the backbone's learning rate as a factor of the
    /// optimiser's (the head's); 1 when left out.
    #[serde(default = "one_f64", skip_serializing_if = "is_one")]
    pub backbone_lr_scale: f64,
    /// Fine-tuning: gradual unfreezing (ULMFiT) — the head trains alone for
    /// this many epochs, then each further stage down joins after as many more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unfreeze_every: Option<usize>,
    /// A weights file's keys: `[pattern, replacement]` regular expressions, as
    /// `[model] init_remap`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remap: Vec<[String; 2]>,
}

fn one_f64() -> f64 {
    1.0
}

fn is_one(x: &f64) -> bool {
    *x == 1.0
}

impl TransferSection {
    /// Checks the settings against the mode.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Setting(format!("[transfer] {m}")));
        if self.mode == TransferMode::FeatureExtraction {
            let tuning: Vec<&str> = [
                self.unfreeze_last.map(|_| "unfreeze_last"),
                (self.backbone_lr_scale != 1.0).then_some("backbone_lr_scale"),
                self.unfreeze_every.map(|_| "unfreeze_every"),
            ]
            .into_iter()
            .flatten()
            .collect();
            if !tuning.is_empty() {
                return bad(format!(
                    "{} {} of mode = \"fine_tune\": feature extraction keeps the whole backbone frozen",
                    tuning.join(", "),
                    if tuning.len() == 1 { "is a setting" } else { "are settings" }
                ));
            }
        }
        if self.unfreeze_last == Some(0) {
            return bad(
                "unfreeze_last = 0 trains no stage of the backbone: that is mode = \"feature_extraction\"".into()
            );
        }
        if self.unfreeze_every == Some(0) {
            return bad("unfreeze_every must be at least 1 epoch".into());
        }
        if !(self.backbone_lr_scale.is_finite() && self.backbone_lr_scale > 0.0) {
            return bad(format!(
                "backbone_lr_scale must be a positive number, not {} (mode = \"feature_extraction\" freezes it)",
                self.backbone_lr_scale
            ));
        }
        if self.from.is_dir() && !self.remap.is_empty() {
            return bad("remap renames a weights file's keys; a run folder's match by construction".into());
        }
        Ok(())
    }

    /// The optimiser parameter groups of this transfer for `model`, whose layers
    /// (in [`ParamLayout`](anneal_train::ParamLayout) order) are `layers`: one
    /// group per backbone stage, frozen, or scaled and (gradually) thawed.
    pub fn param_groups(&self, model: &ModelConfig, layers: &[String]) -> Result<Vec<anneal_train::ParamGroupConfig>> {
        let n = model.backbone_stages();
        if n == 0 {
            return Err(Error::Setting(format!(
                "[transfer] a {} model is all head: it has no backbone to carry over",
                model.kind()
            )));
        }
        let k = self.unfreeze_last.unwrap_or(n);
        if k > n {
            return Err(Error::Setting(format!(
                "[transfer] unfreeze_last = {k}, but the {} model has {n} backbone stages",
                model.kind()
            )));
        }
        let mut stages: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, path) in layers.iter().enumerate() {
            if let Some(s) = model.stage_of(path)? {
                stages[s].push(i);
            }
        }
        Ok(stages
            .into_iter()
            .enumerate()
            .map(|(s, layers)| {
                // 0 is the stage next to the head.
                let from_top = n - 1 - s;
                let frozen = self.mode == TransferMode::FeatureExtraction || from_top >= k;
                anneal_train::ParamGroupConfig {
                    layers,
                    frozen,
                    lr_scale: if frozen { 1.0 } else { self.backbone_lr_scale },
                    frozen_epochs: match (frozen, self.unfreeze_every) {
                        (false, Some(every)) => (from_top + 1) * every,
                        _ => 0,
                    },
                }
            })
            .filter(|g| !g.layers.is_empty())
            .collect())
    }

    /// The transfer in words, for reports.
    pub fn describe(&self) -> String {
        match self.mode {
            TransferMode::FeatureExtraction => "feature extraction (backbone frozen, new head)".into(),
            TransferMode::FineTune => {
                let mut s = match self.unfreeze_last {
                    Some(k) => format!("fine-tuning the last {k} backbone stage(s) and a new head"),
                    None => "fine-tuning every layer, with a new head".into(),
                };
                if self.backbone_lr_scale != 1.0 {
                    s += &format!(", backbone at {}× the head's learning rate", self.backbone_lr_scale);
                }
                if let Some(e) = self.unfreeze_every {
                    s += &format!(", unfrozen one stage every {e} epoch(s) from the top");
                }
                s
            }
        }
    }
}

/// The `[distill]` table: knowledge distillation from a teacher run of the
/// same classes. The student minimises `alpha·T²·KL(teacher_T ‖ student_T) +
/// (1 − alpha)·cross-entropy`, where `_T` is a softmax at temperature `T`; the
/// teacher's outputs on the training rows are computed once, before training
/// (the teacher is frozen, and reads the rows with its own preprocessing, so it
/// may be of another kind than the student).
///
/// ```
/// let d: anneal::config::DistillSection = toml::from_str("teacher = \"runs/big\"")?;
/// assert_eq!((d.temperature, d.alpha), (4.0, 0.9));
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistillSection {
    /// The teacher's run folder (relative to the config file).
    pub teacher: PathBuf,
    /// The softmax temperature `T` of both distributions (4; Hinton et al. used 1 to 20).
    #[serde(default = "default_temperature")]
    pub temperature: f64,
    /// The soft targets' weight (0.9); the labels get `1 − alpha`.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
}

fn default_temperature() -> f64 {
    4.0
}

fn default_alpha() -> f64 {
    0.9
}

/// The `[curriculum]` table: training rows ranked by a difficulty, and the
/// admitted share growing by a pacing function (see
/// [`anneal_data::curriculum`]).
///
/// ```
/// let c: anneal::config::CurriculumSection =
///     toml::from_str("difficulty = { run = \"runs/mnist_cnn-1\" }\npacing = \"root\"\nstart = 0.2\nfull_at = 5")?;
/// assert_eq!(c.pacing().full_at, 5);
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurriculumSection {
    /// Where each training row's difficulty comes from.
    pub difficulty: Difficulty,
    /// `easy_first` (the curriculum), `hard_first` (anti-curriculum) or
    /// `random` (the same pacing over a random ranking: the control).
    #[serde(default)]
    pub order: anneal_data::curriculum::Order,
    /// `fixed` (baby steps), `linear`, `root` or `exponential`.
    #[serde(default)]
    pub pacing: anneal_data::curriculum::Pacing,
    /// The share of the training rows admitted in the first epoch.
    #[serde(default = "curriculum_start")]
    pub start: f64,
    /// The epoch from which every training row is admitted.
    pub full_at: usize,
    /// The jumps of `fixed` pacing.
    #[serde(default = "curriculum_stages")]
    pub stages: usize,
    /// `self_paced` pacing: the loss below which a row is admitted in epoch 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// `self_paced` pacing: the threshold's factor per epoch (Kumar et al.'s 1.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub growth: Option<f64>,
    /// Keep the classes' proportions in every admitted share (rank within each
    /// class, then interleave); default: yes for a classification. A
    /// regression has no classes, and `true` is refused there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance_classes: Option<bool>,
}

fn curriculum_start() -> f64 {
    0.2
}
fn curriculum_stages() -> usize {
    4
}

impl CurriculumSection {
    /// The pacing settings as the data crate takes them.
    pub fn pacing(&self) -> anneal_data::curriculum::PacingConfig {
        anneal_data::curriculum::PacingConfig {
            pacing: self.pacing,
            start: self.start,
            full_at: self.full_at,
            stages: self.stages,
        }
    }

    /// The threshold of `self_paced` pacing (`None` when no threshold or growth is set).
    pub fn self_paced(&self) -> Option<anneal_data::curriculum::SelfPaced> {
        (self.threshold.is_some() || self.growth.is_some()).then(|| anneal_data::curriculum::SelfPaced {
            threshold: self.threshold.unwrap_or(f64::NAN),
            growth: self.growth.unwrap_or(1.3),
        })
    }
}

/// Where a curriculum's difficulties come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Difficulty {
    /// A numeric column of the data (`{ column = "noise" }`), low = easy.
    Column(String),
    /// The loss of a finished run's model on each training row (`{ run =
    /// "runs/x" }`): cross-entropy for a classification, squared error for a
    /// regression; the run must predict the same classes or targets.
    Run(PathBuf),
    /// The model's own current loss on each training row, computed again
    /// before every epoch (`difficulty = "model"`): self-paced learning.
    Model,
}

/// The `[distributed]` table: data-parallel training on `replicas` threads of
/// this process. `[training] batch_size` is each replica's batch, so a global
/// batch is `replicas × batch_size` rows; the run equals one model trained on
/// those global batches (`anneal train --replicas` overrides `replicas`).
///
/// ```
/// let d: anneal::config::DistributedSection = toml::from_str("replicas = 2\nlr_scaling = \"linear\"\nwarmup_epochs = 2")?;
/// assert_eq!((d.replicas, d.threads_per_replica), (2, 1));
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistributedSection {
    /// Number of replicas (1: no data parallelism).
    #[serde(default = "one")]
    pub replicas: usize,
    /// Compute threads of each replica (the backend's intra-op parallelism).
    #[serde(default = "one")]
    pub threads_per_replica: usize,
    /// Gradients are all-reduced in buckets of at most this many megabytes.
    #[serde(default = "default_bucket_mb")]
    pub bucket_mb: f64,
    /// The longest a replica waits for the others in one collective operation
    /// before the run fails (a hung or dead replica).
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: f64,
    /// `"linear"`: multiply the learning rate by `replicas` (Goyal et al. 2017),
    /// the rule for a global batch `replicas` times larger; `"none"` (default) keeps it.
    #[serde(default)]
    pub lr_scaling: LrScaling,
    /// With linear scaling, warm the learning rate up from the unscaled rate to
    /// the scaled one over this many epochs (Goyal et al. use 5; 0: none).
    #[serde(default)]
    pub warmup_epochs: usize,
    /// Pipeline model parallelism (GPipe): `{ stages = 2, micro_batches = 4 }`
    /// cuts the model into `stages` stages of consecutive layers, each on its own
    /// thread (or MPI rank, `mpirun -np <stages>`), and runs every batch as
    /// `micro_batches` micro-batches through them; `split = "time"` balances
    /// measured times instead of parameters, `split = { at = [k] }` cuts at
    /// given units. With `replicas > 1` (threads only): a grid of that many
    /// pipelines, data-parallel across them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<anneal_distributed::PipelineConfig>,
}

/// How the learning rate follows the global batch ([`DistributedSection::lr_scaling`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrScaling {
    /// The configured rate, whatever the number of replicas.
    #[default]
    None,
    /// The configured rate × the number of replicas.
    Linear,
}

impl Default for DistributedSection {
    fn default() -> Self {
        Self {
            replicas: 1,
            threads_per_replica: 1,
            bucket_mb: default_bucket_mb(),
            timeout_seconds: default_timeout_seconds(),
            lr_scaling: LrScaling::None,
            warmup_epochs: 0,
            pipeline: None,
        }
    }
}

impl DistributedSection {
    /// Whether this is the default: one replica, nothing else set.
    pub fn is_single(&self) -> bool {
        *self == Self::default()
    }

    /// Checks the settings; the error names the key.
    pub fn validate(&self) -> Result<(), crate::Error> {
        let bad = |m: String| Err(crate::Error::Setting(format!("[distributed] {m}")));
        if self.replicas == 0 {
            return bad("replicas = 0: at least 1".into());
        }
        if self.threads_per_replica == 0 {
            return bad("threads_per_replica = 0: at least 1".into());
        }
        if !(self.bucket_mb.is_finite() && self.bucket_mb > 0.0) {
            return bad(format!("bucket_mb = {}: a positive number of megabytes", self.bucket_mb));
        }
        if !(self.timeout_seconds.is_finite() && self.timeout_seconds > 0.0) {
            return bad(format!("timeout_seconds = {}: a positive number", self.timeout_seconds));
        }
        if self.warmup_epochs > 0 && self.lr_scaling == LrScaling::None {
            return bad("warmup_epochs warms up to a scaled learning rate: set lr_scaling = \"linear\"".into());
        }
        if let Some(p) = &self.pipeline {
            p.validate().map_err(|e| crate::Error::Setting(format!("[distributed] {e}")))?;
        }
        Ok(())
    }

    /// The all-reduce bucket size in `f32` values.
    pub fn bucket_values(&self) -> usize {
        ((self.bucket_mb * 1024.0 * 1024.0 / 4.0) as usize).max(1)
    }
}

fn default_bucket_mb() -> f64 {
    25.0
}

fn default_timeout_seconds() -> f64 {
    600.0
}

/// The `[model]` table: a [`ModelConfig`] (reachable through `Deref`) and,
/// optionally, where its initial weights come from.
///
/// ```
/// let section: anneal::config::ModelSection = toml::from_str(r#"
///     kind = "mlp"
///     hidden = [8]
///     init_from = "pretrained.safetensors"
///     init_remap = [["^fc1\\.", "layers.0."]]
/// "#)?;
/// assert_eq!(section.kind(), "mlp");
/// assert_eq!(section.init().unwrap().remap[0][1], "layers.0.");
/// // Misspelt keys are errors, of the model's and of the init's.
/// assert!(toml::from_str::<anneal::config::ModelSection>("kind = \"mlp\"\nhidden = [8]\ninit_form = \"x\"").is_err());
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSection {
    /// The model's kind and settings.
    #[serde(flatten)]
    pub config: ModelConfig,
    /// A `.safetensors` or PyTorch `.pt` / `.pth` file to initialise the model
    /// from (relative to the config file), instead of the seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<PathBuf>,
    /// `[pattern, replacement]` regular expressions applied in order to the
    /// file's keys before they are matched to the model's parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init_remap: Vec<[String; 2]>,
    /// Initialise only the parameters the file has (a new head keeps its seeded
    /// weights); by default every parameter must come from the file.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub init_partial: bool,
}

impl std::ops::Deref for ModelSection {
    type Target = ModelConfig;

    fn deref(&self) -> &ModelConfig {
        &self.config
    }
}

impl From<ModelConfig> for ModelSection {
    fn from(config: ModelConfig) -> Self {
        Self { config, init_from: None, init_remap: Vec::new(), init_partial: false }
    }
}

impl ModelSection {
    /// Where the initial weights come from, when not from the seed.
    pub fn init(&self) -> Option<anneal_models::InitFrom> {
        self.init_from.as_ref().map(|path| anneal_models::InitFrom {
            path: path.clone(),
            remap: self.init_remap.clone(),
            partial: self.init_partial,
        })
    }
}

impl<'de> Deserialize<'de> for ModelSection {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        // The init keys are taken out; the rest is the model's own table, whose
        // unknown keys stay errors (serde's flatten would ignore them).
        let mut table = toml::Table::deserialize(deserializer)?;
        let mut take = |key: &str| table.remove(key);
        let init_from = take("init_from").map(|v| v.try_into::<PathBuf>()).transpose().map_err(D::Error::custom)?;
        let init_remap =
            take("init_remap").map(|v| v.try_into::<Vec<[String; 2]>>()).transpose().map_err(D::Error::custom)?;
        let init_partial = take("init_partial").map(|v| v.try_into::<bool>()).transpose().map_err(D::Error::custom)?;
        let config = toml::Value::Table(table).try_into::<ModelConfig>().map_err(D::Error::custom)?;
        if init_from.is_none() && (init_remap.is_some() || init_partial.is_some()) {
            return Err(D::Error::custom("init_remap and init_partial are settings of init_from, which is not set"));
        }
        Ok(Self {
            config,
            init_from,
            init_remap: init_remap.unwrap_or_default(),
            init_partial: init_partial.unwrap_or(false),
        })
    }
}

/// The `[data]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// CSV or Parquet file (plain or gzip), relative to the config file.
    pub path: PathBuf,
    /// Column to predict, or several numeric columns (`["a", "b"]`) for
    /// multi-output regression.
    pub target: TargetColumns,
    /// `classification` or `regression`; inferred from the target when absent
    /// (see [`Task`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<Task>,
    /// How regression targets are transformed for training (fitted on the
    /// training rows, inverted for every reported number and prediction):
    /// `standard` (the default), `log1p` or `none`; the Poisson loss needs `none`,
    /// its default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_transform: Option<TargetTransformKind>,
    /// Feature columns; default: every column but the target and `exclude`.
    #[serde(default)]
    pub features: Option<Vec<String>>,
    /// Columns never used as features.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Column kinds that override inference.
    #[serde(default)]
    pub column_kinds: BTreeMap<String, ColumnKind>,
    /// The field separator of a CSV file (default `,`; `";"`, `"\t"`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<char>,
    /// The most classes a classification target may have (default 1000,
    /// [`DEFAULT_MAX_CLASSES`](crate::pipeline::DEFAULT_MAX_CLASSES)): more is
    /// an error that points at `task = "regression"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_classes: Option<usize>,
    /// The classes of a classification target in the order they are coded and
    /// reported (`["low", "mid", "high"]`); default: sorted (numbers by value).
    /// Every label must be listed, and every listed class must occur.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<String>>,
    /// What one row is: `table` (the default: columns are features), `image`
    /// (`path` is a folder of class folders of PNG / JPEG files, or a CSV whose
    /// feature columns are the pixels of one image per row, shaped by
    /// `[data.image]`) or `audio` (`path` is a folder of class folders of WAV
    /// files, each turned into a log-mel spectrogram by `[data.audio]`) or
    /// `text` (one text column, tokenized by `[data.text]`).
    #[serde(default, skip_serializing_if = "DataKind::is_table")]
    pub kind: DataKind,
    /// The images' shape, scale and normalisation (`[data.image]`), for `kind = "image"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<anneal_data::image::ImageOptions>,
    /// How clips become spectrograms (`[data.audio]`), for `kind = "audio"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<anneal_data::audio::AudioOptions>,
    /// How texts become token ids (`[data.text]`), for `kind = "text"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<anneal_data::text::TextOptions>,
    /// For a folder of class folders (images or audio): a column computed from
    /// each file's name, such as the speaker of `s042_7.wav`, to split by with
    /// `[split] group` (`file_groups = { column = "speaker", pattern = "^(s\\d+)_" }`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_groups: Option<FileGroups>,
}

/// `[data] file_groups`: a column of groups read from file names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileGroups {
    /// The new column's name.
    pub column: String,
    /// A regular expression matched against each file's name (not its folder):
    /// the group is its first capture group, or the whole match when it has
    /// none. A file it does not match is an error naming the file.
    pub pattern: String,
}

/// What one row of a run's data is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataKind {
    /// A row of a table: each feature column is preprocessed by `[preprocess]`.
    #[default]
    Table,
    /// An image: pixels, normalised per channel, read by the model as `[channels, height, width]`.
    Image,
    /// An audio clip: its log-mel spectrogram, read by the model as a
    /// one-channel image of `[n_mels, frames]`.
    Audio,
    /// A text: one text column, tokenized by `[data.text]` (fitted on the
    /// training rows) into `max_len` token ids, read by a transformer.
    Text,
}

impl DataKind {
    fn is_table(&self) -> bool {
        *self == DataKind::Table
    }

    /// Whether rows are images to the model: pictures, or spectrograms of clips.
    pub fn is_image_like(&self) -> bool {
        matches!(self, DataKind::Image | DataKind::Audio)
    }
}

/// The `[split]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SplitSection {
    /// Fraction of rows for training.
    pub train: f64,
    /// Fraction for validation (early stopping and model selection).
    pub valid: f64,
    /// Fraction for the final, untouched test.
    pub test: f64,
    /// Keep class proportions in every part: the default for classification;
    /// refused for regression, whose default is a plain seeded split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stratify: Option<bool>,
    /// The seed of the split alone (default: the run's `seed`), so that runs with
    /// different seeds can share one split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// A column whose values are groups (a speaker, a patient): every row of a
    /// group lands in the same part, so the test holds only unseen groups
    /// (scikit-learn's `GroupShuffleSplit`: the fractions are of groups). Not
    /// stratified; cross-validation cuts group k-folds of the same column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// A column naming each row's part, `train`, `valid` or `test`: the split
    /// the data ships with (a benchmark's own test rows; scikit-learn's
    /// `PredefinedSplit`). The fractions and the split's seed are then not
    /// read; cross-validation cuts its folds from the `train` and `valid` rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
}

impl Default for SplitSection {
    fn default() -> Self {
        let f = SplitFractions::default();
        Self { train: f.train, valid: f.valid, test: f.test, stratify: None, seed: None, group: None, column: None }
    }
}

impl SplitSection {
    /// The fractions as the data crate takes them.
    pub fn fractions(&self) -> SplitFractions {
        SplitFractions { train: self.train, valid: self.valid, test: self.test }
    }
}

/// The column (or columns) a run predicts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TargetColumns {
    /// One column.
    One(String),
    /// Several numeric columns (multi-output regression).
    Many(Vec<String>),
}

impl TargetColumns {
    /// The column names.
    pub fn names(&self) -> Vec<String> {
        match self {
            TargetColumns::One(c) => vec![c.clone()],
            TargetColumns::Many(c) => c.clone(),
        }
    }

    /// The names joined for messages and reports (`price` or `a, b`).
    pub fn joined(&self) -> String {
        self.names().join(", ")
    }
}

impl std::fmt::Display for TargetColumns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.joined())
    }
}

/// What a run predicts.
///
/// When `[data] task` is absent it is inferred: several targets, or one numeric
/// target with more than 20 distinct values or with non-integer values, make a
/// regression; a text target, or a numeric one with at most 20 distinct integer
/// values, a classification. A run says which it inferred from a numeric target
/// and how to override it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Predict a class.
    Classification,
    /// Predict one or more numbers.
    Regression,
    /// Several tasks at once (`[multitask]`); not a value of `[data] task`.
    MultiTask,
}

impl std::fmt::Display for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Task::Classification => "classification",
            Task::Regression => "regression",
            Task::MultiTask => "multi-task",
        })
    }
}

/// The losses `[training] loss` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossName {
    /// Cross-entropy (classification; the only classification loss).
    CrossEntropy,
    /// Mean squared error (the regression default).
    Mse,
    /// Mean absolute error.
    Mae,
    /// Huber, with `huber_delta` (default 1.0).
    Huber,
    /// Poisson negative log-likelihood, for count targets.
    Poisson,
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
    /// Optimiser parameter groups by layer: `{ layers = [0], frozen = true }`,
    /// `{ layers = [2], lr_scale = 10.0 }`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub param_groups: Vec<anneal_train::ParamGroupConfig>,
    /// The loss: `cross_entropy` for classification; `mse` (default), `mae`,
    /// `huber` or `poisson` for regression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<LossName>,
    /// Where the Huber loss turns from squared to linear, in the units the model
    /// is trained on (standard deviations with the default target transform).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub huber_delta: Option<f64>,
    /// Class weights of the cross-entropy loss: `"balanced"` (scikit-learn's
    /// `n / (classes · count)` over the training rows) or a table by class name,
    /// `{ rare = 5.0 }` (classes not named weigh 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_weight: Option<ClassWeight>,
}

/// `[training] class_weight`: `"balanced"` or `{ class = weight, ... }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, expecting = "class_weight is \"balanced\" or a table of class names to weights, { rare = 5.0 }")]
pub enum ClassWeight {
    /// Inversely proportional to the class counts of the training rows.
    Balanced(BalancedName),
    /// A weight per named class; the others weigh 1.
    Table(BTreeMap<String, f64>),
}

/// The one name of [`ClassWeight::Balanced`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BalancedName {
    /// `"balanced"`.
    Balanced,
}

fn one() -> usize {
    1
}

impl RunConfig {
    /// The one-model config that this config's data-parallel replicas equal:
    /// the batch `replicas × batch_size`, and with `lr_scaling = "linear"` the
    /// learning rate × `replicas`, warmed up over `warmup_epochs` from the
    /// unscaled rate (a warm-up before any `[schedule]` of epochs). With one
    /// replica it is this config.
    ///
    /// ```
    /// let mut config: anneal::RunConfig = toml::from_str(r#"
    ///     [data]
    ///     path = "d.csv"
    ///     target = "y"
    ///     [model]
    ///     hidden = [8]
    ///     [optimizer]
    ///     name = "sgd"
    ///     learning_rate = 0.1
    ///     [training]
    ///     epochs = 10
    ///     batch_size = 32
    ///     [distributed]
    ///     replicas = 4
    ///     lr_scaling = "linear"
    ///     warmup_epochs = 2
    /// "#)?;
    /// let global = config.global()?;
    /// assert_eq!(global.training.batch_size, 128);
    /// assert!((global.optimizer.learning_rate() - 0.4).abs() < 1e-12);
    /// assert!(global.schedule.is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn global(&self) -> Result<RunConfig, crate::Error> {
        let d = &self.distributed;
        d.validate()?;
        let mut global = self.clone();
        let r = d.replicas;
        if r == 1 {
            return Ok(global);
        }
        global.training.batch_size = self.training.batch_size.checked_mul(r).ok_or_else(|| {
            crate::Error::Setting(format!(
                "[training] batch_size {} × {r} replicas is too large",
                self.training.batch_size
            ))
        })?;
        if d.lr_scaling == LrScaling::Linear {
            if self.optimizer.adapts_learning_rate() {
                return Err(crate::Error::Setting(format!(
                    "[distributed] lr_scaling: {} learns its own learning rate; use lr_scaling = \"none\"",
                    self.optimizer.name()
                )));
            }
            global.optimizer = self.optimizer.clone().with_learning_rate(self.optimizer.learning_rate() * r as f64);
            if d.warmup_epochs > 0 {
                use anneal_optim::{ScheduleConfig, ScheduleUnit};
                let then = match &self.schedule {
                    None => ScheduleConfig::Constant {},
                    Some(s) if s.unit == ScheduleUnit::Epoch => s.schedule.clone(),
                    Some(_) => {
                        return Err(crate::Error::Setting(
                            "[distributed] warmup_epochs counts epochs, but [schedule] steps every iteration: \
                             put the warm-up into the schedule (name = \"warmup\") instead"
                                .into(),
                        ));
                    }
                };
                global.schedule = Some(ScheduleSettings {
                    unit: ScheduleUnit::Epoch,
                    schedule: ScheduleConfig::Warmup {
                        steps: d.warmup_epochs,
                        start_factor: 1.0 / r as f64,
                        then: Box::new(then),
                    },
                });
            }
        }
        Ok(global)
    }

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
            param_groups: t.param_groups.clone(),
            // The heads (task-specific layers) are named once the model is
            // built (`pipeline::train_config`).
            gradient_surgery: self
                .multitask
                .as_ref()
                .filter(|m| m.gradients == anneal_train::SurgeryMethod::Pcgrad || m.measure_conflicts)
                .map(|m| anneal_train::GradientSurgeryConfig { method: m.gradients, task_specific: Vec::new() }),
        }
    }

    /// How this config's data files are read: delimiter, column kinds and the
    /// policy for infinite numbers.
    pub fn csv_options(&self) -> anneal_data::CsvOptions {
        anneal_data::CsvOptions {
            delimiter: self.data.delimiter.unwrap_or(','),
            column_kinds: self.data.column_kinds.clone(),
            non_finite: self.clean.non_finite,
            ..anneal_data::CsvOptions::default()
        }
    }

    /// The model of this config for `input` features and `output` outputs,
    /// reading what `features` makes: `[channels, height, width]` images, token
    /// ids of a tokenizer's vocabulary, or (also without `features`) a table's columns.
    pub fn model_config(
        &self,
        input: usize,
        output: usize,
        features: Option<&crate::pipeline::FeatureState>,
    ) -> ModelConfig {
        let model = self.model.with_shape(input, output);
        match features {
            Some(crate::pipeline::FeatureState::Image(images)) => model.with_image(images.shape()),
            Some(crate::pipeline::FeatureState::Text(text)) => model.with_text(text.vocab_len(), text.max_len()),
            Some(crate::pipeline::FeatureState::Preprocessor(_)) | None => model,
        }
    }

    /// The text settings of a text run (`[data.text]`, or the defaults).
    pub fn text_options(&self) -> anneal_data::text::TextOptions {
        self.data.text.clone().unwrap_or_default()
    }

    /// The image settings of an image run (`[data.image]`, or the defaults); of
    /// an audio run, its spectrograms' shape, read as they are and standardised.
    pub fn image_options(&self) -> anneal_data::image::ImageOptions {
        match self.data.kind {
            DataKind::Audio => self.audio_options().image_options(),
            _ => self.data.image.clone().unwrap_or_default(),
        }
    }

    /// The audio settings of an audio run (`[data.audio]`, or the defaults).
    pub fn audio_options(&self) -> anneal_data::audio::AudioOptions {
        self.data.audio.clone().unwrap_or_default()
    }

    /// The loss of this config for `task`: the `[training] loss` (checked against
    /// the task), else cross-entropy for classification and MSE for regression.
    pub fn loss(&self, task: Task) -> Result<Loss> {
        loss_for(task, self.training.loss, self.training.huber_delta, "")
    }

    /// The multi-task objective of a `[multitask]` run whose tasks are the
    /// `[data] target` columns, of the given kinds and head widths.
    pub fn multitask_objective(&self, tasks: &[(String, Task, usize)]) -> Result<anneal_train::MultiTask> {
        let Some(m) = &self.multitask else {
            return Err(Error::Setting("the run has no [multitask] table".into()));
        };
        let specs = tasks
            .iter()
            .map(|(column, kind, outputs)| {
                let section = m.tasks.get(column).cloned().unwrap_or_default();
                let at = format!(" ([multitask.tasks.{column}])");
                let loss = loss_for(*kind, section.loss, section.huber_delta, &at)?;
                if loss == Loss::Poisson && self.data.target_transform != Some(TargetTransformKind::None) {
                    return Err(Error::Setting(format!(
                        "loss = \"poisson\"{at} models counts themselves: set [data] target_transform = \"none\" \
                         (a multi-task run's numeric targets share one transform)"
                    )));
                }
                Ok(anneal_train::TaskSpec {
                    name: column.clone(),
                    loss,
                    outputs: *outputs,
                    weight: section.weight.unwrap_or(1.0),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let weighting = match m.weighting {
            WeightingName::Fixed => anneal_train::TaskWeighting::Fixed,
            WeightingName::Uncertainty => anneal_train::TaskWeighting::Uncertainty,
            WeightingName::Dwa => anneal_train::TaskWeighting::Dwa { temperature: m.dwa_temperature },
        };
        Ok(anneal_train::MultiTask::new(specs, weighting)?)
    }

    /// The target transform of a regression run: the configured one, else `none`
    /// for the Poisson loss (it models the counts themselves) and `standard`
    /// otherwise. The Poisson loss refuses any other.
    pub fn target_transform(&self) -> Result<TargetTransformKind> {
        let poisson = self.training.loss == Some(LossName::Poisson);
        match (self.data.target_transform, poisson) {
            (None, true) => Ok(TargetTransformKind::None),
            (None, false) => Ok(TargetTransformKind::Standard),
            (Some(TargetTransformKind::None), _) | (Some(_), false) => {
                Ok(self.data.target_transform.unwrap_or_default())
            }
            (Some(other), true) => Err(Error::Setting(format!(
                "loss = \"poisson\" models the counts themselves: target_transform = \"{}\" cannot go with it \
                 (leave it out, or set it to \"none\")",
                config_key(&other)
            ))),
        }
    }

    /// Reads a config file; the data path is resolved relative to the file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let mut config: RunConfig = read_toml(path)?;
        let (input, output) = match &*config.model {
            ModelConfig::Linear(m) => (m.input, m.output),
            ModelConfig::Mlp(m) => (m.input, m.output),
            ModelConfig::Cnn(m) => (m.input_len(), m.output),
            ModelConfig::Transformer(m) => (m.vocab + m.max_len, m.output),
        };
        if input != 0 || output != 0 {
            return Err(Error::Config {
                path: path.to_path_buf(),
                message: "[model] input and output sizes (and a transformer's vocab and max_len) come from the data; \
                          leave them out"
                    .into(),
            });
        }
        let base = path.parent().unwrap_or(Path::new("."));
        if config.data.path.is_relative() {
            config.data.path = normalize(&base.join(&config.data.path));
        }
        if let Some(init) = &config.model.init_from
            && init.is_relative()
        {
            config.model.init_from = Some(normalize(&base.join(init)));
        }
        // Noise folders of `background_noise` steps, relative to the file too.
        fn noise_folders(steps: &mut [anneal_regularize::augment::Step], base: &Path) {
            use anneal_regularize::augment::Step;
            for step in steps {
                match step {
                    Step::OneOf { of, .. } | Step::SomeOf { of, .. } => noise_folders(of, base),
                    Step::BackgroundNoise { folder, .. } if Path::new(folder.as_str()).is_relative() => {
                        *folder = normalize(&base.join(&*folder)).to_string_lossy().into_owned();
                    }
                    _ => {}
                }
            }
        }
        noise_folders(&mut config.augment.steps, base);
        if let Some(CurriculumSection { difficulty: Difficulty::Run(run), .. }) = &mut config.curriculum
            && run.is_relative()
        {
            *run = normalize(&base.join(&*run));
        }
        if let Some(t) = &mut config.transfer
            && t.from.is_relative()
        {
            t.from = normalize(&base.join(&t.from));
        }
        if let Some(d) = &mut config.distill
            && d.teacher.is_relative()
        {
            d.teacher = normalize(&base.join(&d.teacher));
        }
        Ok(config)
    }
}

/// The loss `name` (with `huber_delta`) for `task`, checked against it;
/// cross-entropy and MSE by default. `at` says where the setting is, for messages.
fn loss_for(task: Task, name: Option<LossName>, delta: Option<f64>, at: &str) -> Result<Loss> {
    if delta.is_some() && name != Some(LossName::Huber) {
        return Err(Error::Setting(format!("`huber_delta` is a setting of loss = \"huber\"{at}")));
    }
    let loss = match (task, name) {
        (Task::Classification, None | Some(LossName::CrossEntropy)) => Loss::CrossEntropy,
        (Task::Classification, Some(other)) => {
            return Err(Error::Setting(format!(
                "loss = \"{}\"{at} is a regression loss, but the task is classification (use cross_entropy, \
                 or set the task to regression)",
                config_key(&other)
            )));
        }
        (Task::Regression, Some(LossName::CrossEntropy)) => {
            return Err(Error::Setting(format!(
                "loss = \"cross_entropy\"{at} needs classes, but the task is regression (use mse, mae, huber or \
                 poisson, or set the task to classification)"
            )));
        }
        (Task::Regression, None | Some(LossName::Mse)) => Loss::Mse,
        (Task::Regression, Some(LossName::Mae)) => Loss::Mae,
        (Task::Regression, Some(LossName::Huber)) => Loss::Huber { delta: delta.unwrap_or(1.0) },
        (Task::Regression, Some(LossName::Poisson)) => Loss::Poisson,
        (Task::MultiTask, _) => {
            return Err(Error::Setting(
                "a multi-task run has a loss per task: set them in [multitask.tasks.<column>] loss, not [training] \
                 loss"
                    .into(),
            ));
        }
    };
    loss.validate()?;
    Ok(loss)
}

/// How a unit-like value is spelled in TOML (`log1p`, `mae`).
pub(crate) fn config_key<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".into(),
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

/// Reads a TOML file into `T` (unknown keys are the type's business), naming
/// the file, and the line and column, in errors.
pub(crate) fn read_toml<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(crate::error::io(path))?;
    toml::from_str(&text)
        .map_err(|e| Error::Config { path: path.to_path_buf(), message: e.to_string().trim().to_string() })
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
