//! Hypergradient descent against a fixed learning rate on the digits MLP.
//!
//! Adam with a fixed rate and Adam-HD (Baydin et al. 2018), which learns its
//! rate while it trains, each start from five learning rates spanning 1e-5 to
//! 1e-1, on an MLP 64-128-128-10 for 30 epochs of batch 32, for several seeds
//! (each seed draws its own split, initial weights and batch order). Adam-HD
//! uses the paper's additive rule `α ← α + β·gₜ·uₜ₋₁` with β = 1e-3, limited
//! to a factor of 2 per step (`max_lr_factor = 2`: α at most halves or doubles
//! in one update). The claim checked, on every seed: Adam-HD ends within 2
//! points of the test accuracy of the best fixed rate from every start, while
//! fixed Adam at the two extremes does not. It exits with an error when the
//! claim fails on any seed.
//!
//! Run: `cargo run --release --example hypergradient [-- --seeds 1,2,3,11,23,42
//! --rule additive|multiplicative --beta B --max-factor F|none --epochs E
//! --hidden 128,128 --trace]` (about 3 seconds per seed in release on 2 cores).
//! `--trace` prints Adam-HD's learning rate after every epoch.

use anneal::RunConfig;
use anneal::optim::{HypergradientRule, OptimizerConfig};
use anneal::train::{Backend, Loss, Progress, TrainError, Trainer, evaluate};

const CONFIG: &str = r#"
seed = 11
[data]
path = "data/sklearn_digits.csv.gz"
target = "target"
[split]
train = 0.6
valid = 0.2
test = 0.2
[model]
hidden = [128, 128]
[optimizer]
name = "adam"
learning_rate = 0.001
[training]
epochs = 30
batch_size = 32
"#;

/// The initial learning rates every seed is run from.
const STARTS: [f64; 5] = [1e-5, 1e-4, 1e-3, 1e-2, 1e-1];

/// The value after `--name` on the command line, parsed.
fn arg<T: std::str::FromStr>(name: &str) -> Option<T> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok())
}

/// One training run: test accuracy (NaN when the loss diverged) and the
/// learning rate after each epoch.
struct Outcome {
    accuracy: f64,
    rates: Vec<f64>,
}

/// The runs of one seed: fixed Adam and Adam-HD from each of [`STARTS`].
struct SeedResult {
    seed: u64,
    fixed: Vec<Outcome>,
    adaptive: Vec<Outcome>,
}

impl SeedResult {
    /// Test accuracy of the best fixed rate.
    fn best_fixed(&self) -> f64 {
        self.fixed.iter().map(|o| o.accuracy).filter(|a| a.is_finite()).fold(f64::NEG_INFINITY, f64::max)
    }

    /// Whether Adam-HD ends within 2 points of the best fixed rate from every start.
    fn adaptive_within_two_points(&self) -> bool {
        let best = self.best_fixed();
        self.adaptive.iter().all(|o| o.accuracy >= best - 0.02)
    }

    /// Whether fixed Adam at both extremes ends more than 2 points behind
    /// (a diverged run counts as behind).
    fn extremes_behind(&self) -> bool {
        let best = self.best_fixed();
        let behind = |o: &Outcome| o.accuracy.is_nan() || o.accuracy < best - 0.02;
        behind(&self.fixed[0]) && behind(&self.fixed[STARTS.len() - 1])
    }
}

/// An accuracy for a table cell.
fn cell(accuracy: f64) -> String {
    if accuracy.is_nan() { "diverged".to_string() } else { format!("{accuracy:.4}") }
}

fn main() -> anyhow::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut config: RunConfig = toml::from_str(CONFIG)?;
    config.data.path = root.join(&config.data.path);
    let rule = match arg::<String>("--rule").as_deref() {
        None | Some("additive") => HypergradientRule::Additive,
        Some("multiplicative") => HypergradientRule::Multiplicative,
        Some(other) => anyhow::bail!("--rule must be additive or multiplicative, not {other}"),
    };
    // β and the limit are discussed in docs/src/training.md ("Hypergradient descent on digits").
    let default_beta = if rule == HypergradientRule::Additive { 1e-3 } else { 0.02 };
    let beta: f64 = arg("--beta").unwrap_or(default_beta);
    let max_lr_factor: Option<f64> = match arg::<String>("--max-factor").as_deref() {
        None => Some(2.0),
        Some("none") => None,
        Some(f) => Some(f.parse()?),
    };
    config.training.epochs = arg("--epochs").unwrap_or(config.training.epochs);
    let anneal::models::ModelConfig::Mlp(mlp) = &mut config.model.config else {
        anyhow::bail!("this example compares optimisers on an MLP config");
    };
    if let Some(h) = arg::<String>("--hidden") {
        mlp.hidden = h.split(',').map(str::parse).collect::<Result<_, _>>()?;
    }
    let hidden = mlp.hidden.clone();
    let seeds: Vec<u64> = match arg::<String>("--seeds") {
        Some(s) => s.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => vec![1, 2, 3, 11, 23, 42],
    };
    let trace = std::env::args().any(|a| a == "--trace");
    let device = Backend::resolve(None)?.device()?;

    println!(
        "digits, MLP 64-{:?}-10, Adam, {} epochs of batch 32; Adam-HD: {rule:?} rule, beta = {beta:e}, max_lr_factor = {}",
        hidden,
        config.training.epochs,
        max_lr_factor.map_or("none".to_string(), |f| f.to_string()),
    );
    let mut results = Vec::new();
    for &seed in &seeds {
        config.seed = seed;
        let data = anneal::run::prepare(&config)?;
        let model_config = config.model_config(data.train.n_features(), data.loaded.target.n_outputs(), None);
        let run = |optimizer: OptimizerConfig| -> anyhow::Result<Outcome> {
            let model = model_config.init(config.seed, &device.clone().autodiff())?;
            let mut optimizer = optimizer.init()?;
            let mut trainer = Trainer::new(config.train_config(), device.clone()).with_progress(Progress::Silent);
            match trainer.fit(model, &mut optimizer, &data.train, Some(&data.valid)) {
                Ok(fitted) => {
                    let test = evaluate(&fitted.model, &data.test, &Loss::CrossEntropy, &device, 1024)?;
                    let rates = fitted.history.iter().map(|r| r.learning_rate).collect();
                    Ok(Outcome { accuracy: test.scores()?.0, rates })
                }
                Err(TrainError::Diverged { .. }) => Ok(Outcome { accuracy: f64::NAN, rates: Vec::new() }),
                Err(e) => Err(e.into()),
            }
        };
        let mut result = SeedResult { seed, fixed: Vec::new(), adaptive: Vec::new() };
        println!("\nseed {seed}\n");
        println!("| initial lr | fixed Adam: test accuracy | Adam-HD: test accuracy | Adam-HD: final lr |");
        println!("|---|---|---|---|");
        for lr in STARTS {
            let fixed = run(OptimizerConfig::adam(lr))?;
            let hd = OptimizerConfig::AdamHd {
                learning_rate: lr,
                hypergradient_lr: beta,
                rule,
                max_lr_factor,
                beta1: 0.9,
                beta2: 0.999,
                epsilon: 1e-8,
            };
            let adaptive = run(hd)?;
            let final_lr = adaptive.rates.last().copied().unwrap_or(f64::NAN);
            println!("| {lr:.0e} | {} | {} | {final_lr:.2e} |", cell(fixed.accuracy), cell(adaptive.accuracy));
            if trace {
                let rates: Vec<String> = adaptive.rates.iter().map(|r| format!("{r:.1e}")).collect();
                println!("|   | Adam-HD lr after each epoch: {} | | |", rates.join(" "));
            }
            result.fixed.push(fixed);
            result.adaptive.push(adaptive);
        }
        println!(
            "\nbest fixed {:.4}; Adam-HD within 2 points from every start: {}; fixed Adam at 1e-5 and 1e-1 more than 2 points behind: {}",
            result.best_fixed(),
            if result.adaptive_within_two_points() { "yes" } else { "NO" },
            if result.extremes_behind() { "yes" } else { "NO" },
        );
        results.push(result);
    }

    println!("\nAdam-HD test accuracy (fixed Adam in brackets) by seed and initial lr\n");
    let header: Vec<String> = STARTS.iter().map(|lr| format!("{lr:.0e}")).collect();
    println!("| seed | {} | best fixed | claim |", header.join(" | "));
    println!("|---|{}---|---|", "---|".repeat(STARTS.len()));
    for r in &results {
        let cells: Vec<String> = r
            .adaptive
            .iter()
            .zip(&r.fixed)
            .map(|(a, f)| format!("{} ({})", cell(a.accuracy), cell(f.accuracy)))
            .collect();
        let holds = r.adaptive_within_two_points() && r.extremes_behind();
        println!(
            "| {} | {} | {:.4} | {} |",
            r.seed,
            cells.join(" | "),
            r.best_fixed(),
            if holds { "holds" } else { "FAILS" }
        );
    }
    let failed: Vec<u64> =
        results.iter().filter(|r| !(r.adaptive_within_two_points() && r.extremes_behind())).map(|r| r.seed).collect();
    anyhow::ensure!(failed.is_empty(), "the hypergradient claim does not hold on seeds {failed:?}");
    Ok(())
}
