//! A fake webhook receiver over TLS on port 0: answers with scripted statuses and reports
//! every request it gets on a channel.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use storebridge::listener::{self, ConnectionLimits};
use storebridge::sandbox::{Sandbox, SandboxOptions};

/// How the receiver answers one request.
#[derive(Clone, Debug)]
pub enum Answer {
    Status(u16),
    /// A status with `Retry-After` in seconds.
    RetryAfter(u16, u64),
    /// Holds the request open until [`Receiver::release`], then answers 200.
    Hold,
}

/// A request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

struct Script {
    queued: Mutex<VecDeque<Answer>>,
    fallback: Mutex<Answer>,
    released: watch::Sender<bool>,
}

pub struct Receiver {
    pub url: String,
    pub requests: mpsc::UnboundedReceiver<Received>,
    script: Arc<Script>,
}

impl Receiver {
    /// Starts a receiver; requests are answered from `queued`, then with `fallback`.
    pub async fn start(
        tls: Option<Arc<rustls::ServerConfig>>,
        queued: Vec<Answer>,
        fallback: Answer,
    ) -> Self {
        let socket = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let address = socket.local_addr().expect("address");
        let scheme = if tls.is_some() { "https" } else { "http" };
        let (sender, requests) = mpsc::unbounded_channel();
        let script = Arc::new(Script {
            queued: Mutex::new(queued.into()),
            fallback: Mutex::new(fallback),
            released: watch::channel(false).0,
        });
        let service_script = script.clone();
        tokio::spawn(listener::serve(
            socket,
            tls,
            ConnectionLimits::default(),
            move |request| answer(service_script.clone(), sender.clone(), request),
            std::future::pending::<()>(),
        ));
        Self {
            url: format!("{scheme}://{address}/hook"),
            requests,
            script,
        }
    }

    pub fn set_fallback(&self, answer: Answer) {
        *self.script.fallback.lock().expect("lock") = answer;
    }

    /// Lets held requests answer 200.
    pub fn release(&self) {
        let _ = self.script.released.send(true);
    }

    /// Waits for the next request, failing the test after `limit`.
    pub async fn next(&mut self, limit: Duration) -> Received {
        tokio::time::timeout(limit, self.requests.recv())
            .await
            .expect("the receiver got no request in time")
            .expect("receiver channel open")
    }

    /// Fails the test when a request arrives within `window`.
    pub async fn expect_quiet(&mut self, window: Duration) {
        let arrived = tokio::time::timeout(window, self.requests.recv()).await;
        if let Ok(Some(request)) = arrived {
            panic!("unexpected request within {window:?}: {request:?}");
        }
    }
}

async fn answer(
    script: Arc<Script>,
    sender: mpsc::UnboundedSender<Received>,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let answer = {
        let queued = script.queued.lock().expect("lock").pop_front();
        queued.unwrap_or_else(|| script.fallback.lock().expect("lock").clone())
    };
    let _ = sender.send(Received {
        path,
        headers: parts.headers,
        body,
    });
    let mut response = Response::new(Full::new(Bytes::new()));
    match answer {
        Answer::Status(status) => {
            *response.status_mut() = StatusCode::from_u16(status).expect("status")
        }
        Answer::RetryAfter(status, seconds) => {
            *response.status_mut() = StatusCode::from_u16(status).expect("status");
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, seconds.into());
        }
        Answer::Hold => {
            let mut released = script.released.subscribe();
            let _ = released.wait_for(|released| *released).await;
        }
    }
    response
}

/// Folder of the Python virtual environment with the `standardwebhooks` package.
/// `.ci/run` creates it beforehand; a test creates it on first use when it is missing.
const VENV: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/standardwebhooks-venv");

/// Verifies a delivery's signature with the Python `standardwebhooks` package, an
/// implementation of Standard Webhooks that is not storebridge's. Returns the payload the
/// package parsed, as JSON text.
pub fn verify_with_standardwebhooks(secret: &str, received: &Received) -> String {
    let python = std::path::Path::new(VENV).join("bin/python");
    if !python.exists() {
        let created = std::process::Command::new("python3")
            .args(["-m", "venv", VENV])
            .status()
            .expect("run python3 -m venv");
        assert!(created.success(), "creating {VENV} failed");
        let installed = std::process::Command::new(std::path::Path::new(VENV).join("bin/pip"))
            .args(["install", "--quiet", "standardwebhooks"])
            .status()
            .expect("run pip");
        assert!(installed.success(), "pip install standardwebhooks failed");
    }
    let headers: serde_json::Map<String, serde_json::Value> =
        ["webhook-id", "webhook-timestamp", "webhook-signature"]
            .iter()
            .map(|name| {
                (
                    name.to_string(),
                    serde_json::Value::from(received.header(name)),
                )
            })
            .collect();
    let script = "import json, sys\n\
        from standardwebhooks.webhooks import Webhook\n\
        secret, headers = sys.argv[1], json.loads(sys.argv[2])\n\
        payload = Webhook(secret).verify(sys.stdin.buffer.read(), headers)\n\
        print(json.dumps(payload))\n";
    let mut child = std::process::Command::new(&python)
        .args([
            "-c",
            script,
            secret,
            &serde_json::Value::Object(headers).to_string(),
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(&received.body).expect("write body");
    }
    let output = child.wait_with_output().expect("python output");
    assert!(
        output.status.success(),
        "standardwebhooks rejected the signature: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Writes a config for a `storebridge` process: one mirror listener, the sandbox at
/// `sandbox_url` upstream, the relay on with its ingress on port 0, and a data folder.
pub fn write_process_config(
    folder: &Path,
    sandbox_url: &str,
    certs: &storebridge::certs::DevCertPaths,
) -> std::path::PathBuf {
    let (cert, key, ca) = (
        certs.server_cert.display(),
        certs.server_key.display(),
        certs.ca_cert.display(),
    );
    let text = format!(
        r#"
[[listener]]
bind = "127.0.0.1:0"
[listener.tls]
cert = "{cert}"
key = "{key}"

[upstream]
v1 = "{sandbox_url}"
ca_file = "{ca}"

[[store]]
legacy = 12345
connect = 7654321

[relay]
enabled = true
# Never contacted: the test posts to the ingress address the process logs.
public_url = "https://127.0.0.1:1"
retry_schedule = ["1s"]
delivery_timeout = "60s"
ca_file = "{ca}"
dangerous_allow_private_targets = true
[relay.ingress]
bind = "127.0.0.1:0"
[relay.ingress.tls]
cert = "{cert}"
key = "{key}"

[storage]
data_dir = "data"
"#
    );
    let path = folder.join("storebridge.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// Starts the ShipStation sandbox over TLS on port 0 and returns it with its base URL.
pub async fn start_sandbox(tls: Arc<rustls::ServerConfig>) -> (Sandbox, String) {
    let sandbox = Sandbox::new(SandboxOptions::default()).expect("sandbox");
    let socket = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind sandbox");
    let url = format!("https://{}", socket.local_addr().expect("address"));
    tokio::spawn(
        sandbox
            .clone()
            .serve(socket, Some(tls), std::future::pending()),
    );
    (sandbox, url)
}
