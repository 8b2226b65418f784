//! The CSV loader behind [`Table::read_csv`](crate::Table::read_csv): one streaming pass
//! that parses every cell once into its column (numbers into `f64`s, text into a
//! dictionary), so memory is the finished table's plus one record, never the file's text.
//!
//! A column is read as numeric until a cell is neither missing nor a number; from there
//! it keeps labels and counts how many cells parse. At the end the usual rule decides
//! (numeric when at most a minority of cells are words, then those words are an error;
//! otherwise categorical). A categorical column that held numbers before its first word
//! needs those rows' text: they are read again from the source, which only happens for
//! such columns and only up to that row.

use std::cell::Cell;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, DictionaryArray, Float64Array, Int32Array, RecordBatch, StringArray};
use arrow_buffer::{NullBuffer, ScalarBuffer};
use arrow_schema::{Field, Schema};

use crate::error::{DataError, Result};
use crate::table::{ColumnKind, CsvOptions, unknown_column};

/// Opens the source from its first byte; called once, and again only for the rows of a
/// column that turned out categorical after holding numbers.
pub(crate) type Opener<'a> = dyn Fn() -> std::io::Result<Box<dyn Read + 'a>> + 'a;

/// A cell that stops a column from being numeric, or an infinity the policy rejects.
#[derive(Debug, Clone)]
struct Offence {
    row: usize,
    line: u64,
    value: String,
}

/// A dictionary of labels in order of first appearance, and one code per row (`-1` missing).
#[derive(Default)]
struct Labels {
    index: HashMap<Box<str>, i32, foldhash::fast::FixedState>,
    labels: Vec<Box<str>>,
    codes: Vec<i32>,
}

impl Labels {
    fn with_capacity(rows: usize) -> Self {
        Self { codes: Vec::with_capacity(rows), ..Self::default() }
    }

    fn push(&mut self, value: Option<&str>) {
        let code = match value {
            None => -1,
            Some(s) => match self.index.get(s) {
                Some(&c) => c,
                None => {
                    let c = self.labels.len() as i32;
                    self.labels.push(s.into());
                    self.index.insert(s.into(), c);
                    c
                }
            },
        };
        self.codes.push(code);
    }
}

enum Values {
    /// Parsed numbers, `NaN` where missing.
    Numbers(Vec<f64>),
    /// Labels from row `from` on (the rows before it held only numbers or missing cells).
    Text { from: usize, labels: Labels },
}

struct Builder {
    forced: Option<ColumnKind>,
    values: Values,
    /// Non-missing cells that parse as numbers, and those that do not.
    numbers: usize,
    words: usize,
    /// Non-missing numeric cells before the switch to text (their text is read again if
    /// the column ends categorical).
    numbers_before_text: usize,
    first_word: Option<Offence>,
    first_infinity: Option<Offence>,
}

impl Builder {
    fn new(forced: Option<ColumnKind>, capacity: usize) -> Self {
        let values = match forced {
            Some(ColumnKind::Categorical) => Values::Text { from: 0, labels: Labels::with_capacity(capacity) },
            _ => Values::Numbers(Vec::with_capacity(capacity)),
        };
        Self { forced, values, numbers: 0, words: 0, numbers_before_text: 0, first_word: None, first_infinity: None }
    }

    fn push(&mut self, cell: &str, missing: bool, row: usize, line: u64, options: &CsvOptions) {
        if self.forced == Some(ColumnKind::Categorical) {
            if let Values::Text { labels, .. } = &mut self.values {
                labels.push((!missing).then_some(cell));
            }
            return;
        }
        let parsed = if missing { None } else { Some(parse_number(cell)) };
        let number = match parsed {
            None => None,
            Some(Ok(x)) => {
                self.numbers += 1;
                match options.non_finite.apply(x) {
                    Ok(x) => x,
                    Err(()) => {
                        if self.first_infinity.is_none() {
                            self.first_infinity = Some(Offence { row, line, value: cell.to_string() });
                        }
                        None
                    }
                }
            }
            Some(Err(_)) => {
                self.words += 1;
                if self.first_word.is_none() {
                    self.first_word = Some(Offence { row, line, value: cell.to_string() });
                }
                None
            }
        };
        match &mut self.values {
            Values::Numbers(v) => {
                if matches!(parsed, Some(Err(_))) && self.forced.is_none() {
                    // The first word: from here on keep labels too, the kind is decided at the end.
                    self.numbers_before_text = self.numbers;
                    let mut labels = Labels::with_capacity(v.capacity().saturating_sub(row));
                    labels.push(Some(cell));
                    self.values = Values::Text { from: row, labels };
                } else {
                    v.push(number.unwrap_or(f64::NAN));
                }
            }
            Values::Text { labels, .. } => labels.push((!missing).then_some(cell)),
        }
    }

    fn kind(&self) -> ColumnKind {
        match self.forced {
            Some(kind) => kind,
            // A column that is mostly numbers with a few words is almost always a data
            // error, not a categorical column: it is numeric and the words are reported.
            None if self.words == 0 || self.numbers > self.words => ColumnKind::Numeric,
            None => ColumnKind::Categorical,
        }
    }
}

/// Reads CSV text from `open()`; `path` names it in errors. `lines`, when known, bounds
/// the number of records: columns are allocated once at that size instead of growing
/// (and copying) as rows arrive.
pub(crate) fn read(open: &Opener<'_>, path: &Path, options: &CsvOptions, lines: Option<usize>) -> Result<RecordBatch> {
    let path = path.to_path_buf();
    let delimiter = u8::try_from(options.delimiter)
        .map_err(|_| DataError::InvalidSplit(format!("delimiter `{}` is not a single byte", options.delimiter)))?;
    let io = |source| DataError::Io { path: path.clone(), source };
    let mut source = Source::open(open, delimiter).map_err(io)?;
    let mut record = csv::StringRecord::new();

    let mut names: Vec<String> = Vec::new();
    if options.has_header {
        if !source.next(&mut record, &path)? {
            return Err(DataError::EmptyCsv { path, what: "no header line" });
        }
        // A UTF-8 byte-order mark (Excel writes one) is not part of the first name.
        names = record
            .iter()
            .enumerate()
            .map(|(i, s)| if i == 0 { s.trim_start_matches('\u{feff}') } else { s }.trim().to_string())
            .collect();
        check_header(&names, &path, options)?;
    }
    if !source.next(&mut record, &path)? {
        return Err(DataError::EmptyCsv { path, what: "no data rows" });
    }
    if !options.has_header {
        names = (0..record.len()).map(|i| format!("column_{i}")).collect();
        check_header(&names, &path, options)?;
    }
    let capacity = lines.unwrap_or(0);
    let builders: Vec<Builder> =
        names.iter().map(|n| Builder::new(options.column_kinds.get(n).copied(), capacity)).collect();
    let mut batch = Batch::default();
    batch.lines.push(source.line(&record));
    batch.records.push(record);
    batch.len = 1;
    // This thread splits the text into records; two workers parse their cells, each into
    // its half of the columns. Batches of records are shared, then reused once both are done.
    let workers = builders.len().clamp(1, 2);
    let mut parts: Vec<Vec<Builder>> = Vec::with_capacity(workers);
    let mut rest = builders;
    for w in (1..workers).rev() {
        let at = rest.len() * w / workers;
        parts.insert(0, rest.split_off(at));
    }
    parts.insert(0, rest);
    let (builders, rows) = std::thread::scope(|scope| -> Result<(Vec<Builder>, usize)> {
        let mut senders = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for part in parts {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Arc<Batch>>(2);
            senders.push(tx);
            let first_column = handles.iter().map(|(_, n): &(_, usize)| n).sum::<usize>();
            let width = part.len();
            handles.push((
                scope.spawn(move || {
                    let mut builders = part;
                    let nulls = Nulls::new(options);
                    let mut rows = 0usize;
                    for batch in rx {
                        for (record, &line) in batch.records[..batch.len].iter().zip(&batch.lines) {
                            let cells = record.iter().skip(first_column);
                            for (builder, cell) in builders.iter_mut().zip(cells) {
                                let cell = trim(cell);
                                builder.push(cell, nulls.is_null(cell), rows, line, options);
                            }
                            rows += 1;
                        }
                    }
                    (builders, rows)
                }),
                width,
            ));
        }
        let mut in_flight: std::collections::VecDeque<Arc<Batch>> = std::collections::VecDeque::new();
        let mut failure = None;
        'read: loop {
            while batch.len < BATCH_ROWS {
                if batch.records.len() == batch.len {
                    batch.records.push(csv::StringRecord::new());
                    batch.lines.push(0);
                }
                match source.next(&mut batch.records[batch.len], &path) {
                    Ok(true) => {
                        batch.lines[batch.len] = source.line(&batch.records[batch.len]);
                        batch.len += 1;
                    }
                    Ok(false) => break,
                    Err(e) => {
                        failure = Some(e);
                        break 'read;
                    }
                }
            }
            let last = batch.len < BATCH_ROWS;
            let shared = Arc::new(std::mem::take(&mut batch));
            for tx in &senders {
                if tx.send(Arc::clone(&shared)).is_err() {
                    break 'read;
                }
            }
            in_flight.push_back(shared);
            if last {
                break;
            }
            // The oldest batch is free again once every worker has dropped it.
            if in_flight.front().is_some_and(|b| Arc::strong_count(b) == 1)
                && let Some(done) = in_flight.pop_front()
            {
                batch = Arc::try_unwrap(done).unwrap_or_default();
            }
            batch.len = 0;
        }
        drop(senders);
        let mut builders = Vec::new();
        let mut rows = 0;
        for (handle, _) in handles {
            let (part, n) = handle.join().map_err(|_| DataError::Csv {
                path: path.clone(),
                line: 0,
                message: "a parsing thread stopped unexpectedly".into(),
            })?;
            builders.extend(part);
            rows = n;
        }
        match failure {
            Some(e) => Err(e),
            None => Ok((builders, rows)),
        }
    })?;
    finish(names, builders, rows, open, delimiter, &path, options)
}

/// `cell.parse::<f64>()`, with a fast path for short integers (most numeric cells),
/// which convert exactly.
fn parse_number(cell: &str) -> std::result::Result<f64, std::num::ParseFloatError> {
    let (negative, digits) = match cell.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        bytes => (false, bytes),
    };
    if !digits.is_empty() && digits.len() <= 15 && digits.iter().all(u8::is_ascii_digit) {
        let n = digits.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')) as f64;
        return Ok(if negative { -n } else { n });
    }
    cell.parse::<f64>()
}

/// Records read per batch handed from the reading to the parsing thread.
const BATCH_ROWS: usize = 4096;

/// Records read but not yet parsed, with the line each starts on.
#[derive(Default)]
struct Batch {
    records: Vec<csv::StringRecord>,
    lines: Vec<u64>,
    len: usize,
}

/// Recognises the missing-value spellings quickly: most cells (a digit, a letter no
/// spelling starts with) are ruled out by their first byte.
struct Nulls<'a> {
    values: &'a [String],
    first_bytes: [bool; 256],
    empty: bool,
}

impl<'a> Nulls<'a> {
    fn new(options: &'a CsvOptions) -> Self {
        let mut first_bytes = [false; 256];
        for v in &options.null_values {
            if let Some(&b) = v.as_bytes().first() {
                first_bytes[b as usize] = true;
            }
        }
        Self { values: &options.null_values, first_bytes, empty: options.null_values.iter().any(String::is_empty) }
    }

    fn is_null(&self, cell: &str) -> bool {
        match cell.as_bytes().first() {
            None => self.empty,
            Some(&b) => self.first_bytes[b as usize] && self.values.iter().any(|n| n == cell),
        }
    }
}

/// `s.trim()`, skipping the search when neither end is whitespace (almost every cell).
fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(&a), Some(&b)) if a > b' ' && a < 0x80 && b > b' ' && b < 0x80 => s,
        _ => s.trim(),
    }
}

fn check_header(names: &[String], path: &Path, options: &CsvOptions) -> Result<()> {
    let mut seen = HashMap::new();
    for h in names {
        if seen.insert(h.as_str(), ()).is_some() {
            return Err(DataError::DuplicateColumn { path: path.to_path_buf(), column: h.clone() });
        }
    }
    for name in options.column_kinds.keys() {
        if !names.contains(name) {
            return Err(unknown_column(name, names.iter().map(String::as_str)));
        }
    }
    Ok(())
}

fn finish(
    names: Vec<String>,
    builders: Vec<Builder>,
    rows: usize,
    open: &Opener<'_>,
    delimiter: u8,
    path: &Path,
    options: &CsvOptions,
) -> Result<RecordBatch> {
    // Errors first, column by column and within a column by row, as a reader going down
    // each column would meet them.
    for (name, b) in names.iter().zip(&builders) {
        if b.kind() != ColumnKind::Numeric {
            continue;
        }
        let word = b.first_word.as_ref().map(|o| (o.row, false, o));
        let infinity = b.first_infinity.as_ref().map(|o| (o.row, true, o));
        let first = match (word, infinity) {
            (Some(w), Some(i)) => Some(if i.0 < w.0 { i } else { w }),
            (w, i) => w.or(i),
        };
        if let Some((_, is_infinity, o)) = first {
            let path = path.to_path_buf();
            let (column, value) = (name.clone(), o.value.clone());
            return Err(if is_infinity {
                DataError::NonFinite { path, place: format!("line {}", o.line), column, value }
            } else {
                DataError::NonNumeric { path, line: o.line, column, value }
            });
        }
    }
    // Categorical columns that held numbers before their first word: read those rows again.
    let wanted: Vec<(usize, usize)> = builders
        .iter()
        .enumerate()
        .filter_map(|(c, b)| match &b.values {
            Values::Text { from, .. } if b.kind() == ColumnKind::Categorical && b.numbers_before_text > 0 => {
                Some((c, *from))
            }
            _ => None,
        })
        .collect();
    let mut prefixes: HashMap<usize, Labels> = HashMap::new();
    if !wanted.is_empty() {
        let nulls = Nulls::new(options);
        let until = wanted.iter().map(|&(_, from)| from).max().unwrap_or(0);
        let io = |source| DataError::Io { path: path.to_path_buf(), source };
        let mut source = Source::open(open, delimiter).map_err(io)?;
        let mut record = csv::StringRecord::new();
        if options.has_header {
            source.next(&mut record, path)?;
        }
        for row in 0..until {
            if !source.next(&mut record, path)? {
                return Err(DataError::Csv {
                    path: path.to_path_buf(),
                    line: 0,
                    message: format!("the file changed while it was read: row {row} is gone"),
                });
            }
            for &(c, from) in &wanted {
                if row < from {
                    let cell = trim(record.get(c).unwrap_or(""));
                    prefixes.entry(c).or_default().push((!nulls.is_null(cell)).then_some(cell));
                }
            }
        }
    }

    let mut fields = Vec::with_capacity(names.len());
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(names.len());
    for (c, (name, b)) in names.iter().zip(builders).enumerate() {
        let kind = b.kind();
        let array: ArrayRef = match (kind, b.values) {
            (ColumnKind::Numeric, Values::Numbers(values)) => Arc::new(numbers(values)),
            (ColumnKind::Numeric, Values::Text { .. }) => {
                unreachable!("a numeric column that switched to text has a word, reported above")
            }
            (ColumnKind::Categorical, Values::Text { from, labels }) => {
                Arc::new(dictionary(prefixes.remove(&c), from, labels, rows)?)
            }
            (ColumnKind::Categorical, Values::Numbers(_)) => {
                unreachable!("a column holding only numbers is numeric unless forced categorical, which keeps text")
            }
        };
        fields.push(Field::new(name, array.data_type().clone(), true));
        arrays.push(array);
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

fn numbers(values: Vec<f64>) -> Float64Array {
    let nulls = values.iter().any(|v| v.is_nan()).then(|| NullBuffer::from_iter(values.iter().map(|v| !v.is_nan())));
    let values: Vec<f64> = values.into_iter().map(|v| if v.is_nan() { 0.0 } else { v }).collect();
    Float64Array::new(ScalarBuffer::from(values), nulls)
}

/// A dictionary column of `values`, labels in order of first appearance.
pub(crate) fn dictionary_of<'a>(values: impl Iterator<Item = Option<&'a str>>) -> Result<DictionaryArray<Int32Type>> {
    let mut labels = Labels::default();
    for v in values {
        labels.push(v);
    }
    let rows = labels.codes.len();
    dictionary(None, 0, labels, rows)
}

/// The dictionary column: the re-read `prefix` rows (before `from`, all missing when
/// there is none) followed by `labels`' rows, codes in order of first appearance.
fn dictionary(prefix: Option<Labels>, from: usize, labels: Labels, rows: usize) -> Result<DictionaryArray<Int32Type>> {
    let (order, codes): (Vec<Box<str>>, Vec<i32>) = match prefix {
        None => {
            let mut codes = vec![-1; from];
            codes.extend(labels.codes);
            (labels.labels, codes)
        }
        Some(mut prefix) => {
            // The prefix's labels come first; the later labels keep their relative order.
            let remap: Vec<i32> = labels
                .labels
                .iter()
                .map(|l| match prefix.index.get(l.as_ref()) {
                    Some(&c) => c,
                    None => {
                        let c = prefix.labels.len() as i32;
                        prefix.labels.push(l.clone());
                        prefix.index.insert(l.clone(), c);
                        c
                    }
                })
                .collect();
            let mut codes = prefix.codes;
            codes.extend(labels.codes.iter().map(|&c| if c < 0 { -1 } else { remap[c as usize] }));
            (prefix.labels, codes)
        }
    };
    debug_assert_eq!(codes.len(), rows);
    let nulls = codes.iter().any(|&c| c < 0).then(|| NullBuffer::from_iter(codes.iter().map(|&c| c >= 0)));
    let keys = Int32Array::new(ScalarBuffer::from(codes.into_iter().map(|c| c.max(0)).collect::<Vec<_>>()), nulls);
    let values = StringArray::from_iter_values(order.iter().map(|s| s.as_ref()));
    Ok(DictionaryArray::try_new(keys, Arc::new(values))?)
}

/// The csv reader over a source, with line numbers right for Windows line endings.
struct Source<'a> {
    reader: csv::Reader<CrlfSniffer<Box<dyn Read + 'a>>>,
    crlf: Rc<Cell<bool>>,
}

impl<'a> Source<'a> {
    fn open(open: &Opener<'a>, delimiter: u8) -> std::io::Result<Self> {
        let crlf = Rc::new(Cell::new(false));
        let inner = CrlfSniffer { inner: open()?, last: 0, crlf: Rc::clone(&crlf) };
        let reader =
            csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(false).from_reader(inner);
        Ok(Self { reader, crlf })
    }

    /// The 1-based line a record starts on. The csv crate starts a record after a `\r\n`
    /// at its `\n`, one line early: with Windows line endings a position past the first
    /// line is one more.
    fn line_of(&self, p: &csv::Position) -> u64 {
        if self.crlf.get() && p.byte() > 0 { p.line() + 1 } else { p.line() }
    }

    fn line(&self, record: &csv::StringRecord) -> u64 {
        record.position().map_or(0, |p| self.line_of(p))
    }

    /// Reads the next record; `false` at the end.
    fn next(&mut self, record: &mut csv::StringRecord, path: &Path) -> Result<bool> {
        self.reader.read_record(record).map_err(|e| DataError::Csv {
            path: PathBuf::from(path),
            line: e.position().map_or(0, |p| self.line_of(p)),
            message: csv_message(&e),
        })
    }
}

/// A reader that notes whether the text it passes on has Windows (`\r\n`) line endings.
struct CrlfSniffer<R> {
    inner: R,
    last: u8,
    crlf: Rc<Cell<bool>>,
}

impl<R: Read> Read for CrlfSniffer<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if !self.crlf.get() && n > 0 {
            let seen = (self.last == b'\r' && buf[0] == b'\n')
                || (buf[..n].contains(&b'\r') && buf[..n].windows(2).any(|w| w == b"\r\n"));
            self.crlf.set(seen);
            self.last = buf[n - 1];
        }
        Ok(n)
    }
}

fn csv_message(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("row has {len} fields, expected {expected_len} like the first line")
        }
        csv::ErrorKind::Utf8 { .. } => "invalid UTF-8".to_string(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_integer_fast_path_agrees_with_the_standard_parser() {
        for s in ["0", "-0", "007", "123456789012345", "-42", "9", "1234567890123456", "1e3", "-", "", "+5", "1.5", "١"]
        {
            let (ours, std) = (super::parse_number(s), s.parse::<f64>());
            assert_eq!(ours.as_ref().map(|x| x.to_bits()).ok(), std.as_ref().map(|x| x.to_bits()).ok(), "{s}");
            assert_eq!(ours.is_err(), std.is_err(), "{s}");
        }
    }
}
