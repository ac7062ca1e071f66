//! `storebridge migrate webhooks` against the sandbox: the dry run changes nothing, apply
//! moves the legacy hooks, and a second apply creates no duplicates.

#![cfg(unix)]

mod common;
mod relay_support;

use std::path::Path;
use std::process::Command;

use bytes::Bytes;
use http::Method;
use serde_json::{json, Value};

const LEGACY: u64 = 12345;
const CONNECT: u64 = 7654321;
const MANUAL: u64 = 200_001;

struct Setup {
    sandbox_url: String,
    client: common::TestClient,
    config: std::path::PathBuf,
    api_key: String,
    api_secret: String,
    _folder: tempfile::TempDir,
}

async fn setup() -> Setup {
    let folder = tempfile::tempdir().expect("folder");
    let certs = storebridge::certs::write_dev_certs(folder.path(), &[]).expect("certs");
    let tls = storebridge::tls::server_config(&certs.server_cert, &certs.server_key).expect("tls");
    let (sandbox, sandbox_url) = relay_support::start_sandbox(tls).await;
    let options = sandbox.options();
    let (api_key, api_secret) = (options.api_key.clone(), options.api_secret.clone());
    let config = relay_support::write_process_config(folder.path(), &sandbox_url, &certs);
    let client = common::TestClient::new(&certs.ca_cert, sandbox.basic_auth_header());
    Setup {
        sandbox_url,
        client,
        config,
        api_key,
        api_secret,
        _folder: folder,
    }
}

impl Setup {
    async fn subscribe(&self, target: &str, event: &str, store: u64) {
        let body = json!({ "target_url": target, "event": event, "store_id": store });
        let reply = self
            .client
            .send(
                Method::POST,
                &format!("{}/webhooks/subscribe", self.sandbox_url),
                Some(Bytes::from(body.to_string())),
                &[("content-type", "application/json")],
            )
            .await;
        assert!(reply.status.is_success(), "{}", reply.text());
    }

    async fn hooks(&self) -> Vec<Value> {
        let reply = self
            .client
            .send(
                Method::GET,
                &format!("{}/webhooks", self.sandbox_url),
                None,
                &[],
            )
            .await;
        reply.json()["webhooks"].as_array().expect("hooks").clone()
    }

    /// Runs `storebridge migrate webhooks` with the API credentials in the environment.
    fn migrate(&self, extra: &[&str]) -> String {
        let output = Command::new(env!("CARGO_BIN_EXE_storebridge"))
            .args(["migrate", "webhooks", "--config"])
            .arg(&self.config)
            .args(extra)
            .env("SHIPSTATION_API_KEY", &self.api_key)
            .env("SHIPSTATION_API_SECRET", &self.api_secret)
            .output()
            .expect("run migrate webhooks");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }
}

fn stores_of(hooks: &[Value]) -> Vec<u64> {
    let mut stores: Vec<u64> = hooks
        .iter()
        .filter_map(|hook| hook["StoreID"].as_u64())
        .collect();
    stores.sort_unstable();
    stores
}

fn data_dir(config: &Path) -> std::path::PathBuf {
    config.parent().expect("folder").join("data")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_through_relay_dry_run_apply_reapply() {
    let setup = setup().await;
    setup
        .subscribe("https://127.0.0.1:9/orders", "ORDER_NOTIFY", LEGACY)
        .await;
    setup
        .subscribe("https://127.0.0.1:9/ships", "SHIP_NOTIFY", LEGACY)
        .await;
    setup
        .subscribe("https://127.0.0.1:9/manual", "ORDER_NOTIFY", MANUAL)
        .await;

    // The dry run prints the plan and changes nothing.
    let plan = setup.migrate(&[]);
    assert_eq!(
        plan.matches("re-create through the relay").count(),
        2,
        "{plan}"
    );
    assert!(plan.contains("dry run: nothing changed"), "{plan}");
    assert_eq!(
        stores_of(&setup.hooks().await),
        vec![LEGACY, LEGACY, MANUAL]
    );

    // Apply: the legacy hooks become relay hooks on the connect store.
    let applied = setup.migrate(&["--apply"]);
    assert_eq!(applied.matches("unsubscribed").count(), 2, "{applied}");
    let hooks = setup.hooks().await;
    assert_eq!(stores_of(&hooks), vec![MANUAL, CONNECT, CONNECT]);
    for hook in hooks
        .iter()
        .filter(|hook| hook["StoreID"] == json!(CONNECT))
    {
        let url = hook["Url"].as_str().expect("url");
        assert!(url.starts_with("https://127.0.0.1:1/hooks/"), "{url}");
    }
    let storage = storebridge::storage::sqlite::SqliteStorage::open(&data_dir(&setup.config))
        .await
        .expect("store");
    let subscriptions = storebridge::storage::Storage::subscriptions(&storage)
        .await
        .expect("subscriptions");
    let targets: Vec<&str> = subscriptions
        .iter()
        .map(|s| s.target_url.as_str())
        .collect();
    assert_eq!(
        targets,
        vec!["https://127.0.0.1:9/orders", "https://127.0.0.1:9/ships"]
    );

    // A second apply finds nothing to move and creates nothing.
    let again = setup.migrate(&["--apply"]);
    assert!(again.contains("nothing to migrate"), "{again}");
    assert_eq!(setup.hooks().await.len(), 3);
    let subscriptions = storebridge::storage::Storage::subscriptions(&storage)
        .await
        .expect("subscriptions");
    assert_eq!(subscriptions.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_direct_subscribes_connect_store() {
    let setup = setup().await;
    setup
        .subscribe("https://127.0.0.1:9/orders", "ORDER_NOTIFY", LEGACY)
        .await;

    let applied = setup.migrate(&["--direct", "--apply"]);
    assert!(applied.contains("subscribed as hook"), "{applied}");
    let hooks = setup.hooks().await;
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0]["StoreID"], json!(CONNECT));
    assert_eq!(hooks[0]["Url"], json!("https://127.0.0.1:9/orders"));

    let again = setup.migrate(&["--direct", "--apply"]);
    assert!(again.contains("nothing to migrate"), "{again}");
    assert_eq!(setup.hooks().await.len(), 1);
}

#[test]
fn migrate_requires_credentials_from_environment() {
    let folder = tempfile::tempdir().expect("folder");
    let config = folder.path().join("storebridge.toml");
    std::fs::write(
        &config,
        "[[listener]]\nbind = \"127.0.0.1:0\"\n[upstream]\n[[store]]\nlegacy = 1\nconnect = 2\n",
    )
    .expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_storebridge"))
        .args(["migrate", "webhooks", "--direct", "--config"])
        .arg(&config)
        .env_remove("SHIPSTATION_API_KEY")
        .env_remove("SHIPSTATION_API_SECRET")
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("SHIPSTATION_API_KEY is not set"),
        "{stderr}"
    );
}
