//! A data-quality summary of a table: types, missing values, cardinalities,
//! numeric ranges, IQR outliers and duplicate rows — what `anneal data inspect`
//! prints.

use std::collections::HashSet;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::clean::{Keep, OutlierRule, drop_duplicates, missing_report};
use crate::dense::Dense;
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
    /// Numeric columns: values outside Tukey's 1.5 × IQR fences.
    pub iqr_outliers: Option<usize>,
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
    let missing = missing_report(table)?;
    let (_, duplicate_rows) = drop_duplicates(table, &[], Keep::First)?;
    let mut columns = Vec::new();
    for m in missing {
        let kind = table.kind(&m.column)?;
        let mut summary = ColumnSummary {
            name: m.column.clone(),
            kind,
            missing: m.count,
            missing_fraction: m.fraction,
            distinct: 0,
            stats: None,
            iqr_outliers: None,
        };
        match kind {
            ColumnKind::Categorical => {
                let values = table.categorical(&m.column)?;
                summary.distinct = values.iter().flatten().collect::<HashSet<_>>().len();
            }
            ColumnKind::Numeric => {
                let x = Dense::from_table(table, std::slice::from_ref(&m.column))?;
                let observed = x.observed(0);
                let mut distinct = observed.clone();
                distinct.sort_by(f64::total_cmp);
                distinct.dedup();
                summary.distinct = distinct.len();
                if let (Some(&min), Some(&max)) = (distinct.first(), distinct.last()) {
                    let mean = observed.iter().sum::<f64>() / observed.len() as f64;
                    let median = crate::preprocess::median(&observed);
                    summary.stats = Some([min, median, max, mean]);
                    let fences = OutlierRule::Iqr { k: 1.5 }.fit(&x)?;
                    summary.iqr_outliers = Some(fences.detect(&x)?.1[0]);
                }
            }
        }
        columns.push(summary);
    }
    Ok(Inspection { rows: table.n_rows(), duplicate_rows, columns })
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
        s
    }
}
