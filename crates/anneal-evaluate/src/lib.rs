//! Metrics over plain slices, following scikit-learn's definitions.
//!
//! Every function takes class codes (`usize`) and returns a typed error for inputs
//! that have no defined answer (different lengths, no samples, a code outside the
//! declared classes); nothing here needs tensors.
//!
//! ```
//! use anneal_evaluate::{accuracy, confusion_matrix, macro_f1};
//!
//! let y_true = [0, 1, 2, 2, 1];
//! let y_pred = [0, 2, 2, 2, 1];
//! assert_eq!(accuracy(&y_true, &y_pred)?, 0.8);
//! let cm = confusion_matrix(&y_true, &y_pred, 3)?;
//! assert_eq!(cm.counts()[1], vec![0, 1, 1]);
//! assert!((macro_f1(&y_true, &y_pred)? - 0.822_222_222_222_222_2).abs() < 1e-12);
//! # Ok::<(), anneal_evaluate::EvalError>(())
//! ```
//!
//! Later: precision/recall/F-beta variants, ROC and PR curves, regression metrics,
//! cross-validation, learning curves and reports.

use serde::{Deserialize, Serialize};

/// Inputs a metric cannot be computed on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EvalError {
    /// `y_true` and `y_pred` differ in length.
    #[error("y_true has {y_true} samples but y_pred has {y_pred}")]
    LengthMismatch {
        /// Length of `y_true`.
        y_true: usize,
        /// Length of `y_pred`.
        y_pred: usize,
    },
    /// There are no samples.
    #[error("metrics need at least one sample")]
    Empty,
    /// A class code is not below the declared number of classes.
    #[error("{which}[{index}] = {label} is not a class (expected a code below {n_classes})")]
    LabelOutOfRange {
        /// `y_true` or `y_pred`.
        which: &'static str,
        /// Position of the sample.
        index: usize,
        /// The code found.
        label: usize,
        /// The declared number of classes.
        n_classes: usize,
    },
}

fn check(y_true: &[usize], y_pred: &[usize]) -> Result<(), EvalError> {
    if y_true.len() != y_pred.len() {
        return Err(EvalError::LengthMismatch { y_true: y_true.len(), y_pred: y_pred.len() });
    }
    if y_true.is_empty() {
        return Err(EvalError::Empty);
    }
    Ok(())
}

/// Fraction of samples whose prediction equals the truth.
pub fn accuracy(y_true: &[usize], y_pred: &[usize]) -> Result<f64, EvalError> {
    check(y_true, y_pred)?;
    let correct = y_true.iter().zip(y_pred).filter(|(t, p)| t == p).count();
    Ok(correct as f64 / y_true.len() as f64)
}

/// A confusion matrix: `counts()[t][p]` samples of true class `t` predicted as `p`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    counts: Vec<Vec<u64>>,
}

impl ConfusionMatrix {
    /// Rows are true classes, columns predicted classes.
    pub fn counts(&self) -> &[Vec<u64>] {
        &self.counts
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.counts.len()
    }

    /// Per-class precision, recall and F1, with scikit-learn's `zero_division=0`, and
    /// whether the class occurs in the truth or the predictions.
    pub fn per_class(&self) -> Vec<ClassScores> {
        let k = self.n_classes();
        (0..k)
            .map(|c| {
                let tp = self.counts[c][c] as f64;
                let actual: u64 = self.counts[c].iter().sum();
                let predicted: u64 = (0..k).map(|t| self.counts[t][c]).sum();
                let div = |a: f64, b: u64| if b == 0 { 0.0 } else { a / b as f64 };
                let precision = div(tp, predicted);
                let recall = div(tp, actual);
                let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
                ClassScores { precision, recall, f1, support: actual, present: actual + predicted > 0 }
            })
            .collect()
    }

    /// Unweighted mean of F1 over the classes that occur in the truth or the
    /// predictions (scikit-learn's `f1_score(average="macro")`).
    pub fn macro_f1(&self) -> f64 {
        let present: Vec<f64> = self.per_class().into_iter().filter(|c| c.present).map(|c| c.f1).collect();
        if present.is_empty() { 0.0 } else { present.iter().sum::<f64>() / present.len() as f64 }
    }

    /// Trace over total: the accuracy of the predictions it counts.
    pub fn accuracy(&self) -> f64 {
        let total: u64 = self.counts.iter().flatten().sum();
        let diag: u64 = (0..self.n_classes()).map(|c| self.counts[c][c]).sum();
        if total == 0 { 0.0 } else { diag as f64 / total as f64 }
    }
}

/// Scores of one class.
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

/// Counts true class against predicted class for `n_classes` classes.
pub fn confusion_matrix(y_true: &[usize], y_pred: &[usize], n_classes: usize) -> Result<ConfusionMatrix, EvalError> {
    check(y_true, y_pred)?;
    let mut counts = vec![vec![0u64; n_classes]; n_classes];
    for (i, (&t, &p)) in y_true.iter().zip(y_pred).enumerate() {
        for (which, label) in [("y_true", t), ("y_pred", p)] {
            if label >= n_classes {
                return Err(EvalError::LabelOutOfRange { which, index: i, label, n_classes });
            }
        }
        counts[t][p] += 1;
    }
    Ok(ConfusionMatrix { counts })
}

/// Macro-averaged F1 over the labels present in `y_true` or `y_pred`, with
/// `zero_division=0` (scikit-learn's `f1_score(average="macro")`).
pub fn macro_f1(y_true: &[usize], y_pred: &[usize]) -> Result<f64, EvalError> {
    check(y_true, y_pred)?;
    let k = y_true.iter().chain(y_pred).max().map_or(0, |m| m + 1);
    Ok(confusion_matrix(y_true, y_pred, k)?.macro_f1())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn typed_errors() {
        assert_eq!(accuracy(&[0, 1], &[0]), Err(EvalError::LengthMismatch { y_true: 2, y_pred: 1 }));
        assert_eq!(accuracy(&[], &[]), Err(EvalError::Empty));
        assert!(matches!(
            confusion_matrix(&[0, 3], &[0, 1], 3),
            Err(EvalError::LabelOutOfRange { index: 1, label: 3, .. })
        ));
    }

    fn pairs() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
        (1usize..60)
            .prop_flat_map(|n| (proptest::collection::vec(0usize..4, n), proptest::collection::vec(0usize..4, n)))
    }

    proptest! {
        #[test]
        fn accuracy_is_trace_over_total((t, p) in pairs()) {
            let cm = confusion_matrix(&t, &p, 4).unwrap();
            prop_assert!((cm.accuracy() - accuracy(&t, &p).unwrap()).abs() < 1e-15);
        }

        #[test]
        fn metrics_ignore_sample_order((t, p) in pairs(), seed in any::<u64>()) {
            let mut idx: Vec<usize> = (0..t.len()).collect();
            let mut s = seed;
            for i in (1..idx.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                idx.swap(i, (s >> 33) as usize % (i + 1));
            }
            let t2: Vec<usize> = idx.iter().map(|&i| t[i]).collect();
            let p2: Vec<usize> = idx.iter().map(|&i| p[i]).collect();
            prop_assert_eq!(macro_f1(&t, &p).unwrap(), macro_f1(&t2, &p2).unwrap());
            prop_assert_eq!(accuracy(&t, &p).unwrap(), accuracy(&t2, &p2).unwrap());
        }
    }
}
