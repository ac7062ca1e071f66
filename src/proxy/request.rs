//! Inbound translation: turns a client's request into the one sent to ShipStation, with
//! legacy store IDs replaced in the path, the query and a JSON body.

use bytes::Bytes;
use http::request::Parts;
use http::HeaderMap;

use super::body::{self, Coding, DecodeError};
use super::headers;
use super::route::Route;
use crate::error::ProxyError;
use crate::rewrite::{self, JsonOptions};
use crate::stores::{Direction, StoreMap};

/// The parts of a request that translation can change.
pub struct Translated {
    pub path: String,
    pub query: Option<String>,
    pub body: Bytes,
    /// How many store IDs were replaced, by location.
    pub rewrites: RewriteCounts,
}

/// Store IDs replaced in one request, by location.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RewriteCounts {
    pub path: usize,
    pub query: usize,
    pub body: usize,
}

impl RewriteCounts {
    pub fn total(&self) -> usize {
        self.path + self.query + self.body
    }
}

/// Translates the path, query and body of a request. `raw_body` is the body as received,
/// still in its content coding.
pub fn translate(
    parts: &Parts,
    route: Route,
    raw_body: Bytes,
    map: &StoreMap,
    max_body: u64,
) -> Result<Translated, ProxyError> {
    let path = super::route::normalize_path(parts.uri.path()).into_owned();
    let query = parts.uri.query().map(str::to_owned);
    let mut translated = Translated {
        path,
        query,
        body: raw_body,
        rewrites: RewriteCounts::default(),
    };
    if !route.rewrites_request() || map.is_empty() {
        return Ok(translated);
    }

    if route == Route::StoreById {
        if let Some(path) = rewrite::rewrite_store_path(&translated.path, map, Direction::ToConnect)
        {
            translated.path = path;
            translated.rewrites.path += 1;
        }
    }
    if let Some(query) = &translated.query {
        if let Some((query, count)) = rewrite::rewrite_query(query, map, Direction::ToConnect) {
            translated.query = Some(query);
            translated.rewrites.query += count;
        }
    }
    if !translated.body.is_empty() {
        let (body, count) = translate_body(&parts.headers, &translated.body, map, max_body)?;
        if let Some(body) = body {
            translated.body = body;
        }
        translated.rewrites.body += count;
    }
    Ok(translated)
}

/// How a request body is read for store IDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BodyKind {
    Json,
    /// `application/x-www-form-urlencoded`, which ASP.NET also binds to action parameters.
    Form,
    Other,
}

/// Decides how to read a body. A body that looks like a JSON object or array is read as
/// JSON whatever its `Content-Type` states, because several V1 clients send JSON with no
/// type or a wrong one (plain `curl -d` sends a form type).
fn body_kind(headers: &HeaderMap, body: &[u8]) -> BodyKind {
    if headers::is_json(headers) {
        return BodyKind::Json;
    }
    if headers::is_form(headers) {
        return BodyKind::Form;
    }
    if matches!(
        body.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[')
    ) {
        return BodyKind::Json;
    }
    BodyKind::Other
}

/// Rewrites a request body, decoding and re-encoding its content coding. Returns the new
/// encoded body, or `None` when nothing changed.
fn translate_body(
    headers: &HeaderMap,
    raw: &Bytes,
    map: &StoreMap,
    max_body: u64,
) -> Result<(Option<Bytes>, usize), ProxyError> {
    let coding = body::content_coding(headers).map_err(ProxyError::UnsupportedEncoding)?;
    let decoded: std::borrow::Cow<'_, [u8]> = match coding {
        None => raw.as_ref().into(),
        Some(coding) => decode_request(coding, raw, max_body)?.into(),
    };

    let (rewritten, count) = match body_kind(headers, &decoded) {
        BodyKind::Json => rewrite_json_body(&decoded, map)?,
        BodyKind::Form => rewrite_form_body(headers, &decoded, map)?,
        BodyKind::Other => {
            // Nothing here can be rewritten by field name, so a body that may name a
            // legacy store is rejected rather than sent to the wrong store.
            if rewrite::might_carry_store_id(&decoded, map) {
                return Err(ProxyError::UnsupportedBody {
                    content_type: content_type_text(headers),
                });
            }
            (None, 0)
        }
    };
    let Some(rewritten) = rewritten else {
        return Ok((None, count));
    };
    let encoded = match coding {
        None => Bytes::from(rewritten),
        Some(coding) => Bytes::from(body::encode(coding, &rewritten).map_err(|source| {
            ProxyError::RequestEncoding {
                encoding: coding.name(),
                source,
            }
        })?),
    };
    Ok((Some(encoded), count))
}

fn rewrite_json_body(
    decoded: &[u8],
    map: &StoreMap,
) -> Result<(Option<Vec<u8>>, usize), ProxyError> {
    match rewrite::rewrite_json(decoded, map, Direction::ToConnect, JsonOptions::default()) {
        // A store ID too long for the rewriter to read could still name a legacy store once
        // ShipStation trims it (white space, leading zeros), so it is not forwarded.
        Ok(result) if result.skipped_long > 0 => Err(ProxyError::StoreIdTooLong {
            limit: rewrite::MAX_HELD_VALUE,
        }),
        Ok(result) => Ok((result.body, result.count)),
        Err(malformed) => {
            // ShipStation's parser accepts some lenient forms. Such a body goes through
            // unchanged when it cannot name a legacy store; otherwise it could reach the
            // wrong store, so it is rejected.
            if rewrite::might_carry_store_id(decoded, map) {
                return Err(ProxyError::Untranslatable(malformed));
            }
            tracing::debug!(%malformed, "request body is not strict JSON but names no legacy store");
            Ok((None, 0))
        }
    }
}

/// A form body has the syntax of a query string, so the query rewriter applies to it.
fn rewrite_form_body(
    headers: &HeaderMap,
    decoded: &[u8],
    map: &StoreMap,
) -> Result<(Option<Vec<u8>>, usize), ProxyError> {
    let Ok(text) = std::str::from_utf8(decoded) else {
        if rewrite::might_carry_store_id(decoded, map) {
            return Err(ProxyError::UnsupportedBody {
                content_type: content_type_text(headers),
            });
        }
        return Ok((None, 0));
    };
    Ok(
        match rewrite::rewrite_query(text, map, Direction::ToConnect) {
            Some((rewritten, count)) => (Some(rewritten.into_bytes()), count),
            None => (None, 0),
        },
    )
}

fn content_type_text(headers: &HeaderMap) -> String {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("none")
        .to_owned()
}

fn decode_request(coding: Coding, raw: &[u8], max_body: u64) -> Result<Vec<u8>, ProxyError> {
    body::decode(coding, raw, max_body).map_err(|error| match error {
        DecodeError::TooLarge => ProxyError::BodyTooLarge { limit: max_body },
        DecodeError::Invalid(source) => ProxyError::RequestEncoding {
            encoding: coding.name(),
            source,
        },
    })
}
