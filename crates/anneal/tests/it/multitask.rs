//! `[multitask]` end to end: penguins species (classes) and body mass (grams)
//! from one model, rows without a body mass kept for the species head; every
//! weighting and gradient combination, replay, another backend, and what is
//! refused by name.

use std::path::Path;

use super::{anneal, root, stderr, write};

/// A config of the penguins' two tasks with `multitask` as its `[multitask]`
/// table's body (and `extra` appended), for `epochs` epochs.
fn config(dir: &Path, name: &str, multitask: &str, epochs: usize, extra: &str) -> String {
    let data = root().join("data/penguins.csv.gz");
    write(
        dir,
        name,
        &format!(
            r#"seed = 3
[data]
path = "{}"
target = ["species", "body_mass_g"]
[split]
train = 0.6
valid = 0.2
test = 0.2
[preprocess]
numeric_impute = "median"
scaling = "standard"
[model]
kind = "mlp"
hidden = [16]
[optimizer]
name = "adam"
learning_rate = 0.01
[training]
epochs = {epochs}
batch_size = 16
[multitask]
{multitask}
{extra}
"#,
            data.display()
        ),
    )
}

fn train(cfg: &str, out: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["train", "--config", cfg, "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = anneal(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap()
}

fn fails(cfg: &str, out: &Path) -> String {
    let o = anneal(&["train", "--config", cfg, "--out", out.to_str().unwrap()]);
    assert!(!o.status.success(), "the run should have been refused");
    stderr(&o)
}

#[test]
fn penguins_species_and_body_mass_train_together() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "mt.toml", "weighting = \"uncertainty\"\ngradients = \"pcgrad\"", 30, "");
    let out = dir.path().join("run");
    let m = train(&cfg, &out, &[]);
    assert_eq!(m["task"], "multi_task");
    // No row is dropped: the two without a body mass are in the split.
    let split = &m["split"];
    let rows: u64 = ["train", "valid", "test"].iter().map(|k| split[k].as_u64().unwrap()).sum();
    assert_eq!(rows, 344);
    let test = &m["test"]["tasks"];
    assert!(test["species"]["accuracy"].as_f64().unwrap() > 0.9, "{test}");
    assert!(test["body_mass_g"]["r2"].as_f64().unwrap() > 0.5, "{test}");
    let labelled = test["body_mass_g"]["rows"].as_u64().unwrap();
    let all = m["test"]["rows"].as_u64().unwrap();
    assert!(labelled <= all && test["species"]["rows"].as_u64().unwrap() == all);
    // Learned variances, conflicts and per-task curves are recorded.
    assert_eq!(m["task_log_variances"].as_object().unwrap().len(), 2);
    let last = m["history"].as_array().unwrap().last().unwrap().clone();
    for key in
        ["train_conflict_rate", "train_species", "train_body_mass_g", "val_species_accuracy", "val_body_mass_g_r2"]
    {
        assert!(last.get(key).is_some(), "{key} missing from {last}");
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for line in ["multi-task learning of `species`", "learned task weights", "gradient conflicts", "| `body_mass_g` |"]
    {
        assert!(report.contains(line), "report lacks {line}:\n{report}");
    }
    let predictions = std::fs::read_to_string(out.join("test_predictions.csv")).unwrap();
    let header = predictions.lines().next().unwrap();
    assert_eq!(
        header,
        "row,true_species,predicted_species,p_species:Adelie,p_species:Chinstrap,p_species:Gentoo,true_body_mass_g,\
         predicted_body_mass_g"
    );
    // New rows are predicted per task; the predictions of the test rows equal the run's own.
    let rows: Vec<usize> = predictions.lines().skip(1).map(|l| l.split(',').next().unwrap().parse().unwrap()).collect();
    let all: Vec<String> = super::penguins_text().lines().map(str::to_string).collect();
    let input = super::write(
        dir.path(),
        "new.csv",
        &std::iter::once(all[0].clone()).chain(rows.iter().map(|&r| all[r + 1].clone())).collect::<Vec<_>>().join("\n"),
    );
    let o = anneal(&["predict", "--run", out.to_str().unwrap(), "--input", &input]);
    assert!(o.status.success(), "{}", stderr(&o));
    let predicted = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(
        predicted.lines().next().unwrap(),
        "row,predicted_species,p_species:Adelie,p_species:Chinstrap,p_species:Gentoo,predicted_body_mass_g"
    );
    for (ours, theirs) in predicted.lines().skip(1).zip(predictions.lines().skip(1)) {
        let mine: Vec<&str> = ours.split(',').collect();
        let run: Vec<&str> = theirs.split(',').collect();
        assert_eq!(mine[1], run[2], "species");
        let (a, b): (f64, f64) = (mine[5].parse().unwrap(), run[7].parse().unwrap());
        assert!((a - b).abs() < 1e-2, "body mass {a} vs {b}");
    }
    let o = anneal(&["eval", "--run", out.to_str().unwrap(), "--data", &input]);
    assert!(!o.status.success() && stderr(&o).contains("anneal eval of a multi-task run"), "{}", stderr(&o));
}

#[test]
fn every_weighting_replays_and_ndarray_trains_it_too() {
    let dir = tempfile::tempdir().unwrap();
    for (i, table) in
        ["weighting = \"fixed\"", "weighting = \"dwa\"\nmeasure_conflicts = true", "weighting = \"uncertainty\""]
            .iter()
            .enumerate()
    {
        let cfg = config(dir.path(), &format!("w{i}.toml"), table, 6, "");
        let a = train(&cfg, &dir.path().join(format!("a{i}")), &[]);
        let b = train(&cfg, &dir.path().join(format!("b{i}")), &[]);
        let timeless = |m: &serde_json::Value| {
            let mut h = m["history"].clone();
            h.as_array_mut().unwrap().iter_mut().for_each(|r| {
                r.as_object_mut().unwrap().remove("seconds");
            });
            h
        };
        assert_eq!(timeless(&a), timeless(&b), "{table}: the same seed must replay");
        let last = a["history"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last.get("task_weight_species").is_some(), table.contains("dwa"), "{last}");
        assert_eq!(last.get("train_conflict_rate").is_some(), table.contains("measure_conflicts"), "{last}");
    }
    let cfg = config(dir.path(), "nd.toml", "gradients = \"pcgrad\"", 4, "");
    let m = train(&cfg, &dir.path().join("nd"), &["--device", "ndarray"]);
    assert!(m["test"]["tasks"]["species"]["accuracy"].as_f64().unwrap() > 0.5);
}

#[test]
fn what_multitask_cannot_take_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let cases: [(&str, &str, &str); 5] = [
        ("[multitask.tasks.sex]\nkind = \"classification\"", "", "`sex` is not a [data] target column"),
        ("[multitask.tasks.species]\nloss = \"mse\"", "", "is a regression loss"),
        ("weighting = \"dwa\"\ndwa_temperature = 0", "", "dwa_temperature must be a positive number"),
        ("", "[distill]\nteacher = \"x\"", "[multitask] and [distill]"),
        ("", "[distributed]\nreplicas = 2", "[multitask] trains on one replica"),
    ];
    for (i, (table, extra, message)) in cases.iter().enumerate() {
        let cfg = config(dir.path(), &format!("r{i}.toml"), table, 2, extra);
        let fresh = dir.path().join(format!("refused{i}"));
        let err = fails(&cfg, &fresh);
        assert!(err.contains(message), "case {i}: {err}");
        if message.contains("one replica") {
            assert!(!fresh.exists(), "a refused replica run made its folder");
        }
    }
    // [training] loss and [data] task belong to single-target runs.
    let cfg = config(dir.path(), "loss.toml", "", 2, "");
    let text = std::fs::read_to_string(&cfg).unwrap().replace("batch_size = 16", "batch_size = 16\nloss = \"mae\"");
    std::fs::write(&cfg, text).unwrap();
    let err = fails(&cfg, &out);
    assert!(err.contains("each task has its own"), "{err}");
    let text = std::fs::read_to_string(&cfg).unwrap().replace("loss = \"mae\"", "").replace(
        "target = [\"species\", \"body_mass_g\"]",
        "target = [\"species\", \"body_mass_g\"]\ntask = \"classification\"",
    );
    std::fs::write(&cfg, text).unwrap();
    let err = fails(&cfg, &out);
    assert!(err.contains("[multitask.tasks.<column>] kind"), "{err}");
    // anneal cv says it cross-validates one target.
    let cfg = config(dir.path(), "cv.toml", "", 2, "");
    let o = anneal(&["cv", "--config", &cfg, "--out", dir.path().join("cv").to_str().unwrap()]);
    assert!(!o.status.success() && stderr(&o).contains("anneal cv cross-validates one target"), "{}", stderr(&o));
}
