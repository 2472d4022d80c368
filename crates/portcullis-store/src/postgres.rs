//! The PostgreSQL backend: one database shared by several gateway replicas.
//!
//! - **Blocking calls, async client.** The [`Store`] trait is blocking and the gateway
//!   calls parts of it on tokio worker threads; the client (`tokio-postgres` with a
//!   `deadpool` pool) runs on a runtime of the store's own ([`bridge`]), so a call never
//!   starts or blocks on the caller's runtime (which would panic or deadlock there).
//!   Every call has a deadline ([`PostgresConfig::with_timeout`]).
//! - **Schema.** Numbered migrations recorded in `schema_version`, applied only by
//!   [`PostgresStore::migrate`] (`portcullis migrate`); [`PostgresStore::open`] refuses a
//!   database older ("run `portcullis migrate`") or newer than the binary.
//! - **Change marker.** A background connection `LISTEN`s on [`CHANGES_CHANNEL`];
//!   `put_key` and `revoke_key` `NOTIFY` it (payload: the schema) in their transaction,
//!   so every replica's
//!   [`Store::change_marker`] (an atomic read) moves within milliseconds of a commit,
//!   and their key caches are dropped. It also moves every [`RESYNC_EVERY`] in case a
//!   notification is lost, and on every call while the listener is disconnected (no
//!   caching then).
//! - **Audit log with many writers.** `record_batch_with_bodies` commits decisions,
//!   usage, bodies and the events into `audit_pending` in one transaction (the commit
//!   acknowledges the request). One replica at a time is the sequencer
//!   ([`Store::sequencer_lease`]: a session-level advisory lock on a connection of its
//!   own, released by PostgreSQL when that process dies) and moves pending events into
//!   `audit_leaves` with contiguous indices ([`Store::sequence_pending`]), in one
//!   transaction serialized by a transaction-level advisory lock: a sequencer killed
//!   mid-transaction leaves its events pending for the next.
//! - **Several deployments in one database**: each in a schema of its own
//!   ([`PostgresConfig::with_schema`]); the advisory lock keys are derived from it.
//!
//! - **TLS**: with `sslmode=require` in the URL, every connection uses TLS (rustls) and
//!   verifies the server's certificate and host name against the public web roots or
//!   the CA file given ([`PostgresConfig::with_ca_file`]), i.e. libpq's `verify-full`.
//!   Otherwise (no `sslmode`, `prefer`, `disable`) connections are plaintext: an
//!   unverified "maybe TLS" would only look safe.

pub(crate) mod bridge;
mod schema;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use portcullis_core::identity::KeyRecord;
use portcullis_core::limits::{utc_day, Subject};
use secrecy::{ExposeSecret, SecretString};
pub use tokio_postgres::types::{FromSqlOwned, ToSql};
use tokio_postgres::AsyncMessage;
pub use tokio_postgres::Row;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::{
    AuditBody, AuditLeaf, AuditQuery, DecisionRecord, NewAuditLeaf, Store, StoreError,
    StoredCheckpoint,
};
pub use schema::SCHEMA_VERSION;

/// The channel `put_key` and `revoke_key` notify, and every replica listens on.
pub const CHANGES_CHANNEL: &str = "portcullis_changes";

/// How often the change marker moves even without a notification (default).
pub const RESYNC_EVERY: Duration = Duration::from_secs(2);

/// Default number of pooled connections per store.
pub const DEFAULT_POOL_SIZE: usize = 8;

/// Default deadline of one store call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The first key of the advisory locks (the second is derived from the schema name).
const LEASE_LOCK_CLASS: i32 = 0x5043_534c; // "PCSL": the sequencer lease (session)
pub(crate) const SEQUENCE_LOCK_CLASS: i32 = 0x5043_5353; // "PCSS": one sequencing transaction
const MIGRATE_LOCK_CLASS: i32 = 0x5043_534d; // "PCSM": one migration

/// How long `open` waits for the change listener before serving without it (the
/// marker then changes on every call until it connects).
const LISTENER_START_WAIT: Duration = Duration::from_secs(2);

/// Advisory lock keys of one deployment (schema).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LockKeys {
    pub(crate) schema: i32,
}

impl LockKeys {
    pub(crate) fn new(schema: Option<&str>) -> Self {
        // FNV-1a, 32 bits: stable across builds and platforms.
        let mut h: u32 = 0x811c_9dc5;
        for b in schema.unwrap_or("public").bytes() {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
        Self {
            schema: i32::from_ne_bytes(h.to_ne_bytes()),
        }
    }
}

/// How to reach the database. The URL is a secret (it may hold a password): it is
/// never printed; [`PostgresConfig::redacted`] is what messages show.
#[derive(Clone)]
pub struct PostgresConfig {
    url: SecretString,
    schema: Option<String>,
    pool_size: usize,
    timeout: Duration,
    resync_every: Duration,
    ca_file: Option<std::path::PathBuf>,
}

/// A parsed connection configuration and its TLS connector (used when the URL says
/// `sslmode=require`).
#[derive(Clone)]
pub(crate) struct Pg {
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
}

impl fmt::Debug for Pg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `tokio_postgres::Config`'s own Debug redacts the password.
        f.debug_struct("Pg")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &self.redacted())
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl PostgresConfig {
    /// A connection URL (`postgres://user:password@host:port/db`) or key-value string.
    pub fn new(url: SecretString) -> Self {
        Self {
            url,
            schema: None,
            pool_size: DEFAULT_POOL_SIZE,
            timeout: DEFAULT_TIMEOUT,
            resync_every: RESYNC_EVERY,
            ca_file: None,
        }
    }

    /// With `sslmode=require`: trust only the CA certificates (PEM) in this file instead
    /// of the public web roots (e.g. a private CA, or a self-signed server certificate).
    pub fn with_ca_file(mut self, path: &std::path::Path) -> Self {
        self.ca_file = Some(path.to_path_buf());
        self
    }

    /// Keeps every table in this schema (created by `migrate`) instead of `public`.
    /// Letters, digits and `_`, not starting with a digit, at most 63 bytes.
    pub fn with_schema(mut self, schema: &str) -> Result<Self, StoreError> {
        let ok = !schema.is_empty()
            && schema.len() <= 63
            && schema
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !schema.as_bytes().first().is_some_and(u8::is_ascii_digit);
        if !ok {
            return Err(StoreError::Database(format!(
                "PostgreSQL schema `{schema}` is not a plain identifier (letters, digits, `_`)"
            )));
        }
        self.schema = Some(schema.to_string());
        Ok(self)
    }

    /// Pooled connections per store (at least 1).
    pub fn with_pool_size(mut self, n: usize) -> Self {
        self.pool_size = n.max(1);
        self
    }

    /// Deadline of one store call (waiting for a pooled connection included).
    pub fn with_timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// How often the change marker moves without a notification (default
    /// [`RESYNC_EVERY`]): the longest a lost notification can keep a stale key cached.
    pub fn with_resync_every(mut self, t: Duration) -> Self {
        self.resync_every = t.max(Duration::from_millis(10));
        self
    }

    /// The schema, if one was set.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// The URL without its password, for messages: `postgres://user:***@host:port/db`.
    pub fn redacted(&self) -> String {
        match self.url.expose_secret().parse::<tokio_postgres::Config>() {
            Ok(c) => {
                let user = c.get_user().unwrap_or("");
                let pw = if c.get_password().is_some() {
                    ":***"
                } else {
                    ""
                };
                let at = if user.is_empty() && pw.is_empty() {
                    ""
                } else {
                    "@"
                };
                let hosts = c
                    .get_hosts()
                    .iter()
                    .enumerate()
                    .map(|(i, h)| {
                        let host = match h {
                            tokio_postgres::config::Host::Tcp(s) => s.clone(),
                            #[cfg(unix)]
                            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
                        };
                        match c.get_ports().get(i).or(c.get_ports().first()) {
                            Some(p) => format!("{host}:{p}"),
                            None => host,
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(",");
                let db = c.get_dbname().unwrap_or("");
                format!("postgres://{user}{pw}{at}{hosts}/{db}")
            }
            Err(_) => "<unparsable PostgreSQL URL>".into(),
        }
    }

    pub(crate) fn pg_config(&self) -> Result<Pg, StoreError> {
        let mut c: tokio_postgres::Config = self.url.expose_secret().parse().map_err(|e| {
            StoreError::Database(format!(
                "PostgreSQL URL {}: {}",
                self.redacted(),
                error_text(&e)
            ))
        })?;
        if !matches!(c.get_ssl_mode(), tokio_postgres::config::SslMode::Require) {
            // `prefer` (the default) would try TLS without a meaningful verification.
            c.ssl_mode(tokio_postgres::config::SslMode::Disable);
        }
        if c.get_connect_timeout().is_none() {
            c.connect_timeout(Duration::from_secs(5));
        }
        if c.get_application_name().is_none() {
            c.application_name("portcullis");
        }
        // Find a dead peer (a network partition, a database host gone) in about 30 s
        // rather than the OS default of hours: the change listener and the sequencer
        // lease sit on idle connections.
        c.keepalives(true)
            .keepalives_idle(Duration::from_secs(15))
            .keepalives_interval(Duration::from_secs(5))
            .keepalives_retries(3);
        if let Some(s) = &self.schema {
            let opts = match c.get_options() {
                Some(o) if !o.trim().is_empty() => format!("{o} -c search_path={s}"),
                _ => format!("-c search_path={s}"),
            };
            c.options(opts);
        }
        Ok(Pg {
            config: c,
            tls: self.tls()?,
        })
    }

    /// The TLS client configuration: rustls with ring, verifying the server's
    /// certificate chain and host name.
    fn tls(&self) -> Result<MakeRustlsConnect, StoreError> {
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca_file {
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Some(path) => {
                use rustls::pki_types::pem::PemObject;
                let bad = |e: String| {
                    StoreError::Database(format!("PostgreSQL CA file {}: {e}", path.display()))
                };
                for cert in rustls::pki_types::CertificateDer::pem_file_iter(path)
                    .map_err(|e| bad(e.to_string()))?
                {
                    roots
                        .add(cert.map_err(|e| bad(e.to_string()))?)
                        .map_err(|e| bad(e.to_string()))?;
                }
                if roots.is_empty() {
                    return Err(bad("no certificate in it".into()));
                }
            }
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Database(format!("TLS for PostgreSQL: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }
}

/// A `tokio-postgres` error as text, with the server's message when there is one.
fn error_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => match std::error::Error::source(e) {
            Some(s) => format!("{e}: {s}"),
            None => e.to_string(),
        },
    }
}

pub(crate) fn pg_err(e: tokio_postgres::Error) -> StoreError {
    if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
        return StoreError::Conflict(error_text(&e));
    }
    StoreError::Database(error_text(&e))
}

fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => pg_err(e),
        other => StoreError::Database(format!("PostgreSQL connection pool: {other}")),
    }
}

/// State shared with the background tasks.
struct Shared {
    marker: AtomicU64,
    listening: AtomicBool,
    lease: tokio::sync::Mutex<Option<Lease>>,
}

impl Shared {
    fn bump(&self) -> u64 {
        self.marker.fetch_add(1, Ordering::AcqRel).wrapping_add(1)
    }
}

/// The sequencer lease's own connection.
struct Lease {
    client: tokio_postgres::Client,
    held: bool,
}

/// The PostgreSQL store.
pub struct PostgresStore {
    // First field: dropped first, which stops the runtime and with it the listener and
    // the lease connection (releasing the lease).
    bridge: bridge::Bridge,
    pool: Pool,
    shared: Arc<Shared>,
    pg: Pg,
    locks: LockKeys,
    timeout: Duration,
    resync_every: Duration,
    /// The notification payload of this deployment: its schema (the channel is shared by
    /// every schema of the database).
    tag: Arc<str>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

fn make_pool(pg: &Pg, size: usize, timeout: Duration) -> Result<Pool, StoreError> {
    let mgr = Manager::from_config(
        pg.config.clone(),
        pg.tls.clone(),
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(mgr)
        .max_size(size)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .build()
        .map_err(|e| StoreError::Database(format!("PostgreSQL connection pool: {e}")))
}

/// A parameter of a [`SqlClient`] statement.
pub type SqlParam = Box<dyn ToSql + Send + Sync>;

/// A plain blocking SQL client on the migrated database, for the parts of Portcullis
/// that keep tables of their own in it (the model registry, policy bundles). Same
/// runtime model as [`PostgresStore`]: safe to call from any thread. Cheap to clone.
#[derive(Clone)]
pub struct SqlClient {
    inner: Arc<SqlInner>,
}

struct SqlInner {
    // Dropped first: stops the runtime.
    bridge: bridge::Bridge,
    pool: Pool,
    timeout: Duration,
}

impl fmt::Debug for SqlClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlClient").finish_non_exhaustive()
    }
}

fn param_refs(params: &[SqlParam]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect()
}

impl SqlClient {
    /// Connects (a pool of at most 2) and checks the schema like [`PostgresStore::open`].
    pub fn open(cfg: &PostgresConfig) -> Result<Self, StoreError> {
        let pg = cfg.pg_config()?;
        let bridge = bridge::Bridge::start()?;
        let pool = make_pool(&pg, cfg.pool_size.min(2), cfg.timeout)?;
        let c = Self {
            inner: Arc::new(SqlInner {
                bridge,
                pool,
                timeout: cfg.timeout,
            }),
        };
        let pool = c.inner.pool.clone();
        c.inner
            .bridge
            .run(c.inner.timeout, async move {
                let client = pool.get().await.map_err(pool_err)?;
                schema::check(&client).await
            })
            .map_err(|e| match e {
                StoreError::Database(m) => {
                    StoreError::Database(format!("PostgreSQL at {}: {m}", cfg.redacted()))
                }
                other => other,
            })?;
        Ok(c)
    }

    /// Runs one statement; the number of rows it changed.
    pub fn execute(&self, sql: &str, params: Vec<SqlParam>) -> Result<u64, StoreError> {
        let (pool, sql) = (self.inner.pool.clone(), sql.to_string());
        self.inner.bridge.run(self.inner.timeout, async move {
            let c = pool.get().await.map_err(pool_err)?;
            c.execute(sql.as_str(), &param_refs(&params))
                .await
                .map_err(pg_err)
        })
    }

    /// Runs one query; its rows.
    pub fn query(&self, sql: &str, params: Vec<SqlParam>) -> Result<Vec<Row>, StoreError> {
        let (pool, sql) = (self.inner.pool.clone(), sql.to_string());
        self.inner.bridge.run(self.inner.timeout, async move {
            let c = pool.get().await.map_err(pool_err)?;
            c.query(sql.as_str(), &param_refs(&params))
                .await
                .map_err(pg_err)
        })
    }

    /// Runs statements in one transaction, in order; the rows each changed. Nothing is
    /// written if one fails.
    pub fn transaction(
        &self,
        statements: Vec<(&str, Vec<SqlParam>)>,
    ) -> Result<Vec<u64>, StoreError> {
        let pool = self.inner.pool.clone();
        let statements: Vec<(String, Vec<SqlParam>)> = statements
            .into_iter()
            .map(|(s, p)| (s.to_string(), p))
            .collect();
        self.inner.bridge.run(self.inner.timeout, async move {
            let mut c = pool.get().await.map_err(pool_err)?;
            let tx = c.transaction().await.map_err(pg_err)?;
            let mut out = Vec::with_capacity(statements.len());
            for (sql, params) in &statements {
                out.push(
                    tx.execute(sql.as_str(), &param_refs(params))
                        .await
                        .map_err(pg_err)?,
                );
            }
            tx.commit().await.map_err(pg_err)?;
            Ok(out)
        })
    }
}

/// One connection, outside the pool, driven on the current (store) runtime.
pub(crate) async fn connect(pg: &Pg) -> Result<tokio_postgres::Client, StoreError> {
    let (client, conn) = pg.config.connect(pg.tls.clone()).await.map_err(pg_err)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

impl PostgresStore {
    /// Connects, checks that the schema is at [`SCHEMA_VERSION`] (refusing an older or
    /// newer one) and starts the change listener.
    pub fn open(cfg: &PostgresConfig) -> Result<Self, StoreError> {
        let store = Self::open_unchecked(cfg)?;
        store
            .with_client(|c| async move { schema::check(&c).await })
            .map_err(|e| match e {
                StoreError::Database(m) => {
                    StoreError::Database(format!("PostgreSQL at {}: {m}", cfg.redacted()))
                }
                other => other,
            })?;
        store.bridge.handle().spawn(listen(
            store.pg.clone(),
            store.shared.clone(),
            store.tag.clone(),
            store.resync_every,
        ));
        let started = std::time::Instant::now();
        while !store.shared.listening.load(Ordering::Acquire)
            && started.elapsed() < LISTENER_START_WAIT
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(store)
    }

    /// The pool and runtime, without the schema check or the listener.
    fn open_unchecked(cfg: &PostgresConfig) -> Result<Self, StoreError> {
        let pg = cfg.pg_config()?;
        let bridge = bridge::Bridge::start()?;
        let pool = make_pool(&pg, cfg.pool_size, cfg.timeout)?;
        Ok(Self {
            bridge,
            pool,
            shared: Arc::new(Shared {
                marker: AtomicU64::new(rand::random::<u32>().into()),
                listening: AtomicBool::new(false),
                lease: tokio::sync::Mutex::new(None),
            }),
            pg,
            locks: LockKeys::new(cfg.schema()),
            timeout: cfg.timeout,
            resync_every: cfg.resync_every,
            tag: cfg.schema().unwrap_or("public").into(),
        })
    }

    /// Applies the missing migrations (creating the schema if one is set); returns the
    /// schema versions before and after.
    pub fn migrate(cfg: &PostgresConfig) -> Result<(i64, i64), StoreError> {
        let pg = cfg.pg_config()?;
        let schema = cfg.schema.clone();
        let locks = LockKeys::new(cfg.schema());
        bridge::Bridge::start()?.run(cfg.timeout.max(Duration::from_secs(60)), async move {
            let mut c = connect(&pg).await?;
            schema::migrate(&mut c, schema.as_deref(), locks).await
        })
    }

    /// The schema version of the database (0 when never migrated), without checking it.
    pub fn schema_version(cfg: &PostgresConfig) -> Result<i64, StoreError> {
        let pg = cfg.pg_config()?;
        bridge::Bridge::start()?.run(cfg.timeout, async move {
            let c = connect(&pg).await?;
            schema::version(&c).await
        })
    }

    /// Runs `f` with a pooled connection on the store's runtime.
    fn with_client<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Object) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let pool = self.pool.clone();
        self.bridge.run(self.timeout, async move {
            let c = pool.get().await.map_err(pool_err)?;
            f(c).await
        })
    }

    /// Runs SQL as is, with no schema check (tests: triggers that make writes fail,
    /// dropping a test schema).
    #[cfg(any(test, feature = "test-support"))]
    pub(crate) fn raw(cfg: &PostgresConfig) -> Result<Self, StoreError> {
        Self::open_unchecked(cfg)
    }

    /// Runs SQL as is (tests).
    #[cfg(any(test, feature = "test-support"))]
    pub(crate) fn execute_batch(&self, sql: &str) -> Result<(), StoreError> {
        let sql = sql.to_string();
        self.with_client(move |c| async move { c.batch_execute(&sql).await.map_err(pg_err) })
    }
}

/// The change listener: `LISTEN`s on [`CHANGES_CHANNEL`] and moves the marker on every
/// notification for this deployment (`tag`) and every `resync_every`; reconnects with
/// backoff when the connection drops (the marker changes on every read meanwhile).
async fn listen(pg: Pg, shared: Arc<Shared>, tag: Arc<str>, resync_every: Duration) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match pg.config.connect(pg.tls.clone()).await {
            Ok((client, mut conn)) => {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
                let tag = tag.clone();
                let driver = tokio::spawn(async move {
                    loop {
                        match std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                            Some(Ok(AsyncMessage::Notification(n))) => {
                                if n.payload() != &*tag {
                                    continue;
                                }
                                if tx.send(()).is_err() {
                                    break;
                                }
                            }
                            Some(Ok(_)) => {}
                            Some(Err(e)) => {
                                tracing::warn!(error = %error_text(&e), "PostgreSQL change listener disconnected");
                                break;
                            }
                            None => break,
                        }
                    }
                });
                match client
                    .batch_execute(&format!("LISTEN {CHANGES_CHANNEL}"))
                    .await
                {
                    Ok(()) => {
                        backoff = Duration::from_millis(100);
                        // Whatever changed while not listening.
                        shared.bump();
                        shared.listening.store(true, Ordering::Release);
                        let mut tick = tokio::time::interval(resync_every);
                        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                        loop {
                            tokio::select! {
                                m = rx.recv() => match m {
                                    Some(()) => { shared.bump(); }
                                    None => break,
                                },
                                _ = tick.tick() => { shared.bump(); }
                            }
                        }
                        shared.listening.store(false, Ordering::Release);
                        shared.bump();
                    }
                    Err(e) => {
                        tracing::warn!(error = %error_text(&e), "PostgreSQL change listener: LISTEN failed")
                    }
                }
                driver.abort();
            }
            Err(e) => {
                tracing::warn!(error = %error_text(&e), "PostgreSQL change listener cannot connect; key lookups are not cached meanwhile")
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

const KEY_COLS: &str = "id, hash, principal, groups, created_at, expires_at, revoked_at";

fn key_record(r: &Row) -> Result<KeyRecord, StoreError> {
    let id: String = r.try_get(0).map_err(pg_err)?;
    let hash: Vec<u8> = r.try_get(1).map_err(pg_err)?;
    let hash: [u8; 32] = hash
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("key {id}: bad hash length")))?;
    Ok(KeyRecord {
        hash,
        principal: r.try_get(2).map_err(pg_err)?,
        groups: r.try_get(3).map_err(pg_err)?,
        created_at: r.try_get(4).map_err(pg_err)?,
        expires_at: r.try_get(5).map_err(pg_err)?,
        revoked_at: r.try_get(6).map_err(pg_err)?,
        id,
    })
}

const LEAF_COLS: &str = "idx, leaf, leaf_hash, event_id, ts_ms, principal, decision";

fn audit_leaf(r: &Row) -> Result<AuditLeaf, StoreError> {
    let idx: i64 = r.try_get(0).map_err(pg_err)?;
    let hash: Vec<u8> = r.try_get(2).map_err(pg_err)?;
    Ok(AuditLeaf {
        index: u64::try_from(idx)
            .map_err(|_| StoreError::Corrupt(format!("audit leaf index {idx}")))?,
        leaf: NewAuditLeaf {
            leaf: r.try_get(1).map_err(pg_err)?,
            leaf_hash: hash32(&hash, idx)?,
            event_id: r.try_get(3).map_err(pg_err)?,
            ts_ms: r.try_get(4).map_err(pg_err)?,
            principal: r.try_get(5).map_err(pg_err)?,
            decision: r.try_get(6).map_err(pg_err)?,
        },
    })
}

fn hash32(h: &[u8], idx: i64) -> Result<[u8; 32], StoreError> {
    h.try_into()
        .map_err(|_| StoreError::Corrupt(format!("audit leaf {idx}: leaf hash is not 32 bytes")))
}

fn checkpoint(r: &Row) -> Result<StoredCheckpoint, StoreError> {
    Ok(StoredCheckpoint {
        seq: r.try_get(0).map_err(pg_err)?,
        size: r.try_get::<_, i64>(1).map_err(pg_err)?.max(0) as u64,
        note: r.try_get(2).map_err(pg_err)?,
    })
}

fn to_i64(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Database(format!("{n} does not fit in 64 bits")))
}

fn groups_json(groups: &[String]) -> String {
    serde_json::Value::from(groups.to_vec()).to_string()
}

const LOG_SIZE: &str = "SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_leaves";

/// Moves up to `$1` pending events into the log, in submission order, after the
/// largest index. Run under the sequencing lock, in one transaction.
pub(crate) const SEQUENCE: &str = "WITH moved AS (
        DELETE FROM audit_pending
        WHERE seq IN (SELECT seq FROM audit_pending ORDER BY seq LIMIT $1)
        RETURNING seq, leaf, leaf_hash, event_id, ts_ms, principal, decision
    ), base AS (
        SELECT COALESCE(MAX(idx) + 1, 0) AS next FROM audit_leaves
    )
    INSERT INTO audit_leaves (idx, leaf, leaf_hash, event_id, ts_ms, principal, decision)
    SELECT base.next + ROW_NUMBER() OVER (ORDER BY moved.seq) - 1,
           moved.leaf, moved.leaf_hash, moved.event_id, moved.ts_ms, moved.principal, moved.decision
    FROM moved CROSS JOIN base";

/// Writes a batch in one transaction: decisions, the day's usage, bodies, and the
/// leaves as pending events. Returns the log size (sequenced leaves) at commit.
async fn write_batch(
    mut c: Object,
    batch_id: Option<u128>,
    decisions: Vec<DecisionRecord>,
    leaves: Vec<NewAuditLeaf>,
    bodies: Vec<AuditBody>,
) -> Result<u64, StoreError> {
    let tx = c.transaction().await.map_err(pg_err)?;
    if let Some(id) = batch_id {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        // Blocks while a first attempt with this id is still in flight, then either
        // finds it committed (nothing to do) or rolled back (write it now).
        let fresh = tx
            .execute(
                "INSERT INTO write_batches (id, at_ms) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
                &[&id.to_be_bytes().as_slice(), &now_ms],
            )
            .await
            .map_err(pg_err)?;
        if fresh == 0 {
            let size: i64 = tx
                .query_one(LOG_SIZE, &[])
                .await
                .map_err(pg_err)?
                .try_get(0)
                .map_err(pg_err)?;
            return Ok(size.max(0) as u64);
        }
        // Now and then, forget ids older than a day (no retry waits that long).
        if rand::random::<u8>() < 3 {
            tx.execute(
                "DELETE FROM write_batches WHERE at_ms < $1",
                &[&now_ms.saturating_sub(86_400_000)],
            )
            .await
            .map_err(pg_err)?;
        }
    }
    if !decisions.is_empty() {
        let st = tx
            .prepare_cached(
                "INSERT INTO decisions (ts_ms, request_id, principal, groups, key_id, action, model, upstream, decision, reason, status, prompt_tokens, completion_tokens, latency_us, stream)
                 SELECT ts_ms, request_id, principal, ARRAY(SELECT g FROM jsonb_array_elements_text(groups::jsonb) WITH ORDINALITY AS e(g, n) ORDER BY n), key_id, action, model, upstream, decision, reason, status, prompt_tokens, completion_tokens, latency_us, stream
                 FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::int[], $12::bigint[], $13::bigint[], $14::bigint[], $15::bool[])
                 WITH ORDINALITY AS t(ts_ms, request_id, principal, groups, key_id, action, model, upstream, decision, reason, status, prompt_tokens, completion_tokens, latency_us, stream, ord)
                 ORDER BY ord",
            )
            .await
            .map_err(pg_err)?;
        let col = |f: &dyn Fn(&DecisionRecord) -> String| -> Vec<String> {
            decisions.iter().map(f).collect()
        };
        let num = |f: &dyn Fn(&DecisionRecord) -> u64| -> Result<Vec<i64>, StoreError> {
            decisions.iter().map(|d| to_i64(f(d))).collect()
        };
        let ts: Vec<i64> = decisions.iter().map(|d| d.ts_ms).collect();
        let status: Vec<i32> = decisions.iter().map(|d| i32::from(d.status)).collect();
        let stream: Vec<bool> = decisions.iter().map(|d| d.stream).collect();
        tx.execute(
            &st,
            &[
                &ts,
                &col(&|d| d.request_id.clone()),
                &col(&|d| d.principal.clone()),
                &col(&|d| groups_json(&d.groups)),
                &col(&|d| d.key_id.clone()),
                &col(&|d| d.action.clone()),
                &col(&|d| d.model.clone()),
                &col(&|d| d.upstream.clone()),
                &col(&|d| d.decision.clone()),
                &col(&|d| d.reason.clone()),
                &status,
                &num(&|d| d.prompt_tokens)?,
                &num(&|d| d.completion_tokens)?,
                &num(&|d| d.latency_us)?,
                &stream,
            ],
        )
        .await
        .map_err(pg_err)?;
        // One upsert per (day, subject), in key order: replicas writing the same
        // counters lock their rows in the same order, so they cannot deadlock.
        let mut sums: BTreeMap<(i64, &str, &str), (i64, i64)> = BTreeMap::new();
        for d in &decisions {
            if d.decision == "allow" && !d.principal.is_empty() {
                let tokens = to_i64(d.prompt_tokens.saturating_add(d.completion_tokens))?;
                let day = utc_day(d.ts_ms.div_euclid(1000));
                let subjects = std::iter::once(("principal", d.usage_identity()))
                    .chain(d.groups.iter().map(|g| ("group", g.as_str())));
                for (kind, subject) in subjects {
                    let e = sums.entry((day, kind, subject)).or_default();
                    e.0 = e.0.saturating_add(tokens);
                    e.1 += 1;
                }
            }
        }
        if !sums.is_empty() {
            let up = tx
                .prepare_cached(
                    "INSERT INTO usage (day, subject_kind, subject, tokens, requests) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (day, subject_kind, subject) DO UPDATE SET tokens = usage.tokens + EXCLUDED.tokens, requests = usage.requests + EXCLUDED.requests",
                )
                .await
                .map_err(pg_err)?;
            for ((day, kind, subject), (tokens, requests)) in sums {
                tx.execute(&up, &[&day, &kind, &subject, &tokens, &requests])
                    .await
                    .map_err(pg_err)?;
            }
        }
    }
    if !bodies.is_empty() {
        let st = tx
            .prepare_cached(
                "INSERT INTO audit_bodies (event_id, part, ts_ms, nonce, ciphertext)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bytea[], $5::bytea[])
                 ON CONFLICT (event_id, part) DO UPDATE SET ts_ms = EXCLUDED.ts_ms, nonce = EXCLUDED.nonce, ciphertext = EXCLUDED.ciphertext",
            )
            .await
            .map_err(pg_err)?;
        let ids: Vec<&str> = bodies.iter().map(|b| b.event_id.as_str()).collect();
        let parts: Vec<&str> = bodies.iter().map(|b| b.part.as_str()).collect();
        let ts: Vec<i64> = bodies.iter().map(|b| b.ts_ms).collect();
        let nonces: Vec<&[u8]> = bodies.iter().map(|b| b.nonce.as_slice()).collect();
        let cts: Vec<&[u8]> = bodies.iter().map(|b| b.ciphertext.as_slice()).collect();
        tx.execute(&st, &[&ids, &parts, &ts, &nonces, &cts])
            .await
            .map_err(pg_err)?;
    }
    if !leaves.is_empty() {
        let st = tx
            .prepare_cached(
                "INSERT INTO audit_pending (leaf, leaf_hash, event_id, ts_ms, principal, decision)
                 SELECT leaf, leaf_hash, event_id, ts_ms, principal, decision
                 FROM UNNEST($1::bytea[], $2::bytea[], $3::text[], $4::bigint[], $5::text[], $6::text[])
                 WITH ORDINALITY AS t(leaf, leaf_hash, event_id, ts_ms, principal, decision, ord)
                 ORDER BY ord",
            )
            .await
            .map_err(pg_err)?;
        let leaf: Vec<&[u8]> = leaves.iter().map(|l| l.leaf.as_slice()).collect();
        let hash: Vec<&[u8]> = leaves.iter().map(|l| l.leaf_hash.as_slice()).collect();
        let ids: Vec<&str> = leaves.iter().map(|l| l.event_id.as_str()).collect();
        let ts: Vec<i64> = leaves.iter().map(|l| l.ts_ms).collect();
        let principals: Vec<&str> = leaves.iter().map(|l| l.principal.as_str()).collect();
        let decisions: Vec<Option<&str>> = leaves.iter().map(|l| l.decision.as_deref()).collect();
        tx.execute(&st, &[&leaf, &hash, &ids, &ts, &principals, &decisions])
            .await
            .map_err(pg_err)?;
    }
    let size: i64 = tx
        .query_one(LOG_SIZE, &[])
        .await
        .map_err(pg_err)?
        .try_get(0)
        .map_err(pg_err)?;
    tx.commit().await.map_err(pg_err)?;
    Ok(size.max(0) as u64)
}

impl Store for PostgresStore {
    fn put_key(&self, k: &KeyRecord) -> Result<(), StoreError> {
        let (k, tag) = (k.clone(), self.tag.clone());
        self.with_client(move |mut c| async move {
            let tx = c.transaction().await.map_err(pg_err)?;
            tx.execute(
                &format!("INSERT INTO keys ({KEY_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"),
                &[
                    &k.id,
                    &k.hash.as_slice(),
                    &k.principal,
                    &k.groups,
                    &k.created_at,
                    &k.expires_at,
                    &k.revoked_at,
                ],
            )
            .await
            .map_err(pg_err)?;
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANGES_CHANNEL, &&*tag])
                .await
                .map_err(pg_err)?;
            tx.commit().await.map_err(pg_err)
        })?;
        self.shared.bump();
        Ok(())
    }

    fn get_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        let id = id.to_string();
        self.with_client(move |c| async move {
            let st = c
                .prepare_cached(&format!("SELECT {KEY_COLS} FROM keys WHERE id = $1"))
                .await
                .map_err(pg_err)?;
            c.query_opt(&st, &[&id])
                .await
                .map_err(pg_err)?
                .as_ref()
                .map(key_record)
                .transpose()
        })
    }

    fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.with_client(|c| async move {
            c.query(
                &format!("SELECT {KEY_COLS} FROM keys ORDER BY created_at DESC, id"),
                &[],
            )
            .await
            .map_err(pg_err)?
            .iter()
            .map(key_record)
            .collect()
        })
    }

    fn revoke_key(&self, id: &str, at: i64) -> Result<bool, StoreError> {
        let (id, tag) = (id.to_string(), self.tag.clone());
        let revoked = self.with_client(move |mut c| async move {
            let tx = c.transaction().await.map_err(pg_err)?;
            let n = tx
                .execute(
                    "UPDATE keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                    &[&id, &at],
                )
                .await
                .map_err(pg_err)?;
            if n == 1 {
                tx.execute("SELECT pg_notify($1, $2)", &[&CHANGES_CHANNEL, &&*tag])
                    .await
                    .map_err(pg_err)?;
            }
            tx.commit().await.map_err(pg_err)?;
            Ok(n == 1)
        })?;
        self.shared.bump();
        Ok(revoked)
    }

    fn count_keys(&self) -> Result<u64, StoreError> {
        self.with_client(|c| async move {
            let n: i64 = c
                .query_one("SELECT COUNT(*) FROM keys", &[])
                .await
                .map_err(pg_err)?
                .try_get(0)
                .map_err(pg_err)?;
            Ok(n.max(0) as u64)
        })
    }

    fn change_marker(&self) -> Result<u64, StoreError> {
        if self.shared.listening.load(Ordering::Acquire) {
            Ok(self.shared.marker.load(Ordering::Acquire))
        } else {
            // Not listening: nothing tells us about other replicas' writes, so no reader
            // may trust a cache.
            Ok(self.shared.bump())
        }
    }

    fn record_decisions(&self, batch: &[DecisionRecord]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.record_batch_with_bodies(batch, &[], &[]).map(|_| ())
    }

    fn day_usage(&self, day: i64) -> Result<Vec<(Subject, u64)>, StoreError> {
        self.with_client(move |c| async move {
            let rows = c
                .query(
                    "SELECT subject_kind, subject, tokens FROM usage WHERE day = $1",
                    &[&day],
                )
                .await
                .map_err(pg_err)?;
            rows.iter()
                .map(|r| {
                    let kind: String = r.try_get(0).map_err(pg_err)?;
                    let s: String = r.try_get(1).map_err(pg_err)?;
                    let t: i64 = r.try_get(2).map_err(pg_err)?;
                    let subject = if kind == "group" {
                        Subject::Group(s)
                    } else {
                        Subject::Principal(s)
                    };
                    Ok((subject, t.max(0) as u64))
                })
                .collect()
        })
    }

    fn recent_decisions(&self, limit: usize) -> Result<Vec<DecisionRecord>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_client(move |c| async move {
            let rows = c
                .query(
                    "SELECT ts_ms, request_id, principal, groups, key_id, action, model, upstream, decision, reason, status, prompt_tokens, completion_tokens, latency_us, stream FROM decisions ORDER BY seq DESC LIMIT $1",
                    &[&limit],
                )
                .await
                .map_err(pg_err)?;
            rows.iter()
                .map(|r| {
                    let n = |i: usize| -> Result<u64, StoreError> {
                        Ok(r.try_get::<_, i64>(i).map_err(pg_err)?.max(0) as u64)
                    };
                    let status: i32 = r.try_get(10).map_err(pg_err)?;
                    Ok(DecisionRecord {
                        ts_ms: r.try_get(0).map_err(pg_err)?,
                        request_id: r.try_get(1).map_err(pg_err)?,
                        principal: r.try_get(2).map_err(pg_err)?,
                        groups: r.try_get(3).map_err(pg_err)?,
                        key_id: r.try_get(4).map_err(pg_err)?,
                        identity: String::new(),
                        action: r.try_get(5).map_err(pg_err)?,
                        model: r.try_get(6).map_err(pg_err)?,
                        upstream: r.try_get(7).map_err(pg_err)?,
                        decision: r.try_get(8).map_err(pg_err)?,
                        reason: r.try_get(9).map_err(pg_err)?,
                        status: u16::try_from(status).map_err(|_| {
                            StoreError::Corrupt(format!("decision status {status}"))
                        })?,
                        prompt_tokens: n(11)?,
                        completion_tokens: n(12)?,
                        latency_us: n(13)?,
                        stream: r.try_get(14).map_err(pg_err)?,
                    })
                })
                .collect()
        })
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.with_client(
            |c| async move { c.simple_query("SELECT 1").await.map_err(pg_err).map(|_| ()) },
        )
    }

    fn record_batch_with_bodies(
        &self,
        decisions: &[DecisionRecord],
        leaves: &[NewAuditLeaf],
        bodies: &[AuditBody],
    ) -> Result<u64, StoreError> {
        let (d, l, b) = (decisions.to_vec(), leaves.to_vec(), bodies.to_vec());
        self.with_client(move |c| write_batch(c, None, d, l, b))
    }

    fn record_batch_once(
        &self,
        batch_id: u128,
        decisions: &[DecisionRecord],
        leaves: &[NewAuditLeaf],
        bodies: &[AuditBody],
    ) -> Result<u64, StoreError> {
        let (d, l, b) = (decisions.to_vec(), leaves.to_vec(), bodies.to_vec());
        self.with_client(move |c| write_batch(c, Some(batch_id), d, l, b))
    }

    fn audit_body(&self, event_id: &str, part: &str) -> Result<Option<AuditBody>, StoreError> {
        let (event_id, part) = (event_id.to_string(), part.to_string());
        self.with_client(move |c| async move {
            let row = c
                .query_opt(
                    "SELECT event_id, part, ts_ms, nonce, ciphertext FROM audit_bodies WHERE event_id = $1 AND part = $2",
                    &[&event_id, &part],
                )
                .await
                .map_err(pg_err)?;
            row.map(|r| {
                Ok(AuditBody {
                    event_id: r.try_get(0).map_err(pg_err)?,
                    part: r.try_get(1).map_err(pg_err)?,
                    ts_ms: r.try_get(2).map_err(pg_err)?,
                    nonce: r.try_get(3).map_err(pg_err)?,
                    ciphertext: r.try_get(4).map_err(pg_err)?,
                })
            })
            .transpose()
        })
    }

    fn delete_audit_bodies_before(&self, ts_ms: i64) -> Result<u64, StoreError> {
        self.with_client(move |c| async move {
            c.execute("DELETE FROM audit_bodies WHERE ts_ms < $1", &[&ts_ms])
                .await
                .map_err(pg_err)
        })
    }

    fn audit_size(&self) -> Result<u64, StoreError> {
        self.with_client(|c| async move {
            let n: i64 = c
                .query_one(LOG_SIZE, &[])
                .await
                .map_err(pg_err)?
                .try_get(0)
                .map_err(pg_err)?;
            Ok(n.max(0) as u64)
        })
    }

    fn audit_leaves(&self, start: u64, end: u64) -> Result<Vec<AuditLeaf>, StoreError> {
        let (start, end) = (to_i64(start)?, to_i64(end)?);
        self.with_client(move |c| async move {
            c.query(
                &format!(
                    "SELECT {LEAF_COLS} FROM audit_leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx"
                ),
                &[&start, &end],
            )
            .await
            .map_err(pg_err)?
            .iter()
            .map(audit_leaf)
            .collect()
        })
    }

    fn audit_leaf_hashes(&self, start: u64, end: u64) -> Result<Vec<[u8; 32]>, StoreError> {
        let (s, e) = (to_i64(start)?, to_i64(end)?);
        self.with_client(move |c| async move {
            let rows = c
                .query(
                    "SELECT idx, leaf_hash FROM audit_leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx",
                    &[&s, &e],
                )
                .await
                .map_err(pg_err)?;
            let mut out = Vec::with_capacity(rows.len());
            for (expected, r) in (start..).zip(rows.iter()) {
                let idx: i64 = r.try_get(0).map_err(pg_err)?;
                if u64::try_from(idx).ok() != Some(expected) {
                    return Err(StoreError::Corrupt(format!(
                        "audit log: leaf {expected} is missing"
                    )));
                }
                let h: Vec<u8> = r.try_get(1).map_err(pg_err)?;
                out.push(hash32(&h, idx)?);
            }
            Ok(out)
        })
    }

    fn audit_leaf_by_event(&self, event_id: &str) -> Result<Option<AuditLeaf>, StoreError> {
        let event_id = event_id.to_string();
        self.with_client(move |c| async move {
            c.query_opt(
                &format!(
                    "SELECT {LEAF_COLS} FROM audit_leaves WHERE event_id = $1 ORDER BY idx LIMIT 1"
                ),
                &[&event_id],
            )
            .await
            .map_err(pg_err)?
            .as_ref()
            .map(audit_leaf)
            .transpose()
        })
    }

    fn put_audit_checkpoint(&self, size: u64, note: &str) -> Result<(), StoreError> {
        let (size, note) = (to_i64(size)?, note.to_string());
        self.with_client(move |c| async move {
            c.execute(
                "INSERT INTO audit_checkpoints (size, note) VALUES ($1, $2)",
                &[&size, &note],
            )
            .await
            .map_err(pg_err)
            .map(|_| ())
        })
    }

    fn latest_audit_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        self.with_client(|c| async move {
            c.query_opt(
                "SELECT seq, size, note FROM audit_checkpoints ORDER BY seq DESC LIMIT 1",
                &[],
            )
            .await
            .map_err(pg_err)?
            .as_ref()
            .map(checkpoint)
            .transpose()
        })
    }

    fn audit_checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        self.with_client(|c| async move {
            c.query(
                "SELECT seq, size, note FROM audit_checkpoints ORDER BY seq",
                &[],
            )
            .await
            .map_err(pg_err)?
            .iter()
            .map(checkpoint)
            .collect()
        })
    }

    fn query_audit(&self, q: &AuditQuery) -> Result<Vec<AuditLeaf>, StoreError> {
        let q = q.clone();
        let limit: Option<i64> = match q.limit {
            0 => None,
            n => Some(i64::try_from(n).unwrap_or(i64::MAX)),
        };
        self.with_client(move |c| async move {
            c.query(
                &format!(
                    "SELECT {LEAF_COLS} FROM audit_leaves WHERE ($1::text IS NULL OR principal = $1) AND ($2::bigint IS NULL OR ts_ms >= $2) AND ($3::bigint IS NULL OR ts_ms < $3) AND ($4::text IS NULL OR decision = $4) ORDER BY idx LIMIT $5"
                ),
                &[&q.principal, &q.since_ms, &q.until_ms, &q.decision, &limit],
            )
            .await
            .map_err(pg_err)?
            .iter()
            .map(audit_leaf)
            .collect()
        })
    }

    fn sequenced_at_commit(&self) -> bool {
        false
    }

    fn sequencer_lease(&self) -> Result<bool, StoreError> {
        let (shared, pg, locks) = (self.shared.clone(), self.pg.clone(), self.locks);
        self.bridge.run(self.timeout, async move {
            let mut lease = shared.lease.lock().await;
            if lease.as_ref().is_some_and(|l| l.client.is_closed()) {
                // The session ended, and with it the lock.
                *lease = None;
            }
            if let Some(l) = lease.as_mut() {
                if l.held {
                    return match l.client.simple_query("SELECT 1").await {
                        Ok(_) => Ok(true),
                        Err(e) => {
                            *lease = None;
                            tracing::warn!(error = %error_text(&e), "audit sequencer lease lost");
                            Ok(false)
                        }
                    };
                }
            }
            let l = match lease.as_mut() {
                Some(l) => l,
                None => lease.insert(Lease {
                    client: connect(&pg).await?,
                    held: false,
                }),
            };
            let held: bool = match l
                .client
                .query_one(
                    "SELECT pg_try_advisory_lock($1, $2)",
                    &[&LEASE_LOCK_CLASS, &locks.schema],
                )
                .await
            {
                Ok(r) => r.try_get(0).map_err(pg_err)?,
                Err(e) => {
                    *lease = None;
                    return Err(pg_err(e));
                }
            };
            l.held = held;
            Ok(held)
        })
    }

    fn sequence_pending(&self, max: usize) -> Result<u64, StoreError> {
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        let locks = self.locks;
        self.with_client(move |mut c| async move {
            let tx = c.transaction().await.map_err(pg_err)?;
            tx.execute(
                "SELECT pg_advisory_xact_lock($1, $2)",
                &[&SEQUENCE_LOCK_CLASS, &locks.schema],
            )
            .await
            .map_err(pg_err)?;
            let n = tx.execute(SEQUENCE, &[&max]).await.map_err(pg_err)?;
            tx.commit().await.map_err(pg_err)?;
            Ok(n)
        })
    }

    fn audit_pending_count(&self) -> Result<u64, StoreError> {
        self.with_client(|c| async move {
            let n: i64 = c
                .query_one("SELECT COUNT(*) FROM audit_pending", &[])
                .await
                .map_err(pg_err)?
                .try_get(0)
                .map_err(pg_err)?;
            Ok(n.max(0) as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_shows() {
        let cfg = PostgresConfig::new("postgres://app:hunter2@db.internal:6432/gw".into());
        assert_eq!(cfg.redacted(), "postgres://app:***@db.internal:6432/gw");
        assert!(!format!("{cfg:?}").contains("hunter2"));
        let bad = PostgresConfig::new("postgres://app:hunter2@db:notaport/gw".into());
        let e = bad.pg_config().unwrap_err().to_string();
        assert!(!e.contains("hunter2"), "{e}");
        let tls = PostgresConfig::new("postgres://app:hunter2@db/gw?sslmode=require".into())
            .with_ca_file(std::path::Path::new("/nonexistent/ca.pem"));
        let e = tls.pg_config().unwrap_err().to_string();
        assert!(
            e.contains("/nonexistent/ca.pem") && !e.contains("hunter2"),
            "{e}"
        );
        // Unreachable: the error names the redacted URL only.
        let down = PostgresConfig::new("postgres://app:hunter2@127.0.0.1:1/gw".into())
            .with_timeout(Duration::from_secs(5));
        let e = PostgresStore::open(&down).unwrap_err().to_string();
        assert!(e.contains("127.0.0.1:1") && !e.contains("hunter2"), "{e}");
    }

    #[test]
    fn schema_names_are_plain_identifiers() {
        let c = || PostgresConfig::new("postgres://x@h/d".into());
        assert!(c().with_schema("tenant_1").is_ok());
        for bad in ["", "1abc", "a-b", "a;drop", "a b", &"x".repeat(64)] {
            assert!(c().with_schema(bad).is_err(), "{bad:?}");
        }
        assert_ne!(
            LockKeys::new(Some("a")).schema,
            LockKeys::new(Some("b")).schema
        );
        assert_eq!(
            LockKeys::new(None).schema,
            LockKeys::new(Some("public")).schema
        );
    }
}
