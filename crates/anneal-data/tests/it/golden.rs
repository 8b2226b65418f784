//! Numerics against scikit-learn: expected values from `tests/golden/make_golden.py`
//! (committed as `tests/golden/golden.json`; no Python runs here).

use anneal_data::folds::{k_fold, stratified_k_fold};
use anneal_data::impute::{KnnImputerConfig, SimpleImputerConfig, SimpleStrategy};
use anneal_data::pca::{Components, PcaConfig};
use anneal_data::poly::PolynomialConfig;
use anneal_data::power::{PowerConfig, PowerMethod};
use anneal_data::scale::ScalerConfig;
use anneal_data::{Column, Dense, PreprocessConfig, Table};
use serde_json::Value;

fn golden() -> Value {
    serde_json::from_str(include_str!("../golden/golden.json")).unwrap()
}

fn matrix(v: &Value) -> Dense {
    let rows: Vec<Vec<f64>> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect())
        .collect();
    let names: Vec<String> = (0..rows[0].len()).map(|i| format!("x{i}")).collect();
    Dense::from_rows(&names, &rows).unwrap()
}

/// Equal to 1e-6 relative (1e-9 absolute near zero); NaN equals NaN.
fn assert_close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if w.is_nan() {
            assert!(g.is_nan(), "{what}[{i}]: got {g}, want NaN");
        } else {
            assert!((g - w).abs() <= 1e-6 * w.abs() + 1e-9, "{what}[{i}]: got {g}, want {w}");
        }
    }
}

fn flat(v: &Value) -> Vec<f64> {
    matrix(v).values().to_vec()
}

fn list(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

#[test]
fn simple_imputer() {
    let g = golden();
    let (x, new) = (matrix(&g["x_missing"]), matrix(&g["x_new"]));
    for (name, strategy) in [
        ("mean", SimpleStrategy::Mean),
        ("median", SimpleStrategy::Median),
        ("most_frequent", SimpleStrategy::MostFrequent),
        ("constant", SimpleStrategy::Constant { value: -7.5 }),
    ] {
        let imp = SimpleImputerConfig { strategy, add_indicator: false }.fit(&x).unwrap();
        let want = &g["simple_imputer"][name];
        assert_close(imp.fill_values(), &list(&want["statistics"]), name);
        assert_close(imp.transform(&new).unwrap().values(), &flat(&want["transform_new"]), name);
    }
    let imp = SimpleImputerConfig { strategy: SimpleStrategy::Median, add_indicator: true }.fit(&x).unwrap();
    assert_close(imp.transform(&x).unwrap().values(), &flat(&g["simple_imputer"]["median_indicator"]), "indicator");
}

#[test]
fn knn_imputer() {
    let g = golden();
    let (x, new) = (matrix(&g["x_missing"]), matrix(&g["x_new"]));
    for (name, distance_weighted) in [("uniform", false), ("distance", true)] {
        let imp = KnnImputerConfig { n_neighbors: 3, distance_weighted, add_indicator: false }.fit(&x).unwrap();
        let want = &g["knn_imputer"][name];
        assert_close(imp.transform(&x).unwrap().values(), &flat(&want["fit_transform"]), name);
        assert_close(imp.transform(&new).unwrap().values(), &flat(&want["transform_new"]), name);
    }
}

#[test]
fn scalers() {
    let g = golden();
    let x = matrix(&g["x"]);
    let new = x.map(|_, v| v * 1.3 + 0.5);
    let xm = matrix(&g["x_missing"]);
    for (name, config) in [
        ("standard", ScalerConfig::Standard),
        ("min_max", ScalerConfig::MinMax { low: -1.0, high: 2.0 }),
        ("robust", ScalerConfig::Robust { q_low: 25.0, q_high: 75.0 }),
        ("max_abs", ScalerConfig::MaxAbs),
    ] {
        let want = &g["scalers"][name];
        let s = config.fit(&x).unwrap();
        assert_close(&s.transform(&new).unwrap().values()[..10 * 4], &flat(&want["transform_new"]), name);
        let s = config.fit(&xm).unwrap();
        assert_close(s.transform(&xm).unwrap().values(), &flat(&want["missing_fit_transform"]), name);
    }
}

#[test]
fn power_transforms() {
    let g = golden();
    for (method, key, data) in
        [(PowerMethod::BoxCox, "box-cox", "positive"), (PowerMethod::YeoJohnson, "yeo-johnson", "real")]
    {
        let x = matrix(&g["power"][data]);
        for standardize in [true, false] {
            let want = &g["power"][format!("{key}_{}", if standardize { "True" } else { "False" })];
            let pt = PowerConfig { method, standardize }.fit(&x).unwrap();
            assert_close(pt.lambdas(), &list(&want["lambdas"]), key);
            assert_close(pt.transform(&x).unwrap().values(), &flat(&want["transform"]), key);
        }
    }
}

#[test]
fn one_hot_encoder_ignores_unknown_categories() {
    let g = golden();
    let column = |rows: &Value, j: usize| -> Column {
        Column::Categorical(rows.as_array().unwrap().iter().map(|r| Some(r[j].as_str().unwrap().to_string())).collect())
    };
    let fit = Table::from_columns(vec![
        ("c1".into(), column(&g["one_hot"]["fit"], 0)),
        ("c2".into(), column(&g["one_hot"]["fit"], 1)),
    ])
    .unwrap();
    let new = Table::from_columns(vec![
        ("c1".into(), column(&g["one_hot"]["new"], 0)),
        ("c2".into(), column(&g["one_hot"]["new"], 1)),
    ])
    .unwrap();
    let pre = PreprocessConfig::default().fit(&fit, &["c1".into(), "c2".into()]).unwrap();
    let names: Vec<String> =
        g["one_hot"]["names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().replace('_', "=")).collect();
    assert_eq!(pre.feature_names(), names);
    let got: Vec<f64> = pre.transform(&new).unwrap().values.iter().map(|&v| v as f64).collect();
    assert_close(&got, &flat(&g["one_hot"]["transform_new"]), "one-hot");
}

#[test]
fn polynomial_features() {
    let g = golden();
    let rows = matrix(&g["poly"]["x"]);
    let x = Dense::new(rows.values().to_vec(), vec!["a".into(), "b".into(), "c".into()]).unwrap();
    for (degree, interaction_only, include_bias) in [(3, false, true), (2, true, false), (2, false, false)] {
        let want = &g["poly"][format!("{degree}_{}_{}", py(interaction_only), py(include_bias))];
        let p = PolynomialConfig { degree, interaction_only, include_bias }.fit(&x).unwrap();
        let y = p.transform(&x).unwrap();
        let names: Vec<String> =
            want["names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_string()).collect();
        assert_eq!(y.names(), names.as_slice());
        assert_close(y.values(), &flat(&want["transform"]), "poly");
    }
}

fn py(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

#[test]
fn pca() {
    let g = golden();
    let x = matrix(&g["pca"]["x"]);
    for (k, whiten) in [(3, false), (3, true), (5, false)] {
        let want = &g["pca"][format!("{k}_{}", py(whiten))];
        let p = PcaConfig { components: Components::Count(k), whiten }.fit(&x).unwrap();
        let components: Vec<f64> = (0..k).flat_map(|c| p.component(c).to_vec()).collect();
        assert_close(&components, &flat(&want["components"]), "components");
        assert_close(p.explained_variance(), &list(&want["explained_variance"]), "explained variance");
        assert_close(p.explained_variance_ratio(), &list(&want["explained_variance_ratio"]), "ratio");
        let first8 = Dense::new(x.values()[..8 * 5].to_vec(), x.names().to_vec()).unwrap();
        assert_close(p.transform(&first8).unwrap().values(), &flat(&want["transform"]), "projection");
    }
    let p = PcaConfig { components: Components::VarianceFraction(0.9), whiten: false }.fit(&x).unwrap();
    assert_eq!(p.n_components() as u64, g["pca"]["fraction_0.9_n"].as_u64().unwrap());
}

#[test]
fn fold_sizes() {
    let g = golden();
    for (n, k) in [(23, 5), (10, 3), (100, 7)] {
        let want: Vec<usize> = serde_json::from_value(g["kfold"][format!("{n}_{k}")].clone()).unwrap();
        let got: Vec<usize> = k_fold(n, k, None).unwrap().iter().map(|f| f.test.len()).collect();
        assert_eq!(got, want, "KFold({k}) on {n}");
    }
    let labels: Vec<usize> = serde_json::from_value(g["stratified"]["labels"].clone()).unwrap();
    for k in [3, 5] {
        let want = &g["stratified"][k.to_string()];
        let folds = stratified_k_fold(&labels, k, None).unwrap();
        let sizes: Vec<usize> = folds.iter().map(|f| f.test.len()).collect();
        assert_eq!(sizes, serde_json::from_value::<Vec<usize>>(want["sizes"].clone()).unwrap());
        let counts: Vec<Vec<usize>> = folds
            .iter()
            .map(|f| (0..3).map(|c| f.test.iter().filter(|&&i| labels[i] == c).count()).collect())
            .collect();
        assert_eq!(counts, serde_json::from_value::<Vec<Vec<usize>>>(want["class_counts"].clone()).unwrap());
    }
}

fn categorical_table(values: &Value) -> Table {
    let cells = values.as_array().unwrap().iter().map(|v| Some(v.as_str().unwrap().to_string())).collect();
    Table::from_columns(vec![("c".into(), Column::Categorical(cells))]).unwrap()
}

#[test]
fn iterative_imputer_with_ridge() {
    use anneal_data::impute::IterativeImputerConfig;
    let g = golden();
    let x = matrix(&g["x_missing"]);
    let new = matrix(&g["x_new"]);
    for (key, max_iter) in [("10", 10), ("3", 3)] {
        let case = &g["iterative_imputer"][key];
        let config = IterativeImputerConfig { max_iter, tol: case["tol"].as_f64().unwrap(), ..Default::default() };
        let (imputer, filled) = config.fit_transform(&x).unwrap();
        assert_eq!(imputer.rounds() as u64, case["n_iter"].as_u64().unwrap(), "rounds, max_iter {max_iter}");
        assert_close(filled.values(), &flat(&case["fit_transform"]), "iterative fit_transform");
        assert_close(imputer.transform(&new).unwrap().values(), &flat(&case["transform_new"]), "iterative transform");
    }
}

#[test]
fn one_hot_options_match_scikit_learn() {
    use anneal_data::encode::{DropColumn, OneHotConfig, UnknownCategory};
    let g = &golden()["one_hot_options"];
    let (fit, new) = (categorical_table(&g["fit"]), categorical_table(&g["new"]));
    let cases = [
        (
            "min2_infrequent",
            OneHotConfig { min_frequency: Some(2.0), unknown: UnknownCategory::Infrequent, ..Default::default() },
        ),
        (
            "frac_drop_first",
            OneHotConfig { min_frequency: Some(0.2), unknown: UnknownCategory::Infrequent, drop: DropColumn::First },
        ),
        ("drop_first_ignore", OneHotConfig { drop: DropColumn::First, ..Default::default() }),
        ("min3_ignore", OneHotConfig { min_frequency: Some(3.0), ..Default::default() }),
    ];
    for (name, config) in cases {
        let enc = config.fit(&fit, "c").unwrap();
        let want: Vec<String> = g[name]["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().replace("_infrequent_sklearn", "=infrequent").replace("c_", "c="))
            .collect();
        assert_eq!(enc.feature_names(), want, "{name}: names");
        assert_close(enc.transform(&new).unwrap().values(), &flat(&g[name]["transform_new"]), name);
    }
}

#[test]
fn ordinal_encoder_matches_scikit_learn() {
    use anneal_data::encode::{OrdinalConfig, OrdinalUnknown};
    let g = golden();
    let (fit, new) = (categorical_table(&g["one_hot_options"]["fit"]), categorical_table(&g["one_hot_options"]["new"]));
    let learned = OrdinalConfig { order: None, unknown: OrdinalUnknown::Value(-1.0) };
    assert_close(
        learned.fit(&fit, "c").unwrap().transform(&new).unwrap().values(),
        &list(&g["ordinal"]["learned"]),
        "learned",
    );
    let order = ["e", "d", "c", "b", "a"].map(String::from).to_vec();
    let given = OrdinalConfig { order: Some(order), unknown: OrdinalUnknown::Value(-1.0) };
    assert_close(
        given.fit(&fit, "c").unwrap().transform(&new).unwrap().values(),
        &list(&g["ordinal"]["given"]),
        "given",
    );
}

#[test]
fn target_encoder_matches_scikit_learn() {
    use anneal_data::encode::{TargetEncoderConfig, TargetValues};
    let g = &golden()["target"];
    let x = categorical_table(&g["x"]);
    let continuous = list(&g["continuous"]);
    let codes = |key: &str| -> Vec<usize> { list(&g[key]).iter().map(|&v| v as usize).collect() };
    let (binary, multiclass) = (codes("binary"), codes("multiclass"));
    let two = ["0", "1"].map(String::from);
    let three = ["0", "1", "2"].map(String::from);
    for (smooth, smoothing) in [("auto", None), ("5.0", Some(5.0))] {
        let config = TargetEncoderConfig { smoothing, ..Default::default() };
        let targets = [
            ("continuous", TargetValues::Continuous(&continuous)),
            ("binary", TargetValues::Classes { codes: &binary, classes: &two }),
            ("multiclass", TargetValues::Classes { codes: &multiclass, classes: &three }),
        ];
        for (kind, target) in targets {
            let case = &g[format!("{kind}_{smooth}")];
            let enc = config.fit(&x, "c", target).unwrap();
            let want_categories: Vec<&str> =
                case["categories"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
            assert_eq!(enc.categories(), want_categories);
            let want = flat(&case["encodings"]);
            let got: Vec<f64> = enc.encodings().iter().flatten().copied().collect();
            assert_close(&got, &want, &format!("target encoding {kind} {smooth}"));
            // An unseen category gets the training target mean.
            let unseen = categorical_table(&serde_json::json!(["unseen"]));
            assert_close(enc.transform(&unseen).unwrap().values(), &list(&case["target_mean"]), "unseen → mean");
        }
    }
}
