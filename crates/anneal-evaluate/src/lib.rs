//! Metrics over plain slices, following scikit-learn's definitions and edge cases.
//!
//! Evaluating a model ends in numbers that decide what ships, so they have to mean
//! exactly what the reader thinks they mean. Every function here takes plain
//! slices — class codes (`usize`), scores and probabilities (`f64`, row-major
//! `n_samples x n_classes` for matrices), regression targets (`f64`) — and returns
//! a typed [`EvalError`] for inputs that have no defined answer (different lengths,
//! no samples, a code outside the declared classes, a probability outside [0, 1], a
//! NaN). Nothing needs tensors and nothing panics on user data. Each value equals
//! scikit-learn 1.9's to 1e-9 on the fixtures in `tests/it/golden.json`.
//!
//! ```
//! use anneal_evaluate::prelude::*;
//!
//! let y_true = [0, 1, 2, 2, 1];
//! let y_pred = [0, 2, 2, 2, 1];
//! assert_eq!(accuracy(&y_true, &y_pred)?, 0.8);
//! let cm = confusion_matrix(&y_true, &y_pred, 3)?;
//! assert_eq!(cm.counts()[1], vec![0, 1, 1]);
//! let macro_f1 = f1(&y_true, &y_pred, 3, Average::Macro)?;
//! assert!((macro_f1 - 0.822_222_222_222_222_2).abs() < 1e-12);
//! assert_eq!(roc_auc(&[0, 0, 1, 1], &[0.1, 0.4, 0.35, 0.8])?, 0.75);
//! # Ok::<(), anneal_evaluate::EvalError>(())
//! ```
//!
//! - [`classification`]: accuracy, balanced accuracy, precision / recall / F-beta
//!   under every [`Average`], the [`ConfusionMatrix`] (counts, normalised, MCC,
//!   Cohen's kappa), log loss, Brier score, top-k accuracy;
//! - [`ranking`]: ROC curve, ROC-AUC (binary, one-vs-rest, one-vs-one),
//!   precision-recall curve, average precision;
//! - [`regression`]: MSE, RMSE, MAE, median absolute error, MAPE, R², explained
//!   variance, max error;
//! - [`streaming`]: accumulators that take batches and equal the one-shot values;
//! - [`report`]: scikit-learn's classification report as a struct, text or Markdown;
//! - [`cv`]: cross-validation over caller-supplied folds, folds in parallel on a
//!   bounded pool, per-fold scores with mean ± std;
//! - [`curve`]: learning curves against epochs and against training-set size;
//! - [`diagnose`](mod@diagnose): the bias/variance verdict from a learning curve, by stated rules;
//! - [`plot`]: confusion heat maps, ROC and precision-recall curves, learning curves
//!   and residual plots as PNG or SVG.

pub mod chart;
mod check;
pub mod classification;
pub mod curve;
pub mod cv;
pub mod diagnose;
mod error;
pub mod noise;
pub mod plot;
pub mod ranking;
pub mod regression;
pub mod report;
pub mod streaming;

pub use check::{ROW_SUM_ATOL, ROW_SUM_RTOL};
pub use classification::{
    Average, ClassScores, ConfusionMatrix, KappaWeights, Normalize, Prf, ZeroDivision, accuracy, balanced_accuracy,
    brier_score, cohen_kappa, confusion_matrix, f1, fbeta, log_loss, macro_f1, matthews_corrcoef, precision,
    precision_recall_fscore, recall, top_k_accuracy,
};
pub use curve::{Axis, CurvePoint, LearningCurve, SizeCurveConfig, size_curve};
pub use cv::{Coverage, CrossValidation, CvReport, Fold, FoldResult, FoldScores, Scores, Summary};
pub use diagnose::{Diagnosis, DiagnosisConfig, Verdict, diagnose};
pub use error::EvalError;
pub use plot::{Figure, ImageTile, Series};
pub use ranking::{
    MultiClass, PrCurve, RocCurve, average_precision, precision_recall_curve, roc_auc, roc_auc_multiclass, roc_curve,
};
pub use regression::{
    RegressionMetrics, explained_variance_score, max_error, mean_absolute_error, mean_absolute_percentage_error,
    mean_squared_error, median_absolute_error, r2_score, regression_metrics, root_mean_squared_error,
};
pub use report::{ClassificationReport, ReportRow, classification_report};
pub use streaming::{StreamingAccuracy, StreamingConfusion, StreamingLogLoss, StreamingRegression, StreamingRocAuc};

/// Everything a user of the metrics needs, for one `use anneal_evaluate::prelude::*`.
pub mod prelude {
    pub use crate::classification::*;
    pub use crate::curve::*;
    pub use crate::cv::*;
    pub use crate::diagnose::*;
    pub use crate::plot::*;
    pub use crate::ranking::*;
    pub use crate::regression::*;
    pub use crate::report::*;
    pub use crate::streaming::*;
    pub use crate::{EvalError, ROW_SUM_ATOL, ROW_SUM_RTOL};
}
