//! The environment contract, Gymnasium's: `reset(seed) → observation`,
//! `step(action) → (observation, reward, terminated, truncated)`, with the
//! observation and action spaces.
//!
//! `terminated` means the episode reached a terminal state of the task (the
//! pole fell, the goal was reached): its value is 0 from there. `truncated`
//! means it was cut short from outside (a time limit): the state still has a
//! value, which an agent bootstraps. Mixing the two up is the classic bug
//! Gymnasium 0.26 split `done` in two to prevent.

use serde::{Deserialize, Serialize};

use crate::error::Result;

/// The set of observations or actions an environment uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Space {
    /// The integers `0..n` (Gymnasium's `Discrete(n)`).
    Discrete {
        /// Number of values.
        n: usize,
    },
    /// Vectors of `low.len()` floats, each within `[low[i], high[i]]`
    /// (infinite bounds allowed; Gymnasium's `Box`).
    Box {
        /// Lower bounds.
        low: Vec<f32>,
        /// Upper bounds.
        high: Vec<f32>,
    },
}

impl Space {
    /// Length of an observation vector from this space: `low.len()` for a box,
    /// `n` for a discrete space (observed one-hot).
    pub fn flat_len(&self) -> usize {
        match self {
            Space::Discrete { n } => *n,
            Space::Box { low, .. } => low.len(),
        }
    }

    /// The number of actions of a discrete space (`None` for a box).
    pub fn actions(&self) -> Option<usize> {
        match self {
            Space::Discrete { n } => Some(*n),
            Space::Box { .. } => None,
        }
    }

    /// Whether `x` lies in the space.
    pub fn contains(&self, x: &[f32]) -> bool {
        match self {
            Space::Discrete { n } => x.len() == *n,
            Space::Box { low, high } => {
                x.len() == low.len() && x.iter().zip(low.iter().zip(high)).all(|(v, (l, h))| *v >= *l && *v <= *h)
            }
        }
    }
}

/// What one step returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The observation after the action.
    pub observation: Vec<f32>,
    /// The reward for the transition.
    pub reward: f64,
    /// The episode reached a terminal state of the task.
    pub terminated: bool,
    /// The episode was cut short from outside (a time limit).
    pub truncated: bool,
}

impl Step {
    /// Whether the episode is over (terminated or truncated).
    pub fn done(&self) -> bool {
        self.terminated || self.truncated
    }
}

/// An environment with discrete actions (every environment of this crate; a
/// continuous-action agent would add a second action type).
///
/// Checkpoints need an environment's whole state, generator included: the
/// environments here serialise (`serde`), and the vectorised environment saves
/// them with the agent, so a resumed run continues bit for bit.
///
/// ```
/// use anneal_rl::{CartPole, Env};
///
/// let mut env = CartPole::new();
/// let first = env.reset(Some(42));
/// assert_eq!(first.len(), 4);
/// let step = env.step(1)?;
/// assert_eq!(step.reward, 1.0);
/// assert!(!step.done());
/// # Ok::<(), anneal_rl::RlError>(())
/// ```
pub trait Env: Send {
    /// The observations' space.
    fn observation_space(&self) -> Space;

    /// The actions' space.
    fn action_space(&self) -> Space;

    /// Starts an episode and returns its first observation. `Some(seed)`
    /// re-seeds the environment's generator (Gymnasium's `reset(seed=...)`);
    /// `None` continues its stream.
    fn reset(&mut self, seed: Option<u64>) -> Vec<f32>;

    /// Takes `action`. Errors: an action outside the space, a step before the
    /// first reset or after the episode ended.
    fn step(&mut self, action: usize) -> Result<Step>;

    /// The environment's name in reports (`CartPole-v1`).
    fn name(&self) -> String;
}
