//! Learning curves: a metric on the training and validation rows against the
//! epoch (from training histories) or against the size of the training set
//! (cross-validated at each size), as mean ± standard deviation over folds.

use anneal_core::{SeededRng, Stream};
use serde::{Deserialize, Serialize};

use crate::EvalError;
use crate::cv::{CrossValidation, FoldScores, Scores, Summary, run_jobs};

/// What a learning curve's x axis counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Axis {
    /// Training epochs (1-based).
    Epochs,
    /// Training rows (the mean over folds at each size).
    TrainingRows,
}

/// One x position of a learning curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// The epoch, or the mean number of training rows.
    pub x: f64,
    /// The metric on the rows fitted on, over folds.
    pub train: Summary,
    /// The metric on the held-out rows, over folds.
    pub valid: Summary,
}

/// A learning curve: training and validation values of one metric at increasing x.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LearningCurve {
    /// What x counts.
    pub axis: Axis,
    /// The metric's name (`accuracy`, `loss`, ...).
    pub metric: String,
    /// Whether larger values are better (accuracy) or worse (a loss). The
    /// bias/variance diagnosis turns values into errors: `1 − value` when higher is
    /// better (so such metrics should top out at 1), the value itself otherwise.
    pub higher_is_better: bool,
    /// The points, by increasing x.
    pub points: Vec<CurvePoint>,
}

impl LearningCurve {
    /// A curve against epochs from per-fold histories: `train[f][e]` and
    /// `valid[f][e]` are fold `f`'s values after epoch `e + 1`. Histories may differ
    /// in length (early stopping); each epoch is summarised over the folds that
    /// reached it. A single history gives a curve with zero spread.
    ///
    /// ```
    /// use anneal_evaluate::curve::LearningCurve;
    ///
    /// let train = vec![vec![0.9, 0.5, 0.3, 0.2]];
    /// let valid = vec![vec![0.95, 0.6, 0.45, 0.5]];
    /// let curve = LearningCurve::from_histories("loss", false, &train, &valid)?;
    /// assert_eq!(curve.points.len(), 4);
    /// assert_eq!(curve.points[3].valid.mean, 0.5);
    /// # Ok::<(), anneal_evaluate::EvalError>(())
    /// ```
    pub fn from_histories(
        metric: &str,
        higher_is_better: bool,
        train: &[Vec<f64>],
        valid: &[Vec<f64>],
    ) -> Result<Self, EvalError> {
        if train.len() != valid.len() {
            return Err(EvalError::LengthMismatch { y_true: train.len(), y_pred: valid.len() });
        }
        if train.is_empty() || train.iter().all(Vec::is_empty) {
            return Err(EvalError::Empty);
        }
        for (t, v) in train.iter().zip(valid) {
            if t.len() != v.len() {
                return Err(EvalError::LengthMismatch { y_true: t.len(), y_pred: v.len() });
            }
            crate::check::finite("train", t)?;
            crate::check::finite("valid", v)?;
        }
        let epochs = train.iter().map(Vec::len).max().unwrap_or(0);
        let at = |h: &[Vec<f64>], e: usize| h.iter().filter_map(|f| f.get(e).copied()).collect::<Vec<_>>();
        let points = (0..epochs)
            .map(|e| CurvePoint {
                x: (e + 1) as f64,
                train: Summary::of(&at(train, e)),
                valid: Summary::of(&at(valid, e)),
            })
            .collect();
        Ok(Self { axis: Axis::Epochs, metric: metric.to_string(), higher_is_better, points })
    }

    /// The error (lower is better) of a value of this curve's metric.
    pub fn error(&self, value: f64) -> f64 {
        if self.higher_is_better { 1.0 - value } else { value }
    }
}

/// Settings of a learning curve against training-set size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizeCurveConfig {
    /// Fractions of each fold's training rows, increasing, in (0, 1].
    pub sizes: Vec<f64>,
    /// Seed of the shuffle that orders each fold's training rows; the first
    /// `round(size × n)` of that order are used, so smaller sets are subsets of
    /// larger ones.
    pub seed: u64,
    /// The metric to follow; every fold must report it for its training and test rows.
    pub metric: String,
    /// Whether larger values of the metric are better.
    pub higher_is_better: bool,
}

impl SizeCurveConfig {
    /// Ten sizes, 10 % to 100 % of each fold's training rows, following `metric`.
    pub fn deciles(metric: &str, higher_is_better: bool, seed: u64) -> Self {
        Self { sizes: (1..=10).map(|i| i as f64 / 10.0).collect(), seed, metric: metric.to_string(), higher_is_better }
    }

    /// Checks the sizes: at least one, each a fraction in (0, 1], strictly increasing.
    pub fn validate(&self) -> Result<(), EvalError> {
        if self.sizes.is_empty() {
            return Err(EvalError::EmptySizes);
        }
        for (i, &s) in self.sizes.iter().enumerate() {
            if !(s > 0.0 && s <= 1.0) {
                return Err(EvalError::InvalidSize { value: s, expected: "a fraction of the training rows in (0, 1]" });
            }
            if i > 0 && s <= self.sizes[i - 1] {
                return Err(EvalError::InvalidSize { value: s, expected: "sizes must increase strictly" });
            }
        }
        Ok(())
    }
}

/// The rows of one fold's training set used at `size`: the first `round(size × n)`
/// (at least 1) of a seeded shuffle of `train`.
pub fn subset(train: &[usize], size: f64, seed: u64, fold: usize) -> Vec<usize> {
    let mut order = train.to_vec();
    SeededRng::stream(seed, Stream::Named("learning_curve_subset", fold as u64)).shuffle(&mut order);
    let k = ((size * train.len() as f64).round() as usize).clamp(1, train.len());
    order.truncate(k);
    order.sort_unstable();
    order
}

/// A learning curve against training-set size: for every size and every fold of
/// `cv`, `fit_and_score` fits on [`subset`] of the fold's training rows and scores
/// on the training subset and on the fold's test rows. All `sizes × folds` fits
/// share `cv`'s worker pool. Each point's x is the mean training-set size.
///
/// ```
/// use anneal_evaluate::curve::{SizeCurveConfig, size_curve};
/// use anneal_evaluate::cv::{Coverage, CrossValidation, Fold, FoldScores, Scores};
/// use anneal_evaluate::EvalError;
///
/// let folds = vec![
///     Fold { train: (0..50).collect(), test: (50..100).collect() },
///     Fold { train: (50..100).collect(), test: (0..50).collect() },
/// ];
/// let cv = CrossValidation::new(folds, 100, Coverage::Partition)?;
/// let config = SizeCurveConfig { sizes: vec![0.2, 0.6, 1.0], seed: 7, metric: "accuracy".into(), higher_is_better: true };
/// // A stand-in model whose test accuracy grows with the rows it saw.
/// let curve = size_curve(&cv, &config, |train, _test| {
///     let acc = 1.0 - 5.0 / (10.0 + train.len() as f64);
///     let s = |v: f64| Scores::from([("accuracy".to_string(), v)]);
///     Ok::<_, EvalError>(FoldScores { train: s(1.0), test: s(acc) })
/// })?;
/// assert_eq!(curve.points.iter().map(|p| p.x).collect::<Vec<_>>(), [10.0, 30.0, 50.0]);
/// assert!(curve.points[2].valid.mean > curve.points[0].valid.mean);
/// # Ok::<(), EvalError>(())
/// ```
pub fn size_curve<E, F>(cv: &CrossValidation, config: &SizeCurveConfig, fit_and_score: F) -> Result<LearningCurve, E>
where
    F: Fn(&[usize], &[usize]) -> Result<FoldScores, E> + Sync,
    E: From<EvalError> + Send,
{
    config.validate()?;
    let folds = cv.folds();
    let subsets: Vec<Vec<Vec<usize>>> = config
        .sizes
        .iter()
        .map(|&s| folds.iter().enumerate().map(|(f, fold)| subset(&fold.train, s, config.seed, f)).collect())
        .collect();
    let jobs: Vec<(&[usize], &[usize])> = subsets
        .iter()
        .flat_map(|per_fold| per_fold.iter().zip(folds).map(|(train, fold)| (&train[..], &fold.test[..])))
        .collect();
    let outcomes = run_jobs(cv.workers(), &jobs, &fit_and_score)?;
    let pick = |scores: &Scores, part: &'static str, fold: usize| -> Result<f64, EvalError> {
        scores.get(&config.metric).copied().ok_or_else(|| EvalError::MissingScore {
            metric: config.metric.clone(),
            part,
            fold,
            available: scores.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    };
    let mut points = Vec::with_capacity(config.sizes.len());
    for (i, per_fold) in subsets.iter().enumerate() {
        let (mut train, mut valid) = (Vec::new(), Vec::new());
        for (f, (scores, _)) in outcomes[i * folds.len()..(i + 1) * folds.len()].iter().enumerate() {
            train.push(pick(&scores.train, "train", f)?);
            valid.push(pick(&scores.test, "test", f)?);
        }
        crate::check::finite("train", &train)?;
        crate::check::finite("valid", &valid)?;
        let x = per_fold.iter().map(Vec::len).sum::<usize>() as f64 / folds.len() as f64;
        points.push(CurvePoint { x, train: Summary::of(&train), valid: Summary::of(&valid) });
    }
    Ok(LearningCurve {
        axis: Axis::TrainingRows,
        metric: config.metric.clone(),
        higher_is_better: config.higher_is_better,
        points,
    })
}

#[cfg(test)]
mod tests {
    use super::subset;

    #[test]
    fn subsets_are_nested_and_sized() {
        let train: Vec<usize> = (100..200).collect();
        let small = subset(&train, 0.1, 3, 0);
        let big = subset(&train, 0.5, 3, 0);
        assert_eq!((small.len(), big.len()), (10, 50));
        assert!(small.iter().all(|r| big.contains(r)));
        assert_eq!(subset(&train, 1.0, 3, 0), train);
        assert_eq!(subset(&train, 0.001, 3, 0).len(), 1);
        assert_ne!(subset(&train, 0.1, 3, 0), subset(&train, 0.1, 3, 1));
    }
}
