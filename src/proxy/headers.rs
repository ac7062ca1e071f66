//! Header handling shared by both directions: hop-by-hop removal and `Via`.

use http::header::{HeaderName, CONNECTION, TRANSFER_ENCODING, UPGRADE, VIA};
use http::{HeaderMap, HeaderValue};

/// Prefix of the pseudonym storebridge adds to `Via`. Each process adds a random suffix,
/// so it can tell its own requests coming back from those of another storebridge.
pub const VIA_PREFIX: &str = "storebridge";

/// A new pseudonym for this process, such as `storebridge-3f9a1c0e`.
pub fn new_via_token() -> String {
    format!("{VIA_PREFIX}-{:08x}", rand::random::<u32>())
}

/// Whether `token` is one of the hops in the request's `Via` headers.
pub fn via_contains(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get_all(VIA)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|hop| hop.split_whitespace().nth(1))
        .any(|pseudonym| pseudonym == token)
}

/// Headers that describe one connection and must not be forwarded (RFC 9110, section 7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
];

/// Removes hop-by-hop headers, including those the `Connection` header lists.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(TRANSFER_ENCODING);
    headers.remove(UPGRADE);
}

/// Appends this hop to `Via`, keeping earlier hops.
pub fn append_via(headers: &mut HeaderMap, version: http::Version, token: &str) {
    let protocol = match version {
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => "1.1",
    };
    let hop = format!("{protocol} {token}");
    let value = match headers.get(VIA).and_then(|v| v.to_str().ok()) {
        Some(existing) if !existing.is_empty() => format!("{existing}, {hop}"),
        _ => hop,
    };
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.insert(VIA, value);
    }
}

/// The media type of `Content-Type` without parameters, in lower case.
fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(http::header::CONTENT_TYPE)?.to_str().ok()?;
    Some(
        value
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
    )
}

/// Whether a `Content-Type` is `application/x-www-form-urlencoded`.
pub fn is_form(headers: &HeaderMap) -> bool {
    media_type(headers).is_some_and(|essence| essence == "application/x-www-form-urlencoded")
}

/// Whether a `Content-Type` is JSON (`application/json`, `text/json`, `application/*+json`).
pub fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence == "text/json" || essence.ends_with("+json")
}

/// Returns the `Content-Length` a message declares, when it is a valid number.
pub fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_listed_and_standard_hop_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONNECTION,
            HeaderValue::from_static("keep-alive, x-private"),
        );
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("authorization", HeaderValue::from_static("Basic abc"));
        headers.insert("x-partner", HeaderValue::from_static("partner"));
        remove_hop_by_hop(&mut headers);
        assert!(headers.get("x-private").is_none());
        assert!(headers.get("keep-alive").is_none());
        assert!(headers.get(CONNECTION).is_none());
        assert_eq!(headers.get("authorization").unwrap(), "Basic abc");
        assert_eq!(headers.get("x-partner").unwrap(), "partner");
    }

    #[test]
    fn via_appends_hop() {
        let mut headers = HeaderMap::new();
        headers.insert(VIA, HeaderValue::from_static("1.1 edge"));
        append_via(&mut headers, http::Version::HTTP_11, "storebridge-1");
        assert_eq!(headers.get(VIA).unwrap(), "1.1 edge, 1.1 storebridge-1");
        assert!(via_contains(&headers, "storebridge-1"));
        assert!(!via_contains(&headers, "storebridge-2"));
        assert!(!via_contains(&headers, "edge-1"));
    }
}
