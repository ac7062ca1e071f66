//! Prometheus metrics, served in the text exposition format on the admin listener.
//!
//! Label values are bounded: routes are templates of known ShipStation paths, statuses are
//! numbers, credentials appear only as a short hash prefix.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::listener::ConnectionStats;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub status: u16,
    pub mode: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RewriteLabels {
    /// `query`, `path` or `body`.
    pub location: &'static str,
    /// `to_connect` (requests) or `to_legacy` (mirror responses).
    pub direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CredentialLabels {
    pub credential: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `delivered`, `retry`, `dead` or `gone` (410, subscription disabled).
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: &'static str,
}

/// Every metric of the process.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub rewrites: Family<RewriteLabels, Counter>,
    pub upstream_seconds: Histogram,
    pub rate_limit_remaining: Family<CredentialLabels, Gauge>,
    pub rate_limit_waits: Counter,
    pub rate_limit_wait_seconds: Histogram,
    /// Requests held until the window reset instead of collecting a 429 upstream.
    pub too_many_avoided: Counter,
    /// 429 responses from ShipStation passed on to clients.
    pub too_many_passed: Counter,
    /// 429 responses storebridge made because the wait would pass `rate_limit.max_wait`.
    pub too_many_local: Counter,
    pub loops_detected: Counter,
    pub reloads: Counter,
    pub reload_failures: Counter,
    pub guard_refusals: Counter,
    pub guard_overrides: Counter,
    pub webhook_events_accepted: Counter,
    /// Mirror JSON responses that turned out not to be valid JSON, so that all of the body,
    /// or the rest of it from the error on, passed untranslated.
    pub invalid_json_responses: Counter,
    pub deliveries: Family<OutcomeLabels, Counter>,
    /// Events waiting for delivery, read from the store when metrics are served.
    pub relay_queue_depth: Gauge,
    /// Dead letters kept for replay, read from the store when metrics are served.
    pub relay_dead_letters: Gauge,
    /// Counted by the proxy listeners and the relay ingress; read when metrics are served.
    pub connections: Arc<ConnectionStats>,
    connections_open: Gauge,
    connections_parked: Gauge,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("storebridge");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests handled, by route template, status and listener mode",
            requests.clone(),
        );
        let rewrites = Family::<RewriteLabels, Counter>::default();
        registry.register(
            "rewrites",
            "Store IDs rewritten, by location and direction",
            rewrites.clone(),
        );
        let invalid_json_responses = Counter::default();
        registry.register(
            "invalid_json_responses",
            "Mirror JSON responses that were not valid JSON, passed untranslated from the error on",
            invalid_json_responses.clone(),
        );
        // 5 ms to about 80 s: ShipStation responds in tens of milliseconds to tens of seconds.
        let upstream_seconds = Histogram::new(exponential_buckets(0.005, 2.0, 15));
        registry.register(
            "upstream_duration_seconds",
            "Time from sending a request upstream to its response head",
            upstream_seconds.clone(),
        );
        let rate_limit_remaining = Family::<CredentialLabels, Gauge>::default();
        registry.register(
            "rate_limit_remaining",
            "Requests left in the current ShipStation window, by credential hash",
            rate_limit_remaining.clone(),
        );
        let rate_limit_waits = Counter::default();
        registry.register(
            "rate_limit_waits",
            "Requests held for the next rate-limit window",
            rate_limit_waits.clone(),
        );
        let rate_limit_wait_seconds = Histogram::new(exponential_buckets(0.1, 2.0, 10));
        registry.register(
            "rate_limit_wait_seconds",
            "Time requests were held for the next rate-limit window",
            rate_limit_wait_seconds.clone(),
        );
        let too_many_avoided = Counter::default();
        registry.register(
            "too_many_requests_avoided",
            "Requests that waited instead of receiving 429",
            too_many_avoided.clone(),
        );
        let too_many_passed = Counter::default();
        registry.register(
            "too_many_requests_passed",
            "429 answers from ShipStation passed on to clients",
            too_many_passed.clone(),
        );
        let too_many_local = Counter::default();
        registry.register(
            "too_many_requests_local",
            "429 answers storebridge made because the wait would exceed rate_limit.max_wait",
            too_many_local.clone(),
        );
        let loops_detected = Counter::default();
        registry.register(
            "loops_detected",
            "Requests refused with 508 because they already passed through this proxy",
            loops_detected.clone(),
        );
        let reloads = Counter::default();
        registry.register("reloads", "Configuration reloads applied", reloads.clone());
        let reload_failures = Counter::default();
        registry.register(
            "reload_failures",
            "Configuration reloads rejected; the old configuration stayed",
            reload_failures.clone(),
        );
        let guard_refusals = Counter::default();
        registry.register(
            "guard_refusals",
            "Shipments refused because the order was already shipped from the legacy store",
            guard_refusals.clone(),
        );
        let guard_overrides = Counter::default();
        registry.register(
            "guard_overrides",
            "Shipments the double-ship guard let through because of X-Storebridge-Allow-Reship",
            guard_overrides.clone(),
        );
        let webhook_events_accepted = Counter::default();
        registry.register(
            "webhook_events_accepted",
            "Webhook events accepted at the relay ingress and committed to the store",
            webhook_events_accepted.clone(),
        );
        let deliveries = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook delivery attempts, by outcome",
            deliveries.clone(),
        );
        let relay_queue_depth = Gauge::default();
        registry.register(
            "webhook_queue_depth",
            "Webhook events waiting for delivery",
            relay_queue_depth.clone(),
        );
        let relay_dead_letters = Gauge::default();
        registry.register(
            "webhook_dead_letters",
            "Webhook events kept as dead letters",
            relay_dead_letters.clone(),
        );
        let connections_open = Gauge::default();
        registry.register(
            "connections_open",
            "Client connections open on the proxy listeners and the relay ingress",
            connections_open.clone(),
        );
        let connections_parked = Gauge::default();
        registry.register(
            "connections_parked",
            "Idle HTTP/1 client connections waiting without HTTP buffers",
            connections_parked.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register(
            "build_info",
            "Build information; the value is always 1",
            build,
        );

        Self {
            registry,
            requests,
            rewrites,
            upstream_seconds,
            rate_limit_remaining,
            rate_limit_waits,
            rate_limit_wait_seconds,
            too_many_avoided,
            too_many_passed,
            too_many_local,
            loops_detected,
            reloads,
            reload_failures,
            guard_refusals,
            guard_overrides,
            webhook_events_accepted,
            invalid_json_responses,
            deliveries,
            relay_queue_depth,
            relay_dead_letters,
            connections: Arc::new(ConnectionStats::default()),
            connections_open,
            connections_parked,
        }
    }

    /// Adds metrics owned by another part of the process (the relay) to the exposition.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    pub fn count_rewrites(&self, location: &'static str, direction: &'static str, count: usize) {
        if count > 0 {
            self.rewrites
                .get_or_create(&RewriteLabels {
                    location,
                    direction,
                })
                .inc_by(count as u64);
        }
    }

    /// The exposition text for `GET /metrics`.
    pub fn encode(&self) -> String {
        let gauge = |count: usize| i64::try_from(count).unwrap_or(i64::MAX);
        self.connections_open.set(gauge(self.connections.open()));
        self.connections_parked
            .set(gauge(self.connections.parked()));
        let mut text = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(%error, "encoding metrics failed");
        }
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
