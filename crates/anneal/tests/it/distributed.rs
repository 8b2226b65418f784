//! `anneal train --replicas`: data-parallel replicas on threads equal one model
//! trained on the global batch, and say so in the report.

use std::path::Path;

use super::training::weights;
use super::{anneal, root, stderr, write};

/// Digits, no dropout (replicas draw their own dropout masks), `batch` rows per replica.
fn config(dir: &Path, name: &str, batch: usize, distributed: &str) -> String {
    let data = root().join("data/sklearn_digits.csv.gz");
    let text = format!(
        r#"
seed = 5
[data]
path = "{}"
target = "target"
[split]
train = 0.6
valid = 0.2
test = 0.2
[model]
hidden = [32]
[optimizer]
name = "sgd"
learning_rate = 0.05
momentum = 0.9
[training]
epochs = 3
batch_size = {batch}
last_batch = "drop"
{distributed}
"#,
        data.display()
    );
    write(dir, name, &text)
}

#[test]
fn two_replicas_at_32_train_the_model_one_trains_at_64() {
    let dir = tempfile::tempdir().unwrap();
    let single = config(dir.path(), "single.toml", 64, "");
    let double = config(dir.path(), "double.toml", 32, "");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let o = anneal(&["train", "--config", &single, "--out", a.to_str().unwrap(), "--log"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = anneal(&["train", "--config", &double, "--out", b.to_str().unwrap(), "--log", "--replicas", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (wa, wb) = (weights(&a), weights(&b));
    let diff = wa.iter().flatten().zip(wb.iter().flatten()).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(diff < 1e-4, "max |Δw| = {diff}");
    let report = std::fs::read_to_string(b.join("report.md")).unwrap();
    assert!(report.contains("data-parallel: 2 replicas"), "{report}");
    assert!(report.contains("batch 64"), "{report}");
    // The run folder keeps the override, so a resume runs the same replicas.
    let kept = std::fs::read_to_string(b.join("config.toml")).unwrap();
    assert!(kept.contains("[distributed]") && kept.contains("replicas = 2"), "{kept}");
    // The logged epochs are the agreed ones: the training loss over both replicas' rows.
    let m = |run: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap()).unwrap()
    };
    let (la, lb) =
        (m(&a)["history"][2]["train_loss"].as_f64().unwrap(), m(&b)["history"][2]["train_loss"].as_f64().unwrap());
    assert!((la - lb).abs() < 1e-4, "{la} vs {lb}");
}

#[test]
fn bad_distributed_settings_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let cases = [
        ("[distributed]\nwarmup_epochs = 2", "lr_scaling"),
        ("[distributed]\nreplicas = 0", "replicas = 0"),
        ("[distributed]\nreplicas = 2\nbucket_mb = -1", "bucket_mb"),
        ("[distributed]\nreplics = 2", "replics"),
    ];
    for (i, (section, expected)) in cases.iter().enumerate() {
        let c = config(dir.path(), &format!("c{i}.toml"), 32, section);
        let o = anneal(&["train", "--config", &c, "--out", out.to_str().unwrap()]);
        assert!(!o.status.success());
        assert!(stderr(&o).contains(expected), "{section}: {}", stderr(&o));
        assert!(!out.exists(), "a refused run leaves no folder");
    }
}
