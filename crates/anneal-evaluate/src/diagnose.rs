//! The bias/variance verdict: high bias, high variance, good fit or needs more
//! data, read off a learning curve by stated rules with configurable thresholds.
//!
//! Values become errors first (`1 − value` for a metric where higher is better,
//! such as accuracy; the value itself for a loss). At the curve's last point (the
//! most data, or the last epoch) let `train` and `valid` be the mean errors and
//! `gap = valid − train`. On a curve against training-set size the gap's trend is
//! read as a power law, the form learning curves take (Hestness et al. 2017, "Deep
//! learning scaling is predictable, empirically"): the exponent `b` is the
//! least-squares slope of log₂(gap) against log₂(training rows) over the points in
//! the last [`trend_doublings`](DiagnosisConfig::trend_doublings) doublings of the
//! data (at least the last two points), and the projected gap is
//! `gap × 2^min(b, 0)` — the gap at twice the data if the trend holds (the gap
//! itself when a gap in that window is not positive: it has grown from nothing).
//! Then, in order:
//!
//! 1. `gap ≤ max_gap` (the curves have converged): `valid` above the error
//!    threshold is [`Verdict::HighBias`] — both errors are high and more data
//!    will not lower them; otherwise [`Verdict::GoodFit`]. The threshold is
//!    relative to the data when its noise is known: `noise_floor + max_gap`,
//!    where [`noise_floor`](DiagnosisConfig::noise_floor) is the error no model
//!    can beat (estimated by nearest neighbours, [`crate::noise`]), so a noisy
//!    problem is not called underfit for an error its noise explains; without
//!    one it is the fixed `max_error`.
//! 2. `gap > max_gap` on a size curve whose projected gap is `≤ max_gap`:
//!    [`Verdict::NeedsMoreData`] — the gap is still closing at the largest size,
//!    fast enough that doubling the data would close it.
//! 3. Otherwise [`Verdict::HighVariance`]: a large gap that more data is not
//!    closing fast enough, or on an epoch curve, a model fitting its training rows
//!    far better than held-out ones.
//!
//! Defaults (`max_error` 0.10 when no noise floor is known, `max_gap` 0.05,
//! `trend_doublings` 1) suit accuracy-like metrics; `anneal cv --learning-curve`
//! estimates the noise floor from the data.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::EvalError;
use crate::curve::{Axis, LearningCurve};

/// What a learning curve says about a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Training and validation errors are both high and close together: the model
    /// underfits. A bigger model, less regularisation or better features help;
    /// more data does not.
    HighBias,
    /// A large gap between training and validation error that more data is not
    /// closing: the model overfits. Regularise, simplify, or augment.
    HighVariance,
    /// Low validation error, small gap.
    GoodFit,
    /// A large gap that is still closing at the largest training set: more data
    /// is the remedy.
    NeedsMoreData,
}

impl Verdict {
    /// A one-line remedy.
    pub fn advice(&self) -> &'static str {
        match self {
            Verdict::HighBias => "underfitting: use a larger model, less regularisation or better features",
            Verdict::HighVariance => {
                "overfitting: regularise (weight decay, dropout, early stopping), simplify the model or augment"
            }
            Verdict::GoodFit => "low error and a small gap: nothing to fix",
            Verdict::NeedsMoreData => "the gap is still closing: collect more training data",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::HighBias => "high bias",
            Verdict::HighVariance => "high variance",
            Verdict::GoodFit => "good fit",
            Verdict::NeedsMoreData => "needs more data",
        })
    }
}

/// Thresholds of the rules (module docs), in error units of the curve's metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiagnosisConfig {
    /// Validation error above which the error counts as high when no
    /// [`noise_floor`](Self::noise_floor) is known (default 0.10, that is accuracy
    /// below 90 %).
    pub max_error: f64,
    /// Validation − training error above which the gap counts as large (default 0.05).
    pub max_gap: f64,
    /// How far back from the largest training set, in doublings of the data, the
    /// gap's trend is fitted (default 1: the points with at least half the largest
    /// training set's rows; always at least the last two points).
    pub trend_doublings: f64,
    /// The error no model can beat on this data, in the curve's error units
    /// (`1 − accuracy`, `1 − R²`): when given, the error counts as high above
    /// `noise_floor + max_gap` instead of `max_error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub noise_floor: Option<f64>,
}

impl Default for DiagnosisConfig {
    fn default() -> Self {
        Self { max_error: 0.10, max_gap: 0.05, trend_doublings: 1.0, noise_floor: None }
    }
}

impl DiagnosisConfig {
    /// Checks the thresholds: finite and non-negative, `trend_doublings > 0`.
    pub fn validate(&self) -> Result<(), EvalError> {
        if !(self.max_error.is_finite() && self.max_error >= 0.0) {
            return Err(EvalError::invalid("max_error", self.max_error, "a finite error >= 0"));
        }
        if !(self.max_gap.is_finite() && self.max_gap >= 0.0) {
            return Err(EvalError::invalid("max_gap", self.max_gap, "a finite error gap >= 0"));
        }
        if let Some(f) = self.noise_floor.filter(|f| !(f.is_finite() && *f >= 0.0)) {
            return Err(EvalError::invalid("noise_floor", f, "a finite error >= 0"));
        }
        if !(self.trend_doublings.is_finite() && self.trend_doublings > 0.0) {
            return Err(EvalError::invalid(
                "trend_doublings",
                self.trend_doublings,
                "a finite number of doublings > 0",
            ));
        }
        Ok(())
    }

    /// The validation error above which a converged curve is high bias:
    /// `noise_floor + max_gap` when the noise floor is known, else `max_error`.
    pub fn error_threshold(&self) -> f64 {
        self.noise_floor.map_or(self.max_error, |f| f + self.max_gap)
    }

    /// The rules with these thresholds, as Markdown list items, for reports.
    pub fn rules(&self) -> String {
        let threshold = match self.noise_floor {
            Some(f) => format!("{:.4} (the data's noise floor {f:.4} + {})", self.error_threshold(), self.max_gap),
            None => format!("{}", self.max_error),
        };
        format!(
            "- errors: 1 − score for scores where higher is better, the value itself for losses; \
             gap = validation error − training error at the largest training set (or last epoch)\n\
             - gap ≤ {gap} and validation error > {err}: **high bias** (both errors high, converged)\n\
             - gap ≤ {gap} and validation error ≤ {err}: **good fit**\n\
             - gap > {gap}, and the gap's power-law trend over the last {d} doubling(s) of the training rows \
             (least-squares slope b of log₂ gap against log₂ rows) projects gap × 2^min(b, 0) ≤ {gap} \
             at twice the data: **needs more data**\n\
             - otherwise (gap > {gap}, not closing fast enough; always on an epoch curve): **high variance**\n",
            gap = self.max_gap,
            err = threshold,
            d = self.trend_doublings
        )
    }
}

/// A verdict with the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// The verdict.
    pub verdict: Verdict,
    /// Mean training error at the last point.
    pub train_error: f64,
    /// Mean validation error at the last point.
    pub valid_error: f64,
    /// `valid_error − train_error`.
    pub gap: f64,
    /// Exponent `b` of the gap's power-law trend, `gap ∝ rows^b`, over the last
    /// doublings of the data (negative: closing); `None` on an epoch curve, a
    /// one-point curve, or when a gap in the window is not positive.
    pub gap_exponent: Option<f64>,
    /// The gap expected at twice the largest training set, `gap × 2^min(b, 0)`;
    /// `None` on an epoch curve or a one-point curve.
    pub projected_gap: Option<f64>,
    /// The thresholds used.
    pub config: DiagnosisConfig,
}

impl Diagnosis {
    /// The verdict and why, in one paragraph.
    pub fn explanation(&self) -> String {
        let c = &self.config;
        let mut s = format!(
            "{}: validation error {:.4}, training error {:.4}, gap {:.4} ({} the {} threshold)",
            self.verdict,
            self.valid_error,
            self.train_error,
            self.gap,
            if self.gap > c.max_gap { "above" } else { "within" },
            c.max_gap
        );
        if let (Some(projected), true) = (self.projected_gap, self.gap > c.max_gap) {
            match self.gap_exponent {
                Some(b) => {
                    s += &format!(
                        "; over the last {} doubling(s) of the data the gap goes as rows^{b:.2}",
                        c.trend_doublings
                    )
                }
                None => s += "; the gap has grown from nothing over the last doubling(s) of the data",
            }
            s += &format!(", {projected:.4} projected at twice the data");
        }
        if self.gap <= c.max_gap {
            s += &format!(
                "; validation error {} the {:.4} threshold",
                if self.valid_error > c.error_threshold() { "above" } else { "within" },
                c.error_threshold()
            );
            if let Some(f) = c.noise_floor {
                s += &format!(" (noise floor {f:.4} + gap tolerance {})", c.max_gap);
            }
        }
        s + ". " + self.verdict.advice()
    }
}

/// The verdict on `curve` by the rules in the module docs.
///
/// ```
/// use anneal_evaluate::curve::{Axis, CurvePoint, LearningCurve};
/// use anneal_evaluate::cv::Summary;
/// use anneal_evaluate::diagnose::{DiagnosisConfig, Verdict, diagnose};
///
/// // Accuracy on training and validation rows at 100, 200 and 400 training rows.
/// let point = |x: f64, train: f64, valid: f64| CurvePoint { x, train: Summary::of(&[train]), valid: Summary::of(&[valid]) };
/// let curve = |valid_last: f64| LearningCurve {
///     axis: Axis::TrainingRows,
///     metric: "accuracy".into(),
///     higher_is_better: true,
///     points: vec![point(100.0, 0.72, 0.68), point(200.0, 0.71, 0.69), point(400.0, 0.71, valid_last)],
/// };
/// let d = diagnose(&curve(0.70), &DiagnosisConfig::default())?;
/// assert_eq!(d.verdict, Verdict::HighBias); // 30 % error, gap 0.01
/// // The same curve on data whose noise alone costs 28 % error: nothing to fix.
/// let noisy = DiagnosisConfig { noise_floor: Some(0.28), ..DiagnosisConfig::default() };
/// assert_eq!(diagnose(&curve(0.70), &noisy)?.verdict, Verdict::GoodFit);
/// # Ok::<(), anneal_evaluate::EvalError>(())
/// ```
pub fn diagnose(curve: &LearningCurve, config: &DiagnosisConfig) -> Result<Diagnosis, EvalError> {
    config.validate()?;
    let last = curve.points.last().ok_or(EvalError::Empty)?;
    let train_error = curve.error(last.train.mean);
    let valid_error = curve.error(last.valid.mean);
    crate::check::finite("train", &[train_error])?;
    crate::check::finite("valid", &[valid_error])?;
    let gap = valid_error - train_error;
    let (gap_exponent, projected_gap) = match curve.axis {
        Axis::TrainingRows if curve.points.len() >= 2 => {
            let log_rows = |p: &crate::curve::CurvePoint| p.x.max(f64::MIN_POSITIVE).log2();
            let last = log_rows(last);
            let n = curve.points.len();
            let start = curve
                .points
                .iter()
                .position(|p| log_rows(p) >= last - config.trend_doublings - 1e-9)
                .unwrap_or(n - 1)
                .min(n - 2);
            let window = &curve.points[start..];
            let gaps: Vec<f64> = window.iter().map(|p| curve.error(p.valid.mean) - curve.error(p.train.mean)).collect();
            if gaps.iter().all(|&g| g > 0.0) {
                let xs: Vec<f64> = window.iter().map(log_rows).collect();
                let ys: Vec<f64> = gaps.iter().map(|g| g.log2()).collect();
                let b = slope(&xs, &ys);
                (b, Some(gap * 2f64.powf(b.unwrap_or(0.0).min(0.0))))
            } else {
                (None, Some(gap))
            }
        }
        _ => (None, None),
    };
    let verdict = if gap <= config.max_gap {
        if valid_error > config.error_threshold() { Verdict::HighBias } else { Verdict::GoodFit }
    } else if projected_gap.is_some_and(|p| p <= config.max_gap) {
        Verdict::NeedsMoreData
    } else {
        Verdict::HighVariance
    };
    Ok(Diagnosis { verdict, train_error, valid_error, gap, gap_exponent, projected_gap, config: *config })
}

/// Least-squares slope of `ys` against `xs`; `None` when the xs do not vary.
fn slope(xs: &[f64], ys: &[f64]) -> Option<f64> {
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    let sxy: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

#[cfg(test)]
mod tests {
    use super::slope;

    #[test]
    fn slope_of_a_line() {
        assert!((slope(&[0.0, 1.0, 2.0], &[1.0, 0.5, 0.0]).unwrap() + 0.5).abs() < 1e-15);
        assert_eq!(slope(&[1.0, 1.0], &[0.0, 1.0]), None);
    }
}
