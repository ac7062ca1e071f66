//! Recognizing store ID parameter names and store ID text the way ShipStation reads them.
//!
//! ShipStation V1 runs on ASP.NET, which binds names case-insensitively and parses integer
//! text with `NumberStyles.Integer`: surrounding white space, an optional sign and leading
//! zeros are all accepted. The helpers here take already-decoded bytes from an iterator so
//! that JSON escapes and percent-encoding need no buffer.

/// Returns whether `name` equals `storeid` or `store_id`, ignoring ASCII case.
pub(crate) fn is_store_id_name(name: impl Iterator<Item = u8>) -> bool {
    let mut buffer = [0u8; 8];
    match collect_short(name, &mut buffer) {
        Some(decoded) => {
            decoded.eq_ignore_ascii_case(b"storeid") || decoded.eq_ignore_ascii_case(b"store_id")
        }
        None => false,
    }
}

/// Returns whether `name` equals `expected` (lowercase ASCII), ignoring ASCII case.
pub(crate) fn name_is(name: impl Iterator<Item = u8>, expected: &[u8]) -> bool {
    let mut buffer = [0u8; 16];
    match collect_short(name, &mut buffer) {
        Some(decoded) => decoded.eq_ignore_ascii_case(expected),
        None => false,
    }
}

/// Copies `bytes` into `buffer`, or returns `None` when they do not fit.
fn collect_short(bytes: impl Iterator<Item = u8>, buffer: &mut [u8]) -> Option<&[u8]> {
    let mut len = 0;
    for byte in bytes {
        let slot = buffer.get_mut(len)?;
        *slot = byte;
        len += 1;
    }
    buffer.get(..len)
}

/// The white space that .NET integer parsing trims: tab, line feed, vertical tab, form feed,
/// carriage return and space.
fn is_dotnet_space(byte: u8) -> bool {
    matches!(byte, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')
}

/// Parses integer text as ShipStation would bind it to a store ID.
///
/// Accepts surrounding white space, one leading `+` and leading zeros. Returns `None` for a
/// negative sign, an empty digit run, any other character, or a value above `u64::MAX`:
/// no such text can name a mapped store.
pub(crate) fn parse_id_text(text: impl Iterator<Item = u8>) -> Option<u64> {
    #[derive(PartialEq)]
    enum State {
        Leading,
        Signed,
        Digits,
        Trailing,
    }

    let mut state = State::Leading;
    let mut value: u64 = 0;
    for byte in text {
        match (&state, byte) {
            (State::Leading, b'+') => state = State::Signed,
            (State::Leading, space) if is_dotnet_space(space) => {}
            (State::Leading | State::Signed | State::Digits, b'0'..=b'9') => {
                value = value.checked_mul(10)?.checked_add(u64::from(byte - b'0'))?;
                state = State::Digits;
            }
            (State::Digits | State::Trailing, space) if is_dotnet_space(space) => {
                state = State::Trailing;
            }
            _ => return None,
        }
    }
    match state {
        State::Digits | State::Trailing => Some(value),
        State::Leading | State::Signed => None,
    }
}

/// Parses a run of ASCII digits with no sign or white space, as in a URL path segment.
pub(crate) fn parse_digits(text: &[u8]) -> Option<u64> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    parse_id_text(text.iter().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Option<u64> {
        parse_id_text(text.bytes())
    }

    #[test]
    fn names_match_any_ascii_case() {
        for name in [
            "storeId", "StoreID", "storeID", "store_id", "STORE_ID", "storeid",
        ] {
            assert!(is_store_id_name(name.bytes()), "{name}");
        }
        for name in ["store", "storeIds", "store-id", "store id", "xstoreid", ""] {
            assert!(!is_store_id_name(name.bytes()), "{name}");
        }
    }

    #[test]
    fn name_is_ignores_case() {
        assert!(name_is("Resource_URL".bytes(), b"resource_url"));
        assert!(!name_is("resource_urls".bytes(), b"resource_url"));
    }

    #[test]
    fn id_text_forms_accepted() {
        assert_eq!(parse("12345"), Some(12345));
        assert_eq!(parse(" 12345 "), Some(12345));
        assert_eq!(parse("\t012345\r\n"), Some(12345));
        assert_eq!(parse("+12345"), Some(12345));
        assert_eq!(parse("  +0012345"), Some(12345));
        assert_eq!(parse("18446744073709551615"), Some(u64::MAX));
    }

    #[test]
    fn id_text_forms_rejected() {
        for text in [
            "",
            " ",
            "+",
            "-12345",
            "12 345",
            "+ 12345",
            "12345.0",
            "1e4",
            "0x10",
            "12345a",
            "18446744073709551616",
        ] {
            assert_eq!(parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn digits_only_for_paths() {
        assert_eq!(parse_digits(b"012345"), Some(12345));
        assert_eq!(parse_digits(b"+12345"), None);
        assert_eq!(parse_digits(b" 1"), None);
        assert_eq!(parse_digits(b""), None);
    }
}
