//! The group-commit writer on a real SQLite file: events queued together share one
//! transaction, a failed transaction fails every event in it, and stopping commits what was
//! queued and rejects the rest.
//!
//! Events are queued before the writer runs, so each test decides which events form the
//! first batch without waiting on time.

use std::sync::Arc;

use storebridge::config::Mode;
use storebridge::storage::group_commit::{CommitError, EventWriter, PendingCommit};
use storebridge::storage::sqlite::SqliteStorage;
use storebridge::storage::{
    EventFilter, NewEvent, NewSubscription, SharedStorage, Storage, UnixMillis,
};

async fn open_store(folder: &tempfile::TempDir) -> (SharedStorage, i64) {
    let storage = SqliteStorage::open(folder.path())
        .await
        .expect("open store");
    let subscription = storage
        .insert_subscription(&NewSubscription {
            token_hash: "hash".to_owned(),
            target_url: "https://receiver.example/hook".to_owned(),
            event: "ORDER_NOTIFY".to_owned(),
            store_id: Some(12345),
            upstream_store_id: Some(7654321),
            friendly_name: None,
            mode: Mode::Mirror,
            created_at: UnixMillis(0),
        })
        .await
        .expect("insert subscription");
    (Arc::new(storage), subscription)
}

fn event(uid: &str, subscription_id: i64) -> NewEvent {
    NewEvent {
        uid: uid.to_owned(),
        subscription_id,
        resource_type: "ORDER_NOTIFY".to_owned(),
        received_body: "{}".to_owned(),
        payload: format!("{{\"uid\":\"{uid}\"}}"),
        received_at: UnixMillis(1_000),
    }
}

/// Queues one event per uid, in order, and returns their pending commits.
async fn enqueue_all(
    writer: &EventWriter,
    uids: &[&str],
    subscription_id: i64,
) -> Vec<PendingCommit> {
    let mut pending = Vec::new();
    for uid in uids {
        let ticket = writer
            .enqueue(event(uid, subscription_id))
            .await
            .expect("enqueue");
        pending.push(ticket);
    }
    pending
}

/// Returns the stored events as (ID, uid), oldest first.
async fn stored(storage: &SharedStorage) -> Vec<(i64, String)> {
    let mut events: Vec<(i64, String)> = storage
        .events(EventFilter::All, 1_000)
        .await
        .expect("list events")
        .into_iter()
        .map(|event| (event.id, event.uid))
        .collect();
    events.sort();
    events
}

#[tokio::test]
async fn queued_events_get_their_own_ids() {
    let folder = tempfile::tempdir().expect("folder");
    let (storage, subscription) = open_store(&folder).await;
    let writer = EventWriter::new(storage.clone());

    let uids = ["event-0", "event-1", "event-2", "event-3", "event-4"];
    let pending = enqueue_all(&writer, &uids, subscription).await;
    tokio::spawn(writer.clone().run(std::future::pending()));

    let mut acknowledged = Vec::new();
    for (uid, ticket) in uids.into_iter().zip(pending) {
        let id = ticket.committed().await.expect("committed");
        acknowledged.push((id, uid.to_owned()));
    }
    assert_eq!(stored(&storage).await, acknowledged);
    let ids: Vec<i64> = acknowledged.iter().map(|(id, _)| *id).collect();
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "IDs follow the queue order: {ids:?}"
    );

    // The running writer takes an event that arrives later, alone.
    let late = writer
        .insert(event("late", subscription))
        .await
        .expect("late event");
    assert!(stored(&storage).await.contains(&(late, "late".to_owned())));
}

#[tokio::test]
async fn failed_batch_fails_every_event() {
    let folder = tempfile::tempdir().expect("folder");
    let (storage, subscription) = open_store(&folder).await;
    let writer = EventWriter::new(storage.clone());

    // The third event repeats the first one's uid, which the schema keeps unique, so the
    // transaction of the batch fails after two rows were inserted.
    let pending = enqueue_all(
        &writer,
        &["first", "second", "first", "fourth"],
        subscription,
    )
    .await;
    tokio::spawn(writer.clone().run(std::future::pending()));

    for (index, ticket) in pending.into_iter().enumerate() {
        let result = ticket.committed().await;
        assert!(
            matches!(result, Err(CommitError::Failed(_))),
            "event {index} of the failed batch: {result:?}"
        );
    }
    assert!(
        stored(&storage).await.is_empty(),
        "the rolled-back batch left no row"
    );

    // The writer keeps going after a failed transaction.
    let id = writer
        .insert(event("after", subscription))
        .await
        .expect("event after the failure");
    assert_eq!(stored(&storage).await, vec![(id, "after".to_owned())]);
}

#[tokio::test]
async fn stop_commits_queue_then_rejects() {
    let folder = tempfile::tempdir().expect("folder");
    let (storage, subscription) = open_store(&folder).await;
    let writer = EventWriter::new(storage.clone());

    let pending = enqueue_all(&writer, &["a", "b", "c"], subscription).await;
    // The submitters are already done when the writer starts, so it commits the queue
    // and returns.
    writer.clone().run(std::future::ready(())).await;

    for ticket in pending {
        ticket.committed().await.expect("queued before the stop");
    }
    assert_eq!(stored(&storage).await.len(), 3);
    let rejected = writer.enqueue(event("d", subscription)).await;
    assert!(matches!(rejected, Err(CommitError::Stopped)));

    // A second run finds no queue and returns at once.
    writer.clone().run(std::future::pending()).await;
    assert_eq!(stored(&storage).await.len(), 3);
}

#[tokio::test]
async fn dropped_writer_reports_stopped() {
    let folder = tempfile::tempdir().expect("folder");
    let (storage, subscription) = open_store(&folder).await;
    let writer = EventWriter::new(storage.clone());

    let ticket = writer
        .enqueue(event("never", subscription))
        .await
        .expect("enqueue");
    drop(writer);

    let result = ticket.committed().await;
    assert!(matches!(result, Err(CommitError::Stopped)), "{result:?}");
    assert!(stored(&storage).await.is_empty());
}
