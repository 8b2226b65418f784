//! End-to-end tests of the `anneal` program on the bundled data.

mod audio;
mod augment;
mod config_fuzz;
mod curriculum;
mod cv;
mod dashboard;
mod distributed;
mod errors;
mod extension;
mod friction;
mod hardening;
mod images;
mod linear;
mod multitask;
mod penguins;
mod regression;
mod rl;
mod text;
mod training;
mod transfer;
mod tune;
mod weights;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The real CLI binary as a command run from `cwd` on the default (flex)
/// backend, for tests that spawn, pipe or redirect it.
pub fn anneal_command(cwd: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_anneal"));
    command.current_dir(cwd).env_remove("BURN_DEVICE");
    command
}

/// Runs the real CLI binary with `args`, from the repository root, on the flex backend.
pub fn anneal(args: &[&str]) -> Output {
    anneal_command(&root()).args(args).output().expect("the anneal binary runs")
}

/// The bundled penguins rows as CSV text (header first).
pub fn penguins_text() -> String {
    let mut text = String::new();
    let file = std::fs::File::open(root().join("data/penguins.csv.gz")).unwrap();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(file), &mut text).unwrap();
    text
}

/// Standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The epoch of a run folder's checkpoint, once one is written.
pub fn checkpoint_epoch(run: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(run.join("checkpoint/state.json")).ok()?;
    serde_json::from_str::<serde_json::Value>(&text).ok()?["epoch"].as_u64()
}

/// Starts `anneal train --config <config> --out <run>` with `extra` arguments and
/// kills it (SIGKILL) as soon as the checkpoint of epoch `after` exists, while the
/// next epoch runs; returns the epoch of the checkpoint left behind.
pub fn train_and_kill(config: &str, run: &Path, extra: &[&str], after: u64) -> u64 {
    let mut child = anneal_command(&root())
        .args(["train", "--config", config, "--out", run.to_str().unwrap(), "--log"])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while checkpoint_epoch(run) < Some(after) {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
        assert!(start.elapsed() < std::time::Duration::from_secs(300), "no checkpoint after 5 minutes");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let at = checkpoint_epoch(run).unwrap();
    assert!(!run.join("model.bpk").exists(), "the run was not killed during training (checkpoint {at})");
    at
}

/// Writes `contents` to `name` in `dir`, returning the path as a string.
pub fn write(dir: &Path, name: &str, contents: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, contents).unwrap();
    p.to_str().unwrap().to_string()
}
