//! Throughput check for the JSON rewriter on a page of 500 orders (about 1.5 MB).
//!
//! Ignored by default because timing in a debug build means nothing. Run it with
//! `cargo test --release --test rewrite_speed -- --ignored --nocapture`.

use std::time::Instant;

use storebridge::rewrite::{rewrite_json, JsonOptions};
use storebridge::stores::{Direction, StoreId, StoreMap, StorePair};

const ORDER: &str = include_str!("../src/rewrite/testdata/order.json");

/// Builds `{"orders":[...500 orders...],"total":500,"page":1,"pages":1}`, pretty-printed or
/// compact as ShipStation sends it.
fn orders_page(compact: bool) -> Vec<u8> {
    let order = if compact {
        serde_json::to_string(&serde_json::from_str::<serde_json::Value>(ORDER).unwrap()).unwrap()
    } else {
        ORDER.to_owned()
    };
    let orders = vec![order; 500].join(",");
    format!(r#"{{"orders":[{orders}],"total":500,"page":1,"pages":1}}"#).into_bytes()
}

#[test]
#[ignore = "timing check, run in release mode"]
fn orders_page_throughput() {
    measure(&orders_page(false));
    measure(&orders_page(true));
}

fn measure(page: &[u8]) {
    let map = StoreMap::new(vec![StorePair {
        legacy: StoreId(12345),
        connect: StoreId(7654321),
    }])
    .unwrap();
    let rounds = 200;

    let started = Instant::now();
    let mut changed = 0;
    for _ in 0..rounds {
        let result =
            rewrite_json(page, &map, Direction::ToConnect, JsonOptions::default()).unwrap();
        changed += result.count;
    }
    let seconds = started.elapsed().as_secs_f64();

    let megabytes = (page.len() * rounds) as f64 / 1e6;
    println!(
        "{} bytes per page, {:.0} MB/s",
        page.len(),
        megabytes / seconds
    );
    assert_eq!(changed, 500 * rounds);
}
