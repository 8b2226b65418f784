//! Reinforcement learning from human feedback, small but real: TRL's "make
//! GPT-2 write positive reviews" on the food reviews, every stage on the
//! training core.
//!
//! 1. A small causal language model (the [`Transformer`] with a causal mask)
//!    is pretrained on the first tokens of the training reviews.
//! 2. **The "human"** is a fixed judge the policy never sees: the sentiment
//!    classifier of the text chapter (a transformer encoder trained on the
//!    training reviews' labels, great / other, with balanced class weights so
//!    that the 65 % share of "great" reviews is not its prior) scores two
//!    completions of the
//!    same prompt and prefers the more positive one; 10 % of its labels are
//!    flipped, as people disagree with themselves. No real human preferences
//!    can be fetched here, so this stands in for them.
//! 3. A **reward model** (the pretrained language model's trunk and a scalar
//!    head at the last token, as InstructGPT) learns from the preference pairs
//!    with the [Bradley–Terry loss](BradleyTerry).
//! 4. **PPO** optimises the language model against the reward model with a
//!    per-token KL penalty to the frozen pretrained model (InstructGPT's
//!    recipe): each new token is an action, the reward model's score arrives
//!    at the last one, `−β·(log π − log π_ref)` at every one; advantages by GAE;
//!    the update is this crate's [`PpoObjective`] with one action per token.
//! 5. **DPO** trains a copy of the pretrained model directly from the same
//!    pairs, with no reward model and no sampling ([`Dpo`]).
//! 6. The judge scores completions of held-out prompts (the test reviews'
//!    first tokens) from the pretrained model, the PPO policy and the DPO
//!    policy; their KL to the pretrained model is measured on their own samples.
//!
//! ```no_run
//! use anneal_rl::rlhf::{self, RlhfConfig};
//!
//! let config: RlhfConfig = toml::from_str(&std::fs::read_to_string("examples/rl/rlhf_fine_foods.toml")?)?;
//! let outcome = rlhf::run(&config, std::path::Path::new("data/fine_foods.csv.gz"), &burn::prelude::Device::flex(), &mut |line| eprintln!("{line}"))?;
//! println!("positive share {:.2} → {:.2}", outcome.reference.positive, outcome.ppo.positive);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod lm;
mod objectives;

use std::fmt::Write as _;
use std::path::Path;

use anneal_core::{SeededRng, Stream};
use anneal_data::masked::{MaskedIds, NextTokens};
use anneal_data::table::{CsvOptions, Table};
use anneal_data::text::{TextEncoder, TextOptions, UNK};
use anneal_data::{Batch, ClassificationData, Dataset, Target, Targets};
use anneal_evaluate::chart::{Chart, PALETTE, Series, save_charts};
use anneal_models::{MaskedLm, Model, Transformer, TransformerConfig};
use anneal_optim::OptimizerConfig;
use anneal_train::{Loss, Progress, StepInfo, Stepper, TrainConfig, Trainer, WeightedCrossEntropy};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use serde::{Deserialize, Serialize};

pub use lm::{
    Completions, LmPolicy, PairLogProbs, PairTokens, RewardModel, Sampling, generate, per_token_log_probs,
    sequence_log_probs,
};
pub use objectives::{BradleyTerry, Dpo};

use crate::error::{Result, RlError, setting};
use crate::ppo::{PpoObjective, gae};
use lm::host;

/// The shape of a small transformer and how long it trains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetConfig {
    /// Width of every token's vector.
    pub d_model: usize,
    /// Blocks.
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
    /// Feed-forward hidden units.
    pub d_ff: usize,
    /// Passes over the training data.
    pub epochs: usize,
    /// Rows (or pairs) per batch.
    pub batch_size: usize,
    /// AdamW's learning rate (weight decay 0.01).
    pub learning_rate: f64,
}

/// How long a model trains, and how fast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainStage {
    /// Passes over the training data.
    pub epochs: usize,
    /// Rows (or pairs) per batch.
    pub batch_size: usize,
    /// AdamW's learning rate (weight decay 0.01).
    pub learning_rate: f64,
}

impl TrainStage {
    fn optimizer(&self) -> OptimizerConfig {
        OptimizerConfig::AdamW {
            learning_rate: self.learning_rate,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.01,
            amsgrad: false,
        }
    }

    fn validate(&self, what: &str) -> Result<()> {
        if self.epochs == 0 || self.batch_size == 0 {
            return Err(setting(&format!("{what}.epochs/batch_size"), 0, "at least 1"));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return Err(setting(&format!("{what}.learning_rate"), self.learning_rate, "positive"));
        }
        Ok(())
    }
}

impl NetConfig {
    fn stage(&self) -> TrainStage {
        TrainStage { epochs: self.epochs, batch_size: self.batch_size, learning_rate: self.learning_rate }
    }

    fn transformer(&self, vocab: usize, max_len: usize, output: usize, causal: bool) -> TransformerConfig {
        TransformerConfig {
            vocab,
            max_len,
            d_model: self.d_model,
            layers: self.layers,
            heads: self.heads,
            d_ff: self.d_ff,
            dropout: 0.0,
            output,
            causal,
            ..TransformerConfig::default()
        }
    }

    fn validate(&self, what: &str) -> Result<()> {
        self.stage().validate(what)
    }
}

/// The text: tokens of the language model, prompts and completions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextConfig {
    /// Words the language model knows (the most frequent training words).
    pub vocab_size: usize,
    /// Tokens of each training review the language model is pretrained on.
    pub lm_tokens: usize,
    /// Tokens of a prompt: a review's first words.
    pub prompt_tokens: usize,
    /// Tokens of a completion.
    pub new_tokens: usize,
    /// Use only the first this many training reviews (0: all), for quick runs.
    #[serde(default)]
    pub max_reviews: usize,
}

/// The judge standing in for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeConfig {
    /// The classifier.
    pub net: NetConfig,
    /// Its own tokenizer's words.
    pub vocab_size: usize,
    /// Tokens per review it reads.
    pub max_len: usize,
    /// The share of preference labels flipped (0.1).
    pub flip: f64,
    /// The judge's own seed (its weights and shuffles): people do not change
    /// with the run's seed, so the judge of every run is the same.
    pub seed: u64,
}

/// The PPO stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PpoStage {
    /// Rollouts.
    pub iterations: usize,
    /// Prompts (completions) per rollout.
    pub prompts: usize,
    /// Passes over a rollout.
    pub epochs: usize,
    /// Completions per minibatch.
    pub batch_size: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// The clip range ε.
    pub clip_range: f64,
    /// β of the per-token KL penalty `−β·(log π − log π_ref)`.
    pub kl_coef: f64,
    /// Weight of the value loss.
    pub vf_coef: f64,
    /// GAE's λ (γ is 1: a completion is one short episode).
    pub gae_lambda: f64,
}

/// The DPO stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpoStage {
    /// β (TRL's default 0.1).
    pub beta: f64,
    /// Passes over the training pairs, pairs per minibatch, AdamW's learning rate.
    pub train: TrainStage,
}

/// An RLHF run (`examples/rl/rlhf_fine_foods.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RlhfConfig {
    /// Seed of every stage.
    pub seed: u64,
    /// Tokens, prompts and completions.
    pub text: TextConfig,
    /// The language model and its pretraining.
    pub lm: NetConfig,
    /// The judge.
    pub judge: JudgeConfig,
    /// Preference pairs drawn from the pretrained model.
    pub pairs: usize,
    /// The share of pairs held out to score the reward model.
    pub held_out: f64,
    /// The reward model's training (its trunk is the pretrained language model).
    pub reward_model: TrainStage,
    /// PPO against the reward model.
    pub ppo: PpoStage,
    /// DPO from the pairs.
    pub dpo: DpoStage,
    /// Held-out prompts the judge scores at the end.
    pub eval_prompts: usize,
}

impl RlhfConfig {
    /// Checks every setting, naming the one at fault.
    pub fn validate(&self) -> Result<()> {
        let t = &self.text;
        if t.vocab_size < 2 || t.prompt_tokens == 0 || t.new_tokens == 0 || t.lm_tokens < 2 {
            return Err(setting(
                "text",
                format!("{t:?}"),
                "vocab_size ≥ 2, prompt_tokens and new_tokens ≥ 1, lm_tokens ≥ 2",
            ));
        }
        self.lm.validate("lm")?;
        self.judge.net.validate("judge")?;
        self.reward_model.validate("reward_model")?;
        if !(0.0..0.5).contains(&self.judge.flip) {
            return Err(setting("judge.flip", self.judge.flip, "in [0, 0.5)"));
        }
        if self.pairs < 4 || !(self.held_out > 0.0 && self.held_out < 1.0) {
            return Err(setting(
                "pairs/held_out",
                format!("{}/{}", self.pairs, self.held_out),
                "≥ 4 pairs, a share in (0, 1)",
            ));
        }
        let p = &self.ppo;
        if p.iterations == 0 || p.prompts == 0 || p.epochs == 0 || p.batch_size == 0 {
            return Err(setting("ppo", format!("{p:?}"), "iterations, prompts, epochs, batch_size ≥ 1"));
        }
        for (key, v) in [("ppo.learning_rate", p.learning_rate), ("ppo.clip_range", p.clip_range)] {
            if !(v > 0.0 && v.is_finite()) {
                return Err(setting(key, v, "positive"));
            }
        }
        if !(p.kl_coef >= 0.0 && p.vf_coef >= 0.0 && (0.0..=1.0).contains(&p.gae_lambda)) {
            return Err(setting("ppo.kl_coef/vf_coef/gae_lambda", format!("{p:?}"), "β, vf_coef ≥ 0, λ in [0, 1]"));
        }
        if !(self.dpo.beta > 0.0 && self.dpo.beta.is_finite()) {
            return Err(setting("dpo.beta", self.dpo.beta, "positive"));
        }
        self.dpo.train.validate("dpo.train")?;
        if self.eval_prompts == 0 {
            return Err(setting("eval_prompts", 0, "at least 1"));
        }
        Ok(())
    }
}

/// What the judge says of one model's completions of the held-out prompts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    /// The share the judge calls positive (probability of "great" above ½).
    pub positive: f64,
    /// The judge's mean probability of "great".
    pub judge_mean: f64,
    /// The reward model's mean score.
    pub reward: f64,
    /// KL to the pretrained model in nats per completion, estimated on the
    /// model's own samples: mean of `Σ_t log π(y_t) − log π_ref(y_t)`.
    pub kl: f64,
    /// A few completions (prompt in brackets).
    pub samples: Vec<String>,
}

/// One PPO rollout's figures (the judge's only for the plot: PPO never sees it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PpoRecord {
    /// 1-based rollout.
    pub iteration: usize,
    /// The reward model's mean score.
    pub reward: f64,
    /// Mean KL to the pretrained model per completion (nats).
    pub kl: f64,
    /// The judge's positive share of the rollout.
    pub positive: f64,
}

/// Everything a run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RlhfOutcome {
    /// The seed.
    pub seed: u64,
    /// The judge's accuracy on the test reviews (great / other).
    pub judge_accuracy: f64,
    /// The language model's next-token cross-entropy on the test reviews (nats).
    pub lm_test_loss: f64,
    /// Pairs whose label agrees with the judge's own preference (about 1 − flip).
    pub label_agreement: f64,
    /// The reward model's accuracy on the held-out pairs' labels.
    pub reward_accuracy: f64,
    /// Its agreement with the judge's unflipped preference on the held-out pairs.
    pub reward_judge_agreement: f64,
    /// The pretrained model's completions.
    pub reference: Scored,
    /// After PPO.
    pub ppo: Scored,
    /// After DPO.
    pub dpo: Scored,
    /// PPO's rollouts.
    pub ppo_history: Vec<PpoRecord>,
}

/// The reviews: training texts with their labels, and test texts with theirs.
struct Reviews {
    train: Vec<String>,
    train_great: Vec<bool>,
    test: Vec<String>,
    test_great: Vec<bool>,
}

fn read_reviews(path: &Path, max_reviews: usize) -> Result<Reviews> {
    let table = Table::read(path, &CsvOptions::default())?;
    let review = table.as_strings("review")?;
    let score = table.as_strings("score")?;
    let part = table.as_strings("part")?;
    let mut r = Reviews { train: Vec::new(), train_great: Vec::new(), test: Vec::new(), test_great: Vec::new() };
    for (i, ((text, score), part)) in review.into_iter().zip(score).zip(part).enumerate() {
        let (Some(text), Some(score), Some(part)) = (text, score, part) else {
            return Err(RlError::File {
                path: path.to_path_buf(),
                message: format!("row {}: a review, its score and its part are all needed", i + 1),
            });
        };
        let great = score == "great";
        match part.as_str() {
            "train" if max_reviews == 0 || r.train.len() < max_reviews => {
                r.train.push(text);
                r.train_great.push(great);
            }
            "train" => {}
            "test" => {
                r.test.push(text);
                r.test_great.push(great);
            }
            other => {
                return Err(RlError::File {
                    path: path.to_path_buf(),
                    message: format!("row {}: part `{other}` is neither train nor test", i + 1),
                });
            }
        }
    }
    if r.train.is_empty() || r.test.is_empty() {
        return Err(RlError::File { path: path.to_path_buf(), message: "no training or no test reviews".into() });
    }
    Ok(r)
}

fn encoder(texts: &[String], vocab_size: usize, max_len: usize) -> Result<TextEncoder> {
    let options = TextOptions { vocab_size, max_len, min_count: 2, ..TextOptions::default() };
    let column = anneal_data::table::Column::Categorical(texts.iter().cloned().map(Some).collect());
    let table = Table::from_columns(vec![("text".into(), column)])?;
    Ok(TextEncoder::fit(&options, &table, "text")?)
}

/// The judge: a sentiment classifier over its own tokenizer.
struct Judge {
    encoder: TextEncoder,
    model: Transformer,
}

impl Judge {
    fn train(config: &RlhfConfig, reviews: &Reviews, device: &Device) -> Result<(Self, f64)> {
        let j = &config.judge;
        let encoder = encoder(&reviews.train, j.vocab_size, j.max_len)?;
        let ids = encoder.encode_texts(&reviews.train)?.0;
        let labels: Vec<usize> = reviews.train_great.iter().map(|&g| usize::from(g)).collect();
        // Balanced classes: 65 % of the reviews are "great", and a judge that
        // learned that prior calls most neutral text positive.
        let balanced = WeightedCrossEntropy::balanced(&labels, 2)?;
        let data = ClassificationData::new(ids.values, ids.n_cols, labels)?;
        let model =
            j.net.transformer(encoder.vocab_len(), j.max_len, 2, false).init(j.seed, &device.clone().autodiff())?;
        let model = fit_quiet(model, &j.net.stage(), j.seed, &data, balanced, device)?;
        let judge = Self { encoder, model };
        let p = judge.positive(&reviews.test, device)?;
        let accuracy =
            p.iter().zip(&reviews.test_great).filter(|(p, g)| (**p > 0.5) == **g).count() as f64 / p.len() as f64;
        Ok((judge, accuracy))
    }

    /// The probability of "great" for every text.
    fn positive(&self, texts: &[String], device: &Device) -> Result<Vec<f64>> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(256) {
            let ids = self.encoder.encode_texts(chunk)?.0;
            let x = Tensor::<2>::from_data(TensorData::new(ids.values, [ids.n_rows, ids.n_cols]), device);
            let p = softmax(self.model.forward(x), 1).narrow(1, 1, 1);
            out.extend(host(p)?.into_iter().map(f64::from));
        }
        Ok(out)
    }
}

/// Trains `model` with the training core (AdamW of `net`, the shuffles from
/// `seed`), silently, on `device`'s autodiff twin; returns it on `device`.
fn fit_quiet<M, D>(
    model: M,
    stage: &TrainStage,
    seed: u64,
    data: &D,
    objective: impl anneal_train::Objective + 'static,
    device: &Device,
) -> Result<M>
where
    M: Model,
    D: Dataset<Input = M::Input> + Sync,
    M::Input: Send,
{
    let mut config = TrainConfig::new(stage.epochs, stage.batch_size);
    config.seed = seed;
    let mut trainer = Trainer::new(config, device.clone()).with_progress(Progress::Silent).with_objective(objective);
    let fitted = trainer.fit(model, &mut stage.optimizer().init()?, data, None)?;
    Ok(fitted.model.valid())
}

/// Preference pairs: rows `2i` and `2i + 1` of `completions` are the two
/// completions of prompt `i`, chosen first.
struct Pairs {
    completions: Completions,
    /// `[pairs, 2]`: the reference model's summed log-probabilities.
    reference: Vec<f32>,
    /// The judge's unflipped preference agrees with the label.
    judge_agrees: Vec<bool>,
}

impl Pairs {
    fn len(&self) -> usize {
        self.completions.len() / 2
    }

    fn select(&self, pairs: &[usize]) -> Completions {
        let rows: Vec<usize> = pairs.iter().flat_map(|&p| [2 * p, 2 * p + 1]).collect();
        self.completions.rows(&rows)
    }

    fn part(&self, pairs: &[usize]) -> Self {
        Self {
            completions: self.select(pairs),
            reference: pairs.iter().flat_map(|&p| [self.reference[2 * p], self.reference[2 * p + 1]]).collect(),
            judge_agrees: pairs.iter().map(|&p| self.judge_agrees[p]).collect(),
        }
    }
}

/// Pairs as the reward model reads them.
struct RewardPairs<'a>(&'a Pairs);

impl Dataset for RewardPairs<'_> {
    type Input = Tensor<2>;

    fn len(&self) -> usize {
        self.0.len()
    }

    fn batch(&self, rows: &[usize], device: &Device) -> Batch<Tensor<2>> {
        Batch {
            input: self.0.select(rows).tensor(device),
            target: Target::Values(Tensor::zeros([rows.len(), 2], device)),
        }
    }

    fn all_targets(&self) -> Targets {
        Targets::Values { values: vec![0.0; 2 * self.len()], n_targets: 2 }
    }
}

/// Pairs as DPO reads them: the completions' tokens, the reference's log-probabilities.
struct DpoPairs<'a>(&'a Pairs);

impl Dataset for DpoPairs<'_> {
    type Input = PairTokens;

    fn len(&self) -> usize {
        self.0.len()
    }

    fn batch(&self, rows: &[usize], device: &Device) -> Batch<PairTokens> {
        let part = self.0.part(rows);
        Batch {
            input: PairTokens::new(&part.completions, device),
            target: Target::Values(Tensor::from_data(TensorData::new(part.reference, [rows.len(), 2]), device)),
        }
    }

    fn all_targets(&self) -> Targets {
        Targets::Values { values: self.0.reference.clone(), n_targets: 2 }
    }
}

/// The language model's words of a row, `<pad>` and `<unk>` left out.
fn text_of(tokens: &[String], ids: &[u32]) -> String {
    ids.iter()
        .filter(|&&i| i > UNK)
        .filter_map(|&i| tokens.get(i as usize).map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The texts of every row of `completions`.
fn texts(tokens: &[String], completions: &Completions) -> Vec<String> {
    (0..completions.len()).map(|r| text_of(tokens, completions.row(r))).collect()
}

/// Runs every stage of `config` on `data` (the food reviews' CSV) on `device`
/// (a device without autodiff; training runs on its autodiff twin);
/// `log` gets a line per stage.
pub fn run(config: &RlhfConfig, data: &Path, device: &Device, log: &mut dyn FnMut(String)) -> Result<RlhfOutcome> {
    config.validate()?;
    let train_device = device.clone().autodiff();
    let seed = config.seed;
    let t = &config.text;
    let reviews = read_reviews(data, t.max_reviews)?;

    // The judge.
    let (judge, judge_accuracy) = Judge::train(config, &reviews, device)?;
    log(format!("judge: test accuracy {judge_accuracy:.3} on {} reviews", reviews.test.len()));

    // The language model, pretrained on the training reviews' first tokens.
    let words = encoder(&reviews.train, t.vocab_size, t.lm_tokens)?;
    let tokens = words.tokens();
    let vocab = words.vocab_len();
    let train_ids = words.encode_texts(&reviews.train)?.0;
    let test_ids = words.encode_texts(&reviews.test)?.0;
    let lm_config = config.lm.transformer(vocab, t.lm_tokens.max(t.prompt_tokens + t.new_tokens), vocab, true);
    let lm = MaskedLm::new(lm_config.init(seed, &train_device)?);
    let next = NextTokens::new(train_ids.values.clone(), t.lm_tokens, vocab)?;
    let reference = fit_quiet(lm, &config.lm.stage(), seed, &next, Loss::CrossEntropy, device)?.into_encoder();
    let test_next = NextTokens::new(test_ids.values.clone(), t.lm_tokens, vocab)?;
    let lm_test_loss =
        anneal_train::evaluate(&MaskedLm::new(reference.clone()), &test_next, &Loss::CrossEntropy, device, 256)?.loss;
    log(format!(
        "language model: {vocab} tokens, test next-token loss {lm_test_loss:.3} (perplexity {:.0})",
        lm_test_loss.exp()
    ));

    // Prompts: a review's first words (reviews with enough of them).
    let prompts_of = |ids: &[f32]| -> Vec<Vec<u32>> {
        ids.chunks(t.lm_tokens)
            .map(|row| row[..t.prompt_tokens.min(row.len())].iter().map(|&v| v as u32).collect::<Vec<u32>>())
            .filter(|p| p.len() == t.prompt_tokens && p.iter().all(|&i| i != 0))
            .collect()
    };
    let train_prompts = prompts_of(&train_ids.values);
    let test_prompts: Vec<Vec<u32>> = prompts_of(&test_ids.values).into_iter().take(config.eval_prompts).collect();
    if train_prompts.is_empty() || test_prompts.is_empty() {
        return Err(setting("text.prompt_tokens", t.prompt_tokens, "fewer tokens than most reviews have"));
    }

    // Preference pairs from the pretrained model, labelled by the judge.
    let mut rng = SeededRng::stream(seed, Stream::Named("rlhf_pairs", 0));
    let mut doubled = Vec::with_capacity(2 * config.pairs);
    for _ in 0..config.pairs {
        let p = train_prompts[rng.below(train_prompts.len() as u64) as usize].clone();
        doubled.push(p.clone());
        doubled.push(p);
    }
    let mut drawn = generate(&reference, &doubled, t.new_tokens, &Sampling::default(), &mut rng, device)?;
    let scores = judge.positive(&texts(&tokens, &drawn), device)?;
    let w = drawn.width();
    let mut judge_agrees = Vec::with_capacity(config.pairs);
    for i in 0..config.pairs {
        let judge_prefers_first = scores[2 * i] >= scores[2 * i + 1];
        let flipped = rng.next_f64() < config.judge.flip;
        if judge_prefers_first == flipped {
            // The second is chosen: put it first.
            for j in 0..w {
                drawn.ids.swap(2 * i * w + j, (2 * i + 1) * w + j);
            }
        }
        judge_agrees.push(!flipped);
    }
    drawn.log_probs.clear();
    let reference_lp: Vec<f32> =
        sequence_log_probs(&reference, &drawn, device)?.into_iter().map(|v| v as f32).collect();
    let all = Pairs { completions: drawn, reference: reference_lp, judge_agrees };
    let label_agreement = all.judge_agrees.iter().filter(|&&a| a).count() as f64 / all.len() as f64;
    let n_held = ((config.pairs as f64 * config.held_out).round() as usize).clamp(1, config.pairs - 1);
    let (train_pairs, held_pairs) = {
        let train: Vec<usize> = (0..config.pairs - n_held).collect();
        let held: Vec<usize> = (config.pairs - n_held..config.pairs).collect();
        (all.part(&train), all.part(&held))
    };

    // The reward model.
    let mut head_rng = SeededRng::stream(seed, Stream::Named("rlhf_heads", 0));
    let rm = RewardModel::new(reference.clone(), &mut head_rng, &train_device);
    let rm = fit_quiet(rm, &config.reward_model, seed, &RewardPairs(&train_pairs), BradleyTerry, device)?;
    let held_rewards = host(rm.forward(held_pairs.completions.tensor(device)))?;
    let right: Vec<bool> = held_rewards.chunks(2).map(|r| r[0] > r[1]).collect();
    let reward_accuracy = right.iter().filter(|&&r| r).count() as f64 / right.len() as f64;
    let reward_judge_agreement =
        right.iter().zip(&held_pairs.judge_agrees).filter(|(r, a)| **r == **a).count() as f64 / right.len() as f64;
    log(format!(
        "reward model: {} training pairs, accuracy {reward_accuracy:.3} on {} held-out pairs ({reward_judge_agreement:.3} against the judge's own preference; labels agree with it on {label_agreement:.3})",
        train_pairs.len(),
        held_pairs.len()
    ));

    // PPO against the reward model, KL-penalised to the pretrained model.
    let (policy, ppo_history) = ppo(config, &reference, &rm, &judge, &tokens, &train_prompts, &train_device, log)?;

    // DPO from the training pairs.
    let dpo_policy = {
        let model = PairLogProbs { lm: reference.clone() };
        fit_quiet(model, &config.dpo.train, seed, &DpoPairs(&train_pairs), Dpo { beta: config.dpo.beta }, device)?.lm
    };
    log("dpo: trained".into());

    // The judge's verdict on held-out prompts.
    let score = |lm: &Transformer| -> Result<Scored> {
        let mut rng = SeededRng::stream(seed, Stream::Named("rlhf_eval", 0));
        let c = generate(lm, &test_prompts, t.new_tokens, &Sampling::default(), &mut rng, device)?;
        let own = sequence_log_probs(lm, &c, device)?;
        let refs = sequence_log_probs(&reference, &c, device)?;
        let kl = own.iter().zip(&refs).map(|(a, b)| a - b).sum::<f64>() / c.len() as f64;
        let texts_ = texts(&tokens, &c);
        let p = judge.positive(&texts_, device)?;
        let reward = host(rm.rewards(c.tensor(device)).reshape([c.len(), 1]))?;
        let samples = (0..c.len().min(6))
            .map(|r| {
                let row = c.row(r);
                format!("[{}] {}", text_of(&tokens, &row[..c.prompt_len]), text_of(&tokens, &row[c.prompt_len..]))
            })
            .collect();
        Ok(Scored {
            positive: p.iter().filter(|&&v| v > 0.5).count() as f64 / p.len() as f64,
            judge_mean: p.iter().sum::<f64>() / p.len() as f64,
            reward: reward.iter().map(|&v| f64::from(v)).sum::<f64>() / reward.len() as f64,
            kl,
            samples,
        })
    };
    let outcome = RlhfOutcome {
        seed,
        judge_accuracy,
        lm_test_loss,
        label_agreement,
        reward_accuracy,
        reward_judge_agreement,
        reference: score(&reference)?,
        ppo: score(&policy)?,
        dpo: score(&dpo_policy)?,
        ppo_history,
    };
    log(format!(
        "positive share of {} held-out completions: pretrained {:.3}, PPO {:.3} (KL {:.2}), DPO {:.3} (KL {:.2})",
        test_prompts.len(),
        outcome.reference.positive,
        outcome.ppo.positive,
        outcome.ppo.kl,
        outcome.dpo.positive,
        outcome.dpo.kl
    ));
    Ok(outcome)
}

/// PPO on completions: returns the trained language model (inner device) and the rollouts' records.
#[allow(clippy::too_many_arguments)]
fn ppo(
    config: &RlhfConfig,
    reference: &Transformer,
    rm: &RewardModel,
    judge: &Judge,
    tokens: &[String],
    prompts: &[Vec<u32>],
    train_device: &Device,
    log: &mut dyn FnMut(String),
) -> Result<(Transformer, Vec<PpoRecord>)> {
    let p = &config.ppo;
    let t = &config.text;
    let device = train_device.clone().without_autodiff();
    let vocab = tokens.len();
    let mut head_rng = SeededRng::stream(config.seed, Stream::Named("rlhf_value_head", 0));
    let mut policy = Some(LmPolicy::new(reference.clone().fork(train_device), &mut head_rng, train_device).train());
    let mut optimizer = OptimizerConfig::adam(p.learning_rate).init()?;
    let mut stepper = Stepper::<LmPolicy>::plain();
    let objective = PpoObjective {
        n_actions: vocab,
        clip_range: p.clip_range,
        vf_coef: p.vf_coef,
        ent_coef: 0.0,
        normalize_advantage: true,
    };
    let mut rng = SeededRng::stream(config.seed, Stream::Named("rlhf_ppo", 0));
    let mut history = Vec::with_capacity(p.iterations);
    let (n, steps) = (p.prompts, t.new_tokens);
    for iteration in 1..=p.iterations {
        let current = policy.as_ref().map(|m| m.valid()).ok_or_else(|| RlError::Mismatch("no policy".into()))?;
        let batch: Vec<Vec<u32>> = (0..n).map(|_| prompts[rng.below(prompts.len() as u64) as usize].clone()).collect();
        let c = generate(&current.lm, &batch, steps, &Sampling::default(), &mut rng, &device)?;
        let (at, _) = c.states();
        let values = host(current.values(MaskedIds { ids: c.tensor(&device), at }))?;
        let ref_lp = per_token_log_probs(reference, &c, &device)?;
        let scores = host(rm.rewards(c.tensor(&device)).reshape([n, 1]))?;
        // Step-major layout for GAE: index t · n + e.
        let mut rewards = vec![0.0f32; n * steps];
        let mut step_values = vec![0.0f32; n * steps];
        let mut kl_sum = 0.0;
        for e in 0..n {
            for s in 0..steps {
                let kl = c.log_probs[e * steps + s] - ref_lp[e * steps + s];
                kl_sum += kl;
                let mut r = -p.kl_coef * kl;
                if s + 1 == steps {
                    r += f64::from(scores[e]);
                }
                rewards[s * n + e] = r as f32;
                step_values[s * n + e] = values[e * steps + s];
            }
        }
        let (advantages, returns) =
            gae(&rewards, &step_values, &vec![false; n * steps], &vec![0.0; n], &vec![true; n], n, 1.0, p.gae_lambda);
        let judged = judge.positive(&texts(tokens, &c), &device)?;
        let record = PpoRecord {
            iteration,
            reward: scores.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64,
            kl: kl_sum / n as f64,
            positive: judged.iter().filter(|&&v| v > 0.5).count() as f64 / n as f64,
        };
        if !(record.reward.is_finite() && record.kl.is_finite()) {
            return Err(RlError::Diverged { what: "PPO rollout".into(), step: iteration });
        }
        let mut order: Vec<usize> = (0..n).collect();
        for _ in 0..p.epochs {
            rng.shuffle(&mut order);
            for chunk in order.chunks(p.batch_size) {
                let part = c.rows(chunk);
                let (positions, actions) = part.states();
                // Row-major over (completion, step), as `states`; GAE's layout is step-major.
                let gae_index = chunk.iter().flat_map(|&e| (0..steps).map(move |s| s * n + e));
                let rows: Vec<[f32; 4]> = gae_index
                    .zip(actions.iter().zip(&part.log_probs))
                    .map(|(i, (&a, &lp))| [a as f32, lp as f32, advantages[i], returns[i]])
                    .collect();
                let batch = Batch {
                    input: MaskedIds { ids: part.tensor(train_device), at: positions },
                    target: PpoObjective::target(&rows, train_device),
                };
                let info = StepInfo { epoch: iteration, iteration, batch_len: rows.len() };
                let model = policy.take().ok_or_else(|| RlError::Mismatch("no policy".into()))?;
                let (updated, _) = stepper.step(model, &mut optimizer, batch, &objective, &info, &mut [])?;
                policy = Some(updated);
            }
        }
        if iteration == 1 || iteration % 10 == 0 || iteration == p.iterations {
            log(format!(
                "ppo {iteration}/{}: reward {:.3}, KL {:.3}, judge positive {:.3}",
                p.iterations, record.reward, record.kl, record.positive
            ));
        }
        history.push(record);
    }
    let policy = policy.ok_or_else(|| RlError::Mismatch("no policy".into()))?;
    Ok((policy.valid().lm, history))
}

/// The running mean of 10 consecutive points (both coordinates): one rollout
/// of 64 completions is too noisy to draw as it is.
fn smoothed(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    let w = 10.min(points.len()).max(1);
    points
        .windows(w)
        .map(|p| (p.iter().map(|q| q.0).sum::<f64>() / w as f64, p.iter().map(|q| q.1).sum::<f64>() / w as f64))
        .collect()
}

/// Writes `report.md`, `outcome.json` and `reward_vs_kl.{png,svg}` for the
/// runs of several seeds into `dir`; returns the report's text.
pub fn write_report(dir: &Path, config: &RlhfConfig, outcomes: &[RlhfOutcome]) -> Result<String> {
    std::fs::create_dir_all(dir).map_err(|e| RlError::File { path: dir.to_path_buf(), message: e.to_string() })?;
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| RlError::File { path, message: e.to_string() })
    };
    write("outcome.json", &serde_json::to_string_pretty(outcomes).unwrap_or_default())?;
    let mut md = String::from("# RLHF on the food reviews\n\n");
    let _ = writeln!(
        md,
        "Prompts: a review's first {} words; completions: {} words, sampled at temperature 1. The judge (a sentiment \
         classifier standing in for people, never seen by the policy) calls a completion positive when its \
         probability of \"great\" is above ½; {:.0} % of its preference labels were flipped. KL: nats per completion \
         to the pretrained model, on the model's own samples. {} held-out prompts (test reviews).\n",
        config.text.prompt_tokens,
        config.text.new_tokens,
        100.0 * config.judge.flip,
        config.eval_prompts
    );
    let mut table = vec![vec![
        "seed".to_string(),
        "judge acc.".into(),
        "RM acc. (held-out)".into(),
        "positive: pretrained".into(),
        "PPO".into(),
        "PPO KL".into(),
        "DPO".into(),
        "DPO KL".into(),
    ]];
    for o in outcomes {
        table.push(vec![
            o.seed.to_string(),
            format!("{:.3}", o.judge_accuracy),
            format!("{:.3}", o.reward_accuracy),
            format!("{:.3}", o.reference.positive),
            format!("{:.3} ({:+.1} pts)", o.ppo.positive, 100.0 * (o.ppo.positive - o.reference.positive)),
            format!("{:.2}", o.ppo.kl),
            format!("{:.3} ({:+.1} pts)", o.dpo.positive, 100.0 * (o.dpo.positive - o.reference.positive)),
            format!("{:.2}", o.dpo.kl),
        ]);
    }
    for (i, row) in table.iter().enumerate() {
        let _ = writeln!(md, "| {} |", row.join(" | "));
        if i == 0 {
            let _ = writeln!(md, "|{}", "---|".repeat(row.len()));
        }
    }
    if let Some(o) = outcomes.first() {
        let _ = writeln!(md, "\n## Sample completions (seed {}; the prompt in brackets)\n", o.seed);
        for (name, s) in [("Pretrained", &o.reference), ("PPO", &o.ppo), ("DPO", &o.dpo)] {
            let _ = writeln!(md, "**{name}**\n");
            for line in &s.samples {
                let _ = writeln!(md, "- {line}");
            }
            md.push('\n');
        }
    }
    write("report.md", &md)?;
    let series = outcomes
        .iter()
        .enumerate()
        .flat_map(|(i, o)| {
            let color = PALETTE[i % PALETTE.len()];
            let ppo = Series::line(
                format!("PPO rollouts, seed {} (mean of 10)", o.seed),
                smoothed(o.ppo_history.iter().map(|r| (r.kl, r.positive)).collect()),
                color,
            );
            let ends = Series::points(
                format!("seed {}: pretrained, PPO, DPO (held-out)", o.seed),
                vec![(0.0, o.reference.positive), (o.ppo.kl, o.ppo.positive), (o.dpo.kl, o.dpo.positive)],
                color,
            );
            [ppo, ends]
        })
        .collect();
    let chart = Chart {
        title: "Judge's positive share against KL to the pretrained model".into(),
        x_label: "KL to the pretrained model (nats per completion)".into(),
        y_label: "positive share (judge)".into(),
        series,
        legend_bottom: true,
        ..Chart::default()
    };
    let rewards = Chart {
        title: "Reward model's score against KL (PPO's rollouts)".into(),
        x_label: "KL to the pretrained model (nats per completion)".into(),
        y_label: "mean reward-model score".into(),
        series: outcomes
            .iter()
            .enumerate()
            .map(|(i, o)| {
                Series::line(
                    format!("seed {} (mean of 10 rollouts)", o.seed),
                    smoothed(o.ppo_history.iter().map(|r| (r.kl, r.reward)).collect()),
                    PALETTE[i % PALETTE.len()],
                )
            })
            .collect(),
        legend_bottom: true,
        ..Chart::default()
    };
    save_charts(&[chart, rewards], &dir.join("reward_vs_kl"))?;
    Ok(md)
}
