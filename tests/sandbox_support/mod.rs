//! Shared set-up for the sandbox tests: a sandbox served over real TLS on a loopback port,
//! an HTTPS client trusting the test CA, and a fake webhook receiver.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use storebridge::listener::{self, ConnectionLimits};
use storebridge::sandbox::{Sandbox, SandboxOptions};
use storebridge::{certs, tls};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A response with its body read.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "response body is not JSON ({error}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

/// A sandbox served over TLS on 127.0.0.1, stopped when dropped.
pub struct Harness {
    pub sandbox: Sandbox,
    pub base_url: String,
    pub client: HttpsClient,
    pub server_tls: Arc<rustls::ServerConfig>,
    pub ca_file: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// Starts a sandbox with `options`; the webhook CA is set to the test CA.
    pub async fn start(mut options: SandboxOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let paths = certs::write_dev_certs(dir.path(), &[]).unwrap();
        let server_tls = tls::server_config(&paths.server_cert, &paths.server_key).unwrap();
        options.webhook_ca_file = Some(paths.ca_cert.clone());

        let sandbox = Sandbox::new(options).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(sandbox.clone().serve(
            listener,
            Some(server_tls.clone()),
            async move {
                let _ = stopped.await;
            },
        ));

        Self {
            sandbox,
            base_url: format!("https://127.0.0.1:{port}"),
            client: https_client(&paths.ca_cert),
            server_tls,
            ca_file: paths.ca_cert,
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    pub async fn default() -> Self {
        Self::start(SandboxOptions::default()).await
    }

    /// Sends an authorized request with an optional JSON body.
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base_url))
            .header("authorization", self.sandbox.basic_auth_header());
        let bytes = match body {
            Some(value) => {
                builder = builder.header("content-type", "application/json");
                Bytes::from(serde_json::to_vec(value).unwrap())
            }
            None => Bytes::new(),
        };
        self.send(builder.body(Full::new(bytes)).unwrap()).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }

    /// Sends a request as built by the caller.
    pub async fn send(&self, request: Request<Full<Bytes>>) -> Reply {
        read(self.client.request(request).await.unwrap()).await
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn read(response: Response<Incoming>) -> Reply {
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

pub fn https_client(ca_file: &std::path::Path) -> HttpsClient {
    let config = tls::client_config(Some(ca_file)).unwrap();
    let connector = HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .build();
    Client::builder(TokioExecutor::new()).build(connector)
}

/// One POST the fake webhook receiver got.
#[derive(Debug)]
pub struct Received {
    pub path: String,
    pub body: Value,
}

/// A fake HTTPS webhook receiver on 127.0.0.1 that responds with 200 and forwards every request
/// it gets to `received`.
pub struct Receiver {
    pub base_url: String,
    pub received: mpsc::UnboundedReceiver<Received>,
    stop: Option<oneshot::Sender<()>>,
}

impl Receiver {
    pub async fn start(server_tls: Arc<rustls::ServerConfig>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (sender, received) = mpsc::unbounded_channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let service = move |request: Request<Incoming>| {
            let sender = sender.clone();
            async move {
                let path = request.uri().path().to_owned();
                let bytes = request.into_body().collect().await.unwrap().to_bytes();
                let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let _ = sender.send(Received { path, body });
                Response::new(Full::new(Bytes::from_static(b"ok")))
            }
        };
        tokio::spawn(listener::serve(
            listener,
            Some(server_tls),
            ConnectionLimits::default(),
            service,
            async move {
                let _ = stopped.await;
            },
        ));
        Self {
            base_url: format!("https://localhost:{port}"),
            received,
            stop: Some(stop),
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Builds a minimal valid order body for `createorder`.
pub fn order_body(order_key: &str, status: &str, store_id: Option<u64>) -> Value {
    let mut body = serde_json::json!({
        "orderNumber": format!("T-{order_key}"),
        "orderKey": order_key,
        "orderDate": "2026-11-04 10:30:00",
        "orderStatus": status,
        "billTo": { "name": "Test Buyer" },
        "shipTo": {
            "name": "Test Buyer",
            "street1": "1 Main St",
            "city": "Austin",
            "state": "TX",
            "postalCode": "78701",
            "country": "US"
        },
        "items": [{ "sku": "SKU-1", "name": "Widget", "quantity": 1, "unitPrice": 5.0 }]
    });
    if let Some(store_id) = store_id {
        body["advancedOptions"] = serde_json::json!({ "storeId": store_id });
    }
    body
}
