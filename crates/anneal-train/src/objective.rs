//! What training minimises: an [`Objective`] turns a batch's outputs and targets
//! into named loss terms, whose sum is what back-propagates. [`Loss`] holds the
//! built-in ones (cross-entropy, MSE, MAE, Huber, Poisson); a distillation term,
//! per-task losses or a preference loss are further objectives, each term logged
//! on its own (`train_<term>`) beside the total `train_loss`.

use std::sync::Arc;

use anneal_data::Target;
use burn::nn::loss::{CrossEntropyLossConfig, HuberLossConfig, MseLoss, Reduction};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::TrainError;
use crate::metric::Metric;
use crate::trainer::EpochRecord;

/// One named term of an objective: a scalar tensor `[1]` on the batch's device.
#[derive(Debug, Clone)]
pub struct LossTerm {
    /// The term's name (`cross_entropy`, `mse`, `distillation`): recorded per
    /// epoch as `train_<name>` when an objective has more than one term.
    pub name: String,
    /// The term's value, a mean over the batch.
    pub value: Tensor<1>,
}

/// What the loop minimises.
///
/// ```
/// use anneal_data::Target;
/// use anneal_train::{Loss, Objective};
/// use burn::prelude::*;
///
/// let device = Device::flex();
/// let output = Tensor::<2>::from_data([[1.0f32], [3.0]], &device);
/// let target = Target::Values(Tensor::from_data([[0.0f32], [1.0]], &device));
/// let terms = Loss::Mse.terms(output, &target)?;
/// assert_eq!(terms[0].name, "mse");
/// assert_eq!(terms[0].value.clone().into_scalar::<f32>(), 2.5); // (1 + 4) / 2
/// # Ok::<(), anneal_train::TrainError>(())
/// ```
pub trait Objective: Send + Sync {
    /// The objective's name, for reports (`cross_entropy`, `huber`).
    fn name(&self) -> String;

    /// The loss terms of a batch: `output` is the model's `[batch, outputs]`,
    /// `target` the batch's targets. The loop back-propagates their sum.
    fn terms(&self, output: Tensor<2>, target: &Target) -> Result<Vec<LossTerm>, TrainError>;

    /// Turns raw outputs into predictions in the target's training units: class
    /// probabilities for a classifier (softmax), the rate `exp(output)` for a
    /// Poisson model, the outputs themselves for the other regression losses.
    fn predict(&self, output: Tensor<2>) -> Tensor<2> {
        output
    }

    /// Each row's loss `[batch]`, for samplers that rank rows by the model's
    /// current loss (self-paced learning); `None` when the objective has no
    /// per-row form (the default).
    fn per_row(&self, output: Tensor<2>, target: &Target) -> Result<Option<Tensor<1>>, TrainError> {
        let _ = (output, target);
        Ok(None)
    }

    /// Metrics of the objective's own that the loop records beside the
    /// built-in ones (a multi-task objective's per-task scores). None by default.
    fn metrics(&self) -> Vec<Arc<dyn Metric>> {
        Vec::new()
    }

    /// Called at the start of every epoch with the records of the epochs before
    /// it (a resumed run's too), for objectives that adapt from them (dynamic
    /// weight average). Does nothing by default.
    fn enter_epoch(&self, history: &[EpochRecord]) -> Result<(), TrainError> {
        let _ = history;
        Ok(())
    }

    /// Values the loop records in the epoch's history at its end, by name (a
    /// multi-task objective's task weights). None by default.
    fn epoch_metrics(&self) -> Vec<(String, f64)> {
        Vec::new()
    }
}

/// A boxed objective is one, so the choice between objectives can be made at run time.
impl<T: Objective + ?Sized> Objective for Box<T> {
    fn name(&self) -> String {
        (**self).name()
    }

    fn terms(&self, output: Tensor<2>, target: &Target) -> Result<Vec<LossTerm>, TrainError> {
        (**self).terms(output, target)
    }

    fn predict(&self, output: Tensor<2>) -> Tensor<2> {
        (**self).predict(output)
    }

    fn per_row(&self, output: Tensor<2>, target: &Target) -> Result<Option<Tensor<1>>, TrainError> {
        (**self).per_row(output, target)
    }

    fn metrics(&self) -> Vec<Arc<dyn Metric>> {
        (**self).metrics()
    }

    fn enter_epoch(&self, history: &[EpochRecord]) -> Result<(), TrainError> {
        (**self).enter_epoch(history)
    }

    fn epoch_metrics(&self) -> Vec<(String, f64)> {
        (**self).epoch_metrics()
    }
}

/// The built-in losses, as `[training] loss = "..."` names them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Softmax cross-entropy of class targets (the classification default).
    CrossEntropy,
    /// Mean squared error (the regression default).
    Mse,
    /// Mean absolute error: robust to outliers, predicts the conditional median.
    Mae,
    /// Huber: squared below `delta`, linear above (PyTorch's `HuberLoss(delta)`).
    Huber {
        /// Where the loss turns from squared to linear (in training units: for
        /// the default standardised target, standard deviations).
        delta: f64,
    },
    /// Poisson negative log-likelihood for counts, with the output as the log
    /// rate: `exp(output) − y·output` (PyTorch's `PoissonNLLLoss(log_input=True)`
    /// without the constant Stirling term). Predictions are `exp(output)`.
    Poisson,
}

impl Loss {
    /// The term's name (`cross_entropy`, `mse`, `mae`, `huber`, `poisson`).
    pub fn key(&self) -> &'static str {
        match self {
            Loss::CrossEntropy => "cross_entropy",
            Loss::Mse => "mse",
            Loss::Mae => "mae",
            Loss::Huber { .. } => "huber",
            Loss::Poisson => "poisson",
        }
    }

    /// Whether the loss trains on class targets (else on values).
    pub fn is_classification(&self) -> bool {
        matches!(self, Loss::CrossEntropy)
    }

    /// Each row's loss `[batch]` (the mean over a row's targets for the
    /// regression losses): what a masked mean over the rows that have a label
    /// (multi-task learning) averages. The mean of these is [`terms`](Objective::terms)' value.
    pub fn per_row(&self, output: Tensor<2>, target: &Target) -> Result<Tensor<1>, TrainError> {
        let per_row = |t: Tensor<2>| -> Tensor<1> { t.mean_dim(1).flatten(0, 1) };
        Ok(match (self, target) {
            (Loss::CrossEntropy, Target::Classes(y)) => {
                let log_p = burn::tensor::activation::log_softmax(output, 1);
                -log_p.gather(1, y.clone().unsqueeze_dim(1)).flatten(0, 1)
            }
            (Loss::Mse, Target::Values(y)) => per_row((output - y.clone()).powf_scalar(2.0)),
            (Loss::Mae, Target::Values(y)) => per_row((output - y.clone()).abs()),
            (Loss::Huber { delta }, Target::Values(y)) => {
                let d = *delta as f32;
                let abs = (output - y.clone()).abs();
                let quadratic = abs.clone().powf_scalar(2.0).mul_scalar(0.5);
                let linear = abs.clone().sub_scalar(0.5 * d).mul_scalar(d);
                per_row(quadratic.mask_where(abs.greater_elem(d), linear))
            }
            (Loss::Poisson, Target::Values(y)) => per_row(output.clone().exp() - y.clone() * output),
            (loss, target) => {
                return Err(TrainError::InvalidSetting(format!(
                    "loss `{}` does not take {} targets row by row",
                    loss.key(),
                    match target {
                        Target::Classes(_) => "class",
                        Target::Values(_) => "numeric",
                        Target::Mixed { .. } => "mixed",
                        Target::Taught { .. } => "taught",
                        Target::Tasks(_) => "multi-task",
                    }
                )));
            }
        })
    }

    /// Checks the loss's own settings.
    pub fn validate(&self) -> Result<(), TrainError> {
        match self {
            Loss::Huber { delta } if !(delta.is_finite() && *delta > 0.0) => {
                Err(TrainError::InvalidSetting(format!("huber_delta must be a positive number, not {delta}")))
            }
            _ => Ok(()),
        }
    }
}

impl Objective for Loss {
    fn name(&self) -> String {
        self.key().to_string()
    }

    fn terms(&self, output: Tensor<2>, target: &Target) -> Result<Vec<LossTerm>, TrainError> {
        let value = match (self, target) {
            (Loss::CrossEntropy, Target::Classes(y)) => {
                CrossEntropyLossConfig::new().init(&output.device()).forward(output, y.clone())
            }
            (Loss::Mse, Target::Values(y)) => MseLoss::new().forward(output, y.clone(), Reduction::Mean),
            (Loss::Mae, Target::Values(y)) => (output - y.clone()).abs().mean(),
            (Loss::Huber { delta }, Target::Values(y)) => {
                HuberLossConfig::new(*delta as f32).init().forward(output, y.clone(), Reduction::Mean)
            }
            (Loss::Poisson, Target::Values(y)) => (output.clone().exp() - y.clone() * output).mean(),
            (Loss::CrossEntropy, Target::Mixed { first, second, weight }) => {
                mixed_cross_entropy(output, first, second, weight, None)
            }
            (_, Target::Taught { .. }) => return Err(taught_without_distillation()),
            (_, Target::Tasks(_)) => return Err(tasks_without_multitask()),
            (loss, Target::Classes(_) | Target::Mixed { .. }) => {
                return Err(TrainError::InvalidSetting(format!(
                    "loss `{}` is a regression loss, but the targets are classes (use cross_entropy)",
                    loss.key()
                )));
            }
            (Loss::CrossEntropy, Target::Values(_)) => {
                return Err(TrainError::InvalidSetting(
                    "loss `cross_entropy` needs class targets, but the targets are numeric values".into(),
                ));
            }
        };
        Ok(vec![LossTerm { name: self.key().to_string(), value }])
    }

    fn predict(&self, output: Tensor<2>) -> Tensor<2> {
        match self {
            Loss::CrossEntropy => burn::tensor::activation::softmax(output, 1),
            Loss::Poisson => output.exp(),
            _ => output,
        }
    }

    fn per_row(&self, output: Tensor<2>, target: &Target) -> Result<Option<Tensor<1>>, TrainError> {
        Loss::per_row(self, output, target).map(Some)
    }
}

fn tasks_without_multitask() -> TrainError {
    TrainError::InvalidSetting(
        "the targets are several tasks', which only a multi-task objective reads (it says each task's loss and \
         outputs)"
            .into(),
    )
}

/// What [`default_objective`](crate::default_objective) gives multi-task data:
/// it refuses every batch, since only a [`MultiTask`] knows each task's loss
/// and head.
pub(crate) struct NoMultiTaskObjective;

impl Objective for NoMultiTaskObjective {
    fn name(&self) -> String {
        "none (multi-task data needs a multi-task objective)".into()
    }

    fn terms(&self, _output: Tensor<2>, _target: &Target) -> Result<Vec<LossTerm>, TrainError> {
        Err(tasks_without_multitask())
    }
}

fn taught_without_distillation() -> TrainError {
    TrainError::InvalidSetting(
        "the targets carry a teacher's outputs, which only the distillation objective reads (a plain loss would \
         ignore them)"
            .into(),
    )
}

/// Knowledge distillation (Hinton et al., 2015): the student learns from a
/// teacher's softened distribution and from the labels,
/// `α·T²·KL(softmax(t/T) ‖ softmax(s/T)) + (1 − α)·hard(s, y)`, the KL term
/// averaged over the batch's rows as PyTorch's `kl_div(..., reduction="batchmean")`
/// and scaled by `T²` so its gradients keep their size as `T` changes. `hard` is
/// the run's own classification loss (cross-entropy, class-weighted or not).
/// Batches whose targets carry no teacher ([`Target::Classes`]: validation)
/// get the hard loss alone, so `val_loss` stays the task's loss.
///
/// ```
/// use anneal_data::Target;
/// use anneal_train::{Distillation, Loss, Objective};
/// use burn::prelude::*;
///
/// let device = Device::flex();
/// let student = Tensor::<2>::from_data([[1.0f32, 0.0], [0.0, 1.0]], &device);
/// // A teacher that agrees with the student: no distillation loss.
/// let target = Target::Taught { classes: Tensor::from_data([0, 1], &device), teacher: student.clone() };
/// let kd = Distillation::new(Box::new(Loss::CrossEntropy), 2.0, 1.0)?;
/// let terms = kd.terms(student, &target)?;
/// assert_eq!(terms[0].name, "distillation");
/// assert!(terms[0].value.clone().into_scalar::<f32>().abs() < 1e-6);
/// # Ok::<(), anneal_train::TrainError>(())
/// ```
pub struct Distillation {
    hard: Box<dyn Objective>,
    temperature: f64,
    alpha: f64,
}

impl Distillation {
    /// Distillation at `temperature` (> 0) with weight `alpha` (in `[0, 1]`) on
    /// the soft term and `1 − alpha` on `hard`.
    pub fn new(hard: Box<dyn Objective>, temperature: f64, alpha: f64) -> Result<Self, TrainError> {
        if !(temperature.is_finite() && temperature > 0.0) {
            return Err(TrainError::InvalidSetting(format!(
                "distillation temperature must be a positive number, not {temperature}"
            )));
        }
        if !(0.0..=1.0).contains(&alpha) {
            return Err(TrainError::InvalidSetting(format!(
                "distillation alpha (the soft targets' weight) must be in [0, 1], not {alpha}"
            )));
        }
        Ok(Self { hard, temperature, alpha })
    }

    /// `T²·KL(softmax(teacher/T) ‖ softmax(student/T))`, averaged over the rows.
    pub fn soft_loss(&self, student: Tensor<2>, teacher: Tensor<2>) -> Tensor<1> {
        use burn::tensor::activation::log_softmax;
        let t = self.temperature;
        let rows = student.dims()[0].max(1) as f64;
        let log_p = log_softmax(teacher.div_scalar(t), 1);
        let log_q = log_softmax(student.div_scalar(t), 1);
        (log_p.clone().exp() * (log_p - log_q)).sum().mul_scalar(t * t / rows)
    }
}

impl Objective for Distillation {
    fn name(&self) -> String {
        format!("distillation (T = {}, alpha = {}) + {}", self.temperature, self.alpha, self.hard.name())
    }

    fn terms(&self, output: Tensor<2>, target: &Target) -> Result<Vec<LossTerm>, TrainError> {
        let Target::Taught { classes, teacher } = target else { return self.hard.terms(output, target) };
        if teacher.dims() != output.dims() {
            return Err(TrainError::InvalidSetting(format!(
                "the teacher's outputs are {:?} for the student's {:?}: teacher and student must predict the same classes",
                teacher.dims(),
                output.dims()
            )));
        }
        let soft = LossTerm {
            name: "distillation".into(),
            value: self.soft_loss(output.clone(), teacher.clone()).mul_scalar(self.alpha),
        };
        let mut terms = vec![soft];
        if self.alpha < 1.0 {
            for mut term in self.hard.terms(output, &Target::Classes(classes.clone()))? {
                term.value = term.value.mul_scalar(1.0 - self.alpha);
                terms.push(term);
            }
        }
        Ok(terms)
    }

    fn predict(&self, output: Tensor<2>) -> Tensor<2> {
        self.hard.predict(output)
    }

    /// The hard loss of each row (the labels' part), as validation scores it.
    fn per_row(&self, output: Tensor<2>, target: &Target) -> Result<Option<Tensor<1>>, TrainError> {
        match target {
            Target::Taught { classes, .. } => self.hard.per_row(output, &Target::Classes(classes.clone())),
            other => self.hard.per_row(output, other),
        }
    }
}

/// Attaches a teacher's outputs to training batches: each row's stored
/// log-probabilities (computed once, before training, by a frozen teacher) join
/// its class code in a [`Target::Taught`]. Rows are the training dataset's.
#[derive(Debug, Clone)]
pub struct TeacherTargets {
    log_probs: Vec<f32>,
    classes: usize,
}

impl TeacherTargets {
    /// `log_probs`: row-major, `classes` values per training row.
    pub fn new(log_probs: Vec<f32>, classes: usize) -> Result<Self, TrainError> {
        if classes == 0 || !log_probs.len().is_multiple_of(classes) {
            return Err(TrainError::InvalidSetting(format!(
                "{} teacher values do not make rows of {classes} classes",
                log_probs.len()
            )));
        }
        if let Some(i) = log_probs.iter().position(|v| !v.is_finite()) {
            return Err(TrainError::InvalidSetting(format!(
                "the teacher's output for training row {} is {}",
                i / classes,
                log_probs[i]
            )));
        }
        Ok(Self { log_probs, classes })
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.log_probs.len() / self.classes
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.log_probs.is_empty()
    }
}

impl anneal_data::BatchAugment<Tensor<2>> for TeacherTargets {
    fn augment(
        &self,
        batch: anneal_data::Batch<Tensor<2>>,
        rows: &[usize],
        _epoch: usize,
    ) -> anneal_data::Result<anneal_data::Batch<Tensor<2>>> {
        let classes = match batch.target {
            Target::Classes(y) => y,
            Target::Mixed { .. } => {
                return Err(anneal_data::DataError::InvalidParameter(
                    "distillation takes each row's own class, but mixup or cutmix mixed them".into(),
                ));
            }
            other => {
                return Err(anneal_data::DataError::InvalidParameter(format!(
                    "distillation takes class targets, not {}",
                    match other {
                        Target::Values(_) => "numeric values",
                        _ => "targets that already carry a teacher",
                    }
                )));
            }
        };
        let k = self.classes;
        let mut values = Vec::with_capacity(rows.len() * k);
        for &r in rows {
            let row = self.log_probs.get(r * k..(r + 1) * k).ok_or_else(|| {
                anneal_data::DataError::InvalidParameter(format!("no teacher output for training row {r}"))
            })?;
            values.extend_from_slice(row);
        }
        let teacher = Tensor::from_data(TensorData::new(values, [rows.len(), k]), &classes.device());
        Ok(anneal_data::Batch { input: batch.input, target: Target::Taught { classes, teacher } })
    }
}

/// Softmax cross-entropy with a weight per class, as PyTorch's
/// `CrossEntropyLoss(weight=w)`: `Σ w[y_i]·ℓ_i / Σ w[y_i]` over the batch, so a rare
/// class counts as much as a frequent one when its weight is larger. Predictions
/// are the softmax, as for [`Loss::CrossEntropy`].
///
/// ```
/// use anneal_data::Target;
/// use anneal_train::{Objective, WeightedCrossEntropy};
/// use burn::prelude::*;
///
/// let device = Device::flex();
/// let logits = Tensor::<2>::from_data([[1.0f32, 2.0], [3.0, 0.0]], &device);
/// let target = Target::Classes(Tensor::from_data([1, 0], &device));
/// let loss = WeightedCrossEntropy::new(vec![1.0, 3.0])?.terms(logits, &target)?;
/// // (3·ln(1 + e⁻¹) + 1·ln(1 + e⁻³)) / (3 + 1), PyTorch's value.
/// assert!((loss[0].value.clone().into_scalar::<f32>() - 0.247_092).abs() < 1e-5);
/// # Ok::<(), anneal_train::TrainError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct WeightedCrossEntropy {
    weights: Vec<f32>,
}

impl WeightedCrossEntropy {
    /// One weight per class, in class-code order; each must be positive and finite.
    pub fn new(weights: Vec<f32>) -> Result<Self, TrainError> {
        if let Some((class, w)) = weights.iter().enumerate().find(|(_, w)| !(w.is_finite() && **w > 0.0)) {
            return Err(TrainError::InvalidSetting(format!(
                "class weight {w} (class {class}) is not a positive number"
            )));
        }
        if weights.is_empty() {
            return Err(TrainError::InvalidSetting("class weights: none given".into()));
        }
        Ok(Self { weights })
    }

    /// scikit-learn's `class_weight="balanced"`: `n / (k · count_c)` for `k` classes
    /// over the class codes `codes` (a class absent from them gets weight 1; it never
    /// occurs in the loss).
    pub fn balanced(codes: &[usize], classes: usize) -> Result<Self, TrainError> {
        let mut counts = vec![0usize; classes];
        for &c in codes {
            match counts.get_mut(c) {
                Some(n) => *n += 1,
                None => {
                    return Err(TrainError::InvalidSetting(format!(
                        "class code {c} is out of range for {classes} classes"
                    )));
                }
            }
        }
        let n = codes.len() as f64;
        Self::new(counts.iter().map(|&k| if k == 0 { 1.0 } else { (n / (classes as f64 * k as f64)) as f32 }).collect())
    }

    /// The weights, in class-code order.
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }
}

impl Objective for WeightedCrossEntropy {
    fn name(&self) -> String {
        "cross_entropy".into()
    }

    fn terms(&self, output: Tensor<2>, target: &Target) -> Result<Vec<LossTerm>, TrainError> {
        if output.dims()[1] != self.weights.len() {
            return Err(TrainError::InvalidSetting(format!(
                "{} class weights for a model with {} outputs",
                self.weights.len(),
                output.dims()[1]
            )));
        }
        let value = match target {
            Target::Classes(y) => CrossEntropyLossConfig::new()
                .with_weights(Some(self.weights.clone()))
                .init(&output.device())
                .forward(output, y.clone()),
            Target::Mixed { first, second, weight } => {
                mixed_cross_entropy(output, first, second, weight, Some(&self.weights))
            }
            Target::Values(_) => {
                return Err(TrainError::InvalidSetting(
                    "class weights need class targets, but the targets are numeric values".into(),
                ));
            }
            Target::Taught { .. } => return Err(taught_without_distillation()),
            Target::Tasks(_) => return Err(tasks_without_multitask()),
        };
        Ok(vec![LossTerm { name: "cross_entropy".into(), value }])
    }

    fn predict(&self, output: Tensor<2>) -> Tensor<2> {
        burn::tensor::activation::softmax(output, 1)
    }

    /// Each row's cross-entropy times its class's weight.
    fn per_row(&self, output: Tensor<2>, target: &Target) -> Result<Option<Tensor<1>>, TrainError> {
        let Target::Classes(y) = target else {
            return Err(TrainError::InvalidSetting("class weights need class targets row by row".into()));
        };
        let device = output.device();
        let nll = Loss::CrossEntropy.per_row(output, target)?;
        let table = Tensor::<1>::from_data(TensorData::new(self.weights.clone(), [self.weights.len()]), &device);
        Ok(Some(nll * table.select(0, y.clone())))
    }
}

/// Cross-entropy of mixed targets (mixup, CutMix): each row's
/// `weight · nll(first) + (1 − weight) · nll(second)`, averaged over the rows; with
/// class weights each term is weighted by its class's weight and the sum divided by
/// the sum of the weights used, as PyTorch's weighted mean does (so a weight of 1
/// gives exactly the unmixed loss).
fn mixed_cross_entropy(
    output: Tensor<2>,
    first: &Tensor<1, Int>,
    second: &Tensor<1, Int>,
    weight: &Tensor<1>,
    class_weights: Option<&[f32]>,
) -> Tensor<1> {
    let device = output.device();
    let log_p = burn::tensor::activation::log_softmax(output, 1);
    let nll = |y: &Tensor<1, Int>| -> Tensor<1> { -log_p.clone().gather(1, y.clone().unsqueeze_dim(1)).flatten(0, 1) };
    let (a, b) = (nll(first), nll(second));
    let rest = weight.clone().neg().add_scalar(1.0);
    match class_weights {
        None => (a * weight.clone() + b * rest).mean(),
        Some(w) => {
            let table = Tensor::<1>::from_data(TensorData::new(w.to_vec(), [w.len()]), &device);
            let (wa, wb) = (table.clone().select(0, first.clone()), table.select(0, second.clone()));
            let (wa, wb) = (wa * weight.clone(), wb * rest);
            (a * wa.clone() + b * wb.clone()).sum() / (wa + wb).sum()
        }
    }
}

/// The sum of an objective's terms: what back-propagates (an error when it
/// returned none).
pub fn total(terms: &[LossTerm]) -> Result<Tensor<1>, TrainError> {
    terms
        .iter()
        .map(|t| t.value.clone())
        .reduce(|a, b| a + b)
        .ok_or_else(|| TrainError::InvalidSetting("the objective returned no loss term".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// scikit-learn: compute_class_weight("balanced", classes=[0, 1, 2], y=[0, 0, 0, 1])
    /// is [0.6667, 2.0] for the two present classes; the absent one gets 1 here.
    #[test]
    fn balanced_weights_are_scikit_learns() {
        let w = WeightedCrossEntropy::balanced(&[0, 0, 0, 1], 3).unwrap();
        assert_eq!(w.weights(), [4.0 / 9.0, 4.0 / 3.0, 1.0]);
        let two = WeightedCrossEntropy::balanced(&[0, 0, 0, 1], 2).unwrap();
        assert!((two.weights()[0] - 0.666_666_7).abs() < 1e-6 && two.weights()[1] == 2.0);
        assert!(WeightedCrossEntropy::balanced(&[3], 2).is_err());
        assert!(WeightedCrossEntropy::new(vec![1.0, 0.0]).unwrap_err().to_string().contains("class 1"));
    }

    fn scalar(t: &Tensor<1>) -> f64 {
        f64::from(t.to_data().convert::<f32>().try_to_vec::<f32>().unwrap()[0])
    }

    /// Mixed targets: each row's loss is weight · nll(first) + (1 − weight) ·
    /// nll(second), computed here by hand from the softmax; with class weights
    /// the weighted mean, and with every weight 1 exactly the unmixed loss.
    #[test]
    fn mixed_targets_mix_the_two_classes_losses() {
        let device = Device::flex();
        let logits = [[2.0f32, 0.5, -1.0], [0.1, 0.2, 0.3]];
        let output = Tensor::<2>::from_data(logits, &device);
        let first = Tensor::<1, Int>::from_data([0, 2], &device);
        let second = Tensor::<1, Int>::from_data([1, 0], &device);
        let weight = Tensor::<1>::from_data([0.7f32, 0.25], &device);
        let nll = |row: usize, class: usize| -> f64 {
            let z: Vec<f64> = logits[row].iter().map(|&v| f64::from(v)).collect();
            let log_sum = z.iter().map(|v| v.exp()).sum::<f64>().ln();
            log_sum - z[class]
        };
        let mixed = Target::Mixed { first: first.clone(), second: second.clone(), weight: weight.clone() };
        let got = scalar(&Loss::CrossEntropy.terms(output.clone(), &mixed).unwrap()[0].value);
        let want = (0.7 * nll(0, 0) + 0.3 * nll(0, 1) + 0.25 * nll(1, 2) + 0.75 * nll(1, 0)) / 2.0;
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");

        let cw = [1.0f64, 2.0, 3.0];
        let weighted = WeightedCrossEntropy::new(vec![1.0, 2.0, 3.0]).unwrap();
        let got = scalar(&weighted.terms(output.clone(), &mixed).unwrap()[0].value);
        let parts =
            [(0.7 * cw[0], nll(0, 0)), (0.3 * cw[1], nll(0, 1)), (0.25 * cw[2], nll(1, 2)), (0.75 * cw[0], nll(1, 0))];
        let want = parts.iter().map(|(w, l)| w * l).sum::<f64>() / parts.iter().map(|(w, _)| w).sum::<f64>();
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");

        let ones = Target::Mixed { first: first.clone(), second, weight: Tensor::<1>::ones([2], &device) };
        for objective in [&Loss::CrossEntropy as &dyn Objective, &weighted] {
            let mixed = scalar(&objective.terms(output.clone(), &ones).unwrap()[0].value);
            let plain = scalar(&objective.terms(output.clone(), &Target::Classes(first.clone())).unwrap()[0].value);
            assert!((mixed - plain).abs() < 1e-6, "{mixed} vs {plain}");
        }
        assert!(Loss::Mse.terms(output, &ones).is_err());
    }
}
