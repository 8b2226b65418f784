//! Cross-validation against scikit-learn on the same folds, preprocessing fitted
//! inside every fold, and `anneal cv` / `anneal eval` end to end.

use anneal::cv::CvData;
use anneal::evaluate::cv::{Coverage, CrossValidation, Fold};
use anneal::train::Backend;
use anneal::{Result, RunConfig};
use serde_json::Value;

use super::{anneal, root, stderr};

/// The fixture written by `tests/it/breast_cancer_cv.py`.
fn sklearn_reference() -> Value {
    let text = std::fs::read_to_string(root().join("crates/anneal/tests/it/breast_cancer_cv.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Logistic regression (an MLP without hidden layers) with standard scaling on
/// every breast-cancer row: no validation or test part, so folds cover all rows.
fn logistic_regression(epochs: usize) -> RunConfig {
    let data = root().join("data/sklearn_breast_cancer.csv.gz");
    let text = format!(
        r#"
        seed = 0
        [data]
        path = "{}"
        target = "target"
        [split]
        train = 1.0
        valid = 0.0
        test = 0.0
        [preprocess]
        scaling = "standard"
        [model]
        hidden = []
        # scikit-learn's C = 1 adds ||w||^2 / (2 C n) to the mean log loss. A two-class
        # softmax has two weight rows whose difference w acts; an L2 penalty
        # (wd / 2)(||w0||^2 + ||w1||^2) is smallest at w1 = -w0 = w / 2, where it is
        # (wd / 4)||w||^2: the same penalty at wd = 2 / (C n), n = 455 or 456.
        [optimizer]
        name = "adam"
        learning_rate = 0.05
        weight_decay = 0.0044
        [training]
        epochs = {epochs}
        batch_size = 1024
        "#,
        data.display()
    );
    toml::from_str(&text).unwrap()
}

/// The fixture's folds: its test rows, and every other row for training.
fn sklearn_folds(reference: &Value, n: usize) -> Vec<Fold> {
    reference["test_rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rows| {
            let test: Vec<usize> = rows.as_array().unwrap().iter().map(|r| r.as_u64().unwrap() as usize).collect();
            let train = (0..n).filter(|r| !test.contains(r)).collect();
            Fold { train, test }
        })
        .collect()
}

#[test]
fn breast_cancer_logistic_regression_matches_scikit_learn_on_the_same_folds() -> Result<()> {
    let reference = sklearn_reference();
    let config = logistic_regression(300);
    let data = CvData::load(&config)?;
    assert_eq!(data.rows, (0..569).collect::<Vec<_>>(), "every data row, in file order");
    assert_eq!(data.classes, ["0", "1"]);
    let folds = sklearn_folds(&reference, data.rows.len());
    let cv = CrossValidation::new(folds, data.rows.len(), Coverage::Partition)?.with_workers(2)?;
    let report =
        cv.run(|train, test| Ok::<_, anneal::Error>(data.fit_fold(&config, train, test, Backend::Flex)?.scores))?;

    let theirs: Vec<f64> = reference["test_accuracy"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let ours: Vec<f64> = report.folds.iter().map(|f| f.test["accuracy"]).collect();
    let mean = report.test["accuracy"].mean;
    let sklearn_mean = reference["mean_test_accuracy"].as_f64().unwrap();
    eprintln!("per-fold accuracy: ours {ours:.4?}, scikit-learn {theirs:.4?}");
    eprintln!("mean: ours {mean:.4}, scikit-learn {sklearn_mean:.4}");
    assert!((mean - sklearn_mean).abs() <= 0.01, "mean accuracy {mean} vs scikit-learn's {sklearn_mean}");
    Ok(())
}

#[test]
fn the_scaler_is_fitted_inside_each_fold() -> Result<()> {
    let config = logistic_regression(1);
    let data = CvData::load(&config)?;
    let folds = sklearn_folds(&sklearn_reference(), data.rows.len());
    let column = "mean area";
    let values: Vec<f64> = data.table.numeric(column)?.into_iter().map(Option::unwrap).collect();
    let mean = |rows: &[usize]| rows.iter().map(|&r| values[r]).sum::<f64>() / rows.len() as f64;
    let everywhere = mean(&data.rows);
    for fold in &folds[..2] {
        let fit = data.fit_fold(&config, &fold.train, &fold.test, Backend::Flex)?;
        assert_eq!(fit.fit_rows, fold.train, "no validation part: the fold's training rows are the fit rows");
        // The fitted scaler's offset for the column (preprocessing.json's layout) is
        // the mean of the fold's training rows, not of all rows.
        let state = serde_json::to_value(&fit.preprocessor).unwrap();
        let scaler = &state["numeric"]["scaler"];
        let i = scaler["columns"].as_array().unwrap().iter().position(|c| c == column).unwrap();
        let offset = scaler["offset"][i].as_f64().unwrap();
        assert!(
            (offset - mean(&fold.train)).abs() < 1e-9 * offset,
            "offset {offset} vs fold mean {}",
            mean(&fold.train)
        );
        assert!((offset - everywhere).abs() > 1.0, "offset {offset} equals the all-rows mean {everywhere}");
        assert!((offset - mean(&fold.test)).abs() > 1.0);
        // So the fold's training rows come out centred in every feature, and its test rows do not.
        let centred = |rows: &[usize]| -> Result<f64> {
            let m = fit.preprocessor.transform(&data.table.take(rows)?)?;
            let worst = (0..m.n_cols)
                .map(|c| (0..m.n_rows).map(|r| f64::from(m.values[r * m.n_cols + c])).sum::<f64>() / m.n_rows as f64)
                .fold(0.0f64, |w, v| w.max(v.abs()));
            Ok(worst)
        };
        assert!(centred(&fold.train)? < 1e-5);
        assert!(centred(&fold.test)? > 1e-2);
    }
    Ok(())
}

/// A quick iris config with a validation part (early-stopping rows inside folds).
fn iris_config(dir: &std::path::Path) -> std::path::PathBuf {
    let text = format!(
        r#"
        seed = 3
        [data]
        path = "{}"
        target = "target"
        [split]
        train = 0.6
        valid = 0.2
        test = 0.2
        [model]
        hidden = []
        [optimizer]
        name = "adam"
        learning_rate = 0.1
        [training]
        epochs = 30
        batch_size = 32
        "#,
        root().join("data/sklearn_iris.csv.gz").display()
    );
    let path = dir.join("iris.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn anneal_cv_writes_scores_a_learning_curve_and_a_verdict() {
    let tmp = tempfile::tempdir().unwrap();
    let config = iris_config(tmp.path());
    let out = tmp.path().join("cv");
    let o = anneal(&[
        "cv",
        "--config",
        config.to_str().unwrap(),
        "--folds",
        "3",
        "--workers",
        "2",
        "--out",
        out.to_str().unwrap(),
        "--learning-curve",
        "--sizes",
        "0.3,0.6,1.0",
    ]);
    assert!(o.status.success(), "cv failed: {}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("cross-validated accuracy") && stdout.contains("(3 folds over 120 rows, 30 held out)"),
        "{stdout}"
    );
    assert!(stdout.contains("learning curve verdict:"), "{stdout}");
    for file in ["cv.md", "cv.json", "learning_curve.png", "learning_curve.svg", "epochs.png", "epochs.svg"] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let json: Value = serde_json::from_str(&std::fs::read_to_string(out.join("cv.json")).unwrap()).unwrap();
    let folds = json["report"]["folds"].as_array().unwrap();
    assert_eq!(folds.len(), 3);
    assert_eq!(folds.iter().map(|f| f["n_test"].as_u64().unwrap()).sum::<u64>(), 120, "every row tested once");
    assert!(json["report"]["test"]["accuracy"]["mean"].as_f64().unwrap() > 0.8);
    assert_eq!(json["learning_curve"]["points"].as_array().unwrap().len(), 3);
    let verdict = json["diagnosis"]["verdict"].as_str().unwrap();
    assert!(["high_bias", "high_variance", "good_fit", "needs_more_data"].contains(&verdict));
    let md = std::fs::read_to_string(out.join("cv.md")).unwrap();
    for text in
        ["| **mean ± std** |", "## Learning curve", "**Verdict:", "Rules:", "![learning curve](learning_curve.png)"]
    {
        assert!(md.contains(text), "cv.md lacks {text:?}:\n{md}");
    }
}

#[test]
fn anneal_eval_scores_a_run_and_draws_its_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let config = iris_config(tmp.path());
    let run = tmp.path().join("run");
    let o = anneal(&["train", "--config", config.to_str().unwrap(), "--out", run.to_str().unwrap(), "--log"]);
    assert!(o.status.success(), "train failed: {}", stderr(&o));
    let out = tmp.path().join("eval");
    let data = root().join("data/sklearn_iris.csv.gz");
    let o = anneal(&[
        "eval",
        "--run",
        run.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "eval failed: {}", stderr(&o));
    for stem in ["confusion", "roc", "pr"] {
        for ext in ["png", "svg"] {
            assert!(out.join(format!("{stem}.{ext}")).is_file(), "{stem}.{ext} missing");
        }
    }
    let m: Value = serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).unwrap()).unwrap();
    assert_eq!(m["rows"], 150);
    assert_eq!(m["classes"], serde_json::json!(["0", "1", "2"]));
    // The accuracy is that of the predictions written beside it, against the file's target column.
    let table = anneal::data::Table::read(&data, &Default::default()).unwrap();
    let truth = table.as_strings("target").unwrap();
    let predictions = std::fs::read_to_string(out.join("predictions.csv")).unwrap();
    let correct = predictions
        .lines()
        .skip(1)
        .zip(&truth)
        .filter(|(line, t)| {
            let cells: Vec<&str> = line.split(',').collect();
            assert_eq!(Some(cells[1]), t.as_deref(), "the true column is the file's target");
            cells[2] == cells[1]
        })
        .count();
    assert!((m["accuracy"].as_f64().unwrap() - correct as f64 / 150.0).abs() < 1e-12);
    assert!(m["roc_auc"]["value"].as_f64().unwrap() > 0.9);

    // On the run's test part alone, eval agrees with the test metrics of the run.
    let test_out = tmp.path().join("eval-test");
    let o = anneal(&[
        "eval",
        "--run",
        run.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--out",
        test_out.to_str().unwrap(),
        "--part",
        "test",
    ]);
    assert!(o.status.success(), "eval --part test failed: {}", stderr(&o));
    let t: Value = serde_json::from_str(&std::fs::read_to_string(test_out.join("eval.json")).unwrap()).unwrap();
    let run_metrics: Value = serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(t["rows"], 30);
    assert_eq!(t["part"], "test");
    assert_eq!(t["accuracy"], run_metrics["test"]["accuracy"]);
    assert_eq!(t["confusion_matrix"], run_metrics["test"]["confusion_matrix"]);

    let md = std::fs::read_to_string(out.join("eval.md")).unwrap();
    for text in [
        "| accuracy |",
        "| log loss |",
        "ROC-AUC (one-vs-rest, macro)",
        "| class | precision | recall |",
        "![confusion matrix](confusion.png)",
        "![ROC](roc.png)",
    ] {
        assert!(md.contains(text), "eval.md lacks {text:?}:\n{md}");
    }
}

/// Runs the CLI expecting exit status 2; returns standard error.
fn fails(args: &[&str]) -> String {
    let o = anneal(args);
    assert_eq!(o.status.code(), Some(2), "expected failure for {args:?}: {}", stderr(&o));
    stderr(&o)
}

#[test]
fn cv_and_eval_errors_name_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let config = iris_config(tmp.path());
    let c = config.to_str().unwrap();
    let out = |name: &str| tmp.path().join(name).to_str().unwrap().to_string();
    assert!(fails(&["cv", "--config", c, "--folds", "1", "--out", &out("a")]).contains("n_splits must be at least 2"));
    let e = fails(&["cv", "--config", c, "--workers", "0", "--out", &out("b")]);
    assert!(e.contains("workers = 0 is invalid: expected at least 1"), "{e}");
    let e = fails(&["cv", "--config", c, "--learning-curve", "--sizes", "0.5,0.2", "--out", &out("c")]);
    assert!(e.contains("training-set size 0.2 is invalid: sizes must increase strictly"), "{e}");
    let e = fails(&["eval", "--run", tmp.path().to_str().unwrap(), "--data", c, "--out", &out("d")]);
    assert!(e.contains("is not an anneal run folder: config.toml is missing"), "{e}");
}
