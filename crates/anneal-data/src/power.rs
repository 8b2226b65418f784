//! Power transforms that make skewed columns more Gaussian: Box-Cox (positive data)
//! and Yeo-Johnson (any data), with λ fitted per column by maximum likelihood, then
//! optionally standardised. Matches scikit-learn's `PowerTransformer`.
//!
//! - Box, G. E. P. and Cox, D. R. (1964), *An analysis of transformations*.
//! - Yeo, I.-K. and Johnson, R. A. (2000), *A new family of power transformations
//!   to improve normality or symmetry*, Biometrika 87(4).

use serde::{Deserialize, Serialize};

use crate::dense::{Dense, mean_variance};
use crate::error::{DataError, Result};
use crate::scale::{Scaler, ScalerConfig, is_constant_feature};

/// Which power transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerMethod {
    /// Box-Cox: strictly positive data.
    BoxCox,
    /// Yeo-Johnson: any real data.
    YeoJohnson,
}

/// Hyperparameters of a power transform.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerConfig {
    /// The transform.
    pub method: PowerMethod,
    /// Standardise the transformed columns (zero mean, unit variance).
    #[serde(default = "yes")]
    pub standardize: bool,
}

fn yes() -> bool {
    true
}

/// A fitted power transform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerTransform {
    method: PowerMethod,
    columns: Vec<String>,
    lambdas: Vec<f64>,
    scaler: Option<Scaler>,
}

impl PowerConfig {
    /// Fits λ for each column of `x` by maximising the profile log-likelihood.
    ///
    /// ```
    /// use anneal_data::Dense;
    /// use anneal_data::power::{PowerConfig, PowerMethod};
    ///
    /// let x = Dense::from_rows(&["skewed"], &[vec![1.0], vec![2.0], vec![4.0], vec![8.0], vec![64.0]])?;
    /// let pt = PowerConfig { method: PowerMethod::BoxCox, standardize: true }.fit(&x)?;
    /// assert!(pt.lambdas()[0] < 0.5); // a log-like transform for log-spaced data
    /// let back = pt.inverse_transform(&pt.transform(&x)?)?;
    /// assert!((back.get(4, 0) - 64.0).abs() < 1e-9);
    /// # Ok::<(), anneal_data::DataError>(())
    /// ```
    pub fn fit(&self, x: &Dense) -> Result<PowerTransform> {
        let mut lambdas = Vec::with_capacity(x.n_cols());
        for c in 0..x.n_cols() {
            if self.method == PowerMethod::BoxCox {
                check_positive(x, c)?;
            }
            let v = x.observed(c);
            if v.is_empty() {
                return Err(DataError::AllMissing { column: x.names()[c].clone(), what: "a power transform" });
            }
            let lambda = match self.method {
                // Yeo-Johnson leaves a constant column unchanged (λ = 1), as scikit-learn.
                PowerMethod::YeoJohnson if is_constant(&v) => 1.0,
                method => maximise(|l| log_likelihood(method, &v, l)),
            };
            lambdas.push(lambda);
        }
        let mut fitted = PowerTransform { method: self.method, columns: x.names().to_vec(), lambdas, scaler: None };
        if self.standardize {
            let raw = fitted.apply(x);
            fitted.scaler = Some(ScalerConfig::Standard.fit(&raw)?);
        }
        Ok(fitted)
    }
}

impl PowerTransform {
    /// The fitted λ of each column.
    pub fn lambdas(&self) -> &[f64] {
        &self.lambdas
    }

    /// Transforms `x` (Box-Cox: every value must be positive).
    pub fn transform(&self, x: &Dense) -> Result<Dense> {
        x.expect_columns(&self.columns, "the power transform")?;
        if self.method == PowerMethod::BoxCox {
            for c in 0..x.n_cols() {
                check_positive(x, c)?;
            }
        }
        let y = self.apply(x);
        match &self.scaler {
            Some(s) => s.transform(&y),
            None => Ok(y),
        }
    }

    /// Undoes [`PowerTransform::transform`].
    pub fn inverse_transform(&self, y: &Dense) -> Result<Dense> {
        y.expect_columns(&self.columns, "the power transform")?;
        let y = match &self.scaler {
            Some(s) => s.inverse_transform(y)?,
            None => y.clone(),
        };
        Ok(y.map(|c, v| inverse(self.method, v, self.lambdas[c])))
    }

    fn apply(&self, x: &Dense) -> Dense {
        x.map(|c, v| forward(self.method, v, self.lambdas[c]))
    }
}

fn check_positive(x: &Dense, c: usize) -> Result<()> {
    match x.column(c).enumerate().find(|(_, v)| *v <= 0.0) {
        Some((row, value)) => Err(DataError::NonPositive { column: x.names()[c].clone(), row, value }),
        None => Ok(()),
    }
}

fn is_constant(v: &[f64]) -> bool {
    let (mean, var) = mean_variance(v);
    is_constant_feature(var, mean, v.len() as f64)
}

fn forward(method: PowerMethod, x: f64, l: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    match method {
        PowerMethod::BoxCox => {
            if l.abs() < 1e-12 {
                x.ln()
            } else {
                (x.powf(l) - 1.0) / l
            }
        }
        PowerMethod::YeoJohnson => {
            if x >= 0.0 {
                if l.abs() < 1e-12 { x.ln_1p() } else { ((x + 1.0).powf(l) - 1.0) / l }
            } else if (l - 2.0).abs() < 1e-12 {
                -(-x).ln_1p()
            } else {
                -((1.0 - x).powf(2.0 - l) - 1.0) / (2.0 - l)
            }
        }
    }
}

fn inverse(method: PowerMethod, y: f64, l: f64) -> f64 {
    if y.is_nan() {
        return y;
    }
    match method {
        PowerMethod::BoxCox => {
            if l.abs() < 1e-12 {
                y.exp()
            } else {
                (y * l + 1.0).powf(1.0 / l)
            }
        }
        PowerMethod::YeoJohnson => {
            if y >= 0.0 {
                if l.abs() < 1e-12 { y.exp_m1() } else { (y * l + 1.0).powf(1.0 / l) - 1.0 }
            } else if (l - 2.0).abs() < 1e-12 {
                -(-y).exp_m1()
            } else {
                1.0 - (1.0 - (2.0 - l) * y).powf(1.0 / (2.0 - l))
            }
        }
    }
}

/// Profile log-likelihood of λ for observed `v` (up to a constant).
fn log_likelihood(method: PowerMethod, v: &[f64], l: f64) -> f64 {
    let n = v.len() as f64;
    let t: Vec<f64> = v.iter().map(|&x| forward(method, x, l)).collect();
    let (_, var) = mean_variance(&t);
    if var.is_nan() || var <= 0.0 || var.is_infinite() {
        return f64::NEG_INFINITY;
    }
    let jacobian: f64 = match method {
        PowerMethod::BoxCox => v.iter().map(|x| x.ln()).sum(),
        PowerMethod::YeoJohnson => v.iter().map(|x| x.signum() * x.abs().ln_1p()).sum(),
    };
    -n / 2.0 * var.ln() + (l - 1.0) * jacobian
}

/// Maximises a unimodal-near-the-optimum function of λ: a grid over [-10, 10]
/// finds the bracket, then golden-section search narrows it to ~1e-12.
fn maximise(f: impl Fn(f64) -> f64) -> f64 {
    let step = 0.25;
    let (mut best, mut best_val) = (0.0, f64::NEG_INFINITY);
    let mut l = -10.0;
    while l <= 10.0 + 1e-9 {
        let v = f(l);
        if v > best_val {
            best = l;
            best_val = v;
        }
        l += step;
    }
    let (mut a, mut b) = (best - step, best + step);
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let (mut c, mut d) = (b - g * (b - a), a + g * (b - a));
    let (mut fc, mut fd) = (f(c), f(d));
    while (b - a).abs() > 1e-12 * (1.0 + best.abs()) {
        if fc > fd {
            b = d;
            d = c;
            fd = fc;
            c = b - g * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + g * (b - a);
            fd = f(d);
        }
    }
    (a + b) / 2.0
}
