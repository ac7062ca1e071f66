//! Idle HTTP/1 connections handed back from hyper between requests ("parked") and resumed
//! when the client's next bytes arrive. The listener runs with `park_after` of 1 ms, so every
//! pause parks, over TLS with and without ALPN and over plaintext. The client writes raw
//! HTTP/1.1, so that the tests see exactly what goes over the connection.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::{Frame, Incoming};
use rustls::pki_types::ServerName;
use storebridge::listener::{ConnectionLimits, ConnectionStats, TlsSource};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, Mutex};

/// How long a test waits for something that should happen at once.
const LIMIT: Duration = Duration::from_secs(10);

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

#[derive(Clone, Copy, Debug)]
enum Transport {
    /// TLS with ALPN `http/1.1`.
    TlsHttp1,
    /// TLS with no ALPN offered: the listener decides the protocol from the first bytes.
    TlsNoAlpn,
    Plaintext,
}

/// A response body fed by the test, one frame per message, ending when the sender drops.
struct FedBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for FedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|next| next.map(|data| Ok(Frame::data(data))))
    }
}

/// The test's server: `/hello` returns `hello` at once; `/fed` returns headers, then the body
/// parts the test sends through the channel it receives on `feeds`.
struct Server {
    address: std::net::SocketAddr,
    stats: Arc<ConnectionStats>,
    ca_file: std::path::PathBuf,
    feeds: mpsc::Receiver<mpsc::Sender<Bytes>>,
    stop: Option<oneshot::Sender<()>>,
    serving: tokio::task::JoinHandle<()>,
    _certs: tempfile::TempDir,
}

impl Server {
    async fn start(transport: Transport, limits: ConnectionLimits) -> Server {
        let certs = tempfile::tempdir().expect("temporary folder");
        let paths = storebridge::certs::write_dev_certs(certs.path(), &[]).expect("dev certs");
        let tls = match transport {
            Transport::Plaintext => None,
            _ => Some(TlsSource::new(
                storebridge::tls::server_config(&paths.server_cert, &paths.server_key)
                    .expect("server TLS"),
            )),
        };

        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let stats = Arc::new(ConnectionStats::default());
        let (feed_sender, feeds) = mpsc::channel(4);
        let feed_sender = Arc::new(Mutex::new(feed_sender));
        let (stop, stopped) = oneshot::channel::<()>();

        let service = move |request: Request<Incoming>| {
            let feed_sender = feed_sender.clone();
            async move {
                if request.uri().path() == "/fed" {
                    let (parts, receiver) = mpsc::channel(4);
                    let _ = feed_sender.lock().await.send(parts).await;
                    let body = http_body_util::Either::Left(FedBody(receiver));
                    return Response::new(body);
                }
                let body = http_body_util::Full::new(Bytes::from_static(b"hello"));
                Response::new(http_body_util::Either::Right(body))
            }
        };

        let serving = tokio::spawn(storebridge::listener::serve_counted(
            listener,
            tls,
            limits,
            stats.clone(),
            None,
            service,
            async {
                let _ = stopped.await;
            },
        ));
        Server {
            address,
            stats,
            ca_file: paths.ca_cert,
            feeds,
            stop: Some(stop),
            serving,
            _certs: certs,
        }
    }

    async fn connect(&self, transport: Transport) -> BufReader<Box<dyn Stream>> {
        let tcp = TcpStream::connect(self.address).await.expect("connect");
        let stream: Box<dyn Stream> = match transport {
            Transport::Plaintext => Box::new(tcp),
            Transport::TlsHttp1 | Transport::TlsNoAlpn => {
                let mut config =
                    storebridge::tls::client_config(Some(&self.ca_file)).expect("client TLS");
                if let Transport::TlsHttp1 = transport {
                    config.alpn_protocols = vec![b"http/1.1".to_vec()];
                }
                let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
                let name = ServerName::try_from("localhost").expect("server name");
                Box::new(connector.connect(name, tcp).await.expect("TLS handshake"))
            }
        };
        BufReader::new(stream)
    }
}

fn limits() -> ConnectionLimits {
    ConnectionLimits {
        park_after: Duration::from_millis(1),
        ..ConnectionLimits::default()
    }
}

/// Resolves once `condition` holds, failing the test after [`LIMIT`].
async fn until(description: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + LIMIT;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {description}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn within<T>(description: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, future)
        .await
        .unwrap_or_else(|_| panic!("timed out: {description}"))
}

/// Reads one response: the head's lines (lowercased) and the body, by `Content-Length` or
/// chunked coding.
async fn read_response(stream: &mut BufReader<Box<dyn Stream>>) -> (Vec<String>, Vec<u8>) {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        let read = within("response head", stream.read_line(&mut line))
            .await
            .expect("read head");
        assert!(
            read > 0,
            "connection closed before a response; head so far {head:?}"
        );
        let line = line.trim_end().to_ascii_lowercase();
        if line.is_empty() {
            break;
        }
        head.push(line);
    }
    let length = head
        .iter()
        .find_map(|line| line.strip_prefix("content-length: "))
        .map(|value| value.parse::<usize>().expect("numeric length"));
    let mut body = Vec::new();
    let chunked = head.iter().any(|line| line == "transfer-encoding: chunked");
    if length.is_none() && !chunked {
        // Neither length nor chunks: the body ends when the server closes the connection.
        within("body up to close", stream.read_to_end(&mut body))
            .await
            .expect("read body");
        return (head, body);
    }
    if let Some(length) = length {
        body.resize(length, 0);
        within("body", stream.read_exact(&mut body))
            .await
            .expect("read body");
        return (head, body);
    }
    loop {
        let mut size_line = String::new();
        within("chunk size", stream.read_line(&mut size_line))
            .await
            .expect("read size");
        let size = usize::from_str_radix(size_line.trim(), 16).expect("hex chunk size");
        let mut chunk = vec![0; size + 2];
        within("chunk", stream.read_exact(&mut chunk))
            .await
            .expect("read chunk");
        if size == 0 {
            return (head, body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

/// Feeds the `/fed` response body: `first`, a pause longer than the tests' `park_after`,
/// then `second`, then the end.
async fn feed_with_pause(
    feeds: &mut mpsc::Receiver<mpsc::Sender<Bytes>>,
    first: &'static [u8],
    second: &'static [u8],
) {
    let parts = within("the handler", feeds.recv())
        .await
        .expect("handler runs");
    parts
        .send(Bytes::from_static(first))
        .await
        .expect("body open");
    tokio::time::sleep(Duration::from_millis(20)).await;
    parts
        .send(Bytes::from_static(second))
        .await
        .expect("body open");
}

async fn send(stream: &mut BufReader<Box<dyn Stream>>, bytes: &[u8]) {
    stream.get_mut().write_all(bytes).await.expect("write");
    stream.get_mut().flush().await.expect("flush");
}

async fn expect_closed(stream: &mut BufReader<Box<dyn Stream>>) {
    let mut rest = Vec::new();
    // A TLS peer may also end without close_notify; either way nothing more may come.
    let _ = within("server close", stream.read_to_end(&mut rest)).await;
    assert!(
        rest.is_empty(),
        "unexpected bytes: {:?}",
        String::from_utf8_lossy(&rest)
    );
}

const HELLO: &[u8] = b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// Sends `request` for `/hello` and checks the response, which must keep the connection.
async fn hello(stream: &mut BufReader<Box<dyn Stream>>, request: &[u8]) {
    send(stream, request).await;
    let (head, body) = read_response(stream).await;
    assert_eq!(head[0], "http/1.1 200 ok");
    assert!(
        !head.iter().any(|line| line == "connection: close"),
        "{head:?}"
    );
    assert_eq!(body, b"hello");
}
const POST_HELLO: &[u8] = b"POST /hello HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n";

#[tokio::test]
async fn parked_connection_serves_next_request() {
    for transport in [
        Transport::TlsHttp1,
        Transport::TlsNoAlpn,
        Transport::Plaintext,
    ] {
        let server = Server::start(transport, limits()).await;
        let mut client = server.connect(transport).await;
        for round in 1..=3u64 {
            // POST first: without ALPN, a first byte of `P` could still be HTTP/2's preface.
            let request: &[u8] = if round == 1 { POST_HELLO } else { HELLO };
            send(&mut client, request).await;
            let (head, body) = read_response(&mut client).await;
            assert_eq!(head[0], "http/1.1 200 ok", "{transport:?}");
            assert!(
                !head.iter().any(|line| line == "connection: close"),
                "{head:?}"
            );
            assert_eq!(body, b"hello");
            let stats = server.stats.clone();
            until("the connection parks", || {
                stats.parked() == 1 && stats.parks_total() >= round
            })
            .await;
            assert_eq!(server.stats.open(), 1);
        }
    }
}

#[tokio::test]
async fn part_of_next_request_kept_across_parking() {
    let transport = Transport::TlsHttp1;
    let server = Server::start(transport, limits()).await;
    let mut client = server.connect(transport).await;
    // The first request and the start of the second in one write: hyper reads both, and
    // has the second's first bytes buffered when the connection parks. The listener keeps
    // them for the next hyper connection.
    send(
        &mut client,
        b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\nGET /hel",
    )
    .await;
    let (head, body) = read_response(&mut client).await;
    assert_eq!(head[0], "http/1.1 200 ok");
    assert_eq!(body, b"hello");

    let stats = server.stats.clone();
    until("the connection parks with bytes unread", || {
        stats.parks_total() >= 1
    })
    .await;
    // hyper now runs again on the partial head. It is idle too, but a graceful shutdown
    // before its first response would close the connection after that response.
    tokio::time::sleep(Duration::from_millis(20)).await;
    send(&mut client, b"lo HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    let (head, body) = read_response(&mut client).await;
    assert_eq!(head[0], "http/1.1 200 ok");
    assert!(
        !head.iter().any(|line| line == "connection: close"),
        "{head:?}"
    );
    assert_eq!(body, b"hello");
    hello(&mut client, HELLO).await;
}

#[tokio::test]
async fn response_streaming_while_idle_keeps_connection() {
    let transport = Transport::TlsHttp1;
    let mut server = Server::start(transport, limits()).await;
    let mut client = server.connect(transport).await;
    send(&mut client, b"GET /fed HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    // The body pauses for longer than `park_after`. The request counts as in flight until
    // its body ends, and the connection must stay usable after it.
    feed_with_pause(&mut server.feeds, b"first ", b"second").await;
    let (head, body) = read_response(&mut client).await;
    assert_eq!(head[0], "http/1.1 200 ok");
    assert!(
        !head.iter().any(|line| line == "connection: close"),
        "{head:?}"
    );
    assert_eq!(body, b"first second");

    let stats = server.stats.clone();
    until("the connection parks after the body", || {
        stats.parked() == 1
    })
    .await;
    hello(&mut client, HELLO).await;
}

#[tokio::test]
async fn close_requested_by_client_is_honoured() {
    let transport = Transport::TlsHttp1;
    let mut server = Server::start(transport, limits()).await;
    for path in ["/hello", "/fed"] {
        let mut client = server.connect(transport).await;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        send(&mut client, request.as_bytes()).await;
        if path == "/fed" {
            // A pause in the body longer than `park_after`. The client asked to close, and
            // the connection must still end after this response.
            feed_with_pause(&mut server.feeds, b"hel", b"lo").await;
        }
        let (head, body) = read_response(&mut client).await;
        assert_eq!(head[0], "http/1.1 200 ok");
        assert_eq!(body, b"hello", "{path}");
        expect_closed(&mut client).await;
    }
}

#[tokio::test]
async fn parked_connection_closes_after_idle_timeout() {
    let transport = Transport::TlsHttp1;
    let server = Server::start(
        transport,
        ConnectionLimits {
            idle_timeout: Duration::from_millis(200),
            ..limits()
        },
    )
    .await;
    let mut client = server.connect(transport).await;
    hello(&mut client, HELLO).await;
    expect_closed(&mut client).await;
    let stats = server.stats.clone();
    until("the connection is gone", || stats.open() == 0).await;
}

#[tokio::test]
async fn stalled_request_head_closes_after_header_timeout() {
    let transport = Transport::TlsHttp1;
    let server = Server::start(
        transport,
        ConnectionLimits {
            header_read_timeout: Duration::from_millis(300),
            ..limits()
        },
    )
    .await;
    let mut client = server.connect(transport).await;
    hello(&mut client, HELLO).await;
    // The connection parks with this partial head unread and starts hyper again on it: the
    // header timeout still applies.
    send(&mut client, b"GET /hel").await;
    expect_closed(&mut client).await;
}

#[tokio::test]
async fn silent_connection_closes_after_header_timeout() {
    let transport = Transport::TlsNoAlpn;
    let server = Server::start(
        transport,
        ConnectionLimits {
            header_read_timeout: Duration::from_millis(200),
            ..limits()
        },
    )
    .await;
    let mut client = server.connect(transport).await;
    expect_closed(&mut client).await;
}

#[tokio::test]
async fn stop_closes_parked_connections_at_once() {
    let transport = Transport::TlsHttp1;
    let mut server = Server::start(
        transport,
        ConnectionLimits {
            drain_timeout: Duration::from_secs(600),
            header_read_timeout: Duration::from_secs(600),
            ..limits()
        },
    )
    .await;
    let mut client = server.connect(transport).await;
    hello(&mut client, HELLO).await;
    let stats = server.stats.clone();
    until("the connection parks", || stats.parked() == 1).await;
    // A second connection gets part of a request head after parking, so hyper runs on it
    // with no request started: the stop must not wait for the rest of the head.
    let mut partial = server.connect(transport).await;
    hello(&mut partial, HELLO).await;
    until("both connections park", || stats.parked() == 2).await;
    send(&mut partial, b"GET /hel").await;
    until("hyper runs on the partial head", || stats.parked() == 1).await;

    let _ = server.stop.take().expect("not stopped yet").send(());
    // The drain waits for open connections for up to ten minutes; a parked one has nothing
    // in flight, so the listener must end well before.
    within("the listener stops", &mut server.serving)
        .await
        .expect("listener task");
    expect_closed(&mut client).await;
    expect_closed(&mut partial).await;
}

#[tokio::test]
async fn plaintext_http2_prior_knowledge_served() {
    let transport = Transport::Plaintext;
    let server = Server::start(transport, limits()).await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<http_body_util::Empty<Bytes>>();
    let uri: http::Uri = format!("http://{}/hello", server.address)
        .parse()
        .expect("valid URI");
    let response = within("HTTP/2 response", client.get(uri))
        .await
        .expect("HTTP/2 request");
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(&body[..], b"hello");
}

#[tokio::test]
async fn http10_unframed_body_ends_with_close() {
    let transport = Transport::TlsHttp1;
    let mut server = Server::start(transport, limits()).await;
    let mut client = server.connect(transport).await;
    // HTTP/1.0 has no chunked coding, so a body of unknown length ends only when the
    // connection closes, even though the client asked to keep it.
    send(
        &mut client,
        b"GET /fed HTTP/1.0\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n",
    )
    .await;
    feed_with_pause(&mut server.feeds, b"hel", b"lo").await;

    let (head, body) = read_response(&mut client).await;
    assert_eq!(head[0], "http/1.0 200 ok");
    assert_eq!(body, b"hello");
}
