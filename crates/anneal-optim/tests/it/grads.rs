//! Gradient clipping and accumulation on the shared linear problem.

use anneal_optim::{Accumulator, GradientClippingConfig, OptimError, OptimizerConfig, global_norm};
use burn::nn::Linear;
use burn::optim::GradientsParams;

use crate::common::{Problem, assert_close, values};

fn golden_problem() -> Problem {
    Problem::from_golden(&serde_json::from_str(include_str!("golden.json")).unwrap())
}

fn read(layer: &Linear, grads: &GradientsParams) -> Vec<f32> {
    let mut out = grads.get::<2>(layer.weight.id).unwrap().into_data().try_to_vec::<f32>().unwrap();
    out.extend(grads.get::<1>(layer.bias.as_ref().unwrap().id).unwrap().into_data().try_to_vec::<f32>().unwrap());
    out
}

fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

#[test]
fn thresholds_must_be_positive() {
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let err = GradientClippingConfig::Norm { max_norm: bad }.init().unwrap_err();
        assert!(matches!(err, OptimError::OutOfRange { name: "max_norm", .. }), "{err}");
        let err = GradientClippingConfig::Value { clip_value: bad }.init().unwrap_err();
        assert!(matches!(err, OptimError::OutOfRange { name: "clip_value", .. }), "{err}");
    }
    let err = GradientClippingConfig::Value { clip_value: 0.0 }.validate().unwrap_err();
    assert_eq!(err.to_string(), "clip_value = 0 is outside its valid range (0, inf)");
}

#[test]
fn clipping_parses_from_toml() {
    let config: GradientClippingConfig = toml::from_str("by = \"value\"\nclip_value = 0.5").unwrap();
    assert_eq!(config, GradientClippingConfig::Value { clip_value: 0.5 });
    assert_eq!(config.init().unwrap().config(), config);
    assert!(toml::from_str::<GradientClippingConfig>("by = \"norm\"\nmax_norm = 1.0\nnorm_type = 2").is_err());
}

#[test]
fn norm_clipping_keeps_the_direction_and_caps_the_global_norm() {
    let problem = golden_problem();
    let layer = &problem.layer;
    let raw = read(layer, &problem.grads(layer, 10.0));
    let mut grads = problem.grads(layer, 10.0);
    let before: f32 =
        GradientClippingConfig::Norm { max_norm: 1.0 }.init().unwrap().clip(layer, &mut grads).unwrap().into_scalar();
    let after: f32 = global_norm(layer, &grads).unwrap().into_scalar();
    assert!(before > 5.0);
    assert!((after - 1.0).abs() < 1e-5, "norm after clipping {after}");
    let clipped = read(layer, &grads);
    let expected: Vec<f64> = raw.iter().map(|&g| g as f64 / before as f64).collect();
    assert_close("direction", &clipped, &expected, 1e-6);
}

#[test]
fn no_gradients_no_norm() {
    let problem = golden_problem();
    let mut empty = GradientsParams::new();
    assert!(global_norm(&problem.layer, &empty).is_none());
    let clipper = GradientClippingConfig::Norm { max_norm: 1.0 }.init().unwrap();
    assert!(clipper.clip(&problem.layer, &mut empty).is_none());
}

#[test]
fn accumulation_releases_the_mean_every_k_pushes() {
    let problem = golden_problem();
    let layer = &problem.layer;
    let one = read(layer, &problem.grads(layer, 1.0));
    let mut accumulator = Accumulator::new(3).unwrap();
    assert!(accumulator.push(layer, problem.grads(layer, 1.0)).is_none());
    assert!(accumulator.push(layer, problem.grads(layer, 2.0)).is_none());
    assert_eq!(accumulator.pending(), 2);
    let mean = accumulator.push(layer, problem.grads(layer, 6.0)).expect("released on the third push");
    assert_eq!(accumulator.pending(), 0);
    // (1 + 2 + 6) / 3 = 3 times the unscaled gradient.
    let expected: Vec<f64> = one.iter().map(|&g| 3.0 * g as f64).collect();
    assert_close("mean of three", &read(layer, &mean), &expected, 1e-5);

    // An incomplete group is flushed as its own mean.
    assert!(accumulator.push(layer, problem.grads(layer, 4.0)).is_none());
    let flushed = accumulator.flush(layer).unwrap();
    let expected: Vec<f64> = one.iter().map(|&g| 4.0 * g as f64).collect();
    assert_close("flushed", &read(layer, &flushed), &expected, 1e-5);
    assert!(accumulator.flush(layer).is_none());
}

#[test]
fn one_micro_batch_passes_gradients_through_and_zero_is_an_error() {
    let problem = golden_problem();
    let layer = &problem.layer;
    let mut accumulator = Accumulator::new(1).unwrap();
    let through = accumulator.push(layer, problem.grads(layer, 1.0)).unwrap();
    assert_close("passed through", &read(layer, &through), &widen(&read(layer, &problem.grads(layer, 1.0))), 0.0);
    assert_eq!(
        Accumulator::<Linear>::new(0).unwrap_err(),
        OptimError::TooFew { name: "micro_batches", value: 0, min: 1 }
    );
}

#[test]
fn two_half_batches_accumulated_equal_one_full_batch_step() {
    // The loss is a mean over rows, so the mean of the halves' gradients is the full batch's.
    let problem = golden_problem();
    let layer = problem.layer.clone();
    let half = |rows: std::ops::Range<usize>| Problem {
        layer: layer.clone(),
        x: problem.x.clone().slice(rows.clone()),
        t: problem.t.clone().slice(rows),
    };
    let (a, b) = (half(0..2), half(2..4));

    let mut full_opt = OptimizerConfig::adam(0.01).init().unwrap();
    let full = full_opt.step(layer.clone(), problem.grads(&layer, 1.0));

    let mut opt = OptimizerConfig::adam(0.01).init().unwrap();
    let mut accumulator = Accumulator::new(2).unwrap();
    assert!(accumulator.push(&layer, a.grads(&layer, 1.0)).is_none());
    let grads = accumulator.push(&layer, b.grads(&layer, 1.0)).unwrap();
    let accumulated = opt.step(layer, grads);

    let (fw, fb) = values(&full);
    let (aw, ab) = values(&accumulated);
    assert_close("weight", &aw, &widen(&fw), 1e-6);
    assert_close("bias", &ab, &widen(&fb), 1e-6);
}
