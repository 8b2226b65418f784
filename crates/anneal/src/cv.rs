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
//!
//! The folds come from one of `anneal-data`'s splitters ([`Splitter`]): stratified
//! k-fold (the default), plain k-fold, group k-fold by a column (rows of one group
//! never straddle folds) and time-series folds by row order (expanding windows).
//! The early-stopping rows held back inside a fold follow the splitter: whole
//! groups for group k-fold, the latest rows for time-series folds.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use anneal_data::{Augmented, DataError, Dataset, SeededRng, SplitFractions, Stream, holdout, stratified_holdout};
use anneal_evaluate::curve::{LearningCurve, SizeCurveConfig, size_curve};
use anneal_evaluate::cv::{Coverage, CrossValidation, CvReport, Fold, FoldScores, Scores};
use anneal_evaluate::diagnose::{Diagnosis, DiagnosisConfig, diagnose};
use anneal_evaluate::plot::Figure;
use anneal_train::{Backend, BuiltinMetric, EpochRecord, Evaluation, Progress, Trainer, evaluate};
use serde::{Deserialize, Serialize};

use crate::config::{RunConfig, Task};
use crate::error::{Error, Result, io};
use crate::pipeline::{Loaded, TargetData};

/// The data of a run config, loaded and cleaned once (through the same
/// [`Loaded`] pipeline as `anneal train`), ready to be cut into folds. It
/// dereferences to the [`Loaded`] data (table, targets, features, data rows).
#[derive(Debug, Clone)]
pub struct CvData {
    loaded: Loaded,
    /// Class names in code order (empty for regression).
    pub classes: Vec<String>,
    /// Table rows that take part in cross-validation (ascending): the training and
    /// validation parts of the config's split. Folds index this list.
    pub rows: Vec<usize>,
    /// Rows of the config's test part, held out.
    pub held_out: Vec<usize>,
    splitter: Splitter,
    /// Group of every table row (group k-fold only; empty otherwise).
    groups: Vec<String>,
}

impl std::ops::Deref for CvData {
    type Target = Loaded;

    fn deref(&self) -> &Loaded {
        &self.loaded
    }
}

/// How `anneal cv` cuts the cross-validated rows into folds, each a splitter of
/// `anneal-data`'s [`folds`](anneal_data::folds) module.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Splitter {
    /// Stratified k-fold, shuffled with the config's seed: every fold keeps the
    /// class proportions (scikit-learn's `StratifiedKFold(shuffle=True)`).
    #[default]
    Stratified,
    /// K-fold of the rows shuffled with the config's seed, blind to the classes
    /// (scikit-learn's `KFold(shuffle=True)`).
    KFold,
    /// Group k-fold: all rows with one value of `column` land in the same fold, so a
    /// group is never both trained and tested on. Groups go, largest first, to the
    /// fold with the fewest rows (scikit-learn's `GroupKFold`); needs at least as
    /// many groups as folds.
    Group {
        /// The column whose values are the groups (numeric or categorical).
        column: String,
    },
    /// Time-series folds by row order: the rows are cut into `folds + 1` blocks;
    /// fold `i` tests block `i + 1` and trains on every earlier row but the last
    /// `gap` (scikit-learn's `TimeSeriesSplit`). The first block is only trained on.
    TimeSeries {
        /// Rows left out between each fold's training rows and its test rows.
        gap: usize,
    },
}

impl Splitter {
    /// The folds' test sets cover every row once, except time-series folds, whose
    /// first block is only ever trained on.
    pub fn coverage(&self) -> Coverage {
        match self {
            Splitter::TimeSeries { .. } => Coverage::Disjoint,
            _ => Coverage::Partition,
        }
    }

    /// The splitter in words, for reports.
    pub fn describe(&self, seed: u64) -> String {
        match self {
            Splitter::Stratified => format!("stratified folds (shuffled, seed {seed})"),
            Splitter::KFold => format!("folds of the shuffled rows (not stratified, seed {seed})"),
            Splitter::Group { column } => {
                format!("group folds by column {} (no group in two folds)", anneal_core::markdown::code(column))
            }
            Splitter::TimeSeries { gap } => {
                format!("time-series folds by row order (expanding window, {gap} rows between training and test rows)")
            }
        }
    }
}

/// What one fold's fit produced.
#[derive(Debug, Clone)]
pub struct FoldFit {
    /// The preprocessing fitted on the fold's fit rows.
    pub features: crate::pipeline::FeatureState,
    /// Table rows the preprocessing and the weights were fitted on.
    pub fit_rows: Vec<usize>,
    /// Table rows held back from the fold's training rows for early stopping.
    pub valid_rows: Vec<usize>,
    /// Per-epoch history.
    pub history: Vec<EpochRecord>,
    /// Predictions for the fold's test rows.
    pub test: Evaluation,
    /// Scores on the fit rows (`train`) and on the test rows (`test`):
    /// `accuracy`, `macro_f1`, `log_loss` for a classification; `r2`, `rmse`,
    /// `mae` for a regression.
    pub scores: FoldScores,
}

impl CvData {
    /// Loads, cleans and encodes the config's data and makes its seeded split.
    pub fn load(config: &RunConfig) -> Result<Self> {
        if config.multitask.is_some() {
            return Err(Error::Setting(
                "[multitask]: anneal cv cross-validates one target for now; train the multi-task run with anneal \
                 train (its report scores each task on the test rows)"
                    .into(),
            ));
        }
        if config.curriculum.is_some() {
            return Err(Error::Setting(
                "[curriculum] ranks a run's training rows; anneal cv does not apply it to its folds yet: leave \
                 [curriculum] out of the config to cross-validate it"
                    .into(),
            ));
        }
        if config.distill.is_some() {
            return Err(Error::Setting(
                "[distill] learns from a teacher run, which was trained on rows that are other folds' test rows: \
                 anneal cv would score the student on what its teacher saw. Leave [distill] out to cross-validate"
                    .into(),
            ));
        }
        if let Some(t) = config.transfer.as_ref().filter(|t| t.from.is_dir())
            && crate::run::same_data_file(&t.from, &config.data.path)?
        {
            return Err(Error::Setting(format!(
                "[transfer] run {} was trained on this data file, on rows that are other folds' test rows: anneal \
                 cv would score what the source saw. Cross-validate from a source trained on other data",
                t.from.display()
            )));
        }
        let loaded = Loaded::load(config)?;
        let split = loaded.split(config)?;
        let mut rows: Vec<usize> = split.train.iter().chain(&split.valid).copied().collect();
        rows.sort_unstable();
        let mut held_out = split.test;
        held_out.sort_unstable();
        let splitter = match loaded.task() {
            Task::Classification => Splitter::Stratified,
            Task::Regression | Task::MultiTask => Splitter::KFold,
        };
        let classes = loaded.target.classes().to_vec();
        let data = Self { loaded, classes, rows, held_out, splitter, groups: Vec::new() };
        // A config that splits by group cross-validates by group too.
        match &config.split.group {
            Some(column) => data.with_splitter(Splitter::Group { column: column.clone() }),
            None => Ok(data),
        }
    }

    /// Cuts folds with `splitter` from now on (the default is
    /// [`Splitter::Stratified`] for a classification, [`Splitter::KFold`] for a
    /// regression, which refuses stratified folds). For group k-fold, reads the
    /// group column: it must exist and have a value in every cross-validated row.
    pub fn with_splitter(mut self, splitter: Splitter) -> Result<Self> {
        if splitter == Splitter::Stratified && self.task() == Task::Regression {
            return Err(Error::Setting(
                "stratified folds need classes, but the target is continuous (regression): use --split k-fold \
                 (or group / time-series)"
                    .into(),
            ));
        }
        self.groups = match &splitter {
            Splitter::Group { column } => {
                let values = self.loaded.table.as_strings(column)?;
                if let Some(&r) = self.rows.iter().find(|&&r| values[r].is_none()) {
                    return Err(Error::MissingGroup { column: column.clone(), row: self.loaded.original[r] });
                }
                values.into_iter().map(Option::unwrap_or_default).collect()
            }
            _ => Vec::new(),
        };
        self.splitter = splitter;
        Ok(self)
    }

    /// The splitter folds are cut with.
    pub fn splitter(&self) -> &Splitter {
        &self.splitter
    }

    /// The number of distinct groups among the cross-validated rows (group k-fold only).
    pub fn n_groups(&self) -> Option<usize> {
        let Splitter::Group { .. } = self.splitter else { return None };
        Some(self.rows.iter().map(|&r| self.group(r)).collect::<std::collections::BTreeSet<_>>().len())
    }

    /// The group of table row `r` (group k-fold only).
    fn group(&self, r: usize) -> &str {
        self.groups.get(r).map_or("", String::as_str)
    }

    /// `k` folds of the cross-validated rows (positions in [`rows`](Self::rows)) cut
    /// by the splitter, shuffled with `seed` where it shuffles, and the coverage
    /// their test sets have.
    pub fn folds(&self, k: usize, seed: u64) -> Result<(Vec<Fold>, Coverage)> {
        let n = self.rows.len();
        let folds = match &self.splitter {
            Splitter::Stratified => anneal_data::folds::stratified_k_fold(&self.labels(), k, Some(seed))?,
            Splitter::KFold => anneal_data::folds::k_fold(n, k, Some(seed))?,
            Splitter::Group { column } => {
                let of_rows: Vec<&str> = self.rows.iter().map(|&r| self.group(r)).collect();
                let distinct = self.n_groups().unwrap_or(0);
                if k >= 2 && distinct < k {
                    return Err(Error::TooFewGroups { column: column.clone(), groups: distinct, folds: k });
                }
                anneal_data::folds::group_k_fold(&of_rows, k)?
            }
            Splitter::TimeSeries { gap } => anneal_data::folds::time_series_split(n, k, *gap)?,
        };
        let folds = folds.into_iter().map(|f| Fold { train: f.train, test: f.test }).collect();
        Ok((folds, self.splitter.coverage()))
    }

    /// Class codes of the cross-validated rows, in [`rows`](Self::rows) order
    /// (empty for a regression).
    pub fn labels(&self) -> Vec<usize> {
        match &self.loaded.target {
            TargetData::Classes { codes, .. } => self.rows.iter().map(|&r| codes[r]).collect(),
            TargetData::Values { .. } | TargetData::Tasks(_) => Vec::new(),
        }
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
        let (fit_rows, valid_rows) = self.hold_back(config, &train_rows)?;
        let fit_rows = self.loaded.trim(config, &fit_rows)?;
        let (fitted, fit_data) = self.loaded.fit(config, &fit_rows)?;
        let valid_data = if valid_rows.is_empty() { None } else { Some(self.loaded.data(&fitted, &valid_rows)?) };
        let test_data = self.loaded.data(&fitted, &test_rows)?;

        let device = backend.device()?;
        let loss = config.loss(self.task())?;
        let model_config =
            config.model_config(fit_data.n_features(), self.loaded.target.n_outputs(), Some(&fitted.features));
        let model = crate::pipeline::init_model(config, &model_config, &device.clone().autodiff())?;
        let mut optimizer = config.optimizer.init()?;
        let augment = crate::pipeline::augmentation(config, &self.loaded, &fit_rows, &fitted, backend)?;
        // The config's loop settings (schedule, clipping, accumulation, penalties,
        // early stopping); a batch larger than a fold's (or a learning-curve
        // subset's) rows becomes one full batch.
        let mut train_config = crate::pipeline::train_config(config, &model_config, &device)?;
        train_config.batch_size = train_config.batch_size.min(fit_data.len());
        // Class weights from this fold's fitting rows when balanced.
        let fitted_model = Trainer::new(train_config, device.clone())
            .with_progress(Progress::Silent)
            .with_objective(crate::pipeline::objective(config, &self.loaded.target, &fit_data)?)
            .fit(
                model,
                &mut optimizer,
                &crate::pipeline::augmented(&augment, None, &fit_data),
                valid_data.as_ref().map(Augmented::plain).as_ref(),
            )?;
        let test_eval = evaluate(&fitted_model.model, &test_data, &loss, &device, 1024)?;
        let fit_eval = evaluate(&fitted_model.model, &fit_data, &loss, &device, 1024)?;
        let scores = FoldScores { train: scores(&fit_eval)?, test: scores(&test_eval)? };
        Ok(FoldFit {
            features: fitted.features,
            fit_rows,
            valid_rows,
            history: fitted_model.history,
            test: test_eval,
            scores,
        })
    }

    /// The error no model can beat on these rows, in the learning curve's error
    /// units (`1 − accuracy`, `1 − R²`), estimated by nearest neighbours on the
    /// preprocessed features of each fold (preprocessing fitted on its training
    /// rows, neighbours of its test rows among them; [`anneal_evaluate::noise`])
    /// and averaged over the folds. At most 4 000 training and 500 test rows of a
    /// fold are used (a seeded sample), which bounds the cost on large files.
    pub fn noise_floor(&self, config: &RunConfig, folds: &[Fold]) -> Result<f64> {
        let sample = |positions: &[usize], cap: usize, stream: Stream| -> Vec<usize> {
            let mut rows: Vec<usize> = positions.iter().map(|&p| self.rows[p]).collect();
            if rows.len() > cap {
                SeededRng::stream(config.seed, stream).shuffle(&mut rows);
                rows.truncate(cap);
                rows.sort_unstable();
            }
            rows
        };
        let mut floors = Vec::with_capacity(folds.len());
        for (i, fold) in folds.iter().enumerate() {
            let fit_rows = sample(&fold.train, 4000, Stream::Named("noise_floor_fit", i as u64));
            let test_rows = sample(&fold.test, 500, Stream::Named("noise_floor_test", i as u64));
            let (fitted, fit_data) = self.loaded.fit(config, &fit_rows)?;
            let test_data = self.loaded.data(&fitted, &test_rows)?;
            let d = fit_data.n_features();
            let floor = match (fit_data.all_targets(), test_data.all_targets()) {
                (anneal_data::Targets::Classes(y_fit), anneal_data::Targets::Classes(y_test)) => {
                    anneal_evaluate::noise::classification_noise_floor(
                        fit_data.features(),
                        &y_fit,
                        test_data.features(),
                        &y_test,
                        d,
                        self.classes.len(),
                    )?
                }
                (fit_targets, test_targets) => {
                    let k = self.loaded.target.n_outputs();
                    let per_target = (0..k)
                        .map(|j| {
                            anneal_evaluate::noise::regression_noise_floor(
                                fit_data.features(),
                                &fit_targets.column(j).unwrap_or_default(),
                                test_data.features(),
                                &test_targets.column(j).unwrap_or_default(),
                                d,
                            )
                        })
                        .collect::<std::result::Result<Vec<f64>, _>>()?;
                    per_target.iter().sum::<f64>() / k.max(1) as f64
                }
            };
            floors.push(floor);
        }
        Ok(floors.iter().sum::<f64>() / floors.len().max(1) as f64)
    }

    /// Splits a fold's training rows into fit rows and early-stopping rows.
    fn hold_back(&self, config: &RunConfig, train_rows: &[usize]) -> Result<(Vec<usize>, Vec<usize>)> {
        let (t, v) = (config.split.train, config.split.valid);
        if v <= 0.0 {
            return Ok((train_rows.to_vec(), Vec::new()));
        }
        let share = v / (t + v);
        match self.splitter {
            Splitter::TimeSeries { .. } => return Ok(hold_back_latest(train_rows, share)),
            Splitter::Group { .. } => {
                if let Some(parts) = hold_back_groups(train_rows, |r| self.group(r), share, config.seed) {
                    return Ok(parts);
                }
            }
            _ => {}
        }
        let fractions = SplitFractions { train: t / (t + v), valid: share, test: 0.0 };
        // Small learning-curve subsets can hold a class too rare to stratify: those
        // fall back to a plain seeded hold-out.
        let n = train_rows.len();
        let inner = match (&self.loaded.target, self.loaded.stratify(config)?) {
            (TargetData::Classes { codes, .. }, true) => {
                let labels: Vec<usize> = train_rows.iter().map(|&r| codes[r]).collect();
                match stratified_holdout(&labels, &self.classes, fractions, config.seed) {
                    Err(DataError::ClassTooSmall { .. }) => holdout(n, fractions, config.seed)?,
                    other => other?,
                }
            }
            _ => holdout(n, fractions, config.seed)?,
        };
        let pick = |idx: &[usize]| {
            let mut rows: Vec<usize> = idx.iter().map(|&i| train_rows[i]).collect();
            rows.sort_unstable();
            rows
        };
        Ok((pick(&inner.train), pick(&inner.valid)))
    }
}

/// The latest `share` of a fold's training rows (ascending table rows) for early
/// stopping, the rest for fitting; at least one row stays to fit on.
fn hold_back_latest(train_rows: &[usize], share: f64) -> (Vec<usize>, Vec<usize>) {
    let n = train_rows.len();
    let valid = ((share * n as f64).round() as usize).min(n.saturating_sub(1));
    let (fit, valid) = train_rows.split_at(n - valid);
    (fit.to_vec(), valid.to_vec())
}

/// Whole groups of a fold's training rows for early stopping, the rest for
/// fitting: groups in a seeded order, each taken while the rows held back are fewer
/// than `share` of the rows and the group would not bring them above half (with
/// few groups the share held back is coarse: up to half the rows). `None` when the
/// rows hold one group: the caller then holds back single rows.
fn hold_back_groups<'a>(
    train_rows: &[usize],
    group: impl Fn(usize) -> &'a str,
    share: f64,
    seed: u64,
) -> Option<(Vec<usize>, Vec<usize>)> {
    let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
    for &r in train_rows {
        *sizes.entry(group(r)).or_default() += 1;
    }
    let mut order: Vec<(&str, usize)> = sizes.into_iter().collect();
    SeededRng::stream(seed, Stream::Named("hold_back_groups", 0)).shuffle(&mut order);
    let (target, half) = (share * train_rows.len() as f64, train_rows.len() / 2);
    let mut held = std::collections::BTreeSet::new();
    let mut rows = 0usize;
    for (g, size) in order {
        if rows as f64 >= target {
            break;
        }
        if rows + size <= half {
            held.insert(g);
            rows += size;
        }
    }
    if held.is_empty() {
        return None;
    }
    Some(train_rows.iter().partition(|&&r| !held.contains(group(r))))
}

/// Accuracy, macro-F1 and log loss (mean cross-entropy) of a classification;
/// the regression metrics (in the target's units) and the mean `loss` (in the
/// units the model trained on) of a regression.
fn scores(e: &Evaluation) -> Result<Scores> {
    if e.targets.classes().is_some() {
        let (accuracy, macro_f1, _) = e.scores()?;
        return Ok(Scores::from([
            ("accuracy".to_string(), accuracy),
            ("macro_f1".to_string(), macro_f1),
            ("log_loss".to_string(), e.loss),
        ]));
    }
    let mut scores: Scores = BuiltinMetric::REGRESSION
        .into_iter()
        .map(|m| Ok((m.key().to_string(), e.metric(&m)?.unwrap_or(f64::NAN))))
        .collect::<Result<_>>()?;
    scores.insert("loss".into(), e.loss);
    Ok(scores)
}

/// The score `anneal cv` leads with: accuracy, or R² for a regression.
fn headline(task: Task) -> &'static str {
    match task {
        Task::Classification => "accuracy",
        Task::Regression | Task::MultiTask => "r2",
    }
}

/// How to run `anneal cv`.
#[derive(Debug, Clone)]
pub struct CvOptions {
    /// Number of folds (at least 2).
    pub folds: usize,
    /// How the folds are cut; `None`: stratified for a classification, k-fold
    /// for a regression.
    pub splitter: Option<Splitter>,
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
    /// Estimate the data's noise floor for the verdict ([`CvData::noise_floor`])
    /// when `diagnosis` has none: the error counts as high above floor + gap
    /// tolerance instead of the fixed `max_error`.
    pub estimate_noise_floor: bool,
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
    /// What the run predicts.
    #[serde(default = "classification")]
    pub task: Task,
    /// Class names in code order (empty for regression).
    pub classes: Vec<String>,
    /// Number of folds.
    pub n_folds: usize,
    /// How the folds were cut.
    #[serde(default)]
    pub splitter: Splitter,
    /// Distinct groups among the cross-validated rows (group k-fold only).
    #[serde(default)]
    pub n_groups: Option<usize>,
    /// Each fold's training and test rows, as 0-based data rows of the file.
    #[serde(default)]
    pub folds: Vec<Fold>,
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

fn classification() -> Task {
    Task::Classification
}

/// Files of a cross-validation folder.
const CV_MARKDOWN: &str = "cv.md";
const CV_JSON: &str = "cv.json";

/// Cross-validates `config` and writes `cv.md`, `cv.json` and the figures into
/// `options.out`.
pub fn cross_validate(config: &RunConfig, options: &CvOptions) -> Result<CvOutcome> {
    // Each fold trains the one model a `[distributed]` config's replicas equal
    // (global batch, scaled learning rate) on one replica: the folds already run
    // in parallel.
    let global = config.global()?;
    let config = &global;
    config.optimizer.validate()?;
    let start = Instant::now();
    let lock = crate::run::claim_out(&options.out)?;
    let out = lock.dir().to_path_buf();
    // The device is probed once up front, so a missing GPU driver is one error.
    options.backend.device()?;
    let mut data = CvData::load(config)?;
    if let Some(splitter) = &options.splitter {
        data = data.with_splitter(splitter.clone())?;
    }
    if let Some(note) = &data.task_note {
        eprintln!("{note}");
    }
    let headline = headline(data.task());
    let (folds, coverage) = data.folds(options.folds, config.seed)?;
    let cv = CrossValidation::new(folds, data.rows.len(), coverage)?.with_workers(options.workers)?;

    // Histories by the fold's first test position (test sets are disjoint and non-empty).
    let histories: Mutex<BTreeMap<usize, Vec<EpochRecord>>> = Mutex::new(BTreeMap::new());
    let report = cv.run(|train, test| -> Result<FoldScores> {
        let fit = data.fit_fold(config, train, test, options.backend)?;
        eprintln!(
            "fold with {} test rows: {headline} {:.4}  ({} epochs)",
            test.len(),
            fit.scores.test[headline],
            fit.history.len()
        );
        histories.lock().unwrap_or_else(|e| e.into_inner()).insert(test[0], fit.history);
        Ok(fit.scores)
    })?;
    let histories = histories.into_inner().unwrap_or_else(|e| e.into_inner());
    let ordered: Vec<&Vec<EpochRecord>> = cv.folds().iter().filter_map(|f| histories.get(&f.test[0])).collect();
    let epochs = ordered.iter().map(|h| h.len()).collect();
    if ordered.iter().all(|h| h.iter().all(|r| r.metric("val_loss").is_some())) {
        let train: Vec<Vec<f64>> = ordered.iter().map(|h| h.iter().map(|r| r.train_loss).collect()).collect();
        let valid: Vec<Vec<f64>> =
            ordered.iter().map(|h| h.iter().map(|r| r.metric("val_loss").unwrap_or(f64::NAN)).collect()).collect();
        let curve =
            LearningCurve::from_histories(&format!("{} loss", config.loss(data.task())?.key()), false, &train, &valid)?;
        Figure::learning_curve(&curve, None)?
            .with_title("Loss per epoch (mean ± std over folds)")
            .save_png_svg(&out, "epochs")?;
    }

    let (learning_curve, diagnosis) = match &options.learning_curve {
        Some(sizes) => {
            let size_config = SizeCurveConfig {
                sizes: sizes.clone(),
                seed: config.seed,
                metric: headline.into(),
                higher_is_better: true,
            };
            let curve = size_curve(&cv, &size_config, |train, test| -> Result<FoldScores> {
                Ok(data.fit_fold(config, train, test, options.backend)?.scores)
            })?;
            let mut diagnosis = options.diagnosis;
            if options.estimate_noise_floor && diagnosis.noise_floor.is_none() {
                diagnosis.noise_floor = Some(data.noise_floor(config, cv.folds())?);
            }
            let d = diagnose(&curve, &diagnosis)?;
            Figure::learning_curve(&curve, Some(&d))?.save_png_svg(&out, "learning_curve")?;
            (Some(curve), Some(d))
        }
        None => (None, None),
    };

    let outcome = CvOutcome {
        data: config.data.path.clone(),
        rows: data.rows.len(),
        held_out: data.held_out.len(),
        task: data.task(),
        classes: data.classes.clone(),
        n_folds: options.folds,
        splitter: data.splitter().clone(),
        n_groups: data.n_groups(),
        folds: cv
            .folds()
            .iter()
            .map(|f| {
                let data_rows = |positions: &[usize]| positions.iter().map(|&p| data.original[data.rows[p]]).collect();
                Fold { train: data_rows(&f.train), test: data_rows(&f.test) }
            })
            .collect(),
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
    match o.task {
        Task::Classification => {
            let _ = writeln!(
                r,
                "- data: {}, target {} ({} classes: {})",
                anneal_core::markdown::code(&o.data.display().to_string()),
                anneal_core::markdown::code(&config.data.target.joined()),
                o.classes.len(),
                crate::run::escaped_list(&o.classes)
            );
        }
        Task::Regression | Task::MultiTask => {
            let _ = writeln!(
                r,
                "- data: {}, regression of {}",
                anneal_core::markdown::code(&o.data.display().to_string()),
                anneal_core::markdown::code(&config.data.target.joined())
            );
        }
    }
    let _ = writeln!(
        r,
        "- rows: {} cross-validated (the train and validation parts of the seed-{} split); {} test rows held out",
        o.rows, config.seed, o.held_out
    );
    let held_back = match o.splitter {
        Splitter::TimeSeries { .. } => " (the latest rows)",
        Splitter::Group { .. } => " (whole groups, up to half the rows)",
        _ => "",
    };
    let _ = writeln!(
        r,
        "- {} {}, {} at a time on {}; preprocessing re-fitted on each fold's training rows{}",
        o.n_folds,
        o.splitter.describe(config.seed),
        o.report.workers,
        o.device,
        if config.split.valid > 0.0 {
            format!(
                "; {:.0} % of each fold's training rows held back for early stopping{held_back}",
                100.0 * config.split.valid / (config.split.train + config.split.valid)
            )
        } else {
            String::new()
        }
    );
    match (&o.splitter, o.n_groups) {
        (Splitter::Group { column }, Some(groups)) => {
            let feature = match &config.data.features {
                Some(f) => f.contains(column),
                None => !config.data.target.names().contains(column) && !config.data.exclude.contains(column),
            };
            let _ = writeln!(
                r,
                "- {groups} groups in column {}{}",
                anneal_core::markdown::code(column),
                if feature {
                    "; the column is also a feature (list it under `[data] exclude` if it only identifies the group)"
                } else {
                    ""
                }
            );
        }
        (Splitter::TimeSeries { .. }, _) => {
            let tested: usize = o.folds.iter().map(|f| f.test.len()).sum();
            let _ = writeln!(r, "- the first {} rows in row order are only trained on", o.rows - tested);
        }
        _ => {}
    }
    let _ = writeln!(
        r,
        "- model: {}, optimizer {:?}, up to {} epochs (ran: {:?})",
        config.model.describe(),
        config.optimizer,
        config.training.epochs,
        o.epochs
    );
    let _ = writeln!(r, "- wall time {seconds:.1} s\n");
    let _ = writeln!(r, "## Test scores per fold\n");
    let _ = writeln!(r, "Training columns are scores on the rows each fold was fitted on.\n");
    r += &o.report.to_markdown(4);
    let name = headline(o.task);
    let acc = &o.report.test[name];
    let _ = writeln!(r, "\nMean {name} {:.4} ± {:.4} (population std over folds).", acc.mean, acc.std);
    if o.epochs.iter().all(|&e| e > 0) && config.split.valid > 0.0 {
        let _ = writeln!(r, "\n![loss per epoch](epochs.png)");
    }
    if let (Some(curve), Some(d)) = (&o.learning_curve, &o.diagnosis) {
        let _ = writeln!(r, "\n## Learning curve\n\n![learning curve](learning_curve.png)\n");
        let _ = writeln!(r, "**Verdict: {}.** {}\n", d.verdict, d.explanation());
        let _ = writeln!(r, "Rules:\n\n{}", d.config.rules());
        let _ = writeln!(r, "| training rows | training {name} | validation {name} |\n|---|---|---|");
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

pub(crate) fn write(dir: &Path, name: &str, contents: String) -> Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, contents).map_err(io(&path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_back_groups_are_whole_and_at_most_half() {
        // Groups a (10 rows), b (30), c (60), interleaved.
        let names = ["a", "b", "c"];
        let group_of: Vec<&str> =
            (0..100).map(|r| names[usize::from(r % 10 >= 1) + usize::from(r % 10 >= 4)]).collect();
        let rows: Vec<usize> = (0..100).collect();
        for seed in 0..20 {
            let (fit, valid) = hold_back_groups(&rows, |r| group_of[r], 0.25, seed).unwrap();
            assert_eq!(fit.len() + valid.len(), 100);
            assert!(!valid.is_empty() && valid.len() <= 50, "seed {seed}: {} rows held back", valid.len());
            assert!(valid.iter().all(|&r| group_of[r] != "c"), "the 60-row group is above half");
            for g in names {
                let held = valid.iter().filter(|&&r| group_of[r] == g).count();
                let total = group_of.iter().filter(|&&x| x == g).count();
                assert!(held == 0 || held == total, "seed {seed}: group {g} split");
            }
        }
        assert_eq!(hold_back_groups(&rows, |_| "one", 0.25, 0), None);
    }

    #[test]
    fn latest_rows_are_held_back() {
        let rows: Vec<usize> = (10..20).collect();
        assert_eq!(hold_back_latest(&rows, 0.3), ((10..17).collect(), (17..20).collect()));
        assert_eq!(hold_back_latest(&[4], 0.9), (vec![4], vec![]));
    }
}
