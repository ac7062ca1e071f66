//! The V1 rate limit: a fixed one-minute window per credential that starts with the
//! window's first request. The sandbox accepts one credential, so it keeps one window.

use std::time::Duration;

use tokio::time::Instant;

const WINDOW: Duration = Duration::from_secs(60);

/// The outcome of counting one request, with the values of the `X-Rate-Limit-*` headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Whole seconds until the window ends, rounded up.
    pub reset_seconds: u64,
}

#[derive(Debug)]
pub(crate) struct RateLimiter {
    limit: u32,
    window_start: Option<Instant>,
    used: u32,
}

impl RateLimiter {
    pub fn new(limit: u32) -> Self {
        Self {
            limit,
            window_start: None,
            used: 0,
        }
    }

    /// Changes the limit and starts a fresh window.
    pub fn set_limit(&mut self, limit: u32) {
        self.limit = limit;
        self.reset();
    }

    /// Forgets the current window, so the next request starts a new one.
    pub fn reset(&mut self) {
        self.window_start = None;
        self.used = 0;
    }

    /// Counts a request made at `now`. Requests over the limit are not counted, so they do
    /// not extend the wait.
    pub fn check(&mut self, now: Instant) -> Decision {
        let start = match self.window_start {
            Some(start) if now.saturating_duration_since(start) < WINDOW => start,
            _ => {
                self.window_start = Some(now);
                self.used = 0;
                now
            }
        };
        let allowed = self.used < self.limit;
        if allowed {
            self.used += 1;
        }
        let left = WINDOW.saturating_sub(now.saturating_duration_since(start));
        let reset_seconds = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        Decision {
            allowed,
            limit: self.limit,
            remaining: self.limit.saturating_sub(self.used),
            reset_seconds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_counts_down_then_rejects() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(2);
        let first = limiter.check(start);
        assert!(first.allowed);
        assert_eq!(first.remaining, 1);
        assert_eq!(first.reset_seconds, 60);
        let second = limiter.check(start + Duration::from_millis(20_500));
        assert!(second.allowed);
        assert_eq!(second.remaining, 0);
        assert_eq!(second.reset_seconds, 40);
        let third = limiter.check(start + Duration::from_secs(30));
        assert!(!third.allowed);
        assert_eq!(third.remaining, 0);
        assert_eq!(third.reset_seconds, 30);
    }

    #[test]
    fn new_window_after_a_minute() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(1);
        assert!(limiter.check(start).allowed);
        assert!(!limiter.check(start + Duration::from_secs(59)).allowed);
        let later = limiter.check(start + Duration::from_secs(60));
        assert!(later.allowed);
        assert_eq!(later.reset_seconds, 60);
    }

    #[test]
    fn set_limit_starts_fresh_window() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(1);
        assert!(limiter.check(start).allowed);
        limiter.set_limit(3);
        let after = limiter.check(start + Duration::from_secs(1));
        assert!(after.allowed);
        assert_eq!(after.limit, 3);
        assert_eq!(after.remaining, 2);
    }
}
