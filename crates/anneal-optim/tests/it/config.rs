//! Optimiser configs: parsing, defaults, validation errors.

use anneal_optim::{OptimError, OptimizerConfig};

fn parse(text: &str) -> Result<OptimizerConfig, toml::de::Error> {
    toml::from_str(text)
}

#[test]
fn every_name_parses_with_pytorch_defaults_and_builds() {
    for name in OptimizerConfig::NAMES {
        let config = parse(&format!("name = \"{name}\"\nlearning_rate = 0.01")).unwrap();
        assert_eq!(config.name(), name);
        assert_eq!(config, OptimizerConfig::with_defaults(name, 0.01).unwrap());
        let optimizer = config.init().unwrap();
        assert_eq!(optimizer.learning_rate(), 0.01);
        assert_eq!(optimizer.config(), &config);
        assert_eq!(optimizer.steps(), 0);
    }
    assert_eq!(
        parse("name = \"adamw\"\nlearning_rate = 0.001").unwrap(),
        OptimizerConfig::AdamW {
            learning_rate: 0.001,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.01,
            amsgrad: false
        }
    );
    assert_eq!(
        parse("name = \"rmsprop\"\nlearning_rate = 0.01").unwrap(),
        OptimizerConfig::RmsProp {
            learning_rate: 0.01,
            alpha: 0.99,
            epsilon: 1e-8,
            momentum: 0.0,
            centered: false,
            weight_decay: 0.0
        }
    );
}

#[test]
fn configs_round_trip_through_toml() {
    for name in OptimizerConfig::NAMES {
        let config = OptimizerConfig::with_defaults(name, 0.05).unwrap();
        let text = toml::to_string(&config).unwrap();
        assert_eq!(parse(&text).unwrap(), config, "{text}");
    }
}

#[test]
fn unknown_names_and_keys_are_errors_that_say_what_is_known() {
    let err = parse("name = \"adamx\"\nlearning_rate = 0.01").unwrap_err().to_string();
    assert!(err.contains("adamx") && err.contains("adamw") && err.contains("rmsprop"), "{err}");
    let err = parse("name = \"sgd\"\nlearning_rate = 0.01\nmomentun = 0.9").unwrap_err().to_string();
    assert!(err.contains("momentun"), "{err}");
    // `gd` is plain gradient descent: it has no momentum.
    assert!(parse("name = \"gd\"\nlearning_rate = 0.01\nmomentum = 0.9").is_err());

    let err = OptimizerConfig::with_defaults("lbfgs", 0.1).unwrap_err();
    assert_eq!(
        err,
        OptimError::UnknownOptimizer {
            name: "lbfgs".into(),
            known: "gd, sgd, rmsprop, adam, adamw, sgd_hd, adam_hd".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "unknown optimizer `lbfgs`, expected one of: gd, sgd, rmsprop, adam, adamw, sgd_hd, adam_hd"
    );
}

#[test]
fn invalid_values_name_the_field_and_value() {
    let cases: [(&str, OptimError); 9] = [
        ("name = \"gd\"\nlearning_rate = 0.0", OptimError::LearningRate(0.0)),
        ("name = \"sgd\"\nlearning_rate = 0.1\nmomentum = 1.0", out("momentum", 1.0, "[0, 1)")),
        ("name = \"sgd\"\nlearning_rate = 0.1\nnesterov = true", OptimError::NesterovWithoutMomentum { momentum: 0.0 }),
        ("name = \"sgd\"\nlearning_rate = 0.1\nweight_decay = -1.0", out("weight_decay", -1.0, "[0, inf)")),
        ("name = \"rmsprop\"\nlearning_rate = 0.1\nalpha = 1.5", out("alpha", 1.5, "[0, 1)")),
        ("name = \"rmsprop\"\nlearning_rate = 0.1\nepsilon = 0.0", out("epsilon", 0.0, "(0, inf)")),
        ("name = \"adam\"\nlearning_rate = 0.1\nbeta2 = 1.0", out("beta2", 1.0, "[0, 1)")),
        ("name = \"adamw\"\nlearning_rate = 0.1\nbeta1 = -0.1", out("beta1", -0.1, "[0, 1)")),
        (
            "name = \"sgd_hd\"\nlearning_rate = 0.1\nhypergradient_lr = -1e-3",
            out("hypergradient_lr", -1e-3, "[0, inf)"),
        ),
    ];
    for (text, expected) in cases {
        let config = parse(text).unwrap();
        assert_eq!(config.validate().unwrap_err(), expected, "{text}");
        assert_eq!(config.init().unwrap_err(), expected, "{text}");
    }
    assert_eq!(
        OptimizerConfig::adam(f64::NAN).validate().unwrap_err().to_string(),
        "learning rate must be a positive finite number, got NaN"
    );
    assert_eq!(out("beta2", 1.0, "[0, 1)").to_string(), "beta2 = 1 is outside its valid range [0, 1)");
}

fn out(name: &'static str, value: f64, range: &'static str) -> OptimError {
    OptimError::OutOfRange { name, value, range }
}

#[test]
fn gd_asks_for_the_full_batch_and_hd_adapts_its_rate() {
    for name in OptimizerConfig::NAMES {
        let config = OptimizerConfig::with_defaults(name, 0.1).unwrap();
        assert_eq!(config.is_full_batch(), name == "gd");
        assert_eq!(config.adapts_learning_rate(), name.ends_with("_hd"));
    }
}

#[test]
fn set_learning_rate_changes_the_next_step() {
    let mut optimizer = OptimizerConfig::Gd { learning_rate: 0.1 }.init().unwrap();
    optimizer.set_learning_rate(0.05);
    assert_eq!(optimizer.learning_rate(), 0.05);
    assert!(format!("{optimizer:?}").contains("gd"));
}
