//! `storebridge migrate ...`: the commands that take a merchant from the legacy Miva
//! integration to Miva Connect. Each reads the account through `[upstream]`, with the
//! credentials from the environment, inside the rate-limit budget of [`api::Api`].

pub mod api;
pub mod fields;
pub mod orders;
pub mod plan;
pub mod report;
pub mod scan;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use http::Method;
use indicatif::{ProgressBar, ProgressStyle};

use self::api::{Api, ApiError};
use self::plan::{Account, Plan};
use crate::config::{Config, ConfigError};
use crate::relay::migrate::{MigrateError as WebhooksError, MigrateWebhooks};

/// `storebridge migrate ...`.
#[derive(Debug, clap::Subcommand)]
pub enum MigrateCommand {
    /// Move the webhooks bound to legacy stores: print the plan, and with --apply carry it out.
    Webhooks(MigrateWebhooks),
    /// Read the account and report what the cutover puts at risk. Exit status 3 when
    /// orders shipped from the legacy store are open in Miva Connect.
    Plan(PlanOptions),
    /// Record in the embedded store ([storage] data_dir) the Miva Connect orders already
    /// shipped from the legacy store, for the proxy's double-ship guard.
    Scan(ScanOptions),
    /// Print the fields edited in the legacy store that differ on the Miva Connect copies of
    /// orders open in both stores, and with --apply re-apply them. Finished orders are
    /// recorded in the embedded store ([storage] data_dir), so a repeated run skips them.
    Orders {
        /// Configuration file: [upstream], [rate_limit], [storage] and the [[store]] pairs.
        #[arg(long)]
        config: PathBuf,
        /// Update the Miva Connect orders; without it, only print the differences.
        #[arg(long)]
        apply: bool,
        /// Hide the progress bar (it is hidden anyway when stderr is not a terminal).
        #[arg(long)]
        quiet: bool,
    },
}

/// `storebridge migrate scan` options.
#[derive(Debug, clap::Args)]
pub struct ScanOptions {
    /// Configuration file: [upstream], [rate_limit], [storage] and the [[store]] pairs.
    #[arg(long)]
    pub config: PathBuf,
}

/// Output format of `migrate plan`.
#[derive(Clone, Copy, Debug, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// `storebridge migrate plan` options.
#[derive(Debug, clap::Args)]
pub struct PlanOptions {
    /// Configuration file: [upstream], [rate_limit] and the [[store]] pairs.
    #[arg(long)]
    pub config: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Hide the progress bar (it is hidden anyway when stderr is not a terminal).
    #[arg(long)]
    pub quiet: bool,
}

/// Errors of the migration commands.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Webhooks(#[from] WebhooksError),
    #[error(transparent)]
    Scan(#[from] scan::ScanError),
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    #[error("migrate scan needs [storage] data_dir and at least one [[store]] pair in the config")]
    ScanSetup,
    #[error(transparent)]
    Orders(#[from] orders::OrdersError),
    #[error("migrate orders needs at least one [[store]] pair in the config, and [storage] data_dir with --apply")]
    OrdersSetup,
    #[error("cannot encode the plan as JSON")]
    Json(#[from] serde_json::Error),
    #[error("cannot write the output")]
    Output(#[from] std::io::Error),
}

/// Runs a migration command, writing its report to `out`. Returns the exit status.
pub async fn run(command: MigrateCommand, out: &mut dyn Write) -> Result<u8, CommandError> {
    match command {
        MigrateCommand::Webhooks(options) => {
            crate::relay::migrate::run(options, out).await?;
            Ok(0)
        }
        MigrateCommand::Plan(options) => run_plan(options, out).await,
        MigrateCommand::Scan(options) => run_scan(options, out).await,
        MigrateCommand::Orders {
            config,
            apply,
            quiet,
        } => run_orders(&config, apply, quiet, out).await,
    }
}

/// A progress bar on stderr, hidden with `--quiet` or when stderr is not a terminal.
pub fn progress_bar(quiet: bool, message: &'static str) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message);
    bar
}

async fn run_scan(options: ScanOptions, out: &mut dyn Write) -> Result<u8, CommandError> {
    let config = Config::load(&options.config)?;
    let Some(storage_config) = config
        .storage
        .as_ref()
        .filter(|_| !config.stores.is_empty())
    else {
        return Err(CommandError::ScanSetup);
    };
    let storage = crate::storage::sqlite::SqliteStorage::open(&storage_config.data_dir).await?;
    let api = Api::new(&config)?;
    let now = crate::relay::clock::Clock::new().now();
    for pair in &config.stores {
        let summary = scan::scan_pair(&api, &storage, pair, now).await?;
        scan::write_summary(out, pair, &summary)?;
    }
    Ok(0)
}

async fn run_orders(
    config_path: &Path,
    apply: bool,
    quiet: bool,
    out: &mut dyn Write,
) -> Result<u8, CommandError> {
    let config = Config::load(config_path)?;
    if config.stores.is_empty() || (apply && config.storage.is_none()) {
        return Err(CommandError::OrdersSetup);
    }
    let storage = match (&config.storage, apply) {
        (Some(storage_config), true) => {
            Some(crate::storage::sqlite::SqliteStorage::open(&storage_config.data_dir).await?)
        }
        _ => None,
    };
    let api = Api::new(&config)?;

    let bar = progress_bar(quiet, "reading the orders");
    bar.set_length(config.stores.len() as u64 * 2);
    let mut open_in_both = Vec::new();
    for pair in &config.stores {
        let legacy_orders = read_orders(&api, pair.legacy.0).await?;
        bar.inc(1);
        let connect_orders = read_orders(&api, pair.connect.0).await?;
        bar.inc(1);
        open_in_both.extend(plan::open_in_both(&legacy_orders, &connect_orders));
    }
    bar.finish_and_clear();

    let storage = storage
        .as_ref()
        .map(|found| found as &dyn crate::storage::Storage);
    orders::reapply(&api, storage, &open_in_both, out).await?;
    Ok(0)
}

/// Reads every order of a store, of any status.
async fn read_orders(api: &Api, store_id: u64) -> Result<Vec<serde_json::Value>, ApiError> {
    api.all_pages(&format!("/orders?storeId={store_id}"), "orders", |_, _| {})
        .await
}

async fn run_plan(options: PlanOptions, out: &mut dyn Write) -> Result<u8, CommandError> {
    let config = Config::load(&options.config)?;
    let api = Api::new(&config)?;
    let bar = progress_bar(options.quiet, "reading the account");
    let plan = read_plan(&api, &config, &bar).await?;
    bar.finish_and_clear();
    match options.format {
        Format::Text => out.write_all(report::render(&plan).as_bytes())?,
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &plan)?;
            writeln!(out)?;
        }
    }
    Ok(plan.exit_status)
}

/// Reads what the plan needs and builds it.
pub async fn read_plan(api: &Api, config: &Config, bar: &ProgressBar) -> Result<Plan, ApiError> {
    let mut account = Account {
        stores: api
            .json(Method::GET, "/stores?showInactive=true", None)
            .await?
            .as_array()
            .cloned()
            .unwrap_or_default(),
        hooks: api.hooks().await?,
        ..Account::default()
    };
    let pairs = plan::pairs(&config.stores, &account.stores);
    bar.set_length(pairs.len() as u64 * 2);
    for pair in &pairs {
        let refresh = api
            .json(
                Method::GET,
                &format!("/stores/getrefreshstatus?storeId={}", pair.connect),
                None,
            )
            .await?;
        account.refresh.insert(pair.connect, refresh);
        for store_id in [pair.legacy, pair.connect] {
            let orders = read_orders(api, store_id).await?;
            bar.inc(1);
            account.orders.insert(store_id, orders);
        }
    }

    // Ship dates and tracking numbers, only for the orders at risk.
    let draft = plan::build(&account, pairs.clone());
    let mut shipments = BTreeMap::new();
    for risk in &draft.double_ship_risks {
        let newest = scan::newest_shipment(api, risk.legacy_order_id).await?;
        if let Some(shipment) = newest {
            shipments.insert(risk.legacy_order_id, shipment);
        }
    }
    account.shipments = shipments;
    Ok(plan::build(&account, pairs))
}
