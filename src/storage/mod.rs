//! The embedded store of the process: one database under `[storage] data_dir` that contains
//! the webhook relay's subscriptions, events, delivery attempts and dead letters, and the
//! migration assistant's double-ship records and progress markers.
//!
//! Callers see only the [`Storage`] trait. [`sqlite::SqliteStorage`] is the durable
//! implementation; [`memory::MemoryStorage`] keeps everything in memory for tests that run
//! on paused time. [`group_commit::EventWriter`] lets concurrent callers share
//! transactions when they insert events. A PostgreSQL implementation for several replicas can follow behind the
//! same trait: sqlx serves both, and the schema in `migrations/sqlite` uses no column type
//! that PostgreSQL lacks.

pub mod group_commit;
pub mod memory;
pub mod sqlite;
mod types;

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

pub use types::*;

/// `[storage]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Folder of the database file; created on first start.
    pub data_dir: PathBuf,
}

/// Errors of the embedded store.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot create the data folder {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the database {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot apply the database schema migrations")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("database query failed")]
    Query(#[from] sqlx::Error),
    #[error("the database holds an invalid {column} value {value:?}")]
    Invalid { column: &'static str, value: String },
}

/// A shared handle to the store.
pub type SharedStorage = Arc<dyn Storage>;

/// The database interface of the relay. Every method is one transaction.
#[async_trait::async_trait]
pub trait Storage: Send + Sync + 'static {
    /// Inserts a subscription in state `pending` and returns its ID.
    async fn insert_subscription(&self, new: &NewSubscription) -> Result<i64, StorageError>;

    /// Marks a pending subscription active once ShipStation returned its webhook ID.
    async fn activate_subscription(&self, id: i64, upstream_id: u64) -> Result<(), StorageError>;

    /// Deletes a subscription with its events and attempts. Returns whether it existed.
    async fn delete_subscription(&self, id: i64) -> Result<bool, StorageError>;

    async fn subscription_by_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<Subscription>, StorageError>;

    async fn subscription_by_upstream_id(
        &self,
        upstream_id: u64,
    ) -> Result<Option<Subscription>, StorageError>;

    /// Returns every subscription, oldest first.
    async fn subscriptions(&self) -> Result<Vec<Subscription>, StorageError>;

    /// Stores an accepted event. It is durable once this returns.
    async fn insert_event(&self, new: &NewEvent) -> Result<i64, StorageError>;

    /// Stores accepted events in one transaction and returns their IDs in the order given.
    /// All of them are durable once this returns. On an error, none of them is stored.
    async fn insert_events(&self, new: &[NewEvent]) -> Result<Vec<i64>, StorageError>;

    /// Claims up to `limit` pending events due at `now`, oldest first, for this worker
    /// until `claim_until`. Events of disabled subscriptions are never claimed.
    async fn claim_due(
        &self,
        now: UnixMillis,
        claim_until: UnixMillis,
        limit: u32,
    ) -> Result<Vec<DueEvent>, StorageError>;

    /// Returns when the next pending, unclaimed event falls due, if any.
    async fn next_due(&self) -> Result<Option<UnixMillis>, StorageError>;

    /// Releases every claim. Only correct while no other process uses the database, which
    /// is true of SQLite at start-up.
    async fn release_claims(&self) -> Result<(), StorageError>;

    /// Records one attempt and applies its outcome to the event (and, for 410, to the
    /// subscription and its other pending events).
    async fn record_attempt(
        &self,
        attempt: &AttemptRecord,
        outcome: &AttemptOutcome,
    ) -> Result<(), StorageError>;

    /// Lists events, newest first, optionally only those in one delivery state.
    async fn events(
        &self,
        filter: EventFilter,
        limit: u32,
    ) -> Result<Vec<EventSummary>, StorageError>;

    /// Lists the attempts of one event, oldest first.
    async fn attempts(&self, event_id: i64) -> Result<Vec<AttemptRecord>, StorageError>;

    /// Makes a dead or delivered event pending again, due at `now`. Returns whether the
    /// event exists.
    async fn replay(&self, event_id: i64, now: UnixMillis) -> Result<bool, StorageError>;

    /// Makes every dead letter pending again, due at `now`. Returns how many.
    async fn replay_dead(&self, now: UnixMillis) -> Result<u64, StorageError>;

    /// Counts pending events and dead letters, for metrics.
    async fn event_counts(&self) -> Result<EventCounts, StorageError>;

    /// Inserts or replaces the double-ship record of a Miva Connect order.
    async fn record_double_ship(&self, record: &DoubleShipRecord) -> Result<(), StorageError>;

    /// Returns the double-ship record of a Miva Connect order, if one was recorded.
    async fn double_ship(
        &self,
        connect_order_id: u64,
    ) -> Result<Option<DoubleShipRecord>, StorageError>;

    /// Returns a progress marker stored with [`Storage::set_cursor`].
    async fn cursor(&self, name: &str) -> Result<Option<String>, StorageError>;

    async fn set_cursor(&self, name: &str, value: &str) -> Result<(), StorageError>;
}
