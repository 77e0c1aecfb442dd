//! The standard normal CDF and its logarithm, accurate in both tails.
//!
//! The Thurstonian likelihood needs, for every pair and every objective
//! evaluation, `log Φ(z)`, `log Φ(−z)` and the inverse Mills ratios
//! `φ(z)/Φ(z)`, `φ(z)/Φ(−z)`. Computing `Φ` first and taking its logarithm
//! loses everything beyond |z| ≈ 8 (Φ(−z) underflows at z ≈ 38 and `1 − Φ`
//! cancels much earlier). Here all four come from one evaluation of the
//! *scaled* complementary error function `erfcx(x) = exp(x²)·erfc(x)`:
//!
//! ```text
//! q = Φ(−|z|) = ½·exp(−x²)·erfcx(x),      x = |z|/√2
//! log q       = −x² + ln erfcx(x) − ln 2  (finite for every finite z)
//! φ(z)/q      = √(2/π) / erfcx(x)         (no exp at all)
//! ```
//!
//! and the large side from `log(1 − q) = ln_1p(−q)`.
//!
//! Hand-written because no maintained crate offers `erfcx` (statrs and libm
//! stop at `erfc`, which underflows in exactly the regime that matters) and
//! because fusing the four quantities into one rational evaluation plus three
//! elementary functions is what makes the fit fast. The rational
//! approximations are W. J. Cody's, "Rational Chebyshev approximations for the
//! error function", Math. Comp. 23 (1969) 631–637, coefficients as published in
//! his SPECFUN routine CALERF (relative error below 1e-15 in double precision).
//! The tests compare against 50-digit mpmath values at points in all three ranges.

// Published digits kept as they are (more than f64 holds).
#![allow(clippy::excessive_precision)]

const FRAC_1_SQRT_PI: f64 = 0.564_189_583_547_756_3;
const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;

// erf(x) = x·A(x²)/B(x²) on |x| ≤ 0.46875.
const A: [f64; 5] = [
    3.16112374387056560e0,
    1.13864154151050156e2,
    3.77485237685302021e2,
    3.20937758913846947e3,
    1.85777706184603153e-1,
];
const B: [f64; 4] = [
    2.36012909523441209e1,
    2.44024637934444173e2,
    1.28261652607737228e3,
    2.84423683343917062e3,
];
// erfcx(x) = C(x)/D(x) on 0.46875 < x ≤ 4.
const C: [f64; 9] = [
    5.64188496988670089e-1,
    8.88314979438837594e0,
    6.61191906371416295e1,
    2.98635138197400131e2,
    8.81952221241769090e2,
    1.71204761263407058e3,
    2.05107837782607147e3,
    1.23033935479799725e3,
    2.15311535474403846e-8,
];
const D: [f64; 8] = [
    1.57449261107098347e1,
    1.17693950891312499e2,
    5.37181101862009858e2,
    1.62138957456669019e3,
    3.29079923573345963e3,
    4.36261909014324716e3,
    3.43936767414372164e3,
    1.23033935480374942e3,
];
// erfcx(x) = (1/√π − P(1/x²)/Q(1/x²)/x²)/x on x > 4.
const P: [f64; 6] = [
    3.05326634961232344e-1,
    3.60344899949804439e-1,
    1.25781726111229246e-1,
    1.60837851487422766e-2,
    6.58749161529837803e-4,
    1.63153871373020978e-2,
];
const Q: [f64; 5] = [
    2.56852019228982242e0,
    1.87295284992346047e0,
    5.27905102951428412e-1,
    6.05183413124413191e-2,
    2.33520497626869185e-3,
];

const SMALL: f64 = 0.468_75;

/// erf(x) for |x| ≤ 0.46875.
#[inline(always)]
fn erf_small(x: f64) -> f64 {
    let y = x * x;
    let mut num = A[4] * y;
    let mut den = y;
    for i in 0..3 {
        num = (num + A[i]) * y;
        den = (den + B[i]) * y;
    }
    x * (num + A[3]) / (den + B[3])
}

/// erfcx(x) for 0.46875 < x ≤ 4.
#[inline(always)]
fn erfcx_mid(x: f64) -> f64 {
    let mut num = C[8] * x;
    let mut den = x;
    for i in 0..7 {
        num = (num + C[i]) * x;
        den = (den + D[i]) * x;
    }
    (num + C[7]) / (den + D[7])
}

/// erfcx(x) for x > 4.
#[inline(always)]
fn erfcx_large(x: f64) -> f64 {
    let y = 1.0 / (x * x);
    let mut num = P[5] * y;
    let mut den = y;
    for i in 0..4 {
        num = (num + P[i]) * y;
        den = (den + Q[i]) * y;
    }
    let r = y * (num + P[4]) / (den + Q[4]);
    (FRAC_1_SQRT_PI - r) / x
}

/// erfcx(x) for x > 0.46875.
#[inline(always)]
fn erfcx_tail(x: f64) -> f64 {
    if x <= 4.0 {
        erfcx_mid(x)
    } else {
        erfcx_large(x)
    }
}

/// The scaled complementary error function `erfcx(x) = exp(x²)·erfc(x)`.
///
/// Finite and accurate for every `x ≥ −26` (it overflows to +∞ below that, as
/// `exp(x²)` does); for large positive `x` it behaves like `1/(x√π)`.
pub fn erfcx(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    let ax = x.abs();
    let pos = if ax <= SMALL {
        (x * x).exp() * (1.0 - erf_small(ax))
    } else {
        erfcx_tail(ax)
    };
    if x >= 0.0 {
        pos
    } else {
        2.0 * (x * x).exp() - pos
    }
}

/// The complementary error function `erfc(x) = 1 − erf(x)`.
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    let ax = x.abs();
    let pos = if ax <= SMALL {
        1.0 - erf_small(ax)
    } else {
        // exp(−x²) with x² split as in CALERF, so the rounding of x² is not
        // amplified by the exponential (matters for x of order 10).
        let head = (16.0 * ax).trunc() / 16.0;
        let del = (ax - head) * (ax + head);
        (-head * head).exp() * (-del).exp() * erfcx_tail(ax)
    };
    if x >= 0.0 {
        pos
    } else {
        2.0 - pos
    }
}

/// The standard normal CDF Φ(z).
pub fn norm_cdf(z: f64) -> f64 {
    0.5 * erfc(-z * std::f64::consts::FRAC_1_SQRT_2)
}

/// The standard normal density φ(z).
pub fn norm_pdf(z: f64) -> f64 {
    FRAC_1_SQRT_2PI * (-0.5 * z * z).exp()
}

/// `log Φ(z)`, finite for every finite `z` (≈ −z²/2 − ln(−z√(2π)) far in the left tail).
pub fn log_norm_cdf(z: f64) -> f64 {
    probit_terms(z).log_cdf
}

/// Everything the probit likelihood needs at one `z`, from one evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbitTerms {
    /// `log Φ(z)`.
    pub log_cdf: f64,
    /// `log Φ(−z) = log(1 − Φ(z))`.
    pub log_sf: f64,
    /// Inverse Mills ratio `φ(z)/Φ(z)` (the derivative of `log Φ(z)`).
    pub mills_cdf: f64,
    /// `φ(z)/Φ(−z)` (minus the derivative of `log Φ(−z)`).
    pub mills_sf: f64,
}

/// `log Φ(±z)` and both inverse Mills ratios at `z`, accurate in both tails.
///
/// For a NaN input every field is NaN.
#[inline]
pub fn probit_terms(z: f64) -> ProbitTerms {
    let t = z.abs();
    let x = t * std::f64::consts::FRAC_1_SQRT_2;
    // q = Φ(−t) ≤ ½, its log, and r = φ(t)/q.
    let (q, log_q, r) = if x <= SMALL {
        let q = 0.5 * (1.0 - erf_small(x));
        let phi = FRAC_1_SQRT_2PI * (-x * x).exp();
        (q, q.ln(), phi / q)
    } else {
        let e = erfcx_tail(x);
        let log_q = -x * x + e.ln() - std::f64::consts::LN_2;
        (log_q.exp(), log_q, SQRT_2_OVER_PI / e)
    };
    // The large side p = 1 − q ≥ ½.
    let log_p = (-q).ln_1p();
    let r_big = r * q / (1.0 - q);
    if z >= 0.0 {
        ProbitTerms {
            log_cdf: log_p,
            log_sf: log_q,
            mills_cdf: r_big,
            mills_sf: r,
        }
    } else {
        ProbitTerms {
            log_cdf: log_q,
            log_sf: log_p,
            mills_cdf: r,
            mills_sf: r_big,
        }
    }
}

/// The probit likelihood of one pair, fused for the fitting loop: returns
/// `(−(w_a log Φ(z) + w_b log Φ(−z)), d/dz of it)`.
///
/// Same mathematics as [`probit_terms`], arranged for speed: no branch on the
/// sign of `z` (the weights are swapped instead), one division for the
/// rational approximation and the Mills ratio together, and a logarithm is only
/// taken for a side with non-zero weight (elicited preferences are often
/// unanimous, `10:0`).
#[inline(always)]
pub fn probit_pair(z: f64, w_a: f64, w_b: f64) -> (f64, f64) {
    let t = z.abs();
    let x = t * std::f64::consts::FRAC_1_SQRT_2;
    let pos = z >= 0.0;
    // q = Φ(−t) is the small side; it belongs to b when z ≥ 0.
    let (wq, wp) = if pos { (w_b, w_a) } else { (w_a, w_b) };
    // q, log q (when needed) and r = φ(t)/q.
    let (q, log_q, r) = if x <= SMALL {
        let q = 0.5 * (1.0 - erf_small(x));
        let phi = FRAC_1_SQRT_2PI * (-x * x).exp();
        let log_q = if wq != 0.0 { q.ln() } else { 0.0 };
        (q, log_q, phi / q)
    } else {
        // erfcx = num/den and r = √(2/π)·den/num from one division.
        let (num, den) = if x <= 4.0 {
            erfcx_mid_parts(x)
        } else {
            erfcx_large_parts(x)
        };
        let inv = 1.0 / (num * den);
        let e = num * num * inv;
        let r = SQRT_2_OVER_PI * den * den * inv;
        let log_q = -x * x + e.ln() - std::f64::consts::LN_2;
        (log_q.exp(), log_q, r)
    };
    let p = 1.0 - q;
    let log_p = if wp != 0.0 { (-q).ln_1p() } else { 0.0 };
    let cost = -(wp * log_p + wq * log_q);
    // dℓ/dz for z ≥ 0 is wq·r − wp·r·q/p; the sign flips with z.
    let d = r * (wq * p - wp * q) / p;
    (cost, if pos { d } else { -d })
}

/// erfcx(x) = num/den on 0.46875 < x ≤ 4.
#[inline(always)]
fn erfcx_mid_parts(x: f64) -> (f64, f64) {
    let mut num = C[8] * x;
    let mut den = x;
    for i in 0..7 {
        num = (num + C[i]) * x;
        den = (den + D[i]) * x;
    }
    (num + C[7], den + D[7])
}

/// erfcx(x) = num/den on x > 4.
#[inline(always)]
fn erfcx_large_parts(x: f64) -> (f64, f64) {
    let y = 1.0 / (x * x);
    let mut num = P[5] * y;
    let mut den = y;
    for i in 0..4 {
        num = (num + P[i]) * y;
        den = (den + Q[i]) * y;
    }
    // (1/√π − y·N/D)/x = (D/√π − y·N)/(x·D)
    let d = den + Q[4];
    (d * FRAC_1_SQRT_PI - y * (num + P[4]), x * d)
}

#[cfg(test)]
// Reference values are printed digits (log ½ among them), not hand-typed constants.
#[allow(clippy::approx_constant)]
mod tests {
    use super::*;

    fn rel(a: f64, b: f64) -> f64 {
        if a == b {
            0.0
        } else {
            (a - b).abs() / b.abs().max(1e-300)
        }
    }

    // Reference values from mpmath 1.3 at 50 significant digits (SciPy's own
    // log_ndtr/Mills ratio lose ~1e-6 relative accuracy at |z| = 1e5):
    //   import mpmath as mp; mp.mp.dps = 50
    //   xs = [-3.0, -0.3, 0.0, 0.2, 0.46875, 0.5, 1.7, 4.0, 4.5, 12.0, 30.0, 1e4]
    //   [float(mp.exp(mp.mpf(x)**2) * mp.erfc(x)) for x in xs]   # ERFCX
    //   [float(mp.erfc(x)) for x in xs]                           # ERFC
    const XS: [f64; 12] = [
        -3.0, -0.3, 0.0, 0.2, 0.46875, 0.5, 1.7, 4.0, 4.5, 12.0, 30.0, 1e4,
    ];
    const ERFCX: [f64; 12] = [
        16205.988853999586,
        1.4537492328427655,
        1.0,
        0.8090195199015807,
        0.6320696892495561,
        0.6156903441929259,
        0.2916632970753435,
        0.13699945762506138,
        0.12248480427384142,
        0.04685422101489376,
        0.01879588886141675,
        5.641895807268084e-05,
    ];
    const ERFC: [f64; 12] = [
        1.9999779095030015,
        1.3286267594591274,
        1.0,
        0.7772974107895215,
        0.507386526782062,
        0.4795001221869535,
        0.01620954140922544,
        1.541725790028002e-08,
        1.9661604415428876e-10,
        1.3562611692059042e-64,
        0.0,
        0.0,
    ];

    #[test]
    fn erfcx_and_erfc_match_mpmath() {
        for (i, &x) in XS.iter().enumerate() {
            assert!(rel(erfcx(x), ERFCX[i]) < 4e-15, "erfcx({x}) = {}", erfcx(x));
            assert!(
                rel(erfc(x), ERFC[i]) < 4e-15 || (ERFC[i] == 0.0 && erfc(x) < 1e-300),
                "erfc({x}) = {}",
                erfc(x)
            );
        }
    }

    // mpmath, same session:
    //   zs = [-1e5, -300.0, -40.0, -38.5, -10.0, -5.0, -1.0, -0.3, 0.0, 0.4, 2.0, 9.0, 40.0]
    //   [float(mp.log(mp.ncdf(z))) for z in zs]                  # LOG_CDF
    //   [float(mp.log(mp.ncdf(-z))) for z in zs]                 # LOG_SF
    //   [float(mp.npdf(z) / mp.ncdf(z)) for z in zs]             # MILLS_CDF
    const ZS: [f64; 13] = [
        -1e5, -300.0, -40.0, -38.5, -10.0, -5.0, -1.0, -0.3, 0.0, 0.4, 2.0, 9.0, 40.0,
    ];
    const LOG_CDF: [f64; 13] = [
        -5000000012.431864,
        -45006.62273211866,
        -804.6084420137538,
        -745.695270290411,
        -53.23128515051247,
        -15.064998393988725,
        -1.8410216450092636,
        -0.9621028181688507,
        -0.6931471805599453,
        -0.42247637022777607,
        -0.02301290932896349,
        -1.1285884059538405e-19,
        0.0,
    ];
    const LOG_SF: [f64; 13] = [
        0.0,
        0.0,
        0.0,
        0.0,
        -7.619853024160525e-24,
        -2.866516129637636e-07,
        -0.17275377902344988,
        -0.4814101615884812,
        -0.6931471805599453,
        -1.0654340491895766,
        -3.783184333682032,
        -43.628149113332114,
        -804.6084420137538,
    ];
    const MILLS_CDF: [f64; 13] = [
        100000.00001,
        300.0033332592634,
        40.02496884720726,
        38.52593909685449,
        10.098093233962512,
        5.186503967125842,
        1.525135276160981,
        0.9981659688584833,
        0.7978845608028654,
        0.5618827037969628,
        0.055247862678989956,
        1.0279773571668915e-18,
        0.0,
    ];

    // The small side q = Φ(−|z|) comes from exp(log q), which carries the
    // rounding of x² ≈ z²/2: a relative error of about z²·1e-16 in q (and in
    // log(1 − q) ≈ −q); log q itself is accurate to a few ulps at any z.
    #[test]
    fn probit_terms_match_mpmath_in_both_tails() {
        for (i, &z) in ZS.iter().enumerate() {
            let t = probit_terms(z);
            let tol = 1e-15 * (4.0 + z * z);
            assert!(
                rel(t.log_cdf, LOG_CDF[i]) < tol,
                "log Φ({z}) = {}",
                t.log_cdf
            );
            assert!(
                rel(t.log_sf, LOG_SF[i]) < tol || (t.log_sf - LOG_SF[i]).abs() < 1e-300,
                "log Φ(-{z}) = {}",
                t.log_sf
            );
            assert!(
                rel(t.mills_cdf, MILLS_CDF[i]) < tol || (t.mills_cdf - MILLS_CDF[i]).abs() < 1e-300,
                "φ/Φ({z}) = {}",
                t.mills_cdf
            );
            // Symmetry: the sf side at z is the cdf side at −z.
            let m = probit_terms(-z);
            assert_eq!(t.log_sf, m.log_cdf);
            assert_eq!(t.mills_sf, m.mills_cdf);
        }
    }

    #[test]
    fn fused_pair_kernel_agrees_with_probit_terms() {
        let zs = [
            -60.0, -8.0, -4.5, -2.83, -1.0, -0.5, -0.2, 0.0, 0.1, 0.66, 0.67, 3.0, 5.7, 6.0, 30.0,
        ];
        for &z in &zs {
            for &(wa, wb) in &[(3.0, 1.0), (0.0, 2.0), (1.5, 0.0), (0.7, 0.3)] {
                let t = probit_terms(z);
                let cost = -(wa * t.log_cdf + wb * t.log_sf);
                let dz = wb * t.mills_sf - wa * t.mills_cdf;
                let (c, d) = probit_pair(z, wa, wb);
                assert!(
                    (c - cost).abs() <= 1e-14 * (1.0 + cost.abs()),
                    "cost at {z}: {c} vs {cost}"
                );
                assert!(
                    (d - dz).abs() <= 1e-13 * (1.0 + dz.abs()),
                    "dz at {z}: {d} vs {dz}"
                );
            }
        }
    }

    #[test]
    fn cdf_and_pdf_agree_with_terms() {
        for &z in &[-7.0, -2.5, -0.1, 0.0, 0.3, 1.2, 6.0] {
            let t = probit_terms(z);
            assert!(rel(norm_cdf(z), t.log_cdf.exp()) < 1e-13);
            assert!(rel(norm_pdf(z), t.mills_cdf * t.log_cdf.exp()) < 1e-13);
        }
        assert!(probit_terms(f64::NAN).log_cdf.is_nan());
    }
}
