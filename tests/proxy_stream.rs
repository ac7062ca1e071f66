//! Mirror responses rewritten while they stream: a fake ShipStation over TLS sends each JSON
//! body in many small HTTP/1.1 chunks, cut inside store ID numbers, keys and URLs, and the
//! client must receive exactly the rewritten bytes.

mod common;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use common::{gunzip, Harness, HarnessOptions, CONNECT, LEGACY};
use http::{HeaderValue, Method, Request, Response};
use hyper::body::Frame;
use storebridge::listener::{ConnectionLimits, TlsSource};

/// One order of the page, with the connect store ID in the places a mirror client must see
/// the legacy one and in places that must stay as they are.
fn order(store: u64) -> String {
    format!(
        r#"{{"orderId":{store},"orderNumber":"{store}","advancedOptions":{{"storeId":{store},"customField1":"{store}"}},"items":[{{"sku":"SKU-{store}"}}],"storeID":"{store}"}}"#
    )
}

/// Builds a page of `count` orders with a `href` link that has the store ID in its query.
fn page(store: u64, count: usize) -> String {
    let orders: Vec<String> = (0..count).map(|_| order(store)).collect();
    format!(
        r#"{{"orders":[{}],"links":{{"href":"https://ssapi.shipstation.com/orders?storeID={store}&page=2"}},"total":{count}}}"#,
        orders.join(",")
    )
}

/// The page as the client must receive it: store IDs and the link's query rewritten,
/// `orderId`, `orderNumber`, `customField1` and the SKU left alone.
fn expected_page(count: usize) -> String {
    let orders: Vec<String> = (0..count)
        .map(|_| {
            format!(
                r#"{{"orderId":{CONNECT},"orderNumber":"{CONNECT}","advancedOptions":{{"storeId":{LEGACY},"customField1":"{CONNECT}"}},"items":[{{"sku":"SKU-{CONNECT}"}}],"storeID":"{LEGACY}"}}"#
            )
        })
        .collect();
    format!(
        r#"{{"orders":[{}],"links":{{"href":"https://ssapi.shipstation.com/orders?storeID={LEGACY}&page=2"}},"total":{count}}}"#,
        orders.join(",")
    )
}

/// A body that sends each part as its own frame, so each becomes one HTTP/1.1 chunk. With
/// `stall`, it then sends nothing more and never ends.
struct Frames {
    parts: VecDeque<Bytes>,
    stall: bool,
}

impl hyper::body::Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.parts.pop_front() {
            Some(part) => Poll::Ready(Some(Ok(Frame::data(part)))),
            None if self.stall => Poll::Pending,
            None => Poll::Ready(None),
        }
    }
}

/// Cuts `body` into parts of `size` bytes.
fn cut_every(body: &[u8], size: usize) -> Vec<Bytes> {
    body.chunks(size).map(Bytes::copy_from_slice).collect()
}

/// Cuts `body` inside the first store ID number, inside the first `"storeId"` key and
/// inside the link's query, and between those places.
fn cut_inside_tokens(body: &str) -> Vec<Bytes> {
    let marks = [
        (format!("\"storeId\":{CONNECT}"), 4),
        (format!("\"storeId\":{CONNECT}"), 13),
        (format!("storeID={CONNECT}&"), 3),
        (format!("storeID={CONNECT}&"), 11),
    ];
    let mut points: Vec<usize> = marks
        .iter()
        .map(|(text, offset)| body.find(text.as_str()).expect("mark in body") + offset)
        .collect();
    points.push(0);
    points.push(body.len());
    points.sort_unstable();
    points
        .windows(2)
        .map(|window| Bytes::copy_from_slice(&body.as_bytes()[window[0]..window[1]]))
        .collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("gzip");
    encoder.finish().expect("gzip")
}

/// Builds the response the fake ShipStation sends for a request path.
fn upstream_response(path_and_query: &str) -> Response<Frames> {
    let small = page(CONNECT, 3);
    let first_order = Bytes::from(format!(r#"{{"orders":[{}"#, order(CONNECT)));
    let stall = path_and_query.starts_with("/orders?stall=");
    let (parts, encoding, length) = match path_and_query {
        "/orders?stall=before-first" => (Vec::new(), None, None),
        "/orders?stall=after-first" => (vec![first_order], None, None),
        "/orders?gzip=broken" => (vec![Bytes::from_static(&[0xff; 64])], Some("gzip"), None),
        "/orders?cut=1" => (cut_every(small.as_bytes(), 1), None, None),
        "/orders?cut=3" => (cut_every(small.as_bytes(), 3), None, None),
        "/orders?cut=tokens" => (cut_inside_tokens(&small), None, None),
        "/orders?cut=7&gzip=true" => (cut_every(&gzip(small.as_bytes()), 7), Some("gzip"), None),
        "/orders?size=large" => (cut_every(page(CONNECT, 2000).as_bytes(), 1000), None, None),
        "/orders?empty=true" => (Vec::new(), None, Some(0)),
        "/orders?invalid=late" => {
            let first = format!(r#"{{"a":[{{"storeId":{CONNECT}}},"#);
            let second = format!(r#"nul, {{"storeId":{CONNECT}}}]}}"#);
            (vec![Bytes::from(first), Bytes::from(second)], None, None)
        }
        _ => {
            let html = format!("<html>store {CONNECT}</html>");
            let length = html.len();
            (cut_every(html.as_bytes(), 5), None, Some(length))
        }
    };
    let mut response = Response::new(Frames {
        parts: parts.into(),
        stall,
    });
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    if let Some(encoding) = encoding {
        headers.insert("content-encoding", HeaderValue::from_static(encoding));
    }
    if let Some(length) = length {
        headers.insert("content-length", HeaderValue::from(length));
    }
    response
}

/// Starts the proxy, with the admin listener, `max_body` of 4 KiB and a 2 s request timeout,
/// in front of the fake ShipStation on a TLS listener of its own.
async fn start() -> Harness {
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let address = upstream.local_addr().expect("upstream address");
    let harness = Harness::start_with(HarnessOptions {
        upstream: Some(format!("https://{address}")),
        admin: true,
        max_body: 4096,
        request_timeout: std::time::Duration::from_secs(2),
        ..HarnessOptions::default()
    })
    .await;
    tokio::spawn(storebridge::listener::serve(
        upstream,
        Some(TlsSource::new(harness.server_tls.clone())),
        ConnectionLimits::default(),
        |request: Request<hyper::body::Incoming>| {
            let path = request
                .uri()
                .path_and_query()
                .map(|path| path.as_str().to_owned())
                .unwrap_or_default();
            async move { upstream_response(&path) }
        },
        std::future::pending::<()>(),
    ));
    harness
}

async fn metrics(harness: &Harness) -> String {
    let admin = harness.admin_url.as_deref().expect("admin listener");
    let reply = harness
        .client
        .send(Method::GET, &format!("{admin}/metrics"), None, &[])
        .await;
    reply.text()
}

#[tokio::test]
async fn chunked_body_rewritten_exactly() {
    let harness = start().await;
    for cut in ["1", "3", "tokens"] {
        let reply = harness
            .get(
                storebridge::config::Mode::Mirror,
                &format!("/orders?cut={cut}"),
            )
            .await;
        assert_eq!(reply.status, 200, "cut {cut}: {}", reply.text());
        assert_eq!(reply.text(), expected_page(3), "cut {cut}");
        assert!(
            reply.headers.get("content-length").is_none(),
            "cut {cut}: {:?}",
            reply.headers
        );
    }
}

#[tokio::test]
async fn gzip_chunks_rewritten_and_reencoded() {
    let harness = start().await;
    let reply = harness
        .client
        .send(
            Method::GET,
            &format!("{}/orders?cut=7&gzip=true", harness.mirror_url),
            None,
            &[("accept-encoding", "gzip")],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.headers["content-encoding"], "gzip");
    let plain = String::from_utf8(gunzip(&reply.body)).expect("UTF-8");
    assert_eq!(plain, expected_page(3));
}

#[tokio::test]
async fn http2_client_gets_streamed_rewrite() {
    let harness = start().await;
    let url = format!("{}/orders?cut=3", harness.mirror_url);
    let (version, reply) = common::get_http2(&harness, &url).await;
    assert_eq!(version, http::Version::HTTP_2);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), expected_page(3));
}

#[tokio::test]
async fn body_over_max_body_streams_whole() {
    // limits.max_body (4 KiB here) bounds bodies read whole; a streamed rewrite keeps one
    // frame at a time, so a larger page passes complete.
    let harness = start().await;
    let reply = harness
        .get(storebridge::config::Mode::Mirror, "/orders?size=large")
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let expected = expected_page(2000);
    assert!(expected.len() > 64 * 4096, "{} bytes", expected.len());
    assert_eq!(reply.body.len(), expected.len());
    assert_eq!(reply.text(), expected);
}

#[tokio::test]
async fn invalid_json_passes_untranslated() {
    let harness = start().await;
    let labels: [(&str, &str); 0] = [];
    let before = common::metric(
        &metrics(&harness).await,
        "storebridge_invalid_json_responses_total",
        &labels,
    );

    // Invalid from the first byte: the body and its length pass as they came.
    let early = harness
        .get(storebridge::config::Mode::Mirror, "/orders?invalid=early")
        .await;
    assert_eq!(early.status, 200);
    let html = format!("<html>store {CONNECT}</html>");
    assert_eq!(early.text(), html);
    assert_eq!(
        early.headers["content-length"],
        html.len().to_string().as_str()
    );

    // Invalid after the first rewritten bytes were sent: the rest passes untranslated.
    let late = harness
        .get(storebridge::config::Mode::Mirror, "/orders?invalid=late")
        .await;
    assert_eq!(late.status, 200);
    assert_eq!(
        late.text(),
        format!(r#"{{"a":[{{"storeId":{LEGACY}}},nul, {{"storeId":{CONNECT}}}]}}"#)
    );

    let after = common::metric(
        &metrics(&harness).await,
        "storebridge_invalid_json_responses_total",
        &labels,
    );
    assert_eq!(after, before + 2.0);
}

#[tokio::test]
async fn empty_json_body_not_invalid() {
    let harness = start().await;
    let labels: [(&str, &str); 0] = [];
    let before = common::metric(
        &metrics(&harness).await,
        "storebridge_invalid_json_responses_total",
        &labels,
    );

    let reply = harness
        .get(storebridge::config::Mode::Mirror, "/orders?empty=true")
        .await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.is_empty(), "{}", reply.text());

    let after = common::metric(
        &metrics(&harness).await,
        "storebridge_invalid_json_responses_total",
        &labels,
    );
    assert_eq!(after, before);
}

#[tokio::test]
async fn failure_before_first_byte_is_error_response() {
    let harness = start().await;
    let cases = [
        ("/orders?stall=before-first", 504, "upstream_timeout"),
        ("/orders?gzip=broken", 502, "upstream_bad_encoding"),
    ];
    for (path, status, code) in cases {
        let reply = harness
            .client
            .send(
                Method::GET,
                &format!("{}{path}", harness.mirror_url),
                None,
                &[("accept-encoding", "gzip")],
            )
            .await;
        assert_eq!(reply.status, status, "{path}: {}", reply.text());
        assert_eq!(reply.json()["code"], code, "{path}");
    }
}

#[tokio::test]
async fn stall_after_first_byte_cuts_body() {
    use http_body_util::BodyExt;

    let harness = start().await;
    let client = common::raw_client::<http_body_util::Full<Bytes>>(&harness.ca_file, false);
    let request = Request::get(format!("{}/orders?stall=after-first", harness.mirror_url))
        .header("authorization", &harness.client.authorization)
        .body(http_body_util::Full::new(Bytes::new()))
        .expect("request");
    let response = client.request(request).await.expect("response head");
    assert_eq!(response.status(), 200);

    let mut body = response.into_body();
    let mut received = Vec::new();
    let ended = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            match body.frame().await {
                Some(Ok(frame)) => received.extend_from_slice(frame.data_ref().expect("data")),
                Some(Err(error)) => return Err(error),
                None => return Ok(()),
            }
        }
    })
    .await
    .expect("the proxy ended the stalled body");
    assert!(
        ended.is_err(),
        "the body ends with an error, not as if complete"
    );

    let order = order(CONNECT)
        .replace(
            &format!("\"storeId\":{CONNECT}"),
            &format!("\"storeId\":{LEGACY}"),
        )
        .replace(
            &format!("\"storeID\":\"{CONNECT}\""),
            &format!("\"storeID\":\"{LEGACY}\""),
        );
    assert_eq!(
        String::from_utf8_lossy(&received),
        format!(r#"{{"orders":[{order}"#)
    );
}
