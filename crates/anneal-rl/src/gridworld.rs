//! A gridworld: a small, fully known Markov decision process, so the best
//! possible return is computable (value iteration) and an agent's can be
//! checked against it. With it, tabular Q-learning (Watkins 1989).

use anneal_core::SeededRng;
use serde::{Deserialize, Serialize};

use crate::env::{Env, Space, Step};
use crate::error::{Result, RlError, setting};

/// Moves: up, right, down, left (actions 0..4).
const MOVES: [(isize, isize); 4] = [(-1, 0), (0, 1), (1, 0), (0, -1)];

/// What a cell is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Cell {
    Free,
    Wall,
    Goal,
    Pit,
}

/// The settings of a [`GridWorld`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridConfig {
    /// Rows of the map: `S` start, `G` goal (terminal), `X` pit (terminal),
    /// `#` wall, `.` free.
    pub layout: Vec<String>,
    /// Reward of every move that does not end in the goal or a pit.
    #[serde(default = "default_step_reward")]
    pub step_reward: f64,
    /// Reward of reaching the goal.
    #[serde(default = "default_goal_reward")]
    pub goal_reward: f64,
    /// Reward of falling into a pit.
    #[serde(default = "default_pit_reward")]
    pub pit_reward: f64,
    /// Probability that a move goes in a uniformly random direction instead.
    #[serde(default)]
    pub slip: f64,
    /// Episodes are truncated after this many steps.
    #[serde(default = "default_grid_limit")]
    pub max_episode_steps: usize,
}

fn default_step_reward() -> f64 {
    -0.04
}
fn default_goal_reward() -> f64 {
    1.0
}
fn default_pit_reward() -> f64 {
    -1.0
}
fn default_grid_limit() -> usize {
    100
}

impl Default for GridConfig {
    /// A 5×6 map with walls and two pits between the start and the goal.
    fn default() -> Self {
        Self {
            layout: ["S..#..", ".#...X", ".#.#..", "...#X.", "X....G"].map(String::from).to_vec(),
            step_reward: default_step_reward(),
            goal_reward: default_goal_reward(),
            pit_reward: default_pit_reward(),
            slip: 0.0,
            max_episode_steps: default_grid_limit(),
        }
    }
}

/// A grid of cells an agent walks (actions 0 up, 1 right, 2 down, 3 left;
/// walking into a wall or the border stays put). The observation is the
/// current cell one-hot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridWorld {
    config: GridConfig,
    cells: Vec<Cell>,
    rows: usize,
    cols: usize,
    start: usize,
    position: Option<usize>,
    steps: usize,
    done: bool,
    rng: u64,
}

impl GridWorld {
    /// Builds the grid. Errors: rows of different lengths, an unknown
    /// character, not exactly one start, no goal, a slip outside `[0, 1]`, a
    /// zero step limit.
    pub fn new(config: GridConfig) -> Result<Self> {
        let rows = config.layout.len();
        let cols = config.layout.first().map_or(0, |r| r.chars().count());
        if rows == 0 || cols == 0 {
            return Err(RlError::Layout("the map is empty".into()));
        }
        let mut cells = Vec::with_capacity(rows * cols);
        let mut starts = Vec::new();
        for (r, line) in config.layout.iter().enumerate() {
            if line.chars().count() != cols {
                return Err(RlError::Layout(format!(
                    "row {} has {} cells, row 1 has {cols}",
                    r + 1,
                    line.chars().count()
                )));
            }
            for (c, ch) in line.chars().enumerate() {
                cells.push(match ch {
                    '.' => Cell::Free,
                    'S' => {
                        starts.push(r * cols + c);
                        Cell::Free
                    }
                    '#' => Cell::Wall,
                    'G' => Cell::Goal,
                    'X' => Cell::Pit,
                    other => {
                        return Err(RlError::Layout(format!(
                            "unknown cell {other:?} at row {}, column {} (use S G X # .)",
                            r + 1,
                            c + 1
                        )));
                    }
                });
            }
        }
        let [start] = starts[..] else {
            return Err(RlError::Layout(format!("the map needs exactly one start S, it has {}", starts.len())));
        };
        if !cells.contains(&Cell::Goal) {
            return Err(RlError::Layout("the map has no goal G".into()));
        }
        if !(0.0..=1.0).contains(&config.slip) {
            return Err(setting("slip", config.slip, "a probability in [0, 1]"));
        }
        if config.max_episode_steps == 0 {
            return Err(setting("max_episode_steps", 0, "at least 1"));
        }
        for (name, v) in [
            ("step_reward", config.step_reward),
            ("goal_reward", config.goal_reward),
            ("pit_reward", config.pit_reward),
        ] {
            if !v.is_finite() {
                return Err(setting(name, v, "a finite number"));
            }
        }
        Ok(Self { config, cells, rows, cols, start, position: None, steps: 0, done: false, rng: 0 })
    }

    /// Number of cells (states).
    pub fn n_states(&self) -> usize {
        self.cells.len()
    }

    /// The start cell's index (`row · columns + column`).
    pub fn start(&self) -> usize {
        self.start
    }

    fn is_terminal(&self, s: usize) -> bool {
        matches!(self.cells[s], Cell::Goal | Cell::Pit)
    }

    /// The cell a deterministic move of `action` from `s` reaches.
    fn target(&self, s: usize, action: usize) -> usize {
        let (dr, dc) = MOVES[action];
        let (r, c) = ((s / self.cols) as isize + dr, (s % self.cols) as isize + dc);
        if r < 0 || c < 0 || r >= self.rows as isize || c >= self.cols as isize {
            return s;
        }
        let next = r as usize * self.cols + c as usize;
        if self.cells[next] == Cell::Wall { s } else { next }
    }

    fn reward(&self, next: usize) -> f64 {
        match self.cells[next] {
            Cell::Goal => self.config.goal_reward,
            Cell::Pit => self.config.pit_reward,
            _ => self.config.step_reward,
        }
    }

    /// The transitions of `action` in `s`: `(probability, next state, reward,
    /// next is terminal)`, the model value iteration plans with.
    pub fn transitions(&self, s: usize, action: usize) -> Vec<(f64, usize, f64, bool)> {
        let slip = self.config.slip;
        let mut out = Vec::with_capacity(5);
        let mut push = |p: f64, next: usize| {
            if p > 0.0 {
                out.push((p, next, self.reward(next), self.is_terminal(next)));
            }
        };
        push(1.0 - slip, self.target(s, action));
        for a in 0..4 {
            push(slip / 4.0, self.target(s, a));
        }
        out
    }

    fn one_hot(&self, s: usize) -> Vec<f32> {
        let mut v = vec![0.0; self.cells.len()];
        v[s] = 1.0;
        v
    }

    /// The cell index of a one-hot observation.
    pub fn cell_of(observation: &[f32]) -> Option<usize> {
        observation.iter().position(|&v| v == 1.0)
    }
}

impl Env for GridWorld {
    fn observation_space(&self) -> Space {
        Space::Discrete { n: self.cells.len() }
    }

    fn action_space(&self) -> Space {
        Space::Discrete { n: 4 }
    }

    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        if let Some(seed) = seed {
            self.rng = SeededRng::stream(seed, anneal_core::Stream::Named("gridworld", 0)).state();
        }
        self.position = Some(self.start);
        self.steps = 0;
        self.done = false;
        self.one_hot(self.start)
    }

    fn step(&mut self, action: usize) -> Result<Step> {
        if action >= 4 {
            return Err(RlError::Action { action, n: 4 });
        }
        let s = self.position.ok_or(RlError::NotReset)?;
        if self.done {
            return Err(RlError::EpisodeOver);
        }
        let mut rng = SeededRng::new(self.rng);
        let moved =
            if self.config.slip > 0.0 && rng.next_f64() < self.config.slip { rng.below(4) as usize } else { action };
        self.rng = rng.state();
        let next = self.target(s, moved);
        self.position = Some(next);
        self.steps += 1;
        let terminated = self.is_terminal(next);
        let truncated = self.steps >= self.config.max_episode_steps;
        self.done = terminated || truncated;
        Ok(Step { observation: self.one_hot(next), reward: self.reward(next), terminated, truncated })
    }

    fn name(&self) -> String {
        format!("GridWorld {}x{}", self.rows, self.cols)
    }
}

/// Optimal state values and a greedy policy of a gridworld.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueIteration {
    /// `V*(s)` per cell (0 for terminal cells and walls).
    pub values: Vec<f64>,
    /// A greedy action per cell.
    pub policy: Vec<usize>,
    /// Sweeps until the largest change fell below the tolerance.
    pub sweeps: usize,
}

/// Value iteration (Bellman 1957): `V(s) ← max_a Σ p·(r + γ·V(s'))` until no
/// value moves by more than `tolerance`.
pub fn value_iteration(world: &GridWorld, gamma: f64, tolerance: f64) -> Result<ValueIteration> {
    if !(0.0..1.0).contains(&gamma) {
        return Err(setting("gamma", gamma, "in [0, 1) for value iteration to converge"));
    }
    let n = world.n_states();
    let mut values = vec![0.0; n];
    let mut sweeps = 0;
    let q = |values: &[f64], s: usize, a: usize| -> f64 {
        world
            .transitions(s, a)
            .iter()
            .map(|&(p, next, r, term)| p * (r + if term { 0.0 } else { gamma * values[next] }))
            .sum()
    };
    loop {
        sweeps += 1;
        let mut delta: f64 = 0.0;
        for s in 0..n {
            if world.is_terminal(s) || world.cells[s] == Cell::Wall {
                continue;
            }
            let best = (0..4).map(|a| q(&values, s, a)).fold(f64::NEG_INFINITY, f64::max);
            delta = delta.max((best - values[s]).abs());
            values[s] = best;
        }
        if delta < tolerance || sweeps >= 100_000 {
            break;
        }
    }
    let policy = (0..n)
        .map(|s| (0..4).fold(0, |best, a| if q(&values, s, a) > q(&values, s, best) + 1e-12 { a } else { best }))
        .collect();
    Ok(ValueIteration { values, policy, sweeps })
}

/// Tabular Q-learning (Watkins 1989): `Q(s,a) ← Q(s,a) + α·(r + γ·max Q(s',·) − Q(s,a))`,
/// acting ε-greedily with ε decaying linearly from `epsilon_start` to
/// `epsilon_end` over `decay_episodes` episodes. Truncated episodes bootstrap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QLearning {
    /// Step size α.
    pub alpha: f64,
    /// Discount γ.
    pub gamma: f64,
    /// ε at the first episode.
    pub epsilon_start: f64,
    /// ε from `decay_episodes` on.
    pub epsilon_end: f64,
    /// Episodes over which ε decays.
    pub decay_episodes: usize,
}

impl QLearning {
    /// Learns `Q` over `episodes` episodes; returns the table (`[state][action]`)
    /// and each episode's undiscounted return.
    pub fn learn(&self, env: &mut GridWorld, episodes: usize, seed: u64) -> Result<(Vec<[f64; 4]>, Vec<f64>)> {
        for (name, v) in
            [("alpha", self.alpha), ("epsilon_start", self.epsilon_start), ("epsilon_end", self.epsilon_end)]
        {
            if !(0.0..=1.0).contains(&v) {
                return Err(setting(name, v, "in [0, 1]"));
            }
        }
        if !(0.0..=1.0).contains(&self.gamma) {
            return Err(setting("gamma", self.gamma, "in [0, 1]"));
        }
        let mut q = vec![[0.0; 4]; env.n_states()];
        let mut rng = SeededRng::stream(seed, anneal_core::Stream::Named("q_learning", 0));
        let mut returns = Vec::with_capacity(episodes);
        for episode in 0..episodes {
            let frac = (episode as f64 / self.decay_episodes.max(1) as f64).min(1.0);
            let epsilon = self.epsilon_start + (self.epsilon_end - self.epsilon_start) * frac;
            let mut s = GridWorld::cell_of(&env.reset(Some(seed.wrapping_add(episode as u64)))).unwrap_or(env.start);
            let mut total = 0.0;
            loop {
                let a = if rng.next_f64() < epsilon { rng.below(4) as usize } else { greedy(&q[s]) };
                let step = env.step(a)?;
                let next = GridWorld::cell_of(&step.observation).unwrap_or(s);
                total += step.reward;
                let bootstrap = if step.terminated {
                    0.0
                } else {
                    self.gamma * q[next].iter().cloned().fold(f64::NEG_INFINITY, f64::max)
                };
                q[s][a] += self.alpha * (step.reward + bootstrap - q[s][a]);
                s = next;
                if step.done() {
                    break;
                }
            }
            returns.push(total);
        }
        Ok((q, returns))
    }
}

/// The first action with the largest value.
pub fn greedy(values: &[f64]) -> usize {
    (0..values.len()).fold(0, |best, a| if values[a] > values[best] { a } else { best })
}

/// Runs the greedy policy of `q` from the start; returns the discounted and
/// the undiscounted return.
pub fn greedy_return(env: &mut GridWorld, q: &[[f64; 4]], gamma: f64) -> Result<(f64, f64)> {
    let mut s = GridWorld::cell_of(&env.reset(None)).unwrap_or(env.start);
    let (mut discounted, mut total, mut discount) = (0.0, 0.0, 1.0);
    loop {
        let step = env.step(greedy(&q[s]))?;
        discounted += discount * step.reward;
        total += step.reward;
        discount *= gamma;
        s = GridWorld::cell_of(&step.observation).unwrap_or(s);
        if step.done() {
            return Ok((discounted, total));
        }
    }
}
