//! Test support for `storebridge migrate`: the sandbox over TLS on port 0, loaded with the
//! migration scenario, a config file pointing at it, and the command run as a process.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use storebridge::sandbox::{Sandbox, SandboxOptions};
use tokio::net::TcpListener;

pub const LEGACY: u64 = 12345;
pub const CONNECT: u64 = 7654321;

/// A running sandbox with the migration scenario and a config file for it.
pub struct Scenario {
    pub sandbox: Sandbox,
    pub sandbox_url: String,
    pub config: PathBuf,
    pub data_dir: PathBuf,
    pub ca_file: PathBuf,
    pub folder: tempfile::TempDir,
}

/// What a finished command printed, and its exit status.
pub struct Finished {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Scenario {
    /// Starts the sandbox with the migration scenario. With `pairs`, the config has the
    /// `[[store]]` pair 12345 -> 7654321; without, the command must propose it.
    pub async fn start(pairs: bool) -> Self {
        let folder = tempfile::tempdir().expect("folder");
        let certs = storebridge::certs::write_dev_certs(folder.path(), &[]).expect("certs");
        let tls =
            storebridge::tls::server_config(&certs.server_cert, &certs.server_key).expect("tls");
        let sandbox = Sandbox::new(SandboxOptions::default()).expect("sandbox");
        sandbox.load_migration_scenario();
        let socket = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let sandbox_url = format!("https://{}", socket.local_addr().expect("address"));
        tokio::spawn(
            sandbox
                .clone()
                .serve(socket, Some(tls), std::future::pending()),
        );
        let data_dir = folder.path().join("data");
        let config = folder.path().join("storebridge.toml");
        std::fs::write(
            &config,
            config_text(&sandbox_url, &certs.ca_cert, &data_dir, pairs),
        )
        .expect("write config");
        Self {
            sandbox,
            sandbox_url,
            config,
            data_dir,
            ca_file: certs.ca_cert.clone(),
            folder,
        }
    }

    /// Runs `storebridge migrate ARGS --config FILE` with the sandbox's credentials in the
    /// environment. The process has no terminal, so no progress bar is drawn.
    pub fn migrate(&self, args: &[&str]) -> Finished {
        let options = self.sandbox.options();
        let output = Command::new(env!("CARGO_BIN_EXE_storebridge"))
            .arg("migrate")
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .env("SHIPSTATION_API_KEY", &options.api_key)
            .env("SHIPSTATION_API_SECRET", &options.api_secret)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run storebridge");
        Finished {
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

fn config_text(sandbox_url: &str, ca: &Path, data_dir: &Path, pairs: bool) -> String {
    let mut text = format!(
        "[[listener]]\nbind = \"127.0.0.1:0\"\n\n[upstream]\nv1 = \"{sandbox_url}\"\n\
         ca_file = \"{}\"\n\n[storage]\ndata_dir = \"{}\"\n",
        ca.display(),
        data_dir.display()
    );
    if pairs {
        text.push_str(&format!(
            "\n[[store]]\nlegacy = {LEGACY}\nconnect = {CONNECT}\n"
        ));
    }
    text
}

/// Reads a golden file under tests/fixtures. With `STOREBRIDGE_UPDATE_FIXTURES=1`, writes
/// `actual` there first, so a reviewed change of the report updates the file.
pub fn fixture(name: &str, actual: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    if std::env::var_os("STOREBRIDGE_UPDATE_FIXTURES").is_some_and(|value| value == "1") {
        std::fs::write(&path, actual).expect("write fixture");
    }
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Calls straight to the sandbox, as the merchant's other tools would.
pub struct DirectClient {
    base: String,
    client: TestClient,
}

#[path = "../common/mod.rs"]
pub mod common;
use common::TestClient;

impl DirectClient {
    pub fn new(scenario: &Scenario) -> Self {
        Self {
            base: scenario.sandbox_url.clone(),
            client: TestClient::new(&scenario.ca_file, scenario.sandbox.basic_auth_header()),
        }
    }

    pub async fn get(&self, path: &str) -> serde_json::Value {
        let reply = self
            .client
            .send(
                http::Method::GET,
                &format!("{}{path}", self.base),
                None,
                &[],
            )
            .await;
        assert!(reply.status.is_success(), "{}", reply.text());
        reply.json()
    }

    pub async fn post(&self, path: &str, body: &str) -> serde_json::Value {
        let reply = self
            .client
            .send(
                http::Method::POST,
                &format!("{}{path}", self.base),
                Some(bytes::Bytes::from(body.to_owned())),
                &[("content-type", "application/json")],
            )
            .await;
        assert!(reply.status.is_success(), "{}", reply.text());
        reply.json()
    }
}
