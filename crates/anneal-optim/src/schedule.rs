//! Learning-rate schedules: serde configs ([`ScheduleConfig`]) built into a
//! small state machine over `f64` ([`Scheduler`]) that the loop steps and reads.
//!
//! Each schedule reproduces the learning rates of its PyTorch counterpart in
//! `torch.optim.lr_scheduler` (checked against PyTorch 2.15 over 100 steps in
//! `tests/it/golden.rs`). They are plain code over `f64` rather than
//! burn-optim's `LrScheduler`s: burn has no multi-step, one-cycle or
//! reduce-on-plateau schedule, its cosine and linear schedules refuse initial
//! rates above 1, its builders are private to burn (so a warm-up cannot wrap
//! them), and its `step` returns the next rate without a way to read the
//! current one.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use crate::config::{non_negative, positive};
use crate::error::OptimError;

/// What one [`Scheduler::step`] stands for; a setting for the training loop,
/// which steps the scheduler after every optimiser update or after every epoch.
///
/// Counts in a [`ScheduleConfig`] (`step_size`, `milestones`, `t_max`, warm-up
/// `steps`, and the run length given to [`ScheduleConfig::build`]) are in this
/// unit. A schedule with `reduce_on_plateau` in it is fed one validation metric
/// per epoch, so it is always stepped per epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleUnit {
    /// One step per epoch (PyTorch's usual `scheduler.step()` after each epoch).
    #[default]
    Epoch,
    /// One step per optimiser update (as `OneCycleLR` is usually driven).
    Iteration,
}

impl ScheduleUnit {
    /// Steps in a run of `epochs` epochs of `updates_per_epoch` optimiser updates each.
    pub fn total_steps(self, epochs: usize, updates_per_epoch: usize) -> usize {
        match self {
            Self::Epoch => epochs,
            Self::Iteration => epochs * updates_per_epoch,
        }
    }
}

/// A learning-rate schedule. Deserialises from a table whose `name` picks the
/// kind; unknown keys are errors. Defaults are PyTorch's.
///
/// `lr(t)` below is the rate after `t` calls to [`Scheduler::step`], `lr₀` the
/// optimiser's configured learning rate and `T` the run length in steps,
/// both given to [`build`](ScheduleConfig::build).
///
/// ```
/// use anneal_optim::ScheduleConfig;
///
/// // Five steps of linear warm-up, then cosine annealing over the rest of the run.
/// let config: ScheduleConfig = toml::from_str(r#"
///     name = "warmup"
///     steps = 5
///     start_factor = 0.1
///     then = { name = "cosine", eta_min = 0.0 }
/// "#)?;
/// let mut scheduler = config.build(0.1, 25)?;
/// assert!((scheduler.lr() - 0.01).abs() < 1e-12);
/// for _ in 0..5 { scheduler.step(); }
/// assert!((scheduler.lr() - 0.1).abs() < 1e-12);
/// assert!(config.build(0.1, 4).is_err()); // warm-up longer than the run
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScheduleConfig {
    /// `lr(t) = lr₀`.
    Constant {},
    /// `lr(t) = lr₀ · γ^⌊t / step_size⌋`: PyTorch's `StepLR`.
    Step {
        /// Steps between decays, at least 1.
        step_size: usize,
        /// Multiplicative decay γ, positive.
        #[serde(default = "default_gamma")]
        gamma: f64,
    },
    /// `lr(t) = lr₀ · γ^(number of milestones ≤ t)`: PyTorch's `MultiStepLR`.
    MultiStep {
        /// Steps at which the rate decays, positive and strictly increasing.
        milestones: Vec<usize>,
        /// Multiplicative decay γ, positive.
        #[serde(default = "default_gamma")]
        gamma: f64,
    },
    /// `lr(t) = lr₀ · γ^t`: PyTorch's `ExponentialLR`.
    Exponential {
        /// Multiplicative decay per step γ, positive.
        gamma: f64,
    },
    /// `lr(t) = η_min + (lr₀ − η_min)·(1 + cos(π·t / T_max)) / 2`: PyTorch's
    /// `CosineAnnealingLR` (without restarts; past `T_max` the rate follows the
    /// cosine back up, as PyTorch's does).
    Cosine {
        /// Half-period `T_max` in steps; default: the run length.
        #[serde(default)]
        t_max: Option<usize>,
        /// The lowest rate, non-negative.
        #[serde(default)]
        eta_min: f64,
    },
    /// `lr(t) = lr₀ · (1 − min(t, T)/T)^power`: PyTorch's `PolynomialLR`
    /// (computed in closed form), which with `power = 1` is the linear decay to
    /// zero that Stable-Baselines3's `lin_<lr>` schedules use. After `T` steps
    /// the rate stays at 0.
    Polynomial {
        /// Steps `T` to reach zero, at least 1; default: the run length.
        #[serde(default)]
        total_iters: Option<usize>,
        /// The exponent, positive (default 1: linear).
        #[serde(default = "default_power")]
        power: f64,
    },
    /// Linear warm-up from `start_factor·lr₀` towards `lr₀` over `steps` steps,
    /// then `then` (started from `lr₀`, over the `T − steps` steps left):
    /// PyTorch's `SequentialLR([LinearLR(start_factor, 1.0, steps), then], [steps])`.
    ///
    /// `lr(t) = lr₀·(start_factor + (1 − start_factor)·t / steps)` for `t < steps`.
    /// A warm-up longer than the run is an error. Metrics given to
    /// [`Scheduler::step_with_metric`] during the warm-up are ignored.
    Warmup {
        /// Warm-up length in steps, at least 1 and at most the run length.
        steps: usize,
        /// The first step's fraction of `lr₀`, in `(0, 1]` (PyTorch's `LinearLR` default, 1/3).
        #[serde(default = "default_start_factor")]
        start_factor: f64,
        /// The schedule after the warm-up (default: constant).
        #[serde(default = "default_then")]
        then: Box<ScheduleConfig>,
    },
    /// The 1cycle policy (Smith & Topin 2017, <https://arxiv.org/abs/1708.07120>):
    /// PyTorch's `OneCycleLR` with `anneal_strategy = "cos"`,
    /// `three_phase = false`, `max_lr = lr₀` and `total_steps = T`.
    ///
    /// The rate rises from `lr₀ / div_factor` to `lr₀` over the first
    /// `pct_start·T − 1` steps, then falls to `lr₀ / (div_factor·final_div_factor)`
    /// at step `T − 1`, both along half cosines. PyTorch's default
    /// `cycle_momentum = true` also cycles the momentum; this schedule does not
    /// (PyTorch with `cycle_momentum = false`).
    OneCycle {
        /// Fraction of the run spent rising, in `(0, 1)`.
        #[serde(default = "default_pct_start")]
        pct_start: f64,
        /// `lr₀` divided by the first rate, positive.
        #[serde(default = "default_div_factor")]
        div_factor: f64,
        /// The first rate divided by the last, positive.
        #[serde(default = "default_final_div_factor")]
        final_div_factor: f64,
    },
    /// Divide the rate by `1/factor` when a metric has stopped improving:
    /// PyTorch's `ReduceLROnPlateau`, fed one metric per epoch through
    /// [`Scheduler::step_with_metric`].
    ///
    /// After more than `patience` epochs without an improvement (in `rel`
    /// mode a value better than `best·(1 ∓ threshold)`, in `abs` mode better
    /// than `best ∓ threshold`), `lr ← max(lr·factor, min_lr)` (skipped when the
    /// change would be at most `eps`), then `cooldown` epochs during which bad
    /// epochs are not counted.
    ReduceOnPlateau {
        /// Whether lower (`min`) or higher (`max`) metric values are better.
        #[serde(default)]
        mode: PlateauMode,
        /// Multiplicative decay, in `(0, 1)`.
        #[serde(default = "default_gamma")]
        factor: f64,
        /// Epochs without improvement tolerated before a decay.
        #[serde(default = "default_patience")]
        patience: usize,
        /// How much better a value must be to count as an improvement, non-negative.
        #[serde(default = "default_threshold")]
        threshold: f64,
        /// Whether `threshold` is relative to the best value or absolute.
        #[serde(default)]
        threshold_mode: ThresholdMode,
        /// Epochs after a decay during which bad epochs are not counted.
        #[serde(default)]
        cooldown: usize,
        /// The rate never goes below this, non-negative.
        #[serde(default)]
        min_lr: f64,
        /// Decays smaller than this are skipped, non-negative.
        #[serde(default = "default_eps")]
        eps: f64,
    },
}

/// Whether lower or higher values of a monitored metric are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlateauMode {
    /// Lower is better (losses).
    #[default]
    Min,
    /// Higher is better (accuracy, F1).
    Max,
}

/// How [`ScheduleConfig::ReduceOnPlateau`]'s threshold is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdMode {
    /// Improvement relative to the best value: `best·(1 − threshold)` in `min` mode.
    #[default]
    Rel,
    /// Absolute improvement: `best − threshold` in `min` mode.
    Abs,
}

fn default_gamma() -> f64 {
    0.1
}
fn default_power() -> f64 {
    1.0
}
fn default_start_factor() -> f64 {
    1.0 / 3.0
}
fn default_then() -> Box<ScheduleConfig> {
    Box::new(ScheduleConfig::Constant {})
}
fn default_pct_start() -> f64 {
    0.3
}
fn default_div_factor() -> f64 {
    25.0
}
fn default_final_div_factor() -> f64 {
    1e4
}
fn default_patience() -> usize {
    10
}
fn default_threshold() -> f64 {
    1e-4
}
fn default_eps() -> f64 {
    1e-8
}

impl ScheduleConfig {
    /// Whether the schedule needs a metric per step ([`Scheduler::step_with_metric`]):
    /// true when `reduce_on_plateau` is in it.
    pub fn is_metric_driven(&self) -> bool {
        match self {
            Self::ReduceOnPlateau { .. } => true,
            Self::Warmup { then, .. } => then.is_metric_driven(),
            _ => false,
        }
    }

    /// Checks the settings that do not depend on the run.
    pub fn validate(&self) -> Result<(), OptimError> {
        match self {
            Self::Constant {} => Ok(()),
            Self::Step { step_size, gamma } => {
                at_least("step_size", *step_size, 1)?;
                positive("gamma", *gamma)
            }
            Self::MultiStep { milestones, gamma } => {
                let increasing = milestones.windows(2).all(|w| w[0] < w[1]);
                if milestones.is_empty() || milestones[0] == 0 || !increasing {
                    return Err(OptimError::Milestones { milestones: milestones.clone() });
                }
                positive("gamma", *gamma)
            }
            Self::Exponential { gamma } => positive("gamma", *gamma),
            Self::Cosine { t_max, eta_min } => {
                if let Some(t_max) = t_max {
                    at_least("t_max", *t_max, 1)?;
                }
                non_negative("eta_min", *eta_min)
            }
            Self::Polynomial { total_iters, power } => {
                if let Some(total_iters) = total_iters {
                    at_least("total_iters", *total_iters, 1)?;
                }
                positive("power", *power)
            }
            Self::Warmup { steps, start_factor, then } => {
                at_least("steps", *steps, 1)?;
                if !(*start_factor > 0.0 && *start_factor <= 1.0) {
                    return Err(OptimError::OutOfRange { name: "start_factor", value: *start_factor, range: "(0, 1]" });
                }
                then.validate()
            }
            Self::OneCycle { pct_start, div_factor, final_div_factor } => {
                if !(*pct_start > 0.0 && *pct_start < 1.0) {
                    return Err(OptimError::OutOfRange { name: "pct_start", value: *pct_start, range: "(0, 1)" });
                }
                positive("div_factor", *div_factor)?;
                positive("final_div_factor", *final_div_factor)
            }
            Self::ReduceOnPlateau { factor, threshold, min_lr, eps, .. } => {
                if !(*factor > 0.0 && *factor < 1.0) {
                    return Err(OptimError::OutOfRange { name: "factor", value: *factor, range: "(0, 1)" });
                }
                non_negative("threshold", *threshold)?;
                non_negative("min_lr", *min_lr)?;
                non_negative("eps", *eps)
            }
        }
    }

    /// Validates the schedule for a run of `total_steps` steps starting from
    /// the learning rate `base_lr` (the optimiser's configured rate) and builds it.
    ///
    /// Errors: an invalid setting, `base_lr` not positive and finite,
    /// `total_steps` zero, a warm-up longer than the run, a one-cycle run too
    /// short for its rising phase.
    pub fn build(&self, base_lr: f64, total_steps: usize) -> Result<Scheduler, OptimError> {
        if !(base_lr.is_finite() && base_lr > 0.0) {
            return Err(OptimError::LearningRate(base_lr));
        }
        at_least("total_steps", total_steps, 1)?;
        self.validate()?;
        let rule = match self {
            Self::Constant {} => Rule::Constant,
            Self::Step { step_size, gamma } => Rule::Step { step_size: *step_size, gamma: *gamma },
            Self::MultiStep { milestones, gamma } => Rule::MultiStep { milestones: milestones.clone(), gamma: *gamma },
            Self::Exponential { gamma } => Rule::Exponential { gamma: *gamma },
            Self::Cosine { t_max, eta_min } => Rule::Cosine { t_max: t_max.unwrap_or(total_steps), eta_min: *eta_min },
            Self::Polynomial { total_iters, power } => {
                Rule::Polynomial { total_iters: total_iters.unwrap_or(total_steps), power: *power }
            }
            Self::Warmup { steps, start_factor, then } => {
                if *steps > total_steps {
                    return Err(OptimError::WarmupTooLong { warmup: *steps, total: total_steps });
                }
                // The schedule after the warm-up covers what is left of the run
                // (at least one step, so a warm-up as long as the run is allowed).
                let then = then.build(base_lr, (total_steps - steps).max(1))?;
                Rule::Warmup { steps: *steps, start_factor: *start_factor, then: Box::new(then) }
            }
            Self::OneCycle { pct_start, div_factor, final_div_factor } => {
                let rise_end = pct_start * total_steps as f64 - 1.0;
                if rise_end <= 0.0 {
                    return Err(OptimError::OneCycleTooShort { pct_start: *pct_start, total_steps });
                }
                let initial = base_lr / div_factor;
                Rule::OneCycle { rise_end, total_steps, initial, min: initial / final_div_factor }
            }
            Self::ReduceOnPlateau { mode, factor, patience, threshold, threshold_mode, cooldown, min_lr, eps } => {
                Rule::Plateau(Plateau {
                    mode: *mode,
                    factor: *factor,
                    patience: *patience,
                    threshold: *threshold,
                    threshold_mode: *threshold_mode,
                    cooldown: *cooldown,
                    min_lr: *min_lr,
                    eps: *eps,
                    best: match mode {
                        PlateauMode::Min => f64::INFINITY,
                        PlateauMode::Max => f64::NEG_INFINITY,
                    },
                    bad_epochs: 0,
                    cooldown_left: 0,
                })
            }
        };
        let mut scheduler = Scheduler { base_lr, total_steps, steps: 0, lr: base_lr, rule };
        scheduler.lr = scheduler.closed_form();
        Ok(scheduler)
    }
}

fn at_least(name: &'static str, value: usize, min: usize) -> Result<(), OptimError> {
    if value >= min { Ok(()) } else { Err(OptimError::TooFew { name, value, min }) }
}

/// A built schedule: the current learning rate and the state to advance it.
///
/// Read [`lr`](Scheduler::lr) and give it to
/// [`Optimizer::set_learning_rate`](crate::Optimizer::set_learning_rate) before
/// the first update, then after every [`step`](Scheduler::step) (or
/// [`step_with_metric`](Scheduler::step_with_metric)). Step once per
/// [`ScheduleUnit`]: after every optimiser update, or after every epoch.
///
/// ```
/// use anneal_optim::{OptimizerConfig, ScheduleConfig};
///
/// let mut optimizer = OptimizerConfig::adam(0.1).init()?;
/// let mut scheduler = ScheduleConfig::Step { step_size: 2, gamma: 0.5 }.build(optimizer.learning_rate(), 10)?;
/// let mut used = Vec::new();
/// for _epoch in 0..5 {
///     optimizer.set_learning_rate(scheduler.lr());
///     used.push(optimizer.learning_rate());
///     // ... one epoch of optimizer.step(model, grads) ...
///     scheduler.step();
/// }
/// assert_eq!(used, [0.1, 0.1, 0.05, 0.05, 0.025]);
/// # Ok::<(), anneal_optim::OptimError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Scheduler {
    base_lr: f64,
    total_steps: usize,
    steps: usize,
    lr: f64,
    rule: Rule,
}

#[derive(Debug, Clone, PartialEq)]
enum Rule {
    Constant,
    Step { step_size: usize, gamma: f64 },
    MultiStep { milestones: Vec<usize>, gamma: f64 },
    Exponential { gamma: f64 },
    Cosine { t_max: usize, eta_min: f64 },
    Polynomial { total_iters: usize, power: f64 },
    Warmup { steps: usize, start_factor: f64, then: Box<Scheduler> },
    OneCycle { rise_end: f64, total_steps: usize, initial: f64, min: f64 },
    Plateau(Plateau),
}

#[derive(Debug, Clone, PartialEq)]
struct Plateau {
    mode: PlateauMode,
    factor: f64,
    patience: usize,
    threshold: f64,
    threshold_mode: ThresholdMode,
    cooldown: usize,
    min_lr: f64,
    eps: f64,
    best: f64,
    bad_epochs: usize,
    cooldown_left: usize,
}

impl Plateau {
    fn is_better(&self, value: f64) -> bool {
        match (self.mode, self.threshold_mode) {
            (PlateauMode::Min, ThresholdMode::Rel) => value < self.best * (1.0 - self.threshold),
            (PlateauMode::Min, ThresholdMode::Abs) => value < self.best - self.threshold,
            (PlateauMode::Max, ThresholdMode::Rel) => value > self.best * (1.0 + self.threshold),
            (PlateauMode::Max, ThresholdMode::Abs) => value > self.best + self.threshold,
        }
    }

    /// PyTorch's `ReduceLROnPlateau.step(metric)`, on the current rate `lr`.
    fn update(&mut self, metric: f64, lr: f64) -> f64 {
        if self.is_better(metric) {
            self.best = metric;
            self.bad_epochs = 0;
        } else {
            self.bad_epochs += 1;
        }
        if self.cooldown_left > 0 {
            self.cooldown_left -= 1;
            self.bad_epochs = 0;
        }
        if self.bad_epochs > self.patience {
            self.cooldown_left = self.cooldown;
            self.bad_epochs = 0;
            let reduced = (lr * self.factor).max(self.min_lr);
            if lr - reduced > self.eps {
                return reduced;
            }
        }
        lr
    }
}

impl Scheduler {
    /// The learning rate for the coming step.
    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// Steps taken so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// The run length the schedule was built for.
    pub fn total_steps(&self) -> usize {
        self.total_steps
    }

    /// Whether [`step_with_metric`](Scheduler::step_with_metric) is needed
    /// (a reduce-on-plateau schedule, possibly after a warm-up).
    pub fn is_metric_driven(&self) -> bool {
        match &self.rule {
            Rule::Plateau(_) => true,
            Rule::Warmup { then, .. } => then.is_metric_driven(),
            _ => false,
        }
    }

    /// Advances one step. A reduce-on-plateau schedule past its warm-up does
    /// not change without a metric: use [`step_with_metric`](Scheduler::step_with_metric).
    pub fn step(&mut self) {
        self.advance(None);
    }

    /// Advances one step, giving a reduce-on-plateau schedule the epoch's
    /// metric (the other schedules ignore it). A NaN metric never improves.
    pub fn step_with_metric(&mut self, metric: f64) {
        self.advance(Some(metric));
    }

    fn advance(&mut self, metric: Option<f64>) {
        self.steps += 1;
        match &mut self.rule {
            Rule::Plateau(plateau) => {
                if let Some(metric) = metric {
                    self.lr = plateau.update(metric, self.lr);
                }
            }
            Rule::Warmup { steps, then, .. } => {
                if self.steps > *steps {
                    then.advance(metric);
                }
                self.lr = self.closed_form();
            }
            _ => self.lr = self.closed_form(),
        }
    }

    /// The rate after `self.steps` steps, for every rule but reduce-on-plateau
    /// (which keeps its current rate).
    fn closed_form(&self) -> f64 {
        let t = self.steps;
        let base = self.base_lr;
        match &self.rule {
            Rule::Constant => base,
            Rule::Step { step_size, gamma } => base * powu(*gamma, t / step_size),
            Rule::MultiStep { milestones, gamma } => {
                base * powu(*gamma, milestones.iter().take_while(|&&m| m <= t).count())
            }
            Rule::Exponential { gamma } => base * powu(*gamma, t),
            Rule::Cosine { t_max, eta_min } => {
                eta_min + (base - eta_min) * (1.0 + (PI * t as f64 / *t_max as f64).cos()) / 2.0
            }
            Rule::Polynomial { total_iters, power } => {
                let left = 1.0 - t.min(*total_iters) as f64 / *total_iters as f64;
                base * left.powf(*power)
            }
            Rule::Warmup { steps, start_factor, then } => {
                if t < *steps {
                    base * (start_factor + (1.0 - start_factor) * t as f64 / *steps as f64)
                } else {
                    then.lr
                }
            }
            Rule::OneCycle { rise_end, total_steps, initial, min } => {
                // PyTorch's OneCycleLR.get_lr; it refuses to go past total_steps, we stay there.
                let t = t.min(*total_steps) as f64;
                let fall_end = (*total_steps - 1) as f64;
                let cos_anneal = |start: f64, end: f64, pct: f64| end + (start - end) / 2.0 * ((PI * pct).cos() + 1.0);
                if t <= *rise_end {
                    cos_anneal(*initial, base, t / rise_end)
                } else {
                    cos_anneal(base, *min, (t - rise_end) / (fall_end - rise_end))
                }
            }
            Rule::Plateau(_) => self.lr,
        }
    }
}

/// `x^n` for a step count, exact for the small counts schedules see.
fn powu(x: f64, n: usize) -> f64 {
    x.powi(i32::try_from(n).unwrap_or(i32::MAX))
}
