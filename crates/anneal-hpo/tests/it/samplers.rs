//! Samplers: seeded determinism (Optuna-compatible configurations too), setting checks,
//! grid enumeration and budget checks, and that the model-based samplers beat random
//! search on a smooth problem.

use std::collections::BTreeSet;

use anneal_hpo::prelude::*;
use anneal_hpo::sampler::Sampler;
use anneal_hpo::{HpoError, ParamValue};

fn quadratic(trial: &mut Trial) -> Result<f64, ObjectiveError> {
    let x = trial.suggest_float("x", -5.0, 5.0)?;
    let y = trial.suggest_float("y", -5.0, 5.0)?;
    let k = trial.suggest_int("k", 0, 4)?;
    let c: String = trial.suggest_categorical("c", &["a".to_string(), "b".to_string()])?;
    Ok((x - 1.0).powi(2) + (y + 2.0).powi(2) + (k as f64 - 3.0).powi(2) + if c == "b" { 0.0 } else { 1.0 })
}

fn run(sampler: impl Sampler + 'static, n: usize) -> Vec<(Vec<(String, ParamValue)>, f64)> {
    let study = Study::builder("s").sampler(sampler).build().unwrap();
    study
        .optimize(n, quadratic)
        .unwrap()
        .into_iter()
        .map(|t| (t.param_values().into_iter().collect(), t.value.unwrap()))
        .collect()
}

#[test]
fn same_seed_same_suggestions() {
    assert_eq!(run(RandomSampler::new(3), 15), run(RandomSampler::new(3), 15));
    assert_ne!(run(RandomSampler::new(3), 15), run(RandomSampler::new(4), 15));
    assert_eq!(run(SobolSampler::new(3), 15), run(SobolSampler::new(3), 15));
    assert_eq!(run(TpeSampler::new(3), 25), run(TpeSampler::new(3), 25));
    assert_eq!(run(GpSampler::new(3).with_candidates(256), 14), run(GpSampler::new(3).with_candidates(256), 14));
}

fn best_after(sampler: impl Sampler + 'static, n: usize) -> f64 {
    run(sampler, n).iter().map(|r| r.1).fold(f64::INFINITY, f64::min)
}

#[test]
fn model_based_samplers_beat_random_search() {
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let random = median((0..5).map(|s| best_after(RandomSampler::new(s), 40)).collect());
    let tpe = median((0..5).map(|s| best_after(TpeSampler::new(s), 40)).collect());
    let gp = median((0..3).map(|s| best_after(GpSampler::new(s).with_candidates(512), 25)).collect());
    assert!(tpe < random, "tpe {tpe} vs random {random}");
    assert!(gp < random, "gp {gp} (25 trials) vs random {random} (40 trials)");
}

#[test]
fn gp_finds_a_noisy_optimum_in_a_corner() {
    // The best point is a corner of the space and every value carries noise (a hash of the
    // trial number, so runs repeat). The prior mean's quadratic trend is fitted to the data,
    // which say the edge is better here; a trend forced to say the opposite strongly enough
    // (β₁ = -20 on the standardised values) holds the search away from the corner and fails.
    let corner = |seed: u64, n: usize| {
        let study = Study::builder("corner").sampler(GpSampler::new(seed).with_candidates(512)).build().unwrap();
        let trials = study
            .optimize(n, |t| {
                let x = t.suggest_float("x", -5.0, 5.0)?;
                let y = t.suggest_float("y", -5.0, 5.0)?;
                let h = (t.number().wrapping_add(seed << 8)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
                let noise = 0.2 * (h as f64 / (1u64 << 53) as f64 - 0.5);
                Ok((x - 5.0).powi(2) + (y + 5.0).powi(2) + noise)
            })
            .unwrap();
        let best = trials.iter().min_by(|a, b| a.value.unwrap().total_cmp(&b.value.unwrap())).unwrap();
        let p = best.param_values();
        let at = |k: &str| p[k].as_f64().unwrap();
        (at("x"), at("y"))
    };
    for seed in 0..3 {
        let (x, y) = corner(seed, 25);
        assert!(x > 4.7 && y < -4.7, "seed {seed}: best trial at ({x}, {y}), the minimum is at (5, -5)");
    }
}

#[test]
fn grid_visits_every_point_once_including_conditional_branches() {
    let space = SearchSpace::new()
        .with("opt", Distribution::categorical(["sgd", "adam"]))
        .with_condition("momentum", Distribution::float_step(0.0, 0.9, 0.45), "opt", ["sgd"])
        .with("layers", Distribution::int(1, 2));
    // sgd: 3 momenta x 2 layers, adam: 2 layers.
    assert_eq!(GridSampler::new(0).grid_size(&space).unwrap(), 8);
    let study = Study::builder("grid").space(space.clone()).sampler(GridSampler::new(0)).build().unwrap();
    let trials = study.optimize(8, |t| Ok(t.suggest_space()?.len() as f64)).unwrap();
    let seen: BTreeSet<String> = trials.iter().map(|t| format!("{:?}", t.param_values())).collect();
    assert_eq!(seen.len(), 8, "every grid point exactly once");
    // A larger budget stops when the grid is exhausted.
    let study = Study::builder("grid-big").space(space.clone()).sampler(GridSampler::new(0)).build().unwrap();
    assert_eq!(study.optimize(100, |t| Ok(t.suggest_space()?.len() as f64)).unwrap().len(), 8);
    for t in &trials {
        assert_eq!(t.params.contains_key("momentum"), t.param("opt").unwrap().as_str() == Some("sgd"));
    }
    // A budget smaller than the grid is refused before anything runs.
    let study = Study::builder("grid2").space(space).sampler(GridSampler::new(0)).build().unwrap();
    let e = study.optimize(7, |_| Ok(0.0)).unwrap_err();
    assert!(matches!(e, HpoError::GridTooLarge { size: 8, budget: 7 }), "{e}");
    assert!(study.trials().unwrap().is_empty());
}

#[test]
fn grid_refuses_continuous_parameters_without_a_resolution() {
    let space = SearchSpace::new().with("lr", Distribution::log_float(1e-4, 1.0));
    let study = Study::builder("g").space(space.clone()).sampler(GridSampler::new(0)).build().unwrap();
    let e = study.optimize(100, |_| Ok(0.0)).unwrap_err();
    assert!(matches!(&e, HpoError::GridInfinite { param } if param == "lr"), "{e}");
    let study = Study::builder("g2").space(space).sampler(GridSampler::new(0).with_resolution(5)).build().unwrap();
    let trials = study.optimize(5, |t| Ok(t.suggest_space()?["lr"].as_f64().unwrap())).unwrap();
    let mut lrs: Vec<f64> = trials.iter().map(|t| t.value.unwrap()).collect();
    lrs.sort_by(f64::total_cmp);
    let want = [1e-4, 1e-3, 1e-2, 1e-1, 1.0];
    for (a, b) in lrs.iter().zip(want) {
        assert!((a / b - 1.0).abs() < 1e-12, "{lrs:?}");
    }
    let study = Study::builder("g3").sampler(GridSampler::new(0)).build().unwrap();
    assert!(matches!(study.optimize(3, |_| Ok(0.0)), Err(HpoError::SpaceRequired { .. })));
}

#[test]
fn suggestions_stay_inside_their_distributions() {
    for sampler in [
        Box::new(TpeSampler::new(1)) as Box<dyn Sampler>,
        Box::new(SobolSampler::new(1)),
        Box::new(GpSampler::new(1).with_candidates(128)),
    ] {
        let study = Study::builder("inside").sampler(sampler).build().unwrap();
        study
            .optimize(16, |t| {
                let a = t.suggest_float_step("a", 0.0, 1.0, 0.25)?;
                let b = t.suggest_int_log("b", 1, 1000)?;
                let c = t.suggest_float_log("c", 1e-3, 10.0)?;
                let d = t.suggest_int_step("d", -10, 10, 5)?;
                assert!([0.0, 0.25, 0.5, 0.75, 1.0].contains(&a), "{a}");
                assert!((1..=1000).contains(&b) && (1e-3..=10.0).contains(&c) && [-10, -5, 0, 5, 10].contains(&d));
                Ok(a + b as f64 + c + d as f64)
            })
            .unwrap();
    }
}

#[test]
fn tpe_settings_out_of_range_are_typed_errors() {
    for bad in [0.0, -0.1, 1.5, f64::NAN] {
        let e = TpeSampler::new(0).with_gamma(bad).unwrap_err();
        assert!(matches!(e, HpoError::InvalidSetting { setting: "gamma", .. }), "{e}");
    }
    assert!(TpeSampler::new(0).with_gamma(1.0).is_ok());
    let e = TpeSampler::new(0).with_ei_candidates(0).unwrap_err();
    assert!(matches!(e, HpoError::InvalidSetting { setting: "n_ei_candidates", .. }), "{e}");
}

#[test]
fn optuna_configurations_are_seeded_too() {
    assert_eq!(run(TpeSampler::optuna(5), 20), run(TpeSampler::optuna(5), 20));
    let gp = || GpSampler::optuna(5).with_candidates(256);
    assert_eq!(run(gp(), 13), run(gp(), 13));
}

#[test]
fn gp_lengthscale_priors_are_checked() {
    use anneal_hpo::sampler::LengthscalePrior;
    for (shape, rate) in [(0.5, 6.0), (3.0, 0.0), (f64::INFINITY, 1.0), (3.0, f64::NAN)] {
        let e = GpSampler::new(0).with_lengthscale_prior(LengthscalePrior::Gamma { shape, rate }).unwrap_err();
        assert!(matches!(e, HpoError::InvalidSetting { setting: "lengthscale_prior", .. }), "{e}");
    }
    assert!(GpSampler::new(0).with_lengthscale_prior(LengthscalePrior::Gamma { shape: 1.0, rate: 2.0 }).is_ok());
    assert!(GpSampler::new(0).with_lengthscale_prior(LengthscalePrior::Optuna).is_ok());
}
