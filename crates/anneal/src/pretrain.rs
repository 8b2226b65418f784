//! `anneal pretrain`: masked-token pretraining of a text run's transformer
//! on its training rows (labels unused), BERT's recipe
//! ([`anneal_data::masked`]). The run folder holds the encoder (with its
//! vocabulary head) and the tokenizer; a run with `[transfer] from = <it>`
//! fine-tunes it for its labels, reading texts with the same tokenizer.

use std::path::PathBuf;
use std::time::Instant;

use anneal_core::status::{RunState, RunStatus};
use anneal_data::Dataset;
use anneal_data::masked::MaskedTokens;
use anneal_models::{AnyModel, MaskedLm, ModelConfig};
use anneal_train::energy::EnergyMeter;
use anneal_train::history::HistoryWriter;
use anneal_train::{Backend, Loss, Progress, Trainer};
use burn::module::Module;
use serde::{Deserialize, Serialize};

use crate::config::{DataKind, RunConfig};
use crate::error::{Error, Result, io};
use crate::pipeline::{FeatureState, Fitted};
use crate::run::{
    CONFIG, DataFile, METRICS, MODEL_CONFIG, PREPROCESSING, REPORT, RUN_INFO, RunInfo, SPLIT, SavedPreprocessing,
    WEIGHTS, claim_out, seal, to_json, write,
};

/// Settings of [`pretrain`].
#[derive(Debug, Clone)]
pub struct PretrainOptions {
    /// The run folder to create.
    pub out: PathBuf,
    /// The compute backend.
    pub backend: Backend,
    /// Progress on standard error.
    pub progress: Progress,
    /// The share of each text's tokens masked per epoch (BERT: 0.15).
    pub mask_rate: f64,
}

/// What a pretraining run reports (`metrics.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PretrainMetrics {
    /// Texts the encoder learnt from (the config's training rows).
    pub texts: usize,
    /// The vocabulary, `<pad>` and `<unk>` included.
    pub vocab: usize,
    /// Each epoch's masked-token loss and accuracy.
    pub history: Vec<anneal_train::EpochRecord>,
    /// The share of tokens masked.
    pub mask_rate: f64,
    /// Seconds of the whole job.
    pub seconds: f64,
    /// Time, CPU time and the estimated energy of the job.
    pub energy: Option<anneal_train::energy::EnergyReport>,
}

/// Pretrains the transformer of `config` (a text run) on the texts of its
/// training rows and writes a run folder for `[transfer] from`.
pub fn pretrain(config: &RunConfig, options: &PretrainOptions) -> Result<PretrainMetrics> {
    let meter = EnergyMeter::start(config.energy);
    let start = Instant::now();
    if config.data.kind != DataKind::Text || !config.model.needs_text() {
        return Err(Error::Setting(
            "anneal pretrain teaches a transformer to predict masked tokens: it needs [data] kind = \"text\" and \
             [model] kind = \"transformer\""
                .into(),
        ));
    }
    if config.transfer.is_some() || config.distill.is_some() || !config.augment.is_empty() {
        return Err(Error::Setting(
            "anneal pretrain trains an encoder from its seed on the plain texts: leave [transfer], [distill] and \
             [augment] out of its config"
                .into(),
        ));
    }
    if !(options.mask_rate > 0.0 && options.mask_rate < 1.0) {
        return Err(Error::Setting(format!("--mask-rate must be in (0, 1), not {}", options.mask_rate)));
    }
    config.optimizer.validate()?;
    let device = options.backend.device()?;
    let lock = claim_out(&options.out)?;
    let out = lock.dir().to_path_buf();
    let data = crate::pipeline::prepare(config)?;
    let Some(encoder) = data.fitted.features.text() else {
        return Err(Error::Setting("anneal pretrain needs a text run's tokenizer".into()));
    };
    let ids = encoder.transform(&data.loaded.table.take(&data.split.train)?)?;
    let vocab = encoder.vocab_len();
    let texts = MaskedTokens::new(ids.values, ids.n_cols, vocab, options.mask_rate, config.seed)?;
    let model_config = config.model_config(ids.n_cols, vocab, Some(&data.fitted.features));
    let ModelConfig::Transformer(transformer) = &model_config else {
        return Err(Error::Setting("anneal pretrain needs [model] kind = \"transformer\"".into()));
    };

    let mut as_used = config.clone();
    as_used.data.path = std::path::absolute(&config.data.path).map_err(io(&config.data.path))?;
    write(&out, CONFIG, toml::to_string_pretty(&as_used).expect("a loaded config serialises"))?;
    let file = DataFile {
        path: config.data.path.clone(),
        digest: anneal_core::integrity::FileDigest::of_path(&config.data.path)?,
    };
    write(&out, RUN_INFO, to_json(&RunInfo { device: options.backend, data: Some(file) }))?;
    seal(&out)?;

    let mut history = HistoryWriter::new(&out);
    let mut train_config = config.train_config();
    train_config.batch_size = train_config.batch_size.min(texts.len());
    let model = MaskedLm::new(transformer.init(config.seed, &device.clone().autodiff())?);
    let mut optimizer = config.optimizer.init()?;
    let fitted = Trainer::new(train_config, device.clone())
        .with_progress(options.progress)
        .with_objective(Loss::CrossEntropy)
        .with_hook(&mut history)
        .fit(model, &mut optimizer, &texts, None);
    let fitted = match fitted {
        Ok(f) => f,
        Err(e) => {
            let e = Error::from(e);
            crate::run::record_end(&out, &e);
            return Err(e);
        }
    };

    let encoder_model = AnyModel::Transformer(fitted.model.valid().into_encoder());
    let weights = out.join(WEIGHTS);
    encoder_model
        .save_file(&weights)
        .map_err(|e| Error::ModelFile { path: weights.clone(), message: e.to_string() })?;
    write(&out, MODEL_CONFIG, to_json(&model_config))?;
    let text_column = encoder.column().to_string();
    let saved = SavedPreprocessing {
        labels: None,
        targets: Vec::new(),
        loss: Some(Loss::CrossEntropy),
        column_kinds: [(text_column, anneal_data::ColumnKind::Categorical)].into(),
        fitted: Fitted { features: FeatureState::Text(encoder.clone()), target_transform: None },
        tasks: Vec::new(),
        pretrained: Some(Pretrained::MaskedTokens),
    };
    write(&out, PREPROCESSING, to_json(&saved))?;
    // The rows it learnt from, in data-file rows, so a run fine-tuning it on
    // the same file can check that none of its test rows were among them.
    let to_data_rows = |rows: &[usize]| rows.iter().map(|&r| data.loaded.original[r]).collect::<Vec<_>>();
    let split = anneal_data::Split {
        train: to_data_rows(&data.split.train),
        valid: Vec::new(),
        test: to_data_rows(&data.split.test),
    };
    write(&out, SPLIT, to_json(&split))?;
    anneal_train::history::write_history(&out, &fitted.history)?;
    anneal_train::history::plot_curves(&out, &fitted.history, None)?;
    let metrics = PretrainMetrics {
        texts: texts.len(),
        vocab,
        history: fitted.history,
        mask_rate: options.mask_rate,
        seconds: start.elapsed().as_secs_f64(),
        energy: Some(meter.finish()),
    };
    write(&out, METRICS, to_json(&metrics))?;
    write(&out, REPORT, report(config, &model_config, &metrics))?;
    RunStatus::new(RunState::Finished, "").write(&out)?;
    seal(&out)?;
    drop(lock);
    Ok(metrics)
}

/// What kind of pretraining made a run folder (absent: an ordinary run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pretrained {
    /// Masked-token prediction: the head maps tokens to the vocabulary.
    MaskedTokens,
}

fn report(config: &RunConfig, model: &ModelConfig, m: &PretrainMetrics) -> String {
    use std::fmt::Write as _;
    let mut r = String::from("# Anneal pretraining report\n\n");
    let last = m.history.last();
    let _ = writeln!(
        r,
        "Masked-token pretraining (BERT's recipe: {:.0} % of each text's tokens chosen per epoch; 80 % of them \
         replaced by `<unk>`, 10 % by a random token, 10 % kept) of {} on the {} training texts of {} (labels \
         unused); vocabulary {} ids.\n",
        100.0 * m.mask_rate,
        anneal_core::markdown::escape(&model.describe()),
        m.texts,
        anneal_core::markdown::code(&config.data.path.display().to_string()),
        m.vocab
    );
    if let Some(last) = last {
        let _ = writeln!(
            r,
            "After {} epochs: masked-token loss {:.4}, accuracy {:.4}.\n",
            m.history.len(),
            last.metric("train_loss").unwrap_or(f64::NAN),
            last.metric("train_accuracy").unwrap_or(f64::NAN)
        );
    }
    let _ = writeln!(
        r,
        "Use it: `[transfer] from = \"<this folder>\"` in a text run of the same data kind, `mode = \"fine_tune\"` \
         (or `\"feature_extraction\"`); that run reads its texts with this tokenizer and replaces the vocabulary \
         head with one for its labels.\n"
    );
    if let Some(e) = &m.energy {
        let _ = writeln!(r, "{}\n", e.summary());
    }
    let _ = writeln!(r, "![loss](curves.png)");
    r
}
