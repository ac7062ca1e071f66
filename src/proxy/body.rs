//! Body plumbing: reading a body up to the size limit, and the content codings storebridge
//! decodes to rewrite a body and encodes again afterwards (gzip, deflate, br).

use std::io::{Read, Write};

use bytes::{Buf, Bytes};
use http::HeaderMap;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type of every response the proxy sends.
pub type ResponseBody = BoxBody<Bytes, BoxError>;

/// Wraps bytes as a [`ResponseBody`].
pub fn full(bytes: impl Into<Bytes>) -> ResponseBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A streamed body that fails when no frame arrives for `idle` (or `idle` after the last
/// one), so an upstream that stalls mid-body cannot hold a client connection forever.
pub struct IdleTimeoutBody<B> {
    inner: B,
    idle: std::time::Duration,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl<B> IdleTimeoutBody<B> {
    pub fn new(inner: B, idle: std::time::Duration) -> Self {
        Self {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }
}

/// The error a stalled body ends with.
#[derive(Debug, thiserror::Error)]
#[error("upstream body stalled: no data for {}", humantime::format_duration(*.0))]
pub struct BodyStalled(pub std::time::Duration);

impl<B> hyper::body::Body for IdleTimeoutBody<B>
where
    B: hyper::body::Body + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        use std::future::Future;
        use std::task::Poll;

        let this = &mut *self;
        match std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let next = tokio::time::Instant::now() + this.idle;
                this.deadline.as_mut().reset(next);
                Poll::Ready(frame.map(|result| result.map_err(Into::into)))
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyStalled(this.idle))))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Why a body could not be read whole.
#[derive(Debug)]
pub enum ReadError {
    TooLarge,
    Failed(BoxError),
}

/// Reads a whole body, failing once it passes `limit` bytes.
pub async fn read_limited<B>(body: B, limit: u64) -> Result<Bytes, ReadError>
where
    B: hyper::body::Body,
    B::Error: Into<BoxError>,
{
    // Most calls are GETs without a body: skip the collector and its allocations.
    if body.is_end_stream() {
        return Ok(Bytes::new());
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) => {
            if error.is::<http_body_util::LengthLimitError>() {
                Err(ReadError::TooLarge)
            } else {
                Err(ReadError::Failed(error))
            }
        }
    }
}

/// Maximum bytes of an oversize request body read and dropped before the 413 goes back.
/// Many clients send the whole body before they read the response. Closing the connection
/// on them mid-upload loses the 413 (they see a reset or a broken pipe), so up to this much
/// is drained first. A longer body still gets the 413, then a closed connection.
pub const DISCARD_LIMIT: u64 = 4 * 1024 * 1024;

/// Reads and drops the rest of `body`, up to `limit` bytes and until `deadline`. Returns
/// whether the body ended within both.
pub async fn discard<B>(mut body: B, limit: u64, deadline: tokio::time::Instant) -> bool
where
    B: hyper::body::Body + Unpin,
{
    let mut remaining = limit;
    loop {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                let length = frame.data_ref().map_or(0, |data| data.remaining()) as u64;
                match remaining.checked_sub(length) {
                    Some(left) => remaining = left,
                    None => return false,
                }
            }
            Ok(None) => return true,
            Ok(Some(Err(_))) | Err(_) => return false,
        }
    }
}

/// A content coding storebridge can decode and encode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    Deflate,
    Brotli,
}

impl Coding {
    pub fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
            Coding::Brotli => "br",
        }
    }
}

/// The coding named by `Content-Encoding`: `Ok(None)` for none or identity, `Err` with the
/// header text for a coding (or a stack of codings) storebridge does not handle.
pub fn content_coding(headers: &HeaderMap) -> Result<Option<Coding>, String> {
    let Some(value) = headers.get(http::header::CONTENT_ENCODING) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| "<non-ASCII>".to_owned())?.trim();
    match text.to_ascii_lowercase().as_str() {
        "" | "identity" => Ok(None),
        "gzip" | "x-gzip" => Ok(Some(Coding::Gzip)),
        "deflate" => Ok(Some(Coding::Deflate)),
        "br" => Ok(Some(Coding::Brotli)),
        _ => Err(text.to_owned()),
    }
}

/// Decodes `data`, refusing to produce more than `limit` bytes so that a small compressed
/// body cannot expand without bound.
pub fn decode(coding: Coding, data: &[u8], limit: u64) -> Result<Vec<u8>, DecodeError> {
    let mut output = Vec::with_capacity(data.len().saturating_mul(4).min(1 << 24));
    let read_limit = limit.saturating_add(1);
    let result = match coding {
        Coding::Gzip => flate2::read::MultiGzDecoder::new(data)
            .take(read_limit)
            .read_to_end(&mut output),
        Coding::Deflate => decode_deflate(data, read_limit, &mut output),
        Coding::Brotli => brotli::Decompressor::new(data, 64 * 1024)
            .take(read_limit)
            .read_to_end(&mut output),
    };
    result.map_err(DecodeError::Invalid)?;
    if output.len() as u64 > limit {
        return Err(DecodeError::TooLarge);
    }
    Ok(output)
}

/// HTTP `deflate` means zlib-wrapped data, but some servers send raw deflate; accept both.
fn decode_deflate(data: &[u8], read_limit: u64, output: &mut Vec<u8>) -> std::io::Result<usize> {
    let zlib = flate2::read::ZlibDecoder::new(data)
        .take(read_limit)
        .read_to_end(output);
    if zlib.is_ok() {
        return zlib;
    }
    output.clear();
    flate2::read::DeflateDecoder::new(data)
        .take(read_limit)
        .read_to_end(output)
}

#[derive(Debug)]
pub enum DecodeError {
    Invalid(std::io::Error),
    TooLarge,
}

/// Encodes `data` with `coding`. The level favours speed: the result crosses one network
/// hop, and re-encoding must not dominate the cost of a rewrite.
pub fn encode(coding: Coding, data: &[u8]) -> std::io::Result<Vec<u8>> {
    match coding {
        Coding::Gzip => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(data)?;
            encoder.finish()
        }
        Coding::Deflate => {
            let mut encoder =
                flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(data)?;
            encoder.finish()
        }
        Coding::Brotli => {
            let mut output = Vec::new();
            {
                let mut encoder = brotli::CompressorWriter::new(&mut output, 64 * 1024, 1, 22);
                encoder.write_all(data)?;
            }
            Ok(output)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codings_round_trip() {
        let data = br#"{"orders":[{"advancedOptions":{"storeId":12345}}]}"#.repeat(50);
        for coding in [Coding::Gzip, Coding::Deflate, Coding::Brotli] {
            let encoded = encode(coding, &data).expect("encode");
            assert_ne!(encoded, data, "{coding:?} changed nothing");
            let decoded = decode(coding, &encoded, 1 << 20).expect("decode");
            assert_eq!(decoded, data, "{coding:?} round trip");
        }
    }

    #[test]
    fn decode_stops_at_limit() {
        let data = vec![b'a'; 10_000];
        let encoded = encode(Coding::Gzip, &data).expect("encode");
        assert!(matches!(
            decode(Coding::Gzip, &encoded, 9_999),
            Err(DecodeError::TooLarge)
        ));
        assert!(decode(Coding::Gzip, &encoded, 10_000).is_ok());
    }

    #[test]
    fn decode_rejects_garbage() {
        assert!(matches!(
            decode(Coding::Gzip, b"not gzip", 100),
            Err(DecodeError::Invalid(_))
        ));
    }
}
