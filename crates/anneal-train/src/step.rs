//! One optimisation step, the only way anything trains: forward → loss →
//! backward → gradients → (accumulate) → penalties → hooks → (norms) → clip →
//! optimiser step → proximal L1.

use anneal_data::{Batch, Target};
use anneal_models::Model;
use anneal_optim::{Accumulator, GradientClipping, Optimizer};
use burn::optim::GradientsParams;
use burn::prelude::*;

use crate::error::TrainError;
use crate::objective::{Objective, total};
use crate::params::{LayerNorms, ParamGroups, ParamLayout, Penalties};
use crate::surgery::{GradientSurgery, SurgeryReport};
use crate::trainer::{StepInfo, TrainHook};

/// What one call of [`Stepper::step`] produced.
#[derive(Debug, Clone)]
pub struct StepOutput {
    /// The batch's mean loss (the sum of the objective's terms), detached, on the
    /// inner (non-autodiff) device.
    pub loss: Tensor<1>,
    /// Each term of the objective by name, detached, when it has more than one.
    pub terms: Vec<(String, Tensor<1>)>,
    /// Correctly classified targets of the batch (when the stepper tracks
    /// accuracy and the targets are classes).
    pub correct: Option<Tensor<1, Int>>,
    /// How many class targets `correct` counted among (a batch's rows, or its
    /// masked tokens in masked-token pretraining).
    pub counted: usize,
    /// Whether the optimiser updated the weights (false while gradients accumulate).
    pub updated: bool,
    /// What gradient surgery measured on this batch (when the stepper does it
    /// and the objective has more than one term).
    pub surgery: Option<SurgeryReport>,
}

/// Everything besides the optimiser that shapes an update: gradient
/// accumulation, L1/L2 penalties, clipping and per-layer gradient norms. The
/// training loop builds one from its config; [`Stepper::plain`] has none of them
/// (what [`train_step`] uses).
///
/// The order inside a step: gradients of the batch → accumulated (an update
/// happens on every `k`-th micro-batch; frozen parameters have none) → penalty gradients added →
/// [`TrainHook::after_backward`] → per-layer norms recorded → clipped →
/// [`Optimizer::step`] → proximal L1 step. Hooks therefore see the gradients the
/// optimiser will use, before clipping (as an all-reduce must).
pub struct Stepper<M> {
    accumulator: Option<Accumulator<M>>,
    penalties: Option<Penalties>,
    clipping: Option<GradientClipping>,
    norms: Option<LayerNorms>,
    groups: Option<ParamGroups>,
    surgery: Option<(GradientSurgery, ParamLayout)>,
    track_accuracy: bool,
}

impl<M> std::fmt::Debug for Stepper<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stepper")
            .field("accumulator", &self.accumulator)
            .field("penalties", &self.penalties.is_some())
            .field("clipping", &self.clipping)
            .field("norms", &self.norms.is_some())
            .field("groups", &self.groups.is_some())
            .field("surgery", &self.surgery.as_ref().map(|s| &s.0))
            .field("track_accuracy", &self.track_accuracy)
            .finish()
    }
}

impl<M: Model> Stepper<M> {
    /// Forward, backward and optimiser step, nothing else.
    pub fn plain() -> Self {
        Self {
            accumulator: None,
            penalties: None,
            clipping: None,
            norms: None,
            groups: None,
            surgery: None,
            track_accuracy: false,
        }
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

    /// Optimiser parameter groups: frozen parameters get no update, scaled ones
    /// their own learning rate.
    pub fn with_groups(mut self, groups: Option<ParamGroups>) -> Self {
        self.groups = groups;
        self
    }

    /// Back-propagates each term of the objective on its own and combines the
    /// gradients by `surgery` (over `layout`, the model's): PCGrad, or their
    /// sum with the cosines between them measured ([`StepOutput::surgery`]).
    pub fn with_surgery(mut self, surgery: Option<GradientSurgery>, layout: &ParamLayout) -> Self {
        self.surgery = surgery.map(|s| (s, layout.clone()));
        self
    }

    /// Enters epoch `epoch` (1-based): the parameter groups freeze and thaw what
    /// they freeze in it ([`ParamGroups::enter_epoch`]).
    pub fn enter_epoch(&mut self, epoch: usize, model: M) -> Result<M, TrainError> {
        match &mut self.groups {
            Some(g) => g.enter_epoch(epoch, model),
            None => Ok(model),
        }
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

    /// One step on `batch` (on the model's autodiff device) towards `objective`.
    ///
    /// Errors when the objective does not fit the batch's targets (a regression
    /// loss on classes).
    pub fn step(
        &mut self,
        model: M,
        optimizer: &mut Optimizer,
        batch: Batch<M::Input>,
        objective: &dyn Objective,
        info: &StepInfo,
        hooks: &mut [Box<dyn TrainHook + '_>],
    ) -> Result<(M, StepOutput), TrainError> {
        let Batch { input, target } = batch;
        // With surgery each term gets a forward pass of its own (burn keeps no
        // graph after a backward pass), all with the same dropout masks.
        let rng = self.surgery.as_ref().map(|_| model.rng_state());
        let output = model.forward(input.clone());
        let counted = output.dims()[0];
        let correct = match (&target, self.track_accuracy) {
            (Target::Classes(y) | Target::Taught { classes: y, .. }, true) => {
                let predicted = output.clone().inner().argmax(1).flatten::<1>(0, 1);
                Some(predicted.equal(y.clone().inner()).int().sum())
            }
            // Mixed images count as right when the prediction is the larger share's class.
            (Target::Mixed { first, second, weight }, true) => {
                let predicted = output.clone().inner().argmax(1).flatten::<1>(0, 1);
                let dominant =
                    first.clone().inner().mask_where(weight.clone().inner().lower_elem(0.5), second.clone().inner());
                Some(predicted.equal(dominant).int().sum())
            }
            _ => None,
        };
        let terms = objective.terms(output, &target)?;
        let loss = total(&terms)?;
        let value = loss.clone().detach().inner();
        let named: Vec<(String, Tensor<1>)> = if terms.len() > 1 {
            terms.iter().map(|t| (t.name.clone(), t.value.clone().detach().inner())).collect()
        } else {
            Vec::new()
        };
        let (grads, surgery) = match (&self.surgery, rng) {
            (Some((surgery, layout)), Some(rng)) if terms.len() > 1 => {
                let n = terms.len();
                let mut per_term = Vec::with_capacity(n);
                per_term.push(GradientsParams::from_grads(terms[0].value.backward(), &model));
                drop((loss, terms));
                for k in 1..n {
                    model.set_rng_state(&rng);
                    let terms = objective.terms(model.forward(input.clone()), &target)?;
                    let term = terms.get(k).ok_or_else(|| {
                        TrainError::InvalidSetting(format!(
                            "the objective returned {} terms for a batch, then {} for the same batch",
                            n,
                            terms.len()
                        ))
                    })?;
                    per_term.push(GradientsParams::from_grads(term.value.backward(), &model));
                }
                let (grads, report) = surgery.combine(layout, per_term, info.iteration)?;
                (grads, Some(report))
            }
            _ => (GradientsParams::from_grads(loss.backward(), &model), None),
        };
        let grads = match &mut self.accumulator {
            Some(acc) => acc.push(&model, grads),
            None => Some(grads),
        };
        let updated = grads.is_some();
        let model = match grads {
            Some(grads) => self.update(model, optimizer, grads, info, hooks),
            None => model,
        };
        Ok((model, StepOutput { loss: value, terms: named, correct, counted, updated, surgery }))
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
        let model = match &self.groups {
            Some(g) => optimizer.step_groups(model, g.split(grads)),
            None => optimizer.step(model, grads),
        };
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
/// `batch` must be on the model's autodiff device.
pub fn train_step<M: Model>(
    model: M,
    optimizer: &mut Optimizer,
    batch: Batch<M::Input>,
    objective: &dyn Objective,
    step: &StepInfo,
    hooks: &mut [Box<dyn TrainHook + '_>],
) -> Result<(M, Tensor<1>), TrainError> {
    let (model, out) = Stepper::plain().step(model, optimizer, batch, objective, step, hooks)?;
    Ok((model, out.loss))
}
