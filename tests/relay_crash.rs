//! Crash safety: storebridge runs as its own process, accepts events, and is killed with
//! SIGKILL while their deliveries are in flight. After a restart every accepted event is
//! delivered, with the webhook-id it had before.

#![cfg(unix)]

mod relay_support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use relay_support::{Answer, Receiver};
use serde_json::{json, Value};

mod common;

const EVENT_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `storebridge serve` and the addresses it logged.
struct Process {
    child: Child,
    mirror_url: String,
    ingress_url: String,
}

/// Starts `storebridge serve` and waits for its listener and ingress addresses.
fn start_process(config: &Path) -> Process {
    let mut child = Command::new(env!("CARGO_BIN_EXE_storebridge"))
        .args(["--log-format", "json", "serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start storebridge");
    let stderr = child.stderr.take().expect("stderr");
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let (mut mirror_url, mut ingress_url) = (None, None);
    while mirror_url.is_none() || ingress_url.is_none() {
        let line = lines
            .recv_timeout(EVENT_TIMEOUT)
            .expect("storebridge logged its addresses");
        let Ok(entry) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let address = entry["address"].as_str().unwrap_or("");
        let address = address.trim_start_matches("Some(").trim_end_matches(')');
        match entry["message"].as_str() {
            Some("listening") => mirror_url = Some(format!("https://{address}")),
            Some("relay ingress listening") => ingress_url = Some(format!("https://{address}")),
            Some(_) | None => {}
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Process {
        child,
        mirror_url: mirror_url.expect("mirror"),
        ingress_url: ingress_url.expect("ingress"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_process_delivers_after_restart() {
    let folder = tempfile::tempdir().expect("folder");
    let certs = storebridge::certs::write_dev_certs(folder.path(), &[]).expect("certs");
    let tls = storebridge::tls::server_config(&certs.server_cert, &certs.server_key).expect("tls");

    // The sandbox and the receiver run in this test; storebridge runs as its own process.
    let (sandbox, sandbox_url) = relay_support::start_sandbox(tls.clone()).await;
    let mut receiver = Receiver::start(Some(tls), vec![], Answer::Hold).await;
    let config = relay_support::write_process_config(folder.path(), &sandbox_url, &certs);
    let client = common::TestClient::new(&certs.ca_cert, sandbox.basic_auth_header());

    // Subscribe through the process, then read the ingress path ShipStation was given.
    let mut first = start_process(&config);
    let body = json!({ "target_url": receiver.url, "event": "ORDER_NOTIFY", "store_id": 12345 });
    let subscribed = client
        .send(
            Method::POST,
            &format!("{}/webhooks/subscribe", first.mirror_url),
            Some(Bytes::from(body.to_string())),
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!(subscribed.status, StatusCode::OK, "{}", subscribed.text());
    let hooks = client
        .send(Method::GET, &format!("{sandbox_url}/webhooks"), None, &[])
        .await
        .json();
    let hook_url = hooks["webhooks"][0]["Url"].as_str().expect("hook url");
    let hook_path = hook_url
        .strip_prefix("https://127.0.0.1:1")
        .expect("ingress path")
        .to_owned();

    // Three events are accepted; their deliveries hang at the receiver.
    for batch in ["a", "b", "c"] {
        let event = json!({ "resource_url": format!("{sandbox_url}/orders?storeID=7654321&importBatch={batch}"), "resource_type": "ORDER_NOTIFY" });
        let accepted = client
            .send(
                Method::POST,
                &format!("{}{hook_path}", first.ingress_url),
                Some(Bytes::from(event.to_string())),
                &[],
            )
            .await;
        assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text());
    }
    let mut in_flight = BTreeSet::new();
    for _ in 0..3 {
        let received = receiver.next(EVENT_TIMEOUT).await;
        in_flight.insert(received.header("webhook-id").to_owned());
    }
    assert_eq!(in_flight.len(), 3);

    // SIGKILL before any delivery completed.
    first.child.kill().expect("kill -9");
    first.child.wait().expect("reap");
    receiver.set_fallback(Answer::Status(200));
    receiver.release();

    // After a restart, each accepted event arrives again with its webhook-id.
    let mut second = start_process(&config);
    let mut delivered = BTreeSet::new();
    while delivered.len() < 3 {
        let received = receiver.next(EVENT_TIMEOUT).await;
        let id = received.header("webhook-id").to_owned();
        assert!(in_flight.contains(&id), "unknown event {id}");
        let url = received.json()["resource_url"]
            .as_str()
            .expect("url")
            .to_owned();
        assert!(url.contains("storeID=12345"), "{url}");
        delivered.insert(id);
    }
    assert_eq!(delivered, in_flight);

    // A graceful stop waits for attempts in flight to be recorded; then the command line
    // reports every event delivered.
    let terminated = Command::new("kill")
        .args(["-TERM", &second.child.id().to_string()])
        .status()
        .expect("send SIGTERM");
    assert!(terminated.success());
    let status = second.child.wait().expect("wait for storebridge");
    assert!(status.success(), "exit status {status}");
    let listing = relay_command(&config, &["deliveries"]);
    assert_eq!(listing.matches("\tdelivered\t").count(), 3, "{listing}");
    for id in &in_flight {
        assert!(listing.contains(id.as_str()), "{id} listed: {listing}");
    }

    // The other relay commands, on the same store.
    let subscriptions = relay_command(&config, &["subscriptions"]);
    assert!(
        subscriptions.contains("\tactive\tmirror\tORDER_NOTIFY\t12345->7654321\t"),
        "{subscriptions}"
    );
    assert!(subscriptions.contains(&receiver.url), "{subscriptions}");
    assert!(relay_command(&config, &["replay", "--dead"]).contains("0 dead letter(s)"));
    assert!(relay_command(&config, &["replay", "1"]).contains("event 1 queued"));
    let failed = relay_command(&config, &["deliveries", "--status", "failed"]);
    assert_eq!(failed.lines().count(), 1, "only the header: {failed}");
    let missing = Command::new(env!("CARGO_BIN_EXE_storebridge"))
        .args(["relay", "replay", "999", "--config"])
        .arg(&config)
        .output()
        .expect("run relay replay");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("event 999 not found"));
}

/// Runs `storebridge relay ARGS --config CONFIG` and returns its standard output.
fn relay_command(config: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_storebridge"))
        .arg("relay")
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("run relay command");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
