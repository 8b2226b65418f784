//! Optimisers, learning-rate schedules and gradient handling for Anneal, as
//! validated configs over burn-optim.
//!
//! Training needs an update rule, a learning rate that changes over the run and,
//! sometimes, gradients that are clipped or summed over several micro-batches.
//! Each is a config that is data (it deserialises from a run's TOML, unknown keys
//! rejected), checks itself into a typed [`OptimError`] and builds a small object
//! the training loop calls:
//!
//! | config | builds | the loop calls |
//! |---|---|---|
//! | [`OptimizerConfig`] | [`Optimizer`] | [`Optimizer::step`] once per update |
//! | [`ScheduleConfig`] | [`Scheduler`] | [`Scheduler::step`] per update or epoch, then [`Optimizer::set_learning_rate`] |
//! | [`GradientClippingConfig`] | [`GradientClipping`] | [`GradientClipping::clip`] before each update |
//! | micro-batch count | [`Accumulator`] | [`Accumulator::push`] per micro-batch |
//!
//! Update rules are burn-optim's (SGD, RMSProp, Adam, AdamW), configured to
//! compute what `torch.optim` computes with PyTorch's defaults, except the
//! hypergradient optimisers (Baydin et al. 2018, [`hypergradient`]), which
//! burn does not have. Parameters after five steps of every optimiser, every
//! schedule's rates over 100 steps and the clipped gradients are checked against
//! PyTorch 2.15 (`tests/golden.py`, `tests/it/golden.rs`). On the CPU backends
//! Adam and AdamW run fused, one loop per parameter instead of a dozen tensor
//! operations, with burn's arithmetic and state bit for bit (a fifth of an MLP's
//! step before; `tests/it/fused.rs`), except that moments which would become
//! subnormal are set to zero (subnormal arithmetic is slow on Intel CPUs).
//!
//! - SGD with momentum: Sutskever et al., *On the importance of initialization and
//!   momentum in deep learning* (2013), with PyTorch's convention (no dampening).
//! - Adam: Kingma & Ba, *Adam: A Method for Stochastic Optimization* (2014),
//!   <https://arxiv.org/abs/1412.6980>.
//! - AdamW: Loshchilov & Hutter, *Decoupled Weight Decay Regularization* (2019),
//!   <https://arxiv.org/abs/1711.05101>.
//! - Hypergradient descent: Baydin et al., *Online Learning Rate Adaptation with
//!   Hypergradient Descent* (2018), <https://arxiv.org/abs/1703.04782>.
//!
//! ```
//! use anneal_optim::{OptimizerConfig, ScheduleConfig};
//!
//! let config: OptimizerConfig = toml::from_str("name = \"adam\"\nlearning_rate = 0.001")?;
//! let mut optimizer = config.init()?;
//! assert_eq!(optimizer.learning_rate(), 0.001);
//!
//! // Cosine annealing over a 100-step run.
//! let mut scheduler = ScheduleConfig::Cosine { t_max: None, eta_min: 0.0 }.build(optimizer.learning_rate(), 100)?;
//! scheduler.step();
//! optimizer.set_learning_rate(scheduler.lr());
//! assert!(optimizer.learning_rate() < 0.001);
//!
//! let bad = OptimizerConfig::Sgd { learning_rate: -0.1, momentum: 0.9, nesterov: false, weight_decay: 0.0 };
//! assert!(bad.validate().is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
pub mod error;
mod fused;
mod grads;
pub mod hypergradient;
mod optimizer;
mod schedule;

pub use config::OptimizerConfig;
pub use error::OptimError;
pub use grads::{Accumulator, GradientClipping, GradientClippingConfig, global_norm};
pub use hypergradient::HypergradientRule;
pub use optimizer::Optimizer;
pub use schedule::{PlateauMode, ScheduleConfig, ScheduleUnit, Scheduler, ThresholdMode};

/// Everything a training loop needs, for one `use`.
pub mod prelude {
    pub use crate::{
        Accumulator, GradientClipping, GradientClippingConfig, HypergradientRule, OptimError, Optimizer,
        OptimizerConfig, ScheduleConfig, ScheduleUnit, Scheduler,
    };
}
