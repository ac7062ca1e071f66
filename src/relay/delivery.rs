//! The delivery worker: takes due events from the store, oldest first, POSTs them to their
//! targets with bounded concurrency, and records every attempt with its outcome.
//!
//! Delivery is at least once. An event is claimed for `delivery_timeout` plus a margin
//! before its attempt. If the process dies before recording the attempt, the claim runs out
//! (or, for SQLite, is released at the next start) and the event is sent again. It keeps
//! its `webhook-id`, so subscribers can drop duplicates.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{Method, Request};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use super::clock::Clock;
use super::retry::{self, AttemptResult};
use super::signing::SigningSecret;
use super::ssrf::{self, GuardedResolver};
use crate::error::ErrorChain;
use crate::metrics::{Metrics, OutcomeLabels};
use crate::storage::{AttemptOutcome, AttemptRecord, DueEvent, SharedStorage};

/// Added to `delivery_timeout` to form a claim, so that an attempt still running is never
/// claimed a second time by a timer that fired early.
const CLAIM_MARGIN: Duration = Duration::from_secs(30);

/// Maximum wait between checks of the store when nothing is due. It bounds how late an
/// event made due by another process (`relay replay`) is noticed.
const IDLE_RECHECK: Duration = Duration::from_secs(5);

/// Wait after a failed database query before the worker tries again.
const STORAGE_BACKOFF: Duration = Duration::from_secs(1);

/// Maximum bytes read from a subscriber's response body. The rest is dropped.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Maximum characters of an attempt's `reason`.
const MAX_REASON_CHARS: usize = 200;

type DeliveryClient = Client<HttpsConnector<HttpConnector<GuardedResolver>>, Full<Bytes>>;

/// Settings of the worker, taken from `[relay]`.
#[derive(Clone, Debug)]
pub struct DeliverySettings {
    pub retry_schedule: Vec<Duration>,
    pub delivery_timeout: Duration,
    pub max_concurrent: usize,
    pub signing_secret: Option<SigningSecret>,
    pub allow_private_targets: bool,
    pub ca_file: Option<PathBuf>,
}

/// The worker. Cloning shares it.
#[derive(Clone)]
pub struct Deliverer {
    inner: Arc<Inner>,
}

struct Inner {
    storage: SharedStorage,
    settings: DeliverySettings,
    client: DeliveryClient,
    clock: Clock,
    wake: Notify,
    slots: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

impl Deliverer {
    pub fn new(
        storage: SharedStorage,
        settings: DeliverySettings,
        clock: Clock,
        metrics: Arc<Metrics>,
    ) -> Result<Self, crate::tls::TlsError> {
        let client = build_client(&settings)?;
        let slots = Arc::new(Semaphore::new(settings.max_concurrent));
        Ok(Self {
            inner: Arc::new(Inner {
                storage,
                settings,
                client,
                clock,
                wake: Notify::new(),
                slots,
                metrics,
            }),
        })
    }

    /// Wakes the worker, for a new event or a replay.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Runs until `shutdown` resolves, then waits for attempts in flight to be recorded.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let tracker = TaskTracker::new();
        tokio::pin!(shutdown);
        loop {
            // Claim as many due events as there are free slots, and start them.
            let free = self.inner.slots.available_permits();
            let mut storage_failed = false;
            if free > 0 {
                match self.claim(free).await {
                    Ok(events) => {
                        for event in events {
                            let Ok(permit) = self.inner.slots.clone().try_acquire_owned() else {
                                break;
                            };
                            let worker = self.clone();
                            tracker.spawn(async move {
                                worker.attempt(event).await;
                                drop(permit);
                                worker.wake();
                            });
                        }
                    }
                    Err(error) => {
                        tracing::error!(error = %ErrorChain(&error), "claiming due webhook events failed");
                        storage_failed = true;
                    }
                }
            }

            // Sleep until something is due, a slot frees up, an event arrives, or shutdown.
            let wait = self.wait_time(free > 0, storage_failed).await;
            tokio::select! {
                () = &mut shutdown => break,
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep_until(wait) => {}
            }
        }
        tracker.close();
        tracker.wait().await;
    }

    async fn claim(&self, free: usize) -> Result<Vec<DueEvent>, crate::storage::StorageError> {
        let now = self.inner.clock.now();
        let claim_until = now.saturating_add(self.inner.settings.delivery_timeout + CLAIM_MARGIN);
        let limit = u32::try_from(free).unwrap_or(u32::MAX);
        self.inner.storage.claim_due(now, claim_until, limit).await
    }

    async fn wait_time(&self, had_slots: bool, storage_failed: bool) -> Instant {
        let recheck = Instant::now() + IDLE_RECHECK;
        if storage_failed {
            return Instant::now() + STORAGE_BACKOFF;
        }
        if !had_slots {
            // Full: only a finished attempt (which wakes the worker) frees a slot.
            return recheck;
        }
        match self.inner.storage.next_due().await {
            Ok(Some(due)) => self.inner.clock.instant_at(due).min(recheck),
            Ok(None) => recheck,
            Err(error) => {
                tracing::error!(error = %ErrorChain(&error), "reading the next due webhook event failed");
                Instant::now() + STORAGE_BACKOFF
            }
        }
    }

    /// Makes one attempt at `event` and records it.
    async fn attempt(&self, event: DueEvent) {
        let settings = &self.inner.settings;
        let attempted_at = self.inner.clock.now();
        let started = Instant::now();
        let (result, reason) = self.post(&event, attempted_at.0 / 1000).await;
        let latency = started.elapsed();

        let number = event.attempts.saturating_add(1);
        let outcome = retry::decide(
            result,
            number,
            &settings.retry_schedule,
            self.inner.clock.now(),
            retry::jitter_factor(),
        );
        let record = AttemptRecord {
            event_id: event.id,
            attempted_at,
            status_code: result.status,
            latency_ms: u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
            reason: reason.chars().take(MAX_REASON_CHARS).collect(),
        };
        log_outcome(&event, number, &record, &outcome);
        self.inner
            .metrics
            .deliveries
            .get_or_create(&OutcomeLabels {
                outcome: outcome_label(&outcome),
            })
            .inc();
        if let Err(error) = self.inner.storage.record_attempt(&record, &outcome).await {
            // The claim runs out and the event is sent again: at least once, not exactly once.
            tracing::error!(event_id = event.id, error = %ErrorChain(&error), "recording a webhook attempt failed");
        }
    }

    /// POSTs the event once. Returns the result and a short reason.
    async fn post(&self, event: &DueEvent, timestamp: i64) -> (AttemptResult, String) {
        let no_answer = |reason: String| {
            (
                AttemptResult {
                    status: None,
                    retry_after: None,
                },
                reason,
            )
        };
        let settings = &self.inner.settings;
        let uri = match ssrf::check_literal(&event.target_url, settings.allow_private_targets) {
            Ok(uri) => uri,
            Err(error) => return no_answer(format!("target rejected: {error}")),
        };
        let webhook_id = format!("msg_{}", event.uid);
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(CONTENT_TYPE, "application/json")
            .header(
                USER_AGENT,
                concat!("storebridge/", env!("CARGO_PKG_VERSION")),
            )
            .header("webhook-id", &webhook_id)
            .header("webhook-timestamp", timestamp.to_string());
        if let Some(secret) = &settings.signing_secret {
            let signature = secret.sign(&webhook_id, timestamp, event.payload.as_bytes());
            request = request.header("webhook-signature", signature);
        }
        let request = match request.body(Full::new(Bytes::from(event.payload.clone()))) {
            Ok(request) => request,
            Err(error) => return no_answer(format!("invalid request: {error}")),
        };

        let exchange = async {
            let response = self.inner.client.request(request).await?;
            let status = response.status();
            let retry_after = retry::retry_after(response.headers());
            // Read a bounded part of the response so the connection can be reused.
            let _ = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await;
            Ok::<_, hyper_util::client::legacy::Error>((status, retry_after))
        };
        match tokio::time::timeout(settings.delivery_timeout, exchange).await {
            Ok(Ok((status, retry_after))) => (
                AttemptResult {
                    status: Some(status.as_u16()),
                    retry_after,
                },
                format!("HTTP {status}"),
            ),
            Ok(Err(error)) => no_answer(format!("request failed: {}", ErrorChain(&error))),
            Err(_) => no_answer(format!(
                "timed out after {} s",
                settings.delivery_timeout.as_secs_f64()
            )),
        }
    }
}

fn outcome_label(outcome: &AttemptOutcome) -> &'static str {
    match outcome {
        AttemptOutcome::Delivered => "delivered",
        AttemptOutcome::Retry { .. } => "retry",
        AttemptOutcome::Dead => "dead",
        AttemptOutcome::Gone => "gone",
    }
}

fn log_outcome(event: &DueEvent, attempt: u32, record: &AttemptRecord, outcome: &AttemptOutcome) {
    let (event_id, subscription_id, webhook_id) = (event.id, event.subscription_id, &event.uid);
    let reason = record.reason.as_str();
    match outcome {
        AttemptOutcome::Delivered => tracing::info!(
            event_id,
            subscription_id,
            webhook_id,
            attempt,
            latency_ms = record.latency_ms,
            "webhook delivered"
        ),
        AttemptOutcome::Retry { .. } => tracing::warn!(
            event_id,
            subscription_id,
            webhook_id,
            attempt,
            reason,
            "webhook delivery failed; will retry"
        ),
        AttemptOutcome::Dead => tracing::error!(
            event_id,
            subscription_id,
            webhook_id,
            attempt,
            reason,
            "webhook dead-lettered after its last attempt"
        ),
        AttemptOutcome::Gone => tracing::warn!(
            event_id,
            subscription_id,
            webhook_id,
            attempt,
            "target answered 410 Gone; subscription disabled"
        ),
    }
}

fn build_client(settings: &DeliverySettings) -> Result<DeliveryClient, crate::tls::TlsError> {
    let tls = crate::tls::client_config(settings.ca_file.as_deref())?;
    let mut http = HttpConnector::new_with_resolver(GuardedResolver {
        allow_private: settings.allow_private_targets,
    });
    http.enforce_http(false);
    http.set_connect_timeout(Some(settings.delivery_timeout));
    let connector = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_timer(TokioTimer::new())
        .build(connector))
}
