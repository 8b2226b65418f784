//! Integration tests of anneal-data's public API.

mod audio;
mod clean;
mod fuzz;
mod golden;
mod inspect;
mod props;
mod reader;

use anneal_data::{
    Column, CsvOptions, DataError, LabelEncoder, PreprocessConfig, Preprocessor, SplitFractions, Table, holdout,
    stratified_holdout,
};
use proptest::prelude::*;

fn table(x: Vec<Option<f64>>, c: Vec<Option<&str>>) -> Table {
    Table::from_columns(vec![
        ("x".into(), Column::Numeric(x)),
        ("c".into(), Column::Categorical(c.into_iter().map(|v| v.map(String::from)).collect())),
    ])
    .unwrap()
}

#[test]
fn bundled_penguins_load_with_types_and_missing_cells() {
    let t = Table::read_csv(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/penguins.csv.gz"), &CsvOptions::default())
        .unwrap();
    assert_eq!(t.n_rows(), 344);
    assert_eq!(t.column_names()[0], "species");
    assert_eq!(t.kind("bill_length_mm").unwrap(), anneal_data::ColumnKind::Numeric);
    assert_eq!(t.kind("island").unwrap(), anneal_data::ColumnKind::Categorical);
    let missing: usize = t.column_names().iter().map(|c| t.null_count(c).unwrap()).sum();
    assert_eq!(missing, 19, "the provenance file lists 19 missing cells");
}

/// Median imputation and standard scaling as scikit-learn computes them:
/// `SimpleImputer(strategy="median")` then `StandardScaler()` on x = [1, 2, NaN, 4, 10]
/// gives median 3 and, on [1, 2, 3, 4, 10], mean 4 and population std sqrt(10).
#[test]
fn imputation_and_scaling_match_scikit_learn() {
    let t = table(
        vec![Some(1.0), Some(2.0), None, Some(4.0), Some(10.0)],
        vec![Some("b"), Some("a"), None, Some("b"), Some("a")],
    );
    let pre = PreprocessConfig::default().fit(&t, &["x".into(), "c".into()]).unwrap();
    let m = pre.transform(&t).unwrap();
    let sd = 10f64.sqrt();
    let expected_x = [1.0, 2.0, 3.0, 4.0, 10.0].map(|v: f64| ((v - 4.0) / sd) as f32);
    for (r, e) in expected_x.iter().enumerate() {
        assert!((m.values[r * 3] - e).abs() < 1e-6, "row {r}");
    }
    // Most frequent with a tie (a: 2, b: 2) picks the smallest label, as scikit-learn: "a".
    assert_eq!(&m.values[2 * 3 + 1..2 * 3 + 3], &[1.0, 0.0]);
}

#[test]
fn fitted_state_round_trips_and_reapplies_identically() {
    let t = table(vec![Some(1.0), None, Some(3.0)], vec![Some("a"), Some("b"), None]);
    let pre = PreprocessConfig::default().fit(&t, &["x".into(), "c".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pre.json");
    pre.save(&path).unwrap();
    let back = Preprocessor::load(&path).unwrap();
    assert_eq!(back, pre);
    let new = table(vec![None, Some(100.0)], vec![Some("zzz"), Some("b")]);
    assert_eq!(back.transform(&new).unwrap(), pre.transform(&new).unwrap());
}

#[test]
fn statistics_come_from_the_training_split_only() {
    let train = table(vec![Some(1.0), Some(2.0), Some(3.0)], vec![Some("a"); 3]);
    let test = table(vec![Some(1e9), None], vec![Some("a"), Some("a")]);
    let pre = PreprocessConfig::default().fit(&train, &["x".into()]).unwrap();
    let m = pre.transform(&test).unwrap();
    // The missing test cell is filled with the training median (2), which scales to 0.
    assert_eq!(m.values[1], 0.0);
    let refit = PreprocessConfig::default().fit(&train, &["x".into()]).unwrap();
    assert_eq!(refit, pre, "fitting never looks at other tables");
}

#[test]
fn unknown_category_policy() {
    let train = table(vec![Some(1.0)], vec![Some("a")]);
    let new = table(vec![Some(1.0)], vec![Some("b")]);
    let ignore = PreprocessConfig::default().fit(&train, &["c".into()]).unwrap();
    assert_eq!(ignore.transform(&new).unwrap().values, vec![0.0]);
    let strict = PreprocessConfig {
        one_hot: anneal_data::encode::OneHotConfig {
            unknown: anneal_data::preprocess::UnknownCategory::Error,
            ..Default::default()
        },
        ..Default::default()
    }
    .fit(&train, &["c".into()])
    .unwrap();
    assert!(
        matches!(strict.transform(&new), Err(DataError::UnknownCategory { column, value }) if column == "c" && value == "b")
    );
}

#[test]
fn typed_errors_name_the_problem() {
    let t = table(vec![None, None], vec![Some("a"), Some("b")]);
    let e = PreprocessConfig::default().fit(&t, &["x".into()]).unwrap_err();
    assert!(matches!(e, DataError::AllMissing { ref column, .. } if column == "x"), "{e}");
    let e = PreprocessConfig::default().fit(&t, &["nope".into()]).unwrap_err();
    assert!(e.to_string().contains("column `nope` does not exist (available: x, c)"), "{e}");
    let e = LabelEncoder::fit(&table(vec![Some(1.0)], vec![None]), "c").unwrap_err();
    assert!(matches!(e, DataError::MissingTarget { row: 0, .. }), "{e}");
    let e = stratified_holdout(&[0, 0, 0, 1], &["a".into(), "b".into()], SplitFractions::default(), 1).unwrap_err();
    assert!(e.to_string().contains("class `b` has 1 member(s), too few to stratify into 3 parts"), "{e}");
    let e = holdout(10, SplitFractions { train: 0.5, valid: 0.1, test: 0.1 }, 1).unwrap_err();
    assert!(e.to_string().contains("sum to"), "{e}");
    let x = anneal_data::Dense::from_rows(&["size"], &[vec![1.0], vec![0.0], vec![2.0]]).unwrap();
    let e = anneal_data::power::PowerConfig { method: anneal_data::power::PowerMethod::BoxCox, standardize: true }
        .fit(&x)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "column `size`, row 1: Box-Cox needs positive values, got 0 (use Yeo-Johnson for zero or negative data)"
    );
    let e = anneal_data::folds::k_fold(3, 5, None).unwrap_err();
    assert_eq!(e.to_string(), "n_splits = 5 needs at least 5 rows, but there are 3");
    let e = anneal_data::impute::KnnImputerConfig { n_neighbors: 4, distance_weighted: false, add_indicator: false }
        .fit(&x)
        .unwrap_err();
    assert_eq!(e.to_string(), "n_neighbors = 4 needs at least 4 rows, but there are 3");
    let e = anneal_data::folds::stratified_k_fold(&[0, 0, 0, 1, 1], 3, None).unwrap_err();
    assert!(e.to_string().contains("has 2 member(s), too few to stratify into 3 parts"), "{e}");
}

fn fractions() -> impl Strategy<Value = SplitFractions> {
    (1u32..8, 0u32..4, 0u32..4).prop_map(|(a, b, c)| {
        let s = (a + b + c) as f64;
        SplitFractions { train: a as f64 / s, valid: b as f64 / s, test: c as f64 / s }
    })
}

proptest! {
    /// Every row lands in exactly one part, and the same seed gives the same split.
    #[test]
    fn stratified_split_is_a_partition(labels in proptest::collection::vec(0usize..3, 30..200), f in fractions(), seed in any::<u64>()) {
        let names = ["a".to_string(), "b".to_string(), "c".to_string()];
        match stratified_holdout(&labels, &names, f, seed) {
            Ok(s) => {
                let mut all: Vec<usize> = s.train.iter().chain(&s.valid).chain(&s.test).copied().collect();
                all.sort_unstable();
                prop_assert_eq!(all, (0..labels.len()).collect::<Vec<_>>());
                prop_assert_eq!(stratified_holdout(&labels, &names, f, seed).unwrap(), s.clone());
                // Each class's share of the test part is within one row of its rounded share.
                for c in 0..3 {
                    let n_c = labels.iter().filter(|&&l| l == c).count();
                    let in_test = s.test.iter().filter(|&&i| labels[i] == c).count();
                    if n_c > 0 && f.test > 0.0 {
                        prop_assert!((in_test as f64 - n_c as f64 * f.test).abs() <= 1.0 + 1e-9, "class {} {} of {}", c, in_test, n_c);
                    }
                }
            }
            Err(DataError::ClassTooSmall { .. }) => {}
            Err(e) => prop_assert!(false, "{}", e),
        }
    }

    /// A group split is a partition, no group straddles two parts, and the same
    /// seed gives the same split.
    #[test]
    fn group_split_keeps_groups_whole(groups in proptest::collection::vec(0u32..12, 3..120), f in fractions(), seed in any::<u64>()) {
        match anneal_data::group_holdout(&groups, f, seed) {
            Ok(s) => {
                let mut all: Vec<usize> = s.train.iter().chain(&s.valid).chain(&s.test).copied().collect();
                all.sort_unstable();
                prop_assert_eq!(all, (0..groups.len()).collect::<Vec<_>>());
                let of = |rows: &[usize]| rows.iter().map(|&r| groups[r]).collect::<std::collections::BTreeSet<_>>();
                let (train, valid, test) = (of(&s.train), of(&s.valid), of(&s.test));
                prop_assert!(train.is_disjoint(&test) && train.is_disjoint(&valid) && valid.is_disjoint(&test));
                prop_assert!(!train.is_empty());
                prop_assert_eq!(f.test > 0.0, !test.is_empty());
                prop_assert_eq!(anneal_data::group_holdout(&groups, f, seed).unwrap(), s.clone());
            }
            Err(DataError::InvalidSplit(m)) => prop_assert!(m.contains("group(s) cannot fill"), "{}", m),
            Err(e) => prop_assert!(false, "{}", e),
        }
    }

    /// Scaled training columns have mean 0 and, unless constant, standard deviation 1;
    /// a constant column never produces NaN.
    #[test]
    fn standard_scaling_invariants(x in proptest::collection::vec(proptest::option::weighted(0.8, -1e3f64..1e3), 2..50)) {
        prop_assume!(x.iter().any(Option::is_some));
        let t = table(x.clone(), vec![Some("a"); x.len()]);
        let m = PreprocessConfig::default().fit(&t, &["x".into()]).unwrap().transform(&t).unwrap();
        let n = m.values.len() as f64;
        let mean = m.values.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = m.values.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        prop_assert!(m.values.iter().all(|v| v.is_finite()));
        prop_assert!(mean.abs() < 1e-4, "mean {}", mean);
        prop_assert!(var < 1e-6 || (var - 1.0).abs() < 1e-3, "var {}", var);
    }
}

#[test]
fn numeric_labels_sort_by_value() {
    let t = Table::from_columns(vec![("y".into(), Column::Numeric(vec![Some(10.0), Some(2.0), Some(2.0), Some(1.5)]))])
        .unwrap();
    let enc = LabelEncoder::fit(&t, "y").unwrap();
    assert_eq!(enc.classes(), ["1.5", "2", "10"]);
    assert_eq!(enc.encode(&t).unwrap(), vec![2, 1, 1, 0]);
}

#[test]
fn derived_log1p_and_winsorize_from_toml() {
    let config: PreprocessConfig = toml::from_str(
        r#"
        derived = [{ name = "ratio", op = "ratio", columns = ["x", "y"] }]
        log1p = ["y"]
        winsorize = [0.0, 0.75]
        scaling = "none"
        "#,
    )
    .unwrap();
    let t = Table::from_columns(vec![
        ("x".into(), Column::Numeric(vec![Some(1.0), Some(2.0), Some(3.0), Some(100.0), Some(4.0)])),
        ("y".into(), Column::Numeric(vec![Some(1.0), Some(0.0), Some(3.0), Some(1.0), Some(3.0)])),
    ])
    .unwrap();
    let pre = config.fit(&t, &["x".into(), "y".into()]).unwrap();
    assert_eq!(pre.feature_names(), ["x", "y", "ratio"]);
    let m = pre.transform(&t).unwrap();
    // x is clipped to its 75th percentile (4); y → ln(1 + y); 2 / 0 is missing and
    // takes the median of the other ratios after winsorizing.
    assert_eq!(m.values[9], 4.0);
    assert!((m.values[1] - 1f32.ln_1p()).abs() < 1e-6);
    // Winsorizing clips -3 to the training minimum first; without it, log1p fails.
    let pre = PreprocessConfig { winsorize: None, ..config }.fit(&t, &["x".into(), "y".into()]).unwrap();
    let err = pre
        .transform(
            &Table::from_columns(vec![
                ("x".into(), Column::Numeric(vec![Some(1.0)])),
                ("y".into(), Column::Numeric(vec![Some(-3.0)])),
            ])
            .unwrap(),
        )
        .unwrap_err();
    assert!(matches!(err, DataError::OutOfDomain { ref column, row: 0, .. } if column == "y"), "{err}");
}

#[test]
fn winsorizing_bounds_come_from_the_training_split_only() {
    let train = table((1..=20).map(|v| Some(v as f64)).collect(), vec![Some("a"); 20]);
    let config = PreprocessConfig {
        winsorize: Some([0.05, 0.95]),
        scaling: anneal_data::preprocess::Scaling::None,
        ..Default::default()
    };
    let pre = config.fit(&train, &["x".into()]).unwrap();
    let test = table(vec![Some(1e9), Some(-1e9)], vec![Some("a"), Some("a")]);
    let m = pre.transform(&test).unwrap();
    // numpy's linear quantiles of 1..=20 at 0.05 and 0.95: 1.95 and 19.05.
    assert!((m.values[0] - 19.05).abs() < 1e-5 && (m.values[1] - 1.95).abs() < 1e-5, "{:?}", m.values);
}

#[test]
fn target_encoding_needs_the_target_and_cross_fits_the_training_rows() {
    use anneal_data::encode::TargetValues;
    let config: PreprocessConfig = toml::from_str("encoders = { c = \"target\" }\nscaling = \"none\"").unwrap();
    let t = table(
        (0..12).map(|v| Some(v as f64)).collect(),
        ["a", "b", "c", "a", "b", "c", "a", "b", "c", "a", "b", "c"].map(Some).to_vec(),
    );
    let features = ["x".to_string(), "c".to_string()];
    let err = config.fit(&t, &features).unwrap_err();
    assert!(err.to_string().contains("`c` is target-encoded"), "{err}");
    let classes = ["no".to_string(), "yes".to_string()];
    let codes = [0, 1, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0];
    let target = TargetValues::Classes { codes: &codes, classes: &classes };
    let (pre, m) = config.fit_transform_with_target(&t, &features, Some(target), 3).unwrap();
    assert_eq!(pre.feature_names(), ["x", "c_target"]);
    let full = pre.transform(&t).unwrap();
    // The encoding learned from all rows differs from the cross-fitted one.
    assert_ne!(full.values, m.values);
    let again = config.fit_transform_with_target(&t, &features, Some(target), 3).unwrap().1;
    assert_eq!(again.values, m.values, "same seed, same folds");
}

#[test]
fn ordinal_order_from_toml() {
    let config: PreprocessConfig =
        toml::from_str("encoders = { c = \"ordinal\" }\nordinal_order = { c = [\"b\", \"a\"] }\nscaling = \"none\"")
            .unwrap();
    let t = table(vec![Some(1.0), Some(2.0), Some(3.0)], vec![Some("a"), Some("b"), None]);
    let pre = config.fit(&t, &["c".into()]).unwrap();
    // The missing cell takes the most frequent category (a tie: the smallest, a).
    assert_eq!(pre.transform(&t).unwrap().values, [1.0, 0.0, 1.0]);
    let unseen = table(vec![Some(1.0)], vec![Some("z")]);
    assert!(matches!(pre.transform(&unseen), Err(DataError::UnknownCategory { .. })));
    let bad: PreprocessConfig = toml::from_str("encoders = { x = \"ordinal\" }").unwrap();
    assert!(bad.fit(&t, &["x".into(), "c".into()]).unwrap_err().to_string().contains("not a categorical column"));
}

/// The bundled Parquet copy of penguins (written by pyarrow) reads to the same
/// table as the CSV: large strings, a dictionary column and int64 included.
#[cfg(feature = "parquet")]
#[test]
fn parquet_written_by_pyarrow_equals_the_csv() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/");
    let csv = Table::read(format!("{data}penguins.csv.gz"), &CsvOptions::default()).unwrap();
    let parquet = Table::read(format!("{data}penguins.parquet"), &CsvOptions::default()).unwrap();
    assert_eq!(parquet.column_names(), csv.column_names());
    for c in csv.column_names() {
        assert_eq!(parquet.kind(&c).unwrap(), csv.kind(&c).unwrap(), "{c}");
        assert_eq!(parquet.as_strings(&c).unwrap(), csv.as_strings(&c).unwrap(), "{c}");
    }
    assert_eq!(
        parquet.columns_of_kind(anneal_data::ColumnKind::Categorical),
        ["species", "island", "sex"].map(String::from)
    );
}

#[test]
fn numeric_target_names_the_row_of_a_missing_value() {
    let t = table(vec![Some(1.5), None], vec![Some("a"), Some("b")]);
    let err = anneal_data::preprocess::numeric_target(&t, "x").unwrap_err();
    assert!(matches!(err, DataError::MissingTarget { row: 1, .. }), "{err}");
    let ok = table(vec![Some(1.5), Some(-2.0)], vec![Some("a"), Some("b")]);
    assert_eq!(anneal_data::preprocess::numeric_target(&ok, "x").unwrap(), [1.5, -2.0]);
}

#[test]
fn constant_imputation_from_toml() {
    let config: PreprocessConfig = toml::from_str("numeric_impute = { constant = -1.0 }\nscaling = \"none\"").unwrap();
    let t = table(vec![Some(2.0), None], vec![Some("a"), Some("b")]);
    assert_eq!(config.fit(&t, &["x".into()]).unwrap().transform(&t).unwrap().values, [2.0, -1.0]);
}
