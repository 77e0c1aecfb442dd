//! `pref robustness` and `pref transitivity` on the real runs and choices of
//! `../shared/data/preferences/` against an independent numpy computation.
//!
//! Reference values: this script (numpy 2.4.6, scipy 1.17.1), verbatim:
//!
//! import json, itertools, warnings, numpy as np, scipy.stats as st
//! D = "/work/shared/data/preferences/"; warnings.simplefilter("ignore"); out = {}
//!
//! def regress(fname, method, min_shared=10):
//!     runs = [json.loads(l) for l in open(D + fname)]
//!     ys, pairs, n_skip, n_undef = [], [], 0, 0
//!     for r, s in itertools.combinations(runs, 2):
//!         shared = sorted(set(r["utilities"]) & set(s["utilities"]))
//!         if len(shared) < min_shared: n_skip += 1; continue
//!         a, b = ([u["utilities"][k]["mu"] for k in shared] for u in (r, s))
//!         c = (st.pearsonr if method == "pearson" else st.spearmanr)(a, b)[0]
//!         if np.isnan(c): n_undef += 1; continue
//!         ys.append(c); pairs.append((r["factors"], s["factors"]))
//!     names = sorted(set().union(*(r["factors"] for r in runs)))
//!     col = {k: np.array([float(k in f and k in g and f[k] == g[k]) for f, g in pairs]) for k in names}
//!     constant = [k for k in names if np.all(col[k] == col[k][0])]
//!     rest = [k for k in names if k not in constant]
//!     groups = {}
//!     for k in rest: groups.setdefault(col[k].tobytes(), []).append(k)
//!     aliased = sorted(g for g in groups.values() if len(g) >= 2)
//!     y = np.array(ys); X = np.column_stack([np.ones(len(y))] + [col[k] for k in rest]); n, p = X.shape
//!     U, sv, Vt = np.linalg.svd(X, full_matrices=False)
//!     keep = sv > max(n, p) * np.finfo(float).eps * sv[0]
//!     V, Uk, sk = Vt[keep].T, U[:, keep], sv[keep]
//!     beta = V @ ((Uk.T @ y) / sk); rss = float(np.sum((y - X @ beta) ** 2)); df = n - p
//!     cov = rss / df * (V / sk**2) @ V.T; se = np.sqrt(np.diag(cov))
//!     pv = 2 * st.t.sf(np.abs(beta / se), df); idx = {k: i + 1 for i, k in enumerate(rest)}
//!     sums = [{"factors": g, "estimate": float(sum(beta[idx[k]] for k in g)),
//!              "se": float(np.sqrt(cov[np.ix_([idx[k] for k in g], [idx[k] for k in g])].sum()))} for g in aliased]
//!     return {"n_runs": len(runs), "n_run_pairs": n, "n_skipped": n_skip, "n_undefined": n_undef,
//!             "rank": int(keep.sum()), "p": p, "r2": 1 - rss / float(np.sum((y - y.mean()) ** 2)),
//!             "intercept": {"estimate": float(beta[0]), "se": float(se[0])},
//!             "coefficients": {k: {"estimate": float(beta[i]), "se": float(se[i]), "p": float(pv[i])} for k, i in idx.items()},
//!             "aliased_groups": aliased, "group_sums": sums, "constant": constant,
//!             "crosscheck_max_abs_factor_coef": {"svd_min_norm": float(np.abs(beta[1:]).max()),
//!                 "np_lstsq_rcond_None": float(np.abs(np.linalg.lstsq(X, y, rcond=None)[0][1:]).max()),
//!                 "np_pinv_default": float(np.abs((np.linalg.pinv(X) @ y)[1:]).max())}}
//!
//! for F in ["llama33_70b_runs.jsonl", "qwen25_7b_runs.jsonl"]:
//!     for m in ["pearson", "spearman"]: out[f"{F}|{m}"] = regress(F, m)
//!
//! recs = [json.loads(l) for l in open(D + "gemma27b_choices_eval.jsonl")]
//! wins, adj = {}, {}  # wins[(x, y)] = times x beat y, pooled over presentation order
//! for r in recs:
//!     if r["choice"] is None: continue
//!     w, l = (r["a"], r["b"]) if r["choice"] == "a" else (r["b"], r["a"])
//!     wins[(w, l)] = wins.get((w, l), 0) + 1
//!     adj.setdefault(w, set()).add(l); adj.setdefault(l, set()).add(w)
//! P = lambda x, y: wins.get((x, y), 0) / (wins.get((x, y), 0) + wins.get((y, x), 0))
//! n_tri = n_dec = hard = 0; soft = 0.0
//! for i in adj:
//!     for j in (j for j in adj[i] if j > i):
//!         for k in (k for k in adj[i] & adj[j] if k > j):
//!             pij, pjk, pki = P(i, j), P(j, k), P(k, i); n_tri += 1
//!             soft += pij * pjk * pki + (1 - pij) * (1 - pjk) * (1 - pki)
//!             if 0.5 in (pij, pjk, pki): continue
//!             n_dec += 1; hard += (pij > .5) == (pjk > .5) == (pki > .5)
//! out["gemma27b_transitivity"] = {"n_records": len(recs), "n_excluded": sum(r["choice"] is None for r in recs),
//!     "n_items": len(adj), "n_pairs": sum(len(v) for v in adj.values()) // 2, "n_triads": n_tri,
//!     "n_decisive": n_dec, "hard_cycles": hard, "hard_cycle_rate_triads": hard / n_tri,
//!     "hard_cycle_rate_decisive": hard / n_dec, "soft_cycle_mean": soft / n_tri}
//! json.dump(out, open("/work/refs/robustness_ref.json", "w"), indent=1); print(json.dumps(out, indent=1))

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn pref(args: &[&str]) -> (bool, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pref"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (
        out.status.success(),
        json,
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn preferences() -> Option<PathBuf> {
    pref_data::paths::shared_data_dir().map(|d| d.join("preferences"))
}

fn close(got: &Value, want: f64, what: &str) {
    let g = got
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: not a number: {got}"));
    assert!(
        (g - want).abs() <= 1e-9 * (1.0 + want.abs()),
        "{what}: got {g}, want {want}"
    );
}

/// (file, method, run pairs, skipped, rank, r2, intercept, intercept se,
/// aliased sum, its se, [(factor, estimate, se, p)]).
type Case = (
    &'static str,
    &'static str,
    u64,
    u64,
    u64,
    f64,
    f64,
    f64,
    f64,
    f64,
    &'static [(&'static str, f64, f64, f64)],
);

const CASES: &[Case] = &[
    (
        "llama33_70b_runs.jsonl",
        "pearson",
        214,
        221,
        9,
        0.7143859458151357,
        0.09462055613720388,
        0.028523269899734797,
        0.057326669678946236,
        0.0464210927894087,
        &[
            (
                "instruction_position",
                0.05173555536280067,
                0.038501286233610627,
                0.18054127259166794,
            ),
            (
                "instruction_xml_tags",
                0.01433166741973655,
                0.011605273197352155,
                0.21829210821231632,
            ),
            (
                "language",
                0.11474026024920894,
                0.039754948492981446,
                0.004323265814725319,
            ),
            (
                "order",
                0.6566620386918062,
                0.03222189818550807,
                6.804413284117691e-51,
            ),
            (
                "phrasing",
                -0.022538159271647984,
                0.03971917793448452,
                0.5710469222642248,
            ),
            (
                "punctuation",
                0.014331667419736531,
                0.01160527319735219,
                0.21829210821231826,
            ),
            (
                "response_format",
                -0.09117248866533437,
                0.03953126178001019,
                0.02210604731649372,
            ),
            (
                "seed",
                -0.070048512700871,
                0.03264666744237371,
                0.03309367584717196,
            ),
            (
                "situating_context",
                -0.07679469471696203,
                0.03397205986268625,
                0.02485499581291448,
            ),
            (
                "task_label_names",
                0.014331667419736628,
                0.011605273197352169,
                0.2182921082123143,
            ),
            (
                "typos",
                0.014331667419736528,
                0.01160527319735219,
                0.21829210821231831,
            ),
        ],
    ),
    (
        "llama33_70b_runs.jsonl",
        "spearman",
        214,
        221,
        9,
        0.8257478699820855,
        -0.00224460678940568,
        0.0257542510049639,
        0.002914370310943691,
        0.04191456589043696,
        &[
            (
                "instruction_position",
                0.06670325306500806,
                0.034763608561008234,
                0.05642352634569593,
            ),
            (
                "instruction_xml_tags",
                0.0007285925777358849,
                0.010478641472609221,
                0.9446355771586675,
            ),
            (
                "language",
                0.043519973727196924,
                0.035895566173749775,
                0.22677337378111237,
            ),
            (
                "order",
                0.7857367774563375,
                0.029093819069239375,
                5.754239074424816e-69,
            ),
            (
                "phrasing",
                -0.03294468580745496,
                0.035863268195805584,
                0.3593903792929282,
            ),
            (
                "punctuation",
                0.0007285925777358996,
                0.010478641472609252,
                0.9446355771586666,
            ),
            (
                "response_format",
                -0.021729147437213877,
                0.035693594808875136,
                0.5433616698392921,
            ),
            (
                "seed",
                -0.031119722985428148,
                0.02947735202667955,
                0.2923588208898596,
            ),
            (
                "situating_context",
                -0.04999583022327663,
                0.030674076287004384,
                0.1046799119652866,
            ),
            (
                "task_label_names",
                0.0007285925777360117,
                0.010478641472609233,
                0.944635577158658,
            ),
            (
                "typos",
                0.0007285925777358944,
                0.010478641472609252,
                0.944635577158667,
            ),
        ],
    ),
    (
        "qwen25_7b_runs.jsonl",
        "pearson",
        721,
        407,
        9,
        0.6458950165685069,
        -0.12827356384985758,
        0.022314945172002706,
        -0.016077442085857915,
        0.037045845167990615,
        &[
            (
                "instruction_position",
                0.08719704277603471,
                0.036040366551637906,
                0.015795577236616704,
            ),
            (
                "instruction_xml_tags",
                -0.00401936052146468,
                0.00926146129199775,
                0.6644293822859059,
            ),
            (
                "language",
                0.07442447681142929,
                0.07233658510184895,
                0.3038946533211478,
            ),
            (
                "order",
                0.7526566774798698,
                0.02164545748461976,
                2.2541070716155255e-155,
            ),
            (
                "phrasing",
                -0.03781407054020864,
                0.07237899079298629,
                0.6015234547682956,
            ),
            (
                "punctuation",
                -0.004019360521464524,
                0.009261461291997642,
                0.6644293822859144,
            ),
            (
                "response_format",
                0.06881676539202547,
                0.025235712205880084,
                0.006550110663048476,
            ),
            (
                "seed",
                -0.042013386939245216,
                0.023736999366655142,
                0.07716460665121591,
            ),
            (
                "situating_context",
                -0.0021840545481792923,
                0.02225329521565908,
                0.9218447201163453,
            ),
            (
                "task_label_names",
                -0.004019360521464363,
                0.009261461291997605,
                0.6644293822859259,
            ),
            (
                "typos",
                -0.0040193605214643505,
                0.009261461291997614,
                0.6644293822859271,
            ),
        ],
    ),
    (
        "qwen25_7b_runs.jsonl",
        "spearman",
        721,
        407,
        9,
        0.6948327811097765,
        -0.21320428472812655,
        0.022726166168350787,
        -0.029221063369930318,
        0.03772852797286038,
        &[
            (
                "instruction_position",
                0.0930084676357261,
                0.03670452034309374,
                0.011491753409597419,
            ),
            (
                "instruction_xml_tags",
                -0.007305265842482803,
                0.009432131993215194,
                0.43888838002559016,
            ),
            (
                "language",
                0.0745682703477554,
                0.07366960753899665,
                0.31178842575573923,
            ),
            (
                "order",
                0.8628563872047094,
                0.022044341126261108,
                2.373553880139722e-179,
            ),
            (
                "phrasing",
                -0.03524245434337227,
                0.07371279468446543,
                0.6327228646213713,
            ),
            (
                "punctuation",
                -0.007305265842482648,
                0.009432131993215083,
                0.4388883800255945,
            ),
            (
                "response_format",
                0.053058200794317736,
                0.025700757252456113,
                0.03933722727855494,
            ),
            (
                "seed",
                -0.050406214776987805,
                0.024174426053327733,
                0.03741694158086577,
            ),
            (
                "situating_context",
                -0.0007440911355437415,
                0.02266338012333309,
                0.973817552392963,
            ),
            (
                "task_label_names",
                -0.007305265842482476,
                0.009432131993215047,
                0.4388883800256035,
            ),
            (
                "typos",
                -0.007305265842482391,
                0.009432131993215055,
                0.4388883800256094,
            ),
        ],
    ),
];

#[test]
fn robustness_reproduces_numpy_on_the_real_runs() {
    let Some(dir) = preferences() else { return };
    for &(file, method, pairs, skipped, rank, r2, c0, c0_se, sum, sum_se, coefs) in CASES {
        let path = dir.join(file);
        let (ok, v, err) = pref(&[
            "robustness",
            "--runs",
            path.to_str().unwrap(),
            "--correlation",
            method,
            "--bootstrap",
            "40",
        ]);
        assert!(ok, "{err}");
        let at = format!("{file} {method}");
        assert_eq!(v["n_run_pairs"], pairs, "{at}");
        assert_eq!(v["n_skipped"], skipped, "{at}");
        assert_eq!(v["n_undefined"], 0, "{at}");
        // 12 columns, rank 9: four factors always change together.
        assert_eq!(
            (v["rank"].as_u64(), v["p"].as_u64()),
            (Some(rank), Some(12)),
            "{at}"
        );
        assert_eq!(
            v["aliased_groups"],
            serde_json::json!([[
                "instruction_xml_tags",
                "punctuation",
                "task_label_names",
                "typos"
            ]]),
            "{at}"
        );
        assert_eq!(v["constant"], serde_json::json!([]), "{at}");
        close(&v["r2"], r2, &at);
        close(&v["intercept"]["estimate"], c0, &at);
        close(&v["intercept"]["se"], c0_se, &at);
        close(&v["aliased_sums"][0]["estimate"], sum, &at);
        close(&v["aliased_sums"][0]["se"], sum_se, &at);
        for &(f, est, se, p) in coefs {
            let c = &v["coefficients"][f];
            close(&c["estimate"], est, &format!("{at} {f}"));
            close(&c["se"], se, &format!("{at} {f} se"));
            let got = c["p"].as_f64().unwrap();
            assert!(
                (got - p).abs() <= 1e-7 * p + 1e-300,
                "{at} {f} p: {got} vs {p}"
            );
            // The bootstrap interval brackets something near the estimate.
            let ci = c["ci95_bootstrap"].as_array().unwrap();
            assert!(
                ci[0].as_f64().unwrap() <= ci[1].as_f64().unwrap(),
                "{at} {f}"
            );
        }
        assert_eq!(v["bootstrap"]["replicates"], 40);
    }
}

#[test]
fn transitivity_reproduces_numpy_on_real_choices() {
    let Some(dir) = preferences() else { return };
    let path = dir.join("gemma27b_choices_eval.jsonl");
    let (ok, v, err) = pref(&[
        "transitivity",
        "--comparisons",
        path.to_str().unwrap(),
        "--bootstrap",
        "200",
    ]);
    assert!(ok, "{err}");
    // {'n_records': 17312, 'n_excluded': 58, 'n_items': 500, 'n_pairs': 3745, 'n_triads': 677, 'n_decisive': 655, 'hard_cycles': 72, 'hard_cycle_rate_triads': 0.10635155096011817, 'hard_cycle_rate_decisive': 0.1099236641221374, 'soft_cycle_mean': 0.10918677170523555}
    assert_eq!(v["n_records"], 17312);
    assert_eq!(v["n_excluded"], 58);
    assert_eq!(v["n_items"], 500);
    assert_eq!(v["n_pairs"], 3745);
    assert_eq!(v["n_triads"], 677);
    assert_eq!(v["n_decisive_triads"], 655);
    assert_eq!(v["hard_cycles"], 72);
    close(&v["hard_cycle_rate"], 0.10635155096011817, "hard");
    close(
        &v["hard_cycle_rate_decisive"],
        0.1099236641221374,
        "decisive",
    );
    close(&v["soft_cycle_mean"], 0.10918677170523555, "soft");
    let ci: Vec<f64> = v["ci95"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert!(
        ci[0] < 0.10635155096011817 && 0.10635155096011817 < ci[1],
        "{ci:?}"
    );
}

#[test]
fn bad_input_is_named_by_path_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let run = |name: &str, u: &str| {
        format!(r#"{{"run": "{name}", "factors": {{"order": "canonical"}}, "utilities": {u}}}"#)
    };
    let ok_u = r#"{"x": {"mu": 0.0, "sigma": 1.0}, "y": {"mu": 1.0, "sigma": 1.0}}"#;
    let cases = [
        (
            format!("{}\n{}\n", run("r1", ok_u), run("r1", ok_u)),
            vec!["runs.jsonl:2: run: `r1` was already given on line 1"],
        ),
        (
            format!(
                "{}\n\n{}\n",
                run("r1", ok_u),
                run("r2", r#"{"x": {"mu": 0.0, "sigma": -1.0}}"#)
            ),
            vec!["runs.jsonl:3", "utilities.x.sigma", "≥ 0"],
        ),
        (
            format!("{}\n{{\"run\": \"r2\"}}\n", run("r1", ok_u)),
            vec!["runs.jsonl:2", "factors"],
        ),
        (
            format!("{}\n", run("r1", r#"{"x": {"mu": "high", "sigma": 1.0}}"#)),
            vec!["runs.jsonl:1"],
        ),
    ];
    for (text, wants) in cases {
        let f = write("runs.jsonl", &text);
        let (ok, _, err) = pref(&["robustness", "--runs", &f, "--bootstrap", "0"]);
        assert!(!ok);
        for w in wants {
            assert!(err.contains(w), "{w} not in {err}");
        }
        assert!(!err.contains("panicked"), "{err}");
    }
    // Two runs sharing 2 items: fewer than --min-shared 10, so no pair is left to fit.
    let f = write(
        "runs.jsonl",
        &format!("{}\n{}\n", run("r1", ok_u), run("r2", ok_u)),
    );
    let (ok, _, err) = pref(&["robustness", "--runs", &f]);
    assert!(
        !ok && err.contains("0 observations") && err.contains("--min-shared 10"),
        "{err}"
    );
    let (ok, _, err) = pref(&["robustness", "--runs", &f, "--min-shared", "1"]);
    assert!(
        !ok && err.contains("--min-shared must be at least 2"),
        "{err}"
    );

    let f = write("c.jsonl", "{\"a\": \"x\", \"b\": \"y\", \"choice\": \"a\"}\n{\"a\": \"x\", \"b\": \"y\", \"choice\": \"c\"}\n");
    let (ok, _, err) = pref(&["transitivity", "--comparisons", &f]);
    assert!(
        !ok && err.contains("c.jsonl:2") && err.contains("choice"),
        "{err}"
    );
    let f = write(
        "c.jsonl",
        "{\"a\": \"x\", \"b\": \"x\", \"choice\": \"a\"}\n",
    );
    let (ok, _, err) = pref(&["transitivity", "--comparisons", &f]);
    assert!(!ok && err.contains("c.jsonl:1: b"), "{err}");
    let f = write(
        "c.jsonl",
        "{\"a\": \"x\", \"b\": \"y\", \"choice\": null}\n",
    );
    let (ok, _, err) = pref(&["transitivity", "--comparisons", &f]);
    assert!(!ok && err.contains("every choice is null"), "{err}");
    // A 3-cycle and its reverse preference: closed form.
    let f = write(
        "c.jsonl",
        "{\"a\": \"x\", \"b\": \"y\", \"choice\": \"a\"}\n{\"a\": \"y\", \"b\": \"z\", \"choice\": \"a\"}\n\
         {\"a\": \"z\", \"b\": \"x\", \"choice\": \"a\"}\n{\"a\": \"x\", \"b\": \"y\", \"choice\": null}\n",
    );
    let (ok, v, err) = pref(&["transitivity", "--comparisons", &f, "--bootstrap", "0"]);
    assert!(ok, "{err}");
    assert_eq!(
        (v["n_triads"].as_u64(), v["hard_cycles"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        (v["n_excluded"].as_u64(), v["soft_cycle_mean"].as_f64()),
        (Some(1), Some(1.0))
    );
}
