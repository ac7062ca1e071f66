//! `storebridge demo` and `storebridge sandbox`: the proxy's main job on the embedded
//! default, against the in-process ShipStation sandbox, with development certificates.

use std::net::SocketAddr;
use std::path::PathBuf;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;

use crate::config::{Config, ListenerConfig, Mode, TlsFiles, UpstreamConfig};
use crate::sandbox::{Sandbox, SandboxOptions};
use crate::stores::{StoreId, StorePair};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Runs the sandbox alone until Ctrl-C.
pub async fn run_sandbox(
    bind: SocketAddr,
    tls_files: Option<(PathBuf, PathBuf)>,
    rate_limit: u32,
    webhook_ca: Option<PathBuf>,
) -> Result<(), BoxError> {
    let tls = match &tls_files {
        Some((cert, key)) => Some(crate::tls::server_config(cert, key)?),
        None => None,
    };
    let options = SandboxOptions {
        rate_limit_per_minute: rate_limit,
        webhook_ca_file: webhook_ca,
        ..SandboxOptions::default()
    };
    let sandbox = Sandbox::new(options.clone())?;
    let shutdown = crate::signals::listen();
    let listener = TcpListener::bind(bind).await.map_err(|error| {
        format!("cannot bind the sandbox to {bind}: {error}; pick another address with --bind")
    })?;
    let address = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("ShipStation sandbox on {scheme}://{address}");
    println!(
        "  credentials: {}:{} (HTTP Basic)",
        options.api_key, options.api_secret
    );
    println!(
        "  stores: legacy Miva {} (inactive), Miva Connect {}, manual {}",
        options.legacy_store_id, options.connect_store_id, options.manual_store_id
    );
    println!("Ctrl-C stops it.");
    sandbox.serve(listener, tls, shutdown.recv()).await;
    Ok(())
}

/// Runs the demo: sandbox upstream, development certificates in a temporary folder, the
/// proxy on `bind`, a few translated calls, then serving until Ctrl-C.
pub async fn run(bind: SocketAddr) -> Result<(), BoxError> {
    let shutdown = crate::signals::listen();

    // Certificates, shared by the sandbox and the proxy.
    let folder = tempfile::Builder::new()
        .prefix("storebridge-demo-")
        .tempdir()?;
    let certs = crate::certs::write_dev_certs(folder.path(), &[])?;
    let server_tls = crate::tls::server_config(&certs.server_cert, &certs.server_key)?;

    // The sandbox, on a port of its own.
    let options = SandboxOptions::default();
    let sandbox = Sandbox::new(options.clone())?;
    let sandbox_listener = TcpListener::bind("127.0.0.1:0").await?;
    let sandbox_address = sandbox_listener.local_addr()?;
    let (stop_sender, stop_receiver) = tokio::sync::watch::channel(false);
    let sandbox_task = tokio::spawn(sandbox.clone().serve(
        sandbox_listener,
        Some(server_tls),
        wait_for(stop_receiver.clone()),
    ));

    // The proxy, mirroring legacy store IDs.
    let config = demo_config(bind, &certs, sandbox_address, &options);
    let bound = crate::server::bind(&config).await.map_err(|error| {
        format!(
            "{}; is another demo running? pick another address with --bind",
            crate::error::ErrorChain(&error)
        )
    })?;
    let proxy_address = bound.listener_addresses().first().copied().unwrap_or(bind);
    let proxy_task = tokio::spawn(crate::server::run(
        config,
        None,
        bound,
        wait_for(stop_receiver),
    ));

    // Walk through a few calls.
    let base = format!("https://{proxy_address}");
    let client = DemoClient::new(&certs.ca_cert, sandbox.basic_auth_header())?;
    show_calls(&client, &sandbox, &base, &options).await?;
    print_try_it(&base, &certs.ca_cert, &options);

    shutdown.recv().await;
    let _ = stop_sender.send(true);
    let _ = proxy_task.await;
    let _ = sandbox_task.await;
    Ok(())
}

async fn wait_for(mut stop: tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

fn demo_config(
    bind: SocketAddr,
    certs: &crate::certs::DevCertPaths,
    sandbox: SocketAddr,
    options: &SandboxOptions,
) -> Config {
    Config {
        listeners: vec![ListenerConfig {
            bind,
            mode: Mode::Mirror,
            tls: Some(TlsFiles {
                cert: certs.server_cert.clone(),
                key: certs.server_key.clone(),
            }),
            dangerous_plaintext: false,
            header_read_timeout: std::time::Duration::from_secs(10),
            idle_timeout: std::time::Duration::from_secs(90),
        }],
        upstream: UpstreamConfig {
            v1: format!("https://{sandbox}"),
            ca_file: Some(certs.ca_cert.clone()),
            ..UpstreamConfig::default()
        },
        stores: vec![StorePair {
            legacy: StoreId(options.legacy_store_id),
            connect: StoreId(options.connect_store_id),
        }],
        ..Config::default()
    }
}

async fn show_calls(
    client: &DemoClient,
    sandbox: &Sandbox,
    base: &str,
    options: &SandboxOptions,
) -> Result<(), BoxError> {
    let legacy = options.legacy_store_id;
    let connect = options.connect_store_id;
    println!(
        "storebridge demo: legacy Miva store {legacy} is mapped to Miva Connect store {connect}."
    );
    println!("The client below only knows {legacy}; the sandbox (standing in for ShipStation) only sees {connect}.\n");

    let calls: [(Method, String, Option<String>); 3] = [
        (
            Method::GET,
            format!("/orders?storeId={legacy}&pageSize=2"),
            None,
        ),
        (Method::GET, format!("/stores/{legacy}"), None),
        (
            Method::POST,
            "/orders/createorder".to_owned(),
            Some(format!(
                r#"{{"orderNumber":"DEMO-{legacy}","orderKey":"demo-{legacy}","orderDate":"2026-12-04T08:00:00.0000000","orderStatus":"awaiting_shipment","billTo":{{"name":"Demo Buyer"}},"shipTo":{{"name":"Demo Buyer","street1":"1 Main St","city":"Austin","state":"TX","postalCode":"78701","country":"US"}},"advancedOptions":{{"storeId":{legacy},"customField1":"ref {legacy}"}}}}"#
            )),
        ),
    ];
    for (method, path, body) in calls {
        sandbox.clear_requests();
        let (status, response) = client
            .call(method.clone(), &format!("{base}{path}"), body.clone())
            .await?;
        println!("client  -> {method} {path}");
        if let Some(body) = &body {
            println!("           body: {}", excerpt(body, &["storeId"]));
        }
        for seen in sandbox.requests() {
            println!("sandbox <- {} {}", seen.method, seen.path_and_query);
            if !seen.body.is_empty() {
                println!(
                    "           body: {}",
                    excerpt(&String::from_utf8_lossy(&seen.body), &["storeId"])
                );
            }
        }
        println!(
            "client  <- {status}: {}\n",
            excerpt(&response, &["storeId", "orderNumber"])
        );
    }
    Ok(())
}

/// The parts of a JSON text around the named keys, so the walk-through stays readable.
fn excerpt(text: &str, keys: &[&str]) -> String {
    let mut parts = Vec::new();
    for key in keys {
        let needle = format!("\"{key}\":");
        for (index, _) in text.match_indices(&needle).take(2) {
            let end = text[index..]
                .find([',', '}'])
                .map(|offset| index + offset)
                .unwrap_or(text.len());
            parts.push(text[index..end].to_owned());
        }
    }
    if parts.is_empty() {
        text.chars().take(120).collect()
    } else {
        parts.join(" ... ")
    }
}

fn print_try_it(base: &str, ca: &std::path::Path, options: &SandboxOptions) {
    let auth = format!("{}:{}", options.api_key, options.api_secret);
    let legacy = options.legacy_store_id;
    let ca = ca.display();
    println!("The proxy keeps serving on {base} until Ctrl-C. Try:");
    println!("  curl --cacert {ca} -u {auth} '{base}/stores'");
    println!("  curl --cacert {ca} -u {auth} '{base}/orders?storeId={legacy}'");
    println!("  curl --cacert {ca} -u {auth} '{base}/stores/getrefreshstatus?storeId={legacy}'");
    println!(
        "  curl --cacert {ca} -u {auth} -H 'Content-Type: application/json' -d '{{\"storeId\":{legacy}}}' '{base}/stores/refreshstore'"
    );
}

/// A small HTTPS client trusting the demo CA.
struct DemoClient {
    client: Client<
        hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
        Full<Bytes>,
    >,
    authorization: String,
}

impl DemoClient {
    fn new(ca: &std::path::Path, authorization: String) -> Result<Self, BoxError> {
        let tls = crate::tls::client_config(Some(ca))?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .build();
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            authorization,
        })
    }

    async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<String>,
    ) -> Result<(u16, String), BoxError> {
        let mut request = Request::builder()
            .method(method)
            .uri(url)
            .header(http::header::AUTHORIZATION, &self.authorization);
        if body.is_some() {
            request = request.header(http::header::CONTENT_TYPE, "application/json");
        }
        let request = request.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        let response = self.client.request(request).await?;
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }
}
