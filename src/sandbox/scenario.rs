//! The migration scenario: what an account looks like in the middle of a move from the
//! legacy Miva store to Miva Connect, with every case `storebridge migrate` reports.
//!
//! Added on top of the default seed by [`super::Sandbox::load_migration_scenario`]:
//! - order 1001 is open in both stores, and was edited in the legacy store after the
//!   import (notes, tag, user, custom field, package, weight, warehouse);
//! - order 1004 is on hold until a date in the legacy store and open in Miva Connect;
//! - order 1003 is unpaid in both stores;
//! - order 12345-A was shipped from the legacy store and is open in Miva Connect;
//! - a webhook is still bound to the legacy store;
//! - the Miva Connect store has auto-refresh off.

use serde_json::{json, Map, Value};

use super::seed::insert_order;
use super::state::{State, Subscription};
use super::SandboxOptions;

/// Modify date of the Miva Connect copies, after the seed orders were last modified.
const IMPORT_MODIFY_DATE: &str = "2026-11-04T08:30:00.0000000";

/// The user the legacy order 1001 was assigned to.
pub const ASSIGNED_USER: &str = "7d2c4b8e-0a11-4c3e-9f5d-2b6e8a4c1f07";

pub(crate) fn load(state: &mut State, options: &SandboxOptions) {
    let legacy = options.legacy_store_id;
    let connect = options.connect_store_id;
    if let Some(store) = state.store_mut(connect) {
        store.auto_refresh = false;
    }

    // Miva Connect imported the open legacy orders as they were on the Miva side.
    for number in ["1001", "1003", "12345-A"] {
        let Some(original) = legacy_order(state, legacy, number) else {
            continue;
        };
        let mut copy = original.clone();
        copy.insert("orderKey".into(), json!(format!("mc-{number}")));
        copy.remove("orderId");
        copy.remove("items");
        if number == "12345-A" {
            copy.insert("orderStatus".into(), json!("awaiting_shipment"));
            copy.insert("shipDate".into(), Value::Null);
        }
        insert_order(state, connect, &Value::Object(copy), IMPORT_MODIFY_DATE);
    }
    let held = {
        let mut order = legacy_order(state, legacy, "1001").unwrap_or_default();
        order.remove("orderId");
        order.remove("items");
        order.insert("orderNumber".into(), json!("1004"));
        order.insert("orderKey".into(), json!("mv-1004"));
        order.insert("gift".into(), json!(false));
        order
    };
    let mut connect_held = held.clone();
    connect_held.insert("orderKey".into(), json!("mc-1004"));
    insert_order(
        state,
        connect,
        &Value::Object(connect_held),
        IMPORT_MODIFY_DATE,
    );
    let mut legacy_held = held;
    legacy_held.insert("orderStatus".into(), json!("on_hold"));
    legacy_held.insert("holdUntilDate".into(), json!("2026-11-25"));
    insert_order(
        state,
        legacy,
        &Value::Object(legacy_held),
        IMPORT_MODIFY_DATE,
    );

    // The merchant kept working in the legacy store after the import.
    if let Some(record) = state.orders.iter_mut().find(|record| {
        record.store_id() == Some(legacy) && record.str_field("orderNumber") == "1001"
    }) {
        let order = &mut record.order;
        order.insert(
            "internalNotes".into(),
            json!("Customer called: ship with 1004"),
        );
        order.insert("tagIds".into(), json!([31_415]));
        order.insert("userId".into(), json!(ASSIGNED_USER));
        order.insert("packageCode".into(), json!("medium_flat_rate_box"));
        order.insert(
            "weight".into(),
            json!({ "value": 120, "units": "ounces", "WeightUnits": 1 }),
        );
        if let Some(Value::Object(options)) = order.get_mut("advancedOptions") {
            options.insert("customField3".into(), json!("rush"));
            options.insert("warehouseId".into(), json!(51_999));
        }
    }

    let id = state.take_webhook_id();
    state.subscriptions.push(Subscription {
        id,
        target_url: "https://127.0.0.1:9/hooks/orders?token=s3cret".into(),
        event: "ORDER_NOTIFY".into(),
        store_id: Some(legacy),
        friendly_name: Some("Fulfilment app".into()),
    });
}

fn legacy_order(state: &State, legacy: u64, number: &str) -> Option<Map<String, Value>> {
    state
        .orders
        .iter()
        .find(|record| {
            record.store_id() == Some(legacy) && record.str_field("orderNumber") == number
        })
        .map(|record| record.order.clone())
}
