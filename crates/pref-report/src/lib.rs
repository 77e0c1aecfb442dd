#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod error;
pub mod errorbar;
pub mod font;
pub mod format;
pub mod heatmap;
pub mod html;
pub mod line;
pub mod markdown;
mod render;
pub mod scatter;

pub use error::{Error, Result};
pub use errorbar::ErrorBarChart;
pub use format::{fmt_sig, truncate_label};
pub use heatmap::{ColorScale, Heatmap};
pub use html::{escape_html, index_html, markdown_to_html, write_index};
pub use line::{LineChart, Series};
pub use markdown::{Cell, Report, Table};
pub use render::{Chart, Rendered};
pub use scatter::{ols_line, OlsLine, Scatter};
