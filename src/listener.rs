//! Accepting connections: TCP, optional TLS with ALPN, HTTP/1.1 and HTTP/2 through hyper,
//! the timeouts that keep a slow or idle client from holding a connection, and a graceful
//! stop. The proxy listeners and the sandbox share this loop.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper::body::{Body, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

/// The client's address, put into every request's extensions.
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub SocketAddr);

/// Per-connection timeouts, and how long a stop waits for open connections.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Bound on the TLS handshake and on reading each HTTP/1 request head.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight and no bytes moving for this long is closed.
    pub idle_timeout: Duration,
    /// After the stop signal, in-flight requests get this long before their connections
    /// are dropped.
    pub drain_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(90),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// The TLS configuration of a listener. It can be replaced while the listener runs: new
/// handshakes use the new configuration and open connections keep the one they started with.
#[derive(Clone)]
pub struct TlsSource(Arc<ArcSwap<rustls::ServerConfig>>);

impl TlsSource {
    pub fn new(config: Arc<rustls::ServerConfig>) -> Self {
        Self(Arc::new(ArcSwap::new(config)))
    }

    pub fn replace(&self, config: Arc<rustls::ServerConfig>) {
        self.0.store(config);
    }

    fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.0.load_full())
    }
}

impl From<Arc<rustls::ServerConfig>> for TlsSource {
    fn from(config: Arc<rustls::ServerConfig>) -> Self {
        Self::new(config)
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Serves connections from `listener` until `shutdown` resolves, then stops accepting and
/// waits for open connections to finish their in-flight requests.
pub async fn serve<S, F, B, T>(
    listener: TcpListener,
    tls: Option<T>,
    limits: ConnectionLimits,
    service: S,
    shutdown: impl Future<Output = ()>,
) where
    S: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    T: Into<TlsSource>,
{
    let tls: Option<TlsSource> = tls.map(Into::into);
    let (stop_sender, stop_receiver) = watch::channel(false);
    let tracker = TaskTracker::new();
    tokio::pin!(shutdown);

    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Usually EMFILE or ECONNABORTED: back off briefly instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            stream,
            peer,
            acceptor: tls.as_ref().map(TlsSource::acceptor),
            limits,
            stop: stop_receiver.clone(),
        };
        tracker.spawn(connection.run(service.clone()));
    }

    // Close the socket now, so new connections are refused at once instead of waiting in
    // the backlog until the drain is over.
    drop(listener);
    let _ = stop_sender.send(true);
    tracker.close();
    if tokio::time::timeout(limits.drain_timeout, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open_connections = tracker.len(),
            "drain timeout passed; dropping connections with requests still in flight"
        );
    }
}

struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: Option<TlsAcceptor>,
    limits: ConnectionLimits,
    stop: watch::Receiver<bool>,
}

impl Connection {
    async fn run<S, F, B>(self, service: S)
    where
        S: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Response<B>> + Send + 'static,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let Connection {
            stream,
            peer,
            acceptor,
            limits,
            stop,
        } = self;
        let activity = Arc::new(Activity::new());

        match acceptor {
            Some(acceptor) => {
                let handshake =
                    tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream)).await;
                let tls_stream = match handshake {
                    Ok(Ok(tls_stream)) => tls_stream,
                    Ok(Err(error)) => {
                        tracing::debug!(%peer, %error, "tls handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "tls handshake timed out");
                        return;
                    }
                };
                let io = Tracked::new(tls_stream, activity.clone());
                serve_connection(io, peer, limits, activity, stop, service).await;
            }
            None => {
                let io = Tracked::new(stream, activity.clone());
                serve_connection(io, peer, limits, activity, stop, service).await;
            }
        }
    }
}

async fn serve_connection<I, S, F, B>(
    io: I,
    peer: SocketAddr,
    limits: ConnectionLimits,
    activity: Arc<Activity>,
    mut stop: watch::Receiver<bool>,
    service: S,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());

    let request_activity = activity.clone();
    let hyper_service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(PeerAddr(peer));
        let in_flight = InFlight::enter(request_activity.clone());
        let response = service(request);
        // Boxed because hyper allocates room for one service future for the whole life of the
        // connection. Unboxed, every idle keep-alive connection kept about 8 KiB of request state.
        Box::pin(async move {
            let response = response.await;
            drop(in_flight);
            Ok::<_, Infallible>(response)
        })
    });

    let connection = builder.serve_connection(TokioIo::new(io), hyper_service);
    tokio::pin!(connection);
    let mut closing = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%peer, error = %error, "connection closed with an error");
                }
                return;
            }
            _ = stop.changed(), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
            () = activity.idle_elapsed(limits.idle_timeout), if !closing => {
                tracing::debug!(%peer, "closing idle connection");
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// When bytes last moved on a connection, and how many requests are in flight on it.
struct Activity {
    start: Instant,
    last_millis: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_millis: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let millis = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_millis.store(millis, Ordering::Relaxed);
    }

    /// Resolves once the connection has been idle, with no request in flight, for `limit`.
    async fn idle_elapsed(&self, limit: Duration) {
        loop {
            let last = self.start + Duration::from_millis(self.last_millis.load(Ordering::Relaxed));
            let deadline = last + limit;
            if Instant::now() >= deadline && self.in_flight.load(Ordering::Relaxed) == 0 {
                return;
            }
            let next_check = if Instant::now() >= deadline {
                Instant::now() + limit
            } else {
                deadline
            };
            tokio::time::sleep_until(next_check).await;
        }
    }
}

struct InFlight(Arc<Activity>);

impl InFlight {
    fn enter(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// An I/O stream that records when bytes last moved.
struct Tracked<I> {
    inner: I,
    activity: Arc<Activity>,
}

impl<I> Tracked<I> {
    fn new(inner: I, activity: Arc<Activity>) -> Self {
        activity.touch();
        Self { inner, activity }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Tracked<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
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
