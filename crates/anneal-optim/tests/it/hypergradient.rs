//! SGD-HD and Adam-HD against hand computations on f(θ) = ½‖θ‖², whose gradient is θ.

use anneal_optim::OptimizerConfig;
use burn::module::Param;
use burn::optim::GradientsParams;
use burn::prelude::*;

use crate::common::{assert_close, device};

#[derive(Module, Debug)]
struct Point {
    theta: Param<Tensor<1>>,
}

impl Point {
    fn new(values: [f32; 2]) -> Self {
        Self { theta: Param::from_tensor(Tensor::from_data(TensorData::new(values.to_vec(), [2]), &device())) }
    }

    fn grads(&self) -> GradientsParams {
        let theta = self.theta.val();
        let loss = theta.clone().mul(theta).sum().mul_scalar(0.5);
        GradientsParams::from_grads(loss.backward(), self)
    }

    fn values(&self) -> Vec<f32> {
        self.theta.val().into_data().try_to_vec::<f32>().unwrap()
    }
}

/// Runs `steps` steps and returns (learning rate, θ) after each.
fn run(config: OptimizerConfig, start: [f32; 2], steps: usize) -> Vec<(f64, Vec<f32>)> {
    let mut optimizer = config.init().unwrap();
    let mut point = Point::new(start);
    (0..steps)
        .map(|_| {
            let grads = point.grads();
            point = optimizer.step(point.clone(), grads);
            (optimizer.learning_rate(), point.values())
        })
        .collect()
}

#[test]
fn sgd_hd_matches_a_hand_computation() {
    // θ₀ = (1, 2), α₀ = 0.1, β = 0.01; g = θ, u = g.
    // 1: no previous direction, α₁ = 0.1;               θ₁ = 0.9·θ₀   = (0.9, 1.8),       u₁ = (1, 2)
    // 2: g₂·u₁ = 0.9 + 3.6 = 4.5, α₂ = 0.1 + 0.045 = 0.145; θ₂ = 0.855·θ₁ = (0.7695, 1.539),  u₂ = (0.9, 1.8)
    // 3: g₃·u₂ = 0.69255 + 2.7702 = 3.46275, α₃ = 0.1796275; θ₃ = 0.8203725·θ₂ = (0.63127663875, 1.2625532775)
    let config = OptimizerConfig::SgdHd { learning_rate: 0.1, hypergradient_lr: 0.01 };
    let steps = run(config, [1.0, 2.0], 3);
    let expected = [(0.1, [0.9, 1.8]), (0.145, [0.7695, 1.539]), (0.1796275, [0.63127663875, 1.2625532775])];
    for (i, ((lr, theta), (want_lr, want_theta))) in steps.iter().zip(expected).enumerate() {
        assert!((lr - want_lr).abs() < 1e-6, "step {}: α = {lr}, expected {want_lr}", i + 1);
        assert_close(&format!("θ after step {}", i + 1), theta, &want_theta, 1e-6);
    }
}

#[test]
fn adam_hd_matches_a_hand_computation() {
    // θ₀ = (1, −2), α₀ = 0.01, β = 0.001, Adam's β₁ 0.9, β₂ 0.999, ε 1e-8.
    // 1: m̂₁ = g₁, v̂₁ = g₁², so u₁ = g₁/|g₁| = (1, −1); α₁ = α₀;  θ₁ = (0.99, −1.99)
    // 2: g₂·u₁ = 0.99 + 1.99 = 2.98, α₂ = 0.01 + 0.001·2.98 = 0.01298;
    //    m₂ = 0.9·m₁ + 0.1·g₂ = (0.189, −0.379), m̂₂ = m₂/0.19;
    //    v₂ = 0.999·v₁ + 0.001·g₂² = (0.0019791, 0.0079561), v̂₂ = v₂/0.001999;
    //    θ₂ = θ₁ − α₂·m̂₂/(√v̂₂ + ε) = (0.97702356, −1.97702174)
    // 3: the same arithmetic once more (in f64, in a Python shell): α₃ = 0.0159335125, θ₃ = (0.96110365, −1.96109481)
    let config = OptimizerConfig::AdamHd {
        learning_rate: 0.01,
        hypergradient_lr: 0.001,
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-8,
    };
    let steps = run(config, [1.0, -2.0], 3);
    let expected =
        [(0.01, [0.99, -1.99]), (0.01298, [0.97702356, -1.97702174]), (0.0159335125, [0.96110365, -1.96109481])];
    for (i, ((lr, theta), (want_lr, want_theta))) in steps.iter().zip(expected).enumerate() {
        assert!((lr - want_lr).abs() < 1e-7, "step {}: α = {lr}, expected {want_lr}", i + 1);
        assert_close(&format!("θ after step {}", i + 1), theta, &want_theta, 1e-6);
    }
}

#[test]
fn sgd_hd_without_hypergradient_is_plain_gradient_descent() {
    let hd = run(OptimizerConfig::SgdHd { learning_rate: 0.1, hypergradient_lr: 0.0 }, [1.0, -3.0], 4);
    let gd = run(OptimizerConfig::Gd { learning_rate: 0.1 }, [1.0, -3.0], 4);
    for ((lr_hd, a), (_, b)) in hd.iter().zip(&gd) {
        assert_eq!(*lr_hd, 0.1);
        let b: Vec<f64> = b.iter().map(|&v| v as f64).collect();
        assert_close("θ", a, &b, 1e-7);
    }
}

#[test]
fn the_learning_rate_can_be_set_and_keeps_adapting() {
    let mut optimizer = OptimizerConfig::SgdHd { learning_rate: 0.1, hypergradient_lr: 0.01 }.init().unwrap();
    let mut point = Point::new([1.0, 2.0]);
    let grads = point.grads();
    point = optimizer.step(point, grads);
    optimizer.set_learning_rate(0.2);
    assert_eq!(optimizer.learning_rate(), 0.2);
    let grads = point.grads();
    let _ = optimizer.step(point, grads);
    // g₂·u₁ = 4.5 as in the hand computation above.
    assert!((optimizer.learning_rate() - (0.2 + 0.01 * 4.5)).abs() < 1e-6);
}

#[test]
fn parameters_without_gradients_are_left_alone_and_keep_training() {
    let mut optimizer = OptimizerConfig::AdamHd {
        learning_rate: 0.01,
        hypergradient_lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-8,
    }
    .init()
    .unwrap();
    let point = Point::new([1.0, 2.0]);
    let same = optimizer.step(point.clone(), GradientsParams::new());
    assert_eq!(same.values(), point.values());
    // The updated parameter still takes part in autodiff.
    let grads = same.grads();
    let moved = optimizer.step(same, grads);
    assert!(moved.values()[0] < 1.0);
    assert!(moved.grads().len() == 1);
}
