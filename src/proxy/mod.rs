//! The reverse proxy: one request in, one request to ShipStation, one response out.
//!
//! Steps, each in its own module: classify the route ([`route`]), read the body
//! ([`body`]), translate the call ([`request`]), forward it ([`crate::upstream`]), translate
//! the answer for `mirror` listeners ([`response`]). Errors become responses in
//! [`crate::error`] only.

pub mod body;
pub mod headers;
pub mod request;
pub mod response;
pub mod route;

use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use http::{HeaderValue, Method, Request, Response};
use hyper::body::Incoming;

use self::body::{ReadError, ResponseBody};
use self::response::ResponseContext;
use self::route::Route;
use crate::config::Mode;
use crate::error::ProxyError;
use crate::ratelimit::RateLimitTracker;
use crate::relay::subscribe::{self, WebhooksCall};
use crate::relay::Relay;
use crate::stores::StoreMap;
use crate::upstream::Upstream;

/// State shared by every listener of one process.
pub struct Shared {
    /// Swapped whole on reload, so a request sees one complete table.
    pub stores: ArcSwap<StoreMap>,
    pub upstream: Upstream,
    pub rate_limit: RateLimitTracker,
    pub max_body: u64,
}

/// The request handler of one listener.
#[derive(Clone)]
pub struct Proxy {
    mode: Mode,
    shared: Arc<Shared>,
    /// The webhook relay, when it is on: `/webhooks` calls then go through it.
    relay: Option<Arc<Relay>>,
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

        let relayed = self.relay.as_ref().and_then(|relay| {
            WebhooksCall::classify(&method, request.uri().path()).map(|call| (relay, call))
        });
        let (response, rewrites) = if let Some((relay, call)) = relayed {
            (subscribe::handle(relay, self.mode, call, request).await, 0)
        } else {
            match self.forward(request).await {
                Ok(pair) => pair,
                Err(error) => (error.into_response(&self.shared.rate_limit.current()), 0),
            }
        };

        tracing::info!(
            method = %method,
            route = %route,
            status = response.status().as_u16(),
            rewrites,
            mapped = rewrites > 0,
            mode = self.mode.as_str(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request"
        );
        response
    }

    async fn forward(
        &self,
        request: Request<Incoming>,
    ) -> Result<(Response<ResponseBody>, usize), ProxyError> {
        let shared = &self.shared;
        let map = shared.stores.load_full();
        let route = Route::classify(request.method(), request.uri().path());
        let (parts, body) = request.into_parts();

        // Read the body whole: it must be rewritten before its length is known.
        let raw = body::read_limited(body, shared.max_body)
            .await
            .map_err(|error| match error {
                ReadError::TooLarge => ProxyError::BodyTooLarge {
                    limit: shared.max_body,
                },
                ReadError::Failed(source) => ProxyError::ClientBody(source),
            })?;

        // Translate the call and build the upstream request.
        let translated = request::translate(&parts, route, raw, &map, shared.max_body)?;
        let uri = shared
            .upstream
            .uri_for(&translated.path, translated.query.as_deref())
            .map_err(ProxyError::BadUri)?;
        let mut headers = parts.headers;
        headers::remove_hop_by_hop(&mut headers);
        headers::append_via(&mut headers, parts.version);
        if let Ok(host) = HeaderValue::from_str(shared.upstream.target().authority.as_str()) {
            headers.insert(http::header::HOST, host);
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

        // Forward, then translate the answer.
        let upstream_response = shared
            .upstream
            .send(parts.method, uri, headers, translated.body)
            .await?;
        shared.rate_limit.observe(upstream_response.headers());
        let context = ResponseContext {
            mode: self.mode,
            route,
            map: &map,
            max_body: shared.max_body,
            body_timeout: shared.upstream.request_timeout(),
        };
        let (response, response_rewrites) =
            response::translate(upstream_response, &context).await?;
        Ok((response, translated.rewrites + response_rewrites))
    }
}
