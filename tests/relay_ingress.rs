//! The relay ingress over TLS: what it rejects, and that an accepted event reaches the
//! subscriber rewritten.

mod common;
mod relay_support;

use std::time::Duration;

use bytes::Bytes;
use common::{Harness, HarnessOptions, RelayOptions, CONNECT, LEGACY};
use http::{Method, StatusCode};
use relay_support::{Answer, Receiver};
use storebridge::config::Mode;
use storebridge::relay::token::IngressToken;
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
    let mut receiver = Receiver::start(
        Some(harness.server_tls.clone()),
        vec![],
        Answer::Status(200),
    )
    .await;
    let token = subscribe_directly(&harness, &receiver.url, Mode::Mirror).await;
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
