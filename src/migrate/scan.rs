//! `storebridge migrate scan`: records in the embedded store the Miva Connect orders whose
//! order number was already shipped from the legacy store, for the proxy's double-ship
//! guard.
//!
//! The proxy reads these records when `[guard] double_ship` is on; see `proxy::guard`.
//!
//! Each run reads only the Miva Connect orders modified since the previous run of that
//! store (the cursor `scan:{connect store ID}`), and the legacy store's shipped orders.

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::Value;

use super::api::{Api, ApiError};
use super::plan::{optional_text as text, OPEN_STATUSES};
use crate::storage::{DoubleShipRecord, Storage, StorageError, UnixMillis};
use crate::stores::StorePair;

/// Orders read and double-ship risks recorded by one scan of a store pair.
#[derive(Debug, Default)]
pub struct ScanSummary {
    pub orders_read: usize,
    pub recorded: Vec<DoubleShipRecord>,
}

/// Turns a V1 order timestamp such as `2026-11-04T08:30:00.0000000` into the
/// `yyyy-mm-dd hh:mm:ss` form V1 filters take, percent-encoded for a query string.
fn filter_date(timestamp: &str) -> String {
    timestamp
        .get(..19)
        .unwrap_or(timestamp)
        .replacen('T', "%20", 1)
}

/// Scans one pair and records what it finds.
pub async fn scan_pair(
    api: &Api,
    storage: &dyn Storage,
    pair: &StorePair,
    now: UnixMillis,
) -> Result<ScanSummary, ScanError> {
    let (legacy, connect) = (pair.legacy.0, pair.connect.0);
    let cursor_name = format!("scan:{connect}");
    let since = storage.cursor(&cursor_name).await?;
    let query = match &since {
        Some(date) => format!(
            "/orders?storeId={connect}&modifyDateStart={}",
            filter_date(date)
        ),
        None => format!("/orders?storeId={connect}"),
    };
    let connect_orders = api.all_pages(&query, "orders", |_, _| {}).await?;
    let mut summary = ScanSummary {
        orders_read: connect_orders.len(),
        ..ScanSummary::default()
    };
    let open: Vec<&Value> = connect_orders
        .iter()
        .filter(|order| OPEN_STATUSES.contains(&order["orderStatus"].as_str().unwrap_or("")))
        .collect();

    // Legacy shipments, all of them on the first scan and then those modified since.
    let legacy_cursor = format!("scan-legacy:{legacy}");
    let legacy_since = storage.cursor(&legacy_cursor).await?;
    let shipped_query = match &legacy_since {
        Some(date) => format!(
            "/orders?storeId={legacy}&orderStatus=shipped&modifyDateStart={}",
            filter_date(date)
        ),
        None => format!("/orders?storeId={legacy}&orderStatus=shipped"),
    };
    let newly_shipped = api.all_pages(&shipped_query, "orders", |_, _| {}).await?;

    // Miva Connect orders that changed, against every legacy shipment.
    if !open.is_empty() {
        let shipped: BTreeMap<String, Value> = if legacy_since.is_none() {
            newly_shipped
                .iter()
                .filter_map(|order| Some((text(order, "orderNumber")?, order.clone())))
                .collect()
        } else {
            api.all_pages(
                &format!("/orders?storeId={legacy}&orderStatus=shipped"),
                "orders",
                |_, _| {},
            )
            .await?
            .into_iter()
            .filter_map(|order| Some((text(&order, "orderNumber")?, order)))
            .collect()
        };
        for order in &open {
            let Some(number) = text(order, "orderNumber") else {
                continue;
            };
            if let Some(legacy_order) = shipped.get(&number) {
                if let Some(record) =
                    record_risk(api, storage, connect, order, legacy_order, now).await?
                {
                    summary.recorded.push(record);
                }
            }
        }
    }

    // Legacy orders shipped since the last scan, against Miva Connect orders that did not
    // change: shipping the legacy copy does not touch the Miva Connect one.
    if legacy_since.is_some() {
        let seen: std::collections::BTreeSet<String> = open
            .iter()
            .filter_map(|order| text(order, "orderNumber"))
            .collect();
        for legacy_order in &newly_shipped {
            let Some(number) = text(legacy_order, "orderNumber") else {
                continue;
            };
            if seen.contains(&number) {
                continue;
            }
            let encoded =
                percent_encoding::utf8_percent_encode(&number, percent_encoding::NON_ALPHANUMERIC);
            let copies = api
                .all_pages(
                    &format!("/orders?storeId={connect}&orderNumber={encoded}"),
                    "orders",
                    |_, _| {},
                )
                .await?;
            for copy in copies.iter().filter(|copy| {
                text(copy, "orderNumber").as_deref() == Some(number.as_str())
                    && OPEN_STATUSES.contains(&copy["orderStatus"].as_str().unwrap_or(""))
            }) {
                if let Some(record) =
                    record_risk(api, storage, connect, copy, legacy_order, now).await?
                {
                    summary.recorded.push(record);
                }
            }
        }
    }
    let newest_legacy = newly_shipped
        .iter()
        .filter_map(|order| order["modifyDate"].as_str())
        .max();
    if let Some(newest) = newest_legacy {
        storage.set_cursor(&legacy_cursor, newest).await?;
    }

    let newest = connect_orders
        .iter()
        .filter_map(|order| order["modifyDate"].as_str())
        .max();
    if let Some(newest) = newest {
        storage.set_cursor(&cursor_name, newest).await?;
    }
    Ok(summary)
}

/// Records that `connect_order` repeats the shipped `legacy_order`, with the legacy ship
/// date and tracking number.
async fn record_risk(
    api: &Api,
    storage: &dyn Storage,
    connect_store_id: u64,
    connect_order: &Value,
    legacy_order: &Value,
    now: UnixMillis,
) -> Result<Option<DoubleShipRecord>, ScanError> {
    let (Some(number), Some(connect_order_id)) = (
        text(connect_order, "orderNumber"),
        connect_order["orderId"].as_u64(),
    ) else {
        return Ok(None);
    };
    let legacy_order_id = legacy_order["orderId"].as_u64().unwrap_or(0);
    let shipment = newest_shipment(api, legacy_order_id).await?;
    let record = DoubleShipRecord {
        connect_order_id,
        connect_store_id,
        order_number: number,
        legacy_order_id,
        legacy_ship_date: text(legacy_order, "shipDate")
            .or_else(|| shipment.as_ref().and_then(|found| text(found, "shipDate"))),
        tracking_number: shipment
            .as_ref()
            .and_then(|found| text(found, "trackingNumber")),
        recorded_at: now,
    };
    storage.record_double_ship(&record).await?;
    Ok(Some(record))
}

/// Returns the newest shipment of an order that was not voided, if any.
pub async fn newest_shipment(api: &Api, order_id: u64) -> Result<Option<Value>, ApiError> {
    let found = api
        .all_pages(
            &format!("/shipments?orderId={order_id}"),
            "shipments",
            |_, _| {},
        )
        .await?;
    Ok(found
        .into_iter()
        .filter(|shipment| shipment["voided"] != Value::Bool(true))
        .max_by_key(|shipment| shipment["createDate"].as_str().unwrap_or("").to_owned()))
}

/// Errors of a scan.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Writes the summary of one pair's scan.
pub fn write_summary(
    out: &mut dyn Write,
    pair: &StorePair,
    summary: &ScanSummary,
) -> std::io::Result<()> {
    writeln!(
        out,
        "store {} -> {}: {} Miva Connect order(s) read, {} double-ship risk(s) recorded",
        pair.legacy,
        pair.connect,
        summary.orders_read,
        summary.recorded.len()
    )?;
    for record in &summary.recorded {
        writeln!(
            out,
            "  order {} (connect {}): shipped from the legacy store on {}, tracking {}",
            record.order_number,
            record.connect_order_id,
            record
                .legacy_ship_date
                .as_deref()
                .unwrap_or("an unknown date"),
            record.tracking_number.as_deref().unwrap_or("none")
        )?;
    }
    Ok(())
}
