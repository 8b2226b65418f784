//! Regression metrics over `f64` slices: mean squared, root mean squared, mean
//! absolute, median absolute and mean absolute percentage error, R², explained
//! variance and max error, each as scikit-learn defines it.

use serde::{Deserialize, Serialize};

use crate::EvalError;
use crate::check;

/// Every regression metric of one set of predictions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RegressionMetrics {
    /// Mean squared error.
    pub mse: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Median absolute error; `None` from a [`StreamingRegression`](crate::StreamingRegression)
    /// that does not keep residuals.
    pub median_absolute_error: Option<f64>,
    /// Mean absolute percentage error, as a fraction (see
    /// [`mean_absolute_percentage_error`]).
    pub mape: f64,
    /// Coefficient of determination (see [`r2_score`]).
    pub r2: f64,
    /// Explained variance (see [`explained_variance_score`]).
    pub explained_variance: f64,
    /// Largest absolute error.
    pub max_error: f64,
}

/// Count, mean and sum of squared deviations, merged across batches by Chan et
/// al.'s pairwise update; one batch is an exact two-pass computation.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Moments {
    n: u64,
    mean: f64,
    m2: f64,
}

impl Moments {
    fn of(values: impl Iterator<Item = f64> + Clone) -> Self {
        let (mut n, mut sum) = (0u64, 0.0);
        for v in values.clone() {
            n += 1;
            sum += v;
        }
        if n == 0 {
            return Moments::default();
        }
        let mean = sum / n as f64;
        let m2 = values.map(|v| (v - mean) * (v - mean)).sum();
        Moments { n, mean, m2 }
    }

    fn merge(&mut self, o: &Moments) {
        if o.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = *o;
            return;
        }
        let n = self.n + o.n;
        let delta = o.mean - self.mean;
        self.mean += delta * o.n as f64 / n as f64;
        self.m2 += o.m2 + delta * delta * (self.n as f64 * o.n as f64 / n as f64);
        self.n = n;
    }
}

/// Sums that every regression metric but the median derives from.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Sums {
    squared: f64,
    absolute: f64,
    percentage: f64,
    max: f64,
    /// Of `y_true`.
    y: Moments,
    /// Of `y_true - y_pred`.
    residual: Moments,
}

impl Sums {
    /// Adds a checked batch.
    pub(crate) fn add(&mut self, y_true: &[f64], y_pred: &[f64]) {
        let pairs = y_true.iter().zip(y_pred);
        for (&t, &p) in pairs.clone() {
            let d = t - p;
            self.squared += d * d;
            self.absolute += d.abs();
            self.percentage += (p - t).abs() / t.abs().max(f64::EPSILON);
            self.max = self.max.max(d.abs());
        }
        self.y.merge(&Moments::of(y_true.iter().copied()));
        self.residual.merge(&Moments::of(pairs.map(|(&t, &p)| t - p)));
    }

    pub(crate) fn merge(&mut self, o: &Sums) {
        self.squared += o.squared;
        self.absolute += o.absolute;
        self.percentage += o.percentage;
        self.max = self.max.max(o.max);
        self.y.merge(&o.y);
        self.residual.merge(&o.residual);
    }

    pub(crate) fn count(&self) -> u64 {
        self.y.n
    }

    fn r2(&self) -> f64 {
        if self.y.n < 2 { f64::NAN } else { explained_fraction(self.squared, self.y.m2) }
    }

    fn explained_variance(&self) -> f64 {
        let n = self.y.n as f64;
        explained_fraction(self.residual.m2 / n, self.y.m2 / n)
    }

    pub(crate) fn metrics(&self, median_absolute_error: Option<f64>) -> RegressionMetrics {
        let n = self.y.n as f64;
        let mse = self.squared / n;
        RegressionMetrics {
            mse,
            rmse: mse.sqrt(),
            mae: self.absolute / n,
            median_absolute_error,
            mape: self.percentage / n,
            r2: self.r2(),
            explained_variance: self.explained_variance(),
            max_error: self.max,
        }
    }
}

/// `1 - numerator / denominator` with scikit-learn's `force_finite=True`: 1 for a
/// perfect fit, 0 for an imperfect fit of a constant target.
fn explained_fraction(numerator: f64, denominator: f64) -> f64 {
    match (numerator == 0.0, denominator == 0.0) {
        (true, _) => 1.0,
        (false, true) => 0.0,
        (false, false) => 1.0 - numerator / denominator,
    }
}

/// Checks lengths and finiteness.
pub(crate) fn check_pair(y_true: &[f64], y_pred: &[f64]) -> Result<(), EvalError> {
    check::lengths(y_true.len(), y_pred.len())?;
    check::finite("y_true", y_true)?;
    check::finite("y_pred", y_pred)
}

fn mean_of(y_true: &[f64], y_pred: &[f64], f: impl Fn(f64, f64) -> f64) -> Result<f64, EvalError> {
    check_pair(y_true, y_pred)?;
    Ok(y_true.iter().zip(y_pred).map(|(&t, &p)| f(t, p)).sum::<f64>() / y_true.len() as f64)
}

/// Mean of `(y_true - y_pred)^2`.
///
/// # Errors
/// [`EvalError::LengthMismatch`], [`EvalError::Empty`], [`EvalError::NonFinite`]
/// (the same for every function here).
pub fn mean_squared_error(y_true: &[f64], y_pred: &[f64]) -> Result<f64, EvalError> {
    mean_of(y_true, y_pred, |t, p| (t - p) * (t - p))
}

/// Square root of [`mean_squared_error`].
///
/// # Errors
/// As [`mean_squared_error`].
pub fn root_mean_squared_error(y_true: &[f64], y_pred: &[f64]) -> Result<f64, EvalError> {
    Ok(mean_squared_error(y_true, y_pred)?.sqrt())
}

/// Mean of `|y_true - y_pred|`.
///
/// # Errors
/// As [`mean_squared_error`].
pub fn mean_absolute_error(y_true: &[f64], y_pred: &[f64]) -> Result<f64, EvalError> {
    mean_of(y_true, y_pred, |t, p| (t - p).abs())
}

/// Median of `|y_true - y_pred|`; the mean of the two middle values for an even
/// count, as NumPy's `median`.
///
/// # Errors
/// As [`mean_squared_error`].
pub fn median_absolute_error(y_true: &[f64], y_pred: &[f64]) -> Result<f64, EvalError> {
    check_pair(y_true, y_pred)?;
    let mut abs: Vec<f64> = y_true.iter().zip(y_pred).map(|(&t, &p)| (t - p).abs()).collect();
    Ok(median(&mut abs))
}

/// Median of finite values, reordering them; NaN for none.
pub(crate) fn median(v: &mut [f64]) -> f64 {
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    let (lower, mid, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    let mid = *mid;
    if n % 2 == 1 { mid } else { (lower.iter().copied().fold(f64::NEG_INFINITY, f64::max) + mid) / 2.0 }
}

/// Mean of `|y_true - y_pred| / max(|y_true|, eps)` with `eps = f64::EPSILON`, as a
/// fraction (0.25 is 25 %), as scikit-learn's `mean_absolute_percentage_error`: a
/// zero target does not divide by zero but gives a huge term (about `4.5e15 *
/// |error|`), which says that MAPE is the wrong metric for such data.
///
/// # Errors
/// As [`mean_squared_error`].
pub fn mean_absolute_percentage_error(y_true: &[f64], y_pred: &[f64]) -> Result<f64, EvalError> {
    mean_of(y_true, y_pred, |t, p| (p - t).abs() / t.abs().max(f64::EPSILON))
}

/// Coefficient of determination `1 - SS_res / SS_tot` (scikit-learn's `r2_score`,
/// `force_finite=True`): 1 for a perfect fit, 0 for an imperfect fit of a constant
/// `y_true`, and NaN for a single sample (scikit-learn warns and returns NaN).
///
/// # Errors
/// As [`mean_squared_error`].
pub fn r2_score(y_true: &[f64], y_pred: &[f64]) -> Result<f64, EvalError> {
    Ok(sums(y_true, y_pred)?.r2())
}

/// Explained variance `1 - Var(y_true - y_pred) / Var(y_true)` (scikit-learn's
/// `explained_variance_score`, `force_finite=True`); unlike R² it ignores a constant
/// bias of the predictions.
///
/// # Errors
/// As [`mean_squared_error`].
pub fn explained_variance_score(y_true: &[f64], y_pred: &[f64]) -> Result<f64, EvalError> {
    Ok(sums(y_true, y_pred)?.explained_variance())
}

/// Largest `|y_true - y_pred|`.
///
/// # Errors
/// As [`mean_squared_error`].
pub fn max_error(y_true: &[f64], y_pred: &[f64]) -> Result<f64, EvalError> {
    check_pair(y_true, y_pred)?;
    Ok(y_true.iter().zip(y_pred).map(|(&t, &p)| (t - p).abs()).fold(0.0, f64::max))
}

fn sums(y_true: &[f64], y_pred: &[f64]) -> Result<Sums, EvalError> {
    check_pair(y_true, y_pred)?;
    let mut s = Sums::default();
    s.add(y_true, y_pred);
    Ok(s)
}

/// Every regression metric at once (two passes over the data, plus a selection for
/// the median).
///
/// ```
/// let m = anneal_evaluate::regression_metrics(&[3.0, -0.5, 2.0, 7.0], &[2.5, 0.0, 2.0, 8.0])?;
/// assert_eq!(m.mse, 0.375);
/// assert_eq!(m.median_absolute_error, Some(0.5));
/// assert!((m.r2 - 0.948_608_137_044_967_9).abs() < 1e-12);
/// # Ok::<(), anneal_evaluate::EvalError>(())
/// ```
///
/// # Errors
/// As [`mean_squared_error`].
pub fn regression_metrics(y_true: &[f64], y_pred: &[f64]) -> Result<RegressionMetrics, EvalError> {
    let s = sums(y_true, y_pred)?;
    Ok(s.metrics(Some(median_absolute_error(y_true, y_pred)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_even_and_odd_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }

    #[test]
    fn chan_merge_equals_one_pass() {
        let xs: Vec<f64> = (0..100).map(|i| (i as f64 * 0.37).sin() * 10.0 + 3.0).collect();
        let whole = Moments::of(xs.iter().copied());
        let mut merged = Moments::default();
        for chunk in xs.chunks(7) {
            merged.merge(&Moments::of(chunk.iter().copied()));
        }
        assert_eq!(merged.n, whole.n);
        assert!((merged.mean - whole.mean).abs() < 1e-12);
        assert!((merged.m2 - whole.m2).abs() < 1e-9 * whole.m2);
    }
}
