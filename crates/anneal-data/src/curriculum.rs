//! Curriculum learning: rows ranked by a difficulty score, and each epoch
//! trains on the easiest share of them, a share that grows by a pacing
//! function until every row is admitted (Bengio et al. 2009; the pacing
//! functions of Hacohen & Weinshall 2019 and Platanios et al. 2019).
//!
//! The ranking and the pacing are plain numbers; with the `tensors` feature,
//! `CurriculumBatches` is the [`BatchSampler`](crate::BatchSampler) that the
//! training loop draws its epochs from, so a curriculum combines with every
//! data kind, augmentation and data-parallel sharding.
//!
//! ```
//! use anneal_data::curriculum::{Order, Pacing, PacingConfig, rank};
//!
//! // Ten rows whose difficulty is their index, admitted from 20 % to all by epoch 5.
//! let pacing = PacingConfig { pacing: Pacing::Linear, start: 0.2, full_at: 5, stages: 4 };
//! let admitted: Vec<usize> = (1..=6).map(|epoch| pacing.admitted(epoch, 10)).collect();
//! assert_eq!(admitted, [2, 4, 6, 8, 10, 10]);
//! let difficulty: Vec<f64> = (0..10).map(f64::from).collect();
//! assert_eq!(rank(&difficulty, Order::HardFirst, 0)?[..3], [9, 8, 7]);
//! # Ok::<(), anneal_data::DataError>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::rng::{SeededRng, Stream};

/// How the admitted share of the rows grows from `start` to 1 over the epochs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pacing {
    /// Baby steps: `stages` equal jumps (the share stays put between them).
    Fixed,
    /// `start + (1 − start)·t`, t the run's progress to `full_at` in `[0, 1]`.
    #[default]
    Linear,
    /// `sqrt(start² + (1 − start²)·t)`: fast growth first (Platanios et al.'s
    /// square-root competence).
    Root,
    /// `start·(1 / start)^t`: slow growth first.
    Exponential,
}

/// Which rows come first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Lowest difficulty first: the curriculum.
    #[default]
    EasyFirst,
    /// Highest difficulty first: the anti-curriculum control.
    HardFirst,
    /// A seeded random ranking with the same pacing: the control that separates
    /// the order from the smaller early epochs.
    Random,
}

fn default_start() -> f64 {
    0.2
}
fn default_stages() -> usize {
    4
}

/// The pacing of a curriculum.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PacingConfig {
    /// How the share grows.
    #[serde(default)]
    pub pacing: Pacing,
    /// The share of the rows admitted in epoch 1, in `(0, 1]`.
    #[serde(default = "default_start")]
    pub start: f64,
    /// The epoch from which every row is admitted (1 admits all from the start).
    pub full_at: usize,
    /// The jumps of `fixed` pacing.
    #[serde(default = "default_stages")]
    pub stages: usize,
}

impl PacingConfig {
    /// Checks the settings, naming the first that cannot work.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(DataError::InvalidParameter(format!("[curriculum] {m}")));
        if !(self.start > 0.0 && self.start <= 1.0) {
            return bad(format!("start = {}: the share admitted first, in (0, 1]", self.start));
        }
        if self.full_at == 0 {
            return bad("full_at = 0: the epoch (from 1) from which every row is admitted".into());
        }
        if self.pacing == Pacing::Fixed && self.stages == 0 {
            return bad("stages = 0: fixed pacing needs at least one jump".into());
        }
        Ok(())
    }

    /// The share of the rows admitted in `epoch` (from 1), in `[start, 1]`.
    pub fn share(&self, epoch: usize) -> f64 {
        let t = if self.full_at <= 1 {
            1.0
        } else {
            (epoch.saturating_sub(1) as f64 / (self.full_at - 1) as f64).clamp(0.0, 1.0)
        };
        let s = self.start;
        let share = match self.pacing {
            Pacing::Linear => s + (1.0 - s) * t,
            Pacing::Root => (s * s + (1.0 - s * s) * t).sqrt(),
            Pacing::Exponential => s * (1.0 / s).powf(t),
            Pacing::Fixed => {
                let stages = self.stages.max(1) as f64;
                s + (1.0 - s) * (t * stages).floor() / stages
            }
        };
        share.clamp(s, 1.0)
    }

    /// How many of `n` rows `epoch` admits: the share rounded up, at least one.
    pub fn admitted(&self, epoch: usize, n: usize) -> usize {
        // The small tolerance keeps 0.2 · 10 at 2 when the product lands at 2.0000000000000004.
        ((self.share(epoch) * n as f64 - 1e-9).ceil() as usize).clamp(n.min(1), n)
    }
}

/// The rows `0..difficulty.len()` in the order a curriculum admits them:
/// `EasyFirst` by ascending difficulty, `HardFirst` descending (ties keep the
/// row order), `Random` shuffled by the stream `curriculum` of `seed`. A
/// difficulty that is not a finite number is an error naming its row.
pub fn rank(difficulty: &[f64], order: Order, seed: u64) -> Result<Vec<usize>> {
    if let Some(row) = difficulty.iter().position(|d| !d.is_finite()) {
        return Err(DataError::InvalidParameter(format!(
            "[curriculum] the difficulty of training row {row} is {}, not a finite number",
            difficulty[row]
        )));
    }
    let mut rows: Vec<usize> = (0..difficulty.len()).collect();
    match order {
        Order::EasyFirst => rows.sort_by(|&a, &b| difficulty[a].total_cmp(&difficulty[b])),
        Order::HardFirst => rows.sort_by(|&a, &b| difficulty[b].total_cmp(&difficulty[a])),
        Order::Random => SeededRng::stream(seed, Stream::Named("curriculum", 0)).shuffle(&mut rows),
    }
    Ok(rows)
}

/// `ranked` reordered so that every prefix keeps the classes' proportions:
/// each row's key is its position within its own class's ranking, as a
/// fraction of that class's size, and rows are taken by key (ties by the
/// ranking). Without it, the easiest share of a classification can be mostly
/// one or two classes. `classes[r]` is row `r`'s class code.
///
/// ```
/// use anneal_data::curriculum::balance_classes;
///
/// // Class 0's rows are all easier than class 1's: balanced, they alternate.
/// let ranked = [0, 1, 2, 3, 4, 5];
/// let classes = [0, 0, 0, 1, 1, 1];
/// assert_eq!(balance_classes(&ranked, &classes)?, [0, 3, 1, 4, 2, 5]);
/// # Ok::<(), anneal_data::DataError>(())
/// ```
pub fn balance_classes(ranked: &[usize], classes: &[usize]) -> Result<Vec<usize>> {
    if let Some(&row) = ranked.iter().find(|&&r| r >= classes.len()) {
        return Err(DataError::Shape(format!("ranked row {row}, but only {} rows have a class", classes.len())));
    }
    let n_classes = classes.iter().max().map_or(0, |m| m + 1);
    let mut size = vec![0usize; n_classes];
    for &r in ranked {
        size[classes[r]] += 1;
    }
    let mut seen = vec![0usize; n_classes];
    let mut keyed: Vec<(f64, usize, usize)> = ranked
        .iter()
        .enumerate()
        .map(|(position, &r)| {
            let c = classes[r];
            let key = (seen[c] as f64 + 0.5) / size[c] as f64;
            seen[c] += 1;
            (key, position, r)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    Ok(keyed.into_iter().map(|(_, _, r)| r).collect())
}

/// The curriculum as the training loop's batch sampler: epoch `e` takes the
/// first [`PacingConfig::admitted`] rows of the ranking, shuffles them with the
/// stream [`Stream::Shuffle`]`(e)` of the seed (so a resumed run sees the same
/// epochs) and cuts them into batches.
#[cfg(feature = "tensors")]
#[derive(Debug, Clone, PartialEq)]
pub struct CurriculumBatches {
    /// The pacing.
    pub pacing: PacingConfig,
    /// Training rows, first admitted first (from [`rank`]).
    pub ranked: Vec<usize>,
    /// Rows per batch.
    pub batch_size: usize,
    /// The run's seed.
    pub seed: u64,
    /// What to do with a last, smaller batch.
    pub last: crate::LastBatch,
}

#[cfg(feature = "tensors")]
impl crate::BatchSampler for CurriculumBatches {
    fn batches(&self, n: usize, epoch: usize) -> Result<Vec<Vec<usize>>> {
        if n != self.ranked.len() {
            return Err(DataError::Shape(format!(
                "the curriculum ranks {} rows, but the dataset has {n}",
                self.ranked.len()
            )));
        }
        let admitted = &self.ranked[..self.pacing.admitted(epoch, n)];
        let mut rng = SeededRng::stream(self.seed, Stream::Shuffle(epoch as u64));
        let batches = crate::epoch_batches(admitted.len(), self.batch_size, Some(&mut rng), self.last)?;
        Ok(batches.into_iter().map(|b| b.into_iter().map(|i| admitted[i]).collect()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pacing(pacing: Pacing) -> PacingConfig {
        PacingConfig { pacing, start: 0.25, full_at: 5, stages: 3 }
    }

    #[test]
    fn pacing_functions_admit_the_counts_of_their_formulas() {
        let n = 100;
        let counts = |p: Pacing| (1..=6).map(|e| pacing(p).admitted(e, n)).collect::<Vec<_>>();
        // t = 0, 1/4, 1/2, 3/4, 1, 1.
        assert_eq!(counts(Pacing::Linear), [25, 44, 63, 82, 100, 100]);
        // sqrt(1/16 + 15/16 t) · 100, rounded up: 25, 54.49, 72.89, 87.5, 100.
        assert_eq!(counts(Pacing::Root), [25, 55, 73, 88, 100, 100]);
        // 0.25 · 4^t · 100: 25, 35.36, 50, 70.71, 100.
        assert_eq!(counts(Pacing::Exponential), [25, 36, 50, 71, 100, 100]);
        // Three jumps of 25 points at t = 1/3, 2/3, 1: floor(3t) = 0, 0, 1, 2, 3.
        assert_eq!(counts(Pacing::Fixed), [25, 25, 50, 75, 100, 100]);
        // Every pacing grows monotonically and admits at least one row.
        for p in [Pacing::Fixed, Pacing::Linear, Pacing::Root, Pacing::Exponential] {
            let c = PacingConfig { start: 0.01, ..pacing(p) };
            assert!((1..10).all(|e| c.admitted(e, 7) <= c.admitted(e + 1, 7) && c.admitted(e, 7) >= 1));
        }
        let all = PacingConfig { full_at: 1, ..pacing(Pacing::Linear) };
        assert_eq!(all.admitted(1, 10), 10);
    }

    #[test]
    fn rankings_and_bad_settings() {
        let d = [0.5, 0.1, 0.9, 0.1];
        assert_eq!(rank(&d, Order::EasyFirst, 0).unwrap(), [1, 3, 0, 2]);
        assert_eq!(rank(&d, Order::HardFirst, 0).unwrap(), [2, 0, 1, 3]);
        let r = rank(&d, Order::Random, 7).unwrap();
        assert_eq!(r, rank(&d, Order::Random, 7).unwrap());
        let mut sorted = r.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [0, 1, 2, 3]);
        let e = rank(&[0.0, f64::NAN], Order::EasyFirst, 0).unwrap_err().to_string();
        assert!(e.contains("training row 1"), "{e}");
        assert!(PacingConfig { start: 0.0, ..pacing(Pacing::Linear) }.validate().is_err());
        assert!(PacingConfig { full_at: 0, ..pacing(Pacing::Linear) }.validate().is_err());
        assert!(PacingConfig { stages: 0, ..pacing(Pacing::Fixed) }.validate().is_err());
    }

    #[test]
    fn balanced_prefixes_keep_the_class_proportions() {
        // 30 rows of class 0 then 10 of class 1, all of class 0 easier.
        let classes: Vec<usize> = (0..40).map(|r| usize::from(r >= 30)).collect();
        let ranked: Vec<usize> = (0..40).collect();
        let balanced = balance_classes(&ranked, &classes).unwrap();
        for prefix in [4, 8, 20, 40] {
            let ones = balanced[..prefix].iter().filter(|&&r| classes[r] == 1).count();
            assert_eq!(ones, prefix / 4, "prefix {prefix}");
        }
        // Within a class, the ranking's order is kept.
        let zeros: Vec<usize> = balanced.iter().copied().filter(|&r| classes[r] == 0).collect();
        assert_eq!(zeros, (0..30).collect::<Vec<_>>());
        assert!(balance_classes(&[5], &[0, 1]).is_err());
    }

    #[cfg(feature = "tensors")]
    #[test]
    fn the_sampler_admits_the_easiest_rows_and_replays() {
        use crate::BatchSampler;
        let difficulty: Vec<f64> = (0..20).map(|i| f64::from(20 - i)).collect();
        let sampler = CurriculumBatches {
            pacing: PacingConfig { pacing: Pacing::Linear, start: 0.25, full_at: 4, stages: 1 },
            ranked: rank(&difficulty, Order::EasyFirst, 0).unwrap(),
            batch_size: 3,
            seed: 5,
            last: crate::LastBatch::Keep,
        };
        let epoch1: Vec<usize> = sampler.batches(20, 1).unwrap().concat();
        let mut rows = epoch1.clone();
        rows.sort_unstable();
        // The five easiest: the rows of lowest difficulty, 15..20.
        assert_eq!(rows, [15, 16, 17, 18, 19]);
        assert_eq!(sampler.batches(20, 1).unwrap().concat(), epoch1);
        assert_eq!(sampler.batches(20, 4).unwrap().concat().len(), 20);
        assert!(sampler.batches(21, 1).is_err());
    }
}
