//! Does a curriculum help? The MNIST CNN of `examples/configs/mnist_cnn.toml`
//! (split 70 / 10 / 20 so that a validation part records the learning curve),
//! trained four ways from the same initial weights for each seed:
//!
//! - plain: every training image every epoch, shuffled;
//! - curriculum: images ranked easy to hard by the loss of a reference network
//!   trained on the same images (Hacohen & Weinshall 2019's "self-taught"
//!   scoring), the classes' proportions kept in every share (`--unbalanced`
//!   drops that), admitted by root pacing from 20 % in epoch 1 to all by
//!   `--full-at`;
//! - anti-curriculum: the same pacing, hard first;
//! - random: the same pacing over a random ranking, which separates the order
//!   from the smaller early epochs;
//! - self-paced: the same pacing over the model's own current loss, ranked
//!   again before every epoch (`[curriculum] difficulty = "model"`).
//!
//! With `--text`, the same on the fine_foods transformer of
//! `examples/configs/fine_foods_transformer.toml` (5 000 reviews split
//! 70 / 10 / 20 at random instead of the file's own parts, so that a validation
//! part records the curve; 4 epochs, all rows admitted from epoch 3), about 15
//! minutes on 2 cores.
//!
//! Prints the validation accuracy after each epoch against the iterations
//! trained so far (mean over seeds), the final test accuracies, and writes the
//! curves to `target/curriculum_effect.{png,svg}`.
//!
//! Run: `cargo run --release --example curriculum_effect [-- --seeds 0,1,2,3,4
//! --epochs 10 --full-at 5 --unbalanced --text]` (about 5 minutes on 2 cores).

use anneal::RunConfig;
use anneal::data::curriculum::{
    CurriculumBatches, Order, Pacing, PacingConfig, SelfPacedBatches, balance_classes, rank,
};
use anneal::data::{Augmented, Dataset, LastBatch, Targets};
use anneal::evaluate::chart::{Chart, PALETTE, Series, save_charts};
use anneal::train::{Backend, Loss, Progress, Trainer, evaluate};

/// The value after `--name` on the command line, parsed.
fn arg<T: std::str::FromStr>(name: &str) -> Option<T> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok())
}

const ARMS: [&str; 5] = ["plain", "curriculum", "anti-curriculum", "random", "self-paced"];

fn main() -> anyhow::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let text = std::env::args().any(|a| a == "--text");
    let (file, what, unit, out) = if text {
        ("fine_foods_transformer.toml", "fine_foods transformer", "reviews", "target/curriculum_effect_text")
    } else {
        ("mnist_cnn.toml", "MNIST CNN", "images", "target/curriculum_effect")
    };
    let mut config = RunConfig::load(root.join("examples/configs").join(file))?;
    config.split = toml::from_str("train = 0.7\nvalid = 0.1\ntest = 0.2\nseed = 0")?;
    config.training.epochs = arg("--epochs").unwrap_or(if text { 4 } else { 10 });
    let full_at: usize = arg("--full-at").unwrap_or(if text { 3 } else { config.training.epochs / 2 });
    let balanced = !std::env::args().any(|a| a == "--unbalanced");
    let seeds: Vec<u64> = match arg::<String>("--seeds") {
        Some(s) => s.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => vec![0, 1, 2, 3, 4],
    };
    let backend = Backend::resolve(None)?;
    let device = backend.device()?;
    let data = anneal::run::prepare(&config)?;
    let model_config =
        config.model_config(data.train.n_features(), data.loaded.target.n_outputs(), Some(&data.fitted.features));
    let n = data.train.len();
    let batch = config.training.batch_size;
    let pacing = PacingConfig { pacing: Pacing::Root, start: 0.2, full_at, stages: 4 };

    // The reference network: its own seed, all training images, the config's epochs.
    let reference = Trainer::new(config.train_config(), device.clone()).with_progress(Progress::Silent).fit(
        model_config.init(1000, &device.clone().autodiff())?,
        &mut config.optimizer.init()?,
        &Augmented::plain(&data.train),
        None,
    )?;
    let scored = evaluate(&reference.model, &data.train, &Loss::CrossEntropy, &device, 1000)?;
    let Targets::Classes(y) = &scored.targets else { anyhow::bail!("class targets") };
    let k = scored.n_outputs;
    let difficulty: Vec<f64> =
        scored.predictions.chunks_exact(k).zip(y).map(|(p, &c)| -f64::from(p[c]).max(1e-12).ln()).collect();
    println!(
        "{what}, {n} training / {} validation / {} test {unit}, {} epochs of batch {batch}; pacing: root from 20 % \
         to all by epoch {full_at}, classes {}; reference network's training accuracy {:.4}\n",
        data.valid.len(),
        data.test.len(),
        config.training.epochs,
        if balanced { "balanced in every share" } else { "not balanced" },
        scored.scores()?.0
    );

    // curves[arm][epoch] = (iterations so far, validation accuracy) summed over seeds; tests[arm] per seed.
    let epochs = config.training.epochs;
    let mut curves = vec![vec![(0.0, 0.0); epochs]; ARMS.len()];
    let mut tests = vec![Vec::new(); ARMS.len()];
    for &seed in &seeds {
        config.seed = seed;
        for (arm, name) in ARMS.iter().enumerate() {
            let order = match arm {
                1 | 4 => Some(Order::EasyFirst),
                2 => Some(Order::HardFirst),
                3 => Some(Order::Random),
                _ => None,
            };
            let mut trainer = Trainer::new(config.train_config(), device.clone()).with_progress(Progress::Silent);
            if arm == 4 {
                trainer = trainer.with_sampler(SelfPacedBatches::new(
                    pacing,
                    None,
                    Order::EasyFirst,
                    balanced.then(|| y.clone()),
                    batch,
                    seed,
                    LastBatch::Keep,
                )?);
            } else if let Some(order) = order {
                let ranked = rank(&difficulty, order, seed)?;
                let ranked = if balanced { balance_classes(&ranked, y)? } else { ranked };
                trainer = trainer.with_sampler(CurriculumBatches {
                    pacing,
                    ranked,
                    batch_size: batch,
                    seed,
                    last: LastBatch::Keep,
                });
            }
            let fitted = trainer.fit(
                model_config.init(seed, &device.clone().autodiff())?,
                &mut config.optimizer.init()?,
                &Augmented::plain(&data.train),
                Some(&Augmented::plain(&data.valid)),
            )?;
            let mut iterations = 0usize;
            for (e, record) in fitted.history.iter().enumerate() {
                let rows = if order.is_some() { pacing.admitted(e + 1, n) } else { n };
                iterations += rows.div_ceil(batch);
                curves[arm][e].0 += iterations as f64;
                curves[arm][e].1 += record.metric("val_accuracy").unwrap_or(f64::NAN);
            }
            let test = evaluate(&fitted.model, &data.test, &Loss::CrossEntropy, &device, 1000)?.scores()?.0;
            eprintln!("seed {seed} {name}: test accuracy {test:.4}");
            tests[arm].push(test);
        }
    }
    let s = seeds.len() as f64;
    println!("Validation accuracy after each epoch (iterations so far), mean over {} seeds:\n", seeds.len());
    println!("| epoch | {} |", ARMS.join(" | "));
    println!("|---|{}", "---|".repeat(ARMS.len()));
    for e in 0..epochs {
        let cells: Vec<String> = curves.iter().map(|c| format!("{:.4} ({:.0})", c[e].1 / s, c[e].0 / s)).collect();
        println!("| {} | {} |", e + 1, cells.join(" | "));
    }
    println!("\n| arm | test accuracy, mean ± std | difference from plain, mean ± standard error |");
    println!("|---|---|---|");
    for (arm, name) in ARMS.iter().enumerate() {
        let t = &tests[arm];
        let mean = t.iter().sum::<f64>() / s;
        let sd = (t.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (s - 1.0).max(1.0)).sqrt();
        let d: Vec<f64> = t.iter().zip(&tests[0]).map(|(a, b)| a - b).collect();
        let dm = d.iter().sum::<f64>() / s;
        let dse = (d.iter().map(|v| (v - dm).powi(2)).sum::<f64>() / (s - 1.0).max(1.0)).sqrt() / s.sqrt();
        let diff = if arm == 0 { "—".to_string() } else { format!("{dm:+.4} ± {dse:.4}") };
        println!("| {name} | {mean:.4} ± {sd:.4} | {diff} |");
    }
    let chart = Chart {
        title: format!("{what}: validation accuracy, mean of {} seeds", seeds.len()),
        x_label: "iterations (batches trained)".into(),
        y_label: "validation accuracy".into(),
        series: ARMS
            .iter()
            .enumerate()
            .map(|(arm, name)| Series {
                markers: true,
                ..Series::line(*name, curves[arm].iter().map(|(x, y)| (x / s, y / s)).collect(), PALETTE[arm])
            })
            .collect(),
        legend_bottom: true,
        ..Chart::default()
    };
    let out = root.join(out);
    let [png, _] = save_charts(&[chart], &out)?;
    println!("\ncurves: {}", png.display());
    Ok(())
}
