//! The content-addressed model-call cache (SQLite in WAL mode).
//!
//! Key = sha256 over the canonical JSON of (model id, method, request): the
//! model id carries the backend kind, model name, file hash or base URL and
//! output-changing settings; the request carries the messages and every
//! sampling parameter, including the seed, so K samples are K entries. Only
//! successful results are stored: errors are never cached. A rerun of a
//! finished experiment therefore makes zero model calls, and a process killed
//! at any moment leaves a readable cache (WAL) that lost at most the calls in
//! flight.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::model::{LanguageModel, ModelId};
use crate::types::{
    ChoiceLogprobs, Completion, ConversationStates, HiddenStates, Message, Pooling, Position,
    SamplingParams, TokenLogprobs,
};

/// How long a connection waits for other connections (threads or processes)
/// that hold the database, including while `ModelCache::open` switches to WAL.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// Puts the database in WAL mode (persistent in the file, so usually already done).
///
/// The switch needs an exclusive lock, and SQLite answers `SQLITE_BUSY` at once
/// when another connection holds the file, without calling the busy handler
/// (measured: 22 of 300 runs of four threads opening a new cache failed with
/// "database is locked"). So the switch is retried here until `BUSY_TIMEOUT`.
fn enable_wal(conn: &Connection) -> std::result::Result<(), String> {
    let started = std::time::Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        let mode =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0));
        match mode {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(mode) => {
                // SQLite refuses WAL on some file systems and says so by
                // returning the mode it kept.
                return Err(format!("SQLite kept journal mode {mode:?} instead of WAL"));
            }
            Err(e) if is_busy(&e) && started.elapsed() < BUSY_TIMEOUT => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// A SQLite store of model-call results, safe to share between threads and processes.
pub struct ModelCache {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl ModelCache {
    /// Opens (creating) `dir/calls.sqlite`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let path = dir.join("calls.sqlite");
        let err = |step: &str, e: &dyn std::fmt::Display| Error::Cache {
            path: path.clone(),
            message: format!("{step}: {e}"),
        };
        std::fs::create_dir_all(dir).map_err(|e| err("creating the directory", &e))?;
        let conn = Connection::open(&path).map_err(|e| err("opening the database", &e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| err("setting the busy timeout", &e))?;
        enable_wal(&conn).map_err(|e| err("switching to WAL journal mode", &e))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| err("setting synchronous = NORMAL", &e))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS calls (
                 key TEXT PRIMARY KEY,
                 method TEXT NOT NULL,
                 model TEXT NOT NULL,
                 value TEXT NOT NULL,
                 created_unix REAL NOT NULL
             );
             CREATE TABLE IF NOT EXISTS pending (
                 key TEXT PRIMARY KEY,
                 method TEXT NOT NULL,
                 model TEXT NOT NULL,
                 request TEXT NOT NULL,
                 created_unix REAL NOT NULL
             )",
        )
        .map_err(|e| err("creating the tables", &e))?;
        Ok(Self {
            path,
            conn: Mutex::new(conn),
        })
    }

    /// Opens the cache in `pref_data::paths::cache_dir()` (`$PREF_CACHE_DIR` or `$PREF_HOME/cache`).
    pub fn open_default() -> Result<Self> {
        Self::open(pref_data::paths::cache_dir())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: impl std::fmt::Display) -> Error {
        Error::Cache {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>> {
        self.conn
            .lock()
            .map_err(|_| self.err("cache lock poisoned"))
    }

    /// The stored value for `key`.
    pub fn get_raw(&self, key: &str) -> Result<Option<String>> {
        self.conn()?
            .query_row(
                "SELECT value FROM calls WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Stores a value (the first write of a key wins; identical requests give identical values).
    pub fn put_raw(&self, key: &str, method: &str, model: &str, value: &str) -> Result<()> {
        let now = unix_now();
        self.conn()?
            .execute(
                "INSERT OR IGNORE INTO calls (key, method, model, value, created_unix) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![key, method, model, value, now],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Records a request deferred to the Batch API (`request` is the backend's
    /// own description of it, e.g. the HTTP body and what is needed to read the
    /// answer). Idempotent: deferring the same key twice keeps one row.
    pub fn put_pending(&self, key: &str, method: &str, model: &str, request: &str) -> Result<()> {
        self.conn()?
            .execute(
                "INSERT OR IGNORE INTO pending (key, method, model, request, created_unix) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![key, method, model, request, unix_now()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Deferred requests of `model` (its `ModelId` display string), oldest first:
    /// `(key, method, request)`.
    pub fn pending(&self, model: &str) -> Result<Vec<(String, String, String)>> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare("SELECT key, method, request FROM pending WHERE model = ?1 ORDER BY created_unix, key")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![model], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))
    }

    /// Stores the answer of a deferred request and removes it from the pending
    /// list, in one transaction.
    pub fn complete_pending(
        &self,
        key: &str,
        method: &str,
        model: &str,
        value: &str,
    ) -> Result<()> {
        let mut conn = self.conn()?;
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        tx.execute(
            "INSERT OR IGNORE INTO calls (key, method, model, value, created_unix) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![key, method, model, value, unix_now()],
        )
        .map_err(|e| self.err(e))?;
        tx.execute("DELETE FROM pending WHERE key = ?1", params![key])
            .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))
    }

    /// Number of stored results.
    pub fn len(&self) -> Result<u64> {
        self.conn()?
            .query_row("SELECT COUNT(*) FROM calls", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.get_raw(key)? {
            // An entry that no longer parses (older format) is treated as a miss.
            Some(v) => Ok(serde_json::from_str(&v).ok()),
            None => Ok(None),
        }
    }

    fn put<T: Serialize>(&self, key: &str, method: &str, model: &ModelId, value: &T) -> Result<()> {
        let v = serde_json::to_string(value).map_err(|e| self.err(e))?;
        self.put_raw(key, method, &model.to_string(), &v)
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The request part of the cache key of `generate` (shared with backends that
/// defer requests, so their batch `custom_id` equals the cache key).
pub fn generate_request(messages: &[Message], params: &SamplingParams) -> serde_json::Value {
    json!({"messages": messages, "params": params})
}

/// The request part of the cache key of `choice_logprobs`.
pub fn choice_request(messages: &[Message], options: &[String]) -> serde_json::Value {
    json!({"messages": messages, "options": options})
}

/// The cache key of a request: sha256 (hex) over the canonical JSON of
/// `{"model": id, "method": method, "request": request}`.
pub fn cache_key(model: &ModelId, method: &str, request: &serde_json::Value) -> String {
    let canonical = json!({ "model": model, "method": method, "request": request });
    // serde_json maps are ordered (BTreeMap), so this serialisation is canonical.
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// How many calls a [`CachedModel`] answered from the cache and how many reached the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct CacheStats {
    /// Calls that reached the backend.
    pub made: u64,
    /// Calls answered from the cache.
    pub cached: u64,
}

/// Any [`LanguageModel`] with every call going through a [`ModelCache`].
pub struct CachedModel<M> {
    inner: M,
    cache: Arc<ModelCache>,
    made: AtomicU64,
    cached: AtomicU64,
}

impl<M: LanguageModel> CachedModel<M> {
    /// Wraps `inner`.
    pub fn new(inner: M, cache: Arc<ModelCache>) -> Self {
        Self {
            inner,
            cache,
            made: AtomicU64::new(0),
            cached: AtomicU64::new(0),
        }
    }

    /// Calls made and served from the cache so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            made: self.made.load(Ordering::Relaxed),
            cached: self.cached.load(Ordering::Relaxed),
        }
    }

    /// The wrapped model.
    pub fn inner(&self) -> &M {
        &self.inner
    }

    /// Whether a `choice_logprobs` request is already in the cache (for `--dry-run` plans).
    pub fn is_cached_choice(&self, messages: &[Message], options: &[String]) -> Result<bool> {
        let key = cache_key(
            self.inner.id(),
            "choice_logprobs",
            &choice_request(messages, options),
        );
        Ok(self.cache.get_raw(&key)?.is_some())
    }

    /// Whether a `generate` request is already in the cache (for `--dry-run` plans).
    pub fn is_cached_generate(
        &self,
        messages: &[Message],
        params: &SamplingParams,
    ) -> Result<bool> {
        let key = cache_key(
            self.inner.id(),
            "generate",
            &generate_request(messages, params),
        );
        Ok(self.cache.get_raw(&key)?.is_some())
    }

    async fn through<T, F>(&self, method: &str, request: serde_json::Value, call: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: std::future::Future<Output = Result<T>>,
    {
        let key = cache_key(self.inner.id(), method, &request);
        if let Some(v) = self.cache.get::<T>(&key)? {
            self.cached.fetch_add(1, Ordering::Relaxed);
            return Ok(v);
        }
        self.made.fetch_add(1, Ordering::Relaxed);
        let v = call.await?; // errors are returned, never stored
        self.cache.put(&key, method, self.inner.id(), &v)?;
        Ok(v)
    }
}

#[async_trait]
impl<M: LanguageModel> LanguageModel for CachedModel<M> {
    fn id(&self) -> &ModelId {
        self.inner.id()
    }

    async fn generate(&self, messages: &[Message], params: &SamplingParams) -> Result<Completion> {
        let req = generate_request(messages, params);
        self.through("generate", req, self.inner.generate(messages, params))
            .await
    }

    async fn score(&self, prompt: &[Message], continuation: &str) -> Result<TokenLogprobs> {
        let req = json!({"prompt": prompt, "continuation": continuation});
        self.through("score", req, self.inner.score(prompt, continuation))
            .await
    }

    async fn choice_logprobs(
        &self,
        messages: &[Message],
        options: &[String],
    ) -> Result<ChoiceLogprobs> {
        let req = choice_request(messages, options);
        self.through(
            "choice_logprobs",
            req,
            self.inner.choice_logprobs(messages, options),
        )
        .await
    }

    async fn hidden_states(
        &self,
        messages: &[Message],
        layers: &[usize],
        pooling: Pooling,
    ) -> Result<HiddenStates> {
        let req = json!({"messages": messages, "layers": layers, "pooling": pooling});
        self.through(
            "hidden_states",
            req,
            self.inner.hidden_states(messages, layers, pooling),
        )
        .await
    }

    /// Not cached (activations are large; a study writes them out as it goes)
    /// and not counted as a model call.
    async fn conversation_states(
        &self,
        prompt: &[Message],
        answer: &str,
        layers: &[usize],
        positions: &[Position],
    ) -> Result<ConversationStates> {
        self.inner
            .conversation_states(prompt, answer, layers, positions)
            .await
    }

    // Counting tokens is no model call: neither cached nor counted.
    fn context_tokens(&self) -> Option<usize> {
        self.inner.context_tokens()
    }

    fn n_layers(&self) -> Option<usize> {
        self.inner.n_layers()
    }

    fn hidden_size(&self) -> Option<usize> {
        self.inner.hidden_size()
    }

    fn tokenizer_id(&self) -> Option<String> {
        self.inner.tokenizer_id()
    }

    async fn prompt_tokens(&self, messages: &[Message]) -> Result<Option<usize>> {
        self.inner.prompt_tokens(messages).await
    }
}
