//! A data-quality summary of a table: types, missing values, cardinalities,
//! numeric ranges, IQR outliers and duplicate rows — what `anneal data inspect`
//! prints.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use rayon::prelude::*;

use crate::clean::{Keep, unique_rows};
use crate::dense::quantile_sorted;
use crate::error::Result;
use crate::table::{ColumnKind, Table};

/// Summary of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnSummary {
    /// Column name.
    pub name: String,
    /// Numeric or categorical.
    pub kind: ColumnKind,
    /// Missing cells.
    pub missing: usize,
    /// Missing fraction.
    pub missing_fraction: f64,
    /// Distinct non-missing values.
    pub distinct: usize,
    /// Numeric columns: minimum, median, maximum, mean.
    pub stats: Option<[f64; 4]>,
    /// Numeric columns: values outside Tukey's 1.5 × IQR fences (not counted
    /// for a binary column, whose fences are meaningless).
    pub iqr_outliers: Option<usize>,
    /// What to look at before training on it: constant, ID-like, binary, high
    /// cardinality, dates stored as text, zeros that look like missing values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub advice: Vec<String>,
}

/// A categorical column with more distinct values than this (or than half the
/// rows) is flagged: one-hot encoding it makes as many columns.
pub const HIGH_CARDINALITY: usize = 1000;

/// Whether `distinct` categories among `rows` values are too many to one-hot encode
/// without thought: more than [`HIGH_CARDINALITY`], or more than half the rows.
pub fn is_high_cardinality(distinct: usize, rows: usize) -> bool {
    distinct > HIGH_CARDINALITY || (rows >= 20 && 2 * distinct > rows)
}

/// The class balance of a target column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassBalance {
    /// The target column.
    pub column: String,
    /// Each value and its count, most frequent first.
    pub counts: Vec<(String, usize)>,
}

/// A whole table's summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inspection {
    /// Rows.
    pub rows: usize,
    /// Exact duplicate rows beyond the first of each set.
    pub duplicate_rows: usize,
    /// One entry per column, in order.
    pub columns: Vec<ColumnSummary>,
    /// The target's class balance, when one was named ([`Inspection::with_target`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<ClassBalance>,
}

/// Summarises `table`.
///
/// ```
/// use anneal_data::{CsvOptions, Table, inspect::inspect};
///
/// let t = Table::from_csv_reader("x,c\n1,a\n,b\n1,a\n100,a\n".as_bytes(), "t.csv", &CsvOptions::default())?;
/// let report = inspect(&t)?;
/// assert_eq!((report.rows, report.duplicate_rows), (4, 1));
/// assert_eq!(report.columns[0].missing, 1);
/// assert_eq!(report.columns[1].distinct, 2);
/// assert!(report.to_markdown("t.csv").contains("| x | numeric | 1 (25.0 %) |"));
/// # Ok::<(), anneal_data::DataError>(())
/// ```
pub fn inspect(table: &Table) -> Result<Inspection> {
    let names = table.column_names();
    // Columns are summarised in parallel, duplicates counted meanwhile.
    let (columns, unique) = rayon::join(
        || {
            names
                .par_iter()
                .map_init(Vec::new, |scratch, name| summarise(table, name, scratch))
                .collect::<Result<Vec<_>>>()
        },
        || unique_rows(table, &[], Keep::First),
    );
    let duplicate_rows = table.n_rows() - unique?.len();
    Ok(Inspection { rows: table.n_rows(), duplicate_rows, columns: columns?, target: None })
}

/// One column's summary; `scratch` holds a numeric column's values while they are sorted.
fn summarise(table: &Table, name: &str, scratch: &mut Vec<f64>) -> Result<ColumnSummary> {
    let kind = table.kind(name)?;
    let missing = table.null_count(name)?;
    let rows = table.n_rows();
    let mut summary = ColumnSummary {
        name: name.to_string(),
        kind,
        missing,
        missing_fraction: if rows == 0 { 0.0 } else { missing as f64 / rows as f64 },
        distinct: 0,
        stats: None,
        iqr_outliers: None,
        advice: Vec::new(),
    };
    let present = rows - missing;
    match kind {
        ColumnKind::Categorical => {
            let (codes, dictionary) = table.dictionary(name)?;
            let sample: Vec<&str> = codes.iter().flatten().take(200).map(|c| dictionary.value(c as usize)).collect();
            summary.distinct = table.distinct_labels(name)?;
            if !sample.is_empty() && sample.iter().all(|v| crate::dates::DateTime::parse(v).is_some()) {
                summary.advice.push(
                    "dates stored as text: list it under [preprocess] date_columns to use year, month, weekday".into(),
                );
            } else if summary.distinct > 20 && summary.distinct == present {
                // ID-like: said by `general_advice`.
            } else if is_high_cardinality(summary.distinct, present) {
                summary.advice.push(format!(
                    "high cardinality: one-hot encoding makes {} columns; group rare categories \
                     (min_frequency), target-encode it, or exclude it",
                    summary.distinct
                ));
            }
        }
        ColumnKind::Numeric => {
            table.observed_into(name, scratch)?;
            if !scratch.is_empty() {
                let mean = scratch.iter().sum::<f64>() / scratch.len() as f64;
                scratch.sort_unstable_by(f64::total_cmp);
                numeric_summary(&mut summary, scratch, mean, present);
            }
        }
    }
    general_advice(&mut summary, present);
    Ok(summary)
}

/// Fills in a numeric column's statistics and advice from its sorted non-missing values.
fn numeric_summary(summary: &mut ColumnSummary, sorted: &[f64], mean: f64, present: usize) {
    let n = sorted.len();
    let (min, max) = (sorted[0], sorted[n - 1]);
    let median = if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 };
    summary.distinct = 1 + sorted.windows(2).filter(|w| w[0] != w[1]).count();
    summary.stats = Some([min, median, max, mean]);
    if summary.distinct == 2 {
        summary.advice.push("binary (two values): a flag, no outliers to count".into());
    } else {
        // Tukey's fences as OutlierRule::Iqr { k: 1.5 } draws them.
        let (q1, q3) = (quantile_sorted(sorted, 0.25), quantile_sorted(sorted, 0.75));
        let (lo, hi) = (q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1));
        summary.iqr_outliers = Some(sorted.partition_point(|&v| v < lo) + (n - sorted.partition_point(|&v| v <= hi)));
    }
    let integers = sorted.iter().all(|v| v.fract() == 0.0);
    if integers && present > 20 && summary.distinct == present && max - min < 2.0 * present as f64 {
        summary.advice.push(
            "ID-like: distinct consecutive integers, a row number rather than a measurement \
             (list it under [data] exclude)"
                .into(),
        );
    }
    let below_zero = sorted.partition_point(|&v| v < 0.0);
    let zeros = sorted.partition_point(|&v| v <= 0.0) - below_zero;
    let smallest_positive = sorted.get(below_zero + zeros).copied();
    // Zero is out of place when the step from it to the smallest positive value is far
    // wider than the usual step between neighbouring values (glucose 0 next to 44, 45,
    // 46...), not when it sits on the values' grid (minutes 0, 5, 10...).
    let usual_step = || {
        let mut steps: Vec<f64> =
            sorted[below_zero + zeros..].windows(2).map(|w| w[1] - w[0]).filter(|&d| d > 0.0).collect();
        if steps.is_empty() {
            return f64::INFINITY;
        }
        let mid = steps.len() / 2;
        *steps.select_nth_unstable_by(mid, f64::total_cmp).1
    };
    if let Some(p) = smallest_positive
        && zeros > 0
        && min >= 0.0
        && summary.distinct > 2
        && median > 0.0
        && p >= 0.1 * median
        && p > 3.0 * usual_step()
    {
        summary.advice.push(format!(
            "{zeros} zero(s) far below every other value (the smallest non-zero is {p}): missing \
             values coded as 0? make those cells empty so they are imputed"
        ));
    }
}

/// Advice that holds for any kind of column, once its summary is filled in.
fn general_advice(summary: &mut ColumnSummary, present: usize) {
    if summary.distinct == 1 {
        summary.advice.insert(0, "constant: one value in every row, nothing to learn from".into());
    } else if summary.kind == ColumnKind::Categorical && summary.distinct > 20 && summary.distinct == present {
        summary.advice.insert(
            0,
            "ID-like: every value distinct; an identifier is not a feature (list it under [data] exclude)".into(),
        );
    }
}

impl Inspection {
    /// Adds the class balance of `column` (most frequent first).
    pub fn with_target(mut self, table: &Table, column: &str) -> Result<Self> {
        let values = table.as_strings(column)?;
        let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for v in values.into_iter().flatten() {
            *counts.entry(v).or_default() += 1;
        }
        let mut counts: Vec<(String, usize)> = counts.into_iter().collect();
        counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        self.target = Some(ClassBalance { column: column.to_string(), counts });
        Ok(self)
    }
}

impl Inspection {
    /// The summary as a Markdown report titled with `source`.
    pub fn to_markdown(&self, source: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# Data quality: {}\n", anneal_core::markdown::escape(source));
        let _ = writeln!(
            s,
            "{} rows, {} columns, {} exact duplicate row(s), {} missing cell(s).\n",
            self.rows,
            self.columns.len(),
            self.duplicate_rows,
            self.columns.iter().map(|c| c.missing).sum::<usize>()
        );
        let _ = writeln!(s, "| column | type | missing | distinct | min | median | max | mean | IQR outliers |");
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
        for c in &self.columns {
            let kind = match c.kind {
                ColumnKind::Numeric => "numeric",
                ColumnKind::Categorical => "categorical",
            };
            let stat = |i: usize| c.stats.map_or("–".to_string(), |st| format!("{:.4}", st[i]));
            let _ = writeln!(
                s,
                "| {} | {kind} | {} ({:.1} %) | {} | {} | {} | {} | {} | {} |",
                anneal_core::markdown::escape(&c.name),
                c.missing,
                100.0 * c.missing_fraction,
                c.distinct,
                stat(0),
                stat(1),
                stat(2),
                stat(3),
                c.iqr_outliers.map_or("–".to_string(), |n| n.to_string())
            );
        }
        let advised: Vec<&ColumnSummary> = self.columns.iter().filter(|c| !c.advice.is_empty()).collect();
        if !advised.is_empty() {
            let _ = writeln!(s, "\n## Advice\n");
            for c in advised {
                let _ = writeln!(s, "- {}: {}", anneal_core::markdown::code(&c.name), c.advice.join("; "));
            }
        }
        if let Some(t) = &self.target {
            let total: usize = t.counts.iter().map(|(_, n)| n).sum();
            let _ = writeln!(s, "\n## Target {}\n", anneal_core::markdown::code(&t.column));
            let _ = writeln!(s, "| class | rows | share |\n|---|---|---|");
            for (value, n) in t.counts.iter().take(50) {
                let share = 100.0 * *n as f64 / total.max(1) as f64;
                let _ = writeln!(s, "| {} | {n} | {share:.1} % |", anneal_core::markdown::escape(value));
            }
            if t.counts.len() > 50 {
                let _ = writeln!(s, "\n{} more classes not shown.", t.counts.len() - 50);
            }
            if let (Some(first), Some(last)) = (t.counts.first(), t.counts.last())
                && t.counts.len() > 1
                && first.1 >= 10 * last.1
            {
                let _ = writeln!(
                    s,
                    "\nImbalanced: the largest class has {}× the rows of the smallest; accuracy alone will \
                     flatter a model (look at balanced accuracy and macro-F1).",
                    first.1 / last.1.max(1)
                );
            }
        }
        s
    }
}
