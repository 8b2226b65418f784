//! SGD-HD and Adam-HD against hand computations on f(θ) = ½‖θ‖², whose gradient is θ.

use anneal_optim::{HypergradientRule, OptimizerConfig};
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
    let config = OptimizerConfig::SgdHd {
        learning_rate: 0.1,
        hypergradient_lr: 0.01,
        rule: HypergradientRule::Additive,
        max_lr_factor: None,
    };
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
        rule: HypergradientRule::Additive,
        max_lr_factor: None,
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
    let hd = run(
        OptimizerConfig::SgdHd {
            learning_rate: 0.1,
            hypergradient_lr: 0.0,
            rule: HypergradientRule::Additive,
            max_lr_factor: None,
        },
        [1.0, -3.0],
        4,
    );
    let gd = run(OptimizerConfig::Gd { learning_rate: 0.1 }, [1.0, -3.0], 4);
    for ((lr_hd, a), (_, b)) in hd.iter().zip(&gd) {
        assert_eq!(*lr_hd, 0.1);
        let b: Vec<f64> = b.iter().map(|&v| v as f64).collect();
        assert_close("θ", a, &b, 1e-7);
    }
}

#[test]
fn the_learning_rate_can_be_set_and_keeps_adapting() {
    let mut optimizer = OptimizerConfig::SgdHd {
        learning_rate: 0.1,
        hypergradient_lr: 0.01,
        rule: HypergradientRule::Additive,
        max_lr_factor: None,
    }
    .init()
    .unwrap();
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
        rule: HypergradientRule::Additive,
        max_lr_factor: None,
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

#[test]
fn multiplicative_sgd_hd_shrinks_the_rate_after_an_overshoot() {
    // θ₀ = (1, 2), α₀ = 1.5, β = 0.1; on ½‖θ‖² a rate above 1 overshoots, so
    // every gradient points back against the last step: cos(gₜ, uₜ₋₁) = −1.
    // 1: α₁ = 1.5;                θ₁ = (1 − 1.5)·θ₀   = (−0.5, −1)
    // 2: α₂ = 1.5·(1 − 0.1) = 1.35;  θ₂ = (1 − 1.35)·θ₁  = (0.175, 0.35)
    // 3: α₃ = 1.35·0.9 = 1.215;     θ₃ = (1 − 1.215)·θ₂ = (−0.037625, −0.07525)
    let config = OptimizerConfig::SgdHd {
        learning_rate: 1.5,
        hypergradient_lr: 0.1,
        rule: HypergradientRule::Multiplicative,
        max_lr_factor: None,
    };
    let steps = run(config, [1.0, 2.0], 3);
    let expected = [(1.5, [-0.5, -1.0]), (1.35, [0.175, 0.35]), (1.215, [-0.037625, -0.07525])];
    for (i, ((lr, theta), (want_lr, want_theta))) in steps.iter().zip(expected).enumerate() {
        // cos is summed in float32, so α carries a relative error of ~1e-8.
        assert!((lr - want_lr).abs() < 1e-7, "step {}: α = {lr}, expected {want_lr}", i + 1);
        assert_close(&format!("θ after step {}", i + 1), theta, &want_theta, 1e-6);
    }
}

#[test]
fn multiplicative_sgd_hd_grows_the_rate_while_steps_agree() {
    // α₀ = 0.1 undershoots, so successive gradients are parallel: cos = 1.
    // α₂ = 0.1·1.1 = 0.11, α₃ = 0.121; θ₃ = 0.9·0.89·0.879·θ₀.
    let config = OptimizerConfig::SgdHd {
        learning_rate: 0.1,
        hypergradient_lr: 0.1,
        rule: HypergradientRule::Multiplicative,
        max_lr_factor: None,
    };
    let steps = run(config, [1.0, 2.0], 3);
    let rates: Vec<f64> = steps.iter().map(|s| s.0).collect();
    for (got, want) in rates.iter().zip([0.1, 0.11, 0.121]) {
        assert!((got - want).abs() < 1e-7, "rates {rates:?}");
    }
    let shrink = 0.9 * 0.89 * 0.879;
    assert_close("θ₃", &steps[2].1, &[shrink, 2.0 * shrink], 1e-6);
}

#[test]
fn multiplicative_adam_hd_matches_a_python_transcription() {
    // θ₀ = (1, −2), α₀ = 0.01, β = 0.1, Adam's β₁ 0.9, β₂ 0.999, ε 1e-8:
    // αₜ = αₜ₋₁·(1 + β·gₜ·uₜ₋₁/(‖gₜ‖‖uₜ₋₁‖)), then Adam's step. In float64 with
    //
    //   m, v, u, th = [0, 0], [0, 0], None, [1.0, -2.0]
    //   for t in 1, 2, 3:
    //       g = list(th)
    //       if u: lr *= 1 + beta*dot(g, u)/(norm(g)*norm(u))
    //       m = [0.9*a + 0.1*x for a, x in zip(m, g)]; v = [0.999*a + 0.001*x*x for a, x in zip(v, g)]
    //       u = [a/(1 - 0.9**t)/(sqrt(b/(1 - 0.999**t)) + 1e-8) for a, b in zip(m, v)]
    //       th = [a - lr*b for a, b in zip(th, u)]
    //
    // (the same loop with `lr += beta*dot(g, u)` gives the additive numbers above):
    let config = OptimizerConfig::AdamHd {
        learning_rate: 0.01,
        hypergradient_lr: 0.1,
        rule: HypergradientRule::Multiplicative,
        max_lr_factor: None,
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-8,
    };
    let steps = run(config, [1.0, -2.0], 3);
    let expected = [
        (0.01, [0.9900000001, -1.99000000005]),
        (0.010948045106636642, [0.9790549613225754, -1.9790534197961798]),
        (0.011985214597784271, [0.9670790083484009, -1.9670727005551127]),
    ];
    for (i, ((lr, theta), (want_lr, want_theta))) in steps.iter().zip(expected).enumerate() {
        assert!((lr - want_lr).abs() < 1e-8, "step {}: α = {lr}, expected {want_lr}", i + 1);
        assert_close(&format!("θ after step {}", i + 1), theta, &want_theta, 1e-6);
    }
}

#[test]
fn the_rule_is_read_from_the_config_and_bounds_beta() {
    let parse = |extra: &str| {
        toml::from_str::<OptimizerConfig>(&format!("name = \"adam_hd\"\nlearning_rate = 0.1\n{extra}")).unwrap()
    };
    assert!(matches!(parse(""), OptimizerConfig::AdamHd { rule: HypergradientRule::Additive, .. }));
    let multiplicative = parse("rule = \"multiplicative\"\nhypergradient_lr = 0.02");
    assert!(matches!(multiplicative, OptimizerConfig::AdamHd { rule: HypergradientRule::Multiplicative, .. }));
    assert!(multiplicative.validate().is_ok());
    // β ≥ 1 could turn α negative (1 − β·1 ≤ 0); the additive rule allows it.
    assert!(parse("rule = \"multiplicative\"\nhypergradient_lr = 1.0").validate().is_err());
    assert!(parse("hypergradient_lr = 1.0").validate().is_ok());
    assert!(toml::from_str::<OptimizerConfig>("name = \"sgd_hd\"\nlearning_rate = 0.1\nrule = \"log\"").is_err());
}

#[test]
fn max_lr_factor_limits_a_growing_additive_rate() {
    // θ₀ = (1, 2), α₀ = 0.1, β = 0.1, f = 2: the additive rule would jump, the limit doubles.
    // 1: α₁ = 0.1;                                             θ₁ = 0.9·θ₀ = (0.9, 1.8)
    // 2: g₂·u₁ = 4.5, 0.1 + 0.45 = 0.55 > 2·0.1, so α₂ = 0.2;  θ₂ = 0.8·θ₁ = (0.72, 1.44)
    // 3: g₃·u₂ = 0.648 + 2.592 = 3.24, 0.2 + 0.324 > 0.4, α₃ = 0.4; θ₃ = 0.6·θ₂ = (0.432, 0.864)
    let config = OptimizerConfig::SgdHd {
        learning_rate: 0.1,
        hypergradient_lr: 0.1,
        rule: HypergradientRule::Additive,
        max_lr_factor: Some(2.0),
    };
    let steps = run(config, [1.0, 2.0], 3);
    let expected = [(0.1, [0.9, 1.8]), (0.2, [0.72, 1.44]), (0.4, [0.432, 0.864])];
    for (i, ((lr, theta), (want_lr, want_theta))) in steps.iter().zip(expected).enumerate() {
        assert!((lr - want_lr).abs() < 1e-7, "step {}: α = {lr}, expected {want_lr}", i + 1);
        assert_close(&format!("θ after step {}", i + 1), theta, &want_theta, 1e-6);
    }
}

#[test]
fn max_lr_factor_keeps_an_additive_rate_positive_after_an_overshoot() {
    // θ₀ = (1, 2), α₀ = 1.5, β = 1, f = 2.
    // 1: α₁ = 1.5;  θ₁ = −0.5·θ₀ = (−0.5, −1), u₁ = θ₀
    // 2: g₂·u₁ = −0.5 − 2 = −2.5; unlimited, α would be 1.5 − 2.5 = −1 (ascent);
    //    limited, α₂ = 1.5/2 = 0.75;  θ₂ = 0.25·θ₁ = (−0.125, −0.25)
    // 3: g₃·u₂ = θ₂·θ₁ = 0.0625 + 0.25 = 0.3125, α₃ = 1.0625 (inside [0.375, 1.5]);
    //    θ₃ = (1 − 1.0625)·θ₂ = (0.0078125, 0.015625)
    let config = OptimizerConfig::SgdHd {
        learning_rate: 1.5,
        hypergradient_lr: 1.0,
        rule: HypergradientRule::Additive,
        max_lr_factor: Some(2.0),
    };
    let steps = run(config, [1.0, 2.0], 3);
    let expected = [(1.5, [-0.5, -1.0]), (0.75, [-0.125, -0.25]), (1.0625, [0.0078125, 0.015625])];
    for (i, ((lr, theta), (want_lr, want_theta))) in steps.iter().zip(expected).enumerate() {
        assert!((lr - want_lr).abs() < 1e-7, "step {}: α = {lr}, expected {want_lr}", i + 1);
        assert_close(&format!("θ after step {}", i + 1), theta, &want_theta, 1e-6);
    }
    let unlimited = OptimizerConfig::SgdHd {
        learning_rate: 1.5,
        hypergradient_lr: 1.0,
        rule: HypergradientRule::Additive,
        max_lr_factor: None,
    };
    assert!((run(unlimited, [1.0, 2.0], 2)[1].0 - -1.0).abs() < 1e-7);
}

#[test]
fn max_lr_factor_is_read_from_the_config_and_must_exceed_one() {
    let parse = |extra: &str| {
        toml::from_str::<OptimizerConfig>(&format!("name = \"adam_hd\"\nlearning_rate = 0.1\n{extra}")).unwrap()
    };
    assert!(matches!(parse(""), OptimizerConfig::AdamHd { max_lr_factor: None, .. }));
    let limited = parse("hypergradient_lr = 1e-3\nmax_lr_factor = 2.0");
    assert!(matches!(limited, OptimizerConfig::AdamHd { max_lr_factor: Some(2.0), .. }));
    assert!(limited.validate().is_ok());
    for bad in ["1.0", "0.5", "inf"] {
        assert!(parse(&format!("max_lr_factor = {bad}")).validate().is_err(), "max_lr_factor = {bad}");
    }
    // It round-trips, and an unset limit is left out of the written config.
    let written = toml::to_string(&limited).unwrap();
    assert_eq!(toml::from_str::<OptimizerConfig>(&written).unwrap(), limited);
    assert!(!toml::to_string(&parse("")).unwrap().contains("max_lr_factor"));
}
