//! Samplers: what value each parameter of the next trial gets.
//!
//! A sampler sees the study's history through a [`SampleContext`] and proposes internal
//! values (see [`crate::space`]). It works in two modes, as in Optuna:
//! [`sample_relative`](Sampler::sample_relative) proposes several parameters jointly when
//! a trial starts (the declared space's always-active parameters, or in define-by-run
//! studies the parameters every finished trial had), and
//! [`sample_independent`](Sampler::sample_independent) proposes one parameter at a time
//! for everything else (conditional parameters, parameters first seen in this trial).
//!
//! Every sampler takes a seed and draws from a generator derived from
//! `(seed, trial number, parameter)`, so the same seed and history give the same
//! suggestions, whatever thread asks.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::Result;
use crate::space::{Distribution, SearchSpace};
use crate::storage::{Direction, FrozenTrial};

pub mod gp;
pub mod grid;
pub mod random;
pub mod sobol;
mod sobol_table;
pub mod tpe;

pub use gp::{GpSampler, LengthscalePrior, PriorMean};
pub use grid::GridSampler;
pub use random::RandomSampler;
pub use sobol::SobolSampler;
pub use tpe::TpeSampler;

/// What a sampler may look at when it proposes values for trial `number`.
#[derive(Debug, Clone, Copy)]
pub struct SampleContext<'a> {
    /// Every other trial of the study (any state), in number order.
    pub trials: &'a [Arc<FrozenTrial>],
    /// Whether smaller or larger values are better.
    pub direction: Direction,
    /// The number of the trial being sampled.
    pub number: u64,
    /// The study's declared search space, if it has one.
    pub space: Option<&'a SearchSpace>,
}

/// Proposes parameter values. Implementations keep no per-trial state, so one sampler
/// serves parallel workers.
pub trait Sampler: Send + Sync + std::fmt::Debug {
    /// A short name for messages and benchmarks (`"tpe"`, `"gp"`, …).
    fn name(&self) -> &'static str;

    /// Checks, before a study starts, that the sampler can serve `n_trials` trials of
    /// `space` (grid search fails when its grid does not fit).
    fn check_budget(&self, space: Option<&SearchSpace>, n_trials: usize) -> Result<()> {
        let _ = (space, n_trials);
        Ok(())
    }

    /// The most trials worth running (grid search: the grid's size); `optimize` stops there.
    fn trial_limit(&self, space: Option<&SearchSpace>) -> Option<u128> {
        let _ = space;
        None
    }

    /// Jointly proposes values for `params` (and may add values of other declared
    /// parameters); parameters it leaves out are sampled independently. The default
    /// proposes nothing.
    fn sample_relative(
        &self,
        ctx: &SampleContext<'_>,
        params: &[(String, Distribution)],
    ) -> Result<BTreeMap<String, f64>> {
        let _ = (ctx, params);
        Ok(BTreeMap::new())
    }

    /// Proposes a value for one parameter.
    fn sample_independent(&self, ctx: &SampleContext<'_>, name: &str, distribution: &Distribution) -> Result<f64>;
}

impl<S: Sampler + ?Sized> Sampler for Box<S> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn check_budget(&self, space: Option<&SearchSpace>, n_trials: usize) -> Result<()> {
        (**self).check_budget(space, n_trials)
    }
    fn trial_limit(&self, space: Option<&SearchSpace>) -> Option<u128> {
        (**self).trial_limit(space)
    }
    fn sample_relative(
        &self,
        ctx: &SampleContext<'_>,
        params: &[(String, Distribution)],
    ) -> Result<BTreeMap<String, f64>> {
        (**self).sample_relative(ctx, params)
    }
    fn sample_independent(&self, ctx: &SampleContext<'_>, name: &str, distribution: &Distribution) -> Result<f64> {
        (**self).sample_independent(ctx, name, distribution)
    }
}

/// The finished trials (complete, or pruned when `with_pruned`) that have every one of
/// `params` with the same distribution.
pub(crate) fn trials_with<'a>(
    trials: &'a [Arc<FrozenTrial>],
    params: &[(String, Distribution)],
    with_pruned: bool,
) -> Vec<&'a FrozenTrial> {
    use crate::storage::TrialState;
    trials
        .iter()
        .filter(|t| t.state == TrialState::Complete || (with_pruned && t.state == TrialState::Pruned))
        .filter(|t| params.iter().all(|(n, d)| t.distributions.get(n) == Some(d) && t.params.contains_key(n)))
        .map(|t| t.as_ref())
        .collect()
}
