//! What the transfer, distillation and pretraining examples share: the
//! command line's `--name value` settings, a real `anneal train` run into a
//! fresh folder, and the mean and standard deviation of a few seeds' scores.

use std::path::Path;

use anneal::RunConfig;
use anneal::run::{RunMetrics, TrainOptions, train};
use anneal::train::{Backend, Progress};

/// The value after `--name` on the command line, parsed.
pub fn arg<T: std::str::FromStr>(name: &str) -> Option<T> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok())
}

/// `anneal train` of `config` into `out` (replaced if it exists), silently, on
/// the default backend.
#[allow(dead_code)] // pretrain_effect trains through the library's pieces instead.
pub fn run(config: &RunConfig, out: &Path) -> anyhow::Result<RunMetrics> {
    if out.exists() {
        std::fs::remove_dir_all(out)?;
    }
    let options = TrainOptions {
        out: out.to_path_buf(),
        backend: Backend::resolve(None)?,
        progress: Progress::Silent,
        resume: false,
        replicas: None,
        mpi: false,
    };
    Ok(train(config, &options)?)
}

/// Mean and sample standard deviation.
#[allow(dead_code)] // in_context reports one seed per size.
pub fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    (m, (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt())
}
