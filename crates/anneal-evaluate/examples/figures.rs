//! Every figure anneal-evaluate draws, from seeded synthetic predictions: a
//! confusion heat map, ROC and precision-recall curves (binary and one-vs-rest),
//! a learning curve with its verdict, and residuals of a regression.
//!
//! `cargo run -p anneal-evaluate --example figures -- <out dir>` (default
//! `figures/`) writes each as PNG and SVG.

use anneal_evaluate::prelude::*;

fn main() -> Result<(), EvalError> {
    let out = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "figures".into()));
    std::fs::create_dir_all(&out).map_err(|e| EvalError::Plot { path: out.clone(), message: e.to_string() })?;
    let mut rng = anneal_core::SeededRng::new(7);

    // Three classes; the model's logits are the true class's indicator plus noise.
    let names = ["Adelie", "Chinstrap", "Gentoo"];
    let (n, k) = (300, 3);
    let y_true: Vec<usize> = (0..n).map(|i| i % k).collect();
    let mut y_proba = Vec::with_capacity(n * k);
    for &t in &y_true {
        let logits: Vec<f64> = (0..k).map(|c| 1.6 * f64::from(u8::from(c == t)) + rng.normal()).collect();
        let z: f64 = logits.iter().map(|l| l.exp()).sum();
        y_proba.extend(logits.iter().map(|l| l.exp() / z));
    }
    let y_pred: Vec<usize> =
        y_proba.chunks(k).map(|r| (0..k).fold(0, |best, c| if r[c] > r[best] { c } else { best })).collect();
    let cm = confusion_matrix(&y_true, &y_pred, k)?;
    Figure::confusion(&cm, &names)?.save_png_svg(&out, "confusion")?;
    Figure::roc_one_vs_rest(&y_true, &y_proba, &names)?.save_png_svg(&out, "roc_ovr")?;
    Figure::pr_one_vs_rest(&y_true, &y_proba, &names)?.save_png_svg(&out, "pr_ovr")?;

    // Binary: is it Gentoo?
    let is_gentoo: Vec<usize> = y_true.iter().map(|&t| usize::from(t == 2)).collect();
    let score: Vec<f64> = y_proba.chunks(k).map(|r| r[2]).collect();
    Figure::roc_binary(&is_gentoo, &score, "Gentoo")?.save_png_svg(&out, "roc_binary")?;
    Figure::pr_binary(&is_gentoo, &score, "Gentoo")?.save_png_svg(&out, "pr_binary")?;

    // A learning curve with a gap that closes slowly.
    let point = |x: f64, train: f64, valid: f64, spread: f64| CurvePoint {
        x,
        train: Summary { mean: train, std: spread / 2.0, min: train, max: train, n: 5 },
        valid: Summary { mean: valid, std: spread, min: valid, max: valid, n: 5 },
    };
    let curve = LearningCurve {
        axis: Axis::TrainingRows,
        metric: "accuracy".into(),
        higher_is_better: true,
        points: (1..=10)
            .map(|i| {
                let x = 40.0 * i as f64;
                point(x, 1.0 - 2.0 / x, 0.85 - 4.0 / x.sqrt() + 0.2, 0.08 / (i as f64).sqrt())
            })
            .collect(),
    };
    let d = diagnose(&curve, &DiagnosisConfig::default())?;
    println!("{}", d.explanation());
    Figure::learning_curve(&curve, Some(&d))?.save_png_svg(&out, "learning_curve")?;

    // Regression residuals: a model that misses a curvature.
    let x: Vec<f64> = (0..200).map(|_| 10.0 * rng.next_f64()).collect();
    let y: Vec<f64> = x.iter().map(|x| 2.0 * x + 0.15 * x * x + rng.normal()).collect();
    let fit: Vec<f64> = x.iter().map(|x| 3.5 * x - 2.3).collect();
    Figure::residuals(&y, &fit)?.save_png_svg(&out, "residuals")?;
    println!("wrote figures to {}", out.display());
    Ok(())
}
