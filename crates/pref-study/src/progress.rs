//! The progress bar every study binary shows for long work.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `n` steps labelled `what`, drawn on stderr and hidden when stderr is
/// not a terminal (indicatif's default target), so logs and CI output stay clean.
pub fn progress(n: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(n);
    bar.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} ({eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}
