//! The relay ingress over TLS: what it rejects, that an accepted event reaches the
//! subscriber rewritten, and that under concurrent load each 200 means exactly one stored
//! event, also when commits fail.

mod common;
mod relay_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use common::{Harness, HarnessOptions, RelayOptions, CONNECT, LEGACY};
use http::{Method, StatusCode};
use relay_support::{Answer, Receiver};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use storebridge::config::Mode;
use storebridge::relay::token::IngressToken;
use storebridge::storage::sqlite::DATABASE_FILE;
use storebridge::storage::{EventFilter, NewSubscription, Storage, UnixMillis};

async fn relay_harness() -> Harness {
    Harness::start_with(HarnessOptions {
        relay: Some(RelayOptions::default()),
        ..HarnessOptions::default()
    })
    .await
}

/// Stores a subscription for `target` straight in the harness's database.
async fn subscribe_directly(harness: &Harness, target: &str, mode: Mode) -> IngressToken {
    let storage = harness.storage.as_ref().expect("store");
    let token = IngressToken::generate();
    let id = storage
        .insert_subscription(&NewSubscription {
            token_hash: token.hash(),
            target_url: target.to_owned(),
            event: "ORDER_NOTIFY".to_owned(),
            store_id: Some(LEGACY),
            upstream_store_id: Some(CONNECT),
            friendly_name: None,
            mode,
            created_at: UnixMillis(0),
        })
        .await
        .expect("insert");
    storage
        .activate_subscription(id, 77)
        .await
        .expect("activate");
    token
}

/// Starts a receiver that responds with 200 and subscribes it, in mirror mode, to the harness.
async fn subscribed_receiver(harness: &Harness) -> (Receiver, IngressToken) {
    let receiver = Receiver::start(
        Some(harness.server_tls.clone()),
        vec![],
        Answer::Status(200),
    )
    .await;
    let token = subscribe_directly(harness, &receiver.url, Mode::Mirror).await;
    (receiver, token)
}

async fn post_ingress(
    harness: &Harness,
    method: Method,
    path: &str,
    body: Vec<u8>,
) -> common::Reply {
    let url = format!("{}{path}", harness.ingress_url.as_deref().expect("ingress"));
    harness
        .client
        .send(
            method,
            &url,
            Some(Bytes::from(body)),
            &[("content-type", "application/json")],
        )
        .await
}

#[tokio::test]
async fn ingress_rejects_bad_requests() {
    let harness = relay_harness().await;
    let token = subscribe_directly(&harness, "https://127.0.0.1:9/unused", Mode::Mirror).await;
    let good_path = format!("/hooks/{}", token.expose());
    let body = br#"{"resource_url":"https://ssapi.shipstation.com/orders?storeID=7654321","resource_type":"ORDER_NOTIFY"}"#;

    let unknown = post_ingress(
        &harness,
        Method::POST,
        &format!("/hooks/{}", IngressToken::generate().expose()),
        body.to_vec(),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(
        unknown.body.is_empty(),
        "404 has no detail: {}",
        unknown.text()
    );
    let short = post_ingress(&harness, Method::POST, "/hooks/abc", body.to_vec()).await;
    assert_eq!(short.status, StatusCode::NOT_FOUND);
    let other_path = post_ingress(&harness, Method::POST, "/webhooks", body.to_vec()).await;
    assert_eq!(other_path.status, StatusCode::NOT_FOUND);

    let get = post_ingress(&harness, Method::GET, &good_path, Vec::new()).await;
    assert_eq!(get.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(get.headers.get("allow").expect("allow"), "POST");

    let oversized = post_ingress(
        &harness,
        Method::POST,
        &good_path,
        vec![b' '; 64 * 1024 + 1],
    )
    .await;
    assert_eq!(oversized.status, StatusCode::PAYLOAD_TOO_LARGE);

    for malformed in [
        &b"not json"[..],
        br#"{"resource_url":"x"}"#,
        b"[1,2]",
        br#"{"resource_url":5,"resource_type":"ORDER_NOTIFY"}"#,
    ] {
        let reply = post_ingress(&harness, Method::POST, &good_path, malformed.to_vec()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{}",
            String::from_utf8_lossy(malformed)
        );
        assert_eq!(reply.json()["code"], "not_a_webhook");
    }

    let storage = harness.storage.as_ref().expect("store");
    let stored = storage.events(EventFilter::All, 10).await.expect("events");
    assert!(stored.is_empty(), "rejected requests store nothing");
}

#[tokio::test]
async fn accepted_event_reaches_receiver_rewritten() {
    let harness = relay_harness().await;
    let (mut receiver, token) = subscribed_receiver(&harness).await;
    let body = br#"{"resource_url":"https://ssapi4.shipstation.com/orders?storeID=7654321&importBatch=abc","resource_type":"ORDER_NOTIFY"}"#;

    let reply = post_ingress(
        &harness,
        Method::POST,
        &format!("/hooks/{}", token.expose()),
        body.to_vec(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);

    let received = receiver.next(Duration::from_secs(30)).await;
    let json = received.json();
    assert_eq!(
        json["resource_url"],
        format!(
            "{}/orders?storeID=12345&importBatch=abc",
            harness.mirror_url
        )
    );
    assert_eq!(json["resource_type"], "ORDER_NOTIFY");
    assert!(received.header("webhook-id").starts_with("msg_"));
    assert!(
        received.header("webhook-signature").is_empty(),
        "no secret, no signature"
    );
}

#[tokio::test]
async fn relay_admin_endpoints_and_metrics() {
    let harness = Harness::start_with(HarnessOptions {
        relay: Some(RelayOptions::default()),
        admin: true,
        ..HarnessOptions::default()
    })
    .await;
    let admin = harness.admin_url.clone().expect("admin listener");
    // The receiver holds every answer until released, so the event stays pending.
    let mut receiver =
        Receiver::start(Some(harness.server_tls.clone()), vec![], Answer::Hold).await;
    let target = format!("{}?secret-query=abc", receiver.url);
    let token = subscribe_directly(&harness, &target, Mode::Mirror).await;
    let body = br#"{"resource_url":"https://ssapi.shipstation.com/orders?storeID=7654321","resource_type":"ORDER_NOTIFY"}"#;
    let accepted = post_ingress(
        &harness,
        Method::POST,
        &format!("/hooks/{}", token.expose()),
        body.to_vec(),
    )
    .await;
    assert_eq!(accepted.status, StatusCode::OK);
    let first = receiver.next(Duration::from_secs(10)).await;
    let webhook_id = first.header("webhook-id").to_owned();

    // Metrics: the accepted event, and the queue as the store sees it while the answer is held.
    let metrics = harness
        .client
        .send(Method::GET, &format!("{admin}/metrics"), None, &[])
        .await
        .text();
    assert_eq!(
        common::metric(&metrics, "storebridge_webhook_events_accepted_total", &[]),
        1.0,
        "{metrics}"
    );
    assert_eq!(
        common::metric(&metrics, "storebridge_webhook_queue_depth", &[]),
        1.0,
        "{metrics}"
    );
    assert_eq!(
        common::metric(&metrics, "storebridge_webhook_dead_letters", &[]),
        0.0,
        "{metrics}"
    );

    // Subscriptions are listed without the target's query.
    let subscriptions = harness
        .client
        .send(
            Method::GET,
            &format!("{admin}/admin/relay/subscriptions"),
            None,
            &[],
        )
        .await;
    assert_eq!(subscriptions.status, StatusCode::OK);
    let listed = subscriptions.json()["subscriptions"][0].clone();
    assert_eq!(listed["target_url"], format!("{}?...", receiver.url));
    assert!(
        !subscriptions.text().contains("secret-query"),
        "{}",
        subscriptions.text()
    );
    assert!(
        !subscriptions.text().contains(token.expose()),
        "the ingress token is never shown"
    );

    // Deliveries name the event by the webhook-id subscribers see.
    let deliveries = harness
        .client
        .send(
            Method::GET,
            &format!("{admin}/admin/relay/deliveries"),
            None,
            &[],
        )
        .await;
    assert_eq!(deliveries.status, StatusCode::OK);
    let event = deliveries.json()["deliveries"][0].clone();
    assert_eq!(event["webhook_id"], webhook_id);
    let bad_filter = harness
        .client
        .send(
            Method::GET,
            &format!("{admin}/admin/relay/deliveries?status=sideways"),
            None,
            &[],
        )
        .await;
    assert_eq!(bad_filter.status, StatusCode::BAD_REQUEST);

    // Let the held attempt succeed, then replay the event: it arrives again with its ID.
    receiver.set_fallback(Answer::Status(200));
    receiver.release();
    let event_id = event["id"].as_i64().expect("event id");
    let unknown = harness
        .client
        .send(
            Method::POST,
            &format!("{admin}/admin/relay/replay/999999"),
            None,
            &[],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let reply = harness
        .client
        .send(
            Method::POST,
            &format!("{admin}/admin/relay/replay/{event_id}"),
            None,
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["replayed"], 1);
    let again = receiver.next(Duration::from_secs(10)).await;
    assert_eq!(
        again.header("webhook-id"),
        webhook_id,
        "the replayed event keeps its webhook-id"
    );
}

/// Builds a V1 body whose `importBatch` names the request, so that a stored or delivered
/// event can be traced back to its request.
fn named_body(name: &str) -> Vec<u8> {
    format!(
        r#"{{"resource_url":"https://ssapi.shipstation.com/orders?storeID=7654321&importBatch={name}","resource_type":"ORDER_NOTIFY"}}"#
    )
    .into_bytes()
}

/// Returns the `importBatch` value in `text`, a body or a URL.
fn import_batch(text: &str) -> Option<String> {
    let rest = text.split("importBatch=").nth(1)?;
    rest.split(['"', '&']).next().map(str::to_owned)
}

/// Posts one [`named_body`] per name to `path` over `connections` TLS connections at once,
/// each connection sending its share one after another. Returns each name's status.
async fn post_concurrently(
    harness: &Harness,
    path: &str,
    names: &[String],
    connections: usize,
) -> BTreeMap<String, StatusCode> {
    let url = format!("{}{path}", harness.ingress_url.as_deref().expect("ingress"));
    let mut tasks = tokio::task::JoinSet::new();
    for connection in 0..connections {
        let share: Vec<String> = names
            .iter()
            .skip(connection)
            .step_by(connections)
            .cloned()
            .collect();
        // A client per task, so that each task has its own connection.
        let client = common::TestClient::new(&harness.ca_file, String::new());
        let url = url.clone();
        tasks.spawn(async move {
            let mut statuses = Vec::new();
            for name in share {
                let reply = client
                    .send(
                        Method::POST,
                        &url,
                        Some(Bytes::from(named_body(&name))),
                        &[("content-type", "application/json")],
                    )
                    .await;
                statuses.push((name, reply.status));
            }
            statuses
        });
    }
    let mut statuses = BTreeMap::new();
    while let Some(joined) = tasks.join_next().await {
        statuses.extend(joined.expect("posting task"));
    }
    statuses
}

/// Returns the `importBatch` of every stored event, one entry per event.
async fn stored_batches(harness: &Harness) -> Vec<String> {
    let storage = harness.storage.as_ref().expect("store");
    storage
        .events(EventFilter::All, 10_000)
        .await
        .expect("events")
        .iter()
        .map(|event| import_batch(&event.payload).expect("stored payload names its batch"))
        .collect()
}

/// Runs `sql` on the relay's database over a connection of the test's own.
async fn execute_sql(harness: &Harness, sql: &str) {
    let mut connection = SqliteConnectOptions::new()
        .filename(harness.data_dir.join(DATABASE_FILE))
        .busy_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("open the relay database");
    sqlx::query(sql)
        .execute(&mut connection)
        .await
        .expect("run SQL");
    connection.close().await.expect("close the connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_events_stored_once_and_delivered() {
    let harness = relay_harness().await;
    let (mut receiver, token) = subscribed_receiver(&harness).await;
    let names: Vec<String> = (0..256).map(|index| format!("batch-{index:03}")).collect();

    let statuses =
        post_concurrently(&harness, &format!("/hooks/{}", token.expose()), &names, 32).await;
    assert_eq!(statuses.len(), names.len());
    for (name, status) in &statuses {
        assert_eq!(*status, StatusCode::OK, "{name}");
    }

    // Every acknowledged request is stored exactly once, under its own webhook-id.
    let mut stored = stored_batches(&harness).await;
    stored.sort();
    assert_eq!(stored, names);
    let storage = harness.storage.as_ref().expect("store");
    let uids: BTreeSet<String> = storage
        .events(EventFilter::All, 10_000)
        .await
        .expect("events")
        .into_iter()
        .map(|event| event.uid)
        .collect();
    assert_eq!(uids.len(), names.len());

    // The worker was woken for them: each event reaches the receiver.
    let expected: BTreeSet<String> = names.iter().cloned().collect();
    let mut delivered = BTreeSet::new();
    while delivered.len() < expected.len() {
        let received = receiver.next(Duration::from_secs(30)).await;
        let url = received.json()["resource_url"]
            .as_str()
            .expect("resource_url")
            .to_owned();
        let name = import_batch(&url).expect("delivered URL names its batch");
        assert!(expected.contains(&name), "unexpected delivery {url}");
        delivered.insert(name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_commits_return_503_store_nothing() {
    let harness = relay_harness().await;
    let token = subscribe_directly(&harness, "https://127.0.0.1:9/unused", Mode::Mirror).await;
    let path = format!("/hooks/{}", token.expose());
    execute_sql(
        &harness,
        "CREATE TRIGGER reject_events BEFORE INSERT ON relay_events \
         BEGIN SELECT RAISE(ABORT, 'rejected by the test'); END",
    )
    .await;

    let names: Vec<String> = (0..64).map(|index| format!("failing-{index:02}")).collect();
    let statuses = post_concurrently(&harness, &path, &names, 32).await;
    assert_eq!(statuses.len(), names.len());
    for (name, status) in &statuses {
        assert_eq!(*status, StatusCode::SERVICE_UNAVAILABLE, "{name}");
    }
    assert!(stored_batches(&harness).await.is_empty());
    let reply = post_ingress(&harness, Method::POST, &path, named_body("failing-again")).await;
    assert_eq!(reply.json()["code"], "storage_unavailable");

    // Once the database accepts rows again, so does the ingress.
    execute_sql(&harness, "DROP TRIGGER reject_events").await;
    let reply = post_ingress(&harness, Method::POST, &path, named_body("recovered")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(stored_batches(&harness).await, vec!["recovered".to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partly_failed_load_acknowledges_only_stored_events() {
    let harness = relay_harness().await;
    let token = subscribe_directly(&harness, "https://127.0.0.1:9/unused", Mode::Mirror).await;
    // The poisoned event fails its transaction, and with it the events that share it.
    execute_sql(
        &harness,
        "CREATE TRIGGER reject_poison BEFORE INSERT ON relay_events \
         WHEN NEW.received_body LIKE '%importBatch=poison%' \
         BEGIN SELECT RAISE(ABORT, 'rejected by the test'); END",
    )
    .await;
    let mut names: Vec<String> = (0..127).map(|index| format!("load-{index:03}")).collect();
    names.insert(40, "poison".to_owned());

    let statuses =
        post_concurrently(&harness, &format!("/hooks/{}", token.expose()), &names, 32).await;
    assert_eq!(statuses.len(), names.len());
    assert_eq!(statuses["poison"], StatusCode::SERVICE_UNAVAILABLE);
    for (name, status) in &statuses {
        assert!(
            *status == StatusCode::OK || *status == StatusCode::SERVICE_UNAVAILABLE,
            "{name}: {status}"
        );
    }

    // A 200 means stored, and a 503 means not stored.
    let acknowledged: Vec<String> = statuses
        .iter()
        .filter(|(_, status)| **status == StatusCode::OK)
        .map(|(name, _)| name.clone())
        .collect();
    let mut stored = stored_batches(&harness).await;
    stored.sort();
    assert_eq!(stored, acknowledged);
}
