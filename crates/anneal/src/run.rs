//! The whole job: `anneal train` (data → split → preprocessing fitted on train →
//! model → training → test metrics → run folder) and `anneal predict`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anneal_core::integrity::{FileDigest, MANIFEST, Manifest};
use anneal_core::lock::{FolderLock, LOCK_FILE, is_empty_folder};
use anneal_core::markdown::{code, escape};
use anneal_core::status::{RunState, RunStatus, STATUS_FILE};
use anneal_data::clean::CleanReport;
use anneal_data::{
    Augmented, ClassificationData, ColumnKind, CsvOptions, LabelEncoder, RegressionData, Split, Table, TabularData,
};
use anneal_evaluate::ConfusionMatrix;
use anneal_evaluate::plot::Figure;
use anneal_models::{AnyModel, ModelConfig};
use anneal_train::energy::{EnergyMeter, EnergyReport};
use anneal_train::history::JSONL;
use anneal_train::{
    Accounting, Backend, BuiltinMetric, EpochRecord, Evaluation, HistoryWriter, Loss, LrFindConfig, LrFindResult,
    Progress, Trainer, evaluate,
};
use burn::module::Module;
use serde::{Deserialize, Serialize};

use crate::config::{RunConfig, Task};
use crate::error::{Error, Result, io};
use crate::pipeline::{FeatureState, Fitted, TargetData};
pub use crate::pipeline::{Prepared, prepare};

/// Files of a run folder.
pub(crate) const CONFIG: &str = "config.toml";
pub(crate) const PREPROCESSING: &str = "preprocessing.json";
pub(crate) const MODEL_CONFIG: &str = "model.json";
pub(crate) const WEIGHTS: &str = "model.bpk";
pub(crate) const METRICS: &str = "metrics.json";
pub(crate) const TEST_PREDICTIONS: &str = "test_predictions.csv";
pub(crate) const SPLIT: &str = "split.json";
pub(crate) const REPORT: &str = "report.md";
pub(crate) const CHECKPOINT: &str = "checkpoint";
pub(crate) const RUN_INFO: &str = "run.json";
/// The checkpoint folders, which carry their own manifest (rewritten every checkpoint).
pub(crate) const CHECKPOINT_DIRS: [&str; 3] = ["checkpoint", "checkpoint.old", "checkpoint.tmp"];

/// A run folder written by `anneal train`: the one place that knows the names of
/// its files (the constants above; README's table lists them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFolder(PathBuf);

impl RunFolder {
    /// The run folder `dir` (it need not exist yet).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self(dir.into())
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.0
    }

    /// `config.toml`: the config as used.
    pub fn config(&self) -> PathBuf {
        self.0.join(CONFIG)
    }

    /// `split.json`: the data rows of each part.
    pub fn split(&self) -> PathBuf {
        self.0.join(SPLIT)
    }

    /// `metrics.json`.
    pub fn metrics(&self) -> PathBuf {
        self.0.join(METRICS)
    }

    /// `report.md`.
    pub fn report(&self) -> PathBuf {
        self.0.join(REPORT)
    }

    /// `checkpoint/`.
    pub fn checkpoint(&self) -> PathBuf {
        self.0.join(CHECKPOINT)
    }

    /// The path of `file` in the folder, and an error naming it when it is missing.
    pub(crate) fn require(&self, file: &'static str) -> Result<PathBuf> {
        let path = self.0.join(file);
        if path.exists() { Ok(path) } else { Err(Error::NotARun { path: self.0.clone(), missing: file }) }
    }
}

/// What a run folder records about how it was run, beside its config: the backend, so
/// that `anneal train --resume` continues on the same one, and the data file's
/// fingerprint, so that `anneal eval --part` refuses another file.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RunInfo {
    pub device: Backend,
    /// The data file as the config named it, and its size and SHA-256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataFile>,
}

/// A data file and its fingerprint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DataFile {
    pub path: PathBuf,
    #[serde(flatten)]
    pub digest: FileDigest,
}

impl RunInfo {
    pub(crate) fn load(run: &Path) -> Result<Self> {
        from_json(&RunFolder::new(run).require(RUN_INFO)?)
    }
}

/// Writes the run folder's `manifest.json`: the SHA-256 of every file but the
/// checkpoint's (which carries its own) and the lock file.
pub(crate) fn seal(out: &Path) -> Result<()> {
    Manifest::of_folder(out, &CHECKPOINT_DIRS)?.write(out)?;
    Ok(())
}

/// Whether the run in `run` was trained on `data`, byte for byte (`false` when
/// it does not record its data file's fingerprint).
pub(crate) fn same_data_file(run: &Path, data: &Path) -> Result<bool> {
    Ok(match RunInfo::load(run)?.data {
        Some(recorded) => recorded.digest == FileDigest::of_path(data)?,
        None => false,
    })
}

/// The split a run folder saved, in data-file rows.
pub(crate) fn saved_split(run: &Path) -> Result<Split> {
    from_json(&RunFolder::new(run).require(SPLIT)?)
}

/// Refuses `data` unless it is byte for byte the data file the run in `run`
/// recorded (`during`: what the run would do with it, for the message): the
/// split holds row positions of that file, and the preprocessing was fitted on it.
pub(crate) fn check_data_file(run: &Path, data: &Path, during: &'static str) -> Result<()> {
    let recorded = RunInfo::load(run)?.data.ok_or_else(|| {
        Error::Setting(format!(
            "{} does not record the fingerprint of its data file (it was written by an older anneal), so {} \
             cannot be {during}",
            run.display(),
            data.display()
        ))
    })?;
    let actual = FileDigest::of_path(data)?;
    if actual != recorded.digest {
        return Err(Error::DataChanged(Box::new(crate::error::DataChange {
            path: data.to_path_buf(),
            actual,
            recorded: recorded.path,
            expected: recorded.digest,
            during,
        })));
    }
    Ok(())
}

/// Checks every file of the run folder against its `manifest.json`: a changed
/// byte is an error naming the file, never a silently different model.
pub(crate) fn verify_run(run: &Path) -> Result<()> {
    RunFolder::new(run).require(MANIFEST)?;
    Manifest::verify(run)?;
    Ok(())
}

/// How to run a training job.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// The run folder to create (must not exist, or be empty).
    pub out: PathBuf,
    /// The compute backend.
    pub backend: Backend,
    /// Progress output.
    pub progress: Progress,
    /// Continue the run in `out` from its checkpoint.
    pub resume: bool,
    /// Data-parallel replicas, overriding `[distributed] replicas` (`--replicas`).
    pub replicas: Option<usize>,
    /// Replicas are this process's MPI ranks (`--distributed mpi`, under
    /// `mpirun`): needs the `mpi` feature.
    pub mpi: bool,
}

/// A run resumed on another number of replicas keeps its global batch: each
/// replica's batch becomes the global batch over the new number (which must
/// divide it). With linear learning-rate scaling the rate depends on the
/// number of replicas, so that resume is refused.
fn resplit_batch(stored: &RunConfig, user: &mut RunConfig) -> Result<()> {
    let (before, now) = (stored.distributed.replicas, user.distributed.replicas);
    if before == now || now == 0 {
        return Ok(());
    }
    if stored.distributed.lr_scaling == crate::config::LrScaling::Linear {
        return Err(Error::Setting(format!(
            "this run was started on {before} replicas with lr_scaling = \"linear\", whose learning rate depends on \
             the number of replicas: resume it on {before}"
        )));
    }
    let global = before * stored.training.batch_size;
    if !global.is_multiple_of(now) {
        return Err(Error::Setting(format!(
            "this run's global batch of {global} rows ({before} replicas × {}) does not split into {now} equal \
             replica batches: resume it on a number of replicas that divides {global}",
            stored.training.batch_size
        )));
    }
    user.training.batch_size = global / now;
    Ok(())
}

/// The MPI world of a `--distributed mpi` run; `None` for runs on threads.
#[cfg(feature = "mpi")]
fn mpi_world(options: &TrainOptions, user: &RunConfig) -> Result<Option<anneal_distributed::MpiCollective>> {
    if !options.mpi {
        return Ok(None);
    }
    if options.replicas.is_some() {
        return Err(Error::Setting("--replicas and --distributed mpi: under MPI the ranks are the replicas".into()));
    }
    let timeout = std::time::Duration::from_secs_f64(user.distributed.timeout_seconds.clamp(1e-3, 1e9));
    Ok(Some(anneal_distributed::MpiCollective::init(timeout)?))
}

/// Without the `mpi` feature, `--distributed mpi` is an error naming the feature.
#[cfg(not(feature = "mpi"))]
fn mpi_world(options: &TrainOptions, _user: &RunConfig) -> Result<Option<Unsupported>> {
    if options.mpi {
        return Err(Error::Setting(
            "--distributed mpi needs a build with MPI: install Open MPI and libclang, then build with `--features mpi`"
                .into(),
        ));
    }
    Ok(None)
}

/// Stands in for the MPI collective in builds without it.
#[cfg(not(feature = "mpi"))]
enum Unsupported {}

#[cfg(not(feature = "mpi"))]
impl anneal_distributed::Collective for Unsupported {
    fn rank(&self) -> usize {
        match *self {}
    }
    fn world(&self) -> usize {
        match *self {}
    }
    fn all_reduce_sum(&mut self, _: &mut [f32]) -> anneal_distributed::Result<()> {
        match *self {}
    }
    fn broadcast(&mut self, _: &mut [f32], _: usize) -> anneal_distributed::Result<()> {
        match *self {}
    }
}

/// Test-set metrics of a run, as written under `"test"` in `metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TestMetrics {
    /// A classification run's.
    Classification(ClassificationTest),
    /// A regression run's.
    Regression(RegressionTest),
    /// A multi-task run's: each task's metrics on the test rows that have its label.
    MultiTask(MultiTaskTest),
}

/// Test metrics of a multi-task run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiTaskTest {
    /// Each task's metrics (its `loss` the task's term, in training units), by column.
    pub tasks: BTreeMap<String, TaskTest>,
    /// The weighted total loss on the test rows.
    pub loss: f64,
    /// Number of test rows.
    pub rows: usize,
}

/// One task's test metrics in a multi-task run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TaskTest {
    /// A classification task's.
    Classification(ClassificationTest),
    /// A regression task's.
    Regression(RegressionTest),
}

/// Test metrics of a classification run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassificationTest {
    /// Fraction of test rows classified correctly.
    pub accuracy: f64,
    /// Macro-averaged F1 over the classes.
    pub macro_f1: f64,
    /// Mean cross-entropy on the test rows.
    pub loss: f64,
    /// Number of test rows.
    pub rows: usize,
    /// Confusion matrix (rows true, columns predicted), in class order.
    pub confusion_matrix: Vec<Vec<u64>>,
}

/// Test metrics of a regression run, in the target's own units (a target
/// transform inverted), equal to scikit-learn's; for several targets the
/// uniform average over them, with each target's under `per_target`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionTest {
    /// Coefficient of determination.
    pub r2: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Mean absolute percentage error, as a fraction.
    pub mape: f64,
    /// Explained variance.
    pub explained_variance: f64,
    /// Largest absolute error.
    pub max_error: f64,
    /// Mean loss on the test rows, in the units the model was trained on.
    pub loss: f64,
    /// Number of test rows.
    pub rows: usize,
    /// Each target's metrics (several targets only).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub per_target: BTreeMap<String, BTreeMap<String, f64>>,
}

impl RegressionTest {
    /// The averaged metrics as Markdown table rows `| R² | 0.5505 |`, for reports.
    pub(crate) fn metric_rows(&self) -> String {
        [
            ("R²", self.r2),
            ("RMSE", self.rmse),
            ("MAE", self.mae),
            ("MAPE (fraction)", self.mape),
            ("explained variance", self.explained_variance),
            ("max error", self.max_error),
        ]
        .iter()
        .map(|(name, v)| format!("| {name} | {} |\n", significant(*v)))
        .collect()
    }
}

impl TestMetrics {
    /// A metric by name (`accuracy`, `macro_f1`, `r2`, `rmse`, `loss`, ...).
    pub fn get(&self, name: &str) -> Option<f64> {
        let value = match self {
            TestMetrics::Classification(c) => serde_json::to_value(c),
            TestMetrics::Regression(r) => serde_json::to_value(r),
            // `<task>_<metric>`, as the history names them.
            TestMetrics::MultiTask(m) => {
                if name == "loss" {
                    return Some(m.loss);
                }
                let (task, metric) =
                    m.tasks.iter().find_map(|(t, v)| Some((v, name.strip_prefix(&format!("{t}_"))?)))?;
                let value = match task {
                    TaskTest::Classification(c) => serde_json::to_value(c),
                    TaskTest::Regression(r) => serde_json::to_value(r),
                };
                return value.ok()?.get(metric)?.as_f64();
            }
        };
        value.ok()?.get(name)?.as_f64()
    }

    /// Number of test rows.
    pub fn rows(&self) -> usize {
        match self {
            TestMetrics::Classification(c) => c.rows,
            TestMetrics::Regression(r) => r.rows,
            TestMetrics::MultiTask(m) => m.rows,
        }
    }

    /// The metrics in one line, as `anneal train` prints them.
    pub fn summary(&self) -> String {
        if self.rows() == 0 {
            return "no test rows ([split] test = 0): nothing held out to score".to_string();
        }
        match self {
            TestMetrics::Classification(c) => format!("test accuracy {:.4}  macro-F1 {:.4}", c.accuracy, c.macro_f1),
            TestMetrics::Regression(r) => {
                format!("test R² {:.4}  RMSE {}  MAE {}", r.r2, significant(r.rmse), significant(r.mae))
            }
            TestMetrics::MultiTask(m) => m
                .tasks
                .iter()
                .map(|(name, t)| match t {
                    TaskTest::Classification(c) => format!("{name}: test accuracy {:.4}", c.accuracy),
                    TaskTest::Regression(r) => {
                        format!("{name}: test R² {:.4}  RMSE {}", r.r2, significant(r.rmse))
                    }
                })
                .collect::<Vec<_>>()
                .join("; "),
        }
    }

    /// The regression metrics of `evaluation` (value targets named `columns`).
    pub fn regression(e: &Evaluation, columns: &[String]) -> Result<RegressionTest> {
        let mut averaged = BTreeMap::new();
        let mut per_target: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
        for m in BuiltinMetric::REGRESSION {
            let values = m.per_target(&e.predictions, e.n_outputs, &e.targets)?.unwrap_or_default();
            averaged.insert(m.key(), values.iter().sum::<f64>() / values.len().max(1) as f64);
            if columns.len() > 1 {
                for (c, v) in columns.iter().zip(values) {
                    per_target.entry(c.clone()).or_default().insert(m.key().to_string(), v);
                }
            }
        }
        Ok(RegressionTest {
            r2: averaged["r2"],
            rmse: averaged["rmse"],
            mae: averaged["mae"],
            mape: averaged["mape"],
            explained_variance: averaged["explained_variance"],
            max_error: averaged["max_error"],
            loss: e.loss,
            rows: e.len(),
            per_target,
        })
    }
}

/// A number with four significant digits, for values of any scale (`500.0`,
/// `0.6800`, `12350`).
pub fn significant(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let digits = (3 - v.abs().log10().floor() as i32).max(0) as usize;
    format!("{v:.digits$}")
}

fn classification() -> Task {
    Task::Classification
}

/// Everything `metrics.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMetrics {
    /// The MPI rank of the process that trained (0 unless `--distributed mpi`);
    /// only rank 0 writes the run folder. Not stored.
    #[serde(skip)]
    pub rank: usize,
    /// What the run predicts.
    #[serde(default = "classification")]
    pub task: Task,
    /// The target columns.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Class names in code order (empty for regression).
    pub classes: Vec<String>,
    /// Per-epoch history.
    pub history: Vec<EpochRecord>,
    /// The epoch whose weights were kept.
    pub best_epoch: usize,
    /// Whether early stopping ended training.
    pub stopped_early: bool,
    /// The epoch after which a training hook stopped the run (`anneal tune`'s pruner
    /// pruning a trial); absent when none did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_by_hook: Option<usize>,
    /// Rows in each part of the split.
    pub split: BTreeMap<String, usize>,
    /// Backend the run used.
    pub device: Backend,
    /// Seed of the run.
    pub seed: u64,
    /// Wall-clock seconds of the whole job.
    pub seconds: f64,
    /// What cleaning removed.
    #[serde(default)]
    pub cleaning: CleanReport,
    /// The run's size: samples, batches, iterations, updates.
    #[serde(default)]
    pub accounting: Option<Accounting>,
    /// The epoch a resumed run continued from.
    #[serde(default)]
    pub resumed_from: Option<usize>,
    /// Time, CPU time and the estimated energy and emissions of the whole job
    /// (of its last process, for a resumed run).
    #[serde(default)]
    pub energy: Option<EnergyReport>,
    /// Metrics on the held-out test rows.
    pub test: TestMetrics,
    /// A multi-task run with uncertainty weighting: each task's learned
    /// log-variance `s` at the end (its loss was weighted by `exp(−s)`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub task_log_variances: BTreeMap<String, f64>,
}

/// What the run folder keeps to re-apply preprocessing and read targets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SavedPreprocessing {
    /// The class labels (classification runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<LabelEncoder>,
    /// The target columns of a regression run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// The loss the model was trained with (it decides how outputs become predictions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<Loss>,
    pub column_kinds: BTreeMap<String, ColumnKind>,
    #[serde(flatten)]
    pub fitted: Fitted,
    /// Set by `anneal pretrain`: the model predicts tokens, not targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrained: Option<crate::pretrain::Pretrained>,
    /// A multi-task run's tasks, in head order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<SavedTask>,
}

/// One task of a multi-task run folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SavedTask {
    /// The target column.
    pub column: String,
    /// Its classes (a classification task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<LabelEncoder>,
    /// Its head (and a numeric task's target transform).
    pub head: anneal_data::multitask::TaskShape,
    /// Its loss.
    pub loss: Loss,
}

impl SavedPreprocessing {
    pub(crate) fn task(&self) -> Task {
        if !self.tasks.is_empty() {
            Task::MultiTask
        } else if self.labels.is_some() {
            Task::Classification
        } else {
            Task::Regression
        }
    }

    pub(crate) fn loss(&self) -> Loss {
        self.loss.unwrap_or(if self.labels.is_some() { Loss::CrossEntropy } else { Loss::Mse })
    }

    /// What turns the model's outputs into predictions and scores them: the
    /// loss, or a multi-task run's task losses (unweighted).
    pub(crate) fn objective(&self) -> Result<Box<dyn anneal_train::Objective>> {
        if self.tasks.is_empty() {
            return Ok(Box::new(self.loss()));
        }
        let specs = self
            .tasks
            .iter()
            .map(|t| anneal_train::TaskSpec {
                name: t.column.clone(),
                loss: t.loss,
                outputs: match &t.head.head {
                    anneal_data::multitask::TaskHead::Classes { n_classes } => *n_classes,
                    anneal_data::multitask::TaskHead::Values { n_targets, .. } => *n_targets,
                },
                weight: 1.0,
            })
            .collect();
        Ok(Box::new(anneal_train::MultiTask::new(specs, anneal_train::TaskWeighting::Fixed)?))
    }

    /// The names of the model's outputs: class names, or target columns.
    pub(crate) fn output_names(&self) -> Vec<String> {
        if !self.tasks.is_empty() {
            return self
                .tasks
                .iter()
                .flat_map(|t| match &t.labels {
                    Some(l) => l.classes().iter().map(|c| format!("{}:{c}", t.column)).collect(),
                    None => vec![t.column.clone()],
                })
                .collect();
        }
        match &self.labels {
            Some(l) => l.classes().to_vec(),
            None => self.targets.clone(),
        }
    }

    /// Parses the fitted state and the model config of the run folder `run`
    /// ([`LoadedRun::open`] has checked that its files are there and unchanged).
    pub(crate) fn load(run: &Path) -> Result<(Self, ModelConfig)> {
        Ok((from_json(&run.join(PREPROCESSING))?, from_json(&run.join(MODEL_CONFIG))?))
    }
}

/// Runs a training job end to end and writes its run folder; returns its metrics.
///
/// The run folder gets `config.toml` and `checkpoint/` (every
/// `checkpoint_every` epochs) while training runs, and `metrics.jsonl` line by
/// line; the rest at the end. With [`TrainOptions::resume`], `options.out` must
/// be such a folder: training continues from its checkpoint and ends as an
/// uninterrupted run would have.
pub fn train(config: &RunConfig, options: &TrainOptions) -> Result<RunMetrics> {
    train_with_hook(config, options, &mut NoHook)
}

/// The hook of a plain [`train`]: it does nothing.
struct NoHook;

impl anneal_train::TrainHook for NoHook {}

/// [`train`] with one more hook in the loop (after the run folder's own): `anneal
/// tune` reports each epoch's validation metric to its trial through it, and its
/// [`stop_requested`](anneal_train::TrainHook::stop_requested) prunes the run.
pub fn train_with_hook(
    config: &RunConfig,
    options: &TrainOptions,
    hook: &mut (dyn anneal_train::TrainHook + Send),
) -> Result<RunMetrics> {
    let meter = EnergyMeter::start(config.energy);
    let start = Instant::now();
    // `--replicas` overrides [distributed] replicas; the run folder keeps the
    // config as the user wrote it (with that override), and training runs the
    // one-model config its replicas equal (global batch, scaled learning rate).
    let mut user = config.clone();
    if let Some(r) = options.replicas {
        user.distributed.replicas = r;
    }
    // Under MPI the ranks are the replicas, one per process; rank 0 alone
    // writes the run folder.
    let mpi = mpi_world(options, &user)?;
    let rank = mpi.as_ref().map_or(0, anneal_distributed::Collective::rank);
    // (A pipelined run's ranks are its stages instead.)
    if let Some(m) = &mpi
        && user.distributed.pipeline.is_none()
    {
        user.distributed.replicas = anneal_distributed::Collective::world(m);
    }
    if options.resume {
        resplit_batch(config, &mut user)?;
    }
    let global = user.global()?;
    let config = &global;
    // Settings first: a bad learning rate should not wait for the data to load.
    // Tables that train on one replica only, refused before the run folder is made.
    let single_replica = [
        (config.distill.is_some(), "[distill]", "its teacher targets are not sharded across replicas; "),
        (config.multitask.is_some(), "[multitask]", ""),
    ];
    if let Some((_, table, why)) = single_replica.iter().find(|(set, ..)| *set)
        && (user.distributed.replicas > 1 || options.mpi)
    {
        return Err(Error::Setting(format!(
            "{table} trains on one replica for now: {why}leave [distributed] replicas (and --replicas, mpirun) out"
        )));
    }
    config.optimizer.validate()?;
    config.split.fractions().validate()?;
    let train_config = config.train_config();
    if let Some(p) = &user.distributed.pipeline {
        let refused = [
            (config.distill.is_some(), "[distill]"),
            (config.multitask.is_some(), "[multitask]"),
            (config.curriculum.is_some(), "[curriculum]"),
            (options.resume, "--resume (a pipelined run writes no checkpoints yet)"),
            (
                options.mpi && user.distributed.replicas > 1,
                "replicas > 1 under MPI (a grid of pipelines runs on threads for now)",
            ),
        ];
        let name = refused.iter().find(|(set, _)| *set).map(|(_, name)| *name);
        if let Some(name) = name.or_else(|| anneal_distributed::pipeline::unsupported(&train_config)) {
            return Err(Error::Setting(format!(
                "[distributed] pipeline ({} stages): {name} is not supported in a pipelined run",
                p.stages
            )));
        }
    }
    if let Some(c) = &train_config.gradient_clipping {
        c.validate()?;
    }
    train_config.regularization.validate().map_err(anneal_train::TrainError::from)?;
    // The device first: an unavailable backend must not leave an empty run folder.
    let device = options.backend.device()?;
    // One process at a time in a run folder: the lock is held until this returns.
    // MPI ranks other than 0 neither lock nor write it (they read its checkpoint
    // to resume).
    let lock = if rank != 0 {
        None
    } else if options.resume {
        check_resumable(&options.out)?;
        let lock = FolderLock::acquire(&options.out)?;
        verify_run(&options.out)?;
        // The split and the fitted preprocessing belong to the data the run started on.
        check_data_file(&options.out, &config.data.path, "resumed")?;
        clear_status(&options.out)?;
        Some(lock)
    } else {
        Some(claim_out(&options.out)?)
    };
    let out = lock.as_ref().map_or_else(|| options.out.clone(), |l| l.dir().to_path_buf());
    let data = prepare(config)?;
    let task = data.loaded.task();
    // The objective the test rows are scored with: the plain loss (a multi-task
    // run's per-task losses, weighted as in training).
    let trained =
        (task == Task::MultiTask).then(|| config.multitask_objective(&data.loaded.target.tasks())).transpose()?;
    // The report names the trained objective: the multi-task one, or the loss.
    let (loss, scoring, loss_name): (Option<Loss>, Box<dyn anneal_train::Objective>, String) = match &trained {
        // The saved model has the tasks' heads only (learned task variances are
        // training state): its test rows are scored by the plain task losses.
        Some(t) => (
            None,
            Box::new(anneal_train::MultiTask::new(t.tasks().to_vec(), anneal_train::TaskWeighting::Fixed)?),
            anneal_train::Objective::name(t),
        ),
        None => {
            let loss = config.loss(task)?;
            (Some(loss), Box::new(loss), loss.key().to_string())
        }
    };
    if options.progress != Progress::Silent && rank == 0 {
        for line in data.loaded.task_note.iter().chain(&data.loaded.warnings) {
            eprintln!("{line}");
        }
    }
    if !options.resume && rank == 0 {
        // The data path is stored absolute: the run folder's config.toml is read
        // relative to the run folder (resume, retraining a tuned trial), which
        // may have been moved since.
        let mut as_used = user.clone();
        as_used.data.path = std::path::absolute(&config.data.path).map_err(io(&config.data.path))?;
        write(&out, CONFIG, toml::to_string_pretty(&as_used).expect("a loaded config serialises"))?;
        let data = DataFile { path: config.data.path.clone(), digest: FileDigest::of_path(&config.data.path)? };
        write(&out, RUN_INFO, to_json(&RunInfo { device: options.backend, data: Some(data) }))?;
        seal(&out)?;
    }

    let model_config =
        config.model_config(data.train.n_features(), data.loaded.target.n_outputs(), Some(&data.fitted.features));
    let train_config = crate::pipeline::train_config(config, &model_config, &device)?;
    let params =
        config.transfer.as_ref().map(|_| parameter_counts(&model_config, &train_config, &device)).transpose()?;
    let mut history = HistoryWriter::new(&out);
    let replicas = user.distributed.replicas;
    crate::pipeline::check_transfer_source(config, &data)?;
    let teacher = crate::pipeline::teacher(config, &data, options.backend)?;
    let augment =
        crate::pipeline::augmentation(config, &data.loaded, &data.split.train, &data.fitted, options.backend)?;
    let curriculum = crate::pipeline::curriculum(config, &data, options.backend)?;
    let job = crate::replicate::ReplicaJob {
        config,
        settings: &user.distributed,
        model_config: &model_config,
        train_config: train_config.clone(),
        device: &device,
        data: &data,
        checkpoints: out.join(CHECKPOINT),
        resume: options.resume,
        progress: options.progress,
        augment: &augment,
        curriculum: &curriculum,
    };
    let uncertainty =
        config.multitask.as_ref().is_some_and(|m| m.weighting == crate::config::WeightingName::Uncertainty);
    let mut log_variances = Vec::new();
    let pipeline = user.distributed.pipeline.clone();
    let mut stage_stats = None;
    let fitted = if let Some(p) = &pipeline {
        let outcome = match mpi {
            Some(collective) => crate::replicate::fit_pipeline_mpi(collective, &job, p, vec![&mut history, hook]),
            None => crate::replicate::fit_pipeline(&job, p, vec![&mut history, hook]),
        };
        outcome.and_then(|o| {
            stage_stats = Some((o.stats, o.ranges, o.weights));
            match o.fitted {
                Some(f) => Ok(f),
                // Another MPI rank: its stage went to rank 0, which writes the run.
                None => Ok(anneal_train::Fitted {
                    model: crate::pipeline::init_model(config, &model_config, &device)?,
                    history: Vec::new(),
                    best_epoch: 0,
                    stopped_early: false,
                    stopped_by_hook: None,
                    accounting: train_config.plan(anneal_data::Dataset::len(&data.train), false),
                    resumed_from: None,
                    energy: EnergyMeter::start(config.energy).finish(),
                }),
            }
        })
    } else if let Some(collective) = mpi {
        crate::replicate::fit_mpi(collective, &job, vec![&mut history, hook])
    } else if replicas == 1 {
        (|| {
            let autodiff = device.clone().autodiff();
            let model = crate::pipeline::init_model(config, &model_config, &autodiff)?;
            let mut optimizer = config.optimizer.init()?;
            let mut trainer = Trainer::new(train_config, device.clone())
                .with_progress(options.progress)
                .with_objective(crate::pipeline::objective(config, &data.loaded.target, &data.train)?)
                .with_checkpoints(out.join(CHECKPOINT))
                .resuming(options.resume)
                .with_hook(&mut history)
                .with_hook(hook);
            if let Some(curriculum) = curriculum.clone() {
                trainer = trainer.with_sampler(curriculum);
            }
            let train = crate::pipeline::augmented(&augment, teacher.as_ref(), &data.train);
            let valid = Augmented::plain(&data.valid);
            if uncertainty {
                // Learned task variances train beside the model; what is kept is the model.
                let tasks = data.loaded.target.tasks().len();
                let model = anneal_models::TaskUncertainty::new(model, tasks, &autodiff);
                let fitted = trainer.fit(model, &mut optimizer, &train, Some(&valid))?;
                log_variances = fitted.model.log_variances();
                Ok(fitted.map_model(|m| m.model))
            } else {
                Ok(trainer.fit(model, &mut optimizer, &train, Some(&valid))?)
            }
        })()
    } else {
        crate::replicate::fit_replicas(&job, vec![&mut history, hook])
    };
    let fitted = match fitted {
        Ok(fitted) => fitted,
        Err(e) => {
            if rank == 0 {
                record_end(&out, &e);
            }
            return Err(e);
        }
    };
    if let Some(e) = history.error() {
        return Err(Error::Train(anneal_train::TrainError::Output { path: out.join(JSONL), message: e.to_string() }));
    }

    // A multi-task run keeps each task's head and loss, to predict new rows.
    let scoring_tasks = match (&data.train, &trained) {
        (anneal_data::TabularData::MultiTask(d), Some(t)) => Some((d.shapes(), t.tasks().to_vec())),
        _ => None,
    };
    let Prepared { loaded, split, cleaning, fitted: prep, test: test_data, .. } = data;
    let test_eval = if anneal_data::Dataset::is_empty(&test_data) || (pipeline.is_some() && rank != 0) {
        None
    } else {
        Some(evaluate(&fitted.model, &test_data, scoring.as_ref(), &device, 1024)?)
    };
    let (test, cm) = test_metrics(&loaded.target, test_eval.as_ref())?;
    let mut metrics = RunMetrics {
        task,
        targets: config.data.target.names(),
        classes: loaded.target.classes().to_vec(),
        history: fitted.history,
        best_epoch: fitted.best_epoch,
        stopped_early: fitted.stopped_early,
        stopped_by_hook: fitted.stopped_by_hook,
        split: [("train", split.train.len()), ("valid", split.valid.len()), ("test", split.test.len())]
            .map(|(k, v)| (k.to_string(), v))
            .into(),
        device: options.backend,
        seed: config.seed,
        seconds: start.elapsed().as_secs_f64(),
        cleaning,
        accounting: Some(fitted.accounting),
        resumed_from: fitted.resumed_from,
        energy: None,
        test,
        rank,
        task_log_variances: loaded
            .target
            .tasks()
            .iter()
            .zip(&log_variances)
            .map(|((column, _, _), &s)| (column.clone(), f64::from(s)))
            .collect(),
    };
    if rank != 0 {
        // The run folder is rank 0's to write.
        return Ok(metrics);
    }

    // The run folder.
    let table = &loaded.table;
    let features = &loaded.features;
    let kinds = features.iter().map(|f| Ok((f.clone(), table.kind(f)?))).collect::<Result<_>>()?;
    let saved = SavedPreprocessing {
        labels: match &loaded.target {
            TargetData::Classes { labels, .. } => Some(labels.clone()),
            TargetData::Values { .. } | TargetData::Tasks(_) => None,
        },
        targets: if task == Task::Regression { config.data.target.names() } else { Vec::new() },
        loss,
        column_kinds: kinds,
        fitted: prep,
        pretrained: None,
        tasks: match (&loaded.target, scoring_tasks) {
            (TargetData::Tasks(tasks), Some((shapes, specs))) => tasks
                .iter()
                .zip(shapes)
                .zip(specs)
                .map(|((t, head), spec)| SavedTask {
                    column: t.column.clone(),
                    labels: match &t.target {
                        TargetData::Classes { labels, .. } => Some(labels.clone()),
                        _ => None,
                    },
                    head,
                    loss: spec.loss,
                })
                .collect(),
            _ => Vec::new(),
        },
    };
    write(&out, PREPROCESSING, to_json(&saved))?;
    write(&out, MODEL_CONFIG, to_json(&model_config))?;
    // Row numbers in the run folder are data rows of the file, before cleaning.
    let original = &loaded.original;
    let to_data_rows = |rows: &[usize]| rows.iter().map(|&r| original[r]).collect::<Vec<_>>();
    let data_rows =
        Split { train: to_data_rows(&split.train), valid: to_data_rows(&split.valid), test: to_data_rows(&split.test) };
    write(&out, SPLIT, to_json(&data_rows))?;
    let weights = out.join(WEIGHTS);
    fitted
        .model
        .valid()
        .save_file(&weights)
        .map_err(|e| Error::ModelFile { path: weights.clone(), message: e.to_string() })?;
    let figures = match &test_eval {
        Some(e) => {
            let names = saved.output_names();
            write(&out, TEST_PREDICTIONS, predictions_csv(&data_rows.test, &names, task, e, true))?;
            // Figures of the test rows, drawn as `anneal eval` draws them (a
            // multi-task run's report has its tables only).
            match (task, &cm) {
                (Task::MultiTask, _) => None,
                (Task::Classification, Some(cm)) => {
                    let proba: Vec<f64> = e.predictions.iter().map(|&p| f64::from(p)).collect();
                    let y = e.targets.classes().unwrap_or_default();
                    let mut figures = crate::eval::write_figures(&out, cm, y, &proba, &names)?;
                    if let FeatureState::Image(images) = &saved.fitted.features {
                        let pixels = viewable(config, images, &loaded.table.take(&split.test)?)?;
                        let row_names = match loaded.images.as_ref().and_then(|i| i.files.as_ref()) {
                            Some(files) => split.test.iter().map(|&r| file_name(&files[r])).collect(),
                            None => data_rows.test.iter().map(|r| format!("row {r}")).collect::<Vec<_>>(),
                        };
                        figures.misclassified = crate::eval::write_misclassified(
                            &out,
                            &pixels,
                            images.shape(),
                            y,
                            &proba,
                            &names,
                            &row_names,
                        )?;
                    }
                    Some(Figures::Classification(figures))
                }
                _ => Some(Figures::Regression(write_regression_figures(&out, e, &names)?)),
            }
        }
        None => None,
    };
    anneal_train::history::write_history(&out, &metrics.history)?;
    anneal_train::history::plot_curves(&out, &metrics.history, Some(metrics.best_epoch))?;
    metrics.seconds = start.elapsed().as_secs_f64();
    metrics.energy = Some(meter.finish());
    write(&out, METRICS, to_json(&metrics))?;
    let context = ReportContext {
        config,
        distributed: &user.distributed,
        table,
        features,
        model: &model_config,
        loss: loss_name,
        note: loaded.task_note.as_deref(),
        params,
        stages: stage_stats.as_ref(),
    };
    if let (Some(p), Some((stats, ranges, weights))) = (&pipeline, &stage_stats) {
        let file = PipelineFile {
            stages: p.stages,
            micro_batches: p.micro_batches,
            split: &p.split,
            unit_weights: weights,
            theoretical_bubble: anneal_distributed::pipeline::theoretical_bubble(p.stages, p.micro_batches),
            per_stage: stats
                .iter()
                .zip(ranges)
                .map(|(s, u)| StageLine { units: u.clone(), bubble: s.bubble(), stats: s })
                .collect(),
        };
        write(&out, "pipeline.json", to_json(&file))?;
    }
    write(&out, REPORT, report(&context, &saved, &metrics, cm.as_ref(), figures.as_ref()))?;
    RunStatus::new(RunState::Finished, "").write(&out)?;
    seal(&out)?;
    drop(lock);
    Ok(metrics)
}

/// Writes the `status.json` of a run in `out` that ended with `error` (diverged, or
/// failed) and seals the folder. Best effort: the training error is what the user
/// needs to see, so a failure to write is not reported over it.
pub(crate) fn record_end(out: &Path, error: &Error) {
    let status = match error {
        Error::Train(anneal_train::TrainError::Diverged { .. }) | Error::Rl(anneal_rl::RlError::Diverged { .. }) => {
            RunStatus::new(RunState::Diverged, error.to_string())
        }
        _ => RunStatus::new(RunState::Failed, error.to_string()),
    };
    let _ = status.write(out).map_err(Error::from).and_then(|()| seal(out));
}

/// A resumed run is running again: its old `status.json` goes (and the manifest
/// with it, so a crash before the new one is written leaves a folder that verifies).
pub(crate) fn clear_status(out: &Path) -> Result<()> {
    if out.join(STATUS_FILE).exists() {
        RunStatus::clear(out)?;
        seal(out)?;
    }
    Ok(())
}

/// The test metrics of a run (and, for classification, its confusion matrix);
/// not-a-number metrics when there are no test rows.
fn test_metrics(target: &TargetData, e: Option<&Evaluation>) -> Result<(TestMetrics, Option<ConfusionMatrix>)> {
    match (target, e) {
        (TargetData::Tasks(tasks), e) => {
            let own = match e.map(|e| &e.targets) {
                Some(anneal_data::Targets::Tasks(t)) => Some(t),
                Some(_) => return Err(Error::Setting("a multi-task run's evaluation lacks its tasks".into())),
                None => None,
            };
            let mut out = BTreeMap::new();
            let mut offset = 0;
            for (i, task) in tasks.iter().enumerate() {
                let width = task.target.n_outputs();
                // This task's evaluation: its outputs on the rows that have its label.
                let sub = match (e, own.and_then(|o| o.get(i))) {
                    (Some(e), Some(t)) => {
                        let n = e.n_outputs.max(1);
                        let rows: Vec<usize> = (0..t.present.len()).filter(|&r| t.present[r]).collect();
                        let predictions = rows
                            .iter()
                            .flat_map(|&r| e.predictions[r * n + offset..r * n + offset + width].iter().copied())
                            .collect();
                        let targets = match &t.targets {
                            anneal_data::Targets::Classes(c) => {
                                anneal_data::Targets::Classes(rows.iter().map(|&r| c[r]).collect())
                            }
                            anneal_data::Targets::Values { values, n_targets } => anneal_data::Targets::Values {
                                values: rows.iter().map(|&r| values[r]).collect(),
                                n_targets: *n_targets,
                            },
                            anneal_data::Targets::Tasks(_) => anneal_data::Targets::Classes(Vec::new()),
                        };
                        let loss = e.terms.get(&task.column).copied().unwrap_or(e.loss);
                        (!rows.is_empty()).then(|| Evaluation {
                            loss,
                            predictions,
                            n_outputs: width,
                            targets,
                            terms: BTreeMap::new(),
                        })
                    }
                    _ => None,
                };
                let test = match test_metrics(&task.target, sub.as_ref())?.0 {
                    TestMetrics::Classification(c) => TaskTest::Classification(c),
                    TestMetrics::Regression(r) => TaskTest::Regression(r),
                    TestMetrics::MultiTask(_) => return Err(Error::Setting("a task of tasks".into())),
                };
                out.insert(task.column.clone(), test);
                offset += width;
            }
            let (loss, rows) = e.map_or((f64::NAN, 0), |e| (e.loss, e.len()));
            Ok((TestMetrics::MultiTask(MultiTaskTest { tasks: out, loss, rows }), None))
        }
        (TargetData::Classes { .. }, Some(e)) => {
            let (accuracy, macro_f1, cm) = e.scores()?;
            let test = ClassificationTest {
                accuracy,
                macro_f1,
                loss: e.loss,
                rows: e.len(),
                confusion_matrix: cm.counts().to_vec(),
            };
            Ok((TestMetrics::Classification(test), Some(cm)))
        }
        (TargetData::Classes { .. }, None) => {
            let nan = f64::NAN;
            let test =
                ClassificationTest { accuracy: nan, macro_f1: nan, loss: nan, rows: 0, confusion_matrix: Vec::new() };
            Ok((TestMetrics::Classification(test), None))
        }
        (TargetData::Values { columns, .. }, Some(e)) => {
            Ok((TestMetrics::Regression(TestMetrics::regression(e, columns)?), None))
        }
        (TargetData::Values { .. }, None) => {
            let nan = f64::NAN;
            let test = RegressionTest {
                r2: nan,
                rmse: nan,
                mae: nan,
                mape: nan,
                explained_variance: nan,
                max_error: nan,
                loss: nan,
                rows: 0,
                per_target: BTreeMap::new(),
            };
            Ok((TestMetrics::Regression(test), None))
        }
    }
}

/// The figures a run folder (or `anneal eval`) drew, for its report.
pub(crate) enum Figures {
    /// Confusion heat map, ROC and precision-recall curves.
    Classification(crate::eval::Figures),
    /// The file stems of the regression figures, per target.
    Regression(Vec<(String, String)>),
}

/// Draws, for each target of a regression evaluation, predicted against true
/// values with the identity line (`predicted_vs_actual`), residuals against
/// predictions (`residuals`) and the residual histogram (`residual_histogram`),
/// each PNG and SVG; with several targets each stem ends in `_<target>`.
/// Returns the (target, suffix) pairs drawn.
pub(crate) fn write_regression_figures(out: &Path, e: &Evaluation, names: &[String]) -> Result<Vec<(String, String)>> {
    let mut drawn = Vec::new();
    for (j, name) in names.iter().enumerate() {
        let suffix = if names.len() > 1 { format!("_{}", file_safe(name)) } else { String::new() };
        let (y_true, y_pred) = (e.targets.column(j).unwrap_or_default(), e.column(j));
        let of = |t: String| if names.len() > 1 { format!("{t}: {name}") } else { t };
        let scatter = Figure::predicted_vs_actual(&y_true, &y_pred)?;
        let title = of(scatter.title().to_string());
        scatter.with_title(title).save_png_svg(out, &format!("predicted_vs_actual{suffix}"))?;
        let residuals = Figure::residuals(&y_true, &y_pred)?;
        let title = of(residuals.title().to_string());
        residuals.with_title(title).save_png_svg(out, &format!("residuals{suffix}"))?;
        let histogram = Figure::residual_histogram(&y_true, &y_pred)?;
        let title = of(histogram.title().to_string());
        histogram.with_title(title).save_png_svg(out, &format!("residual_histogram{suffix}"))?;
        drawn.push((name.clone(), suffix));
    }
    Ok(drawn)
}

/// The regression figures as Markdown sections under headings of level `heading`.
pub(crate) fn regression_figures_markdown(drawn: &[(String, String)], heading: &str) -> String {
    let mut r = String::new();
    for (name, suffix) in drawn {
        let of = if drawn.len() > 1 { format!(" of {}", code(name)) } else { String::new() };
        let _ = writeln!(
            r,
            "{heading} Predicted against true values{of}\n\n![predicted against true](predicted_vs_actual{suffix}.png)\n\n\
             *One point per row; a perfect model's points lie on the identity line.* ([SVG](predicted_vs_actual{suffix}.svg))\n"
        );
        let _ = writeln!(
            r,
            "{heading} Residuals against predictions{of}\n\n![residuals](residuals{suffix}.png)\n\n\
             *Residual = true − predicted. A pattern (a curve, a funnel) is structure the model missed.* \
             ([SVG](residuals{suffix}.svg))\n"
        );
        let _ = writeln!(
            r,
            "{heading} Residual histogram{of}\n\n![residual histogram](residual_histogram{suffix}.png)\n\n\
             *Centred on zero for an unbiased model; long tails are rows it predicts badly.* \
             ([SVG](residual_histogram{suffix}.svg))\n"
        );
    }
    r
}

/// A column name as a piece of a file name.
/// `value` as one CSV field: quoted when it holds a comma, quote or line break.
fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// A file's name (its last path component), for captions.
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

fn file_safe(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// `dir` must be a run folder with a checkpoint to resume.
fn check_resumable(dir: &Path) -> Result<()> {
    if !dir.join(CONFIG).is_file() {
        return Err(Error::NotARun { path: dir.to_path_buf(), missing: CONFIG });
    }
    if !anneal_train::has_checkpoint(&dir.join(CHECKPOINT)) {
        return Err(Error::NotARun { path: dir.to_path_buf(), missing: "checkpoint/state.json" });
    }
    Ok(())
}

/// The config of the run folder `dir`, for `anneal train --resume`.
pub fn resume_config(dir: &Path) -> Result<RunConfig> {
    check_resumable(dir)?;
    RunConfig::load(dir.join(CONFIG))
}

/// The backend the run folder `dir` was trained on, so that `anneal train --resume`
/// without `--device` continues where it started; `None` for a folder that does not
/// record it (written by an older version).
pub fn run_backend(dir: &Path) -> Result<Option<Backend>> {
    let path = dir.join(RUN_INFO);
    if !path.is_file() {
        return Ok(None);
    }
    Ok(Some(from_json::<RunInfo>(&path)?.device))
}

/// Options of `anneal lr-find`.
#[derive(Debug, Clone)]
pub struct LrFindOptions {
    /// The folder to create for the plot and the CSV.
    pub out: PathBuf,
    /// The compute backend.
    pub backend: Backend,
    /// First learning rate.
    pub start_lr: f64,
    /// Last learning rate.
    pub end_lr: f64,
    /// Steps of the sweep.
    pub steps: usize,
}

/// The learning-rate range test on the training rows of `config` with its model
/// and optimiser; writes `lr_find.png`, `lr_find.svg`, `lr_find.csv` and
/// `lr_find.json` into `options.out`.
pub fn lr_find(config: &RunConfig, options: &LrFindOptions) -> Result<LrFindResult> {
    config.optimizer.validate()?;
    config.split.fractions().validate()?;
    let lr_config = LrFindConfig {
        start_lr: options.start_lr,
        end_lr: options.end_lr,
        steps: options.steps,
        seed: config.seed,
        ..LrFindConfig::new(config.training.batch_size)
    };
    let device = options.backend.device()?;
    let lock = claim_out(&options.out)?;
    let out = lock.dir();
    if config.transfer.is_some() || config.distill.is_some() {
        return Err(Error::Setting(
            "anneal lr-find sweeps the plain model: it leaves [transfer]'s frozen layers and [distill]'s teacher \
             out, so its curve would not be this run's. Remove those tables to find a rate for the model alone"
                .into(),
        ));
    }
    if config.multitask.as_ref().is_some_and(|m| m.weighting == crate::config::WeightingName::Uncertainty) {
        return Err(Error::Setting(
            "anneal lr-find sweeps the model alone, without [multitask]'s learned task variances: set weighting = \
             \"fixed\" for the sweep"
                .into(),
        ));
    }
    let data = prepare(config)?;
    let objective = crate::pipeline::objective(config, &data.loaded.target, &data.train)?;
    let model_config =
        config.model_config(data.train.n_features(), data.loaded.target.n_outputs(), Some(&data.fitted.features));
    let model = crate::pipeline::init_model(config, &model_config, &device.autodiff())?;
    let result = anneal_train::lr_find(model, &config.optimizer, &data.train, &*objective, &lr_config)?;
    anneal_train::lr_find::plot_lr_find(&result, &out.join("lr_find"))?;
    write(out, "lr_find.json", to_json(&result))?;
    Ok(result)
}

/// Settings of [`augment_preview`].
#[derive(Debug, Clone)]
pub struct AugmentPreviewOptions {
    /// The folder to create (`augment_preview.png` goes into it).
    pub out: PathBuf,
    /// Training images to show, spread evenly over the training part.
    pub images: usize,
    /// Augmented copies of each, from epochs 1 to `copies`.
    pub copies: usize,
    /// The backend that applies the transforms.
    pub backend: Backend,
}

/// `anneal augment preview`: training rows of `config` beside their
/// augmentation in the first epochs, exactly as training would see them.
/// Images are drawn into `augment_preview.png`; audio clips too, as log-mel
/// spectrograms (low frequencies at the bottom), with every clip also written
/// as WAV files into `wav/` (`row<r>.wav`, `row<r>_epoch<e>.wav`); texts go
/// side by side into the table `augment_preview.md`. Returns the PNG's or the table's path.
pub fn augment_preview(config: &RunConfig, options: &AugmentPreviewOptions) -> Result<PathBuf> {
    use anneal_regularize::augment::Media;
    if config.augment.is_empty() {
        return Err(Error::Setting("the config has no [augment] steps to preview".into()));
    }
    if options.images == 0 || options.copies == 0 {
        return Err(Error::Setting("an augmentation preview needs at least one row and one copy".into()));
    }
    let media = crate::pipeline::augment_media(config)?;
    config.augment.validate_for(media).map_err(anneal_train::TrainError::from)?;
    let lock = claim_out(&options.out)?;
    let out = lock.dir();
    let data = prepare(config)?;
    let len = anneal_data::Dataset::len(&data.train);
    let n = options.images.min(len);
    // Rows spread evenly over the training part (which is ordered by class for a
    // folder of class folders).
    let rows: Vec<usize> = (0..n).map(|i| i * len / n).collect();
    match media {
        Media::Image => image_preview(config, options, &data, &rows, out),
        Media::Audio | Media::Text => {
            let augment =
                crate::pipeline::augmentation(config, &data.loaded, &data.split.train, &data.fitted, options.backend)?;
            match augment {
                Some(anneal_train::RowsAugment::Audio(a)) => audio_preview(&a, options, &rows, out),
                Some(anneal_train::RowsAugment::Text(a)) => text_preview(&a, options, &rows, out),
                _ => Err(Error::Setting(format!("[augment] steps for {media} do not fit this run's features"))),
            }
        }
    }
}

/// The texts of `rows` beside their augmented versions, a Markdown table with a
/// column per epoch.
fn text_preview(
    augment: &anneal_train::TextRowsAugment,
    options: &AugmentPreviewOptions,
    rows: &[usize],
    out: &Path,
) -> Result<PathBuf> {
    let cell = |t: &str| escape(t).replace('\n', " ");
    let epochs: Vec<String> = (1..=options.copies).map(|e| format!("epoch {e}")).collect();
    let mut md = format!(
        "# Augmentation preview\n\n{} training texts beside what epochs 1 to {} make of them (`{}`).\n\n\
         | row | original | {} |\n|---|---|{}\n",
        rows.len(),
        options.copies,
        escape(&augment.config().describe()),
        epochs.join(" | "),
        "---|".repeat(options.copies)
    );
    for &row in rows {
        let mut line = format!("| {row} | {} |", cell(augment.original(row)?));
        for epoch in 1..=options.copies {
            line.push_str(&format!(" {} |", cell(&augment.text(row, epoch)?)));
        }
        md.push_str(&line);
        md.push('\n');
    }
    let path = out.join("augment_preview.md");
    std::fs::write(&path, md).map_err(io(&path))?;
    Ok(path)
}

/// Spectrograms of `rows` beside their augmented ones, and every clip as WAV.
fn audio_preview(
    augment: &anneal_train::AudioRowsAugment,
    options: &AugmentPreviewOptions,
    rows: &[usize],
    out: &Path,
) -> Result<PathBuf> {
    let wav_dir = out.join("wav");
    std::fs::create_dir_all(&wav_dir).map_err(io(&wav_dir))?;
    let [_, bands, frames] = augment.shape();
    let mut tiles = Vec::new();
    for &row in rows {
        let mut versions = vec![(format!("training row {row}"), augment.original_clip(row)?.to_vec(), None)];
        for epoch in 1..=options.copies {
            let (wave, ops) = augment.waveform(row, epoch)?;
            versions.push((format!("epoch {epoch}"), wave, Some(ops)));
        }
        for (caption, wave, ops) in versions {
            let name = match &ops {
                None => format!("row{row}.wav"),
                Some(_) => format!("row{row}_{}.wav", caption.replace(' ', "")),
            };
            anneal_data::audio::write_wav(&wav_dir.join(name), &wave, augment.sample_rate())?;
            let spectrogram = augment.spectrogram(&wave, ops.as_deref());
            // Low bands at the bottom; a fixed 80 dB range under the clip's peak.
            let peak = spectrogram.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut pixels = vec![0f32; bands * frames];
            for b in 0..bands {
                for t in 0..frames {
                    let v = spectrogram[b * frames + t];
                    pixels[(bands - 1 - b) * frames + t] = if v.is_nan() { 0.0 } else { (v - peak + 80.0) / 80.0 };
                }
            }
            tiles.push(anneal_evaluate::ImageTile::new(pixels, [1, bands, frames], caption)?);
        }
    }
    let path = out.join("augment_preview.png");
    Figure::image_grid(tiles, options.copies + 1)?
        .with_title(format!(
            "{} training clips (left) and epochs 1 to {} augmented (log-mel, 80 dB; WAV in wav/)",
            rows.len(),
            options.copies
        ))
        .save(&path)?;
    Ok(path)
}

/// Images of `rows` beside their augmented copies.
fn image_preview(
    config: &RunConfig,
    options: &AugmentPreviewOptions,
    data: &Prepared,
    rows: &[usize],
    out: &Path,
) -> Result<PathBuf> {
    let device = options.backend.device()?;
    let n = rows.len();
    let FeatureState::Image(images) = &data.fitted.features else {
        return Err(Error::Setting("[augment] transforms images: it needs [data] kind = \"image\"".into()));
    };
    let shape = images.shape();
    let [c, h, w] = shape;
    let per_image = c * h * w;
    // Back from what the model sees to pixels in [0, 1].
    let features = data.train.features();
    let mut pixels = Vec::with_capacity(n * per_image);
    for &row in rows {
        let image = &features[row * per_image..(row + 1) * per_image];
        pixels.extend(image.iter().enumerate().map(|(j, v)| {
            let ch = j / (h * w);
            (f64::from(*v) * images.std()[ch] + images.mean()[ch]) as f32
        }));
    }
    let augmenter = anneal_regularize::augment::ImageAugmenter::new(config.augment.clone(), config.seed)
        .map_err(anneal_train::TrainError::from)?
        .with_host_geometry(options.backend.is_cpu());
    let labels: Option<Vec<i64>> = match (&data.train, config.augment.has_mixing()) {
        (anneal_data::TabularData::Classification(d), true) => {
            let classes = d.targets();
            Some(rows.iter().map(|&r| classes[r] as i64).collect())
        }
        (_, true) => {
            return Err(Error::Setting(
                "[augment] mixup and cutmix mix classes: they need a classification, not a regression".into(),
            ));
        }
        _ => None,
    };
    let mut copies = Vec::with_capacity(options.copies);
    for epoch in 1..=options.copies {
        let batch =
            burn::tensor::Tensor::<4>::from_data(burn::tensor::TensorData::new(pixels.clone(), [n, c, h, w]), &device);
        let augmented = match &labels {
            // Mixing steps mix each image with the next one shown, and need the classes.
            Some(labels) => {
                let labels = burn::tensor::Tensor::<1, burn::tensor::Int>::from_data(
                    burn::tensor::TensorData::new(labels.clone(), [n]),
                    &device,
                );
                augmenter.apply_labelled(batch, labels, rows, epoch).map_err(anneal_train::TrainError::from)?.0
            }
            None => augmenter.apply(batch, rows, epoch).map_err(anneal_train::TrainError::from)?,
        };
        copies.push(
            augmented
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| Error::Setting(format!("reading the augmented images back: {e:?}")))?,
        );
    }
    let mut tiles = Vec::with_capacity(n * (options.copies + 1));
    for i in 0..n {
        let tile = |values: &[f32], caption: String| {
            anneal_evaluate::ImageTile::new(values[i * per_image..(i + 1) * per_image].to_vec(), shape, caption)
        };
        tiles.push(tile(&pixels, format!("training row {}", rows[i]))?);
        for (e, copy) in copies.iter().enumerate() {
            tiles.push(tile(copy, format!("epoch {}", e + 1))?);
        }
    }
    let path = out.join("augment_preview.png");
    Figure::image_grid(tiles, options.copies + 1)?
        .with_title(format!(
            "Augmentation preview: {n} training images (left) and how epochs 1 to {} augment them",
            options.copies
        ))
        .save(&path)?;
    Ok(path)
}

/// Predictions for new rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    /// What the run predicts.
    pub task: Task,
    /// The outputs' names: class names in code order, or the target columns.
    pub names: Vec<String>,
    /// The evaluation: class probabilities, or predicted values in the
    /// targets' units (its targets are placeholders: new rows have none).
    pub evaluation: Evaluation,
    /// Each row's file, when the input was a folder of images.
    pub files: Option<Vec<String>>,
}

impl Predictions {
    /// Number of rows predicted.
    pub fn len(&self) -> usize {
        self.evaluation.len()
    }

    /// Whether no row was predicted.
    pub fn is_empty(&self) -> bool {
        self.evaluation.is_empty()
    }

    /// The predictions as CSV (row is the 0-based data row): `row,predicted,p_<class>...`
    /// for a classifier, `row,<target>...` with the predicted values for a regression.
    /// For a folder of images the first column is `file`, the image's path.
    pub fn to_csv(&self) -> String {
        let rows: Vec<usize> = (0..self.len()).collect();
        let csv = predictions_csv(&rows, &self.names, self.task, &self.evaluation, false);
        let Some(files) = &self.files else { return csv };
        let mut out = String::with_capacity(csv.len());
        for (i, line) in csv.lines().enumerate() {
            let rest = line.split_once(',').map_or("", |(_, rest)| rest);
            let first = if i == 0 { "file".to_string() } else { csv_field(&files[i - 1]) };
            out += &format!("{first},{rest}\n");
        }
        out
    }
}

/// A finished run's model, fitted state and settings, ready to predict.
pub(crate) struct LoadedRun {
    pub config: RunConfig,
    pub saved: SavedPreprocessing,
    pub model: AnyModel,
    pub device: burn::prelude::Device,
}

impl LoadedRun {
    /// Verifies the run folder's files against its manifest, then loads them.
    pub(crate) fn open(run: &Path, backend: Backend) -> Result<Self> {
        // Every file is checked against the manifest before any is parsed.
        for file in [PREPROCESSING, MODEL_CONFIG, WEIGHTS, CONFIG] {
            RunFolder::new(run).require(file)?;
        }
        verify_run(run)?;
        let config = RunConfig::load(RunFolder::new(run).config())?;
        let device = backend.device()?;
        let (saved, _, model) = Self::load_model(run, &device)?;
        if saved.pretrained.is_some() {
            return Err(Error::Setting(format!(
                "{} is a masked-token pretraining run (anneal pretrain): it predicts tokens, not this data's \
                 targets. Fine-tune it first: [transfer] from = \"{}\"",
                run.display(),
                run.display()
            )));
        }
        Ok(Self { config, saved, model, device })
    }

    /// The run folder's preprocessing, model config and trained model on
    /// `device` (the folder verified already).
    pub(crate) fn load_model(
        run: &Path,
        device: &burn::prelude::Device,
    ) -> Result<(SavedPreprocessing, ModelConfig, AnyModel)> {
        let (saved, model_config) = SavedPreprocessing::load(run)?;
        let weights = run.join(WEIGHTS);
        let model = model_config
            .init(0, device)?
            .try_load_file(&weights)
            .map_err(|e| Error::ModelFile { path: weights.clone(), message: e.to_string() })?;
        Ok((saved, model_config, model))
    }

    /// The images of the folder `dir` as the run reads them: resized to its
    /// image size, with its channels and pixel column names; with class folders
    /// when `class_column` names the target.
    pub(crate) fn read_images(
        &self,
        dir: &Path,
        images: &anneal_data::image::ImageNormalizer,
        class_column: Option<&str>,
    ) -> Result<anneal_data::image::ImageFolder> {
        if self.config.data.kind == crate::config::DataKind::Audio {
            let options = self.config.audio_options();
            if options.shape() != images.shape() {
                return Err(Error::Setting(format!(
                    "the run's [data.audio] makes spectrograms of {:?}, but it was trained on {:?}",
                    options.shape(),
                    images.shape()
                )));
            }
            return Ok(anneal_data::audio::read_audio_folder(dir, class_column, &options, Some(images.pixels()))?);
        }
        let [c, h, w] = images.shape();
        let options = anneal_data::image::ImageOptions {
            height: Some(h),
            width: Some(w),
            channels: Some(c),
            ..self.config.image_options()
        };
        Ok(anneal_data::image::read_image_folder(dir, class_column, &options, Some(images.pixels()))?)
    }

    /// How to read a data file for this run: its column kinds and its policy
    /// for infinite numbers.
    pub(crate) fn csv_options(&self) -> CsvOptions {
        CsvOptions { column_kinds: self.saved.column_kinds.clone(), ..self.config.csv_options() }
    }

    /// The run's predictions for the rows of `table`, whose targets (when
    /// `targets` is given, in the run's units) are scored too; `data_row` maps a
    /// table row to the file's data row for the error of a non-finite output.
    pub(crate) fn evaluate(
        &self,
        table: &Table,
        targets: Option<&TargetData>,
        data_row: impl Fn(usize) -> usize,
    ) -> Result<Evaluation> {
        let x = self.saved.fitted.features.transform(table)?;
        let data = match (self.saved.task(), targets) {
            (Task::MultiTask, None) => {
                let shapes: Vec<_> = self.saved.tasks.iter().map(|t| t.head.clone()).collect();
                TabularData::MultiTask(anneal_data::multitask::MultiTaskData::unlabelled(x.values, x.n_cols, &shapes)?)
            }
            (Task::MultiTask, Some(_)) => {
                return Err(Error::Setting(
                    "a multi-task run is scored on labelled rows by its own report (anneal eval of a multi-task run \
                     is not supported yet)"
                        .into(),
                ));
            }
            (Task::Classification, Some(TargetData::Classes { codes, .. })) => {
                TabularData::Classification(ClassificationData::new(x.values, x.n_cols, codes.clone())?)
            }
            // Targets are unknown for new rows: class 0 or the value 0 stands in.
            (Task::Classification, _) => {
                TabularData::Classification(ClassificationData::new(x.values, x.n_cols, vec![0; x.n_rows])?)
            }
            (Task::Regression, known) => {
                let k = self.saved.targets.len().max(1);
                let transform =
                    self.saved.fitted.target_transform.clone().unwrap_or_else(anneal_data::TargetTransform::identity);
                let y = match known {
                    Some(TargetData::Values { values, .. }) => transform.transform(values)?,
                    _ => vec![0.0; x.n_rows * k],
                };
                TabularData::Regression(RegressionData::new(x.values, x.n_cols, y, k)?.with_transform(transform))
            }
        };
        let e = evaluate(&self.model, &data, self.saved.objective()?.as_ref(), &self.device, 1024)?;
        let k = e.n_outputs.max(1);
        if let Some(i) = e.predictions.iter().position(|p| !p.is_finite()) {
            return Err(Error::NonFinitePrediction { row: data_row(i / k), value: e.predictions[i] });
        }
        Ok(e)
    }
}

/// The rows of `table` as a person looks at them, values in `[0, 1]`: an
/// image's pixels / scale; a clip's spectrogram scaled from its quietest to its
/// loudest cell, low frequencies at the bottom.
pub(crate) fn viewable(
    config: &RunConfig,
    images: &anneal_data::image::ImageNormalizer,
    table: &Table,
) -> Result<Vec<f32>> {
    let mut values = images.pixels01(table)?;
    if config.data.kind == crate::config::DataKind::Audio {
        let [c, h, w] = images.shape();
        for clip in values.chunks_exact_mut(c * h * w) {
            let (lo, hi) = clip.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(l, u), v| (l.min(*v), u.max(*v)));
            let span = if hi > lo { hi - lo } else { 1.0 };
            let flipped: Vec<f32> = (0..c * h * w)
                .map(|i| (clip[(i / w / h) * h * w + (h - 1 - (i / w) % h) * w + i % w] - lo) / span)
                .collect();
            clip.copy_from_slice(&flipped);
        }
    }
    Ok(values)
}

/// Applies a finished run's preprocessing and model to the rows of `input`.
pub fn predict(run: &Path, input: &Path, backend: Backend) -> Result<Predictions> {
    let loaded = LoadedRun::open(run, backend)?;
    if let (FeatureState::Image(images), true) = (&loaded.saved.fitted.features, input.is_dir()) {
        let folder = loaded.read_images(input, images, None)?;
        let evaluation = loaded.evaluate(&folder.table, None, |r| r)?;
        return Ok(Predictions {
            task: loaded.saved.task(),
            names: loaded.saved.output_names(),
            evaluation,
            files: Some(folder.files.iter().map(|f| f.display().to_string()).collect()),
        });
    }
    let table = Table::read(input, &loaded.csv_options()).map_err(|e| match e {
        // The run's columns are fixed: the advice for training data does not apply.
        anneal_data::DataError::NonNumeric { path, line, column, value } => Error::Setting(format!(
            "{}: line {line}, column `{column}`: `{value}` is not a number, and the run was trained with \
             `{column}` numeric: fix the cell, or leave it empty to have it imputed",
            path.display()
        )),
        other => other.into(),
    })?;
    let evaluation = loaded.evaluate(&table, None, |r| r)?;
    Ok(Predictions { task: loaded.saved.task(), names: loaded.saved.output_names(), evaluation, files: None })
}

/// Writes a finished run's weights to `output` as safetensors in PyTorch's
/// layout (linear weights `[out, in]`, batch-norm `weight` / `bias`), with the
/// model config as JSON in the file's metadata (`anneal_model`).
pub fn export(run: &Path, output: &Path) -> Result<()> {
    let loaded = LoadedRun::open(run, Backend::Flex)?;
    let model_json =
        std::fs::read_to_string(run.join(MODEL_CONFIG)).map_err(crate::error::io(&run.join(MODEL_CONFIG)))?;
    anneal_models::export_safetensors(&loaded.model, output, &[("anneal_model", model_json.trim())])?;
    Ok(())
}

/// Creates the output folder `out` (which must not exist, or be empty) and
/// locks it for this process until the lock is dropped: two commands never write
/// one folder, and a folder in use is named with the process that holds it.
pub(crate) fn claim_out(out: &Path) -> Result<FolderLock> {
    if !is_empty_folder(out)? {
        if out.join(LOCK_FILE).is_file() {
            // A run in progress says so rather than "not empty".
            drop(FolderLock::acquire(out)?);
        }
        return Err(Error::OutExists { path: out.to_path_buf() });
    }
    let lock = FolderLock::acquire(out)?;
    // Another process may have written between the check and the lock.
    if !is_empty_folder(out)? {
        return Err(Error::OutExists { path: out.to_path_buf() });
    }
    Ok(lock)
}

/// Refuses an output file that is one of the command's inputs: `output` must
/// not be the file `input`, nor a file inside the folder `input`.
pub fn refuse_overwrite(output: &Path, input: &Path) -> Result<()> {
    let (Ok(input), Ok(parent)) = (
        input.canonicalize(),
        output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).canonicalize(),
    ) else {
        return Ok(());
    };
    let output_path = match output.file_name() {
        Some(name) => parent.join(name),
        None => return Ok(()),
    };
    let output_path = output_path.canonicalize().unwrap_or(output_path);
    if output_path == input {
        return Err(Error::OverwritesInput { path: output.to_path_buf(), what: "the input file".into() });
    }
    if input.is_dir() && output_path.starts_with(&input) {
        return Err(Error::OverwritesInput {
            path: output.to_path_buf(),
            what: format!("inside the run folder {}", input.display()),
        });
    }
    Ok(())
}

/// The first `runs/<stem>-<n>` that does not exist yet.
pub fn default_out(config_path: &Path) -> PathBuf {
    let stem = config_path.file_stem().and_then(|s| s.to_str()).unwrap_or("run");
    (1..)
        .map(|n| PathBuf::from("runs").join(format!("{stem}-{n}")))
        .find(|p| !p.exists())
        .expect("an unused name exists")
}

/// The first `runs/<stem>-<what>-<n>` that does not exist yet.
pub fn default_out_named(config_path: &Path, what: &str) -> PathBuf {
    let stem = config_path.file_stem().and_then(|s| s.to_str()).unwrap_or("run");
    default_out(Path::new(&format!("{stem}-{what}")))
}

pub(crate) fn write(dir: &Path, name: &str, contents: String) -> Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, contents).map_err(io(&path))
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).expect("run files always serialise") + "\n"
}

fn from_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    serde_json::from_str(&text).map_err(|e| Error::Config { path: path.to_path_buf(), message: e.to_string() })
}

/// Predictions as CSV: `row[,true],predicted,p_<class>...` for a classifier
/// (probabilities of each class), `row[,true_<target>...],<target>...` for a
/// regression (values in the targets' units). `with_truth` adds the true values.
/// Written by a CSV writer: a label with a comma or a quote is quoted.
pub(crate) fn predictions_csv(
    rows: &[usize],
    names: &[String],
    task: Task,
    e: &Evaluation,
    with_truth: bool,
) -> String {
    let k = e.n_outputs.max(1);
    let mut header = vec!["row".to_string()];
    let mut records: Vec<Vec<String>> = Vec::with_capacity(rows.len());
    match task {
        Task::Classification => {
            if with_truth {
                header.push("true".into());
            }
            header.push("predicted".into());
            header.extend(names.iter().map(|c| format!("p_{c}")));
            let predicted = e.predicted_classes();
            let truth = e.targets.classes().unwrap_or_default();
            for (i, row) in rows.iter().enumerate() {
                let mut r = vec![row.to_string()];
                if with_truth {
                    r.push(names[truth[i]].clone());
                }
                r.push(names[predicted[i]].clone());
                r.extend(e.predictions[i * k..(i + 1) * k].iter().map(|p| format!("{p:.6}")));
                records.push(r);
            }
        }
        Task::Regression => {
            if with_truth {
                header.extend(names.iter().map(|t| format!("true_{t}")));
            }
            header.extend(names.iter().cloned());
            let truth = match &e.targets {
                anneal_data::Targets::Values { values, .. } => values.as_slice(),
                _ => &[],
            };
            for (i, row) in rows.iter().enumerate() {
                let mut r = vec![row.to_string()];
                if with_truth {
                    r.extend(truth[i * k..(i + 1) * k].iter().map(f32::to_string));
                }
                r.extend(e.predictions[i * k..(i + 1) * k].iter().map(f32::to_string));
                records.push(r);
            }
        }
        Task::MultiTask => return multitask_predictions_csv(rows, names, e, with_truth),
    }
    csv_text(std::iter::once(header).chain(records))
}

/// A multi-task run's predictions: per task its true value (empty where the
/// row has no label), its prediction, and a classification's probabilities
/// (`p_<task>:<class>`). `names` are the run's output names (`task:class` for a
/// classification's outputs, the column for a regression's).
fn multitask_predictions_csv(rows: &[usize], names: &[String], e: &Evaluation, with_truth: bool) -> String {
    let anneal_data::Targets::Tasks(tasks) = &e.targets else {
        return predictions_csv(rows, names, Task::Regression, e, with_truth);
    };
    let k = e.n_outputs.max(1);
    let mut header = vec!["row".to_string()];
    // Each task's outputs: its offset, width and class names (empty for a value).
    let mut layout = Vec::new();
    let mut offset = 0;
    for t in tasks {
        let prefix = format!("{}:", t.name);
        let classes: Vec<String> = names.iter().filter_map(|n| n.strip_prefix(&prefix)).map(str::to_string).collect();
        let width = classes.len().max(1);
        if with_truth {
            header.push(format!("true_{}", t.name));
        }
        header.push(format!("predicted_{}", t.name));
        header.extend(classes.iter().map(|c| format!("p_{}:{c}", t.name)));
        layout.push((offset, width, classes));
        offset += width;
    }
    let mut records = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let mut r = vec![row.to_string()];
        let p = &e.predictions[i * k..(i + 1) * k];
        for (t, (offset, width, classes)) in tasks.iter().zip(&layout) {
            let own = &p[*offset..offset + width];
            if with_truth {
                r.push(match (&t.targets, t.present[i]) {
                    (_, false) => String::new(),
                    (anneal_data::Targets::Classes(c), true) => classes.get(c[i]).cloned().unwrap_or_default(),
                    (anneal_data::Targets::Values { values, .. }, true) => values[i].to_string(),
                    (anneal_data::Targets::Tasks(_), true) => String::new(),
                });
            }
            if classes.is_empty() {
                r.push(own[0].to_string());
            } else {
                r.push(classes[anneal_train::metric::argmax_rows(own, *width)[0]].clone());
                r.extend(own.iter().map(|v| format!("{v:.6}")));
            }
        }
        records.push(r);
    }
    csv_text(std::iter::once(header).chain(records))
}

/// Records as CSV text, quoted where a field needs it (comma, quote, newline).
pub(crate) fn csv_text(records: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut w = csv::WriterBuilder::new().flexible(false).from_writer(Vec::new());
    for r in records {
        w.write_record(&r).expect("writing CSV to memory cannot fail");
    }
    let bytes = w.into_inner().expect("writing CSV to memory cannot fail");
    String::from_utf8(bytes).expect("CSV of UTF-8 fields is UTF-8")
}

/// The preprocessing pipeline in words, for the report.
fn describe_preprocessing(p: &anneal_data::PreprocessConfig) -> String {
    let mut numeric = Vec::new();
    if !p.derived.is_empty() {
        numeric.push(format!("derived {}", p.derived.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ")));
    }
    if let Some([low, high]) = p.winsorize {
        numeric.push(format!("winsorized to quantiles [{low}, {high}]"));
    }
    if !p.log1p.is_empty() {
        numeric.push(format!("log1p of {}", p.log1p.join(", ")));
    }
    let impute = match p.numeric_impute {
        anneal_data::preprocess::NumericImpute::Iterative(c) => {
            format!("iterative ridge imputation (max_iter {}, alpha {})", c.max_iter, c.alpha)
        }
        other => format!("{other:?} imputation").to_lowercase(),
    };
    numeric.push(impute);
    if p.missing_indicators {
        numeric.push("missing indicators".into());
    }
    if let Some(power) = p.power {
        numeric.push(format!("{power:?} transform"));
    }
    numeric.push(format!("{:?} scaling", p.scaling).to_lowercase());
    if let Some(poly) = p.polynomial {
        numeric.push(format!("degree-{} polynomial features", poly.degree));
    }
    let mut parts = vec![format!("numeric: {}", numeric.join(", "))];
    if !p.date_columns.is_empty() {
        let date_parts = p.date_parts.iter().map(crate::config::config_key).collect::<Vec<_>>().join(", ");
        parts.push(format!("dates ({}): {date_parts}", p.date_columns.join(", ")));
    }
    let mut encodings = vec![crate::config::config_key(&p.encoding)];
    encodings.extend(p.encoders.iter().map(|(c, e)| format!("{} for {c}", crate::config::config_key(e))));
    parts.push(format!(
        "categorical: most-frequent imputation, {} (one-hot unknown categories: {})",
        encodings.join(", "),
        crate::config::config_key(&p.one_hot.unknown)
    ));
    if let Some(pca) = p.pca {
        parts.push(format!("then PCA ({:?}{})", pca.components, if pca.whiten { ", whitened" } else { "" }));
    }
    parts.join("; ")
}

/// Names from the data, escaped for Markdown and joined by commas.
pub(crate) fn escaped_list(names: &[String]) -> String {
    names.iter().map(|n| escape(n)).collect::<Vec<_>>().join(", ")
}

/// What the report says about how a run was set up.
struct ReportContext<'a> {
    /// The one-model config training ran ([`RunConfig::global`]).
    config: &'a RunConfig,
    /// The `[distributed]` settings as the user gave them.
    distributed: &'a crate::config::DistributedSection,
    table: &'a Table,
    features: &'a [String],
    model: &'a ModelConfig,
    /// The loss (a multi-task run: its objective) in words.
    loss: String,
    note: Option<&'a str>,
    /// With `[transfer]`: parameters that train (at the end, when unfrozen
    /// gradually) and in all.
    params: Option<(usize, usize)>,
    /// A pipelined run's stages: what each measured, its units, and what the cut balanced.
    stages: Option<&'a StageReport>,
}

/// A pipelined run's stages: what each measured, its units, and the units'
/// weights the cut balanced (parameters, or measured seconds).
type StageReport = (Vec<anneal_distributed::StageStats>, Vec<std::ops::Range<usize>>, Vec<f64>);

/// The `pipeline.json` of a pipelined run: each stage's units and measurements.
#[derive(Debug, Serialize)]
struct PipelineFile<'a> {
    stages: usize,
    micro_batches: usize,
    split: &'a anneal_models::pipeline::Split,
    /// What the cut balanced per unit: parameters, or measured seconds.
    unit_weights: &'a [f64],
    /// `(S − 1) / (M + S − 1)`.
    theoretical_bubble: f64,
    per_stage: Vec<StageLine<'a>>,
}

#[derive(Debug, Serialize)]
struct StageLine<'a> {
    units: std::ops::Range<usize>,
    bubble: f64,
    #[serde(flatten)]
    stats: &'a anneal_distributed::StageStats,
}

/// A size in bytes in words (kB, MB, GB).
fn bytes(n: usize) -> String {
    let n = n as f64;
    match n {
        n if n >= 1e9 => format!("{:.2} GB", n / 1e9),
        n if n >= 1e6 => format!("{:.1} MB", n / 1e6),
        n => format!("{:.1} kB", n / 1e3),
    }
}

/// The report's lines on a pipelined run.
fn pipeline_lines(r: &mut String, p: &anneal_distributed::PipelineConfig, stages: &StageReport) {
    let total: usize = stages.0.iter().map(|s| s.parameters).sum();
    let _ = writeln!(
        r,
        "- pipeline (GPipe): {} stages × {} micro-batches per batch, cut {}; in theory the stages wait {:.0} % of each step (the bubble)",
        p.stages,
        p.micro_batches,
        match &p.split {
            anneal_models::pipeline::Split::Balanced => "to balance parameters".to_string(),
            anneal_models::pipeline::Split::Time => format!(
                "to balance the units' training times measured on the first batch ({} ms)",
                stages.2.iter().map(|t| format!("{:.2}", t * 1e3)).collect::<Vec<_>>().join(", ")
            ),
            anneal_models::pipeline::Split::At(c) => format!("at units {c:?}"),
        },
        100.0 * anneal_distributed::pipeline::theoretical_bubble(p.stages, p.micro_batches)
    );
    for (s, units) in stages.0.iter().zip(&stages.1) {
        let _ = writeln!(
            r,
            "  - stage {}: units {}–{}, {} parameters ({:.0} % of the model; {} of weights, as much again of gradients), \
             up to {} activation values kept at its ends per step; waited {:.0} % of its {:.1} s of steps",
            s.stage,
            units.start,
            units.end.saturating_sub(1),
            s.parameters,
            100.0 * s.parameters as f64 / total.max(1) as f64,
            bytes(s.parameters * 4),
            s.boundary_values,
            100.0 * s.bubble(),
            s.step_seconds
        );
    }
}

/// The parameters of a model of `model_config` that `train`'s groups leave
/// training (frozen ones for the whole run not counted), and all of them.
fn parameter_counts(
    model_config: &ModelConfig,
    train: &anneal_train::TrainConfig,
    device: &burn::prelude::Device,
) -> Result<(usize, usize)> {
    let layout = anneal_train::ParamLayout::of(&model_config.init(0, device)?);
    let mut frozen = vec![false; layout.layers().len()];
    for g in &train.param_groups {
        for &l in &g.layers {
            if let Some(f) = frozen.get_mut(l) {
                *f = g.frozen;
            }
        }
    }
    let total = layout.params().iter().map(|p| p.len).sum();
    let trainable = layout.params().iter().filter(|p| !frozen[p.layer]).map(|p| p.len).sum();
    Ok((trainable, total))
}

fn report(
    ctx: &ReportContext<'_>,
    saved: &SavedPreprocessing,
    m: &RunMetrics,
    cm: Option<&ConfusionMatrix>,
    figures: Option<&Figures>,
) -> String {
    let mut r = String::new();
    let _ = writeln!(r, "# Anneal run report\n");
    let _ = writeln!(r, "## Test metrics\n");
    if m.test.rows() == 0 {
        let _ = writeln!(
            r,
            "No test rows: `[split] test = 0` holds none back, so there is nothing to score here (use \
             `anneal cv` for a cross-validated estimate, or `anneal eval` on a labelled file).\n"
        );
    } else {
        test_section(&mut r, ctx, saved, m);
    }
    // The figures of the test rows.
    figures_and_matrix(&mut r, saved, cm, figures);
    run_section(&mut r, ctx, saved, m);
    r
}

/// The test metrics tables of a run with test rows.
fn test_section(r: &mut String, ctx: &ReportContext<'_>, saved: &SavedPreprocessing, m: &RunMetrics) {
    if let TestMetrics::MultiTask(t) = &m.test {
        let _ = writeln!(r, "Each task on the test rows that have its label:\n");
        let _ = writeln!(r, "| task | labelled test rows | metric | value |\n|---|---|---|---|");
        for (name, task) in &t.tasks {
            let rows: Vec<(&str, f64)> = match task {
                TaskTest::Classification(c) => {
                    vec![("accuracy", c.accuracy), ("macro-F1", c.macro_f1), ("loss term", c.loss)]
                }
                TaskTest::Regression(g) => {
                    vec![("R²", g.r2), ("RMSE", g.rmse), ("MAE", g.mae), ("loss term (training units)", g.loss)]
                }
            };
            let labelled = match task {
                TaskTest::Classification(c) => c.rows,
                TaskTest::Regression(g) => g.rows,
            };
            for (metric, value) in rows {
                let _ = writeln!(r, "| {} | {labelled} | {metric} | {} |", code(name), significant(value));
            }
        }
        let _ = writeln!(
            r,
            "\nThe tasks' losses (each times its `weight`) total {} over the {} test rows.\n",
            significant(t.loss),
            t.rows
        );
        let _ =
            writeln!(r, "Held out before preprocessing was fitted and never used for training or early stopping.\n");
        return;
    }
    let _ = writeln!(r, "| metric | value |\n|---|---|");
    match &m.test {
        TestMetrics::Classification(t) => {
            let _ = writeln!(r, "| accuracy | {:.4} |", t.accuracy);
            let _ = writeln!(r, "| macro-F1 | {:.4} |", t.macro_f1);
            let _ = writeln!(r, "| cross-entropy | {:.4} |", t.loss);
            let _ = writeln!(r, "| test rows | {} |\n", t.rows);
        }
        TestMetrics::Regression(t) => {
            *r += &t.metric_rows();
            let _ = writeln!(r, "| {} loss (training units) | {:.4} |", ctx.loss, t.loss);
            let _ = writeln!(r, "| test rows | {} |\n", t.rows);
            let _ = writeln!(
                r,
                "In the target's own units{}.\n",
                match &saved.fitted.target_transform {
                    Some(tr) if tr.kind != anneal_data::TargetTransformKind::None => {
                        format!(
                            " (the model was trained on a `{}` transform of it, inverted here)",
                            crate::config::config_key(&tr.kind)
                        )
                    }
                    _ => String::new(),
                }
            );
            if !t.per_target.is_empty() {
                let _ = writeln!(
                    r,
                    "### Per target\n\n| target | R² | RMSE | MAE | MAPE | explained variance | max error |\n|---|---|---|---|---|---|---|"
                );
                for (name, v) in &t.per_target {
                    let g = |k: &str| v.get(k).map_or("–".to_string(), |x| significant(*x));
                    let _ = writeln!(
                        r,
                        "| {} | {} | {} | {} | {} | {} | {} |",
                        escape(name),
                        g("r2"),
                        g("rmse"),
                        g("mae"),
                        g("mape"),
                        g("explained_variance"),
                        g("max_error")
                    );
                }
                r.push('\n');
            }
        }
        TestMetrics::MultiTask(_) => {}
    }
    let _ = writeln!(r, "Held out before preprocessing was fitted and never used for training or early stopping.\n");
}

/// The confusion matrix, per-class scores and figures of the test rows (nothing
/// when there are none).
fn figures_and_matrix(
    r: &mut String,
    saved: &SavedPreprocessing,
    cm: Option<&ConfusionMatrix>,
    figures: Option<&Figures>,
) {
    if let Some(cm) = cm.filter(|cm| cm.counts().len() <= crate::eval::MAX_DRAWN_CLASSES) {
        let classes: Vec<String> = saved.output_names().iter().map(|c| escape(c)).collect();
        let _ = writeln!(r, "### Confusion matrix (rows: true class, columns: predicted)\n");
        let _ = writeln!(r, "| | {} |", classes.join(" | "));
        let _ = writeln!(r, "|---|{}", "---|".repeat(classes.len()));
        for (c, row) in cm.counts().iter().enumerate() {
            let cells: Vec<String> = row.iter().map(u64::to_string).collect();
            let _ = writeln!(r, "| **{}** | {} |", classes.get(c).map_or("?", String::as_str), cells.join(" | "));
        }
        let _ = writeln!(r, "\n### Per class\n\n| class | precision | recall | F1 | support |\n|---|---|---|---|---|");
        for (c, s) in cm.per_class().iter().enumerate() {
            let _ =
                writeln!(r, "| {} | {:.4} | {:.4} | {:.4} | {} |", classes[c], s.precision, s.recall, s.f1, s.support);
        }
    }

    match figures {
        Some(Figures::Classification(figures)) => {
            let _ = writeln!(r, "\n### Figures of the test rows\n");
            *r += figures.markdown("####").trim_end();
            r.push('\n');
        }
        Some(Figures::Regression(drawn)) => {
            let _ = writeln!(r, "\n### Figures of the test rows\n");
            *r += regression_figures_markdown(drawn, "####").trim_end();
            r.push('\n');
        }
        None => {}
    }
}

/// How the run was set up, its energy and its training history.
fn run_section(r: &mut String, ctx: &ReportContext<'_>, saved: &SavedPreprocessing, m: &RunMetrics) {
    let ReportContext { config, table, features, model, .. } = *ctx;
    let f = |x: Option<f64>| x.map_or("–".to_string(), |v| format!("{v:.4}"));
    let _ = writeln!(r, "\n## Run\n");
    let _ = writeln!(
        r,
        "- data: {} ({} rows, {} columns)",
        code(&config.data.path.display().to_string()),
        table.n_rows(),
        table.column_names().len()
    );
    if config.clean != anneal_data::clean::CleanConfig::default() {
        let c = &m.cleaning;
        let dropped = if c.dropped_columns.is_empty() { "none".to_string() } else { escaped_list(&c.dropped_columns) };
        let _ = writeln!(
            r,
            "- cleaning: {} duplicate rows and {} rows with missing cells removed before the split; \
             columns dropped as too sparse: {dropped}; {} training rows trimmed as outliers",
            c.duplicates_removed, c.missing_removed, c.outliers_trimmed
        );
    }
    match m.task {
        Task::Classification => {
            let classes = &m.classes;
            let _ = writeln!(
                r,
                "- task: classification of {} ({} classes: {})",
                code(&config.data.target.joined()),
                classes.len(),
                escaped_list(classes)
            );
        }
        Task::Regression => {
            let transform = saved
                .fitted
                .target_transform
                .as_ref()
                .map_or("none".to_string(), |t| crate::config::config_key(&t.kind));
            let _ = writeln!(
                r,
                "- task: regression of {} (target transform `{transform}`, fitted on the training rows)",
                code(&config.data.target.joined())
            );
        }
        Task::MultiTask => {
            let tasks: Vec<String> = saved
                .tasks
                .iter()
                .map(|t| match &t.labels {
                    Some(l) => format!("{} (classification, {} classes)", code(&t.column), l.classes().len()),
                    None => format!("{} (regression, standardised on its labelled training rows)", code(&t.column)),
                })
                .collect();
            let section = config.multitask.clone().unwrap_or_default();
            let _ = writeln!(
                r,
                "- task: multi-task learning of {}: one shared model with a head per task; losses weighted `{}`, \
                 gradients combined by `{}`; rows without a task's label train the other tasks",
                tasks.join(", "),
                crate::config::config_key(&section.weighting),
                crate::config::config_key(&section.gradients)
            );
            if !m.task_log_variances.is_empty() {
                let learned: Vec<String> = m
                    .task_log_variances
                    .iter()
                    .map(|(t, s)| format!("{} {:.3} (s = {:.3})", code(t), (-s).exp(), s))
                    .collect();
                let _ = writeln!(r, "- learned task weights exp(−s) at the end: {}", learned.join(", "));
            }
            let last = m.history.last();
            if let Some(rate) = last.and_then(|e| e.metric("train_conflict_rate")) {
                let cosine = last.and_then(|e| e.metric("train_gradient_cosine"));
                let _ = writeln!(
                    r,
                    "- gradient conflicts in the last epoch: {:.0} % of updates had tasks whose gradients point \
                     against each other{}",
                    100.0 * rate,
                    cosine.map_or(String::new(), |c| format!(
                        " (mean cosine between the first two tasks' gradients: {c:.3})"
                    ))
                );
            }
        }
    }
    if let Some(note) = ctx.note {
        let _ = writeln!(r, "- {}", escape(note));
    }
    let how = match (&config.split.column, &config.split.group) {
        (Some(column), _) => format!("the parts column {} names", code(column)),
        (None, Some(column)) => format!("seed {}, by {}: no group in two parts", m.seed, code(column)),
        (None, None) if m.task == Task::Classification && config.split.stratify != Some(false) => {
            format!("seed {}, stratified", m.seed)
        }
        (None, None) => format!("seed {}, random", m.seed),
    };
    let _ = writeln!(
        r,
        "- split ({how}): {} train / {} validation / {} test",
        m.split["train"], m.split["valid"], m.split["test"]
    );
    if let Some(c) = &config.curriculum {
        let by = match &c.difficulty {
            crate::config::Difficulty::Column(column) => format!("column {}", code(column)),
            crate::config::Difficulty::Run(run) => format!("the loss of run {}", escape(&run.display().to_string())),
            crate::config::Difficulty::Model => "the model's own current loss (self-paced, ranked again before every \
                                                 epoch)"
                .to_string(),
        };
        let _ = writeln!(
            r,
            "- curriculum: {} by {by}{}; {} pacing from {:.0} % of the training rows in epoch 1 to all from epoch {}",
            crate::config::config_key(&c.order).replace('_', " "),
            if m.task == Task::Classification && c.balance_classes != Some(false) {
                ", the classes' proportions kept in every share"
            } else {
                ""
            },
            crate::config::config_key(&c.pacing),
            100.0 * c.start,
            c.full_at
        );
        if let Some(sp) = c.self_paced() {
            let _ = writeln!(
                r,
                "  (self-paced: rows whose loss is below {} × {}^(epoch − 1) admitted, at least the share above)",
                sp.threshold, sp.growth
            );
        }
    }
    if let (FeatureState::Image(images), crate::config::DataKind::Audio) = (&saved.fitted.features, config.data.kind) {
        let a = config.audio_options();
        let [_, bands, frames] = images.shape();
        let _ = writeln!(
            r,
            "- audio: clips at {} Hz, padded or cut to {} s, as log-mel spectrograms of {bands} mel bands ({}–{} Hz) \
             x {frames} frames (FFT of {} samples, {} window of {}, hop {}; dB, {} dB below each clip's peak kept), then \
             standardised with the training clips' mean {:.4} and std {:.4}",
            a.sample_rate,
            a.duration,
            a.fmin,
            a.fmax(),
            a.n_fft,
            format!("{:?}", a.window).to_lowercase(),
            a.win_length.unwrap_or(a.n_fft),
            a.hop_length,
            a.top_db,
            images.mean()[0],
            images.std()[0],
        );
    } else if let FeatureState::Image(images) = &saved.fitted.features {
        let [c, h, w] = images.shape();
        let stats: Vec<String> =
            images.mean().iter().zip(images.std()).map(|(m, s)| format!("mean {m:.4}, std {s:.4}")).collect();
        let options = config.image_options();
        let standardised = match options.normalize {
            anneal_data::image::Normalization::Channel => {
                format!(", then standardised per channel (fitted on the training images only): {}", stats.join("; "))
            }
            anneal_data::image::Normalization::Scale => " (normalize = \"scale\": no standardisation)".to_string(),
        };
        let _ = writeln!(
            r,
            "- images: {c} channel(s) of {h}x{w} pixels ({} values per image), divided by {}{standardised}",
            c * h * w,
            options.scale,
        );
    } else if let FeatureState::Text(text) = &saved.fitted.features {
        let o = text.options();
        let tokens = match o.tokenizer {
            anneal_data::text::TokenizerKind::Word => format!(
                "word tokens ({} matches{}); a vocabulary of {} ids: <pad>, <unk> and the {} most frequent training \
                 words seen at least {} times",
                code(&o.pattern),
                if o.lowercase { " in the lower-cased text" } else { "" },
                text.vocab_len(),
                text.vocab_len() - 2,
                o.min_count
            ),
            anneal_data::text::TokenizerKind::Bpe => format!(
                "BPE subword tokens learned on the training texts (words: {} matches{}); a vocabulary of {} ids \
                 (<pad>, <unk> included)",
                code(&o.pattern),
                if o.lowercase { ", lower-cased" } else { "" },
                text.vocab_len()
            ),
        };
        let _ = writeln!(
            r,
            "- text: column {}, {tokens}; each text's {} {} tokens, padded to {} (the tokenizer fitted on the training \
             rows only)",
            code(text.column()),
            if o.truncation == anneal_data::text::Truncation::Head { "first" } else { "last" },
            o.max_len,
            o.max_len
        );
    } else {
        let _ = writeln!(
            r,
            "- features ({} columns → {} after preprocessing): {}",
            features.len(),
            match model {
                ModelConfig::Linear(c) => c.input,
                ModelConfig::Mlp(c) => c.input,
                ModelConfig::Cnn(c) => c.input_len(),
                ModelConfig::Transformer(c) => c.max_len,
            },
            escaped_list(features)
        );
        let _ = writeln!(
            r,
            "- preprocessing (fitted on the training rows only): {}",
            escape(&describe_preprocessing(&config.preprocess))
        );
    }
    let _ = writeln!(r, "- model: {}; loss: {}", model.describe(), ctx.loss);
    if let (Some(t), Some((trainable, total))) = (&config.transfer, ctx.params) {
        let _ = writeln!(
            r,
            "- transfer learning from {}: {}; {} of the model's {} parameters train{}",
            code(&t.from.display().to_string()),
            escape(&t.describe()),
            trainable,
            total,
            if t.unfreeze_every.is_some() { " once every stage is unfrozen" } else { "" }
        );
    }
    if let Some(d) = &config.distill {
        let _ = writeln!(
            r,
            "- knowledge distillation from teacher {}: temperature {}, alpha {} (the loss is alpha·T²·KL of the \
             softened distributions + (1 − alpha)·{}; the teacher's outputs on the training rows were computed once, \
             before training)",
            code(&d.teacher.display().to_string()),
            d.temperature,
            d.alpha,
            ctx.loss
        );
    }
    if let Some(init) = &config.model.init_from {
        let _ = writeln!(
            r,
            "- initial weights: {}{}",
            code(&init.display().to_string()),
            if config.model.init_partial { " (the layers it has; the others from the seed)" } else { "" }
        );
    }
    let _ = writeln!(r, "- optimizer: {:?}", config.optimizer);
    if !config.augment.is_empty() {
        let _ = writeln!(
            r,
            "- augmentation of the training batches (validation and test rows are not augmented): {}",
            escape(&config.augment.describe())
        );
    }
    let _ = writeln!(
        r,
        "- training: up to {} epochs, batch {}; {} epochs run, weights of epoch {} kept{}",
        config.training.epochs,
        config.training.batch_size,
        m.history.len(),
        m.best_epoch,
        match (m.stopped_early, m.stopped_by_hook) {
            (true, _) => " (early stopping)".to_string(),
            (false, Some(e)) => format!(" (stopped by a training hook after epoch {e}: pruned by anneal tune)"),
            (false, None) => String::new(),
        }
    );
    let d = ctx.distributed;
    if d.replicas > 1 {
        let _ = writeln!(
            r,
            "- data-parallel: {} replicas on threads ({} compute thread(s) each) × batch {} = the global batch {} above; \
             gradients all-reduced every update{}",
            d.replicas,
            d.threads_per_replica,
            config.training.batch_size / d.replicas,
            config.training.batch_size,
            match d.lr_scaling {
                crate::config::LrScaling::None => "; learning rate not scaled".to_string(),
                crate::config::LrScaling::Linear => format!(
                    "; learning rate scaled linearly × {} (the optimizer above){}",
                    d.replicas,
                    if d.warmup_epochs > 0 {
                        format!(", warmed up over {} epochs", d.warmup_epochs)
                    } else {
                        String::new()
                    }
                ),
            }
        );
    }
    if let (Some(p), Some(stages)) = (&d.pipeline, ctx.stages) {
        pipeline_lines(r, p, stages);
    }
    if let Some(s) = &config.schedule {
        let _ = writeln!(r, "- learning-rate schedule (per {:?}): {:?}", s.unit, s.schedule);
    }
    if config.regularization.is_active() {
        let _ = writeln!(r, "- regularization: {:?}", config.regularization);
    }
    if let Some(a) = &m.accounting {
        let _ = writeln!(r, "- accounting: {a}");
    }
    if let Some(e) = m.resumed_from {
        let _ = writeln!(r, "- resumed from the checkpoint after epoch {e}");
    }
    let _ = writeln!(r, "- device: {}; wall time {:.1} s", m.device, m.seconds);
    if let Some(e) = &m.energy {
        let _ = writeln!(r, "\n## Energy (an estimate)\n");
        let _ = writeln!(r, "| quantity | value |\n|---|---|");
        let _ = writeln!(r, "| wall time | {:.1} s |", e.wall_seconds);
        let _ = writeln!(r, "| CPU time (user + system) | {:.1} s |", e.cpu_seconds());
        let _ = writeln!(r, "| peak memory | {:.0} MB |", e.peak_memory_mb);
        let _ = writeln!(r, "| energy | {:.4} Wh |", e.energy_wh);
        let _ = writeln!(r, "| emissions | {:.4} g CO2e |", e.co2_grams);
        let method = match e.source {
            anneal_train::EnergySource::Rapl => {
                "RAPL package counters (the whole CPU package, other processes included)".to_string()
            }
            anneal_train::EnergySource::CpuModel => format!(
                "no readable RAPL counters: CPU time × {} W per core + wall time × peak memory × {} W/GB (Green Algorithms)",
                e.model.watts_per_core, e.model.watts_per_gb
            ),
        };
        let _ = writeln!(r, "\nSource: {method}; carbon intensity {} g CO2e/kWh.", e.model.grams_co2_per_kwh);
    }

    let _ = writeln!(r, "\n## Training history\n");
    let _ = writeln!(r, "![training curves](curves.png)\n");
    // The validation loss and up to three validation metrics: accuracy and
    // macro-F1 for a classifier, R², RMSE and MAE for a regression.
    let preferred = ["val_loss", "val_accuracy", "val_macro_f1", "val_r2", "val_rmse", "val_mae"];
    let columns: Vec<&str> =
        preferred.into_iter().filter(|c| m.history.iter().any(|h| h.metrics.contains_key(*c))).collect();
    let _ = writeln!(
        r,
        "| epoch | train loss |{}\n|---|---|{}",
        columns.iter().map(|c| format!(" {} |", c.replace('_', " "))).collect::<String>(),
        "---|".repeat(columns.len())
    );
    let n = m.history.len();
    let stride = n.div_ceil(25).max(1);
    for h in &m.history {
        if h.epoch % stride == 0 || h.epoch == 1 || h.epoch == n || h.epoch == m.best_epoch {
            let mark = if h.epoch == m.best_epoch { " (kept)" } else { "" };
            let cells: String = columns.iter().map(|c| format!(" {} |", f(h.metric(c)))).collect();
            let _ = writeln!(r, "| {}{mark} | {:.4} |{cells}", h.epoch, h.train_loss);
        }
    }
}
