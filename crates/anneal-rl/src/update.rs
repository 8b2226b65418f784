//! What PPO and DQN share about their updates: the checks of the network,
//! optimiser, clipping and schedule settings, the training core's step with
//! clipping, and the schedules stepped per environment step.

use anneal_models::Model;
use anneal_optim::{GradientClippingConfig, Optimizer, OptimizerConfig, ScheduleConfig, Scheduler};
use anneal_train::Stepper;

use crate::error::{Result, setting};

/// The settings checks every agent shares: hidden layers of at least one unit,
/// a positive finite clipping norm, a valid optimiser, schedules that need no
/// metric and a schedule horizon of at least one step.
pub(crate) fn check_update(
    hidden: &[usize],
    max_grad_norm: Option<f64>,
    optimizer: &OptimizerConfig,
    schedules: &[Option<&ScheduleConfig>],
    schedule_steps: Option<usize>,
) -> Result<()> {
    if let Some(m) = max_grad_norm
        && !(m > 0.0 && m.is_finite())
    {
        return Err(setting("max_grad_norm", m, "positive"));
    }
    if hidden.contains(&0) {
        return Err(setting("hidden", format!("{hidden:?}"), "layers of at least one unit"));
    }
    optimizer.validate()?;
    for s in schedules.iter().flatten() {
        s.validate()?;
        if s.is_metric_driven() {
            return Err(setting("schedule", "reduce_on_plateau", "a schedule that needs no metric"));
        }
    }
    if schedule_steps == Some(0) {
        return Err(setting("schedule_steps", 0, "at least 1"));
    }
    Ok(())
}

/// The training core's step with global-norm clipping at `max_norm`.
pub(crate) fn stepper<M: Model>(max_norm: Option<f64>) -> Result<Stepper<M>> {
    let clipping = max_norm.map(|max_norm| GradientClippingConfig::Norm { max_norm }.init()).transpose()?;
    Ok(Stepper::plain().with_clipping(clipping))
}

/// The learning-rate schedule, and PPO's clip-range schedule, both stepped
/// once per environment step.
pub(crate) struct Schedules {
    lr: Option<Scheduler>,
    clip: Option<Scheduler>,
}

impl Schedules {
    /// The configured schedules, each over `horizon` environment steps.
    pub(crate) fn new(
        lr: Option<&ScheduleConfig>,
        optimizer: &OptimizerConfig,
        clip: Option<(&ScheduleConfig, f64)>,
        horizon: usize,
    ) -> Result<Self> {
        Ok(Self {
            lr: lr.map(|s| s.build(optimizer.learning_rate(), horizon)).transpose()?,
            clip: clip.map(|(s, base)| s.build(base, horizon)).transpose()?,
        })
    }

    /// Advances both by `steps` environment steps.
    pub(crate) fn advance(&mut self, steps: usize) {
        for s in [self.lr.as_mut(), self.clip.as_mut()].into_iter().flatten() {
            for _ in 0..steps {
                s.step();
            }
        }
    }

    /// Gives the optimiser the scheduled rate (when there is a schedule).
    pub(crate) fn apply(&self, optimizer: &mut Optimizer) {
        if let Some(s) = &self.lr {
            optimizer.set_learning_rate(s.lr().max(0.0));
        }
    }

    /// The scheduled clip range, or `configured` without a schedule.
    pub(crate) fn clip_range(&self, configured: f64) -> f64 {
        self.clip.as_ref().map_or(configured, Scheduler::lr)
    }
}
