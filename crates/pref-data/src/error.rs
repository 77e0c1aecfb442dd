//! The error type of pref-data: every message names the file, and for
//! line-oriented formats the line and field, as `path:line: field: what is wrong`.

use std::fmt;
use std::path::{Path, PathBuf};

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
