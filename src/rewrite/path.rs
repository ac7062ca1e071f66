//! The store ID in the `/stores/{id}` path.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

use crate::rewrite::ids::parse_digits;
use crate::stores::{Direction, StoreMap};

/// Rewrites a path ending in `/stores/{id}`, with an optional trailing slash.
///
/// Only the last two segments are looked at, so a base path in front is kept. `stores` is
/// compared case-insensitively and `{id}` must be ASCII digits, so `/stores/deactivate` and
/// `/stores/reactivate` never match. Returns the new path when the ID is mapped.
pub fn rewrite_store_path(path: &str, map: &StoreMap, direction: Direction) -> Option<String> {
    let (body, trailing) = match path.strip_suffix('/') {
        Some(body) => (body, "/"),
        None => (path, ""),
    };
    let (head, id_segment) = body.rsplit_once('/')?;
    let stores_segment = head.rsplit_once('/').map_or(head, |(_, last)| last);
    if !decode(stores_segment).eq_ignore_ascii_case("stores") {
        return None;
    }

    // ASP.NET decodes path segments before routing, so `%31%32345` names store 12345.
    let id = parse_digits(decode(id_segment).as_bytes())?;
    let new_id = map.translate(direction, id)?;
    Some(format!("{head}/{new_id}{trailing}"))
}

fn decode(segment: &str) -> Cow<'_, str> {
    percent_decode_str(segment).decode_utf8_lossy()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> StoreMap {
        crate::stores::example_map()
    }

    fn to_connect(path: &str) -> Option<String> {
        rewrite_store_path(path, &map(), Direction::ToConnect)
    }

    #[test]
    fn path_forms_rewritten() {
        let cases = [
            ("/stores/12345", "/stores/7654321"),
            ("/stores/12345/", "/stores/7654321/"),
            ("/Stores/12345", "/Stores/7654321"),
            ("/STORES/012345", "/STORES/7654321"),
            ("/api/v1/stores/12345", "/api/v1/stores/7654321"),
            ("/stores/%31%32345", "/stores/7654321"),
            ("/%73tores/12345", "/%73tores/7654321"),
            ("stores/12345", "stores/7654321"),
        ];
        for (path, expected) in cases {
            assert_eq!(to_connect(path).as_deref(), Some(expected), "{path}");
        }
    }

    #[test]
    fn path_others_untouched() {
        for path in [
            "/stores/deactivate",
            "/stores/reactivate",
            "/stores/getrefreshstatus",
            "/stores",
            "/stores/",
            "/stores/123456",
            "/stores/7654321",
            "/stores/+12345",
            "/stores/12345x",
            "/stores/12345/extra",
            "/orders/12345",
            "/mystores/12345",
            "/12345",
            "12345",
            "",
        ] {
            assert_eq!(to_connect(path), None, "{path}");
        }
    }

    #[test]
    fn path_maps_back_to_legacy() {
        let path = rewrite_store_path("/stores/7654321", &map(), Direction::ToLegacy);
        assert_eq!(path.as_deref(), Some("/stores/12345"));
    }
}
