//! The `storebridge` command: parses the command line, sets up logging and hands over to
//! the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use storebridge::config::Config;
use storebridge::error::ErrorChain;

#[derive(Parser)]
#[command(
    name = "storebridge",
    version,
    about = "TLS reverse proxy that keeps ShipStation clients working across the Miva to Miva Connect migration"
)]
struct Cli {
    /// Log output format.
    #[arg(long, value_enum, default_value_t = LogFormat::Pretty, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Pretty,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy with a configuration file.
    Serve {
        /// Configuration file (TOML); see storebridge.example.toml.
        #[arg(long)]
        config: PathBuf,
    },
    /// Validate a configuration file and exit; non-zero exit status when it is invalid.
    CheckConfig {
        /// Configuration file (TOML) to check, with the certificates it names.
        #[arg(long)]
        config: PathBuf,
    },
    /// Certificate helpers.
    Certs {
        #[command(subcommand)]
        command: CertsCommand,
    },
    /// Run the ShipStation V1 sandbox on its own.
    Sandbox {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8500")]
        bind: SocketAddr,
        /// Serve HTTPS with this certificate chain (PEM); plain HTTP without it.
        #[arg(long, requires = "key")]
        cert: Option<PathBuf>,
        /// Private key (PEM) for --cert.
        #[arg(long, requires = "cert")]
        key: Option<PathBuf>,
        /// Requests allowed per minute before the sandbox answers 429.
        #[arg(long, default_value_t = 40)]
        rate_limit: u32,
        /// Extra CA (PEM) to trust when the sandbox POSTs webhooks, for example the
        /// `ca.crt` of `certs dev` when the relay ingress uses development certificates.
        #[arg(long)]
        webhook_ca: Option<PathBuf>,
    },
    /// Inspect the webhook relay's subscriptions and deliveries, and replay events.
    Relay {
        #[command(subcommand)]
        command: storebridge::relay::commands::RelayCommand,
    },
    /// Migration helpers.
    Migrate {
        #[command(subcommand)]
        command: storebridge::migrate::MigrateCommand,
    },
    /// Run the proxy against the sandbox with development certificates and show what it does.
    Demo {
        /// Address of the demo proxy.
        #[arg(long, default_value = "127.0.0.1:8443")]
        bind: SocketAddr,
    },
}

#[derive(Subcommand)]
enum CertsCommand {
    /// Write a development CA (ca.crt) and a server certificate (server.crt, server.key)
    /// for localhost, 127.0.0.1, ::1 and any --name.
    Dev {
        /// Folder to write the files into; created if missing.
        #[arg(long)]
        out: PathBuf,
        /// Extra DNS name or IP address for the server certificate; repeatable.
        #[arg(long = "name")]
        names: Vec<String>,
        /// Replace existing files. Without it, existing certificates are left alone, because
        /// servers and clients may already use them.
        #[arg(long)]
        force: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = match cli.command {
        Command::Demo { .. } => "warn",
        _ => "info",
    };
    let log_writer =
        storebridge::logging::init(matches!(cli.log_format, LogFormat::Json), default_level);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli.command));
    // Stop the tasks, then write the queued log lines, before the final error line.
    drop(runtime);
    drop(log_writer);
    match result {
        Ok(status) => ExitCode::from(status),
        Err(error) => {
            eprintln!("error: {}", ErrorChain(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// Runs the command and returns the exit status: 0 on success, or the status a command
/// reports, such as 3 from `migrate plan` when orders may be shipped twice.
async fn run(command: Command) -> Result<u8, Box<dyn std::error::Error + Send + Sync>> {
    match command {
        Command::Serve { config } => {
            let path = config;
            let config = Config::load(&path)?;
            let shutdown = storebridge::signals::listen();
            let bound = storebridge::server::bind(&config).await?;
            let server = storebridge::server::Server::start(config, Some(path), bound).await?;
            storebridge::signals::reload_on_hangup(server.reloader());
            shutdown.recv().await;
            server.stop().await;
        }
        Command::CheckConfig { config: path } => {
            let config = Config::load(&path)?;
            storebridge::server::check_files(&config)?;
            println!(
                "{}: valid ({} listener(s), {} store pair(s))",
                path.display(),
                config.listeners.len(),
                config.stores.len()
            );
        }
        Command::Certs {
            command: CertsCommand::Dev { out, names, force },
        } => {
            storebridge::certs::check_names(&names)?;
            if !force {
                storebridge::certs::reject_overwrite(&out)?;
            }
            let paths = storebridge::certs::write_dev_certs(&out, &names)?;
            println!("wrote {}", paths.ca_cert.display());
            println!("wrote {}", paths.server_cert.display());
            println!("wrote {}", paths.server_key.display());
            println!(
                "clients must trust {} (curl --cacert, NODE_EXTRA_CA_CERTS)",
                paths.ca_cert.display()
            );
        }
        Command::Sandbox {
            bind,
            cert,
            key,
            rate_limit,
            webhook_ca,
        } => storebridge::demo::run_sandbox(bind, cert.zip(key), rate_limit, webhook_ca).await?,
        Command::Demo { bind } => storebridge::demo::run(bind).await?,
        Command::Migrate { command } => {
            return Ok(storebridge::migrate::run(command, &mut std::io::stdout()).await?)
        }
        Command::Relay { command } => {
            storebridge::relay::commands::run(command, &mut std::io::stdout()).await?
        }
    }
    Ok(0)
}
