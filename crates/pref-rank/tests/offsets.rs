//! Elo offsets against FastChat's Elo loop started from the global ratings, per user,
//! and the global-ratings file reader.
//!
//! ```python
//! # battle i of fixtures/battles.jsonl belongs to user "u{i % 3}"
//! import json
//! G = {"atlas-7b": 1100.0, "birch-13b": 1010.0, "cedar-3b": 950.0, "dune-1b": 900.0, "ember-70b": 1150.0}
//! S = {"a": 1.0, "b": 0.0, "tie": 0.5}
//! R = {}
//! for i, l in enumerate(open("fixtures/battles.jsonl")):
//!     r = json.loads(l); u = f"u{i % 3}"
//!     rating = R.setdefault(u, dict(G))
//!     ra, rb = rating[r["a"]], rating[r["b"]]
//!     ea = 1 / (1 + 10 ** ((rb - ra) / 400)); eb = 1 / (1 + 10 ** ((ra - rb) / 400))
//!     sa = S[r["winner"]]
//!     rating[r["a"]] += 4 * (sa - ea); rating[r["b"]] += 4 * (1 - sa - eb)
//! for u in sorted(R):
//!     for m in sorted(G): print(u, m, repr(R[u][m]))
//! ```

use pref_data::{paths::shared_data_dir, BattleTable};
use pref_rank::{EloOffsets, EloParams, Error, Ratings};

const GLOBAL: [(&str, f64); 5] = [
    ("atlas-7b", 1100.0),
    ("birch-13b", 1010.0),
    ("cedar-3b", 950.0),
    ("dune-1b", 900.0),
    ("ember-70b", 1150.0),
];

fn global() -> Ratings {
    Ratings::new(
        GLOBAL.iter().map(|g| g.0.to_string()).collect(),
        GLOBAL.iter().map(|g| g.1).collect(),
    )
    .unwrap()
}

#[test]
fn per_user_elo_from_global_ratings_matches_reference() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let t = BattleTable::read(dir.join("battles.jsonl")).unwrap();
    let users: Vec<String> = (0..t.len()).map(|i| format!("u{}", i % 3)).collect();
    let mut off = EloOffsets::new(global(), EloParams::default()).unwrap();
    off.update_all((0..t.len()).map(|i| {
        (
            users[i].as_str(),
            t.models[t.a[i] as usize].as_str(),
            t.models[t.b[i] as usize].as_str(),
            t.winner[i],
        )
    }))
    .unwrap();
    let want = [
        ("u0", "atlas-7b", 1098.0334941629371),
        ("u0", "birch-13b", 1030.5608572694425),
        ("u0", "cedar-3b", 943.2758186653974),
        ("u0", "dune-1b", 898.0443958416726),
        ("u0", "ember-70b", 1140.085434060552),
        ("u1", "atlas-7b", 1113.1211624958464),
        ("u1", "birch-13b", 999.0451530433903),
        ("u1", "cedar-3b", 953.774713971843),
        ("u1", "dune-1b", 891.8135146366445),
        ("u1", "ember-70b", 1152.245455852276),
        ("u2", "atlas-7b", 1107.927241519045),
        ("u2", "birch-13b", 1007.5213546651352),
        ("u2", "cedar-3b", 941.5328978846934),
        ("u2", "dune-1b", 893.1233264257776),
        ("u2", "ember-70b", 1159.89517950535),
    ];
    for (u, m, r) in want {
        let got = off.rating(u, m).unwrap();
        assert!((got - r).abs() < 1e-9, "{u} {m}: {got} vs {r}");
        let g = GLOBAL.iter().find(|g| g.0 == m).unwrap().1;
        assert!((off.offset(u, m).unwrap() - (r - g)).abs() < 1e-9);
    }
    assert_eq!(off.users().collect::<Vec<_>>(), ["u0", "u1", "u2"]);
    // Unseen users get the global ratings; global ratings never move.
    assert_eq!(off.user_ratings("nobody"), global());
    assert_eq!(off.global(), &global());
    // Offsets of one user sum to zero (the Elo rule moves ratings in opposite directions).
    let s: f64 = GLOBAL.iter().map(|g| off.offset("u1", g.0).unwrap()).sum();
    assert!(s.abs() < 1e-9);
}

#[test]
fn unknown_models_and_self_battles_are_errors() {
    let mut off = EloOffsets::new(global(), EloParams::default()).unwrap();
    match off.update("u", "atlas-7b", "zeta", pref_data::Winner::A) {
        Err(Error::UnknownModel { model, .. }) => assert_eq!(model, "zeta"),
        other => panic!("{other:?}"),
    }
    assert!(off
        .update("u", "atlas-7b", "atlas-7b", pref_data::Winner::A)
        .is_err());
}

#[test]
fn reads_leaderboard_csv_and_json() {
    let d = tempfile::tempdir().unwrap();
    let csv = d.path().join("lb.csv");
    std::fs::write(&csv, "index,Model,Elo rating\n1,m-a,1250.5\n2,m-b,1200").unwrap();
    let r = Ratings::read(&csv).unwrap();
    assert_eq!(r.get("m-a"), Some(1250.5));
    assert_eq!(r.get("m-b"), Some(1200.0));
    let json = d.path().join("r.json");
    std::fs::write(
        &json,
        r#"{"ratings": {"x": 1001.5, "y": 990}, "n_battles": 3}"#,
    )
    .unwrap();
    let r = Ratings::read(&json).unwrap();
    assert_eq!(r.to_map().len(), 2);
    assert_eq!(r.get("y"), Some(990.0));

    std::fs::write(&csv, "index,Model,Elo rating\n1,m-a,1250.5\n2,m-b,high\n").unwrap();
    let e = Ratings::read(&csv).unwrap_err().to_string();
    assert!(
        e.ends_with("lb.csv:3: elo rating: expected a finite number, got `high`"),
        "{e}"
    );
    std::fs::write(&csv, "").unwrap();
    let e = Ratings::read(&csv).unwrap_err().to_string();
    assert!(e.ends_with("lb.csv:1: empty file: expected ratings"), "{e}");
}

#[test]
fn reads_the_real_arena_leaderboard() {
    let Some(dir) = shared_data_dir() else { return };
    let r = Ratings::read(
        dir.join("arena_battles/leaderboards/arena-catalog_overall_raw_ranking_20241130.csv"),
    )
    .unwrap();
    assert_eq!(r.len(), 136);
    assert_eq!(r.sorted_desc()[0].0, "chatgpt-4o-latest");
    assert!((r.get("chatgpt-4o-latest").unwrap() - 1316.1559008799543).abs() < 1e-9);
    assert!((r.get("mixtral-8x7b-instruct-v0.1").unwrap() - 1114.0).abs() < 1e-6);
}
