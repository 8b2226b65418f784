//! One optimisation step, the only way anything trains: forward → loss →
//! backward → gradients → (accumulate) → penalties → hooks → (norms) → clip →
//! optimiser step → proximal L1.

use anneal_optim::{Accumulator, GradientClipping, Optimizer};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::prelude::*;

use crate::params::{LayerNorms, Penalties};
use crate::trainer::{Classifier, StepInfo, TrainHook};

/// What one call of [`Stepper::step`] produced.
#[derive(Debug, Clone)]
pub struct StepOutput {
    /// The batch's mean loss, detached, on the inner (non-autodiff) device.
    pub loss: Tensor<1>,
    /// Correctly classified rows of the batch (when the stepper tracks accuracy).
    pub correct: Option<Tensor<1, Int>>,
    /// Whether the optimiser updated the weights (false while gradients accumulate).
    pub updated: bool,
}

/// Everything besides the optimiser that shapes an update: gradient
/// accumulation, L1/L2 penalties, clipping and per-layer gradient norms. The
/// training loop builds one from its config; [`Stepper::plain`] has none of them
/// (what [`train_step`] uses).
///
/// The order inside a step: gradients of the batch → accumulated (an update
/// happens on every `k`-th micro-batch) → penalty gradients added →
/// [`TrainHook::after_backward`] → per-layer norms recorded → clipped →
/// [`Optimizer::step`] → proximal L1 step. Hooks therefore see the gradients the
/// optimiser will use, before clipping (as an all-reduce must).
pub struct Stepper<M> {
    accumulator: Option<Accumulator<M>>,
    penalties: Option<Penalties>,
    clipping: Option<GradientClipping>,
    norms: Option<LayerNorms>,
    track_accuracy: bool,
}

impl<M> std::fmt::Debug for Stepper<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stepper")
            .field("accumulator", &self.accumulator)
            .field("penalties", &self.penalties.is_some())
            .field("clipping", &self.clipping)
            .field("norms", &self.norms.is_some())
            .field("track_accuracy", &self.track_accuracy)
            .finish()
    }
}

impl<M: Classifier> Stepper<M> {
    /// Forward, backward and optimiser step, nothing else.
    pub fn plain() -> Self {
        Self { accumulator: None, penalties: None, clipping: None, norms: None, track_accuracy: false }
    }

    /// Accumulates the gradients of `micro_batches` batches per update (1: none).
    pub fn with_accumulation(mut self, micro_batches: usize) -> Result<Self, anneal_optim::OptimError> {
        self.accumulator = if micro_batches > 1 { Some(Accumulator::new(micro_batches)?) } else { None };
        Ok(self)
    }

    /// Applies L1/L2 penalties.
    pub fn with_penalties(mut self, penalties: Option<Penalties>) -> Self {
        self.penalties = penalties;
        self
    }

    /// Clips the gradients before each update.
    pub fn with_clipping(mut self, clipping: Option<GradientClipping>) -> Self {
        self.clipping = clipping;
        self
    }

    /// Records per-layer gradient norms of each update.
    pub fn with_norms(mut self, norms: Option<LayerNorms>) -> Self {
        self.norms = norms;
        self
    }

    /// Counts correctly classified rows per batch ([`StepOutput::correct`]).
    pub fn with_accuracy(mut self, track: bool) -> Self {
        self.track_accuracy = track;
        self
    }

    /// Mean per-layer gradient norms since the last call (when recorded).
    pub fn take_gradient_norms(&mut self) -> Option<Vec<f64>> {
        self.norms.as_mut().and_then(LayerNorms::take_means)
    }

    /// One step on the batch `x`, `y` (on the model's autodiff device).
    pub fn step(
        &mut self,
        model: M,
        optimizer: &mut Optimizer,
        x: Tensor<2>,
        y: Tensor<1, Int>,
        info: &StepInfo,
        hooks: &mut [Box<dyn TrainHook + '_>],
    ) -> (M, StepOutput) {
        let logits = model.logits(x);
        let correct = self.track_accuracy.then(|| {
            let predicted = logits.clone().inner().argmax(1).flatten::<1>(0, 1);
            predicted.equal(y.clone().inner()).int().sum()
        });
        let loss = CrossEntropyLossConfig::new().init(&logits.device()).forward(logits, y);
        let value = loss.clone().detach().inner();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let grads = match &mut self.accumulator {
            Some(acc) => acc.push(&model, grads),
            None => Some(grads),
        };
        let updated = grads.is_some();
        let model = match grads {
            Some(grads) => self.update(model, optimizer, grads, info, hooks),
            None => model,
        };
        (model, StepOutput { loss: value, correct, updated })
    }

    /// Applies an update from the gradients still accumulated (the last,
    /// incomplete group of an epoch); returns whether there was one.
    pub fn flush(
        &mut self,
        model: M,
        optimizer: &mut Optimizer,
        info: &StepInfo,
        hooks: &mut [Box<dyn TrainHook + '_>],
    ) -> (M, bool) {
        match self.accumulator.as_mut().and_then(|acc| acc.flush(&model)) {
            Some(grads) => (self.update(model, optimizer, grads, info, hooks), true),
            None => (model, false),
        }
    }

    fn update(
        &mut self,
        model: M,
        optimizer: &mut Optimizer,
        mut grads: GradientsParams,
        info: &StepInfo,
        hooks: &mut [Box<dyn TrainHook + '_>],
    ) -> M {
        if let Some(p) = &self.penalties {
            p.add_gradients(&model, &mut grads);
        }
        for hook in hooks.iter_mut() {
            hook.after_backward(info, &mut grads);
        }
        if let Some(norms) = &mut self.norms {
            norms.record(&model, &grads);
        }
        if let Some(clip) = &self.clipping {
            clip.clip(&model, &mut grads);
        }
        let model = optimizer.step(model, grads);
        match &self.penalties {
            Some(p) => p.proximal_step(model, optimizer.learning_rate()),
            None => model,
        }
    }
}

/// One plain optimisation step: forward → loss → backward → gradients → hooks →
/// optimiser step. Returns the updated model and the batch's mean loss (detached,
/// on the inner device). The full loop adds accumulation, penalties and clipping
/// through a configured [`Stepper`]; this is [`Stepper::plain`].
///
/// `x` and `y` must be on the model's autodiff device.
pub fn train_step<M: Classifier>(
    model: M,
    optimizer: &mut Optimizer,
    x: Tensor<2>,
    y: Tensor<1, Int>,
    step: &StepInfo,
    hooks: &mut [Box<dyn TrainHook + '_>],
) -> (M, Tensor<1>) {
    let (model, out) = Stepper::plain().step(model, optimizer, x, y, step, hooks);
    (model, out.loss)
}
