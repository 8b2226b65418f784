//! The whole job: `anneal train` (data → split → preprocessing fitted on train →
//! model → training → test metrics → run folder) and `anneal predict`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anneal_data::clean::CleanReport;
use anneal_data::encode::TargetValues;
use anneal_data::{
    ClassificationData, ColumnKind, CsvOptions, LabelEncoder, Preprocessor, Split, Table, holdout, stratified_holdout,
};
use anneal_evaluate::ConfusionMatrix;
use anneal_models::{Mlp, MlpConfig};
use anneal_train::energy::{EnergyMeter, EnergyReport};
use anneal_train::history::JSONL;
use anneal_train::{
    Accounting, Backend, EpochRecord, HistoryWriter, LrFindConfig, LrFindResult, Progress, Trainer, evaluate,
};
use burn::module::Module;
use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::error::{Error, Result, io};

/// Files of a run folder.
const CONFIG: &str = "config.toml";
const PREPROCESSING: &str = "preprocessing.json";
const MODEL_CONFIG: &str = "model.json";
const WEIGHTS: &str = "model.bpk";
const METRICS: &str = "metrics.json";
const TEST_PREDICTIONS: &str = "test_predictions.csv";
const SPLIT: &str = "split.json";
const REPORT: &str = "report.md";
const CHECKPOINT: &str = "checkpoint";
const RUN_INFO: &str = "run.json";

/// What a run folder records about how it was run, beside its config: the backend, so
/// that `anneal train --resume` continues on the same one.
#[derive(Debug, Serialize, Deserialize)]
struct RunInfo {
    device: Backend,
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
}

/// Test-set metrics of a run, as written under `"test"` in `metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestMetrics {
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

/// Everything `metrics.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMetrics {
    /// Class names in code order.
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
}

/// What the run folder keeps to re-apply preprocessing.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SavedPreprocessing {
    labels: LabelEncoder,
    column_kinds: BTreeMap<String, ColumnKind>,
    preprocessor: Preprocessor,
}

/// The data of a job, prepared as `anneal train` prepares it: cleaned, split
/// (seeded), preprocessed with statistics of the training rows only.
pub struct Prepared {
    /// The table after cleaning.
    pub table: Table,
    /// Each kept row's row in the data file.
    pub original: Vec<usize>,
    /// What cleaning removed.
    pub cleaning: CleanReport,
    /// Feature columns.
    pub features: Vec<String>,
    /// The class labels.
    pub labels: LabelEncoder,
    /// Rows (of `table`) of each part.
    pub split: Split,
    /// The fitted preprocessing.
    pub preprocessor: Preprocessor,
    /// Training rows as tensors-to-be.
    pub train: ClassificationData,
    /// Validation rows.
    pub valid: ClassificationData,
    /// Test rows.
    pub test: ClassificationData,
}

/// Loads, cleans, splits and preprocesses the data of `config`.
pub fn prepare(config: &RunConfig) -> Result<Prepared> {
    let data_path = &config.data.path;
    let csv = CsvOptions { column_kinds: config.data.column_kinds.clone(), ..CsvOptions::default() };
    let raw = Table::read(data_path, &csv)?;
    if !raw.column_names().contains(&config.data.target) {
        return Err(Error::UnknownTarget {
            column: config.data.target.clone(),
            path: data_path.clone(),
            available: raw.column_names().join(", "),
        });
    }
    // Whole-table cleaning; `original` maps each kept row to its data row.
    let (table, original, mut cleaning) = config.clean.apply(&raw, std::slice::from_ref(&config.data.target))?;
    let columns = table.column_names();
    if !columns.contains(&config.data.target) {
        return Err(Error::UnknownTarget {
            column: config.data.target.clone(),
            path: data_path.clone(),
            available: columns.join(", "),
        });
    }
    let features: Vec<String> = match &config.data.features {
        Some(f) => f.iter().filter(|c| !cleaning.dropped_columns.contains(c)).cloned().collect(),
        None => {
            columns.iter().filter(|c| **c != config.data.target && !config.data.exclude.contains(c)).cloned().collect()
        }
    };
    for f in features.iter().chain(&config.data.exclude) {
        if !cleaning.dropped_columns.contains(f) {
            table.kind(f)?;
        }
    }
    let labels = LabelEncoder::fit(&table, &config.data.target)?;
    let y = labels.encode(&table)?;
    let mut split = if config.split.stratify {
        stratified_holdout(&y, labels.classes(), config.split.fractions(), config.seed)?
    } else {
        holdout(y.len(), config.split.fractions(), config.seed)?
    };

    // Outliers are trimmed from the training rows only, with fences fitted on them.
    let numeric: Vec<String> = features
        .iter()
        .filter(|f| !config.preprocess.date_columns.contains(f) && table.kind(f).ok() == Some(ColumnKind::Numeric))
        .cloned()
        .collect();
    let kept = config.clean.trim(&table.take(&split.train)?, &numeric)?;
    cleaning.outliers_trimmed = split.train.len() - kept.len();
    split.train = kept.into_iter().map(|i| split.train[i]).collect();

    // Preprocessing is fitted on the training rows only; target encodings of the
    // training rows are cross-fitted.
    let train_table = table.take(&split.train)?;
    let y_train: Vec<usize> = split.train.iter().map(|&i| y[i]).collect();
    let target = TargetValues::Classes { codes: &y_train, classes: labels.classes() };
    let (preprocessor, m_train) =
        config.preprocess.fit_transform_with_target(&train_table, &features, Some(target), config.seed)?;
    let part = |rows: &[usize]| -> Result<ClassificationData> {
        let m = preprocessor.transform(&table.take(rows)?)?;
        Ok(ClassificationData::new(m.values, m.n_cols, rows.iter().map(|&i| y[i]).collect())?)
    };
    let train = ClassificationData::new(m_train.values, m_train.n_cols, y_train)?;
    let (valid, test) = (part(&split.valid)?, part(&split.test)?);
    Ok(Prepared { table, original, cleaning, features, labels, split, preprocessor, train, valid, test })
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
    hook: &mut dyn anneal_train::TrainHook,
) -> Result<RunMetrics> {
    let meter = EnergyMeter::start(config.energy);
    let start = Instant::now();
    // Settings first: a bad learning rate should not wait for the data to load.
    config.optimizer.validate()?;
    config.split.fractions().validate()?;
    let train_config = config.train_config();
    if let Some(c) = &train_config.gradient_clipping {
        c.validate()?;
    }
    train_config.regularization.validate().map_err(anneal_train::TrainError::from)?;
    let out = if options.resume {
        check_resumable(&options.out)?;
        options.out.clone()
    } else {
        prepare_out(&options.out)?
    };
    let device = options.backend.device()?;
    let data = prepare(config)?;
    if !options.resume {
        let as_used = toml::to_string_pretty(config).expect("a loaded config serialises");
        write(&out, CONFIG, as_used)?;
        write(&out, RUN_INFO, to_json(&RunInfo { device: options.backend }))?;
    }

    let model_config = config.model_config(data.train.n_features(), data.labels.classes().len());
    let model = model_config.init(config.seed, &device.clone().autodiff())?;
    let mut optimizer = config.optimizer.init()?;
    let mut history = HistoryWriter::new(&out);
    let fitted = Trainer::new(train_config, device.clone())
        .with_progress(options.progress)
        .with_checkpoints(out.join(CHECKPOINT))
        .resuming(options.resume)
        .with_hook(&mut history)
        .with_hook(hook)
        .fit(model, &mut optimizer, &data.train, Some(&data.valid))?;
    if let Some(e) = history.error() {
        return Err(Error::Train(anneal_train::TrainError::Output { path: out.join(JSONL), message: e.to_string() }));
    }

    let Prepared { table, original, cleaning, features, labels, split, preprocessor, test: test_data, .. } = data;
    let test_eval = if test_data.is_empty() { None } else { Some(evaluate(&fitted.model, &test_data, &device, 1024)?) };
    let (accuracy, macro_f1, cm, loss) = match &test_eval {
        Some(e) => {
            let (a, f, cm) = e.scores(&test_data.targets())?;
            (a, f, cm, e.loss)
        }
        None => (f64::NAN, f64::NAN, anneal_evaluate::confusion_matrix(&[0], &[0], 1)?, f64::NAN),
    };
    let mut metrics = RunMetrics {
        classes: labels.classes().to_vec(),
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
        test: TestMetrics { accuracy, macro_f1, loss, rows: split.test.len(), confusion_matrix: cm.counts().to_vec() },
    };

    // The run folder.
    let kinds = features.iter().map(|f| Ok((f.clone(), table.kind(f)?))).collect::<Result<_>>()?;
    let saved = SavedPreprocessing { labels: labels.clone(), column_kinds: kinds, preprocessor };
    write(&out, PREPROCESSING, to_json(&saved))?;
    write(&out, MODEL_CONFIG, to_json(&model_config))?;
    // Row numbers in the run folder are data rows of the file, before cleaning.
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
    if let Some(e) = &test_eval {
        write(
            &out,
            TEST_PREDICTIONS,
            predictions_csv(&data_rows.test, labels.classes(), e, Some(&test_data.targets())),
        )?;
    }
    // Figures of the test rows, drawn as `anneal eval` draws them.
    let figures = match &test_eval {
        Some(e) => {
            let proba: Vec<f64> = e.probabilities.iter().map(|&p| f64::from(p)).collect();
            Some(crate::eval::write_figures(&out, &cm, &test_data.targets(), &proba, labels.classes())?)
        }
        None => None,
    };
    anneal_train::history::write_history(&out, &metrics.history)?;
    anneal_train::history::plot_curves(&out, &metrics.history, Some(metrics.best_epoch))?;
    metrics.seconds = start.elapsed().as_secs_f64();
    metrics.energy = Some(meter.finish());
    write(&out, METRICS, to_json(&metrics))?;
    write(&out, REPORT, report(config, &table, &features, &saved, &model_config, &metrics, (&cm, figures.as_ref())))?;
    Ok(metrics)
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
    let out = prepare_out(&options.out)?;
    let device = options.backend.device()?;
    let data = prepare(config)?;
    let model = config
        .model_config(data.train.n_features(), data.labels.classes().len())
        .init(config.seed, &device.autodiff())?;
    let result = anneal_train::lr_find(model, &config.optimizer, &data.train, &lr_config)?;
    anneal_train::lr_find::plot_lr_find(&result, &out.join("lr_find"))?;
    write(&out, "lr_find.json", to_json(&result))?;
    Ok(result)
}

/// Predictions for new rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    /// Class names in code order.
    pub classes: Vec<String>,
    /// The evaluation (predicted codes and probabilities).
    pub evaluation: anneal_train::Evaluation,
}

impl Predictions {
    /// The predictions as CSV: `row,predicted,p_<class>...` (row is the 0-based data row).
    pub fn to_csv(&self) -> String {
        let rows: Vec<usize> = (0..self.evaluation.predictions.len()).collect();
        predictions_csv(&rows, &self.classes, &self.evaluation, None)
    }
}

/// Applies a finished run's preprocessing and model to the rows of `input`.
pub fn predict(run: &Path, input: &Path, backend: Backend) -> Result<Predictions> {
    for file in [PREPROCESSING, MODEL_CONFIG, WEIGHTS] {
        if !run.join(file).is_file() {
            return Err(Error::NotARun { path: run.to_path_buf(), missing: file });
        }
    }
    let saved: SavedPreprocessing = from_json(&run.join(PREPROCESSING))?;
    let model_config: MlpConfig = from_json(&run.join(MODEL_CONFIG))?;
    let device = backend.device()?;
    let csv = CsvOptions { column_kinds: saved.column_kinds.clone(), ..CsvOptions::default() };
    let table = Table::read(input, &csv)?;
    let x = saved.preprocessor.transform(&table)?;
    let weights = run.join(WEIGHTS);
    let model: Mlp = model_config
        .init(0, &device)?
        .try_load_file(&weights)
        .map_err(|e| Error::ModelFile { path: weights.clone(), message: e.to_string() })?;
    // Targets are unknown for new rows; class 0 stands in so the batcher has a column.
    let data = ClassificationData::new(x.values, x.n_cols, vec![0; x.n_rows])?;
    let evaluation = evaluate(&model, &data, &device, 1024)?;
    Ok(Predictions { classes: saved.labels.classes().to_vec(), evaluation })
}

fn prepare_out(out: &Path) -> Result<PathBuf> {
    if out.exists() && std::fs::read_dir(out).map_err(io(out))?.next().is_some() {
        return Err(Error::OutExists { path: out.to_path_buf() });
    }
    std::fs::create_dir_all(out).map_err(io(out))?;
    Ok(out.to_path_buf())
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

fn write(dir: &Path, name: &str, contents: String) -> Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, contents).map_err(io(&path))
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).expect("run files always serialise") + "\n"
}

fn from_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    serde_json::from_str(&text).map_err(|e| Error::Config { path: path.to_path_buf(), message: e.to_string() })
}

fn predictions_csv(
    rows: &[usize],
    classes: &[String],
    e: &anneal_train::Evaluation,
    truth: Option<&[usize]>,
) -> String {
    let mut s = String::from("row");
    if truth.is_some() {
        s += ",true";
    }
    s += ",predicted";
    for c in classes {
        let _ = write!(s, ",p_{c}");
    }
    s.push('\n');
    for (i, row) in rows.iter().enumerate() {
        let _ = write!(s, "{row}");
        if let Some(t) = truth {
            let _ = write!(s, ",{}", classes[t[i]]);
        }
        let _ = write!(s, ",{}", classes[e.predictions[i]]);
        for p in &e.probabilities[i * e.n_classes..(i + 1) * e.n_classes] {
            let _ = write!(s, ",{p:.6}");
        }
        s.push('\n');
    }
    s
}

/// How a unit-like config value is spelled in TOML (`month_cyclical`, `one_hot`).
fn config_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".into(),
    }
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
        let date_parts = p.date_parts.iter().map(config_name).collect::<Vec<_>>().join(", ");
        parts.push(format!("dates ({}): {date_parts}", p.date_columns.join(", ")));
    }
    let mut encodings = vec![config_name(&p.encoding)];
    encodings.extend(p.encoders.iter().map(|(c, e)| format!("{} for {c}", config_name(e))));
    parts.push(format!(
        "categorical: most-frequent imputation, {} (one-hot unknown categories: {})",
        encodings.join(", "),
        config_name(&p.one_hot.unknown)
    ));
    if let Some(pca) = p.pca {
        parts.push(format!("then PCA ({:?}{})", pca.components, if pca.whiten { ", whitened" } else { "" }));
    }
    parts.join("; ")
}

fn report(
    config: &RunConfig,
    table: &Table,
    features: &[String],
    saved: &SavedPreprocessing,
    model: &MlpConfig,
    m: &RunMetrics,
    (cm, figures): (&ConfusionMatrix, Option<&crate::eval::Figures>),
) -> String {
    let classes = saved.labels.classes();
    let mut r = String::new();
    let f = |x: Option<f64>| x.map_or("–".to_string(), |v| format!("{v:.4}"));
    let _ = writeln!(r, "# Anneal run report\n");
    let _ = writeln!(r, "## Test metrics\n");
    let _ = writeln!(r, "| metric | value |\n|---|---|");
    let _ = writeln!(r, "| accuracy | {:.4} |", m.test.accuracy);
    let _ = writeln!(r, "| macro-F1 | {:.4} |", m.test.macro_f1);
    let _ = writeln!(r, "| cross-entropy | {:.4} |", m.test.loss);
    let _ = writeln!(r, "| test rows | {} |\n", m.test.rows);
    let _ = writeln!(r, "Held out before preprocessing was fitted and never used for training or early stopping.\n");

    let _ = writeln!(r, "### Confusion matrix (rows: true class, columns: predicted)\n");
    let _ = writeln!(r, "| | {} |", classes.join(" | "));
    let _ = writeln!(r, "|---|{}", "---|".repeat(classes.len()));
    for (c, row) in cm.counts().iter().enumerate() {
        let cells: Vec<String> = row.iter().map(u64::to_string).collect();
        let _ = writeln!(r, "| **{}** | {} |", classes.get(c).map_or("?", String::as_str), cells.join(" | "));
    }
    let _ = writeln!(r, "\n### Per class\n\n| class | precision | recall | F1 | support |\n|---|---|---|---|---|");
    for (c, s) in cm.per_class().iter().enumerate() {
        let _ = writeln!(r, "| {} | {:.4} | {:.4} | {:.4} | {} |", classes[c], s.precision, s.recall, s.f1, s.support);
    }

    if let Some(figures) = figures {
        let _ = writeln!(r, "\n### Figures of the test rows\n");
        r += figures.markdown("####").trim_end();
        r.push('\n');
    }

    let _ = writeln!(r, "\n## Run\n");
    let _ = writeln!(
        r,
        "- data: `{}` ({} rows, {} columns)",
        config.data.path.display(),
        table.n_rows(),
        table.column_names().len()
    );
    if config.clean != anneal_data::clean::CleanConfig::default() {
        let c = &m.cleaning;
        let dropped = if c.dropped_columns.is_empty() { "none".to_string() } else { c.dropped_columns.join(", ") };
        let _ = writeln!(
            r,
            "- cleaning: {} duplicate rows and {} rows with missing cells removed before the split; \
             columns dropped as too sparse: {dropped}; {} training rows trimmed as outliers",
            c.duplicates_removed, c.missing_removed, c.outliers_trimmed
        );
    }
    let _ = writeln!(r, "- target: `{}` ({} classes: {})", config.data.target, classes.len(), classes.join(", "));
    let _ = writeln!(
        r,
        "- split (seed {}, {}): {} train / {} validation / {} test",
        m.seed,
        if config.split.stratify { "stratified" } else { "random" },
        m.split["train"],
        m.split["valid"],
        m.split["test"]
    );
    let _ = writeln!(
        r,
        "- features ({} columns → {} after preprocessing): {}",
        features.len(),
        model.input,
        features.join(", ")
    );
    let _ = writeln!(
        r,
        "- preprocessing (fitted on the training rows only): {}",
        describe_preprocessing(&config.preprocess)
    );
    let sizes: Vec<String> = std::iter::once(model.input)
        .chain(model.hidden.iter().copied())
        .chain([model.output])
        .map(|n| n.to_string())
        .collect();
    let _ = writeln!(r, "- model: MLP {} ({:?}, dropout {})", sizes.join("-"), model.activation, model.dropout);
    let _ = writeln!(r, "- optimizer: {:?}", config.optimizer);
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
    let _ = writeln!(r, "| epoch | train loss | val loss | val accuracy | val macro-F1 |\n|---|---|---|---|---|");
    let n = m.history.len();
    let stride = n.div_ceil(25).max(1);
    for h in &m.history {
        if h.epoch % stride == 0 || h.epoch == 1 || h.epoch == n || h.epoch == m.best_epoch {
            let mark = if h.epoch == m.best_epoch { " (kept)" } else { "" };
            let _ = writeln!(
                r,
                "| {}{mark} | {:.4} | {} | {} | {} |",
                h.epoch,
                h.train_loss,
                f(h.val_loss),
                f(h.val_accuracy),
                f(h.val_macro_f1)
            );
        }
    }
    r
}
