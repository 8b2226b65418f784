//! The RLHF pipeline end to end on a few hundred real reviews: every stage
//! runs, the figures are sane, the report is written, the same seed gives the
//! same outcome, and bad settings are named.

use std::path::Path;

use anneal_rl::rlhf::{self, RlhfConfig};
use burn::prelude::*;

fn tiny() -> RlhfConfig {
    toml::from_str(include_str!("rlhf_tiny.toml")).unwrap()
}

fn data() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/fine_foods.csv.gz")
}

#[test]
fn the_whole_pipeline_runs_deterministically_and_reports() {
    let config = tiny();
    let device = Device::flex();
    let mut lines = Vec::new();
    let outcome = rlhf::run(&config, &data(), &device, &mut |l| lines.push(l)).unwrap();
    assert!(lines.iter().any(|l| l.starts_with("judge:")) && lines.iter().any(|l| l.starts_with("reward model:")));
    assert_eq!(outcome.ppo_history.len(), config.ppo.iterations);
    // The first rollout is the pretrained model's own (KL 0 but for float
    // rounding); PPO's updates move the language model away from it.
    let (first, last) = (&outcome.ppo_history[0], outcome.ppo_history.last().unwrap());
    assert!(first.kl.abs() < 1e-4 && last.kl.abs() > 1e-4, "{first:?} {last:?}");
    // 10 % of 64 labels flipped: agreement near 0.9.
    assert!((0.75..=1.0).contains(&outcome.label_agreement), "{}", outcome.label_agreement);
    for s in [&outcome.reference, &outcome.ppo, &outcome.dpo] {
        assert!((0.0..=1.0).contains(&s.positive) && s.kl.is_finite() && s.reward.is_finite(), "{s:?}");
        assert_eq!(s.samples.len(), 6);
    }
    // The pretrained model against itself: no divergence at all.
    assert_eq!(outcome.reference.kl, 0.0);
    assert!(outcome.lm_test_loss > 0.0 && outcome.lm_test_loss < (300f64).ln() + 1.0, "{}", outcome.lm_test_loss);
    let again = rlhf::run(&config, &data(), &device, &mut |_| {}).unwrap();
    assert_eq!(outcome, again, "the same seed gives the same run");

    let dir = tempfile::tempdir().unwrap();
    let md = rlhf::write_report(dir.path(), &config, &[outcome]).unwrap();
    assert!(md.contains("| 0 |") && md.contains("**PPO**"), "{md}");
    for f in ["report.md", "outcome.json", "reward_vs_kl.png", "reward_vs_kl.svg"] {
        assert!(dir.path().join(f).metadata().unwrap().len() > 100, "{f}");
    }
}

#[test]
fn bad_settings_and_data_are_named() {
    let device = Device::flex();
    let mut config = tiny();
    config.judge.flip = 0.6;
    let e = rlhf::run(&config, &data(), &device, &mut |_| {}).unwrap_err().to_string();
    assert!(e.contains("judge.flip") && e.contains("0.6"), "{e}");
    let mut config = tiny();
    config.dpo.beta = 0.0;
    assert!(rlhf::run(&config, &data(), &device, &mut |_| {}).unwrap_err().to_string().contains("dpo.beta"));
    let e = rlhf::run(&tiny(), Path::new("no/such/reviews.csv"), &device, &mut |_| {}).unwrap_err().to_string();
    assert!(e.contains("no/such/reviews.csv"), "{e}");
    let unknown = toml::from_str::<RlhfConfig>(&format!("{}\nsurprise = 1\n", include_str!("rlhf_tiny.toml")));
    assert!(unknown.unwrap_err().to_string().contains("surprise"));
}
