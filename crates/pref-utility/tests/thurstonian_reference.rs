//! The Thurstonian fit, metrics and standard errors against an independent
//! SciPy implementation of the same objective.
//!
//! Reference: `python3 tests/data/ref_thurstonian.py` (numpy 2.4.6, scipy 1.17.1):
//! scipy.optimize L-BFGS-B on the same negative log-posterior with tolerances
//! 1e-16, then three Newton steps with a finite-difference Hessian; standard
//! errors from the inverse of that finite-difference Hessian and a numerical
//! Jacobian of the gauge fix (no analytic Hessian, no deflation). The script,
//! verbatim, is reproduced below.

// import json, sys
// import numpy as np
// from scipy.special import log_ndtr, ndtr
// from scipy.optimize import minimize, check_grad
//
// def load(path):
//     out = []
//     for line in open(path):
//         if not line.strip():
//             continue
//         r = json.loads(line)
//         if "p_a" in r:
//             ca, cb = r["p_a"] * r["n"], (1 - r["p_a"]) * r["n"]
//         else:
//             ca, cb = r["count_a"], r["count_b"]
//         out.append((r["a"], r["b"], float(ca), float(cb)))
//     return out
//
// def fit(rows, mu_sd=5.0, s_sd=1.0, weighting="counts"):
//     items = list(dict.fromkeys(x for r in rows for x in r[:2]))
//     ix = {k: i for i, k in enumerate(items)}
//     a = np.array([ix[r[0]] for r in rows]); b = np.array([ix[r[1]] for r in rows])
//     ca = np.array([r[2] for r in rows]); cb = np.array([r[3] for r in rows])
//     if weighting == "per-pair":
//         nn = ca + cb; ca, cb = ca / nn, cb / nn
//     W = (ca + cb).sum(); n = len(items)
//     pm = 1 / mu_sd**2 if mu_sd else 0.0
//     ps = 1 / s_sd**2 if s_sd else 0.0
//     def total(th):  # summed negative log-posterior
//         mu, s = th[0::2], th[1::2]
//         z = (mu[a] - mu[b]) / np.sqrt(np.exp(s[a]) + np.exp(s[b]) + 1e-5)
//         return -(ca * log_ndtr(z) + cb * log_ndtr(-z)).sum() + 0.5 * pm * (mu**2).sum() + 0.5 * ps * (s**2).sum()
//     def grad_total(th):
//         mu, s = th[0::2], th[1::2]
//         e = np.exp(s); v = e[a] + e[b] + 1e-5; z = (mu[a] - mu[b]) / np.sqrt(v)
//         lpdf = -0.5 * z**2 - 0.5 * np.log(2 * np.pi)
//         dz = -ca * np.exp(lpdf - log_ndtr(z)) + cb * np.exp(lpdf - log_ndtr(-z))
//         g = np.zeros(2 * n)
//         np.add.at(g, 2 * a, dz / np.sqrt(v)); np.add.at(g, 2 * b, -dz / np.sqrt(v))
//         dv = dz * (-0.5 * z / v)
//         np.add.at(g, 2 * a + 1, dv * e[a]); np.add.at(g, 2 * b + 1, dv * e[b])
//         g[0::2] += pm * mu; g[1::2] += ps * s
//         return g
//     rng = np.random.default_rng(0)
//     th0 = rng.normal(size=2 * n) * 0.01
//     tp = th0 + rng.normal(size=2 * n)
//     assert check_grad(total, grad_total, tp) < 1e-6 * np.linalg.norm(grad_total(tp))
//     r = minimize(lambda t: total(t) / W, th0, jac=lambda t: grad_total(t) / W, method="L-BFGS-B",
//                  options=dict(maxiter=100000, maxfun=100000, ftol=1e-16, gtol=1e-13))
//     th = r.x
//     # Newton polish with a finite-difference Hessian of the analytic gradient.
//     def hess(th, h=1e-5):
//         H = np.zeros((2 * n, 2 * n))
//         for k in range(2 * n):
//             e = np.zeros(2 * n); e[k] = h
//             H[:, k] = (grad_total(th + e) - grad_total(th - e)) / (2 * h)
//         return 0.5 * (H + H.T)
//     for _ in range(3):
//         H = hess(th)
//         step = np.linalg.lstsq(H, grad_total(th), rcond=None)[0]
//         th = th - step
//     g = grad_total(th) / W
//     def gauge(mu_raw):
//         return (mu_raw - mu_raw.mean()) / mu_raw.std(ddof=1)
//     mu_raw, s = th[0::2], th[1::2]
//     sd = mu_raw.std(ddof=1)
//     mu = gauge(mu_raw); s2 = np.exp(s) / sd**2
//     # SEs: delta method through the gauge with a numerical Jacobian.
//     H = hess(th)
//     Sigma = np.linalg.inv(H)[0::2, 0::2]
//     J = np.zeros((n, n))
//     for k in range(n):
//         e = np.zeros(n); e[k] = 1e-6
//         J[:, k] = (gauge(mu_raw + e) - gauge(mu_raw - e)) / 2e-6
//     se = np.sqrt(np.diag(J @ Sigma @ J.T))
//     return dict(items=items, mu=mu, s2=s2, se=se, obj=total(th) / W, gnorm=np.linalg.norm(g), nit=r.nit)
//
// def evaluate(model, rows):
//     ix = {k: i for i, k in enumerate(model["items"])}
//     mu, s2 = model["mu"], model["s2"]
//     ll = acc = accm = nt = m = 0
//     for (x, y, ca, cb) in rows:
//         i, j = ix[x], ix[y]
//         p = ndtr((mu[i] - mu[j]) / np.sqrt(s2[i] + s2[j] + 1e-5))
//         yv = ca / (ca + cb); pc = np.clip(p, 1e-5, 1 - 1e-5)
//         ll += -(yv * np.log(pc) + (1 - yv) * np.log(1 - pc))
//         acc += (p >= 0.5) == (yv >= 0.5)
//         if yv == 0.5: nt += 1
//         else: accm += (p >= 0.5) == (yv > 0.5)
//         m += 1
//     return dict(log_loss=ll / m, accuracy=acc / m, accuracy_majority=accm / (m - nt), n_pairs=m, n_ties=nt)
//
// if __name__ == "__main__":
//     np.set_printoptions(precision=17)
//     for name, path, kw in [
//         ("fixture", "/work/main/fixtures/pair_counts.jsonl", {}),
//         ("sim", "/work/main/crates/pref-utility/tests/data/sim_train.jsonl", {}),
//         ("sim_perpair", "/work/main/crates/pref-utility/tests/data/sim_train.jsonl", dict(mu_sd=3.0, s_sd=2.0, weighting="per-pair")),
//     ]:
//         rows = load(path)
//         m = fit(rows, **kw)
//         print("==", name, kw, "nit", m["nit"], "gnorm", m["gnorm"], "obj", repr(m["obj"]))
//         print("items", m["items"])
//         print("mu", [repr(float(x)) for x in m["mu"]])
//         print("s2", [repr(float(x)) for x in m["s2"]])
//         print("se", [repr(float(x)) for x in m["se"]])
//         print("train", evaluate(m, rows))
//         if name.startswith("sim"):
//             print("test", evaluate(m, load("/work/main/crates/pref-utility/tests/data/sim_test.jsonl")))

use pref_data::{read_records, PairCounts};
use pref_utility::{PairData, SeMethod, ThurstonianParams, Weighting};

fn dir() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data").to_string()
}

fn fixture(name: &str) -> String {
    format!("{}/../../fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn tight() -> ThurstonianParams {
    ThurstonianParams::default()
        .tol_cost(0.0)
        .tol_grad(1e-11)
        .max_iters(5000)
}

fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol * (1.0 + want.abs()),
        "{what}: got {got}, want {want}"
    );
}

#[allow(clippy::too_many_arguments)]
fn check_model(
    params: ThurstonianParams,
    data: &PairData,
    items: &[&str],
    mu: &[f64],
    s2: &[f64],
    se: &[f64],
    obj: f64,
) -> pref_utility::FittedThurstonian {
    let m = params.fit(data).unwrap();
    assert_eq!(m.items(), items);
    close(m.stats.objective, obj, 1e-12, "objective");
    for i in 0..items.len() {
        close(m.mu()[i], mu[i], 2e-6, &format!("mu[{}]", items[i]));
        close(m.sigma2()[i], s2[i], 2e-6, &format!("sigma2[{}]", items[i]));
    }
    let exact = m.mu_standard_errors(data, SeMethod::Exact).unwrap();
    assert_eq!(exact.method, SeMethod::Exact);
    for i in 0..items.len() {
        close(exact.mu_se[i], se[i], 1e-5, &format!("se[{}]", items[i]));
    }
    m
}

#[test]
fn fixture_fit_matches_scipy() {
    let recs: Vec<PairCounts> = read_records(fixture("pair_counts.jsonl")).unwrap();
    let data = PairData::from_pair_counts(&recs).unwrap();
    let m = check_model(
        tight(),
        &data,
        &FIX_ITEMS,
        &FIX_MU,
        &FIX_S2,
        &FIX_SE,
        FIX_OBJ,
    );
    // train: {'log_loss': 0.4386028860714842, 'accuracy': 0.9285714285714286,
    //         'accuracy_majority': 1.0, 'n_pairs': 28, 'n_ties': 2}
    let ev = m.evaluate(&recs).unwrap();
    close(ev.log_loss, 0.4386028860714842, 1e-8, "log_loss");
    assert_eq!(ev.accuracy, 26.0 / 28.0);
    assert_eq!(ev.accuracy_majority, 1.0);
    assert_eq!((ev.n_pairs, ev.n_ties, ev.n_empty), (28, 2, 0));
}

#[test]
fn simulated_fit_metrics_and_se_match_scipy() {
    let train: Vec<PairCounts> = read_records(format!("{}/sim_train.jsonl", dir())).unwrap();
    let test: Vec<PairCounts> = read_records(format!("{}/sim_test.jsonl", dir())).unwrap();
    let data = PairData::from_pair_counts(&train).unwrap();
    let m = check_model(
        tight(),
        &data,
        &SIM_ITEMS,
        &SIM_MU,
        &SIM_S2,
        &SIM_SE,
        SIM_OBJ,
    );
    // train: {'log_loss': 0.40040688999061214, 'accuracy': 0.93125,
    //         'accuracy_majority': 0.9539473684210527, 'n_pairs': 160, 'n_ties': 8}
    let ev = m.evaluate_data(&data).unwrap();
    close(ev.log_loss, 0.40040688999061214, 1e-8, "train log_loss");
    assert_eq!(ev.accuracy, 0.93125);
    assert_eq!(ev.accuracy_majority, 145.0 / 152.0);
    assert_eq!((ev.n_pairs, ev.n_ties), (160, 8));
    // test: {'log_loss': 0.48985610465066015, 'accuracy': 0.8333333333333334,
    //        'accuracy_majority': 0.8727272727272727, 'n_pairs': 60, 'n_ties': 5}
    let ev = m.evaluate(&test).unwrap();
    close(ev.log_loss, 0.48985610465066015, 1e-8, "test log_loss");
    assert_eq!(ev.accuracy, 50.0 / 60.0);
    assert_eq!(ev.accuracy_majority, 48.0 / 55.0);
    assert_eq!((ev.n_pairs, ev.n_ties), (60, 5));
}

#[test]
fn per_pair_weighting_matches_scipy() {
    let train: Vec<PairCounts> = read_records(format!("{}/sim_train.jsonl", dir())).unwrap();
    let test: Vec<PairCounts> = read_records(format!("{}/sim_test.jsonl", dir())).unwrap();
    let data = PairData::from_pair_counts(&train).unwrap();
    let params = tight()
        .weighting(Weighting::PerPair)
        .mu_prior_sd(Some(3.0))
        .s_prior_sd(Some(2.0));
    let m = check_model(params, &data, &SIM_ITEMS, &PP_MU, &PP_S2, &PP_SE, PP_OBJ);
    // test: {'log_loss': 0.48094092591122095, 'accuracy': 0.85,
    //        'accuracy_majority': 0.8909090909090909, 'n_pairs': 60, 'n_ties': 5}
    let ev = m.evaluate(&test).unwrap();
    close(ev.log_loss, 0.48094092591122095, 1e-8, "test log_loss");
    assert_eq!(ev.accuracy, 0.85);
    assert_eq!(ev.accuracy_majority, 49.0 / 55.0);
}

#[test]
fn default_tolerances_reach_the_same_optimum() {
    // The defaults stop much earlier than the reference test's; the utilities
    // must still agree with SciPy's optimum to well below their standard errors.
    let train: Vec<PairCounts> = read_records(format!("{}/sim_train.jsonl", dir())).unwrap();
    let data = PairData::from_pair_counts(&train).unwrap();
    let m = ThurstonianParams::default().fit(&data).unwrap();
    assert!(m.stats.converged, "{:?}", m.stats);
    let worst = (0..SIM_MU.len())
        .map(|i| (m.mu()[i] - SIM_MU[i]).abs() / SIM_SE[i])
        .fold(0.0f64, f64::max);
    eprintln!("largest |Δμ|/SE at the default tolerances: {worst:e}");
    // Measured: 7.5e-3 of a standard error (tol_cost = 1e-7 per comparison).
    assert!(worst < 0.02, "largest |Δμ|/SE = {worst}");
}

#[test]
fn diagonal_standard_errors_track_the_exact_ones() {
    let train: Vec<PairCounts> = read_records(format!("{}/sim_train.jsonl", dir())).unwrap();
    let data = PairData::from_pair_counts(&train).unwrap();
    let m = tight().fit(&data).unwrap();
    let diag = m.mu_standard_errors(&data, SeMethod::Diagonal).unwrap();
    // Sparse graph (mean degree 10.7): the approximation is within 25% of the exact SEs.
    let ratios: Vec<f64> = diag.mu_se.iter().zip(SIM_SE).map(|(d, e)| d / e).collect();
    let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ratios.iter().copied().fold(0.0f64, f64::max);
    eprintln!("diagonal / exact standard errors: {lo:.3} .. {hi:.3}");
    assert!(lo > 0.75 && hi < 1.25, "diagonal/exact in {lo} .. {hi}");
    assert_eq!(
        m.mu_standard_errors(&data, SeMethod::Auto).unwrap().method,
        SeMethod::Exact
    );
}

// Reference values printed by the script above.
const FIX_ITEMS: [&str; 8] = [
    "task-0", "task-1", "task-2", "task-3", "task-4", "task-5", "task-6", "task-7",
];

const FIX_MU: [f64; 8] = [
    -0.979499967482938,
    -1.3481604534422267,
    -0.5684314481156136,
    -0.3282851499184206,
    0.3140579815033937,
    0.3727399674299691,
    0.8595606948578494,
    1.678018375167987,
];

const FIX_S2: [f64; 8] = [
    0.4930405479895102,
    1.3504571604768172,
    0.9539820603013384,
    0.37945448837252493,
    1.4063032569209701,
    0.5029628686682265,
    0.6176003039241719,
    0.620406972439168,
];

const FIX_SE: [f64; 8] = [
    0.20302806493018138,
    0.263289712265933,
    0.20860009518490594,
    0.1926530294923383,
    0.2167666924735021,
    0.1966026120211531,
    0.20339242306279012,
    0.21791077170546808,
];

const FIX_OBJ: f64 = 0.442243566791907;

const SIM_ITEMS: [&str; 30] = [
    "o14", "o13", "o01", "o15", "o04", "o20", "o12", "o16", "o18", "o03", "o29", "o21", "o26",
    "o07", "o05", "o09", "o00", "o24", "o06", "o23", "o17", "o25", "o11", "o19", "o27", "o28",
    "o08", "o10", "o02", "o22",
];

const SIM_MU: [f64; 30] = [
    -1.0616169866405412,
    -0.6792160627418481,
    -0.5487652942518265,
    -1.8027044225368518,
    0.5431003132156026,
    0.6231307220073975,
    1.0929412712570128,
    -0.518152635125308,
    1.7082165028393492,
    -1.7267179819438618,
    -0.12205951199998429,
    -0.8041322715753528,
    1.2320537137732142,
    0.3223789452164467,
    -0.0681605542500573,
    -0.10081122740787593,
    0.0697621469976865,
    0.586994713766992,
    -0.7173932513629632,
    -0.7657530748016931,
    0.5438351604868222,
    -0.02917732042329209,
    0.7477226934280929,
    0.32217726874082064,
    0.6593786747715605,
    2.2247203781067637,
    -2.2049856778080934,
    -0.22607634167911142,
    -0.18185697709251844,
    0.8811670870334163,
];

const SIM_S2: [f64; 30] = [
    0.5390561210247921,
    0.2969749907837285,
    0.37736852230932266,
    1.0919436863168133,
    1.0702905334026755,
    1.2771133469733005,
    0.22211174248208596,
    0.5015541070263358,
    0.5631731289350987,
    0.23142944402870413,
    1.133078463984974,
    0.35642780445639427,
    0.28520220291176757,
    0.37012116568901204,
    0.6969713557263115,
    0.3031211970319374,
    0.42195880732586166,
    0.595498507542842,
    0.22078488067717003,
    0.9653132837575481,
    0.7037518970788936,
    1.29132825775693,
    1.109072494617024,
    0.3998842179962951,
    0.19635686821485948,
    0.32530169013877785,
    0.4084429603698629,
    0.2758151529708793,
    1.6446906131319758,
    0.3483189068046018,
];

const SIM_SE: [f64; 30] = [
    0.1428161801166581,
    0.17226983389090228,
    0.188217316350063,
    0.29637509795954586,
    0.1966549043682927,
    0.16239911594095893,
    0.1530885801213706,
    0.1708588747013348,
    0.31644732953303595,
    0.20392302998221548,
    0.17020127427470533,
    0.23402671401683361,
    0.14177340084481732,
    0.17658781547556396,
    0.18243024864765314,
    0.1266852987113871,
    0.13563570478840056,
    0.14454232655224866,
    0.16301768132849825,
    0.1631999763904263,
    0.22182465879469937,
    0.16205755784268816,
    0.4538537866728161,
    0.17745308120418515,
    0.13501732765762112,
    0.29357755694251414,
    0.33630968087034413,
    0.19360519763946316,
    0.28906515265240806,
    0.3349576612831957,
];

const SIM_OBJ: f64 = 0.40458557409205;

const PP_MU: [f64; 30] = [
    -1.081704531448848,
    -0.7274118751756827,
    -0.5092617482192612,
    -1.6775271266892937,
    0.5379472302360823,
    0.5942439038103436,
    1.1488862305350738,
    -0.5836031403728887,
    1.729337451000535,
    -1.7988697986619087,
    -0.11617287498269646,
    -0.8186824800026523,
    1.2817349351438938,
    0.3471496375098727,
    -0.1095270233375682,
    -0.07218277028871697,
    0.043836335609070506,
    0.5918345813001012,
    -0.7221914797344026,
    -0.7487895393017927,
    0.5291151685029301,
    -0.033509743021934685,
    0.6593487147947407,
    0.38074216574970104,
    0.650349121766225,
    2.293768625486276,
    -2.1520496561496216,
    -0.24394695582759843,
    -0.1316125192290179,
    0.7387491609990383,
];

const PP_S2: [f64; 30] = [
    0.5718545645643007,
    0.5103744918393786,
    0.5107124099719076,
    0.9189560237840921,
    1.0170407785530096,
    1.1913060560366893,
    0.4029456302634087,
    0.6396261663926616,
    0.6112950152498221,
    0.45574720986244727,
    1.096337012610447,
    0.5242838321577427,
    0.4828689234765294,
    0.5607799206385033,
    0.7682093474365661,
    0.47826213920118044,
    0.5526209983007084,
    0.761745530814921,
    0.47308539129204025,
    0.9378553418826003,
    0.7711676274393443,
    1.1406508975706817,
    0.9893412259626754,
    0.6393922872250589,
    0.40103838922348756,
    0.48446337781861887,
    0.5228705964414024,
    0.5478462074413368,
    1.4028593043416886,
    0.6514217071626868,
];

const PP_SE: [f64; 30] = [
    0.4478600158689472,
    0.5527360196387588,
    0.6168047217128338,
    0.7177924707602485,
    0.6147675343539809,
    0.5014175479825207,
    0.48844731899718646,
    0.5351604188463347,
    0.7287123688866586,
    0.6033745452610323,
    0.5324666223036082,
    0.6932889032435314,
    0.46552218791361577,
    0.566638517939482,
    0.5637268133236368,
    0.410937439015835,
    0.44421498544727744,
    0.48167011244115404,
    0.552891339218247,
    0.5163034660306196,
    0.7150402924857966,
    0.5001864144647385,
    1.0320884121522902,
    0.6057147447313982,
    0.44818379549622855,
    0.7125883376303854,
    0.8000761324091479,
    0.6876393144417872,
    0.818641197534705,
    1.0456121466356696,
];

const PP_OBJ: f64 = 0.4217743563412048;

#[test]
fn a_cycle_of_near_ties_tells_no_items_apart() {
    // x0 ≻ x1 5.5:5, x2 ≻ x0 5:4.5, x1 ≻ x2 6.5:6 (found by the relabelling
    // property test). Every direction is a cycle, so the optimum is μ = 0, s = 0
    // (the priors' centre), every P = ½ and the objective ln 2 per comparison;
    // SciPy from five random starts (the script above, this data):
    //   r = minimize(lambda t: total(t) / W, rng(seed).normal(size=6), method="L-BFGS-B",
    //                options=dict(ftol=1e-16, gtol=1e-13, maxiter=100000))
    //   r.fun - np.log(2) in [2.4e-15, 5.4e-14]; raw μ sd in [5.4e-9, 1.0e-7]; |s| < 7.4e-7.
    // The raw μ spread is optimiser noise: μ must come back ≈ 0, not rescaled to sd 1
    // (it was, so two fits of the same data relabelled reported different "utilities").
    // Standard errors then fix only the mean: sqrt(diag(P Σ_μμ P)), P = I − 11ᵀ/3, with
    // Σ the inverse of the script's finite-difference Hessian at the exact optimum θ = 0:
    //   H = hess(np.zeros(6)); S = np.linalg.inv(H)[0::2, 0::2]
    //   P = np.eye(3) - np.ones((3, 3)) / 3; np.sqrt(np.diag(P @ S @ P))
    const SE: [f64; 3] = [
        0.26397002859794994,
        0.24645774200912515,
        0.25243019707792336,
    ];
    let mut data = PairData::with_items(vec!["x0".into(), "x1".into(), "x2".into()]).unwrap();
    data.push(1, 0, 5.0, 5.5).unwrap();
    data.push(2, 0, 5.0, 4.5).unwrap();
    data.push(2, 1, 6.0, 6.5).unwrap();
    // (the default tolerances stop at 1.2e-7 above ln 2 with a raw μ spread of 3e-5).
    for (params, tol, obj_tol) in [
        (ThurstonianParams::default(), 1e-4, 1e-6),
        (tight(), 1e-7, 1e-13),
        (tight().seed(3), 1e-7, 1e-13),
    ] {
        let m = params.fit(&data).unwrap();
        assert!(m.stats.converged, "{:?}", m.stats);
        close(
            m.stats.objective,
            std::f64::consts::LN_2,
            obj_tol,
            "objective",
        );
        for i in 0..3 {
            assert!(m.mu()[i].abs() < tol, "mu = {:?}", m.mu());
            close(m.sigma2()[i], 1.0, tol, "sigma2");
            for j in 0..3 {
                close(m.prob(i, j), 0.5, tol, "P");
            }
        }
        let se = m.mu_standard_errors(&data, SeMethod::Exact).unwrap();
        for (got, want) in se.mu_se.iter().zip(SE) {
            close(*got, want, 1e-5, "se");
        }
    }
}
