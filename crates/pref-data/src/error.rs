//! The error type of pref-data: every message names the file, and for
//! line-oriented formats the line and field, as `path:line: field: what is wrong`.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

/// Characters of an input value an error message quotes whole; a longer value
/// is cut here (see [`quote`]).
pub const QUOTE_MAX_CHARS: usize = 80;

/// An input value as an error message quotes it: whole when it has at most
/// [`QUOTE_MAX_CHARS`] characters, else its first 80 characters, `…` and its
/// length, as in `aaaa… (200000000 bytes)`. Every message of pref-data (and of
/// the crates and the `pref` command above it) that quotes a value from the
/// input goes through this, so a 200 MB field is never echoed whole.
pub fn quote(value: &str) -> Cow<'_, str> {
    match value.char_indices().nth(QUOTE_MAX_CHARS) {
        None => Cow::Borrowed(value),
        Some((cut, _)) => Cow::Owned(format!("{}… ({} bytes)", &value[..cut], value.len())),
    }
}

/// A message written by another library (serde, csv, arrow) with every span
/// between backticks or double quotes passed through [`quote`]: serde's
/// `invalid type: string "…"` and `unknown variant `…`` quote the whole input
/// value. A double-quoted span may hold `\"` escapes; an unclosed span runs to
/// the end of the message.
pub fn shorten_quotes(message: &str) -> Cow<'_, str> {
    if message.len() <= QUOTE_MAX_CHARS {
        return Cow::Borrowed(message);
    }
    let bytes = message.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    let mut changed = false;
    while i < bytes.len() {
        let delim = bytes[i];
        if delim != b'`' && delim != b'"' {
            i += 1;
            continue;
        }
        let start = i + 1;
        let mut end = start;
        while end < bytes.len() && bytes[end] != delim {
            end += if delim == b'"' && bytes[end] == b'\\' {
                2
            } else {
                1
            };
        }
        let end = end.min(bytes.len());
        // Delimiters are ASCII, so `start` and `end` are character boundaries.
        let span = &message[start..end];
        if let Cow::Owned(cut) = quote(span) {
            out.push_str(&message[copied..start]);
            out.push_str(&cut);
            copied = end;
            changed = true;
        }
        i = end + 1;
    }
    if !changed {
        return Cow::Borrowed(message);
    }
    out.push_str(&message[copied..]);
    Cow::Owned(out)
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where in a file something went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub path: PathBuf,
    /// 1-based line (JSON Lines, JSON) or row (Parquet); 0 when unknown.
    pub line: u64,
    /// True when `line` counts table rows (Parquet) rather than text lines.
    pub is_row: bool,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_row {
            write!(f, "{}: row {}", self.path.display(), self.line)
        } else if self.line > 0 {
            write!(f, "{}:{}", self.path.display(), self.line)
        } else {
            write!(f, "{}", self.path.display())
        }
    }
}

fn field_prefix(field: &Option<String>) -> String {
    match field {
        Some(f) => format!("{f}: "),
        None => String::new(),
    }
}

/// Errors of pref-data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be opened, read or written. The message is the path;
    /// the I/O error is the [`source`](std::error::Error::source), so a printer of
    /// the chain (`anyhow`'s `{:#}`) shows it once: `path: No such file or directory`.
    #[error("{}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// One record (line, row, array element) is malformed.
    #[error("{at}: {}{message}", field_prefix(field))]
    Record {
        /// Where.
        at: Location,
        /// The offending field, when known.
        field: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// The last line has no newline and does not parse: the writer was probably killed.
    #[error("{at}: truncated last line (no newline at end and it does not parse; was the writer killed?): {message}")]
    Truncated {
        /// Where.
        at: Location,
        /// The parser's complaint.
        message: String,
    },
    /// The file holds no records.
    #[error("{}:1: empty file: expected at least one {kind} record", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
        /// Record kind.
        kind: &'static str,
    },
    /// A setting of the readers (an environment variable) is invalid; the
    /// message names it.
    #[error("{0}")]
    Setting(String),
    /// A whole-file format problem (Parquet schema, .npy header, unknown extension, …).
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn record(
        path: &Path,
        line: u64,
        field: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::Record {
            at: Location {
                path: path.to_path_buf(),
                line,
                is_row: false,
            },
            field,
            message: message.into(),
        }
    }

    #[cfg_attr(not(feature = "parquet"), allow(dead_code))]
    pub(crate) fn row(
        path: &Path,
        row: u64,
        field: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::Record {
            at: Location {
                path: path.to_path_buf(),
                line: row,
                is_row: true,
            },
            field,
            message: message.into(),
        }
    }

    pub(crate) fn format(path: &Path, message: impl Into<String>) -> Self {
        Error::Format {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    /// The line (or row) the error refers to, if any.
    pub fn line(&self) -> Option<u64> {
        match self {
            Error::Record { at, .. } | Error::Truncated { at, .. } => Some(at.line),
            Error::Empty { .. } => Some(1),
            _ => None,
        }
    }
}
