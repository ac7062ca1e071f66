//! The webhook body ShipStation sends, and its rewriting for one subscriber.
//!
//! In `resource_url`, the connect store ID becomes the legacy ID for mirror subscriptions,
//! and ShipStation's API host becomes `api_public_url` when that is set, so the subscriber's
//! follow-up GET passes through storebridge. The rewrite is a pure function of the event,
//! so a replayed or retried event always carries the same URL.

use serde::{Deserialize, Serialize};

use crate::config::Mode;
use crate::rewrite::rewrite_query;
use crate::stores::{Direction, StoreMap};
use crate::upstream::UpstreamTarget;

/// ShipStation's V1 Webhook model documents a 200-character limit on `resource_url`, so
/// subscribers may rely on it.
pub const MAX_RESOURCE_URL: usize = 200;

/// A V1 webhook body. Fields other than the two documented ones are kept as they came.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct WebhookBody {
    pub resource_url: String,
    pub resource_type: String,
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl WebhookBody {
    /// Parses a body; `None` when it is not a JSON object with both string fields.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let body: Self = serde_json::from_slice(bytes).ok()?;
        let valid = !body.resource_url.is_empty() && !body.resource_type.is_empty();
        valid.then_some(body)
    }
}

/// The host replacement for `resource_url`.
#[derive(Clone, Debug)]
pub struct HostRewrite {
    /// The base URL that follow-up GETs should go to.
    pub api_public: UpstreamTarget,
    /// The configured upstream authority, also replaced (the sandbox in tests).
    pub upstream_authority: String,
}

/// Returns whether `host` is one of ShipStation's V1 API hosts: `ssapi.shipstation.com` or
/// a numbered one such as `ssapi4.shipstation.com`.
pub fn is_shipstation_api_host(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    let Some(name) = host.strip_suffix(".shipstation.com") else {
        return false;
    };
    name.strip_prefix("ssapi")
        .is_some_and(|rest| rest.bytes().all(|byte| byte.is_ascii_alphanumeric()))
}

/// Rewrites `resource_url` for a subscription of `mode`.
pub fn rewrite_resource_url(
    url: &str,
    mode: Mode,
    map: &StoreMap,
    hosts: Option<&HostRewrite>,
) -> String {
    let mut rewritten = url.to_owned();
    if mode == Mode::Mirror {
        if let Some((base, query)) = url.split_once('?') {
            if let Some((query, _)) = rewrite_query(query, map, Direction::ToLegacy) {
                rewritten = format!("{base}?{query}");
            }
        }
    }
    let Some(hosts) = hosts else {
        return rewritten;
    };
    let Some(moved) = replace_host(&rewritten, hosts) else {
        return rewritten;
    };
    if moved.len() > MAX_RESOURCE_URL {
        tracing::warn!(
            length = moved.len(),
            limit = MAX_RESOURCE_URL,
            "resource_url kept on ShipStation's host: api_public_url would make it too long"
        );
        return rewritten;
    }
    moved
}

/// Returns `url` on the `api_public_url` host, or `None` when its host is not ShipStation's.
fn replace_host(url: &str, hosts: &HostRewrite) -> Option<String> {
    let uri: http::Uri = url.parse().ok()?;
    let authority = uri.authority()?;
    let ours = is_shipstation_api_host(authority.host())
        || authority
            .as_str()
            .eq_ignore_ascii_case(&hosts.upstream_authority);
    if !ours {
        return None;
    }
    let path_and_query = uri.path_and_query().map_or("/", |value| value.as_str());
    let target = &hosts.api_public;
    Some(format!(
        "{}://{}{}{}",
        target.scheme, target.authority, target.base_path, path_and_query
    ))
}

/// Builds the body delivered to a subscriber.
pub fn rewrite_body(
    body: &WebhookBody,
    mode: Mode,
    map: &StoreMap,
    hosts: Option<&HostRewrite>,
) -> String {
    let rewritten = WebhookBody {
        resource_url: rewrite_resource_url(&body.resource_url, mode, map, hosts),
        resource_type: body.resource_type.clone(),
        other: body.other.clone(),
    };
    // Serialising strings and a map of JSON values cannot fail.
    serde_json::to_string(&rewritten).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> StoreMap {
        crate::stores::example_map()
    }

    fn hosts(base: &str) -> HostRewrite {
        HostRewrite {
            api_public: UpstreamTarget::parse(base).expect("target"),
            upstream_authority: "ssapi.shipstation.com".to_owned(),
        }
    }

    const URL: &str =
        "https://ssapi11.shipstation.com/shipments?storeID=7654321&batchId=1&includeShipmentItems=False";

    #[test]
    fn mirror_gets_legacy_id_and_public_host() {
        let hosts = hosts("https://storebridge.internal:8443");
        let url = rewrite_resource_url(URL, Mode::Mirror, &map(), Some(&hosts));
        assert_eq!(
            url,
            "https://storebridge.internal:8443/shipments?storeID=12345&batchId=1&includeShipmentItems=False"
        );
        let again = rewrite_resource_url(URL, Mode::Mirror, &map(), Some(&hosts));
        assert_eq!(url, again);
    }

    #[test]
    fn translate_keeps_connect_id() {
        let url = rewrite_resource_url(URL, Mode::Translate, &map(), None);
        assert_eq!(url, URL);
    }

    #[test]
    fn other_hosts_untouched() {
        let hosts = hosts("https://storebridge.internal:8443");
        let foreign = "https://evil.example/orders?storeID=7654321";
        let url = rewrite_resource_url(foreign, Mode::Translate, &map(), Some(&hosts));
        assert_eq!(url, foreign);
    }

    #[test]
    fn too_long_keeps_original_host() {
        let long_base = format!("https://{}.example", "a".repeat(150));
        let hosts = hosts(&long_base);
        let url = rewrite_resource_url(URL, Mode::Mirror, &map(), Some(&hosts));
        assert!(url.starts_with("https://ssapi11.shipstation.com/"), "{url}");
        assert!(url.contains("storeID=12345"), "{url}");
    }

    #[test]
    fn api_hosts_recognised() {
        assert!(is_shipstation_api_host("ssapi.shipstation.com"));
        assert!(is_shipstation_api_host("SSAPI4.shipstation.com"));
        assert!(!is_shipstation_api_host(
            "ssapi.shipstation.com.evil.example"
        ));
        assert!(!is_shipstation_api_host("api.shipstation.com"));
        assert!(!is_shipstation_api_host("ssapi-x.shipstation.com"));
    }

    #[test]
    fn body_must_have_both_fields() {
        assert!(
            WebhookBody::parse(br#"{"resource_url":"u","resource_type":"ORDER_NOTIFY"}"#).is_some()
        );
        assert!(WebhookBody::parse(br#"{"resource_url":"u"}"#).is_none());
        assert!(WebhookBody::parse(br#"{"resource_url":1,"resource_type":"x"}"#).is_none());
        assert!(WebhookBody::parse(b"[]").is_none());
        assert!(WebhookBody::parse(b"not json").is_none());
    }
}
