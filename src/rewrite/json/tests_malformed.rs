use super::*;
use crate::stores::{StoreId, StorePair};

fn check(input: &[u8]) -> Result<JsonRewrite, MalformedJson> {
    let map = StoreMap::new(vec![StorePair {
        legacy: StoreId(12345),
        connect: StoreId(7654321),
    }])
    .unwrap();
    rewrite_json(input, &map, Direction::ToConnect, JsonOptions::default())
}

#[test]
fn malformed_inputs_rejected_with_offset() {
    let cases: &[(&[u8], usize)] = &[
        (b"", 0),
        (b"   ", 3),
        (b"{\"storeId\":12345,}", 17),
        (b"[12345,]", 7),
        (b"[,1]", 1),
        (b"{'storeId':12345}", 1),
        (b"{\"storeId\":'12345'}", 11),
        (b"// note\n{}", 0),
        (b"{/* note */}", 1),
        (b"{storeId:12345}", 1),
        (b"{\"storeId\":NaN}", 11),
        (b"{\"storeId\":Infinity}", 11),
        (b"[-Infinity]", 2),
        (b"[nul]", 1),
        (b"[True]", 1),
        (b"{\"a\":\"\\x41\"}", 6),
        (b"{\"a\":\"\\u12\"}", 6),
        (b"{\"a\":\"\xc3\"}", 6),
        (b"{\"a\":\"\xed\xa0\x80\"}", 6),
        (b"{\"a\":\"tab\there\"}", 9),
        (b"{\"storeId\":012345}", 11),
        (b"[00]", 1),
        (b"[+1]", 1),
        (b"[.5]", 1),
        (b"[1.]", 3),
        (b"[1e]", 3),
        (b"[0x10]", 2),
        (b"{} {}", 3),
        (b"{}x", 2),
        (b"[1 2]", 3),
        (b"{\"a\" 1}", 5),
        (b"{\"a\":1 \"b\":2}", 7),
        (b"{\"a\":1", 6),
        (b"[1", 2),
        (b"\"abc", 4),
        (b"\xef\xbb\xbf{}", 0),
        (b"{\"a\":1}\x00", 7),
        (b"[\"\\", 3),
        (b"{,}", 1),
        (b"{\"a\":1,,\"b\":2}", 7),
        (b"[1]]", 3),
        (b"{\"a\":1}}", 7),
    ];
    for &(input, offset) in cases {
        let error = check(input).expect_err(&String::from_utf8_lossy(input));
        assert_eq!(
            error.offset,
            offset,
            "{}: {error}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn every_prefix_of_valid_document_fails() {
    let document =
        br#"{"a":[1,2.5e-3,"x\u00e9y"],"storeId":"12345","b":{"c":null,"d":true,"e":false}}"#;
    assert!(check(document).is_ok());
    for len in 0..document.len() {
        let prefix = document.get(..len).unwrap();
        assert!(check(prefix).is_err(), "prefix {len} accepted");
    }
}

#[test]
fn white_space_only_json_kinds() {
    assert!(check(b" \t\r\n{ \t\r\n} \t\r\n").is_ok());
    assert!(check(b"\x0c{}").is_err());
    assert!(check(b"{}\x0b").is_err());
    assert!(check("\u{a0}{}".as_bytes()).is_err());
}
