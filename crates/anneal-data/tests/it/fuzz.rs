//! Fuzzing the CSV reader (proptest): arbitrary bytes, ragged rows, odd quoting,
//! huge, tiny and non-finite numbers. The reader never panics; every failure is
//! a typed [`DataError`] with a message, and a table it returns never holds an
//! infinite number (or a NaN: missing cells are nulls).
//!
//! `PROPTEST_CASES` sets the number of cases (default 2000 per property); a
//! longer local run: `PROPTEST_CASES=200000 cargo test -p anneal-data --test it fuzz`.

use anneal_data::{ColumnKind, CsvOptions, DataError, NonFinite, Table};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)
}

/// Reads `bytes` and checks the contract: a typed error with a message, or a
/// table whose numeric cells are finite or missing.
fn check(bytes: &[u8], options: &CsvOptions) {
    match Table::from_csv_reader(bytes, "fuzz.csv", options) {
        Ok(table) => {
            assert!(table.n_rows() > 0);
            for name in table.column_names() {
                if table.kind(&name).unwrap() == ColumnKind::Numeric {
                    for v in table.numeric(&name).unwrap().into_iter().flatten() {
                        assert!(v.is_finite(), "column {name:?} holds {v}");
                    }
                }
            }
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            if let DataError::NonFinite { place, column, value, .. } = &e {
                assert!(place.starts_with("line "), "{e}");
                assert!(table_has_column(bytes, options, column), "{e}");
                assert!(!value.is_empty(), "{e}");
            }
        }
    }
}

/// Whether the header of `bytes` names `column` (for the error's column check).
fn table_has_column(bytes: &[u8], options: &CsvOptions, column: &str) -> bool {
    let delimiter = u8::try_from(options.delimiter).unwrap_or(b',');
    let mut reader =
        csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).from_reader(bytes);
    if !options.has_header {
        return column.starts_with("column_");
    }
    reader.records().next().and_then(Result::ok).is_some_and(|h| h.iter().any(|c| c.trim() == column))
}

/// One cell: numbers of every shape, words, empties and CSV-hostile text.
fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<f64>().prop_map(|x| x.to_string()),
        (-1e6f64..1e6).prop_map(|x| format!("{x:.3}")),
        Just("1e400".to_string()),
        Just("-1e400".to_string()),
        Just("1e-400".to_string()),
        Just("inf".to_string()),
        Just("-Infinity".to_string()),
        Just("+inf".to_string()),
        Just("NaN".to_string()),
        Just("-nan".to_string()),
        Just(String::new()),
        Just("NA".to_string()),
        Just("0x1F".to_string()),
        Just("1_000".to_string()),
        Just("\"".to_string()),
        "[a-z]{1,6}",
        "[ -~]{0,8}",
        "\\PC{0,6}",
        Just("a,b".to_string()),
        Just("line\nbreak".to_string()),
        Just("quote \"q\"".to_string()),
    ]
}

/// A cell as written: quoted properly, quoted badly, or raw.
fn render(cell: &str, style: u8) -> String {
    match style % 4 {
        0 => format!("\"{}\"", cell.replace('"', "\"\"")),
        1 => format!("\"{cell}"),
        _ => cell.to_string(),
    }
}

prop_compose! {
    /// A CSV document of 1-6 columns and 0-12 rows, some rows ragged, cells
    /// rendered in random styles.
    fn document()(
        width in 1usize..6,
        rows in proptest::collection::vec(proptest::collection::vec((cell(), any::<u8>()), 0..8), 0..12),
        header in proptest::collection::vec("[a-z]{1,4}", 1..6),
        ragged in any::<bool>(),
    ) -> String {
        let mut text = header.join(",");
        text.push('\n');
        for row in rows {
            let n = if ragged { row.len() } else { width.min(row.len()).max(1) };
            let cells: Vec<String> = row.iter().take(n).map(|(c, s)| render(c, *s)).collect();
            text += &cells.join(",");
            text.push('\n');
        }
        text
    }
}

fn options() -> impl Strategy<Value = CsvOptions> {
    (any::<bool>(), prop_oneof![Just(','), Just(';'), Just('\t'), Just('é')], any::<bool>()).prop_map(
        |(header, delimiter, missing)| CsvOptions {
            has_header: header,
            delimiter,
            non_finite: if missing { NonFinite::Missing } else { NonFinite::Reject },
            ..CsvOptions::default()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), options in options()) {
        check(&bytes, &options);
    }

    #[test]
    fn ragged_quoted_and_extreme_documents_never_panic(text in document(), options in options()) {
        check(text.as_bytes(), &options);
    }

    #[test]
    fn an_infinite_number_is_an_error_naming_its_line_or_a_missing_cell(
        values in proptest::collection::vec(-1e3f64..1e3, 2..20),
        at in any::<proptest::sample::Index>(),
        bad in prop_oneof![Just("inf"), Just("-inf"), Just("Infinity"), Just("1e400"), Just("-1E999")],
    ) {
        let i = at.index(values.len());
        let mut text = String::from("x,y\n");
        for (r, v) in values.iter().enumerate() {
            text += &if r == i { format!("{bad},{r}\n") } else { format!("{v},{r}\n") };
        }
        let err = Table::from_csv_reader(text.as_bytes(), "f.csv", &CsvOptions::default()).unwrap_err();
        let expected = format!("f.csv: line {}, column `x`: `{bad}` is not a finite number", i + 2);
        prop_assert!(err.to_string().starts_with(&expected), "{}", err);
        let lenient = CsvOptions { non_finite: NonFinite::Missing, ..CsvOptions::default() };
        let x = Table::from_csv_reader(text.as_bytes(), "f.csv", &lenient).unwrap().numeric("x").unwrap();
        prop_assert_eq!(x[i], None);
        prop_assert_eq!(x.iter().flatten().count(), values.len() - 1);
    }
}
