//! The configuration file: TOML, read once at start-up and validated before anything binds.
//!
//! Every key is documented in `storebridge.example.toml` at the repository root. Relative
//! paths (certificates, CA bundles) are resolved against the folder of the config file, so
//! a config works the same from any working directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::relay::config::RelayConfig;
use crate::storage::StorageConfig;
use crate::stores::{StoreMap, StorePair};

/// Errors found while reading or validating a config file. Each names the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config file {path}")]
    Parse {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("invalid value for `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

/// How a listener treats responses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Calls are translated and responses are translated back, so the client keeps seeing
    /// legacy store IDs.
    #[default]
    Mirror,
    /// Calls are translated and responses pass through untouched.
    Translate,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Mirror => "mirror",
            Mode::Translate => "translate",
        }
    }
}

/// The whole configuration file. `Default` gives no listeners and the default of every
/// other key; programs that build a config in code start from it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(rename = "listener", default)]
    pub listeners: Vec<ListenerConfig>,
    #[serde(default)]
    pub upstream: UpstreamConfig,
    #[serde(rename = "store", default)]
    pub stores: Vec<StorePair>,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub admin: Option<AdminConfig>,
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    /// On SIGTERM or SIGINT, in-flight requests get this long to finish. Default 30 s, as
    /// Kubernetes' default termination grace period is 30 s.
    #[serde(default = "default_drain_timeout", with = "humantime_serde")]
    pub drain_timeout: Duration,
    /// Threads that serve the proxy listeners' connections, each with its own runtime and
    /// upstream connections. Default: one per CPU the process may use. 0 serves them on the
    /// main runtime, whose threads share all tasks.
    #[serde(default)]
    pub workers: Option<usize>,
    pub relay: Option<RelayConfig>,
    pub storage: Option<StorageConfig>,
    #[serde(default)]
    pub guard: GuardConfig,
}

/// `[guard]`: refusals the proxy makes on the merchant's behalf.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardConfig {
    /// Returns 409 to label and mark-as-shipped calls for Miva Connect orders that
    /// `storebridge migrate scan` found already shipped from the legacy store. Default off.
    #[serde(default)]
    pub double_ship: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listeners: Vec::new(),
            upstream: UpstreamConfig::default(),
            stores: Vec::new(),
            limits: LimitsConfig::default(),
            admin: None,
            rate_limit: RateLimitConfig::default(),
            drain_timeout: default_drain_timeout(),
            workers: None,
            relay: None,
            storage: None,
            guard: GuardConfig::default(),
        }
    }
}

/// `[admin]`: health, readiness, metrics and reloads, on a listener of their own.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    pub bind: SocketAddr,
    /// Bearer token for every admin request. Required when `bind` is not loopback.
    pub token: Option<crate::secret::Secret>,
}

/// `[rate_limit]`: the budget all clients behind storebridge share.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// A request that would wait longer than this for the next window gets 429 instead.
    /// Default 30 s: half of ShipStation's one-minute window, below most client timeouts.
    #[serde(default = "default_max_wait", with = "humantime_serde")]
    pub max_wait: Duration,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            max_wait: default_max_wait(),
        }
    }
}

/// One `[[listener]]`: an address that API clients connect to.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    pub bind: SocketAddr,
    #[serde(default)]
    pub mode: Mode,
    pub tls: Option<TlsFiles>,
    /// Allows a listener without TLS on a non-loopback address. Credentials then cross the
    /// network in clear text, so this is for test networks only.
    #[serde(default)]
    pub dangerous_plaintext: bool,
    /// Time a client has to send a complete request head. Default 10 s: enough for any
    /// real client, short enough that idle sockets cannot pile up.
    #[serde(default = "default_header_read_timeout", with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Time a keep-alive connection may sit without a request before it is closed.
    /// Default 90 s, longer than the 60 s idle timeout of most HTTP client pools.
    #[serde(default = "default_idle_timeout", with = "humantime_serde")]
    pub idle_timeout: Duration,
}

/// Certificate chain and private key files, PEM.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// `[upstream]`: where ShipStation is and how to reach it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Base URL of the ShipStation V1 API.
    #[serde(default = "default_v1")]
    pub v1: String,
    /// Extra trusted roots (PEM), added to the public web PKI roots.
    pub ca_file: Option<PathBuf>,
    /// Default 5 s: a TCP and TLS handshake to ShipStation takes well under a second.
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Time from sending a request to the end of the response head. Default 60 s, because
    /// label purchases and large order pages can take tens of seconds upstream.
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Fixed addresses for upstream hosts, as curl's `--resolve`: `"HOST:PORT=ADDRESS"`.
    /// Needed when clients reach storebridge through a hosts entry for the ShipStation
    /// name, which would otherwise send storebridge's own requests back to itself.
    #[serde(default)]
    pub resolve: Vec<String>,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            v1: default_v1(),
            ca_file: None,
            connect_timeout: default_connect_timeout(),
            request_timeout: default_request_timeout(),
            resolve: Vec::new(),
        }
    }
}

/// `[limits]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest request or response body storebridge buffers to rewrite, in bytes or with a
    /// unit ("64MiB"). Default 64 MiB: a full 500-order V1 page is about 1.5 MB.
    #[serde(
        default = "default_max_body",
        deserialize_with = "deserialize_byte_size"
    )]
    pub max_body: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_body: default_max_body(),
        }
    }
}

fn default_header_read_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_idle_timeout() -> Duration {
    Duration::from_secs(90)
}
fn default_v1() -> String {
    "https://ssapi.shipstation.com".to_owned()
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_drain_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_max_wait() -> Duration {
    Duration::from_secs(30)
}
fn default_max_body() -> u64 {
    64 * 1024 * 1024
}

fn deserialize_byte_size<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u64),
        Text(String),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Number(bytes) => Ok(bytes),
        Raw::Text(text) => parse_byte_size(&text).map_err(serde::de::Error::custom),
    }
}

/// Parses sizes such as `1048576`, `512KiB`, `64 MiB` or `1GB`.
pub fn parse_byte_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits.parse().map_err(|_| {
        format!("{text:?} is not a size; write bytes or a number with a unit such as \"64MiB\"")
    })?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "kib" => 1 << 10,
        "mb" => 1_000_000,
        "mib" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size unit {other:?}; use B, KiB, MiB, GiB, kB, MB or GB"
            ))
        }
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("{text:?} is too large"))
}

impl Config {
    /// Reads, parses and validates a config file. Relative paths become absolute, resolved
    /// against the file's folder.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        Self::parse(&text, path, base)
    }

    /// Parses and validates config text; `base` is the folder relative paths start from.
    pub fn parse(text: &str, path: &Path, base: &Path) -> Result<Self, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })?;
        config.resolve_paths(base);
        config.validate()?;
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        for listener in &mut self.listeners {
            if let Some(tls) = &mut listener.tls {
                resolve(&mut tls.cert);
                resolve(&mut tls.key);
            }
        }
        if let Some(ca) = &mut self.upstream.ca_file {
            resolve(ca);
        }
        if let Some(storage) = &mut self.storage {
            resolve(&mut storage.data_dir);
        }
        if let Some(relay) = &mut self.relay {
            relay.resolve_paths(base);
        }
    }

    /// Checks the rules serde cannot express. The first problem found is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.listeners.is_empty() {
            return Err(invalid(
                "listener",
                "no [[listener]] is configured; add one with at least `bind = \"127.0.0.1:8443\"`",
            ));
        }
        if let Some(workers) = self.workers {
            let max = crate::listener::shards::MAX_SHARDS;
            if workers > max {
                return Err(invalid(
                    "workers",
                    format!(
                        "must be 0 to {max}, got {workers}; 0 serves connections on the main \
                         runtime, and leaving the key out gives one worker per CPU"
                    ),
                ));
            }
        }
        for (index, listener) in self.listeners.iter().enumerate() {
            let key = format!("listener[{index}]");
            if listener.tls.is_none()
                && !listener.bind.ip().is_loopback()
                && !listener.dangerous_plaintext
            {
                return Err(invalid(
                    format!("{key}.tls"),
                    format!(
                        "listener on {} has no [listener.tls]; plaintext is allowed only on a loopback \
                         address, or with `dangerous_plaintext = true` on a trusted test network",
                        listener.bind
                    ),
                ));
            }
            if listener.header_read_timeout.is_zero() {
                return Err(invalid(
                    format!("{key}.header_read_timeout"),
                    "must be greater than zero, for example \"10s\"",
                ));
            }
            if listener.idle_timeout.is_zero() {
                return Err(invalid(
                    format!("{key}.idle_timeout"),
                    "must be greater than zero, for example \"90s\"",
                ));
            }
            for (other_index, other) in self.listeners.iter().enumerate().skip(index + 1) {
                if other.bind == listener.bind && listener.bind.port() != 0 {
                    return Err(invalid(
                        format!("listener[{other_index}].bind"),
                        format!("{} is already used by {key}", other.bind),
                    ));
                }
            }
        }
        crate::upstream::UpstreamTarget::parse(&self.upstream.v1)
            .map_err(|reason| invalid("upstream.v1", reason))?;
        if self.upstream.connect_timeout.is_zero() {
            return Err(invalid(
                "upstream.connect_timeout",
                "must be greater than zero",
            ));
        }
        if self.upstream.request_timeout.is_zero() {
            return Err(invalid(
                "upstream.request_timeout",
                "must be greater than zero",
            ));
        }
        if self.limits.max_body == 0 {
            return Err(invalid("limits.max_body", "must be greater than zero"));
        }
        crate::upstream::ResolveOverrides::parse(&self.upstream.resolve)
            .map_err(|reason| invalid("upstream.resolve", reason))?;
        if let Some(admin) = &self.admin {
            if !admin.bind.ip().is_loopback()
                && admin.token.as_ref().is_none_or(|t| t.expose().is_empty())
            {
                return Err(invalid(
                    "admin.token",
                    format!(
                        "the admin listener on {} is not loopback, so it needs a bearer token; set \
                         `token` (for example from a Secret) or bind it to 127.0.0.1",
                        admin.bind
                    ),
                ));
            }
            if self
                .listeners
                .iter()
                .any(|l| l.bind == admin.bind && admin.bind.port() != 0)
            {
                return Err(invalid(
                    "admin.bind",
                    format!("{} is already used by a [[listener]]", admin.bind),
                ));
            }
        }
        self.store_map()?;
        if let Some(relay) = &self.relay {
            relay.validate(self.storage.is_some())?;
        }
        if self.guard.double_ship && self.storage.is_none() {
            return Err(invalid(
                "guard.double_ship",
                "needs [storage] data_dir, where `storebridge migrate scan` records the orders already shipped",
            ));
        }
        Ok(())
    }

    /// Builds the mapping table from the `[[store]]` pairs.
    pub fn store_map(&self) -> Result<StoreMap, ConfigError> {
        StoreMap::new(self.stores.clone()).map_err(|err| invalid("store", err.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("test.toml"), Path::new("/etc/storebridge"))
    }

    const MINIMAL: &str = r#"
        [[listener]]
        bind = "127.0.0.1:8443"
        [upstream]
        [[store]]
        legacy = 12345
        connect = 7654321
    "#;

    fn invalid_key(result: Result<Config, ConfigError>) -> String {
        match result {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid key, got {other:?}"),
        }
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let config = parse(MINIMAL).expect("valid");
        assert_eq!(config.listeners[0].mode, Mode::Mirror);
        assert_eq!(config.upstream.v1, "https://ssapi.shipstation.com");
        assert_eq!(config.upstream.request_timeout, Duration::from_secs(60));
        assert_eq!(config.limits.max_body, 64 << 20);
        assert_eq!(config.store_map().expect("map").pairs().len(), 1);
    }

    #[test]
    fn relative_paths_resolve_against_config_folder() {
        let text = MINIMAL.replace(
            "bind = \"127.0.0.1:8443\"",
            "bind = \"127.0.0.1:8443\"\n[listener.tls]\ncert = \"certs/a.crt\"\nkey = \"/abs/a.key\"",
        );
        let config = parse(&text).expect("valid");
        let tls = config.listeners[0].tls.as_ref().expect("tls");
        assert_eq!(tls.cert, Path::new("/etc/storebridge/certs/a.crt"));
        assert_eq!(tls.key, Path::new("/abs/a.key"));
    }

    #[test]
    fn workers_are_bounded() {
        assert_eq!(parse(MINIMAL).expect("valid").workers, None);
        let zero = format!("workers = 0\n{MINIMAL}");
        assert_eq!(parse(&zero).expect("0 is allowed").workers, Some(0));
        let too_many = format!("workers = 65\n{MINIMAL}");
        assert_eq!(invalid_key(parse(&too_many)), "workers");
    }

    #[test]
    fn plaintext_off_loopback_rejected() {
        let text = MINIMAL.replace("127.0.0.1:8443", "0.0.0.0:8443");
        assert_eq!(invalid_key(parse(&text)), "listener[0].tls");
        let allowed = text.replace(
            "bind = \"0.0.0.0:8443\"",
            "bind = \"0.0.0.0:8443\"\ndangerous_plaintext = true",
        );
        assert!(parse(&allowed).is_ok());
    }

    #[test]
    fn duplicate_store_rejected() {
        let text = format!("{MINIMAL}\n[[store]]\nlegacy = 12345\nconnect = 999");
        assert_eq!(invalid_key(parse(&text)), "store");
    }

    #[test]
    fn plain_http_upstream_only_on_loopback() {
        let text = MINIMAL.replace(
            "[upstream]",
            "[upstream]\nv1 = \"http://ssapi.shipstation.com\"",
        );
        assert_eq!(invalid_key(parse(&text)), "upstream.v1");
        let local = MINIMAL.replace("[upstream]", "[upstream]\nv1 = \"http://127.0.0.1:8500\"");
        assert!(parse(&local).is_ok());
    }

    #[test]
    fn unknown_key_names_the_key() {
        let text = MINIMAL.replace("[upstream]", "[upstream]\nrequest_timout = \"5s\"");
        let error = parse(&text).expect_err("unknown key");
        let message = crate::error::ErrorChain(&error).to_string();
        assert!(message.contains("request_timout"), "{message}");
    }

    #[test]
    fn bad_mode_and_duration_rejected() {
        let mode = MINIMAL.replace(
            "bind = \"127.0.0.1:8443\"",
            "bind = \"127.0.0.1:8443\"\nmode = \"mirrored\"",
        );
        let error = parse(&mode).expect_err("bad mode");
        let message = crate::error::ErrorChain(&error).to_string();
        assert!(message.contains("mirrored"), "{message}");
        let duration = MINIMAL.replace("[upstream]", "[upstream]\nconnect_timeout = \"five\"");
        assert!(parse(&duration).is_err());
    }

    #[test]
    fn byte_sizes_parse() {
        assert_eq!(parse_byte_size("1024"), Ok(1024));
        assert_eq!(parse_byte_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_byte_size("2 kB"), Ok(2000));
        assert!(parse_byte_size("12 parsecs").is_err());
        assert!(parse_byte_size("MiB").is_err());
    }

    #[test]
    fn admin_off_loopback_needs_token() {
        let text = format!("{MINIMAL}\n[admin]\nbind = \"0.0.0.0:9090\"\n");
        assert_eq!(invalid_key(parse(&text)), "admin.token");
        let with_token = format!("{text}token = \"s3cret-token\"\n");
        assert!(parse(&with_token).is_ok());
        let loopback = format!("{MINIMAL}\n[admin]\nbind = \"127.0.0.1:9090\"\n");
        assert!(parse(&loopback).is_ok());
    }

    #[test]
    fn resolve_entries_validated() {
        let good = MINIMAL.replace(
            "[upstream]",
            "[upstream]\nresolve = [\"ssapi.shipstation.com:443=203.0.113.10\"]",
        );
        assert!(parse(&good).is_ok());
        let bad = MINIMAL.replace(
            "[upstream]",
            "[upstream]\nresolve = [\"ssapi.shipstation.com=203.0.113.10\"]",
        );
        assert_eq!(invalid_key(parse(&bad)), "upstream.resolve");
    }

    #[test]
    fn zero_listener_timeouts_rejected() {
        for key in ["idle_timeout", "header_read_timeout"] {
            let text = MINIMAL.replace(
                "bind = \"127.0.0.1:8443\"",
                &format!("bind = \"127.0.0.1:8443\"\n{key} = \"0s\""),
            );
            assert_eq!(invalid_key(parse(&text)), format!("listener[0].{key}"));
        }
    }

    #[test]
    fn upstream_section_optional() {
        let config = parse("[[listener]]\nbind = \"127.0.0.1:8443\"\n").expect("valid");
        assert_eq!(config.upstream.v1, "https://ssapi.shipstation.com");
    }

    #[test]
    fn no_listener_rejected() {
        let text = "[upstream]\n";
        assert_eq!(invalid_key(parse(text)), "listener");
    }
}
