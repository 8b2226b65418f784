//! The language-model pieces of RLHF: sampling from a causal
//! [`Transformer`], the policy with a value head that PPO trains, the reward
//! model, and the summed log-probabilities of completions that DPO compares.

use anneal_core::SeededRng;
use anneal_data::masked::MaskedIds;
use anneal_data::text::PAD;
use anneal_models::{Model, Transformer};
use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::activation::log_softmax;

use crate::error::{Result, RlError, setting};

/// How tokens are drawn from a language model's next-token distribution.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sampling {
    /// Logits are divided by it before the softmax (1: the model's own
    /// distribution, which PPO needs; below 1 sharper, above flatter).
    pub temperature: f64,
    /// Keep only the `top_k` most likely tokens (0: all).
    pub top_k: usize,
}

impl Default for Sampling {
    fn default() -> Self {
        Self { temperature: 1.0, top_k: 0 }
    }
}

impl Sampling {
    /// Checks the settings: a positive finite temperature.
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(setting("temperature", self.temperature, "a positive number"));
        }
        Ok(())
    }

    /// Draws a token from one row of logits; returns it and its log-probability
    /// under the distribution it was drawn from (temperature and top-k applied).
    /// `<pad>` is never drawn.
    pub fn draw(&self, logits: &[f32], rng: &mut SeededRng) -> (u32, f64) {
        let scaled: Vec<f64> = logits
            .iter()
            .enumerate()
            .map(|(i, &l)| if i == PAD as usize { f64::NEG_INFINITY } else { f64::from(l) / self.temperature })
            .collect();
        let mut keep = vec![true; scaled.len()];
        if self.top_k > 0 && self.top_k < scaled.len() {
            let mut order: Vec<usize> = (0..scaled.len()).collect();
            order.sort_by(|&a, &b| scaled[b].total_cmp(&scaled[a]).then(a.cmp(&b)));
            for &i in &order[self.top_k..] {
                keep[i] = false;
            }
        }
        let max = scaled.iter().zip(&keep).filter(|p| *p.1).map(|p| *p.0).fold(f64::NEG_INFINITY, f64::max);
        let weights: Vec<f64> =
            scaled.iter().zip(&keep).map(|(&s, &k)| if k { (s - max).exp() } else { 0.0 }).collect();
        let total: f64 = weights.iter().sum();
        let mut u = rng.next_f64() * total;
        let mut pick = weights.iter().rposition(|&w| w > 0.0).unwrap_or(0);
        for (i, &w) in weights.iter().enumerate() {
            if u < w {
                pick = i;
                break;
            }
            u -= w;
        }
        (pick as u32, (weights[pick] / total).ln())
    }
}

/// Completions drawn for prompts: every row is a prompt followed by its new
/// tokens, all rows the same length.
#[derive(Debug, Clone, PartialEq)]
pub struct Completions {
    /// Tokens of the prompt (the same for every row).
    pub prompt_len: usize,
    /// New tokens per row.
    pub new_tokens: usize,
    /// `[rows, prompt_len + new_tokens]` token ids, row-major.
    pub ids: Vec<u32>,
    /// `[rows, new_tokens]`: each new token's log-probability under the
    /// distribution it was drawn from.
    pub log_probs: Vec<f64>,
}

impl Completions {
    /// The number of rows.
    pub fn len(&self) -> usize {
        self.ids.len() / (self.prompt_len + self.new_tokens).max(1)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Positions per row.
    pub fn width(&self) -> usize {
        self.prompt_len + self.new_tokens
    }

    /// Row `r`.
    pub fn row(&self, r: usize) -> &[u32] {
        &self.ids[r * self.width()..(r + 1) * self.width()]
    }

    /// The rows `rows` (in that order), with their log-probabilities when these
    /// are known.
    pub fn rows(&self, rows: &[usize]) -> Completions {
        let (w, t) = (self.width(), self.new_tokens);
        let mut ids = Vec::with_capacity(rows.len() * w);
        let mut log_probs = Vec::with_capacity(if self.log_probs.is_empty() { 0 } else { rows.len() * t });
        for &r in rows {
            ids.extend_from_slice(self.row(r));
            if !self.log_probs.is_empty() {
                log_probs.extend_from_slice(&self.log_probs[r * t..(r + 1) * t]);
            }
        }
        Completions { prompt_len: self.prompt_len, new_tokens: t, ids, log_probs }
    }

    /// The rows as a model input `[rows, width]`.
    pub fn tensor(&self, device: &Device) -> Tensor<2> {
        let ids: Vec<f32> = self.ids.iter().map(|&i| i as f32).collect();
        Tensor::from_data(TensorData::new(ids, [self.len(), self.width()]), device)
    }

    /// The positions whose outputs predict the new tokens, `row · width +
    /// prompt_len − 1 + t`, row-major, and the new tokens themselves.
    pub fn states(&self) -> (Vec<usize>, Vec<i64>) {
        let w = self.width();
        let mut at = Vec::with_capacity(self.len() * self.new_tokens);
        let mut tokens = Vec::with_capacity(at.capacity());
        for r in 0..self.len() {
            for t in 0..self.new_tokens {
                at.push(r * w + self.prompt_len - 1 + t);
                tokens.push(i64::from(self.ids[r * w + self.prompt_len + t]));
            }
        }
        (at, tokens)
    }
}

/// Draws `new_tokens` tokens after each prompt from the causal language model
/// `lm` (on a device without autodiff); all prompts must have the same
/// length, at least 1, of real tokens. The model is run on the whole prefix
/// for every new token (no key/value cache: the sequences are short).
pub fn generate(
    lm: &Transformer,
    prompts: &[Vec<u32>],
    new_tokens: usize,
    sampling: &Sampling,
    rng: &mut SeededRng,
    device: &Device,
) -> Result<Completions> {
    sampling.validate()?;
    let prompt_len = prompts.first().map_or(0, Vec::len);
    if prompt_len == 0 || prompts.iter().any(|p| p.len() != prompt_len || p.contains(&PAD)) {
        return Err(setting(
            "prompts",
            format!("{} prompts", prompts.len()),
            "prompts of the same length, at least 1, without padding",
        ));
    }
    let n = prompts.len();
    let mut rows: Vec<Vec<u32>> = prompts.to_vec();
    let mut log_probs = vec![0.0; n * new_tokens];
    for t in 0..new_tokens {
        let len = prompt_len + t;
        let ids: Vec<f32> = rows.iter().flatten().map(|&i| i as f32).collect();
        let at: Vec<usize> = (0..n).map(|r| r * len + len - 1).collect();
        let x = Tensor::<2>::from_data(TensorData::new(ids, [n, len]), device);
        let logits = host(next_token_logits(lm, x, &at))?;
        let vocab = logits.len() / n;
        for (r, row) in rows.iter_mut().enumerate() {
            let (token, lp) = sampling.draw(&logits[r * vocab..(r + 1) * vocab], rng);
            row.push(token);
            log_probs[r * new_tokens + t] = lp;
        }
    }
    Ok(Completions { prompt_len, new_tokens, ids: rows.into_iter().flatten().collect(), log_probs })
}

/// A tensor's values on the host, as `f32`.
pub(crate) fn host<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().map_err(|e| RlError::Tensor(format!("{e:?}")))
}

/// The language model's logits at `at` with `<pad>` ruled out (−10⁹): padding
/// is never a next token, so the distribution a token is drawn from, scored
/// and trained on is over the real tokens only.
fn next_token_logits(lm: &Transformer, ids: Tensor<2>, at: &[usize]) -> Tensor<2> {
    without_pad(lm.forward_at(ids, at))
}

/// `logits` with `<pad>`'s column at −10⁹.
fn without_pad(logits: Tensor<2>) -> Tensor<2> {
    let vocab = logits.dims()[1];
    let mut mask = vec![0.0f32; vocab];
    mask[PAD as usize] = -1e9;
    let mask = Tensor::<1>::from_data(TensorData::new(mask, [vocab]), &logits.device()).reshape([1, vocab]);
    logits + mask
}

/// The log-probability of each given token at its position: `[at.len(), 1]`.
fn token_log_probs(lm: &Transformer, ids: Tensor<2>, at: &[usize], tokens: Tensor<1, Int>) -> Tensor<2> {
    let n = at.len();
    log_softmax(next_token_logits(lm, ids, at), 1).gather(1, tokens.reshape([n, 1]))
}

/// The summed log-probability of each row's new tokens under `lm`
/// (`[rows]`, on the host): for the reference model's KL and DPO's targets.
pub fn sequence_log_probs(lm: &Transformer, completions: &Completions, device: &Device) -> Result<Vec<f64>> {
    let per_token = per_token_log_probs(lm, completions, device)?;
    Ok(per_token.chunks(completions.new_tokens.max(1)).map(|c| c.iter().sum()).collect())
}

/// Each new token's log-probability under `lm`, `[rows, new_tokens]` row-major.
pub fn per_token_log_probs(lm: &Transformer, completions: &Completions, device: &Device) -> Result<Vec<f64>> {
    let (at, tokens) = completions.states();
    let n = tokens.len();
    let tokens = Tensor::<1, Int>::from_data(TensorData::new(tokens, [n]), device);
    let lp = token_log_probs(lm, completions.tensor(device), &at, tokens);
    Ok(host(lp)?.into_iter().map(f64::from).collect())
}

/// A value head on a fresh `Linear(d_model, 1)`: U(±1/√d) weights, zero bias.
fn scalar_head(d: usize, rng: &mut SeededRng, device: &Device) -> Linear {
    let bound = 1.0 / (d as f64).sqrt();
    let weight: Vec<f32> = (0..d).map(|_| ((rng.next_f64() * 2.0 - 1.0) * bound) as f32).collect();
    Linear {
        weight: Param::from_data(TensorData::new(weight, [d, 1]), device),
        bias: Some(Param::from_data(TensorData::new(vec![0.0f32], [1]), device)),
    }
}

/// The policy PPO trains: a causal language model and a value head on the
/// same trunk. Its output at each given position is `[logits…, value]`, the
/// layout of [`PpoObjective`](crate::ppo::PpoObjective) with one action per
/// vocabulary token.
#[derive(Module, Debug)]
pub struct LmPolicy {
    /// The language model.
    pub lm: Transformer,
    value: Linear,
}

impl LmPolicy {
    /// `lm` with a fresh value head drawn from `rng`.
    pub fn new(lm: Transformer, rng: &mut SeededRng, device: &Device) -> Self {
        let value = scalar_head(lm.d_model(), rng, device);
        Self { lm, value }
    }

    /// The value head alone at the given positions, `[at.len(), 1]`: the last
    /// column of [`forward`](Model::forward) without the vocabulary's logits.
    pub fn values(&self, input: MaskedIds) -> Tensor<2> {
        self.value.forward(self.lm.hidden_at(input.ids, &input.at))
    }
}

impl Model for LmPolicy {
    type Input = MaskedIds;

    /// # Shapes
    /// - output: `[at.len(), vocab + 1]`
    fn forward(&self, input: MaskedIds) -> Tensor<2> {
        let h = self.lm.hidden_at(input.ids, &input.at);
        Tensor::cat(vec![without_pad(self.lm.apply_head(h.clone())), self.value.forward(h)], 1)
    }
}

/// The reward model: a causal transformer whose vector at a text's last real
/// token is mapped to one number (as InstructGPT's, started from the
/// pretrained language model). Its input is pairs of texts, rows `2i` (chosen)
/// and `2i + 1` (rejected); its output `[pairs, 2]`, the rewards.
#[derive(Module, Debug)]
pub struct RewardModel {
    lm: Transformer,
    score: Linear,
}

impl RewardModel {
    /// A reward model on the trunk of `lm`, with a fresh scoring head.
    pub fn new(lm: Transformer, rng: &mut SeededRng, device: &Device) -> Self {
        let score = scalar_head(lm.d_model(), rng, device);
        Self { lm, score }
    }

    /// The reward of every row of `ids` (`[rows, width]`, padding last): `[rows]`.
    pub fn rewards(&self, ids: Tensor<2>) -> Tensor<1> {
        let [rows, width] = ids.dims();
        let host = ids.to_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default();
        let at: Vec<usize> = (0..rows)
            .map(|r| {
                let row = host.get(r * width..(r + 1) * width).unwrap_or_default();
                let last = row.iter().rposition(|&v| v as u32 != PAD).unwrap_or(0);
                r * width + last
            })
            .collect();
        self.score.forward(self.lm.hidden_at(ids, &at)).reshape([rows])
    }
}

impl Model for RewardModel {
    type Input = Tensor<2>;

    /// # Shapes
    /// - `ids`: `[2 · pairs, width]`
    /// - output: `[pairs, 2]`
    fn forward(&self, ids: Tensor<2>) -> Tensor<2> {
        let rows = ids.dims()[0];
        self.rewards(ids).reshape([rows / 2, 2])
    }
}

/// Pairs of completions for DPO: rows `2i` (chosen) and `2i + 1` (rejected),
/// the positions that predict their new tokens and those tokens.
#[derive(Debug, Clone)]
pub struct PairTokens {
    /// `[2 · pairs, width]` token ids.
    pub ids: Tensor<2>,
    /// Positions predicting the new tokens (as [`Completions::states`]).
    pub at: Vec<usize>,
    /// The new tokens, `[at.len()]`.
    pub tokens: Tensor<1, Int>,
    /// `[2 · pairs, at.len()]`: 1 where a position belongs to a row.
    pub owner: Tensor<2>,
}

impl PairTokens {
    /// The pairs of `completions` (an even number of rows, chosen first).
    pub fn new(completions: &Completions, device: &Device) -> Self {
        let (at, tokens) = completions.states();
        let (rows, n) = (completions.len(), tokens.len());
        let mut owner = vec![0.0f32; rows * n];
        for (j, &p) in at.iter().enumerate() {
            owner[(p / completions.width()) * n + j] = 1.0;
        }
        Self {
            ids: completions.tensor(device),
            at,
            tokens: Tensor::from_data(TensorData::new(tokens, [n]), device),
            owner: Tensor::from_data(TensorData::new(owner, [rows, n]), device),
        }
    }
}

/// The policy DPO trains, read as the summed log-probability of each
/// completion in a pair: output `[pairs, 2]`.
#[derive(Module, Debug)]
pub struct PairLogProbs {
    /// The language model.
    pub lm: Transformer,
}

impl Model for PairLogProbs {
    type Input = PairTokens;

    fn forward(&self, input: PairTokens) -> Tensor<2> {
        let rows = input.owner.dims()[0];
        let lp = token_log_probs(&self.lm, input.ids, &input.at, input.tokens);
        input.owner.matmul(lp).reshape([rows / 2, 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anneal_models::TransformerConfig;

    fn lm(device: &Device) -> Transformer {
        TransformerConfig {
            vocab: 12,
            max_len: 8,
            d_model: 8,
            layers: 1,
            heads: 2,
            d_ff: 16,
            dropout: 0.0,
            output: 12,
            causal: true,
            ..TransformerConfig::default()
        }
        .init(2, device)
        .unwrap()
    }

    /// Sampling follows the distribution (top-k keeps k tokens, `<pad>` never
    /// drawn), the log-probabilities returned are the model's own at
    /// temperature 1, and the same seed draws the same completions.
    #[test]
    fn generation_draws_from_the_model_and_reports_its_log_probabilities() {
        let device = Device::flex();
        let model = lm(&device);
        let prompts = vec![vec![3, 4], vec![5, 2], vec![7, 7]];
        let sampling = Sampling::default();
        let a = generate(&model, &prompts, 4, &sampling, &mut SeededRng::new(1), &device).unwrap();
        let b = generate(&model, &prompts, 4, &sampling, &mut SeededRng::new(1), &device).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 3);
        assert!(a.ids.iter().all(|&t| t != PAD && t < 12));
        let again = per_token_log_probs(&model, &a, &device).unwrap();
        for (x, y) in a.log_probs.iter().zip(&again) {
            assert!((x - y).abs() < 1e-5, "{x} {y}");
        }
        let sums = sequence_log_probs(&model, &a, &device).unwrap();
        assert!((sums[1] - again[4..8].iter().sum::<f64>()).abs() < 1e-9);

        let logits = [0.0f32, 1.0, 2.0, 3.0];
        let top = Sampling { temperature: 1.0, top_k: 2 };
        let mut rng = SeededRng::new(5);
        let mut counts = [0usize; 4];
        for _ in 0..4000 {
            counts[top.draw(&logits, &mut rng).0 as usize] += 1;
        }
        assert_eq!((counts[0], counts[1]), (0, 0));
        let share = counts[3] as f64 / 4000.0; // e³ / (e² + e³) = 0.731
        assert!((share - 0.731).abs() < 0.03, "{counts:?}");
        let (_, lp) = top.draw(&[0.0, 5.0, 5.0], &mut rng);
        assert!((lp - 0.5f64.ln()).abs() < 1e-12);
        assert!(Sampling { temperature: 0.0, top_k: 0 }.validate().is_err());
        assert!(generate(&model, &[vec![3], vec![3, 4]], 2, &sampling, &mut rng, &device).is_err());
    }

    /// DPO's pair log-probabilities are the sums of the per-token ones; the
    /// policy's output is the language model's logits and a value.
    #[test]
    fn pair_and_policy_outputs_agree_with_the_language_model() {
        let device = Device::flex();
        let model = lm(&device);
        let c = generate(&model, &[vec![3, 4], vec![3, 4]], 3, &Sampling::default(), &mut SeededRng::new(2), &device)
            .unwrap();
        let sums = sequence_log_probs(&model, &c, &device).unwrap();
        let pairs = PairLogProbs { lm: model.clone() }.forward(PairTokens::new(&c, &device));
        let pairs = pairs.into_data().try_to_vec::<f32>().unwrap();
        assert!((f64::from(pairs[0]) - sums[0]).abs() < 1e-5 && (f64::from(pairs[1]) - sums[1]).abs() < 1e-5);
        let policy = LmPolicy::new(model.clone(), &mut SeededRng::new(3), &device);
        let (at, _) = c.states();
        let out = policy.forward(MaskedIds { ids: c.tensor(&device), at: at.clone() });
        assert_eq!(out.dims(), [6, 13]);
        let logits = model.forward_at(c.tensor(&device), &at).into_data().try_to_vec::<f32>().unwrap();
        let out = out.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(&out[1..12], &logits[1..12]);
        assert!(out[0] < -1e8, "<pad> is never a next token");
        let rm = RewardModel::new(model, &mut SeededRng::new(4), &device);
        assert_eq!(rm.forward(c.tensor(&device)).dims(), [1, 2]);
    }
}
