//! A conservative check for request bodies that are not strict JSON.

use memchr::{memchr2_iter, memmem};

use crate::stores::{Direction, StoreMap};

/// Returns true when `body` might carry a legacy store ID that cannot be rewritten safely.
///
/// That is: the bytes contain `storeid`, `store_id` (ASCII case ignored) or a `\u` escape,
/// and either the decimal digits of some legacy ID appear anywhere (even inside a longer
/// number), or the body writes numbers in a form that can hide those digits: a `\u`
/// escape, hexadecimal (`0x3039`) or an exponent (`1.2345e4`). The check errs towards true,
/// so the caller rejects the request instead of forwarding a legacy ID unchanged.
pub fn might_carry_store_id(body: &[u8], map: &StoreMap) -> bool {
    let has_escape = memmem::find(body, b"\\u").is_some();
    let names_a_store = has_escape || contains_store_id_name(body);
    if !names_a_store {
        return false;
    }
    if has_escape || has_hidden_number(body) {
        return true;
    }
    map.sources(Direction::ToConnect).any(|legacy| {
        let digits = legacy.to_string();
        memmem::find(body, digits.as_bytes()).is_some()
    })
}

/// Whether the body contains a hexadecimal number or a number with an exponent.
fn has_hidden_number(body: &[u8]) -> bool {
    body.windows(3).any(|window| {
        let hexadecimal =
            window[0] == b'0' && (window[1] | 0x20) == b'x' && window[2].is_ascii_hexdigit();
        let exponent = window[0].is_ascii_digit()
            && (window[1] | 0x20) == b'e'
            && (window[2].is_ascii_digit() || window[2] == b'+' || window[2] == b'-');
        hexadecimal || exponent
    })
}

fn contains_store_id_name(body: &[u8]) -> bool {
    memchr2_iter(b's', b'S', body).any(|start| {
        let candidate = |len: usize| body.get(start..start + len).unwrap_or_default();
        candidate(7).eq_ignore_ascii_case(b"storeid")
            || candidate(8).eq_ignore_ascii_case(b"store_id")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> StoreMap {
        crate::stores::example_map()
    }

    #[test]
    fn lenient_flags_hidden_numbers() {
        let flagged: [&[u8]; 4] = [
            b"{\"storeId\":\"1234\\u0035\",}",
            b"{\"storeId\":1.2345e4,}",
            b"{\"storeId\":0x3039,}",
            b"{storeId: 12345E0}",
        ];
        for body in flagged {
            assert!(
                might_carry_store_id(body, &map()),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(
            !might_carry_store_id(b"{storeId: 200001,}", &map()),
            "an unmapped store passes"
        );
    }

    #[test]
    fn lenient_flags_name_and_digits() {
        let flagged: [&[u8]; 6] = [
            b"{storeId: 12345,}",
            b"{'STORE_ID': '12345'}",
            b"storeid=12345",
            b"{\"store\\u0049d\": 12345",
            b"// comment\n{\"storeId\": 912345}",
            b"{\"x\": \"\\u0031\", \"y\": 12345}",
        ];
        for body in flagged {
            assert!(might_carry_store_id(body, &map()), "{body:?}");
        }
    }

    #[test]
    fn lenient_passes_other_bodies() {
        let passed: [&[u8]; 6] = [
            b"",
            b"{orderNumber: 12345,}",
            b"{storeId: 1234,}",
            b"{storeId: 7654321,}",
            b"store id 12345",
            b"{\"store\": 12345}",
        ];
        for body in passed {
            assert!(!might_carry_store_id(body, &map()), "{body:?}");
        }
    }
}
