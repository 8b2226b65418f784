//! The rollout driver: act in the environments, learn from what happened,
//! repeat, with checkpoints a run resumes from bit for bit.
//!
//! One iteration is an agent's natural unit: PPO collects a rollout of
//! `n_envs · n_steps` transitions and updates on it; DQN takes `train_freq`
//! steps into its replay buffer and then `gradient_steps` updates. Either way
//! the update is [`anneal_train::Stepper::step`] (the supervised loop's step:
//! forward, objective, backward, clipping, optimiser), learning rates come
//! from `anneal-optim` schedules, and checkpoints are written through
//! [`anneal_train::checkpoint::write_folder`].

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anneal_core::SeededRng;
use anneal_data::Batch;
use anneal_models::{Mlp, MlpConfig};
use anneal_optim::Optimizer;
use anneal_train::{StepInfo, Stepper};
use burn::prelude::*;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::cartpole::CartPole;
use crate::dqn::{DqnConfig, DqnObjective, ReplayBuffer, argmax, td_targets};
use crate::env::Env;
use crate::error::{Result, RlError, setting};
use crate::gridworld::{GridConfig, GridWorld};
use crate::ppo::{ActorCritic, PpoConfig, PpoObjective, gae, log_softmax_row};
use crate::update::{Schedules, stepper};
use crate::vec_env::{Episode, VecEnv, rolling_mean, rolling_means};

/// The `[env]` table: which environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum EnvConfig {
    /// CartPole-v1 ([`CartPole`]).
    Cartpole {
        /// Time limit (500 for CartPole-v1).
        #[serde(default = "d_cartpole_limit")]
        max_episode_steps: usize,
    },
    /// A [`GridWorld`].
    Gridworld(GridConfig),
}

fn d_cartpole_limit() -> usize {
    500
}

/// The `[agent]` table: the algorithm and its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "algorithm", rename_all = "snake_case")]
pub enum AgentConfig {
    /// Proximal Policy Optimization.
    Ppo(PpoConfig),
    /// Deep Q-network.
    Dqn(DqnConfig),
}

impl AgentConfig {
    /// `ppo` or `dqn`.
    pub fn name(&self) -> &'static str {
        match self {
            AgentConfig::Ppo(_) => "ppo",
            AgentConfig::Dqn(_) => "dqn",
        }
    }
}

/// A reinforcement-learning run: what `anneal rl --config` reads.
///
/// ```
/// let config: anneal_rl::RlConfig = toml::from_str(r#"
///     total_steps = 2000
///     target_return = 475.0
///     [env]
///     name = "cartpole"
///     [agent]
///     algorithm = "ppo"
///     n_envs = 4
///     n_steps = 32
///     batch_size = 64
/// "#)?;
/// config.validate()?;
/// assert_eq!(config.window, 20);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RlConfig {
    /// Seeds the networks, the environments (copy `i` gets `seed + i`) and every random choice.
    #[serde(default)]
    pub seed: u64,
    /// Environment steps to run (all copies together), at most.
    pub total_steps: usize,
    /// The return that counts as solved: the run records the first
    /// environment step at which the mean return of the last `window`
    /// finished episodes reaches it.
    #[serde(default)]
    pub target_return: Option<f64>,
    /// Episodes in the rolling mean.
    #[serde(default = "d_window")]
    pub window: usize,
    /// End the run once the target is reached (at the end of that iteration).
    #[serde(default)]
    pub stop_at_target: bool,
    /// Environment steps between checkpoints (0: only at the end).
    #[serde(default)]
    pub checkpoint_every: usize,
    /// Episodes of the greedy policy evaluated at the end (0: none).
    #[serde(default = "d_eval_episodes")]
    pub eval_episodes: usize,
    /// The environment.
    pub env: EnvConfig,
    /// The agent.
    pub agent: AgentConfig,
}

fn d_window() -> usize {
    20
}
fn d_eval_episodes() -> usize {
    20
}

impl RlConfig {
    /// Checks every setting, the environment's included.
    pub fn validate(&self) -> Result<()> {
        if self.total_steps == 0 {
            return Err(setting("total_steps", 0, "at least 1"));
        }
        if self.window == 0 {
            return Err(setting("window", 0, "at least 1"));
        }
        if let Some(t) = self.target_return
            && !t.is_finite()
        {
            return Err(setting("target_return", t, "a finite number"));
        }
        match &self.env {
            EnvConfig::Cartpole { max_episode_steps } if *max_episode_steps == 0 => {
                return Err(setting("max_episode_steps", 0, "at least 1"));
            }
            EnvConfig::Gridworld(g) => {
                GridWorld::new(g.clone())?;
            }
            _ => {}
        }
        match &self.agent {
            AgentConfig::Ppo(p) => p.validate(),
            AgentConfig::Dqn(d) => d.validate(),
        }
    }
}

/// One iteration's record: environment steps so far and named values (losses,
/// learning rate, ε, the rolling mean return). Names are open-ended, so other
/// agents add theirs without changing readers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IterationRecord {
    /// 1-based iteration.
    pub iteration: usize,
    /// Environment steps after it.
    pub env_steps: usize,
    /// Episodes finished after it.
    pub episodes: usize,
    /// Seconds since the run started (this session's part of it, for a resumed run).
    pub seconds: f64,
    /// Named values.
    pub metrics: BTreeMap<String, f64>,
}

/// What a run produced.
#[derive(Debug)]
pub struct Outcome {
    /// Every finished episode.
    pub episodes: Vec<Episode>,
    /// Every iteration's record.
    pub records: Vec<IterationRecord>,
    /// Environment steps done.
    pub env_steps: usize,
    /// The first environment step at which the rolling mean reached the target.
    pub steps_to_target: Option<usize>,
    /// Wall-clock seconds of this session's training.
    pub seconds: f64,
    /// Environment steps this session ran, per second of it.
    pub steps_per_second: f64,
    /// The trained policy.
    pub policy: Policy,
    /// Returns of the greedy policy's evaluation episodes.
    pub evaluation: Vec<f64>,
    /// The environment's name.
    pub env_name: String,
}

/// A trained policy, on the host device (no autodiff).
// A policy is built once per run or evaluation; boxing the larger network buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Policy {
    /// PPO's actor-critic: acts on the policy's logits.
    ActorCritic(ActorCritic),
    /// DQN's Q-network: acts on the Q-values.
    QNetwork(Mlp),
}

impl Policy {
    /// The network's outputs for `n` observations.
    fn outputs(&self, observations: &[f32], n: usize, device: &Device) -> Result<Vec<f32>> {
        let x = rows_tensor(observations, n, device);
        let out = match self {
            Policy::ActorCritic(m) => m.forward(x),
            Policy::QNetwork(m) => m.forward(x),
        };
        host(out)
    }

    /// The greedy action for each of `n` observations.
    pub fn act(&self, observations: &[f32], n: usize, n_actions: usize, device: &Device) -> Result<Vec<usize>> {
        let out = self.outputs(observations, n, device)?;
        let width = out.len() / n.max(1);
        Ok((0..n).map(|i| argmax(&out[i * width..i * width + n_actions])).collect())
    }

    /// Saves the weights (burnpack).
    pub fn save(&self, path: &Path) -> Result<()> {
        let fail = |e: &dyn std::fmt::Display| RlError::File { path: path.to_path_buf(), message: e.to_string() };
        match self {
            Policy::ActorCritic(m) => m.clone().save_file(path).map_err(|e| fail(&e)),
            Policy::QNetwork(m) => m.clone().save_file(path).map_err(|e| fail(&e)),
        }
    }

    /// Builds the network `config` describes for `env` and loads the weights saved at `path`.
    pub fn load(config: &RlConfig, path: &Path, device: &Device) -> Result<Self> {
        let (obs_len, n_actions) = spaces(&config.env)?;
        let fail = |e: &dyn std::fmt::Display| RlError::File { path: path.to_path_buf(), message: e.to_string() };
        Ok(match &config.agent {
            AgentConfig::Ppo(p) => {
                let m = p.init_model(obs_len, n_actions, config.seed, device)?;
                Policy::ActorCritic(m.try_load_file(path).map_err(|e| fail(&e))?)
            }
            AgentConfig::Dqn(d) => {
                let m = q_config(d, obs_len, n_actions).init(config.seed, device)?;
                Policy::QNetwork(m.try_load_file(path).map_err(|e| fail(&e))?)
            }
        })
    }
}

fn q_config(d: &DqnConfig, obs_len: usize, n_actions: usize) -> MlpConfig {
    MlpConfig {
        input: obs_len,
        hidden: d.hidden.clone(),
        output: n_actions,
        activation: d.activation,
        dropout: 0.0,
        layer_dropout: vec![],
    }
}

/// Observation length and number of actions of the configured environment.
fn spaces(env: &EnvConfig) -> Result<(usize, usize)> {
    let e: Box<dyn Env> = match env {
        EnvConfig::Cartpole { max_episode_steps } => Box::new(CartPole::with_limit(*max_episode_steps)),
        EnvConfig::Gridworld(g) => Box::new(GridWorld::new(g.clone())?),
    };
    let n_actions =
        e.action_space().actions().ok_or_else(|| RlError::Mismatch("a discrete action space is needed".into()))?;
    Ok((e.observation_space().flat_len(), n_actions))
}

fn rows_tensor(values: &[f32], n: usize, device: &Device) -> Tensor<2> {
    let d = values.len() / n.max(1);
    Tensor::from_data(TensorData::new(values.to_vec(), [n, d]), device)
}

fn host(t: Tensor<2>) -> Result<Vec<f32>> {
    t.into_data().try_to_vec::<f32>().map_err(|e| RlError::Mismatch(format!("reading the network's output: {e:?}")))
}

/// Hooks into a run: progress per iteration.
pub trait Observer {
    /// After every iteration.
    fn on_iteration(&mut self, _record: &IterationRecord, _episodes: &[Episode]) {}
}

/// An observer that does nothing.
#[derive(Debug, Default)]
pub struct Quiet;

impl Observer for Quiet {}

/// Trains the agent `config` describes on `device` (a base device; the
/// update runs on its autodiff twin). With `checkpoint`, writes a checkpoint
/// there every `checkpoint_every` steps and at the end, and resumes from one
/// that is already there.
pub fn train(
    config: &RlConfig,
    device: &Device,
    checkpoint: Option<&Path>,
    observer: &mut dyn Observer,
) -> Result<Outcome> {
    config.validate()?;
    match &config.env {
        EnvConfig::Cartpole { max_episode_steps } => {
            let limit = *max_episode_steps;
            drive(config, device, checkpoint, observer, || Ok(CartPole::with_limit(limit)))
        }
        EnvConfig::Gridworld(g) => drive(config, device, checkpoint, observer, || GridWorld::new(g.clone())),
    }
}

/// Runs the greedy policy for `episodes` episodes on the configured
/// environment (seeds `seed..`); returns each episode's return.
pub fn evaluate(config: &RlConfig, policy: &Policy, episodes: usize, seed: u64, device: &Device) -> Result<Vec<f64>> {
    match &config.env {
        EnvConfig::Cartpole { max_episode_steps } => {
            evaluate_on(CartPole::with_limit(*max_episode_steps), policy, episodes, seed, device)
        }
        EnvConfig::Gridworld(g) => evaluate_on(GridWorld::new(g.clone())?, policy, episodes, seed, device),
    }
}

fn evaluate_on<E: Env>(mut env: E, policy: &Policy, episodes: usize, seed: u64, device: &Device) -> Result<Vec<f64>> {
    let n_actions = env.action_space().actions().unwrap_or(0);
    let mut returns = Vec::with_capacity(episodes);
    for k in 0..episodes {
        let mut obs = env.reset(Some(seed.wrapping_add(k as u64)));
        let mut total = 0.0;
        loop {
            let action = policy.act(&obs, 1, n_actions, device)?[0];
            let step = env.step(action)?;
            total += step.reward;
            if step.done() {
                break;
            }
            obs = step.observation;
        }
        returns.push(total);
    }
    Ok(returns)
}

/// What a checkpoint's `state.json` holds besides the weights and the optimiser.
#[derive(Serialize, Deserialize)]
#[serde(bound = "E: Serialize + DeserializeOwned")]
struct State<E> {
    version: u32,
    config: RlConfig,
    iteration: usize,
    records: Vec<ExactRecord>,
    vec_env: VecEnv<E>,
    rng: u64,
    /// PPO: whether each copy's current observation starts an episode.
    #[serde(default)]
    episode_starts: Vec<bool>,
    /// DQN: the replay buffer and the environment steps since the last target copy.
    #[serde(default)]
    replay: Option<ReplayBuffer>,
}

/// An [`IterationRecord`] with its numbers as `f64` bits.
#[derive(Serialize, Deserialize)]
struct ExactRecord {
    iteration: usize,
    env_steps: usize,
    episodes: usize,
    seconds: u64,
    metrics: BTreeMap<String, u64>,
}

impl From<&IterationRecord> for ExactRecord {
    fn from(r: &IterationRecord) -> Self {
        Self {
            iteration: r.iteration,
            env_steps: r.env_steps,
            episodes: r.episodes,
            seconds: r.seconds.to_bits(),
            metrics: r.metrics.iter().map(|(k, v)| (k.clone(), v.to_bits())).collect(),
        }
    }
}

impl From<ExactRecord> for IterationRecord {
    fn from(r: ExactRecord) -> Self {
        Self {
            iteration: r.iteration,
            env_steps: r.env_steps,
            episodes: r.episodes,
            seconds: f64::from_bits(r.seconds),
            metrics: r.metrics.into_iter().map(|(k, v)| (k, f64::from_bits(v))).collect(),
        }
    }
}

const STATE_VERSION: u32 = 1;
const STATE: &str = "state.json";
const MODEL: &str = "model.bpk";
const TARGET: &str = "target.bpk";
const OPTIMIZER: &str = "optimizer";

fn file_error(path: &Path, e: impl std::fmt::Display) -> RlError {
    RlError::File { path: path.to_path_buf(), message: e.to_string() }
}

/// The learner: PPO's or DQN's networks, optimiser and schedules.
enum Learner {
    Ppo { cfg: PpoConfig, model: Option<ActorCritic>, episode_starts: Vec<bool>, stepper: Stepper<ActorCritic> },
    Dqn { cfg: DqnConfig, model: Option<Mlp>, target: Mlp, buffer: ReplayBuffer, stepper: Stepper<Mlp> },
}

struct Run<'a> {
    config: &'a RlConfig,
    learner: Learner,
    optimizer: Optimizer,
    schedules: Schedules,
    rng: SeededRng,
    train_device: Device,
    device: Device,
    n_actions: usize,
    obs_len: usize,
    iteration: usize,
}

fn drive<E: Env + Clone + Serialize + DeserializeOwned>(
    config: &RlConfig,
    device: &Device,
    checkpoint: Option<&Path>,
    observer: &mut dyn Observer,
    make: impl FnMut() -> Result<E>,
) -> Result<Outcome> {
    let device = device.clone().without_autodiff();
    let train_device = device.clone().autodiff();
    let n_envs = match &config.agent {
        AgentConfig::Ppo(p) => p.n_envs,
        AgentConfig::Dqn(_) => 1,
    };
    let mut vec = VecEnv::new(n_envs, config.seed, make)?;
    let (obs_len, n_actions) = (vec.obs_len(), vec.n_actions());
    let (learner, optimizer, schedules) = match &config.agent {
        AgentConfig::Ppo(p) => {
            let model = p.init_model(obs_len, n_actions, config.seed, &train_device)?;
            let horizon = p.schedule_steps.unwrap_or(config.total_steps);
            let clip = p.clip_schedule.as_ref().map(|s| (s, p.clip_range));
            let schedules = Schedules::new(p.schedule.as_ref(), &p.optimizer, clip, horizon)?;
            let stepper = stepper(p.max_grad_norm)?;
            let learner =
                Learner::Ppo { cfg: p.clone(), model: Some(model), episode_starts: vec![true; n_envs], stepper };
            (learner, p.optimizer.init()?, schedules)
        }
        AgentConfig::Dqn(d) => {
            let model = q_config(d, obs_len, n_actions).init(config.seed, &train_device)?;
            let target = model.valid().fork(&device);
            let buffer = ReplayBuffer::new(d.buffer_size, obs_len);
            let stepper = stepper(d.max_grad_norm)?;
            let horizon = d.schedule_steps.unwrap_or(config.total_steps);
            let schedules = Schedules::new(d.schedule.as_ref(), &d.optimizer, None, horizon)?;
            let learner = Learner::Dqn { cfg: d.clone(), model: Some(model), target, buffer, stepper };
            (learner, d.optimizer.init()?, schedules)
        }
    };
    let mut run = Run {
        config,
        learner,
        optimizer,
        schedules,
        rng: SeededRng::stream(config.seed, anneal_core::Stream::Named("rl_actions", 0)),
        train_device,
        device: device.clone(),
        n_actions,
        obs_len,
        iteration: 0,
    };
    let mut records = Vec::new();
    // A checkpoint that is there is resumed from, or its damage reported
    // (restore verifies its manifest): never silently started over.
    if let Some(dir) = checkpoint
        && anneal_train::checkpoint::locate_with(dir, STATE).is_some()
    {
        let (v, r) = run.restore(dir)?;
        vec = v;
        records = r;
    }
    let start = Instant::now();
    let steps_at_start = vec.steps();
    let mut last_checkpoint = vec.steps();
    while vec.steps() < config.total_steps {
        if config.stop_at_target && steps_to_target(vec.episodes(), config).is_some() {
            break;
        }
        run.iteration += 1;
        let mut metrics = match &mut run.learner {
            Learner::Ppo { .. } => run.ppo_iteration(&mut vec)?,
            Learner::Dqn { .. } => run.dqn_iteration(&mut vec)?,
        };
        if let Some(m) = rolling_mean(vec.episodes(), config.window) {
            metrics.insert("mean_return".into(), m);
        }
        let record = IterationRecord {
            iteration: run.iteration,
            env_steps: vec.steps(),
            episodes: vec.episodes().len(),
            seconds: start.elapsed().as_secs_f64(),
            metrics,
        };
        observer.on_iteration(&record, vec.episodes());
        records.push(record);
        if let Some(dir) = checkpoint
            && config.checkpoint_every > 0
            && vec.steps() - last_checkpoint >= config.checkpoint_every
        {
            run.save(dir, &vec, &records)?;
            last_checkpoint = vec.steps();
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    if let Some(dir) = checkpoint {
        run.save(dir, &vec, &records)?;
    }
    let policy = run.policy();
    let evaluation = evaluate(config, &policy, config.eval_episodes, config.seed.wrapping_add(10_000), &device)?;
    let ran = vec.steps() - steps_at_start;
    Ok(Outcome {
        steps_to_target: steps_to_target(vec.episodes(), config),
        episodes: vec.episodes().to_vec(),
        records,
        env_steps: vec.steps(),
        seconds,
        steps_per_second: if seconds > 0.0 { ran as f64 / seconds } else { 0.0 },
        policy,
        evaluation,
        env_name: vec.name(),
    })
}

/// The environment step after which the mean of the last `window` episodes
/// first reached the target.
pub fn steps_to_target(episodes: &[Episode], config: &RlConfig) -> Option<usize> {
    let target = config.target_return?;
    rolling_means(episodes, config.window).into_iter().find(|&(_, mean)| mean >= target).map(|(step, _)| step)
}

impl Run<'_> {
    fn policy(&self) -> Policy {
        match &self.learner {
            Learner::Ppo { model, .. } => Policy::ActorCritic(
                model.as_ref().map(|m| m.valid().fork(&self.device)).unwrap_or_else(|| unreachable!()),
            ),
            Learner::Dqn { model, .. } => {
                Policy::QNetwork(model.as_ref().map(|m| m.valid().fork(&self.device)).unwrap_or_else(|| unreachable!()))
            }
        }
    }

    /// One PPO iteration: a rollout, GAE, `n_epochs` passes of minibatch updates.
    fn ppo_iteration<E: Env>(&mut self, vec: &mut VecEnv<E>) -> Result<BTreeMap<String, f64>> {
        let Learner::Ppo { cfg, model, episode_starts, stepper } = &mut self.learner else { unreachable!() };
        let (n_envs, d, a) = (vec.len(), self.obs_len, self.n_actions);
        let width = a + 1;
        let policy = model.as_ref().map(|m| m.valid().fork(&self.device)).unwrap_or_else(|| unreachable!());
        let rollout = cfg.n_steps * n_envs;
        let (mut obs, mut actions, mut rewards, mut values, mut log_probs, mut starts) = (
            Vec::with_capacity(rollout * d),
            Vec::with_capacity(rollout),
            Vec::with_capacity(rollout),
            Vec::with_capacity(rollout),
            Vec::with_capacity(rollout),
            Vec::with_capacity(rollout),
        );
        for _ in 0..cfg.n_steps {
            let current = vec.observations().to_vec();
            let out = host(policy.forward(rows_tensor(&current, n_envs, &self.device)))?;
            let mut chosen = Vec::with_capacity(n_envs);
            for e in 0..n_envs {
                let row = &out[e * width..(e + 1) * width];
                let lp = log_softmax_row(&row[..a]);
                if lp.iter().any(|v| !v.is_finite()) {
                    return Err(RlError::Diverged { what: "policy".into(), step: vec.steps() });
                }
                let probs: Vec<f64> = lp.iter().map(|v| v.exp()).collect();
                let action = self.rng.weighted(&probs);
                chosen.push(action);
                log_probs.push(lp[action] as f32);
                values.push(row[a]);
            }
            let step = vec.step(&chosen)?;
            let mut r: Vec<f32> = step.rewards.iter().map(|&x| x as f32).collect();
            // A time limit is not a terminal state: bootstrap from the value of
            // the last observation (Stable-Baselines3 does the same).
            let cut: Vec<usize> = (0..n_envs).filter(|&e| step.truncated[e]).collect();
            if !cut.is_empty() {
                let last: Vec<f32> =
                    cut.iter().flat_map(|&e| step.final_observations[e].clone().unwrap_or_default()).collect();
                let v = host(policy.forward(rows_tensor(&last, cut.len(), &self.device)))?;
                for (k, &e) in cut.iter().enumerate() {
                    r[e] = (f64::from(r[e]) + cfg.gamma * f64::from(v[k * width + a])) as f32;
                }
            }
            obs.extend_from_slice(&current);
            actions.extend(chosen);
            rewards.extend(r);
            starts.extend_from_slice(episode_starts);
            *episode_starts = (0..n_envs).map(|e| step.terminated[e] || step.truncated[e]).collect();
        }
        let out = host(policy.forward(rows_tensor(vec.observations(), n_envs, &self.device)))?;
        let last_values: Vec<f32> = (0..n_envs).map(|e| out[e * width + a]).collect();
        let (advantages, returns) =
            gae(&rewards, &values, &starts, &last_values, episode_starts, n_envs, cfg.gamma, cfg.gae_lambda);
        // Schedules step per environment step; the update uses the rate at
        // the steps done so far (Stable-Baselines3's progress_remaining).
        self.schedules.advance(rollout);
        self.schedules.apply(&mut self.optimizer);
        let clip_range = self.schedules.clip_range(cfg.clip_range);
        let objective = PpoObjective {
            n_actions: a,
            clip_range,
            vf_coef: cfg.vf_coef,
            ent_coef: cfg.ent_coef,
            normalize_advantage: cfg.normalize_advantage,
        };
        let mut sums: BTreeMap<String, f64> = BTreeMap::new();
        let mut batches = 0usize;
        let mut order: Vec<usize> = (0..rollout).collect();
        for _ in 0..cfg.n_epochs {
            self.rng.shuffle(&mut order);
            for chunk in order.chunks(cfg.batch_size) {
                let x: Vec<f32> = chunk.iter().flat_map(|&i| obs[i * d..(i + 1) * d].iter().copied()).collect();
                let rows: Vec<[f32; 4]> =
                    chunk.iter().map(|&i| [actions[i] as f32, log_probs[i], advantages[i], returns[i]]).collect();
                let batch = Batch {
                    input: rows_tensor(&x, chunk.len(), &self.train_device),
                    target: PpoObjective::target(&rows, &self.train_device),
                };
                let info = StepInfo { epoch: self.iteration, iteration: self.iteration, batch_len: chunk.len() };
                let current = model.take().unwrap_or_else(|| unreachable!());
                let (updated, output) =
                    stepper.step(current, &mut self.optimizer, batch, &objective, &info, &mut [])?;
                *model = Some(updated);
                for (name, value) in output.terms {
                    *sums.entry(format!("{name}_loss")).or_default() += scalar(value)?;
                }
                batches += 1;
            }
        }
        let mut metrics: BTreeMap<String, f64> =
            sums.into_iter().map(|(k, v)| (k, v / batches.max(1) as f64)).collect();
        if metrics.values().any(|v| !v.is_finite()) {
            return Err(RlError::Diverged { what: "loss".into(), step: vec.steps() });
        }
        // How far the update moved the policy on this rollout.
        let updated = model.as_ref().map(|m| m.valid().fork(&self.device)).unwrap_or_else(|| unreachable!());
        let out = host(updated.forward(rows_tensor(&obs, rollout, &self.device)))?;
        let (mut kl, mut clipped, mut entropy) = (0.0, 0usize, 0.0);
        for i in 0..rollout {
            let lp = log_softmax_row(&out[i * width..i * width + a]);
            entropy -= lp.iter().map(|l| l.exp() * l).sum::<f64>();
            let log_ratio = lp[actions[i]] - f64::from(log_probs[i]);
            kl += log_ratio.exp() - 1.0 - log_ratio;
            if (log_ratio.exp() - 1.0).abs() > clip_range {
                clipped += 1;
            }
        }
        metrics.insert("approx_kl".into(), kl / rollout as f64);
        metrics.insert("clip_fraction".into(), clipped as f64 / rollout as f64);
        metrics.insert("entropy".into(), entropy / rollout as f64);
        metrics.insert("clip_range".into(), clip_range);
        metrics.insert("learning_rate".into(), self.optimizer.learning_rate());
        Ok(metrics)
    }

    /// One DQN iteration: `train_freq` environment steps into the buffer, then
    /// `gradient_steps` updates once learning has started.
    fn dqn_iteration<E: Env>(&mut self, vec: &mut VecEnv<E>) -> Result<BTreeMap<String, f64>> {
        let total = self.config.total_steps;
        let Learner::Dqn { cfg, model, target, buffer, stepper } = &mut self.learner else { unreachable!() };
        let (n_envs, d, a) = (vec.len(), self.obs_len, self.n_actions);
        // The online network acts with the weights of the last training phase.
        let online =
            Policy::QNetwork(model.as_ref().map(|m| m.valid().fork(&self.device)).unwrap_or_else(|| unreachable!()));
        let sync_every = (cfg.target_update_interval / n_envs).max(1);
        let mut epsilon = cfg.epsilon(vec.steps(), total);
        for _ in 0..cfg.train_freq {
            let current = vec.observations().to_vec();
            epsilon = cfg.epsilon(vec.steps(), total);
            let chosen: Vec<usize> = if vec.steps() < cfg.learning_starts {
                (0..n_envs).map(|_| self.rng.below(a as u64) as usize).collect()
            } else {
                let greedy = online.act(&current, n_envs, a, &self.device)?;
                greedy
                    .into_iter()
                    .map(|g| if self.rng.next_f64() < epsilon { self.rng.below(a as u64) as usize } else { g })
                    .collect()
            };
            let step = vec.step(&chosen)?;
            self.schedules.advance(n_envs);
            let next_obs = vec.observations();
            for e in 0..n_envs {
                let next = step.final_observations[e].as_deref().unwrap_or(&next_obs[e * d..(e + 1) * d]);
                buffer.push(&current[e * d..(e + 1) * d], chosen[e], step.rewards[e] as f32, next, step.terminated[e]);
            }
            // Stable-Baselines3 counts calls of the vectorised step.
            if (vec.steps() / n_envs).is_multiple_of(sync_every) {
                *target = model.as_ref().map(|m| m.valid().fork(&self.device)).unwrap_or_else(|| unreachable!());
            }
            if vec.steps() >= total {
                break;
            }
        }
        // The rate at the steps done so far, for this phase's updates.
        self.schedules.apply(&mut self.optimizer);
        let mut metrics = BTreeMap::from([
            ("epsilon".to_string(), epsilon),
            ("learning_rate".to_string(), self.optimizer.learning_rate()),
        ]);
        if vec.steps() <= cfg.learning_starts || buffer.is_empty() {
            return Ok(metrics);
        }
        let objective = DqnObjective { n_actions: a };
        let mut loss_sum = 0.0;
        for _ in 0..cfg.gradient_steps {
            let batch = buffer.sample(cfg.batch_size, &mut self.rng);
            let n = batch.actions.len();
            let next_q_target = host(target.forward(rows_tensor(&batch.next_observations, n, &self.device)))?;
            let current = model.take().unwrap_or_else(|| unreachable!());
            let next_q_online = if cfg.double_dqn {
                Some(host(current.valid().fork(&self.device).forward(rows_tensor(
                    &batch.next_observations,
                    n,
                    &self.device,
                )))?)
            } else {
                None
            };
            let targets =
                td_targets(&batch.rewards, &batch.terminated, &next_q_target, next_q_online.as_deref(), a, cfg.gamma);
            let rows: Vec<f32> = batch.actions.iter().zip(&targets).flat_map(|(&act, &t)| [act as f32, t]).collect();
            let input = Batch {
                input: rows_tensor(&batch.observations, n, &self.train_device),
                target: anneal_data::Target::Values(Tensor::from_data(
                    TensorData::new(rows, [n, 2]),
                    &self.train_device,
                )),
            };
            let info = StepInfo { epoch: self.iteration, iteration: self.iteration, batch_len: n };
            let (updated, output) = stepper.step(current, &mut self.optimizer, input, &objective, &info, &mut [])?;
            *model = Some(updated);
            loss_sum += scalar(output.loss)?;
        }
        let loss = loss_sum / cfg.gradient_steps.max(1) as f64;
        if !loss.is_finite() {
            return Err(RlError::Diverged { what: "loss".into(), step: vec.steps() });
        }
        metrics.insert("huber_loss".into(), loss);
        Ok(metrics)
    }

    fn save<E: Env + Serialize + DeserializeOwned + Clone>(
        &self,
        dir: &Path,
        vec: &VecEnv<E>,
        records: &[IterationRecord],
    ) -> Result<()> {
        let (episode_starts, replay) = match &self.learner {
            Learner::Ppo { episode_starts, .. } => (episode_starts.clone(), None),
            Learner::Dqn { buffer, .. } => (Vec::new(), Some(buffer.clone())),
        };
        let state = State {
            version: STATE_VERSION,
            config: self.config.clone(),
            iteration: self.iteration,
            records: records.iter().map(ExactRecord::from).collect(),
            vec_env: vec.clone(),
            rng: self.rng.state(),
            episode_starts,
            replay,
        };
        anneal_train::checkpoint::write_folder(dir, STATE, |tmp| {
            let to_train =
                |e: RlError| anneal_train::TrainError::Checkpoint { path: tmp.to_path_buf(), message: e.to_string() };
            match &self.learner {
                Learner::Ppo { model, .. } => model
                    .clone()
                    .unwrap_or_else(|| unreachable!())
                    .save_file(tmp.join(MODEL))
                    .map_err(|e| to_train(file_error(tmp, e)))?,
                Learner::Dqn { model, target, .. } => {
                    model
                        .clone()
                        .unwrap_or_else(|| unreachable!())
                        .save_file(tmp.join(MODEL))
                        .map_err(|e| to_train(file_error(tmp, e)))?;
                    target.clone().save_file(tmp.join(TARGET)).map_err(|e| to_train(file_error(tmp, e)))?;
                }
            }
            self.optimizer.save_state(&tmp.join(OPTIMIZER))?;
            let json = serde_json::to_string(&state).map_err(|e| to_train(file_error(tmp, e)))?;
            std::fs::write(tmp.join(STATE), json).map_err(|e| to_train(file_error(tmp, e)))
        })?;
        Ok(())
    }

    /// Restores a checkpoint; returns the environments and the records so far.
    fn restore<E: Env + Serialize + DeserializeOwned>(
        &mut self,
        dir: &Path,
    ) -> Result<(VecEnv<E>, Vec<IterationRecord>)> {
        let found = anneal_train::checkpoint::open_folder_with(dir, STATE)?;
        let path = found.join(STATE);
        let text = std::fs::read_to_string(&path).map_err(|e| file_error(&path, e))?;
        let state: State<E> = serde_json::from_str(&text).map_err(|e| file_error(&path, e))?;
        if state.version != STATE_VERSION {
            return Err(file_error(
                &path,
                format!("format version {} is not the supported {STATE_VERSION}", state.version),
            ));
        }
        if &state.config != self.config {
            return Err(file_error(&path, "the checkpoint was written by a run with another config"));
        }
        self.iteration = state.iteration;
        self.rng = SeededRng::new(state.rng);
        let load = |name: &str| found.join(name);
        match &mut self.learner {
            Learner::Ppo { model, episode_starts, .. } => {
                let m = model.take().unwrap_or_else(|| unreachable!());
                *model = Some(m.try_load_file(load(MODEL)).map_err(|e| file_error(&load(MODEL), e))?);
                *episode_starts = state.episode_starts;
            }
            Learner::Dqn { model, target, buffer, .. } => {
                let m = model.take().unwrap_or_else(|| unreachable!());
                *model = Some(m.try_load_file(load(MODEL)).map_err(|e| file_error(&load(MODEL), e))?);
                *target = target.clone().try_load_file(load(TARGET)).map_err(|e| file_error(&load(TARGET), e))?;
                *buffer = state.replay.ok_or_else(|| file_error(&path, "the DQN checkpoint has no replay buffer"))?;
            }
        }
        self.schedules.advance(state.vec_env.steps());
        self.schedules.apply(&mut self.optimizer);
        self.optimizer.load_state(&load(OPTIMIZER), &self.train_device)?;
        Ok((state.vec_env, state.records.into_iter().map(IterationRecord::from).collect()))
    }
}

fn scalar(t: Tensor<1>) -> Result<f64> {
    let v: Vec<f32> =
        t.into_data().try_to_vec::<f32>().map_err(|e| RlError::Mismatch(format!("reading a loss: {e:?}")))?;
    Ok(v.first().copied().map_or(f64::NAN, f64::from))
}
