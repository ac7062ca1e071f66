//! `storebridge migrate plan` against the sandbox's migration scenario: the whole text and
//! JSON reports, and the exit statuses.

mod migrate_support;

use migrate_support::{fixture, Scenario};

#[tokio::test(flavor = "multi_thread")]
async fn plan_text_report_matches() {
    let scenario = Scenario::start(true).await;
    let finished = scenario.migrate(&["plan"]);
    assert_eq!(
        finished.stdout,
        fixture("migrate_plan.txt", &finished.stdout)
    );
    assert_eq!(finished.status, 3, "{}", finished.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_json_report_matches() {
    let scenario = Scenario::start(true).await;
    let finished = scenario.migrate(&["plan", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&finished.stdout).expect("JSON report");
    let expected: serde_json::Value =
        serde_json::from_str(&fixture("migrate_plan.json", &finished.stdout))
            .expect("JSON fixture");
    assert_eq!(report, expected);
    assert_eq!(finished.status, 3, "{}", finished.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_proposes_pair_without_config() {
    let scenario = Scenario::start(false).await;
    let finished = scenario.migrate(&["plan", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&finished.stdout).expect("JSON report");
    assert_eq!(
        report["pairs"],
        serde_json::json!([{ "legacy": 12345, "connect": 7654321, "source": "proposed" }])
    );
    assert_eq!(
        report["proposed_config"],
        serde_json::json!("[[store]]\nlegacy = 12345\nconnect = 7654321\n")
    );
    assert_eq!(finished.status, 3, "{}", finished.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_exits_zero_without_risk() {
    let scenario = Scenario::start(true).await;
    // Ship the Miva Connect copy of the order that already left the legacy store.
    let client = migrate_support_client(&scenario);
    let orders = client
        .get("/orders?storeId=7654321&orderNumber=12345-A")
        .await;
    let order_id = orders["orders"][0]["orderId"].as_u64().expect("order ID");
    let body = format!("{{\"orderId\": {order_id}, \"carrierCode\": \"stamps_com\"}}");
    client.post("/orders/markasshipped", &body).await;

    let finished = scenario.migrate(&["plan", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&finished.stdout).expect("JSON report");
    assert_eq!(report["double_ship_risks"], serde_json::json!([]));
    assert_eq!(report["exit_status"], serde_json::json!(0));
    assert_eq!(finished.status, 0, "{}", finished.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_fails_without_credentials() {
    let scenario = Scenario::start(true).await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_storebridge"))
        .args(["migrate", "plan", "--config"])
        .arg(&scenario.config)
        .env_remove("SHIPSTATION_API_KEY")
        .env_remove("SHIPSTATION_API_SECRET")
        .output()
        .expect("run storebridge");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("SHIPSTATION_API_KEY is not set"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_fails_on_upstream_error() {
    let scenario = Scenario::start(true).await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_storebridge"))
        .args(["migrate", "plan", "--config"])
        .arg(&scenario.config)
        .env("SHIPSTATION_API_KEY", "wrong")
        .env("SHIPSTATION_API_SECRET", "wrong")
        .output()
        .expect("run storebridge");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("with status 401"), "{stderr}");
}

fn migrate_support_client(scenario: &Scenario) -> migrate_support::DirectClient {
    migrate_support::DirectClient::new(scenario)
}
