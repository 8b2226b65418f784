//! Checkpoints: everything a run needs to continue bit for bit after a crash.
//!
//! A checkpoint is a folder:
//!
//! | file | contents |
//! |---|---|
//! | `state.json` | epochs done, iteration, history, early-stopping state, scheduler inputs, dropout generator states, the training config |
//! | `model.bpk` | the weights after the last completed epoch (burnpack; parameter ids kept) |
//! | `best.bpk` | the best epoch's weights, when early stopping restores them |
//! | `optimizer/` | the optimiser's state ([`Optimizer::save_state`](anneal_optim::Optimizer::save_state)) |
//!
//! It is written to `<folder>.tmp` and swapped in by renames, so a crash while
//! writing leaves the previous checkpoint (or `<folder>.old`) whole; reading
//! falls back to `<folder>.old` when `<folder>` is missing.
//!
//! Shuffles need no state: epoch `e` shuffles with `SeededRng::derive(seed, 1000 + e)`.

use std::path::{Path, PathBuf};

use anneal_optim::Optimizer;
use anneal_regularize::EarlyStoppingState;
use burn::module::Module;
use serde::{Deserialize, Serialize};

use crate::error::TrainError;
use crate::trainer::{EpochRecord, TrainConfig};

/// The format version written in `state.json`.
pub const VERSION: u32 = 1;

/// What `state.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The format version ([`VERSION`]).
    pub version: u32,
    /// The training settings of the run (a resume must use the same ones).
    pub config: TrainConfig,
    /// Completed epochs.
    pub epoch: usize,
    /// Iterations (batches) run so far.
    pub iteration: usize,
    /// Per-epoch history so far.
    pub history: Vec<EpochRecord>,
    /// Early-stopping state.
    pub early_stopping: Option<EarlyStoppingState>,
    /// The epoch whose weights `best.bpk` holds.
    pub best_epoch: Option<usize>,
    /// Steps the learning-rate scheduler has taken.
    pub scheduler_steps: usize,
    /// The metrics fed to a reduce-on-plateau schedule, one per epoch (`f64` bits).
    pub scheduler_metrics: Vec<u64>,
    /// The model's random-generator states (dropout).
    pub rng: Vec<u64>,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
    /// Whether the run is over (all epochs done or stopped early).
    pub finished: bool,
}

const STATE: &str = "state.json";
const MODEL: &str = "model.bpk";
const BEST: &str = "best.bpk";
const OPTIMIZER: &str = "optimizer";

fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(suffix);
    dir.with_file_name(name)
}

fn fail(path: &Path, e: &dyn std::fmt::Display) -> TrainError {
    TrainError::Checkpoint { path: path.to_path_buf(), message: e.to_string() }
}

impl Checkpoint {
    /// The folder that holds the newest complete checkpoint: `dir`, or
    /// `<dir>.old` if a crash came between the two renames of a write.
    pub fn locate(dir: &Path) -> Option<PathBuf> {
        [dir.to_path_buf(), sibling(dir, ".old")].into_iter().find(|d| d.join(STATE).is_file())
    }

    /// Reads `state.json` of the checkpoint in `dir` (see [`locate`](Checkpoint::locate)).
    pub fn read(dir: &Path) -> Result<Self, TrainError> {
        let dir = Self::locate(dir).ok_or_else(|| fail(dir, &"no checkpoint here (state.json is missing)"))?;
        let path = dir.join(STATE);
        let text = std::fs::read_to_string(&path).map_err(|e| fail(&path, &e))?;
        let state: Checkpoint = serde_json::from_str(&text).map_err(|e| fail(&path, &e))?;
        if state.version != VERSION {
            return Err(fail(&path, &format!("format version {} is not the supported {VERSION}", state.version)));
        }
        Ok(state)
    }

    /// Writes this state with the model, the best model and the optimiser into
    /// `dir`, replacing what was there only once everything is written.
    pub fn write<M: Module>(
        &self,
        dir: &Path,
        model: &M,
        best: Option<&M>,
        optimizer: &Optimizer,
    ) -> Result<(), TrainError> {
        let tmp = sibling(dir, ".tmp");
        let old = sibling(dir, ".old");
        if !dir.exists() && old.exists() {
            // A crash between the renames of the last write: put that checkpoint back first.
            std::fs::rename(&old, dir).map_err(|e| fail(&old, &e))?;
        }
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| fail(&tmp, &e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| fail(&tmp, &e))?;
        model.clone().save_file(tmp.join(MODEL)).map_err(|e| fail(&tmp.join(MODEL), &e))?;
        if let Some(best) = best {
            best.clone().save_file(tmp.join(BEST)).map_err(|e| fail(&tmp.join(BEST), &e))?;
        }
        optimizer.save_state(&tmp.join(OPTIMIZER))?;
        let json = serde_json::to_string_pretty(self).map_err(|e| fail(&tmp, &e))?;
        std::fs::write(tmp.join(STATE), json).map_err(|e| fail(&tmp, &e))?;
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(|e| fail(&old, &e))?;
        }
        if dir.exists() {
            std::fs::rename(dir, &old).map_err(|e| fail(dir, &e))?;
        }
        std::fs::rename(&tmp, dir).map_err(|e| fail(dir, &e))?;
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(|e| fail(&old, &e))?;
        }
        Ok(())
    }

    /// Loads the weights of the checkpoint in `dir` into `model` (same shape).
    pub fn load_model<M: Module>(dir: &Path, model: M) -> Result<M, TrainError> {
        let path = Self::locate(dir).unwrap_or_else(|| dir.to_path_buf()).join(MODEL);
        model.try_load_file(&path).map_err(|e| fail(&path, &e))
    }

    /// Loads the best epoch's weights of the checkpoint in `dir` into `model`.
    pub(crate) fn load_best<M: Module>(dir: &Path, model: M) -> Result<M, TrainError> {
        let path = Self::locate(dir).unwrap_or_else(|| dir.to_path_buf()).join(BEST);
        model.try_load_file(&path).map_err(|e| fail(&path, &e))
    }

    /// Restores the optimiser's state saved in the checkpoint in `dir`.
    pub(crate) fn load_optimizer(
        dir: &Path,
        optimizer: &mut Optimizer,
        device: &burn::prelude::Device,
    ) -> Result<(), TrainError> {
        let path = Self::locate(dir).unwrap_or_else(|| dir.to_path_buf()).join(OPTIMIZER);
        Ok(optimizer.load_state(&path, device)?)
    }
}
