//! Categorical encoders: one-hot, ordinal and target encoding.
//!
//! Each encoder is a config (hyperparameters, serde) whose `fit` learns from one
//! column of the training table and returns the fitted state, which serialises and
//! re-applies identically. Missing cells take the training column's most frequent
//! category first (ties: the lexically smallest), so every row is encoded.
//!
//! - [`OneHotConfig`]: one 0/1 column per category (scikit-learn's `OneHotEncoder`),
//!   with rare categories grouped into one `=infrequent` column (`min_frequency`),
//!   an optional dropped column (`drop`), and a policy for unseen categories.
//! - [`OrdinalConfig`]: one column holding the category's position in a given or
//!   learned (lexical) order (`OrdinalEncoder`).
//! - [`TargetEncoderConfig`]: one column per class (one for a binary or continuous
//!   target) holding the shrunk mean of the target within the category
//!   (`TargetEncoder`, Micci-Barreca 2001). Fitting on the training split uses
//!   cross-fitting so no row's encoding has seen its own target.
//!
//! ```
//! use anneal_data::encode::{OneHotConfig, OrdinalConfig};
//! use anneal_data::{CsvOptions, Table};
//!
//! let t = Table::from_csv_reader("size\nS\nM\nL\nM\n".as_bytes(), "t.csv", &CsvOptions::default())?;
//! let hot = OneHotConfig::default().fit(&t, "size")?;
//! assert_eq!(hot.feature_names(), ["size=L", "size=M", "size=S"]);
//! let order = OrdinalConfig { order: Some(vec!["S".into(), "M".into(), "L".into()]), ..Default::default() };
//! let x = order.fit(&t, "size")?.transform(&t)?;
//! assert_eq!(x.values(), [0.0, 1.0, 2.0, 1.0]);
//! # Ok::<(), anneal_data::DataError>(())
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::dense::Dense;
use crate::error::{DataError, Result};
use crate::folds::{k_fold, stratified_k_fold};
use crate::table::Table;

/// What an encoder does with a category it did not see when fitting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UnknownCategory {
    /// Encode it as all zeros.
    #[default]
    Ignore,
    /// Fail with [`DataError::UnknownCategory`].
    Error,
    /// Put it in the `=infrequent` column when there is one (all zeros otherwise);
    /// scikit-learn's `infrequent_if_exist`.
    Infrequent,
}

/// Which one-hot column, if any, to leave out (to avoid a collinear block).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DropColumn {
    /// Keep every column.
    #[default]
    None,
    /// Drop the column of the first category (lexical order; the infrequent column
    /// if the first category is infrequent).
    First,
    /// Drop the first column only of columns with exactly two categories.
    IfBinary,
}

/// One-hot encoding hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct OneHotConfig {
    /// Policy for unseen categories at transform time.
    pub unknown: UnknownCategory,
    /// Categories seen fewer times than this (a count ≥ 1, or a fraction of the
    /// training rows in (0, 1)) share one `<column>=infrequent` column.
    pub min_frequency: Option<f64>,
    /// Which column to drop.
    pub drop: DropColumn,
}

/// Fitted one-hot encoding of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OneHotEncoder {
    column: String,
    fill: String,
    /// Every training category, lexically sorted.
    categories: Vec<String>,
    /// For each category, its output column (`None` when dropped).
    slots: Vec<Option<usize>>,
    /// The output column of the infrequent bucket, if there is one and it is kept.
    infrequent_slot: Option<usize>,
    /// The categories grouped into the infrequent bucket.
    infrequent: Vec<String>,
    unknown: UnknownCategory,
    names: Vec<String>,
}

/// Category counts of one column, lexically ordered, and its most frequent category.
fn category_counts(table: &Table, column: &str) -> Result<(BTreeMap<String, usize>, String)> {
    let (codes, dictionary) = table.categorical_codes(column)?;
    let mut by_code = vec![0usize; dictionary.len()];
    for c in codes.iter().flatten() {
        by_code[*c] += 1;
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for (label, &n) in dictionary.iter().zip(&by_code) {
        if n > 0 {
            *counts.entry(label.clone()).or_default() += n;
        }
    }
    // Iterating in reverse lexical order, `max_by_key` keeps the last maximum seen,
    // which is the lexically smallest among ties (as scikit-learn's SimpleImputer).
    let fill = counts
        .iter()
        .rev()
        .max_by_key(|(_, c)| **c)
        .map(|(k, _)| k.clone())
        .ok_or_else(|| DataError::AllMissing { column: column.to_string(), what: "the most frequent category" })?;
    Ok((counts, fill))
}

/// For each row, the index in `categories` (sorted) of its category after imputing
/// `fill`; `Err(label)` for a category not in the list.
fn row_categories(
    table: &Table,
    column: &str,
    categories: &[String],
    fill: &str,
) -> Result<Vec<std::result::Result<usize, String>>> {
    let (codes, dictionary) = table.categorical_codes(column)?;
    let slot = |label: &str| categories.binary_search_by(|k| k.as_str().cmp(label)).ok();
    let by_code: Vec<Option<usize>> = dictionary.iter().map(|l| slot(l)).collect();
    let fill_slot = slot(fill);
    Ok(codes
        .into_iter()
        .map(|code| {
            let k = code.map_or(fill_slot, |code| by_code[code]);
            k.ok_or_else(|| code.map_or_else(|| fill.to_string(), |code| dictionary[code].clone()))
        })
        .collect())
}

impl OneHotConfig {
    /// Checks the hyperparameters.
    pub fn validate(&self) -> Result<()> {
        if let Some(m) = self.min_frequency
            && !(m.is_finite() && m > 0.0 && (m < 1.0 || m.fract() == 0.0))
        {
            return Err(DataError::InvalidParameter(format!(
                "one-hot min_frequency must be a count >= 1 or a fraction in (0, 1), got {m}"
            )));
        }
        Ok(())
    }

    /// Learns the categories of `column` of `table`.
    pub fn fit(&self, table: &Table, column: &str) -> Result<OneHotEncoder> {
        self.validate()?;
        let (counts, fill) = category_counts(table, column)?;
        let n_rows = table.n_rows() as f64;
        let threshold = match self.min_frequency {
            None => 0.0,
            Some(m) if m < 1.0 => m * n_rows,
            Some(m) => m,
        };
        let categories: Vec<String> = counts.keys().cloned().collect();
        let infrequent: Vec<bool> = counts.values().map(|&n| (n as f64) < threshold).collect();
        let has_infrequent = infrequent.iter().any(|&i| i);
        // Output order: frequent categories lexically, then the infrequent bucket.
        let mut slots = Vec::with_capacity(categories.len());
        let mut names = Vec::new();
        for (k, &rare) in categories.iter().zip(&infrequent) {
            if rare {
                slots.push(None);
            } else {
                slots.push(Some(names.len()));
                names.push(format!("{column}={k}"));
            }
        }
        let mut infrequent_slot = None;
        if has_infrequent {
            infrequent_slot = Some(names.len());
            names.push(format!("{column}=infrequent"));
            for (s, &rare) in slots.iter_mut().zip(&infrequent) {
                if rare {
                    *s = infrequent_slot;
                }
            }
        }
        let dropped = match self.drop {
            DropColumn::None => None,
            DropColumn::First => slots[0],
            DropColumn::IfBinary if names.len() == 2 => slots[0],
            DropColumn::IfBinary => None,
        };
        if let Some(d) = dropped {
            names.remove(d);
            let shift = |s: Option<usize>| match s {
                Some(s) if s == d => None,
                Some(s) if s > d => Some(s - 1),
                s => s,
            };
            slots = slots.into_iter().map(shift).collect();
            infrequent_slot = shift(infrequent_slot);
        }
        let rare_names = categories.iter().zip(&infrequent).filter(|(_, r)| **r).map(|(k, _)| k.clone()).collect();
        Ok(OneHotEncoder {
            column: column.to_string(),
            fill,
            categories,
            slots,
            infrequent_slot,
            infrequent: rare_names,
            unknown: self.unknown,
            names,
        })
    }
}

impl OneHotEncoder {
    /// The encoded input column.
    pub fn column(&self) -> &str {
        &self.column
    }

    /// Output column names: `<column>=<category>`, then `<column>=infrequent`.
    pub fn feature_names(&self) -> &[String] {
        &self.names
    }

    /// The training categories, lexically sorted (including infrequent ones).
    pub fn categories(&self) -> &[String] {
        &self.categories
    }

    /// The categories grouped into the infrequent column.
    pub fn infrequent_categories(&self) -> &[String] {
        &self.infrequent
    }

    /// For each row, the output column that is 1 (`None`: all zeros).
    pub fn active(&self, table: &Table) -> Result<Vec<Option<usize>>> {
        row_categories(table, &self.column, &self.categories, &self.fill)?
            .into_iter()
            .map(|k| match k {
                Ok(k) => Ok(self.slots[k]),
                Err(value) => match self.unknown {
                    UnknownCategory::Error => Err(DataError::UnknownCategory { column: self.column.clone(), value }),
                    UnknownCategory::Ignore => Ok(None),
                    UnknownCategory::Infrequent => Ok(self.infrequent_slot),
                },
            })
            .collect()
    }

    /// The 0/1 matrix, one column per [`OneHotEncoder::feature_names`] entry.
    pub fn transform(&self, table: &Table) -> Result<Dense> {
        let width = self.names.len();
        let mut values = vec![0.0; table.n_rows() * width];
        for (r, k) in self.active(table)?.into_iter().enumerate() {
            if let Some(k) = k {
                values[r * width + k] = 1.0;
            }
        }
        Dense::new(values, self.names.clone()).or_else(|_| Dense::empty(table.n_rows()))
    }
}

/// What ordinal encoding does with a category it did not see when fitting.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OrdinalUnknown {
    /// Fail with [`DataError::UnknownCategory`].
    #[default]
    Error,
    /// Encode it as this value (`{ value = -1 }` in TOML), as scikit-learn's
    /// `use_encoded_value`.
    Value(f64),
}

/// Ordinal (label) encoding hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct OrdinalConfig {
    /// The categories in order (`S`, `M`, `L` → 0, 1, 2); learned lexically when absent.
    pub order: Option<Vec<String>>,
    /// Policy for unseen categories at transform time.
    pub unknown: OrdinalUnknown,
}

/// Fitted ordinal encoding of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrdinalEncoder {
    column: String,
    fill: String,
    /// The categories in code order.
    order: Vec<String>,
    /// Sorted copy of `order` with each category's code, for lookup.
    lookup: Vec<(String, usize)>,
    unknown: OrdinalUnknown,
}

impl OrdinalConfig {
    /// Learns (or checks against the given order) the categories of `column`.
    pub fn fit(&self, table: &Table, column: &str) -> Result<OrdinalEncoder> {
        let (counts, fill) = category_counts(table, column)?;
        let order = match &self.order {
            None => counts.keys().cloned().collect(),
            Some(order) => {
                let mut seen = std::collections::BTreeSet::new();
                for k in order {
                    if !seen.insert(k) {
                        return Err(DataError::InvalidParameter(format!(
                            "ordinal order of column `{column}` lists `{k}` twice"
                        )));
                    }
                }
                if let Some(k) = counts.keys().find(|k| !seen.contains(k)) {
                    return Err(DataError::UnknownCategory { column: column.to_string(), value: k.clone() });
                }
                order.clone()
            }
        };
        if let OrdinalUnknown::Value(v) = self.unknown
            && !v.is_finite()
        {
            return Err(DataError::InvalidParameter(format!("ordinal unknown value must be finite, got {v}")));
        }
        let mut lookup: Vec<(String, usize)> = order.iter().cloned().zip(0..).collect();
        lookup.sort();
        Ok(OrdinalEncoder { column: column.to_string(), fill, order, lookup, unknown: self.unknown })
    }
}

impl OrdinalEncoder {
    /// The categories in code order.
    pub fn categories(&self) -> &[String] {
        &self.order
    }

    /// The output column's name: the input column's.
    pub fn feature_name(&self) -> &str {
        &self.column
    }

    /// One column holding each row's code.
    pub fn transform(&self, table: &Table) -> Result<Dense> {
        let sorted: Vec<String> = self.lookup.iter().map(|(k, _)| k.clone()).collect();
        let values = row_categories(table, &self.column, &sorted, &self.fill)?
            .into_iter()
            .map(|k| match k {
                Ok(k) => Ok(self.lookup[k].1 as f64),
                Err(value) => match self.unknown {
                    OrdinalUnknown::Error => Err(DataError::UnknownCategory { column: self.column.clone(), value }),
                    OrdinalUnknown::Value(v) => Ok(v),
                },
            })
            .collect::<Result<Vec<f64>>>()?;
        Dense::new(values, vec![self.column.clone()])
    }
}

/// The target a [`TargetEncoderConfig`] learns from, one value per training row.
#[derive(Debug, Clone, Copy)]
pub enum TargetValues<'a> {
    /// Class codes in `0..classes.len()`, with the class names (for feature names).
    Classes {
        /// Each row's class code.
        codes: &'a [usize],
        /// Class names in code order.
        classes: &'a [String],
    },
    /// A continuous target.
    Continuous(&'a [f64]),
}

impl TargetValues<'_> {
    fn len(&self) -> usize {
        match self {
            Self::Classes { codes, .. } => codes.len(),
            Self::Continuous(y) => y.len(),
        }
    }

    /// The encoded target columns (one for continuous or binary targets, one per
    /// class otherwise) and their name suffixes.
    fn columns(&self) -> Result<(Vec<Vec<f64>>, Vec<String>)> {
        match *self {
            Self::Continuous(y) => {
                if let Some(row) = y.iter().position(|v| !v.is_finite()) {
                    return Err(DataError::NotFinite { column: "target".into(), row, what: "target encoding" });
                }
                Ok((vec![y.to_vec()], vec![String::new()]))
            }
            Self::Classes { codes, classes } => {
                if let Some(&c) = codes.iter().find(|&&c| c >= classes.len()) {
                    return Err(DataError::InvalidParameter(format!(
                        "target class code {c} is outside the {} classes",
                        classes.len()
                    )));
                }
                let indicator = |k: usize| codes.iter().map(|&c| f64::from(u8::from(c == k))).collect::<Vec<_>>();
                if classes.len() <= 2 {
                    // Binary: the mean of the positive (second) class, as scikit-learn.
                    Ok((vec![indicator(1)], vec![String::new()]))
                } else {
                    Ok(((0..classes.len()).map(indicator).collect(), classes.iter().map(|c| format!("={c}")).collect()))
                }
            }
        }
    }
}

/// Target encoding hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetEncoderConfig {
    /// Shrinkage towards the global target mean: `m` in `(sum + m·mean) / (n + m)`;
    /// absent: scikit-learn's `"auto"` empirical-Bayes weight
    /// `λ = n·var(y) / (n·var(y) + var(y | category))`.
    pub smoothing: Option<f64>,
    /// Cross-fitting folds used when encoding the training rows themselves (≥ 2).
    pub folds: usize,
}

impl Default for TargetEncoderConfig {
    fn default() -> Self {
        Self { smoothing: None, folds: 5 }
    }
}

/// Fitted target encoding of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetEncoder {
    column: String,
    fill: String,
    categories: Vec<String>,
    /// `encodings[j][k]`: output column `j`, category `k`.
    encodings: Vec<Vec<f64>>,
    /// Per output column, the training target mean (the encoding of unseen categories).
    target_mean: Vec<f64>,
    names: Vec<String>,
}

impl TargetEncoderConfig {
    /// Checks the hyperparameters.
    pub fn validate(&self) -> Result<()> {
        if let Some(m) = self.smoothing
            && !(m.is_finite() && m >= 0.0)
        {
            return Err(DataError::InvalidParameter(format!(
                "target-encoding smoothing must be finite and >= 0, got {m}"
            )));
        }
        if self.folds < 2 {
            return Err(DataError::InvalidParameter(format!(
                "target-encoding folds must be at least 2, got {}",
                self.folds
            )));
        }
        Ok(())
    }

    /// Learns per-category target means from all rows of `table`. Use
    /// [`TargetEncoderConfig::fit_transform`] to encode the training rows
    /// themselves: encoding them with this encoder leaks their targets.
    pub fn fit(&self, table: &Table, column: &str, target: TargetValues<'_>) -> Result<TargetEncoder> {
        self.validate()?;
        check_target_len(table, &target)?;
        let (counts, fill) = category_counts(table, column)?;
        let categories: Vec<String> = counts.keys().cloned().collect();
        let rows = row_categories(table, column, &categories, &fill)?
            .into_iter()
            .map(|k| k.map_err(|value| DataError::UnknownCategory { column: column.to_string(), value }))
            .collect::<Result<Vec<usize>>>()?;
        let (ys, suffixes) = target.columns()?;
        let all: Vec<usize> = (0..rows.len()).collect();
        let (encodings, target_mean) = self.encodings(&rows, &all, &ys, categories.len());
        let names = suffixes.iter().map(|s| format!("{column}_target{s}")).collect();
        Ok(TargetEncoder { column: column.to_string(), fill, categories, encodings, target_mean, names })
    }

    /// Fits on all rows and returns, for the same rows, cross-fitted encodings:
    /// each row is encoded by an encoder fitted on the other folds (stratified for
    /// classes, shuffled with `seed`), so its own target never enters its encoding.
    pub fn fit_transform(
        &self,
        table: &Table,
        column: &str,
        target: TargetValues<'_>,
        seed: u64,
    ) -> Result<(TargetEncoder, Dense)> {
        let encoder = self.fit(table, column, target)?;
        let rows = row_categories(table, column, &encoder.categories, &encoder.fill)?
            .into_iter()
            .map(|k| k.map_err(|value| DataError::UnknownCategory { column: column.to_string(), value }))
            .collect::<Result<Vec<usize>>>()?;
        let folds = match target {
            TargetValues::Classes { codes, .. } => stratified_k_fold(codes, self.folds, Some(seed))?,
            TargetValues::Continuous(y) => k_fold(y.len(), self.folds, Some(seed))?,
        };
        let (ys, _) = target.columns()?;
        let width = ys.len();
        let mut values = vec![0.0; rows.len() * width];
        for fold in &folds {
            let (enc, mean) = self.encodings(&rows, &fold.train, &ys, encoder.categories.len());
            for &r in &fold.test {
                for j in 0..width {
                    // A category absent from the other folds gets their target mean.
                    let e = enc[j][rows[r]];
                    values[r * width + j] = if e.is_nan() { mean[j] } else { e };
                }
            }
        }
        let x = Dense::new(values, encoder.names.clone())?;
        Ok((encoder, x))
    }

    /// Per output column and category, the smoothed target mean over `subset`
    /// (NaN for a category with no row in it), and the target means.
    fn encodings(&self, rows: &[usize], subset: &[usize], ys: &[Vec<f64>], n_cat: usize) -> (Vec<Vec<f64>>, Vec<f64>) {
        let mut counts = vec![0.0; n_cat];
        for &r in subset {
            counts[rows[r]] += 1.0;
        }
        let n = subset.len() as f64;
        let mut encodings = Vec::with_capacity(ys.len());
        let mut means = Vec::with_capacity(ys.len());
        for y in ys {
            let mean = subset.iter().map(|&r| y[r]).sum::<f64>() / n;
            let variance = subset.iter().map(|&r| (y[r] - mean).powi(2)).sum::<f64>() / n;
            let mut sums = vec![0.0; n_cat];
            for &r in subset {
                sums[rows[r]] += y[r];
            }
            let enc: Vec<f64> = match self.smoothing {
                Some(m) => (0..n_cat)
                    .map(|k| if counts[k] == 0.0 { f64::NAN } else { (sums[k] + m * mean) / (counts[k] + m) })
                    .collect(),
                None => {
                    let cat_mean: Vec<f64> = (0..n_cat).map(|k| sums[k] / counts[k]).collect();
                    let mut ssd = vec![0.0; n_cat];
                    for &r in subset {
                        ssd[rows[r]] += (y[r] - cat_mean[rows[r]]).powi(2);
                    }
                    (0..n_cat)
                        .map(|k| {
                            if counts[k] == 0.0 {
                                return f64::NAN;
                            }
                            let lambda = variance * counts[k] / (variance * counts[k] + ssd[k] / counts[k]);
                            if lambda.is_nan() { mean } else { lambda * cat_mean[k] + (1.0 - lambda) * mean }
                        })
                        .collect()
                }
            };
            encodings.push(enc);
            means.push(mean);
        }
        (encodings, means)
    }
}

fn check_target_len(table: &Table, target: &TargetValues<'_>) -> Result<()> {
    if target.len() != table.n_rows() {
        return Err(DataError::Shape(format!(
            "target encoding: {} target values for {} rows",
            target.len(),
            table.n_rows()
        )));
    }
    Ok(())
}

impl TargetEncoder {
    /// The encoded input column.
    pub fn column(&self) -> &str {
        &self.column
    }

    /// Output column names: `<column>_target`, or `<column>_target=<class>` per
    /// class for a multi-class target.
    pub fn feature_names(&self) -> &[String] {
        &self.names
    }

    /// The training categories, lexically sorted.
    pub fn categories(&self) -> &[String] {
        &self.categories
    }

    /// The learned encoding of each category, per output column.
    pub fn encodings(&self) -> &[Vec<f64>] {
        &self.encodings
    }

    /// Encodes `table` with the encodings learned from all training rows; an
    /// unseen category gets the training target mean.
    pub fn transform(&self, table: &Table) -> Result<Dense> {
        let rows = row_categories(table, &self.column, &self.categories, &self.fill)?;
        let width = self.names.len();
        let mut values = Vec::with_capacity(rows.len() * width);
        for k in rows {
            for j in 0..width {
                values.push(match k {
                    Ok(k) => self.encodings[j][k],
                    Err(_) => self.target_mean[j],
                });
            }
        }
        Dense::new(values, self.names.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::CsvOptions;

    fn table(csv: &str) -> Table {
        Table::from_csv_reader(csv.as_bytes(), "t.csv", &CsvOptions::default()).unwrap()
    }

    #[test]
    fn infrequent_bucket_and_drop_first() {
        let t = table("c\na\na\na\nb\nb\nb\nc\nd\n");
        let config = OneHotConfig { min_frequency: Some(2.0), drop: DropColumn::First, ..Default::default() };
        let enc = config.fit(&t, "c").unwrap();
        assert_eq!(enc.feature_names(), ["c=b", "c=infrequent"]);
        assert_eq!(enc.infrequent_categories(), ["c", "d"]);
        let unseen = table("c\nz\nd\na\n");
        assert_eq!(enc.active(&unseen).unwrap(), [None, Some(1), None]);
        let strict = OneHotConfig { unknown: UnknownCategory::Error, ..config }.fit(&t, "c").unwrap();
        assert!(matches!(strict.active(&unseen), Err(DataError::UnknownCategory { value, .. }) if value == "z"));
        let bucket = OneHotConfig { unknown: UnknownCategory::Infrequent, ..config }.fit(&t, "c").unwrap();
        assert_eq!(bucket.active(&unseen).unwrap(), [Some(1), Some(1), None]);
    }

    #[test]
    fn ordinal_rejects_categories_outside_the_given_order() {
        let t = table("s\nS\nXL\n");
        let config = OrdinalConfig { order: Some(vec!["S".into(), "M".into()]), ..Default::default() };
        assert!(matches!(config.fit(&t, "s"), Err(DataError::UnknownCategory { value, .. }) if value == "XL"));
    }

    #[test]
    fn cross_fitted_encoding_never_sees_its_own_row() {
        // Each category appears once per fold pair: a row's own target would pull its
        // encoding towards it; with cross-fitting a unique category gets the mean of
        // the other folds.
        let t = table("c\na\nb\nc\nd\ne\nf\n");
        let y = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let config = TargetEncoderConfig { smoothing: Some(0.0), folds: 3 };
        let (enc, x) = config.fit_transform(&t, "c", TargetValues::Continuous(&y), 7).unwrap();
        assert_eq!(enc.transform(&t).unwrap().values(), y);
        for (r, v) in x.values().iter().enumerate() {
            assert_ne!(*v, y[r], "row {r} saw its own target");
        }
    }
}
