//! The order fields a merchant may have edited in the legacy store, which Miva Connect does
//! not import again, and how two values of one are compared.
//!
//! Fields the new integration imports itself (gift flag and message, discounts, kit SKUs)
//! are not listed: Miva Connect brings them over, so a difference there is not an edit.

use serde::Serialize;
use serde_json::Value;

/// One re-applicable order field: its name in reports and its JSON pointer in a V1 order.
#[derive(Clone, Copy, Debug)]
pub struct EditField {
    pub name: &'static str,
    pub pointer: &'static str,
}

/// The fields `migrate plan` compares, in report order.
pub const EDIT_FIELDS: [EditField; 15] = [
    field("internalNotes", "/internalNotes"),
    field("tagIds", "/tagIds"),
    field("holdUntilDate", "/holdUntilDate"),
    field("userId", "/userId"),
    field("customField1", "/advancedOptions/customField1"),
    field("customField2", "/advancedOptions/customField2"),
    field("customField3", "/advancedOptions/customField3"),
    field("requestedShippingService", "/requestedShippingService"),
    field("carrierCode", "/carrierCode"),
    field("serviceCode", "/serviceCode"),
    field("packageCode", "/packageCode"),
    field("weight", "/weight"),
    field("dimensions", "/dimensions"),
    field("insuranceOptions", "/insuranceOptions"),
    field("warehouseId", "/advancedOptions/warehouseId"),
];

const fn field(name: &'static str, pointer: &'static str) -> EditField {
    EditField { name, pointer }
}

/// One field whose legacy value differs from the Miva Connect value.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldDifference {
    pub field: &'static str,
    pub legacy: Value,
    pub connect: Value,
}

/// Lists the re-applicable fields whose values differ between two V1 orders.
pub fn differences(legacy: &Value, connect: &Value) -> Vec<FieldDifference> {
    EDIT_FIELDS
        .iter()
        .filter_map(|edit| {
            let legacy_value = normalized(legacy.pointer(edit.pointer));
            let connect_value = normalized(connect.pointer(edit.pointer));
            (legacy_value != connect_value).then_some(FieldDifference {
                field: edit.name,
                legacy: legacy_value,
                connect: connect_value,
            })
        })
        .collect()
}

/// Brings equal values to one form: an empty string or list is `null`, tag lists are
/// sorted, numbers compare as numbers, and the redundant `WeightUnits` code is dropped.
pub fn normalized(value: Option<&Value>) -> Value {
    match value {
        None | Some(Value::Null) => Value::Null,
        Some(Value::String(text)) if text.is_empty() => Value::Null,
        Some(Value::Array(items)) if items.is_empty() => Value::Null,
        Some(Value::Array(items)) => {
            let mut sorted: Vec<Value> = items.iter().map(|item| normalized(Some(item))).collect();
            sorted.sort_by_key(|item| item.to_string());
            Value::Array(sorted)
        }
        Some(Value::Number(number)) => normalized_number(number),
        Some(Value::Object(map)) => Value::Object(
            map.iter()
                .filter(|(key, _)| key.as_str() != "WeightUnits")
                .map(|(key, item)| (key.clone(), normalized(Some(item))))
                .collect(),
        ),
        Some(other) => other.clone(),
    }
}

/// Writes whole numbers as integers, so `16` and `16.0` compare and print alike.
fn normalized_number(number: &serde_json::Number) -> Value {
    match number.as_f64() {
        Some(float) if float.fract() == 0.0 && float.abs() < 9.0e15 => Value::from(float as i64),
        _ => Value::Number(number.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn differences_ignore_equivalent_forms() {
        let legacy = json!({
            "internalNotes": "",
            "tagIds": [2, 1],
            "weight": { "value": 16, "units": "ounces", "WeightUnits": 1 },
            "advancedOptions": { "customField1": "a" }
        });
        let connect = json!({
            "internalNotes": null,
            "tagIds": [1, 2],
            "weight": { "value": 16.0, "units": "ounces" },
            "advancedOptions": { "customField1": "a" }
        });
        assert_eq!(differences(&legacy, &connect), Vec::new());
    }

    #[test]
    fn differences_list_each_changed_field() {
        let legacy =
            json!({ "internalNotes": "call first", "advancedOptions": { "warehouseId": 7 } });
        let connect = json!({ "internalNotes": "x", "advancedOptions": { "warehouseId": 8 } });
        let found: Vec<&str> = differences(&legacy, &connect)
            .iter()
            .map(|difference| difference.field)
            .collect();
        assert_eq!(found, vec!["internalNotes", "warehouseId"]);
    }

    #[test]
    fn gift_fields_are_not_compared() {
        let legacy = json!({ "gift": true, "giftMessage": "hi" });
        let connect = json!({ "gift": false });
        assert!(differences(&legacy, &connect).is_empty());
    }
}
