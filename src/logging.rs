//! Logging set-up. `RUST_LOG` overrides the default level, as in most Rust services.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber, writing to standard error.
pub fn init(json: bool, default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}
