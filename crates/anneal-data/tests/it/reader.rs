//! The streaming CSV reader against a plain model of its rules: every cell kept as text,
//! kinds decided per column by counting, labels in order of first appearance, and the
//! first error met going down the columns in order.

use std::io::Write as _;

use anneal_data::{ColumnKind, CsvOptions, DataError, NonFinite, Table};
use proptest::prelude::*;

const NULLS: [&str; 7] = ["", "NA", "N/A", "NaN", "nan", "null", "NULL"];

#[derive(Debug, PartialEq)]
enum Expected {
    Columns(Vec<(ColumnKind, Vec<Option<String>>)>),
    /// (column, 1-based line, offending text, an infinity rather than a word)
    Error(String, u64, String, bool),
}

fn model(header: &[String], rows: &[Vec<String>], options: &CsvOptions) -> Expected {
    let mut columns = Vec::new();
    for (c, name) in header.iter().enumerate() {
        let cells: Vec<&str> = rows.iter().map(|r| r[c].trim()).collect();
        let present = |s: &str| !NULLS.contains(&s);
        let numbers = cells.iter().filter(|s| present(s) && s.parse::<f64>().is_ok()).count();
        let words = cells.iter().filter(|s| present(s)).count() - numbers;
        let kind = match options.column_kinds.get(name) {
            Some(k) => *k,
            None if words == 0 || numbers > words => ColumnKind::Numeric,
            None => ColumnKind::Categorical,
        };
        match kind {
            ColumnKind::Numeric => {
                let mut values = Vec::new();
                for (r, s) in cells.iter().enumerate() {
                    let line = r as u64 + 2;
                    if !present(s) {
                        values.push(None);
                        continue;
                    }
                    match s.parse::<f64>() {
                        Err(_) => return Expected::Error(name.clone(), line, s.to_string(), false),
                        Ok(x) if x.is_infinite() && options.non_finite == NonFinite::Reject => {
                            return Expected::Error(name.clone(), line, s.to_string(), true);
                        }
                        Ok(x) if x.is_finite() => values.push(Some(x.to_string())),
                        Ok(_) => values.push(None),
                    }
                }
                columns.push((kind, values));
            }
            ColumnKind::Categorical => {
                columns.push((kind, cells.iter().map(|s| present(s).then(|| s.to_string())).collect()))
            }
        }
    }
    Expected::Columns(columns)
}

fn observed(result: Result<Table, DataError>) -> Expected {
    match result {
        Ok(t) => {
            Expected::Columns(t.column_names().iter().map(|c| (t.kind(c).unwrap(), t.as_strings(c).unwrap())).collect())
        }
        Err(DataError::NonNumeric { line, column, value, .. }) => Expected::Error(column, line, value, false),
        Err(DataError::NonFinite { place, column, value, .. }) => {
            Expected::Error(column, place.trim_start_matches("line ").parse().unwrap(), value, true)
        }
        Err(e) => panic!("unexpected error: {e}"),
    }
}

/// Labels in order of first appearance, as the dictionary holds them.
fn dictionary_order(t: &Table, column: &str) -> Vec<String> {
    let (codes, dictionary) = t.categorical_codes(column).unwrap();
    let mut seen = Vec::new();
    for c in codes.into_iter().flatten() {
        if !seen.contains(&c) {
            seen.push(c);
        }
    }
    seen.into_iter().map(|c| dictionary[c].clone()).collect()
}

fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop_oneof![Just("1"), Just("2.5"), Just("-3e2"), Just(" 7 "), Just("007"), Just("1.50")].prop_map(String::from),
        3 => prop_oneof![Just("a"), Just("b"), Just("x y"), Just(" b")].prop_map(String::from),
        2 => prop_oneof![Just(""), Just("NA"), Just("nan")].prop_map(String::from),
        1 => prop_oneof![Just("inf"), Just("-Infinity")].prop_map(String::from),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// In memory, from a file and from a gzip file, the reader gives what the model says,
    /// including columns that hold numbers before their first word (read twice).
    #[test]
    fn the_streaming_reader_follows_the_rules(
        rows in (1usize..5).prop_flat_map(|w| proptest::collection::vec(proptest::collection::vec(cell(), w), 1..25)),
        missing_infinities in any::<bool>(),
        force in proptest::option::of(any::<bool>()),
    ) {
        let width = rows[0].len();
        let header: Vec<String> = (0..width).map(|c| format!("c{c}")).collect();
        let mut options = CsvOptions {
            non_finite: if missing_infinities { NonFinite::Missing } else { NonFinite::Reject },
            ..CsvOptions::default()
        };
        if let Some(numeric) = force {
            options.column_kinds.insert("c0".into(), if numeric { ColumnKind::Numeric } else { ColumnKind::Categorical });
        }
        let text = std::iter::once(header.join(","))
            .chain(rows.iter().map(|r| r.iter().map(|c| if c.contains(' ') || c.is_empty() { format!("\"{c}\"") } else { c.clone() }).collect::<Vec<_>>().join(",")))
            .collect::<Vec<_>>()
            .join("\n");
        let expected = model(&header, &rows, &options);
        let in_memory = Table::from_csv_reader(text.as_bytes(), "t.csv", &options);
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("t.csv");
        std::fs::write(&plain, &text).unwrap();
        let gzip = dir.path().join("t.csv.gz");
        let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(&gzip).unwrap(), flate2::Compression::fast());
        gz.write_all(text.as_bytes()).unwrap();
        gz.finish().unwrap();
        if let Ok(t) = &in_memory {
            for c in t.columns_of_kind(ColumnKind::Categorical) {
                let mut first_seen: Vec<String> = Vec::new();
                for v in t.categorical(&c).unwrap().into_iter().flatten() {
                    if !first_seen.contains(&v) {
                        first_seen.push(v);
                    }
                }
                prop_assert_eq!(dictionary_order(t, &c), first_seen);
            }
        }
        prop_assert_eq!(&observed(in_memory), &expected);
        prop_assert_eq!(&observed(Table::read_csv(&plain, &options)), &expected);
        prop_assert_eq!(&observed(Table::read_csv(&gzip, &options)), &expected);
    }
}

#[test]
fn a_column_of_numbers_then_words_keeps_the_numbers_as_written() {
    let text = "id,code\n1,007\n2,1.50\n3,\n4,abc\n5,x\n6,y\n";
    let t = Table::from_csv_reader(text.as_bytes(), "t.csv", &CsvOptions::default()).unwrap();
    assert_eq!(t.kind("code").unwrap(), ColumnKind::Categorical);
    let expected: Vec<Option<String>> =
        [Some("007"), Some("1.50"), None, Some("abc"), Some("x"), Some("y")].map(|v| v.map(String::from)).to_vec();
    assert_eq!(t.categorical("code").unwrap(), expected);
    assert_eq!(dictionary_order(&t, "code"), ["007", "1.50", "abc", "x", "y"]);
}
