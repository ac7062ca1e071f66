//! Accepting connections: TCP, optional TLS with ALPN, HTTP/1.1 and HTTP/2 through hyper,
//! the timeouts that keep a slow or idle client from holding a connection, and a graceful
//! stop. The proxy listeners and the sandbox share this loop. Idle HTTP/1 connections are
//! parked without hyper's buffers (`http1.rs`); `activity.rs` tracks what each is doing.
//! The proxy listeners serve their connections on worker threads (`shards.rs`).

mod activity;
mod http1;
pub mod shards;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper::body::{Body, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_util::either::Either;
use tokio_util::task::TaskTracker;

use activity::{Activity, InFlight, InFlightBody, Tracked};
use http1::Wake;
pub use shards::Shards;

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
    /// An HTTP/1 connection with no request in flight and no bytes moving for this long
    /// gives its HTTP buffers back until the client's next bytes arrive.
    pub park_after: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(90),
            drain_timeout: Duration::from_secs(30),
            // Long enough that a client sending requests back to back does not park between
            // them. Short enough that a burst of new connections going idle gives its
            // buffers back soon: 5,000 idle connections took 2.5 MiB more at 250 ms than at
            // 50 ms.
            park_after: Duration::from_millis(100),
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

/// A connection's byte stream: TCP, or TLS over TCP.
trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// Counts of a listener's connections, for metrics and tests. Several listeners may share
/// one.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    open: AtomicUsize,
    parked: AtomicUsize,
    parks: AtomicU64,
}

impl ConnectionStats {
    /// Connections accepted and not yet closed, handshakes included.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// HTTP/1 connections waiting for the client's next bytes without HTTP buffers.
    pub fn parked(&self) -> usize {
        self.parked.load(Ordering::Relaxed)
    }

    /// Returns the number of times an idle HTTP/1 connection was taken back from hyper.
    pub fn parks_total(&self) -> u64 {
        self.parks.load(Ordering::Relaxed)
    }
}

/// Counts a connection as open (or parked) until dropped.
struct Counted<'a>(&'a AtomicUsize);

impl<'a> Counted<'a> {
    fn enter(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves connections from `listener` until `shutdown` resolves, then stops accepting and
/// waits for open connections to finish their in-flight requests.
pub async fn serve<S, F, B, T>(
    listener: TcpListener,
    tls: Option<T>,
    limits: ConnectionLimits,
    service: S,
    shutdown: impl Future<Output = ()>,
) where
    S: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    T: Into<TlsSource>,
{
    let stats = Arc::new(ConnectionStats::default());
    serve_counted(listener, tls, limits, stats, None, service, shutdown).await;
}

/// Serves as [`serve`] does, counting the connections in `stats`. With `shards`, each
/// connection is served on a shard thread instead of the runtime that runs this loop.
pub async fn serve_counted<S, F, B, T>(
    listener: TcpListener,
    tls: Option<T>,
    limits: ConnectionLimits,
    stats: Arc<ConnectionStats>,
    shards: Option<Arc<Shards>>,
    service: S,
    shutdown: impl Future<Output = ()>,
) where
    S: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    T: Into<TlsSource>,
{
    let tls: Option<TlsSource> = tls.map(Into::into);
    let service = Arc::new(service);
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
        let acceptor = tls.as_ref().map(TlsSource::acceptor);
        let (stop, stats) = (stop_receiver.clone(), stats.clone());
        let connection = move |stream| Connection {
            stream,
            peer,
            acceptor,
            limits,
            stop,
            stats,
        };
        let service = service.clone();
        let Some(shards) = &shards else {
            tracker.spawn(connection(stream).run(service));
            continue;
        };

        // The socket leaves this runtime's reactor and joins the shard's.
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(error) => {
                tracing::debug!(%peer, %error, "failed to hand the connection to a worker thread");
                continue;
            }
        };
        // Counted from here, so that a stop right now still waits for this connection.
        let tracked = tracker.token();
        let handed = shards.spawn(move || {
            // This runs on the shard's thread, where the socket joins the shard's reactor.
            // The future is built here rather than in an `async` block, which would keep
            // its captures beside it for the whole connection.
            let run = match TcpStream::from_std(stream) {
                Ok(stream) => Either::Left(connection(stream).run(service)),
                Err(error) => {
                    tracing::debug!(%peer, %error, "failed to register the connection on a worker thread");
                    Either::Right(std::future::ready(()))
                }
            };
            shards::Guarded::new(run, tracked)
        });
        if handed.is_err() {
            tracing::warn!(%peer, "connection dropped: the worker threads have stopped");
        }
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
        // Error, not warn: the requests still in flight are lost to their clients.
        tracing::error!(
            open_connections = tracker.len(),
            "drain timeout passed; dropping connections with requests still in flight"
        );
    }
}

/// The protocol of a connection, as negotiated by ALPN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
    /// No ALPN (plaintext, or a TLS client that offered none): the first bytes decide.
    Unknown,
}

struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: Option<TlsAcceptor>,
    limits: ConnectionLimits,
    stop: watch::Receiver<bool>,
    stats: Arc<ConnectionStats>,
}

impl Connection {
    // This and `serve_io` return `async move` blocks instead of being `async fn`s. An
    // `async fn` keeps each argument twice in its future (as passed and as a local), so
    // the task of every parked connection would keep room for both.
    fn run<S, F, B>(self, service: Arc<S>) -> impl Future<Output = ()>
    where
        S: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
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
            stats,
        } = self;
        async move {
            let _open = Counted::enter(&stats.open);
            let activity = Arc::new(Activity::new());
            let handler = Handler {
                service,
                peer,
                activity: activity.clone(),
            };

            let (stream, protocol) = match acceptor {
                None => (Either::Left(stream), Protocol::Unknown),
                // Boxed, like the protocol futures further on: a task keeps room for its
                // largest state for the whole life of the connection, and the handshake's
                // would make every parked connection larger.
                Some(acceptor) => match Box::pin(handshake(acceptor, stream, limits, peer)).await {
                    Some((tls_stream, protocol)) => (Either::Right(tls_stream), protocol),
                    None => return,
                },
            };
            let io = Tracked::new(stream, activity.clone());
            serve_io(io, protocol, handler, &activity, &limits, &stats, stop).await;
        }
    }
}

/// A TLS stream, boxed: at over 1 KiB with rustls's state, it would otherwise take room in
/// the connection task once per level of the futures it is moved through.
type TlsStream = Box<tokio_rustls::server::TlsStream<TcpStream>>;

/// Runs the TLS handshake within the header timeout and reads the protocol ALPN chose.
async fn handshake(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    limits: ConnectionLimits,
    peer: SocketAddr,
) -> Option<(TlsStream, Protocol)> {
    let handshake = tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream));
    let tls_stream = match handshake.await {
        Ok(Ok(tls_stream)) => tls_stream,
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "tls handshake failed");
            return None;
        }
        Err(_) => {
            tracing::debug!(%peer, "tls handshake timed out");
            return None;
        }
    };
    let protocol = match tls_stream.get_ref().1.alpn_protocol() {
        Some(b"h2") => Protocol::Http2,
        Some(b"http/1.1") => Protocol::Http1,
        _ => Protocol::Unknown,
    };
    Some((Box::new(tls_stream), protocol))
}

/// Serves one connection: HTTP/1 with parking, or HTTP/2 through hyper-util's builder.
#[allow(clippy::manual_async_fn)] // See the note on `Connection::run`.
fn serve_io<'a, I, S, F, B>(
    mut io: Tracked<I>,
    protocol: Protocol,
    handler: Handler<S>,
    activity: &'a Activity,
    limits: &'a ConnectionLimits,
    stats: &'a ConnectionStats,
    mut stop: watch::Receiver<bool>,
) -> impl Future<Output = ()> + 'a
where
    I: Io,
    S: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    async move {
        let speaks_http2 = match protocol {
            Protocol::Http1 => false,
            Protocol::Http2 => true,
            Protocol::Unknown => {
                // HTTP/2 with prior knowledge opens with "PRI * HTTP/2.0"; two bytes
                // distinguish it from every HTTP/1 method storebridge serves. hyper-util
                // checks the whole preface for the rare methods that also start with "PR".
                while io.unread_bytes().len() < 2
                    && io.unread_bytes().first().is_none_or(|&byte| byte == b'P')
                {
                    let limit = limits.header_read_timeout;
                    match http1::wait_for_bytes(&mut io, activity, limit, &mut stop).await {
                        Wake::Data => {}
                        Wake::Closed => return,
                        Wake::GiveUp => return http1::close(io).await,
                    }
                }
                io.unread_bytes().starts_with(b"PR")
            }
        };

        if !speaks_http2 {
            let connection = http1::Http1 {
                activity,
                limits,
                stats,
                peer: handler.peer,
            };
            return connection.serve(io, handler, &mut stop).await;
        }

        Box::pin(serve_auto(io, handler, activity, *limits, stop)).await;
    }
}

/// Serves HTTP/2 (or HTTP/1 that starts like HTTP/2's preface) through hyper-util's builder,
/// which distinguishes the two. These connections are not parked.
async fn serve_auto<I, S, F, B>(
    io: Tracked<I>,
    handler: Handler<S>,
    activity: &Activity,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) where
    I: Io,
    S: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let peer = handler.peer;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let connection = builder.serve_connection(TokioIo::new(io), handler);
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
            _ = stop.wait_for(|stopped| *stopped), if !closing => {
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

/// hyper's service for one connection: counts the request in flight and boxes the caller's
/// future. The peer address is kept for the connection's log lines.
struct Handler<S> {
    service: Arc<S>,
    peer: SocketAddr,
    activity: Arc<Activity>,
}

impl<S> Clone for Handler<S> {
    fn clone(&self) -> Self {
        Self {
            service: Arc::clone(&self.service),
            peer: self.peer,
            activity: Arc::clone(&self.activity),
        }
    }
}

impl<S, F, B> hyper::service::Service<Request<Incoming>> for Handler<S>
where
    S: Fn(Request<Incoming>) -> F,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body,
{
    type Response = Response<InFlightBody<B>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        self.activity.note_request(&request);
        let http10 = request.version() == hyper::Version::HTTP_10;
        let in_flight = InFlight::enter(self.activity.clone());
        let response = (self.service)(request);
        // Boxed because hyper keeps room for one service future for the whole life of the
        // connection. Unboxed, every idle keep-alive connection kept about 8 KiB of request
        // state.
        Box::pin(async move {
            let response = response.await;
            if http10 && !activity::has_known_length(&response) {
                // HTTP/1.0 has no chunked coding: the body ends when the connection does.
                in_flight.note_close();
            }
            // The request stays in flight until its response body has been sent, so that a
            // pause in the body is not taken for an idle connection.
            Ok(response.map(|body| InFlightBody::new(body, in_flight)))
        })
    }
}
