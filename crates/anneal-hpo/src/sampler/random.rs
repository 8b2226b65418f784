//! Uniform random search: the baseline every other sampler must beat.

use std::collections::BTreeMap;

use super::{SampleContext, Sampler};
use crate::error::Result;
use crate::space::Distribution;
use anneal_core::{SeededRng, hash_str};

/// Draws every parameter uniformly on its scale (log parameters log-uniformly), independently
/// of the history. The right choice for a first look, for many parallel workers, and as the
/// baseline to beat.
#[derive(Debug, Clone)]
pub struct RandomSampler {
    seed: u64,
}

impl RandomSampler {
    /// A random sampler; the same seed gives the same suggestions.
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }

    /// One uniform draw for parameter `name` of trial `number`.
    pub(crate) fn draw(seed: u64, number: u64, name: &str, distribution: &Distribution) -> f64 {
        distribution.from_unit(SeededRng::derive_pair(seed, number, hash_str(name)).next_f64())
    }
}

impl Sampler for RandomSampler {
    fn name(&self) -> &'static str {
        "random"
    }

    fn sample_relative(
        &self,
        ctx: &SampleContext<'_>,
        params: &[(String, Distribution)],
    ) -> Result<BTreeMap<String, f64>> {
        Ok(params.iter().map(|(n, d)| (n.clone(), Self::draw(self.seed, ctx.number, n, d))).collect())
    }

    fn sample_independent(&self, ctx: &SampleContext<'_>, name: &str, distribution: &Distribution) -> Result<f64> {
        Ok(Self::draw(self.seed, ctx.number, name, distribution))
    }
}
