//! Audio runs through the real CLI: a folder of class folders of WAV clips (the
//! bundled spoken digits, three digits of 40 speakers), split by speaker, trained
//! with a CNN on log-mel spectrograms; predict and eval on folders of clips; and
//! what bad audio settings get.

use std::path::{Path, PathBuf};

use super::{anneal, root, stderr, write};

/// Copies digits 0, 1 and 2 of speakers s000..s039 of the bundled clips to `dir`.
pub(crate) fn clip_folder(dir: &Path) -> PathBuf {
    let data = dir.join("clips");
    for digit in 0..3 {
        std::fs::create_dir_all(data.join(digit.to_string())).unwrap();
        for speaker in 0..40 {
            let name = format!("{digit}/s{speaker:03}_{digit}.wav");
            std::fs::copy(root().join("data/spoken_digits").join(&name), data.join(&name)).unwrap();
        }
    }
    data
}

pub(crate) fn config(dir: &Path, data: &Path, extra_data: &str, split: &str) -> String {
    let text = format!(
        r#"
seed = 1
[data]
path = "{}"
target = "digit"
kind = "audio"
{extra_data}
[data.audio]
sample_rate = 8000
duration = 0.8
n_fft = 256
hop_length = 160
n_mels = 32
[split]
train = 0.6
valid = 0.2
test = 0.2
{split}
[model]
kind = "cnn"
blocks = [
  {{ channels = 8, padding = 1, batch_norm = true, pool = "max" }},
  {{ channels = 16, padding = 1, batch_norm = true, pool = "max" }},
]
hidden = [16]
[optimizer]
name = "adam"
learning_rate = 0.003
[training]
epochs = 20
batch_size = 16
"#,
        data.display()
    );
    write(dir, "audio.toml", &text)
}

const GROUPS: &str = r#"file_groups = { column = "speaker", pattern = "^(s\\d+)_" }"#;

#[test]
fn a_folder_of_clips_trains_on_unseen_speakers_and_the_run_predicts_and_evaluates() {
    let dir = tempfile::tempdir().unwrap();
    let data = clip_folder(dir.path());
    let cfg = config(dir.path(), &data, GROUPS, "group = \"speaker\"");
    let run = dir.path().join("run");
    let o = anneal(&["train", "--config", &cfg, "--out", run.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap()).unwrap();
    let accuracy = metrics["test"]["accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.8, "zero, one and two sound different: test accuracy {accuracy}");
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(report.contains("audio: clips at 8000 Hz, padded or cut to 0.8 s"), "{report}");
    assert!(report.contains("32 mel bands"), "{report}");
    assert!(report.contains("by `speaker`: no group in two parts"), "{report}");
    assert!(report.contains("CNN 1x32x41"), "{report}");

    // The split's data rows are the sorted files: no test speaker was trained on.
    let files: Vec<String> = (0..3).flat_map(|_| (0..40).map(|s| format!("s{s:03}"))).collect();
    let split: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("split.json")).unwrap()).unwrap();
    let speakers = |part: &str| -> std::collections::BTreeSet<String> {
        split[part].as_array().unwrap().iter().map(|r| files[r.as_u64().unwrap() as usize].clone()).collect()
    };
    let (train, test) = (speakers("train"), speakers("test"));
    assert_eq!(train.len() + speakers("valid").len() + test.len(), 40);
    assert!(train.is_disjoint(&test), "speakers in both parts: {:?}", train.intersection(&test).collect::<Vec<_>>());
    assert_eq!(split["test"].as_array().unwrap().len(), 3 * test.len(), "every clip of a test speaker is tested");

    // Predict a folder of clips without classes: one line per file.
    let new = dir.path().join("new");
    std::fs::create_dir_all(&new).unwrap();
    for f in ["0/s001_0.wav", "2/s002_2.wav"] {
        std::fs::copy(data.join(f), new.join(f.replace('/', "_"))).unwrap();
    }
    let o = anneal(&["predict", "--run", run.to_str().unwrap(), "--input", new.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].starts_with("file,predicted,p_0,p_1,p_2"), "{csv}");
    assert!(lines[1].contains("0_s001_0.wav"), "{csv}");

    // Evaluate on the folder with its classes.
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
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(eval_out.join("eval.json")).unwrap()).unwrap();
    assert!(eval["accuracy"].as_f64().unwrap() > 0.8, "{eval}");

    // Cross-validation of the same config cuts group folds of the speakers.
    let cv_out = dir.path().join("cv");
    let o = anneal(&["cv", "--config", &cfg, "--folds", "3", "--workers", "2", "--out", cv_out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let cv = std::fs::read_to_string(cv_out.join("cv.md")).unwrap();
    assert!(cv.contains("group folds by column `speaker`"), "{cv}");
}

#[test]
fn bad_audio_settings_are_refused_with_the_setting_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = clip_folder(dir.path());
    let refused = |cfg: &str, expect: &str| {
        let o = anneal(&["train", "--config", cfg, "--out", dir.path().join("never").to_str().unwrap()]);
        assert!(!o.status.success(), "{expect}");
        let e = stderr(&o);
        assert!(e.contains(expect), "expected `{expect}` in: {e}");
    };
    // A pattern that finds no speaker in a file name.
    let cfg = config(dir.path(), &data, r#"file_groups = { column = "speaker", pattern = "^x(\\d+)" }"#, "");
    refused(&cfg, "finds no group in the file name `s000_0.wav`");
    // A group column that does not exist.
    let cfg = config(dir.path(), &data, "", "group = \"speaker\"");
    refused(&cfg, "[split] group = \"speaker\": no such column");
    // Stratified and grouped at once.
    let cfg = config(dir.path(), &data, GROUPS, "group = \"speaker\"\nstratify = true");
    refused(&cfg, "is not stratified");
    // A file, not a folder.
    let cfg = config(dir.path(), &root().join("data/penguins.csv.gz"), "", "");
    refused(&cfg, "reads a folder of class folders of WAV files");
    // An impossible front end.
    let text = std::fs::read_to_string(config(dir.path(), &data, "", "")).unwrap();
    let cfg = write(dir.path(), "fmax.toml", &text.replace("n_mels = 32", "n_mels = 32\nfmax = 6000"));
    refused(&cfg, "fmax = 6000");
    // Something that is not a clip in a class folder.
    std::fs::write(data.join("1/notes.txt"), "not a clip").unwrap();
    let cfg = config(dir.path(), &data, "", "");
    refused(&cfg, "notes.txt");
}
