//! The error type of `anneal-hpo`: every way a search space, a study or a sampler setting can be wrong.

use std::path::PathBuf;

/// Everything that can go wrong while declaring a search space, running a study or
/// talking to its storage.
///
/// Each variant names the parameter, study, trial or setting at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HpoError {
    /// [`Study::optimize_until`](crate::Study::optimize_until) stopped because the objective
    /// failed on every one of the last `count` trials: a broken objective (a missing data
    /// file, a bad base config) rather than a bad configuration.
    #[error(
        "the objective failed on {count} trials in a row, the last with: {last} \
         (the study stops rather than fail every trial; `max_failures_in_a_row` sets the limit)"
    )]
    FailingObjective {
        /// Failures in a row when the study stopped.
        count: usize,
        /// The last failure's message.
        last: String,
    },
    /// A search space declares no parameter at all.
    #[error("the search space is empty: declare at least one parameter")]
    EmptySpace,
    /// A numeric range has `low > high`, or a bound is not finite.
    #[error("parameter `{param}`: low {low} must not exceed high {high} (both finite)")]
    InvalidRange {
        /// The parameter.
        param: String,
        /// The lower bound.
        low: f64,
        /// The upper bound.
        high: f64,
    },
    /// A log-scaled range contains zero or negative numbers.
    #[error("parameter `{param}`: a log range must be positive, got low {low}")]
    LogRangeNotPositive {
        /// The parameter.
        param: String,
        /// The offending lower bound.
        low: f64,
    },
    /// A step is zero, negative, not finite, or combined with a log scale.
    #[error("parameter `{param}`: step {step} is invalid ({why})")]
    InvalidStep {
        /// The parameter.
        param: String,
        /// The step as written.
        step: f64,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A categorical parameter has no choices, or lists one choice twice.
    #[error("parameter `{param}`: {why}")]
    InvalidChoices {
        /// The parameter.
        param: String,
        /// "no choices" or the duplicated choice.
        why: String,
    },
    /// Two parameters of one search space share a name.
    #[error("parameter `{param}` is declared twice")]
    DuplicateParam {
        /// The repeated name.
        param: String,
    },
    /// A conditional parameter's parent is missing, declared after it, or not categorical,
    /// or the condition names a value the parent cannot take.
    #[error("parameter `{param}`: condition on `{parent}` is invalid ({why})")]
    InvalidCondition {
        /// The conditional parameter.
        param: String,
        /// The parent it names.
        parent: String,
        /// What is wrong.
        why: String,
    },
    /// A field of a declared parameter is missing, not allowed for its type, or of the wrong type.
    #[error("parameter `{param}`: field `{field}` {why}")]
    InvalidField {
        /// The parameter.
        param: String,
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A TOML search space (or study file) could not be parsed.
    #[error("{source_name}: {message}")]
    Toml {
        /// The file, or `<string>` for in-memory text.
        source_name: String,
        /// What the TOML parser reported (line and column included).
        message: String,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A study name is reused with a different search space or direction.
    #[error("study `{study}` already exists with a different {what}")]
    StudyConflict {
        /// The study name.
        study: String,
        /// "search space" or "direction".
        what: &'static str,
    },
    /// A study id or name that the storage does not know.
    #[error("unknown study `{study}`")]
    UnknownStudy {
        /// The study id or name.
        study: String,
    },
    /// A trial id that the storage does not know.
    #[error("unknown trial id {id}")]
    UnknownTrial {
        /// The trial id.
        id: u64,
    },
    /// A trial was changed after it finished (for example, told twice, or failed as stale
    /// while its worker was still running).
    #[error("trial {number} is {state}, not running: it cannot be changed")]
    TrialNotRunning {
        /// The trial's number in its study.
        number: u64,
        /// Its state.
        state: &'static str,
    },
    /// One trial suggested the same parameter name with two different distributions.
    #[error("trial {number}: parameter `{param}` was already suggested with a different distribution")]
    ParamRedefined {
        /// The trial's number.
        number: u64,
        /// The parameter.
        param: String,
    },
    /// A suggested value is not a value of the parameter's distribution.
    #[error("parameter `{param}`: value {value} is outside its distribution")]
    ValueOutOfRange {
        /// The parameter.
        param: String,
        /// The value, as written.
        value: String,
    },
    /// The grid sampler was asked for a space it cannot enumerate.
    #[error("grid search: parameter `{param}` is continuous; give it a step or set a grid resolution")]
    GridInfinite {
        /// The continuous parameter.
        param: String,
    },
    /// The grid has more points than the study may run.
    #[error("grid search: the grid has {size} points but the budget is {budget} trials")]
    GridTooLarge {
        /// Points in the grid.
        size: u128,
        /// Trials allowed.
        budget: usize,
    },
    /// A sampler or method needs a declared search space (grid search does).
    #[error("{what} needs a declared search space")]
    SpaceRequired {
        /// The sampler or method.
        what: &'static str,
    },
    /// The Sobol sampler was asked for more dimensions than its direction numbers cover.
    #[error("sobol sampler: {dims} dimensions requested, at most {max} are supported")]
    TooManyDimensions {
        /// Dimensions requested.
        dims: usize,
        /// Dimensions supported.
        max: usize,
    },
    /// A sampler, pruner or schedule setting is out of its range.
    #[error("setting `{setting}` = {value} is invalid: expected {expected}")]
    InvalidSetting {
        /// The setting's name.
        setting: &'static str,
        /// Its value, as written.
        value: String,
        /// What it must be.
        expected: &'static str,
    },
    /// A worker thread of a parallel study panicked outside the objective.
    #[error("a worker thread panicked: {message}")]
    WorkerPanicked {
        /// The panic message.
        message: String,
    },
    /// A storage URL that cannot be opened or reached, or a database error.
    #[error("storage {url}: {message}")]
    Storage {
        /// The storage URL (passwords removed).
        url: String,
        /// What went wrong.
        message: String,
    },
}

/// `Result` with [`HpoError`].
pub type Result<T, E = HpoError> = std::result::Result<T, E>;
