//! Shipments: the V1 shipment shape built from an order and a label request, and
//! `GET /shipments`.

use serde_json::{json, Map, Value};

use super::reply::Reply;
use super::routes::{paginate, Call};
use super::state::{ShipmentRecord, State};

/// The API user shown as `userId` on shipments; the sandbox has one account and one user.
const ACCOUNT_USER_ID: &str = "5c1a8f7e-3b2d-4e6f-9a01-7d2c4b8e9f10";

/// Builds a shipment for `order` from a `createlabelfororder` body (carrier, service,
/// package, ship date, optional weight and dimensions).
pub(crate) fn build_shipment(
    order: &Map<String, Value>,
    label: &Value,
    shipment_id: u64,
    batch_id: u64,
    tracking_number: &str,
    create_date: &str,
) -> Map<String, Value> {
    let from_label_or_order = |key: &str| match label.get(key) {
        Some(value) if !value.is_null() => value.clone(),
        _ => order.get(key).cloned().unwrap_or(Value::Null),
    };
    let order_options = order.get("advancedOptions").cloned().unwrap_or(Value::Null);
    let items: Vec<Value> = order
        .get("items")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter(|item| item.get("adjustment") != Some(&Value::Bool(true)))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let ship_date = label
        .get("shipDate")
        .and_then(Value::as_str)
        .map(|text| text.get(..10).unwrap_or(text).to_owned())
        .unwrap_or_else(|| create_date.get(..10).unwrap_or(create_date).to_owned());

    let shipment = json!({
        "shipmentId": shipment_id,
        "orderId": order.get("orderId"),
        "orderKey": order.get("orderKey"),
        "userId": ACCOUNT_USER_ID,
        "customerEmail": order.get("customerEmail"),
        "orderNumber": order.get("orderNumber"),
        "createDate": create_date,
        "shipDate": ship_date,
        "shipmentCost": 7.3,
        "insuranceCost": 0,
        "trackingNumber": tracking_number,
        "isReturnLabel": false,
        "batchNumber": batch_id.to_string(),
        "carrierCode": from_label_or_order("carrierCode"),
        "serviceCode": from_label_or_order("serviceCode"),
        "packageCode": from_label_or_order("packageCode"),
        "confirmation": from_label_or_order("confirmation"),
        "warehouseId": order_options.get("warehouseId"),
        "voided": false,
        "voidDate": null,
        "marketplaceNotified": false,
        "notifyErrorMessage": null,
        "shipTo": order.get("shipTo"),
        "weight": from_label_or_order("weight"),
        "dimensions": from_label_or_order("dimensions"),
        "insuranceOptions": from_label_or_order("insuranceOptions"),
        "advancedOptions": {
            "billToParty": order_options.get("billToParty"),
            "billToAccount": order_options.get("billToAccount"),
            "billToPostalCode": order_options.get("billToPostalCode"),
            "billToCountryCode": order_options.get("billToCountryCode"),
            "storeId": order_options.get("storeId")
        },
        "shipmentItems": items,
        "labelData": null,
        "formData": null
    });
    match shipment {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// `GET /shipments` with the filters `storeId`, `orderNumber`, `orderId`, `batchId`,
/// `trackingNumber`, `carrierCode` and `includeShipmentItems` (default false, which
/// returns `shipmentItems: null`), and paging.
pub(crate) fn list(call: &Call<'_>, state: &State) -> Reply {
    let query = &call.query;
    let numbers = ["storeId", "orderId", "batchId"].map(|name| query.u64(name));
    let [store_id, order_id, batch_id] = match numbers {
        [Ok(store), Ok(order), Ok(batch)] => [store, order, batch],
        [Err(reply), ..] | [_, Err(reply), _] | [_, _, Err(reply)] => return reply,
    };
    let include_items = match query.bool("includeShipmentItems") {
        Ok(value) => value.unwrap_or(false),
        Err(reply) => return reply,
    };
    let order_number = query.get("orderNumber");
    let tracking_number = query.get("trackingNumber");
    let carrier_code = query.get("carrierCode");
    let text_matches = |record: &ShipmentRecord, key: &str, wanted: Option<&str>| {
        wanted.is_none_or(|wanted| {
            record
                .shipment
                .get(key)
                .and_then(Value::as_str)
                .is_some_and(|own| own.eq_ignore_ascii_case(wanted))
        })
    };

    let selected: Vec<&ShipmentRecord> = state
        .shipments
        .iter()
        .filter(|record| store_id.is_none_or(|id| record.store_id == Some(id)))
        .filter(|record| batch_id.is_none_or(|id| record.batch_id == id))
        .filter(|record| {
            order_id
                .is_none_or(|id| record.shipment.get("orderId").and_then(Value::as_u64) == Some(id))
        })
        .filter(|record| text_matches(record, "orderNumber", order_number))
        .filter(|record| text_matches(record, "trackingNumber", tracking_number))
        .filter(|record| text_matches(record, "carrierCode", carrier_code))
        .collect();

    let total = selected.len();
    let (page_items, page, pages) = match paginate(selected, query) {
        Ok(result) => result,
        Err(reply) => return reply,
    };
    let shipments: Vec<Value> = page_items
        .into_iter()
        .map(|record| {
            let mut shipment = record.shipment.clone();
            if !include_items {
                shipment.insert("shipmentItems".into(), Value::Null);
            }
            Value::Object(shipment)
        })
        .collect();
    Reply::ok(json!({ "shipments": shipments, "total": total, "page": page, "pages": pages }))
}
