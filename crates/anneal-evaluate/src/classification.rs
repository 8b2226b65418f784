//! Classification metrics over class codes: accuracy, the confusion matrix and
//! everything derived from it (precision, recall, F-beta, balanced accuracy,
//! Matthews correlation, Cohen's kappa), probability metrics (log loss, Brier
//! score) and top-k accuracy.
//!
//! Labels are class codes `0..n_classes`; probabilities and scores are row-major
//! `n_samples x n_classes` slices. The label set that averages run over is
//! scikit-learn's default one: the classes that occur in `y_true` or `y_pred`.

use serde::{Deserialize, Serialize};

use crate::EvalError;
use crate::check;

/// How per-class precision, recall and F-scores are combined into one number
/// (scikit-learn's `average`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Average {
    /// The scores of class `pos_label` alone. The data may hold at most two classes
    /// (in `y_true` and `y_pred` together); with two, one of them must be `pos_label`.
    Binary {
        /// The positive class.
        pos_label: usize,
    },
    /// Counts (true positives, predicted, actual) summed over the classes first, then
    /// one ratio. For single-label multi-class data micro precision, recall and F
    /// all equal accuracy.
    Micro,
    /// Unweighted mean over the classes that occur in `y_true` or `y_pred`.
    Macro,
    /// Mean over the classes weighted by their support (number of true samples).
    Weighted,
}

/// The value of a ratio whose denominator is zero (scikit-learn's `zero_division`):
/// precision of a class never predicted, recall of a class never true, F of a class
/// neither true nor predicted.
///
/// The default is [`Zero`](ZeroDivision::Zero), which is what scikit-learn's
/// default `"warn"` returns (without the warning).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ZeroDivision {
    /// 0.0.
    #[default]
    Zero,
    /// 1.0.
    One,
    /// NaN; averages then leave such classes out, and are NaN only when every class
    /// is undefined.
    Nan,
}

impl ZeroDivision {
    fn value(self) -> f64 {
        match self {
            ZeroDivision::Zero => 0.0,
            ZeroDivision::One => 1.0,
            ZeroDivision::Nan => f64::NAN,
        }
    }
}

/// How a confusion matrix is normalised (scikit-learn's `normalize`). A row or column
/// without samples normalises to zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Normalize {
    /// Each row (true class) sums to 1: the diagonal is per-class recall.
    True,
    /// Each column (predicted class) sums to 1: the diagonal is per-class precision.
    Pred,
    /// The whole matrix sums to 1.
    All,
}

/// Disagreement weights of Cohen's kappa (scikit-learn's `weights`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum KappaWeights {
    /// Every disagreement weighs 1.
    #[default]
    Unweighted,
    /// `|i - j|`: for ordered classes.
    Linear,
    /// `(i - j)^2`: for ordered classes, far misses weigh more.
    Quadratic,
}

/// Precision, recall and F-beta of one class or of an average.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prf {
    /// True positives over predicted positives.
    pub precision: f64,
    /// True positives over actual positives.
    pub recall: f64,
    /// `(1 + beta^2) tp / ((1 + beta^2) tp + beta^2 fn + fp)`; F1 for `beta = 1`.
    pub f_score: f64,
    /// Number of true samples of the class, or of all classes averaged over.
    pub support: u64,
}

/// Scores of one class, with scikit-learn's `zero_division=0`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    /// True positives over predicted positives.
    pub precision: f64,
    /// True positives over actual positives.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Number of true samples of the class.
    pub support: u64,
    /// Whether the class occurs in the truth or the predictions.
    pub present: bool,
}

/// A confusion matrix: `counts()[t][p]` samples of true class `t` predicted as `p`.
///
/// Every scalar metric of single-label classification that does not need scores
/// derives from it; computing it once and asking it several questions is the
/// cheapest way to get several metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    counts: Vec<Vec<u64>>,
}

/// Precision, recall and F-beta from counts, as scikit-learn's
/// `precision_recall_fscore_support` computes them.
fn prf(tp: u64, actual: u64, predicted: u64, beta: f64, zero_division: ZeroDivision) -> [f64; 3] {
    let z = zero_division.value();
    let ratio = |a: f64, b: f64| if b == 0.0 { z } else { a / b };
    let (tp, actual, predicted) = (tp as f64, actual as f64, predicted as f64);
    let precision = ratio(tp, predicted);
    let recall = ratio(tp, actual);
    let f = if beta == f64::INFINITY {
        recall
    } else if beta == 0.0 {
        precision
    } else {
        let b2 = beta * beta;
        ratio((1.0 + b2) * tp, b2 * actual + predicted)
    };
    [precision, recall, f]
}

/// scikit-learn's `_nanaverage`: the (weighted) mean of the non-NaN values; NaN when
/// there are none; unweighted when the remaining weights sum to zero.
fn nan_average(values: impl Iterator<Item = (f64, f64)>) -> f64 {
    let (mut sum, mut weighted, mut weights, mut count) = (0.0, 0.0, 0.0, 0usize);
    for (v, w) in values.filter(|(v, _)| !v.is_nan()) {
        sum += v;
        weighted += v * w;
        weights += w;
        count += 1;
    }
    if count == 0 {
        f64::NAN
    } else if weights == 0.0 {
        sum / count as f64
    } else {
        weighted / weights
    }
}

fn check_beta(beta: f64) -> Result<(), EvalError> {
    if beta >= 0.0 { Ok(()) } else { Err(EvalError::invalid("beta", beta, "a number >= 0 (infinity gives recall)")) }
}

/// Per-class true positives, true counts (row sums of the confusion matrix) and
/// predicted counts (column sums): all that precision, recall, F-beta, balanced
/// accuracy, MCC and kappa's chance agreement need, in `O(n_classes)` memory.
struct Totals {
    tp: Vec<u64>,
    actual: Vec<u64>,
    predicted: Vec<u64>,
}

/// Disagreement weight of Cohen's kappa between class codes `i` and `j`.
fn kappa_weight(weights: KappaWeights, i: usize, j: usize) -> f64 {
    let d = i.abs_diff(j) as f64;
    match weights {
        KappaWeights::Unweighted => f64::from(u8::from(i != j)),
        KappaWeights::Linear => d,
        KappaWeights::Quadratic => d * d,
    }
}

impl Totals {
    /// Counts in one pass over the labels, checking lengths and codes.
    fn from_labels(y_true: &[usize], y_pred: &[usize], k: usize) -> Result<Self, EvalError> {
        check::lengths(y_true.len(), y_pred.len())?;
        let mut s = Totals { tp: vec![0; k], actual: vec![0; k], predicted: vec![0; k] };
        for (index, (&t, &p)) in y_true.iter().zip(y_pred).enumerate() {
            if t >= k || p >= k {
                let (which, label) = if t >= k { ("y_true", t) } else { ("y_pred", p) };
                return Err(EvalError::LabelOutOfRange { which, index, label, n_classes: k });
            }
            s.actual[t] += 1;
            s.predicted[p] += 1;
            s.tp[t] += u64::from(t == p);
        }
        Ok(s)
    }

    fn n_classes(&self) -> usize {
        self.tp.len()
    }

    fn total(&self) -> u64 {
        self.actual.iter().sum()
    }

    fn present(&self) -> Vec<usize> {
        (0..self.n_classes()).filter(|&c| self.actual[c] + self.predicted[c] > 0).collect()
    }

    fn prf(&self, c: usize, beta: f64, zero_division: ZeroDivision) -> [f64; 3] {
        prf(self.tp[c], self.actual[c], self.predicted[c], beta, zero_division)
    }

    fn balanced_accuracy(&self) -> f64 {
        let recalls: Vec<f64> = (0..self.n_classes())
            .filter(|&c| self.actual[c] > 0)
            .map(|c| self.tp[c] as f64 / self.actual[c] as f64)
            .collect();
        if recalls.is_empty() { f64::NAN } else { recalls.iter().sum::<f64>() / recalls.len() as f64 }
    }

    fn scores_per_class(&self, beta: f64, zero_division: ZeroDivision) -> Result<Vec<Prf>, EvalError> {
        check_beta(beta)?;
        Ok((0..self.n_classes())
            .map(|c| {
                let [precision, recall, f_score] = self.prf(c, beta, zero_division);
                Prf { precision, recall, f_score, support: self.actual[c] }
            })
            .collect())
    }

    fn scores(&self, beta: f64, average: Average, zero_division: ZeroDivision) -> Result<Prf, EvalError> {
        check_beta(beta)?;
        let present = self.present();
        let labels = match average {
            Average::Binary { pos_label } => {
                if pos_label >= self.n_classes() {
                    return Err(EvalError::invalid("pos_label", pos_label, "a class code below n_classes"));
                }
                if present.len() > 2 {
                    return Err(EvalError::NotBinary { present });
                }
                if present.len() == 2 && !present.contains(&pos_label) {
                    return Err(EvalError::PosLabelAbsent { pos_label, present });
                }
                vec![pos_label]
            }
            _ => present,
        };
        let support = labels.iter().map(|&c| self.actual[c]).sum();
        let per_class: Vec<[f64; 3]> = labels.iter().map(|&c| self.prf(c, beta, zero_division)).collect();
        let [precision, recall, f_score] = match average {
            Average::Micro => {
                let sum = |v: &[u64]| labels.iter().map(|&c| v[c]).sum::<u64>();
                prf(sum(&self.tp), sum(&self.actual), sum(&self.predicted), beta, zero_division)
            }
            Average::Binary { .. } | Average::Macro => {
                std::array::from_fn(|i| nan_average(per_class.iter().map(|v| (v[i], 1.0))))
            }
            Average::Weighted => std::array::from_fn(|i| {
                nan_average(per_class.iter().zip(&labels).map(|(v, &c)| (v[i], self.actual[c] as f64)))
            }),
        };
        Ok(Prf { precision, recall, f_score, support })
    }

    fn matthews_corrcoef(&self) -> f64 {
        let t: Vec<f64> = self.actual.iter().map(|&v| v as f64).collect();
        let p: Vec<f64> = self.predicted.iter().map(|&v| v as f64).collect();
        let correct = self.tp.iter().sum::<u64>() as f64;
        let n: f64 = p.iter().sum();
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let cov_tp = correct * n - dot(&t, &p);
        let cov_pp = n * n - dot(&p, &p);
        let cov_tt = n * n - dot(&t, &t);
        let denom = cov_pp * cov_tt;
        if denom == 0.0 { 0.0 } else { cov_tp / denom.sqrt() }
    }

    /// Kappa from the observed weighted disagreement `sum_ij w_ij c_ij` and the
    /// chance disagreement of these marginals.
    fn cohen_kappa(&self, observed: f64, weights: KappaWeights) -> f64 {
        let n = self.total() as f64;
        let nonzero = |v: &[u64]| -> Vec<(usize, f64)> {
            v.iter().enumerate().filter(|(_, c)| **c > 0).map(|(i, &c)| (i, c as f64)).collect()
        };
        let (predicted, actual) = (nonzero(&self.predicted), nonzero(&self.actual));
        let mut expected = 0.0;
        for &(i, pi) in &predicted {
            for &(j, aj) in &actual {
                expected += kappa_weight(weights, i, j) * (pi * aj / n);
            }
        }
        if n == 0.0 || expected == 0.0 { f64::NAN } else { 1.0 - observed / expected }
    }
}

impl ConfusionMatrix {
    /// A confusion matrix from counts (rows true classes, columns predicted).
    ///
    /// # Errors
    /// [`EvalError::InvalidParameter`] when the matrix is not square or has no class,
    /// [`EvalError::Empty`] when every count is zero.
    pub fn from_counts(counts: Vec<Vec<u64>>) -> Result<Self, EvalError> {
        let k = counts.len();
        if k == 0 {
            return Err(EvalError::invalid("counts", "[]", "a square matrix with at least one class"));
        }
        if let Some((r, row)) = counts.iter().enumerate().find(|(_, row)| row.len() != k) {
            return Err(EvalError::invalid(
                "counts",
                format!("row {r} with {} entries in a {k}-row matrix", row.len()),
                "a square matrix",
            ));
        }
        if counts.iter().flatten().all(|&c| c == 0) {
            return Err(EvalError::Empty);
        }
        Ok(ConfusionMatrix { counts })
    }

    /// Rows are true classes, columns predicted classes.
    pub fn counts(&self) -> &[Vec<u64>] {
        &self.counts
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.counts.len()
    }

    /// Number of samples counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    fn totals(&self) -> Totals {
        let k = self.n_classes();
        let mut predicted = vec![0u64; k];
        for row in &self.counts {
            for (p, &c) in predicted.iter_mut().zip(row) {
                *p += c;
            }
        }
        Totals {
            tp: (0..k).map(|c| self.counts[c][c]).collect(),
            actual: self.counts.iter().map(|r| r.iter().sum()).collect(),
            predicted,
        }
    }

    /// The classes that occur in the truth or the predictions, ascending: the label
    /// set of macro averages (scikit-learn's `unique_labels(y_true, y_pred)`).
    pub fn present_classes(&self) -> Vec<usize> {
        self.totals().present()
    }

    /// Trace over total: the accuracy of the predictions it counts (0 for an empty
    /// matrix).
    pub fn accuracy(&self) -> f64 {
        let total = self.total();
        let diag: u64 = (0..self.n_classes()).map(|c| self.counts[c][c]).sum();
        if total == 0 { 0.0 } else { diag as f64 / total as f64 }
    }

    /// Mean recall over the classes that occur in the truth (scikit-learn's
    /// `balanced_accuracy_score`; classes only predicted are left out). NaN for an
    /// empty matrix.
    pub fn balanced_accuracy(&self) -> f64 {
        self.totals().balanced_accuracy()
    }

    /// The matrix as fractions of its rows, columns or total; rows or columns without
    /// samples become zeros (scikit-learn's `confusion_matrix(normalize=...)`).
    pub fn normalized(&self, by: Normalize) -> Vec<Vec<f64>> {
        let s = self.totals();
        let total = self.total() as f64;
        let div = |a: u64, b: f64| if b == 0.0 { 0.0 } else { a as f64 / b };
        self.counts
            .iter()
            .enumerate()
            .map(|(t, row)| {
                row.iter()
                    .enumerate()
                    .map(|(p, &c)| match by {
                        Normalize::True => div(c, s.actual[t] as f64),
                        Normalize::Pred => div(c, s.predicted[p] as f64),
                        Normalize::All => div(c, total),
                    })
                    .collect()
            })
            .collect()
    }

    /// Per-class precision, recall and F1, with scikit-learn's `zero_division=0`, and
    /// whether the class occurs in the truth or the predictions.
    pub fn per_class(&self) -> Vec<ClassScores> {
        let s = self.totals();
        (0..self.n_classes())
            .map(|c| {
                let [precision, recall, f1] = s.prf(c, 1.0, ZeroDivision::Zero);
                ClassScores { precision, recall, f1, support: s.actual[c], present: s.actual[c] + s.predicted[c] > 0 }
            })
            .collect()
    }

    /// Precision, recall and F-beta of every declared class, indexed by class code.
    /// A class absent from both truth and predictions gets `zero_division` for all
    /// three.
    ///
    /// # Errors
    /// [`EvalError::InvalidParameter`] for a negative or NaN `beta`.
    pub fn scores_per_class(&self, beta: f64, zero_division: ZeroDivision) -> Result<Vec<Prf>, EvalError> {
        self.totals().scores_per_class(beta, zero_division)
    }

    /// Precision, recall and F-beta combined as `average` says (scikit-learn's
    /// `precision_recall_fscore_support` with `average`); `support` is the number of
    /// true samples of the classes averaged over.
    ///
    /// # Errors
    /// [`EvalError::InvalidParameter`] for a negative or NaN `beta` or a `pos_label`
    /// that is not a declared class; [`EvalError::NotBinary`] and
    /// [`EvalError::PosLabelAbsent`] as described at [`Average::Binary`].
    pub fn scores(&self, beta: f64, average: Average, zero_division: ZeroDivision) -> Result<Prf, EvalError> {
        self.totals().scores(beta, average, zero_division)
    }

    /// Unweighted mean of F1 over the classes that occur in the truth or the
    /// predictions (scikit-learn's `f1_score(average="macro")`).
    pub fn macro_f1(&self) -> f64 {
        self.scores(1.0, Average::Macro, ZeroDivision::Zero)
            .map_or(0.0, |s| if s.f_score.is_nan() { 0.0 } else { s.f_score })
    }

    /// Matthews correlation coefficient, multi-class form (Gorodkin's R_K, as
    /// scikit-learn's `matthews_corrcoef`): 0 when either the truth or the
    /// predictions hold a single class.
    pub fn matthews_corrcoef(&self) -> f64 {
        self.totals().matthews_corrcoef()
    }

    /// Cohen's kappa of the two label sets (rows and columns), with disagreement
    /// weights between class codes `i` and `j` over all declared classes
    /// (scikit-learn's `cohen_kappa_score(labels=range(n_classes))`). NaN when
    /// undefined: both raters used the same single class.
    pub fn cohen_kappa(&self, weights: KappaWeights) -> f64 {
        let observed = (0..self.n_classes())
            .flat_map(|i| (0..self.n_classes()).map(move |j| (i, j)))
            .map(|(i, j)| kappa_weight(weights, i, j) * self.counts[i][j] as f64)
            .sum();
        self.totals().cohen_kappa(observed, weights)
    }
}

/// Fraction of samples whose prediction equals the truth.
///
/// # Errors
/// [`EvalError::LengthMismatch`], [`EvalError::Empty`].
pub fn accuracy(y_true: &[usize], y_pred: &[usize]) -> Result<f64, EvalError> {
    check::lengths(y_true.len(), y_pred.len())?;
    let correct = y_true.iter().zip(y_pred).filter(|(t, p)| t == p).count();
    Ok(correct as f64 / y_true.len() as f64)
}

/// Counts true class against predicted class for `n_classes` classes (an
/// `n_classes x n_classes` matrix; the scalar metrics below need only `O(n_classes)`
/// memory and do not build it).
///
/// # Errors
/// [`EvalError::LengthMismatch`], [`EvalError::Empty`],
/// [`EvalError::LabelOutOfRange`] for a code not below `n_classes`, and
/// [`EvalError::InvalidParameter`] when the matrix cannot be allocated.
pub fn confusion_matrix(y_true: &[usize], y_pred: &[usize], n_classes: usize) -> Result<ConfusionMatrix, EvalError> {
    check::lengths(y_true.len(), y_pred.len())?;
    let mut flat = zeroed_matrix(n_classes)?;
    count_into(&mut flat, y_true, y_pred, n_classes)?;
    Ok(ConfusionMatrix { counts: flat.chunks_exact(n_classes.max(1)).map(<[u64]>::to_vec).collect() })
}

/// A zeroed row-major `k x k` count matrix, or an error when it cannot be held.
pub(crate) fn zeroed_matrix(k: usize) -> Result<Vec<u64>, EvalError> {
    let too_big = || EvalError::invalid("n_classes", k, "a number of classes whose k x k count matrix fits in memory");
    let cells = k.checked_mul(k).ok_or_else(too_big)?;
    let mut flat = Vec::new();
    flat.try_reserve_exact(cells).map_err(|_| too_big())?;
    flat.resize(cells, 0);
    Ok(flat)
}

/// Adds the pairs to a row-major `n_classes x n_classes` count matrix in one pass; on
/// a code out of range the counts are left as they were.
pub(crate) fn count_into(flat: &mut [u64], y_true: &[usize], y_pred: &[usize], k: usize) -> Result<(), EvalError> {
    for (i, (&t, &p)) in y_true.iter().zip(y_pred).enumerate() {
        if t >= k || p >= k {
            for (&t, &p) in y_true[..i].iter().zip(&y_pred[..i]) {
                flat[t * k + p] -= 1;
            }
            let (which, label) = if t >= k { ("y_true", t) } else { ("y_pred", p) };
            return Err(EvalError::LabelOutOfRange { which, index: i, label, n_classes: k });
        }
        flat[t * k + p] += 1;
    }
    Ok(())
}

/// Macro-averaged F1 over the labels present in `y_true` or `y_pred`, with
/// `zero_division=0` (scikit-learn's `f1_score(average="macro")`); the classes are
/// `0..=max(label)`.
///
/// # Errors
/// [`EvalError::LengthMismatch`], [`EvalError::Empty`].
pub fn macro_f1(y_true: &[usize], y_pred: &[usize]) -> Result<f64, EvalError> {
    check::lengths(y_true.len(), y_pred.len())?;
    let k = y_true.iter().chain(y_pred).max().map_or(0, |m| m + 1);
    Ok(confusion_matrix(y_true, y_pred, k)?.macro_f1())
}

/// Mean per-class recall over the classes in `y_true` (scikit-learn's
/// `balanced_accuracy_score`).
///
/// # Errors
/// [`EvalError::LengthMismatch`], [`EvalError::Empty`],
/// [`EvalError::LabelOutOfRange`] for a code not below `n_classes`.
pub fn balanced_accuracy(y_true: &[usize], y_pred: &[usize], n_classes: usize) -> Result<f64, EvalError> {
    Ok(Totals::from_labels(y_true, y_pred, n_classes)?.balanced_accuracy())
}

/// Precision, recall and F-beta under `average`, with the given `zero_division`
/// (scikit-learn's `precision_recall_fscore_support`). `beta = 1` is F1; `beta = 0`
/// gives precision and `f64::INFINITY` recall.
///
/// # Errors
/// [`EvalError::LengthMismatch`], [`EvalError::Empty`],
/// [`EvalError::LabelOutOfRange`], and the errors of [`ConfusionMatrix::scores`].
pub fn precision_recall_fscore(
    y_true: &[usize],
    y_pred: &[usize],
    n_classes: usize,
    beta: f64,
    average: Average,
    zero_division: ZeroDivision,
) -> Result<Prf, EvalError> {
    Totals::from_labels(y_true, y_pred, n_classes)?.scores(beta, average, zero_division)
}

/// Precision under `average`, `zero_division = 0` (scikit-learn's `precision_score`).
///
/// # Errors
/// As [`precision_recall_fscore`].
pub fn precision(y_true: &[usize], y_pred: &[usize], n_classes: usize, average: Average) -> Result<f64, EvalError> {
    Ok(precision_recall_fscore(y_true, y_pred, n_classes, 1.0, average, ZeroDivision::Zero)?.precision)
}

/// Recall under `average`, `zero_division = 0` (scikit-learn's `recall_score`).
///
/// # Errors
/// As [`precision_recall_fscore`].
pub fn recall(y_true: &[usize], y_pred: &[usize], n_classes: usize, average: Average) -> Result<f64, EvalError> {
    Ok(precision_recall_fscore(y_true, y_pred, n_classes, 1.0, average, ZeroDivision::Zero)?.recall)
}

/// F1 under `average`, `zero_division = 0` (scikit-learn's `f1_score`).
///
/// # Errors
/// As [`precision_recall_fscore`].
pub fn f1(y_true: &[usize], y_pred: &[usize], n_classes: usize, average: Average) -> Result<f64, EvalError> {
    fbeta(y_true, y_pred, n_classes, 1.0, average)
}

/// F-beta under `average`, `zero_division = 0` (scikit-learn's `fbeta_score`).
///
/// # Errors
/// As [`precision_recall_fscore`].
pub fn fbeta(
    y_true: &[usize],
    y_pred: &[usize],
    n_classes: usize,
    beta: f64,
    average: Average,
) -> Result<f64, EvalError> {
    Ok(precision_recall_fscore(y_true, y_pred, n_classes, beta, average, ZeroDivision::Zero)?.f_score)
}

/// Matthews correlation coefficient (multi-class; see
/// [`ConfusionMatrix::matthews_corrcoef`]).
///
/// # Errors
/// [`EvalError::LengthMismatch`], [`EvalError::Empty`],
/// [`EvalError::LabelOutOfRange`] for a code not below `n_classes`.
pub fn matthews_corrcoef(y_true: &[usize], y_pred: &[usize], n_classes: usize) -> Result<f64, EvalError> {
    Ok(Totals::from_labels(y_true, y_pred, n_classes)?.matthews_corrcoef())
}

/// Cohen's kappa between two labellings (see [`ConfusionMatrix::cohen_kappa`]).
///
/// # Errors
/// [`EvalError::LengthMismatch`], [`EvalError::Empty`],
/// [`EvalError::LabelOutOfRange`] for a code not below `n_classes`.
pub fn cohen_kappa(y1: &[usize], y2: &[usize], n_classes: usize, weights: KappaWeights) -> Result<f64, EvalError> {
    let totals = Totals::from_labels(y1, y2, n_classes)?;
    let observed = y1.iter().zip(y2).map(|(&i, &j)| kappa_weight(weights, i, j)).sum();
    Ok(totals.cohen_kappa(observed, weights))
}

/// Mean negative log-likelihood of the true classes (cross-entropy; scikit-learn's
/// `log_loss(labels=range(n_classes))`). `y_proba` is row-major `n_samples x
/// n_classes`; probabilities are clipped to `[eps, 1 - eps]` with `eps =
/// f64::EPSILON`, as scikit-learn does, so a confident miss costs about 36, not
/// infinity.
///
/// # Errors
/// [`EvalError::Empty`], [`EvalError::ScoreShape`], [`EvalError::LabelOutOfRange`],
/// [`EvalError::NonFinite`], [`EvalError::ProbabilityOutOfRange`],
/// [`EvalError::RowSum`] (rows must sum to 1 within
/// [`ROW_SUM_RTOL`](crate::ROW_SUM_RTOL); scikit-learn only warns), and
/// [`EvalError::InvalidParameter`] for fewer than two classes.
pub fn log_loss(y_true: &[usize], y_proba: &[f64], n_classes: usize) -> Result<f64, EvalError> {
    Ok(log_loss_sum(y_true, y_proba, n_classes)? / y_true.len() as f64)
}

/// The summed loss, after every check of [`log_loss`].
pub(crate) fn log_loss_sum(y_true: &[usize], y_proba: &[f64], n_classes: usize) -> Result<f64, EvalError> {
    if y_true.is_empty() {
        return Err(EvalError::Empty);
    }
    if n_classes < 2 {
        return Err(EvalError::invalid("n_classes", n_classes, "at least two classes"));
    }
    check::proba_matrix("y_proba", y_true.len(), y_proba, n_classes)?;
    check::labels("y_true", y_true, n_classes)?;
    let eps = f64::EPSILON;
    Ok(y_true.iter().zip(y_proba.chunks_exact(n_classes)).map(|(&t, row)| -row[t].clamp(eps, 1.0 - eps).ln()).sum())
}

/// Mean squared difference between the positive-class probability and the outcome
/// (scikit-learn's binary `brier_score_loss`). `y_true` holds 0 (negative) and 1
/// (positive).
///
/// # Errors
/// [`EvalError::LengthMismatch`], [`EvalError::Empty`],
/// [`EvalError::LabelOutOfRange`] for a code other than 0 or 1,
/// [`EvalError::NonFinite`], [`EvalError::ProbabilityOutOfRange`].
pub fn brier_score(y_true: &[usize], y_prob: &[f64]) -> Result<f64, EvalError> {
    check::lengths(y_true.len(), y_prob.len())?;
    check::labels("y_true", y_true, 2)?;
    check::probabilities("y_prob", y_prob)?;
    let sum: f64 = y_true.iter().zip(y_prob).map(|(&t, &p)| (t as f64 - p).powi(2)).sum();
    Ok(sum / y_true.len() as f64)
}

/// Fraction of samples whose true class is among the `k` highest scores of its row
/// (scikit-learn's `top_k_accuracy_score(labels=range(n_classes))`). Ties go to the
/// higher class code, as scikit-learn's reversed stable argsort does. `y_score` is
/// row-major `n_samples x n_classes` and need not hold probabilities.
///
/// scikit-learn treats two classes with one score column specially (a threshold of
/// 0.5); here two columns follow the same ranking rule as more, which differs only
/// when both columns are exactly equal.
///
/// # Errors
/// [`EvalError::Empty`], [`EvalError::ScoreShape`], [`EvalError::LabelOutOfRange`],
/// [`EvalError::NonFinite`], and [`EvalError::InvalidParameter`] for `k = 0`.
pub fn top_k_accuracy(y_true: &[usize], y_score: &[f64], n_classes: usize, k: usize) -> Result<f64, EvalError> {
    if y_true.is_empty() {
        return Err(EvalError::Empty);
    }
    if k == 0 {
        return Err(EvalError::invalid("k", 0, "at least 1"));
    }
    check::shape("y_score", y_score.len(), y_true.len(), n_classes)?;
    check::finite("y_score", y_score)?;
    check::labels("y_true", y_true, n_classes)?;
    let hits = y_true
        .iter()
        .zip(y_score.chunks_exact(n_classes))
        .filter(|&(&t, row)| {
            let s = row[t];
            let ahead = row.iter().enumerate().filter(|&(c, &v)| v > s || (v == s && c > t)).count();
            ahead < k
        })
        .count();
    Ok(hits as f64 / y_true.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_errors() {
        assert_eq!(accuracy(&[0, 1], &[0]), Err(EvalError::LengthMismatch { y_true: 2, y_pred: 1 }));
        assert_eq!(accuracy(&[], &[]), Err(EvalError::Empty));
        assert!(matches!(
            confusion_matrix(&[0, 3], &[0, 1], 3),
            Err(EvalError::LabelOutOfRange { index: 1, label: 3, .. })
        ));
        assert!(matches!(
            confusion_matrix(&[0, 1], &[0, 5], 3),
            Err(EvalError::LabelOutOfRange { which: "y_pred", index: 1, label: 5, .. })
        ));
    }

    #[test]
    fn nan_average_follows_scikit_learn() {
        assert!(nan_average(std::iter::empty()).is_nan());
        assert!(nan_average([(f64::NAN, 1.0)].into_iter()).is_nan());
        assert_eq!(nan_average([(f64::NAN, 1.0), (0.5, 1.0), (1.0, 3.0)].into_iter()), 0.875);
        assert_eq!(nan_average([(0.5, 0.0), (1.0, 0.0)].into_iter()), 0.75);
    }

    #[test]
    fn binary_average_rules() {
        let cm = confusion_matrix(&[0, 1, 2], &[0, 1, 1], 3).unwrap();
        assert_eq!(
            cm.scores(1.0, Average::Binary { pos_label: 1 }, ZeroDivision::Zero),
            Err(EvalError::NotBinary { present: vec![0, 1, 2] })
        );
        let cm = confusion_matrix(&[0, 2], &[2, 2], 3).unwrap();
        assert_eq!(
            cm.scores(1.0, Average::Binary { pos_label: 1 }, ZeroDivision::Zero),
            Err(EvalError::PosLabelAbsent { pos_label: 1, present: vec![0, 2] })
        );
        // One class present, pos_label absent: precision and recall are 0/0.
        let cm = confusion_matrix(&[0, 0], &[0, 0], 2).unwrap();
        let s = cm.scores(1.0, Average::Binary { pos_label: 1 }, ZeroDivision::One).unwrap();
        assert_eq!((s.precision, s.recall, s.f_score), (1.0, 1.0, 1.0));
        assert!(cm.scores(-1.0, Average::Macro, ZeroDivision::Zero).is_err());
        assert!(cm.scores(f64::NAN, Average::Macro, ZeroDivision::Zero).is_err());
    }

    #[test]
    fn from_counts_checks_shape() {
        assert!(ConfusionMatrix::from_counts(vec![]).is_err());
        assert!(ConfusionMatrix::from_counts(vec![vec![1, 2], vec![3]]).is_err());
        assert_eq!(ConfusionMatrix::from_counts(vec![vec![0, 0], vec![0, 0]]), Err(EvalError::Empty));
        assert_eq!(ConfusionMatrix::from_counts(vec![vec![1, 2], vec![3, 4]]).unwrap().total(), 10);
    }
}
