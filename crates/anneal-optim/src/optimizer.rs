//! The built optimiser: one object the training loop calls once per update.

use std::path::Path;

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::config::OptimizerConfig;
use crate::error::OptimError;
use crate::hypergradient::{Hypergradient, HypergradientState};

/// What does the updating: burn's module optimiser with a learning rate set
/// from outside, or our hypergradient optimiser, which owns its learning rate.
pub(crate) enum Inner {
    Module { inner: ModuleOptimizer, learning_rate: f64 },
    Hypergradient(Hypergradient),
}

/// A built optimiser: the update rule, its per-parameter state and the current
/// learning rate. Made by [`OptimizerConfig::init`].
///
/// The loop calls [`step`](Optimizer::step) once per update. A learning-rate
/// schedule drives it through [`set_learning_rate`](Optimizer::set_learning_rate);
/// the hypergradient optimisers change their own learning rate inside `step`,
/// and [`learning_rate`](Optimizer::learning_rate) always reports the rate the
/// next step starts from, for logging.
pub struct Optimizer {
    config: OptimizerConfig,
    inner: Inner,
    steps: usize,
}

impl std::fmt::Debug for Optimizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Optimizer")
            .field("name", &self.config.name())
            .field("learning_rate", &self.learning_rate())
            .field("steps", &self.steps)
            .finish_non_exhaustive()
    }
}

impl Optimizer {
    pub(crate) fn new(config: OptimizerConfig, inner: Inner) -> Self {
        Self { config, inner, steps: 0 }
    }

    /// The config this optimiser was built from.
    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    /// The learning rate the next step uses (for the hypergradient optimisers,
    /// the rate before that step's own adaptation).
    pub fn learning_rate(&self) -> f64 {
        match &self.inner {
            Inner::Module { learning_rate, .. } => *learning_rate,
            Inner::Hypergradient(hd) => hd.learning_rate(),
        }
    }

    /// Sets the learning rate of the next steps: what a [`Scheduler`](crate::Scheduler)
    /// drives. For the hypergradient optimisers it replaces the adapted rate,
    /// which then goes on adapting from the new value.
    pub fn set_learning_rate(&mut self, learning_rate: f64) {
        match &mut self.inner {
            Inner::Module { learning_rate: lr, .. } => *lr = learning_rate,
            Inner::Hypergradient(hd) => hd.set_learning_rate(learning_rate),
        }
    }

    /// How many updates [`step`](Optimizer::step) has applied.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Applies one update to `module` from `grads`, advancing the optimiser state.
    ///
    /// Parameters without a gradient in `grads` are left as they are. Clip or
    /// accumulate the gradients before this call ([`GradientClipping`](crate::GradientClipping),
    /// [`Accumulator`](crate::Accumulator)).
    ///
    /// # Panics
    /// The hypergradient optimisers read one scalar back from the device per
    /// step and panic, as burn does, if the device fails that read.
    pub fn step<M: Module>(&mut self, module: M, grads: GradientsParams) -> M {
        self.steps += 1;
        match &mut self.inner {
            Inner::Module { inner, learning_rate } => inner.step(*learning_rate, module, grads),
            Inner::Hypergradient(hd) => hd.step(module, grads),
        }
    }
}

impl Optimizer {
    /// One update from gradients split into parameter groups, each `(factor,
    /// gradients)` stepped at the learning rate times its factor; counts as one
    /// update. Per-parameter state (moments, step counts) is keyed by parameter,
    /// so groups do not disturb each other. The hypergradient optimisers learn one
    /// rate for the whole model: they step every group at it.
    pub fn step_groups<M: Module>(&mut self, mut module: M, groups: Vec<(f64, GradientsParams)>) -> M {
        self.steps += 1;
        for (factor, grads) in groups {
            module = match &mut self.inner {
                Inner::Module { inner, learning_rate } => inner.step(*learning_rate * factor, module, grads),
                Inner::Hypergradient(hd) => hd.step(module, grads),
            };
        }
        module
    }
}

/// Files of a saved optimiser state, inside the folder given to [`Optimizer::save_state`].
const HEADER: &str = "optimizer.json";
const MODULE_STATE: &str = "optimizer.bpk";

/// What `optimizer.json` holds: the scalars, exactly (`f64` as bits), and the
/// hypergradient optimisers' per-parameter state.
#[derive(Serialize, Deserialize)]
struct SavedState {
    name: String,
    learning_rate_bits: u64,
    steps: usize,
    hypergradient: Option<HypergradientState>,
}

impl Optimizer {
    /// Writes the optimiser's whole state into the folder `dir` (created if
    /// needed): per-parameter moments and step counts (burn-optim's burnpack
    /// record, keyed by parameter id), the current learning rate and the update
    /// count. With [`load_state`](Optimizer::load_state) into an optimiser built
    /// from the same config, and a model whose parameters kept their ids
    /// (burnpack files keep them), training continues bit for bit.
    pub fn save_state(&self, dir: &Path) -> Result<(), OptimError> {
        let fail = |e: &dyn std::fmt::Display| OptimError::State { path: dir.to_path_buf(), message: e.to_string() };
        std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
        let hypergradient = match &self.inner {
            Inner::Module { inner, .. } => {
                inner.save(dir.join(MODULE_STATE)).map_err(|e| fail(&e))?;
                None
            }
            Inner::Hypergradient(hd) => Some(hd.state().map_err(|e| fail(&e))?),
        };
        let saved = SavedState {
            name: self.config.name().to_string(),
            learning_rate_bits: self.learning_rate().to_bits(),
            steps: self.steps,
            hypergradient,
        };
        let json = serde_json::to_string(&saved).map_err(|e| fail(&e))?;
        std::fs::write(dir.join(HEADER), json).map_err(|e| fail(&e))
    }

    /// Restores a state written by [`save_state`](Optimizer::save_state);
    /// tensors of the hypergradient optimisers are put on `device` (burn-optim's
    /// state moves to each parameter's device on the next step).
    ///
    /// Fails if the folder holds no state or the state of another optimiser.
    pub fn load_state(&mut self, dir: &Path, device: &Device) -> Result<(), OptimError> {
        let fail = |e: &dyn std::fmt::Display| OptimError::State { path: dir.to_path_buf(), message: e.to_string() };
        let text = std::fs::read_to_string(dir.join(HEADER)).map_err(|e| fail(&e))?;
        let saved: SavedState = serde_json::from_str(&text).map_err(|e| fail(&e))?;
        if saved.name != self.config.name() {
            return Err(fail(&format!("the state is of `{}`, not `{}`", saved.name, self.config.name())));
        }
        match (&mut self.inner, saved.hypergradient) {
            (Inner::Module { inner, .. }, None) => {
                *inner = inner.clone().load(dir.join(MODULE_STATE)).map_err(|e| fail(&e))?;
            }
            (Inner::Hypergradient(hd), Some(state)) => hd.restore(state, device),
            _ => return Err(fail(&"the state does not match the optimizer kind")),
        }
        self.set_learning_rate(f64::from_bits(saved.learning_rate_bits));
        self.steps = saved.steps;
        Ok(())
    }
}
