//! The retry policy: whether an attempt's result means delivered, retry later,
//! dead-lettered or gone.

use std::time::{Duration, SystemTime};

use http::HeaderMap;

use crate::storage::{AttemptOutcome, UnixMillis};

/// Maximum `Retry-After` honoured. A subscriber asking for more is retried after this, so
/// one odd header cannot park an event for days.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3_600);

/// Spread of the jitter around each scheduled delay: ±10 %, so subscribers that failed
/// together are not retried in one burst.
pub const JITTER: f64 = 0.1;

/// The result of one attempt, as the retry policy reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptResult {
    /// The target's status, when a response arrived.
    pub status: Option<u16>,
    /// The target's `Retry-After`, already capped.
    pub retry_after: Option<Duration>,
}

/// Decides the outcome of attempt number `attempt` (1 for the first).
///
/// 2xx is delivered and 410 disables the subscription. Anything else is retried after
/// `schedule[attempt - 1]`, scaled by `jitter_factor` (from [`jitter_factor`]) and never
/// before `Retry-After`, until the schedule runs out: then the event is dead-lettered.
pub fn decide(
    result: AttemptResult,
    attempt: u32,
    schedule: &[Duration],
    now: UnixMillis,
    jitter_factor: f64,
) -> AttemptOutcome {
    match result.status {
        Some(status) if (200..300).contains(&status) => return AttemptOutcome::Delivered,
        Some(410) => return AttemptOutcome::Gone,
        _ => {}
    }
    let index = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
    let Some(&scheduled) = schedule.get(index) else {
        return AttemptOutcome::Dead;
    };
    let jittered = scheduled.mul_f64(jitter_factor.clamp(1.0 - JITTER, 1.0 + JITTER));
    let delay = match result.retry_after {
        Some(asked) => jittered.max(asked.min(MAX_RETRY_AFTER)),
        None => jittered,
    };
    AttemptOutcome::Retry {
        next_attempt_at: now.saturating_add(delay),
    }
}

/// Returns a random factor in `[1 - JITTER, 1 + JITTER]`.
pub fn jitter_factor() -> f64 {
    rand::random_range((1.0 - JITTER)..=(1.0 + JITTER))
}

/// Reads `Retry-After` as seconds or an HTTP date, capped at [`MAX_RETRY_AFTER`].
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let delay = match text.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let date = httpdate::parse_http_date(text).ok()?;
            date.duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO)
        }
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEDULE: [Duration; 2] = [Duration::from_secs(5), Duration::from_secs(30)];

    fn failed(status: Option<u16>) -> AttemptResult {
        AttemptResult {
            status,
            retry_after: None,
        }
    }

    #[test]
    fn success_and_gone() {
        let now = UnixMillis(0);
        assert_eq!(
            decide(failed(Some(204)), 1, &SCHEDULE, now, 1.0),
            AttemptOutcome::Delivered
        );
        assert_eq!(
            decide(failed(Some(410)), 1, &SCHEDULE, now, 1.0),
            AttemptOutcome::Gone
        );
    }

    #[test]
    fn failures_follow_schedule_then_die() {
        let now = UnixMillis(1_000);
        let retry = |at| AttemptOutcome::Retry {
            next_attempt_at: UnixMillis(at),
        };
        assert_eq!(
            decide(failed(Some(500)), 1, &SCHEDULE, now, 1.0),
            retry(6_000)
        );
        assert_eq!(decide(failed(None), 2, &SCHEDULE, now, 1.0), retry(31_000));
        assert_eq!(
            decide(failed(Some(404)), 3, &SCHEDULE, now, 1.0),
            AttemptOutcome::Dead
        );
    }

    #[test]
    fn jitter_is_bounded() {
        let now = UnixMillis(0);
        let early = decide(failed(Some(500)), 1, &SCHEDULE, now, 0.0);
        let late = decide(failed(Some(500)), 1, &SCHEDULE, now, 5.0);
        assert_eq!(
            early,
            AttemptOutcome::Retry {
                next_attempt_at: UnixMillis(4_500)
            }
        );
        assert_eq!(
            late,
            AttemptOutcome::Retry {
                next_attempt_at: UnixMillis(5_500)
            }
        );
        for _ in 0..100 {
            let factor = jitter_factor();
            assert!((0.9..=1.1).contains(&factor), "{factor}");
        }
    }

    #[test]
    fn retry_after_delays_but_is_capped() {
        let now = UnixMillis(0);
        let asked = AttemptResult {
            status: Some(429),
            retry_after: Some(Duration::from_secs(120)),
        };
        assert_eq!(
            decide(asked, 1, &SCHEDULE, now, 1.0),
            AttemptOutcome::Retry {
                next_attempt_at: UnixMillis(120_000)
            }
        );

        let mut headers = HeaderMap::new();
        headers.insert(http::header::RETRY_AFTER, "86400".parse().expect("value"));
        assert_eq!(retry_after(&headers), Some(MAX_RETRY_AFTER));
        headers.insert(http::header::RETRY_AFTER, "7".parse().expect("value"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            http::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().expect("value"),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert(http::header::RETRY_AFTER, "soon".parse().expect("value"));
        assert_eq!(retry_after(&headers), None);
    }
}
