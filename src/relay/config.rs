//! `[relay]` and `[relay.ingress]`: where ShipStation delivers webhooks and how storebridge
//! passes them on.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::signing::SigningSecret;
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
    /// Standard Webhooks secret (`whsec_` and base64); deliveries are signed when set.
    pub signing_secret: Option<SigningSecret>,
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

    /// Whether the relay should run.
    pub fn is_enabled(relay: Option<&RelayConfig>) -> bool {
        relay.is_some_and(|relay| relay.enabled)
    }
}
