//! Learning curves and the bias/variance verdict: each rule on a curve made for
//! it, thresholds, typed errors, and monotonicity properties.

use anneal_evaluate::curve::{Axis, CurvePoint, LearningCurve, SizeCurveConfig, size_curve};
use anneal_evaluate::cv::{Coverage, CrossValidation, Fold, FoldScores, Scores};
use anneal_evaluate::diagnose::{DiagnosisConfig, Verdict, diagnose};
use anneal_evaluate::{EvalError, Summary};
use proptest::prelude::*;

fn point(x: f64, train: f64, valid: f64) -> CurvePoint {
    CurvePoint { x, train: Summary::of(&[train]), valid: Summary::of(&[valid]) }
}

/// An accuracy curve at 100, 200, 400, 800 rows from (train, valid) accuracies.
fn accuracy_curve(values: &[(f64, f64)]) -> LearningCurve {
    LearningCurve {
        axis: Axis::TrainingRows,
        metric: "accuracy".into(),
        higher_is_better: true,
        points: values.iter().enumerate().map(|(i, &(t, v))| point(100.0 * 2f64.powi(i as i32), t, v)).collect(),
    }
}

fn verdict(values: &[(f64, f64)]) -> Verdict {
    diagnose(&accuracy_curve(values), &DiagnosisConfig::default()).unwrap().verdict
}

#[test]
fn each_rule() {
    // Both errors high (~30 %), converged.
    assert_eq!(verdict(&[(0.75, 0.66), (0.72, 0.69), (0.71, 0.70), (0.71, 0.70)]), Verdict::HighBias);
    // Low error, small gap.
    assert_eq!(verdict(&[(1.0, 0.90), (0.99, 0.94), (0.98, 0.96), (0.98, 0.965)]), Verdict::GoodFit);
    // Training rows fitted perfectly, validation stuck 20 points below.
    assert_eq!(verdict(&[(1.0, 0.76), (1.0, 0.79), (1.0, 0.80), (1.0, 0.80)]), Verdict::HighVariance);
    // A gap of 0.07 that shrinks by 0.04 per doubling.
    assert_eq!(verdict(&[(1.0, 0.81), (1.0, 0.85), (1.0, 0.89), (1.0, 0.93)]), Verdict::NeedsMoreData);
}

#[test]
fn the_numbers_behind_a_verdict() {
    let d =
        diagnose(&accuracy_curve(&[(1.0, 0.81), (1.0, 0.85), (1.0, 0.89), (1.0, 0.93)]), &DiagnosisConfig::default())
            .unwrap();
    assert!((d.valid_error - 0.07).abs() < 1e-12);
    assert_eq!(d.train_error, 0.0);
    // The last doubling of the data holds 400 and 800 rows, gaps 0.11 and 0.07: the
    // gap goes as rows^b, b = log2(0.07 / 0.11), and at 1600 rows would be 0.07 × 0.07 / 0.11.
    assert!((d.gap_exponent.unwrap() - (0.07f64 / 0.11).log2()).abs() < 1e-9);
    assert!((d.projected_gap.unwrap() - 0.07 * 0.07 / 0.11).abs() < 1e-9);
    let text = d.explanation();
    assert!(text.starts_with("needs more data: validation error 0.0700, training error 0.0000, gap 0.0700"), "{text}");
    assert!(text.contains("the gap goes as rows^-0.65, 0.0445 projected at twice the data"), "{text}");
    let rules = d.config.rules();
    assert!(rules.contains("gap ≤ 0.05 and validation error > 0.1: **high bias**"), "{rules}");
}

#[test]
fn thresholds_are_configurable() {
    let curve = accuracy_curve(&[(0.75, 0.66), (0.72, 0.69), (0.71, 0.70), (0.71, 0.70)]);
    let lenient = DiagnosisConfig { max_error: 0.35, ..DiagnosisConfig::default() };
    assert_eq!(diagnose(&curve, &lenient).unwrap().verdict, Verdict::GoodFit);
    // Gaps 0.09, 0.03, 0.01, 0.01: above a 0.005 threshold, and flat over the last doubling.
    let strict_gap = DiagnosisConfig { max_gap: 0.005, ..DiagnosisConfig::default() };
    assert_eq!(diagnose(&curve, &strict_gap).unwrap().verdict, Verdict::HighVariance);
    // Over all three doublings the gap falls as rows^-1.1: to 0.0046 at twice the data.
    let long_trend = DiagnosisConfig { max_gap: 0.005, trend_doublings: 3.0, ..DiagnosisConfig::default() };
    assert_eq!(diagnose(&curve, &long_trend).unwrap().verdict, Verdict::NeedsMoreData);
    for bad in [
        DiagnosisConfig { max_error: f64::NAN, ..DiagnosisConfig::default() },
        DiagnosisConfig { max_gap: -0.1, ..DiagnosisConfig::default() },
        DiagnosisConfig { trend_doublings: 0.0, ..DiagnosisConfig::default() },
    ] {
        assert!(matches!(diagnose(&curve, &bad), Err(EvalError::InvalidParameter { .. })), "{bad:?}");
    }
}

#[test]
fn losses_and_epoch_curves() {
    // Loss per epoch: training keeps falling, validation turns up: overfitting.
    let train = vec![vec![1.0, 0.6, 0.4, 0.2, 0.1, 0.05]];
    let valid = vec![vec![1.0, 0.7, 0.5, 0.45, 0.5, 0.6]];
    let curve = LearningCurve::from_histories("loss", false, &train, &valid).unwrap();
    let d = diagnose(&curve, &DiagnosisConfig::default()).unwrap();
    assert_eq!(d.verdict, Verdict::HighVariance);
    assert_eq!((d.gap_exponent, d.projected_gap), (None, None));
    assert!((d.gap - 0.55).abs() < 1e-12);
}

#[test]
fn histories_of_different_lengths() {
    let train = vec![vec![3.0, 2.0, 1.0], vec![5.0, 4.0]];
    let valid = vec![vec![4.0, 3.0, 2.0], vec![6.0, 5.0]];
    let curve = LearningCurve::from_histories("loss", false, &train, &valid).unwrap();
    assert_eq!(curve.points.iter().map(|p| p.train.mean).collect::<Vec<_>>(), [4.0, 3.0, 1.0]);
    assert_eq!(curve.points[2].train.n, 1);
    assert_eq!(curve.points[0].valid.std, 1.0);
    assert_eq!(
        LearningCurve::from_histories("loss", false, &train, &valid[..1]),
        Err(EvalError::LengthMismatch { y_true: 2, y_pred: 1 })
    );
    assert_eq!(LearningCurve::from_histories("loss", false, &[], &[]), Err(EvalError::Empty));
    assert!(matches!(
        LearningCurve::from_histories("loss", false, &[vec![f64::NAN]], &[vec![1.0]]),
        Err(EvalError::NonFinite { .. })
    ));
}

fn two_folds() -> CrossValidation {
    let folds = vec![
        Fold { train: (0..40).collect(), test: (40..80).collect() },
        Fold { train: (40..80).collect(), test: (0..40).collect() },
    ];
    CrossValidation::new(folds, 80, Coverage::Partition).unwrap().with_workers(2).unwrap()
}

#[test]
fn size_curve_fits_nested_subsets() {
    let config = SizeCurveConfig::deciles("accuracy", true, 11);
    let seen = std::sync::Mutex::new(Vec::new());
    let curve = size_curve(&two_folds(), &config, |train, test| {
        seen.lock().unwrap().push((train.to_vec(), test[0]));
        let s = |v: f64| Scores::from([("accuracy".to_string(), v)]);
        Ok::<_, EvalError>(FoldScores { train: s(1.0), test: s(train.len() as f64 / 40.0) })
    })
    .unwrap();
    assert_eq!(curve.axis, Axis::TrainingRows);
    assert_eq!(
        curve.points.iter().map(|p| p.x).collect::<Vec<_>>(),
        (1..=10).map(|i| 4.0 * i as f64).collect::<Vec<_>>()
    );
    assert_eq!(curve.points[9].valid.mean, 1.0);
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.len(), 20);
    // For the fold testing rows 40.., every training subset lies in 0..40 and each is inside the next.
    let mut subsets: Vec<Vec<usize>> = seen.iter().filter(|(_, t)| *t == 40).map(|(s, _)| s.clone()).collect();
    subsets.sort_by_key(Vec::len);
    assert!(subsets.iter().all(|s| s.iter().all(|&r| r < 40)));
    assert!(subsets.windows(2).all(|w| w[0].iter().all(|r| w[1].contains(r))));
}

#[test]
fn size_curve_errors() {
    let ok = |_: &[usize], _: &[usize]| Ok::<_, EvalError>(FoldScores::default());
    let with = |sizes: Vec<f64>| SizeCurveConfig { sizes, seed: 0, metric: "accuracy".into(), higher_is_better: true };
    assert_eq!(size_curve(&two_folds(), &with(vec![]), ok), Err(EvalError::EmptySizes));
    for bad in [vec![0.0], vec![1.5], vec![0.5, 0.5], vec![f64::NAN]] {
        assert!(
            matches!(size_curve(&two_folds(), &with(bad.clone()), ok), Err(EvalError::InvalidSize { .. })),
            "{bad:?}"
        );
    }
    let err = size_curve(&two_folds(), &with(vec![1.0]), |_, _| {
        Ok::<_, EvalError>(FoldScores::test(Scores::from([("loss".to_string(), 0.1)])))
    })
    .unwrap_err();
    assert_eq!(
        err,
        EvalError::MissingScore { metric: "accuracy".into(), part: "train", fold: 0, available: String::new() }
    );
}

/// Accuracy curves of four sizes whose training errors lie in `train` and gaps in `gap`.
fn curves(train: std::ops::Range<f64>, gap: std::ops::Range<f64>) -> impl Strategy<Value = Vec<(f64, f64)>> {
    prop::collection::vec((train, gap), 4).prop_map(|v| v.into_iter().map(|(t, g)| (1.0 - t, 1.0 - t - g)).collect())
}

proptest! {
    /// More error everywhere (same gaps) never cures high bias.
    #[test]
    fn higher_errors_keep_high_bias(values in curves(0.05..0.5, -0.02..0.06), shift in 0.0f64..0.3) {
        prop_assume!(verdict(&values) == Verdict::HighBias);
        let shifted: Vec<(f64, f64)> = values.iter().map(|&(t, v)| (t - shift, v - shift)).collect();
        prop_assert_eq!(verdict(&shifted), Verdict::HighBias);
    }

    /// Lower validation error everywhere never spoils a good fit.
    #[test]
    fn lower_validation_error_keeps_good_fit(values in curves(0.0..0.06, -0.02..0.06), drop in 0.0f64..0.2) {
        prop_assume!(verdict(&values) == Verdict::GoodFit);
        let better: Vec<(f64, f64)> = values.iter().map(|&(t, v)| (t, (v + drop).min(1.0))).collect();
        prop_assert_eq!(verdict(&better), Verdict::GoodFit);
    }

    /// A worse validation score at the largest size (a wider, less-closing gap)
    /// never turns high variance into anything else.
    #[test]
    fn a_wider_final_gap_keeps_high_variance(values in curves(0.0..0.2, 0.0..0.4), widen in 0.0f64..0.3) {
        prop_assume!(verdict(&values) == Verdict::HighVariance);
        let mut worse = values.clone();
        worse[3].1 -= widen;
        prop_assert_eq!(verdict(&worse), Verdict::HighVariance);
    }

    /// The verdict is a function of the errors: the same curve as accuracy and as
    /// error rate (lower is better) gets the same verdict.
    #[test]
    fn scores_and_errors_agree(values in curves(0.0..0.5, -0.1..0.5)) {
        let as_error = LearningCurve {
            higher_is_better: false,
            points: accuracy_curve(&values).points.iter().map(|p| point(p.x, 1.0 - p.train.mean, 1.0 - p.valid.mean)).collect(),
            ..accuracy_curve(&values)
        };
        prop_assert_eq!(diagnose(&as_error, &DiagnosisConfig::default()).unwrap().verdict, verdict(&values));
    }
}
