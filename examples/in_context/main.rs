//! In-context learning of linear functions (Garg et al. 2022) in miniature:
//! causal transformers of three sizes are trained on prompts of `(x, y)` pairs
//! from random linear functions (`d = 5`, up to `3d + 1 = 16` pairs, noise
//! σ = 0.1), then asked for the `y` of a query `x` of 2 000 functions they never
//! saw, with `k = 0 … 3d` pairs in the prompt and no parameter update. Their
//! error is set beside least squares, 3-nearest neighbours and averaging on
//! the same prompts. Writes `target/in_context/{errors.md, errors.json,
//! errors.png, errors.svg}`.
//!
//! Run: `cargo run --release --features wgpu,postgres,mpi --example in_context
//! [-- --steps 10000 --layers 1,3,6 --seed 0 --lr 0.002 --batch 64]` (about 20 minutes on 2 cores);
//! `-- --from target/in_context/errors.json` writes the table and plot again
//! from an earlier run.

use std::fmt::Write as _;
use std::path::Path;

use anneal::evaluate::chart::{Chart, PALETTE, Series, save_charts};
use anneal::incontext::{Baseline, IclConfig, Prompts, baseline_errors, model_errors, train};
use anneal::models::incontext::InContextConfig;
use anneal::train::Backend;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../common/experiment.rs"]
mod experiment;
use experiment::arg;

const DIM: usize = 5;
const POINTS: usize = 3 * DIM + 1;

/// The model sizes: name, d_model, layers, heads. Depth is what matters here:
/// a 2-layer model of width 32 reached 0.13 at k = 2d after 8 000 steps, a
/// 6-layer one 0.009 after 6 000 (each layer can take one step of an
/// in-context optimiser; von Oswald et al. 2023).
const SIZES: [(&str, usize, usize, usize); 3] = [("1 layer", 32, 1, 4), ("3 layers", 32, 3, 4), ("6 layers", 32, 6, 4)];

fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = root.join("target/in_context");
    std::fs::create_dir_all(&out)?;
    let steps: usize = arg("--steps").unwrap_or(10_000);
    let seed: u64 = arg("--seed").unwrap_or(0);
    let wanted: String = arg("--layers").unwrap_or_else(|| "1,3,6".into());
    let device = Backend::resolve(None)?.device()?;
    let test = Prompts::sample(DIM, POINTS, 2000, 0.1, 1_000_000 + seed);

    let mut rows: Vec<(String, usize, Vec<f64>)> = Vec::new();
    if let Some(from) = arg::<String>("--from") {
        // The table and plot again from an earlier run's errors.json, without training.
        let earlier: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(from)?)?;
        for v in earlier.iter().filter(|v| v["values"].as_u64().unwrap_or(0) > 0) {
            let errors = v["errors"].as_array().map(|e| e.iter().filter_map(|x| x.as_f64()).collect());
            rows.push((
                v["estimator"].as_str().unwrap_or_default().to_string(),
                v["values"].as_u64().unwrap_or(0) as usize,
                errors.unwrap_or_default(),
            ));
        }
    }
    let train_now = rows.is_empty();
    for &(name, d_model, layers, heads) in
        SIZES.iter().filter(|s| train_now && wanted.split(',').any(|w| w.parse() == Ok(s.2)))
    {
        let config = IclConfig {
            model: InContextConfig { dim: DIM, points: POINTS, d_model, layers, heads, d_ff: 4 * d_model },
            noise: 0.1,
            steps,
            batch_size: arg("--batch").unwrap_or(64),
            learning_rate: arg("--lr").unwrap_or(2e-3),
            warmup: steps / 20,
            seed,
        };
        let started = std::time::Instant::now();
        let (model, _) = train(&config, &device.clone().autodiff(), &mut |step, loss| {
            if step % 1000 == 0 {
                eprintln!("{name}: step {step}, loss {loss:.4}");
            }
        })?;
        let errors = model_errors(&model, &test, &device)?;
        eprintln!(
            "{name} ({} values): trained in {:.0} s; error at k = 2d: {:.4}",
            config.model.num_params(),
            started.elapsed().as_secs_f64(),
            errors[2 * DIM]
        );
        rows.push((format!("transformer {name}"), config.model.num_params(), errors));
    }
    for b in [Baseline::LeastSquares, Baseline::NearestNeighbours, Baseline::Averaging] {
        rows.push((b.label().to_string(), 0, baseline_errors(&test, b)));
    }

    let mut md = String::from("| estimator | values | ");
    for k in 0..POINTS {
        write!(md, "k={k} | ")?;
    }
    md.push_str("\n|---|---:|");
    md.push_str(&"---:|".repeat(POINTS));
    md.push('\n');
    for (name, params, errors) in &rows {
        write!(md, "| {name} | {} |", if *params > 0 { params.to_string() } else { "–".into() })?;
        for e in errors {
            write!(md, " {e:.4} |")?;
        }
        md.push('\n');
    }
    let ls = &rows.iter().find(|r| r.0 == Baseline::LeastSquares.label()).expect("least squares row").2;
    let avg = &rows.iter().find(|r| r.0 == Baseline::Averaging.label()).expect("averaging row").2;
    writeln!(md, "\nAt k = 2d = {}:", 2 * DIM)?;
    for (name, _, errors) in rows.iter().filter(|r| r.1 > 0) {
        let e = errors[2 * DIM];
        writeln!(
            md,
            "- {name}: {e:.4} = {:.2}× least squares ({:.4}), {:.3}× averaging ({:.4})",
            e / ls[2 * DIM],
            ls[2 * DIM],
            e / avg[2 * DIM],
            avg[2 * DIM]
        )?;
    }
    std::fs::write(out.join("errors.md"), &md)?;
    std::fs::write(
        out.join("errors.json"),
        serde_json::to_string_pretty(
            &rows
                .iter()
                .map(|(n, p, e)| serde_json::json!({"estimator": n, "values": p, "errors": e}))
                .collect::<Vec<_>>(),
        )?,
    )?;
    let chart = Chart {
        title: format!("In-context regression, d = {DIM}, 2 000 new functions"),
        x_label: "in-context examples k".into(),
        y_label: "squared error / d".into(),
        log_y: true,
        series: rows
            .iter()
            .enumerate()
            .map(|(i, (n, _, e))| {
                let pts = e.iter().enumerate().map(|(k, &v)| (k as f64, v)).collect();
                let mut s = Series::line(n.clone(), pts, PALETTE[i % PALETTE.len()]);
                s.markers = true;
                s
            })
            .collect(),
        marker: Some((DIM as f64, "k = d".into())),
        ..Chart::default()
    };
    save_charts(&[chart], &out.join("errors"))?;
    print!("{md}");
    Ok(())
}
