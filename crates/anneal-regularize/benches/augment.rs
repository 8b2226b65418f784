//! Augmentation throughput: the transforms of the workplace's `augment_bench.py`
//! (torchvision v2 and albumentations) on the same 5 000 MNIST digits, 28×28
//! grey, in batches of 256 with every image drawing its own parameters, p = 1.
//! Images per second, median over `--repeats` passes, after one warm-up pass;
//! each batch is read back to the host, so the figure includes finishing the work.
//! Geometric steps run on the host (`with_host_geometry`), as `anneal train` does
//! on a CPU backend.
//!
//! `cargo bench -p anneal-regularize --features tensors --bench augment -- --mnist
//! data/mnist_5k.csv.gz [--repeats 3] [--batch 256]`; one thread with
//! `RAYON_NUM_THREADS=1` (as `cargo xtask bench augment` runs it). Prints a table
//! and one JSON line.

use std::io::Read;
use std::time::Instant;

use anneal_regularize::augment::{AugmentConfig, ImageAugmenter};
use burn::prelude::*;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

/// The pixels of every image in the file (`label, 784 pixels` per line, 0..255), in `[0, 1]`.
fn read_mnist(path: &str) -> Vec<f32> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).expect("the MNIST file"))
        .read_to_string(&mut text)
        .expect("a gzip CSV");
    let mut pixels = Vec::new();
    for line in text.lines().skip(1) {
        pixels.extend(line.split(',').skip(1).map(|v| v.trim().parse::<f32>().expect("a pixel") / 255.0));
    }
    pixels
}

fn main() {
    let mnist = arg("--mnist").unwrap_or_else(|| "data/mnist_5k.csv.gz".into());
    let repeats: usize = arg("--repeats").map_or(3, |r| r.parse().expect("--repeats"));
    let batch: usize = arg("--batch").map_or(256, |b| b.parse().expect("--batch"));
    let pixels = read_mnist(&mnist);
    let n = pixels.len() / 784;
    let device = Device::default();
    let ops: [(&str, &str); 6] = [
        ("hflip", r#"{ transform = "horizontal_flip", p = 1.0 }"#),
        ("rotate15", r#"{ transform = "rotate", degrees = 15 }"#),
        ("rrc", r#"{ transform = "resized_crop", scale = [0.8, 1.0] }"#),
        ("jitter", r#"{ transform = "brightness", factor = 0.2 }, { transform = "contrast", factor = 0.2 }"#),
        ("noise", r#"{ transform = "noise", std = 0.1 }"#),
        ("erase", r#"{ transform = "erase", p = 1.0, scale = [0.02, 0.33], ratio = [0.3, 3.3] }"#),
    ];
    let batches: Vec<(Vec<f32>, Vec<usize>)> = (0..n)
        .step_by(batch)
        .map(|start| {
            let end = (start + batch).min(n);
            (pixels[start * 784..end * 784].to_vec(), (start..end).collect())
        })
        .collect();
    let mut results = serde_json::Map::new();
    println!("| transform | images/s (median of {repeats}) | passes |");
    println!("|---|---|---|");
    for (name, steps) in ops {
        let config: AugmentConfig = toml::from_str(&format!("steps = [{steps}]")).expect("a valid pipeline");
        let augment = ImageAugmenter::new(config, 0).expect("valid settings").with_host_geometry(true);
        let pass = |epoch: usize| -> f64 {
            let start = Instant::now();
            for (values, rows) in &batches {
                let images = Tensor::<4>::from_data(TensorData::new(values.clone(), [rows.len(), 1, 28, 28]), &device);
                let out = augment.apply(images, rows, epoch).expect("augmented");
                std::hint::black_box(out.into_data());
            }
            n as f64 / start.elapsed().as_secs_f64()
        };
        pass(0);
        let mut rates: Vec<f64> = (1..=repeats).map(pass).collect();
        rates.sort_by(f64::total_cmp);
        let median = rates[rates.len() / 2];
        println!(
            "| {name} | {median:.0} | {} |",
            rates.iter().map(|r| format!("{r:.0}")).collect::<Vec<_>>().join(", ")
        );
        results.insert(name.into(), serde_json::json!({ "images_per_s": median, "runs": rates }));
    }
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    println!(
        "{}",
        serde_json::json!({ "bench": "augment", "images": n, "batch": batch, "threads": threads, "ops": results })
    );
}
