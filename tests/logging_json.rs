//! The JSON line format of `--log-format json`, end to end: every line written while the
//! proxy serves requests is one JSON object with the expected keys, and contains no
//! credentials. This file installs a global tracing subscriber, so it runs in a test
//! binary of its own.

mod common;

use common::logs::Capture;
use common::{Harness, LEGACY};
use serde_json::Value;
use storebridge::config::Mode;
use storebridge::logging::JsonLines;

#[tokio::test]
async fn json_lines_parse_and_hold_no_secrets() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_writer(move || writer.clone())
        .event_format(JsonLines)
        .init();

    let harness = Harness::start().await;
    let query = format!("/orders?storeId={LEGACY}&customerName=Jane%20%22Quoted%22-Doe");
    let reply = harness.get(Mode::Mirror, &query).await;
    assert_eq!(reply.status, 200);
    let malformed = harness
        .post(
            Mode::Mirror,
            "/stores/refreshstore",
            "{storeId: \"\\u0007\n",
        )
        .await;
    assert_eq!(malformed.status, 400);
    drop(harness);

    let text = capture.text();
    let mut access_lines = 0;
    for line in text.lines() {
        let object = match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(object)) => object,
            other => panic!("log line is not a JSON object ({other:?}): {line}"),
        };
        assert!(object["timestamp"].is_string(), "no timestamp: {line}");
        assert!(object["level"].is_string(), "no level: {line}");
        assert!(object["target"].is_string(), "no target: {line}");
        if object["target"] == "storebridge::access" {
            access_lines += 1;
            assert_eq!(object["message"], "request", "{line}");
            assert!(object["status"].is_u64(), "status is a number: {line}");
            assert!(
                object["elapsed_ms"].is_f64(),
                "elapsed_ms is a number: {line}"
            );
        }
    }
    assert_eq!(access_lines, 2, "one access line per request:\n{text}");
    for secret in ["Quoted", "Basic ", "sandbox-secret"] {
        assert!(!text.contains(secret), "log contains {secret:?}:\n{text}");
    }
}
