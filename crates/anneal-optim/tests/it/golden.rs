//! Optimisers, schedules and clipping against PyTorch 2.15 (values from `tests/golden.py`).
//!
//! PyTorch ran in float64; burn runs in float32 here. Parameters and gradients
//! agree to 1e-5; learning rates, computed in f64 on both sides, to 1e-12.

use anneal_optim::{GradientClippingConfig, OptimizerConfig, ScheduleConfig, global_norm};
use serde_json::Value;

use crate::common::{Problem, assert_close, flat, values};

const PARAM_TOL: f64 = 1e-5;
const LR_TOL: f64 = 1e-12;

fn golden() -> Value {
    serde_json::from_str(include_str!("golden.json")).expect("golden.json parses")
}

#[test]
fn optimizers_match_pytorch_for_five_steps() {
    let golden = golden();
    let cases = golden["optimizers"].as_array().unwrap();
    assert_eq!(cases.len(), 13);
    for case in cases {
        let config: OptimizerConfig =
            serde_json::from_value(case["config"].clone()).expect("an anneal optimizer config");
        let name = case["config"].to_string();
        let problem = Problem::from_golden(&golden);
        let mut optimizer = config.init().unwrap();
        let mut layer = problem.layer.clone();
        for (step, expected) in case["params"].as_array().unwrap().iter().enumerate() {
            let grads = problem.grads(&layer, 1.0);
            layer = optimizer.step(layer, grads);
            let (w, b) = values(&layer);
            assert_close(&format!("{name} step {} weight", step + 1), &w, &flat(&expected["weight"]), PARAM_TOL);
            assert_close(&format!("{name} step {} bias", step + 1), &b, &flat(&expected["bias"]), PARAM_TOL);
            if let Some(lrs) = case.get("lrs") {
                let expected_lr = lrs[step].as_f64().unwrap();
                // The hypergradient is a float32 dot product, hence the looser tolerance.
                assert!(
                    (optimizer.learning_rate() - expected_lr).abs() <= 1e-7,
                    "{name} step {}: learning rate {} vs {expected_lr}",
                    step + 1,
                    optimizer.learning_rate()
                );
            }
        }
        assert_eq!(optimizer.steps(), 5);
    }
}

#[test]
fn schedules_match_pytorch_for_a_hundred_steps() {
    let golden = golden();
    let cases = golden["schedules"].as_array().unwrap();
    assert_eq!(cases.len(), 12);
    for case in cases {
        let config: ScheduleConfig = serde_json::from_value(case["config"].clone()).expect("an anneal schedule config");
        let name = case["config"].to_string();
        let base_lr = case["base_lr"].as_f64().unwrap();
        let total = case["total_steps"].as_u64().unwrap() as usize;
        let mut scheduler = config.build(base_lr, total).unwrap();
        let expected = flat(&case["lrs"]);
        assert_eq!(expected.len(), total);
        let check = |i: usize, actual: f64| {
            assert!(
                (actual - expected[i]).abs() <= LR_TOL * expected[i].abs().max(1.0),
                "{name} step {i}: {actual} vs PyTorch's {}",
                expected[i]
            );
        };
        match case.get("metrics") {
            // ReduceLROnPlateau: the rate read after each step(metric).
            Some(metrics) => {
                assert!(scheduler.is_metric_driven());
                for (i, metric) in flat(metrics).into_iter().enumerate() {
                    scheduler.step_with_metric(metric);
                    check(i, scheduler.lr());
                }
            }
            // The others: the rate used by each optimizer step, then scheduler.step().
            None => {
                for i in 0..total {
                    check(i, scheduler.lr());
                    scheduler.step();
                }
            }
        }
    }
}

#[test]
fn clipping_matches_pytorch() {
    let golden = golden();
    let clip = &golden["clipping"];
    let scale = clip["loss_scale"].as_f64().unwrap();
    let problem = Problem::from_golden(&golden);
    let layer = &problem.layer;
    let bias_id = layer.bias.as_ref().unwrap().id;
    let read = |grads: &burn::optim::GradientsParams| {
        let w = grads.get::<2>(layer.weight.id).unwrap().into_data().try_to_vec::<f32>().unwrap();
        let b = grads.get::<1>(bias_id).unwrap().into_data().try_to_vec::<f32>().unwrap();
        (w, b)
    };

    let grads = problem.grads(layer, scale);
    let (w, b) = read(&grads);
    assert_close("raw weight grad", &w, &flat(&clip["grads"]["weight"]), PARAM_TOL);
    assert_close("raw bias grad", &b, &flat(&clip["grads"]["bias"]), PARAM_TOL);

    for case in clip["norm"].as_array().unwrap() {
        let max_norm = case["max_norm"].as_f64().unwrap();
        let clipper = GradientClippingConfig::Norm { max_norm }.init().unwrap();
        let mut grads = problem.grads(layer, scale);
        let before: f32 = global_norm(layer, &grads).unwrap().into_scalar();
        let norm: f32 = clipper.clip(layer, &mut grads).expect("a norm").into_scalar();
        let expected_norm = case["total_norm"].as_f64().unwrap();
        let tol = PARAM_TOL * expected_norm; // relative: the norm is about 10
        assert_close(&format!("total norm, max_norm {max_norm}"), &[norm, before], &[expected_norm; 2], tol);
        let (w, b) = read(&grads);
        assert_close(&format!("weight clipped to {max_norm}"), &w, &flat(&case["weight"]), PARAM_TOL);
        assert_close(&format!("bias clipped to {max_norm}"), &b, &flat(&case["bias"]), PARAM_TOL);
    }

    let value = &clip["value"];
    let clip_value = value["clip_value"].as_f64().unwrap();
    let clipper = GradientClippingConfig::Value { clip_value }.init().unwrap();
    let mut grads = problem.grads(layer, scale);
    assert!(clipper.clip(layer, &mut grads).is_none());
    let (w, b) = read(&grads);
    assert_close("weight clipped by value", &w, &flat(&value["weight"]), PARAM_TOL);
    assert_close("bias clipped by value", &b, &flat(&value["bias"]), PARAM_TOL);
}
