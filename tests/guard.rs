//! The double-ship guard in the proxy. A Miva Connect order recorded by `migrate scan` as
//! already shipped from the legacy store gets 409 on label and mark-as-shipped calls,
//! unless the caller overrides; other orders pass.

mod common;

use common::{Harness, HarnessOptions, LEGACY};
use http::{Method, StatusCode};
use storebridge::config::Mode;
use storebridge::storage::sqlite::SqliteStorage;
use storebridge::storage::{DoubleShipRecord, Storage, UnixMillis};

async fn create_order(harness: &Harness, key: &str) -> u64 {
    let body = format!(
        r#"{{"orderNumber":"G-{key}","orderKey":"{key}","orderDate":"2026-12-01T09:30:00.0000000","orderStatus":"awaiting_shipment","billTo":{{"name":"Ann Buyer"}},"shipTo":{{"name":"Ann Buyer","street1":"1 Main St","city":"Austin","state":"TX","postalCode":"78701","country":"US"}},"advancedOptions":{{"storeId":{LEGACY}}}}}"#
    );
    let reply = harness
        .post(Mode::Mirror, "/orders/createorder", &body)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.json()["orderId"].as_u64().expect("orderId")
}

fn label_body(order_id: u64) -> String {
    format!(
        r#"{{"orderId":{order_id},"carrierCode":"stamps_com","serviceCode":"usps_priority_mail","packageCode":"package","shipDate":"2026-12-04","testLabel":false}}"#
    )
}

#[tokio::test]
async fn guard_refuses_overrides_and_passes_others() {
    let harness = Harness::start_with(HarnessOptions {
        double_ship_guard: true,
        admin: true,
        ..HarnessOptions::default()
    })
    .await;
    let shipped_before = create_order(&harness, "guard-shipped").await;
    let fresh = create_order(&harness, "guard-fresh").await;

    // What `migrate scan` would have recorded for the first order.
    let storage = SqliteStorage::open(&harness.folder.join("data"))
        .await
        .expect("store");
    storage
        .record_double_ship(&DoubleShipRecord {
            connect_order_id: shipped_before,
            connect_store_id: common::CONNECT,
            order_number: "G-guard-shipped".to_owned(),
            legacy_order_id: 555,
            legacy_ship_date: Some("2026-11-30".to_owned()),
            tracking_number: Some("9400100000000000000001".to_owned()),
            recorded_at: UnixMillis(0),
        })
        .await
        .expect("record");

    // Refused on both calls, and nothing reaches ShipStation.
    harness.take_requests();
    let refused = harness
        .post(
            Mode::Mirror,
            "/orders/createlabelfororder",
            &label_body(shipped_before),
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text());
    let body = refused.json();
    assert_eq!(body["code"], "already_shipped");
    let message = body["message"].as_str().expect("message");
    for expected in [
        "G-guard-shipped",
        "2026-11-30",
        "9400100000000000000001",
        "X-Storebridge-Allow-Reship: true",
    ] {
        assert!(
            message.contains(expected),
            "{expected} missing from: {message}"
        );
    }
    assert!(refused.headers.contains_key("x-rate-limit-remaining"));
    let mark = format!(
        r#"{{"orderId":"{shipped_before}","carrierCode":"usps","shipDate":"2026-12-04","trackingNumber":"1Z"}}"#
    );
    let refused_mark = harness
        .post(Mode::Translate, "/orders/markasshipped", &mark)
        .await;
    assert_eq!(
        refused_mark.status,
        StatusCode::CONFLICT,
        "{}",
        refused_mark.text()
    );

    // Neither a compressed body nor a trailing slash gets past the guard.
    let compressed = {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder
            .write_all(label_body(shipped_before).as_bytes())
            .expect("gzip");
        encoder.finish().expect("gzip")
    };
    let gzipped = harness
        .client
        .send(
            Method::POST,
            &format!("{}/orders/createlabelfororder", harness.mirror_url),
            Some(compressed.into()),
            &[
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
        )
        .await;
    assert_eq!(gzipped.status, StatusCode::CONFLICT, "{}", gzipped.text());
    let slashed = harness
        .post(
            Mode::Mirror,
            "/orders/createlabelfororder/",
            &label_body(shipped_before),
        )
        .await;
    assert_eq!(slashed.status, StatusCode::CONFLICT, "{}", slashed.text());
    assert!(
        harness.take_requests().is_empty(),
        "refused calls never reach ShipStation"
    );

    // Another order passes.
    let other = harness
        .post(
            Mode::Mirror,
            "/orders/createlabelfororder",
            &label_body(fresh),
        )
        .await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.text());

    // The override lets the recorded order through, without the header reaching upstream.
    harness.take_requests();
    let overridden = harness
        .client
        .send(
            Method::POST,
            &format!("{}/orders/createlabelfororder", harness.mirror_url),
            Some(label_body(shipped_before).into()),
            &[
                ("content-type", "application/json"),
                ("x-storebridge-allow-reship", "true"),
            ],
        )
        .await;
    assert_eq!(overridden.status, StatusCode::OK, "{}", overridden.text());
    let seen = harness.take_requests();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].header("x-storebridge-allow-reship").is_none());

    // Refusals and overrides are counted.
    let admin = harness.admin_url.as_deref().expect("admin");
    let metrics = harness
        .client
        .send(Method::GET, &format!("{admin}/metrics"), None, &[])
        .await
        .text();
    assert!(
        metrics.contains("storebridge_guard_refusals_total 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("storebridge_guard_overrides_total 1"),
        "{metrics}"
    );
}
