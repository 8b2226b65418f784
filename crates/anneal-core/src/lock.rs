//! [`FolderLock`]: one process at a time in a folder (a run folder, a
//! checkpoint). The lock is the operating system's (`flock` on Unix, `LockFileEx`
//! on Windows) on a file in the folder, so it is released when the process
//! exits, crashes or is killed; the file also records the holder's process id,
//! which a refused process names.
//!
//! ```
//! use anneal_core::lock::FolderLock;
//!
//! let dir = tempfile::tempdir()?;
//! let held = FolderLock::acquire(dir.path())?;
//! let err = FolderLock::acquire(dir.path()).unwrap_err();
//! assert!(err.to_string().contains(&format!("process {}", std::process::id())));
//! assert!(FolderLock::is_held(dir.path()));
//! drop(held);
//! assert!(!FolderLock::is_held(dir.path()));
//! FolderLock::acquire(dir.path())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{CoreError, Result};

/// The lock file's name (a dot-file, which manifests skip; [`is_empty_folder`] ignores it).
pub const LOCK_FILE: &str = ".anneal.lock";

/// An exclusive lock on a folder, held until dropped.
#[derive(Debug)]
pub struct FolderLock {
    _file: File,
    dir: PathBuf,
}

impl FolderLock {
    /// Creates `dir` if needed and locks it, or fails at once with
    /// [`CoreError::InUse`] naming the process that holds it.
    pub fn acquire(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|source| CoreError::Io { path: dir.to_path_buf(), source })?;
        let path = dir.join(LOCK_FILE);
        let io = |source| CoreError::Io { path: path.clone(), source };
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
        // A reader probing with `is_held` takes a shared lock for a moment: try again
        // for up to 100 ms before calling the folder in use.
        let mut tries = 0;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if tries < 10 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(TryLockError::WouldBlock) => {
                    let pid = std::fs::read_to_string(&path).ok().and_then(|s| s.trim().parse().ok());
                    return Err(CoreError::InUse { path: dir.to_path_buf(), pid });
                }
                Err(TryLockError::Error(source)) => return Err(io(source)),
            }
        }
        file.set_len(0).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(Self { _file: file, dir: dir.to_path_buf() })
    }

    /// The locked folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether a process holds the lock of `dir` now (a run in it is going on).
    /// Read-only: it opens the lock file without creating it and takes a shared
    /// lock for a moment, which [`acquire`](Self::acquire) waits out.
    pub fn is_held(dir: &Path) -> bool {
        let Ok(file) = File::open(dir.join(LOCK_FILE)) else { return false };
        matches!(file.try_lock_shared(), Err(TryLockError::WouldBlock))
    }
}

/// Whether `dir` holds nothing but the lock file; a folder that does not exist
/// counts as empty.
pub fn is_empty_folder(dir: &Path) -> Result<bool> {
    if !dir.exists() {
        return Ok(true);
    }
    let entries = std::fs::read_dir(dir).map_err(|source| CoreError::Io { path: dir.to_path_buf(), source })?;
    for entry in entries {
        let entry = entry.map_err(|source| CoreError::Io { path: dir.to_path_buf(), source })?;
        if entry.file_name() != LOCK_FILE {
            return Ok(false);
        }
    }
    Ok(true)
}
