//! The SQLite implementation of [`Storage`]: one file, `storebridge.db`, in the data folder.
//!
//! The database runs in WAL mode with `synchronous = FULL`, so a commit that returned is on
//! disk before the relay responds to ShipStation, and a crash or `kill -9` loses nothing that
//! was acknowledged. SQLite allows one writer at a time, which suits a single process.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::Row;

use super::types::parse_mode;
use super::{
    AttemptOutcome, AttemptRecord, DoubleShipRecord, DueEvent, EventCounts, EventFilter,
    EventStatus, EventSummary, NewEvent, NewSubscription, Storage, StorageError, Subscription,
    SubscriptionState, UnixMillis,
};

/// Name of the database file inside `[storage] data_dir`.
pub const DATABASE_FILE: &str = "storebridge.db";

/// How long a writer waits for another writer's lock before failing. Commits take
/// milliseconds, so 5 s only runs out when the disk stalls.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections in the pool. SQLite serialises writers anyway, but a few connections let
/// listings run beside the delivery worker.
const MAX_CONNECTIONS: u32 = 4;

const SUBSCRIPTION_COLUMNS: &str = "id, token_hash, upstream_id, target_url, event, store_id, \
     upstream_store_id, friendly_name, mode, state, disabled_reason, created_at";

const EVENT_COLUMNS: &str = "id, uid, subscription_id, resource_type, payload, status, attempts, \
     received_at, next_attempt_at, last_error";

/// The durable store.
#[derive(Clone, Debug)]
pub struct SqliteStorage {
    pool: SqlitePool,
}

impl SqliteStorage {
    /// Opens (creating if needed) the database in `data_dir` and applies the schema
    /// migrations.
    pub async fn open(data_dir: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StorageError::CreateDir {
            path: data_dir.to_owned(),
            source,
        })?;
        let path = data_dir.join(DATABASE_FILE);
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(|source| StorageError::Open {
                path: path.clone(),
                source,
            })?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(StorageError::Migrate)?;
        Ok(Self { pool })
    }

    /// Starts a transaction that takes SQLite's write lock at once, waiting up to
    /// [`BUSY_TIMEOUT`] for it. A deferred transaction that reads and then writes gets
    /// SQLITE_BUSY at its first write when another connection holds or has just released
    /// the lock, without calling the busy handler, because the snapshot it read may be stale.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StorageError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

fn optional_u64(row: &SqliteRow, column: &'static str) -> Result<Option<u64>, StorageError> {
    let value: Option<i64> = row.try_get(column)?;
    value
        .map(|number| {
            u64::try_from(number).map_err(|_| StorageError::Invalid {
                column,
                value: number.to_string(),
            })
        })
        .transpose()
}

fn parsed<T: FromStr>(row: &SqliteRow, column: &'static str) -> Result<T, StorageError> {
    let text: String = row.try_get(column)?;
    text.parse().map_err(|_| StorageError::Invalid {
        column,
        value: text,
    })
}

fn to_i64(value: Option<u64>) -> Option<i64> {
    value.and_then(|number| i64::try_from(number).ok())
}

fn subscription_from_row(row: &SqliteRow) -> Result<Subscription, StorageError> {
    let mode_text: String = row.try_get("mode")?;
    let mode = parse_mode(&mode_text).ok_or(StorageError::Invalid {
        column: "mode",
        value: mode_text.clone(),
    })?;
    Ok(Subscription {
        id: row.try_get("id")?,
        token_hash: row.try_get("token_hash")?,
        upstream_id: optional_u64(row, "upstream_id")?,
        target_url: row.try_get("target_url")?,
        event: row.try_get("event")?,
        store_id: optional_u64(row, "store_id")?,
        upstream_store_id: optional_u64(row, "upstream_store_id")?,
        friendly_name: row.try_get("friendly_name")?,
        mode,
        state: parsed::<SubscriptionState>(row, "state")?,
        disabled_reason: row.try_get("disabled_reason")?,
        created_at: UnixMillis(row.try_get("created_at")?),
    })
}

fn event_from_row(row: &SqliteRow) -> Result<EventSummary, StorageError> {
    let attempts: i64 = row.try_get("attempts")?;
    Ok(EventSummary {
        id: row.try_get("id")?,
        uid: row.try_get("uid")?,
        subscription_id: row.try_get("subscription_id")?,
        resource_type: row.try_get("resource_type")?,
        payload: row.try_get("payload")?,
        status: parsed::<EventStatus>(row, "status")?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        received_at: UnixMillis(row.try_get("received_at")?),
        next_attempt_at: UnixMillis(row.try_get("next_attempt_at")?),
        last_error: row.try_get("last_error")?,
    })
}

#[async_trait::async_trait]
impl Storage for SqliteStorage {
    async fn insert_subscription(&self, new: &NewSubscription) -> Result<i64, StorageError> {
        let result = sqlx::query(
            "INSERT INTO relay_subscriptions (token_hash, target_url, event, store_id, \
             upstream_store_id, friendly_name, mode, state, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
        )
        .bind(&new.token_hash)
        .bind(&new.target_url)
        .bind(&new.event)
        .bind(to_i64(new.store_id))
        .bind(to_i64(new.upstream_store_id))
        .bind(&new.friendly_name)
        .bind(new.mode.as_str())
        .bind(new.created_at.0)
        .execute(&self.pool)
        .await?;
        Ok(result.last_insert_rowid())
    }

    async fn activate_subscription(&self, id: i64, upstream_id: u64) -> Result<(), StorageError> {
        sqlx::query(
            "UPDATE relay_subscriptions SET upstream_id = ?, state = 'active' WHERE id = ?",
        )
        .bind(to_i64(Some(upstream_id)))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_subscription(&self, id: i64) -> Result<bool, StorageError> {
        let result = sqlx::query("DELETE FROM relay_subscriptions WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn subscription_by_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<Subscription>, StorageError> {
        let sql =
            format!("SELECT {SUBSCRIPTION_COLUMNS} FROM relay_subscriptions WHERE token_hash = ?");
        let row = sqlx::query(&sql)
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(subscription_from_row).transpose()
    }

    async fn subscription_by_upstream_id(
        &self,
        upstream_id: u64,
    ) -> Result<Option<Subscription>, StorageError> {
        let sql =
            format!("SELECT {SUBSCRIPTION_COLUMNS} FROM relay_subscriptions WHERE upstream_id = ?");
        let row = sqlx::query(&sql)
            .bind(to_i64(Some(upstream_id)))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(subscription_from_row).transpose()
    }

    async fn subscriptions(&self) -> Result<Vec<Subscription>, StorageError> {
        let sql = format!("SELECT {SUBSCRIPTION_COLUMNS} FROM relay_subscriptions ORDER BY id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(subscription_from_row).collect()
    }

    async fn insert_event(&self, new: &NewEvent) -> Result<i64, StorageError> {
        insert_event_row(&self.pool, new).await
    }

    async fn insert_events(&self, new: &[NewEvent]) -> Result<Vec<i64>, StorageError> {
        // One transaction, so one WAL sync covers every event. An error drops the
        // transaction, which rolls back the rows inserted before it.
        let mut transaction = self.begin_write().await?;
        let mut ids = Vec::with_capacity(new.len());
        for event in new {
            ids.push(insert_event_row(&mut *transaction, event).await?);
        }
        transaction.commit().await?;
        Ok(ids)
    }

    async fn claim_due(
        &self,
        now: UnixMillis,
        claim_until: UnixMillis,
        limit: u32,
    ) -> Result<Vec<DueEvent>, StorageError> {
        // The claim reads and then writes, so it takes the write lock before it reads.
        let mut transaction = self.begin_write().await?;

        // Without statistics, SQLite's planner picks `relay_events_due` and sorts every due
        // event to find the oldest. `INDEXED BY` makes it read pending events in ID order and
        // stop after `limit` rows. In the sqlite3 shell, on a benchmark database with 45,000
        // events pending, that took a claim from 16 ms to under 1 ms.
        let rows = sqlx::query(
            "SELECT e.id, e.uid, e.subscription_id, s.target_url, e.payload, e.attempts \
             FROM relay_events e INDEXED BY relay_events_pending_by_id \
             JOIN relay_subscriptions s ON s.id = e.subscription_id \
             WHERE e.status = 'pending' AND s.state != 'disabled' AND e.next_attempt_at <= ? \
             AND (e.claimed_until IS NULL OR e.claimed_until <= ?) ORDER BY e.id LIMIT ?",
        )
        .bind(now.0)
        .bind(now.0)
        .bind(i64::from(limit))
        .fetch_all(&mut *transaction)
        .await?;

        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let attempts: i64 = row.try_get("attempts")?;
            let event = DueEvent {
                id: row.try_get("id")?,
                uid: row.try_get("uid")?,
                subscription_id: row.try_get("subscription_id")?,
                target_url: row.try_get("target_url")?,
                payload: row.try_get("payload")?,
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            };
            sqlx::query("UPDATE relay_events SET claimed_until = ? WHERE id = ?")
                .bind(claim_until.0)
                .bind(event.id)
                .execute(&mut *transaction)
                .await?;
            claimed.push(event);
        }
        transaction.commit().await?;
        Ok(claimed)
    }

    async fn next_due(&self) -> Result<Option<UnixMillis>, StorageError> {
        // An unclaimed event is due at `next_attempt_at`, a claimed one when both that time
        // and its claim have passed. The two parts are read apart so that each uses an index
        // and reads a few rows. The worker runs this on every pass, so reading every pending
        // event made it slower as the backlog grew.
        let next: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(due) FROM ( \
               SELECT * FROM ( \
                 SELECT e.next_attempt_at AS due \
                 FROM relay_events e JOIN relay_subscriptions s ON s.id = e.subscription_id \
                 WHERE e.status = 'pending' AND s.state != 'disabled' \
                 AND e.claimed_until IS NULL ORDER BY e.next_attempt_at LIMIT 1) \
               UNION ALL \
               SELECT MAX(e.next_attempt_at, e.claimed_until) AS due \
               FROM relay_events e INDEXED BY relay_events_claimed \
               JOIN relay_subscriptions s ON s.id = e.subscription_id \
               WHERE e.status = 'pending' AND s.state != 'disabled' \
               AND e.claimed_until IS NOT NULL)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(next.map(UnixMillis))
    }

    async fn release_claims(&self) -> Result<(), StorageError> {
        sqlx::query("UPDATE relay_events SET claimed_until = NULL WHERE claimed_until IS NOT NULL")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn record_attempt(
        &self,
        attempt: &AttemptRecord,
        outcome: &AttemptOutcome,
    ) -> Result<(), StorageError> {
        let mut transaction = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO relay_attempts (event_id, attempted_at, status_code, latency_ms, reason) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(attempt.event_id)
        .bind(attempt.attempted_at.0)
        .bind(attempt.status_code.map(i64::from))
        .bind(i64::try_from(attempt.latency_ms).unwrap_or(i64::MAX))
        .bind(&attempt.reason)
        .execute(&mut *transaction)
        .await?;

        let (status, next_attempt_at) = match outcome {
            AttemptOutcome::Delivered => (EventStatus::Delivered, None),
            AttemptOutcome::Retry { next_attempt_at } => {
                (EventStatus::Pending, Some(next_attempt_at.0))
            }
            AttemptOutcome::Dead | AttemptOutcome::Gone => (EventStatus::Dead, None),
        };
        sqlx::query(
            "UPDATE relay_events SET status = ?, attempts = attempts + 1, claimed_until = NULL, \
             next_attempt_at = COALESCE(?, next_attempt_at), last_error = ? WHERE id = ?",
        )
        .bind(status.as_str())
        .bind(next_attempt_at)
        .bind((*outcome != AttemptOutcome::Delivered).then_some(&attempt.reason))
        .bind(attempt.event_id)
        .execute(&mut *transaction)
        .await?;

        if *outcome == AttemptOutcome::Gone {
            disable_subscription_of(&mut transaction, attempt.event_id).await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    async fn events(
        &self,
        filter: EventFilter,
        limit: u32,
    ) -> Result<Vec<EventSummary>, StorageError> {
        let condition = match filter {
            EventFilter::All => "1 = 1",
            EventFilter::Failing => "status = 'pending' AND attempts > 0",
            EventFilter::Dead => "status = 'dead'",
        };
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM relay_events WHERE {condition} ORDER BY id DESC LIMIT ?"
        );
        let rows = sqlx::query(&sql)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn attempts(&self, event_id: i64) -> Result<Vec<AttemptRecord>, StorageError> {
        let rows = sqlx::query(
            "SELECT event_id, attempted_at, status_code, latency_ms, reason FROM relay_attempts \
             WHERE event_id = ? ORDER BY id",
        )
        .bind(event_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let status: Option<i64> = row.try_get("status_code")?;
                let latency: i64 = row.try_get("latency_ms")?;
                Ok(AttemptRecord {
                    event_id: row.try_get("event_id")?,
                    attempted_at: UnixMillis(row.try_get("attempted_at")?),
                    status_code: status.and_then(|code| u16::try_from(code).ok()),
                    latency_ms: u64::try_from(latency).unwrap_or(0),
                    reason: row.try_get("reason")?,
                })
            })
            .collect()
    }

    async fn replay(&self, event_id: i64, now: UnixMillis) -> Result<bool, StorageError> {
        let result = sqlx::query(
            "UPDATE relay_events SET status = 'pending', attempts = 0, next_attempt_at = ?, \
             claimed_until = NULL WHERE id = ?",
        )
        .bind(now.0)
        .bind(event_id)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn replay_dead(&self, now: UnixMillis) -> Result<u64, StorageError> {
        let result = sqlx::query(
            "UPDATE relay_events SET status = 'pending', attempts = 0, next_attempt_at = ?, \
             claimed_until = NULL WHERE status = 'dead'",
        )
        .bind(now.0)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }

    async fn event_counts(&self) -> Result<EventCounts, StorageError> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM(status = 'pending'), 0) AS pending, \
             COALESCE(SUM(status = 'dead'), 0) AS dead FROM relay_events",
        )
        .fetch_one(&self.pool)
        .await?;
        let pending: i64 = row.try_get("pending")?;
        let dead: i64 = row.try_get("dead")?;
        Ok(EventCounts {
            pending: u64::try_from(pending).unwrap_or(0),
            dead: u64::try_from(dead).unwrap_or(0),
        })
    }

    async fn record_double_ship(&self, record: &DoubleShipRecord) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT OR REPLACE INTO double_ship_orders (connect_order_id, connect_store_id, \
             order_number, legacy_order_id, legacy_ship_date, tracking_number, recorded_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(to_i64(Some(record.connect_order_id)))
        .bind(to_i64(Some(record.connect_store_id)))
        .bind(&record.order_number)
        .bind(to_i64(Some(record.legacy_order_id)))
        .bind(&record.legacy_ship_date)
        .bind(&record.tracking_number)
        .bind(record.recorded_at.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn double_ship(
        &self,
        connect_order_id: u64,
    ) -> Result<Option<DoubleShipRecord>, StorageError> {
        let row = sqlx::query(
            "SELECT connect_order_id, connect_store_id, order_number, legacy_order_id, \
             legacy_ship_date, tracking_number, recorded_at FROM double_ship_orders \
             WHERE connect_order_id = ?",
        )
        .bind(to_i64(Some(connect_order_id)))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let required = |column: &'static str| {
            optional_u64(&row, column)?.ok_or(StorageError::Invalid {
                column,
                value: "NULL".to_owned(),
            })
        };
        Ok(Some(DoubleShipRecord {
            connect_order_id: required("connect_order_id")?,
            connect_store_id: required("connect_store_id")?,
            order_number: row.try_get("order_number")?,
            legacy_order_id: required("legacy_order_id")?,
            legacy_ship_date: row.try_get("legacy_ship_date")?,
            tracking_number: row.try_get("tracking_number")?,
            recorded_at: UnixMillis(row.try_get("recorded_at")?),
        }))
    }

    async fn cursor(&self, name: &str) -> Result<Option<String>, StorageError> {
        let value = sqlx::query_scalar("SELECT value FROM migration_cursors WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(value)
    }

    async fn set_cursor(&self, name: &str, value: &str) -> Result<(), StorageError> {
        sqlx::query("INSERT OR REPLACE INTO migration_cursors (name, value) VALUES (?, ?)")
            .bind(name)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// Inserts a pending event with `executor`, a pool or an open transaction, and returns its ID.
async fn insert_event_row<'c, E>(executor: E, new: &NewEvent) -> Result<i64, StorageError>
where
    E: sqlx::Executor<'c, Database = sqlx::Sqlite>,
{
    let result = sqlx::query(
        "INSERT INTO relay_events (uid, subscription_id, resource_type, received_body, payload, \
         status, received_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
    )
    .bind(&new.uid)
    .bind(new.subscription_id)
    .bind(&new.resource_type)
    .bind(&new.received_body)
    .bind(&new.payload)
    .bind(new.received_at.0)
    .bind(new.received_at.0)
    .execute(executor)
    .await?;
    Ok(result.last_insert_rowid())
}

/// Disables the subscription of `event_id` and turns its other pending events into dead
/// letters, inside the caller's transaction.
async fn disable_subscription_of(
    transaction: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    event_id: i64,
) -> Result<(), StorageError> {
    let subscription_id: i64 =
        sqlx::query_scalar("SELECT subscription_id FROM relay_events WHERE id = ?")
            .bind(event_id)
            .fetch_one(&mut **transaction)
            .await?;
    sqlx::query(
        "UPDATE relay_subscriptions SET state = 'disabled', \
         disabled_reason = 'the target returned 410 Gone' WHERE id = ?",
    )
    .bind(subscription_id)
    .execute(&mut **transaction)
    .await?;
    sqlx::query(
        "UPDATE relay_events SET status = 'dead', claimed_until = NULL, \
         last_error = 'subscription disabled: the target returned 410 Gone' \
         WHERE subscription_id = ? AND status = 'pending'",
    )
    .bind(subscription_id)
    .execute(&mut **transaction)
    .await?;
    Ok(())
}
