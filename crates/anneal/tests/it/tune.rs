//! `anneal tune` end to end: a search on penguins, killed with SIGKILL and run again
//! (it resumes), the report, pruning inside trials, the hypergradient optimisers as a
//! search option, and the typed errors of bad tune configs.

use std::path::Path;
use std::time::{Duration, Instant};

use anneal::hpo::{TrialState, open_storage};

use super::{anneal, root, stderr, write};

/// A tune config over a short penguins run (few epochs, so debug builds are quick).
fn setup(dir: &Path, params: &str, heartbeat_s: f64) -> String {
    setup_with_data(dir, params, heartbeat_s, &root().join("data/penguins.csv.gz"))
}

/// As [`setup`], with the base config reading `data` instead of the penguins file.
fn setup_with_data(dir: &Path, params: &str, heartbeat_s: f64, data: &Path) -> String {
    let base = std::fs::read_to_string(root().join("examples/configs/penguins.toml"))
        .unwrap()
        .replace("../../data/penguins.csv.gz", data.to_str().unwrap())
        .replace("epochs = 200", "epochs = 12");
    write(dir, "base.toml", &base);
    write(
        dir,
        "tune.toml",
        &format!(
            "base = \"base.toml\"\n[study]\nname = \"t\"\nobjective = \"val_accuracy\"\nsampler = \"random\"\n\
             heartbeat_timeout_s = {heartbeat_s}\n{params}"
        ),
    )
}

const PARAMS: &str =
    "[[param]]\nname = \"optimizer.learning_rate\"\ntype = \"float\"\nlow = 1e-3\nhigh = 0.05\nlog = true\n";

fn complete(db: &Path) -> usize {
    let Ok(storage) = open_storage(&format!("sqlite://{}", db.display())) else { return 0 };
    let Ok(id) = storage.study_id("t") else { return 0 };
    storage.trials(id, Some(&[TrialState::Complete])).map_or(0, |t| t.len())
}

#[test]
fn tune_killed_and_run_again_resumes_and_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let config = setup(tmp.path(), PARAMS, 2.0);
    let out = tmp.path().join("study");
    let args = ["tune", "--config", &config, "--trials", "5", "--out", out.to_str().unwrap()];
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_anneal"))
        .args(args)
        .current_dir(root())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let db = out.join("study.db");
    let start = Instant::now();
    while complete(&db) < 2 {
        assert!(start.elapsed() < Duration::from_secs(300), "no trial finished in 5 minutes");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap(); // SIGKILL, mid-way through the next trial
    child.wait().unwrap();
    let before = complete(&db);
    let first: Vec<String> =
        (0..2).map(|n| std::fs::read_to_string(out.join(format!("trial-{n}/metrics.json"))).unwrap()).collect();

    let left_running = {
        let storage = open_storage(&format!("sqlite://{}", db.display())).unwrap();
        let id = storage.study_id("t").unwrap();
        storage.trials(id, Some(&[TrialState::Running])).unwrap().len()
    };
    let o = anneal(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains(&format!("{before} of 5 trials finished")), "it resumes: {}", stderr(&o));
    // The killed trial holds its slot until the heartbeat timeout: the wait is announced.
    if left_running > 0 {
        assert!(stderr(&o).contains("are marked running"), "{}", stderr(&o));
    }
    assert_eq!(complete(&db), 5);
    for (n, m) in first.iter().enumerate() {
        let now = std::fs::read_to_string(out.join(format!("trial-{n}/metrics.json"))).unwrap();
        assert_eq!(&now, m, "trial {n} was not run again");
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("## Best trials") && report.contains("optimizer.learning_rate"), "{report}");
    assert!(out.join("history.png").is_file() && out.join("history.svg").is_file());

    // --report alone only summarises.
    let o = anneal(&["tune", "--config", &config, "--out", out.to_str().unwrap(), "--report"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(complete(&db), 5);
}

fn trials(db: &Path) -> Vec<std::sync::Arc<anneal::hpo::FrozenTrial>> {
    let storage = open_storage(&format!("sqlite://{}", db.display())).unwrap();
    storage.trials(storage.study_id("t").unwrap(), None).unwrap()
}

/// Epochs in a trial's run folder (metrics.json).
fn epochs_in(dir: &Path) -> usize {
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metrics.json")).unwrap()).unwrap();
    metrics["history"].as_array().unwrap().len()
}

#[test]
fn median_pruner_stops_bad_trials_early() {
    let tmp = tempfile::tempdir().unwrap();
    // Learning rates from hopeless to good: the slow ones fall behind the median early.
    let params = "pruner = \"median\"\n[study.median]\nn_startup_trials = 2\nn_warmup_steps = 1\n\
                  [[param]]\nname = \"optimizer.learning_rate\"\ntype = \"float\"\nlow = 1e-5\nhigh = 0.05\nlog = true\n";
    let config = setup(tmp.path(), params, 60.0);
    let out = tmp.path().join("study");
    let o = anneal(&["tune", "--config", &config, "--trials", "8", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let all = trials(&out.join("study.db"));
    assert_eq!(all.len(), 8);
    let pruned: Vec<_> = all.iter().filter(|t| t.state == TrialState::Pruned).collect();
    assert!(!pruned.is_empty(), "no trial was pruned: {}", stderr(&o));
    assert!(all.iter().any(|t| t.state == TrialState::Complete));
    for t in &all {
        let epochs = epochs_in(&out.join(format!("trial-{}", t.number)));
        // Every epoch was reported, and the run folder holds exactly the epochs trained.
        assert_eq!(t.intermediate.len(), epochs, "trial {}", t.number);
        match t.state {
            TrialState::Pruned => {
                assert!(epochs < 12, "pruned trial {} trained all {epochs} epochs", t.number);
                assert_eq!(t.value, t.last_intermediate().map(|(_, v)| v));
            }
            _ => assert_eq!(epochs, 12, "trial {}", t.number),
        }
        // The run folder says so too.
        let dir = out.join(format!("trial-{}", t.number));
        let metrics: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("metrics.json")).unwrap()).unwrap();
        let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
        match t.state {
            TrialState::Pruned => {
                assert_eq!(metrics["stopped_by_hook"].as_u64(), Some(epochs as u64), "trial {}", t.number);
                assert!(report.contains("pruned by anneal tune"), "trial {}", t.number);
            }
            _ => assert!(metrics.get("stopped_by_hook").is_none(), "trial {}", t.number),
        }
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("## Pruned trials") && report.contains("pruned"), "{report}");
    assert!(stderr(&o).contains("pruned after epoch"), "{}", stderr(&o));
    // The history figure marks the pruned trials, as points apart from the complete ones.
    let svg = std::fs::read_to_string(out.join("history.svg")).unwrap();
    assert!(svg.contains("pruned trial (last reported value)") && svg.contains("complete trial"), "legend");
}

#[test]
fn hypergradient_optimisers_are_a_search_option() {
    let tmp = tempfile::tempdir().unwrap();
    let params = "[[param]]\nname = \"optimizer.name\"\ntype = \"categorical\"\nchoices = [\"adam\", \"adam_hd\", \"sgd_hd\"]\n\
                  [[param]]\nname = \"optimizer.hypergradient_lr\"\ntype = \"float\"\nlow = 1e-6\nhigh = 1e-3\nlog = true\n\
                  condition = { parent = \"optimizer.name\", values = [\"adam_hd\", \"sgd_hd\"] }\n\
                  [[param]]\nname = \"optimizer.max_lr_factor\"\ntype = \"float\"\nlow = 1.5\nhigh = 4.0\n\
                  condition = { parent = \"optimizer.name\", values = [\"adam_hd\", \"sgd_hd\"] }\n";
    let config = setup(tmp.path(), &format!("{params}{PARAMS}"), 60.0);
    let out = tmp.path().join("study");
    let o = anneal(&["tune", "--config", &config, "--trials", "6", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let all = trials(&out.join("study.db"));
    assert!(all.iter().all(|t| t.state == TrialState::Complete), "{}", stderr(&o));
    let mut names = Vec::new();
    for t in &all {
        let used: toml::Table =
            std::fs::read_to_string(out.join(format!("trial-{}/config.toml", t.number))).unwrap().parse().unwrap();
        let optimizer = used["optimizer"].as_table().unwrap();
        let name = optimizer["name"].as_str().unwrap().to_string();
        let sampled = t.param_values();
        assert_eq!(sampled["optimizer.name"].as_str(), Some(name.as_str()));
        match sampled.get("optimizer.hypergradient_lr") {
            Some(beta) => assert_eq!(optimizer["hypergradient_lr"].as_float(), beta.as_f64(), "trial {}", t.number),
            None => assert!(!optimizer.contains_key("hypergradient_lr"), "trial {}", t.number),
        }
        // An optional setting (absent from the optimiser's defaults) is set when sampled.
        match sampled.get("optimizer.max_lr_factor") {
            Some(f) => assert_eq!(optimizer["max_lr_factor"].as_float(), f.as_f64(), "trial {}", t.number),
            None => assert!(!optimizer.contains_key("max_lr_factor"), "trial {}", t.number),
        }
        assert_eq!(optimizer["learning_rate"].as_float(), sampled["optimizer.learning_rate"].as_f64());
        names.push(name);
    }
    assert!(names.iter().any(|n| n == "adam_hd") && names.iter().any(|n| n == "adam"), "{names:?}");
}

/// Switching optimiser keeps the base's settings the sampled optimiser also has,
/// optional ones (absent from its defaults) included, and drops the others.
#[test]
fn a_switched_optimiser_keeps_the_base_settings_it_has() {
    let tmp = tempfile::tempdir().unwrap();
    let params =
        "[[param]]\nname = \"optimizer.name\"\ntype = \"categorical\"\nchoices = [\"adam_hd\", \"sgd_hd\", \"adam\"]\n";
    let config = setup(tmp.path(), params, 60.0);
    let base = tmp.path().join("base.toml");
    let text = std::fs::read_to_string(&base).unwrap().replace(
        "name = \"adam\"\nlearning_rate = 0.01",
        "name = \"adam_hd\"\nlearning_rate = 0.01\nmax_lr_factor = 2.0\nbeta1 = 0.8",
    );
    assert!(text.contains("max_lr_factor"), "the base config's optimizer table changed shape");
    std::fs::write(&base, text).unwrap();
    let config = anneal::tune::TuneConfig::load(&config).unwrap();
    let table = |name: &str| {
        let params = [("optimizer.name".to_string(), anneal::hpo::ParamValue::Categorical(name.into()))].into();
        toml::Value::try_from(config.trial_config(&params).unwrap().optimizer).unwrap()
    };
    let sgd_hd = table("sgd_hd");
    assert_eq!(sgd_hd["max_lr_factor"].as_float(), Some(2.0), "{sgd_hd}");
    assert!(sgd_hd.get("beta1").is_none(), "{sgd_hd}");
    let adam = table("adam");
    assert_eq!(adam["beta1"].as_float(), Some(0.8), "{adam}");
    assert!(adam.get("max_lr_factor").is_none(), "{adam}");
}

#[test]
fn the_example_tune_configs_load() {
    let dir = root().join("examples/tune");
    let mut loaded = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        // Run configs (the bases) sit beside the tune configs.
        if text.lines().any(|l| l.starts_with("base = ")) {
            let config = anneal::tune::TuneConfig::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            // The corners of the space (every parameter at its low end, every one at its
            // high end, conditional ones where active) are valid run configs.
            for end in [0.0, f64::MAX] {
                let mut assigned = std::collections::BTreeMap::new();
                let mut params = std::collections::BTreeMap::new();
                for p in config.space.params() {
                    if config.space.is_active(p, &assigned) {
                        let internal = p.distribution.snap(end);
                        assigned.insert(p.name.clone(), internal);
                        params.insert(p.name.clone(), p.distribution.to_external(internal));
                    }
                }
                let run = config.trial_config(&params).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                run.optimizer.validate().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
            loaded += 1;
        }
    }
    assert!(loaded >= 2, "{loaded} tune configs in {}", dir.display());
}

fn tune_fails(params: &str, storage: Option<&str>) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let config = setup(tmp.path(), params, 60.0);
    let out = tmp.path().join("study");
    let mut args = vec!["tune", "--config", &config, "--trials", "1", "--out", out.to_str().unwrap()];
    if let Some(s) = storage {
        args.extend(["--storage", s]);
    }
    let o = anneal(&args);
    assert_eq!(o.status.code(), Some(2), "expected a typed error: {}", stderr(&o));
    stderr(&o)
}

#[test]
fn bad_tune_configs_are_typed_errors_naming_the_problem() {
    let err = tune_fails("", None);
    assert!(err.contains("param"), "empty space: {err}");
    let err = tune_fails(
        "[[param]]\nname = \"optimizer.learning_rate\"\ntype = \"float\"\nlow = 0.0\nhigh = 0.1\nlog = true\n",
        None,
    );
    assert!(err.contains("log range must be positive"), "{err}");
    let err = tune_fails("[[param]]\nname = \"optimizer.name\"\ntype = \"categorical\"\nchoices = []\n", None);
    assert!(err.contains("optimizer.name"), "{err}");
    let err =
        tune_fails("[[param]]\nname = \"optimizer.learning_rat\"\ntype = \"float\"\nlow = 0.1\nhigh = 0.2\n", None);
    assert!(err.contains("does not name a setting"), "{err}");
    let err = tune_fails(&format!("pruner = \"median\"\n[study.asha]\nmin_resource = 1\n{PARAMS}"), None);
    assert!(err.contains("[study.asha] is given but the pruner is Median"), "{err}");
    let err = tune_fails(&format!("pruner = \"asha\"\n[study.asha]\nreduction_factor = 1.0\n{PARAMS}"), None);
    assert!(err.contains("[study.asha]") && err.contains("reduction_factor"), "{err}");
    let err = tune_fails(
        "[[param]]\nname = \"optimizer.name\"\ntype = \"categorical\"\nchoices = [\"adam\", \"adam_hd\"]\n\
         [[param]]\nname = \"optimizer.hypergradient_lr\"\ntype = \"float\"\nlow = 1e-6\nhigh = 1e-3\n",
        None,
    );
    assert!(err.contains("`optimizer.hypergradient_lr` is not a setting of optimizer `adam`"), "{err}");
    let err = tune_fails(
        &format!(
            "[[param]]\nname = \"optimizer.name\"\ntype = \"categorical\"\nchoices = [\"adam\", \"adamx\"]\n{PARAMS}"
        ),
        None,
    );
    assert!(err.contains("optimizer.name") && err.contains("adamx"), "{err}");
    let err = tune_fails(PARAMS, Some("postgres://nobody@127.0.0.1:1/none"));
    assert!(err.contains("postgres://nobody@127.0.0.1:1/none"), "{err}");

    // The same study name with a different space in an existing storage.
    let tmp = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", tmp.path().join("shared.db").display());
    let storage = open_storage(&db).unwrap();
    let other = anneal::hpo::SearchSpace::new().with("model.dropout", anneal::hpo::Distribution::float(0.0, 0.5));
    storage.create_study("t", anneal::hpo::Direction::Maximize, Some(&other)).unwrap();
    let err = tune_fails(PARAMS, Some(&db));
    assert!(err.contains("already exists with a different search space"), "{err}");
}

#[test]
fn a_tune_whose_every_trial_fails_stops_with_the_reason() {
    // Every trial fails the same way (here: the data file is not a CSV). The search must
    // stop after `max_failures_in_a_row` trials and say why, not create trials forever.
    let tmp = tempfile::tempdir().unwrap();
    let broken = tmp.path().join("broken.csv.gz");
    std::fs::write(&broken, b"not gzip").unwrap();
    let config = setup_with_data(tmp.path(), &format!("max_failures_in_a_row = 3\n{PARAMS}"), 60.0, &broken);
    let out = tmp.path().join("study");
    let o = anneal(&["tune", "--config", &config, "--trials", "5", "--out", out.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("3 trials in a row") && err.contains("broken.csv.gz"), "{err}");
    assert!(err.contains("tune: trial 0 failed:"), "each failure is shown: {err}");
    let all = trials(&out.join("study.db"));
    assert_eq!(all.len(), 3, "{err}");
    assert!(all.iter().all(|t| t.state == TrialState::Failed));
}

#[test]
fn trials_can_be_scored_by_cross_validation() {
    let tmp = tempfile::tempdir().unwrap();
    let config = setup(tmp.path(), &format!("cv_folds = 3\n{PARAMS}"), 60.0);
    let out = tmp.path().join("study");
    let o = anneal(&["tune", "--config", &config, "--trials", "2", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("(mean of 3 folds)"), "{}", stderr(&o));
    let all = trials(&out.join("study.db"));
    assert_eq!(all.len(), 2);
    for t in &all {
        assert_eq!(t.state, TrialState::Complete);
        // The trial's value is the mean held-out-fold accuracy of its own cv.json.
        let cv: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join(format!("trial-{}/cv.json", t.number))).unwrap())
                .unwrap();
        assert_eq!(cv["n_folds"].as_u64(), Some(3));
        let mean = cv["report"]["test"]["accuracy"]["mean"].as_f64().unwrap();
        // (serde_json parses the last digit of a float to within an ulp.)
        assert!((t.value.unwrap() - mean).abs() < 1e-12, "trial {}: {:?} vs {mean}", t.number, t.value);
        assert!(mean > 0.5, "trial {}: {mean}", t.number);
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("3-fold cross-validation"), "{report}");

    // Pruning works between epochs of one run: not with cross-validated trials.
    let err = tune_fails(&format!("cv_folds = 3\npruner = \"median\"\n{PARAMS}"), None);
    assert!(err.contains("cv_folds = 3 cannot go with pruner"), "{err}");
    let err = tune_fails(&format!("cv_folds = 1\n{PARAMS}"), None);
    assert!(err.contains("cv_folds must be at least 2"), "{err}");
}

#[test]
fn a_missing_data_file_is_reported_before_the_first_trial() {
    let tmp = tempfile::tempdir().unwrap();
    let config = setup_with_data(tmp.path(), PARAMS, 60.0, &tmp.path().join("moved-away.csv.gz"));
    let out = tmp.path().join("study");
    let o = anneal(&["tune", "--config", &config, "--trials", "5", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("moved-away.csv.gz"), "{}", stderr(&o));
    assert!(!out.join("trial-0").exists(), "no trial should have started");
}

#[test]
fn the_best_trial_is_reported_with_its_test_metrics_and_can_be_retrained() {
    let tmp = tempfile::tempdir().unwrap();
    let config = setup(tmp.path(), PARAMS, 60.0);
    let out = tmp.path().join("study");
    let o = anneal(&["tune", "--config", &config, "--trials", "2", "--out", out.to_str().unwrap(), "--retrain-best"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let line = stdout.lines().find(|l| l.starts_with("best trial ")).expect("a best-trial line");
    assert!(line.contains("val_accuracy") && line.contains("on its held-out test rows: test accuracy"), "{line}");
    let number: u64 = line["best trial ".len()..].split(':').next().unwrap().parse().unwrap();
    let best = out.join(format!("best-{number}"));
    assert!(stdout.contains("retrained the best configuration: test accuracy"), "{stdout}");
    assert!(best.join("report.md").is_file() && best.join("manifest.json").is_file());
    // The retrained run is the trial's configuration: the same seed gives the same test metrics.
    let metrics = |dir: &Path| -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(dir.join("metrics.json")).unwrap()).unwrap()
            ["test"]
            .clone()
    };
    assert_eq!(metrics(&best), metrics(&out.join(format!("trial-{number}"))));
}
