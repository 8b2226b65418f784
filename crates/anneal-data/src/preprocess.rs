//! Fit/transform preprocessing: the pipeline that turns feature columns into a
//! numeric matrix, and the label encoder for class targets.
//!
//! Columns are routed by kind, as scikit-learn's `ColumnTransformer`:
//!
//! - numeric columns (and the numeric parts of date columns): imputation
//!   (median, mean, most frequent, k-NN; optional missing indicators) → optional
//!   power transform → scaling → optional polynomial features → optional PCA;
//! - date columns: calendar parts, weekend / holiday flags, cyclical encodings;
//! - categorical columns: most-frequent imputation → one-hot encoding.
//!
//! Hyperparameters ([`PreprocessConfig`]) and fitted state ([`Preprocessor`]) are
//! different types. The fitted state holds every statistic learned from the training
//! split, serialises to one JSON file, and re-applies identically to new data.
//! Feature names propagate: `bill_length_mm`, `Date Egg_month`, `island=Dream`,
//! `pca_0`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::dates::{DatePart, DateTime, holiday_calendar};
use crate::dense::Dense;
use crate::error::{DataError, Result};
use crate::impute::{KnnImputer, KnnImputerConfig, SimpleImputer, SimpleImputerConfig, SimpleStrategy};
use crate::pca::{Pca, PcaConfig};
use crate::poly::{Polynomial, PolynomialConfig};
use crate::power::{PowerConfig, PowerMethod, PowerTransform};
use crate::scale::{Scaler, ScalerConfig};
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
    /// The most frequent training value.
    MostFrequent,
    /// The mean over the k nearest training rows (`{ knn = 5 }` in TOML).
    Knn(usize),
}

/// How missing categorical cells are filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CategoricalImpute {
    /// The most frequent training category (ties: the lexically smallest, as scikit-learn).
    #[default]
    MostFrequent,
}

/// How numeric columns are scaled after imputation (and the power transform).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Scaling {
    /// Leave values as they are.
    None,
    /// Zero mean, unit (population) standard deviation; a constant column is only centred.
    #[default]
    Standard,
    /// Map the training range to [0, 1].
    MinMax,
    /// Subtract the median, divide by the interquartile range.
    Robust,
    /// Divide by the largest absolute value.
    MaxAbs,
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

/// Preprocessing hyperparameters: what to do to each kind of feature column.
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PreprocessConfig {
    /// Imputation of numeric columns.
    pub numeric_impute: NumericImpute,
    /// Append a `<column>_missing` 0/1 feature for numeric columns with missing training cells.
    pub missing_indicators: bool,
    /// Optional power transform (Box-Cox or Yeo-Johnson) before scaling.
    pub power: Option<PowerMethod>,
    /// Scaling of numeric columns.
    pub scaling: Scaling,
    /// Optional polynomial / interaction features of the scaled numeric columns.
    pub polynomial: Option<PolynomialConfig>,
    /// Optional PCA of all features (numeric block and one-hot columns), last.
    pub pca: Option<PcaConfig>,
    /// Columns holding ISO dates, turned into `date_parts`.
    pub date_columns: Vec<String>,
    /// Features derived from each date column.
    pub date_parts: Vec<DatePart>,
    /// ISO dates that count as holidays for [`DatePart::Holiday`].
    pub holidays: Vec<String>,
    /// Imputation of categorical columns.
    pub categorical_impute: CategoricalImpute,
    /// Policy for unseen categories at transform time.
    pub unknown_category: UnknownCategory,
}

impl Default for PreprocessConfig {
    fn default() -> Self {
        Self {
            numeric_impute: NumericImpute::default(),
            missing_indicators: false,
            power: None,
            scaling: Scaling::default(),
            polynomial: None,
            pca: None,
            date_columns: Vec::new(),
            date_parts: vec![DatePart::Year, DatePart::Month, DatePart::DayOfYear, DatePart::Weekday],
            holidays: Vec::new(),
            categorical_impute: CategoricalImpute::default(),
            unknown_category: UnknownCategory::default(),
        }
    }
}

/// The fitted imputer of the numeric block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum NumericImputer {
    Simple(SimpleImputer),
    Knn(KnnImputer),
}

/// One fitted categorical column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct FittedCategorical {
    name: String,
    fill: String,
    categories: Vec<String>,
    unknown: UnknownCategory,
}

impl FittedCategorical {
    /// For each row of `table`, the index of its (imputed) category, `None` for an
    /// ignored unknown one; an unknown category is an error under the error policy.
    fn active(&self, table: &Table) -> Result<Vec<Option<usize>>> {
        let (codes, dictionary) = table.categorical_codes(&self.name)?;
        // Each dictionary entry maps to its category once; rows then index it.
        let slot = |label: &str| self.categories.binary_search_by(|k| k.as_str().cmp(label)).ok();
        let by_code: Vec<Option<usize>> = dictionary.iter().map(|l| slot(l)).collect();
        let fill = slot(&self.fill);
        codes
            .into_iter()
            .map(|code| {
                let k = code.map_or(fill, |code| by_code[code]);
                if k.is_none() && self.unknown == UnknownCategory::Error {
                    let value = code.map_or_else(|| self.fill.clone(), |code| dictionary[code].clone());
                    return Err(DataError::UnknownCategory { column: self.name.clone(), value });
                }
                Ok(k)
            })
            .collect()
    }
}

/// The fitted numeric block: inputs and every fitted step, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct NumericBlock {
    inputs: NumericInputs,
    imputer: NumericImputer,
    power: Option<PowerTransform>,
    scaler: Option<Scaler>,
    polynomial: Option<Polynomial>,
    output: Vec<String>,
}

/// What the numeric block reads: numeric columns, and date columns expanded into parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct NumericInputs {
    columns: Vec<String>,
    dates: Vec<String>,
    date_parts: Vec<DatePart>,
    holidays: Vec<i64>,
}

/// Fitted preprocessing: apply with [`Preprocessor::transform`], persist with
/// [`Preprocessor::save`] and [`Preprocessor::load`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    numeric: Option<NumericBlock>,
    categorical: Vec<FittedCategorical>,
    pca: Option<Pca>,
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

impl Matrix {
    fn from_dense(x: &Dense) -> Self {
        Self { values: x.to_f32(), n_rows: x.n_rows(), n_cols: x.n_cols() }
    }
}

impl PreprocessConfig {
    /// Learns every statistic from `table` (the training split) for the named
    /// feature columns.
    pub fn fit(&self, table: &Table, features: &[String]) -> Result<Preprocessor> {
        Ok(self.fit_transform(table, features)?.0)
    }

    /// Fits on `table` and returns its transformed features too, computing them once.
    pub fn fit_transform(&self, table: &Table, features: &[String]) -> Result<(Preprocessor, Matrix)> {
        for d in &self.date_columns {
            if !features.contains(d) {
                return Err(DataError::InvalidParameter(format!("date column `{d}` is not among the features")));
            }
        }
        let mut numeric_cols = Vec::new();
        let mut categorical = Vec::new();
        for name in features {
            if self.date_columns.contains(name) {
                continue;
            }
            match table.kind(name)? {
                ColumnKind::Numeric => numeric_cols.push(name.clone()),
                ColumnKind::Categorical => categorical.push(self.fit_categorical(table, name)?),
            }
        }
        let (numeric, x_numeric) = if numeric_cols.is_empty() && self.date_columns.is_empty() {
            (None, None)
        } else {
            let (block, x) = self.fit_numeric(table, numeric_cols)?;
            (Some(block), Some(x))
        };
        let mut pre = Preprocessor { numeric, categorical, pca: None };
        let Some(config) = self.pca else {
            let x = pre.combine(table, x_numeric)?;
            return Ok((pre, Matrix::from_dense(&x)));
        };
        // PCA over numeric and one-hot columns without building the one-hot block.
        let dense = match x_numeric {
            Some(x) => x,
            None => Dense::empty(table.n_rows())?,
        };
        let hot = pre.one_hot_columns(table, dense.n_cols())?;
        let pca = config.fit_one_hot(&dense, &hot, pre.combined_names())?;
        let projected = pca.transform_one_hot(&dense, &hot)?;
        pre.pca = Some(pca);
        Ok((pre, Matrix::from_dense(&projected)))
    }

    fn fit_categorical(&self, table: &Table, name: &str) -> Result<FittedCategorical> {
        let (codes, dictionary) = table.categorical_codes(name)?;
        let mut by_code = vec![0usize; dictionary.len()];
        for c in codes.iter().flatten() {
            by_code[*c] += 1;
        }
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for (label, &n) in dictionary.iter().zip(&by_code) {
            if n > 0 {
                *counts.entry(label.as_str()).or_default() += n;
            }
        }
        // BTreeMap iterates in lexical order, so `max_by_key` over the reversed order
        // keeps the smallest label among ties.
        let fill =
            counts.iter().rev().max_by_key(|(_, c)| **c).map(|(k, _)| k.to_string()).ok_or_else(|| {
                DataError::AllMissing { column: name.to_string(), what: "the most frequent category" }
            })?;
        let categories = counts.keys().map(|k| k.to_string()).collect();
        Ok(FittedCategorical { name: name.to_string(), fill, categories, unknown: self.unknown_category })
    }

    fn fit_numeric(&self, table: &Table, columns: Vec<String>) -> Result<(NumericBlock, Dense)> {
        let inputs = NumericInputs {
            columns,
            dates: self.date_columns.clone(),
            date_parts: self.date_parts.clone(),
            holidays: holiday_calendar(&self.holidays)?,
        };
        let mut x = inputs.raw(table)?;
        let add_indicator = self.missing_indicators;
        let simple = |strategy| SimpleImputerConfig { strategy, add_indicator }.fit(&x).map(NumericImputer::Simple);
        let imputer = match self.numeric_impute {
            NumericImpute::Median => simple(SimpleStrategy::Median)?,
            NumericImpute::Mean => simple(SimpleStrategy::Mean)?,
            NumericImpute::MostFrequent => simple(SimpleStrategy::MostFrequent)?,
            NumericImpute::Knn(k) => NumericImputer::Knn(
                KnnImputerConfig { n_neighbors: k, distance_weighted: false, add_indicator }.fit(&x)?,
            ),
        };
        let mut block =
            NumericBlock { inputs, imputer, power: None, scaler: None, polynomial: None, output: Vec::new() };
        x = block.impute(x)?;
        if let Some(method) = self.power {
            let p = PowerConfig { method, standardize: false }.fit(&x)?;
            x = p.transform(&x)?;
            block.power = Some(p);
        }
        let scaler = match self.scaling {
            Scaling::None => None,
            Scaling::Standard => Some(ScalerConfig::Standard),
            Scaling::MinMax => Some(ScalerConfig::MinMax { low: 0.0, high: 1.0 }),
            Scaling::Robust => Some(ScalerConfig::Robust { q_low: 25.0, q_high: 75.0 }),
            Scaling::MaxAbs => Some(ScalerConfig::MaxAbs),
        };
        if let Some(config) = scaler {
            let s = config.fit(&x)?;
            x = s.transform_owned(x)?;
            block.scaler = Some(s);
        }
        if let Some(config) = self.polynomial {
            let p = config.fit(&x)?;
            x = p.transform(&x)?;
            block.polynomial = Some(p);
        }
        block.output = x.names().to_vec();
        Ok((block, x))
    }
}

impl NumericInputs {
    /// The numeric columns and date parts of `table`, before any fitted step.
    fn raw(&self, table: &Table) -> Result<Dense> {
        if self.dates.is_empty() {
            return Dense::from_table(table, &self.columns);
        }
        let mut names = self.columns.clone();
        for d in &self.dates {
            for part in &self.date_parts {
                names.extend(part.names(d));
            }
        }
        let numeric = Dense::from_table(table, &self.columns)?;
        let width = names.len();
        let mut values = Vec::with_capacity(table.n_rows() * width);
        let dates: Vec<Vec<Option<String>>> = self.dates.iter().map(|d| table.as_strings(d)).collect::<Result<_>>()?;
        for r in 0..table.n_rows() {
            if !self.columns.is_empty() {
                values.extend_from_slice(numeric.row(r));
            }
            for (d, cells) in self.dates.iter().zip(&dates) {
                let parsed = match &cells[r] {
                    None => None,
                    Some(s) => Some(DateTime::parse(s).ok_or_else(|| DataError::BadDate {
                        column: d.clone(),
                        row: r,
                        value: s.clone(),
                    })?),
                };
                for part in &self.date_parts {
                    match &parsed {
                        Some(dt) => values.extend(part.values(dt, &self.holidays)),
                        None => values.extend(std::iter::repeat_n(f64::NAN, part.names(d).len())),
                    }
                }
            }
        }
        Dense::new(values, names)
    }
}

impl NumericBlock {
    fn impute(&self, x: Dense) -> Result<Dense> {
        match &self.imputer {
            NumericImputer::Simple(i) => i.transform_owned(x),
            NumericImputer::Knn(i) => i.transform(&x),
        }
    }

    fn transform(&self, table: &Table) -> Result<Dense> {
        let mut x = self.impute(self.inputs.raw(table)?)?;
        if let Some(p) = &self.power {
            x = p.transform(&x)?;
        }
        if let Some(s) = &self.scaler {
            x = s.transform_owned(x)?;
        }
        if let Some(p) = &self.polynomial {
            x = p.transform(&x)?;
        }
        Ok(x)
    }
}

impl Preprocessor {
    /// Names of the output features, numeric block first: `bill_length_mm`,
    /// `Date Egg_month`, then one-hot columns `island=Dream`; `pca_0`, ... when PCA
    /// is on.
    pub fn feature_names(&self) -> Vec<String> {
        if let Some(p) = &self.pca {
            return (0..p.n_components()).map(|c| format!("pca_{c}")).collect();
        }
        self.combined_names()
    }

    fn combined_names(&self) -> Vec<String> {
        let mut names = self.numeric.as_ref().map_or_else(Vec::new, |b| b.output.clone());
        for c in &self.categorical {
            names.extend(c.categories.iter().map(|k| format!("{}={k}", c.name)));
        }
        names
    }

    /// Names of the input columns this preprocessor reads.
    pub fn input_columns(&self) -> Vec<String> {
        let mut cols = self
            .numeric
            .as_ref()
            .map_or_else(Vec::new, |b| [b.inputs.columns.clone(), b.inputs.dates.clone()].concat());
        cols.extend(self.categorical.iter().map(|c| c.name.clone()));
        cols
    }

    /// Applies the fitted steps to `table`, which must have every input column with
    /// the kind it had when fitting.
    pub fn transform(&self, table: &Table) -> Result<Matrix> {
        let numeric = self.numeric.as_ref().map(|b| b.transform(table)).transpose()?;
        match &self.pca {
            // PCA of one-hot columns adds a component row per active category: the
            // (mostly zero) one-hot block is never built.
            Some(p) => {
                let dense = match numeric {
                    Some(x) => x,
                    None => Dense::empty(table.n_rows())?,
                };
                let hot = self.one_hot_columns(table, dense.n_cols())?;
                Ok(Matrix::from_dense(&p.transform_one_hot(&dense, &hot)?))
            }
            None => Ok(Matrix::from_dense(&self.combine(table, numeric)?)),
        }
    }

    /// For each categorical column, each row's active one-hot column index, counted
    /// from `first` (where the one-hot block starts).
    fn one_hot_columns(&self, table: &Table, first: usize) -> Result<Vec<Vec<Option<usize>>>> {
        let mut offset = first;
        let mut hot = Vec::with_capacity(self.categorical.len());
        for c in &self.categorical {
            hot.push(c.active(table)?.into_iter().map(|k| k.map(|k| offset + k)).collect());
            offset += c.categories.len();
        }
        Ok(hot)
    }

    /// The transformed numeric block side by side with the one-hot columns.
    fn combine(&self, table: &Table, numeric: Option<Dense>) -> Result<Dense> {
        let n_rows = table.n_rows();
        let names = self.combined_names();
        let n_cols = names.len();
        let n_numeric = numeric.as_ref().map_or(0, Dense::n_cols);
        let mut values = vec![0f64; n_rows * n_cols];
        if let Some(x) = &numeric {
            for r in 0..n_rows {
                values[r * n_cols..r * n_cols + n_numeric].copy_from_slice(x.row(r));
            }
        }
        let mut offset = n_numeric;
        for c in &self.categorical {
            for (r, k) in c.active(table)?.into_iter().enumerate() {
                if let Some(k) = k {
                    values[r * n_cols + offset + k] = 1.0;
                }
            }
            offset += c.categories.len();
        }
        Dense::new(values, names).or_else(|_| Dense::empty(n_rows))
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
    let n = v.len();
    // Selection, not a sort: O(n).
    let (lower, mid, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    let mid = *mid;
    if n % 2 == 1 { mid } else { (lower.iter().copied().fold(f64::NEG_INFINITY, f64::max) + mid) / 2.0 }
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
