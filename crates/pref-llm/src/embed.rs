//! Sentence embeddings with all-MiniLM-L6-v2 on candle (`docs/setup.md`).
//!
//! The model is the embedded `all-minilm-l6-v2` that `cargo xtask setup` puts in
//! the model cache (`model.safetensors`, `tokenizer.json`, `config.json`). The
//! pipeline reproduces sentence-transformers' `all-MiniLM-L6-v2`:
//!
//! 1. WordPiece tokenisation with `tokenizer.json` (lower-casing BERT normaliser,
//!    `[CLS] … [SEP]`), truncated to [`MAX_TOKENS`] = 256 tokens (the model's
//!    `max_seq_length`). The file's own fixed padding to 128 and truncation to 128
//!    are replaced: each batch is padded to its longest member and the attention
//!    mask hides the padding.
//! 2. candle-transformers' BERT encoder (6 layers, hidden 384), f32 on the CPU.
//! 3. Mean pooling of the last hidden states over the attention mask.
//! 4. L2 normalisation, so the dot product of two rows is their cosine.
//!
//! Texts are sorted by token count before batching (as sentence-transformers
//! does) so that a batch wastes little work on padding; rows come back in input
//! order.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, D};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use pref_data::Matrix;
use tokenizers::Tokenizer;

use crate::error::{Error, Result};
use crate::model::ModelId;

/// Name of the embedded sentence-embedding model in `pref_data::paths::EMBEDDED_MODELS`.
pub const MODEL_NAME: &str = "all-minilm-l6-v2";

/// Longest input in tokens, `[CLS]` and `[SEP]` included; longer texts are
/// truncated (sentence-transformers' `max_seq_length` for this model).
pub const MAX_TOKENS: usize = 256;

/// Number of texts run through the encoder at once unless changed with
/// [`SentenceEmbedder::with_batch_size`].
pub const DEFAULT_BATCH_SIZE: usize = 32;

const MODEL_FILE: &str = "model.safetensors";
const TOKENIZER_FILE: &str = "tokenizer.json";
const CONFIG_FILE: &str = "config.json";

/// Sentence encoder: texts → L2-normalised 384-dimensional embeddings
/// (all-MiniLM-L6-v2, mean pooling), computed with candle on the CPU in f32.
///
/// ```no_run
/// # fn main() -> pref_llm::Result<()> {
/// use pref_llm::embed::SentenceEmbedder;
/// let embedder = SentenceEmbedder::load_default()?;
/// let m = embedder.embed(&["A cat sits on the mat.", "A dog sleeps."])?;
/// assert_eq!((m.rows, m.cols), (2, 384));
/// let cosine: f32 = m.row(0).iter().zip(m.row(1)).map(|(a, b)| a * b).sum();
/// # let _ = cosine;
/// # Ok(())
/// # }
/// ```
pub struct SentenceEmbedder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    id: ModelId,
    dim: usize,
    batch_size: usize,
}

impl std::fmt::Debug for SentenceEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentenceEmbedder")
            .field("id", &self.id)
            .field("dim", &self.dim)
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

fn backend(what: impl std::fmt::Display, path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Backend(format!("{what} {}: {e}", path.display()))
}

impl SentenceEmbedder {
    /// Loads the model from `dir`, which must hold `model.safetensors`,
    /// `tokenizer.json` and `config.json` of all-MiniLM-L6-v2 (the layout
    /// `cargo xtask setup` writes). A missing directory or file is
    /// [`Error::ModelMissing`] naming it; unreadable files are [`Error::Backend`].
    ///
    /// The id's sha256 is the one pinned in `pref_data::paths::EMBEDDED_MODELS`
    /// (`cargo xtask setup` verified the file against it); the file is not hashed
    /// again at every load.
    pub fn load(dir: &Path) -> Result<Self> {
        let missing = |path: PathBuf| Error::ModelMissing {
            name: MODEL_NAME.to_string(),
            path,
        };
        if !dir.is_dir() {
            return Err(missing(dir.to_path_buf()));
        }
        for file in [MODEL_FILE, TOKENIZER_FILE, CONFIG_FILE] {
            let path = dir.join(file);
            if !path.is_file() {
                return Err(missing(path));
            }
        }

        let config_path = dir.join(CONFIG_FILE);
        let config_text = std::fs::read_to_string(&config_path)
            .map_err(|e| backend("cannot read", &config_path, e))?;
        let config: Config = serde_json::from_str(&config_text)
            .map_err(|e| backend("invalid BERT config", &config_path, e))?;
        if config.hidden_size == 0 || config.max_position_embeddings < MAX_TOKENS {
            return Err(backend(
                "unusable BERT config",
                &config_path,
                format!(
                    "hidden_size {} and max_position_embeddings {} (need > 0 and >= {MAX_TOKENS})",
                    config.hidden_size, config.max_position_embeddings
                ),
            ));
        }

        let tokenizer_path = dir.join(TOKENIZER_FILE);
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| backend("cannot load tokenizer", &tokenizer_path, e))?;
        // tokenizer.json pads every input to 128 and truncates at 128: replace both.
        // Padding is done per batch in `embed_sorted_batch`.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(tokenizers::TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(|e| backend("cannot set truncation of tokenizer", &tokenizer_path, e))?;

        let device = Device::Cpu;
        let model_path = dir.join(MODEL_FILE);
        // Read into memory (safe) rather than memory-mapping (unsafe): the file is 87 MiB.
        let tensors = candle_core::safetensors::load(&model_path, &device)
            .map_err(|e| backend("cannot read weights", &model_path, e))?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &device);
        let model = BertModel::load(vb, &config)
            .map_err(|e| backend("cannot build BERT from", &model_path, e))?;

        let sha256 =
            pref_data::paths::embedded_model(MODEL_NAME).map(|m| m.files[0].sha256.to_string());
        let id = ModelId {
            backend: "candle".to_string(),
            name: MODEL_NAME.to_string(),
            sha256,
            base_url: None,
            variant: None,
        };
        Ok(Self {
            model,
            tokenizer,
            device,
            id,
            dim: config.hidden_size,
            batch_size: DEFAULT_BATCH_SIZE,
        })
    }

    /// Loads the embedded model from the model cache
    /// (`$PREF_HOME/models/all-minilm-l6-v2`, default `~/.cache/pref/models/…`).
    pub fn load_default() -> Result<Self> {
        let model = pref_data::paths::embedded_model(MODEL_NAME)
            .ok_or_else(|| Error::Invalid(format!("`{MODEL_NAME}` is not an embedded model")))?;
        Self::load(&model.dir_path())
    }

    /// Sets how many texts go through the encoder at once (default
    /// [`DEFAULT_BATCH_SIZE`]); 0 is [`Error::Invalid`]. Results do not depend on
    /// it beyond float rounding (~1e-6).
    pub fn with_batch_size(mut self, batch_size: usize) -> Result<Self> {
        if batch_size == 0 {
            return Err(Error::Invalid(
                "embedding batch size must be at least 1".into(),
            ));
        }
        self.batch_size = batch_size;
        Ok(self)
    }

    /// The batch size in use.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The model's content-addressed id: backend `candle`, name
    /// `all-minilm-l6-v2`, sha256 of `model.safetensors`.
    pub fn id(&self) -> &ModelId {
        &self.id
    }

    /// Embedding dimension (384 for all-MiniLM-L6-v2).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Embeds `texts`: one L2-normalised row of [`dim`](Self::dim) values per
    /// text, in input order. An empty list gives a `0 × dim` matrix; an empty
    /// string is valid (it encodes as `[CLS] [SEP]`). Texts longer than
    /// [`MAX_TOKENS`] tokens are truncated.
    pub fn embed(&self, texts: &[&str]) -> Result<Matrix<f32>> {
        let mut data = vec![0f32; texts.len() * self.dim];
        if texts.is_empty() {
            return Ok(Matrix {
                rows: 0,
                cols: self.dim,
                data,
            });
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| Error::Backend(format!("tokenizing for {MODEL_NAME}: {e}")))?;
        // Longest first, so each batch holds texts of similar length.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(encodings[i].get_ids().len()));

        for chunk in order.chunks(self.batch_size) {
            let batch: Vec<&[u32]> = chunk.iter().map(|&i| encodings[i].get_ids()).collect();
            let rows = self
                .embed_batch(&batch)
                .map_err(|e| Error::Backend(format!("{MODEL_NAME} forward pass: {e}")))?;
            for (&i, row) in chunk.iter().zip(rows) {
                data[i * self.dim..(i + 1) * self.dim].copy_from_slice(&row);
            }
        }
        Ok(Matrix {
            rows: texts.len(),
            cols: self.dim,
            data,
        })
    }

    /// Runs one batch of token-id sequences (each with `[CLS]`/`[SEP]`, none
    /// empty) through BERT, pads to the longest, mean-pools over the mask and
    /// L2-normalises.
    fn embed_batch(&self, batch: &[&[u32]]) -> candle_core::Result<Vec<Vec<f32>>> {
        let n = batch.len();
        let len = batch.iter().map(|ids| ids.len()).max().unwrap_or(0);
        let mut ids = vec![0u32; n * len]; // 0 = [PAD]
        let mut mask = vec![0u32; n * len];
        for (r, seq) in batch.iter().enumerate() {
            ids[r * len..r * len + seq.len()].copy_from_slice(seq);
            mask[r * len..r * len + seq.len()].fill(1);
        }
        let ids = Tensor::from_vec(ids, (n, len), &self.device)?;
        let mask = Tensor::from_vec(mask, (n, len), &self.device)?;
        let token_types = ids.zeros_like()?;
        let hidden = self.model.forward(&ids, &token_types, Some(&mask))?; // (n, len, dim)

        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // (n, len, 1)
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?; // (n, dim)
        let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?; // (n, 1)
        let mean = summed.broadcast_div(&counts)?;
        // torch.nn.functional.normalize: x / max(||x||, 1e-12).
        let norms = mean
            .sqr()?
            .sum_keepdim(D::Minus1)?
            .sqrt()?
            .clamp(1e-12f32, f32::MAX)?;
        mean.broadcast_div(&norms)?.to_vec2::<f32>()
    }
}
