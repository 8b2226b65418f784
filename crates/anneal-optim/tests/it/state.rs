//! A saved optimiser state continues training bit for bit: five steps straight
//! equal three steps, save, a fresh optimiser loading the state, two more steps.

use anneal_optim::{HypergradientRule, OptimizerConfig};
use burn::nn::Linear;
use burn::prelude::*;

use super::common::{Problem, device, linear, values};

fn problem() -> Problem {
    let device = device();
    let w = Tensor::from_data(TensorData::new(vec![0.5f32, -0.3, 0.8, 0.1, -0.6, 0.2], [3, 2]), &device);
    let x = Tensor::from_data(TensorData::new(vec![1.0f32, 2.0, -1.0, 0.5, -0.5, 1.5], [2, 3]), &device);
    let t = Tensor::from_data(TensorData::new(vec![0.3f32, -0.7, 1.1, 0.2], [2, 2]), &device);
    Problem { layer: linear(w, vec![0.05, -0.02], &device), x, t }
}

fn steps(p: &Problem, mut layer: Linear, optimizer: &mut anneal_optim::Optimizer, n: usize) -> Linear {
    for _ in 0..n {
        layer = optimizer.step(layer.clone(), p.grads(&layer, 1.0));
    }
    layer
}

#[test]
fn saved_state_resumes_bit_for_bit() {
    let configs = [
        OptimizerConfig::adam(0.05),
        OptimizerConfig::with_defaults("rmsprop", 0.01).unwrap(),
        OptimizerConfig::Sgd { learning_rate: 0.1, momentum: 0.9, nesterov: true, weight_decay: 0.01 },
        OptimizerConfig::with_defaults("adamw", 0.05).unwrap(),
        OptimizerConfig::AdamHd {
            learning_rate: 0.05,
            hypergradient_lr: 1e-3,
            rule: HypergradientRule::Additive,
            max_lr_factor: None,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
        },
        OptimizerConfig::AdamHd {
            learning_rate: 0.05,
            hypergradient_lr: 0.1,
            rule: HypergradientRule::Multiplicative,
            max_lr_factor: None,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
        },
        OptimizerConfig::SgdHd {
            learning_rate: 0.05,
            hypergradient_lr: 1e-2,
            rule: HypergradientRule::Additive,
            max_lr_factor: Some(2.0),
        },
    ];
    for config in configs {
        let p = problem();
        let mut straight = config.init().unwrap();
        let expected = steps(&p, p.layer.clone(), &mut straight, 5);

        let mut first = config.init().unwrap();
        let halfway = steps(&p, p.layer.clone(), &mut first, 3);
        let dir = tempfile::tempdir().unwrap();
        first.save_state(dir.path()).unwrap();
        let mut second = config.init().unwrap();
        second.load_state(dir.path(), &Device::flex()).unwrap();
        assert_eq!(second.steps(), 3);
        assert_eq!(second.learning_rate().to_bits(), first.learning_rate().to_bits(), "{}", config.name());
        let resumed = steps(&p, halfway, &mut second, 2);
        assert_eq!(values(&resumed), values(&expected), "{} does not resume exactly", config.name());
        assert_eq!(second.learning_rate().to_bits(), straight.learning_rate().to_bits());
    }
}

#[test]
fn loading_another_optimizers_state_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    OptimizerConfig::adam(0.1).init().unwrap().save_state(dir.path()).unwrap();
    let mut sgd = OptimizerConfig::Gd { learning_rate: 0.1 }.init().unwrap();
    let err = sgd.load_state(dir.path(), &Device::flex()).unwrap_err();
    assert!(err.to_string().contains("the state is of `adam`, not `gd`"), "{err}");
    let empty = tempfile::tempdir().unwrap();
    assert!(sgd.load_state(empty.path(), &Device::flex()).is_err());
}
