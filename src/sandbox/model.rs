//! The V1 order shape: every field a response carries, with the defaults ShipStation shows
//! for fields a client left out. A request body is laid over these templates, so responses
//! always have the full shape, and fields the V1 model does not know are dropped.

use serde_json::{json, Map, Value};

/// Order statuses an order can have.
pub(crate) const ORDER_STATUSES: [&str; 5] = [
    "awaiting_payment",
    "awaiting_shipment",
    "shipped",
    "on_hold",
    "cancelled",
];

/// Statuses in which `createorder` may still update an existing order.
pub(crate) const UPDATABLE_STATUSES: [&str; 3] =
    ["awaiting_payment", "awaiting_shipment", "on_hold"];

pub(crate) fn address_template() -> Value {
    json!({
        "name": null,
        "company": null,
        "street1": null,
        "street2": null,
        "street3": null,
        "city": null,
        "state": null,
        "postalCode": null,
        "country": null,
        "phone": null,
        "residential": null,
        "addressVerified": null
    })
}

fn weight_template() -> Value {
    json!({ "value": 0, "units": "ounces", "WeightUnits": 1 })
}

pub(crate) fn advanced_options_template() -> Value {
    json!({
        "warehouseId": null,
        "nonMachinable": false,
        "saturdayDelivery": false,
        "containsAlcohol": false,
        "mergedOrSplit": false,
        "mergedIds": [],
        "parentId": null,
        "storeId": null,
        "customField1": null,
        "customField2": null,
        "customField3": null,
        "source": null,
        "billToParty": null,
        "billToAccount": null,
        "billToPostalCode": null,
        "billToCountryCode": null,
        "billToMyOtherAccount": null
    })
}

pub(crate) fn item_template() -> Value {
    json!({
        "orderItemId": null,
        "lineItemKey": null,
        "sku": null,
        "name": null,
        "imageUrl": null,
        "weight": weight_template(),
        "quantity": 1,
        "unitPrice": 0,
        "taxAmount": null,
        "shippingAmount": null,
        "warehouseLocation": null,
        "options": [],
        "productId": null,
        "fulfillmentSku": null,
        "adjustment": false,
        "upc": null,
        "createDate": null,
        "modifyDate": null
    })
}

fn order_template() -> Value {
    json!({
        "orderId": null,
        "orderNumber": null,
        "orderKey": null,
        "orderDate": null,
        "createDate": null,
        "modifyDate": null,
        "paymentDate": null,
        "shipByDate": null,
        "orderStatus": null,
        "customerId": null,
        "customerUsername": null,
        "customerEmail": null,
        "billTo": address_template(),
        "shipTo": address_template(),
        "items": [],
        "orderTotal": 0,
        "amountPaid": 0,
        "taxAmount": 0,
        "shippingAmount": 0,
        "customerNotes": null,
        "internalNotes": null,
        "gift": false,
        "giftMessage": null,
        "paymentMethod": null,
        "requestedShippingService": null,
        "carrierCode": null,
        "serviceCode": null,
        "packageCode": null,
        "confirmation": "none",
        "shipDate": null,
        "holdUntilDate": null,
        "weight": weight_template(),
        "dimensions": null,
        "insuranceOptions": { "provider": null, "insureShipment": false, "insuredValue": 0 },
        "internationalOptions": { "contents": null, "customsItems": null, "nonDelivery": null },
        "advancedOptions": advanced_options_template(),
        "tagIds": null,
        "userId": null,
        "externallyFulfilled": false,
        "externallyFulfilledBy": null,
        "labelMessages": null
    })
}

/// Lays `input` over `template`: keys of the template take the input's value, nested
/// objects merge key by key, and keys the template lacks are dropped.
pub(crate) fn overlay(template: &Value, input: Option<&Value>) -> Value {
    let (Value::Object(template_map), Some(Value::Object(input_map))) = (template, input) else {
        return match input {
            Some(value) if !template.is_object() || !value.is_null() => value.clone(),
            _ => template.clone(),
        };
    };
    let mut merged = Map::new();
    for (key, default) in template_map {
        let value = match input_map.get(key) {
            Some(given) if default.is_object() => overlay(default, Some(given)),
            Some(given) => given.clone(),
            None => default.clone(),
        };
        merged.insert(key.clone(), value);
    }
    Value::Object(merged)
}

/// IDs and timestamps the sandbox assigns when it stores an order.
pub(crate) struct OrderStamp<'a> {
    pub order_id: u64,
    pub order_key: &'a str,
    pub store_id: u64,
    pub create_date: &'a str,
    pub modify_date: &'a str,
}

/// Builds the stored order from a request body (or seed data). Items without an
/// `orderItemId` get one from `next_item_id`.
pub(crate) fn build_order(
    input: &Map<String, Value>,
    stamp: &OrderStamp<'_>,
    mut next_item_id: impl FnMut() -> u64,
) -> Map<String, Value> {
    let input_value = Value::Object(input.clone());
    let mut order = match overlay(&order_template(), Some(&input_value)) {
        Value::Object(map) => map,
        _ => Map::new(),
    };

    let item_stamp = stamp.modify_date.get(..23).unwrap_or(stamp.modify_date);
    let items: Vec<Value> = input
        .get("items")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    let mut built = overlay(&item_template(), Some(item));
                    if let Value::Object(map) = &mut built {
                        if map.get("orderItemId").is_none_or(Value::is_null) {
                            map.insert("orderItemId".into(), json!(next_item_id()));
                        }
                        for key in ["createDate", "modifyDate"] {
                            if map.get(key).is_none_or(Value::is_null) {
                                map.insert(key.into(), json!(item_stamp));
                            }
                        }
                    }
                    built
                })
                .collect()
        })
        .unwrap_or_default();
    order.insert("items".into(), Value::Array(items));

    order.insert("orderId".into(), json!(stamp.order_id));
    order.insert("orderKey".into(), json!(stamp.order_key));
    order.insert("createDate".into(), json!(stamp.create_date));
    order.insert("modifyDate".into(), json!(stamp.modify_date));
    if let Some(Value::Object(options)) = order.get_mut("advancedOptions") {
        options.insert("storeId".into(), json!(stamp.store_id));
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_merges_and_drops_unknown() {
        let template = json!({ "a": 1, "nested": { "x": null, "y": 2 } });
        let input = json!({ "nested": { "x": "set" }, "unknown": true });
        let merged = overlay(&template, Some(&input));
        assert_eq!(merged, json!({ "a": 1, "nested": { "x": "set", "y": 2 } }));
    }

    #[test]
    fn build_order_forces_ids_and_store() {
        let input = json!({
            "orderNumber": "A-1",
            "orderId": 5,
            "advancedOptions": { "storeId": 999, "customField1": "kept" },
            "items": [{ "sku": "S1" }]
        });
        let stamp = OrderStamp {
            order_id: 42,
            order_key: "key",
            store_id: 7,
            create_date: "2026-01-01T00:00:00.0000000",
            modify_date: "2026-01-01T00:00:00.0000000",
        };
        let order = build_order(input.as_object().unwrap(), &stamp, || 9);
        assert_eq!(order["orderId"], json!(42));
        assert_eq!(order["advancedOptions"]["storeId"], json!(7));
        assert_eq!(order["advancedOptions"]["customField1"], json!("kept"));
        assert_eq!(order["items"][0]["orderItemId"], json!(9));
        assert_eq!(
            order["items"][0]["createDate"],
            json!("2026-01-01T00:00:00.000")
        );
        assert_eq!(order["billTo"]["name"], Value::Null);
    }
}
