//! [`RegistryStore`] on SQLite, in the gateway's database file (`<data_dir>/portcullis.db`)
//! but in tables of its own (`model_*`), created with `CREATE TABLE IF NOT EXISTS` and
//! guarded by their own schema version, so the gateway's migrations and these never
//! touch each other's tables.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use super::{RegistryEvent, RegistryStore, State, StoredApproval, StoredVersion};
use crate::error::{Error, RegistryError, Result};

/// The registry schema version this build writes.
pub const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS model_registry_meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS model_versions (
    name          TEXT NOT NULL,
    version       TEXT NOT NULL,
    record        TEXT NOT NULL,
    record_digest TEXT NOT NULL,
    state         TEXT NOT NULL,
    state_reason  TEXT NOT NULL DEFAULT '',
    proposed_seq  INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (name, version)
);
-- At most one active version per model name, whatever the callers do.
CREATE UNIQUE INDEX IF NOT EXISTS model_versions_one_active
    ON model_versions (name) WHERE state = 'active';
CREATE TABLE IF NOT EXISTS model_approvals (
    name          TEXT NOT NULL,
    version       TEXT NOT NULL,
    approver      TEXT NOT NULL,
    key_id        INTEGER NOT NULL,
    record_digest TEXT NOT NULL,
    note          TEXT NOT NULL,
    approved_at   INTEGER NOT NULL,
    PRIMARY KEY (name, version, approver)
);
CREATE TABLE IF NOT EXISTS model_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    name    TEXT NOT NULL,
    version TEXT NOT NULL,
    at      INTEGER NOT NULL,
    action  TEXT NOT NULL,
    actor   TEXT NOT NULL,
    detail  TEXT NOT NULL
);
";

/// The registry's tables in a SQLite database.
pub struct SqliteRegistryStore {
    conn: Connection,
}

impl std::fmt::Debug for SqliteRegistryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteRegistryStore")
            .finish_non_exhaustive()
    }
}

impl SqliteRegistryStore {
    /// Opens (creating if needed) the database at `path` and its registry tables.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(crate::error::io_err(dir))?;
        }
        Self::init(Connection::open(path)?)
    }

    /// A private in-memory database (tests).
    pub fn open_in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self> {
        // The gateway may hold the database; wait for its writes rather than fail.
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        let found: Option<i64> = conn
            .query_row(
                "SELECT value FROM model_registry_meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        match found {
            None => {
                conn.execute(
                    "INSERT INTO model_registry_meta (key, value) VALUES ('schema_version', ?1)",
                    params![SCHEMA_VERSION],
                )?;
            }
            Some(v) if v == SCHEMA_VERSION => {}
            Some(v) => {
                return Err(RegistryError::SchemaVersion {
                    found: v,
                    supported: SCHEMA_VERSION,
                }
                .into())
            }
        }
        Ok(Self { conn })
    }

    /// The connection (tests use it to play an attacker with write access).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

fn state_of(s: String) -> rusqlite::Result<State> {
    State::parse(&s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown model state {s:?}").into(),
        )
    })
}

impl RegistryStore for SqliteRegistryStore {
    fn insert_version(&mut self, name: &str, version: &str, v: &StoredVersion) -> Result<()> {
        let r = self.conn.execute(
            "INSERT INTO model_versions
                (name, version, record, record_digest, state, state_reason, proposed_seq, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6,
                (SELECT COALESCE(MAX(proposed_seq), 0) + 1 FROM model_versions), ?7)",
            params![
                name,
                version,
                v.record_json,
                v.record_digest,
                v.state.as_str(),
                v.state_reason,
                v.updated_at
            ],
        );
        match r {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(RegistryError::AlreadyExists {
                    name: name.into(),
                    version: version.into(),
                }
                .into())
            }
            Err(e) => Err(e.into()),
        }
    }

    fn get_version(&self, name: &str, version: &str) -> Result<Option<StoredVersion>> {
        Ok(self
            .conn
            .query_row(
                "SELECT record, record_digest, state, state_reason, updated_at
                 FROM model_versions WHERE name = ?1 AND version = ?2",
                params![name, version],
                |r| {
                    Ok(StoredVersion {
                        record_json: r.get(0)?,
                        record_digest: r.get(1)?,
                        state: state_of(r.get(2)?)?,
                        state_reason: r.get(3)?,
                        updated_at: r.get(4)?,
                    })
                },
            )
            .optional()?)
    }

    fn list_versions(&self) -> Result<Vec<(String, String, StoredVersion)>> {
        let mut stmt = self.conn.prepare(
            "SELECT name, version, record, record_digest, state, state_reason, updated_at
             FROM model_versions ORDER BY name, proposed_seq",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                StoredVersion {
                    record_json: r.get(2)?,
                    record_digest: r.get(3)?,
                    state: state_of(r.get(4)?)?,
                    state_reason: r.get(5)?,
                    updated_at: r.get(6)?,
                },
            ))
        })?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(Error::from)
    }

    fn set_state(
        &mut self,
        name: &str,
        version: &str,
        state: State,
        reason: &str,
        at: i64,
    ) -> Result<()> {
        let n = self.conn.execute(
            "UPDATE model_versions SET state = ?3, state_reason = ?4, updated_at = ?5
             WHERE name = ?1 AND version = ?2",
            params![name, version, state.as_str(), reason, at],
        )?;
        if n == 0 {
            return Err(RegistryError::NotFound {
                name: name.into(),
                version: version.into(),
            }
            .into());
        }
        Ok(())
    }

    fn add_approval(&mut self, name: &str, version: &str, a: &StoredApproval) -> Result<()> {
        let r = self.conn.execute(
            "INSERT INTO model_approvals
                (name, version, approver, key_id, record_digest, note, approved_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                name,
                version,
                a.approver,
                a.key_id,
                a.record_digest,
                a.note,
                a.approved_at
            ],
        );
        match r {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(RegistryError::DuplicateApprover(a.approver.clone()).into())
            }
            Err(e) => Err(e.into()),
        }
    }

    fn approvals(&self, name: &str, version: &str) -> Result<Vec<StoredApproval>> {
        let mut stmt = self.conn.prepare(
            "SELECT approver, key_id, record_digest, note, approved_at FROM model_approvals
             WHERE name = ?1 AND version = ?2 ORDER BY approved_at, approver",
        )?;
        let rows = stmt.query_map(params![name, version], |r| {
            Ok(StoredApproval {
                approver: r.get(0)?,
                key_id: r.get(1)?,
                record_digest: r.get(2)?,
                note: r.get(3)?,
                approved_at: r.get(4)?,
            })
        })?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(Error::from)
    }

    fn add_event(&mut self, name: &str, version: &str, e: &RegistryEvent) -> Result<()> {
        self.conn.execute(
            "INSERT INTO model_events (name, version, at, action, actor, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![name, version, e.at, e.action, e.actor, e.detail],
        )?;
        Ok(())
    }

    fn events(&self, name: &str, version: &str) -> Result<Vec<RegistryEvent>> {
        let mut stmt = self.conn.prepare(
            "SELECT at, action, actor, detail FROM model_events
             WHERE name = ?1 AND version = ?2 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![name, version], |r| {
            Ok(RegistryEvent {
                at: r.get(0)?,
                action: r.get(1)?,
                actor: r.get(2)?,
                detail: r.get(3)?,
            })
        })?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(Error::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("portcullis.db");
        drop(SqliteRegistryStore::open(&path).unwrap());
        // Reopening is fine and idempotent.
        drop(SqliteRegistryStore::open(&path).unwrap());
        let c = Connection::open(&path).unwrap();
        c.execute(
            "UPDATE model_registry_meta SET value = 99 WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
        let err = SqliteRegistryStore::open(&path).unwrap_err();
        assert!(err.to_string().contains("schema version 99"), "{err}");
    }

    #[test]
    fn at_most_one_active_version_per_name() {
        let mut s = SqliteRegistryStore::open_in_memory().unwrap();
        let v = |state| StoredVersion {
            record_json: "{}".into(),
            record_digest: "d".into(),
            state,
            state_reason: String::new(),
            updated_at: 0,
        };
        s.insert_version("m", "1", &v(State::Active)).unwrap();
        s.insert_version("m", "2", &v(State::Approved)).unwrap();
        s.insert_version("other", "1", &v(State::Active)).unwrap();
        assert!(s.set_state("m", "2", State::Active, "", 1).is_err());
        s.set_state("m", "1", State::Retired, "", 1).unwrap();
        s.set_state("m", "2", State::Active, "", 1).unwrap();
    }

    #[test]
    fn shares_a_database_with_other_tables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("portcullis.db");
        let c = Connection::open(&path).unwrap();
        c.execute_batch("CREATE TABLE keys (id TEXT PRIMARY KEY); INSERT INTO keys VALUES ('k1');")
            .unwrap();
        drop(SqliteRegistryStore::open(&path).unwrap());
        let n: i64 = c
            .query_row("SELECT COUNT(*) FROM keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }
}
