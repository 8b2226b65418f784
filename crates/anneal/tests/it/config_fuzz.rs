//! Fuzzing the run-config parser (proptest): arbitrary bytes, and the penguins
//! config with one value replaced by a hostile one (huge, negative, NaN,
//! infinite, the wrong type). Loading never panics, and neither do the checks
//! `anneal train` makes before it reads data; every failure is a typed error
//! with a message.
//!
//! `PROPTEST_CASES` sets the number of cases (default 1000 per property).

use anneal::RunConfig;
use anneal::config::Task;
use proptest::prelude::*;

use super::root;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000)
}

/// Loads `text` as a config file and runs the settings checks of `anneal train`.
fn check(dir: &std::path::Path, text: &[u8]) {
    let file = dir.join("fuzz.toml");
    std::fs::write(&file, text).unwrap();
    match RunConfig::load(&file) {
        Ok(config) => {
            let _ = config.optimizer.validate().map_err(|e| assert!(!e.to_string().is_empty()));
            let _ = config.split.fractions().validate();
            let train = config.train_config();
            if let Some(c) = &train.gradient_clipping {
                let _ = c.validate();
            }
            let _ = train.regularization.validate();
            for task in [Task::Classification, Task::Regression] {
                let _ = config.loss(task).map_err(|e| assert!(!e.to_string().is_empty()));
            }
            let _ = config.target_transform();
            let _ = config.model_config(7, 3, None).init(config.seed, &anneal::train::Backend::Flex.device().unwrap());
            let _ = toml::to_string_pretty(&config).expect("a loaded config serialises");
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

/// A hostile TOML value.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| format!("{v:e}")),
        Just("nan".to_string()),
        Just("-inf".to_string()),
        Just("inf".to_string()),
        Just("1e400".to_string()),
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("18446744073709551615".to_string()),
        Just("9223372036854775807".to_string()),
        Just("true".to_string()),
        Just("[]".to_string()),
        Just("[1, -2, 0]".to_string()),
        Just("{}".to_string()),
        Just("\"\"".to_string()),
        "\"[ -~&&[^\"\\\\]]{0,12}\"",
        Just("\"../../../etc/passwd\"".to_string()),
        Just("[[1]]".to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let dir = tempfile::tempdir().unwrap();
        check(dir.path(), &bytes);
    }

    #[test]
    fn one_hostile_value_never_panics(line in any::<proptest::sample::Index>(), v in value()) {
        let base = std::fs::read_to_string(root().join("examples/configs/penguins.toml")).unwrap();
        let lines: Vec<&str> = base.lines().collect();
        let assignments: Vec<usize> =
            (0..lines.len()).filter(|&i| lines[i].contains(" = ") && !lines[i].trim_start().starts_with('#')).collect();
        let i = assignments[line.index(assignments.len())];
        let key = lines[i].split(" = ").next().unwrap();
        let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        out[i] = format!("{key} = {v}");
        let dir = tempfile::tempdir().unwrap();
        check(dir.path(), out.join("\n").as_bytes());
    }
}
