//! Assume breach, in the gateway: every finished request feeds the anomaly detector
//! (`portcullis-anomaly`, the same code `portcullis anomaly replay` runs), and an alert's
//! action is enforced from the next request on.
//!
//! - **Quarantine**: every request of the principal (or, for an address that failed
//!   authentication too often, every request from it) is refused with 403
//!   `quarantined` and the incident id, checked before authentication for addresses and
//!   right after it (before authorization) for principals, until the TTL ends or an
//!   operator releases it.
//! - **Step-up**: the principal's requests are guarded with the stricter guard profile
//!   (`[anomaly] step_up_profile`) and requests that offer tools are refused (403
//!   `tools_forbidden`).
//! - **Throttle**: the principal keeps `throttle_factor` of its requests per minute (429
//!   `anomaly_throttled` beyond).
//! - **Alert**: logged, counted in Prometheus, and POSTed to the webhook, signed with
//!   HMAC-SHA256 (`X-Portcullis-Signature: sha256=HEX` over `TIMESTAMP.BODY`, the
//!   timestamp in `X-Portcullis-Timestamp`).
//!
//! Each containment opens an [`Incident`] (or escalates the subject's open one) with a
//! timeline: the alerts with the features that drove them, the actions, and who
//! acknowledged, released or resolved it. Incidents are kept in the gateway's SQLite
//! database (table `incidents`, behind [`IncidentStore`] so another backend can be
//! added) and, with the audit log on, every change is an `incident` audit event. The
//! gateway re-reads changed incidents every second, so `portcullis incidents release`
//! from the command line takes effect on a running gateway.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use http::StatusCode;
use parking_lot::{Mutex, RwLock};
use portcullis_anomaly::config::{Action, AnomalyConfig, SecretSource, Severity};
use portcullis_anomaly::{Alert, Decision, Detector, Event};
use portcullis_core::identity::{IdentityKey, Principal};
use rusqlite::{params, Connection, OptionalExtension};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::state::{AppState, RequestCtx};

/// Who an incident contains.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    /// An authenticated principal, by its identity key (`key:alice`, `oidc:corp:alice`,
    /// `spiffe:spiffe://...`; see [`IdentityKey`]).
    Principal(String),
    /// A principal by bare name, from an incident stored before identities were
    /// qualified by their authenticator. Which identity it meant cannot be told, so it
    /// contains every identity of that name until it ends or is released.
    LegacyName(String),
    /// A client address (failed authentications).
    Ip(IpAddr),
}

impl Subject {
    /// `principal` or `ip`.
    pub fn kind(&self) -> &'static str {
        match self {
            Subject::Principal(_) | Subject::LegacyName(_) => "principal",
            Subject::Ip(_) => "ip",
        }
    }

    /// The principal's name or the address.
    pub fn name(&self) -> String {
        match self {
            Subject::Principal(p) | Subject::LegacyName(p) => p.clone(),
            Subject::Ip(ip) => ip.to_string(),
        }
    }

    fn parse(kind: &str, name: &str) -> Option<Self> {
        match kind {
            "principal" if IdentityKey::parse(name).is_some() => {
                Some(Subject::Principal(name.to_string()))
            }
            "principal" => Some(Subject::LegacyName(name.to_string())),
            "ip" => name.parse().ok().map(Subject::Ip),
            _ => None,
        }
    }
}

/// Where an incident stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    /// Opened by the detector; containment in force.
    Open,
    /// An operator has seen it; containment still in force.
    Acknowledged,
    /// An operator lifted the containment.
    Released,
    /// Closed.
    Resolved,
}

impl IncidentStatus {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Acknowledged => "acknowledged",
            IncidentStatus::Released => "released",
            IncidentStatus::Resolved => "resolved",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            IncidentStatus::Open,
            IncidentStatus::Acknowledged,
            IncidentStatus::Released,
            IncidentStatus::Resolved,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }

    /// Whether containment is in force in this state.
    pub fn contains(self) -> bool {
        matches!(self, IncidentStatus::Open | IncidentStatus::Acknowledged)
    }
}

/// One step of an incident's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// When, Unix milliseconds.
    pub ts_ms: i64,
    /// `alert`, `escalated`, `acknowledged`, `released`, `resolved`, `expired`.
    pub event: String,
    /// `detector` or the operator.
    pub by: String,
    /// The action in force after this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    /// The alert (score, severity, features), or the operator's note.
    #[serde(default)]
    pub detail: serde_json::Value,
}

/// A containment and its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// `inc_` and 16 hex digits.
    pub id: String,
    /// `principal` or `ip`.
    pub subject_kind: String,
    /// The principal or address.
    pub subject: String,
    /// Where it stands.
    pub status: IncidentStatus,
    /// The strongest action taken.
    pub action: Action,
    /// The highest severity seen.
    pub severity: Severity,
    /// The alert kind that opened it.
    pub kind: String,
    /// Opened, Unix milliseconds.
    pub opened_ms: i64,
    /// Last change.
    pub updated_ms: i64,
    /// When the containment ends on its own (`None`: until released).
    pub until_ms: Option<i64>,
    /// What happened, oldest first.
    pub timeline: Vec<TimelineEntry>,
}

impl Incident {
    /// Whether its containment is in force at `now_ms`.
    pub fn active(&self, now_ms: i64) -> bool {
        self.status.contains() && self.until_ms.is_none_or(|u| now_ms < u)
    }

    fn subject(&self) -> Option<Subject> {
        Subject::parse(&self.subject_kind, &self.subject)
    }
}

/// Why an incident operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IncidentError {
    /// No incident with that id.
    #[error("no incident `{0}`")]
    NotFound(String),
    /// The operation does not apply in the incident's state.
    #[error("incident `{id}` is {status}; cannot {op}")]
    Transition {
        /// The incident.
        id: String,
        /// Its state.
        status: &'static str,
        /// The operation.
        op: &'static str,
    },
    /// The database failed.
    #[error("incident store: {0}")]
    Db(#[from] rusqlite::Error),
    /// A stored incident could not be read.
    #[error("incident store: corrupt row: {0}")]
    Corrupt(String),
    /// The shared database (PostgreSQL) failed.
    #[error("incident store: {0}")]
    Shared(#[from] portcullis_store::StoreError),
}

/// A job for the incident writer thread, which keeps the store's writes off the request
/// path.
enum SaveJob {
    /// Save this state of an incident.
    Save(Incident),
    /// Signal once every earlier job is done.
    Flush(std::sync::mpsc::SyncSender<()>),
}

/// Incident persistence: [`SqliteIncidents`] or, shared by replicas, [`PostgresIncidents`].
pub trait IncidentStore: Send + Sync {
    /// Inserts or replaces an incident.
    fn save(&self, inc: &Incident) -> Result<(), IncidentError>;
    /// One incident.
    fn get(&self, id: &str) -> Result<Option<Incident>, IncidentError>;
    /// Incidents, newest first: all of them, or only those whose containment may be in
    /// force (open or acknowledged).
    fn list(&self, all: bool) -> Result<Vec<Incident>, IncidentError>;
    /// Incidents changed at or after `since_ms`.
    fn changed_since(&self, since_ms: i64) -> Result<Vec<Incident>, IncidentError>;
}

/// The `incidents` table in the gateway's SQLite database.
pub struct SqliteIncidents {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteIncidents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteIncidents")
    }
}

const COLUMNS: &str =
    "id, subject_kind, subject, status, action, severity, kind, opened_ms, updated_ms, until_ms, timeline";

impl SqliteIncidents {
    /// Opens the database file (creating the table if needed).
    pub fn open(path: &Path) -> Result<Self, IncidentError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS incidents (
                id           TEXT PRIMARY KEY,
                subject_kind TEXT NOT NULL,
                subject      TEXT NOT NULL,
                status       TEXT NOT NULL,
                action       TEXT NOT NULL,
                severity     TEXT NOT NULL,
                kind         TEXT NOT NULL,
                opened_ms    INTEGER NOT NULL,
                updated_ms   INTEGER NOT NULL,
                until_ms     INTEGER,
                timeline     TEXT NOT NULL
            );
            CREATE INDEX IF NOT EXISTS incidents_status ON incidents (status);
            CREATE INDEX IF NOT EXISTS incidents_updated ON incidents (updated_ms);",
        )?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn query(&self, sql: &str, p: &[&dyn rusqlite::ToSql]) -> Result<Vec<Incident>, IncidentError> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map(p, row)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r??);
        }
        Ok(out)
    }
}

type RowResult = Result<Incident, IncidentError>;

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RowResult> {
    let id: String = r.get(0)?;
    let status: String = r.get(3)?;
    let action: String = r.get(4)?;
    let severity: String = r.get(5)?;
    let timeline: String = r.get(10)?;
    let corrupt = |what: &str| IncidentError::Corrupt(format!("{id}: {what}"));
    let parsed = (|| {
        Ok(Incident {
            subject_kind: r.get(1).map_err(IncidentError::Db)?,
            subject: r.get(2).map_err(IncidentError::Db)?,
            status: IncidentStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
            action: action.parse().map_err(|_| corrupt("action"))?,
            severity: serde_json::from_value(serde_json::Value::String(severity.clone()))
                .map_err(|_| corrupt("severity"))?,
            kind: r.get(6).map_err(IncidentError::Db)?,
            opened_ms: r.get(7).map_err(IncidentError::Db)?,
            updated_ms: r.get(8).map_err(IncidentError::Db)?,
            until_ms: r.get(9).map_err(IncidentError::Db)?,
            timeline: serde_json::from_str(&timeline).map_err(|_| corrupt("timeline"))?,
            id: id.clone(),
        })
    })();
    Ok(parsed)
}

impl IncidentStore for SqliteIncidents {
    fn save(&self, inc: &Incident) -> Result<(), IncidentError> {
        let timeline = serde_json::to_string(&inc.timeline)
            .map_err(|e| IncidentError::Corrupt(e.to_string()))?;
        self.conn.lock().execute(
            &format!("INSERT OR REPLACE INTO incidents ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
            params![
                inc.id,
                inc.subject_kind,
                inc.subject,
                inc.status.as_str(),
                inc.action.as_str(),
                inc.severity.as_str(),
                inc.kind,
                inc.opened_ms,
                inc.updated_ms,
                inc.until_ms,
                timeline
            ],
        )?;
        Ok(())
    }

    fn get(&self, id: &str) -> Result<Option<Incident>, IncidentError> {
        let conn = self.conn.lock();
        let r = conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM incidents WHERE id = ?1"),
                params![id],
                row,
            )
            .optional()?;
        r.transpose()
    }

    fn list(&self, all: bool) -> Result<Vec<Incident>, IncidentError> {
        let filter = if all {
            ""
        } else {
            "WHERE status IN ('open', 'acknowledged')"
        };
        self.query(
            &format!("SELECT {COLUMNS} FROM incidents {filter} ORDER BY opened_ms DESC, id"),
            &[],
        )
    }

    fn changed_since(&self, since_ms: i64) -> Result<Vec<Incident>, IncidentError> {
        self.query(
            &format!("SELECT {COLUMNS} FROM incidents WHERE updated_ms >= ?1 ORDER BY updated_ms"),
            &[&since_ms],
        )
    }
}

/// The `incidents` table in the shared PostgreSQL database (`[store] kind =
/// "postgres"`): every replica saves its incidents there and picks up the others' within
/// a second ([`AnomalyEngine::sync`]), so a quarantine holds on every replica.
#[derive(Debug)]
pub struct PostgresIncidents {
    sql: portcullis_store::postgres::SqlClient,
}

impl PostgresIncidents {
    /// On a client of the shared database (migrated: the table is migration 4).
    pub fn new(sql: portcullis_store::postgres::SqlClient) -> Self {
        Self { sql }
    }

    fn query(
        &self,
        sql: &str,
        params: Vec<portcullis_store::postgres::SqlParam>,
    ) -> Result<Vec<Incident>, IncidentError> {
        self.sql.query(sql, params)?.iter().map(pg_row).collect()
    }
}

fn pg_row(r: &portcullis_store::postgres::Row) -> Result<Incident, IncidentError> {
    fn get<T: portcullis_store::postgres::FromSqlOwned>(
        r: &portcullis_store::postgres::Row,
        i: usize,
    ) -> Result<T, IncidentError> {
        r.try_get::<_, T>(i)
            .map_err(|e| IncidentError::Corrupt(format!("column {i}: {e}")))
    }
    let id: String = get(r, 0)?;
    let corrupt = |what: &str| IncidentError::Corrupt(format!("{id}: {what}"));
    let status: String = get(r, 3)?;
    let action: String = get(r, 4)?;
    let severity: String = get(r, 5)?;
    let timeline: String = get(r, 10)?;
    Ok(Incident {
        subject_kind: get(r, 1)?,
        subject: get(r, 2)?,
        status: IncidentStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
        action: action.parse().map_err(|_| corrupt("action"))?,
        severity: serde_json::from_value(serde_json::Value::String(severity))
            .map_err(|_| corrupt("severity"))?,
        kind: get(r, 6)?,
        opened_ms: get(r, 7)?,
        updated_ms: get(r, 8)?,
        until_ms: get(r, 9)?,
        timeline: serde_json::from_str(&timeline).map_err(|_| corrupt("timeline"))?,
        id,
    })
}

impl IncidentStore for PostgresIncidents {
    fn save(&self, inc: &Incident) -> Result<(), IncidentError> {
        let timeline = serde_json::to_string(&inc.timeline)
            .map_err(|e| IncidentError::Corrupt(e.to_string()))?;
        self.sql.execute(
            &format!(
                "INSERT INTO incidents ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (id) DO UPDATE SET subject_kind = EXCLUDED.subject_kind,
                   subject = EXCLUDED.subject, status = EXCLUDED.status, action = EXCLUDED.action,
                   severity = EXCLUDED.severity, kind = EXCLUDED.kind,
                   opened_ms = EXCLUDED.opened_ms, updated_ms = EXCLUDED.updated_ms,
                   until_ms = EXCLUDED.until_ms, timeline = EXCLUDED.timeline"
            ),
            vec![
                Box::new(inc.id.clone()),
                Box::new(inc.subject_kind.clone()),
                Box::new(inc.subject.clone()),
                Box::new(inc.status.as_str().to_string()),
                Box::new(inc.action.as_str().to_string()),
                Box::new(inc.severity.as_str().to_string()),
                Box::new(inc.kind.clone()),
                Box::new(inc.opened_ms),
                Box::new(inc.updated_ms),
                Box::new(inc.until_ms),
                Box::new(timeline),
            ],
        )?;
        Ok(())
    }

    fn get(&self, id: &str) -> Result<Option<Incident>, IncidentError> {
        Ok(self
            .query(
                &format!("SELECT {COLUMNS} FROM incidents WHERE id = $1"),
                vec![Box::new(id.to_string())],
            )?
            .into_iter()
            .next())
    }

    fn list(&self, all: bool) -> Result<Vec<Incident>, IncidentError> {
        let filter = if all {
            ""
        } else {
            "WHERE status IN ('open', 'acknowledged')"
        };
        self.query(
            &format!("SELECT {COLUMNS} FROM incidents {filter} ORDER BY opened_ms DESC, id"),
            vec![],
        )
    }

    fn changed_since(&self, since_ms: i64) -> Result<Vec<Incident>, IncidentError> {
        self.query(
            &format!("SELECT {COLUMNS} FROM incidents WHERE updated_ms >= $1 ORDER BY updated_ms"),
            vec![Box::new(since_ms)],
        )
    }
}

/// The incident store of a configuration: the shared database's table with `[store]
/// kind = "postgres"`, else the `incidents` table of `<data_dir>/portcullis.db`.
pub fn open_incidents(
    config: &portcullis_core::config::Config,
) -> Result<Arc<dyn IncidentStore>, String> {
    Ok(match crate::shared_db::sql_client(config)? {
        Some(sql) => Arc::new(PostgresIncidents::new(sql)),
        None => Arc::new(
            SqliteIncidents::open(&config.data_dir.join("portcullis.db"))
                .map_err(|e| e.to_string())?,
        ),
    })
}

/// An operator's step on an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Seen; containment stays.
    Ack,
    /// Lift the containment.
    Release,
    /// Close.
    Resolve,
}

impl Operation {
    /// `ack`, `release`, `resolve`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Ack => "ack",
            Operation::Release => "release",
            Operation::Resolve => "resolve",
        }
    }

    /// From a name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ack" => Some(Operation::Ack),
            "release" => Some(Operation::Release),
            "resolve" => Some(Operation::Resolve),
            _ => None,
        }
    }
}

/// Applies an operator's step to a stored incident and saves it; the updated incident.
pub fn operate(
    store: &dyn IncidentStore,
    id: &str,
    op: Operation,
    by: &str,
    note: &str,
    now_ms: i64,
) -> Result<Incident, IncidentError> {
    let mut inc = store
        .get(id)?
        .ok_or_else(|| IncidentError::NotFound(id.to_string()))?;
    let (ok, next, event) = match op {
        Operation::Ack => (
            inc.status == IncidentStatus::Open,
            IncidentStatus::Acknowledged,
            "acknowledged",
        ),
        Operation::Release => (inc.status.contains(), IncidentStatus::Released, "released"),
        Operation::Resolve => (
            inc.status != IncidentStatus::Resolved,
            IncidentStatus::Resolved,
            "resolved",
        ),
    };
    if !ok {
        return Err(IncidentError::Transition {
            id: id.to_string(),
            status: inc.status.as_str(),
            op: op.as_str(),
        });
    }
    inc.status = next;
    inc.updated_ms = now_ms.max(inc.updated_ms);
    inc.timeline.push(TimelineEntry {
        ts_ms: now_ms,
        event: event.into(),
        by: by.into(),
        action: None,
        detail: if note.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::json!({ "note": note })
        },
    });
    store.save(&inc)?;
    Ok(inc)
}

/// A containment in force.
#[derive(Debug, Clone)]
struct Containment {
    incident: String,
    action: Action,
    until_ms: Option<i64>,
}

/// What the pipeline must do for an admitted request.
#[derive(Debug, Clone, Default)]
pub struct Posture {
    /// The stepped-up guard profile and the incident, when stepped up.
    pub step_up: Option<(String, String)>,
}

/// The webhook's client and key.
struct Webhook {
    url: http::Uri,
    key: SecretString,
    client: crate::upstream::HttpsClient,
}

/// The running detector, the containments in force and the incident store.
pub struct AnomalyEngine {
    cfg: AnomalyConfig,
    detector: Mutex<Detector>,
    contained: RwLock<HashMap<Subject, Containment>>,
    /// Open incidents by subject (the latest state the gateway wrote or read).
    open: Mutex<HashMap<Subject, Incident>>,
    /// Last status seen per incident id (to audit changes made outside the gateway).
    seen: Mutex<HashMap<String, IncidentStatus>>,
    /// Throttled principals' request buckets: (tokens, last refill).
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
    store: Arc<dyn IncidentStore>,
    saver: std::sync::mpsc::Sender<SaveJob>,
    webhook: Option<Webhook>,
    watermark: Mutex<i64>,
}

impl std::fmt::Debug for AnomalyEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnomalyEngine")
            .field("contained", &self.contained.read().len())
            .finish()
    }
}

fn now_ms() -> i64 {
    crate::state::unix_now_ms()
}

/// `inc_` and 16 random hex digits.
fn new_incident_id() -> String {
    format!("inc_{}", hex::encode(rand::random::<[u8; 8]>()))
}

/// HMAC-SHA256 of `msg` under `key`, hex.
pub fn sign_webhook(key: &[u8], timestamp: i64, body: &[u8]) -> String {
    use hmac::Mac;
    // PANIC SAFETY: HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    #[allow(clippy::expect_used)]
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

impl AnomalyEngine {
    /// Opens the incident store, restores the containments in force, and starts the
    /// incident writer. `None` when `[anomaly]` is absent or disabled.
    pub fn start(config: &portcullis_core::config::Config) -> Result<Option<Arc<Self>>, String> {
        let Some(cfg) = config.anomaly.clone().filter(|a| a.enabled) else {
            return Ok(None);
        };
        let store = open_incidents(config)?;
        let webhook = match &cfg.webhook {
            None => None,
            Some(w) => {
                let key = match &w.secret {
                    SecretSource::Env(v) => std::env::var(v)
                        .map_err(|_| format!("anomaly.webhook_secret_env: `{v}` is not set"))?,
                    SecretSource::File(p) => std::fs::read_to_string(p)
                        .map_err(|e| format!("anomaly.webhook_secret_file {}: {e}", p.display()))?
                        .trim()
                        .to_string(),
                };
                if key.len() < 16 {
                    return Err("anomaly webhook secret: at least 16 characters".into());
                }
                Some(Webhook {
                    url: w
                        .url
                        .parse()
                        .map_err(|e| format!("anomaly.webhook_url: {e}"))?,
                    key: SecretString::from(key),
                    client: crate::upstream::https_client(Duration::from_secs(5), false)?,
                })
            }
        };
        let (tx, rx) = std::sync::mpsc::channel::<SaveJob>();
        let writer_store = store.clone();
        std::thread::Builder::new()
            .name("incident-writer".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    match job {
                        SaveJob::Save(inc) => {
                            if let Err(e) = writer_store.save(&inc) {
                                tracing::error!(error = %e, incident = %inc.id, "saving an incident failed");
                            }
                        }
                        // Every save queued before it is done.
                        SaveJob::Flush(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        let engine = Self {
            detector: Mutex::new(Detector::new(cfg.detector.clone())),
            cfg,
            contained: RwLock::new(HashMap::new()),
            open: Mutex::new(HashMap::new()),
            seen: Mutex::new(HashMap::new()),
            buckets: Mutex::new(HashMap::new()),
            store,
            saver: tx,
            webhook,
            watermark: Mutex::new(0),
        };
        let active = engine.store.list(false).map_err(|e| e.to_string())?;
        let now = now_ms();
        for inc in active {
            engine.adopt(inc, now);
        }
        Ok(Some(Arc::new(engine)))
    }

    /// The settings.
    pub fn config(&self) -> &AnomalyConfig {
        &self.cfg
    }

    /// The incident store.
    pub fn store(&self) -> &Arc<dyn IncidentStore> {
        &self.store
    }

    /// Takes a stored incident's state into memory.
    fn adopt(&self, inc: Incident, now: i64) {
        let Some(subject) = inc.subject() else {
            return;
        };
        self.seen.lock().insert(inc.id.clone(), inc.status);
        let mut contained = self.contained.write();
        let mut open = self.open.lock();
        if inc.active(now) {
            contained.insert(
                subject.clone(),
                Containment {
                    incident: inc.id.clone(),
                    action: inc.action,
                    until_ms: inc.until_ms,
                },
            );
            open.insert(subject, inc);
        } else if open.get(&subject).is_some_and(|o| o.id == inc.id) {
            open.remove(&subject);
            contained.remove(&subject);
            self.buckets.lock().remove(&inc.subject);
        }
    }

    fn containment(&self, subject: &Subject, now: i64) -> Option<Containment> {
        let c = self.contained.read().get(subject).cloned()?;
        c.until_ms.is_none_or(|u| now < u).then_some(c)
    }

    /// Before authentication: refuses a quarantined client address.
    pub fn admit_ip(&self, ctx: &mut RequestCtx) -> Result<(), ApiError> {
        let now = now_ms();
        if let Some(c) = self.containment(&Subject::Ip(ctx.client.ip()), now) {
            if c.action == Action::Quarantine {
                ctx.anomaly_refused = true;
                return Err(ApiError::Quarantined {
                    incident: c.incident,
                });
            }
        }
        Ok(())
    }

    /// After authentication, before authorization: refuses a quarantined principal,
    /// enforces a throttle, and says whether it is stepped up.
    pub fn admit(
        &self,
        st: &AppState,
        ctx: &mut RequestCtx,
        id: &IdentityKey,
    ) -> Result<Posture, ApiError> {
        let now = now_ms();
        let key = Subject::Principal(id.to_string());
        let legacy = Subject::LegacyName(id.name().to_string());
        let Some((subject, c)) = self
            .containment(&key, now)
            .map(|c| (key, c))
            .or_else(|| self.containment(&legacy, now).map(|c| (legacy, c)))
        else {
            return Ok(Posture::default());
        };
        match c.action {
            Action::Quarantine => {
                ctx.anomaly_refused = true;
                Err(ApiError::Quarantined {
                    incident: c.incident,
                })
            }
            Action::StepUp => Ok(Posture {
                step_up: Some((self.cfg.step_up_profile.clone(), c.incident)),
            }),
            Action::Throttle => {
                let per_min = st.config.limits_for(id).requests_per_minute.unwrap_or(60) as f64;
                let rate = (per_min * self.cfg.throttle_factor).max(1.0);
                let mut buckets = self.buckets.lock();
                let t = Instant::now();
                let (tokens, last) = buckets.entry(subject.name()).or_insert((rate, t));
                *tokens = (*tokens + t.duration_since(*last).as_secs_f64() * rate / 60.0).min(rate);
                *last = t;
                if *tokens >= 1.0 {
                    *tokens -= 1.0;
                    Ok(Posture::default())
                } else {
                    // Not marked as refused by containment: a throttled caller that keeps
                    // hammering is still observed, and may escalate to a quarantine.
                    Err(ApiError::Contained {
                        incident: c.incident,
                        code: "anomaly_throttled",
                    })
                }
            }
            Action::Alert => Ok(Posture::default()),
        }
    }

    /// Feeds a finished request to the detector and acts on an alert. Requests refused
    /// by a quarantine are not fed (they would only confirm it); throttled ones are.
    pub fn observe(
        &self,
        st: &AppState,
        ctx: &RequestCtx,
        decision: &str,
        prompt: u64,
        completion: u64,
    ) {
        if ctx.anomaly_refused {
            return;
        }
        let principal = ctx.principal.as_ref();
        // Before authentication only failed authentications say anything.
        if principal.is_none() && decision != "unauthenticated" {
            return;
        }
        let ip = ctx.client.ip().to_string();
        let ev = Event {
            ts: ctx.ts_ms,
            principal: principal
                .map_or_else(String::new, Principal::identity_key)
                .into(),
            ip: ip.as_str().into(),
            user_agent: ctx.user_agent.as_str().into(),
            model: ctx.model.as_str().into(),
            decision: match decision {
                "allow" => Decision::Allow,
                "error" => Decision::Error,
                _ => Decision::Deny,
            },
            prompt_tokens: prompt,
            completion_tokens: completion,
            injection_score: f64::from(ctx.injection_score),
            group: principal
                .and_then(|p| p.groups.first())
                .map(|g| g.as_str().into()),
        };
        let alert = self.detector.lock().observe(&ev);
        if let Some(a) = alert {
            self.act(st, a);
        }
    }

    fn act(&self, st: &AppState, alert: Alert) {
        st.metrics
            .anomaly_alerts
            .get_or_create(&crate::metrics::AnomalyLabels {
                severity: alert.severity.as_str(),
                action: alert.action.as_str(),
                kind: alert.kind.clone(),
            })
            .inc();
        let subject = match &alert.ip {
            Some(ip) => match ip.parse() {
                Ok(ip) => Subject::Ip(ip),
                Err(_) => return,
            },
            None => Subject::Principal(alert.principal.clone()),
        };
        tracing::warn!(
            subject = %subject.name(),
            subject_kind = subject.kind(),
            kind = %alert.kind,
            score = alert.score,
            severity = alert.severity.as_str(),
            action = alert.action.as_str(),
            features = %serde_json::to_string(&alert.features).unwrap_or_default(),
            "anomaly"
        );
        let mut incident_id = None;
        if alert.action.contains() {
            let inc = self.contain(st, &subject, &alert);
            incident_id = Some(inc);
        }
        self.send_webhook(st, &alert, incident_id);
    }

    /// Opens or escalates the subject's incident and puts the containment in force.
    /// Waits (at most five seconds) until the incident writer has saved everything
    /// queued so far, so a read of the store sees every incident the gateway has
    /// reported (a caller can get a 403 naming an incident before its row is written).
    pub fn flush(&self) {
        let (done, wait) = std::sync::mpsc::sync_channel(1);
        if self.saver.send(SaveJob::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(Duration::from_secs(5));
        }
    }

    fn contain(&self, st: &AppState, subject: &Subject, alert: &Alert) -> String {
        let now = now_ms();
        let ttl = match alert.action {
            Action::Quarantine => self.cfg.quarantine_ttl,
            _ => Some(self.cfg.containment_ttl),
        };
        let until =
            ttl.map(|d| now.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)));
        let detail = serde_json::to_value(alert).unwrap_or_default();
        let mut open = self.open.lock();
        let (inc, event) = match open.get_mut(subject).filter(|i| i.active(now)) {
            Some(inc) => {
                let stronger = alert.action > inc.action;
                if stronger {
                    inc.action = alert.action;
                    inc.until_ms = until;
                }
                inc.severity = inc.severity.max(alert.severity);
                inc.updated_ms = now;
                inc.timeline.push(TimelineEntry {
                    ts_ms: alert.ts,
                    event: if stronger { "escalated" } else { "alert" }.into(),
                    by: "detector".into(),
                    action: Some(inc.action),
                    detail,
                });
                (
                    inc.clone(),
                    if stronger {
                        "incident.escalate"
                    } else {
                        "incident.alert"
                    },
                )
            }
            None => {
                let inc = Incident {
                    id: new_incident_id(),
                    subject_kind: subject.kind().into(),
                    subject: subject.name(),
                    status: IncidentStatus::Open,
                    action: alert.action,
                    severity: alert.severity,
                    kind: alert.kind.clone(),
                    opened_ms: now,
                    updated_ms: now,
                    until_ms: until,
                    timeline: vec![TimelineEntry {
                        ts_ms: alert.ts,
                        event: "alert".into(),
                        by: "detector".into(),
                        action: Some(alert.action),
                        detail,
                    }],
                };
                open.insert(subject.clone(), inc.clone());
                (inc, "incident.open")
            }
        };
        drop(open);
        self.contained.write().insert(
            subject.clone(),
            Containment {
                incident: inc.id.clone(),
                action: inc.action,
                until_ms: inc.until_ms,
            },
        );
        st.metrics
            .anomaly_contained
            .set(self.contained.read().len() as i64);
        self.seen.lock().insert(inc.id.clone(), inc.status);
        audit_incident(st, &inc, event, "system");
        let id = inc.id.clone();
        if self.saver.send(SaveJob::Save(inc)).is_err() {
            tracing::error!(incident = %id, "incident writer has stopped; incident not saved");
        }
        id
    }

    /// An operator's step from the admin API: applied to the store and to memory at once.
    pub fn operate(
        &self,
        st: &AppState,
        id: &str,
        op: Operation,
        by: &str,
        note: &str,
    ) -> Result<Incident, IncidentError> {
        // An incident opened a moment ago may still be on its way to the store; a queued
        // older copy must not land after (and over) this change.
        self.flush();
        let inc = operate(&*self.store, id, op, by, note, now_ms())?;
        self.adopt(inc.clone(), now_ms());
        st.metrics
            .anomaly_contained
            .set(self.contained.read().len() as i64);
        audit_incident(st, &inc, &format!("incident.{}", op.as_str()), by);
        Ok(inc)
    }

    /// Picks up incidents changed elsewhere (the CLI, another gateway): called every
    /// second. Changes of status made outside this gateway are written to its audit log.
    pub fn sync(&self, st: &AppState) {
        let now = now_ms();
        // Containments past their TTL end: the incident stays open for the analyst, with
        // an `expired` step in its timeline.
        let expired: Vec<Incident> = {
            let mut open = self.open.lock();
            let gone: Vec<Subject> = open
                .iter()
                .filter(|(_, i)| i.until_ms.is_some_and(|u| now >= u))
                .map(|(s, _)| s.clone())
                .collect();
            gone.iter()
                .filter_map(|s| open.remove(s))
                .map(|mut inc| {
                    inc.updated_ms = now;
                    inc.timeline.push(TimelineEntry {
                        ts_ms: now,
                        event: "expired".into(),
                        by: "detector".into(),
                        action: None,
                        detail: serde_json::Value::Null,
                    });
                    inc
                })
                .collect()
        };
        for inc in expired {
            audit_incident(st, &inc, "incident.expire", "system");
            if self.saver.send(SaveJob::Save(inc)).is_err() {
                tracing::error!("incident writer has stopped; expiry not saved");
            }
        }
        let since = *self.watermark.lock();
        let changed = match self.store.changed_since(since) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "reading incidents failed");
                return;
            }
        };
        let mut high = since;
        for inc in changed {
            high = high.max(inc.updated_ms);
            let before = self.seen.lock().get(&inc.id).copied();
            if before.is_some_and(|b| b != inc.status) {
                let by = inc
                    .timeline
                    .last()
                    .map_or("operator", |t| t.by.as_str())
                    .to_string();
                audit_incident(st, &inc, &format!("incident.{}", inc.status.as_str()), &by);
            }
            // Keep the gateway's own newer in-memory state over an older stored copy.
            let newer_here = inc.subject().and_then(|s| {
                self.open
                    .lock()
                    .get(&s)
                    .filter(|o| o.id == inc.id)
                    .map(|o| o.updated_ms > inc.updated_ms)
            });
            if newer_here != Some(true) {
                self.adopt(inc, now);
            }
        }
        // Re-read the last few seconds each time: clocks of other writers may lag.
        *self.watermark.lock() = high.saturating_sub(5_000).max(since);
        self.contained
            .write()
            .retain(|_, c| c.until_ms.is_none_or(|u| now < u));
        // Throttle buckets only for principals still throttled.
        {
            let contained = self.contained.read();
            self.buckets.lock().retain(|p, _| {
                Subject::parse("principal", p)
                    .and_then(|s| contained.get(&s))
                    .is_some_and(|c| c.action == Action::Throttle)
            });
        }
        st.metrics
            .anomaly_contained
            .set(self.contained.read().len() as i64);
    }

    fn send_webhook(&self, st: &AppState, alert: &Alert, incident: Option<String>) {
        let Some(w) = &self.webhook else { return };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let body = serde_json::json!({ "alert": alert, "incident_id": incident }).to_string();
        let ts = crate::state::unix_now();
        let sig = sign_webhook(w.key.expose_secret().as_bytes(), ts, body.as_bytes());
        let req = http::Request::post(w.url.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("x-portcullis-timestamp", ts.to_string())
            .header("x-portcullis-signature", format!("sha256={sig}"))
            .body(http_body_util::Full::new(Bytes::from(body)));
        let Ok(req) = req else { return };
        let client = w.client.clone();
        let failures = st.metrics.anomaly_webhook_failures.clone();
        rt.spawn(async move {
            match tokio::time::timeout(Duration::from_secs(5), client.request(req)).await {
                Ok(Ok(r)) if r.status().is_success() => {}
                Ok(Ok(r)) => {
                    failures.inc();
                    tracing::warn!(
                        status = r.status().as_u16(),
                        "anomaly webhook refused the alert"
                    );
                }
                Ok(Err(e)) => {
                    failures.inc();
                    tracing::warn!(error = %e, "anomaly webhook failed");
                }
                Err(_) => {
                    failures.inc();
                    tracing::warn!("anomaly webhook timed out");
                }
            }
        });
    }
}

fn audit_incident(st: &AppState, inc: &Incident, action: &str, by: &str) {
    if !st.audit_on() {
        return;
    }
    let target = format!(
        "{} {}:{} status={} action={} severity={}",
        inc.id,
        inc.subject_kind,
        inc.subject,
        inc.status.as_str(),
        inc.action.as_str(),
        inc.severity.as_str()
    );
    let e = crate::audit::control_event(
        portcullis_audit::EventKind::Incident,
        now_ms(),
        if by.is_empty() {
            crate::audit::SYSTEM
        } else {
            by
        },
        crate::audit::SYSTEM,
        action,
        &target,
    );
    if !st.decisions.audit_event(e) {
        tracing::error!(incident = %inc.id, "audit event for the incident was not queued");
    }
}

// ---------------------------------------------------------------------------
// Admin API: GET /incidents[?all=true], GET /incidents/{id},
// POST /incidents/{id}/{ack|release|resolve} with an optional {"by", "note"} body.
// ---------------------------------------------------------------------------

/// The incident routes of the admin API (behind the admin token).
pub fn admin_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/incidents", get(list_incidents))
        .route("/incidents/{id}", get(show_incident))
        .route("/incidents/{id}/{op}", post(operate_incident))
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    all: bool,
}

#[derive(Deserialize, Default)]
struct OpBody {
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

fn off() -> Response {
    (StatusCode::NOT_FOUND, "anomaly detection is off\n").into_response()
}

fn store_error(e: &IncidentError) -> Response {
    match e {
        IncidentError::NotFound(_) => (StatusCode::NOT_FOUND, format!("{e}\n")).into_response(),
        IncidentError::Transition { .. } => {
            (StatusCode::CONFLICT, format!("{e}\n")).into_response()
        }
        _ => {
            tracing::error!(error = %e, "incident store");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "incident store unavailable\n",
            )
                .into_response()
        }
    }
}

async fn list_incidents(State(st): State<Arc<AppState>>, Query(q): Query<ListQuery>) -> Response {
    let Some(a) = st.anomaly.clone() else {
        return off();
    };
    match tokio::task::spawn_blocking(move || {
        a.flush();
        a.store.list(q.all)
    })
    .await
    {
        Ok(Ok(list)) => Json(list).into_response(),
        Ok(Err(e)) => store_error(&e),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn show_incident(State(st): State<Arc<AppState>>, UrlPath(id): UrlPath<String>) -> Response {
    let Some(a) = st.anomaly.clone() else {
        return off();
    };
    let key = id.clone();
    match tokio::task::spawn_blocking(move || {
        a.flush();
        a.store.get(&key)
    })
    .await
    {
        Ok(Ok(Some(inc))) => Json(inc).into_response(),
        Ok(Ok(None)) => store_error(&IncidentError::NotFound(id)),
        Ok(Err(e)) => store_error(&e),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn operate_incident(
    State(st): State<Arc<AppState>>,
    UrlPath((id, op)): UrlPath<(String, String)>,
    body: Bytes,
) -> Response {
    let Some(a) = st.anomaly.clone() else {
        return off();
    };
    let Some(op) = Operation::parse(&op) else {
        return (StatusCode::NOT_FOUND, "expected ack, release or resolve\n").into_response();
    };
    let b: OpBody = if body.is_empty() {
        OpBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => return (StatusCode::BAD_REQUEST, format!("body: {e}\n")).into_response(),
        }
    };
    let by = b.by.unwrap_or_else(|| "admin-api".into());
    let note = b.note.unwrap_or_default();
    let st2 = st.clone();
    match tokio::task::spawn_blocking(move || a.operate(&st2, &id, op, &by, &note)).await {
        Ok(Ok(inc)) => Json(inc).into_response(),
        Ok(Err(e)) => store_error(&e),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(id: &str) -> Incident {
        Incident {
            id: id.into(),
            subject_kind: "principal".into(),
            subject: "alice".into(),
            status: IncidentStatus::Open,
            action: Action::Quarantine,
            severity: Severity::Critical,
            kind: "new_context".into(),
            opened_ms: 1,
            updated_ms: 1,
            until_ms: None,
            timeline: vec![],
        }
    }

    #[test]
    fn sqlite_round_trip_and_transitions() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteIncidents::open(&dir.path().join("x.db")).unwrap();
        s.save(&incident("inc_1")).unwrap();
        assert_eq!(s.get("inc_1").unwrap().unwrap(), incident("inc_1"));
        assert_eq!(s.list(false).unwrap().len(), 1);
        let i = operate(&s, "inc_1", Operation::Ack, "bob", "looking", 5).unwrap();
        assert_eq!(i.status, IncidentStatus::Acknowledged);
        assert!(operate(&s, "inc_1", Operation::Ack, "bob", "", 6).is_err());
        let i = operate(&s, "inc_1", Operation::Release, "bob", "", 7).unwrap();
        assert!(!i.active(8));
        assert_eq!(i.timeline.len(), 2);
        assert!(s.list(false).unwrap().is_empty());
        assert_eq!(s.changed_since(7).unwrap().len(), 1);
        assert!(matches!(
            operate(&s, "nope", Operation::Resolve, "bob", "", 9),
            Err(IncidentError::NotFound(_))
        ));
    }

    #[test]
    fn webhook_signature_is_hmac_sha256() {
        // RFC 4231 test case 2 ("what do ya want for nothing?" under "Jefe"), split as
        // TIMESTAMP "." BODY would not be; so check against a direct computation instead.
        use hmac::Mac;
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"Jefe").unwrap();
        m.update(b"12.what do ya want for nothing?");
        let want = hex::encode(m.finalize().into_bytes());
        assert_eq!(
            sign_webhook(b"Jefe", 12, b"what do ya want for nothing?"),
            want
        );
    }
}
