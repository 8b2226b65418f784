//! Cross-validation splitters: k-fold, stratified k-fold, group k-fold and
//! time-series split. Each yields `(train, test)` row indices; all are seeded where
//! they shuffle, and fold sizes follow scikit-learn's.

use std::collections::BTreeMap;

use crate::error::{DataError, Result};
use crate::rng::{SeededRng, Stream};
use crate::split::rows_by_class;

pub use anneal_core::Fold;

fn check_splits(n_splits: usize, n: usize) -> Result<()> {
    if n_splits < 2 {
        return Err(DataError::InvalidParameter(format!("n_splits must be at least 2, got {n_splits}")));
    }
    if n_splits > n {
        return Err(DataError::TooFewRows { what: "n_splits", k: n_splits, n });
    }
    Ok(())
}

fn folds_from_assignment(assignment: &[usize], n_splits: usize) -> Vec<Fold> {
    (0..n_splits)
        .map(|f| {
            let (test, train): (Vec<usize>, Vec<usize>) = (0..assignment.len()).partition(|&i| assignment[i] == f);
            Fold { train, test }
        })
        .collect()
}

/// K-fold: consecutive blocks (shuffled first when `seed` is given); the first
/// `n % k` folds get one extra row, as scikit-learn's `KFold`.
///
/// ```
/// let folds = anneal_data::folds::k_fold(10, 3, None)?;
/// assert_eq!(folds.iter().map(|f| f.test.len()).collect::<Vec<_>>(), [4, 3, 3]);
/// # Ok::<(), anneal_data::DataError>(())
/// ```
pub fn k_fold(n: usize, n_splits: usize, seed: Option<u64>) -> Result<Vec<Fold>> {
    check_splits(n_splits, n)?;
    let mut order: Vec<usize> = (0..n).collect();
    if let Some(seed) = seed {
        SeededRng::stream(seed, Stream::KFold).shuffle(&mut order);
    }
    let mut assignment = vec![0; n];
    let mut start = 0;
    for f in 0..n_splits {
        let size = n / n_splits + usize::from(f < n % n_splits);
        for &i in &order[start..start + size] {
            assignment[i] = f;
        }
        start += size;
    }
    Ok(folds_from_assignment(&assignment, n_splits))
}

/// Stratified k-fold: every fold keeps the class proportions, using scikit-learn's
/// allocation (labels sorted, dealt round-robin to folds), so fold sizes equal
/// `StratifiedKFold`'s. Within a class, rows go to folds in order, or shuffled when
/// `seed` is given. Every class needs at least `n_splits` members.
pub fn stratified_k_fold(labels: &[usize], n_splits: usize, seed: Option<u64>) -> Result<Vec<Fold>> {
    check_splits(n_splits, labels.len())?;
    let mut by_class = rows_by_class(labels);
    let n_classes = by_class.len();
    for (c, rows) in by_class.iter().enumerate() {
        if !rows.is_empty() && rows.len() < n_splits {
            return Err(DataError::ClassTooSmall { class: c.to_string(), count: rows.len(), parts: n_splits });
        }
    }
    // allocation[f][c]: how many rows of class c fold f gets. Like scikit-learn,
    // classes are ranked by first appearance, the ranks sorted and dealt round-robin.
    let mut rank = vec![usize::MAX; n_classes];
    let mut next = 0;
    for &c in labels {
        if rank[c] == usize::MAX {
            rank[c] = next;
            next += 1;
        }
    }
    let mut by_rank = vec![0usize; n_classes];
    for (c, &r) in rank.iter().enumerate() {
        if r != usize::MAX {
            by_rank[r] = c;
        }
    }
    let mut sorted: Vec<usize> = labels.iter().map(|&c| rank[c]).collect();
    sorted.sort_unstable();
    let mut allocation = vec![vec![0usize; n_classes]; n_splits];
    for (pos, &r) in sorted.iter().enumerate() {
        allocation[pos % n_splits][by_rank[r]] += 1;
    }
    let mut rng = seed.map(|s| SeededRng::stream(s, Stream::StratifiedKFold));
    let mut assignment = vec![0; labels.len()];
    for (c, rows) in by_class.iter_mut().enumerate() {
        if let Some(rng) = rng.as_mut() {
            rng.shuffle(rows);
        }
        let mut it = rows.iter();
        for (f, alloc) in allocation.iter().enumerate() {
            for &i in it.by_ref().take(alloc[c]) {
                assignment[i] = f;
            }
        }
    }
    Ok(folds_from_assignment(&assignment, n_splits))
}

/// Group k-fold: rows of one group never straddle folds. Groups are assigned,
/// largest first, to the fold with the fewest rows so far (scikit-learn's
/// `GroupKFold` without shuffling).
pub fn group_k_fold<G: Ord + Clone>(groups: &[G], n_splits: usize) -> Result<Vec<Fold>> {
    let mut sizes: BTreeMap<G, usize> = BTreeMap::new();
    for g in groups {
        *sizes.entry(g.clone()).or_default() += 1;
    }
    if n_splits < 2 {
        return Err(DataError::InvalidParameter(format!("n_splits must be at least 2, got {n_splits}")));
    }
    if n_splits > sizes.len() {
        return Err(DataError::TooFewRows { what: "n_splits (groups)", k: n_splits, n: sizes.len() });
    }
    let mut order: Vec<(G, usize)> = sizes.into_iter().collect();
    // Largest first; a stable sort keeps ties in group order.
    order.sort_by_key(|g| std::cmp::Reverse(g.1));
    let mut load = vec![0usize; n_splits];
    let mut fold_of: BTreeMap<G, usize> = BTreeMap::new();
    for (g, size) in order {
        let f = (0..n_splits).min_by_key(|&f| (load[f], f)).expect("n_splits >= 2");
        load[f] += size;
        fold_of.insert(g, f);
    }
    let assignment: Vec<usize> = groups.iter().map(|g| fold_of[g]).collect();
    Ok(folds_from_assignment(&assignment, n_splits))
}

/// Time-series split: expanding windows. Test folds are the last `n_splits`
/// blocks of `n / (n_splits + 1)` rows; each trains on everything before its test
/// block minus a `gap` (scikit-learn's `TimeSeriesSplit`).
pub fn time_series_split(n: usize, n_splits: usize, gap: usize) -> Result<Vec<Fold>> {
    check_splits(n_splits, n)?;
    let test_size = n / (n_splits + 1);
    if test_size == 0 || n - n_splits * test_size <= gap {
        return Err(DataError::TooFewRows { what: "n_splits + gap", k: n_splits * test_size.max(1) + gap + 1, n });
    }
    Ok((0..n_splits)
        .map(|f| {
            let test_start = n - (n_splits - f) * test_size;
            Fold { train: (0..test_start - gap).collect(), test: (test_start..test_start + test_size).collect() }
        })
        .collect())
}
