//! Cross-validation: fold checks, every row scored once, bounded concurrency,
//! fold-ordered results and errors.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anneal_evaluate::cv::{Coverage, CrossValidation, Fold, FoldScores, Scores, check_folds};
use anneal_evaluate::{EvalError, Summary};
use proptest::prelude::*;

/// k-fold by `row % k`.
fn modulo_folds(n: usize, k: usize) -> Vec<Fold> {
    (0..k)
        .map(|f| Fold { train: (0..n).filter(|r| r % k != f).collect(), test: (0..n).filter(|r| r % k == f).collect() })
        .collect()
}

fn score(name: &str, v: f64) -> Scores {
    Scores::from([(name.to_string(), v)])
}

#[test]
fn per_fold_results_and_mean_std() {
    let cv = CrossValidation::new(modulo_folds(10, 4), 10, Coverage::Partition).unwrap().with_workers(3).unwrap();
    // The "score" of a fold is its number of test rows.
    let report = cv
        .run(|train, test| {
            Ok::<_, EvalError>(FoldScores {
                train: score("rows", train.len() as f64),
                test: score("rows", test.len() as f64),
            })
        })
        .unwrap();
    let sizes: Vec<f64> = report.folds.iter().map(|f| f.test["rows"]).collect();
    assert_eq!(sizes, [3.0, 3.0, 2.0, 2.0]);
    assert_eq!(report.folds.iter().map(|f| f.fold).collect::<Vec<_>>(), [0, 1, 2, 3]);
    assert_eq!(report.folds[0].n_train, 7);
    let s = report.test["rows"];
    assert_eq!(s.mean, 2.5);
    assert!((s.std - 0.5).abs() < 1e-15); // population std of [3, 3, 2, 2]
    assert_eq!((s.min, s.max, s.n), (2.0, 3.0, 4));
    assert_eq!(report.train["rows"].mean, 7.5);
    assert_eq!(report.workers, 3);
    let md = report.to_markdown(2);
    assert!(md.contains("| fold | train rows | test rows | rows | train rows |"), "{md}");
    assert!(md.contains("| **mean ± std** | | | 2.50 ± 0.50 | 7.50 ± 0.50 |"), "{md}");
}

#[test]
fn workers_are_bounded() {
    let active = AtomicUsize::new(0);
    let peak = AtomicUsize::new(0);
    let cv = CrossValidation::new(modulo_folds(12, 6), 12, Coverage::Partition).unwrap().with_workers(2).unwrap();
    cv.run(|_, _| {
        let now = active.fetch_add(1, Ordering::SeqCst) + 1;
        peak.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(15));
        active.fetch_sub(1, Ordering::SeqCst);
        Ok::<_, EvalError>(FoldScores::default())
    })
    .unwrap();
    let peak = peak.load(Ordering::SeqCst);
    assert!((1..=2).contains(&peak), "peak concurrency {peak} with 2 workers");
}

#[test]
fn the_lowest_failing_fold_reports() {
    let cv = CrossValidation::new(modulo_folds(8, 4), 8, Coverage::Partition).unwrap().with_workers(4).unwrap();
    let err = cv
        .run(|_, test| {
            // Folds 1 and 3 fail; their first test rows are 1 and 3.
            if test[0] % 2 == 1 {
                Err(EvalError::InvalidParameter { name: "fold", value: test[0].to_string(), expected: "even" })
            } else {
                Ok(FoldScores::default())
            }
        })
        .unwrap_err();
    assert_eq!(err, EvalError::InvalidParameter { name: "fold", value: "1".into(), expected: "even" });
}

#[test]
fn bad_folds_are_typed_errors() {
    let f = |train: &[usize], test: &[usize]| Fold { train: train.to_vec(), test: test.to_vec() };
    let check = |folds: &[Fold], n, c| check_folds(folds, n, c);
    assert_eq!(check(&[], 3, Coverage::Partition), Err(EvalError::NoFolds));
    assert_eq!(check(&[f(&[], &[0])], 1, Coverage::Partition), Err(EvalError::EmptyFold { fold: 0, part: "train" }));
    assert_eq!(
        check(&[f(&[0], &[1]), f(&[1], &[])], 2, Coverage::Disjoint),
        Err(EvalError::EmptyFold { fold: 1, part: "test" })
    );
    assert_eq!(
        check(&[f(&[0], &[3])], 3, Coverage::Disjoint),
        Err(EvalError::FoldRowOutOfRange { fold: 0, part: "test", row: 3, n_rows: 3 })
    );
    assert_eq!(
        check(&[f(&[0, 0], &[1])], 2, Coverage::Disjoint),
        Err(EvalError::FoldRowRepeated { fold: 0, row: 0, parts: "train twice" })
    );
    assert_eq!(
        check(&[f(&[0, 1], &[1])], 2, Coverage::Disjoint),
        Err(EvalError::FoldRowRepeated { fold: 0, row: 1, parts: "train and test" })
    );
    assert_eq!(
        check(&[f(&[0], &[1, 1])], 2, Coverage::Disjoint),
        Err(EvalError::FoldRowRepeated { fold: 0, row: 1, parts: "test twice" })
    );
    assert_eq!(
        check(&[f(&[0], &[1, 2]), f(&[0], &[2])], 3, Coverage::Disjoint),
        Err(EvalError::FoldsOverlap { row: 2, first: 0, second: 1 })
    );
    let missing = check(&[f(&[0], &[1])], 4, Coverage::Partition);
    assert_eq!(missing, Err(EvalError::RowNotTested { row: 0, missing: 3 }));
    assert!(missing.unwrap_err().to_string().contains("row 0 is in no fold's test rows (3 rows are never scored)"));
    // A time-series split never tests its first block: fine when only disjointness is asked.
    let series = [f(&[0, 1], &[2, 3]), f(&[0, 1, 2, 3], &[4, 5])];
    assert_eq!(check(&series, 6, Coverage::Disjoint), Ok(()));
    assert_eq!(
        CrossValidation::new(series.to_vec(), 6, Coverage::Disjoint).unwrap().with_workers(0),
        Err(EvalError::InvalidParameter { name: "workers", value: "0".into(), expected: "at least 1" })
    );
}

#[test]
fn summary_of_values() {
    let s = Summary::of(&[0.9, 0.95, 1.0]);
    assert!((s.mean - 0.95).abs() < 1e-15);
    assert!((s.std - (0.005f64 / 3.0).sqrt()).abs() < 1e-15);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever the assignment of rows to folds and the number of workers, every
    /// row is scored exactly once and the report does not depend on the workers.
    #[test]
    fn every_row_is_scored_exactly_once(
        assignment in prop::collection::vec(0usize..6, 2..80),
        workers in 1usize..5,
    ) {
        let n = assignment.len();
        let k = assignment.iter().max().unwrap() + 1;
        let folds: Vec<Fold> = (0..k)
            .map(|f| Fold {
                train: (0..n).filter(|&r| assignment[r] != f).collect(),
                test: (0..n).filter(|&r| assignment[r] == f).collect(),
            })
            .filter(|f| !f.test.is_empty() && !f.train.is_empty())
            .collect();
        prop_assume!(!folds.is_empty());
        let covered = folds.iter().map(|f| f.test.len()).sum::<usize>() == n;
        let coverage = if covered { Coverage::Partition } else { Coverage::Disjoint };
        let scored = Mutex::new(vec![0usize; n]);
        let run = |w: usize| {
            CrossValidation::new(folds.clone(), n, coverage).unwrap().with_workers(w).unwrap().run(|train, test| {
                let mut s = scored.lock().unwrap();
                for &r in test {
                    s[r] += 1;
                }
                prop_assert!(train.iter().all(|r| !test.contains(r)));
                Ok(FoldScores::test(score("sum", test.iter().sum::<usize>() as f64)))
            })
        };
        let report = run(workers)?;
        let counts = scored.lock().unwrap().clone();
        for (r, &c) in counts.iter().enumerate() {
            let expected = usize::from(folds.iter().any(|f| f.test.contains(&r)));
            prop_assert_eq!(c, expected, "row {} scored {} times", r, c);
        }
        let again = run(1)?;
        let sums = |r: &anneal_evaluate::CvReport| r.folds.iter().map(|f| f.test["sum"]).collect::<Vec<_>>();
        prop_assert_eq!(sums(&report), sums(&again));
        prop_assert_eq!(report.test["sum"].mean, again.test["sum"].mean);
    }
}
