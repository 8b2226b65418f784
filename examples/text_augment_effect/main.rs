//! Does EDA help a text classifier with 500 training texts? The food reviews of
//! `examples/configs/fine_foods_transformer.toml` cut to 500 training reviews
//! (a fixed random 500 of the 4 000, the tokenizer fitted on them), tested on the
//! file's 1 000 test reviews, with and without EDA (Wei and Zou 2019: each
//! review, each epoch, gets one of synonym replacement, random insertion, swap
//! or deletion of 10 % of its words, with probability 0.9), for two models: the
//! config's word-level transformer, and a bag-of-words MLP (the same tokens,
//! log-count bag normalised to unit length, one hidden layer of 64). Each seed
//! trains both arms from the same initial weights and batch order.
//!
//! Run: `cargo run --release --example text_augment_effect [-- --seeds 0,1,2,3,4
//! --train 500 --epochs 20 --mlp-epochs 30]`.

use std::collections::HashSet;
use std::io::Read;

use anneal::RunConfig;
use anneal::data::dataset::{Batch, BatchAugment};
use anneal::data::text::TextEncoder;
use anneal::data::{Augmented, ClassificationData, SeededRng, Stream, TabularData};
use anneal::pipeline::FeatureState;
use anneal::regularize::augment::{AugmentConfig, TextAugmenter};
use anneal::train::{Backend, Loss, Progress, TextRowsAugment, Trainer, evaluate};
use burn::prelude::*;

const EDA: &str = r#"
steps = [
  { transform = "one_of", p = 0.9, of = [
      { transform = "synonym_replace", share = 0.1 },
      { transform = "random_insert", share = 0.1 },
      { transform = "random_swap", share = 0.1 },
      { transform = "random_delete", share = 0.1 },
  ] },
]
"#;

/// The value after `--name` on the command line, parsed.
fn arg<T: std::str::FromStr>(name: &str) -> Option<T> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok())
}

/// The bundled reviews with only `keep` training reviews (a fixed random
/// choice) and every test review, written as a CSV at `path`.
fn subset_csv(source: &std::path::Path, keep: usize, path: &std::path::Path) -> anyhow::Result<()> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(source)?).read_to_string(&mut text)?;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers()?.clone();
    let part = headers.iter().position(|h| h == "part").ok_or_else(|| anyhow::anyhow!("a part column"))?;
    let records: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>()?;
    let mut train: Vec<usize> = (0..records.len()).filter(|&i| &records[i][part] == "train").collect();
    SeededRng::stream(0, Stream::Named("text_augment_effect_subset", 0)).shuffle(&mut train);
    let chosen: HashSet<usize> = train.into_iter().take(keep).collect();
    let mut writer = csv::Writer::from_path(path)?;
    writer.write_record(&headers)?;
    for (i, r) in records.iter().enumerate() {
        if &r[part] != "train" || chosen.contains(&i) {
            writer.write_record(r)?;
        }
    }
    writer.flush()?;
    Ok(())
}

/// Rows of token ids as bags of words: `log(1 + count)` per vocabulary id
/// (padding left out), scaled to unit length.
fn bags(ids: &[f32], max_len: usize, vocab: usize) -> Vec<f32> {
    let mut out = vec![0f32; ids.len() / max_len * vocab];
    for (row, bag) in ids.chunks_exact(max_len).zip(out.chunks_exact_mut(vocab)) {
        for &id in row.iter().filter(|&&id| id != 0.0) {
            bag[id as usize] += 1.0;
        }
        let mut norm = 0f32;
        for v in bag.iter_mut() {
            *v = v.ln_1p();
            norm += *v * *v;
        }
        let norm = norm.sqrt().max(1e-12);
        bag.iter_mut().for_each(|v| *v /= norm);
    }
    out
}

/// EDA for the bag-of-words arm: each row's text augmented as the transformer's
/// is, tokenized by the same encoder, then bagged.
struct BagAugment {
    texts: TextRowsAugment,
    encoder: TextEncoder,
}

impl BatchAugment<Tensor<2>> for BagAugment {
    fn augment(&self, batch: Batch<Tensor<2>>, rows: &[usize], epoch: usize) -> anneal::data::Result<Batch<Tensor<2>>> {
        let texts: Vec<String> = rows.iter().map(|&r| self.texts.text(r, epoch)).collect::<Result<_, _>>()?;
        let (ids, _) = self.encoder.encode_texts(&texts)?;
        let vocab = self.encoder.vocab_len();
        let values = bags(&ids.values, self.encoder.max_len(), vocab);
        let input = Tensor::from_data(TensorData::new(values, [rows.len(), vocab]), &batch.input.device());
        Ok(Batch { input, target: batch.target })
    }
}

fn main() -> anyhow::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let keep: usize = arg("--train").unwrap_or(500);
    let seeds: Vec<u64> = match arg::<String>("--seeds") {
        Some(s) => s.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => vec![0, 1, 2, 3, 4],
    };
    let tmp = tempfile::tempdir()?;
    let csv_path = tmp.path().join("reviews.csv");
    subset_csv(&root.join("data/fine_foods.csv.gz"), keep, &csv_path)?;
    let source = std::fs::read_to_string(root.join("examples/configs/fine_foods_transformer.toml"))?;
    let config_path = tmp.path().join("transformer.toml");
    std::fs::write(&config_path, source.replace("../../data/fine_foods.csv.gz", &csv_path.to_string_lossy()))?;
    let mut config = RunConfig::load(&config_path)?;
    config.training.epochs = arg("--epochs").unwrap_or(20);
    // The bag-of-words MLP: the same file and tokens, another model and optimizer.
    let mlp_source = std::fs::read_to_string(&config_path)?;
    let model_at = mlp_source.find("[model]").ok_or_else(|| anyhow::anyhow!("a [model] table"))?;
    let training_at = mlp_source.find("[training]").ok_or_else(|| anyhow::anyhow!("a [training] table"))?;
    let mlp_path = tmp.path().join("mlp.toml");
    std::fs::write(
        &mlp_path,
        format!(
            "{}[model]\nhidden = [64]\ndropout = 0.5\n\n[optimizer]\nname = \"adam\"\nlearning_rate = 0.001\n\n{}",
            &mlp_source[..model_at],
            &mlp_source[training_at..]
        ),
    )?;
    let mut mlp_config = RunConfig::load(&mlp_path)?;
    mlp_config.training.epochs = arg("--mlp-epochs").unwrap_or(30);

    let eda: AugmentConfig = toml::from_str(EDA)?;
    let backend = Backend::resolve(None)?;
    let device = backend.device()?;
    let data = anneal::run::prepare(&config)?;
    let (TabularData::Classification(train), FeatureState::Text(encoder)) = (&data.train, &data.fitted.features) else {
        anyhow::bail!("the review config is a text classification");
    };
    let texts = encoder.texts(&data.loaded.table.take(&data.split.train)?)?;
    let vocab = encoder.vocab_len();
    let bag_train = ClassificationData::new(bags(train.features(), encoder.max_len(), vocab), vocab, train.targets())?;
    let TabularData::Classification(test) = &data.test else { anyhow::bail!("class targets") };
    let bag_test = TabularData::Classification(ClassificationData::new(
        bags(test.features(), encoder.max_len(), vocab),
        vocab,
        test.targets(),
    )?);
    println!(
        "food reviews: {} training reviews ({} words in the vocabulary), {} test reviews; EDA: {}\n\
         transformer {} epochs, bag-of-words MLP {} epochs, batch {}\n",
        train.len(),
        vocab,
        test.len(),
        eda.describe(),
        config.training.epochs,
        mlp_config.training.epochs,
        config.training.batch_size
    );
    println!("| seed | transformer without | with | difference | bag-of-words MLP without | with | difference |");
    println!("|---|---|---|---|---|---|---|");
    let mut results: Vec<[f64; 4]> = Vec::new();
    for &seed in &seeds {
        config.seed = seed;
        mlp_config.seed = seed;
        let rows_augment = TextRowsAugment::new(TextAugmenter::new(eda.clone(), seed)?, encoder.clone(), texts.clone());
        let bag_augment = BagAugment { texts: rows_augment.clone(), encoder: encoder.clone() };
        let transformer = |augmented: bool| -> anyhow::Result<f64> {
            let model_config = config.model_config(train.n_features(), 2, Some(&data.fitted.features));
            let model = model_config.init(seed, &device.clone().autodiff())?;
            let mut optimizer = config.optimizer.init()?;
            let set = if augmented { Augmented::new(train, &rows_augment) } else { Augmented::plain(train) };
            let fitted = Trainer::new(config.train_config(), device.clone()).with_progress(Progress::Silent).fit(
                model,
                &mut optimizer,
                &set,
                None,
            )?;
            Ok(evaluate(&fitted.model, &data.test, &Loss::CrossEntropy, &device, 500)?.scores()?.0)
        };
        let mlp =
            |augmented: bool| -> anyhow::Result<f64> {
                let model_config = mlp_config.model_config(vocab, 2, None);
                let model = model_config.init(seed, &device.clone().autodiff())?;
                let mut optimizer = mlp_config.optimizer.init()?;
                let set =
                    if augmented { Augmented::new(&bag_train, &bag_augment) } else { Augmented::plain(&bag_train) };
                let fitted = Trainer::new(mlp_config.train_config(), device.clone())
                    .with_progress(Progress::Silent)
                    .fit(model, &mut optimizer, &set, None)?;
                Ok(evaluate(&fitted.model, &bag_test, &Loss::CrossEntropy, &device, 500)?.scores()?.0)
            };
        let r = [transformer(false)?, transformer(true)?, mlp(false)?, mlp(true)?];
        println!(
            "| {seed} | {:.4} | {:.4} | {:+.4} | {:.4} | {:.4} | {:+.4} |",
            r[0],
            r[1],
            r[1] - r[0],
            r[2],
            r[3],
            r[3] - r[2]
        );
        results.push(r);
    }
    let n = results.len() as f64;
    for (name, a, b) in [("transformer", 0, 1), ("bag-of-words MLP", 2, 3)] {
        let diffs: Vec<f64> = results.iter().map(|r| r[b] - r[a]).collect();
        let mean = diffs.iter().sum::<f64>() / n;
        let se = (diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt() / n.sqrt();
        println!(
            "{name}: mean test accuracy {:.4} without, {:.4} with EDA: {mean:+.4} ± {se:.4} (standard error of the \
             paired difference), better on {} of {} seeds",
            results.iter().map(|r| r[a]).sum::<f64>() / n,
            results.iter().map(|r| r[b]).sum::<f64>() / n,
            diffs.iter().filter(|d| **d > 0.0).count(),
            results.len()
        );
    }
    Ok(())
}
