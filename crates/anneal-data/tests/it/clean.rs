//! Cleaning: missing-value report, dropping, duplicates and outliers.

use anneal_data::clean::{Keep, OutlierRule, drop_duplicates, drop_missing_rows, drop_sparse_columns, missing_report};
use anneal_data::{CsvOptions, Dense, Table};

fn penguins() -> Table {
    Table::read_csv(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/penguins.csv.gz"), &CsvOptions::default()).unwrap()
}

#[test]
fn missing_report_and_dropping_on_penguins() {
    let t = penguins();
    let report = missing_report(&t).unwrap();
    let get = |c: &str| report.iter().find(|m| m.column == c).unwrap().count;
    // pandas: penguins.isna().sum() -> bill_length_mm 2, sex 11, species 0.
    assert_eq!((get("bill_length_mm"), get("sex"), get("species")), (2, 11, 0));
    assert_eq!(report.iter().map(|m| m.count).sum::<usize>(), 19);
    let (kept, removed) = drop_missing_rows(&t, &[]).unwrap();
    assert_eq!((kept.n_rows(), removed), (333, 11)); // pandas dropna(): 333 rows
    let (kept, removed) = drop_missing_rows(&t, &["bill_length_mm".into()]).unwrap();
    assert_eq!((kept.n_rows(), removed), (342, 2));
    let (kept, dropped) = drop_sparse_columns(&t, 0.01).unwrap();
    assert_eq!(dropped, ["sex"]); // 11 / 344 = 3.2 %
    assert_eq!(kept.column_names().len(), 7);
}

#[test]
fn duplicates_keep_first_last_none() {
    let csv = "a,b,c\n1,x,10\n2,y,20\n1,x,30\n1,x,10\n,z,40\n,z,50\n";
    let t = Table::from_csv_reader(csv.as_bytes(), "d.csv", &CsvOptions::default()).unwrap();
    // Whole rows: only row 3 repeats row 0.
    let (kept, removed) = drop_duplicates(&t, &[], Keep::First).unwrap();
    assert_eq!((kept.n_rows(), removed), (5, 1));
    // On (a, b): {0, 2, 3} and {4, 5} (missing equals missing, as pandas).
    let (kept, removed) = drop_duplicates(&t, &["a".into(), "b".into()], Keep::Last).unwrap();
    assert_eq!((removed, kept.numeric("c").unwrap()), (3, vec![Some(20.0), Some(10.0), Some(50.0)]));
    let (kept, removed) = drop_duplicates(&t, &["a".into(), "b".into()], Keep::None).unwrap();
    assert_eq!((removed, kept.numeric("c").unwrap()), (5, vec![Some(20.0)]));
    assert!(drop_duplicates(&t, &["nope".into()], Keep::First).is_err());
}

#[test]
fn outlier_rules() {
    // numpy: q1, q3 = np.percentile(x, [25, 75]) of 1..=9 and 100 -> 3.25, 7.75; fences -3.5, 14.5.
    let mut rows: Vec<Vec<f64>> = (1..=9).map(|v| vec![v as f64]).collect();
    rows.push(vec![100.0]);
    rows.push(vec![f64::NAN]);
    let x = Dense::from_rows(&["v"], &rows).unwrap();
    let iqr = OutlierRule::Iqr { k: 1.5 }.fit(&x).unwrap();
    assert_eq!(iqr.bounds(), [(-3.5, 14.5)]);
    let (rows_out, per_column) = iqr.detect(&x).unwrap();
    assert_eq!((rows_out, per_column), (vec![9], vec![1]));
    assert_eq!(iqr.inliers(&x).unwrap().len(), 10, "missing cells are never outliers");
    // Robust z: median 5.5, MAD 2.5 -> 1.4826 * 2.5 = 3.7065; the z-score of 100 is ~25.
    let robust = OutlierRule::RobustZ { threshold: 3.5 }.fit(&x).unwrap();
    assert_eq!(robust.detect(&x).unwrap().0, vec![9]);
    // Plain z-score is pulled by the outlier itself: 100 has z ≈ 3.0 and is not flagged at 3.5.
    let z = OutlierRule::ZScore { threshold: 3.5 }.fit(&x).unwrap();
    assert!(z.detect(&x).unwrap().0.is_empty());
    // Winsorizing at the 10th / 90th percentiles: numpy gives 1.9 and 18.1.
    let w = OutlierRule::Quantiles { low: 0.1, high: 0.9 }.fit(&x).unwrap();
    let clipped = w.clip(&x).unwrap();
    assert!((clipped.get(0, 0) - 1.9).abs() < 1e-12 && (clipped.get(9, 0) - 18.1).abs() < 1e-12);
    assert!(clipped.get(10, 0).is_nan());
    assert!(OutlierRule::Quantiles { low: 0.9, high: 0.1 }.fit(&x).is_err());
}

#[test]
fn clean_config_counts_what_it_removes_and_maps_rows_back() {
    use anneal_data::clean::{CleanConfig, Duplicates, OutlierRule};
    let t = Table::from_csv_reader(
        "a,b,c\n1,x,\n1,x,\n2,,\n3,y,\n4,y,\n100,y,\n".as_bytes(),
        "t.csv",
        &anneal_data::CsvOptions::default(),
    )
    .unwrap();
    let config = CleanConfig {
        drop_duplicates: Some(Duplicates::default()),
        drop_missing: vec!["b".into()],
        max_missing_fraction: Some(0.5),
        trim_outliers: Some(OutlierRule::Iqr { k: 1.5 }),
        ..CleanConfig::default()
    };
    let (cleaned, rows, report) = config.apply(&t, &["c".into()]).unwrap();
    // Row 1 duplicates row 0; row 2 misses b; c is all missing but protected.
    assert_eq!(rows, [0, 3, 4, 5]);
    assert_eq!((report.duplicates_removed, report.missing_removed), (1, 1));
    assert!(report.dropped_columns.is_empty());
    assert_eq!(cleaned.column_names(), ["a", "b", "c"]);
    let kept = config.trim(&cleaned, &["a".into()]).unwrap();
    assert_eq!(kept, [0, 1, 2], "100 is far outside the IQR fences of 1, 3, 4, 100");
    let unprotected = CleanConfig { max_missing_fraction: Some(0.5), ..Default::default() };
    assert_eq!(unprotected.apply(&t, &[]).unwrap().2.dropped_columns, ["c"]);
}
