//! The embedded font. plotters is built without font-kit/fontconfig, so text
//! never depends on the fonts installed on a machine: DejaVu Sans (regular and
//! bold, from Debian's `fonts-dejavu-core` 2.37, licence in
//! `assets/DejaVu-LICENSE.txt`) is compiled into the crate and registered with
//! plotters' `ab_glyph` text renderer as the `sans-serif` family.

use std::sync::OnceLock;

use plotters::style::{register_font, FontStyle};

use crate::error::{Error, Result};

/// DejaVu Sans, regular.
pub static DEJAVU_SANS: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
/// DejaVu Sans, bold.
pub static DEJAVU_SANS_BOLD: &[u8] = include_bytes!("../assets/DejaVuSans-Bold.ttf");

/// The font family name every chart uses (registered by [`ensure_fonts`]).
pub const FAMILY: &str = "sans-serif";

static REGISTERED: OnceLock<std::result::Result<(), String>> = OnceLock::new();

/// Registers the embedded fonts with plotters (once per process; later calls are free).
/// Every render calls it, so users never need to.
pub fn ensure_fonts() -> Result<()> {
    REGISTERED
        .get_or_init(|| {
            register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS)
                .map_err(|_| "embedded DejaVuSans.ttf is not a valid font".to_string())?;
            register_font(FAMILY, FontStyle::Bold, DEJAVU_SANS_BOLD)
                .map_err(|_| "embedded DejaVuSans-Bold.ttf is not a valid font".to_string())?;
            Ok(())
        })
        .clone()
        .map_err(Error::Font)
}
