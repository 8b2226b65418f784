//! Ranking metrics against scikit-learn.

use anneal_evaluate::prelude::*;

use crate::golden::{assert_all_close, assert_close, cases, codes, floats, is_undefined};

#[test]
fn binary_roc_auc() {
    for case in cases("binary") {
        let (t, s) = (codes(&case["y_true"]), floats(&case["y_score"]));
        let ours = roc_auc(&t, &s);
        if is_undefined(&case["roc_auc"]) {
            // scikit-learn 1.9 warns and returns NaN; we refuse.
            assert!(matches!(ours, Err(EvalError::SingleClass { .. })), "{ours:?} on {case}");
        } else {
            assert_close(ours.unwrap(), &case["roc_auc"], &format!("roc_auc on {case}"));
        }
    }
}

#[test]
fn roc_curves_with_and_without_intermediate_points() {
    for case in cases("binary") {
        let (t, s) = (codes(&case["y_true"]), floats(&case["y_score"]));
        for (drop, key) in [(true, "roc_curve"), (false, "roc_curve_all")] {
            let c = roc_curve(&t, &s, drop).unwrap();
            assert_all_close(&c.fpr, &case[key]["fpr"], &format!("{key} fpr"));
            assert_all_close(&c.tpr, &case[key]["tpr"], &format!("{key} tpr"));
            assert_all_close(&c.thresholds, &case[key]["thresholds"], &format!("{key} thresholds"));
        }
    }
}

#[test]
fn precision_recall_curves_and_average_precision() {
    for case in cases("binary") {
        let (t, s) = (codes(&case["y_true"]), floats(&case["y_score"]));
        for (drop, key) in [(false, "pr_curve"), (true, "pr_curve_drop")] {
            let c = precision_recall_curve(&t, &s, drop).unwrap();
            assert_all_close(&c.precision, &case[key]["precision"], &format!("{key} precision"));
            assert_all_close(&c.recall, &case[key]["recall"], &format!("{key} recall"));
            assert_all_close(&c.thresholds, &case[key]["thresholds"], &format!("{key} thresholds"));
        }
        assert_close(average_precision(&t, &s).unwrap(), &case["average_precision"], &format!("AP on {case}"));
    }
}

#[test]
fn multiclass_roc_auc_one_vs_rest_and_one_vs_one() {
    let mut n = 0;
    for case in cases("proba") {
        let Some(expected) = case.get("roc_auc") else { continue };
        n += 1;
        let t = codes(&case["y_true"]);
        let proba = floats(&case["y_proba"]);
        let k = case["n_classes"].as_u64().unwrap() as usize;
        for (mc, avg, key) in [
            (MultiClass::OneVsRest, Average::Macro, "ovr_macro"),
            (MultiClass::OneVsRest, Average::Weighted, "ovr_weighted"),
            (MultiClass::OneVsRest, Average::Micro, "ovr_micro"),
            (MultiClass::OneVsOne, Average::Macro, "ovo_macro"),
            (MultiClass::OneVsOne, Average::Weighted, "ovo_weighted"),
        ] {
            let ours = roc_auc_multiclass(&t, &proba, k, mc, avg);
            if is_undefined(&expected[key]) {
                assert!(
                    matches!(ours, Err(EvalError::SingleClass { .. } | EvalError::ClassAbsent { .. })),
                    "{key}: {ours:?} on {case}"
                );
            } else {
                assert_close(ours.unwrap(), &expected[key], &format!("{key} on {case}"));
            }
        }
    }
    assert!(n >= 20, "{n} multi-class cases");
}
