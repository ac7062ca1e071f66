//! Configuration reloads, on SIGHUP or `POST /admin/reload`.
//!
//! A reload re-reads the config file and applies what can change while serving: the store
//! mappings (swapped whole, so no request sees half of each table), listener certificates
//! (new handshakes use them, open connections keep theirs) and `rate_limit.max_wait`.
//! Changes to binds, modes, timeouts, `[upstream]`, `[limits]`, `[admin]`, `[relay]`,
//! `[storage]`, `[guard]`, `drain_timeout` and `workers` need a restart, so a reload
//! reports them and leaves them as they were.
//! A file that fails validation changes nothing.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::config::{Config, ConfigError};
use crate::error::ErrorChain;
use crate::listener::TlsSource;
use crate::proxy::Shared;
use crate::tls::TlsError;

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("no config file to reload from; this server was started without one")]
    NoConfigFile,
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot load the TLS files of listener[{index}]")]
    Tls {
        index: usize,
        #[source]
        source: TlsError,
    },
}

/// The result of a successful reload: what it applied and what it left for a restart.
#[derive(Debug, serde::Serialize)]
pub struct ReloadReport {
    pub store_pairs: usize,
    pub certificates_reloaded: usize,
    /// Keys that changed in the file but take effect only after a restart.
    pub restart_needed: Vec<String>,
}

pub struct Reloader {
    path: Option<PathBuf>,
    /// The configuration in force, compared against on each reload.
    current: Mutex<Config>,
    shared: Arc<Shared>,
    tls: Vec<Option<TlsSource>>,
}

impl Reloader {
    pub fn new(
        path: Option<PathBuf>,
        current: Config,
        shared: Arc<Shared>,
        tls: Vec<Option<TlsSource>>,
    ) -> Self {
        Self {
            path,
            current: Mutex::new(current),
            shared,
            tls,
        }
    }

    /// Re-reads the config file and applies it, or changes nothing and returns why.
    pub fn reload(&self) -> Result<ReloadReport, ReloadError> {
        // One reload at a time: a second caller waits and then reloads the newer file.
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match self.try_reload(&current) {
            Ok((report, next)) => {
                *current = next;
                self.shared.metrics.reloads.inc();
                tracing::info!(
                    store_pairs = report.store_pairs,
                    certificates = report.certificates_reloaded,
                    restart_needed = ?report.restart_needed,
                    "configuration reloaded"
                );
                Ok(report)
            }
            Err(error) => {
                self.shared.metrics.reload_failures.inc();
                // A warning, not an error: the previous configuration stays, so nothing is lost.
                tracing::warn!(error = %ErrorChain(&error), "reload rejected; the previous configuration stays in force");
                Err(error)
            }
        }
    }

    fn try_reload(&self, current: &Config) -> Result<(ReloadReport, Config), ReloadError> {
        let path = self.path.as_ref().ok_or(ReloadError::NoConfigFile)?;
        let next = Config::load(path)?;
        let map = next.store_map()?;

        // Prepare everything before applying anything, so a failure changes nothing.
        let mut restart_needed = restart_only_changes(current, &next);
        let mut certificates = Vec::new();
        for (index, source) in self.tls.iter().enumerate() {
            let files = next.listeners.get(index).and_then(|l| l.tls.as_ref());
            match (source, files) {
                (Some(source), Some(files)) => {
                    let config = crate::tls::server_config(&files.cert, &files.key)
                        .map_err(|source| ReloadError::Tls { index, source })?;
                    certificates.push((source, config));
                }
                (None, None) => {}
                _ => restart_needed.push(format!("listener[{index}].tls")),
            }
        }

        // Apply: each step is a single atomic swap.
        let report = ReloadReport {
            store_pairs: map.pairs().len(),
            certificates_reloaded: certificates.len(),
            restart_needed,
        };
        self.shared.stores.store(Arc::new(map));
        for (source, config) in certificates {
            source.replace(config);
        }
        self.shared
            .rate_limit
            .set_max_wait(next.rate_limit.max_wait);
        Ok((report, next))
    }
}

/// Keys whose new values need a restart.
fn restart_only_changes(current: &Config, next: &Config) -> Vec<String> {
    let mut changed = Vec::new();
    if current.listeners.len() != next.listeners.len() {
        changed.push("listener".to_owned());
    }
    for (index, (old, new)) in current.listeners.iter().zip(&next.listeners).enumerate() {
        if old.bind != new.bind {
            changed.push(format!("listener[{index}].bind"));
        }
        if old.mode != new.mode {
            changed.push(format!("listener[{index}].mode"));
        }
        if old.header_read_timeout != new.header_read_timeout
            || old.idle_timeout != new.idle_timeout
        {
            changed.push(format!("listener[{index}] timeouts"));
        }
    }
    if format!("{:?}", current.upstream) != format!("{:?}", next.upstream) {
        changed.push("upstream".to_owned());
    }
    if current.limits.max_body != next.limits.max_body {
        changed.push("limits.max_body".to_owned());
    }
    let admin = |config: &Config| {
        config
            .admin
            .as_ref()
            .map(|a| (a.bind, a.token.as_ref().map(|t| t.expose().to_owned())))
    };
    if admin(current) != admin(next) {
        changed.push("admin".to_owned());
    }
    if current.drain_timeout != next.drain_timeout {
        changed.push("drain_timeout".to_owned());
    }
    if current.workers != next.workers {
        changed.push("workers".to_owned());
    }
    // The relay and the store are started once; their Debug output masks the signing secret,
    // so a changed secret alone is not reported.
    if format!("{:?}", current.relay) != format!("{:?}", next.relay) {
        changed.push("relay".to_owned());
    }
    if format!("{:?}", current.storage) != format!("{:?}", next.storage) {
        changed.push("storage".to_owned());
    }
    if current.guard.double_ship != next.guard.double_ship {
        changed.push("guard.double_ship".to_owned());
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_keys_include_workers() {
        let current = Config::default();
        let mut next = Config::default();
        assert!(restart_only_changes(&current, &next).is_empty());
        next.workers = Some(1);
        assert_eq!(restart_only_changes(&current, &next), vec!["workers"]);
    }
}
