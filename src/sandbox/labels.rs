//! Shipping an order: `POST /orders/markasshipped` (no label, no webhook) and
//! `POST /orders/createlabelfororder` (a shipment with a tracking number, and SHIP_NOTIFY).

use base64::Engine;
use serde_json::{json, Value};

use super::dates::{date_only, order_timestamp, pacific_now, parse_request_datetime};
use super::errors;
use super::reply::Reply;
use super::routes::{json_body, required_id, Call};
use super::shipments::build_shipment;
use super::state::{new_tracking_number, ShipmentRecord, State};
use super::webhooks;

/// A one-page blank PDF, standing in for a 4x6 inch label.
const FAKE_LABEL_PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n\
2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n\
3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 288 432]>>endobj\n\
trailer<</Root 1 0 R>>\n%%EOF\n";

fn order_not_found(order_id: u64) -> Reply {
    errors::not_found(format!("Order ID {order_id} was not found."))
}

/// Reads an optional ship date from the body, defaulting to today (Pacific).
fn ship_date(body: &Value, key: &str) -> Result<String, Reply> {
    match body.get("shipDate").and_then(Value::as_str) {
        None => Ok(date_only(pacific_now())),
        Some(text) => parse_request_datetime(text).map(date_only).ok_or_else(|| {
            errors::invalid_field(
                key,
                format!("The value '{text}' is not a valid date; use yyyy-mm-dd."),
            )
        }),
    }
}

fn required_text<'a>(body: &'a Value, field: &str) -> Result<&'a str, Reply> {
    body.get(field)
        .and_then(Value::as_str)
        .filter(|text| !text.trim().is_empty())
        .ok_or_else(|| errors::invalid_field(&format!("request.{field}"), errors::required(field)))
}

/// `POST /orders/markasshipped`: sets the order to shipped without creating a label.
pub(crate) fn mark_as_shipped(call: &Call<'_>, state: &mut State) -> Reply {
    let body = match json_body(call, "request") {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let order_id = match required_id(&body, "orderId", "request.orderId") {
        Ok(id) => id,
        Err(reply) => return reply,
    };

    let carrier_code = match required_text(&body, "carrierCode") {
        Ok(code) => code.to_owned(),
        Err(reply) => return reply,
    };
    let shipped_on = match ship_date(&body, "request.shipDate") {
        Ok(date) => date,
        Err(reply) => return reply,
    };

    let Some(record) = state.order_mut(order_id) else {
        return order_not_found(order_id);
    };
    if record.str_field("orderStatus") == "cancelled" {
        return errors::bad_request(format!(
            "Order ID {order_id} is cancelled and cannot be marked as shipped."
        ));
    }

    let order = &mut record.order;
    order.insert("orderStatus".into(), json!("shipped"));
    order.insert("shipDate".into(), json!(shipped_on));
    order.insert("carrierCode".into(), json!(carrier_code));
    order.insert("modifyDate".into(), json!(order_timestamp(pacific_now())));
    Reply::ok(json!({
        "orderId": order_id,
        "orderNumber": order.get("orderNumber"),
        "message": "The requested order has been marked as shipped."
    }))
}

/// `POST /orders/createlabelfororder`: creates a shipment with a fake label and tracking
/// number, marks the order shipped and queues SHIP_NOTIFY webhooks.
pub(crate) fn create_label(call: &mut Call<'_>, state: &mut State) -> Reply {
    // ShipStation documents this failure: label creation needs an active manual store.
    if state.first_active_manual_store().is_none() {
        return errors::null_reference();
    }
    let body = match json_body(call, "request") {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let order_id = match required_id(&body, "orderId", "request.orderId") {
        Ok(id) => id,
        Err(reply) => return reply,
    };
    for field in ["carrierCode", "serviceCode"] {
        if let Err(reply) = required_text(&body, field) {
            return reply;
        }
    }
    let test_label = match body.get("testLabel") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        // ASP.NET lower-cases this key in the error clients have observed.
        Some(_) => {
            return errors::invalid_field(
                "request.testlabel",
                "The value of testLabel is not a valid boolean.",
            )
        }
    };
    let shipped_on = match ship_date(&body, "request.shipDate") {
        Ok(date) => date,
        Err(reply) => return reply,
    };
    let Some(record) = state.order(order_id).cloned() else {
        return order_not_found(order_id);
    };
    if record.str_field("orderStatus") == "cancelled" {
        return errors::bad_request(format!(
            "Order ID {order_id} is cancelled; a label cannot be created for it."
        ));
    }

    let mut label = body.clone();
    label["shipDate"] = json!(shipped_on);
    let now = order_timestamp(pacific_now());
    let shipment_id = state.take_shipment_id();
    let batch_id = state.take_batch_id();
    let tracking_number = new_tracking_number();
    let shipment = build_shipment(
        &record.order,
        &label,
        shipment_id,
        batch_id,
        &tracking_number,
        &now,
    );
    let mut response = shipment.clone();
    response.insert(
        "labelData".into(),
        json!(base64::engine::general_purpose::STANDARD.encode(FAKE_LABEL_PDF)),
    );

    // NOTE: how V1 records test labels is not documented. The sandbox returns the label
    // but leaves the order, the shipment list and the webhooks untouched.
    if test_label {
        return Reply::ok(Value::Object(response));
    }

    state.shipments.push(ShipmentRecord {
        shipment,
        store_id: record.store_id(),
        batch_id,
    });
    if let Some(stored) = state.order_mut(order_id) {
        let order = &mut stored.order;
        order.insert("orderStatus".into(), json!("shipped"));
        order.insert("shipDate".into(), json!(shipped_on));
        for key in ["carrierCode", "serviceCode", "packageCode"] {
            if let Some(value) = body.get(key).filter(|value| !value.is_null()) {
                order.insert(key.into(), value.clone());
            }
        }
        order.insert("modifyDate".into(), json!(now));
    }
    if let Some(store_id) = record.store_id() {
        let queued = webhooks::ship_notify(state, store_id, batch_id, call.base_url);
        call.outgoing.extend(queued);
    }
    Reply::ok(Value::Object(response))
}
