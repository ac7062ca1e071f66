use super::*;
use crate::stores::{StoreId, StorePair};

const STORES_LIST: &str = include_str!("../testdata/stores_list.json");

fn map() -> StoreMap {
    StoreMap::new(vec![
        StorePair {
            legacy: StoreId(22766),
            connect: StoreId(25748),
        },
        StorePair {
            legacy: StoreId(1),
            connect: StoreId(2),
        },
    ])
    .unwrap()
}

/// Returns the merged text, or the input when nothing changed.
fn merge(input: &str) -> String {
    let result = merge_store_list(input.as_bytes(), &map()).unwrap();
    match result.body {
        Some(body) => String::from_utf8(body).unwrap(),
        None => input.to_owned(),
    }
}

#[test]
fn fixture_pair_merged_into_legacy() {
    let result = merge_store_list(STORES_LIST.as_bytes(), &map()).unwrap();
    let body = String::from_utf8(result.body.unwrap()).unwrap();

    let second = STORES_LIST
        .find("  {\n    \"active\": true,\n    \"autoRefresh\": true")
        .unwrap();
    let expected = format!("[\n{}", STORES_LIST.get(second..).unwrap())
        .replace("\"storeId\": 25748", "\"storeId\": 22766");
    assert_eq!(body, expected);
    assert_eq!(result.count, 2);
    let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(parsed.as_array().map(Vec::len), Some(1));
}

#[test]
fn legacy_after_partner_removed() {
    let input = r#"[{"storeId":2,"n":"new"} , {"storeId":1,"n":"old"} ,{"storeId":9}]"#;
    assert_eq!(merge(input), r#"[{"storeId":1,"n":"new"} ,{"storeId":9}]"#);
}

#[test]
fn legacy_first_and_last_removed() {
    let input =
        r#"[{"storeId":1},{"storeId":22766},{"storeId":2},{"storeId":25748},{"storeId":7}]"#;
    assert_eq!(
        merge(input),
        r#"[{"storeId":1},{"storeId":22766},{"storeId":7}]"#
    );

    let input = "[ {\"storeId\":\"1\"} ,\n {\"storeId\":2} ]";
    assert_eq!(merge(input), "[ {\"storeId\":1} ]");
}

#[test]
fn legacy_without_partner_kept() {
    let input = r#"[{"storeId":1,"active":false},{"storeId":9}]"#;
    assert_eq!(merge(input), input);

    let result = merge_store_list(input.as_bytes(), &map()).unwrap();
    assert_eq!(result.body, None);
    assert_eq!(result.count, 0);
}

#[test]
fn nested_store_ids_do_not_count() {
    let input = r#"[{"storeId":1},{"inner":{"storeId":2}}]"#;
    assert_eq!(merge(input), r#"[{"storeId":1},{"inner":{"storeId":1}}]"#);
}

#[test]
fn conflicting_ids_in_one_element_kept() {
    let input = r#"[{"storeId":1,"StoreID":5},{"storeId":2}]"#;
    assert_eq!(merge(input), r#"[{"storeId":1,"StoreID":5},{"storeId":1}]"#);
}

#[test]
fn non_array_document_only_rewritten() {
    let input = r#"{"storeId":2,"stores":[{"storeId":1},{"storeId":2}]}"#;
    assert_eq!(
        merge(input),
        r#"{"storeId":1,"stores":[{"storeId":1},{"storeId":1}]}"#
    );
}

#[test]
fn malformed_list_rejected() {
    let error = merge_store_list(b"[{\"storeId\":1},]", &map()).unwrap_err();
    assert_eq!(error.offset, 15);
}
