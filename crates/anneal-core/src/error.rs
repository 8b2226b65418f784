//! [`CoreError`]: what can go wrong in the shared pieces (file digests,
//! manifests, folder locks).

use std::path::PathBuf;

/// The error type of `anneal-core`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// A file or folder could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A manifest file is not valid.
    #[error("{path}: not a valid manifest: {message}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A file differs from the digest its folder's manifest records.
    #[error("{path} failed its integrity check: {message}")]
    Integrity {
        /// The file.
        path: PathBuf,
        /// How it differs.
        message: String,
    },
    /// Another process holds the folder's lock.
    #[error("{} is in use by {}; wait for it to finish or choose another folder", path.display(), match pid {
        Some(pid) => format!("process {pid}"),
        None => "another process".to_string(),
    })]
    InUse {
        /// The folder.
        path: PathBuf,
        /// The holder's process id, when it could be read.
        pid: Option<u32>,
    },
}

/// Result alias of this crate.
pub type Result<T, E = CoreError> = std::result::Result<T, E>;
