//! Exhaustive grid search over a declared space.

use std::collections::BTreeMap;

use super::{SampleContext, Sampler};
use crate::error::{HpoError, Result};
use crate::space::{Distribution, SearchSpace};
use anneal_core::SeededRng;

/// Visits every point of the grid spanned by the declared space, in a seeded shuffled
/// order: trial `n` gets point `n`. Discrete parameters contribute all their values,
/// continuous floats `resolution` evenly spaced points (log spaced on a log scale);
/// conditional parameters only multiply the branches where they are active.
///
/// The study refuses to start when the grid is infinite (a continuous float and no
/// resolution) or larger than its trial budget, and stops once every point has been
/// visited. Use it for small discrete spaces where
/// every combination matters.
#[derive(Debug, Clone)]
pub struct GridSampler {
    seed: u64,
    resolution: Option<usize>,
}

/// Upper limit on the number of grid points materialised.
const MAX_GRID: u128 = 10_000_000;

impl GridSampler {
    /// A grid sampler without a resolution: every parameter must be discrete.
    pub fn new(seed: u64) -> Self {
        Self { seed, resolution: None }
    }

    /// Points per continuous float parameter.
    pub fn with_resolution(mut self, points: usize) -> Self {
        self.resolution = Some(points.max(1));
        self
    }

    /// The number of grid points of `space`.
    pub fn grid_size(&self, space: &SearchSpace) -> Result<u128> {
        // Count by walking the branches: a conditional parameter multiplies only the part
        // of the grid where its parent takes one of its values.
        let mut weights: Vec<(BTreeMap<String, f64>, u128)> = vec![(BTreeMap::new(), 1)];
        for p in space.params() {
            let values = p
                .distribution
                .grid_values(self.resolution)
                .ok_or_else(|| HpoError::GridInfinite { param: p.name.clone() })?;
            let mut next = Vec::new();
            for (assigned, w) in weights {
                if !space.is_active(p, &assigned) {
                    next.push((assigned, w));
                } else if p.distribution.is_categorical()
                    && space.params().iter().any(|c| c.condition.as_ref().is_some_and(|c| c.parent == p.name))
                {
                    for &v in &values {
                        let mut a = assigned.clone();
                        a.insert(p.name.clone(), v);
                        next.push((a, w));
                    }
                } else {
                    next.push((assigned, w.saturating_mul(values.len() as u128)));
                }
            }
            weights = next;
        }
        Ok(weights.iter().map(|(_, w)| *w).fold(0u128, u128::saturating_add))
    }

    /// Every grid point of `space`, in declaration order (unshuffled).
    pub fn grid(&self, space: &SearchSpace) -> Result<Vec<BTreeMap<String, f64>>> {
        let size = self.grid_size(space)?;
        if size > MAX_GRID {
            return Err(HpoError::GridTooLarge { size, budget: MAX_GRID as usize });
        }
        let mut points: Vec<BTreeMap<String, f64>> = vec![BTreeMap::new()];
        for p in space.params() {
            let values = p.distribution.grid_values(self.resolution).unwrap_or_default();
            let mut next = Vec::with_capacity(points.len());
            for point in points {
                if space.is_active(p, &point) {
                    for &v in &values {
                        let mut q = point.clone();
                        q.insert(p.name.clone(), v);
                        next.push(q);
                    }
                } else {
                    next.push(point);
                }
            }
            points = next;
        }
        Ok(points)
    }

    fn order(&self, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        SeededRng::derive_pair(self.seed, 0x6772_6964, 0).shuffle(&mut order);
        order
    }
}

impl Sampler for GridSampler {
    fn name(&self) -> &'static str {
        "grid"
    }

    fn check_budget(&self, space: Option<&SearchSpace>, n_trials: usize) -> Result<()> {
        let space = space.ok_or(HpoError::SpaceRequired { what: "the grid sampler" })?;
        let size = self.grid_size(space)?;
        if size > n_trials as u128 {
            return Err(HpoError::GridTooLarge { size, budget: n_trials });
        }
        Ok(())
    }

    fn trial_limit(&self, space: Option<&SearchSpace>) -> Option<u128> {
        self.grid_size(space?).ok()
    }

    fn sample_relative(
        &self,
        ctx: &SampleContext<'_>,
        _params: &[(String, Distribution)],
    ) -> Result<BTreeMap<String, f64>> {
        let space = ctx.space.ok_or(HpoError::SpaceRequired { what: "the grid sampler" })?;
        let grid = self.grid(space)?;
        if grid.is_empty() {
            return Ok(BTreeMap::new());
        }
        let order = self.order(grid.len());
        Ok(grid[order[(ctx.number as usize) % grid.len()]].clone())
    }

    fn sample_independent(&self, ctx: &SampleContext<'_>, name: &str, distribution: &Distribution) -> Result<f64> {
        Ok(super::RandomSampler::draw(self.seed, ctx.number, name, distribution))
    }
}
