//! Logging set-up. `RUST_LOG` overrides the default level, as in most Rust services.
//!
//! Level policy:
//! - `error`: a request or a webhook delivery was lost, or may have been (an upstream
//!   failure after the request was sent, a loop);
//! - `warn`: something failed and was recovered or can simply be retried (upstream
//!   unreachable before anything was sent, an accept error, a response left untranslated);
//! - `info`: lifecycle (listening, reloads, shutdown), plus the access log: one event per
//!   request under the target `storebridge::access`, which `RUST_LOG=info,storebridge::access=off`
//!   turns off;
//! - `debug`: per-request detail (rejections of bad client input, connection events).
//!
//! No level logs credentials, tokens or query values: the access log carries the route
//! template, never the query string.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber, writing to standard error.
pub fn init(json: bool, default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    // Colour codes only for a terminal: in a file or a log collector they are noise.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}
