//! The relay's clock: wall-clock milliseconds for the database, advanced by tokio's clock.
//!
//! Times are read as the wall-clock time at start plus the tokio time elapsed since, so
//! tests that pause and advance tokio's clock move the relay's schedule with it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::storage::UnixMillis;

#[derive(Clone, Copy, Debug)]
pub struct Clock {
    wall_at_start: UnixMillis,
    start: Instant,
}

impl Clock {
    pub fn new() -> Self {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Self {
            wall_at_start: UnixMillis(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)),
            start: Instant::now(),
        }
    }

    pub fn now(&self) -> UnixMillis {
        self.wall_at_start.saturating_add(self.start.elapsed())
    }

    /// Returns the tokio instant of a time from the database (now, if it is past).
    pub fn instant_at(&self, at: UnixMillis) -> Instant {
        let ahead = at.0.saturating_sub(self.now().0);
        Instant::now() + Duration::from_millis(u64::try_from(ahead).unwrap_or(0))
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}
