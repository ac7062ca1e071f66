//! The relay's admin endpoints: subscriptions, deliveries and replays.
//!
//! Target URLs are shown without credentials or query, and ingress tokens not at all,
//! because admin output ends up in terminals and tickets.

use http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::relay::commands::redact_url;
use crate::relay::Relay;
use crate::storage::{EventFilter, EventSummary, StorageError, Subscription};

/// Most events one `deliveries` listing returns.
const LISTING_LIMIT: u32 = 200;

/// Handles `/admin/relay/...`, or returns `None` for a path that is not a relay endpoint.
pub async fn handle(
    relay: &Relay,
    method: &Method,
    path: &str,
    query: Option<&str>,
) -> Option<(StatusCode, Value)> {
    let rest = path.strip_prefix("/admin/relay/")?;
    let result = match (method, rest) {
        (&Method::GET, "subscriptions") => subscriptions(relay).await,
        (&Method::GET, "deliveries") => deliveries(relay, query).await,
        (&Method::POST, "replay") if query == Some("dead=true") => replay_dead(relay).await,
        (&Method::POST, other) if other.starts_with("replay/") => {
            replay_one(relay, &other["replay/".len()..]).await
        }
        (_, "subscriptions" | "deliveries" | "replay") => Ok((
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"message": format!("{method} is not allowed on {path}"), "code": "method_not_allowed"}),
        )),
        _ => return None,
    };
    Some(result.unwrap_or_else(|error| {
        tracing::warn!(error = %crate::error::ErrorChain(&error), "relay admin request failed");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"message": "the relay store could not be read; see the log", "code": "storage_failed"}),
        )
    }))
}

async fn subscriptions(relay: &Relay) -> Result<(StatusCode, Value), StorageError> {
    let list: Vec<Value> = relay
        .storage
        .subscriptions()
        .await?
        .iter()
        .map(subscription_json)
        .collect();
    Ok((StatusCode::OK, json!({ "subscriptions": list })))
}

fn subscription_json(subscription: &Subscription) -> Value {
    json!({
        "id": subscription.id,
        "upstream_id": subscription.upstream_id,
        "target_url": redact_url(&subscription.target_url),
        "event": subscription.event,
        "store_id": subscription.store_id,
        "upstream_store_id": subscription.upstream_store_id,
        "friendly_name": subscription.friendly_name,
        "mode": subscription.mode.as_str(),
        "state": subscription.state.as_str(),
        "disabled_reason": subscription.disabled_reason,
        "created_at_ms": subscription.created_at.0,
    })
}

async fn deliveries(
    relay: &Relay,
    query: Option<&str>,
) -> Result<(StatusCode, Value), StorageError> {
    let filter = match query {
        None | Some("") => EventFilter::All,
        Some("status=failed") => EventFilter::Failing,
        Some("status=dead") => EventFilter::Dead,
        Some(_) => {
            return Ok((
                StatusCode::BAD_REQUEST,
                json!({"message": "status must be failed or dead, for example ?status=dead", "code": "invalid_query"}),
            ))
        }
    };
    let events = relay.storage.events(filter, LISTING_LIMIT).await?;
    let mut list = Vec::with_capacity(events.len());
    for event in &events {
        let attempts = relay.storage.attempts(event.id).await?;
        list.push(event_json(event, &attempts));
    }
    Ok((StatusCode::OK, json!({ "deliveries": list })))
}

fn event_json(event: &EventSummary, attempts: &[crate::storage::AttemptRecord]) -> Value {
    let attempts: Vec<Value> = attempts
        .iter()
        .map(|attempt| {
            json!({
                "at_ms": attempt.attempted_at.0,
                "status": attempt.status_code,
                "latency_ms": attempt.latency_ms,
                "reason": attempt.reason,
            })
        })
        .collect();
    json!({
        "id": event.id,
        "webhook_id": format!("msg_{}", event.uid),
        "subscription_id": event.subscription_id,
        "resource_type": event.resource_type,
        "status": event.status.as_str(),
        "attempts": attempts,
        "received_at_ms": event.received_at.0,
        "next_attempt_at_ms": event.next_attempt_at.0,
        "last_error": event.last_error,
    })
}

async fn replay_one(relay: &Relay, id: &str) -> Result<(StatusCode, Value), StorageError> {
    let Ok(id) = id.parse::<i64>() else {
        return Ok((
            StatusCode::BAD_REQUEST,
            json!({"message": format!("{id:?} is not an event ID; use POST /admin/relay/replay/ID"), "code": "invalid_id"}),
        ));
    };
    if !relay.storage.replay(id, relay.clock.now()).await? {
        return Ok((
            StatusCode::NOT_FOUND,
            json!({"message": format!("no event {id}"), "code": "not_found"}),
        ));
    }
    relay.deliverer.wake();
    tracing::info!(
        event_id = id,
        "webhook event replayed from the admin endpoint"
    );
    Ok((StatusCode::OK, json!({ "replayed": 1 })))
}

async fn replay_dead(relay: &Relay) -> Result<(StatusCode, Value), StorageError> {
    let count = relay.storage.replay_dead(relay.clock.now()).await?;
    relay.deliverer.wake();
    tracing::info!(count, "dead letters replayed from the admin endpoint");
    Ok((StatusCode::OK, json!({ "replayed": count })))
}
