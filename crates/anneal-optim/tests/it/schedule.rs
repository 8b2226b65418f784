//! Learning-rate schedules: parsing, validation, composition and invariants.

use anneal_optim::{OptimError, ScheduleConfig, ScheduleUnit};
use proptest::prelude::*;

fn parse(text: &str) -> ScheduleConfig {
    toml::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn lrs(config: &ScheduleConfig, base: f64, total: usize) -> Vec<f64> {
    let mut s = config.build(base, total).unwrap();
    (0..total)
        .map(|_| {
            let lr = s.lr();
            s.step();
            lr
        })
        .collect()
}

#[test]
fn warmup_longer_than_the_run_is_an_error() {
    let config = parse("name = \"warmup\"\nsteps = 50\nthen = { name = \"cosine\" }");
    assert_eq!(config.build(0.1, 40).unwrap_err(), OptimError::WarmupTooLong { warmup: 50, total: 40 });
    assert_eq!(config.build(0.1, 40).unwrap_err().to_string(), "warm-up of 50 steps is longer than the run's 40 steps");
    assert!(config.build(0.1, 51).is_ok());
    // A warm-up nested in a warm-up counts against what the outer one leaves.
    let nested = parse("name = \"warmup\"\nsteps = 10\nthen = { name = \"warmup\", steps = 10 }");
    assert_eq!(nested.build(0.1, 15).unwrap_err(), OptimError::WarmupTooLong { warmup: 10, total: 5 });
}

#[test]
fn invalid_settings_are_typed_errors() {
    let cases: [(&str, OptimError); 10] = [
        ("name = \"step\"\nstep_size = 0", OptimError::TooFew { name: "step_size", value: 0, min: 1 }),
        ("name = \"step\"\nstep_size = 5\ngamma = 0.0", out("gamma", 0.0, "(0, inf)")),
        ("name = \"multi_step\"\nmilestones = [10, 5]", OptimError::Milestones { milestones: vec![10, 5] }),
        ("name = \"multi_step\"\nmilestones = []", OptimError::Milestones { milestones: vec![] }),
        ("name = \"exponential\"\ngamma = -0.5", out("gamma", -0.5, "(0, inf)")),
        ("name = \"cosine\"\nt_max = 0", OptimError::TooFew { name: "t_max", value: 0, min: 1 }),
        ("name = \"warmup\"\nsteps = 5\nstart_factor = 0.0", out("start_factor", 0.0, "(0, 1]")),
        ("name = \"one_cycle\"\npct_start = 1.0", out("pct_start", 1.0, "(0, 1)")),
        ("name = \"reduce_on_plateau\"\nfactor = 1.0", out("factor", 1.0, "(0, 1)")),
        ("name = \"reduce_on_plateau\"\nmin_lr = -1.0", out("min_lr", -1.0, "[0, inf)")),
    ];
    for (text, expected) in cases {
        let config = parse(text);
        assert_eq!(config.validate().unwrap_err(), expected, "{text}");
        assert_eq!(config.build(0.1, 100).unwrap_err(), expected, "{text}");
    }
    let constant = ScheduleConfig::Constant {};
    assert_eq!(constant.build(0.0, 10).unwrap_err(), OptimError::LearningRate(0.0));
    assert_eq!(constant.build(0.1, 0).unwrap_err(), OptimError::TooFew { name: "total_steps", value: 0, min: 1 });
    let one_cycle = parse("name = \"one_cycle\"");
    assert_eq!(one_cycle.build(0.1, 3).unwrap_err(), OptimError::OneCycleTooShort { pct_start: 0.3, total_steps: 3 });
    assert!(one_cycle.build(0.1, 4).is_ok());
}

fn out(name: &'static str, value: f64, range: &'static str) -> OptimError {
    OptimError::OutOfRange { name, value, range }
}

#[test]
fn unknown_kinds_and_keys_are_rejected() {
    let err = toml::from_str::<ScheduleConfig>("name = \"cyclic\"").unwrap_err().to_string();
    assert!(err.contains("cyclic") && err.contains("one_cycle"), "{err}");
    assert!(toml::from_str::<ScheduleConfig>("name = \"step\"\nstep_size = 3\nstep_sise = 4").is_err());
    assert!(toml::from_str::<ScheduleConfig>("name = \"constant\"\ngamma = 0.5").is_err());
}

#[test]
fn configs_round_trip_through_toml() {
    let configs = [
        "name = \"constant\"",
        "name = \"multi_step\"\nmilestones = [3, 7]\ngamma = 0.5",
        "name = \"warmup\"\nsteps = 3\nstart_factor = 0.2\n[then]\nname = \"reduce_on_plateau\"\nmode = \"max\"\nthreshold_mode = \"abs\"",
        "name = \"one_cycle\"\npct_start = 0.4",
    ];
    for text in configs {
        let config = parse(text);
        assert_eq!(parse(&toml::to_string(&config).unwrap()), config, "{text}");
    }
}

#[test]
fn warmup_defaults_to_pytorch_linear_lr_then_constant() {
    let config = parse("name = \"warmup\"\nsteps = 3");
    let got = lrs(&config, 0.3, 6);
    let want = [0.1, 0.1 + 0.2 / 3.0, 0.1 + 0.4 / 3.0, 0.3, 0.3, 0.3];
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-15, "{got:?}");
    }
}

#[test]
fn polynomial_is_pytorch_polynomial_lr_and_sb3_linear_decay() {
    // PyTorch: PolynomialLR(opt, total_iters=4, power=2) from 0.1 gives
    // 0.1, 0.05625, 0.025, 0.00625, 0, 0 (closed form 0.1·(1 − t/4)²).
    let config = parse("name = \"polynomial\"\ntotal_iters = 4\npower = 2.0");
    let expected = [0.1, 0.05625, 0.025, 0.00625, 0.0, 0.0];
    for (got, want) in lrs(&config, 0.1, 6).iter().zip(expected) {
        assert!((got - want).abs() < 1e-15, "{got} vs {want}");
    }
    // Stable-Baselines3's lin_1e-3 over 100 000 steps: 1e-3 · (1 − t/100 000).
    let linear = parse("name = \"polynomial\"");
    let got = lrs(&linear, 1e-3, 100_000);
    assert!((got[25_600] - 1e-3 * (1.0 - 0.256)).abs() < 1e-15);
    assert_eq!(got[0], 1e-3);
    let bad = parse("name = \"polynomial\"\npower = 0.0");
    assert_eq!(bad.validate().unwrap_err(), out("power", 0.0, "(0, inf)"));
    let bad = parse("name = \"polynomial\"\ntotal_iters = 0");
    assert_eq!(bad.validate().unwrap_err(), OptimError::TooFew { name: "total_iters", value: 0, min: 1 });
}

#[test]
fn cosine_defaults_to_the_run_length_after_the_warmup() {
    let config = parse("name = \"warmup\"\nsteps = 10\nthen = { name = \"cosine\" }");
    let got = lrs(&config, 0.1, 110);
    assert!((got[10] - 0.1).abs() < 1e-15);
    assert!((got[60] - 0.05).abs() < 1e-12, "half-way through the cosine: {}", got[60]);
    assert!(got[109] < 1e-4 && got[109] > 0.0);
}

#[test]
fn plateau_needs_metrics_and_ignores_them_during_the_warmup() {
    let config = parse(
        "name = \"warmup\"\nsteps = 2\nstart_factor = 0.5\nthen = { name = \"reduce_on_plateau\", patience = 0, factor = 0.5 }",
    );
    assert!(config.is_metric_driven());
    let mut s = config.build(1.0, 10).unwrap();
    assert!(s.is_metric_driven());
    assert_eq!(s.lr(), 0.5);
    s.step_with_metric(1.0); // warm-up, ignored
    assert_eq!(s.lr(), 0.75);
    s.step_with_metric(1.0); // warm-up ends here: this metric is ignored too
    assert_eq!(s.lr(), 1.0);
    s.step_with_metric(1.0); // first metric seen: an improvement over +inf
    assert_eq!(s.lr(), 1.0);
    s.step(); // no metric: no change
    assert_eq!(s.lr(), 1.0);
    s.step_with_metric(1.0); // no improvement, patience 0: halve
    assert_eq!(s.lr(), 0.5);
    s.step_with_metric(f64::NAN); // NaN never improves
    assert_eq!(s.lr(), 0.25);
    assert_eq!(s.steps(), 6);
    assert_eq!(s.total_steps(), 10);
}

#[test]
fn the_other_schedules_ignore_metrics() {
    let config = parse("name = \"exponential\"\ngamma = 0.5");
    assert!(!config.is_metric_driven());
    let mut s = config.build(1.0, 10).unwrap();
    s.step_with_metric(123.0);
    assert_eq!(s.lr(), 0.5);
}

#[test]
fn units_count_the_run() {
    assert_eq!(ScheduleUnit::default(), ScheduleUnit::Epoch);
    assert_eq!(ScheduleUnit::Epoch.total_steps(30, 16), 30);
    assert_eq!(ScheduleUnit::Iteration.total_steps(30, 16), 480);
    assert_eq!(
        toml::from_str::<std::collections::BTreeMap<String, ScheduleUnit>>("u = \"iteration\"").unwrap()["u"],
        ScheduleUnit::Iteration
    );
}

fn decaying_schedule() -> impl Strategy<Value = ScheduleConfig> {
    let gamma = 0.01f64..1.0;
    prop_oneof![
        Just(ScheduleConfig::Constant {}),
        (1usize..50, gamma.clone()).prop_map(|(step_size, gamma)| ScheduleConfig::Step { step_size, gamma }),
        gamma.clone().prop_map(|gamma| ScheduleConfig::Exponential { gamma }),
        (proptest::option::of(1usize..300), 0.0f64..0.5)
            .prop_map(|(t_max, f)| ScheduleConfig::Cosine { t_max, eta_min: f * 0.1 }),
        (0.05f64..0.95, 1.0f64..100.0, 1.0f64..1e4).prop_map(|(pct_start, div_factor, final_div_factor)| {
            ScheduleConfig::OneCycle { pct_start, div_factor, final_div_factor }
        }),
    ]
}

proptest! {
    /// Every rate is positive and finite, and none exceeds the base rate: a
    /// warm-up only rises towards it and the schedules here only fall from it.
    #[test]
    fn rates_stay_in_zero_to_base(
        inner in decaying_schedule(),
        warmup in proptest::option::of((1usize..20, 0.01f64..1.0)),
        total in 40usize..300,
    ) {
        let config = match warmup {
            Some((steps, start_factor)) => ScheduleConfig::Warmup { steps, start_factor, then: Box::new(inner) },
            None => inner,
        };
        let base = 0.1;
        for (i, lr) in lrs(&config, base, total).into_iter().enumerate() {
            prop_assert!(lr.is_finite() && lr >= 0.0 && lr <= base * (1.0 + 1e-12), "step {i}: {lr}");
        }
    }

    /// Reduce-on-plateau never raises the rate and never goes below min_lr.
    #[test]
    fn plateau_only_decays_down_to_min_lr(
        metrics in proptest::collection::vec(-1.0f64..1.0, 1..100),
        patience in 0usize..5,
        cooldown in 0usize..3,
        factor in 0.05f64..0.95,
    ) {
        let config = ScheduleConfig::ReduceOnPlateau {
            mode: Default::default(), factor, patience, threshold: 1e-4,
            threshold_mode: Default::default(), cooldown, min_lr: 1e-3, eps: 1e-8,
        };
        let mut s = config.build(0.1, metrics.len()).unwrap();
        let mut last = s.lr();
        for m in metrics {
            s.step_with_metric(m);
            prop_assert!(s.lr() <= last && s.lr() >= 1e-3);
            last = s.lr();
        }
    }
}
