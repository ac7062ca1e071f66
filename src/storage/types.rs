//! The records the store keeps, independent of the database behind it.

use std::fmt;
use std::str::FromStr;

use crate::config::Mode;

/// A point in time as Unix milliseconds, the unit of every time column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixMillis(pub i64);

impl UnixMillis {
    pub fn saturating_add(self, duration: std::time::Duration) -> Self {
        let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(millis))
    }
}

impl fmt::Display for UnixMillis {
    /// Formats as RFC 3339 in UTC, for command output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = i128::from(self.0) * 1_000_000;
        match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(moment) => match moment.format(&time::format_description::well_known::Rfc3339) {
                Ok(text) => f.write_str(&text),
                Err(_) => write!(f, "{}ms", self.0),
            },
            Err(_) => write!(f, "{}ms", self.0),
        }
    }
}

/// Lifecycle of a relay subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscriptionState {
    /// Stored, and the ShipStation subscription is being created.
    Pending,
    Active,
    /// The target returned 410 Gone, so nothing more is delivered to it.
    Disabled,
}

/// Lifecycle of a relayed event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventStatus {
    /// Waiting for its first or next attempt.
    Pending,
    Delivered,
    /// Every attempt failed, or the subscription was disabled: kept for replay.
    Dead,
}

macro_rules! text_enum {
    ($type:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $type {
            pub fn as_str(self) -> &'static str {
                match self { $($type::$variant => $text),+ }
            }
        }

        impl FromStr for $type {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, String> {
                match text {
                    $($text => Ok($type::$variant),)+
                    other => Err(other.to_owned()),
                }
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(SubscriptionState { Pending => "pending", Active => "active", Disabled => "disabled" });
text_enum!(EventStatus { Pending => "pending", Delivered => "delivered", Dead => "dead" });

/// Parses a listener mode stored as text.
pub(crate) fn parse_mode(text: &str) -> Option<Mode> {
    match text {
        "mirror" => Some(Mode::Mirror),
        "translate" => Some(Mode::Translate),
        _ => None,
    }
}

/// A subscription about to be created.
#[derive(Clone, Debug)]
pub struct NewSubscription {
    pub token_hash: String,
    pub target_url: String,
    pub event: String,
    pub store_id: Option<u64>,
    pub upstream_store_id: Option<u64>,
    pub friendly_name: Option<String>,
    pub mode: Mode,
    pub created_at: UnixMillis,
}

/// A stored relay subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub id: i64,
    pub token_hash: String,
    pub upstream_id: Option<u64>,
    pub target_url: String,
    pub event: String,
    pub store_id: Option<u64>,
    pub upstream_store_id: Option<u64>,
    pub friendly_name: Option<String>,
    pub mode: Mode,
    pub state: SubscriptionState,
    pub disabled_reason: Option<String>,
    pub created_at: UnixMillis,
}

/// An accepted event about to be stored.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub uid: String,
    pub subscription_id: i64,
    pub resource_type: String,
    pub received_body: String,
    pub payload: String,
    pub received_at: UnixMillis,
}

/// A claimed event with what its delivery needs.
#[derive(Clone, Debug)]
pub struct DueEvent {
    pub id: i64,
    pub uid: String,
    pub subscription_id: i64,
    pub target_url: String,
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// A filter for event listings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventFilter {
    All,
    /// Pending events that failed at least once and will be tried again.
    Failing,
    Dead,
}

/// How many events wait for delivery and how many are dead letters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventCounts {
    pub pending: u64,
    pub dead: u64,
}

/// One event as listings show it.
#[derive(Clone, Debug)]
pub struct EventSummary {
    pub id: i64,
    pub uid: String,
    pub subscription_id: i64,
    pub resource_type: String,
    pub payload: String,
    pub status: EventStatus,
    pub attempts: u32,
    pub received_at: UnixMillis,
    pub next_attempt_at: UnixMillis,
    pub last_error: Option<String>,
}

/// One delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptRecord {
    pub event_id: i64,
    pub attempted_at: UnixMillis,
    /// The target's status, when a response arrived.
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    /// A short reason: `200 OK`, `timed out after 15 s`, `connection refused`.
    pub reason: String,
}

/// The effect of an attempt on its event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    /// Try again at the given time.
    Retry {
        next_attempt_at: UnixMillis,
    },
    /// No attempt is left: the event becomes a dead letter.
    Dead,
    /// The target returned 410 Gone: the subscription is disabled and its pending events become
    /// dead letters.
    Gone,
}

/// A Miva Connect order whose order number was already shipped from the legacy store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DoubleShipRecord {
    pub connect_order_id: u64,
    pub connect_store_id: u64,
    pub order_number: String,
    pub legacy_order_id: u64,
    pub legacy_ship_date: Option<String>,
    pub tracking_number: Option<String>,
    pub recorded_at: UnixMillis,
}
