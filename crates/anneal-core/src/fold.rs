//! One cross-validation fold.

use serde::{Deserialize, Serialize};

/// One fold: the rows to fit on and the rows to score on (0-based row indices,
/// each sorted ascending when a splitter made them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fold {
    /// Rows to fit on.
    pub train: Vec<usize>,
    /// Rows to score on.
    pub test: Vec<usize>,
}
