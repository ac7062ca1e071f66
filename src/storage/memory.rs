//! An in-memory [`Storage`] with the same rules as the SQLite one, and nothing durable.
//!
//! It exists for tests of the delivery worker on tokio's paused clock: sqlx runs each SQLite
//! connection on its own thread, and a paused runtime that waits on that thread would jump
//! its clock ahead and fire unrelated timeouts.

use std::sync::{Mutex, MutexGuard};

use super::{
    AttemptOutcome, AttemptRecord, DoubleShipRecord, DueEvent, EventCounts, EventFilter,
    EventStatus, EventSummary, NewEvent, NewSubscription, Storage, StorageError, Subscription,
    SubscriptionState, UnixMillis,
};

#[derive(Default)]
struct Tables {
    subscriptions: Vec<Subscription>,
    events: Vec<(EventSummary, Option<UnixMillis>)>,
    attempts: Vec<AttemptRecord>,
    double_ship: std::collections::BTreeMap<u64, DoubleShipRecord>,
    cursors: std::collections::BTreeMap<String, String>,
}

/// The in-memory store. Everything is lost when it is dropped.
#[derive(Default)]
pub struct MemoryStorage {
    tables: Mutex<Tables>,
}

impl MemoryStorage {
    fn lock(&self) -> MutexGuard<'_, Tables> {
        self.tables
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn is_disabled(tables: &Tables, subscription_id: i64) -> bool {
    tables
        .subscriptions
        .iter()
        .any(|s| s.id == subscription_id && s.state == SubscriptionState::Disabled)
}

#[async_trait::async_trait]
impl Storage for MemoryStorage {
    async fn insert_subscription(&self, new: &NewSubscription) -> Result<i64, StorageError> {
        let mut tables = self.lock();
        let id = tables.subscriptions.last().map_or(1, |last| last.id + 1);
        tables.subscriptions.push(Subscription {
            id,
            token_hash: new.token_hash.clone(),
            upstream_id: None,
            target_url: new.target_url.clone(),
            event: new.event.clone(),
            store_id: new.store_id,
            upstream_store_id: new.upstream_store_id,
            friendly_name: new.friendly_name.clone(),
            mode: new.mode,
            state: SubscriptionState::Pending,
            disabled_reason: None,
            created_at: new.created_at,
        });
        Ok(id)
    }

    async fn activate_subscription(&self, id: i64, upstream_id: u64) -> Result<(), StorageError> {
        let mut tables = self.lock();
        if let Some(found) = tables.subscriptions.iter_mut().find(|s| s.id == id) {
            found.upstream_id = Some(upstream_id);
            found.state = SubscriptionState::Active;
        }
        Ok(())
    }

    async fn delete_subscription(&self, id: i64) -> Result<bool, StorageError> {
        let mut tables = self.lock();
        let before = tables.subscriptions.len();
        tables.subscriptions.retain(|s| s.id != id);
        tables
            .events
            .retain(|(event, _)| event.subscription_id != id);
        Ok(tables.subscriptions.len() < before)
    }

    async fn subscription_by_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<Subscription>, StorageError> {
        let tables = self.lock();
        Ok(tables
            .subscriptions
            .iter()
            .find(|s| s.token_hash == token_hash)
            .cloned())
    }

    async fn subscription_by_upstream_id(
        &self,
        upstream_id: u64,
    ) -> Result<Option<Subscription>, StorageError> {
        let tables = self.lock();
        Ok(tables
            .subscriptions
            .iter()
            .find(|s| s.upstream_id == Some(upstream_id))
            .cloned())
    }

    async fn subscriptions(&self) -> Result<Vec<Subscription>, StorageError> {
        Ok(self.lock().subscriptions.clone())
    }

    async fn insert_event(&self, new: &NewEvent) -> Result<i64, StorageError> {
        Ok(push_event(&mut self.lock(), new))
    }

    async fn insert_events(&self, new: &[NewEvent]) -> Result<Vec<i64>, StorageError> {
        let mut tables = self.lock();
        Ok(new
            .iter()
            .map(|event| push_event(&mut tables, event))
            .collect())
    }

    async fn claim_due(
        &self,
        now: UnixMillis,
        claim_until: UnixMillis,
        limit: u32,
    ) -> Result<Vec<DueEvent>, StorageError> {
        let mut guard = self.lock();
        let tables = &mut *guard;
        let mut claimed = Vec::new();
        for (event, claim) in &mut tables.events {
            if claimed.len() >= limit as usize {
                break;
            }
            let due = event.status == EventStatus::Pending
                && event.next_attempt_at <= now
                && claim.is_none_or(|until| until <= now);
            let subscription = tables
                .subscriptions
                .iter()
                .find(|s| s.id == event.subscription_id);
            let Some(subscription) =
                subscription.filter(|s| s.state != SubscriptionState::Disabled)
            else {
                continue;
            };
            if due {
                *claim = Some(claim_until);
                claimed.push(DueEvent {
                    id: event.id,
                    uid: event.uid.clone(),
                    subscription_id: event.subscription_id,
                    target_url: subscription.target_url.clone(),
                    payload: event.payload.clone(),
                    attempts: event.attempts,
                });
            }
        }
        Ok(claimed)
    }

    async fn next_due(&self) -> Result<Option<UnixMillis>, StorageError> {
        let tables = self.lock();
        Ok(tables
            .events
            .iter()
            .filter(|(event, _)| event.status == EventStatus::Pending)
            .filter(|(event, _)| !is_disabled(&tables, event.subscription_id))
            .map(|(event, claim)| event.next_attempt_at.max(claim.unwrap_or(UnixMillis(0))))
            .min())
    }

    async fn release_claims(&self) -> Result<(), StorageError> {
        for (_, claim) in &mut self.lock().events {
            *claim = None;
        }
        Ok(())
    }

    async fn record_attempt(
        &self,
        attempt: &AttemptRecord,
        outcome: &AttemptOutcome,
    ) -> Result<(), StorageError> {
        let mut tables = self.lock();
        tables.attempts.push(attempt.clone());
        let mut disabled = None;
        if let Some((event, claim)) = tables
            .events
            .iter_mut()
            .find(|(event, _)| event.id == attempt.event_id)
        {
            event.attempts += 1;
            *claim = None;
            event.last_error =
                (*outcome != AttemptOutcome::Delivered).then(|| attempt.reason.clone());
            match outcome {
                AttemptOutcome::Delivered => event.status = EventStatus::Delivered,
                AttemptOutcome::Retry { next_attempt_at } => {
                    event.next_attempt_at = *next_attempt_at
                }
                AttemptOutcome::Dead => event.status = EventStatus::Dead,
                AttemptOutcome::Gone => {
                    event.status = EventStatus::Dead;
                    disabled = Some(event.subscription_id);
                }
            }
        }
        if let Some(subscription_id) = disabled {
            for subscription in tables
                .subscriptions
                .iter_mut()
                .filter(|s| s.id == subscription_id)
            {
                subscription.state = SubscriptionState::Disabled;
                subscription.disabled_reason = Some("the target returned 410 Gone".to_owned());
            }
            for (event, _) in tables.events.iter_mut().filter(|(event, _)| {
                event.subscription_id == subscription_id && event.status == EventStatus::Pending
            }) {
                event.status = EventStatus::Dead;
            }
        }
        Ok(())
    }

    async fn events(
        &self,
        filter: EventFilter,
        limit: u32,
    ) -> Result<Vec<EventSummary>, StorageError> {
        let tables = self.lock();
        Ok(tables
            .events
            .iter()
            .rev()
            .map(|(event, _)| event)
            .filter(|event| match filter {
                EventFilter::All => true,
                EventFilter::Failing => event.status == EventStatus::Pending && event.attempts > 0,
                EventFilter::Dead => event.status == EventStatus::Dead,
            })
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn attempts(&self, event_id: i64) -> Result<Vec<AttemptRecord>, StorageError> {
        let tables = self.lock();
        Ok(tables
            .attempts
            .iter()
            .filter(|attempt| attempt.event_id == event_id)
            .cloned()
            .collect())
    }

    async fn replay(&self, event_id: i64, now: UnixMillis) -> Result<bool, StorageError> {
        let mut tables = self.lock();
        let Some((event, claim)) = tables
            .events
            .iter_mut()
            .find(|(event, _)| event.id == event_id)
        else {
            return Ok(false);
        };
        reset(event, claim, now);
        Ok(true)
    }

    async fn replay_dead(&self, now: UnixMillis) -> Result<u64, StorageError> {
        let mut tables = self.lock();
        let mut count = 0;
        for (event, claim) in &mut tables.events {
            if event.status == EventStatus::Dead {
                reset(event, claim, now);
                count += 1;
            }
        }
        Ok(count)
    }

    async fn event_counts(&self) -> Result<EventCounts, StorageError> {
        let tables = self.lock();
        let mut counts = EventCounts::default();
        for (event, _) in &tables.events {
            match event.status {
                EventStatus::Pending => counts.pending += 1,
                EventStatus::Dead => counts.dead += 1,
                EventStatus::Delivered => {}
            }
        }
        Ok(counts)
    }

    async fn record_double_ship(&self, record: &DoubleShipRecord) -> Result<(), StorageError> {
        self.lock()
            .double_ship
            .insert(record.connect_order_id, record.clone());
        Ok(())
    }

    async fn double_ship(
        &self,
        connect_order_id: u64,
    ) -> Result<Option<DoubleShipRecord>, StorageError> {
        Ok(self.lock().double_ship.get(&connect_order_id).cloned())
    }

    async fn cursor(&self, name: &str) -> Result<Option<String>, StorageError> {
        Ok(self.lock().cursors.get(name).cloned())
    }

    async fn set_cursor(&self, name: &str, value: &str) -> Result<(), StorageError> {
        self.lock()
            .cursors
            .insert(name.to_owned(), value.to_owned());
        Ok(())
    }
}

/// Appends a pending event and returns its ID.
fn push_event(tables: &mut Tables, new: &NewEvent) -> i64 {
    let id = tables.events.last().map_or(1, |(last, _)| last.id + 1);
    let event = EventSummary {
        id,
        uid: new.uid.clone(),
        subscription_id: new.subscription_id,
        resource_type: new.resource_type.clone(),
        payload: new.payload.clone(),
        status: EventStatus::Pending,
        attempts: 0,
        received_at: new.received_at,
        next_attempt_at: new.received_at,
        last_error: None,
    };
    tables.events.push((event, None));
    id
}

fn reset(event: &mut EventSummary, claim: &mut Option<UnixMillis>, now: UnixMillis) {
    event.status = EventStatus::Pending;
    event.attempts = 0;
    event.next_attempt_at = now;
    *claim = None;
}
