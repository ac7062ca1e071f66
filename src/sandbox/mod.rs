//! An in-process simulator of the ShipStation V1 API, for tests and `storebridge demo`.
//!
//! It covers stores, orders, shipments, labels and webhooks with the behaviour V1
//! documents: Basic auth, the per-minute rate limit and its headers, ASP.NET-style error
//! bodies, gzip, and webhook POSTs to subscribers. It records every request it receives
//! (without the credentials) so tests can check what a proxy sent upstream.
//!
//! The sandbox only POSTs webhooks to loopback hosts unless
//! [`SandboxOptions::allow_non_loopback_webhooks`] is set.

mod dates;
mod edits;
mod encoding;
mod errors;
mod labels;
mod model;
mod orders;
mod ratelimit;
mod reply;
mod routes;
mod scenario;
mod seed;
mod shipments;
mod state;
mod stores;
mod webhooks;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use base64::Engine;
use bytes::Bytes;
use http::header::{AUTHORIZATION, HOST};
use http::request::Parts;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::listener::{self, ConnectionLimits};
use crate::tls::TlsError;
use encoding::{accepts_gzip, decode_request_body, DecodeError, MAX_BODY_BYTES};
use ratelimit::RateLimiter;
use reply::Reply;
use routes::{Call, Outgoing, Query};
use state::State;
use webhooks::DeliveryClient;

pub use scenario::ASSIGNED_USER;
pub use webhooks::WebhookDelivery;

/// Request headers kept in [`RecordedRequest::headers`]. `Authorization` is never kept.
const RECORDED_HEADERS: [&str; 11] = [
    "host",
    "via",
    "x-partner",
    "user-agent",
    "content-type",
    "content-encoding",
    "accept-encoding",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
];

/// Capacity of the delivery broadcast; a receiver that falls further behind loses the
/// oldest deliveries (`RecvError::Lagged`).
const DELIVERY_CHANNEL_CAPACITY: usize = 256;

/// Settings of a sandbox.
#[derive(Clone, Debug)]
pub struct SandboxOptions {
    /// The API key clients must send as the Basic auth user name.
    pub api_key: String,
    /// The API secret clients must send as the Basic auth password.
    pub api_secret: String,
    /// Requests allowed per one-minute window (V1 default: 40).
    pub rate_limit_per_minute: u32,
    /// ID of the seeded, deactivated legacy Miva store.
    pub legacy_store_id: u64,
    /// ID of the seeded Miva Connect store.
    pub connect_store_id: u64,
    /// ID of the seeded manual store.
    pub manual_store_id: u64,
    /// Base URL put into webhook `resource_url` values and 404 messages. When `None`,
    /// [`Sandbox::serve`] uses the address it is served on.
    pub public_base_url: Option<String>,
    /// PEM file of an extra CA to trust when delivering webhooks over HTTPS.
    pub webhook_ca_file: Option<PathBuf>,
    /// Deliver webhooks to hosts other than loopback. Off by default so that the sandbox
    /// never sends requests off the machine.
    pub allow_non_loopback_webhooks: bool,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            api_key: "sandbox-key".into(),
            api_secret: "sandbox-secret".into(),
            rate_limit_per_minute: 40,
            legacy_store_id: 12_345,
            connect_store_id: 7_654_321,
            manual_store_id: 200_001,
            public_base_url: None,
            webhook_ca_file: None,
            allow_non_loopback_webhooks: false,
        }
    }
}

/// Errors creating a sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot set up webhook delivery: {0}")]
    WebhookTls(#[from] TlsError),
    #[error(
        "the legacy, Connect and manual store IDs must differ, but got {legacy}, {connect} and {manual}"
    )]
    DuplicateStoreIds {
        legacy: u64,
        connect: u64,
        manual: u64,
    },
}

/// A request the sandbox received.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path_and_query: String,
    /// The body after removing any gzip content coding (as received if decoding failed).
    pub body: Vec<u8>,
    /// Selected headers, names in lowercase; see `RECORDED_HEADERS`. For HTTP/2 requests
    /// the `:authority` is recorded as `host`.
    pub headers: Vec<(String, String)>,
    /// Whether the request carried the sandbox's credentials.
    pub authorized: bool,
}

impl RecordedRequest {
    /// Returns the first recorded value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// A running simulator. Clones share the same state.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

struct Inner {
    options: SandboxOptions,
    state: Mutex<State>,
    limiter: Mutex<RateLimiter>,
    requests: Mutex<Vec<RecordedRequest>>,
    deliveries: Mutex<Vec<WebhookDelivery>>,
    served_base_url: RwLock<Option<String>>,
    delivery_sender: broadcast::Sender<WebhookDelivery>,
    client: DeliveryClient,
}

/// Locks a mutex, carrying on after a panic in another holder: every update of the
/// sandbox's state is complete before any call that could panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Sandbox {
    /// Creates a sandbox with the seed data for `options`.
    pub fn new(options: SandboxOptions) -> Result<Self, SandboxError> {
        let ids = [
            options.legacy_store_id,
            options.connect_store_id,
            options.manual_store_id,
        ];
        if ids[0] == ids[1] || ids[0] == ids[2] || ids[1] == ids[2] {
            return Err(SandboxError::DuplicateStoreIds {
                legacy: ids[0],
                connect: ids[1],
                manual: ids[2],
            });
        }
        let client = webhooks::build_client(options.webhook_ca_file.as_deref())?;
        let (delivery_sender, _) = broadcast::channel(DELIVERY_CHANNEL_CAPACITY);
        let inner = Inner {
            state: Mutex::new(seed::seed_state(&options)),
            limiter: Mutex::new(RateLimiter::new(options.rate_limit_per_minute)),
            requests: Mutex::new(Vec::new()),
            deliveries: Mutex::new(Vec::new()),
            served_base_url: RwLock::new(None),
            delivery_sender,
            client,
            options,
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Serves the sandbox on `listener` (with TLS when `tls` is given) until `shutdown`
    /// resolves. Unless the options set a public base URL, webhook `resource_url` values
    /// point at the listener's address.
    pub async fn serve(
        self,
        listener: TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        shutdown: impl Future<Output = ()>,
    ) {
        match listener.local_addr() {
            Ok(address) => {
                let scheme = if tls.is_some() { "https" } else { "http" };
                let host = match address.ip() {
                    IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
                    IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
                    ip => ip,
                };
                let authority = match host {
                    IpAddr::V4(ip) => format!("{ip}:{}", address.port()),
                    IpAddr::V6(ip) => format!("[{ip}]:{}", address.port()),
                };
                let base = format!("{scheme}://{authority}");
                tracing::info!(%base, "sandbox listening");
                *self
                    .inner
                    .served_base_url
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(base);
            }
            Err(error) => tracing::warn!(%error, "cannot read the sandbox listener's address"),
        }
        let sandbox = self.clone();
        let service = move |request: Request<Incoming>| {
            let sandbox = sandbox.clone();
            async move { sandbox.handle(request).await }
        };
        listener::serve(
            listener,
            tls,
            ConnectionLimits::default(),
            service,
            shutdown,
        )
        .await;
        tracing::info!("sandbox stopped");
    }

    /// Returns the base URL used in `resource_url` values: the configured one, else the
    /// address [`Sandbox::serve`] was given, else `None`.
    pub fn base_url(&self) -> Option<String> {
        self.inner.options.public_base_url.clone().or_else(|| {
            self.inner
                .served_base_url
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        })
    }

    /// Handles one request: records it, checks the credentials and the rate limit, and
    /// routes it.
    pub async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        match Limited::new(body, MAX_BODY_BYTES).collect().await {
            Ok(collected) => self.respond(&parts, &collected.to_bytes()),
            Err(error) => {
                tracing::debug!(%error, uri = %parts.uri, "cannot read the request body");
                let authorized = self.is_authorized(&parts.headers);
                self.record(&parts, Vec::new(), authorized);
                let too_large = error
                    .downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some();
                let reply = if too_large {
                    Reply::json(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        json!({ "Message": format!("The request body exceeds {MAX_BODY_BYTES} bytes.") }),
                    )
                } else {
                    errors::bad_request(format!("The request body could not be read: {error}"))
                };
                reply.into_response(None, false)
            }
        }
    }

    fn respond(&self, parts: &Parts, raw: &[u8]) -> Response<Full<Bytes>> {
        let gzip_accepted = accepts_gzip(&parts.headers);
        let authorized = self.is_authorized(&parts.headers);
        let decoded = decode_request_body(&parts.headers, raw);
        let recorded_body = decoded.as_ref().map_or_else(|_| raw.to_vec(), Clone::clone);
        self.record(parts, recorded_body, authorized);

        // Unauthenticated requests belong to no credential, so they get no rate-limit
        // window or headers.
        if !authorized {
            return errors::unauthorized().into_response(None, gzip_accepted);
        }
        let decision = lock(&self.inner.limiter).check(Instant::now());
        if !decision.allowed {
            return errors::too_many_requests().into_response(Some(&decision), gzip_accepted);
        }
        let body = match decoded {
            Ok(body) => body,
            Err(error) => {
                let reply = match error {
                    DecodeError::Unsupported(coding) => Reply::json(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        json!({ "Message": format!("The Content-Encoding '{coding}' is not supported; send gzip or identity.") }),
                    ),
                    DecodeError::Corrupt => {
                        errors::bad_request("The request body is not valid gzip.")
                    }
                    DecodeError::TooLarge => Reply::json(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        json!({ "Message": format!("The decoded request body exceeds {MAX_BODY_BYTES} bytes.") }),
                    ),
                };
                return reply.into_response(Some(&decision), gzip_accepted);
            }
        };

        let base_url = self
            .base_url()
            .or_else(|| host_of(parts).map(|host| format!("http://{host}")))
            .unwrap_or_else(|| "http://127.0.0.1".to_owned());
        let mut call = Call {
            method: &parts.method,
            uri: &parts.uri,
            query: Query::parse(&parts.uri),
            body: &body,
            base_url: &base_url,
            outgoing: Vec::new(),
        };
        let reply = {
            let mut state = lock(&self.inner.state);
            routes::dispatch(&mut call, &mut state)
        };
        for outgoing in call.outgoing {
            self.spawn_delivery(outgoing);
        }
        reply.into_response(Some(&decision), gzip_accepted)
    }

    fn is_authorized(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
        else {
            return false;
        };
        let Some((scheme, encoded)) = value.trim().split_once(' ') else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return false;
        }
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let expected = format!(
            "{}:{}",
            self.inner.options.api_key, self.inner.options.api_secret
        );
        decoded == expected.as_bytes()
    }

    fn record(&self, parts: &Parts, body: Vec<u8>, authorized: bool) {
        let mut headers: Vec<(String, String)> = parts
            .headers
            .iter()
            .filter(|(name, _)| RECORDED_HEADERS.contains(&name.as_str()))
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        if !parts.headers.contains_key(HOST) {
            if let Some(authority) = parts.uri.authority() {
                headers.push(("host".to_owned(), authority.as_str().to_owned()));
            }
        }
        let path_and_query = parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |value| value.as_str().to_owned());
        lock(&self.inner.requests).push(RecordedRequest {
            method: parts.method.as_str().to_owned(),
            path_and_query,
            body,
            headers,
            authorized,
        });
    }

    fn spawn_delivery(&self, outgoing: Outgoing) {
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let allow = inner.options.allow_non_loopback_webhooks;
            let delivery = webhooks::deliver(&inner.client, outgoing, allow).await;
            match (&delivery.status, &delivery.error) {
                (Some(status), _) => {
                    tracing::info!(target_url = %delivery.target_url, status, "webhook delivered")
                }
                (None, error) => tracing::warn!(
                    target_url = %delivery.target_url,
                    error = error.as_deref().unwrap_or(""),
                    "webhook delivery failed"
                ),
            }
            lock(&inner.deliveries).push(delivery.clone());
            // Sending fails only when no receiver exists, which is normal outside tests.
            let _ = inner.delivery_sender.send(delivery);
        });
    }

    /// Returns every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.inner.requests).clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.inner.requests).clear();
    }

    /// Subscribes to webhook deliveries. The receiver gets every delivery attempt that
    /// finishes after this call; [`Sandbox::delivery_log`] lists earlier ones.
    pub fn deliveries(&self) -> broadcast::Receiver<WebhookDelivery> {
        self.inner.delivery_sender.subscribe()
    }

    /// Returns every finished delivery attempt, oldest first.
    pub fn delivery_log(&self) -> Vec<WebhookDelivery> {
        lock(&self.inner.deliveries).clone()
    }

    /// Changes the per-minute request limit and starts a new window.
    pub fn set_rate_limit(&self, per_minute: u32) {
        lock(&self.inner.limiter).set_limit(per_minute);
    }

    /// Starts a new rate-limit window now, as if a minute had passed.
    pub fn reset_rate_limit_window(&self) {
        lock(&self.inner.limiter).reset();
    }

    /// Returns the `Authorization` header value for the sandbox's credentials.
    pub fn basic_auth_header(&self) -> String {
        let credentials = format!(
            "{}:{}",
            self.inner.options.api_key, self.inner.options.api_secret
        );
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        )
    }

    /// Adds the migration scenario to the data: orders open in both Miva stores with
    /// legacy edits, a legacy-shipped order open in Miva Connect, unpaid orders, a webhook
    /// bound to the legacy store, and auto-refresh off on the Miva Connect store.
    pub fn load_migration_scenario(&self) {
        scenario::load(&mut lock(&self.inner.state), &self.inner.options);
    }

    /// Returns the options the sandbox was created with.
    pub fn options(&self) -> &SandboxOptions {
        &self.inner.options
    }
}

fn host_of(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get(HOST)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .or_else(|| parts.uri.authority().map(|authority| authority.to_string()))
}
