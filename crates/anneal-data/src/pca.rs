//! Principal component analysis: by number of components or by explained-variance
//! fraction, optional whitening, inverse transform. The decomposition is faer's
//! thin SVD of the centred training data; component signs follow scikit-learn's
//! `svd_flip` (each component's largest-magnitude loading is positive), so
//! components equal `sklearn.decomposition.PCA`'s.

use faer::Mat;
use serde::{Deserialize, Serialize};

use crate::dense::Dense;
use crate::error::{DataError, Result};

/// How many components to keep.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Components {
    /// Exactly this many.
    Count(usize),
    /// The fewest whose cumulative explained-variance ratio exceeds this fraction (0, 1).
    VarianceFraction(f64),
    /// min(rows, columns).
    All,
}

/// PCA hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PcaConfig {
    /// Components to keep.
    pub components: Components,
    /// Scale each component to unit variance.
    #[serde(default)]
    pub whiten: bool,
}

/// A fitted PCA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pca {
    columns: Vec<String>,
    mean: Vec<f64>,
    /// Row-major `k × d`.
    components: Vec<f64>,
    explained_variance: Vec<f64>,
    explained_variance_ratio: Vec<f64>,
    whiten: bool,
}

impl PcaConfig {
    /// Fits the components on `x` (no missing cells allowed: impute first).
    ///
    /// ```
    /// use anneal_data::Dense;
    /// use anneal_data::pca::{Components, PcaConfig};
    ///
    /// let rows: Vec<Vec<f64>> = (0..20).map(|i| { let t = i as f64; vec![t, 2.0 * t + 0.1 * (t * 7.0).sin()] }).collect();
    /// let x = Dense::from_rows(&["a", "b"], &rows)?;
    /// let pca = PcaConfig { components: Components::VarianceFraction(0.99), whiten: false }.fit(&x)?;
    /// assert_eq!(pca.n_components(), 1);
    /// assert!(pca.explained_variance_ratio()[0] > 0.99);
    /// # Ok::<(), anneal_data::DataError>(())
    /// ```
    pub fn fit(&self, x: &Dense) -> Result<Pca> {
        let (n, d) = (x.n_rows(), x.n_cols());
        if let Some((i, _)) = x.values().iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(DataError::NotFinite { column: x.names()[i % d].clone(), row: i / d, what: "PCA" });
        }
        if n < 2 {
            return Err(DataError::TooFewRows { what: "PCA rows", k: 2, n });
        }
        let max_k = n.min(d);
        if let Components::Count(k) = self.components
            && (k == 0 || k > max_k)
        {
            return Err(DataError::InvalidParameter(format!(
                "PCA with {k} components: must be between 1 and min(rows, columns) = {max_k}"
            )));
        }
        if let Components::VarianceFraction(f) = self.components
            && !(f > 0.0 && f < 1.0)
        {
            return Err(DataError::InvalidParameter(format!("PCA variance fraction {f} is not in (0, 1)")));
        }
        let mean: Vec<f64> = (0..d).map(|c| x.column(c).sum::<f64>() / n as f64).collect();
        let centred = Mat::<f64>::from_fn(n, d, |i, j| x.get(i, j) - mean[j]);
        let svd =
            centred.thin_svd().map_err(|e| DataError::InvalidParameter(format!("SVD did not converge: {e:?}")))?;
        let s = svd.S().column_vector();
        let v = svd.V();
        let explained_all: Vec<f64> = (0..max_k).map(|k| s[k] * s[k] / (n - 1) as f64).collect();
        let total: f64 = explained_all.iter().sum();
        let ratio_all: Vec<f64> = explained_all.iter().map(|e| if total > 0.0 { e / total } else { 0.0 }).collect();
        let k = match self.components {
            Components::Count(k) => k,
            Components::All => max_k,
            Components::VarianceFraction(f) => {
                let mut cum = 0.0;
                ratio_all
                    .iter()
                    .position(|r| {
                        cum += r;
                        cum > f
                    })
                    .map_or(max_k, |p| p + 1)
            }
        };
        let mut components = Vec::with_capacity(k * d);
        for comp in 0..k {
            let loading: Vec<f64> = (0..d).map(|j| v[(j, comp)]).collect();
            let biggest = loading.iter().copied().fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
            let sign = if biggest < 0.0 { -1.0 } else { 1.0 };
            components.extend(loading.iter().map(|x| x * sign));
        }
        Ok(Pca {
            columns: x.names().to_vec(),
            mean,
            components,
            explained_variance: explained_all[..k].to_vec(),
            explained_variance_ratio: ratio_all[..k].to_vec(),
            whiten: self.whiten,
        })
    }
}

impl Pca {
    /// Number of components kept.
    pub fn n_components(&self) -> usize {
        self.explained_variance.len()
    }

    /// Component `k`'s loadings over the input columns.
    pub fn component(&self, k: usize) -> &[f64] {
        let d = self.columns.len();
        &self.components[k * d..(k + 1) * d]
    }

    /// Variance along each component (sample variance, `n − 1`).
    pub fn explained_variance(&self) -> &[f64] {
        &self.explained_variance
    }

    /// Fraction of the total variance along each component.
    pub fn explained_variance_ratio(&self) -> &[f64] {
        &self.explained_variance_ratio
    }

    /// Projects `x` onto the components: columns `pca_0`, `pca_1`, ...
    pub fn transform(&self, x: &Dense) -> Result<Dense> {
        x.expect_columns(&self.columns, "PCA")?;
        let k = self.n_components();
        let mut values = Vec::with_capacity(x.n_rows() * k);
        for r in 0..x.n_rows() {
            let row = x.row(r);
            for c in 0..k {
                let dot: f64 = self.component(c).iter().zip(row).zip(&self.mean).map(|((w, v), m)| w * (v - m)).sum();
                values.push(if self.whiten { dot / self.explained_variance[c].sqrt() } else { dot });
            }
        }
        Ok(x.with_values(values, (0..k).map(|c| format!("pca_{c}")).collect()))
    }

    /// Maps projections back to the input space (exact when all components are kept).
    pub fn inverse_transform(&self, y: &Dense) -> Result<Dense> {
        let k = self.n_components();
        if y.n_cols() != k {
            return Err(DataError::Shape(format!("PCA inverse needs {k} columns, got {}", y.n_cols())));
        }
        let d = self.columns.len();
        let mut values = Vec::with_capacity(y.n_rows() * d);
        for r in 0..y.n_rows() {
            let row = y.row(r);
            for j in 0..d {
                let mut v = self.mean[j];
                for (c, y) in row.iter().enumerate() {
                    let s = if self.whiten { self.explained_variance[c].sqrt() } else { 1.0 };
                    v += y * s * self.components[c * d + j];
                }
                values.push(v);
            }
        }
        Ok(y.with_values(values, self.columns.clone()))
    }
}
