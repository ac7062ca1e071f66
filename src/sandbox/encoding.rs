//! Content coding: gzip for response bodies when the client accepts it, and decoding of
//! gzip request bodies.

use std::io::{Read, Write};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING};
use http::HeaderMap;

/// Upper bound on a request body, before and after decoding. The largest V1 request, a
/// 100-order `createorders`, stays well below it.
pub(crate) const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Failure to decode a request body.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// A `Content-Encoding` other than gzip or identity.
    Unsupported(String),
    /// The body is not valid gzip.
    Corrupt,
    /// The decoded body exceeds [`MAX_BODY_BYTES`].
    TooLarge,
}

/// Returns true when `Accept-Encoding` lists gzip (or `*`) with a non-zero quality.
pub(crate) fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|entry| {
            let mut parts = entry.split(';');
            let coding = parts.next().unwrap_or("").trim();
            if !coding.eq_ignore_ascii_case("gzip") && coding != "*" {
                return false;
            }
            let rejected = parts.any(|parameter| {
                let parameter = parameter.trim().replace(' ', "");
                parameter
                    .strip_prefix("q=")
                    .and_then(|quality| quality.parse::<f32>().ok())
                    .is_some_and(|quality| quality <= 0.0)
            });
            !rejected
        })
}

/// Compresses `data` with gzip.
pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(data);
    encoder.finish().unwrap_or_default()
}

/// Decodes a request body according to its `Content-Encoding`.
pub(crate) fn decode_request_body(headers: &HeaderMap, raw: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let codings: Vec<String> = headers
        .get_all(CONTENT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|coding| coding.trim().to_ascii_lowercase())
        .filter(|coding| !coding.is_empty() && coding != "identity")
        .collect();
    let mut body = raw.to_vec();
    // Codings are listed in the order they were applied, so undo them from the last.
    for coding in codings.iter().rev() {
        body = match coding.as_str() {
            "gzip" | "x-gzip" => gunzip(&body)?,
            other => return Err(DecodeError::Unsupported(other.to_owned())),
        };
    }
    Ok(body)
}

fn gunzip(data: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let limit = u64::try_from(MAX_BODY_BYTES).unwrap_or(u64::MAX) + 1;
    let mut decoded = Vec::new();
    GzDecoder::new(data)
        .take(limit)
        .read_to_end(&mut decoded)
        .map_err(|_| DecodeError::Corrupt)?;
    if decoded.len() > MAX_BODY_BYTES {
        return Err(DecodeError::TooLarge);
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(name: http::header::HeaderName, value: &'static str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(name, HeaderValue::from_static(value));
        map
    }

    #[test]
    fn accept_encoding_variants() {
        assert!(accepts_gzip(&headers(ACCEPT_ENCODING, "gzip, deflate, br")));
        assert!(accepts_gzip(&headers(
            ACCEPT_ENCODING,
            "br;q=1.0, GZIP;q=0.5"
        )));
        assert!(accepts_gzip(&headers(ACCEPT_ENCODING, "*")));
        assert!(!accepts_gzip(&headers(ACCEPT_ENCODING, "gzip;q=0")));
        assert!(!accepts_gzip(&headers(ACCEPT_ENCODING, "br")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn gzip_body_round_trips() {
        let encoded = gzip(b"{\"a\":1}");
        let decoded = decode_request_body(&headers(CONTENT_ENCODING, "gzip"), &encoded);
        assert_eq!(decoded, Ok(b"{\"a\":1}".to_vec()));
    }

    #[test]
    fn corrupt_and_unknown_codings_fail() {
        let corrupt = decode_request_body(&headers(CONTENT_ENCODING, "gzip"), b"not gzip");
        assert_eq!(corrupt, Err(DecodeError::Corrupt));
        let unknown = decode_request_body(&headers(CONTENT_ENCODING, "br"), b"x");
        assert_eq!(unknown, Err(DecodeError::Unsupported("br".into())));
    }
}
