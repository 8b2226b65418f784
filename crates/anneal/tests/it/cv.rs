//! Cross-validation against scikit-learn on the same folds, preprocessing fitted
//! inside every fold, the splitters of `anneal cv`, and `anneal cv` / `anneal eval`
//! end to end, with the evaluation figures `anneal train` and `anneal eval` share.

use anneal::cv::{CvData, Splitter};
use anneal::evaluate::cv::{Coverage, CrossValidation, Fold};
use anneal::train::Backend;
use anneal::{Result, RunConfig};
use serde_json::Value;

use super::{anneal, root, stderr, write};

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
        let state = serde_json::to_value(&fit.features).unwrap()["preprocessor"].clone();
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
            let m = fit.features.transform(&data.table.take(rows)?)?;
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
        "![ROC curves](roc.png)",
        "![precision-recall curves](pr.png)",
        "*One-vs-rest ROC curves",
    ] {
        assert!(md.contains(text), "eval.md lacks {text:?}:\n{md}");
    }
    // Rows of one class: metrics and the heat map, and the report says why there are
    // no curves.
    let columns = table.column_names();
    let cells: Vec<Vec<Option<String>>> = columns.iter().map(|c| table.as_strings(c).unwrap()).collect();
    let mut csv = columns.join(",") + "\n";
    for r in (0..150).filter(|&r| truth[r].as_deref() == Some("1")) {
        csv += &cells.iter().map(|col| col[r].clone().unwrap()).collect::<Vec<_>>().join(",");
        csv.push('\n');
    }
    let one_class = super::write(tmp.path(), "versicolor.csv", &csv);
    let one_out = tmp.path().join("eval-one-class");
    let o = anneal(&["eval", "--run", run.to_str().unwrap(), "--data", &one_class, "--out", one_out.to_str().unwrap()]);
    assert!(o.status.success(), "eval of one class failed: {}", stderr(&o));
    let one_md = std::fs::read_to_string(one_out.join("eval.md")).unwrap();
    assert!(one_md.contains("No ROC or precision-recall curves: the rows hold one class only."), "{one_md}");
    assert!(one_out.join("confusion.png").is_file() && !one_out.join("roc.png").exists());

    // The legend's AUC of each class is that class's one-vs-rest AUC on the scored
    // rows (recomputed from predictions.csv, whose probabilities have 6 decimals).
    let svg = std::fs::read_to_string(out.join("roc.svg")).unwrap();
    let (y, proba) = predictions_file(&out.join("predictions.csv"), 3);
    for c in 0..3 {
        let t: Vec<usize> = y.iter().map(|&v| usize::from(v == c)).collect();
        let score: Vec<f64> = proba.iter().map(|p| p[c]).collect();
        let auc = anneal::evaluate::roc_auc(&t, &score).unwrap();
        let shown = legend_value(&svg, &format!("class {c} (AUC "));
        assert!((shown - auc).abs() < 1.5e-3, "class {c}: legend AUC {shown}, recomputed {auc}");
    }
}

/// The true class codes and the probabilities of a `row,true,predicted,p_...`
/// file whose classes are `0..k` spelled as numbers.
fn predictions_file(path: &std::path::Path, k: usize) -> (Vec<usize>, Vec<Vec<f64>>) {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            let p: Vec<f64> = cells[3..3 + k].iter().map(|v| v.parse().unwrap()).collect();
            (cells[1].parse::<usize>().unwrap(), p)
        })
        .unzip()
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
    assert!(e.contains("is not an anneal run folder: preprocessing.json is missing"), "{e}");
}

/// A short breast-cancer config (30 features, two classes) for the splitter tests.
fn breast_cancer_config(dir: &std::path::Path, test: f64) -> (std::path::PathBuf, RunConfig) {
    let text = format!(
        r#"
        seed = 5
        [data]
        path = "{}"
        target = "target"
        [split]
        train = {}
        valid = 0.2
        test = {test}
        [preprocess]
        scaling = "standard"
        [model]
        hidden = []
        [optimizer]
        name = "adam"
        learning_rate = 0.05
        [training]
        epochs = 5
        batch_size = 128
        "#,
        root().join("data/sklearn_breast_cancer.csv.gz").display(),
        0.8 - test
    );
    let path = dir.join("breast_cancer.toml");
    std::fs::write(&path, &text).unwrap();
    let config = RunConfig::load(&path).unwrap();
    (path, config)
}

/// Runs `anneal cv` with `extra` arguments into `dir/name`; returns cv.json.
fn cv_json(config: &std::path::Path, dir: &std::path::Path, name: &str, extra: &[&str]) -> Value {
    let out = dir.join(name);
    let mut args = vec!["cv", "--config", config.to_str().unwrap(), "--out", out.to_str().unwrap(), "--workers", "2"];
    args.extend_from_slice(extra);
    let o = anneal(&args);
    assert!(o.status.success(), "cv {extra:?} failed: {}", stderr(&o));
    serde_json::from_str(&std::fs::read_to_string(out.join("cv.json")).unwrap()).unwrap()
}

/// The folds of cv.json as (train, test) data rows.
fn json_folds(json: &Value) -> Vec<(Vec<usize>, Vec<usize>)> {
    let rows = |v: &Value| v.as_array().unwrap().iter().map(|r| r.as_u64().unwrap() as usize).collect::<Vec<_>>();
    json["folds"].as_array().unwrap().iter().map(|f| (rows(&f["train"]), rows(&f["test"]))).collect()
}

#[test]
fn k_fold_split_cuts_the_shuffled_rows_blind_to_the_classes() -> Result<()> {
    let tmp = tempfile::tempdir().unwrap();
    let (path, config) = breast_cancer_config(tmp.path(), 0.2);
    let json = cv_json(&path, tmp.path(), "kfold", &["--split", "k-fold", "--folds", "4"]);
    assert_eq!(json["splitter"], serde_json::json!({"kind": "k_fold"}));

    // The folds are anneal-data's seeded k-fold over the cross-validated rows.
    let data = CvData::load(&config)?;
    let to_data_rows = |positions: &[usize]| positions.iter().map(|&p| data.original[data.rows[p]]).collect::<Vec<_>>();
    let expected: Vec<(Vec<usize>, Vec<usize>)> = anneal::data::folds::k_fold(data.rows.len(), 4, Some(config.seed))?
        .iter()
        .map(|f| (to_data_rows(&f.train), to_data_rows(&f.test)))
        .collect();
    assert_eq!(json_folds(&json), expected);
    // ... which are not the stratified folds of the default.
    let stratified: Vec<Vec<usize>> =
        data.stratified_folds(4, config.seed)?.iter().map(|f| to_data_rows(&f.test)).collect();
    assert_ne!(json_folds(&json).into_iter().map(|f| f.1).collect::<Vec<_>>(), stratified);
    let md = std::fs::read_to_string(tmp.path().join("kfold/cv.md")).unwrap();
    assert!(md.contains("4 folds of the shuffled rows (not stratified, seed 5)"), "{md}");
    Ok(())
}

/// A penguins config without cleaning: `island` (3 values) and `sex` (missing cells).
fn penguins_config(dir: &std::path::Path) -> (std::path::PathBuf, RunConfig) {
    let text = format!(
        r#"
        seed = 2
        [data]
        path = "{}"
        target = "species"
        [split]
        train = 0.8
        valid = 0.2
        test = 0.0
        [preprocess]
        numeric_impute = "median"
        scaling = "standard"
        [model]
        hidden = []
        [optimizer]
        name = "adam"
        learning_rate = 0.05
        [training]
        epochs = 5
        batch_size = 64
        "#,
        root().join("data/penguins.csv.gz").display()
    );
    let path = dir.join("penguins.toml");
    std::fs::write(&path, &text).unwrap();
    let config = RunConfig::load(&path).unwrap();
    (path, config)
}

#[test]
fn group_folds_keep_each_island_in_one_fold() -> Result<()> {
    let tmp = tempfile::tempdir().unwrap();
    let (path, config) = penguins_config(tmp.path());
    let json = cv_json(&path, tmp.path(), "group", &["--group", "island", "--folds", "3"]);
    assert_eq!(json["splitter"], serde_json::json!({"kind": "group", "column": "island"}));
    assert_eq!(json["n_groups"], 3);
    let table = anneal::data::Table::read(root().join("data/penguins.csv.gz"), &Default::default())?;
    let island = table.as_strings("island")?;
    let islands = |rows: &[usize]| {
        rows.iter().map(|&r| island[r].clone().unwrap()).collect::<std::collections::BTreeSet<String>>()
    };
    let folds = json_folds(&json);
    let mut tested: Vec<usize> = folds.iter().flat_map(|f| f.1.clone()).collect();
    tested.sort_unstable();
    assert_eq!(tested, (0..344).collect::<Vec<_>>(), "every row tested once");
    let mut seen = std::collections::BTreeSet::new();
    for (train, test) in &folds {
        let test_islands = islands(test);
        assert_eq!(test_islands.len(), 1, "one island per test fold: {test_islands:?}");
        assert!(islands(train).is_disjoint(&test_islands), "an island is both trained and tested on");
        assert!(seen.insert(test_islands.into_iter().next().unwrap()), "an island tested in two folds");
    }
    let md = std::fs::read_to_string(tmp.path().join("group/cv.md")).unwrap();
    for text in ["3 group folds by column `island`", "3 groups in column `island`; the column is also a feature"] {
        assert!(md.contains(text), "cv.md lacks {text:?}:\n{md}");
    }

    // Inside a fold, the early-stopping rows are whole islands too.
    let data = CvData::load(&config)?.with_splitter(Splitter::Group { column: "island".into() })?;
    let (cut, coverage) = data.folds(3, config.seed)?;
    assert_eq!(coverage, Coverage::Partition);
    let fold = cut.iter().find(|f| f.train.len() > 250).unwrap();
    let fit = data.fit_fold(&config, &fold.train, &fold.test, Backend::Flex)?;
    assert!(!fit.valid_rows.is_empty());
    assert!(islands(&fit.fit_rows).is_disjoint(&islands(&fit.valid_rows)));
    Ok(())
}

#[test]
fn time_series_folds_train_on_earlier_rows_only() -> Result<()> {
    let tmp = tempfile::tempdir().unwrap();
    let (path, config) = breast_cancer_config(tmp.path(), 0.0);
    let json = cv_json(&path, tmp.path(), "ts", &["--split", "time-series", "--folds", "3", "--gap", "5"]);
    assert_eq!(json["splitter"], serde_json::json!({"kind": "time_series", "gap": 5}));
    // 569 rows in 4 blocks of 142: the first 143 rows are only trained on.
    let folds = json_folds(&json);
    for (f, (train, test)) in folds.iter().enumerate() {
        let start = 143 + 142 * f;
        assert_eq!(*test, (start..start + 142).collect::<Vec<_>>(), "fold {f}");
        assert_eq!(*train, (0..start - 5).collect::<Vec<_>>(), "fold {f}: every earlier row but the gap");
    }
    let md = std::fs::read_to_string(tmp.path().join("ts/cv.md")).unwrap();
    assert!(md.contains("the first 143 rows in row order are only trained on"), "{md}");
    assert_eq!(json["report"]["folds"].as_array().unwrap().len(), 3);

    // Inside a fold, the early-stopping rows are the latest training rows.
    let data = CvData::load(&config)?.with_splitter(Splitter::TimeSeries { gap: 5 })?;
    let (cut, coverage) = data.folds(3, config.seed)?;
    assert_eq!(coverage, Coverage::Disjoint);
    let fit = data.fit_fold(&config, &cut[0].train, &cut[0].test, Backend::Flex)?;
    assert_eq!(fit.valid_rows.len(), 28, "a fifth of the 138 training rows");
    assert!(fit.fit_rows.iter().max() < fit.valid_rows.iter().min());
    Ok(())
}

#[test]
fn splitter_errors_name_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let (path, _) = penguins_config(tmp.path());
    let c = path.to_str().unwrap();
    let out = |name: &str| tmp.path().join(name).to_str().unwrap().to_string();
    let e = fails(&["cv", "--config", c, "--group", "island", "--folds", "5", "--out", &out("a")]);
    assert!(
        e.contains("group column `island` has 3 distinct values in the cross-validated rows, fewer than the 5 folds"),
        "{e}"
    );
    let e = fails(&["cv", "--config", c, "--group", "sex", "--out", &out("b")]);
    assert!(e.contains("group column `sex` is missing a value in data row 3"), "{e}");
    let e = fails(&["cv", "--config", c, "--group", "colony", "--out", &out("c")]);
    assert!(e.contains("column `colony` does not exist"), "{e}");
    let e = fails(&["cv", "--config", c, "--split", "group", "--out", &out("d")]);
    assert!(e.contains("--split group needs --group <COLUMN>"), "{e}");
    let e = fails(&["cv", "--config", c, "--split", "k-fold", "--group", "island", "--out", &out("e")]);
    assert!(e.contains("--group is only for group k-fold"), "{e}");
    let e = fails(&["cv", "--config", c, "--gap", "3", "--out", &out("f")]);
    assert!(e.contains("--gap is only for time-series folds"), "{e}");
    let e = fails(&["cv", "--config", c, "--split", "time-series", "--folds", "3", "--gap", "300", "--out", &out("g")]);
    assert!(e.contains("needs at least"), "{e}");
    for name in ["a", "b", "c", "d", "e", "f", "g"] {
        assert!(!tmp.path().join(name).join("cv.json").exists(), "{name}: a failed cv wrote results");
    }
}

/// The number after `label` in an SVG's text (a legend's "AUC 0.995").
fn legend_value(svg: &str, label: &str) -> f64 {
    let at = svg.find(label).unwrap_or_else(|| panic!("no legend entry {label:?}"));
    svg[at + label.len()..at + label.len() + 5].parse().unwrap()
}

#[test]
fn train_report_embeds_the_test_set_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let (path, _) = breast_cancer_config(tmp.path(), 0.2);
    let run = tmp.path().join("run");
    let o = anneal(&["train", "--config", path.to_str().unwrap(), "--out", run.to_str().unwrap(), "--log"]);
    assert!(o.status.success(), "train failed: {}", stderr(&o));
    for stem in ["confusion", "roc", "pr"] {
        let png = std::fs::read(run.join(format!("{stem}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{stem}.png is a PNG");
        let svg = std::fs::read_to_string(run.join(format!("{stem}.svg"))).unwrap();
        assert!(svg.starts_with("<svg"), "{stem}.svg is an SVG");
    }
    // Figures sit under the test metrics, before the run's settings, with captions.
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    let at = |text: &str| md.find(text).unwrap_or_else(|| panic!("report.md lacks {text:?}:\n{md}"));
    assert!(at("## Test metrics") < at("### Figures of the test rows"));
    assert!(at("### Figures of the test rows") < at("![confusion matrix](confusion.png)"));
    assert!(at("![confusion matrix](confusion.png)") < at("![ROC curves](roc.png)"));
    assert!(at("![ROC curves](roc.png)") < at("![precision-recall curves](pr.png)"));
    assert!(at("![precision-recall curves](pr.png)") < at("## Run"));
    at("*ROC curve of class `1` as the positive class");
    at("*Rows: true class; columns: predicted class.");

    // The binary curves are those of class 1 on the test rows: the legends' AUC and
    // AP are recomputed from test_predictions.csv.
    let (y, proba) = predictions_file(&run.join("test_predictions.csv"), 2);
    let metrics: Value = serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(y.len() as u64, metrics["test"]["rows"].as_u64().unwrap());
    let score: Vec<f64> = proba.iter().map(|p| p[1]).collect();
    let roc = std::fs::read_to_string(run.join("roc.svg")).unwrap();
    let pr = std::fs::read_to_string(run.join("pr.svg")).unwrap();
    let auc = anneal::evaluate::roc_auc(&y, &score).unwrap();
    let ap = anneal::evaluate::average_precision(&y, &score).unwrap();
    assert!((legend_value(&roc, "class 1 (AUC ") - auc).abs() < 1.5e-3, "AUC {auc}");
    assert!((legend_value(&pr, "class 1 (AP ") - ap).abs() < 1.5e-3, "AP {ap}");
    assert!(roc.contains("ROC curve (positive class: 1)") && roc.contains("false positive rate"));
    let prevalence = y.iter().sum::<usize>() as f64 / y.len() as f64;
    assert!(pr.contains(&format!("no skill ({prevalence:.3})")), "the no-skill line is class 1's share");

    // `anneal eval` on the run's test rows draws the same figures.
    let out = tmp.path().join("eval");
    let data = root().join("data/sklearn_breast_cancer.csv.gz");
    let o = anneal(&[
        "eval",
        "--run",
        run.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--part",
        "test",
    ]);
    assert!(o.status.success(), "eval failed: {}", stderr(&o));
    let eval_roc = std::fs::read_to_string(out.join("roc.svg")).unwrap();
    assert_eq!(legend_value(&eval_roc, "class 1 (AUC "), legend_value(&roc, "class 1 (AUC "));
    let eval_md = std::fs::read_to_string(out.join("eval.md")).unwrap();
    let caption = &md[at("*ROC curve of class")..];
    assert!(eval_md.contains(&caption[..caption.find('\n').unwrap()]), "eval.md has the same ROC caption");
}

/// Two well-separated blobs with 30 % of the labels flipped: no model does better
/// than 70 % accuracy, so a converged curve there is not underfitting.
#[test]
fn a_noisy_problem_is_not_called_high_bias_for_the_error_its_noise_explains() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = anneal::data::SeededRng::new(17);
    let mut csv = String::from("x1,x2,label\n");
    for i in 0..600 {
        let class = i % 2;
        let centre = if class == 0 { -3.0 } else { 3.0 };
        let label = if rng.next_f64() < 0.3 { 1 - class } else { class };
        csv += &format!("{:.4},{:.4},{}\n", centre + rng.normal(), rng.normal(), ["a", "b"][label]);
    }
    let data = write(tmp.path(), "noisy.csv", &csv);
    let config = format!(
        "seed = 1\n[data]\npath = \"{data}\"\ntarget = \"label\"\n[split]\ntrain = 0.8\nvalid = 0.0\ntest = 0.2\n\
         [preprocess]\nscaling = \"standard\"\n[model]\nkind = \"linear\"\n\
         [optimizer]\nname = \"adam\"\nlearning_rate = 0.05\n[training]\nepochs = 15\nbatch_size = 32\n"
    );
    let config = write(tmp.path(), "noisy.toml", &config);
    let run = |out: &str, extra: &[&str]| -> Value {
        let out = tmp.path().join(out);
        let mut args = vec!["cv", "--config", &config, "--folds", "3", "--learning-curve", "--sizes", "0.5,1.0"];
        let out_arg = out.to_str().unwrap().to_string();
        args.extend(["--out", &out_arg]);
        args.extend(extra);
        let o = anneal(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_str(&std::fs::read_to_string(out.join("cv.json")).unwrap()).unwrap()
    };
    let relative = run("relative", &[]);
    let d = &relative["diagnosis"];
    let floor = d["config"]["noise_floor"].as_f64().unwrap();
    let valid_error = d["valid_error"].as_f64().unwrap();
    assert!((0.2..0.4).contains(&floor), "estimated noise floor {floor}");
    assert!(valid_error > 0.2, "the labels are 30 % noise: validation error {valid_error}");
    assert_ne!(d["verdict"], "high_bias", "{d}");
    // The old fixed threshold (0.10) calls the same curve underfit.
    let fixed = run("fixed", &["--max-error", "0.1"]);
    assert_eq!(fixed["diagnosis"]["verdict"], "high_bias", "{}", fixed["diagnosis"]);
}
