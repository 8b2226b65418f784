//! Masked-token pretraining data (BERT's recipe, Devlin et al. 2019): rows of
//! token ids from a [`TextEncoder`](crate::text::TextEncoder), 15 % of each
//! row's real tokens chosen per epoch; of those, 80 % are replaced by the mask
//! id, 10 % by a random token and 10 % left as they are, and the model learns
//! to predict the original token at every chosen position. The tokenizer has
//! no `[MASK]` id of its own, so the mask is `<unk>` (id 1): a pretrained
//! embedding table then has exactly the tokenizer's ids, and a fine-tuning run
//! that reads with the same tokenizer takes it whole.

use anneal_core::{SeededRng, Stream};
use burn::prelude::*;

use crate::dataset::{Batch, Dataset, Target, Targets};
use crate::error::{DataError, Result};
use crate::text::{PAD, UNK};

/// A batch of token-id rows and the positions a model predicts at: the masked
/// tokens of masked-token pretraining, the positions before each next token
/// for a causal language model.
#[derive(Debug, Clone)]
pub struct MaskedIds {
    /// The rows (masked, for masked-token pretraining): `[batch, max_len]` token ids as floats.
    pub ids: Tensor<2>,
    /// `row · max_len + position` of every chosen position, in row-major order:
    /// the model predicts one output row for each.
    pub at: Vec<usize>,
}

/// Masked-token pretraining over rows of token ids; the targets are the chosen
/// tokens' original ids (one class per chosen token, the vocabulary's ids the
/// classes). Every epoch draws new positions for every row from the run's seed
/// (training batches); evaluation batches draw the epoch-0 ones, so they are
/// the same every time.
///
/// ```
/// use anneal_data::Dataset;
/// use anneal_data::masked::MaskedTokens;
///
/// // Two texts of up to 4 tokens (0 = padding), a vocabulary of 10 ids.
/// let data = MaskedTokens::new(vec![5.0, 6.0, 7.0, 0.0, 8.0, 9.0, 0.0, 0.0], 4, 10, 0.5, 1)?;
/// let batch = data.train_batch(&[0, 1], 1, &burn::prelude::Device::flex())?;
/// assert_eq!(batch.input.at.len(), 3); // round(0.5 · 3) + round(0.5 · 2) of the real tokens
/// # Ok::<(), anneal_data::DataError>(())
/// ```
#[derive(Debug, Clone)]
pub struct MaskedTokens {
    ids: Vec<f32>,
    max_len: usize,
    vocab: usize,
    rate: f64,
    seed: u64,
}

impl MaskedTokens {
    /// `ids`: row-major rows of `max_len` token ids below `vocab` (0 = padding);
    /// `rate`: the share of each row's real tokens chosen (BERT: 0.15).
    pub fn new(ids: Vec<f32>, max_len: usize, vocab: usize, rate: f64, seed: u64) -> Result<Self> {
        check_rows(&ids, max_len)?;
        if !(rate > 0.0 && rate < 1.0) {
            return Err(DataError::InvalidParameter(format!("the masking rate must be in (0, 1), not {rate}")));
        }
        check_ids(&ids, max_len, vocab)?;
        Ok(Self { ids, max_len, vocab, rate, seed })
    }

    /// The masked rows `rows` of `epoch`: ids, chosen positions and their original ids.
    fn mask(&self, rows: &[usize], epoch: usize) -> (Vec<f32>, Vec<usize>, Vec<i64>) {
        let t = self.max_len;
        let mut ids = Vec::with_capacity(rows.len() * t);
        let (mut at, mut targets) = (Vec::new(), Vec::new());
        for (b, &r) in rows.iter().enumerate() {
            let row = &self.ids[r * t..(r + 1) * t];
            let start = ids.len();
            ids.extend_from_slice(row);
            let real: Vec<usize> = (0..t).filter(|&j| row[j] as u32 != PAD).collect();
            if real.is_empty() {
                continue;
            }
            let mut rng = SeededRng::stream(self.seed, Stream::Named("masked_tokens", epoch as u64));
            let mut rng = SeededRng::derive(rng.next_u64(), r as u64);
            let k = ((self.rate * real.len() as f64).round() as usize).clamp(1, real.len());
            // A partial Fisher-Yates shuffle picks k positions; kept in order.
            let mut pool = real;
            for i in 0..k {
                let j = i + rng.below((pool.len() - i) as u64) as usize;
                pool.swap(i, j);
            }
            let mut chosen = pool[..k].to_vec();
            chosen.sort_unstable();
            for j in chosen {
                at.push(b * t + j);
                targets.push(row[j] as i64);
                let u = rng.next_f64();
                if u < 0.8 {
                    ids[start + j] = UNK as f32;
                } else if u < 0.9 {
                    // A random real token (not padding, not the mask).
                    ids[start + j] = (2 + rng.below(self.vocab as u64 - 2)) as f32;
                }
            }
        }
        (ids, at, targets)
    }

    fn masked_batch(&self, rows: &[usize], epoch: usize, device: &Device) -> Batch<MaskedIds> {
        let (ids, at, targets) = self.mask(rows, epoch);
        let n = targets.len();
        Batch {
            input: MaskedIds { ids: Tensor::from_data(TensorData::new(ids, [rows.len(), self.max_len]), device), at },
            target: Target::Classes(Tensor::from_data(TensorData::new(targets, [n]), device)),
        }
    }
}

impl Dataset for MaskedTokens {
    type Input = MaskedIds;

    fn len(&self) -> usize {
        self.ids.len() / self.max_len
    }

    fn batch(&self, rows: &[usize], device: &Device) -> Batch<MaskedIds> {
        self.masked_batch(rows, 0, device)
    }

    fn train_batch(&self, rows: &[usize], epoch: usize, device: &Device) -> Result<Batch<MaskedIds>> {
        Ok(self.masked_batch(rows, epoch, device))
    }

    /// The epoch-0 chosen tokens' original ids, row by row (what evaluation
    /// batches predict).
    fn all_targets(&self) -> Targets {
        let rows: Vec<usize> = (0..self.len()).collect();
        Targets::Classes(self.mask(&rows, 0).2.into_iter().map(|v| v as usize).collect())
    }
}

/// `ids` make whole rows of `max_len` (at least 1).
fn check_rows(ids: &[f32], max_len: usize) -> Result<()> {
    if max_len == 0 || !ids.len().is_multiple_of(max_len) {
        return Err(DataError::InvalidParameter(format!(
            "{} token ids do not make rows of max_len = {max_len}",
            ids.len()
        )));
    }
    Ok(())
}

/// A vocabulary with a real token besides `<pad>` and `<unk>`, and every id a
/// whole number below it (the first offender named by row and position).
fn check_ids(ids: &[f32], max_len: usize, vocab: usize) -> Result<()> {
    if vocab < 3 {
        return Err(DataError::InvalidParameter(format!("a vocabulary of {vocab} ids has no real token")));
    }
    if let Some(i) = ids.iter().position(|&v| !(v >= 0.0 && (v as usize) < vocab && v.fract() == 0.0)) {
        return Err(DataError::InvalidParameter(format!(
            "row {}, position {}: {} is not a token id below {vocab}",
            i / max_len,
            i % max_len,
            ids[i]
        )));
    }
    Ok(())
}

/// Next-token (causal language model) pretraining over rows of token ids: the
/// model's output at every real position that a real token follows is scored
/// against that token (one class per position, the vocabulary's ids the
/// classes). Padding follows a row's real tokens.
///
/// ```
/// use anneal_data::Dataset;
/// use anneal_data::masked::NextTokens;
///
/// let data = NextTokens::new(vec![5.0, 6.0, 7.0, 0.0, 8.0, 9.0, 0.0, 0.0], 4, 10)?;
/// let batch = data.batch(&[0, 1], &burn::prelude::Device::flex());
/// assert_eq!(batch.input.at, vec![0, 1, 4]); // 5→6, 6→7 and 8→9
/// # Ok::<(), anneal_data::DataError>(())
/// ```
#[derive(Debug, Clone)]
pub struct NextTokens {
    ids: Vec<f32>,
    max_len: usize,
}

impl NextTokens {
    /// `ids`: row-major rows of `max_len` token ids below `vocab`, real tokens
    /// first, then padding (0).
    pub fn new(ids: Vec<f32>, max_len: usize, vocab: usize) -> Result<Self> {
        check_rows(&ids, max_len)?;
        check_ids(&ids, max_len, vocab)?;
        for (r, row) in ids.chunks(max_len).enumerate() {
            if let Some(j) = row.windows(2).position(|w| w[0] as u32 == PAD && w[1] as u32 != PAD) {
                return Err(DataError::InvalidParameter(format!(
                    "row {r}: a real token at position {} follows padding; padding must come last",
                    j + 1
                )));
            }
        }
        Ok(Self { ids, max_len })
    }

    fn pairs(&self, rows: &[usize]) -> (Vec<f32>, Vec<usize>, Vec<i64>) {
        let t = self.max_len;
        let mut ids = Vec::with_capacity(rows.len() * t);
        let (mut at, mut next) = (Vec::new(), Vec::new());
        for (b, &r) in rows.iter().enumerate() {
            let row = &self.ids[r * t..(r + 1) * t];
            ids.extend_from_slice(row);
            for j in 0..t.saturating_sub(1) {
                if row[j + 1] as u32 != PAD {
                    at.push(b * t + j);
                    next.push(row[j + 1] as i64);
                }
            }
        }
        (ids, at, next)
    }
}

impl Dataset for NextTokens {
    type Input = MaskedIds;

    fn len(&self) -> usize {
        self.ids.len() / self.max_len
    }

    fn batch(&self, rows: &[usize], device: &Device) -> Batch<MaskedIds> {
        let (ids, at, next) = self.pairs(rows);
        let n = next.len();
        Batch {
            input: MaskedIds { ids: Tensor::from_data(TensorData::new(ids, [rows.len(), self.max_len]), device), at },
            target: Target::Classes(Tensor::from_data(TensorData::new(next, [n]), device)),
        }
    }

    /// Every row's next tokens, row by row.
    fn all_targets(&self) -> Targets {
        let rows: Vec<usize> = (0..self.len()).collect();
        Targets::Classes(self.pairs(&rows).2.into_iter().map(|v| v as usize).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> MaskedTokens {
        let mut ids = Vec::new();
        for r in 0..50 {
            let len = 5 + r % 20;
            ids.extend((0..32).map(|j| if j < len { (2 + (r * 7 + j) % 98) as f32 } else { 0.0 }));
        }
        MaskedTokens::new(ids, 32, 100, 0.15, 9).unwrap()
    }

    #[test]
    fn bert_masking_picks_real_tokens_replays_and_changes_by_epoch() {
        let d = data();
        let rows: Vec<usize> = (0..50).collect();
        let (ids, at, targets) = d.mask(&rows, 1);
        assert_eq!(d.mask(&rows, 1), (ids.clone(), at.clone(), targets.clone()), "same seed and epoch: same masks");
        assert_ne!(d.mask(&rows, 2).1, at, "another epoch: other positions");
        let (mut masked, mut random, mut kept) = (0, 0, 0);
        for (&p, &y) in at.iter().zip(&targets) {
            assert_eq!(d.ids[p] as i64, y, "the target is the original id");
            assert_ne!(y, 0, "padding is never chosen");
            match ids[p] as i64 {
                1 => masked += 1,
                v if v == y => kept += 1,
                _ => random += 1,
            }
        }
        let n = at.len() as f64;
        let real = d.ids.iter().filter(|&&v| v != 0.0).count() as f64;
        assert!((n / real - 0.15).abs() < 0.02, "{n} of {real}");
        assert!((masked as f64 / n - 0.8).abs() < 0.1, "{masked} masked of {n}");
        assert!(random > 0 && kept > 0, "{random} random, {kept} kept");
        // A row's masks do not depend on the batch it is in.
        let (_, at_one, targets_one) = d.mask(&[7], 1);
        let of_7: Vec<i64> = at.iter().zip(&targets).filter(|(p, _)| *p / 32 == 7).map(|(_, y)| *y).collect();
        assert_eq!(targets_one, of_7);
        assert!(at_one.iter().all(|p| *p < 32));
    }

    #[test]
    fn bad_rows_are_named() {
        let e = MaskedTokens::new(vec![2.0, 200.0], 2, 100, 0.15, 0).unwrap_err().to_string();
        assert!(e.contains("row 0, position 1: 200"), "{e}");
        assert!(MaskedTokens::new(vec![2.0; 3], 2, 100, 0.15, 0).is_err());
        assert!(MaskedTokens::new(vec![2.0; 2], 2, 100, 0.0, 0).is_err());
    }

    /// Next tokens: every real position a real token follows, and bad rows named.
    #[test]
    fn next_tokens_pairs_each_position_with_the_token_after_it() {
        let d = NextTokens::new(vec![5.0, 6.0, 7.0, 0.0, 8.0, 0.0, 0.0, 0.0, 2.0, 3.0, 4.0, 9.0], 4, 10).unwrap();
        let (ids, at, next) = d.pairs(&[2, 0, 1]);
        assert_eq!(ids.len(), 12);
        assert_eq!(at, vec![0, 1, 2, 4, 5]);
        assert_eq!(next, vec![3, 4, 9, 6, 7]);
        assert_eq!(d.all_targets(), Targets::Classes(vec![6, 7, 3, 4, 9]));
        let e = NextTokens::new(vec![5.0, 0.0, 7.0, 0.0], 4, 10).unwrap_err().to_string();
        assert!(e.contains("row 0") && e.contains("follows padding"), "{e}");
        let e = NextTokens::new(vec![5.0, 12.0, 0.0, 0.0], 4, 10).unwrap_err().to_string();
        assert!(e.contains("position 1") && e.contains("12"), "{e}");
        assert!(NextTokens::new(vec![5.0; 5], 4, 10).is_err());
    }
}
