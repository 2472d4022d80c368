//! Subcommands: `serve`, `check`, `keys`, `mock-upstream`, `version`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use portcullis_core::config::{Config, LogFormat, ProcessEnv};
use portcullis_core::identity::{generate_key, validate_principal_name, KeyRecord};
use portcullis_core::policy::PolicyEngine;
use portcullis_server::mock_server::{self, MockOptions};
use portcullis_server::upstream::read_credential;
use portcullis_server::Gateway;
use portcullis_store::sqlite::SqliteStore;
use portcullis_store::Store;
use secrecy::ExposeSecret;

#[derive(Parser)]
#[command(
    name = "portcullis",
    version,
    about = "A zero-trust gateway for AI model APIs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate the configuration and policies, then exit (non-zero on error).
    Check {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Run the built-in mock model as an OpenAI-compatible server (for benchmarks).
    MockUpstream {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:18080")]
        listen: String,
        /// Delay before each answer, e.g. `5ms`.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
        delay: Duration,
        /// Delay between stream events, e.g. `10ms`.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
        chunk_delay: Duration,
    },
    /// Print the version.
    Version,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key; the key is printed alone on the last line of stdout, once.
    Create {
        #[arg(long, short)]
        config: PathBuf,
        /// The principal the key stands for.
        #[arg(long)]
        principal: String,
        /// A group of the principal (repeatable).
        #[arg(long = "group")]
        groups: Vec<String>,
        /// Lifetime, e.g. `90d`, `12h`. Default: no expiry.
        #[arg(long, value_parser = humantime::parse_duration)]
        expires: Option<Duration>,
    },
    /// List keys (never their secrets).
    List {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Revoke a key by id; takes effect on the next request.
    Revoke {
        #[arg(long, short)]
        config: PathBuf,
        /// The key id (the part after `pc_`).
        id: String,
    },
}

/// Runs the CLI.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { config } => serve(&config),
        Command::Check { config } => check(&config),
        Command::Keys { command } => keys(command),
        Command::MockUpstream {
            listen,
            delay,
            chunk_delay,
        } => mock_upstream(&listen, MockOptions { delay, chunk_delay }),
        Command::Version => {
            println!("portcullis {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(path: &Path) -> Result<Config> {
    Config::load(path, &ProcessEnv).map_err(|e| anyhow::anyhow!("{e}"))
}

fn open_store(config: &Config) -> Result<Arc<dyn Store>> {
    let store = SqliteStore::open(&config.data_dir)
        .with_context(|| format!("opening store under {}", config.data_dir.display()))?;
    Ok(Arc::new(store))
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PORTCULLIS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn check(path: &Path) -> Result<()> {
    let config = load(path)?;
    let engine = PolicyEngine::load(&config.policy_dir, &config.models)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for u in config.upstreams.values() {
        read_credential(&u.credential)
            .map_err(|e| anyhow::anyhow!("{}: upstream `{}`: {e}", path.display(), u.name))?;
    }
    println!(
        "ok: {} upstream(s), {} model(s), {} policies from {} file(s)",
        config.upstreams.len(),
        config.models.len(),
        engine.len(),
        engine.files.len()
    );
    Ok(())
}

fn serve(path: &Path) -> Result<()> {
    let config = load(path)?;
    init_logging(&config);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        if let Some(p) = portcullis_server::bootstrap_admin_token(&config)? {
            tracing::info!(path = %p.display(), "admin token written (bootstrap.admin_token)");
        }
        let store = open_store(&config)?;
        let listen = config.listen;
        let admin_listen = config.admin_listen;
        let gateway = Gateway::new(config, store).map_err(|e| anyhow::anyhow!("{e}"))?;
        if let Some(p) = gateway.bootstrap_demo_key().map_err(|e| anyhow::anyhow!("{e}"))? {
            tracing::info!(path = %p.display(), "demo key is in this file (bootstrap.demo_key)");
        }
        let data = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
        let admin = tokio::net::TcpListener::bind(admin_listen).await.with_context(|| format!("binding {admin_listen}"))?;
        tracing::info!(listen = %data.local_addr()?, admin = %admin.local_addr()?, policies = gateway.state().policy.load().len(), "portcullis is serving");

        // SIGHUP reloads policies; a bad set is refused and the old one stays.
        let state = gateway.state().clone();
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                match portcullis_server::reload_policies(&state) {
                    Ok(n) => tracing::info!(policies = n, "policies reloaded"),
                    Err(e) => tracing::error!(error = %e, "policy reload refused; keeping the previous policies"),
                }
                match portcullis_server::reload_tls(&state) {
                    Ok(true) => tracing::info!("TLS certificate reloaded"),
                    Ok(false) => {}
                    Err(e) => tracing::error!(error = %e, "TLS reload refused; keeping the previous certificate"),
                }
            }
        });
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let shutdown = async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            tracing::info!("shutting down: draining connections");
        };
        gateway.run(data, admin, shutdown).await?;
        tracing::info!("stopped");
        Ok(())
    })
}

fn keys(cmd: KeysCommand) -> Result<()> {
    match cmd {
        KeysCommand::Create {
            config,
            principal,
            groups,
            expires,
        } => {
            let config = load(&config)?;
            validate_principal_name(&principal).map_err(anyhow::Error::msg)?;
            for g in &groups {
                validate_principal_name(g).map_err(anyhow::Error::msg)?;
            }
            let store = open_store(&config)?;
            let now = portcullis_server::state::unix_now();
            let expires_at = match expires {
                Some(d) if d.is_zero() => bail!("--expires must be positive"),
                Some(d) => Some(now + i64::try_from(d.as_secs()).context("--expires too large")?),
                None => None,
            };
            let g = generate_key();
            store.put_key(&KeyRecord {
                id: g.id.clone(),
                hash: g.hash,
                principal: principal.clone(),
                groups: groups.clone(),
                created_at: now,
                expires_at,
                revoked_at: None,
            })?;
            println!(
                "created key {} for principal {principal} (groups: {})",
                g.id,
                groups.join(",")
            );
            if let Some(e) = expires_at {
                println!("expires {}", fmt_time(e));
            }
            println!("the key is shown once; store it now:");
            println!("{}", g.key.expose_secret());
            Ok(())
        }
        KeysCommand::List { config } => {
            let config = load(&config)?;
            let store = open_store(&config)?;
            println!(
                "{:<16}  {:<20}  {:<20}  {:<20}  {:<20}  STATUS",
                "ID", "PRINCIPAL", "GROUPS", "CREATED", "EXPIRES"
            );
            let now = portcullis_server::state::unix_now();
            for k in store.list_keys()? {
                let status = match (k.revoked_at, k.expires_at) {
                    (Some(_), _) => "revoked",
                    (None, Some(e)) if e <= now => "expired",
                    _ => "active",
                };
                println!(
                    "{:<16}  {:<20}  {:<20}  {:<20}  {:<20}  {status}",
                    k.id,
                    k.principal,
                    k.groups.join(","),
                    fmt_time(k.created_at),
                    k.expires_at.map_or("never".into(), fmt_time)
                );
            }
            Ok(())
        }
        KeysCommand::Revoke { config, id } => {
            let config = load(&config)?;
            let store = open_store(&config)?;
            let id = id
                .strip_prefix("pc_")
                .unwrap_or(&id)
                .split('_')
                .next()
                .unwrap_or_default()
                .to_string();
            if store.revoke_key(&id, portcullis_server::state::unix_now())? {
                println!("revoked key {id}");
                Ok(())
            } else {
                bail!("no active key with id {id}")
            }
        }
    }
}

fn fmt_time(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

fn mock_upstream(listen: &str, opts: MockOptions) -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let l = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        eprintln!("mock upstream listening on http://{}/v1", l.local_addr()?);
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        portcullis_server::listener::serve(
            l,
            mock_server::router(opts),
            Default::default(),
            shutdown,
            Duration::from_secs(1),
            None,
        )
        .await;
        Ok(())
    })
}
