//! Text runs through the real CLI: the bundled food reviews (a few hundred of
//! them), tokenized by a tokenizer fitted on the training rows, trained with a
//! small transformer on the file's own train / test parts; predict and eval on
//! CSVs of texts, cross-validation; and what bad text settings get.

use std::path::{Path, PathBuf};

use super::{anneal, root, stderr, write};

/// The first `train` training and `test` test reviews of the bundled file, as a CSV in `dir`.
pub(crate) fn reviews(dir: &Path, train: usize, test: usize) -> PathBuf {
    let mut text = String::new();
    let file = std::fs::File::open(root().join("data/fine_foods.csv.gz")).unwrap();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(file), &mut text).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let path = dir.join("reviews.csv");
    let mut writer = csv::Writer::from_path(&path).unwrap();
    writer.write_record(reader.headers().unwrap()).unwrap();
    let (mut n_train, mut n_test) = (0, 0);
    for record in reader.records() {
        let record = record.unwrap();
        let keep = match &record[3] {
            "train" => (n_train < train).then(|| n_train += 1).is_some(),
            _ => (n_test < test).then(|| n_test += 1).is_some(),
        };
        if keep {
            writer.write_record(&record).unwrap();
        }
    }
    writer.flush().unwrap();
    path
}

pub(crate) fn config(dir: &Path, data: &Path, text: &str, model: &str) -> String {
    let config = format!(
        r#"
seed = 3
[data]
path = "{}"
target = "score"
kind = "text"
features = ["review"]
[data.text]
max_len = 48
vocab_size = 2000
{text}
[split]
column = "part"
[model]
kind = "transformer"
d_model = 16
layers = 1
heads = 2
d_ff = 32
{model}
[optimizer]
name = "adamw"
learning_rate = 0.003
[training]
epochs = 4
batch_size = 16
"#,
        data.display()
    );
    write(dir, "text.toml", &config)
}

fn train_losses(run: &Path) -> Vec<f64> {
    let history = std::fs::read_to_string(run.join("history.csv")).unwrap();
    let mut lines = history.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = header.iter().position(|h| *h == "train_loss").unwrap();
    lines.map(|l| l.split(',').nth(column).unwrap().parse().unwrap()).collect()
}

#[test]
fn reviews_train_a_transformer_on_their_own_parts_and_the_run_predicts_and_evaluates() {
    let dir = tempfile::tempdir().unwrap();
    let data = reviews(dir.path(), 400, 100);
    let cfg = config(dir.path(), &data, "", "norm = \"post\"\npooling = \"cls\"");
    let run = dir.path().join("run");
    let o = anneal(&["train", "--config", &cfg, "--out", run.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));

    // The file's parts, not fractions: 400 training rows, no validation, 100 test rows.
    let split: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("split.json")).unwrap()).unwrap();
    assert_eq!(split["train"].as_array().unwrap().len(), 400);
    assert_eq!(split["valid"].as_array().unwrap().len(), 0);
    assert_eq!(split["test"].as_array().unwrap().len(), 100);
    assert!(split["test"].as_array().unwrap().iter().all(|r| r.as_u64().unwrap() >= 400));
    let losses = train_losses(&run);
    assert!(losses[3] < losses[0] - 0.02, "the training loss does not fall: {losses:?}");

    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(report.contains("text: column `review`, word tokens (`\\w+` matches in the lower-cased text)"), "{report}");
    assert!(report.contains("each text's first 48 tokens, padded to 48"), "{report}");
    assert!(report.contains("transformer encoder 48 tokens ×"), "{report}");
    assert!(report.contains("1 post-LN layers (d_model 16, 2 heads"), "{report}");
    assert!(report.contains("[CLS] pooling"), "{report}");
    assert!(report.contains("split (the parts column `part` names): 400 train / 0 validation / 100 test"), "{report}");

    // Predict a CSV of new texts with the run's tokenizer: one line per text.
    let new = write(
        dir.path(),
        "new.csv",
        "review\n\"The best coffee I have ever had, great taste!\"\nstale and awful\n\"\"\n",
    );
    let o = anneal(&["predict", "--run", run.to_str().unwrap(), "--input", &new]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = String::from_utf8(o.stdout).unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(csv.lines().next().unwrap().starts_with("row,predicted,p_great,p_other"), "{csv}");

    // Evaluate on the reviews with their scores.
    let eval_out = dir.path().join("eval");
    let o = anneal(&[
        "eval",
        "--run",
        run.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--out",
        eval_out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));

    // Cross-validation folds of the training part, each with its own tokenizer.
    let cv_out = dir.path().join("cv");
    let o = anneal(&["cv", "--config", &cfg, "--folds", "2", "--workers", "1", "--out", cv_out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let cv = std::fs::read_to_string(cv_out.join("cv.md")).unwrap();
    assert!(cv.contains("accuracy"), "{cv}");
}

#[test]
fn bpe_tokens_train_and_the_same_seed_gives_the_same_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = reviews(dir.path(), 200, 50);
    let cfg = config(dir.path(), &data, "tokenizer = \"bpe\"", "");
    let history = |name: &str| {
        let run = dir.path().join(name);
        let o = anneal(&["train", "--config", &cfg, "--out", run.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let report = std::fs::read_to_string(run.join("report.md")).unwrap();
        assert!(report.contains("BPE subword tokens learned on the training texts"), "{report}");
        std::fs::read_to_string(run.join("history.csv"))
            .unwrap()
            .lines()
            .map(|l| l.rsplit_once(',').map_or(l, |(a, _)| a).to_string()) // drop the time column
            .collect::<Vec<_>>()
    };
    assert_eq!(history("a"), history("b"), "the same seed gave another history");
}

#[test]
fn bad_text_settings_are_refused_with_the_setting_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = reviews(dir.path(), 40, 10);
    let refused = |cfg: &str, expect: &str| {
        let out = dir.path().join(format!("never-{}", Path::new(cfg).file_stem().unwrap().to_string_lossy()));
        let o = anneal(&["train", "--config", cfg, "--out", out.to_str().unwrap()]);
        assert!(!o.status.success(), "{expect}");
        let e = stderr(&o);
        assert!(e.contains(expect), "expected `{expect}` in: {e}");
    };
    let base = std::fs::read_to_string(config(dir.path(), &data, "", "")).unwrap();
    let variant = |name: &str, from: &str, to: &str| {
        assert!(base.contains(from), "{from}");
        write(dir.path(), name, &base.replace(from, to))
    };
    // A transformer on a table, and a table model on text.
    refused(&variant("a.toml", "kind = \"text\"\n", ""), "[model] kind = \"transformer\" reads token ids");
    refused(
        &variant(
            "b.toml",
            "kind = \"transformer\"\nd_model = 16\nlayers = 1\nheads = 2\nd_ff = 32",
            "kind = \"mlp\"\nhidden = [8]",
        ),
        "only [model] kind = \"transformer\" reads",
    );
    // Two feature columns.
    refused(
        &variant("c.toml", "features = [\"review\"]", "features = [\"review\", \"product\"]"),
        "reads one text column",
    );
    // A part that is not one.
    std::fs::write(dir.path().join("parts.csv"), "review,score,part\ngood,great,train\nbad,other,training\n").unwrap();
    refused(
        &variant("d.toml", &data.display().to_string(), &dir.path().join("parts.csv").display().to_string()),
        "[split] column `part`, data row 1: `training` is not a part",
    );
    // A pattern that matches nothing, heads that do not divide the width, a transformer key on an MLP.
    refused(&variant("e.toml", "max_len = 48", "max_len = 48\npattern = '\\w*'"), "matches the empty string");
    refused(&variant("f.toml", "heads = 2", "heads = 3"), "d_model 16 is not a multiple of its 3 heads");
    refused(
        &variant("g.toml", "kind = \"transformer\"", "kind = \"mlp\"\nhidden = [4]"),
        "`d_model` is a setting of kind = \"transformer\"",
    );
    // [data.text] without text.
    let cfg = write(
        dir.path(),
        "h.toml",
        &format!(
            "[data]\npath = \"{}\"\ntarget = \"score\"\nfeatures = [\"review\"]\n[data.text]\nmax_len = 8\n[model]\nkind = \"mlp\"\nhidden = [4]\n[optimizer]\nname = \"adam\"\nlearning_rate = 0.01\n[training]\nepochs = 1\nbatch_size = 8\n",
            data.display()
        ),
    );
    refused(&cfg, "[data.text] is a setting of [data] kind = \"text\"");
}
