//! `storebridge migrate orders`: re-applies to the Miva Connect orders the edits a merchant
//! made in the legacy store (the fields of [`EDIT_FIELDS`]), for each order open in both
//! stores of a `[[store]]` pair.
//!
//! Plain fields go through `POST /orders/createorder` with the Miva Connect order's own
//! `orderKey`, which updates that order. Tags, the hold date and the assigned user have
//! their own calls. Each finished order is recorded under the cursor
//! `orders:{connect order ID}`, so a run after an interruption skips it.

use std::io::Write;

use http::Method;
use serde_json::{json, Value};

use super::api::{Api, ApiError};
use super::fields::{differences, FieldDifference, EDIT_FIELDS};
use super::plan::OpenOrderPair;
use super::report::show;
use crate::storage::{Storage, StorageError};

/// Value of the `orders:{connect order ID}` cursor once an order is finished.
pub const DONE: &str = "done";

/// Fields with their own V1 call instead of `createorder`.
const SEPARATE_CALL_FIELDS: [&str; 3] = ["tagIds", "holdUntilDate", "userId"];

/// Errors of `migrate orders`.
#[derive(Debug, thiserror::Error)]
pub enum OrdersError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot write the output")]
    Output(#[from] std::io::Error),
    #[error("Miva Connect order {order_number} has no orderId or orderKey; it cannot be updated")]
    MissingKey { order_number: String },
}

/// Returns the cursor name that records a finished Miva Connect order.
pub fn cursor_name(connect_order_id: u64) -> String {
    format!("orders:{connect_order_id}")
}

/// Counts of one run over every pair.
#[derive(Debug, Default)]
pub struct OrdersSummary {
    /// Orders whose fields differ (printed, and updated with `--apply`).
    pub differing: usize,
    /// Orders skipped because an earlier run finished them.
    pub skipped: usize,
}

/// Prints the differences of each order open in both stores. With `storage` (`--apply`),
/// also makes each Miva Connect order match and records it there once finished.
pub async fn reapply(
    api: &Api,
    storage: Option<&dyn Storage>,
    orders: &[OpenOrderPair],
    out: &mut dyn Write,
) -> Result<OrdersSummary, OrdersError> {
    let mut summary = OrdersSummary::default();
    for pair in orders {
        let connect_order_id = pair.connect["orderId"].as_u64().unwrap_or(0);
        if let Some(storage) = storage {
            let cursor = storage.cursor(&cursor_name(connect_order_id)).await?;
            if cursor.as_deref() == Some(DONE) {
                writeln!(
                    out,
                    "order {} (connect {connect_order_id}): skipped, finished by an earlier run",
                    pair.order_number
                )?;
                summary.skipped += 1;
                continue;
            }
        }

        let found = differences(&pair.legacy, &pair.connect);
        if found.is_empty() {
            continue;
        }
        summary.differing += 1;
        write_differences(out, pair, connect_order_id, &found)?;
        let Some(storage) = storage else {
            continue;
        };
        apply_order(api, pair, connect_order_id, &found).await?;
        storage
            .set_cursor(&cursor_name(connect_order_id), DONE)
            .await?;
        writeln!(out, "  re-applied")?;
    }
    if summary.differing == 0 {
        writeln!(out, "nothing to re-apply")?;
    }
    Ok(summary)
}

/// Writes `order NUMBER (connect ID)` and one `field: connect -> legacy` line per field.
fn write_differences(
    out: &mut dyn Write,
    pair: &OpenOrderPair,
    connect_order_id: u64,
    found: &[FieldDifference],
) -> std::io::Result<()> {
    writeln!(
        out,
        "order {} (connect {connect_order_id}): {} field(s) differ",
        pair.order_number,
        found.len()
    )?;
    for difference in found {
        writeln!(
            out,
            "  {}: {} -> {}",
            difference.field,
            show(&difference.connect),
            show(&difference.legacy)
        )?;
    }
    Ok(())
}

/// Updates one Miva Connect order. A hold or user that only the Miva Connect order has is
/// removed with `restorefromhold` or `unassignuser`.
async fn apply_order(
    api: &Api,
    pair: &OpenOrderPair,
    connect_order_id: u64,
    found: &[FieldDifference],
) -> Result<(), OrdersError> {
    let has_key = pair.connect["orderKey"]
        .as_str()
        .is_some_and(|key| !key.is_empty());
    if connect_order_id == 0 || !has_key {
        return Err(OrdersError::MissingKey {
            order_number: pair.order_number.clone(),
        });
    }
    let plain: Vec<&FieldDifference> = found
        .iter()
        .filter(|difference| !SEPARATE_CALL_FIELDS.contains(&difference.field))
        .collect();
    if !plain.is_empty() {
        let body = updated_order(&pair.connect, &pair.legacy, &plain);
        api.call(Method::POST, "/orders/createorder", Some(body))
            .await?;
    }

    for difference in found {
        match difference.field {
            "tagIds" => apply_tags(api, connect_order_id, difference).await?,
            "holdUntilDate" => match difference.legacy.as_str() {
                Some(date) => {
                    let body = json!({ "orderId": connect_order_id, "holdUntilDate": date });
                    api.call(Method::POST, "/orders/holduntil", Some(body))
                        .await?;
                }
                None => {
                    let body = json!({ "orderId": connect_order_id });
                    api.call(Method::POST, "/orders/restorefromhold", Some(body))
                        .await?;
                }
            },
            "userId" => match difference.legacy.as_str() {
                Some(user_id) => {
                    let body = json!({ "orderIds": [connect_order_id], "userId": user_id });
                    api.call(Method::POST, "/orders/assignuser", Some(body))
                        .await?;
                }
                None => {
                    let body = json!({ "orderIds": [connect_order_id] });
                    api.call(Method::POST, "/orders/unassignuser", Some(body))
                        .await?;
                }
            },
            _ => {}
        }
    }
    Ok(())
}

/// Builds the `createorder` body: the whole Miva Connect order with the legacy values of
/// the differing fields, and without `advancedOptions.storeId`, which an update must not
/// change.
fn updated_order(connect: &Value, legacy: &Value, plain: &[&FieldDifference]) -> Value {
    let mut body = connect.clone();
    for difference in plain {
        let Some(edit) = EDIT_FIELDS
            .iter()
            .find(|edit| edit.name == difference.field)
        else {
            continue;
        };
        let value = legacy.pointer(edit.pointer).cloned().unwrap_or(Value::Null);
        set_pointer(&mut body, edit.pointer, value);
    }
    if let Some(options) = body
        .get_mut("advancedOptions")
        .and_then(Value::as_object_mut)
    {
        options.remove("storeId");
    }
    body
}

/// Sets the value at a JSON pointer of plain object keys, creating missing objects.
fn set_pointer(target: &mut Value, pointer: &str, value: Value) {
    let keys: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    let Some((last, parents)) = keys.split_last() else {
        return;
    };
    let mut current = target;
    for key in parents {
        if !current[*key].is_object() {
            current[*key] = json!({});
        }
        current = &mut current[*key];
    }
    current[*last] = value;
}

/// Adds the legacy tags the Miva Connect order lacks and removes those it has extra.
async fn apply_tags(
    api: &Api,
    connect_order_id: u64,
    difference: &FieldDifference,
) -> Result<(), ApiError> {
    let ids = |value: &Value| -> Vec<u64> {
        value
            .as_array()
            .map(|tags| tags.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default()
    };
    let legacy_tags = ids(&difference.legacy);
    let connect_tags = ids(&difference.connect);
    for tag_id in legacy_tags.iter().filter(|tag| !connect_tags.contains(tag)) {
        let body = json!({ "orderId": connect_order_id, "tagId": tag_id });
        api.call(Method::POST, "/orders/addtag", Some(body)).await?;
    }
    for tag_id in connect_tags.iter().filter(|tag| !legacy_tags.contains(tag)) {
        let body = json!({ "orderId": connect_order_id, "tagId": tag_id });
        api.call(Method::POST, "/orders/removetag", Some(body))
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updated_order_takes_legacy_values() {
        let connect = json!({
            "orderKey": "mc-1",
            "internalNotes": "old",
            "advancedOptions": { "storeId": 2, "customField1": "keep" }
        });
        let legacy = json!({
            "internalNotes": "new",
            "advancedOptions": { "storeId": 1, "warehouseId": 9 }
        });
        let found = differences(&legacy, &connect);
        let plain: Vec<&FieldDifference> = found.iter().collect();
        let body = updated_order(&connect, &legacy, &plain);
        assert_eq!(body["orderKey"], json!("mc-1"));
        assert_eq!(body["internalNotes"], json!("new"));
        assert_eq!(body["advancedOptions"]["warehouseId"], json!(9));
        assert_eq!(body["advancedOptions"]["customField1"], Value::Null);
        assert_eq!(body["advancedOptions"].get("storeId"), None);
    }
}
