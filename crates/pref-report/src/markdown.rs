//! A small markdown report builder: headings, paragraphs, tables with
//! right-aligned numbers at a fixed number of significant digits, image links
//! relative to the report, and warning blocks.

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};
use crate::format::fmt_sig;

/// One table cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text, left-aligned (`|` is escaped, line breaks become spaces).
    Text(String),
    /// An integer, printed exactly, right-aligned.
    Int(i64),
    /// A number, printed with the table's significant digits, right-aligned.
    Num(f64),
    /// Nothing (does not affect the column's alignment).
    Empty,
}

impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Cell::Text(s.to_string())
    }
}
impl From<String> for Cell {
    fn from(s: String) -> Self {
        Cell::Text(s)
    }
}
impl From<&String> for Cell {
    fn from(s: &String) -> Self {
        Cell::Text(s.clone())
    }
}
impl From<f64> for Cell {
    fn from(x: f64) -> Self {
        Cell::Num(x)
    }
}
impl From<f32> for Cell {
    fn from(x: f32) -> Self {
        Cell::Num(x as f64)
    }
}
impl From<i64> for Cell {
    fn from(x: i64) -> Self {
        Cell::Int(x)
    }
}
impl From<i32> for Cell {
    fn from(x: i32) -> Self {
        Cell::Int(x as i64)
    }
}
impl From<u32> for Cell {
    fn from(x: u32) -> Self {
        Cell::Int(x as i64)
    }
}
impl From<usize> for Cell {
    fn from(x: usize) -> Self {
        Cell::Int(x as i64)
    }
}
impl From<u64> for Cell {
    fn from(x: u64) -> Self {
        Cell::Int(x as i64)
    }
}
impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(x: Option<T>) -> Self {
        x.map_or(Cell::Empty, Into::into)
    }
}

/// Builds a `Vec<Cell>` from mixed values: `cells!["gpt", 0.5, 12]`.
#[macro_export]
macro_rules! cells {
    ($($x:expr),* $(,)?) => {
        vec![$($crate::Cell::from($x)),*]
    };
}

/// A markdown table. Columns whose cells are all numbers are right-aligned;
/// numbers have `digits` significant digits (default 3).
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Column headers.
    pub header: Vec<String>,
    /// Rows; each must have one cell per header.
    pub rows: Vec<Vec<Cell>>,
    /// Significant digits of [`Cell::Num`] (default 3).
    pub digits: usize,
}

fn escape_cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

impl Table {
    /// An empty table with these headers.
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Self {
        Self {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
            digits: 3,
        }
    }

    /// Sets the significant digits of numbers.
    pub fn digits(mut self, digits: usize) -> Self {
        self.digits = digits.max(1);
        self
    }

    /// Appends a row (checked when the table is rendered).
    pub fn row(&mut self, cells: Vec<Cell>) -> &mut Self {
        self.rows.push(cells);
        self
    }

    /// The table as GitHub-flavoured markdown (columns padded to equal width,
    /// ending in a newline). Errors when the table has no columns or a row
    /// has the wrong number of cells.
    pub fn to_markdown(&self) -> Result<String> {
        let ncol = self.header.len();
        let title = self.header.join(", ");
        if ncol == 0 {
            return Err(Error::input("table", &title, "no columns"));
        }
        for (i, r) in self.rows.iter().enumerate() {
            if r.len() != ncol {
                return Err(Error::input(
                    "table",
                    &title,
                    format!("row {i} has {} cells, expected {ncol}", r.len()),
                ));
            }
        }
        let text: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                r.iter()
                    .map(|c| match c {
                        Cell::Text(s) => escape_cell(s),
                        Cell::Int(x) => x.to_string(),
                        Cell::Num(x) => fmt_sig(*x, self.digits),
                        Cell::Empty => String::new(),
                    })
                    .collect()
            })
            .collect();
        let header: Vec<String> = self.header.iter().map(|h| escape_cell(h)).collect();
        let right: Vec<bool> = (0..ncol)
            .map(|j| {
                let mut any = false;
                for r in &self.rows {
                    match r[j] {
                        Cell::Int(_) | Cell::Num(_) => any = true,
                        Cell::Empty => {}
                        Cell::Text(_) => return false,
                    }
                }
                any
            })
            .collect();
        let width: Vec<usize> = (0..ncol)
            .map(|j| {
                text.iter()
                    .map(|r| r[j].chars().count())
                    .chain([header[j].chars().count(), 3])
                    .max()
                    .unwrap_or(3)
            })
            .collect();
        let line = |cells: &[String]| {
            let mut s = String::from("|");
            for (j, c) in cells.iter().enumerate() {
                let pad = " ".repeat(width[j] - c.chars().count());
                if right[j] {
                    s += &format!(" {pad}{c} |");
                } else {
                    s += &format!(" {c}{pad} |");
                }
            }
            s.push('\n');
            s
        };
        let mut out = line(&header);
        out.push('|');
        for j in 0..ncol {
            let dashes = "-".repeat(width[j] - 1);
            if right[j] {
                out += &format!(" {dashes}: |");
            } else {
                out += &format!(" :{dashes} |");
            }
        }
        out.push('\n');
        for r in &text {
            out += &line(r);
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Block {
    Markdown(String),
    Image { alt: String, path: PathBuf },
}

/// A markdown report, built block by block and written atomically.
///
/// ```
/// use pref_report::{cells, Report, Table};
/// let mut t = Table::new(["model", "utility", "n"]);
/// t.row(cells!["a", 0.12345, 10]).row(cells!["b", -1.5, 7]);
/// let mut r = Report::new("Utilities");
/// r.paragraph("Fitted by MLE.").table(&t).unwrap();
/// r.not_reliable("only 17 comparisons");
/// let md = r.to_markdown(std::path::Path::new("runs/x"));
/// assert!(md.contains("| a     |   0.123 |  10 |"));
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    blocks: Vec<Block>,
}

impl Report {
    /// A report starting with a level-1 heading.
    pub fn new(title: &str) -> Self {
        let mut r = Self::default();
        r.heading(1, title);
        r
    }

    /// A heading of `level` 1–6 (clamped).
    pub fn heading(&mut self, level: usize, text: &str) -> &mut Self {
        let hashes = "#".repeat(level.clamp(1, 6));
        let text = text.replace(['\n', '\r'], " ");
        self.blocks
            .push(Block::Markdown(format!("{hashes} {text}\n")));
        self
    }

    /// A paragraph of markdown text (written as given).
    pub fn paragraph(&mut self, text: &str) -> &mut Self {
        self.blocks
            .push(Block::Markdown(format!("{}\n", text.trim_end())));
        self
    }

    /// A bulleted list.
    pub fn bullets<S: AsRef<str>>(&mut self, items: impl IntoIterator<Item = S>) -> &mut Self {
        let mut s = String::new();
        for it in items {
            s += &format!("- {}\n", it.as_ref().replace('\n', " "));
        }
        self.blocks.push(Block::Markdown(s));
        self
    }

    /// A table (see [`Table::to_markdown`] for when this fails).
    pub fn table(&mut self, table: &Table) -> Result<&mut Self> {
        self.blocks.push(Block::Markdown(table.to_markdown()?));
        Ok(self)
    }

    /// A fenced code block (e.g. a command line or a config excerpt).
    pub fn code(&mut self, lang: &str, text: &str) -> &mut Self {
        // A fence longer than any backtick run inside the text.
        let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
        let fence = "`".repeat(longest.max(2) + 1);
        self.blocks.push(Block::Markdown(format!(
            "{fence}{lang}\n{}\n{fence}\n",
            text.trim_end()
        )));
        self
    }

    /// An image. `path` is where the image is (absolute, or relative to the
    /// current directory); the link is written relative to the report's
    /// directory when the image is inside it (e.g. `plots/utilities.png`).
    pub fn image(&mut self, alt: &str, path: impl AsRef<Path>) -> &mut Self {
        self.blocks.push(Block::Image {
            alt: alt.to_string(),
            path: path.as_ref().to_path_buf(),
        });
        self
    }

    /// A warning block (GitHub's `> [!WARNING]` alert; a plain quote elsewhere).
    pub fn warning(&mut self, text: &str) -> &mut Self {
        let mut s = String::from("> [!WARNING]\n");
        for l in text.trim_end().lines() {
            s += &format!("> {l}\n");
        }
        self.blocks.push(Block::Markdown(s));
        self
    }

    /// A warning that a result is not reliable, with the reason
    /// (e.g. "effective sample size 4% < 10%").
    pub fn not_reliable(&mut self, reason: &str) -> &mut Self {
        self.warning(&format!("**Not reliable:** {reason}"))
    }

    /// The report as markdown, image links made relative to `report_dir`.
    pub fn to_markdown(&self, report_dir: &Path) -> String {
        let mut out = String::new();
        for (i, b) in self.blocks.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            match b {
                Block::Markdown(s) => out += s,
                Block::Image { alt, path } => {
                    let alt = alt
                        .replace('[', "\\[")
                        .replace(']', "\\]")
                        .replace('\n', " ");
                    let rel = relative_to(path, report_dir);
                    out += &format!("![{alt}]({})\n", url_path(&rel));
                }
            }
        }
        out
    }

    /// Writes the report to `path` (e.g. `<run>/report.md`) atomically.
    pub fn write(&self, path: &Path) -> Result<PathBuf> {
        let dir = path.parent().unwrap_or(Path::new(""));
        pref_data::write_atomic(path, self.to_markdown(dir).as_bytes())?;
        Ok(path.to_path_buf())
    }
}

/// `path` relative to `dir` when it lies inside it (compared component-wise,
/// after making both absolute against the current directory); otherwise `path` as given.
fn relative_to(path: &Path, dir: &Path) -> PathBuf {
    let abs = |p: &Path| -> PathBuf {
        let p = if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir().unwrap_or_default().join(p)
        };
        // Lexical normalisation of `.` (no symlink resolution: the files may not exist yet).
        p.components().filter(|c| *c != Component::CurDir).collect()
    };
    match abs(path).strip_prefix(abs(dir)) {
        Ok(rel) => rel.to_path_buf(),
        Err(_) => path.to_path_buf(),
    }
}

/// A path as a URL path: `/` separators, and every byte outside the unreserved
/// set (`A–Z a–z 0–9 - . _ ~`) percent-encoded.
pub(crate) fn url_path(path: &Path) -> String {
    let parts: Vec<String> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let joined = parts.join("/");
    let joined = joined
        .strip_prefix("//")
        .map(|s| format!("/{s}"))
        .unwrap_or(joined);
    let mut out = String::with_capacity(joined.len());
    for b in joined.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out += &format!("%{b:02X}");
        }
    }
    out
}
