//! Running the proxy: binding the configured listeners, serving them, reloading the
//! configuration, and stopping with a drain.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin::{Admin, Readiness};
use crate::config::{Config, ConfigError};
use crate::listener::{self, shards, ConnectionLimits, Shards, TlsSource};
use crate::metrics::Metrics;
use crate::proxy::{Proxy, Shared};
use crate::ratelimit::RateLimiter;
use crate::reload::Reloader;
use crate::tls::TlsError;
use crate::upstream::{Upstream, UpstreamBuildError};

/// Errors that stop the proxy from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot bind {what} to {address}")]
    Bind {
        what: String,
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot load the TLS files of listener[{index}]")]
    Tls {
        index: usize,
        #[source]
        source: TlsError,
    },
    #[error(transparent)]
    Upstream(#[from] UpstreamBuildError),
    #[error("cannot start the webhook relay")]
    Relay(#[from] crate::relay::RelayStartError),
    #[error("cannot start the connection worker threads")]
    Workers(#[source] std::io::Error),
}

/// Sockets bound for a config: one per `[[listener]]`, in order, and the admin listener.
pub struct Bound {
    pub listeners: Vec<TcpListener>,
    pub admin: Option<TcpListener>,
    /// The relay ingress, when bound in advance (tests bind port 0). With `None`, the relay
    /// binds `[relay.ingress] bind` itself when it is enabled.
    pub ingress: Option<TcpListener>,
}

impl Bound {
    /// The local addresses of the proxy listeners, in config order.
    pub fn listener_addresses(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    pub fn admin_address(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }
}

async fn bind_one(what: String, address: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| StartError::Bind {
            what,
            address,
            source,
        })
}

/// Binds every `[[listener]]` of the config, in order, and `[admin]` if configured.
pub async fn bind(config: &Config) -> Result<Bound, StartError> {
    let mut listeners = Vec::with_capacity(config.listeners.len());
    for (index, listener) in config.listeners.iter().enumerate() {
        listeners.push(bind_one(format!("listener[{index}]"), listener.bind).await?);
    }
    let admin = match &config.admin {
        Some(admin) => Some(bind_one("the admin listener".to_owned(), admin.bind).await?),
        None => None,
    };
    Ok(Bound {
        listeners,
        admin,
        ingress: None,
    })
}

/// A running proxy.
pub struct Server {
    reloader: Arc<Reloader>,
    readiness: Arc<Readiness>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// The worker threads of the proxy listeners, joined once the listeners have drained.
    shards: Option<Arc<Shards>>,
    /// The admin listener stops last, so `/readyz` returns 503 during the drain.
    admin_stop: watch::Sender<bool>,
    admin_task: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts serving already-bound sockets. `config_path` is where reloads read from.
    pub async fn start(
        config: Config,
        config_path: Option<PathBuf>,
        bound: Bound,
    ) -> Result<Self, StartError> {
        // The one embedded store of the process, opened when a feature needs it.
        let relay_on = config.relay.as_ref().is_some_and(|relay| relay.enabled);
        let storage = match &config.storage {
            Some(storage_config) if relay_on || config.guard.double_ship => Some(
                crate::relay::open_storage(storage_config)
                    .await
                    .map_err(crate::relay::RelayStartError::from)?,
            ),
            _ => None,
        };
        let double_ship_guard = if config.guard.double_ship {
            storage.clone()
        } else {
            None
        };

        let shared = Arc::new(Shared {
            stores: ArcSwap::from_pointee(config.store_map()?),
            upstream: Upstream::new(&config.upstream)?,
            rate_limit: RateLimiter::new(config.rate_limit.max_wait),
            metrics: Arc::new(Metrics::new()),
            max_body: config.limits.max_body,
            via: crate::proxy::headers::Via::new(),
            double_ship_guard,
        });

        if config.stores.is_empty() {
            tracing::warn!("no [[store]] pairs are configured; requests pass through untranslated");
        }

        // Load every certificate before serving anything, so a bad file stops the start.
        let mut tls_sources = Vec::with_capacity(config.listeners.len());
        for (index, listener_config) in config.listeners.iter().enumerate() {
            let source = match &listener_config.tls {
                Some(files) => Some(TlsSource::new(
                    crate::tls::server_config(&files.cert, &files.key)
                        .map_err(|source| StartError::Tls { index, source })?,
                )),
                None => None,
            };
            tls_sources.push(source);
        }

        let (stop, stop_receiver) = watch::channel(false);
        let readiness = Arc::new(Readiness::default());

        // The webhook relay, when enabled: its ingress, its delivery worker, and its store.
        let relay_stop = stop_receiver.clone();
        let (relay, mut tasks) =
            crate::relay::launch(&config, shared.clone(), storage, bound.ingress, move || {
                stopped(relay_stop.clone())
            })
            .await?;

        let shards = match config.workers.unwrap_or_else(shards::default_count) {
            0 => None,
            count => Some(Arc::new(Shards::start(count).map_err(StartError::Workers)?)),
        };
        for (index, ((listener_config, socket), tls)) in config
            .listeners
            .iter()
            .zip(bound.listeners)
            .zip(tls_sources.iter().cloned())
            .enumerate()
        {
            let limits = ConnectionLimits {
                header_read_timeout: listener_config.header_read_timeout,
                idle_timeout: listener_config.idle_timeout,
                drain_timeout: config.drain_timeout,
                ..ConnectionLimits::default()
            };
            let address = describe_address(&socket);
            let scheme = if tls.is_some() { "https" } else { "http" };
            tracing::info!(listener = index, address = %address, scheme, mode = listener_config.mode.as_str(), "listening");
            let proxy = Proxy::new(listener_config.mode, shared.clone()).with_relay(relay.clone());
            tasks.push(tokio::spawn(listener::serve_counted(
                socket,
                tls,
                limits,
                shared.metrics.connections.clone(),
                shards.clone(),
                move |request| {
                    let proxy = proxy.clone();
                    async move { proxy.handle(request).await }
                },
                stopped(stop_receiver.clone()),
            )));
        }

        let reloader = Arc::new(Reloader::new(
            config_path,
            config.clone(),
            shared.clone(),
            tls_sources,
        ));
        let (admin_stop, admin_stop_receiver) = watch::channel(false);
        let mut admin_task = None;
        if let (Some(admin_config), Some(socket)) = (&config.admin, bound.admin) {
            let admin = Admin::new(
                admin_config.token.clone(),
                shared,
                reloader.clone(),
                readiness.clone(),
                relay.clone(),
            );
            tracing::info!(address = %describe_address(&socket), "admin listening");
            let limits = ConnectionLimits {
                drain_timeout: config.drain_timeout,
                ..ConnectionLimits::default()
            };
            admin_task = Some(tokio::spawn(listener::serve(
                socket,
                None::<TlsSource>,
                limits,
                move |request| {
                    let admin = admin.clone();
                    async move { admin.handle(request).await }
                },
                stopped(admin_stop_receiver),
            )));
        }
        readiness.set_serving(true);

        Ok(Self {
            reloader,
            readiness,
            stop,
            tasks,
            shards,
            admin_stop,
            admin_task,
        })
    }

    /// Re-reads the config file; see [`Reloader::reload`].
    pub fn reloader(&self) -> Arc<Reloader> {
        self.reloader.clone()
    }

    /// Stops accepting, lets in-flight requests finish within the drain timeout, and
    /// returns once every listener has stopped.
    pub async fn stop(self) {
        tracing::info!("shutting down; draining in-flight requests");
        self.readiness.set_serving(false);
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        // The listeners have let go of the worker threads. Wait for the threads to cancel
        // what outlasted the drain, so that nothing of the proxy runs after `stop` returns.
        if let Some(shards) = self.shards.and_then(Arc::into_inner) {
            let _ = tokio::task::spawn_blocking(move || shards.join()).await;
        }
        let _ = self.admin_stop.send(true);
        if let Some(task) = self.admin_task {
            let _ = task.await;
        }
        tracing::info!("stopped");
    }
}

/// Serves until `shutdown` resolves, then drains and returns.
pub async fn run(
    config: Config,
    config_path: Option<PathBuf>,
    bound: Bound,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StartError> {
    let server = Server::start(config, config_path, bound).await?;
    shutdown.await;
    server.stop().await;
    Ok(())
}

/// The bound address for logs, such as `127.0.0.1:8443`.
fn describe_address(socket: &TcpListener) -> String {
    match socket.local_addr() {
        Ok(address) => address.to_string(),
        Err(error) => format!("unknown ({error})"),
    }
}

async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// Loads every certificate and key the config names, so `check-config` catches a bad file
/// before `serve` would.
pub fn check_files(config: &Config) -> Result<(), StartError> {
    for (index, listener) in config.listeners.iter().enumerate() {
        if let Some(files) = &listener.tls {
            crate::tls::server_config(&files.cert, &files.key)
                .map_err(|source| StartError::Tls { index, source })?;
        }
    }
    Upstream::new(&config.upstream)?;
    if let Some(relay) = config.relay.as_ref().filter(|relay| relay.enabled) {
        crate::relay::check_files(relay)?;
    }
    Ok(())
}
