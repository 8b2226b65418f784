//! The error type of the `anneal` facade: the pipeline's own errors and those of the
//! crates it drives.

use std::path::PathBuf;

/// Everything that can go wrong in `anneal train` and `anneal predict`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The run config is not valid TOML for Anneal (unknown key, wrong type).
    #[error("config {path}: {message}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong, with line and column.
        message: String,
    },
    /// The target column named in the config does not exist in the data.
    #[error("target column `{column}` does not exist in {path} (columns: {available})")]
    UnknownTarget {
        /// The target column.
        column: String,
        /// The data file.
        path: PathBuf,
        /// The columns that exist.
        available: String,
    },
    /// A setting of the run config that cannot work with the others or with the
    /// data (a regression loss on a classification, stratifying a continuous target).
    #[error("{0}")]
    Setting(String),
    /// The target is not what the task needs (text for a regression, several
    /// columns for a classification).
    #[error("target column `{column}`: {message}")]
    Target {
        /// The target column.
        column: String,
        /// What is wrong, and what to do.
        message: String,
    },
    /// A folder given to `--run` is not a finished run.
    #[error("{path} is not an anneal run folder: {missing} is missing")]
    NotARun {
        /// The folder.
        path: PathBuf,
        /// The file that should be there.
        missing: &'static str,
    },
    /// The output folder already holds files; runs are never overwritten.
    #[error("output folder {path} already exists and is not empty; choose another --out")]
    OutExists {
        /// The folder.
        path: PathBuf,
    },
    /// A saved model file could not be read or does not match its config.
    #[error("model {path}: {message}")]
    ModelFile {
        /// The weights file.
        path: PathBuf,
        /// What burn reported.
        message: String,
    },
    /// A cross-validated row has no value in the group column of group k-fold.
    #[error("group column `{column}` is missing a value in data row {row}")]
    MissingGroup {
        /// The group column.
        column: String,
        /// The data row (0-based, in the file).
        row: usize,
    },
    /// Group k-fold was asked for more folds than there are groups.
    #[error(
        "group column `{column}` has {groups} distinct values in the cross-validated rows, fewer than the {folds} folds asked for"
    )]
    TooFewGroups {
        /// The group column.
        column: String,
        /// Distinct groups.
        groups: usize,
        /// Folds asked for.
        folds: usize,
    },
    /// A file failed its integrity check, or a folder is in use by another process.
    #[error(transparent)]
    Core(#[from] anneal_core::CoreError),
    /// A data file is not byte for byte the one the run was trained on, where
    /// it must be: `anneal eval --part` (the split holds row positions) and
    /// `anneal train --resume` (the split and preprocessing were fitted on it).
    #[error("{0}")]
    DataChanged(Box<DataChange>),
    /// An output path would overwrite an input of the same command.
    #[error("{path} is {what}; write the output somewhere else")]
    OverwritesInput {
        /// The output path.
        path: PathBuf,
        /// What it would overwrite (`the input file`).
        what: String,
    },
    /// The model produced a NaN or infinite output for a row.
    #[error(
        "the model's output for data row {row} is not finite ({value}); its weights or that row's features are not usable"
    )]
    NonFinitePrediction {
        /// The data row (0-based).
        row: usize,
        /// The output value.
        value: f32,
    },
    /// Data loading or preparation failed.
    #[error(transparent)]
    Data(#[from] anneal_data::DataError),
    /// Training failed.
    #[error(transparent)]
    Train(#[from] anneal_train::TrainError),
    /// Data-parallel training failed (a replica's error, a peer that left or hung).
    #[error(transparent)]
    Distributed(#[from] anneal_distributed::DistError),
    /// A metric could not be computed.
    #[error(transparent)]
    Eval(#[from] anneal_evaluate::EvalError),
    /// Reinforcement learning failed (a bad environment or agent setting, a diverged run).
    #[error(transparent)]
    Rl(#[from] anneal_rl::RlError),
    /// The dashboard could not start (a missing runs folder, a storage, a busy port).
    #[error(transparent)]
    Dashboard(#[from] anneal_dashboard::DashboardError),
    /// A hyperparameter search failed (bad space, unreachable storage, conflicting study).
    #[error("tune: {0}")]
    Tune(String),
}

impl From<anneal_models::ModelError> for Error {
    fn from(e: anneal_models::ModelError) -> Self {
        Error::Train(e.into())
    }
}

impl From<anneal_optim::OptimError> for Error {
    fn from(e: anneal_optim::OptimError) -> Self {
        Error::Train(e.into())
    }
}

/// The details of [`Error::DataChanged`].
#[derive(Debug)]
pub struct DataChange {
    /// The file given.
    pub path: PathBuf,
    /// Its size and hash.
    pub actual: anneal_core::integrity::FileDigest,
    /// The data file the run recorded.
    pub recorded: PathBuf,
    /// The recorded size and hash.
    pub expected: anneal_core::integrity::FileDigest,
    /// What was refused (`resumed`, `scored by --part`).
    pub during: &'static str,
}

impl std::fmt::Display for DataChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is not the file the run was trained on ({}; the run recorded {}, {}), so it cannot be {}: the \
             run's split holds row positions of that file{}",
            self.path.display(),
            self.actual,
            self.recorded.display(),
            self.expected,
            self.during,
            if self.during == "resumed" {
                "; restore the file or start a new run"
            } else {
                " (leave out --part to score every row of another file)"
            }
        )
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}
