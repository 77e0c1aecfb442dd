//! Number and label formatting shared by the charts and the markdown tables.

/// Formats `x` with `digits` significant digits (at least 1).
///
/// Plain decimal notation for `1e-4 ≤ |x| < 1e6`, scientific (`1.23e-5`)
/// outside it. Integers that need more digits than asked are printed whole
/// (`123456` with 3 digits stays `123456`, never `123000`). `NaN`, `inf` and
/// `-inf` print as such.
///
/// ```
/// use pref_report::fmt_sig;
/// assert_eq!(fmt_sig(0.0012345, 3), "0.00123");
/// assert_eq!(fmt_sig(9.996, 3), "10.0");
/// assert_eq!(fmt_sig(-1234.56, 3), "-1235");
/// assert_eq!(fmt_sig(2.5e-7, 2), "2.5e-7");
/// ```
pub fn fmt_sig(x: f64, digits: usize) -> String {
    let digits = digits.max(1);
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return "0".into();
    }
    // Round in scientific notation first: the exponent after rounding decides
    // the decimals (9.996 → 1.00e1 → "10.0", not "10.00").
    let sci = format!("{:.*e}", digits - 1, x);
    let exp: i32 = sci
        .rsplit_once('e')
        .and_then(|(_, e)| e.parse().ok())
        .unwrap_or(0);
    if !(-4..6).contains(&exp) {
        return sci;
    }
    let decimals = (digits as i32 - 1 - exp).max(0) as usize;
    format!("{x:.decimals$}")
}

/// Axis tick label: up to 4 significant digits with trailing zeros removed;
/// values within `1e-9 × span` of zero print as `0`.
pub(crate) fn fmt_tick(x: f64, span: f64) -> String {
    if x.abs() <= 1e-9 * span.abs() {
        return "0".into();
    }
    let s = fmt_sig(x, 4);
    if s.contains('e') || !s.contains('.') {
        return s;
    }
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Makes a label safe to draw on one line: control characters become spaces,
/// and a label longer than `max_chars` characters is cut with `…`.
///
/// ```
/// use pref_report::truncate_label;
/// assert_eq!(truncate_label("a very long task name", 10), "a very lo…");
/// assert_eq!(truncate_label("line\nbreak", 20), "line break");
/// ```
pub fn truncate_label(label: &str, max_chars: usize) -> String {
    let clean: String = label
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let clean = clean.trim();
    let n = clean.chars().count();
    if n <= max_chars.max(1) {
        return clean.to_string();
    }
    let keep = max_chars.max(1) - 1;
    let mut out: String = clean.chars().take(keep).collect();
    out.truncate(out.trim_end().len());
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sig_digits() {
        assert_eq!(fmt_sig(0.0, 3), "0");
        assert_eq!(fmt_sig(1.0, 3), "1.00");
        assert_eq!(fmt_sig(0.1234567, 3), "0.123");
        assert_eq!(fmt_sig(-0.1235, 2), "-0.12");
        assert_eq!(fmt_sig(99.95, 3), "100");
        assert_eq!(fmt_sig(999_999.0, 3), "1.00e6");
        assert_eq!(fmt_sig(123_456.0, 3), "123456");
        assert_eq!(fmt_sig(0.00012, 2), "0.00012");
        assert_eq!(fmt_sig(0.000012, 2), "1.2e-5");
        assert_eq!(fmt_sig(f64::NAN, 3), "NaN");
        assert_eq!(fmt_sig(f64::NEG_INFINITY, 3), "-inf");
    }

    #[test]
    fn ticks() {
        assert_eq!(fmt_tick(0.30000000000000004, 1.0), "0.3");
        assert_eq!(fmt_tick(1.1e-17, 1.0), "0");
        assert_eq!(fmt_tick(2.0, 10.0), "2");
        assert_eq!(fmt_tick(1500.0, 1000.0), "1500");
    }

    #[test]
    fn truncation() {
        assert_eq!(truncate_label("short", 10), "short");
        assert_eq!(truncate_label("exactly10!", 10), "exactly10!");
        assert_eq!(truncate_label("ééééééééééé", 5), "éééé…");
        assert_eq!(truncate_label("ab cd", 4), "ab…");
    }
}
