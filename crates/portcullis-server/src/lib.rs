//! The Portcullis server: the data plane and the admin listener.
//!
//! - [`authn`]: API keys, OIDC JWTs, SPIFFE identities from mTLS; [`tls`]: the
//!   listener's TLS and the per-trust-domain client verifier.
//! - [`pipeline`]: authentication, validation, model resolution, authorization, limits,
//!   forwarding: the request path, phase by phase.
//! - [`stream`]: server-sent events passed through event by event.
//! - [`upstream`]: pooled upstream clients, timeouts, error mapping.
//! - [`error`]: the one mapping from failures to OpenAI-style HTTP errors.
//! - [`decisions`]: the batched decision-record writer (and audit log appends).
//! - [`audit`]: the tamper-evident audit log over the store: events, checkpoints,
//!   proofs, verification.
//! - [`integrity`]: serves a `registry = true` model only while it has an approved,
//!   verified active version.
//! - [`admin`], [`metrics`]: health, readiness, Prometheus.
//! - [`anomaly`]: per-principal anomaly detection, containment and incidents.
//! - [`listener`]: connection handling and graceful shutdown.
//! - [`mock_server`]: the stand-alone mock upstream used by benchmarks.

pub mod admin;
pub mod admin_changes;
pub mod anomaly;
pub mod audit;
pub mod authn;
pub mod bundles;
pub mod decisions;
pub mod error;
pub mod guards;
pub mod integrity;
pub mod listener;
pub mod metrics;
pub mod mock_server;
pub mod pipeline;
pub mod ratelimit;
pub mod shared_db;
pub mod state;
pub mod stream;
pub mod tls;
pub mod upstream;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::routing::{get, post};
use axum::Router;
use portcullis_core::config::{Config, ConfigError};
use portcullis_core::identity::{generate_key, IdentityKey, KeyRecord};
use portcullis_core::limits::{utc_day, Subject};
use portcullis_core::policy::PolicyEngine;
use portcullis_store::Store;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

use crate::listener::ConnLimits;
use crate::metrics::Metrics;
use crate::state::{unix_now, AppState};

/// How often the active policy bundle is checked for a change.
const BUNDLE_POLL: Duration = Duration::from_secs(1);
/// Every this many polls the active bundle is reloaded and re-verified regardless.
const BUNDLE_REVERIFY_POLLS: u64 = 60;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// Policies failed to load.
    #[error("{0}")]
    Policy(#[from] ConfigError),
    /// An upstream could not be set up (e.g. its credential is missing).
    #[error("{0}")]
    Upstream(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] portcullis_store::StoreError),
    /// I/O (threads, files).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The audit log could not be opened (bad key, or a log that no longer matches its
    /// last signed checkpoint).
    #[error("{0}")]
    Audit(String),
    /// The model-integrity settings could not be read (approvers, trusted keys, registry).
    #[error("{0}")]
    Integrity(String),
}

/// A gateway ready to serve.
pub struct Gateway {
    state: Arc<AppState>,
    writer: Option<JoinHandle<()>>,
}

impl Gateway {
    /// Loads policies, builds upstream clients, restores today's budget usage and starts
    /// the decision writer.
    pub fn new(config: Config, store: Arc<dyn Store>) -> Result<Self, StartError> {
        let bundles = bundles::open_store(&config).map_err(StartError::Integrity)?;
        let loaded = match config.policy_source {
            portcullis_core::config::PolicySource::Dir => bundles::Loaded {
                engine: PolicyEngine::load(&config.policy_dir, &config.models)?,
                guard_profiles: config.guard_profiles.clone(),
                bundle: None,
            },
            portcullis_core::config::PolicySource::Bundle => {
                bundles::load(&config, bundles.as_ref()).map_err(StartError::Integrity)?
            }
        };
        let upstreams = upstream::build_all(&config).map_err(StartError::Upstream)?;
        let limits = match &config.redis {
            None => ratelimit::Limits::local(),
            Some(r) => ratelimit::Limits::redis(r).map_err(StartError::Upstream)?,
        };
        let today = utc_day(unix_now());
        let mut restore = Vec::new();
        for (subject, used) in store.day_usage(today)? {
            let spec = match &subject {
                // A bare name is usage counted before identities were qualified by their
                // authenticator: it cannot be told whose it is, so it is not restored.
                Subject::Principal(p) => match IdentityKey::parse(p) {
                    Some(id) => config.limits_for(&id),
                    None => continue,
                },
                Subject::Group(g) => config.group_limits.get(g).copied().unwrap_or_default(),
            };
            if spec.tokens_per_day.is_some() {
                restore.push((subject, spec, used));
            }
        }
        let jwt = authn::JwtVerifier::new(&config.issuers).map_err(StartError::Upstream)?;
        let guards = guards::GuardEngine::from_profiles(&loaded.guard_profiles, None)
            .map_err(StartError::Upstream)?;
        let tls = match &config.tls {
            Some(t) => Some(Arc::new(
                tls::TlsSwitch::new(t).map_err(StartError::Upstream)?,
            )),
            None => None,
        };
        let admin_token = match &config.admin_token {
            Some(src) => upstream::read_credential(src)
                .map_err(|e| StartError::Upstream(format!("admin token: {e}")))?
                .filter(|t| !t.expose_secret().is_empty()),
            None => None,
        };
        if config.admin_anonymous {
            tracing::warn!("dangerous.admin_anonymous is set: the admin API needs no credential");
        }
        let metrics = Arc::new(Metrics::new());
        let audit_writer = match &config.audit {
            Some(a) => Some(audit::AuditWriter::open(a, &*store).map_err(StartError::Audit)?),
            None => None,
        };
        let audit = audit_writer.as_ref().map(audit::AuditWriter::shared);
        let audit_on = audit_writer.is_some();
        let journal_dir = decisions::journal_dir(&config.data_dir);
        let (decisions, writer) = decisions::start(
            store.clone(),
            metrics.clone(),
            audit_writer,
            Some(&journal_dir),
        )?;
        if audit_on {
            // Before any request: the log says under which policies and guards the
            // requests after it were decided.
            let events = audit::start_events(
                &*store,
                unix_now().saturating_mul(1000),
                loaded.audit_target(),
                audit::guard_config_target(&guards::GuardEngine::describe(
                    guards.as_ref(),
                    &loaded.guard_profiles,
                    &config,
                )),
            )
            .map_err(StartError::Audit)?;
            // Committed now, not queued: they precede every request's event.
            audit::append_events(&*store, &events).map_err(StartError::Audit)?;
        }
        if config.anonymous.is_some() {
            tracing::warn!("dangerous.anonymous is set: requests without credentials are admitted");
        }
        let integrity = integrity::IntegrityGate::start(
            &config,
            &config.data_dir.join("portcullis.db"),
            decisions.clone(),
            audit_on,
        )
        .map_err(StartError::Integrity)?;
        let anomaly = anomaly::AnomalyEngine::start(&config).map_err(StartError::Upstream)?;
        let state = Arc::new(AppState {
            anomaly,
            integrity,
            config,
            bundle_version: std::sync::atomic::AtomicU64::new(
                loaded.bundle.as_ref().map_or(0, |(v, _)| *v),
            ),
            bundles,
            guard_profiles: ArcSwap::from_pointee(loaded.guard_profiles),
            policy: ArcSwap::from_pointee(loaded.engine),
            store,
            limits,
            upstreams,
            metrics,
            decisions,
            jwt,
            keys: authn::KeyCache::default(),
            guards: arc_swap::ArcSwapOption::new(guards.map(Arc::new)),
            tls,
            admin_token,
            audit,
        });
        for (subject, spec, used) in &restore {
            state
                .limits
                .restore_local(subject.clone(), *spec, today, *used);
        }
        if state.limits.is_shared() {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let st = state.clone();
                rt.spawn(async move {
                    st.limits.warm_up().await;
                    // Redis keeps the counters itself; this matters after it lost them.
                    for (subject, _, used) in restore {
                        st.limits.restore_shared(&subject, today, used).await;
                    }
                });
            }
        }
        Ok(Self {
            state,
            writer: Some(writer),
        })
    }

    /// The shared state (for tests and the binary).
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Re-reads the policy directory and swaps the new set in atomically. A file that
    /// fails to parse or validate is reported and the old set stays.
    pub fn reload_policies(&self) -> Result<usize, ConfigError> {
        reload_policies(&self.state)
    }

    /// Creates the demo key when configured and the key store is empty; writes it to
    /// `<data_dir>/demo.key` (mode 0600) and returns the path.
    pub fn bootstrap_demo_key(&self) -> Result<Option<PathBuf>, StartError> {
        let Some(demo) = &self.state.config.demo_key else {
            return Ok(None);
        };
        let path = self.state.config.data_dir.join("demo.key");
        if self.state.store.count_keys()? > 0 {
            return Ok(path.exists().then_some(path));
        }
        let g = generate_key();
        self.state.store.put_key(&KeyRecord {
            id: g.id.clone(),
            hash: g.hash,
            principal: demo.principal.clone(),
            groups: demo.groups.clone(),
            created_at: unix_now(),
            expires_at: None,
            revoked_at: None,
        })?;
        write_private(&path, g.key.expose_secret())?;
        Ok(Some(path))
    }

    /// The data-plane router. There is no generic pass-through route: anything not
    /// listed is a 404.
    pub fn data_router(&self) -> Router {
        data_router(self.state.clone())
    }

    /// Serves the data plane and the admin listener until `shutdown`, then drains
    /// connections and flushes decision records.
    pub async fn run(
        mut self,
        data: TcpListener,
        admin: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let limits = ConnLimits {
            max_header_bytes: self.state.config.max_header_bytes,
            ..ConnLimits::default()
        };
        let (tx, rx) = tokio::sync::watch::channel(false);
        let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|v| *v).await;
        };
        let data_srv = listener::serve(
            data,
            data_router(self.state.clone()),
            limits,
            wait(rx.clone()),
            Duration::from_secs(30),
            self.state.tls.clone(),
        );
        let admin_srv = listener::serve(
            admin,
            admin::router(self.state.clone()),
            ConnLimits::default(),
            wait(rx),
            Duration::from_secs(5),
            None,
        );
        let trigger = async move {
            shutdown.await;
            let _ = tx.send(true);
        };
        // Signs audit checkpoints on the configured interval (the writer signs a last one
        // when it stops).
        let ticker = self.state.config.audit.as_ref().map(|a| {
            let sink = self.state.decisions.clone();
            let every = a.checkpoint_interval;
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    if let Err(e) = sink.checkpoint().await {
                        tracing::error!(error = %e, "audit checkpoint failed");
                    }
                }
            })
        });
        // With policy bundles: pick up a newly activated (or rolled back) bundle.
        let poller = self.state.bundles.is_some().then(|| {
            let weak = Arc::downgrade(&self.state);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(BUNDLE_POLL);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                for n in 1u64.. {
                    tick.tick().await;
                    let Some(state) = weak.upgrade() else { break };
                    // Now and then the whole bundle is re-verified even if its version
                    // did not change (an edit in the database is then refused).
                    let force = n % BUNDLE_REVERIFY_POLLS == 0;
                    let r = tokio::task::spawn_blocking(move || {
                        let r = bundles::reload(&state, force);
                        if r.is_err() {
                            state.metrics.policy_reload_failures.inc();
                        }
                        r
                    })
                    .await;
                    match r {
                        Ok(Ok(Some(t))) => tracing::info!(bundle = %t, "policy bundle loaded"),
                        Ok(Ok(None)) => {}
                        Ok(Err(e)) => tracing::error!(error = %e, "policy bundle refused; the previous policies stay in force"),
                        Err(e) => tracing::error!(error = %e, "policy bundle reload panicked"),
                    }
                }
            })
        });
        // With anomaly detection: pick up incidents released or resolved elsewhere.
        let incidents = self.state.anomaly.is_some().then(|| {
            let weak = Arc::downgrade(&self.state);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let Some(state) = weak.upgrade() else { break };
                    let _ = tokio::task::spawn_blocking(move || {
                        if let Some(a) = &state.anomaly {
                            a.sync(&state);
                        }
                    })
                    .await;
                }
            })
        });
        tokio::join!(data_srv, admin_srv, trigger);
        for t in [ticker, poller, incidents].into_iter().flatten() {
            t.abort();
            let _ = t.await;
        }
        // Dropping the last state handle closes the decision channel; the writer then
        // writes what is queued and exits.
        let writer = self.writer.take();
        drop(self);
        if let Some(w) = writer {
            let joined = tokio::task::spawn_blocking(move || w.join());
            if tokio::time::timeout(Duration::from_secs(30), joined)
                .await
                .is_err()
            {
                tracing::error!("decision writer did not finish within 30 s");
            }
        }
        Ok(())
    }
}

/// Writes a random admin token to `admin.token_file` when the config asks for it
/// (`bootstrap.admin_token`) and the file does not exist yet. Call before
/// [`Gateway::new`], which reads it.
pub fn bootstrap_admin_token(config: &Config) -> std::io::Result<Option<PathBuf>> {
    let Some(portcullis_core::config::CredentialSource::File(path)) = &config.admin_token else {
        return Ok(None);
    };
    if !config.bootstrap_admin_token || path.exists() {
        return Ok(None);
    }
    write_private(path, &hex::encode(rand::random::<[u8; 32]>()))?;
    Ok(Some(path.clone()))
}

/// Re-reads the data plane's TLS certificate, key and trust bundles (on SIGHUP). New
/// handshakes use them; open connections are not dropped. On error nothing changes.
pub fn reload_tls(state: &AppState) -> Result<bool, String> {
    match &state.tls {
        Some(t) => t.reload().map(|()| true),
        None => Ok(false),
    }
}

/// See [`Gateway::reload_policies`]. With policy bundles, re-reads the active bundle.
pub fn reload_policies(state: &AppState) -> Result<usize, ConfigError> {
    if state.bundles.is_some() {
        return match bundles::reload(state, true) {
            Ok(_) => Ok(state.policy.load().len()),
            Err(e) => {
                state.metrics.policy_reload_failures.inc();
                Err(ConfigError::whole(
                    std::path::Path::new("<policy bundle>"),
                    e,
                ))
            }
        };
    }
    match PolicyEngine::load(&state.config.policy_dir, &state.config.models) {
        Ok(engine) => {
            let n = engine.len();
            let files = engine.files.len();
            let engine_digest = engine.digest;
            state.policy.store(Arc::new(engine));
            if state.audit_on() {
                let event = audit::control_event(
                    portcullis_audit::EventKind::PolicyReloaded,
                    unix_now().saturating_mul(1000),
                    audit::SYSTEM,
                    audit::SYSTEM,
                    "policy.reload",
                    &audit::policy_target(&engine_digest, n, files),
                );
                if !state.decisions.audit_event(event) {
                    tracing::error!("audit event for the policy reload was not queued");
                }
            }
            Ok(n)
        }
        Err(e) => {
            state.metrics.policy_reload_failures.inc();
            Err(e)
        }
    }
}

fn data_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(pipeline::chat))
        .route("/v1/embeddings", post(pipeline::embeddings))
        .route("/v1/models", get(pipeline::models))
        .fallback(pipeline::not_found)
        .method_not_allowed_fallback(pipeline::method_not_allowed)
        .with_state(state)
}

/// Writes a secret file with mode 0600 (creating its directory), content plus a newline.
pub fn write_private_file(path: &std::path::Path, content: &str) -> std::io::Result<()> {
    write_private(path, content)
}

fn write_private(path: &std::path::Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(content.as_bytes())?;
    f.write_all(b"\n")
}
