//! The model registry: which model versions exist, who approved them, and which are in
//! service. A version moves through
//!
//! ```text
//! proposed --(k distinct approvals)--> approved --(activate: artifacts verify)--> active
//!     \                                    \                                   |  ^
//!      `------------------------------------`---------> retired <-------------'  |
//!                                          active --(re-verification fails)--> suspended
//! ```
//!
//! - A [`ModelRecord`] is immutable once proposed. Its canonical form
//!   ([`ModelRecord::canonical_json`]: fixed field order, no whitespace) is what approvers
//!   sign and what [`ModelRecord::digest`] hashes; the store keeps that exact text, and
//!   every read re-parses and re-canonicalizes it, so an edited row is a
//!   [`RegistryError::TamperedRecord`].
//! - An approval is a C2SP signed note (the audit log's Ed25519 key format, made with
//!   `portcullis audit keygen`) whose text is [`approval_text`]: a fixed header and the
//!   canonical record. It therefore covers name, version, artifact digests, signature,
//!   signer key, endpoint and expiry at once: an approval of another record or version
//!   does not verify ([`RegistryError::ReplayedApproval`]).
//! - [`ApprovalPolicy`]: the configured approver keys and k (default 2; k = 1 must be set
//!   explicitly). Approvals are re-checked against the *current* policy at activation, so
//!   removing a compromised approver voids their approvals.
//! - Activation re-verifies a local model's files against its recorded signature with a
//!   trusted signer key; [`Registry::check_active`] repeats that (on a schedule) and moves
//!   a failing version to `suspended`. Every change is recorded as a [`RegistryEvent`].
//!
//! Storage is behind [`RegistryStore`]; [`sqlite::SqliteRegistryStore`] keeps it in the
//! gateway's database in tables of its own, [`postgres::PostgresRegistryStore`] in the
//! replicas' shared PostgreSQL database; [`AnyRegistryStore`] is either, as configured.

pub mod postgres;
pub mod sqlite;

use std::path::Path;

use portcullis_audit::note::NoteSignature;
use portcullis_audit::{NoteSigner, NoteVerifier, SignedNote};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, RegistryError, Result};
use crate::keys::ModelPublicKey;
use crate::signing::{verify_model, VerifiedModel, VerifyOptions};

/// The first line of every approval text; changing the format means a new version here.
pub const APPROVAL_HEADER: &str = "portcullis model approval v1";

/// Default number of distinct approvals needed.
pub const DEFAULT_THRESHOLD: usize = 2;

/// Default lifetime of a proposal: seven days.
pub const DEFAULT_PROPOSAL_TTL_SECS: i64 = 7 * 24 * 3600;

/// Where a version's state stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Waiting for approvals.
    Proposed,
    /// Has k approvals; not yet serving.
    Approved,
    /// In service: the gateway may route to it.
    Active,
    /// Taken out of service because its artifacts failed re-verification.
    Suspended,
    /// Withdrawn for good.
    Retired,
}

impl State {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Proposed => "proposed",
            State::Approved => "approved",
            State::Active => "active",
            State::Suspended => "suspended",
            State::Retired => "retired",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "proposed" => State::Proposed,
            "approved" => State::Approved,
            "active" => State::Active,
            "suspended" => State::Suspended,
            "retired" => State::Retired,
            _ => return None,
        })
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One signed file of a local model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactDigest {
    /// SHA-256, hex.
    pub digest: String,
    /// Resource name as in the signature (`weights/model.safetensors`).
    pub name: String,
}

/// What a version serves. Fields are declared in alphabetical order because that order
/// *is* the canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Artifacts {
    /// Model files on disk, signed in the OpenSSF model-signing format.
    Local {
        /// Every signed file and its digest, in manifest order.
        files: Vec<ArtifactDigest>,
        /// Where the files are (directory or file), as given at proposal.
        model_path: String,
        /// The signature's subject digest over all files.
        root_digest: String,
        /// The signature bundle (JSON text).
        signature: String,
        /// The signer's public-key hint (hex SHA-256 of its SPKI PEM).
        signer_key_id: String,
    },
    /// A hosted model behind an API: nothing to hash, so the pinned identity is what is
    /// approved.
    Remote {
        /// The upstream endpoint (base URL).
        endpoint: String,
        /// The provider's pinned model id (a dated snapshot, not an alias).
        provider_model_id: String,
    },
}

impl Artifacts {
    /// The artifacts of a local model that has just verified against `signature`.
    pub fn local(model_path: &Path, signature: &str, verified: &VerifiedModel) -> Self {
        Artifacts::Local {
            files: verified
                .manifest
                .items
                .iter()
                .map(|(k, d)| ArtifactDigest {
                    digest: hex::encode(d),
                    name: k.name(),
                })
                .collect(),
            model_path: model_path.display().to_string(),
            root_digest: verified.root_digest.clone(),
            signature: signature.to_string(),
            signer_key_id: verified.signer_hint.clone(),
        }
    }
}

/// A model version as proposed and approved. Immutable once proposed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRecord {
    /// What is served.
    pub artifacts: Artifacts,
    /// Unix seconds after which the proposal can no longer be approved.
    pub expires_at: i64,
    /// Model name (what clients ask for).
    pub name: String,
    /// Unix seconds of the proposal.
    pub proposed_at: i64,
    /// Who proposed it (free text, e.g. an operator's name).
    pub proposed_by: String,
    /// Provenance notes (training run, upstream release, review ticket...).
    pub provenance: String,
    /// Where the artifacts came from (URL, registry reference...).
    pub source: String,
    /// Version label, unique per name.
    pub version: String,
}

fn check_label(what: &str, s: &str) -> std::result::Result<(), RegistryError> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/'))
        && !s.starts_with(['.', '/']);
    if ok {
        Ok(())
    } else {
        Err(RegistryError::InvalidRecord(format!(
            "{what} {s:?} must be 1-128 characters of A-Z a-z 0-9 - _ . : / and not start with . or /"
        )))
    }
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl ModelRecord {
    /// The canonical JSON: declared field order, no whitespace, serde_json escaping.
    pub fn canonical_json(&self) -> String {
        // Serializing plain structs and strings cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// SHA-256 of the canonical JSON, hex: the record's identity.
    pub fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.canonical_json().as_bytes()))
    }

    /// Parses stored canonical JSON, refusing anything that does not re-serialize to the
    /// same bytes (reordered fields, whitespace, unknown fields).
    pub fn from_canonical_json(text: &str) -> std::result::Result<Self, RegistryError> {
        let record: ModelRecord = serde_json::from_str(text)
            .map_err(|e| RegistryError::InvalidRecord(format!("stored record: {e}")))?;
        if record.canonical_json() != text {
            return Err(RegistryError::InvalidRecord(
                "stored record is not in canonical form".into(),
            ));
        }
        Ok(record)
    }

    /// Checks the record's own consistency.
    pub fn validate(&self) -> std::result::Result<(), RegistryError> {
        check_label("name", &self.name)?;
        check_label("version", &self.version)?;
        if self.expires_at <= self.proposed_at {
            return Err(RegistryError::InvalidRecord(
                "expiry must be after the proposal time".into(),
            ));
        }
        match &self.artifacts {
            Artifacts::Local {
                files,
                root_digest,
                signature,
                signer_key_id,
                model_path,
            } => {
                if files.is_empty() {
                    return Err(RegistryError::InvalidRecord(
                        "a local model has no files".into(),
                    ));
                }
                if model_path.is_empty() || signature.is_empty() {
                    return Err(RegistryError::InvalidRecord(
                        "a local model needs its path and signature".into(),
                    ));
                }
                if !is_hex64(root_digest) || !is_hex64(signer_key_id) {
                    return Err(RegistryError::InvalidRecord(
                        "root digest and signer key id must be 64 lowercase hex digits".into(),
                    ));
                }
                let mut h = Sha256::new();
                for f in files {
                    if !is_hex64(&f.digest) {
                        return Err(RegistryError::InvalidRecord(format!(
                            "digest of {} is not 64 lowercase hex digits",
                            f.name
                        )));
                    }
                    // is_hex64 checked the text, so decoding succeeds.
                    h.update(hex::decode(&f.digest).unwrap_or_default());
                }
                if hex::encode(h.finalize()) != *root_digest {
                    return Err(RegistryError::InvalidRecord(
                        "the file digests do not hash to the root digest".into(),
                    ));
                }
            }
            Artifacts::Remote {
                endpoint,
                provider_model_id,
            } => {
                if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
                    return Err(RegistryError::InvalidRecord(format!(
                        "endpoint {endpoint:?} is not an http(s) URL"
                    )));
                }
                if provider_model_id.trim().is_empty() {
                    return Err(RegistryError::InvalidRecord(
                        "a remote model needs the provider's pinned model id".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// `name@version`.
    pub fn id(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

/// The exact text an approver signs for `record`.
pub fn approval_text(record: &ModelRecord) -> String {
    format!("{APPROVAL_HEADER}\n{}\n", record.canonical_json())
}

/// Who may approve, and how many must.
#[derive(Debug, Clone)]
pub struct ApprovalPolicy {
    approvers: Vec<NoteVerifier>,
    threshold: usize,
}

impl ApprovalPolicy {
    /// `threshold` distinct approvals out of `approvers` (distinct names and keys).
    pub fn new(
        approvers: Vec<NoteVerifier>,
        threshold: usize,
    ) -> std::result::Result<Self, RegistryError> {
        if threshold == 0 {
            return Err(RegistryError::Policy("k must be at least 1".into()));
        }
        if threshold > approvers.len() {
            return Err(RegistryError::Policy(format!(
                "k = {threshold} but only {} approvers are configured",
                approvers.len()
            )));
        }
        for (i, a) in approvers.iter().enumerate() {
            for b in approvers.iter().skip(i + 1) {
                if a.name() == b.name() || a.verifying_key() == b.verifying_key() {
                    return Err(RegistryError::Policy(format!(
                        "approvers {} and {} are not distinct (same name or key)",
                        a.to_vkey(),
                        b.to_vkey()
                    )));
                }
            }
        }
        Ok(Self {
            approvers,
            threshold,
        })
    }

    /// Parses an approvers file: one verifier key (`name+keyid+base64`) per line; blank
    /// lines and `#` comments ignored.
    pub fn parse_approvers(text: &str) -> std::result::Result<Vec<NoteVerifier>, RegistryError> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                NoteVerifier::from_vkey(l)
                    .map_err(|e| RegistryError::Policy(format!("approver key {l:?}: {e}")))
            })
            .collect()
    }

    /// k.
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// The configured approvers.
    pub fn approvers(&self) -> &[NoteVerifier] {
        &self.approvers
    }

    fn find(&self, name: &str, key_id: u32) -> Option<&NoteVerifier> {
        self.approvers
            .iter()
            .find(|v| v.name() == name && v.key_id() == key_id)
    }
}

/// A version as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVersion {
    /// The canonical record JSON.
    pub record_json: String,
    /// SHA-256 of it, as computed at proposal.
    pub record_digest: String,
    /// Current state.
    pub state: State,
    /// Why it is in that state (e.g. the verification error that suspended it).
    pub state_reason: String,
    /// Unix seconds of the last change.
    pub updated_at: i64,
}

/// An approval as stored: the whole signed note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredApproval {
    /// Approver key name.
    pub approver: String,
    /// Approver key id.
    pub key_id: u32,
    /// The record digest it was accepted for.
    pub record_digest: String,
    /// The signed note (approval text plus signature line).
    pub note: String,
    /// Unix seconds.
    pub approved_at: i64,
}

/// One entry of a version's history (the registry's own audit trail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryEvent {
    /// Unix seconds.
    pub at: i64,
    /// `proposed`, `approved_by`, `approved`, `activated`, `suspended`, `retired`,
    /// `verified`, `rejected_approval`.
    pub action: String,
    /// Who (approver name, operator) or `system`.
    pub actor: String,
    /// Details (digests, errors).
    pub detail: String,
}

/// Storage for the registry. Implementations must make `insert_version` fail with
/// [`RegistryError::AlreadyExists`] when the version exists, and keep records verbatim.
pub trait RegistryStore {
    /// Stores a new version.
    fn insert_version(&mut self, name: &str, version: &str, v: &StoredVersion) -> Result<()>;
    /// Loads a version.
    fn get_version(&self, name: &str, version: &str) -> Result<Option<StoredVersion>>;
    /// All versions, ordered by name then proposal.
    fn list_versions(&self) -> Result<Vec<(String, String, StoredVersion)>>;
    /// Changes state (and reason).
    fn set_state(
        &mut self,
        name: &str,
        version: &str,
        state: State,
        reason: &str,
        at: i64,
    ) -> Result<()>;
    /// Stores an approval.
    fn add_approval(&mut self, name: &str, version: &str, a: &StoredApproval) -> Result<()>;
    /// A version's approvals.
    fn approvals(&self, name: &str, version: &str) -> Result<Vec<StoredApproval>>;
    /// Appends to a version's history.
    fn add_event(&mut self, name: &str, version: &str, e: &RegistryEvent) -> Result<()>;
    /// A version's history, oldest first.
    fn events(&self, name: &str, version: &str) -> Result<Vec<RegistryEvent>>;
}

/// The registry's store on the configured backend.
#[derive(Debug)]
pub enum AnyRegistryStore {
    /// In the gateway's SQLite file.
    Sqlite(sqlite::SqliteRegistryStore),
    /// In the shared PostgreSQL database.
    Postgres(postgres::PostgresRegistryStore),
}

macro_rules! either {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            AnyRegistryStore::Sqlite($s) => $e,
            AnyRegistryStore::Postgres($s) => $e,
        }
    };
}

impl RegistryStore for AnyRegistryStore {
    fn insert_version(&mut self, name: &str, version: &str, v: &StoredVersion) -> Result<()> {
        either!(self, s => s.insert_version(name, version, v))
    }
    fn get_version(&self, name: &str, version: &str) -> Result<Option<StoredVersion>> {
        either!(self, s => s.get_version(name, version))
    }
    fn list_versions(&self) -> Result<Vec<(String, String, StoredVersion)>> {
        either!(self, s => s.list_versions())
    }
    fn set_state(
        &mut self,
        name: &str,
        version: &str,
        state: State,
        reason: &str,
        at: i64,
    ) -> Result<()> {
        either!(self, s => s.set_state(name, version, state, reason, at))
    }
    fn add_approval(&mut self, name: &str, version: &str, a: &StoredApproval) -> Result<()> {
        either!(self, s => s.add_approval(name, version, a))
    }
    fn approvals(&self, name: &str, version: &str) -> Result<Vec<StoredApproval>> {
        either!(self, s => s.approvals(name, version))
    }
    fn add_event(&mut self, name: &str, version: &str, e: &RegistryEvent) -> Result<()> {
        either!(self, s => s.add_event(name, version, e))
    }
    fn events(&self, name: &str, version: &str) -> Result<Vec<RegistryEvent>> {
        either!(self, s => s.events(name, version))
    }
}

/// A version with its parsed record, state and approvals.
#[derive(Debug, Clone)]
pub struct VersionView {
    /// The record (its digest re-checked on load).
    pub record: ModelRecord,
    /// Its digest.
    pub digest: String,
    /// State.
    pub state: State,
    /// Why.
    pub state_reason: String,
    /// Approvals on file (not re-verified: see [`Registry::valid_approvers`]).
    pub approvals: Vec<StoredApproval>,
}

/// One entry of [`Registry::list`].
#[derive(Debug, Clone)]
pub enum Listed {
    /// A version that loaded and passed its digest check.
    Version(Box<VersionView>),
    /// A version whose stored record fails its checks.
    Unreadable {
        /// Model name.
        name: String,
        /// Version.
        version: String,
        /// Why.
        error: String,
    },
}

/// The registry over a store.
pub struct Registry<S: RegistryStore> {
    store: S,
}

fn not_found(name: &str, version: &str) -> Error {
    RegistryError::NotFound {
        name: name.into(),
        version: version.into(),
    }
    .into()
}

impl<S: RegistryStore> Registry<S> {
    /// Wraps a store.
    pub fn new(store: S) -> Self {
        Self { store }
    }

    /// The underlying store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Mutable access to the store (tests, migrations).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    fn event(&mut self, r: &ModelRecord, at: i64, action: &str, actor: &str, detail: String) {
        // The history is best effort next to the state change it describes; a failure
        // to append is reported by the next write, which uses the same connection.
        let _ = self.store.add_event(
            &r.name,
            &r.version,
            &RegistryEvent {
                at,
                action: action.into(),
                actor: actor.into(),
                detail,
            },
        );
    }

    /// Stores a new proposal.
    pub fn propose(&mut self, record: &ModelRecord) -> Result<String> {
        record.validate()?;
        if self
            .store
            .get_version(&record.name, &record.version)?
            .is_some()
        {
            return Err(RegistryError::AlreadyExists {
                name: record.name.clone(),
                version: record.version.clone(),
            }
            .into());
        }
        let digest = record.digest();
        self.store.insert_version(
            &record.name,
            &record.version,
            &StoredVersion {
                record_json: record.canonical_json(),
                record_digest: digest.clone(),
                state: State::Proposed,
                state_reason: String::new(),
                updated_at: record.proposed_at,
            },
        )?;
        let actor = record.proposed_by.clone();
        self.event(
            record,
            record.proposed_at,
            "proposed",
            &actor,
            format!("record sha256 {digest}"),
        );
        Ok(digest)
    }

    /// Loads a version, checking that the stored record still hashes to its digest.
    pub fn get(&self, name: &str, version: &str) -> Result<VersionView> {
        let stored = self
            .store
            .get_version(name, version)?
            .ok_or_else(|| not_found(name, version))?;
        let tampered = |computed: String| RegistryError::TamperedRecord {
            name: name.into(),
            version: version.into(),
            stored: stored.record_digest.clone(),
            computed,
        };
        let computed = hex::encode(Sha256::digest(stored.record_json.as_bytes()));
        if computed != stored.record_digest {
            return Err(tampered(computed).into());
        }
        let record = ModelRecord::from_canonical_json(&stored.record_json)
            .map_err(|_| tampered(computed.clone()))?;
        if record.name != name || record.version != version {
            return Err(tampered(computed).into());
        }
        let approvals = self.store.approvals(name, version)?;
        Ok(VersionView {
            record,
            digest: stored.record_digest,
            state: stored.state,
            state_reason: stored.state_reason,
            approvals,
        })
    }

    /// All versions, ordered by name then proposal; a record that fails its digest
    /// check is listed as [`Listed::Unreadable`] rather than hiding the others.
    pub fn list(&self) -> Result<Vec<Listed>> {
        Ok(self
            .store
            .list_versions()?
            .into_iter()
            .map(|(name, version, _)| match self.get(&name, &version) {
                Ok(v) => Listed::Version(Box::new(v)),
                Err(e) => Listed::Unreadable {
                    name,
                    version,
                    error: e.to_string(),
                },
            })
            .collect())
    }

    /// Checks a signed approval note for `view` under `policy`; returns the approver.
    fn check_note<'p>(
        view: &VersionView,
        note: &str,
        policy: &'p ApprovalPolicy,
    ) -> Result<&'p NoteVerifier> {
        let parsed = SignedNote::parse(note).map_err(|e| RegistryError::BadApproval {
            approver: format!("<unparsable approval: {e}>"),
            record_digest: view.digest.clone(),
        })?;
        let expected = approval_text(&view.record);
        if parsed.text() != expected {
            // Say which record it does approve, if it is an approval at all.
            let approved = parsed
                .text()
                .strip_prefix(APPROVAL_HEADER)
                .and_then(|rest| rest.strip_prefix('\n'))
                .and_then(|rest| rest.strip_suffix('\n'))
                .map(|json| hex::encode(Sha256::digest(json.as_bytes())))
                .unwrap_or_else(|| "<not a model approval>".into());
            return Err(RegistryError::ReplayedApproval {
                approved,
                expected: view.digest.clone(),
            }
            .into());
        }
        let sigs: &[NoteSignature] = parsed.signatures();
        let mut last_name = String::new();
        for sig in sigs {
            last_name = sig.name.clone();
            if let Some(verifier) = policy.find(&sig.name, sig.key_id) {
                if verifier.verify_signature(expected.as_bytes(), &sig.signature) {
                    return Ok(verifier);
                }
                return Err(RegistryError::BadApproval {
                    approver: sig.name.clone(),
                    record_digest: view.digest.clone(),
                }
                .into());
            }
        }
        Err(RegistryError::UnknownApprover(if last_name.is_empty() {
            "<none>".into()
        } else {
            last_name
        })
        .into())
    }

    /// The distinct approvers whose stored approvals verify over the current record
    /// under `policy`.
    pub fn valid_approvers(&self, view: &VersionView, policy: &ApprovalPolicy) -> Vec<String> {
        let mut names: Vec<String> = view
            .approvals
            .iter()
            .filter(|a| a.record_digest == view.digest)
            .filter_map(|a| Self::check_note(view, &a.note, policy).ok())
            .map(|v| v.name().to_string())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Signs an approval of `name@version` with `signer` and submits it.
    pub fn approve(
        &mut self,
        name: &str,
        version: &str,
        signer: &NoteSigner,
        policy: &ApprovalPolicy,
        now: i64,
    ) -> Result<State> {
        let view = self.get(name, version)?;
        let note =
            signer
                .sign(&approval_text(&view.record))
                .map_err(|e| RegistryError::BadApproval {
                    approver: format!("{} ({e})", signer.name()),
                    record_digest: view.digest.clone(),
                })?;
        self.submit_approval(name, version, &note, policy, now)
    }

    /// Submits an approval made elsewhere (a signed note over [`approval_text`]).
    /// Returns the version's state afterwards.
    pub fn submit_approval(
        &mut self,
        name: &str,
        version: &str,
        note: &str,
        policy: &ApprovalPolicy,
        now: i64,
    ) -> Result<State> {
        let view = self.get(name, version)?;
        if !matches!(view.state, State::Proposed | State::Approved) {
            return Err(RegistryError::BadTransition {
                name: name.into(),
                version: version.into(),
                from: view.state.to_string(),
                action: "approve (only proposed versions take approvals)",
            }
            .into());
        }
        if now >= view.record.expires_at {
            return Err(RegistryError::Expired {
                name: name.into(),
                version: version.into(),
                expired_at: view.record.expires_at,
            }
            .into());
        }
        let approver = match Self::check_note(&view, note, policy) {
            Ok(a) => a,
            Err(e) => {
                self.event(
                    &view.record,
                    now,
                    "rejected_approval",
                    "system",
                    e.to_string(),
                );
                return Err(e);
            }
        };
        if view.approvals.iter().any(|a| a.approver == approver.name()) {
            let e: Error = RegistryError::DuplicateApprover(approver.name().into()).into();
            self.event(
                &view.record,
                now,
                "rejected_approval",
                approver.name(),
                e.to_string(),
            );
            return Err(e);
        }
        self.store.add_approval(
            name,
            version,
            &StoredApproval {
                approver: approver.name().into(),
                key_id: approver.key_id(),
                record_digest: view.digest.clone(),
                note: note.into(),
                approved_at: now,
            },
        )?;
        let approver_name = approver.name().to_string();
        self.event(
            &view.record,
            now,
            "approved_by",
            &approver_name,
            format!("record sha256 {}", view.digest),
        );
        let view = self.get(name, version)?;
        let have = self.valid_approvers(&view, policy);
        if view.state == State::Proposed && have.len() >= policy.threshold() {
            self.store
                .set_state(name, version, State::Approved, "", now)?;
            self.event(
                &view.record,
                now,
                "approved",
                "system",
                format!(
                    "{} of {} approvals: {}",
                    have.len(),
                    policy.threshold(),
                    have.join(", ")
                ),
            );
            return Ok(State::Approved);
        }
        Ok(view.state)
    }

    fn verify_artifacts(
        record: &ModelRecord,
        trusted: &[ModelPublicKey],
    ) -> std::result::Result<String, String> {
        match &record.artifacts {
            Artifacts::Remote {
                endpoint,
                provider_model_id,
            } => Ok(format!(
                "remote {endpoint} model {provider_model_id} (pinned, nothing to hash)"
            )),
            Artifacts::Local {
                model_path,
                root_digest,
                signature,
                signer_key_id,
                ..
            } => {
                let key = trusted
                    .iter()
                    .find(|k| k.hint() == *signer_key_id)
                    .ok_or_else(|| {
                        format!("no trusted signer key with id {signer_key_id} was given")
                    })?;
                let v = verify_model(
                    Path::new(model_path),
                    signature.as_bytes(),
                    key,
                    &VerifyOptions::default(),
                )
                .map_err(|e| e.to_string())?;
                if v.root_digest != *root_digest {
                    return Err(format!(
                        "signature covers {} but the record approved {root_digest}",
                        v.root_digest
                    ));
                }
                Ok(format!(
                    "{} files verified, sha256 {root_digest}",
                    v.manifest.len()
                ))
            }
        }
    }

    /// Puts an approved (or suspended) version in service: re-checks the record, its
    /// approvals under the current policy and its artifacts; retires the version of the
    /// same name that was active.
    pub fn activate(
        &mut self,
        name: &str,
        version: &str,
        policy: &ApprovalPolicy,
        trusted_signers: &[ModelPublicKey],
        actor: &str,
        now: i64,
    ) -> Result<()> {
        let view = self.get(name, version)?;
        if !matches!(view.state, State::Approved | State::Suspended) {
            return Err(RegistryError::BadTransition {
                name: name.into(),
                version: version.into(),
                from: view.state.to_string(),
                action: "activate (it must be approved first)",
            }
            .into());
        }
        let have = self.valid_approvers(&view, policy);
        if have.len() < policy.threshold() {
            return Err(RegistryError::NotEnoughApprovals {
                name: name.into(),
                version: version.into(),
                have: have.len(),
                need: policy.threshold(),
            }
            .into());
        }
        match Self::verify_artifacts(&view.record, trusted_signers) {
            Ok(detail) => {
                for (n, v, other) in self.store.list_versions()? {
                    if n == name && v != version && other.state == State::Active {
                        self.store.set_state(
                            &n,
                            &v,
                            State::Retired,
                            &format!("replaced by {version}"),
                            now,
                        )?;
                        if let Ok(old) = self.get(&n, &v) {
                            self.event(
                                &old.record,
                                now,
                                "retired",
                                actor,
                                format!("replaced by {version}"),
                            );
                        }
                    }
                }
                self.store
                    .set_state(name, version, State::Active, "", now)?;
                self.event(&view.record, now, "activated", actor, detail);
                Ok(())
            }
            Err(reason) => {
                self.event(
                    &view.record,
                    now,
                    "activation_refused",
                    actor,
                    reason.clone(),
                );
                Err(RegistryError::VerificationFailed {
                    name: name.into(),
                    version: version.into(),
                    reason,
                }
                .into())
            }
        }
    }

    /// Takes a version out of service for good.
    pub fn retire(
        &mut self,
        name: &str,
        version: &str,
        actor: &str,
        reason: &str,
        now: i64,
    ) -> Result<()> {
        let view = self.get(name, version)?;
        if view.state == State::Retired {
            return Err(RegistryError::BadTransition {
                name: name.into(),
                version: version.into(),
                from: view.state.to_string(),
                action: "retire",
            }
            .into());
        }
        self.store
            .set_state(name, version, State::Retired, reason, now)?;
        self.event(&view.record, now, "retired", actor, reason.into());
        Ok(())
    }

    /// Re-verifies every active version (run at start and on a schedule). A version that
    /// no longer verifies, or whose record or approvals no longer check out, is moved to
    /// `suspended`. Returns `(name@version, Ok(detail) | Err(reason))` per version.
    pub fn check_active(
        &mut self,
        policy: &ApprovalPolicy,
        trusted_signers: &[ModelPublicKey],
        now: i64,
    ) -> Result<Vec<(String, std::result::Result<String, String>)>> {
        let mut out = Vec::new();
        for (name, version, stored) in self.store.list_versions()? {
            if stored.state != State::Active {
                continue;
            }
            let id = format!("{name}@{version}");
            let outcome = match self.get(&name, &version) {
                Err(e) => Err(e.to_string()),
                Ok(view) => {
                    let have = self.valid_approvers(&view, policy);
                    if have.len() < policy.threshold() {
                        Err(format!(
                            "{} of {} required approvals verify under the current approver set",
                            have.len(),
                            policy.threshold()
                        ))
                    } else {
                        Self::verify_artifacts(&view.record, trusted_signers)
                    }
                }
            };
            match &outcome {
                Ok(_) => {}
                Err(reason) => {
                    self.store
                        .set_state(&name, &version, State::Suspended, reason, now)?;
                    // The record may be unreadable (tampered): log against the raw ids.
                    self.store.add_event(
                        &name,
                        &version,
                        &RegistryEvent {
                            at: now,
                            action: "suspended".into(),
                            actor: "system".into(),
                            detail: reason.clone(),
                        },
                    )?;
                }
            }
            out.push((id, outcome));
        }
        Ok(out)
    }

    /// A version's history.
    pub fn history(&self, name: &str, version: &str) -> Result<Vec<RegistryEvent>> {
        self.store.events(name, version)
    }

    /// What the gateway may route `name` to: its active version, or a
    /// [`RegistryError::NotRoutable`] that says why not (never proposed, only
    /// proposed/approved, suspended after a failed check, retired, or a record that no
    /// longer passes its digest check). Fails closed.
    pub fn route(&self, name: &str) -> Result<VersionView> {
        let not_routable = |reason: String| -> Error {
            RegistryError::NotRoutable {
                name: name.into(),
                reason,
            }
            .into()
        };
        let versions: Vec<_> = self
            .store
            .list_versions()?
            .into_iter()
            .filter(|(n, _, _)| n == name)
            .collect();
        if let Some((n, v, _)) = versions.iter().find(|(_, _, s)| s.state == State::Active) {
            return self
                .get(n, v)
                .map_err(|e| not_routable(format!("active version {v}: {e}")));
        }
        match versions.last() {
            None => Err(not_routable("no version is registered".into())),
            Some((_, v, s)) if s.state_reason.is_empty() => Err(not_routable(format!(
                "no active version (latest {v} is {})",
                s.state
            ))),
            Some((_, v, s)) => Err(not_routable(format!(
                "no active version (latest {v} is {}: {})",
                s.state, s.state_reason
            ))),
        }
    }

    /// The active version of `name`, if any (what the gateway would route to).
    pub fn active_version(&self, name: &str) -> Result<Option<VersionView>> {
        for (n, v, stored) in self.store.list_versions()? {
            if n == name && stored.state == State::Active {
                return self.get(&n, &v).map(Some);
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests;
