//! The double-ship guard: refuses to buy a label for, or mark as shipped, a Miva Connect
//! order whose order number was already shipped from the legacy store.
//!
//! `storebridge migrate scan` records those orders in the embedded store; the guard only
//! reads that table, so it costs no upstream call. The header
//! `X-Storebridge-Allow-Reship: true` lets a request through on purpose.

use http::header::HeaderName;
use http::{HeaderMap, Method};

use super::body;
use crate::error::ProxyError;
use crate::metrics::Metrics;
use crate::storage::SharedStorage;

/// The header that lets a refused request through.
pub static OVERRIDE_HEADER: HeaderName = HeaderName::from_static("x-storebridge-allow-reship");

/// Whether the guard looks at this call: label purchases and mark-as-shipped, with or
/// without a trailing slash, as ShipStation's routing accepts both.
pub fn applies(method: &Method, path: &str) -> bool {
    let path = path.trim_end_matches('/');
    method == Method::POST
        && (path.eq_ignore_ascii_case("/orders/createlabelfororder")
            || path.eq_ignore_ascii_case("/orders/markasshipped"))
}

/// Checks one guarded call. `raw` is the body as received, still in its content coding;
/// its `orderId` names the Miva Connect order, because order IDs are never translated.
pub async fn check(
    storage: &SharedStorage,
    headers: &HeaderMap,
    raw: &[u8],
    max_body: u64,
    metrics: &Metrics,
) -> Result<(), ProxyError> {
    // A body that cannot be decoded is rejected later by the translation step, so it never
    // reaches ShipStation either.
    let decoded: std::borrow::Cow<'_, [u8]> = match body::content_coding(headers) {
        Ok(None) => raw.into(),
        Ok(Some(coding)) => match body::decode(coding, raw, max_body) {
            Ok(decoded) => decoded.into(),
            Err(_) => return Ok(()),
        },
        Err(_) => return Ok(()),
    };
    let Some(order_id) = order_id(&decoded) else {
        // Without an order ID ShipStation rejects the call itself; nothing can ship twice.
        return Ok(());
    };
    let record = storage
        .double_ship(order_id)
        .await
        .map_err(|source| ProxyError::GuardUnavailable(Box::new(source)))?;
    let Some(record) = record else {
        return Ok(());
    };
    let overridden = headers
        .get(&OVERRIDE_HEADER)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("true"));
    if overridden {
        metrics.guard_overrides.inc();
        tracing::warn!(
            order_id,
            order_number = %record.order_number,
            "double-ship guard overridden; the order ships again"
        );
        return Ok(());
    }
    metrics.guard_refusals.inc();
    tracing::warn!(
        order_id,
        order_number = %record.order_number,
        "double-ship guard refused a shipment of an order already shipped from the legacy store"
    );
    Err(ProxyError::AlreadyShipped {
        order_number: record.order_number,
        ship_date: record.legacy_ship_date,
        tracking_number: record.tracking_number,
    })
}

/// The `orderId` of a JSON body, as a number or a numeric string.
fn order_id(body: &[u8]) -> Option<u64> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let id = value.get("orderId")?;
    id.as_u64().or_else(|| id.as_str()?.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_to_label_and_mark_shipped() {
        assert!(applies(&Method::POST, "/orders/createlabelfororder"));
        assert!(applies(&Method::POST, "/Orders/MarkAsShipped"));
        assert!(applies(&Method::POST, "/orders/createlabelfororder/"));
        assert!(!applies(&Method::GET, "/orders/markasshipped"));
        assert!(!applies(&Method::POST, "/orders/createorder"));
    }

    #[test]
    fn order_id_number_or_string() {
        assert_eq!(order_id(br#"{"orderId": 42}"#), Some(42));
        assert_eq!(order_id(br#"{"orderId": " 42 "}"#), Some(42));
        assert_eq!(order_id(br#"{"orderKey": "x"}"#), None);
        assert_eq!(order_id(b"not json"), None);
    }
}
