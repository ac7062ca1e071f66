//! `/orders` endpoints: list, get, delete, and create-or-update (`createorder`,
//! `createorders`), which also queue ORDER_NOTIFY webhooks.

use serde_json::{json, Map, Value};

use super::dates::{order_timestamp, pacific_now, parse_request_datetime};
use super::errors;
use super::model::{build_order, OrderStamp, ORDER_STATUSES, UPDATABLE_STATUSES};
use super::reply::Reply;
use super::routes::{id_field, json_body, paginate, path_id, Call, IdField};
use super::state::{new_guid, OrderRecord, State};
use super::webhooks;

/// Most orders one `createorders` request may carry.
const MAX_BATCH_ORDERS: usize = 100;

fn order_not_found(order_id: u64) -> Reply {
    errors::not_found(format!("Order ID {order_id} was not found."))
}

/// `GET /orders` with the filters `storeId`, `orderStatus`, `orderNumber` (prefix),
/// `customerName`, `importBatch`, `modifyDateStart`, sorting by `sortBy`/`sortDir`, and paging.
pub(crate) fn list(call: &Call<'_>, state: &State) -> Reply {
    let query = &call.query;
    let store_id = match query.u64("storeId") {
        Ok(value) => value,
        Err(reply) => return reply,
    };
    let status = query.get("orderStatus");
    let number_prefix = query.get("orderNumber").map(str::to_ascii_lowercase);
    let customer = query.get("customerName").map(str::to_ascii_lowercase);
    let import_batch = query.get("importBatch");
    let modified_since = match query.get("modifyDateStart") {
        None => None,
        Some(text) => match parse_request_datetime(text) {
            Some(moment) => Some(order_timestamp(moment)),
            None => {
                return errors::invalid_field(
                    "modifyDateStart",
                    format!("The value '{text}' is not valid for modifyDateStart."),
                )
            }
        },
    };

    let mut selected: Vec<&OrderRecord> = state
        .orders
        .iter()
        .filter(|record| store_id.is_none_or(|id| record.store_id() == Some(id)))
        .filter(|record| status.is_none_or(|wanted| record.str_field("orderStatus") == wanted))
        .filter(|record| {
            number_prefix.as_deref().is_none_or(|prefix| {
                record
                    .str_field("orderNumber")
                    .to_ascii_lowercase()
                    .starts_with(prefix)
            })
        })
        .filter(|record| {
            customer.as_deref().is_none_or(|name| {
                ["billTo", "shipTo"].iter().any(|party| {
                    record.order[*party]["name"]
                        .as_str()
                        .is_some_and(|text| text.to_ascii_lowercase().contains(name))
                })
            })
        })
        .filter(|record| {
            modified_since
                .as_deref()
                .is_none_or(|start| record.str_field("modifyDate") >= start)
        })
        .filter(|record| {
            import_batch.is_none_or(|batch| {
                record
                    .import_batch
                    .as_deref()
                    .is_some_and(|own| own.eq_ignore_ascii_case(batch))
            })
        })
        .collect();

    // Timestamps share one fixed-width format, so text order is time order.
    let sort_key = match query.get("sortBy").map(str::to_ascii_lowercase).as_deref() {
        Some("orderdate") => Some("orderDate"),
        Some("modifydate") => Some("modifyDate"),
        Some("createdate") => Some("createDate"),
        _ => None,
    };
    if let Some(key) = sort_key {
        selected.sort_by(|a, b| a.str_field(key).cmp(b.str_field(key)));
    }
    let descending = query
        .get("sortDir")
        .is_some_and(|dir| dir.eq_ignore_ascii_case("DESC"));
    if descending {
        selected.reverse();
    }

    let total = selected.len();
    let (page_items, page, pages) = match paginate(selected, query) {
        Ok(result) => result,
        Err(reply) => return reply,
    };
    let orders: Vec<Value> = page_items
        .into_iter()
        .map(|record| Value::Object(record.order.clone()))
        .collect();
    Reply::ok(json!({ "orders": orders, "total": total, "page": page, "pages": pages }))
}

/// `GET /orders/{orderId}`.
pub(crate) fn get(_call: &Call<'_>, state: &State, segment: &str) -> Reply {
    let order_id = match path_id(segment, "orderId") {
        Ok(id) => id,
        Err(reply) => return reply,
    };
    match state.order(order_id) {
        Some(record) => Reply::ok(Value::Object(record.order.clone())),
        None => order_not_found(order_id),
    }
}

/// `DELETE /orders/{orderId}`.
pub(crate) fn delete(_call: &Call<'_>, state: &mut State, segment: &str) -> Reply {
    let order_id = match path_id(segment, "orderId") {
        Ok(id) => id,
        Err(reply) => return reply,
    };
    let before = state.orders.len();
    state.orders.retain(|record| record.order_id() != order_id);
    if state.orders.len() == before {
        return order_not_found(order_id);
    }
    Reply::ok(json!({ "success": true, "message": "The requested order has been deleted." }))
}

/// `POST /orders/createorder`: creates an order, or updates the one with the same
/// `orderKey`. Returns the stored order.
pub(crate) fn create_or_update(call: &mut Call<'_>, state: &mut State) -> Reply {
    let body = match json_body(call, "apiOrder") {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let batch = new_guid();
    match upsert(state, &body, "apiOrder", &batch) {
        Ok(outcome) => {
            if let Some(store_id) = outcome.notify_store {
                let queued = webhooks::order_notify(state, store_id, &batch, call.base_url);
                call.outgoing.extend(queued);
            }
            Reply::ok(Value::Object(outcome.order))
        }
        Err(reply) => reply,
    }
}

/// `POST /orders/createorders`: up to 100 orders in a top-level JSON array. Each order
/// succeeds or fails on its own, and the orders of one request share one import batch.
pub(crate) fn create_many(call: &mut Call<'_>, state: &mut State) -> Reply {
    let body = match json_body(call, "apiOrders") {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let inputs = match body {
        Value::Array(inputs) => inputs,
        // ASP.NET reports an object bound to the list parameter under the first field
        // it tried, which clients have observed as this key.
        Value::Object(_) => {
            return errors::invalid_field(
                "apiOrders.orderNumber",
                "The request body must be a JSON array of orders, not an object.",
            )
        }
        Value::Null => return errors::invalid_field("apiOrders", errors::required("apiOrders")),
        _ => {
            return errors::invalid_field(
                "apiOrders",
                "The request body must be a JSON array of orders.",
            )
        }
    };
    if inputs.len() > MAX_BATCH_ORDERS {
        return errors::invalid_field(
            "apiOrders",
            format!(
                "A request may create or update at most {MAX_BATCH_ORDERS} orders; this one has {}.",
                inputs.len()
            ),
        );
    }

    let batch = new_guid();
    let mut results = Vec::new();
    let mut notify_stores: Vec<u64> = Vec::new();
    for (index, input) in inputs.iter().enumerate() {
        let prefix = format!("apiOrders[{index}]");
        match upsert(state, input, &prefix, &batch) {
            Ok(outcome) => {
                if let Some(store_id) = outcome.notify_store {
                    if !notify_stores.contains(&store_id) {
                        notify_stores.push(store_id);
                    }
                }
                results.push(json!({
                    "orderId": outcome.order["orderId"],
                    "orderNumber": outcome.order["orderNumber"],
                    "orderKey": outcome.order["orderKey"],
                    "success": true,
                    "errorMessage": null
                }));
            }
            Err(reply) => results.push(json!({
                "orderId": 0,
                "orderNumber": input.get("orderNumber").cloned().unwrap_or(Value::Null),
                "orderKey": input.get("orderKey").cloned().unwrap_or(Value::Null),
                "success": false,
                "errorMessage": reply_message(&reply)
            })),
        }
    }
    for store_id in notify_stores {
        let queued = webhooks::order_notify(state, store_id, &batch, call.base_url);
        call.outgoing.extend(queued);
    }
    let has_errors = results
        .iter()
        .any(|result| result["success"] == json!(false));
    Reply::ok(json!({ "hasErrors": has_errors, "results": results }))
}

/// Flattens an error reply into the one-line `errorMessage` of a `createorders` result.
fn reply_message(reply: &Reply) -> String {
    let Some(body) = &reply.body else {
        return String::new();
    };
    if let Some(Value::Object(model_state)) = body.get("ModelState") {
        let messages: Vec<&str> = model_state
            .values()
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        return messages.join(" ");
    }
    ["Message", "ExceptionMessage"]
        .iter()
        .rev()
        .find_map(|key| body.get(*key).and_then(Value::as_str))
        .unwrap_or_default()
        .to_owned()
}

struct UpsertOutcome {
    order: Map<String, Value>,
    /// The store whose ORDER_NOTIFY subscribers hear about this order, if any.
    notify_store: Option<u64>,
}

/// Validates one order body and creates or updates the order. `prefix` is the ModelState
/// key prefix for errors.
fn upsert(
    state: &mut State,
    input: &Value,
    prefix: &str,
    batch: &str,
) -> Result<UpsertOutcome, Reply> {
    let Value::Object(fields) = input else {
        return Err(errors::invalid_field(prefix, errors::required(prefix)));
    };
    validate(fields, prefix)?;

    let order_key = fields
        .get("orderKey")
        .and_then(Value::as_str)
        .filter(|key| !key.is_empty())
        .map_or_else(new_guid, str::to_owned);
    let new_status = fields
        .get("orderStatus")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let now = order_timestamp(pacific_now());

    let existing = state
        .orders
        .iter()
        .position(|record| record.str_field("orderKey") == order_key);
    if let Some(index) = existing {
        let record = state.orders[index].clone();
        let old_status = record.str_field("orderStatus").to_owned();
        if !UPDATABLE_STATUSES.contains(&old_status.as_str()) {
            return Err(errors::bad_request(format!(
                "Order {} cannot be updated because its status is {old_status}; only awaiting_payment, awaiting_shipment and on_hold orders can be updated.",
                record.str_field("orderNumber")
            )));
        }
        // The store is fixed at creation: an update's advancedOptions.storeId is ignored.
        let stamp = OrderStamp {
            order_id: record.order_id(),
            order_key: &order_key,
            store_id: record.store_id().unwrap_or_default(),
            create_date: record.str_field("createDate"),
            modify_date: &now,
        };
        let order = build_order(fields, &stamp, || state.take_order_item_id());
        let paid_now = old_status == "awaiting_payment"
            && new_status != "awaiting_payment"
            && new_status != "cancelled";
        let import_batch = if paid_now {
            Some(batch.to_owned())
        } else {
            record.import_batch.clone()
        };
        state.orders[index] = OrderRecord {
            order: order.clone(),
            import_batch,
        };
        return Ok(UpsertOutcome {
            order,
            notify_store: paid_now.then_some(stamp.store_id),
        });
    }

    let store_key = format!("{prefix}.advancedOptions.storeId");
    let requested_store = id_field(
        fields
            .get("advancedOptions")
            .and_then(|options| options.get("storeId")),
    );
    let store_id = match requested_store {
        IdField::Valid(id) if state.store(id).is_some() => id,
        IdField::Valid(id) => {
            return Err(errors::invalid_field(
                &store_key,
                format!("Store ID {id} was not found."),
            ))
        }
        IdField::Invalid => {
            return Err(errors::invalid_field(
                &store_key,
                "The value of storeId is not a valid integer.",
            ))
        }
        // ShipStation files an order without a store under the first active manual store,
        // and fails with a null reference when there is none.
        IdField::Missing => match state.first_active_manual_store() {
            Some(store) => store.store_id,
            None => return Err(errors::null_reference()),
        },
    };
    let order_id = state.take_order_id();
    let stamp = OrderStamp {
        order_id,
        order_key: &order_key,
        store_id,
        create_date: &now,
        modify_date: &now,
    };
    let order = build_order(fields, &stamp, || state.take_order_item_id());
    state.orders.push(OrderRecord {
        order: order.clone(),
        import_batch: Some(batch.to_owned()),
    });
    Ok(UpsertOutcome {
        order,
        notify_store: (new_status != "awaiting_payment").then_some(store_id),
    })
}

/// Checks the fields V1 requires on every order, reporting all failures together.
fn validate(fields: &Map<String, Value>, prefix: &str) -> Result<(), Reply> {
    let mut problems = Vec::new();
    let key = |field: &str| format!("{prefix}.{field}");

    match fields.get("orderNumber") {
        Some(Value::String(text)) if !text.trim().is_empty() => {}
        _ => problems.push((key("orderNumber"), errors::required("orderNumber"))),
    }
    match fields.get("orderDate") {
        Some(Value::String(text)) if parse_request_datetime(text).is_some() => {}
        Some(Value::String(text)) => problems.push((
            key("orderDate"),
            format!("The value '{text}' is not a valid date; use yyyy-mm-dd hh:mm:ss."),
        )),
        _ => problems.push((key("orderDate"), errors::required("orderDate"))),
    }
    match fields.get("orderStatus") {
        Some(Value::String(status)) if ORDER_STATUSES.contains(&status.as_str()) => {}
        Some(Value::String(status)) => problems.push((
            key("orderStatus"),
            format!(
                "The value '{status}' is not a valid orderStatus; use one of {}.",
                ORDER_STATUSES.join(", ")
            ),
        )),
        _ => problems.push((key("orderStatus"), errors::required("orderStatus"))),
    }
    for party in ["billTo", "shipTo"] {
        if !fields.get(party).is_some_and(Value::is_object) {
            problems.push((key(party), errors::required(party)));
        }
    }
    if fields
        .get("items")
        .is_some_and(|items| !items.is_array() && !items.is_null())
    {
        problems.push((key("items"), "The items field must be an array.".to_owned()));
    }

    if problems.is_empty() {
        Ok(())
    } else {
        Err(errors::invalid_fields(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::seed::seed_state;
    use crate::sandbox::SandboxOptions;

    fn order_body(key: &str, status: &str, store: Option<u64>) -> Value {
        let mut body = json!({
            "orderNumber": "T-1",
            "orderKey": key,
            "orderDate": "2026-11-04 10:00:00",
            "orderStatus": status,
            "billTo": { "name": "A" },
            "shipTo": { "name": "A" }
        });
        if let Some(store) = store {
            body["advancedOptions"] = json!({ "storeId": store });
        }
        body
    }

    #[test]
    fn store_fixed_at_creation() {
        let mut state = seed_state(&SandboxOptions::default());
        let created = upsert(
            &mut state,
            &order_body("k1", "awaiting_shipment", Some(7_654_321)),
            "apiOrder",
            "b1",
        )
        .unwrap();
        assert_eq!(
            created.order["advancedOptions"]["storeId"],
            json!(7_654_321)
        );
        assert_eq!(created.notify_store, Some(7_654_321));
        let updated = upsert(
            &mut state,
            &order_body("k1", "on_hold", Some(12_345)),
            "apiOrder",
            "b2",
        )
        .unwrap();
        assert_eq!(
            updated.order["advancedOptions"]["storeId"],
            json!(7_654_321)
        );
        assert_eq!(updated.order["orderId"], created.order["orderId"]);
        assert_eq!(updated.notify_store, None);
    }

    #[test]
    fn missing_store_uses_manual_store() {
        let mut state = seed_state(&SandboxOptions::default());
        let created = upsert(
            &mut state,
            &order_body("k2", "awaiting_payment", None),
            "apiOrder",
            "b",
        )
        .unwrap();
        assert_eq!(created.order["advancedOptions"]["storeId"], json!(200_001));
        assert_eq!(created.notify_store, None);
    }

    #[test]
    fn shipped_order_cannot_update() {
        let mut state = seed_state(&SandboxOptions::default());
        let shipped_key = state
            .orders
            .iter()
            .find(|record| record.str_field("orderStatus") == "shipped")
            .map(|record| record.str_field("orderKey").to_owned())
            .unwrap();
        let result = upsert(
            &mut state,
            &order_body(&shipped_key, "awaiting_shipment", None),
            "apiOrder",
            "b",
        );
        assert_eq!(result.err().map(|reply| reply.status.as_u16()), Some(400));
    }
}
