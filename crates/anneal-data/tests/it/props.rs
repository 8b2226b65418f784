//! Invariants of the numeric transforms and splitters (proptest).

use anneal_data::Dense;
use anneal_data::folds::{group_k_fold, k_fold, stratified_k_fold, time_series_split};
use anneal_data::pca::{Components, PcaConfig};
use anneal_data::scale::ScalerConfig;
use proptest::prelude::*;

fn dense(rows: usize, cols: usize) -> impl Strategy<Value = Dense> {
    proptest::collection::vec(-1e3f64..1e3, rows * cols)
        .prop_map(move |v| Dense::new(v, (0..cols).map(|c| format!("x{c}")).collect()).unwrap())
}

fn close(a: &Dense, b: &Dense, tol: f64) -> bool {
    a.values().iter().zip(b.values()).all(|(x, y)| (x - y).abs() <= tol * (1.0 + y.abs()))
}

fn scalers() -> impl Strategy<Value = ScalerConfig> {
    prop_oneof![
        Just(ScalerConfig::Standard),
        Just(ScalerConfig::MinMax { low: -1.0, high: 1.0 }),
        Just(ScalerConfig::Robust { q_low: 25.0, q_high: 75.0 }),
        Just(ScalerConfig::MaxAbs),
    ]
}

proptest! {
    #[test]
    fn scalers_invert(x in (2usize..30, 1usize..5).prop_flat_map(|(r, c)| dense(r, c)), config in scalers()) {
        let s = config.fit(&x).unwrap();
        let y = s.transform(&x).unwrap();
        prop_assert!(y.values().iter().all(|v| v.is_finite()));
        prop_assert!(close(&s.inverse_transform(&y).unwrap(), &x, 1e-9));
    }

    #[test]
    fn constant_columns_never_produce_nan(value in -1e6f64..1e6, rows in 1usize..20, config in scalers()) {
        let x = Dense::new(vec![value; rows], vec!["c".into()]).unwrap();
        let y = config.fit(&x).unwrap().transform(&x).unwrap();
        prop_assert!(y.values().iter().all(|v| v.is_finite()));
    }

    #[test]
    fn pca_with_all_components_inverts(x in (6usize..30, 1usize..5).prop_flat_map(|(r, c)| dense(r, c)), whiten in any::<bool>()) {
        let p = PcaConfig { components: Components::All, whiten }.fit(&x).unwrap();
        // Whitening divides by each component's deviation; a degenerate one cannot be undone.
        prop_assume!(!whiten || p.explained_variance().iter().all(|&v| v > 1e-6));
        let back = p.inverse_transform(&p.transform(&x).unwrap()).unwrap();
        prop_assert!(close(&back, &x, 1e-7), "{:?} vs {:?}", back.values(), x.values());
    }

    /// Every row is in exactly one test fold, and never in its own fold's training rows.
    #[test]
    fn k_fold_partitions(n in 2usize..200, k in 2usize..10, seed in proptest::option::of(any::<u64>())) {
        prop_assume!(k <= n);
        let folds = k_fold(n, k, seed).unwrap();
        let mut seen = vec![0usize; n];
        for f in &folds {
            prop_assert_eq!(f.train.len() + f.test.len(), n);
            for &i in &f.test { seen[i] += 1; prop_assert!(!f.train.contains(&i)); }
        }
        prop_assert!(seen.iter().all(|&c| c == 1));
        let sizes: Vec<usize> = folds.iter().map(|f| f.test.len()).collect();
        prop_assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
    }

    /// Stratified folds: a partition, and each class's count per fold is within one
    /// row of its share.
    #[test]
    fn stratified_folds_keep_proportions(labels in proptest::collection::vec(0usize..3, 30..150), k in 2usize..6, seed in proptest::option::of(any::<u64>())) {
        let counts: Vec<usize> = (0..3).map(|c| labels.iter().filter(|&&l| l == c).count()).collect();
        prop_assume!(counts.iter().all(|&c| c == 0 || c >= k));
        let folds = stratified_k_fold(&labels, k, seed).unwrap();
        let mut seen = vec![0usize; labels.len()];
        for f in &folds {
            for &i in &f.test { seen[i] += 1; }
            for (c, &count) in counts.iter().enumerate() {
                let in_fold = f.test.iter().filter(|&&i| labels[i] == c).count() as f64;
                prop_assert!((in_fold - count as f64 / k as f64).abs() <= 1.0);
            }
        }
        prop_assert!(seen.iter().all(|&c| c == 1));
    }

    #[test]
    fn group_folds_never_split_a_group(groups in proptest::collection::vec(0u32..12, 20..100), k in 2usize..5) {
        let distinct = { let mut g = groups.clone(); g.sort_unstable(); g.dedup(); g.len() };
        prop_assume!(k <= distinct);
        let folds = group_k_fold(&groups, k).unwrap();
        for f in &folds {
            for &i in &f.test {
                prop_assert!(f.train.iter().all(|&j| groups[j] != groups[i]));
            }
        }
        prop_assert_eq!(folds.iter().map(|f| f.test.len()).sum::<usize>(), groups.len());
    }

    #[test]
    fn time_series_trains_only_on_the_past(n in 10usize..200, k in 2usize..6, gap in 0usize..3) {
        if let Ok(folds) = time_series_split(n, k, gap) {
            for f in &folds {
                prop_assert!(f.train.iter().max().unwrap() + gap < *f.test.iter().min().unwrap());
            }
        }
    }
}

fn mixed_table() -> impl Strategy<Value = anneal_data::Table> {
    (8usize..40).prop_flat_map(|n| {
        (
            proptest::collection::vec(proptest::option::weighted(0.9, -100f64..100.0), n),
            proptest::collection::vec(proptest::option::weighted(0.9, -5f64..5.0), n),
            proptest::collection::vec(proptest::option::weighted(0.9, 0usize..4), n),
            proptest::collection::vec(0usize..3, n),
        )
            .prop_map(|(a, b, c, d)| {
                use anneal_data::Column;
                let cat = |v: Vec<Option<usize>>| {
                    Column::Categorical(v.into_iter().map(|x| x.map(|x| format!("k{x}"))).collect())
                };
                anneal_data::Table::from_columns(vec![
                    ("a".into(), Column::Numeric(a)),
                    ("b".into(), Column::Numeric(b)),
                    ("c".into(), cat(c)),
                    ("d".into(), cat(d.into_iter().map(Some).collect())),
                ])
                .unwrap()
            })
    })
}

proptest! {
    /// Fitting then transforming the training table gives exactly what
    /// `fit_transform` returned (with PCA the two take different code paths: the
    /// assembled matrix vs. one-hot rows added to the projection).
    #[test]
    fn fit_then_transform_equals_fit_transform(table in mixed_table(), pca in any::<bool>(), whiten in any::<bool>()) {
        use anneal_data::PreprocessConfig;
        let features: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        prop_assume!(table.numeric("a").unwrap().iter().any(Option::is_some) && table.numeric("b").unwrap().iter().any(Option::is_some));
        prop_assume!(table.categorical("c").unwrap().iter().any(Option::is_some));
        let config = PreprocessConfig { pca: pca.then_some(PcaConfig { components: Components::Count(3), whiten: false }), ..Default::default() };
        let config = if whiten && pca { PreprocessConfig { pca: Some(PcaConfig { components: Components::Count(2), whiten: true }), ..config } } else { config };
        let (pre, m) = config.fit_transform(&table, &features).unwrap();
        let again = pre.transform(&table).unwrap();
        prop_assert_eq!((again.n_rows, again.n_cols), (m.n_rows, m.n_cols));
        for (x, y) in again.values.iter().zip(&m.values) {
            prop_assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{} vs {}", x, y);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// PCA fitted blockwise from one-hot codes equals PCA fitted on the assembled
    /// matrix (tall data, so the covariance path is the one compared).
    #[test]
    fn blockwise_one_hot_pca_equals_assembled(seed in any::<u64>(), n in 120usize..300) {
        let mut rng = anneal_data::SeededRng::new(seed);
        let dense_rows: Vec<Vec<f64>> = (0..n).map(|_| (0..3).map(|j| rng.normal() * (j + 1) as f64 + j as f64).collect()).collect();
        let dense = Dense::from_rows(&["a", "b", "c"], &dense_rows).unwrap();
        let block1: Vec<Option<usize>> = (0..n).map(|_| Some(3 + rng.below(3) as usize)).collect();
        let block2: Vec<Option<usize>> = (0..n).map(|_| if rng.next_f64() < 0.2 { None } else { Some(6 + rng.below(2) as usize) }).collect();
        let names: Vec<String> = ["a", "b", "c", "p=0", "p=1", "p=2", "q=0", "q=1"].map(String::from).to_vec();
        let mut assembled = Vec::with_capacity(n * 8);
        for r in 0..n {
            let mut row = vec![0.0; 8];
            row[..3].copy_from_slice(&dense_rows[r]);
            for b in [&block1, &block2] {
                if let Some(c) = b[r] { row[c] = 1.0; }
            }
            assembled.extend(row);
        }
        let full = Dense::new(assembled, names.clone()).unwrap();
        let config = PcaConfig { components: Components::Count(4), whiten: false };
        let hot = vec![block1, block2];
        let blockwise = config.fit_one_hot(&dense, &hot, names).unwrap();
        let direct = config.fit(&full).unwrap();
        for (x, y) in blockwise.explained_variance().iter().zip(direct.explained_variance()) {
            prop_assert!((x - y).abs() <= 1e-9 * (1.0 + y.abs()), "{} vs {}", x, y);
        }
        let a = blockwise.transform_one_hot(&dense, &hot).unwrap();
        let b = direct.transform(&full).unwrap();
        // Components are defined up to sign only where eigenvalues are distinct; the
        // projections agree exactly when they are.
        let gaps_ok = direct.explained_variance().windows(2).all(|w| (w[0] - w[1]).abs() > 1e-6 * w[0].abs());
        prop_assume!(gaps_ok);
        prop_assert!(close(&a, &b, 1e-6), "{:?} vs {:?}", &a.values()[..4], &b.values()[..4]);
    }
}

proptest! {
    /// One-hot rows sum to 1 per categorical column, and to 0 for a category unseen
    /// when fitting (ignore policy).
    #[test]
    fn one_hot_rows_sum_to_one(train in proptest::collection::vec(proptest::option::weighted(0.9, 0usize..5), 1..40),
                               new in proptest::collection::vec(0usize..7, 1..20)) {
        use anneal_data::{Column, PreprocessConfig, Table};
        prop_assume!(train.iter().any(Option::is_some));
        let column = |v: Vec<Option<usize>>| Column::Categorical(v.into_iter().map(|x| x.map(|x| format!("k{x}"))).collect());
        let fit = Table::from_columns(vec![("c".into(), column(train.clone()))]).unwrap();
        let pre = PreprocessConfig::default().fit(&fit, &["c".into()]).unwrap();
        let seen: std::collections::HashSet<usize> = train.iter().flatten().copied().collect();
        let apply = Table::from_columns(vec![("c".into(), column(new.iter().copied().map(Some).collect()))]).unwrap();
        let m = pre.transform(&apply).unwrap();
        for (r, k) in new.iter().enumerate() {
            let sum: f32 = m.values[r * m.n_cols..(r + 1) * m.n_cols].iter().sum();
            prop_assert_eq!(sum, if seen.contains(k) { 1.0 } else { 0.0 });
        }
        // Missing cells are imputed with the most frequent category: still one 1.
        let with_missing = Table::from_columns(vec![("c".into(), column(vec![None]))]).unwrap();
        prop_assert_eq!(pre.transform(&with_missing).unwrap().values.iter().sum::<f32>(), 1.0);
    }
}

proptest! {
    /// With infrequent categories, a seen category still lights exactly one column
    /// (its own or the infrequent bucket); an unseen one lights the bucket under the
    /// infrequent policy when there is one, and nothing otherwise.
    #[test]
    fn one_hot_with_infrequent_bucket_sums_to_one(
        train in proptest::collection::vec(0usize..6, 1..60),
        new in proptest::collection::vec(0usize..9, 1..20),
        min_frequency in 1usize..6,
    ) {
        use anneal_data::encode::{OneHotConfig, UnknownCategory};
        use anneal_data::{Column, Table};
        let column = |v: &[usize]| Column::Categorical(v.iter().map(|x| Some(format!("k{x}"))).collect());
        let fit = Table::from_columns(vec![("c".into(), column(&train))]).unwrap();
        let config = OneHotConfig { min_frequency: Some(min_frequency as f64), unknown: UnknownCategory::Infrequent, ..Default::default() };
        let enc = config.fit(&fit, "c").unwrap();
        let has_bucket = !enc.infrequent_categories().is_empty();
        let apply = Table::from_columns(vec![("c".into(), column(&new))]).unwrap();
        let x = enc.transform(&apply).unwrap();
        for (r, k) in new.iter().enumerate() {
            let sum: f64 = x.row(r).iter().sum();
            let expected = if train.contains(k) || has_bucket { 1.0 } else { 0.0 };
            prop_assert_eq!(sum, expected, "row {} category k{}", r, k);
        }
    }
}

proptest! {
    /// Winsorizing, log1p, derived features and every imputer: fit-then-transform on
    /// the training table equals fit_transform (target encoding excepted: its
    /// training rows are cross-fitted on purpose).
    #[test]
    fn numeric_steps_fit_then_transform_equals_fit_transform(table in mixed_table(), imputer in 0usize..4) {
        use anneal_data::PreprocessConfig;
        use anneal_data::impute::IterativeImputerConfig;
        use anneal_data::preprocess::{DerivedFeature, DerivedOp, NumericImpute};
        prop_assume!(table.numeric("a").unwrap().iter().filter(|v| v.is_some()).count() >= 4);
        prop_assume!(table.numeric("b").unwrap().iter().filter(|v| v.is_some()).count() >= 4);
        prop_assume!(table.categorical("c").unwrap().iter().any(Option::is_some));
        let numeric_impute = [NumericImpute::Median, NumericImpute::Knn(2), NumericImpute::Iterative(IterativeImputerConfig::default()), NumericImpute::Mean][imputer];
        let config = PreprocessConfig {
            derived: vec![DerivedFeature { name: "ab".into(), op: DerivedOp::Product, columns: vec!["a".into(), "b".into()] }],
            winsorize: Some([0.05, 0.95]),
            numeric_impute,
            missing_indicators: true,
            ..Default::default()
        };
        let features: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let (pre, m) = config.fit_transform(&table, &features).unwrap();
        let again = pre.transform(&table).unwrap();
        prop_assert_eq!(&pre.feature_names()[..3], &["a", "b", "ab"]);
        for (x, y) in again.values.iter().zip(&m.values) {
            prop_assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{} vs {}", x, y);
        }
    }
}
