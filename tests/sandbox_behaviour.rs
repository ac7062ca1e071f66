//! Behaviour of the sandbox over real TLS on loopback: auth, rate limit, orders, stores,
//! gzip, errors, request recording and webhook delivery.

mod sandbox_support;

use std::io::{Read, Write};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use serde_json::{json, Value};
use storebridge::sandbox::{SandboxOptions, WebhookDelivery};
use tokio::sync::broadcast;

use sandbox_support::{order_body, Harness, Receiver};

const LEGACY: u64 = 12_345;
const CONNECT: u64 = 7_654_321;
const MANUAL: u64 = 200_001;

/// Bound on waiting for an event that should happen at once; reaching it fails the test.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

async fn next_delivery(receiver: &mut broadcast::Receiver<WebhookDelivery>) -> WebhookDelivery {
    tokio::time::timeout(EVENT_TIMEOUT, receiver.recv())
        .await
        .expect("no webhook delivery within the timeout")
        .unwrap()
}

#[tokio::test]
async fn auth_missing_or_wrong_is_401() {
    let harness = Harness::default().await;

    let anonymous = Request::get(format!("{}/stores", harness.base_url))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let reply = harness.send(anonymous).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.json(), json!({ "message": "Unauthorized" }));
    assert_eq!(
        reply.header("www-authenticate"),
        Some(r#"Basic realm="ShipStation""#)
    );

    // "sandbox-key:wrong" in Base64.
    let wrong = Request::get(format!("{}/stores", harness.base_url))
        .header("authorization", "Basic c2FuZGJveC1rZXk6d3Jvbmc=")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(harness.send(wrong).await.status, StatusCode::UNAUTHORIZED);

    let good = harness.get("/stores").await;
    assert_eq!(good.status, StatusCode::OK);

    let recorded = harness.sandbox.requests();
    let flags: Vec<bool> = recorded.iter().map(|request| request.authorized).collect();
    assert_eq!(flags, vec![false, false, true]);
    for request in &recorded {
        assert!(request.header("authorization").is_none());
    }
}

#[tokio::test]
async fn rate_limit_returns_429_with_headers() {
    let harness = Harness::default().await;
    harness.sandbox.set_rate_limit(3);

    for expected_remaining in ["2", "1", "0"] {
        let reply = harness.get("/stores").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.header("x-rate-limit-limit"), Some("3"));
        assert_eq!(
            reply.header("x-rate-limit-remaining"),
            Some(expected_remaining)
        );
    }

    let limited = harness.get("/stores").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.json(), json!({ "message": "Too Many Requests" }));
    assert_eq!(limited.header("x-rate-limit-limit"), Some("3"));
    assert_eq!(limited.header("x-rate-limit-remaining"), Some("0"));
    let reset: u64 = limited
        .header("x-rate-limit-reset")
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&reset), "reset {reset}");

    harness.sandbox.reset_rate_limit_window();
    let after_reset = harness.get("/stores").await;
    assert_eq!(after_reset.status, StatusCode::OK);
    assert_eq!(after_reset.header("x-rate-limit-remaining"), Some("2"));
}

#[tokio::test]
async fn default_rate_limit_is_40() {
    let harness = Harness::default().await;
    let reply = harness.get("/stores").await;
    assert_eq!(reply.header("x-rate-limit-limit"), Some("40"));
    assert_eq!(reply.header("x-rate-limit-remaining"), Some("39"));
}

#[tokio::test]
async fn createorder_store_fixed_at_creation() {
    let harness = Harness::default().await;

    let created = harness
        .post(
            "/orders/createorder",
            &order_body("upsert-1", "awaiting_shipment", Some(CONNECT)),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK);
    let created = created.json();
    assert_eq!(created["advancedOptions"]["storeId"], json!(CONNECT));
    assert_eq!(created["orderStatus"], json!("awaiting_shipment"));

    let mut update = order_body("upsert-1", "on_hold", Some(LEGACY));
    update["internalNotes"] = json!("updated");
    let updated = harness.post("/orders/createorder", &update).await;
    assert_eq!(updated.status, StatusCode::OK);
    let updated = updated.json();
    assert_eq!(updated["orderId"], created["orderId"]);
    assert_eq!(updated["advancedOptions"]["storeId"], json!(CONNECT));
    assert_eq!(updated["orderStatus"], json!("on_hold"));
    assert_eq!(updated["internalNotes"], json!("updated"));

    let listed = harness
        .get(&format!("/orders?storeID={CONNECT}&orderNumber=T-upsert"))
        .await
        .json();
    assert_eq!(listed["total"], json!(1));
    assert_eq!(listed["orders"][0]["orderId"], created["orderId"]);

    let fetched = harness
        .get(&format!("/orders/{}", created["orderId"]))
        .await
        .json();
    assert_eq!(fetched["orderKey"], json!("upsert-1"));
}

#[tokio::test]
async fn createorder_without_store_uses_manual() {
    let harness = Harness::default().await;
    let created = harness
        .post(
            "/orders/createorder",
            &order_body("manual-1", "awaiting_payment", None),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK);
    assert_eq!(created.json()["advancedOptions"]["storeId"], json!(MANUAL));
}

#[tokio::test]
async fn createorder_missing_fields_is_400() {
    let harness = Harness::default().await;
    let reply = harness
        .post("/orders/createorder", &json!({ "orderKey": "x" }))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let body = reply.json();
    assert_eq!(body["Message"], json!("The request is invalid."));
    assert_eq!(
        body["ModelState"]["apiOrder.orderNumber"],
        json!(["The orderNumber field is required."])
    );
    assert!(body["ModelState"]["apiOrder.shipTo"].is_array());

    let broken = Request::post(format!("{}/orders/createorder", harness.base_url))
        .header("authorization", harness.sandbox.basic_auth_header())
        .body(Full::new(Bytes::from_static(b"{not json")))
        .unwrap();
    let reply = harness.send(broken).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.json()["ModelState"]["apiOrder"].is_array());
}

#[tokio::test]
async fn shipped_order_update_is_rejected() {
    let harness = Harness::default().await;
    let reply = harness
        .post(
            "/orders/createorder",
            &order_body("mv-12345-A", "awaiting_shipment", None),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let order = harness.get("/orders?orderNumber=12345-A").await.json();
    assert_eq!(order["orders"][0]["orderStatus"], json!("shipped"));
}

#[tokio::test]
async fn createorders_array_and_object() {
    let harness = Harness::default().await;

    let batch = json!([
        order_body("batch-1", "awaiting_shipment", Some(CONNECT)),
        { "orderKey": "batch-bad", "orderNumber": "BAD" }
    ]);
    let reply = harness.post("/orders/createorders", &batch).await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!(body["hasErrors"], json!(true));
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["success"], json!(true));
    assert_eq!(results[0]["orderKey"], json!("batch-1"));
    assert!(results[0]["orderId"].as_u64().unwrap() > 0);
    assert_eq!(results[1]["success"], json!(false));
    assert!(results[1]["errorMessage"]
        .as_str()
        .unwrap()
        .contains("orderDate"));

    let object = harness
        .post(
            "/orders/createorders",
            &order_body("batch-2", "awaiting_shipment", None),
        )
        .await;
    assert_eq!(object.status, StatusCode::BAD_REQUEST);
    let body = object.json();
    assert_eq!(body["Message"], json!("The request is invalid."));
    assert!(
        body["ModelState"]["apiOrders.orderNumber"].is_array(),
        "{body}"
    );

    let too_many: Vec<Value> = (0..101)
        .map(|index| order_body(&format!("many-{index}"), "awaiting_payment", None))
        .collect();
    let reply = harness
        .post("/orders/createorders", &Value::Array(too_many))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn order_filters_and_paging() {
    let harness = Harness::default().await;

    let legacy = harness
        .get(&format!("/orders?storeId={LEGACY}"))
        .await
        .json();
    assert_eq!(legacy["total"], json!(3));
    for order in legacy["orders"].as_array().unwrap() {
        assert_eq!(order["advancedOptions"]["storeId"], json!(LEGACY));
    }

    let upper = harness
        .get(&format!("/orders?STOREID={CONNECT}&orderStatus=on_hold"))
        .await
        .json();
    assert_eq!(upper["total"], json!(1));

    let paged = harness.get("/orders?pageSize=2&page=3").await.json();
    assert_eq!(paged["total"], json!(5));
    assert_eq!(paged["pages"], json!(3));
    assert_eq!(paged["page"], json!(3));
    assert_eq!(paged["orders"].as_array().unwrap().len(), 1);

    let stamp = paged["orders"][0]["createDate"].as_str().unwrap();
    assert_eq!(stamp.len(), "2015-06-29T13:05:13.4930000".len(), "{stamp}");
}

#[tokio::test]
async fn stores_list_and_activation() {
    let harness = Harness::default().await;

    let active = harness.get("/stores").await.json();
    let ids: Vec<u64> = active
        .as_array()
        .unwrap()
        .iter()
        .map(|store| store["storeId"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![CONNECT, MANUAL]);

    let all = harness.get("/stores?showInactive=true").await.json();
    let legacy = all
        .as_array()
        .unwrap()
        .iter()
        .find(|store| store["storeId"] == json!(LEGACY))
        .unwrap();
    assert_eq!(legacy["marketplaceName"], json!("Miva Merchant"));
    assert_eq!(legacy["active"], json!(false));
    assert_eq!(
        legacy["createDate"].as_str().unwrap().len(),
        "2014-11-06T15:21:13.223".len()
    );

    let reactivated = harness
        .post(
            "/stores/reactivate",
            &json!({ "storeId": LEGACY.to_string() }),
        )
        .await;
    assert_eq!(reactivated.status, StatusCode::OK);
    assert_eq!(
        reactivated.json(),
        json!({ "success": "true", "message": "The requested store has been reactivated." })
    );
    let deactivated = harness
        .post("/stores/deactivate", &json!({ "storeId": CONNECT }))
        .await
        .json();
    assert_eq!(
        deactivated["message"],
        json!("The requested store has been deactivated.")
    );
    let active = harness.get("/stores").await.json();
    let ids: Vec<u64> = active
        .as_array()
        .unwrap()
        .iter()
        .map(|store| store["storeId"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![LEGACY, MANUAL]);

    let refresh = harness
        .post(
            &format!("/stores/refreshstore?storeId={LEGACY}"),
            &json!({}),
        )
        .await
        .json();
    assert_eq!(
        refresh["message"],
        json!(format!(
            "A store refresh has been initiated for Store ID {LEGACY}"
        ))
    );

    let unknown = harness
        .post("/stores/deactivate", &json!({ "storeId": 999 }))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn store_put_requires_matching_ids() {
    let harness = Harness::default().await;
    let mut store = harness.get(&format!("/stores/{CONNECT}")).await.json();
    store["storeName"] = json!("Renamed");

    let mismatch = harness
        .call(Method::PUT, &format!("/stores/{LEGACY}"), Some(&store))
        .await;
    assert_eq!(mismatch.status, StatusCode::BAD_REQUEST);
    assert!(mismatch.json()["ModelState"]["store.storeId"].is_array());

    let updated = harness
        .call(Method::PUT, &format!("/stores/{CONNECT}"), Some(&store))
        .await;
    assert_eq!(updated.status, StatusCode::OK);
    assert_eq!(updated.json()["storeName"], json!("Renamed"));
    assert!(updated.json()["statusMappings"].is_array());
}

#[tokio::test]
async fn gzip_response_and_request() {
    let harness = Harness::default().await;

    let request = Request::get(format!("{}/orders", harness.base_url))
        .header("authorization", harness.sandbox.basic_auth_header())
        .header("accept-encoding", "gzip")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let reply = harness.send(request).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-encoding"), Some("gzip"));
    assert_eq!(reply.header("vary"), Some("Accept-Encoding"));
    assert_eq!(
        reply.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let mut text = String::new();
    flate2::read::GzDecoder::new(&reply.body[..])
        .read_to_string(&mut text)
        .unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["total"], json!(5));

    let plain = harness.get("/orders").await;
    assert_eq!(plain.header("content-encoding"), None);

    let order =
        serde_json::to_vec(&order_body("gzipped", "awaiting_payment", Some(CONNECT))).unwrap();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&order).unwrap();
    let compressed = encoder.finish().unwrap();
    harness.sandbox.clear_requests();
    let request = Request::post(format!("{}/orders/createorder", harness.base_url))
        .header("authorization", harness.sandbox.basic_auth_header())
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(Full::new(Bytes::from(compressed)))
        .unwrap();
    let reply = harness.send(request).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["orderKey"], json!("gzipped"));
    let recorded = harness.sandbox.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].body, order);
}

#[tokio::test]
async fn unknown_route_and_wrong_method() {
    let harness = Harness::default().await;

    let missing = harness.get("/nothing/here?x=1").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let expected = format!(
        "No HTTP resource was found that matches the request URI '{}/nothing/here?x=1'.",
        harness.base_url
    );
    assert_eq!(missing.json()["Message"], json!(expected));

    let wrong = harness.call(Method::DELETE, "/stores", None).await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong.header("allow"), Some("GET"));
    assert!(wrong.json()["Message"]
        .as_str()
        .unwrap()
        .contains("'DELETE'"));
}

#[tokio::test]
async fn requests_are_recorded_with_allowed_headers() {
    let harness = Harness::default().await;
    let request = Request::get(format!("{}/orders?storeID={CONNECT}", harness.base_url))
        .header("authorization", harness.sandbox.basic_auth_header())
        .header("via", "1.1 storebridge")
        .header("x-partner", "partner-key")
        .header("cookie", "secret=1")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(harness.send(request).await.status, StatusCode::OK);

    let recorded = harness.sandbox.requests();
    assert_eq!(recorded.len(), 1);
    let request = &recorded[0];
    assert_eq!(request.method, "GET");
    assert_eq!(request.path_and_query, format!("/orders?storeID={CONNECT}"));
    assert!(request.authorized);
    assert_eq!(request.header("via"), Some("1.1 storebridge"));
    assert_eq!(request.header("x-partner"), Some("partner-key"));
    assert!(request.header("host").is_some());
    assert!(request.header("cookie").is_none());
    assert!(request.header("authorization").is_none());

    harness.sandbox.clear_requests();
    assert!(harness.sandbox.requests().is_empty());
}

#[tokio::test]
async fn order_notify_reaches_https_receiver() {
    let harness = Harness::default().await;
    let mut receiver = Receiver::start(harness.server_tls.clone()).await;
    let mut deliveries = harness.sandbox.deliveries();

    for (path, store_id) in [
        ("connect", json!(CONNECT)),
        ("legacy", json!(LEGACY.to_string())),
    ] {
        let subscribed = harness
            .post(
                "/webhooks/subscribe",
                &json!({
                    "target_url": format!("{}/{path}", receiver.base_url),
                    "event": "ORDER_NOTIFY",
                    "store_id": store_id,
                    "friendly_name": path
                }),
            )
            .await;
        assert_eq!(subscribed.status, StatusCode::OK);
        assert!(subscribed.json()["id"].as_u64().is_some());
    }
    let hooks = harness.get("/webhooks").await.json();
    assert_eq!(hooks["webhooks"][1]["StoreID"], json!(LEGACY));

    // Unpaid orders do not notify; the paid one in the Connect store does.
    let unpaid = harness
        .post(
            "/orders/createorder",
            &order_body("hook-0", "awaiting_payment", Some(CONNECT)),
        )
        .await;
    assert_eq!(unpaid.status, StatusCode::OK);
    let created = harness
        .post(
            "/orders/createorder",
            &order_body("hook-1", "awaiting_shipment", Some(CONNECT)),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK);

    let delivery = next_delivery(&mut deliveries).await;
    assert_eq!(delivery.status, Some(200), "{delivery:?}");
    assert_eq!(
        delivery.target_url,
        format!("{}/connect", receiver.base_url)
    );

    let received = tokio::time::timeout(EVENT_TIMEOUT, receiver.received.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(received.path, "/connect");
    assert_eq!(received.body["resource_type"], json!("ORDER_NOTIFY"));
    let resource_url = received.body["resource_url"].as_str().unwrap();
    let prefix = format!("{}/orders?storeID={CONNECT}&importBatch=", harness.base_url);
    assert!(resource_url.starts_with(&prefix), "{resource_url}");

    // The resource URL lists exactly the order of that import.
    let path = resource_url.strip_prefix(&harness.base_url).unwrap();
    let listed = harness.get(path).await.json();
    assert_eq!(listed["total"], json!(1));
    assert_eq!(listed["orders"][0]["orderKey"], json!("hook-1"));

    // Paying the unpaid order notifies too.
    let paid = harness
        .post(
            "/orders/createorder",
            &order_body("hook-0", "awaiting_shipment", None),
        )
        .await;
    assert_eq!(paid.status, StatusCode::OK);
    let delivery = next_delivery(&mut deliveries).await;
    assert!(
        delivery.body.contains(&format!("storeID={CONNECT}")),
        "{}",
        delivery.body
    );
}

#[tokio::test]
async fn label_sends_ship_notify() {
    let harness = Harness::default().await;
    let mut receiver = Receiver::start(harness.server_tls.clone()).await;
    let mut deliveries = harness.sandbox.deliveries();
    let subscribed = harness
        .post(
            "/webhooks/subscribe",
            &json!({ "target_url": format!("{}/ship", receiver.base_url), "event": "SHIP_NOTIFY" }),
        )
        .await;
    assert_eq!(subscribed.status, StatusCode::OK);

    let order = harness
        .get(&format!(
            "/orders?storeId={CONNECT}&orderStatus=awaiting_shipment"
        ))
        .await
        .json();
    let order_id = order["orders"][0]["orderId"].as_u64().unwrap();
    let label = harness
        .post(
            "/orders/createlabelfororder",
            &json!({
                "orderId": order_id,
                "carrierCode": "stamps_com",
                "serviceCode": "usps_priority_mail",
                "packageCode": "package",
                "shipDate": "2026-12-04",
                "testLabel": false
            }),
        )
        .await;
    assert_eq!(label.status, StatusCode::OK);
    let label = label.json();
    assert_eq!(label["orderId"], json!(order_id));
    assert_eq!(label["shipDate"], json!("2026-12-04"));
    assert!(label["trackingNumber"].as_str().unwrap().len() >= 20);
    assert!(label["labelData"].as_str().unwrap().starts_with("JVBERi0"));

    let delivery = next_delivery(&mut deliveries).await;
    assert_eq!(delivery.status, Some(200), "{delivery:?}");
    let received = tokio::time::timeout(EVENT_TIMEOUT, receiver.received.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(received.body["resource_type"], json!("SHIP_NOTIFY"));
    let resource_url = received.body["resource_url"].as_str().unwrap();
    let batch = label["batchNumber"].as_str().unwrap();
    assert_eq!(
        resource_url,
        format!(
            "{}/shipments?storeID={CONNECT}&batchId={batch}&includeShipmentItems=False",
            harness.base_url
        )
    );

    let shipments = harness
        .get(resource_url.strip_prefix(&harness.base_url).unwrap())
        .await
        .json();
    assert_eq!(shipments["total"], json!(1));
    assert_eq!(shipments["shipments"][0]["shipmentId"], label["shipmentId"]);
    assert_eq!(shipments["shipments"][0]["shipmentItems"], Value::Null);
    let order = harness.get(&format!("/orders/{order_id}")).await.json();
    assert_eq!(order["orderStatus"], json!("shipped"));
}

#[tokio::test]
async fn label_without_manual_store_is_500() {
    let harness = Harness::default().await;
    let deactivated = harness
        .post("/stores/deactivate", &json!({ "storeId": MANUAL }))
        .await;
    assert_eq!(deactivated.status, StatusCode::OK);
    let reply = harness
        .post(
            "/orders/createlabelfororder",
            &json!({ "orderId": 212_345, "carrierCode": "stamps_com", "serviceCode": "usps_priority_mail" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        reply.json(),
        json!({
            "Message": "An error has occurred.",
            "ExceptionMessage": "Object reference not set to an instance of an object.",
            "ExceptionType": "System.NullReferenceException",
            "StackTrace": null
        })
    );
}

#[tokio::test]
async fn mark_as_shipped_updates_order() {
    let harness = Harness::default().await;
    let reply = harness
        .post(
            "/orders/markasshipped",
            &json!({ "orderId": 212_345, "carrierCode": "usps", "shipDate": "2026-12-01", "notifyCustomer": false }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!(body["orderId"], json!(212_345));
    assert_eq!(body["orderNumber"], json!("1001"));
    let order = harness.get("/orders/212345").await.json();
    assert_eq!(order["orderStatus"], json!("shipped"));
    assert_eq!(order["shipDate"], json!("2026-12-01"));
}

#[tokio::test]
async fn non_loopback_webhook_is_not_sent() {
    let harness = Harness::default().await;
    let mut deliveries = harness.sandbox.deliveries();
    // 0.0.0.0 is not a loopback address, so the sandbox refuses it; should that check ever
    // break, Linux would still route the connection to this machine.
    let subscribed = harness
        .post(
            "/webhooks/subscribe",
            &json!({ "target_url": "https://0.0.0.0:9/hook", "event": "ORDER_NOTIFY" }),
        )
        .await;
    assert_eq!(subscribed.status, StatusCode::OK);
    let created = harness
        .post(
            "/orders/createorder",
            &order_body("offhost", "awaiting_shipment", Some(CONNECT)),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK);

    let delivery = next_delivery(&mut deliveries).await;
    assert_eq!(delivery.status, None);
    assert!(
        delivery
            .error
            .as_deref()
            .unwrap()
            .contains("not a loopback host"),
        "{delivery:?}"
    );
    assert_eq!(harness.sandbox.delivery_log().len(), 1);
}

#[tokio::test]
async fn webhook_delete_removes_subscription() {
    let harness = Harness::default().await;
    let id = harness
        .post(
            "/webhooks/subscribe",
            &json!({ "target_url": "https://127.0.0.1:9/", "event": "SHIP_NOTIFY" }),
        )
        .await
        .json()["id"]
        .as_u64()
        .unwrap();
    let deleted = harness
        .call(Method::DELETE, &format!("/webhooks/{id}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert!(deleted.body.is_empty());
    assert_eq!(
        harness.get("/webhooks").await.json(),
        json!({ "webhooks": [] })
    );

    let invalid = harness
        .post("/webhooks/subscribe", &json!({ "event": "NOPE" }))
        .await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    let state = &invalid.json()["ModelState"];
    assert!(state["model.target_url"].is_array());
    assert!(state["model.event"].is_array());
}

#[tokio::test]
async fn served_base_url_is_listener_address() {
    let harness = Harness::start(SandboxOptions::default()).await;
    // Serve sets the base URL before it accepts, so a completed request proves it is set.
    assert_eq!(harness.get("/stores").await.status, StatusCode::OK);
    assert_eq!(harness.sandbox.base_url(), Some(harness.base_url.clone()));
    harness.stop().await;
}
