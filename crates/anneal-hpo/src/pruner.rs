//! Pruners: stop unpromising trials early from their intermediate values.
//!
//! The objective reports `(step, value)` pairs with [`Trial::report`](crate::Trial::report)
//! and asks [`Trial::should_prune`](crate::Trial::should_prune); the pruner decides from the
//! trial's own curve and the other trials' curves in storage. Pruners keep no state of their
//! own (everything is read from storage), so parallel workers and separate processes
//! sharing one storage make the same decisions.

use std::sync::Arc;

use crate::error::{HpoError, Result};
use crate::schedule::{floor_log, hyperband_brackets};
use crate::storage::{Direction, FrozenTrial, TrialState};
use anneal_core::SeededRng;

/// What a pruner sees.
#[derive(Debug, Clone, Copy)]
pub struct PruneContext<'a> {
    /// The trial being decided, with its intermediate values so far.
    pub trial: &'a FrozenTrial,
    /// Every trial of the study (this one included), in number order.
    pub trials: &'a [Arc<FrozenTrial>],
    /// Whether smaller or larger values are better.
    pub direction: Direction,
}

/// Decides whether a running trial should stop.
pub trait Pruner: Send + Sync + std::fmt::Debug {
    /// True if the trial should be stopped now.
    fn prune(&self, ctx: &PruneContext<'_>) -> bool;
}

/// Never prunes.
#[derive(Debug, Clone, Copy, Default)]
pub struct NopPruner;

impl Pruner for NopPruner {
    fn prune(&self, _ctx: &PruneContext<'_>) -> bool {
        false
    }
}

/// Prunes a trial whose best intermediate value so far is worse than the median of the
/// completed trials' values at the same step (Optuna's `MedianPruner`; Golovin et al.
/// 2017, "Google Vizier", median stopping rule).
#[derive(Debug, Clone, Copy)]
pub struct MedianPruner {
    /// No pruning until this many trials have completed.
    pub n_startup_trials: usize,
    /// No pruning before this step of each trial.
    pub n_warmup_steps: u64,
    /// Decide only every this many steps after warm-up.
    pub interval_steps: u64,
    /// At least this many completed trials must have reported the step.
    pub n_min_trials: usize,
}

impl Default for MedianPruner {
    fn default() -> Self {
        Self { n_startup_trials: 5, n_warmup_steps: 0, interval_steps: 1, n_min_trials: 1 }
    }
}

impl MedianPruner {
    /// A median pruner with `n_startup_trials` and `n_warmup_steps` (other settings default).
    pub fn new(n_startup_trials: usize, n_warmup_steps: u64) -> Self {
        Self { n_startup_trials, n_warmup_steps, ..Self::default() }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) }
}

impl Pruner for MedianPruner {
    fn prune(&self, ctx: &PruneContext<'_>) -> bool {
        let Some((step, _)) = ctx.trial.last_intermediate() else { return false };
        let completed: Vec<&FrozenTrial> =
            ctx.trials.iter().map(|t| t.as_ref()).filter(|t| t.state == TrialState::Complete).collect();
        if completed.len() < self.n_startup_trials || step < self.n_warmup_steps {
            return false;
        }
        if self.interval_steps > 1 && !(step - self.n_warmup_steps).is_multiple_of(self.interval_steps) {
            return false;
        }
        let others: Vec<f64> =
            completed.iter().filter_map(|t| t.intermediate.get(&step).copied()).filter(|v| !v.is_nan()).collect();
        if others.is_empty() || others.len() < self.n_min_trials {
            return false;
        }
        let loss = |v: f64| ctx.direction.to_loss(v);
        let best =
            ctx.trial.intermediate.values().map(|&v| loss(v)).filter(|v| !v.is_nan()).fold(f64::INFINITY, f64::min);
        best > loss(median(others))
    }
}

/// Asynchronous successive halving (ASHA; Li et al. 2020, "A system for massively
/// parallel hyperparameter tuning"), as Optuna's `SuccessiveHalvingPruner`.
///
/// Rung `k` sits at step `min_resource · η^(s + k)` (`s` = `min_early_stopping_rate`).
/// When a trial first reports a step at or past a rung, its value there is compared with
/// every trial that reached the rung; it continues only if it is among the best
/// `⌊n/η⌋` of them (the best one, while fewer than η have arrived). Each rung is decided
/// once, at the report that reaches it, so call `should_prune` after every report. No trial
/// ever waits for another, which is what parallel workers need.
#[derive(Debug, Clone, Copy)]
pub struct AshaPruner {
    /// Step of rung 0 (with `min_early_stopping_rate = 0`).
    pub min_resource: u64,
    /// η: the promoted fraction is `1/η`.
    pub reduction_factor: f64,
    /// `s`: rungs start at `min_resource · η^s`.
    pub min_early_stopping_rate: u32,
}

impl AshaPruner {
    /// ASHA with `min_resource` and `reduction_factor` (η), `s = 0`.
    pub fn new(min_resource: u64, reduction_factor: f64) -> Result<Self> {
        if !(reduction_factor >= 2.0 && reduction_factor.is_finite()) {
            return Err(HpoError::InvalidSetting {
                setting: "reduction_factor",
                value: reduction_factor.to_string(),
                expected: "a number >= 2",
            });
        }
        if min_resource == 0 {
            return Err(HpoError::InvalidSetting {
                setting: "min_resource",
                value: "0".into(),
                expected: "at least 1",
            });
        }
        Ok(Self { min_resource, reduction_factor, min_early_stopping_rate: 0 })
    }

    /// The step of rung `k`.
    pub fn rung_step(&self, k: u32) -> u64 {
        (self.min_resource as f64 * self.reduction_factor.powi((self.min_early_stopping_rate + k) as i32)).round()
            as u64
    }

    fn decide(&self, ctx: &PruneContext<'_>, peers: &dyn Fn(&FrozenTrial) -> bool) -> bool {
        let Some((step, _)) = ctx.trial.last_intermediate() else { return false };
        let loss = |v: f64| ctx.direction.to_loss(v);
        let mut k = 0;
        loop {
            let rung = self.rung_step(k);
            if step < rung {
                return false;
            }
            let Some((first, mine)) = ctx.trial.intermediate.range(rung..).next().map(|(&s, &v)| (s, v)) else {
                return false;
            };
            if first != step {
                // Decided when the trial first reached this rung, and it went on.
                k += 1;
                continue;
            }
            let mut competing: Vec<f64> = ctx
                .trials
                .iter()
                .filter(|t| t.id != ctx.trial.id && peers(t))
                .filter_map(|t| rung_value(t, rung))
                .map(loss)
                .collect();
            competing.push(loss(mine));
            competing.sort_by(f64::total_cmp);
            let idx = ((competing.len() as f64 / self.reduction_factor).floor() as usize).saturating_sub(1);
            if loss(mine).is_nan() || loss(mine) > competing[idx] {
                return true;
            }
            k += 1;
        }
    }
}

/// A trial's value at a rung: its value at the first reported step at or past it.
fn rung_value(t: &FrozenTrial, rung: u64) -> Option<f64> {
    t.intermediate.range(rung..).next().map(|(_, &v)| v)
}

impl Pruner for AshaPruner {
    fn prune(&self, ctx: &PruneContext<'_>) -> bool {
        self.decide(ctx, &|_| true)
    }
}

/// Hyperband as a pruner for asynchronous workers (as Optuna's `HyperbandPruner`): each
/// trial is assigned to one of the brackets of Li et al. for `max_resource` R and η — with
/// probability proportional to the bracket's number of configurations `n`, so the trial
/// counts per bracket follow the paper's table — and inside its bracket `s` runs ASHA with
/// rung 0 at `R η^{-s}`, competing only with trials of the same bracket.
#[derive(Debug, Clone)]
pub struct HyperbandPruner {
    max_resource: u64,
    eta: f64,
    seed: u64,
    /// `(s, n, rung-0 step)` per bracket, most aggressive first.
    brackets: Vec<(usize, usize, u64)>,
}

impl HyperbandPruner {
    /// Brackets for `max_resource` (R, in steps) and `eta`.
    pub fn new(max_resource: u64, eta: f64, seed: u64) -> Result<Self> {
        let brackets = hyperband_brackets(max_resource as f64, eta)?
            .into_iter()
            .map(|b| (b.s, b.n_configs(), b.rungs[0].budget.round().max(1.0) as u64))
            .collect();
        Ok(Self { max_resource, eta, seed, brackets })
    }

    /// The bracket index `s` of trial `number`.
    pub fn bracket_of(&self, number: u64) -> usize {
        let weights: Vec<f64> = self.brackets.iter().map(|b| b.1 as f64).collect();
        self.brackets[SeededRng::derive_pair(self.seed, number, 0x0068_0062).weighted(&weights)].0
    }

    /// `⌊log_η R⌋ + 1`, the number of brackets.
    pub fn n_brackets(&self) -> usize {
        floor_log(self.max_resource as f64, self.eta) + 1
    }
}

impl Pruner for HyperbandPruner {
    fn prune(&self, ctx: &PruneContext<'_>) -> bool {
        let s = self.bracket_of(ctx.trial.number);
        let Some(&(_, _, r0)) = self.brackets.iter().find(|b| b.0 == s) else { return false };
        let asha = AshaPruner { min_resource: r0, reduction_factor: self.eta, min_early_stopping_rate: 0 };
        asha.decide(ctx, &|t: &FrozenTrial| self.bracket_of(t.number) == s)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn trial(id: u64, state: TrialState, curve: &[(u64, f64)]) -> FrozenTrial {
        FrozenTrial {
            id,
            number: id,
            state,
            params: BTreeMap::new(),
            distributions: BTreeMap::new(),
            value: curve.last().map(|c| c.1),
            intermediate: curve.iter().copied().collect(),
            started_ms: 0,
            finished_ms: None,
            heartbeat_ms: 0,
        }
    }

    #[test]
    fn median_pruner_respects_startup_and_warmup() {
        let done: Vec<Arc<FrozenTrial>> = (0..3)
            .map(|i| Arc::new(trial(i, TrialState::Complete, &[(0, 1.0 + i as f64), (1, 0.5 + i as f64)])))
            .collect();
        let bad = trial(9, TrialState::Running, &[(0, 5.0), (1, 5.0)]);
        let good = trial(9, TrialState::Running, &[(0, 1.5), (1, 0.7)]);
        let mut all = done.clone();
        all.push(Arc::new(bad.clone()));
        let ctx = |t| PruneContext { trial: t, trials: &all, direction: Direction::Minimize };
        assert!(MedianPruner::new(3, 0).prune(&ctx(&bad)));
        assert!(!MedianPruner::new(3, 0).prune(&ctx(&good)));
        assert!(!MedianPruner::new(4, 0).prune(&ctx(&bad)), "startup trials");
        assert!(!MedianPruner::new(3, 2).prune(&ctx(&bad)), "warm-up steps");
    }

    #[test]
    fn asha_rungs_and_promotion() {
        let p = AshaPruner::new(1, 3.0).unwrap();
        assert_eq!((0..4).map(|k| p.rung_step(k)).collect::<Vec<_>>(), vec![1, 3, 9, 27]);
        // Six trials at rung 0 (step 1): only the best ⌊6/3⌋ = 2 go on.
        let mut all: Vec<Arc<FrozenTrial>> = (0..5)
            .map(|i| Arc::new(trial(i, TrialState::Pruned, &[(1, [0.1, 0.5, 0.6, 0.7, 0.8][i as usize])])))
            .collect();
        let second = trial(5, TrialState::Running, &[(1, 0.2)]);
        let third = trial(5, TrialState::Running, &[(1, 0.55)]);
        all.push(Arc::new(second.clone()));
        let ctx = |t| PruneContext { trial: t, trials: &all, direction: Direction::Minimize };
        assert!(!p.prune(&ctx(&second)));
        assert!(p.prune(&ctx(&third)));
        // Maximising flips the order: 0.75 is then second best of six.
        let high = trial(5, TrialState::Running, &[(1, 0.75)]);
        assert!(p.prune(&ctx(&high)));
        let ctx = PruneContext { trial: &high, trials: &all, direction: Direction::Maximize };
        assert!(!p.prune(&ctx));
        // A rung is decided once: past rung 1 (step 3) the rung-0 comparison is not redone.
        let late = trial(6, TrialState::Running, &[(1, 0.2), (3, 0.1), (4, 0.1)]);
        all.push(Arc::new(late.clone()));
        let ctx = PruneContext { trial: &late, trials: &all, direction: Direction::Minimize };
        assert!(!p.prune(&ctx));
    }

    #[test]
    fn hyperband_pruner_assigns_trials_like_the_paper() {
        let p = HyperbandPruner::new(81, 3.0, 0).unwrap();
        assert_eq!(p.n_brackets(), 5);
        let mut counts = [0usize; 5];
        for n in 0..143_000 {
            counts[p.bracket_of(n)] += 1;
        }
        // n per bracket s = 0..4 is 5, 8, 15, 34, 81 (of 143).
        for (s, n) in [(0, 5.0), (1, 8.0), (2, 15.0), (3, 34.0), (4, 81.0)] {
            let share = counts[s] as f64 / 143_000.0;
            assert!((share - n / 143.0).abs() < 0.01, "bracket {s}: {share}");
        }
    }
}
