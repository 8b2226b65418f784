//! Regularisation for Anneal: weight penalties and early stopping, as settings
//! and plain decision logic over `f64`, and data augmentation.
//!
//! A model that fits its training rows too well generalises worse. Two remedies
//! live here; the training loop (`anneal-train`) owns the weights and applies them:
//!
//! - [`PenaltyConfig`]: L1 and L2 penalties on the weights, per group of layers,
//!   biases excluded by default. L1 is applied as a proximal (soft-thresholding)
//!   step so that weights reach exactly zero (Tibshirani, *Regression Shrinkage and
//!   Selection via the Lasso*, 1996; the proximal-gradient method: Beck & Teboulle,
//!   *A Fast Iterative Shrinkage-Thresholding Algorithm*, 2009).
//! - [`EarlyStopping`]: stop when a monitored metric has not improved for
//!   `patience` epochs, after an optional warm-up, and restore the best epoch
//!   (Prechelt, *Early Stopping — But When?*, 1998).
//!
//! - [`augment`]: data augmentation, a seeded pipeline of image transforms
//!   applied to training batches only (the tensor part behind the `tensors`
//!   feature, so penalties and early stopping stay tensor-free).
//!
//! Decoupled weight decay (Loshchilov & Hutter 2019) is an optimiser, `adamw`, in
//! `anneal-optim`; dropout is a layer, in `anneal-models`.
//!
//! ```
//! use anneal_regularize::{EarlyStopping, EarlyStoppingConfig, Goal, Verdict};
//!
//! let config = EarlyStoppingConfig::new("val_loss", Goal::Minimize, 2);
//! let mut stop = EarlyStopping::new(config)?;
//! assert_eq!(stop.update(1, 0.9), Verdict::Improved);
//! assert_eq!(stop.update(2, 0.8), Verdict::Improved);
//! assert_eq!(stop.update(3, 0.85), Verdict::Wait { epochs_without_improvement: 1 });
//! assert_eq!(stop.update(4, 0.81), Verdict::Stop);
//! assert_eq!(stop.best(), Some((2, 0.8)));
//! # Ok::<(), anneal_regularize::RegularizeError>(())
//! ```

pub mod augment;
pub mod early_stopping;
pub mod error;
pub mod penalty;

pub use early_stopping::{EarlyStopping, EarlyStoppingConfig, EarlyStoppingState, Goal, Verdict};
pub use error::RegularizeError;
pub use penalty::{L1Method, PenaltyConfig, PenaltyGroup, Strength, penalty, penalty_gradient, soft_threshold};

/// One `use` for the common types.
pub mod prelude {
    pub use crate::{EarlyStopping, EarlyStoppingConfig, Goal, L1Method, PenaltyConfig, RegularizeError, Verdict};
}
