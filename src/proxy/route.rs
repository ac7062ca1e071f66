//! Which rewrite rules apply to a request, decided from its method and path alone.

use std::borrow::Cow;

use http::Method;
use percent_encoding::percent_decode_str;

/// The routes that need special handling; every other path gets the general rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET /stores`: a mirror client sees the connect store under the legacy ID and not
    /// the legacy store's own inactive entry.
    StoreList,
    /// `/stores/{id}`: the ID in the path is rewritten with the body.
    StoreById,
    /// `POST /stores/deactivate` and `/stores/reactivate` act on the store the caller
    /// named, so nothing in them is rewritten.
    StoreActivation,
    /// `POST /stores/refreshstore`: its response names the store in free text.
    RefreshStore,
    Other,
}

impl Route {
    /// Classifies a request. Segments are compared ignoring ASCII case because ShipStation's
    /// ASP.NET routing does.
    pub fn classify(method: &Method, path: &str) -> Route {
        let trimmed = path.trim_end_matches('/');
        let mut segments = trimmed.trim_start_matches('/').split('/').map(decode);
        let first = segments.next().unwrap_or_default();
        let second = segments.next();
        let extra = segments.next().is_some();
        if !first.eq_ignore_ascii_case("stores") || extra {
            return Route::Other;
        }
        match second.as_deref() {
            None if method == Method::GET => Route::StoreList,
            Some(name)
                if name.eq_ignore_ascii_case("deactivate")
                    || name.eq_ignore_ascii_case("reactivate") =>
            {
                Route::StoreActivation
            }
            Some(name) if name.eq_ignore_ascii_case("refreshstore") => Route::RefreshStore,
            Some(id) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) => {
                Route::StoreById
            }
            _ => Route::Other,
        }
    }

    /// Whether anything in the request may be rewritten.
    pub fn rewrites_request(self) -> bool {
        self != Route::StoreActivation
    }
}

fn decode(segment: &str) -> Cow<'_, str> {
    percent_decode_str(segment).decode_utf8_lossy()
}

/// Removes `.` and `..` segments (RFC 3986, section 5.2.4), also when their dots are
/// percent-encoded, as ShipStation's web server does before routing. Without this,
/// `/./stores/12345` would reach store 12345 untranslated.
pub fn normalize_path(path: &str) -> Cow<'_, str> {
    let is_dot = |segment: &str| segment == "." || segment.eq_ignore_ascii_case("%2e");
    let is_dot_dot = |segment: &str| {
        [".." as &str, ".%2e", "%2e.", "%2e%2e"]
            .iter()
            .any(|form| segment.eq_ignore_ascii_case(form))
    };
    if !path
        .split('/')
        .any(|segment| is_dot(segment) || is_dot_dot(segment))
    {
        return Cow::Borrowed(path);
    }
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let mut output: Vec<&str> = Vec::with_capacity(segments.len());
    let last = segments.len().saturating_sub(1);
    for (index, segment) in segments.iter().enumerate() {
        if is_dot(segment) {
            if index == last {
                output.push("");
            }
        } else if is_dot_dot(segment) {
            output.pop();
            if index == last {
                output.push("");
            }
        } else {
            output.push(segment);
        }
    }
    Cow::Owned(format!("/{}", output.join("/")))
}

/// A path with numeric segments replaced by `{id}`, for logs. Query strings never appear
/// in it because they can contain customer names.
pub fn template(path: &str) -> String {
    let mut out = String::with_capacity(path.len().min(64));
    for (index, segment) in path.split('/').enumerate() {
        if index > 0 {
            out.push('/');
        }
        if index > 4 {
            out.push_str("...");
            break;
        }
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str("{id}");
        } else {
            out.extend(segment.chars().take(40));
        }
    }
    out
}

/// First path segments of the ShipStation V1 API, the only ones that get a route label of
/// their own in metrics; anything else is counted as `other`, so a scan of random paths
/// cannot create unbounded label values.
const KNOWN_ROOTS: [&str; 11] = [
    "accounts",
    "carriers",
    "customers",
    "fulfillments",
    "orders",
    "products",
    "shipments",
    "stores",
    "users",
    "warehouses",
    "webhooks",
];

/// The route label for metrics: the template of a known ShipStation path, or `other`.
pub fn metric_label(path: &str) -> String {
    let mut segments = path.trim_matches('/').split('/');
    let first = segments.next().unwrap_or("");
    let Some(root) = KNOWN_ROOTS
        .iter()
        .find(|root| root.eq_ignore_ascii_case(first))
    else {
        return "other".to_owned();
    };
    let mut label = String::with_capacity(48);
    label.push('/');
    label.push_str(root);
    for segment in segments.take(2) {
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            label.push_str("/{id}");
        } else if (1..=32).contains(&segment.len())
            && segment.bytes().all(|b| b.is_ascii_alphabetic())
        {
            label.push('/');
            label.extend(segment.chars().map(|c| c.to_ascii_lowercase()));
        } else {
            label.push_str("/other");
        }
    }
    label
}

#[cfg(test)]
mod tests {
    #[test]
    fn metric_labels_are_bounded() {
        assert_eq!(metric_label("/orders/12345"), "/orders/{id}");
        assert_eq!(metric_label("/Orders/CreateOrder"), "/orders/createorder");
        assert_eq!(metric_label("/orders/x%41y"), "/orders/other");
        assert_eq!(metric_label("/wp-admin/setup.php"), "other");
        assert_eq!(metric_label("/"), "other");
    }

    use super::*;

    #[test]
    fn classifies_store_routes() {
        assert_eq!(Route::classify(&Method::GET, "/stores"), Route::StoreList);
        assert_eq!(Route::classify(&Method::GET, "/Stores/"), Route::StoreList);
        assert_eq!(Route::classify(&Method::POST, "/stores"), Route::Other);
        assert_eq!(
            Route::classify(&Method::GET, "/stores/12345"),
            Route::StoreById
        );
        assert_eq!(
            Route::classify(&Method::PUT, "/stores/12345"),
            Route::StoreById
        );
        assert_eq!(
            Route::classify(&Method::POST, "/stores/deactivate"),
            Route::StoreActivation
        );
        assert_eq!(
            Route::classify(&Method::POST, "/STORES/Reactivate"),
            Route::StoreActivation
        );
        assert_eq!(
            Route::classify(&Method::POST, "/stores/refreshstore"),
            Route::RefreshStore
        );
        assert_eq!(
            Route::classify(&Method::GET, "/stores/getrefreshstatus"),
            Route::Other
        );
        assert_eq!(Route::classify(&Method::GET, "/orders"), Route::Other);
        assert_eq!(
            Route::classify(&Method::GET, "/stores/12345/extra"),
            Route::Other
        );
    }

    #[test]
    fn dot_segments_removed() {
        assert_eq!(normalize_path("/stores/12345"), "/stores/12345");
        assert_eq!(normalize_path("/./stores/12345"), "/stores/12345");
        assert_eq!(normalize_path("/orders/../stores/12345"), "/stores/12345");
        assert_eq!(normalize_path("/%2e/stores/%2E%2e/stores/1"), "/stores/1");
        assert_eq!(normalize_path("/stores/."), "/stores/");
        assert_eq!(normalize_path("/../../stores"), "/stores");
    }

    #[test]
    fn classify_decodes_segments() {
        assert_eq!(
            Route::classify(&Method::GET, "/stores/%31%32345"),
            Route::StoreById
        );
        assert_eq!(
            Route::classify(&Method::POST, "/stores/de%61ctivate"),
            Route::StoreActivation
        );
    }

    #[test]
    fn template_hides_ids() {
        assert_eq!(template("/orders/98765"), "/orders/{id}");
        assert_eq!(
            template("/stores/getrefreshstatus"),
            "/stores/getrefreshstatus"
        );
    }
}
