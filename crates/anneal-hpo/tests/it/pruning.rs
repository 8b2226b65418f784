//! Pruning in studies, and the synchronous successive-halving and Hyperband drivers.

use std::sync::Mutex;

use anneal_hpo::prelude::*;
use anneal_hpo::schedule::hyperband_brackets;

/// A learning curve whose final value is `x²` and that decays towards it.
fn curve(x: f64, step: u64) -> f64 {
    x * x + 1.0 / (1.0 + step as f64)
}

#[test]
fn median_pruner_stops_bad_trials_early() {
    let study =
        Study::builder("median").sampler(RandomSampler::new(1)).pruner(MedianPruner::new(5, 2)).build().unwrap();
    let trials = study
        .optimize(40, |t| {
            let x = t.suggest_float("x", -2.0, 2.0)?;
            for step in 0..10 {
                t.report(step, curve(x, step))?;
                if t.should_prune()? {
                    return Err(ObjectiveError::Pruned);
                }
            }
            Ok(curve(x, 9))
        })
        .unwrap();
    let pruned: Vec<_> = trials.iter().filter(|t| t.state == TrialState::Pruned).collect();
    assert!(pruned.len() >= 10, "{} pruned", pruned.len());
    for t in &pruned {
        assert!(t.number >= 5, "no pruning during the 5 start-up trials");
        assert!(t.last_intermediate().unwrap().0 >= 2, "no pruning during the 2 warm-up steps");
    }
    // The pruned trials are mostly the bad ones.
    let mean = |v: Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
    let pruned_x = mean(pruned.iter().map(|t| t.param("x").unwrap().as_f64().unwrap().abs()).collect());
    let kept_x = mean(
        trials
            .iter()
            .filter(|t| t.state == TrialState::Complete)
            .map(|t| t.param("x").unwrap().as_f64().unwrap().abs())
            .collect(),
    );
    assert!(pruned_x > kept_x);
}

#[test]
fn successive_halving_keeps_the_best_third_at_each_rung() {
    let study = Study::builder("sh").sampler(RandomSampler::new(2)).build().unwrap();
    let calls = Mutex::new(Vec::new());
    let trials = study
        .successive_halving(9, 1.0, 3.0, |t, budget| {
            calls.lock().unwrap().push((t.number(), budget));
            let x = t.suggest_float("x", -2.0, 2.0)?;
            Ok(curve(x, budget as u64))
        })
        .unwrap();
    let calls = calls.into_inner().unwrap();
    // 9 configurations at budget 1, 3 at budget 3, 1 at budget 9.
    let at = |b: f64| calls.iter().filter(|c| c.1 == b).count();
    assert_eq!((at(1.0), at(3.0), at(9.0)), (9, 3, 1));
    assert_eq!(trials.len(), 9);
    let complete: Vec<_> = trials.iter().filter(|t| t.state == TrialState::Complete).collect();
    assert_eq!(complete.len(), 1);
    let best_x = trials.iter().map(|t| t.param("x").unwrap().as_f64().unwrap().abs()).fold(f64::INFINITY, f64::min);
    assert_eq!(complete[0].param("x").unwrap().as_f64().unwrap().abs(), best_x, "the survivor is the best config");
    assert_eq!(complete[0].intermediate.keys().copied().collect::<Vec<_>>(), vec![1, 3, 9]);
}

#[test]
fn hyperband_runs_every_bracket_of_the_paper() {
    let study = Study::builder("hb").sampler(RandomSampler::new(3)).build().unwrap();
    let calls = Mutex::new(Vec::new());
    let trials = study
        .hyperband(27.0, 3.0, |t, budget| {
            calls.lock().unwrap().push(budget);
            let x = t.suggest_float("x", -2.0, 2.0)?;
            Ok(curve(x, budget as u64))
        })
        .unwrap();
    let brackets = hyperband_brackets(27.0, 3.0).unwrap();
    let configs: usize = brackets.iter().map(|b| b.n_configs()).sum();
    assert_eq!(trials.len(), configs);
    assert_eq!(configs, 27 + 12 + 6 + 4);
    let evaluations: usize = brackets.iter().flat_map(|b| b.rungs.iter().map(|r| r.n_configs)).sum();
    assert_eq!(calls.lock().unwrap().len(), evaluations);
    let total: f64 = calls.lock().unwrap().iter().sum();
    let planned: f64 = brackets.iter().map(|b| b.total_budget()).sum();
    assert_eq!(total, planned);
    // Every configuration of a bracket's last rung completes (1, 1, 2 and 4 here).
    let last: usize = brackets.iter().map(|b| b.rungs.last().unwrap().n_configs).sum();
    assert_eq!(trials.iter().filter(|t| t.state == TrialState::Complete).count(), last);
    assert_eq!(last, 8);
}

#[test]
fn asha_prunes_in_parallel_studies() {
    let study =
        Study::builder("asha").sampler(RandomSampler::new(4)).pruner(AshaPruner::new(1, 3.0).unwrap()).build().unwrap();
    let trials = study
        .optimize_parallel(30, 3, |t| {
            let x = t.suggest_float("x", -2.0, 2.0)?;
            for step in 1..=27 {
                t.report(step, curve(x, step))?;
                if t.should_prune()? {
                    return Err(ObjectiveError::Pruned);
                }
            }
            Ok(curve(x, 27))
        })
        .unwrap();
    let pruned = trials.iter().filter(|t| t.state == TrialState::Pruned).count();
    assert!(pruned >= 15, "{pruned} of 30 pruned");
    for t in trials.iter().filter(|t| t.state == TrialState::Pruned) {
        assert!([1, 3, 9, 27].contains(&t.last_intermediate().unwrap().0), "pruned only at rungs");
    }
}

#[test]
fn hyperband_with_resumed_trials_trains_the_resumed_budget() {
    // An objective that keeps each trial's progress and trains only the extra budget,
    // as a checkpointing training run does: it trains Σ n_i (r_i − r_{i−1}) per bracket,
    // and every survivor's budgets only grow.
    let study = Study::builder("hb-resume").sampler(RandomSampler::new(5)).build().unwrap();
    let done: Mutex<std::collections::HashMap<u64, f64>> = Mutex::new(Default::default());
    let trained = Mutex::new(0.0);
    // Recorded, not asserted inside: the driver turns an objective's panic into a failed trial.
    let shrinking = Mutex::new(Vec::new());
    study
        .hyperband(27.0, 3.0, |t, budget| {
            let before = done.lock().unwrap().insert(t.number(), budget).unwrap_or(0.0);
            if budget <= before {
                shrinking.lock().unwrap().push((t.number(), before, budget));
            }
            *trained.lock().unwrap() += budget - before;
            let x = t.suggest_float("x", -2.0, 2.0)?;
            Ok(curve(x, budget as u64))
        })
        .unwrap();
    let brackets = hyperband_brackets(27.0, 3.0).unwrap();
    let resumed: f64 = brackets.iter().map(|b| b.resumed_budget()).sum();
    assert_eq!(shrinking.lock().unwrap().as_slice(), &[]);
    assert_eq!(*trained.lock().unwrap(), resumed);
    assert_eq!(resumed, 357.0);
}
