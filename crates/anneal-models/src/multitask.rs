//! Multi-task models: one shared trunk and one head per task. Any model whose
//! output layer has the tasks' outputs side by side is one (each task's head is
//! its block of rows of the output layer, so tasks share everything below it);
//! [`TaskUncertainty`] adds the learned per-task log-variances of uncertainty
//! weighting (Kendall, Gal & Cipolla 2018).

use burn::module::Param;
use burn::prelude::*;

use crate::model::Model;

/// A model plus one learned log-variance `s_k = log σ_k²` per task, appended
/// to its outputs as `tasks` more columns (every row holds the same values), so
/// that a multi-task objective can weight each task's loss by `exp(−s_k)` and
/// the optimiser, checkpoints and backends treat the variances as the model's
/// own parameters. They start at 0 (every task weighted 1).
///
/// ```
/// use anneal_models::{ActivationKind, MlpConfig, Model, TaskUncertainty};
/// use burn::prelude::*;
///
/// let device = Device::flex();
/// let trunk = MlpConfig { input: 4, hidden: vec![8], output: 3 + 1, activation: ActivationKind::Relu, dropout: 0.0, layer_dropout: vec![] }.init(1, &device)?;
/// let model = TaskUncertainty::new(trunk, 2, &device);
/// assert_eq!(model.forward(Tensor::zeros([5, 4], &device)).dims(), [5, 3 + 1 + 2]);
/// assert_eq!(model.log_variances(), [0.0, 0.0]);
/// # Ok::<(), anneal_models::ModelError>(())
/// ```
#[derive(Module, Debug)]
pub struct TaskUncertainty<M: Module> {
    /// The model whose outputs are the tasks' heads side by side.
    pub model: M,
    log_vars: Param<Tensor<1>>,
}

impl<M: Model> TaskUncertainty<M> {
    /// `model` with `tasks` log-variances, all 0, on `device`.
    pub fn new(model: M, tasks: usize, device: &Device) -> Self {
        Self { model, log_vars: Param::from_tensor(Tensor::zeros([tasks], device)) }
    }

    /// The current log-variances `s_k`, in task order.
    pub fn log_variances(&self) -> Vec<f32> {
        self.log_vars.val().into_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default()
    }
}

impl<M: Model + burn::module::ModuleDisplay> Model for TaskUncertainty<M> {
    type Input = M::Input;

    fn forward(&self, input: M::Input) -> Tensor<2> {
        let output = self.model.forward(input);
        let [rows, _] = output.dims();
        let tasks = self.log_vars.dims()[0];
        let scales = self.log_vars.val().unsqueeze_dim::<2>(0).expand([rows, tasks]);
        Tensor::cat(vec![output, scales], 1)
    }

    fn rng_state(&self) -> Vec<u64> {
        self.model.rng_state()
    }

    fn set_rng_state(&self, state: &[u64]) {
        self.model.set_rng_state(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ActivationKind, MlpConfig};
    use burn::optim::GradientsParams;

    /// The appended columns carry the gradient of every row back to the one parameter.
    #[test]
    fn log_variances_get_the_summed_gradient_of_their_column() {
        let device = Device::flex().autodiff();
        let trunk = MlpConfig {
            input: 2,
            hidden: vec![3],
            output: 2,
            activation: ActivationKind::Relu,
            dropout: 0.0,
            layer_dropout: vec![],
        }
        .init(3, &device)
        .unwrap();
        let model = TaskUncertainty::new(trunk, 2, &device);
        let out = model.forward(Tensor::ones([4, 2], &device));
        // d/ds of sum over rows of (2·s_0 + 5·s_1) is (8, 20).
        let weights = Tensor::<2>::from_data([[0.0f32, 0.0, 2.0, 5.0]], &device).expand([4, 4]);
        let grads = GradientsParams::from_grads((out * weights).sum().backward(), &model);
        let g = grads.get::<1>(model.log_vars.id).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(g, [8.0, 20.0]);
    }
}
