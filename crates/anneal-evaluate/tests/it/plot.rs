//! Figures: every kind writes a PNG and an SVG with its title, axes and legend;
//! bad input is a typed error.

use anneal_evaluate::curve::{Axis, CurvePoint, LearningCurve};
use anneal_evaluate::diagnose::{DiagnosisConfig, diagnose};
use anneal_evaluate::plot::Figure;
use anneal_evaluate::{EvalError, Summary, confusion_matrix};

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

fn assert_writes(figure: &Figure, texts: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let [png, svg] = figure.save_png_svg(dir.path(), "figure").unwrap();
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(PNG_MAGIC) && bytes.len() > 10_000, "{} is not a drawn PNG", png.display());
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg"), "{}", &text[..50.min(text.len())]);
    for t in texts {
        assert!(text.contains(t), "the SVG lacks {t:?}");
    }
    assert_eq!(figure.to_svg().unwrap(), text);
}

#[test]
fn confusion_heat_map() {
    let cm = confusion_matrix(&[0, 0, 1, 1, 2, 2, 2], &[0, 1, 1, 1, 2, 0, 2], 3).unwrap();
    let f = Figure::confusion(&cm, &["ant", "bee", "cat"]).unwrap();
    assert_writes(&f, &["Confusion matrix", "predicted class", "true class", "ant", "66.7%", "share of true class"]);
    assert!(matches!(Figure::confusion(&cm, &["ant"]), Err(EvalError::InvalidParameter { name: "names", .. })));
}

#[test]
fn roc_and_pr_curves() {
    let y = [0, 0, 1, 1, 0, 1, 1, 0];
    let s = [0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.6, 0.7];
    assert_writes(
        &Figure::roc_binary(&y, &s, "spam").unwrap(),
        &["ROC curve", "false positive rate", "true positive rate", "spam (AUC 0.812)", "chance"],
    );
    assert_writes(
        &Figure::pr_binary(&y, &s, "spam").unwrap(),
        &["recall", "precision", "spam (AP", "no skill (0.500)"],
    );
    // One-vs-rest: class 2 never occurs, so it has no curve.
    let y3 = [0, 1, 0, 1, 1];
    let p3 = [0.7, 0.2, 0.1, 0.3, 0.6, 0.1, 0.5, 0.4, 0.1, 0.2, 0.7, 0.1, 0.4, 0.5, 0.1];
    let roc = Figure::roc_one_vs_rest(&y3, &p3, &["a", "b", "c"]).unwrap();
    assert_writes(&roc, &["ROC curves (one vs rest)", "a (AUC", "b (AUC"]);
    assert!(!roc.to_svg().unwrap().contains("c (AUC"));
    assert_writes(&Figure::pr_one_vs_rest(&y3, &p3, &["a", "b", "c"]).unwrap(), &["a (AP", "b (AP"]);
    assert!(matches!(
        Figure::roc_one_vs_rest(&[0, 0], &[1.0, 0.0, 1.0, 0.0], &["a", "b"]),
        Err(EvalError::SingleClass { .. })
    ));
    assert!(matches!(Figure::roc_one_vs_rest(&y3, &p3[1..], &["a", "b", "c"]), Err(EvalError::ScoreShape { .. })));
    assert!(matches!(Figure::roc_binary(&[0, 1], &[0.1, f64::NAN], "x"), Err(EvalError::NonFinite { .. })));
}

#[test]
fn learning_curve_with_verdict() {
    let p = |x: f64, t: f64, v: f64| CurvePoint {
        x,
        train: Summary { mean: t, std: 0.01, min: t, max: t, n: 5 },
        valid: Summary { mean: v, std: 0.03, min: v, max: v, n: 5 },
    };
    let curve = LearningCurve {
        axis: Axis::TrainingRows,
        metric: "accuracy".into(),
        higher_is_better: true,
        points: vec![p(50.0, 1.0, 0.7), p(100.0, 1.0, 0.75), p(200.0, 0.99, 0.77)],
    };
    let d = diagnose(&curve, &DiagnosisConfig::default()).unwrap();
    let f = Figure::learning_curve(&curve, Some(&d)).unwrap();
    assert_eq!(f.title(), "Learning curve: high variance");
    assert_writes(
        &f,
        &["training rows", "accuracy", "training (mean ± 1 std)", "validation (mean ± 1 std)", "gap 0.220"],
    );
    let empty = LearningCurve { points: vec![], ..curve };
    assert_eq!(Figure::learning_curve(&empty, None), Err(EvalError::Empty));
}

#[test]
fn residuals() {
    let y: Vec<f64> = (0..50).map(|i| i as f64).collect();
    let pred: Vec<f64> = y.iter().map(|v| v * 1.1 - 2.0).collect();
    let f = Figure::residuals(&y, &pred).unwrap().with_title("Ridge residuals").with_size(640, 480);
    assert_writes(&f, &["Ridge residuals", "predicted value", "residual (true − predicted)"]);
    assert!(f.to_svg().unwrap().contains("width=\"640\""));
    assert_eq!(Figure::residuals(&y, &pred[1..]), Err(EvalError::LengthMismatch { y_true: 50, y_pred: 49 }));
}

#[test]
fn unknown_format_is_an_error() {
    let cm = confusion_matrix(&[0, 1], &[0, 1], 2).unwrap();
    let err = Figure::confusion(&cm, &["a", "b"]).unwrap().save("/tmp/figure.jpg").unwrap_err();
    assert!(matches!(&err, EvalError::Plot { message, .. } if message.contains(".png or .svg")), "{err}");
}
