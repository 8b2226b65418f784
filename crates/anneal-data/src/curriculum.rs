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
    /// Self-paced learning (Kumar, Packer & Koller 2010): the rows whose
    /// current loss is below a threshold that grows every epoch
    /// ([`SelfPaced`]); `start` is the least share admitted, and every row is
    /// in from `full_at`. Needs the model's own loss as the difficulty.
    SelfPaced,
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
            // The floor under the threshold's admissions: all once at `full_at`.
            Pacing::SelfPaced => {
                if t >= 1.0 {
                    1.0
                } else {
                    s
                }
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

/// The loss threshold of self-paced learning: `threshold · growth^(e − 1)` in
/// epoch `e` (Kumar et al.'s `1/K` growing by their factor `μ`, 1.3 by
/// default), in the loss's own units (nats of cross-entropy; squared error of
/// the training units).
///
/// ```
/// use anneal_data::curriculum::SelfPaced;
///
/// let sp = SelfPaced { threshold: 0.1, growth: 2.0 };
/// assert_eq!((1..=4).map(|e| sp.threshold(e)).collect::<Vec<_>>(), [0.1, 0.2, 0.4, 0.8]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelfPaced {
    /// The threshold in epoch 1, positive.
    pub threshold: f64,
    /// Its factor per epoch, at least 1.
    pub growth: f64,
}

impl SelfPaced {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return Err(DataError::InvalidParameter(format!(
                "[curriculum] threshold = {}: the self-paced loss threshold must be a positive number",
                self.threshold
            )));
        }
        if !(self.growth.is_finite() && self.growth >= 1.0) {
            return Err(DataError::InvalidParameter(format!(
                "[curriculum] growth = {}: the threshold's factor per epoch must be at least 1",
                self.growth
            )));
        }
        Ok(())
    }

    /// The threshold in `epoch` (from 1).
    pub fn threshold(&self, epoch: usize) -> f64 {
        self.threshold * self.growth.powi(epoch.saturating_sub(1).min(i32::MAX as usize) as i32)
    }
}

/// The rows a self-paced epoch admits, easiest first: ranked by `losses` in
/// `order`, then the first `pacing.admitted(epoch)` rows, or more with
/// [`Pacing::SelfPaced`]: every row whose loss is below the threshold of
/// `self_paced` (ranked easy first; `hard_first` admits from the top loss
/// down, `random` ranks at random and admits by the pacing's count). With
/// `classes`, the ranking keeps the classes' proportions ([`balance_classes`]).
pub fn self_paced_rows(
    losses: &[f64],
    order: Order,
    pacing: &PacingConfig,
    self_paced: Option<&SelfPaced>,
    classes: Option<&[usize]>,
    epoch: usize,
    seed: u64,
) -> Result<Vec<usize>> {
    let n = losses.len();
    let mut ranked = rank(losses, order, seed)?;
    if let Some(c) = classes {
        ranked = balance_classes(&ranked, c)?;
    }
    let mut count = pacing.admitted(epoch, n);
    if let (Pacing::SelfPaced, Some(sp)) = (pacing.pacing, self_paced) {
        let threshold = sp.threshold(epoch);
        // The anti-curriculum and random controls admit as many rows (the
        // hardest, or random ones).
        count = count.max(losses.iter().filter(|&&l| l < threshold).count());
    }
    ranked.truncate(count.min(n));
    Ok(ranked)
}

/// A self-paced curriculum as the training loop's batch sampler: before every
/// epoch the loop passes it the current model's loss on every training row
/// ([`BatchSampler::observe_losses`](crate::BatchSampler::observe_losses)), and
/// the epoch draws from the rows [`self_paced_rows`] admits, shuffled with the
/// stream [`Stream::Shuffle`]`(e)` of the seed. The losses are a function of
/// the weights at the epoch's start, so a resumed run sees the same epochs.
#[cfg(feature = "tensors")]
#[derive(Debug)]
pub struct SelfPacedBatches {
    /// The pacing: the share admitted at least, and when all are.
    pub pacing: PacingConfig,
    /// The threshold of [`Pacing::SelfPaced`].
    pub self_paced: Option<SelfPaced>,
    /// Easy first, hard first or random.
    pub order: Order,
    /// Each training row's class code, to keep the classes' proportions.
    pub classes: Option<Vec<usize>>,
    /// Rows per batch.
    pub batch_size: usize,
    /// The run's seed.
    pub seed: u64,
    /// What to do with a last, smaller batch.
    pub last: crate::LastBatch,
    /// The losses observed for the epoch about to run.
    losses: std::sync::Mutex<Option<(usize, Vec<f64>)>>,
}

#[cfg(feature = "tensors")]
impl SelfPacedBatches {
    /// A self-paced sampler; `self_paced` is needed with [`Pacing::SelfPaced`].
    pub fn new(
        pacing: PacingConfig,
        self_paced: Option<SelfPaced>,
        order: Order,
        classes: Option<Vec<usize>>,
        batch_size: usize,
        seed: u64,
        last: crate::LastBatch,
    ) -> Result<Self> {
        pacing.validate()?;
        match (pacing.pacing, &self_paced) {
            (Pacing::SelfPaced, None) => {
                return Err(DataError::InvalidParameter(
                    "[curriculum] pacing = \"self_paced\" needs a loss threshold (threshold = ...)".into(),
                ));
            }
            (Pacing::SelfPaced, Some(sp)) => sp.validate()?,
            (_, Some(_)) => {
                return Err(DataError::InvalidParameter(
                    "[curriculum] threshold and growth are settings of pacing = \"self_paced\"".into(),
                ));
            }
            (_, None) => {}
        }
        Ok(Self { pacing, self_paced, order, classes, batch_size, seed, last, losses: std::sync::Mutex::new(None) })
    }
}

#[cfg(feature = "tensors")]
impl Clone for SelfPacedBatches {
    fn clone(&self) -> Self {
        let losses = self.losses.lock().map(|l| l.clone()).unwrap_or_else(|p| p.into_inner().clone());
        Self {
            pacing: self.pacing,
            self_paced: self.self_paced,
            order: self.order,
            classes: self.classes.clone(),
            batch_size: self.batch_size,
            seed: self.seed,
            last: self.last,
            losses: std::sync::Mutex::new(losses),
        }
    }
}

#[cfg(feature = "tensors")]
impl crate::BatchSampler for SelfPacedBatches {
    fn batches(&self, n: usize, epoch: usize) -> Result<Vec<Vec<usize>>> {
        let observed = self.losses.lock().map(|l| l.clone()).unwrap_or_else(|p| p.into_inner().clone());
        let Some((seen, losses)) = observed.filter(|(e, _)| *e == epoch) else {
            return Err(DataError::InvalidBatch(format!(
                "a self-paced curriculum needs the model's losses before epoch {epoch}: train it with the loop, which \
                 passes them"
            )));
        };
        if losses.len() != n {
            return Err(DataError::Shape(format!(
                "{} losses observed before epoch {seen} for a dataset of {n} rows",
                losses.len()
            )));
        }
        let admitted = self_paced_rows(
            &losses,
            self.order,
            &self.pacing,
            self.self_paced.as_ref(),
            self.classes.as_deref(),
            epoch,
            self.seed,
        )?;
        shuffled_batches(&admitted, self.batch_size, self.seed, epoch, self.last)
    }

    fn needs_losses(&self) -> bool {
        true
    }

    fn observe_losses(&self, epoch: usize, losses: &[f64]) -> Result<()> {
        if let Some(row) = losses.iter().position(|l| !l.is_finite()) {
            return Err(DataError::InvalidParameter(format!(
                "[curriculum] the model's loss on training row {row} is {} before epoch {epoch}",
                losses[row]
            )));
        }
        let mut slot = self.losses.lock().unwrap_or_else(|p| p.into_inner());
        *slot = Some((epoch, losses.to_vec()));
        Ok(())
    }
}

/// The batches of `epoch` over the `admitted` rows: shuffled with the stream
/// [`Stream::Shuffle`]`(epoch)` of `seed` (so a resumed run sees the same
/// epochs), then cut into batches of `batch_size`.
#[cfg(feature = "tensors")]
fn shuffled_batches(
    admitted: &[usize],
    batch_size: usize,
    seed: u64,
    epoch: usize,
    last: crate::LastBatch,
) -> Result<Vec<Vec<usize>>> {
    let mut rng = SeededRng::stream(seed, Stream::Shuffle(epoch as u64));
    let batches = crate::epoch_batches(admitted.len(), batch_size, Some(&mut rng), last)?;
    Ok(batches.into_iter().map(|b| b.into_iter().map(|i| admitted[i]).collect()).collect())
}

/// A curriculum of either kind: ranked once ([`CurriculumBatches`]) or by the
/// model's own loss before every epoch ([`SelfPacedBatches`]).
#[cfg(feature = "tensors")]
#[derive(Debug, Clone)]
pub enum Curriculum {
    /// A fixed ranking.
    Ranked(CurriculumBatches),
    /// Self-paced.
    SelfPaced(SelfPacedBatches),
}

#[cfg(feature = "tensors")]
impl crate::BatchSampler for Curriculum {
    fn batches(&self, n: usize, epoch: usize) -> Result<Vec<Vec<usize>>> {
        match self {
            Curriculum::Ranked(c) => c.batches(n, epoch),
            Curriculum::SelfPaced(c) => c.batches(n, epoch),
        }
    }

    fn needs_losses(&self) -> bool {
        matches!(self, Curriculum::SelfPaced(_))
    }

    fn observe_losses(&self, epoch: usize, losses: &[f64]) -> Result<()> {
        match self {
            Curriculum::Ranked(_) => Ok(()),
            Curriculum::SelfPaced(c) => c.observe_losses(epoch, losses),
        }
    }
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
        shuffled_batches(admitted, self.batch_size, self.seed, epoch, self.last)
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

    /// Self-paced admission: by the pacing's count over the loss ranking, or by
    /// a threshold growing by its factor (with the pacing's share as a floor and
    /// everything from `full_at`).
    #[test]
    fn self_paced_rows_follow_the_losses_and_the_threshold() {
        let losses = [0.9, 0.1, 0.5, 2.0, 0.3, 1.2, 0.05, 0.7];
        let linear = PacingConfig { pacing: Pacing::Linear, start: 0.25, full_at: 4, stages: 1 };
        let rows = |p: &PacingConfig, sp: Option<&SelfPaced>, order, e| {
            self_paced_rows(&losses, order, p, sp, None, e, 1).unwrap()
        };
        assert_eq!(rows(&linear, None, Order::EasyFirst, 1), [6, 1]);
        assert_eq!(rows(&linear, None, Order::HardFirst, 1), [3, 5]);
        assert_eq!(rows(&linear, None, Order::EasyFirst, 4).len(), 8);
        let sp = SelfPaced { threshold: 0.2, growth: 2.0 };
        let paced = PacingConfig { pacing: Pacing::SelfPaced, ..linear };
        // Thresholds 0.2, 0.4, 0.8: 2, 3, then 5 rows below; all at epoch 4.
        let counts: Vec<usize> = (1..=4).map(|e| rows(&paced, Some(&sp), Order::EasyFirst, e).len()).collect();
        assert_eq!(counts, [2, 3, 5, 8]);
        assert_eq!(rows(&paced, Some(&sp), Order::EasyFirst, 3), [6, 1, 4, 2, 7]);
        // A threshold below every loss still admits the floor share.
        let low = SelfPaced { threshold: 0.01, growth: 1.0 };
        assert_eq!(rows(&paced, Some(&low), Order::EasyFirst, 2), [6, 1]);
        // Balanced classes interleave the loss ranking by class.
        let classes = [0, 0, 0, 0, 1, 1, 1, 1];
        let balanced = self_paced_rows(&losses, Order::EasyFirst, &linear, None, Some(&classes), 1, 1).unwrap();
        assert_eq!(balanced, [6, 1]);
        assert!(self_paced_rows(&[0.1, f64::NAN], Order::EasyFirst, &linear, None, None, 1, 1).is_err());
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
