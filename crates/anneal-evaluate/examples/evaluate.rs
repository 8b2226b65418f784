//! A tour of anneal-evaluate on a small three-class problem: labels, probabilities,
//! a binary score, regression targets, and the same metrics streamed in batches.
//! Included in the book (`docs/src/evaluating.md`); run with
//! `cargo run -p anneal-evaluate --example evaluate`.

use anneal_evaluate::prelude::*;

fn main() -> Result<(), EvalError> {
    // ANCHOR: labels
    let y_true = [0, 0, 1, 1, 1, 2, 2, 2, 2, 0];
    let y_pred = [0, 1, 1, 1, 2, 2, 2, 0, 2, 0];
    let cm = confusion_matrix(&y_true, &y_pred, 3)?;
    println!("accuracy {:.3}, balanced {:.3}", cm.accuracy(), cm.balanced_accuracy());
    let macro_f1 = f1(&y_true, &y_pred, 3, Average::Macro)?;
    let weighted = precision_recall_fscore(&y_true, &y_pred, 3, 2.0, Average::Weighted, ZeroDivision::Zero)?;
    println!("macro F1 {macro_f1:.3}, weighted F2 {:.3}", weighted.f_score);
    println!("MCC {:.3}, quadratic kappa {:.3}", cm.matthews_corrcoef(), cm.cohen_kappa(KappaWeights::Quadratic));
    print!("{}", classification_report(&y_true, &y_pred, 3, ZeroDivision::Zero)?.with_names(&["ant", "bee", "cat"])?);
    // ANCHOR_END: labels

    // ANCHOR: scores
    // Row-major probabilities, one row per sample.
    let y_proba = [
        0.7, 0.2, 0.1, 0.4, 0.5, 0.1, 0.1, 0.8, 0.1, 0.2, 0.6, 0.2, 0.1, 0.3, 0.6, //
        0.1, 0.2, 0.7, 0.2, 0.2, 0.6, 0.5, 0.2, 0.3, 0.0, 0.1, 0.9, 0.6, 0.3, 0.1,
    ];
    println!("log loss {:.3}, top-2 {:.2}", log_loss(&y_true, &y_proba, 3)?, top_k_accuracy(&y_true, &y_proba, 3, 2)?);
    let ovr = roc_auc_multiclass(&y_true, &y_proba, 3, MultiClass::OneVsRest, Average::Macro)?;
    let ovo = roc_auc_multiclass(&y_true, &y_proba, 3, MultiClass::OneVsOne, Average::Macro)?;
    println!("ROC-AUC one-vs-rest {ovr:.3}, one-vs-one {ovo:.3}");

    // Binary: is it class 2? Scores are the class-2 column.
    let is_cat: Vec<usize> = y_true.iter().map(|&t| usize::from(t == 2)).collect();
    let score: Vec<f64> = y_proba.chunks(3).map(|row| row[2]).collect();
    let curve = roc_curve(&is_cat, &score, true)?;
    println!("ROC-AUC {:.3} over {} thresholds", roc_auc(&is_cat, &score)?, curve.thresholds.len());
    println!("average precision {:.3}", average_precision(&is_cat, &score)?);
    // ANCHOR_END: scores

    // ANCHOR: regression
    let y = [3.0, -0.5, 2.0, 7.0, 4.2];
    let y_hat = [2.5, 0.0, 2.1, 7.8, 4.0];
    let m = regression_metrics(&y, &y_hat)?;
    println!("RMSE {:.3}, MAE {:.3}, R² {:.3}, max error {:.1}", m.rmse, m.mae, m.r2, m.max_error);
    // ANCHOR_END: regression

    // ANCHOR: streaming
    let mut confusion = StreamingConfusion::new(3)?;
    let mut auc = StreamingRocAuc::new();
    for batch in (0..y_true.len()).collect::<Vec<_>>().chunks(4) {
        let (start, end) = (batch[0], batch[batch.len() - 1] + 1);
        confusion.update(&y_true[start..end], &y_pred[start..end])?;
        auc.update(&is_cat[start..end], &score[start..end])?;
    }
    assert_eq!(confusion.compute()?, cm);
    assert_eq!(auc.compute()?, roc_auc(&is_cat, &score)?);
    // ANCHOR_END: streaming
    Ok(())
}
