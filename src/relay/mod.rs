//! The webhook relay: ShipStation's webhooks come in at the ingress, are rewritten for each
//! subscriber and committed to the embedded store, and the delivery worker POSTs them to
//! the subscriber at least once, with retries, signatures and dead letters.
//!
//! Modules: [`ingress`] (the endpoint ShipStation calls), [`subscribe`] (the `/webhooks`
//! calls that proxy listeners intercept), [`payload`] (rewriting `resource_url`), [`delivery`] and [`retry`] (the worker and its schedule), [`signing`]
//! (Standard Webhooks signatures), [`ssrf`] (which targets are allowed), [`commands`] (the
//! `storebridge relay` commands) and [`migrate`] (moving existing hooks off legacy stores).

pub mod clock;
pub mod commands;
pub mod config;
pub mod delivery;
pub mod error;
pub mod ingress;
pub mod migrate;
pub mod payload;
pub mod retry;
pub mod signing;
pub mod ssrf;
pub mod subscribe;
pub mod token;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use self::clock::Clock;
use self::config::RelayConfig;
use self::delivery::{Deliverer, DeliverySettings};
use self::payload::HostRewrite;
use crate::listener::{self, ConnectionLimits};
use crate::proxy::Shared;
use crate::storage::group_commit::EventWriter;
use crate::storage::sqlite::SqliteStorage;
use crate::storage::{SharedStorage, Storage, StorageConfig, StorageError};
use crate::tls::TlsError;
use crate::upstream::UpstreamTarget;

/// Errors that stop the relay from starting.
#[derive(Debug, thiserror::Error)]
pub enum RelayStartError {
    #[error("cannot open the embedded store")]
    Storage(#[from] StorageError),
    #[error("cannot load the TLS files of [relay.ingress]")]
    IngressTls(#[source] TlsError),
    #[error("cannot load relay.ca_file")]
    CaFile(#[source] TlsError),
    #[error("cannot bind the relay ingress to {address}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid relay.signing_secret")]
    SigningSecret(#[source] signing::SecretError),
    #[error("invalid {key}: {reason}")]
    Url { key: &'static str, reason: String },
}

/// The running relay, shared by the ingress and the proxy listeners.
pub struct Relay {
    pub config: RelayConfig,
    pub storage: SharedStorage,
    /// Commits the ingress's events, several per transaction under load.
    pub events: EventWriter,
    pub deliverer: Deliverer,
    pub clock: Clock,
    shared: Arc<Shared>,
    hosts: Option<HostRewrite>,
}

impl Relay {
    /// Builds the relay over an opened store. `shared` gives the store map and the upstream.
    pub fn new(
        config: RelayConfig,
        storage: SharedStorage,
        shared: Arc<Shared>,
    ) -> Result<Self, RelayStartError> {
        let clock = Clock::new();
        let hosts = match &config.api_public_url {
            Some(url) => Some(HostRewrite {
                api_public: UpstreamTarget::parse(url).map_err(|reason| RelayStartError::Url {
                    key: "relay.api_public_url",
                    reason,
                })?,
                upstream_authority: shared.upstream.target().authority.to_string(),
            }),
            None => None,
        };
        let deliverer = Deliverer::new(
            storage.clone(),
            delivery_settings(&config)?,
            clock,
            shared.metrics.clone(),
        )
        .map_err(RelayStartError::CaFile)?;
        Ok(Self {
            config,
            events: EventWriter::new(storage.clone()),
            storage,
            deliverer,
            clock,
            shared,
            hosts,
        })
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

/// Builds the worker's settings from `[relay]`.
pub fn delivery_settings(config: &RelayConfig) -> Result<DeliverySettings, RelayStartError> {
    let signing_secret = config
        .signing_secret()
        .map_err(RelayStartError::SigningSecret)?;
    Ok(DeliverySettings {
        retry_schedule: config.retry_schedule.clone(),
        delivery_timeout: config.delivery_timeout,
        max_concurrent: config.max_concurrent_deliveries,
        signing_secret,
        allow_private_targets: config.dangerous_allow_private_targets,
        ca_file: config.ca_file.clone(),
    })
}

/// Opens the SQLite store of `[storage]`. Claims left by an earlier process are released:
/// one process at a time uses a SQLite file, so no attempt of theirs is still running.
pub async fn open_storage(config: &StorageConfig) -> Result<SharedStorage, StorageError> {
    let storage = SqliteStorage::open(&config.data_dir).await?;
    storage.release_claims().await?;
    Ok(Arc::new(storage))
}

/// Loads the ingress certificate and `relay.ca_file`, so `check-config` catches a bad file.
pub fn check_files(config: &RelayConfig) -> Result<(), RelayStartError> {
    if let Some(files) = &config.ingress.tls {
        crate::tls::server_config(&files.cert, &files.key).map_err(RelayStartError::IngressTls)?;
    }
    crate::tls::client_config(config.ca_file.as_deref()).map_err(RelayStartError::CaFile)?;
    Ok(())
}

/// Binds `[relay.ingress] bind`.
pub async fn bind_ingress(config: &RelayConfig) -> Result<TcpListener, RelayStartError> {
    let address = config.ingress.bind;
    TcpListener::bind(address)
        .await
        .map_err(|source| RelayStartError::Bind { address, source })
}

/// Starts the delivery worker, the ingress on `socket` and the ingress's event writer, and
/// returns their tasks. The worker and the ingress stop when `stopped` resolves. The writer
/// stops once the ingress has drained or its drain timeout passed, so requests handled
/// during the drain get their commits. An event submitted after that is rejected with 503.
pub fn start<S>(
    relay: Arc<Relay>,
    socket: TcpListener,
    stopped: impl Fn() -> S,
) -> Result<Vec<JoinHandle<()>>, RelayStartError>
where
    S: Future<Output = ()> + Send + 'static,
{
    if relay.config.dangerous_allow_private_targets {
        tracing::warn!("relay.dangerous_allow_private_targets is on: subscribers may target internal addresses");
    }
    let tls = match &relay.config.ingress.tls {
        Some(files) => Some(
            crate::tls::server_config(&files.cert, &files.key)
                .map_err(RelayStartError::IngressTls)?,
        ),
        None => None,
    };
    let address = socket.local_addr().ok();
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(address = ?address, scheme, public_url = %relay.config.public_url, "relay ingress listening");

    let worker = tokio::spawn(relay.deliverer.clone().run(stopped()));
    let service_relay = relay.clone();
    let (drained, ingress_drained) = tokio::sync::oneshot::channel::<()>();
    let serving = listener::serve_counted(
        socket,
        tls,
        ConnectionLimits::default(),
        relay.shared.metrics.connections.clone(),
        None,
        move |request| ingress::handle(service_relay.clone(), request),
        stopped(),
    );
    let ingress = tokio::spawn(async move {
        serving.await;
        let _ = drained.send(());
    });
    // A dropped sender (the ingress task ended early) also stops the writer.
    let writer = tokio::spawn(relay.events.clone().run(async {
        let _ = ingress_drained.await;
    }));
    Ok(vec![worker, ingress, writer])
}

/// Starts the relay when `[relay] enabled` is set: opens the store, binds the ingress
/// unless `ingress` is already bound, and starts the worker and the ingress. Returns the
/// relay for the proxy listeners and the tasks to await at shutdown.
pub async fn launch<S>(
    config: &crate::config::Config,
    shared: Arc<Shared>,
    storage: Option<SharedStorage>,
    ingress: Option<TcpListener>,
    stopped: impl Fn() -> S,
) -> Result<(Option<Arc<Relay>>, Vec<JoinHandle<()>>), RelayStartError>
where
    S: Future<Output = ()> + Send + 'static,
{
    let (Some(relay_config), Some(storage_config)) = (&config.relay, &config.storage) else {
        return Ok((None, Vec::new()));
    };
    if !relay_config.enabled {
        return Ok((None, Vec::new()));
    }
    let storage = match storage {
        Some(storage) => storage,
        None => open_storage(storage_config).await?,
    };
    let socket = match ingress {
        Some(socket) => socket,
        None => bind_ingress(relay_config).await?,
    };
    let relay = Arc::new(Relay::new(relay_config.clone(), storage, shared)?);
    let tasks = start(relay.clone(), socket, stopped)?;
    Ok((Some(relay), tasks))
}
