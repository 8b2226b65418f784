//! Typed errors: every bad input is refused with a message that names it, and
//! nothing panics.

use anneal_evaluate::prelude::*;

#[test]
fn lengths_and_empty_inputs() {
    assert_eq!(accuracy(&[0, 1], &[0]), Err(EvalError::LengthMismatch { y_true: 2, y_pred: 1 }));
    assert_eq!(f1(&[], &[], 2, Average::Macro), Err(EvalError::Empty));
    assert_eq!(roc_auc(&[], &[]), Err(EvalError::Empty));
    assert_eq!(roc_auc(&[0, 1], &[0.5]), Err(EvalError::LengthMismatch { y_true: 2, y_pred: 1 }));
    assert_eq!(mean_squared_error(&[1.0], &[]), Err(EvalError::LengthMismatch { y_true: 1, y_pred: 0 }));
    assert_eq!(r2_score(&[], &[]), Err(EvalError::Empty));
    assert_eq!(log_loss(&[], &[], 2), Err(EvalError::Empty));
    assert_eq!(
        log_loss(&[0, 1], &[0.5, 0.5, 1.0], 2),
        Err(EvalError::ScoreShape { which: "y_proba", len: 3, n_samples: 2, n_classes: 2 })
    );
    assert_eq!(
        EvalError::ScoreShape { which: "y_proba", len: 3, n_samples: 2, n_classes: 2 }.to_string(),
        "y_proba has 3 values but 2 samples x 2 classes need 4"
    );
}

#[test]
fn labels_outside_the_declared_classes() {
    let e = precision(&[0, 1, 3], &[0, 1, 1], 3, Average::Macro).unwrap_err();
    assert_eq!(e, EvalError::LabelOutOfRange { which: "y_true", index: 2, label: 3, n_classes: 3 });
    assert_eq!(e.to_string(), "y_true[2] = 3 is not a class (expected a code below 3)");
    assert!(matches!(
        confusion_matrix(&[0, 0], &[0, 7], 2),
        Err(EvalError::LabelOutOfRange { which: "y_pred", index: 1, label: 7, .. })
    ));
    assert!(matches!(confusion_matrix(&[0], &[0], 0), Err(EvalError::LabelOutOfRange { .. })));
    assert!(matches!(roc_auc(&[0, 2], &[0.1, 0.2]), Err(EvalError::LabelOutOfRange { label: 2, n_classes: 2, .. })));
    assert!(matches!(brier_score(&[0, 2], &[0.1, 0.2]), Err(EvalError::LabelOutOfRange { .. })));
    assert!(matches!(log_loss(&[0, 2], &[0.5, 0.5, 0.5, 0.5], 2), Err(EvalError::LabelOutOfRange { .. })));
    assert!(matches!(top_k_accuracy(&[3], &[0.2, 0.3, 0.5], 3, 1), Err(EvalError::LabelOutOfRange { .. })));
}

#[test]
fn probabilities_and_non_finite_values() {
    let e = log_loss(&[0, 1], &[0.5, 0.5, 1.2, -0.2], 2).unwrap_err();
    assert_eq!(e, EvalError::ProbabilityOutOfRange { which: "y_proba", index: 2, value: 1.2 });
    assert_eq!(e.to_string(), "y_proba[2] = 1.2 is not a probability (outside [0, 1])");
    let e = log_loss(&[0, 1], &[0.5, 0.5, 0.3, 0.6], 2).unwrap_err();
    assert!(matches!(e, EvalError::RowSum { row: 1, .. }), "{e:?}");
    assert!(e.to_string().starts_with("y_proba row 1 sums to 0.89"), "{e}");
    // A float32 softmax row (off by ~1e-7) passes.
    assert!(log_loss(&[0], &[0.3f32 as f64, 0.7f32 as f64], 2).is_ok());
    let e = roc_auc(&[0, 1], &[0.5, f64::NAN]).unwrap_err();
    assert!(matches!(e, EvalError::NonFinite { which: "y_score", index: 1, .. }));
    assert_eq!(e.to_string(), "y_score[1] is NaN: metrics need finite values");
    assert!(matches!(roc_auc(&[0, 1], &[f64::INFINITY, 0.0]), Err(EvalError::NonFinite { index: 0, .. })));
    assert!(matches!(
        mean_absolute_error(&[1.0, f64::NAN], &[1.0, 2.0]),
        Err(EvalError::NonFinite { which: "y_true", .. })
    ));
    assert!(matches!(max_error(&[1.0], &[f64::NEG_INFINITY]), Err(EvalError::NonFinite { which: "y_pred", .. })));
    assert!(matches!(brier_score(&[1], &[1.5]), Err(EvalError::ProbabilityOutOfRange { .. })));
    assert!(matches!(top_k_accuracy(&[0], &[f64::NAN, 1.0], 2, 1), Err(EvalError::NonFinite { .. })));
    assert!(matches!(
        roc_auc_multiclass(
            &[0, 1, 2],
            &[0.5, 0.5, 0.5, 0.2, 0.2, 0.6, 0.1, 0.1, 0.8],
            3,
            MultiClass::OneVsRest,
            Average::Macro
        ),
        Err(EvalError::RowSum { row: 0, .. })
    ));
}

#[test]
fn undefined_ranking_metrics() {
    let e = roc_auc(&[1, 1, 1], &[0.1, 0.2, 0.3]).unwrap_err();
    assert_eq!(e, EvalError::SingleClass { metric: "ROC-AUC", class: 1 });
    assert_eq!(e.to_string(), "y_true holds only class 1: ROC-AUC needs both a positive and a negative sample");
    let proba = [0.6, 0.3, 0.1, 0.2, 0.7, 0.1];
    let e = roc_auc_multiclass(&[0, 1], &proba, 3, MultiClass::OneVsRest, Average::Macro).unwrap_err();
    assert_eq!(e, EvalError::ClassAbsent { metric: "one-vs-rest ROC-AUC", class: 2 });
    assert_eq!(e.to_string(), "class 2 does not occur in y_true: its one-vs-rest ROC-AUC is undefined");
    // Weighted one-vs-rest gives an absent class weight 0; one-vs-one skips it.
    assert_eq!(roc_auc_multiclass(&[0, 1], &proba, 3, MultiClass::OneVsRest, Average::Weighted), Ok(1.0));
    assert_eq!(roc_auc_multiclass(&[0, 1], &proba, 3, MultiClass::OneVsOne, Average::Macro), Ok(1.0));
    assert!(matches!(
        roc_auc_multiclass(&[0, 0], &proba, 3, MultiClass::OneVsOne, Average::Macro),
        Err(EvalError::SingleClass { .. })
    ));
    // The curves do not refuse one class: the rate without denominator is NaN.
    let c = roc_curve(&[1, 1], &[0.2, 0.4], true).unwrap();
    assert!(c.fpr.iter().all(|v| v.is_nan()) && c.tpr == vec![0.0, 0.5, 1.0]);
    assert_eq!(average_precision(&[0, 0], &[0.2, 0.4]), Ok(0.0));
}

#[test]
fn invalid_parameters() {
    let (t, p) = ([0, 1, 1], [0, 1, 0]);
    let e = fbeta(&t, &p, 2, -1.0, Average::Macro).unwrap_err();
    assert_eq!(e.to_string(), "beta = -1 is invalid: expected a number >= 0 (infinity gives recall)");
    assert!(fbeta(&t, &p, 2, f64::NAN, Average::Macro).is_err());
    assert_eq!(fbeta(&t, &p, 2, f64::INFINITY, Average::Macro).unwrap(), recall(&t, &p, 2, Average::Macro).unwrap());
    assert_eq!(fbeta(&t, &p, 2, 0.0, Average::Macro).unwrap(), precision(&t, &p, 2, Average::Macro).unwrap());
    assert!(matches!(
        f1(&t, &p, 2, Average::Binary { pos_label: 2 }),
        Err(EvalError::InvalidParameter { name: "pos_label", .. })
    ));
    let e = f1(&[0, 1, 2], &[0, 1, 2], 3, Average::Binary { pos_label: 1 }).unwrap_err();
    assert_eq!(e, EvalError::NotBinary { present: vec![0, 1, 2] });
    assert_eq!(
        e.to_string(),
        "average binary needs at most two classes, but y_true and y_pred hold [0, 1, 2]: use micro, macro or weighted"
    );
    assert!(matches!(top_k_accuracy(&[0], &[1.0, 0.0], 2, 0), Err(EvalError::InvalidParameter { name: "k", .. })));
    assert!(matches!(log_loss(&[0], &[1.0], 1), Err(EvalError::InvalidParameter { name: "n_classes", .. })));
    let proba = [0.6, 0.4, 0.3, 0.7];
    assert!(matches!(
        roc_auc_multiclass(&[0, 1], &proba, 2, MultiClass::OneVsOne, Average::Micro),
        Err(EvalError::InvalidParameter { name: "average", .. })
    ));
    assert!(matches!(
        roc_auc_multiclass(&[0, 1], &proba, 2, MultiClass::OneVsRest, Average::Binary { pos_label: 1 }),
        Err(EvalError::InvalidParameter { name: "average", .. })
    ));
    assert!(ConfusionMatrix::from_counts(vec![vec![1, 0]]).is_err());
    // A matrix that cannot exist is an error, not an abort.
    assert!(matches!(
        confusion_matrix(&[0], &[0], usize::MAX),
        Err(EvalError::InvalidParameter { name: "n_classes", .. })
    ));
    assert!(matches!(StreamingConfusion::new(1 << 40), Err(EvalError::InvalidParameter { name: "n_classes", .. })));
    // The scalar metrics need O(n_classes) memory only.
    assert_eq!(f1(&[0, 1], &[0, 1], 10_000_000, Average::Macro), Ok(1.0));
}

#[test]
fn classes_absent_from_predictions_follow_zero_division() {
    // Class 2 is never predicted: its precision is 0/0.
    let (t, p) = ([0, 1, 2, 2], [0, 1, 1, 1]);
    let zero = precision_recall_fscore(&t, &p, 3, 1.0, Average::Macro, ZeroDivision::Zero).unwrap();
    let one = precision_recall_fscore(&t, &p, 3, 1.0, Average::Macro, ZeroDivision::One).unwrap();
    let nan = precision_recall_fscore(&t, &p, 3, 1.0, Average::Macro, ZeroDivision::Nan).unwrap();
    assert!((zero.precision - (1.0 + 1.0 / 3.0) / 3.0).abs() < 1e-15);
    assert!((one.precision - (2.0 + 1.0 / 3.0) / 3.0).abs() < 1e-15);
    assert!((nan.precision - (1.0 + 1.0 / 3.0) / 2.0).abs() < 1e-15, "NaN classes are left out of the mean");
    assert_eq!(zero.support, 4);
}
