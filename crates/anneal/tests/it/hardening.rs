//! The hardening issue, item by item: each bad input, fault or race that once
//! gave a silent wrong result, a panic or lost data is now a clear error (exit
//! status 2, a message naming the place) or handled, and stays so.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use super::{anneal, anneal_command, penguins_text, root, stderr, write};

/// The penguins config with `data` as its data file, 3 epochs, and each `(from, to)` substitution.
fn config(dir: &Path, data: &Path, replace: &[(&str, &str)]) -> String {
    let mut text = std::fs::read_to_string(root().join("examples/configs/penguins.toml"))
        .unwrap()
        .replace("../../data/penguins.csv.gz", data.to_str().unwrap())
        .replace("epochs = 200", "epochs = 3");
    for (from, to) in replace {
        assert!(text.contains(from), "{from}");
        text = text.replace(from, to);
    }
    write(dir, "config.toml", &text)
}

fn penguins() -> PathBuf {
    root().join("data/penguins.csv.gz")
}

/// Asserts a clean failure (exit 2, no panic) and returns standard error.
fn fails(o: &Output) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "expected a clean failure, got {:?}: {err}", o.status);
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn succeeds(o: &Output) {
    assert!(o.status.success(), "{}", stderr(o));
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Trains the penguins config into `out`.
fn train(dir: &Path, out: &Path) -> Output {
    let c = config(dir, &penguins(), &[]);
    anneal(&["train", "--config", &c, "--out", path(out)])
}

// 1. The target is never an input.
#[test]
fn target_listed_as_feature_or_excluded_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let both = ("target = \"species\"", "target = \"species\"\nfeatures = [\"species\", \"island\"]");
    let c = config(tmp.path(), &penguins(), &[both]);
    let err = fails(&anneal(&["train", "--config", &c, "--out", path(&tmp.path().join("a"))]));
    assert!(err.contains("`species`") && err.contains("features"), "{err}");
    let excluded = ("target = \"species\"", "target = \"species\"\nexclude = [\"species\"]");
    let c = config(tmp.path(), &penguins(), &[excluded]);
    let err = fails(&anneal(&["train", "--config", &c, "--out", path(&tmp.path().join("b"))]));
    assert!(err.contains("`species`") && err.contains("exclude"), "{err}");
}

// 2. Infinite values: rejected with file, line and column by default, missing on request.
#[test]
fn infinite_values_are_rejected_in_every_reader_or_read_as_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let text = penguins_text();
    for (i, bad) in ["inf", "-inf", "Infinity", "1e400"].iter().enumerate() {
        // A training row (line 5) and, in another file, the last row.
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        let line = if i % 2 == 0 { 5 } else { lines.len() };
        let mut cells: Vec<String> = lines[line - 1].split(',').map(String::from).collect();
        cells[2] = bad.to_string();
        lines[line - 1] = cells.join(",");
        let data = tmp.path().join(format!("inf{i}.csv"));
        std::fs::write(&data, lines.join("\n") + "\n").unwrap();
        let c = config(tmp.path(), &data, &[]);
        let err = fails(&anneal(&["train", "--config", &c, "--out", path(&tmp.path().join(format!("o{i}")))]));
        assert!(
            err.contains(&format!("line {line}, column `bill_length_mm`: `{bad}` is not a finite number")),
            "{err}"
        );
    }
    // predict and eval read with the run's policy.
    let run = tmp.path().join("run");
    succeeds(&train(tmp.path(), &run));
    let bad = tmp.path().join("inf0.csv");
    let err = fails(&anneal(&["predict", "--run", path(&run), "--input", path(&bad)]));
    assert!(err.contains("line 5, column `bill_length_mm`"), "{err}");
    let err =
        fails(&anneal(&["eval", "--run", path(&run), "--data", path(&bad), "--out", path(&tmp.path().join("e"))]));
    assert!(err.contains("line 5, column `bill_length_mm`"), "{err}");
    // `[clean] non_finite = "missing"`: the cell is imputed like any missing one.
    let c = config(tmp.path(), &bad, &[("[split]", "[clean]\nnon_finite = \"missing\"\n\n[split]")]);
    let lenient = tmp.path().join("lenient");
    succeeds(&anneal(&["train", "--config", &c, "--out", path(&lenient)]));
    let o = anneal(&["predict", "--run", path(&lenient), "--input", path(&bad)]);
    succeeds(&o);
    let csv = String::from_utf8(o.stdout).unwrap();
    assert!(!csv.to_lowercase().contains("nan") && !csv.contains("inf"), "{csv}");
}

// 3. A finite blow-up is a divergence, and nothing diverged is checkpointed.
#[test]
fn an_exploding_loss_stops_the_run_without_a_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let c = config(tmp.path(), &penguins(), &[("learning_rate = 0.01", "learning_rate = 1e6")]);
    let out = tmp.path().join("out");
    let err = fails(&anneal(&["train", "--config", &c, "--out", path(&out)]));
    assert!(err.contains("training diverged at epoch 1, iteration"), "{err}");
    assert!(!out.join("checkpoint/state.json").exists() && !out.join("model.bpk").exists());
    // The folder says how it ended, for the dashboard.
    let status = anneal_core::status::RunStatus::read(&out).expect("status.json");
    assert_eq!(status.state, anneal_core::status::RunState::Diverged);
    assert!(status.message.unwrap().contains("training diverged at epoch 1"));
}

// 4. Changed bytes in a run folder or a checkpoint are found before they are used.
#[test]
fn corrupted_weights_are_refused_by_predict_eval_and_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    succeeds(&train(tmp.path(), &run));
    let flip = |file: &Path| {
        let mut bytes = std::fs::read(file).unwrap();
        let at = bytes.len() - 12;
        bytes[at] ^= 0x10;
        std::fs::write(file, bytes).unwrap();
    };
    flip(&run.join("model.bpk"));
    let err = fails(&anneal(&["predict", "--run", path(&run), "--input", path(&penguins())]));
    assert!(err.contains("model.bpk failed its integrity check"), "{err}");
    let out = tmp.path().join("e");
    let err = fails(&anneal(&["eval", "--run", path(&run), "--data", path(&penguins()), "--out", path(&out)]));
    assert!(err.contains("model.bpk failed its integrity check"), "{err}");
    flip(&run.join("checkpoint/model.bpk"));
    let err = fails(&anneal(&["train", "--resume", path(&run)]));
    assert!(err.contains("checkpoint/model.bpk") || err.contains("model.bpk failed"), "{err}");
}

// 5. `eval --part` only on the file the run was trained on.
#[test]
fn eval_part_refuses_another_data_file() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    succeeds(&train(tmp.path(), &run));
    let text = penguins_text();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1..].reverse();
    let reordered = tmp.path().join("reordered.csv");
    std::fs::write(&reordered, lines.join("\n") + "\n").unwrap();
    let o = anneal(&[
        "eval",
        "--run",
        path(&run),
        "--data",
        path(&reordered),
        "--part",
        "test",
        "--out",
        path(&tmp.path().join("e1")),
    ]);
    let err = fails(&o);
    assert!(err.contains("is not the file the run was trained on") && err.contains("--part"), "{err}");
    succeeds(&anneal(&[
        "eval",
        "--run",
        path(&run),
        "--data",
        path(&penguins()),
        "--part",
        "test",
        "--out",
        path(&tmp.path().join("e2")),
    ]));
}

#[test]
fn resume_refuses_a_data_file_that_changed_since_the_run_started() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("p.csv");
    std::fs::write(&data, penguins_text()).unwrap();
    let c = config(tmp.path(), &data, &[]);
    let run = tmp.path().join("run");
    succeeds(&anneal(&["train", "--config", &c, "--out", path(&run)]));
    let text = penguins_text();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1..].reverse();
    std::fs::write(&data, lines.join("\n") + "\n").unwrap();
    let err = fails(&anneal(&["train", "--resume", path(&run)]));
    assert!(err.contains("is not the file the run was trained on") && err.contains("cannot be resumed"), "{err}");
}

/// A tune config (2-epoch base) with `study` lines and `params`.
fn tune_config(dir: &Path, study: &str, params: &str) -> String {
    config(dir, &penguins(), &[("epochs = 3", "epochs = 2")]);
    std::fs::rename(dir.join("config.toml"), dir.join("base.toml")).unwrap();
    write(dir, "tune.toml", &format!("base = \"base.toml\"\n[study]\n{study}\nsampler = \"random\"\n{params}"))
}

const LR: &str = "[[param]]\nname = \"optimizer.learning_rate\"\ntype = \"float\"\nlow = 1e-3\nhigh = 0.05\n";

// 6. A search space names hyperparameters only.
#[test]
fn a_search_space_cannot_name_the_data_or_the_split() {
    let tmp = tempfile::tempdir().unwrap();
    for key in ["data.path", "split.test", "energy.grams_co2_per_kwh"] {
        let param = format!("[[param]]\nname = \"{key}\"\ntype = \"categorical\"\nchoices = [\"/etc/shadow\"]\n");
        let c = tune_config(tmp.path(), "name = \"t\"", &param);
        let err = fails(&anneal(&["tune", "--config", &c, "--trials", "1", "--out", path(&tmp.path().join("o"))]));
        assert!(err.contains(&format!("parameter `{key}` is not tunable")), "{err}");
    }
    assert!(!tmp.path().join("o").exists());
}

// 7. One process at a time in a run folder.
#[test]
fn a_run_folder_in_use_is_refused_with_the_holders_process_id() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let held = anneal_core::lock::FolderLock::acquire(&out).unwrap();
    let err = fails(&train(tmp.path(), &out));
    assert!(err.contains(&format!("in use by process {}", std::process::id())), "{err}");
    drop(held);
    succeeds(&train(tmp.path(), &out));
    let held = anneal_core::lock::FolderLock::acquire(&out).unwrap();
    let err = fails(&anneal(&["train", "--resume", path(&out)]));
    assert!(err.contains(&format!("in use by process {}", std::process::id())), "{err}");
    drop(held);
    succeeds(&anneal(&["train", "--resume", path(&out)]));
}

#[test]
fn two_trainings_started_at_once_into_one_folder_never_mix() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let c = config(tmp.path(), &penguins(), &[]);
    let spawn = || {
        anneal_command(&root())
            .args(["train", "--config", &c, "--out", path(&out)])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let ok = [&a, &b].iter().filter(|o| o.status.success()).count();
    assert_eq!(ok, 1, "exactly one may write the folder: {} / {}", stderr(&a), stderr(&b));
    let loser = if a.status.success() { &b } else { &a };
    let err = fails(loser);
    assert!(err.contains("is in use by") || err.contains("already exists and is not empty"), "{err}");
    // The folder is one run's, whole: its manifest verifies and it predicts.
    succeeds(&anneal(&["predict", "--run", path(&out), "--input", path(&penguins())]));
}

// 8. Nothing is written outside the working folder or over an input.
#[test]
fn study_names_and_output_paths_cannot_escape_or_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let c = tune_config(tmp.path(), "name = \"../../../../outside\"", LR);
    let err = fails(&anneal(&["tune", "--config", &c, "--trials", "1"]));
    assert!(err.contains("study name \"../../../../outside\""), "{err}");
    assert!(!root().join("runs/tune-..").exists());
    // `tune --out` refuses a folder that is not the study's.
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("report.md"), "mine").unwrap();
    let c = tune_config(tmp.path(), "name = \"t\"", LR);
    let err = fails(&anneal(&["tune", "--config", &c, "--trials", "1", "--out", path(&other)]));
    assert!(err.contains("already exists and is not empty"), "{err}");
    let err = fails(&anneal(&["tune", "--config", &c, "--report", "--out", path(&other)]));
    assert!(err.contains("already exists and is not empty"), "{err}");
    assert_eq!(std::fs::read_to_string(other.join("report.md")).unwrap(), "mine");
    // Inputs are never outputs.
    let input = tmp.path().join("p.csv");
    std::fs::write(&input, penguins_text()).unwrap();
    let err = fails(&anneal(&["data", "inspect", path(&input), "--output", path(&input)]));
    assert!(err.contains("is the input file"), "{err}");
    let run = tmp.path().join("run");
    succeeds(&train(tmp.path(), &run));
    let err = fails(&anneal(&["predict", "--run", path(&run), "--input", path(&input), "--output", path(&input)]));
    assert!(err.contains("is the input file"), "{err}");
    let inside = run.join("predictions.csv");
    let err = fails(&anneal(&["predict", "--run", path(&run), "--input", path(&input), "--output", path(&inside)]));
    assert!(err.contains("inside the run folder"), "{err}");
    assert_eq!(std::fs::read_to_string(&input).unwrap(), penguins_text());
}

/// Penguins with the class `Adelie` renamed to `label` and the column
/// `bill_length_mm` to `column`.
fn renamed(dir: &Path, label: &str, column: &str) -> PathBuf {
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let text = penguins_text()
        .replacen("bill_length_mm", &quote(column), 1)
        .lines()
        .map(|l| if l.starts_with("Adelie,") { l.replacen("Adelie", &quote(label), 1) } else { l.to_string() })
        .collect::<Vec<_>>()
        .join("\n");
    let data = dir.join("renamed.csv");
    std::fs::write(&data, text + "\n").unwrap();
    data
}

/// The records of CSV text, asserting every row has the header's width.
fn records(text: &str) -> Vec<csv::StringRecord> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(false).from_reader(text.as_bytes());
    reader.records().map(|r| r.expect("a well-formed CSV row")).collect()
}

// 9. CSV output is quoted.
#[test]
fn labels_with_commas_and_quotes_keep_csv_output_rectangular() {
    let tmp = tempfile::tempdir().unwrap();
    let label = "Gen,too \"x\"";
    let data = renamed(tmp.path(), label, "bill_length_mm");
    let c = config(tmp.path(), &data, &[]);
    let run = tmp.path().join("run");
    succeeds(&anneal(&["train", "--config", &c, "--out", path(&run)]));
    let test = records(&std::fs::read_to_string(run.join("test_predictions.csv")).unwrap());
    assert!(test[0].iter().any(|h| h == format!("p_{label}")), "{:?}", test[0]);
    assert!(test.iter().skip(1).any(|r| r.get(1) == Some(label)));
    let o = anneal(&["predict", "--run", path(&run), "--input", path(&data)]);
    succeeds(&o);
    let predicted = records(&String::from_utf8(o.stdout).unwrap());
    assert_eq!(predicted.len(), 345);
    assert!(predicted.iter().skip(1).any(|r| r.get(1) == Some(label)));
}

// 10. Generated documents escape what comes from the data.
#[test]
fn column_names_and_labels_cannot_inject_markup_into_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let column = "<script>alert(1)</script>|x";
    let label = "<img src=x onerror=alert(1)>";
    let data = renamed(tmp.path(), label, column);
    let c = config(tmp.path(), &data, &[]);
    let run = tmp.path().join("run");
    succeeds(&anneal(&["train", "--config", &c, "--out", path(&run)]));
    let eval = tmp.path().join("eval");
    succeeds(&anneal(&["eval", "--run", path(&run), "--data", path(&data), "--out", path(&eval)]));
    let inspect = tmp.path().join("inspect.md");
    succeeds(&anneal(&["data", "inspect", path(&data), "--output", path(&inspect)]));
    for doc in [run.join("report.md"), eval.join("eval.md"), inspect] {
        let text = std::fs::read_to_string(&doc).unwrap();
        assert!(!text.contains("<script") && !text.contains("<img"), "{}:\n{text}", doc.display());
        // Every table row has as many cells as its header.
        let mut width = None;
        for line in text.lines() {
            if !line.starts_with('|') {
                width = None;
                continue;
            }
            let cells = line.replace("\\|", "").matches('|').count();
            match width {
                None => width = Some(cells),
                Some(w) => assert_eq!(cells, w, "{}: ragged table row {line}", doc.display()),
            }
        }
    }
}

// 11. A closed pipe ends the program quietly; other write failures are errors.
#[test]
fn a_closed_pipe_is_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    succeeds(&train(tmp.path(), &run));
    // More rows than a pipe buffers, so the writer meets the closed pipe.
    let text = penguins_text();
    let body: String = text.lines().skip(1).map(|l| format!("{l}\n")).collect();
    let big = tmp.path().join("big.csv");
    std::fs::write(&big, format!("{}\n{}", text.lines().next().unwrap(), body.repeat(20))).unwrap();
    let mut child = anneal_command(&root())
        .args(["predict", "--run", path(&run), "--input", path(&big)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.starts_with("row,predicted"), "{first}");
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
    assert_eq!(o.status.code(), Some(0), "{err}");
    if Path::new("/dev/full").exists() {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let o = anneal_command(&root())
            .args(["predict", "--run", path(&run), "--input", path(&penguins())])
            .stdout(full)
            .output()
            .unwrap();
        let err = fails(&o);
        assert!(err.contains("cannot write to standard output"), "{err}");
    }
}

// 12. Credentials never reach a message.
#[test]
fn a_storage_password_is_never_printed() {
    let tmp = tempfile::tempdir().unwrap();
    let c = tune_config(tmp.path(), "name = \"t\"", LR);
    for storage in ["postgres://u:secretpw@127.0.0.1:1/db", "postgresql://127.0.0.1:1/db?user=u&password=secretpw"] {
        let o = anneal(&[
            "tune",
            "--config",
            &c,
            "--trials",
            "1",
            "--storage",
            storage,
            "--out",
            path(&tmp.path().join("o")),
        ]);
        let err = fails(&o);
        let all = format!("{err}{}", String::from_utf8_lossy(&o.stdout));
        assert!(!all.contains("secretpw"), "{all}");
        assert!(all.contains("127.0.0.1"), "{all}");
    }
}
