//! Webhook subscriptions (`/webhooks`), the V1 notification bodies, and their delivery
//! by HTTPS POST.
//!
//! A V1 webhook body carries only `resource_url` and `resource_type`. The receiver fetches
//! `resource_url` with its own credentials, so the URL points at this sandbox.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

use super::errors;
use super::reply::Reply;
use super::routes::{id_field, json_body, path_id, Call, IdField, Outgoing};
use super::state::{State, Subscription, SELLER_ID};
use crate::tls::{self, TlsError};

/// Event names `POST /webhooks/subscribe` accepts.
const EVENTS: [&str; 6] = [
    "ORDER_NOTIFY",
    "ITEM_ORDER_NOTIFY",
    "SHIP_NOTIFY",
    "ITEM_SHIP_NOTIFY",
    "FULFILLMENT_SHIPPED",
    "FULFILLMENT_REJECTED",
];

/// Bound on one delivery, from connecting to reading the receiver's response.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// One webhook POST the sandbox attempted.
#[derive(Clone, Debug)]
pub struct WebhookDelivery {
    pub target_url: String,
    /// The JSON body sent, e.g. `{"resource_url":"…","resource_type":"ORDER_NOTIFY"}`.
    pub body: String,
    /// The receiver's HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// Reason no response arrived: a rejected target, a connection or TLS failure, a timeout.
    pub error: Option<String>,
}

/// `POST /webhooks/subscribe`: `target_url` and `event` are required; `store_id` (a
/// number or numeric string) limits the hook to one store.
pub(crate) fn subscribe(call: &Call<'_>, state: &mut State) -> Reply {
    let body = match json_body(call, "model") {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    if !body.is_object() {
        return errors::invalid_field("model", errors::required("model"));
    }
    let mut problems = Vec::new();
    let target_url = body
        .get("target_url")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|url| !url.is_empty());
    if target_url.is_none() {
        problems.push((
            "model.target_url".to_owned(),
            errors::required("target_url"),
        ));
    }
    let event = body.get("event").and_then(Value::as_str);
    match event {
        Some(name) if EVENTS.contains(&name) => {}
        Some(name) => problems.push((
            "model.event".to_owned(),
            format!(
                "The value '{name}' is not a valid event; use one of {}.",
                EVENTS.join(", ")
            ),
        )),
        None => problems.push(("model.event".to_owned(), errors::required("event"))),
    }
    let store_id = match id_field(body.get("store_id")) {
        IdField::Valid(id) => Some(id),
        IdField::Missing => None,
        IdField::Invalid => {
            problems.push((
                "model.store_id".to_owned(),
                "The value of store_id is not a valid integer.".to_owned(),
            ));
            None
        }
    };
    let (Some(target_url), Some(event), true) = (target_url, event, problems.is_empty()) else {
        return errors::invalid_fields(problems);
    };

    let id = state.take_webhook_id();
    state.subscriptions.push(Subscription {
        id,
        target_url: target_url.to_owned(),
        event: event.to_owned(),
        store_id,
        friendly_name: body
            .get("friendly_name")
            .and_then(Value::as_str)
            .map(str::to_owned),
    });
    Reply::ok(json!({ "id": id }))
}

/// `GET /webhooks`, in the PascalCase shape V1 returns.
pub(crate) fn list(state: &State) -> Reply {
    let hooks: Vec<Value> = state
        .subscriptions
        .iter()
        .map(|hook| {
            json!({
                "IsLabelAPIHook": false,
                "WebHookID": hook.id,
                "SellerID": SELLER_ID,
                "StoreID": hook.store_id,
                "HookType": hook.event,
                "MessageFormat": "Json",
                "Url": hook.target_url,
                "Name": hook.friendly_name,
                "BulkCopyBatchID": null,
                "BulkCopyRecordID": null,
                "Active": true,
                "WebhookLogs": [],
                "Seller": null,
                "Store": null
            })
        })
        .collect();
    Reply::ok(json!({ "webhooks": hooks }))
}

/// `DELETE /webhooks/{webhookId}`: 200 with an empty body.
pub(crate) fn unsubscribe(_call: &Call<'_>, state: &mut State, segment: &str) -> Reply {
    let id = match path_id(segment, "webhookId") {
        Ok(id) => id,
        Err(reply) => return reply,
    };
    let before = state.subscriptions.len();
    state.subscriptions.retain(|hook| hook.id != id);
    if state.subscriptions.len() == before {
        return errors::not_found(format!("Webhook ID {id} was not found."));
    }
    Reply::empty(http::StatusCode::OK)
}

fn notifications(state: &State, event: &str, store_id: u64, resource_url: &str) -> Vec<Outgoing> {
    let body = json!({ "resource_url": resource_url, "resource_type": event }).to_string();
    state
        .subscriptions
        .iter()
        .filter(|hook| hook.event == event)
        .filter(|hook| hook.store_id.is_none_or(|id| id == store_id))
        .map(|hook| Outgoing {
            target_url: hook.target_url.clone(),
            body: body.clone(),
        })
        .collect()
}

/// Queues ORDER_NOTIFY for orders of `store_id` created in import batch `batch`.
pub(crate) fn order_notify(
    state: &State,
    store_id: u64,
    batch: &str,
    base_url: &str,
) -> Vec<Outgoing> {
    let base = base_url.trim_end_matches('/');
    let url = format!("{base}/orders?storeID={store_id}&importBatch={batch}");
    notifications(state, "ORDER_NOTIFY", store_id, &url)
}

/// Queues SHIP_NOTIFY and ITEM_SHIP_NOTIFY for the labels of `batch_id`. V1 writes the
/// .NET booleans `False`/`True` in these URLs.
pub(crate) fn ship_notify(
    state: &State,
    store_id: u64,
    batch_id: u64,
    base_url: &str,
) -> Vec<Outgoing> {
    let base = base_url.trim_end_matches('/');
    let url = |items: &str| {
        format!(
            "{base}/shipments?storeID={store_id}&batchId={batch_id}&includeShipmentItems={items}"
        )
    };
    let mut queued = notifications(state, "SHIP_NOTIFY", store_id, &url("False"));
    queued.extend(notifications(
        state,
        "ITEM_SHIP_NOTIFY",
        store_id,
        &url("True"),
    ));
    queued
}

pub(crate) type DeliveryClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Builds the HTTP(S) client for deliveries, trusting the public roots plus `extra_ca`.
pub(crate) fn build_client(extra_ca: Option<&Path>) -> Result<DeliveryClient, TlsError> {
    let config = tls::client_config(extra_ca)?;
    let connector = HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// Returns true when the URL's host is `localhost` or a loopback IP address.
pub(crate) fn is_loopback_target(uri: &Uri) -> bool {
    let Some(host) = uri.host() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// POSTs one notification and reports the outcome. Targets off this machine are rejected
/// unless `allow_non_loopback` is set.
pub(crate) async fn deliver(
    client: &DeliveryClient,
    outgoing: Outgoing,
    allow_non_loopback: bool,
) -> WebhookDelivery {
    let Outgoing { target_url, body } = outgoing;
    let failed = |error: String| WebhookDelivery {
        target_url: target_url.clone(),
        body: body.clone(),
        status: None,
        error: Some(error),
    };

    let uri: Uri = match target_url.parse() {
        Ok(uri) => uri,
        Err(error) => return failed(format!("invalid target URL: {error}")),
    };
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return failed("invalid target URL: the scheme must be http or https".to_owned());
    }
    if !allow_non_loopback && !is_loopback_target(&uri) {
        return failed(format!(
            "not sent: {} is not a loopback host; set allow_non_loopback_webhooks to deliver to other hosts",
            uri.host().unwrap_or("")
        ));
    }
    let request = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(CONTENT_TYPE, "application/json")
        .header(USER_AGENT, "storebridge-sandbox")
        .body(Full::new(Bytes::from(body.clone())));
    let request = match request {
        Ok(request) => request,
        Err(error) => return failed(format!("cannot build the request: {error}")),
    };

    let exchange = async {
        let response = client.request(request).await?;
        let status = response.status().as_u16();
        // Read the body so the connection can be reused; its content is not used.
        let _ = response.into_body().collect().await;
        Ok::<u16, hyper_util::client::legacy::Error>(status)
    };
    match tokio::time::timeout(DELIVERY_TIMEOUT, exchange).await {
        Ok(Ok(status)) => WebhookDelivery {
            target_url,
            body,
            status: Some(status),
            error: None,
        },
        Ok(Err(error)) => failed(format!("delivery failed: {}", error_chain(&error))),
        Err(_) => failed(format!(
            "delivery timed out after {} s",
            DELIVERY_TIMEOUT.as_secs()
        )),
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription(id: u64, event: &str, store_id: Option<u64>) -> Subscription {
        Subscription {
            id,
            target_url: format!("https://127.0.0.1/hook{id}"),
            event: event.to_owned(),
            store_id,
            friendly_name: None,
        }
    }

    #[test]
    fn order_notify_matches_store_and_event() {
        let mut state =
            crate::sandbox::seed::seed_state(&crate::sandbox::SandboxOptions::default());
        state.subscriptions = vec![
            subscription(1, "ORDER_NOTIFY", Some(7)),
            subscription(2, "ORDER_NOTIFY", None),
            subscription(3, "ORDER_NOTIFY", Some(8)),
            subscription(4, "SHIP_NOTIFY", None),
        ];
        let queued = order_notify(&state, 7, "batch-1", "https://127.0.0.1:1/");
        let targets: Vec<&str> = queued.iter().map(|item| item.target_url.as_str()).collect();
        assert_eq!(
            targets,
            vec!["https://127.0.0.1/hook1", "https://127.0.0.1/hook2"]
        );
        let body: Value = serde_json::from_str(&queued[0].body).unwrap();
        assert_eq!(
            body,
            json!({
                "resource_url": "https://127.0.0.1:1/orders?storeID=7&importBatch=batch-1",
                "resource_type": "ORDER_NOTIFY"
            })
        );
    }

    #[test]
    fn ship_notify_item_variant_uses_true() {
        let mut state =
            crate::sandbox::seed::seed_state(&crate::sandbox::SandboxOptions::default());
        state.subscriptions = vec![
            subscription(1, "SHIP_NOTIFY", None),
            subscription(2, "ITEM_SHIP_NOTIFY", Some(7)),
        ];
        let queued = ship_notify(&state, 7, 100, "https://h");
        assert_eq!(queued.len(), 2);
        assert!(queued[0]
            .body
            .contains("batchId=100&includeShipmentItems=False"));
        assert!(queued[1].body.contains("includeShipmentItems=True"));
        assert!(queued[1]
            .body
            .contains("\"resource_type\":\"ITEM_SHIP_NOTIFY\""));
    }

    #[test]
    fn loopback_hosts() {
        for url in [
            "https://127.0.0.1:9/x",
            "http://localhost/x",
            "https://[::1]:8443/",
            "http://127.8.0.1/",
        ] {
            assert!(is_loopback_target(&url.parse().unwrap()), "{url}");
        }
        for url in [
            "https://example.com/x",
            "http://10.0.0.1/",
            "https://[2001:db8::1]/",
        ] {
            assert!(!is_loopback_target(&url.parse().unwrap()), "{url}");
        }
    }
}
