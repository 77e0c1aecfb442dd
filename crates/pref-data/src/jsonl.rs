//! Streaming JSON Lines (optionally gzip-compressed), JSON arrays, and the
//! per-record error reporting shared by every reader.
//!
//! Files are read line by line into one reused buffer: a million-line file is
//! never held in memory as a whole. The happy path parses with plain
//! `serde_json`; only a failing line is parsed a second time through
//! `serde_path_to_error` to name the offending field, so error reporting costs
//! nothing on good input.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{quote, shorten_quotes, Error, Location, Result};
use crate::records::Record;

/// Whether the path names a gzip file (`.gz`).
pub fn is_gzip(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// Opens a file for buffered reading, decompressing gzip when the name ends in `.gz`.
pub fn open_read(path: &Path) -> Result<Box<dyn BufRead + Send>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    const BUF: usize = 1 << 17;
    Ok(if is_gzip(path) {
        Box::new(BufReader::with_capacity(
            BUF,
            MultiGzDecoder::new(BufReader::with_capacity(BUF, file)),
        ))
    } else {
        Box::new(BufReader::with_capacity(BUF, file))
    })
}

/// Reads a whole (possibly gzip-compressed) file into memory.
pub fn read_all(path: &Path) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    open_read(path)?
        .read_to_end(&mut out)
        .map_err(|e| Error::io(path, e))?;
    Ok(out)
}

/// One raw line of a JSON Lines file.
#[derive(Debug)]
pub struct RawLine<'a> {
    /// 1-based line number.
    pub line: u64,
    /// The line's bytes without the line terminator.
    pub bytes: &'a [u8],
    /// True for a final line with no terminating newline (possibly cut short).
    pub unterminated: bool,
    /// Byte offset of the line's start in the (decompressed) stream.
    pub start_offset: u64,
}

/// Longest line (bytes, terminator excluded) a record file may hold unless
/// `PREF_MAX_LINE_BYTES` says otherwise: 64 MiB.
pub const DEFAULT_MAX_LINE_BYTES: u64 = 64 << 20;

/// The line-length limit of record files: `$PREF_MAX_LINE_BYTES` when it is set
/// to a positive integer, else [`DEFAULT_MAX_LINE_BYTES`]. A longer line is an
/// error naming its line, read no further than the limit (a 1 GB line in a
/// 5 MB `.gz` is refused, not loaded).
pub fn max_line_bytes() -> Result<u64> {
    match std::env::var("PREF_MAX_LINE_BYTES") {
        Err(_) => Ok(DEFAULT_MAX_LINE_BYTES),
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(Error::Setting(format!(
                "PREF_MAX_LINE_BYTES must be a positive number of bytes, got `{}`",
                quote(&v)
            ))),
        },
    }
}

/// A line-by-line reader that reuses one buffer and skips blank lines.
pub struct LineReader {
    path: PathBuf,
    reader: Box<dyn BufRead + Send>,
    buf: Vec<u8>,
    line: u64,
    offset: u64,
    max_line: u64,
}

impl LineReader {
    /// Opens `path` (gzip when it ends in `.gz`).
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Self {
            path: path.to_path_buf(),
            reader: open_read(path)?,
            buf: Vec::with_capacity(256),
            line: 0,
            offset: 0,
            max_line: max_line_bytes()?,
        })
    }

    /// Sets the line-length limit (bytes, terminator excluded) instead of
    /// [`max_line_bytes`].
    pub fn with_max_line_bytes(mut self, limit: u64) -> Self {
        self.max_line = limit.max(1);
        self
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next non-blank line, or `None` at the end of the file.
    pub fn next_line(&mut self) -> Result<Option<RawLine<'_>>> {
        loop {
            self.buf.clear();
            // At most the limit, a `\r` and the `\n`: a longer line stops here.
            let n = (&mut self.reader)
                .take(self.max_line + 2)
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| Error::io(&self.path, e))?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            let content = self.buf.len()
                - match self.buf.as_slice() {
                    [.., b'\r', b'\n'] => 2,
                    [.., b'\n'] => 1,
                    _ => 0,
                };
            if content as u64 > self.max_line {
                return Err(Error::record(
                    &self.path,
                    self.line,
                    None,
                    format!(
                        "the line is longer than {} bytes, the limit for a record \
                         (PREF_MAX_LINE_BYTES raises it)",
                        self.max_line
                    ),
                ));
            }
            let start_offset = self.offset;
            self.offset += n as u64;
            let unterminated = self.buf.last() != Some(&b'\n');
            let mut end = self.buf.len();
            while end > 0 && matches!(self.buf[end - 1], b'\n' | b'\r') {
                end -= 1;
            }
            if self.buf[..end].iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Ok(Some(RawLine {
                line: self.line,
                bytes: &self.buf[..end],
                unterminated,
                start_offset,
            }));
        }
    }
}

/// Strips serde_json's " at line L column C" suffix (we report our own position)
/// and cuts long quoted values ([`shorten_quotes`]).
fn clean_message(msg: String) -> String {
    let msg = match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => &msg,
    };
    shorten_quotes(msg).into_owned()
}

/// Field name from a serde "missing field `x`" message.
fn missing_field(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("missing field `")?;
    Some(rest[..rest.find('`')?].to_string())
}

/// Deserialises one JSON value from `bytes`, producing a located error on failure.
///
/// `unterminated` marks a final line without newline; if it fails to parse it is
/// reported as a truncated last line.
pub fn parse_value<T: DeserializeOwned>(
    path: &Path,
    line: u64,
    bytes: &[u8],
    unterminated: bool,
) -> Result<T> {
    if let Err(e) = std::str::from_utf8(bytes) {
        if unterminated && e.error_len().is_none() {
            // A last line cut inside a multi-byte character: a killed writer.
            return Err(Error::Truncated {
                at: Location {
                    path: path.to_path_buf(),
                    line,
                    is_row: false,
                },
                message: "the line ends inside a UTF-8 character".into(),
            });
        }
        return Err(Error::record(
            path,
            line,
            None,
            format!("invalid UTF-8 at byte {} of the line", e.valid_up_to() + 1),
        ));
    }
    match serde_json::from_slice::<T>(bytes) {
        Ok(v) => Ok(v),
        Err(first) => {
            if unterminated && (first.is_eof() || first.is_syntax()) {
                return Err(Error::Truncated {
                    at: Location {
                        path: path.to_path_buf(),
                        line,
                        is_row: false,
                    },
                    message: clean_message(first.to_string()),
                });
            }
            Err(located_error::<T>(path, line, bytes, first))
        }
    }
}

/// Re-parses a failing value through serde_path_to_error to name the field.
fn located_error<T: DeserializeOwned>(
    path: &Path,
    line: u64,
    bytes: &[u8],
    first: serde_json::Error,
) -> Error {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Err(e) => {
            let field_path = e.path().to_string();
            let message = clean_message(e.into_inner().to_string());
            if let Err(syntax) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                // The line is not JSON at all: no field to blame.
                let message = clean_message(syntax.to_string());
                return Error::record(path, line, None, format!("invalid JSON: {message}"));
            }
            let field = if field_path == "." || field_path.is_empty() || field_path == "?" {
                missing_field(&message)
            } else {
                // The path may hold a map key from the input.
                Some(quote(&field_path).into_owned())
            };
            Error::record(path, line, field, message)
        }
        // Cannot happen (the same input failed a moment ago), but never panic.
        Ok(_) => Error::record(path, line, None, clean_message(first.to_string())),
    }
}

/// Parses one record and validates it.
pub fn parse_record<T: Record>(
    path: &Path,
    line: u64,
    bytes: &[u8],
    unterminated: bool,
) -> Result<T> {
    let rec: T = parse_value(path, line, bytes, unterminated)?;
    rec.validate()
        .map_err(|fe| Error::record(path, line, Some(fe.field), fe.message))?;
    Ok(rec)
}

/// A streaming iterator over the records of a JSON Lines file.
///
/// Stops after the first error. An empty file is an error unless
/// [`JsonlReader::allow_empty`] was called.
pub struct JsonlReader<T> {
    lines: LineReader,
    seen: u64,
    allow_empty: bool,
    done: bool,
    _t: PhantomData<fn() -> T>,
}

impl<T: Record> JsonlReader<T> {
    /// Opens a `.jsonl` or `.jsonl.gz` file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Ok(Self {
            lines: LineReader::open(path.as_ref())?,
            seen: 0,
            allow_empty: false,
            done: false,
            _t: PhantomData,
        })
    }

    /// Accept a file with no records.
    pub fn allow_empty(mut self) -> Self {
        self.allow_empty = true;
        self
    }

    fn next_record(&mut self) -> Result<Option<T>> {
        let path = self.lines.path.clone();
        match self.lines.next_line()? {
            Some(l) => parse_record(&path, l.line, l.bytes, l.unterminated).map(Some),
            None if self.seen == 0 && !self.allow_empty => Err(Error::Empty {
                path,
                kind: T::KIND,
            }),
            None => Ok(None),
        }
    }
}

impl<T: Record> Iterator for JsonlReader<T> {
    type Item = Result<T>;
    fn next(&mut self) -> Option<Result<T>> {
        if self.done {
            return None;
        }
        match self.next_record() {
            Ok(Some(r)) => {
                self.seen += 1;
                Some(Ok(r))
            }
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Reads every record of a JSON Lines file (gzip when `.gz`).
pub fn read_jsonl<T: Record>(path: impl AsRef<Path>) -> Result<Vec<T>> {
    JsonlReader::open(path)?.collect()
}

/// Parses a JSON array of values, reporting errors at the element's line.
///
/// Each element is returned with the line it starts on. A file that is blank
/// or holds `[]` is an [`Error::Empty`] naming `kind`.
pub fn parse_json_array<T: DeserializeOwned>(
    path: &Path,
    bytes: &[u8],
    kind: &'static str,
) -> Result<Vec<(u64, T)>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::Empty {
            path: path.to_path_buf(),
            kind,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&c| c == b'\n')
            .count() as u64;
        Error::record(path, line, None, "invalid UTF-8")
    })?;
    let raw: Vec<&serde_json::value::RawValue> = serde_json::from_str(text).map_err(|e| {
        let line = e.line() as u64;
        let message = if e.is_eof() {
            format!(
                "truncated JSON (was the writer killed?): {}",
                clean_message(e.to_string())
            )
        } else {
            format!("expected a JSON array: {}", clean_message(e.to_string()))
        };
        Error::record(path, line.max(1), None, message)
    })?;
    let base = text.as_ptr() as usize;
    let mut line = 1u64;
    let mut pos = 0usize;
    let mut out = Vec::with_capacity(raw.len());
    for r in raw {
        let start = r.get().as_ptr() as usize - base;
        line += bytes[pos..start].iter().filter(|&&c| c == b'\n').count() as u64;
        pos = start;
        out.push((line, parse_value(path, line, r.get().as_bytes(), false)?));
    }
    if out.is_empty() {
        return Err(Error::Empty {
            path: path.to_path_buf(),
            kind,
        });
    }
    Ok(out)
}

/// Reads records from a JSON array file (`[{…}, {…}]`), validating each.
pub fn read_json_array<T: Record>(path: impl AsRef<Path>) -> Result<Vec<T>> {
    let path = path.as_ref();
    let bytes = read_all(path)?;
    let items: Vec<(u64, T)> = parse_json_array(path, &bytes, T::KIND)?;
    items
        .into_iter()
        .map(|(line, rec)| {
            rec.validate()
                .map_err(|fe| Error::record(path, line, Some(fe.field), fe.message))?;
            Ok(rec)
        })
        .collect()
}

enum Sink {
    Plain(BufWriter<File>),
    Gzip(Box<GzEncoder<BufWriter<File>>>),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Gzip(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Gzip(w) => w.flush(),
        }
    }
}

/// Writes records as JSON Lines, gzip-compressed when the path ends in `.gz`.
///
/// Call [`JsonlWriter::finish`] to flush (and end the gzip stream).
pub struct JsonlWriter {
    path: PathBuf,
    sink: Sink,
    line: Vec<u8>,
}

impl JsonlWriter {
    /// Creates (truncates) `path`.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        let buf = BufWriter::with_capacity(1 << 17, file);
        let sink = if is_gzip(&path) {
            Sink::Gzip(Box::new(GzEncoder::new(buf, flate2::Compression::fast())))
        } else {
            Sink::Plain(buf)
        };
        Ok(Self {
            path,
            sink,
            line: Vec::with_capacity(256),
        })
    }

    /// Appends one value as a line.
    pub fn write<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, value)
            .map_err(|e| Error::format(&self.path, format!("cannot serialise record: {e}")))?;
        self.line.push(b'\n');
        self.sink
            .write_all(&self.line)
            .map_err(|e| Error::io(&self.path, e))
    }

    /// Flushes everything and closes the file (syncing it to disk).
    pub fn finish(self) -> Result<()> {
        let path = self.path;
        let file = match self.sink {
            Sink::Plain(w) => w
                .into_inner()
                .map_err(|e| Error::io(&path, e.into_error()))?,
            Sink::Gzip(g) => g
                .finish()
                .map_err(|e| Error::io(&path, e))?
                .into_inner()
                .map_err(|e| Error::io(&path, e.into_error()))?,
        };
        file.sync_all().map_err(|e| Error::io(&path, e))
    }
}

/// Writes records to a JSON Lines file (gzip when `.gz`).
pub fn write_jsonl<'a, T: Serialize + 'a>(
    path: impl AsRef<Path>,
    records: impl IntoIterator<Item = &'a T>,
) -> Result<()> {
    let mut w = JsonlWriter::create(path)?;
    for r in records {
        w.write(r)?;
    }
    w.finish()
}
