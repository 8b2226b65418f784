//! `[augment]` through the real CLI: an augmented image run trains, differs from
//! the plain one and resumes bit for bit after `kill -9`; `anneal augment
//! preview` draws its grid; augmentation of a table is refused; audio runs
//! augment their waveforms and spectrograms, text runs their words, both
//! replayable and previewed (spectrograms and WAV files, a table of texts).

use std::path::{Path, PathBuf};

use super::training::weights;
use super::{anneal, root, stderr, write};

/// scikit-learn's digits as 8x8 images, an MLP over the pixels, and an augmentation
/// pipeline with a geometric group, photometric steps, noise and erasing.
fn config(dir: &Path, name: &str, augment: bool) -> String {
    let data = root().join("data/sklearn_digits.csv.gz");
    let steps = r#"
[augment]
steps = [
  { transform = "rotate", degrees = 10 },
  { transform = "translate", pixels = 1 },
  { transform = "one_of", p = 0.5, of = [
      { transform = "brightness", factor = 0.2 },
      { transform = "contrast", factor = 0.2 },
  ] },
  { transform = "noise", std = 0.02, p = 0.5 },
  { transform = "erase", scale = [0.02, 0.1] },
]
"#;
    let text = format!(
        r#"
seed = 4
[data]
path = "{}"
target = "target"
kind = "image"
[data.image]
height = 8
width = 8
scale = 16
[split]
train = 0.6
valid = 0.2
test = 0.2
[model]
hidden = [32]
[optimizer]
name = "adam"
learning_rate = 0.003
[training]
epochs = 6
batch_size = 32
checkpoint_every = 1
{}"#,
        data.display(),
        if augment { steps } else { "" }
    );
    write(dir, name, &text)
}

/// Trains `augmented` twice and `plain` once in `dir`: the two augmented runs
/// end with the same weights, which differ from the plain run's. Returns the
/// first augmented run's folder.
fn trains_replayably(dir: &Path, augmented: &str, plain: &str) -> PathBuf {
    let (a, a2, p) = (dir.join("a"), dir.join("a2"), dir.join("p"));
    train(augmented, &a);
    train(augmented, &a2);
    train(plain, &p);
    assert_eq!(weights(&a), weights(&a2), "the same seed gives the same augmented run");
    assert_ne!(weights(&a), weights(&p), "augmentation changed nothing");
    a
}

/// `anneal augment preview` of `config` into `out`, `n` rows and `copies` epochs; must succeed.
fn preview(config: &str, out: &Path, n: usize, copies: usize) {
    let (n, copies) = (n.to_string(), copies.to_string());
    let o = anneal(&[
        "augment",
        "preview",
        "--config",
        config,
        "--n",
        &n,
        "--copies",
        &copies,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

fn train(config: &str, out: &Path) {
    let o = anneal(&["train", "--config", config, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn an_augmented_run_trains_differs_from_a_plain_one_and_resumes_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let augmented = config(tmp.path(), "augmented.toml", true);
    let plain = config(tmp.path(), "plain.toml", false);
    let a = trains_replayably(tmp.path(), &augmented, &plain);
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(a.join("metrics.json")).unwrap()).unwrap();
    assert!(m["test"]["accuracy"].as_f64().unwrap() > 0.8, "{}", m["test"]);
    assert!(std::fs::read_to_string(a.join("config.toml")).unwrap().contains("[[augment.steps]]"));

    // Killed after a checkpoint, resumed: the weights of the uninterrupted run.
    let run: PathBuf = tmp.path().join("killed");
    let at = super::train_and_kill(&augmented, &run, &[], 2);
    assert!(at < 6, "checkpoint {at}");
    let o = anneal(&["train", "--resume", run.to_str().unwrap(), "--log"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(weights(&run), weights(&a), "the resumed augmented run differs from the uninterrupted one");
}

#[test]
fn preview_draws_originals_beside_their_augmentations_and_tables_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let augmented = config(tmp.path(), "augmented.toml", true);
    let out = tmp.path().join("preview");
    preview(&augmented, &out, 6, 3);
    let png = image::open(out.join("augment_preview.png")).unwrap();
    assert!(png.width() > 200 && png.height() > 200, "{}x{}", png.width(), png.height());

    // Mixing steps: the preview mixes each image with the next one shown, and a
    // short run trains on mixed targets.
    let cutmix = std::fs::read_to_string(&augmented)
        .unwrap()
        .replace("  { transform = \"erase\", scale = [0.02, 0.1] },", "  { transform = \"cutmix\", p = 0.5 },");
    assert!(cutmix.contains("cutmix"));
    let cutmix = write(tmp.path(), "cutmix.toml", &cutmix.replace("epochs = 6", "epochs = 2"));
    preview(&cutmix, &tmp.path().join("pc"), 4, 4);
    let run = tmp.path().join("cutmix-run");
    train(&cutmix, &run);
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(report.contains("cutmix (p 0.5)"), "{report}");

    let plain = config(tmp.path(), "plain.toml", false);
    let o = anneal(&["augment", "preview", "--config", &plain, "--out", tmp.path().join("none").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no [augment] steps"), "{}", stderr(&o));

    // Augmenting a table, and a bad step, fail before training with the setting named.
    let table = std::fs::read_to_string(&augmented)
        .unwrap()
        .replace("kind = \"image\"\n", "")
        .replace("[data.image]\nheight = 8\nwidth = 8\nscale = 16\n", "");
    let table = write(tmp.path(), "table.toml", &table);
    let o = anneal(&["train", "--config", &table, "--out", tmp.path().join("t").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("[augment] transforms images, audio clips or texts"), "{}", stderr(&o));
    // An audio step in an image run is named with what it transforms.
    let audio_step = std::fs::read_to_string(&augmented)
        .unwrap()
        .replace("{ transform = \"translate\", pixels = 1 }", "{ transform = \"pitch_shift\", semitones = [-1, 1] }");
    let audio_step = write(tmp.path(), "audio_step.toml", &audio_step);
    let o = anneal(&["train", "--config", &audio_step, "--out", tmp.path().join("as").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("augment.steps[1] (pitch_shift) transforms audio, but the run's data is images"),
        "{}",
        stderr(&o)
    );
    let bad = std::fs::read_to_string(&augmented).unwrap().replace("degrees = 10", "degrees = 400");
    let bad = write(tmp.path(), "bad.toml", &bad);
    let o = anneal(&["train", "--config", &bad, "--out", tmp.path().join("b").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("augment.steps[0].degrees = 400"), "{}", stderr(&o));
}

const AUDIO_STEPS: &str = r#"
[augment]
steps = [
  { transform = "add_noise", snr_db = [10, 30], color = "pink", p = 0.5 },
  { transform = "background_noise", folder = "noise", snr_db = [15, 25], p = 0.3 },
  { transform = "gain", db = [-6, 6] },
  { transform = "shift", fraction = [-0.1, 0.1], rollover = false },
  { transform = "one_of", of = [
      { transform = "speed", factor = [0.9, 1.1] },
      { transform = "pitch_shift", semitones = [-2, 2] },
      { transform = "time_stretch", rate = [0.9, 1.1] },
  ] },
  { transform = "time_mask", width = [0, 4] },
  { transform = "freq_mask", width = [0, 4] },
]
"#;

#[test]
fn audio_runs_augment_clips_replayably_and_preview_spectrograms_and_wavs() {
    let tmp = tempfile::tempdir().unwrap();
    let data = super::audio::clip_folder(tmp.path());
    // A folder of noise clips beside the config: digits of other speakers, quietly.
    let noise = tmp.path().join("noise");
    std::fs::create_dir_all(&noise).unwrap();
    for name in ["5/s100_5.wav", "7/s101_7.wav"] {
        std::fs::copy(root().join("data/spoken_digits").join(name), noise.join(name.replace('/', "_"))).unwrap();
    }
    let plain = super::audio::config(tmp.path(), &data, "", "");
    let plain_text = std::fs::read_to_string(&plain).unwrap().replace("epochs = 20", "epochs = 3");
    let plain = write(tmp.path(), "plain.toml", &plain_text);
    let augmented = write(tmp.path(), "augmented.toml", &format!("{plain_text}{AUDIO_STEPS}"));
    let a = trains_replayably(tmp.path(), &augmented, &plain);
    let report = std::fs::read_to_string(a.join("report.md")).unwrap();
    assert!(report.contains("add_noise (p 0.5), background_noise (p 0.3), gain"), "{report}");

    let out = tmp.path().join("preview");
    preview(&augmented, &out, 3, 2);
    let png = image::open(out.join("augment_preview.png")).unwrap();
    assert!(png.width() > png.height(), "spectrogram cells are wide: {}x{}", png.width(), png.height());
    let wavs = std::fs::read_dir(out.join("wav")).unwrap().count();
    assert_eq!(wavs, 3 * 3, "each clip and its two augmentations");
    let (original, _) = anneal_data::audio::read_wav(&out.join("wav/row0.wav")).unwrap();
    let (augmented_clip, rate) = anneal_data::audio::read_wav(&out.join("wav/row0_epoch1.wav")).unwrap();
    assert_eq!(rate, 8000);
    assert_ne!(original, augmented_clip);

    // A noise folder that is not there is named.
    let missing = std::fs::read_to_string(&augmented).unwrap().replace("folder = \"noise\"", "folder = \"no-such\"");
    let missing = write(tmp.path(), "missing.toml", &missing);
    let o = anneal(&["train", "--config", &missing, "--out", tmp.path().join("m").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("background_noise folder") && stderr(&o).contains("no-such"), "{}", stderr(&o));
}

#[test]
fn text_runs_augment_words_replayably_and_preview_a_table() {
    let tmp = tempfile::tempdir().unwrap();
    let data = super::text::reviews(tmp.path(), 160, 40);
    let plain = super::text::config(tmp.path(), &data, "", "");
    let plain_text = std::fs::read_to_string(&plain).unwrap().replace("epochs = 4", "epochs = 2");
    let steps = r#"
[augment]
protected = ["not", "never", "no"]
steps = [
  { transform = "synonym_replace", share = 0.1 },
  { transform = "some_of", n = 1, of = [
      { transform = "random_insert", share = 0.1 },
      { transform = "random_swap", share = 0.1 },
      { transform = "random_delete", share = 0.1 },
  ] },
  { transform = "sentence_shuffle", p = 0.3 },
]
"#;
    let plain = write(tmp.path(), "plain.toml", &plain_text);
    let augmented = write(tmp.path(), "augmented.toml", &format!("{plain_text}{steps}"));
    trains_replayably(tmp.path(), &augmented, &plain);

    let out = tmp.path().join("preview");
    preview(&augmented, &out, 2, 3);
    let table = std::fs::read_to_string(out.join("augment_preview.md")).unwrap();
    assert!(table.contains("| row | original | epoch 1 | epoch 2 | epoch 3 |\n|---|---|---|---|---|\n"), "{table}");
    let lines: Vec<&str> = table.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| row")).collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert!(lines.iter().all(|l| l.matches(" | ").count() == 4), "five cells a line: {table}");

    let bad = std::fs::read_to_string(&augmented).unwrap().replace("share = 0.1 }", "share = 1.5 }");
    let bad = write(tmp.path(), "bad.toml", &bad);
    let o = anneal(&["train", "--config", &bad, "--out", tmp.path().join("b").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("augment.steps[0].share = 1.5"), "{}", stderr(&o));
}
