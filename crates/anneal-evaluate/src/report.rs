//! The classification report: per-class precision, recall, F1 and support with
//! accuracy and the macro and weighted averages, as a struct, as scikit-learn's
//! `classification_report` text, or as a Markdown table.

use std::fmt::{self, Write as _};

use serde::{Deserialize, Serialize};

use crate::{Average, ConfusionMatrix, EvalError, Prf, ZeroDivision, confusion_matrix};

/// One class's line of a [`ClassificationReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportRow {
    /// The class code.
    pub class: usize,
    /// The name shown: the code unless [`ClassificationReport::with_names`] set one.
    pub name: String,
    /// Precision, recall, F1 and support.
    pub scores: Prf,
}

/// Per-class and averaged scores of a classification (scikit-learn's
/// `classification_report`), over the classes that occur in the truth or the
/// predictions.
///
/// ```
/// use anneal_evaluate::{ZeroDivision, classification_report};
///
/// let report = classification_report(&[0, 1, 2, 2, 2], &[0, 0, 2, 2, 1], 3, ZeroDivision::Zero)?
///     .with_names(&["ant", "bee", "cat"])?;
/// assert_eq!(report.rows[2].scores.recall, 2.0 / 3.0);
/// assert_eq!(report.accuracy, 0.6);
/// print!("{report}"); // the same text as scikit-learn's, two digits
/// # Ok::<(), anneal_evaluate::EvalError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassificationReport {
    /// One row per class present, by ascending code.
    pub rows: Vec<ReportRow>,
    /// Fraction of correct predictions (micro-averaged F1).
    pub accuracy: f64,
    /// Unweighted mean over the rows.
    pub macro_avg: Prf,
    /// Mean over the rows weighted by support.
    pub weighted_avg: Prf,
    n_classes: usize,
}

impl ClassificationReport {
    /// The report of a confusion matrix with the given `zero_division`.
    pub fn from_confusion(cm: &ConfusionMatrix, zero_division: ZeroDivision) -> Self {
        // beta = 1 and a present-class label set cannot fail.
        let per_class = cm.scores_per_class(1.0, zero_division).unwrap_or_default();
        let average = |a| {
            cm.scores(1.0, a, zero_division).unwrap_or(Prf {
                precision: f64::NAN,
                recall: f64::NAN,
                f_score: f64::NAN,
                support: 0,
            })
        };
        ClassificationReport {
            rows: cm
                .present_classes()
                .into_iter()
                .map(|c| ReportRow { class: c, name: c.to_string(), scores: per_class[c] })
                .collect(),
            accuracy: average(Average::Micro).f_score,
            macro_avg: average(Average::Macro),
            weighted_avg: average(Average::Weighted),
            n_classes: cm.n_classes(),
        }
    }

    /// Number of declared classes (rows are only those present).
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Names the classes: `names[c]` for code `c`.
    ///
    /// # Errors
    /// [`EvalError::InvalidParameter`] unless there is one name per declared class.
    pub fn with_names<S: AsRef<str>>(mut self, names: &[S]) -> Result<Self, EvalError> {
        if names.len() != self.n_classes {
            return Err(EvalError::invalid("names", format!("{} names", names.len()), "one name per declared class"));
        }
        for row in &mut self.rows {
            row.name = names[row.class].as_ref().to_string();
        }
        Ok(self)
    }

    fn support(&self) -> u64 {
        self.rows.iter().map(|r| r.scores.support).sum()
    }

    /// scikit-learn's text layout, character for character, with `digits` decimals.
    pub fn to_text(&self, digits: usize) -> String {
        let width =
            self.rows.iter().map(|r| r.name.chars().count()).max().unwrap_or(0).max("weighted avg".len()).max(digits);
        let f = |x: f64| if x.is_nan() { format!("{:>9}", "nan") } else { format!("{x:>9.digits$}") };
        let mut s = format!("{:>width$} ", "");
        for h in ["precision", "recall", "f1-score", "support"] {
            let _ = write!(s, " {h:>9}");
        }
        s.push_str("\n\n");
        let line = |s: &mut String, name: &str, p: &Prf| {
            let _ = writeln!(s, "{name:>width$}  {} {} {} {:>9}", f(p.precision), f(p.recall), f(p.f_score), p.support);
        };
        for r in &self.rows {
            line(&mut s, &r.name, &r.scores);
        }
        s.push('\n');
        let _ = writeln!(s, "{:>width$}  {:>9} {:>9} {} {:>9}", "accuracy", "", "", f(self.accuracy), self.support());
        line(&mut s, "macro avg", &self.macro_avg);
        line(&mut s, "weighted avg", &self.weighted_avg);
        s
    }

    /// A Markdown table with `digits` decimals (class names escaped: no HTML,
    /// no extra cells).
    pub fn to_markdown(&self, digits: usize) -> String {
        let f = |x: f64| if x.is_nan() { "nan".to_string() } else { format!("{x:.digits$}") };
        let mut s = String::from("| class | precision | recall | f1-score | support |\n|---|---:|---:|---:|---:|\n");
        let line = |s: &mut String, name: &str, p: &Prf| {
            let name = anneal_core::markdown::escape(name);
            let _ = writeln!(s, "| {name} | {} | {} | {} | {} |", f(p.precision), f(p.recall), f(p.f_score), p.support);
        };
        for r in &self.rows {
            line(&mut s, &r.name, &r.scores);
        }
        let _ = writeln!(s, "| accuracy |  |  | {} | {} |", f(self.accuracy), self.support());
        line(&mut s, "macro avg", &self.macro_avg);
        line(&mut s, "weighted avg", &self.weighted_avg);
        s
    }
}

impl fmt::Display for ClassificationReport {
    /// [`to_text`](Self::to_text) with two digits, or the precision given (`{:.4}`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text(f.precision().unwrap_or(2)))
    }
}

/// The [`ClassificationReport`] of predictions for `n_classes` classes.
///
/// # Errors
/// As [`confusion_matrix`].
pub fn classification_report(
    y_true: &[usize],
    y_pred: &[usize],
    n_classes: usize,
    zero_division: ZeroDivision,
) -> Result<ClassificationReport, EvalError> {
    Ok(ClassificationReport::from_confusion(&confusion_matrix(y_true, y_pred, n_classes)?, zero_division))
}
