//! The exploration–exploitation dilemma in its purest form: a multi-armed
//! bandit, where every action is a single step and the only question is which
//! arm to pull next. Three strategies and the regret they incur:
//!
//! - ε-greedy, optionally with ε decaying as `ε₀ / (1 + decay·t)`;
//! - UCB1 (Auer, Cesa-Bianchi & Fischer 2002), whose expected regret after `n`
//!   pulls of arms with rewards in `[0, 1]` is at most
//!   `8·Σ ln n / Δᵢ + (1 + π²/3)·Σ Δᵢ` ([`ucb1_bound`]);
//! - Thompson sampling (Thompson 1933; Agrawal & Goyal 2012): Beta posteriors
//!   for Bernoulli arms, Gaussian ones for Gaussian arms.
//!
//! No strategy can beat the Lai & Robbins (1985) lower bound
//! `Σ Δᵢ / KL(μᵢ, μ*) · ln n` asymptotically ([`lai_robbins`]).

use anneal_core::SeededRng;
use serde::{Deserialize, Serialize};

use crate::error::{Result, setting};

/// The arms of a bandit and their reward distributions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Arms {
    /// Arm `i` pays 1 with probability `means[i]`, else 0.
    Bernoulli {
        /// Success probabilities.
        means: Vec<f64>,
    },
    /// Arm `i` pays a draw from `N(means[i], std²)`.
    Gaussian {
        /// Mean rewards.
        means: Vec<f64>,
        /// The common standard deviation, positive.
        std: f64,
    },
}

impl Arms {
    /// The arms' mean rewards.
    pub fn means(&self) -> &[f64] {
        match self {
            Arms::Bernoulli { means } | Arms::Gaussian { means, .. } => means,
        }
    }

    /// Checks the arms: at least two, Bernoulli means in `[0, 1]`, finite
    /// Gaussian means, a positive standard deviation.
    pub fn validate(&self) -> Result<()> {
        let means = self.means();
        if means.len() < 2 {
            return Err(setting("means", format!("{means:?}"), "at least two arms"));
        }
        match self {
            Arms::Bernoulli { means } => {
                if let Some(m) = means.iter().find(|m| !(0.0..=1.0).contains(*m)) {
                    return Err(setting("means", m, "Bernoulli means in [0, 1]"));
                }
            }
            Arms::Gaussian { means, std } => {
                if let Some(m) = means.iter().find(|m| !m.is_finite()) {
                    return Err(setting("means", m, "finite means"));
                }
                if !(*std > 0.0 && std.is_finite()) {
                    return Err(setting("std", std, "positive and finite"));
                }
            }
        }
        Ok(())
    }

    fn pull(&self, arm: usize, rng: &mut SeededRng) -> f64 {
        match self {
            Arms::Bernoulli { means } => f64::from(u8::from(rng.next_f64() < means[arm])),
            Arms::Gaussian { means, std } => means[arm] + std * rng.normal(),
        }
    }

    /// The gaps `Δᵢ = μ* − μᵢ`.
    pub fn gaps(&self) -> Vec<f64> {
        let best = self.means().iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        self.means().iter().map(|m| best - m).collect()
    }
}

/// How the next arm is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Strategy {
    /// A uniformly random arm with probability `ε_t = epsilon / (1 + decay·t)`,
    /// otherwise the arm with the best mean so far (ties: the first).
    EpsilonGreedy {
        /// ε at the first pull, in `[0, 1]`.
        epsilon: f64,
        /// Decay rate (0: constant ε).
        #[serde(default)]
        decay: f64,
    },
    /// Each arm once, then the arm maximising `mean + √(2 ln t / nᵢ)`.
    Ucb1,
    /// A draw from each arm's posterior (Beta(1+s, 1+f) for Bernoulli arms;
    /// `N(mean, std²/(nᵢ+1))` for Gaussian arms), the largest one's arm.
    Thompson,
}

impl Strategy {
    /// A short label for legends.
    pub fn label(&self) -> String {
        match self {
            Strategy::EpsilonGreedy { epsilon, decay } if *decay > 0.0 => {
                format!("ε-greedy (ε₀={epsilon}, decay {decay})")
            }
            Strategy::EpsilonGreedy { epsilon, .. } => format!("ε-greedy (ε={epsilon})"),
            Strategy::Ucb1 => "UCB1".into(),
            Strategy::Thompson => "Thompson sampling".into(),
        }
    }

    fn validate(&self) -> Result<()> {
        if let Strategy::EpsilonGreedy { epsilon, decay } = *self {
            if !(0.0..=1.0).contains(&epsilon) {
                return Err(setting("epsilon", epsilon, "in [0, 1]"));
            }
            if !(decay >= 0.0 && decay.is_finite()) {
                return Err(setting("decay", decay, "non-negative and finite"));
            }
        }
        Ok(())
    }
}

/// One bandit run.
#[derive(Debug, Clone, PartialEq)]
pub struct BanditRun {
    /// Cumulative pseudo-regret `Σ_{s ≤ t} (μ* − μ_{a_s})` after each pull.
    pub regret: Vec<f64>,
    /// Pulls of each arm.
    pub pulls: Vec<usize>,
    /// Total reward collected.
    pub reward: f64,
}

/// Plays `strategy` on `arms` for `horizon` pulls with the generator of `seed`.
///
/// ```
/// use anneal_rl::bandit::{Arms, Strategy, play};
///
/// let arms = Arms::Bernoulli { means: vec![0.9, 0.5] };
/// let run = play(&arms, Strategy::Ucb1, 1000, 7)?;
/// assert!(run.pulls[0] > run.pulls[1]); // the better arm is pulled far more
/// # Ok::<(), anneal_rl::RlError>(())
/// ```
pub fn play(arms: &Arms, strategy: Strategy, horizon: usize, seed: u64) -> Result<BanditRun> {
    arms.validate()?;
    strategy.validate()?;
    let k = arms.means().len();
    let gaps = arms.gaps();
    let mut env_rng = SeededRng::stream(seed, anneal_core::Stream::Named("bandit_rewards", 0));
    let mut rng = SeededRng::stream(seed, anneal_core::Stream::Named("bandit_strategy", 0));
    let (mut pulls, mut sums) = (vec![0usize; k], vec![0.0f64; k]);
    let mut regret = Vec::with_capacity(horizon);
    let (mut total_regret, mut reward) = (0.0, 0.0);
    for t in 0..horizon {
        let mean = |i: usize| if pulls[i] == 0 { 0.0 } else { sums[i] / pulls[i] as f64 };
        let arm = match strategy {
            Strategy::EpsilonGreedy { epsilon, decay } => {
                let eps = epsilon / (1.0 + decay * t as f64);
                if rng.next_f64() < eps { rng.below(k as u64) as usize } else { argmax((0..k).map(mean)) }
            }
            Strategy::Ucb1 => match pulls.iter().position(|&n| n == 0) {
                Some(untried) => untried,
                None => argmax((0..k).map(|i| mean(i) + (2.0 * (t as f64).ln() / pulls[i] as f64).sqrt())),
            },
            Strategy::Thompson => match arms {
                Arms::Bernoulli { .. } => argmax((0..k).map(|i| {
                    let s = sums[i];
                    rng.beta(1.0 + s, 1.0 + pulls[i] as f64 - s)
                })),
                Arms::Gaussian { std, .. } => argmax((0..k).map(|i| {
                    let n = pulls[i] as f64;
                    sums[i] / (n + 1.0) + std / (n + 1.0).sqrt() * rng.normal()
                })),
            },
        };
        let r = arms.pull(arm, &mut env_rng);
        pulls[arm] += 1;
        sums[arm] += r;
        reward += r;
        total_regret += gaps[arm];
        regret.push(total_regret);
    }
    Ok(BanditRun { regret, pulls, reward })
}

/// The mean cumulative regret curve over `runs` runs (seeds `seed..seed+runs`).
pub fn mean_regret(arms: &Arms, strategy: Strategy, horizon: usize, runs: usize, seed: u64) -> Result<Vec<f64>> {
    let mut mean = vec![0.0; horizon];
    for r in 0..runs {
        let run = play(arms, strategy, horizon, seed.wrapping_add(r as u64))?;
        for (m, v) in mean.iter_mut().zip(run.regret) {
            *m += v / runs as f64;
        }
    }
    Ok(mean)
}

/// UCB1's bound on the expected regret after `n` pulls (Auer et al. 2002,
/// Theorem 1), for rewards in `[0, 1]`: `8·Σ_{Δᵢ>0} ln n / Δᵢ + (1 + π²/3)·Σ Δᵢ`.
pub fn ucb1_bound(means: &[f64], n: usize) -> f64 {
    let best = means.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let gaps: Vec<f64> = means.iter().map(|m| best - m).filter(|g| *g > 0.0).collect();
    let ln_n = (n.max(1) as f64).ln();
    8.0 * gaps.iter().map(|g| ln_n / g).sum::<f64>()
        + (1.0 + std::f64::consts::PI.powi(2) / 3.0) * gaps.iter().sum::<f64>()
}

/// The Lai–Robbins constant for Bernoulli arms: `Σ_{Δᵢ>0} Δᵢ / KL(μᵢ, μ*)`,
/// where the regret of any consistent strategy grows at least as this times
/// `ln n` (asymptotically).
pub fn lai_robbins(means: &[f64]) -> f64 {
    let best = means.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let kl = |p: f64, q: f64| {
        let term = |a: f64, b: f64| if a == 0.0 { 0.0 } else { a * (a / b).ln() };
        term(p, q) + term(1.0 - p, 1.0 - q)
    };
    means.iter().filter(|&&m| m < best).map(|&m| (best - m) / kl(m, best)).sum()
}

/// The Lai–Robbins constant for Gaussian arms of a common standard deviation
/// σ: `KL(N(μᵢ, σ²), N(μ*, σ²)) = Δᵢ² / 2σ²`, so the constant is `Σ 2σ² / Δᵢ`.
pub fn lai_robbins_gaussian(means: &[f64], std: f64) -> f64 {
    let best = means.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    means.iter().filter(|&&m| m < best).map(|&m| 2.0 * std * std / (best - m)).sum()
}

fn argmax(values: impl Iterator<Item = f64>) -> usize {
    let mut best = (0, f64::NEG_INFINITY);
    for (i, v) in values.enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussian_lai_robbins_is_two_sigma_squared_over_the_gaps() {
        // Gaps 0.5 and 1 with σ = 2: 2·4/0.5 + 2·4/1 = 24.
        assert!((lai_robbins_gaussian(&[1.0, 0.5, 0.0], 2.0) - 24.0).abs() < 1e-12);
    }
}
