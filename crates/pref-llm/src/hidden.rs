//! Residual-stream activations per layer, read through llama.cpp's
//! graph-evaluation callback.
//!
//! `llama-cpp-2` keeps the raw pointers of its model and context private and
//! does not expose `cb_eval`, so [`ActivationExtractor`] loads its own model and
//! context with the raw `llama-cpp-sys-2` API. **All unsafe code of pref-llm
//! outside `llama-cpp-2` lives in this module**, behind a safe wrapper.
//!
//! How it works: the context is created with `cb_eval` pointing at
//! `eval_callback` and `cb_eval_user_data` at a heap-allocated `Capture`
//! owned by the extractor (freed only after the context). During
//! `llama_decode` ggml's scheduler first *asks* for every graph node whether we
//! want it (we answer yes only for the requested names, e.g. `l_out-5`, the
//! residual stream after block 5), computes up to that node, and then shows it
//! to us; we copy it (`f32`, `ne[0]` = width, `ne[1]` = rows of this
//! micro-batch) with `ggml_backend_tensor_get`. Once every requested tensor has
//! arrived the callback cancels the rest of the graph (the documented meaning
//! of returning `false`), so reading an early layer costs only the layers up to
//! it and the output head (half the time for Gemma's 262k vocabulary) is never
//! evaluated. Cancelling is safe because the extractor clears the KV cache
//! before every call and a call is always exactly one micro-batch (see below).
//!
//! Deterministic settings (see the crate README), fixed at [`ActivationExtractor::load`]:
//!
//! | setting | value |
//! |---|---|
//! | flash attention | disabled (`flash_attn_type`; the default, auto, resolves to on) |
//! | K and V cache type | F32 |
//! | `n_batch` = `n_ubatch` | `n_ctx`: one `llama_decode` call, one micro-batch, covers the whole input |
//! | threads | `n_threads` for single tokens and for batches |
//! | embeddings mode | off (it yields the post-final-norm state, not the residual stream) |
//! | KV cache | cleared (metadata and data) before every call |
//!
//! Layer `L` (0-based, `0..n_layer`) is llama.cpp's `l_out-L`: the residual
//! stream after transformer block `L` (the token embeddings themselves are not a
//! layer here). The last block's tensor is row-pruned by llama.cpp to the rows
//! flagged for output, so the extractor flags every row when the last layer is
//! requested and only the last row otherwise (which keeps llama.cpp's logits
//! buffer, `rows × vocabulary` floats, small). Values never depend on the
//! pooling or on which other layers are requested in the same call.

use std::ffi::{c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::ptr::NonNull;

use llama_cpp_sys_2 as sys;
use pref_data::Matrix;

use crate::error::{Error, Result};
use crate::types::{HiddenStates, Pooling};

/// One requested graph tensor and the rows received so far.
#[derive(Debug)]
struct Target {
    /// Tensor name as llama.cpp formats it (`l_out-5`, `result_norm`, …).
    name: Vec<u8>,
    /// Row width (`ne[0]`), known after the first arrival.
    cols: usize,
    /// Rows received (summed over micro-batches).
    rows: usize,
    /// `rows * cols` values, row after row.
    data: Vec<f32>,
}

/// The callback's user data: what to capture and what arrived.
#[derive(Debug, Default)]
struct Capture {
    targets: Vec<Target>,
    /// Cancel the rest of the graph once every target has arrived. Only sound
    /// when the decode is a single micro-batch, which `run` guarantees.
    stop_when_complete: bool,
    /// First problem met inside the callback (reported after the decode).
    error: Option<String>,
}

impl Capture {
    fn target_index(&self, name: &[u8]) -> Option<usize> {
        self.targets.iter().position(|t| t.name == name)
    }

    fn complete(&self) -> bool {
        self.targets.iter().all(|t| t.rows > 0)
    }

    fn fail(&mut self, message: String) {
        if self.error.is_none() {
            self.error = Some(message);
        }
    }
}

/// The name of a ggml tensor (bytes up to the first NUL of its fixed buffer).
fn tensor_name(t: &sys::ggml_tensor) -> Vec<u8> {
    t.name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect()
}

/// `cb_eval`: answers `ask` and copies observed tensors into the [`Capture`].
///
/// Never unwinds into C: the work runs under `catch_unwind`, and a panic is
/// recorded in the capture (or, failing that, still turns into "no / cancel").
unsafe extern "C" fn eval_callback(
    t: *mut sys::ggml_tensor,
    ask: bool,
    user_data: *mut c_void,
) -> bool {
    if t.is_null() || user_data.is_null() {
        return false;
    }
    let capture = user_data.cast::<Capture>();
    // SAFETY: `user_data` is the `Capture` allocated by `ActivationExtractor::load`,
    // alive for as long as the context; the callback only runs inside
    // `llama_decode`, called from `run` (which holds `&mut ActivationExtractor` and
    // keeps no other reference to the capture across the call), on the calling
    // thread. `t` is a node of the graph being computed, valid during the call.
    let outcome = catch_unwind(AssertUnwindSafe(|| unsafe {
        observe(&mut *capture, &*t, ask)
    }));
    match outcome {
        Ok(answer) => answer,
        Err(_) => {
            // SAFETY: as above; the panic left the capture's fields valid (Vec and
            // Option stay consistent under unwinding).
            let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
                (*capture).fail("panic inside the graph-evaluation callback".into())
            }));
            false
        }
    }
}

/// The callback's logic. `ask`: do we want `t`? Otherwise: copy `t` and say
/// whether the graph should go on.
///
/// # Safety
/// `t` must be a live graph node whose data has been computed when `ask` is false.
unsafe fn observe(capture: &mut Capture, t: &sys::ggml_tensor, ask: bool) -> bool {
    let name = tensor_name(t);
    let Some(idx) = capture.target_index(&name) else {
        // Not ours: don't observe it; if it is shown anyway, keep computing.
        return !ask;
    };
    if ask {
        return true;
    }
    let shown = String::from_utf8_lossy(&name).into_owned();
    if t.type_ != sys::GGML_TYPE_F32 {
        capture.fail(format!(
            "tensor `{shown}` has ggml type {}, expected F32",
            t.type_
        ));
        return false;
    }
    let [ne0, ne1, ne2, ne3] = t.ne;
    if ne0 <= 0 || ne1 < 0 || ne2 != 1 || ne3 != 1 {
        capture.fail(format!(
            "tensor `{shown}` has shape [{ne0}, {ne1}, {ne2}, {ne3}], expected a matrix [width, rows, 1, 1]"
        ));
        return false;
    }
    // SAFETY: `t` is a valid tensor (caller contract); both functions only read it.
    let (contiguous, nbytes) = unsafe { (sys::ggml_is_contiguous(t), sys::ggml_nbytes(t)) };
    let (cols, rows) = (ne0 as usize, ne1 as usize);
    if !contiguous || nbytes != cols * rows * std::mem::size_of::<f32>() {
        capture.fail(format!("tensor `{shown}` is not a contiguous f32 matrix"));
        return false;
    }
    // ggml_backend_tensor_get asserts (aborts) on an unallocated tensor: check first.
    let buffer = if t.view_src.is_null() {
        t.buffer
    } else {
        // SAFETY: a non-null `view_src` points at the viewed tensor of the same graph.
        unsafe { (*t.view_src).buffer }
    };
    if buffer.is_null() || t.data.is_null() {
        capture.fail(format!("tensor `{shown}` has no data buffer"));
        return false;
    }
    let target = &mut capture.targets[idx];
    if target.rows > 0 && target.cols != cols {
        let before = target.cols;
        capture.fail(format!(
            "tensor `{shown}` changed width from {before} to {cols} between micro-batches"
        ));
        return false;
    }
    target.cols = cols;
    let start = target.data.len();
    target.data.resize(start + cols * rows, 0.0);
    if nbytes > 0 {
        // SAFETY: the destination has exactly `nbytes` writable bytes at `start`;
        // the source range [0, nbytes) is the whole (allocated, computed) tensor.
        unsafe {
            sys::ggml_backend_tensor_get(
                t,
                target.data[start..].as_mut_ptr().cast::<c_void>(),
                0,
                nbytes,
            );
        }
    }
    target.rows += rows;
    // Returning false cancels the remaining graph: done once everything arrived.
    !(capture.stop_when_complete && capture.complete())
}

/// Residual-stream activations of a GGUF model, per layer, via llama.cpp's raw API.
///
/// Owns a `llama_model*` and a `llama_context*` (freed on drop). Deterministic:
/// the same tokens give bit-identical values on every call and in every fresh
/// extractor with the same `n_threads`/`n_ctx` (tested).
///
/// ```no_run
/// # fn main() -> pref_llm::Result<()> {
/// use pref_llm::hidden::ActivationExtractor;
/// use pref_llm::Pooling;
/// let path = pref_data::paths::embedded_model("default").unwrap().main_path();
/// let mut x = ActivationExtractor::load(&path, 2, 512)?;
/// let tokens = x.tokenize("The cat sat on the mat.", true, false)?;
/// let hs = x.hidden_states(&tokens, &[0, 15, 29], Pooling::Mean)?;
/// assert_eq!(hs.values[0].len(), x.n_embd()); // 576 for SmolLM2-135M
/// # Ok(()) }
/// ```
pub struct ActivationExtractor {
    model: NonNull<sys::llama_model>,
    ctx: NonNull<sys::llama_context>,
    /// `Box::into_raw` of the callback's user data; freed in `Drop` after `ctx`.
    capture: NonNull<Capture>,
    n_layer: usize,
    n_embd: usize,
    n_vocab: i32,
    /// Most tokens one call accepts: min(n_ctx, n_batch, n_ubatch) of the context.
    max_tokens: usize,
    n_threads: i32,
}

// SAFETY: the extractor exclusively owns its model, context and capture; nothing
// else holds these pointers. llama.cpp allows a model and context to be used from
// any thread as long as calls are not concurrent, which `&mut self` on every
// decoding method guarantees (tokenizing through `&self` only reads the model's
// vocabulary, which llama.cpp treats as immutable after loading). The callback
// runs on the thread that calls `llama_decode`. The type is deliberately not `Sync`.
unsafe impl Send for ActivationExtractor {}

impl std::fmt::Debug for ActivationExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivationExtractor")
            .field("n_layer", &self.n_layer)
            .field("n_embd", &self.n_embd)
            .field("n_vocab", &self.n_vocab)
            .field("max_tokens", &self.max_tokens)
            .field("n_threads", &self.n_threads)
            .finish()
    }
}

impl ActivationExtractor {
    /// Loads a GGUF model and creates its context with the deterministic
    /// settings above. `n_ctx` (≥ 1) is also the batch and micro-batch size: the
    /// most tokens one call accepts. `n_threads` (≥ 1) is used for all decoding.
    pub fn load(path: &Path, n_threads: i32, n_ctx: u32) -> Result<Self> {
        if n_threads < 1 {
            return Err(Error::Invalid(format!(
                "n_threads must be at least 1, got {n_threads}"
            )));
        }
        if n_ctx < 1 {
            return Err(Error::Invalid("n_ctx must be at least 1, got 0".into()));
        }
        if !path.is_file() {
            return Err(Error::ModelMissing {
                name: path.display().to_string(),
                path: path.to_path_buf(),
            });
        }
        let c_path = path
            .to_str()
            .and_then(|p| CString::new(p).ok())
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "model path {} is not valid UTF-8 without NUL",
                    path.display()
                ))
            })?;
        // llama.cpp must be initialised (once per process) before any raw call.
        crate::llama::try_backend()?;

        // SAFETY: plain FFI calls; the path outlives the call; a null result is checked.
        let model = unsafe {
            let mut mp = sys::llama_model_default_params();
            mp.n_gpu_layers = 0;
            sys::llama_model_load_from_file(c_path.as_ptr(), mp)
        };
        let model = NonNull::new(model).ok_or_else(|| {
            Error::Backend(format!(
                "llama.cpp could not load the model {}",
                path.display()
            ))
        })?;

        let capture = NonNull::from(Box::leak(Box::<Capture>::default()));
        // SAFETY: FFI calls on the live `model`; the callback and its user data
        // (`capture`, freed only in Drop after the context) satisfy `eval_callback`'s contract.
        let ctx = unsafe {
            let mut cp = sys::llama_context_default_params();
            cp.n_ctx = n_ctx;
            cp.n_batch = n_ctx;
            cp.n_ubatch = n_ctx;
            cp.n_seq_max = 1;
            cp.n_threads = n_threads;
            cp.n_threads_batch = n_threads;
            cp.flash_attn_type = sys::LLAMA_FLASH_ATTN_TYPE_DISABLED;
            cp.type_k = sys::GGML_TYPE_F32;
            cp.type_v = sys::GGML_TYPE_F32;
            cp.embeddings = false;
            cp.no_perf = true;
            cp.cb_eval = Some(eval_callback);
            cp.cb_eval_user_data = capture.as_ptr().cast::<c_void>();
            sys::llama_init_from_model(model.as_ptr(), cp)
        };
        let Some(ctx) = NonNull::new(ctx) else {
            // SAFETY: both were created above and are not referenced elsewhere.
            unsafe {
                sys::llama_model_free(model.as_ptr());
                drop(Box::from_raw(capture.as_ptr()));
            }
            return Err(Error::Backend(format!(
                "llama.cpp could not create a context (n_ctx {n_ctx}) for {}",
                path.display()
            )));
        };
        // SAFETY: read-only queries on the live model and context.
        let (n_layer, n_embd, n_vocab, max_tokens) = unsafe {
            let m = model.as_ptr();
            let c = ctx.as_ptr();
            let vocab = sys::llama_model_get_vocab(m);
            let max = sys::llama_n_ctx(c)
                .min(sys::llama_n_batch(c))
                .min(sys::llama_n_ubatch(c));
            (
                sys::llama_model_n_layer(m),
                sys::llama_model_n_embd(m),
                sys::llama_vocab_n_tokens(vocab),
                max,
            )
        };
        let me = Self {
            model,
            ctx,
            capture,
            n_layer: usize::try_from(n_layer).unwrap_or(0),
            n_embd: usize::try_from(n_embd).unwrap_or(0),
            n_vocab,
            max_tokens: max_tokens as usize,
            n_threads,
        };
        if me.n_layer == 0 || me.n_embd == 0 || me.n_vocab <= 0 {
            return Err(Error::Backend(format!(
                "model {} reports n_layer {n_layer}, n_embd {n_embd}, n_vocab {n_vocab}",
                path.display()
            )));
        }
        Ok(me)
    }

    /// Number of transformer blocks; valid layers are `0..n_layer()`.
    pub fn n_layer(&self) -> usize {
        self.n_layer
    }

    /// Width of the residual stream (576 for SmolLM2-135M, 640 for Gemma-3-270M).
    pub fn n_embd(&self) -> usize {
        self.n_embd
    }

    /// Most tokens one call accepts (the context's `n_ctx`).
    pub fn n_ctx(&self) -> usize {
        self.max_tokens
    }

    /// Threads used for decoding.
    pub fn n_threads(&self) -> i32 {
        self.n_threads
    }

    /// Tokenizes `text` with the model's vocabulary. `add_special` adds BOS/EOS
    /// as the model is configured to; `parse_special` turns special-token text
    /// (e.g. `<|im_start|>`) into those tokens instead of plain text.
    pub fn tokenize(&self, text: &str, add_special: bool, parse_special: bool) -> Result<Vec<i32>> {
        let len = i32::try_from(text.len()).map_err(|_| {
            Error::Invalid(format!(
                "text of {} bytes is too long to tokenize",
                text.len()
            ))
        })?;
        // SAFETY: read-only query of the live model.
        let vocab = unsafe { sys::llama_model_get_vocab(self.model.as_ptr()) };
        let mut out = vec![0i32; text.len() + 8];
        for _ in 0..2 {
            let cap = i32::try_from(out.len()).unwrap_or(i32::MAX);
            // SAFETY: `text` is valid for `len` bytes (no NUL needed, the length is
            // passed); `out` has room for `cap` tokens.
            let n = unsafe {
                sys::llama_tokenize(
                    vocab,
                    text.as_ptr().cast(),
                    len,
                    out.as_mut_ptr(),
                    cap,
                    add_special,
                    parse_special,
                )
            };
            if n >= 0 {
                out.truncate(n as usize);
                return Ok(out);
            }
            if n == i32::MIN {
                break;
            }
            // Too small: llama.cpp says how many tokens it needs.
            out.resize(n.unsigned_abs() as usize, 0);
        }
        Err(Error::Backend(format!(
            "llama.cpp could not tokenize a text of {} bytes",
            text.len()
        )))
    }

    /// Residual-stream activations at `layers` (0-based, each `< n_layer()`),
    /// pooled over the tokens: [`Pooling::Last`] takes the last token's row,
    /// [`Pooling::Mean`] the mean over all rows (accumulated in f64).
    /// `values[i]` (length `n_embd()`) belongs to `layers[i]`; repeated layers are allowed.
    pub fn hidden_states(
        &mut self,
        tokens: &[i32],
        layers: &[usize],
        pooling: Pooling,
    ) -> Result<HiddenStates> {
        if layers.is_empty() {
            return Err(Error::Invalid("no layers requested".into()));
        }
        self.check_layers(layers)?;
        let last = self.n_layer - 1;
        let mut unique: Vec<usize> = layers.to_vec();
        unique.sort_unstable();
        unique.dedup();
        // The last block is row-pruned to the rows flagged for output. Flag them all
        // whenever it is requested, so its values never depend on the pooling (with
        // only the last row flagged, Gemma's quantised matmuls differ in the last
        // bits); the other blocks are bit-identical either way (tested).
        let flag_all = unique.contains(&last);
        let names: Vec<String> = unique.iter().map(|l| format!("l_out-{l}")).collect();
        let mats = self.run(tokens, &names, flag_all)?;
        let mut pooled = Vec::with_capacity(unique.len());
        for (layer, m) in unique.iter().zip(&mats) {
            self.check_matrix(&format!("l_out-{layer}"), m, tokens.len())?;
            pooled.push(pool(m, pooling));
        }
        let values = layers
            .iter()
            .map(|l| {
                let i = unique.binary_search(l).unwrap_or(0);
                pooled[i].clone()
            })
            .collect();
        Ok(HiddenStates {
            layers: layers.to_vec(),
            values,
            n_tokens: tokens.len(),
        })
    }

    /// The residual stream after block `layer` for every token: a
    /// `tokens.len() × n_embd()` matrix, row `i` belonging to `tokens[i]`.
    pub fn hidden_states_per_token(&mut self, tokens: &[i32], layer: usize) -> Result<Matrix<f32>> {
        self.check_layers(&[layer])?;
        let name = format!("l_out-{layer}");
        let m = self
            .run(tokens, std::slice::from_ref(&name), true)?
            .remove(0);
        self.check_matrix(&name, &m, tokens.len())?;
        Ok(m)
    }

    /// Any named 2-D f32 node of llama.cpp's graph for every token (every row is
    /// flagged for output), e.g. `attn_out-3`, `ffn_out-3`, `l_out-3` or
    /// `result_norm` (the final-norm output that embeddings mode returns). Names
    /// are those llama.cpp gives its nodes for this model architecture; a name
    /// the graph does not produce is an [`Error::Backend`]. One matrix per name,
    /// `rows × width` as the node has them.
    pub fn tensors_per_token(
        &mut self,
        tokens: &[i32],
        names: &[&str],
    ) -> Result<Vec<Matrix<f32>>> {
        if names.is_empty() {
            return Err(Error::Invalid("no tensor names requested".into()));
        }
        if let Some((i, n)) = names
            .iter()
            .enumerate()
            .find(|(i, n)| names[..*i].contains(n))
        {
            return Err(Error::Invalid(format!(
                "tensor name `{n}` is requested twice (at {i})"
            )));
        }
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        self.run(tokens, &names, true)
    }

    fn check_layers(&self, layers: &[usize]) -> Result<()> {
        match layers.iter().find(|&&l| l >= self.n_layer) {
            Some(l) => Err(Error::Invalid(format!(
                "layer {l} is out of range: the model has {} layers (0..={})",
                self.n_layer,
                self.n_layer - 1
            ))),
            None => Ok(()),
        }
    }

    fn check_matrix(&self, name: &str, m: &Matrix<f32>, rows: usize) -> Result<()> {
        if m.cols != self.n_embd || m.rows != rows {
            return Err(Error::Backend(format!(
                "tensor `{name}` arrived as {} rows × {} columns, expected {rows} × {}",
                m.rows, m.cols, self.n_embd
            )));
        }
        Ok(())
    }

    /// Decodes `tokens` once (KV cache cleared first) and returns the named
    /// tensors, in the order of `names` (which must be distinct).
    fn run(
        &mut self,
        tokens: &[i32],
        names: &[String],
        flag_all: bool,
    ) -> Result<Vec<Matrix<f32>>> {
        if tokens.is_empty() {
            return Err(Error::Invalid("no tokens to evaluate (0 tokens)".into()));
        }
        if tokens.len() > self.max_tokens {
            return Err(Error::Invalid(format!(
                "{} tokens exceed the context of {} tokens",
                tokens.len(),
                self.max_tokens
            )));
        }
        if let Some((i, t)) = tokens
            .iter()
            .enumerate()
            .find(|(_, &t)| t < 0 || t >= self.n_vocab)
        {
            return Err(Error::Invalid(format!(
                "token {t} at position {i} is outside the vocabulary (0..{})",
                self.n_vocab
            )));
        }
        {
            // SAFETY: no decode is running (we hold `&mut self`), so nothing else
            // accesses the capture; this reference ends before `llama_decode`.
            let capture = unsafe { &mut *self.capture.as_ptr() };
            capture.error = None;
            // `tokens.len() <= n_ubatch`, so the decode is one micro-batch and every
            // target arrives exactly once: cancelling after the last is sound.
            capture.stop_when_complete = true;
            capture.targets = names
                .iter()
                .map(|n| Target {
                    name: n.as_bytes().to_vec(),
                    cols: 0,
                    rows: 0,
                    data: Vec::new(),
                })
                .collect();
        }

        let n = tokens.len();
        let mut tok = tokens.to_vec();
        let mut pos: Vec<i32> = (0..n as i32).collect();
        let mut n_seq_id = vec![1i32; n];
        let mut seq0 = vec![0i32; n];
        let seq0_ptr = seq0.as_mut_ptr();
        // SAFETY: i < n = seq0.len(), so every pointer stays inside `seq0`.
        let mut seq_id: Vec<*mut i32> = (0..n).map(|i| unsafe { seq0_ptr.add(i) }).collect();
        let mut output: Vec<i8> = if flag_all {
            vec![1; n]
        } else {
            let mut o = vec![0; n];
            o[n - 1] = 1;
            o
        };
        let batch = sys::llama_batch {
            n_tokens: n as i32,
            token: tok.as_mut_ptr(),
            embd: std::ptr::null_mut(),
            pos: pos.as_mut_ptr(),
            n_seq_id: n_seq_id.as_mut_ptr(),
            seq_id: seq_id.as_mut_ptr(),
            logits: output.as_mut_ptr(),
        };
        // SAFETY: live context; the batch's arrays hold `n` entries each and outlive
        // the call (llama.cpp copies what it needs); the callback contract holds
        // because no reference to the capture is alive here.
        let rc = unsafe {
            sys::llama_memory_clear(sys::llama_get_memory(self.ctx.as_ptr()), true);
            let rc = sys::llama_decode(self.ctx.as_ptr(), batch);
            sys::llama_synchronize(self.ctx.as_ptr());
            rc
        };
        // SAFETY: the decode has returned; the callback no longer runs.
        let capture = unsafe { &mut *self.capture.as_ptr() };
        let targets = std::mem::take(&mut capture.targets);
        if let Some(e) = capture.error.take() {
            return Err(Error::Backend(e));
        }
        if rc != 0 {
            let why = match rc {
                1 => "no KV-cache slot for the batch",
                2 => "aborted",
                -1 => "invalid batch",
                _ => "fatal error",
            };
            return Err(Error::Backend(format!(
                "llama_decode returned {rc} ({why}) for {n} tokens"
            )));
        }
        targets
            .into_iter()
            .map(|t| {
                let name = String::from_utf8_lossy(&t.name).into_owned();
                if t.rows == 0 {
                    return Err(Error::Backend(format!(
                        "tensor `{name}` never arrived: this model's graph has no node of that name"
                    )));
                }
                Matrix::new(t.rows, t.cols, t.data)
                    .ok_or_else(|| Error::Backend(format!("tensor `{name}`: inconsistent size")))
            })
            .collect()
    }
}

/// Pools a `rows × cols` matrix to one row.
fn pool(m: &Matrix<f32>, pooling: Pooling) -> Vec<f32> {
    match pooling {
        Pooling::Last => m.row(m.rows - 1).to_vec(),
        Pooling::Mean => {
            let mut acc = vec![0f64; m.cols];
            for r in 0..m.rows {
                for (a, &v) in acc.iter_mut().zip(m.row(r)) {
                    *a += f64::from(v);
                }
            }
            acc.into_iter()
                .map(|a| (a / m.rows as f64) as f32)
                .collect()
        }
    }
}

impl Drop for ActivationExtractor {
    fn drop(&mut self) {
        // SAFETY: we own all three; the context goes first (it references the
        // model and the callback's user data), then the model, then the capture.
        unsafe {
            sys::llama_free(self.ctx.as_ptr());
            sys::llama_model_free(self.model.as_ptr());
            drop(Box::from_raw(self.capture.as_ptr()));
        }
    }
}
