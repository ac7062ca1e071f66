//! The delivery worker on tokio's paused clock: retries follow the schedule and
//! `Retry-After`, 410 disables, exhaustion dead-letters, and replay delivers again. The
//! receiver is real (TLS on port 0); the store is the in-memory one, because a paused clock
//! and sqlx's SQLite thread do not mix.

mod relay_support;

use std::sync::Arc;
use std::time::Duration;

use relay_support::{Answer, Receiver};
use storebridge::config::Mode;
use storebridge::relay::clock::Clock;
use storebridge::relay::delivery::{Deliverer, DeliverySettings};
use storebridge::relay::signing::SigningSecret;
use storebridge::storage::memory::MemoryStorage;
use storebridge::storage::{
    EventFilter, EventStatus, NewEvent, NewSubscription, SharedStorage, SubscriptionState,
};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A bound on waits for something that must happen. Paused time makes it cost nothing.
const SOON: Duration = Duration::from_secs(10);

struct Setup {
    storage: SharedStorage,
    deliverer: Deliverer,
    clock: Clock,
    receiver: Receiver,
    subscription_id: i64,
    _folder: tempfile::TempDir,
}

async fn setup(schedule: &[u64], queued: Vec<Answer>, fallback: Answer) -> Setup {
    let folder = tempfile::tempdir().expect("folder");
    let certs = storebridge::certs::write_dev_certs(folder.path(), &[]).expect("certs");
    let tls = storebridge::tls::server_config(&certs.server_cert, &certs.server_key).expect("tls");
    let receiver = Receiver::start(Some(tls), queued, fallback).await;

    let storage: SharedStorage = Arc::new(MemoryStorage::default());
    let clock = Clock::new();
    let subscription_id = storage
        .insert_subscription(&NewSubscription {
            token_hash: "hash".to_owned(),
            target_url: receiver.url.clone(),
            event: "ORDER_NOTIFY".to_owned(),
            store_id: None,
            upstream_store_id: None,
            friendly_name: None,
            mode: Mode::Mirror,
            created_at: clock.now(),
        })
        .await
        .expect("subscription");
    storage
        .activate_subscription(subscription_id, 1)
        .await
        .expect("activate");

    let settings = DeliverySettings {
        retry_schedule: schedule.iter().copied().map(Duration::from_secs).collect(),
        delivery_timeout: Duration::from_secs(15),
        max_concurrent: 4,
        signing_secret: Some(SECRET.parse().expect("secret")),
        allow_private_targets: true,
        ca_file: Some(certs.ca_cert.clone()),
    };
    let metrics = std::sync::Arc::new(storebridge::metrics::Metrics::new());
    let deliverer = Deliverer::new(storage.clone(), settings, clock, metrics).expect("deliverer");
    tokio::spawn(deliverer.clone().run(std::future::pending()));
    Setup {
        storage,
        deliverer,
        clock,
        receiver,
        subscription_id,
        _folder: folder,
    }
}

impl Setup {
    async fn send_event(&self, uid: &str) -> i64 {
        let id = self
            .storage
            .insert_event(&NewEvent {
                uid: uid.to_owned(),
                subscription_id: self.subscription_id,
                resource_type: "ORDER_NOTIFY".to_owned(),
                received_body: "{}".to_owned(),
                payload: format!(r#"{{"resource_url":"https://h/orders?e={uid}","resource_type":"ORDER_NOTIFY"}}"#),
                received_at: self.clock.now(),
            })
            .await
            .expect("event");
        self.deliverer.wake();
        id
    }

    async fn status_of(&self, event_id: i64) -> EventStatus {
        let events = self
            .storage
            .events(EventFilter::All, 100)
            .await
            .expect("events");
        events
            .iter()
            .find(|e| e.id == event_id)
            .expect("event")
            .status
    }
}

#[tokio::test(start_paused = true)]
async fn retries_follow_schedule_until_success() {
    let queued = vec![
        Answer::Status(500),
        Answer::RetryAfter(429, 60),
        Answer::Status(503),
    ];
    let mut setup = setup(&[5, 30, 120], queued, Answer::Status(200)).await;
    let event_id = setup.send_event("first").await;

    let first = setup.receiver.next(SOON).await;
    // The first retry comes 5 s ± 10 % later, never before 4.5 s.
    setup
        .receiver
        .expect_quiet(Duration::from_millis(4_400))
        .await;
    let second = setup.receiver.next(Duration::from_secs(2)).await;
    // Retry-After: 60 outweighs the scheduled 30 s.
    setup.receiver.expect_quiet(Duration::from_secs(59)).await;
    let third = setup.receiver.next(Duration::from_secs(2)).await;
    // The third retry comes 120 s ± 10 % later.
    setup.receiver.expect_quiet(Duration::from_secs(107)).await;
    let fourth = setup.receiver.next(Duration::from_secs(30)).await;

    let ids: Vec<&str> = [&first, &second, &third, &fourth]
        .iter()
        .map(|r| r.header("webhook-id"))
        .collect();
    assert_eq!(ids, vec!["msg_first"; 4]);
    for received in [&first, &second, &third, &fourth] {
        let secret: SigningSecret = SECRET.parse().expect("secret");
        let timestamp: i64 = received
            .header("webhook-timestamp")
            .parse()
            .expect("timestamp");
        let expected = secret.sign("msg_first", timestamp, &received.body);
        assert_eq!(received.header("webhook-signature"), expected);
        assert_eq!(received.header("content-type"), "application/json");
    }

    // Nothing more arrives once delivered, and every attempt is on record.
    setup
        .receiver
        .expect_quiet(Duration::from_secs(3_600))
        .await;
    assert_eq!(setup.status_of(event_id).await, EventStatus::Delivered);
    let attempts = setup.storage.attempts(event_id).await.expect("attempts");
    let statuses: Vec<Option<u16>> = attempts.iter().map(|a| a.status_code).collect();
    assert_eq!(statuses, vec![Some(500), Some(429), Some(503), Some(200)]);
}

#[tokio::test(start_paused = true)]
async fn gone_disables_subscription() {
    let mut setup = setup(&[5], vec![], Answer::Status(410)).await;
    let event_id = setup.send_event("gone").await;
    setup.receiver.next(SOON).await;
    setup
        .receiver
        .expect_quiet(Duration::from_secs(3_600))
        .await;

    assert_eq!(setup.status_of(event_id).await, EventStatus::Dead);
    let subscriptions = setup.storage.subscriptions().await.expect("subscriptions");
    assert_eq!(subscriptions[0].state, SubscriptionState::Disabled);

    // Later events of a disabled subscription are not sent.
    setup.send_event("later").await;
    setup
        .receiver
        .expect_quiet(Duration::from_secs(3_600))
        .await;
}

#[tokio::test(start_paused = true)]
async fn exhaustion_dead_letters_then_replay() {
    let mut setup = setup(&[1, 2], vec![], Answer::Status(500)).await;
    let event_id = setup.send_event("tired").await;
    for _ in 0..3 {
        let received = setup.receiver.next(SOON).await;
        assert_eq!(received.header("webhook-id"), "msg_tired");
    }
    setup
        .receiver
        .expect_quiet(Duration::from_secs(3_600))
        .await;
    assert_eq!(setup.status_of(event_id).await, EventStatus::Dead);
    let dead = setup
        .storage
        .events(EventFilter::Dead, 10)
        .await
        .expect("dead");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 3);

    // Replay sends the dead letter again, with the same webhook-id.
    setup.receiver.set_fallback(Answer::Status(204));
    let replayed = setup
        .storage
        .replay_dead(setup.clock.now())
        .await
        .expect("replay");
    assert_eq!(replayed, 1);
    setup.deliverer.wake();
    let again = setup.receiver.next(SOON).await;
    assert_eq!(again.header("webhook-id"), "msg_tired");
    setup.receiver.expect_quiet(Duration::from_secs(60)).await;
    assert_eq!(setup.status_of(event_id).await, EventStatus::Delivered);
    assert_eq!(
        setup
            .storage
            .attempts(event_id)
            .await
            .expect("attempts")
            .len(),
        4
    );
}
