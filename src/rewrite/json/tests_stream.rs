//! The streaming rewrite against the one-shot one: every split of a document into chunks
//! must give the same bytes, count and error.

use std::sync::Arc;

use super::*;

const ORDER: &str = include_str!("../testdata/order.json");
const ORDERS_LIST: &str = include_str!("../testdata/orders_list.json");
const WEBHOOKS_LIST: &str = include_str!("../testdata/webhooks_list.json");

const ALL: JsonOptions = JsonOptions {
    urls: true,
    refresh_message: true,
};

fn map() -> Arc<StoreMap> {
    Arc::new(super::tests::map())
}

/// The result of a streamed rewrite: output, count and error.
#[derive(Debug, PartialEq)]
struct Streamed {
    output: Vec<u8>,
    count: usize,
    skipped_urls: usize,
    skipped_long: usize,
    error: Option<MalformedJson>,
}

fn stream(chunks: &[&[u8]], direction: Direction) -> Streamed {
    let mut rewriter = JsonStream::new(map(), direction, ALL);
    let mut output = Vec::new();
    for chunk in chunks {
        rewriter.feed(chunk, &mut output);
    }
    rewriter.finish(&mut output);
    Streamed {
        output,
        count: rewriter.count(),
        skipped_urls: rewriter.skipped_urls(),
        skipped_long: rewriter.skipped_long(),
        error: rewriter.error().cloned(),
    }
}

/// The streamed result that valid input must give, from the one-shot rewrite.
fn expected(input: &[u8], direction: Direction) -> Streamed {
    let result = rewrite_json(input, &map(), direction, ALL).unwrap();
    Streamed {
        output: result.body.unwrap_or_else(|| input.to_vec()),
        count: result.count,
        skipped_urls: result.skipped_urls,
        skipped_long: result.skipped_long,
        error: None,
    }
}

fn documents() -> Vec<String> {
    vec![
        ORDER.to_owned(),
        ORDERS_LIST.to_owned(),
        WEBHOOKS_LIST.replace("98765", "98766"),
        r#"{"resource_url":"https://x/orders?storeID=7654321&a=1","href":"/o?store_id=98766"}"#
            .to_owned(),
        r#"{"message":"Refresh started for Store ID 7654321","storeId":"7654321"}"#.to_owned(),
        r#"[{"store\u0049d":7654321.0},{"storeId":" 7654321 "},{"storeId":7.654321e6}]"#.to_owned(),
        "{\"na\u{e9}me\":\"caf\u{e9} \u{1f600}\",\"storeId\":7654321,\"t\":[true,false,null]}"
            .to_owned(),
    ]
}

#[test]
fn every_two_chunk_split_matches_one_shot() {
    for direction in [Direction::ToConnect, Direction::ToLegacy] {
        for document in documents() {
            let input = document.as_bytes();
            let whole = expected(input, direction);
            for split in 0..=input.len() {
                let (first, second) = input.split_at(split);
                assert_eq!(
                    stream(&[first, second], direction),
                    whole,
                    "{document} split at {split}"
                );
            }
        }
    }
}

#[test]
fn one_byte_chunks_match_one_shot() {
    for document in documents() {
        let input = document.as_bytes();
        let chunks: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(
            stream(&chunks, Direction::ToLegacy),
            expected(input, Direction::ToLegacy),
            "{document}"
        );
    }
}

#[test]
fn malformed_input_same_error_for_every_split() {
    let cases: [&[u8]; 12] = [
        b"{\"storeId\":7654321,}",
        b"{\"storeId\":7654321,\"a\":tru}",
        b"{\"storeId\":76543210x}",
        b"[\"abc\\x\"]",
        b"{\"resource_url\":\"/o?storeId=7654321\xff\"}",
        b"{\"message\":\"Store ID 7654321\x01\"}",
        b"{\"storeId\":-}",
        b"{\"storeId\":1.}",
        b"{\"a\":[1,2",
        b"{\"a\" 1}",
        b"{\"storeId\":7654321} x",
        b"{\"st\\u00",
    ];
    for input in cases {
        let error = rewrite_json(input, &map(), Direction::ToLegacy, ALL).unwrap_err();
        let whole = stream(&[input], Direction::ToLegacy);
        assert_eq!(whole.error.as_ref(), Some(&error), "{input:?}");
        for split in 0..=input.len() {
            let (first, second) = input.split_at(split);
            assert_eq!(
                stream(&[first, second], Direction::ToLegacy),
                whole,
                "{input:?} split at {split}"
            );
        }
    }
}

#[test]
fn invalid_json_passes_rest_unchanged() {
    let input = br#"{"storeId":7654321,"a":[1 2],"storeId":7654321}"#;
    let result = stream(&[&input[..12], &input[12..]], Direction::ToLegacy);
    assert_eq!(
        result.output,
        br#"{"storeId":12345,"a":[1 2],"storeId":7654321}"#
    );
    assert_eq!(result.count, 1);
    assert_eq!(result.error.map(|error| error.offset), Some(26));
}

#[test]
fn held_value_released_on_error() {
    // The URL is held when the chunk ends inside it, and must come out unchanged.
    let input = b"{\"href\":\"/o?storeId=7654321\x01\"}";
    let result = stream(&[&input[..15], &input[15..]], Direction::ToLegacy);
    assert_eq!(result.output, input);
    assert!(result.error.is_some());
}

#[test]
fn value_longer_than_hold_passes_unchanged() {
    let padding = "a".repeat(MAX_HELD_VALUE);
    let document = format!(
        r#"{{"href":"/o?storeId=7654321&pad={padding}","storeId":"{padding}7654321","x":1}}"#
    );
    let input = document.as_bytes();
    let whole = expected(input, Direction::ToLegacy);
    assert_eq!(whole.output, input);
    assert_eq!(whole.skipped_long, 2);
    for size in [1000, 4096, 65536, 70000] {
        let chunks: Vec<&[u8]> = input.chunks(size).collect();
        assert_eq!(
            stream(&chunks, Direction::ToLegacy),
            whole,
            "chunks of {size}"
        );
    }
}

#[test]
fn number_at_chunk_end_waits_for_next_byte() {
    let mut output = Vec::new();
    let mut rewriter = JsonStream::new(map(), Direction::ToLegacy, ALL);
    rewriter.feed(b"{\"storeId\":765", &mut output);
    assert_eq!(output, b"{\"storeId\":");
    rewriter.feed(b"4321", &mut output);
    assert_eq!(output, b"{\"storeId\":", "the number may still go on");
    rewriter.feed(b"}", &mut output);
    assert_eq!(output, b"{\"storeId\":12345}");
    rewriter.finish(&mut output);
    assert_eq!(rewriter.error(), None);
}
