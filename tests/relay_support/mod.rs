//! A fake webhook receiver over TLS on port 0: answers with scripted statuses and reports
//! every request it gets on a channel.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use storebridge::listener::{self, ConnectionLimits};

/// How the receiver answers one request.
#[derive(Clone, Debug)]
pub enum Answer {
    Status(u16),
    /// A status with `Retry-After` in seconds.
    RetryAfter(u16, u64),
    /// Holds the request open until [`Receiver::release`], then answers 200.
    Hold,
}

/// A request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

struct Script {
    queued: Mutex<VecDeque<Answer>>,
    fallback: Mutex<Answer>,
    released: watch::Sender<bool>,
}

pub struct Receiver {
    pub url: String,
    pub requests: mpsc::UnboundedReceiver<Received>,
    script: Arc<Script>,
}

impl Receiver {
    /// Starts a receiver; requests are answered from `queued`, then with `fallback`.
    pub async fn start(
        tls: Option<Arc<rustls::ServerConfig>>,
        queued: Vec<Answer>,
        fallback: Answer,
    ) -> Self {
        let socket = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let address = socket.local_addr().expect("address");
        let scheme = if tls.is_some() { "https" } else { "http" };
        let (sender, requests) = mpsc::unbounded_channel();
        let script = Arc::new(Script {
            queued: Mutex::new(queued.into()),
            fallback: Mutex::new(fallback),
            released: watch::channel(false).0,
        });
        let service_script = script.clone();
        tokio::spawn(listener::serve(
            socket,
            tls,
            ConnectionLimits::default(),
            move |request| answer(service_script.clone(), sender.clone(), request),
            std::future::pending::<()>(),
        ));
        Self {
            url: format!("{scheme}://{address}/hook"),
            requests,
            script,
        }
    }

    pub fn set_fallback(&self, answer: Answer) {
        *self.script.fallback.lock().expect("lock") = answer;
    }

    /// Lets held requests answer 200.
    pub fn release(&self) {
        let _ = self.script.released.send(true);
    }

    /// Waits for the next request, failing the test after `limit`.
    pub async fn next(&mut self, limit: Duration) -> Received {
        tokio::time::timeout(limit, self.requests.recv())
            .await
            .expect("the receiver got no request in time")
            .expect("receiver channel open")
    }

    /// Fails the test when a request arrives within `window`.
    pub async fn expect_quiet(&mut self, window: Duration) {
        let arrived = tokio::time::timeout(window, self.requests.recv()).await;
        if let Ok(Some(request)) = arrived {
            panic!("unexpected request within {window:?}: {request:?}");
        }
    }
}

async fn answer(
    script: Arc<Script>,
    sender: mpsc::UnboundedSender<Received>,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let answer = {
        let queued = script.queued.lock().expect("lock").pop_front();
        queued.unwrap_or_else(|| script.fallback.lock().expect("lock").clone())
    };
    let _ = sender.send(Received {
        path,
        headers: parts.headers,
        body,
    });
    let mut response = Response::new(Full::new(Bytes::new()));
    match answer {
        Answer::Status(status) => {
            *response.status_mut() = StatusCode::from_u16(status).expect("status")
        }
        Answer::RetryAfter(status, seconds) => {
            *response.status_mut() = StatusCode::from_u16(status).expect("status");
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, seconds.into());
        }
        Answer::Hold => {
            let mut released = script.released.subscribe();
            let _ = released.wait_for(|released| *released).await;
        }
    }
    response
}
