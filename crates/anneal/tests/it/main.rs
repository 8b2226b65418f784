//! End-to-end tests of the `anneal` program on the bundled data.

mod augment;
mod config_fuzz;
mod cv;
mod dashboard;
mod distributed;
mod errors;
mod extension;
mod friction;
mod hardening;
mod images;
mod linear;
mod penguins;
mod regression;
mod rl;
mod training;
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

/// Writes `contents` to `name` in `dir`, returning the path as a string.
pub fn write(dir: &Path, name: &str, contents: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, contents).unwrap();
    p.to_str().unwrap().to_string()
}
