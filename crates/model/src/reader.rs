//! The CSV reader behind every command: one streaming pass over a file, standard input, a
//! pipe or a FIFO, keeping only the chosen columns as `f64` in one row-major buffer.
//!
//! Plain text (no quote character, lines ended by `\n` or `\r\n`) is read in chunks of
//! whole lines that are split and parsed on every core; a line that is not a clean row of
//! finite numbers (a missing value, text, a wrong number of fields) is handed, in file
//! order, to the same per-record rules as everything else. From the first quote on, the
//! `csv` crate's reader takes the rest of the input, so quoted fields (with delimiters or
//! line breaks inside) are read as RFC 4180 says. Both paths parse numbers with
//! `str::parse::<f64>`, so the values are the same bits whichever path read them. This is
//! the hot path of loading a large file.

use crate::data::{Column, DataError, Missing};
use indexmap::IndexMap;
use rayon::prelude::*;
use std::io::{BufRead, Read};

/// The chosen columns, parsed and filled: row-major values.
pub(crate) struct Table {
    pub names: Vec<String>,
    pub rows: usize,
    pub values: Vec<f64>,
    /// Per chosen column: its levels in order of appearance, for a text column (whose
    /// values are then the levels' codes).
    pub levels: Vec<Option<Vec<String>>>,
}

pub(crate) type Resolve<'a> = dyn Fn(&Column) -> Result<usize, DataError> + 'a;

/// Which chosen columns of [`read_table`] may hold text (categorical levels).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Text {
    None,
    /// All but the last chosen column: the features, not the target.
    AllButLast,
    /// All, and the chosen columns from this one on are read as text whatever they hold
    /// (columns carried through to an output unchanged).
    AllKeepingFrom(usize),
}

/// Bytes of whole lines parsed together on every core.
const CHUNK: usize = 8 << 20;

/// The delimiter of a file from its first line: the most frequent of `,` `;` tab `|`
/// outside quotes (a comma when none appears).
fn sniff_delimiter(head: &[u8]) -> u8 {
    let line = head.split(|b| *b == b'\n').next().unwrap_or(head);
    let mut counts = [0usize; 4];
    let mut quoted = false;
    for &c in line {
        match c {
            b'"' => quoted = !quoted,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            b'|' if !quoted => counts[3] += 1,
            _ => {}
        }
    }
    let best = (0..4)
        .max_by_key(|&i| (counts[i], usize::from(i == 0)))
        .unwrap_or(0);
    if counts[best] == 0 {
        b','
    } else {
        [b',', b';', b'\t', b'|'][best]
    }
}

/// The code of a text level, adding it if new.
fn level_code(levels: &mut IndexMap<String, f64>, text: &str) -> f64 {
    let next = levels.len() as f64;
    *levels.entry(text.to_string()).or_insert(next)
}

/// True for bytes the fast path reads exactly as the `csv` reader would: no quotes, and
/// every carriage return part of a `\r\n`.
fn plain(bytes: &[u8]) -> bool {
    if bytes.contains(&b'"') {
        return false;
    }
    let mut rest = bytes;
    while let Some(i) = rest.iter().position(|&b| b == b'\r') {
        if rest.get(i + 1) != Some(&b'\n') {
            return false;
        }
        rest = &rest[i + 2..];
    }
    true
}

/// A whitespace-only line, which every path skips.
fn blank(r: &csv::ByteRecord) -> bool {
    r.len() == 1 && r[0].iter().all(u8::is_ascii_whitespace)
}

/// What the parallel stage made of one line.
enum Line {
    /// Every chosen field a finite number: the next `k` parsed values (the line's bytes
    /// kept for when a column turns out to be text after all).
    Clean(usize, usize),
    /// Anything else, for the per-record rules: the line's bytes in the chunk.
    Other(usize, usize),
    /// Empty.
    Empty,
}

/// The per-record rules: the chosen values of each row, as they go by.
struct Rows<'a> {
    path: &'a str,
    names: &'a [String],
    columns: &'a [usize],
    width: usize,
    missing: Missing,
    text_columns: usize,
    keep_from: usize,
    values: Vec<f64>,
    rows: usize,
    levels: Vec<Option<IndexMap<String, f64>>>,
    /// Cells waiting for the mean policy: (row, chosen column).
    holes: Vec<(usize, usize)>,
    row: Vec<Option<f64>>,
    /// The last row handed to a sink, for forward filling.
    last: Vec<f64>,
}

pub(crate) use crate::data::RowSink as Sink;

/// Rows handed to a sink at a time in the csv reader's path.
const SINK_ROWS: usize = 1 << 14;

impl Rows<'_> {
    /// Hands the rows held to the sink, if there is one (a streamed table's `values` hold
    /// only the rows not yet handed over).
    fn flush(&mut self, sink: &mut Option<&mut Sink<'_>>) -> Result<(), DataError> {
        let k = self.columns.len();
        if let Some(sink) = sink {
            if self.values.len() >= k.max(1) {
                sink(&self.values, k)?;
                self.last.clear();
                self.last
                    .extend_from_slice(&self.values[self.values.len() - k..]);
                self.values.clear();
            }
        }
        Ok(())
    }

    /// Column `j` of the last row kept.
    fn last_value(&self, j: usize) -> f64 {
        let k = self.columns.len();
        if self.values.len() >= k {
            self.values[self.values.len() - k + j]
        } else {
            self.last[j]
        }
    }

    /// True when every chosen column is read as a number (the fast path's condition).
    fn all_numeric(&self) -> bool {
        self.keep_from == usize::MAX && self.levels.iter().all(Option::is_none)
    }

    /// Room for `more` values, or a message that the data do not fit in memory.
    fn reserve(&mut self, more: usize) -> Result<(), DataError> {
        self.values.try_reserve(more).map_err(|_| DataError::Rejected {
            message: format!(
                "{}: out of memory after {} rows ({} MB of numbers): descent fit --stream reads a file of any size",
                self.path,
                self.rows,
                (self.values.len() * 8) >> 20
            ),
        })
    }

    /// Takes a row whose chosen values all parsed as finite numbers.
    #[inline]
    fn take_clean(&mut self, parsed: &[f64]) {
        self.values.extend_from_slice(parsed);
        self.rows += 1;
    }

    /// Takes one record at `line`; `fast` holds values already parsed (NaN where not).
    fn take(
        &mut self,
        rec: &csv::ByteRecord,
        line: u64,
        fast: Option<&[f64]>,
    ) -> Result<(), DataError> {
        let path = || self.path.to_string();
        if rec.len() != self.width {
            return Err(DataError::Ragged {
                path: path(),
                line,
                expected: self.width,
                found: rec.len(),
            });
        }
        let k = self.columns.len();
        for j in 0..k {
            let c = self.columns[j];
            if let Some(v) = fast.map(|f| f[j]).filter(|v| !v.is_nan()) {
                if self.levels[j].is_none() {
                    self.row[j] = Some(v);
                    continue;
                }
            }
            let text = std::str::from_utf8(&rec[c])
                .map_err(|_| DataError::Csv {
                    path: path(),
                    line,
                    message: format!("column '{}': the text is not UTF-8", shown(&self.names[c])),
                })?
                .trim();
            if j >= self.keep_from {
                // Carried through as it is, missing-looking or not.
                if let Some(lv) = &mut self.levels[j] {
                    self.row[j] = Some(level_code(lv, text));
                }
                continue;
            }
            if is_missing(text) {
                self.row[j] = None;
                continue;
            }
            if let Some(lv) = &mut self.levels[j] {
                self.row[j] = Some(level_code(lv, text));
                continue;
            }
            let at = || (path(), line, c + 1, self.names[c].clone(), shown(text));
            match text.parse::<f64>() {
                Ok(v) if v.is_finite() => self.row[j] = Some(v),
                Err(_) if j < self.text_columns => {
                    // A text value in a feature column: the column is categorical. The
                    // rows before it become levels too, written as Rust prints them.
                    let mut lv = IndexMap::new();
                    for i in 0..self.values.len() / k {
                        let v = self.values[i * k + j];
                        if !v.is_nan() {
                            self.values[i * k + j] = level_code(&mut lv, &format!("{v}"));
                        }
                    }
                    self.row[j] = Some(level_code(&mut lv, text));
                    self.levels[j] = Some(lv);
                }
                Ok(_) => {
                    let (path, line, column, name, text) = at();
                    return Err(DataError::Infinite {
                        path,
                        line,
                        column,
                        name,
                        text,
                    });
                }
                Err(_) => {
                    let (path, line, column, name, text) = at();
                    return Err(DataError::NotANumber {
                        path,
                        line,
                        column,
                        name,
                        text,
                    });
                }
            }
        }
        let located = |j: usize| {
            (
                path(),
                line,
                self.columns[j] + 1,
                self.names[self.columns[j]].clone(),
            )
        };
        if let Some(j) = self.row.iter().position(Option::is_none) {
            match self.missing {
                Missing::Error => {
                    let (path, line, column, name) = located(j);
                    return Err(DataError::MissingValue {
                        path,
                        line,
                        column,
                        name,
                    });
                }
                Missing::Drop => return Ok(()),
                Missing::ForwardFill => {
                    // Every row kept so far is whole, so the last one holds each
                    // column's last value.
                    for j in 0..k {
                        if self.row[j].is_none() {
                            if self.rows == 0 {
                                let (path, line, column, name) = located(j);
                                return Err(DataError::NothingToFill {
                                    path,
                                    line,
                                    column,
                                    name,
                                });
                            }
                            self.row[j] = Some(self.last_value(j));
                        }
                    }
                }
                Missing::Mean => {
                    for j in 0..k {
                        if self.row[j].is_none() {
                            self.holes.push((self.rows, j));
                        }
                    }
                }
            }
        }
        self.reserve(k)?;
        for j in 0..k {
            self.values.push(self.row[j].unwrap_or(f64::NAN));
        }
        self.rows += 1;
        Ok(())
    }
}

/// What the fast path needs to know of the table: the delimiter, the fields per line,
/// each field's chosen slot, and the number of chosen columns.
#[derive(Clone, Copy)]
struct Layout<'a> {
    delim: u8,
    width: usize,
    slot: &'a [Option<usize>],
    k: usize,
}

/// One piece of a chunk: what each line is, and the clean lines' values.
type Piece = (Vec<Line>, Vec<f64>);

/// Reads whole lines after `carry` (the part line left over), at least `chunk` bytes of
/// them unless the input ends first: the buffer, where its whole lines end, and whether
/// the input has ended.
fn read_lines(
    source: &mut impl BufRead,
    carry: &[u8],
    mut buf: Vec<u8>,
    chunk: usize,
) -> std::io::Result<(Vec<u8>, usize, bool)> {
    buf.clear();
    // Exactly a chunk and the carried line: growing by doubling would hold twice that.
    buf.reserve_exact((chunk + carry.len()).saturating_sub(buf.capacity()));
    buf.extend_from_slice(carry);
    loop {
        let before = buf.len();
        if before < chunk {
            source
                .by_ref()
                .take((chunk - before) as u64)
                .read_to_end(&mut buf)?;
            if buf.len() == before {
                let n = buf.len();
                return Ok((buf, n, true));
            }
            continue;
        }
        if let Some(i) = buf.iter().rposition(|&b| b == b'\n') {
            return Ok((buf, i + 1, false));
        }
        // A line longer than a chunk: read on until it ends.
        if source.read_until(b'\n', &mut buf)? == 0 || buf.last() != Some(&b'\n') {
            let n = buf.len();
            return Ok((buf, n, true));
        }
    }
}

/// Takes a parsed chunk's lines in order: clean rows as they are, the others through the
/// per-record rules with their line numbers.
fn take_parts(
    acc: &mut Rows<'_>,
    bytes: &[u8],
    parts: &[Piece],
    delim: u8,
    lines: &mut u64,
    record: &mut csv::ByteRecord,
) -> Result<(), DataError> {
    let k = acc.columns.len();
    for (kinds, values) in parts {
        acc.reserve(values.len())?;
        let mut next = values.chunks_exact(k.max(1));
        for kind in kinds {
            *lines += 1;
            let values = match *kind {
                Line::Clean(..) if k > 0 => next.next().expect("a clean line has its values"),
                _ => &[],
            };
            match *kind {
                // Numbers, unless a line before this one made a column text.
                Line::Clean(..) if acc.all_numeric() => acc.take_clean(values),
                Line::Empty => {}
                Line::Clean(a, b) | Line::Other(a, b) => {
                    // A line with the wrong number of fields is refused before it is
                    // split into a record (a 100 MB line would cost its fields' index).
                    let fields = bytes[a..b].iter().filter(|&&c| c == delim).count() + 1;
                    if fields != acc.width && !bytes[a..b].iter().all(u8::is_ascii_whitespace) {
                        return Err(DataError::Ragged {
                            path: acc.path.to_string(),
                            line: *lines,
                            expected: acc.width,
                            found: fields,
                        });
                    }
                    record.clear();
                    for field in bytes[a..b].split(|&c| c == delim) {
                        record.push_field(field);
                    }
                    if !blank(record) {
                        acc.take(record, *lines, None)?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Splits and parses `chunk` (whole lines) on every core: what each line is, and the
/// clean lines' values, `k` per line, in order; `None` if the chunk is not [`plain`].
fn parse_chunk(chunk: &[u8], layout: &Layout<'_>, pieces: &mut Vec<Piece>) -> bool {
    // Pieces of whole lines, several per core so that none waits long for the last.
    let count = (rayon::current_num_threads() * 16).max(1);
    let mut bounds = vec![0];
    for p in 1..count {
        let at = (chunk.len() * p / count).max(*bounds.last().unwrap_or(&0));
        let end = chunk[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(chunk.len(), |i| at + i + 1);
        if end > *bounds.last().unwrap_or(&0) && end < chunk.len() {
            bounds.push(end);
        }
    }
    bounds.push(chunk.len());
    // The buffers are the previous chunk's, reused: fresh ones would fault in new pages.
    pieces.resize_with(bounds.len() - 1, Default::default);
    pieces
        .par_iter_mut()
        .zip(bounds.par_windows(2))
        .map(|(out, w)| {
            let (start, end) = (w[0], w[1]);
            let piece = &chunk[start..end];
            out.0.clear();
            out.1.clear();
            if !plain(piece) {
                return false;
            }
            let text = std::str::from_utf8(piece).ok();
            parse_piece(piece, text, start, layout, out);
            true
        })
        .reduce(|| true, |a, b| a && b)
}

/// The bytes of `w` equal to `c`, as the top bit of each byte (exact, no false positives).
#[inline(always)]
fn eq_mask(w: u64, c: u8) -> u64 {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    let y = w ^ (u64::from(c) * 0x0101_0101_0101_0101);
    !(((y & LOW7).wrapping_add(LOW7)) | y | LOW7)
}

/// Calls `hit(i)` for every `i` with `bytes[i]` a delimiter or `\n`, in order, eight
/// bytes at a time (fields are short: a search routine per field costs more than this).
#[inline(always)]
fn for_each_break(bytes: &[u8], delim: u8, mut hit: impl FnMut(usize)) {
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for w in words.by_ref() {
        let w = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        let mut m = eq_mask(w, delim) | eq_mask(w, b'\n');
        while m != 0 {
            hit(at + m.trailing_zeros() as usize / 8);
            m &= m - 1;
        }
        at += 8;
    }
    for (i, &b) in words.remainder().iter().enumerate() {
        if b == delim || b == b'\n' {
            hit(at + i);
        }
    }
}

/// Parses field `start..end` of `text` into its slot of `row` when it is chosen: false
/// when it is not a finite number, or is a field past the header's width (`slot` None).
#[inline(always)]
fn take_field(
    text: Option<&str>,
    start: usize,
    end: usize,
    slot: Option<&Option<usize>>,
    row: &mut [f64],
) -> bool {
    let (Some(text), Some(slot)) = (text, slot) else {
        return false;
    };
    let Some(j) = *slot else {
        return true;
    };
    let f = &text[start..end];
    // Only a field with a space or a non-ASCII byte at an end needs trimming.
    let edge = |b: u8| b <= b' ' || b >= 0x80;
    let t = match f.as_bytes() {
        [first, .., last] if !edge(*first) && !edge(*last) => f,
        [only] if !edge(*only) => f,
        _ => f.trim(),
    };
    match t.parse::<f64>() {
        // A finite number is never a missing-value spelling.
        Ok(v) if v.is_finite() => {
            row[j] = v;
            true
        }
        _ => false,
    }
}

/// What a line `start..stop` of a piece is, its values taken when it is clean.
#[inline(always)]
fn line_kind(
    out: &mut Vec<f64>,
    row: &[f64],
    clean: bool,
    base: usize,
    start: usize,
    stop: usize,
) -> Line {
    if stop == start {
        Line::Empty
    } else if clean {
        out.extend_from_slice(row);
        Line::Clean(base + start, base + stop)
    } else {
        Line::Other(base + start, base + stop)
    }
}

/// One piece of whole lines: what each line is, and the clean lines' values. `text` is
/// the piece as UTF-8 (`None` when it is not, and every line goes to the per-record
/// rules); `base` is the piece's offset in its chunk.
fn parse_piece(
    piece: &[u8],
    text: Option<&str>,
    base: usize,
    layout: &Layout<'_>,
    into: &mut Piece,
) {
    let Layout {
        delim,
        width,
        slot,
        k,
    } = *layout;
    let (kinds, out) = into;
    let mut row = vec![0.0; k];
    let (mut line_start, mut field_start, mut field) = (0, 0, 0);
    let mut clean = text.is_some();
    for_each_break(piece, delim, |i| {
        if piece[i] == delim {
            clean = clean && take_field(text, field_start, i, slot.get(field), &mut row);
            field += 1;
            field_start = i + 1;
            return;
        }
        let stop = if i > line_start && piece[i - 1] == b'\r' {
            i - 1
        } else {
            i
        };
        clean = clean
            && take_field(
                text,
                field_start,
                stop.max(field_start),
                slot.get(field),
                &mut row,
            );
        kinds.push(line_kind(
            out,
            &row,
            clean && field + 1 == width,
            base,
            line_start,
            stop,
        ));
        line_start = i + 1;
        field_start = i + 1;
        field = 0;
        clean = text.is_some();
    });
    if line_start < piece.len() {
        let end = piece.len();
        clean = clean && take_field(text, field_start, end, slot.get(field), &mut row);
        kinds.push(line_kind(
            out,
            &row,
            clean && field + 1 == width,
            base,
            line_start,
            end,
        ));
    }
}

/// Where the line ends are in the bytes the csv reader has taken and not yet passed:
/// the csv crate's own record positions count a `\r\n` ending, or a blank line, late.
#[derive(Default)]
struct LineEnds {
    /// Offsets of `\r` and `\n` bytes past the last record asked about (true for `\n`).
    ends: std::collections::VecDeque<(u64, bool)>,
    /// `\n` bytes before them.
    before: u64,
    /// Bytes read so far.
    read: u64,
}

impl LineEnds {
    /// The 1-based line of the first byte at or after `byte` that does not end a line.
    fn line_of(&mut self, byte: u64) -> u64 {
        while let Some(&(at, lf)) = self.ends.front() {
            if at >= byte {
                break;
            }
            self.before += u64::from(lf);
            self.ends.pop_front();
        }
        let mut run = 0;
        for (k, &(at, lf)) in self.ends.iter().enumerate() {
            if at != byte + k as u64 {
                break;
            }
            run += u64::from(lf);
        }
        1 + self.before + run
    }
}

/// A source that notes its line ends as the csv reader takes its bytes.
struct Noting<S> {
    inner: S,
    ends: std::rc::Rc<std::cell::RefCell<LineEnds>>,
}

impl<S: Read> Read for Noting<S> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut e = self.ends.borrow_mut();
        let start = e.read;
        for (i, &b) in buf[..n].iter().enumerate() {
            if b == b'\n' || b == b'\r' {
                e.ends.push_back((start + i as u64, b == b'\n'));
            }
        }
        e.read += n as u64;
        Ok(n)
    }
}

/// The csv reader over what is left of the input, with true line numbers: `offset` lines
/// came before its first byte.
struct Slow<S> {
    reader: csv::Reader<Noting<S>>,
    ends: std::rc::Rc<std::cell::RefCell<LineEnds>>,
    offset: u64,
}

impl<S: Read> Slow<S> {
    fn new(builder: &csv::ReaderBuilder, source: S, offset: u64) -> Slow<S> {
        let ends = std::rc::Rc::new(std::cell::RefCell::new(LineEnds::default()));
        let noting = Noting {
            inner: source,
            ends: ends.clone(),
        };
        Slow {
            reader: builder.from_reader(noting),
            ends,
            offset,
        }
    }

    /// The next record and its line, or `None` at the end.
    fn next(&mut self, record: &mut csv::ByteRecord, path: &str) -> Result<Option<u64>, DataError> {
        match self.reader.read_byte_record(record) {
            Ok(true) => {
                let byte = record.position().map_or(0, |p| p.byte());
                Ok(Some(self.offset + self.ends.borrow_mut().line_of(byte)))
            }
            Ok(false) => Ok(None),
            Err(e) => {
                let byte = e.position().map_or(0, |p| p.byte());
                Err(DataError::Csv {
                    path: path.to_string(),
                    line: self.offset + self.ends.borrow_mut().line_of(byte),
                    message: e.to_string(),
                })
            }
        }
    }
}

/// Reads the columns that `choose` picks (given a resolver of names and the width) from
/// a CSV source, in one streaming pass: each row's chosen fields are parsed straight into
/// one row-major buffer of `f64`, the other fields are never converted, and the source is
/// read once (a file, standard input, a pipe or a FIFO). Missing values follow `missing`
/// as the rows go by (the mean policy fills its cells at the end). A UTF-8 byte-order
/// mark is skipped; the delimiter is `delimiter`, or sniffed from the first line.
#[allow(clippy::too_many_arguments)]
pub(crate) fn read_table<R: Read>(
    source: R,
    name: &str,
    header: Option<bool>,
    missing: Missing,
    delimiter: Option<u8>,
    text: Text,
    choose: impl FnOnce(&Resolve<'_>, &[String]) -> Result<Vec<usize>, DataError>,
) -> Result<Table, DataError> {
    let tuning = Tuning {
        chunk: CHUNK,
        fast: true,
    };
    read_table_tuned(
        source, name, header, missing, delimiter, text, choose, tuning, None,
    )
}

/// [`read_table`] handing the rows to `sink` in batches as they are read, so that the
/// table is never held whole (the returned table's `values` are empty; text columns are
/// read as errors, and the mean policy, which needs every row first, is the caller's to
/// refuse).
pub(crate) fn stream_table<R: Read>(
    source: R,
    name: &str,
    header: Option<bool>,
    missing: Missing,
    delimiter: Option<u8>,
    choose: impl FnOnce(&Resolve<'_>, &[String]) -> Result<Vec<usize>, DataError>,
    sink: &mut Sink<'_>,
) -> Result<Table, DataError> {
    // Smaller chunks: what is held at once is a few chunks and their numbers.
    let tuning = Tuning {
        chunk: CHUNK / 8,
        fast: true,
    };
    read_table_tuned(
        source,
        name,
        header,
        missing,
        delimiter,
        Text::None,
        choose,
        tuning,
        Some(sink),
    )
}

/// How [`read_table_tuned`] reads: the chunk size, and whether the fast path may be used
/// (the tests compare the two paths on chunks small enough to split lines).
#[derive(Clone, Copy)]
struct Tuning {
    chunk: usize,
    fast: bool,
}

#[allow(clippy::too_many_arguments)]
fn read_table_tuned<R: Read>(
    source: R,
    name: &str,
    header: Option<bool>,
    missing: Missing,
    delimiter: Option<u8>,
    text: Text,
    choose: impl FnOnce(&Resolve<'_>, &[String]) -> Result<Vec<usize>, DataError>,
    tuning: Tuning,
    mut sink: Option<&mut Sink<'_>>,
) -> Result<Table, DataError> {
    let path = name.to_string();
    let io = |e: std::io::Error| DataError::Io {
        path: path.clone(),
        message: e.to_string(),
    };
    let mut buffered = std::io::BufReader::with_capacity(1 << 20, source);
    let head = buffered.fill_buf().map_err(io)?;
    let bom = head.starts_with(b"\xEF\xBB\xBF");
    let delim = delimiter.unwrap_or_else(|| sniff_delimiter(&head[if bom { 3 } else { 0 }..]));
    if bom {
        buffered.consume(3);
    }
    let builder = || {
        let mut b = csv::ReaderBuilder::new();
        b.has_headers(false).flexible(true).delimiter(delim);
        b
    };
    // The first line as bytes: when it is a plain record, the lines after it go to the
    // fast path; otherwise the csv reader takes the whole input.
    let mut prefix = Vec::new();
    buffered.read_until(b'\n', &mut prefix).map_err(io)?;
    let mut record = csv::ByteRecord::new();
    // A first line with its quotes closed is a whole record (R quotes every header name).
    let closed = prefix.iter().filter(|&&b| b == b'"').count() % 2 == 0;
    let plain_first = tuning.fast
        && closed
        && plain(
            &prefix
                .iter()
                .copied()
                .filter(|&b| b != b'"')
                .collect::<Vec<u8>>(),
        )
        && builder()
            .from_reader(&prefix[..])
            .read_byte_record(&mut record)
            .unwrap_or(false)
        && !blank(&record);
    let mut src = Some(buffered);
    type Rest<R> = std::io::Chain<std::io::Cursor<Vec<u8>>, std::io::BufReader<R>>;
    // The csv reader, once it has taken over.
    let mut slow: Option<Slow<Rest<R>>> = None;
    let (first, first_line) = if plain_first {
        (record.clone(), 1)
    } else {
        let chained = std::io::Cursor::new(std::mem::take(&mut prefix))
            .chain(src.take().expect("the source is there"));
        let mut reader = Slow::new(&builder(), chained, 0);
        let (first, line) = loop {
            match reader.next(&mut record, &path)? {
                None => return Err(DataError::Empty { path }),
                Some(line) if !blank(&record) => break (record.clone(), line),
                Some(_) => {}
            }
        };
        slow = Some(reader);
        (first, line)
    };
    let utf8 = |bytes: &[u8], line: u64| -> Result<String, DataError> {
        std::str::from_utf8(bytes)
            .map(|s| s.trim().to_string())
            .map_err(|_| DataError::Csv {
                path: path.clone(),
                line,
                message: "the text is not UTF-8 (save the file as UTF-8)".into(),
            })
    };
    let first_text: Vec<String> = first
        .iter()
        .map(|f| utf8(f, first_line))
        .collect::<Result<_, _>>()?;
    let has_header = header.unwrap_or_else(|| {
        first_text
            .iter()
            .any(|f| f.parse::<f64>().is_err() && !is_missing(f))
    });
    let width = first_text.len();
    let names: Vec<String> = if has_header {
        first_text
    } else {
        (0..width).map(|i| format!("column {i}")).collect()
    };
    let resolve = |c: &Column| -> Result<usize, DataError> {
        let found = match c {
            // A name first; a bare number that is no column's name is an index.
            Column::Name(n) => names
                .iter()
                .position(|h| h == n)
                .or_else(|| n.parse::<usize>().ok().filter(|i| *i < width)),
            Column::Index(i) => (*i < width).then_some(*i),
        };
        found.ok_or_else(|| DataError::UnknownColumn {
            path: path.clone(),
            column: match c {
                Column::Name(n) => format!("'{}'", shown(n)),
                Column::Index(i) => format!("#{i} (there are {width})"),
            },
            available: if names.len() > 20 {
                names[..20]
                    .iter()
                    .cloned()
                    .chain(["…".to_string()])
                    .collect()
            } else {
                names.clone()
            },
        })
    };
    let columns = choose(&resolve, &names)?;
    let k = columns.len();
    let keep_from = match text {
        Text::AllKeepingFrom(m) => m,
        _ => usize::MAX,
    };
    let mut acc = Rows {
        path: &path,
        names: &names,
        columns: &columns,
        width,
        missing,
        // Chosen columns that may hold text (the others' text is an error).
        text_columns: match text {
            Text::None => 0,
            Text::AllButLast => k.saturating_sub(1),
            Text::AllKeepingFrom(_) => k,
        },
        keep_from,
        values: Vec::new(),
        rows: 0,
        // The text columns' levels in order of appearance (None: a numeric column).
        levels: (0..k)
            .map(|j| (j >= keep_from).then(IndexMap::new))
            .collect(),
        holes: Vec::new(),
        row: vec![None; k],
        last: Vec::new(),
    };
    if !has_header {
        acc.take(&first, first_line, None)?;
    }
    // The chosen slot of each field, for the fast path (a column chosen twice, or text,
    // leaves it to the csv reader).
    let mut slot = vec![None; width];
    let mut distinct = true;
    for (j, &c) in columns.iter().enumerate() {
        distinct &= slot[c].is_none();
        slot[c] = Some(j);
    }
    let layout = Layout {
        delim,
        width,
        slot: &slot,
        k,
    };
    // Lines consumed so far (the fast path's line numbers).
    let mut lines = 1u64;
    let mut record = csv::ByteRecord::new();
    if slow.is_none() && !(tuning.fast && distinct && acc.all_numeric()) {
        // A column chosen twice, or read as text: the csv reader takes the rest.
        let rest = std::io::Cursor::new(Vec::new()).chain(src.take().expect("the source is there"));
        slow = Some(Slow::new(&builder(), rest, lines));
    }
    if slow.is_none() {
        // A pipeline: while the pool parses one chunk, this thread takes the chunk before
        // it (in file order) and reads the one after.
        let source = src.as_mut().expect("the fast path has the source");
        let mut cur = Some(read_lines(source, &[], Vec::new(), tuning.chunk).map_err(io)?);
        let mut prev: Option<(Vec<u8>, Vec<Piece>)> = None;
        // Buffers handed back once their chunk is taken.
        let mut spare_bytes = Vec::new();
        let mut spare_pieces: Vec<Piece> = Vec::new();
        loop {
            let mut pieces = std::mem::take(&mut spare_pieces);
            let mut plain_chunk = false;
            let mut next = None;
            let mut taken = Ok(());
            rayon::in_place_scope(|s| {
                if let Some((bytes, cut, _)) = &cur {
                    let (pieces, plain_chunk, layout) = (&mut pieces, &mut plain_chunk, &layout);
                    s.spawn(move |_| *plain_chunk = parse_chunk(&bytes[..*cut], layout, pieces));
                }
                if let Some((bytes, parts)) = &prev {
                    taken = take_parts(&mut acc, bytes, parts, delim, &mut lines, &mut record)
                        .and_then(|()| acc.flush(&mut sink));
                }
                if let Some((bytes, cut, false)) = &cur {
                    let buf = std::mem::take(&mut spare_bytes);
                    next = Some(read_lines(source, &bytes[*cut..], buf, tuning.chunk));
                }
            });
            taken?;
            if let Some((bytes, parts)) = prev.take() {
                spare_bytes = bytes;
                spare_pieces = parts;
            }
            let Some((bytes, cut, _)) = cur.take() else {
                break;
            };
            if plain_chunk && acc.all_numeric() {
                prev = Some((bytes, pieces));
                cur = next.transpose().map_err(io)?;
            } else {
                // Not plain, or a column became text: the csv reader takes this chunk's
                // lines, what was read after them, and the rest.
                let mut rest = bytes;
                if let Some(after) = next {
                    rest.truncate(cut);
                    rest.extend_from_slice(&after.map_err(io)?.0);
                }
                let rest =
                    std::io::Cursor::new(rest).chain(src.take().expect("the source is there"));
                slow = Some(Slow::new(&builder(), rest, lines));
                break;
            }
        }
    }
    if let Some(reader) = &mut slow {
        while let Some(line) = reader.next(&mut record, &path)? {
            if !blank(&record) {
                acc.take(&record, line, None)?;
                if acc.values.len() >= SINK_ROWS * k.max(1) {
                    acc.flush(&mut sink)?;
                }
            }
        }
    }
    acc.flush(&mut sink)?;
    let Rows {
        mut values,
        rows,
        levels,
        holes,
        ..
    } = acc;
    if rows == 0 {
        return Err(if has_header && missing != Missing::Drop {
            DataError::HeaderOnly { path }
        } else if has_header {
            DataError::NoRowsLeft { path }
        } else {
            DataError::Empty { path }
        });
    }
    if !holes.is_empty() {
        for j in 0..k {
            if levels[j].is_some() && holes.iter().any(|h| h.1 == j) {
                return Err(DataError::Rejected {
                    message: format!(
                        "{path}: column '{}' holds text, so missing values in it have no mean: use --missing drop or ffill",
                        shown(&names[columns[j]])
                    ),
                });
            }
            let present: Vec<f64> = (0..rows)
                .map(|i| values[i * k + j])
                .filter(|v| !v.is_nan())
                .collect();
            if present.is_empty() {
                return Err(DataError::MissingValue {
                    path,
                    line: first_line + u64::from(has_header),
                    column: columns[j] + 1,
                    name: names[columns[j]].clone(),
                });
            }
            let mean = present.iter().sum::<f64>() / present.len() as f64;
            for &(i, jj) in &holes {
                if jj == j {
                    values[i * k + j] = mean;
                }
            }
        }
    }
    Ok(Table {
        names: columns.iter().map(|&i| names[i].clone()).collect(),
        rows,
        values,
        levels: levels
            .into_iter()
            .map(|l| l.map(|l| l.into_keys().collect()))
            .collect(),
    })
}

/// A missing value, under every spelling pandas' `read_csv` accepts by default (which
/// includes R's `NA`): empty, `NA`, `N/A`, `n/a`, `NaN`, `nan`, `-NaN`, `-nan`, `null`,
/// `NULL`, `None`, `<NA>`, `#N/A`, `#N/A N/A`, `#NA`, `1.#IND`, `-1.#IND`, `1.#QNAN`,
/// `-1.#QNAN`.
pub(crate) fn is_missing(s: &str) -> bool {
    matches!(
        s,
        "" | "NA"
            | "N/A"
            | "n/a"
            | "NaN"
            | "nan"
            | "-NaN"
            | "-nan"
            | "null"
            | "NULL"
            | "None"
            | "<NA>"
            | "#N/A"
            | "#N/A N/A"
            | "#NA"
            | "1.#IND"
            | "-1.#IND"
            | "1.#QNAN"
            | "-1.#QNAN"
    )
}

/// Text of a field for messages: at most 40 characters, marked where cut.
pub(crate) fn shown(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Read = Result<(Vec<String>, usize, Vec<u64>, Vec<Option<Vec<String>>>), String>;

    /// The table, or the error's text, read with the fast path on `chunk`-byte chunks or
    /// by the csv reader alone.
    fn read(bytes: &[u8], missing: Missing, text: Text, chunk: usize, fast: bool) -> Read {
        read_table_tuned(
            bytes,
            "t.csv",
            None,
            missing,
            None,
            text,
            |_, names| Ok((0..names.len()).collect()),
            Tuning { chunk, fast },
            None,
        )
        .map(|t| {
            (
                t.names,
                t.rows,
                t.values.iter().map(|v| v.to_bits()).collect(),
                t.levels,
            )
        })
        .map_err(|e| e.to_string())
    }

    fn cell() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => (-1e6f64..1e6).prop_map(|v| format!("{v}")),
            2 => (-1e6f64..1e6).prop_map(|v| format!("{v:e}")),
            2 => (0u32..1000).prop_map(|v| format!(" {v} ")),
            1 => Just("".to_string()),
            1 => Just("NA".to_string()),
            1 => Just("nan".to_string()),
            1 => Just("inf".to_string()),
            1 => Just("red".to_string()),
            1 => Just("\"1,5\"".to_string()),
            1 => Just("\u{a0}7\u{a0}".to_string()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        /// Whatever the text, the fast path on any chunk size reads what the csv reader
        /// reads: the same names, rows, bits and levels, or the same error.
        #[test]
        fn the_fast_path_reads_what_the_csv_reader_reads(
            rows in prop::collection::vec(prop::collection::vec(cell(), 3), 1..40),
            crlf in any::<bool>(),
            blank_every in 0usize..7,
            ragged in prop::option::of(0usize..40),
            chunk in 1usize..200,
            policy in 0usize..4,
            text in any::<bool>(),
        ) {
            let end = if crlf { "\r\n" } else { "\n" };
            let mut s = format!("a,b,c{end}");
            for (i, r) in rows.iter().enumerate() {
                if blank_every > 0 && i % blank_every == 0 {
                    s += end;
                }
                s += &r.join(",");
                if ragged == Some(i) {
                    s += ",9";
                }
                s += end;
            }
            let missing = [Missing::Error, Missing::Drop, Missing::ForwardFill, Missing::Mean][policy];
            let text = if text { Text::AllButLast } else { Text::None };
            let slow = read(s.as_bytes(), missing, text, chunk, false);
            let fast = read(s.as_bytes(), missing, text, chunk, true);
            prop_assert_eq!(&fast, &slow);
            // Streamed, the rows handed over are the table's.
            if text == Text::None && missing != Missing::Mean {
                let mut got: Vec<u64> = Vec::new();
                let streamed = read_table_tuned(
                    s.as_bytes(), "t.csv", None, missing, None, Text::None,
                    |_, names| Ok((0..names.len()).collect()),
                    Tuning { chunk, fast: true },
                    Some(&mut |rows: &[f64], _| {
                        got.extend(rows.iter().map(|v| v.to_bits()));
                        Ok(())
                    }),
                )
                .map(|t| t.rows)
                .map_err(|e| e.to_string());
                prop_assert_eq!(streamed, slow.clone().map(|t| t.1));
                if let Ok(t) = &slow {
                    prop_assert_eq!(&got, &t.2);
                }
            }
        }
    }
}

#[cfg(test)]
mod line_numbers {
    use super::*;

    #[test]
    fn errors_name_the_line_an_editor_shows() {
        // The csv crate alone says line 1 for the second line of a CRLF file, and skips
        // blank lines in its count; both paths here count as an editor does.
        for (text, line) in [
            ("a,b\r\n1,2\r\n3,x\r\n", 3),
            ("a,b\n\n\n1,2\n3,x\n", 5),
            ("\"a\",b\r\n\r\n1,\"2\"\r\n3,x\r\n", 4),
            ("\"a\nb\",c\n1,2\n3,x\n", 4),
            ("a,\"b\r\nc\"\r\n1,2\r\n3,x\r\n", 4),
        ] {
            for fast in [true, false] {
                let e = read_table_tuned(
                    text.as_bytes(),
                    "t.csv",
                    None,
                    Missing::Error,
                    None,
                    Text::None,
                    |_, names| Ok((0..names.len()).collect()),
                    Tuning { chunk: 4, fast },
                    None,
                )
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
                assert!(
                    e.starts_with(&format!("t.csv:{line}:")),
                    "{text:?} (fast {fast}): {e}"
                );
            }
        }
    }
}
