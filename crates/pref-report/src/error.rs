//! The error type of pref-report.

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of pref-report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed, or an input file is malformed
    /// (the message names the file, and the line where one is known).
    #[error(transparent)]
    Data(#[from] pref_data::Error),
    /// The data given to a chart or table cannot be drawn (NaN, empty, shapes that disagree).
    #[error("{what} `{title}`: {message}")]
    InvalidInput {
        /// Kind of output ("error-bar chart", "heatmap", "table", …).
        what: &'static str,
        /// Its title, to find it among many.
        title: String,
        /// What is wrong.
        message: String,
    },
    /// The embedded font could not be registered with plotters.
    #[error("font: {0}")]
    Font(String),
    /// plotters failed while drawing.
    #[error("drawing `{title}`: {message}")]
    Draw {
        /// Title of the chart being drawn.
        title: String,
        /// plotters' message.
        message: String,
    },
    /// Encoding the PNG failed.
    #[error("encoding PNG of `{title}`: {message}")]
    Png {
        /// Title of the chart.
        title: String,
        /// The encoder's message.
        message: String,
    },
}

impl Error {
    pub(crate) fn input(what: &'static str, title: &str, message: impl Into<String>) -> Self {
        Error::InvalidInput {
            what,
            title: title.to_string(),
            message: message.into(),
        }
    }
}
