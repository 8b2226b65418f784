//! The crate's error type.

use anneal_train::TrainError;

/// What can go wrong in distributed training.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    /// A peer left the group (finished with an error, panicked or was killed)
    /// while this replica waited for it in a collective operation.
    #[error("replica {rank} left the group during {operation}: the collective cannot complete")]
    PeerLeft {
        /// The replica that left.
        rank: usize,
        /// The operation that was waiting (`all-reduce`, `broadcast`, `barrier`).
        operation: &'static str,
    },
    /// A collective operation waited longer than the group's timeout for its peers.
    #[error(
        "{operation} waited {seconds:.0} s for the other replicas (a replica hangs or is far slower); raise the timeout if this is expected"
    )]
    Timeout {
        /// The operation.
        operation: &'static str,
        /// How long it waited.
        seconds: f64,
    },
    /// Replicas passed buffers of different lengths to one operation (different models).
    #[error(
        "{operation}: replica {rank} passed {got} values where another passed {expected}; every replica must train the same model"
    )]
    Mismatch {
        /// The operation.
        operation: &'static str,
        /// The replica whose buffer differs.
        rank: usize,
        /// The length the first replica to arrive passed.
        expected: usize,
        /// This replica's length.
        got: usize,
    },
    /// A setting is out of range.
    #[error("invalid distributed setting: {0}")]
    InvalidSetting(String),
    /// A replica's training failed.
    #[error("replica {rank}: {source}")]
    Replica {
        /// The replica.
        rank: usize,
        /// Its error.
        #[source]
        source: TrainError,
    },
    /// A replica's thread panicked.
    #[error("replica {rank} panicked: {message}")]
    Panicked {
        /// The replica.
        rank: usize,
        /// The panic message.
        message: String,
    },
}

/// The crate's result type.
pub type Result<T, E = DistError> = std::result::Result<T, E>;
