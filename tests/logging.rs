//! Logs never contain credentials or query values. This file installs a global tracing
//! subscriber that writes into a buffer, so it runs in a test binary of its own.

mod common;

use common::logs::Capture;
use common::{Harness, LEGACY};
use http::Method;
use storebridge::config::Mode;

#[tokio::test]
async fn logs_hold_no_credentials_or_query_values() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_writer(move || writer.clone())
        .init();

    let harness = Harness::start().await;
    let secret_query = format!("/orders?storeId={LEGACY}&customerName=Jane%20Privacy-Doe");
    let reply = harness.get(Mode::Mirror, &secret_query).await;
    assert_eq!(reply.status, 200);
    let lenient = harness
        .post(
            Mode::Mirror,
            "/stores/refreshstore?customerName=Jane%20Privacy-Doe",
            "{storeId: 12345}",
        )
        .await;
    assert_eq!(lenient.status, 400);
    let bad_credentials = common::TestClient::new(
        &harness.ca_file,
        "Basic c2VjcmV0LWtleTpzZWNyZXQtdmFsdWU=".to_owned(),
    );
    let denied = bad_credentials
        .send(
            Method::GET,
            &format!("{}/stores", harness.mirror_url),
            None,
            &[("x-partner", "partner-secret-xyz")],
        )
        .await;
    assert_eq!(denied.status, 401);
    drop(harness);

    let text = capture.text();
    assert!(
        text.contains("request"),
        "access events were logged: {text}"
    );
    for secret in [
        "Privacy-Doe",
        "Basic ",
        "c2VjcmV0LWtleTpzZWNyZXQtdmFsdWU",
        "sandbox-secret",
        "partner-secret-xyz",
    ] {
        assert!(!text.contains(secret), "log contains {secret:?}:\n{text}");
    }
}
