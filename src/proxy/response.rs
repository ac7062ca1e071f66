//! Outbound translation for `mirror` listeners: connect store IDs in ShipStation's answers
//! become legacy IDs again. `translate` listeners and non-JSON or error answers are
//! streamed through untouched.
//!
//! A JSON response is rewritten while it streams ([`RewriteBody`]), except in two cases. The
//! `GET /stores` list is read whole because merging a legacy store with its connect partner
//! needs the whole list. A body that declares at most [`WHOLE_BODY_MAX`] bytes is read whole
//! because one piece is cheaper and keeps its `Content-Length`. Both are read up to
//! `limits.max_body`.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::body::{self, Coding, ReadError, ResponseBody};
use super::headers;
use super::rewrite_body::{RewriteBody, StreamError};
use super::route::Route;
use crate::config::Mode;
use crate::error::ProxyError;
use crate::metrics::Metrics;
use crate::rewrite::{self, JsonOptions, JsonRewrite, JsonStream, MalformedJson};
use crate::stores::{Direction, StoreMap};

/// What the proxy needs to know to translate one answer.
pub struct ResponseContext<'a> {
    pub mode: Mode,
    pub route: Route,
    pub map: &'a Arc<StoreMap>,
    pub max_body: u64,
    pub body_timeout: std::time::Duration,
    pub via: &'a headers::Via,
    pub metrics: &'a Arc<Metrics>,
}

/// How many store IDs the response rewrite replaced, as far as is known when the response
/// head is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseRewrites {
    /// Replaced before the response was returned; zero when nothing was rewritten.
    Counted(usize),
    /// Rewritten while the body streams: the body adds its count to the metrics at its end.
    Streamed,
}

impl Default for ResponseRewrites {
    fn default() -> Self {
        ResponseRewrites::Counted(0)
    }
}

/// Prepares ShipStation's response for the client. Returns it with the store IDs rewritten
/// in it so far.
pub async fn translate(
    upstream: Response<Incoming>,
    context: &ResponseContext<'_>,
) -> Result<(Response<ResponseBody>, ResponseRewrites), ProxyError> {
    let (mut parts, body) = upstream.into_parts();
    headers::remove_hop_by_hop(&mut parts.headers);
    headers::append_via(&mut parts.headers, parts.version, context.via);
    let untouched = ResponseRewrites::Counted(0);

    let rewrite = context.mode == Mode::Mirror
        && parts.status.is_success()
        && headers::is_json(&parts.headers)
        && !context.map.is_empty();
    // Streamed as it arrives; a stall longer than the request timeout ends it.
    let upstream_body = body::IdleTimeoutBody::new(body, context.body_timeout);
    if !rewrite {
        return Ok((
            Response::from_parts(parts, upstream_body.boxed()),
            untouched,
        ));
    }

    // An encoding storebridge cannot decode is passed on as it came: the client asked for it.
    let coding = match body::content_coding(&parts.headers) {
        Ok(coding) => coding,
        Err(unknown) => {
            tracing::warn!(encoding = %unknown, "response left untranslated: unknown content encoding");
            return Ok((
                Response::from_parts(parts, upstream_body.boxed()),
                untouched,
            ));
        }
    };
    let options = JsonOptions {
        urls: true,
        refresh_message: context.route == Route::RefreshStore,
    };
    if context.route == Route::StoreList {
        let merge = |decoded: &[u8]| rewrite::merge_store_list(decoded, context.map);
        return translate_whole(parts, upstream_body, coding, context, merge).await;
    }
    // A small body with a declared length, such as one order, is cheaper to rewrite in one
    // piece, and the client keeps a `Content-Length`.
    if headers::content_length(&parts.headers).is_some_and(|length| length <= WHOLE_BODY_MAX) {
        let one_piece = |decoded: &[u8]| {
            rewrite::rewrite_json(decoded, context.map, Direction::ToLegacy, options)
        };
        return translate_whole(parts, upstream_body, coding, context, one_piece).await;
    }

    let json = JsonStream::new(context.map.clone(), Direction::ToLegacy, options);
    let mut rewritten = RewriteBody::new(upstream_body, coding, json, context.metrics.clone());
    rewritten
        .prime()
        .await
        .map_err(|error| stream_error(error, context))?;

    // The length changes with the IDs: HTTP/1.1 sends the body chunked, HTTP/2 needs none.
    if !rewritten.passes_unchanged() {
        parts.headers.remove(http::header::CONTENT_LENGTH);
    }
    Ok((
        Response::from_parts(parts, rewritten.boxed()),
        ResponseRewrites::Streamed,
    ))
}

/// Maps a failure before the first rewritten byte to the error response it deserves.
fn stream_error(error: StreamError, context: &ResponseContext<'_>) -> ProxyError {
    match error {
        StreamError::Encoding { encoding, source } => {
            ProxyError::UpstreamEncoding { encoding, source }
        }
        StreamError::Upstream(source) if source.is::<body::BodyStalled>() => {
            ProxyError::UpstreamTimeout {
                timeout: context.body_timeout,
            }
        }
        StreamError::Upstream(source) => ProxyError::UpstreamFailed(source),
    }
}

/// Bodies up to this declared length are read whole and rewritten in one piece.
const WHOLE_BODY_MAX: u64 = 64 * 1024;

/// Reads a body whole, rewrites it with `rewrite`, and sends it with a new length. Used for
/// the `GET /stores` merge, which needs the whole list, and for small bodies.
async fn translate_whole(
    mut parts: http::response::Parts,
    body: body::IdleTimeoutBody<Incoming>,
    coding: Option<Coding>,
    context: &ResponseContext<'_>,
    rewrite: impl FnOnce(&[u8]) -> Result<JsonRewrite, MalformedJson>,
) -> Result<(Response<ResponseBody>, ResponseRewrites), ProxyError> {
    let read = body::read_limited(body, context.max_body);
    let raw = match tokio::time::timeout(context.body_timeout, read).await {
        Ok(Ok(raw)) => raw,
        Ok(Err(ReadError::TooLarge)) => {
            return Err(ProxyError::UpstreamBodyTooLarge {
                limit: context.max_body,
            })
        }
        Ok(Err(ReadError::Failed(error))) if !error.is::<body::BodyStalled>() => {
            return Err(ProxyError::UpstreamFailed(error))
        }
        Ok(Err(ReadError::Failed(_))) | Err(_) => {
            return Err(ProxyError::UpstreamTimeout {
                timeout: context.body_timeout,
            })
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

    // An empty body (a HEAD response, or a 200 without content) has nothing to translate.
    if decoded.is_empty() {
        return Ok((
            Response::from_parts(parts, body::full(raw)),
            ResponseRewrites::Counted(0),
        ));
    }
    let result = match rewrite(&decoded) {
        Ok(result) => result,
        Err(malformed) => {
            context.metrics.invalid_json_responses.inc();
            tracing::warn!(%malformed, "response left untranslated: upstream sent invalid JSON");
            return Ok((
                Response::from_parts(parts, body::full(raw)),
                ResponseRewrites::Counted(0),
            ));
        }
    };
    let count = ResponseRewrites::Counted(result.count);
    let Some(rewritten) = result.body else {
        return Ok((Response::from_parts(parts, body::full(raw)), count));
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
        count,
    ))
}
