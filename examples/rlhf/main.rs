//! RLHF on the food reviews, three seeds (`examples/rl/rlhf_fine_foods.toml`):
//! a small causal language model pretrained on the training reviews, a judge
//! standing in for people, a reward model from its preference pairs, PPO with
//! a KL penalty to the pretrained model, and DPO from the same pairs. Writes
//! `target/rlhf/{report.md, outcome.json, reward_vs_kl.png, reward_vs_kl.svg}`.
//!
//! Run: `cargo run --release --features wgpu,postgres,mpi --example rlhf
//! [-- --seeds 0,1,2 --config examples/rl/rlhf_fine_foods.toml]`; `-- --report-from
//! target/rlhf/outcome.json` writes the report again from an earlier run's outcomes.

use std::path::Path;

use anneal::rl::rlhf::{self, RlhfConfig};
use anneal::train::Backend;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../common/experiment.rs"]
mod experiment;
use experiment::arg;

fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let config_path =
        arg::<String>("--config").map(Into::into).unwrap_or_else(|| root.join("examples/rl/rlhf_fine_foods.toml"));
    let seeds: Vec<u64> = arg::<String>("--seeds")
        .unwrap_or_else(|| "0,1,2".into())
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let base: RlhfConfig = toml::from_str(&std::fs::read_to_string(&config_path)?)?;
    if let Some(outcomes) = arg::<String>("--report-from") {
        // Only the report, from the outcomes of an earlier run.
        let outcomes: Vec<rlhf::RlhfOutcome> = serde_json::from_str(&std::fs::read_to_string(outcomes)?)?;
        print!("{}", rlhf::write_report(&root.join("target/rlhf"), &base, &outcomes)?);
        return Ok(());
    }
    let device = Backend::resolve(None)?.device()?;
    let mut outcomes = Vec::new();
    for seed in seeds {
        let started = std::time::Instant::now();
        let config = RlhfConfig { seed, ..base.clone() };
        let outcome = rlhf::run(&config, &root.join("data/fine_foods.csv.gz"), &device, &mut |line| {
            eprintln!("[seed {seed}, {:.0} s] {line}", started.elapsed().as_secs_f64())
        })?;
        outcomes.push(outcome);
        // The report so far, so a long run can be read while it goes on.
        rlhf::write_report(&root.join("target/rlhf"), &base, &outcomes)?;
    }
    print!("{}", rlhf::write_report(&root.join("target/rlhf"), &base, &outcomes)?);
    Ok(())
}
