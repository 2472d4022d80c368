//! Storage for Portcullis, behind the [`Store`] trait.
//!
//! The gateway keeps API keys (hashes only), per-day budget counters, one decision
//! record per request and, when the audit log is on, its leaves and signed checkpoints
//! (the store keeps bytes; the tree, events and signatures are `portcullis-audit`'s).
//!
//! - [`sqlite::SqliteStore`] is the embedded default: one gateway, one file.
//! - [`postgres::PostgresStore`] is for several gateway replicas sharing one database:
//!   revocations reach every replica through `LISTEN`/`NOTIFY`, and audit events are
//!   submitted by every replica and given their log indices by one sequencer
//!   ([`Store::sequenced_at_commit`]).

pub mod journal;
pub mod postgres;
pub mod priority;
pub mod sqlite;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

#[cfg(test)]
mod suite;

use portcullis_core::identity::KeyRecord;
use portcullis_core::limits::Subject;

/// A storage failure. The message is for operators' logs; it never reaches API callers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database reported an error.
    #[error("database error: {0}")]
    Database(String),
    /// The schema on disk is newer than this binary knows.
    #[error("database schema version {found} is newer than this binary supports ({supported})")]
    SchemaTooNew {
        /// On disk.
        found: i64,
        /// Known here.
        supported: i64,
    },
    /// The schema in the database is older than this binary needs (or absent).
    #[error("database schema version {found} is older than this binary needs ({supported}): run `portcullis migrate`")]
    SchemaTooOld {
        /// In the database (0: never migrated).
        found: i64,
        /// Needed here.
        supported: i64,
    },
    /// A write conflicts with a stored row (a unique key: the same id twice).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Stored data could not be decoded.
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

/// The outcome of one request, as recorded. Holds no prompt or completion text.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct DecisionRecord {
    /// Unix milliseconds when the request arrived.
    pub ts_ms: i64,
    /// The gateway's request id.
    pub request_id: String,
    /// Principal name; empty when authentication failed.
    pub principal: String,
    /// Groups of the principal (charged for usage too).
    pub groups: Vec<String>,
    /// API key id; empty when authentication failed.
    pub key_id: String,
    /// The identity the principal's usage is counted under: its authenticator, issuer
    /// and name (`key:alice`, `oidc:corp:alice`, `spiffe:spiffe://...`); empty when
    /// authentication failed. A record written before this field existed has it empty
    /// and is counted under the bare principal name, which no identity uses any more.
    #[serde(default)]
    pub identity: String,
    /// `chat.completions`, `embeddings`, `models.list`.
    pub action: String,
    /// Public model name as resolved by the gateway; empty when none.
    pub model: String,
    /// Upstream name; empty when not forwarded.
    pub upstream: String,
    /// `allow`, `deny`, `unauthenticated`, `invalid`, `rate_limited`, `error`.
    pub decision: String,
    /// Deciding policy ids, or the limit or error kind.
    pub reason: String,
    /// HTTP status returned.
    pub status: u16,
    /// Prompt tokens (upstream's count when known, else the estimate).
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Whole request latency in microseconds.
    pub latency_us: u64,
    /// Whether the response streamed.
    pub stream: bool,
}

impl DecisionRecord {
    /// The principal subject its usage is counted under: [`DecisionRecord::identity`],
    /// or the bare name for a record written before identities were qualified.
    pub fn usage_identity(&self) -> &str {
        if self.identity.is_empty() {
            &self.principal
        } else {
            &self.identity
        }
    }
}

/// A leaf to append to the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct NewAuditLeaf {
    /// The leaf content: the event's canonical bytes.
    pub leaf: Vec<u8>,
    /// `SHA-256(0x00 || leaf)`.
    pub leaf_hash: [u8; 32],
    /// The event id (the request id, or a random id for control-plane events).
    pub event_id: String,
    /// Event time, Unix milliseconds (for queries; the leaf holds the signed copy).
    pub ts_ms: i64,
    /// The principal (for queries).
    pub principal: String,
    /// `allow`, `deny`, or `None` (for queries).
    pub decision: Option<String>,
}

/// A stored audit leaf with its index in the log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditLeaf {
    /// Position in the log, from 0.
    pub index: u64,
    /// The leaf and its query columns.
    pub leaf: NewAuditLeaf,
}

/// A stored signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// Order in which it was stored.
    pub seq: i64,
    /// The tree size it signs.
    pub size: u64,
    /// The signed note.
    pub note: String,
}

/// A search over the audit log's query columns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditQuery {
    /// Only this principal.
    pub principal: Option<String>,
    /// Only events at or after this time (Unix ms).
    pub since_ms: Option<i64>,
    /// Only events before this time (Unix ms).
    pub until_ms: Option<i64>,
    /// Only this decision (`allow`, `deny`).
    pub decision: Option<String>,
    /// At most this many (oldest first); 0 means no limit.
    pub limit: usize,
}

/// A request or response body kept with the audit log, encrypted (the store only keeps
/// bytes; encryption is the caller's). Its event's leaf holds the body's SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct AuditBody {
    /// The event id of the request.
    pub event_id: String,
    /// `request` or `response`.
    pub part: String,
    /// Event time, Unix milliseconds (for retention).
    pub ts_ms: i64,
    /// The AEAD nonce.
    pub nonce: Vec<u8>,
    /// The ciphertext with its tag.
    pub ciphertext: Vec<u8>,
}

/// What every backend provides. Methods are blocking; callers on an async runtime keep
/// them short (point lookups) or run them on a blocking thread (batches).
pub trait Store: Send + Sync + 'static {
    /// Inserts a new key.
    fn put_key(&self, key: &KeyRecord) -> Result<(), StoreError>;
    /// Looks a key up by its public id.
    fn get_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError>;
    /// All keys, newest first.
    fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError>;
    /// Revokes a key; false when no such key or already revoked.
    fn revoke_key(&self, id: &str, at: i64) -> Result<bool, StoreError>;
    /// Number of keys (revoked included).
    fn count_keys(&self) -> Result<u64, StoreError>;
    /// A value that changes whenever the stored keys may have changed, by any writer, in
    /// this process or another (e.g. `portcullis keys revoke`). Callers that cache keys
    /// compare it before trusting the cache; backends without a cheap signal return a
    /// fresh value every time (no caching). Must be cheap. SQLite: at once for key writes
    /// through this crate, within a second for any other write (`sqlite/key_signal.rs`);
    /// PostgreSQL: within a second, by notification (`postgres.rs`).
    fn change_marker(&self) -> Result<u64, StoreError>;
    /// Appends decision records and adds their tokens to the day's counters, in one
    /// transaction.
    fn record_decisions(&self, batch: &[DecisionRecord]) -> Result<(), StoreError>;
    /// Tokens used per subject on a UTC day.
    fn day_usage(&self, day: i64) -> Result<Vec<(Subject, u64)>, StoreError>;
    /// The newest decision records.
    fn recent_decisions(&self, limit: usize) -> Result<Vec<DecisionRecord>, StoreError>;
    /// Checks the database answers.
    fn ping(&self) -> Result<(), StoreError>;

    /// Appends decision records (as [`Store::record_decisions`]) and audit leaves in one
    /// transaction (group commit). When [`Store::sequenced_at_commit`], the leaves get
    /// consecutive indices after the last stored one and this returns the first leaf's
    /// index (the log size when `leaves` is empty). Otherwise the leaves are submitted,
    /// to get their indices from [`Store::sequence_pending`] later, and this returns the
    /// log size as it was (which callers then ignore).
    fn record_batch(
        &self,
        decisions: &[DecisionRecord],
        leaves: &[NewAuditLeaf],
    ) -> Result<u64, StoreError> {
        self.record_batch_with_bodies(decisions, leaves, &[])
    }
    /// [`Store::record_batch`], also storing encrypted bodies, all in one transaction.
    fn record_batch_with_bodies(
        &self,
        decisions: &[DecisionRecord],
        leaves: &[NewAuditLeaf],
        bodies: &[AuditBody],
    ) -> Result<u64, StoreError>;
    /// [`Store::record_batch_with_bodies`], at most once per `batch_id`: when a commit's
    /// answer is lost (a connection dropped, a deadline passed) the caller cannot know
    /// whether it happened, and retries with the same id; a batch already committed is
    /// then not written again (no duplicate decisions, usage or audit events) and the
    /// call returns as if it had written it. Backends whose commits are never in doubt
    /// (SQLite, in-process) ignore the id.
    fn record_batch_once(
        &self,
        batch_id: u128,
        decisions: &[DecisionRecord],
        leaves: &[NewAuditLeaf],
        bodies: &[AuditBody],
    ) -> Result<u64, StoreError> {
        let _ = batch_id;
        self.record_batch_with_bodies(decisions, leaves, bodies)
    }
    /// A stored body of an event (`part` is `request` or `response`).
    fn audit_body(&self, event_id: &str, part: &str) -> Result<Option<AuditBody>, StoreError>;
    /// Deletes the bodies of events before `ts_ms` (retention); returns how many. The
    /// leaves stay: they hold only the bodies' hashes.
    fn delete_audit_bodies_before(&self, ts_ms: i64) -> Result<u64, StoreError>;
    /// The number of audit leaves (the log size).
    fn audit_size(&self) -> Result<u64, StoreError>;
    /// Audit leaves with `start <= index < end`, in index order.
    fn audit_leaves(&self, start: u64, end: u64) -> Result<Vec<AuditLeaf>, StoreError>;
    /// The stored leaf hashes with `start <= index < end`, in index order (to rebuild
    /// the tree).
    fn audit_leaf_hashes(&self, start: u64, end: u64) -> Result<Vec<[u8; 32]>, StoreError>;
    /// The leaf of an event id (the first one, if the id repeats).
    fn audit_leaf_by_event(&self, event_id: &str) -> Result<Option<AuditLeaf>, StoreError>;
    /// Stores a signed checkpoint.
    fn put_audit_checkpoint(&self, size: u64, note: &str) -> Result<(), StoreError>;
    /// The last stored checkpoint.
    fn latest_audit_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError>;
    /// Every stored checkpoint, in the order stored.
    fn audit_checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError>;
    /// Leaves matching a search, in index order.
    fn query_audit(&self, q: &AuditQuery) -> Result<Vec<AuditLeaf>, StoreError>;

    /// Whether appended leaves get their log index when their transaction commits (one
    /// writer: SQLite), or later from the sequencer (many replicas: PostgreSQL).
    fn sequenced_at_commit(&self) -> bool {
        true
    }
    /// Tries to become, or stay, the one audit sequencer (PostgreSQL: a session-level
    /// advisory lock held on a dedicated connection; released when the process dies).
    /// True while this store holds it.
    fn sequencer_lease(&self) -> Result<bool, StoreError> {
        Ok(true)
    }
    /// Sequencer only: moves up to `max` submitted events into the log with the next
    /// indices, in one transaction; returns how many. Must never lose or duplicate an event
    /// even if two callers race (serialize with a transaction-level advisory lock).
    fn sequence_pending(&self, max: usize) -> Result<u64, StoreError> {
        let _ = max;
        Ok(0)
    }
    /// Submitted events not yet in the log.
    fn audit_pending_count(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
}
