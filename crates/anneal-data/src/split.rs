//! Seeded hold-out splits: plain, stratified and grouped train / validation / test.

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::rng::{SeededRng, Stream};

/// Fractions of the rows that go to each part of a hold-out split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitFractions {
    /// Fraction for training (must be positive).
    pub train: f64,
    /// Fraction for validation (may be zero).
    pub valid: f64,
    /// Fraction for the final test (may be zero).
    pub test: f64,
}

impl Default for SplitFractions {
    fn default() -> Self {
        Self { train: 0.7, valid: 0.15, test: 0.15 }
    }
}

impl SplitFractions {
    /// Checks that every fraction is in `[0, 1]`, training is positive and they sum to 1.
    pub fn validate(&self) -> Result<()> {
        for (name, f) in [("train", self.train), ("valid", self.valid), ("test", self.test)] {
            if !(0.0..=1.0).contains(&f) {
                return Err(DataError::InvalidSplit(format!("{name} fraction {f} is outside [0, 1]")));
            }
        }
        if self.train <= 0.0 {
            return Err(DataError::InvalidSplit("train fraction must be positive".into()));
        }
        let sum = self.train + self.valid + self.test;
        if (sum - 1.0).abs() > 1e-9 {
            return Err(DataError::InvalidSplit(format!("fractions sum to {sum}, not 1")));
        }
        Ok(())
    }

    fn parts(&self) -> usize {
        1 + usize::from(self.valid > 0.0) + usize::from(self.test > 0.0)
    }
}

/// Row indices of each part of a split, each sorted ascending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    /// Training rows.
    pub train: Vec<usize>,
    /// Validation rows.
    pub valid: Vec<usize>,
    /// Test rows.
    pub test: Vec<usize>,
}

/// Splits `n` rows at random into train / validation / test.
pub fn holdout(n: usize, fractions: SplitFractions, seed: u64) -> Result<Split> {
    fractions.validate()?;
    if n < fractions.parts() {
        return Err(DataError::InvalidSplit(format!("{n} rows cannot fill {} parts", fractions.parts())));
    }
    let mut rows: Vec<usize> = (0..n).collect();
    SeededRng::stream(seed, Stream::Split).shuffle(&mut rows);
    let mut split = Split { train: Vec::new(), valid: Vec::new(), test: Vec::new() };
    assign(&rows, fractions, &mut split);
    sort(&mut split);
    Ok(split)
}

/// Splits rows so that each class keeps its proportion in every part.
///
/// `labels[i]` is the class code of row `i`; `class_names` names the codes in errors.
/// Every class needs at least one member per non-empty part.
///
/// ```
/// use anneal_data::split::{stratified_holdout, SplitFractions};
///
/// let labels: Vec<usize> = (0..100).map(|i| i % 2).collect();
/// let names = ["a".to_string(), "b".to_string()];
/// let s = stratified_holdout(&labels, &names, SplitFractions { train: 0.6, valid: 0.2, test: 0.2 }, 42)?;
/// assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (60, 20, 20));
/// # Ok::<(), anneal_data::DataError>(())
/// ```
pub fn stratified_holdout(
    labels: &[usize],
    class_names: &[String],
    fractions: SplitFractions,
    seed: u64,
) -> Result<Split> {
    fractions.validate()?;
    let mut by_class = rows_by_class(labels);
    let mut rng = SeededRng::stream(seed, Stream::Split);
    let mut split = Split { train: Vec::new(), valid: Vec::new(), test: Vec::new() };
    for (c, rows) in by_class.iter_mut().enumerate() {
        if rows.is_empty() {
            continue;
        }
        if rows.len() < fractions.parts() {
            return Err(DataError::ClassTooSmall {
                class: class_names.get(c).cloned().unwrap_or_else(|| c.to_string()),
                count: rows.len(),
                parts: fractions.parts(),
            });
        }
        rng.shuffle(rows);
        assign(rows, fractions, &mut split);
    }
    sort(&mut split);
    Ok(split)
}

/// Splits rows by group: every row of a group lands in the same part, so the
/// test part holds only groups never trained on (a speaker, a patient). The
/// distinct groups, in sorted order, are shuffled with `seed` and dealt into
/// the parts by the fractions, which are fractions of groups (scikit-learn's
/// `GroupShuffleSplit`); with groups of equal size they are fractions of rows too.
///
/// ```
/// use anneal_data::split::{group_holdout, SplitFractions};
///
/// // 20 speakers with 5 clips each.
/// let speakers: Vec<String> = (0..100).map(|i| format!("s{}", i / 5)).collect();
/// let s = group_holdout(&speakers, SplitFractions { train: 0.6, valid: 0.2, test: 0.2 }, 3)?;
/// assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (60, 20, 20));
/// assert!(s.test.iter().all(|&t| s.train.iter().all(|&r| speakers[r] != speakers[t])));
/// # Ok::<(), anneal_data::DataError>(())
/// ```
pub fn group_holdout<G: Ord + Clone>(groups: &[G], fractions: SplitFractions, seed: u64) -> Result<Split> {
    fractions.validate()?;
    let mut distinct: Vec<G> = groups.to_vec();
    distinct.sort();
    distinct.dedup();
    if distinct.len() < fractions.parts() {
        return Err(DataError::InvalidSplit(format!(
            "{} group(s) cannot fill {} parts: a group split needs at least one group per part",
            distinct.len(),
            fractions.parts()
        )));
    }
    let mut order: Vec<usize> = (0..distinct.len()).collect();
    SeededRng::stream(seed, Stream::Split).shuffle(&mut order);
    let mut parts = Split { train: Vec::new(), valid: Vec::new(), test: Vec::new() };
    assign(&order, fractions, &mut parts);
    // Group index → part: 0 train, 1 valid, 2 test.
    let mut part = vec![0u8; distinct.len()];
    for &g in &parts.valid {
        part[g] = 1;
    }
    for &g in &parts.test {
        part[g] = 2;
    }
    let mut split = Split { train: Vec::new(), valid: Vec::new(), test: Vec::new() };
    for (row, g) in groups.iter().enumerate() {
        let index = distinct.binary_search(g).expect("every group is among the distinct ones");
        match part[index] {
            0 => split.train.push(row),
            1 => split.valid.push(row),
            _ => split.test.push(row),
        }
    }
    Ok(split)
}

/// Row indices of each class code, `0..=max(labels)` (empty for an absent code).
pub(crate) fn rows_by_class(labels: &[usize]) -> Vec<Vec<usize>> {
    let n_classes = labels.iter().max().map_or(0, |m| m + 1);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); n_classes];
    for (i, &c) in labels.iter().enumerate() {
        by_class[c].push(i);
    }
    by_class
}

/// Deals shuffled `rows` into the parts: rounded shares, at least one row per
/// non-empty part, training takes the rest.
fn assign(rows: &[usize], f: SplitFractions, split: &mut Split) {
    let n = rows.len();
    let share = |frac: f64| if frac > 0.0 { ((n as f64 * frac).round() as usize).max(1) } else { 0 };
    let mut n_test = share(f.test);
    let mut n_valid = share(f.valid);
    // Training keeps at least one row.
    while n_test + n_valid >= n {
        if n_valid >= n_test && n_valid > usize::from(f.valid > 0.0) {
            n_valid -= 1;
        } else if n_test > usize::from(f.test > 0.0) {
            n_test -= 1;
        } else {
            break;
        }
    }
    split.test.extend_from_slice(&rows[..n_test]);
    split.valid.extend_from_slice(&rows[n_test..n_test + n_valid]);
    split.train.extend_from_slice(&rows[n_test + n_valid..]);
}

fn sort(split: &mut Split) {
    split.train.sort_unstable();
    split.valid.sort_unstable();
    split.test.sort_unstable();
}
