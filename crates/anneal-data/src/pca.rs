//! Principal component analysis: by number of components or by explained-variance
//! fraction, optional whitening, inverse transform. The decomposition is faer's
//! thin SVD of the centred training data; component signs follow scikit-learn's
//! `svd_flip` (each component's largest-magnitude loading is positive), so
//! components equal `sklearn.decomposition.PCA`'s.

use faer::{Mat, MatRef};
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
        self.check(n, d)?;
        let mut mean = vec![0.0; d];
        for row in x.values().chunks_exact(d) {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += v;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        if n >= 10 * d {
            // Tall data: eigendecomposition of the d × d covariance (scikit-learn's
            // `covariance_eigh` solver for this shape): (XᵀX − n·μμᵀ) / (n − 1), one
            // matrix product straight over the row-major data, no centred copy.
            let xr = MatRef::from_row_major_slice(x.values(), n, d);
            let gram = xr.transpose() * xr;
            return self.fit_gram(x.names().to_vec(), mean, gram, n);
        }
        let centred = Mat::<f64>::from_fn(n, d, |i, j| x.get(i, j) - mean[j]);
        let svd =
            centred.thin_svd().map_err(|e| DataError::InvalidParameter(format!("SVD did not converge: {e:?}")))?;
        let s = svd.S().column_vector();
        let explained: Vec<f64> = (0..n.min(d)).map(|k| s[k] * s[k] / (n - 1) as f64).collect();
        let total = explained.iter().sum();
        self.finish(x.names().to_vec(), mean, explained, svd.V().to_owned(), total)
    }

    /// Fits on rows made of a dense block followed by one-hot blocks (see
    /// [`Pca::transform_one_hot`]) without assembling them: the Gram matrix is built
    /// blockwise from the codes. `names` covers all columns, dense ones first.
    /// Falls back to assembling the matrix when the data is not tall (rows < 10 ×
    /// columns).
    pub fn fit_one_hot(&self, dense: &Dense, hot: &[Vec<Option<usize>>], names: Vec<String>) -> Result<Pca> {
        let (n, dn, d) = (dense.n_rows(), dense.n_cols(), names.len());
        if let Some((i, _)) = dense.values().iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(DataError::NotFinite { column: dense.names()[i % dn].clone(), row: i / dn, what: "PCA" });
        }
        if hot.iter().flatten().flatten().any(|&c| c < dn || c >= d) || hot.iter().any(|b| b.len() != n) {
            return Err(DataError::Shape("one-hot columns fall outside the named columns".into()));
        }
        self.check(n, d)?;
        if n < 10 * d {
            let mut values = vec![0.0; n * d];
            for r in 0..n {
                values[r * d..r * d + dn].copy_from_slice(dense.row(r));
                for block in hot {
                    if let Some(c) = block[r] {
                        values[r * d + c] = 1.0;
                    }
                }
            }
            return self.fit(&Dense::new(values, names)?);
        }
        let mut gram = Mat::<f64>::zeros(d, d);
        let mut sums = vec![0.0; d];
        if dn > 0 {
            let xr = MatRef::from_row_major_slice(dense.values(), n, dn);
            let g = xr.transpose() * xr;
            for i in 0..dn {
                for j in 0..dn {
                    gram[(i, j)] = g[(i, j)];
                }
            }
        }
        for r in 0..n {
            let row = dense.row(r);
            for (j, v) in row.iter().enumerate() {
                sums[j] += v;
            }
            for (b, block) in hot.iter().enumerate() {
                let Some(c) = block[r] else { continue };
                sums[c] += 1.0;
                for (j, v) in row.iter().enumerate() {
                    gram[(j, c)] += v;
                }
                for other in &hot[..=b] {
                    if let Some(c2) = other[r] {
                        gram[(c2, c)] += 1.0;
                    }
                }
            }
        }
        // The loop above filled the upper triangle of every block involving one-hot
        // columns (row index <= column index); mirror it below the diagonal.
        for i in dn..d {
            for j in 0..i {
                gram[(i, j)] = gram[(j, i)];
            }
        }
        let mean: Vec<f64> = sums.iter().map(|s| s / n as f64).collect();
        self.fit_gram(names, mean, gram, n)
    }

    fn check(&self, n: usize, d: usize) -> Result<()> {
        if n < 2 {
            return Err(DataError::TooFewRows { what: "PCA rows", k: 2, n });
        }
        if d == 0 {
            return Err(DataError::Shape("PCA needs at least one column".into()));
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
        Ok(())
    }

    /// Components from the Gram matrix `XᵀX` and the column means.
    fn fit_gram(&self, names: Vec<String>, mean: Vec<f64>, gram: Mat<f64>, n: usize) -> Result<Pca> {
        let d = names.len();
        let cov = Mat::<f64>::from_fn(d, d, |i, j| (gram[(i, j)] - n as f64 * mean[i] * mean[j]) / (n - 1) as f64);
        let eig = cov
            .self_adjoint_eigen(faer::Side::Lower)
            .map_err(|e| DataError::InvalidParameter(format!("eigendecomposition did not converge: {e:?}")))?;
        let values = eig.S().column_vector();
        let total: f64 = (0..d).map(|j| cov[(j, j)]).sum();
        let max_k = n.min(d);
        // Eigenvalues come in increasing order: reverse, and clip rounding below zero.
        let explained: Vec<f64> = (0..max_k).map(|k| values[d - 1 - k].max(0.0)).collect();
        let u = eig.U();
        let vectors = Mat::<f64>::from_fn(d, max_k, |j, k| u[(j, d - 1 - k)]);
        self.finish(names, mean, explained, vectors, total)
    }

    /// Keeps the requested components, with scikit-learn's sign convention.
    fn finish(
        &self,
        columns: Vec<String>,
        mean: Vec<f64>,
        explained_all: Vec<f64>,
        v: Mat<f64>,
        total: f64,
    ) -> Result<Pca> {
        let d = columns.len();
        let max_k = explained_all.len();
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
            columns,
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
        let d = self.columns.len();
        // One matrix product over the row-major data: x · W − μ · W, where W holds the
        // components (scaled per component when whitening).
        let (weights, offset) = self.weights();
        let projected = MatRef::from_row_major_slice(x.values(), x.n_rows(), d) * &weights;
        let mut values = Vec::with_capacity(x.n_rows() * k);
        for r in 0..x.n_rows() {
            values.extend((0..k).map(|c| projected[(r, c)] - offset[c]));
        }
        Ok(x.with_values(values, (0..k).map(|c| format!("pca_{c}")).collect()))
    }

    /// Projects rows made of a dense block followed by one-hot blocks without
    /// materialising the one-hot columns: `hot[b][r]` is the column (counted over
    /// the whole input, so at least `dense.n_cols()`) holding row `r`'s single 1 in
    /// block `b`, or `None` for an all-zero block. Equal to [`Pca::transform`] on the
    /// assembled matrix.
    pub fn transform_one_hot(&self, dense: &Dense, hot: &[Vec<Option<usize>>]) -> Result<Dense> {
        let d = self.columns.len();
        let dn = dense.n_cols();
        if dn > d || dense.names() != &self.columns[..dn] {
            return Err(DataError::Shape(format!(
                "PCA was fitted on columns [{}] but the dense block has [{}]",
                self.columns.join(", "),
                dense.names().join(", ")
            )));
        }
        let k = self.n_components();
        let n = dense.n_rows();
        let (weights, offset) = self.weights();
        let mut values = Vec::with_capacity(n * k);
        let projected = (dn > 0).then(|| {
            let w = Mat::<f64>::from_fn(dn, k, |j, c| weights[(j, c)]);
            MatRef::from_row_major_slice(dense.values(), n, dn) * &w
        });
        for r in 0..n {
            for c in 0..k {
                let mut v = projected.as_ref().map_or(0.0, |p| p[(r, c)]) - offset[c];
                for block in hot {
                    if let Some(col) = block[r] {
                        v += weights[(col, c)];
                    }
                }
                values.push(v);
            }
        }
        Ok(dense.with_values(values, (0..k).map(|c| format!("pca_{c}")).collect()))
    }

    /// The projection matrix `d × k` (components, scaled when whitening) and the
    /// per-component offset `μ · W`.
    fn weights(&self) -> (Mat<f64>, Vec<f64>) {
        let d = self.columns.len();
        let k = self.n_components();
        let scale: Vec<f64> =
            self.explained_variance.iter().map(|v| if self.whiten { 1.0 / v.sqrt() } else { 1.0 }).collect();
        let weights = Mat::<f64>::from_fn(d, k, |j, c| self.components[c * d + j] * scale[c]);
        let offset: Vec<f64> = (0..k).map(|c| (0..d).map(|j| self.mean[j] * weights[(j, c)]).sum()).collect();
        (weights, offset)
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
