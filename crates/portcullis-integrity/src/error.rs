//! The crate's one error type. Every variant names what was being checked (which file,
//! which field, which approver) so an operator can act on the message alone. Messages
//! never contain key material.

use std::fmt;
use std::path::PathBuf;

/// Why signing, verification or a registry operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed. (The I/O error is part of the message, not a
    /// `source`, so error chains do not print it twice.)
    #[error("{}: {error}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// A key file could not be used (wrong format, wrong curve, encrypted...).
    #[error("key {}: {reason}", path.display())]
    Key {
        /// The key file (or `<memory>`).
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The signature file is not a well-formed model-signing bundle.
    #[error("malformed signature bundle: {0}")]
    Bundle(String),
    /// The bundle names a different public key than the one given to verify with.
    #[error(
        "signature was made by a different key: the bundle's public-key hint is {bundle}, \
         the trusted key's is {trusted}"
    )]
    UntrustedKey {
        /// The hint in the bundle (hex SHA-256 of the signer's SPKI PEM).
        bundle: String,
        /// The hint of the key we were told to trust.
        trusted: String,
    },
    /// The ECDSA signature over the DSSE envelope does not verify with the trusted key.
    #[error(
        "signature does not verify with the trusted public key (wrong key or altered payload)"
    )]
    BadSignature,
    /// The signed statement is well-signed but not a model-signing v1.0 statement.
    #[error("unsupported statement: {0}")]
    Statement(String),
    /// The subject digest does not match the digests listed in the statement.
    #[error(
        "manifest is inconsistent: the subject digest is {subject} but the listed \
         resources hash to {computed}"
    )]
    InconsistentManifest {
        /// The subject's `sha256` digest.
        subject: String,
        /// SHA-256 over the concatenated resource digests.
        computed: String,
    },
    /// A serialization setting we cannot reproduce (another hash, unknown method).
    #[error("unsupported serialization: {0}")]
    UnsupportedSerialization(String),
    /// The model directory holds something we refuse to hash.
    #[error("{}: {reason}", path.display())]
    ModelPath {
        /// The offending path.
        path: PathBuf,
        /// Why (a symlink, a socket, a non-UTF-8 name...).
        reason: &'static str,
    },
    /// The model on disk differs from the signed manifest.
    #[error("model does not match its signature: {0}")]
    ModelMismatch(ManifestDiff),
    /// A registry operation was refused (see the message).
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The registry's database failed.
    #[error("registry database: {0}")]
    Database(rusqlite::Error),
    /// The registry's PostgreSQL database failed.
    #[error("registry database: {0}")]
    Store(portcullis_store::StoreError),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Database(e)
    }
}

/// What differs between a model on disk and its signed manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestDiff {
    /// Files on disk that the signature does not cover.
    pub extra: Vec<String>,
    /// Files the signature covers that are not on disk (or were ignored).
    pub missing: Vec<String>,
    /// Files whose digest changed: (name, signed digest, actual digest), hex.
    pub changed: Vec<(String, String, String)>,
}

impl ManifestDiff {
    /// No difference at all.
    pub fn is_empty(&self) -> bool {
        self.extra.is_empty() && self.missing.is_empty() && self.changed.is_empty()
    }
}

impl fmt::Display for ManifestDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.changed.is_empty() {
            let items: Vec<String> = self
                .changed
                .iter()
                .map(|(name, want, got)| format!("{name} (signed sha256 {want}, found {got})"))
                .collect();
            parts.push(format!("changed: {}", items.join(", ")));
        }
        if !self.extra.is_empty() {
            parts.push(format!("not signed: {}", self.extra.join(", ")));
        }
        if !self.missing.is_empty() {
            parts.push(format!("missing: {}", self.missing.join(", ")));
        }
        f.write_str(&parts.join("; "))
    }
}

/// Why the registry refused a change. Each variant is a distinct denial so callers (and
/// the audit log) can tell a wrong approver from a replayed approval.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// No such model version.
    #[error("no model version {name}@{version}")]
    NotFound {
        /// Model name.
        name: String,
        /// Version.
        version: String,
    },
    /// The version already exists (records are immutable once proposed).
    #[error("model version {name}@{version} already exists; propose a new version instead")]
    AlreadyExists {
        /// Model name.
        name: String,
        /// Version.
        version: String,
    },
    /// The record is not well-formed (empty name, bad digest...).
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    /// The stored record no longer hashes to the digest it was proposed with.
    #[error("record {name}@{version} was altered after it was proposed (stored digest {stored}, recomputed {computed})")]
    TamperedRecord {
        /// Model name.
        name: String,
        /// Version.
        version: String,
        /// The digest stored at proposal.
        stored: String,
        /// The digest of the record as it is now.
        computed: String,
    },
    /// The approving key is not in the configured approver set.
    #[error("approver {0} is not in the configured approver set")]
    UnknownApprover(String),
    /// The same approver already approved this version.
    #[error("approver {0} has already approved this version; approvals must come from distinct approvers")]
    DuplicateApprover(String),
    /// The approval signature does not verify over this record.
    #[error("approval by {approver} does not verify over record {record_digest} (an approval of another record or version, or a forged one)")]
    BadApproval {
        /// The approver named by the approval.
        approver: String,
        /// The record digest the approval was checked against.
        record_digest: String,
    },
    /// The approval names another record than the one it is submitted for.
    #[error("approval is for record {approved}, not for {expected} (replayed approval)")]
    ReplayedApproval {
        /// The record digest the approval says it covers.
        approved: String,
        /// The digest of the record it was submitted for.
        expected: String,
    },
    /// The proposal is older than the configured lifetime.
    #[error("proposal {name}@{version} expired at {expired_at} (unix seconds); propose it again")]
    Expired {
        /// Model name.
        name: String,
        /// Version.
        version: String,
        /// When it expired.
        expired_at: i64,
    },
    /// A state change that the life cycle does not allow.
    #[error("{name}@{version} is {from}; cannot {action}")]
    BadTransition {
        /// Model name.
        name: String,
        /// Version.
        version: String,
        /// The current state.
        from: String,
        /// What was attempted.
        action: &'static str,
    },
    /// Not enough distinct approvals yet.
    #[error("{name}@{version} has {have} of {need} required approvals")]
    NotEnoughApprovals {
        /// Model name.
        name: String,
        /// Version.
        version: String,
        /// Valid distinct approvals.
        have: usize,
        /// Required (k).
        need: usize,
    },
    /// The artifacts on disk do not verify against the recorded signature.
    #[error("{name}@{version} failed verification: {reason}")]
    VerificationFailed {
        /// Model name.
        name: String,
        /// Version.
        version: String,
        /// The verification error.
        reason: String,
    },
    /// The gateway must not route to this model (no active version, or it failed).
    #[error("model {name} is not routable: {reason}")]
    NotRoutable {
        /// Model name.
        name: String,
        /// Why (no active version; suspended with the verification error...).
        reason: String,
    },
    /// The registry schema is newer than this build understands.
    #[error("registry schema version {found} is not supported (this build knows {supported})")]
    SchemaVersion {
        /// The version in the database.
        found: i64,
        /// The version this build writes.
        supported: i64,
    },
    /// Approver configuration is unusable (k larger than n, k = 0...).
    #[error("approval policy: {0}")]
    Policy(String),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |error| Error::Io { path, error }
}
