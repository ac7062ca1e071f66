//! Which rewrite rules apply to a request, decided from its method and path alone.

use http::Method;

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
    /// `POST /stores/refreshstore`: its answer names the store in free text.
    RefreshStore,
    Other,
}

impl Route {
    /// Classifies a request. Segments are compared ignoring ASCII case because ShipStation's
    /// ASP.NET routing does.
    pub fn classify(method: &Method, path: &str) -> Route {
        let trimmed = path.trim_end_matches('/');
        let mut segments = trimmed.trim_start_matches('/').split('/');
        let first = segments.next().unwrap_or("");
        let second = segments.next();
        let extra = segments.next().is_some();
        if !first.eq_ignore_ascii_case("stores") || extra {
            return Route::Other;
        }
        match second {
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
            out.push_str(&segment.chars().take(40).collect::<String>());
        }
    }
    out
}

#[cfg(test)]
mod tests {
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
    fn template_hides_ids() {
        assert_eq!(template("/orders/98765"), "/orders/{id}");
        assert_eq!(
            template("/stores/getrefreshstatus"),
            "/stores/getrefreshstatus"
        );
    }
}
