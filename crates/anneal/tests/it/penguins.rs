//! The README's first command: train on penguins, check the targets, determinism and predict.

use std::collections::HashMap;

use serde_json::Value;

use super::{anneal, root, stderr};

fn train(out: &std::path::Path) -> Value {
    let o = anneal(&["train", "--config", "examples/configs/penguins.toml", "--out", out.to_str().unwrap(), "--log"]);
    assert!(o.status.success(), "train failed: {}", stderr(&o));
    for file in [
        "config.toml",
        "preprocessing.json",
        "model.json",
        "model.bpk",
        "metrics.json",
        "test_predictions.csv",
        "report.md",
        "metrics.jsonl",
        "history.csv",
        "curves.png",
        "curves.svg",
        "checkpoint/state.json",
    ] {
        assert!(out.join(file).is_file(), "{file} missing from the run folder");
    }
    serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap()
}

#[test]
fn penguins_reaches_targets_deterministically_and_predict_reproduces_test_predictions() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let first = train(&a);
    let accuracy = first["test"]["accuracy"].as_f64().unwrap();
    let macro_f1 = first["test"]["macro_f1"].as_f64().unwrap();
    assert!(accuracy >= 0.97, "test accuracy {accuracy}");
    assert!(macro_f1 >= 0.97, "test macro-F1 {macro_f1}");

    // Same seed, same device: the same metrics, bit for bit.
    let second = train(&b);
    assert_eq!(first["test"], second["test"]);
    assert_eq!(first["history"].as_array().unwrap().len(), second["history"].as_array().unwrap().len());
    for (x, y) in first["history"].as_array().unwrap().iter().zip(second["history"].as_array().unwrap()) {
        assert_eq!(x["train_loss"], y["train_loss"]);
        assert_eq!(x["val_loss"], y["val_loss"]);
    }

    // The report a person reads, with the run's size and its energy estimate.
    let report = std::fs::read_to_string(a.join("report.md")).unwrap();
    assert!(report.contains("| accuracy |") && report.contains("Confusion matrix"), "{report}");
    assert!(report.contains("- accounting: 206 samples, batch 16 → 13 iterations per epoch × 200 epochs"), "{report}");
    assert!(report.contains("## Energy (an estimate)") && report.contains("g CO2e"), "{report}");
    let energy = &first["energy"];
    assert!(energy["energy_wh"].as_f64().unwrap() > 0.0 && energy["user_seconds"].as_f64().unwrap() > 0.0, "{energy}");
    let epochs = first["history"].as_array().unwrap().len();
    assert_eq!(std::fs::read_to_string(a.join("metrics.jsonl")).unwrap().lines().count(), epochs);
    assert_eq!(std::fs::read_to_string(a.join("history.csv")).unwrap().lines().count(), epochs + 1);

    // predict on the whole bundled CSV gives the run's test predictions for its test rows.
    let preds = tmp.path().join("preds.csv");
    let data = root().join("data/penguins.csv.gz");
    let o = anneal(&[
        "predict",
        "--run",
        a.to_str().unwrap(),
        "--input",
        data.to_str().unwrap(),
        "--output",
        preds.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "predict failed: {}", stderr(&o));
    let predicted: HashMap<String, Vec<String>> = std::fs::read_to_string(&preds)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let cells: Vec<String> = l.split(',').map(String::from).collect();
            (cells[0].clone(), cells[1..].to_vec())
        })
        .collect();
    assert_eq!(predicted.len(), 344);
    let test = std::fs::read_to_string(a.join("test_predictions.csv")).unwrap();
    let mut checked = 0;
    for line in test.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        let (row, label, probs) = (cells[0], cells[2], &cells[3..]);
        let p = &predicted[row];
        assert_eq!(p[0], label, "row {row}");
        for (x, y) in probs.iter().zip(&p[1..]) {
            let (x, y): (f64, f64) = (x.parse().unwrap(), y.parse().unwrap());
            assert!((x - y).abs() <= 2e-6, "row {row}: probability {x} vs {y}");
        }
        checked += 1;
    }
    assert_eq!(checked as u64, first["test"]["rows"].as_u64().unwrap());
}

/// The raw LTER export: its `Date Egg` column becomes calendar features, and the run
/// still reaches the same bar.
#[test]
fn penguins_raw_with_date_features_reaches_targets() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("raw");
    let o =
        anneal(&["train", "--config", "examples/configs/penguins_raw.toml", "--out", out.to_str().unwrap(), "--log"]);
    assert!(o.status.success(), "train failed: {}", stderr(&o));
    let metrics: Value = serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    let (accuracy, macro_f1) =
        (metrics["test"]["accuracy"].as_f64().unwrap(), metrics["test"]["macro_f1"].as_f64().unwrap());
    assert!(accuracy >= 0.97 && macro_f1 >= 0.97, "accuracy {accuracy}, macro-F1 {macro_f1}");
    let pre = std::fs::read_to_string(out.join("preprocessing.json")).unwrap();
    for feature in ["Date Egg_year", "Date Egg_month_sin", "Date Egg_day_of_year", "Date Egg_weekday"] {
        assert!(pre.contains(feature), "{feature} missing from the fitted preprocessing");
    }
}

#[test]
fn data_inspect_summarises_the_raw_export() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("raw.md");
    let o = anneal(&["data", "inspect", "data/penguins_raw.csv.gz", "--output", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let printed = String::from_utf8_lossy(&o.stdout);
    let written = std::fs::read_to_string(&out).unwrap();
    assert_eq!(printed, written);
    // The provenance file lists 336 missing cells; Sex has 11 of them, Comments 290.
    assert!(written.contains("344 rows, 17 columns, 0 exact duplicate row(s), 336 missing cell(s)."), "{written}");
    assert!(written.contains("| Sex | categorical | 11 (3.2 %) | 2 |"), "{written}");
    assert!(written.contains("| Comments | categorical | 290 (84.3 %) |"), "{written}");
    assert!(
        written.contains("| Body Mass (g) | numeric | 2 (0.6 %) | 94 | 2700.0000 | 4050.0000 | 6300.0000 |"),
        "{written}"
    );
}

/// No leakage: an absurd value planted in a test row changes nothing that was
/// fitted — preprocessing statistics come from the training rows only.
#[test]
fn fitted_preprocessing_ignores_the_test_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = gunzip(&root().join("data/penguins.csv.gz"));
    std::fs::write(tmp.path().join("clean.csv"), &csv).unwrap();
    let config = std::fs::read_to_string(root().join("examples/configs/penguins.toml"))
        .unwrap()
        .replace("../../data/penguins.csv.gz", "clean.csv")
        .replace("epochs = 200", "epochs = 2");
    std::fs::write(tmp.path().join("clean.toml"), &config).unwrap();
    let run = |name: &str| {
        let out = tmp.path().join(name);
        let cfg = tmp.path().join(format!("{name}.toml"));
        let o = anneal(&["train", "--config", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        out
    };
    let clean = run("clean");
    let split: Value = serde_json::from_str(&std::fs::read_to_string(clean.join("split.json")).unwrap()).unwrap();
    let test_row = split["test"][0].as_u64().unwrap() as usize;
    // Plant 1e9 as the body mass of that test row (data row i is line i + 2).
    let mut lines: Vec<String> = csv.lines().map(String::from).collect();
    let mut cells: Vec<String> = lines[test_row + 1].split(',').map(String::from).collect();
    cells[5] = "1000000000.0".into();
    lines[test_row + 1] = cells.join(",");
    std::fs::write(tmp.path().join("dirty.csv"), lines.join("\n") + "\n").unwrap();
    std::fs::write(tmp.path().join("dirty.toml"), config.replace("clean.csv", "dirty.csv")).unwrap();
    let dirty = run("dirty");
    let fitted = |dir: &std::path::Path| std::fs::read_to_string(dir.join("preprocessing.json")).unwrap();
    assert_eq!(fitted(&clean), fitted(&dirty), "a test-row value leaked into the fitted preprocessing");
}

/// Reads a gzip file as text with the system's `gzip`, so the test needs no
/// decompression crate of its own.
fn gunzip(path: &std::path::Path) -> String {
    let o = std::process::Command::new("gzip").arg("-dc").arg(path).output().expect("gzip runs");
    assert!(o.status.success());
    String::from_utf8(o.stdout).unwrap()
}

/// Every data-preparation step from a run config: cleaning is counted, the
/// encodings and derived features reach the fitted state, and predict re-applies
/// them to the raw file (rows removed by cleaning included).
#[test]
fn penguins_raw_with_every_data_step() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("steps");
    let o = anneal(&[
        "train",
        "--config",
        "examples/configs/penguins_raw_steps.toml",
        "--out",
        out.to_str().unwrap(),
        "--log",
    ]);
    assert!(o.status.success(), "train failed: {}", stderr(&o));
    let metrics: Value = serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    assert!(metrics["test"]["accuracy"].as_f64().unwrap() >= 0.97, "{}", metrics["test"]);
    // Two rows have no bill measurements; `Comments` is missing in most rows.
    assert_eq!(metrics["cleaning"]["missing_removed"], 2);
    assert_eq!(metrics["cleaning"]["dropped_columns"], serde_json::json!(["Comments"]));
    let split: Value = serde_json::from_str(&std::fs::read_to_string(out.join("split.json")).unwrap()).unwrap();
    let parts = ["train", "valid", "test"].map(|k| split[k].as_array().unwrap().len());
    assert_eq!(parts.iter().sum::<usize>() + 2, 344, "split rows are data rows of the file, less the two removed");
    let pre = std::fs::read_to_string(out.join("preprocessing.json")).unwrap();
    for name in ["culmen_ratio", "Island_target=Adelie Penguin (Pygoscelis adeliae)", "\"iterative\"", "Sex=MALE"] {
        assert!(pre.contains(name), "{name} missing from the fitted preprocessing");
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("- cleaning: 0 duplicate rows and 2 rows with missing cells removed"), "{report}");
    assert!(report.contains("ordinal for Clutch Completion, target for Island"), "{report}");

    let preds = tmp.path().join("preds.csv");
    let data = root().join("data/penguins_raw.csv.gz");
    let args = ["predict", "--run", out.to_str().unwrap(), "--input", data.to_str().unwrap(), "--output"];
    let o = anneal(&[&args[..], &[preds.to_str().unwrap()]].concat());
    assert!(o.status.success(), "predict failed: {}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&preds).unwrap().lines().count(), 345, "a prediction for every data row");
}
