//! Errors the proxy responds with itself, and the one place that turns them into responses.
//!
//! Who is at fault decides the status: the client (400, 413), the upstream (502, 504).
//! The client gets a JSON body `{"message": ..., "code": ...}` whose message states what to do;
//! the detail, with its cause chain, goes to the log once, here.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};

use crate::proxy::body::ResponseBody;
use crate::ratelimit::RateLimitHeaders;
use crate::rewrite::MalformedJson;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An error while proxying one request.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("upstream {authority} is unreachable")]
    UpstreamUnreachable {
        authority: String,
        #[source]
        source: BoxError,
    },
    #[error("upstream did not answer within {}", humantime::format_duration(*.timeout))]
    UpstreamTimeout { timeout: std::time::Duration },
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
    #[error("request body of type {content_type} may name a legacy store")]
    UnsupportedBody { content_type: String },
    #[error("request body has a store ID value longer than {limit} bytes")]
    StoreIdTooLong { limit: usize },
    #[error("request body was not received within {}", humantime::format_duration(*.timeout))]
    ClientBodyTimeout { timeout: std::time::Duration },
    #[error("request URI is invalid")]
    BadUri(#[source] http::Error),
    #[error("the shared rate-limit budget is spent for {} s more", retry_after.as_secs())]
    Throttled {
        retry_after: std::time::Duration,
        headers: RateLimitHeaders,
    },
    #[error("request already passed through this storebridge")]
    Loop,
    #[error("order {order_number} was already shipped from the legacy store")]
    AlreadyShipped {
        order_number: String,
        ship_date: Option<String>,
        tracking_number: Option<String>,
    },
    #[error("the double-ship guard cannot read its store")]
    GuardUnavailable(#[source] BoxError),
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
            | ProxyError::UnsupportedBody { .. }
            | ProxyError::StoreIdTooLong { .. }
            | ProxyError::BadUri(_) => StatusCode::BAD_REQUEST,
            ProxyError::ClientBodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ProxyError::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProxyError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            ProxyError::Loop => StatusCode::LOOP_DETECTED,
            ProxyError::AlreadyShipped { .. } => StatusCode::CONFLICT,
            ProxyError::GuardUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
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
            ProxyError::Untranslatable(_)
            | ProxyError::UnsupportedBody { .. }
            | ProxyError::StoreIdTooLong { .. } => "untranslatable_body",
            ProxyError::ClientBodyTimeout { .. } => "request_body_timeout",
            ProxyError::BadUri(_) => "bad_request_uri",
            ProxyError::Throttled { .. } => "rate_limited",
            ProxyError::Loop => "loop_detected",
            ProxyError::AlreadyShipped { .. } => "already_shipped",
            ProxyError::GuardUnavailable(_) => "guard_unavailable",
        }
    }

    /// The sentence the client sees: what went wrong and what to do next.
    fn client_message(&self) -> String {
        match self {
            ProxyError::UpstreamUnreachable { authority, .. } => format!(
                "storebridge could not connect to ShipStation at {authority}. Nothing was sent; retry later, \
                 and if this persists check the proxy's [upstream] settings and network."
            ),
            ProxyError::UpstreamTimeout { timeout } => format!(
                "ShipStation did not answer within {}. The request may or may not have taken effect; check \
                 before retrying a call that creates labels or orders.",
                humantime::format_duration(*timeout)
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
                 strings, no comments, no trailing commas, decimal numbers, at most 512 levels of nesting."
            ),
            ProxyError::UnsupportedBody { content_type } => format!(
                "The request body has Content-Type {content_type:?} and may name a legacy store. storebridge \
                 translates store IDs only in JSON and form bodies, so it did not forward it. Send the body as \
                 application/json."
            ),
            ProxyError::StoreIdTooLong { limit } => format!(
                "The request body has a store ID value longer than {limit} bytes. storebridge does not \
                 translate values that long, so it did not forward the request. Send the store ID as a plain \
                 number or numeric string."
            ),
            ProxyError::ClientBodyTimeout { timeout } => format!(
                "The request body did not arrive within {}. Nothing was forwarded; send the request again.",
                humantime::format_duration(*timeout)
            ),
            ProxyError::BadUri(_) => "The request URI could not be forwarded. Check the path and query.".to_owned(),
            ProxyError::Throttled { retry_after, .. } => format!(
                "The ShipStation rate limit for this API key is used up by the clients sharing this proxy, and \
                 the wait would exceed the proxy's rate_limit.max_wait. Retry after {} seconds.",
                retry_after.as_secs_f64().ceil() as u64
            ),
            ProxyError::AlreadyShipped {
                order_number,
                ship_date,
                tracking_number,
            } => format!(
                "Order {order_number} was already shipped from the legacy Miva store (ship date {}, tracking \
                 number {}), so storebridge refused to ship it again. If it must ship again, repeat the \
                 request with the header X-Storebridge-Allow-Reship: true.",
                ship_date.as_deref().unwrap_or("unknown"),
                tracking_number.as_deref().unwrap_or("unknown")
            ),
            ProxyError::GuardUnavailable(_) => "The double-ship guard could not read its store, so the \
                 shipment was not sent. Retry, or send the header X-Storebridge-Allow-Reship: true to ship \
                 without the check."
                .to_owned(),
            ProxyError::Loop => "This request already passed through this storebridge and came back to it, so \
                 forwarding it would loop. The proxy resolves the ShipStation host to itself: pin the real address \
                 with [upstream] resolve = [\"ssapi.shipstation.com:443=ADDRESS\"]."
                .to_owned(),
        }
    }

    /// Turns the error into the response the client receives, logging the detail once.
    pub fn into_response(self, rate_limit: &RateLimitHeaders) -> Response<ResponseBody> {
        let status = self.status();
        let (rate_limit, retry_after) = match &self {
            ProxyError::Throttled {
                retry_after,
                headers,
            } => (headers, Some(retry_after.as_secs_f64().ceil() as u64)),
            _ => (rate_limit, None),
        };
        self.log();
        let mut response = json_error_response(status, self.code(), &self.client_message());
        let headers = response.headers_mut();
        rate_limit.apply(headers);
        if let Some(seconds) = retry_after {
            headers.insert(http::header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        response
    }
}

impl ProxyError {
    /// Logs the error once, at the level of the written policy: error when the request or
    /// its response may be lost, warn when nothing reached ShipStation and the client can
    /// simply retry, debug for requests rejected because of what the client sent.
    fn log(&self) {
        let code = self.code();
        match self {
            ProxyError::Loop => {
                tracing::error!(code, "request looped back into this proxy; pin the upstream address with [upstream] resolve")
            }
            ProxyError::UpstreamTimeout { .. }
            | ProxyError::UpstreamFailed(_)
            | ProxyError::UpstreamBodyTooLarge { .. }
            | ProxyError::UpstreamEncoding { .. } => {
                tracing::error!(code, error = %ErrorChain(self), "request failed after it was sent upstream")
            }
            ProxyError::UpstreamUnreachable { .. } => {
                tracing::warn!(code, error = %ErrorChain(self), "upstream unreachable; nothing was sent")
            }
            _ => tracing::debug!(code, error = %ErrorChain(self), "request rejected"),
        }
    }
}

/// Builds the JSON error body storebridge uses for every error it responds with itself:
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
