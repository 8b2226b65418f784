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
//! Shuffles need no state: epoch `e` shuffles with `SeededRng::stream(seed, Stream::Shuffle(e))`.

use std::path::{Path, PathBuf};

use anneal_optim::Optimizer;
use anneal_regularize::EarlyStoppingState;
use burn::module::Module;
use serde::{Deserialize, Serialize};

use crate::error::TrainError;
use crate::trainer::{EpochRecord, TrainConfig};

/// The format version written in `state.json`.
pub const VERSION: u32 = 3;

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
    /// Per-epoch history so far (stored as `f64` bit patterns, so a resumed
    /// run's history equals an uninterrupted one's bit for bit).
    #[serde(with = "exact_history")]
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
    /// The first batch's loss (`f64` bits), the divergence guard's yardstick.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_loss: Option<u64>,
}

/// The history with every number as its `f64` bits: JSON text would round some
/// values on the way back.
mod exact_history {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::trainer::EpochRecord;

    #[derive(Serialize, Deserialize)]
    struct Exact {
        epoch: usize,
        train_loss: u64,
        learning_rate: u64,
        seconds: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        gradient_norms: Option<Vec<u64>>,
        metrics: BTreeMap<String, u64>,
    }

    pub fn serialize<S: Serializer>(history: &[EpochRecord], serializer: S) -> Result<S::Ok, S::Error> {
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        history
            .iter()
            .map(|r| Exact {
                epoch: r.epoch,
                train_loss: r.train_loss.to_bits(),
                learning_rate: r.learning_rate.to_bits(),
                seconds: r.seconds.to_bits(),
                gradient_norms: r.gradient_norms.as_deref().map(bits),
                metrics: r.metrics.iter().map(|(k, v)| (k.clone(), v.to_bits())).collect(),
            })
            .collect::<Vec<_>>()
            .serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<EpochRecord>, D::Error> {
        Ok(Vec::<Exact>::deserialize(deserializer)?
            .into_iter()
            .map(|e| EpochRecord {
                epoch: e.epoch,
                train_loss: f64::from_bits(e.train_loss),
                learning_rate: f64::from_bits(e.learning_rate),
                seconds: f64::from_bits(e.seconds),
                gradient_norms: e.gradient_norms.map(|g| g.into_iter().map(f64::from_bits).collect()),
                metrics: e.metrics.into_iter().map(|(k, v)| (k, f64::from_bits(v))).collect(),
            })
            .collect())
    }
}

use anneal_core::integrity::{MANIFEST, Manifest};

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

/// Writes a checkpoint folder atomically: `fill` writes the files into
/// `<dir>.tmp` (it must write `marker`, the file whose presence says the folder
/// is complete), a manifest of every file's SHA-256 seals it, and renames swap
/// it in, so a crash at any point leaves the previous folder (or `<dir>.old`)
/// whole. The training loop's [`Checkpoint`] and other loops' checkpoints (the
/// reinforcement-learning driver's) are written through it.
pub fn write_folder(
    dir: &Path,
    marker: &str,
    fill: impl FnOnce(&Path) -> Result<(), TrainError>,
) -> Result<(), TrainError> {
    let tmp = sibling(dir, ".tmp");
    let old = sibling(dir, ".old");
    if !dir.exists() && old.join(marker).is_file() {
        // A crash between the renames of the last write: put that checkpoint back first.
        std::fs::rename(&old, dir).map_err(|e| fail(&old, &e))?;
    }
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| fail(&tmp, &e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| fail(&tmp, &e))?;
    fill(&tmp)?;
    if !tmp.join(marker).is_file() {
        return Err(fail(&tmp, &format!("the checkpoint writer did not write {marker}")));
    }
    // Every file's SHA-256: a resume verifies them before trusting the bytes.
    Manifest::of_folder(&tmp, &[]).and_then(|m| m.write(&tmp)).map_err(|e| fail(&tmp, &e))?;
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

/// The folder that holds the newest complete checkpoint written by
/// [`write_folder`] with `marker`: `dir`, or `<dir>.old` if a crash came
/// between the two renames of a write.
pub fn locate_with(dir: &Path, marker: &str) -> Option<PathBuf> {
    [dir.to_path_buf(), sibling(dir, ".old")].into_iter().find(|d| d.join(marker).is_file())
}

/// The newest complete checkpoint folder written by [`write_folder`] with
/// `marker` ([`locate_with`]), with every file checked against its manifest.
pub fn open_folder_with(dir: &Path, marker: &str) -> Result<PathBuf, TrainError> {
    let found =
        locate_with(dir, marker).ok_or_else(|| fail(dir, &format!("no checkpoint here ({marker} is missing)")))?;
    if !found.join(MANIFEST).is_file() {
        return Err(fail(&found, &"manifest.json is missing, so its files cannot be verified"));
    }
    Manifest::verify(&found).map_err(|e| match e {
        anneal_core::CoreError::Integrity { path, message } => TrainError::Checkpoint { path, message },
        other => fail(&found, &other),
    })?;
    Ok(found)
}

fn open_folder(dir: &Path) -> Result<PathBuf, TrainError> {
    open_folder_with(dir, STATE)
}

impl Checkpoint {
    /// The folder that holds the newest complete checkpoint: `dir`, or
    /// `<dir>.old` if a crash came between the two renames of a write.
    pub fn locate(dir: &Path) -> Option<PathBuf> {
        locate_with(dir, STATE)
    }

    /// Reads `state.json` of the checkpoint in `dir` (see [`locate`](Checkpoint::locate)).
    pub fn read(dir: &Path) -> Result<Self, TrainError> {
        let dir = open_folder(dir)?;
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
        write_folder(dir, STATE, |tmp| {
            model.clone().save_file(tmp.join(MODEL)).map_err(|e| fail(&tmp.join(MODEL), &e))?;
            if let Some(best) = best {
                best.clone().save_file(tmp.join(BEST)).map_err(|e| fail(&tmp.join(BEST), &e))?;
            }
            optimizer.save_state(&tmp.join(OPTIMIZER))?;
            let json = serde_json::to_string_pretty(self).map_err(|e| fail(tmp, &e))?;
            std::fs::write(tmp.join(STATE), json).map_err(|e| fail(tmp, &e))
        })
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
