//! Does transfer learning pay on images? The MNIST CNN of
//! `examples/configs/mnist_cnn.toml` is trained on the digits 0–4 of
//! `data/mnist_5k.csv.gz` (the source task), then the digits 5–9 (the target
//! task) are learnt with 10, 50 or all 400 labelled images per class, five ways:
//!
//! - scratch: the same network from its seed;
//! - feature extraction: the source network's convolution and hidden layers
//!   frozen (no gradient computed for them), a new output layer trained;
//! - fine-tuning the dense layers: the convolutions frozen, the hidden dense
//!   layer and a new output layer trained (Keras' `mnist_transfer_cnn` recipe);
//! - fine-tuning: every layer trains, the backbone at 0.1× the head's rate;
//! - the same three from weights trained in PyTorch on the same source images
//!   (`pretrain_torch.py` beside this file writes them as safetensors in
//!   PyTorch's layout; give `--python <interpreter with torch and
//!   safetensors>` to include them).
//!
//! Every arm is a real `anneal train` run (the `[transfer]` table), on 5 seeds
//! (the seed picks the labelled images, the initial head and the order); the
//! 500 target test images (100 per class) are the same for every run. Prints
//! test accuracy (mean ± std), seconds per epoch, the energy estimate per run
//! and the trainable parameters; writes `target/transfer_effect/accuracy.{png,svg}`.
//!
//! Run: `cargo run --release --example transfer_effect [-- --seeds 0,1,2,3,4
//! --python ../refvenv/bin/python]` (about 15 minutes on 2 cores; `--replot` redraws
//! the plot from the last run's `curves.json`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anneal::RunConfig;
use anneal::evaluate::chart::{Chart, PALETTE, Series, save_charts};

#[path = "../common/experiment.rs"]
mod experiment;
use experiment::{arg, mean_sd, run};
#[path = "../common/mnist_parts.rs"]
mod mnist_parts;
use mnist_parts::{Mnist, shuffled};

/// Labelled target images per class, and the epochs each size trains (about
/// the same number of updates as the source run's, at least 60).
const SIZES: [(usize, usize); 3] = [(10, 60), (50, 40), (400, 10)];
const TEST_PER_CLASS: usize = 100;

fn config(data: &Path, epochs: usize, batch: usize, seed: u64, transfer: Option<String>) -> anyhow::Result<RunConfig> {
    let text = format!(
        r#"seed = {seed}
[data]
path = "{}"
target = "label"
kind = "image"
[data.image]
height = 28
width = 28
channels = 1
scale = 255
normalize = "scale"
[split]
column = "part"
[model]
kind = "cnn"
blocks = [
  {{ channels = 32, kernel = 3, pool = "max", pool_size = 2 }},
  {{ channels = 64, kernel = 3, pool = "max", pool_size = 2 }},
]
hidden = [128]
dropout = 0.25
[optimizer]
name = "adam"
learning_rate = 0.001
[training]
epochs = {epochs}
batch_size = {batch}
{}"#,
        data.display(),
        transfer.unwrap_or_default()
    );
    Ok(toml::from_str(&text)?)
}

/// One arm's runs at one size: accuracy, seconds per epoch and energy per run
/// (one value per seed), and the parameters that train.
#[derive(Debug, Clone, Default)]
struct ArmResults {
    accuracy: Vec<f64>,
    epoch_seconds: Vec<f64>,
    energy_wh: Vec<f64>,
    trainable: Option<usize>,
}

/// The trainable parameters a run's report states (`N of the model's M parameters train`).
fn trainable(out: &Path) -> Option<usize> {
    let report = std::fs::read_to_string(out.join("report.md")).ok()?;
    let line = report.lines().find(|l| l.contains("parameters train"))?;
    let before = line.split(" of the model's ").next()?;
    before.rsplit(' ').next()?.parse().ok()
}

/// Draws each arm's mean test accuracy against the labelled images per class.
fn plot(out: &Path, seeds: usize, names: &[String], curves: &[Vec<(f64, f64)>]) -> anyhow::Result<()> {
    // PALETTE's six colours and black for a seventh arm.
    let colour = |a: usize| PALETTE.get(a).copied().unwrap_or((0, 0, 0));
    let chart = Chart {
        title: format!("Digits 5-9 after pretraining on 0-4 ({seeds} seeds)"),
        x_label: "labelled images per class".into(),
        y_label: "mean test accuracy".into(),
        series: names
            .iter()
            .zip(curves)
            .enumerate()
            .map(|(a, (name, points))| Series {
                markers: true,
                ..Series::line(name.clone(), points.clone(), colour(a))
            })
            .collect(),
        y_range: Some((0.4, 1.0)),
        legend_bottom: true,
        ..Chart::default()
    };
    let [png, _] = save_charts(&[chart], &out.join("accuracy"))?;
    println!("\nplot: {}", png.display());
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = root.join("target/transfer_effect");
    std::fs::create_dir_all(&out)?;
    if std::env::args().any(|a| a == "--replot") {
        // The plot again from the last run's curves.json, without training.
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("curves.json"))?)?;
        let names: Vec<String> = serde_json::from_value(v["arms"].clone())?;
        let curves: Vec<Vec<(f64, f64)>> = serde_json::from_value(v["curves"].clone())?;
        return plot(&out, v["seeds"].as_u64().unwrap_or(0) as usize, &names, &curves);
    }
    let seeds: Vec<u64> = match arg::<String>("--seeds") {
        Some(s) => s.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => vec![0, 1, 2, 3, 4],
    };
    let python: Option<PathBuf> = arg("--python");

    let mnist = Mnist::read(&root)?;

    // Source: digits 0-4, 80 % train / 20 % test per class.
    let mut source_rows = Vec::new();
    for c in 0..5 {
        let rows = mnist.of_class(c);
        let cut = rows.len() * 4 / 5;
        source_rows.extend(rows.iter().enumerate().map(|(i, &r)| (r, if i < cut { "train" } else { "test" })));
    }
    let source_csv = out.join("source_0to4.csv");
    mnist.write_csv(&source_csv, &source_rows)?;
    let source_run = out.join("runs/source");
    let source = run(&config(&source_csv, 10, 64, 0, None)?, &source_run)?;
    println!(
        "source: CNN on digits 0-4 ({} train / {} test images), test accuracy {:.4}",
        source.split["train"],
        source.split["test"],
        source.test.get("accuracy").unwrap_or(f64::NAN)
    );
    let mut sources = vec![("anneal", source_run.clone())];
    if let Some(python) = &python {
        let weights = out.join("torch_source.safetensors");
        let status = std::process::Command::new(python)
            .arg(root.join("examples/transfer_effect/pretrain_torch.py"))
            .args(["--data", source_csv.to_str().unwrap_or_default(), "--out", weights.to_str().unwrap_or_default()])
            .status()?;
        anyhow::ensure!(status.success(), "pretrain_torch.py failed");
        sources.push(("PyTorch", weights));
    }

    // Target: digits 5-9; 100 test images per class, the rest a pool to label from.
    let target: Vec<(Vec<usize>, Vec<usize>)> = (5..10)
        .map(|c| {
            let rows = mnist.of_class(c);
            (rows[..TEST_PER_CLASS].to_vec(), rows[TEST_PER_CLASS..].to_vec())
        })
        .collect();
    let mut arms: Vec<(String, Option<String>)> = vec![("scratch".into(), None)];
    for (name, from) in &sources {
        arms.push((
            format!("feature extraction ({name} source)"),
            Some(format!("[transfer]\nfrom = \"{}\"\nmode = \"feature_extraction\"\n", from.display())),
        ));
        arms.push((
            format!("fine-tuning the dense layers ({name} source)"),
            Some(format!("[transfer]\nfrom = \"{}\"\nmode = \"fine_tune\"\nunfreeze_last = 1\n", from.display())),
        ));
        arms.push((
            format!("fine-tuning ({name} source)"),
            Some(format!("[transfer]\nfrom = \"{}\"\nmode = \"fine_tune\"\nbackbone_lr_scale = 0.1\n", from.display())),
        ));
    }
    // results[size][arm] = (accuracies, seconds per epoch, Wh per run, trainable parameters)
    let mut table_md = String::new();
    let _ = writeln!(
        table_md,
        "| labelled images per class | arm | test accuracy, mean ± std | vs scratch, paired mean ± s.e. | s / epoch | energy per run (Wh) | trainable parameters |"
    );
    let _ = writeln!(table_md, "|---|---|---|---|---|---|---|");
    let mut curves: Vec<Vec<(f64, f64)>> = vec![Vec::new(); arms.len()];
    let mut epoch_seconds: Vec<Vec<f64>> = vec![Vec::new(); arms.len()];
    for &(per_class, epochs) in &SIZES {
        let mut per_arm: Vec<ArmResults> = vec![ArmResults::default(); arms.len()];
        for &seed in &seeds {
            let mut rows: Vec<(usize, &str)> = Vec::new();
            for (test, pool) in &target {
                rows.extend(test.iter().map(|&r| (r, "test")));
                let picked = shuffled(pool.clone(), seed * 7919 + per_class as u64);
                rows.extend(picked.iter().take(per_class).map(|&r| (r, "train")));
            }
            let csv = out.join(format!("target_5to9_{per_class}_seed{seed}.csv"));
            mnist.write_csv(&csv, &rows)?;
            for (a, (name, transfer)) in arms.iter().enumerate() {
                let dir = out.join(format!("runs/{per_class}_{a}_{seed}"));
                let m = run(&config(&csv, epochs, (5 * per_class).min(64), seed, transfer.clone())?, &dir)?;
                let acc = m.test.get("accuracy").unwrap_or(f64::NAN);
                let secs = m.history.iter().map(|r| r.seconds).sum::<f64>() / m.history.len().max(1) as f64;
                let wh = m.energy.as_ref().map_or(f64::NAN, |e| e.energy_wh);
                eprintln!("{per_class}/class seed {seed} {name}: accuracy {acc:.4}, {secs:.3} s/epoch, {wh:.4} Wh");
                let entry = &mut per_arm[a];
                entry.accuracy.push(acc);
                entry.epoch_seconds.push(secs);
                entry.energy_wh.push(wh);
                entry.trainable = trainable(&dir).or(entry.trainable);
            }
        }
        for (a, (name, _)) in arms.iter().enumerate() {
            let ArmResults { accuracy: acc, epoch_seconds: secs, energy_wh: wh, trainable: params } = &per_arm[a];
            let (m, sd) = mean_sd(acc);
            let gain = if a == 0 {
                "—".to_string()
            } else {
                let d: Vec<f64> = acc.iter().zip(&per_arm[0].accuracy).map(|(x, s)| x - s).collect();
                let (dm, dsd) = mean_sd(&d);
                format!("{dm:+.4} ± {:.4}", dsd / (d.len() as f64).sqrt())
            };
            let _ = writeln!(
                table_md,
                "| {per_class} | {name} | {m:.4} ± {sd:.4} | {gain} | {:.3} | {:.4} | {} |",
                mean_sd(secs).0,
                mean_sd(wh).0,
                params.map_or_else(|| "all".to_string(), |p| p.to_string())
            );
            curves[a].push((per_class as f64, m));
            if per_class == SIZES[SIZES.len() - 1].0 {
                epoch_seconds[a] = secs.clone();
            }
        }
    }
    println!("\nDigits 5-9, 500 test images, {} seeds:\n\n{table_md}", seeds.len());
    let per_epoch = |a: usize| mean_sd(&epoch_seconds[a]).0;
    println!(
        "Seconds per epoch with all labels: feature extraction {:.3}, fine-tuning {:.3}, scratch {:.3}: fine-tuning / \
         feature extraction = {:.2}x",
        per_epoch(1),
        per_epoch(3),
        per_epoch(0),
        per_epoch(3) / per_epoch(1)
    );
    let names: Vec<String> = arms.iter().map(|(name, _)| name.clone()).collect();
    let results = serde_json::json!({ "seeds": seeds.len(), "arms": names, "curves": curves });
    std::fs::write(out.join("curves.json"), results.to_string())?;
    plot(&out, seeds.len(), &names, &curves)?;
    Ok(())
}
