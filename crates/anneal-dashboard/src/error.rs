//! [`DashboardError`]: what can go wrong starting or answering the dashboard.

use std::path::PathBuf;

/// Errors of the dashboard.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// The runs folder does not exist or is not a folder.
    #[error("the runs folder {} does not exist or is not a folder", path.display())]
    NoRunsFolder {
        /// The folder given.
        path: PathBuf,
    },
    /// A file or folder could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A study storage could not be opened or read (its URL without password).
    #[error("study storage {url}: {message}")]
    Storage {
        /// The storage URL, password removed.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The address could not be bound (in use, not allowed).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A request named something that is not there (or not allowed): a run, a
    /// file outside the runs folder, a study.
    #[error("not found: {what}")]
    NotFound {
        /// What was asked for.
        what: String,
    },
}

/// Results of this crate.
pub type Result<T, E = DashboardError> = std::result::Result<T, E>;
