//! Input validation shared by the metric modules: lengths, class codes, finite
//! values, probabilities and probability rows.

use crate::EvalError;

/// Relative tolerance on a probability row's sum: a row passes when
/// `|sum - 1| <= ROW_SUM_ATOL + ROW_SUM_RTOL * sum` (NumPy's `allclose`, which
/// scikit-learn's multi-class `roc_auc_score` applies). It admits the rounding of
/// `f32` softmax outputs (about 1e-7 per class).
pub const ROW_SUM_RTOL: f64 = 1e-5;

/// Absolute tolerance on a probability row's sum; see [`ROW_SUM_RTOL`].
pub const ROW_SUM_ATOL: f64 = 1e-8;

/// Equal lengths and at least one sample.
pub(crate) fn lengths(y_true: usize, y_pred: usize) -> Result<(), EvalError> {
    if y_true != y_pred {
        return Err(EvalError::LengthMismatch { y_true, y_pred });
    }
    if y_true == 0 {
        return Err(EvalError::Empty);
    }
    Ok(())
}

/// Every code below `n_classes`.
pub(crate) fn labels(which: &'static str, y: &[usize], n_classes: usize) -> Result<(), EvalError> {
    if y.iter().all(|&l| l < n_classes) {
        return Ok(());
    }
    let index = y.iter().position(|&l| l >= n_classes).unwrap_or_default();
    Err(EvalError::LabelOutOfRange { which, index, label: y[index], n_classes })
}

/// Every value finite.
pub(crate) fn finite(which: &'static str, v: &[f64]) -> Result<(), EvalError> {
    if v.iter().all(|x| x.is_finite()) {
        return Ok(());
    }
    let index = v.iter().position(|x| !x.is_finite()).unwrap_or_default();
    Err(EvalError::NonFinite { which, index, value: v[index] })
}

/// Every value a finite number in `[0, 1]`.
pub(crate) fn probabilities(which: &'static str, v: &[f64]) -> Result<(), EvalError> {
    finite(which, v)?;
    match v.iter().position(|&x| !(0.0..=1.0).contains(&x)) {
        Some(index) => Err(EvalError::ProbabilityOutOfRange { which, index, value: v[index] }),
        None => Ok(()),
    }
}

/// At least one class declared; `len == n_samples * n_classes`.
pub(crate) fn shape(which: &'static str, len: usize, n_samples: usize, n_classes: usize) -> Result<(), EvalError> {
    if n_classes == 0 {
        return Err(EvalError::invalid("n_classes", 0, "at least one class"));
    }
    if n_samples.checked_mul(n_classes) != Some(len) {
        return Err(EvalError::ScoreShape { which, len, n_samples, n_classes });
    }
    Ok(())
}

/// A row-major `n_samples x n_classes` probability matrix: shape, finite, in
/// `[0, 1]`, rows summing to 1 within the tolerance.
pub(crate) fn proba_matrix(
    which: &'static str,
    n_samples: usize,
    proba: &[f64],
    n_classes: usize,
) -> Result<(), EvalError> {
    shape(which, proba.len(), n_samples, n_classes)?;
    probabilities(which, proba)?;
    for (row, r) in proba.chunks_exact(n_classes).enumerate() {
        let sum: f64 = r.iter().sum();
        if (sum - 1.0).abs() > ROW_SUM_ATOL + ROW_SUM_RTOL * sum.abs() {
            return Err(EvalError::RowSum { which, row, sum });
        }
    }
    Ok(())
}
