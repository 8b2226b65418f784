//! Classification metrics against scikit-learn.

use anneal_evaluate::prelude::*;
use serde_json::Value;

use crate::golden::{assert_all_close, assert_close, cases, codes, floats, is_error, num};

fn zero_division(name: &Value) -> ZeroDivision {
    match name.as_str() {
        Some("zero") => ZeroDivision::Zero,
        Some("one") => ZeroDivision::One,
        Some("nan") => ZeroDivision::Nan,
        other => panic!("zero_division {other:?}"),
    }
}

fn average(name: &Value) -> Average {
    match name.as_str() {
        Some("binary") => Average::Binary { pos_label: 1 },
        Some("micro") => Average::Micro,
        Some("macro") => Average::Macro,
        Some("weighted") => Average::Weighted,
        other => panic!("average {other:?}"),
    }
}

fn label_case(case: &Value) -> (Vec<usize>, Vec<usize>, usize) {
    (codes(&case["y_true"]), codes(&case["y_pred"]), case["n_classes"].as_u64().unwrap() as usize)
}

#[test]
fn accuracy_balanced_accuracy_and_macro_f1() {
    for case in cases("labels") {
        let (t, p, k) = label_case(case);
        assert_close(accuracy(&t, &p).unwrap(), &case["accuracy"], "accuracy");
        assert_close(balanced_accuracy(&t, &p, k).unwrap(), &case["balanced_accuracy"], "balanced accuracy");
        assert_close(macro_f1(&t, &p).unwrap(), &case["macro_f1"], "macro_f1");
        assert_close(f1(&t, &p, k, Average::Macro).unwrap(), &case["macro_f1"], "f1 macro");
    }
}

#[test]
fn confusion_matrix_counts_and_normalised() {
    for case in cases("labels") {
        let (t, p, k) = label_case(case);
        let cm = confusion_matrix(&t, &p, k).unwrap();
        let counts: Vec<Vec<u64>> = serde_json::from_value(case["confusion"].clone()).unwrap();
        assert_eq!(cm.counts(), counts.as_slice(), "{case}");
        assert_eq!(cm.total(), t.len() as u64);
        for (by, key) in [
            (Normalize::True, "confusion_true"),
            (Normalize::Pred, "confusion_pred"),
            (Normalize::All, "confusion_all"),
        ] {
            let ours: Vec<f64> = cm.normalized(by).concat();
            let expected = Value::Array(
                case[key].as_array().unwrap().iter().flat_map(|r| r.as_array().unwrap().clone()).collect(),
            );
            assert_all_close(&ours, &expected, key);
        }
    }
}

#[test]
fn precision_recall_fbeta_under_every_average() {
    let mut checked = 0;
    for case in cases("labels") {
        let (t, p, k) = label_case(case);
        for e in case["prf"].as_array().unwrap() {
            let beta = num(&e["beta"]);
            let what = format!("beta {beta} {} zero_division {} on {case}", e["average"], e["zero_division"]);
            let ours =
                precision_recall_fscore(&t, &p, k, beta, average(&e["average"]), zero_division(&e["zero_division"]));
            if is_error(e) {
                assert!(ours.is_err(), "{what}: scikit-learn refused ({}), we gave {ours:?}", e["error"]);
                continue;
            }
            let ours = ours.unwrap_or_else(|err| panic!("{what}: {err}"));
            assert_close(ours.precision, &e["precision"], &format!("precision, {what}"));
            assert_close(ours.recall, &e["recall"], &format!("recall, {what}"));
            assert_close(ours.f_score, &e["f_score"], &format!("f, {what}"));
            checked += 1;
        }
    }
    assert!(checked >= 20 * 9);
}

#[test]
fn shorthand_scores_use_zero_division_zero() {
    for case in cases("labels") {
        let (t, p, k) = label_case(case);
        let find = |beta: f64, avg: &str| {
            case["prf"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| num(&e["beta"]) == beta && e["average"] == avg && e["zero_division"] == "zero")
                .unwrap()
        };
        let e = find(1.0, "weighted");
        assert_close(precision(&t, &p, k, Average::Weighted).unwrap(), &e["precision"], "precision");
        assert_close(recall(&t, &p, k, Average::Weighted).unwrap(), &e["recall"], "recall");
        assert_close(f1(&t, &p, k, Average::Weighted).unwrap(), &e["f_score"], "f1");
        assert_close(fbeta(&t, &p, k, 2.0, Average::Micro).unwrap(), &find(2.0, "micro")["f_score"], "f2");
    }
}

#[test]
fn per_class_scores_for_every_declared_class() {
    for case in cases("labels") {
        let (t, p, k) = label_case(case);
        let cm = confusion_matrix(&t, &p, k).unwrap();
        for e in case["per_class"].as_array().unwrap() {
            let scores = cm.scores_per_class(num(&e["beta"]), zero_division(&e["zero_division"])).unwrap();
            let what = format!("per class beta {} zero_division {}", e["beta"], e["zero_division"]);
            assert_all_close(&scores.iter().map(|s| s.precision).collect::<Vec<_>>(), &e["precision"], &what);
            assert_all_close(&scores.iter().map(|s| s.recall).collect::<Vec<_>>(), &e["recall"], &what);
            assert_all_close(&scores.iter().map(|s| s.f_score).collect::<Vec<_>>(), &e["f_score"], &what);
            assert_eq!(scores.iter().map(|s| s.support as f64).collect::<Vec<_>>(), floats(&e["support"]));
        }
        // The legacy per-class F1 (zero_division 0) agrees with the general one.
        let general = cm.scores_per_class(1.0, ZeroDivision::Zero).unwrap();
        for (old, new) in cm.per_class().iter().zip(&general) {
            assert!((old.f1 - new.f_score).abs() < 1e-12 && old.precision == new.precision && old.recall == new.recall);
        }
    }
}

#[test]
fn matthews_and_cohen_kappa() {
    for case in cases("labels") {
        let (t, p, k) = label_case(case);
        assert_close(matthews_corrcoef(&t, &p, k).unwrap(), &case["mcc"], "mcc");
        for (w, key) in [
            (KappaWeights::Unweighted, "unweighted"),
            (KappaWeights::Linear, "linear"),
            (KappaWeights::Quadratic, "quadratic"),
        ] {
            assert_close(cohen_kappa(&t, &p, k, w).unwrap(), &case["kappa"][key], &format!("kappa {key} on {case}"));
        }
    }
}

/// scikit-learn 1.9 prints the supports as floats (`2.0`) when no class has a true
/// positive (its true-positive counts start as float zeros); we print integers
/// always. This rewrites such a support column to integers, keeping the width.
fn integer_supports(text: &str) -> String {
    let line = |l: &str| match l.len().checked_sub(9).map(|i| l.split_at(i)) {
        Some((head, tail)) if tail.trim_end().ends_with(".0") => {
            format!("{head}{:>9}", tail.trim().trim_end_matches(".0"))
        }
        _ => l.to_string(),
    };
    text.split('\n').map(line).collect::<Vec<_>>().join("\n")
}

#[test]
fn classification_report_text_equals_scikit_learn() {
    for case in cases("labels") {
        let (t, p, k) = label_case(case);
        let expected = |key: &str| integer_supports(case[key].as_str().unwrap());
        let report = classification_report(&t, &p, k, ZeroDivision::Zero).unwrap();
        assert_eq!(report.to_text(2), expected("report"), "{case}");
        assert_eq!(report.to_string(), expected("report"));
        assert_eq!(format!("{report:.4}"), expected("report_4"));
        let nan = classification_report(&t, &p, k, ZeroDivision::Nan).unwrap();
        assert_eq!(nan.to_text(2), expected("report_nan"), "{case}");
    }
}

#[test]
fn classification_report_names_and_markdown() {
    let report = classification_report(&[0, 1, 2, 2, 2], &[0, 0, 2, 2, 1], 4, ZeroDivision::Zero)
        .unwrap()
        .with_names(&["ant", "bee", "cat|dog", "eel"])
        .unwrap();
    assert_eq!(report.rows.iter().map(|r| r.class).collect::<Vec<_>>(), vec![0, 1, 2]);
    assert_eq!(
        report.to_markdown(2),
        "| class | precision | recall | f1-score | support |\n\
         |---|---:|---:|---:|---:|\n\
         | ant | 0.50 | 1.00 | 0.67 | 1 |\n\
         | bee | 0.00 | 0.00 | 0.00 | 1 |\n\
         | cat\\|dog | 1.00 | 0.67 | 0.80 | 3 |\n\
         | accuracy |  |  | 0.60 | 5 |\n\
         | macro avg | 0.50 | 0.56 | 0.49 | 5 |\n\
         | weighted avg | 0.70 | 0.60 | 0.61 | 5 |\n"
    );
    assert!(report.to_text(2).starts_with("              precision"));
    assert!(report.clone().with_names(&["a", "b"]).is_err());
}

#[test]
fn log_loss_and_top_k() {
    let mut top_k_cases = 0;
    for case in cases("proba") {
        let t = codes(&case["y_true"]);
        let proba = floats(&case["y_proba"]);
        let k = case["n_classes"].as_u64().unwrap() as usize;
        assert_close(log_loss(&t, &proba, k).unwrap(), &case["log_loss"], &format!("log loss on {case}"));
        if let Some(top) = case.get("top_k") {
            top_k_cases += 1;
            for (kk, expected) in top.as_object().unwrap() {
                let kk: usize = kk.parse().unwrap();
                assert_close(top_k_accuracy(&t, &proba, k, kk).unwrap(), expected, &format!("top-{kk} on {case}"));
            }
        }
    }
    assert!(top_k_cases >= 20, "{top_k_cases} top-k cases");
}

#[test]
fn brier_score_binary() {
    for case in cases("binary") {
        let (t, s) = (codes(&case["y_true"]), floats(&case["y_score"]));
        let ours = brier_score(&t, &s);
        if is_error(&case["brier"]) {
            assert!(matches!(ours, Err(EvalError::ProbabilityOutOfRange { .. })), "{ours:?}");
        } else {
            assert_close(ours.unwrap(), &case["brier"], "brier");
        }
    }
}
