//! The rewrite surface end to end: a client talks to storebridge over TLS, storebridge talks
//! to the sandbox over TLS, and each test checks what the sandbox received and what the
//! client got back, in both listener modes.

mod common;

use common::{Harness, CONNECT, LEGACY};
use http::Method;
use storebridge::config::Mode;

const MODES: [Mode; 2] = [Mode::Mirror, Mode::Translate];

fn order_body(order_key: &str, store_id: &str) -> String {
    format!(
        r#"{{"orderNumber":"SB-{LEGACY}-1","orderKey":"{order_key}","orderDate":"2026-12-01T09:30:00.0000000","orderStatus":"awaiting_shipment","customerEmail":"buyer{LEGACY}@example.com","billTo":{{"name":"Ann Buyer","phone":"512-{LEGACY}"}},"shipTo":{{"name":"Ann Buyer","street1":"12345 Main St","city":"Austin","state":"TX","postalCode":"78701","country":"US","phone":"+1 {LEGACY}"}},"amountPaid":99.990,"taxAmount":1.10,"advancedOptions":{{"storeId":{store_id},"customField1":"{LEGACY}","customField2":"legacy {LEGACY}"}}}}"#
    )
}

#[tokio::test]
async fn query_store_id_rewritten_in_every_spelling() {
    let harness = Harness::start().await;
    for mode in MODES {
        for name in [
            "storeId", "storeID", "STOREID", "storeid", "store_id", "Store_Id",
        ] {
            harness.take_requests();
            let reply = harness
                .get(mode, &format!("/orders?orderStatus=awaiting_shipment&{name}={LEGACY}&page=1&orderNumber={LEGACY}"))
                .await;
            assert_eq!(reply.status, 200, "{mode:?} {name}: {}", reply.text());
            let seen = harness.take_requests();
            assert_eq!(seen.len(), 1);
            assert_eq!(
                seen[0].path_and_query,
                format!("/orders?orderStatus=awaiting_shipment&{name}={CONNECT}&page=1&orderNumber={LEGACY}"),
                "{mode:?} {name}"
            );
        }
    }
}

#[tokio::test]
async fn query_every_occurrence_rewritten() {
    let harness = Harness::start().await;
    harness.take_requests();
    let reply = harness
        .get(
            Mode::Mirror,
            &format!("/shipments?storeId={LEGACY}&storeID={LEGACY}&orderNumber=A%20{LEGACY}"),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = harness.take_requests();
    assert_eq!(
        seen[0].path_and_query,
        format!("/shipments?storeId={CONNECT}&storeID={CONNECT}&orderNumber=A%20{LEGACY}")
    );
}

#[tokio::test]
async fn refresh_status_query_rewritten_and_mirrored() {
    let harness = Harness::start().await;
    for mode in MODES {
        harness.take_requests();
        let reply = harness
            .get(mode, &format!("/stores/getrefreshstatus?storeId={LEGACY}"))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let seen = harness.take_requests();
        assert_eq!(
            seen[0].path_and_query,
            format!("/stores/getrefreshstatus?storeId={CONNECT}")
        );
        let expected = if mode == Mode::Mirror {
            LEGACY
        } else {
            CONNECT
        };
        assert_eq!(reply.json()["storeId"], expected, "{mode:?}");
    }
}

#[tokio::test]
async fn store_path_rewritten_and_mirrored() {
    let harness = Harness::start().await;
    for mode in MODES {
        harness.take_requests();
        let reply = harness.get(mode, &format!("/stores/{LEGACY}")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let seen = harness.take_requests();
        assert_eq!(seen[0].path_and_query, format!("/stores/{CONNECT}"));
        let store = reply.json();
        let expected = if mode == Mode::Mirror {
            LEGACY
        } else {
            CONNECT
        };
        assert_eq!(store["storeId"], expected, "{mode:?}");
        assert_eq!(
            store["active"], true,
            "{mode:?}: the connect store is the active one"
        );
    }
}

#[tokio::test]
async fn store_update_rewrites_path_and_body() {
    let harness = Harness::start().await;
    let current = harness
        .get(Mode::Mirror, &format!("/stores/{LEGACY}"))
        .await;
    assert_eq!(current.status, 200, "{}", current.text());
    let mut store = current.json();
    store["storeName"] = serde_json::Value::from("Renamed through storebridge");
    harness.take_requests();

    let reply = harness
        .client
        .send(
            Method::PUT,
            &format!("{}/stores/{LEGACY}", harness.mirror_url),
            Some(serde_json::to_vec(&store).expect("json").into()),
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = harness.take_requests();
    assert_eq!(seen[0].path_and_query, format!("/stores/{CONNECT}"));
    let sent: serde_json::Value = serde_json::from_slice(&seen[0].body).expect("sandbox body");
    assert_eq!(sent["storeId"], CONNECT);
    assert_eq!(reply.json()["storeId"], LEGACY);
    assert_eq!(reply.json()["storeName"], "Renamed through storebridge");
}

#[tokio::test]
async fn createorder_keeps_other_digits() {
    let harness = Harness::start().await;
    for (index, mode) in MODES.into_iter().enumerate() {
        harness.take_requests();
        let body = order_body(&format!("digits-{index}"), &LEGACY.to_string());
        let reply = harness.post(mode, "/orders/createorder", &body).await;
        assert_eq!(reply.status, 200, "{}", reply.text());

        // The sandbox received the body with only the store ID changed.
        let seen = harness.take_requests();
        let expected_sent = body.replace(
            &format!("\"storeId\":{LEGACY}"),
            &format!("\"storeId\":{CONNECT}"),
        );
        assert_eq!(
            String::from_utf8_lossy(&seen[0].body),
            expected_sent,
            "{mode:?}"
        );

        let order = reply.json();
        let expected_store = if mode == Mode::Mirror {
            LEGACY
        } else {
            CONNECT
        };
        assert_eq!(
            order["advancedOptions"]["storeId"], expected_store,
            "{mode:?}"
        );
        assert_eq!(order["orderNumber"], format!("SB-{LEGACY}-1"));
        assert_eq!(order["advancedOptions"]["customField1"], LEGACY.to_string());
        assert_eq!(order["shipTo"]["phone"], format!("+1 {LEGACY}"));
    }
}

#[tokio::test]
async fn createorder_string_store_id_stays_string() {
    let harness = Harness::start().await;
    harness.take_requests();
    let body = order_body("string-id", &format!("\"{LEGACY}\""));
    let reply = harness
        .post(Mode::Mirror, "/orders/createorder", &body)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = harness.take_requests();
    let sent = String::from_utf8_lossy(&seen[0].body).into_owned();
    assert!(
        sent.contains(&format!("\"storeId\":\"{CONNECT}\"")),
        "{sent}"
    );
}

#[tokio::test]
async fn createorders_array_rewritten() {
    let harness = Harness::start().await;
    harness.take_requests();
    let body = format!(
        "[{},\n  {}]",
        order_body("batch-1", &LEGACY.to_string()),
        order_body("batch-2", "200001")
    );
    let reply = harness
        .post(Mode::Mirror, "/orders/createorders", &body)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["hasErrors"], false, "{}", reply.text());
    let seen = harness.take_requests();
    let sent: serde_json::Value = serde_json::from_slice(&seen[0].body).expect("sandbox body");
    assert_eq!(sent[0]["advancedOptions"]["storeId"], CONNECT);
    assert_eq!(
        sent[1]["advancedOptions"]["storeId"], 200001,
        "unmapped store left alone"
    );
}

#[tokio::test]
async fn orders_list_mirrored_only_in_mirror_mode() {
    let harness = Harness::start().await;
    let create = harness
        .post(
            Mode::Translate,
            "/orders/createorder",
            &order_body("list-1", &LEGACY.to_string()),
        )
        .await;
    assert_eq!(create.status, 200, "{}", create.text());

    for mode in MODES {
        let reply = harness
            .get(mode, &format!("/orders?storeId={LEGACY}"))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let orders = reply.json()["orders"]
            .as_array()
            .cloned()
            .expect("orders array");
        assert!(!orders.is_empty(), "{mode:?}: the connect store has orders");
        let expected = if mode == Mode::Mirror {
            LEGACY
        } else {
            CONNECT
        };
        for order in &orders {
            assert_eq!(order["advancedOptions"]["storeId"], expected, "{mode:?}");
        }
    }
}

#[tokio::test]
async fn translate_mode_response_is_untouched() {
    let harness = Harness::start().await;
    let through_proxy = harness
        .get(Mode::Translate, "/stores?showInactive=true")
        .await;
    let direct = harness
        .direct(Method::GET, "/stores?showInactive=true", None)
        .await;
    assert_eq!(through_proxy.status, 200);
    assert_eq!(through_proxy.body, direct.body);
}

#[tokio::test]
async fn stores_list_merged_for_mirror() {
    let harness = Harness::start().await;
    for query in ["", "?showInactive=true"] {
        let reply = harness.get(Mode::Mirror, &format!("/stores{query}")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let stores = reply.json().as_array().cloned().expect("stores array");
        let ids: Vec<u64> = stores
            .iter()
            .filter_map(|s| s["storeId"].as_u64())
            .collect();
        assert_eq!(
            ids.iter().filter(|id| **id == LEGACY).count(),
            1,
            "{query}: {ids:?}"
        );
        assert!(!ids.contains(&CONNECT), "{query}: {ids:?}");
        let miva = stores
            .iter()
            .find(|s| s["storeId"] == LEGACY)
            .expect("legacy entry");
        assert_eq!(
            miva["active"], true,
            "{query}: the entry is the active connect store"
        );
    }
    let direct = harness
        .direct(Method::GET, "/stores?showInactive=true", None)
        .await;
    let ids: Vec<u64> = direct
        .json()
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|s| s["storeId"].as_u64())
        .collect();
    assert!(
        ids.contains(&LEGACY) && ids.contains(&CONNECT),
        "the sandbox lists both: {ids:?}"
    );
}

#[tokio::test]
async fn refreshstore_body_query_and_message() {
    let harness = Harness::start().await;
    for mode in MODES {
        harness.take_requests();
        let reply = harness
            .post(
                mode,
                &format!("/stores/refreshstore?storeId={LEGACY}"),
                &format!(r#"{{"storeId": {LEGACY}}}"#),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let seen = harness.take_requests();
        assert_eq!(
            seen[0].path_and_query,
            format!("/stores/refreshstore?storeId={CONNECT}")
        );
        assert_eq!(
            String::from_utf8_lossy(&seen[0].body),
            format!(r#"{{"storeId": {CONNECT}}}"#)
        );
        let message = reply.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let expected = if mode == Mode::Mirror {
            LEGACY
        } else {
            CONNECT
        };
        assert!(
            message.ends_with(&format!("Store ID {expected}")),
            "{mode:?}: {message}"
        );
    }
}

#[tokio::test]
async fn deactivate_and_reactivate_untouched() {
    let harness = Harness::start().await;
    for path in ["/stores/reactivate", "/stores/deactivate"] {
        for body in [
            format!(r#"{{"storeId":{LEGACY}}}"#),
            format!(r#"{{"storeId":"{LEGACY}"}}"#),
        ] {
            harness.take_requests();
            let reply = harness
                .post(Mode::Mirror, &format!("{path}?storeId={LEGACY}"), &body)
                .await;
            assert_eq!(reply.status, 200, "{path}: {}", reply.text());
            let seen = harness.take_requests();
            assert_eq!(seen[0].path_and_query, format!("{path}?storeId={LEGACY}"));
            assert_eq!(String::from_utf8_lossy(&seen[0].body), body);
        }
    }
}

#[tokio::test]
async fn webhook_subscribe_and_list() {
    let harness = Harness::start().await;
    harness.take_requests();
    let body = format!(
        r#"{{"target_url":"https://127.0.0.1:9/hook?ref={LEGACY}","event":"ORDER_NOTIFY","store_id":{LEGACY},"friendly_name":"legacy hook"}}"#
    );
    let reply = harness
        .post(Mode::Mirror, "/webhooks/subscribe", &body)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = harness.take_requests();
    let sent = String::from_utf8_lossy(&seen[0].body).into_owned();
    assert_eq!(
        sent,
        body.replace(
            &format!("\"store_id\":{LEGACY}"),
            &format!("\"store_id\":{CONNECT}")
        )
    );

    for mode in MODES {
        let list = harness.get(mode, "/webhooks").await;
        assert_eq!(list.status, 200, "{}", list.text());
        let hooks = list.json()["webhooks"]
            .as_array()
            .cloned()
            .expect("webhooks");
        let hook = hooks
            .iter()
            .find(|h| h["Name"] == "legacy hook")
            .expect("subscribed hook");
        let expected = if mode == Mode::Mirror {
            LEGACY
        } else {
            CONNECT
        };
        assert_eq!(hook["StoreID"], expected, "{mode:?}");
        assert_eq!(
            hook["Url"],
            format!("https://127.0.0.1:9/hook?ref={LEGACY}"),
            "target URL untouched"
        );
    }
}

#[tokio::test]
async fn get_then_post_round_trips_exactly() {
    let harness = Harness::start().await;
    let created = harness
        .post(
            Mode::Translate,
            "/orders/createorder",
            &order_body("round-trip", &LEGACY.to_string()),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text());
    let order_id = created.json()["orderId"].as_u64().expect("orderId");

    // What ShipStation itself returns for the order.
    let original = harness
        .direct(Method::GET, &format!("/orders/{order_id}"), None)
        .await;
    assert_eq!(original.status, 200);

    // A mirror client fetches it, then posts it back unchanged.
    let fetched = harness
        .get(Mode::Mirror, &format!("/orders/{order_id}"))
        .await;
    assert_eq!(fetched.json()["advancedOptions"]["storeId"], LEGACY);
    harness.take_requests();
    let posted = harness
        .post(
            Mode::Mirror,
            "/orders/createorder",
            std::str::from_utf8(&fetched.body).expect("utf-8"),
        )
        .await;
    assert_eq!(posted.status, 200, "{}", posted.text());
    let seen = harness.take_requests();
    assert_eq!(
        seen[0].body,
        original.body.to_vec(),
        "the sandbox got back exactly what it sent"
    );
}

#[tokio::test]
async fn shipments_query_and_response() {
    let harness = Harness::start().await;
    // A label for an order of the connect store gives it a shipment.
    let created = harness
        .post(
            Mode::Translate,
            "/orders/createorder",
            &order_body("ship-1", &LEGACY.to_string()),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text());
    let order_id = created.json()["orderId"].as_u64().expect("orderId");
    let label = harness
        .post(
            Mode::Translate,
            "/orders/createlabelfororder",
            &format!(r#"{{"orderId":{order_id},"carrierCode":"stamps_com","serviceCode":"usps_priority_mail","packageCode":"package","shipDate":"2026-12-04","testLabel":false}}"#),
        )
        .await;
    assert_eq!(label.status, 200, "{}", label.text());

    for mode in MODES {
        harness.take_requests();
        let reply = harness
            .get(
                mode,
                &format!("/shipments?storeID={LEGACY}&includeShipmentItems=False"),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let seen = harness.take_requests();
        assert_eq!(
            seen[0].path_and_query,
            format!("/shipments?storeID={CONNECT}&includeShipmentItems=False")
        );
        let shipments = reply.json()["shipments"]
            .as_array()
            .cloned()
            .expect("shipments");
        assert!(!shipments.is_empty(), "{mode:?}: the label made a shipment");
        let expected = if mode == Mode::Mirror {
            LEGACY
        } else {
            CONNECT
        };
        for shipment in &shipments {
            assert_eq!(shipment["advancedOptions"]["storeId"], expected, "{mode:?}");
        }
    }
}
