//! Regularisation for Anneal.
//!
//! Today: early stopping on a monitored validation metric, with patience, a
//! minimum improvement and restoring the best weights. The decision logic is plain
//! code over `f64`; the training loop owns the weights and asks it what to do.
//!
//! ```
//! use anneal_regularize::{EarlyStopping, EarlyStoppingConfig, Goal, Verdict};
//!
//! let config = EarlyStoppingConfig { monitor: "val_loss".into(), goal: Goal::Minimize, patience: 2, min_delta: 0.0, restore_best: true };
//! let mut stop = EarlyStopping::new(config)?;
//! assert_eq!(stop.update(1, 0.9), Verdict::Improved);
//! assert_eq!(stop.update(2, 0.8), Verdict::Improved);
//! assert_eq!(stop.update(3, 0.85), Verdict::Wait { epochs_without_improvement: 1 });
//! assert_eq!(stop.update(4, 0.81), Verdict::Stop);
//! assert_eq!(stop.best(), Some((2, 0.8)));
//! # Ok::<(), anneal_regularize::RegularizeError>(())
//! ```
//!
//! Later: L1/L2 penalties, dropout schedules and data augmentation.

use serde::{Deserialize, Serialize};

/// The error type of `anneal-regularize`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegularizeError {
    /// `min_delta` is negative or not finite.
    #[error("early stopping min_delta must be a finite number >= 0, got {0}")]
    MinDelta(f64),
    /// The monitored metric name is empty.
    #[error("early stopping needs a metric to monitor")]
    NoMonitor,
}

/// Whether the monitored metric should go down (a loss) or up (an accuracy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    /// Lower is better.
    Minimize,
    /// Higher is better.
    Maximize,
}

/// Early-stopping hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyStoppingConfig {
    /// Name of the validation metric to watch (e.g. `val_loss`, `val_accuracy`).
    pub monitor: String,
    /// Whether the metric should fall or rise.
    pub goal: Goal,
    /// Stop after this many consecutive epochs without improvement (as Keras and
    /// PyTorch Lightning count it; 0 behaves as 1).
    pub patience: usize,
    /// Smallest change that counts as an improvement.
    #[serde(default)]
    pub min_delta: f64,
    /// Whether training should end with the weights of the best epoch.
    #[serde(default = "yes")]
    pub restore_best: bool,
}

fn yes() -> bool {
    true
}

/// What the training loop should do after an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A new best value: keep these weights.
    Improved,
    /// No improvement yet, within patience.
    Wait {
        /// Consecutive epochs since the last improvement.
        epochs_without_improvement: usize,
    },
    /// Patience ran out: stop training.
    Stop,
}

/// Early-stopping state: feed it one value per epoch.
#[derive(Debug, Clone)]
pub struct EarlyStopping {
    config: EarlyStoppingConfig,
    best: Option<(usize, f64)>,
    waited: usize,
}

impl EarlyStoppingConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), RegularizeError> {
        if self.monitor.trim().is_empty() {
            return Err(RegularizeError::NoMonitor);
        }
        if !(self.min_delta >= 0.0 && self.min_delta.is_finite()) {
            return Err(RegularizeError::MinDelta(self.min_delta));
        }
        Ok(())
    }
}

impl EarlyStopping {
    /// Validated early stopping from its config.
    pub fn new(config: EarlyStoppingConfig) -> Result<Self, RegularizeError> {
        config.validate()?;
        Ok(Self { config, best: None, waited: 0 })
    }

    /// The settings.
    pub fn config(&self) -> &EarlyStoppingConfig {
        &self.config
    }

    /// Records the monitored value of `epoch`. A NaN never counts as an improvement.
    pub fn update(&mut self, epoch: usize, value: f64) -> Verdict {
        let improved = match self.best {
            None => !value.is_nan(),
            Some((_, best)) => match self.config.goal {
                Goal::Minimize => value < best - self.config.min_delta,
                Goal::Maximize => value > best + self.config.min_delta,
            },
        };
        if improved {
            self.best = Some((epoch, value));
            self.waited = 0;
            return Verdict::Improved;
        }
        self.waited += 1;
        if self.waited >= self.config.patience.max(1) {
            Verdict::Stop
        } else {
            Verdict::Wait { epochs_without_improvement: self.waited }
        }
    }

    /// The best epoch and value seen so far.
    pub fn best(&self) -> Option<(usize, f64)> {
        self.best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stopper(goal: Goal, patience: usize, min_delta: f64) -> EarlyStopping {
        EarlyStopping::new(EarlyStoppingConfig { monitor: "m".into(), goal, patience, min_delta, restore_best: true })
            .unwrap()
    }

    #[test]
    fn min_delta_ignores_tiny_gains() {
        let mut s = stopper(Goal::Maximize, 0, 0.01);
        assert_eq!(s.update(1, 0.5), Verdict::Improved);
        assert_eq!(s.update(2, 0.505), Verdict::Stop);
        assert_eq!(s.best(), Some((1, 0.5)));
    }

    #[test]
    fn rejects_bad_settings() {
        let c = EarlyStoppingConfig {
            monitor: "".into(),
            goal: Goal::Minimize,
            patience: 1,
            min_delta: 0.0,
            restore_best: true,
        };
        assert!(matches!(EarlyStopping::new(c), Err(RegularizeError::NoMonitor)));
    }

    proptest! {
        /// The recorded best is the true optimum of the values seen, and stopping
        /// happens exactly `patience` epochs after it.
        #[test]
        fn best_is_the_minimum(values in proptest::collection::vec(0.0f64..10.0, 1..40), patience in 0usize..5) {
            let mut s = stopper(Goal::Minimize, patience, 0.0);
            for (e, &v) in values.iter().enumerate() {
                if s.update(e, v) == Verdict::Stop {
                    let (best_epoch, _) = s.best().unwrap();
                    prop_assert_eq!(e, best_epoch + patience.max(1));
                    break;
                }
            }
            let (best_epoch, best) = s.best().unwrap();
            let seen = &values[..values.len().min(best_epoch + patience.max(1) + 1)];
            prop_assert_eq!(best, seen.iter().copied().fold(f64::INFINITY, f64::min));
        }
    }
}
