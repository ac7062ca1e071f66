//! One rate-limit budget for every client behind storebridge.
//!
//! ShipStation allows 40 requests a minute for each API key and reports the state of the
//! window in `X-Rate-Limit-Limit`, `X-Rate-Limit-Remaining` and `X-Rate-Limit-Reset`
//! (seconds until the window resets). Every client behind storebridge with the same key
//! shares that budget, so storebridge tracks it per credential and, once it is spent, holds
//! new requests first come, first served until the window resets, instead of letting them
//! collect 429s. A request that would wait longer than `rate_limit.max_wait` gets a 429
//! from storebridge at once, with `Retry-After`.
//!
//! Credentials are keyed by a SHA-256 prefix of the `Authorization` (V1) or `API-Key` (V2)
//! header, never by the secret itself.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dashmap::DashMap;
use http::header::HeaderName;
use http::{HeaderMap, HeaderValue, StatusCode};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::metrics::{CredentialLabels, Metrics};

// Parsed once: a lookup by `&str` validates and lower-cases the name on every call.
pub static LIMIT: HeaderName = HeaderName::from_static("x-rate-limit-limit");
pub static REMAINING: HeaderName = HeaderName::from_static("x-rate-limit-remaining");
pub static RESET: HeaderName = HeaderName::from_static("x-rate-limit-reset");

/// Returns the whole number in header `name`, such as `X-Rate-Limit-Reset: 17`.
pub fn header_number(headers: &HeaderMap, name: &HeaderName) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// ShipStation V1's documented default: 40 requests a minute for each API key.
const DEFAULT_LIMIT: u32 = 40;
const WINDOW: Duration = Duration::from_secs(60);

/// Values for the three headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitHeaders {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window resets.
    pub reset_seconds: u64,
}

impl RateLimitHeaders {
    /// A full window at ShipStation's default limit, for credentials not seen yet.
    pub fn fresh_window() -> Self {
        Self {
            limit: DEFAULT_LIMIT,
            remaining: DEFAULT_LIMIT,
            reset_seconds: WINDOW.as_secs(),
        }
    }

    pub fn apply(&self, headers: &mut HeaderMap) {
        headers.insert(LIMIT.clone(), HeaderValue::from(self.limit));
        headers.insert(REMAINING.clone(), HeaderValue::from(self.remaining));
        headers.insert(RESET.clone(), HeaderValue::from(self.reset_seconds));
    }
}

/// A credential's identity: a hex SHA-256 prefix of its header, safe to log and label.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct CredentialKey(String);

impl CredentialKey {
    /// The key of the credential a request carries, if any.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let value = headers
            .get(http::header::AUTHORIZATION)
            .or_else(|| headers.get("api-key"))?;
        let digest = Sha256::digest(value.as_bytes());
        Some(Self(hex::encode(&digest[..8])))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a request was not admitted: waiting would take longer than `max_wait`.
#[derive(Debug)]
pub struct Throttled {
    pub retry_after: Duration,
    pub headers: RateLimitHeaders,
}

/// The state of one credential's window, as last reported by ShipStation and counted down
/// locally since.
#[derive(Debug)]
struct Window {
    /// False until ShipStation has reported the window; requests then pass unhindered.
    known: bool,
    limit: u32,
    remaining: u32,
    reset_at: Instant,
}

impl Window {
    /// Starts a new window once the old one has ended. Its true state arrives with the
    /// next response; until then the full limit is assumed.
    fn roll_over(&mut self, now: Instant) {
        if self.known && self.reset_at <= now {
            self.remaining = self.limit;
            self.reset_at = now + WINDOW;
        }
    }

    fn headers(&self, now: Instant) -> RateLimitHeaders {
        if !self.known {
            return RateLimitHeaders::fresh_window();
        }
        RateLimitHeaders {
            limit: self.limit,
            remaining: self.remaining,
            reset_seconds: self
                .reset_at
                .saturating_duration_since(now)
                .as_secs_f64()
                .ceil() as u64,
        }
    }
}

struct Budget {
    /// Held while a request waits for its turn; tokio's mutex is fair, so turns are FIFO.
    turn: tokio::sync::Mutex<()>,
    window: Mutex<Window>,
    waiting: AtomicUsize,
}

/// Whether an admitted request had to wait.
#[derive(Debug, Clone, Copy)]
pub struct Admission {
    pub waited: Option<Duration>,
}

/// The budgets of every credential seen.
pub struct RateLimiter {
    budgets: DashMap<CredentialKey, Arc<Budget>>,
    max_wait_millis: AtomicU64,
}

impl RateLimiter {
    pub fn new(max_wait: Duration) -> Self {
        Self {
            budgets: DashMap::new(),
            max_wait_millis: AtomicU64::new(duration_millis(max_wait)),
        }
    }

    pub fn set_max_wait(&self, max_wait: Duration) {
        self.max_wait_millis
            .store(duration_millis(max_wait), Ordering::Relaxed);
    }

    fn budget(&self, key: &CredentialKey) -> Arc<Budget> {
        // Try a read lock first. The entry API locks its part of the map for writing, and
        // every request of a busy credential would queue on that lock.
        if let Some(budget) = self.budgets.get(key) {
            return budget.clone();
        }
        self.budgets
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(Budget {
                    turn: tokio::sync::Mutex::new(()),
                    window: Mutex::new(Window {
                        known: false,
                        limit: DEFAULT_LIMIT,
                        remaining: DEFAULT_LIMIT,
                        reset_at: Instant::now() + WINDOW,
                    }),
                    waiting: AtomicUsize::new(0),
                })
            })
            .clone()
    }

    /// Waits for the request's turn in its credential's budget, or refuses it when the wait
    /// would pass `max_wait`. Requests without a credential are not counted.
    pub async fn admit(
        &self,
        key: Option<&CredentialKey>,
        metrics: &Metrics,
    ) -> Result<Admission, Throttled> {
        let Some(key) = key else {
            return Ok(Admission { waited: None });
        };
        let budget = self.budget(key);
        let max_wait = Duration::from_millis(self.max_wait_millis.load(Ordering::Relaxed));

        // Refuse at once when the requests already queued use up the windows until max_wait.
        let ahead = budget.waiting.fetch_add(1, Ordering::SeqCst);
        let _leave = Leave(&budget.waiting);
        let (estimate, headers) = {
            let mut window = lock(&budget.window);
            let now = Instant::now();
            window.roll_over(now);
            (estimate_wait(&window, ahead, now), window.headers(now))
        };
        if estimate > max_wait {
            metrics.too_many_local.inc();
            return Err(Throttled {
                retry_after: estimate,
                headers,
            });
        }

        // Take a turn, first come first served, and wait for the window if it is spent.
        let _turn = budget.turn.lock().await;
        let started = Instant::now();
        let mut waited = false;
        loop {
            let wake_at = {
                let mut window = lock(&budget.window);
                let now = Instant::now();
                window.roll_over(now);
                if !window.known || window.remaining > 0 {
                    window.remaining = window.remaining.saturating_sub(1);
                    None
                } else {
                    Some(window.reset_at)
                }
            };
            match wake_at {
                None => break,
                Some(deadline) => {
                    waited = true;
                    tokio::time::sleep_until(deadline).await;
                }
            }
        }
        let waited = waited.then(|| started.elapsed());
        if let Some(duration) = waited {
            metrics.rate_limit_waits.inc();
            metrics.too_many_avoided.inc();
            metrics
                .rate_limit_wait_seconds
                .observe(duration.as_secs_f64());
            tracing::debug!(
                credential = key.as_str(),
                waited_ms = duration.as_millis() as u64,
                "request held for the rate-limit window"
            );
        }
        Ok(Admission { waited })
    }

    /// Updates a credential's window from the headers of ShipStation's response.
    pub fn observe(
        &self,
        key: Option<&CredentialKey>,
        status: StatusCode,
        headers: &HeaderMap,
        metrics: &Metrics,
    ) {
        if status == StatusCode::TOO_MANY_REQUESTS {
            metrics.too_many_passed.inc();
        }
        let Some(key) = key else { return };
        let number = |name: &HeaderName| header_number(headers, name);
        let (Some(limit), Some(remaining), Some(reset)) =
            (number(&LIMIT), number(&REMAINING), number(&RESET))
        else {
            return;
        };
        let budget = self.budget(key);
        let mut window = lock(&budget.window);
        let now = Instant::now();
        let reported = u32::try_from(remaining).unwrap_or(u32::MAX);
        // Requests sent after this one are already counted locally, so keep the lower count.
        window.remaining = if window.known {
            window.remaining.min(reported)
        } else {
            reported
        };
        if status == StatusCode::TOO_MANY_REQUESTS {
            window.remaining = 0;
        }
        window.limit = u32::try_from(limit).unwrap_or(u32::MAX).max(1);
        // ShipStation's window is one minute; a larger reset value would hold requests for
        // no reason, so it is capped.
        window.reset_at = now + Duration::from_secs(reset).min(WINDOW);
        window.known = true;
        metrics
            .rate_limit_remaining
            .get_or_create(&CredentialLabels {
                credential: key.as_str().to_owned(),
            })
            .set(i64::from(window.remaining));
    }

    /// Headers for a response storebridge makes itself for this credential.
    pub fn headers_for(&self, key: Option<&CredentialKey>) -> RateLimitHeaders {
        let now = Instant::now();
        match key.and_then(|key| self.budgets.get(key).map(|b| b.clone())) {
            Some(budget) => {
                let mut window = lock(&budget.window);
                window.roll_over(now);
                window.headers(now)
            }
            None => RateLimitHeaders::fresh_window(),
        }
    }
}

/// How long a request with `ahead` requests queued before it will wait for its turn.
fn estimate_wait(window: &Window, ahead: usize, now: Instant) -> Duration {
    if !window.known {
        return Duration::ZERO;
    }
    let remaining = window.remaining as usize;
    if ahead < remaining {
        return Duration::ZERO;
    }
    let limit = window.limit.max(1) as usize;
    let later_windows = ((ahead - remaining) / limit) as u32;
    window.reset_at.saturating_duration_since(now) + WINDOW * later_windows
}

struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding this lock cannot leave the window inconsistent: every update
    // is a plain assignment.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn duration_millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(limit: u32, remaining: u32, reset: u64) -> HeaderMap {
        let mut map = HeaderMap::new();
        RateLimitHeaders {
            limit,
            remaining,
            reset_seconds: reset,
        }
        .apply(&mut map);
        map
    }

    fn key() -> CredentialKey {
        let mut map = HeaderMap::new();
        map.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_static("Basic a2V5OnNlY3JldA=="),
        );
        CredentialKey::from_headers(&map).expect("key")
    }

    #[test]
    fn key_hides_the_credential() {
        let key = key();
        assert_eq!(key.as_str().len(), 16);
        assert!(!key.as_str().contains("a2V5"));
    }

    #[tokio::test(start_paused = true)]
    async fn unknown_window_admits_everything() {
        let limiter = RateLimiter::new(Duration::from_secs(30));
        let metrics = Metrics::new();
        for _ in 0..100 {
            let admission = limiter
                .admit(Some(&key()), &metrics)
                .await
                .expect("admitted");
            assert!(admission.waited.is_none());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn spent_window_holds_until_reset() {
        let limiter = RateLimiter::new(Duration::from_secs(30));
        let metrics = Metrics::new();
        let key = key();
        limiter.observe(Some(&key), StatusCode::OK, &headers(40, 1, 20), &metrics);
        let first = limiter.admit(Some(&key), &metrics).await.expect("admitted");
        assert!(first.waited.is_none());
        let started = Instant::now();
        let second = limiter
            .admit(Some(&key), &metrics)
            .await
            .expect("admitted after the reset");
        assert_eq!(second.waited, Some(Duration::from_secs(20)));
        assert_eq!(Instant::now() - started, Duration::from_secs(20));
        assert_eq!(metrics.too_many_avoided.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn wait_beyond_max_is_throttled() {
        let limiter = RateLimiter::new(Duration::from_secs(10));
        let metrics = Metrics::new();
        let key = key();
        limiter.observe(Some(&key), StatusCode::OK, &headers(40, 0, 25), &metrics);
        let throttled = limiter
            .admit(Some(&key), &metrics)
            .await
            .expect_err("throttled");
        assert_eq!(throttled.retry_after, Duration::from_secs(25));
        assert_eq!(throttled.headers.remaining, 0);
        assert_eq!(throttled.headers.reset_seconds, 25);
        assert_eq!(metrics.too_many_local.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn queued_requests_are_served_in_order() {
        let limiter = Arc::new(RateLimiter::new(Duration::from_secs(300)));
        let metrics = Arc::new(Metrics::new());
        let key = key();
        limiter.observe(Some(&key), StatusCode::OK, &headers(2, 0, 10), &metrics);
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
        for index in 0..6 {
            let limiter = limiter.clone();
            let metrics = metrics.clone();
            let key = key.clone();
            let sender = sender.clone();
            tokio::spawn(async move {
                let admitted = limiter.admit(Some(&key), &metrics).await.is_ok();
                let _ = sender.send((index, admitted, Instant::now()));
            });
            // Let each task join the queue before the next one starts.
            tokio::task::yield_now().await;
        }
        drop(sender);
        let start = Instant::now();
        let mut order = Vec::new();
        while let Some((index, admitted, at)) = receiver.recv().await {
            assert!(admitted, "request {index} admitted");
            order.push((index, (at - start).as_secs()));
        }
        let indexes: Vec<usize> = order.iter().map(|(index, _)| *index).collect();
        assert_eq!(indexes, vec![0, 1, 2, 3, 4, 5], "first come, first served");
        // Two per window: the first pair after the 10 s reset, then a minute per pair.
        let seconds: Vec<u64> = order.iter().map(|(_, at)| *at).collect();
        assert_eq!(seconds, vec![10, 10, 70, 70, 130, 130]);
    }

    #[tokio::test(start_paused = true)]
    async fn too_many_from_upstream_empties_window() {
        let limiter = RateLimiter::new(Duration::from_secs(5));
        let metrics = Metrics::new();
        let key = key();
        limiter.observe(
            Some(&key),
            StatusCode::TOO_MANY_REQUESTS,
            &headers(40, 3, 30),
            &metrics,
        );
        assert_eq!(metrics.too_many_passed.get(), 1);
        assert_eq!(limiter.headers_for(Some(&key)).remaining, 0);
        assert!(limiter.admit(Some(&key), &metrics).await.is_err());
    }
}
