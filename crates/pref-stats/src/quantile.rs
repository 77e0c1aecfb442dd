//! Quantiles and percentiles: one convention, numpy's default.
//!
//! `numpy.quantile(v, q)` / `numpy.percentile(v, 100·q)` with `method="linear"`
//! (Hyndman & Fan type 7): with the `n` values sorted ascending as `v₀ ≤ … ≤ vₙ₋₁`,
//! the position is `h = (n − 1)·q`, `lo = ⌊h⌋`, `t = h − lo`, and the quantile is the
//! interpolation between `v_lo` and `v_lo+1` evaluated as numpy's `_lerp` evaluates it
//! (`a + t(b − a)` for `t < ½`, `b − (1 − t)(b − a)` for `t ≥ ½`), so results agree
//! with numpy to the last bit, not only to rounding. A percentile `p` is the quantile
//! `p / 100`, divided first as numpy divides it.
//!
//! Undefined cases give NaN instead of an error, so interval code stays a chain of
//! plain numbers: no values, a NaN among the values (numpy propagates it), or a NaN
//! `q`. A `q` outside `[0, 1]` (a percentile outside `[0, 100]`) is clamped into it;
//! numpy raises there.

/// The `q`-quantile (`q` in `[0, 1]`) of values sorted ascending (by
/// [`f64::total_cmp`], which puts NaNs at the ends, where they are seen); numpy's
/// `quantile(v, q)`.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 0 || q.is_nan() || sorted[0].is_nan() || sorted[n - 1].is_nan() {
        return f64::NAN;
    }
    let (lo, t) = position(n, q);
    lerp(sorted[lo], sorted[(lo + 1).min(n - 1)], t)
}

/// The `p`-th percentile (`p` in `[0, 100]`) of values sorted ascending; numpy's
/// `percentile(v, p)`.
pub fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    quantile_sorted(sorted, p / 100.0)
}

/// The `p`-th percentile of values in any order, equal to [`percentile_sorted`] of
/// the sorted values; selects the two order statistics it needs in O(n) instead of
/// sorting. `scratch` is reused storage (its contents are overwritten).
pub fn percentile(values: &[f64], p: f64, scratch: &mut Vec<f64>) -> f64 {
    let q = p / 100.0;
    let n = values.len();
    if n == 0 || q.is_nan() || values.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    scratch.clear();
    scratch.extend_from_slice(values);
    let (lo, t) = position(n, q);
    let (_, &mut a, upper) = scratch.select_nth_unstable_by(lo, f64::total_cmp);
    // The next order statistic is the smallest value after position `lo` (the last
    // value is its own successor, as numpy clamps the index).
    let b = upper.iter().copied().reduce(f64::min).unwrap_or(a);
    lerp(a, b, t)
}

/// The percentiles (in %) bounding a central interval at `level` (in (0, 1)):
/// 2.5 and 97.5 for 0.95, computed as `(100 − 100·level)/2` so that they are
/// exactly those.
pub fn central_percentiles(level: f64) -> (f64, f64) {
    let lo = (100.0 - 100.0 * level) / 2.0;
    (lo, 100.0 - lo)
}

/// The central percentile interval at `level` of values in any order: numpy's
/// `percentile(v, [2.5, 97.5])` for 0.95 ([`central_percentiles`]); NaN bounds
/// when [`percentile`] is undefined.
pub fn percentile_interval(values: &[f64], level: f64, scratch: &mut Vec<f64>) -> [f64; 2] {
    let (lo, hi) = central_percentiles(level);
    [
        percentile(values, lo, scratch),
        percentile(values, hi, scratch),
    ]
}

/// Index of the lower order statistic and the interpolation weight for quantile `q`
/// of `n ≥ 1` values: `h = (n − 1)·q`, as numpy's `linear` method.
fn position(n: usize, q: f64) -> (usize, f64) {
    let h = (n - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor();
    ((lo as usize).min(n - 1), h - lo)
}

/// numpy's `_lerp(a, b, t)`: evaluated from the upper end when `t ≥ ½`.
fn lerp(a: f64, b: f64, t: f64) -> f64 {
    let diff = b - a;
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}
