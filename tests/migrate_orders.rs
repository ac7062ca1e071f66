//! `storebridge migrate orders` against the sandbox's migration scenario: the dry run's
//! report, the calls that re-apply the legacy edits, and resuming an interrupted run.

mod migrate_support;

use migrate_support::{DirectClient, Scenario, CONNECT, LEGACY};
use serde_json::Value;
use storebridge::migrate::fields::differences;
use storebridge::storage::sqlite::SqliteStorage;
use storebridge::storage::Storage;

/// Reads the only order with `number` in `store`.
async fn order(client: &DirectClient, store: u64, number: &str) -> Value {
    let found = client
        .get(&format!("/orders?storeId={store}&orderNumber={number}"))
        .await;
    let orders = found["orders"].as_array().expect("orders");
    assert_eq!(orders.len(), 1, "order {number} in store {store}");
    orders[0].clone()
}

fn order_id(order: &Value) -> u64 {
    order["orderId"].as_u64().expect("order ID")
}

/// Returns `METHOD path` of each POST the sandbox received.
fn posts(scenario: &Scenario) -> Vec<String> {
    scenario
        .sandbox
        .requests()
        .iter()
        .filter(|request| request.method == "POST")
        .map(|request| format!("POST {}", request.path_and_query))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_prints_diff() {
    let scenario = Scenario::start(true).await;
    let client = DirectClient::new(&scenario);
    let connect_1001 = order_id(&order(&client, CONNECT, "1001").await);
    let connect_1004 = order_id(&order(&client, CONNECT, "1004").await);
    scenario.sandbox.clear_requests();

    let finished = scenario.migrate(&["orders"]);

    let expected = format!(
        "order 1001 (connect {connect_1001}): 7 field(s) differ\n\
         \x20 internalNotes: Imported from Miva -> Customer called: ship with 1004\n\
         \x20 tagIds: - -> [31415]\n\
         \x20 userId: - -> 7d2c4b8e-0a11-4c3e-9f5d-2b6e8a4c1f07\n\
         \x20 customField3: - -> rush\n\
         \x20 packageCode: package -> medium_flat_rate_box\n\
         \x20 weight: {{\"units\":\"ounces\",\"value\":108}} -> {{\"units\":\"ounces\",\"value\":120}}\n\
         \x20 warehouseId: 51234 -> 51999\n\
         order 1004 (connect {connect_1004}): 1 field(s) differ\n\
         \x20 holdUntilDate: - -> 2026-11-25\n"
    );
    assert_eq!(finished.stdout, expected, "{}", finished.stderr);
    assert_eq!(finished.status, 0);
    assert_eq!(posts(&scenario), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_makes_orders_match() {
    let scenario = Scenario::start(true).await;
    let client = DirectClient::new(&scenario);
    let connect_before = order(&client, CONNECT, "1001").await;
    scenario.sandbox.clear_requests();

    let finished = scenario.migrate(&["orders", "--apply"]);
    assert_eq!(finished.status, 0, "{}", finished.stderr);

    let legacy = order(&client, LEGACY, "1001").await;
    let connect = order(&client, CONNECT, "1001").await;
    assert_eq!(differences(&legacy, &connect), Vec::new());
    assert_eq!(order_id(&connect), order_id(&connect_before));
    assert_eq!(connect["advancedOptions"]["storeId"], CONNECT);
    let legacy_1004 = order(&client, LEGACY, "1004").await;
    let connect_1004 = order(&client, CONNECT, "1004").await;
    assert_eq!(differences(&legacy_1004, &connect_1004), Vec::new());
    assert_eq!(
        posts(&scenario),
        vec![
            "POST /orders/createorder",
            "POST /orders/addtag",
            "POST /orders/assignuser",
            "POST /orders/holduntil",
        ]
    );

    let update = scenario
        .sandbox
        .requests()
        .into_iter()
        .find(|request| request.path_and_query == "/orders/createorder")
        .expect("createorder call");
    let body: Value = serde_json::from_slice(&update.body).expect("JSON body");
    assert_eq!(body["orderKey"], connect_before["orderKey"]);
    assert_eq!(body["advancedOptions"].get("storeId"), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn second_apply_posts_nothing() {
    let scenario = Scenario::start(true).await;
    let first = scenario.migrate(&["orders", "--apply"]);
    assert_eq!(first.status, 0, "{}", first.stderr);
    scenario.sandbox.clear_requests();

    let second = scenario.migrate(&["orders", "--apply"]);
    assert_eq!(second.status, 0, "{}", second.stderr);
    assert_eq!(posts(&scenario), Vec::<String>::new());
    assert!(
        second.stdout.ends_with("nothing to re-apply\n"),
        "{}",
        second.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_skips_finished_order() {
    let scenario = Scenario::start(true).await;
    let client = DirectClient::new(&scenario);
    let connect_1001_before = order(&client, CONNECT, "1001").await;
    let connect_1001 = order_id(&connect_1001_before);
    {
        let storage = SqliteStorage::open(&scenario.data_dir)
            .await
            .expect("store");
        storage
            .set_cursor(&format!("orders:{connect_1001}"), "done")
            .await
            .expect("mark order done");
    }
    scenario.sandbox.clear_requests();

    let finished = scenario.migrate(&["orders", "--apply"]);
    assert_eq!(finished.status, 0, "{}", finished.stderr);

    let connect_1001_after = order(&client, CONNECT, "1001").await;
    assert_eq!(connect_1001_after, connect_1001_before);
    let legacy_1004 = order(&client, LEGACY, "1004").await;
    let connect_1004 = order(&client, CONNECT, "1004").await;
    assert_eq!(differences(&legacy_1004, &connect_1004), Vec::new());
    assert_eq!(posts(&scenario), vec!["POST /orders/holduntil"]);
    assert!(
        finished
            .stdout
            .contains(&format!("order 1001 (connect {connect_1001}): skipped")),
        "{}",
        finished.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_releases_hold_and_user() {
    let scenario = Scenario::start(true).await;
    let client = DirectClient::new(&scenario);
    // Edits made only on the Miva Connect copies: a hold on 1001, a user on 1004.
    let connect_1001 = order_id(&order(&client, CONNECT, "1001").await);
    let connect_1004 = order_id(&order(&client, CONNECT, "1004").await);
    client
        .post(
            "/orders/holduntil",
            &format!(r#"{{"orderId":{connect_1001},"holdUntilDate":"2026-12-24"}}"#),
        )
        .await;
    client
        .post(
            "/orders/assignuser",
            &format!(
                r#"{{"orderIds":[{connect_1004}],"userId":"0f6a1d2e-1111-4c3e-9f5d-2b6e8a4c1f07"}}"#
            ),
        )
        .await;
    scenario.sandbox.clear_requests();

    let finished = scenario.migrate(&["orders", "--apply"]);
    assert_eq!(finished.status, 0, "{}", finished.stderr);

    for number in ["1001", "1004"] {
        let legacy = order(&client, LEGACY, number).await;
        let connect = order(&client, CONNECT, number).await;
        assert_eq!(differences(&legacy, &connect), Vec::new(), "order {number}");
    }
    let calls = posts(&scenario);
    assert!(
        calls.contains(&"POST /orders/restorefromhold".to_owned()),
        "{calls:?}"
    );
    assert!(
        calls.contains(&"POST /orders/unassignuser".to_owned()),
        "{calls:?}"
    );
}
