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
//! The dot product runs over every parameter of the model at once, so the
//! update cannot be written as burn's per-tensor `SimpleOptimizer`: this module
//! walks the module twice, once to sum `gₜ·uₜ₋₁` and once to update.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::grads::ParamContext;

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
    learning_rate: f64,
    hypergradient_lr: f64,
    states: HashMap<ParamId, ParamState>,
}

impl Hypergradient {
    pub(crate) fn new(direction: Direction, learning_rate: f64, hypergradient_lr: f64) -> Self {
        Self { direction, learning_rate, hypergradient_lr, states: HashMap::new() }
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
        let mut dot = DotWithLastDirection { grads: &grads, states: &self.states, sum: None };
        module.visit(&mut dot);
        if let Some(sum) = dot.sum {
            // h = −g·u, α ← α − β·h.
            let g_dot_u: f64 = sum.into_scalar();
            self.learning_rate += self.hypergradient_lr * g_dot_u;
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

/// Sums `gₜ · uₜ₋₁` over the parameters that have both.
struct DotWithLastDirection<'a> {
    grads: &'a GradientsParams,
    states: &'a HashMap<ParamId, ParamState>,
    sum: Option<Tensor<1>>,
}

impl ModuleVisitor for DotWithLastDirection<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let (Some(grad), Some(state)) = (self.grads.get::<D>(param.id), self.states.get(&param.id)) else {
            return;
        };
        let n = grad.shape().num_elements();
        let dot = grad.reshape([n]).mul(state.direction.clone()).sum();
        self.sum = Some(match self.sum.take() {
            Some(sum) => {
                let device = sum.device();
                sum + dot.to_device(&device)
            }
            None => dot,
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
