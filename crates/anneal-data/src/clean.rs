//! Cleaning: the missing-value report, dropping rows or sparse columns, duplicate
//! rows, and outliers (detection by IQR fences, z-score or robust z-score; handling
//! by trimming or winsorizing). Every function reports what it removed.

use serde::{Deserialize, Serialize};

use crate::dense::{Dense, mean_variance, quantile_sorted};
use crate::error::{DataError, Result};
use crate::preprocess::median;
use crate::table::Table;

/// Missing cells of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MissingColumn {
    /// The column.
    pub column: String,
    /// Missing cells.
    pub count: usize,
    /// Missing cells over rows.
    pub fraction: f64,
}

/// Count and fraction of missing cells per column, in column order.
pub fn missing_report(table: &Table) -> Result<Vec<MissingColumn>> {
    let n = table.n_rows().max(1) as f64;
    table
        .column_names()
        .into_iter()
        .map(|column| {
            let count = table.null_count(&column)?;
            Ok(MissingColumn { column, count, fraction: count as f64 / n })
        })
        .collect()
}

/// Drops the rows with a missing cell in any of `columns` (every column when
/// empty); returns the kept table and how many rows were removed.
pub fn drop_missing_rows(table: &Table, columns: &[String]) -> Result<(Table, usize)> {
    let columns = if columns.is_empty() { table.column_names() } else { columns.to_vec() };
    let cells: Vec<Vec<Option<String>>> = columns.iter().map(|c| table.as_strings(c)).collect::<Result<_>>()?;
    let keep: Vec<usize> = (0..table.n_rows()).filter(|&r| cells.iter().all(|col| col[r].is_some())).collect();
    let removed = table.n_rows() - keep.len();
    Ok((table.take(&keep)?, removed))
}

/// Drops the columns whose missing fraction is above `max_fraction`; returns the
/// kept table and the names dropped.
pub fn drop_sparse_columns(table: &Table, max_fraction: f64) -> Result<(Table, Vec<String>)> {
    if !(0.0..=1.0).contains(&max_fraction) {
        return Err(DataError::InvalidParameter(format!("max missing fraction {max_fraction} is not in [0, 1]")));
    }
    let report = missing_report(table)?;
    let (dropped, kept): (Vec<_>, Vec<_>) = report.into_iter().partition(|m| m.fraction > max_fraction);
    let kept: Vec<String> = kept.into_iter().map(|m| m.column).collect();
    Ok((table.select(&kept)?, dropped.into_iter().map(|m| m.column).collect()))
}

/// Which of a set of duplicate rows survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Keep {
    /// The first occurrence.
    #[default]
    First,
    /// The last occurrence.
    Last,
    /// None of them.
    None,
}

/// Removes duplicate rows — equal on `subset` (every column when empty), missing
/// cells equal to each other as in pandas — keeping the first, the last or none of
/// each set. Returns the kept table and how many rows were removed.
///
/// ```
/// use anneal_data::{CsvOptions, Table, clean::{Keep, drop_duplicates}};
///
/// let t = Table::from_csv_reader("a,b\n1,x\n2,y\n1,x\n1,z\n".as_bytes(), "t.csv", &CsvOptions::default())?;
/// let (kept, removed) = drop_duplicates(&t, &[], Keep::First)?;
/// assert_eq!((kept.n_rows(), removed), (3, 1));
/// let (kept, removed) = drop_duplicates(&t, &["a".into()], Keep::None)?;
/// assert_eq!((kept.n_rows(), removed), (1, 3));
/// # Ok::<(), anneal_data::DataError>(())
/// ```
pub fn drop_duplicates(table: &Table, subset: &[String], keep: Keep) -> Result<(Table, usize)> {
    let rows = unique_rows(table, subset, keep)?;
    let removed = table.n_rows() - rows.len();
    Ok((table.take(&rows)?, removed))
}

/// The rows [`drop_duplicates`] keeps, ascending.
pub fn unique_rows(table: &Table, subset: &[String], keep: Keep) -> Result<Vec<usize>> {
    let columns = if subset.is_empty() { table.column_names() } else { subset.to_vec() };
    let cells = columns.iter().map(|c| table.cells(c)).collect::<Result<Vec<_>>>()?;
    let n = table.n_rows();
    // A hash of each row, built a column at a time; equal hashes are then compared cell
    // by cell, so a collision costs time, never a wrong answer.
    let mut hashes = vec![0x243f_6a88_85a3_08d3u64; n];
    for column in &cells {
        for (r, h) in hashes.iter_mut().enumerate() {
            let k = column.key(r).map_or(0x9e37_79b9_7f4a_7c15, |k| k.wrapping_add(1).rotate_left(17));
            *h = (*h ^ k).wrapping_mul(0xff51_afd7_ed55_8ccd);
            *h ^= *h >> 29;
        }
    }
    let same = |a: u32, b: u32| cells.iter().all(|c| c.key(a as usize) == c.key(b as usize));
    // Rows ordered by hash (then row): equal rows are neighbours within a run of one hash.
    let mut order: Vec<(u64, u32)> = hashes.into_iter().zip(0u32..).collect();
    order.sort_unstable();
    let mut kept = Vec::new();
    let mut run_start = 0;
    // Each set of equal rows within a run: its rows in ascending order.
    let mut sets: Vec<Vec<u32>> = Vec::new();
    while run_start < order.len() {
        let hash = order[run_start].0;
        let run_end = run_start + order[run_start..].partition_point(|&(h, _)| h == hash);
        if run_end - run_start == 1 {
            kept.push(order[run_start].1 as usize);
        } else {
            sets.clear();
            for &(_, r) in &order[run_start..run_end] {
                match sets.iter_mut().find(|set| same(set[0], r)) {
                    Some(set) => set.push(r),
                    None => sets.push(vec![r]),
                }
            }
            for set in &sets {
                match keep {
                    Keep::First => kept.push(set[0] as usize),
                    Keep::Last => kept.push(set[set.len() - 1] as usize),
                    Keep::None if set.len() == 1 => kept.push(set[0] as usize),
                    Keep::None => {}
                }
            }
        }
        run_start = run_end;
    }
    kept.sort_unstable();
    Ok(kept)
}

/// How outliers are recognised, per numeric column.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
pub enum OutlierRule {
    /// Outside [Q1 − k·IQR, Q3 + k·IQR] (Tukey's fences; k = 1.5 is customary).
    Iqr {
        /// Fence multiplier.
        k: f64,
    },
    /// |x − mean| / std above `threshold` (population std).
    ZScore {
        /// Threshold, e.g. 3.
        threshold: f64,
    },
    /// |x − median| / (1.4826 · MAD) above `threshold` (Iglewicz & Hoaglin use 3.5).
    RobustZ {
        /// Threshold, e.g. 3.5.
        threshold: f64,
    },
    /// Outside the fitted [`low`, `high`] quantiles; with [`Outliers::clip`] this is
    /// winsorizing.
    Quantiles {
        /// Lower quantile in [0, 1).
        low: f64,
        /// Upper quantile in (low, 1].
        high: f64,
    },
}

/// Fitted outlier bounds: one `[low, high]` interval per column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outliers {
    columns: Vec<String>,
    bounds: Vec<(f64, f64)>,
}

impl OutlierRule {
    /// Learns each column's bounds from the observed training values of `x`.
    pub fn fit(&self, x: &Dense) -> Result<Outliers> {
        let positive = |name: &str, v: f64| {
            if v > 0.0 && v.is_finite() {
                Ok(())
            } else {
                Err(DataError::InvalidParameter(format!("outlier {name} must be positive, got {v}")))
            }
        };
        match *self {
            OutlierRule::Iqr { k } => positive("k", k)?,
            OutlierRule::ZScore { threshold } | OutlierRule::RobustZ { threshold } => positive("threshold", threshold)?,
            OutlierRule::Quantiles { low, high } => {
                if !(0.0 <= low && low < high && high <= 1.0) {
                    return Err(DataError::InvalidParameter(format!(
                        "quantiles ({low}, {high}) are not 0 <= low < high <= 1"
                    )));
                }
            }
        }
        let mut bounds = Vec::with_capacity(x.n_cols());
        for (c, mut v) in x.observed_columns().into_iter().enumerate() {
            if v.is_empty() {
                return Err(DataError::AllMissing { column: x.names()[c].clone(), what: "outlier bounds" });
            }
            v.sort_by(f64::total_cmp);
            let q = |p: f64| quantile_sorted(&v, p);
            bounds.push(match *self {
                OutlierRule::Iqr { k } => {
                    let (q1, q3) = (q(0.25), q(0.75));
                    (q1 - k * (q3 - q1), q3 + k * (q3 - q1))
                }
                OutlierRule::ZScore { threshold } => {
                    let (mean, var) = mean_variance(&v);
                    let sd = var.sqrt();
                    (mean - threshold * sd, mean + threshold * sd)
                }
                OutlierRule::RobustZ { threshold } => {
                    let med = median(&v);
                    let deviations: Vec<f64> = v.iter().map(|x| (x - med).abs()).collect();
                    let mad = 1.4826 * median(&deviations);
                    (med - threshold * mad, med + threshold * mad)
                }
                OutlierRule::Quantiles { low, high } => (q(low), q(high)),
            });
        }
        Ok(Outliers { columns: x.names().to_vec(), bounds })
    }
}

impl Outliers {
    /// The `[low, high]` interval of each column.
    pub fn bounds(&self) -> &[(f64, f64)] {
        &self.bounds
    }

    /// Rows of `x` with at least one value outside its column's bounds (missing
    /// cells never count), and per column how many values are outside.
    pub fn detect(&self, x: &Dense) -> Result<(Vec<usize>, Vec<usize>)> {
        x.expect_columns(&self.columns, "the outlier bounds")?;
        let mut rows = Vec::new();
        let mut per_column = vec![0usize; self.columns.len()];
        for r in 0..x.n_rows() {
            let mut flagged = false;
            for (c, (&v, &(lo, hi))) in x.row(r).iter().zip(&self.bounds).enumerate() {
                if v < lo || v > hi {
                    per_column[c] += 1;
                    flagged = true;
                }
            }
            if flagged {
                rows.push(r);
            }
        }
        Ok((rows, per_column))
    }

    /// The rows of `x` with no value outside the bounds (trimming).
    pub fn inliers(&self, x: &Dense) -> Result<Vec<usize>> {
        let (outliers, _) = self.detect(x)?;
        let mut flagged = vec![false; x.n_rows()];
        for r in outliers {
            flagged[r] = true;
        }
        Ok((0..x.n_rows()).filter(|&r| !flagged[r]).collect())
    }

    /// Clips every value into its column's bounds (winsorizing with
    /// [`OutlierRule::Quantiles`]); missing cells stay missing.
    pub fn clip(&self, x: &Dense) -> Result<Dense> {
        x.expect_columns(&self.columns, "the outlier bounds")?;
        Ok(x.map(|c, v| if v.is_nan() { v } else { v.clamp(self.bounds[c].0, self.bounds[c].1) }))
    }
}

/// Which duplicates a [`CleanConfig`] removes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Duplicates {
    /// Columns compared (every column when empty).
    pub subset: Vec<String>,
    /// Which row of each set survives.
    pub keep: Keep,
}

/// Cleaning steps of a run (`[clean]` in a run config): whole-table steps before
/// the split, and outlier trimming of the training rows after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CleanConfig {
    /// Remove duplicate rows (`drop_duplicates = {}` for exact duplicates).
    pub drop_duplicates: Option<Duplicates>,
    /// Drop rows with a missing cell in any of these columns.
    pub drop_missing: Vec<String>,
    /// Drop columns whose missing fraction is above this (never `protected` ones).
    pub max_missing_fraction: Option<f64>,
    /// Drop training rows with a numeric feature outside the rule's fences, fitted
    /// on the training rows (validation and test rows are never trimmed).
    pub trim_outliers: Option<OutlierRule>,
    /// Infinite numbers in the data (`inf`, `1e400`): `reject` (the default,
    /// an error naming file, line and column) or `missing`. The same policy
    /// applies to every file the run reads later (`predict`, `eval`).
    #[serde(skip_serializing_if = "is_reject")]
    pub non_finite: crate::NonFinite,
}

fn is_reject(p: &crate::NonFinite) -> bool {
    *p == crate::NonFinite::Reject
}

/// What [`CleanConfig::apply`] did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CleanReport {
    /// Rows removed as duplicates.
    pub duplicates_removed: usize,
    /// Rows removed for missing cells.
    pub missing_removed: usize,
    /// Columns dropped for too many missing cells.
    pub dropped_columns: Vec<String>,
    /// Training rows removed as outliers (filled in by whoever trims).
    pub outliers_trimmed: usize,
}

impl CleanConfig {
    /// Applies the whole-table steps: returns the cleaned table, the original index
    /// of each of its rows, and what was removed.
    pub fn apply(&self, table: &Table, protected: &[String]) -> Result<(Table, Vec<usize>, CleanReport)> {
        let mut report = CleanReport::default();
        let mut rows: Vec<usize> = (0..table.n_rows()).collect();
        let mut current = table.clone();
        if let Some(d) = &self.drop_duplicates {
            let kept = unique_rows(&current, &d.subset, d.keep)?;
            report.duplicates_removed = current.n_rows() - kept.len();
            rows = kept.iter().map(|&r| rows[r]).collect();
            current = current.take(&kept)?;
        }
        if !self.drop_missing.is_empty() {
            let cells: Vec<Vec<Option<String>>> =
                self.drop_missing.iter().map(|c| current.as_strings(c)).collect::<Result<_>>()?;
            let kept: Vec<usize> =
                (0..current.n_rows()).filter(|&r| cells.iter().all(|col| col[r].is_some())).collect();
            report.missing_removed = current.n_rows() - kept.len();
            rows = kept.iter().map(|&r| rows[r]).collect();
            current = current.take(&kept)?;
        }
        if let Some(max_fraction) = self.max_missing_fraction {
            if !(0.0..=1.0).contains(&max_fraction) {
                return Err(DataError::InvalidParameter(format!(
                    "max missing fraction {max_fraction} is not in [0, 1]"
                )));
            }
            let n = current.n_rows().max(1) as f64;
            let mut kept = Vec::new();
            for c in current.column_names() {
                if current.null_count(&c)? as f64 / n > max_fraction && !protected.contains(&c) {
                    report.dropped_columns.push(c);
                } else {
                    kept.push(c);
                }
            }
            current = current.select(&kept)?;
        }
        Ok((current, rows, report))
    }

    /// The rows of `train` to keep after outlier trimming on the numeric `columns`
    /// (all rows when no rule is set).
    pub fn trim(&self, train: &Table, columns: &[String]) -> Result<Vec<usize>> {
        match self.trim_outliers {
            Some(rule) if !columns.is_empty() => {
                let x = Dense::from_table(train, columns)?;
                rule.fit(&x)?.inliers(&x)
            }
            _ => Ok((0..train.n_rows()).collect()),
        }
    }
}
