//! [`RegistryStore`] on PostgreSQL: the `model_*` tables of the gateway's shared
//! database (created by `portcullis migrate`, migration 2 of `portcullis-store`), so
//! every replica routes by the same registry. Same semantics as the SQLite store: at
//! most one active version per name (a partial unique index), records kept verbatim.

use portcullis_store::postgres::{Row, SqlClient, SqlParam};
use portcullis_store::StoreError;

use super::{RegistryEvent, RegistryStore, State, StoredApproval, StoredVersion};
use crate::error::{Error, RegistryError, Result};

/// The registry's tables in the shared PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresRegistryStore {
    sql: SqlClient,
}

impl PostgresRegistryStore {
    /// Uses a client on a migrated database.
    pub fn new(sql: SqlClient) -> Self {
        Self { sql }
    }

    /// The client (tests use it to play an attacker with write access).
    pub fn sql(&self) -> &SqlClient {
        &self.sql
    }
}

fn db(e: StoreError) -> Error {
    Error::Store(e)
}

fn p<T: portcullis_store::postgres::ToSql + Send + Sync + 'static>(v: T) -> SqlParam {
    Box::new(v)
}

fn get<T: portcullis_store::postgres::FromSqlOwned>(r: &Row, i: usize) -> Result<T> {
    r.try_get::<_, T>(i)
        .map_err(|e| db(StoreError::Corrupt(format!("registry row: {e}"))))
}

fn state_of(s: &str) -> Result<State> {
    State::parse(s).ok_or_else(|| db(StoreError::Corrupt(format!("unknown model state {s:?}"))))
}

fn version_of(r: &Row, at: usize) -> Result<StoredVersion> {
    Ok(StoredVersion {
        record_json: get(r, at)?,
        record_digest: get(r, at + 1)?,
        state: state_of(&get::<String>(r, at + 2)?)?,
        state_reason: get(r, at + 3)?,
        updated_at: get(r, at + 4)?,
    })
}

impl RegistryStore for PostgresRegistryStore {
    fn insert_version(&mut self, name: &str, version: &str, v: &StoredVersion) -> Result<()> {
        let r = self.sql.execute(
            "INSERT INTO model_versions (name, version, record, record_digest, state, state_reason, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            vec![
                p(name.to_string()),
                p(version.to_string()),
                p(v.record_json.clone()),
                p(v.record_digest.clone()),
                p(v.state.as_str().to_string()),
                p(v.state_reason.clone()),
                p(v.updated_at),
            ],
        );
        match r {
            Ok(_) => Ok(()),
            Err(StoreError::Conflict(_)) => Err(RegistryError::AlreadyExists {
                name: name.into(),
                version: version.into(),
            }
            .into()),
            Err(e) => Err(db(e)),
        }
    }

    fn get_version(&self, name: &str, version: &str) -> Result<Option<StoredVersion>> {
        let rows = self
            .sql
            .query(
                "SELECT record, record_digest, state, state_reason, updated_at
                 FROM model_versions WHERE name = $1 AND version = $2",
                vec![p(name.to_string()), p(version.to_string())],
            )
            .map_err(db)?;
        rows.first().map(|r| version_of(r, 0)).transpose()
    }

    fn list_versions(&self) -> Result<Vec<(String, String, StoredVersion)>> {
        let rows = self
            .sql
            .query(
                "SELECT name, version, record, record_digest, state, state_reason, updated_at
                 FROM model_versions ORDER BY name, proposed_seq",
                vec![],
            )
            .map_err(db)?;
        rows.iter()
            .map(|r| Ok((get(r, 0)?, get(r, 1)?, version_of(r, 2)?)))
            .collect()
    }

    fn set_state(
        &mut self,
        name: &str,
        version: &str,
        state: State,
        reason: &str,
        at: i64,
    ) -> Result<()> {
        let n = self
            .sql
            .execute(
                "UPDATE model_versions SET state = $3, state_reason = $4, updated_at = $5
                 WHERE name = $1 AND version = $2",
                vec![
                    p(name.to_string()),
                    p(version.to_string()),
                    p(state.as_str().to_string()),
                    p(reason.to_string()),
                    p(at),
                ],
            )
            .map_err(db)?;
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
        let r = self.sql.execute(
            "INSERT INTO model_approvals (name, version, approver, key_id, record_digest, note, approved_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            vec![
                p(name.to_string()),
                p(version.to_string()),
                p(a.approver.clone()),
                p(i64::from(a.key_id)),
                p(a.record_digest.clone()),
                p(a.note.clone()),
                p(a.approved_at),
            ],
        );
        match r {
            Ok(_) => Ok(()),
            Err(StoreError::Conflict(_)) => {
                Err(RegistryError::DuplicateApprover(a.approver.clone()).into())
            }
            Err(e) => Err(db(e)),
        }
    }

    fn approvals(&self, name: &str, version: &str) -> Result<Vec<StoredApproval>> {
        let rows = self
            .sql
            .query(
                "SELECT approver, key_id, record_digest, note, approved_at FROM model_approvals
                 WHERE name = $1 AND version = $2 ORDER BY approved_at, approver",
                vec![p(name.to_string()), p(version.to_string())],
            )
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                let key_id: i64 = get(r, 1)?;
                Ok(StoredApproval {
                    approver: get(r, 0)?,
                    key_id: u32::try_from(key_id).map_err(|_| {
                        db(StoreError::Corrupt(format!("approval key id {key_id}")))
                    })?,
                    record_digest: get(r, 2)?,
                    note: get(r, 3)?,
                    approved_at: get(r, 4)?,
                })
            })
            .collect()
    }

    fn add_event(&mut self, name: &str, version: &str, e: &RegistryEvent) -> Result<()> {
        self.sql
            .execute(
                "INSERT INTO model_events (name, version, at, action, actor, detail)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                vec![
                    p(name.to_string()),
                    p(version.to_string()),
                    p(e.at),
                    p(e.action.clone()),
                    p(e.actor.clone()),
                    p(e.detail.clone()),
                ],
            )
            .map_err(db)?;
        Ok(())
    }

    fn events(&self, name: &str, version: &str) -> Result<Vec<RegistryEvent>> {
        let rows = self
            .sql
            .query(
                "SELECT at, action, actor, detail FROM model_events
                 WHERE name = $1 AND version = $2 ORDER BY id",
                vec![p(name.to_string()), p(version.to_string())],
            )
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(RegistryEvent {
                    at: get(r, 0)?,
                    action: get(r, 1)?,
                    actor: get(r, 2)?,
                    detail: get(r, 3)?,
                })
            })
            .collect()
    }
}
