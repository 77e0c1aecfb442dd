//! Leaderboard loaders on the project's made-up fixtures (`fixtures/leaderboards/`,
//! always) and on the real snapshots in `../shared/data/arena_battles/leaderboards/`
//! (skipped when absent unless `PREF_REQUIRE_SHARED=1`), plus bad input.

use std::path::PathBuf;

use pref_data::loaders::{leaderboard_categories, load_leaderboard, LeaderboardEntry};
use pref_data::paths::shared_data_dir;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/leaderboards")
}

fn entry(model: &str, rating: f64, lower: Option<f64>, upper: Option<f64>) -> LeaderboardEntry {
    LeaderboardEntry {
        model: model.into(),
        rating,
        lower,
        upper,
    }
}

#[test]
fn fixtures_in_every_format() {
    let f = fixtures();
    // LMArena JSON: default category `full`, file order kept.
    let full = load_leaderboard(f.join("text_leaderboard.json"), None).unwrap();
    assert_eq!(
        full,
        [
            entry("ember-70b", 1180.25, Some(1170.0), Some(1190.5)),
            entry("birch-13b", 1114.0, Some(1106.5), Some(1121.75)),
            entry("atlas-7b", 1052.5, Some(1044.0), Some(1061.0)),
            entry("cedar-3b", 987.75, Some(976.5), Some(999.0)),
        ]
    );
    let coding = load_leaderboard(f.join("text_leaderboard.json"), Some("coding")).unwrap();
    assert_eq!(
        coding[1],
        entry("cedar-3b", 1003.0, Some(985.5), Some(1020.5))
    );
    assert_eq!(
        leaderboard_categories(f.join("text_leaderboard.json")).unwrap(),
        ["coding", "full"]
    );
    let e = load_leaderboard(f.join("text_leaderboard.json"), Some("math"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no category `math`") && e.contains("available: coding, full"),
        "{e}"
    );
    // arena-catalog raw ranking CSV (no trailing newline).
    let csv = load_leaderboard(f.join("overall_raw_ranking.csv"), None).unwrap();
    assert_eq!(csv.len(), 4);
    assert_eq!(csv[3], entry("cedar-3b", 995.125, None, None));
    // arena-hard-auto bootstrap stats JSONL.
    let jl = load_leaderboard(f.join("bootstrap_stats_elo.jsonl"), None).unwrap();
    assert_eq!(
        jl[0],
        entry("ember-70b", 1201.5, Some(1190.25), Some(1212.0))
    );
    assert_eq!(jl.len(), 3);
    // arena-hard-auto leaderboard CSV with a quoted CI column.
    let ah = load_leaderboard(f.join("arena_hard_leaderboard.csv"), None).unwrap();
    assert_eq!(ah[2], entry("cedar-3b", 12.75, Some(11.5), Some(14.25)));
    // Categories only exist in the JSON.
    let e = load_leaderboard(f.join("overall_raw_ranking.csv"), Some("full")).unwrap_err();
    assert!(e.to_string().contains("has no categories"), "{e}");
    assert!(leaderboard_categories(f.join("overall_raw_ranking.csv"))
        .unwrap()
        .is_empty());
}

#[test]
fn content_detection_without_extension() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixtures();
    for (src, n) in [
        ("text_leaderboard.json", 4),
        ("overall_raw_ranking.csv", 4),
        ("bootstrap_stats_elo.jsonl", 3),
        ("arena_hard_leaderboard.csv", 3),
    ] {
        let p = dir.path().join(format!("{src}.txt"));
        std::fs::copy(f.join(src), &p).unwrap();
        assert_eq!(load_leaderboard(&p, None).unwrap().len(), n, "{src}");
    }
    // Flat JSON forms: {model: {rating, …}} and {model: rating}.
    let p = dir.path().join("flat.json");
    std::fs::write(
        &p,
        r#"{"m1": {"rating": 1010.5, "rating_q025": 1000, "rating_q975": 1020}, "m2": 990}"#,
    )
    .unwrap();
    assert_eq!(
        load_leaderboard(&p, None).unwrap(),
        [
            entry("m1", 1010.5, Some(1000.0), Some(1020.0)),
            entry("m2", 990.0, None, None)
        ]
    );
}

#[test]
fn bad_input_names_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &str); 8] = [
        (
            "a.csv",
            "index,Model,Elo rating\n1,m1,1000\n2,m2,abc\n",
            ":3: Elo rating: expected a number, got `abc`",
        ),
        (
            "b.csv",
            "index,Model,Elo rating\n1,m1,1000\n2,m1,990\n",
            ":3: model: `m1` is listed twice (first at line 2)",
        ),
        (
            "c.csv",
            "index,Name,Rank\n1,m1,1\n",
            ":1: header has no rating column",
        ),
        (
            "d.csv",
            "model,score\nm1,10\nm2,20,30\n",
            ":3: expected 2 fields, found 3",
        ),
        (
            "e.jsonl",
            "{\"model\": \"m1\", \"score\": 1000}\n{\"model\": \"m2\"}\n",
            ":2: score: missing field `score`",
        ),
        (
            "f.jsonl",
            "{\"model\": \"m1\", \"score\": 1000, \"lower\": 1010, \"upper\": 990}\n",
            ":1: lower: lower bound 1010 is above the upper bound 990",
        ),
        (
            "g.json",
            "{\"full\": {\n  \"m1\": {\"rating\": 1000},\n  \"m2\": {\"rating\": \"high\"}\n}}\n",
            ":3: full.m2.rating: invalid type: string \"high\", expected f64",
        ),
        ("h.json", "  \n", ":1: empty file"),
    ];
    for (name, text, want) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let e = load_leaderboard(&p, None).unwrap_err().to_string();
        assert!(
            e.starts_with(&p.display().to_string()) && e.contains(want),
            "{name}: {e}"
        );
    }
    let e = load_leaderboard(dir.path().join("missing.csv"), None).unwrap_err();
    assert!(e.to_string().contains("missing.csv"), "{e}");
}

/// Real snapshots. Reference values from python3 (json / pandas) on the same files:
/// ```python
/// import json, pandas as pd
/// d = json.load(open('arena-catalog_leaderboard-text_20251211.json'))
/// full = list(d['full'].items()); print(len(d), len(full), full[0], full[-1][0], full[-1][1]['rating'], len(d['coding']))
/// # 29 282 ('gemini-3-pro', {'rating': 1486.6027120272704, 'rating_q975': 1492.8027344568852,
/// #   'rating_q025': 1480.4026895976556}) llama-13b 834.7658126127217 278
/// c = pd.read_csv('arena-catalog_overall_raw_ranking_20241130.csv'); print(len(c), c.iloc[0].tolist(), c.iloc[-1].tolist())
/// # 136 [1, 'chatgpt-4o-latest', 1316.1559008799543] [136, 'llama-13b', 799.1510190116323]
/// for f in ['arena-hard-auto_notebook_bootstrap_stats_arena_hard_distribution_elo.jsonl',
///           'arena-hard-auto_notebook_bootstrap_stats_20k_votes_elo.jsonl']:
///     j = pd.read_json(f, lines=True); print(len(j), j.iloc[0][['model','score','lower','upper']].tolist())
/// # 78 ['gpt-4-1106-preview', 1243.6237352316, 1234.3031732082, 1253.6783624218]
/// # 20 ['claude-3-opus-20240229', 1222.9491999028, 1209.0824933701, 1232.9326386671]
/// a = pd.read_csv('arena-hard-auto_arena_hard_leaderboard_20240731.csv')
/// print(len(a), a.iloc[0][['model','score','rating_q025','rating_q975']].tolist(), a.iloc[-1][['model','score']].tolist())
/// # 60 ['gpt-4-turbo-2024-04-09', 82.63, 80.75, 84.6] ['gemma-2b-it', 3.0]
/// ```
#[test]
fn shared_arena_snapshots() {
    let Some(d) = shared_data_dir() else { return };
    let lb = d.join("arena_battles/leaderboards");
    let text = lb.join("arena-catalog_leaderboard-text_20251211.json");
    let full = load_leaderboard(&text, None).unwrap();
    assert_eq!(full.len(), 282);
    assert_eq!(
        full[0],
        entry(
            "gemini-3-pro",
            1486.6027120272704,
            Some(1480.4026895976556),
            Some(1492.8027344568852)
        )
    );
    assert_eq!(full[281].model, "llama-13b");
    assert_eq!(full[281].rating, 834.7658126127217);
    assert_eq!(load_leaderboard(&text, Some("full")).unwrap(), full);
    assert_eq!(load_leaderboard(&text, Some("coding")).unwrap().len(), 278);
    let cats = leaderboard_categories(&text).unwrap();
    assert_eq!(cats.len(), 29);
    let e = load_leaderboard(&text, Some("overall"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("available: chinese, coding,"), "{e}");

    let csv = load_leaderboard(
        lb.join("arena-catalog_overall_raw_ranking_20241130.csv"),
        None,
    )
    .unwrap();
    assert_eq!(csv.len(), 136);
    assert_eq!(
        csv[0],
        entry("chatgpt-4o-latest", 1316.1559008799543, None, None)
    );
    assert_eq!(csv[135], entry("llama-13b", 799.1510190116323, None, None));
    for cat in ["coding", "hard", "math"] {
        let p = lb.join(format!(
            "arena-catalog_{cat}_prompt_raw_ranking_20241130.csv"
        ));
        assert_eq!(load_leaderboard(p, None).unwrap().len(), 136, "{cat}");
    }

    let dist = load_leaderboard(
        lb.join("arena-hard-auto_notebook_bootstrap_stats_arena_hard_distribution_elo.jsonl"),
        None,
    )
    .unwrap();
    assert_eq!(dist.len(), 78);
    assert_eq!(
        dist[0],
        entry(
            "gpt-4-1106-preview",
            1243.6237352316,
            Some(1234.3031732082),
            Some(1253.6783624218)
        )
    );
    let v20k = load_leaderboard(
        lb.join("arena-hard-auto_notebook_bootstrap_stats_20k_votes_elo.jsonl"),
        None,
    )
    .unwrap();
    assert_eq!(v20k.len(), 20);
    assert_eq!(
        v20k[0],
        entry(
            "claude-3-opus-20240229",
            1222.9491999028,
            Some(1209.0824933701),
            Some(1232.9326386671)
        )
    );

    let ah = load_leaderboard(
        lb.join("arena-hard-auto_arena_hard_leaderboard_20240731.csv"),
        None,
    )
    .unwrap();
    assert_eq!(ah.len(), 60);
    assert_eq!(
        ah[0],
        entry("gpt-4-turbo-2024-04-09", 82.63, Some(80.75), Some(84.6))
    );
    assert_eq!((ah[59].model.as_str(), ah[59].rating), ("gemma-2b-it", 3.0));
}
