//! Transfer learning and knowledge distillation through the real CLI: a CNN
//! pretrained on the digits 0–4 carried to 5–9 (frozen backbone unchanged,
//! fine-tuned one moved, a PyTorch-layout weights file read), a student MLP
//! distilled from a CNN teacher, on every compiled backend, and the refusals.

use std::path::{Path, PathBuf};

use anneal::models::{AnyModel, ModelConfig};
use burn::module::Module;
use burn_store::ModuleSnapshot;

use super::{anneal, root, stderr, write};

/// The 8x8 digits of the classes `keep` as a CSV in `dir`.
fn digits(dir: &Path, name: &str, keep: impl Fn(usize) -> bool) -> PathBuf {
    let table = anneal::data::Table::read(root().join("data/sklearn_digits.csv.gz"), &Default::default()).unwrap();
    let names = table.column_names();
    let columns: Vec<Vec<Option<f64>>> = names.iter().map(|c| table.numeric(c).unwrap()).collect();
    let target = names.iter().position(|c| c == "target").unwrap();
    let mut text = names.join(",") + "\n";
    for r in 0..table.n_rows() {
        if keep(columns[target][r].unwrap() as usize) {
            let row: Vec<String> = columns.iter().map(|c| c[r].unwrap().to_string()).collect();
            text += &(row.join(",") + "\n");
        }
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn config(dir: &Path, name: &str, data: &Path, model: &str, extra: &str) -> String {
    let text = format!(
        r#"seed = 1
[data]
path = "{}"
target = "target"
kind = "image"
[data.image]
height = 8
width = 8
channels = 1
scale = 16
[split]
train = 0.6
valid = 0.2
test = 0.2
seed = 5
[model]
{model}
[optimizer]
name = "adam"
learning_rate = 0.003
[training]
epochs = 3
batch_size = 64
{extra}"#,
        data.display()
    );
    write(dir, name, &text)
}

const CNN: &str = "kind = \"cnn\"\nblocks = [{ channels = 6, kernel = 3, padding = 1, pool = \"max\", pool_size = 2 }]\nhidden = [16]";

fn train(cfg: &str, out: &Path, extra: &[&str]) -> String {
    let mut args = vec!["train", "--config", cfg, "--out", out.to_str().unwrap()];
    args.extend(extra);
    let o = anneal(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::read_to_string(out.join("report.md")).unwrap()
}

fn fails(cfg: &str, out: &Path) -> String {
    let o = anneal(&["train", "--config", cfg, "--out", out.to_str().unwrap()]);
    assert!(!o.status.success(), "{cfg} should have failed");
    stderr(&o)
}

/// A run folder's trained model.
fn model(run: &Path) -> (ModelConfig, AnyModel) {
    let config: ModelConfig = serde_json::from_str(&std::fs::read_to_string(run.join("model.json")).unwrap()).unwrap();
    let device = burn::prelude::Device::flex();
    let model = config.init(0, &device).unwrap().try_load_file(run.join("model.bpk")).unwrap();
    (config, model)
}

/// Every parameter's values by path (without the kind's variant).
fn weights(m: &AnyModel) -> Vec<(String, Vec<u8>)> {
    m.collect(None, None, true).into_iter().map(|t| (t.name.clone(), t.to_bytes().unwrap().to_vec())).collect()
}

#[test]
fn a_pretrained_cnn_carries_to_new_digits_frozen_or_fine_tuned() {
    let dir = tempfile::tempdir().unwrap();
    let (d04, d59) = (digits(dir.path(), "d04.csv", |c| c < 5), digits(dir.path(), "d59.csv", |c| c >= 5));
    let source = dir.path().join("source");
    train(&config(dir.path(), "source.toml", &d04, CNN, ""), &source, &[]);
    let (_, src) = model(&source);
    let src = weights(&src);
    let from =
        |mode: &str, more: &str| format!("[transfer]\nfrom = \"{}\"\nmode = \"{mode}\"\n{more}", source.display());

    // Feature extraction: the backbone comes out of training bit for bit as it went in.
    let fe = dir.path().join("fe");
    let report = train(&config(dir.path(), "fe.toml", &d59, CNN, &from("feature_extraction", "")), &fe, &[]);
    assert!(report.contains("feature extraction (backbone frozen, new head)"), "{report}");
    assert!(report.contains("85 of the model's 1697 parameters train"), "{report}");
    let (config_fe, trained) = model(&fe);
    for ((path, after), (p, before)) in weights(&trained).iter().zip(&src) {
        assert_eq!(path, p);
        let head = config_fe.stage_of(path).unwrap().is_none();
        assert_eq!(after == before, !head, "{path}: frozen backbone unchanged, the head trained");
    }

    // Fine-tuning the last stage, gradually, at a tenth of the rate: the dense
    // layer moved, the convolution did not.
    let ft = dir.path().join("ft");
    let more = "unfreeze_last = 1\nbackbone_lr_scale = 0.1\nunfreeze_every = 1";
    let report = train(&config(dir.path(), "ft.toml", &d59, CNN, &from("fine_tune", more)), &ft, &[]);
    assert!(report.contains("fine-tuning the last 1 backbone stage(s)") && report.contains("0.1×"), "{report}");
    let (_, tuned) = model(&ft);
    for ((path, after), (_, before)) in weights(&tuned).iter().zip(&src) {
        if path.starts_with("blocks.") {
            assert_eq!(after, before, "{path} is frozen");
        } else if path.starts_with("head.0") {
            assert_ne!(after, before, "{path} is fine-tuned");
        }
    }

    // Weights from a file in PyTorch's layout start the same backbone.
    let file = dir.path().join("source.safetensors");
    anneal::models::export_safetensors(&model(&source).1, &file, &[]).unwrap();
    let from_file = format!("[transfer]\nfrom = \"{}\"\nmode = \"feature_extraction\"", file.display());
    let by_file = dir.path().join("by_file");
    train(&config(dir.path(), "file.toml", &d59, CNN, &from_file), &by_file, &[]);
    for ((path, a), (_, b)) in weights(&model(&by_file).1).iter().zip(&src) {
        if path.starts_with("blocks.") {
            assert_eq!(a, b, "{path}");
        }
    }

    // The refusals, each naming what is wrong.
    let bad = |name: &str, model: &str, extra: &str, expect: &str| {
        let e = fails(&config(dir.path(), name, &d59, model, extra), &dir.path().join(format!("{name}.out")));
        assert!(e.contains(expect), "{name}: {e}");
    };
    bad("rate.toml", CNN, &from("feature_extraction", "backbone_lr_scale = 0.1"), "backbone_lr_scale is a setting");
    bad("deep.toml", CNN, &from("fine_tune", "unfreeze_last = 3"), "unfreeze_last = 3, but the cnn model has 2");
    bad("mlp.toml", "hidden = [16]", &from("fine_tune", ""), "trained a cnn model, this config's [model] is a mlp");
    bad("wide.toml", &CNN.replace("[16]", "[12]"), &from("fine_tune", ""), "head.0");
    bad("gone.toml", CNN, "[transfer]\nfrom = \"nowhere\"\nmode = \"fine_tune\"", "no such run folder or weights file");
    let both = format!("{}\n[transfer]\nfrom = \"{}\"\nmode = \"fine_tune\"", CNN, source.display());
    let both = both.replace("[transfer]", &format!("init_from = \"{}\"\n[transfer]", file.display()));
    bad("both.toml", &both, "", "keep one");
}

#[test]
fn a_student_learns_from_a_teacher_of_another_kind() {
    let dir = tempfile::tempdir().unwrap();
    let data = root().join("data/sklearn_digits.csv.gz");
    let teacher = dir.path().join("teacher");
    train(&config(dir.path(), "teacher.toml", &data, CNN, ""), &teacher, &[]);
    let distill = |t: &Path| format!("[distill]\nteacher = \"{}\"\ntemperature = 3\nalpha = 0.7", t.display());
    let student = config(dir.path(), "student.toml", &data, "hidden = [8]", &distill(&teacher));
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let report = train(&student, &a, &[]);
    train(&student, &b, &[]);
    assert!(report.contains("knowledge distillation from teacher") && report.contains("temperature 3, alpha 0.7"));
    let history = |run: &Path| std::fs::read_to_string(run.join("history.csv")).unwrap();
    let header = history(&a).lines().next().unwrap().to_string();
    assert!(header.contains("train_distillation") && header.contains("train_cross_entropy"), "{header}");
    // Replayable; and another model than the student trained alone.
    let strip = |h: String| h.lines().map(|l| l.rsplit_once(',').unwrap().0.to_string()).collect::<Vec<_>>();
    assert_eq!(strip(history(&a)), strip(history(&b)));
    let alone = dir.path().join("alone");
    train(&config(dir.path(), "alone.toml", &data, "hidden = [8]", ""), &alone, &[]);
    assert_ne!(weights(&model(&a).1), weights(&model(&alone).1));

    let bad = |name: &str, text: String, expect: &str| {
        let e = fails(&write(dir.path(), name, &text), &dir.path().join(format!("{name}.out")));
        assert!(e.contains(expect), "{name}: {e}");
    };
    // A teacher that saw this run's test rows: another split seed.
    let leaky = std::fs::read_to_string(&student).unwrap().replace("seed = 5", "seed = 6");
    bad("leak.toml", leaky, "trained (or validated) on");
    // A teacher of other classes.
    let d04 = digits(dir.path(), "d04.csv", |c| c < 5);
    let small = dir.path().join("small");
    train(&config(dir.path(), "small.toml", &d04, CNN, ""), &small, &[]);
    let other = std::fs::read_to_string(config(dir.path(), "o.toml", &data, "hidden = [8]", &distill(&small))).unwrap();
    bad("classes.toml", other, "must predict the same classes");
    let text = std::fs::read_to_string(&student).unwrap();
    bad("t.toml", text.replace("temperature = 3", "temperature = 0"), "temperature must be a positive number");
    bad("r.toml", text.clone() + "\n[distributed]\nreplicas = 2\n", "[distill] trains on one replica");
    // Refused before the run folder is made, so the same --out can be used at once.
    assert!(!dir.path().join("r.toml.out").exists());
    let o = anneal(&["cv", "--config", &student, "--out", dir.path().join("cv").to_str().unwrap()]);
    assert!(!o.status.success() && stderr(&o).contains("other folds' test rows"), "{}", stderr(&o));
    let o = anneal(&["lr-find", "--config", &student, "--out", dir.path().join("lr").to_str().unwrap()]);
    assert!(!o.status.success() && stderr(&o).contains("lr-find sweeps the plain model"), "{}", stderr(&o));
}

/// Feature extraction and distillation through the CLI on ndarray too (the
/// loop's freezing and distillation on every compiled backend, wgpu included,
/// are `anneal-train`'s parity test: a wgpu CNN here would compile its kernels
/// in two more processes).
#[test]
fn transfer_and_distillation_run_on_ndarray_too() {
    let dir = tempfile::tempdir().unwrap();
    let data = root().join("data/sklearn_digits.csv.gz");
    let d04 = digits(dir.path(), "d04.csv", |c| c < 5);
    let d59 = digits(dir.path(), "d59.csv", |c| c >= 5);
    let source = dir.path().join("source");
    train(&config(dir.path(), "source.toml", &d04, CNN, ""), &source, &[]);
    let teacher = dir.path().join("teacher");
    let one_epoch = config(dir.path(), "teacher.toml", &data, CNN, "");
    let text = std::fs::read_to_string(&one_epoch).unwrap().replace("epochs = 3", "epochs = 1");
    train(&write(dir.path(), "teacher.toml", &text), &teacher, &[]);
    let src = weights(&model(&source).1);
    let fe = config(
        dir.path(),
        "fe.toml",
        &d59,
        CNN,
        &format!("[transfer]\nfrom = \"{}\"\nmode = \"feature_extraction\"", source.display()),
    );
    let student = config(
        dir.path(),
        "student.toml",
        &data,
        "hidden = [8]",
        &format!("[distill]\nteacher = \"{}\"", teacher.display()),
    );
    // One epoch of three batches: wgpu runs on a software driver in CI.
    let short = |cfg: String| {
        let text = std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("epochs = 3", "epochs = 1")
            .replace("batch_size = 64", "batch_size = 256");
        std::fs::write(&cfg, text).unwrap();
        cfg
    };
    let (fe, student) = (short(fe), short(student));
    for backend in [anneal::train::Backend::Ndarray] {
        let out = dir.path().join(format!("fe_{}", backend.name()));
        train(&fe, &out, &["--device", backend.name()]);
        for ((path, a), (_, b)) in weights(&model(&out).1).iter().zip(&src) {
            if path.starts_with("blocks.") || path.starts_with("head.0") {
                assert_eq!(a, b, "{path} on {}", backend.name());
            }
        }
        train(&student, &dir.path().join(format!("student_{}", backend.name())), &["--device", backend.name()]);
    }
}

#[test]
fn a_pretrained_text_encoder_is_fine_tuned_with_its_tokenizer() {
    let dir = tempfile::tempdir().unwrap();
    let data = super::text::reviews(dir.path(), 200, 60);
    let cfg = super::text::config(dir.path(), &data, "", "");
    let encoder = dir.path().join("encoder");
    let o = anneal(&["pretrain", "--config", &cfg, "--out", encoder.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("masked-token accuracy"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let report = std::fs::read_to_string(encoder.join("report.md")).unwrap();
    assert!(report.contains("Masked-token pretraining") && report.contains("200 training texts"), "{report}");
    let history = std::fs::read_to_string(encoder.join("history.csv")).unwrap();
    assert!(history.starts_with("epoch,train_loss,train_accuracy"), "{history}");
    // Its model predicts tokens: predict refuses it.
    let o = anneal(&["predict", "--run", encoder.to_str().unwrap(), "--input", data.to_str().unwrap()]);
    assert!(!o.status.success() && stderr(&o).contains("masked-token pretraining run"), "{}", stderr(&o));

    // Feature extraction from it: the embeddings and blocks come out as they went in.
    let text = std::fs::read_to_string(&cfg).unwrap()
        + &format!("[transfer]\nfrom = \"{}\"\nmode = \"feature_extraction\"\n", encoder.display());
    let tuned = dir.path().join("tuned");
    let report = train(&write(dir.path(), "tuned.toml", &text), &tuned, &[]);
    assert!(report.contains("feature extraction"), "{report}");
    let (config, model_after) = model(&tuned);
    let (_, source) = model(&encoder);
    for ((path, a), (p, b)) in weights(&model_after).iter().zip(&weights(&source)) {
        assert_eq!(path, p);
        assert_eq!(a == b, config.stage_of(path).unwrap().is_some(), "{path}");
    }
    // The tokenizer is the encoder's.
    let vocab = |run: &Path| {
        let p: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("preprocessing.json")).unwrap()).unwrap();
        p["text"].to_string()
    };
    assert_eq!(vocab(&tuned), vocab(&encoder));
    // A pretraining config with [transfer] is refused; so is a table run.
    let o = anneal(&[
        "pretrain",
        "--config",
        &write(dir.path(), "t2.toml", &text),
        "--out",
        dir.path().join("x").to_str().unwrap(),
    ]);
    assert!(!o.status.success() && stderr(&o).contains("leave [transfer]"), "{}", stderr(&o));
}

#[test]
fn a_source_run_that_saw_the_test_rows_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = root().join("data/sklearn_digits.csv.gz");
    let source = dir.path().join("source");
    train(&config(dir.path(), "source.toml", &data, CNN, ""), &source, &[]);
    let from = format!("[transfer]\nfrom = \"{}\"\nmode = \"feature_extraction\"", source.display());
    let same = config(dir.path(), "same.toml", &data, CNN, &from);
    train(&same, &dir.path().join("same"), &[]);
    let other = std::fs::read_to_string(&same).unwrap().replace("seed = 5", "seed = 6");
    let e = fails(&write(dir.path(), "other.toml", &other), &dir.path().join("other"));
    assert!(e.contains("[transfer] source run") && e.contains("test rows"), "{e}");
    let o = anneal(&["cv", "--config", &same, "--out", dir.path().join("cv").to_str().unwrap()]);
    assert!(!o.status.success() && stderr(&o).contains("other folds' test rows"), "{}", stderr(&o));
}
