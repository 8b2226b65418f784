//! Regression end to end through the real CLI: the diabetes example, task
//! inference, multi-output targets, predict / eval / cv, the Poisson loss and
//! the settings a regression refuses.

use std::path::Path;

use serde_json::Value;

use super::{anneal, root, stderr, write};

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A config on the diabetes data with `extra` TOML after the `[data]` table's path.
fn diabetes(dir: &Path, name: &str, data: &str, rest: &str) -> String {
    let path = root().join("data/sklearn_diabetes_raw.csv.gz");
    let text = format!(
        "seed = 3\n[data]\npath = \"{}\"\n{data}\n[preprocess]\nscaling = \"standard\"\n{rest}\n",
        path.display()
    );
    write(dir, name, &text)
}

const LINEAR: &str = "[model]\nkind = \"linear\"\n[optimizer]\nname = \"adam\"\nlearning_rate = 0.05\n[training]\nepochs = 60\nbatch_size = 32\n";

#[test]
fn diabetes_example_trains_reports_and_predicts_in_the_targets_units() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let o = anneal(&["train", "--config", "examples/configs/diabetes.toml", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("test R² 0."), "{stdout}");
    let m = json(&out.join("metrics.json"));
    assert_eq!(m["task"], "regression");
    for key in ["r2", "rmse", "mae", "mape", "explained_variance", "max_error"] {
        assert!(m["test"][key].as_f64().is_some(), "test {key} missing: {}", m["test"]);
    }
    let r2 = m["test"]["r2"].as_f64().unwrap();
    // scikit-learn's Ridge with the same penalty on the same split
    // (examples/reference/diabetes_ridge.py → diabetes_ridge.json): the example
    // trains to convergence on the same objective, so the R² agrees to 0.002 (the
    // issue asks for 0.02).
    let reference = json(&root().join("examples/reference/diabetes_ridge.json"));
    let split = json(&out.join("split.json"));
    assert_eq!(split["test"], reference["test_rows"], "the reference was computed on this split");
    let ridge = reference["models"]["ridge"]["test"]["r2"].as_f64().unwrap();
    assert!((r2 - ridge).abs() <= 0.002, "test R² {r2} vs scikit-learn Ridge {ridge}");
    // RMSE in the target's units (disease progression, 25..346), not standardised ones.
    assert!(m["test"]["rmse"].as_f64().unwrap() > 30.0, "{}", m["test"]);
    let epoch = &m["history"][0];
    for key in ["val_loss", "val_r2", "val_rmse", "val_mae", "val_mape", "val_explained_variance", "val_max_error"] {
        assert!(epoch[key].as_f64().is_some(), "{key} missing from the epoch record {epoch}");
    }
    for file in ["predicted_vs_actual", "residuals", "residual_histogram"] {
        assert!(out.join(format!("{file}.png")).is_file() && out.join(format!("{file}.svg")).is_file(), "{file}");
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("| R² |") && report.contains("Predicted against true values"), "{report}");
    assert!(report.contains("task: regression of `target`"), "{report}");
    let csv = std::fs::read_to_string(out.join("test_predictions.csv")).unwrap();
    assert!(csv.starts_with("row,true_target,target\n"), "{csv}");

    // predict writes the numbers, and eval on the test part gives the run's test metrics.
    let predicted = tmp.path().join("p.csv");
    let o = anneal(&[
        "predict",
        "--run",
        out.to_str().unwrap(),
        "--input",
        "data/sklearn_diabetes_raw.csv.gz",
        "--output",
        predicted.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&predicted).unwrap();
    assert!(text.starts_with("row,target\n") && text.lines().count() == 443, "{}", &text[..200.min(text.len())]);
    let value: f64 = text.lines().nth(1).unwrap().split(',').nth(1).unwrap().parse().unwrap();
    assert!((20.0..400.0).contains(&value), "a prediction in the target's units: {value}");
    let eval_out = tmp.path().join("eval");
    let o = anneal(&[
        "eval",
        "--run",
        out.to_str().unwrap(),
        "--data",
        "data/sklearn_diabetes_raw.csv.gz",
        "--part",
        "test",
        "--out",
        eval_out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = json(&eval_out.join("eval.json"));
    let eval_r2 = e["metrics"]["r2"].as_f64().unwrap();
    assert!((eval_r2 - r2).abs() < 1e-6, "eval {eval_r2} vs train {r2}");
    assert!(eval_out.join("predicted_vs_actual.png").is_file());
}

#[test]
fn a_numeric_target_with_many_values_is_inferred_as_regression_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let config = diabetes(tmp.path(), "c.toml", "target = \"target\"", LINEAR);
    let out = tmp.path().join("run");
    let o = anneal(&["train", "--config", &config, "--out", out.to_str().unwrap(), "--log"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("target `target` is numeric with 214 distinct values"), "{err}");
    assert!(err.contains("treated as regression") && err.contains("task = \"classification\""), "{err}");
    // The same column read as classes when asked: one class per value, as before.
    let config = diabetes(
        tmp.path(),
        "k.toml",
        "target = \"sex\"",
        "[model]\nkind = \"linear\"\n[optimizer]\nname = \"adam\"\nlearning_rate = 0.05\n[training]\nepochs = 3\nbatch_size = 32\n",
    );
    let o = anneal(&["train", "--config", &config, "--out", tmp.path().join("k").to_str().unwrap(), "--log"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("2 distinct integer values: treated as classification"), "{}", stderr(&o));
}

#[test]
fn two_targets_give_metrics_per_output() {
    let tmp = tempfile::tempdir().unwrap();
    let config = diabetes(tmp.path(), "c.toml", "target = [\"target\", \"s5\"]", LINEAR);
    let out = tmp.path().join("run");
    let o = anneal(&["train", "--config", &config, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let m = json(&out.join("metrics.json"));
    let per = &m["test"]["per_target"];
    let (a, b) = (per["target"]["r2"].as_f64().unwrap(), per["s5"]["r2"].as_f64().unwrap());
    let mean = m["test"]["r2"].as_f64().unwrap();
    assert!(((a + b) / 2.0 - mean).abs() < 1e-12, "{per}");
    // s5 (log of serum triglycerides) is well predicted by the other serum columns.
    assert!(b > 0.5 && a > 0.3, "{per}");
    let csv = std::fs::read_to_string(out.join("test_predictions.csv")).unwrap();
    assert!(csv.starts_with("row,true_target,true_s5,target,s5\n"), "{csv}");
    for stem in ["predicted_vs_actual_target", "predicted_vs_actual_s5", "residuals_s5"] {
        assert!(out.join(format!("{stem}.png")).is_file(), "{stem}");
    }
    // s5 is a target, so not a feature: 9 of the 10 columns remain.
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("features (9 columns"), "{report}");
}

#[test]
fn cross_validation_of_a_regression_uses_k_fold_and_refuses_stratification() {
    let tmp = tempfile::tempdir().unwrap();
    let config = diabetes(tmp.path(), "c.toml", "target = \"target\"", LINEAR);
    let out = tmp.path().join("cv");
    let o = anneal(&["cv", "--config", &config, "--folds", "3", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("cross-validated r2 0."), "{stdout}");
    let cv = json(&out.join("cv.json"));
    assert_eq!(cv["splitter"]["kind"], "k_fold");
    assert!(cv["report"]["test"]["rmse"]["mean"].as_f64().unwrap() > 30.0);
    let o =
        anneal(&["cv", "--config", &config, "--split", "stratified", "--out", tmp.path().join("s").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("stratified folds need classes") && stderr(&o).contains("--split k-fold"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn settings_a_regression_cannot_take_are_refused_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (
            "target = \"target\"\n[split]\ntrain = 0.6\nvalid = 0.2\ntest = 0.2\nstratify = true",
            LINEAR.to_string(),
            "stratify = true needs classes",
        ),
        (
            "target = \"target\"",
            LINEAR.replace("batch_size = 32", "batch_size = 32\nloss = \"cross_entropy\""),
            "needs classes",
        ),
        (
            "target = \"sex\"\ntask = \"classification\"",
            LINEAR.replace("batch_size = 32", "batch_size = 32\nloss = \"mae\""),
            "regression loss",
        ),
        (
            "target = \"target\"\ntarget_transform = \"log1p\"",
            LINEAR.replace("batch_size = 32", "batch_size = 32\nloss = \"poisson\""),
            "models the counts themselves",
        ),
        (
            "target = \"target\"",
            LINEAR.replace("batch_size = 32", "batch_size = 32\nhuber_delta = 2.0"),
            "`huber_delta` is a setting of loss = \"huber\"",
        ),
        ("target = [\"target\", \"s5\"]\ntask = \"classification\"", LINEAR.to_string(), "multi-output regression"),
        (
            "target = \"target\"",
            LINEAR.replace("kind = \"linear\"", "kind = \"linear\"\nhidden = [4]"),
            "`hidden` is a setting of kind = \"mlp\"",
        ),
    ];
    for (i, (data, rest, message)) in cases.iter().enumerate() {
        let config = diabetes(tmp.path(), &format!("c{i}.toml"), data, rest);
        let o = anneal(&["train", "--config", &config, "--out", tmp.path().join(format!("r{i}")).to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "case {i} should fail: {}", stderr(&o));
        assert!(stderr(&o).contains(message), "case {i}: {}", stderr(&o));
    }
}

#[test]
fn poisson_loss_refuses_a_negative_target_naming_its_row() {
    let tmp = tempfile::tempdir().unwrap();
    let rows: String = (0..60).map(|i| format!("{i},{}\n", if i == 41 { -2 } else { i % 7 })).collect();
    let data = write(tmp.path(), "counts.csv", &format!("x,visits\n{rows}"));
    let config = format!(
        "[data]\npath = \"{data}\"\ntarget = \"visits\"\ntask = \"regression\"\n[model]\nkind = \"linear\"\n\
         [optimizer]\nname = \"adam\"\nlearning_rate = 0.01\n[training]\nepochs = 2\nbatch_size = 8\nloss = \"poisson\"\n\
         [split]\ntrain = 1.0\nvalid = 0.0\ntest = 0.0\n"
    );
    let config = write(tmp.path(), "p.toml", &config);
    let o = anneal(&["train", "--config", &config, "--out", tmp.path().join("run").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("data row 41 holds -2 (negative)"), "{}", stderr(&o));
}

#[test]
fn poisson_loss_predicts_non_negative_counts() {
    let tmp = tempfile::tempdir().unwrap();
    // The first 2 000 rows of the RAND health insurance data: visits to a doctor.
    let mut text = String::new();
    let path = root().join("data/randhie.csv.gz");
    let mut reader = flate2_lines(&path);
    for _ in 0..2001 {
        text += &reader.next().unwrap();
        text.push('\n');
    }
    let data = write(tmp.path(), "randhie.csv", &text);
    let config = format!(
        "seed = 1\n[data]\npath = \"{data}\"\ntarget = \"mdvis\"\ntask = \"regression\"\n[preprocess]\nscaling = \"standard\"\n\
         [model]\nkind = \"linear\"\n[optimizer]\nname = \"adam\"\nlearning_rate = 0.01\n\
         [training]\nepochs = 20\nbatch_size = 64\nloss = \"poisson\"\n"
    );
    let config = write(tmp.path(), "p.toml", &config);
    let out = tmp.path().join("run");
    let o = anneal(&["train", "--config", &config, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(out.join("test_predictions.csv")).unwrap();
    let predictions: Vec<f64> = csv.lines().skip(1).map(|l| l.rsplit(',').next().unwrap().parse().unwrap()).collect();
    assert!(predictions.iter().all(|p| *p > 0.0), "exp(log-rate) is positive");
    let m = json(&out.join("metrics.json"));
    let mean = predictions.iter().sum::<f64>() / predictions.len() as f64;
    // The mean visit count is near 3: a log-rate model lands near it, not at 0.
    assert!((1.0..6.0).contains(&mean), "mean prediction {mean}; {}", m["test"]);
    let saved = json(&out.join("preprocessing.json"));
    assert_eq!(saved["target_transform"]["kind"], "none", "poisson trains on the counts themselves");
}

/// The lines of a gzip file.
fn flate2_lines(path: &Path) -> impl Iterator<Item = String> {
    let bytes = std::fs::read(path).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text).unwrap();
    text.lines().map(str::to_string).collect::<Vec<_>>().into_iter()
}

#[test]
fn lr_find_and_the_learning_curve_work_for_a_regression() {
    let tmp = tempfile::tempdir().unwrap();
    let config = diabetes(tmp.path(), "c.toml", "target = \"target\"", LINEAR);
    let out = tmp.path().join("lr");
    let o = anneal(&["lr-find", "--config", &config, "--steps", "40", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.join("lr_find.png").is_file());
    let result = json(&out.join("lr_find.json"));
    assert!(result["losses"].as_array().unwrap().iter().all(|l| l.as_f64().is_some_and(f64::is_finite) || l.is_null()));

    let out = tmp.path().join("cv");
    let o = anneal(&[
        "cv",
        "--config",
        &config,
        "--folds",
        "3",
        "--learning-curve",
        "--sizes",
        "0.3,0.6,1.0",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let cv = json(&out.join("cv.json"));
    assert_eq!(cv["learning_curve"]["metric"], "r2");
    let d = &cv["diagnosis"];
    // The error is 1 − R²; diabetes is noisy (scikit-learn's best linear R² ≈ 0.5),
    // and the noise floor estimated from the data says how much of it is noise.
    let floor = d["config"]["noise_floor"].as_f64().unwrap();
    assert!((0.2..0.9).contains(&floor), "noise floor {floor}");
    assert!(d["valid_error"].as_f64().unwrap() > 0.3, "{d}");
    assert!(out.join("learning_curve.png").is_file());
}

#[test]
fn tune_scores_a_regression_by_any_validation_metric_and_by_cross_validation() {
    let tmp = tempfile::tempdir().unwrap();
    let base = diabetes(tmp.path(), "base.toml", "target = \"target\"", &LINEAR.replace("epochs = 60", "epochs = 10"));
    let space =
        "[[param]]\nname = \"optimizer.learning_rate\"\ntype = \"float\"\nlow = 0.001\nhigh = 0.1\nlog = true\n";
    for (name, study) in [
        ("r2", "objective = \"val_r2\"\nsampler = \"random\""),
        // Folds of a regression report `loss`, not a classifier's `log_loss`.
        ("cv", "objective = \"val_loss\"\nsampler = \"random\"\ncv_folds = 2"),
    ] {
        let text = format!("base = \"{base}\"\n[study]\nname = \"{name}\"\n{study}\n{space}");
        let config = write(tmp.path(), &format!("{name}.toml"), &text);
        let out = tmp.path().join(name);
        let o = anneal(&["tune", "--config", &config, "--trials", "3", "--out", out.to_str().unwrap()]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let report = std::fs::read_to_string(out.join("report.md")).unwrap();
        assert!(report.contains("Trials: 3 complete"), "{name}: {report}");
        if name == "r2" {
            assert!(report.contains("Objective: val_r2 (Maximize)"), "{report}");
        }
    }
}
