//! Imputation of missing numeric cells: simple statistics (mean, median, most
//! frequent, constant), k-nearest-neighbours and iterative round-robin regression,
//! with optional missing-indicator columns. Matches scikit-learn's `SimpleImputer`,
//! `KNNImputer` and `IterativeImputer` (with a ridge estimator).

use serde::{Deserialize, Serialize};

use crate::dense::Dense;
use crate::error::{DataError, Result};
use crate::preprocess::median;

/// How a [`SimpleImputer`] fills a column.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "strategy", rename_all = "snake_case", deny_unknown_fields)]
pub enum SimpleStrategy {
    /// The mean of the observed training values.
    Mean,
    /// Their median.
    Median,
    /// Their most frequent value (ties: the smallest).
    MostFrequent,
    /// A given value.
    Constant {
        /// The fill value.
        value: f64,
    },
}

/// Hyperparameters of a simple imputer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimpleImputerConfig {
    /// The statistic.
    #[serde(flatten)]
    pub strategy: SimpleStrategy,
    /// Append a `<column>_missing` 0/1 column for each column that had missing
    /// training cells (scikit-learn's `add_indicator`).
    #[serde(default)]
    pub add_indicator: bool,
}

/// A fitted simple imputer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimpleImputer {
    columns: Vec<String>,
    fill: Vec<f64>,
    indicators: Vec<usize>,
}

impl SimpleImputerConfig {
    /// Learns one fill value per column from `x`.
    ///
    /// ```
    /// use anneal_data::{Dense, impute::{SimpleImputerConfig, SimpleStrategy}};
    ///
    /// let x = Dense::from_rows(&["a"], &[vec![1.0], vec![f64::NAN], vec![5.0]])?;
    /// let imp = SimpleImputerConfig { strategy: SimpleStrategy::Median, add_indicator: true }.fit(&x)?;
    /// let y = imp.transform(&x)?;
    /// assert_eq!(y.names(), ["a", "a_missing"]);
    /// assert_eq!(y.row(1), [3.0, 1.0]);
    /// # Ok::<(), anneal_data::DataError>(())
    /// ```
    pub fn fit(&self, x: &Dense) -> Result<SimpleImputer> {
        let mut fill = Vec::with_capacity(x.n_cols());
        let mut indicators = Vec::new();
        for (c, v) in x.observed_columns().into_iter().enumerate() {
            if v.len() < x.n_rows() {
                indicators.push(c);
            }
            let value = match self.strategy {
                SimpleStrategy::Constant { value } => value,
                _ if v.is_empty() => {
                    return Err(DataError::AllMissing { column: x.names()[c].clone(), what: "an imputation value" });
                }
                SimpleStrategy::Mean => v.iter().sum::<f64>() / v.len() as f64,
                SimpleStrategy::Median => median(&v),
                SimpleStrategy::MostFrequent => most_frequent(&v),
            };
            fill.push(value);
        }
        if !self.add_indicator {
            indicators.clear();
        }
        Ok(SimpleImputer { columns: x.names().to_vec(), fill, indicators })
    }
}

impl SimpleImputer {
    /// Fills missing cells of `x` (and appends indicator columns, if configured).
    pub fn transform(&self, x: &Dense) -> Result<Dense> {
        x.expect_columns(&self.columns, "the imputer")?;
        let filled = x.map(|c, v| if v.is_nan() { self.fill[c] } else { v });
        Ok(append_indicators(x, filled, &self.indicators))
    }

    /// Fills `x` in place when no indicator columns are configured; otherwise
    /// returns a new matrix as [`SimpleImputer::transform`].
    pub(crate) fn transform_owned(&self, mut x: Dense) -> Result<Dense> {
        if !self.indicators.is_empty() {
            return self.transform(&x);
        }
        x.expect_columns(&self.columns, "the imputer")?;
        x.map_in_place(|c, v| if v.is_nan() { self.fill[c] } else { v });
        Ok(x)
    }

    /// The fill value of each column.
    pub fn fill_values(&self) -> &[f64] {
        &self.fill
    }
}

/// Hyperparameters of a k-nearest-neighbours imputer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnnImputerConfig {
    /// Neighbours averaged per missing cell.
    pub n_neighbors: usize,
    /// Weight neighbours by inverse distance instead of uniformly.
    #[serde(default)]
    pub distance_weighted: bool,
    /// Append missing-indicator columns.
    #[serde(default)]
    pub add_indicator: bool,
}

/// A fitted k-NN imputer: it keeps the training rows as donors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnnImputer {
    config: KnnImputerConfig,
    columns: Vec<String>,
    donors: Vec<f64>,
    n_donors: usize,
    column_means: Vec<f64>,
    indicators: Vec<usize>,
}

impl KnnImputerConfig {
    /// Keeps `x` as the donor set.
    pub fn fit(&self, x: &Dense) -> Result<KnnImputer> {
        if self.n_neighbors == 0 {
            return Err(DataError::InvalidParameter("n_neighbors must be at least 1".into()));
        }
        if self.n_neighbors > x.n_rows() {
            return Err(DataError::TooFewRows { what: "n_neighbors", k: self.n_neighbors, n: x.n_rows() });
        }
        let mut column_means = Vec::with_capacity(x.n_cols());
        let mut indicators = Vec::new();
        for (c, v) in x.observed_columns().into_iter().enumerate() {
            if v.is_empty() {
                return Err(DataError::AllMissing { column: x.names()[c].clone(), what: "a k-NN imputation" });
            }
            if v.len() < x.n_rows() && self.add_indicator {
                indicators.push(c);
            }
            column_means.push(v.iter().sum::<f64>() / v.len() as f64);
        }
        Ok(KnnImputer {
            config: *self,
            columns: x.names().to_vec(),
            donors: x.values().to_vec(),
            n_donors: x.n_rows(),
            column_means,
            indicators,
        })
    }
}

impl KnnImputer {
    /// Fills each missing cell with the (weighted) mean of that column over the
    /// `n_neighbors` nearest training rows that have it, by NaN-aware Euclidean
    /// distance (scikit-learn's `nan_euclidean_distances`). A row with no
    /// comparable donor gets the training column mean.
    pub fn transform(&self, x: &Dense) -> Result<Dense> {
        x.expect_columns(&self.columns, "the imputer")?;
        let d = x.n_cols();
        let donor = |i: usize| &self.donors[i * d..(i + 1) * d];
        let mut out = x.values().to_vec();
        let mut candidates: Vec<(f64, usize)> = Vec::with_capacity(self.n_donors);
        for r in 0..x.n_rows() {
            let row = x.row(r);
            if !row.iter().any(|v| v.is_nan()) {
                continue;
            }
            // Distances from this row to every donor, once per row.
            let dist: Vec<f64> = (0..self.n_donors).map(|i| nan_euclidean(row, donor(i))).collect();
            for c in (0..d).filter(|&c| row[c].is_nan()) {
                candidates.clear();
                candidates.extend(
                    (0..self.n_donors).filter(|&i| !donor(i)[c].is_nan() && !dist[i].is_nan()).map(|i| (dist[i], i)),
                );
                if candidates.is_empty() {
                    out[r * d + c] = self.column_means[c];
                    continue;
                }
                let k = self.config.n_neighbors.min(candidates.len());
                candidates.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                let nearest = &candidates[..k];
                out[r * d + c] = if self.config.distance_weighted && nearest.iter().any(|(dist, _)| *dist == 0.0) {
                    // Exact matches dominate, as scikit-learn's inverse-distance weights do.
                    let exact: Vec<f64> =
                        nearest.iter().filter(|(dist, _)| *dist == 0.0).map(|(_, i)| donor(*i)[c]).collect();
                    exact.iter().sum::<f64>() / exact.len() as f64
                } else if self.config.distance_weighted {
                    let (num, den) =
                        nearest.iter().fold((0.0, 0.0), |(n, w), (dist, i)| (n + donor(*i)[c] / dist, w + 1.0 / dist));
                    num / den
                } else {
                    nearest.iter().map(|(_, i)| donor(*i)[c]).sum::<f64>() / k as f64
                };
            }
        }
        let filled = x.with_values(out, x.names().to_vec());
        Ok(append_indicators(x, filled, &self.indicators))
    }
}

/// Hyperparameters of an iterative (round-robin regression) imputer, as
/// scikit-learn's `IterativeImputer(estimator=Ridge(alpha))` with mean initial
/// imputation and ascending imputation order.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IterativeImputerConfig {
    /// Rounds over all columns (each round regresses every column on the others).
    pub max_iter: usize,
    /// Stop when the largest row-sum of absolute changes in a round falls below
    /// `tol · max |observed value|`.
    pub tol: f64,
    /// Ridge penalty of each column's regression (> 0).
    pub alpha: f64,
    /// Append missing-indicator columns.
    pub add_indicator: bool,
}

impl Default for IterativeImputerConfig {
    fn default() -> Self {
        Self { max_iter: 10, tol: 1e-3, alpha: 1.0, add_indicator: false }
    }
}

/// One fitted regression of the imputation sequence: column `target` from all
/// other columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ColumnRegression {
    target: usize,
    coefficients: Vec<f64>,
    intercept: f64,
}

/// A fitted iterative imputer: the initial means and every regression, in the
/// order they were fitted; transforming replays them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IterativeImputer {
    columns: Vec<String>,
    initial: Vec<f64>,
    sequence: Vec<ColumnRegression>,
    indicators: Vec<usize>,
    rounds: usize,
}

impl IterativeImputerConfig {
    /// Fits the regressions on `x` and returns the imputer with `x` imputed.
    pub fn fit_transform(&self, x: &Dense) -> Result<(IterativeImputer, Dense)> {
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(DataError::InvalidParameter(format!(
                "iterative imputer alpha must be > 0, got {}",
                self.alpha
            )));
        }
        if !(self.tol.is_finite() && self.tol >= 0.0) {
            return Err(DataError::InvalidParameter(format!("iterative imputer tol must be >= 0, got {}", self.tol)));
        }
        let initial = SimpleImputerConfig { strategy: SimpleStrategy::Mean, add_indicator: false }.fit(x)?;
        let (n, d) = (x.n_rows(), x.n_cols());
        let missing: Vec<bool> = x.values().iter().map(|v| v.is_nan()).collect();
        let mut counts = vec![0usize; d];
        for (i, &m) in missing.iter().enumerate() {
            counts[i % d.max(1)] += usize::from(m);
        }
        let indicators = if self.add_indicator { (0..d).filter(|&c| counts[c] > 0).collect() } else { Vec::new() };
        let mut imputer = IterativeImputer {
            columns: x.names().to_vec(),
            initial: initial.fill_values().to_vec(),
            sequence: Vec::new(),
            indicators,
            rounds: 0,
        };
        let mut xt = initial.transform(x)?.values().to_vec();
        if self.max_iter == 0 || counts.iter().all(|&c| c == 0) || d < 2 {
            let filled = x.with_values(xt, x.names().to_vec());
            return Ok((imputer.clone(), append_indicators(x, filled, &imputer.indicators)));
        }
        // Ascending fraction of missing values, stable (mergesort in scikit-learn).
        let mut order: Vec<usize> = (0..d).collect();
        order.sort_by_key(|&c| counts[c]);
        let scale = x.values().iter().filter(|v| !v.is_nan()).fold(0.0f64, |m, v| m.max(v.abs()));
        let threshold = self.tol * scale;
        for round in 1..=self.max_iter {
            let previous = xt.clone();
            for &c in &order {
                let rows: Vec<usize> = (0..n).filter(|&r| !missing[r * d + c]).collect();
                let step = ridge_column(&xt, d, c, &rows, self.alpha);
                fill_column(&mut xt, d, &step, (0..n).filter(|&r| missing[r * d + c]));
                imputer.sequence.push(step);
            }
            imputer.rounds = round;
            // numpy's matrix infinity norm: the largest row sum of absolute values.
            let change = (0..n)
                .map(|r| (0..d).map(|c| (xt[r * d + c] - previous[r * d + c]).abs()).sum::<f64>())
                .fold(0.0, f64::max);
            if change < threshold {
                break;
            }
        }
        let filled = x.with_values(xt, x.names().to_vec());
        Ok((imputer.clone(), append_indicators(x, filled, &imputer.indicators)))
    }
}

impl IterativeImputer {
    /// Imputes `x`: training means first, then every fitted regression in order,
    /// each filling the cells of its column that were missing in `x`.
    pub fn transform(&self, x: &Dense) -> Result<Dense> {
        x.expect_columns(&self.columns, "the imputer")?;
        let (n, d) = (x.n_rows(), x.n_cols());
        let missing: Vec<bool> = x.values().iter().map(|v| v.is_nan()).collect();
        let mut xt: Vec<f64> =
            x.values().iter().enumerate().map(|(i, &v)| if v.is_nan() { self.initial[i % d] } else { v }).collect();
        for step in &self.sequence {
            fill_column(&mut xt, d, step, (0..n).filter(|&r| missing[r * d + step.target]));
        }
        let filled = x.with_values(xt, x.names().to_vec());
        Ok(append_indicators(x, filled, &self.indicators))
    }

    /// Rounds run before convergence (or `max_iter`).
    pub fn rounds(&self) -> usize {
        self.rounds
    }
}

/// Ridge regression (with intercept) of column `c` of the row-major `x` on the
/// other columns, over `rows`.
fn ridge_column(x: &[f64], d: usize, c: usize, rows: &[usize], alpha: f64) -> ColumnRegression {
    let others: Vec<usize> = (0..d).filter(|&j| j != c).collect();
    let p = others.len();
    let m = rows.len().max(1) as f64;
    let mut mean = vec![0.0; p];
    let mut y_mean = 0.0;
    for &r in rows {
        let row = &x[r * d..(r + 1) * d];
        for (k, &j) in others.iter().enumerate() {
            mean[k] += row[j];
        }
        y_mean += row[c];
    }
    mean.iter_mut().for_each(|v| *v /= m);
    y_mean /= m;
    // Normal equations of the centred problem: (XᵀX + αI) w = Xᵀy.
    let mut gram = vec![0.0; p * p];
    let mut rhs = vec![0.0; p];
    let mut centred = vec![0.0; p];
    for &r in rows {
        let row = &x[r * d..(r + 1) * d];
        for (k, &j) in others.iter().enumerate() {
            centred[k] = row[j] - mean[k];
        }
        let y = row[c] - y_mean;
        for a in 0..p {
            rhs[a] += centred[a] * y;
            let ca = centred[a];
            for b in 0..=a {
                gram[a * p + b] += ca * centred[b];
            }
        }
    }
    for a in 0..p {
        gram[a * p + a] += alpha;
        for b in 0..a {
            gram[b * p + a] = gram[a * p + b];
        }
    }
    let w = cholesky_solve(gram, rhs, p);
    let intercept = y_mean - w.iter().zip(&mean).map(|(w, m)| w * m).sum::<f64>();
    ColumnRegression { target: c, coefficients: w, intercept }
}

/// Overwrites column `step.target` of `rows` with the regression's prediction.
fn fill_column(x: &mut [f64], d: usize, step: &ColumnRegression, rows: impl Iterator<Item = usize>) {
    for r in rows {
        let row = &x[r * d..(r + 1) * d];
        let mut value = step.intercept;
        let mut k = 0;
        for (j, &v) in row.iter().enumerate() {
            if j != step.target {
                value += step.coefficients[k] * v;
                k += 1;
            }
        }
        x[r * d + step.target] = value;
    }
}

/// Solves `a w = b` for a symmetric positive-definite `a` (ridge keeps it so).
fn cholesky_solve(mut a: Vec<f64>, mut b: Vec<f64>, p: usize) -> Vec<f64> {
    for j in 0..p {
        let mut diag = a[j * p + j];
        for k in 0..j {
            diag -= a[j * p + k] * a[j * p + k];
        }
        let l = diag.max(f64::MIN_POSITIVE).sqrt();
        a[j * p + j] = l;
        for i in j + 1..p {
            let mut v = a[i * p + j];
            for k in 0..j {
                v -= a[i * p + k] * a[j * p + k];
            }
            a[i * p + j] = v / l;
        }
    }
    for i in 0..p {
        for k in 0..i {
            b[i] -= a[i * p + k] * b[k];
        }
        b[i] /= a[i * p + i];
    }
    for i in (0..p).rev() {
        for k in i + 1..p {
            b[i] -= a[k * p + i] * b[k];
        }
        b[i] /= a[i * p + i];
    }
    b
}

/// Euclidean distance over the coordinates present in both rows, scaled up by
/// `n / n_present` (scikit-learn's `nan_euclidean_distances`); `NaN` if none.
fn nan_euclidean(a: &[f64], b: &[f64]) -> f64 {
    let (mut sum, mut present) = (0.0, 0usize);
    for (x, y) in a.iter().zip(b) {
        if !x.is_nan() && !y.is_nan() {
            sum += (x - y) * (x - y);
            present += 1;
        }
    }
    if present == 0 { f64::NAN } else { (sum * a.len() as f64 / present as f64).sqrt() }
}

fn most_frequent(v: &[f64]) -> f64 {
    let mut sorted = v.to_vec();
    sorted.sort_by(f64::total_cmp);
    let (mut best, mut best_count) = (sorted[0], 0usize);
    let mut i = 0;
    while i < sorted.len() {
        let j = sorted[i..].iter().position(|x| *x != sorted[i]).map_or(sorted.len(), |p| i + p);
        // Strictly greater keeps the smallest value among ties.
        if j - i > best_count {
            best = sorted[i];
            best_count = j - i;
        }
        i = j;
    }
    best
}

fn append_indicators(original: &Dense, filled: Dense, indicators: &[usize]) -> Dense {
    if indicators.is_empty() {
        return filled;
    }
    let d = filled.n_cols();
    let mut names = filled.names().to_vec();
    names.extend(indicators.iter().map(|&c| format!("{}_missing", original.names()[c])));
    let mut values = Vec::with_capacity(filled.n_rows() * names.len());
    for r in 0..filled.n_rows() {
        values.extend_from_slice(filled.row(r));
        values.extend(indicators.iter().map(|&c| if original.get(r, c).is_nan() { 1.0 } else { 0.0 }));
    }
    debug_assert_eq!(values.len(), filled.n_rows() * (d + indicators.len()));
    filled.with_values(values, names)
}
