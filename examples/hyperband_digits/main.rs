//! Hyperband against random search on the digits MLP, with budget = epochs.
//!
//! One fixed train / validation / test split of the bundled digits (60 / 20 / 20,
//! seed 0). Both arms sample from the same space (learning rate, width, depth,
//! dropout, weight decay, batch size; Adam) with anneal-hpo's random sampler:
//!
//! - random search: 40 configurations, each trained for R = 27 epochs;
//! - Hyperband (Li et al. 2018) with R = 27 and η = 3, through
//!   [`Study::hyperband`](anneal::hpo::Study::hyperband): four brackets of
//!   successive halving. A configuration promoted to the next rung continues
//!   from its weights and optimiser state (kept in memory), so it trains only
//!   the extra epochs; every epoch trained is counted.
//!
//! Each arm returns the configuration with the best validation accuracy seen
//! (ties: lower validation loss), as Li et al. do; its test accuracy is measured
//! on the weights that scored it. The whole experiment runs for five seeds
//! (sampler seeds and model seeds; the split stays fixed). The claim checked,
//! on the mean over the seeds: Hyperband's best is within 0.5 points of random
//! search's best, on test accuracy and on validation accuracy, with at most a
//! third of its epochs. It exits with an error when the claim fails.
//!
//! For scale it also prints random search cut to Hyperband's epochs: the first
//! `⌊Hyperband's epochs / R⌋` of the 40 configurations (the sampler draws each
//! trial's configuration from its number, so that is exactly a shorter search).
//!
//! Run: `cargo run --release --example hyperband_digits [-- --seeds 5 --first-seed 0 --random 40 --max-epochs 27 --eta 3]`

use std::collections::HashMap;
use std::sync::Mutex;

use anneal::RunConfig;
use anneal::hpo::prelude::*;
use anneal::models::{ActivationKind, Mlp, MlpConfig};
use anneal::optim::{Optimizer, OptimizerConfig};
use anneal::train::{Backend, Loss, Progress, Trainer, evaluate};
use burn::prelude::Device;

const CONFIG: &str = r#"
seed = 0
[data]
path = "data/sklearn_digits.csv.gz"
target = "target"
[split]
train = 0.6
valid = 0.2
test = 0.2
[model]
hidden = [64]
[optimizer]
name = "adam"
learning_rate = 0.001
[training]
epochs = 1
batch_size = 32
"#;

/// The value after `--name` on the command line, parsed.
fn arg<T: std::str::FromStr>(name: &str) -> Option<T> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok())
}

/// The search space both arms sample from.
fn space() -> SearchSpace {
    SearchSpace::new()
        .with("learning_rate", Distribution::log_float(1e-4, 1e-1))
        .with("width", Distribution::log_int(16, 256))
        .with("layers", Distribution::int(1, 3))
        .with("dropout", Distribution::float(0.0, 0.5))
        .with("weight_decay", Distribution::log_float(1e-6, 1e-2))
        .with("batch_size", Distribution::categorical([16i64, 32, 64, 128]))
}

/// One evaluation of a configuration: after `epochs` epochs of training.
#[derive(Debug, Clone, Copy)]
struct Eval {
    /// Epochs the configuration had trained.
    epochs: usize,
    val_accuracy: f64,
    val_loss: f64,
    test_accuracy: f64,
}

impl Eval {
    /// Higher validation accuracy wins; ties go to the lower validation loss.
    fn beats(&self, other: &Eval) -> bool {
        (self.val_accuracy, -self.val_loss) > (other.val_accuracy, -other.val_loss)
    }
}

/// What one arm of one seed found.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    best: Eval,
    epochs: usize,
    configurations: usize,
}

/// A configuration being trained: its model, optimiser and epochs so far.
struct Run {
    model: Mlp,
    optimizer: Optimizer,
    epochs: usize,
}

struct Experiment {
    config: RunConfig,
    data: anneal::run::Prepared,
    device: Device,
}

impl Experiment {
    /// Starts the configuration of `trial` (its first call suggests the parameters).
    fn start(&self, trial: &mut Trial, model_seed: u64) -> Result<Run, ObjectiveError> {
        let width = trial.suggest_int_log("width", 16, 256)? as usize;
        let layers = trial.suggest_int("layers", 1, 3)? as usize;
        let dropout = trial.suggest_float("dropout", 0.0, 0.5)?;
        let outputs = self.data.loaded.target.n_outputs();
        let model_config = MlpConfig {
            input: self.data.train.n_features(),
            hidden: vec![width; layers],
            output: outputs,
            activation: ActivationKind::Relu,
            dropout,
            layer_dropout: Vec::new(),
        };
        let model = model_config.init(model_seed, &self.device.clone().autodiff()).map_err(ObjectiveError::failed)?;
        let learning_rate = trial.suggest_float_log("learning_rate", 1e-4, 1e-1)?;
        let weight_decay = trial.suggest_float_log("weight_decay", 1e-6, 1e-2)?;
        let optimizer = match OptimizerConfig::adam(learning_rate) {
            OptimizerConfig::Adam { learning_rate, beta1, beta2, epsilon, amsgrad, .. } => {
                OptimizerConfig::Adam { learning_rate, beta1, beta2, epsilon, weight_decay, amsgrad }
            }
            other => other,
        };
        Ok(Run { model, optimizer: optimizer.init().map_err(ObjectiveError::failed)?, epochs: 0 })
    }

    /// Trains `run` on to `epochs` epochs in total and evaluates it.
    fn train_to(&self, trial: &mut Trial, run: Run, epochs: usize) -> Result<(Run, Eval), ObjectiveError> {
        let Run { model, mut optimizer, epochs: done } = run;
        let batch_size = trial.suggest_categorical("batch_size", &[16i64, 32, 64, 128])? as usize;
        let mut train_config = self.config.train_config();
        train_config.epochs = epochs - done;
        train_config.batch_size = batch_size;
        // Each continuation shuffles with its own stream (the loop numbers its epochs from 1).
        train_config.seed = self.config.seed ^ (trial.number() << 16) ^ (done as u64) << 40;
        let fitted = Trainer::new(train_config, self.device.clone())
            .with_progress(Progress::Silent)
            .fit(model, &mut optimizer, &self.data.train, Some(&self.data.valid))
            .map_err(ObjectiveError::failed)?;
        let last = fitted.history.last().ok_or_else(|| ObjectiveError::failed("no epoch was trained"))?;
        let test = evaluate(&fitted.model, &self.data.test, &Loss::CrossEntropy, &self.device, 1024)
            .map_err(ObjectiveError::failed)?;
        let eval = Eval {
            epochs,
            val_accuracy: last.metric("val_accuracy").unwrap_or(f64::NAN),
            val_loss: last.metric("val_loss").unwrap_or(f64::NAN),
            test_accuracy: test.scores().map_err(ObjectiveError::failed)?.0,
        };
        Ok((Run { model: fitted.model, optimizer, epochs }, eval))
    }

    fn study(&self, name: &str, seed: u64) -> anyhow::Result<Study> {
        Ok(Study::builder(name)
            .space(space())
            .direction(Direction::Maximize)
            .sampler(RandomSampler::new(seed))
            .build()?)
    }

    /// Random search: `n` configurations, each trained for `max_epochs`; the
    /// evaluations in trial order.
    fn random_search(&self, seed: u64, n: usize, max_epochs: usize) -> anyhow::Result<Vec<Eval>> {
        let study = self.study("random", seed)?;
        let evals = Mutex::new(Vec::new());
        study.optimize(n, |trial| {
            let run = self.start(trial, seed * 1_000_003 + trial.number())?;
            let (_, eval) = self.train_to(trial, run, max_epochs)?;
            evals.lock().unwrap_or_else(|e| e.into_inner()).push(eval);
            Ok(eval.val_accuracy)
        })?;
        Ok(evals.into_inner().unwrap_or_else(|e| e.into_inner()))
    }

    // ANCHOR: hyperband
    /// Hyperband with maximum budget `max_epochs` and `eta`; promoted configurations
    /// continue from where their last rung stopped.
    fn hyperband(&self, seed: u64, max_epochs: usize, eta: f64) -> anyhow::Result<Outcome> {
        let study = self.study("hyperband", seed)?;
        let runs: Mutex<HashMap<u64, Run>> = Mutex::new(HashMap::new());
        let evals = Mutex::new(Vec::new());
        let epochs = Mutex::new(0usize);
        study.hyperband(max_epochs as f64, eta, |trial, budget| {
            let target = budget.round().max(1.0) as usize;
            let kept = runs.lock().unwrap_or_else(|e| e.into_inner()).remove(&trial.number());
            let run = match kept {
                Some(run) => run,
                None => self.start(trial, seed * 1_000_003 + 500_000 + trial.number())?,
            };
            let before = run.epochs;
            let (run, eval) = self.train_to(trial, run, target)?;
            *epochs.lock().unwrap_or_else(|e| e.into_inner()) += target - before;
            runs.lock().unwrap_or_else(|e| e.into_inner()).insert(trial.number(), run);
            evals.lock().unwrap_or_else(|e| e.into_inner()).push(eval);
            Ok(eval.val_accuracy)
        })?;
        let n = study.trials()?.len();
        let evals = evals.into_inner().unwrap_or_else(|e| e.into_inner());
        outcome(&evals, epochs.into_inner().unwrap_or_else(|e| e.into_inner()), n)
    }
    // ANCHOR_END: hyperband
}

fn outcome(evals: &[Eval], epochs: usize, configurations: usize) -> anyhow::Result<Outcome> {
    let best = evals
        .iter()
        .filter(|e| e.val_accuracy.is_finite())
        .fold(None, |best: Option<Eval>, e| match best {
            Some(b) if !e.beats(&b) => Some(b),
            _ => Some(*e),
        })
        .ok_or_else(|| anyhow::anyhow!("no configuration was evaluated"))?;
    Ok(Outcome { best, epochs, configurations })
}

fn main() -> anyhow::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut config: RunConfig = toml::from_str(CONFIG)?;
    config.data.path = root.join(&config.data.path);
    let seeds: u64 = arg("--seeds").unwrap_or(5);
    let first_seed: u64 = arg("--first-seed").unwrap_or(0);
    let n_random: usize = arg("--random").unwrap_or(40);
    let max_epochs: usize = arg("--max-epochs").unwrap_or(27);
    let eta: f64 = arg("--eta").unwrap_or(3.0);
    let data = anneal::run::prepare(&config)?;
    let device = Backend::resolve(None)?.device()?;
    let brackets = anneal::hpo::schedule::hyperband_brackets(max_epochs as f64, eta)?;
    let resumed: f64 = brackets.iter().map(|b| b.resumed_budget()).sum();
    let scratch: f64 = brackets.iter().map(|b| b.total_budget()).sum();
    println!(
        "digits: {} train / {} validation / {} test rows (split seed 0); random search {n_random} × {max_epochs} \
         epochs; Hyperband R = {max_epochs}, eta = {eta}: its brackets plan {resumed} epochs with resumed rungs \
         ({scratch} from scratch)\n",
        data.split.train.len(),
        data.split.valid.len(),
        data.split.test.len()
    );
    let experiment = Experiment { config, data, device };
    println!("| seed | arm | configurations | epochs | best val acc | its test acc | chosen after epoch |");
    println!("|---|---|---|---|---|---|---|");
    let started = std::time::Instant::now();
    let (mut random_s, mut hyperband_s) = (0.0, 0.0);
    let mut rows: Vec<[Outcome; 3]> = Vec::new();
    for seed in first_seed..first_seed + seeds {
        let t = std::time::Instant::now();
        let evals = experiment.random_search(seed, n_random, max_epochs)?;
        random_s += t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let hyperband = experiment.hyperband(seed, max_epochs, eta)?;
        hyperband_s += t.elapsed().as_secs_f64();
        let random = outcome(&evals, n_random * max_epochs, n_random)?;
        let k = (hyperband.epochs / max_epochs).clamp(1, n_random);
        let cut = outcome(&evals[..k], k * max_epochs, k)?;
        let row = [random, hyperband, cut];
        for (arm, o) in ARMS.iter().zip(&row) {
            println!(
                "| {seed} | {arm} | {} | {} | {:.4} | {:.4} | {} |",
                o.configurations, o.epochs, o.best.val_accuracy, o.best.test_accuracy, o.best.epochs
            );
        }
        rows.push(row);
    }
    let mean = |f: &dyn Fn(&[Outcome; 3]) -> f64| rows.iter().map(f).sum::<f64>() / rows.len() as f64;
    for (i, arm) in ARMS.iter().enumerate() {
        println!(
            "| mean | {arm} | {:.1} | {:.0} | {:.4} | {:.4} | {:.1} |",
            mean(&|r| r[i].configurations as f64),
            mean(&|r| r[i].epochs as f64),
            mean(&|r| r[i].best.val_accuracy),
            mean(&|r| r[i].best.test_accuracy),
            mean(&|r| r[i].best.epochs as f64)
        );
    }
    let (r_epochs, h_epochs) = (mean(&|r| r[0].epochs as f64), mean(&|r| r[1].epochs as f64));
    let (r_val, r_test) = (mean(&|r| r[0].best.val_accuracy), mean(&|r| r[0].best.test_accuracy));
    let (h_val, h_test) = (mean(&|r| r[1].best.val_accuracy), mean(&|r| r[1].best.test_accuracy));
    let ratio = h_epochs / r_epochs;
    let test_gap = 100.0 * (r_test - h_test);
    let val_gap = 100.0 * (r_val - h_val);
    println!(
        "\n({:.0} s: random search {random_s:.0} s, Hyperband {hyperband_s:.0} s)",
        started.elapsed().as_secs_f64()
    );
    println!("Hyperband's epochs / random search's: {ratio:.3} (at most 1/3: {})", yes(ratio <= 1.0 / 3.0));
    println!(
        "test accuracy: Hyperband {test_gap:+.2} points behind random search (within 0.5: {})",
        yes(test_gap <= 0.5)
    );
    println!(
        "validation accuracy: Hyperband {val_gap:+.2} points behind random search (within 0.5: {})",
        yes(val_gap <= 0.5)
    );
    anyhow::ensure!(
        ratio <= 1.0 / 3.0 && test_gap <= 0.5 && val_gap <= 0.5,
        "the Hyperband claim does not hold on this run"
    );
    Ok(())
}

/// The table's arms, in the order of a row.
const ARMS: [&str; 3] = ["random search", "Hyperband", "random search cut to Hyperband's epochs"];

fn yes(ok: bool) -> &'static str {
    if ok { "yes" } else { "NO" }
}
