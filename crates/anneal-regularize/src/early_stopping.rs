//! Early stopping: plain decision logic over one monitored value per epoch.

use serde::{Deserialize, Serialize};

use crate::error::RegularizeError;

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
    /// Name of the metric to watch (e.g. `val_loss`, `val_accuracy`, `train_loss`).
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
    /// Epochs at the start that are not monitored at all (Keras' `start_from_epoch`):
    /// the run never stops during them and none of them can be the best epoch.
    #[serde(default)]
    pub warmup_epochs: usize,
}

fn yes() -> bool {
    true
}

/// What the training loop should do after an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Still in the warm-up: the value was not looked at.
    WarmingUp,
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

impl EarlyStoppingConfig {
    /// Early stopping on `monitor` with patience, no minimum improvement, best
    /// weights restored and no warm-up.
    pub fn new(monitor: impl Into<String>, goal: Goal, patience: usize) -> Self {
        Self { monitor: monitor.into(), goal, patience, min_delta: 0.0, restore_best: true, warmup_epochs: 0 }
    }

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

    /// Checks the settings against a run of `epochs` epochs: the warm-up must
    /// leave at least one monitored epoch.
    pub fn validate_for(&self, epochs: usize) -> Result<(), RegularizeError> {
        self.validate()?;
        if self.warmup_epochs >= epochs {
            return Err(RegularizeError::WarmupTooLong { warmup: self.warmup_epochs, epochs });
        }
        Ok(())
    }
}

/// Early-stopping state: feed it one value per epoch.
///
/// ```
/// use anneal_regularize::{EarlyStopping, EarlyStoppingConfig, Goal, Verdict};
///
/// let mut config = EarlyStoppingConfig::new("val_loss", Goal::Minimize, 2);
/// config.warmup_epochs = 1;
/// let mut stop = EarlyStopping::new(config)?;
/// assert_eq!(stop.update(1, 0.1), Verdict::WarmingUp); // not monitored
/// assert_eq!(stop.update(2, 0.9), Verdict::Improved);
/// assert_eq!(stop.update(3, 0.95), Verdict::Wait { epochs_without_improvement: 1 });
/// assert_eq!(stop.update(4, 0.91), Verdict::Stop);
/// assert_eq!(stop.best(), Some((2, 0.9)));
/// # Ok::<(), anneal_regularize::RegularizeError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct EarlyStopping {
    config: EarlyStoppingConfig,
    best: Option<(usize, f64)>,
    waited: usize,
}

/// The state of an [`EarlyStopping`] between epochs, for checkpoints: the best
/// epoch and value so far and the epochs waited since.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EarlyStoppingState {
    /// Best epoch so far and its value's bits (`f64::to_bits`, so a checkpoint
    /// restores it exactly).
    pub best: Option<(usize, u64)>,
    /// Consecutive epochs without improvement.
    pub waited: usize,
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

    /// Records the monitored value of `epoch` (1-based). A NaN never counts as
    /// an improvement; epochs up to `warmup_epochs` are not looked at.
    pub fn update(&mut self, epoch: usize, value: f64) -> Verdict {
        if self.config.warmup_epochs > 0 && epoch <= self.config.warmup_epochs {
            return Verdict::WarmingUp;
        }
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

    /// The state to save in a checkpoint.
    pub fn state(&self) -> EarlyStoppingState {
        EarlyStoppingState { best: self.best.map(|(e, v)| (e, v.to_bits())), waited: self.waited }
    }

    /// Restores a state saved by [`state`](EarlyStopping::state).
    pub fn restore(&mut self, state: EarlyStoppingState) {
        self.best = state.best.map(|(e, bits)| (e, f64::from_bits(bits)));
        self.waited = state.waited;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stopper(goal: Goal, patience: usize, min_delta: f64) -> EarlyStopping {
        let mut c = EarlyStoppingConfig::new("m", goal, patience);
        c.min_delta = min_delta;
        EarlyStopping::new(c).unwrap()
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
        let c = EarlyStoppingConfig::new("", Goal::Minimize, 1);
        assert!(matches!(EarlyStopping::new(c), Err(RegularizeError::NoMonitor)));
        let mut c = EarlyStoppingConfig::new("val_loss", Goal::Minimize, 1);
        c.warmup_epochs = 10;
        assert_eq!(c.validate_for(10), Err(RegularizeError::WarmupTooLong { warmup: 10, epochs: 10 }));
        assert!(c.validate_for(11).is_ok());
    }

    #[test]
    fn warm_up_epochs_are_never_best_and_never_stop() {
        let mut c = EarlyStoppingConfig::new("m", Goal::Minimize, 1);
        c.warmup_epochs = 3;
        let mut s = EarlyStopping::new(c).unwrap();
        for (e, v) in [(1, 0.1), (2, 5.0), (3, 9.0)] {
            assert_eq!(s.update(e, v), Verdict::WarmingUp);
        }
        assert_eq!(s.best(), None);
        assert_eq!(s.update(4, 1.0), Verdict::Improved);
        assert_eq!(s.update(5, 2.0), Verdict::Stop);
        assert_eq!(s.best(), Some((4, 1.0)));
    }

    #[test]
    fn state_round_trips_exactly() {
        let mut s = stopper(Goal::Minimize, 3, 0.0);
        s.update(1, 0.1 + 0.2);
        s.update(2, 0.5);
        let mut t = stopper(Goal::Minimize, 3, 0.0);
        let json = serde_json::to_string(&s.state()).unwrap();
        t.restore(serde_json::from_str(&json).unwrap());
        assert_eq!(s, t);
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
