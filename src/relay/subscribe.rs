//! The `/webhooks` calls that proxy listeners intercept while the relay is on.
//!
//! `POST /webhooks/subscribe` creates a relay subscription and subscribes ShipStation to its
//! ingress URL instead of the client's target. `GET /webhooks` shows the client's own
//! target for relayed hooks, and `DELETE /webhooks/{id}` removes the relay subscription
//! once ShipStation confirmed the deletion.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{json, Value};

use super::error::RelayError;
use super::ssrf;
use super::token::{self, IngressToken};
use super::Relay;
use crate::config::Mode;
use crate::proxy::body::{self, ReadError, ResponseBody};
use crate::proxy::headers;
use crate::ratelimit::CredentialKey;
use crate::storage::NewSubscription;
use crate::stores::Direction;

/// Largest subscribe body read. A subscription is four short fields.
const MAX_SUBSCRIBE_BODY: u64 = 64 * 1024;

/// The intercepted calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhooksCall {
    List,
    Subscribe,
    Unsubscribe(u64),
}

impl WebhooksCall {
    /// Classifies a request; `None` for calls the proxy forwards as usual. Segments are
    /// compared ignoring ASCII case, as ShipStation's routing does.
    pub fn classify(method: &Method, path: &str) -> Option<Self> {
        let trimmed = path.trim_matches('/');
        let mut segments = trimmed.split('/');
        let first = segments.next()?;
        if !first.eq_ignore_ascii_case("webhooks") {
            return None;
        }
        let second = segments.next();
        if segments.next().is_some() {
            return None;
        }
        match (method, second) {
            (&Method::GET, None) => Some(WebhooksCall::List),
            (&Method::POST, Some(name)) if name.eq_ignore_ascii_case("subscribe") => {
                Some(WebhooksCall::Subscribe)
            }
            (&Method::DELETE, Some(id)) => id.parse().ok().map(WebhooksCall::Unsubscribe),
            _ => None,
        }
    }
}

/// Handles an intercepted call. Never fails: errors become responses.
pub async fn handle(
    relay: &Relay,
    mode: Mode,
    call: WebhooksCall,
    request: Request<Incoming>,
) -> Response<ResponseBody> {
    let credential = CredentialKey::from_headers(request.headers());
    let result = match call {
        WebhooksCall::Subscribe => subscribe(relay, mode, request).await,
        WebhooksCall::List => list(relay, mode, request).await,
        WebhooksCall::Unsubscribe(id) => unsubscribe(relay, id, request).await,
    };
    result.unwrap_or_else(|error| {
        let rate_limit = relay.shared().rate_limit.headers_for(credential.as_ref());
        error.into_response(Some(&rate_limit))
    })
}

/// A subscribe request as the client sent it.
struct SubscribeRequest {
    target_url: String,
    event: String,
    store_id: Option<u64>,
    friendly_name: Option<String>,
}

fn parse_subscribe(raw: &[u8]) -> Result<SubscribeRequest, RelayError> {
    let invalid = |reason: &str| RelayError::InvalidSubscription(reason.to_owned());
    let body: Value =
        serde_json::from_slice(raw).map_err(|_| invalid("The body is not valid JSON."))?;
    let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::trim);
    let target_url = text("target_url")
        .filter(|url| !url.is_empty())
        .ok_or_else(|| invalid("target_url is required."))?;
    let event = text("event")
        .filter(|event| !event.is_empty())
        .ok_or_else(|| invalid("event is required."))?;
    let store_id = match body.get("store_id") {
        None | Some(Value::Null) => None,
        Some(Value::Number(number)) => Some(
            number
                .as_u64()
                .ok_or_else(|| invalid("store_id must be a store ID."))?,
        ),
        Some(Value::String(digits)) => Some(
            digits
                .trim()
                .parse()
                .map_err(|_| invalid("store_id must be a store ID."))?,
        ),
        Some(_) => return Err(invalid("store_id must be a store ID.")),
    };
    Ok(SubscribeRequest {
        target_url: target_url.to_owned(),
        event: event.to_owned(),
        store_id,
        friendly_name: text("friendly_name").map(str::to_owned),
    })
}

async fn subscribe(
    relay: &Relay,
    mode: Mode,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, RelayError> {
    let (parts, body) = request.into_parts();
    let raw = read_body(body).await?;
    let requested = parse_subscribe(&raw)?;

    // Check the target before anything is stored.
    ssrf::check_target(
        &requested.target_url,
        relay.config.dangerous_allow_private_targets,
    )
    .await
    .map_err(RelayError::TargetRejected)?;

    // Store the subscription as pending, under a new token.
    let map = relay.shared().stores.load();
    let upstream_store_id = requested
        .store_id
        .map(|id| map.translate(Direction::ToConnect, id).unwrap_or(id));
    let token = IngressToken::generate();
    let id = relay
        .storage
        .insert_subscription(&NewSubscription {
            token_hash: token.hash(),
            target_url: requested.target_url.clone(),
            event: requested.event.clone(),
            store_id: requested.store_id,
            upstream_store_id,
            friendly_name: requested.friendly_name.clone(),
            mode,
            created_at: relay.clock.now(),
        })
        .await?;

    // Subscribe ShipStation to the ingress; on any failure, remove the local record.
    let upstream_body = json!({
        "target_url": token::ingress_url(&relay.config.public_url, &token),
        "event": requested.event,
        "store_id": upstream_store_id,
        "friendly_name": requested.friendly_name,
    });
    let upstream_result = call_upstream(
        relay,
        Method::POST,
        "/webhooks/subscribe",
        None,
        &parts.headers,
        Bytes::from(upstream_body.to_string()),
    )
    .await;
    let (status, headers, bytes) = match upstream_result {
        Ok(answer) => answer,
        Err(error) => {
            forget(relay, id).await;
            return Err(error);
        }
    };
    if !status.is_success() {
        forget(relay, id).await;
        return Ok(relay_response(status, &headers, bytes));
    }
    let upstream_id = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|value| value.get("id").and_then(Value::as_u64));
    let Some(upstream_id) = upstream_id else {
        // NOTE: ShipStation may keep a hook whose token is no longer stored. Its events get
        // 404 from the ingress until the hook is deleted upstream.
        forget(relay, id).await;
        return Err(RelayError::UpstreamInvalid);
    };
    relay.storage.activate_subscription(id, upstream_id).await?;
    tracing::info!(
        subscription_id = id,
        upstream_id,
        mode = mode.as_str(),
        "relay subscription created"
    );
    Ok(relay_response(status, &headers, bytes))
}

/// Removes a pending subscription whose ShipStation side failed.
async fn forget(relay: &Relay, id: i64) {
    if let Err(error) = relay.storage.delete_subscription(id).await {
        tracing::error!(subscription_id = id, error = %crate::error::ErrorChain(&error), "removing a failed relay subscription failed");
    }
}

async fn list(
    relay: &Relay,
    mode: Mode,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, RelayError> {
    let query = request.uri().query().map(str::to_owned);
    let (status, headers, bytes) = call_upstream(
        relay,
        Method::GET,
        "/webhooks",
        query.as_deref(),
        request.headers(),
        Bytes::new(),
    )
    .await?;
    let Some(mut document) = status
        .is_success()
        .then(|| serde_json::from_slice::<Value>(&bytes).ok())
        .flatten()
    else {
        return Ok(relay_response(status, &headers, bytes));
    };
    let map = relay.shared().stores.load();
    if let Some(hooks) = document.get_mut("webhooks").and_then(Value::as_array_mut) {
        for hook in hooks {
            show_subscriber_target(relay, hook).await?;
            if mode == Mode::Mirror {
                if let Some(store) = hook.get_mut("StoreID") {
                    let legacy = store
                        .as_u64()
                        .and_then(|id| map.translate(Direction::ToLegacy, id));
                    if let Some(legacy) = legacy {
                        *store = Value::from(legacy);
                    }
                }
            }
        }
    }
    Ok(relay_response(
        status,
        &headers,
        Bytes::from(document.to_string()),
    ))
}

/// Replaces an ingress `Url` with the subscriber's own target.
async fn show_subscriber_target(relay: &Relay, hook: &mut Value) -> Result<(), RelayError> {
    let Some(url) = hook.get("Url").and_then(Value::as_str) else {
        return Ok(());
    };
    let Some(token) = token::token_of_url(&relay.config.public_url, url) else {
        return Ok(());
    };
    if let Some(subscription) = relay.storage.subscription_by_token(&token.hash()).await? {
        hook["Url"] = Value::from(subscription.target_url);
    }
    Ok(())
}

async fn unsubscribe(
    relay: &Relay,
    upstream_id: u64,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, RelayError> {
    let path = format!("/webhooks/{upstream_id}");
    let (status, headers, bytes) = call_upstream(
        relay,
        Method::DELETE,
        &path,
        None,
        request.headers(),
        Bytes::new(),
    )
    .await?;
    if status.is_success() {
        if let Some(subscription) = relay
            .storage
            .subscription_by_upstream_id(upstream_id)
            .await?
        {
            relay.storage.delete_subscription(subscription.id).await?;
            tracing::info!(
                subscription_id = subscription.id,
                upstream_id,
                "relay subscription deleted"
            );
        }
    }
    Ok(relay_response(status, &headers, bytes))
}

async fn read_body(body: Incoming) -> Result<Bytes, RelayError> {
    body::read_limited(body, MAX_SUBSCRIBE_BODY)
        .await
        .map_err(|error| match error {
            ReadError::TooLarge => RelayError::BodyTooLarge {
                limit: MAX_SUBSCRIBE_BODY as usize,
            },
            ReadError::Failed(source) => RelayError::BodyUnreadable(source),
        })
}

/// Sends one call to ShipStation with the client's credentials and reads the whole
/// response, uncompressed.
async fn call_upstream(
    relay: &Relay,
    method: Method,
    path: &str,
    query: Option<&str>,
    client_headers: &HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, HeaderMap, Bytes), RelayError> {
    // Forward the client's headers, less those that describe its own connection and body.
    let shared = relay.shared();
    let uri = shared
        .upstream
        .uri_for(path, query)
        .map_err(crate::error::ProxyError::BadUri)?;
    let mut headers = client_headers.clone();
    headers::remove_hop_by_hop(&mut headers);
    for name in [
        http::header::CONTENT_LENGTH,
        http::header::ACCEPT_ENCODING,
        http::header::CONTENT_ENCODING,
        http::header::EXPECT,
    ] {
        headers.remove(name);
    }
    headers::append_via(&mut headers, http::Version::HTTP_11, &shared.via);
    if let Ok(host) = HeaderValue::from_str(shared.upstream.target().authority.as_str()) {
        headers.insert(http::header::HOST, host);
    }
    if !body.is_empty() {
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }

    // Wait for a turn in the shared budget, send, then read the whole response.
    let credential = CredentialKey::from_headers(client_headers);
    shared
        .rate_limit
        .admit(credential.as_ref(), &shared.metrics)
        .await
        .map_err(|throttled| crate::error::ProxyError::Throttled {
            retry_after: throttled.retry_after,
            headers: throttled.headers,
        })?;
    let response = shared.upstream.send(method, uri, headers, body).await?;
    shared.rate_limit.observe(
        credential.as_ref(),
        response.status(),
        response.headers(),
        &shared.metrics,
    );
    let (parts, incoming) = response.into_parts();
    let bytes = body::read_limited(incoming, shared.max_body)
        .await
        .map_err(|error| match error {
            ReadError::TooLarge => crate::error::ProxyError::UpstreamBodyTooLarge {
                limit: shared.max_body,
            },
            ReadError::Failed(source) => crate::error::ProxyError::UpstreamFailed(source),
        })?;
    Ok((parts.status, parts.headers, bytes))
}

/// Builds the client's response from ShipStation's status and headers and a new body.
fn relay_response(
    status: StatusCode,
    upstream: &HeaderMap,
    bytes: Bytes,
) -> Response<ResponseBody> {
    let mut headers = upstream.clone();
    headers::remove_hop_by_hop(&mut headers);
    headers.remove(http::header::CONTENT_ENCODING);
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    let mut response = Response::new(body::full(bytes));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_webhook_calls() {
        assert_eq!(
            WebhooksCall::classify(&Method::GET, "/webhooks"),
            Some(WebhooksCall::List)
        );
        assert_eq!(
            WebhooksCall::classify(&Method::GET, "/Webhooks/"),
            Some(WebhooksCall::List)
        );
        assert_eq!(
            WebhooksCall::classify(&Method::POST, "/webhooks/subscribe"),
            Some(WebhooksCall::Subscribe)
        );
        assert_eq!(
            WebhooksCall::classify(&Method::DELETE, "/webhooks/42"),
            Some(WebhooksCall::Unsubscribe(42))
        );
        assert_eq!(
            WebhooksCall::classify(&Method::DELETE, "/webhooks/abc"),
            None
        );
        assert_eq!(WebhooksCall::classify(&Method::GET, "/orders"), None);
        assert_eq!(WebhooksCall::classify(&Method::POST, "/webhooks"), None);
    }

    #[test]
    fn subscribe_body_checked() {
        let parsed = parse_subscribe(
            br#"{"target_url":" https://a.example/h ","event":"ORDER_NOTIFY","store_id":"12345"}"#,
        )
        .expect("valid");
        assert_eq!(parsed.target_url, "https://a.example/h");
        assert_eq!(parsed.store_id, Some(12345));
        for invalid in [
            &b"{}"[..],
            br#"{"target_url":"https://a"}"#,
            br#"{"event":"ORDER_NOTIFY"}"#,
            br#"{"target_url":"https://a","event":"E","store_id":-1}"#,
            b"nope",
        ] {
            assert!(
                parse_subscribe(invalid).is_err(),
                "{}",
                String::from_utf8_lossy(invalid)
            );
        }
    }
}
