//! Proximal Policy Optimization (Schulman et al. 2017,
//! <https://arxiv.org/abs/1707.06347>) with generalized advantage estimation
//! (Schulman et al. 2016, <https://arxiv.org/abs/1506.02438>), as
//! Stable-Baselines3 implements it: separate policy and value networks,
//! orthogonal initialisation, the clipped surrogate objective, an unclipped
//! value loss, an entropy bonus, per-minibatch advantage normalisation,
//! global-norm gradient clipping and Adam with ε = 1e-5.
//!
//! The update is the training core's: every minibatch goes through
//! [`anneal_train::Stepper::step`] with [`PpoObjective`], whose three terms
//! (`policy`, `value`, `entropy`) the core logs by name.

use anneal_data::Target;
use anneal_models::{ActivationKind, MlpConfig, Model};
use anneal_optim::{OptimizerConfig, ScheduleConfig};
use anneal_train::{LossTerm, Objective, TrainError};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use serde::{Deserialize, Serialize};

use crate::error::{Result, setting};

/// PPO's settings. The defaults are Stable-Baselines3's; the rl-baselines3-zoo
/// CartPole-v1 settings are in `examples/rl/cartpole_ppo.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PpoConfig {
    /// Environment copies stepped together.
    #[serde(default = "d_n_envs")]
    pub n_envs: usize,
    /// Steps per copy in each rollout (the rollout holds `n_envs · n_steps` transitions).
    #[serde(default = "d_n_steps")]
    pub n_steps: usize,
    /// Minibatch size of the update.
    #[serde(default = "d_batch_size")]
    pub batch_size: usize,
    /// Passes over each rollout.
    #[serde(default = "d_n_epochs")]
    pub n_epochs: usize,
    /// Discount γ.
    #[serde(default = "d_gamma")]
    pub gamma: f64,
    /// GAE's λ (1: Monte-Carlo advantages, 0: one-step TD).
    #[serde(default = "d_gae_lambda")]
    pub gae_lambda: f64,
    /// The clipping range ε of the probability ratio.
    #[serde(default = "d_clip_range")]
    pub clip_range: f64,
    /// How the clip range changes over the run (default: constant), over the
    /// same steps as the learning-rate schedule.
    #[serde(default)]
    pub clip_schedule: Option<ScheduleConfig>,
    /// Weight of the entropy bonus.
    #[serde(default)]
    pub ent_coef: f64,
    /// Weight of the value loss.
    #[serde(default = "d_vf_coef")]
    pub vf_coef: f64,
    /// Largest global gradient norm (none: no clipping).
    #[serde(default = "d_max_grad_norm")]
    pub max_grad_norm: Option<f64>,
    /// Normalise the advantages of each minibatch.
    #[serde(default = "d_true")]
    pub normalize_advantage: bool,
    /// Hidden layers of the policy and of the value network.
    #[serde(default = "d_hidden")]
    pub hidden: Vec<usize>,
    /// Their activation.
    #[serde(default = "d_activation")]
    pub activation: ActivationKind,
    /// Orthogonal initialisation (gains √2, 0.01 for the policy head, 1 for
    /// the value head) instead of PyTorch's default.
    #[serde(default = "d_true")]
    pub ortho_init: bool,
    /// The optimiser (default Adam, learning rate 3e-4, ε 1e-5).
    #[serde(default = "d_optimizer")]
    pub optimizer: OptimizerConfig,
    /// The learning-rate schedule, stepped once per environment step (default constant).
    #[serde(default)]
    pub schedule: Option<ScheduleConfig>,
    /// Environment steps the schedules run over (default: the run's `total_steps`).
    #[serde(default)]
    pub schedule_steps: Option<usize>,
}

fn d_n_envs() -> usize {
    1
}
fn d_n_steps() -> usize {
    2048
}
fn d_batch_size() -> usize {
    64
}
fn d_n_epochs() -> usize {
    10
}
fn d_gamma() -> f64 {
    0.99
}
fn d_gae_lambda() -> f64 {
    0.95
}
fn d_clip_range() -> f64 {
    0.2
}
fn d_vf_coef() -> f64 {
    0.5
}
fn d_max_grad_norm() -> Option<f64> {
    Some(0.5)
}
fn d_true() -> bool {
    true
}
fn d_hidden() -> Vec<usize> {
    vec![64, 64]
}
fn d_activation() -> ActivationKind {
    ActivationKind::Tanh
}
fn d_optimizer() -> OptimizerConfig {
    OptimizerConfig::Adam {
        learning_rate: 3e-4,
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-5,
        weight_decay: 0.0,
        amsgrad: false,
    }
}

impl Default for PpoConfig {
    /// Every field at its serde default.
    fn default() -> Self {
        serde_json::from_str("{}").unwrap_or_else(|_| unreachable!("every PpoConfig field has a default"))
    }
}

impl PpoConfig {
    /// Checks every setting.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("n_envs", self.n_envs),
            ("n_steps", self.n_steps),
            ("batch_size", self.batch_size),
            ("n_epochs", self.n_epochs),
        ] {
            if v == 0 {
                return Err(setting(name, v, "at least 1"));
            }
        }
        if self.batch_size > self.n_envs * self.n_steps {
            return Err(setting(
                "batch_size",
                self.batch_size,
                &format!("at most the rollout's n_envs · n_steps = {}", self.n_envs * self.n_steps),
            ));
        }
        for (name, v) in [("gamma", self.gamma), ("gae_lambda", self.gae_lambda)] {
            if !(0.0..=1.0).contains(&v) {
                return Err(setting(name, v, "in [0, 1]"));
            }
        }
        if !(self.clip_range > 0.0 && self.clip_range.is_finite()) {
            return Err(setting("clip_range", self.clip_range, "positive"));
        }
        for (name, v) in [("ent_coef", self.ent_coef), ("vf_coef", self.vf_coef)] {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(setting(name, v, "non-negative and finite"));
            }
        }
        crate::update::check_update(
            &self.hidden,
            self.max_grad_norm,
            &self.optimizer,
            &[self.schedule.as_ref(), self.clip_schedule.as_ref()],
            self.schedule_steps,
        )
    }

    /// The actor-critic network for observations of `obs_len` values and `n_actions` actions.
    pub fn init_model(&self, obs_len: usize, n_actions: usize, seed: u64, device: &Device) -> Result<ActorCritic> {
        let mlp = |output| MlpConfig {
            input: obs_len,
            hidden: self.hidden.clone(),
            output,
            activation: self.activation,
            dropout: 0.0,
            layer_dropout: vec![],
        };
        let value_seed = seed ^ 0x5EED_0F7A_1E00;
        let (policy, value) = if self.ortho_init {
            let gain = 2f64.sqrt();
            (
                mlp(n_actions).init_orthogonal(seed, gain, 0.01, device)?,
                mlp(1).init_orthogonal(value_seed, gain, 1.0, device)?,
            )
        } else {
            (mlp(n_actions).init(seed, device)?, mlp(1).init(value_seed, device)?)
        };
        Ok(ActorCritic { policy, value })
    }
}

/// Separate policy and value networks over the same observation. Its output
/// row is the action logits followed by the state value.
#[derive(Module, Debug)]
pub struct ActorCritic {
    policy: anneal_models::Mlp,
    value: anneal_models::Mlp,
}

impl ActorCritic {
    /// `[batch, n_actions + 1]`: logits, then the value.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        Tensor::cat(vec![self.policy.forward(x.clone()), self.value.forward(x)], 1)
    }
}

impl Model for ActorCritic {
    type Input = Tensor<2>;

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        ActorCritic::forward(self, x)
    }
}

/// PPO's loss over a minibatch. The model's output is `[logits, value]`; the
/// target is `Target::Values` with the columns `action, old log-probability,
/// advantage, return` ([`PpoObjective::target`] builds it).
///
/// Terms: `policy = −mean(min(Â·r, Â·clip(r, 1−ε, 1+ε)))` with `r = exp(log π −
/// log π_old)`; `value = vf_coef · mean((R − V)²)`; `entropy = −ent_coef ·
/// mean(H(π))`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PpoObjective {
    /// Number of actions (the logits' width).
    pub n_actions: usize,
    /// The clip range ε.
    pub clip_range: f64,
    /// Weight of the value loss.
    pub vf_coef: f64,
    /// Weight of the entropy bonus.
    pub ent_coef: f64,
    /// Normalise advantages within the minibatch (when it has more than one row).
    pub normalize_advantage: bool,
}

impl PpoObjective {
    /// The target tensor for rows of `(action, old_log_prob, advantage, return)`.
    pub fn target(rows: &[[f32; 4]], device: &Device) -> Target {
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        Target::Values(Tensor::from_data(TensorData::new(flat, [rows.len(), 4]), device))
    }
}

impl Objective for PpoObjective {
    fn name(&self) -> String {
        "ppo".into()
    }

    fn terms(&self, output: Tensor<2>, target: &Target) -> std::result::Result<Vec<LossTerm>, TrainError> {
        let Target::Values(t) = target else {
            return Err(TrainError::InvalidSetting("PPO needs (action, old log-prob, advantage, return) rows".into()));
        };
        let [n, width] = output.dims();
        if width != self.n_actions + 1 || t.dims()[1] != 4 {
            return Err(TrainError::InvalidSetting(format!(
                "PPO expects {} outputs and 4 target columns, got {width} and {}",
                self.n_actions + 1,
                t.dims()[1]
            )));
        }
        let logits = output.clone().narrow(1, 0, self.n_actions);
        let values = output.narrow(1, self.n_actions, 1);
        let actions = t.clone().narrow(1, 0, 1).int();
        let old_log_prob = t.clone().narrow(1, 1, 1);
        let mut advantages = t.clone().narrow(1, 2, 1);
        let returns = t.clone().narrow(1, 3, 1);
        if self.normalize_advantage && n > 1 {
            let mean = advantages.clone().mean();
            let centred = advantages - mean.unsqueeze();
            // Unbiased standard deviation, as torch.std.
            let std = (centred.clone().powi_scalar(2).sum() / (n as f64 - 1.0)).sqrt();
            advantages = centred / (std + 1e-8).unsqueeze();
        }
        let log_probs = log_softmax(logits, 1);
        let log_prob = log_probs.clone().gather(1, actions);
        let ratio = (log_prob - old_log_prob).exp();
        let clipped = ratio.clone().clamp(1.0 - self.clip_range, 1.0 + self.clip_range);
        let surrogate = (advantages.clone() * ratio).min_pair(advantages * clipped);
        let policy = surrogate.mean().neg();
        let value = (returns - values).powi_scalar(2).mean() * self.vf_coef;
        let entropy = (log_probs.clone().exp() * log_probs).sum_dim(1).mean() * self.ent_coef;
        Ok(vec![
            LossTerm { name: "policy".into(), value: policy },
            LossTerm { name: "value".into(), value },
            LossTerm { name: "entropy".into(), value: entropy },
        ])
    }
}

/// Generalized advantage estimation over a rollout of `n_steps × n_envs`
/// transitions, laid out step-major (`[t · n_envs + e]`), as Stable-Baselines3's
/// `RolloutBuffer.compute_returns_and_advantage`:
///
/// `δ_t = r_t + γ·V(s_{t+1})·(1 − d_{t+1}) − V(s_t)`,
/// `Â_t = δ_t + γλ·(1 − d_{t+1})·Â_{t+1}`, returns `Â_t + V(s_t)`,
///
/// where `d_{t+1}` is `episode_starts[t + 1]` inside the rollout and
/// `last_dones` after it. A truncated episode's bootstrap belongs in its last
/// reward (`r + γ·V(final observation)`), added before this is called.
#[allow(clippy::too_many_arguments)]
pub fn gae(
    rewards: &[f32],
    values: &[f32],
    episode_starts: &[bool],
    last_values: &[f32],
    last_dones: &[bool],
    n_envs: usize,
    gamma: f64,
    lambda: f64,
) -> (Vec<f32>, Vec<f32>) {
    let n_steps = rewards.len() / n_envs.max(1);
    let mut advantages = vec![0.0f32; rewards.len()];
    for e in 0..n_envs {
        let mut last = 0.0f64;
        for t in (0..n_steps).rev() {
            let (next_non_terminal, next_value) = if t + 1 == n_steps {
                (f64::from(u8::from(!last_dones[e])), f64::from(last_values[e]))
            } else {
                let i = (t + 1) * n_envs + e;
                (f64::from(u8::from(!episode_starts[i])), f64::from(values[i]))
            };
            let i = t * n_envs + e;
            let delta = f64::from(rewards[i]) + gamma * next_value * next_non_terminal - f64::from(values[i]);
            last = delta + gamma * lambda * next_non_terminal * last;
            advantages[i] = last as f32;
        }
    }
    let returns = advantages.iter().zip(values).map(|(a, v)| a + v).collect();
    (advantages, returns)
}

/// Log-softmax of one row of logits, in `f64`.
pub(crate) fn log_softmax_row(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
    let lse = logits.iter().map(|&l| (l as f64 - max).exp()).sum::<f64>().ln() + max;
    logits.iter().map(|&l| l as f64 - lse).collect()
}
