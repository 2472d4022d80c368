//! Subcommands: `serve`, `check`, `migrate`, `keys`, `audit`, `mock-upstream`, `version`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use portcullis_audit::{CheckpointVerifier, EventKind, MerkleTree, NoteSigner, NoteVerifier};
use portcullis_core::config::{Config, LogFormat, PostgresStoreConfig, ProcessEnv, StoreKind};
use portcullis_core::identity::{generate_key, validate_principal_name, KeyRecord};
use portcullis_server::audit;
use portcullis_server::mock_server::{self, MockOptions};
use portcullis_server::upstream::read_credential;
use portcullis_server::Gateway;
use portcullis_store::postgres::{PostgresConfig, PostgresStore};
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
    /// Create or upgrade the database schema (`[store] kind = "postgres"`; a SQLite
    /// store is migrated whenever it is opened).
    Migrate {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The tamper-evident audit log: keys, verification, proofs, search, export.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
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
    /// Scan JSON Lines `{"id", "text"}` from stdin with the gateway's input guards; one
    /// line of verdict, scores and findings (byte offsets) per input on stdout.
    Scan {
        /// Use this configuration's guard settings (default: the built-in defaults).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// The guard profile of that configuration.
        #[arg(long, default_value = "default")]
        profile: String,
    },
    /// The injection classifier: retrain it, or score JSON Lines with it.
    Guard {
        #[command(subcommand)]
        command: crate::guard_cmd::GuardCommand,
    },
    /// Training-data poisoning scanner: check a dataset before fine-tuning on it.
    Dataset {
        #[command(subcommand)]
        command: crate::dataset_cmd::DatasetCommand,
    },
    /// Model integrity: sign and verify models (OpenSSF model signing format) and the
    /// model registry (propose, approve k of n, activate, retire, check).
    Model {
        #[command(subcommand)]
        command: crate::model_cmd::ModelCommand,
    },
    /// Signed policy bundles: propose, approve (k of n), activate, roll back, diff.
    Policy {
        #[command(subcommand)]
        command: crate::policy_cmd::PolicyCommand,
    },
    /// Anomaly detection offline: simulate traffic, replay events, evaluate.
    Anomaly {
        #[command(subcommand)]
        command: crate::anomaly_cmd::AnomalyCommand,
    },
    /// Anomaly incidents: list, show, acknowledge, release, resolve.
    Incidents {
        #[command(subcommand)]
        command: crate::incidents_cmd::IncidentsCommand,
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

#[derive(Subcommand)]
enum AuditCommand {
    /// Make an Ed25519 signing key (written with mode 0600); prints the verifier key.
    Keygen {
        /// Where to write the signing key (`PRIVATE+KEY+...`).
        #[arg(long)]
        out: PathBuf,
        /// The key name (by convention the log's origin).
        #[arg(long, default_value = portcullis_core::config::DEFAULT_AUDIT_ORIGIN)]
        name: String,
    },
    /// Recompute the whole tree from the stored leaves and check every checkpoint; exits
    /// non-zero naming the first bad leaf or checkpoint.
    Verify {
        #[arg(long, short)]
        config: PathBuf,
        /// Check signatures with this verifier key (file or string) instead of the
        /// configured signing key.
        #[arg(long)]
        vkey: Option<String>,
    },
    /// Print an inclusion or consistency proof as JSON.
    Proof {
        #[command(subcommand)]
        command: ProofCommand,
    },
    /// Check a proof offline against a signed checkpoint and the log's verifier key.
    VerifyProof {
        /// The verifier key (file or string).
        #[arg(long)]
        vkey: String,
        /// The signed checkpoint file.
        #[arg(long)]
        checkpoint: PathBuf,
        /// The proof file (JSON from `audit proof`).
        #[arg(long)]
        proof: PathBuf,
        /// For a consistency proof: the signed checkpoint of the old size.
        #[arg(long)]
        old_checkpoint: Option<PathBuf>,
    },
    /// Search the log; prints JSON lines `{"index":N,"event":{...}}`.
    Query {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        principal: Option<String>,
        /// How far back, e.g. `24h`, `7d`.
        #[arg(long)]
        since: Option<String>,
        /// `allow` or `deny`.
        #[arg(long)]
        decision: Option<String>,
        /// At most this many (0: all).
        #[arg(long, default_value_t = 0)]
        limit: usize,
    },
    /// Make a key for encrypted body storage (`[audit] body_key_file`): 32 random bytes
    /// as 64 hex digits, written with mode 0600.
    BodyKeygen {
        /// Where to write the key.
        #[arg(long)]
        out: PathBuf,
    },
    /// Decrypt a stored body of an event and print it, after checking it against the
    /// SHA-256 in the event's leaf (`[audit] store_bodies`).
    Body {
        #[arg(long, short)]
        config: PathBuf,
        /// The event id (the request's `x-request-id`).
        event_id: String,
        /// `request` or `response`.
        #[arg(long, default_value = "request")]
        part: String,
    },
    /// Write the leaves, checkpoints and verifier key for an outside verifier.
    Export {
        #[arg(long, short)]
        config: PathBuf,
        /// The directory to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum ProofCommand {
    /// That a leaf is in the tree (by index or event id).
    Inclusion {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        index: Option<u64>,
        #[arg(long)]
        event_id: Option<String>,
        /// The tree size (default: the last checkpoint's).
        #[arg(long)]
        size: Option<u64>,
    },
    /// That the tree of size `old` is a prefix of the tree of size `new`.
    Consistency {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        old: u64,
        #[arg(long)]
        new: u64,
    },
}

/// Runs the CLI.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { config } => serve(&config),
        Command::Check { config } => check(&config),
        Command::Migrate { config } => migrate(&config),
        Command::Keys { command } => keys(command),
        Command::Audit { command } => audit_cmd(command),
        Command::MockUpstream {
            listen,
            delay,
            chunk_delay,
        } => mock_upstream(&listen, MockOptions { delay, chunk_delay }),
        Command::Scan { config, profile } => {
            crate::guard_cmd::scan(config.as_deref(), &profile, load)
        }
        Command::Guard { command } => crate::guard_cmd::guard(command),
        Command::Dataset { command } => crate::dataset_cmd::run(command),
        Command::Model { command } => crate::model_cmd::run(command),
        Command::Policy { command } => crate::policy_cmd::run(command),
        Command::Anomaly { command } => crate::anomaly_cmd::run(command),
        Command::Incidents { command } => crate::incidents_cmd::run(command),
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

pub(crate) fn load(path: &Path) -> Result<Config> {
    Config::load(path, &ProcessEnv).map_err(|e| anyhow::anyhow!("{e}"))
}

pub(crate) fn open_store(config: &Config) -> Result<Arc<dyn Store>> {
    match &config.store {
        StoreKind::Sqlite => {
            let store = SqliteStore::open(&config.data_dir)
                .with_context(|| format!("opening store under {}", config.data_dir.display()))?;
            // Audit events a gateway journaled before it crashed go into the log first
            // (skipped while a gateway runs: it commits them itself).
            let dir = portcullis_server::decisions::journal_dir(&config.data_dir);
            if let Some(n @ 1..) = portcullis_store::journal::replay(&store, &dir)
                .with_context(|| format!("replaying the audit journal {}", dir.display()))?
            {
                eprintln!("committed {n} audit events a stopped gateway left in its journal");
            }
            Ok(Arc::new(store))
        }
        // Refuses a schema older or newer than this binary's.
        StoreKind::Postgres(p) => {
            let cfg = postgres_config(config, p)?;
            let store = PostgresStore::open(&cfg)
                .with_context(|| format!("opening the PostgreSQL store at {}", cfg.redacted()))?;
            Ok(Arc::new(store))
        }
    }
}

/// The PostgreSQL connection settings, with the URL read from its source.
fn postgres_config(config: &Config, p: &PostgresStoreConfig) -> Result<PostgresConfig> {
    portcullis_server::shared_db::postgres_config(config, p).map_err(anyhow::Error::msg)
}

/// `portcullis migrate`: brings the PostgreSQL schema to this binary's version.
fn migrate(path: &Path) -> Result<()> {
    let config = load(path)?;
    match &config.store {
        StoreKind::Sqlite => {
            open_store(&config)?;
            println!(
                "ok: the SQLite store under {} is up to date (it migrates when opened)",
                config.data_dir.display()
            );
        }
        StoreKind::Postgres(p) => {
            let cfg = postgres_config(&config, p)?;
            let (from, to) = PostgresStore::migrate(&cfg)
                .with_context(|| format!("migrating PostgreSQL at {}", cfg.redacted()))?;
            let schema = cfg.schema().unwrap_or("public");
            if from == to {
                println!(
                    "ok: PostgreSQL at {} (schema {schema}) is already at version {to}",
                    cfg.redacted()
                );
            } else {
                println!(
                    "ok: PostgreSQL at {} (schema {schema}) migrated from version {from} to {to}",
                    cfg.redacted()
                );
            }
        }
    }
    Ok(())
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
    let bundles =
        portcullis_server::bundles::open_store(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let engine = portcullis_server::bundles::load(&config, bundles.as_ref())
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .engine;
    for u in config.upstreams.values() {
        read_credential(&u.credential)
            .map_err(|e| anyhow::anyhow!("{}: upstream `{}`: {e}", path.display(), u.name))?;
    }
    // The audit log's keys, which `serve` would refuse to start without.
    if let Some(a) = &config.audit {
        audit::read_signing_key(&a.signing_key_file)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if let Some(b) = &a.bodies {
            audit::BodyCipher::load(b).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        }
    }
    // The approver set and trusted model-signing keys, which the integrity gate reads.
    if let Some(ic) = &config.integrity {
        portcullis_server::integrity::approval_policy(ic)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        for k in &ic.trusted_signers {
            portcullis_integrity::ModelPublicKey::from_pem_file(k).map_err(|e| {
                anyhow::anyhow!("{}: integrity.trusted_signers: {e}", path.display())
            })?;
        }
    }
    // A shared database must be reachable and migrated before `serve` can start.
    if let StoreKind::Postgres(p) = &config.store {
        let cfg = postgres_config(&config, p)?;
        let store = PostgresStore::open(&cfg).map_err(|e| {
            anyhow::anyhow!(
                "{}: store: PostgreSQL at {}: {e}",
                path.display(),
                cfg.redacted()
            )
        })?;
        store.ping()?;
        println!(
            "store: PostgreSQL at {} (schema {}) is reachable and at schema version {}",
            cfg.redacted(),
            cfg.schema().unwrap_or("public"),
            portcullis_store::postgres::SCHEMA_VERSION
        );
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
        crate::release_startup_memory();
        if let Some(p) = gateway.bootstrap_demo_key().map_err(|e| anyhow::anyhow!("{e}"))? {
            tracing::info!(path = %p.display(), "demo key is in this file (bootstrap.demo_key)");
        }
        let data = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
        let admin = tokio::net::TcpListener::bind(admin_listen).await.with_context(|| format!("binding {admin_listen}"))?;
        tracing::info!(listen = %data.local_addr()?, admin = %admin.local_addr()?, policies = gateway.state().policy.load().len(), "portcullis is serving");

        // SIGHUP reloads policies; a bad set is refused and the old one stays.
        // A weak handle: the gateway's state must be dropped at shutdown so the decision
        // writer sees its channel close, writes what is queued and signs a last checkpoint.
        let weak = std::sync::Arc::downgrade(gateway.state());
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                let Some(state) = weak.upgrade() else { break };
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
            audit_control(
                &config,
                &*store,
                EventKind::KeyCreated,
                "keys.create",
                &format!("key:{} principal:{principal}", g.id),
            )?;
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
                audit_control(
                    &config,
                    &*store,
                    EventKind::KeyRevoked,
                    "keys.revoke",
                    &format!("key:{id}"),
                )?;
                println!("revoked key {id}");
                Ok(())
            } else {
                bail!("no active key with id {id}")
            }
        }
    }
}

/// Appends a control-plane event when the audit log is configured. The actor is the OS
/// user running the command.
pub(crate) fn audit_control(
    config: &Config,
    store: &dyn Store,
    kind: EventKind,
    action: &str,
    target: &str,
) -> Result<()> {
    if config.audit.is_none() {
        return Ok(());
    }
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let now_ms = portcullis_server::state::unix_now().saturating_mul(1000);
    let event = audit::control_event(kind, now_ms, &user, "local_cli", action, target);
    audit::append_events(store, &[event]).map_err(|e| anyhow::anyhow!("audit log: {e}"))?;
    Ok(())
}

fn read_vkey(arg: &str) -> Result<NoteVerifier> {
    let text = match std::fs::read_to_string(arg) {
        Ok(t) => t,
        Err(_) if !Path::new(arg).exists() => arg.to_string(),
        Err(e) => bail!("reading {arg}: {e}"),
    };
    NoteVerifier::from_vkey(text.trim()).map_err(|e| anyhow::anyhow!("verifier key: {e}"))
}

fn audit_config(config: &Config) -> Result<&portcullis_core::config::AuditConfig> {
    config
        .audit
        .as_ref()
        .with_context(|| format!("{}: no [audit] section", config.path.display()))
}

fn config_verifier(config: &Config) -> Result<CheckpointVerifier> {
    let a = audit_config(config)?;
    let key = audit::read_signing_key(&a.signing_key_file).map_err(anyhow::Error::msg)?;
    CheckpointVerifier::new(&a.origin, key.verifier()).map_err(|e| anyhow::anyhow!("{e}"))
}

fn load_tree(store: &dyn Store) -> Result<MerkleTree> {
    let size = store.audit_size()?;
    Ok(MerkleTree::from_leaf_hashes(
        store.audit_leaf_hashes(0, size)?,
    ))
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Makes an Ed25519 signed-note key (audit log, approvers, scan manifests): writes the
/// private key with mode 0600, never over an existing file, and prints the verifier key.
pub(crate) fn note_keygen(out: &Path, name: &str) -> Result<()> {
    if out.exists() {
        bail!(
            "{} exists; refusing to overwrite a signing key",
            out.display()
        );
    }
    let key = NoteSigner::generate(name).map_err(|e| anyhow::anyhow!("{e}"))?;
    portcullis_server::write_private_file(out, key.to_skey().expose_secret())
        .with_context(|| format!("writing {}", out.display()))?;
    eprintln!(
        "signing key written to {} (mode 0600); the verifier key is:",
        out.display()
    );
    println!("{}", key.verifier().to_vkey());
    Ok(())
}

fn audit_cmd(cmd: AuditCommand) -> Result<()> {
    match cmd {
        AuditCommand::Keygen { out, name } => note_keygen(&out, &name),
        AuditCommand::Verify { config, vkey } => {
            let config = load(&config)?;
            let verifier = match vkey {
                Some(v) => CheckpointVerifier::new(&audit_config(&config)?.origin, read_vkey(&v)?)
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
                None => config_verifier(&config)?,
            };
            let store = open_store(&config)?;
            let started = std::time::Instant::now();
            let report = audit::verify_log(&*store, &verifier)
                .map_err(|e| anyhow::anyhow!("audit log verification FAILED: {e}"))?;
            println!(
                "ok: {} leaves, {} checkpoints verified in {:.2?}; root {}",
                report.size,
                report.checkpoints,
                started.elapsed(),
                hex::encode(report.root)
            );
            if let Some((size, root)) = report.latest {
                println!("latest checkpoint: size {size}, root {}", hex::encode(root));
            }
            if report.unsigned() > 0 {
                println!(
                    "note: the last {} leaves are not covered by a signed checkpoint yet",
                    report.unsigned()
                );
            }
            Ok(())
        }
        AuditCommand::Proof { command } => {
            let v = match command {
                ProofCommand::Inclusion {
                    config,
                    index,
                    event_id,
                    size,
                } => {
                    let config = load(&config)?;
                    audit_config(&config)?;
                    let store = open_store(&config)?;
                    let index = match (index, event_id) {
                        (Some(i), None) => i,
                        (None, Some(id)) => {
                            store
                                .audit_leaf_by_event(&id)?
                                .with_context(|| format!("no event {id:?} in the log"))?
                                .index
                        }
                        _ => bail!("give exactly one of --index, --event-id"),
                    };
                    let tree = load_tree(&*store)?;
                    audit::inclusion_json(&*store, &tree, index, size)
                        .map_err(anyhow::Error::msg)?
                }
                ProofCommand::Consistency { config, old, new } => {
                    let config = load(&config)?;
                    audit_config(&config)?;
                    let store = open_store(&config)?;
                    let tree = load_tree(&*store)?;
                    audit::consistency_json(&*store, &tree, old, new).map_err(anyhow::Error::msg)?
                }
            };
            println!("{}", serde_json::to_string_pretty(&v)?);
            Ok(())
        }
        AuditCommand::VerifyProof {
            vkey,
            checkpoint,
            proof,
            old_checkpoint,
        } => {
            let vkey = read_vkey(&vkey)?;
            let note = read_text(&checkpoint)?;
            let proof: serde_json::Value = serde_json::from_str(&read_text(&proof)?)
                .with_context(|| format!("{}: not JSON", proof.display()))?;
            let old = old_checkpoint.as_deref().map(read_text).transpose()?;
            let msg = audit::verify_proof(&vkey, &note, &proof, old.as_deref())
                .map_err(|e| anyhow::anyhow!("proof does NOT verify: {e}"))?;
            println!("{msg}");
            Ok(())
        }
        AuditCommand::Query {
            config,
            principal,
            since,
            decision,
            limit,
        } => {
            let config = load(&config)?;
            audit_config(&config)?;
            let store = open_store(&config)?;
            let q = audit::build_query(principal, since.as_deref(), decision, limit)
                .map_err(anyhow::Error::msg)?;
            print!(
                "{}",
                audit::query_lines(&*store, &q).map_err(anyhow::Error::msg)?
            );
            Ok(())
        }
        AuditCommand::BodyKeygen { out } => {
            if out.exists() {
                bail!("{} exists; refusing to overwrite a key", out.display());
            }
            let key = audit::generate_body_key();
            portcullis_server::write_private_file(&out, &format!("{}\n", key.expose_secret()))
                .with_context(|| format!("writing {}", out.display()))?;
            eprintln!("audit body key written to {} (mode 0600)", out.display());
            Ok(())
        }
        AuditCommand::Body {
            config,
            event_id,
            part,
        } => {
            let config = load(&config)?;
            let bodies = audit_config(&config)?.bodies.as_ref().with_context(|| {
                format!("{}: [audit] does not store bodies", config.path.display())
            })?;
            let cipher = audit::BodyCipher::load(bodies).map_err(anyhow::Error::msg)?;
            let store = open_store(&config)?;
            let body =
                audit::read_body(&*store, &cipher, &event_id, &part).map_err(anyhow::Error::msg)?;
            std::io::Write::write_all(&mut std::io::stdout(), &body)?;
            Ok(())
        }
        AuditCommand::Export { config, out } => {
            let config = load(&config)?;
            let verifier = config_verifier(&config)?;
            let store = open_store(&config)?;
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            // Checkpoints first: every leaf they sign is already stored.
            let checkpoints = store.audit_checkpoints()?;
            let size = store.audit_size()?;
            let mut leaves = Vec::new();
            let mut start = 0;
            while start < size {
                let end = (start + 10_000).min(size);
                for l in store.audit_leaves(start, end)? {
                    leaves.extend_from_slice(&l.leaf.leaf);
                    leaves.push(b'\n');
                }
                start = end;
            }
            let write = |name: &str, data: &[u8]| {
                std::fs::write(out.join(name), data)
                    .with_context(|| format!("writing {}", out.join(name).display()))
            };
            write("leaves.jsonl", &leaves)?;
            let mut cps = String::new();
            for c in &checkpoints {
                cps.push_str(&serde_json::json!({"size": c.size, "note": c.note}).to_string());
                cps.push('\n');
            }
            write("checkpoints.jsonl", cps.as_bytes())?;
            if let Some(c) = checkpoints.last() {
                write("checkpoint", c.note.as_bytes())?;
            }
            write("vkey", format!("{}\n", verifier.key().to_vkey()).as_bytes())?;
            write("origin", format!("{}\n", verifier.origin()).as_bytes())?;
            println!(
                "exported {size} leaves and {} checkpoints to {}",
                checkpoints.len(),
                out.display()
            );
            Ok(())
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
