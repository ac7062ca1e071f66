//! ShipStation's rate-limit headers, as last seen from upstream.
//!
//! Some V1 clients throw when a response lacks `X-Rate-Limit-*`, so responses that
//! storebridge makes itself carry the values ShipStation sent most recently, counted down
//! to now, or a fresh 40-a-minute window when nothing has been seen yet.

use std::sync::Mutex;
use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use tokio::time::Instant;

pub const LIMIT: &str = "x-rate-limit-limit";
pub const REMAINING: &str = "x-rate-limit-remaining";
pub const RESET: &str = "x-rate-limit-reset";

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
    pub fn apply(&self, headers: &mut HeaderMap) {
        headers.insert(LIMIT, HeaderValue::from(self.limit));
        headers.insert(REMAINING, HeaderValue::from(self.remaining));
        headers.insert(RESET, HeaderValue::from(self.reset_seconds));
    }
}

#[derive(Clone, Copy, Debug)]
struct Observed {
    limit: u32,
    remaining: u32,
    reset_at: Instant,
}

/// The most recent rate-limit headers seen from upstream, shared by all requests.
#[derive(Debug, Default)]
pub struct RateLimitTracker {
    observed: Mutex<Option<Observed>>,
}

impl RateLimitTracker {
    /// Records the headers of an upstream response; responses without them change nothing.
    pub fn observe(&self, headers: &HeaderMap) {
        let number =
            |name: &str| -> Option<u64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
        let (Some(limit), Some(remaining), Some(reset)) =
            (number(LIMIT), number(REMAINING), number(RESET))
        else {
            return;
        };
        let observed = Observed {
            limit: u32::try_from(limit).unwrap_or(u32::MAX),
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            reset_at: Instant::now() + Duration::from_secs(reset.min(3600)),
        };
        if let Ok(mut slot) = self.observed.lock() {
            *slot = Some(observed);
        }
    }

    /// Headers for a response storebridge makes itself.
    pub fn current(&self) -> RateLimitHeaders {
        let observed = self.observed.lock().ok().and_then(|slot| *slot);
        let now = Instant::now();
        match observed {
            Some(seen) if seen.reset_at > now => RateLimitHeaders {
                limit: seen.limit,
                remaining: seen.remaining,
                reset_seconds: (seen.reset_at - now).as_secs_f64().ceil() as u64,
            },
            Some(seen) => RateLimitHeaders {
                limit: seen.limit,
                remaining: seen.limit,
                reset_seconds: WINDOW.as_secs(),
            },
            None => RateLimitHeaders {
                limit: DEFAULT_LIMIT,
                remaining: DEFAULT_LIMIT,
                reset_seconds: WINDOW.as_secs(),
            },
        }
    }
}
