//! `storebridge migrate scan` against the sandbox's migration scenario: it records the
//! Miva Connect order already shipped from the legacy store, and reads incrementally.

mod migrate_support;

use migrate_support::Scenario;
use storebridge::storage::sqlite::SqliteStorage;
use storebridge::storage::Storage;

#[tokio::test(flavor = "multi_thread")]
async fn scan_records_double_ship() {
    let scenario = Scenario::start(true).await;
    let client = migrate_support::DirectClient::new(&scenario);
    let found = client
        .get("/orders?storeId=7654321&orderNumber=12345-A")
        .await;
    let connect_order_id = found["orders"][0]["orderId"].as_u64().expect("order ID");

    let first = scenario.migrate(&["scan"]);
    let expected = format!(
        "store 12345 -> 7654321: 6 Miva Connect order(s) read, 1 double-ship risk(s) recorded\n  \
         order 12345-A (connect {connect_order_id}): shipped from the legacy store on 2026-11-03, \
         tracking 9400111899561704612345\n"
    );
    assert_eq!(first.stdout, expected, "{}", first.stderr);
    assert_eq!(first.status, 0);

    let storage = SqliteStorage::open(&scenario.data_dir)
        .await
        .expect("store");
    let record = storage
        .double_ship(connect_order_id)
        .await
        .expect("query")
        .expect("recorded");
    assert_eq!(record.order_number, "12345-A");
    assert_eq!(record.legacy_ship_date.as_deref(), Some("2026-11-03"));
    assert_eq!(
        record.tracking_number.as_deref(),
        Some("9400111899561704612345")
    );
    let other = client.get("/orders?storeId=7654321&orderNumber=1001").await;
    let other_id = other["orders"][0]["orderId"].as_u64().expect("order ID");
    assert_eq!(storage.double_ship(other_id).await.expect("query"), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn scan_reads_only_modified_orders() {
    let scenario = Scenario::start(true).await;
    let first = scenario.migrate(&["scan"]);
    assert_eq!(first.status, 0, "{}", first.stderr);

    // Only the orders modified at or after the newest modify date of the first run.
    let second = scenario.migrate(&["scan"]);
    let recorded_again = second.stdout.lines().next().unwrap_or_default().to_owned();
    assert_eq!(
        recorded_again,
        "store 12345 -> 7654321: 4 Miva Connect order(s) read, 1 double-ship risk(s) recorded"
    );
    assert_eq!(second.status, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn scan_then_guard_refuses_reship() {
    use http::Method;

    let scenario = Scenario::start(true).await;
    let scanned = scenario.migrate(&["scan"]);
    assert_eq!(scanned.status, 0, "{}", scanned.stderr);
    let client = migrate_support::DirectClient::new(&scenario);
    let risky = client
        .get("/orders?storeId=7654321&orderNumber=12345-A")
        .await["orders"][0]["orderId"]
        .as_u64()
        .expect("order ID");
    let safe = client.get("/orders?storeId=7654321&orderNumber=1001").await["orders"][0]["orderId"]
        .as_u64()
        .expect("order ID");

    // The proxy, from the same config with the guard switched on.
    let text = std::fs::read_to_string(&scenario.config).expect("config");
    std::fs::write(
        &scenario.config,
        format!("{text}\n[guard]\ndouble_ship = true\n"),
    )
    .expect("config");
    let config = storebridge::config::Config::load(&scenario.config).expect("valid config");
    let bound = storebridge::server::bind(&config).await.expect("bind");
    let proxy_url = format!("http://{}", bound.listener_addresses()[0]);
    let server = storebridge::server::Server::start(config, None, bound)
        .await
        .expect("start");

    let proxy = migrate_support::common::TestClient::new(
        &scenario.ca_file,
        scenario.sandbox.basic_auth_header(),
    );
    let label = |order_id: u64| {
        format!(
            r#"{{"orderId":{order_id},"carrierCode":"stamps_com","serviceCode":"usps_priority_mail","packageCode":"package","shipDate":"2026-12-04"}}"#
        )
    };
    let send = |body: String, extra: &'static [(&'static str, &'static str)]| {
        let proxy = &proxy;
        let url = format!("{proxy_url}/orders/createlabelfororder");
        async move {
            let mut headers = vec![("content-type", "application/json")];
            headers.extend_from_slice(extra);
            proxy
                .send(Method::POST, &url, Some(body.into()), &headers)
                .await
        }
    };

    let refused = send(label(risky), &[]).await;
    assert_eq!(refused.status, 409, "{}", refused.text());
    let message = refused.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("12345-A") && message.contains("9400111899561704612345"),
        "{message}"
    );
    let other = send(label(safe), &[]).await;
    assert_eq!(other.status, 200, "{}", other.text());
    let overridden = send(label(risky), &[("x-storebridge-allow-reship", "true")]).await;
    assert_eq!(overridden.status, 200, "{}", overridden.text());
    server.stop().await;
}

// NOTE: V1 date filters have one-second resolution, so when every order here falls in the
// same second the Miva Connect copy is re-read anyway; the cursor case is then not isolated.
#[tokio::test(flavor = "multi_thread")]
async fn scan_finds_legacy_shipment_after_cursor() {
    let scenario = Scenario::start(true).await;
    let client = migrate_support::DirectClient::new(&scenario);
    let order = |store: u64, key: &str| {
        format!(
            r#"{{"orderNumber":"2001","orderKey":"{key}","orderDate":"2026-12-01T09:30:00.0000000","orderStatus":"awaiting_shipment","billTo":{{"name":"Ann Buyer"}},"shipTo":{{"name":"Ann Buyer","street1":"1 Main St","city":"Austin","state":"TX","postalCode":"78701","country":"US"}},"advancedOptions":{{"storeId":{store}}}}}"#
        )
    };
    let legacy_copy = client
        .post("/orders/createorder", &order(12345, "2001-legacy"))
        .await;
    let connect_copy = client
        .post("/orders/createorder", &order(7654321, "2001-connect"))
        .await;
    let legacy_id = legacy_copy["orderId"].as_u64().expect("order ID");
    let connect_id = connect_copy["orderId"].as_u64().expect("order ID");

    // Nothing is at risk yet: both copies are open.
    let first = scenario.migrate(&["scan"]);
    assert_eq!(first.status, 0, "{}", first.stderr);
    assert!(!first.stdout.contains("order 2001 "), "{}", first.stdout);

    // Another Miva Connect order moves the scan's cursor past the unchanged copy of 2001.
    let other = order(7654321, "other-2").replace("\"2001\"", "\"OTHER-2\"");
    client.post("/orders/createorder", &other).await;
    let moved = scenario.migrate(&["scan"]);
    assert_eq!(moved.status, 0, "{}", moved.stderr);

    // The legacy copy ships; the Miva Connect copy does not change.
    client
        .post(
            "/orders/markasshipped",
            &format!(r#"{{"orderId":{legacy_id},"carrierCode":"usps","shipDate":"2026-12-04","trackingNumber":"TRK2001"}}"#),
        )
        .await;
    let second = scenario.migrate(&["scan"]);
    assert_eq!(second.status, 0, "{}", second.stderr);
    assert!(
        second
            .stdout
            .contains(&format!("order 2001 (connect {connect_id})")),
        "{}",
        second.stdout
    );

    let storage = SqliteStorage::open(&scenario.data_dir)
        .await
        .expect("store");
    let record = storage
        .double_ship(connect_id)
        .await
        .expect("query")
        .expect("recorded");
    assert_eq!(record.order_number, "2001");
    assert_eq!(record.legacy_order_id, legacy_id);
}
