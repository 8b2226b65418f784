//! Rows with several targets of mixed kinds, for multi-task learning: one
//! shared feature matrix and, per task, class codes or numeric values and which
//! rows have that task's label. A row missing one task's label still trains
//! the others ([`Target::Tasks`] carries the mask to the loss).
//!
//! ```
//! use anneal_data::multitask::{MultiTaskData, Task, TaskLabels};
//! use anneal_data::{Dataset, Target, TargetTransformKind};
//! use burn::prelude::*;
//!
//! let features = vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]; // 3 rows of 2 features
//! let species = Task::new("species", TaskLabels::Classes { codes: vec![0, 1, 1], n_classes: 2 });
//! // The second row's mass is missing.
//! let mass = Task::new("mass", TaskLabels::Values { values: vec![3.5, 0.0, 4.5], n_targets: 1 })
//!     .with_present(vec![true, false, true]);
//! let data = MultiTaskData::fit(features, 2, vec![species, mass], TargetTransformKind::Standard)?;
//! assert_eq!(data.outputs(), [2, 1]);
//! let batch = data.batch(&[0, 1], &Device::flex());
//! let Target::Tasks(tasks) = batch.target else { unreachable!() };
//! assert_eq!(tasks[1].present.clone().into_data().try_to_vec::<f32>().unwrap(), [1.0, 0.0]);
//! # Ok::<(), anneal_data::DataError>(())
//! ```

use burn::prelude::*;

use crate::dataset::{Batch, Dataset, Target, Targets, TaskTarget, TaskTargets};
use crate::error::{DataError, Result};
use crate::target::{TargetTransform, TargetTransformKind};

/// One task's labels in the user's units, one entry (or `n_targets` entries)
/// per row; what a row without the label holds is ignored.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskLabels {
    /// Class codes below `n_classes`.
    Classes {
        /// Each row's class code.
        codes: Vec<usize>,
        /// Number of classes (the task head's outputs).
        n_classes: usize,
    },
    /// Numeric targets, row-major.
    Values {
        /// `n_targets` values per row.
        values: Vec<f64>,
        /// Targets per row (the task head's outputs).
        n_targets: usize,
    },
}

impl TaskLabels {
    fn rows(&self) -> usize {
        match self {
            TaskLabels::Classes { codes, .. } => codes.len(),
            TaskLabels::Values { values, n_targets } => values.len() / (*n_targets).max(1),
        }
    }
}

/// One task of a [`MultiTaskData`]: a name, its labels, and which rows have one.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// The task's name (for terms, metrics and reports).
    pub name: String,
    /// The labels.
    pub labels: TaskLabels,
    /// Whether each row has this task's label (empty: every row has).
    pub present: Vec<bool>,
}

impl Task {
    /// A task whose every row is labelled.
    pub fn new(name: impl Into<String>, labels: TaskLabels) -> Self {
        Self { name: name.into(), labels, present: Vec::new() }
    }

    /// The same task, labelled only on the rows marked `true`.
    pub fn with_present(mut self, present: Vec<bool>) -> Self {
        self.present = present;
        self
    }
}

/// A task without its labels: what a trained run keeps to read new rows
/// ([`MultiTaskData::shapes`], [`MultiTaskData::unlabelled`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TaskShape {
    /// The task's name.
    pub name: String,
    /// Its head.
    pub head: TaskHead,
}

/// A task's head and how its values are put in training units.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskHead {
    /// `n_classes` class scores.
    Classes {
        /// Number of classes.
        n_classes: usize,
    },
    /// `n_targets` values, trained on after `transform`.
    Values {
        /// Targets per row.
        n_targets: usize,
        /// The transform fitted on the training rows.
        transform: TargetTransform,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Stored {
    Classes { codes: Vec<i64>, n_classes: usize },
    Values { values: Vec<f32>, n_targets: usize, transform: TargetTransform },
}

#[derive(Debug, Clone, PartialEq)]
struct TaskColumn {
    name: String,
    stored: Stored,
    present: Vec<bool>,
}

/// Features (`f32`, row-major) and several tasks' targets, held on the host
/// and turned into [`Target::Tasks`] batches. Numeric tasks are transformed
/// (standardised by default) with a transform fitted on the labelled training
/// rows, and predictions come back in the user's units.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiTaskData {
    features: Vec<f32>,
    n_features: usize,
    tasks: Vec<TaskColumn>,
}

impl MultiTaskData {
    /// Training rows: fits `transform` on each numeric task's labelled rows.
    /// Every task needs at least one labelled row; a class code out of range,
    /// a non-finite labelled value or lengths that do not match are errors
    /// naming the task and row.
    pub fn fit(
        features: Vec<f32>,
        n_features: usize,
        tasks: Vec<Task>,
        transform: TargetTransformKind,
    ) -> Result<Self> {
        let rows = check_shape(&features, n_features, &tasks)?;
        let mut columns = Vec::with_capacity(tasks.len());
        for task in tasks {
            let present = presence(&task, rows)?;
            if !present.iter().any(|&p| p) {
                return Err(DataError::InvalidBatch(format!("task `{}` has no labelled row to learn from", task.name)));
            }
            let fitted = match &task.labels {
                TaskLabels::Values { values, n_targets } => {
                    let labelled: Vec<f64> = labelled_values(&task.name, values, *n_targets, &present)?;
                    Some(TargetTransform::fit(transform, &labelled, *n_targets)?)
                }
                TaskLabels::Classes { .. } => None,
            };
            columns.push(store(task, present, fitted)?);
        }
        Ok(Self { features, n_features, tasks: columns })
    }

    /// Other rows (validation, test) of the same tasks, with this data's
    /// transforms; a task may have no labelled row here.
    pub fn like(&self, features: Vec<f32>, n_features: usize, tasks: Vec<Task>) -> Result<Self> {
        if n_features != self.n_features {
            return Err(DataError::Shape(format!(
                "{n_features} features per row, but the training rows have {}",
                self.n_features
            )));
        }
        let names: Vec<&str> = self.tasks.iter().map(|t| t.name.as_str()).collect();
        let given: Vec<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
        if names != given {
            return Err(DataError::InvalidBatch(format!("tasks {given:?}, but the training rows have {names:?}")));
        }
        let rows = check_shape(&features, n_features, &tasks)?;
        let mut columns = Vec::with_capacity(tasks.len());
        for (task, trained) in tasks.into_iter().zip(&self.tasks) {
            let present = presence(&task, rows)?;
            let transform = match (&trained.stored, &task.labels) {
                (Stored::Values { transform, n_targets, .. }, TaskLabels::Values { n_targets: k, .. })
                    if n_targets == k =>
                {
                    Some(transform.clone())
                }
                (Stored::Classes { n_classes, .. }, TaskLabels::Classes { n_classes: k, .. }) if n_classes == k => None,
                _ => {
                    return Err(DataError::InvalidBatch(format!(
                        "task `{}` has another kind or size of target than in the training rows",
                        task.name
                    )));
                }
            };
            columns.push(store(task, present, transform)?);
        }
        Ok(Self { features, n_features, tasks: columns })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.features.len() / self.n_features
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    /// Number of features per row.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// The row-major features.
    pub fn features(&self) -> &[f32] {
        &self.features
    }

    /// The tasks' names, in head order.
    pub fn names(&self) -> Vec<String> {
        self.tasks.iter().map(|t| t.name.clone()).collect()
    }

    /// Outputs of each task's head: its classes, or its numeric targets. The
    /// model's output is these, side by side, in task order.
    pub fn outputs(&self) -> Vec<usize> {
        self.tasks
            .iter()
            .map(|t| match &t.stored {
                Stored::Classes { n_classes, .. } => *n_classes,
                Stored::Values { n_targets, .. } => *n_targets,
            })
            .collect()
    }

    /// Each task without its labels, for reading new rows like these.
    pub fn shapes(&self) -> Vec<TaskShape> {
        self.tasks
            .iter()
            .map(|t| TaskShape {
                name: t.name.clone(),
                head: match &t.stored {
                    Stored::Classes { n_classes, .. } => TaskHead::Classes { n_classes: *n_classes },
                    Stored::Values { n_targets, transform, .. } => {
                        TaskHead::Values { n_targets: *n_targets, transform: transform.clone() }
                    }
                },
            })
            .collect()
    }

    /// Rows with no label of any task (to predict them), for tasks of `shapes`.
    pub fn unlabelled(features: Vec<f32>, n_features: usize, shapes: &[TaskShape]) -> Result<Self> {
        let rows = features.len().checked_div(n_features).unwrap_or(0);
        let tasks = shapes
            .iter()
            .map(|s| {
                let labels = match &s.head {
                    TaskHead::Classes { n_classes } => {
                        TaskLabels::Classes { codes: vec![0; rows], n_classes: *n_classes }
                    }
                    TaskHead::Values { n_targets, .. } => {
                        TaskLabels::Values { values: vec![0.0; rows * n_targets], n_targets: *n_targets }
                    }
                };
                Task::new(s.name.clone(), labels).with_present(vec![false; rows])
            })
            .collect::<Vec<_>>();
        let rows = check_shape(&features, n_features, &tasks)?;
        let mut columns = Vec::with_capacity(tasks.len());
        for (task, shape) in tasks.into_iter().zip(shapes) {
            let transform = match &shape.head {
                TaskHead::Values { transform, .. } => Some(transform.clone()),
                TaskHead::Classes { .. } => None,
            };
            let present = presence(&task, rows)?;
            columns.push(store(task, present, transform)?);
        }
        Ok(Self { features, n_features, tasks: columns })
    }

    /// Whether each task is a classification.
    pub fn is_classification(&self) -> Vec<bool> {
        self.tasks.iter().map(|t| matches!(t.stored, Stored::Classes { .. })).collect()
    }

    /// How many rows have each task's label.
    pub fn labelled(&self) -> Vec<usize> {
        self.tasks.iter().map(|t| t.present.iter().filter(|&&p| p).count()).collect()
    }
}

fn check_shape(features: &[f32], n_features: usize, tasks: &[Task]) -> Result<usize> {
    if n_features == 0 || !features.len().is_multiple_of(n_features) {
        return Err(DataError::InvalidBatch(format!(
            "{} feature values do not make rows of {n_features} features",
            features.len()
        )));
    }
    if tasks.is_empty() {
        return Err(DataError::InvalidBatch("multi-task data needs at least one task".into()));
    }
    let rows = features.len() / n_features;
    for (i, t) in tasks.iter().enumerate() {
        if tasks[..i].iter().any(|o| o.name == t.name) {
            return Err(DataError::InvalidBatch(format!("two tasks are named `{}`", t.name)));
        }
        if let TaskLabels::Values { n_targets: 0, .. } = t.labels {
            return Err(DataError::InvalidBatch(format!("task `{}` has no target per row", t.name)));
        }
        if t.labels.rows() != rows {
            return Err(DataError::InvalidBatch(format!(
                "task `{}` has labels for {} rows, but there are {rows} rows of features",
                t.name,
                t.labels.rows()
            )));
        }
    }
    Ok(rows)
}

fn presence(task: &Task, rows: usize) -> Result<Vec<bool>> {
    match task.present.len() {
        0 => Ok(vec![true; rows]),
        n if n == rows => Ok(task.present.clone()),
        n => Err(DataError::InvalidBatch(format!(
            "task `{}` marks {n} rows as labelled or not, but there are {rows} rows",
            task.name
        ))),
    }
}

fn labelled_values(name: &str, values: &[f64], k: usize, present: &[bool]) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(values.len());
    for (r, row) in values.chunks(k).enumerate().filter(|(r, _)| present[*r]) {
        if let Some(v) = row.iter().find(|v| !v.is_finite()) {
            return Err(DataError::NotFinite {
                column: name.to_string(),
                row: r,
                what: if v.is_nan() { "a labelled target (NaN: mark the row unlabelled instead)" } else { "a target" },
            });
        }
        out.extend_from_slice(row);
    }
    Ok(out)
}

fn store(task: Task, present: Vec<bool>, transform: Option<TargetTransform>) -> Result<TaskColumn> {
    let stored = match task.labels {
        TaskLabels::Classes { codes, n_classes } => {
            if n_classes < 2 {
                return Err(DataError::InvalidBatch(format!(
                    "task `{}` has {n_classes} class(es): a classification needs at least two",
                    task.name
                )));
            }
            if let Some(r) = (0..codes.len()).find(|&r| present[r] && codes[r] >= n_classes) {
                return Err(DataError::InvalidBatch(format!(
                    "task `{}`, row {r}: class code {} is not below its {n_classes} classes",
                    task.name, codes[r]
                )));
            }
            let codes = codes.iter().zip(&present).map(|(&c, &p)| if p { c as i64 } else { 0 }).collect();
            Stored::Classes { codes, n_classes }
        }
        TaskLabels::Values { values, n_targets } => {
            let transform = transform.unwrap_or_else(TargetTransform::identity);
            labelled_values(&task.name, &values, n_targets, &present)?;
            // Unlabelled rows hold 0 in the training units (masked out of the loss).
            let t = &transform;
            let filled: Vec<f64> = values
                .chunks(n_targets)
                .zip(&present)
                .flat_map(|(row, &p)| row.iter().enumerate().map(move |(j, &v)| if p { v } else { unlabelled(t, j) }))
                .collect();
            Stored::Values { values: transform.transform(&filled)?, n_targets, transform }
        }
    };
    Ok(TaskColumn { name: task.name, stored, present })
}

/// A user-unit value that transforms to 0 (what an unlabelled row holds).
fn unlabelled(transform: &TargetTransform, j: usize) -> f64 {
    match transform.kind {
        TargetTransformKind::Standard => transform.mean.get(j).copied().unwrap_or(0.0),
        TargetTransformKind::Log1p | TargetTransformKind::None => 0.0,
    }
}

impl Dataset for MultiTaskData {
    type Input = Tensor<2>;

    fn len(&self) -> usize {
        MultiTaskData::len(self)
    }

    fn batch(&self, rows: &[usize], device: &Device) -> Batch<Tensor<2>> {
        let d = self.n_features;
        let n = rows.len();
        let mut x = Vec::with_capacity(n * d);
        for &r in rows {
            x.extend_from_slice(&self.features[r * d..(r + 1) * d]);
        }
        let tasks = self
            .tasks
            .iter()
            .map(|t| {
                let present: Vec<f32> = rows.iter().map(|&r| if t.present[r] { 1.0 } else { 0.0 }).collect();
                let target = match &t.stored {
                    Stored::Classes { codes, .. } => {
                        let y: Vec<i64> = rows.iter().map(|&r| codes[r]).collect();
                        Target::Classes(Tensor::from_data(TensorData::new(y, [n]), device))
                    }
                    Stored::Values { values, n_targets, .. } => {
                        let k = *n_targets;
                        let y: Vec<f32> =
                            rows.iter().flat_map(|&r| values[r * k..(r + 1) * k].iter().copied()).collect();
                        Target::Values(Tensor::from_data(TensorData::new(y, [n, k]), device))
                    }
                };
                TaskTarget { target, present: Tensor::from_data(TensorData::new(present, [n]), device) }
            })
            .collect();
        Batch { input: Tensor::from_data(TensorData::new(x, [n, d]), device), target: Target::Tasks(tasks) }
    }

    fn all_targets(&self) -> Targets {
        Targets::Tasks(
            self.tasks
                .iter()
                .map(|t| {
                    let targets = match &t.stored {
                        Stored::Classes { codes, .. } => Targets::Classes(codes.iter().map(|&c| c as usize).collect()),
                        Stored::Values { values, n_targets, transform } => {
                            let mut values = values.clone();
                            transform.inverse(&mut values);
                            for (row, &p) in values.chunks_mut(*n_targets).zip(&t.present) {
                                if !p {
                                    row.fill(0.0);
                                }
                            }
                            Targets::Values { values, n_targets: *n_targets }
                        }
                    };
                    TaskTargets { name: t.name.clone(), targets, present: t.present.clone() }
                })
                .collect(),
        )
    }

    fn decode_predictions(&self, values: &mut [f32]) {
        let outputs = self.outputs();
        let width: usize = outputs.iter().sum();
        if width == 0 {
            return;
        }
        let mut offset = 0;
        for (t, k) in self.tasks.iter().zip(outputs) {
            if let Stored::Values { transform, .. } = &t.stored {
                let mut column: Vec<f32> =
                    values.chunks(width).flat_map(|row| row[offset..offset + k].iter().copied()).collect();
                transform.inverse(&mut column);
                for (row, decoded) in values.chunks_mut(width).zip(column.chunks(k)) {
                    row[offset..offset + k].copy_from_slice(decoded);
                }
            }
            offset += k;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tasks() -> Vec<Task> {
        vec![
            Task::new("kind", TaskLabels::Classes { codes: vec![0, 2, 1, 0], n_classes: 3 })
                .with_present(vec![true, true, false, true]),
            Task::new("size", TaskLabels::Values { values: vec![10.0, 20.0, f64::NAN, 30.0], n_targets: 1 })
                .with_present(vec![true, true, false, true]),
        ]
    }

    #[test]
    fn standardises_on_labelled_rows_and_decodes_only_value_columns() {
        let data = MultiTaskData::fit(vec![0.0; 8], 2, tasks(), TargetTransformKind::Standard).unwrap();
        assert_eq!(data.outputs(), [3, 1]);
        assert_eq!(data.labelled(), [3, 3]);
        let batch = data.batch(&[0, 1, 2, 3], &Device::flex());
        let Target::Tasks(t) = batch.target else { panic!("tasks") };
        let size = match &t[1].target {
            Target::Values(y) => y.clone().into_data().try_to_vec::<f32>().unwrap(),
            _ => panic!("values"),
        };
        // Mean 20, population std sqrt(200/3); the unlabelled row holds 0.
        let s = (200.0f32 / 3.0).sqrt();
        assert!((size[0] + 10.0 / s).abs() < 1e-6 && size[2] == 0.0 && (size[3] - 10.0 / s).abs() < 1e-6);
        let mut predictions = vec![0.2, 0.3, 0.5, 0.0, 0.1, 0.1, 0.8, 1.0];
        data.decode_predictions(&mut predictions);
        assert_eq!(&predictions[..3], [0.2, 0.3, 0.5]);
        assert!((predictions[3] - 20.0).abs() < 1e-5 && (predictions[7] - (20.0 + s)).abs() < 1e-4);
        let Targets::Tasks(all) = data.all_targets() else { panic!("tasks") };
        assert_eq!(all[1].targets, Targets::Values { values: vec![10.0, 20.0, 0.0, 30.0], n_targets: 1 });
        assert_eq!(all[0].present, [true, true, false, true]);
    }

    #[test]
    fn refuses_what_cannot_train() {
        let fit = |tasks| MultiTaskData::fit(vec![0.0; 8], 2, tasks, TargetTransformKind::Standard);
        let mut bad = tasks();
        bad[0].labels = TaskLabels::Classes { codes: vec![0, 3, 1, 0], n_classes: 3 };
        assert!(fit(bad).unwrap_err().to_string().contains("row 1: class code 3"));
        let mut nan = tasks();
        nan[1].present = vec![true; 4];
        assert!(fit(nan).unwrap_err().to_string().contains("size"));
        let mut none = tasks();
        none[1].present = vec![false; 4];
        assert!(fit(none).unwrap_err().to_string().contains("no labelled row"));
        let mut short = tasks();
        short[0].present.pop();
        assert!(fit(short).is_err());
        let data = fit(tasks()).unwrap();
        // New rows to predict: no labels, the training rows' transforms.
        let new = MultiTaskData::unlabelled(vec![0.0; 6], 2, &data.shapes()).unwrap();
        assert_eq!((new.len(), new.labelled(), new.outputs()), (3, vec![0, 0], vec![3, 1]));
        let mut p = vec![0.0; 12];
        new.decode_predictions(&mut p);
        assert!((p[3] - 20.0).abs() < 1e-5, "the mean comes back: {p:?}");
        let mut renamed = tasks();
        renamed[1].name = "mass".into();
        assert!(data.like(vec![0.0; 8], 2, renamed).is_err());
        // Validation rows may lack a task entirely.
        let mut unlabelled = tasks();
        unlabelled[1].present = vec![false; 4];
        assert_eq!(data.like(vec![0.0; 8], 2, unlabelled).unwrap().labelled(), [3, 0]);
    }
}
