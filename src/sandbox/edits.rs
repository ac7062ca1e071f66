//! Order edits that V1 exposes as their own calls: `POST /orders/addtag`, `/removetag`,
//! `/holduntil`, `/restorefromhold`, `/assignuser` and `/unassignuser`.

use serde_json::{json, Value};

use super::dates::{order_timestamp, pacific_now, parse_request_datetime};
use super::errors;
use super::reply::Reply;
use super::routes::{json_body, required_id, Call};
use super::state::State;

/// Statuses V1 refuses to change: shipped and cancelled orders are locked.
fn locked(status: &str) -> bool {
    matches!(status, "shipped" | "cancelled")
}

/// Applies `change` to an open order, or returns the 400 or 404 V1 would.
fn edit_order(
    state: &mut State,
    order_id: u64,
    change: impl FnOnce(&mut serde_json::Map<String, Value>),
) -> Result<(), Reply> {
    let Some(record) = state.order_mut(order_id) else {
        return Err(errors::not_found(format!(
            "Order ID {order_id} was not found."
        )));
    };
    let status = record.str_field("orderStatus").to_owned();
    if locked(&status) {
        return Err(errors::bad_request(format!(
            "Order ID {order_id} is {status} and cannot be changed."
        )));
    }
    change(&mut record.order);
    record
        .order
        .insert("modifyDate".into(), json!(order_timestamp(pacific_now())));
    Ok(())
}

fn success(message: &str) -> Reply {
    Reply::ok(json!({ "success": true, "message": message }))
}

/// `POST /orders/addtag` and `/orders/removetag`, body `{orderId, tagId}`.
pub(crate) fn tag(call: &Call<'_>, state: &mut State, add: bool) -> Reply {
    let body = match json_body(call, "request") {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let ids = required_id(&body, "orderId", "request.orderId")
        .and_then(|order| Ok((order, required_id(&body, "tagId", "request.tagId")?)));
    let (order_id, tag_id) = match ids {
        Ok(ids) => ids,
        Err(reply) => return reply,
    };
    let outcome = edit_order(state, order_id, |order| {
        let mut tags: Vec<u64> = order
            .get("tagIds")
            .and_then(Value::as_array)
            .map(|tags| tags.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        tags.retain(|existing| *existing != tag_id);
        if add {
            tags.push(tag_id);
        }
        let value = if tags.is_empty() {
            Value::Null
        } else {
            json!(tags)
        };
        order.insert("tagIds".into(), value);
    });
    match (outcome, add) {
        (Err(reply), _) => reply,
        (Ok(()), true) => success("Tag added successfully."),
        (Ok(()), false) => success("Tag removed successfully."),
    }
}

/// `POST /orders/holduntil`, body `{orderId, holdUntilDate}`: the order is on hold until
/// that date.
pub(crate) fn hold_until(call: &Call<'_>, state: &mut State) -> Reply {
    let body = match json_body(call, "request") {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let order_id = match required_id(&body, "orderId", "request.orderId") {
        Ok(id) => id,
        Err(reply) => return reply,
    };
    let text = body["holdUntilDate"].as_str().unwrap_or_default();
    let Some(date) = parse_request_datetime(text) else {
        return errors::invalid_field(
            "request.holdUntilDate",
            format!("The value '{text}' is not a valid date; use yyyy-mm-dd."),
        );
    };
    let day = super::dates::date_only(date);
    let outcome = edit_order(state, order_id, |order| {
        order.insert("holdUntilDate".into(), json!(day));
        order.insert("orderStatus".into(), json!("on_hold"));
    });
    match outcome {
        Ok(()) => success("The requested order has been placed on hold."),
        Err(reply) => reply,
    }
}

/// `POST /orders/restorefromhold`, body `{orderId}`: the hold ends and the order awaits
/// shipment again.
pub(crate) fn restore_from_hold(call: &Call<'_>, state: &mut State) -> Reply {
    let body = match json_body(call, "request") {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let order_id = match required_id(&body, "orderId", "request.orderId") {
        Ok(id) => id,
        Err(reply) => return reply,
    };
    let outcome = edit_order(state, order_id, |order| {
        order.insert("holdUntilDate".into(), Value::Null);
        order.insert("orderStatus".into(), json!("awaiting_shipment"));
    });
    match outcome {
        Ok(()) => success("The requested order has been restored."),
        Err(reply) => reply,
    }
}

/// `POST /orders/unassignuser`, body `{orderIds: [...]}`.
pub(crate) fn unassign_user(call: &Call<'_>, state: &mut State) -> Reply {
    let body = match json_body(call, "request") {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let Some(order_ids) = body["orderIds"].as_array().filter(|ids| !ids.is_empty()) else {
        return errors::invalid_field("request.orderIds", errors::required("orderIds"));
    };
    for order_id in order_ids {
        let Some(order_id) = order_id.as_u64() else {
            return errors::invalid_field("request.orderIds", "The orderIds must be integers.");
        };
        if let Err(reply) = edit_order(state, order_id, |order| {
            order.insert("userId".into(), Value::Null);
        }) {
            return reply;
        }
    }
    success("User unassigned successfully.")
}

/// `POST /orders/assignuser`, body `{orderIds: [...], userId}`.
pub(crate) fn assign_user(call: &Call<'_>, state: &mut State) -> Reply {
    let body = match json_body(call, "request") {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let Some(user_id) = body["userId"].as_str().filter(|id| !id.is_empty()) else {
        return errors::invalid_field("request.userId", errors::required("userId"));
    };
    let Some(order_ids) = body["orderIds"].as_array().filter(|ids| !ids.is_empty()) else {
        return errors::invalid_field("request.orderIds", errors::required("orderIds"));
    };
    for order_id in order_ids {
        let Some(order_id) = order_id.as_u64() else {
            return errors::invalid_field("request.orderIds", "The orderIds must be integers.");
        };
        if let Err(reply) = edit_order(state, order_id, |order| {
            order.insert("userId".into(), json!(user_id));
        }) {
            return reply;
        }
    }
    success("User assigned successfully.")
}
