//! `inspect` and `drop_duplicates` against plain models: statistics from the public
//! building blocks (median, IQR fences), distinct values and duplicate rows from text.

use std::collections::{HashMap, HashSet};

use anneal_data::clean::{Keep, OutlierRule, drop_duplicates};
use anneal_data::inspect::inspect;
use anneal_data::{Column, Dense, Table};
use proptest::prelude::*;

fn table(x: Vec<Option<f64>>, y: Vec<Option<f64>>, c: Vec<Option<String>>) -> Table {
    Table::from_columns(vec![
        ("x".into(), Column::Numeric(x)),
        ("y".into(), Column::Numeric(y)),
        ("c".into(), Column::Categorical(c)),
    ])
    .unwrap()
}

fn rows_as_text(t: &Table) -> Vec<Vec<Option<String>>> {
    let columns: Vec<Vec<Option<String>>> = t.column_names().iter().map(|c| t.as_strings(c).unwrap()).collect();
    (0..t.n_rows()).map(|r| columns.iter().map(|c| c[r].clone()).collect()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn inspect_matches_plain_computations(
        rows in proptest::collection::vec(
            (
                proptest::option::weighted(0.8, prop_oneof![(-3i32..4).prop_map(f64::from), -1e3f64..1e3, Just(-0.0)]),
                proptest::option::weighted(0.9, (0i32..3).prop_map(f64::from)),
                proptest::option::weighted(0.8, "[a-c]{1,2}"),
            ),
            1..60,
        ),
    ) {
        let x: Vec<Option<f64>> = rows.iter().map(|r| r.0).collect();
        let y: Vec<Option<f64>> = rows.iter().map(|r| r.1).collect();
        let c: Vec<Option<String>> = rows.iter().map(|r| r.2.clone()).collect();
        let t = table(x, y, c);
        let report = inspect(&t).unwrap();
        let text = rows_as_text(&t);
        prop_assert_eq!(report.duplicate_rows, t.n_rows() - text.iter().collect::<HashSet<_>>().len());
        for (i, summary) in report.columns.iter().enumerate() {
            let name = &summary.name;
            let present: Vec<&String> = text.iter().filter_map(|r| r[i].as_ref()).collect();
            prop_assert_eq!(summary.missing, t.n_rows() - present.len());
            if t.kind(name).unwrap() == anneal_data::ColumnKind::Numeric {
                let values: Vec<f64> = t.numeric(name).unwrap().into_iter().flatten().collect();
                let mut distinct = values.clone();
                distinct.sort_by(f64::total_cmp);
                distinct.dedup();
                prop_assert_eq!(summary.distinct, distinct.len());
                if values.is_empty() {
                    prop_assert!(summary.stats.is_none());
                    continue;
                }
                let stats = summary.stats.unwrap();
                let mean = values.iter().sum::<f64>() / values.len() as f64;
                prop_assert_eq!(stats, [distinct[0], anneal_data::preprocess::median(&values), distinct[distinct.len() - 1], mean]);
                if distinct.len() != 2 {
                    let dense = Dense::from_table(&t, std::slice::from_ref(name)).unwrap();
                    let fences = OutlierRule::Iqr { k: 1.5 }.fit(&dense).unwrap();
                    prop_assert_eq!(summary.iqr_outliers, Some(fences.detect(&dense).unwrap().1[0]));
                } else {
                    prop_assert_eq!(summary.iqr_outliers, None);
                }
            } else {
                prop_assert_eq!(summary.distinct, present.iter().collect::<HashSet<_>>().len());
            }
        }
    }

    /// Kept rows are those the text of the rows says: first, last or only member of each set.
    #[test]
    fn drop_duplicates_keeps_what_the_text_says(
        rows in proptest::collection::vec(
            (proptest::option::weighted(0.8, prop_oneof![Just(0.0), Just(-0.0), Just(1.5)]), proptest::option::weighted(0.7, "[ab]")),
            1..40,
        ),
        subset_x in any::<bool>(),
    ) {
        let x: Vec<Option<f64>> = rows.iter().map(|r| r.0).collect();
        let c: Vec<Option<String>> = rows.iter().map(|r| r.1.clone()).collect();
        let t = table(x.clone(), x, c);
        let subset: Vec<String> = if subset_x { vec!["x".into()] } else { Vec::new() };
        let keys: Vec<Vec<Option<String>>> = if subset_x {
            t.as_strings("x").unwrap().into_iter().map(|v| vec![v]).collect()
        } else {
            rows_as_text(&t)
        };
        let mut groups: HashMap<&Vec<Option<String>>, Vec<usize>> = HashMap::new();
        for (r, k) in keys.iter().enumerate() {
            groups.entry(k).or_default().push(r);
        }
        for keep in [Keep::First, Keep::Last, Keep::None] {
            let mut expected: Vec<usize> = groups
                .values()
                .filter_map(|g| match keep {
                    Keep::First => g.first().copied(),
                    Keep::Last => g.last().copied(),
                    Keep::None => (g.len() == 1).then(|| g[0]),
                })
                .collect();
            expected.sort_unstable();
            let (kept, removed) = drop_duplicates(&t, &subset, keep).unwrap();
            prop_assert_eq!(removed, t.n_rows() - expected.len());
            prop_assert_eq!(rows_as_text(&kept), expected.iter().map(|&r| rows_as_text(&t)[r].clone()).collect::<Vec<_>>());
        }
    }
}
