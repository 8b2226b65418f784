//! Several copies of an environment stepped together, resetting each one as
//! its episode ends (Stable-Baselines3's `VecEnv` convention), with the
//! episode statistics a `Monitor` would record.

use serde::{Deserialize, Serialize};

use crate::env::{Env, Space};
use crate::error::{Result, RlError};

/// One finished episode.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    /// Undiscounted return.
    #[serde(with = "crate::bits::f64_one")]
    pub ret: f64,
    /// Steps.
    pub length: usize,
    /// Environment steps (all copies together) done after the vector step in
    /// which it ended (Stable-Baselines3's `num_timesteps` at that point).
    pub end_step: usize,
    /// Whether a time limit cut it (rather than a terminal state).
    pub truncated: bool,
}

/// What one step of every copy returned.
#[derive(Debug, Clone, PartialEq)]
pub struct VecStep {
    /// Rewards, one per copy.
    pub rewards: Vec<f64>,
    /// Whether each copy's episode terminated.
    pub terminated: Vec<bool>,
    /// Whether each copy's episode was truncated (and not terminated).
    pub truncated: Vec<bool>,
    /// For each copy whose episode ended: its last observation (the copy has
    /// already been reset, and [`VecEnv::observations`] holds the new first one).
    pub final_observations: Vec<Option<Vec<f32>>>,
}

/// `n` copies of an environment. Copy `i` is first reset with seed `seed + i`;
/// later resets continue each copy's own stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VecEnv<E> {
    envs: Vec<E>,
    #[serde(with = "crate::bits::f32_vec")]
    observations: Vec<f32>,
    obs_len: usize,
    #[serde(with = "crate::bits::f64_vec")]
    returns: Vec<f64>,
    lengths: Vec<usize>,
    episodes: Vec<Episode>,
    steps: usize,
}

impl<E: Env> VecEnv<E> {
    /// Resets the copies made by `make` (called `n` times). Errors: `n` zero,
    /// copies with different spaces, an action space that is not discrete.
    pub fn new(n: usize, seed: u64, mut make: impl FnMut() -> Result<E>) -> Result<Self> {
        if n == 0 {
            return Err(crate::error::setting("n_envs", 0, "at least 1"));
        }
        let mut envs = (0..n).map(|_| make()).collect::<Result<Vec<E>>>()?;
        let space = envs[0].observation_space();
        if envs.iter().any(|e| e.observation_space() != space || e.action_space() != envs[0].action_space()) {
            return Err(RlError::Mismatch("the environment copies have different spaces".into()));
        }
        match envs[0].action_space().actions() {
            None => return Err(RlError::Mismatch("the agents here need a discrete action space".into())),
            Some(0) => return Err(RlError::Mismatch("the action space has no actions (Discrete(0))".into())),
            Some(_) => {}
        }
        if space.flat_len() == 0 {
            return Err(RlError::Mismatch("the observation space is empty".into()));
        }
        let obs_len = space.flat_len();
        let mut observations = Vec::with_capacity(n * obs_len);
        for (i, env) in envs.iter_mut().enumerate() {
            let first = env.reset(Some(seed.wrapping_add(i as u64)));
            check_len(&first, obs_len)?;
            observations.extend(first);
        }
        Ok(Self {
            envs,
            observations,
            obs_len,
            returns: vec![0.0; n],
            lengths: vec![0; n],
            episodes: Vec::new(),
            steps: 0,
        })
    }

    /// Number of copies.
    pub fn len(&self) -> usize {
        self.envs.len()
    }

    /// Whether there are no copies (never: [`new`](Self::new) refuses it).
    pub fn is_empty(&self) -> bool {
        self.envs.is_empty()
    }

    /// Length of one observation.
    pub fn obs_len(&self) -> usize {
        self.obs_len
    }

    /// Number of actions.
    pub fn n_actions(&self) -> usize {
        self.envs[0].action_space().actions().unwrap_or(0)
    }

    /// The observation space.
    pub fn observation_space(&self) -> Space {
        self.envs[0].observation_space()
    }

    /// The environment's name.
    pub fn name(&self) -> String {
        self.envs[0].name()
    }

    /// The current observations, `len() × obs_len()` row-major.
    pub fn observations(&self) -> &[f32] {
        &self.observations
    }

    /// Episodes finished so far, in order.
    pub fn episodes(&self) -> &[Episode] {
        &self.episodes
    }

    /// Environment steps so far (all copies together).
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Steps every copy with its action; copies whose episode ended are reset.
    pub fn step(&mut self, actions: &[usize]) -> Result<VecStep> {
        if actions.len() != self.envs.len() {
            return Err(RlError::Mismatch(format!("{} actions for {} environments", actions.len(), self.envs.len())));
        }
        let n = self.envs.len();
        let mut out = VecStep {
            rewards: Vec::with_capacity(n),
            terminated: Vec::with_capacity(n),
            truncated: Vec::with_capacity(n),
            final_observations: vec![None; n],
        };
        for (i, (env, &action)) in self.envs.iter_mut().zip(actions).enumerate() {
            let step = env.step(action)?;
            check_len(&step.observation, self.obs_len)?;
            self.returns[i] += step.reward;
            self.lengths[i] += 1;
            let row = &mut self.observations[i * self.obs_len..(i + 1) * self.obs_len];
            if step.done() {
                self.episodes.push(Episode {
                    ret: self.returns[i],
                    length: self.lengths[i],
                    end_step: self.steps + n,
                    truncated: !step.terminated,
                });
                self.returns[i] = 0.0;
                self.lengths[i] = 0;
                row.copy_from_slice(&env.reset(None));
                out.final_observations[i] = Some(step.observation);
            } else {
                row.copy_from_slice(&step.observation);
            }
            out.rewards.push(step.reward);
            out.terminated.push(step.terminated);
            out.truncated.push(step.truncated && !step.terminated);
        }
        self.steps += n;
        Ok(out)
    }
}

fn check_len(observation: &[f32], expected: usize) -> Result<()> {
    if observation.len() != expected {
        return Err(RlError::Mismatch(format!(
            "an observation has {} values, the observation space {expected}",
            observation.len()
        )));
    }
    Ok(())
}

/// The mean return of every `window` consecutive episodes, each with the
/// environment step at which its last episode ended: the rolling-mean curve
/// the plots draw and "solved" is read from.
pub fn rolling_means(episodes: &[Episode], window: usize) -> Vec<(usize, f64)> {
    if window == 0 || episodes.len() < window {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(episodes.len() - window + 1);
    let mut sum: f64 = episodes[..window].iter().map(|e| e.ret).sum();
    out.push((episodes[window - 1].end_step, sum / window as f64));
    for i in window..episodes.len() {
        sum += episodes[i].ret - episodes[i - window].ret;
        out.push((episodes[i].end_step, sum / window as f64));
    }
    out
}

/// The mean return of the last `window` episodes, once there are that many.
pub fn rolling_mean(episodes: &[Episode], window: usize) -> Option<f64> {
    (window > 0 && episodes.len() >= window)
        .then(|| episodes[episodes.len() - window..].iter().map(|e| e.ret).sum::<f64>() / window as f64)
}
