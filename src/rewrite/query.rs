//! Store ID parameters in URL query strings.

use crate::rewrite::edit::{apply_edits, Edit};
use crate::rewrite::ids::{is_store_id_name, parse_id_text};
use crate::stores::{Direction, StoreMap};

/// Rewrites a query string (without the leading `?`).
///
/// Every parameter named `storeId` or `store_id` (any case, compared after percent-decoding)
/// whose percent-decoded, trimmed value is a mapped ID gets the new ID's digits. All other
/// parameters, their order, separators and encoding are unchanged. Returns the new query and
/// the number of values replaced, or `None` when nothing changed.
pub fn rewrite_query(query: &str, map: &StoreMap, direction: Direction) -> Option<(String, usize)> {
    let mut edits = Vec::new();
    query_edits(query.as_bytes(), 0, map, direction, &mut edits);
    if edits.is_empty() {
        return None;
    }
    // Edits replace whole values between ASCII separators with ASCII digits, so the
    // result is always UTF-8.
    let rewritten = String::from_utf8(apply_edits(query.as_bytes(), &edits)).ok()?;
    Some((rewritten, edits.len()))
}

/// Pushes an edit for each store ID parameter in `query`, whose first byte is at `offset` of
/// the whole input.
pub(crate) fn query_edits(
    query: &[u8],
    offset: usize,
    map: &StoreMap,
    direction: Direction,
    edits: &mut Vec<Edit>,
) {
    let mut start = 0;
    for parameter in query.split(|&byte| byte == b'&') {
        let parameter_start = start;
        start += parameter.len() + 1;

        let Some(equals) = parameter.iter().position(|&byte| byte == b'=') else {
            continue;
        };
        let (name, value) = parameter.split_at(equals);
        let value = value.get(1..).unwrap_or_default();
        if !is_store_id_name(PercentDecoded::new(name)) {
            continue;
        }

        let new_id =
            parse_id_text(PercentDecoded::new(value)).and_then(|id| map.translate(direction, id));
        if let Some(new_id) = new_id {
            let value_start = offset + parameter_start + equals + 1;
            edits.push(Edit::id(
                value_start,
                value_start + value.len(),
                new_id,
                false,
            ));
        }
    }
}

/// Iterator over the bytes of a query component as a form decoder reads it: `%XX` becomes
/// one byte and `+` a space. A `%` without two hex digits stays as it is, as ASP.NET keeps it.
struct PercentDecoded<'a> {
    raw: &'a [u8],
    pos: usize,
}

impl<'a> PercentDecoded<'a> {
    fn new(raw: &'a [u8]) -> Self {
        Self { raw, pos: 0 }
    }
}

impl Iterator for PercentDecoded<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let byte = *self.raw.get(self.pos)?;
        self.pos += 1;
        match byte {
            b'+' => Some(b' '),
            b'%' => {
                let high = self.raw.get(self.pos).and_then(|&d| hex_value(d));
                let low = self.raw.get(self.pos + 1).and_then(|&d| hex_value(d));
                match (high, low) {
                    (Some(high), Some(low)) => {
                        self.pos += 2;
                        Some(high * 16 + low)
                    }
                    _ => Some(b'%'),
                }
            }
            other => Some(other),
        }
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> StoreMap {
        crate::stores::example_map()
    }

    fn to_connect(query: &str) -> Option<(String, usize)> {
        rewrite_query(query, &map(), Direction::ToConnect)
    }

    #[test]
    fn query_rewrites_store_id_only() {
        let query = "orderNumber=12345&storeId=12345&page=1&orderId=12345";
        let (rewritten, count) = to_connect(query).unwrap();
        assert_eq!(
            rewritten,
            "orderNumber=12345&storeId=7654321&page=1&orderId=12345"
        );
        assert_eq!(count, 1);
    }

    #[test]
    fn query_name_spellings_and_encoding() {
        let cases = [
            ("storeID=12345", "storeID=7654321"),
            ("STORE_ID=12345", "STORE_ID=7654321"),
            ("store%5Fid=12345", "store%5Fid=7654321"),
            ("%73toreId=12345", "%73toreId=7654321"),
            ("storeId=%2012345+", "storeId=7654321"),
            ("storeId=%2B012345", "storeId=7654321"),
            ("a=1&&storeId=12345&", "a=1&&storeId=7654321&"),
            (
                "storeId=12345&storeId=12345",
                "storeId=7654321&storeId=7654321",
            ),
        ];
        for (query, expected) in cases {
            let rewritten = to_connect(query).map(|(text, _)| text);
            assert_eq!(rewritten.as_deref(), Some(expected), "{query}");
        }
    }

    #[test]
    fn query_leaves_other_values() {
        for query in [
            "",
            "storeId",
            "storeId=",
            "storeId=123456",
            "storeId=-12345",
            "storeId=12345.0",
            "storeId=1%2",
            "storeIds=12345",
            "store=12345",
            "storeId=7654321",
        ] {
            assert_eq!(to_connect(query), None, "{query}");
        }
    }

    #[test]
    fn query_maps_back_to_legacy() {
        let rewritten = rewrite_query("storeId=7654321", &map(), Direction::ToLegacy);
        assert_eq!(rewritten, Some(("storeId=12345".to_owned(), 1)));
    }
}
