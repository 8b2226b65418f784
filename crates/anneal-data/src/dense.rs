//! [`Dense`]: a named, row-major `f64` matrix with `NaN` for missing cells — the
//! input and output of the numeric transforms (scalers, imputers, power transforms,
//! polynomial features, PCA).

use crate::error::{DataError, Result};
use crate::table::Table;

/// A row-major `f64` matrix whose columns have names; `NaN` marks a missing cell.
///
/// ```
/// use anneal_data::Dense;
///
/// let x = Dense::from_rows(&["a", "b"], &[vec![1.0, f64::NAN], vec![3.0, 4.0]])?;
/// assert_eq!(x.column(0).collect::<Vec<_>>(), [1.0, 3.0]);
/// assert!(x.get(0, 1).is_nan());
/// # Ok::<(), anneal_data::DataError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    values: Vec<f64>,
    n_rows: usize,
    names: Vec<String>,
}

impl Dense {
    /// A matrix from row-major `values` and column `names`.
    pub fn new(values: Vec<f64>, names: Vec<String>) -> Result<Self> {
        let n_cols = names.len();
        if n_cols == 0 || !values.len().is_multiple_of(n_cols) {
            return Err(DataError::Shape(format!("{} values do not fill rows of {n_cols} columns", values.len())));
        }
        Ok(Self { n_rows: values.len() / n_cols, values, names })
    }

    /// A matrix with `n_rows` rows and no columns.
    pub fn empty(n_rows: usize) -> Result<Self> {
        Ok(Self { values: Vec::new(), n_rows, names: Vec::new() })
    }

    /// A matrix from rows (all of the same length as `names`).
    pub fn from_rows<S: AsRef<str>>(names: &[S], rows: &[Vec<f64>]) -> Result<Self> {
        let names: Vec<String> = names.iter().map(|n| n.as_ref().to_string()).collect();
        if let Some((i, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != names.len()) {
            return Err(DataError::Shape(format!("row {i} has {} values, expected {}", r.len(), names.len())));
        }
        Self::new(rows.concat(), names)
    }

    /// The numeric columns `columns` of `table` (missing cells become `NaN`).
    pub fn from_table(table: &Table, columns: &[String]) -> Result<Self> {
        let values = table.numeric_row_major(columns)?;
        Ok(Self { values, n_rows: table.n_rows(), names: columns.to_vec() })
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// Number of columns.
    pub fn n_cols(&self) -> usize {
        self.names.len()
    }

    /// Column names.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Row-major values.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The cell at row `r`, column `c`.
    ///
    /// # Panics
    /// If `r` or `c` is out of range.
    pub fn get(&self, r: usize, c: usize) -> f64 {
        self.values[r * self.n_cols() + c]
    }

    /// Row `r`.
    pub fn row(&self, r: usize) -> &[f64] {
        let d = self.n_cols();
        &self.values[r * d..(r + 1) * d]
    }

    /// The values of column `c`, top to bottom.
    pub fn column(&self, c: usize) -> impl Iterator<Item = f64> + '_ {
        self.values.iter().skip(c).step_by(self.n_cols().max(1)).copied()
    }

    /// The non-missing values of column `c`.
    pub fn observed(&self, c: usize) -> Vec<f64> {
        self.column(c).filter(|v| !v.is_nan()).collect()
    }

    /// The non-missing values of every column, gathered in one pass over the rows.
    pub fn observed_columns(&self) -> Vec<Vec<f64>> {
        let d = self.n_cols();
        let mut cols: Vec<Vec<f64>> = (0..d).map(|_| Vec::with_capacity(self.n_rows)).collect();
        for row in self.values.chunks_exact(d.max(1)) {
            for (col, &v) in cols.iter_mut().zip(row) {
                if !v.is_nan() {
                    col.push(v);
                }
            }
        }
        cols
    }

    /// A copy with `f(column, value)` applied to every cell.
    pub fn map(&self, f: impl Fn(usize, f64) -> f64) -> Self {
        let d = self.n_cols().max(1);
        let mut values = Vec::with_capacity(self.values.len());
        for row in self.values.chunks_exact(d) {
            values.extend(row.iter().enumerate().map(|(c, &v)| f(c, v)));
        }
        Self { values, n_rows: self.n_rows, names: self.names.clone() }
    }

    /// Applies `f(column, value)` to every cell in place (no new allocation).
    pub(crate) fn map_in_place(&mut self, f: impl Fn(usize, f64) -> f64) {
        let d = self.n_cols().max(1);
        for row in self.values.chunks_exact_mut(d) {
            for (c, v) in row.iter_mut().enumerate() {
                *v = f(c, *v);
            }
        }
    }

    /// Checks that this matrix has the columns a transform was fitted on.
    pub(crate) fn expect_columns(&self, fitted: &[String], what: &str) -> Result<()> {
        if self.names != fitted {
            return Err(DataError::Shape(format!(
                "{what} was fitted on columns [{}] but got [{}]",
                fitted.join(", "),
                self.names.join(", ")
            )));
        }
        Ok(())
    }

    /// The values as `f32`, row-major (for tensors).
    pub fn to_f32(&self) -> Vec<f32> {
        self.values.iter().map(|&v| v as f32).collect()
    }

    /// The columns of `blocks` side by side (all with the same number of rows).
    pub(crate) fn hconcat(n_rows: usize, blocks: &[&Dense]) -> Result<Self> {
        let names: Vec<String> = blocks.iter().flat_map(|b| b.names.iter().cloned()).collect();
        if let Some(b) = blocks.iter().find(|b| b.n_rows != n_rows) {
            return Err(DataError::Shape(format!("a block of {} rows among blocks of {n_rows}", b.n_rows)));
        }
        let mut values = Vec::with_capacity(n_rows * names.len());
        for r in 0..n_rows {
            for b in blocks {
                values.extend_from_slice(b.row(r));
            }
        }
        Ok(Self { values, n_rows, names })
    }

    pub(crate) fn with_values(&self, values: Vec<f64>, names: Vec<String>) -> Self {
        debug_assert_eq!(values.len(), self.n_rows * names.len());
        Self { values, n_rows: self.n_rows, names }
    }
}

/// Mean and population variance (divisor n) of non-empty `v`.
pub(crate) fn mean_variance(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    (mean, v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n)
}

/// Quantile `q` in `[0, 1]` of sorted, non-empty `v` with linear interpolation
/// (NumPy's default `method="linear"`).
pub(crate) fn quantile_sorted(v: &[f64], q: f64) -> f64 {
    let pos = q * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}
