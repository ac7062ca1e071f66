//! The response a route produces, and its encoding on the wire: JSON written by
//! serde_json, gzip when the client accepts it, and the rate-limit headers.

use bytes::Bytes;
use http::header::{HeaderValue, ALLOW, CONTENT_ENCODING, CONTENT_TYPE, VARY, WWW_AUTHENTICATE};
use http::{Response, StatusCode};
use http_body_util::Full;
use serde_json::Value;

use super::encoding::gzip;
use super::ratelimit::Decision;

const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// A route's result before encoding. `body: None` sends an empty body, as ShipStation does
/// for deletes.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Option<Value>,
    pub allow: Option<&'static str>,
    pub basic_challenge: bool,
}

impl Reply {
    pub fn json(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            allow: None,
            basic_challenge: false,
        }
    }

    pub fn ok(body: Value) -> Self {
        Self::json(StatusCode::OK, body)
    }

    pub fn empty(status: StatusCode) -> Self {
        Self {
            status,
            body: None,
            allow: None,
            basic_challenge: false,
        }
    }

    /// Encodes the reply. `rate` adds the `X-Rate-Limit-*` headers; `gzip_accepted`
    /// compresses a JSON body.
    pub fn into_response(
        self,
        rate: Option<&Decision>,
        gzip_accepted: bool,
    ) -> Response<Full<Bytes>> {
        let mut builder = Response::builder().status(self.status);
        if let Some(allow) = self.allow {
            builder = builder.header(ALLOW, allow);
        }
        if self.basic_challenge {
            builder = builder.header(WWW_AUTHENTICATE, r#"Basic realm="ShipStation""#);
        }
        if let Some(rate) = rate {
            builder = builder
                .header("X-Rate-Limit-Limit", rate.limit)
                .header("X-Rate-Limit-Remaining", rate.remaining)
                .header("X-Rate-Limit-Reset", rate.reset_seconds);
        }

        let payload = match &self.body {
            Some(value) => serde_json::to_vec(value).unwrap_or_default(),
            None => Vec::new(),
        };
        let payload = if self.body.is_some() {
            builder = builder
                .header(CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE))
                .header(VARY, "Accept-Encoding");
            if gzip_accepted {
                builder = builder.header(CONTENT_ENCODING, "gzip");
                gzip(&payload)
            } else {
                payload
            }
        } else {
            payload
        };

        builder
            .body(Full::new(Bytes::from(payload)))
            .unwrap_or_else(|_| fallback_response())
    }
}

/// Used only if a header value above were invalid, which the fixed inputs rule out.
fn fallback_response() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}
