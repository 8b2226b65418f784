//! CartPole-v1 (Barto, Sutton & Anderson 1983) with Gymnasium's exact
//! dynamics, termination limits, reward and 500-step time limit.
//!
//! The state is kept in `f64` and observations are its `f32` cast, as
//! Gymnasium does; the step is its explicit Euler integration, in its order of
//! operations, so trajectories match Gymnasium's to the last bits of an `f64`
//! (checked against trajectories recorded from gymnasium,
//! `examples/reference/cartpole_golden.py`). Only the reset draw differs:
//! Gymnasium's generator is NumPy's PCG64, this one is the workspace's seeded
//! generator; both draw each state variable from U(−0.05, 0.05).

use anneal_core::SeededRng;
use serde::{Deserialize, Serialize};

use crate::env::{Env, Space, Step};
use crate::error::{Result, RlError};

const GRAVITY: f64 = 9.8;
const MASS_CART: f64 = 1.0;
const MASS_POLE: f64 = 0.1;
const TOTAL_MASS: f64 = MASS_POLE + MASS_CART;
/// Half the pole's length.
const LENGTH: f64 = 0.5;
const POLE_MASS_LENGTH: f64 = MASS_POLE * LENGTH;
const FORCE_MAG: f64 = 10.0;
/// Seconds between state updates.
const TAU: f64 = 0.02;
/// The pole may lean at most 12 degrees.
const THETA_THRESHOLD: f64 = 12.0 * 2.0 * std::f64::consts::PI / 360.0;
/// The cart may move at most 2.4 from the centre.
const X_THRESHOLD: f64 = 2.4;

/// CartPole-v1: push a cart left (action 0) or right (action 1) to keep the
/// pole on it upright. Observation: cart position, cart velocity, pole angle,
/// pole angular velocity. Reward 1 per step, including the step that ends the
/// episode; the episode terminates when the pole leans more than 12° or the
/// cart leaves ±2.4, and is truncated after `max_episode_steps` (500) steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CartPole {
    #[serde(with = "crate::bits::f64x4_opt")]
    state: Option<[f64; 4]>,
    steps: usize,
    done: bool,
    max_episode_steps: usize,
    rng: u64,
}

impl Default for CartPole {
    fn default() -> Self {
        Self::new()
    }
}

impl CartPole {
    /// CartPole-v1 with its 500-step limit.
    pub fn new() -> Self {
        Self::with_limit(500)
    }

    /// CartPole with another time limit (CartPole-v0 used 200).
    pub fn with_limit(max_episode_steps: usize) -> Self {
        Self { state: None, steps: 0, done: false, max_episode_steps, rng: 0 }
    }

    /// Starts an episode from a given state (for replaying recorded
    /// trajectories); returns its observation.
    pub fn reset_to(&mut self, state: [f64; 4]) -> Vec<f32> {
        self.state = Some(state);
        self.steps = 0;
        self.done = false;
        observation(&state)
    }

    /// The internal `f64` state (`None` before the first reset).
    pub fn state(&self) -> Option<[f64; 4]> {
        self.state
    }
}

fn observation(s: &[f64; 4]) -> Vec<f32> {
    s.iter().map(|&v| v as f32).collect()
}

impl Env for CartPole {
    fn observation_space(&self) -> Space {
        // Gymnasium's bounds: twice the termination limits for position and
        // angle, unbounded velocities.
        let high = [(X_THRESHOLD * 2.0) as f32, f32::MAX, (THETA_THRESHOLD * 2.0) as f32, f32::MAX];
        Space::Box { low: high.iter().map(|h| -h).collect(), high: high.to_vec() }
    }

    fn action_space(&self) -> Space {
        Space::Discrete { n: 2 }
    }

    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        if let Some(seed) = seed {
            self.rng = SeededRng::stream(seed, anneal_core::Stream::Named("cartpole_reset", 0)).state();
        }
        let mut rng = SeededRng::new(self.rng);
        let mut state = [0.0; 4];
        for v in &mut state {
            *v = -0.05 + 0.1 * rng.next_f64();
        }
        self.rng = rng.state();
        self.reset_to(state)
    }

    fn step(&mut self, action: usize) -> Result<Step> {
        if action > 1 {
            return Err(RlError::Action { action, n: 2 });
        }
        let [mut x, mut x_dot, mut theta, mut theta_dot] = self.state.ok_or(RlError::NotReset)?;
        if self.done {
            return Err(RlError::EpisodeOver);
        }
        let force = if action == 1 { FORCE_MAG } else { -FORCE_MAG };
        let cos_theta = theta.cos();
        let sin_theta = theta.sin();
        // Gymnasium's CartPoleEnv.step, term by term (the order of the
        // floating-point operations is kept).
        let temp = (force + POLE_MASS_LENGTH * (theta_dot * theta_dot) * sin_theta) / TOTAL_MASS;
        let theta_acc = (GRAVITY * sin_theta - cos_theta * temp)
            / (LENGTH * (4.0 / 3.0 - MASS_POLE * (cos_theta * cos_theta) / TOTAL_MASS));
        let x_acc = temp - POLE_MASS_LENGTH * theta_acc * cos_theta / TOTAL_MASS;
        x += TAU * x_dot;
        x_dot += TAU * x_acc;
        theta += TAU * theta_dot;
        theta_dot += TAU * theta_acc;
        let state = [x, x_dot, theta, theta_dot];
        self.state = Some(state);
        self.steps += 1;
        let terminated =
            !(-X_THRESHOLD..=X_THRESHOLD).contains(&x) || !(-THETA_THRESHOLD..=THETA_THRESHOLD).contains(&theta);
        // Gymnasium's TimeLimit: truncated at the limit even when the last
        // step also terminated (an agent must look at `terminated` first).
        let truncated = self.steps >= self.max_episode_steps;
        self.done = terminated || truncated;
        Ok(Step { observation: observation(&state), reward: 1.0, terminated, truncated })
    }

    fn name(&self) -> String {
        if self.max_episode_steps == 500 {
            "CartPole-v1".into()
        } else {
            format!("CartPole (limit {})", self.max_episode_steps)
        }
    }
}
