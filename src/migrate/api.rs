//! The ShipStation client of the migration commands: credentials from the environment,
//! the `[upstream]` connection, and the same rate-limit budget the proxy keeps.

use std::fmt;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::Value;

use crate::config::Config;
use crate::error::ProxyError;
use crate::metrics::Metrics;
use crate::proxy::body;
use crate::ratelimit::{self, header_number, CredentialKey, RateLimiter};
use crate::upstream::{Upstream, UpstreamBuildError};

/// Environment variables that hold the API credentials; never command-line arguments,
/// which other users of the machine can read.
pub const KEY_VARIABLE: &str = "SHIPSTATION_API_KEY";
pub const SECRET_VARIABLE: &str = "SHIPSTATION_API_SECRET";

/// Largest response read from ShipStation: a 500-order page is about 1.5 MB.
const MAX_RESPONSE: u64 = 16 * 1024 * 1024;

/// Page size for listings: the V1 maximum, so an account is read in the fewest calls.
const PAGE_SIZE: u32 = 500;

/// The shortest wait for the rate-limit budget a migration call accepts. A migration is a
/// batch job: once the 40 calls of a minute are spent it waits for the next window rather
/// than failing half-way, whatever `rate_limit.max_wait` allows the proxy's clients. V1's
/// window is one minute; the extra seconds cover a reset reported in whole seconds.
const MIN_MIGRATION_WAIT: Duration = Duration::from_secs(65);

/// Attempts of one call that ShipStation rejects with 429, which happens when another
/// client spends the same key's budget. A 429 rejects a call without processing it (RFC
/// 6585), so sending it again is safe for every method.
const ATTEMPTS_ON_TOO_MANY: u32 = 3;

/// Errors of a ShipStation call.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(
        "{0} is not set; export the API key and secret as {KEY_VARIABLE} and {SECRET_VARIABLE}"
    )]
    MissingCredential(&'static str),
    #[error(transparent)]
    Upstream(#[from] UpstreamBuildError),
    #[error("ShipStation call {call} failed")]
    Call {
        call: String,
        #[source]
        source: ProxyError,
    },
    #[error("ShipStation call {call} waited for the rate limit longer than rate_limit.max_wait ({} s more)", retry_after.as_secs())]
    Throttled { call: String, retry_after: Duration },
    #[error("ShipStation answered {call} with status {status}: {body}")]
    Status {
        call: String,
        status: u16,
        body: String,
    },
    #[error("ShipStation answered {call} with a body that is not the expected JSON")]
    InvalidJson { call: String },
}

/// Basic credentials. `Debug` masks them.
pub struct Credentials(HeaderValue);

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials(****)")
    }
}

impl Credentials {
    /// Reads the key and secret from `SHIPSTATION_API_KEY` and `SHIPSTATION_API_SECRET`.
    pub fn from_environment() -> Result<Self, ApiError> {
        let read = |name: &'static str| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.is_empty())
                .ok_or(ApiError::MissingCredential(name))
        };
        let pair = format!("{}:{}", read(KEY_VARIABLE)?, read(SECRET_VARIABLE)?);
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
        let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
            .map_err(|_| ApiError::MissingCredential(KEY_VARIABLE))?;
        value.set_sensitive(true);
        Ok(Self(value))
    }
}

/// A ShipStation V1 client whose every call waits for its turn in the rate-limit budget.
pub struct Api {
    upstream: Upstream,
    credentials: Credentials,
    credential_key: Option<CredentialKey>,
    rate_limit: RateLimiter,
    metrics: Metrics,
}

impl Api {
    /// Builds the client from `[upstream]`, `[rate_limit]` and the credentials in the
    /// environment.
    pub fn new(config: &Config) -> Result<Self, ApiError> {
        let credentials = Credentials::from_environment()?;
        let mut headers = HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, credentials.0.clone());
        Ok(Self {
            upstream: Upstream::new(&config.upstream)?,
            credential_key: CredentialKey::from_headers(&headers),
            credentials,
            rate_limit: RateLimiter::new(migration_max_wait(config.rate_limit.max_wait)),
            metrics: Metrics::new(),
        })
    }

    /// Sends one call and returns the body of a 2xx response. A 429 from ShipStation is
    /// waited out and the call sent again, up to [`ATTEMPTS_ON_TOO_MANY`] times.
    pub async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Value>,
    ) -> Result<Bytes, ApiError> {
        let call = format!(
            "{method} {}",
            path_and_query.split('?').next().unwrap_or("")
        );
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path_and_query, None),
        };
        let uri = self
            .upstream
            .uri_for(path, query)
            .map_err(|source| ApiError::Call {
                call: call.clone(),
                source: ProxyError::BadUri(source),
            })?;
        let mut headers = HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, self.credentials.0.clone());
        let bytes = body
            .map(|value| Bytes::from(value.to_string()))
            .unwrap_or_default();
        if !bytes.is_empty() {
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }

        let key = self.credential_key.as_ref();
        let mut attempt = 1;
        loop {
            self.rate_limit
                .admit(key, &self.metrics)
                .await
                .map_err(|throttled| ApiError::Throttled {
                    call: call.clone(),
                    retry_after: throttled.retry_after,
                })?;
            let response = self
                .upstream
                .send(method.clone(), uri.clone(), headers.clone(), bytes.clone())
                .await
                .map_err(|source| ApiError::Call {
                    call: call.clone(),
                    source,
                })?;
            let status = response.status();
            self.rate_limit
                .observe(key, status, response.headers(), &self.metrics);
            let wait = wait_after_too_many(response.headers());
            let body = body::read_limited(response.into_body(), MAX_RESPONSE)
                .await
                .map_err(|_| ApiError::InvalidJson { call: call.clone() })?;

            if status == StatusCode::TOO_MANY_REQUESTS && attempt < ATTEMPTS_ON_TOO_MANY {
                tracing::warn!(
                    call = %call,
                    attempt,
                    wait_seconds = wait.as_secs(),
                    "ShipStation answered 429; waiting for the next window"
                );
                tokio::time::sleep(wait).await;
                attempt += 1;
                continue;
            }
            if !status.is_success() {
                let text = String::from_utf8_lossy(&body).chars().take(300).collect();
                return Err(ApiError::Status {
                    call,
                    status: status.as_u16(),
                    body: text,
                });
            }
            return Ok(body);
        }
    }

    /// Sends a call and parses its JSON response.
    pub async fn json(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Value>,
    ) -> Result<Value, ApiError> {
        let bytes = self.call(method.clone(), path_and_query, body).await?;
        serde_json::from_slice(&bytes).map_err(|_| ApiError::InvalidJson {
            call: format!(
                "{method} {}",
                path_and_query.split('?').next().unwrap_or("")
            ),
        })
    }

    /// Reads every page of a paginated V1 listing such as `/orders?storeId=1`, calling
    /// `on_page` after each page with the page number and the page count.
    pub async fn all_pages(
        &self,
        path_and_query: &str,
        collection: &str,
        mut on_page: impl FnMut(u64, u64),
    ) -> Result<Vec<Value>, ApiError> {
        let separator = if path_and_query.contains('?') {
            '&'
        } else {
            '?'
        };
        let mut items = Vec::new();
        let mut page = 1;
        loop {
            let url = format!("{path_and_query}{separator}page={page}&pageSize={PAGE_SIZE}");
            let document = self.json(Method::GET, &url, None).await?;
            let Some(found) = document[collection].as_array() else {
                return Err(ApiError::InvalidJson {
                    call: format!("GET {collection}"),
                });
            };
            items.extend(found.iter().cloned());
            // V1 may report `pages: 0` for a single page.
            let pages = document["pages"].as_u64().unwrap_or(0).max(1);
            on_page(page, pages);
            if page >= pages || found.is_empty() {
                return Ok(items);
            }
            page += 1;
        }
    }

    /// `GET /webhooks`: every webhook of the account.
    pub async fn hooks(&self) -> Result<Vec<Value>, ApiError> {
        let document = self.json(Method::GET, "/webhooks", None).await?;
        Ok(document["webhooks"].as_array().cloned().unwrap_or_default())
    }

    /// `POST /webhooks/subscribe`; returns the new webhook's ID.
    pub async fn subscribe(&self, body: Value) -> Result<u64, ApiError> {
        let document = self
            .json(Method::POST, "/webhooks/subscribe", Some(body))
            .await?;
        document["id"]
            .as_u64()
            .ok_or_else(|| ApiError::InvalidJson {
                call: "POST /webhooks/subscribe".to_owned(),
            })
    }
}

/// Returns the maximum wait for the budget a migration call accepts: `rate_limit.max_wait`,
/// but at least [`MIN_MIGRATION_WAIT`].
fn migration_max_wait(configured: Duration) -> Duration {
    configured.max(MIN_MIGRATION_WAIT)
}

/// Returns how long to wait after a 429: ShipStation's `X-Rate-Limit-Reset` (seconds until the
/// window resets), else `Retry-After` in seconds, else a whole window. Capped at
/// [`MIN_MIGRATION_WAIT`], so a bad header cannot stall a migration for long.
fn wait_after_too_many(headers: &HeaderMap) -> Duration {
    let seconds = header_number(headers, &ratelimit::RESET)
        .or_else(|| header_number(headers, &http::header::RETRY_AFTER))
        .unwrap_or(60);
    Duration::from_secs(seconds.max(1)).min(MIN_MIGRATION_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn migration_waits_a_whole_window() {
        assert_eq!(
            migration_max_wait(Duration::from_secs(30)),
            MIN_MIGRATION_WAIT
        );
        assert_eq!(
            migration_max_wait(Duration::from_secs(120)),
            Duration::from_secs(120)
        );
    }

    #[test]
    fn wait_after_429_prefers_reset() {
        let both = headers(&[("x-rate-limit-reset", "17"), ("retry-after", "5")]);
        assert_eq!(wait_after_too_many(&both), Duration::from_secs(17));
        let retry_only = headers(&[("retry-after", "5")]);
        assert_eq!(wait_after_too_many(&retry_only), Duration::from_secs(5));
    }

    #[test]
    fn wait_after_429_is_bounded() {
        assert_eq!(
            wait_after_too_many(&HeaderMap::new()),
            Duration::from_secs(60)
        );
        let huge = headers(&[("x-rate-limit-reset", "86400")]);
        assert_eq!(wait_after_too_many(&huge), MIN_MIGRATION_WAIT);
        let zero = headers(&[("x-rate-limit-reset", "0")]);
        assert_eq!(wait_after_too_many(&zero), Duration::from_secs(1));
        let garbage = headers(&[("x-rate-limit-reset", "soon")]);
        assert_eq!(wait_after_too_many(&garbage), Duration::from_secs(60));
    }
}
