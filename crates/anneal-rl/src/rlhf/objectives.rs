//! The two preference losses, as objectives of the training core: the
//! Bradley–Terry loss a reward model learns from (InstructGPT, Ouyang et al.
//! 2022, eq. 1) and DPO's (Rafailov et al. 2023, eq. 7), which trains the policy
//! from the same pairs with no reward model and no sampling. Both read a model
//! output of one row per pair, `[chosen, rejected]`.

use anneal_data::Target;
use anneal_train::{LossTerm, Objective, TrainError};
use burn::prelude::*;
use burn::tensor::activation::log_sigmoid;

/// The margin of each pair, `chosen − rejected`, from a `[pairs, 2]` output.
fn margins(output: Tensor<2>, what: &str) -> Result<Tensor<2>, TrainError> {
    let [_, width] = output.dims();
    if width != 2 {
        return Err(TrainError::InvalidSetting(format!(
            "{what} needs one row per pair with 2 columns (chosen, rejected), got {width}"
        )));
    }
    Ok(output.clone().narrow(1, 0, 1) - output.narrow(1, 1, 1))
}

/// The reward model's loss: `−mean(log σ(r_chosen − r_rejected))` over the
/// pairs, the negative log-likelihood of the preferences under the
/// Bradley–Terry model `P(chosen ≻ rejected) = σ(r_chosen − r_rejected)`.
/// The output is the model's reward of each completion, `[pairs, 2]`; the
/// target is not read.
///
/// ```
/// use anneal_data::Target;
/// use anneal_rl::rlhf::BradleyTerry;
/// use anneal_train::Objective;
/// use burn::prelude::*;
///
/// let device = Device::flex();
/// let rewards = Tensor::<2>::from_data([[1.0f32, 1.0]], &device);
/// let loss = BradleyTerry.terms(rewards, &Target::Values(Tensor::zeros([1, 2], &device)))?;
/// assert!((loss[0].value.clone().into_scalar::<f32>() - 2f32.ln()).abs() < 1e-6); // a tie: log 2
/// # Ok::<(), anneal_train::TrainError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BradleyTerry;

impl Objective for BradleyTerry {
    fn name(&self) -> String {
        "bradley_terry".into()
    }

    fn terms(&self, output: Tensor<2>, _target: &Target) -> Result<Vec<LossTerm>, TrainError> {
        let margin = margins(output, "the Bradley–Terry loss")?;
        Ok(vec![LossTerm { name: "bradley_terry".into(), value: log_sigmoid(margin).mean().neg() }])
    }
}

/// Direct preference optimisation: `−mean(log σ(β·((π_c − ref_c) − (π_r − ref_r))))`,
/// where `π` and `ref` are the summed log-probabilities of each completion
/// under the policy being trained and the frozen reference model. The output
/// is the policy's `[π_c, π_r]` per pair; the target is `Target::Values` with
/// the reference's `[ref_c, ref_r]` per pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dpo {
    /// β: how far from the reference the policy may move (DPO's KL weight; TRL's default 0.1).
    pub beta: f64,
}

impl Objective for Dpo {
    fn name(&self) -> String {
        "dpo".into()
    }

    fn terms(&self, output: Tensor<2>, target: &Target) -> Result<Vec<LossTerm>, TrainError> {
        let Target::Values(reference) = target else {
            return Err(TrainError::InvalidSetting(
                "DPO needs the reference model's log-probabilities as Target::Values [pairs, 2]".into(),
            ));
        };
        if reference.dims() != output.dims() {
            return Err(TrainError::InvalidSetting(format!(
                "DPO: the policy's log-probabilities are {:?}, the reference's {:?}",
                output.dims(),
                reference.dims()
            )));
        }
        let policy = margins(output, "DPO")?;
        let reference = margins(reference.clone(), "DPO")?;
        let logits = (policy - reference) * self.beta;
        Ok(vec![LossTerm { name: "dpo".into(), value: log_sigmoid(logits).mean().neg() }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden values and gradients from `examples/reference/rlhf_losses.py` (PyTorch, float64).
    #[test]
    fn the_losses_and_their_gradients_are_pytorchs() {
        let device = Device::flex().autodiff();
        let chosen = [1.5f32, -0.25, 0.0, 3.0, -2.0];
        let rejected = [0.5f32, 0.75, 0.0, -1.0, -2.5];
        let rows: Vec<f32> = chosen.iter().zip(&rejected).flat_map(|(c, r)| [*c, *r]).collect();
        let output = Tensor::<2>::from_data(TensorData::new(rows, [5, 2]), &device).require_grad();
        let unused = Target::Values(Tensor::zeros([5, 2], &device));
        let loss = BradleyTerry.terms(output.clone(), &unused).unwrap().remove(0).value;
        assert!((loss.clone().into_scalar::<f32>() - 0.562_379_5).abs() < 1e-6);
        let grads = loss.backward();
        let g = output.grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap();
        let golden = [-0.053_788_284, -0.146_211_72, -0.1, -0.003_597_242, -0.075_508_13];
        for (i, want) in golden.iter().enumerate() {
            assert!((g[2 * i] - want).abs() < 1e-6, "{g:?}");
            assert!((g[2 * i + 1] + want).abs() < 1e-6, "the rejected side's gradient is the opposite: {g:?}");
        }

        let pi = [[-12.0f32, -14.0], [-30.5, -28.0], [-8.25, -9.0], [-20.0, -15.5]];
        let reference = [[-13.0f32, -13.5], [-29.0, -29.5], [-8.0, -8.5], [-22.0, -16.0]];
        let flat = |m: &[[f32; 2]; 4]| m.iter().flatten().copied().collect::<Vec<f32>>();
        for (beta, want, want_grad) in [
            (0.1, 0.694_248_7, [-0.011_564_254, -0.014_361_063, -0.012_343_758, -0.011_564_254]),
            (0.5, 0.776_938_6, [-0.040_102_663, -0.102_196_81, -0.058_598_828, -0.040_102_663]),
        ] {
            let output = Tensor::<2>::from_data(TensorData::new(flat(&pi), [4, 2]), &device).require_grad();
            let target = Target::Values(Tensor::from_data(TensorData::new(flat(&reference), [4, 2]), &device));
            let loss = Dpo { beta }.terms(output.clone(), &target).unwrap().remove(0).value;
            assert!((loss.clone().into_scalar::<f32>() - want).abs() < 1e-6, "beta {beta}");
            let g = output.grad(&loss.backward()).unwrap().into_data().try_to_vec::<f32>().unwrap();
            for (i, w) in want_grad.iter().enumerate() {
                assert!((g[2 * i] - w).abs() < 1e-6, "beta {beta}: {g:?}");
            }
        }
    }

    #[test]
    fn wrong_shapes_are_named() {
        let device = Device::flex();
        let three = Tensor::<2>::zeros([2, 3], &device);
        let e = BradleyTerry.terms(three.clone(), &Target::Values(three.clone())).unwrap_err().to_string();
        assert!(e.contains("2 columns") && e.contains("got 3"), "{e}");
        let two = Tensor::<2>::zeros([2, 2], &device);
        let e = Dpo { beta: 0.1 }.terms(two, &Target::Values(Tensor::zeros([3, 2], &device))).unwrap_err();
        assert!(e.to_string().contains("[2, 2]") && e.to_string().contains("[3, 2]"), "{e}");
    }
}
