//! Throughput of the JSON store ID rewriter beside a naive rewrite through
//! `serde_json::Value`, in both directions, on three bodies:
//!
//! - `page`: `GET /orders` with 500 orders (about 1.5 MB compact), built from the V1 order
//!   example with a different order ID, number, customer, amount and item count in each.
//! - `order`: one order (about 2.5 KB compact).
//! - `webhooks`: `GET /webhooks` with 100 subscriptions.
//!
//! `inbound` translates legacy IDs to connect IDs as for a client's call; `mirror` translates
//! connect IDs back with URL rewriting on, as for a response on a `mirror` listener. One order in
//! four carries the mapped store, the rest carry unmapped stores. `storebridge` rewrites the
//! body in one piece. `storebridge_stream_16k` feeds it to `JsonStream` in 16 KiB chunks and
//! copies the output, as a streamed mirror response does.
//!
//! Run with `cargo bench --bench rewrite`; criterion reports the throughput in MiB/s and
//! MB/s is that number times 1.048576. `cargo bench --bench rewrite -- --quick` takes a few
//! seconds.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::{json, Value};

use std::sync::Arc;

use storebridge::rewrite::{rewrite_json, JsonOptions, JsonStream};
use storebridge::stores::{Direction, StoreId, StoreMap, StorePair};

const ORDER: &str = include_str!("../src/rewrite/testdata/order.json");
const LEGACY: u64 = 12345;
const CONNECT: u64 = 7654321;
/// Chunk size of the streamed rewrite: about what a TLS read or an HTTP/2 frame delivers.
const STREAM_CHUNK: usize = 16 * 1024;

fn store_map() -> StoreMap {
    StoreMap::new(vec![StorePair {
        legacy: StoreId(LEGACY),
        connect: StoreId(CONNECT),
    }])
    .expect("valid store map")
}

/// Builds the `index`th order of a page, with the mapped store ID `mapped` on every fourth.
fn order(index: u64, mapped: u64) -> Value {
    let mut order: Value = serde_json::from_str(ORDER).expect("order example parses");
    let store = if index.is_multiple_of(4) {
        mapped
    } else {
        20_000 + index
    };
    order["advancedOptions"]["storeId"] = json!(store);
    order["orderId"] = json!(94_113_592 + index);
    order["orderNumber"] = json!(format!("TEST-ORDER-API-{index:05}"));
    order["orderKey"] = json!(format!("0f6bec18-{index:04x}-4e8b-9f19-bd6f5c2c4e1a"));
    order["customerEmail"] = json!(format!("customer{index}@example.com"));
    order["customerUsername"] = json!(format!("customer{index}@example.com"));
    order["amountPaid"] = json!(100.0 + (index % 97) as f64 * 1.37);
    order["billTo"]["name"] = json!(format!("Customer Number {index}"));
    order["shipTo"]["name"] = json!(format!("Recipient Number {index}"));

    // One to four items, so orders differ in length as real ones do.
    let template = order["items"][0].clone();
    let extra = (index % 4) as usize;
    let items = order["items"].as_array_mut().expect("items is an array");
    for copy in 0..extra {
        let mut item = template.clone();
        item["orderItemId"] = json!(192_210_958 + index * 8 + copy as u64);
        item["sku"] = json!(format!("SKU-{index}-{copy}"));
        item["quantity"] = json!(1 + copy);
        items.push(item);
    }
    order
}

/// `{"orders":[...],"total":N,"page":1,"pages":1}`, compact as ShipStation sends it.
fn orders_page(count: u64, mapped: u64) -> Vec<u8> {
    let orders: Vec<Value> = (0..count).map(|index| order(index, mapped)).collect();
    let page = json!({ "orders": orders, "total": count, "page": 1, "pages": 1 });
    serde_json::to_vec(&page).expect("page serialises")
}

/// `{"webhooks":[...]}` in the PascalCase shape of `GET /webhooks`.
fn webhooks_list(count: u64, mapped: u64) -> Vec<u8> {
    let hooks: Vec<Value> = (0..count)
        .map(|index| {
            let store = if index % 4 == 0 {
                mapped
            } else {
                20_000 + index
            };
            json!({
                "IsLabelAPIHook": false,
                "WebHookID": 123 + index,
                "SellerID": 100_000,
                "StoreID": store,
                "HookType": "ITEM_ORDER_NOTIFY",
                "MessageFormat": "Json",
                "Url": format!("https://example.endpoint/orders/{index}"),
                "Name": format!("Order webhook {index}"),
                "BulkCopyBatchID": null,
                "BulkCopyRecordID": null,
                "Active": true,
                "WebhookLogs": [],
                "Seller": null,
                "Store": null
            })
        })
        .collect();
    serde_json::to_vec(&json!({ "webhooks": hooks })).expect("list serialises")
}

/// Rewrites `input` in chunks of [`STREAM_CHUNK`] into one reused output buffer, returning
/// the number of bytes written.
fn stream_rewrite(
    input: &[u8],
    map: &Arc<StoreMap>,
    direction: Direction,
    options: JsonOptions,
) -> usize {
    let mut rewriter = JsonStream::new(map.clone(), direction, options);
    let mut output = Vec::with_capacity(STREAM_CHUNK + 64);
    let mut written = 0;
    for chunk in input.chunks(STREAM_CHUNK) {
        output.clear();
        rewriter.feed(chunk, &mut output);
        written += output.len();
    }
    output.clear();
    rewriter.finish(&mut output);
    written + output.len()
}

/// Rewrites the naive way, as the baseline: parse, change the tree, serialise. This loses
/// key order, number spelling and escapes, which is why storebridge does not do it.
fn naive_rewrite(input: &[u8], map: &StoreMap, direction: Direction) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(input).expect("valid JSON");
    naive_walk(&mut value, map, direction);
    serde_json::to_vec(&value).expect("value serialises")
}

fn naive_walk(value: &mut Value, map: &StoreMap, direction: Direction) {
    match value {
        Value::Object(object) => {
            for (key, child) in object.iter_mut() {
                let lower = key.to_ascii_lowercase();
                if lower == "storeid" || lower == "store_id" {
                    if let Some(new_id) = child.as_u64().and_then(|id| map.translate(direction, id))
                    {
                        *child = json!(new_id);
                    }
                } else if lower == "resource_url" || lower == "href" {
                    naive_url(child, map, direction);
                } else {
                    naive_walk(child, map, direction);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                naive_walk(item, map, direction);
            }
        }
        _ => {}
    }
}

fn naive_url(value: &mut Value, map: &StoreMap, direction: Direction) {
    let Some(url) = value.as_str() else { return };
    let Some((base, query)) = url.split_once('?') else {
        return;
    };
    let parameters: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, id)) if name.eq_ignore_ascii_case("storeid") => {
                match id.parse().ok().and_then(|id| map.translate(direction, id)) {
                    Some(new_id) => format!("{name}={new_id}"),
                    None => pair.to_owned(),
                }
            }
            _ => pair.to_owned(),
        })
        .collect();
    *value = json!(format!("{base}?{}", parameters.join("&")));
}

fn bench_rewrite(c: &mut Criterion) {
    let map = store_map();
    let shared_map = Arc::new(store_map());
    let directions = [
        (
            "inbound",
            Direction::ToConnect,
            LEGACY,
            JsonOptions::default(),
        ),
        (
            "mirror",
            Direction::ToLegacy,
            CONNECT,
            JsonOptions {
                urls: true,
                refresh_message: false,
            },
        ),
    ];

    for (direction_name, direction, mapped, options) in directions {
        let bodies = [
            ("page", orders_page(500, mapped)),
            (
                "order",
                serde_json::to_vec(&order(0, mapped)).expect("order serialises"),
            ),
            ("webhooks", webhooks_list(100, mapped)),
        ];
        for (body_name, body) in &bodies {
            // Check the bench rewrites what it claims to before timing it.
            let result = rewrite_json(body, &map, direction, options).expect("valid JSON");
            assert!(result.count > 0, "{body_name} has no mapped store ID");
            let expected_len = result.body.as_ref().map_or(body.len(), Vec::len);
            let streamed_len = stream_rewrite(body, &shared_map, direction, options);
            assert_eq!(streamed_len, expected_len, "{body_name} streamed");

            let mut group = c.benchmark_group(format!("{direction_name}/{body_name}"));
            group.throughput(Throughput::Bytes(body.len() as u64));
            group.bench_function(BenchmarkId::new("storebridge", body.len()), |b| {
                b.iter(|| rewrite_json(body, &map, direction, options).expect("valid JSON"))
            });
            group.bench_function(
                BenchmarkId::new("storebridge_stream_16k", body.len()),
                |b| b.iter(|| stream_rewrite(body, &shared_map, direction, options)),
            );
            group.bench_function(BenchmarkId::new("serde_json_value", body.len()), |b| {
                b.iter(|| naive_rewrite(body, &map, direction))
            });
            group.finish();
        }
    }
}

criterion_group!(benches, bench_rewrite);
criterion_main!(benches);
