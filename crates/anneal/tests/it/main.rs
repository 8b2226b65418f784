//! End-to-end tests of the `anneal` program on the bundled data.

mod config_fuzz;
mod cv;
mod errors;
mod extension;
mod friction;
mod hardening;
mod linear;
mod penguins;
mod regression;
mod training;
mod tune;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Runs the real CLI binary with `args`, from the repository root, on the flex backend.
pub fn anneal(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_anneal"))
        .args(args)
        .current_dir(root())
        .env_remove("BURN_DEVICE")
        .output()
        .expect("the anneal binary runs")
}

/// Standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Writes `contents` to `name` in `dir`, returning the path as a string.
pub fn write(dir: &Path, name: &str, contents: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, contents).unwrap();
    p.to_str().unwrap().to_string()
}
