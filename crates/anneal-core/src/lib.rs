//! What every Anneal crate shares, without a tensor library: the seeded
//! generator ([`SeededRng`], SplitMix64 with *named* streams, so independent
//! random choices of one seed never share draws) and the cross-validation
//! [`Fold`]. `anneal-data`, `anneal-models`, `anneal-evaluate` and `anneal-hpo`
//! all use these, so there is one generator and one fold type in the workspace.
//! Beside them, the file [`integrity`] checks (SHA-256 manifests) and the
//! [`lock`] that keeps two processes out of one folder, used by run folders and
//! checkpoints, and the [`status`] a run folder ends with.
//!
//! ```
//! use anneal_core::{SeededRng, Stream};
//!
//! // The split and the initial weights of seed 7 draw from different streams.
//! let mut split = SeededRng::stream(7, Stream::Split);
//! let mut init = SeededRng::stream(7, Stream::Init);
//! assert_ne!(split.next_u64(), init.next_u64());
//! // The same seed and stream give the same draws, everywhere.
//! assert_eq!(SeededRng::stream(7, Stream::Shuffle(3)).next_u64(), SeededRng::stream(7, Stream::Shuffle(3)).next_u64());
//! ```

pub mod error;
pub mod fold;
pub mod integrity;
pub mod lock;
pub mod markdown;
pub mod rng;
pub mod status;

pub use error::CoreError;

pub use fold::Fold;
pub use rng::{SeededRng, Stream, hash_str};
