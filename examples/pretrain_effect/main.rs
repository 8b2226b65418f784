//! Does masked-token pretraining on the review texts themselves help the
//! transformer of `examples/configs/fine_foods_transformer.toml`? `anneal
//! pretrain` teaches it to predict masked tokens on the 4 000 training
//! reviews (labels unused; BERT's recipe), then the sentiment label is learnt
//! from 10 %, 50 % or 100 % of the labelled training reviews, fine-tuning the
//! pretrained encoder (`[transfer] mode = "fine_tune"`) or from the seed, on 5
//! seeds (the seed picks the labelled reviews, the head's initial weights and
//! the order; both arms of a seed see the same reviews). Both arms read with the
//! same tokenizer (fitted on the training texts). The 1 000 test reviews are the
//! dataset's own; the TF-IDF + logistic regression anchor is 0.800
//! (`examples/reference/text_baseline.py`).
//!
//! Run: `cargo run --release --example pretrain_effect [-- --seeds 0,1,2,3,4
//! --pretrain-epochs 20]` (about 30 minutes on 2 cores).

use std::path::Path;

use anneal::RunConfig;
use anneal::data::Augmented;
use anneal::pretrain::{PretrainOptions, pretrain};
use anneal::train::{Backend, Progress, Trainer, evaluate};

#[path = "../common/experiment.rs"]
mod experiment;
use experiment::{arg, mean_sd};

/// Shares of the labelled training reviews, and the epochs each trains.
const SHARES: [(f64, usize); 3] = [(0.1, 15), (0.5, 5), (1.0, 5)];

/// Test accuracy of `config` trained on `share` of its training rows (picked by `seed`).
fn fit(config: &RunConfig, share: f64, seed: u64, backend: Backend) -> anyhow::Result<f64> {
    let data = anneal::run::prepare(config)?;
    let mut rows = data.split.train.clone();
    let mut rng = anneal::data::SeededRng::new(seed ^ 0x5EED);
    for i in (1..rows.len()).rev() {
        rows.swap(i, rng.below(i as u64 + 1) as usize);
    }
    rows.truncate((share * rows.len() as f64).round() as usize);
    let train = data.loaded.data(&data.fitted, &rows)?;
    let device = backend.device()?;
    let model_config =
        config.model_config(train.n_features(), data.loaded.target.n_outputs(), Some(&data.fitted.features));
    let model = anneal::pipeline::init_model(config, &model_config, &device.clone().autodiff())?;
    let train_config = anneal::pipeline::train_config(config, &model_config, &device)?;
    let fitted = Trainer::new(train_config, device.clone()).with_progress(Progress::Silent).fit(
        model,
        &mut config.optimizer.init()?,
        &Augmented::plain(&train),
        None,
    )?;
    let loss = config.loss(data.loaded.task())?;
    Ok(evaluate(&fitted.model, &data.test, &loss, &device, 1000)?.scores()?.0)
}

fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = root.join("target/pretrain_effect");
    std::fs::create_dir_all(&out)?;
    let seeds: Vec<u64> = match arg::<String>("--seeds") {
        Some(s) => s.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => vec![0, 1, 2, 3, 4],
    };
    let backend = Backend::resolve(None)?;
    let base = RunConfig::load(root.join("examples/configs/fine_foods_transformer.toml"))?;

    let encoder = out.join("pretrained");
    if encoder.exists() {
        std::fs::remove_dir_all(&encoder)?;
    }
    let mut pre = base.clone();
    pre.training.epochs = arg("--pretrain-epochs").unwrap_or(20);
    let options = PretrainOptions { out: encoder.clone(), backend, progress: Progress::Log, mask_rate: 0.15 };
    let m = pretrain(&pre, &options)?;
    let last = m.history.last().expect("at least one epoch");
    println!(
        "pretrained on {} texts for {} epochs: masked-token accuracy {:.4} (loss {:.4}), {:.0} s, {}",
        m.texts,
        m.history.len(),
        last.metric("train_accuracy").unwrap_or(f64::NAN),
        last.metric("train_loss").unwrap_or(f64::NAN),
        m.seconds,
        m.energy.as_ref().map_or(String::new(), |e| format!("{:.3} Wh", e.energy_wh))
    );

    println!(
        "\n| labelled reviews | from the seed | fine-tuned from the pretrained encoder | gain (mean ± standard error) |"
    );
    println!("|---|---|---|---|");
    for &(share, epochs) in &SHARES {
        let (mut scratch, mut tuned) = (Vec::new(), Vec::new());
        for &seed in &seeds {
            let mut config = base.clone();
            config.seed = seed;
            config.training.epochs = epochs;
            let s = fit(&config, share, seed, backend)?;
            config.transfer = Some(toml::from_str(&format!("from = \"{}\"\nmode = \"fine_tune\"", encoder.display()))?);
            let t = fit(&config, share, seed, backend)?;
            eprintln!("{:.0} % seed {seed}: scratch {s:.4}, fine-tuned {t:.4}", 100.0 * share);
            scratch.push(s);
            tuned.push(t);
        }
        let d: Vec<f64> = tuned.iter().zip(&scratch).map(|(t, s)| t - s).collect();
        let ((sm, ssd), (tm, tsd), (dm, dsd)) = (mean_sd(&scratch), mean_sd(&tuned), mean_sd(&d));
        println!(
            "| {:.0} % ({} reviews) | {sm:.4} ± {ssd:.4} | {tm:.4} ± {tsd:.4} | {dm:+.4} ± {:.4} |",
            100.0 * share,
            (share * m.texts as f64).round(),
            dsd / (d.len() as f64).sqrt()
        );
    }
    println!("\nTF-IDF + logistic regression on all labelled reviews: 0.800 (text_baseline.py)");
    Ok(())
}
