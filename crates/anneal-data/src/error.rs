//! The error type of `anneal-data`: every way user data or a data config can be wrong.

use std::path::PathBuf;

/// Everything that can go wrong while loading, preparing, splitting or batching data.
///
/// Each variant names the file, column, row or value at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// A file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A CSV file could not be parsed (malformed quoting, a ragged row, bad UTF-8).
    #[error("{path}: line {line}: {message}")]
    Csv {
        /// The file (or source name).
        path: PathBuf,
        /// 1-based line number in the file.
        line: u64,
        /// What the CSV parser reported.
        message: String,
    },
    /// A CSV file has no header or no data rows.
    #[error("{path} is empty: {what}")]
    EmptyCsv {
        /// The file.
        path: PathBuf,
        /// Whether the header or the rows are missing.
        what: &'static str,
    },
    /// Two columns in a header share a name.
    #[error("{path}: column `{column}` appears twice in the header")]
    DuplicateColumn {
        /// The file.
        path: PathBuf,
        /// The repeated name.
        column: String,
    },
    /// A value in a numeric column is not a number.
    #[error(
        "{path}: line {line}, column `{column}`: `{value}` is not a number (declare the column categorical if it is not numeric)"
    )]
    NonNumeric {
        /// The file.
        path: PathBuf,
        /// 1-based line number in the file.
        line: u64,
        /// The column.
        column: String,
        /// The offending cell.
        value: String,
    },
    /// A numeric cell holds an infinite value (`inf`, `-Infinity`, `1e400`):
    /// rejected unless [`CsvOptions::non_finite`](crate::CsvOptions::non_finite)
    /// reads such cells as missing.
    #[error(
        "{path}: {place}, column `{column}`: `{value}` is not a finite number (fix the cell, or read such cells as missing with non_finite = \"missing\" under [clean])"
    )]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// `line N` of a CSV file (1-based), `row N` of a Parquet file (0-based data row).
        place: String,
        /// The column.
        column: String,
        /// The cell as written (or as stored).
        value: String,
    },
    /// The preprocessed matrix would not fit the memory budget (a one-hot
    /// encoded column of many categories, most often).
    #[error(
        "the preprocessed matrix would be {rows} rows × {cols} columns, about {}, above the memory budget of \
         {} (memory_budget_mb under [preprocess]; default half the machine's memory): one-hot column \
         `{column}` alone makes {width} columns; group its rare categories (one_hot = {{ min_frequency = 20 }}), \
         encode it compactly (encoders = {{ {column} = \"target\" }} or \"ordinal\"), or list it under \
         [data] exclude",
        size(*bytes),
        size(*budget)
    )]
    MatrixTooLarge {
        /// Rows of the matrix.
        rows: usize,
        /// Columns after encoding.
        cols: usize,
        /// Estimated bytes.
        bytes: u64,
        /// The budget in bytes.
        budget: u64,
        /// The widest one-hot column.
        column: String,
        /// The columns it makes.
        width: usize,
    },
    /// A column named by the user does not exist.
    #[error("column `{column}` does not exist (available: {available})")]
    UnknownColumn {
        /// The requested name.
        column: String,
        /// The columns that do exist, comma-separated.
        available: String,
    },
    /// A column has the wrong type for the requested operation.
    #[error("column `{column}` is {actual}, expected {expected}")]
    ColumnType {
        /// The column.
        column: String,
        /// The type that was needed.
        expected: &'static str,
        /// The type it has.
        actual: &'static str,
    },
    /// A target column has a missing value; rows are never dropped silently.
    #[error("target column `{column}` is missing a value in data row {row}")]
    MissingTarget {
        /// The target column.
        column: String,
        /// 0-based data row.
        row: usize,
    },
    /// A category not seen during fitting, with the error policy for unknown categories.
    #[error("column `{column}`: category `{value}` was not seen when fitting")]
    UnknownCategory {
        /// The column.
        column: String,
        /// The unseen value.
        value: String,
    },
    /// A statistic cannot be fitted because the column has no observed values.
    #[error("column `{column}` has no non-missing values in the fitting data, cannot fit {what}")]
    AllMissing {
        /// The column.
        column: String,
        /// What was being fitted.
        what: &'static str,
    },
    /// Split fractions are not valid.
    #[error("invalid split: {0}")]
    InvalidSplit(String),
    /// A class has too few members to appear in every part of a stratified split.
    #[error("class `{class}` has {count} member(s), too few to stratify into {parts} parts")]
    ClassTooSmall {
        /// The class label.
        class: String,
        /// How many rows have it.
        count: usize,
        /// How many non-empty parts the split asks for.
        parts: usize,
    },
    /// A batch size of zero, or a shape that does not add up.
    #[error("invalid batching: {0}")]
    InvalidBatch(String),
    /// A matrix does not have the shape or the columns an operation needs.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// Augmenting a training batch failed (the message says which step and why).
    #[error("augmentation: {0}")]
    Augment(String),
    /// A hyperparameter is outside its valid range.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// Box-Cox needs strictly positive data.
    #[error(
        "column `{column}`, row {row}: Box-Cox needs positive values, got {value} (use Yeo-Johnson for zero or negative data)"
    )]
    NonPositive {
        /// The column.
        column: String,
        /// 0-based row.
        row: usize,
        /// The offending value.
        value: f64,
    },
    /// More neighbours, folds or components than there are rows.
    #[error("{what} = {k} needs at least {k} rows, but there are {n}")]
    TooFewRows {
        /// What was asked for (`n_neighbors`, `n_splits`, ...).
        what: &'static str,
        /// How many.
        k: usize,
        /// Rows available.
        n: usize,
    },
    /// A cell is missing or infinite where an operation needs finite numbers.
    #[error("column `{column}`, row {row}: {what} needs finite values (impute missing cells first)")]
    NotFinite {
        /// The column.
        column: String,
        /// 0-based row.
        row: usize,
        /// The operation.
        what: &'static str,
    },
    /// A Parquet file that cannot be read, or a column of a type a table cannot hold.
    #[error("{path}: {message}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A value outside the domain of a transform (log1p of a value <= -1).
    #[error("column `{column}`, row {row}: {what} is undefined for {value}")]
    OutOfDomain {
        /// The column.
        column: String,
        /// 0-based row.
        row: usize,
        /// The offending value.
        value: f64,
        /// The transform.
        what: &'static str,
    },
    /// A cell of a date column is not an ISO date.
    #[error("column `{column}`, data row {row}: `{value}` is not an ISO date (YYYY-MM-DD[ HH:MM[:SS]])")]
    BadDate {
        /// The column.
        column: String,
        /// 0-based data row.
        row: usize,
        /// The cell.
        value: String,
    },
    /// A saved fitted-state file is not valid.
    #[error("{path}: not valid fitted state: {message}")]
    FittedState {
        /// The file.
        path: PathBuf,
        /// What the JSON parser reported.
        message: String,
    },
    /// An image file that cannot be decoded or does not fit the others.
    #[error("{path}: {message}")]
    Image {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// An audio file that cannot be decoded, or a folder without clips.
    #[error("{path}: {message}")]
    Audio {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A pixel that is missing or not a finite number.
    #[error("pixel column `{column}`, row {row}: {} (an image needs every pixel)", match value { Some(v) => format!("{v} is not a finite number"), None => "the value is missing".to_string() })]
    MissingPixel {
        /// The pixel column.
        column: String,
        /// 0-based row of the table.
        row: usize,
        /// The value, when present.
        value: Option<f64>,
    },
    /// Table construction failed inside Arrow.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
}

/// Result alias for this crate.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

/// Bytes for a message: `72 MB`, `18.9 GB`.
fn size(bytes: u64) -> String {
    if bytes >= 1_000_000_000 {
        format!("{:.1} GB", bytes as f64 / 1e9)
    } else {
        format!("{:.0} MB", bytes as f64 / 1e6)
    }
}
