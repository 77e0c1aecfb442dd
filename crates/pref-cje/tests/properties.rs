//! Invariants of the isotonic fit and the estimators (proptest).

use std::collections::BTreeMap;

use pref_cje::{CjeData, CjeParams, Direction, IsotonicFit};
use pref_data::LoggedSample;
use proptest::prelude::*;

proptest! {
    // PAVA: monotone, and the weighted mean of the fitted values at the data equals
    // the weighted mean of y (each pooled block keeps its weighted mean).
    #[test]
    fn pava_is_monotone_and_mean_preserving(
        pts in prop::collection::vec((0u8..20, -5.0f64..5.0, 0.1f64..3.0), 1..60),
        inc in any::<bool>(),
    ) {
        let x: Vec<f64> = pts.iter().map(|p| p.0 as f64 / 19.0).collect();
        let y: Vec<f64> = pts.iter().map(|p| p.1).collect();
        let w: Vec<f64> = pts.iter().map(|p| p.2).collect();
        let dir = if inc { Direction::Increasing } else { Direction::Decreasing };
        let f = IsotonicFit::fit(&x, &y, Some(&w), dir).unwrap();
        for v in f.y.windows(2) {
            let ordered = if inc { v[0] <= v[1] + 1e-12 } else { v[0] + 1e-12 >= v[1] };
            prop_assert!(ordered, "not monotone: {:?}", v);
        }
        let sw: f64 = w.iter().sum();
        let my = y.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() / sw;
        let mf = x.iter().zip(&w).map(|(a, b)| f.predict(*a) * b).sum::<f64>() / sw;
        prop_assert!((my - mf).abs() < 1e-9);
    }

    // Shifting every target log-prob by a constant scales the raw weights: SNIPS,
    // calibrated IPS, ESS and the Hill index do not change; IPS scales by e^c.
    #[test]
    fn self_normalised_estimators_ignore_weight_scale(
        rows in prop::collection::vec((0.0f64..1.0, -3.0f64..3.0), 12..40),
        c in -2.0f64..2.0,
    ) {
        let make = |shift: f64| {
            let s: Vec<LoggedSample> = rows.iter().enumerate().map(|(i, &(j, l))| LoggedSample {
                prompt_id: format!("p{i}"),
                prompt: String::new(),
                response: String::new(),
                base_policy_logprob: -50.0,
                target_policy_logprobs: BTreeMap::from([("t".to_string(), -50.0 + l + shift)]),
                judge_score: j,
                oracle_label: None,
                metadata: None,
            }).collect();
            let d = CjeData::from_samples(&s).unwrap();
            CjeParams { folds: 3, ..CjeParams::default() }.check().unwrap().fit(&d).unwrap()
        };
        let (a, b) = (make(0.0), make(c));
        let (pa, pb) = (&a.policies["t"], &b.policies["t"]);
        for e in ["snips", "calibrated-ips"] {
            prop_assert!((pa.estimates[e].estimate - pb.estimates[e].estimate).abs() < 1e-9);
            prop_assert!((pa.estimates[e].se - pb.estimates[e].se).abs() < 1e-9);
        }
        prop_assert!((pa.diagnostics.ess_fraction - pb.diagnostics.ess_fraction).abs() < 1e-9);
        let ratio = pb.estimates["ips"].estimate / pa.estimates["ips"].estimate;
        prop_assert!((ratio - c.exp()).abs() < 1e-9 * c.exp());
    }
}

// A clone of the logging policy (weights exactly 1): every weighting estimator is
// the mean reward, the diagnostics say so, and the gate is ok.
#[test]
fn clone_policy_gives_mean_reward() {
    let s: Vec<LoggedSample> = (0..50)
        .map(|i| LoggedSample {
            prompt_id: format!("p{}", i / 2),
            prompt: String::new(),
            response: String::new(),
            base_policy_logprob: -10.0 - i as f64,
            target_policy_logprobs: BTreeMap::from([("clone".to_string(), -10.0 - i as f64)]),
            judge_score: (i * 7 % 50) as f64 / 50.0,
            oracle_label: None,
            metadata: None,
        })
        .collect();
    let mean = s.iter().map(|x| x.judge_score).sum::<f64>() / 50.0;
    let d = CjeData::from_samples(&s).unwrap();
    let r = CjeParams::default().check().unwrap().fit(&d).unwrap();
    let p = &r.policies["clone"];
    assert!(p.diagnostics.clone);
    assert_eq!(p.diagnostics.ess_fraction, 1.0);
    assert_eq!(p.gate.status, pref_cje::GateStatus::Ok);
    for e in ["ips", "snips", "clipped-ips", "calibrated-ips"] {
        assert!((p.estimates[e].estimate - mean).abs() < 1e-12, "{e}");
    }
}
