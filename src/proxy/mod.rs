//! The reverse proxy: one request in, one request to ShipStation, one response out.
//!
//! Steps, each in its own module: refuse loops, wait for the shared rate-limit budget
//! ([`crate::ratelimit`]), classify the route ([`route`]), read the body ([`body`]),
//! translate the call ([`request`]), forward it ([`crate::upstream`]), translate the response
//! for `mirror` listeners ([`response`]). Errors become responses in [`crate::error`] only.

pub mod body;
pub mod guard;
pub mod headers;
mod pipeline;
pub mod request;
pub mod response;
mod rewrite_body;
pub mod route;

use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use http::{HeaderValue, Method, Request, Response};
use hyper::body::Incoming;

use self::body::{ReadError, ResponseBody};
use self::request::RewriteCounts;
use self::response::{ResponseContext, ResponseRewrites};
use self::route::Route;
use crate::config::Mode;
use crate::error::ProxyError;
use crate::metrics::{Metrics, RequestLabels};
use crate::ratelimit::{CredentialKey, RateLimiter};
use crate::relay::subscribe::{self, WebhooksCall};
use crate::relay::Relay;
use crate::stores::StoreMap;
use crate::upstream::Upstream;

/// State shared by every listener of one process.
pub struct Shared {
    /// Swapped whole on reload, so a request sees one complete table.
    pub stores: ArcSwap<StoreMap>,
    pub upstream: Upstream,
    pub rate_limit: RateLimiter,
    pub metrics: Arc<Metrics>,
    pub max_body: u64,
    /// This process's `Via` pseudonym; a request that carries it has looped.
    pub via: headers::Via,
    /// The store `migrate scan` writes to, when `[guard] double_ship` is on.
    pub double_ship_guard: Option<crate::storage::SharedStorage>,
}

/// The request handler of one listener.
#[derive(Clone)]
pub struct Proxy {
    mode: Mode,
    shared: Arc<Shared>,
    /// The webhook relay, when it is on: `/webhooks` calls then go through it.
    relay: Option<Arc<Relay>>,
}

/// The outcome of one request, for the access log and metrics.
#[derive(Default)]
struct Outcome {
    request_rewrites: RewriteCounts,
    response_rewrites: ResponseRewrites,
    upstream_ms: Option<f64>,
}

impl Proxy {
    pub fn new(mode: Mode, shared: Arc<Shared>) -> Self {
        Self {
            mode,
            shared,
            relay: None,
        }
    }

    pub fn with_relay(mut self, relay: Option<Arc<Relay>>) -> Self {
        self.relay = relay;
        self
    }

    /// Handles one client request. Never fails: errors become JSON responses.
    pub async fn handle(&self, request: Request<Incoming>) -> Response<ResponseBody> {
        let started = Instant::now();
        let method = request.method().clone();
        let route = route::template(request.uri().path());
        let label = route::metric_label(request.uri().path());
        let credential = CredentialKey::from_headers(request.headers());

        let relayed = self.relay.as_ref().and_then(|relay| {
            WebhooksCall::classify(&method, request.uri().path()).map(|call| (relay, call))
        });
        let mut outcome = Outcome::default();
        let response = if let Some((relay, call)) = relayed {
            subscribe::handle(relay, self.mode, call, request).await
        } else {
            match self
                .forward(request, credential.as_ref(), &mut outcome)
                .await
            {
                Ok(response) => response,
                Err(error) => {
                    error.into_response(&self.shared.rate_limit.headers_for(credential.as_ref()))
                }
            }
        };

        let status = response.status().as_u16();
        self.record_metrics(label, status, &outcome);
        // A response rewritten while it streams is still being sent: its count goes to the
        // metrics when it ends, and `response_streamed` marks it here.
        let (response_rewrites, response_streamed) = match outcome.response_rewrites {
            ResponseRewrites::Counted(count) => (count, false),
            ResponseRewrites::Streamed => (0, true),
        };
        let rewrites = outcome.request_rewrites.total() + response_rewrites;
        tracing::info!(
            target: "storebridge::access",
            method = method.as_str(),
            route = route.as_str(),
            status,
            rewrites,
            mapped = rewrites > 0,
            response_streamed,
            mode = self.mode.as_str(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            upstream_ms = outcome.upstream_ms,
            "request"
        );
        response
    }

    fn record_metrics(&self, route: String, status: u16, outcome: &Outcome) {
        let metrics = &self.shared.metrics;
        metrics
            .requests
            .get_or_create(&RequestLabels {
                route,
                status,
                mode: self.mode.as_str(),
            })
            .inc();
        let counts = outcome.request_rewrites;
        metrics.count_rewrites("path", "to_connect", counts.path);
        metrics.count_rewrites("query", "to_connect", counts.query);
        metrics.count_rewrites("body", "to_connect", counts.body);
        if let ResponseRewrites::Counted(count) = outcome.response_rewrites {
            metrics.count_rewrites("body", "to_legacy", count);
        }
    }

    async fn forward(
        &self,
        request: Request<Incoming>,
        credential: Option<&CredentialKey>,
        outcome: &mut Outcome,
    ) -> Result<Response<ResponseBody>, ProxyError> {
        let shared = &self.shared;
        if headers::via_contains(request.headers(), shared.via.token()) {
            shared.metrics.loops_detected.inc();
            return Err(ProxyError::Loop);
        }
        let map = shared.stores.load_full();
        let route = Route::classify(
            request.method(),
            &route::normalize_path(request.uri().path()),
        );
        let (parts, mut body) = request.into_parts();
        let body_timeout = shared.upstream.request_timeout();
        let too_large = || ProxyError::BodyTooLarge {
            limit: shared.max_body,
        };

        // A declared length over the limit is refused before reading, so a client that
        // sent `Expect: 100-continue` gets 413 instead of being asked for the body. One that
        // sends its body anyway has it drained first, so that it reads the 413.
        if let Some(length) =
            headers::content_length(&parts.headers).filter(|length| *length > shared.max_body)
        {
            if !headers::expects_continue(&parts.headers) && length <= body::DISCARD_LIMIT {
                let deadline = tokio::time::Instant::now() + body_timeout;
                body::discard(body, body::DISCARD_LIMIT, deadline).await;
            }
            return Err(too_large());
        }

        // Read the body whole: it must be rewritten before its length is known. A client
        // that stops sending mid-body gets the upstream request timeout, not forever.
        let deadline = tokio::time::Instant::now() + body_timeout;
        let raw =
            match tokio::time::timeout_at(deadline, body::read_limited(&mut body, shared.max_body))
                .await
            {
                Ok(Ok(raw)) => raw,
                Ok(Err(ReadError::TooLarge)) => {
                    body::discard(body, body::DISCARD_LIMIT, deadline).await;
                    return Err(too_large());
                }
                Ok(Err(ReadError::Failed(source))) => return Err(ProxyError::ClientBody(source)),
                Err(_) => {
                    return Err(ProxyError::ClientBodyTimeout {
                        timeout: body_timeout,
                    })
                }
            };

        // Refuse to ship an order a second time, before anything goes upstream.
        if let Some(storage) = &shared.double_ship_guard {
            let path = route::normalize_path(parts.uri.path());
            if guard::applies(&parts.method, &path) {
                guard::check(
                    storage,
                    &parts.headers,
                    &raw,
                    shared.max_body,
                    &shared.metrics,
                )
                .await?;
            }
        }

        // Translate the call and build the upstream request.
        let translated = request::translate(&parts, route, raw, &map, shared.max_body)?;
        outcome.request_rewrites = translated.rewrites;
        let uri = shared
            .upstream
            .uri_for(&translated.path, translated.query.as_deref())
            .map_err(ProxyError::BadUri)?;
        let mut headers = parts.headers;
        headers::remove_hop_by_hop(&mut headers);
        headers.remove(&guard::OVERRIDE_HEADER);
        headers::append_via(&mut headers, parts.version, &shared.via);
        if let Some(host) = shared.upstream.host() {
            headers.insert(http::header::HOST, host.clone());
        }
        headers.remove(http::header::CONTENT_LENGTH);
        // The body is already read whole, so upstream has nothing to wait for.
        headers.remove(http::header::EXPECT);
        if !translated.body.is_empty()
            || matches!(parts.method, Method::POST | Method::PUT | Method::PATCH)
        {
            headers.insert(
                http::header::CONTENT_LENGTH,
                HeaderValue::from(translated.body.len()),
            );
        }

        // Wait for a turn in the shared budget, then forward.
        shared
            .rate_limit
            .admit(credential, &shared.metrics)
            .await
            .map_err(|throttled| ProxyError::Throttled {
                retry_after: throttled.retry_after,
                headers: throttled.headers,
            })?;
        let sent = Instant::now();
        let upstream_response = shared
            .upstream
            .send(parts.method, uri, headers, translated.body)
            .await?;
        let upstream_seconds = sent.elapsed().as_secs_f64();
        shared.metrics.upstream_seconds.observe(upstream_seconds);
        outcome.upstream_ms = Some(upstream_seconds * 1000.0);
        shared.rate_limit.observe(
            credential,
            upstream_response.status(),
            upstream_response.headers(),
            &shared.metrics,
        );

        // Translate the response.
        let context = ResponseContext {
            mode: self.mode,
            route,
            map: &map,
            max_body: shared.max_body,
            body_timeout: shared.upstream.request_timeout(),
            via: &shared.via,
            metrics: &shared.metrics,
        };
        let (response, response_rewrites) =
            response::translate(upstream_response, &context).await?;
        outcome.response_rewrites = response_rewrites;
        Ok(response)
    }
}
