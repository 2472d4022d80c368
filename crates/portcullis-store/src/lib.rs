//! Storage for Portcullis, behind the [`Store`] trait.
//!
//! The gateway keeps API keys (hashes only), per-day budget counters, and one decision
//! record per request. [`sqlite::SqliteStore`] is the embedded default; the trait is what
//! another backend (PostgreSQL) implements.

pub mod sqlite;

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
#[derive(Debug, Clone, PartialEq, Eq, Default)]
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
    /// Appends decision records and adds their tokens to the day's counters, in one
    /// transaction.
    fn record_decisions(&self, batch: &[DecisionRecord]) -> Result<(), StoreError>;
    /// Tokens used per subject on a UTC day.
    fn day_usage(&self, day: i64) -> Result<Vec<(Subject, u64)>, StoreError>;
    /// The newest decision records.
    fn recent_decisions(&self, limit: usize) -> Result<Vec<DecisionRecord>, StoreError>;
    /// Checks the database answers.
    fn ping(&self) -> Result<(), StoreError>;
}
