//! The connection to ShipStation: a pooled HTTPS client and the upstream base URL.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::uri::{Authority, Scheme};
use http::{HeaderMap, HeaderValue, Method, Request, Response, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::config::UpstreamConfig;
use crate::error::{ErrorChain, ProxyError};
use crate::listener::shards::MAX_SHARDS;

/// The parsed `[upstream] v1` base URL.
#[derive(Clone, Debug)]
pub struct UpstreamTarget {
    pub scheme: Scheme,
    pub authority: Authority,
    /// Path prefix without a trailing slash, empty for a bare host.
    pub base_path: String,
}

impl UpstreamTarget {
    /// The port requests go to: explicit, or the scheme's default.
    pub fn port(&self) -> u16 {
        self.authority
            .port_u16()
            .unwrap_or(if self.scheme == Scheme::HTTP { 80 } else { 443 })
    }

    /// Parses a base URL such as `https://ssapi.shipstation.com`. Plain `http` is accepted
    /// only for loopback hosts, because API credentials travel in every request.
    pub fn parse(url: &str) -> Result<Self, String> {
        let uri: Uri = url.parse().map_err(|err| {
            format!("{url:?} is not a URL ({err}); write it as https://host[:port]")
        })?;
        let scheme = uri
            .scheme()
            .cloned()
            .ok_or_else(|| format!("{url:?} has no scheme; write it as https://host[:port]"))?;
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| format!("{url:?} has no host; write it as https://host[:port]"))?;
        if uri.query().is_some() {
            return Err(format!(
                "{url:?} has a query string; give only the base URL"
            ));
        }
        if scheme == Scheme::HTTP {
            let host = authority
                .host()
                .trim_start_matches('[')
                .trim_end_matches(']');
            let loopback = host == "localhost"
                || host
                    .parse::<std::net::IpAddr>()
                    .map(|ip| ip.is_loopback())
                    .unwrap_or(false);
            if !loopback {
                return Err(format!(
                    "{url:?} uses plain http to a non-loopback host; API credentials would travel \
                     unencrypted, so use https"
                ));
            }
        } else if scheme != Scheme::HTTPS {
            return Err(format!("{url:?} has scheme {scheme}; use https"));
        }
        let base_path = uri.path().trim_end_matches('/').to_owned();
        Ok(Self {
            scheme,
            authority,
            base_path,
        })
    }
}

type Connector = HttpsConnector<HttpConnector<PinnedResolver>>;
type PooledClient = Client<Connector, Full<Bytes>>;

/// A pooled client for the ShipStation API, with the timeouts and retry rule of the proxy.
///
/// Each connection shard gets a pool of its own, made on its first request. A pooled
/// connection is driven by a task on the runtime that opened it. Sharing it with another
/// shard's thread would bring back the cross-thread wake-ups that the shards avoid.
pub struct Upstream {
    target: UpstreamTarget,
    /// The `Host` header of every forwarded request, made once.
    host: Option<HeaderValue>,
    connector: Connector,
    /// For callers off the shards: the relay, the migration commands, tests.
    client: PooledClient,
    shard_clients: Box<[OnceLock<PooledClient>]>,
    request_timeout: Duration,
}

/// Errors building the upstream client from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamBuildError {
    #[error("invalid upstream.v1: {0}")]
    Target(String),
    #[error("cannot load upstream.ca_file")]
    Tls(#[from] crate::tls::TlsError),
}

/// Idle pooled connections are closed after this long. ShipStation's front end closes idle
/// connections itself after about a minute (an estimate); closing first avoids racing it.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(50);

impl Upstream {
    pub fn new(config: &UpstreamConfig) -> Result<Self, UpstreamBuildError> {
        let target = UpstreamTarget::parse(&config.v1).map_err(UpstreamBuildError::Target)?;
        let tls = crate::tls::client_config(config.ca_file.as_deref())?;

        let overrides =
            ResolveOverrides::parse(&config.resolve).map_err(UpstreamBuildError::Target)?;
        let port = target.port();
        let mut http = HttpConnector::new_with_resolver(PinnedResolver::new(overrides, port));
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(config.connect_timeout));
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);

        Ok(Self {
            host: HeaderValue::from_str(target.authority.as_str()).ok(),
            target,
            client: pooled_client(connector.clone()),
            connector,
            shard_clients: (0..MAX_SHARDS).map(|_| OnceLock::new()).collect(),
            request_timeout: config.request_timeout,
        })
    }

    /// Returns the pool of the shard this runs on, or the shared one off the shards.
    fn client(&self) -> &PooledClient {
        match crate::listener::shards::current().and_then(|index| self.shard_clients.get(index)) {
            Some(slot) => slot.get_or_init(|| pooled_client(self.connector.clone())),
            None => &self.client,
        }
    }

    pub fn target(&self) -> &UpstreamTarget {
        &self.target
    }

    /// Returns the value of `Host` for requests to the upstream.
    pub fn host(&self) -> Option<&HeaderValue> {
        self.host.as_ref()
    }

    /// The upstream URI for a client's path and query.
    pub fn uri_for(&self, path: &str, query: Option<&str>) -> Result<Uri, http::Error> {
        let mut path_and_query =
            String::with_capacity(self.target.base_path.len() + path.len() + 1);
        path_and_query.push_str(&self.target.base_path);
        path_and_query.push_str(path);
        if let Some(query) = query {
            path_and_query.push('?');
            path_and_query.push_str(query);
        }
        Uri::builder()
            .scheme(self.target.scheme.clone())
            .authority(self.target.authority.clone())
            .path_and_query(path_and_query)
            .build()
    }

    /// Sends a request and waits for the response head.
    ///
    /// A request whose connection could not be established is sent again once, but only if
    /// its method is idempotent: nothing reached ShipStation, yet a POST is never repeated,
    /// because a repeated label purchase buys a second label.
    pub async fn send(
        &self,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Response<Incoming>, ProxyError> {
        let retry_allowed = method.is_idempotent();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = Request::new(Full::new(body.clone()));
            *request.method_mut() = method.clone();
            *request.uri_mut() = uri.clone();
            *request.headers_mut() = headers.clone();

            let outcome =
                tokio::time::timeout(self.request_timeout, self.client().request(request)).await;
            let error = match outcome {
                Ok(Ok(response)) => return Ok(response),
                Ok(Err(error)) => error,
                Err(_) => {
                    return Err(ProxyError::UpstreamTimeout {
                        timeout: self.request_timeout,
                    })
                }
            };
            if error.is_connect() {
                if retry_allowed && attempt == 1 {
                    tracing::warn!(error = %ErrorChain(&error), "upstream connect failed, retrying once");
                    continue;
                }
                return Err(ProxyError::UpstreamUnreachable {
                    authority: self.target.authority.to_string(),
                    source: Box::new(error),
                });
            }
            return Err(ProxyError::UpstreamFailed(Box::new(error)));
        }
    }

    /// The request timeout, also applied to reading a response body that is rewritten.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }
}

fn pooled_client(connector: Connector) -> PooledClient {
    // hyper resends a request on a fresh connection only when a pooled connection closed
    // before any byte of the request was written, which is safe for every method.
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .pool_timer(TokioTimer::new())
        .retry_canceled_requests(true)
        .build(connector)
}

/// Fixed upstream addresses from `[upstream] resolve`, in curl's `--resolve` form
/// `HOST:PORT=ADDRESS`. A host listed here is never looked up in DNS or the hosts file.
#[derive(Clone, Debug, Default)]
pub struct ResolveOverrides {
    by_host: HashMap<String, Vec<(u16, IpAddr)>>,
}

impl ResolveOverrides {
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let mut by_host: HashMap<String, Vec<(u16, IpAddr)>> = HashMap::new();
        for entry in entries {
            let usage = || {
                format!("{entry:?} is not HOST:PORT=ADDRESS, for example \"ssapi.shipstation.com:443=203.0.113.10\"")
            };
            let (host_port, address) = entry.split_once('=').ok_or_else(usage)?;
            let (host, port) = host_port.rsplit_once(':').ok_or_else(usage)?;
            let port: u16 = port.parse().map_err(|_| usage())?;
            let address = address.trim().trim_start_matches('[').trim_end_matches(']');
            let address: IpAddr = address
                .parse()
                .map_err(|_| format!("{entry:?}: {address:?} is not an IP address"))?;
            if host.is_empty() {
                return Err(usage());
            }
            by_host
                .entry(host.to_ascii_lowercase())
                .or_default()
                .push((port, address));
        }
        Ok(Self { by_host })
    }

    /// The pinned addresses of `host` for `port`, if any.
    pub fn lookup(&self, host: &str, port: u16) -> Option<Vec<IpAddr>> {
        let entries = self.by_host.get(&host.to_ascii_lowercase())?;
        let addresses: Vec<IpAddr> = entries
            .iter()
            .filter(|(entry_port, _)| *entry_port == port)
            .map(|(_, address)| *address)
            .collect();
        (!addresses.is_empty()).then_some(addresses)
    }

    pub fn is_empty(&self) -> bool {
        self.by_host.is_empty()
    }
}

/// A DNS resolver for the upstream connector that resolves pinned hosts from
/// [`ResolveOverrides`] and uses the system resolver for the rest.
#[derive(Clone)]
pub struct PinnedResolver {
    overrides: Arc<ResolveOverrides>,
    port: u16,
    system: GaiResolver,
}

impl PinnedResolver {
    pub fn new(overrides: ResolveOverrides, port: u16) -> Self {
        Self {
            overrides: Arc::new(overrides),
            port,
            system: GaiResolver::new(),
        }
    }
}

type ResolveFuture =
    Pin<Box<dyn Future<Output = Result<std::vec::IntoIter<SocketAddr>, std::io::Error>> + Send>>;

impl tower_service::Service<Name> for PinnedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = ResolveFuture;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.system.poll_ready(cx)
    }

    fn call(&mut self, name: Name) -> Self::Future {
        if let Some(addresses) = self.overrides.lookup(name.as_str(), self.port) {
            // The connector sets the port itself; 0 here is replaced.
            let pinned: Vec<SocketAddr> = addresses
                .into_iter()
                .map(|ip| SocketAddr::new(ip, 0))
                .collect();
            return Box::pin(std::future::ready(Ok(pinned.into_iter())));
        }
        let lookup = self.system.call(name);
        Box::pin(async move {
            let addresses = lookup.await?;
            Ok(addresses.collect::<Vec<_>>().into_iter())
        })
    }
}
