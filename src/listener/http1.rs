//! HTTP/1 connections that give their buffers back while idle.
//!
//! hyper's HTTP/1 server keeps a read buffer (8 to 16 KiB) and an 8 KiB header buffer for
//! the whole life of a connection, with no setting to release them between requests. With
//! thousands of idle keep-alive clients, that is most of the process's memory. So a
//! connection with no request in flight and no bytes moving for `park_after` is taken back
//! from hyper (`graceful_shutdown`, then `poll_without_shutdown` and `into_parts`, all public
//! hyper API) and waits for the client's next bytes holding only its TLS state. The first
//! bytes that arrive start a new hyper connection on the same stream, behind any bytes hyper
//! had read but not parsed. Parking never adds `Connection: close` to a response: it waits
//! until no request is in flight, and a request counts until its response body has ended.
//!
//! Written here because no well-kept crate parks hyper 1 connections. Known limit: HTTP/2
//! connections are not parked, because hyper's HTTP/2 server cannot hand the stream back.
//! They are few, since each carries many requests.

use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::HttpService;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use super::activity::{Activity, Tracked};
use super::{BoxError, ConnectionLimits, ConnectionStats, Counted, Io};

/// hyper's service for a parkable connection: `Unpin`, with an `Unpin` future, because
/// hyper hands a connection back only for such services.
pub(super) trait Http1Service<B>:
    HttpService<Incoming, ResBody = B, Future: Unpin, Error: Into<BoxError>> + Unpin
{
}

impl<S, B> Http1Service<B> for S where
    S: HttpService<Incoming, ResBody = B, Future: Unpin, Error: Into<BoxError>> + Unpin
{
}

/// A response body hyper can send.
pub(super) trait ResponseBody: Body<Error: Into<BoxError>> + 'static {}

impl<B: Body<Error: Into<BoxError>> + 'static> ResponseBody for B {}

/// How long closing a connection may wait for the TLS `close_notify` to be written.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// The reason a wait for the client's next bytes ended.
pub(super) enum Wake {
    /// Bytes arrived; they are put back in the stream for hyper to read.
    Data,
    /// The client closed the connection or it failed.
    Closed,
    /// Nothing arrived within the limit, or the server is stopping.
    GiveUp,
}

/// Waits for the client's next bytes without holding any HTTP buffer.
pub(super) async fn wait_for_bytes<I: Io>(
    io: &mut Tracked<I>,
    activity: &Activity,
    limit: Duration,
    stop: &mut watch::Receiver<bool>,
) -> Wake {
    // Two bytes: enough to tell HTTP/2's "PRI" preface from an HTTP/1 method, and the rest
    // is left for hyper to read.
    let mut first = [0u8; 2];
    let count = tokio::select! {
        read = io.read(&mut first) => match read {
            Ok(0) | Err(_) => return Wake::Closed,
            Ok(count) => count,
        },
        () = activity.idle_elapsed(limit) => return Wake::GiveUp,
        _ = stop.wait_for(|stopped| *stopped) => return Wake::GiveUp,
    };
    io.keep_read(Bytes::copy_from_slice(&first[..count]));
    Wake::Data
}

/// Ends a connection politely: TLS `close_notify`, then the TCP write side.
pub(super) async fn close<I: Io>(mut io: Tracked<I>) {
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, io.shutdown()).await;
}

/// The end of a run of hyper on the connection.
enum Ended<I, S> {
    /// Idle: hyper gave the stream back, with any bytes it read but did not parse put back.
    Parked {
        io: Tracked<I>,
        service: S,
    },
    /// Done for good: the client closed or asked to close, or the server is stopping.
    Finished(Tracked<I>),
    Failed,
}

/// One HTTP/1 connection and what it needs to be served and parked.
pub(super) struct Http1<'a> {
    pub(super) activity: &'a Activity,
    pub(super) limits: &'a ConnectionLimits,
    pub(super) stats: &'a ConnectionStats,
    pub(super) peer: SocketAddr,
}

impl<'a> Http1<'a> {
    /// Serves HTTP/1 on `io` until the client leaves, the connection idles out or the server
    /// stops, parking it between requests. An `async move` block rather than an `async fn`,
    /// which would keep `io` and `service` twice in every parked connection's task.
    #[allow(clippy::manual_async_fn)] // The doc says why.
    pub(super) fn serve<I, S, B>(
        self,
        mut io: Tracked<I>,
        mut service: S,
        stop: &'a mut watch::Receiver<bool>,
    ) -> impl Future<Output = ()> + 'a
    where
        I: Io,
        S: Http1Service<B> + 'a,
        B: ResponseBody,
    {
        async move {
            // The first request head must come within the header timeout; later ones within
            // the idle timeout.
            let mut wait_limit = self.limits.header_read_timeout;
            loop {
                // Bytes left unparsed when hyper handed the stream back start a request head:
                // hyper is started again at once, and its header timeout bounds the rest.
                if !io.has_unread() {
                    let parked = Counted::enter(&self.stats.parked);
                    let wake = wait_for_bytes(&mut io, self.activity, wait_limit, stop).await;
                    drop(parked);
                    match wake {
                        Wake::Data => {}
                        Wake::Closed => return,
                        Wake::GiveUp => return close(io).await,
                    }
                }
                wait_limit = self.limits.idle_timeout;

                match self
                    .run_until_idle(self.start_hyper(io, service), stop)
                    .await
                {
                    Ended::Parked {
                        io: parked,
                        service: returned,
                    } => {
                        self.stats.parks.fetch_add(1, Ordering::Relaxed);
                        tracing::trace!(peer = %self.peer, unread = parked.has_unread(), "connection parked");
                        io = parked;
                        service = returned;
                    }
                    Ended::Finished(finished) => return close(finished).await,
                    Ended::Failed => return,
                }
            }
        }
    }

    /// Starts hyper on the stream. The builder is made for each run rather than kept, so
    /// that a parked connection keeps no part of it.
    fn start_hyper<I, S, B>(
        &self,
        io: Tracked<I>,
        service: S,
    ) -> Box<http1::Connection<TokioIo<Tracked<I>>, S>>
    where
        I: Io,
        S: Http1Service<B>,
        B: ResponseBody,
    {
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_read_timeout)
            .keep_alive(true);
        Box::new(builder.serve_connection(TokioIo::new(io), service))
    }

    /// Runs hyper until the connection ends or has been idle for `park_after`.
    async fn run_until_idle<I, S, B>(
        &self,
        mut connection: Box<http1::Connection<TokioIo<Tracked<I>>, S>>,
        stop: &mut watch::Receiver<bool>,
    ) -> Ended<I, S>
    where
        I: Io,
        S: Http1Service<B>,
        B: ResponseBody,
    {
        let park_after = self.limits.park_after.min(self.limits.idle_timeout);
        // Parking waits for this hyper connection's first request: until then hyper is not
        // idle in its own sense, and asking it to stop would put `Connection: close` in
        // that request's response.
        let requests_before = self.activity.requests();

        let mut parking = false;
        let mut closing = false;
        let result = loop {
            tokio::select! {
                // hyper first, so that bytes already read are parsed before the idle check.
                biased;
                result = poll_fn(|cx| connection.poll_without_shutdown(cx)) => break result,
                _ = stop.wait_for(|stopped| *stopped), if !closing => {
                    if self.activity.requests() == requests_before {
                        // No request has started on this run, so hyper has written nothing
                        // and has nothing to finish. Asked to stop, it would still wait for
                        // the rest of a partial request head.
                        let io = connection.into_parts().io.into_inner();
                        return Ended::Finished(io);
                    }
                    closing = true;
                    std::pin::Pin::new(&mut *connection).graceful_shutdown();
                }
                () = self.activity.idle_after_request(park_after, requests_before), if !closing && !parking => {
                    // hyper closes an idle connection at once; with a response still being
                    // written it finishes that first. Either way it then hands the stream
                    // back.
                    parking = true;
                    std::pin::Pin::new(&mut *connection).graceful_shutdown();
                }
            }
        };

        if let Err(error) = result {
            tracing::debug!(peer = %self.peer, error = %error, "connection closed with an error");
            return Ended::Failed;
        }
        let parts = connection.into_parts();
        let mut io = parts.io.into_inner();

        if closing || !parking || self.activity.close_requested() {
            return Ended::Finished(io);
        }
        if !parts.read_buf.is_empty() {
            // Copied, so that the parked connection does not keep hyper's whole read buffer
            // alive through a slice of it.
            io.put_back(Bytes::copy_from_slice(&parts.read_buf));
        }
        Ended::Parked {
            io,
            service: parts.service,
        }
    }
}
