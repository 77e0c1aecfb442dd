//! System C (style-controlled personalised Bradley–Terry, `pref_rank::style`) against
//! independent references: a scipy L-BFGS-B fit of the same objective with numpy's
//! analytic Hessian for the Laplace standard errors (`tests/data/style_bt_ref.py`, which
//! also writes the fixture `tests/data/style_bt.jsonl`), arena-rank's style-feature
//! construction redone in numpy, recovery of known parameters on simulated data, and
//! input / parameter errors.

use pref_rank::style::COVARIANCE_MAX_DIM;
use pref_rank::{
    relative_difference, Error, ParamGuard, Standardizer, StyleBtFit, StyleBtParams, StyleData,
    StyleObservation,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

// Printed by `python3 crates/pref-rank/tests/data/style_bt_ref.py` (numpy 2.4.6, scipy
// 1.17.1), which also wrote the fixture:
// fixture: 240 observations, 30 ties, 39 header pairs with total 0
// per_group_style = True: L-BFGS-B nit = 33, |grad|_inf after L-BFGS-B = 1.33e-07,
//   after Newton = 2.85e-15, Newton moved the estimates by 2.15e-08, mean theta before
//   centring = 3.61e-14
const PG_STRENGTH: [f64; 4] = [
    0.5339574323169871,
    0.2946796667099433,
    -0.2167171029135939,
    -0.6119199961133364,
];
const PG_STRENGTH_SE: [f64; 4] = [
    0.5215138276397676,
    0.5226502770186828,
    0.5196222646098808,
    0.5277939030100065,
];
const PG_OFFSETS: [[f64; 4]; 3] = [
    [
        0.30028689454155405,
        0.15412948706100488,
        -0.11336249297918985,
        -0.3410538886233684,
    ],
    [
        -0.06673715035219195,
        -0.2465088646520504,
        -0.09171649330501964,
        0.40496250830926234,
    ],
    [
        -0.22821016986619186,
        0.09532617425814499,
        0.20291181525507426,
        -0.07002781964702756,
    ],
];
const PG_OFFSET_SE: [[f64; 4]; 3] = [
    [
        0.734413758707923,
        0.7386333742538325,
        0.7331081333680908,
        0.7467436782175724,
    ],
    [
        0.737234357346296,
        0.7345310650414979,
        0.7328181504641202,
        0.7390090365572417,
    ],
    [
        0.7353279920823164,
        0.7378986513626831,
        0.734347970077082,
        0.7434980598992071,
    ],
];
const PG_STYLE: [[f64; 2]; 3] = [
    [0.5970041463469716, -0.2142170574892498],
    [0.1261315747549277, 0.4283109315392915],
    [-0.32645022949141844, 0.03710996434760787],
];
const PG_STYLE_SE: [[f64; 2]; 3] = [
    [0.23371483962468276, 0.24393428478796567],
    [0.23723637463332145, 0.23008582806415412],
    [0.2898451577308436, 0.2610700395343846],
];
const PG_OBJECTIVE: f64 = 145.57348882635085;
// per_group_style = False: L-BFGS-B nit = 32, |grad|_inf after L-BFGS-B = 8.41e-07,
//   after Newton = 2.21e-15, Newton moved the estimates by 2.37e-07, mean theta before
//   centring = -3.33e-14
const SH_STRENGTH: [f64; 4] = [
    0.508931066183628,
    0.21525902151394763,
    -0.18662954460489511,
    -0.5375605430926805,
];
const SH_STRENGTH_SE: [f64; 4] = [
    0.5200588038151479,
    0.520675967882479,
    0.5185335074453085,
    0.5258342872188178,
];
const SH_OFFSETS: [[f64; 4]; 3] = [
    [
        0.21964357465383214,
        0.149436123881871,
        -0.020310666967422366,
        -0.3487690315682819,
    ],
    [
        -0.061818948174982666,
        -0.15006078689597155,
        -0.1799419810876522,
        0.3918217161586064,
    ],
    [
        -0.1527353158170134,
        0.0027772532292403645,
        0.19838635260902607,
        -0.048428290021252166,
    ],
];
const SH_OFFSET_SE: [[f64; 4]; 3] = [
    [
        0.7314724335326613,
        0.7362217807878281,
        0.7308287838344298,
        0.7441397781636504,
    ],
    [
        0.7358350800584609,
        0.7327681591394599,
        0.7314629438248397,
        0.737288831851387,
    ],
    [
        0.7344419439576474,
        0.7350448616502399,
        0.7336419303726176,
        0.7415510483555687,
    ],
];
const SH_STYLE: [[f64; 2]; 1] = [[0.24069444065568796, 0.08939124408813054]];
const SH_STYLE_SE: [[f64; 2]; 1] = [[0.141029347534392, 0.1393766574229015]];
const SH_OBJECTIVE: f64 = 151.03151832650244;

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// A fixture row: the observation plus the raw counts and relative differences.
struct Row {
    obs: StyleObservation,
    raw: Vec<f64>,
    rel: Vec<f64>,
}

fn fixture() -> Vec<Row> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/style_bt.jsonl");
    let floats = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            Row {
                obs: StyleObservation {
                    group: v["group"].as_u64().unwrap() as usize,
                    a: v["a"].as_u64().unwrap() as usize,
                    b: v["b"].as_u64().unwrap() as usize,
                    outcome: v["outcome"].as_f64().unwrap(),
                    features: floats(&v["features"]),
                },
                raw: floats(&v["raw"]),
                rel: floats(&v["rel"]),
            }
        })
        .collect()
}

fn fixture_data() -> StyleData {
    StyleData::new(
        names("model-", 4),
        names("persona-", 3),
        vec!["length".into(), "headers".into()],
        fixture().into_iter().map(|r| r.obs).collect(),
    )
    .unwrap()
}

fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got}, want {want} (diff {:e})",
        got - want
    );
}

fn close_rel(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol * want.abs(),
        "{what}: got {got}, want {want} (rel diff {:e})",
        (got - want) / want
    );
}

#[allow(clippy::too_many_arguments)]
fn check_reference<const S: usize>(
    fit: &StyleBtFit,
    strength: [f64; 4],
    strength_se: [f64; 4],
    offsets: [[f64; 4]; 3],
    offset_se: [[f64; 4]; 3],
    style: [[f64; 2]; S],
    style_se: [[f64; 2]; S],
    objective: f64,
) {
    assert!(fit.covariance);
    assert!(fit.grad_norm <= 1e-9, "grad_norm {}", fit.grad_norm);
    assert_eq!(fit.n_observations, 240);
    close(fit.objective, objective, 1e-6, "objective");
    for m in 0..4 {
        close(
            fit.strength[m],
            strength[m],
            1e-6,
            &format!("strength[{m}]"),
        );
        close_rel(
            fit.strength_se[m],
            strength_se[m],
            1e-6,
            &format!("strength_se[{m}]"),
        );
        for g in 0..3 {
            close(
                fit.offsets[g][m],
                offsets[g][m],
                1e-6,
                &format!("offsets[{g}][{m}]"),
            );
            close_rel(
                fit.offset_se[g][m],
                offset_se[g][m],
                1e-6,
                &format!("offset_se[{g}][{m}]"),
            );
        }
    }
    assert_eq!(fit.style.len(), S);
    assert_eq!(fit.style_se.len(), S);
    for s in 0..S {
        for k in 0..2 {
            close(
                fit.style[s][k],
                style[s][k],
                1e-6,
                &format!("style[{s}][{k}]"),
            );
            close_rel(
                fit.style_se[s][k],
                style_se[s][k],
                1e-6,
                &format!("style_se[{s}][{k}]"),
            );
        }
    }
}

#[test]
fn per_group_style_matches_scipy() {
    let fit = StyleBtParams::default().fit(&fixture_data()).unwrap();
    check_reference(
        &fit,
        PG_STRENGTH,
        PG_STRENGTH_SE,
        PG_OFFSETS,
        PG_OFFSET_SE,
        PG_STYLE,
        PG_STYLE_SE,
        PG_OBJECTIVE,
    );
    // The reported θ is centred.
    close(fit.strength.iter().sum::<f64>(), 0.0, 1e-12, "Σθ");
    // The interval and its z: Φ⁻¹(0.975) = scipy.stats.norm.ppf(0.975).
    close(fit.z, 1.959963984540054, 1e-12, "z");
    let (lo, hi) = fit.interval(fit.strength[0], fit.strength_se[0]);
    close(
        lo,
        PG_STRENGTH[0] - 1.959963984540054 * PG_STRENGTH_SE[0],
        1e-6,
        "lower",
    );
    close(
        hi,
        PG_STRENGTH[0] + 1.959963984540054 * PG_STRENGTH_SE[0],
        1e-6,
        "upper",
    );
    // Persona strengths, logits and probabilities from the reference parameters.
    let x = [0.7, -1.2];
    let want = (PG_STRENGTH[2] + PG_OFFSETS[1][2]) - (PG_STRENGTH[0] + PG_OFFSETS[1][0])
        + PG_STYLE[1][0] * x[0]
        + PG_STYLE[1][1] * x[1];
    close(
        fit.persona_strength(1, 2),
        PG_STRENGTH[2] + PG_OFFSETS[1][2],
        2e-6,
        "persona",
    );
    close(fit.logit(1, 2, 0, &x), want, 1e-5, "logit");
    close(
        fit.prob(1, 2, 0, &x),
        1.0 / (1.0 + (-want).exp()),
        1e-5,
        "prob",
    );
    assert_eq!(fit.style_of(2), fit.style[2].as_slice());
}

#[test]
fn shared_style_matches_scipy() {
    let fit = StyleBtParams::default()
        .per_group_style(false)
        .fit(&fixture_data())
        .unwrap();
    check_reference(
        &fit,
        SH_STRENGTH,
        SH_STRENGTH_SE,
        SH_OFFSETS,
        SH_OFFSET_SE,
        SH_STYLE,
        SH_STYLE_SE,
        SH_OBJECTIVE,
    );
    // One shared row serves every group.
    assert_eq!(fit.style_of(0), fit.style_of(2));
    assert_eq!(fit.style_of(1), fit.style[0].as_slice());
}

/// No randomness in the fit: two fits are bit for bit equal, and the JSON form round-trips.
#[test]
fn fit_is_deterministic_and_serialises() {
    let p = StyleBtParams::default().check().unwrap();
    let d = fixture_data();
    let (a, b) = (p.fit(&d).unwrap(), p.fit(&d).unwrap());
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
    let back: StyleBtFit = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
    assert_eq!(back.strength, a.strength);
    assert_eq!(back.offset_se, a.offset_se);
    assert_eq!(back.iterations, a.iterations);
    let params: StyleBtParams =
        serde_json::from_str(&serde_json::to_string(p.params()).unwrap()).unwrap();
    assert_eq!(&params, p.params());
}

/// The fixture's features were built in numpy as arena-rank's examples/example_utils.py
/// does: `diff / total.replace(0, 1)`, then `(x - x.mean()) / x.std()` (ddof 1).
#[test]
fn feature_construction_matches_numpy() {
    let rows = fixture();
    let rel: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| {
            vec![
                relative_difference(r.raw[0], r.raw[1]),
                relative_difference(r.raw[2], r.raw[3]),
            ]
        })
        .collect();
    for (r, mine) in rows.iter().zip(&rel) {
        assert_eq!(mine, &r.rel); // the same two IEEE operations
    }
    assert!(rows
        .iter()
        .any(|r| r.raw[2] + r.raw[3] == 0.0 && r.rel[1] == 0.0));
    let st = Standardizer::fit(&rel).unwrap();
    for (r, mine) in rows.iter().zip(&rel) {
        for (x, y) in st.apply(mine).iter().zip(&r.obs.features) {
            close(*x, *y, 1e-13, "standardised feature");
        }
    }
}

/// ```python
/// import numpy as np
/// rows = np.array([[0.25, 3.0, -1.0], [0.5, 3.0, 2.0], [-0.75, 3.0, 0.5], [1.5, 3.0, 4.25]])
/// rows.mean(0)          # [0.375, 3.0, 1.4375]
/// rows.std(0, ddof=1)   # [0.924211375534118, 0.0, 2.2395591083961146]
/// sd = np.where(rows.std(0, ddof=1) > 0, rows.std(0, ddof=1), 1)
/// (rows[1] - rows.mean(0)) / sd   # [0.13525044520011487, 0.0, 0.2511655074836764]
/// a = np.array([3., 0., 7., 2.5]); b = np.array([1., 0., 0., 7.5])
/// t = a + b; (a - b) / np.where(t == 0, 1, t)   # [0.5, 0.0, 1.0, -0.5]
/// ```
#[test]
fn standardizer_and_relative_difference_match_numpy() {
    let rows = vec![
        vec![0.25, 3.0, -1.0],
        vec![0.5, 3.0, 2.0],
        vec![-0.75, 3.0, 0.5],
        vec![1.5, 3.0, 4.25],
    ];
    let st = Standardizer::fit(&rows).unwrap();
    for (got, want) in st.mean.iter().zip([0.375, 3.0, 1.4375]) {
        close(*got, want, 1e-15, "mean");
    }
    // A constant column keeps sd 1 (centred only).
    for (got, want) in st
        .sd
        .iter()
        .zip([0.924211375534118, 1.0, 2.2395591083961146])
    {
        close(*got, want, 1e-15, "sd");
    }
    for (got, want) in st
        .apply(&rows[1])
        .iter()
        .zip([0.13525044520011487, 0.0, 0.2511655074836764])
    {
        close(*got, want, 1e-15, "standardised");
    }
    // One row: the sample sd is undefined, so every column is only centred.
    let one = Standardizer::fit(&[vec![2.0, -1.0]]).unwrap();
    assert_eq!(one.sd, vec![1.0, 1.0]);
    assert_eq!(one.apply(&[3.0, -1.0]), vec![1.0, 0.0]);

    let got: Vec<f64> = [(3.0, 1.0), (0.0, 0.0), (7.0, 0.0), (2.5, 7.5)]
        .iter()
        .map(|&(a, b)| relative_difference(a, b))
        .collect();
    assert_eq!(got, vec![0.5, 0.0, 1.0, -0.5]);

    let err = Standardizer::fit(&[]).unwrap_err().to_string();
    assert!(err.contains("no feature rows"), "{err}");
    let err = Standardizer::fit(&[vec![1.0, 2.0], vec![1.0]])
        .unwrap_err()
        .to_string();
    assert!(err.contains("row 1 has 1 values"), "{err}");
    let err = Standardizer::fit(&[vec![1.0, 2.0], vec![1.0, f64::NAN]])
        .unwrap_err()
        .to_string();
    assert!(err.contains("row 1, column 1"), "{err}");
}

/// Simulated personas with known θ, δ, β: 24,000 observations, 4 groups, 6 models,
/// 2 features, ties. δ is drawn and then double-centred (mean 0 over groups for
/// each model, sum 0 within each group), θ is centred: the likelihood identifies only
/// each persona's strength differences, and with the priors the posterior mode splits
/// them into θ and δ in exactly this way (up to a shrinkage of θ by G/(G + τ_θ/τ_δ)).
#[test]
fn recovers_known_parameters() {
    let (g_n, m_n, n) = (4usize, 6usize, 24_000usize);
    let mut rng = ChaCha8Rng::seed_from_u64(20_240_611);
    let theta: Vec<f64> = (0..m_n).map(|m| -1.0 + 0.4 * m as f64).collect();
    let mut delta: Vec<Vec<f64>> = (0..g_n)
        .map(|_| {
            (0..m_n)
                .map(|_| {
                    let e: f64 = StandardNormal.sample(&mut rng);
                    0.5 * e
                })
                .collect()
        })
        .collect();
    let model_mean: Vec<f64> = (0..m_n)
        .map(|m| delta.iter().map(|row| row[m]).sum::<f64>() / g_n as f64)
        .collect();
    for row in delta.iter_mut() {
        row.iter_mut().zip(&model_mean).for_each(|(d, c)| *d -= c);
    }
    for row in delta.iter_mut() {
        let mean = row.iter().sum::<f64>() / m_n as f64;
        row.iter_mut().for_each(|d| *d -= mean);
    }
    let beta = [[0.5, -0.3], [0.0, 0.4], [-0.4, 0.1], [0.2, 0.2]];
    let obs: Vec<StyleObservation> = (0..n)
        .map(|_| {
            let g = rng.random_range(0..g_n);
            let a = rng.random_range(0..m_n);
            let b = (a + 1 + rng.random_range(0..m_n - 1)) % m_n;
            let x: Vec<f64> = (0..2).map(|_| StandardNormal.sample(&mut rng)).collect();
            let z = theta[a] + delta[g][a] - theta[b] - delta[g][b]
                + beta[g][0] * x[0]
                + beta[g][1] * x[1];
            // A tie with probability 0.8·q(1 − q) (≤ 20 %), taken half from each side,
            // so that E[y] = q = σ(z) as the tie-as-half-a-win likelihood assumes.
            let q = 1.0 / (1.0 + (-z).exp());
            let tie = 0.8 * q * (1.0 - q);
            let u: f64 = rng.random();
            let outcome = if u < tie {
                0.5
            } else if u < q + 0.5 * tie {
                1.0
            } else {
                0.0
            };
            StyleObservation {
                group: g,
                a,
                b,
                outcome,
                features: x,
            }
        })
        .collect();
    let data = StyleData::new(
        names("m", m_n),
        names("g", g_n),
        vec!["length".into(), "markdown".into()],
        obs,
    )
    .unwrap();
    let fit = StyleBtParams::default().fit(&data).unwrap();
    assert!(fit.covariance && fit.grad_norm <= 1e-9);

    let mut checked = 0;
    let mut covered = 0;
    let mut check = |what: String, est: f64, se: f64, truth: f64| {
        assert!(se.is_finite() && se > 0.0, "{what}: se {se}");
        assert!(
            (est - truth).abs() <= 4.0 * se,
            "{what}: estimate {est}, truth {truth}, se {se}"
        );
        let (lo, hi) = fit.interval(est, se);
        checked += 1;
        covered += usize::from(lo <= truth && truth <= hi);
    };
    for m in 0..m_n {
        check(
            format!("θ[{m}]"),
            fit.strength[m],
            fit.strength_se[m],
            theta[m],
        );
        for (g, row) in delta.iter().enumerate() {
            check(
                format!("δ[{g}][{m}]"),
                fit.offsets[g][m],
                fit.offset_se[g][m],
                row[m],
            );
        }
    }
    for (g, row) in beta.iter().enumerate() {
        for (k, &truth) in row.iter().enumerate() {
            check(
                format!("β[{g}][{k}]"),
                fit.style[g][k],
                fit.style_se[g][k],
                truth,
            );
        }
    }
    assert_eq!(checked, m_n + g_n * m_n + g_n * 2);
    assert!(
        covered * 10 >= checked * 8,
        "{covered} of {checked} intervals cover"
    );

    // The se of θ and δ are dominated by the prior (only 4 personas inform how a
    // persona's strengths split into θ + δ); the estimates themselves are close.
    for m in 0..m_n {
        close(fit.strength[m], theta[m], 0.1, &format!("θ[{m}]"));
        for (g, row) in delta.iter().enumerate() {
            close(
                fit.persona_strength(g, m) - fit.persona_strength(g, 0),
                theta[m] + row[m] - theta[0] - row[0],
                0.25,
                &format!("persona {g} contrast {m} − 0"),
            );
        }
    }
    // The style coefficients are identified by the data: se ≈ 2 / √(6000 · 0.2) ≈ 0.03.
    assert!(fit.style_se.iter().flatten().all(|&s| s < 0.05));
}

/// Above `COVARIANCE_MAX_DIM` parameters the fit still converges (Newton steps by
/// conjugate gradients) but reports no standard errors; NaN is `null` in JSON and
/// reads back as NaN.
#[test]
fn large_fit_has_no_covariance() {
    let (g_n, m_n, n) = (760usize, 4usize, 9_000usize);
    assert!(m_n + g_n * m_n + g_n > COVARIANCE_MAX_DIM);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let obs: Vec<StyleObservation> = (0..n)
        .map(|_| {
            let a = rng.random_range(0..m_n);
            let b = (a + 1 + rng.random_range(0..m_n - 1)) % m_n;
            let x: f64 = StandardNormal.sample(&mut rng);
            let z = 0.5 * (a as f64 - b as f64) + 0.3 * x;
            let outcome = if rng.random::<f64>() < 1.0 / (1.0 + (-z).exp()) {
                1.0
            } else {
                0.0
            };
            StyleObservation {
                group: rng.random_range(0..g_n),
                a,
                b,
                outcome,
                features: vec![x],
            }
        })
        .collect();
    let data = StyleData::new(names("m", m_n), names("g", g_n), vec!["len".into()], obs).unwrap();
    let fit = StyleBtParams::default().fit(&data).unwrap();
    assert!(!fit.covariance);
    assert!(fit.grad_norm <= 1e-9, "{}", fit.grad_norm);
    assert!(fit.strength_se.iter().all(|s| s.is_nan()));
    assert!(fit.offset_se.iter().flatten().all(|s| s.is_nan()));
    assert!(fit.style_se.iter().flatten().all(|s| s.is_nan()));
    assert_eq!(fit.style.len(), g_n);
    // The strengths still come out in order.
    assert!(
        fit.strength.windows(2).all(|w| w[0] < w[1]),
        "{:?}",
        fit.strength
    );
    let json = serde_json::to_string(&fit).unwrap();
    assert!(json.contains(r#""strength_se":[null,null,null,null]"#));
    let back: StyleBtFit = serde_json::from_str(&json).unwrap();
    assert!(back.strength_se.iter().all(|s| s.is_nan()));
    assert_eq!(back.strength, fit.strength);
}

fn obs(group: usize, a: usize, b: usize, outcome: f64, features: Vec<f64>) -> StyleObservation {
    StyleObservation {
        group,
        a,
        b,
        outcome,
        features,
    }
}

fn build(o: Vec<StyleObservation>) -> pref_rank::Result<StyleData> {
    StyleData::new(
        names("m", 3),
        names("g", 2),
        vec!["length".into(), "headers".into()],
        o,
    )
}

fn input_error(e: Error) -> String {
    match e {
        Error::InvalidInput(m) => m,
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

#[test]
fn bad_input_names_observation_and_field() {
    let ok = || obs(0, 0, 1, 1.0, vec![0.1, 0.2]);
    assert!(build(vec![ok(), ok()]).is_ok());
    let cases: Vec<(StyleObservation, &str)> = vec![
        (
            obs(2, 0, 1, 1.0, vec![0.1, 0.2]),
            "observation 1: `group` = 2 is out of range (2 groups)",
        ),
        (
            obs(0, 3, 1, 1.0, vec![0.1, 0.2]),
            "observation 1: `a` = 3 is out of range (3 models)",
        ),
        (
            obs(0, 0, 7, 1.0, vec![0.1, 0.2]),
            "observation 1: `b` = 7 is out of range (3 models)",
        ),
        (
            obs(0, 2, 2, 1.0, vec![0.1, 0.2]),
            "observation 1: `a` and `b` are the same model (2 = `m2`)",
        ),
        (
            obs(0, 0, 1, 0.3, vec![0.1, 0.2]),
            "observation 1: `outcome` must be 0, 0.5 or 1, got 0.3",
        ),
        (
            obs(0, 0, 1, f64::NAN, vec![0.1, 0.2]),
            "observation 1: `outcome` must be 0, 0.5 or 1, got NaN",
        ),
        (
            obs(0, 0, 1, 1.0, vec![0.1]),
            "observation 1: `features` has 1 values but there are 2 feature names",
        ),
        (
            obs(0, 0, 1, 1.0, vec![0.1, f64::NAN]),
            "observation 1: `features[1]` (`headers`) is not finite: NaN",
        ),
        (
            obs(0, 0, 1, 1.0, vec![f64::INFINITY, 0.0]),
            "observation 1: `features[0]` (`length`) is not finite: inf",
        ),
    ];
    for (bad, want) in cases {
        let msg = input_error(build(vec![ok(), bad]).unwrap_err());
        assert_eq!(msg, want);
    }
    let few = StyleData::new(names("m", 1), names("g", 1), vec![], vec![]).unwrap_err();
    assert_eq!(input_error(few), "models: at least two are needed, got 1");
    let none = StyleData::new(names("m", 2), vec![], vec![], vec![]).unwrap_err();
    assert_eq!(input_error(none), "groups: at least one is needed, got 0");
    let twice =
        StyleData::new(vec!["x".into(), "x".into()], names("g", 1), vec![], vec![]).unwrap_err();
    assert_eq!(input_error(twice), "models: `x` appears twice");
    // Accessors return what was given.
    let d = build(vec![ok()]).unwrap();
    assert_eq!(d.models(), names("m", 3).as_slice());
    assert_eq!(d.groups(), names("g", 2).as_slice());
    assert_eq!(d.features(), ["length".to_string(), "headers".to_string()]);
    assert_eq!(d.observations(), [ok()]);
}

#[test]
fn bad_params_name_the_field() {
    let name = |p: StyleBtParams| match p.check().unwrap_err() {
        Error::InvalidParam { name, .. } => name,
        other => panic!("expected InvalidParam, got {other:?}"),
    };
    let d = StyleBtParams::default;
    assert_eq!(name(d().strength_precision(0.0)), "strength_precision");
    assert_eq!(name(d().offset_precision(-1.0)), "offset_precision");
    assert_eq!(name(d().offset_precision(f64::NAN)), "offset_precision");
    assert_eq!(name(d().style_precision(-0.5)), "style_precision");
    assert_eq!(name(d().grad_tol(0.0)), "grad_tol");
    assert_eq!(name(d().max_iters(0)), "max_iters");
    assert_eq!(name(d().level(1.5)), "level");
    assert_eq!(name(d().level(0.0)), "level");
    let msg = d().offset_precision(-1.0).check().unwrap_err().to_string();
    assert_eq!(
        msg,
        "invalid parameter `offset_precision`: must be finite and > 0, got -1"
    );
    // Unpenalised style coefficients are allowed.
    assert!(d().style_precision(0.0).check().is_ok());
    assert_eq!(
        d(),
        StyleBtParams {
            strength_precision: 0.01,
            offset_precision: 1.0,
            style_precision: 1.0,
            per_group_style: true,
            grad_tol: 1e-9,
            max_iters: 1000,
            level: 0.95,
        }
    );
}

#[test]
fn not_converged_names_max_iters_and_grad_tol() {
    let err = StyleBtParams::default()
        .max_iters(2)
        .fit(&fixture_data())
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("`max_iters` (now 2)"), "{msg}");
    assert!(msg.contains("`grad_tol` (now 1e-9)"), "{msg}");
    match err {
        Error::Context { source, .. } => {
            assert!(matches!(*source, Error::NotConverged { iters: 2, .. }))
        }
        other => panic!("expected Context, got {other:?}"),
    }
}

/// Unpenalised style coefficients of a group without observations are not identified:
/// the error says which setting fixes it.
#[test]
fn unidentified_style_is_an_error() {
    let d = build(vec![
        obs(0, 0, 1, 1.0, vec![0.1, 0.2]),
        obs(0, 1, 2, 0.0, vec![-0.3, 0.5]),
        obs(0, 2, 0, 0.5, vec![0.4, -0.1]),
    ])
    .unwrap();
    let msg = StyleBtParams::default()
        .style_precision(0.0)
        .fit(&d)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("style_precision > 0"), "{msg}");
    // With the default ridge the same data fit, and the empty group's β stays 0.
    let fit = StyleBtParams::default().fit(&d).unwrap();
    assert_eq!(fit.style[1], vec![0.0, 0.0]);
}
