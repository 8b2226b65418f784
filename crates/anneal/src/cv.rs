//! `anneal cv`: k-fold cross-validation of a run config, with preprocessing
//! re-fitted inside every fold, folds trained in parallel on a bounded pool, an
//! optional learning curve against training-set size and its bias/variance
//! verdict.
//!
//! The rows cross-validated are the training and validation parts of the
//! config's split (the same seeded split `anneal train` makes), so the test part
//! stays untouched for the final check; set `[split] test = 0` to cross-validate
//! over every row. Inside a fold, when the config has a validation fraction, a
//! stratified share `valid / (train + valid)` of the fold's training rows is held
//! back for early stopping, exactly as `anneal train` holds back its validation
//! rows; cleaning that looks at single rows or whole columns (duplicates, missing
//! cells, sparse columns) runs once on the whole table, as in `anneal train`, and
//! outlier trimming runs on each fold's training rows.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use anneal_data::encode::TargetValues;
use anneal_data::{
    ClassificationData, ColumnKind, CsvOptions, DataError, LabelEncoder, Preprocessor, SplitFractions, Table, holdout,
    stratified_holdout,
};
use anneal_evaluate::curve::{LearningCurve, SizeCurveConfig, size_curve};
use anneal_evaluate::cv::{Coverage, CrossValidation, CvReport, Fold, FoldScores, Scores};
use anneal_evaluate::diagnose::{Diagnosis, DiagnosisConfig, diagnose};
use anneal_evaluate::plot::Figure;
use anneal_train::{Backend, EpochRecord, Evaluation, Progress, Trainer, evaluate};
use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::error::{Error, Result, io};

/// The data of a run config, loaded and cleaned once, ready to be cut into folds.
#[derive(Debug, Clone)]
pub struct CvData {
    /// The cleaned table.
    pub table: Table,
    /// Class code of every table row.
    pub y: Vec<usize>,
    /// Class names in code order.
    pub classes: Vec<String>,
    /// Feature columns.
    pub features: Vec<String>,
    /// Table rows that take part in cross-validation (ascending): the training and
    /// validation parts of the config's split. Folds index this list.
    pub rows: Vec<usize>,
    /// Rows of the config's test part, held out.
    pub held_out: Vec<usize>,
    /// Data row (0-based, in the file) of every table row.
    pub original: Vec<usize>,
    numeric: Vec<String>,
}

/// What one fold's fit produced.
#[derive(Debug, Clone)]
pub struct FoldFit {
    /// The preprocessing fitted on the fold's fit rows.
    pub preprocessor: Preprocessor,
    /// Table rows the preprocessing and the weights were fitted on.
    pub fit_rows: Vec<usize>,
    /// Table rows held back from the fold's training rows for early stopping.
    pub valid_rows: Vec<usize>,
    /// Per-epoch history.
    pub history: Vec<EpochRecord>,
    /// Predictions for the fold's test rows.
    pub test: Evaluation,
    /// Scores on the fit rows (`train`) and on the test rows (`test`):
    /// `accuracy`, `macro_f1`, `log_loss`.
    pub scores: FoldScores,
}

impl CvData {
    /// Loads, cleans and encodes the config's data and makes its seeded split.
    pub fn load(config: &RunConfig) -> Result<Self> {
        config.split.fractions().validate()?;
        let data_path = &config.data.path;
        let csv = CsvOptions { column_kinds: config.data.column_kinds.clone(), ..CsvOptions::default() };
        let raw = Table::read(data_path, &csv)?;
        let unknown_target = |table: &Table| Error::UnknownTarget {
            column: config.data.target.clone(),
            path: data_path.clone(),
            available: table.column_names().join(", "),
        };
        if !raw.column_names().contains(&config.data.target) {
            return Err(unknown_target(&raw));
        }
        let (table, original, cleaning) = config.clean.apply(&raw, std::slice::from_ref(&config.data.target))?;
        if !table.column_names().contains(&config.data.target) {
            return Err(unknown_target(&table));
        }
        let features: Vec<String> = match &config.data.features {
            Some(f) => f.iter().filter(|c| !cleaning.dropped_columns.contains(c)).cloned().collect(),
            None => table
                .column_names()
                .into_iter()
                .filter(|c| *c != config.data.target && !config.data.exclude.contains(c))
                .collect(),
        };
        for f in &features {
            table.kind(f)?;
        }
        let labels = LabelEncoder::fit(&table, &config.data.target)?;
        let y = labels.encode(&table)?;
        let split = if config.split.stratify {
            stratified_holdout(&y, labels.classes(), config.split.fractions(), config.seed)?
        } else {
            holdout(y.len(), config.split.fractions(), config.seed)?
        };
        let mut rows: Vec<usize> = split.train.iter().chain(&split.valid).copied().collect();
        rows.sort_unstable();
        let mut held_out = split.test;
        held_out.sort_unstable();
        let numeric = features
            .iter()
            .filter(|f| !config.preprocess.date_columns.contains(f) && table.kind(f).ok() == Some(ColumnKind::Numeric))
            .cloned()
            .collect();
        Ok(Self { table, y, classes: labels.classes().to_vec(), features, rows, held_out, original, numeric })
    }

    /// Class codes of the cross-validated rows, in [`rows`](Self::rows) order.
    pub fn labels(&self) -> Vec<usize> {
        self.rows.iter().map(|&r| self.y[r]).collect()
    }

    /// Stratified k-fold over the cross-validated rows (positions in
    /// [`rows`](Self::rows)), shuffled with the config's seed.
    pub fn stratified_folds(&self, k: usize, seed: u64) -> Result<Vec<Fold>> {
        Ok(anneal_data::folds::stratified_k_fold(&self.labels(), k, Some(seed))?
            .into_iter()
            .map(|f| Fold { train: f.train, test: f.test })
            .collect())
    }

    /// Fits one fold: `train` and `test` are positions in [`rows`](Self::rows).
    /// Holds back early-stopping rows from `train` when the config has a
    /// validation fraction, trims outliers, fits preprocessing on the remaining
    /// training rows only, trains the config's model, and scores the fit rows and
    /// the test rows.
    pub fn fit_fold(&self, config: &RunConfig, train: &[usize], test: &[usize], backend: Backend) -> Result<FoldFit> {
        let at = |positions: &[usize]| positions.iter().map(|&p| self.rows[p]).collect::<Vec<_>>();
        let (train_rows, test_rows) = (at(train), at(test));
        let (mut fit_rows, valid_rows) = self.hold_back(config, &train_rows)?;
        let kept = config.clean.trim(&self.table.take(&fit_rows)?, &self.numeric)?;
        fit_rows = kept.into_iter().map(|i| fit_rows[i]).collect();

        let y_fit: Vec<usize> = fit_rows.iter().map(|&r| self.y[r]).collect();
        let target = TargetValues::Classes { codes: &y_fit, classes: &self.classes };
        let (preprocessor, m_fit) = config.preprocess.fit_transform_with_target(
            &self.table.take(&fit_rows)?,
            &self.features,
            Some(target),
            config.seed,
        )?;
        let part = |rows: &[usize]| -> Result<ClassificationData> {
            let m = preprocessor.transform(&self.table.take(rows)?)?;
            Ok(ClassificationData::new(m.values, m.n_cols, rows.iter().map(|&r| self.y[r]).collect())?)
        };
        let fit_data = ClassificationData::new(m_fit.values, m_fit.n_cols, y_fit)?;
        let valid_data = if valid_rows.is_empty() { None } else { Some(part(&valid_rows)?) };
        let test_data = part(&test_rows)?;

        let device = backend.device()?;
        let model_config = config.model_config(fit_data.n_features(), self.classes.len());
        let model = model_config.init(config.seed, &device.clone().autodiff())?;
        let mut optimizer = config.optimizer.init()?;
        // The config's loop settings (schedule, clipping, accumulation, penalties,
        // early stopping); a batch larger than a fold's (or a learning-curve
        // subset's) rows becomes one full batch.
        let mut train_config = config.train_config();
        train_config.batch_size = train_config.batch_size.min(fit_data.len());
        let fitted = Trainer::new(train_config, device.clone()).with_progress(Progress::Silent).fit(
            model,
            &mut optimizer,
            &fit_data,
            valid_data.as_ref(),
        )?;
        let test_eval = evaluate(&fitted.model, &test_data, &device, 1024)?;
        let fit_eval = evaluate(&fitted.model, &fit_data, &device, 1024)?;
        let scores = FoldScores {
            train: scores(&fit_eval, &fit_data.targets())?,
            test: scores(&test_eval, &test_data.targets())?,
        };
        Ok(FoldFit { preprocessor, fit_rows, valid_rows, history: fitted.history, test: test_eval, scores })
    }

    /// Splits a fold's training rows into fit rows and early-stopping rows.
    fn hold_back(&self, config: &RunConfig, train_rows: &[usize]) -> Result<(Vec<usize>, Vec<usize>)> {
        let (t, v) = (config.split.train, config.split.valid);
        if v <= 0.0 {
            return Ok((train_rows.to_vec(), Vec::new()));
        }
        let fractions = SplitFractions { train: t / (t + v), valid: v / (t + v), test: 0.0 };
        let labels: Vec<usize> = train_rows.iter().map(|&r| self.y[r]).collect();
        // Small learning-curve subsets can hold a class too rare to stratify: those
        // fall back to a plain seeded hold-out.
        let inner = match config.split.stratify {
            true => match stratified_holdout(&labels, &self.classes, fractions, config.seed) {
                Err(DataError::ClassTooSmall { .. }) => holdout(labels.len(), fractions, config.seed)?,
                other => other?,
            },
            false => holdout(labels.len(), fractions, config.seed)?,
        };
        let pick = |idx: &[usize]| {
            let mut rows: Vec<usize> = idx.iter().map(|&i| train_rows[i]).collect();
            rows.sort_unstable();
            rows
        };
        Ok((pick(&inner.train), pick(&inner.valid)))
    }
}

/// Accuracy, macro-F1 and log loss (mean cross-entropy) of an evaluation.
fn scores(e: &Evaluation, targets: &[usize]) -> Result<Scores> {
    let (accuracy, macro_f1, _) = e.scores(targets)?;
    Ok(Scores::from([
        ("accuracy".to_string(), accuracy),
        ("macro_f1".to_string(), macro_f1),
        ("log_loss".to_string(), e.loss),
    ]))
}

/// How to run `anneal cv`.
#[derive(Debug, Clone)]
pub struct CvOptions {
    /// Number of folds (at least 2).
    pub folds: usize,
    /// Folds trained at once (at least 1).
    pub workers: usize,
    /// The compute backend.
    pub backend: Backend,
    /// Output folder to create (must not exist, or be empty).
    pub out: PathBuf,
    /// Training-set sizes (fractions of each fold's training rows) for a learning
    /// curve and verdict; `None` skips it.
    pub learning_curve: Option<Vec<f64>>,
    /// Thresholds of the verdict.
    pub diagnosis: DiagnosisConfig,
}

/// What `anneal cv` found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CvOutcome {
    /// The config file's data.
    pub data: PathBuf,
    /// Rows cross-validated.
    pub rows: usize,
    /// Rows of the config's test part, left out.
    pub held_out: usize,
    /// Class names in code order.
    pub classes: Vec<String>,
    /// Number of folds.
    pub n_folds: usize,
    /// Backend the folds ran on.
    pub device: Backend,
    /// Per-fold scores and their mean ± std.
    pub report: CvReport,
    /// Epochs each fold ran.
    pub epochs: Vec<usize>,
    /// The learning curve against training-set size, when asked for.
    pub learning_curve: Option<LearningCurve>,
    /// Its verdict.
    pub diagnosis: Option<Diagnosis>,
}

/// Files of a cross-validation folder.
const CV_MARKDOWN: &str = "cv.md";
const CV_JSON: &str = "cv.json";

/// Cross-validates `config` and writes `cv.md`, `cv.json` and the figures into
/// `options.out`.
pub fn cross_validate(config: &RunConfig, options: &CvOptions) -> Result<CvOutcome> {
    config.optimizer.validate()?;
    let start = Instant::now();
    let out = prepare_out(&options.out)?;
    // The device is probed once up front, so a missing GPU driver is one error.
    options.backend.device()?;
    let data = CvData::load(config)?;
    let folds = data.stratified_folds(options.folds, config.seed)?;
    let cv = CrossValidation::new(folds, data.rows.len(), Coverage::Partition)?.with_workers(options.workers)?;

    // Histories by the fold's first test position (test sets are disjoint and non-empty).
    let histories: Mutex<BTreeMap<usize, Vec<EpochRecord>>> = Mutex::new(BTreeMap::new());
    let report = cv.run(|train, test| -> Result<FoldScores> {
        let fit = data.fit_fold(config, train, test, options.backend)?;
        eprintln!(
            "fold with {} test rows: accuracy {:.4}  ({} epochs)",
            test.len(),
            fit.scores.test["accuracy"],
            fit.history.len()
        );
        histories.lock().unwrap_or_else(|e| e.into_inner()).insert(test[0], fit.history);
        Ok(fit.scores)
    })?;
    let histories = histories.into_inner().unwrap_or_else(|e| e.into_inner());
    let ordered: Vec<&Vec<EpochRecord>> = cv.folds().iter().filter_map(|f| histories.get(&f.test[0])).collect();
    let epochs = ordered.iter().map(|h| h.len()).collect();
    if ordered.iter().all(|h| h.iter().all(|r| r.val_loss.is_some())) {
        let train: Vec<Vec<f64>> = ordered.iter().map(|h| h.iter().map(|r| r.train_loss).collect()).collect();
        let valid: Vec<Vec<f64>> =
            ordered.iter().map(|h| h.iter().map(|r| r.val_loss.unwrap_or(f64::NAN)).collect()).collect();
        let curve = LearningCurve::from_histories("cross-entropy loss", false, &train, &valid)?;
        Figure::learning_curve(&curve, None)?
            .with_title("Loss per epoch (mean ± std over folds)")
            .save_png_svg(&out, "epochs")?;
    }

    let (learning_curve, diagnosis) = match &options.learning_curve {
        Some(sizes) => {
            let size_config = SizeCurveConfig {
                sizes: sizes.clone(),
                seed: config.seed,
                metric: "accuracy".into(),
                higher_is_better: true,
            };
            let curve = size_curve(&cv, &size_config, |train, test| -> Result<FoldScores> {
                Ok(data.fit_fold(config, train, test, options.backend)?.scores)
            })?;
            let d = diagnose(&curve, &options.diagnosis)?;
            Figure::learning_curve(&curve, Some(&d))?.save_png_svg(&out, "learning_curve")?;
            (Some(curve), Some(d))
        }
        None => (None, None),
    };

    let outcome = CvOutcome {
        data: config.data.path.clone(),
        rows: data.rows.len(),
        held_out: data.held_out.len(),
        classes: data.classes.clone(),
        n_folds: options.folds,
        device: options.backend,
        report,
        epochs,
        learning_curve,
        diagnosis,
    };
    let json = serde_json::to_string_pretty(&outcome).expect("cv results serialise") + "\n";
    write(&out, CV_JSON, json)?;
    write(&out, CV_MARKDOWN, markdown(config, &outcome, start.elapsed().as_secs_f64()))?;
    Ok(outcome)
}

fn markdown(config: &RunConfig, o: &CvOutcome, seconds: f64) -> String {
    let mut r = String::new();
    let _ = writeln!(r, "# Anneal cross-validation report\n");
    let _ = writeln!(
        r,
        "- data: `{}`, target `{}` ({} classes: {})",
        o.data.display(),
        config.data.target,
        o.classes.len(),
        o.classes.join(", ")
    );
    let _ = writeln!(
        r,
        "- rows: {} cross-validated (the train and validation parts of the seed-{} split); {} test rows held out",
        o.rows, config.seed, o.held_out
    );
    let _ = writeln!(
        r,
        "- {} stratified folds (seed {}), {} at a time on {}; preprocessing re-fitted on each fold's training rows{}",
        o.n_folds,
        config.seed,
        o.report.workers,
        o.device,
        if config.split.valid > 0.0 {
            format!(
                "; {:.0} % of each fold's training rows held back for early stopping",
                100.0 * config.split.valid / (config.split.train + config.split.valid)
            )
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        r,
        "- model: MLP hidden {:?} ({:?}, dropout {}), optimizer {:?}, up to {} epochs (ran: {:?})",
        config.model.hidden,
        config.model.activation,
        config.model.dropout,
        config.optimizer,
        config.training.epochs,
        o.epochs
    );
    let _ = writeln!(r, "- wall time {seconds:.1} s\n");
    let _ = writeln!(r, "## Test scores per fold\n");
    let _ = writeln!(r, "Training columns are scores on the rows each fold was fitted on.\n");
    r += &o.report.to_markdown(4);
    let acc = &o.report.test["accuracy"];
    let _ = writeln!(r, "\nMean accuracy {:.4} ± {:.4} (population std over folds).", acc.mean, acc.std);
    if o.epochs.iter().all(|&e| e > 0) && config.split.valid > 0.0 {
        let _ = writeln!(r, "\n![loss per epoch](epochs.png)");
    }
    if let (Some(curve), Some(d)) = (&o.learning_curve, &o.diagnosis) {
        let _ = writeln!(r, "\n## Learning curve\n\n![learning curve](learning_curve.png)\n");
        let _ = writeln!(r, "**Verdict: {}.** {}\n", d.verdict, d.explanation());
        let _ = writeln!(r, "Rules:\n\n{}", d.config.rules());
        let _ = writeln!(r, "| training rows | training accuracy | validation accuracy |\n|---|---|---|");
        for p in &curve.points {
            let _ = writeln!(
                r,
                "| {:.0} | {:.4} ± {:.4} | {:.4} ± {:.4} |",
                p.x, p.train.mean, p.train.std, p.valid.mean, p.valid.std
            );
        }
    }
    r
}

/// The first `runs/<stem>-cv-<n>` that does not exist yet.
pub fn default_out(config_path: &Path) -> PathBuf {
    let stem = config_path.file_stem().and_then(|s| s.to_str()).unwrap_or("run");
    (1..)
        .map(|n| PathBuf::from("runs").join(format!("{stem}-cv-{n}")))
        .find(|p| !p.exists())
        .expect("an unused name exists")
}

/// Creates `out`, which must not exist or be empty.
pub(crate) fn prepare_out(out: &Path) -> Result<PathBuf> {
    if out.exists() && std::fs::read_dir(out).map_err(io(out))?.next().is_some() {
        return Err(Error::OutExists { path: out.to_path_buf() });
    }
    std::fs::create_dir_all(out).map_err(io(out))?;
    Ok(out.to_path_buf())
}

pub(crate) fn write(dir: &Path, name: &str, contents: String) -> Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, contents).map_err(io(&path))
}
