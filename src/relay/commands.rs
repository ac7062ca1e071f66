//! The `storebridge relay` commands: list subscriptions and deliveries, and replay events.
//!
//! They open the store of `[storage]` beside a running `serve`, which SQLite allows. A
//! replayed event is sent by the running process within 5 s, its idle recheck interval.

use std::io::Write;
use std::path::PathBuf;

use super::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::storage::sqlite::SqliteStorage;
use crate::storage::{EventFilter, Storage, StorageError};

/// Maximum events a listing shows, newest first.
const LIST_LIMIT: u32 = 200;

/// `storebridge relay ...`.
#[derive(Debug, clap::Subcommand)]
pub enum RelayCommand {
    /// List relay subscriptions.
    Subscriptions {
        /// Configuration file whose [storage] names the relay store.
        #[arg(long)]
        config: PathBuf,
    },
    /// List relayed events, newest first (at most 200).
    Deliveries {
        /// Configuration file whose [storage] names the relay store.
        #[arg(long)]
        config: PathBuf,
        /// Only events still being retried (failed) or given up (dead).
        #[arg(long, value_enum)]
        status: Option<DeliveryStatus>,
    },
    /// Deliver an event again, or every dead letter with --dead.
    Replay {
        /// Configuration file whose [storage] names the relay store.
        #[arg(long)]
        config: PathBuf,
        /// The event ID, as `relay deliveries` lists it.
        #[arg(required_unless_present = "dead", conflicts_with = "dead")]
        id: Option<i64>,
        /// Replay every dead letter.
        #[arg(long)]
        dead: bool,
    },
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum DeliveryStatus {
    Failed,
    Dead,
}

/// Errors of the relay commands.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the config file has no [storage] section, so there is no relay store to read")]
    NoStorage,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("event {0} not found; list events with `storebridge relay deliveries`")]
    EventNotFound(i64),
    #[error("cannot write the output")]
    Output(#[from] std::io::Error),
}

/// Runs one relay command, writing its report to `out`.
pub async fn run(command: RelayCommand, out: &mut dyn Write) -> Result<(), CommandError> {
    match command {
        RelayCommand::Subscriptions { config } => {
            let storage = open(&config).await?;
            list_subscriptions(&storage, out).await
        }
        RelayCommand::Deliveries { config, status } => {
            let storage = open(&config).await?;
            let filter = match status {
                None => EventFilter::All,
                Some(DeliveryStatus::Failed) => EventFilter::Failing,
                Some(DeliveryStatus::Dead) => EventFilter::Dead,
            };
            list_deliveries(&storage, filter, out).await
        }
        RelayCommand::Replay { config, id, dead } => {
            let storage = open(&config).await?;
            let now = Clock::new().now();
            if dead {
                let count = storage.replay_dead(now).await?;
                writeln!(out, "{count} dead letter(s) queued for delivery")?;
            } else if let Some(id) = id {
                if !storage.replay(id, now).await? {
                    return Err(CommandError::EventNotFound(id));
                }
                writeln!(out, "event {id} queued for delivery")?;
            }
            Ok(())
        }
    }
}

async fn open(path: &std::path::Path) -> Result<SqliteStorage, CommandError> {
    let config = Config::load(path)?;
    let storage = config.storage.as_ref().ok_or(CommandError::NoStorage)?;
    Ok(SqliteStorage::open(&storage.data_dir).await?)
}

async fn list_subscriptions(
    storage: &dyn Storage,
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    let subscriptions = storage.subscriptions().await?;
    writeln!(
        out,
        "ID\tSTATE\tMODE\tEVENT\tSTORE\tSHIPSTATION_HOOK\tTARGET"
    )?;
    for subscription in &subscriptions {
        let store = match (subscription.store_id, subscription.upstream_store_id) {
            (Some(own), Some(upstream)) if own != upstream => format!("{own}->{upstream}"),
            (Some(own), _) => own.to_string(),
            (None, _) => "-".to_owned(),
        };
        let hook = subscription
            .upstream_id
            .map_or_else(|| "-".to_owned(), |id| id.to_string());
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{store}\t{hook}\t{}",
            subscription.id,
            subscription.state,
            subscription.mode.as_str(),
            subscription.event,
            redact_url(&subscription.target_url),
        )?;
    }
    Ok(())
}

async fn list_deliveries(
    storage: &dyn Storage,
    filter: EventFilter,
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    let events = storage.events(filter, LIST_LIMIT).await?;
    writeln!(
        out,
        "ID\tWEBHOOK_ID\tSUBSCRIPTION\tTYPE\tSTATUS\tATTEMPTS\tRECEIVED\tNEXT_ATTEMPT\tLAST_ERROR"
    )?;
    for event in &events {
        // Every recorded attempt, including those before a replay; `event.attempts` counts
        // only the current retry schedule.
        let attempts = storage.attempts(event.id).await?.len();
        writeln!(
            out,
            "{}\tmsg_{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            event.id,
            event.uid,
            event.subscription_id,
            event.resource_type,
            event.status,
            attempts,
            event.received_at,
            event.next_attempt_at,
            event.last_error.as_deref().unwrap_or("-"),
        )?;
    }
    Ok(())
}

/// Returns a URL without credentials, query or fragment, which may carry secrets.
pub fn redact_url(url: &str) -> String {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return "<invalid URL>".to_owned();
    };
    let scheme = uri.scheme_str().unwrap_or("https");
    let host = uri.host().unwrap_or("");
    let port = uri
        .port_u16()
        .map(|port| format!(":{port}"))
        .unwrap_or_default();
    let marker = if uri.query().is_some() { "?..." } else { "" };
    format!("{scheme}://{host}{port}{}{marker}", uri.path())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_drops_credentials_and_query() {
        assert_eq!(
            redact_url("https://user:pass@hooks.example:8443/in?token=abc"),
            "https://hooks.example:8443/in?..."
        );
        assert_eq!(redact_url("http://a.example/x"), "http://a.example/x");
        assert_eq!(redact_url("::"), "<invalid URL>");
    }
}
