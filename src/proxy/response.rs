//! Outbound translation for `mirror` listeners: connect store IDs in ShipStation's answers
//! become legacy IDs again. `translate` listeners and non-JSON or error answers are
//! streamed through untouched.

use bytes::Bytes;
use http::{HeaderValue, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::body::{self, ReadError, ResponseBody};
use super::headers;
use super::route::Route;
use crate::config::Mode;
use crate::error::ProxyError;
use crate::rewrite::{self, JsonOptions, JsonRewrite, MalformedJson};
use crate::stores::{Direction, StoreMap};

/// What the proxy needs to know to translate one answer.
pub struct ResponseContext<'a> {
    pub mode: Mode,
    pub route: Route,
    pub map: &'a StoreMap,
    pub max_body: u64,
    pub body_timeout: std::time::Duration,
    pub via_token: &'a str,
}

/// Prepares ShipStation's response for the client. Returns it with the number of store IDs
/// rewritten.
pub async fn translate(
    upstream: Response<Incoming>,
    context: &ResponseContext<'_>,
) -> Result<(Response<ResponseBody>, usize), ProxyError> {
    let (mut parts, body) = upstream.into_parts();
    headers::remove_hop_by_hop(&mut parts.headers);
    headers::append_via(&mut parts.headers, parts.version, context.via_token);

    let rewrite = context.mode == Mode::Mirror
        && parts.status.is_success()
        && headers::is_json(&parts.headers)
        && !context.map.is_empty();
    if !rewrite {
        // Streamed as it arrives; a stall longer than the request timeout ends it.
        let streamed = body::IdleTimeoutBody::new(body, context.body_timeout).boxed();
        return Ok((Response::from_parts(parts, streamed), 0));
    }

    let raw = match tokio::time::timeout(
        context.body_timeout,
        body::read_limited(body, context.max_body),
    )
    .await
    {
        Ok(Ok(raw)) => raw,
        Ok(Err(ReadError::TooLarge)) => {
            return Err(ProxyError::UpstreamBodyTooLarge {
                limit: context.max_body,
            })
        }
        Ok(Err(ReadError::Failed(error))) => return Err(ProxyError::UpstreamFailed(error)),
        Err(_) => {
            return Err(ProxyError::UpstreamTimeout {
                timeout: context.body_timeout,
            })
        }
    };

    // An encoding storebridge cannot decode is passed on as it came: the client asked for it.
    let coding = match body::content_coding(&parts.headers) {
        Ok(coding) => coding,
        Err(unknown) => {
            tracing::warn!(encoding = %unknown, "response left untranslated: unknown content encoding");
            return Ok((Response::from_parts(parts, body::full(raw)), 0));
        }
    };
    let decoded: std::borrow::Cow<'_, [u8]> = match coding {
        None => raw.as_ref().into(),
        Some(coding) => match body::decode(coding, &raw, context.max_body) {
            Ok(decoded) => decoded.into(),
            Err(body::DecodeError::TooLarge) => {
                return Err(ProxyError::UpstreamBodyTooLarge {
                    limit: context.max_body,
                })
            }
            Err(body::DecodeError::Invalid(source)) => {
                return Err(ProxyError::UpstreamEncoding {
                    encoding: coding.name(),
                    source,
                })
            }
        },
    };

    let result = match rewrite_for_route(&decoded, context) {
        Ok(result) => result,
        Err(malformed) => {
            tracing::warn!(%malformed, "response left untranslated: upstream sent invalid JSON");
            return Ok((Response::from_parts(parts, body::full(raw)), 0));
        }
    };
    let Some(rewritten) = result.body else {
        return Ok((Response::from_parts(parts, body::full(raw)), result.count));
    };

    let encoded = match coding {
        None => rewritten,
        Some(coding) => {
            body::encode(coding, &rewritten).map_err(|source| ProxyError::UpstreamEncoding {
                encoding: coding.name(),
                source,
            })?
        }
    };
    parts.headers.insert(
        http::header::CONTENT_LENGTH,
        HeaderValue::from(encoded.len()),
    );
    Ok((
        Response::from_parts(parts, body::full(Bytes::from(encoded))),
        result.count,
    ))
}

fn rewrite_for_route(
    decoded: &[u8],
    context: &ResponseContext<'_>,
) -> Result<JsonRewrite, MalformedJson> {
    match context.route {
        Route::StoreList => rewrite::merge_store_list(decoded, context.map),
        Route::RefreshStore => rewrite::rewrite_json(
            decoded,
            context.map,
            Direction::ToLegacy,
            JsonOptions {
                urls: true,
                refresh_message: true,
            },
        ),
        _ => rewrite::rewrite_json(
            decoded,
            context.map,
            Direction::ToLegacy,
            JsonOptions {
                urls: true,
                refresh_message: false,
            },
        ),
    }
}
