//! `storebridge migrate webhooks`: moves the webhooks bound to a legacy store, the step
//! ShipStation's migration leaves to the merchant.
//!
//! Each hook is re-created through the relay (or, with `--direct`, subscribed straight to
//! the connect store), and then the legacy hook is deleted. Without `--apply` nothing
//! changes. A hook whose replacement already exists is not created again, so a second run,
//! or a run after a partial failure, makes no duplicates.

use std::io::Write;
use std::path::PathBuf;

use http::Method;
use serde_json::{json, Value};

use super::commands::redact_url;
use super::ssrf;
use super::token::{self, IngressToken};
use crate::config::{Config, ConfigError, Mode};
use crate::error::ErrorChain;
use crate::migrate::api::{Api, ApiError};
use crate::storage::sqlite::SqliteStorage;
use crate::storage::{NewSubscription, Storage, StorageError, SubscriptionState};
use crate::stores::{Direction, StoreMap};

/// `storebridge migrate webhooks` options.
#[derive(Debug, clap::Args)]
pub struct MigrateWebhooks {
    /// Configuration file: [upstream], the [[store]] pairs, and for the relay [relay] and
    /// [storage].
    #[arg(long)]
    pub config: PathBuf,
    /// Make the changes; without it, only the plan is printed.
    #[arg(long)]
    pub apply: bool,
    /// Subscribe each hook straight to the connect store instead of through the relay.
    #[arg(long)]
    pub direct: bool,
}

/// Errors of `migrate webhooks`.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("moving hooks through the relay needs [relay] enabled and [storage]; enable them or pass --direct")]
    RelayOff,
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot write the output")]
    Output(#[from] std::io::Error),
}

/// One legacy hook and what becomes of it.
struct Move {
    hook_id: u64,
    event: String,
    target: String,
    name: Option<String>,
    legacy: u64,
    connect: u64,
}

/// Runs the command, writing the plan and what was done to `out`.
pub async fn run(options: MigrateWebhooks, out: &mut dyn Write) -> Result<(), MigrateError> {
    let config = Config::load(&options.config)?;
    let map = config.store_map()?;
    let relay = if options.direct {
        None
    } else {
        let (Some(relay), Some(storage)) = (&config.relay, &config.storage) else {
            return Err(MigrateError::RelayOff);
        };
        if !relay.enabled {
            return Err(MigrateError::RelayOff);
        }
        Some((relay.clone(), SqliteStorage::open(&storage.data_dir).await?))
    };
    let api = Api::new(&config)?;

    let hooks = api.hooks().await?;
    let moves = legacy_hooks(&hooks, &map);
    if moves.is_empty() {
        writeln!(
            out,
            "no webhook is bound to a legacy store; nothing to migrate"
        )?;
        return Ok(());
    }
    for step in &moves {
        let how = if options.direct {
            "subscribe directly"
        } else {
            "re-create through the relay"
        };
        writeln!(
            out,
            "hook {} {} store {} -> {}: {how} for store {}, then unsubscribe hook {}",
            step.hook_id,
            step.event,
            step.legacy,
            redact_url(&step.target),
            step.connect,
            step.hook_id
        )?;
    }
    if !options.apply {
        writeln!(
            out,
            "dry run: nothing changed; run again with --apply to migrate {} hook(s)",
            moves.len()
        )?;
        return Ok(());
    }

    for step in &moves {
        let created = match &relay {
            Some((relay_config, storage)) => {
                let allow = relay_config.dangerous_allow_private_targets;
                if let Err(reason) = ssrf::check_target(&step.target, allow).await {
                    writeln!(
                        out,
                        "hook {}: skipped, the relay would not deliver to it: {reason}",
                        step.hook_id
                    )?;
                    continue;
                }
                via_relay(&api, storage, &relay_config.public_url, &hooks, step).await?
            }
            None => direct(&api, &hooks, step).await?,
        };
        writeln!(out, "hook {}: {created}", step.hook_id)?;
        api.call(Method::DELETE, &format!("/webhooks/{}", step.hook_id), None)
            .await?;
        writeln!(out, "hook {}: unsubscribed", step.hook_id)?;
    }
    Ok(())
}

/// Returns the hooks whose `StoreID` is a legacy store of `map`.
fn legacy_hooks(hooks: &[Value], map: &StoreMap) -> Vec<Move> {
    hooks
        .iter()
        .filter_map(|hook| {
            let legacy = hook["StoreID"].as_u64()?;
            let connect = map.translate(Direction::ToConnect, legacy)?;
            Some(Move {
                hook_id: hook["WebHookID"].as_u64()?,
                event: hook["HookType"].as_str()?.to_owned(),
                target: hook["Url"].as_str()?.to_owned(),
                name: hook["Name"].as_str().map(str::to_owned),
                legacy,
                connect,
            })
        })
        .collect()
}

/// Subscribes the target straight to the connect store, unless such a hook exists.
async fn direct(api: &Api, hooks: &[Value], step: &Move) -> Result<String, MigrateError> {
    let existing = hooks.iter().find(|hook| {
        hook["StoreID"].as_u64() == Some(step.connect)
            && hook["HookType"].as_str() == Some(step.event.as_str())
            && hook["Url"].as_str() == Some(step.target.as_str())
    });
    if let Some(existing) = existing {
        return Ok(format!(
            "hook {} already exists for store {}",
            existing["WebHookID"], step.connect
        ));
    }
    let id = api
        .subscribe(json!({ "target_url": step.target, "event": step.event, "store_id": step.connect, "friendly_name": step.name }))
        .await?;
    Ok(format!(
        "subscribed as hook {id} for store {}",
        step.connect
    ))
}

/// Creates a relay subscription for the hook, unless an active one exists upstream.
async fn via_relay(
    api: &Api,
    storage: &SqliteStorage,
    public_url: &str,
    hooks: &[Value],
    step: &Move,
) -> Result<String, MigrateError> {
    let live: Vec<u64> = hooks
        .iter()
        .filter_map(|hook| hook["WebHookID"].as_u64())
        .collect();
    let existing = storage
        .subscriptions()
        .await?
        .into_iter()
        .find(|subscription| {
            subscription.state == SubscriptionState::Active
                && subscription.target_url == step.target
                && subscription.event == step.event
                && subscription.store_id == Some(step.legacy)
                && subscription
                    .upstream_id
                    .is_some_and(|id| live.contains(&id))
        });
    if let Some(existing) = existing {
        return Ok(format!("relay subscription {} already exists", existing.id));
    }

    let token = IngressToken::generate();
    let id = storage
        .insert_subscription(&NewSubscription {
            token_hash: token.hash(),
            target_url: step.target.clone(),
            event: step.event.clone(),
            store_id: Some(step.legacy),
            upstream_store_id: Some(step.connect),
            friendly_name: step.name.clone(),
            mode: Mode::Mirror,
            created_at: super::clock::Clock::new().now(),
        })
        .await?;
    let body = json!({
        "target_url": token::ingress_url(public_url, &token),
        "event": step.event,
        "store_id": step.connect,
        "friendly_name": step.name,
    });
    match api.subscribe(body).await {
        Ok(upstream_id) => {
            storage.activate_subscription(id, upstream_id).await?;
            Ok(format!(
                "relay subscription {id} created as hook {upstream_id} for store {}",
                step.connect
            ))
        }
        Err(error) => {
            if let Err(cleanup) = storage.delete_subscription(id).await {
                tracing::error!(subscription_id = id, error = %ErrorChain(&cleanup), "removing a failed relay subscription failed");
            }
            Err(error.into())
        }
    }
}
