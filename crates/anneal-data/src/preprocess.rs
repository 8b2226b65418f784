//! Fit/transform preprocessing: the pipeline that turns feature columns into a
//! numeric matrix, and the label encoder for class targets.
//!
//! Columns are routed by kind, as scikit-learn's `ColumnTransformer`:
//!
//! - numeric columns, named ratio / product / difference / sum features of them
//!   ([`DerivedFeature`]), and the numeric parts of date columns: optional
//!   winsorizing (clip to fitted quantiles) → optional `log1p` of chosen columns →
//!   imputation (median, mean, most frequent, k-NN, iterative regression; optional
//!   missing indicators) → optional power transform → scaling → optional
//!   polynomial features;
//! - date columns: calendar parts, weekend / holiday flags, cyclical encodings;
//! - categorical columns: most-frequent imputation → one-hot, ordinal or target
//!   encoding ([`crate::encode`]), chosen for all columns or per column;
//! - then, optionally, PCA of everything.
//!
//! Hyperparameters ([`PreprocessConfig`]) and fitted state ([`Preprocessor`]) are
//! different types. The fitted state holds every statistic learned from the training
//! split, serialises to one JSON file, and re-applies identically to new data.
//! Feature names propagate: `bill_length_mm`, `bill_ratio`, `Date Egg_month`,
//! `size` (ordinal), `island_target=Adelie`, `island=Dream`, `pca_0`. Output
//! order: the numeric block, ordinal and target encodings, one-hot columns.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::clean::{OutlierRule, Outliers};
use crate::dates::{DatePart, DateTime, holiday_calendar};
use crate::dense::Dense;
pub use crate::encode::UnknownCategory;
use crate::encode::{
    OneHotConfig, OneHotEncoder, OrdinalConfig, OrdinalEncoder, OrdinalUnknown, TargetEncoder, TargetEncoderConfig,
    TargetValues,
};
use crate::error::{DataError, Result};
use crate::impute::{
    IterativeImputer, IterativeImputerConfig, KnnImputer, KnnImputerConfig, SimpleImputer, SimpleImputerConfig,
    SimpleStrategy,
};
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
    /// A given value (`{ constant = 0.0 }` in TOML).
    Constant(f64),
    /// The mean over the k nearest training rows (`{ knn = 5 }` in TOML).
    Knn(usize),
    /// Round-robin ridge regression of each column on the others
    /// (`{ iterative = { max_iter = 10 } }`; indicators follow `missing_indicators`).
    Iterative(IterativeImputerConfig),
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

/// How a categorical column becomes numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// One 0/1 column per category ([`PreprocessConfig::one_hot`] options).
    #[default]
    OneHot,
    /// One column with the category's position ([`PreprocessConfig::ordinal_order`]).
    Ordinal,
    /// Cross-fitted target means ([`PreprocessConfig::target_encoding`]); needs the
    /// target, so fit with [`PreprocessConfig::fit_transform_with_target`].
    Target,
}

/// The arithmetic of a [`DerivedFeature`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DerivedOp {
    /// `a / b` of two columns (missing where `b` is 0).
    Ratio,
    /// The product of two or more columns.
    Product,
    /// `a - b` of two columns.
    Difference,
    /// The sum of two or more columns.
    Sum,
}

/// A named feature computed from raw numeric columns before imputation; it is
/// missing where any input is, and then imputed like any numeric column.
///
/// In TOML: `derived = [{ name = "bill_ratio", op = "ratio", columns = ["bill_length_mm", "bill_depth_mm"] }]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DerivedFeature {
    /// The new feature's name.
    pub name: String,
    /// The arithmetic.
    pub op: DerivedOp,
    /// Input columns (numeric): two for ratio and difference, two or more otherwise.
    pub columns: Vec<String>,
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
    /// Named ratio / product / difference / sum features of raw numeric columns.
    pub derived: Vec<DerivedFeature>,
    /// Clip numeric columns to these training quantiles (`[0.01, 0.99]`), before imputation.
    pub winsorize: Option<[f64; 2]>,
    /// Numeric (or derived) columns replaced by `ln(1 + x)`, before imputation.
    pub log1p: Vec<String>,
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
    /// Optional PCA of all features (numeric block and encoded columns), last.
    pub pca: Option<PcaConfig>,
    /// Columns holding ISO dates, turned into `date_parts`.
    pub date_columns: Vec<String>,
    /// Features derived from each date column.
    pub date_parts: Vec<DatePart>,
    /// ISO dates that count as holidays for [`DatePart::Holiday`].
    pub holidays: Vec<String>,
    /// Imputation of categorical columns.
    pub categorical_impute: CategoricalImpute,
    /// Encoding of categorical columns not named in `encoders`.
    pub encoding: Encoding,
    /// Per-column encodings (`{ size = "ordinal", island = "target" }`).
    pub encoders: BTreeMap<String, Encoding>,
    /// One-hot options: unknown categories, minimum frequency, dropped column.
    pub one_hot: OneHotConfig,
    /// Category order of ordinal columns (`{ size = ["S", "M", "L"] }`); lexical when absent.
    pub ordinal_order: BTreeMap<String, Vec<String>>,
    /// Ordinal encoding of unseen categories.
    pub ordinal_unknown: OrdinalUnknown,
    /// Target-encoding options: smoothing, cross-fitting folds.
    pub target_encoding: TargetEncoderConfig,
    /// The most memory, in MB, the preprocessed matrix may take (counted at
    /// [`BYTES_PER_CELL`] per cell: the `f64` block, the `f32` matrix and the
    /// tensor made of it); default: half the machine's memory. A matrix above it
    /// is refused before it is allocated, naming the widest one-hot column.
    pub memory_budget_mb: Option<u64>,
}

/// Bytes one cell of the preprocessed matrix costs on its way to the model: the
/// `f64` block (8), the `f32` matrix (4) and the `f32` tensor (4).
pub const BYTES_PER_CELL: u64 = 16;

/// Half the machine's physical memory (Linux `/proc/meminfo`; 8 GiB where it
/// cannot be read): the default preprocessing memory budget.
pub fn default_memory_budget() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|text| {
        text.lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    });
    total.unwrap_or(16 << 30) / 2
}

impl Default for PreprocessConfig {
    fn default() -> Self {
        Self {
            derived: Vec::new(),
            winsorize: None,
            log1p: Vec::new(),
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
            encoding: Encoding::default(),
            encoders: BTreeMap::new(),
            one_hot: OneHotConfig::default(),
            ordinal_order: BTreeMap::new(),
            ordinal_unknown: OrdinalUnknown::default(),
            target_encoding: TargetEncoderConfig::default(),
            memory_budget_mb: None,
        }
    }
}

/// The fitted imputer of the numeric block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum NumericImputer {
    Simple(SimpleImputer),
    Knn(KnnImputer),
    Iterative(IterativeImputer),
}

/// A fitted encoder whose output joins the dense block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum DenseEncoder {
    Ordinal(OrdinalEncoder),
    Target(TargetEncoder),
}

impl DenseEncoder {
    fn names(&self) -> Vec<String> {
        match self {
            Self::Ordinal(e) => vec![e.feature_name().to_string()],
            Self::Target(e) => e.feature_names().to_vec(),
        }
    }

    fn transform(&self, table: &Table) -> Result<Dense> {
        match self {
            Self::Ordinal(e) => e.transform(table),
            Self::Target(e) => e.transform(table),
        }
    }
}

/// The fitted numeric block: inputs and every fitted step, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct NumericBlock {
    inputs: NumericInputs,
    winsor: Option<Outliers>,
    /// Indices (in the raw block) of the columns taken through `ln(1 + x)`.
    log1p: Vec<usize>,
    imputer: NumericImputer,
    power: Option<PowerTransform>,
    scaler: Option<Scaler>,
    polynomial: Option<Polynomial>,
    output: Vec<String>,
}

/// What the numeric block reads: numeric columns, derived features, and date
/// columns expanded into parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct NumericInputs {
    columns: Vec<String>,
    derived: Vec<DerivedFeature>,
    dates: Vec<String>,
    date_parts: Vec<DatePart>,
    holidays: Vec<i64>,
}

/// Fitted preprocessing: apply with [`Preprocessor::transform`], persist with
/// [`Preprocessor::save`] and [`Preprocessor::load`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    numeric: Option<NumericBlock>,
    encoded: Vec<DenseEncoder>,
    one_hot: Vec<OneHotEncoder>,
    pca: Option<Pca>,
    /// The configured memory budget (MB), kept for transforms of new rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    memory_budget_mb: Option<u64>,
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
    /// feature columns. Target encoding needs the target: use
    /// [`PreprocessConfig::fit_transform_with_target`].
    pub fn fit(&self, table: &Table, features: &[String]) -> Result<Preprocessor> {
        Ok(self.fit_transform(table, features)?.0)
    }

    /// Fits on `table` and returns its transformed features too, computing them
    /// once; equal to `fit` followed by `transform` on the same table.
    pub fn fit_transform(&self, table: &Table, features: &[String]) -> Result<(Preprocessor, Matrix)> {
        self.fit_transform_with_target(table, features, None, 0)
    }

    /// Fits on `table` with its target (needed by target encoding) and returns the
    /// training features. Target-encoded columns of the returned matrix are
    /// cross-fitted (folds shuffled with `seed`), so they differ from what
    /// [`Preprocessor::transform`] gives for the same rows: that is what keeps the
    /// target from leaking into the training features.
    pub fn fit_transform_with_target(
        &self,
        table: &Table,
        features: &[String],
        target: Option<TargetValues<'_>>,
        seed: u64,
    ) -> Result<(Preprocessor, Matrix)> {
        self.check(table, features)?;
        let mut numeric_cols = Vec::new();
        let mut encoded = Vec::new();
        let mut encoded_x = Vec::new();
        let mut one_hot = Vec::new();
        for name in features {
            if self.date_columns.contains(name) {
                continue;
            }
            if table.kind(name)? == ColumnKind::Numeric {
                numeric_cols.push(name.clone());
                continue;
            }
            match self.encoders.get(name).copied().unwrap_or(self.encoding) {
                Encoding::OneHot => one_hot.push(self.one_hot.fit(table, name)?),
                Encoding::Ordinal => {
                    let config =
                        OrdinalConfig { order: self.ordinal_order.get(name).cloned(), unknown: self.ordinal_unknown };
                    let e = config.fit(table, name)?;
                    encoded_x.push(e.transform(table)?);
                    encoded.push(DenseEncoder::Ordinal(e));
                }
                Encoding::Target => {
                    let target = target.ok_or_else(|| {
                        DataError::InvalidParameter(format!(
                            "column `{name}` is target-encoded, which needs the target when fitting"
                        ))
                    })?;
                    let (e, x) = self.target_encoding.fit_transform(table, name, target, seed)?;
                    encoded_x.push(x);
                    encoded.push(DenseEncoder::Target(e));
                }
            }
        }
        let x_numeric = if numeric_cols.is_empty() && self.date_columns.is_empty() && self.derived.is_empty() {
            None
        } else {
            Some(self.fit_numeric(table, numeric_cols)?)
        };
        let (numeric, x_numeric) = match x_numeric {
            Some((block, x)) => (Some(block), Some(x)),
            None => (None, None),
        };
        let mut pre = Preprocessor { numeric, encoded, one_hot, pca: None, memory_budget_mb: self.memory_budget_mb };
        let dense = dense_block(table.n_rows(), x_numeric, &encoded_x)?;
        let Some(config) = self.pca else {
            let x = pre.combine(table, dense)?;
            return Ok((pre, Matrix::from_dense(&x)));
        };
        // PCA over dense and one-hot columns without building the one-hot block.
        let hot = pre.one_hot_columns(table, dense.n_cols())?;
        let pca = config.fit_one_hot(&dense, &hot, pre.combined_names())?;
        let projected = pca.transform_one_hot(&dense, &hot)?;
        pre.pca = Some(pca);
        Ok((pre, Matrix::from_dense(&projected)))
    }

    /// Checks the options against each other and against the feature columns.
    fn check(&self, table: &Table, features: &[String]) -> Result<()> {
        let invalid = |m: String| Err(DataError::InvalidParameter(m));
        for d in &self.date_columns {
            if !features.contains(d) {
                return invalid(format!("date column `{d}` is not among the features"));
            }
        }
        for (name, what) in
            self.encoders.keys().map(|n| (n, "encoders")).chain(self.ordinal_order.keys().map(|n| (n, "ordinal_order")))
        {
            if !features.contains(name) {
                return invalid(format!("{what} names `{name}`, which is not among the features"));
            }
            if table.kind(name)? != ColumnKind::Categorical {
                return invalid(format!("{what} names `{name}`, which is not a categorical column"));
            }
        }
        let mut seen: Vec<&String> = features.iter().collect();
        for f in &self.derived {
            let arity_ok = match f.op {
                DerivedOp::Ratio | DerivedOp::Difference => f.columns.len() == 2,
                DerivedOp::Product | DerivedOp::Sum => f.columns.len() >= 2,
            };
            if !arity_ok {
                return invalid(format!(
                    "derived feature `{}`: {:?} takes {} columns, got {}",
                    f.name,
                    f.op,
                    if matches!(f.op, DerivedOp::Ratio | DerivedOp::Difference) { "2" } else { "2 or more" },
                    f.columns.len()
                ));
            }
            for c in &f.columns {
                if table.kind(c)? != ColumnKind::Numeric {
                    return invalid(format!("derived feature `{}`: column `{c}` is not numeric", f.name));
                }
            }
            if seen.contains(&&f.name) {
                return invalid(format!("derived feature `{}` has the name of another feature", f.name));
            }
            seen.push(&f.name);
        }
        for c in &self.log1p {
            let numeric = features.contains(c) && table.kind(c)? == ColumnKind::Numeric;
            if !numeric && !self.derived.iter().any(|f| &f.name == c) {
                return invalid(format!("log1p names `{c}`, which is not a numeric feature or derived feature"));
            }
        }
        if let Some([low, high]) = self.winsorize {
            OutlierRule::Quantiles { low, high }.fit(&Dense::empty(0)?)?;
        }
        self.one_hot.validate()?;
        self.target_encoding.validate()
    }

    fn fit_numeric(&self, table: &Table, columns: Vec<String>) -> Result<(NumericBlock, Dense)> {
        let inputs = NumericInputs {
            columns,
            derived: self.derived.clone(),
            dates: self.date_columns.clone(),
            date_parts: self.date_parts.clone(),
            holidays: holiday_calendar(&self.holidays)?,
        };
        let mut x = inputs.raw(table)?;
        let winsor = match self.winsorize {
            Some([low, high]) => {
                let w = OutlierRule::Quantiles { low, high }.fit(&x)?;
                x = w.clip(&x)?;
                Some(w)
            }
            None => None,
        };
        let log1p: Vec<usize> = self.log1p.iter().filter_map(|c| x.names().iter().position(|n| n == c)).collect();
        x = log1p_columns(&log1p, x)?;
        let add_indicator = self.missing_indicators;
        let simple = |strategy, x: Dense| -> Result<(NumericImputer, Dense)> {
            let i = SimpleImputerConfig { strategy, add_indicator }.fit(&x)?;
            let x = i.transform_owned(x)?;
            Ok((NumericImputer::Simple(i), x))
        };
        let (imputer, x) = match self.numeric_impute {
            NumericImpute::Median => simple(SimpleStrategy::Median, x)?,
            NumericImpute::Mean => simple(SimpleStrategy::Mean, x)?,
            NumericImpute::MostFrequent => simple(SimpleStrategy::MostFrequent, x)?,
            NumericImpute::Constant(value) => simple(SimpleStrategy::Constant { value }, x)?,
            NumericImpute::Knn(k) => {
                let i = KnnImputerConfig { n_neighbors: k, distance_weighted: false, add_indicator }.fit(&x)?;
                let x = i.transform(&x)?;
                (NumericImputer::Knn(i), x)
            }
            NumericImpute::Iterative(config) => {
                let config = IterativeImputerConfig { add_indicator: add_indicator || config.add_indicator, ..config };
                let (i, x) = config.fit_transform(&x)?;
                (NumericImputer::Iterative(i), x)
            }
        };
        let block = NumericBlock {
            inputs,
            winsor,
            log1p,
            imputer,
            power: None,
            scaler: None,
            polynomial: None,
            output: Vec::new(),
        };
        self.finish_numeric(block, x)
    }

    /// The steps after imputation: power transform, scaling, polynomial features.
    fn finish_numeric(&self, mut block: NumericBlock, mut x: Dense) -> Result<(NumericBlock, Dense)> {
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

impl DerivedFeature {
    fn values(&self, table: &Table) -> Result<Vec<f64>> {
        let inputs: Vec<Vec<Option<f64>>> = self.columns.iter().map(|c| table.numeric(c)).collect::<Result<_>>()?;
        Ok((0..table.n_rows())
            .map(|r| {
                let mut args = inputs.iter().map(|col| col[r].unwrap_or(f64::NAN));
                let first = args.next().unwrap_or(f64::NAN);
                match self.op {
                    DerivedOp::Ratio => {
                        let b = args.next().unwrap_or(f64::NAN);
                        if b == 0.0 { f64::NAN } else { first / b }
                    }
                    DerivedOp::Difference => first - args.next().unwrap_or(f64::NAN),
                    DerivedOp::Product => args.fold(first, |acc, v| acc * v),
                    DerivedOp::Sum => args.fold(first, |acc, v| acc + v),
                }
            })
            .collect())
    }
}

impl NumericInputs {
    /// The numeric columns, derived features and date parts of `table`, before any
    /// fitted step.
    fn raw(&self, table: &Table) -> Result<Dense> {
        if self.dates.is_empty() && self.derived.is_empty() {
            return Dense::from_table(table, &self.columns);
        }
        let mut names = self.columns.clone();
        names.extend(self.derived.iter().map(|f| f.name.clone()));
        for d in &self.dates {
            for part in &self.date_parts {
                names.extend(part.names(d));
            }
        }
        let numeric = Dense::from_table(table, &self.columns)?;
        let derived: Vec<Vec<f64>> = self.derived.iter().map(|f| f.values(table)).collect::<Result<_>>()?;
        let width = names.len();
        let mut values = Vec::with_capacity(table.n_rows() * width);
        let dates: Vec<Vec<Option<String>>> = self.dates.iter().map(|d| table.as_strings(d)).collect::<Result<_>>()?;
        for r in 0..table.n_rows() {
            if !self.columns.is_empty() {
                values.extend_from_slice(numeric.row(r));
            }
            values.extend(derived.iter().map(|f| f[r]));
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

    /// Every table column read, including inputs of derived features.
    fn table_columns(&self) -> Vec<String> {
        let mut cols = self.columns.clone();
        for f in &self.derived {
            for c in &f.columns {
                if !cols.contains(c) {
                    cols.push(c.clone());
                }
            }
        }
        cols.extend(self.dates.iter().cloned());
        cols
    }
}

/// The numeric block and the ordinal / target encodings side by side (the numeric
/// block moved, not copied, when there is nothing to add).
fn dense_block(n_rows: usize, numeric: Option<Dense>, encoded: &[Dense]) -> Result<Dense> {
    match numeric {
        Some(x) if encoded.is_empty() => Ok(x),
        numeric => {
            let mut blocks: Vec<&Dense> = numeric.iter().collect();
            blocks.extend(encoded);
            Dense::hconcat(n_rows, &blocks)
        }
    }
}

/// Replaces the given columns of `x` by `ln(1 + x)`; a value <= -1 is an error
/// naming its row and column.
fn log1p_columns(columns: &[usize], mut x: Dense) -> Result<Dense> {
    if columns.is_empty() {
        return Ok(x);
    }
    let d = x.n_cols();
    if let Some(i) = x.values().iter().enumerate().position(|(i, v)| *v <= -1.0 && columns.contains(&(i % d))) {
        return Err(DataError::OutOfDomain {
            column: x.names()[i % d].clone(),
            row: i / d,
            value: x.values()[i],
            what: "log1p",
        });
    }
    x.map_in_place(|c, v| if columns.contains(&c) { v.ln_1p() } else { v });
    Ok(x)
}

impl NumericBlock {
    fn impute(&self, x: Dense) -> Result<Dense> {
        match &self.imputer {
            NumericImputer::Simple(i) => i.transform_owned(x),
            NumericImputer::Knn(i) => i.transform(&x),
            NumericImputer::Iterative(i) => i.transform(&x),
        }
    }

    fn transform(&self, table: &Table) -> Result<Dense> {
        let mut x = self.inputs.raw(table)?;
        if let Some(w) = &self.winsor {
            x = w.clip(&x)?;
        }
        x = self.impute(log1p_columns(&self.log1p, x)?)?;
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
    /// Names of the output features: the numeric block (`bill_length_mm`,
    /// `Date Egg_month`), ordinal and target encodings, then one-hot columns
    /// (`island=Dream`); `pca_0`, ... when PCA is on.
    pub fn feature_names(&self) -> Vec<String> {
        if let Some(p) = &self.pca {
            return (0..p.n_components()).map(|c| format!("pca_{c}")).collect();
        }
        self.combined_names()
    }

    fn dense_names(&self) -> Vec<String> {
        let mut names = self.numeric.as_ref().map_or_else(Vec::new, |b| b.output.clone());
        for e in &self.encoded {
            names.extend(e.names());
        }
        names
    }

    fn combined_names(&self) -> Vec<String> {
        let mut names = self.dense_names();
        for e in &self.one_hot {
            names.extend(e.feature_names().iter().cloned());
        }
        names
    }

    /// Names of the input columns this preprocessor reads.
    pub fn input_columns(&self) -> Vec<String> {
        let mut cols = self.numeric.as_ref().map_or_else(Vec::new, |b| b.inputs.table_columns());
        for e in &self.encoded {
            cols.push(match e {
                DenseEncoder::Ordinal(e) => e.feature_name().to_string(),
                DenseEncoder::Target(e) => e.column().to_string(),
            });
        }
        cols.extend(self.one_hot.iter().map(|e| e.column().to_string()));
        cols
    }

    /// Applies the fitted steps to `table`, which must have every input column with
    /// the kind it had when fitting.
    pub fn transform(&self, table: &Table) -> Result<Matrix> {
        let numeric = self.numeric.as_ref().map(|b| b.transform(table)).transpose()?;
        let encoded: Vec<Dense> = self.encoded.iter().map(|e| e.transform(table)).collect::<Result<_>>()?;
        let dense = dense_block(table.n_rows(), numeric, &encoded)?;
        match &self.pca {
            // PCA of one-hot columns adds a component row per active category: the
            // (mostly zero) one-hot block is never built.
            Some(p) => {
                let hot = self.one_hot_columns(table, dense.n_cols())?;
                Ok(Matrix::from_dense(&p.transform_one_hot(&dense, &hot)?))
            }
            None => Ok(Matrix::from_dense(&self.combine(table, dense)?)),
        }
    }

    /// For each one-hot column, each row's active output column index, counted
    /// from `first` (where the one-hot block starts).
    fn one_hot_columns(&self, table: &Table, first: usize) -> Result<Vec<Vec<Option<usize>>>> {
        let mut offset = first;
        let mut hot = Vec::with_capacity(self.one_hot.len());
        for e in &self.one_hot {
            hot.push(e.active(table)?.into_iter().map(|k| k.map(|k| offset + k)).collect());
            offset += e.feature_names().len();
        }
        Ok(hot)
    }

    /// The dense block side by side with the one-hot columns.
    fn combine(&self, table: &Table, dense: Dense) -> Result<Dense> {
        if self.one_hot.is_empty() {
            return Ok(dense);
        }
        let n_rows = table.n_rows();
        let names = self.combined_names();
        let n_cols = names.len();
        self.check_budget(n_rows, n_cols)?;
        let n_dense = dense.n_cols();
        let mut values = vec![0f64; n_rows * n_cols];
        for r in 0..n_rows {
            values[r * n_cols..r * n_cols + n_dense].copy_from_slice(dense.row(r));
        }
        let mut offset = n_dense;
        for e in &self.one_hot {
            for (r, k) in e.active(table)?.into_iter().enumerate() {
                if let Some(k) = k {
                    values[r * n_cols + offset + k] = 1.0;
                }
            }
            offset += e.feature_names().len();
        }
        Dense::new(values, names).or_else(|_| Dense::empty(n_rows))
    }

    /// Refuses a matrix of `n_rows` × `n_cols` above the memory budget, before
    /// anything is allocated, naming the one-hot column that widens it most.
    fn check_budget(&self, n_rows: usize, n_cols: usize) -> Result<()> {
        let bytes = (n_rows as u64).saturating_mul(n_cols as u64).saturating_mul(BYTES_PER_CELL);
        let budget = self.memory_budget_mb.map_or_else(default_memory_budget, |mb| mb.saturating_mul(1 << 20));
        if bytes <= budget {
            return Ok(());
        }
        let widest = self.one_hot.iter().max_by_key(|e| e.feature_names().len());
        Err(DataError::MatrixTooLarge {
            rows: n_rows,
            cols: n_cols,
            bytes,
            budget,
            column: widest.map(|e| e.column().to_string()).unwrap_or_default(),
            width: widest.map_or(0, |e| e.feature_names().len()),
        })
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

    /// Takes the classes in the given order (ordinal labels, `low, mid, high`): every
    /// label of `column` must be one of them, and each of them must occur.
    ///
    /// ```
    /// use anneal_data::{CsvOptions, LabelEncoder, Table};
    ///
    /// let t = Table::from_csv_reader("y\nmid\nlow\nhigh\nmid\n".as_bytes(), "t.csv", &CsvOptions::default())?;
    /// let order = ["low", "mid", "high"].map(String::from);
    /// let labels = LabelEncoder::with_classes(&t, "y", &order)?;
    /// assert_eq!(labels.encode(&t)?, [1, 0, 2, 1]);
    /// assert!(LabelEncoder::with_classes(&t, "y", &order[..2]).is_err()); // `high` is not listed
    /// # Ok::<(), anneal_data::DataError>(())
    /// ```
    pub fn with_classes(table: &Table, column: &str, classes: &[String]) -> Result<Self> {
        let fitted = Self::fit(table, column)?;
        for (i, c) in classes.iter().enumerate() {
            if classes[..i].contains(c) {
                return Err(DataError::InvalidParameter(format!("class `{c}` is listed twice")));
            }
            if !fitted.classes.contains(c) {
                return Err(DataError::InvalidParameter(format!(
                    "class `{c}` is listed but no row of `{column}` holds it"
                )));
            }
        }
        if let Some(unlisted) = fitted.classes.iter().find(|c| !classes.contains(c)) {
            return Err(DataError::UnknownCategory { column: column.to_string(), value: unlisted.clone() });
        }
        Ok(Self { column: column.to_string(), classes: classes.to_vec() })
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

/// The values of a numeric target column (for regression); a missing value is an
/// error naming its row, never a silently dropped row.
pub fn numeric_target(table: &Table, column: &str) -> Result<Vec<f64>> {
    table
        .numeric(column)?
        .into_iter()
        .enumerate()
        .map(|(row, v)| v.ok_or_else(|| DataError::MissingTarget { column: column.to_string(), row }))
        .collect()
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
