//! `[relay]` and `[relay.ingress]`: where ShipStation delivers webhooks and how storebridge
//! passes them on.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::signing::{SecretError, SigningSecret};
use crate::config::{ConfigError, TlsFiles};
use crate::upstream::UpstreamTarget;

/// `[relay]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    #[serde(default)]
    pub enabled: bool,
    /// Base URL through which ShipStation reaches the ingress; subscriptions point at
    /// `{public_url}/hooks/{token}`.
    pub public_url: String,
    /// When set, `ssapi*.shipstation.com` hosts in `resource_url` are replaced by this base
    /// URL, so that subscribers fetch the resource through storebridge.
    pub api_public_url: Option<String>,
    /// Standard Webhooks secret (`whsec_` and base64); deliveries are signed when set. It
    /// is kept as text until [`RelayConfig::validate`], because a TOML parse error would
    /// quote the line that contains it.
    pub signing_secret: Option<SecretText>,
    /// Delay before each retry; an event is tried once more than this list is long, then
    /// dead-lettered. The default spreads 11 retries over about two days, so a subscriber
    /// can be down for a weekend day and still receive everything.
    #[serde(
        default = "default_retry_schedule",
        deserialize_with = "deserialize_durations"
    )]
    pub retry_schedule: Vec<Duration>,
    /// Bound on one delivery attempt, from connecting to reading the response. Default 15 s,
    /// because a subscriber should respond at once and do its work afterwards.
    #[serde(default = "default_delivery_timeout", with = "humantime_serde")]
    pub delivery_timeout: Duration,
    /// Deliveries in flight at once. Default 16, enough for a few slow subscribers without
    /// holding back the others.
    #[serde(default = "default_max_concurrent_deliveries")]
    pub max_concurrent_deliveries: usize,
    /// Extra trusted roots (PEM) for subscriber targets, added to the public web PKI roots.
    pub ca_file: Option<PathBuf>,
    /// Allows targets on loopback, private, link-local and other internal addresses. Any
    /// subscriber could then make storebridge send requests inside its network, so this is
    /// for tests and local development only.
    #[serde(default)]
    pub dangerous_allow_private_targets: bool,
    pub ingress: IngressConfig,
}

/// `[relay.ingress]`: the listener ShipStation posts webhooks to.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngressConfig {
    pub bind: SocketAddr,
    pub tls: Option<TlsFiles>,
    /// Allows the ingress without TLS on a non-loopback address, for test networks only.
    #[serde(default)]
    pub dangerous_plaintext: bool,
}

/// Configuration text that must not reach logs or error messages. `Debug` masks it.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct SecretText(String);

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretText(****)")
    }
}

fn default_retry_schedule() -> Vec<Duration> {
    [
        5, 30, 120, 600, 1_800, 3_600, 7_200, 14_400, 28_800, 43_200, 86_400,
    ]
    .into_iter()
    .map(Duration::from_secs)
    .collect()
}
fn default_delivery_timeout() -> Duration {
    Duration::from_secs(15)
}
fn default_max_concurrent_deliveries() -> usize {
    16
}

fn deserialize_durations<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Duration>, D::Error> {
    let texts = Vec::<String>::deserialize(deserializer)?;
    texts
        .iter()
        .map(|text| humantime::parse_duration(text).map_err(serde::de::Error::custom))
        .collect()
}

fn invalid(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        reason: reason.into(),
    }
}

impl RelayConfig {
    /// Makes relative paths absolute, against `base`.
    pub fn resolve_paths(&mut self, base: &Path) {
        let mut paths: Vec<&mut PathBuf> = self.ca_file.iter_mut().collect();
        if let Some(tls) = &mut self.ingress.tls {
            paths.push(&mut tls.cert);
            paths.push(&mut tls.key);
        }
        for path in paths {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }

    /// Checks the rules serde cannot express. `has_storage` is whether `[storage]` is set.
    pub fn validate(&self, has_storage: bool) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        if !has_storage {
            return Err(invalid(
                "storage.data_dir",
                "the relay keeps events in the embedded store; add [storage] with data_dir",
            ));
        }
        UpstreamTarget::parse(&self.public_url)
            .map_err(|reason| invalid("relay.public_url", reason))?;
        if let Some(url) = &self.api_public_url {
            UpstreamTarget::parse(url).map_err(|reason| invalid("relay.api_public_url", reason))?;
        }
        self.signing_secret()
            .map_err(|error| invalid("relay.signing_secret", error.to_string()))?;
        if self.retry_schedule.is_empty() {
            return Err(invalid(
                "relay.retry_schedule",
                "must list at least one delay, such as [\"5s\"]",
            ));
        }
        if self.delivery_timeout.is_zero() {
            return Err(invalid(
                "relay.delivery_timeout",
                "must be greater than zero",
            ));
        }
        if self.max_concurrent_deliveries == 0 {
            return Err(invalid(
                "relay.max_concurrent_deliveries",
                "must be greater than zero",
            ));
        }
        let ingress = &self.ingress;
        if ingress.tls.is_none() && !ingress.bind.ip().is_loopback() && !ingress.dangerous_plaintext
        {
            return Err(invalid(
                "relay.ingress.tls",
                format!(
                    "the ingress on {} has no [relay.ingress.tls]; plaintext is allowed only on a \
                     loopback address, or with `dangerous_plaintext = true` on a trusted test network",
                    ingress.bind
                ),
            ));
        }
        Ok(())
    }

    /// Parses `signing_secret`. Errors never contain the secret.
    pub fn signing_secret(&self) -> Result<Option<SigningSecret>, SecretError> {
        self.signing_secret
            .as_ref()
            .map(|text| text.0.parse())
            .transpose()
    }

    /// Whether the relay should run.
    pub fn is_enabled(relay: Option<&RelayConfig>) -> bool {
        relay.is_some_and(|relay| relay.enabled)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{Config, ConfigError};

    const BASE: &str = "[[listener]]\nbind = \"127.0.0.1:8443\"\n[upstream]\n";
    const RELAY: &str = "[relay]\nenabled = true\npublic_url = \"https://hooks.example.com\"\n\
        [relay.ingress]\nbind = \"127.0.0.1:8444\"\n";
    const STORAGE: &str = "[storage]\ndata_dir = \"data\"\n";

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("test.toml"), Path::new("/etc/storebridge"))
    }

    fn invalid_key(text: &str) -> String {
        match parse(text) {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid key, got {other:?}"),
        }
    }

    #[test]
    fn relay_defaults_and_paths() {
        let config = parse(&format!("{BASE}{RELAY}{STORAGE}")).expect("valid");
        let relay = config.relay.expect("relay");
        assert_eq!(relay.retry_schedule.len(), 11);
        assert_eq!(
            relay.retry_schedule[10],
            std::time::Duration::from_secs(86_400)
        );
        assert_eq!(relay.delivery_timeout, std::time::Duration::from_secs(15));
        assert!(!relay.dangerous_allow_private_targets);
        let storage = config.storage.expect("storage");
        assert_eq!(storage.data_dir, Path::new("/etc/storebridge/data"));
    }

    #[test]
    fn relay_needs_storage() {
        assert_eq!(invalid_key(&format!("{BASE}{RELAY}")), "storage.data_dir");
    }

    #[test]
    fn relay_ingress_off_loopback_needs_tls() {
        let text = format!("{BASE}{RELAY}{STORAGE}").replace("127.0.0.1:8444", "0.0.0.0:8444");
        assert_eq!(invalid_key(&text), "relay.ingress.tls");
    }

    #[test]
    fn relay_rejects_empty_schedule_and_bad_url() {
        let empty = format!("{BASE}{RELAY}{STORAGE}")
            .replace("enabled = true", "enabled = true\nretry_schedule = []");
        assert_eq!(invalid_key(&empty), "relay.retry_schedule");
        let plain = format!("{BASE}{RELAY}{STORAGE}").replace("https://hooks", "http://hooks");
        assert_eq!(invalid_key(&plain), "relay.public_url");
    }

    #[test]
    fn bad_secret_error_hides_secret() {
        let text = format!("{BASE}{RELAY}{STORAGE}").replace(
            "enabled = true",
            "enabled = true\nsigning_secret = \"hunter2-secret\"",
        );
        let error = parse(&text).expect_err("bad secret").to_string();
        assert!(error.contains("whsec_"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }
}
