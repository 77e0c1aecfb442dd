//! Aggregation of comparisons and transitivity against a brute-force Python count.
//!
//! Data: `tests/data/comparisons.jsonl`, `tests/data/sim_train.jsonl` (from
//! `tests/data/gen_data.py`). Reference values: `tests/data/ref_counts.py`, verbatim:

// """Reference values of tests/counts_reference.rs: aggregation of comparisons.jsonl
// and transitivity of sim_train.jsonl and of the aggregated comparisons (pure Python,
// brute force over all item triples). Run from tests/data."""
// import itertools, json
// from collections import defaultdict
//
// # Aggregation: pool both orders and orientations; ties ½ each; null counted apart.
// pairs, order, unp, ties = {}, [], defaultdict(int), defaultdict(int)
// tot = defaultdict(int)
// for line in open("comparisons.jsonl"):
//     r = json.loads(line)
//     key = frozenset((r["a"], r["b"]))
//     if key not in pairs:
//         pairs[key] = [r["a"], r["b"], 0.0, 0.0]; order.append(key)
//     p = pairs[key]; flipped = p[0] != r["a"]
//     tot["n"] += 1
//     if r["choice"] is None:
//         unp[key] += 1; tot["unparseable"] += 1
//     elif r["choice"] == "tie":
//         ties[key] += 1; tot["ties"] += 1; p[2] += 0.5; p[3] += 0.5
//     else:
//         tot["decisive"] += 1
//         if (r["choice"] == "a") != flipped: p[2] += 1
//         else: p[3] += 1
// print("totals", dict(tot), "pairs", len(order))
// print("pairs", [(pairs[k][0], pairs[k][1], pairs[k][2], pairs[k][3], unp[k], ties[k]) for k in order])
//
// def load(path):
//     out = []
//     for line in open(path):
//         if line.strip():
//             r = json.loads(line)
//             ca, cb = (r["p_a"] * r["n"], (1 - r["p_a"]) * r["n"]) if "p_a" in r else (r["count_a"], r["count_b"])
//             out.append((r["a"], r["b"], ca, cb))
//     return out
//
// def transitivity(rows):
//     s = defaultdict(lambda: [0.0, 0.0])
//     for a, b, ca, cb in rows:
//         s[(a, b)][0] += ca; s[(a, b)][1] += cb
//         s[(b, a)][0] += cb; s[(b, a)][1] += ca
//     P = {k: v[0] / (v[0] + v[1]) for k, v in s.items() if v[0] + v[1] > 0}
//     items = sorted({x for k in P for x in k})
//     tri = dec = cyc = 0; soft = 0.0
//     for i, j, k in itertools.combinations(items, 3):
//         if (i, j) in P and (j, k) in P and (k, i) in P:
//             pij, pjk, pki = P[(i, j)], P[(j, k)], P[(k, i)]
//             tri += 1
//             soft += pij * pjk * pki + (1 - pij) * (1 - pjk) * (1 - pki)
//             if 0.5 not in (pij, pjk, pki):
//                 dec += 1
//                 cyc += (pij > 0.5) == (pjk > 0.5) == (pki > 0.5)
//     return dict(n_triads=tri, n_decisive=dec, n_cycles=cyc, soft=repr(soft / tri))
//
// print("sim_train", transitivity(load("sim_train.jsonl")))
// print("comparisons", transitivity([(p[0], p[1], p[2], p[3]) for p in pairs.values()]))

use pref_data::{read_records, Comparison, PairCounts};
use pref_utility::{aggregate_comparisons, transitivity, PairData, TriadSampling};

fn data(name: &str) -> String {
    format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn aggregation_matches_python() {
    let recs: Vec<Comparison> = read_records(data("comparisons.jsonl")).unwrap();
    let agg = aggregate_comparisons(&recs);
    // totals {'n': 120, 'decisive': 91, 'ties': 14, 'unparseable': 15} pairs 15
    assert_eq!(
        (
            agg.n_comparisons,
            agg.n_decisive,
            agg.n_ties,
            agg.n_unparseable
        ),
        (120, 91, 14, 15)
    );
    assert_eq!(agg.unparseable_rate(), 15.0 / 120.0);
    let want: [(&str, &str, f64, f64, u64, u64); 15] = [
        ("t2", "t5", 2.5, 5.5, 2, 1),
        ("t2", "t3", 5.0, 3.0, 1, 2),
        ("t4", "t1", 5.0, 2.0, 0, 0),
        ("t0", "t3", 5.0, 6.0, 2, 2),
        ("t2", "t4", 3.5, 2.5, 1, 1),
        ("t3", "t1", 2.0, 3.0, 2, 0),
        ("t2", "t1", 9.0, 7.0, 1, 2),
        ("t5", "t4", 3.0, 3.0, 0, 2),
        ("t0", "t1", 0.5, 4.5, 1, 1),
        ("t0", "t5", 3.0, 4.0, 1, 2),
        ("t3", "t4", 5.0, 4.0, 2, 0),
        ("t2", "t0", 2.0, 2.0, 0, 0),
        ("t4", "t0", 4.5, 4.5, 1, 1),
        ("t3", "t5", 1.0, 2.0, 0, 0),
        ("t1", "t5", 0.0, 1.0, 1, 0),
    ];
    assert_eq!(agg.pairs.len(), want.len());
    for (k, w) in want.iter().enumerate() {
        let p = &agg.pairs[k];
        assert_eq!(
            (
                p.a.as_str(),
                p.b.as_str(),
                p.count_a,
                p.count_b,
                agg.unparseable[k],
                agg.ties[k]
            ),
            *w,
            "pair {k}"
        );
    }
    // Every answer is accounted for: decisive + ties in the counts, the rest unparseable.
    let counted: f64 = agg.pairs.iter().map(PairCounts::n).sum();
    assert_eq!(counted, (agg.n_decisive + agg.n_ties) as f64);
}

#[test]
fn transitivity_matches_brute_force() {
    // sim_train {'n_triads': 232, 'n_decisive': 192, 'n_cycles': 2, 'soft': '0.08392241379310342'}
    let recs: Vec<PairCounts> = read_records(data("sim_train.jsonl")).unwrap();
    let d = PairData::from_pair_counts(&recs).unwrap();
    let t = transitivity(&d, TriadSampling::All);
    assert_eq!(
        (t.n_triads, t.n_decisive_triads, t.n_hard_cycles),
        (232, 192, 2)
    );
    assert_eq!(t.hard_cycle_rate, 2.0 / 192.0);
    assert!((t.soft_cycle_rate - 0.08392241379310342).abs() < 1e-14);
    assert_eq!(t.random_baseline, 0.25);
    assert!(!t.sampled);

    // comparisons {'n_triads': 20, 'n_decisive': 10, 'n_cycles': 1, 'soft': '0.24583874834656086'}
    let recs: Vec<Comparison> = read_records(data("comparisons.jsonl")).unwrap();
    let d = PairData::from_pair_counts(&aggregate_comparisons(&recs).pairs).unwrap();
    let t = transitivity(&d, TriadSampling::All);
    assert_eq!(
        (t.n_triads, t.n_decisive_triads, t.n_hard_cycles),
        (20, 10, 1)
    );
    assert!((t.soft_cycle_rate - 0.24583874834656086).abs() < 1e-14);
}

#[test]
fn sampled_transitivity_is_seeded_and_close_to_the_full_count() {
    let recs: Vec<PairCounts> = read_records(data("sim_train.jsonl")).unwrap();
    let d = PairData::from_pair_counts(&recs).unwrap();
    let s1 = transitivity(&d, TriadSampling::Random { n: 2000, seed: 1 });
    let s2 = transitivity(&d, TriadSampling::Random { n: 2000, seed: 1 });
    assert_eq!(s1, s2);
    assert!(s1.sampled);
    assert_eq!(s1.n_triads, 2000);
    // Sampling with replacement from the 232 observed triads: the soft rate is
    // within a few standard errors of the full value 0.0839.
    assert!(
        (s1.soft_cycle_rate - 0.08392241379310342).abs() < 0.02,
        "{}",
        s1.soft_cycle_rate
    );
}

/// Probability readout and position bias. Reference (Python, verbatim):
///
/// ```text
/// import math, statistics
/// recs = [("x","y","ab","a",-0.2,-1.9), ("x","y","ba","b",-0.4,-1.2), ("y","x","ab","a",-1.5,-0.3),
///         ("x","z","ab","tie",None,None), ("z","x","ba","b",-0.7,-0.7), ("x","z","ab",None,None,None),
///         ("y","z","ba","a",-2.5,-0.1)]
/// pairs, order, first = {}, [], []
/// for a, b, o, c, la, lb in recs:
///     key = frozenset((a, b))
///     if key not in pairs: pairs[key] = [a, b, 0.0, 0.0]; order.append(key)
///     p = pairs[key]; flipped = p[0] != a
///     if c is None: continue
///     pa = 1/(1+math.exp(lb-la)) if la is not None else {"a": 1.0, "b": 0.0, "tie": 0.5}[c]
///     ta, tb = (1-pa, pa) if flipped else (pa, 1-pa)
///     p[2] += ta; p[3] += tb
///     first.append(pa if o == "ab" else 1-pa)
/// m, sd, n = statistics.mean(first), statistics.stdev(first), len(first)
/// print([pairs[k] for k in order], n, m, m - 1.959963984540054*sd/n**.5, m + 1.959963984540054*sd/n**.5)
/// # [['x','y',2.3040339995430954,0.6959660004569046], ['x','z',1.0,1.0],
/// #  ['y','z',0.08317269649392238,0.9168273035060777]] 6 0.5506437956326521 0.3283379237276233 0.7729496675376808
/// ```
#[test]
fn probability_readout_and_position_bias_match_python() {
    use pref_data::{Choice, Comparison, Order};
    use pref_utility::{aggregate_comparisons_with, position_bias, Readout};
    let rec = |a: &str, b: &str, order, choice, la: Option<f64>, lb: Option<f64>| Comparison {
        a: a.into(),
        b: b.into(),
        order,
        choice,
        raw: String::new(),
        logprob_a: la,
        logprob_b: lb,
        model: "m".into(),
        template: "t".into(),
        sample: 0,
    };
    let recs = [
        rec("x", "y", Order::Ab, Some(Choice::A), Some(-0.2), Some(-1.9)),
        rec("x", "y", Order::Ba, Some(Choice::B), Some(-0.4), Some(-1.2)),
        rec("y", "x", Order::Ab, Some(Choice::A), Some(-1.5), Some(-0.3)),
        rec("x", "z", Order::Ab, Some(Choice::Tie), None, None),
        rec("z", "x", Order::Ba, Some(Choice::B), Some(-0.7), Some(-0.7)),
        rec("x", "z", Order::Ab, None, None, None),
        rec("y", "z", Order::Ba, Some(Choice::A), Some(-2.5), Some(-0.1)),
    ];
    let agg = aggregate_comparisons_with(&recs, Readout::Probability);
    let want = [
        ("x", "y", 2.3040339995430954, 0.6959660004569046),
        ("x", "z", 1.0, 1.0),
        ("y", "z", 0.08317269649392238, 0.9168273035060777),
    ];
    assert_eq!(agg.pairs.len(), 3);
    for (p, (a, b, ca, cb)) in agg.pairs.iter().zip(want) {
        assert_eq!((p.a.as_str(), p.b.as_str()), (a, b));
        assert!(
            (p.count_a - ca).abs() < 1e-12 && (p.count_b - cb).abs() < 1e-12,
            "{p:?}"
        );
    }
    assert_eq!(
        (agg.n_comparisons, agg.n_unparseable, agg.n_ties),
        (7, 1, 1)
    );
    // The choice readout ignores the log-probs: x ≻ y once (record 1), y ≻ x twice (2, 3).
    let hard = aggregate_comparisons_with(&recs, Readout::Choice);
    assert_eq!((hard.pairs[0].count_a, hard.pairs[0].count_b), (1.0, 2.0));

    let pb = position_bias(&recs, Readout::Probability).unwrap();
    assert_eq!(pb.n, 6);
    assert!((pb.share - 0.5506437956326521).abs() < 1e-12);
    assert!((pb.lower - 0.3283379237276233).abs() < 1e-12);
    assert!((pb.upper - 0.7729496675376808).abs() < 1e-12);
    assert!(position_bias(&recs[5..6], Readout::Choice).is_none());
}
