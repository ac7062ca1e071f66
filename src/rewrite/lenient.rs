//! A conservative check for request bodies that are not strict JSON.

use memchr::{memchr2_iter, memmem};

use crate::stores::{Direction, StoreMap};

/// Returns true when `body` might carry a legacy store ID that cannot be rewritten safely.
///
/// That is: the bytes contain `storeid`, `store_id` (ASCII case ignored) or a `\u` escape,
/// and the decimal digits of some legacy ID appear anywhere, even inside a longer number.
/// The check errs towards true, so the caller rejects the request instead of forwarding
/// a legacy ID unchanged.
pub fn might_carry_store_id(body: &[u8], map: &StoreMap) -> bool {
    let names_a_store = memmem::find(body, b"\\u").is_some() || contains_store_id_name(body);
    if !names_a_store {
        return false;
    }
    map.sources(Direction::ToConnect).any(|legacy| {
        let digits = legacy.to_string();
        memmem::find(body, digits.as_bytes()).is_some()
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
    use crate::stores::{StoreId, StorePair};

    fn map() -> StoreMap {
        StoreMap::new(vec![StorePair {
            legacy: StoreId(12345),
            connect: StoreId(7654321),
        }])
        .unwrap()
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
