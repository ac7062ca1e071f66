//! Running it in production: admin endpoints, metrics, reloads, certificate swaps, graceful
//! shutdown, the shared rate-limit budget and loop detection.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{Harness, HarnessOptions, TestClient, CONNECT, LEGACY};
use http::Method;
use storebridge::config::Mode;

const MANUAL_STORE: u64 = 200001;

async fn admin_get(harness: &Harness, client: &TestClient, path: &str) -> common::Reply {
    let base = harness.admin_url.as_deref().expect("admin listener");
    client
        .send(Method::GET, &format!("{base}{path}"), None, &[])
        .await
}

async fn admin_reload(harness: &Harness) -> common::Reply {
    let base = harness.admin_url.as_deref().expect("admin listener");
    harness
        .client
        .send(Method::POST, &format!("{base}/admin/reload"), None, &[])
        .await
}

/// Replaces the config file in one rename, so a concurrent reload never reads half a file.
fn rewrite_config(harness: &Harness, edit: impl Fn(&str) -> String) {
    let text = std::fs::read_to_string(&harness.config_path).expect("read config");
    let temporary = harness.config_path.with_extension("toml.next");
    std::fs::write(&temporary, edit(&text)).expect("write config");
    std::fs::rename(&temporary, &harness.config_path).expect("replace config");
}

fn with_admin() -> HarnessOptions {
    HarnessOptions {
        admin: true,
        ..HarnessOptions::default()
    }
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let harness = Harness::start_with(with_admin()).await;
    let health = admin_get(&harness, &harness.client, "/healthz").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.text(), "ok\n");
    let ready = admin_get(&harness, &harness.client, "/readyz").await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["ready"], true);

    let before = admin_get(&harness, &harness.client, "/metrics")
        .await
        .text();
    let labels = [
        ("route", "/stores/{id}"),
        ("status", "200"),
        ("mode", "mirror"),
    ];
    let requests_before = common::metric(&before, "storebridge_requests_total", &labels);
    for _ in 0..2 {
        let reply = harness
            .get(Mode::Mirror, &format!("/stores/{LEGACY}"))
            .await;
        assert_eq!(reply.status, 200);
    }
    let after = admin_get(&harness, &harness.client, "/metrics")
        .await
        .text();
    assert_eq!(
        common::metric(&after, "storebridge_requests_total", &labels),
        requests_before + 2.0,
        "{after}"
    );
    let path_rewrites = [("location", "path"), ("direction", "to_connect")];
    assert!(
        common::metric(&after, "storebridge_rewrites_total", &path_rewrites) >= 2.0,
        "{after}"
    );
    let body_rewrites = [("location", "body"), ("direction", "to_legacy")];
    assert!(
        common::metric(&after, "storebridge_rewrites_total", &body_rewrites) >= 2.0,
        "{after}"
    );
    assert!(
        common::metric(&after, "storebridge_upstream_duration_seconds_count", &[]) >= 2.0,
        "{after}"
    );
    assert_eq!(
        common::metric(&after, "storebridge_build_info", &[]),
        1.0,
        "{after}"
    );
    assert!(
        common::metric(&after, "storebridge_rate_limit_remaining", &[]) > 0.0,
        "{after}"
    );
    // The test client keeps its connection to the proxy listener open in its pool.
    assert!(
        common::metric(&after, "storebridge_connections_open", &[]) >= 1.0,
        "{after}"
    );
    assert!(
        after.contains("\nstorebridge_connections_parked "),
        "{after}"
    );

    let stores = admin_get(&harness, &harness.client, "/admin/stores").await;
    assert_eq!(stores.status, 200);
    assert_eq!(stores.json()["stores"][0]["legacy"], LEGACY);
    assert_eq!(stores.json()["stores"][0]["connect"], CONNECT);
}

#[tokio::test]
async fn admin_token_required() {
    let harness = Harness::start_with(HarnessOptions {
        admin_token: Some("admin-token-1234".to_owned()),
        ..with_admin()
    })
    .await;
    for path in ["/metrics", "/admin/stores"] {
        let denied = admin_get(&harness, &harness.client, path).await;
        assert_eq!(denied.status, 401, "{path}");
        let wrong = TestClient::new(&harness.ca_file, "Bearer admin-token-9999".to_owned());
        assert_eq!(
            admin_get(&harness, &wrong, path).await.status,
            401,
            "{path}"
        );
    }
    let allowed = TestClient::new(&harness.ca_file, "Bearer admin-token-1234".to_owned());
    assert_eq!(admin_get(&harness, &allowed, "/metrics").await.status, 200);
    assert_eq!(
        admin_get(&harness, &allowed, "/admin/stores").await.status,
        200
    );
    // Probes stay open so that an orchestrator can reach them without the token.
    assert_eq!(
        admin_get(&harness, &harness.client, "/healthz")
            .await
            .status,
        200
    );
    assert_eq!(
        admin_get(&harness, &harness.client, "/readyz").await.status,
        200
    );
}

#[tokio::test]
async fn reload_under_load_never_mixes_tables() {
    let harness = std::sync::Arc::new(Harness::start_with(with_admin()).await);

    // Clients keep asking for the legacy store, by path and by query at once.
    let mut clients = Vec::new();
    for _ in 0..4 {
        let harness = harness.clone();
        clients.push(tokio::spawn(async move {
            let mut replies = Vec::new();
            for _ in 0..25 {
                let reply = harness
                    .get(Mode::Mirror, &format!("/stores/{LEGACY}?storeId={LEGACY}"))
                    .await;
                replies.push((reply.status, reply.json()["storeId"].clone()));
            }
            replies
        }));
    }

    // Meanwhile the legacy store is remapped back and forth.
    for round in 0..20 {
        let (from, to) = if round % 2 == 0 {
            (CONNECT, MANUAL_STORE)
        } else {
            (MANUAL_STORE, CONNECT)
        };
        rewrite_config(&harness, |text| {
            text.replace(&format!("connect = {from}"), &format!("connect = {to}"))
        });
        let reload = admin_reload(&harness).await;
        assert_eq!(reload.status, 200, "{}", reload.text());
        tokio::task::yield_now().await;
    }

    for client in clients {
        for (status, store_id) in client.await.expect("client task") {
            assert_eq!(status, 200);
            assert_eq!(
                store_id, LEGACY,
                "the answer was translated back with the table the call used"
            );
        }
    }
    for request in harness.sandbox.requests() {
        let Some(rest) = request.path_and_query.strip_prefix("/stores/") else {
            continue;
        };
        let (path_id, query) = rest.split_once('?').expect("query");
        let query_id = query.trim_start_matches("storeId=");
        assert_eq!(
            path_id, query_id,
            "path and query came from one table: {}",
            request.path_and_query
        );
        assert!(
            path_id == CONNECT.to_string() || path_id == MANUAL_STORE.to_string(),
            "{path_id}"
        );
    }
}

#[tokio::test]
async fn bad_reload_changes_nothing() {
    let harness = Harness::start_with(with_admin()).await;
    let good = std::fs::read_to_string(&harness.config_path).expect("config");

    let broken_files = [
        good.replace(
            &format!("connect = {CONNECT}"),
            &format!("connect = {LEGACY}"),
        ),
        good.replace("cert = \"server.crt\"", "cert = \"missing.crt\""),
        good.replace("[upstream]", "[upstream]\nunknown_key = 1"),
    ];
    for (index, broken) in broken_files.iter().enumerate() {
        rewrite_config(&harness, |_| broken.clone());
        let reload = admin_reload(&harness).await;
        assert_eq!(reload.status, 422, "case {index}: {}", reload.text());
        assert_eq!(reload.json()["reloaded"], false);
        assert!(reload.json()["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }

    let stores = admin_get(&harness, &harness.client, "/admin/stores").await;
    assert_eq!(stores.json()["stores"][0]["connect"], CONNECT);
    harness.sandbox.clear_requests();
    let reply = harness
        .get(Mode::Mirror, &format!("/stores/{LEGACY}"))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        harness.sandbox.requests()[0].path_and_query,
        format!("/stores/{CONNECT}")
    );
    let metrics = admin_get(&harness, &harness.client, "/metrics")
        .await
        .text();
    assert_eq!(
        common::metric(&metrics, "storebridge_reload_failures_total", &[]),
        3.0,
        "{metrics}"
    );
    assert_eq!(
        common::metric(&metrics, "storebridge_reloads_total", &[]),
        0.0,
        "{metrics}"
    );
}

#[tokio::test]
async fn certificate_swap_keeps_open_connections() {
    use hyper_util::rt::TokioIo;

    let harness = Harness::start_with(with_admin()).await;
    let address = harness.mirror_url.trim_start_matches("https://").to_owned();

    // One connection made with the first certificate.
    let old_tls = storebridge::tls::client_config(Some(&harness.ca_file)).expect("tls");
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(old_tls));
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let tcp = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    let stream = connector
        .connect(name.clone(), tcp)
        .await
        .expect("handshake");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("http handshake");
    tokio::spawn(connection);
    let request = || {
        http::Request::get(format!("/stores/{LEGACY}"))
            .header("host", address.as_str())
            .header("authorization", harness.client.authorization.as_str())
            .body(http_body_util::Empty::<Bytes>::new())
            .expect("request")
    };
    assert_eq!(
        sender
            .send_request(request())
            .await
            .expect("first")
            .status(),
        200
    );

    // New certificates from a new CA, in place of the old files.
    let fresh = tempfile::tempdir().expect("folder");
    let new_certs = storebridge::certs::write_dev_certs(fresh.path(), &[]).expect("certificates");
    std::fs::copy(&new_certs.server_cert, harness.folder.join("server.crt")).expect("copy cert");
    std::fs::copy(&new_certs.server_key, harness.folder.join("server.key")).expect("copy key");
    let reload = admin_reload(&harness).await;
    assert_eq!(reload.status, 200, "{}", reload.text());
    assert_eq!(reload.json()["report"]["certificates_reloaded"], 2);

    // The open connection keeps working.
    assert_eq!(
        sender
            .send_request(request())
            .await
            .expect("second")
            .status(),
        200
    );

    // A new handshake presents the new certificate: the old CA no longer verifies it.
    let tcp = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    assert!(
        connector.connect(name, tcp).await.is_err(),
        "old CA rejected"
    );
    let new_client = TestClient::new(&new_certs.ca_cert, harness.client.authorization.clone());
    let reply = new_client
        .send(
            Method::GET,
            &format!("{}/stores/{LEGACY}", harness.mirror_url),
            None,
            &[],
        )
        .await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn shutdown_finishes_in_flight_request() {
    use tokio::sync::{mpsc, oneshot};

    // A plain-HTTP upstream on loopback that answers only when the test says so.
    let (arrived_sender, mut arrived) = mpsc::unbounded_channel::<oneshot::Sender<()>>();
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let upstream_address = upstream.local_addr().expect("address");
    let (_upstream_stop, upstream_stopped) = oneshot::channel::<()>();
    tokio::spawn(storebridge::listener::serve(
        upstream,
        None::<storebridge::listener::TlsSource>,
        storebridge::listener::ConnectionLimits::default(),
        move |_request| {
            let arrived_sender = arrived_sender.clone();
            async move {
                let (release, released) = oneshot::channel();
                let _ = arrived_sender.send(release);
                let _ = released.await;
                let mut response = http::Response::new(http_body_util::Full::new(
                    Bytes::from_static(b"{\"storeId\":7654321}"),
                ));
                response.headers_mut().insert(
                    "content-type",
                    http::HeaderValue::from_static("application/json"),
                );
                response
            }
        },
        async move {
            let _ = upstream_stopped.await;
        },
    ));

    let mut harness = Harness::start_with(HarnessOptions {
        upstream: Some(format!("http://{upstream_address}")),
        admin: true,
        ..HarnessOptions::default()
    })
    .await;
    let admin_url = harness.admin_url.clone().expect("admin");
    let client = TestClient::new(&harness.ca_file, harness.client.authorization.clone());
    let ca_file = harness.ca_file.clone();
    let url = format!("{}/stores/{LEGACY}", harness.mirror_url);
    let in_flight = tokio::spawn(async move { client.send(Method::GET, &url, None, &[]).await });

    // Stop the proxy while the request waits upstream, then let upstream answer.
    let release = arrived.recv().await.expect("request reached upstream");
    let mirror_address = harness.mirror_url.trim_start_matches("https://").to_owned();
    let stopping = tokio::spawn(async move {
        harness.stop().await;
    });
    // The listener stops accepting before the in-flight request is released.
    let mut refused = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(&mirror_address)
            .await
            .is_err()
        {
            refused = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(refused, "the proxy stopped accepting new connections");
    // The admin listener keeps serving during the drain, and reports not ready.
    let probe = TestClient::new(&ca_file, String::new());
    let ready = probe
        .send(Method::GET, &format!("{admin_url}/readyz"), None, &[])
        .await;
    assert_eq!(ready.status, 503, "{}", ready.text());
    assert_eq!(ready.json()["ready"], false);
    let _ = release.send(());

    let reply = in_flight.await.expect("client task");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["storeId"], LEGACY);
    stopping.await.expect("proxy stopped after draining");
}

#[tokio::test(start_paused = true)]
async fn shared_budget_holds_instead_of_429() {
    let harness = std::sync::Arc::new(
        Harness::start_with(HarnessOptions {
            sandbox_rate_limit: 3,
            max_wait: Duration::from_secs(300),
            // The limiter's waits must follow this test's paused clock.
            workers: Some(0),
            ..HarnessOptions::default()
        })
        .await,
    );
    // The first answer tells storebridge the state of the window.
    let first = harness.get(Mode::Translate, "/orders?page=1").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.headers["x-rate-limit-remaining"], "2");

    // Eight more clients, each starting after the one before it has queued.
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    for page in 2..=9 {
        let harness = harness.clone();
        let sender = sender.clone();
        tokio::spawn(async move {
            let reply = harness
                .get(Mode::Translate, &format!("/orders?page={page}"))
                .await;
            let _ = sender.send((page, reply.status.as_u16()));
        });
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }
    drop(sender);
    let mut statuses = Vec::new();
    while let Some(result) = receiver.recv().await {
        statuses.push(result);
    }
    assert_eq!(statuses.len(), 8);
    assert!(
        statuses.iter().all(|(_, status)| *status == 200),
        "no client saw a 429: {statuses:?}"
    );

    let pages: Vec<String> = harness
        .sandbox
        .requests()
        .iter()
        .filter_map(|r| {
            r.path_and_query
                .strip_prefix("/orders?page=")
                .map(str::to_owned)
        })
        .collect();
    let expected: Vec<String> = (1..=9).map(|page| page.to_string()).collect();
    assert_eq!(
        pages, expected,
        "the sandbox saw the requests first come, first served"
    );
}

#[tokio::test(start_paused = true)]
async fn budget_wait_beyond_max_wait_gets_429() {
    let harness = Harness::start_with(HarnessOptions {
        sandbox_rate_limit: 2,
        max_wait: Duration::from_secs(5),
        // The limiter's waits must follow this test's paused clock.
        workers: Some(0),
        ..HarnessOptions::default()
    })
    .await;
    for page in 1..=2 {
        let reply = harness
            .get(Mode::Mirror, &format!("/orders?page={page}"))
            .await;
        assert_eq!(reply.status, 200);
    }
    harness.sandbox.clear_requests();
    let reply = harness.get(Mode::Mirror, "/orders?page=3").await;
    assert_eq!(reply.status, 429, "{}", reply.text());
    assert_eq!(reply.json()["code"], "rate_limited");
    let retry_after: u64 = reply.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(reply.headers["x-rate-limit-remaining"], "0");
    assert_eq!(reply.headers["x-rate-limit-limit"], "2");
    assert!(
        harness.sandbox.requests().is_empty(),
        "the request never reached ShipStation"
    );
}

#[tokio::test]
async fn request_looping_back_gets_508() {
    let folder = tempfile::tempdir().expect("folder");
    let certs = storebridge::certs::write_dev_certs(folder.path(), &[]).expect("certificates");
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = socket.local_addr().expect("address");
    // The upstream is the proxy itself, as when a hosts entry points ShipStation's name
    // at the proxy and nothing pins the real address.
    let text = format!(
        "[[listener]]\nbind = \"{address}\"\n[listener.tls]\ncert = \"server.crt\"\nkey = \"server.key\"\n\
         [upstream]\nv1 = \"https://{address}\"\nca_file = \"ca.crt\"\n[[store]]\nlegacy = {LEGACY}\nconnect = {CONNECT}\n"
    );
    let path = folder.path().join("storebridge.toml");
    std::fs::write(&path, text).expect("config");
    let config = storebridge::config::Config::load(&path).expect("config");
    let bound = storebridge::server::Bound {
        listeners: vec![socket],
        admin: None,
        ingress: None,
    };
    let server = storebridge::server::Server::start(config, None, bound)
        .await
        .expect("start");

    let client = TestClient::new(
        &certs.ca_cert,
        "Basic c2FuZGJveC1rZXk6c2FuZGJveC1zZWNyZXQ=".to_owned(),
    );
    let reply = client
        .send(Method::GET, &format!("https://{address}/stores"), None, &[])
        .await;
    assert_eq!(reply.status, 508, "{}", reply.text());
    assert_eq!(reply.json()["code"], "loop_detected");
    assert!(reply.json()["message"]
        .as_str()
        .is_some_and(|m| m.contains("resolve")));
    server.stop().await;
}

#[tokio::test]
async fn upstream_host_pinned_by_resolve() {
    // The name ends in .test, which never resolves in DNS: only the pin can reach it, and
    // no lookup leaves the machine.
    let harness = Harness::start_with(HarnessOptions {
        sandbox_host: Some("ssapi.shipstation.test".to_owned()),
        ..HarnessOptions::default()
    })
    .await;
    let config = std::fs::read_to_string(&harness.config_path).expect("config");
    assert!(
        config.contains("resolve = [\"ssapi.shipstation.test:"),
        "{config}"
    );
    harness.sandbox.clear_requests();
    let reply = harness
        .get(Mode::Mirror, &format!("/stores/{LEGACY}"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["storeId"], LEGACY);
    let seen = harness.sandbox.requests();
    let host = seen[0].header("host").expect("host header");
    assert!(host.starts_with("ssapi.shipstation.test:"), "{host}");
}
