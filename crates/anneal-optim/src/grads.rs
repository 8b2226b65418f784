//! Work on a model's gradients between backward and the optimiser step:
//! clipping by global norm or by value, and accumulation over micro-batches.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::{GradientCheckpointingStrategy, Tensor};
use serde::{Deserialize, Serialize};

use crate::config::positive;
use crate::error::OptimError;

/// How to clip gradients before the optimiser step; validated into a
/// [`GradientClipping`] by [`init`](GradientClippingConfig::init).
///
/// Deserialises from a table whose `by` picks the kind:
/// `{ by = "norm", max_norm = 1.0 }` or `{ by = "value", clip_value = 0.5 }`.
///
/// ```
/// use anneal_optim::GradientClippingConfig;
///
/// let config: GradientClippingConfig = toml::from_str("by = \"norm\"\nmax_norm = 1.0")?;
/// assert_eq!(config, GradientClippingConfig::Norm { max_norm: 1.0 });
/// assert!(GradientClippingConfig::Value { clip_value: 0.0 }.init().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case", deny_unknown_fields)]
pub enum GradientClippingConfig {
    /// Rescale all gradients together so that their global L2 norm (over every
    /// parameter of the model) is at most `max_norm`: PyTorch's
    /// `torch.nn.utils.clip_grad_norm_(params, max_norm)`.
    Norm {
        /// The largest global norm let through, positive.
        max_norm: f64,
    },
    /// Clamp every gradient component to `[-clip_value, clip_value]`:
    /// PyTorch's `torch.nn.utils.clip_grad_value_(params, clip_value)`.
    Value {
        /// The largest absolute component let through, positive.
        clip_value: f64,
    },
}

impl GradientClippingConfig {
    /// Checks the threshold (it must be positive and finite).
    pub fn validate(&self) -> Result<(), OptimError> {
        match *self {
            Self::Norm { max_norm } => positive("max_norm", max_norm),
            Self::Value { clip_value } => positive("clip_value", clip_value),
        }
    }

    /// Validates the config and builds the clipper.
    pub fn init(&self) -> Result<GradientClipping, OptimError> {
        self.validate()?;
        Ok(GradientClipping { config: *self })
    }
}

/// A validated gradient clipper; call [`clip`](GradientClipping::clip)
/// between backward and the optimiser step.
///
/// burn-optim's own `GradientClipping::Norm` clips each parameter tensor by
/// its *own* norm; PyTorch's `clip_grad_norm_`, and this type, clip by the
/// norm of all gradients together, which keeps the update's direction. Clipping
/// by value is burn's per-tensor clamp, which is already what PyTorch does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradientClipping {
    config: GradientClippingConfig,
}

impl GradientClipping {
    /// The validated config.
    pub fn config(&self) -> GradientClippingConfig {
        self.config
    }

    /// Clips the gradients of `module`'s parameters in `grads`, in place.
    ///
    /// For clipping by norm it returns the global L2 norm *before* clipping, as
    /// PyTorch's `clip_grad_norm_` does: a one-element tensor on the gradients'
    /// device, so logging it costs a device read only when you read it. `None`
    /// when clipping by value or when there are no gradients.
    ///
    /// As in PyTorch, the gradients are multiplied by
    /// `min(1, max_norm / (norm + 1e-6))`.
    pub fn clip<M: Module>(&self, module: &M, grads: &mut GradientsParams) -> Option<Tensor<1>> {
        match self.config {
            GradientClippingConfig::Norm { max_norm } => {
                let norm = global_norm(module, grads)?;
                let coef = norm.clone().add_scalar(1e-6).recip().mul_scalar(max_norm).clamp_max(1.0);
                module.visit(&mut ScaleGrads { grads, factor: Factor::Tensor(Box::new(coef)) });
                Some(norm)
            }
            GradientClippingConfig::Value { clip_value } => {
                let clip = burn::grad_clipping::GradientClipping::Value(clip_value as f32);
                module.visit(&mut ClampGrads { grads, clip });
                None
            }
        }
    }
}

/// The global L2 norm of `module`'s gradients in `grads`, `sqrt(Σ‖g‖²)` over
/// every parameter: what PyTorch's `clip_grad_norm_` returns. `None` when no
/// parameter has a gradient.
pub fn global_norm<M: Module>(module: &M, grads: &GradientsParams) -> Option<Tensor<1>> {
    let mut sum = SumOfSquares { grads, sum: None };
    module.visit(&mut sum);
    sum.sum.map(Tensor::sqrt)
}

/// Gradient accumulation: sums the gradients of `k` micro-batches and hands
/// back their mean once every `k` pushes, so one optimiser step sees the
/// gradient of a batch `k` times larger than fits at once.
///
/// The mean over micro-batches equals the big batch's gradient when the loss
/// is a mean and the micro-batches have equal sizes (weight the losses
/// yourself otherwise). Built on burn-optim's `GradientsAccumulator`.
///
/// ```
/// use anneal_optim::Accumulator;
/// # #[derive(burn::module::Module, Debug)] struct Model { w: burn::module::Param<burn::tensor::Tensor<1>> }
///
/// let accumulator = Accumulator::<Model>::new(4)?;
/// assert_eq!(accumulator.micro_batches(), 4);
/// assert!(Accumulator::<Model>::new(0).is_err());
/// # Ok::<(), anneal_optim::OptimError>(())
/// ```
pub struct Accumulator<M> {
    inner: GradientsAccumulator<M>,
    micro_batches: usize,
    pending: usize,
}

impl<M> std::fmt::Debug for Accumulator<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accumulator")
            .field("micro_batches", &self.micro_batches)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

impl<M: Module> Accumulator<M> {
    /// An accumulator that releases the mean gradient every `micro_batches`
    /// pushes (1 passes every gradient straight through).
    pub fn new(micro_batches: usize) -> Result<Self, OptimError> {
        if micro_batches == 0 {
            return Err(OptimError::TooFew { name: "micro_batches", value: 0, min: 1 });
        }
        Ok(Self { inner: GradientsAccumulator::new(), micro_batches, pending: 0 })
    }

    /// Micro-batches per optimiser step.
    pub fn micro_batches(&self) -> usize {
        self.micro_batches
    }

    /// Micro-batches pushed since the last release.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Adds one micro-batch's gradients; on every `micro_batches`-th push
    /// returns the mean of the accumulated gradients, which the caller then
    /// clips and passes to the optimiser.
    pub fn push(&mut self, module: &M, grads: GradientsParams) -> Option<GradientsParams> {
        if self.micro_batches == 1 {
            return Some(grads);
        }
        self.inner.accumulate(module, grads);
        self.pending += 1;
        (self.pending == self.micro_batches).then(|| self.flush(module)).flatten()
    }

    /// The mean of the gradients pushed since the last release, if any: for
    /// the last, incomplete group of an epoch.
    pub fn flush(&mut self, module: &M) -> Option<GradientsParams> {
        if self.pending == 0 {
            return None;
        }
        let mut grads = self.inner.grads();
        let factor = 1.0 / self.pending as f64;
        self.pending = 0;
        module.visit(&mut ScaleGrads { grads: &mut grads, factor: Factor::Scalar(factor) });
        Some(grads)
    }
}

/// The autodiff settings a parameter carries, taken before an update on the
/// inner backend and put back afterwards (burn-optim does the same, privately).
pub(crate) struct ParamContext {
    require_grad: bool,
    distributed: bool,
    checkpointing: Option<GradientCheckpointingStrategy>,
}

impl ParamContext {
    pub(crate) fn capture<const D: usize>(parameter: &Tensor<D>) -> Self {
        Self {
            require_grad: parameter.is_require_grad(),
            distributed: parameter.is_distributed(),
            checkpointing: parameter.gradient_checkpointing_strategy(),
        }
    }

    pub(crate) fn restore<const D: usize>(self, updated: Tensor<D>, id: ParamId) -> Tensor<D> {
        let mut parameter = Tensor::from_inner(updated);
        if let Some(strategy) = self.checkpointing {
            parameter = parameter.with_gradient_checkpointing_strategy(strategy);
        }
        if self.require_grad {
            parameter = parameter.require_grad();
        }
        if self.distributed {
            parameter = parameter.set_distributed(id);
        }
        parameter
    }
}

struct SumOfSquares<'a> {
    grads: &'a GradientsParams,
    sum: Option<Tensor<1>>,
}

impl ModuleVisitor for SumOfSquares<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some(grad) = self.grads.get::<D>(param.id) else { return };
        let squares = grad.square().sum();
        self.sum = Some(match self.sum.take() {
            Some(sum) => {
                let device = sum.device();
                sum + squares.to_device(&device)
            }
            None => squares,
        });
    }
}

enum Factor {
    Scalar(f64),
    Tensor(Box<Tensor<1>>),
}

struct ScaleGrads<'a> {
    grads: &'a mut GradientsParams,
    factor: Factor,
}

impl ModuleVisitor for ScaleGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some(grad) = self.grads.remove::<D>(param.id) else { return };
        let scaled = match &self.factor {
            Factor::Scalar(f) => grad.mul_scalar(*f),
            Factor::Tensor(f) => {
                let f = f.as_ref().clone().to_device(&grad.device());
                grad.mul(f.unsqueeze())
            }
        };
        self.grads.register::<D>(param.id, scaled);
    }
}

struct ClampGrads<'a> {
    grads: &'a mut GradientsParams,
    clip: burn::grad_clipping::GradientClipping,
}

impl ModuleVisitor for ClampGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some(grad) = self.grads.remove::<D>(param.id) else { return };
        self.grads.register::<D>(param.id, self.clip.clip_gradient(grad));
    }
}
