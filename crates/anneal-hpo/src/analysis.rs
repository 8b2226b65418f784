//! What a study's trials say, for reports and dashboards: parameter importances
//! and the best-so-far history.
//!
//! ```
//! use anneal_hpo::analysis::{best_so_far, importances};
//! use anneal_hpo::prelude::*;
//!
//! let study = Study::builder("demo").sampler(RandomSampler::new(0)).build()?;
//! study.optimize(40, |trial| {
//!     let x = trial.suggest_float("x", 0.0, 3.0)?;
//!     let noise = trial.suggest_float("noise", 0.0, 0.01)?;
//!     Ok(x + noise)
//! })?;
//! let trials = study.trials()?;
//! let shares = importances(trials.iter().map(|t| &**t));
//! assert_eq!(shares[0].0, "x");
//! assert!(shares[0].1 > 0.8, "{shares:?}");
//! let history = best_so_far(trials.iter().map(|t| &**t), Direction::Minimize);
//! assert!(history.windows(2).all(|w| w[1].2 <= w[0].2));
//! # Ok::<(), anneal_hpo::HpoError>(())
//! ```

use std::collections::BTreeMap;

use crate::space::Distribution;
use crate::storage::{Direction, FrozenTrial, TrialState};

/// Variance-based importance of each parameter over the complete trials: the
/// trials are grouped by the parameter (its category, or the quartile of its
/// internal value for a number) and the between-group variance of the objective
/// is divided by its total variance; the shares are normalised to sum to 1 and
/// sorted, largest first. A cheap first-order estimate: it sees no interactions.
/// Fewer than 4 complete trials give no importances; a parameter that fewer than
/// 4 of them have (a conditional one) gets 0.
pub fn importances<'a>(trials: impl IntoIterator<Item = &'a FrozenTrial>) -> Vec<(String, f64)> {
    let complete: Vec<&FrozenTrial> =
        trials.into_iter().filter(|t| t.state == TrialState::Complete && t.value.is_some_and(f64::is_finite)).collect();
    if complete.len() < 4 {
        return Vec::new();
    }
    let mut kinds: BTreeMap<&str, bool> = BTreeMap::new();
    for t in &complete {
        for (name, d) in &t.distributions {
            kinds.entry(name).or_insert(matches!(d, Distribution::Categorical { .. }));
        }
    }
    let values: Vec<f64> = complete.iter().filter_map(|t| t.value).collect();
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let total: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
    let mut raw = Vec::new();
    for (name, categorical) in kinds {
        let mut pairs: Vec<(f64, f64)> =
            complete.iter().filter_map(|t| Some((*t.params.get(name)?, t.value?))).collect();
        if pairs.len() < 4 || total <= 0.0 {
            raw.push((name.to_string(), 0.0));
            continue;
        }
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut groups: BTreeMap<i64, (f64, usize)> = BTreeMap::new();
        for (i, (x, v)) in pairs.iter().enumerate() {
            let key = if categorical { *x as i64 } else { (4 * i / pairs.len()) as i64 };
            let g = groups.entry(key).or_insert((0.0, 0));
            g.0 += v;
            g.1 += 1;
        }
        let between: f64 = groups
            .values()
            .map(|&(sum, n)| {
                let m = sum / n as f64;
                n as f64 * (m - mean).powi(2)
            })
            .sum();
        raw.push((name.to_string(), between / total));
    }
    let sum: f64 = raw.iter().map(|(_, v)| v).sum();
    if sum > 0.0 {
        for (_, v) in &mut raw {
            *v /= sum;
        }
    }
    raw.sort_by(|a, b| b.1.total_cmp(&a.1));
    raw
}

/// The complete trials in the order given, each as `(number, value, best value so
/// far)` under `direction`: the optimisation history.
pub fn best_so_far<'a>(
    trials: impl IntoIterator<Item = &'a FrozenTrial>,
    direction: Direction,
) -> Vec<(u64, f64, f64)> {
    let mut best: Option<f64> = None;
    trials
        .into_iter()
        .filter(|t| t.state == TrialState::Complete)
        .filter_map(|t| {
            let v = t.value?;
            let b = match best {
                Some(b) if !direction.better(v, b) => b,
                _ => v,
            };
            best = Some(b);
            Some((t.number, v, b))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(number: u64, x: f64, c: f64, value: f64) -> FrozenTrial {
        let mut t = FrozenTrial::running(number, number, 0);
        t.state = TrialState::Complete;
        t.value = Some(value);
        t.params.insert("x".into(), x);
        t.distributions.insert("x".into(), Distribution::float(0.0, 1.0));
        t.params.insert("c".into(), c);
        t.distributions.insert("c".into(), Distribution::categorical(["a", "b"]));
        t
    }

    #[test]
    fn the_parameter_that_sets_the_value_takes_the_variance() {
        // The value is the category alone: x explains nothing beyond chance grouping.
        let trials: Vec<FrozenTrial> =
            (0..40).map(|i| trial(i, (i * 7 % 40) as f64 / 40.0, (i % 2) as f64, (i % 2) as f64 * 10.0)).collect();
        let shares = importances(&trials);
        assert_eq!(shares[0].0, "c");
        assert!(shares[0].1 > 0.95, "{shares:?}");
        assert!((shares.iter().map(|s| s.1).sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn too_few_or_constant_trials_give_nothing_or_zeros() {
        let few: Vec<FrozenTrial> = (0..3).map(|i| trial(i, 0.5, 0.0, i as f64)).collect();
        assert!(importances(&few).is_empty());
        let flat: Vec<FrozenTrial> = (0..8).map(|i| trial(i, i as f64 / 8.0, 0.0, 1.0)).collect();
        assert!(importances(&flat).iter().all(|s| s.1 == 0.0));
    }

    #[test]
    fn best_so_far_follows_the_direction_and_skips_unfinished_trials() {
        let mut trials: Vec<FrozenTrial> =
            [3.0, 5.0, 1.0, 2.0].iter().enumerate().map(|(i, &v)| trial(i as u64, 0.0, 0.0, v)).collect();
        trials[1].state = TrialState::Pruned;
        assert_eq!(best_so_far(&trials, Direction::Minimize), vec![(0, 3.0, 3.0), (2, 1.0, 1.0), (3, 2.0, 1.0)]);
        assert_eq!(best_so_far(&trials, Direction::Maximize), vec![(0, 3.0, 3.0), (2, 1.0, 3.0), (3, 2.0, 3.0)]);
    }
}
