//! The PostgreSQL schema: numbered migrations recorded in `schema_version`.
//!
//! `portcullis migrate` applies what is missing ([`migrate`]) in one transaction, under
//! an advisory lock so that two `migrate`s started at once do not both apply one. Opening a store only checks ([`check`]): a database older than
//! the binary is refused with "run `portcullis migrate`", one newer than it is refused
//! rather than misread.

use tokio_postgres::Client;

use super::{pg_err, LockKeys};
use crate::StoreError;

/// The migrations, in order; a database at version N has had the first N applied.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: keys, decision records, usage counters, and the audit log: leaves, events
    // submitted by the replicas and not yet in the log, signed checkpoints, bodies.
    r#"
    CREATE TABLE keys (
        id TEXT PRIMARY KEY,
        hash BYTEA NOT NULL,
        principal TEXT NOT NULL,
        groups TEXT[] NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT,
        revoked_at BIGINT
    );
    CREATE TABLE decisions (
        seq BIGSERIAL PRIMARY KEY,
        ts_ms BIGINT NOT NULL,
        request_id TEXT NOT NULL,
        principal TEXT NOT NULL,
        groups TEXT[] NOT NULL,
        key_id TEXT NOT NULL,
        action TEXT NOT NULL,
        model TEXT NOT NULL,
        upstream TEXT NOT NULL,
        decision TEXT NOT NULL,
        reason TEXT NOT NULL,
        status INTEGER NOT NULL,
        prompt_tokens BIGINT NOT NULL,
        completion_tokens BIGINT NOT NULL,
        latency_us BIGINT NOT NULL,
        stream BOOLEAN NOT NULL
    );
    CREATE INDEX decisions_principal_ts ON decisions (principal, ts_ms);
    CREATE TABLE usage (
        day BIGINT NOT NULL,
        subject_kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        tokens BIGINT NOT NULL,
        requests BIGINT NOT NULL,
        PRIMARY KEY (day, subject_kind, subject)
    );
    CREATE TABLE audit_leaves (
        idx BIGINT PRIMARY KEY CHECK (idx >= 0),
        leaf BYTEA NOT NULL,
        leaf_hash BYTEA NOT NULL,
        event_id TEXT NOT NULL,
        ts_ms BIGINT NOT NULL,
        principal TEXT NOT NULL,
        decision TEXT
    );
    CREATE INDEX audit_leaves_principal_ts ON audit_leaves (principal, ts_ms);
    CREATE INDEX audit_leaves_ts ON audit_leaves (ts_ms);
    CREATE INDEX audit_leaves_event ON audit_leaves (event_id);
    CREATE TABLE audit_pending (
        seq BIGSERIAL PRIMARY KEY,
        leaf BYTEA NOT NULL,
        leaf_hash BYTEA NOT NULL,
        event_id TEXT NOT NULL,
        ts_ms BIGINT NOT NULL,
        principal TEXT NOT NULL,
        decision TEXT
    );
    CREATE TABLE audit_checkpoints (
        seq BIGSERIAL PRIMARY KEY,
        size BIGINT NOT NULL,
        note TEXT NOT NULL
    );
    CREATE TABLE audit_bodies (
        event_id TEXT NOT NULL,
        part TEXT NOT NULL,
        ts_ms BIGINT NOT NULL,
        nonce BYTEA NOT NULL,
        ciphertext BYTEA NOT NULL,
        PRIMARY KEY (event_id, part)
    );
    CREATE INDEX audit_bodies_ts ON audit_bodies (ts_ms);
    "#,
    // 2: the model registry and signed policy bundles (`portcullis-integrity`), shared by
    // the replicas like everything else.
    r#"
    CREATE TABLE model_versions (
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        record TEXT NOT NULL,
        record_digest TEXT NOT NULL,
        state TEXT NOT NULL,
        state_reason TEXT NOT NULL DEFAULT '',
        proposed_seq BIGSERIAL NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (name, version)
    );
    CREATE UNIQUE INDEX model_versions_one_active ON model_versions (name) WHERE state = 'active';
    CREATE TABLE model_approvals (
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        approver TEXT NOT NULL,
        key_id BIGINT NOT NULL,
        record_digest TEXT NOT NULL,
        note TEXT NOT NULL,
        approved_at BIGINT NOT NULL,
        PRIMARY KEY (name, version, approver)
    );
    CREATE TABLE model_events (
        id BIGSERIAL PRIMARY KEY,
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        at BIGINT NOT NULL,
        action TEXT NOT NULL,
        actor TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX model_events_version ON model_events (name, version);
    CREATE TABLE policy_bundles (
        version BIGINT PRIMARY KEY,
        bundle TEXT NOT NULL,
        digest TEXT NOT NULL,
        state TEXT NOT NULL,
        updated_at BIGINT NOT NULL
    );
    CREATE UNIQUE INDEX policy_bundles_one_active ON policy_bundles (state) WHERE state = 'active';
    CREATE TABLE policy_bundle_approvals (
        version BIGINT NOT NULL,
        approver TEXT NOT NULL,
        note TEXT NOT NULL,
        approved_at BIGINT NOT NULL,
        PRIMARY KEY (version, approver)
    );
    "#,
    // 3: ids of committed write batches, so that a retried batch whose first commit did
    // happen is not written twice (`Store::record_batch_once`); pruned after a day.
    r#"
    CREATE TABLE write_batches (
        id BYTEA PRIMARY KEY,
        at_ms BIGINT NOT NULL
    );
    CREATE INDEX write_batches_at ON write_batches (at_ms);
    "#,
    // 4: anomaly incidents (the gateway's `IncidentStore`), shared by every replica so
    // a quarantine opened by one is enforced by all.
    r#"
    CREATE TABLE incidents (
        id           TEXT PRIMARY KEY,
        subject_kind TEXT NOT NULL,
        subject      TEXT NOT NULL,
        status       TEXT NOT NULL,
        action       TEXT NOT NULL,
        severity     TEXT NOT NULL,
        kind         TEXT NOT NULL,
        opened_ms    BIGINT NOT NULL,
        updated_ms   BIGINT NOT NULL,
        until_ms     BIGINT,
        timeline     TEXT NOT NULL
    );
    CREATE INDEX incidents_status ON incidents (status);
    CREATE INDEX incidents_updated ON incidents (updated_ms);
    "#,
];

/// The schema version this binary reads and writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY, applied_at_ms BIGINT NOT NULL)";

/// The version of the schema the connection sees (0 when never migrated).
pub(crate) async fn version(c: &Client) -> Result<i64, StoreError> {
    let exists: bool = c
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .await
        .map_err(pg_err)?
        .try_get(0)
        .map_err(pg_err)?;
    if !exists {
        return Ok(0);
    }
    c.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])
        .await
        .map_err(pg_err)?
        .try_get(0)
        .map_err(pg_err)
}

/// Refuses a schema other than [`SCHEMA_VERSION`].
pub(crate) async fn check(c: &Client) -> Result<(), StoreError> {
    let found = version(c).await?;
    match found.cmp(&SCHEMA_VERSION) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Less => Err(StoreError::SchemaTooOld {
            found,
            supported: SCHEMA_VERSION,
        }),
        std::cmp::Ordering::Greater => Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        }),
    }
}

/// Applies the missing migrations; returns the versions before and after.
pub(crate) async fn migrate(
    c: &mut Client,
    schema: Option<&str>,
    locks: LockKeys,
) -> Result<(i64, i64), StoreError> {
    if let Some(s) = schema {
        // The name was checked to be a plain identifier (`PostgresConfig::schema`).
        match c
            .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{s}\""))
            .await
        {
            Ok(()) => {}
            // Two `migrate`s at once: the other one created it.
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {}
            Err(e) => return Err(pg_err(e)),
        }
    }
    let tx = c.transaction().await.map_err(pg_err)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&super::MIGRATE_LOCK_CLASS, &locks.schema],
    )
    .await
    .map_err(pg_err)?;
    tx.batch_execute(VERSION_TABLE).await.map_err(pg_err)?;
    let before: i64 = tx
        .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])
        .await
        .map_err(pg_err)?
        .try_get(0)
        .map_err(pg_err)?;
    if before > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: before,
            supported: SCHEMA_VERSION,
        });
    }
    for (i, m) in MIGRATIONS.iter().enumerate().skip(before as usize) {
        let v = i as i64 + 1;
        tx.batch_execute(m)
            .await
            .map_err(|e| StoreError::Database(format!("migration {v}: {}", pg_err(e))))?;
        tx.execute(
            "INSERT INTO schema_version (version, applied_at_ms) VALUES ($1, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT)",
            &[&v],
        )
        .await
        .map_err(pg_err)?;
    }
    tx.commit().await.map_err(pg_err)?;
    Ok((before, SCHEMA_VERSION))
}
