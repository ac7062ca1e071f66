//! Errors the proxy answers itself, and the one place that turns them into responses.
//!
//! Who is at fault decides the status: the client (400, 413), the upstream (502, 504).
//! The client gets a JSON body `{"message": ..., "code": ...}` whose message says what to do;
//! the detail, with its cause chain, goes to the log once, here.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};

use crate::proxy::body::ResponseBody;
use crate::ratelimit::RateLimitHeaders;
use crate::rewrite::MalformedJson;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What went wrong while proxying one request.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("upstream {authority} is unreachable")]
    UpstreamUnreachable {
        authority: String,
        #[source]
        source: BoxError,
    },
    #[error("upstream did not answer within {seconds} s")]
    UpstreamTimeout { seconds: u64 },
    #[error("upstream connection failed")]
    UpstreamFailed(#[source] BoxError),
    #[error("upstream response body is larger than limits.max_body ({limit} bytes)")]
    UpstreamBodyTooLarge { limit: u64 },
    #[error("upstream response body has an invalid {encoding} encoding")]
    UpstreamEncoding {
        encoding: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("request body is larger than limits.max_body ({limit} bytes)")]
    BodyTooLarge { limit: u64 },
    #[error("reading the request body failed")]
    ClientBody(#[source] BoxError),
    #[error("request body has an invalid {encoding} encoding")]
    RequestEncoding {
        encoding: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("request body uses content encoding {0:?}, which storebridge cannot decode")]
    UnsupportedEncoding(String),
    #[error("request body is not strict JSON and may name a legacy store")]
    Untranslatable(#[source] MalformedJson),
    #[error("request URI is invalid")]
    BadUri(#[source] http::Error),
}

impl ProxyError {
    /// The HTTP status, decided by who is at fault.
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::UpstreamUnreachable { .. }
            | ProxyError::UpstreamFailed(_)
            | ProxyError::UpstreamBodyTooLarge { .. }
            | ProxyError::UpstreamEncoding { .. } => StatusCode::BAD_GATEWAY,
            ProxyError::UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::ClientBody(_)
            | ProxyError::RequestEncoding { .. }
            | ProxyError::Untranslatable(_)
            | ProxyError::BadUri(_) => StatusCode::BAD_REQUEST,
            ProxyError::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }

    /// A stable, machine-readable code for clients and dashboards.
    pub fn code(&self) -> &'static str {
        match self {
            ProxyError::UpstreamUnreachable { .. } => "upstream_unreachable",
            ProxyError::UpstreamTimeout { .. } => "upstream_timeout",
            ProxyError::UpstreamFailed(_) => "upstream_failed",
            ProxyError::UpstreamBodyTooLarge { .. } => "upstream_body_too_large",
            ProxyError::UpstreamEncoding { .. } => "upstream_bad_encoding",
            ProxyError::BodyTooLarge { .. } => "body_too_large",
            ProxyError::ClientBody(_) => "request_body_failed",
            ProxyError::RequestEncoding { .. } => "request_bad_encoding",
            ProxyError::UnsupportedEncoding(_) => "unsupported_encoding",
            ProxyError::Untranslatable(_) => "untranslatable_body",
            ProxyError::BadUri(_) => "bad_request_uri",
        }
    }

    /// The sentence the client sees: what went wrong and what to do next.
    fn client_message(&self) -> String {
        match self {
            ProxyError::UpstreamUnreachable { authority, .. } => format!(
                "storebridge could not connect to ShipStation at {authority}. Nothing was sent; retry later, \
                 and if this persists check the proxy's [upstream] settings and network."
            ),
            ProxyError::UpstreamTimeout { seconds } => format!(
                "ShipStation did not answer within {seconds} seconds. The request may or may not have taken \
                 effect; check before retrying a call that creates labels or orders."
            ),
            ProxyError::UpstreamFailed(_) => "The connection to ShipStation failed while the request was in \
                 flight. The request may or may not have taken effect; check before retrying."
                .to_owned(),
            ProxyError::UpstreamBodyTooLarge { limit } => format!(
                "ShipStation's response is larger than this proxy's limit of {limit} bytes, so its store IDs \
                 cannot be translated. Request a smaller page (pageSize) or raise limits.max_body."
            ),
            ProxyError::UpstreamEncoding { encoding, .. } => {
                format!("ShipStation's response could not be decoded ({encoding}). Retry the request.")
            }
            ProxyError::BodyTooLarge { limit } => format!(
                "The request body is larger than this proxy's limit of {limit} bytes. Send fewer records per \
                 call (createorders takes at most 100 orders)."
            ),
            ProxyError::ClientBody(_) => "The request body could not be read completely. Send it again.".to_owned(),
            ProxyError::RequestEncoding { encoding, .. } => {
                format!("The request body is not valid {encoding} data. Send it uncompressed or fix the encoding.")
            }
            ProxyError::UnsupportedEncoding(encoding) => format!(
                "The request body uses Content-Encoding {encoding:?}. Send it uncompressed, or as gzip, \
                 deflate or br."
            ),
            ProxyError::Untranslatable(cause) => format!(
                "The request body is not strict JSON ({cause}) and may name a legacy store, so storebridge \
                 cannot translate it safely and did not forward it. Send strict JSON: double-quoted keys and \
                 strings, no comments, no trailing commas."
            ),
            ProxyError::BadUri(_) => "The request URI could not be forwarded. Check the path and query.".to_owned(),
        }
    }

    /// Turns the error into the response the client receives, logging the detail once.
    pub fn into_response(self, rate_limit: &RateLimitHeaders) -> Response<ResponseBody> {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(code = self.code(), error = %ErrorChain(&self), "request failed upstream");
        } else {
            tracing::info!(code = self.code(), error = %ErrorChain(&self), "request rejected");
        }
        let mut response = json_error_response(status, self.code(), &self.client_message());
        rate_limit.apply(response.headers_mut());
        response
    }
}

/// Builds the JSON error body storebridge uses for every error it answers itself:
/// `{"message": ..., "code": ...}`.
pub fn json_error_response(
    status: StatusCode,
    code: &str,
    message: &str,
) -> Response<ResponseBody> {
    let body = serde_json::json!({ "message": message, "code": code });
    let bytes = Bytes::from(body.to_string());
    let mut response = Response::new(Full::new(bytes).map_err(|never| match never {}).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// Displays an error followed by its causes, `outer: inner: root`.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}
