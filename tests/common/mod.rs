//! Test harness: the ShipStation sandbox over TLS on port 0, storebridge in front of it with
//! one `mirror` and one `translate` listener, and an HTTPS client trusting the test CA.

#![allow(dead_code)]

pub mod logs;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;
use tokio::sync::watch;

use storebridge::config::{Config, Mode, TlsFiles};
use storebridge::relay::config::RelayConfig;
use storebridge::sandbox::{Sandbox, SandboxOptions};
use storebridge::storage::sqlite::SqliteStorage;
use storebridge::storage::StorageConfig;

pub const LEGACY: u64 = 12345;
pub const CONNECT: u64 = 7654321;

/// A response as the client saw it.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("response is not JSON ({error}): {}", self.text()))
    }
}

/// Settings a test may change before the proxy starts.
pub struct HarnessOptions {
    pub max_body: u64,
    /// Upstream base URL; the sandbox when `None`.
    pub upstream: Option<String>,
    pub request_timeout: Duration,
    pub header_read_timeout: Duration,
    /// Serve `[admin]` on 127.0.0.1:0, with this bearer token if given.
    pub admin: bool,
    pub admin_token: Option<String>,
    pub sandbox_rate_limit: u32,
    pub max_wait: Duration,
    pub drain_timeout: Duration,
    /// Reach the sandbox by this host name, pinned to 127.0.0.1 with `[upstream] resolve`
    /// (the name is added to the test certificate), instead of by its address.
    pub sandbox_host: Option<String>,
    /// Turns the webhook relay on, with its ingress on its own port.
    pub relay: Option<RelayOptions>,
    /// Turns `[guard] double_ship` on, with `[storage] data_dir = "data"`.
    pub double_ship_guard: bool,
    /// The `workers` key; `Some(0)` serves connections on the test's own runtime, which a
    /// test with a paused clock needs.
    pub workers: Option<usize>,
}

/// Relay settings a test may change.
pub struct RelayOptions {
    pub allow_private_targets: bool,
    pub signing_secret: Option<String>,
    pub retry_schedule: Vec<Duration>,
}

impl Default for RelayOptions {
    fn default() -> Self {
        Self {
            allow_private_targets: true,
            signing_secret: None,
            retry_schedule: vec![Duration::from_secs(1)],
        }
    }
}

impl Default for HarnessOptions {
    fn default() -> Self {
        Self {
            max_body: 64 << 20,
            upstream: None,
            request_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            admin: false,
            admin_token: None,
            sandbox_rate_limit: 1000,
            max_wait: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(30),
            sandbox_host: None,
            relay: None,
            double_ship_guard: false,
            workers: None,
        }
    }
}

pub struct Harness {
    pub sandbox: Sandbox,
    pub sandbox_url: String,
    pub mirror_url: String,
    pub translate_url: String,
    pub admin_url: Option<String>,
    pub ca_file: PathBuf,
    /// The config file the proxy was started from and reloads from.
    pub config_path: PathBuf,
    pub folder: PathBuf,
    /// The relay ingress base URL, when the relay is on.
    pub ingress_url: Option<String>,
    pub data_dir: PathBuf,
    /// A second handle on the relay's database, for checks.
    pub storage: Option<SqliteStorage>,
    /// The TLS configuration of the test certificate, for fake receivers.
    pub server_tls: std::sync::Arc<rustls::ServerConfig>,
    pub client: TestClient,
    stop: watch::Sender<bool>,
    proxy: Option<tokio::task::JoinHandle<()>>,
    _folder: tempfile::TempDir,
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with(HarnessOptions::default()).await
    }

    pub async fn start_with(options: HarnessOptions) -> Self {
        let folder = tempfile::tempdir().expect("temporary folder");
        let extra_names: Vec<String> = options.sandbox_host.iter().cloned().collect();
        let certs = storebridge::certs::write_dev_certs(folder.path(), &extra_names)
            .expect("dev certificates");
        let server_tls = storebridge::tls::server_config(&certs.server_cert, &certs.server_key)
            .expect("server TLS");
        let (stop, stop_receiver) = watch::channel(false);

        // The sandbox, standing in for ShipStation.
        let sandbox_options = SandboxOptions {
            webhook_ca_file: Some(certs.ca_cert.clone()),
            rate_limit_per_minute: options.sandbox_rate_limit,
            ..SandboxOptions::default()
        };
        let sandbox = Sandbox::new(sandbox_options).expect("sandbox");
        let sandbox_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind sandbox");
        let sandbox_address = sandbox_listener.local_addr().expect("sandbox address");
        tokio::spawn(sandbox.clone().serve(
            sandbox_listener,
            Some(server_tls.clone()),
            stopped(stop_receiver.clone()),
        ));
        let sandbox_url = format!("https://{sandbox_address}");

        // The proxy, from a config file parsed as `storebridge serve` parses it.
        let upstream = match (&options.upstream, &options.sandbox_host) {
            (Some(upstream), _) => upstream.clone(),
            (None, Some(host)) => format!("https://{host}:{}", sandbox_address.port()),
            (None, None) => sandbox_url.clone(),
        };
        let config_path = folder.path().join("storebridge.toml");
        std::fs::write(
            &config_path,
            config_text(&options, &upstream, LEGACY, CONNECT),
        )
        .expect("write config");
        let mut config = Config::load(&config_path).expect("valid config");

        // The relay is added in memory: its public URLs are known only once sockets are bound.
        let data_dir = folder.path().join("data");
        let mut ingress = None;
        let mut ingress_url = None;
        let mut storage = None;
        if let Some(relay) = &options.relay {
            // Opened before the proxy starts, so the schema exists when the test reads it.
            storage = Some(SqliteStorage::open(&data_dir).await.expect("open store"));
            let socket = TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind ingress");
            let address = socket.local_addr().expect("ingress address");
            ingress_url = Some(format!("https://{address}"));
            ingress = Some(socket);
            config.relay = Some(relay_config(relay, address, &certs));
            config.storage = Some(StorageConfig {
                data_dir: data_dir.clone(),
            });
        }
        let mut bound = storebridge::server::bind(&config)
            .await
            .expect("bind proxy");
        bound.ingress = ingress;
        let addresses: Vec<SocketAddr> = bound.listener_addresses();
        let mirror_url = format!("https://{}", addresses[0]);
        if let Some(relay) = &mut config.relay {
            relay.api_public_url = Some(mirror_url.clone());
        }
        config.validate().expect("valid config");
        let admin_url = bound
            .admin_address()
            .map(|address| format!("http://{address}"));
        let reload_path = config_path.clone();
        let proxy = tokio::spawn(async move {
            storebridge::server::run(config, Some(reload_path), bound, stopped(stop_receiver))
                .await
                .expect("proxy run");
        });

        let client = TestClient::new(&certs.ca_cert, sandbox.basic_auth_header());
        Harness {
            sandbox,
            sandbox_url,
            mirror_url,
            translate_url: format!("https://{}", addresses[1]),
            admin_url,
            ca_file: certs.ca_cert.clone(),
            config_path,
            folder: folder.path().to_owned(),
            ingress_url,
            data_dir,
            storage,
            server_tls,
            client,
            stop,
            proxy: Some(proxy),
            _folder: folder,
        }
    }

    /// Stops the proxy and waits until it has drained.
    pub async fn stop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(proxy) = self.proxy.take() {
            proxy.await.expect("proxy task");
        }
    }

    pub fn url(&self, mode: Mode) -> &str {
        match mode {
            Mode::Mirror => &self.mirror_url,
            Mode::Translate => &self.translate_url,
        }
    }

    pub async fn get(&self, mode: Mode, path: &str) -> Reply {
        self.client
            .send(Method::GET, &format!("{}{path}", self.url(mode)), None, &[])
            .await
    }

    pub async fn post(&self, mode: Mode, path: &str, body: &str) -> Reply {
        self.client
            .send(
                Method::POST,
                &format!("{}{path}", self.url(mode)),
                Some(Bytes::from(body.to_owned())),
                &[("content-type", "application/json")],
            )
            .await
    }

    /// The same request straight to the sandbox, bypassing the proxy.
    pub async fn direct(&self, method: Method, path: &str, body: Option<&str>) -> Reply {
        let headers: &[(&str, &str)] = if body.is_some() {
            &[("content-type", "application/json")]
        } else {
            &[]
        };
        self.client
            .send(
                method,
                &format!("{}{path}", self.sandbox_url),
                body.map(|b| Bytes::from(b.to_owned())),
                headers,
            )
            .await
    }

    /// The requests the sandbox received since the last call, clearing the record.
    pub fn take_requests(&self) -> Vec<storebridge::sandbox::RecordedRequest> {
        let requests = self.sandbox.requests();
        self.sandbox.clear_requests();
        requests
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// The config file text the harness starts the proxy with: a mirror and a translate
/// listener on 127.0.0.1:0 with the test certificates, and one store pair.
pub fn config_text(options: &HarnessOptions, upstream: &str, legacy: u64, connect: u64) -> String {
    let mut text = format!(
        r#"drain_timeout = "{drain}ms"

[[listener]]
bind = "127.0.0.1:0"
mode = "mirror"
header_read_timeout = "{header}ms"
[listener.tls]
cert = "server.crt"
key = "server.key"

[[listener]]
bind = "127.0.0.1:0"
mode = "translate"
header_read_timeout = "{header}ms"
[listener.tls]
cert = "server.crt"
key = "server.key"

[upstream]
v1 = "{upstream}"
ca_file = "ca.crt"
request_timeout = "{request}ms"
{resolve}

[limits]
max_body = {max_body}

[rate_limit]
max_wait = "{max_wait}ms"

[[store]]
legacy = {legacy}
connect = {connect}
"#,
        drain = options.drain_timeout.as_millis(),
        header = options.header_read_timeout.as_millis(),
        request = options.request_timeout.as_millis(),
        max_body = options.max_body,
        max_wait = options.max_wait.as_millis(),
        resolve = resolve_line(options, upstream),
    );
    if let Some(workers) = options.workers {
        text.insert_str(0, &format!("workers = {workers}\n"));
    }
    if options.double_ship_guard {
        text.push_str("\n[storage]\ndata_dir = \"data\"\n\n[guard]\ndouble_ship = true\n");
    }
    if options.admin {
        text.push_str("\n[admin]\nbind = \"127.0.0.1:0\"\n");
        if let Some(token) = &options.admin_token {
            text.push_str(&format!("token = \"{token}\"\n"));
        }
    }
    text
}

/// `resolve = [...]` pinning the sandbox host name to 127.0.0.1, or nothing.
fn resolve_line(options: &HarnessOptions, upstream: &str) -> String {
    let Some(host) = &options.sandbox_host else {
        return String::new();
    };
    let port = upstream.rsplit(':').next().unwrap_or("443");
    format!("resolve = [\"{host}:{port}=127.0.0.1\"]")
}

fn relay_config(
    options: &RelayOptions,
    ingress: SocketAddr,
    certs: &storebridge::certs::DevCertPaths,
) -> RelayConfig {
    let mut text = format!(
        "enabled = true\npublic_url = \"https://{ingress}\"\n\
         dangerous_allow_private_targets = {}\ndelivery_timeout = \"10s\"\n\
         retry_schedule = [{}]\n[ingress]\nbind = \"{ingress}\"\n",
        options.allow_private_targets,
        options
            .retry_schedule
            .iter()
            .map(|delay| format!("\"{}ms\"", delay.as_millis()))
            .collect::<Vec<_>>()
            .join(", "),
    );
    if let Some(secret) = &options.signing_secret {
        text = format!("signing_secret = \"{secret}\"\n{text}");
    }
    let mut config: RelayConfig = toml::from_str(&text).expect("relay config");
    config.ca_file = Some(certs.ca_cert.clone());
    config.ingress.tls = Some(TlsFiles {
        cert: certs.server_cert.clone(),
        key: certs.server_key.clone(),
    });
    config
}

async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// An HTTPS client that trusts the test CA and sends the sandbox's credentials.
pub struct TestClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    pub authorization: String,
}

impl TestClient {
    pub fn new(ca_file: &std::path::Path, authorization: String) -> Self {
        let tls = storebridge::tls::client_config(Some(ca_file)).expect("client TLS");
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            authorization,
        }
    }

    pub async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<Bytes>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(url);
        request = request.header("authorization", &self.authorization);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(body.unwrap_or_default()))
            .expect("request");
        let response = self.client.request(request).await.expect("response");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }
}

/// Decodes a gzip body.
pub fn gunzip(data: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .expect("gzip body");
    out
}

/// Parses the Prometheus exposition into samples: name, labels, value.
fn samples(text: &str) -> Vec<(String, std::collections::BTreeMap<String, String>, f64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample has a value");
        let value: f64 = value.parse().expect("numeric value");
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let labels = rest
                    .trim_end_matches('}')
                    .split(',')
                    .filter(|pair| !pair.is_empty())
                    .map(|pair| {
                        let (key, value) = pair.split_once('=').expect("label pair");
                        (key.to_owned(), value.trim_matches('"').to_owned())
                    })
                    .collect();
                (name.to_owned(), labels)
            }
            None => (series.to_owned(), std::collections::BTreeMap::new()),
        };
        out.push((name, labels, value));
    }
    out
}

/// Sums the samples named `name` whose labels include `labels`.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples(text)
        .into_iter()
        .filter(|(sample, sample_labels, _)| {
            sample == name
                && labels
                    .iter()
                    .all(|(k, v)| sample_labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, value)| value)
        .sum()
}

/// Sends a GET with the sandbox's credentials over HTTP/2 only. Returns the protocol
/// version of the response and the response.
pub async fn get_http2(harness: &Harness, url: &str) -> (http::Version, Reply) {
    let client = raw_client::<Full<Bytes>>(&harness.ca_file, true);
    let request = Request::get(url)
        .header("authorization", &harness.client.authorization)
        .body(Full::new(Bytes::new()))
        .expect("request");
    let response = client.request(request).await.expect("response");
    let version = response.version();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    let reply = Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    };
    (version, reply)
}

/// Builds an HTTPS client trusting the test CA, for tests that need a body type or protocol
/// [`TestClient`] does not offer: HTTP/2 only with `http2`, HTTP/1.1 otherwise.
pub fn raw_client<B>(
    ca_file: &std::path::Path,
    http2: bool,
) -> Client<HttpsConnector<HttpConnector>, B>
where
    B: hyper::body::Body + Send + 'static + Unpin,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let tls = storebridge::tls::client_config(Some(ca_file)).expect("client TLS");
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only();
    let connector = if http2 {
        builder.enable_http2().build()
    } else {
        builder.enable_http1().build()
    };
    let mut client = Client::builder(TokioExecutor::new());
    client.http2_only(http2);
    client.build(connector)
}
