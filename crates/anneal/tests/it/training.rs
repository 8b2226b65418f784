//! `anneal train` as a person runs it: killed with SIGKILL mid-epoch and
//! resumed, bad training settings, and `anneal lr-find`.

use std::path::{Path, PathBuf};

use anneal::models::{AnyModel, ModelConfig};
use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;

use super::{anneal, root, stderr, write};

/// Digits with dropout, L2, a per-iteration cosine schedule, early stopping
/// with a warm-up and a checkpoint every epoch: every piece of state a resume must restore.
fn digits_config(dir: &Path) -> String {
    let data = root().join("data/sklearn_digits.csv.gz");
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
hidden = [64, 32]
layer_dropout = [0.2, 0.1]
[optimizer]
name = "adam"
learning_rate = 0.003
[schedule]
unit = "iteration"
name = "cosine"
[regularization]
l2 = 1e-4
[training]
epochs = 8
batch_size = 16
checkpoint_every = 1
early_stopping = {{ monitor = "val_loss", goal = "minimize", patience = 20, warmup_epochs = 2 }}
"#,
        data.display()
    );
    write(dir, "digits.toml", &text)
}

/// The trained weights of a run folder.
pub fn weights(run: &Path) -> Vec<Vec<f32>> {
    struct Collect(Vec<Vec<f32>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.val().into_data().convert::<f32>().try_to_vec::<f32>().unwrap());
        }
    }
    let config: ModelConfig = serde_json::from_str(&std::fs::read_to_string(run.join("model.json")).unwrap()).unwrap();
    let model: AnyModel = config.init(0, &Device::flex()).unwrap().load_file(run.join("model.bpk"));
    let mut c = Collect(Vec::new());
    model.visit(&mut c);
    c.0
}

fn history(run: &Path) -> serde_json::Value {
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap()).unwrap();
    m["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| serde_json::json!([r["train_loss"], r["val_loss"], r["learning_rate"]]))
        .collect()
}

/// The issue's acceptance test: `kill -9` during an epoch after a checkpoint
/// exists, `--resume`, and the final weights equal an uninterrupted run's bit
/// for bit, on ndarray and on flex; the resume names no backend, the run folder
/// remembers it.
#[test]
fn killed_and_resumed_run_ends_with_the_weights_of_an_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let config = digits_config(tmp.path());
    for device in ["ndarray", "flex"] {
        let straight = tmp.path().join(format!("straight-{device}"));
        let o = anneal(&["train", "--config", &config, "--out", straight.to_str().unwrap(), "--device", device]);
        assert!(o.status.success(), "{}", stderr(&o));

        let run: PathBuf = tmp.path().join(format!("killed-{device}"));
        // Killed as soon as the checkpoint of epoch 3 is there: epoch 4 has just begun.
        let at = super::train_and_kill(&config, &run, &["--device", device], 3);
        assert!(at < 8, "checkpoint {at}");

        // No --device: the run folder remembers its backend (the default is flex).
        let o = anneal(&["train", "--resume", run.to_str().unwrap(), "--log"]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stderr(&o).contains(&format!("resuming after epoch {at}")), "{}", stderr(&o));
        let metrics: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap()).unwrap();
        assert_eq!(metrics["device"], device, "the resumed run changed backend");
        assert_eq!(weights(&run), weights(&straight), "{device}: resumed weights differ from the uninterrupted run");
        assert_eq!(history(&run), history(&straight), "{device}");
        let jsonl = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
        assert_eq!(jsonl.lines().count(), 8, "{jsonl}");
    }
}

/// A valid penguins config with one text substitution.
fn penguins(dir: &Path, from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(root().join("examples/configs/penguins.toml"))
        .unwrap()
        .replace("../../data/penguins.csv.gz", root().join("data/penguins.csv.gz").to_str().unwrap())
        .replace("epochs = 200", "epochs = 3");
    assert!(text.contains(from), "{from}");
    write(dir, "c.toml", &text.replace(from, to))
}

fn fails(args: &[&str]) -> String {
    let o = anneal(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "expected a clean failure, got {:?}: {err}", o.status);
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn bad_training_settings_fail_with_status_2_and_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        ("batch_size = 16", "batch_size = 0", "batch_size = 0 is invalid: it must be between 1 and the"),
        ("batch_size = 16", "batch_size = 100000", "batch_size = 100000 is invalid: it must be between 1 and the"),
        (
            "restore_best = true }",
            "restore_best = true }\n[schedule]\nname = \"warmup\"\nsteps = 10",
            "warm-up of 10 steps is longer than the run's 3 steps",
        ),
        (
            "patience = 25",
            "patience = 25, warmup_epochs = 3",
            "warmup_epochs = 3 is not shorter than the run's 3 epochs",
        ),
        ("name = \"adam\"", "name = \"adamx\"", "unknown variant `adamx`"),
        (
            "batch_size = 16",
            "batch_size = 16\ngradient_clipping = { by = \"norm\", max_norm = 0.0 }",
            "max_norm = 0 is outside its valid range (0, inf)",
        ),
        (
            "batch_size = 16",
            "batch_size = 16\ngradient_clipping = { by = \"value\", clip_value = -1.0 }",
            "clip_value = -1 is outside its valid range (0, inf)",
        ),
    ];
    for (i, (from, to, message)) in cases.into_iter().enumerate() {
        let config = penguins(tmp.path(), from, to);
        let out = tmp.path().join(format!("out{i}"));
        let err = fails(&["train", "--config", &config, "--out", out.to_str().unwrap()]);
        assert!(err.contains(message), "case {i}: expected `{message}` in: {err}");
    }
    let not_a_run = tmp.path().join("empty");
    std::fs::create_dir_all(&not_a_run).unwrap();
    let err = fails(&["train", "--resume", not_a_run.to_str().unwrap()]);
    assert!(err.contains("is not an anneal run folder: config.toml is missing"), "{err}");
    std::fs::write(not_a_run.join("config.toml"), "").unwrap();
    let err = fails(&["train", "--resume", not_a_run.to_str().unwrap()]);
    assert!(err.contains("is not an anneal run folder: checkpoint/state.json is missing"), "{err}");
}

#[test]
fn lr_find_plots_and_suggests_a_rate() {
    let tmp = tempfile::tempdir().unwrap();
    let config = penguins(tmp.path(), "batch_size = 16", "batch_size = 16");
    let out = tmp.path().join("lr");
    let o =
        anneal(&["lr-find", "--config", &config, "--out", out.to_str().unwrap(), "--steps", "80", "--end-lr", "100"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("suggested learning rate: "), "{stdout}");
    for f in ["lr_find.png", "lr_find.svg", "lr_find.csv", "lr_find.json"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("lr_find.json")).unwrap()).unwrap();
    let s = r["suggestion"].as_f64().unwrap();
    assert!(s > 1e-6 && s < 10.0, "{s}");
}
