//! [`Table`]: a typed, columnar table (an Arrow `RecordBatch`) and its CSV loader.
//!
//! Numeric columns are `Float64` arrays and categorical columns are
//! dictionary-encoded strings (`Dictionary<Int32, Utf8>`); missing cells are nulls in
//! the validity bitmap, never sentinel values.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{Array, ArrayRef, DictionaryArray, Float64Array, Int32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};

/// The two kinds of column a [`Table`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// 64-bit floats; missing cells are null.
    Numeric,
    /// Strings from a finite set (dictionary-encoded); missing cells are null.
    Categorical,
}

impl ColumnKind {
    fn name(self) -> &'static str {
        match self {
            ColumnKind::Numeric => "numeric",
            ColumnKind::Categorical => "categorical",
        }
    }
}

/// How to read a CSV file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CsvOptions {
    /// Field delimiter (default `,`).
    pub delimiter: char,
    /// Whether the first line names the columns (default `true`); otherwise
    /// columns are named `column_0`, `column_1`, ...
    pub has_header: bool,
    /// Cell values read as missing (default: empty, `NA`, `N/A`, `NaN`, `nan`, `null`, `NULL`).
    pub null_values: Vec<String>,
    /// Per-column kinds that override inference.
    pub column_kinds: BTreeMap<String, ColumnKind>,
    /// What an infinite number in a numeric column (`inf`, `-inf`, `Infinity`,
    /// `1e400`, which overflows) becomes: an error naming file, line and column
    /// (the default) or a missing cell. A `NaN` in any spelling is always missing.
    pub non_finite: NonFinite,
}

/// The policy for infinite numbers in numeric columns ([`CsvOptions::non_finite`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NonFinite {
    /// Refuse the file with [`DataError::NonFinite`] (the default): an infinite
    /// feature would make the loss or the predictions NaN far from the cause.
    #[default]
    Reject,
    /// Read the cell as missing (imputed or dropped like any other missing cell).
    Missing,
}

impl NonFinite {
    /// Applies the policy to a parsed number: `Ok(Some(x))` for a finite one,
    /// `Ok(None)` for NaN (and for infinity under [`NonFinite::Missing`]), and
    /// `Err(())` for an infinity that is rejected.
    pub(crate) fn apply(self, x: f64) -> std::result::Result<Option<f64>, ()> {
        match (x.is_finite(), x.is_nan(), self) {
            (true, _, _) => Ok(Some(x)),
            (false, true, _) | (false, false, NonFinite::Missing) => Ok(None),
            (false, false, NonFinite::Reject) => Err(()),
        }
    }
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            delimiter: ',',
            has_header: true,
            null_values: ["", "NA", "N/A", "NaN", "nan", "null", "NULL"].map(String::from).to_vec(),
            column_kinds: BTreeMap::new(),
            non_finite: NonFinite::Reject,
        }
    }
}

/// A typed columnar table backed by an Arrow [`RecordBatch`].
///
/// ```
/// use anneal_data::{CsvOptions, Table};
///
/// let csv = "x,colour\n1.5,red\n,blue\n3,red\n";
/// let table = Table::from_csv_reader(csv.as_bytes(), "inline.csv", &CsvOptions::default())?;
/// assert_eq!(table.n_rows(), 3);
/// assert_eq!(table.numeric("x")?, vec![Some(1.5), None, Some(3.0)]);
/// assert_eq!(table.categorical("colour")?[1].as_deref(), Some("blue"));
/// # Ok::<(), anneal_data::DataError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Table {
    batch: RecordBatch,
}

impl Table {
    /// Reads a CSV file (optionally gzip-compressed, detected from its first bytes).
    ///
    /// The file is streamed: each cell is parsed once into its column, so memory is the
    /// finished table's, not the text's.
    pub fn read_csv(path: impl AsRef<Path>, options: &CsvOptions) -> Result<Self> {
        let path = path.as_ref();
        let open = || -> std::io::Result<Box<dyn Read>> {
            let mut file = BufReader::with_capacity(1 << 16, std::fs::File::open(path)?);
            let mut magic = [0u8; 2];
            let n = read_prefix(&mut file, &mut magic)?;
            let chained = std::io::Cursor::new(magic[..n].to_vec()).chain(file);
            Ok(if n == 2 && magic == [0x1f, 0x8b] {
                Box::new(BufReader::with_capacity(1 << 16, flate2::read::MultiGzDecoder::new(chained)))
            } else {
                Box::new(chained)
            })
        };
        // Lines bound the records (a quoted field may span lines); counted in a quick
        // pass so that columns are allocated once. Not for gzip, which would decompress twice.
        let lines = count_lines(path);
        Ok(Self { batch: crate::reader::read(&open, path, options, lines)? })
    }

    /// Reads CSV text from any reader (to its end, then parses it); `name` is used in
    /// error messages. A file is better read with [`Table::read_csv`], which streams.
    pub fn from_csv_reader(mut reader: impl Read, name: impl AsRef<Path>, options: &CsvOptions) -> Result<Self> {
        let path = name.as_ref();
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).map_err(|source| DataError::Io { path: path.to_path_buf(), source })?;
        let open = || -> std::io::Result<Box<dyn Read + '_>> { Ok(Box::new(bytes.as_slice())) };
        let lines = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
        Ok(Self { batch: crate::reader::read(&open, path, options, Some(lines))? })
    }

    /// Reads a data file by its extension: `.parquet` / `.pq` as Parquet (cargo
    /// feature `parquet`), anything else as CSV (plain or gzip).
    pub fn read(path: impl AsRef<Path>, options: &CsvOptions) -> Result<Self> {
        let path = path.as_ref();
        let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        if matches!(extension.as_deref(), Some("parquet" | "pq")) {
            #[cfg(feature = "parquet")]
            return Self::read_parquet(path, options);
            #[cfg(not(feature = "parquet"))]
            return Err(DataError::Parquet {
                path: path.to_path_buf(),
                message: "anneal-data was built without its `parquet` feature".into(),
            });
        }
        Self::read_csv(path, options)
    }

    /// The names of the columns of `kind`, in order (select them with [`Table::select`]).
    pub fn columns_of_kind(&self, kind: ColumnKind) -> Vec<String> {
        self.batch
            .schema()
            .fields()
            .iter()
            .filter(|f| kind_of(f.data_type()) == kind)
            .map(|f| f.name().clone())
            .collect()
    }

    /// Builds a table from named columns (all of the same length).
    pub fn from_columns(columns: Vec<(String, Column)>) -> Result<Self> {
        let mut fields = Vec::with_capacity(columns.len());
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len());
        for (name, col) in columns {
            let array: ArrayRef = match col {
                Column::Numeric(v) => Arc::new(Float64Array::from(v)),
                Column::Categorical(v) => Arc::new(crate::reader::dictionary_of(v.iter().map(|s| s.as_deref()))?),
            };
            fields.push(Field::new(name, array.data_type().clone(), true));
            arrays.push(array);
        }
        Ok(Self { batch: RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)? })
    }

    /// This table with `column` added last as `name`: an error when a column
    /// has that name or the column has another number of rows.
    pub fn with_column(&self, name: &str, column: Column) -> Result<Self> {
        if self.column_names().iter().any(|c| c == name) {
            return Err(DataError::InvalidParameter(format!("the table already has a column `{name}`")));
        }
        let len = match &column {
            Column::Numeric(v) => v.len(),
            Column::Categorical(v) => v.len(),
        };
        if len != self.n_rows() {
            return Err(DataError::Shape(format!(
                "column `{name}` has {len} values for a table of {} rows",
                self.n_rows()
            )));
        }
        let added = Self::from_columns(vec![(name.to_string(), column)])?;
        let schema = self.batch.schema();
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(added.batch.schema().field(0).clone());
        let mut arrays: Vec<ArrayRef> = self.batch.columns().to_vec();
        arrays.push(added.batch.column(0).clone());
        Ok(Self { batch: RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)? })
    }

    /// The underlying Arrow record batch, for interop with the Arrow ecosystem.
    pub fn record_batch(&self) -> &RecordBatch {
        &self.batch
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// Column names in order.
    pub fn column_names(&self) -> Vec<String> {
        self.batch.schema().fields().iter().map(|f| f.name().clone()).collect()
    }

    /// The kind of the column `name`.
    pub fn kind(&self, name: &str) -> Result<ColumnKind> {
        let array = self.array(name)?;
        Ok(kind_of(array.data_type()))
    }

    /// Number of missing cells in column `name`.
    pub fn null_count(&self, name: &str) -> Result<usize> {
        Ok(self.array(name)?.null_count())
    }

    /// The values of a numeric column, `None` where missing.
    pub fn numeric(&self, name: &str) -> Result<Vec<Option<f64>>> {
        Ok(self.float_array(name)?.iter().collect())
    }

    fn float_array(&self, name: &str) -> Result<&Float64Array> {
        let array = self.array(name)?;
        array.as_any().downcast_ref::<Float64Array>().ok_or(DataError::ColumnType {
            column: name.to_string(),
            expected: "numeric",
            actual: kind_of(array.data_type()).name(),
        })
    }

    /// The values of a categorical column, `None` where missing.
    pub fn categorical(&self, name: &str) -> Result<Vec<Option<String>>> {
        let (codes, dictionary) = self.categorical_codes(name)?;
        Ok(codes.into_iter().map(|c| c.map(|c| dictionary[c].clone())).collect())
    }

    /// Numeric `columns` gathered row by row into one row-major buffer, `NaN` where
    /// missing (one pass over the rows, not one per column).
    pub(crate) fn numeric_row_major(&self, columns: &[String]) -> Result<Vec<f64>> {
        let arrays = columns.iter().map(|name| self.float_array(name)).collect::<Result<Vec<_>>>()?;
        let mut values = Vec::with_capacity(self.n_rows() * columns.len());
        for r in 0..self.n_rows() {
            values.extend(arrays.iter().map(|a| if a.is_valid(r) { a.value(r) } else { f64::NAN }));
        }
        Ok(values)
    }

    /// A categorical column as dictionary codes (`None` where missing) and the
    /// dictionary they index; a code may be unused after [`Table::take`].
    pub fn categorical_codes(&self, name: &str) -> Result<(Vec<Option<usize>>, Vec<String>)> {
        let (keys, labels) = self.dictionary(name)?;
        let codes = keys.iter().map(|k| k.map(|k| k as usize)).collect();
        Ok((codes, labels.iter().map(|l| l.unwrap_or_default().to_string()).collect()))
    }

    /// The values of any column as text (numbers formatted as written by Rust), `None` where missing.
    pub fn as_strings(&self, name: &str) -> Result<Vec<Option<String>>> {
        match self.kind(name)? {
            ColumnKind::Categorical => self.categorical(name),
            ColumnKind::Numeric => Ok(self.numeric(name)?.into_iter().map(|v| v.map(|x| x.to_string())).collect()),
        }
    }

    /// A new table with only `columns`, in that order.
    pub fn select(&self, columns: &[String]) -> Result<Self> {
        let schema = self.batch.schema();
        let indices = columns
            .iter()
            .map(|c| {
                schema.index_of(c).map_err(|_| unknown_column(c, schema.fields().iter().map(|f| f.name().as_str())))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { batch: self.batch.project(&indices)? })
    }

    /// A new table with the given rows, in the given order.
    ///
    /// Returns an error if an index is out of range.
    pub fn take(&self, rows: &[usize]) -> Result<Self> {
        if let Some(&bad) = rows.iter().find(|&&r| r >= self.n_rows()) {
            return Err(DataError::InvalidSplit(format!(
                "row {bad} is out of range for a table of {} rows",
                self.n_rows()
            )));
        }
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.batch.num_columns());
        for array in self.batch.columns() {
            if let Some(v) = array.as_any().downcast_ref::<Float64Array>() {
                let taken: Float64Array = rows.iter().map(|&r| v.is_valid(r).then(|| v.value(r))).collect();
                arrays.push(Arc::new(taken));
            } else if let Some(d) = array.as_any().downcast_ref::<DictionaryArray<Int32Type>>() {
                let keys = d.keys();
                let taken: Int32Array = rows.iter().map(|&r| keys.is_valid(r).then(|| keys.value(r))).collect();
                arrays.push(Arc::new(DictionaryArray::<Int32Type>::try_new(taken, d.values().clone())?));
            } else {
                unreachable!("a Table only ever holds Float64 and Dictionary<Int32, Utf8> columns")
            }
        }
        Ok(Self { batch: RecordBatch::try_new(self.batch.schema(), arrays)? })
    }

    /// The non-missing values of a numeric column, in row order, into `values` (cleared
    /// first; reusing one buffer saves allocating a column's worth per call).
    pub(crate) fn observed_into(&self, name: &str, values: &mut Vec<f64>) -> Result<()> {
        let a = self.float_array(name)?;
        values.clear();
        if a.null_count() == 0 {
            values.extend_from_slice(a.values());
        } else {
            values.extend(a.iter().flatten());
        }
        Ok(())
    }

    /// The cells of column `name` as comparable identities, without copying them.
    pub(crate) fn cells(&self, name: &str) -> Result<Cells<'_>> {
        let array = self.array(name)?;
        if let Some(a) = array.as_any().downcast_ref::<Float64Array>() {
            return Ok(Cells::Numeric(a));
        }
        let (codes, dictionary) = self.dictionary(name)?;
        // Equal labels under different codes (a dictionary read from Parquet may repeat
        // one) get one identity.
        let mut first: HashMap<&str, u32> = HashMap::new();
        let canonical = (0..dictionary.len()).map(|i| *first.entry(dictionary.value(i)).or_insert(i as u32)).collect();
        Ok(Cells::Categorical { codes, canonical })
    }

    /// The number of distinct labels a categorical column holds (missing cells aside),
    /// counted from its dictionary codes without copying a string per row.
    ///
    /// ```
    /// use anneal_data::{CsvOptions, Table};
    ///
    /// let t = Table::from_csv_reader("c\na\nb\n\na\n".as_bytes(), "t.csv", &CsvOptions::default())?;
    /// assert_eq!(t.distinct_labels("c")?, 2);
    /// # Ok::<(), anneal_data::DataError>(())
    /// ```
    pub fn distinct_labels(&self, name: &str) -> Result<usize> {
        let (codes, dictionary) = self.dictionary(name)?;
        let mut used = vec![false; dictionary.len()];
        for c in codes.iter().flatten() {
            used[c as usize] = true;
        }
        // A dictionary may repeat a label (one read from Parquet): count labels, not codes.
        Ok((0..dictionary.len())
            .filter(|&i| used[i])
            .map(|i| dictionary.value(i))
            .collect::<std::collections::HashSet<_>>()
            .len())
    }

    /// A categorical column's dictionary codes (null where missing) and labels, borrowed.
    pub(crate) fn dictionary(&self, name: &str) -> Result<(&Int32Array, &StringArray)> {
        let array = self.array(name)?;
        let wrong = || DataError::ColumnType {
            column: name.to_string(),
            expected: "categorical",
            actual: kind_of(array.data_type()).name(),
        };
        let dict = array.as_any().downcast_ref::<DictionaryArray<Int32Type>>().ok_or_else(wrong)?;
        let labels = dict.values().as_any().downcast_ref::<StringArray>().ok_or_else(wrong)?;
        Ok((dict.keys(), labels))
    }

    fn array(&self, name: &str) -> Result<&ArrayRef> {
        self.batch
            .column_by_name(name)
            .ok_or_else(|| unknown_column(name, self.batch.schema_ref().fields().iter().map(|f| f.name().as_str())))
    }
}

/// One column's cells as identities: equal cells, equal [`Cells::key`] (see [`Table::cells`]).
pub(crate) enum Cells<'a> {
    /// Numbers compare by their bits (so `-0` and `0` differ, as their text does).
    Numeric(&'a Float64Array),
    /// Labels compare by the first code of their text.
    Categorical {
        /// The dictionary codes.
        codes: &'a Int32Array,
        /// For each code, the first code with the same label.
        canonical: Vec<u32>,
    },
}

impl Cells<'_> {
    /// The identity of row `r`'s cell, `None` when missing.
    pub(crate) fn key(&self, r: usize) -> Option<u64> {
        match self {
            Cells::Numeric(a) => a.is_valid(r).then(|| a.value(r).to_bits()),
            Cells::Categorical { codes, canonical } => {
                codes.is_valid(r).then(|| u64::from(canonical[codes.value(r) as usize]))
            }
        }
    }
}

/// One column's values, for [`Table::from_columns`].
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// Numbers, `None` where missing.
    Numeric(Vec<Option<f64>>),
    /// Labels, `None` where missing.
    Categorical(Vec<Option<String>>),
}

pub(crate) fn unknown_column<'a>(name: &str, available: impl Iterator<Item = &'a str>) -> DataError {
    DataError::UnknownColumn { column: name.to_string(), available: available.collect::<Vec<_>>().join(", ") }
}

fn kind_of(dt: &DataType) -> ColumnKind {
    if matches!(dt, DataType::Float64) { ColumnKind::Numeric } else { ColumnKind::Categorical }
}

/// The lines of an uncompressed file (an upper bound on its records), `None` for a gzip
/// file (counting would decompress it twice) or when it cannot be read (the reader says why).
fn count_lines(path: &Path) -> Option<usize> {
    let mut file = std::fs::File::open(path).ok()?;
    let mut buffer = vec![0u8; 1 << 18];
    let (mut lines, mut first) = (1usize, true);
    loop {
        let n = file.read(&mut buffer).ok()?;
        if n == 0 {
            return Some(lines);
        }
        if first && n >= 2 && buffer[..2] == [0x1f, 0x8b] {
            return None;
        }
        first = false;
        lines += buffer[..n].iter().filter(|&&b| b == b'\n').count();
    }
}

fn read_prefix(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    #[test]
    fn line_numbers_are_the_same_with_windows_line_endings() {
        for newline in ["\n", "\r\n"] {
            let text = ["x,y", "1,2", "3,4", "foo,5", "6,7", "8,9", "10,11", "12,13", "14,15", "16,17"].join(newline);
            let err = super::Table::from_csv_reader(text.as_bytes(), "t.csv", &super::CsvOptions::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("line 4, column `x`"), "{newline:?}: {err}");
            let ragged = format!("x,y{newline}1,2{newline}3{newline}");
            let err = super::Table::from_csv_reader(ragged.as_bytes(), "t.csv", &super::CsvOptions::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("line 3"), "{newline:?}: {err}");
        }
    }

    use super::*;

    fn read(s: &str) -> Result<Table> {
        Table::from_csv_reader(s.as_bytes(), "t.csv", &CsvOptions::default())
    }

    #[test]
    fn infers_kinds_and_missing() {
        let t = read("a,b,c\n1,x,\n2,,\nNA,y,\n").unwrap();
        assert_eq!(t.kind("a").unwrap(), ColumnKind::Numeric);
        assert_eq!(t.kind("b").unwrap(), ColumnKind::Categorical);
        assert_eq!(t.null_count("a").unwrap(), 1);
        assert_eq!(t.null_count("c").unwrap(), 3);
    }

    #[test]
    fn take_keeps_types_and_nulls() {
        let t = read("a,b\n1,x\n,y\n3,\n").unwrap();
        let s = t.take(&[2, 0, 1]).unwrap();
        assert_eq!(s.numeric("a").unwrap(), vec![Some(3.0), Some(1.0), None]);
        assert_eq!(s.categorical("b").unwrap(), vec![None, Some("x".into()), Some("y".into())]);
    }

    #[test]
    fn mostly_numeric_column_with_a_word_is_an_error() {
        let e = read("a,b\n1,x\n2,y\nabc,z\n").unwrap_err();
        assert!(matches!(e, DataError::NonNumeric { line: 4, .. }), "{e}");
        assert!(e.to_string().contains("column `a`"), "{e}");
    }
}
