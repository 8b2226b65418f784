//! Optimisers for Anneal, as validated configs over burn-optim.
//!
//! An [`OptimizerConfig`] is data (it deserialises from a run's TOML) and checks
//! itself before it builds anything; [`Optimizer`] wraps burn's module optimiser
//! with its learning rate, so the training loop makes one call per step.
//!
//! - SGD with momentum: Sutskever et al., *On the importance of initialization and
//!   momentum in deep learning* (2013), with PyTorch's convention (no dampening).
//! - Adam: Kingma & Ba, *Adam: A Method for Stochastic Optimization* (2014),
//!   <https://arxiv.org/abs/1412.6980>.
//!
//! ```
//! use anneal_optim::OptimizerConfig;
//!
//! let config: OptimizerConfig = toml::from_str("name = \"adam\"\nlearning_rate = 0.001")?;
//! let optimizer = config.init()?;
//! assert_eq!(optimizer.learning_rate(), 0.001);
//!
//! let bad = OptimizerConfig::Sgd { learning_rate: -0.1, momentum: 0.9, nesterov: false, weight_decay: 0.0 };
//! assert!(bad.validate().is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Later: RMSProp, AdamW, learning-rate schedules, gradient clipping and
//! accumulation, hypergradient learning rates.

pub mod error;

pub use error::OptimError;

use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use serde::{Deserialize, Serialize};

/// Which optimiser to use and its hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerConfig {
    /// Stochastic gradient descent, optionally with (Nesterov) momentum.
    Sgd {
        /// Step size.
        learning_rate: f64,
        /// Momentum factor in `[0, 1)`; 0 is plain SGD.
        #[serde(default)]
        momentum: f64,
        /// Use Nesterov momentum.
        #[serde(default)]
        nesterov: bool,
        /// L2 penalty added to the gradient (coupled weight decay).
        #[serde(default)]
        weight_decay: f64,
    },
    /// Adam with PyTorch's defaults (β₁ 0.9, β₂ 0.999, ε 1e-8).
    Adam {
        /// Step size.
        learning_rate: f64,
        /// Decay of the first-moment estimate, in `[0, 1)`.
        #[serde(default = "default_beta1")]
        beta1: f64,
        /// Decay of the second-moment estimate, in `[0, 1)`.
        #[serde(default = "default_beta2")]
        beta2: f64,
        /// Numerical-stability term, positive.
        #[serde(default = "default_epsilon")]
        epsilon: f64,
        /// L2 penalty added to the gradient (coupled weight decay).
        #[serde(default)]
        weight_decay: f64,
    },
}

fn default_beta1() -> f64 {
    0.9
}
fn default_beta2() -> f64 {
    0.999
}
fn default_epsilon() -> f64 {
    1e-8
}

impl OptimizerConfig {
    /// Adam with PyTorch's defaults and the given learning rate.
    pub fn adam(learning_rate: f64) -> Self {
        Self::Adam {
            learning_rate,
            beta1: default_beta1(),
            beta2: default_beta2(),
            epsilon: default_epsilon(),
            weight_decay: 0.0,
        }
    }

    /// The configured learning rate.
    pub fn learning_rate(&self) -> f64 {
        match self {
            Self::Sgd { learning_rate, .. } | Self::Adam { learning_rate, .. } => *learning_rate,
        }
    }

    /// Checks every hyperparameter.
    pub fn validate(&self) -> Result<(), OptimError> {
        let lr = self.learning_rate();
        if !(lr.is_finite() && lr > 0.0) {
            return Err(OptimError::LearningRate(lr));
        }
        let unit = |name, value: f64| {
            if (0.0..1.0).contains(&value) {
                Ok(())
            } else {
                Err(OptimError::OutOfRange { name, value, range: "[0, 1)" })
            }
        };
        let non_negative = |name, value: f64| {
            if value >= 0.0 && value.is_finite() {
                Ok(())
            } else {
                Err(OptimError::OutOfRange { name, value, range: "[0, inf)" })
            }
        };
        match *self {
            Self::Sgd { momentum, weight_decay, .. } => {
                unit("momentum", momentum)?;
                non_negative("weight_decay", weight_decay)
            }
            Self::Adam { beta1, beta2, epsilon, weight_decay, .. } => {
                unit("beta1", beta1)?;
                unit("beta2", beta2)?;
                if !(epsilon > 0.0 && epsilon.is_finite()) {
                    return Err(OptimError::OutOfRange { name: "epsilon", value: epsilon, range: "(0, inf)" });
                }
                non_negative("weight_decay", weight_decay)
            }
        }
    }

    /// Validates the config and builds the optimiser.
    pub fn init(&self) -> Result<Optimizer, OptimError> {
        self.validate()?;
        let decay = |w: f64| (w > 0.0).then(|| WeightDecayConfig::new(w as f32));
        let inner =
            match *self {
                Self::Sgd { momentum, nesterov, weight_decay, .. } => SgdConfig::new()
                    .with_momentum((momentum > 0.0).then(|| {
                        MomentumConfig::new().with_momentum(momentum).with_dampening(0.0).with_nesterov(nesterov)
                    }))
                    .with_weight_decay(decay(weight_decay))
                    .init(),
                Self::Adam { beta1, beta2, epsilon, weight_decay, .. } => AdamConfig::new()
                    .with_beta_1(beta1 as f32)
                    .with_beta_2(beta2 as f32)
                    .with_epsilon(epsilon as f32)
                    .with_weight_decay(decay(weight_decay))
                    .init(),
            };
        Ok(Optimizer { inner, learning_rate: self.learning_rate() })
    }
}

/// A built optimiser: burn's module optimiser and the current learning rate.
pub struct Optimizer {
    inner: ModuleOptimizer,
    learning_rate: f64,
}

impl std::fmt::Debug for Optimizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Optimizer").field("learning_rate", &self.learning_rate).finish_non_exhaustive()
    }
}

impl Optimizer {
    /// The learning rate the next step uses.
    pub fn learning_rate(&self) -> f64 {
        self.learning_rate
    }

    /// Applies one update to `module` from `grads`, advancing the optimiser state.
    pub fn step<M: Module>(&mut self, module: M, grads: GradientsParams) -> M {
        self.inner.step(self.learning_rate, module, grads)
    }
}
