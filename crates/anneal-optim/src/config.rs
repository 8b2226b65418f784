//! Optimiser hyperparameters as data: the `OptimizerConfig` enum, its validation and its builder.

use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{ModuleOptimizer, RmsPropConfig, SgdConfig};
use serde::{Deserialize, Serialize};

use crate::error::OptimError;
use crate::fused::Fused;
use crate::hypergradient::{Direction, Hypergradient, HypergradientRule};
use crate::optimizer::{Inner, Optimizer};

/// Which optimiser to use and its hyperparameters.
///
/// Deserialises from a table whose `name` picks the variant (`gd`, `sgd`,
/// `rmsprop`, `adam`, `adamw`, `sgd_hd`, `adam_hd`); unknown keys are errors.
/// Every default is PyTorch's, and every update rule but the hypergradient ones
/// is burn-optim's, configured to compute what `torch.optim` computes (checked
/// against PyTorch 2.15 in `tests/it/golden.rs`); on the CPU backends Adam and
/// AdamW compute burn-optim's arithmetic fused into one loop per parameter.
///
/// ```
/// use anneal_optim::OptimizerConfig;
///
/// let config: OptimizerConfig = toml::from_str(r#"
///     name = "sgd"
///     learning_rate = 0.1
///     momentum = 0.9
///     nesterov = true
/// "#)?;
/// assert_eq!(config.learning_rate(), 0.1);
/// assert!(config.init().is_ok());
/// assert!(toml::from_str::<OptimizerConfig>("name = \"sgd\"\nlearning_rate = 0.1\nmomentun = 0.9").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerConfig {
    /// Full-batch gradient descent: `θ ← θ − lr·∇L(θ)` with the gradient of the
    /// loss over the whole training set.
    ///
    /// The update is burn's plain SGD step (PyTorch's `SGD` without momentum);
    /// what makes it full-batch is the loop: a trainer given this config uses
    /// the whole training set as one batch, so every step sees the exact
    /// gradient ([`OptimizerConfig::is_full_batch`]).
    Gd {
        /// Step size.
        learning_rate: f64,
    },
    /// Stochastic gradient descent, optionally with (Nesterov) momentum:
    /// PyTorch's `torch.optim.SGD` with `dampening = 0`.
    ///
    /// `g ← ∇ + wd·θ; b ← μ·b + g` (`b₁ = g₁`); `θ ← θ − lr·(g + μ·b)` with
    /// Nesterov, `θ ← θ − lr·b` without.
    Sgd {
        /// Step size.
        learning_rate: f64,
        /// Momentum factor μ in `[0, 1)`; 0 is plain SGD.
        #[serde(default)]
        momentum: f64,
        /// Nesterov momentum (Sutskever et al. 2013); needs `momentum > 0`.
        #[serde(default)]
        nesterov: bool,
        /// L2 penalty added to the gradient (coupled weight decay).
        #[serde(default)]
        weight_decay: f64,
    },
    /// RMSProp (Hinton, *Neural Networks for Machine Learning*, lecture 6e):
    /// PyTorch's `torch.optim.RMSprop`.
    ///
    /// `v ← α·v + (1−α)·g²`; centered: `ḡ ← α·ḡ + (1−α)·g`, `v̄ = v − ḡ²`;
    /// `d = g / (√v̄ + ε)`; with momentum `b ← μ·b + d` and `θ ← θ − lr·b`,
    /// else `θ ← θ − lr·d`.
    #[serde(rename = "rmsprop")]
    RmsProp {
        /// Step size.
        learning_rate: f64,
        /// Smoothing constant α of the squared-gradient average, in `[0, 1)`.
        #[serde(default = "default_alpha")]
        alpha: f64,
        /// Added to the root mean square, positive.
        #[serde(default = "default_epsilon")]
        epsilon: f64,
        /// Momentum factor in `[0, 1)`.
        #[serde(default)]
        momentum: f64,
        /// Normalise by an estimate of the gradient's variance instead of its second moment.
        #[serde(default)]
        centered: bool,
        /// L2 penalty added to the gradient (coupled weight decay).
        #[serde(default)]
        weight_decay: f64,
    },
    /// Adam (Kingma & Ba 2014, <https://arxiv.org/abs/1412.6980>): PyTorch's
    /// `torch.optim.Adam`, with PyTorch's defaults (β₁ 0.9, β₂ 0.999, ε 1e-8).
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
        /// L2 penalty added to the gradient (coupled weight decay; use
        /// [`AdamW`](OptimizerConfig::AdamW) for decoupled decay).
        #[serde(default)]
        weight_decay: f64,
        /// AMSGrad (Reddi et al. 2018): divide by the running maximum of the second moment.
        #[serde(default)]
        amsgrad: bool,
    },
    /// AdamW (Loshchilov & Hutter 2019, <https://arxiv.org/abs/1711.05101>):
    /// Adam with decoupled weight decay `θ ← θ·(1 − lr·wd)` before the Adam
    /// step; PyTorch's `torch.optim.AdamW` (default `weight_decay` 0.01).
    #[serde(rename = "adamw")]
    AdamW {
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
        /// Decoupled weight decay factor.
        #[serde(default = "default_adamw_decay")]
        weight_decay: f64,
        /// AMSGrad (Reddi et al. 2018).
        #[serde(default)]
        amsgrad: bool,
    },
    /// SGD with a learning rate learnt by hypergradient descent (SGD-HD,
    /// Baydin et al. 2018, <https://arxiv.org/abs/1703.04782>).
    ///
    /// Each step `α ← α + β·∇ₜ·∇ₜ₋₁` (or, with the multiplicative `rule`,
    /// `α ← α·(1 + β·cos(∇ₜ, ∇ₜ₋₁))`), then `θ ← θ − α·∇ₜ`. The current α is
    /// [`Optimizer::learning_rate`].
    SgdHd {
        /// Initial learning rate α₀.
        learning_rate: f64,
        /// Hypergradient learning rate β (the paper's default for SGD-HD is 0.001).
        /// With the multiplicative rule it is the largest fraction by which one
        /// step changes α, in `[0, 1)`, and has no default.
        #[serde(default = "default_sgd_hd_beta")]
        hypergradient_lr: f64,
        /// How the hypergradient moves α: `additive` (default) or `multiplicative`
        /// ([`HypergradientRule`]).
        #[serde(default)]
        rule: HypergradientRule,
        /// The largest factor by which one step may raise or lower α:
        /// `αₜ₋₁/f ≤ αₜ ≤ f·αₜ₋₁`, `f > 1`. Unset (the default), α is not
        /// limited: the paper's algorithm, as the PyTorch-transcribed golden
        /// tests check it. `2` makes Adam-HD robust to its initial rate on the
        /// digits MLP (docs: "Hypergradient descent on digits").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_lr_factor: Option<f64>,
    },
    /// Adam with a learning rate learnt by hypergradient descent (Adam-HD,
    /// Baydin et al. 2018, <https://arxiv.org/abs/1703.04782>).
    ///
    /// Each step `α ← α + β·∇ₜ·uₜ₋₁` with `u = m̂/(√v̂ + ε)` Adam's direction
    /// (or, with the multiplicative `rule`, `α ← α·(1 + β·cos(∇ₜ, uₜ₋₁))`),
    /// then `θ ← θ − α·uₜ`. The current α is [`Optimizer::learning_rate`].
    AdamHd {
        /// Initial learning rate α₀.
        learning_rate: f64,
        /// Hypergradient learning rate β (the paper uses 1e-7 for Adam-HD).
        /// With the multiplicative rule it is the largest fraction by which one
        /// step changes α, in `[0, 1)`, and has no default.
        #[serde(default = "default_adam_hd_beta")]
        hypergradient_lr: f64,
        /// How the hypergradient moves α: `additive` (default) or `multiplicative`
        /// ([`HypergradientRule`]).
        #[serde(default)]
        rule: HypergradientRule,
        /// The largest factor by which one step may raise or lower α:
        /// `αₜ₋₁/f ≤ αₜ ≤ f·αₜ₋₁`, `f > 1`. Unset (the default), α is not
        /// limited: the paper's algorithm, as the PyTorch-transcribed golden
        /// tests check it. `2` makes Adam-HD robust to its initial rate on the
        /// digits MLP (docs: "Hypergradient descent on digits").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_lr_factor: Option<f64>,
        /// Decay of the first-moment estimate, in `[0, 1)`.
        #[serde(default = "default_beta1")]
        beta1: f64,
        /// Decay of the second-moment estimate, in `[0, 1)`.
        #[serde(default = "default_beta2")]
        beta2: f64,
        /// Numerical-stability term, positive.
        #[serde(default = "default_epsilon")]
        epsilon: f64,
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
fn default_alpha() -> f64 {
    0.99
}
fn default_adamw_decay() -> f64 {
    0.01
}
fn default_sgd_hd_beta() -> f64 {
    1e-3
}
fn default_adam_hd_beta() -> f64 {
    1e-7
}

impl OptimizerConfig {
    /// The names `name` can take, in the order of the variants.
    pub const NAMES: [&'static str; 7] = ["gd", "sgd", "rmsprop", "adam", "adamw", "sgd_hd", "adam_hd"];

    /// Adam with PyTorch's defaults and the given learning rate.
    pub fn adam(learning_rate: f64) -> Self {
        Self::Adam {
            learning_rate,
            beta1: default_beta1(),
            beta2: default_beta2(),
            epsilon: default_epsilon(),
            weight_decay: 0.0,
            amsgrad: false,
        }
    }

    /// The optimiser called `name` with PyTorch's defaults and the given
    /// learning rate: what a command-line `--optimizer NAME` or a search space
    /// starts from.
    ///
    /// ```
    /// use anneal_optim::{OptimError, OptimizerConfig};
    ///
    /// assert_eq!(OptimizerConfig::with_defaults("adam", 0.01)?, OptimizerConfig::adam(0.01));
    /// let err = OptimizerConfig::with_defaults("adamx", 0.01).unwrap_err();
    /// assert!(matches!(err, OptimError::UnknownOptimizer { .. }));
    /// assert!(err.to_string().contains("adamw"));
    /// # Ok::<(), OptimError>(())
    /// ```
    pub fn with_defaults(name: &str, learning_rate: f64) -> Result<Self, OptimError> {
        Ok(match name {
            "gd" => Self::Gd { learning_rate },
            "sgd" => Self::Sgd { learning_rate, momentum: 0.0, nesterov: false, weight_decay: 0.0 },
            "rmsprop" => Self::RmsProp {
                learning_rate,
                alpha: default_alpha(),
                epsilon: default_epsilon(),
                momentum: 0.0,
                centered: false,
                weight_decay: 0.0,
            },
            "adam" => Self::adam(learning_rate),
            "adamw" => Self::AdamW {
                learning_rate,
                beta1: default_beta1(),
                beta2: default_beta2(),
                epsilon: default_epsilon(),
                weight_decay: default_adamw_decay(),
                amsgrad: false,
            },
            "sgd_hd" => Self::SgdHd {
                learning_rate,
                hypergradient_lr: default_sgd_hd_beta(),
                rule: HypergradientRule::Additive,
                max_lr_factor: None,
            },
            "adam_hd" => Self::AdamHd {
                learning_rate,
                hypergradient_lr: default_adam_hd_beta(),
                rule: HypergradientRule::Additive,
                max_lr_factor: None,
                beta1: default_beta1(),
                beta2: default_beta2(),
                epsilon: default_epsilon(),
            },
            other => {
                return Err(OptimError::UnknownOptimizer { name: other.to_string(), known: Self::NAMES.join(", ") });
            }
        })
    }

    /// The value of `name` that selects this variant.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Gd { .. } => "gd",
            Self::Sgd { .. } => "sgd",
            Self::RmsProp { .. } => "rmsprop",
            Self::Adam { .. } => "adam",
            Self::AdamW { .. } => "adamw",
            Self::SgdHd { .. } => "sgd_hd",
            Self::AdamHd { .. } => "adam_hd",
        }
    }

    /// The configured (initial) learning rate.
    pub fn learning_rate(&self) -> f64 {
        match self {
            Self::Gd { learning_rate }
            | Self::Sgd { learning_rate, .. }
            | Self::RmsProp { learning_rate, .. }
            | Self::Adam { learning_rate, .. }
            | Self::AdamW { learning_rate, .. }
            | Self::SgdHd { learning_rate, .. }
            | Self::AdamHd { learning_rate, .. } => *learning_rate,
        }
    }

    /// The same optimiser with initial learning rate `lr` (the linear scaling rule
    /// of data-parallel training multiplies it by the number of replicas).
    ///
    /// ```
    /// let c = anneal_optim::OptimizerConfig::adam(1e-3).with_learning_rate(4e-3);
    /// assert_eq!(c.learning_rate(), 4e-3);
    /// ```
    pub fn with_learning_rate(mut self, lr: f64) -> Self {
        match &mut self {
            Self::Gd { learning_rate }
            | Self::Sgd { learning_rate, .. }
            | Self::RmsProp { learning_rate, .. }
            | Self::Adam { learning_rate, .. }
            | Self::AdamW { learning_rate, .. }
            | Self::SgdHd { learning_rate, .. }
            | Self::AdamHd { learning_rate, .. } => *learning_rate = lr,
        }
        self
    }

    /// Whether the trainer should use the whole training set as one batch
    /// (true for [`Gd`](OptimizerConfig::Gd) only).
    pub fn is_full_batch(&self) -> bool {
        matches!(self, Self::Gd { .. })
    }

    /// Whether the optimiser adapts its own learning rate (the hypergradient
    /// variants), so a learning-rate schedule would fight it.
    pub fn adapts_learning_rate(&self) -> bool {
        matches!(self, Self::SgdHd { .. } | Self::AdamHd { .. })
    }

    /// Checks every hyperparameter; the error names the first one at fault.
    pub fn validate(&self) -> Result<(), OptimError> {
        let lr = self.learning_rate();
        if !(lr.is_finite() && lr > 0.0) {
            return Err(OptimError::LearningRate(lr));
        }
        match *self {
            Self::Gd { .. } => Ok(()),
            Self::Sgd { momentum, nesterov, weight_decay, .. } => {
                unit("momentum", momentum)?;
                if nesterov && momentum == 0.0 {
                    return Err(OptimError::NesterovWithoutMomentum { momentum });
                }
                non_negative("weight_decay", weight_decay)
            }
            Self::RmsProp { alpha, epsilon, momentum, weight_decay, .. } => {
                unit("alpha", alpha)?;
                positive("epsilon", epsilon)?;
                unit("momentum", momentum)?;
                non_negative("weight_decay", weight_decay)
            }
            Self::Adam { beta1, beta2, epsilon, weight_decay, .. }
            | Self::AdamW { beta1, beta2, epsilon, weight_decay, .. } => {
                unit("beta1", beta1)?;
                unit("beta2", beta2)?;
                positive("epsilon", epsilon)?;
                non_negative("weight_decay", weight_decay)
            }
            Self::SgdHd { hypergradient_lr, rule, max_lr_factor, .. } => {
                hypergradient_lr_in_range(hypergradient_lr, rule)?;
                lr_factor_in_range(max_lr_factor)
            }
            Self::AdamHd { hypergradient_lr, rule, max_lr_factor, beta1, beta2, epsilon, .. } => {
                hypergradient_lr_in_range(hypergradient_lr, rule)?;
                lr_factor_in_range(max_lr_factor)?;
                unit("beta1", beta1)?;
                unit("beta2", beta2)?;
                positive("epsilon", epsilon)
            }
        }
    }

    /// Validates the config and builds the optimiser.
    pub fn init(&self) -> Result<Optimizer, OptimError> {
        self.validate()?;
        let decay = |w: f64| (w > 0.0).then(|| WeightDecayConfig::new(w as f32));
        let module = |inner: ModuleOptimizer| Inner::Module { inner, learning_rate: self.learning_rate() };
        let inner = match *self {
            Self::Gd { .. } => module(SgdConfig::new().init()),
            Self::Sgd { momentum, nesterov, weight_decay, .. } => module(
                SgdConfig::new()
                    .with_momentum((momentum > 0.0).then(|| {
                        MomentumConfig::new().with_momentum(momentum).with_dampening(0.0).with_nesterov(nesterov)
                    }))
                    .with_weight_decay(decay(weight_decay))
                    .init(),
            ),
            Self::RmsProp { alpha, epsilon, momentum, centered, weight_decay, .. } => module(
                RmsPropConfig::new()
                    .with_alpha(alpha as f32)
                    .with_epsilon(epsilon as f32)
                    .with_momentum(momentum as f32)
                    .with_centered(centered)
                    .with_weight_decay(decay(weight_decay))
                    .init(),
            ),
            Self::Adam { beta1, beta2, epsilon, weight_decay, amsgrad, .. } => {
                let penalty = (weight_decay > 0.0).then_some(weight_decay as f32);
                let adam = Fused::adam(beta1 as f32, beta2 as f32, epsilon as f32, penalty, amsgrad);
                module(ModuleOptimizer::from(adam))
            }
            Self::AdamW { beta1, beta2, epsilon, weight_decay, amsgrad, .. } => {
                let adamw = Fused::adamw(beta1 as f32, beta2 as f32, epsilon as f32, weight_decay as f32, amsgrad);
                module(ModuleOptimizer::from(adamw))
            }
            Self::SgdHd { learning_rate, hypergradient_lr, rule, max_lr_factor } => Inner::Hypergradient(
                Hypergradient::new(Direction::Sgd, rule, max_lr_factor, learning_rate, hypergradient_lr),
            ),
            Self::AdamHd { learning_rate, hypergradient_lr, rule, max_lr_factor, beta1, beta2, epsilon } => {
                Inner::Hypergradient(Hypergradient::new(
                    Direction::Adam { beta1, beta2, epsilon },
                    rule,
                    max_lr_factor,
                    learning_rate,
                    hypergradient_lr,
                ))
            }
        };
        Ok(Optimizer::new(self.clone(), inner))
    }
}

/// β of a hypergradient optimiser: any non-negative value for the additive
/// rule; a fraction in `[0, 1)` for the multiplicative one, so that α stays positive.
fn hypergradient_lr_in_range(value: f64, rule: HypergradientRule) -> Result<(), OptimError> {
    match rule {
        HypergradientRule::Additive => non_negative("hypergradient_lr", value),
        HypergradientRule::Multiplicative => unit("hypergradient_lr", value),
    }
}

/// The per-step limit on α's change of a hypergradient optimiser: unset, or a
/// finite factor above 1.
fn lr_factor_in_range(value: Option<f64>) -> Result<(), OptimError> {
    match value {
        Some(f) if !(f > 1.0 && f.is_finite()) => {
            Err(OptimError::OutOfRange { name: "max_lr_factor", value: f, range: "(1, inf)" })
        }
        _ => Ok(()),
    }
}

pub(crate) fn unit(name: &'static str, value: f64) -> Result<(), OptimError> {
    if (0.0..1.0).contains(&value) { Ok(()) } else { Err(OptimError::OutOfRange { name, value, range: "[0, 1)" }) }
}

pub(crate) fn non_negative(name: &'static str, value: f64) -> Result<(), OptimError> {
    if value >= 0.0 && value.is_finite() {
        Ok(())
    } else {
        Err(OptimError::OutOfRange { name, value, range: "[0, inf)" })
    }
}

pub(crate) fn positive(name: &'static str, value: f64) -> Result<(), OptimError> {
    if value > 0.0 && value.is_finite() {
        Ok(())
    } else {
        Err(OptimError::OutOfRange { name, value, range: "(0, inf)" })
    }
}
