//! `storebridge migrate plan`: what the account looks like before the cutover, and what is
//! at risk. [`build`] is a pure function of an [`Account`] snapshot, so the report is
//! deterministic: every list is sorted and no clock is read.
//!
//! The JSON form is the [`Plan`] document below, serialised as is. Its `format_version`
//! changes only when a field is removed or changes meaning.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::fields::{differences, FieldDifference};
use crate::relay::commands::redact_url;
use crate::stores::StorePair;

/// Statuses of orders that can still be shipped.
pub const OPEN_STATUSES: [&str; 3] = ["awaiting_payment", "awaiting_shipment", "on_hold"];

/// Version of the JSON document.
pub const FORMAT_VERSION: u32 = 1;

/// Exit status when orders shipped from the legacy store are open in Miva Connect.
pub const EXIT_DOUBLE_SHIP_RISK: u8 = 3;

/// Settings ShipStation does not copy to the new store.
pub const MANUAL_SETTINGS: [&str; 4] = [
    "branding (logo, colours, store name on labels)",
    "email templates and their notification settings",
    "packing-slip templates",
    "return portal",
];

pub const ADVICE: [&str; 2] = [
    "Cut over after the day's shipments are closed and their notifications sent, so no order is shipped from the legacy store afterwards.",
    "Then re-apply the listed edits to the Miva Connect orders, run `storebridge migrate webhooks --apply` and `storebridge migrate scan`, and turn on [guard] double_ship.",
];

/// What `migrate plan` read from ShipStation.
#[derive(Clone, Debug, Default)]
pub struct Account {
    /// `GET /stores?showInactive=true`.
    pub stores: Vec<Value>,
    /// `GET /webhooks`.
    pub hooks: Vec<Value>,
    /// `GET /stores/getrefreshstatus` of each Miva Connect store, by store ID.
    pub refresh: BTreeMap<u64, Value>,
    /// Every order of each paired store, by store ID.
    pub orders: BTreeMap<u64, Vec<Value>>,
    /// The newest shipment of each legacy order at double-ship risk, by legacy order ID.
    pub shipments: BTreeMap<u64, Value>,
}

/// The report, in the shape of the JSON document.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub format_version: u32,
    pub stores: Vec<StoreRow>,
    pub pairs: Vec<PairRow>,
    /// A `[[store]]` snippet for the proposed pairs, when the config has none.
    pub proposed_config: Option<String>,
    pub connect_health: Vec<ConnectHealth>,
    pub legacy_webhooks: Vec<LegacyHook>,
    pub open_orders: Vec<OpenOrderCount>,
    pub open_in_both: Vec<OpenInBoth>,
    pub double_ship_risks: Vec<DoubleShipRisk>,
    pub only_in_one_store: Vec<OrderRef>,
    pub awaiting_payment: Vec<OrderRef>,
    pub manual_settings: Vec<&'static str>,
    pub advice: Vec<&'static str>,
    /// 0 when nothing is at risk, 3 when double-ship risks exist.
    pub exit_status: u8,
}

#[derive(Clone, Debug, Serialize)]
pub struct StoreRow {
    pub store_id: u64,
    pub store_name: String,
    pub marketplace_name: String,
    pub active: bool,
    /// `legacy`, `connect` or `other`.
    pub role: &'static str,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct PairRow {
    pub legacy: u64,
    pub connect: u64,
    /// `config` for `[[store]]` pairs, `proposed` for a pair guessed from the stores.
    pub source: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub struct ConnectHealth {
    pub store_id: u64,
    pub active: bool,
    pub auto_refresh: bool,
    pub refresh_status: Option<String>,
    pub last_refresh_attempt: Option<String>,
    pub refresh_date: Option<String>,
    pub problems: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LegacyHook {
    pub webhook_id: u64,
    pub event: String,
    pub store_id: u64,
    pub connect_store_id: u64,
    /// The target URL without credentials or query.
    pub url: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct OpenOrderCount {
    pub store_id: u64,
    pub role: &'static str,
    pub awaiting_payment: u64,
    pub awaiting_shipment: u64,
    pub on_hold: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct OpenInBoth {
    pub order_number: String,
    pub legacy_order_id: u64,
    pub connect_order_id: u64,
    pub differences: Vec<FieldDifference>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DoubleShipRisk {
    pub order_number: String,
    pub legacy_order_id: u64,
    pub connect_order_id: u64,
    pub connect_status: String,
    pub legacy_ship_date: Option<String>,
    pub tracking_number: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct OrderRef {
    pub order_number: String,
    pub store_id: u64,
    pub order_id: u64,
    pub status: String,
}

/// Finds the pairs to report on: the configured ones, or else one proposed from the
/// stores: the newest active "Miva Connect" store and the newest inactive Miva store.
pub fn pairs(configured: &[StorePair], stores: &[Value]) -> Vec<PairRow> {
    if !configured.is_empty() {
        let mut rows: Vec<PairRow> = configured
            .iter()
            .map(|pair| PairRow {
                legacy: pair.legacy.0,
                connect: pair.connect.0,
                source: "config",
            })
            .collect();
        rows.sort_by_key(|row| row.legacy);
        return rows;
    }
    let newest = |wanted: &dyn Fn(&Value) -> bool| {
        stores
            .iter()
            .filter(|store| wanted(store))
            .max_by_key(|store| (text(store, "createDate"), store["storeId"].as_u64()))
            .and_then(|store| store["storeId"].as_u64())
    };
    let connect = newest(&|store| is_connect(store) && store["active"] == Value::Bool(true));
    let legacy = newest(&|store| {
        is_miva(store) && !is_connect(store) && store["active"] == Value::Bool(false)
    });
    match (legacy, connect) {
        (Some(legacy), Some(connect)) => vec![PairRow {
            legacy,
            connect,
            source: "proposed",
        }],
        _ => Vec::new(),
    }
}

fn is_miva(store: &Value) -> bool {
    text(store, "marketplaceName")
        .to_ascii_lowercase()
        .contains("miva")
}

fn is_connect(store: &Value) -> bool {
    text(store, "marketplaceName")
        .to_ascii_lowercase()
        .contains("miva connect")
}

fn text(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_owned()
}

/// Returns a string field, or `None` when it is missing, not a string or empty.
pub(crate) fn optional_text(value: &Value, key: &str) -> Option<String> {
    value[key]
        .as_str()
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

fn is_open(order: &Value) -> bool {
    OPEN_STATUSES.contains(&order["orderStatus"].as_str().unwrap_or_default())
}

/// Indexes orders by order number. When two orders share a number, the later one wins.
fn by_number(orders: &[Value]) -> BTreeMap<String, Value> {
    orders
        .iter()
        .map(|order| (text(order, "orderNumber"), order.clone()))
        .collect()
}

/// An order open in both stores of a pair: the legacy copy and the Miva Connect copy.
#[derive(Clone, Debug)]
pub struct OpenOrderPair {
    pub order_number: String,
    pub legacy: Value,
    pub connect: Value,
}

/// Pairs the orders open in both stores by order number, sorted by order number.
pub fn open_in_both(legacy_orders: &[Value], connect_orders: &[Value]) -> Vec<OpenOrderPair> {
    let mut connect = by_number(connect_orders);
    by_number(legacy_orders)
        .into_iter()
        .filter(|(_, legacy)| is_open(legacy))
        .filter_map(|(order_number, legacy)| {
            let connect = connect.remove(&order_number).filter(is_open)?;
            Some(OpenOrderPair {
                order_number,
                legacy,
                connect,
            })
        })
        .collect()
}

/// Builds the report from the account snapshot and the pairs to check.
pub fn build(account: &Account, pairs: Vec<PairRow>) -> Plan {
    let role = |store_id: u64| {
        if pairs.iter().any(|pair| pair.legacy == store_id) {
            "legacy"
        } else if pairs.iter().any(|pair| pair.connect == store_id) {
            "connect"
        } else {
            "other"
        }
    };
    let mut stores: Vec<StoreRow> = account
        .stores
        .iter()
        .filter_map(|store| {
            let store_id = store["storeId"].as_u64()?;
            Some(StoreRow {
                store_id,
                store_name: text(store, "storeName"),
                marketplace_name: text(store, "marketplaceName"),
                active: store["active"] == Value::Bool(true),
                role: role(store_id),
            })
        })
        .collect();
    stores.sort_by_key(|store| store.store_id);

    let mut plan = Plan {
        format_version: FORMAT_VERSION,
        stores,
        proposed_config: proposed_config(&pairs),
        connect_health: Vec::new(),
        legacy_webhooks: legacy_hooks(&account.hooks, &pairs),
        open_orders: Vec::new(),
        open_in_both: Vec::new(),
        double_ship_risks: Vec::new(),
        only_in_one_store: Vec::new(),
        awaiting_payment: Vec::new(),
        manual_settings: MANUAL_SETTINGS.to_vec(),
        advice: ADVICE.to_vec(),
        exit_status: 0,
        pairs,
    };
    for pair in plan.pairs.clone() {
        plan.connect_health.push(health(account, pair.connect));
        compare_orders(account, pair, &mut plan);
    }
    plan.open_in_both
        .sort_by(|a, b| a.order_number.cmp(&b.order_number));
    plan.double_ship_risks
        .sort_by(|a, b| a.order_number.cmp(&b.order_number));
    let by_number = |a: &OrderRef, b: &OrderRef| {
        (&a.order_number, a.store_id).cmp(&(&b.order_number, b.store_id))
    };
    plan.only_in_one_store.sort_by(by_number);
    plan.awaiting_payment.sort_by(by_number);
    if !plan.double_ship_risks.is_empty() {
        plan.exit_status = EXIT_DOUBLE_SHIP_RISK;
    }
    plan
}

fn proposed_config(pairs: &[PairRow]) -> Option<String> {
    let proposed: Vec<String> = pairs
        .iter()
        .filter(|pair| pair.source == "proposed")
        .map(|pair| {
            format!(
                "[[store]]\nlegacy = {}\nconnect = {}\n",
                pair.legacy, pair.connect
            )
        })
        .collect();
    (!proposed.is_empty()).then(|| proposed.concat())
}

fn health(account: &Account, store_id: u64) -> ConnectHealth {
    let store = account
        .stores
        .iter()
        .find(|store| store["storeId"].as_u64() == Some(store_id))
        .cloned()
        .unwrap_or(Value::Null);
    let refresh = account
        .refresh
        .get(&store_id)
        .cloned()
        .unwrap_or(Value::Null);
    let active = store["active"] == Value::Bool(true);
    let auto_refresh = store["autoRefresh"] == Value::Bool(true);
    let refresh_status =
        optional_text(&refresh, "refreshStatus").or_else(|| optional_text(&refresh, "status"));
    let mut problems = Vec::new();
    if store.is_null() {
        problems.push(format!(
            "store {store_id} was not found; check the [[store]] connect ID"
        ));
    } else if !active {
        problems.push("the store is inactive; reactivate it in ShipStation".to_owned());
    }
    if !store.is_null() && !auto_refresh {
        problems.push(
            "auto-refresh is off, so new orders are not imported; ShipStation turns it off \
             after a connection error: fix the connection, then turn it on in the store settings"
                .to_owned(),
        );
    }
    if refresh_status
        .as_deref()
        .is_some_and(|status| status.to_ascii_lowercase().contains("error"))
    {
        problems.push("the last refresh failed; check the store connection".to_owned());
    }
    ConnectHealth {
        store_id,
        active,
        auto_refresh,
        refresh_status,
        last_refresh_attempt: optional_text(&refresh, "lastRefreshAttempt")
            .or_else(|| optional_text(&store, "lastRefreshAttempt")),
        refresh_date: optional_text(&refresh, "refreshDate")
            .or_else(|| optional_text(&store, "refreshDate")),
        problems,
    }
}

fn legacy_hooks(hooks: &[Value], pairs: &[PairRow]) -> Vec<LegacyHook> {
    let mut found: Vec<LegacyHook> = hooks
        .iter()
        .filter_map(|hook| {
            let store_id = hook["StoreID"].as_u64()?;
            let pair = pairs.iter().find(|pair| pair.legacy == store_id)?;
            Some(LegacyHook {
                webhook_id: hook["WebHookID"].as_u64()?,
                event: text(hook, "HookType"),
                store_id,
                connect_store_id: pair.connect,
                url: redact_url(hook["Url"].as_str().unwrap_or_default()),
            })
        })
        .collect();
    found.sort_by_key(|hook| hook.webhook_id);
    found
}

fn order_ref(order: &Value, store_id: u64) -> OrderRef {
    OrderRef {
        order_number: text(order, "orderNumber"),
        store_id,
        order_id: order["orderId"].as_u64().unwrap_or(0),
        status: text(order, "orderStatus"),
    }
}

/// Counts open orders in both stores of a pair and sorts the orders by what is at risk.
fn compare_orders(account: &Account, pair: PairRow, plan: &mut Plan) {
    let empty = Vec::new();
    let legacy_orders = account.orders.get(&pair.legacy).unwrap_or(&empty);
    let connect_orders = account.orders.get(&pair.connect).unwrap_or(&empty);
    for (store_id, orders, role) in [
        (pair.legacy, legacy_orders, "legacy"),
        (pair.connect, connect_orders, "connect"),
    ] {
        let count = |status: &str| {
            orders
                .iter()
                .filter(|order| order["orderStatus"] == status)
                .count() as u64
        };
        plan.open_orders.push(OpenOrderCount {
            store_id,
            role,
            awaiting_payment: count("awaiting_payment"),
            awaiting_shipment: count("awaiting_shipment"),
            on_hold: count("on_hold"),
        });
        plan.awaiting_payment.extend(
            orders
                .iter()
                .filter(|order| order["orderStatus"] == "awaiting_payment")
                .map(|order| order_ref(order, store_id)),
        );
    }

    let legacy = by_number(legacy_orders);
    let connect = by_number(connect_orders);
    for (number, legacy_order) in &legacy {
        let Some(connect_order) = connect.get(number) else {
            if is_open(legacy_order) {
                plan.only_in_one_store
                    .push(order_ref(legacy_order, pair.legacy));
            }
            continue;
        };
        let legacy_id = legacy_order["orderId"].as_u64().unwrap_or(0);
        let connect_id = connect_order["orderId"].as_u64().unwrap_or(0);
        if is_open(legacy_order) && is_open(connect_order) {
            plan.open_in_both.push(OpenInBoth {
                order_number: number.clone(),
                legacy_order_id: legacy_id,
                connect_order_id: connect_id,
                differences: differences(legacy_order, connect_order),
            });
        } else if legacy_order["orderStatus"] == "shipped" && is_open(connect_order) {
            let shipment = account.shipments.get(&legacy_id);
            plan.double_ship_risks.push(DoubleShipRisk {
                order_number: number.clone(),
                legacy_order_id: legacy_id,
                connect_order_id: connect_id,
                connect_status: text(connect_order, "orderStatus"),
                legacy_ship_date: optional_text(legacy_order, "shipDate")
                    .or_else(|| shipment.and_then(|found| optional_text(found, "shipDate"))),
                tracking_number: shipment.and_then(|found| optional_text(found, "trackingNumber")),
            });
        }
    }
    for (number, connect_order) in &connect {
        if !legacy.contains_key(number) && is_open(connect_order) {
            plan.only_in_one_store
                .push(order_ref(connect_order, pair.connect));
        }
    }
}
