//! What a new user tripped over (the "scale and friction" issue), item by item.

use std::path::Path;
use std::process::Output;

use super::{anneal_command, root, stderr};

/// Runs the CLI from `cwd`.
fn anneal_in(cwd: &Path, args: &[&str]) -> Output {
    anneal_command(cwd).args(args).output().expect("the anneal binary runs")
}

fn succeeds(o: &Output) {
    assert!(o.status.success(), "{}", stderr(o));
}

/// A project folder: `data/p.csv.gz` and `configs/c.toml` reading it by a relative path.
fn project(dir: &Path, replace: &[(&str, &str)]) {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::create_dir_all(dir.join("configs")).unwrap();
    std::fs::copy(root().join("data/penguins.csv.gz"), dir.join("data/p.csv.gz")).unwrap();
    let mut text = std::fs::read_to_string(root().join("examples/configs/penguins.toml"))
        .unwrap()
        .replace("../../data/penguins.csv.gz", "../data/p.csv.gz")
        .replace("epochs = 200", "epochs = 3");
    for (from, to) in replace {
        assert!(text.contains(from), "{from}");
        text = text.replace(from, to);
    }
    std::fs::write(dir.join("configs/c.toml"), text).unwrap();
}

// 16. A run folder is self-describing wherever it is moved.
#[test]
fn a_moved_run_folder_resumes_and_its_config_retrains() {
    let tmp = tempfile::tempdir().unwrap();
    project(tmp.path(), &[]);
    succeeds(&anneal_in(tmp.path(), &["train", "--config", "configs/c.toml", "--out", "runs/a"]));
    std::fs::create_dir(tmp.path().join("moved")).unwrap();
    std::fs::rename(tmp.path().join("runs/a"), tmp.path().join("moved/a")).unwrap();
    succeeds(&anneal_in(tmp.path(), &["train", "--resume", "moved/a"]));
    let elsewhere = tmp.path().join("moved");
    succeeds(&anneal_in(&elsewhere, &["train", "--config", "a/config.toml", "--out", "b"]));
    succeeds(&anneal_in(&elsewhere, &["predict", "--run", "b", "--input", "../data/p.csv.gz"]));
}

/// Asserts a clean failure and returns standard error.
fn fails(o: &Output) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "expected a clean failure, got {:?}: {err}", o.status);
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// The penguins rows as text, each line passed through `f(line number, line)`.
fn penguins_lines(f: impl Fn(usize, &str) -> String) -> String {
    super::penguins_text().lines().enumerate().map(|(i, l)| f(i, l) + "\n").collect()
}

/// A project whose data file is `text` (as `data/p.csv.gz`'s place, plain CSV).
fn project_with(dir: &Path, text: &str, replace: &[(&str, &str)]) {
    project(dir, replace);
    std::fs::write(dir.join("data/p.csv"), text).unwrap();
    let config = std::fs::read_to_string(dir.join("configs/c.toml")).unwrap().replace("p.csv.gz", "p.csv");
    std::fs::write(dir.join("configs/c.toml"), config).unwrap();
}

// 14. Thousands of classes are caught; tens of classes keep bounded reports.
#[test]
fn an_identifier_target_is_refused_and_many_classes_draw_no_figures() {
    let tmp = tempfile::tempdir().unwrap();
    // `species` becomes a row identifier: 344 classes.
    let ids = penguins_lines(|i, l| if i == 0 { l.to_string() } else { l.replacen(',', &format!("-{i},"), 1) });
    project_with(tmp.path(), &ids, &[]);
    // 344 rows cannot reach the default of 1000 classes: lower the limit.
    let config = std::fs::read_to_string(tmp.path().join("configs/c.toml")).unwrap();
    let config = config.replace("target = \"species\"", "target = \"species\"\nmax_classes = 100");
    std::fs::write(tmp.path().join("configs/c.toml"), &config).unwrap();
    let err = fails(&anneal_in(tmp.path(), &["train", "--config", "configs/c.toml", "--out", "runs/a"]));
    assert!(err.contains("344 distinct values") && err.contains("task = \"regression\""), "{err}");
    // 60 classes: trained, but no 60 × 60 figures or tables.
    let many = penguins_lines(|i, l| if i == 0 { l.to_string() } else { l.replacen(',', &format!("-{},", i % 20), 1) });
    std::fs::write(tmp.path().join("data/p.csv"), many).unwrap();
    let config = config.replace("stratify = true", "stratify = false");
    std::fs::write(tmp.path().join("configs/c.toml"), config).unwrap();
    succeeds(&anneal_in(tmp.path(), &["train", "--config", "configs/c.toml", "--out", "runs/b"]));
    let run = tmp.path().join("runs/b");
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(report.contains("No figures: 60 classes"), "{report}");
    assert!(!report.contains("### Confusion matrix") && !run.join("confusion.svg").exists());
}

// 17. No test rows: said so, no made-up numbers.
#[test]
fn a_run_without_test_rows_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    project(tmp.path(), &[("train = 0.6", "train = 0.8"), ("test = 0.2", "test = 0.0")]);
    let o = anneal_in(tmp.path(), &["train", "--config", "configs/c.toml", "--out", "runs/a"]);
    succeeds(&o);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("no test rows") && !out.contains("NaN"), "{out}");
    let report = std::fs::read_to_string(tmp.path().join("runs/a/report.md")).unwrap();
    assert!(report.contains("No test rows") && !report.contains("NaN") && !report.contains("Confusion"), "{report}");
}

// 20. The small ones.
#[test]
fn small_frictions_get_clear_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A byte-order mark is not part of the first column's name.
    project_with(dir, &format!("\u{feff}{}", penguins_lines(|_, l| l.to_string())), &[]);
    succeeds(&anneal_in(dir, &["train", "--config", "configs/c.toml", "--out", "runs/bom"]));
    // A semicolon-separated file is recognised as such.
    let semicolons = penguins_lines(|_, l| l.replace(',', ";"));
    std::fs::write(dir.join("data/p.csv"), &semicolons).unwrap();
    let err = fails(&anneal_in(dir, &["train", "--config", "configs/c.toml", "--out", "runs/semi"]));
    assert!(err.contains("set [data] delimiter = \";\""), "{err}");
    let config = std::fs::read_to_string(dir.join("configs/c.toml")).unwrap();
    let with_delimiter = config.replace("target = \"species\"", "target = \"species\"\ndelimiter = \";\"");
    std::fs::write(dir.join("configs/d.toml"), with_delimiter).unwrap();
    succeeds(&anneal_in(dir, &["train", "--config", "configs/d.toml", "--out", "runs/semi2"]));
    succeeds(&anneal_in(dir, &["predict", "--run", "runs/semi2", "--input", "data/p.csv"]));
    std::fs::write(dir.join("data/p.csv"), penguins_lines(|_, l| l.to_string())).unwrap();
    // One class, or no feature: said so.
    let one =
        penguins_lines(|i, l| if i == 0 { l.to_string() } else { l.replacen(&l[..l.find(',').unwrap()], "Adelie", 1) });
    std::fs::write(dir.join("data/one.csv"), one).unwrap();
    std::fs::write(
        dir.join("configs/one.toml"),
        config.replace("p.csv", "one.csv").replace("stratify = true", "stratify = false"),
    )
    .unwrap();
    let err = fails(&anneal_in(dir, &["train", "--config", "configs/one.toml", "--out", "runs/one"]));
    assert!(err.contains("every row holds the one class `Adelie`"), "{err}");
    std::fs::write(
        dir.join("configs/none.toml"),
        config.replace("target = \"species\"", "target = \"species\"\nfeatures = []"),
    )
    .unwrap();
    let err = fails(&anneal_in(dir, &["train", "--config", "configs/none.toml", "--out", "runs/none"]));
    assert!(err.contains("[data] features lists no column"), "{err}");
    // `tune --workers 0` is a usage error.
    let o = anneal_in(dir, &["tune", "--config", "configs/c.toml", "--workers", "0"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--workers"), "{}", stderr(&o));
    // A bad number in predict's input: no advice that a trained model cannot follow.
    succeeds(&anneal_in(dir, &["train", "--config", "configs/c.toml", "--out", "runs/p"]));
    let bad = penguins_lines(|i, l| if i == 2 { l.replacen("39.5", "forty", 1) } else { l.to_string() });
    std::fs::write(dir.join("data/bad.csv"), bad).unwrap();
    let err = fails(&anneal_in(dir, &["predict", "--run", "runs/p", "--input", "data/bad.csv"]));
    assert!(
        err.contains("`forty` is not a number") && err.contains("trained with") && !err.contains("categorical"),
        "{err}"
    );
    // An unavailable backend leaves no folder behind.
    if !cfg!(feature = "wgpu") {
        let err =
            fails(&anneal_in(dir, &["train", "--config", "configs/c.toml", "--out", "runs/gpu", "--device", "wgpu"]));
        assert!(!err.is_empty() && !dir.join("runs/gpu").exists());
    }
}

// 13. A matrix above the memory budget is refused before it is allocated.
#[test]
fn a_one_hot_matrix_above_the_memory_budget_is_a_typed_error_naming_the_column() {
    let tmp = tempfile::tempdir().unwrap();
    // 3,000 rows; `title` has 1,500 categories: 3,000 × ~1,500 cells × 16 B ≈ 72 MB.
    let mut text = String::from("x,title,y\n");
    for i in 0..3000 {
        text += &format!("{},t{},{}\n", i % 17, i % 1500, if i % 3 == 0 { "a" } else { "b" });
    }
    std::fs::create_dir_all(tmp.path().join("data")).unwrap();
    std::fs::write(tmp.path().join("data/big.csv"), text).unwrap();
    let config = "seed = 1\n[data]\npath = \"data/big.csv\"\ntarget = \"y\"\n[preprocess]\nmemory_budget_mb = 20\n\
                  [model]\nhidden = [4]\n[optimizer]\nname = \"adam\"\nlearning_rate = 0.01\n\
                  [training]\nepochs = 1\nbatch_size = 64\n";
    std::fs::write(tmp.path().join("c.toml"), config).unwrap();
    let o = anneal_in(tmp.path(), &["train", "--config", "c.toml", "--out", "runs/a"]);
    let err = fails(&o);
    assert!(
        err.contains("one-hot column `title` alone makes") && err.contains("above the memory budget of 21 MB"),
        "{err}"
    );
    // Grouping rare categories fits the budget, and the warning that each category makes
    // a column, no longer true, is not given (the size check before the matrix speaks for it).
    let grouped = config.replace("memory_budget_mb = 20", "memory_budget_mb = 20\none_hot = { min_frequency = 3 }");
    std::fs::write(tmp.path().join("g.toml"), grouped).unwrap();
    let o = anneal_in(tmp.path(), &["train", "--config", "g.toml", "--out", "runs/b"]);
    succeeds(&o);
    assert!(!stderr(&o).contains("feature `title` has 1500 categories"), "{}", stderr(&o));
    // Without grouping, inside a larger budget, it trains with the warning.
    std::fs::write(tmp.path().join("w.toml"), config.replace("memory_budget_mb = 20", "memory_budget_mb = 200"))
        .unwrap();
    let o = anneal_in(tmp.path(), &["train", "--config", "w.toml", "--out", "runs/c"]);
    succeeds(&o);
    assert!(stderr(&o).contains("feature `title` has 1500 categories"), "{}", stderr(&o));
}

// 18. `data inspect` advises, and writes a file only when asked.
#[test]
fn inspect_advises_and_writes_only_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let mut text = String::from("id,const,bmi,when,flag,y\n");
    for i in 0..100 {
        let bmi = if i % 10 == 0 { 0.0 } else { 18.0 + (i % 23) as f64 };
        text += &format!(
            "{},k,{bmi},2020-01-{:02},{},{}\n",
            i + 1,
            i % 28 + 1,
            i % 2,
            if i % 12 == 0 { "rare" } else { "common" }
        );
    }
    std::fs::write(tmp.path().join("d.csv"), text).unwrap();
    let o = anneal_in(tmp.path(), &["data", "inspect", "d.csv", "--target", "y"]);
    succeeds(&o);
    let out = String::from_utf8_lossy(&o.stdout);
    for expected in [
        "`id`: ID-like",
        "`const`: constant",
        "`bmi`: 10 zero(s) far below every other value",
        "`when`: dates stored as text",
        "`flag`: binary",
        "## Target `y`",
        "| common | 91 | 91.0 % |",
        "Imbalanced",
    ] {
        assert!(out.contains(expected), "{expected}:\n{out}");
    }
    let flag_row = out.lines().find(|l| l.starts_with("| flag |")).unwrap();
    assert!(flag_row.ends_with("| – |"), "no IQR outliers for a binary column: {flag_row}");
    let written: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(written.len(), 1, "nothing written without --output: {written:?}");
}

/// The first epoch's training loss of a run folder (history.csv).
fn first_train_loss(run: &Path) -> f64 {
    let text = std::fs::read_to_string(run.join("history.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = header.iter().position(|h| *h == "train_loss").unwrap();
    lines.next().unwrap().split(',').nth(column).unwrap().parse().unwrap()
}

// Classification options: class weights in the loss.
#[test]
fn class_weights_change_the_loss_and_name_unknown_classes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    project(dir, &[]);
    let config = std::fs::read_to_string(dir.join("configs/c.toml")).unwrap();
    let with = |name: &str, setting: &str| {
        std::fs::write(
            dir.join(format!("configs/{name}.toml")),
            config.replace("[training]\n", &format!("[training]\n{setting}\n")),
        )
        .unwrap();
        anneal_in(dir, &["train", "--config", &format!("configs/{name}.toml"), "--out", &format!("runs/{name}")])
    };
    succeeds(&anneal_in(dir, &["train", "--config", "configs/c.toml", "--out", "runs/plain"]));
    succeeds(&with("balanced", "class_weight = \"balanced\""));
    succeeds(&with("ones", "class_weight = { Adelie = 1.0 }"));
    succeeds(&with("heavy", "class_weight = { Chinstrap = 20.0 }"));
    let plain = first_train_loss(&dir.join("runs/plain"));
    // Unit weights are the plain loss; other weights change it (same seed, same batches).
    assert!((first_train_loss(&dir.join("runs/ones")) - plain).abs() < 1e-6);
    assert!((first_train_loss(&dir.join("runs/balanced")) - plain).abs() > 1e-4);
    assert!((first_train_loss(&dir.join("runs/heavy")) - plain).abs() > 1e-4);
    let err = stderr(&with("typo", "class_weight = { Chinstrapp = 2.0 }"));
    assert!(err.contains("class `Chinstrapp`") && err.contains("Adelie, Chinstrap, Gentoo"), "{err}");
    let err = stderr(&with("zero", "class_weight = { Gentoo = 0.0 }"));
    assert!(err.contains("positive"), "{err}");
    let err = stderr(&with("word", "class_weight = \"balance\""));
    assert!(err.contains("class_weight is \"balanced\" or a table"), "{err}");
}

// Classification options: the class order given in the config.
#[test]
fn classes_in_the_given_order_are_coded_and_reported_so() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    project(
        dir,
        &[("target = \"species\"", "target = \"species\"\nclasses = [\"Gentoo\", \"Adelie\", \"Chinstrap\"]")],
    );
    succeeds(&anneal_in(dir, &["train", "--config", "configs/c.toml", "--out", "runs/o"]));
    let o = anneal_in(dir, &["predict", "--run", "runs/o", "--input", "data/p.csv.gz"]);
    succeeds(&o);
    let header = String::from_utf8_lossy(&o.stdout).lines().next().unwrap().to_string();
    let g = header.find("Gentoo").unwrap();
    assert!(
        g < header.find("Adelie").unwrap() && header.find("Adelie").unwrap() < header.find("Chinstrap").unwrap(),
        "{header}"
    );
    let config = std::fs::read_to_string(dir.join("configs/c.toml")).unwrap();
    for (bad, expected) in [
        ("classes = [\"Gentoo\", \"Adelie\"]", "it holds `Chinstrap`, which [data] classes does not list"),
        ("classes = [\"Gentoo\", \"Adelie\", \"Chinstrap\", \"Emperor\"]", "class `Emperor` is listed but no row"),
        ("classes = [\"Gentoo\", \"Gentoo\", \"Adelie\", \"Chinstrap\"]", "class `Gentoo` is listed twice"),
    ] {
        std::fs::write(
            dir.join("configs/bad.toml"),
            config.replace("classes = [\"Gentoo\", \"Adelie\", \"Chinstrap\"]", bad),
        )
        .unwrap();
        let err = stderr(&anneal_in(dir, &["train", "--config", "configs/bad.toml", "--out", "runs/bad"]));
        assert!(err.contains(expected), "{bad}: {err}");
    }
}
