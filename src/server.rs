//! Running the proxy: binding the configured listeners and serving them until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{Config, ConfigError};
use crate::listener::{self, ConnectionLimits};
use crate::proxy::{Proxy, Shared};
use crate::ratelimit::RateLimitTracker;
use crate::tls::TlsError;
use crate::upstream::{Upstream, UpstreamBuildError};

/// Errors that stop the proxy from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot bind listener[{index}] to {address}: {source}")]
    Bind {
        index: usize,
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
}

/// Binds every `[[listener]]` of the config, in order.
pub async fn bind(config: &Config) -> Result<Vec<TcpListener>, StartError> {
    let mut bound = Vec::with_capacity(config.listeners.len());
    for (index, listener) in config.listeners.iter().enumerate() {
        let socket = TcpListener::bind(listener.bind)
            .await
            .map_err(|source| StartError::Bind {
                index,
                address: listener.bind,
                source,
            })?;
        bound.push(socket);
    }
    Ok(bound)
}

/// Serves already-bound listeners (one per `[[listener]]`, in order) until `shutdown`
/// resolves, then lets in-flight requests finish.
pub async fn run(
    config: Config,
    bound: Vec<TcpListener>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), StartError> {
    run_with_ingress(config, bound, None, shutdown).await
}

/// Runs like [`run`], with the relay ingress already bound (tests bind port 0). With
/// `None`, the ingress binds `[relay.ingress] bind` when the relay is enabled.
pub async fn run_with_ingress(
    config: Config,
    bound: Vec<TcpListener>,
    ingress: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), StartError> {
    let shared = Arc::new(Shared {
        stores: ArcSwap::from_pointee(config.store_map()?),
        upstream: Upstream::new(&config.upstream)?,
        rate_limit: RateLimitTracker::default(),
        max_body: config.limits.max_body,
    });

    let (stop_sender, stop_receiver) = watch::channel(false);
    let relay_stop = stop_receiver.clone();
    let relay_stopped = move || {
        let mut stop = relay_stop.clone();
        async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        }
    };
    let (relay, mut tasks) =
        crate::relay::launch(&config, shared.clone(), ingress, relay_stopped).await?;
    for (index, (listener_config, socket)) in config.listeners.iter().zip(bound).enumerate() {
        let tls = match &listener_config.tls {
            Some(files) => Some(
                crate::tls::server_config(&files.cert, &files.key)
                    .map_err(|source| StartError::Tls { index, source })?,
            ),
            None => None,
        };
        let limits = ConnectionLimits {
            header_read_timeout: listener_config.header_read_timeout,
            idle_timeout: listener_config.idle_timeout,
        };
        let address = socket.local_addr().ok();
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(listener = index, address = ?address, scheme, mode = listener_config.mode.as_str(), "listening");

        let proxy = Proxy::new(listener_config.mode, shared.clone()).with_relay(relay.clone());
        let mut stop = stop_receiver.clone();
        let stopped = async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        };
        tasks.push(tokio::spawn(listener::serve(
            socket,
            tls,
            limits,
            move |request| {
                let proxy = proxy.clone();
                async move { proxy.handle(request).await }
            },
            stopped,
        )));
    }

    shutdown.await;
    tracing::info!("shutting down; waiting for in-flight requests");
    let _ = stop_sender.send(true);
    for task in tasks {
        let _ = task.await;
    }
    tracing::info!("stopped");
    Ok(())
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
