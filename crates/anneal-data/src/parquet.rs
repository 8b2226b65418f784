//! Parquet loading (cargo feature `parquet`, on by default).
//!
//! Arrow types map onto the two column kinds of a [`Table`]:
//!
//! | Parquet / Arrow type | kind |
//! |---|---|
//! | floats, integers (signed, unsigned), decimals read as floats | numeric |
//! | booleans | numeric (0 / 1) |
//! | strings (`Utf8`, `LargeUtf8`, `Utf8View`), dictionary-encoded strings | categorical |
//! | `Date32`, `Date64`, timestamps | categorical ISO text (`2007-11-11`, `2007-11-11 09:30:00`), ready for date features |
//!
//! Any other type is an error naming the column and its type. Per-column kinds
//! from [`CsvOptions::column_kinds`] override the mapping (a numeric column read as
//! categories, or text parsed as numbers), as for CSV.

use std::fs::File;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch, RecordBatchReader};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::dates::civil_from_days;
use crate::error::{DataError, Result};
use crate::table::{Column, ColumnKind, CsvOptions, Table};

impl Table {
    /// Reads a Parquet file. `options.column_kinds` overrides the kind of named
    /// columns; the CSV-only options (delimiter, header, null markers) are ignored.
    ///
    /// ```no_run
    /// use anneal_data::{CsvOptions, Table};
    ///
    /// let table = Table::read_parquet("data/penguins.parquet", &CsvOptions::default())?;
    /// println!("{} rows", table.n_rows());
    /// # Ok::<(), anneal_data::DataError>(())
    /// ```
    pub fn read_parquet(path: impl AsRef<Path>, options: &CsvOptions) -> Result<Self> {
        let path = path.as_ref();
        let io = |source| DataError::Io { path: path.to_path_buf(), source };
        let bad = |message: String| DataError::Parquet { path: path.to_path_buf(), message };
        let file = File::open(path).map_err(io)?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.build())
            .map_err(|e| bad(format!("not a readable Parquet file: {e}")))?;
        let schema = reader.schema();
        let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let batches: Vec<RecordBatch> =
            reader.collect::<std::result::Result<_, _>>().map_err(|e| bad(format!("corrupt Parquet data: {e}")))?;
        for name in options.column_kinds.keys() {
            if !names.contains(name) {
                return Err(DataError::UnknownColumn { column: name.clone(), available: names.join(", ") });
            }
        }
        let mut columns = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            let mut cells = Cells::default();
            for batch in &batches {
                cells.extend(batch.column(i), name, path)?;
            }
            let column = match (options.column_kinds.get(name), cells) {
                (None | Some(ColumnKind::Numeric), Cells::Numeric(v)) => Column::Numeric(v),
                (None | Some(ColumnKind::Categorical), Cells::Text(v)) => Column::Categorical(v),
                (Some(ColumnKind::Categorical), Cells::Numeric(v)) => {
                    Column::Categorical(v.into_iter().map(|x| x.map(|x| x.to_string())).collect())
                }
                (Some(ColumnKind::Numeric), Cells::Text(v)) => Column::Numeric(
                    v.into_iter()
                        .enumerate()
                        .map(|(row, s)| match s {
                            None => Ok(None),
                            Some(s) => s.trim().parse::<f64>().map(Some).map_err(|_| DataError::Parquet {
                                path: path.to_path_buf(),
                                message: format!("column `{name}`, row {row}: `{s}` is not a number"),
                            }),
                        })
                        .collect::<Result<_>>()?,
                ),
                (_, Cells::Empty) => Column::Numeric(Vec::new()),
            };
            let column = match column {
                Column::Numeric(values) => Column::Numeric(
                    values
                        .into_iter()
                        .enumerate()
                        .map(|(row, x)| match x.map(|x| options.non_finite.apply(x)) {
                            None => Ok(None),
                            Some(Ok(x)) => Ok(x),
                            Some(Err(())) => Err(DataError::NonFinite {
                                path: path.to_path_buf(),
                                place: format!("row {row}"),
                                column: name.clone(),
                                value: x.map_or_else(String::new, |x| x.to_string()),
                            }),
                        })
                        .collect::<Result<_>>()?,
                ),
                other => other,
            };
            columns.push((name.clone(), column));
        }
        if columns.is_empty() {
            return Err(DataError::EmptyCsv { path: path.to_path_buf(), what: "no columns" });
        }
        Table::from_columns(columns)
    }
}

/// The cells of one column gathered over record batches.
#[derive(Default)]
enum Cells {
    #[default]
    Empty,
    Numeric(Vec<Option<f64>>),
    Text(Vec<Option<String>>),
}

impl Cells {
    fn extend(&mut self, array: &ArrayRef, name: &str, path: &Path) -> Result<()> {
        let numeric = |values: Vec<Option<f64>>, cells: &mut Cells| match cells {
            Cells::Empty => *cells = Cells::Numeric(values),
            Cells::Numeric(v) => v.extend(values),
            Cells::Text(_) => unreachable!("a column's type is the same in every batch"),
        };
        let text = |values: Vec<Option<String>>, cells: &mut Cells| match cells {
            Cells::Empty => *cells = Cells::Text(values),
            Cells::Text(v) => v.extend(values),
            Cells::Numeric(_) => unreachable!("a column's type is the same in every batch"),
        };
        macro_rules! prim {
            ($t:ty) => {
                numeric(array.as_primitive::<$t>().iter().map(|v| v.map(|v| v as f64)).collect(), self)
            };
        }
        match array.data_type() {
            DataType::Float64 => numeric(array.as_primitive::<Float64Type>().iter().collect(), self),
            DataType::Float32 => prim!(Float32Type),
            DataType::Int8 => prim!(Int8Type),
            DataType::Int16 => prim!(Int16Type),
            DataType::Int32 => prim!(Int32Type),
            DataType::Int64 => prim!(Int64Type),
            DataType::UInt8 => prim!(UInt8Type),
            DataType::UInt16 => prim!(UInt16Type),
            DataType::UInt32 => prim!(UInt32Type),
            DataType::UInt64 => prim!(UInt64Type),
            DataType::Boolean => {
                numeric(array.as_boolean().iter().map(|v| v.map(|b| f64::from(u8::from(b)))).collect(), self)
            }
            DataType::Utf8 => text(array.as_string::<i32>().iter().map(|v| v.map(String::from)).collect(), self),
            DataType::LargeUtf8 => text(array.as_string::<i64>().iter().map(|v| v.map(String::from)).collect(), self),
            DataType::Utf8View => text(array.as_string_view().iter().map(|v| v.map(String::from)).collect(), self),
            DataType::Dictionary(_, value) if matches!(**value, DataType::Utf8 | DataType::LargeUtf8) => {
                let strings = arrow_array::cast::downcast_array::<arrow_array::StringArray>(
                    &arrow_select_take(array).ok_or_else(|| unsupported(name, array.data_type(), path))?,
                );
                text(strings.iter().map(|v| v.map(String::from)).collect(), self)
            }
            DataType::Date32 => text(
                array.as_primitive::<Date32Type>().iter().map(|d| d.map(|d| iso_date(i64::from(d)))).collect(),
                self,
            ),
            DataType::Date64 => text(
                array
                    .as_primitive::<Date64Type>()
                    .iter()
                    .map(|ms| ms.map(|ms| iso_datetime(ms.div_euclid(1000))))
                    .collect(),
                self,
            ),
            DataType::Timestamp(unit, _) => {
                let per_second = match unit {
                    TimeUnit::Second => 1,
                    TimeUnit::Millisecond => 1_000,
                    TimeUnit::Microsecond => 1_000_000,
                    TimeUnit::Nanosecond => 1_000_000_000,
                };
                let raw: Vec<Option<i64>> = match unit {
                    TimeUnit::Second => array.as_primitive::<TimestampSecondType>().iter().collect(),
                    TimeUnit::Millisecond => array.as_primitive::<TimestampMillisecondType>().iter().collect(),
                    TimeUnit::Microsecond => array.as_primitive::<TimestampMicrosecondType>().iter().collect(),
                    TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().iter().collect(),
                };
                text(raw.into_iter().map(|t| t.map(|t| iso_datetime(t.div_euclid(per_second)))).collect(), self)
            }
            other => return Err(unsupported(name, other, path)),
        }
        Ok(())
    }
}

/// A dictionary-encoded string column expanded to plain strings.
fn arrow_select_take(array: &ArrayRef) -> Option<arrow_array::StringArray> {
    let dict = array.as_any_dictionary_opt()?;
    let values = dict.values();
    let keys = dict.normalized_keys();
    let strings: Vec<Option<String>> = match values.data_type() {
        DataType::Utf8 => {
            let v = values.as_string::<i32>();
            (0..array.len()).map(|i| array.is_valid(i).then(|| v.value(keys[i]).to_string())).collect()
        }
        DataType::LargeUtf8 => {
            let v = values.as_string::<i64>();
            (0..array.len()).map(|i| array.is_valid(i).then(|| v.value(keys[i]).to_string())).collect()
        }
        _ => return None,
    };
    Some(arrow_array::StringArray::from(strings))
}

fn unsupported(column: &str, data_type: &DataType, path: &Path) -> DataError {
    DataError::Parquet {
        path: path.to_path_buf(),
        message: format!("column `{column}` has Parquet type {data_type}, which is neither numeric, text nor a date"),
    }
}

fn iso_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

fn iso_datetime(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let s = seconds.rem_euclid(86_400);
    if s == 0 {
        return iso_date(days);
    }
    format!("{} {:02}:{:02}:{:02}", iso_date(days), s / 3600, s % 3600 / 60, s % 60)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{BooleanArray, Date32Array, Float32Array, Int64Array, StringArray};
    use arrow_schema::{Field, Schema};
    use parquet::arrow::ArrowWriter;

    use super::*;

    #[test]
    fn infinities_are_rejected_by_row_or_read_as_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inf.parquet");
        let fields = vec![Field::new("x", DataType::Float64, true)];
        let values = vec![Some(1.0), Some(f64::NAN), None, Some(f64::NEG_INFINITY)];
        let arrays: Vec<ArrayRef> = vec![Arc::new(arrow_array::Float64Array::from(values))];
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap();
        let mut writer = ArrowWriter::try_new(File::create(&path).unwrap(), batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let err = Table::read_parquet(&path, &CsvOptions::default()).unwrap_err().to_string();
        assert!(err.contains("row 3, column `x`: `-inf` is not a finite number"), "{err}");
        let lenient = CsvOptions { non_finite: crate::NonFinite::Missing, ..CsvOptions::default() };
        assert_eq!(Table::read_parquet(&path, &lenient).unwrap().numeric("x").unwrap(), [Some(1.0), None, None, None]);
    }

    #[test]
    fn round_trip_maps_types_onto_numeric_and_categorical() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let fields = vec![
            Field::new("f", DataType::Float32, true),
            Field::new("i", DataType::Int64, true),
            Field::new("b", DataType::Boolean, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("d", DataType::Date32, true),
        ];
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(Float32Array::from(vec![Some(1.5), None, Some(-2.0)])),
            Arc::new(Int64Array::from(vec![Some(3), Some(4), None])),
            Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
            Arc::new(StringArray::from(vec![Some("a"), None, Some("b")])),
            Arc::new(Date32Array::from(vec![Some(13_828), None, Some(0)])),
        ];
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap();
        let mut writer = ArrowWriter::try_new(File::create(&path).unwrap(), batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();

        let t = Table::read_parquet(&path, &CsvOptions::default()).unwrap();
        assert_eq!(t.numeric("f").unwrap(), [Some(1.5), None, Some(-2.0)]);
        assert_eq!(t.numeric("i").unwrap(), [Some(3.0), Some(4.0), None]);
        assert_eq!(t.numeric("b").unwrap(), [Some(1.0), Some(0.0), None]);
        assert_eq!(t.categorical("s").unwrap(), [Some("a".into()), None, Some("b".into())]);
        assert_eq!(t.categorical("d").unwrap(), [Some("2007-11-11".into()), None, Some("1970-01-01".into())]);

        let options =
            CsvOptions { column_kinds: [("i".to_string(), ColumnKind::Categorical)].into(), ..Default::default() };
        let t = Table::read_parquet(&path, &options).unwrap();
        assert_eq!(t.categorical("i").unwrap(), [Some("3".into()), Some("4".into()), None]);
    }

    #[test]
    fn a_file_that_is_not_parquet_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        std::fs::write(&path, "a,b\n1,2\n").unwrap();
        let err = Table::read_parquet(&path, &CsvOptions::default()).unwrap_err();
        assert!(err.to_string().contains("x.parquet") && err.to_string().contains("Parquet"), "{err}");
    }
}
