//! Does knowledge distillation help a small model? The teacher is the MNIST
//! CNN of `examples/configs/mnist_cnn.toml` (4000 training / 1000 test
//! images of `data/mnist_5k.csv.gz`); the student a small MLP on the same
//! pixels, trained alone and distilled from the teacher (`[distill]`,
//! temperature 4, alpha 0.9) from the same seeds: 5 paired runs. Teacher and
//! students share the split, so the teacher never saw a test image.
//!
//! Prints the accuracies, the paired gain (mean ± standard error), the share of
//! the teacher's accuracy the student keeps, parameter counts and the predict
//! throughput of both (`--throughput` times that alone: `cargo xtask bench
//! distill`), beside DistilBERT's 97 % of BERT with 40 % fewer parameters.
//!
//! Run: `cargo run --release --example distill_effect [-- --seeds 0,1,2,3,4
//! --hidden 32 --epochs 20]` (about 6 minutes on 2 cores).

use std::path::Path;
use std::time::Instant;

use anneal::RunConfig;
use anneal::models::ModelConfig;
use anneal::run::{RunMetrics, TrainOptions, train};
use anneal::train::{Backend, Progress};
use burn::module::Module;
use burn::prelude::*;

/// The value after `--name` on the command line, parsed.
fn arg<T: std::str::FromStr>(name: &str) -> Option<T> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok())
}

fn student_config(
    root: &Path,
    hidden: usize,
    epochs: usize,
    seed: u64,
    distill: Option<&Path>,
) -> anyhow::Result<RunConfig> {
    let mut config = RunConfig::load(root.join("examples/configs/mnist_cnn.toml"))?;
    config.seed = seed;
    config.model = toml::from_str::<ModelConfig>(&format!("kind = \"mlp\"\nhidden = [{hidden}]"))?.into();
    config.training.epochs = epochs;
    config.distill = match distill {
        Some(teacher) => {
            Some(toml::from_str(&format!("teacher = \"{}\"\ntemperature = 4.0\nalpha = 0.9", teacher.display()))?)
        }
        None => None,
    };
    Ok(config)
}

fn run(config: &RunConfig, out: &Path) -> anyhow::Result<RunMetrics> {
    if out.exists() {
        std::fs::remove_dir_all(out)?;
    }
    let options = TrainOptions {
        out: out.to_path_buf(),
        backend: Backend::resolve(None)?,
        progress: Progress::Silent,
        resume: false,
        replicas: None,
        mpi: false,
    };
    Ok(train(config, &options)?)
}

/// Rows per second the model predicts, median of `repeats` passes over
/// `rows` random images in batches of 1000 (forward and read back).
fn throughput(model: &ModelConfig, device: &Device, rows: usize, repeats: usize) -> anyhow::Result<f64> {
    let model = model.init(0, device)?;
    let x: Vec<f32> = (0..1000 * 784).map(|i| ((i * 7919) % 256) as f32 / 255.0).collect();
    let batch = Tensor::<2>::from_data(TensorData::new(x, [1000, 784]), device);
    let mut times = Vec::new();
    for _ in 0..repeats {
        let start = Instant::now();
        for _ in 0..rows / 1000 {
            let out = anneal::models::Model::forward(&model, batch.clone());
            let _ = out.into_data();
        }
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok((rows / 1000 * 1000) as f64 / times[times.len() / 2])
}

fn shaped(config: &RunConfig) -> ModelConfig {
    config.model.with_shape(784, 10).with_image([1, 28, 28])
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    (m, (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt())
}

fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = root.join("target/distill_effect");
    let seeds: Vec<u64> = match arg::<String>("--seeds") {
        Some(s) => s.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => vec![0, 1, 2, 3, 4],
    };
    let hidden: usize = arg("--hidden").unwrap_or(32);
    let epochs: usize = arg("--epochs").unwrap_or(20);
    let teacher_config = RunConfig::load(root.join("examples/configs/mnist_cnn.toml"))?;
    let student = student_config(&root, hidden, epochs, 0, None)?;
    let device = Backend::resolve(None)?.device()?;
    let (teacher_model, student_model) = (shaped(&teacher_config), shaped(&student));
    let params = |m: &ModelConfig| -> anyhow::Result<usize> { Ok(m.init(0, &device)?.num_params()) };
    let (tp, sp) = (params(&teacher_model)?, params(&student_model)?);
    let (t_rate, s_rate) =
        (throughput(&teacher_model, &device, 10_000, 5)?, throughput(&student_model, &device, 10_000, 5)?);
    println!(
        "{{\"teacher_rows_per_s\": {t_rate:.0}, \"student_rows_per_s\": {s_rate:.0}, \"speed_up\": {:.1}, \
         \"teacher_params\": {tp}, \"student_params\": {sp}}}",
        s_rate / t_rate
    );
    if std::env::args().any(|a| a == "--throughput") {
        return Ok(());
    }

    let teacher_dir = out.join("teacher");
    let teacher = run(&teacher_config, &teacher_dir)?;
    let teacher_acc = teacher.test.get("accuracy").unwrap_or(f64::NAN);
    eprintln!("teacher: test accuracy {teacher_acc:.4}");
    let (mut alone, mut distilled) = (Vec::new(), Vec::new());
    for &seed in &seeds {
        let a = run(&student_config(&root, hidden, epochs, seed, None)?, &out.join(format!("alone_{seed}")))?;
        let d = run(
            &student_config(&root, hidden, epochs, seed, Some(&teacher_dir))?,
            &out.join(format!("distilled_{seed}")),
        )?;
        let (a, d) = (a.test.get("accuracy").unwrap_or(f64::NAN), d.test.get("accuracy").unwrap_or(f64::NAN));
        eprintln!("seed {seed}: alone {a:.4}, distilled {d:.4}");
        alone.push(a);
        distilled.push(d);
    }
    let (am, asd) = mean_sd(&alone);
    let (dm, dsd) = mean_sd(&distilled);
    let diffs: Vec<f64> = distilled.iter().zip(&alone).map(|(d, a)| d - a).collect();
    let (gain, gsd) = mean_sd(&diffs);
    let se = gsd / (diffs.len() as f64).sqrt();
    println!(
        "\nMNIST (4000 training / 1000 test images), {} paired seeds, student MLP 784-{hidden}-10, {epochs} epochs:\n",
        seeds.len()
    );
    println!("| model | parameters | test accuracy | share of the teacher's | predict rows/s |");
    println!("|---|---|---|---|---|");
    println!("| teacher: CNN | {tp} | {teacher_acc:.4} | 100 % | {t_rate:.0} |");
    println!("| student alone | {sp} | {am:.4} ± {asd:.4} | {:.1} % | {s_rate:.0} |", 100.0 * am / teacher_acc);
    println!(
        "| student distilled (T 4, alpha 0.9) | {sp} | {dm:.4} ± {dsd:.4} | {:.1} % | {s_rate:.0} |",
        100.0 * dm / teacher_acc
    );
    println!(
        "\npaired gain of distillation: {gain:+.4} ± {se:.4} (standard error), {:.1} standard errors; the student has \
         {:.1} % of the teacher's parameters ({:.0} % fewer) and predicts {:.1}x faster; the gap alone → teacher is \
         {:.1} points",
        gain / se.max(1e-12),
        100.0 * sp as f64 / tp as f64,
        100.0 - 100.0 * sp as f64 / tp as f64,
        s_rate / t_rate,
        100.0 * (teacher_acc - am)
    );
    Ok(())
}
