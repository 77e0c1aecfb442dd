//! HTTP transport for OpenAI-compatible endpoints: API-key hygiene, request and
//! token rate limits, bounded and adaptive concurrency, and retries with
//! exponential backoff, jitter and `Retry-After`.
//!
//! async-openai's own client retries inside and does not show the response
//! headers (so `Retry-After` and the attempt count would be invisible); the
//! transport is therefore reqwest, while the request/response shapes come from
//! async-openai's types (see `super`).

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::error::{Error, Result};

/// An API key. It is sent only in the `Authorization` header: `Debug` prints
/// `ApiKey(<redacted>)`, there is no `Display`, and every server message that
/// reaches an error passes through [`ApiKey::redact`].
#[derive(Clone)]
pub struct ApiKey(String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl PartialEq for ApiKey {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl ApiKey {
    /// Wraps a key (empty keys are treated as absent by the callers).
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// Replaces every occurrence of the key (and of its `Bearer` form) by `<redacted>`.
    pub fn redact(&self, text: &str) -> String {
        if self.0.len() < 4 {
            return text.to_string();
        }
        text.replace(&self.0, "<redacted>")
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

/// Limits, retries and concurrency of an HTTP backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Most requests in flight at once (the adaptive limit never exceeds it).
    pub max_concurrency: usize,
    /// Requests per minute (`None` = unlimited), paced evenly (no bursts).
    pub requests_per_minute: Option<u32>,
    /// Tokens per minute (`None` = unlimited), estimated per request as
    /// (characters of the messages) / 4 + `max_tokens`; bursts up to ten seconds' worth.
    pub tokens_per_minute: Option<u32>,
    /// Retries after the first attempt, on 429, 500, 502, 503, 504, timeouts,
    /// connection errors and malformed response bodies.
    pub max_retries: u32,
    /// First backoff; doubles per retry (equal jitter: half fixed, half random).
    pub backoff_base_ms: u64,
    /// Largest backoff (a longer `Retry-After` is still honoured, up to 10 minutes).
    pub backoff_max_ms: u64,
    /// Timeout of one attempt.
    pub timeout_ms: u64,
    /// Halve the concurrency limit on every 429 and grow it back by one per
    /// window of successes (AIMD), between 1 and `max_concurrency`.
    pub adaptive: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_concurrency: 16,
            requests_per_minute: None,
            tokens_per_minute: None,
            max_retries: 6,
            backoff_base_ms: 500,
            backoff_max_ms: 60_000,
            timeout_ms: 120_000,
            adaptive: true,
        }
    }
}

/// What the transport did so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TransportStats {
    /// Requests that returned (successfully or with a final error).
    pub requests: u64,
    /// Successful requests.
    pub succeeded: u64,
    /// HTTP attempts (first tries + retries).
    pub attempts: u64,
    /// Attempts answered with 429.
    pub rate_limited: u64,
    /// Attempts answered with 5xx.
    pub server_errors: u64,
    /// Attempts that timed out.
    pub timeouts: u64,
    /// Every wait before a retry, in order.
    pub waits: Vec<Duration>,
    /// The adaptive concurrency limit now.
    pub concurrency_limit: f64,
    /// Lowest value the adaptive limit reached.
    pub min_concurrency_limit: f64,
}

/// In-flight counter with an adaptive ceiling (additive increase, multiplicative decrease).
struct AdaptiveLimit {
    state: Mutex<(usize, f64, f64)>, // in flight, limit, lowest limit seen
    max: usize,
    adaptive: bool,
    notify: Notify,
}

struct Permit<'a>(&'a AdaptiveLimit);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.state.lock() {
            s.0 -= 1;
        }
        self.0.notify.notify_waiters();
    }
}

impl AdaptiveLimit {
    fn new(max: usize, adaptive: bool) -> Self {
        let max = max.max(1);
        Self {
            state: Mutex::new((0, max as f64, max as f64)),
            max,
            adaptive,
            notify: Notify::new(),
        }
    }

    async fn acquire(&self) -> Permit<'_> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
                if (s.0 as f64) < s.1.floor().max(1.0) {
                    s.0 += 1;
                    return Permit(self);
                }
            }
            notified.await;
        }
    }

    fn on_success(&self) {
        if self.adaptive {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            s.1 = (s.1 + 1.0 / s.1).min(self.max as f64);
        }
        self.notify.notify_waiters();
    }

    fn on_throttle(&self) {
        if self.adaptive {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            s.1 = (s.1 / 2.0).max(1.0);
            s.2 = s.2.min(s.1);
        }
    }

    fn limits(&self) -> (f64, f64) {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        (s.1, s.2)
    }
}

/// Why an attempt failed, and whether to try again.
enum Failure {
    /// Worth retrying (after at least `retry_after`, if the server said so).
    Transient {
        status: Option<u16>,
        message: String,
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help.
    Fatal { status: u16, message: String },
}

/// The HTTP client of one endpoint.
pub(crate) struct Transport {
    client: reqwest::Client,
    base_url: String,
    key: Option<ApiKey>,
    limits: Limits,
    rpm: Option<DefaultDirectRateLimiter>,
    tpm: Option<(DefaultDirectRateLimiter, u32)>,
    concurrency: AdaptiveLimit,
    stats: Mutex<TransportStats>,
}

fn quota(per_minute: u32, burst_seconds: f64) -> Result<(Quota, u32)> {
    let per_minute = per_minute.max(1);
    let burst = ((per_minute as f64 / 60.0 * burst_seconds).floor() as u32).max(1);
    let period = Duration::from_secs_f64(60.0 / per_minute as f64);
    let q = Quota::with_period(period)
        .ok_or_else(|| Error::Invalid("rate limit period is zero".into()))?
        .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
    Ok((q, burst))
}

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(s) = v.parse::<f64>() {
        return (s.is_finite() && s >= 0.0).then(|| Duration::from_secs_f64(s));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

fn snippet(text: &str) -> String {
    let t = text.trim();
    let mut end = t.len().min(300);
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    if end < t.len() {
        format!("{}…", &t[..end])
    } else {
        t.to_string()
    }
}

fn describe(status: u16) -> &'static str {
    match status {
        400 => "bad request (the endpoint rejected the request body)",
        401 => "unauthorized: check the API key variable (OPENAI_API_KEY or LAMBDA_API_KEY); the key is never printed",
        403 => "forbidden: the key has no access to this model or endpoint",
        404 => "not found: check the base URL and the model name",
        413 => "request too large",
        422 => "unprocessable request (unsupported parameter?)",
        429 => "rate limited",
        500..=599 => "server error",
        _ => "unexpected status",
    }
}

impl Transport {
    pub(crate) fn new(base_url: String, key: Option<ApiKey>, limits: Limits) -> Result<Self> {
        if limits.max_concurrency == 0 {
            return Err(Error::Invalid("max_concurrency must be at least 1".into()));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::Backend(format!("cannot build the HTTP client: {e}")))?;
        let rpm = match limits.requests_per_minute {
            // No burst: requests are paced evenly, so a server counting over any
            // sliding minute never sees more than the limit.
            Some(r) => Some(RateLimiter::direct(quota(r, 0.0)?.0)),
            None => None,
        };
        let tpm = match limits.tokens_per_minute {
            Some(t) => {
                let (q, burst) = quota(t, 10.0)?;
                Some((RateLimiter::direct(q), burst))
            }
            None => None,
        };
        let concurrency = AdaptiveLimit::new(limits.max_concurrency, limits.adaptive);
        Ok(Self {
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
            key,
            limits,
            rpm,
            tpm,
            concurrency,
            stats: Mutex::new(TransportStats::default()),
        })
    }

    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }

    pub(crate) fn redact(&self, text: &str) -> String {
        match &self.key {
            Some(k) => k.redact(text),
            None => text.to_string(),
        }
    }

    pub(crate) fn stats(&self) -> TransportStats {
        let mut s = self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone();
        (s.concurrency_limit, s.min_concurrency_limit) = self.concurrency.limits();
        s
    }

    fn note(&self, f: impl FnOnce(&mut TransportStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|p| p.into_inner()));
    }

    fn backoff(&self, retry: u32) -> Duration {
        let base = self.limits.backoff_base_ms as f64;
        let full = (base * 2f64.powi(retry.min(30) as i32)).min(self.limits.backoff_max_ms as f64);
        let jitter: f64 = rand::rng().random_range(0.0..=1.0);
        Duration::from_secs_f64(full * (0.5 + 0.5 * jitter) / 1000.0)
    }

    async fn attempt(
        &self,
        url: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, Failure> {
        let mut req = self
            .client
            .post(url)
            .timeout(Duration::from_millis(self.limits.timeout_ms))
            .json(body);
        if let Some(k) = &self.key {
            req = req.bearer_auth(k.expose());
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => {
                self.note(|s| s.timeouts += 1);
                return Err(Failure::Transient {
                    status: None,
                    message: format!("timed out after {} ms", self.limits.timeout_ms),
                    retry_after: None,
                });
            }
            Err(e) => {
                return Err(Failure::Transient {
                    status: None,
                    message: format!(
                        "connection failed: {}",
                        self.redact(&e.without_url().to_string())
                    ),
                    retry_after: None,
                })
            }
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let text = match resp.text().await {
            Ok(t) => t,
            Err(e) if e.is_timeout() => {
                self.note(|s| s.timeouts += 1);
                return Err(Failure::Transient {
                    status: Some(status),
                    message: format!(
                        "timed out reading the body after {} ms",
                        self.limits.timeout_ms
                    ),
                    retry_after: None,
                });
            }
            Err(e) => {
                return Err(Failure::Transient {
                    status: Some(status),
                    message: format!(
                        "reading the body failed: {}",
                        self.redact(&e.without_url().to_string())
                    ),
                    retry_after: None,
                })
            }
        };
        let server_says = || self.redact(&snippet(&text));
        match status {
            200..=299 => serde_json::from_str(&text).map_err(|e| Failure::Transient {
                status: Some(status),
                message: format!("malformed JSON in the response ({e}): {}", server_says()),
                retry_after: None,
            }),
            429 => {
                self.note(|s| s.rate_limited += 1);
                self.concurrency.on_throttle();
                Err(Failure::Transient {
                    status: Some(status),
                    message: format!("{}: {}", describe(status), server_says()),
                    retry_after,
                })
            }
            500 | 502 | 503 | 504 => {
                self.note(|s| s.server_errors += 1);
                Err(Failure::Transient {
                    status: Some(status),
                    message: format!("{}: {}", describe(status), server_says()),
                    retry_after,
                })
            }
            _ => {
                if status >= 500 {
                    self.note(|s| s.server_errors += 1);
                }
                Err(Failure::Fatal {
                    status,
                    message: format!("{}: {}", describe(status), server_says()),
                })
            }
        }
    }

    /// POSTs `body` to `base_url/path` under the limits, retrying transient
    /// failures; `tokens` is the request's token estimate for the TPM limit.
    pub(crate) async fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
        tokens: u32,
    ) -> Result<serde_json::Value> {
        let url = format!("{}/{}", self.base_url, path.trim_start_matches('/'));
        let mut attempts = 0u32;
        loop {
            if let Some(l) = &self.rpm {
                l.until_ready().await;
            }
            if let Some((l, burst)) = &self.tpm {
                let n = NonZeroU32::new(tokens.clamp(1, *burst)).unwrap_or(NonZeroU32::MIN);
                // n ≤ burst, so this cannot fail for lack of capacity.
                let _ = l.until_n_ready(n).await;
            }
            attempts += 1;
            self.note(|s| s.attempts += 1);
            let outcome = {
                let _permit = self.concurrency.acquire().await;
                self.attempt(&url, body).await
            };
            match outcome {
                Ok(v) => {
                    self.concurrency.on_success();
                    self.note(|s| {
                        s.requests += 1;
                        s.succeeded += 1;
                    });
                    return Ok(v);
                }
                Err(Failure::Fatal { status, message }) => {
                    self.note(|s| s.requests += 1);
                    return Err(Error::Http {
                        url,
                        status: Some(status),
                        attempts,
                        message,
                    });
                }
                Err(Failure::Transient {
                    status,
                    message,
                    retry_after,
                }) => {
                    if attempts > self.limits.max_retries {
                        self.note(|s| s.requests += 1);
                        return Err(Error::Http {
                            url,
                            status,
                            attempts,
                            message,
                        });
                    }
                    let mut wait = self.backoff(attempts - 1);
                    if let Some(ra) = retry_after {
                        wait = wait.max(ra.min(Duration::from_secs(600)));
                    }
                    tracing::debug!(%url, ?status, attempts, ?wait, "retrying: {message}");
                    self.note(|s| s.waits.push(wait));
                    let until = Instant::now() + wait;
                    tokio::time::sleep_until(until.into()).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 0.5 "), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("-1"), None);
        let past = "Wed, 21 Oct 2015 07:28:00 GMT";
        assert_eq!(parse_retry_after(past), Some(Duration::ZERO));
        let soon = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(30));
        let d = parse_retry_after(&soon).unwrap();
        assert!(
            d > Duration::from_secs(25) && d <= Duration::from_secs(30),
            "{d:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn keys_are_redacted_and_never_debug_printed() {
        let k = ApiKey::new("sk-test-SECRET-1234");
        assert_eq!(format!("{k:?}"), "ApiKey(<redacted>)");
        assert_eq!(
            k.redact("Incorrect API key provided: sk-test-SECRET-1234."),
            "Incorrect API key provided: <redacted>."
        );
    }

    #[test]
    fn backoff_doubles_with_equal_jitter_and_is_capped() {
        let t = Transport::new(
            "http://127.0.0.1:9".into(),
            None,
            Limits {
                backoff_base_ms: 100,
                backoff_max_ms: 1000,
                ..Limits::default()
            },
        )
        .unwrap();
        for (retry, full) in [
            (0, 100.0),
            (1, 200.0),
            (2, 400.0),
            (3, 800.0),
            (4, 1000.0),
            (9, 1000.0),
        ] {
            for _ in 0..50 {
                let ms = t.backoff(retry).as_secs_f64() * 1000.0;
                assert!(
                    ms >= full / 2.0 - 1e-9 && ms <= full + 1e-9,
                    "retry {retry}: {ms}"
                );
            }
        }
    }

    #[test]
    fn adaptive_limit_halves_and_recovers() {
        let l = AdaptiveLimit::new(16, true);
        l.on_throttle();
        l.on_throttle();
        assert_eq!(l.limits(), (4.0, 4.0));
        for _ in 0..200 {
            l.on_success();
        }
        assert_eq!(l.limits().0, 16.0);
        for _ in 0..10 {
            l.on_throttle();
        }
        assert_eq!(l.limits(), (1.0, 1.0));
    }
}
