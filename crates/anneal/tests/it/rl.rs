//! `anneal rl` end to end: a short PPO run on CartPole from the bundled
//! example config, its run folder, resume after a kill, and `anneal rl eval`.

use crate::{anneal, stderr, write};

fn short_ppo(dir: &std::path::Path, total: usize) -> String {
    let text = std::fs::read_to_string(crate::root().join("examples/rl/cartpole_ppo.toml"))
        .unwrap()
        .replace("total_steps = 200000", &format!("total_steps = {total}"))
        .replace("checkpoint_every = 25600", "checkpoint_every = 2048")
        .replace("eval_episodes = 20", "eval_episodes = 3");
    write(dir, "ppo.toml", &text)
}

#[test]
fn rl_trains_reports_and_evaluates() {
    let dir = tempfile::tempdir().unwrap();
    let config = short_ppo(dir.path(), 4096);
    let run = dir.path().join("run");
    let out = anneal(&["rl", "--config", &config, "--out", run.to_str().unwrap(), "--log"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("PPO on CartPole-v1: 4096 steps"), "{stdout}");
    assert!(stderr(&out).contains("iteration     1  steps      256"), "{}", stderr(&out));
    for file in [
        "config.toml",
        "run.json",
        "episodes.csv",
        "metrics.jsonl",
        "returns.png",
        "returns.svg",
        "summary.json",
        "policy.bpk",
        "report.md",
        "manifest.json",
    ] {
        assert!(run.join(file).is_file(), "{file}");
    }
    assert!(run.join("checkpoint/state.json").is_file());
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(report.contains("# PPO on CartPole-v1") && report.contains("![Episode returns](returns.png)"), "{report}");
    let records = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert_eq!(records.lines().count(), 16);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["env_steps"], 4096);
    // The same seed gives the same run.
    let again = dir.path().join("again");
    assert!(anneal(&["rl", "--config", &config, "--out", again.to_str().unwrap()]).status.success());
    assert_eq!(std::fs::read(run.join("episodes.csv")).unwrap(), std::fs::read(again.join("episodes.csv")).unwrap());
    // Evaluation replays the greedy policy.
    let eval = anneal(&["rl", "eval", "--run", run.to_str().unwrap(), "--episodes", "2"]);
    assert!(eval.status.success(), "{}", stderr(&eval));
    assert!(String::from_utf8_lossy(&eval.stdout).contains("over 2 episodes"));
    // A changed byte in the policy is refused, not evaluated.
    let policy = run.join("policy.bpk");
    let mut bytes = std::fs::read(&policy).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&policy, bytes).unwrap();
    let tampered = anneal(&["rl", "eval", "--run", run.to_str().unwrap()]);
    assert!(!tampered.status.success());
    assert!(stderr(&tampered).contains("policy.bpk"), "{}", stderr(&tampered));
    // The folder is taken: a second run into it is refused.
    let taken = anneal(&["rl", "--config", &config, "--out", run.to_str().unwrap()]);
    assert!(!taken.status.success());
}

/// kill -9 during a run, then `--resume`: the run finishes, with the same
/// episodes as a run that was never interrupted.
#[test]
fn rl_resumes_after_kill() {
    let dir = tempfile::tempdir().unwrap();
    let config = short_ppo(dir.path(), 8192);
    let run = dir.path().join("run");
    let mut child = crate::anneal_command(&crate::root())
        .args(["rl", "--config", &config, "--out", run.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let state = run.join("checkpoint/state.json");
    let start = std::time::Instant::now();
    while !state.is_file() && start.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    let _ = child.wait();
    assert!(state.is_file(), "a checkpoint was written before the kill");
    let resumed = anneal(&["rl", "--resume", run.to_str().unwrap()]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let straight = dir.path().join("straight");
    assert!(anneal(&["rl", "--config", &config, "--out", straight.to_str().unwrap()]).status.success());
    assert_eq!(
        std::fs::read_to_string(run.join("episodes.csv")).unwrap(),
        std::fs::read_to_string(straight.join("episodes.csv")).unwrap()
    );
}

#[test]
fn rl_config_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "bad.toml",
        "total_steps = 100\n[env]\nname = \"cartpole\"\n[agent]\nalgorithm = \"ppo\"\nclip_range = -1.0\n",
    );
    let out = anneal(&["rl", "--config", &bad]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("clip_range = -1"), "{}", stderr(&out));
    let unknown = write(
        dir.path(),
        "unknown.toml",
        "total_steps = 100\n[env]\nname = \"cartpole\"\n[agent]\nalgorithm = \"a2c\"\n",
    );
    let out = anneal(&["rl", "--config", &unknown]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("a2c"), "{}", stderr(&out));
    let out = anneal(&["rl", "eval", "--run", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
}

/// The same short PPO run on flex and on wgpu (Mesa's software driver in CI):
/// the same episodes, and losses within 1e-3.
#[cfg(feature = "wgpu")]
#[test]
fn rl_runs_alike_on_flex_and_wgpu() {
    use anneal::rl::agent::{self, Quiet};
    use anneal::train::Backend;
    let config: anneal::rl::RlConfig = toml::from_str(
        "seed = 4\ntotal_steps = 64\neval_episodes = 0\n[env]\nname = \"cartpole\"\n[agent]\nalgorithm = \"ppo\"\n\
         n_envs = 4\nn_steps = 16\nbatch_size = 32\nn_epochs = 2\n",
    )
    .unwrap();
    let run = |backend: Backend| agent::train(&config, &backend.device().unwrap(), None, &mut Quiet).unwrap();
    let (flex, wgpu) = (run(Backend::Flex), run(Backend::Wgpu));
    assert_eq!(flex.episodes, wgpu.episodes);
    for (a, b) in flex.records.iter().zip(&wgpu.records) {
        for (key, x) in &a.metrics {
            let y = b.metrics[key];
            assert!((x - y).abs() <= 1e-3 * (1.0 + x.abs()), "{key}: flex {x}, wgpu {y}");
        }
    }
}
