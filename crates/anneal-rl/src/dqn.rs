//! Deep Q-networks (Mnih et al. 2015, <https://doi.org/10.1038/nature14236>)
//! as Stable-Baselines3 implements them: a replay buffer sampled uniformly,
//! a target network copied from the online one every `target_update_interval`
//! environment steps, ε-greedy exploration decaying linearly, the Huber
//! (smooth L1) loss and global-norm gradient clipping; with the Double DQN
//! target (van Hasselt, Guez & Silver 2016, <https://arxiv.org/abs/1509.06461>)
//! as an option.
//!
//! The update is the training core's: every minibatch goes through
//! [`anneal_train::Stepper::step`] with [`DqnObjective`].

use anneal_core::SeededRng;
use anneal_data::Target;
use anneal_models::ActivationKind;
use anneal_optim::{OptimizerConfig, ScheduleConfig};
use anneal_train::{LossTerm, Objective, TrainError};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Result, setting};

/// DQN's settings. The defaults are Stable-Baselines3's; the rl-baselines3-zoo
/// CartPole-v1 settings are in `examples/rl/cartpole_dqn.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DqnConfig {
    /// Transitions the replay buffer keeps (the oldest are overwritten).
    #[serde(default = "d_buffer")]
    pub buffer_size: usize,
    /// Environment steps of uniformly random actions before learning starts.
    #[serde(default = "d_learning_starts")]
    pub learning_starts: usize,
    /// Minibatch size.
    #[serde(default = "d_batch")]
    pub batch_size: usize,
    /// Discount γ.
    #[serde(default = "d_gamma")]
    pub gamma: f64,
    /// Environment steps between training phases.
    #[serde(default = "d_train_freq")]
    pub train_freq: usize,
    /// Gradient steps in each training phase.
    #[serde(default = "d_gradient_steps")]
    pub gradient_steps: usize,
    /// Environment steps between copies of the online network into the target network.
    #[serde(default = "d_target_update")]
    pub target_update_interval: usize,
    /// ε at the start.
    #[serde(default = "d_eps_start")]
    pub exploration_initial_eps: f64,
    /// ε after `exploration_steps`.
    #[serde(default = "d_eps_end")]
    pub exploration_final_eps: f64,
    /// Environment steps over which ε decays linearly (default: a tenth of the run).
    #[serde(default)]
    pub exploration_steps: Option<usize>,
    /// Use the Double DQN target: the online network picks the next action,
    /// the target network values it.
    #[serde(default)]
    pub double_dqn: bool,
    /// Largest global gradient norm (none: no clipping).
    #[serde(default = "d_max_grad_norm")]
    pub max_grad_norm: Option<f64>,
    /// Hidden layers of the Q-network.
    #[serde(default = "d_hidden")]
    pub hidden: Vec<usize>,
    /// Their activation.
    #[serde(default)]
    pub activation: ActivationKind,
    /// The optimiser (default Adam, learning rate 1e-4).
    #[serde(default = "d_optimizer")]
    pub optimizer: OptimizerConfig,
    /// The learning-rate schedule, stepped once per environment step (default constant).
    #[serde(default)]
    pub schedule: Option<ScheduleConfig>,
    /// Environment steps the schedule runs over (default: the run's `total_steps`).
    #[serde(default)]
    pub schedule_steps: Option<usize>,
}

fn d_buffer() -> usize {
    1_000_000
}
fn d_learning_starts() -> usize {
    100
}
fn d_batch() -> usize {
    32
}
fn d_gamma() -> f64 {
    0.99
}
fn d_train_freq() -> usize {
    4
}
fn d_gradient_steps() -> usize {
    1
}
fn d_target_update() -> usize {
    10_000
}
fn d_eps_start() -> f64 {
    1.0
}
fn d_eps_end() -> f64 {
    0.05
}
fn d_max_grad_norm() -> Option<f64> {
    Some(10.0)
}
fn d_hidden() -> Vec<usize> {
    vec![64, 64]
}
fn d_optimizer() -> OptimizerConfig {
    OptimizerConfig::adam(1e-4)
}

impl Default for DqnConfig {
    fn default() -> Self {
        serde_json::from_str("{}").unwrap_or_else(|_| unreachable!("every DqnConfig field has a default"))
    }
}

impl DqnConfig {
    /// Checks every setting.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("buffer_size", self.buffer_size),
            ("batch_size", self.batch_size),
            ("train_freq", self.train_freq),
            ("target_update_interval", self.target_update_interval),
        ] {
            if v == 0 {
                return Err(setting(name, v, "at least 1"));
            }
        }
        if !(0.0..=1.0).contains(&self.gamma) {
            return Err(setting("gamma", self.gamma, "in [0, 1]"));
        }
        for (name, v) in [
            ("exploration_initial_eps", self.exploration_initial_eps),
            ("exploration_final_eps", self.exploration_final_eps),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(setting(name, v, "in [0, 1]"));
            }
        }
        if self.exploration_steps == Some(0) {
            return Err(setting("exploration_steps", 0, "at least 1"));
        }
        crate::update::check_update(
            &self.hidden,
            self.max_grad_norm,
            &self.optimizer,
            &[self.schedule.as_ref()],
            self.schedule_steps,
        )
    }

    /// ε after `step` environment steps of a run of `total` steps: linear from
    /// the initial to the final value over `exploration_steps`, then constant.
    pub fn epsilon(&self, step: usize, total: usize) -> f64 {
        let span = self.exploration_steps.unwrap_or((total / 10).max(1));
        let frac = (step as f64 / span as f64).min(1.0);
        self.exploration_initial_eps + frac * (self.exploration_final_eps - self.exploration_initial_eps)
    }
}

/// The TD target of each transition: `r + γ·(1 − terminated)·Q_target(s', a*)`,
/// with `a* = argmax_a Q_target(s', a)` (DQN) or `argmax_a Q_online(s', a)`
/// (Double DQN; pass `next_q_online`). Q-values are row-major, `n_actions` per row.
pub fn td_targets(
    rewards: &[f32],
    terminated: &[bool],
    next_q_target: &[f32],
    next_q_online: Option<&[f32]>,
    n_actions: usize,
    gamma: f64,
) -> Vec<f32> {
    (0..rewards.len())
        .map(|i| {
            let row = |q: &[f32]| q[i * n_actions..(i + 1) * n_actions].to_vec();
            let target_row = row(next_q_target);
            let next = match next_q_online {
                Some(online) => target_row[argmax(&row(online))],
                None => target_row.iter().cloned().fold(f32::NEG_INFINITY, f32::max),
            };
            let not_done = if terminated[i] { 0.0 } else { 1.0 };
            (f64::from(rewards[i]) + not_done * gamma * f64::from(next)) as f32
        })
        .collect()
}

/// The first index of the largest value.
pub(crate) fn argmax(values: &[f32]) -> usize {
    (0..values.len()).fold(0, |best, a| if values[a] > values[best] { a } else { best })
}

/// DQN's loss: the Huber loss (δ = 1, PyTorch's `smooth_l1_loss`) between
/// `Q(s, a)` and the TD target. The target is `Target::Values` with the columns
/// `action, TD target`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DqnObjective {
    /// Number of actions (the output's width).
    pub n_actions: usize,
}

impl Objective for DqnObjective {
    fn name(&self) -> String {
        "huber".into()
    }

    fn terms(&self, output: Tensor<2>, target: &Target) -> std::result::Result<Vec<LossTerm>, TrainError> {
        let Target::Values(t) = target else {
            return Err(TrainError::InvalidSetting("DQN needs (action, TD target) rows".into()));
        };
        if output.dims()[1] != self.n_actions || t.dims()[1] != 2 {
            return Err(TrainError::InvalidSetting(format!(
                "DQN expects {} outputs and 2 target columns, got {} and {}",
                self.n_actions,
                output.dims()[1],
                t.dims()[1]
            )));
        }
        let actions = t.clone().narrow(1, 0, 1).int();
        let q = output.gather(1, actions);
        let diff = (q - t.clone().narrow(1, 1, 1)).abs();
        // Smooth L1 with β = 1: 0.5·d² below 1, d − 0.5 above.
        let small = diff.clone().lower_elem(1.0).float();
        let loss = small.clone() * diff.clone().powi_scalar(2) * 0.5 + (small.neg() + 1.0) * (diff - 0.5);
        Ok(vec![LossTerm { name: "huber".into(), value: loss.mean() }])
    }
}

/// A ring buffer of transitions, sampled uniformly with replacement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayBuffer {
    capacity: usize,
    obs_len: usize,
    #[serde(with = "crate::bits::f32_vec")]
    observations: Vec<f32>,
    #[serde(with = "crate::bits::f32_vec")]
    next_observations: Vec<f32>,
    actions: Vec<u32>,
    #[serde(with = "crate::bits::f32_vec")]
    rewards: Vec<f32>,
    terminated: Vec<bool>,
    position: usize,
    full: bool,
}

/// A sampled minibatch.
#[derive(Debug, Clone, PartialEq)]
pub struct Transitions {
    /// Observations, row-major.
    pub observations: Vec<f32>,
    /// Next observations, row-major.
    pub next_observations: Vec<f32>,
    /// Actions.
    pub actions: Vec<u32>,
    /// Rewards.
    pub rewards: Vec<f32>,
    /// Whether the next state is terminal (truncations are not: they bootstrap).
    pub terminated: Vec<bool>,
}

impl ReplayBuffer {
    /// An empty buffer for `capacity` transitions of observations of `obs_len` values.
    pub fn new(capacity: usize, obs_len: usize) -> Self {
        Self {
            capacity,
            obs_len,
            observations: Vec::new(),
            next_observations: Vec::new(),
            actions: Vec::new(),
            rewards: Vec::new(),
            terminated: Vec::new(),
            position: 0,
            full: false,
        }
    }

    /// Transitions held.
    pub fn len(&self) -> usize {
        if self.full { self.capacity } else { self.position }
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a transition, overwriting the oldest when full.
    pub fn push(&mut self, obs: &[f32], action: usize, reward: f32, next: &[f32], terminated: bool) {
        let d = self.obs_len;
        if self.full || self.position < self.actions.len() {
            let i = self.position;
            self.observations[i * d..(i + 1) * d].copy_from_slice(obs);
            self.next_observations[i * d..(i + 1) * d].copy_from_slice(next);
            self.actions[i] = action as u32;
            self.rewards[i] = reward;
            self.terminated[i] = terminated;
        } else {
            self.observations.extend_from_slice(obs);
            self.next_observations.extend_from_slice(next);
            self.actions.push(action as u32);
            self.rewards.push(reward);
            self.terminated.push(terminated);
        }
        self.position += 1;
        if self.position == self.capacity {
            self.position = 0;
            self.full = true;
        }
    }

    /// `n` transitions drawn uniformly with replacement.
    pub fn sample(&self, n: usize, rng: &mut SeededRng) -> Transitions {
        let d = self.obs_len;
        let len = self.len().max(1) as u64;
        let mut out = Transitions {
            observations: Vec::with_capacity(n * d),
            next_observations: Vec::with_capacity(n * d),
            actions: Vec::with_capacity(n),
            rewards: Vec::with_capacity(n),
            terminated: Vec::with_capacity(n),
        };
        for _ in 0..n {
            let i = rng.below(len) as usize;
            out.observations.extend_from_slice(&self.observations[i * d..(i + 1) * d]);
            out.next_observations.extend_from_slice(&self.next_observations[i * d..(i + 1) * d]);
            out.actions.push(self.actions[i]);
            out.rewards.push(self.rewards[i]);
            out.terminated.push(self.terminated[i]);
        }
        out
    }
}
