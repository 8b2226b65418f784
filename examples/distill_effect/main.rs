//! Does knowledge distillation help a small model? The teacher is the MNIST
//! CNN of `examples/configs/mnist_cnn.toml`, trained on 4 000 labelled images
//! of `data/mnist_5k.csv.gz` (400 per class; 100 per class are the test
//! images). The student, a small MLP on the same pixels, gets `--labels`
//! labelled images per class (all 400 by default; with fewer, the seed picks
//! them from the teacher's training images) and is trained alone, or
//! distilled from the teacher (`[distill]`, temperature 4, alpha 0.9) on those
//! same images: 5 paired seeds, the same initial weights and order within a
//! pair. The teacher never saw a test image.
//!
//! Prints the accuracies, the paired gain (mean ± standard error), the share of
//! the teacher's accuracy the student keeps, parameter counts and the predict
//! throughput of both (`--throughput` times that alone: `cargo xtask bench
//! distill`), beside DistilBERT's 97 % of BERT with 40 % fewer parameters.
//!
//! Run: `cargo run --release --example distill_effect [-- --seeds 0,1,2,3,4
//! --labels 400 --hidden 32 --epochs 200 --temperature 4 --alpha 0.9]` (about 5
//! minutes on 2 cores).

use std::path::Path;
use std::time::Instant;

use anneal::RunConfig;
use anneal::models::ModelConfig;
use anneal::train::Backend;
use burn::module::Module;
use burn::prelude::*;

#[path = "../common/experiment.rs"]
mod experiment;
use experiment::{arg, mean_sd, run};
#[path = "../common/mnist_parts.rs"]
mod mnist_parts;
use mnist_parts::{Mnist, shuffled};

/// The config of `examples/configs/mnist_cnn.toml` on `data` (a CSV with a
/// `part` column), with `model` (the teacher's CNN when `None`).
fn config(root: &Path, data: &Path, model: Option<&str>, epochs: usize, seed: u64) -> anyhow::Result<RunConfig> {
    let mut config = RunConfig::load(root.join("examples/configs/mnist_cnn.toml"))?;
    config.seed = seed;
    config.data.path = data.to_path_buf();
    config.split = toml::from_str("column = \"part\"")?;
    if let Some(model) = model {
        config.model = toml::from_str::<ModelConfig>(model)?.into();
        config.training.epochs = epochs;
    }
    Ok(config)
}

/// Rows per second the model predicts: batches of 1 000 random images
/// (forward and read back) for at least half a second per pass, median of
/// `repeats` passes.
fn throughput(model: &ModelConfig, device: &Device, repeats: usize) -> anyhow::Result<f64> {
    let model = model.init(0, device)?;
    let x: Vec<f32> = (0..1000 * 784).map(|i| ((i * 7919) % 256) as f32 / 255.0).collect();
    let batch = Tensor::<2>::from_data(TensorData::new(x, [1000, 784]), device);
    let mut rates = Vec::new();
    for _ in 0..repeats {
        let (start, mut rows) = (Instant::now(), 0usize);
        while rows < 1000 || start.elapsed().as_secs_f64() < 0.5 {
            // A new input each batch (one addition), so nothing can be reused.
            let out = anneal::models::Model::forward(&model, batch.clone().add_scalar(rows as f32 * 1e-6));
            let _ = out.into_data();
            rows += 1000;
        }
        rates.push(rows as f64 / start.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    Ok(rates[rates.len() / 2])
}

/// `model` for MNIST's 28x28 images and 10 classes.
fn shaped(model: &ModelConfig) -> ModelConfig {
    model.with_shape(784, 10).with_image([1, 28, 28])
}

fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let seeds: Vec<u64> = match arg::<String>("--seeds") {
        Some(s) => s.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => vec![0, 1, 2, 3, 4],
    };
    let labels: usize = arg("--labels").unwrap_or(400);
    let hidden: usize = arg("--hidden").unwrap_or(32);
    let epochs: usize = arg("--epochs").unwrap_or(200);
    let temperature: f64 = arg("--temperature").unwrap_or(4.0);
    let alpha: f64 = arg("--alpha").unwrap_or(0.9);
    let student_model = format!("kind = \"mlp\"\nhidden = [{hidden}]");
    let out = root.join("target/distill_effect");
    std::fs::create_dir_all(&out)?;

    let device = Backend::resolve(None)?.device()?;
    let teacher_shape = shaped(&RunConfig::load(root.join("examples/configs/mnist_cnn.toml"))?.model);
    let student_shape = shaped(&toml::from_str::<ModelConfig>(&student_model)?);
    let params = |m: &ModelConfig| -> anyhow::Result<usize> { Ok(m.init(0, &device)?.num_params()) };
    let (tp, sp) = (params(&teacher_shape)?, params(&student_shape)?);
    let (t_rate, s_rate) = (throughput(&teacher_shape, &device, 5)?, throughput(&student_shape, &device, 5)?);
    println!(
        "{{\"teacher_rows_per_s\": {t_rate:.0}, \"student_rows_per_s\": {s_rate:.0}, \"speed_up\": {:.1}, \
         \"teacher_params\": {tp}, \"student_params\": {sp}}}",
        s_rate / t_rate
    );
    if std::env::args().any(|a| a == "--throughput") {
        return Ok(());
    }

    // 100 test images per class; the other 400 of each class are the teacher's
    // training images and the pool the student's labels come from.
    let mnist = Mnist::read(&root)?;
    let classes: Vec<(Vec<usize>, Vec<usize>)> = (0..10)
        .map(|c| {
            let rows = mnist.of_class(c);
            (rows[..100].to_vec(), rows[100..].to_vec())
        })
        .collect();
    let teacher_csv = out.join("teacher.csv");
    let all: Vec<(usize, &str)> = classes
        .iter()
        .flat_map(|(test, pool)| test.iter().map(|&r| (r, "test")).chain(pool.iter().map(|&r| (r, "train"))))
        .collect();
    mnist.write_csv(&teacher_csv, &all)?;
    let teacher_dir = out.join("teacher");
    let teacher = run(&config(&root, &teacher_csv, None, 0, 0)?, &teacher_dir)?;
    let teacher_acc = teacher.test.get("accuracy").unwrap_or(f64::NAN);
    eprintln!("teacher: test accuracy {teacher_acc:.4}");

    let (mut alone, mut distilled) = (Vec::new(), Vec::new());
    for &seed in &seeds {
        // The student's labelled images; the rest of the pool is validation only.
        let mut rows = Vec::new();
        for (test, pool) in &classes {
            rows.extend(test.iter().map(|&r| (r, "test")));
            let picked = shuffled(pool.clone(), seed * 7919 + labels as u64);
            rows.extend(picked.iter().enumerate().map(|(i, &r)| (r, if i < labels { "train" } else { "valid" })));
        }
        let csv = out.join(format!("student_{labels}_seed{seed}.csv"));
        mnist.write_csv(&csv, &rows)?;
        let mut plain = config(&root, &csv, Some(&student_model), epochs, seed)?;
        plain.training.batch_size = plain.training.batch_size.min(10 * labels);
        let a = run(&plain, &out.join(format!("alone_{seed}")))?;
        let mut taught = plain.clone();
        taught.distill = Some(toml::from_str(&format!(
            "teacher = \"{}\"\ntemperature = {temperature:?}\nalpha = {alpha:?}",
            teacher_dir.display()
        ))?);
        let d = run(&taught, &out.join(format!("distilled_{seed}")))?;
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
        "\nMNIST, 1000 test images; teacher on 4000 labelled images, student MLP 784-{hidden}-10 on {labels} per \
         class ({} images), {epochs} epochs, {} paired seeds:\n",
        10 * labels,
        seeds.len()
    );
    println!("| model | parameters | test accuracy | share of the teacher's | predict rows/s |");
    println!("|---|---|---|---|---|");
    println!("| teacher: CNN, 4000 labels | {tp} | {teacher_acc:.4} | 100 % | {t_rate:.0} |");
    println!("| student alone | {sp} | {am:.4} ± {asd:.4} | {:.1} % | {s_rate:.0} |", 100.0 * am / teacher_acc);
    println!(
        "| student distilled (T {temperature}, alpha {alpha}) | {sp} | {dm:.4} ± {dsd:.4} | {:.1} % | {s_rate:.0} |",
        100.0 * dm / teacher_acc
    );
    println!(
        "\npaired gain of distillation: {gain:+.4} ± {se:.4} (standard error), {:.1} standard errors; the student has \
         {:.1} % of the teacher's parameters ({:.0} % fewer) and predicts {:.0}x faster; the gap alone → teacher is \
         {:.1} points",
        gain / se.max(1e-12),
        100.0 * sp as f64 / tp as f64,
        100.0 - 100.0 * sp as f64 / tp as f64,
        s_rate / t_rate,
        100.0 * (teacher_acc - am)
    );
    Ok(())
}
