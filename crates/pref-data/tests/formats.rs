//! Round trips through every format, interop with files written by pyarrow and
//! numpy, and the loaders on fixtures and on the shared real data samples.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pref_data::loaders::{self, load_tasks, Source};
use pref_data::npy::{
    read_npy_matrix_f32, read_npy_matrix_f64, read_npy_vector_f64, read_npy_vector_i64,
};
use pref_data::paths::shared_data_dir;
use pref_data::{
    read_jsonl, read_records, write_records, Battle, BattleTable, Choice, Comparison, LoggedSample,
    Matrix, Order, PairCounts, TableRecord, Task, Winner,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn roundtrip<T: TableRecord + PartialEq + std::fmt::Debug>(records: &[T]) {
    let dir = tempfile::tempdir().unwrap();
    for name in ["r.jsonl", "r.jsonl.gz", "r.json", "r.parquet"] {
        let p = dir.path().join(name);
        write_records(&p, records).unwrap();
        let back: Vec<T> = read_records(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(back, records, "{name}");
    }
    // The gzip file really is compressed (magic bytes 1f 8b).
    let gz = std::fs::read(dir.path().join("r.jsonl.gz")).unwrap();
    assert_eq!(&gz[..2], &[0x1f, 0x8b]);
}

#[test]
fn all_record_types_roundtrip_through_every_format() {
    roundtrip(&read_records::<Battle>(fixtures().join("battles.jsonl")).unwrap());
    roundtrip(&read_records::<PairCounts>(fixtures().join("pair_counts.jsonl")).unwrap());
    roundtrip(&read_records::<Comparison>(fixtures().join("comparisons.jsonl")).unwrap());
    roundtrip(&read_records::<LoggedSample>(fixtures().join("logged_samples.jsonl")).unwrap());
    roundtrip(&loaders::load_cnn_dailymail(fixtures().join("tasks/cnn_dailymail.jsonl")).unwrap());
}

#[test]
fn comparison_fixture_keeps_unparseable_choices() {
    let c: Vec<Comparison> = read_jsonl(fixtures().join("comparisons.jsonl")).unwrap();
    assert_eq!(c.len(), 4);
    assert_eq!(c[1].order, Order::Ba);
    assert_eq!(c[2].choice, None);
    assert_eq!(c[3].choice, Some(Choice::Tie));
    assert_eq!(c[0].logprob_a, Some(-0.22));
}

#[test]
fn pair_counts_accept_the_probability_form() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.jsonl");
    std::fs::write(
        &p,
        "{\"a\": \"x\", \"b\": \"y\", \"p_a\": 0.25, \"n\": 8}\n",
    )
    .unwrap();
    let v: Vec<PairCounts> = read_jsonl(&p).unwrap();
    assert_eq!((v[0].count_a, v[0].count_b), (2.0, 6.0));
    assert_eq!(v[0].p_a(), 0.25);
}

#[test]
fn fastchat_battles_from_json_array_and_pyarrow_parquet() {
    let expect = vec![
        ("atlas-7b", "birch-13b", Winner::A),
        ("birch-13b", "cedar-3b", Winner::Tie),
        ("cedar-3b", "atlas-7b", Winner::B),
        ("atlas-7b", "cedar-3b", Winner::Tie),
    ];
    for name in ["battles_fastchat.json", "battles_fastchat.parquet"] {
        let b: Vec<Battle> = read_records(fixtures().join(name)).unwrap();
        let got: Vec<_> = b
            .iter()
            .map(|x| (x.a.as_str(), x.b.as_str(), x.winner))
            .collect();
        assert_eq!(got, expect, "{name}");
        let t = BattleTable::read(fixtures().join(name)).unwrap();
        assert_eq!(t.to_battles(), b, "{name}");
    }
}

#[test]
fn battle_table_cells_match_python_counts() {
    // python3: rows = [json.loads(l) for l in open('fixtures/battles.jsonl')]; orient each
    // battle so that a < b by name, flipping the winner; Counter of (a, b, winner):
    // ('atlas-7b','ember-70b') -> a: 8, b: 16, tie: 2; winners overall a 138, b 125, tie 37.
    let t = BattleTable::read(fixtures().join("battles.jsonl")).unwrap();
    assert_eq!(t.len(), 300);
    assert_eq!(t.models.len(), 5);
    let count = |w| t.winner.iter().filter(|&&x| x == w).count();
    assert_eq!(
        (count(Winner::A), count(Winner::B), count(Winner::Tie)),
        (138, 125, 37)
    );
    let (ia, ie) = (
        t.model_index("atlas-7b").unwrap(),
        t.model_index("ember-70b").unwrap(),
    );
    let cell = t
        .pair_cells()
        .into_iter()
        .find(|c| (c.0, c.1) == (ia.min(ie), ia.max(ie)))
        .unwrap();
    let (wa, we) = if ia < ie {
        (cell.2, cell.3)
    } else {
        (cell.3, cell.2)
    };
    assert_eq!((wa, we, cell.4), (8, 16, 2));
    // Every battle is in exactly one cell.
    let total: u64 = t.pair_cells().iter().map(|c| c.2 + c.3 + c.4).sum();
    assert_eq!(total, 300);
    // Parquet round trip of the table keeps every battle in order.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.parquet");
    t.write_parquet(&p).unwrap();
    assert_eq!(BattleTable::read(&p).unwrap().to_battles(), t.to_battles());
}

#[test]
fn parquet_rows_are_validated_with_row_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.parquet");
    let mut t = BattleTable::new();
    t.push("x", "y", Winner::A);
    t.push("y", "y", Winner::B);
    t.write_parquet(&p).unwrap();
    let e = BattleTable::read(&p).unwrap_err().to_string();
    assert_eq!(
        e,
        format!("{}: row 2: b: self-battle: `y` against itself", p.display())
    );
    // Garbage is reported, not a panic.
    std::fs::write(&p, b"PAR1 not really").unwrap();
    let e = read_records::<Battle>(&p).unwrap_err().to_string();
    assert!(e.contains("not a readable Parquet file"), "{e}");
}

#[test]
fn npy_matrices_and_vectors_written_by_numpy() {
    // numpy: m = np.arange(12, dtype=np.float32).reshape(3, 4) / 4
    let want: Vec<f32> = (0..12).map(|i| i as f32 / 4.0).collect();
    let m = read_npy_matrix_f32(fixtures().join("activations_3x4_f32.npy")).unwrap();
    assert_eq!((m.rows, m.cols), (3, 4));
    assert_eq!(m.data, want);
    assert_eq!(m.row(2), &[2.0, 2.25, 2.5, 2.75]);
    // The same matrix saved as float64 in Fortran order reads back row-major.
    let f = read_npy_matrix_f64(fixtures().join("activations_3x4_f64_fortran.npy")).unwrap();
    assert_eq!(f.data, want.iter().map(|&x| x as f64).collect::<Vec<_>>());
    assert_eq!(
        read_npy_vector_i64(fixtures().join("indices_i64.npy")).unwrap(),
        vec![2, 0, 1]
    );
    assert_eq!(
        read_npy_vector_f64(fixtures().join("values_i32.npy")).unwrap(),
        vec![5.0, -1.0, 7.0]
    );
    // Shape errors name the file and the shape.
    let e = read_npy_vector_i64(fixtures().join("activations_3x4_f32.npy"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("activations_3x4_f32.npy") && e.contains("[3, 4]"),
        "{e}"
    );
    let e = read_npy_matrix_f32(fixtures().join("indices_i64.npy"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("expected a 2-D array"), "{e}");
    // Write and read back.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.npy");
    pref_data::npy::write_npy_matrix_f32(&p, &Matrix::new(3, 4, want.clone()).unwrap()).unwrap();
    assert_eq!(read_npy_matrix_f32(&p).unwrap().data, want);
    let p = dir.path().join("junk.npy");
    std::fs::write(&p, b"\x93NUMPY garbage").unwrap();
    assert!(read_npy_matrix_f64(&p)
        .unwrap_err()
        .to_string()
        .contains("junk.npy"));
}

#[test]
fn loaders_on_fixtures() {
    let f = fixtures().join("tasks");
    let a = loaders::load_alpaca(f.join("alpaca.json")).unwrap();
    assert_eq!(a.len(), 3);
    assert_eq!(
        a[1].prompt,
        "Translate the sentence into French.\n\nThe cat sleeps on the sofa."
    );
    assert_eq!(
        a[1].reference.as_deref(),
        Some("Le chat dort sur le canapé.")
    );
    assert_eq!(a[2].id, "alpaca-2");

    let m = loaders::load_math(f.join("math.jsonl")).unwrap();
    assert_eq!(m[1].id, "fixture/number_theory/2.json");
    assert_eq!(m[1].reference.as_deref(), Some("2"));
    assert_eq!(m[1].meta.as_ref().unwrap()["subject"], "Number Theory");

    let w = loaders::load_wildchat(f.join("wildchat.jsonl")).unwrap();
    assert_eq!(w[1].prompt, "Explain what a hash map is to a ten-year-old.");
    assert_eq!(
        (
            w[2].id.as_str(),
            w[2].meta.as_ref().unwrap()["language"].as_str()
        ),
        ("fx-003", Some("German"))
    );

    let c = loaders::load_cnn_dailymail(f.join("cnn_dailymail.jsonl")).unwrap();
    assert!(c[0]
        .reference
        .as_deref()
        .unwrap()
        .starts_with("Millbrook council"));
    assert!(c[0]
        .meta
        .as_ref()
        .unwrap()
        .get("summary_fixture_model")
        .is_some());

    let q = loaders::load_arena_questions(f.join("arena_questions.jsonl")).unwrap();
    assert_eq!(q[0].id, "fx0001");
    assert_eq!(q[1].id, "fx0002");
    assert!(q[1].prompt.starts_with("Explain the difference"));

    let o = loaders::load_outcomes(f.join("outcomes.jsonl")).unwrap();
    assert_eq!(o[2].id, "outcome-2");
    assert_eq!(o[2].meta.as_ref().unwrap()["category"], "Environment");

    let t: Vec<Task> = load_tasks(f.join("math.jsonl"), "math".parse::<Source>().unwrap()).unwrap();
    assert_eq!(t.len(), 3);
    assert!("nonsense".parse::<Source>().is_err());
}

#[test]
fn loaders_on_shared_real_data() {
    let Some(d) = shared_data_dir() else { return };
    // Row counts and values from python3 (json module) on the same files:
    //   len(json.load(open('alpaca/alpaca_2000.json'))) == 2000; rows with non-empty input: 795
    //   MATH-500: 500 rows, last id 'math500_0499', 124 Algebra problems
    //   WildChat 500 (2 with an empty first turn), CNN/DM 500, arena-hard v0.1 500, v2.0 750, outcomes 510
    let a = loaders::load_alpaca(d.join("alpaca/alpaca_2000.json")).unwrap();
    assert_eq!(a.len(), 2000);
    assert!(a.iter().filter(|t| t.prompt.contains("\n\n")).count() >= 795);
    let m = loaders::load_math(d.join("math/math500.jsonl")).unwrap();
    assert_eq!(m.len(), 500);
    assert_eq!(m[499].id, "math500_0499");
    assert_eq!(
        m.iter()
            .filter(|t| t.meta.as_ref().unwrap()["subject"] == "Algebra")
            .count(),
        124
    );
    // python3: sum(1 for x in rows if not x['first_user_message'].strip()) == 2 (skipped)
    assert_eq!(
        loaders::load_wildchat(d.join("wildchat/wildchat_first_turns_500.jsonl"))
            .unwrap()
            .len(),
        498
    );
    let c = loaders::load_cnn_dailymail(d.join("cnn_dailymail/cnn_dailymail_500.jsonl")).unwrap();
    assert_eq!(c.len(), 500);
    assert_eq!(c[0].id, "42c027e4ff9730fbb3de84c1af0d2c506e41c3e4");
    assert!(c[0].meta.as_ref().unwrap().get("summary_gpt4").is_some());
    assert_eq!(
        loaders::load_arena_questions(d.join("arena_prompts/arena-hard-v0.1_question.jsonl"))
            .unwrap()
            .len(),
        500
    );
    assert_eq!(
        loaders::load_arena_questions(d.join("arena_prompts/arena-hard-v2.0_question.jsonl"))
            .unwrap()
            .len(),
        750
    );
    assert_eq!(
        loaders::load_outcomes(d.join("emergent_values/outcomes.jsonl"))
            .unwrap()
            .len(),
        510
    );
}

#[test]
fn fastchat_judge_battles_from_shared_data() {
    let Some(d) = shared_data_dir() else { return };
    // python3: 12000 rows; Counter(winner) == {'model_a': 7073, 'model_b': 4927};
    // models ['claude','gpt35','gpt4','human','llama']; gpt4 (a) beat claude (b) 419 times.
    let p = d.join("arena_battles/cnn_selfpref_llm_judge_battles.jsonl");
    let t = BattleTable::read(&p).unwrap();
    assert_eq!(t.len(), 12000);
    let mut models = t.models.clone();
    models.sort();
    assert_eq!(models, ["claude", "gpt35", "gpt4", "human", "llama"]);
    assert_eq!(t.winner.iter().filter(|&&w| w == Winner::A).count(), 7073);
    let (g, c) = (
        t.model_index("gpt4").unwrap(),
        t.model_index("claude").unwrap(),
    );
    let n = (0..t.len())
        .filter(|&i| t.a[i] == g && t.b[i] == c && t.winner[i] == Winner::A)
        .count();
    assert_eq!(n, 419);
    let v: Vec<Battle> = read_records(&p).unwrap();
    assert_eq!(BattleTable::from_battles(&v), t);
}

#[test]
fn logged_sample_metadata_survives_parquet() {
    let s: Vec<LoggedSample> = read_records(fixtures().join("logged_samples.jsonl")).unwrap();
    assert_eq!(s[2].metadata.as_ref().unwrap()["note"], "wrong answer");
    let mut want = BTreeMap::new();
    want.insert("better".to_string(), -2.1);
    want.insert("clone".to_string(), -2.5);
    assert_eq!(s[0].target_policy_logprobs, want);
    assert_eq!(s[1].oracle_label, None);
}
