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

/// [`config`] with two hidden layers (three units for a pipeline to cut between).
fn deeper(dir: &Path, name: &str, batch: usize, distributed: &str) -> String {
    let text = std::fs::read_to_string(config(dir, name, batch, distributed)).unwrap();
    write(dir, name, &text.replace("hidden = [32]", "hidden = [32, 16]"))
}

/// Trains `first` into `<dir>/a` and `second` (with `extra` arguments) into
/// `<dir>/b`, asserts that they trained the same weights (within 1e-4), and
/// returns the second run's folder.
fn trains_alike(dir: &Path, first: &str, second: &str, extra: &[&str]) -> std::path::PathBuf {
    let (a, b) = (dir.join("a"), dir.join("b"));
    let o = anneal(&["train", "--config", first, "--out", a.to_str().unwrap(), "--log"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let args = [&["train", "--config", second, "--out", b.to_str().unwrap(), "--log"][..], extra].concat();
    let o = anneal(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let (wa, wb) = (weights(&a), weights(&b));
    let diff = wa.iter().flatten().zip(wb.iter().flatten()).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(diff < 1e-4, "max |Δw| = {diff}");
    b
}

/// Each `[distributed]` section of `cases` fails with an error containing its
/// text, before a run folder exists.
fn refused(dir: &Path, cases: &[(&str, &str)]) {
    let out = dir.join("r");
    for (i, (section, expected)) in cases.iter().enumerate() {
        let c = config(dir, &format!("c{i}.toml"), 32, section);
        let o = anneal(&["train", "--config", &c, "--out", out.to_str().unwrap()]);
        assert!(!o.status.success());
        assert!(stderr(&o).contains(expected), "{section}: {}", stderr(&o));
        assert!(!out.exists(), "a refused run leaves no folder");
    }
}

#[test]
fn two_replicas_at_32_train_the_model_one_trains_at_64() {
    let dir = tempfile::tempdir().unwrap();
    let single = config(dir.path(), "single.toml", 64, "");
    let double = config(dir.path(), "double.toml", 32, "");
    let b = trains_alike(dir.path(), &single, &double, &["--replicas", "2"]);
    let a = dir.path().join("a");
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
    let cases = [
        ("[distributed]\nwarmup_epochs = 2", "lr_scaling"),
        ("[distributed]\nreplicas = 0", "replicas = 0"),
        ("[distributed]\nreplicas = 2\nbucket_mb = -1", "bucket_mb"),
        ("[distributed]\nreplics = 2", "replics"),
    ];
    refused(dir.path(), &cases);
}

/// `mpirun -np 2 anneal train --distributed mpi` with `args` (as root in CI, so
/// `--allow-run-as-root`; `--oversubscribe` for machines with fewer slots).
#[cfg(feature = "mpi")]
fn mpirun(args: &[&str]) -> std::process::Command {
    let mut c = std::process::Command::new("mpirun");
    c.args(["--allow-run-as-root", "--oversubscribe", "-np", "2", env!("CARGO_BIN_EXE_anneal")])
        .args(args)
        .args(["--distributed", "mpi"])
        .current_dir(root())
        .env_remove("BURN_DEVICE")
        // One compute thread per rank: the two ranks share the machine's cores.
        .env("RAYON_NUM_THREADS", "1");
    c
}

#[cfg(feature = "mpi")]
#[test]
fn two_mpi_ranks_at_32_train_the_model_one_trains_at_64() {
    let dir = tempfile::tempdir().unwrap();
    let single = config(dir.path(), "single.toml", 64, "");
    let double = config(dir.path(), "double.toml", 32, "");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let o = anneal(&["train", "--config", &single, "--out", a.to_str().unwrap(), "--log"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = mpirun(&["train", "--config", &double, "--out", b.to_str().unwrap(), "--log"]).output().unwrap();
    assert!(o.status.success(), "{}\n{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    // Rank 0 alone reports.
    assert_eq!(String::from_utf8_lossy(&o.stdout).matches("run folder:").count(), 1);
    let (wa, wb) = (weights(&a), weights(&b));
    let diff = wa.iter().flatten().zip(wb.iter().flatten()).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(diff < 1e-4, "max |Δw| = {diff}");
    let report = std::fs::read_to_string(b.join("report.md")).unwrap();
    assert!(report.contains("data-parallel: 2 replicas"), "{report}");
}

/// kill -9 one of two ranks mid-run: the other ends with an error well within a
/// minute, the last checkpoint is intact, and one process finishes the run.
#[cfg(all(feature = "mpi", unix))]
#[test]
fn a_killed_rank_ends_the_run_and_one_process_resumes_it() {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(config(dir.path(), "c.toml", 32, "[distributed]\ntimeout_seconds = 30"))
        .unwrap()
        .replace("epochs = 3", "epochs = 40\ncheckpoint_every = 1");
    let c = write(dir.path(), "long.toml", &text);
    let out = dir.path().join("run");
    let mut child = mpirun(&["train", "--config", &c, "--out", out.to_str().unwrap(), "--log"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for a checkpoint, then kill rank 1 (found by its MPI rank variable).
    let start = Instant::now();
    while !out.join("checkpoint/state.json").exists() {
        assert!(start.elapsed() < Duration::from_secs(120), "no checkpoint was written");
        std::thread::sleep(Duration::from_millis(100));
    }
    let rank1 = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .find(|pid| {
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&cmdline).contains(out.to_str().unwrap())
                && environ.split(|b| *b == 0).any(|v| v == b"OMPI_COMM_WORLD_RANK=1")
        })
        .expect("rank 1's process");
    let killed = Instant::now();
    std::process::Command::new("kill").args(["-9", &rank1.to_string()]).status().unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(killed.elapsed() < Duration::from_secs(60), "the run did not end within 60 s of the kill");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(!status.success());
    assert!(err.contains("rank 1") || err.contains("signal 9") || err.contains("Killed"), "{err}");
    // The checkpoint is intact: one process (a plain run, one replica at the global batch) finishes it.
    let o = anneal(&["train", "--resume", out.to_str().unwrap(), "--replicas", "1", "--log"]);
    let e = stderr(&o);
    assert!(o.status.success(), "{e}");
    assert!(out.join("report.md").exists());
}

/// `[distributed] pipeline`: 2 stages × 4 micro-batches on threads train the
/// weights the plain loop trains, and the report and `pipeline.json` show the stages.
#[test]
fn a_pipeline_of_two_stages_trains_the_plain_loops_model() {
    let dir = tempfile::tempdir().unwrap();
    let plain = deeper(dir.path(), "plain.toml", 64, "");
    let piped = deeper(dir.path(), "piped.toml", 64, "[distributed]\npipeline = { stages = 2, micro_batches = 4 }");
    let b = trains_alike(dir.path(), &plain, &piped, &[]);
    let report = std::fs::read_to_string(b.join("report.md")).unwrap();
    assert!(report.contains("pipeline (GPipe): 2 stages × 4 micro-batches"), "{report}");
    assert!(report.contains("stage 1: units 1–2"), "{report}");
    let stages: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.join("pipeline.json")).unwrap()).unwrap();
    assert_eq!(stages["per_stage"].as_array().unwrap().len(), 2);
    assert!((stages["theoretical_bubble"].as_f64().unwrap() - 0.2).abs() < 1e-12);
}

/// `replicas = 2` with a pipeline: a grid of two 2-stage pipelines at 32 rows
/// each trains the model the plain loop trains at 64.
#[test]
fn a_grid_of_two_pipelines_trains_the_model_one_trains_at_the_global_batch() {
    let dir = tempfile::tempdir().unwrap();
    let plain = deeper(dir.path(), "plain.toml", 64, "");
    let grid = deeper(
        dir.path(),
        "grid.toml",
        32,
        "[distributed]\nreplicas = 2\npipeline = { stages = 2, micro_batches = 2 }",
    );
    let b = trains_alike(dir.path(), &plain, &grid, &[]);
    let report = std::fs::read_to_string(b.join("report.md")).unwrap();
    assert!(report.contains("data-parallel: 2 replicas") && report.contains("pipeline (GPipe): 2 stages"), "{report}");
}

#[test]
fn what_a_pipeline_cannot_do_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[distributed]\npipeline = { stages = 1 }", "at least 2 stages"),
        ("[distributed]\npipeline = { stages = 2, micro_batches = 0 }", "micro_batches = 0"),
        ("[distributed]\npipeline = { stages = 2, micro = 4 }", "micro"),
        (
            "[distributed]\npipeline = { stages = 2 }\n[training.gradient_clipping]\nby = \"norm\"\nmax_norm = 1.0",
            "gradient_clipping",
        ),
    ];
    refused(dir.path(), &cases);
    // A model with fewer units than stages: named (after the data gave the model its shape).
    let c = config(dir.path(), "deep.toml", 32, "[distributed]\npipeline = { stages = 3 }");
    let o = anneal(&["train", "--config", &c, "--out", dir.path().join("d").to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("3 pipeline stages for a model of 2 units"), "{}", stderr(&o));
}

/// Two MPI ranks, one stage each: the threads' pipeline's model.
#[cfg(feature = "mpi")]
#[test]
fn a_pipeline_on_two_mpi_ranks_trains_what_it_trains_on_threads() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(config(
        dir.path(),
        "p.toml",
        64,
        "[distributed]\npipeline = { stages = 2, micro_batches = 3 }",
    ))
    .unwrap()
    .replace("hidden = [32]", "hidden = [24, 16]");
    let c = write(dir.path(), "p2.toml", &text);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let o = anneal(&["train", "--config", &c, "--out", a.to_str().unwrap(), "--log"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = mpirun(&["train", "--config", &c, "--out", b.to_str().unwrap(), "--log"]).output().unwrap();
    assert!(o.status.success(), "{}\n{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    let (wa, wb) = (weights(&a), weights(&b));
    assert_eq!(wa, wb, "the same stages, the same arithmetic");
    let report = std::fs::read_to_string(b.join("report.md")).unwrap();
    assert!(report.contains("stage 1: units"), "{report}");
    // A grid of pipelines is threads-only: refused under MPI before any folder.
    let grid = write(dir.path(), "grid.toml", &text.replace("[distributed]", "[distributed]\nreplicas = 2"));
    let g = dir.path().join("g");
    let o = mpirun(&["train", "--config", &grid, "--out", g.to_str().unwrap()]).output().unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("replicas > 1 under MPI"), "{}", stderr(&o));
    assert!(!g.exists());
}
