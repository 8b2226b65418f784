//! Adam and AdamW run fused (one loop per parameter) on the CPU backends; these
//! tests hold them to burn-optim's tensor-operation Adam and AdamW bit for bit,
//! and check that their saved state is burn's (it loads into burn's optimiser).

use anneal_optim::OptimizerConfig;
use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;

/// A 7 → 5 linear layer with seeded weights, and its gradients of a loss that
/// changes with the step (so the moments see different gradients).
fn layer(device: &Device) -> Linear {
    let mut layer = LinearConfig::new(7, 5).init(device);
    let w: Vec<f32> = (0..35).map(|i| ((i * 37 % 23) as f32 - 11.0) / 13.0).collect();
    layer.weight = Param::from_tensor(Tensor::from_data(TensorData::new(w, [7, 5]), device));
    layer.bias =
        Some(Param::from_tensor(Tensor::from_data(TensorData::new(vec![0.1f32, -0.2, 0.3, 0.0, -0.05], [5]), device)));
    layer
}

fn grads(layer: &Linear, step: usize, device: &Device) -> GradientsParams {
    let x: Vec<f32> = (0..28).map(|i| (((i + 3 * step) * 17 % 19) as f32 - 9.0) / 7.0).collect();
    let x = Tensor::<2>::from_data(TensorData::new(x, [4, 7]), device);
    let out = layer.forward(x);
    let loss = out.clone().mul(out).mean().mul_scalar(1.0 + step as f64) + layer.forward_bias_probe();
    GradientsParams::from_grads(loss.backward(), layer)
}

trait BiasProbe {
    fn forward_bias_probe(&self) -> Tensor<1>;
}

impl BiasProbe for Linear {
    /// A term on the bias alone, so its gradient is not just the output's.
    fn forward_bias_probe(&self) -> Tensor<1> {
        let b = self.bias.as_ref().expect("a bias").val();
        b.clone().mul(b).sum().mul_scalar(0.5)
    }
}

fn bits(layer: &Linear) -> Vec<u32> {
    let w = layer.weight.val().into_data().try_to_vec::<f32>().unwrap();
    let b = layer.bias.as_ref().unwrap().val().into_data().try_to_vec::<f32>().unwrap();
    w.into_iter().chain(b).map(f32::to_bits).collect()
}

/// Learning rates that change every step, as a schedule would.
fn lr(step: usize) -> f64 {
    0.05 / (1.0 + step as f64 * 0.3)
}

/// The cases: our config and the burn optimiser it must equal.
fn cases() -> Vec<(&'static str, OptimizerConfig, ModuleOptimizer)> {
    let adam = |weight_decay: f64| OptimizerConfig::Adam {
        learning_rate: lr(0),
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-8,
        weight_decay,
        amsgrad: false,
    };
    let adamw = |weight_decay: f64| OptimizerConfig::AdamW {
        learning_rate: lr(0),
        beta1: 0.8,
        beta2: 0.99,
        epsilon: 1e-6,
        weight_decay,
        amsgrad: false,
    };
    vec![
        ("adam", adam(0.0), AdamConfig::new().with_epsilon(1e-8).init()),
        (
            "adam with an L2 penalty",
            adam(0.01),
            AdamConfig::new().with_epsilon(1e-8).with_weight_decay(Some(WeightDecayConfig::new(0.01))).init(),
        ),
        (
            "adamw",
            adamw(0.01),
            AdamWConfig::new().with_beta_1(0.8).with_beta_2(0.99).with_epsilon(1e-6).with_weight_decay(0.01).init(),
        ),
        (
            "adamw without decay",
            adamw(0.0),
            AdamWConfig::new().with_beta_1(0.8).with_beta_2(0.99).with_epsilon(1e-6).with_weight_decay(0.0).init(),
        ),
    ]
}

fn equal_to_burn_on(device: &Device) {
    for (name, config, mut burn) in cases() {
        let mut ours = config.init().unwrap();
        let (mut a, mut b) = (layer(device), layer(device));
        for step in 0..6 {
            ours.set_learning_rate(lr(step));
            let ga = grads(&a, step, device);
            a = ours.step(a, ga);
            let gb = grads(&b, step, device);
            b = burn.step(lr(step), b, gb);
            assert_eq!(bits(&a), bits(&b), "{name} on {device:?}, step {step}: the fused update differs from burn's");
        }
    }
}

#[test]
fn fused_adam_and_adamw_equal_burns_bit_for_bit_on_flex() {
    equal_to_burn_on(&Device::flex().autodiff());
}

#[test]
#[allow(deprecated)] // ndarray is deprecated in burn 0.22 but still supported here.
fn fused_adam_and_adamw_equal_burns_bit_for_bit_on_ndarray() {
    equal_to_burn_on(&Device::ndarray().autodiff());
}

#[test]
fn the_fused_state_is_burns_and_loads_into_burns_optimizer() {
    let device = Device::flex().autodiff();
    let dir = tempfile::tempdir().unwrap();
    for (name, config, burn) in cases() {
        // Six fused steps straight, against three fused steps, the state saved and
        // loaded into burn's optimiser, and three of burn's.
        let mut straight = config.init().unwrap();
        let mut first = config.init().unwrap();
        let (mut a, mut b) = (layer(&device), layer(&device));
        for step in 0..6 {
            straight.set_learning_rate(lr(step));
            let g = grads(&a, step, &device);
            a = straight.step(a, g);
        }
        for step in 0..3 {
            first.set_learning_rate(lr(step));
            let g = grads(&b, step, &device);
            b = first.step(b, g);
        }
        let state = dir.path().join(name);
        first.save_state(&state).unwrap();
        let mut burn = burn.load(state.join("optimizer.bpk")).unwrap();
        for step in 3..6 {
            let g = grads(&b, step, &device);
            b = burn.step(lr(step), b, g);
        }
        assert_eq!(bits(&a), bits(&b), "{name}: burn's optimiser does not continue from the fused state");
    }
}
