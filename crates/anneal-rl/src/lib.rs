//! Reinforcement learning for Anneal: an agent receives a state from its
//! environment, takes an action, observes the reward and the next state, and
//! learns a policy that maximises the return.
//!
//! - Environments with Gymnasium's contract ([`Env`]): [`CartPole`] with
//!   Gymnasium's exact dynamics, a [`GridWorld`] whose optimal return value
//!   iteration computes, and multi-armed [`bandit`]s; [`VecEnv`] steps copies
//!   together.
//! - Exploration in its purest form ([`bandit`]): ε-greedy, UCB1 and Thompson
//!   sampling, with their regret against the theoretical bounds.
//! - Agents on the training core ([`agent::train`]): [`ppo`] (clipped
//!   objective, GAE, entropy bonus, value loss, vectorised rollouts) and
//!   [`dqn`] (replay buffer, target network, ε-greedy decay, Double DQN). Their
//!   updates are `anneal-train`'s step; learning rates are `anneal-optim`
//!   schedules; checkpoints resume bit for bit.
//!
//! ```no_run
//! use anneal_rl::{RlConfig, agent};
//!
//! let config: RlConfig = toml::from_str(&std::fs::read_to_string("examples/rl/cartpole_ppo.toml")?)?;
//! let outcome = agent::train(&config, &burn::prelude::Device::flex(), None, &mut agent::Quiet)?;
//! println!("solved after {:?} steps", outcome.steps_to_target);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod agent;
pub mod bandit;
mod bits;
pub mod cartpole;
pub mod dqn;
pub mod env;
pub mod error;
pub mod gridworld;
pub mod ppo;
pub mod report;
pub mod rlhf;
mod update;
pub mod vec_env;

pub use agent::{AgentConfig, EnvConfig, IterationRecord, Outcome, Policy, RlConfig};
pub use cartpole::CartPole;
pub use env::{Env, Space, Step};
pub use error::{Result, RlError};
pub use gridworld::{GridConfig, GridWorld};
pub use vec_env::{Episode, VecEnv};
