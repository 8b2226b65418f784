//! Scalers: standard, min-max, robust (median / IQR) and max-abs, each a
//! hyperparameter type that fits a serialisable, invertible scaler.
//!
//! Missing cells (`NaN`) are ignored when fitting and stay missing, as in
//! scikit-learn. A column whose scale is zero (constant) is only shifted.

use serde::{Deserialize, Serialize};

use crate::dense::{Dense, mean_variance, quantile_sorted};
use crate::error::{DataError, Result};

/// Which scaling to fit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScalerConfig {
    /// (x − mean) / std, population std (scikit-learn's `StandardScaler`).
    Standard,
    /// Maps [min, max] to [`low`, `high`] (`MinMaxScaler(feature_range=(low, high))`).
    MinMax {
        /// Lower end of the output range.
        low: f64,
        /// Upper end of the output range.
        high: f64,
    },
    /// (x − median) / (q_high − q_low) with quantiles in percent (`RobustScaler`).
    Robust {
        /// Lower quantile, in percent (default 25).
        q_low: f64,
        /// Upper quantile, in percent (default 75).
        q_high: f64,
    },
    /// x / max |x| (`MaxAbsScaler`).
    MaxAbs,
}

/// A fitted scaler: `y = (x − offset) / scale` per column, then for min-max
/// `y · (high − low) + low`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    columns: Vec<String>,
    offset: Vec<f64>,
    scale: Vec<f64>,
    low: f64,
    span: f64,
}

impl ScalerConfig {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        match *self {
            ScalerConfig::MinMax { low, high } if low.partial_cmp(&high) != Some(std::cmp::Ordering::Less) => {
                Err(DataError::InvalidParameter(format!("min-max range [{low}, {high}] is empty")))
            }
            ScalerConfig::Robust { q_low, q_high } if !(0.0 <= q_low && q_low < q_high && q_high <= 100.0) => Err(
                DataError::InvalidParameter(format!("robust quantile range ({q_low}, {q_high}) is not within 0..=100")),
            ),
            _ => Ok(()),
        }
    }

    /// Fits the scaler on `x` (the training rows).
    pub fn fit(&self, x: &Dense) -> Result<Scaler> {
        self.validate()?;
        let mut offset = Vec::with_capacity(x.n_cols());
        let mut scale = Vec::with_capacity(x.n_cols());
        for (c, mut v) in x.observed_columns().into_iter().enumerate() {
            if v.is_empty() {
                return Err(DataError::AllMissing { column: x.names()[c].clone(), what: "a scaler" });
            }
            let (o, s) = match *self {
                ScalerConfig::Standard => {
                    let (mean, var) = mean_variance(&v);
                    // A constant column's variance is rounding noise: leave its scale at 1.
                    (mean, if is_constant_feature(var, mean, v.len() as f64) { 0.0 } else { var.sqrt() })
                }
                ScalerConfig::MinMax { .. } => {
                    let (lo, hi) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
                    (lo, hi - lo)
                }
                ScalerConfig::Robust { q_low, q_high } => {
                    v.sort_by(f64::total_cmp);
                    let q = |p: f64| quantile_sorted(&v, p / 100.0);
                    (q(50.0), q(q_high) - q(q_low))
                }
                ScalerConfig::MaxAbs => (0.0, v.iter().fold(0.0f64, |m, x| m.max(x.abs()))),
            };
            offset.push(o);
            // scikit-learn's `_handle_zeros_in_scale`: a (near-)zero scale becomes 1.
            scale.push(if s < 10.0 * f64::EPSILON { 1.0 } else { s });
        }
        let (low, span) = match *self {
            ScalerConfig::MinMax { low, high } => (low, high - low),
            _ => (0.0, 1.0),
        };
        Ok(Scaler { columns: x.names().to_vec(), offset, scale, low, span })
    }
}

impl Scaler {
    /// Scales `x`, which must have the fitted columns.
    pub fn transform(&self, x: &Dense) -> Result<Dense> {
        x.expect_columns(&self.columns, "the scaler")?;
        Ok(x.map(|c, v| (v - self.offset[c]) / self.scale[c] * self.span + self.low))
    }

    /// Scales `x` in place.
    pub(crate) fn transform_owned(&self, mut x: Dense) -> Result<Dense> {
        x.expect_columns(&self.columns, "the scaler")?;
        x.map_in_place(|c, v| (v - self.offset[c]) / self.scale[c] * self.span + self.low);
        Ok(x)
    }

    /// Undoes [`Scaler::transform`].
    pub fn inverse_transform(&self, y: &Dense) -> Result<Dense> {
        y.expect_columns(&self.columns, "the scaler")?;
        Ok(y.map(|c, v| (v - self.low) / self.span * self.scale[c] + self.offset[c]))
    }

    /// Per-column offsets (mean, min, median or 0).
    pub fn offsets(&self) -> &[f64] {
        &self.offset
    }

    /// Per-column scales (std, range, IQR or max |x|; 1 for a constant column).
    pub fn scales(&self) -> &[f64] {
        &self.scale
    }
}

/// Whether a column with this (population) variance and mean is constant up to
/// rounding (scikit-learn's `_is_constant_feature`).
pub(crate) fn is_constant_feature(var: f64, mean: f64, n: f64) -> bool {
    let eps = f64::EPSILON;
    let upper = (n * eps * var + (n * mean * eps).powi(2)) / n;
    var <= upper
}
