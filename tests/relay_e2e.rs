//! The relay end to end: subscribing through storebridge, the sandbox firing ORDER_NOTIFY
//! and SHIP_NOTIFY at the ingress, the receiver getting rewritten, signed events and
//! fetching `resource_url` through storebridge, and the subscription's removal.

mod common;
mod relay_support;

use std::time::Duration;

use common::{Harness, HarnessOptions, RelayOptions, CONNECT, LEGACY};
use http::{Method, StatusCode};
use relay_support::{verify_with_standardwebhooks, Answer, Receiver};
use serde_json::{json, Value};
use storebridge::config::Mode;
use storebridge::storage::Storage;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const EVENT_TIMEOUT: Duration = Duration::from_secs(30);

fn order_body(order_key: &str) -> Value {
    json!({
        "orderNumber": format!("T-{order_key}"),
        "orderKey": order_key,
        "orderDate": "2026-11-04 10:30:00",
        "orderStatus": "awaiting_shipment",
        "billTo": { "name": "Test Buyer" },
        "shipTo": {
            "name": "Test Buyer", "street1": "1 Main St", "city": "Austin",
            "state": "TX", "postalCode": "78701", "country": "US"
        },
        "items": [{ "sku": "SKU-1", "name": "Widget", "quantity": 1, "unitPrice": 5.0 }],
        "advancedOptions": { "storeId": LEGACY }
    })
}

async fn relay_harness(relay: RelayOptions) -> Harness {
    Harness::start_with(HarnessOptions {
        relay: Some(relay),
        ..HarnessOptions::default()
    })
    .await
}

/// Checks that neither storebridge nor the sandbox has a subscription.
async fn assert_no_subscriptions(harness: &Harness) {
    let storage = harness.storage.as_ref().expect("store");
    let local = storage.subscriptions().await.expect("subscriptions");
    assert!(local.is_empty(), "{local:?}");
    let upstream = harness.direct(Method::GET, "/webhooks", None).await.json();
    assert_eq!(upstream["webhooks"], json!([]));
}

async fn subscribe(harness: &Harness, target: &str, event: &str) -> u64 {
    let body =
        json!({ "target_url": target, "event": event, "store_id": LEGACY, "friendly_name": event });
    let reply = harness
        .post(Mode::Mirror, "/webhooks/subscribe", &body.to_string())
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.json()["id"].as_u64().expect("webhook id")
}

#[tokio::test]
async fn sandbox_events_reach_receiver_rewritten() {
    let harness = relay_harness(RelayOptions {
        signing_secret: Some(SECRET.to_owned()),
        ..RelayOptions::default()
    })
    .await;
    let mut receiver = Receiver::start(
        Some(harness.server_tls.clone()),
        vec![],
        Answer::Status(200),
    )
    .await;
    let ingress = harness.ingress_url.clone().expect("ingress");

    let order_hook = subscribe(&harness, &receiver.url, "ORDER_NOTIFY").await;
    let ship_hook = subscribe(&harness, &receiver.url, "SHIP_NOTIFY").await;

    // ShipStation stores the ingress URL and the connect store, and the client sees its own.
    let upstream = harness.direct(Method::GET, "/webhooks", None).await.json();
    for hook in upstream["webhooks"].as_array().expect("hooks") {
        let url = hook["Url"].as_str().expect("url");
        assert!(url.starts_with(&format!("{ingress}/hooks/")), "{url}");
        assert_eq!(hook["StoreID"], json!(CONNECT));
    }
    let listed = harness.get(Mode::Mirror, "/webhooks").await.json();
    let hooks = listed["webhooks"].as_array().expect("hooks");
    assert_eq!(hooks.len(), 2);
    for hook in hooks {
        assert_eq!(hook["Url"], json!(receiver.url));
        assert_eq!(hook["StoreID"], json!(LEGACY));
    }

    // ORDER_NOTIFY: a new paid order in the (translated) store.
    let created = harness
        .post(
            Mode::Mirror,
            "/orders/createorder",
            &order_body("relay-1").to_string(),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text());
    let order_event = receiver.next(EVENT_TIMEOUT).await;
    let payload = order_event.json();
    assert_eq!(payload["resource_type"], json!("ORDER_NOTIFY"));
    let resource_url = payload["resource_url"]
        .as_str()
        .expect("resource_url")
        .to_owned();
    let expected_prefix = format!(
        "{}/orders?storeID={LEGACY}&importBatch=",
        harness.mirror_url
    );
    assert!(resource_url.starts_with(&expected_prefix), "{resource_url}");

    // The signature verifies with an implementation that is not ours.
    let verified = verify_with_standardwebhooks(SECRET, &order_event);
    let verified: Value = serde_json::from_str(&verified).expect("verified payload");
    assert_eq!(verified, payload);

    // The follow-up GET passes through storebridge and shows legacy IDs.
    let fetched = harness
        .client
        .send(Method::GET, &resource_url, None, &[])
        .await;
    assert_eq!(fetched.status, StatusCode::OK, "{}", fetched.text());
    let orders = fetched.json();
    assert_eq!(orders["total"], json!(1));
    assert_eq!(orders["orders"][0]["orderKey"], json!("relay-1"));
    assert_eq!(
        orders["orders"][0]["advancedOptions"]["storeId"],
        json!(LEGACY)
    );
    assert!(
        !fetched.text().contains(&CONNECT.to_string()),
        "{}",
        fetched.text()
    );

    // SHIP_NOTIFY: a label for that order.
    let order_id = orders["orders"][0]["orderId"].as_u64().expect("order id");
    let label = json!({
        "orderId": order_id, "carrierCode": "stamps_com", "serviceCode": "usps_priority_mail",
        "packageCode": "package", "shipDate": "2026-12-04", "testLabel": false
    });
    let labelled = harness
        .post(
            Mode::Mirror,
            "/orders/createlabelfororder",
            &label.to_string(),
        )
        .await;
    assert_eq!(labelled.status, StatusCode::OK, "{}", labelled.text());
    let ship_event = receiver.next(EVENT_TIMEOUT).await;
    let ship_payload = ship_event.json();
    assert_eq!(ship_payload["resource_type"], json!("SHIP_NOTIFY"));
    let ship_url = ship_payload["resource_url"].as_str().expect("resource_url");
    assert!(
        ship_url.starts_with(&format!(
            "{}/shipments?storeID={LEGACY}&batchId=",
            harness.mirror_url
        )),
        "{ship_url}"
    );
    assert_ne!(
        ship_event.header("webhook-id"),
        order_event.header("webhook-id")
    );
    verify_with_standardwebhooks(SECRET, &ship_event);
    let shipments = harness.client.send(Method::GET, ship_url, None, &[]).await;
    assert_eq!(shipments.status, StatusCode::OK);
    assert_eq!(
        shipments.json()["shipments"][0]["advancedOptions"]["storeId"],
        json!(LEGACY)
    );

    // Unsubscribing removes both sides.
    for hook in [order_hook, ship_hook] {
        let deleted = harness
            .client
            .send(
                Method::DELETE,
                &format!("{}/webhooks/{hook}", harness.mirror_url),
                None,
                &[],
            )
            .await;
        assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text());
    }
    assert_no_subscriptions(&harness).await;
}

#[tokio::test]
async fn private_targets_rejected_at_subscribe() {
    let harness = relay_harness(RelayOptions {
        allow_private_targets: false,
        ..RelayOptions::default()
    })
    .await;
    let cases = [
        ("https://127.0.0.1:9/hook", "loopback"),
        ("https://localhost:9/hook", "loopback"),
        ("https://[::1]/hook", "loopback"),
        ("https://10.0.0.5/hook", "private"),
        ("https://192.168.1.20/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://[fe80::1]/hook", "link-local"),
        ("https://[fd12:3456::1]/hook", "unique-local"),
        ("https://224.0.0.251/hook", "multicast"),
        ("https://0.0.0.0/hook", "unspecified"),
    ];
    for (target, class) in cases {
        let body = json!({ "target_url": target, "event": "ORDER_NOTIFY" });
        let reply = harness
            .post(Mode::Mirror, "/webhooks/subscribe", &body.to_string())
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{target}: {}",
            reply.text()
        );
        let json = reply.json();
        assert_eq!(json["code"], json!("target_rejected"), "{target}");
        let message = json["message"].as_str().expect("message");
        assert!(
            message.contains(&format!("in the {class} address range")),
            "{target}: {message}"
        );
    }
    assert_no_subscriptions(&harness).await;
}

#[tokio::test]
async fn failed_upstream_subscribe_leaves_nothing() {
    let harness = relay_harness(RelayOptions::default()).await;
    let body = json!({ "target_url": "https://127.0.0.1:9/hook", "event": "NOT_AN_EVENT" });
    let reply = harness
        .post(Mode::Mirror, "/webhooks/subscribe", &body.to_string())
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    assert_no_subscriptions(&harness).await;
}
