use super::*;
use crate::stores::{StoreId, StorePair};

const ORDER: &str = include_str!("../testdata/order.json");
const ORDERS_LIST: &str = include_str!("../testdata/orders_list.json");
const WEBHOOKS_LIST: &str = include_str!("../testdata/webhooks_list.json");

pub(super) fn map() -> StoreMap {
    StoreMap::new(vec![
        StorePair {
            legacy: StoreId(12345),
            connect: StoreId(7654321),
        },
        StorePair {
            legacy: StoreId(98765),
            connect: StoreId(98766),
        },
    ])
    .unwrap()
}

fn rewrite(input: &str, direction: Direction, options: JsonOptions) -> JsonRewrite {
    rewrite_json(input.as_bytes(), &map(), direction, options).unwrap()
}

/// Returns the rewritten text, or the input when nothing changed.
fn to_connect(input: &str) -> String {
    let result = rewrite(input, Direction::ToConnect, JsonOptions::default());
    match result.body {
        Some(body) => String::from_utf8(body).unwrap(),
        None => input.to_owned(),
    }
}

#[test]
fn order_fixture_store_id_only() {
    let result = rewrite(ORDER, Direction::ToConnect, JsonOptions::default());
    let body = String::from_utf8(result.body.unwrap()).unwrap();
    assert_eq!(result.count, 1);
    assert_eq!(
        body,
        ORDER.replace("\"storeId\": 12345", "\"storeId\": 7654321")
    );
}

#[test]
fn orders_list_fixture_nested_in_array() {
    let result = rewrite(ORDERS_LIST, Direction::ToConnect, JsonOptions::default());
    let body = String::from_utf8(result.body.unwrap()).unwrap();
    assert_eq!(result.count, 2);
    assert_eq!(
        body,
        ORDERS_LIST.replace("\"storeId\": 12345", "\"storeId\": 7654321")
    );
}

#[test]
fn webhooks_fixture_pascal_case_key() {
    let input = WEBHOOKS_LIST;
    let result = rewrite(input, Direction::ToConnect, JsonOptions::default());
    let body = String::from_utf8(result.body.unwrap()).unwrap();
    assert_eq!(result.count, 2);
    let expected = input
        .replace("\"StoreID\": 12345", "\"StoreID\": 7654321")
        .replace("\"StoreID\": 98765", "\"StoreID\": 98766");
    assert_eq!(body, expected);
}

#[test]
fn same_digits_elsewhere_untouched() {
    let input = r#"{"orderNumber":"12345","orderId":12345,"customerId":12345,
        "advancedOptions":{"customField1":"store 12345","storeId":12345},
        "shipTo":{"phone":"12345"},"tagIds":[12345],"note":"storeId 12345"}"#;
    let expected = input.replacen("\"storeId\":12345", "\"storeId\":7654321", 1);
    assert_eq!(to_connect(input), expected);
}

#[test]
fn every_key_spelling_matches() {
    for key in [
        "storeId", "StoreID", "storeID", "store_id", "STORE_ID", "storeid",
    ] {
        let input = format!(r#"{{"{key}":12345}}"#);
        assert_eq!(to_connect(&input), format!(r#"{{"{key}":7654321}}"#));
    }
}

#[test]
fn near_miss_keys_untouched() {
    for key in [
        "storeIds", "store", "store-id", "xstoreId", "store id", "storeId ",
    ] {
        let input = format!(r#"{{"{key}":12345}}"#);
        assert_eq!(to_connect(&input), input, "{key}");
    }
}

#[test]
fn escaped_keys_are_decoded() {
    let cases = [
        r#"{"store\u0049d":12345}"#,
        r#"{"\u0073tore_id":12345}"#,
        r#"{"store\u005fid":12345}"#,
    ];
    for input in cases {
        let expected = input.replace("12345", "7654321");
        assert_eq!(to_connect(input), expected, "{input}");
    }
    let not_a_name = r#"{"store\u0130d":12345, "store\nid":12345}"#;
    assert_eq!(to_connect(not_a_name), not_a_name);
}

#[test]
fn string_ids_stay_strings() {
    let cases = [
        (r#"{"storeId":"12345"}"#, r#"{"storeId":"7654321"}"#),
        (r#"{"storeId":" 12345 "}"#, r#"{"storeId":"7654321"}"#),
        (r#"{"storeId":"0012345"}"#, r#"{"storeId":"7654321"}"#),
        (r#"{"storeId":"+12345"}"#, r#"{"storeId":"7654321"}"#),
        (r#"{"storeId":"\t12345\n"}"#, r#"{"storeId":"7654321"}"#),
        (r#"{"storeId":"\u00312345"}"#, r#"{"storeId":"7654321"}"#),
    ];
    for (input, expected) in cases {
        assert_eq!(to_connect(input), expected, "{input}");
    }
}

#[test]
fn number_forms_by_value() {
    for number in [
        "12345",
        "12345.0",
        "1.2345e4",
        "1.2345E+4",
        "123450e-1",
        "12345.000",
    ] {
        let input = format!(r#"{{"storeId": {number} }}"#);
        assert_eq!(to_connect(&input), r#"{"storeId": 7654321 }"#, "{number}");
    }
    for number in ["-12345", "12345.5", "1.2345e3", "-0", "0", "123456"] {
        let input = format!(r#"{{"storeId":{number}}}"#);
        assert_eq!(to_connect(&input), input, "{number}");
    }
}

#[test]
fn non_scalar_values_scanned_inside() {
    let input = r#"{"storeId":null,"StoreID":true,"store_id":{"storeId":12345},"STOREID":[{"storeId":"12345"}]}"#;
    let expected = r#"{"storeId":null,"StoreID":true,"store_id":{"storeId":7654321},"STOREID":[{"storeId":"7654321"}]}"#;
    assert_eq!(to_connect(input), expected);
}

#[test]
fn top_level_array_of_orders() {
    let input = r#"[{"orderNumber":"A-1","advancedOptions":{"storeId":12345}},
 {"orderNumber":"A-2","advancedOptions":{"storeId":98765,"warehouseId":12345}},
 {"orderNumber":"A-3","advancedOptions":{"storeId":555}}]"#;
    let result = rewrite(input, Direction::ToConnect, JsonOptions::default());
    let expected = input
        .replace("\"storeId\":12345", "\"storeId\":7654321")
        .replace("\"storeId\":98765", "\"storeId\":98766");
    assert_eq!(result.count, 2);
    assert_eq!(result.body.as_deref(), Some(expected.as_bytes()));
}

#[test]
fn unchanged_document_returns_none() {
    let input = r#"{"storeId": 7654321, "orderId": 12345}"#;
    let result = rewrite(input, Direction::ToConnect, JsonOptions::default());
    assert_eq!(result.body, None);
    assert_eq!(result.count, 0);
}

#[test]
fn mirror_direction_restores_legacy() {
    let input = r#"{"storeId":7654321,"store_id":"7654321","other":12345}"#;
    let result = rewrite(input, Direction::ToLegacy, JsonOptions::default());
    let expected = r#"{"storeId":12345,"store_id":"12345","other":12345}"#;
    assert_eq!(result.body.as_deref(), Some(expected.as_bytes()));
}

#[test]
fn lossless_outside_replaced_values() {
    let input = "{ \"a\" : 1.10 ,\n\t\"b\":[99.990, -0.0e-0, \"\\u00e9\\/\"],\r\n \"storeId\" : 12345 , \"storeId\":12345 }  ";
    let expected = input
        .replace(": 12345", ": 7654321")
        .replace(":12345", ":7654321");
    assert_eq!(to_connect(input), expected);
}

#[test]
fn depth_limit_enforced() {
    let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    assert!(rewrite_json(
        ok.as_bytes(),
        &map(),
        Direction::ToConnect,
        JsonOptions::default()
    )
    .is_ok());

    let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
    let error = rewrite_json(
        deep.as_bytes(),
        &map(),
        Direction::ToConnect,
        JsonOptions::default(),
    )
    .unwrap_err();
    assert_eq!(error.offset, MAX_DEPTH);

    let mixed = "{\"a\":[".repeat(MAX_DEPTH);
    assert!(rewrite_json(
        mixed.as_bytes(),
        &map(),
        Direction::ToConnect,
        JsonOptions::default()
    )
    .is_err());

    let huge = "[".repeat(1_000_000);
    assert!(rewrite_json(
        huge.as_bytes(),
        &map(),
        Direction::ToConnect,
        JsonOptions::default()
    )
    .is_err());
}

#[test]
fn resource_url_query_rewritten() {
    let options = JsonOptions {
        urls: true,
        ..JsonOptions::default()
    };
    let input = r#"{"resource_url":"https://ssapi6.shipstation.com/orders?storeID=12345&importBatch=12345#storeId=12345","resource_type":"ORDER_NOTIFY"}"#;
    let result = rewrite(input, Direction::ToConnect, options);
    let expected = input.replacen("storeID=12345", "storeID=7654321", 1);
    assert_eq!(result.body.as_deref(), Some(expected.as_bytes()));
    assert_eq!(result.count, 1);

    let off = rewrite(input, Direction::ToConnect, JsonOptions::default());
    assert_eq!(off.body, None);
}

#[test]
fn href_and_escaped_urls() {
    let options = JsonOptions {
        urls: true,
        ..JsonOptions::default()
    };
    let input = r#"{"links":{"next":{"HREF":"/v2/shipments?store_id=12345&page=2"}},"resource_url":"https:\/\/x\/orders?storeID=12345","url":"/o?storeId=12345"}"#;
    let result = rewrite(input, Direction::ToConnect, options);
    let expected = input.replacen("store_id=12345", "store_id=7654321", 1);
    assert_eq!(result.body.as_deref(), Some(expected.as_bytes()));
    assert_eq!(result.skipped_urls, 1);
}

#[test]
fn refresh_message_rewritten() {
    let options = JsonOptions {
        refresh_message: true,
        ..JsonOptions::default()
    };
    let input = r#"{"success": true, "message": "A store refresh has been initiated for Store ID 7654321"}"#;
    let result = rewrite(input, Direction::ToLegacy, options);
    let expected = input.replace("7654321", "12345");
    assert_eq!(result.body.as_deref(), Some(expected.as_bytes()));

    let cases = [
        ("store id  7654321.", Some("store id  12345.")),
        (
            "STORE ID 7654321 and Store ID 98766",
            Some("STORE ID 12345 and Store ID 98765"),
        ),
        ("Store ID 76543210", None),
        ("Store ID7654321", None),
        ("restore ID 7654321", None),
        ("Store ID 7654321\\u0030", None),
        ("Order 7654321", None),
    ];
    for (message, expected) in cases {
        let input = format!(r#"{{"Message":"{message}"}}"#);
        let result = rewrite(&input, Direction::ToLegacy, options);
        let expected = expected.map(|text| format!(r#"{{"Message":"{text}"}}"#));
        assert_eq!(
            result.body.map(|body| String::from_utf8(body).unwrap()),
            expected
        );
    }
}

#[test]
fn nested_message_untouched() {
    let options = JsonOptions {
        refresh_message: true,
        ..JsonOptions::default()
    };
    let input = r#"{"inner":{"message":"Store ID 7654321"}}"#;
    let result = rewrite(input, Direction::ToLegacy, options);
    assert_eq!(result.body, None);
}

#[test]
fn scalar_documents_accepted() {
    for input in ["12345", "\"storeId\"", "null", " true ", "[]", "{}"] {
        let result = rewrite(input, Direction::ToConnect, JsonOptions::default());
        assert_eq!(result.body, None, "{input}");
    }
}

#[test]
fn error_message_format() {
    let error = rewrite_json(
        b"{\"a\":}",
        &map(),
        Direction::ToConnect,
        JsonOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid JSON at byte 5: expected a JSON value"
    );
}

#[test]
fn plain_and_escaped_keys_agree() {
    // Keys without escapes are compared as bytes and escaped ones are decoded, so both paths
    // must classify every name alike, including names that share only a length or a letter.
    let options = JsonOptions {
        urls: true,
        refresh_message: true,
    };
    let names = [
        "storeId",
        "STORE_ID",
        "storeIx",
        "sTore_iD",
        "store_ix",
        "Resource_URL",
        "resource_urx",
        "HREF",
        "hrex",
        "Message",
        "messagx",
        "name",
        "s",
        "",
    ];
    for name in names {
        let escaped: String = name
            .chars()
            .map(|c| format!("\\u{:04x}", c as u32))
            .collect();
        let value = r#""/o?storeId=12345&Store ID 12345""#;
        let plain = format!(r#"{{"{name}":12345,"x":{{"{name}":{value}}},"{name}":{value}}}"#);
        let encoded = plain.replace(&format!("\"{name}\""), &format!("\"{escaped}\""));

        let plain_result = rewrite(&plain, Direction::ToConnect, options);
        let encoded_result = rewrite(&encoded, Direction::ToConnect, options);
        assert_eq!(plain_result.count, encoded_result.count, "{name}");
    }
}
