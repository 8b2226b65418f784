//! How a run ended, in `status.json` beside its other files: what a dashboard
//! shows as finished or diverged without knowing the run's kind. A run that is
//! still going holds its folder's [`lock`](crate::lock); one with neither a lock
//! nor a status stopped without saying why (killed, interrupted).
//!
//! ```
//! use anneal_core::status::{RunState, RunStatus};
//!
//! let dir = tempfile::tempdir()?;
//! assert_eq!(RunStatus::read(dir.path()), None);
//! RunStatus::new(RunState::Diverged, "the loss is NaN at epoch 3").write(dir.path())?;
//! assert_eq!(RunStatus::read(dir.path()).map(|s| s.state), Some(RunState::Diverged));
//! RunStatus::clear(dir.path())?;
//! assert_eq!(RunStatus::read(dir.path()), None);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};

/// The file's name in a run folder.
pub const STATUS_FILE: &str = "status.json";

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// It ran to its end and wrote its results.
    Finished,
    /// Its divergence guard stopped it (a NaN or exploding loss).
    Diverged,
    /// It ended with another error.
    Failed,
}

impl RunState {
    /// Lower-case name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Finished => "finished",
            RunState::Diverged => "diverged",
            RunState::Failed => "failed",
        }
    }
}

/// The contents of `status.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStatus {
    /// How it ended.
    pub state: RunState,
    /// What happened, for a run that did not finish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl RunStatus {
    /// A status with a message (an empty one is left out).
    pub fn new(state: RunState, message: impl Into<String>) -> Self {
        let message = message.into();
        Self { state, message: (!message.is_empty()).then_some(message) }
    }

    /// Writes `status.json` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(STATUS_FILE);
        let text = serde_json::to_string_pretty(self).expect("a status serialises");
        std::fs::write(&path, text).map_err(|source| CoreError::Io { path, source })
    }

    /// The status in `dir`, if it has a readable one.
    pub fn read(dir: &Path) -> Option<Self> {
        serde_json::from_str(&std::fs::read_to_string(dir.join(STATUS_FILE)).ok()?).ok()
    }

    /// Removes `status.json` from `dir` (a resumed run is running again); no file is fine.
    pub fn clear(dir: &Path) -> Result<()> {
        let path = dir.join(STATUS_FILE);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(CoreError::Io { path, source: e }),
            _ => Ok(()),
        }
    }
}
