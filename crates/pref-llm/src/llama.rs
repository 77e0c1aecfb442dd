//! The embedded llama.cpp backend (`llama-cpp-2`): no server, no GPU, no key.
//!
//! One worker thread owns the model and one context; requests reach it over a
//! channel, so [`LlamaLm`] is `Send + Sync` and usable from async code. The
//! deterministic scoring setup is fixed here, in one place, and recorded in the
//! model id (see the crate README):
//!
//! | setting | value | why |
//! |---|---|---|
//! | flash attention | disabled | the default (auto) resolves to on and shifts log-probs by 0.1–0.4 nats/token |
//! | K and V cache type | F32 | no quantisation noise in scores |
//! | prompt blocks | calls of `prompt_block` (32) tokens at fixed positions `[k·B, (k+1)·B)`, the remainder joining the last | a prompt is always decoded in the same calls, whatever ran before; no call is small enough to take llama.cpp's few-row kernels |
//! | micro-batch | `n_ubatch` (512) | recorded |
//! | threads | `n_threads` (2), also for batches | recorded; results are identical across thread counts |
//! | KV cache | whole blocks equal to the previous prompt's are kept, the rest is cleared | no state leaks between requests |
//!
//! **Prefix reuse.** Judging and rating prompts share long prefixes (a system
//! prompt, an article, a task list). The worker keeps the KV cells of the
//! previous prompt's whole blocks and, for the next prompt, decodes only from
//! the first block that differs. Because the block boundaries are a function of
//! the position alone, a block's cells are the same bits whether they were kept
//! or decoded afresh, so a result never depends on what was asked before (tested
//! bit for bit against a freshly loaded model). With blocks of at least 8 tokens
//! the results are also the bits of decoding the whole prompt in one call.
//!
//! Teacher forcing decodes prompt and continuation together and requests logits
//! only at the rows it reads (Gemma's vocabulary is 262k).

use std::num::NonZeroU32;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, OnceLock};

use async_trait::async_trait;
use llama_cpp_2::context::params::{KvCacheType, LlamaContextParams};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::jinja::JinjaTemplate;
use crate::model::{LanguageModel, ModelId};
use crate::types::{
    ChoiceLogprobs, Completion, ConversationStates, FinishReason, HiddenStates, Message, Pooling,
    Position, SamplingParams, TokenLogprob, TokenLogprobs,
};

static BACKEND: OnceLock<std::result::Result<LlamaBackend, String>> = OnceLock::new();

/// The process-wide llama.cpp backend, initialised once with its logging silenced.
/// Code that also uses `llama-cpp-2` directly (benches comparing against raw
/// llama.cpp) must take the backend from here: llama.cpp is initialised once per process.
pub fn try_backend() -> Result<&'static LlamaBackend> {
    BACKEND
        .get_or_init(|| {
            let mut b =
                LlamaBackend::init().map_err(|e| format!("cannot initialise llama.cpp: {e}"))?;
            b.void_logs();
            Ok(b)
        })
        .as_ref()
        .map_err(|e| Error::Backend(e.clone()))
}

/// Configuration of the embedded backend. Every field has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlamaConfig {
    /// `default` (SmolLM2-135M-Instruct), `gemma-3-270m`, or a path to any GGUF file.
    pub model: String,
    /// Chat template: `None` renders the GGUF's own Jinja template
    /// (`tokenizer.chat_template`) as llama.cpp's server does (`crate::jinja`);
    /// otherwise a llama.cpp built-in template name (`gemma`, `chatml`, `llama3`,
    /// …; [`builtin_templates`] lists them). `gemma-3-270m` defaults to `gemma`
    /// because that GGUF (a base model) ships none. The model id records which
    /// (`template=jinja:<sha256 prefix>` or the built-in's name).
    pub chat_template: Option<String>,
    /// Context length in tokens (prompt + continuation or generation).
    pub n_ctx: u32,
    /// CPU threads for single tokens and for batches.
    pub n_threads: i32,
    /// Micro-batch size.
    pub n_ubatch: u32,
    /// Prompts are decoded in blocks of this many tokens at fixed positions, and
    /// whole blocks shared with the previous prompt are reused (module docs).
    pub prompt_block: u32,
}

impl Default for LlamaConfig {
    fn default() -> Self {
        Self {
            model: "default".into(),
            chat_template: None,
            n_ctx: 4096,
            n_threads: 2,
            n_ubatch: 512,
            prompt_block: 32,
        }
    }
}

impl LlamaConfig {
    /// A config for `model` with every other setting at its default.
    pub fn for_model(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            ..Self::default()
        }
    }
}

/// What the loaded model is, and the settings it runs with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaInfo {
    /// The GGUF file.
    pub path: PathBuf,
    /// sha256 of the file.
    pub sha256: String,
    /// Number of transformer layers.
    pub n_layer: usize,
    /// Hidden size.
    pub n_embd: usize,
    /// Vocabulary size.
    pub n_vocab: usize,
    /// sha256 of the vocabulary: every token's text (special tokens rendered),
    /// in id order. Two models score the same text with the same tokens
    /// exactly when their fingerprints are equal.
    pub tokenizer: String,
    /// Chat template used: `jinja:<sha256 prefix>` (the GGUF's own) or a built-in's name.
    pub chat_template: String,
    /// The resolved configuration.
    pub config: LlamaConfig,
}

/// What the worker reports once the model is loaded: layers, hidden size,
/// vocabulary size, the chat template's label and the vocabulary fingerprint.
type Loaded = (usize, usize, usize, String, String);

/// sha256 over every token's text (special tokens rendered), each prefixed by
/// its length so that no two vocabularies concatenate alike.
fn vocab_fingerprint(model: &LlamaModel) -> String {
    let vocab = model.vocab();
    let mut h = Sha256::new();
    let mut buf = Vec::with_capacity(32);
    for t in 0..model.n_vocab() {
        buf.clear();
        vocab.token_to_piece_into(LlamaToken(t), &mut buf, true, None);
        h.update((buf.len() as u32).to_le_bytes());
        h.update(&buf);
    }
    hex::encode(h.finalize())
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path)
        .map_err(|e| Error::Backend(format!("{}: {e}", path.display())))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)
        .map_err(|e| Error::Backend(format!("{}: {e}", path.display())))?;
    Ok(hex::encode(h.finalize()))
}

/// Resolves a model name or path to (name, path, sha256, default template).
fn resolve(model: &str) -> Result<(String, PathBuf, String, Option<&'static str>)> {
    if let Some(m) = pref_data::paths::embedded_model(model) {
        let path = m.main_path();
        if !path.is_file() {
            return Err(Error::ModelMissing {
                name: model.into(),
                path,
            });
        }
        let template = (m.name == "gemma-3-270m").then_some("gemma");
        return Ok((
            m.name.to_string(),
            path,
            m.files[0].sha256.to_string(),
            template,
        ));
    }
    let path = PathBuf::from(model);
    if !path.is_file() {
        return Err(Error::ModelMissing {
            name: model.into(),
            path,
        });
    }
    check_gguf(&path)?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| model.to_string());
    let sha = sha256_file(&path)?;
    Ok((name, path, sha, None))
}

/// Refuses a file that is not GGUF (llama.cpp would only say `null result`).
fn check_gguf(path: &Path) -> Result<()> {
    use std::io::Read;
    let mut magic = [0u8; 4];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut magic))
        .map_err(|e| Error::Backend(format!("{}: {e}", path.display())))?;
    if n < 4 || &magic != b"GGUF" {
        return Err(Error::Invalid(format!(
            "{}: not a GGUF model file (it does not start with the bytes `GGUF`); the embedded \
             backend loads llama.cpp GGUF files",
            path.display()
        )));
    }
    Ok(())
}

/// The names of llama.cpp's built-in chat templates.
pub fn builtin_templates() -> Vec<String> {
    let mut ptrs = vec![std::ptr::null(); 128];
    // SAFETY: llama.cpp writes at most `len` pointers to static C strings and
    // returns how many templates it has.
    let n = unsafe { llama_cpp_sys_2::llama_chat_builtin_templates(ptrs.as_mut_ptr(), ptrs.len()) };
    let n = usize::try_from(n).unwrap_or(0).min(ptrs.len());
    ptrs[..n]
        .iter()
        .filter(|p| !p.is_null())
        // SAFETY: non-null pointers to NUL-terminated static strings (above).
        .map(|&p| {
            unsafe { std::ffi::CStr::from_ptr(p) }
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// A prompt as the model sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedPrompt {
    /// The chat template's output.
    pub text: String,
    /// Its token ids (special tokens parsed, BOS added when the vocabulary says so).
    pub tokens: Vec<i32>,
}

/// How prompts are rendered: the GGUF's own Jinja template (the default, as
/// llama.cpp's server does), or a llama.cpp built-in chosen by name.
enum ChatTemplate {
    Jinja(Box<JinjaTemplate>),
    Builtin(LlamaChatTemplate),
}

impl ChatTemplate {
    /// The template for `model`; also its label in the model id
    /// (`jinja:<sha256 of the source, 16 hex>` or the built-in's name).
    fn load(model: &LlamaModel, name: Option<&str>, path: &Path) -> Result<(Self, String)> {
        if let Some(name) = name {
            let names = builtin_templates();
            if !names.iter().any(|n| n == name) {
                return Err(Error::Invalid(format!(
                    "chat_template `{}` is not one of llama.cpp's built-in templates ({}); leave \
                     it unset to use the GGUF's own",
                    name.chars().take(40).collect::<String>(),
                    names.join(", ")
                )));
            }
            let t = LlamaChatTemplate::new(name)
                .map_err(|e| Error::Invalid(format!("chat_template `{name}`: {e}")))?;
            return Ok((ChatTemplate::Builtin(t), name.to_string()));
        }
        let source = model.meta_val_str("tokenizer.chat_template").map_err(|_| {
            Error::Invalid(format!(
                "{} has no chat template: set chat_template to one of llama.cpp's built-in \
                 templates (e.g. \"gemma\" or \"chatml\")",
                path.display()
            ))
        })?;
        let vocab = model.vocab();
        let text = |t: LlamaToken| -> String {
            if t.0 < 0 {
                return String::new();
            }
            vocab
                .text(t)
                .map(|c| c.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let t = JinjaTemplate::new(
            &source,
            &text(vocab.bos()),
            &text(vocab.eos()),
            vocab.should_add_bos(),
            vocab.should_add_eos(),
        )
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        let label = format!("jinja:{}", &t.sha256()[..16]);
        Ok((ChatTemplate::Jinja(Box::new(t)), label))
    }
}

type Reply<T> = oneshot::Sender<Result<T>>;

/// Most continuations one [`LlamaLm::score_shared`] call takes (sequences of the context).
pub const MAX_SHARED: u32 = 15;
const _: () = assert!(MAX_SHARED < crate::spec::MIN_N_CTX);

enum Job {
    Prompt(Vec<Message>, Reply<RenderedPrompt>),
    Generate(Vec<Message>, SamplingParams, Reply<Completion>),
    Score(Vec<Message>, String, Reply<TokenLogprobs>),
    Choice(Vec<Message>, Vec<String>, Reply<ChoiceLogprobs>),
    Hidden(Vec<Message>, Vec<usize>, Pooling, Reply<HiddenStates>),
    Conversation(Conversation, Reply<ConversationStates>),
    ScoreShared(Vec<Message>, Vec<String>, Reply<Vec<TokenLogprobs>>),
}

/// A [`Job::Conversation`]'s request.
struct Conversation {
    prompt: Vec<Message>,
    answer: String,
    layers: Vec<usize>,
    positions: Vec<Position>,
}

/// The embedded llama.cpp model. Cheap to share (`Arc`); calls are served in
/// order by one worker thread.
pub struct LlamaLm {
    id: ModelId,
    info: LlamaInfo,
    jobs: mpsc::Sender<Job>,
}

impl LlamaLm {
    /// Loads a model (blocking: a few hundred milliseconds for the embedded models).
    pub fn load(config: LlamaConfig) -> Result<Self> {
        if config.n_ctx < crate::spec::MIN_N_CTX {
            // llama.cpp asserts (`n_outputs_max <= cparams.n_outputs_max`, an
            // abort) when the context is smaller than its sequence count.
            return Err(Error::Invalid(format!(
                "n_ctx must be at least {} (the context holds up to {} sequences), got {}",
                crate::spec::MIN_N_CTX,
                MAX_SHARED + 1,
                config.n_ctx
            )));
        }
        if config.n_ubatch == 0 || config.n_threads <= 0 || config.prompt_block == 0 {
            return Err(Error::Invalid(format!(
                "n_ubatch, n_threads and prompt_block must be positive (got {}, {}, {})",
                config.n_ubatch, config.n_threads, config.prompt_block
            )));
        }
        let (name, path, sha256, default_template) = resolve(&config.model)?;
        let template = config
            .chat_template
            .clone()
            .or(default_template.map(str::to_string));
        let (ready_tx, ready_rx) = mpsc::channel();
        let (jobs, rx) = mpsc::channel();
        let cfg = config.clone();
        let p = path.clone();
        let tmpl = template;
        std::thread::Builder::new()
            .name(format!("llama-{name}"))
            .spawn(move || worker(cfg, p, tmpl, ready_tx, rx))
            .map_err(|e| Error::Backend(format!("cannot start the llama.cpp worker: {e}")))?;
        let (n_layer, n_embd, n_vocab, template_name, tokenizer) = ready_rx
            .recv()
            .map_err(|_| Error::Backend("the llama.cpp worker stopped while loading".into()))??;
        let id = ModelId {
            backend: "llama.cpp".into(),
            name,
            sha256: Some(sha256.clone()),
            base_url: None,
            variant: Some(format!(
                "template={template_name};flash_attn=off;kv=f32;split=block{};ubatch={}",
                config.prompt_block, config.n_ubatch
            )),
        };
        let info = LlamaInfo {
            path,
            sha256,
            n_layer,
            n_embd,
            n_vocab,
            tokenizer,
            chat_template: template_name,
            config,
        };
        Ok(Self { id, info, jobs })
    }

    /// Scores several continuations of one prompt, evaluating the prompt once.
    ///
    /// Fixed split policy: one `decode` call for the prompt (sequence 0), whose
    /// KV cells are then copied into each continuation's own sequence, decoded in
    /// one call per continuation. Because llama.cpp's results depend slightly on
    /// how a sequence is split into calls, these log-probs differ from
    /// [`LanguageModel::score`] (one call per continuation) by a small amount that
    /// the crate README reports; use one method consistently within a study.
    pub async fn score_shared(
        &self,
        prompt: &[Message],
        continuations: &[String],
    ) -> Result<Vec<TokenLogprobs>> {
        self.ask(|r| Job::ScoreShared(prompt.to_vec(), continuations.to_vec(), r))
            .await
    }

    /// What was loaded and how it runs.
    pub fn info(&self) -> &LlamaInfo {
        &self.info
    }

    /// The prompt the model sees for `messages` (the chat template rendered,
    /// the assistant's turn opened) and its token ids.
    pub async fn prompt(&self, messages: &[Message]) -> Result<RenderedPrompt> {
        self.ask(|r| Job::Prompt(messages.to_vec(), r)).await
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Job) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(make(tx))
            .map_err(|_| Error::Backend("the llama.cpp worker has stopped".into()))?;
        rx.await
            .map_err(|_| Error::Backend("the llama.cpp worker dropped a request".into()))?
    }
}

#[async_trait]
impl LanguageModel for LlamaLm {
    fn id(&self) -> &ModelId {
        &self.id
    }

    async fn generate(&self, messages: &[Message], params: &SamplingParams) -> Result<Completion> {
        self.ask(|r| Job::Generate(messages.to_vec(), params.clone(), r))
            .await
    }

    async fn score(&self, prompt: &[Message], continuation: &str) -> Result<TokenLogprobs> {
        self.ask(|r| Job::Score(prompt.to_vec(), continuation.to_string(), r))
            .await
    }

    async fn choice_logprobs(
        &self,
        messages: &[Message],
        options: &[String],
    ) -> Result<ChoiceLogprobs> {
        self.ask(|r| Job::Choice(messages.to_vec(), options.to_vec(), r))
            .await
    }

    async fn hidden_states(
        &self,
        messages: &[Message],
        layers: &[usize],
        pooling: Pooling,
    ) -> Result<HiddenStates> {
        self.ask(|r| Job::Hidden(messages.to_vec(), layers.to_vec(), pooling, r))
            .await
    }

    async fn conversation_states(
        &self,
        prompt: &[Message],
        answer: &str,
        layers: &[usize],
        positions: &[Position],
    ) -> Result<ConversationStates> {
        let c = Conversation {
            prompt: prompt.to_vec(),
            answer: answer.to_string(),
            layers: layers.to_vec(),
            positions: positions.to_vec(),
        };
        self.ask(|r| Job::Conversation(c, r)).await
    }

    fn context_tokens(&self) -> Option<usize> {
        Some(self.info.config.n_ctx as usize)
    }

    fn n_layers(&self) -> Option<usize> {
        Some(self.info.n_layer)
    }

    fn hidden_size(&self) -> Option<usize> {
        Some(self.info.n_embd)
    }

    fn tokenizer_id(&self) -> Option<String> {
        Some(self.info.tokenizer.clone())
    }

    async fn prompt_tokens(&self, messages: &[Message]) -> Result<Option<usize>> {
        Ok(Some(self.prompt(messages).await?.tokens.len()))
    }
}

fn worker(
    cfg: LlamaConfig,
    path: PathBuf,
    template: Option<String>,
    ready: mpsc::Sender<Result<Loaded>>,
    jobs: mpsc::Receiver<Job>,
) {
    let setup = || -> Result<(LlamaModel, &'static LlamaBackend)> {
        let backend = try_backend()?;
        let model = LlamaModel::load_from_file(backend, &path, &LlamaModelParams::default())
            .map_err(|e| {
                Error::Backend(format!("{}: cannot load the model: {e}", path.display()))
            })?;
        Ok((model, backend))
    };
    let (model, backend) = match setup() {
        Ok(x) => x,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(cfg.n_ctx))
        .with_n_batch(cfg.n_ctx)
        .with_n_ubatch(cfg.n_ubatch.min(cfg.n_ctx))
        .with_n_threads(cfg.n_threads)
        .with_n_threads_batch(cfg.n_threads)
        .with_flash_attention_policy(llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED)
        .with_type_k(KvCacheType::F32)
        .with_type_v(KvCacheType::F32)
        .with_n_seq_max(MAX_SHARED + 1)
        .with_kv_unified(true)
        .with_embeddings(false);
    let ctx = match model.new_context(backend, params) {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(Error::Backend(format!(
                "cannot create a llama.cpp context: {e}"
            ))));
            return;
        }
    };
    let (chat_template, label) = match ChatTemplate::load(&model, template.as_deref(), &path) {
        Ok(t) => t,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let dims = (
        model.n_layer() as usize,
        model.n_embd() as usize,
        model.n_vocab() as usize,
        label,
        vocab_fingerprint(&model),
    );
    if ready.send(Ok(dims)).is_err() {
        return;
    }
    let mut w = Worker {
        model: &model,
        ctx,
        template: chat_template,
        cfg,
        path,
        extractor: None,
        resident: Vec::new(),
    };
    for job in jobs {
        match job {
            Job::Generate(m, p, r) => {
                let _ = r.send(w.generate(&m, &p));
            }
            Job::Score(m, c, r) => {
                let _ = r.send(w.score(&m, &c));
            }
            Job::Choice(m, o, r) => {
                let _ = r.send(w.choice(&m, &o));
            }
            Job::Hidden(m, l, p, r) => {
                let _ = r.send(w.hidden(&m, &l, p));
            }
            Job::Conversation(c, r) => {
                let _ = r.send(w.conversation(&c));
            }
            Job::ScoreShared(m, c, r) => {
                let _ = r.send(w.score_shared(&m, &c));
            }
            Job::Prompt(m, r) => {
                let _ = r.send(w.render(&m, true).map(|text| {
                    let tokens = w.tokenize(&text, true).iter().map(|t| t.0).collect();
                    RenderedPrompt { text, tokens }
                }));
            }
        }
    }
}

struct Worker<'m> {
    model: &'m LlamaModel,
    ctx: LlamaContext<'m>,
    template: ChatTemplate,
    cfg: LlamaConfig,
    path: PathBuf,
    extractor: Option<crate::hidden::ActivationExtractor>,
    /// Tokens at positions `0..len` of sequence 0 whose KV cells hold whole
    /// prompt blocks, reusable by the next prompt that starts with them.
    resident: Vec<LlamaToken>,
}

/// log-softmax of one logit row at `token`, in f64 (max-shifted log-sum-exp).
fn logprob_of(logits: &[f32], token: usize) -> f64 {
    let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let z: f64 = logits.iter().map(|&l| (l as f64 - m).exp()).sum();
    (logits[token] as f64 - m) - z.ln()
}

fn log_softmax(logits: &[f32]) -> Vec<f64> {
    let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let lz = logits
        .iter()
        .map(|&l| (l as f64 - m).exp())
        .sum::<f64>()
        .ln();
    logits.iter().map(|&l| l as f64 - m - lz).collect()
}

/// The number of leading tokens every option shares, when each option has
/// exactly one token after them (and there is at least one shared token).
fn shared_then_one(toks: &[Vec<LlamaToken>]) -> Option<usize> {
    let first = toks.first()?;
    let common = (0..first.len())
        .take_while(|&k| toks.iter().all(|t| t.get(k) == Some(&first[k])))
        .count();
    (common > 0 && toks.iter().all(|t| t.len() == common + 1)).then_some(common)
}

fn argmax(logits: &[f32]) -> usize {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best
}

impl Worker<'_> {
    fn render(&self, messages: &[Message], add_assistant: bool) -> Result<String> {
        if messages.is_empty() {
            return Err(Error::Invalid("no messages".into()));
        }
        let builtin = match &self.template {
            ChatTemplate::Jinja(t) => return t.render(messages, add_assistant),
            ChatTemplate::Builtin(t) => t,
        };
        let chat = messages
            .iter()
            .map(|m| {
                LlamaChatMessage::new(m.role.as_str().to_string(), m.content.clone())
                    .map_err(|e| Error::Invalid(format!("message: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        self.model
            .apply_chat_template(builtin, &chat, add_assistant)
            .map_err(|e| Error::Backend(format!("cannot apply the chat template: {e}")))
    }

    fn tokenize(&self, text: &str, special: bool) -> Vec<LlamaToken> {
        self.model
            .vocab()
            .tokenize(text.as_bytes(), special, special)
    }

    fn piece(&self, t: LlamaToken) -> String {
        String::from_utf8_lossy(&self.model.vocab().token_to_piece(t, false, None)).into_owned()
    }

    fn check_len(&self, n: usize) -> Result<()> {
        if n > self.cfg.n_ctx as usize {
            return Err(Error::Invalid(format!(
                "{n} tokens do not fit in the context of {} tokens (raise n_ctx)",
                self.cfg.n_ctx
            )));
        }
        Ok(())
    }

    /// Decodes `tokens` into sequence 0 from position 0 in blocks of
    /// `prompt_block` (B) tokens at fixed positions `[k·B, (k+1)·B)`, the last
    /// block taking the remainder (so it has B to 2B − 1 tokens), keeping the
    /// cells of the leading blocks that equal the previous prompt's, and calls
    /// `on_row(i, logits)` for every row `i` in `rows` (which must end within
    /// `tokens`). Returns the index of the last token within the last `decode` call.
    ///
    /// Why the remainder joins the last block: llama.cpp computes a row with
    /// different kernels in calls of a few rows than in larger calls (calls of
    /// 1–4 rows moved a label's log p by up to 0.2 nats on SmolLM2 and Gemma-3), so no call
    /// is smaller than B unless the whole prompt is; with B = 32 a prompt then
    /// gives the same bits as one call for the whole prompt (tests/llama.rs).
    fn decode_prompt(
        &mut self,
        tokens: &[LlamaToken],
        rows: Range<usize>,
        mut on_row: impl FnMut(usize, &[f32]),
    ) -> Result<i32> {
        let n = tokens.len();
        if n == 0 || rows.is_empty() || rows.end > n {
            return Err(Error::Invalid(format!(
                "nothing to decode: {n} tokens, rows {rows:?}"
            )));
        }
        self.check_len(n)?;
        let b = self.cfg.prompt_block as usize;
        let common = self
            .resident
            .iter()
            .zip(tokens)
            .take_while(|(r, t)| r == t)
            .count();
        // Calls: [k·B, (k+1)·B) while at least 2B tokens remain, then the rest.
        let last_start = if n < b { 0 } else { (n / b - 1) * b };
        // Rows whose logits are wanted, and the last call, must be decoded now.
        let keep = common.min(rows.start).min(last_start) / b * b;
        self.resident.truncate(keep);
        let cleared = if keep == 0 {
            self.ctx.clear_kv_cache();
            Ok(true)
        } else {
            // All sequences: also continuation cells `score_shared` left behind
            // if it failed half-way.
            self.ctx.clear_kv_cache_seq(None, Some(keep as u32), None)
        };
        if !matches!(cleared, Ok(true)) {
            self.ctx.clear_kv_cache();
            self.resident.clear();
            return Err(Error::Backend(format!(
                "kv cache: cannot drop positions from {keep}: {cleared:?}"
            )));
        }
        let mut batch = LlamaBatch::new(n.min(2 * b), 1);
        let mut start = keep;
        let mut last_row = 0;
        while start < n {
            let end = if start < last_start { start + b } else { n };
            batch.clear();
            for (i, &t) in tokens.iter().enumerate().take(end).skip(start) {
                batch
                    .add(t, i as i32, &[0], rows.contains(&i))
                    .map_err(|e| Error::Backend(format!("batch: {e}")))?;
            }
            if let Err(e) = self.ctx.decode(&mut batch) {
                self.ctx.clear_kv_cache();
                self.resident.clear();
                return Err(Error::Backend(format!("llama.cpp decode failed: {e}")));
            }
            for i in rows.start.max(start)..rows.end.min(end) {
                on_row(i, self.ctx.get_logits_ith((i - start) as i32));
            }
            if end - start == b {
                self.resident.extend_from_slice(&tokens[start..end]);
            }
            last_row = (end - 1 - start) as i32;
            start = end;
        }
        Ok(last_row)
    }

    fn score(&mut self, prompt: &[Message], continuation: &str) -> Result<TokenLogprobs> {
        let p = self.tokenize(&self.render(prompt, true)?, true);
        let c = self.tokenize(continuation, false);
        if c.is_empty() {
            return Ok(TokenLogprobs {
                sum_logprob: 0.0,
                token_logprobs: vec![],
                tokens: vec![],
            });
        }
        let all: Vec<LlamaToken> = p.iter().chain(&c).copied().collect();
        let (start, end) = (p.len() - 1, all.len() - 1);
        let mut lps = vec![0.0; c.len()];
        self.decode_prompt(&all, start..end, |i, logits| {
            lps[i - start] = logprob_of(logits, c[i - start].0 as usize);
        })?;
        Ok(TokenLogprobs {
            sum_logprob: lps.iter().sum(),
            token_logprobs: lps,
            tokens: c.iter().map(|&t| self.piece(t)).collect(),
        })
    }

    fn score_shared(
        &mut self,
        prompt: &[Message],
        continuations: &[String],
    ) -> Result<Vec<TokenLogprobs>> {
        if continuations.len() > MAX_SHARED as usize {
            return Err(Error::Invalid(format!(
                "{} continuations: score_shared takes at most {MAX_SHARED} at once",
                continuations.len()
            )));
        }
        let p = self.tokenize(&self.render(prompt, true)?, true);
        let conts: Vec<Vec<LlamaToken>> = continuations
            .iter()
            .map(|c| self.tokenize(c, false))
            .collect();
        let total = p.len() + conts.iter().map(Vec::len).sum::<usize>();
        self.check_len(total)?;
        // Call 1: the prompt, with logits at its last row (the first token of every continuation).
        let last = p.len() - 1;
        let mut first_row = Vec::new();
        self.decode_prompt(&p, last..p.len(), |_, logits| {
            first_row = log_softmax(logits);
        })?;
        // Then one call per continuation (all but its last token) in its own
        // sequence, attending to the prompt's cells copied into that sequence.
        let mut rows: Vec<Vec<f64>> = Vec::with_capacity(conts.len());
        for (j, c) in conts.iter().enumerate() {
            let seq = j as i32 + 1;
            let mut lps = Vec::with_capacity(c.len());
            if let Some(&t0) = c.first() {
                lps.push(first_row[t0.0 as usize]);
            }
            if c.len() > 1 {
                self.ctx
                    .copy_kv_cache_seq(0, seq, None, None)
                    .map_err(|e| Error::Backend(format!("kv cache: {e}")))?;
                let mut batch = LlamaBatch::new(c.len(), 1);
                for (k, &t) in c[..c.len() - 1].iter().enumerate() {
                    batch
                        .add(t, (p.len() + k) as i32, &[seq], true)
                        .map_err(|e| Error::Backend(format!("batch: {e}")))?;
                }
                self.ctx
                    .decode(&mut batch)
                    .map_err(|e| Error::Backend(format!("llama.cpp decode failed: {e}")))?;
                for (k, &t) in c.iter().enumerate().skip(1) {
                    lps.push(logprob_of(
                        self.ctx.get_logits_ith((k - 1) as i32),
                        t.0 as usize,
                    ));
                }
                self.ctx
                    .clear_kv_cache_seq(Some(seq as u32), None, None)
                    .map_err(|e| Error::Backend(format!("kv cache: {e}")))?;
            }
            rows.push(lps);
        }
        let out = conts
            .iter()
            .zip(rows)
            .map(|(c, lps)| TokenLogprobs {
                sum_logprob: lps.iter().sum(),
                token_logprobs: lps,
                tokens: c.iter().map(|&t| self.piece(t)).collect(),
            })
            .collect();
        Ok(out)
    }

    fn choice(&mut self, messages: &[Message], options: &[String]) -> Result<ChoiceLogprobs> {
        ChoiceLogprobs::check_options(options)?;
        let p = self.tokenize(&self.render(messages, true)?, true);
        let toks: Vec<Vec<LlamaToken>> = options.iter().map(|o| self.tokenize(o, false)).collect();
        if let Some(i) = toks.iter().position(Vec::is_empty) {
            return Err(Error::Invalid(format!("option {i} is empty")));
        }
        let logprobs = if toks.iter().all(|t| t.len() == 1) {
            // One forward pass: the next-token distribution at the answer position.
            let last = p.len() - 1;
            let mut lps = Vec::new();
            self.decode_prompt(&p, last..p.len(), |_, logits| {
                lps = toks
                    .iter()
                    .map(|t| logprob_of(logits, t[0].0 as usize))
                    .collect();
            })?;
            lps
        } else if let Some(common) = shared_then_one(&toks) {
            // Options that agree but for their last token (`<choice>Task A` /
            // `<choice>Task B`): one pass over the prompt and the shared tokens
            // gives their log p, and at the position after them, where the
            // format puts the label, the distribution the labels are read from.
            let mut seq = p.clone();
            seq.extend_from_slice(&toks[0][..common]);
            let first = p.len() - 1;
            let (mut shared, mut last) = (0.0, Vec::new());
            self.decode_prompt(&seq, first..seq.len(), |i, logits| {
                let k = i - first;
                if k < common {
                    shared += logprob_of(logits, toks[0][k].0 as usize);
                } else {
                    last = toks
                        .iter()
                        .map(|t| logprob_of(logits, t[common].0 as usize))
                        .collect();
                }
            })?;
            last.into_iter().map(|l: f64| shared + l).collect()
        } else {
            // Multi-token labels: teacher-force each option.
            let mut out = Vec::with_capacity(options.len());
            for o in options {
                out.push(self.score(messages, o)?.sum_logprob);
            }
            out
        };
        Ok(ChoiceLogprobs::from_logprobs(options.to_vec(), logprobs))
    }

    fn generate(&mut self, messages: &[Message], params: &SamplingParams) -> Result<Completion> {
        if params.top_logprobs > 20 {
            return Err(Error::Invalid("top_logprobs must be at most 20".into()));
        }
        if !params.tools.is_empty() {
            return Err(Error::Invalid(
                "tools are sent to endpoints only: the embedded backend reads a tool call's \
                 answer from the log-probabilities of its text (see docs/models.md)"
                    .into(),
            ));
        }
        let p = self.tokenize(&self.render(messages, true)?, true);
        self.check_len(p.len() + params.max_tokens as usize)?;
        let last = p.len() - 1;
        let mut row = self.decode_prompt(&p, last..p.len(), |_, _| {})?;
        let mut batch = LlamaBatch::new(1, 1);
        let mut sampler = (params.temperature > 0.0).then(|| {
            let mut chain = Vec::new();
            if params.top_k > 0 {
                chain.push(LlamaSampler::top_k(params.top_k as i32));
            }
            if params.top_p < 1.0 {
                chain.push(LlamaSampler::top_p(params.top_p, 1));
            }
            chain.push(LlamaSampler::temp(params.temperature));
            // llama.cpp seeds are 32-bit: fold the 64-bit seed.
            chain.push(LlamaSampler::dist(
                (params.seed ^ (params.seed >> 32)) as u32,
            ));
            LlamaSampler::chain_simple(chain)
        });
        let vocab = self.model.vocab();
        let mut bytes: Vec<u8> = Vec::new();
        let mut logprobs = params.logprobs.then(Vec::new);
        let mut finish = FinishReason::Length;
        let mut n_generated = 0u32;
        for pos in (p.len() as i32..).take(params.max_tokens as usize) {
            let logits = self.ctx.get_logits_ith(row);
            let token = match sampler.as_mut() {
                Some(s) => s.sample(&self.ctx, row),
                None => LlamaToken(argmax(logits) as i32),
            };
            if let Some(lp) = logprobs.as_mut() {
                let ls = log_softmax(logits);
                let mut top: Vec<(String, f64)> = Vec::new();
                if params.top_logprobs > 0 {
                    let mut idx: Vec<usize> = (0..ls.len()).collect();
                    let k = params.top_logprobs as usize;
                    let nth = k.min(idx.len() - 1);
                    idx.select_nth_unstable_by(nth, |&a, &b| ls[b].total_cmp(&ls[a]));
                    idx.truncate(k);
                    idx.sort_by(|&a, &b| ls[b].total_cmp(&ls[a]).then(a.cmp(&b)));
                    top = idx
                        .into_iter()
                        .map(|i| (self.piece(LlamaToken(i as i32)), ls[i]))
                        .collect();
                }
                lp.push(TokenLogprob {
                    token: self.piece(token),
                    logprob: ls[token.0 as usize],
                    top,
                });
            }
            n_generated += 1;
            if vocab.is_eog(token) {
                finish = FinishReason::Stop;
                break;
            }
            bytes.extend(vocab.token_to_piece(token, false, None));
            if !params.stop.is_empty() {
                let text = String::from_utf8_lossy(&bytes);
                if let Some(cut) = params
                    .stop
                    .iter()
                    .filter_map(|s| text.find(s.as_str()))
                    .min()
                {
                    let keep = text[..cut].as_bytes().to_vec();
                    bytes = keep;
                    finish = FinishReason::Stop;
                    break;
                }
            }
            batch.clear();
            batch
                .add(token, pos, &[0], true)
                .map_err(|e| Error::Backend(format!("batch: {e}")))?;
            self.ctx
                .decode(&mut batch)
                .map_err(|e| Error::Backend(format!("llama.cpp decode failed: {e}")))?;
            row = 0;
        }
        Ok(Completion {
            text: String::from_utf8_lossy(&bytes).into_owned(),
            finish_reason: finish,
            prompt_tokens: p.len() as u32,
            completion_tokens: n_generated,
            logprobs,
        })
    }

    /// The activation extractor, loaded on first use (its own context: see
    /// `hidden.rs`).
    fn extractor(&mut self) -> Result<&mut crate::hidden::ActivationExtractor> {
        if self.extractor.is_none() {
            self.extractor = Some(crate::hidden::ActivationExtractor::load(
                &self.path,
                self.cfg.n_threads,
                self.cfg.n_ctx,
            )?);
        }
        self.extractor
            .as_mut()
            .ok_or_else(|| Error::Backend("no extractor".into()))
    }

    fn hidden(
        &mut self,
        messages: &[Message],
        layers: &[usize],
        pooling: Pooling,
    ) -> Result<HiddenStates> {
        let text = self.render(messages, true)?;
        let ex = self.extractor()?;
        let tokens = ex.tokenize(&text, true, true)?;
        ex.hidden_states(&tokens, layers, pooling)
    }

    /// The conversation rendered as the prompt (with the assistant turn's
    /// opening) followed by the answer and the template's close of the turn;
    /// one pass over it gives every requested layer for every token, from
    /// which the positions are read.
    fn conversation(&mut self, c: &Conversation) -> Result<ConversationStates> {
        if c.layers.is_empty() || c.positions.is_empty() {
            return Err(Error::Invalid("no layers or no positions requested".into()));
        }
        let prompt_text = self.render(&c.prompt, true)?;
        let mut full = c.prompt.clone();
        full.push(Message::assistant(c.answer.clone()));
        let full_text = self.render(&full, false)?;
        let ex = self.extractor()?;
        let p = ex.tokenize(&prompt_text, true, true)?;
        let f = ex.tokenize(&full_text, true, true)?;
        let a = if c.answer.is_empty() {
            Vec::new()
        } else {
            ex.tokenize(&c.answer, false, false)?
        };
        // The answer's rows must be its own tokens, right after the prompt's.
        let (np, na) = (p.len(), a.len());
        if f.len() < np + na || f[..np] != p[..] || f[np..np + na] != a[..] {
            return Err(Error::Invalid(
                "the chat template does not render the conversation as the prompt followed                  by the answer's own tokens, so the positions are not defined"
                    .into(),
            ));
        }
        if na == 0 && c.positions.contains(&Position::AnswerMean) {
            return Err(Error::Invalid(
                "the answer is empty: no answer-mean position".into(),
            ));
        }
        let mut unique = c.layers.clone();
        unique.sort_unstable();
        unique.dedup();
        let names: Vec<String> = unique.iter().map(|l| format!("l_out-{l}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        if let Some(&l) = unique.iter().find(|&&l| l >= ex.n_layer()) {
            return Err(Error::Invalid(format!(
                "layer {l} is out of range for a model of {} layers",
                ex.n_layer()
            )));
        }
        let mats = ex.tensors_per_token(&f, &refs)?;
        let row = |m: &pref_data::Matrix<f32>, pos: Position| -> Vec<f32> {
            match pos {
                Position::Last => m.row(f.len() - 1).to_vec(),
                Position::TurnBoundary => m.row(np - 1).to_vec(),
                Position::AnswerMean => {
                    let mut acc = vec![0.0f64; m.cols];
                    for r in np..np + na {
                        for (s, v) in acc.iter_mut().zip(m.row(r)) {
                            *s += f64::from(*v);
                        }
                    }
                    acc.into_iter().map(|s| (s / na as f64) as f32).collect()
                }
            }
        };
        let values = c
            .positions
            .iter()
            .map(|&pos| {
                c.layers
                    .iter()
                    .map(|l| {
                        let i = unique.binary_search(l).unwrap_or(0);
                        row(&mats[i], pos)
                    })
                    .collect()
            })
            .collect();
        Ok(ConversationStates {
            layers: c.layers.clone(),
            positions: c.positions.clone(),
            values,
            n_tokens: f.len(),
            n_prompt_tokens: np,
            n_answer_tokens: na,
            last_token: f[f.len() - 1],
            boundary_token: p[np - 1],
        })
    }
}
