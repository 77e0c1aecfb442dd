//! The OLS line against numpy.polyfit and an exact rational computation.

use pref_report::{ols_line, Chart, Scatter};

/// Reference (numpy 1.x/2.x):
/// ```python
/// import numpy as np
/// x = np.array([0.3, 1.1, 2.4, 3.0, 4.7, 5.2, 6.9, 8.1])
/// y = np.array([1.2, 1.9, 3.1, 3.2, 5.9, 5.1, 7.7, 8.4])
/// b, a = np.polyfit(x, y, 1)          # 0.952271597338952, 0.7891237955444013
/// r = np.corrcoef(x, y)[0, 1]         # 0.9881046790266973
/// ```
#[test]
fn matches_numpy_polyfit() {
    let x = [0.3, 1.1, 2.4, 3.0, 4.7, 5.2, 6.9, 8.1];
    let y = [1.2, 1.9, 3.1, 3.2, 5.9, 5.1, 7.7, 8.4];
    let pts: Vec<(f64, f64)> = x.into_iter().zip(y).collect();
    let f = ols_line(&pts).unwrap();
    assert!((f.slope - 0.952271597338952).abs() < 1e-12, "{}", f.slope);
    assert!(
        (f.intercept - 0.7891237955444013).abs() < 1e-12,
        "{}",
        f.intercept
    );
    assert!((f.r - 0.9881046790266973).abs() < 1e-12, "{}", f.r);
    assert_eq!(f.n, 8);
    // The chart uses the same fit and shows it in the legend.
    let mut s = Scatter::new("t", "x", "y", pts);
    s.fit_line = true;
    assert_eq!(s.fit().unwrap(), f);
    assert!(s
        .to_svg()
        .unwrap()
        .contains("OLS: y = 0.952·x + 0.789 (r = 0.988, n = 8)"));
}

/// Badly conditioned x (around 1e6): the centred formula stays exact where
/// polyfit loses ~2e-10 relative (it gives slope 0.9885714287502286).
/// Exact reference with rationals:
/// ```python
/// from fractions import Fraction as F
/// xs = [F(10**6) + F(k, 2) for k in range(6)]
/// ys = [F(s) for s in ['2.0', '2.6', '2.9', '3.7', '4.1', '4.4']]
/// n = len(xs); mx = sum(xs) / n; my = sum(ys) / n
/// sxx = sum((x - mx)**2 for x in xs); sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
/// b = sxy / sxx; a = my - b * mx   # 0.9885714285714285, -988569.380952381
/// import numpy as np; np.corrcoef([float(v) for v in xs], [float(v) for v in ys])[0, 1]
/// # 0.9915980607693059
/// ```
#[test]
fn stable_for_large_offsets() {
    let y = [2.0, 2.6, 2.9, 3.7, 4.1, 4.4];
    let pts: Vec<(f64, f64)> = (0..6).map(|k| (1e6 + 0.5 * k as f64, y[k])).collect();
    let f = ols_line(&pts).unwrap();
    assert!((f.slope - 0.9885714285714285).abs() < 1e-12, "{}", f.slope);
    assert!(
        (f.intercept - -988569.380952381).abs() < 1e-6,
        "{}",
        f.intercept
    );
    assert!((f.r - 0.9915980607693059).abs() < 1e-12, "{}", f.r);
}

#[test]
fn degenerate_inputs() {
    assert!(ols_line(&[(1.0, 2.0)]).is_err());
    assert!(ols_line(&[(1.0, 2.0), (1.0, 3.0)]).is_err());
    assert!(ols_line(&[(0.0, f64::NAN), (1.0, 3.0)]).is_err());
    // Constant y: slope 0, correlation undefined.
    let f = ols_line(&[(0.0, 2.0), (1.0, 2.0), (3.0, 2.0)]).unwrap();
    assert_eq!((f.slope, f.intercept), (0.0, 2.0));
    assert!(f.r.is_nan());
    assert!(f.describe().contains("r = undefined"));
}
