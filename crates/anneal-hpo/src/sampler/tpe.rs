//! The tree-structured Parzen estimator (Bergstra et al. 2011, "Algorithms for
//! hyper-parameter optimization"; Watanabe 2023, "Tree-structured Parzen estimator:
//! understanding its algorithm components"), multivariate as Optuna 5's default `TPESampler`.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{RandomSampler, SampleContext, Sampler};
use crate::error::{HpoError, Result};
use crate::math::{log_gauss_mass, ndtr, ndtri, norm_log_pdf};
use crate::space::Distribution;
use crate::storage::{Direction, FrozenTrial, TrialState};
use anneal_core::{SeededRng, hash_str};

/// Multivariate TPE as Optuna 5's default `TPESampler`, made greedier in three settings
/// ([`TpeSampler::optuna`] has Optuna's).
///
/// After `n_startup_trials` random trials, the finished trials are split into the best
/// `γ(n) = min(⌈0.1 n⌉, 25)` ("below") and the rest ("above", together with running trials,
/// Optuna's constant liar). Each group becomes a Parzen estimator: a mixture of one product
/// kernel per trial (truncated Gaussians on the parameter's scale, bandwidth the larger gap
/// to the neighbouring observations, clipped below by the "magic clip" and above by the
/// range; categorical kernels put weight 1 on the observed choice) plus one broad prior
/// kernel. Then `n_ei_candidates` points are drawn from `l(x)` and the one maximising
/// `l(x) / g(x)` (equivalent to expected improvement) is proposed.
///
/// Where the defaults differ from Optuna's:
/// - **64 candidates** instead of 24: a higher `l/g` among more draws;
/// - the **magic clip** keeps each bandwidth above `range / min(100, (k + 1)^1.5)` for `k`
///   kernels instead of `range / min(100, k + 1)`, so the kernels of a small "below" group
///   narrow sooner;
/// - the "below" kernels are **weighted by improvement**: proportionally to how far each
///   trial's value is past the split between the groups (Watanabe 2023's EI weighting),
///   instead of equally, so the best trials pull hardest.
///
/// Measured on Branin and Hartmann6 (`cargo bench -p anneal-hpo --bench hpo`), median
/// regret after 50 trials over seeds 300–499, which played no part in choosing the
/// settings: 0.030 and 0.264 against 0.157 and 0.413 with Optuna's settings; after 100
/// trials 0.0042 and 0.090 against 0.023 and 0.165. The costs: about 1.6 times the time per
/// suggestion (still a fraction of a millisecond), and on a space of many parameters the
/// narrower kernels could settle sooner on a local optimum (on 6-parameter Hartmann6
/// exponents 1.1–1.3 measured slightly better than 1.5, on 2-parameter Branin 1.5 clearly
/// better than 1.3).
///
/// A good default for most tuning jobs: it handles every parameter kind, conditional
/// parameters (sampled by one-dimensional TPE over the trials where they were active) and
/// costs well under a millisecond per trial.
#[derive(Debug, Clone)]
pub struct TpeSampler {
    seed: u64,
    n_startup_trials: usize,
    n_ei_candidates: usize,
    multivariate: bool,
    prior_weight: f64,
    gamma: f64,
    /// The minimum bandwidth is `range / min(100, (1 + kernels)^clip_exponent)`.
    clip_exponent: f64,
    /// Whether the "below" kernels are weighted by their improvement (else uniformly).
    improvement_weights: bool,
}

impl TpeSampler {
    /// Multivariate TPE with 10 start-up trials, `γ(n) = min(⌈0.1 n⌉, 25)`, 64 candidates, the
    /// magic clip with exponent 1.5 and improvement-weighted "below" kernels.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            n_startup_trials: 10,
            n_ei_candidates: 64,
            multivariate: true,
            prior_weight: 1.0,
            gamma: 0.1,
            clip_exponent: 1.5,
            improvement_weights: true,
        }
    }

    /// TPE with Optuna 5's defaults: 10 start-up trials, 24 candidates,
    /// `γ(n) = min(⌈0.1 n⌉, 25)`, multivariate, magic clip `range / min(100, k + 1)`, equal
    /// kernel weights.
    pub fn optuna(seed: u64) -> Self {
        Self { n_ei_candidates: 24, clip_exponent: 1.0, improvement_weights: false, ..Self::new(seed) }
    }

    /// The fraction of the finished trials (at most 25 of them) that form the "below" group.
    pub fn with_gamma(mut self, fraction: f64) -> Result<Self> {
        if !(fraction > 0.0 && fraction <= 1.0) {
            return Err(HpoError::InvalidSetting {
                setting: "gamma",
                value: fraction.to_string(),
                expected: "a fraction in (0, 1]",
            });
        }
        self.gamma = fraction;
        Ok(self)
    }

    /// Random trials before the model is used.
    pub fn with_startup_trials(mut self, n: usize) -> Self {
        self.n_startup_trials = n;
        self
    }

    /// Candidates drawn from `l(x)` per suggestion (at least 1).
    pub fn with_ei_candidates(mut self, n: usize) -> Result<Self> {
        if n == 0 {
            return Err(HpoError::InvalidSetting {
                setting: "n_ei_candidates",
                value: "0".into(),
                expected: "at least 1",
            });
        }
        self.n_ei_candidates = n;
        Ok(self)
    }

    /// Independent (per-parameter) TPE, the classic variant: every parameter is modelled on
    /// its own.
    pub fn univariate(mut self) -> Self {
        self.multivariate = false;
        self
    }

    fn n_finished(trials: &[Arc<FrozenTrial>]) -> usize {
        trials.iter().filter(|t| matches!(t.state, TrialState::Complete | TrialState::Pruned)).count()
    }

    fn sample(&self, ctx: &SampleContext<'_>, space: &[(String, Distribution)], stream: u64) -> BTreeMap<String, f64> {
        let has_all =
            |t: &FrozenTrial| space.iter().all(|(n, d)| t.params.contains_key(n) && t.distributions.get(n) == Some(d));
        let (below, above) = split_trials(ctx.trials, ctx.direction, self.gamma);
        let below: Vec<&FrozenTrial> = below.into_iter().filter(|t| has_all(t)).collect();
        let above: Vec<&FrozenTrial> = above.into_iter().filter(|t| has_all(t)).collect();
        let below_weights = if self.improvement_weights {
            improvement_weights(&below, &above, ctx.direction)
        } else {
            default_weights(below.len())
        };
        let l = Parzen::new(&below, below_weights, space, self.prior_weight, self.clip_exponent);
        let g = Parzen::new(&above, default_weights(above.len()), space, self.prior_weight, self.clip_exponent);
        let mut rng = SeededRng::derive_pair(self.seed, ctx.number, stream);
        let mut best: Option<(f64, Vec<f64>)> = None;
        let cdf = l.cdf_bounds();
        for _ in 0..self.n_ei_candidates {
            let x = l.sample(&mut rng, &cdf);
            let score = l.log_pdf(&x) - g.log_pdf(&x);
            if best.as_ref().is_none_or(|(b, _)| score > *b) {
                best = Some((score, x));
            }
        }
        let x = best.map(|b| b.1).unwrap_or_default();
        space.iter().zip(x).map(|((n, d), v)| (n.clone(), d.snap(v))).collect()
    }
}

/// The size of the "below" group: `min(⌈fraction · n⌉, 25)` (Optuna's `default_gamma` with
/// `fraction = 0.1`).
fn gamma(n: usize, fraction: f64) -> usize {
    // The same floating-point product as Optuna's `math.ceil(0.1 * x)`.
    ((fraction * n as f64).ceil() as usize).min(25)
}

/// Optuna's `default_weights`: 1 for the last 25 trials, a ramp from `1/n` before them.
fn default_weights(n: usize) -> Vec<f64> {
    if n < 25 {
        return vec![1.0; n];
    }
    let ramp = n - 25;
    let mut w: Vec<f64> = (0..ramp)
        .map(|i| {
            if ramp == 1 {
                1.0 / n as f64
            } else {
                1.0 / n as f64 + (1.0 - 1.0 / n as f64) * i as f64 / (ramp - 1) as f64
            }
        })
        .collect();
    w.extend(std::iter::repeat_n(1.0, 25));
    w
}

/// Kernel weights for the "below" group proportional to each trial's improvement over the
/// split point (halfway between the worst "below" and the best "above" value): the best
/// trials pull the search hardest (Watanabe 2023's "EI weighting"; Optuna weights them
/// equally). A trial without a finite value (a pruned one that made the group) gets the
/// smallest weight of the others; without a split point the weights are equal.
fn improvement_weights(below: &[&FrozenTrial], above: &[&FrozenTrial], direction: Direction) -> Vec<f64> {
    let loss = |t: &FrozenTrial| {
        (t.state == TrialState::Complete)
            .then(|| t.value.map(|v| direction.to_loss(v)))
            .flatten()
            .filter(|v| v.is_finite())
    };
    let worst_below = below.iter().filter_map(|t| loss(t)).fold(f64::NEG_INFINITY, f64::max);
    let best_above = above.iter().filter_map(|t| loss(t)).fold(f64::INFINITY, f64::min);
    if !(worst_below.is_finite() && best_above.is_finite()) {
        return vec![1.0; below.len()];
    }
    let split = 0.5 * (worst_below + best_above);
    let gains: Vec<Option<f64>> = below.iter().map(|t| loss(t).map(|l| (split - l).max(0.0))).collect();
    let Some(floor) = gains.iter().flatten().copied().filter(|&g| g > 0.0).reduce(f64::min) else {
        return vec![1.0; below.len()];
    };
    let raw: Vec<f64> = gains.into_iter().map(|g| g.filter(|&g| g > 0.0).unwrap_or(floor)).collect();
    // Scale to mean 1, as the equal weights they replace.
    let scale = raw.len() as f64 / raw.iter().sum::<f64>();
    raw.into_iter().map(|w| w * scale).collect()
}

/// Splits the history as Optuna's `_split_trials`: the best `γ(n)` complete trials (then
/// pruned ones, ranked by how far they got and their last value) are "below", the rest and
/// every running trial "above"; each group in trial-number order.
fn split_trials(
    trials: &[Arc<FrozenTrial>],
    direction: Direction,
    fraction: f64,
) -> (Vec<&FrozenTrial>, Vec<&FrozenTrial>) {
    let trials = trials.iter().map(|t| t.as_ref());
    let mut complete: Vec<&FrozenTrial> = trials.clone().filter(|t| t.state == TrialState::Complete).collect();
    let mut pruned: Vec<&FrozenTrial> = trials.clone().filter(|t| t.state == TrialState::Pruned).collect();
    let running = trials.filter(|t| t.state == TrialState::Running);
    let mut n_below = gamma(complete.len() + pruned.len(), fraction);
    let loss = |t: &FrozenTrial| direction.to_loss(t.value.unwrap_or(f64::NAN));
    complete.sort_by(|a, b| loss(a).total_cmp(&loss(b)));
    let k = n_below.min(complete.len());
    let (mut below, mut above): (Vec<&FrozenTrial>, Vec<&FrozenTrial>) =
        (complete[..k].to_vec(), complete[k..].to_vec());
    n_below -= k;
    let score = |t: &FrozenTrial| match t.last_intermediate() {
        Some((step, v)) => (-(step as f64), if v.is_nan() { f64::INFINITY } else { direction.to_loss(v) }),
        None => (1.0, 0.0),
    };
    pruned.sort_by(|a, b| {
        let (sa, sb) = (score(a), score(b));
        sa.0.total_cmp(&sb.0).then(sa.1.total_cmp(&sb.1))
    });
    let k = n_below.min(pruned.len());
    below.extend_from_slice(&pruned[..k]);
    above.extend_from_slice(&pruned[k..]);
    above.extend(running);
    below.sort_by_key(|t| t.number);
    above.sort_by_key(|t| t.number);
    (below, above)
}

/// One dimension of a Parzen estimator.
enum Kernels {
    /// Truncated Gaussians on `[low, high]` of the (log-)scale; `step` for discrete values.
    /// `log_norm` is `ln σ + ln(mass on [low, high]) + ½ ln 2π` per kernel, so a continuous
    /// density is `-½ ((x - μ)/σ)² - log_norm`.
    Numeric {
        mus: Vec<f64>,
        sigmas: Vec<f64>,
        inv_sigmas: Vec<f64>,
        low: f64,
        high: f64,
        log: bool,
        step: Option<f64>,
        log_mass: Vec<f64>,
        log_norm: Vec<f64>,
    },
    /// Per-kernel probabilities of each choice, and their logarithms.
    Categorical { probs: Vec<Vec<f64>>, log_probs: Vec<Vec<f64>> },
}

/// A mixture of product kernels, one per observation plus the prior.
struct Parzen {
    log_weights: Vec<f64>,
    weights: Vec<f64>,
    dims: Vec<(Distribution, Kernels)>,
}

impl Parzen {
    fn new(
        trials: &[&FrozenTrial],
        mut weights: Vec<f64>,
        space: &[(String, Distribution)],
        prior_weight: f64,
        clip_exponent: f64,
    ) -> Self {
        let n = trials.len();
        weights.push(if n == 0 { 1.0 } else { prior_weight });
        let total: f64 = weights.iter().sum();
        weights.iter_mut().for_each(|w| *w /= total);
        let dims = space
            .iter()
            .map(|(name, d)| {
                let obs: Vec<f64> = trials.iter().map(|t| t.params[name]).collect();
                (d.clone(), kernels(&obs, d, prior_weight, clip_exponent))
            })
            .collect();
        Self { log_weights: weights.iter().map(|w| w.ln()).collect(), weights, dims }
    }

    /// `Φ` at the bounds of every numeric kernel, `[dim][kernel]` (empty for categorical
    /// dimensions): what [`Parzen::sample`] needs, computed once for all its draws.
    fn cdf_bounds(&self) -> Vec<Vec<(f64, f64)>> {
        self.dims
            .iter()
            .map(|(_, kern)| match kern {
                Kernels::Categorical { .. } => Vec::new(),
                Kernels::Numeric { mus, sigmas, low, high, .. } => mus
                    .iter()
                    .zip(sigmas)
                    .map(|(&mu, &sigma)| (ndtr((low - mu) / sigma), ndtr((high - mu) / sigma)))
                    .collect(),
            })
            .collect()
    }

    /// One draw from the mixture; `cdf` is [`Parzen::cdf_bounds`].
    fn sample(&self, rng: &mut SeededRng, cdf: &[Vec<(f64, f64)>]) -> Vec<f64> {
        let k = rng.weighted(&self.weights);
        self.dims
            .iter()
            .zip(cdf)
            .map(|((d, kern), cdf)| match kern {
                Kernels::Categorical { probs, .. } => rng.weighted(&probs[k]) as f64,
                Kernels::Numeric { mus, sigmas, low, high, log, step, .. } => {
                    let (mu, sigma) = (mus[k], sigmas[k]);
                    let (a, b) = cdf[k];
                    let u = a + rng.next_f64() * (b - a);
                    let mut x = (mu + sigma * ndtri(u)).clamp(*low, *high);
                    if *log {
                        x = x.exp();
                    }
                    if let (Some(s), Some((lo, hi))) = (step, d.bounds()) {
                        x = (lo + ((x - lo) / s).round() * s).clamp(lo, hi);
                    }
                    x
                }
            })
            .collect()
    }

    fn log_pdf(&self, x: &[f64]) -> f64 {
        let mut per_kernel = self.log_weights.clone();
        for ((_, kern), &xi) in self.dims.iter().zip(x) {
            match kern {
                Kernels::Categorical { log_probs, .. } => {
                    for (acc, p) in per_kernel.iter_mut().zip(log_probs) {
                        *acc += p[xi as usize];
                    }
                }
                Kernels::Numeric { mus, sigmas, inv_sigmas, log, step, log_mass, log_norm, .. } => match step {
                    None => {
                        let v = if *log { xi.ln() } else { xi };
                        for (k, acc) in per_kernel.iter_mut().enumerate() {
                            let z = (v - mus[k]) * inv_sigmas[k];
                            *acc -= 0.5 * z * z + log_norm[k];
                        }
                    }
                    Some(step) => {
                        let (l, r) = (xi - step / 2.0, xi + step / 2.0);
                        let (l, r) = if *log { (l.ln(), r.ln()) } else { (l, r) };
                        for (k, acc) in per_kernel.iter_mut().enumerate() {
                            let (mu, s) = (mus[k], sigmas[k]);
                            *acc += log_gauss_mass((l - mu) / s, (r - mu) / s) - log_mass[k];
                        }
                    }
                },
            }
        }
        let m = per_kernel.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if m == f64::NEG_INFINITY {
            return m;
        }
        m + per_kernel.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
    }
}

/// The kernels of one parameter from its observations (Optuna's
/// `_calculate_numerical_distributions` / `_calculate_categorical_distributions`).
fn kernels(obs: &[f64], d: &Distribution, prior_weight: f64, clip_exponent: f64) -> Kernels {
    let n_kernels = obs.len() + 1;
    if let Distribution::Categorical { choices } = d {
        let c = choices.len();
        let mut probs: Vec<Vec<f64>> = obs
            .iter()
            .map(|&o| {
                let mut row = vec![prior_weight / n_kernels as f64; c];
                row[o as usize] += 1.0;
                row
            })
            .collect();
        probs.push(vec![prior_weight / n_kernels as f64; c]);
        for row in &mut probs {
            let s: f64 = row.iter().sum();
            if s > 0.0 {
                row.iter_mut().for_each(|p| *p /= s);
            } else {
                row.iter_mut().for_each(|p| *p = 1.0 / c as f64);
            }
        }
        let log_probs = probs.iter().map(|row| row.iter().map(|p| p.ln()).collect()).collect();
        return Kernels::Categorical { probs, log_probs };
    }
    let (mut low, mut high) = d.bounds().unwrap_or((0.0, 1.0));
    let step = d.step();
    if let Some(s) = step {
        low -= s / 2.0;
        high += s / 2.0;
    }
    let log = d.is_log();
    let mut mus: Vec<f64> = obs.to_vec();
    if log {
        low = low.ln();
        high = high.ln();
        mus.iter_mut().for_each(|m| *m = m.ln());
    }
    let range = high - low;
    let mut sigmas = vec![0.0; mus.len()];
    if !mus.is_empty() {
        let mut order: Vec<usize> = (0..mus.len()).collect();
        order.sort_by(|&a, &b| mus[a].total_cmp(&mus[b]));
        let mut sorted = Vec::with_capacity(mus.len() + 2);
        sorted.push(low);
        sorted.extend(order.iter().map(|&i| mus[i]));
        sorted.push(high);
        let m = mus.len();
        let mut s: Vec<f64> = (1..=m).map(|i| (sorted[i] - sorted[i - 1]).max(sorted[i + 1] - sorted[i])).collect();
        if sorted.len() >= 4 {
            // consider_endpoints = False: the outermost kernels look inwards only.
            s[0] = sorted[2] - sorted[1];
            s[m - 1] = sorted[m] - sorted[m - 1];
        }
        let min_sigma = range / 100f64.min((1.0 + n_kernels as f64).powf(clip_exponent));
        for (rank, &i) in order.iter().enumerate() {
            sigmas[i] = s[rank].clamp(min_sigma, range.max(min_sigma));
        }
    }
    mus.push(0.5 * (low + high));
    sigmas.push(range);
    // Guard a zero-width range (a single-valued parameter).
    sigmas.iter_mut().for_each(|s| *s = s.max(1e-12));
    let log_mass: Vec<f64> =
        mus.iter().zip(&sigmas).map(|(&mu, &s)| log_gauss_mass((low - mu) / s, (high - mu) / s)).collect();
    let log_norm = sigmas.iter().zip(&log_mass).map(|(s, m)| s.ln() + m - norm_log_pdf(0.0)).collect();
    let inv_sigmas = sigmas.iter().map(|s| 1.0 / s).collect();
    Kernels::Numeric { mus, sigmas, inv_sigmas, low, high, log, step, log_mass, log_norm }
}

impl Sampler for TpeSampler {
    fn name(&self) -> &'static str {
        "tpe"
    }

    fn sample_relative(
        &self,
        ctx: &SampleContext<'_>,
        params: &[(String, Distribution)],
    ) -> Result<BTreeMap<String, f64>> {
        if !self.multivariate || params.is_empty() || Self::n_finished(ctx.trials) < self.n_startup_trials {
            return Ok(BTreeMap::new());
        }
        Ok(self.sample(ctx, params, 0))
    }

    fn sample_independent(&self, ctx: &SampleContext<'_>, name: &str, distribution: &Distribution) -> Result<f64> {
        if Self::n_finished(ctx.trials) < self.n_startup_trials {
            return Ok(RandomSampler::draw(self.seed, ctx.number, name, distribution));
        }
        let space = [(name.to_string(), distribution.clone())];
        Ok(self.sample(ctx, &space, hash_str(name))[name])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gamma_and_weights_match_optuna() {
        // optuna 5.0: [default_gamma(n) for n in [0, 1, 10, 11, 20, 30, 50, 60, 70, 100, 250, 300]]
        // and default_weights
        let optuna = TpeSampler::optuna(0).gamma;
        let ns = [0, 1, 10, 11, 20, 30, 50, 60, 70, 100, 250, 300];
        assert_eq!(ns.map(|n| gamma(n, optuna)), [0, 1, 1, 2, 2, 3, 5, 6, 7, 10, 25, 25]);
        // with_gamma(0.15): [min(math.ceil(0.15 * n), 25) for n in [0, 1, 10, 20, 50, 100, 300]]
        let ours = TpeSampler::new(0).with_gamma(0.15).expect("a valid fraction").gamma;
        assert_eq!([0, 1, 10, 20, 50, 100, 300].map(|n| gamma(n, ours)), [0, 1, 2, 3, 8, 15, 25]);
        assert_eq!(default_weights(3), vec![1.0; 3]);
        // default_weights(28) = [1/28, 0.5178571428571429, 1.0] + [1.0] * 25
        let w = default_weights(28);
        assert_eq!(w.len(), 28);
        assert!((w[0] - 1.0 / 28.0).abs() < 1e-15 && (w[1] - 0.5178571428571429).abs() < 1e-15 && w[2] == 1.0);
    }

    fn finished(number: u64, state: TrialState, value: Option<f64>) -> FrozenTrial {
        FrozenTrial {
            id: number,
            number,
            state,
            params: BTreeMap::new(),
            distributions: BTreeMap::new(),
            value,
            intermediate: BTreeMap::new(),
            started_ms: 0,
            finished_ms: None,
            heartbeat_ms: 0,
        }
    }

    #[test]
    fn improvement_weights_favour_the_best_trials() {
        let c = |n, v| finished(n, TrialState::Complete, Some(v));
        let below = [c(0, 3.0), c(1, 1.0), c(2, 2.0)];
        let above = [c(3, 7.0), c(4, 5.0)];
        let (b, a): (Vec<&FrozenTrial>, Vec<&FrozenTrial>) = (below.iter().collect(), above.iter().collect());
        // Split point (3 + 5) / 2 = 4: gains 1, 3, 2, scaled to mean 1.
        assert_eq!(improvement_weights(&b, &a, Direction::Minimize), vec![0.5, 1.5, 1.0]);
        // Maximising, the same values turn around: below 7 and 5 against above 3.
        let (b2, a2): (Vec<&FrozenTrial>, Vec<&FrozenTrial>) = (a.clone(), b.clone());
        assert_eq!(improvement_weights(&b2, &a2, Direction::Maximize), vec![1.5, 0.5]);
        // A pruned trial in the group gets the smallest weight of the others.
        let pruned = finished(5, TrialState::Pruned, None);
        let mut with_pruned = b.clone();
        with_pruned.push(&pruned);
        let w = improvement_weights(&with_pruned, &a, Direction::Minimize);
        assert_eq!(w[3], w[0]);
        assert!((w.iter().sum::<f64>() - 4.0).abs() < 1e-12);
        // Nothing above to compare with: equal weights.
        assert_eq!(improvement_weights(&b, &[], Direction::Minimize), vec![1.0; 3]);
    }

    #[test]
    fn bandwidths_match_optuna() {
        // optuna 5.0 _ParzenEstimator on FloatDistribution(0, 10) with observations
        // [1, 2, 6] (magic clip, no endpoints): sigmas [1, 4, 4] and prior sigma 10;
        // min sigma = 10 / min(100, 1 + 4) = 2, so [2, 4, 4, 10].
        let Kernels::Numeric { mus, sigmas, .. } = kernels(&[1.0, 2.0, 6.0], &Distribution::float(0.0, 10.0), 1.0, 1.0)
        else {
            panic!()
        };
        assert_eq!(mus, vec![1.0, 2.0, 6.0, 5.0]);
        assert_eq!(sigmas, vec![2.0, 4.0, 4.0, 10.0]);
    }
}

#[cfg(test)]
mod parity {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn log_density_matches_optuna() {
        // optuna 5.0: _ParzenEstimator({'x1': [1, -3, 7.5], 'x2': [2, 14, 6]},
        //   {'x1': Float(-5, 10), 'x2': Float(0, 15)}, defaults).log_pdf(
        //   {'x1': [0, 9.9, -4], 'x2': [3, 0.5, 12]})
        let want = [-5.122763747710013, -5.66466928537924, -5.34616806986451];
        let space = vec![
            ("x1".to_string(), Distribution::float(-5.0, 10.0)),
            ("x2".to_string(), Distribution::float(0.0, 15.0)),
        ];
        let trials: Vec<FrozenTrial> = [(1.0, 2.0), (-3.0, 14.0), (7.5, 6.0)]
            .iter()
            .enumerate()
            .map(|(i, &(a, b))| FrozenTrial {
                id: i as u64,
                number: i as u64,
                state: TrialState::Complete,
                params: BTreeMap::from([("x1".into(), a), ("x2".into(), b)]),
                distributions: space.iter().cloned().collect(),
                value: Some(0.0),
                intermediate: BTreeMap::new(),
                started_ms: 0,
                finished_ms: None,
                heartbeat_ms: 0,
            })
            .collect();
        let refs: Vec<&FrozenTrial> = trials.iter().collect();
        let pe = Parzen::new(&refs, default_weights(refs.len()), &space, 1.0, 1.0);
        for (x, w) in [[0.0, 3.0], [9.9, 0.5], [-4.0, 12.0]].iter().zip(want) {
            let got = pe.log_pdf(x);
            assert!((got - w).abs() < 1e-12, "{x:?}: {got} vs {w}");
        }
    }
}
