//! Hypergradient descent (Baydin et al. 2018): SGD-HD and Adam-HD, whose
//! learning rate is itself learnt by gradient descent during training.
//!
//! The learning rate α enters the loss only through the last update
//! `θₜ₋₁ = θₜ₋₂ − α·uₜ₋₂`, so `∂f(θₜ₋₁)/∂α = −∇f(θₜ₋₁)·uₜ₋₂`. One gradient
//! step on α per step of θ gives, with `gₜ = ∇f(θₜ₋₁)` and `u` the update
//! direction (`u = g` for SGD, `u = m̂/(√v̂ + ε)` for Adam):
//!
//! ```text
//! hₜ = −gₜ · uₜ₋₁            (u₀ = 0, so the first step keeps α₀)
//! αₜ = αₜ₋₁ − β·hₜ
//! θₜ = θₜ₋₁ − αₜ·uₜ
//! ```
//!
//! That is the additive rule ([`HypergradientRule::Additive`], the paper's
//! algorithms). The paper also gives a multiplicative rule, with the
//! hypergradient normalised by the norms of the two vectors
//! ([`HypergradientRule::Multiplicative`]):
//!
//! ```text
//! αₜ = αₜ₋₁·(1 − β·hₜ / (‖gₜ‖·‖uₜ₋₁‖)) = αₜ₋₁·(1 + β·cos(gₜ, uₜ₋₁))
//! ```
//!
//! Its β is a fraction per step: `|ln αₜ − ln αₜ₋₁| ≤ −ln(1 − β)` whatever the
//! scale of the gradient or the number of parameters, and α stays positive for
//! β < 1.
//!
//! Either rule can be limited to a factor `f > 1` per step (`max_lr_factor`):
//! `αₜ₋₁/f ≤ αₜ ≤ f·αₜ₋₁`. Near equilibrium, where `|β·hₜ| < (f − 1)·α`, the
//! limit does nothing; in a transient, where the additive rule would jump by
//! orders of magnitude or through zero, α halves or doubles (for f = 2) per
//! step until the hypergradient changes sign.
//!
//! The dot product runs over every parameter of the model at once, so the
//! update cannot be written as burn's per-tensor `SimpleOptimizer`: this module
//! walks the module twice, once to sum `gₜ·uₜ₋₁` and once to update.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::grads::ParamContext;

/// How the hypergradient `hₜ = −gₜ·uₜ₋₁` moves the learning rate α (the
/// `rule` key of `sgd_hd` and `adam_hd`).
///
/// ```
/// use anneal_optim::{HypergradientRule, OptimizerConfig};
///
/// let config: OptimizerConfig = toml::from_str(r#"
///     name = "adam_hd"
///     learning_rate = 0.1
///     rule = "multiplicative"
///     hypergradient_lr = 0.02
/// "#)?;
/// assert!(matches!(config, OptimizerConfig::AdamHd { rule: HypergradientRule::Multiplicative, .. }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HypergradientRule {
    /// `αₜ = αₜ₋₁ − β·hₜ`: the paper's Algorithms (SGD-HD, SGDN-HD, Adam-HD)
    /// and its reference implementation. β carries the units of α divided by
    /// those of `g·u`, so a good β depends on the model's size and gradient
    /// scale, and too large a β can drive α negative. The default, so that
    /// existing configs keep their meaning.
    #[default]
    Additive,
    /// `αₜ = αₜ₋₁·(1 + β·cos(gₜ, uₜ₋₁))`, β in `[0, 1)`: each step changes α
    /// by at most the fraction β, whatever the gradient's scale, so one β
    /// suits starts orders of magnitude apart and α never changes sign.
    Multiplicative,
}

/// The update direction `u` of the underlying optimiser.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Direction {
    /// `u = g`.
    Sgd,
    /// `u = m̂ / (√v̂ + ε)`, Adam's bias-corrected direction.
    Adam { beta1: f64, beta2: f64, epsilon: f64 },
}

/// Per-parameter state, flattened to one dimension so that parameters of every
/// rank share one map.
struct ParamState {
    /// The last update direction `uₜ₋₁`.
    direction: Tensor<1>,
    /// Adam's first and second moments and its step count.
    moments: Option<(Tensor<1>, Tensor<1>, i32)>,
}

/// The per-parameter state of a [`Hypergradient`] on the host, exactly (`f32` as bits).
#[derive(Serialize, Deserialize)]
pub(crate) struct HypergradientState {
    params: Vec<SavedParam>,
}

#[derive(Serialize, Deserialize)]
struct SavedParam {
    id: u64,
    direction: Vec<u32>,
    moments: Option<(Vec<u32>, Vec<u32>, i32)>,
}

fn to_bits(t: &Tensor<1>) -> Result<Vec<u32>, String> {
    let values = t.clone().into_data().convert::<f32>().try_to_vec::<f32>();
    let values = values.map_err(|e| format!("reading the state back from the device failed: {e:?}"))?;
    Ok(values.into_iter().map(f32::to_bits).collect())
}

fn from_bits(bits: &[u32], device: &Device) -> Tensor<1> {
    let values: Vec<f32> = bits.iter().map(|&b| f32::from_bits(b)).collect();
    Tensor::from_data(TensorData::new(values, [bits.len()]), device)
}

/// SGD-HD / Adam-HD.
pub(crate) struct Hypergradient {
    direction: Direction,
    rule: HypergradientRule,
    max_lr_factor: Option<f64>,
    learning_rate: f64,
    hypergradient_lr: f64,
    states: HashMap<ParamId, ParamState>,
}

impl Hypergradient {
    pub(crate) fn new(
        direction: Direction,
        rule: HypergradientRule,
        max_lr_factor: Option<f64>,
        learning_rate: f64,
        hypergradient_lr: f64,
    ) -> Self {
        Self { direction, rule, max_lr_factor, learning_rate, hypergradient_lr, states: HashMap::new() }
    }

    pub(crate) fn learning_rate(&self) -> f64 {
        self.learning_rate
    }

    pub(crate) fn set_learning_rate(&mut self, learning_rate: f64) {
        self.learning_rate = learning_rate;
    }

    /// The per-parameter state, read back to the host.
    pub(crate) fn state(&self) -> Result<HypergradientState, String> {
        let mut params = Vec::with_capacity(self.states.len());
        for (id, s) in &self.states {
            let moments = match &s.moments {
                Some((m, v, t)) => Some((to_bits(m)?, to_bits(v)?, *t)),
                None => None,
            };
            params.push(SavedParam { id: id.val(), direction: to_bits(&s.direction)?, moments });
        }
        params.sort_by_key(|p| p.id);
        Ok(HypergradientState { params })
    }

    /// Replaces the per-parameter state with `state`, on `device`.
    pub(crate) fn restore(&mut self, state: HypergradientState, device: &Device) {
        self.states = state
            .params
            .into_iter()
            .map(|p| {
                let moments = p.moments.map(|(m, v, t)| (from_bits(&m, device), from_bits(&v, device), t));
                (ParamId::from(p.id), ParamState { direction: from_bits(&p.direction, device), moments })
            })
            .collect();
    }

    pub(crate) fn step<M: Module>(&mut self, module: M, mut grads: GradientsParams) -> M {
        let norms = self.rule == HypergradientRule::Multiplicative;
        let mut dot = DotWithLastDirection { grads: &grads, states: &self.states, norms, sums: None };
        module.visit(&mut dot);
        if let Some(sums) = dot.sums {
            // One read back: [g·u] or [g·u, ‖g‖², ‖u‖²].
            let sums: Vec<f64> = sums.into_data().iter::<f64>().collect();
            let adapted = match self.rule {
                // h = −g·u, α ← α − β·h.
                HypergradientRule::Additive => self.learning_rate + self.hypergradient_lr * sums[0],
                // α ← α·(1 − β·h/(‖g‖‖u‖)); an all-zero g or u leaves α alone.
                HypergradientRule::Multiplicative => {
                    let norm = (sums[1] * sums[2]).sqrt();
                    if norm > 0.0 && norm.is_finite() {
                        self.learning_rate * (1.0 + self.hypergradient_lr * sums[0] / norm)
                    } else {
                        self.learning_rate
                    }
                }
            };
            // αₜ₋₁/f ≤ αₜ ≤ f·αₜ₋₁, which also keeps an additive step from
            // crossing zero. min/max rather than clamp: no panic on a NaN rate.
            self.learning_rate = match self.max_lr_factor {
                Some(f) => {
                    let (a, b) = (self.learning_rate / f, self.learning_rate * f);
                    adapted.max(a.min(b)).min(a.max(b))
                }
                None => adapted,
            };
        }
        let mut update = Update {
            grads: &mut grads,
            states: &mut self.states,
            direction: self.direction,
            learning_rate: self.learning_rate,
        };
        module.map(&mut update)
    }
}

/// Sums `gₜ · uₜ₋₁` (and with `norms`, `‖gₜ‖²` and `‖uₜ₋₁‖²`) over the
/// parameters that have both, into one tensor of 1 (or 3) values.
struct DotWithLastDirection<'a> {
    grads: &'a GradientsParams,
    states: &'a HashMap<ParamId, ParamState>,
    norms: bool,
    sums: Option<Tensor<1>>,
}

impl ModuleVisitor for DotWithLastDirection<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let (Some(grad), Some(state)) = (self.grads.get::<D>(param.id), self.states.get(&param.id)) else {
            return;
        };
        let n = grad.shape().num_elements();
        let grad = grad.reshape([n]);
        let direction = state.direction.clone();
        let dot = grad.clone().mul(direction.clone()).sum();
        let sums =
            if self.norms { Tensor::cat(vec![dot, grad.square().sum(), direction.square().sum()], 0) } else { dot };
        self.sums = Some(match self.sums.take() {
            Some(total) => {
                let device = total.device();
                total + sums.to_device(&device)
            }
            None => sums,
        });
    }
}

/// Computes `uₜ` and applies `θ ← θ − α·uₜ` to every parameter with a gradient.
struct Update<'a> {
    grads: &'a mut GradientsParams,
    states: &'a mut HashMap<ParamId, ParamState>,
    direction: Direction,
    learning_rate: f64,
}

impl ModuleMapper for Update<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let dims = tensor.dims();
        let n = grad.shape().num_elements();
        let grad = grad.reshape([n]);
        let previous = self.states.remove(&id).map(|s| s.moments).unwrap_or(None);
        let (direction, moments) = match self.direction {
            Direction::Sgd => (grad, None),
            Direction::Adam { beta1, beta2, epsilon } => {
                let (m, v, t) = match previous {
                    Some((m, v, t)) => {
                        let device = grad.device();
                        (m.to_device(&device), v.to_device(&device), t)
                    }
                    None => (grad.zeros_like(), grad.zeros_like(), 0),
                };
                let t = t + 1;
                let m = m.mul_scalar(beta1).add(grad.clone().mul_scalar(1.0 - beta1));
                let v = v.mul_scalar(beta2).add(grad.square().mul_scalar(1.0 - beta2));
                let m_hat = m.clone().div_scalar(1.0 - beta1.powi(t));
                let v_hat = v.clone().div_scalar(1.0 - beta2.powi(t));
                (m_hat.div(v_hat.sqrt().add_scalar(epsilon)), Some((m, v, t)))
            }
        };
        let context = ParamContext::capture(&tensor);
        let device = direction.device();
        let mut inner = tensor.inner();
        if inner.device() != device {
            inner = inner.to_device(&device);
        }
        let updated = context.restore(inner - direction.clone().mul_scalar(self.learning_rate).reshape(dims), id);
        self.states.insert(id, ParamState { direction, moments });
        Param::from_mapped_value(id, updated, mapper)
    }
}
