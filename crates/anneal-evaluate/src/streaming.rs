//! Streaming accumulators: feed a metric batch by batch (`update`), combine
//! accumulators filled elsewhere (`merge`, e.g. one per worker), and read the value
//! at the end (`compute`). The result equals the one-shot function on the
//! concatenated data: exactly for counts and ROC-AUC, to rounding for sums of
//! floats.
//!
//! A batch that fails validation leaves the accumulator as it was; an empty batch is
//! allowed and changes nothing. `compute` on an accumulator that has seen no sample
//! is [`EvalError::Empty`].
//!
//! ```
//! use anneal_evaluate::{Average, StreamingConfusion, ZeroDivision};
//!
//! let mut acc = StreamingConfusion::new(3)?;
//! acc.update(&[0, 1, 2], &[0, 2, 2])?;
//! acc.update(&[2, 1], &[2, 1])?;
//! let cm = acc.compute()?;
//! assert_eq!(cm.accuracy(), 0.8);
//! let f1 = cm.scores(1.0, Average::Macro, ZeroDivision::Zero)?.f_score;
//! assert!((f1 - 0.822_222_222_222_222_2).abs() < 1e-12);
//! # Ok::<(), anneal_evaluate::EvalError>(())
//! ```

use crate::classification::{count_into, log_loss_sum, zeroed_matrix};
use crate::ranking::{binary_auc, push_keys};
use crate::regression::{Sums, check_pair, median};
use crate::{ConfusionMatrix, EvalError, RegressionMetrics, check};

/// Accuracy over batches (see [`accuracy`](crate::accuracy)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamingAccuracy {
    correct: u64,
    total: u64,
}

impl StreamingAccuracy {
    /// An accumulator that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a batch.
    ///
    /// # Errors
    /// [`EvalError::LengthMismatch`].
    pub fn update(&mut self, y_true: &[usize], y_pred: &[usize]) -> Result<(), EvalError> {
        if y_true.len() != y_pred.len() {
            return Err(EvalError::LengthMismatch { y_true: y_true.len(), y_pred: y_pred.len() });
        }
        self.correct += y_true.iter().zip(y_pred).filter(|(t, p)| t == p).count() as u64;
        self.total += y_true.len() as u64;
        Ok(())
    }

    /// Adds what another accumulator has seen.
    pub fn merge(&mut self, other: &Self) {
        self.correct += other.correct;
        self.total += other.total;
    }

    /// The accuracy so far.
    ///
    /// # Errors
    /// [`EvalError::Empty`] before any sample.
    pub fn compute(&self) -> Result<f64, EvalError> {
        if self.total == 0 { Err(EvalError::Empty) } else { Ok(self.correct as f64 / self.total as f64) }
    }
}

/// A confusion matrix over batches; everything derived from it (precision, recall,
/// F-beta under every average, balanced accuracy, MCC, kappa, the report) follows
/// from [`compute`](Self::compute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamingConfusion {
    n_classes: usize,
    counts: Vec<u64>,
}

impl StreamingConfusion {
    /// An empty `n_classes x n_classes` matrix.
    ///
    /// # Errors
    /// [`EvalError::InvalidParameter`] when the matrix cannot be allocated.
    pub fn new(n_classes: usize) -> Result<Self, EvalError> {
        Ok(StreamingConfusion { n_classes, counts: zeroed_matrix(n_classes)? })
    }

    /// Adds a batch.
    ///
    /// # Errors
    /// [`EvalError::LengthMismatch`], [`EvalError::LabelOutOfRange`].
    pub fn update(&mut self, y_true: &[usize], y_pred: &[usize]) -> Result<(), EvalError> {
        if y_true.len() != y_pred.len() {
            return Err(EvalError::LengthMismatch { y_true: y_true.len(), y_pred: y_pred.len() });
        }
        count_into(&mut self.counts, y_true, y_pred, self.n_classes)
    }

    /// Adds what another accumulator has seen.
    ///
    /// # Errors
    /// [`EvalError::InvalidParameter`] when the class counts differ.
    pub fn merge(&mut self, other: &Self) -> Result<(), EvalError> {
        if other.n_classes != self.n_classes {
            return Err(EvalError::invalid(
                "n_classes of the merged accumulator",
                other.n_classes,
                "the same n_classes",
            ));
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        Ok(())
    }

    /// The confusion matrix so far.
    ///
    /// # Errors
    /// [`EvalError::Empty`] before any sample.
    pub fn compute(&self) -> Result<ConfusionMatrix, EvalError> {
        if self.counts.iter().all(|&c| c == 0) {
            return Err(EvalError::Empty);
        }
        ConfusionMatrix::from_counts(self.counts.chunks_exact(self.n_classes).map(<[u64]>::to_vec).collect())
    }
}

/// Log loss over batches (see [`log_loss`](crate::log_loss)).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamingLogLoss {
    n_classes: usize,
    sum: f64,
    count: u64,
}

impl StreamingLogLoss {
    /// An accumulator for row-major probability batches with `n_classes` columns.
    pub fn new(n_classes: usize) -> Self {
        StreamingLogLoss { n_classes, sum: 0.0, count: 0 }
    }

    /// Adds a batch.
    ///
    /// # Errors
    /// As [`log_loss`](crate::log_loss), except that an empty batch is allowed.
    pub fn update(&mut self, y_true: &[usize], y_proba: &[f64]) -> Result<(), EvalError> {
        if y_true.is_empty() {
            return check::shape("y_proba", y_proba.len(), 0, self.n_classes);
        }
        self.sum += log_loss_sum(y_true, y_proba, self.n_classes)?;
        self.count += y_true.len() as u64;
        Ok(())
    }

    /// Adds what another accumulator has seen.
    ///
    /// # Errors
    /// [`EvalError::InvalidParameter`] when the class counts differ.
    pub fn merge(&mut self, other: &Self) -> Result<(), EvalError> {
        if other.n_classes != self.n_classes {
            return Err(EvalError::invalid(
                "n_classes of the merged accumulator",
                other.n_classes,
                "the same n_classes",
            ));
        }
        self.sum += other.sum;
        self.count += other.count;
        Ok(())
    }

    /// The mean log loss so far.
    ///
    /// # Errors
    /// [`EvalError::Empty`] before any sample.
    pub fn compute(&self) -> Result<f64, EvalError> {
        if self.count == 0 { Err(EvalError::Empty) } else { Ok(self.sum / self.count as f64) }
    }
}

/// Binary ROC-AUC over batches (see [`roc_auc`](crate::roc_auc)). ROC-AUC is a
/// ranking over all samples, so the accumulator keeps every score (8 bytes each) and
/// sorts at [`compute`](Self::compute); the result is exactly the one-shot value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamingRocAuc {
    pos: Vec<u64>,
    neg: Vec<u64>,
}

impl StreamingRocAuc {
    /// An accumulator that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a batch.
    ///
    /// # Errors
    /// [`EvalError::LengthMismatch`], [`EvalError::LabelOutOfRange`],
    /// [`EvalError::NonFinite`].
    pub fn update(&mut self, y_true: &[usize], y_score: &[f64]) -> Result<(), EvalError> {
        if y_true.is_empty() && y_score.is_empty() {
            return Ok(());
        }
        if y_true.len() != y_score.len() {
            return Err(EvalError::LengthMismatch { y_true: y_true.len(), y_pred: y_score.len() });
        }
        push_keys(y_true, y_score, &mut self.pos, &mut self.neg)
    }

    /// Adds what another accumulator has seen.
    pub fn merge(&mut self, other: &Self) {
        self.pos.extend_from_slice(&other.pos);
        self.neg.extend_from_slice(&other.neg);
    }

    /// The ROC-AUC so far. Takes `&mut self` because it sorts the kept scores in
    /// place; later updates may follow.
    ///
    /// # Errors
    /// [`EvalError::Empty`] before any sample, [`EvalError::SingleClass`] while only
    /// one class has been seen.
    pub fn compute(&mut self) -> Result<f64, EvalError> {
        if self.pos.is_empty() && self.neg.is_empty() {
            return Err(EvalError::Empty);
        }
        binary_auc(&mut self.pos, &mut self.neg, "ROC-AUC")
    }
}

/// Every regression metric over batches (see
/// [`regression_metrics`](crate::regression_metrics)). The median absolute error
/// needs every residual; it is computed only by an accumulator made with
/// [`with_median`](Self::with_median), which keeps them (8 bytes a sample).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamingRegression {
    sums: Sums,
    residuals: Option<Vec<f64>>,
}

impl StreamingRegression {
    /// An accumulator in constant memory, without the median absolute error.
    pub fn new() -> Self {
        Self::default()
    }

    /// An accumulator that keeps the absolute residuals for the median.
    pub fn with_median() -> Self {
        StreamingRegression { sums: Sums::default(), residuals: Some(Vec::new()) }
    }

    /// Adds a batch.
    ///
    /// # Errors
    /// [`EvalError::LengthMismatch`], [`EvalError::NonFinite`].
    pub fn update(&mut self, y_true: &[f64], y_pred: &[f64]) -> Result<(), EvalError> {
        if y_true.is_empty() && y_pred.is_empty() {
            return Ok(());
        }
        check_pair(y_true, y_pred)?;
        self.sums.add(y_true, y_pred);
        if let Some(r) = &mut self.residuals {
            r.extend(y_true.iter().zip(y_pred).map(|(&t, &p)| (t - p).abs()));
        }
        Ok(())
    }

    /// Adds what another accumulator has seen; the median survives only if both
    /// keep residuals.
    pub fn merge(&mut self, other: &Self) {
        self.sums.merge(&other.sums);
        match (&mut self.residuals, &other.residuals) {
            (Some(a), Some(b)) => a.extend_from_slice(b),
            (a, None) => *a = None,
            (None, Some(_)) => {}
        }
    }

    /// The metrics so far.
    ///
    /// # Errors
    /// [`EvalError::Empty`] before any sample.
    pub fn compute(&self) -> Result<RegressionMetrics, EvalError> {
        if self.sums.count() == 0 {
            return Err(EvalError::Empty);
        }
        let median = self.residuals.as_ref().map(|r| median(&mut r.clone()));
        Ok(self.sums.metrics(median))
    }
}
