//! The seed's claim, checked: "layer normalization applied before (rather than
//! after) attention and feedforward layers stabilizes training without warmup
//! requirements".
//!
//! The transformer of `examples/configs/fine_foods_transformer.toml` trained
//! on the food reviews for 3 epochs in every cell of norm {pre, post} × warm-up
//! {none, 10 % of the updates} × peak learning rate {1e-3, 5e-3} × seeds
//! {0, 1, 2}, the rate decaying linearly to 0 after the warm-up, as the
//! PyTorch reference's `--sweep` (`examples/reference/transformer_train.py`).
//!
//! Each run is flagged as the reference flags it: `nonfinite` (a NaN or
//! infinite loss: the training loop stops it), `at_chance` (the last epoch's
//! training loss within 0.02 of the entropy of the class prior, the loss of
//! always answering the prior), `collapsed` (one class predicted for every
//! test review) and `diverged` (nonfinite, or the last epoch's loss more than
//! 0.1 above the lowest).
//!
//! Prints a table per cell (mean and lowest test accuracy, flag counts) beside
//! the reference's when `--reference <sweep.json>` names the JSON its
//! `--sweep` wrote, saves every run to `target/transformer_stability.json` and
//! the mean training-loss curves to `target/transformer_stability.{png,svg}`.
//!
//! Run: `cargo run --release --example transformer_stability [-- --seeds 0,1,2
//! --epochs 3 --reference sweep.json]` (24 runs; about 45 minutes on one core);
//! `--runs target/transformer_stability.json` tables and plots saved runs again
//! without training.

use anneal::RunConfig;
use anneal::data::{Augmented, Dataset};
use anneal::evaluate::chart::{Chart, PALETTE, Series, save_charts};
use anneal::train::{Backend, Loss, Progress, TrainError, Trainer, evaluate};
use serde_json::{Value, json};

/// The value after `--name` on the command line, parsed.
fn arg<T: std::str::FromStr>(name: &str) -> Option<T> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok())
}

/// One cell of the grid.
#[derive(Clone, Copy)]
struct Cell {
    pre: bool,
    warmup: bool,
    lr: f64,
}

impl Cell {
    fn name(&self) -> String {
        format!(
            "{}-LN, warm-up {}, lr {}",
            if self.pre { "pre" } else { "post" },
            if self.warmup { "10%" } else { "0" },
            self.lr
        )
    }
}

fn main() -> anyhow::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut config = RunConfig::load(root.join("examples/configs/fine_foods_transformer.toml"))?;
    let epochs: usize = arg("--epochs").unwrap_or(3);
    config.training.epochs = epochs;
    let seeds: Vec<u64> = match arg::<String>("--seeds") {
        Some(s) => s.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => vec![0, 1, 2],
    };
    let reference: Option<Value> = match arg::<String>("--reference") {
        Some(path) => Some(serde_json::from_str(&std::fs::read_to_string(path)?)?),
        None => None,
    };
    let backend = Backend::resolve(None)?;
    let device = backend.device()?;
    let data = anneal::run::prepare(&config)?;
    let n = data.train.len();
    let total = n.div_ceil(config.training.batch_size) * epochs;
    // The reference's warm-up: W = round(10 % of T); lr·(s+1)/W at update s < W, then lr·(T−s)/(T−W).
    // Ours: lr·(s+1)/W for s < W − 1 (a warm-up of W − 1 steps from lr/W), then lr·(T−s)/(T−W+1)
    // (a linear decay over the updates left): the same rates but for the decay's denominator,
    // one larger (0.3 % here).
    let warmup = (0.1f64 * total as f64).round_ties_even() as usize;
    let anneal::pipeline::TargetData::Classes { codes, .. } = &data.loaded.target else {
        anyhow::bail!("fine_foods is a classification")
    };
    let p = data.split.train.iter().filter(|&&r| codes[r] == 1).count() as f64 / n as f64;
    let prior_entropy = -(p * p.ln() + (1.0 - p) * (1.0 - p).ln());
    println!(
        "fine_foods transformer, {n} training / {} test reviews, {epochs} epochs of {} updates; warm-up {warmup} \
         updates; prior entropy {prior_entropy:.3} nats\n",
        data.test.len(),
        total / epochs
    );

    let mut cells = Vec::new();
    for pre in [false, true] {
        for warmup in [false, true] {
            for lr in [1e-3, 5e-3] {
                cells.push(Cell { pre, warmup, lr });
            }
        }
    }
    // --runs <file>: the runs a previous invocation saved, tabled and plotted again without training.
    let saved: Option<Value> = match arg::<String>("--runs") {
        Some(path) => Some(serde_json::from_str(&std::fs::read_to_string(path)?)?),
        None => None,
    };
    let mut runs: Vec<Value> = saved.as_ref().and_then(|s| s["runs"].as_array().cloned()).unwrap_or_default();
    for cell in cells.iter().filter(|_| saved.is_none()) {
        let mut c = config.clone();
        if let anneal::models::ModelConfig::Transformer(t) = &mut c.model.config {
            t.norm = if cell.pre { anneal::models::NormPlacement::Pre } else { anneal::models::NormPlacement::Post };
        }
        c.optimizer = toml::from_str(&format!("name = \"adamw\"\nlearning_rate = {}\nweight_decay = 0.01", cell.lr))?;
        c.schedule = Some(toml::from_str(&if cell.warmup {
            format!(
                "unit = \"iteration\"\nname = \"warmup\"\nsteps = {}\nstart_factor = {}\nthen = {{ name = \"polynomial\" }}",
                warmup - 1,
                1.0 / warmup as f64
            )
        } else {
            "unit = \"iteration\"\nname = \"polynomial\"".to_string()
        })?);
        let model_config =
            c.model_config(data.train.n_features(), data.loaded.target.n_outputs(), Some(&data.fitted.features));
        for &seed in &seeds {
            c.seed = seed;
            let fitted = Trainer::new(c.train_config(), device.clone()).with_progress(Progress::Silent).fit(
                model_config.init(seed, &device.clone().autodiff())?,
                &mut c.optimizer.init()?,
                &Augmented::plain(&data.train),
                None,
            );
            let run = match fitted {
                Ok(fitted) => {
                    let losses: Vec<f64> =
                        fitted.history.iter().map(|r| r.metric("train_loss").unwrap_or(f64::NAN)).collect();
                    let e = evaluate(&fitted.model, &data.test, &Loss::CrossEntropy, &device, 500)?;
                    let k = e.n_outputs;
                    let predicted: Vec<usize> =
                        e.predictions.chunks_exact(k).map(|p| if p[1] > p[0] { 1 } else { 0 }).collect();
                    let last = *losses.last().unwrap_or(&f64::NAN);
                    let lowest = losses.iter().copied().fold(f64::INFINITY, f64::min);
                    json!({
                        "seed": seed, "epoch_train_loss": losses, "test_acc": e.scores()?.0,
                        "nonfinite": false, "at_chance": last >= prior_entropy - 0.02,
                        "collapsed": predicted.iter().all(|&c| c == predicted[0]),
                        "diverged": last > lowest + 0.1,
                    })
                }
                Err(TrainError::Diverged { epoch, reason, .. }) => json!({
                    "seed": seed, "epoch_train_loss": [], "test_acc": Value::Null, "nonfinite": true,
                    "at_chance": true, "collapsed": true, "diverged": true, "stopped": format!("epoch {epoch}: {reason}"),
                }),
                Err(e) => return Err(e.into()),
            };
            eprintln!("{} seed {seed}: {run}", cell.name());
            runs.push(json!({ "norm": if cell.pre { "pre" } else { "post" }, "warmup": cell.warmup, "lr": cell.lr, "run": run }));
        }
    }
    let of_cell = |cell: &Cell| -> Vec<&Value> {
        runs.iter()
            .filter(|r| {
                r["norm"] == (if cell.pre { "pre" } else { "post" }) && r["warmup"] == cell.warmup && r["lr"] == cell.lr
            })
            .map(|r| &r["run"])
            .collect()
    };
    // The reference sweep's runs of the cell with the same settings (none without --reference).
    let reference_runs = |cell: &Cell| -> Vec<&Value> {
        let found = reference.as_ref().and_then(|rf| {
            rf["cells"].as_array()?.iter().find(|c| {
                c["norm_first"].as_u64() == Some(u64::from(cell.pre))
                    && (c["warmup_steps"].as_u64() != Some(0)) == cell.warmup
                    && c["lr"].as_f64() == Some(cell.lr)
            })
        });
        found.and_then(|c| c["runs"].as_array()).map(|a| a.iter().collect()).unwrap_or_default()
    };
    // The mean training loss of each epoch over a cell's finished runs.
    let mean_curve = |rs: &[&Value]| -> Vec<f64> {
        let curves: Vec<Vec<f64>> = rs
            .iter()
            .filter_map(|r| r["epoch_train_loss"].as_array())
            .filter(|a| !a.is_empty())
            .map(|a| a.iter().map(|v| v.as_f64().unwrap_or(f64::NAN)).collect())
            .collect();
        (0..epochs).map(|e| curves.iter().filter_map(|c| c.get(e)).sum::<f64>() / curves.len().max(1) as f64).collect()
    };
    let curves: Vec<Vec<f64>> = cells.iter().map(|c| mean_curve(&of_cell(c))).collect();

    // The table: ours beside the reference's cell of the same settings.
    let summary = |rs: &[&Value]| -> String {
        let accs: Vec<f64> = rs.iter().filter_map(|r| r["test_acc"].as_f64()).collect();
        let count = |flag: &str| rs.iter().filter(|r| r[flag].as_bool() == Some(true)).count();
        let mean = if accs.is_empty() { f64::NAN } else { accs.iter().sum::<f64>() / accs.len() as f64 };
        let min = accs.iter().copied().fold(f64::INFINITY, f64::min);
        format!(
            "{mean:.3} (lowest {min:.3}); {}/{} diverged, {} at chance, {} collapsed",
            count("diverged"),
            rs.len(),
            count("at_chance"),
            count("collapsed")
        )
    };
    println!(
        "| norm | warm-up | lr | Anneal: test accuracy, mean (lowest); flags | {}",
        if reference.is_some() { "PyTorch: the same |" } else { "" }
    );
    println!("|---|---|---|---|{}", if reference.is_some() { "---|" } else { "" });
    for cell in &cells {
        let ours = of_cell(cell);
        let theirs = reference.as_ref().map(|_| format!(" {} |", summary(&reference_runs(cell))));
        println!(
            "| {} | {} | {} | {} |{}",
            if cell.pre { "pre" } else { "post" },
            if cell.warmup { "10 %" } else { "none" },
            cell.lr,
            summary(&ours),
            theirs.unwrap_or_default()
        );
    }

    let series = |curves: &[Vec<f64>]| -> Vec<Series> {
        cells
            .iter()
            .zip(curves)
            .enumerate()
            .map(|(i, (cell, curve))| {
                let points = curve.iter().enumerate().map(|(e, l)| ((e + 1) as f64, *l)).collect();
                // One colour per norm and warm-up; the higher rate's line has dots
                // (the legend shows colours only, so its label says so).
                let high = cell.lr > 2e-3;
                let label = if high { format!("{} (dots)", cell.name()) } else { cell.name() };
                let mut s = Series::line(label, points, PALETTE[(i / 2) % PALETTE.len()]);
                s.markers = high;
                s
            })
            .collect()
    };
    // Both panels on one y scale, with the top half left to the legend.
    let all = curves.iter().flatten().copied().chain(
        reference
            .as_ref()
            .map_or_else(Vec::new, |_| cells.iter().flat_map(|cell| mean_curve(&reference_runs(cell))).collect()),
    );
    let (lo, hi) =
        all.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    let y_range = lo.is_finite().then_some((lo - 0.02, hi + (hi - lo)));
    let mut charts = vec![Chart {
        title: format!("Anneal: mean training loss of {} seeds", seeds.len()),
        x_label: "epoch".into(),
        y_label: "training loss (nats)".into(),
        series: series(&curves),
        y_range,
        ..Chart::default()
    }];
    if reference.is_some() {
        let theirs: Vec<Vec<f64>> = cells.iter().map(|cell| mean_curve(&reference_runs(cell))).collect();
        charts.push(Chart {
            title: format!("PyTorch: mean training loss of {} seeds", seeds.len()),
            x_label: "epoch".into(),
            y_label: "training loss (nats)".into(),
            series: series(&theirs),
            y_range,
            ..Chart::default()
        });
    }
    let out = root.join("target/transformer_stability");
    if saved.is_none() {
        std::fs::write(out.with_extension("json"), serde_json::to_string_pretty(&json!({ "runs": runs }))?)?;
    }
    let [png, _] = save_charts(&charts, &out)?;
    println!("\nruns: {}\ncurves: {}", out.with_extension("json").display(), png.display());
    Ok(())
}
