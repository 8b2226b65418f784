//! Fit/transform preprocessing: imputation, standard scaling, one-hot encoding, and
//! the label encoder for class targets.
//!
//! Hyperparameters ([`PreprocessConfig`]) and fitted state ([`Preprocessor`]) are
//! different types. The fitted state holds every statistic learned from the training
//! split, serialises with serde, and re-applies identically to new data.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::table::{ColumnKind, Table};

/// How missing numeric cells are filled.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NumericImpute {
    /// The median of the observed training values.
    #[default]
    Median,
    /// The mean of the observed training values.
    Mean,
}

/// How missing categorical cells are filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CategoricalImpute {
    /// The most frequent training category (ties: the lexically smallest, as scikit-learn).
    #[default]
    MostFrequent,
}

/// How numeric columns are scaled after imputation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Scaling {
    /// Leave values as they are.
    None,
    /// Subtract the training mean, divide by the training (population) standard
    /// deviation; a constant column is only centred.
    #[default]
    Standard,
}

/// What one-hot encoding does with a category it did not see when fitting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UnknownCategory {
    /// Encode it as all zeros.
    #[default]
    Ignore,
    /// Fail with [`DataError::UnknownCategory`].
    Error,
}

/// Preprocessing hyperparameters: what to do to numeric and categorical feature columns.
///
/// ```
/// use anneal_data::{CsvOptions, PreprocessConfig, Table};
///
/// let train = Table::from_csv_reader("x,c\n1,a\n,b\n3,a\n".as_bytes(), "train.csv", &CsvOptions::default())?;
/// let pre = PreprocessConfig::default().fit(&train, &["x".into(), "c".into()])?;
/// assert_eq!(pre.feature_names(), ["x", "c=a", "c=b"]);
/// let m = pre.transform(&train)?;
/// assert_eq!((m.n_rows, m.n_cols), (3, 3));
/// # Ok::<(), anneal_data::DataError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PreprocessConfig {
    /// Imputation of numeric columns.
    pub numeric_impute: NumericImpute,
    /// Imputation of categorical columns.
    pub categorical_impute: CategoricalImpute,
    /// Scaling of numeric columns.
    pub scaling: Scaling,
    /// Policy for unseen categories at transform time.
    pub unknown_category: UnknownCategory,
}

/// One fitted feature column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum FittedColumn {
    Numeric { name: String, fill: f64, mean: f64, scale: f64 },
    Categorical { name: String, fill: String, categories: Vec<String>, unknown: UnknownCategory },
}

/// Fitted preprocessing: apply with [`Preprocessor::transform`], persist with
/// [`Preprocessor::save`] and [`Preprocessor::load`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    columns: Vec<FittedColumn>,
}

/// A dense row-major `f32` matrix, the output of preprocessing.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    /// Row-major values, `n_rows * n_cols` long.
    pub values: Vec<f32>,
    /// Number of rows.
    pub n_rows: usize,
    /// Number of columns.
    pub n_cols: usize,
}

impl PreprocessConfig {
    /// Learns imputation values, scaling statistics and category lists from `table`
    /// (the training split) for the named feature columns.
    pub fn fit(&self, table: &Table, features: &[String]) -> Result<Preprocessor> {
        let mut columns = Vec::with_capacity(features.len());
        for name in features {
            match table.kind(name)? {
                ColumnKind::Numeric => {
                    let observed: Vec<f64> = table.numeric(name)?.into_iter().flatten().collect();
                    if observed.is_empty() {
                        return Err(DataError::AllMissing { column: name.clone(), what: "an imputation value" });
                    }
                    let fill = match self.numeric_impute {
                        NumericImpute::Median => median(&observed),
                        NumericImpute::Mean => mean(&observed),
                    };
                    let (mean, scale) = match self.scaling {
                        Scaling::None => (0.0, 1.0),
                        Scaling::Standard => {
                            // Statistics of the imputed column, as in a scikit-learn
                            // SimpleImputer -> StandardScaler pipeline.
                            let n = table.n_rows() as f64;
                            let missing = table.n_rows() - observed.len();
                            let sum: f64 = observed.iter().sum::<f64>() + fill * missing as f64;
                            let m = sum / n;
                            let ss: f64 = observed.iter().map(|x| (x - m).powi(2)).sum::<f64>()
                                + missing as f64 * (fill - m).powi(2);
                            let sd = (ss / n).sqrt();
                            (m, if sd > f64::EPSILON * m.abs().max(1.0) { sd } else { 1.0 })
                        }
                    };
                    columns.push(FittedColumn::Numeric { name: name.clone(), fill, mean, scale });
                }
                ColumnKind::Categorical => {
                    let values = table.categorical(name)?;
                    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
                    for v in values.iter().flatten() {
                        *counts.entry(v.as_str()).or_default() += 1;
                    }
                    // BTreeMap iterates in lexical order, so `max_by_key` over reversed
                    // order keeps the smallest label among ties.
                    let fill =
                        counts.iter().rev().max_by_key(|(_, c)| **c).map(|(k, _)| k.to_string()).ok_or_else(|| {
                            DataError::AllMissing { column: name.clone(), what: "the most frequent category" }
                        })?;
                    let categories = counts.keys().map(|k| k.to_string()).collect();
                    columns.push(FittedColumn::Categorical {
                        name: name.clone(),
                        fill,
                        categories,
                        unknown: self.unknown_category,
                    });
                }
            }
        }
        Ok(Preprocessor { columns })
    }
}

impl Preprocessor {
    /// Names of the output features: numeric columns keep their name, one-hot columns
    /// are `column=category`.
    pub fn feature_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for c in &self.columns {
            match c {
                FittedColumn::Numeric { name, .. } => names.push(name.clone()),
                FittedColumn::Categorical { name, categories, .. } => {
                    names.extend(categories.iter().map(|k| format!("{name}={k}")))
                }
            }
        }
        names
    }

    /// Names of the input columns this preprocessor reads.
    pub fn input_columns(&self) -> Vec<String> {
        self.columns
            .iter()
            .map(|c| match c {
                FittedColumn::Numeric { name, .. } | FittedColumn::Categorical { name, .. } => name.clone(),
            })
            .collect()
    }

    /// Applies the fitted steps to `table`, which must have every input column with
    /// the kind it had when fitting.
    pub fn transform(&self, table: &Table) -> Result<Matrix> {
        let n_rows = table.n_rows();
        let n_cols = self.feature_names().len();
        let mut values = vec![0f32; n_rows * n_cols];
        let mut offset = 0;
        for c in &self.columns {
            match c {
                FittedColumn::Numeric { name, fill, mean, scale } => {
                    for (r, v) in table.numeric(name)?.into_iter().enumerate() {
                        values[r * n_cols + offset] = ((v.unwrap_or(*fill) - mean) / scale) as f32;
                    }
                    offset += 1;
                }
                FittedColumn::Categorical { name, fill, categories, unknown } => {
                    for (r, v) in table.categorical(name)?.into_iter().enumerate() {
                        let v = v.as_deref().unwrap_or(fill.as_str());
                        match categories.binary_search_by(|k| k.as_str().cmp(v)) {
                            Ok(k) => values[r * n_cols + offset + k] = 1.0,
                            Err(_) if *unknown == UnknownCategory::Ignore => {}
                            Err(_) => {
                                return Err(DataError::UnknownCategory { column: name.clone(), value: v.to_string() });
                            }
                        }
                    }
                    offset += categories.len();
                }
            }
        }
        Ok(Matrix { values, n_rows, n_cols })
    }

    /// Writes the fitted state as JSON.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        write_json(path.as_ref(), self)
    }

    /// Reads fitted state written by [`Preprocessor::save`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        read_json(path.as_ref())
    }
}

/// Maps class labels to `0..n_classes` (labels sorted — by value for a numeric
/// column — as scikit-learn's `LabelEncoder`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelEncoder {
    column: String,
    classes: Vec<String>,
}

impl LabelEncoder {
    /// Learns the classes of column `column` of `table`; a missing label is an error
    /// naming its row (rows are never dropped silently).
    pub fn fit(table: &Table, column: &str) -> Result<Self> {
        let values = table.as_strings(column)?;
        let mut classes = Vec::new();
        for (row, v) in values.iter().enumerate() {
            match v {
                Some(v) => classes.push(v.clone()),
                None => return Err(DataError::MissingTarget { column: column.to_string(), row }),
            }
        }
        if table.kind(column)? == ColumnKind::Numeric {
            // Numeric labels sort by value (2 before 10), as scikit-learn's.
            classes
                .sort_by(|a, b| a.parse::<f64>().unwrap_or(f64::NAN).total_cmp(&b.parse::<f64>().unwrap_or(f64::NAN)));
        } else {
            classes.sort();
        }
        classes.dedup();
        Ok(Self { column: column.to_string(), classes })
    }

    /// The target column's name.
    pub fn column(&self) -> &str {
        &self.column
    }

    /// The classes, in code order.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Encodes the target column of `table`.
    pub fn encode(&self, table: &Table) -> Result<Vec<usize>> {
        table
            .as_strings(&self.column)?
            .into_iter()
            .enumerate()
            .map(|(row, v)| {
                let v = v.ok_or_else(|| DataError::MissingTarget { column: self.column.clone(), row })?;
                self.classes
                    .iter()
                    .position(|c| *c == v)
                    .ok_or_else(|| DataError::UnknownCategory { column: self.column.clone(), value: v })
            })
            .collect()
    }
}

/// Median of a non-empty slice (mean of the two middle values for even lengths).
///
/// # Panics
/// If `values` is empty.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).expect("fitted state always serialises");
    std::fs::write(path, text).map_err(|source| DataError::Io { path: path.to_path_buf(), source })
}

pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|source| DataError::Io { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text).map_err(|e| DataError::FittedState { path: path.to_path_buf(), message: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_even_and_odd() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
