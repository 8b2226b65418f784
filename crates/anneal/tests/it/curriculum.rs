//! Curriculum runs through the real CLI: difficulties from a finished run's
//! losses or from a column, the report's line, replay with the same seed, and
//! the refusals.

use std::path::Path;

use super::{anneal, root, stderr, write};

fn config(dir: &Path, name: &str, curriculum: &str) -> String {
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
hidden = [8]
[optimizer]
name = "adam"
learning_rate = 0.05
[training]
epochs = 6
batch_size = 8
{curriculum}
"#,
        root().join("data/sklearn_iris.csv.gz").display()
    );
    write(dir, name, &text)
}

fn history(run: &Path) -> String {
    std::fs::read_to_string(run.join("history.csv")).unwrap()
}

#[test]
fn a_curriculum_from_a_finished_run_trains_replays_and_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference");
    let o = anneal(&["train", "--config", &config(dir.path(), "plain.toml", ""), "--out", reference.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let section = format!(
        "[curriculum]\ndifficulty = {{ run = \"{}\" }}\npacing = \"linear\"\nstart = 0.3\nfull_at = 4",
        reference.display()
    );
    let cfg = config(dir.path(), "curriculum.toml", &section);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for run in [&a, &b] {
        let o = anneal(&["train", "--config", &cfg, "--out", run.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    // The same seed and ranking: the same epochs, bit for bit (seconds aside).
    let strip = |h: String| h.lines().map(|l| l.rsplit_once(',').unwrap().0.to_string()).collect::<Vec<_>>();
    assert_eq!(strip(history(&a)), strip(history(&b)));
    // Fewer rows in the first epochs: another history than the plain run's.
    assert_ne!(strip(history(&a)), strip(history(&reference)));
    let report = std::fs::read_to_string(a.join("report.md")).unwrap();
    assert!(
        report.contains("curriculum: easy first by the loss of run")
            && report.contains("linear pacing from 30 % of the training rows in epoch 1 to all from epoch 4"),
        "{report}"
    );

    // A column as the difficulty, hard first.
    let cfg = config(
        dir.path(),
        "column.toml",
        "[curriculum]\ndifficulty = { column = \"petal length (cm)\" }\norder = \"hard_first\"\nfull_at = 3",
    );
    let o = anneal(&["train", "--config", &cfg, "--out", dir.path().join("c").to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn bad_curricula_are_refused_with_the_setting_named() {
    let dir = tempfile::tempdir().unwrap();
    let count = std::cell::Cell::new(0);
    let refused = |section: &str, expect: &str| {
        let cfg = config(dir.path(), "bad.toml", section);
        count.set(count.get() + 1);
        let out = dir.path().join(format!("never-{}", count.get()));
        let o = anneal(&["train", "--config", &cfg, "--out", out.to_str().unwrap()]);
        assert!(!o.status.success(), "{expect}");
        let e = stderr(&o);
        assert!(e.contains(expect), "expected `{expect}` in: {e}");
    };
    refused("[curriculum]\ndifficulty = { column = \"petal length (cm)\" }\nstart = 0\nfull_at = 3", "start = 0");
    refused("[curriculum]\ndifficulty = { column = \"nope\" }\nfull_at = 3", "nope");
    refused("[curriculum]\ndifficulty = { run = \"no-such-run\" }\nfull_at = 3", "no-such-run");
    refused("[curriculum]\ndifficulty = { column = \"x\" }", "full_at");
    let cfg =
        config(dir.path(), "cv.toml", "[curriculum]\ndifficulty = { column = \"petal length (cm)\" }\nfull_at = 3");
    let o = anneal(&["cv", "--config", &cfg, "--out", dir.path().join("cv").to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("anneal cv does not apply it"), "{}", stderr(&o));
    refused(
        "[curriculum]\ndifficulty = { column = \"petal length (cm)\" }\npacing = \"self_paced\"\nthreshold = 0.5\nfull_at = 3",
        "set difficulty = \"model\"",
    );
    refused(
        "[curriculum]\ndifficulty = \"model\"\npacing = \"linear\"\nthreshold = 0.5\nfull_at = 3",
        "settings of pacing",
    );
    refused("[curriculum]\ndifficulty = \"model\"\npacing = \"self_paced\"\nfull_at = 3", "needs a loss threshold");
    refused(
        "[curriculum]\ndifficulty = \"model\"\npacing = \"self_paced\"\nthreshold = -1\nfull_at = 3",
        "threshold = -1",
    );
}

/// Self-paced learning: the model's own loss before every epoch, with a
/// growing threshold or a pacing function; replays with the same seed, is
/// reported, and trains on fewer rows first.
#[test]
fn a_self_paced_curriculum_ranks_by_the_models_own_loss() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain");
    let o = anneal(&["train", "--config", &config(dir.path(), "plain.toml", ""), "--out", plain.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let strip = |h: String| h.lines().map(|l| l.rsplit_once(',').unwrap().0.to_string()).collect::<Vec<_>>();
    for (i, section) in [
        "[curriculum]\ndifficulty = \"model\"\npacing = \"self_paced\"\nthreshold = 0.9\ngrowth = 1.3\nstart = 0.2\nfull_at = 5",
        "[curriculum]\ndifficulty = \"model\"\npacing = \"root\"\nfull_at = 4",
    ]
    .iter()
    .enumerate()
    {
        let cfg = config(dir.path(), &format!("sp{i}.toml"), section);
        let (a, b) = (dir.path().join(format!("a{i}")), dir.path().join(format!("b{i}")));
        for run in [&a, &b] {
            let o = anneal(&["train", "--config", &cfg, "--out", run.to_str().unwrap()]);
            assert!(o.status.success(), "{}", stderr(&o));
        }
        assert_eq!(strip(history(&a)), strip(history(&b)));
        assert_ne!(strip(history(&a)), strip(history(&plain)));
        let report = std::fs::read_to_string(a.join("report.md")).unwrap();
        assert!(report.contains("by the model's own current loss (self-paced"), "{report}");
        assert_eq!(report.contains("rows whose loss is below 0.9 × 1.3^(epoch − 1)"), i == 0, "{report}");
    }
}
