//! Transforms of numeric (regression) targets, fitted on the training rows and
//! inverted for every reported number and prediction.
//!
//! ```
//! use anneal_data::target::{TargetTransform, TargetTransformKind};
//!
//! let y = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // two targets per row
//! let t = TargetTransform::fit(TargetTransformKind::Standard, &y, 2)?;
//! let mut z = t.transform(&y)?;
//! assert!((z[0] + z[4]).abs() < 1e-6); // each target centred
//! t.inverse(&mut z);
//! assert!((z[5] - 6.0).abs() < 1e-5);
//! # Ok::<(), anneal_data::DataError>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};

/// Which transform a regression target gets before training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetTransformKind {
    /// `(y − mean) / std` per target, with the training rows' mean and
    /// (population) standard deviation: the loss is on a unit scale whatever
    /// the target's units, so one learning rate suits every file.
    #[default]
    Standard,
    /// `ln(1 + y)`: for counts and other skewed, non-negative targets (values
    /// must be above −1). Predictions are `exp(z) − 1`.
    Log1p,
    /// The target as it is.
    None,
}

/// A fitted target transform: its kind and, for `standard`, each target's
/// training mean and standard deviation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetTransform {
    /// The transform.
    pub kind: TargetTransformKind,
    /// Mean of each target over the training rows (`standard` only; empty otherwise).
    #[serde(default)]
    pub mean: Vec<f64>,
    /// Standard deviation of each target (`standard` only; 1 where a target is constant).
    #[serde(default)]
    pub std: Vec<f64>,
}

impl TargetTransform {
    /// Fits `kind` on row-major training targets (`n_targets` per row). Missing
    /// or infinite values are errors naming the row; `log1p` needs values above −1.
    pub fn fit(kind: TargetTransformKind, values: &[f64], n_targets: usize) -> Result<Self> {
        if n_targets == 0 || !values.len().is_multiple_of(n_targets) {
            return Err(DataError::Shape(format!("{} target values do not make rows of {n_targets}", values.len())));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(DataError::NotFinite {
                column: "target".into(),
                row: i / n_targets,
                what: "a regression target",
            });
        }
        let (mut mean, mut std) = (Vec::new(), Vec::new());
        match kind {
            TargetTransformKind::Standard => {
                let n = (values.len() / n_targets).max(1) as f64;
                for j in 0..n_targets {
                    let column = values.iter().skip(j).step_by(n_targets);
                    let m = column.clone().sum::<f64>() / n;
                    let var = column.map(|v| (v - m) * (v - m)).sum::<f64>() / n;
                    mean.push(m);
                    std.push(if var > 0.0 { var.sqrt() } else { 1.0 });
                }
            }
            TargetTransformKind::Log1p => {
                if let Some(i) = values.iter().position(|&v| v <= -1.0) {
                    return Err(DataError::InvalidParameter(format!(
                        "target_transform = \"log1p\" needs targets above -1, but row {} has {}",
                        i / n_targets,
                        values[i]
                    )));
                }
            }
            TargetTransformKind::None => {}
        }
        Ok(Self { kind, mean, std })
    }

    /// The identity (`none`).
    pub fn identity() -> Self {
        Self { kind: TargetTransformKind::None, mean: Vec::new(), std: Vec::new() }
    }

    /// Transforms row-major targets into the training units, as `f32`.
    pub fn transform(&self, values: &[f64]) -> Result<Vec<f32>> {
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(DataError::NotFinite { column: "target".into(), row: i, what: "a regression target" });
        }
        let k = self.mean.len().max(1);
        Ok(values
            .iter()
            .enumerate()
            .map(|(i, &v)| match self.kind {
                TargetTransformKind::Standard => ((v - self.mean[i % k]) / self.std[i % k]) as f32,
                TargetTransformKind::Log1p => v.ln_1p() as f32,
                TargetTransformKind::None => v as f32,
            })
            .collect())
    }

    /// Maps row-major values in the training units back to the user's units, in place.
    pub fn inverse(&self, values: &mut [f32]) {
        let k = self.mean.len().max(1);
        for (i, v) in values.iter_mut().enumerate() {
            *v = match self.kind {
                TargetTransformKind::Standard => (f64::from(*v) * self.std[i % k] + self.mean[i % k]) as f32,
                TargetTransformKind::Log1p => f64::from(*v).exp_m1() as f32,
                TargetTransformKind::None => *v,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn inverse_undoes_transform(values in proptest::collection::vec(-1e3f64..1e3, 2..40), log in any::<bool>()) {
            let kind = if log { TargetTransformKind::Log1p } else { TargetTransformKind::Standard };
            let values: Vec<f64> = if log { values.iter().map(|v| v.abs()).collect() } else { values };
            let t = TargetTransform::fit(kind, &values, 1).unwrap();
            let mut z = t.transform(&values).unwrap();
            t.inverse(&mut z);
            for (a, b) in z.iter().zip(&values) {
                prop_assert!((f64::from(*a) - b).abs() <= 1e-3 * (1.0 + b.abs()), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn bad_targets_are_named() {
        assert!(matches!(
            TargetTransform::fit(TargetTransformKind::Standard, &[1.0, f64::NAN], 1),
            Err(DataError::NotFinite { row: 1, .. })
        ));
        let e = TargetTransform::fit(TargetTransformKind::Log1p, &[0.0, -2.0], 1).unwrap_err();
        assert!(e.to_string().contains("row 1"), "{e}");
        // A constant target keeps a unit scale instead of dividing by zero.
        let t = TargetTransform::fit(TargetTransformKind::Standard, &[3.0, 3.0], 1).unwrap();
        assert_eq!(t.transform(&[3.0]).unwrap(), [0.0]);
    }
}
