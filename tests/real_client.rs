//! A real ShipStation client library (the npm package shipstation-node 1.5.x) driven through
//! storebridge against the sandbox. The Node side installs an egress guard before it loads
//! the library, because the library ignores its base-URL option and would otherwise call
//! the real API.
//!
//! Needs Node.js 20 or later and npm with access to the npm registry (the harness runs
//! `npm ci` on first use). Set STOREBRIDGE_SKIP_REAL_CLIENT=1 to skip it where that is
//! unavailable; the skip is printed.

mod common;

use std::process::Stdio;

use common::{Harness, CONNECT, LEGACY};
use storebridge::config::Mode;

#[tokio::test]
async fn shipstation_node_sees_legacy_ids() {
    if std::env::var_os("STOREBRIDGE_SKIP_REAL_CLIENT").is_some() {
        eprintln!("SKIPPED: STOREBRIDGE_SKIP_REAL_CLIENT is set");
        return;
    }
    let harness = Harness::start().await;
    harness.take_requests();

    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/real_client/run.sh");
    let auth = harness.sandbox.basic_auth_header();
    let (key, secret) = decode_basic(&auth);
    let output = tokio::process::Command::new("bash")
        .arg(&script)
        .env("STOREBRIDGE_URL", harness.url(Mode::Mirror))
        .env("SS_API_KEY", key)
        .env("SS_API_SECRET", secret)
        .env("LEGACY_STORE_ID", LEGACY.to_string())
        .env(
            "WEBHOOK_TARGET",
            "https://127.0.0.1:9/storebridge-test-hook",
        )
        .env("NODE_EXTRA_CA_CERTS", &harness.ca_file)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run tests/real_client/run.sh (is bash installed?)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "run.sh failed: {}\nstdout: {stdout}\nstderr: {stderr}",
        output.status
    );
    let result: serde_json::Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|error| panic!("{error}: {stdout}"));

    // What the client saw: only the legacy ID.
    assert_eq!(result["guardBlocked"], true);
    let orders = result["ordersList"]["orders"].as_array().expect("orders");
    assert!(
        !orders.is_empty(),
        "the connect store has orders: {}",
        result["ordersList"]
    );
    for order in orders {
        assert_eq!(order["advancedOptions"]["storeId"], LEGACY);
    }
    assert_eq!(result["store"]["storeId"], LEGACY);
    assert_eq!(result["createdOrder"]["advancedOptions"]["storeId"], LEGACY);
    assert_eq!(result["createdOrder"]["orderNumber"], "RC-1001");

    // What the sandbox saw: only the connect ID.
    let seen = harness.take_requests();
    let find = |method: &str, prefix: &str| {
        seen.iter()
            .find(|r| r.method == method && r.path_and_query.starts_with(prefix))
            .unwrap_or_else(|| panic!("sandbox saw no {method} {prefix}"))
    };
    assert!(find("GET", "/orders?")
        .path_and_query
        .contains(&format!("storeId={CONNECT}")));
    assert_eq!(
        find("GET", "/stores/").path_and_query,
        format!("/stores/{CONNECT}")
    );
    let order: serde_json::Value =
        serde_json::from_slice(&find("POST", "/orders/createorder").body).expect("order");
    assert_eq!(order["advancedOptions"]["storeId"], CONNECT);
    let hook: serde_json::Value =
        serde_json::from_slice(&find("POST", "/webhooks/subscribe").body).expect("hook");
    assert_eq!(hook["store_id"], CONNECT);
    assert!(
        seen.iter().all(|r| r.authorized),
        "every call carried valid credentials"
    );
    for request in &seen {
        let text = String::from_utf8_lossy(&request.body);
        assert!(
            !request.path_and_query.contains(&LEGACY.to_string())
                || request.path_and_query.contains("orderNumber"),
            "legacy ID reached the sandbox: {}",
            request.path_and_query
        );
        assert!(
            !text.contains(&format!("\"storeId\":{LEGACY}")),
            "legacy ID reached the sandbox: {text}"
        );
    }
}

fn decode_basic(header: &str) -> (String, String) {
    use base64::Engine;
    let encoded = header.trim_start_matches("Basic ").trim();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("base64 credentials");
    let text = String::from_utf8(decoded).expect("utf-8 credentials");
    let (key, secret) = text.split_once(':').expect("key:secret");
    (key.to_owned(), secret.to_owned())
}
