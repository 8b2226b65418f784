//! The multi-task objective: one loss per task over the rows that have its
//! label, read from the task's block of the model's outputs, weighted
//! `fixed`, by learned uncertainty (Kendall, Gal & Cipolla 2018) or by dynamic
//! weight average (Liu, Johns & Davison 2019). Each task is a term of its own
//! (`train_<task>` in the history), so gradient surgery
//! ([`GradientSurgeryConfig`](crate::surgery::GradientSurgeryConfig)) can
//! treat the tasks' gradients apart.

use std::sync::{Arc, Mutex};

use anneal_data::{Target, TaskTarget};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::TrainError;
use crate::metric::{BuiltinMetric, Metric, TaskMetric};
use crate::objective::{Loss, LossTerm, Objective};
use crate::trainer::EpochRecord;

/// One task of a [`MultiTask`] objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// The task's name (its term `train_<name>`, its metrics `val_<name>_<metric>`).
    pub name: String,
    /// Its loss: cross-entropy for class targets, a regression loss for values.
    pub loss: Loss,
    /// Width of its head: classes, or numeric targets.
    pub outputs: usize,
    /// Its fixed weight (a prior factor under the adaptive weightings too).
    #[serde(default = "one")]
    pub weight: f64,
}

fn one() -> f64 {
    1.0
}

/// How a [`MultiTask`] objective weights its tasks' losses `L_k`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "method", deny_unknown_fields)]
pub enum TaskWeighting {
    /// `w_k · L_k` with each task's `weight`.
    #[default]
    Fixed,
    /// Homoscedastic uncertainty (Kendall et al. 2018): learned log-variances
    /// `s_k = log σ_k²`, read from the model's last outputs (one per task, as
    /// [`TaskUncertainty`](anneal_models::TaskUncertainty) appends them):
    /// `w_k · (exp(−s_k) · L_k + s_k / 2)` for a classification,
    /// `w_k · (exp(−s_k) · L_k / 2 + s_k / 2)` for a regression (the paper's
    /// `1/σ²` and `1/(2σ²)` with `log σ`).
    Uncertainty,
    /// Dynamic weight average (Liu et al. 2019): `w_k · λ_k · L_k` with
    /// `λ_k = K · softmax_k(r_k / temperature)`, `r_k` the ratio of task `k`'s
    /// mean training loss in the last two epochs; 1 in the first two epochs.
    Dwa {
        /// The softmax temperature (the paper's 2: larger is more even).
        temperature: f64,
    },
}

/// Several tasks trained together from one model's outputs: task `k`'s head
/// is the block of `outputs` columns after the earlier tasks'. A task's loss is
/// the mean over the batch's rows that have its label (rows without it add
/// nothing; a batch without any adds no term value or gradient for it).
///
/// ```
/// use anneal_data::{Target, TaskTarget};
/// use anneal_train::multitask::{MultiTask, TaskSpec, TaskWeighting};
/// use anneal_train::{Loss, Objective};
/// use burn::prelude::*;
///
/// let device = Device::flex();
/// let tasks = vec![
///     TaskSpec { name: "kind".into(), loss: Loss::CrossEntropy, outputs: 2, weight: 1.0 },
///     TaskSpec { name: "size".into(), loss: Loss::Mse, outputs: 1, weight: 0.5 },
/// ];
/// let objective = MultiTask::new(tasks, TaskWeighting::Fixed)?;
/// let output = Tensor::<2>::from_data([[0.0f32, 0.0, 1.0], [0.0, 0.0, 3.0]], &device);
/// let target = Target::Tasks(vec![
///     TaskTarget { target: Target::Classes(Tensor::from_data([0, 1], &device)), present: Tensor::ones([2], &device) },
///     // Only the first row has a size: (1 − 2)² = 1, weighted 0.5.
///     TaskTarget { target: Target::Values(Tensor::from_data([[2.0f32], [0.0]], &device)), present: Tensor::from_data([1.0f32, 0.0], &device) },
/// ]);
/// let terms = objective.terms(output, &target)?;
/// assert_eq!(terms[1].name, "size");
/// assert_eq!(terms[1].value.clone().into_scalar::<f32>(), 0.5);
/// assert!((terms[0].value.clone().into_scalar::<f32>() - 2f32.ln()).abs() < 1e-6);
/// # Ok::<(), anneal_train::TrainError>(())
/// ```
#[derive(Debug)]
pub struct MultiTask {
    tasks: Vec<TaskSpec>,
    weighting: TaskWeighting,
    /// The dynamic weights λ_k of the current epoch (DWA; ones otherwise).
    dynamic: Mutex<Vec<f64>>,
}

impl MultiTask {
    /// The objective of `tasks` (at least one; unique, non-empty names; heads
    /// of at least one output; positive finite weights; cross-entropy only for
    /// a classification head of two or more classes) weighted by `weighting`.
    pub fn new(tasks: Vec<TaskSpec>, weighting: TaskWeighting) -> Result<Self, TrainError> {
        if tasks.is_empty() {
            return Err(TrainError::InvalidSetting("a multi-task objective needs at least one task".into()));
        }
        for (i, t) in tasks.iter().enumerate() {
            let bad = |why: String| TrainError::InvalidSetting(format!("task `{}`: {why}", t.name));
            if t.name.is_empty() {
                return Err(TrainError::InvalidSetting(format!("task {i} has an empty name")));
            }
            if tasks[..i].iter().any(|o| o.name == t.name) {
                return Err(bad("two tasks have this name".into()));
            }
            if t.outputs == 0 {
                return Err(bad("its head needs at least one output".into()));
            }
            if t.loss.is_classification() && t.outputs < 2 {
                return Err(bad(format!("cross_entropy needs at least two classes, not {}", t.outputs)));
            }
            if !(t.weight.is_finite() && t.weight > 0.0) {
                return Err(bad(format!("weight must be a positive number, not {}", t.weight)));
            }
            t.loss.validate().map_err(|e| bad(e.to_string()))?;
        }
        if let TaskWeighting::Dwa { temperature } = weighting
            && !(temperature.is_finite() && temperature > 0.0)
        {
            return Err(TrainError::InvalidSetting(format!(
                "dwa temperature must be a positive number, not {temperature}"
            )));
        }
        let k = tasks.len();
        Ok(Self { tasks, weighting, dynamic: Mutex::new(vec![1.0; k]) })
    }

    /// The tasks, in head order.
    pub fn tasks(&self) -> &[TaskSpec] {
        &self.tasks
    }

    /// The weighting.
    pub fn weighting(&self) -> TaskWeighting {
        self.weighting
    }

    /// Width of the tasks' heads together.
    pub fn head_outputs(&self) -> usize {
        self.tasks.iter().map(|t| t.outputs).sum()
    }

    /// Outputs the model must have: the heads, and one log-variance per task
    /// under uncertainty weighting.
    pub fn model_outputs(&self) -> usize {
        self.head_outputs() + if self.weighting == TaskWeighting::Uncertainty { self.tasks.len() } else { 0 }
    }

    /// DWA's weights for the next epoch from the records of the epochs before
    /// it: `K · softmax(r / temperature)` with `r_k = L_k(t−1) / L_k(t−2)`, where
    /// `L_k(e)` is the recorded `train_<task>` divided by the recorded
    /// `task_weight_<task>` of that epoch (the unweighted task loss); ones
    /// before two epochs are recorded.
    pub fn dwa_weights(tasks: &[TaskSpec], history: &[EpochRecord], temperature: f64) -> Vec<f64> {
        let k = tasks.len();
        let [.., before, last] = history else { return vec![1.0; k] };
        let raw = |r: &EpochRecord, t: &TaskSpec| -> Option<f64> {
            let term = r.metric(&format!("train_{}", t.name))?;
            let weight = r.metric(&format!("task_weight_{}", t.name))?;
            (weight > 0.0).then_some(term / weight)
        };
        let ratios: Vec<f64> = tasks
            .iter()
            .map(|t| match (raw(last, t), raw(before, t)) {
                (Some(a), Some(b)) if b > 0.0 && a.is_finite() => a / b,
                _ => 1.0,
            })
            .collect();
        let top = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let exp: Vec<f64> = ratios.iter().map(|r| ((r - top) / temperature).exp()).collect();
        let sum: f64 = exp.iter().sum();
        exp.iter().map(|e| k as f64 * e / sum).collect()
    }

    fn dynamic(&self) -> Vec<f64> {
        self.dynamic.lock().map(|d| d.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }
}

impl Objective for MultiTask {
    fn name(&self) -> String {
        let tasks: Vec<String> = self.tasks.iter().map(|t| format!("{}: {}", t.name, t.loss.key())).collect();
        let weighting = match self.weighting {
            TaskWeighting::Fixed => "fixed weights".to_string(),
            TaskWeighting::Uncertainty => "uncertainty weighting".to_string(),
            TaskWeighting::Dwa { temperature } => format!("dynamic weight average, temperature {temperature}"),
        };
        format!("multi-task ({}; {weighting})", tasks.join(", "))
    }

    fn terms(&self, output: Tensor<2>, target: &Target) -> Result<Vec<LossTerm>, TrainError> {
        let Target::Tasks(targets) = target else {
            return Err(TrainError::InvalidSetting(
                "a multi-task objective needs multi-task targets (each task's labels and which rows have them)".into(),
            ));
        };
        if targets.len() != self.tasks.len() {
            return Err(TrainError::InvalidSetting(format!(
                "the batch has {} tasks' targets for the objective's {} tasks",
                targets.len(),
                self.tasks.len()
            )));
        }
        let [rows, width] = output.dims();
        if width != self.model_outputs() {
            return Err(TrainError::InvalidSetting(format!(
                "the model has {width} outputs, but the tasks' heads take {}{}",
                self.head_outputs(),
                if self.weighting == TaskWeighting::Uncertainty {
                    format!(" plus {} learned log-variances", self.tasks.len())
                } else {
                    String::new()
                }
            )));
        }
        let dynamic = self.dynamic();
        let heads = self.head_outputs();
        let mut offset = 0;
        let mut terms = Vec::with_capacity(self.tasks.len());
        for (k, (spec, TaskTarget { target, present })) in self.tasks.iter().zip(targets).enumerate() {
            let head = output.clone().slice([0..rows, offset..offset + spec.outputs]);
            offset += spec.outputs;
            let per_row = spec
                .loss
                .per_row(head, target)
                .map_err(|e| TrainError::InvalidSetting(format!("task `{}`: {e}", spec.name)))?;
            let labelled = present.clone().sum();
            // Mean over labelled rows; 0 (and no gradient) when the batch has none.
            let loss = (per_row * present.clone()).sum() / labelled.clone().clamp_min(1.0);
            let any = labelled.clamp_max(1.0);
            let value = match self.weighting {
                TaskWeighting::Fixed => loss.mul_scalar(spec.weight),
                TaskWeighting::Dwa { .. } => loss.mul_scalar(spec.weight * dynamic[k]),
                TaskWeighting::Uncertainty => {
                    // Every row holds the same s_k; the mean passes its gradient back whole.
                    let s = output.clone().slice([0..rows, heads + k..heads + k + 1]).mean();
                    let scale = if spec.loss.is_classification() { 1.0 } else { 0.5 };
                    (s.clone().neg().exp() * loss).mul_scalar(scale).add(s.mul_scalar(0.5)).mul_scalar(spec.weight)
                        * any
                }
            };
            terms.push(LossTerm { name: spec.name.clone(), value });
        }
        Ok(terms)
    }

    fn predict(&self, output: Tensor<2>) -> Tensor<2> {
        let rows = output.dims()[0];
        let mut offset = 0;
        let parts: Vec<Tensor<2>> = self
            .tasks
            .iter()
            .map(|t| {
                let head = output.clone().slice([0..rows, offset..offset + t.outputs]);
                offset += t.outputs;
                t.loss.predict(head)
            })
            .collect();
        Tensor::cat(parts, 1)
    }

    fn metrics(&self) -> Vec<Arc<dyn Metric>> {
        let mut offset = 0;
        let mut metrics: Vec<Arc<dyn Metric>> = Vec::new();
        for (k, t) in self.tasks.iter().enumerate() {
            let kinds: &[BuiltinMetric] = if t.loss.is_classification() {
                &BuiltinMetric::CLASSIFICATION
            } else {
                &[BuiltinMetric::R2, BuiltinMetric::Rmse, BuiltinMetric::Mae]
            };
            for &m in kinds {
                metrics.push(Arc::new(TaskMetric::new(k, t.name.clone(), offset, t.outputs, m)));
            }
            offset += t.outputs;
        }
        metrics
    }

    fn enter_epoch(&self, history: &[EpochRecord]) -> Result<(), TrainError> {
        if let TaskWeighting::Dwa { temperature } = self.weighting {
            let weights = Self::dwa_weights(&self.tasks, history, temperature);
            match self.dynamic.lock() {
                Ok(mut d) => *d = weights,
                Err(p) => *p.into_inner() = weights,
            }
        }
        Ok(())
    }

    fn epoch_metrics(&self) -> Vec<(String, f64)> {
        match self.weighting {
            TaskWeighting::Dwa { .. } => self
                .tasks
                .iter()
                .zip(self.dynamic())
                .map(|(t, l)| (format!("task_weight_{}", t.name), t.weight * l))
                .collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn specs() -> Vec<TaskSpec> {
        vec![
            TaskSpec { name: "kind".into(), loss: Loss::CrossEntropy, outputs: 3, weight: 1.0 },
            TaskSpec { name: "size".into(), loss: Loss::Mse, outputs: 1, weight: 2.0 },
        ]
    }

    fn read(t: Tensor<1>) -> Vec<f64> {
        t.into_data().convert::<f64>().try_to_vec::<f64>().unwrap()
    }

    fn target(device: &Device) -> Target {
        Target::Tasks(vec![
            TaskTarget {
                target: Target::Classes(Tensor::from_data([2, 0, 1], device)),
                present: Tensor::from_data([1.0f32, 1.0, 0.0], device),
            },
            TaskTarget {
                target: Target::Values(Tensor::from_data([[0.5f32], [0.0], [-1.0]], device)),
                present: Tensor::from_data([1.0f32, 0.0, 1.0], device),
            },
        ])
    }

    const LOGITS: [[f32; 4]; 3] = [[0.2, -0.4, 1.0, 1.5], [1.2, 0.3, -0.7, 9.0], [0.0, 0.1, 0.2, -0.5]];

    /// By hand: cross-entropy over rows 0 and 1 only, squared error over rows 0 and 2 only.
    fn hand_losses() -> (f64, f64) {
        let nll = |row: &[f32; 4], class: usize| -> f64 {
            let z: Vec<f64> = row[..3].iter().map(|&v| f64::from(v)).collect();
            z.iter().map(|v| v.exp()).sum::<f64>().ln() - z[class]
        };
        let ce = (nll(&LOGITS[0], 2) + nll(&LOGITS[1], 0)) / 2.0;
        let mse = ((1.5f64 - 0.5).powi(2) + (-0.5f64 + 1.0).powi(2)) / 2.0;
        (ce, mse)
    }

    #[test]
    fn fixed_weights_mask_unlabelled_rows() {
        let device = Device::flex();
        let objective = MultiTask::new(specs(), TaskWeighting::Fixed).unwrap();
        let terms = objective.terms(Tensor::from_data(LOGITS, &device), &target(&device)).unwrap();
        let (ce, mse) = hand_losses();
        assert!((read(terms[0].value.clone())[0] - ce).abs() < 1e-6);
        assert!((read(terms[1].value.clone())[0] - 2.0 * mse).abs() < 1e-6);
        // Predictions: the class head softmaxed, the value head as it is.
        let p = objective.predict(Tensor::from_data(LOGITS, &device)).into_data().try_to_vec::<f32>().unwrap();
        assert!((p[0] + p[1] + p[2] - 1.0).abs() < 1e-6 && p[3] == 1.5);
        assert_eq!(
            objective.metrics().iter().map(|m| m.name()).collect::<Vec<_>>(),
            ["kind_accuracy", "kind_macro_f1", "size_r2", "size_rmse", "size_mae"]
        );
    }

    /// Kendall et al.'s weighting: the value and the gradient with respect to
    /// each log-variance s against the formulas by hand (classification:
    /// d/ds [exp(−s)·L + s/2] = −exp(−s)·L + 1/2; regression:
    /// d/ds [exp(−s)·L/2 + s/2] = −exp(−s)·L/2 + 1/2; both times the weight).
    #[test]
    fn uncertainty_gradient_is_the_hand_computed_one() {
        let device = Device::flex().autodiff();
        let objective = MultiTask::new(specs(), TaskWeighting::Uncertainty).unwrap();
        assert_eq!(objective.model_outputs(), 6);
        let (s0, s1) = (0.3f32, -0.8f32);
        let rows: Vec<[f32; 6]> = LOGITS.iter().map(|r| [r[0], r[1], r[2], r[3], s0, s1]).collect();
        let output = Tensor::<2>::from_data([rows[0], rows[1], rows[2]], &device).require_grad();
        let terms = objective.terms(output.clone(), &target(&device)).unwrap();
        let (ce, mse) = hand_losses();
        let (s0, s1) = (f64::from(s0), f64::from(s1));
        let want0 = (-s0).exp() * ce + s0 / 2.0;
        let want1 = 2.0 * ((-s1).exp() * mse / 2.0 + s1 / 2.0);
        assert!((read(terms[0].value.clone().inner())[0] - want0).abs() < 1e-5);
        assert!((read(terms[1].value.clone().inner())[0] - want1).abs() < 1e-5);
        let total = terms[0].value.clone() + terms[1].value.clone();
        let grads = total.backward();
        let g = output.grad(&grads).unwrap().into_data().convert::<f64>().try_to_vec::<f64>().unwrap();
        let d_s0: f64 = (0..3).map(|r| g[r * 6 + 4]).sum();
        let d_s1: f64 = (0..3).map(|r| g[r * 6 + 5]).sum();
        assert!((d_s0 - (-(-s0).exp() * ce + 0.5)).abs() < 1e-5, "{d_s0}");
        assert!((d_s1 - 2.0 * (-(-s1).exp() * mse / 2.0 + 0.5)).abs() < 1e-5, "{d_s1}");
        // The value head's gradient: weight · exp(−s) / 2 · 2(ŷ − y) / labelled rows, row 1 unlabelled.
        let scale = 2.0 * (-s1).exp() / 2.0;
        assert!((g[3] - scale * 2.0 * (1.5 - 0.5) / 2.0).abs() < 1e-5 && g[6 + 3] == 0.0);
    }

    #[test]
    fn dwa_weights_follow_the_loss_ratios() {
        let record = |epoch: usize, kind: f64, size: f64, weights: (f64, f64)| {
            let metrics = BTreeMap::from([
                ("train_kind".to_string(), kind * weights.0),
                ("train_size".to_string(), size * weights.1),
                ("task_weight_kind".to_string(), weights.0),
                ("task_weight_size".to_string(), 2.0 * weights.1 / 2.0),
            ]);
            EpochRecord { epoch, train_loss: 0.0, learning_rate: 0.0, seconds: 0.0, gradient_norms: None, metrics }
        };
        let tasks = specs();
        assert_eq!(MultiTask::dwa_weights(&tasks, &[record(1, 1.0, 1.0, (1.0, 1.0))], 2.0), [1.0, 1.0]);
        // kind fell from 1.0 to 0.5 (r = 0.5), size stayed (r = 1): λ = 2·softmax([0.25, 0.5]).
        let history = [record(1, 1.0, 1.0, (1.0, 1.0)), record(2, 0.5, 1.0, (0.7, 1.3))];
        let w = MultiTask::dwa_weights(&tasks, &history, 2.0);
        let (a, b) = (0.25f64.exp(), 0.5f64.exp());
        assert!((w[0] - 2.0 * a / (a + b)).abs() < 1e-12 && (w[1] - 2.0 * b / (a + b)).abs() < 1e-12, "{w:?}");
        let objective = MultiTask::new(tasks, TaskWeighting::Dwa { temperature: 2.0 }).unwrap();
        objective.enter_epoch(&history).unwrap();
        let recorded = objective.epoch_metrics();
        assert_eq!(recorded[1].0, "task_weight_size");
        assert!((recorded[1].1 - 2.0 * w[1]).abs() < 1e-12);
    }

    #[test]
    fn refuses_bad_tasks_and_outputs() {
        let mut dup = specs();
        dup[1].name = "kind".into();
        assert!(MultiTask::new(dup, TaskWeighting::Fixed).unwrap_err().to_string().contains("two tasks"));
        let mut one_class = specs();
        one_class[0].outputs = 1;
        assert!(MultiTask::new(one_class, TaskWeighting::Fixed).is_err());
        assert!(MultiTask::new(specs(), TaskWeighting::Dwa { temperature: 0.0 }).is_err());
        let device = Device::flex();
        let objective = MultiTask::new(specs(), TaskWeighting::Uncertainty).unwrap();
        let err = objective.terms(Tensor::from_data(LOGITS, &device), &target(&device)).unwrap_err();
        assert!(err.to_string().contains("plus 2 learned log-variances"), "{err}");
        let plain = Target::Classes(Tensor::from_data([0, 1, 2], &device));
        assert!(objective.terms(Tensor::zeros([3, 6], &device), &plain).is_err());
        let mut wrong = specs();
        wrong[0].loss = Loss::Mse;
        wrong[0].outputs = 3;
        let err = MultiTask::new(wrong, TaskWeighting::Fixed)
            .unwrap()
            .terms(Tensor::from_data(LOGITS, &device), &target(&device))
            .unwrap_err();
        assert!(err.to_string().contains("task `kind`"), "{err}");
    }

    /// Each loss's rows average to its batch value.
    #[test]
    fn per_row_losses_average_to_the_batch_loss() {
        let device = Device::flex();
        let output = Tensor::<2>::from_data([[0.5f32, -2.0], [3.0, 0.1], [-0.4, 0.9]], &device);
        let values = Target::Values(Tensor::from_data([[1.0f32, 0.0], [0.5, 0.3], [-2.0, 2.0]], &device));
        for loss in [Loss::Mse, Loss::Mae, Loss::Huber { delta: 1.0 }, Loss::Poisson] {
            let rows = read(loss.per_row(output.clone(), &values).unwrap());
            let batch = read(loss.terms(output.clone(), &values).unwrap()[0].value.clone())[0];
            assert!((rows.iter().sum::<f64>() / 3.0 - batch).abs() < 1e-5, "{loss:?}");
        }
        let classes = Target::Classes(Tensor::from_data([1, 0, 1], &device));
        let rows = read(Loss::CrossEntropy.per_row(output.clone(), &classes).unwrap());
        let batch = read(Loss::CrossEntropy.terms(output, &classes).unwrap()[0].value.clone())[0];
        assert!((rows.iter().sum::<f64>() / 3.0 - batch).abs() < 1e-5);
    }
}
