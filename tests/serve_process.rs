//! `storebridge serve` as a separate process, driven by signals as an init system or
//! Kubernetes would: SIGHUP reloads the config file, SIGTERM drains and exits 0.

#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{TestClient, CONNECT, LEGACY};
use http::Method;
use storebridge::sandbox::{Sandbox, SandboxOptions};

/// Log events from the child's JSON log, one per line, read on a thread of their own.
fn log_events(child: &mut Child) -> mpsc::Receiver<serde_json::Value> {
    let stderr = child.stderr.take().expect("stderr");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) {
                if sender.send(event).is_err() {
                    break;
                }
            }
        }
    });
    receiver
}

/// Waits for the next event with this message; the timeout only bounds a broken run.
fn wait_for(events: &mpsc::Receiver<serde_json::Value>, message: &str) -> serde_json::Value {
    loop {
        let event = events
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|error| panic!("no {message:?} event: {error}"));
        if event["message"] == message {
            return event;
        }
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_reloads_on_sighup_and_drains_on_sigterm() {
    let folder = tempfile::tempdir().expect("folder");
    let certs = storebridge::certs::write_dev_certs(folder.path(), &[]).expect("certificates");
    let tls = storebridge::tls::server_config(&certs.server_cert, &certs.server_key).expect("tls");

    let sandbox = Sandbox::new(SandboxOptions::default()).expect("sandbox");
    let sandbox_socket = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let sandbox_address = sandbox_socket.local_addr().expect("address");
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(
        sandbox
            .clone()
            .serve(sandbox_socket, Some(tls), async move {
                let _ = stopped.await;
            }),
    );

    let config_path = folder.path().join("storebridge.toml");
    let config = format!(
        "[[listener]]\nbind = \"127.0.0.1:0\"\n[listener.tls]\ncert = \"server.crt\"\nkey = \"server.key\"\n\
         [upstream]\nv1 = \"https://{sandbox_address}\"\nca_file = \"ca.crt\"\n\
         [admin]\nbind = \"127.0.0.1:0\"\n[[store]]\nlegacy = {LEGACY}\nconnect = {CONNECT}\n"
    );
    std::fs::write(&config_path, &config).expect("config");

    let mut child = Command::new(env!("CARGO_BIN_EXE_storebridge"))
        .args(["--log-format", "json", "serve", "--config"])
        .arg(&config_path)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start serve");
    let events = log_events(&mut child);
    let listening = wait_for(&events, "listening");
    let proxy_address = listening["address"].as_str().expect("address").to_owned();
    let admin = wait_for(&events, "admin listening");
    let admin_address = admin["address"].as_str().expect("address").to_owned();

    let client = TestClient::new(&certs.ca_cert, sandbox.basic_auth_header());
    let reply = client
        .send(
            Method::GET,
            &format!("https://{proxy_address}/stores/{LEGACY}"),
            None,
            &[],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["storeId"], LEGACY);

    // SIGHUP applies a new mapping.
    std::fs::write(
        &config_path,
        config.replace(&format!("connect = {CONNECT}"), "connect = 200001"),
    )
    .expect("config");
    signal(&child, "HUP");
    wait_for(&events, "configuration reloaded");
    let stores = client
        .send(
            Method::GET,
            &format!("http://{admin_address}/admin/stores"),
            None,
            &[],
        )
        .await;
    assert_eq!(stores.json()["stores"][0]["connect"], 200001);
    sandbox.clear_requests();
    let reply = client
        .send(
            Method::GET,
            &format!("https://{proxy_address}/stores/{LEGACY}"),
            None,
            &[],
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(sandbox.requests()[0].path_and_query, "/stores/200001");

    // SIGTERM drains and exits 0.
    signal(&child, "TERM");
    wait_for(&events, "stopped");
    let status = child.wait().expect("wait");
    assert!(status.success(), "exit status {status}");
}
