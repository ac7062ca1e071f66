//! The embedded store: both implementations follow the same rules, and the SQLite one keeps
//! what it acknowledged across a reopen.

use std::collections::HashSet;
use std::sync::Arc;

use storebridge::config::Mode;
use storebridge::storage::memory::MemoryStorage;
use storebridge::storage::sqlite::SqliteStorage;
use storebridge::storage::{
    AttemptOutcome, AttemptRecord, EventFilter, EventStatus, NewEvent, NewSubscription, Storage,
    SubscriptionState, UnixMillis,
};

fn subscription(token_hash: &str) -> NewSubscription {
    NewSubscription {
        token_hash: token_hash.to_owned(),
        target_url: "https://receiver.example/hook".to_owned(),
        event: "ORDER_NOTIFY".to_owned(),
        store_id: Some(12345),
        upstream_store_id: Some(7654321),
        friendly_name: Some("orders".to_owned()),
        mode: Mode::Mirror,
        created_at: UnixMillis(1_000),
    }
}

fn event(uid: &str, subscription_id: i64, at: i64) -> NewEvent {
    NewEvent {
        uid: uid.to_owned(),
        subscription_id,
        resource_type: "ORDER_NOTIFY".to_owned(),
        received_body: "{}".to_owned(),
        payload: format!("{{\"n\":\"{uid}\"}}"),
        received_at: UnixMillis(at),
    }
}

fn attempt(event_id: i64, status: Option<u16>) -> AttemptRecord {
    AttemptRecord {
        event_id,
        attempted_at: UnixMillis(2_000),
        status_code: status,
        latency_ms: 3,
        reason: "test".to_owned(),
    }
}

/// The rules every implementation must follow.
async fn check_rules(storage: &dyn Storage) {
    let id = storage
        .insert_subscription(&subscription("hash-a"))
        .await
        .expect("insert");
    let found = storage
        .subscription_by_token("hash-a")
        .await
        .expect("query")
        .expect("found");
    assert_eq!(found.state, SubscriptionState::Pending);
    assert_eq!(found.store_id, Some(12345));
    storage
        .activate_subscription(id, 99)
        .await
        .expect("activate");
    let active = storage
        .subscription_by_upstream_id(99)
        .await
        .expect("query")
        .expect("found");
    assert_eq!(active.state, SubscriptionState::Active);
    assert_eq!(active.mode, Mode::Mirror);

    let first = storage
        .insert_event(&event("e1", id, 10))
        .await
        .expect("e1");
    let second = storage
        .insert_event(&event("e2", id, 20))
        .await
        .expect("e2");

    // Oldest first, and a claimed event is not handed out twice.
    let claimed = storage
        .claim_due(UnixMillis(100), UnixMillis(500), 1)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, first);
    assert_eq!(claimed[0].target_url, "https://receiver.example/hook");
    let next = storage
        .claim_due(UnixMillis(100), UnixMillis(500), 10)
        .await
        .expect("claim");
    assert_eq!(next.iter().map(|e| e.id).collect::<Vec<_>>(), vec![second]);

    // A retry is not due before its time.
    storage
        .record_attempt(
            &attempt(first, Some(500)),
            &AttemptOutcome::Retry {
                next_attempt_at: UnixMillis(5_000),
            },
        )
        .await
        .expect("record");
    assert_eq!(
        storage.next_due().await.expect("next"),
        Some(UnixMillis(500))
    );
    storage.release_claims().await.expect("release");
    let due = storage
        .claim_due(UnixMillis(1_000), UnixMillis(2_000), 10)
        .await
        .expect("claim");
    assert_eq!(due.iter().map(|e| e.id).collect::<Vec<_>>(), vec![second]);
    let failing = storage
        .events(EventFilter::Failing, 10)
        .await
        .expect("list");
    assert_eq!(failing.len(), 1);
    assert_eq!(failing[0].attempts, 1);

    // 410 disables the subscription and dead-letters its pending events.
    storage
        .record_attempt(&attempt(second, Some(410)), &AttemptOutcome::Gone)
        .await
        .expect("record");
    let dead = storage.events(EventFilter::Dead, 10).await.expect("dead");
    assert_eq!(dead.len(), 2);
    let disabled = storage
        .subscription_by_token("hash-a")
        .await
        .expect("query")
        .expect("found");
    assert_eq!(disabled.state, SubscriptionState::Disabled);
    assert_eq!(storage.next_due().await.expect("next"), None);

    // Replay makes dead letters pending again, and attempts stay recorded.
    assert_eq!(
        storage
            .replay_dead(UnixMillis(9_000))
            .await
            .expect("replay"),
        2
    );
    let all = storage.events(EventFilter::All, 10).await.expect("all");
    assert!(all.iter().all(|e| e.status == EventStatus::Pending));
    assert_eq!(storage.attempts(first).await.expect("attempts").len(), 1);
    assert!(!storage.replay(12_345, UnixMillis(0)).await.expect("replay"));

    // A batch gets one new ID per event, in the order given.
    let batch = storage
        .insert_events(&[
            event("b1", id, 30),
            event("b2", id, 30),
            event("b3", id, 30),
        ])
        .await
        .expect("batch");
    assert_eq!(batch.len(), 3);
    assert!(batch.windows(2).all(|pair| pair[0] < pair[1]), "{batch:?}");
    let listed = storage.events(EventFilter::All, 10).await.expect("all");
    assert_eq!(listed.len(), 5);
    for (uid, batch_id) in ["b1", "b2", "b3"].into_iter().zip(&batch) {
        assert!(
            listed.iter().any(|e| e.id == *batch_id && e.uid == uid),
            "{uid} stored as {batch_id}"
        );
    }

    assert!(storage.delete_subscription(id).await.expect("delete"));
    assert!(storage
        .events(EventFilter::All, 10)
        .await
        .expect("all")
        .is_empty());
}

#[tokio::test]
async fn memory_storage_follows_rules() {
    check_rules(&MemoryStorage::default()).await;
}

#[tokio::test]
async fn sqlite_storage_follows_rules() {
    let folder = tempfile::tempdir().expect("folder");
    let storage = SqliteStorage::open(folder.path()).await.expect("open");
    check_rules(&storage).await;
}

#[tokio::test]
async fn sqlite_keeps_events_across_reopen() {
    let folder = tempfile::tempdir().expect("folder");
    let data_dir = folder.path().join("nested/data");
    {
        let storage = SqliteStorage::open(&data_dir).await.expect("open");
        let id = storage
            .insert_subscription(&subscription("hash-b"))
            .await
            .expect("insert");
        storage
            .insert_event(&event("kept", id, 10))
            .await
            .expect("event");
        storage
            .claim_due(UnixMillis(10), UnixMillis(99_999), 10)
            .await
            .expect("claim");
    }
    let storage = SqliteStorage::open(&data_dir).await.expect("reopen");
    storage.release_claims().await.expect("release");
    let due = storage
        .claim_due(UnixMillis(10), UnixMillis(20), 10)
        .await
        .expect("claim");
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].uid, "kept");
    assert_eq!(due[0].payload, "{\"n\":\"kept\"}");
}

/// Inserting tasks in the test below, and the batches and events each inserts. The events
/// are inserted in batches, as the ingress's group commit does.
const INSERTERS: usize = 4;
const BATCHES: usize = 50;
const BATCH_EVENTS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_claims_during_concurrent_inserts() {
    let folder = tempfile::tempdir().expect("folder");
    let storage = Arc::new(SqliteStorage::open(folder.path()).await.expect("open"));
    let subscription_id = storage
        .insert_subscription(&subscription("hash-load"))
        .await
        .expect("subscription");
    storage
        .activate_subscription(subscription_id, 7)
        .await
        .expect("activate");

    let mut inserters = Vec::new();
    for worker in 0..INSERTERS {
        let storage = Arc::clone(&storage);
        inserters.push(tokio::spawn(async move {
            for batch in 0..BATCHES {
                let events: Vec<NewEvent> = (0..BATCH_EVENTS)
                    .map(|n| event(&format!("w{worker}-b{batch}-e{n}"), subscription_id, 10))
                    .collect();
                storage.insert_events(&events).await.expect("insert batch");
            }
        }));
    }

    // Claim and record as the delivery worker does, while the inserts commit between the
    // claim's read and its write. Every claim must succeed rather than fail as locked.
    let mut claimed = HashSet::new();
    let mut claims = 0_usize;
    loop {
        let inserts_done = inserters.iter().all(|handle| handle.is_finished());
        let due = storage
            .claim_due(UnixMillis(1_000), UnixMillis(1_000_000), 16)
            .await
            .unwrap_or_else(|error| panic!("claim {claims} failed: {error:?}"));
        claims += 1;
        for event in &due {
            assert!(claimed.insert(event.id), "event {} claimed twice", event.id);
            storage
                .record_attempt(&attempt(event.id, Some(200)), &AttemptOutcome::Delivered)
                .await
                .unwrap_or_else(|error| panic!("recording event {} failed: {error:?}", event.id));
        }
        // Stop only after a claim that started when every insert had committed.
        if due.is_empty() && inserts_done {
            break;
        }
    }
    for inserter in inserters {
        inserter.await.expect("inserter task");
    }

    assert_eq!(claimed.len(), INSERTERS * BATCHES * BATCH_EVENTS);
    let counts = storage.event_counts().await.expect("counts");
    assert_eq!(counts.pending, 0);
    assert_eq!(counts.dead, 0);
}
