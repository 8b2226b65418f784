//! Studies: ask/tell, define-by-run, conditional spaces, storage rules, parallel workers
//! and stale trials.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anneal_hpo::prelude::*;
use anneal_hpo::storage::now_ms;
use anneal_hpo::{HpoError, ParamValue};

#[test]
fn ask_and_tell_by_hand() {
    let study = Study::builder("manual").direction(Direction::Maximize).build().unwrap();
    for i in 0..4 {
        let mut trial = study.ask().unwrap();
        assert_eq!(trial.number(), i);
        let x = trial.suggest_float("x", 0.0, 1.0).unwrap();
        assert_eq!(trial.suggest_float("x", 0.0, 1.0).unwrap(), x, "a repeated suggestion returns the same value");
        let e = trial.suggest_float("x", 0.0, 2.0).unwrap_err();
        assert!(matches!(e, HpoError::ParamRedefined { .. }));
        study.tell(trial, x).unwrap();
    }
    let trials = study.trials().unwrap();
    let best = study.best_trial().unwrap().unwrap();
    let max = trials.iter().map(|t| t.value.unwrap()).fold(f64::MIN, f64::max);
    assert_eq!(best.value, Some(max), "maximising: the best trial has the largest value");
    // A non-finite value fails the trial instead of poisoning the samplers.
    let t = study.ask().unwrap();
    assert_eq!(study.tell(t, f64::NAN).unwrap().state, TrialState::Failed);
}

#[test]
fn a_finished_trial_cannot_be_changed() {
    let storage: Arc<dyn Storage> = Arc::new(InMemoryStorage::new());
    let study = Study::builder("s").storage(storage.clone()).build().unwrap();
    let mut trial = study.ask().unwrap();
    trial.report(1, 0.5).unwrap();
    let id = trial.id();
    let done = study.tell_pruned(trial).unwrap();
    assert_eq!((done.state, done.value), (TrialState::Pruned, Some(0.5)));
    let e = storage.finish_trial(id, TrialState::Complete, Some(1.0), 0).unwrap_err();
    assert!(matches!(e, HpoError::TrialNotRunning { state: "pruned", .. }), "{e}");
    assert!(storage.report(id, 2, 0.1, 0).is_err());
}

#[test]
fn reusing_a_study_name_needs_the_same_space() {
    let storage: Arc<dyn Storage> = Arc::new(InMemoryStorage::new());
    let space = SearchSpace::new().with("x", Distribution::float(0.0, 1.0));
    let a = Study::builder("shared").storage(storage.clone()).space(space.clone()).build().unwrap();
    a.optimize(3, |t| Ok(t.suggest_space()?["x"].as_f64().unwrap())).unwrap();
    // Same name, same space: the study is loaded and continues its numbering.
    let b = Study::builder("shared").storage(storage.clone()).space(space).build().unwrap();
    assert_eq!(b.id(), a.id());
    assert_eq!(b.ask().unwrap().number(), 3);
    let other = SearchSpace::new().with("x", Distribution::float(0.0, 2.0));
    let e = Study::builder("shared").storage(storage.clone()).space(other).build().unwrap_err();
    assert!(matches!(&e, HpoError::StudyConflict { what: "search space", .. }), "{e}");
    assert_eq!(e.to_string(), "study `shared` already exists with a different search space");
    let e = Study::builder("shared")
        .storage(storage)
        .space(SearchSpace::new().with("x", Distribution::float(0.0, 1.0)))
        .direction(Direction::Maximize)
        .build()
        .unwrap_err();
    assert!(matches!(e, HpoError::StudyConflict { what: "direction", .. }));
    let e = Study::builder("empty").space(SearchSpace::new()).build().unwrap_err();
    assert!(matches!(e, HpoError::EmptySpace));
}

#[test]
fn conditional_parameters_appear_only_under_their_parent_values() {
    let space = SearchSpace::new()
        .with("optimizer", Distribution::categorical(["sgd", "adam"]))
        .with_condition("momentum", Distribution::float(0.0, 0.99), "optimizer", ["sgd"])
        .with_condition("beta2", Distribution::log_float(0.9, 0.9999), "optimizer", ["adam"])
        .with("lr", Distribution::log_float(1e-4, 1e-1));
    for sampler in [
        Box::new(TpeSampler::new(0)) as Box<dyn anneal_hpo::sampler::Sampler>,
        Box::new(RandomSampler::new(0)),
        Box::new(SobolSampler::new(0)),
    ] {
        let study = Study::builder("cond").space(space.clone()).sampler(sampler).build().unwrap();
        let trials = study
            .optimize(30, |t| {
                let p = t.suggest_space()?;
                let lr = p["lr"].as_f64().unwrap();
                Ok(match p["optimizer"].as_str() {
                    Some("sgd") => lr.log10().abs() + p["momentum"].as_f64().unwrap(),
                    _ => lr.log10().abs() + p["beta2"].as_f64().unwrap(),
                })
            })
            .unwrap();
        for t in &trials {
            let sgd = t.param("optimizer") == Some(ParamValue::Categorical("sgd".into()));
            assert_eq!(t.params.contains_key("momentum"), sgd);
            assert_eq!(t.params.contains_key("beta2"), !sgd);
        }
        assert!(
            trials.iter().any(|t| t.params.contains_key("momentum"))
                && trials.iter().any(|t| t.params.contains_key("beta2"))
        );
    }
}

#[test]
fn failures_and_panics_fail_one_trial_and_the_study_goes_on() {
    let study = Study::builder("robust").build().unwrap();
    let trials = study
        .optimize(6, |t| {
            let x = t.suggest_float("x", 0.0, 1.0)?;
            match t.number() {
                1 => Err(ObjectiveError::failed("diverged")),
                2 => panic!("objective bug"),
                _ => Ok(x),
            }
        })
        .unwrap();
    let states: Vec<TrialState> = trials.iter().map(|t| t.state).collect();
    assert_eq!(states[1], TrialState::Failed);
    assert_eq!(states[2], TrialState::Failed);
    assert_eq!(states.iter().filter(|s| **s == TrialState::Complete).count(), 4);
    // A search-space error inside the objective stops the study with that error.
    let e = study.optimize(3, |t| Ok(t.suggest_float_log("bad", 0.0, 1.0)?)).unwrap_err();
    assert!(matches!(e, HpoError::LogRangeNotPositive { .. }), "{e}");
}

#[test]
fn parallel_workers_never_lose_a_finished_trial() {
    let storage: Arc<dyn Storage> = Arc::new(InMemoryStorage::new());
    let study = Study::builder("parallel")
        .storage(storage.clone())
        .sampler(TpeSampler::new(7))
        .pruner(MedianPruner::new(3, 1))
        .build()
        .unwrap();
    let calls = AtomicUsize::new(0);
    let returned = study
        .optimize_parallel(60, 4, |t| {
            calls.fetch_add(1, Ordering::SeqCst);
            let x = t.suggest_float("x", -3.0, 3.0)?;
            for step in 0..4 {
                t.report(step, x * x + 1.0 / (step + 1) as f64)?;
                if t.should_prune()? {
                    return Err(ObjectiveError::Pruned);
                }
            }
            if t.number() % 13 == 5 {
                panic!("worker bug");
            }
            Ok(x * x)
        })
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 60);
    assert_eq!(returned.len(), 60);
    let stored = storage.trials(study.id(), None).unwrap();
    assert_eq!(stored.len(), 60);
    let numbers: Vec<u64> = stored.iter().map(|t| t.number).collect();
    assert_eq!(numbers, (0..60).collect::<Vec<_>>(), "numbers are unique and dense");
    assert!(stored.iter().all(|t| t.state.is_finished()));
    assert!(stored.iter().any(|t| t.state == TrialState::Pruned));
    for t in stored.iter().filter(|t| t.state == TrialState::Complete) {
        let r = returned.iter().find(|r| r.id == t.id).unwrap();
        assert_eq!(r.value, t.value);
    }
}

#[test]
fn stale_running_trials_are_failed_after_the_heartbeat_timeout() {
    let storage: Arc<dyn Storage> = Arc::new(InMemoryStorage::new());
    let study = Study::builder("stale").storage(storage.clone()).build().unwrap();
    let dead = study.ask().unwrap();
    let alive = study.ask().unwrap();
    // The dead worker's last heartbeat was when it started; the live one beats a minute later.
    let t0 = now_ms();
    storage.heartbeat(alive.id(), t0 + 60_000).unwrap();
    let failed = storage.fail_stale_trials(study.id(), 30_000, t0 + 61_000).unwrap();
    assert_eq!(failed.iter().map(|t| t.id).collect::<Vec<_>>(), vec![dead.id()]);
    assert_eq!(storage.trial(dead.id()).unwrap().state, TrialState::Failed);
    // The dead worker coming back cannot overwrite the decision.
    assert!(matches!(study.tell(dead, 1.0), Err(HpoError::TrialNotRunning { .. })));
    assert!(study.tell(alive, 1.0).is_ok());
    assert!(study.fail_stale_trials(Duration::from_secs(3600)).unwrap().is_empty());
}

#[test]
fn a_worker_without_a_slot_returns_soon_after_the_last_trial_ends() {
    // Two workers, three trials, a long heartbeat timeout: the worker that finds every
    // slot taken waits for the other's last trial, and must notice its end within about
    // a second, not a quarter of the heartbeat timeout (15 s here).
    let study = Study::builder("tail").build().unwrap();
    let start = std::time::Instant::now();
    let finished = study
        .optimize_until(3, 2, Duration::from_secs(60), |t| {
            std::thread::sleep(Duration::from_millis(300));
            Ok(t.suggest_float("x", 0.0, 1.0)?)
        })
        .unwrap();
    assert_eq!(finished.len(), 3);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn an_objective_that_always_fails_stops_the_study_instead_of_looping() {
    // optimize_until hands a failed trial's slot out again; without a limit an objective
    // that cannot succeed (a missing data file) would create trials forever.
    let study = Study::builder("broken").max_failures_in_a_row(4).build().unwrap();
    let calls = AtomicUsize::new(0);
    let err = study
        .optimize_until(20, 1, Duration::from_secs(60), |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(ObjectiveError::failed("data/missing.csv: no such file"))
        })
        .unwrap_err();
    match &err {
        HpoError::FailingObjective { count, last } => {
            assert_eq!(*count, 4);
            assert!(last.contains("data/missing.csv"), "{last}");
        }
        other => panic!("expected FailingObjective, got {other:?}"),
    }
    assert!(err.to_string().contains("4 trials in a row"), "{err}");
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    let trials = study.trials().unwrap();
    assert_eq!(trials.len(), 4);
    assert!(trials.iter().all(|t| t.state == TrialState::Failed));
}

#[test]
fn occasional_failures_do_not_stop_the_study() {
    // Every other trial fails: never two in a row, so the target is reached.
    let study = Study::builder("flaky").max_failures_in_a_row(2).build().unwrap();
    let finished = study
        .optimize_until(6, 1, Duration::from_secs(60), |t| {
            if t.number() % 2 == 1 {
                return Err(ObjectiveError::failed("diverged"));
            }
            Ok(t.suggest_float("x", 0.0, 1.0)?)
        })
        .unwrap();
    let complete = finished.iter().filter(|t| t.state == TrialState::Complete).count();
    assert_eq!(complete, 6);
    assert_eq!(finished.iter().filter(|t| t.state == TrialState::Failed).count(), 5);
}
