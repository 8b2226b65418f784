//! The agents on the training core: configs, learning, checkpoints.

use anneal_rl::RlConfig;
use anneal_rl::agent::{self, Quiet};
use burn::prelude::*;

fn ppo_config(total_steps: usize) -> RlConfig {
    toml::from_str(&format!(
        r#"
        seed = 3
        total_steps = {total_steps}
        target_return = 100.0
        window = 10
        eval_episodes = 3
        [env]
        name = "cartpole"
        [agent]
        algorithm = "ppo"
        n_envs = 4
        n_steps = 32
        batch_size = 64
        n_epochs = 10
        gamma = 0.98
        gae_lambda = 0.8
        optimizer = {{ name = "adam", learning_rate = 0.001, epsilon = 1e-5 }}
        schedule = {{ name = "polynomial" }}
        clip_schedule = {{ name = "polynomial" }}
        "#
    ))
    .unwrap()
}

/// A short PPO run on CartPole learns: the rolling mean return rises well
/// above a random policy's (about 22).
#[test]
fn ppo_learns_cartpole() {
    let config = ppo_config(12_800);
    let outcome = agent::train(&config, &Device::flex(), None, &mut Quiet).unwrap();
    assert!(outcome.env_steps >= 12_800);
    let first: f64 = outcome.episodes[..10].iter().map(|e| e.ret).sum::<f64>() / 10.0;
    let last: f64 = outcome.episodes[outcome.episodes.len() - 10..].iter().map(|e| e.ret).sum::<f64>() / 10.0;
    assert!(last > 2.0 * first && last > 60.0, "first {first}, last {last}");
    let record = outcome.records.last().unwrap();
    for key in
        ["policy_loss", "value_loss", "entropy_loss", "approx_kl", "clip_fraction", "learning_rate", "mean_return"]
    {
        assert!(record.metrics.contains_key(key), "{key} in {:?}", record.metrics.keys());
    }
    assert!(record.metrics["learning_rate"] < 0.001, "the linear schedule decays");
    assert_eq!(outcome.evaluation.len(), 3);
}

/// A run stopped at a checkpoint and resumed ends bit for bit where an
/// uninterrupted run ends: episodes, records and weights.
#[test]
fn ppo_and_dqn_resume_bit_for_bit() {
    let dqn: RlConfig = toml::from_str(
        r#"
        seed = 1
        total_steps = 1200
        eval_episodes = 0
        [env]
        name = "cartpole"
        [agent]
        algorithm = "dqn"
        learning_starts = 200
        train_freq = 100
        gradient_steps = 20
        batch_size = 16
        target_update_interval = 50
        exploration_steps = 600
        double_dqn = true
        hidden = [32]
        "#,
    )
    .unwrap();
    for full in [ppo_config(1024), dqn] {
        let mut half = full.clone();
        half.total_steps = full.total_steps / 2;
        let dir = tempfile::tempdir().unwrap();
        let ckpt = dir.path().join("checkpoint");
        agent::train(&half, &Device::flex(), Some(&ckpt), &mut Quiet).unwrap();
        // The resumed run must use the config that wrote the checkpoint...
        assert!(
            agent::train(&full, &Device::flex(), Some(&ckpt), &mut Quiet)
                .unwrap_err()
                .to_string()
                .contains("another config")
        );
        // ...so the first half ran with the full run's config and a budget cut: rewrite it.
        let dir2 = tempfile::tempdir().unwrap();
        let ckpt2 = dir2.path().join("checkpoint");
        let mut first = full.clone();
        first.checkpoint_every = full.total_steps / 2;
        let stop = StopAfter(full.total_steps / 2);
        let resumed = resume_after_crash(&first, &ckpt2, stop);
        let straight = agent::train(&first, &Device::flex(), None, &mut Quiet).unwrap();
        assert_eq!(resumed.episodes, straight.episodes, "{}", full.agent.name());
        assert_eq!(resumed.records.len(), straight.records.len());
        for (a, b) in resumed.records.iter().zip(&straight.records) {
            assert_eq!((a.iteration, a.env_steps, &a.metrics), (b.iteration, b.env_steps, &b.metrics));
        }
        let probe: Vec<f32> = (0..40).map(|i| (i as f32 * 0.37).sin() * 0.1).collect();
        let out = |p: &anneal_rl::Policy| p.act(&probe, 10, 2, &Device::flex()).unwrap();
        assert_eq!(out(&resumed.policy), out(&straight.policy));
    }
}

/// Simulates a crash: an observer that aborts the process's run after the
/// first checkpoint (by panicking inside the loop, caught here), then a
/// second call that resumes from the checkpoint on disk.
fn resume_after_crash(config: &RlConfig, ckpt: &std::path::Path, stop: StopAfter) -> anneal_rl::Outcome {
    let config_a = config.clone();
    let ckpt_a = ckpt.to_path_buf();
    let crashed = std::thread::spawn(move || {
        let mut stop = stop;
        agent::train(&config_a, &Device::flex(), Some(&ckpt_a), &mut stop).map(|_| ())
    })
    .join();
    assert!(crashed.is_err(), "the first run is cut off after its checkpoint");
    agent::train(config, &Device::flex(), Some(ckpt), &mut Quiet).unwrap()
}

struct StopAfter(usize);

impl agent::Observer for StopAfter {
    fn on_iteration(&mut self, record: &agent::IterationRecord, _: &[anneal_rl::Episode]) {
        // The checkpoint of this iteration is written after the observer
        // returns, so crash on the iteration after it.
        if record.env_steps > self.0 {
            panic!("simulated crash at step {}", record.env_steps);
        }
    }
}

#[test]
fn invalid_configs_are_typed_errors() {
    let cases = [
        ("total_steps = 0\n[env]\nname = \"cartpole\"\n[agent]\nalgorithm = \"ppo\"", "total_steps = 0"),
        (
            "total_steps = 10\n[env]\nname = \"cartpole\"\n[agent]\nalgorithm = \"ppo\"\nn_envs = 2\nn_steps = 4\nbatch_size = 64",
            "batch_size = 64",
        ),
        ("total_steps = 10\n[env]\nname = \"cartpole\"\n[agent]\nalgorithm = \"ppo\"\ngamma = 1.5", "gamma = 1.5"),
        (
            "total_steps = 10\n[env]\nname = \"cartpole\"\n[agent]\nalgorithm = \"dqn\"\nexploration_final_eps = -0.1",
            "exploration_final_eps = -0.1",
        ),
        ("total_steps = 10\n[env]\nname = \"gridworld\"\nlayout = [\"S..\"]\n[agent]\nalgorithm = \"dqn\"", "no goal"),
    ];
    for (text, message) in cases {
        let config: RlConfig = toml::from_str(text).unwrap();
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains(message), "{text}: {err}");
    }
    assert!(
        toml::from_str::<RlConfig>("total_steps = 10\n[env]\nname = \"pong\"\n[agent]\nalgorithm = \"ppo\"").is_err()
    );
    assert!(
        toml::from_str::<RlConfig>(
            "total_steps = 10\n[env]\nname = \"cartpole\"\n[agent]\nalgorithm = \"ppo\"\nlr = 1"
        )
        .is_err()
    );
}

/// DQN through the generic driver on the gridworld of `examples/rl/gridworld_dqn.toml`: its greedy policy walks
/// the shortest safe path, the undiscounted return value iteration's optimal
/// policy gets (1 − 8 · 0.04 on the default map).
#[test]
fn dqn_reaches_the_gridworld_optimum() {
    // The bundled example config, as `anneal rl --config examples/rl/gridworld_dqn.toml` runs it.
    let path = format!("{}/../../examples/rl/gridworld_dqn.toml", env!("CARGO_MANIFEST_DIR"));
    let config: RlConfig = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let outcome = agent::train(&config, &Device::flex(), None, &mut Quiet).unwrap();
    let world = anneal_rl::GridWorld::new(anneal_rl::GridConfig::default()).unwrap();
    let optimum = anneal_rl::gridworld::value_iteration(&world, 0.95, 1e-12).unwrap();
    // Value iteration's optimum is the 9-move path: 8 steps at −0.04, then the goal.
    let g: f64 = 0.95;
    let path_value = -0.04 * (1.0 - g.powi(8)) / (1.0 - g) + g.powi(8);
    assert!((optimum.values[world.start()] - path_value).abs() < 1e-9, "{}", optimum.values[world.start()]);
    assert!((outcome.evaluation[0] - (1.0 - 8.0 * 0.04)).abs() < 1e-9, "greedy return {}", outcome.evaluation[0]);
}

/// A damaged checkpoint is an error naming the file, not a silent fresh start.
#[test]
fn a_damaged_checkpoint_is_refused() {
    let mut config = ppo_config(256);
    config.eval_episodes = 0;
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("checkpoint");
    agent::train(&config, &Device::flex(), Some(&ckpt), &mut Quiet).unwrap();
    let state = ckpt.join("state.json");
    let text = std::fs::read_to_string(&state).unwrap().replacen("\"iteration\":2", "\"iteration\":1", 1);
    std::fs::write(&state, text).unwrap();
    let err = agent::train(&config, &Device::flex(), Some(&ckpt), &mut Quiet).unwrap_err().to_string();
    assert!(err.contains("state.json"), "{err}");
}
