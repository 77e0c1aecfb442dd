//! Judge statistics (`pref_rank::judges`) against independent Python references.
//!
//! The numbers for the real shared file come from `tests/data/judges_reference.py`
//! (numpy 2.4.6, pandas 3.1.1, scipy 1.17.1, scikit-learn 1.9.1; run from the workspace
//! root); the small hand-made cases from the Python snippets next to them.

use std::collections::BTreeMap;

use pref_data::paths::shared_data_dir;
use pref_rank::judges::{
    against_reference, analyze, judge_point_ratings, judge_ratings, read_judge_decisions,
    self_bias, self_bias_vs_reference, win_share, win_share_grid, Estimate, JudgeAnalysisParams,
    JudgeDecision, SelfBiasVsReference, Winner,
};
use pref_rank::{Error, ParamGuard};

const C: f64 = 400.0 / std::f64::consts::LN_10;

fn dec(q: &str, a: &str, b: &str, w: &str, judge: &str, p: Option<f64>) -> JudgeDecision {
    JudgeDecision {
        question_id: q.into(),
        model_a: a.into(),
        model_b: b.into(),
        winner: Winner::parse(w).unwrap(),
        judge: judge.into(),
        order: None,
        choice_prob: p,
    }
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

fn assert_ci(e: &Estimate, min_width: f64, max_width: f64) {
    assert!(
        e.ci_lower <= e.estimate && e.estimate <= e.ci_upper,
        "interval {e:?} misses its estimate"
    );
    let w = e.ci_upper - e.ci_lower;
    assert!(
        (min_width..=max_width).contains(&w),
        "interval width {w} of {e:?} outside [{min_width}, {max_width}]"
    );
}

/// Hand-made decisions: judge J (also an author) with a tie, a missing choice_prob,
/// a repeated sample in one order and a question judged in one order only; judge K
/// never judges its own output.
///
/// ```python
/// D = [("q1","J","X","model_a","J",0.9),("q1","X","J","model_a","J",0.6),("q2","J","Y","tie","J",0.5),
///      ("q2","Y","J","model_b","J",None),("q3","J","X","model_b","J",0.7),("q3","X","J","model_b","J",0.8),
///      ("q3","X","J","model_a","J",0.55),("q4","J","Y","model_a","J",0.95),
///      ("q1","X","Y","model_a","K",None),("q1","Y","X","model_a","K",None),("q2","X","Y","tie","K",None)]
/// from statistics import mean
/// for j in "JK":
///     g=[d for d in D if d[4]==j]
///     win=lambda d: None if d[3]=="tie" else (d[1] if d[3]=="model_a" else d[2])
///     own=[d for d in g if j in d[1:3]]
///     sc=[0.5 if win(d) is None else float(win(d)==j) for d in own]
///     pp=[0.5 if win(d) is None else (d[5] if win(d)==j else 1-d[5]) for d in own if d[5] is not None]
///     first=[0.5 if d[3]=="tie" else float(d[3]=="model_a") for d in g]
///     cells={}
///     for d in g:
///         lo,hi=sorted(d[1:3]); cells.setdefault((d[0],lo,hi),([],[]))[0 if d[1]==lo else 1].append(win(d))
///     fl=[sum(a!=b for a in x for b in y)/(len(x)*len(y)) for x,y in cells.values() if x and y]
///     vs={}
///     for d,s in zip(own,sc): vs.setdefault(d[2] if d[1]==j else d[1],[]).append(s)
///     print(j, len(g), len(own), mean(sc) if sc else None, mean(pp) if pp else None, mean(first),
///           mean(fl) if fl else None, len(fl), {k:mean(v) for k,v in sorted(vs.items())})
/// # J 8 8 0.5625 0.6142857142857143 0.5625 0.8333333333333334 3 {'X': 0.4, 'Y': 0.8333333333333334}
/// # K 3 0 None None 0.8333333333333334 1.0 1 {}
/// ```
fn hand_made() -> Vec<JudgeDecision> {
    vec![
        dec("q1", "J", "X", "model_a", "J", Some(0.9)),
        dec("q1", "X", "J", "model_a", "J", Some(0.6)),
        dec("q2", "J", "Y", "tie", "J", Some(0.5)),
        dec("q2", "Y", "J", "model_b", "J", None),
        dec("q3", "J", "X", "model_b", "J", Some(0.7)),
        dec("q3", "X", "J", "model_b", "J", Some(0.8)),
        dec("q3", "X", "J", "model_a", "J", Some(0.55)),
        dec("q4", "J", "Y", "model_a", "J", Some(0.95)),
        dec("q1", "X", "Y", "model_a", "K", None),
        dec("q1", "Y", "X", "model_a", "K", None),
        dec("q2", "X", "Y", "tie", "K", None),
    ]
}

#[test]
fn hand_made_ties_flips_and_a_judge_without_own_decisions() {
    let a = analyze(&hand_made(), &JudgeAnalysisParams::default().bootstrap(200)).unwrap();
    assert_eq!(a.n_decisions, 11);
    assert_eq!(a.n_questions, 4);
    let j = &a.judges["J"];
    assert_eq!((j.n_decisions, j.n_own, j.ties, j.n_own_prob), (8, 8, 1, 7));
    let tol = 1e-12;
    assert!(close(j.self_preference.unwrap().estimate, 0.5625, tol));
    assert!(close(
        j.self_preference_prob.unwrap().estimate,
        0.6142857142857143,
        tol
    ));
    assert!(close(j.first_option_rate.estimate, 0.5625, tol));
    assert!(close(j.order_flip_rate.unwrap(), 0.8333333333333334, tol));
    assert_eq!(j.n_flip_cells, 3);
    assert_eq!(j.win_rate_vs.len(), 2);
    assert!(close(j.win_rate_vs["X"], 0.4, tol));
    assert!(close(j.win_rate_vs["Y"], 0.8333333333333334, tol));
    assert_eq!(j.n_vs["X"], 5);
    for e in [j.self_preference.unwrap(), j.first_option_rate] {
        assert!(e.ci_lower <= e.estimate && e.estimate <= e.ci_upper);
        assert!((0.0..=1.0).contains(&e.ci_lower) && (0.0..=1.0).contains(&e.ci_upper));
    }

    let k = &a.judges["K"];
    assert_eq!((k.n_decisions, k.n_own, k.n_own_prob), (3, 0, 0));
    assert!(k.self_preference.is_none() && k.self_preference_prob.is_none());
    assert!(k.win_rate_vs.is_empty());
    assert!(close(k.first_option_rate.estimate, 0.8333333333333334, tol));
    assert_eq!(k.order_flip_rate, Some(1.0));
    // Nulls, not NaN, not a panic, in the JSON.
    let v = serde_json::to_value(&a).unwrap();
    assert!(v["judges"]["K"]["self_preference"].is_null());
    assert!(v["judges"]["K"]["self_preference_prob"].is_null());
    assert_eq!(v["judges"]["K"]["win_rate_vs"], serde_json::json!({}));
}

#[test]
fn json_contract_field_order() {
    let a = analyze(&hand_made(), &JudgeAnalysisParams::default().bootstrap(10)).unwrap();
    let s = serde_json::to_string(&a).unwrap();
    assert!(s.starts_with(
        r#"{"judges":{"J":{"n_decisions":8,"n_own":8,"self_preference":{"estimate":"#
    ));
    let keys = [
        "\"n_decisions\"",
        "\"n_own\"",
        "\"self_preference\"",
        "\"self_preference_prob\"",
        "\"first_option_rate\"",
        "\"order_flip_rate\"",
        "\"win_rate_vs\"",
        "\"ties\"",
    ];
    let judge_k = &s[s.find("\"K\":").unwrap()..];
    let pos: Vec<usize> = keys.iter().map(|k| judge_k.find(k).unwrap()).collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{judge_k}");
    let e: serde_json::Value = serde_json::from_str(&s).unwrap();
    let sp = &e["judges"]["J"]["self_preference"];
    assert_eq!(
        sp.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["ci_lower", "ci_upper", "estimate"]
    );
}

#[test]
fn deterministic_for_a_seed_whatever_the_threads_and_input_order() {
    let d = hand_made();
    let p = JudgeAnalysisParams::default().bootstrap(300).seed(9);
    let run = |threads: usize, d: &[JudgeDecision]| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| analyze(d, &p).unwrap())
    };
    let one = run(1, &d);
    assert_eq!(one, run(2, &d));
    assert_eq!(one, run(3, &d));
    let mut rev = d.clone();
    rev.reverse();
    assert_eq!(one, run(2, &rev));
    let other = analyze(&d, &p.seed(10)).unwrap();
    assert_ne!(
        one.judges["J"].self_preference, other.judges["J"].self_preference,
        "a different seed should move the interval"
    );
}

#[test]
fn params_are_checked() {
    let d = hand_made();
    let bad = [
        (JudgeAnalysisParams::default().bootstrap(0), "bootstrap"),
        (JudgeAnalysisParams::default().level(1.0), "level"),
        (JudgeAnalysisParams::default().level(f64::NAN), "level"),
        (
            JudgeAnalysisParams::default().prior_precision(-1.0),
            "prior_precision",
        ),
    ];
    for (p, field) in bad {
        assert!(matches!(p.check(), Err(Error::InvalidParam { name, .. }) if name == field));
        let e = analyze(&d, &p).unwrap_err().to_string();
        assert!(e.contains(field), "{e}");
    }
    assert!(JudgeAnalysisParams::default().check().is_ok());
    assert!(analyze(&[], &JudgeAnalysisParams::default()).is_err());
    let mut same = d.clone();
    same[0].model_b = "J".into();
    let e = analyze(&same, &JudgeAnalysisParams::default()).unwrap_err();
    assert!(e.to_string().contains("decision 0: model_b"), "{e}");
}

#[test]
fn reader_reports_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let good = r#"{"question_id": "q1", "model_a": "x", "model_b": "y", "winner": "model_a", "judge": "x", "order": "forward", "choice_prob": 0.75}"#;
    let cases = [
        (
            r#"{"question_id": "q1", "model_a": "x", "model_b": "y", "winner": "model_a"}"#,
            "judge",
            "missing field `judge`",
        ),
        (
            r#"{"question_id": "q1", "model_a": "x", "model_b": "y", "winner": "model_a", "judge": "x", "choice_prob": 1.5}"#,
            "choice_prob",
            "must lie in [0, 1], got 1.5",
        ),
        (
            r#"{"question_id": "q1", "model_a": "x", "model_b": "y", "winner": "model_c", "judge": "x"}"#,
            "winner",
            "unknown variant `model_c`",
        ),
        (
            r#"{"question_id": "q1", "model_a": "x", "model_b": "x", "winner": "tie", "judge": "x"}"#,
            "model_b",
            "compares `x` with itself",
        ),
    ];
    for (i, (bad, field, msg)) in cases.iter().enumerate() {
        let p = dir.path().join(format!("d{i}.jsonl"));
        std::fs::write(&p, format!("{good}\n\n{bad}\n")).unwrap();
        let e = read_judge_decisions(&p).unwrap_err().to_string();
        let want = format!("{}:3: {field}: ", p.display());
        assert!(e.starts_with(&want), "{e}");
        assert!(e.contains(msg), "{e}");
    }
    // FastChat spellings, integer question ids (MT-Bench), and a null choice_prob.
    let p = dir.path().join("ok.jsonl");
    std::fs::write(
        &p,
        format!(
            "{good}\n{}\n",
            r#"{"question_id": 81, "model_a": "y", "model_b": "x", "winner": "tie (bothbad)", "judge": "gpt-4", "choice_prob": null}"#
        ),
    )
    .unwrap();
    let d = read_judge_decisions(&p).unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(d[1].question_id, "81");
    assert_eq!(d[1].winner, Winner::Tie);
    assert_eq!(d[1].choice_prob, None);
    assert_eq!(d[0].order.as_deref(), Some("forward"));
    // Written in FastChat's spelling, and read back through JSONL and Parquet.
    let line = serde_json::to_string(&d[0]).unwrap();
    assert!(line.contains(r#""winner":"model_a""#), "{line}");
    for name in ["back.jsonl", "back.parquet", "back.json"] {
        let q = dir.path().join(name);
        pref_data::write_records(&q, &d).unwrap();
        assert_eq!(read_judge_decisions(&q).unwrap(), d, "{name}");
    }
}

/// The real 12,000 decisions: point estimates exactly as pandas computes them
/// (`judges_reference.py`, part 1), intervals loosely against a numpy cluster
/// bootstrap with its own RNG (part 2, 1000 replicates).
#[test]
fn analyze_matches_pandas_on_the_shared_file() {
    let Some(dir) = shared_data_dir() else { return };
    let d = read_judge_decisions(dir.join("arena_battles/cnn_selfpref_llm_judge_battles.jsonl"))
        .unwrap();
    assert_eq!(d.len(), 12000);
    let a = analyze(&d, &JudgeAnalysisParams::default()).unwrap();
    assert_eq!(a.n_questions, 500);
    // (judge, self_preference, self_preference_prob, first_option_rate, order_flip_rate,
    //  win_rate_vs [(author, rate)]) from judges_reference.py (1).
    #[allow(clippy::type_complexity)]
    let want: [(&str, f64, f64, f64, f64, [(&str, f64); 4]); 3] = [
        (
            "gpt35",
            0.40475,
            0.4288913720308878,
            0.27925,
            0.5045,
            [
                ("claude", 0.401),
                ("gpt4", 0.211),
                ("human", 0.67),
                ("llama", 0.337),
            ],
        ),
        (
            "gpt4",
            0.9235,
            0.9136382934633747,
            0.4895,
            0.09,
            [
                ("claude", 0.855),
                ("gpt35", 0.963),
                ("human", 0.994),
                ("llama", 0.882),
            ],
        ),
        (
            "llama",
            0.4995,
            0.5055883567482233,
            0.9995,
            0.999,
            [
                ("claude", 0.5),
                ("gpt35", 0.499),
                ("gpt4", 0.499),
                ("human", 0.5),
            ],
        ),
    ];
    assert_eq!(a.judges.len(), 3);
    for (judge, sp, spp, first, flip, vs) in want {
        let s = &a.judges[judge];
        assert_eq!(
            (s.n_decisions, s.n_own, s.n_flip_cells, s.ties),
            (4000, 4000, 2000, 0)
        );
        let tol = 1e-12;
        assert!(
            close(s.self_preference.unwrap().estimate, sp, tol),
            "{judge}"
        );
        assert!(
            close(s.self_preference_prob.unwrap().estimate, spp, tol),
            "{judge}"
        );
        assert!(close(s.first_option_rate.estimate, first, tol), "{judge}");
        assert!(close(s.order_flip_rate.unwrap(), flip, tol), "{judge}");
        for (author, rate) in vs {
            assert!(
                close(s.win_rate_vs[author], rate, tol),
                "{judge} vs {author}"
            );
            assert_eq!(s.n_vs[author], 1000);
        }
    }
    // numpy cluster bootstrap (own RNG): 95% percentile intervals
    //   gpt35 self_preference [0.39, 0.4205], first_option_rate [0.26349, 0.295]
    //   gpt4  self_preference [0.9125, 0.93425], first_option_rate [0.4815, 0.49725]
    //   llama self_preference [0.4985, 0.5], first_option_rate [0.9985, 1.0]
    // Different random draws: bounds agree to Monte Carlo error (≈ 0.002 here).
    let py = [
        ("gpt35", [0.39, 0.4205], [0.26349, 0.295]),
        ("gpt4", [0.9125, 0.93425], [0.4815, 0.49725]),
        ("llama", [0.4985, 0.5], [0.9985, 1.0]),
    ];
    for (judge, sp, first) in py {
        let s = &a.judges[judge];
        for (e, want) in [
            (s.self_preference.unwrap(), sp),
            (s.first_option_rate, first),
        ] {
            assert_ci(&e, 0.0, 0.05);
            assert!(
                close(e.ci_lower, want[0], 0.004),
                "{judge} {e:?} vs {want:?}"
            );
            assert!(
                close(e.ci_upper, want[1], 0.004),
                "{judge} {e:?} vs {want:?}"
            );
        }
        for e in std::iter::once(s.self_preference_prob.unwrap())
            .chain(s.order_flip)
            .chain(s.win_rate_vs_ci.values().copied())
        {
            assert_ci(&e, 0.0, 0.12);
        }
    }
    // gpt35's self-preference is clearly uncertain, gpt4's clearly above ½.
    assert!(
        a.judges["gpt35"].self_preference.unwrap().ci_upper
            - a.judges["gpt35"].self_preference.unwrap().ci_lower
            > 0.01
    );
    assert!(a.judges["gpt4"].self_preference.unwrap().ci_lower > 0.9);
}

/// Generated decisions (also in the Python snippet): judge A compares A with B on 40
/// questions (A wins 30) and A with C (A wins 20); judge B compares B with A (B wins
/// 30) and B with C (B wins 10); orders alternate.
///
/// Both fits are star graphs, so the MLE is closed form (θ_A − θ_B = logit 3/4 = ln 3, …),
/// and sklearn agrees:
/// ```python
/// import math, numpy as np
/// from sklearn.linear_model import LogisticRegression
/// def gen():
///     rows=[]
///     for judge,x,y,tag,nwin in [("A","A","B","ab",30),("A","A","C","ac",20),("B","B","A","ba",30),("B","B","C","bc",10)]:
///         for k in range(40):
///             a,b=(x,y) if k%2==0 else (y,x)
///             rows.append((f"{tag}{k}",a,b,"model_a" if (a==x)==(k<nwin) else "model_b",judge))
///     return rows
/// R=gen()
/// def bt(sub):
///     models=sorted({r[1] for r in sub}|{r[2] for r in sub}); idx={m:i for i,m in enumerate(models)}
///     X=np.zeros((len(sub),len(models)))
///     for n,r in enumerate(sub): X[n,idx[r[1]]]=1; X[n,idx[r[2]]]=-1
///     y=np.array([r[3]=="model_a" for r in sub],int)
///     t=LogisticRegression(fit_intercept=False,C=np.inf,tol=1e-12,max_iter=10000).fit(X,y).coef_[0]
///     return {m:400/math.log(10)*t[i] for m,i in idx.items()}
/// for j in "AB":
///     own=bt([r for r in R if r[4]==j]); oth=bt([r for r in R if r[4]!=j]); sh=sorted(set(own)&set(oth))
///     a=own[j]-np.mean([own[m] for m in sh])+1000; b=oth[j]-np.mean([oth[m] for m in sh])+1000
///     print(j,a,b,a-b)
/// # A 1063.6161673044426 809.1514981123678 254.46466919207478
/// # B 1000.0 872.7676653903325 127.23233460966753
/// # closed form: A: 1000 + C ln3/3, 1000 − C ln3, C·4ln3/3; B: 1000, 1000 − C·2ln3/3, C·2ln3/3
/// ```
fn two_judges() -> Vec<JudgeDecision> {
    let mut rows = Vec::new();
    for (judge, x, y, tag, nwin) in [
        ("A", "A", "B", "ab", 30),
        ("A", "A", "C", "ac", 20),
        ("B", "B", "A", "ba", 30),
        ("B", "B", "C", "bc", 10),
    ] {
        for k in 0..40 {
            let (a, b) = if k % 2 == 0 { (x, y) } else { (y, x) };
            let w = if (a == x) == (k < nwin) {
                "model_a"
            } else {
                "model_b"
            };
            rows.push(dec(&format!("{tag}{k}"), a, b, w, judge, None));
        }
    }
    rows
}

#[test]
fn self_bias_closed_form_on_star_graphs() {
    let l3 = 3f64.ln();
    let p = JudgeAnalysisParams::default()
        .prior_precision(0.0)
        .bootstrap(200)
        .seed(3);
    let sb = self_bias(&two_judges(), &p).unwrap();
    assert!(sb.skipped.is_empty());
    let a = &sb.judges["A"];
    assert!(close(
        a.rating_by_self.estimate,
        1000.0 + C * l3 / 3.0,
        1e-6
    ));
    assert!(close(a.rating_by_others.estimate, 1000.0 - C * l3, 1e-6));
    assert!(close(a.self_bias.estimate, C * 4.0 * l3 / 3.0, 1e-6));
    // sklearn route: 1063.6161673044426, 809.1514981123678, 254.46466919207478
    assert!(close(a.self_bias.estimate, 254.46466919207478, 1e-6));
    let b = &sb.judges["B"];
    assert!(close(b.rating_by_self.estimate, 1000.0, 1e-6));
    assert!(close(b.rating_by_others.estimate, 872.7676653903325, 1e-6));
    assert!(close(b.self_bias.estimate, C * 2.0 * l3 / 3.0, 1e-6));
    assert_eq!(a.shared_authors, ["A", "B", "C"]);
    assert_eq!((a.n_self, a.n_others), (80, 80));
    // 40 questions per cell: intervals of tens to a few hundred Elo.
    for e in [
        a.rating_by_self,
        a.rating_by_others,
        a.self_bias,
        b.self_bias,
    ] {
        assert_ci(&e, 20.0, 600.0);
    }
    // Same result on one thread (replicate r always uses stream r), and for ratings too.
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    assert_eq!(one.install(|| self_bias(&two_judges(), &p).unwrap()), sb);
    let pr = p.prior_precision(0.01);
    assert_eq!(
        one.install(|| judge_ratings(&two_judges(), None, &pr).unwrap()),
        judge_ratings(&two_judges(), None, &pr).unwrap()
    );
    // The weak default prior barely moves the estimate.
    let sb2 = self_bias(&two_judges(), &p.prior_precision(0.01)).unwrap();
    assert!(close(
        sb2.judges["A"].self_bias.estimate,
        a.self_bias.estimate,
        1.0
    ));
}

#[test]
fn unidentifiable_fits_are_errors_or_regularised_never_nan() {
    // Judge A never loses against C in its own decisions.
    let mut d = two_judges();
    for r in d.iter_mut().filter(|r| r.question_id.starts_with("ac")) {
        r.winner = if r.model_a == "A" {
            Winner::A
        } else {
            Winner::B
        };
    }
    let p = JudgeAnalysisParams::default()
        .prior_precision(0.0)
        .bootstrap(20);
    let e = self_bias(&d, &p).unwrap_err().to_string();
    assert!(
        e.contains("self-bias of judge `A`: fit on its own decisions") && e.contains("never lost"),
        "{e}"
    );
    // With the documented weak prior: finite, and A's own rating far above the others'.
    let sb = self_bias(&d, &p.prior_precision(0.01)).unwrap();
    let a = &sb.judges["A"];
    for e in [a.rating_by_self, a.rating_by_others, a.self_bias] {
        assert!(e.estimate.is_finite() && e.ci_lower.is_finite() && e.ci_upper.is_finite());
    }
    assert!(a.self_bias.estimate > 300.0);

    // A disconnected comparison graph.
    let d2 = vec![
        dec("q1", "A", "B", "model_a", "A", None),
        dec("q2", "B", "A", "model_a", "A", None),
        dec("q3", "C", "D", "model_a", "C", None),
        dec("q4", "D", "C", "model_a", "C", None),
    ];
    let e = judge_ratings(&d2, None, &p).unwrap_err();
    assert!(e.to_string().contains("disconnected"), "{e}");
    // A judge that is not an author, and a single judge: skipped with a reason.
    let d3 = vec![
        dec("q1", "A", "B", "model_a", "K", None),
        dec("q1", "B", "A", "model_a", "K", None),
    ];
    let sb = self_bias(&d3, &p.prior_precision(0.01)).unwrap();
    assert!(sb.judges.is_empty());
    assert!(sb.skipped["K"].contains("never judged its own output"));
    // Unknown judge in the filter.
    let e = judge_ratings(&d2, Some(&["Z".to_string()]), &p).unwrap_err();
    assert!(e.to_string().contains("unknown model `Z`"), "{e}");
}

/// Bradley–Terry on the real file against sklearn's unpenalised logistic regression
/// (`judges_reference.py`, part 3), self-bias point estimates against the star-graph
/// closed form + sklearn, and the Arena comparison against scipy (part 4).
#[test]
fn ratings_self_bias_and_arena_on_the_shared_file() {
    let Some(dir) = shared_data_dir() else { return };
    let d = read_judge_decisions(dir.join("arena_battles/cnn_selfpref_llm_judge_battles.jsonl"))
        .unwrap();
    let mle = JudgeAnalysisParams::default()
        .prior_precision(0.0)
        .bootstrap(200);
    let r = judge_ratings(&d, None, &mle).unwrap();
    // (3) all judges: sklearn LogisticRegression(fit_intercept=False, C=inf, tol=1e-12)
    let want = [
        ("claude", 980.6290986314748),
        ("gpt35", 931.9642647320973),
        ("gpt4", 1229.49682798957),
        ("human", 864.5768900509611),
        ("llama", 993.3329185958969),
    ];
    assert_eq!(r.judges, ["gpt35", "gpt4", "llama"]);
    assert_eq!(
        (r.n_decisions, r.n_questions, r.bootstrap_undefined),
        (12000, 500, 0)
    );
    for (m, x) in want {
        let e = r.ratings[m];
        assert!(close(e.estimate, x, 1e-4), "{m}: {} vs {x}", e.estimate);
        assert_ci(&e, 5.0, 120.0);
    }
    // The default weak prior moves ratings by well under an Elo point.
    let r2 = judge_ratings(&d, None, &JudgeAnalysisParams::default().bootstrap(50)).unwrap();
    for (m, x) in want {
        assert!(close(r2.ratings[m].estimate, x, 0.2), "{m}");
    }
    // One judge only: gpt4's decisions. gpt4 lost to the human reference 6 times in
    // 1000 (python: part (1), win_rate_vs human 0.994), so some cluster-bootstrap
    // replicates have no such loss: the plain MLE then fails with a clear error, and the
    // default weak prior gives finite intervals.
    let gpt4 = ["gpt4".to_string()];
    let e = judge_ratings(&d, Some(&gpt4), &mle)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("ratings from the decisions of gpt4: bootstrap replicate")
            && e.contains("never lost")
            && e.contains("{human}"),
        "{e}"
    );
    let only = judge_ratings(
        &d,
        Some(&gpt4),
        &JudgeAnalysisParams::default().bootstrap(200),
    )
    .unwrap();
    assert_eq!(only.n_decisions, 4000);
    assert_eq!(only.ratings.len(), 5);
    for e in only.ratings.values() {
        assert_ci(e, 5.0, 1000.0);
    }
    // Point ratings are the full fits' numbers without the refits: the MLE on
    // gpt4's decisions exists (6 losses to the human reference) even though some
    // replicates' does not.
    assert_eq!(judge_point_ratings(&d, None, &mle).unwrap(), r.estimates());
    let dflt = JudgeAnalysisParams::default();
    assert_eq!(
        judge_point_ratings(&d, Some(&gpt4), &dflt).unwrap(),
        only.estimates()
    );
    let p4 = judge_point_ratings(&d, Some(&gpt4), &mle).unwrap();
    assert_eq!(p4.len(), 5);
    assert!(p4.iter().all(|(_, x)| x.is_finite()));
    assert!(
        p4.windows(2).all(|w| w[0].1 >= w[1].1),
        "best first: {p4:?}"
    );

    // (3) self-bias, centred on the five shared authors (MLE, 200 replicates).
    let sb = self_bias(&d, &JudgeAnalysisParams::default().bootstrap(200)).unwrap();
    let sb0 = self_bias(&d, &mle.bootstrap(20)).unwrap();
    let want = [
        (
            "gpt35",
            941.3280190086919,
            915.0144086836133,
            26.31361032507857,
        ),
        (
            "gpt4",
            1422.307550991208,
            1088.5491788106578,
            333.75837218055017,
        ),
        (
            "llama",
            999.722051160983,
            1010.9312884263348,
            -11.209237265351817,
        ),
    ];
    for (j, by_self, by_others, bias) in want {
        let s = &sb0.judges[j];
        assert!(close(s.rating_by_self.estimate, by_self, 1e-4), "{j}");
        assert!(close(s.rating_by_others.estimate, by_others, 1e-4), "{j}");
        assert!(close(s.self_bias.estimate, bias, 1e-4), "{j}");
        assert_eq!(
            s.shared_authors,
            ["claude", "gpt35", "gpt4", "human", "llama"]
        );
        let s = &sb.judges[j];
        assert!(close(s.self_bias.estimate, bias, 0.5), "{j}");
        assert_ci(&s.self_bias, 10.0, 200.0);
    }
    assert!(sb.judges["gpt4"].self_bias.ci_lower > 200.0);
    assert!(
        sb.judges["llama"].self_bias.ci_lower < 0.0
            && sb.judges["llama"].self_bias.ci_upper > -30.0
    );

    // (4) against the Arena overall ranking (2024-11-30), human reference missing.
    let arena = pref_data::loaders::load_leaderboard(
        dir.join("arena_battles/leaderboards/arena-catalog_overall_raw_ranking_20241130.csv"),
        None,
    )
    .unwrap();
    let reference: Vec<(String, f64)> = arena.into_iter().map(|e| (e.model, e.rating)).collect();
    let names: BTreeMap<String, String> = [
        ("gpt4", "gpt-4-1106-preview"),
        ("gpt35", "gpt-3.5-turbo-1106"),
        ("llama", "llama-2-7b-chat"),
        ("claude", "claude-2.1"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    let c = against_reference(&r.estimates(), &reference, &names).unwrap();
    assert_eq!(c.missing_from_reference, ["human"]);
    assert_eq!(c.n_matched, 4);
    // scipy: spearmanr 0.4 (p 0.6), kendalltau 1/3 (p 0.75)
    assert!(close(c.spearman.statistic, 0.4, 1e-12));
    assert!(close(c.spearman.pvalue, 0.6, 1e-9));
    assert!(close(c.kendall_tau.statistic, 1.0 / 3.0, 1e-12));
    assert!(close(c.kendall_tau.pvalue, 0.75, 1e-12));
    // centred differences: claude -52.95069020517076, gpt35 -51.28412403308789,
    //                      gpt4 63.22816016556749, llama 41.00665407269071
    let diff: BTreeMap<&str, f64> = c
        .matched
        .iter()
        .map(|m| (m.model.as_str(), m.difference))
        .collect();
    for (m, x) in [
        ("claude", -52.95069020517076),
        ("gpt35", -51.28412403308789),
        ("gpt4", 63.22816016556749),
        ("llama", 41.00665407269071),
    ] {
        assert!(close(diff[m], x, 1e-4), "{m}");
    }
    let gpt4 = c.matched.iter().find(|m| m.model == "gpt4").unwrap();
    assert_eq!(gpt4.reference_model, "gpt-4-1106-preview");
    // (4) reference: gpt-4-1106-preview 1250.9850706272618 in the overall ranking
    assert!(close(gpt4.reference, 1250.9850706272618, 1e-9));
}

#[test]
fn against_reference_lists_missing_models_and_rejects_ambiguity() {
    // scipy.stats.spearmanr([3, 2, 1], [30, 10, 20]) -> 0.5; kendalltau -> 1/3
    let ratings = vec![
        ("a".to_string(), 3.0),
        ("b".to_string(), 2.0),
        ("c".to_string(), 1.0),
        ("d".to_string(), 0.0),
    ];
    let reference = vec![
        ("A".to_string(), 30.0),
        ("b".to_string(), 10.0),
        ("c".to_string(), 20.0),
    ];
    let map: BTreeMap<String, String> = [("a".to_string(), "A".to_string())].into();
    let c = against_reference(&ratings, &reference, &map).unwrap();
    assert_eq!(c.missing_from_reference, ["d"]);
    assert_eq!(c.n_matched, 3);
    assert!(close(c.spearman.statistic, 0.5, 1e-12));
    assert!(close(c.kendall_tau.statistic, 1.0 / 3.0, 1e-12));
    // centred: ratings (1, 0, −1), reference (10, −10, 0)
    let d: Vec<f64> = c.matched.iter().map(|m| m.difference).collect();
    assert_eq!(d, [-9.0, 10.0, -1.0]);
    // Nothing matched: correlations undefined (null), not a panic.
    let none = against_reference(&ratings[3..], &reference, &BTreeMap::new()).unwrap();
    assert_eq!(none.n_matched, 0);
    assert!(none.spearman.statistic.is_nan());
    // Two models mapped onto one reference name.
    let map2: BTreeMap<String, String> = [("a".to_string(), "b".to_string())].into();
    let e = against_reference(&ratings, &reference, &map2).unwrap_err();
    assert!(
        e.to_string()
            .contains("both map to the reference model `b`"),
        "{e}"
    );
    let dup = vec![("b".to_string(), 1.0), ("b".to_string(), 2.0)];
    assert!(against_reference(&ratings, &dup, &BTreeMap::new()).is_err());
}

#[test]
fn self_bias_against_a_reference_in_closed_form() {
    let p = JudgeAnalysisParams::default()
        .prior_precision(0.0)
        .bootstrap(10);
    let judges: Vec<String> = ["A", "B", "Z"].map(String::from).to_vec();
    let board = |names: &[(&str, f64)]| -> Vec<(String, f64)> {
        names.iter().map(|(m, r)| (m.to_string(), *r)).collect()
    };
    let reference = board(&[("A", 1100.0), ("B", 1000.0), ("C", 900.0)]);
    let out =
        self_bias_vs_reference(&two_judges(), &judges, &reference, &BTreeMap::new(), &p).unwrap();
    // Judge A's own decisions alone: A beats B 30:10, A ties C 20:20, so (star graph,
    // no prior) θ_A − θ_B = ln 3 and θ_A = θ_C; centred over A, B, C: θ_A = ln 3 / 3,
    // Elo C·ln 3/3 = 63.616…; the reference centred on the same three: A = +100.
    let l3 = 3f64.ln();
    match &out["A"] {
        SelfBiasVsReference::Matched {
            self_bias,
            n_matched,
            rating_by_self_centred,
            reference_centred,
        } => {
            assert_eq!(*n_matched, 3);
            assert!(close(*rating_by_self_centred, C * l3 / 3.0, 1e-6));
            assert!(close(*reference_centred, 100.0, 1e-9));
            assert!(close(*self_bias, C * l3 / 3.0 - 100.0, 1e-6));
        }
        other => panic!("{other:?}"),
    }
    // Judge B: θ_B − θ_A = ln 3 and θ_B − θ_C = −ln 3, so θ_B is the centre: 0; its
    // reference rating is the centre too: self-bias 0.
    match &out["B"] {
        SelfBiasVsReference::Matched { self_bias, .. } => assert!(close(*self_bias, 0.0, 1e-6)),
        other => panic!("{other:?}"),
    }
    // A judge without decisions has no ratings: reported, not fatal.
    assert!(matches!(out["Z"], SelfBiasVsReference::Failed { .. }));
    // B missing from the reference: A and C are matched (centred on the two).
    let partial = board(&[("A", 1100.0), ("C", 900.0)]);
    let out = self_bias_vs_reference(&two_judges(), &judges[..2], &partial, &BTreeMap::new(), &p)
        .unwrap();
    assert!(matches!(out["B"], SelfBiasVsReference::Unmatched { .. }));
    match &out["A"] {
        SelfBiasVsReference::Matched {
            self_bias,
            n_matched,
            ..
        } => {
            assert_eq!(*n_matched, 2);
            assert!(close(*self_bias, -100.0, 1e-6));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn win_shares_count_wins_and_ties_half() {
    // Judge x: x beats y (shown first), y beats x, x vs z tie, y vs z: z wins.
    let ds = [
        dec("1", "x", "y", "model_a", "x", None),
        dec("1", "y", "x", "model_a", "x", None),
        dec("2", "x", "z", "tie", "x", None),
        dec("2", "y", "z", "model_b", "x", None),
    ];
    // x: won 1 of 2 against y, ½ against z → (1 + 0 + ½) / 3.
    assert!(close(win_share(&ds, "x", "x"), 0.5, 1e-12));
    // y: 1 win of 3 decisions involving y.
    assert!(close(win_share(&ds, "x", "y"), 1.0 / 3.0, 1e-12));
    // z: tie (½) and a win: 1.5 / 2.
    assert!(close(win_share(&ds, "x", "z"), 0.75, 1e-12));
    assert!(win_share(&ds, "nobody", "x").is_nan());
    let g = win_share_grid(&ds, &["x".into()], &["z".into(), "x".into()]);
    assert_eq!(g.len(), 1);
    assert!(close(g[0][0], 0.75, 1e-12) && close(g[0][1], 0.5, 1e-12));
    // Read as recognition decisions: x picks itself against y once of two, and
    // its "recognition" against z is the tie.
    let r = analyze(&ds, &JudgeAnalysisParams::default().bootstrap(1)).unwrap();
    let vs = &r.judges["x"].win_rate_vs;
    assert_eq!(vs.len(), 2);
    assert!(close(vs["y"], 0.5, 1e-12) && close(vs["z"], 0.5, 1e-12));
}

#[test]
fn judge_measures_put_recognition_heatmaps_and_failures_together() {
    use pref_rank::judge_measures::{judge_measures, Fallible};
    // Judge x on two questions: preference x beats y (both orders), x vs z a tie;
    // recognition: x names itself against y once of two.
    let preference = [
        dec("1", "x", "y", "model_a", "x", None),
        dec("1", "y", "x", "model_b", "x", None),
        dec("2", "x", "z", "tie", "x", None),
    ];
    let recognition = [
        dec("1", "x", "y", "model_a", "x", None),
        dec("1", "y", "x", "model_a", "x", None),
    ];
    let authors: Vec<String> = ["x", "y", "z"].map(String::from).to_vec();
    let unparseable = BTreeMap::from([(
        "x".to_string(),
        BTreeMap::from([("preference".to_string(), 2usize)]),
    )]);
    let p = JudgeAnalysisParams::default().bootstrap(20);
    let m = judge_measures(&preference, &recognition, &authors, &unparseable, &p, None).unwrap();
    let x = &m.judges["x"];
    // Self-preference 2.5 / 3 (two wins and a tie); recognition 1 of 2 with a
    // recognition win rate against y of ½.
    assert!(close(
        x.stats.self_preference.unwrap().estimate,
        2.5 / 3.0,
        1e-12
    ));
    assert!(close(x.recognition.unwrap().estimate, 0.5, 1e-12));
    assert_eq!(x.n_recognition, Some(2));
    assert_eq!(x.unparseable.as_ref().unwrap()["preference"], 2);
    // Heatmap row x: own cell 2.5/3, y never wins (0), z: the tie, ½.
    let row = &m.heatmaps.preference[0];
    assert!(close(row[0].unwrap(), 2.5 / 3.0, 1e-12));
    assert_eq!(row[1], Some(0.0));
    assert_eq!(row[2], Some(0.5));
    let recog = &m.heatmaps.recognition.as_ref().unwrap()[0];
    assert_eq!((recog[0], recog[1], recog[2]), (None, Some(0.5), None));
    // y never wins: with no prior the ratings are not identified, which is
    // reported, not an error.
    let flat = p.prior_precision(0.0);
    let m = judge_measures(&preference, &[], &authors, &BTreeMap::new(), &flat, None).unwrap();
    assert!(matches!(m.ratings, Fallible::Failed { .. }));
    assert!(m.heatmaps.recognition.is_none());
    assert!(judge_measures(&[], &[], &authors, &BTreeMap::new(), &p, None).is_err());
}
