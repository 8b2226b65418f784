//! Metrics the loop records every epoch on the validation rows (`val_<name>`),
//! by name: early stopping, learning-rate schedules, `anneal tune` and the
//! curves can monitor any of them, and a new [`Metric`] needs no change to the
//! loop.

use anneal_data::Targets;
use anneal_evaluate::regression as reg;
use serde::{Deserialize, Serialize};

use crate::error::TrainError;

/// A score of a model's predictions against targets.
///
/// `predictions` are row-major, `n_outputs` per row, in the user's units: class
/// probabilities for class targets, predicted values (a target transform
/// inverted) for numeric ones.
pub trait Metric: Send + Sync {
    /// The metric's name; the loop records it as `val_<name>`.
    fn name(&self) -> String;

    /// Whether larger values are better (for monitors and `anneal tune`).
    fn higher_is_better(&self) -> bool;

    /// The score, or `None` when the metric does not apply to these targets.
    fn compute(&self, predictions: &[f32], n_outputs: usize, targets: &Targets) -> Result<Option<f64>, TrainError>;
}

/// The built-in metrics: classification ones equal to scikit-learn's
/// `accuracy_score` and `f1_score(average="macro")`, regression ones to
/// `r2_score`, `root_mean_squared_error`, `mean_absolute_error`,
/// `mean_absolute_percentage_error`, `explained_variance_score` and `max_error`
/// (for several targets, the uniform average of the per-target scores).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuiltinMetric {
    /// Fraction of rows whose most probable class is the true one.
    Accuracy,
    /// Macro-averaged F1.
    MacroF1,
    /// Coefficient of determination.
    R2,
    /// Root mean squared error.
    Rmse,
    /// Mean absolute error.
    Mae,
    /// Mean absolute percentage error (a fraction).
    Mape,
    /// Explained variance.
    ExplainedVariance,
    /// Largest absolute error.
    MaxError,
}

impl BuiltinMetric {
    /// The classification metrics.
    pub const CLASSIFICATION: [BuiltinMetric; 2] = [BuiltinMetric::Accuracy, BuiltinMetric::MacroF1];
    /// The regression metrics.
    pub const REGRESSION: [BuiltinMetric; 6] = [
        BuiltinMetric::R2,
        BuiltinMetric::Rmse,
        BuiltinMetric::Mae,
        BuiltinMetric::Mape,
        BuiltinMetric::ExplainedVariance,
        BuiltinMetric::MaxError,
    ];

    /// The metrics recorded by default for these targets.
    pub fn defaults_for(targets: &Targets) -> &'static [BuiltinMetric] {
        match targets {
            Targets::Classes(_) => &Self::CLASSIFICATION,
            Targets::Values { .. } => &Self::REGRESSION,
            // Per task, from the multi-task objective (`Objective::metrics`).
            Targets::Tasks(_) => &[],
        }
    }

    /// The metric's name (`accuracy`, `r2`, ...).
    pub fn key(&self) -> &'static str {
        match self {
            BuiltinMetric::Accuracy => "accuracy",
            BuiltinMetric::MacroF1 => "macro_f1",
            BuiltinMetric::R2 => "r2",
            BuiltinMetric::Rmse => "rmse",
            BuiltinMetric::Mae => "mae",
            BuiltinMetric::Mape => "mape",
            BuiltinMetric::ExplainedVariance => "explained_variance",
            BuiltinMetric::MaxError => "max_error",
        }
    }

    /// The built-in metric called `name`, if any.
    pub fn from_key(name: &str) -> Option<Self> {
        [Self::CLASSIFICATION.as_slice(), Self::REGRESSION.as_slice()].concat().into_iter().find(|m| m.key() == name)
    }

    /// One target's score.
    fn score(&self, y_true: &[f64], y_pred: &[f64]) -> Result<f64, TrainError> {
        Ok(match self {
            BuiltinMetric::R2 => reg::r2_score(y_true, y_pred)?,
            BuiltinMetric::Rmse => reg::root_mean_squared_error(y_true, y_pred)?,
            BuiltinMetric::Mae => reg::mean_absolute_error(y_true, y_pred)?,
            BuiltinMetric::Mape => reg::mean_absolute_percentage_error(y_true, y_pred)?,
            BuiltinMetric::ExplainedVariance => reg::explained_variance_score(y_true, y_pred)?,
            BuiltinMetric::MaxError => reg::max_error(y_true, y_pred)?,
            BuiltinMetric::Accuracy | BuiltinMetric::MacroF1 => f64::NAN,
        })
    }

    /// The score of each target (one entry for class targets).
    pub fn per_target(
        &self,
        predictions: &[f32],
        n_outputs: usize,
        targets: &Targets,
    ) -> Result<Option<Vec<f64>>, TrainError> {
        match (self, targets) {
            (BuiltinMetric::Accuracy | BuiltinMetric::MacroF1, Targets::Classes(y)) => {
                let cm = anneal_evaluate::confusion_matrix(y, &argmax_rows(predictions, n_outputs), n_outputs)?;
                let v = if *self == BuiltinMetric::Accuracy { cm.accuracy() } else { cm.macro_f1() };
                Ok(Some(vec![v]))
            }
            (BuiltinMetric::Accuracy | BuiltinMetric::MacroF1, _) | (_, Targets::Classes(_) | Targets::Tasks(_)) => {
                Ok(None)
            }
            (_, Targets::Values { n_targets, .. }) => {
                if *n_targets != n_outputs {
                    return Err(TrainError::InvalidSetting(format!(
                        "the model has {n_outputs} outputs but the data has {n_targets} targets"
                    )));
                }
                (0..n_outputs)
                    .map(|j| {
                        let y_pred: Vec<f64> =
                            predictions.iter().skip(j).step_by(n_outputs).map(|&v| f64::from(v)).collect();
                        let y_true = targets.column(j).unwrap_or_default();
                        self.score(&y_true, &y_pred)
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some)
            }
        }
    }
}

impl Metric for BuiltinMetric {
    fn name(&self) -> String {
        self.key().to_string()
    }

    fn higher_is_better(&self) -> bool {
        matches!(
            self,
            BuiltinMetric::Accuracy | BuiltinMetric::MacroF1 | BuiltinMetric::R2 | BuiltinMetric::ExplainedVariance
        )
    }

    fn compute(&self, predictions: &[f32], n_outputs: usize, targets: &Targets) -> Result<Option<f64>, TrainError> {
        Ok(self.per_target(predictions, n_outputs, targets)?.map(|v| v.iter().sum::<f64>() / v.len().max(1) as f64))
    }
}

/// A built-in metric of one task of a multi-task run ([`Targets::Tasks`]),
/// over the rows that have that task's label; recorded as
/// `val_<task>_<metric>` (`val_species_accuracy`, `val_body_mass_g_rmse`).
/// The multi-task objective makes them ([`Objective::metrics`](crate::Objective::metrics)).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskMetric {
    task: usize,
    name: String,
    offset: usize,
    outputs: usize,
    metric: BuiltinMetric,
}

impl TaskMetric {
    /// `metric` of task `task` (0-based, named `name`), whose predictions are
    /// the `outputs` columns from `offset` of each row.
    pub fn new(task: usize, name: impl Into<String>, offset: usize, outputs: usize, metric: BuiltinMetric) -> Self {
        Self { task, name: name.into(), offset, outputs, metric }
    }
}

impl Metric for TaskMetric {
    fn name(&self) -> String {
        format!("{}_{}", self.name, self.metric.key())
    }

    fn higher_is_better(&self) -> bool {
        self.metric.higher_is_better()
    }

    fn compute(&self, predictions: &[f32], n_outputs: usize, targets: &Targets) -> Result<Option<f64>, TrainError> {
        let Targets::Tasks(tasks) = targets else { return Ok(None) };
        let Some(task) = tasks.get(self.task) else { return Ok(None) };
        if self.offset + self.outputs > n_outputs {
            return Err(TrainError::InvalidSetting(format!(
                "task `{}` reads outputs {}..{} but the model has {n_outputs}",
                self.name,
                self.offset,
                self.offset + self.outputs
            )));
        }
        let rows: Vec<usize> = (0..task.present.len()).filter(|&r| task.present[r]).collect();
        if rows.is_empty() {
            return Ok(None);
        }
        let mut own = Vec::with_capacity(rows.len() * self.outputs);
        for &r in &rows {
            let start = r * n_outputs + self.offset;
            own.extend_from_slice(predictions.get(start..start + self.outputs).unwrap_or_default());
        }
        let labelled = match &task.targets {
            Targets::Classes(c) => Targets::Classes(rows.iter().map(|&r| c[r]).collect()),
            Targets::Values { values, n_targets } => Targets::Values {
                values: rows.iter().flat_map(|&r| values[r * n_targets..(r + 1) * n_targets].iter().copied()).collect(),
                n_targets: *n_targets,
            },
            Targets::Tasks(_) => return Ok(None),
        };
        self.metric.compute(&own, self.outputs, &labelled)
    }
}

/// The index of each row's largest value (the first on ties, as numpy's argmax).
pub fn argmax_rows(values: &[f32], width: usize) -> Vec<usize> {
    values
        .chunks(width.max(1))
        .map(|row| {
            row.iter().enumerate().fold((0, f32::NEG_INFINITY), |acc, (i, &p)| if p > acc.1 { (i, p) } else { acc }).0
        })
        .collect()
}

/// Whether a metric name (`val_rmse`, `train_loss`, `r2`) is better when larger,
/// for the built-in metrics; `None` for names it does not know.
pub fn higher_is_better(name: &str) -> Option<bool> {
    let bare = name.strip_prefix("val_").or_else(|| name.strip_prefix("train_")).unwrap_or(name);
    if bare == "loss" || bare.ends_with("_loss") {
        return Some(false);
    }
    BuiltinMetric::from_key(bare).map(|m| m.higher_is_better())
}
