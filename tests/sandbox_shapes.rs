//! Checks that the sandbox's responses have the shape of the response examples in the V1
//! Swagger description (copied to `tests/fixtures/v1-examples`): every key of an example
//! object is present with a compatible JSON type. Objects are compared recursively and
//! arrays by their first elements; `null` in an example matches any value.

mod sandbox_support;

use std::path::Path;

use serde_json::{json, Value};
use storebridge::sandbox::SandboxOptions;

use sandbox_support::Harness;

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/v1-examples")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Appends to `problems` every place where `actual` lacks a key of `example` or has an
/// incompatible type.
fn compare(example: &Value, actual: &Value, path: &str, problems: &mut Vec<String>) {
    match (example, actual) {
        (Value::Null, _) => {}
        (Value::Object(expected), Value::Object(got)) => {
            for (key, expected_value) in expected {
                let child = format!("{path}.{key}");
                match got.get(key) {
                    Some(got_value) => compare(expected_value, got_value, &child, problems),
                    None => problems.push(format!("{child}: missing")),
                }
            }
        }
        (Value::Array(expected), Value::Array(got)) => match (expected.first(), got.first()) {
            (Some(first_expected), Some(first_got)) => {
                compare(first_expected, first_got, &format!("{path}[0]"), problems)
            }
            (Some(_), None) => problems.push(format!(
                "{path}: empty array, so its elements cannot be compared"
            )),
            (None, _) => {}
        },
        _ if type_name(example) == type_name(actual) => {}
        _ => problems.push(format!(
            "{path}: expected {}, got {} ({actual})",
            type_name(example),
            type_name(actual)
        )),
    }
}

fn assert_shape(name: &str, actual: &Value) {
    let example = fixture(name);
    let mut problems = Vec::new();
    compare(&example, actual, "$", &mut problems);
    assert!(
        problems.is_empty(),
        "{name}: response differs from the V1 example:\n  {}\nresponse: {actual:#}",
        problems.join("\n  ")
    );
}

#[test]
fn compare_reports_missing_and_mistyped_keys() {
    let example = json!({ "a": 1, "b": { "c": "x" }, "list": [{ "d": true }], "n": null });
    let actual = json!({ "a": "1", "b": {}, "list": [{ "d": 0 }], "n": 5 });
    let mut problems = Vec::new();
    compare(&example, &actual, "$", &mut problems);
    assert_eq!(
        problems,
        vec![
            "$.a: expected number, got string (\"1\")",
            "$.b.c: missing",
            "$.list[0].d: expected boolean, got number (0)",
        ]
    );
}

#[test]
fn compare_accepts_extra_keys_and_nulls() {
    let example = json!({ "a": 1, "n": null, "empty": [] });
    let actual = json!({ "a": 2.5, "n": { "deep": 1 }, "empty": [1], "extra": true });
    let mut problems = Vec::new();
    compare(&example, &actual, "$", &mut problems);
    assert!(problems.is_empty(), "{problems:?}");
}

#[tokio::test]
async fn stores_match_examples() {
    let harness = Harness::default().await;
    let options = SandboxOptions::default();

    let list = harness.get("/stores?showInactive=true").await;
    assert_eq!(list.status, 200);
    assert_shape("stores-list", &list.json());

    let store = harness
        .get(&format!("/stores/{}", options.connect_store_id))
        .await;
    assert_eq!(store.status, 200);
    assert_shape("store", &store.json());

    let refresh = harness
        .post(
            "/stores/refreshstore",
            &json!({ "storeId": options.connect_store_id }),
        )
        .await;
    assert_eq!(refresh.status, 200);
    assert_shape("stores-refreshstore", &refresh.json());

    let status = harness
        .get(&format!(
            "/stores/getrefreshstatus?storeId={}",
            options.connect_store_id
        ))
        .await;
    assert_eq!(status.status, 200);
    assert_shape("stores-getrefreshstatus", &status.json());
}

#[tokio::test]
async fn orders_match_examples() {
    let harness = Harness::default().await;

    let list = harness.get("/orders").await;
    assert_eq!(list.status, 200);
    let list_body = list.json();
    assert_shape("orders-list", &list_body);

    let first_id = list_body["orders"][0]["orderId"].as_u64().unwrap();
    let order = harness.get(&format!("/orders/{first_id}")).await;
    assert_eq!(order.status, 200);
    assert_shape("order", &order.json());
}

#[tokio::test]
async fn shipments_match_examples() {
    let harness = Harness::default().await;
    let list = harness.get("/shipments?includeShipmentItems=true").await;
    assert_eq!(list.status, 200);
    let body = list.json();
    assert!(body["total"].as_u64().unwrap() >= 1, "{body}");
    assert_shape("shipments-list", &body);
}

#[tokio::test]
async fn webhooks_match_examples() {
    let harness = Harness::default().await;
    let subscribe = harness
        .post(
            "/webhooks/subscribe",
            &json!({
                "target_url": "https://127.0.0.1:9/hook",
                "event": "ORDER_NOTIFY",
                "store_id": 7654321,
                "friendly_name": "Orders"
            }),
        )
        .await;
    assert_eq!(subscribe.status, 200);
    assert_shape("webhooks-subscribe", &subscribe.json());

    let list = harness.get("/webhooks").await;
    assert_eq!(list.status, 200);
    assert_shape("webhooks-list", &list.json());
}
