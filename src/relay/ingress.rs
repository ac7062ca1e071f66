//! The ingress: `POST /hooks/{token}`, where ShipStation delivers the webhooks of relay
//! subscriptions.
//!
//! The event is rewritten for its subscriber and committed to the store before the 200 goes
//! back, and nothing waits on the subscriber, so ShipStation gets its response within one
//! database commit. Concurrent events share commits through the relay's
//! [`EventWriter`](crate::storage::group_commit::EventWriter).

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use rand::RngCore;

use super::error::RelayError;
use super::payload::{rewrite_body, WebhookBody};
use super::token::IngressToken;
use super::Relay;
use crate::proxy::body::{self, ReadError, ResponseBody};
use crate::storage::{NewEvent, SubscriptionState};

/// Largest webhook body accepted. A V1 body is two short strings, about 200 bytes, so
/// 64 KiB leaves room for fields ShipStation may add and still bounds memory.
pub const MAX_WEBHOOK_BODY: usize = 64 * 1024;

/// Handles one ingress request. Never fails: errors become responses.
pub async fn handle(relay: Arc<Relay>, request: Request<Incoming>) -> Response<ResponseBody> {
    match accept(&relay, request).await {
        Ok(()) => {
            let mut response = Response::new(body::full(bytes::Bytes::new()));
            *response.status_mut() = StatusCode::OK;
            response
        }
        Err(error) => error.into_response(None),
    }
}

async fn accept(relay: &Relay, request: Request<Incoming>) -> Result<(), RelayError> {
    // Only /hooks/{token} exists, and only for POST.
    let token = request
        .uri()
        .path()
        .strip_prefix("/hooks/")
        .filter(|token| is_token_shaped(token))
        .map(IngressToken::from_path)
        .ok_or(RelayError::UnknownToken)?;
    if request.method() != Method::POST {
        return Err(RelayError::MethodNotAllowed { allow: "POST" });
    }

    // The token decides the subscription; a disabled one accepts nothing more.
    let subscription = relay
        .storage
        .subscription_by_token(&token.hash())
        .await?
        .filter(|found| found.state != SubscriptionState::Disabled)
        .ok_or(RelayError::UnknownToken)?;

    // Read and check the body.
    let raw = body::read_limited(request.into_body(), MAX_WEBHOOK_BODY as u64)
        .await
        .map_err(|error| match error {
            ReadError::TooLarge => RelayError::BodyTooLarge {
                limit: MAX_WEBHOOK_BODY,
            },
            ReadError::Failed(source) => RelayError::BodyUnreadable(source),
        })?;
    let webhook = WebhookBody::parse(&raw).ok_or(RelayError::NotWebhook)?;

    // Rewrite for the subscriber and commit before responding.
    let payload = relay.rewrite(&webhook, subscription.mode);
    let uid = new_event_uid();
    let event = NewEvent {
        uid: uid.clone(),
        subscription_id: subscription.id,
        resource_type: webhook.resource_type.clone(),
        received_body: String::from_utf8_lossy(&raw).into_owned(),
        payload,
        received_at: relay.clock.now(),
    };
    let event_id = relay.events.insert(event).await?;
    relay.shared().metrics.webhook_events_accepted.inc();
    relay.deliverer.wake();
    tracing::info!(
        event_id,
        subscription_id = subscription.id,
        webhook_id = %uid,
        resource_type = %webhook.resource_type,
        "webhook accepted"
    );
    Ok(())
}

/// Tokens are base64url; anything else cannot be one, so it is not looked up.
fn is_token_shaped(text: &str) -> bool {
    (16..=128).contains(&text.len())
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

/// Returns a new event ID: 128 random bits, base64url.
fn new_event_uid() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Relay {
    /// Builds the body delivered for `webhook` to a subscription of `mode`.
    pub fn rewrite(&self, webhook: &WebhookBody, mode: crate::config::Mode) -> String {
        let map = self.shared.stores.load();
        rewrite_body(webhook, mode, &map, self.hosts.as_ref())
    }
}
