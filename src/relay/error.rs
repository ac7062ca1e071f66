//! Errors of the relay's own endpoints (the ingress and the `/webhooks` interception), and
//! the one place that turns them into responses.
//!
//! As in [`crate::error`], the status is decided by who is at fault, the client sees a
//! sentence it can act on, and the detail is logged once, here.

use http::{HeaderValue, Response, StatusCode};

use super::ssrf::TargetError;
use crate::error::{json_error_response, ErrorChain, ProxyError};
use crate::proxy::body::{self, ResponseBody};
use crate::ratelimit::RateLimitHeaders;
use crate::storage::group_commit::CommitError;
use crate::storage::StorageError;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An error of a relay endpoint.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("no subscription has this ingress token")]
    UnknownToken,
    #[error("method not allowed")]
    MethodNotAllowed { allow: &'static str },
    #[error("webhook body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("reading the webhook body failed")]
    BodyUnreadable(#[source] BoxError),
    #[error("body is not a ShipStation webhook")]
    NotWebhook,
    #[error("invalid subscription request: {0}")]
    InvalidSubscription(String),
    #[error("subscription target rejected")]
    TargetRejected(#[source] TargetError),
    #[error("the embedded store failed")]
    Storage(#[from] StorageError),
    #[error("the webhook event was not stored")]
    EventNotStored(#[from] CommitError),
    #[error("ShipStation answered the subscription with an invalid body")]
    UpstreamInvalid,
    #[error(transparent)]
    Upstream(#[from] ProxyError),
}

impl RelayError {
    /// The HTTP status, decided by who is at fault.
    pub fn status(&self) -> StatusCode {
        match self {
            RelayError::UnknownToken => StatusCode::NOT_FOUND,
            RelayError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            RelayError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            RelayError::BodyUnreadable(_)
            | RelayError::NotWebhook
            | RelayError::InvalidSubscription(_)
            | RelayError::TargetRejected(_) => StatusCode::BAD_REQUEST,
            RelayError::Storage(_) | RelayError::EventNotStored(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            RelayError::UpstreamInvalid => StatusCode::BAD_GATEWAY,
            RelayError::Upstream(error) => error.status(),
        }
    }

    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            RelayError::UnknownToken => "not_found",
            RelayError::MethodNotAllowed { .. } => "method_not_allowed",
            RelayError::BodyTooLarge { .. } => "body_too_large",
            RelayError::BodyUnreadable(_) => "request_body_failed",
            RelayError::NotWebhook => "not_a_webhook",
            RelayError::InvalidSubscription(_) => "invalid_subscription",
            RelayError::TargetRejected(_) => "target_rejected",
            RelayError::Storage(_) | RelayError::EventNotStored(_) => "storage_unavailable",
            RelayError::UpstreamInvalid => "upstream_invalid",
            RelayError::Upstream(error) => error.code(),
        }
    }

    fn client_message(&self) -> String {
        match self {
            RelayError::UnknownToken => String::new(),
            RelayError::MethodNotAllowed { allow } => format!("Use {allow}."),
            RelayError::BodyTooLarge { limit } => {
                format!("The webhook body is larger than {limit} bytes.")
            }
            RelayError::BodyUnreadable(_) => "The body could not be read completely.".to_owned(),
            RelayError::NotWebhook => "The body is not a JSON object with string fields \
                 resource_url and resource_type."
                .to_owned(),
            RelayError::InvalidSubscription(reason) => reason.clone(),
            RelayError::TargetRejected(reason) => format!(
                "{reason}. storebridge delivers only to public addresses; choose a target_url \
                 that resolves to one."
            ),
            RelayError::Storage(_) | RelayError::EventNotStored(_) => {
                "storebridge could not store the request. Retry later.".to_owned()
            }
            RelayError::UpstreamInvalid => {
                "ShipStation's answer to the subscription could not \
                 be read, so storebridge removed its own record. List the webhooks before retrying."
                    .to_owned()
            }
            RelayError::Upstream(_) => String::new(),
        }
    }

    /// Turns the error into the response the client receives, logging the detail once.
    /// Errors of ShipStation calls carry `rate_limit` (the ingress has none).
    pub fn into_response(self, rate_limit: Option<&RateLimitHeaders>) -> Response<ResponseBody> {
        let status = self.status();
        match self {
            RelayError::Upstream(error) => {
                let headers = rate_limit
                    .copied()
                    .unwrap_or_else(RateLimitHeaders::fresh_window);
                return error.into_response(&headers);
            }
            RelayError::UnknownToken => {
                // No body: a prober learns nothing about which tokens exist.
                tracing::info!(code = self.code(), "webhook rejected");
                let mut response = Response::new(body::full(bytes::Bytes::new()));
                *response.status_mut() = status;
                return response;
            }
            _ => {}
        }
        if status.is_server_error() {
            tracing::error!(code = self.code(), error = %ErrorChain(&self), "relay request failed");
        } else {
            tracing::info!(code = self.code(), error = %ErrorChain(&self), "relay request rejected");
        }
        let mut response = json_error_response(status, self.code(), &self.client_message());
        if let RelayError::MethodNotAllowed { allow } = self {
            response
                .headers_mut()
                .insert(http::header::ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_fault() {
        let cases = [
            (RelayError::UnknownToken, 404),
            (RelayError::MethodNotAllowed { allow: "POST" }, 405),
            (RelayError::BodyTooLarge { limit: 65_536 }, 413),
            (RelayError::NotWebhook, 400),
            (RelayError::TargetRejected(TargetError::Scheme), 400),
            (RelayError::UpstreamInvalid, 502),
            (RelayError::EventNotStored(CommitError::Stopped), 503),
            (
                RelayError::Upstream(ProxyError::UpstreamTimeout {
                    timeout: std::time::Duration::from_secs(5),
                }),
                504,
            ),
        ];
        for (error, status) in cases {
            let code = error.code();
            let response = error.into_response(None);
            assert_eq!(response.status().as_u16(), status, "{code}");
        }
    }

    #[test]
    fn method_not_allowed_names_post() {
        let response = RelayError::MethodNotAllowed { allow: "POST" }.into_response(None);
        assert_eq!(response.headers().get(http::header::ALLOW).unwrap(), "POST");
    }
}
