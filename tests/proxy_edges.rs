//! Pass-through, encodings, protocols and the errors storebridge makes itself.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{gunzip, Harness, HarnessOptions, Reply, CONNECT, LEGACY};
use http::Method;
use storebridge::config::Mode;

fn assert_own_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["code"], code, "{}", reply.text());
    assert!(
        body["message"].as_str().is_some_and(|m| m.len() > 20),
        "{}",
        reply.text()
    );
    for name in [
        "x-rate-limit-limit",
        "x-rate-limit-remaining",
        "x-rate-limit-reset",
    ] {
        let value = reply
            .headers
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert!(
            value.to_str().expect("ascii").parse::<u64>().is_ok(),
            "{name}: {value:?}"
        );
    }
}

#[tokio::test]
async fn gzip_response_rewritten_and_reencoded() {
    let harness = Harness::start().await;
    let reply = harness
        .client
        .send(
            Method::GET,
            &format!("{}/stores/{LEGACY}", harness.mirror_url),
            None,
            &[("accept-encoding", "gzip")],
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.headers.get("content-encoding").expect("encoded"),
        "gzip"
    );
    // A small body is rewritten whole, so it keeps a length: that of the re-encoded body.
    let length: usize = reply.headers["content-length"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("number");
    assert_eq!(length, reply.body.len());
    let plain: serde_json::Value = serde_json::from_slice(&gunzip(&reply.body)).expect("json");
    assert_eq!(plain["storeId"], LEGACY);
}

#[tokio::test]
async fn gzip_request_body_rewritten() {
    use std::io::Write;
    let harness = Harness::start().await;
    let body = format!(r#"{{"storeId":{LEGACY},"refreshDate":"2026-12-01 00:00:00"}}"#);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(body.as_bytes()).expect("gzip");
    let compressed = encoder.finish().expect("gzip");
    harness.take_requests();
    let reply = harness
        .client
        .send(
            Method::POST,
            &format!("{}/stores/refreshstore", harness.mirror_url),
            Some(Bytes::from(compressed)),
            &[
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = harness.take_requests();
    assert_eq!(
        String::from_utf8_lossy(&seen[0].body),
        body.replace(&LEGACY.to_string(), &CONNECT.to_string())
    );
}

#[tokio::test]
async fn headers_pass_through() {
    let harness = Harness::start().await;
    harness.take_requests();
    let reply = harness
        .client
        .send(
            Method::GET,
            &format!("{}/orders?storeId={LEGACY}", harness.mirror_url),
            None,
            &[("x-partner", "partner-key-1"), ("connection", "keep-alive")],
        )
        .await;
    assert_eq!(reply.status, 200);
    let seen = harness.take_requests();
    assert!(
        seen[0].authorized,
        "Authorization reached the sandbox unchanged"
    );
    let header = |name: &str| {
        seen[0]
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("x-partner").as_deref(), Some("partner-key-1"));
    assert!(
        header("via").is_some_and(|v| v.contains("storebridge")),
        "{:?}",
        header("via")
    );
    let sandbox_host = harness.sandbox_url.trim_start_matches("https://");
    assert_eq!(header("host").as_deref(), Some(sandbox_host));
    for name in [
        "x-rate-limit-limit",
        "x-rate-limit-remaining",
        "x-rate-limit-reset",
    ] {
        assert!(reply.headers.contains_key(name), "{name} passed back");
    }
    assert!(reply.headers["via"]
        .to_str()
        .expect("ascii")
        .contains("storebridge"));
}

#[tokio::test]
async fn upstream_401_passes_unchanged() {
    let harness = Harness::start().await;
    let client = common::TestClient::new(&harness.ca_file, "Basic d3Jvbmc6d3Jvbmc=".to_owned());
    let through = client
        .send(
            Method::GET,
            &format!("{}/stores", harness.mirror_url),
            None,
            &[],
        )
        .await;
    let direct = client
        .send(
            Method::GET,
            &format!("{}/stores", harness.sandbox_url),
            None,
            &[],
        )
        .await;
    assert_eq!(through.status, 401);
    assert_eq!(through.body, direct.body);
    assert_eq!(
        through.headers.get("www-authenticate"),
        direct.headers.get("www-authenticate")
    );
}

#[tokio::test]
async fn upstream_400_body_unchanged() {
    let harness = Harness::start().await;
    let bad = format!(r#"{{"orderKey":"no-number","advancedOptions":{{"storeId":{LEGACY}}}}}"#);
    let through = harness
        .post(Mode::Mirror, "/orders/createorder", &bad)
        .await;
    let direct = harness
        .direct(
            Method::POST,
            "/orders/createorder",
            Some(&bad.replace(&LEGACY.to_string(), &CONNECT.to_string())),
        )
        .await;
    assert_eq!(through.status, 400, "{}", through.text());
    assert_eq!(through.body, direct.body);
    assert!(
        through.json().get("Message").is_some(),
        "ASP.NET error body: {}",
        through.text()
    );
}

#[tokio::test]
async fn lenient_json_with_legacy_id_rejected() {
    let harness = Harness::start().await;
    harness.take_requests();
    let reply = harness
        .post(
            Mode::Mirror,
            "/stores/refreshstore",
            &format!("{{storeId: {LEGACY}, }}"),
        )
        .await;
    assert_own_error(&reply, 400, "untranslatable_body");
    assert!(
        harness.take_requests().is_empty(),
        "nothing reached the sandbox"
    );
}

#[tokio::test]
async fn long_store_id_request_rejected() {
    // ShipStation trims white space around an ID, so this value names the legacy store, but
    // it is too long for the rewriter to read.
    let harness = Harness::start().await;
    harness.take_requests();
    let padding = " ".repeat(storebridge::rewrite::MAX_HELD_VALUE);
    let body = format!(r#"{{"storeId":"{padding}{LEGACY}"}}"#);
    let reply = harness
        .post(Mode::Mirror, "/stores/refreshstore", &body)
        .await;
    assert_own_error(&reply, 400, "untranslatable_body");
    assert!(
        harness.take_requests().is_empty(),
        "nothing reached the sandbox"
    );
}

#[tokio::test]
async fn lenient_json_without_store_forwarded() {
    let harness = Harness::start().await;
    harness.take_requests();
    let body = "{orderId: 99, tagId: 5,}";
    let _ = harness.post(Mode::Mirror, "/orders/addtag", body).await;
    let seen = harness.take_requests();
    assert_eq!(seen.len(), 1, "forwarded unchanged");
    assert_eq!(seen[0].body, body.as_bytes());
}

#[tokio::test]
async fn oversized_body_gets_413() {
    let harness = Harness::start_with(HarnessOptions {
        max_body: 1024,
        ..HarnessOptions::default()
    })
    .await;
    harness.take_requests();
    let body = format!(r#"{{"storeId":{LEGACY},"padding":"{}"}}"#, "x".repeat(2048));
    let reply = harness
        .post(Mode::Mirror, "/stores/refreshstore", &body)
        .await;
    assert_own_error(&reply, 413, "body_too_large");
    assert!(harness.take_requests().is_empty());
}

/// Sends an oversize POST over HTTP/1.1 the way many clients do: the whole body first, then
/// the response is read. Returns whether every write succeeded, and the response's head.
async fn post_whole_then_read(
    harness: &Harness,
    chunked: bool,
    body_length: usize,
) -> (bool, String) {
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let address = harness.mirror_url.trim_start_matches("https://").to_owned();
    let tcp = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    let mut config = storebridge::tls::client_config(Some(&harness.ca_file)).expect("client TLS");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("server name");
    let mut stream = connector.connect(name, tcp).await.expect("TLS handshake");

    let framing = if chunked {
        "transfer-encoding: chunked".to_owned()
    } else {
        format!("content-length: {body_length}")
    };
    let head = format!(
        "POST /orders/createorder HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n{framing}\r\n\r\n"
    );
    let mut sent_all = stream.write_all(head.as_bytes()).await.is_ok();
    let piece = vec![b' '; 64 * 1024];
    let mut left = body_length;
    while sent_all && left > 0 {
        let size = left.min(piece.len());
        let written = if chunked {
            let mut framed = format!("{size:x}\r\n").into_bytes();
            framed.extend_from_slice(&piece[..size]);
            framed.extend_from_slice(b"\r\n");
            stream.write_all(&framed).await
        } else {
            stream.write_all(&piece[..size]).await
        };
        sent_all = written.is_ok();
        left -= size;
    }
    if sent_all && chunked {
        sent_all = stream.write_all(b"0\r\n\r\n").await.is_ok();
    }

    let mut response = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut response))
        .await
        .expect("response within 10 s")
        .unwrap_or(0);
    (
        sent_all,
        String::from_utf8_lossy(&response[..read]).into_owned(),
    )
}

#[tokio::test]
async fn oversized_upload_still_reads_413() {
    let harness = Harness::start_with(HarnessOptions {
        max_body: 1024,
        ..HarnessOptions::default()
    })
    .await;
    harness.take_requests();
    // 3 MiB is more than loopback's socket buffers take, and under the drained maximum.
    for chunked in [false, true] {
        let (sent_all, head) = post_whole_then_read(&harness, chunked, 3 << 20).await;
        assert!(sent_all, "the upload was cut off (chunked: {chunked})");
        assert!(
            head.starts_with("HTTP/1.1 413"),
            "chunked: {chunked}, response: {head:?}"
        );
    }

    // HTTP/2, through the harness's client.
    let body = format!(
        r#"{{"storeId":{LEGACY},"padding":"{}"}}"#,
        "x".repeat(3 << 20)
    );
    let reply = harness
        .post(Mode::Mirror, "/orders/createorder", &body)
        .await;
    assert_own_error(&reply, 413, "body_too_large");
    assert!(harness.take_requests().is_empty());
}

#[tokio::test]
async fn unreachable_upstream_gets_502() {
    // A socket bound but never listening keeps its port reserved, so no listener of the
    // harness can take it, and a connection to it is refused. (Dropping a listener left the
    // port free, and the proxy's own listener sometimes got it: a loop, not a 502.)
    let closed = tokio::net::TcpSocket::new_v4().expect("socket");
    closed
        .bind("127.0.0.1:0".parse().expect("address"))
        .expect("bind");
    let address = closed.local_addr().expect("address");
    let harness = Harness::start_with(HarnessOptions {
        upstream: Some(format!("https://{address}")),
        ..HarnessOptions::default()
    })
    .await;
    let reply = harness.get(Mode::Mirror, "/stores").await;
    assert_own_error(&reply, 502, "upstream_unreachable");
    let reply = harness
        .post(Mode::Mirror, "/orders/createlabelfororder", "{}")
        .await;
    assert_own_error(&reply, 502, "upstream_unreachable");
}

#[tokio::test]
async fn silent_upstream_gets_504() {
    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = silent.local_addr().expect("address");
    let (held_sender, mut held) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((socket, _)) = silent.accept().await {
            let _ = held_sender.send(socket);
        }
    });
    let harness = Harness::start_with(HarnessOptions {
        upstream: Some(format!("https://{address}")),
        request_timeout: Duration::from_millis(300),
        ..HarnessOptions::default()
    })
    .await;
    let reply = harness.get(Mode::Mirror, "/stores").await;
    assert_own_error(&reply, 504, "upstream_timeout");
    assert!(held.try_recv().is_ok(), "the proxy did connect");
}

#[tokio::test]
async fn http2_client_through_alpn() {
    let harness = Harness::start().await;
    let url = format!("{}/stores/{LEGACY}", harness.mirror_url);
    let (version, reply) = common::get_http2(&harness, &url).await;
    assert_eq!(version, http::Version::HTTP_2);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["storeId"], LEGACY);
}

#[tokio::test]
async fn chunked_request_body_rewritten() {
    use http_body_util::StreamBody;
    let harness = Harness::start().await;
    type Chunk = Result<hyper::body::Frame<Bytes>, std::convert::Infallible>;
    let client =
        common::raw_client::<StreamBody<tokio_stream_shim::Chunks>>(&harness.ca_file, false);
    let chunks: Vec<Chunk> = vec![
        Ok(hyper::body::Frame::data(Bytes::from_static(b"{\"stor"))),
        Ok(hyper::body::Frame::data(Bytes::from(format!(
            "eId\":{LEGACY}}}"
        )))),
    ];
    let request = http::Request::post(format!("{}/stores/refreshstore", harness.mirror_url))
        .header("authorization", &harness.client.authorization)
        .header("content-type", "application/json")
        .body(StreamBody::new(tokio_stream_shim::Chunks::new(chunks)))
        .expect("request");
    harness.take_requests();
    let response = client.request(request).await.expect("response");
    assert_eq!(response.status(), 200);
    let seen = harness.take_requests();
    assert_eq!(
        String::from_utf8_lossy(&seen[0].body),
        format!("{{\"storeId\":{CONNECT}}}")
    );
}

/// A stream over a list of frames, so the client sends a body without Content-Length.
mod tokio_stream_shim {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use bytes::Bytes;

    type Chunk = Result<hyper::body::Frame<Bytes>, std::convert::Infallible>;

    pub struct Chunks(std::collections::VecDeque<Chunk>);

    impl Chunks {
        pub fn new(chunks: Vec<Chunk>) -> Self {
            Self(chunks.into())
        }
    }

    impl futures_core::Stream for Chunks {
        type Item = Chunk;
        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Chunk>> {
            Poll::Ready(self.0.pop_front())
        }
    }
}

#[tokio::test]
async fn slow_clients_are_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let harness = Harness::start_with(HarnessOptions {
        header_read_timeout: Duration::from_millis(200),
        ..HarnessOptions::default()
    })
    .await;
    let address = harness.mirror_url.trim_start_matches("https://").to_owned();

    // A client that never starts the TLS handshake.
    let mut silent = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    let mut buffer = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(20), silent.read(&mut buffer))
        .await
        .expect("the proxy closed the connection");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");

    // A client that completes the handshake, then sends half a request head.
    let tls = storebridge::tls::client_config(Some(&harness.ca_file)).expect("tls");
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls));
    let tcp = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let mut stream = connector.connect(name, tcp).await.expect("handshake");
    stream
        .write_all(b"GET /stores HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut received = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut received))
        .await
        .expect("the proxy closed the connection");
    // hyper drops the connection without a TLS close_notify, which rustls reports as an
    // unexpected EOF; either way the connection is gone.
    let gone = match &closed {
        Ok(_) => true,
        Err(error) => matches!(
            error.kind(),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
        ),
    };
    assert!(gone, "{closed:?}");
    let text = String::from_utf8_lossy(&received);
    assert!(!text.contains("200 OK"), "{text}");
}

#[tokio::test]
async fn stalled_streamed_body_is_cut_off() {
    use http_body_util::BodyExt;

    // An upstream that sends its head and part of the body, then goes silent with the
    // connection open.
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = upstream.local_addr().expect("address");
    let (keep_open, _kept) =
        tokio::sync::mpsc::unbounded_channel::<tokio::sync::mpsc::Sender<Chunk>>();
    type Chunk = Result<hyper::body::Frame<Bytes>, std::convert::Infallible>;
    tokio::spawn(storebridge::listener::serve(
        upstream,
        None::<storebridge::listener::TlsSource>,
        storebridge::listener::ConnectionLimits::default(),
        move |_request| {
            let keep_open = keep_open.clone();
            async move {
                let (sender, receiver) = tokio::sync::mpsc::channel::<Chunk>(1);
                let _ = sender
                    .send(Ok(hyper::body::Frame::data(Bytes::from_static(
                        b"{\"orders\":[",
                    ))))
                    .await;
                let _ = keep_open.send(sender);
                let stream = futures_util_shim::ReceiverStream(receiver);
                let mut response = http::Response::new(http_body_util::StreamBody::new(stream));
                response
                    .headers_mut()
                    .insert("content-type", http::HeaderValue::from_static("text/plain"));
                response
            }
        },
        std::future::pending::<()>(),
    ));

    let harness = Harness::start_with(HarnessOptions {
        upstream: Some(format!("http://{address}")),
        request_timeout: Duration::from_millis(300),
        ..HarnessOptions::default()
    })
    .await;
    let client = common::raw_client::<http_body_util::Full<Bytes>>(&harness.ca_file, false);
    let request = http::Request::get(format!("{}/orders", harness.translate_url))
        .header("authorization", &harness.client.authorization)
        .body(http_body_util::Full::new(Bytes::new()))
        .expect("request");
    let response = client.request(request).await.expect("response head");
    assert_eq!(response.status(), 200);
    let body = tokio::time::timeout(Duration::from_secs(20), response.into_body().collect())
        .await
        .expect("the proxy ended the stalled body");
    assert!(
        body.is_err(),
        "the body ends with an error, not as if complete"
    );
}

/// A `Stream` over a tokio channel receiver, for streamed test bodies.
mod futures_util_shim {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    pub struct ReceiverStream<T>(pub tokio::sync::mpsc::Receiver<T>);

    impl<T> futures_core::Stream for ReceiverStream<T> {
        type Item = T;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
            self.0.poll_recv(cx)
        }
    }
}
