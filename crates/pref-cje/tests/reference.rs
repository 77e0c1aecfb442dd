//! Estimators against independent references (numpy, scikit-learn, scipy).
//!
//! Data and reference values: `tests/data/ref_basic.py` (run from tests/data; it
//! writes `small_logged.jsonl`, `small_fresh_a.jsonl`, `bandit.jsonl` and prints the
//! numbers below). Each block quotes the lines of the script that produced it.

use std::path::PathBuf;

use pref_cje::{
    bandit_estimates, read_bandit_rows, BanditParams, CjeData, CjeParams, Direction, EstimatorKind,
    FreshDraw, IsotonicFit,
};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn close(a: f64, b: f64, tol: f64) {
    assert!((a - b).abs() <= tol * (1.0 + b.abs()), "{a} vs {b}");
}

fn fit(estimators: &[EstimatorKind], clip: f64, fresh: bool) -> pref_cje::CjeResult {
    let mut d = CjeData::read(data("small_logged.jsonl")).unwrap();
    if fresh {
        let draws: Vec<FreshDraw> = pref_data::read_jsonl(data("small_fresh_a.jsonl")).unwrap();
        d.set_fresh_draws("a", &draws).unwrap();
        // Policy b reuses a's draws: only a's DR values are checked.
        d.set_fresh_draws("b", &draws).unwrap();
    }
    CjeParams {
        estimators: estimators.to_vec(),
        clip,
        ..CjeParams::default()
    }
    .check()
    .unwrap()
    .fit(&d)
    .unwrap()
}

// r = judge; w = exp(t - base); cluster_se(phi) = sqrt(G/(G-1) Σ_g (Σ_{i∈g} φ_i)² / n²)
// ips = mean(w r), φ = w r − ips;  snips = Σ w r / Σ w, φ = (w / mean w)(r − snips)
// clipped = mean(min(w, 1.5) r), φ = min(w, 1.5) r − clipped
// a ips 0.8737586413886973 se 0.298895203496541
// a snips 0.5019538196616397 se 0.06867361909903168
// a clipped(1.5) 0.45465823494358093 se 0.06071459631000526
// b ips 0.5118242293798263 se 0.05097574863059241
// b snips 0.4771585151023569 se 0.044045802530396964
// b clipped(1.5) 0.49796097201740624 se 0.045556972357252194
#[test]
fn ips_snips_clipped_match_numpy() {
    use EstimatorKind::*;
    let r = fit(&[Ips, Snips, ClippedIps], 1.5, false);
    let refs = [
        (
            "a",
            [
                (0.8737586413886973, 0.298895203496541),
                (0.5019538196616397, 0.06867361909903168),
                (0.45465823494358093, 0.06071459631000526),
            ],
        ),
        (
            "b",
            [
                (0.5118242293798263, 0.05097574863059241),
                (0.4771585151023569, 0.044045802530396964),
                (0.49796097201740624, 0.045556972357252194),
            ],
        ),
    ];
    for (p, vals) in refs {
        let e = &r.policies[p].estimates;
        for (name, (v, se)) in ["ips", "snips", "clipped-ips"].iter().zip(vals) {
            close(e[*name].estimate, v, 1e-12);
            close(e[*name].se, se, 1e-10);
            // No oracle labels: no calibration term.
            assert!(e[*name].se_oracle.is_none());
            let z = 1.959963984540054; // scipy.stats.norm.ppf(0.975)
            close(e[*name].ci_lower, v - z * se, 1e-10);
        }
    }
    assert_eq!(r.calibration.mode, pref_cje::CalibrationMode::JudgeAsReward);
}

// ess = w.sum()**2 / (n * (w**2).sum()); k = max(2, ceil(0.05 n)); ls = sort(l)[::-1]
// hill = 1 / mean(ls[:k] - ls[k]); max_w = max(w / mean w); share = max_w / n
// a ess 0.38590142843004754 hill 1.6202203499675945 max_w 7.357380354251574 share 0.18393450885628934
// b ess 0.9131216591068908 hill 6.727211570803944 max_w 1.951830184096654 share 0.04879575460241635
#[test]
fn diagnostics_match_numpy() {
    let r = fit(&[EstimatorKind::Snips], 100.0, false);
    let refs = [
        (
            "a",
            0.38590142843004754,
            1.6202203499675945,
            7.357380354251574,
            0.18393450885628934,
        ),
        (
            "b",
            0.9131216591068908,
            6.727211570803944,
            1.951830184096654,
            0.04879575460241635,
        ),
    ];
    for (p, ess, hill, mw, share) in refs {
        let d = &r.policies[p].diagnostics;
        close(d.ess_fraction, ess, 1e-12);
        close(d.hill_tail_index.unwrap(), hill, 1e-10);
        close(d.max_weight, mw, 1e-12);
        close(d.max_weight_share, share, 1e-12);
        assert_eq!(d.zero_logprob_rate, 0.0);
        assert!(!d.clone);
    }
    // Policy a: Hill < 2 and the largest weight holds 18% → warn, not refuse (ESS 0.39).
    let g = &r.policies["a"].gate;
    assert_eq!(g.status, pref_cje::GateStatus::Warn, "{g:?}");
    assert_eq!(g.reasons.len(), 2, "{g:?}");
    assert_eq!(r.policies["b"].gate.status, pref_cje::GateStatus::Ok);
}

// DR / TMLE restated with sklearn IsotonicRegression and scipy brentq (ref_basic.py,
// "DR and TMLE restated" block, the crate's fold assignment ported to Python):
// a dr(sklearn) 0.5149688053280961 se 0.05574047040764848
// a direct(sklearn) 0.51585 se 0.055613670933834625
// a tmle(sklearn) 0.5149908443925147 se 0.05583106847451939 eps -0.00497702156380459
#[test]
fn dr_and_tmle_match_sklearn_restatement() {
    use EstimatorKind::*;
    let r = fit(&[Dr, Tmle, Direct], 100.0, true);
    let e = &r.policies["a"].estimates;
    close(e["direct"].estimate, 0.51585, 1e-12);
    close(e["direct"].se, 0.055613670933834625, 1e-10);
    close(e["dr"].estimate, 0.5149688053280961, 1e-12);
    close(e["dr"].se, 0.05574047040764848, 1e-10);
    close(e["tmle"].estimate, 0.5149908443925147, 1e-9);
    close(e["tmle"].se, 0.05583106847451939, 1e-8);
    // DR needs fresh draws: asking for it on policy b (no draws) is an error.
    let d = CjeData::read(data("small_logged.jsonl")).unwrap();
    let err = CjeParams {
        estimators: vec![Dr],
        ..CjeParams::default()
    }
    .check()
    .unwrap()
    .fit(&d)
    .unwrap_err();
    assert!(
        err.to_string().contains("needs fresh draws of policy `a`"),
        "{err}"
    );
}

// ir = IsotonicRegression(increasing=inc, out_of_bounds="clip").fit(x, y, sample_weight=sw)
// ir.predict(q) for q = [0, .1, .15, .2, .3, .5, .6, .75, .9, 1]:
// inc: 0.3 0.3 0.40714285714285714 0.5142857142857143 ×4 0.5446428571428572 0.575 0.575
// dec: 0.55 ×4 0.5096491228070176 0.4894736842105263 ×5
#[test]
fn pava_matches_sklearn() {
    let x = [0.1, 0.2, 0.2, 0.35, 0.5, 0.5, 0.5, 0.7, 0.8, 0.95];
    let y = [0.3, 0.9, 0.1, 0.2, 0.8, 0.4, 0.5, 0.45, 0.6, 0.55];
    let sw = [1.0, 2.0, 1.0, 0.5, 1.0, 3.0, 1.0, 2.0, 1.0, 1.0];
    let q = [0.0, 0.1, 0.15, 0.2, 0.3, 0.5, 0.6, 0.75, 0.9, 1.0];
    let inc = [
        0.3,
        0.3,
        0.40714285714285714,
        0.5142857142857143,
        0.5142857142857143,
        0.5142857142857143,
        0.5142857142857143,
        0.5446428571428572,
        0.575,
        0.575,
    ];
    let dec = [
        0.55,
        0.55,
        0.55,
        0.55,
        0.5096491228070176,
        0.4894736842105263,
        0.4894736842105263,
        0.4894736842105263,
        0.4894736842105263,
        0.4894736842105263,
    ];
    for (dir, want) in [(Direction::Increasing, inc), (Direction::Decreasing, dec)] {
        let f = IsotonicFit::fit(&x, &y, Some(&sw), dir).unwrap();
        for (t, v) in q.iter().zip(want) {
            close(f.predict(*t), v, 1e-12);
        }
    }
}

// w = tprob / pscore; se(phi) = sqrt(var(phi, ddof=1) / m); λ = 2 for switch-dr
// bandit ipw 0.8436648188696733 0.19451002436710293
// bandit snipw 0.5726256277117129 0.05124750136305306
// bandit dr 0.5006996010998569 0.12514382768606566
// bandit sndr 0.49136165369560914 0.0930224030591087
// bandit switch-dr(2) 0.4785188860457371 0.0693759701217065
#[test]
fn bandit_estimators_match_numpy() {
    let rows = read_bandit_rows(data("bandit.jsonl")).unwrap();
    let e = bandit_estimates(
        &rows,
        &BanditParams {
            switch_lambda: 2.0,
            level: 0.95,
        },
    )
    .unwrap();
    for (name, v, se) in [
        ("ipw", 0.8436648188696733, 0.19451002436710293),
        ("snipw", 0.5726256277117129, 0.05124750136305306),
        ("dr", 0.5006996010998569, 0.12514382768606566),
        ("sndr", 0.49136165369560914, 0.0930224030591087),
        ("switch-dr", 0.4785188860457371, 0.0693759701217065),
    ] {
        close(e[name].estimate, v, 1e-12);
        close(e[name].se, se, 1e-10);
    }
    // λ = ∞ (default): Switch-DR is DR.
    let e = bandit_estimates(&rows, &BanditParams::default()).unwrap();
    close(e["switch-dr"].estimate, e["dr"].estimate, 1e-15);
}
