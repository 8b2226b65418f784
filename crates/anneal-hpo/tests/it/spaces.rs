//! Search spaces: TOML and Rust declarations, and the typed errors for bad ones.

use anneal_hpo::{Distribution, HpoError, SearchSpace};
use proptest::prelude::*;

fn parse(text: &str) -> Result<SearchSpace, HpoError> {
    SearchSpace::from_toml_str(text)
}

#[test]
fn toml_and_rust_declarations_agree_and_round_trip() {
    let text = r#"
        [[param]]
        name = "lr"
        type = "float"
        low = 1e-5
        high = 1
        log = true

        [[param]]
        name = "layers"
        type = "int"
        low = 1
        high = 8
        step = 1

        [[param]]
        name = "width"
        type = "int"
        low = 16
        high = 1024
        log = true

        [[param]]
        name = "dropout"
        type = "float"
        low = 0.0
        high = 0.5
        step = 0.1

        [[param]]
        name = "optimizer"
        type = "categorical"
        choices = ["sgd", "adam"]

        [[param]]
        name = "momentum"
        type = "float"
        low = 0.0
        high = 0.99
        condition = { parent = "optimizer", values = ["sgd"] }
    "#;
    let space = parse(text).unwrap();
    let rust = SearchSpace::new()
        .with("lr", Distribution::log_float(1e-5, 1.0))
        .with("layers", Distribution::int(1, 8))
        .with("width", Distribution::log_int(16, 1024))
        .with("dropout", Distribution::float_step(0.0, 0.5, 0.1))
        .with("optimizer", Distribution::categorical(["sgd", "adam"]))
        .with_condition("momentum", Distribution::float(0.0, 0.99), "optimizer", ["sgd"]);
    assert_eq!(space, rust);
    assert_eq!(parse(&space.to_toml_string()).unwrap(), space);
    assert_eq!(space.len(), 6);
}

#[test]
fn bad_spaces_give_typed_errors_naming_the_parameter() {
    assert!(matches!(parse(""), Err(HpoError::Toml { .. })), "empty: the inner EmptySpace becomes a TOML error");
    assert!(matches!(SearchSpace::new().validate(), Err(HpoError::EmptySpace)));
    let e = SearchSpace::new().with("lr", Distribution::log_float(0.0, 1.0)).validate().unwrap_err();
    assert!(matches!(&e, HpoError::LogRangeNotPositive { param, .. } if param == "lr"), "{e}");
    let e = SearchSpace::new().with("lr", Distribution::log_float(-1.0, 1.0)).validate().unwrap_err();
    assert!(matches!(e, HpoError::LogRangeNotPositive { .. }));
    let e = SearchSpace::new().with("n", Distribution::log_int(0, 10)).validate().unwrap_err();
    assert!(matches!(e, HpoError::LogRangeNotPositive { .. }));
    let e = SearchSpace::new().with("x", Distribution::float(2.0, 1.0)).validate().unwrap_err();
    assert!(matches!(&e, HpoError::InvalidRange { param, .. } if param == "x"));
    assert_eq!(e.to_string(), "parameter `x`: low 2 must not exceed high 1 (both finite)");
    let e = SearchSpace::new().with("c", Distribution::categorical(Vec::<String>::new())).validate().unwrap_err();
    assert!(matches!(&e, HpoError::InvalidChoices { param, .. } if param == "c"));
    let e = SearchSpace::new().with("x", Distribution::int_step(0, 10, 0)).validate().unwrap_err();
    assert!(matches!(e, HpoError::InvalidStep { .. }));
    let e = SearchSpace::new()
        .with("x", Distribution::float(0.0, 1.0))
        .with("x", Distribution::float(0.0, 1.0))
        .validate()
        .unwrap_err();
    assert!(matches!(e, HpoError::DuplicateParam { .. }));
}

#[test]
fn toml_errors_name_the_field() {
    let e = parse("[[param]]\nname = \"x\"\ntype = \"float\"\nlow = 0\nhigh = 1\nlogg = true\n").unwrap_err();
    assert!(e.to_string().contains("logg"), "unknown fields are rejected: {e}");
    let e = parse("[[param]]\nname = \"x\"\ntype = \"float\"\nlow = 0\n").unwrap_err();
    assert!(e.to_string().contains("field `high` is missing"), "{e}");
    let e = parse("[[param]]\nname = \"c\"\ntype = \"categorical\"\nchoices = []\n").unwrap_err();
    assert!(e.to_string().contains("parameter `c`: no choices"), "{e}");
    let e = parse("[[param]]\nname = \"n\"\ntype = \"int\"\nlow = 0.5\nhigh = 3\n").unwrap_err();
    assert!(e.to_string().contains("must be an integer"), "{e}");
    let e = parse("[[param]]\nname = \"x\"\ntype = \"float\"\nlow = 0\nhigh = 1\nchoices = [1]\n").unwrap_err();
    assert!(e.to_string().contains("only allowed for a categorical"), "{e}");
    let e = parse("[[param]]\nname = \"x\"\ntype = \"float\"\nlow = 0.0\nhigh = 1.0\nlog = true\n").unwrap_err();
    assert!(e.to_string().contains("log range must be positive"), "{e}");
}

#[test]
fn conditions_must_name_an_earlier_categorical_and_its_choices() {
    let base = SearchSpace::new().with("opt", Distribution::categorical(["sgd", "adam"]));
    let e = base.clone().with_condition("m", Distribution::float(0.0, 1.0), "nope", ["sgd"]).validate().unwrap_err();
    assert!(matches!(e, HpoError::InvalidCondition { .. }), "{e}");
    let e = base.clone().with_condition("m", Distribution::float(0.0, 1.0), "opt", ["rmsprop"]).validate().unwrap_err();
    assert!(e.to_string().contains("\"rmsprop\" is not a choice"), "{e}");
    let e = SearchSpace::new()
        .with("x", Distribution::float(0.0, 1.0))
        .with_condition("m", Distribution::float(0.0, 1.0), "x", ["a"])
        .validate()
        .unwrap_err();
    assert!(e.to_string().contains("must be categorical"), "{e}");
    // A parent declared after its child is rejected.
    let e = SearchSpace::new()
        .with_condition("m", Distribution::float(0.0, 1.0), "opt", ["sgd"])
        .with("opt", Distribution::categorical(["sgd", "adam"]))
        .validate()
        .unwrap_err();
    assert!(e.to_string().contains("declared before"), "{e}");
}

proptest! {
    #[test]
    fn unit_mapping_always_lands_inside_the_distribution(u in 0.0f64..=1.0, low in -50i64..50, span in 0i64..200, step in 1i64..7) {
        let dists = [
            Distribution::int_step(low, low + span, step),
            Distribution::float(low as f64, (low + span) as f64),
            Distribution::float_step(low as f64, (low + span) as f64, step as f64 * 0.5),
            Distribution::log_float(1e-3, 1e-3 + span as f64),
            Distribution::log_int(1, 1 + span),
            Distribution::categorical(["a", "b", "c"]),
        ];
        for d in dists {
            let x = d.from_unit(u);
            prop_assert!(d.contains(x), "{d:?} from_unit({u}) = {x}");
            // Discrete values survive the round trip through the unit interval.
            if d.n_values().is_some() {
                prop_assert_eq!(d.from_unit(d.to_unit(x)), x);
            }
        }
    }
}

#[test]
fn the_example_space_file_is_valid() {
    let space = SearchSpace::from_toml_file(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/space.toml")).unwrap();
    assert_eq!(space.len(), 5);
    let e = SearchSpace::from_toml_file("no/such/space.toml").unwrap_err();
    assert!(matches!(e, HpoError::Io { .. }), "{e}");
}
