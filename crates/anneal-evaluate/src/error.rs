//! The error type of `anneal-evaluate`: inputs a metric has no answer for.

/// Inputs a metric cannot be computed on.
///
/// Every message names the argument at fault and, where there is one, the sample
/// (`index`, 0-based) or row and class.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum EvalError {
    /// `y_true` and `y_pred` (or `y_score`) differ in length.
    #[error("y_true has {y_true} samples but y_pred has {y_pred}")]
    LengthMismatch {
        /// Length of `y_true`.
        y_true: usize,
        /// Length of `y_pred` or `y_score`.
        y_pred: usize,
    },
    /// There are no samples.
    #[error("metrics need at least one sample")]
    Empty,
    /// An image for a figure whose pixels do not match its shape, or a figure with no image.
    #[error("image figure: {0}")]
    Image(String),
    /// A class code is not below the declared number of classes.
    #[error("{which}[{index}] = {label} is not a class (expected a code below {n_classes})")]
    LabelOutOfRange {
        /// `y_true` or `y_pred`.
        which: &'static str,
        /// Position of the sample.
        index: usize,
        /// The code found.
        label: usize,
        /// The declared number of classes.
        n_classes: usize,
    },
    /// A row-major score or probability matrix whose length is not samples × classes.
    #[error("{which} has {len} values but {n_samples} samples x {n_classes} classes need {}", n_samples * n_classes)]
    ScoreShape {
        /// The matrix argument (`y_proba`, `y_score`).
        which: &'static str,
        /// Its length.
        len: usize,
        /// Number of samples (the length of `y_true`).
        n_samples: usize,
        /// Declared number of classes (columns).
        n_classes: usize,
    },
    /// A score, probability or regression value that is NaN or infinite.
    #[error("{which}[{index}] is {value}: metrics need finite values")]
    NonFinite {
        /// The argument holding it.
        which: &'static str,
        /// Position in the slice (row-major for matrices).
        index: usize,
        /// The value found.
        value: f64,
    },
    /// A probability below 0 or above 1.
    #[error("{which}[{index}] = {value} is not a probability (outside [0, 1])")]
    ProbabilityOutOfRange {
        /// The argument holding it.
        which: &'static str,
        /// Position in the slice (row-major for matrices).
        index: usize,
        /// The value found.
        value: f64,
    },
    /// A probability row that does not sum to 1 within the tolerance
    /// ([`ROW_SUM_ATOL`](crate::ROW_SUM_ATOL) + [`ROW_SUM_RTOL`](crate::ROW_SUM_RTOL) × sum).
    #[error("{which} row {row} sums to {sum}, not 1 (allowed: |sum - 1| <= 1e-8 + 1e-5 * sum)")]
    RowSum {
        /// The argument holding it.
        which: &'static str,
        /// The sample (row) index.
        row: usize,
        /// The row's sum.
        sum: f64,
    },
    /// `y_true` holds one class only, so a ranking metric has no negative (or no
    /// positive) sample to compare with.
    #[error("y_true holds only class {class}: {metric} needs both a positive and a negative sample")]
    SingleClass {
        /// The metric asked for.
        metric: &'static str,
        /// The one class present.
        class: usize,
    },
    /// A declared class with no sample in `y_true`, where the metric needs one.
    #[error("class {class} does not occur in y_true: its {metric} is undefined")]
    ClassAbsent {
        /// The metric asked for.
        metric: &'static str,
        /// The class without samples.
        class: usize,
    },
    /// `Average::Binary` on data with more than two classes.
    #[error(
        "average binary needs at most two classes, but y_true and y_pred hold {present:?}: use micro, macro or weighted"
    )]
    NotBinary {
        /// The classes that occur in `y_true` or `y_pred`.
        present: Vec<usize>,
    },
    /// `Average::Binary { pos_label }` where the positive class does not occur but two
    /// other classes do.
    #[error("pos_label {pos_label} does not occur in y_true or y_pred, which hold {present:?}")]
    PosLabelAbsent {
        /// The positive class asked for.
        pos_label: usize,
        /// The classes that occur in `y_true` or `y_pred`.
        present: Vec<usize>,
    },
    /// A parameter outside its domain.
    #[error("{name} = {value} is invalid: expected {expected}")]
    InvalidParameter {
        /// The parameter.
        name: &'static str,
        /// The value given, as text.
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
    /// Cross-validation or a learning curve was given no folds.
    #[error("cross-validation needs at least one fold")]
    NoFolds,
    /// A fold whose training or test rows are empty.
    #[error("fold {fold} has no {part} rows")]
    EmptyFold {
        /// The fold (0-based).
        fold: usize,
        /// `train` or `test`.
        part: &'static str,
    },
    /// A fold names a row that is not below the number of rows.
    #[error("fold {fold} {part} row {row} is out of range (the data has {n_rows} rows)")]
    FoldRowOutOfRange {
        /// The fold (0-based).
        fold: usize,
        /// `train` or `test`.
        part: &'static str,
        /// The row named.
        row: usize,
        /// The number of rows.
        n_rows: usize,
    },
    /// A row named twice in one fold: twice in one part, or in both its training
    /// and its test rows (which would score a model on a row it was fitted on).
    #[error("fold {fold} names row {row} twice ({parts}): train and test rows must be disjoint")]
    FoldRowRepeated {
        /// The fold (0-based).
        fold: usize,
        /// The row.
        row: usize,
        /// Where: `train and test`, `train twice` or `test twice`.
        parts: &'static str,
    },
    /// Two folds test the same row, so it would be scored twice.
    #[error("row {row} is a test row of folds {first} and {second}: test sets must not overlap")]
    FoldsOverlap {
        /// The row.
        row: usize,
        /// The first fold testing it.
        first: usize,
        /// The second fold testing it.
        second: usize,
    },
    /// A row that no fold tests, where every row must be scored exactly once.
    #[error("row {row} is in no fold's test rows ({missing} rows are never scored)")]
    RowNotTested {
        /// The first such row.
        row: usize,
        /// How many rows are never tested.
        missing: usize,
    },
    /// A learning curve was given no training-set sizes.
    #[error("a learning curve needs at least one training-set size")]
    EmptySizes,
    /// A training-set size that is not a fraction in (0, 1], or sizes out of order.
    #[error("training-set size {value} is invalid: {expected}")]
    InvalidSize {
        /// The size given.
        value: f64,
        /// What is allowed.
        expected: &'static str,
    },
    /// A fold's scores lack the metric a learning curve follows.
    #[error("fold {fold} reported no {part} score named `{metric}` (it reported: {available})")]
    MissingScore {
        /// The metric.
        metric: String,
        /// `train` or `test`.
        part: &'static str,
        /// The fold (0-based).
        fold: usize,
        /// The names it did report, comma-separated.
        available: String,
    },
    /// The worker thread pool could not be built.
    #[error("cannot start {workers} worker threads: {message}")]
    ThreadPool {
        /// Threads asked for.
        workers: usize,
        /// The reason given by rayon.
        message: String,
    },
    /// A figure could not be drawn or written.
    #[error("plot {path}: {message}")]
    Plot {
        /// The output file.
        path: std::path::PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl EvalError {
    pub(crate) fn invalid(name: &'static str, value: impl ToString, expected: &'static str) -> Self {
        EvalError::InvalidParameter { name, value: value.to_string(), expected }
    }
}
