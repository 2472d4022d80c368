//! Signed policy bundles: the Cedar policies (and optionally the guard configuration,
//! `guards.toml`) the gateway enforces, as numbered versions that need k distinct
//! approvals before they can be activated.
//!
//! - A [`PolicyBundle`] is immutable once proposed. Its canonical JSON (fields in
//!   declared order, files sorted by name, serde_json escaping) is what approvers sign
//!   and what [`PolicyBundle::digest`] hashes; the store keeps that exact text and every
//!   read re-parses and re-serializes it, so an edited row is refused.
//! - An approval is a C2SP signed note (the audit log's Ed25519 key format, made with
//!   `portcullis audit keygen`) over [`approval_text`], which embeds the whole bundle: an
//!   approval of another version or of edited policies does not verify.
//! - Activation needs k distinct approvers of the [`ApprovalPolicy`] in force *at
//!   activation*, re-verified then (a removed approver's approvals no longer count).
//!   The previously active version stays approved, so [`BundleStore::rollback`] to any
//!   earlier approved version is one call. The gateway re-verifies the active bundle's
//!   approvals itself before it loads it.
//!
//! Stored in the gateway's database in tables of its own (`policy_bundle*`): in its
//! SQLite file (created with `CREATE TABLE IF NOT EXISTS`), or in the replicas' shared
//! PostgreSQL database ([`BundleStore::open_postgres`]; created by `portcullis migrate`),
//! where every replica sees an activation on its next poll.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use portcullis_audit::note::MAX_NOTE_SIZE;
use portcullis_audit::{NoteSigner, SignedNote};
use portcullis_store::postgres::{SqlClient, SqlParam};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::registry::ApprovalPolicy;

/// The file of a bundle that holds the guard configuration (`[guards]` sections).
pub const GUARDS_FILE: &str = "guards.toml";

/// Largest bundle accepted (all files together).
const MAX_BUNDLE_BYTES: usize = 4 * 1024 * 1024;

const APPROVAL_HEADER: &str = "portcullis policy bundle approval v1";

/// Room left in a signed note for the blank line and signature lines of an approval.
const APPROVAL_SIGNATURE_ROOM: usize = 4096;

/// What went wrong, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Reading the bundle's directory failed.
    #[error("{path}: {reason}")]
    Files {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No such version.
    #[error("policy bundle version {0} does not exist")]
    NotFound(u64),
    /// A stored bundle does not match its digest or is not canonical.
    #[error("policy bundle version {0} was altered in the database (its stored text does not match its digest)")]
    Tampered(u64),
    /// An approval that does not verify, or not by a configured approver.
    #[error("approval refused for version {version}: {reason}")]
    BadApproval {
        /// The version.
        version: u64,
        /// Why.
        reason: String,
    },
    /// The same approver approved twice.
    #[error("{approver} has already approved version {version}")]
    DuplicateApprover {
        /// Who.
        approver: String,
        /// The version.
        version: u64,
    },
    /// Not enough valid approvals.
    #[error("version {version} has {have} of the {need} approvals it needs")]
    NotApproved {
        /// The version.
        version: u64,
        /// Valid approvals.
        have: usize,
        /// k.
        need: usize,
    },
    /// The operation does not apply in the version's state.
    #[error("version {version} is {state}: cannot {action}")]
    BadState {
        /// The version.
        version: u64,
        /// Its state.
        state: String,
        /// What was asked.
        action: &'static str,
    },
    /// No earlier approved version to roll back to.
    #[error("no earlier approved version to roll back to")]
    NoRollbackTarget,
    /// The database.
    #[error("policy bundle store: {0}")]
    Db(#[from] rusqlite::Error),
    /// The PostgreSQL database.
    #[error("policy bundle store: {0}")]
    Store(#[from] portcullis_store::StoreError),
}

/// One file of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleFile {
    /// File name (no directories): `*.cedar` or [`GUARDS_FILE`].
    pub name: String,
    /// Its text.
    pub text: String,
}

/// A proposed set of policies (and guard configuration). Field order is the canonical
/// order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyBundle {
    /// The files, sorted by name.
    pub files: Vec<BundleFile>,
    /// Why (free text, e.g. a change ticket).
    pub note: String,
    /// Unix seconds.
    pub proposed_at: i64,
    /// Who proposed it.
    pub proposed_by: String,
    /// The version number, assigned at proposal (1, 2, ...).
    pub version: u64,
}

impl PolicyBundle {
    /// Reads `*.cedar` and `guards.toml` from `dir` (other files are ignored).
    pub fn from_dir(
        dir: &Path,
        version: u64,
        proposed_by: &str,
        note: &str,
        now: i64,
    ) -> Result<Self, BundleError> {
        let err = |path: &Path, reason: String| BundleError::Files {
            path: path.to_path_buf(),
            reason,
        };
        let mut files = Vec::new();
        let mut total = 0usize;
        let entries = std::fs::read_dir(dir).map_err(|e| err(dir, e.to_string()))?;
        for entry in entries {
            let path = entry.map_err(|e| err(dir, e.to_string()))?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if !(name.ends_with(".cedar") || name == GUARDS_FILE) || !path.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|e| err(&path, e.to_string()))?;
            total += text.len();
            if total > MAX_BUNDLE_BYTES {
                return Err(err(
                    dir,
                    format!("bundle larger than {MAX_BUNDLE_BYTES} bytes"),
                ));
            }
            files.push(BundleFile {
                name: name.to_string(),
                text,
            });
        }
        Self::from_files(files, version, proposed_by, note, now).map_err(|e| match e {
            BundleError::Files { reason, .. } => err(dir, reason),
            other => other,
        })
    }

    /// A bundle of files given directly (e.g. over the admin API). Names must be plain
    /// `*.cedar` file names or [`GUARDS_FILE`], each at most once.
    pub fn from_files(
        mut files: Vec<BundleFile>,
        version: u64,
        proposed_by: &str,
        note: &str,
        now: i64,
    ) -> Result<Self, BundleError> {
        let err = |reason: String| BundleError::Files {
            path: PathBuf::from("<bundle>"),
            reason,
        };
        files.sort_by(|a, b| a.name.cmp(&b.name));
        for f in &files {
            let plain = !f.name.is_empty()
                && f.name.len() <= 255
                && !f.name.starts_with('.')
                && f.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !plain || !(f.name.ends_with(".cedar") || f.name == GUARDS_FILE) {
                return Err(err(format!(
                    "file name {:?} must be a plain *.cedar name or {GUARDS_FILE}",
                    f.name
                )));
            }
        }
        if files.windows(2).any(|w| w[0].name == w[1].name) {
            return Err(err("a file name appears twice".into()));
        }
        if files.iter().map(|f| f.text.len()).sum::<usize>() > MAX_BUNDLE_BYTES {
            return Err(err(format!("bundle larger than {MAX_BUNDLE_BYTES} bytes")));
        }
        if !files.iter().any(|f| f.name.ends_with(".cedar")) {
            return Err(err("no .cedar policy files".into()));
        }
        let bundle = Self {
            files,
            note: note.into(),
            proposed_at: now,
            proposed_by: proposed_by.into(),
            version,
        };
        // An approval is a signed note over the whole bundle: one that cannot fit in a
        // note could be proposed but never approved.
        if approval_text(&bundle).len() + APPROVAL_SIGNATURE_ROOM > MAX_NOTE_SIZE {
            return Err(err(format!(
                "bundle too large for an approval: its approval text must stay below {} bytes",
                MAX_NOTE_SIZE - APPROVAL_SIGNATURE_ROOM
            )));
        }
        Ok(bundle)
    }

    /// The canonical JSON.
    pub fn canonical_json(&self) -> String {
        // Strings and integers only: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// SHA-256 of the canonical JSON, hex.
    pub fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.canonical_json().as_bytes()))
    }

    /// Parses canonical JSON; anything that does not re-serialize to the same bytes (or
    /// has unsorted files) is refused.
    fn from_canonical(text: &str, version: u64) -> Result<Self, BundleError> {
        let b: Self = serde_json::from_str(text).map_err(|_| BundleError::Tampered(version))?;
        let sorted = b.files.windows(2).all(|w| w[0].name < w[1].name);
        if b.canonical_json() != text || !sorted || b.version != version {
            return Err(BundleError::Tampered(version));
        }
        Ok(b)
    }

    /// Parses a bundle's canonical JSON as printed by `portcullis policy show --bundle`
    /// (what an approver reviews and signs offline).
    pub fn parse_canonical(text: &str) -> Result<Self, BundleError> {
        let b: Self = serde_json::from_str(text).map_err(|_| BundleError::Tampered(0))?;
        Self::from_canonical(text, b.version)
    }

    /// The policy files as `(name, text)`, for the policy engine.
    pub fn policies(&self) -> Vec<(PathBuf, String)> {
        self.files
            .iter()
            .filter(|f| f.name.ends_with(".cedar"))
            .map(|f| (PathBuf::from(&f.name), f.text.clone()))
            .collect()
    }

    /// The guard configuration, when the bundle has one.
    pub fn guards_toml(&self) -> Option<&str> {
        self.files
            .iter()
            .find(|f| f.name == GUARDS_FILE)
            .map(|f| f.text.as_str())
    }
}

/// The exact text an approver signs for `bundle`.
pub fn approval_text(bundle: &PolicyBundle) -> String {
    format!("{APPROVAL_HEADER}\n{}\n", bundle.canonical_json())
}

/// A bundle's life-cycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleState {
    /// Waiting for approvals.
    Proposed,
    /// Has k approvals (or was active before): can be activated.
    Approved,
    /// What the gateway enforces.
    Active,
}

impl BundleState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            BundleState::Proposed => "proposed",
            BundleState::Approved => "approved",
            BundleState::Active => "active",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Proposed, Self::Approved, Self::Active]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A stored version.
#[derive(Debug, Clone)]
pub struct StoredBundle {
    /// The bundle (digest re-checked on load).
    pub bundle: PolicyBundle,
    /// Its digest.
    pub digest: String,
    /// State.
    pub state: BundleState,
    /// Approvals on file: `(approver, signed note)`; verify with
    /// [`BundleStore::valid_approvers`].
    pub approvals: Vec<(String, String)>,
}

/// The bundles in the gateway's database.
pub struct BundleStore {
    db: Db,
}

enum Db {
    Sqlite(Connection),
    Postgres(SqlClient),
}

fn p<T: portcullis_store::postgres::ToSql + Send + Sync + 'static>(v: T) -> SqlParam {
    Box::new(v)
}

fn pg_get<T: portcullis_store::postgres::FromSqlOwned>(
    r: &portcullis_store::postgres::Row,
    i: usize,
) -> Result<T, BundleError> {
    r.try_get::<_, T>(i).map_err(|e| {
        BundleError::Store(portcullis_store::StoreError::Corrupt(format!(
            "policy bundle row: {e}"
        )))
    })
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl std::fmt::Debug for BundleStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleStore").finish_non_exhaustive()
    }
}

impl BundleStore {
    /// Opens the database file and creates the tables if needed.
    pub fn open(path: &Path) -> Result<Self, BundleError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS policy_bundles (
                version    INTEGER PRIMARY KEY,
                bundle     TEXT NOT NULL,
                digest     TEXT NOT NULL,
                state      TEXT NOT NULL,
                updated_at INTEGER NOT NULL
            );
            CREATE UNIQUE INDEX IF NOT EXISTS policy_bundles_one_active
                ON policy_bundles (state) WHERE state = 'active';
            CREATE TABLE IF NOT EXISTS policy_bundle_approvals (
                version     INTEGER NOT NULL,
                approver    TEXT NOT NULL,
                note        TEXT NOT NULL,
                approved_at INTEGER NOT NULL,
                PRIMARY KEY (version, approver)
            );",
        )?;
        Ok(Self {
            db: Db::Sqlite(conn),
        })
    }

    /// The bundles in the shared PostgreSQL database (its schema migrated).
    pub fn open_postgres(sql: SqlClient) -> Self {
        Self {
            db: Db::Postgres(sql),
        }
    }

    /// The underlying SQLite connection (tests); `None` on PostgreSQL.
    pub fn connection(&self) -> Option<&Connection> {
        match &self.db {
            Db::Sqlite(c) => Some(c),
            Db::Postgres(_) => None,
        }
    }

    /// Stores the policies of `dir` as the next version; returns it.
    pub fn propose(
        &mut self,
        dir: &Path,
        proposed_by: &str,
        note: &str,
        now: i64,
    ) -> Result<StoredBundle, BundleError> {
        self.propose_with(
            |v| PolicyBundle::from_dir(dir, v, proposed_by, note, now),
            now,
        )
    }

    /// Stores `files` as the next version (see [`PolicyBundle::from_files`]).
    pub fn propose_files(
        &mut self,
        files: Vec<BundleFile>,
        proposed_by: &str,
        note: &str,
        now: i64,
    ) -> Result<StoredBundle, BundleError> {
        self.propose_with(
            |v| PolicyBundle::from_files(files, v, proposed_by, note, now),
            now,
        )
    }

    fn propose_with(
        &mut self,
        make: impl FnOnce(u64) -> Result<PolicyBundle, BundleError>,
        now: i64,
    ) -> Result<StoredBundle, BundleError> {
        let (bundle, digest) = match &mut self.db {
            Db::Sqlite(conn) => {
                let tx =
                    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let last: Option<i64> =
                    tx.query_row("SELECT MAX(version) FROM policy_bundles", [], |r| r.get(0))?;
                let version = last.map_or(1, |v| v.max(0) as u64 + 1);
                let bundle = make(version)?;
                let digest = bundle.digest();
                tx.execute(
                    "INSERT INTO policy_bundles (version, bundle, digest, state, updated_at) VALUES (?1, ?2, ?3, 'proposed', ?4)",
                    params![version as i64, bundle.canonical_json(), digest, now],
                )?;
                tx.commit()?;
                (bundle, digest)
            }
            Db::Postgres(sql) => {
                let rows = sql.query("SELECT MAX(version) FROM policy_bundles", vec![])?;
                let last: Option<i64> = match rows.first() {
                    Some(r) => pg_get(r, 0)?,
                    None => None,
                };
                let version = last.map_or(1, |v| v.max(0) as u64 + 1);
                let bundle = make(version)?;
                let digest = bundle.digest();
                // Two proposals at once: the second fails on the version's key (the
                // version is part of what approvers sign, so it is fixed before the
                // insert); proposing again takes the next one.
                sql.execute(
                    "INSERT INTO policy_bundles (version, bundle, digest, state, updated_at) VALUES ($1, $2, $3, 'proposed', $4)",
                    vec![p(to_i64(version)), p(bundle.canonical_json()), p(digest.clone()), p(now)],
                )?;
                (bundle, digest)
            }
        };
        Ok(StoredBundle {
            bundle,
            digest,
            state: BundleState::Proposed,
            approvals: Vec::new(),
        })
    }

    /// Loads a version, checking its digest.
    pub fn get(&self, version: u64) -> Result<StoredBundle, BundleError> {
        let (row, approvals) = match &self.db {
            Db::Sqlite(conn) => {
                let row: Option<(String, String, String)> = conn
                    .query_row(
                        "SELECT bundle, digest, state FROM policy_bundles WHERE version = ?1",
                        [version as i64],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()?;
                let mut st = conn.prepare(
                    "SELECT approver, note FROM policy_bundle_approvals WHERE version = ?1 ORDER BY approved_at, approver",
                )?;
                let approvals = st
                    .query_map([version as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<Vec<(String, String)>, _>>()?;
                (row, approvals)
            }
            Db::Postgres(sql) => {
                let rows = sql.query(
                    "SELECT bundle, digest, state FROM policy_bundles WHERE version = $1",
                    vec![p(to_i64(version))],
                )?;
                let row = match rows.first() {
                    Some(r) => Some((pg_get(r, 0)?, pg_get(r, 1)?, pg_get(r, 2)?)),
                    None => None,
                };
                let approvals = sql
                    .query(
                        "SELECT approver, note FROM policy_bundle_approvals WHERE version = $1 ORDER BY approved_at, approver",
                        vec![p(to_i64(version))],
                    )?
                    .iter()
                    .map(|r| Ok((pg_get(r, 0)?, pg_get(r, 1)?)))
                    .collect::<Result<Vec<(String, String)>, BundleError>>()?;
                (row, approvals)
            }
        };
        let (text, digest, state) = row.ok_or(BundleError::NotFound(version))?;
        let bundle = PolicyBundle::from_canonical(&text, version)?;
        let state = BundleState::parse(&state).ok_or(BundleError::Tampered(version))?;
        if bundle.digest() != digest {
            return Err(BundleError::Tampered(version));
        }
        Ok(StoredBundle {
            bundle,
            digest,
            state,
            approvals,
        })
    }

    /// All versions, oldest first: `(version, state, digest)` without re-checking.
    pub fn list(&self) -> Result<Vec<(u64, String, String)>, BundleError> {
        const LIST: &str = "SELECT version, state, digest FROM policy_bundles ORDER BY version";
        match &self.db {
            Db::Sqlite(conn) => {
                let mut st = conn.prepare(LIST)?;
                let rows = st
                    .query_map([], |r| {
                        Ok((r.get::<_, i64>(0)?.max(0) as u64, r.get(1)?, r.get(2)?))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            }
            Db::Postgres(sql) => sql
                .query(LIST, vec![])?
                .iter()
                .map(|r| {
                    Ok((
                        pg_get::<i64>(r, 0)?.max(0) as u64,
                        pg_get(r, 1)?,
                        pg_get(r, 2)?,
                    ))
                })
                .collect(),
        }
    }

    /// The active version's number, if any (cheap: for polling).
    pub fn active_version(&self) -> Result<Option<u64>, BundleError> {
        const ACTIVE: &str = "SELECT version FROM policy_bundles WHERE state = 'active'";
        let v: Option<i64> = match &self.db {
            Db::Sqlite(conn) => conn.query_row(ACTIVE, [], |r| r.get(0)).optional()?,
            Db::Postgres(sql) => match sql.query(ACTIVE, vec![])?.first() {
                Some(r) => Some(pg_get(r, 0)?),
                None => None,
            },
        };
        Ok(v.map(|v| v.max(0) as u64))
    }

    /// The approvers whose approvals of `b` verify under `policy` (distinct names).
    pub fn valid_approvers(b: &StoredBundle, policy: &ApprovalPolicy) -> Vec<String> {
        let mut ok = BTreeSet::new();
        for (_, note) in &b.approvals {
            if let Ok(name) = check_note(&b.bundle, note, policy) {
                ok.insert(name);
            }
        }
        ok.into_iter().collect()
    }

    /// Signs and records an approval with `signer`.
    pub fn approve(
        &mut self,
        version: u64,
        signer: &NoteSigner,
        policy: &ApprovalPolicy,
        now: i64,
    ) -> Result<BundleState, BundleError> {
        let b = self.get(version)?;
        let note =
            signer
                .sign(&approval_text(&b.bundle))
                .map_err(|e| BundleError::BadApproval {
                    version,
                    reason: e.to_string(),
                })?;
        self.submit_approval(version, &note, policy, now)
    }

    /// Records an approval made elsewhere (a signed note over [`approval_text`]).
    /// Returns the state afterwards (approved once k distinct approvals verify).
    pub fn submit_approval(
        &mut self,
        version: u64,
        note: &str,
        policy: &ApprovalPolicy,
        now: i64,
    ) -> Result<BundleState, BundleError> {
        let b = self.get(version)?;
        if b.state != BundleState::Proposed {
            return Err(BundleError::BadState {
                version,
                state: b.state.as_str().into(),
                action: "approve (only proposed versions take approvals)",
            });
        }
        let approver = check_note(&b.bundle, note, policy)
            .map_err(|reason| BundleError::BadApproval { version, reason })?;
        if b.approvals.iter().any(|(a, _)| *a == approver) {
            return Err(BundleError::DuplicateApprover { approver, version });
        }
        match &self.db {
            Db::Sqlite(conn) => {
                conn.execute(
                    "INSERT INTO policy_bundle_approvals (version, approver, note, approved_at) VALUES (?1, ?2, ?3, ?4)",
                    params![version as i64, approver, note, now],
                )?;
            }
            Db::Postgres(sql) => match sql.execute(
                "INSERT INTO policy_bundle_approvals (version, approver, note, approved_at) VALUES ($1, $2, $3, $4)",
                vec![p(to_i64(version)), p(approver.clone()), p(note.to_string()), p(now)],
            ) {
                Ok(_) => {}
                // The same approver at once from two places.
                Err(portcullis_store::StoreError::Conflict(_)) => {
                    return Err(BundleError::DuplicateApprover { approver, version })
                }
                Err(e) => return Err(e.into()),
            },
        }
        let b = self.get(version)?;
        if Self::valid_approvers(&b, policy).len() >= policy.threshold() {
            self.set_state(version, BundleState::Approved, now)?;
            return Ok(BundleState::Approved);
        }
        Ok(BundleState::Proposed)
    }

    fn set_state(&self, version: u64, state: BundleState, now: i64) -> Result<(), BundleError> {
        match &self.db {
            Db::Sqlite(conn) => {
                conn.execute(
                    "UPDATE policy_bundles SET state = ?1, updated_at = ?2 WHERE version = ?3",
                    params![state.as_str(), now, version as i64],
                )?;
            }
            Db::Postgres(sql) => {
                sql.execute(
                    "UPDATE policy_bundles SET state = $1, updated_at = $2 WHERE version = $3",
                    vec![p(state.as_str().to_string()), p(now), p(to_i64(version))],
                )?;
            }
        }
        Ok(())
    }

    /// Makes `version` the active bundle (the previous one stays approved). Its
    /// approvals are re-verified under `policy` first.
    pub fn activate(
        &mut self,
        version: u64,
        policy: &ApprovalPolicy,
        now: i64,
    ) -> Result<StoredBundle, BundleError> {
        let b = self.get(version)?;
        if b.state != BundleState::Approved {
            return Err(BundleError::BadState {
                version,
                state: b.state.as_str().into(),
                action: "activate (only approved versions can be activated)",
            });
        }
        let have = Self::valid_approvers(&b, policy).len();
        if have < policy.threshold() {
            return Err(BundleError::NotApproved {
                version,
                have,
                need: policy.threshold(),
            });
        }
        match &mut self.db {
            Db::Sqlite(conn) => {
                let tx =
                    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                tx.execute(
                    "UPDATE policy_bundles SET state = 'approved', updated_at = ?1 WHERE state = 'active'",
                    [now],
                )?;
                tx.execute(
                    "UPDATE policy_bundles SET state = 'active', updated_at = ?1 WHERE version = ?2",
                    params![now, version as i64],
                )?;
                tx.commit()?;
            }
            // One transaction: replicas polling see the old active version or the new
            // one, never none or two (the partial unique index forbids two).
            Db::Postgres(sql) => {
                sql.transaction(vec![
                    (
                        "UPDATE policy_bundles SET state = 'approved', updated_at = $1 WHERE state = 'active'",
                        vec![p(now)],
                    ),
                    (
                        "UPDATE policy_bundles SET state = 'active', updated_at = $1 WHERE version = $2",
                        vec![p(now), p(to_i64(version))],
                    ),
                ])?;
            }
        }
        self.get(version)
    }

    /// Activates `to`, or else the newest approved version older than the active one.
    pub fn rollback(
        &mut self,
        to: Option<u64>,
        policy: &ApprovalPolicy,
        now: i64,
    ) -> Result<StoredBundle, BundleError> {
        let target = match to {
            Some(v) => v,
            None => {
                let active = self.active_version()?.unwrap_or(u64::MAX);
                self.list()?
                    .into_iter()
                    .filter(|(v, s, _)| *v < active && s == BundleState::Approved.as_str())
                    .map(|(v, _, _)| v)
                    .max()
                    .ok_or(BundleError::NoRollbackTarget)?
            }
        };
        self.activate(target, policy, now)
    }
}

/// The approver whose signature on `note` verifies over the approval text of `bundle`.
fn check_note(
    bundle: &PolicyBundle,
    note: &str,
    policy: &ApprovalPolicy,
) -> Result<String, String> {
    let parsed = SignedNote::parse(note).map_err(|e| format!("not a signed note: {e}"))?;
    if parsed.text() != approval_text(bundle) {
        return Err("the note approves other content (another version, or edited policies)".into());
    }
    for v in policy.approvers() {
        if parsed.verify(v).is_ok() {
            return Ok(v.name().to_string());
        }
    }
    Err("no signature by a configured approver verifies".into())
}

/// A unified diff of two bundles, file by file (`---`/`+++` headers name the versions).
pub fn diff(a: &PolicyBundle, b: &PolicyBundle) -> String {
    let names: BTreeSet<&str> = a
        .files
        .iter()
        .chain(&b.files)
        .map(|f| f.name.as_str())
        .collect();
    let text_of = |bundle: &PolicyBundle, name: &str| {
        bundle
            .files
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.text.clone())
            .unwrap_or_default()
    };
    let mut out = String::new();
    for name in names {
        let (x, y) = (text_of(a, name), text_of(b, name));
        if x == y {
            continue;
        }
        let d = similar::TextDiff::from_lines(&x, &y);
        out.push_str(
            &d.unified_diff()
                .header(
                    &format!("v{}/{name}", a.version),
                    &format!("v{}/{name}", b.version),
                )
                .to_string(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use portcullis_store::testing::TestPostgres;

    thread_local! {
        /// Set by `on_postgres`: `setup` opens the bundles in this schema.
        static POSTGRES: std::cell::RefCell<Option<TestPostgres>> =
            const { std::cell::RefCell::new(None) };
    }

    /// Runs SQL as an attacker with database access would.
    fn tamper(s: &BundleStore, sql: &str) {
        match &s.db {
            Db::Sqlite(c) => c.execute_batch(sql).unwrap(),
            Db::Postgres(c) => {
                c.execute(sql, vec![]).unwrap();
            }
        }
    }

    mod on_postgres {
        use super::*;

        fn with_db(test: &str, f: impl FnOnce()) {
            let Some(db) = TestPostgres::or_skip(test) else {
                return;
            };
            POSTGRES.with(|pg| *pg.borrow_mut() = Some(db));
            f();
            POSTGRES.with(|pg| pg.borrow_mut().take());
        }

        #[test]
        fn k_of_n_activation_rollback_and_refusals() {
            with_db(
                "k_of_n_activation_rollback_and_refusals",
                super::k_of_n_activation_rollback_and_refusals,
            );
        }

        #[test]
        fn guards_file_travels_with_the_policies() {
            with_db(
                "guards_file_travels_with_the_policies",
                super::guards_file_travels_with_the_policies,
            );
        }

        #[test]
        fn another_replica_sees_an_activation_at_once() {
            with_db("another_replica_sees_an_activation_at_once", || {
                let (dir, mut ops, [alice, bob, _], policy) = setup();
                let replica = POSTGRES.with(|pg| {
                    BundleStore::open_postgres(
                        SqlClient::open(&pg.borrow().as_ref().unwrap().config()).unwrap(),
                    )
                });
                assert_eq!(replica.active_version().unwrap(), None);
                let p1 = policies(dir.path(), "permit (principal, action, resource);\n");
                ops.propose(&p1, "ops", "", 1).unwrap();
                // Proposed on another replica: it gets the next version.
                let mut other = POSTGRES.with(|pg| {
                    BundleStore::open_postgres(
                        SqlClient::open(&pg.borrow().as_ref().unwrap().config()).unwrap(),
                    )
                });
                assert_eq!(other.propose(&p1, "ops", "", 2).unwrap().bundle.version, 2);
                ops.approve(1, &alice, &policy, 3).unwrap();
                ops.approve(1, &bob, &policy, 4).unwrap();
                ops.activate(1, &policy, 5).unwrap();
                assert_eq!(replica.active_version().unwrap(), Some(1));
                let seen = replica.get(1).unwrap();
                assert_eq!(BundleStore::valid_approvers(&seen, &policy).len(), 2);
                // A duplicate approval from another replica is refused there too.
                assert!(matches!(
                    other.approve(1, &alice, &policy, 6),
                    Err(BundleError::BadState { .. })
                ));
            });
        }
    }

    fn setup() -> (
        tempfile::TempDir,
        BundleStore,
        [NoteSigner; 3],
        ApprovalPolicy,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = POSTGRES.with(|pg| match &*pg.borrow() {
            Some(db) => BundleStore::open_postgres(SqlClient::open(&db.config()).unwrap()),
            None => BundleStore::open(&dir.path().join("p.db")).unwrap(),
        });
        let signers = ["alice", "bob", "carol"].map(|n| NoteSigner::generate(n).unwrap());
        let policy =
            ApprovalPolicy::new(signers.iter().map(NoteSigner::verifier).collect(), 2).unwrap();
        (dir, store, signers, policy)
    }

    fn policies(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join(format!("pol-{}", rand::random::<u32>()));
        std::fs::create_dir(&p).unwrap();
        std::fs::write(p.join("main.cedar"), text).unwrap();
        std::fs::write(p.join("README"), "ignored").unwrap();
        p
    }

    #[test]
    fn k_of_n_activation_rollback_and_refusals() {
        let (dir, mut s, [alice, bob, carol], policy) = setup();
        let p1 = policies(dir.path(), "permit (principal, action, resource);\n");
        let v1 = s.propose(&p1, "ops", "first", 10).unwrap();
        assert_eq!(v1.bundle.version, 1);
        assert_eq!(v1.bundle.files.len(), 1, "only .cedar and guards.toml");
        // Not approved: cannot activate.
        assert!(matches!(
            s.activate(1, &policy, 11),
            Err(BundleError::BadState { .. })
        ));
        assert_eq!(
            s.approve(1, &alice, &policy, 12).unwrap(),
            BundleState::Proposed
        );
        // The same approver twice.
        assert!(matches!(
            s.approve(1, &alice, &policy, 13),
            Err(BundleError::DuplicateApprover { .. })
        ));
        // Someone outside the approver set.
        let mallory = NoteSigner::generate("mallory").unwrap();
        assert!(matches!(
            s.approve(1, &mallory, &policy, 13),
            Err(BundleError::BadApproval { .. })
        ));
        assert_eq!(
            s.approve(1, &bob, &policy, 14).unwrap(),
            BundleState::Approved
        );
        s.activate(1, &policy, 15).unwrap();
        assert_eq!(s.active_version().unwrap(), Some(1));

        // Version 2; carol's approval of version 1 replayed on it does not verify.
        let p2 = policies(dir.path(), "forbid (principal, action, resource);\n");
        s.propose(&p2, "ops", "lock down", 20).unwrap();
        let old_note = s.get(1).unwrap().approvals[0].1.clone();
        let e = s.submit_approval(2, &old_note, &policy, 21).unwrap_err();
        assert!(e.to_string().contains("approves other content"), "{e}");
        s.approve(2, &carol, &policy, 22).unwrap();
        s.approve(2, &bob, &policy, 23).unwrap();
        s.activate(2, &policy, 24).unwrap();
        assert_eq!(s.active_version().unwrap(), Some(2));
        let d = diff(&s.get(1).unwrap().bundle, &s.get(2).unwrap().bundle);
        assert!(d.contains("-permit") && d.contains("+forbid"), "{d}");

        // Rollback: one call back to version 1 (still approved).
        let back = s.rollback(None, &policy, 30).unwrap();
        assert_eq!(back.bundle.version, 1);
        assert_eq!(s.active_version().unwrap(), Some(1));
        assert_eq!(s.get(2).unwrap().state, BundleState::Approved);

        // An approver removed from the set: version 2 no longer has k approvals.
        let reduced = ApprovalPolicy::new(vec![alice.verifier(), carol.verifier()], 2).unwrap();
        assert!(matches!(
            s.activate(2, &reduced, 31),
            Err(BundleError::NotApproved {
                have: 1,
                need: 2,
                ..
            })
        ));

        // Edited in the database: refused on read.
        tamper(
            &s,
            "UPDATE policy_bundles SET bundle = replace(bundle, 'forbid', 'permit') WHERE version = 2",
        );
        assert!(matches!(s.get(2), Err(BundleError::Tampered(2))));
    }

    #[test]
    fn a_bundle_too_large_to_approve_is_refused_at_proposal() {
        // An approval is a signed note over the whole canonical bundle, and a note holds
        // at most `MAX_NOTE_SIZE` bytes: a larger bundle could be proposed but never
        // approved. Refused when proposed instead.
        let (dir, mut s, [alice, ..], policy) = setup();
        let big = format!(
            "{}permit (principal, action, resource);\n",
            "// padding\n".repeat(portcullis_audit::note::MAX_NOTE_SIZE / 11)
        );
        let p = policies(dir.path(), &big);
        match s.propose(&p, "ops", "", 1) {
            Err(BundleError::Files { reason, .. }) => {
                assert!(reason.contains("approval"), "{reason}")
            }
            Ok(_) => panic!(
                "proposed, but approving it fails: {:?}",
                s.approve(1, &alice, &policy, 2)
            ),
            Err(e) => panic!("{e}"),
        }
        // Just below the limit still works end to end.
        let fits = format!(
            "{}permit (principal, action, resource);\n",
            "// padding\n".repeat(portcullis_audit::note::MAX_NOTE_SIZE / 13)
        );
        let p = policies(dir.path(), &fits);
        let v = s.propose(&p, "ops", "", 3).unwrap().bundle.version;
        s.approve(v, &alice, &policy, 4).unwrap();
    }

    #[test]
    fn guards_file_travels_with_the_policies() {
        let (dir, mut s, _, _) = setup();
        let p = policies(dir.path(), "permit (principal, action, resource);\n");
        std::fs::write(p.join(GUARDS_FILE), "[guards]\ncanary = true\n").unwrap();
        let b = s.propose(&p, "ops", "", 1).unwrap().bundle;
        assert_eq!(b.guards_toml(), Some("[guards]\ncanary = true\n"));
        assert_eq!(b.policies().len(), 1);
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert!(matches!(
            s.propose(&empty, "ops", "", 2),
            Err(BundleError::Files { .. })
        ));
    }
}
