//! `anneal rl`: train a reinforcement-learning agent from a TOML config into a
//! run folder, resume it, and evaluate its policy.
//!
//! The run folder holds `config.toml`, `run.json` (the backend), the files of
//! [`anneal_rl::report`] (`episodes.csv`, `metrics.jsonl`, `returns.png`,
//! `summary.json`, `policy.bpk`, `report.md`), the checkpoint, `status.json`
//! and `manifest.json`. `metrics.jsonl` grows an iteration at a time while it trains.

use std::path::{Path, PathBuf};

use anneal_rl::agent::{self, IterationRecord, Observer};
use anneal_rl::report::{Summary, write_run};
use anneal_rl::{Episode, Policy, RlConfig};
use anneal_train::Backend;

use crate::config::read_toml;
use crate::error::{Error, Result};
use crate::run::{
    CHECKPOINT, CONFIG, RUN_INFO, RunFolder, RunInfo, claim_out, clear_status, record_end, seal, to_json, verify_run,
    write,
};
use anneal_core::status::{RunState, RunStatus};

const POLICY: &str = "policy.bpk";

/// How to run `anneal rl`.
#[derive(Debug, Clone)]
pub struct RlOptions {
    /// The run folder (created; or, with `resume`, continued).
    pub out: PathBuf,
    /// The compute backend.
    pub backend: Backend,
    /// Continue the run in `out` from its checkpoint.
    pub resume: bool,
    /// One line per iteration on standard error.
    pub log: bool,
}

/// Reads an RL config (TOML), naming the file in errors.
pub fn load_config(path: &Path) -> Result<RlConfig> {
    let config: RlConfig = read_toml(path)?;
    config.validate()?;
    Ok(config)
}

/// Progress on standard error: a line per iteration with `--log`; otherwise,
/// on a terminal, one status line rewritten in place.
///
/// Each iteration's record is also appended to the run folder's `metrics.jsonl` as
/// it ends, so a dashboard can follow the run (best effort: the file is rewritten
/// whole, from the records, when the run ends).
struct Log {
    every: bool,
    live: bool,
    window: usize,
    total: usize,
    jsonl: Option<std::fs::File>,
}

impl Log {
    fn line(&self, r: &IterationRecord) -> String {
        let mean = r.metrics.get("mean_return").map_or("—".to_string(), |m| format!("{m:.1}"));
        format!(
            "iteration {:>5}  steps {:>8}  episodes {:>6}  mean return (last {}) {mean}  {:.1}s",
            r.iteration, r.env_steps, r.episodes, self.window, r.seconds
        )
    }

    fn finish(&self) {
        if self.live && !self.every {
            eprintln!();
        }
    }
}

impl Observer for Log {
    fn on_iteration(&mut self, r: &IterationRecord, _episodes: &[Episode]) {
        if let (Some(file), Ok(line)) = (&mut self.jsonl, serde_json::to_string(r)) {
            let _ = std::io::Write::write_all(file, format!("{line}\n").as_bytes());
        }
        if self.every {
            eprintln!("{}", self.line(r));
        } else if self.live {
            let percent = 100.0 * r.env_steps as f64 / self.total.max(1) as f64;
            eprint!("\r{}  [{percent:>3.0}%]  ", self.line(r));
        }
    }
}

/// Trains the agent of `config` into `options.out` (or continues it there).
pub fn train(config: &RlConfig, options: &RlOptions) -> Result<Summary> {
    config.validate()?;
    let out = &options.out;
    let _lock = if options.resume {
        RunFolder::new(out).require(CONFIG)?;
        anneal_core::lock::FolderLock::acquire(out)?
    } else {
        let lock = claim_out(out)?;
        let text =
            toml::to_string(config).map_err(|e| Error::Config { path: out.join(CONFIG), message: e.to_string() })?;
        write(out, CONFIG, text)?;
        write(out, RUN_INFO, to_json(&RunInfo { device: options.backend, data: None }))?;
        lock
    };
    if options.resume {
        clear_status(out)?;
    }
    let device = options.backend.device()?;
    let live = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let jsonl = std::fs::OpenOptions::new().create(true).append(true).open(out.join("metrics.jsonl")).ok();
    let mut log = Log { every: options.log, live, window: config.window, total: config.total_steps, jsonl };
    let outcome = agent::train(config, &device, Some(&out.join(CHECKPOINT)), &mut log);
    log.finish();
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e) => {
            let e = Error::from(e);
            record_end(out, &e);
            return Err(e);
        }
    };
    let summary = write_run(out, config, &outcome)?;
    RunStatus::new(RunState::Finished, "").write(out)?;
    seal(out)?;
    Ok(summary)
}

/// The config a run folder was trained with.
pub fn run_config(run: &Path) -> Result<RlConfig> {
    load_config(&RunFolder::new(run).require(CONFIG)?)
}

/// Runs the trained greedy policy of `run` for `episodes` episodes (seeds
/// `seed..`); returns each episode's return. The run folder is verified first.
pub fn evaluate(run: &Path, episodes: usize, seed: u64, backend: Backend) -> Result<Vec<f64>> {
    verify_run(run)?;
    let config = run_config(run)?;
    let device = backend.device()?;
    let policy = Policy::load(&config, &RunFolder::new(run).require(POLICY)?, &device)?;
    Ok(agent::evaluate(&config, &policy, episodes, seed, &device)?)
}
