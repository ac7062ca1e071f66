//! A connection's activity: when bytes last moved, how many requests are in flight, and
//! whether the client asked to close. The idle timeout and the parking of idle HTTP/1
//! connections (`http1.rs`) both decide from it. Also the I/O wrapper that feeds it.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{HeaderValue, CONNECTION, CONTENT_LENGTH};
use hyper::{Request, Response, Version};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// When bytes last moved on a connection, and how many requests are in flight on it.
pub(super) struct Activity {
    start: Instant,
    last_millis: AtomicU64,
    in_flight: AtomicUsize,
    /// Requests started on the connection so far.
    requests: AtomicU64,
    close_requested: AtomicBool,
}

impl Activity {
    pub(super) fn new() -> Self {
        Self {
            start: Instant::now(),
            last_millis: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            close_requested: AtomicBool::new(false),
        }
    }

    fn touch(&self) {
        let millis = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_millis.store(millis, Ordering::Relaxed);
    }

    /// Resolves once the connection has been idle, with no request in flight, for `limit`.
    pub(super) async fn idle_elapsed(&self, limit: Duration) {
        self.idle_when(limit, || true).await;
    }

    /// Resolves as [`Activity::idle_elapsed`] does, once a request has also started after
    /// `requests_before` were counted.
    pub(super) async fn idle_after_request(&self, limit: Duration, requests_before: u64) {
        self.idle_when(limit, || self.requests() > requests_before)
            .await;
    }

    async fn idle_when(&self, limit: Duration, also: impl Fn() -> bool) {
        // At least 1 ms between checks, so that a zero `limit` cannot spin.
        let recheck = limit.max(Duration::from_millis(1));
        loop {
            let last = self.start + Duration::from_millis(self.last_millis.load(Ordering::Relaxed));
            let deadline = last + limit;
            let now = Instant::now();
            if now >= deadline && self.in_flight.load(Ordering::Relaxed) == 0 && also() {
                return;
            }
            let next_check = if now >= deadline {
                now + recheck
            } else {
                deadline
            };
            tokio::time::sleep_until(next_check).await;
        }
    }

    pub(super) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Records a request that ends the connection after its response (`Connection: close`,
    /// or HTTP/1.0 without keep-alive), so that the connection is not kept open for a next
    /// request that will not come.
    pub(super) fn note_request<B>(&self, request: &Request<B>) {
        if asks_to_close(request) {
            self.note_close();
        }
    }

    fn note_close(&self) {
        self.close_requested.store(true, Ordering::Relaxed);
    }

    pub(super) fn close_requested(&self) -> bool {
        self.close_requested.load(Ordering::Relaxed)
    }
}

/// HTTP/1.0 closes unless the client asks to keep the connection; HTTP/1.1 keeps it unless
/// the client says `close`.
fn asks_to_close<B>(request: &Request<B>) -> bool {
    let has_token = |token: &str| {
        request
            .headers()
            .get_all(CONNECTION)
            .iter()
            .filter_map(|value: &HeaderValue| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|item| item.trim().eq_ignore_ascii_case(token))
    };
    match request.version() {
        Version::HTTP_10 => !has_token("keep-alive"),
        Version::HTTP_11 => has_token("close"),
        _ => false,
    }
}

/// Tells whether a response's body length is known before it is sent (`Content-Length`,
/// or a body that reports its exact size), so that it can be framed without closing.
pub(super) fn has_known_length<B: Body>(response: &Response<B>) -> bool {
    response.headers().contains_key(CONTENT_LENGTH) || response.body().size_hint().exact().is_some()
}

/// Counts one request in flight until dropped.
pub(super) struct InFlight(Arc<Activity>);

impl InFlight {
    pub(super) fn enter(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        activity.requests.fetch_add(1, Ordering::Relaxed);
        Self(activity)
    }

    /// Marks the connection to be closed after this exchange.
    pub(super) fn note_close(&self) {
        self.0.note_close();
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request counted in flight until the body ends or is
    /// dropped.
    pub(super) struct InFlightBody<B> {
        #[pin]
        inner: B,
        in_flight: Option<InFlight>,
    }
}

impl<B> InFlightBody<B> {
    pub(super) fn new(inner: B, in_flight: InFlight) -> Self {
        Self {
            inner,
            in_flight: Some(in_flight),
        }
    }
}

impl<B: Body> Body for InFlightBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            *this.in_flight = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// A connection's I/O stream. It records when bytes last moved, and gives back first any
/// bytes read ahead and kept: the bytes hyper had read but not parsed when the connection
/// was parked, or the first bytes read while waiting.
pub(super) struct Tracked<I> {
    inner: I,
    activity: Arc<Activity>,
    unread: Bytes,
}

impl<I> Tracked<I> {
    pub(super) fn new(inner: I, activity: Arc<Activity>) -> Self {
        activity.touch();
        Self {
            inner,
            activity,
            unread: Bytes::new(),
        }
    }

    /// Puts `bytes`, read from the stream earlier, back in front of what is still to be
    /// read.
    pub(super) fn put_back(&mut self, bytes: Bytes) {
        self.unread = join(bytes, std::mem::take(&mut self.unread));
    }

    /// Keeps `bytes`, just read from the stream, to be read again after any kept before.
    pub(super) fn keep_read(&mut self, bytes: Bytes) {
        self.unread = join(std::mem::take(&mut self.unread), bytes);
    }

    pub(super) fn has_unread(&self) -> bool {
        !self.unread.is_empty()
    }

    pub(super) fn unread_bytes(&self) -> &[u8] {
        &self.unread
    }
}

fn join(first: Bytes, second: Bytes) -> Bytes {
    match (first.is_empty(), second.is_empty()) {
        (true, _) => second,
        (_, true) => first,
        _ => [first, second].concat().into(),
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Tracked<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.unread.is_empty() {
            // Counted as activity when they were first read.
            let count = self.unread.len().min(buf.remaining());
            buf.put_slice(&self.unread[..count]);
            self.unread.advance(count);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() != before {
            self.activity.touch();
        }
        result
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Tracked<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(result, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.touch();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(version: Version, connection: Option<&str>) -> Request<()> {
        let mut builder = Request::builder().version(version);
        if let Some(value) = connection {
            builder = builder.header(CONNECTION, value);
        }
        builder.body(()).expect("valid request")
    }

    #[test]
    fn close_follows_version_and_connection_header() {
        assert!(!asks_to_close(&request(Version::HTTP_11, None)));
        assert!(asks_to_close(&request(Version::HTTP_11, Some("Close"))));
        assert!(asks_to_close(&request(Version::HTTP_11, Some("te, close"))));
        assert!(asks_to_close(&request(Version::HTTP_10, None)));
        assert!(!asks_to_close(&request(
            Version::HTTP_10,
            Some("Keep-Alive")
        )));
        assert!(!asks_to_close(&request(Version::HTTP_2, None)));
    }

    #[tokio::test]
    async fn unread_bytes_come_first() {
        use tokio::io::AsyncReadExt;
        let inner: &[u8] = b" HTTP/1.1";
        let mut io = Tracked::new(inner, Arc::new(Activity::new()));
        io.keep_read(Bytes::from_static(b" /ord"));
        io.keep_read(Bytes::from_static(b"ers"));
        io.put_back(Bytes::from_static(b"GET"));
        assert!(io.has_unread());
        let mut all = Vec::new();
        io.read_to_end(&mut all).await.expect("reads");
        assert_eq!(all, b"GET /orders HTTP/1.1");
        assert!(!io.has_unread());
    }
}
