//! Online Elo against FastChat's `compute_elo`, re-run in Python on the same files.
//!
//! Reference snippet (python3, the loop of fastchat/serve/monitor/elo_analysis.py):
//! ```python
//! import json
//! from collections import defaultdict
//! def compute_elo(rows, K=4, SCALE=400, BASE=10, INIT_RATING=1000):
//!     rating = defaultdict(lambda: INIT_RATING)
//!     for model_a, model_b, winner in rows:
//!         ra = rating[model_a]; rb = rating[model_b]
//!         ea = 1 / (1 + BASE ** ((rb - ra) / SCALE))
//!         eb = 1 / (1 + BASE ** ((ra - rb) / SCALE))
//!         if winner == "model_a": sa = 1
//!         elif winner == "model_b": sa = 0
//!         elif winner in ("tie", "tie (bothbad)"): sa = 0.5
//!         else: raise Exception(winner)
//!         rating[model_a] += K * (sa - ea)
//!         rating[model_b] += K * (1 - sa - eb)
//!     return dict(rating)
//! def load(p):
//!     out = []
//!     for l in open(p):
//!         r = json.loads(l)
//!         a = r.get("model_a", r.get("a")); b = r.get("model_b", r.get("b")); w = r["winner"]
//!         out.append((a, b, {"a": "model_a", "b": "model_b"}.get(w, w)))
//!     return out
//! for k, v in compute_elo(load(PATH)).items(): print(k, repr(v))
//! ```

use pref_data::{paths::shared_data_dir, BattleTable, Winner};
use pref_rank::{EloParams, Error, ParamGuard};

fn fixtures() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn assert_ratings(got: &pref_rank::Ratings, want: &[(&str, f64)]) {
    assert_eq!(got.len(), want.len());
    // Same order as FastChat's dict: first appearance.
    for ((m, v), (wm, wv)) in got.iter().zip(want) {
        assert_eq!(m, *wm);
        assert!((v - wv).abs() < 1e-9, "{m}: {v} vs FastChat {wv}");
    }
}

#[test]
fn matches_fastchat_on_fixture_with_ties() {
    let t = BattleTable::read(fixtures().join("battles.jsonl")).unwrap();
    let r = EloParams::default().fit(&t).unwrap();
    // PATH = fixtures/battles.jsonl (300 battles, 37 ties)
    assert_ratings(
        &r,
        &[
            ("cedar-3b", 955.3645440123653),
            ("birch-13b", 998.9689355333277),
            ("ember-70b", 1062.6374900732776),
            ("atlas-7b", 1063.604805858423),
            ("dune-1b", 919.4242245226077),
        ],
    );
}

#[test]
fn matches_fastchat_on_real_llm_judge_battles() {
    let Some(dir) = shared_data_dir() else { return };
    let t =
        BattleTable::read(dir.join("arena_battles/cnn_selfpref_llm_judge_battles.jsonl")).unwrap();
    assert_eq!(t.len(), 12_000);
    let r = EloParams::default().fit(&t).unwrap();
    // PATH = ../shared/data/arena_battles/cnn_selfpref_llm_judge_battles.jsonl
    assert_ratings(
        &r,
        &[
            ("gpt4", 1001.2080397972795),
            ("human", 999.6666684416139),
            ("claude", 1000.3109309754168),
            ("gpt35", 1000.4191410706521),
            ("llama", 998.3952197150335),
        ],
    );
}

#[test]
fn fastchat_json_array_with_bothbad_ties() {
    // The FastChat-field fixture spells ties `tie (bothbad)`; they must count ½.
    let t = BattleTable::read(fixtures().join("battles_fastchat.json")).unwrap();
    let p = EloParams::default().check().unwrap();
    let r = p.fit(&t);
    // Recompute by hand with the documented rule, including E_b from its own power.
    let mut want = vec![1000.0; t.models.len()];
    for k in 0..t.len() {
        let (a, b) = (t.a[k] as usize, t.b[k] as usize);
        let (ra, rb) = (want[a], want[b]);
        let ea = 1.0 / (1.0 + 10f64.powf((rb - ra) / 400.0));
        let eb = 1.0 / (1.0 + 10f64.powf((ra - rb) / 400.0));
        let sa = match t.winner[k] {
            Winner::A => 1.0,
            Winner::B => 0.0,
            Winner::Tie => 0.5,
        };
        want[a] += 4.0 * (sa - ea);
        want[b] += 4.0 * (1.0 - sa - eb);
    }
    assert_eq!(r.values, want);
    assert!(t.winner.contains(&Winner::Tie));
}

#[test]
fn zero_k_keeps_init_and_sum_is_conserved() {
    let t = BattleTable::read(fixtures().join("battles.jsonl")).unwrap();
    let r = EloParams::default().k(0.0).init(1500.0).fit(&t).unwrap();
    assert!(r.values.iter().all(|&v| v == 1500.0));
    // E_a + E_b = 1, so every update moves the two ratings by opposite amounts.
    let r = EloParams::default().fit(&t).unwrap();
    let total: f64 = r.values.iter().sum();
    assert!((total - 5000.0).abs() < 1e-9, "{total}");
}

#[test]
fn invalid_params_are_named() {
    for (p, name) in [
        (EloParams::default().k(-1.0), "k"),
        (EloParams::default().scale(0.0), "scale"),
        (EloParams::default().base(1.0), "base"),
        (EloParams::default().init(f64::NAN), "init"),
    ] {
        match p.check() {
            Err(Error::InvalidParam { name: n, .. }) => assert_eq!(n, name),
            other => panic!("{name}: {other:?}"),
        }
    }
}
