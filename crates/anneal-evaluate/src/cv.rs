//! Cross-validation over plain row indices: checked folds, a caller's
//! `fit_and_score` closure run once per fold on a bounded pool of worker threads,
//! per-fold scores and their mean ± standard deviation.
//!
//! Nothing here fits a model: the closure gets the fold's training and test rows
//! and does whatever fitting means for it (fit preprocessing on the training rows,
//! train, predict the test rows, compute metrics). That keeps this crate free of
//! tensors and lets any splitter supply the folds — `anneal-data`'s `k_fold`,
//! `stratified_k_fold`, `group_k_fold` and `time_series_split` return values with the
//! same two fields.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::EvalError;

/// Named scores of one fit, e.g. `{"accuracy": 0.97, "log_loss": 0.08}`.
pub type Scores = BTreeMap<String, f64>;

pub use anneal_core::Fold;

/// Which rows the folds' test sets must cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Coverage {
    /// Every row is a test row of exactly one fold (k-fold and its stratified and
    /// group variants): each row is scored exactly once.
    #[default]
    Partition,
    /// Test sets are disjoint but need not cover every row (time-series splits,
    /// whose first block is only ever trained on).
    Disjoint,
}

/// What the closure returns for one fold: scores on the test rows and, optionally,
/// on the training rows (learning curves need both).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FoldScores {
    /// Scores on the fold's training rows (may be empty).
    pub train: Scores,
    /// Scores on the fold's test rows.
    pub test: Scores,
}

impl FoldScores {
    /// Test scores only.
    pub fn test(test: Scores) -> Self {
        Self { train: Scores::new(), test }
    }
}

/// Mean, standard deviation and range of one metric over folds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Arithmetic mean.
    pub mean: f64,
    /// Population standard deviation (divisor n, NumPy's default `ddof=0`, which is
    /// what `scores.std()` gives for scikit-learn's `cross_val_score`).
    pub std: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Number of values.
    pub n: usize,
}

impl Summary {
    /// The summary of `values` (NaN fields when there are none). Two passes, so the
    /// deviation stays accurate for values far from zero.
    pub fn of(values: &[f64]) -> Self {
        let n = values.len();
        if n == 0 {
            return Self { mean: f64::NAN, std: f64::NAN, min: f64::NAN, max: f64::NAN, n };
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Self { mean, std: var.sqrt(), min, max, n }
    }
}

/// The outcome of one fold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldResult {
    /// The fold (0-based).
    pub fold: usize,
    /// Rows fitted on.
    pub n_train: usize,
    /// Rows scored.
    pub n_test: usize,
    /// Scores on the training rows, when the closure reported them.
    pub train: Scores,
    /// Scores on the test rows.
    pub test: Scores,
    /// Wall-clock seconds of the fold's `fit_and_score`.
    pub seconds: f64,
}

/// Per-fold scores and their summaries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CvReport {
    /// One entry per fold, in fold order.
    pub folds: Vec<FoldResult>,
    /// Test-score summary per metric (over the folds that reported it).
    pub test: BTreeMap<String, Summary>,
    /// Training-score summary per metric.
    pub train: BTreeMap<String, Summary>,
    /// Worker threads used.
    pub workers: usize,
    /// Wall-clock seconds of the whole cross-validation.
    pub seconds: f64,
}

impl CvReport {
    fn new(folds: Vec<FoldResult>, workers: usize, seconds: f64) -> Self {
        let summarise = |part: fn(&FoldResult) -> &Scores| {
            let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            for f in &folds {
                for (k, v) in part(f) {
                    values.entry(k.clone()).or_default().push(*v);
                }
            }
            values.into_iter().map(|(k, v)| (k, Summary::of(&v))).collect()
        };
        let test = summarise(|f| &f.test);
        let train = summarise(|f| &f.train);
        Self { folds, test, train, workers, seconds }
    }

    /// A Markdown table: one row per fold with every test metric, then mean ± std
    /// (and, when the folds reported training scores, the same for those), values
    /// with `digits` decimals.
    pub fn to_markdown(&self, digits: usize) -> String {
        let mut s = String::new();
        let test: Vec<&String> = self.test.keys().collect();
        let train: Vec<&String> = self.train.keys().collect();
        let header: Vec<String> =
            test.iter().map(|m| m.to_string()).chain(train.iter().map(|m| format!("train {m}"))).collect();
        let _ = writeln!(s, "| fold | train rows | test rows | {} |", header.join(" | "));
        let _ = writeln!(s, "|---|---|---|{}", "---|".repeat(header.len()));
        let cell = |x: Option<&f64>| x.map_or("–".to_string(), |v| format!("{v:.digits$}"));
        for f in &self.folds {
            let cells: Vec<String> =
                test.iter().map(|m| cell(f.test.get(*m))).chain(train.iter().map(|m| cell(f.train.get(*m)))).collect();
            let _ = writeln!(s, "| {} | {} | {} | {} |", f.fold + 1, f.n_train, f.n_test, cells.join(" | "));
        }
        let mean: Vec<String> = test
            .iter()
            .map(|m| &self.test[*m])
            .chain(train.iter().map(|m| &self.train[*m]))
            .map(|x| format!("{:.digits$} ± {:.digits$}", x.mean, x.std))
            .collect();
        let _ = writeln!(s, "| **mean ± std** | | | {} |", mean.join(" | "));
        s
    }
}

/// Checked folds over `n_rows` rows, ready to run.
///
/// ```
/// use anneal_evaluate::cv::{Coverage, CrossValidation, Fold, FoldScores, Scores};
/// use anneal_evaluate::{EvalError, accuracy};
///
/// // Six rows, label = row parity; a "model" that predicts the majority label of its
/// // training rows.
/// let y = [0, 1, 0, 1, 0, 1];
/// let folds = vec![
///     Fold { train: vec![2, 3, 4, 5], test: vec![0, 1] },
///     Fold { train: vec![0, 1, 4, 5], test: vec![2, 3] },
///     Fold { train: vec![0, 1, 2, 3], test: vec![4, 5] },
/// ];
/// let cv = CrossValidation::new(folds, y.len(), Coverage::Partition)?.with_workers(2)?;
/// let report = cv.run(|train, test| {
///     let ones = train.iter().filter(|&&r| y[r] == 1).count();
///     let guess = usize::from(2 * ones > train.len());
///     let truth: Vec<usize> = test.iter().map(|&r| y[r]).collect();
///     let acc = accuracy(&truth, &vec![guess; test.len()])?;
///     Ok::<_, EvalError>(FoldScores::test(Scores::from([("accuracy".into(), acc)])))
/// })?;
/// assert_eq!(report.folds.len(), 3);
/// assert_eq!(report.test["accuracy"].mean, 0.5);
/// # Ok::<(), EvalError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CrossValidation {
    folds: Vec<Fold>,
    n_rows: usize,
    workers: usize,
}

impl CrossValidation {
    /// Checks `folds` over rows `0..n_rows`: at least one fold; in every fold
    /// non-empty training and test rows, all below `n_rows`, none named twice and
    /// none in both parts; test sets of different folds disjoint; with
    /// [`Coverage::Partition`], every row tested by some fold. Runs on one worker
    /// until [`with_workers`](Self::with_workers) says otherwise.
    pub fn new(folds: Vec<Fold>, n_rows: usize, coverage: Coverage) -> Result<Self, EvalError> {
        check_folds(&folds, n_rows, coverage)?;
        Ok(Self { folds, n_rows, workers: 1 })
    }

    /// Runs up to `workers` folds at once (at least 1).
    pub fn with_workers(mut self, workers: usize) -> Result<Self, EvalError> {
        if workers == 0 {
            return Err(EvalError::invalid("workers", 0, "at least 1"));
        }
        self.workers = workers;
        Ok(self)
    }

    /// The folds.
    pub fn folds(&self) -> &[Fold] {
        &self.folds
    }

    /// The number of rows the folds index.
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// The number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Calls `fit_and_score(train_rows, test_rows)` once per fold, up to
    /// `workers` folds at a time on a thread pool of its own (so work the closure
    /// parallelises with rayon stays within the bound too), and summarises the
    /// scores. Results are in fold order whatever order the folds finish in; when
    /// folds fail, the error of the lowest-numbered failing fold is returned.
    pub fn run<E, F>(&self, fit_and_score: F) -> Result<CvReport, E>
    where
        F: Fn(&[usize], &[usize]) -> Result<FoldScores, E> + Sync,
        E: From<EvalError> + Send,
    {
        let start = Instant::now();
        let jobs: Vec<(&[usize], &[usize])> = self.folds.iter().map(|f| (&f.train[..], &f.test[..])).collect();
        let outcomes = run_jobs(self.workers, &jobs, &fit_and_score)?;
        let folds = outcomes
            .into_iter()
            .enumerate()
            .map(|(fold, (scores, seconds))| FoldResult {
                fold,
                n_train: self.folds[fold].train.len(),
                n_test: self.folds[fold].test.len(),
                train: scores.train,
                test: scores.test,
                seconds,
            })
            .collect();
        Ok(CvReport::new(folds, self.workers, start.elapsed().as_secs_f64()))
    }
}

/// Runs `(train, test)` jobs on a pool of `workers` threads, in job order; the
/// first failing job's error wins.
pub(crate) fn run_jobs<E, F>(
    workers: usize,
    jobs: &[(&[usize], &[usize])],
    fit_and_score: &F,
) -> Result<Vec<(FoldScores, f64)>, E>
where
    F: Fn(&[usize], &[usize]) -> Result<FoldScores, E> + Sync,
    E: From<EvalError> + Send,
{
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .thread_name(|i| format!("anneal-cv-{i}"))
        .build()
        .map_err(|e| EvalError::ThreadPool { workers, message: e.to_string() })?;
    let outcomes: Vec<Result<(FoldScores, f64), E>> = pool.install(|| {
        jobs.par_iter()
            .with_max_len(1)
            .map(|&(train, test)| {
                let start = Instant::now();
                fit_and_score(train, test).map(|s| (s, start.elapsed().as_secs_f64()))
            })
            .collect()
    });
    outcomes.into_iter().collect()
}

/// The checks of [`CrossValidation::new`], for callers that hold folds of their own.
pub fn check_folds(folds: &[Fold], n_rows: usize, coverage: Coverage) -> Result<(), EvalError> {
    if folds.is_empty() {
        return Err(EvalError::NoFolds);
    }
    // tested_by[row]: the fold testing it; in_fold[row]: the last fold naming it
    // (as train: 2f+1, as test: 2f+2), so repeats are found without a set per fold.
    const NONE: usize = usize::MAX;
    let mut tested_by = vec![NONE; n_rows];
    let mut seen = vec![0usize; n_rows];
    for (f, fold) in folds.iter().enumerate() {
        for (part, rows) in [("train", &fold.train), ("test", &fold.test)] {
            if rows.is_empty() {
                return Err(EvalError::EmptyFold { fold: f, part });
            }
            if let Some(&row) = rows.iter().find(|&&r| r >= n_rows) {
                return Err(EvalError::FoldRowOutOfRange { fold: f, part, row, n_rows });
            }
        }
        let (as_train, as_test) = (2 * f + 1, 2 * f + 2);
        for &row in &fold.train {
            if seen[row] == as_train {
                return Err(EvalError::FoldRowRepeated { fold: f, row, parts: "train twice" });
            }
            seen[row] = as_train;
        }
        for &row in &fold.test {
            if seen[row] == as_train {
                return Err(EvalError::FoldRowRepeated { fold: f, row, parts: "train and test" });
            }
            if seen[row] == as_test {
                return Err(EvalError::FoldRowRepeated { fold: f, row, parts: "test twice" });
            }
            seen[row] = as_test;
            if tested_by[row] != NONE {
                return Err(EvalError::FoldsOverlap { row, first: tested_by[row], second: f });
            }
            tested_by[row] = f;
        }
    }
    if coverage == Coverage::Partition {
        let missing = tested_by.iter().filter(|&&f| f == NONE).count();
        if let Some(row) = tested_by.iter().position(|&f| f == NONE) {
            return Err(EvalError::RowNotTested { row, missing });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_is_population_std() {
        let s = Summary::of(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(s.mean, 2.5);
        assert!((s.std - 1.25f64.sqrt()).abs() < 1e-15);
        assert_eq!((s.min, s.max, s.n), (1.0, 4.0, 4));
        assert!(Summary::of(&[]).mean.is_nan());
    }

    #[test]
    fn train_repeated_in_test_of_same_fold() {
        let folds = [Fold { train: vec![0, 1], test: vec![1] }];
        assert_eq!(
            check_folds(&folds, 2, Coverage::Disjoint),
            Err(EvalError::FoldRowRepeated { fold: 0, row: 1, parts: "train and test" })
        );
    }
}
