//! The admin listener: health, readiness, Prometheus metrics, the mappings in force,
//! reloads, and the relay's subscriptions, deliveries and replays when the relay is on.
//!
//! With `[admin] token` set, every endpoint but `/healthz` and `/readyz` requires
//! `Authorization: Bearer TOKEN`. The two probes stay open because Kubernetes probes them
//! from the node, and they reveal only whether the process is up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;

mod relay;

use crate::proxy::body::{self, ResponseBody};
use crate::proxy::Shared;
use crate::relay::Relay;
use crate::reload::Reloader;
use crate::secret::Secret;

/// Whether the process is ready for traffic.
#[derive(Default)]
pub struct Readiness {
    serving: AtomicBool,
}

impl Readiness {
    pub fn set_serving(&self, serving: bool) {
        self.serving.store(serving, Ordering::SeqCst);
    }

    /// `None` when ready, otherwise the reason.
    fn not_ready_reason(&self) -> Option<&'static str> {
        if !self.serving.load(Ordering::SeqCst) {
            return Some("listeners are not serving (starting or shutting down)");
        }
        None
    }
}

#[derive(Clone)]
pub struct Admin {
    inner: Arc<Inner>,
}

struct Inner {
    token: Option<Secret>,
    shared: Arc<Shared>,
    reloader: Arc<Reloader>,
    readiness: Arc<Readiness>,
    relay: Option<Arc<Relay>>,
}

impl Admin {
    pub fn new(
        token: Option<Secret>,
        shared: Arc<Shared>,
        reloader: Arc<Reloader>,
        readiness: Arc<Readiness>,
        relay: Option<Arc<Relay>>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                token,
                shared,
                reloader,
                readiness,
                relay,
            }),
        }
    }

    pub async fn handle(&self, request: Request<Incoming>) -> Response<ResponseBody> {
        let path = request.uri().path().to_owned();
        let method = request.method().clone();
        let probe = matches!(path.as_str(), "/healthz" | "/readyz");
        if !probe && !self.authorized(&request) {
            let mut response = json(
                StatusCode::UNAUTHORIZED,
                &serde_json::json!({
                    "message": "This admin endpoint needs the header Authorization: Bearer <[admin] token>.",
                    "code": "unauthorized",
                }),
            );
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer"),
            );
            return response;
        }

        if let Some(relay) = &self.inner.relay {
            let query = request.uri().query();
            if let Some((status, body)) = relay::handle(relay, &method, &path, query).await {
                tracing::debug!(%method, path = %path, status = status.as_u16(), "admin request");
                return json(status, &body);
            }
        }

        let response = match (method.clone(), path.as_str()) {
            (Method::GET, "/healthz") => text(
                StatusCode::OK,
                "text/plain; charset=utf-8",
                "ok\n".to_owned(),
            ),
            (Method::GET, "/readyz") => self.readyz().await,
            (Method::GET, "/metrics") => self.metrics().await,
            (Method::GET, "/admin/stores") => self.stores(),
            (Method::POST, "/admin/reload") => self.reload(),
            (_, "/healthz" | "/readyz" | "/metrics" | "/admin/stores" | "/admin/reload") => json(
                StatusCode::METHOD_NOT_ALLOWED,
                &serde_json::json!({"message": format!("{method} is not allowed on {path}"), "code": "method_not_allowed"}),
            ),
            _ => json(
                StatusCode::NOT_FOUND,
                &serde_json::json!({"message": format!("no admin endpoint at {path}"), "code": "not_found"}),
            ),
        };
        tracing::debug!(%method, path = %path, status = response.status().as_u16(), "admin request");
        response
    }

    fn authorized(&self, request: &Request<Incoming>) -> bool {
        let Some(token) = &self.inner.token else {
            return true;
        };
        let Some(value) = request.headers().get(http::header::AUTHORIZATION) else {
            return false;
        };
        let bytes = value.as_bytes();
        match bytes.strip_prefix(b"Bearer ") {
            Some(candidate) => token.matches(candidate),
            None => false,
        }
    }

    async fn readyz(&self) -> Response<ResponseBody> {
        if let Some(reason) = self.inner.readiness.not_ready_reason() {
            return json(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({"ready": false, "reason": reason}),
            );
        }
        if let Some(relay) = &self.inner.relay {
            if let Err(error) = relay.storage.event_counts().await {
                let reason = format!(
                    "the relay store cannot be read: {}",
                    crate::error::ErrorChain(&error)
                );
                return json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &serde_json::json!({"ready": false, "reason": reason}),
                );
            }
        }
        json(StatusCode::OK, &serde_json::json!({"ready": true}))
    }

    async fn metrics(&self) -> Response<ResponseBody> {
        let metrics = &self.inner.shared.metrics;
        if let Some(relay) = &self.inner.relay {
            match relay.storage.event_counts().await {
                Ok(counts) => {
                    metrics
                        .relay_queue_depth
                        .set(i64::try_from(counts.pending).unwrap_or(i64::MAX));
                    metrics
                        .relay_dead_letters
                        .set(i64::try_from(counts.dead).unwrap_or(i64::MAX));
                }
                Err(error) => {
                    tracing::warn!(error = %crate::error::ErrorChain(&error), "reading relay counts for metrics failed")
                }
            }
        }
        text(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.encode(),
        )
    }

    fn stores(&self) -> Response<ResponseBody> {
        let map = self.inner.shared.stores.load();
        json(
            StatusCode::OK,
            &serde_json::json!({ "stores": map.pairs() }),
        )
    }

    fn reload(&self) -> Response<ResponseBody> {
        match self.inner.reloader.reload() {
            Ok(report) => json(
                StatusCode::OK,
                &serde_json::json!({"reloaded": true, "report": report}),
            ),
            Err(error) => json(
                StatusCode::UNPROCESSABLE_ENTITY,
                &serde_json::json!({
                    "reloaded": false,
                    "message": format!("{}; the previous configuration stays in force", crate::error::ErrorChain(&error)),
                    "code": "reload_failed",
                }),
            ),
        }
    }
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<ResponseBody> {
    text(status, "application/json; charset=utf-8", value.to_string())
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<ResponseBody> {
    let mut response = Response::new(body::full(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    response
}
