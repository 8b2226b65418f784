//! Environments, exploration and tabular learning.

use anneal_rl::bandit::{Arms, Strategy, lai_robbins, mean_regret, play, ucb1_bound};
use anneal_rl::gridworld::{GridConfig, QLearning, greedy_return, value_iteration};
use anneal_rl::{CartPole, Env, GridWorld, RlError, Space, VecEnv};

/// Tabular Q-learning reaches the optimal return value iteration computes,
/// on the default map (walls and pits between start and goal) and on a
/// slippery one planned for its expected value.
#[test]
fn q_learning_reaches_the_value_iteration_optimum() {
    let gamma = 0.95;
    let mut world = GridWorld::new(GridConfig::default()).unwrap();
    let optimum = value_iteration(&world, gamma, 1e-12).unwrap();
    let v_start = optimum.values[world.start()];
    assert!(v_start > 0.0, "the goal is reachable: {v_start}");
    let learner = QLearning { alpha: 0.5, gamma, epsilon_start: 1.0, epsilon_end: 0.05, decay_episodes: 300 };
    let (q, returns) = learner.learn(&mut world, 600, 11).unwrap();
    let (discounted, undiscounted) = greedy_return(&mut world, &q, gamma).unwrap();
    assert!((discounted - v_start).abs() < 1e-9, "greedy return {discounted} vs optimal {v_start}");
    // The shortest path: 9 moves, 8 of them costing 0.04, then the goal.
    assert!((undiscounted - (1.0 - 8.0 * 0.04)).abs() < 1e-9, "{undiscounted}");
    // Learning shows: late episodes return more than early ones.
    let early: f64 = returns[..50].iter().sum::<f64>() / 50.0;
    let late: f64 = returns[550..].iter().sum::<f64>() / 50.0;
    assert!(late > early + 0.5, "early {early}, late {late}");
}

#[test]
fn value_iteration_solves_a_corridor_exactly() {
    // S . . G: three moves, rewards -1, -1, +10.
    let config =
        GridConfig { layout: vec!["S..G".into()], step_reward: -1.0, goal_reward: 10.0, ..GridConfig::default() };
    let world = GridWorld::new(config).unwrap();
    let vi = value_iteration(&world, 0.9, 1e-12).unwrap();
    let want = -1.0 - 0.9 + 0.81 * 10.0;
    assert!((vi.values[0] - want).abs() < 1e-9, "{} vs {want}", vi.values[0]);
    assert_eq!(vi.policy[0], 1, "move right");
    assert!(value_iteration(&world, 1.0, 1e-9).is_err(), "γ = 1 is refused");
}

#[test]
fn bad_layouts_are_named() {
    let cases = [
        (vec!["S.G", ".."], "row 2 has 2 cells"),
        (vec!["S.?G"], "unknown cell '?' at row 1, column 3"),
        (vec!["..G"], "exactly one start"),
        (vec!["S.S.G"], "exactly one start S, it has 2"),
        (vec!["S..."], "no goal"),
    ];
    for (layout, message) in cases {
        let config = GridConfig { layout: layout.into_iter().map(String::from).collect(), ..GridConfig::default() };
        let err = GridWorld::new(config).unwrap_err().to_string();
        assert!(err.contains(message), "{err}");
    }
    let slippery = GridConfig { slip: 1.5, ..GridConfig::default() };
    assert!(GridWorld::new(slippery).unwrap_err().to_string().contains("slip = 1.5"));
}

/// UCB1's mean regret over 20 runs of 10 000 pulls stays within its
/// theoretical bound, is sublinear, and no strategy beats the Lai–Robbins
/// rate by much (the bound is asymptotic, so with slack).
#[test]
fn ucb1_regret_is_within_its_bound() {
    let means = vec![0.9, 0.8, 0.7, 0.5, 0.2];
    let arms = Arms::Bernoulli { means: means.clone() };
    let n = 10_000;
    let ucb = mean_regret(&arms, Strategy::Ucb1, n, 20, 1).unwrap();
    let bound = ucb1_bound(&means, n);
    assert!(ucb[n - 1] <= bound, "UCB1 regret {} above its bound {bound}", ucb[n - 1]);
    // Sublinear: the second half of the run adds less than the first.
    assert!(ucb[n - 1] - ucb[n / 2 - 1] < ucb[n / 2 - 1], "{} {}", ucb[n / 2 - 1], ucb[n - 1]);
    let thompson = mean_regret(&arms, Strategy::Thompson, n, 20, 1).unwrap();
    let constant = mean_regret(&arms, Strategy::EpsilonGreedy { epsilon: 0.1, decay: 0.0 }, n, 20, 1).unwrap();
    // Constant ε explores forever: regret ≈ ε · mean gap · n, linear.
    let gap_mean = means.iter().map(|m| 0.9 - m).sum::<f64>() / means.len() as f64;
    assert!(
        (constant[n - 1] - 0.1 * gap_mean * n as f64).abs() < 0.25 * 0.1 * gap_mean * n as f64,
        "{}",
        constant[n - 1]
    );
    assert!(
        thompson[n - 1] < ucb[n - 1] && ucb[n - 1] < constant[n - 1],
        "{} {} {}",
        thompson[n - 1],
        ucb[n - 1],
        constant[n - 1]
    );
    let lower = lai_robbins(&means) * (n as f64).ln();
    assert!(thompson[n - 1] > 0.5 * lower, "Thompson {} vs Lai–Robbins {lower}", thompson[n - 1]);
}

#[test]
fn bandits_refuse_bad_settings_and_are_deterministic() {
    assert!(play(&Arms::Bernoulli { means: vec![0.5] }, Strategy::Ucb1, 10, 0).is_err());
    assert!(play(&Arms::Bernoulli { means: vec![0.5, 1.2] }, Strategy::Ucb1, 10, 0).is_err());
    assert!(play(&Arms::Gaussian { means: vec![0.0, 1.0], std: 0.0 }, Strategy::Thompson, 10, 0).is_err());
    let eps = Strategy::EpsilonGreedy { epsilon: 1.5, decay: 0.0 };
    assert!(
        play(&Arms::Bernoulli { means: vec![0.1, 0.2] }, eps, 10, 0).unwrap_err().to_string().contains("epsilon = 1.5")
    );
    let arms = Arms::Gaussian { means: vec![0.0, 0.5, 1.0], std: 1.0 };
    let a = play(&arms, Strategy::Thompson, 2000, 9).unwrap();
    assert_eq!(a, play(&arms, Strategy::Thompson, 2000, 9).unwrap());
    assert!(a.pulls[2] > 1500, "{:?}", a.pulls);
}

#[test]
fn cartpole_contract() {
    let mut env = CartPole::new();
    assert!(matches!(env.step(0), Err(RlError::NotReset)));
    let first = env.reset(Some(3));
    assert!(first.iter().all(|v| v.abs() < 0.05));
    assert_eq!(first, CartPole::new().reset(Some(3)), "the same seed, the same start");
    assert_ne!(env.reset(None), first, "no seed continues the stream");
    assert!(matches!(env.step(2), Err(RlError::Action { action: 2, n: 2 })));
    assert_eq!(env.action_space(), Space::Discrete { n: 2 });
    assert!(env.observation_space().contains(&first));
    // Pushing one way only tips the pole within a few dozen steps.
    env.reset(Some(1));
    let mut steps = 0;
    loop {
        steps += 1;
        let s = env.step(1).unwrap();
        if s.done() {
            assert!(s.terminated && !s.truncated);
            break;
        }
    }
    assert!(steps < 40, "{steps}");
}

/// Copies reset as their episodes end; episodes are recorded with the step
/// they ended at, and the final observation is handed over.
#[test]
fn vec_env_resets_and_records_episodes() {
    let mut vec = VecEnv::new(3, 5, || Ok(CartPole::with_limit(10))).unwrap();
    assert_eq!((vec.len(), vec.obs_len(), vec.n_actions()), (3, 4, 2));
    let mut finals = 0;
    for _ in 0..25 {
        let step = vec.step(&[0, 1, 0]).unwrap();
        finals += step.final_observations.iter().flatten().count();
    }
    assert_eq!(vec.steps(), 75);
    assert_eq!(finals, vec.episodes().len());
    assert!(vec.episodes().iter().all(|e| e.length <= 10 && e.ret == e.length as f64 && e.end_step % 3 == 0));
    assert!(vec.step(&[0, 1]).is_err(), "one action per copy");
    assert!(VecEnv::new(0, 0, || Ok(CartPole::new())).is_err());
}

/// A user's environment with no actions or no observation is refused with a
/// typed error before any agent could index into it.
#[test]
fn degenerate_spaces_are_refused() {
    #[derive(Clone, Debug)]
    struct Empty {
        actions: usize,
        obs: usize,
    }
    impl Env for Empty {
        fn observation_space(&self) -> Space {
            Space::Box { low: vec![0.0; self.obs], high: vec![1.0; self.obs] }
        }
        fn action_space(&self) -> Space {
            Space::Discrete { n: self.actions }
        }
        fn reset(&mut self, _seed: Option<u64>) -> Vec<f32> {
            vec![0.0; self.obs]
        }
        fn step(&mut self, _action: usize) -> anneal_rl::Result<anneal_rl::Step> {
            Err(RlError::EpisodeOver)
        }
        fn name(&self) -> String {
            "empty".into()
        }
    }
    let no_actions = VecEnv::new(2, 0, || Ok(Empty { actions: 0, obs: 3 })).unwrap_err();
    assert!(no_actions.to_string().contains("no actions"), "{no_actions}");
    let no_obs = VecEnv::new(2, 0, || Ok(Empty { actions: 2, obs: 0 })).unwrap_err();
    assert!(no_obs.to_string().contains("observation space is empty"), "{no_obs}");
}
