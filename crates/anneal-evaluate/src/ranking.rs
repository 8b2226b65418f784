//! Ranking metrics from scores: ROC curve and ROC-AUC (binary, one-vs-rest,
//! one-vs-one), precision-recall curve and average precision.
//!
//! Binary metrics take `y_true` as 0 (negative) / 1 (positive) and one score per
//! sample, higher meaning more positive; any finite scores work (probabilities,
//! logits, margins). Scores are mapped to order-preserving integer keys, split by
//! class and sorted once; tied scores form one threshold: a tied positive-negative pair
//! counts one half in ROC-AUC, as scikit-learn's trapezoids do.

use serde::{Deserialize, Serialize};

use crate::check;
use crate::{Average, EvalError};

/// Points of a ROC curve, at decreasing thresholds (scikit-learn's `roc_curve`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RocCurve {
    /// False positive rate at each threshold; all NaN when `y_true` has no negative.
    pub fpr: Vec<f64>,
    /// True positive rate at each threshold; all NaN when `y_true` has no positive.
    pub tpr: Vec<f64>,
    /// Score thresholds (a sample is positive when its score is `>=` the threshold);
    /// the first is `+inf`, the point (0, 0).
    pub thresholds: Vec<f64>,
}

/// Points of a precision-recall curve (scikit-learn's `precision_recall_curve`):
/// `precision` and `recall` run from the lowest threshold to the highest and end with
/// the point (recall 0, precision 1), which has no threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrCurve {
    /// Precision at each threshold, then 1.
    pub precision: Vec<f64>,
    /// Recall at each threshold, then 0; all 1 when `y_true` has no positive.
    pub recall: Vec<f64>,
    /// Increasing score thresholds, one fewer than points.
    pub thresholds: Vec<f64>,
}

/// How a multi-class ROC-AUC is built from binary ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MultiClass {
    /// Each class against all others, on that class's probability column.
    OneVsRest,
    /// Each pair of classes on the samples of the pair, both ways, averaged (Hand &
    /// Till 2001, "A simple generalisation of the area under the ROC curve for
    /// multiple class classification problems").
    OneVsOne,
}

/// An order-preserving map from finite `f64` to `u64`: `a < b` iff `key(a) <
/// key(b)`; `-0.0` and `0.0` share a key, as they compare equal. Branch-free.
pub(crate) fn score_key(x: f64) -> u64 {
    // Adding 0.0 turns -0.0 into 0.0 and changes nothing else.
    let bits = (x + 0.0).to_bits();
    // Negative: flip every bit; positive: set the sign bit.
    bits ^ (((bits as i64 >> 63) as u64) | (1 << 63))
}

fn key_score(k: u64) -> f64 {
    f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
}

/// Area under the ROC curve of sorted positive and negative keys: the fraction of
/// positive-negative pairs ranked correctly, ties counting one half.
fn auc_sorted(pos: &[u64], neg: &[u64]) -> f64 {
    let (mut i, mut j) = (0, 0);
    let mut twice_correct: u128 = 0;
    while i < pos.len() {
        let v = pos[i];
        let start = i;
        while i < pos.len() && pos[i] == v {
            i += 1;
        }
        while j < neg.len() && neg[j] < v {
            j += 1;
        }
        let below = j;
        while j < neg.len() && neg[j] == v {
            j += 1;
        }
        twice_correct += (i - start) as u128 * (below + j) as u128;
    }
    twice_correct as f64 / (2.0 * pos.len() as f64 * neg.len() as f64)
}

/// Sorts both key sets and returns their ROC-AUC (NaN when either is empty).
pub(crate) fn auc_keys(pos: &mut [u64], neg: &mut [u64]) -> f64 {
    pos.sort_unstable();
    neg.sort_unstable();
    auc_sorted(pos, neg)
}

/// Writes the keys of a binary batch (equal lengths) to `pos` and `neg`, which hold
/// at least `y_true.len()` slots each, and returns how many went to each. One
/// branch-free pass; the error path looks for the first bad sample.
fn split_into(
    y_true: &[usize],
    y_score: &[f64],
    pos: &mut [u64],
    neg: &mut [u64],
) -> Result<(usize, usize), EvalError> {
    let (mut p, mut n, mut bad) = (0, 0, false);
    for (&t, &s) in y_true.iter().zip(y_score) {
        bad |= (t > 1) | !s.is_finite();
        let k = score_key(s);
        pos[p] = k;
        neg[n] = k;
        let b = t & 1;
        p += b;
        n += b ^ 1;
    }
    if !bad {
        return Ok((p, n));
    }
    for (index, (&t, &s)) in y_true.iter().zip(y_score).enumerate() {
        if t > 1 {
            return Err(EvalError::LabelOutOfRange { which: "y_true", index, label: t, n_classes: 2 });
        }
        if !s.is_finite() {
            return Err(EvalError::NonFinite { which: "y_score", index, value: s });
        }
    }
    unreachable!("a bad sample was flagged")
}

/// Checks binary `y_true` / `y_score` and splits the scores' keys by class.
pub(crate) fn split_keys(y_true: &[usize], y_score: &[f64]) -> Result<(Vec<u64>, Vec<u64>), EvalError> {
    check::lengths(y_true.len(), y_score.len())?;
    // Zeroed allocations come from the OS untouched: only the slots written are paged in.
    let (mut pos, mut neg) = (vec![0; y_true.len()], vec![0; y_true.len()]);
    let (p, n) = split_into(y_true, y_score, &mut pos, &mut neg)?;
    pos.truncate(p);
    neg.truncate(n);
    Ok((pos, neg))
}

/// Appends the keys of a binary batch of equal lengths by class; on an error both
/// vectors are left as they were.
pub(crate) fn push_keys(
    y_true: &[usize],
    y_score: &[f64],
    pos: &mut Vec<u64>,
    neg: &mut Vec<u64>,
) -> Result<(), EvalError> {
    let (p0, n0) = (pos.len(), neg.len());
    pos.resize(p0 + y_true.len(), 0);
    neg.resize(n0 + y_true.len(), 0);
    let split = split_into(y_true, y_score, &mut pos[p0..], &mut neg[n0..]);
    let (p, n) = *split.as_ref().unwrap_or(&(0, 0));
    pos.truncate(p0 + p);
    neg.truncate(n0 + n);
    split.map(|_| ())
}

/// The ROC-AUC of keys already split, or the single-class error.
pub(crate) fn binary_auc(pos: &mut [u64], neg: &mut [u64], metric: &'static str) -> Result<f64, EvalError> {
    match (pos.is_empty(), neg.is_empty()) {
        (true, _) => Err(EvalError::SingleClass { metric, class: 0 }),
        (_, true) => Err(EvalError::SingleClass { metric, class: 1 }),
        _ => Ok(auc_keys(pos, neg)),
    }
}

/// Area under the ROC curve of a binary problem (scikit-learn's `roc_auc_score`):
/// the probability that a random positive scores above a random negative, ties
/// counting one half.
///
/// ```
/// let auc = anneal_evaluate::roc_auc(&[0, 0, 1, 1], &[0.1, 0.4, 0.35, 0.8])?;
/// assert_eq!(auc, 0.75);
/// # Ok::<(), anneal_evaluate::EvalError>(())
/// ```
///
/// # Errors
/// [`EvalError::LengthMismatch`], [`EvalError::Empty`],
/// [`EvalError::LabelOutOfRange`] for a code other than 0 or 1,
/// [`EvalError::NonFinite`], and [`EvalError::SingleClass`] when `y_true` holds one
/// class only (scikit-learn 1.9 returns NaN with a warning there; before 1.8 it
/// raised).
pub fn roc_auc(y_true: &[usize], y_score: &[f64]) -> Result<f64, EvalError> {
    let (mut pos, mut neg) = split_keys(y_true, y_score)?;
    binary_auc(&mut pos, &mut neg, "ROC-AUC")
}

/// Distinct thresholds in decreasing order with cumulative true and false positives
/// (scikit-learn's `confusion_matrix_at_thresholds`).
fn thresholds(y_true: &[usize], y_score: &[f64]) -> Result<Vec<(f64, u64, u64)>, EvalError> {
    let (mut pos, mut neg) = split_keys(y_true, y_score)?;
    pos.sort_unstable();
    neg.sort_unstable();
    let (mut i, mut j) = (pos.len(), neg.len());
    let (mut tps, mut fps) = (0u64, 0u64);
    let mut out = Vec::new();
    while i > 0 || j > 0 {
        let v = match (i, j) {
            (0, _) => neg[j - 1],
            (_, 0) => pos[i - 1],
            _ => pos[i - 1].max(neg[j - 1]),
        };
        while i > 0 && pos[i - 1] == v {
            i -= 1;
            tps += 1;
        }
        while j > 0 && neg[j - 1] == v {
            j -= 1;
            fps += 1;
        }
        out.push((key_score(v), tps, fps));
    }
    Ok(out)
}

/// The ROC curve (scikit-learn's `roc_curve`). With `drop_intermediate` (its
/// default) points on a straight segment between their neighbours are dropped,
/// which leaves the area unchanged.
///
/// # Errors
/// As [`roc_auc`], except that one class in `y_true` is no error: the rate without
/// a denominator is NaN, as in scikit-learn.
pub fn roc_curve(y_true: &[usize], y_score: &[f64], drop_intermediate: bool) -> Result<RocCurve, EvalError> {
    let mut pts = thresholds(y_true, y_score)?;
    if drop_intermediate && pts.len() > 2 {
        let second_diff = |a: u64, b: u64, c: u64| a as i128 - 2 * b as i128 + c as i128 != 0;
        let keep: Vec<bool> = (0..pts.len())
            .map(|i| {
                i == 0
                    || i == pts.len() - 1
                    || second_diff(pts[i - 1].2, pts[i].2, pts[i + 1].2)
                    || second_diff(pts[i - 1].1, pts[i].1, pts[i + 1].1)
            })
            .collect();
        let mut k = keep.iter();
        pts.retain(|_| *k.next().unwrap_or(&true));
    }
    let (p, n) = pts.last().map_or((0, 0), |&(_, tp, fp)| (tp, fp));
    let rate = |c: u64, total: u64| if total == 0 { f64::NAN } else { c as f64 / total as f64 };
    let mut curve = RocCurve { fpr: vec![rate(0, n)], tpr: vec![rate(0, p)], thresholds: vec![f64::INFINITY] };
    for &(t, tp, fp) in &pts {
        curve.fpr.push(rate(fp, n));
        curve.tpr.push(rate(tp, p));
        curve.thresholds.push(t);
    }
    Ok(curve)
}

/// The precision-recall curve (scikit-learn's `precision_recall_curve`);
/// `drop_intermediate` (scikit-learn's default: false) drops thresholds that do not
/// change recall on either side.
///
/// # Errors
/// As [`roc_curve`]; without positives recall is 1 everywhere, as in scikit-learn.
pub fn precision_recall_curve(
    y_true: &[usize],
    y_score: &[f64],
    drop_intermediate: bool,
) -> Result<PrCurve, EvalError> {
    let mut pts = thresholds(y_true, y_score)?;
    if drop_intermediate && pts.len() > 2 {
        let keep: Vec<bool> = (0..pts.len())
            .map(|i| i == 0 || i == pts.len() - 1 || pts[i].1 != pts[i - 1].1 || pts[i + 1].1 != pts[i].1)
            .collect();
        let mut k = keep.iter();
        pts.retain(|_| *k.next().unwrap_or(&true));
    }
    let p = pts.last().map_or(0, |&(_, tp, _)| tp);
    let mut curve = PrCurve { precision: Vec::new(), recall: Vec::new(), thresholds: Vec::new() };
    for &(t, tp, fp) in pts.iter().rev() {
        curve.precision.push(tp as f64 / (tp + fp) as f64);
        curve.recall.push(if p == 0 { 1.0 } else { tp as f64 / p as f64 });
        curve.thresholds.push(t);
    }
    curve.precision.push(1.0);
    curve.recall.push(0.0);
    Ok(curve)
}

/// Average precision (scikit-learn's `average_precision_score`): the step-wise area
/// under the precision-recall curve, `sum_n (R_n - R_{n-1}) P_n` over decreasing
/// thresholds, without interpolation. 0 when `y_true` has no positive (scikit-learn
/// returns 0 with a warning).
///
/// # Errors
/// As [`roc_curve`].
pub fn average_precision(y_true: &[usize], y_score: &[f64]) -> Result<f64, EvalError> {
    let pts = thresholds(y_true, y_score)?;
    let p = pts.last().map_or(0, |&(_, tp, _)| tp);
    if p == 0 {
        return Ok(0.0);
    }
    let mut ap = 0.0;
    let mut prev_recall = 0.0;
    for &(_, tp, fp) in &pts {
        let recall = tp as f64 / p as f64;
        ap += (recall - prev_recall) * (tp as f64 / (tp + fp) as f64);
        prev_recall = recall;
    }
    Ok(ap.max(0.0))
}

/// Multi-class ROC-AUC from a row-major `n_samples x n_classes` probability matrix
/// (scikit-learn's `roc_auc_score(multi_class=..., average=..., labels=range(n_classes))`).
///
/// - [`MultiClass::OneVsRest`] with [`Average::Macro`] (every class must occur in
///   `y_true`), [`Average::Weighted`] (by support; absent classes weigh 0) or
///   [`Average::Micro`] (all `n_samples x n_classes` indicator cells as one binary
///   problem);
/// - [`MultiClass::OneVsOne`] with [`Average::Macro`] (Hand & Till's M) or
///   [`Average::Weighted`] (pairs weighted by their share of samples), over the
///   pairs of classes that occur in `y_true`.
///
/// # Errors
/// [`EvalError::Empty`], [`EvalError::ScoreShape`], [`EvalError::NonFinite`],
/// [`EvalError::ProbabilityOutOfRange`], [`EvalError::RowSum`],
/// [`EvalError::LabelOutOfRange`]; [`EvalError::ClassAbsent`] for a class without
/// samples under one-vs-rest macro (scikit-learn returns NaN);
/// [`EvalError::SingleClass`] when `y_true` holds one class (except under micro
/// averaging);
/// [`EvalError::InvalidParameter`] for fewer than two classes, `Average::Binary`, or
/// `Average::Micro` with one-vs-one.
pub fn roc_auc_multiclass(
    y_true: &[usize],
    y_proba: &[f64],
    n_classes: usize,
    multi_class: MultiClass,
    average: Average,
) -> Result<f64, EvalError> {
    if y_true.is_empty() {
        return Err(EvalError::Empty);
    }
    if n_classes < 2 {
        return Err(EvalError::invalid("n_classes", n_classes, "at least two classes"));
    }
    check::proba_matrix("y_proba", y_true.len(), y_proba, n_classes)?;
    check::labels("y_true", y_true, n_classes)?;
    let k = n_classes;
    let mut support = vec![0usize; k];
    for &t in y_true {
        support[t] += 1;
    }
    let present: Vec<usize> = (0..k).filter(|&c| support[c] > 0).collect();
    // Micro-averaging has positive and negative cells whatever y_true holds.
    if present.len() < 2 && average != Average::Micro {
        return Err(EvalError::SingleClass { metric: "multi-class ROC-AUC", class: y_true[0] });
    }
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    let mut column_auc = |positive: &dyn Fn(usize) -> Option<bool>, column: usize| {
        pos.clear();
        neg.clear();
        for (i, &t) in y_true.iter().enumerate() {
            match positive(t) {
                Some(true) => pos.push(score_key(y_proba[i * k + column])),
                Some(false) => neg.push(score_key(y_proba[i * k + column])),
                None => {}
            }
        }
        auc_keys(&mut pos, &mut neg)
    };
    match (multi_class, average) {
        (_, Average::Binary { .. }) => {
            Err(EvalError::invalid("average", "binary", "macro or weighted (or micro with one-vs-rest)"))
        }
        (MultiClass::OneVsOne, Average::Micro) => {
            Err(EvalError::invalid("average", "micro", "macro or weighted with one-vs-one"))
        }
        (MultiClass::OneVsRest, Average::Micro) => {
            let mut pos = Vec::with_capacity(y_true.len());
            let mut neg = Vec::with_capacity(y_true.len() * (k - 1));
            for (&t, row) in y_true.iter().zip(y_proba.chunks_exact(k)) {
                for (c, &s) in row.iter().enumerate() {
                    if c == t { pos.push(score_key(s)) } else { neg.push(score_key(s)) }
                }
            }
            Ok(auc_keys(&mut pos, &mut neg))
        }
        (MultiClass::OneVsRest, _) => {
            let weighted = average == Average::Weighted;
            if !weighted && let Some(class) = (0..k).find(|&c| support[c] == 0) {
                return Err(EvalError::ClassAbsent { metric: "one-vs-rest ROC-AUC", class });
            }
            let (mut sum, mut weights) = (0.0, 0.0);
            for &c in &present {
                let w = if weighted { support[c] as f64 } else { 1.0 };
                sum += w * column_auc(&|t| Some(t == c), c);
                weights += w;
            }
            Ok(sum / weights)
        }
        (MultiClass::OneVsOne, _) => {
            let weighted = average == Average::Weighted;
            let (mut sum, mut weights) = (0.0, 0.0);
            for (ia, &a) in present.iter().enumerate() {
                for &b in &present[ia + 1..] {
                    let in_pair = |t: usize| (t == a || t == b).then_some(t == a);
                    let a_auc = column_auc(&in_pair, a);
                    let b_auc = column_auc(&|t| in_pair(t).map(|is_a| !is_a), b);
                    let w = if weighted { (support[a] + support[b]) as f64 / y_true.len() as f64 } else { 1.0 };
                    sum += w * (a_auc + b_auc) / 2.0;
                    weights += w;
                }
            }
            Ok(sum / weights)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_order() {
        let xs = [f64::MIN, -1e300, -1.0, -1e-300, -0.0, 0.0, 1e-300, 0.5, 1.0, 1e300, f64::MAX];
        for w in xs.windows(2) {
            assert!(score_key(w[0]) <= score_key(w[1]), "{w:?}");
            assert_eq!(key_score(score_key(w[1])), w[1]);
        }
        assert_eq!(score_key(-0.0), score_key(0.0));
    }

    #[test]
    fn auc_counts_ties_half() {
        assert_eq!(roc_auc(&[0, 1], &[0.5, 0.5]).unwrap(), 0.5);
        assert_eq!(roc_auc(&[0, 1, 1], &[0.2, 0.2, 0.9]).unwrap(), 0.75);
        assert_eq!(roc_auc(&[1, 1], &[0.2, 0.3]), Err(EvalError::SingleClass { metric: "ROC-AUC", class: 1 }));
    }
}
