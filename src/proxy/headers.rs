//! Header handling shared by both directions: hop-by-hop removal and `Via`.

use http::header::{
    HeaderName, CONNECTION, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE, TRAILER,
    TRANSFER_ENCODING, UPGRADE, VIA,
};
use http::{HeaderMap, HeaderValue};

/// Prefix of the pseudonym storebridge adds to `Via`. Each process adds a random suffix,
/// so it can tell its own requests coming back from those of another storebridge.
pub const VIA_PREFIX: &str = "storebridge";

/// This process's hop in `Via`: its pseudonym, such as `storebridge-3f9a1c0e`, and the
/// header values that name it. The values are made once because every request and every
/// response carries one.
pub struct Via {
    token: String,
    /// `1.0 TOKEN`, `1.1 TOKEN`, `2 TOKEN` and `3 TOKEN`.
    hops: [HeaderValue; 4],
}

impl Via {
    /// Creates a hop with a new random pseudonym.
    pub fn new() -> Self {
        Self::with_token(format!("{VIA_PREFIX}-{:08x}", rand::random::<u32>()))
    }

    /// A hop named `token`, which must be a valid header value: [`Via::new`] makes one, and
    /// tests choose their own.
    fn with_token(token: String) -> Self {
        let hop = |protocol: &str| {
            HeaderValue::from_str(&format!("{protocol} {token}"))
                .unwrap_or_else(|_| HeaderValue::from_static(VIA_PREFIX))
        };
        let hops = [hop("1.0"), hop("1.1"), hop("2"), hop("3")];
        Self { token, hops }
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    fn hop(&self, version: http::Version) -> &HeaderValue {
        let index = match version {
            http::Version::HTTP_10 => 0,
            http::Version::HTTP_2 => 2,
            http::Version::HTTP_3 => 3,
            _ => 1,
        };
        &self.hops[index]
    }
}

impl Default for Via {
    fn default() -> Self {
        Self::new()
    }
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
/// Kept as parsed names: removing by `&str` would parse each name again for every message.
static HOP_BY_HOP: [HeaderName; 9] = [
    CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION,
    TE,
    TRAILER,
    TRANSFER_ENCODING,
    UPGRADE,
];

/// Removes hop-by-hop headers, including those the `Connection` header lists.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the names present finds what to remove. Most requests carry none of
    // them, and removing the whole list by name would hash every name each time.
    let mut removed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| HOP_BY_HOP.contains(name))
        .cloned()
        .collect();
    if removed.is_empty() {
        return;
    }
    if removed.contains(&CONNECTION) {
        let listed = headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok());
        removed.extend(listed);
    }
    for name in removed {
        headers.remove(name);
    }
}

/// Appends this hop to `Via`, keeping earlier hops.
pub fn append_via(headers: &mut HeaderMap, version: http::Version, via: &Via) {
    let hop = via.hop(version);
    let joined = match headers.get(VIA).and_then(|v| v.to_str().ok()) {
        Some(existing) if !existing.is_empty() => {
            let hop = hop.to_str().unwrap_or(VIA_PREFIX);
            HeaderValue::from_str(&format!("{existing}, {hop}")).ok()
        }
        _ => None,
    };
    headers.insert(VIA, joined.unwrap_or_else(|| hop.clone()));
}

/// Returns whether the client sent `Expect: 100-continue` and waits to be asked for its body.
pub fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::EXPECT)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Returns the media type of `Content-Type` without parameters, such as `application/json`.
fn media_type(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next().unwrap_or("").trim())
}

/// Whether a `Content-Type` is `application/x-www-form-urlencoded`.
pub fn is_form(headers: &HeaderMap) -> bool {
    media_type(headers)
        .is_some_and(|essence| essence.eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

/// Whether a `Content-Type` is JSON (`application/json`, `text/json`, `application/*+json`),
/// in any letter case.
pub fn is_json(headers: &HeaderMap) -> bool {
    let Some(essence) = media_type(headers) else {
        return false;
    };
    let suffix = essence
        .len()
        .checked_sub(5)
        .and_then(|at| essence.get(at..));
    essence.eq_ignore_ascii_case("application/json")
        || essence.eq_ignore_ascii_case("text/json")
        || suffix.is_some_and(|suffix| suffix.eq_ignore_ascii_case("+json"))
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
    fn removes_hop_headers_without_connection() {
        let mut headers = HeaderMap::new();
        headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        headers.insert("proxy-connection", HeaderValue::from_static("keep-alive"));
        headers.insert(TE, HeaderValue::from_static("trailers"));
        headers.insert("x-partner", HeaderValue::from_static("partner"));
        remove_hop_by_hop(&mut headers);
        assert!(headers.get(TRANSFER_ENCODING).is_none());
        assert!(headers.get("proxy-connection").is_none());
        assert!(headers.get(TE).is_none());
        assert_eq!(headers.len(), 1);
        assert_eq!(headers.get("x-partner").unwrap(), "partner");
    }

    #[test]
    fn media_types_match_in_any_case() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(value));
            headers
        };
        assert!(is_json(&with("application/json")));
        assert!(is_json(&with("Application/JSON; charset=utf-8")));
        assert!(is_json(&with("text/json")));
        assert!(is_json(&with("application/problem+JSON")));
        assert!(!is_json(&with("application/jsonp")));
        assert!(!is_json(&with("json")));
        assert!(!is_json(&HeaderMap::new()));
        assert!(is_form(&with(
            "Application/X-WWW-Form-Urlencoded; charset=utf-8"
        )));
        assert!(!is_form(&with("multipart/form-data")));
    }

    #[test]
    fn via_appends_hop() {
        let mut headers = HeaderMap::new();
        headers.insert(VIA, HeaderValue::from_static("1.1 edge"));
        let via = Via::with_token("storebridge-1".to_owned());
        append_via(&mut headers, http::Version::HTTP_11, &via);
        assert_eq!(headers.get(VIA).unwrap(), "1.1 edge, 1.1 storebridge-1");
        let mut fresh = HeaderMap::new();
        append_via(&mut fresh, http::Version::HTTP_10, &via);
        assert_eq!(fresh.get(VIA).unwrap(), "1.0 storebridge-1");
        assert!(via_contains(&headers, "storebridge-1"));
        assert!(!via_contains(&headers, "storebridge-2"));
        assert!(!via_contains(&headers, "edge-1"));
    }
}
