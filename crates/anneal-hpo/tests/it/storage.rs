//! Storage backends: one behaviour suite run on memory, SQLite and PostgreSQL, and
//! many worker processes sharing one SQLite file or one PostgreSQL database.
//!
//! PostgreSQL tests need a server: `cargo xtask ci` starts one and sets
//! `ANNEAL_TEST_POSTGRES_URL`; under `CI` a missing URL is a failure, elsewhere the
//! PostgreSQL tests say they were skipped.

use std::collections::BTreeSet;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

use anneal_hpo::prelude::*;
use anneal_hpo::storage::now_ms;
use anneal_hpo::{HpoError, open_storage};

/// Set in a child process: `url|study|trials|seed`.
const WORKER: &str = "ANNEAL_HPO_TEST_WORKER";

fn space() -> SearchSpace {
    SearchSpace::new()
        .with("x", Distribution::float(-5.0, 10.0))
        .with("y", Distribution::float(0.0, 15.0))
        .with("kind", Distribution::categorical(["a", "b", "c"]))
}

fn postgres_url() -> Option<String> {
    match std::env::var("ANNEAL_TEST_POSTGRES_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("CI must run the PostgreSQL tests: set ANNEAL_TEST_POSTGRES_URL (cargo xtask ci does)")
        }
        Err(_) => {
            eprintln!("skipped: ANNEAL_TEST_POSTGRES_URL is not set (cargo xtask ci starts a server and sets it)");
            None
        }
    }
}

/// A study name no earlier run of the tests used (PostgreSQL databases outlive runs).
fn fresh_name(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), now_ms())
}

/// The behaviour every backend shares.
fn behaves(storage: Arc<dyn Storage>, name: &str) {
    let id = storage.create_study(name, Direction::Minimize, Some(&space())).unwrap();
    assert_eq!(storage.create_study(name, Direction::Minimize, Some(&space())).unwrap(), id, "reopening is idempotent");
    assert_eq!(storage.study_id(name).unwrap(), id);
    let other = SearchSpace::new().with("x", Distribution::float(0.0, 1.0));
    assert!(matches!(
        storage.create_study(name, Direction::Minimize, Some(&other)),
        Err(HpoError::StudyConflict { what: "search space", .. })
    ));
    assert!(matches!(
        storage.create_study(name, Direction::Maximize, Some(&space())),
        Err(HpoError::StudyConflict { what: "direction", .. })
    ));
    assert!(matches!(storage.study_id("no such study here"), Err(HpoError::UnknownStudy { .. })));

    let t0 = storage.create_trial(id, 1_000).unwrap();
    let t1 = storage.create_trial(id, 1_000).unwrap();
    assert_eq!((t0.number, t1.number), (0, 1));
    assert_ne!(t0.id, t1.id);
    let x = Distribution::float(-5.0, 10.0);
    storage.set_param(t0.id, "x", &x, 2.5).unwrap();
    assert!(matches!(storage.set_param(t0.id, "x", &x, 99.0), Err(HpoError::ValueOutOfRange { .. })));
    assert!(matches!(
        storage.set_param(t0.id, "x", &Distribution::float(0.0, 3.0), 1.0),
        Err(HpoError::ParamRedefined { .. })
    ));
    storage.report(t0.id, 0, 4.0, 2_000).unwrap();
    storage.report(t0.id, 1, 3.0, 3_000).unwrap();
    let done = storage.finish_trial(t0.id, TrialState::Complete, Some(3.0), 4_000).unwrap();
    assert_eq!(done.state, TrialState::Complete);
    assert_eq!(done.value, Some(3.0));
    assert_eq!(done.params["x"], 2.5);
    assert_eq!(done.distributions["x"], x);
    assert_eq!(done.intermediate.iter().map(|(s, v)| (*s, *v)).collect::<Vec<_>>(), [(0, 4.0), (1, 3.0)]);
    assert_eq!(done.heartbeat_ms, 3_000);
    assert_eq!(done.finished_ms, Some(4_000));
    assert!(matches!(
        storage.finish_trial(t0.id, TrialState::Failed, None, 5_000),
        Err(HpoError::TrialNotRunning { number: 0, .. })
    ));
    assert!(matches!(storage.report(t0.id, 2, 1.0, 5_000), Err(HpoError::TrialNotRunning { .. })));
    assert_eq!(storage.trial(t0.id).unwrap(), done);

    // t1's worker went quiet at 1 000; a 10 s timeout fails it at 20 000.
    assert!(storage.fail_stale_trials(id, 10_000, 5_000).unwrap().is_empty());
    let stale = storage.fail_stale_trials(id, 10_000, 20_000).unwrap();
    assert_eq!(stale.iter().map(|t| (t.number, t.state)).collect::<Vec<_>>(), [(1, TrialState::Failed)]);
    let all = storage.trials(id, None).unwrap();
    assert_eq!(all.iter().map(|t| t.number).collect::<Vec<_>>(), [0, 1]);
    let complete = storage.trials(id, Some(&[TrialState::Complete])).unwrap();
    assert_eq!(complete.len(), 1);
    assert_eq!(*complete[0], done);

    // The list of studies: this one with its counts, and an empty one beside it.
    let empty = format!("{name}-empty");
    let empty_id = storage.create_study(&empty, Direction::Maximize, None).unwrap();
    let studies = storage.studies().unwrap();
    let listed = studies.iter().find(|s| s.id == id).expect("the study is listed");
    assert_eq!((listed.name.as_str(), listed.direction), (name, Direction::Minimize));
    assert_eq!(
        listed.counts.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(),
        [(TrialState::Complete, 1), (TrialState::Failed, 1)]
    );
    let listed = studies.iter().find(|s| s.id == empty_id).expect("the empty study is listed");
    assert_eq!((listed.name.as_str(), listed.direction, listed.counts.len()), (empty.as_str(), Direction::Maximize, 0));
    let position = |id| studies.iter().position(|s| s.id == id);
    assert!(position(id) < position(empty_id), "creation order");
}

#[test]
fn in_memory_storage_behaves() {
    behaves(open_storage("memory").unwrap(), "memory");
}

#[test]
fn sqlite_storage_behaves_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("study.db").display());
    behaves(open_storage(&url).unwrap(), "s");
    // A new process (here: a new connection) sees everything.
    let again = open_storage(&url).unwrap();
    let id = again.study_id("s").unwrap();
    assert_eq!(again.trials(id, None).unwrap().len(), 2);
}

#[test]
fn postgres_storage_behaves() {
    let Some(url) = postgres_url() else { return };
    behaves(open_storage(&url).unwrap(), &fresh_name("behaves"));
}

#[test]
fn unreachable_or_unknown_storage_is_a_typed_error_naming_it() {
    let err = open_storage("sqlite:///no/such/dir/study.db").unwrap_err();
    assert!(matches!(err, HpoError::Storage { .. }) && err.to_string().contains("/no/such/dir/study.db"), "{err}");
    let err = open_storage("redis://localhost/0").unwrap_err();
    assert!(err.to_string().contains("redis://localhost/0") && err.to_string().contains("unknown storage"), "{err}");
    // A password is redacted whatever the scheme (a build without the postgres
    // feature, or a typo in the scheme, once echoed it).
    for url in ["mysql://me:s3cret@db/hpo", "postgress://me:s3cret@db/hpo", "redis://db/0?password=s3cret"] {
        let text = open_storage(url).unwrap_err().to_string();
        assert!(!text.contains("s3cret") && text.contains("***"), "{text}");
    }
    #[cfg(feature = "postgres")]
    {
        // Nothing listens on port 1; the password never reaches the message.
        let err = open_storage("postgres://me:s3cret@127.0.0.1:1/hpo").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("postgres://me:***@127.0.0.1:1/hpo") && !text.contains("s3cret"), "{text}");
    }
}

/// The child-process side of the concurrency tests: does nothing unless started as
/// a worker by one of them.
#[test]
fn worker() {
    let Ok(spec) = std::env::var(WORKER) else { return };
    let parts: Vec<&str> = spec.split('|').collect();
    let (url, name, trials, seed) = (parts[0], parts[1], parts[2].parse().unwrap(), parts[3].parse().unwrap());
    let study = Study::builder(name)
        .storage(open_storage(url).unwrap())
        .space(space())
        .sampler(TpeSampler::new(seed))
        .build()
        .unwrap();
    let finished = study
        .optimize(trials, |trial| {
            let p = trial.suggest_space()?;
            let (x, y) = (p["x"].as_f64().unwrap_or_default(), p["y"].as_f64().unwrap_or_default());
            trial.report(0, x * x)?;
            Ok((x - 1.0).powi(2) + (y - 2.0).powi(2))
        })
        .unwrap();
    assert_eq!(finished.len(), trials);
}

fn spawn_workers(url: &str, name: &str, workers: usize, trials: usize) -> Vec<Child> {
    (0..workers)
        .map(|w| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "storage::worker", "--nocapture", "--test-threads=1"])
                .env(WORKER, format!("{url}|{name}|{trials}|{w}"))
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect()
}

/// Eight processes × 50 trials on one study: exactly 400 finished trials, numbered
/// 0..400 once each, every one with its parameters and value.
fn eight_workers_share_one_study(url: &str, name: &str) {
    let children = spawn_workers(url, name, 8, 50);
    for mut c in children {
        let status = c.wait().unwrap();
        assert!(status.success(), "a worker failed: {status}");
    }
    let storage = open_storage(url).unwrap();
    let id = storage.study_id(name).unwrap();
    let trials = storage.trials(id, None).unwrap();
    assert_eq!(trials.len(), 400);
    assert!(trials.iter().all(|t| t.state == TrialState::Complete && t.value.is_some() && t.params.len() == 3));
    let numbers: BTreeSet<u64> = trials.iter().map(|t| t.number).collect();
    assert_eq!(numbers, (0..400).collect(), "trial numbers are handed out once each");
    let ids: BTreeSet<u64> = trials.iter().map(|t| t.id).collect();
    assert_eq!(ids.len(), 400);
}

#[test]
fn eight_processes_share_one_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("study.db").display());
    eight_workers_share_one_study(&url, "shared");
}

#[test]
fn eight_processes_share_one_postgres_database() {
    let Some(url) = postgres_url() else { return };
    eight_workers_share_one_study(&url, &fresh_name("shared"));
}

#[test]
fn stale_trials_fail_after_the_heartbeat_timeout() {
    let storage = open_storage("memory").unwrap();
    let study = Study::builder("stale").storage(storage.clone()).space(space()).build().unwrap();
    let trial = study.ask().unwrap();
    std::thread::sleep(Duration::from_millis(30));
    let failed = study.fail_stale_trials(Duration::from_millis(10)).unwrap();
    assert_eq!(failed.iter().map(|t| t.number).collect::<Vec<_>>(), [trial.number()]);
}

/// Set in a child process that runs a study to a target: `url|study|target|seed|mode`,
/// mode `hang` (its first trial never ends) or `work`.
const UNTIL_WORKER: &str = "ANNEAL_HPO_TEST_UNTIL_WORKER";

#[test]
fn until_worker() {
    let Ok(spec) = std::env::var(UNTIL_WORKER) else { return };
    let parts: Vec<&str> = spec.split('|').collect();
    let (url, name, target, seed, mode) =
        (parts[0], parts[1], parts[2].parse().unwrap(), parts[3].parse().unwrap(), parts[4]);
    let study = Study::builder(name)
        .storage(open_storage(url).unwrap())
        .space(space())
        .sampler(RandomSampler::new(seed))
        .build()
        .unwrap();
    study
        .optimize_until(target, 1, Duration::from_millis(1500), |trial| {
            let x = trial.suggest_float("x", -5.0, 10.0)?;
            if mode == "hang" {
                // Killed with SIGKILL by the test while it sleeps here.
                std::thread::sleep(Duration::from_secs(600));
            }
            std::thread::sleep(Duration::from_millis(5));
            Ok(x * x)
        })
        .unwrap();
}

fn spawn_until(url: &str, name: &str, target: usize, seed: u64, mode: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "storage::until_worker", "--nocapture", "--test-threads=1"])
        .env(UNTIL_WORKER, format!("{url}|{name}|{target}|{seed}|{mode}"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// kill -9 of a worker mid-trial: its trial is failed once its heartbeat is older
/// than the timeout, its slot is handed out again, and the study still ends with
/// exactly its target of complete trials. Running the same study again afterwards
/// resumes it (nothing more to do), it does not restart.
#[test]
fn a_killed_worker_fails_its_trial_and_the_study_completes() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("study.db").display());
    let mut victim = spawn_until(&url, "crash", 12, 1, "hang");
    let storage = open_storage(&url).unwrap();
    // Wait until the victim's trial is running and has sent a heartbeat or two.
    let study = loop {
        if let Ok(id) = storage.study_id("crash")
            && !storage.trials(id, Some(&[TrialState::Running])).unwrap().is_empty()
        {
            break id;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(800));
    victim.kill().unwrap(); // SIGKILL: no chance to clean up
    victim.wait().unwrap();
    let hung = storage.trials(study, Some(&[TrialState::Running])).unwrap();
    assert_eq!(hung.len(), 1);

    let status = spawn_until(&url, "crash", 12, 2, "work").wait().unwrap();
    assert!(status.success());
    let trials = storage.trials(study, None).unwrap();
    let complete = trials.iter().filter(|t| t.state == TrialState::Complete).count();
    assert_eq!(complete, 12, "the study completes its target");
    assert_eq!(storage.trial(hung[0].id).unwrap().state, TrialState::Failed, "the killed worker's trial failed");
    assert_eq!(trials.len(), 13);

    // The same command again: already at its target, it adds nothing.
    assert!(spawn_until(&url, "crash", 12, 3, "work").wait().unwrap().success());
    assert_eq!(storage.trials(study, None).unwrap().len(), 13);
    // A larger target resumes from where the study stands.
    assert!(spawn_until(&url, "crash", 15, 4, "work").wait().unwrap().success());
    let complete = storage.trials(study, Some(&[TrialState::Complete])).unwrap();
    assert_eq!(complete.len(), 15);
}
