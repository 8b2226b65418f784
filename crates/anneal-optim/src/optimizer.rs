//! The built optimiser: one object the training loop calls once per update.

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};

use crate::config::OptimizerConfig;
use crate::hypergradient::Hypergradient;

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
