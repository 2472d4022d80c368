//! The tamper-evident audit log, wired to the store: opening the log at start (tree
//! rebuilt from stored leaf hashes, signer resumed from the last stored checkpoint),
//! building events from decision records, signing checkpoints, serving proofs, and the
//! full verification that `portcullis audit verify` runs.
//!
//! The log itself (hashing, proofs, signed notes, canonical events) is
//! `portcullis-audit`; the leaves and checkpoints live in the [`Store`]. Appends happen
//! on the decision writer thread ([`crate::decisions`]), in the same transaction as the
//! decision records.
//!
//! # Request events
//!
//! A decision record becomes an [`AuditEvent`] of kind `request`: `decision` is `allow`
//! for an allowed request, `deny` for any refusal (policy, authentication, validation,
//! limits) and `null` for an `error` after which the outcome is unknown; `policy_ids` is
//! the deciding policy ids for `allow`/`deny`, and `<decision>:<reason>` (e.g.
//! `unauthenticated:missing_credential`, `rate_limited:tokens_per_day:principal:alice`)
//! for the other refusals. The request and response bodies appear only as SHA-256
//! hashes.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use portcullis_audit::checkpoint::Checkpoint;
use portcullis_audit::merkle::{self, Hash};
use portcullis_audit::{
    AuditEvent, CheckpointSigner, CheckpointVerifier, Decision, EventKind, MerkleTree, NoteSigner,
    NoteVerifier,
};
use portcullis_core::config::AuditConfig;
use portcullis_store::{DecisionRecord, NewAuditLeaf, Store, StoredCheckpoint};
use serde_json::{json, Value};
use sha2::Digest;

/// What a request adds to its decision record for the audit log.
#[derive(Debug, Clone, Default)]
pub struct RequestAudit {
    /// How the caller authenticated (`api_key`, `user`, `workload`; empty if not).
    pub identity_kind: String,
    /// SHA-256 of the request body, when one was read.
    pub request_sha256: Option<Hash>,
    /// SHA-256 of the response body sent (for a stream: of all bytes sent).
    pub response_sha256: Option<Hash>,
    /// Guard findings by type and count (`input.EMAIL`, `output.SECRET`); never values.
    pub guard_findings: Vec<portcullis_audit::event::GuardFinding>,
    /// The request body, only when bodies are stored (`[audit] store_bodies`).
    pub request_body: Option<bytes::Bytes>,
    /// The response body sent, only when bodies are stored.
    pub response_body: Option<bytes::Bytes>,
    /// The digest of the policy set that decided, when policies were consulted.
    pub policy_digest: Option<[u8; 32]>,
}

// ---------------------------------------------------------------------------
// Encrypted bodies
// ---------------------------------------------------------------------------

/// Encrypts and decrypts stored bodies (`[audit] store_bodies`): XChaCha20-Poly1305 with
/// a 32-byte key, a fresh random 24-byte nonce per body, and the event id and part
/// (`request`/`response`) as associated data, so a ciphertext cannot be moved to another
/// event or part without failing to decrypt. The leaf holds the plaintext's SHA-256, so
/// deleting a body (retention) leaves every hash and proof valid.
pub struct BodyCipher {
    key: secrecy::SecretBox<[u8; 32]>,
    /// Bodies older than this are deleted.
    pub retention: Option<std::time::Duration>,
}

impl std::fmt::Debug for BodyCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyCipher")
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

/// The two bodies of a request event.
pub const BODY_PARTS: [&str; 2] = ["request", "response"];

fn body_aad(event_id: &str, part: &str) -> Vec<u8> {
    format!("portcullis audit body v1\n{event_id}\n{part}").into_bytes()
}

impl BodyCipher {
    /// A cipher over a key given as text: 64 hex digits or base64 of 32 bytes
    /// (surrounding white space ignored). Errors never include the text.
    pub fn from_key_text(
        text: &str,
        retention: Option<std::time::Duration>,
    ) -> Result<Self, String> {
        use base64::Engine as _;
        let t = text.trim();
        let bytes = if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(t).ok()
        } else {
            base64::engine::general_purpose::STANDARD.decode(t).ok()
        };
        let key: [u8; 32] = bytes
            .and_then(|b| b.try_into().ok())
            .ok_or("the audit body key must be 32 bytes, as 64 hex digits or base64")?;
        Ok(Self {
            key: secrecy::SecretBox::new(Box::new(key)),
            retention,
        })
    }

    /// Reads the key from its configured source.
    pub fn load(b: &portcullis_core::config::AuditBodies) -> Result<Self, String> {
        use portcullis_core::config::CredentialSource;
        let text = match &b.key {
            CredentialSource::File(p) => std::fs::read_to_string(p)
                .map_err(|e| format!("audit body key {}: {e}", p.display()))?,
            CredentialSource::Env(v) => std::env::var(v)
                .map_err(|_| format!("audit body key: environment variable {v} is not set"))?,
            _ => return Err("audit body key: give body_key_file or body_key_env".into()),
        };
        let cipher =
            Self::from_key_text(secrecy::zeroize::Zeroizing::new(text).as_str(), b.retention);
        cipher.map_err(|e| match &b.key {
            CredentialSource::File(p) => format!("{}: {e}", p.display()),
            CredentialSource::Env(v) => format!("{v}: {e}"),
            _ => e,
        })
    }

    fn aead(&self) -> chacha20poly1305::XChaCha20Poly1305 {
        use chacha20poly1305::KeyInit as _;
        use secrecy::ExposeSecret as _;
        chacha20poly1305::XChaCha20Poly1305::new(self.key.expose_secret().into())
    }

    /// Encrypts a body of an event.
    pub fn seal(
        &self,
        event_id: &str,
        part: &str,
        ts_ms: i64,
        body: &[u8],
    ) -> Result<portcullis_store::AuditBody, String> {
        use chacha20poly1305::aead::{Aead as _, Payload};
        let nonce: [u8; 24] = rand::random();
        let aad = body_aad(event_id, part);
        let ciphertext = self
            .aead()
            .encrypt(
                (&nonce).into(),
                Payload {
                    msg: body,
                    aad: &aad,
                },
            )
            .map_err(|_| "encrypting an audit body failed".to_string())?;
        Ok(portcullis_store::AuditBody {
            event_id: event_id.into(),
            part: part.into(),
            ts_ms,
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    /// Decrypts a stored body; fails (without detail, by design of AEAD) when the key is
    /// wrong or the ciphertext, nonce, event id or part was altered.
    pub fn open(&self, b: &portcullis_store::AuditBody) -> Result<Vec<u8>, String> {
        use chacha20poly1305::aead::{Aead as _, Payload};
        let nonce: [u8; 24] = b
            .nonce
            .as_slice()
            .try_into()
            .map_err(|_| "the stored nonce is not 24 bytes".to_string())?;
        self.aead()
            .decrypt(
                (&nonce).into(),
                Payload {
                    msg: &b.ciphertext,
                    aad: &body_aad(&b.event_id, &b.part),
                },
            )
            .map_err(|_| {
                "the body does not decrypt: wrong body key, or the stored ciphertext was altered"
                    .to_string()
            })
    }
}

/// A new random body key: 64 hex digits.
pub fn generate_body_key() -> secrecy::SecretString {
    let key = secrecy::zeroize::Zeroizing::new(rand::random::<[u8; 32]>());
    secrecy::SecretString::from(hex::encode(*key))
}

/// A stored body, decrypted and checked against the hash in its event's leaf. `part` is
/// `request` or `response`.
pub fn read_body(
    store: &dyn Store,
    cipher: &BodyCipher,
    event_id: &str,
    part: &str,
) -> Result<Vec<u8>, String> {
    if !BODY_PARTS.contains(&part) {
        return Err(format!("part: `{part}` is not `request` or `response`"));
    }
    let leaf = store
        .audit_leaf_by_event(event_id)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no event {event_id:?} in the audit log"))?;
    let event = AuditEvent::from_canonical_bytes(&leaf.leaf.leaf)
        .map_err(|e| format!("leaf {}: {e}", leaf.index))?;
    let want = if part == "request" {
        event.request_sha256
    } else {
        event.response_sha256
    }
    .ok_or_else(|| {
        format!(
            "event {event_id} (leaf {}) has no {part} body hash",
            leaf.index
        )
    })?;
    let stored = store
        .audit_body(event_id, part)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!("no stored {part} body for event {event_id} (not stored, or deleted after the retention period)")
        })?;
    let plain = cipher.open(&stored)?;
    if portcullis_audit::event::body_sha256(&plain) != want {
        return Err(format!(
            "the decrypted {part} body does not match the SHA-256 in leaf {}",
            leaf.index
        ));
    }
    Ok(plain)
}

/// The part of the log that request handlers and the admin API share.
#[derive(Debug)]
pub struct AuditShared {
    /// The tree over every committed leaf (the writer appends, readers prove).
    pub tree: Arc<RwLock<MerkleTree>>,
    /// Checks this log's checkpoints.
    pub verifier: CheckpointVerifier,
}

/// Reads a signing key file (`PRIVATE+KEY+...`).
pub fn read_signing_key(path: &std::path::Path) -> Result<NoteSigner, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("audit signing key {}: {e}", path.display()))?;
    NoteSigner::from_skey(text.trim())
        .map_err(|e| format!("audit signing key {}: {e}", path.display()))
}

/// The writer thread's side of the log: the tree and the signer.
#[derive(Debug)]
pub struct AuditWriter {
    shared: Arc<AuditShared>,
    signer: CheckpointSigner,
    /// Set when the stored log stopped matching the tree (tampering or a bug): no more
    /// checkpoints are signed.
    broken: bool,
    /// Encrypts stored bodies, when `store_bodies` is on.
    bodies: Option<Arc<BodyCipher>>,
    /// When retention last ran.
    last_retention: Option<std::time::Instant>,
}

impl AuditWriter {
    /// Opens the log: rebuilds the tree from the stored leaf hashes and resumes the signer
    /// from the last stored checkpoint, refusing a log that no longer matches it.
    pub fn open(config: &AuditConfig, store: &dyn Store) -> Result<Self, String> {
        let key = read_signing_key(&config.signing_key_file)?;
        let bodies = config
            .bodies
            .as_ref()
            .map(BodyCipher::load)
            .transpose()?
            .map(Arc::new);
        let size = store.audit_size().map_err(|e| e.to_string())?;
        let hashes = store
            .audit_leaf_hashes(0, size)
            .map_err(|e| format!("audit log: {e}; run `portcullis audit verify`"))?;
        let tree = MerkleTree::from_leaf_hashes(hashes);
        let signer = match store
            .latest_audit_checkpoint()
            .map_err(|e| e.to_string())?
        {
            None => CheckpointSigner::new(&config.origin, key),
            Some(last) => {
                let signer = CheckpointSigner::resume(&config.origin, key, &last.note).map_err(
                    |e| {
                        format!(
                        "audit log: the last stored checkpoint does not verify with this key and origin {:?}: {e}",
                        config.origin
                    )
                    },
                )?;
                if let Some((size, root)) = signer.last_signed() {
                    if tree.root_at(size).ok() != Some(root) {
                        return Err(format!(
                            "audit log: the stored leaves ({}) do not match the last signed checkpoint (size {size}); run `portcullis audit verify`",
                            tree.size()
                        ));
                    }
                }
                Ok(signer)
            }
        }
        .map_err(|e| format!("audit log: {e}"))?;
        Ok(Self {
            shared: Arc::new(AuditShared {
                tree: Arc::new(RwLock::new(tree)),
                verifier: signer.verifier(),
            }),
            signer,
            broken: false,
            bodies,
            last_retention: None,
        })
    }

    /// The body cipher, when bodies are stored.
    pub fn body_cipher(&self) -> Option<Arc<BodyCipher>> {
        self.bodies.clone()
    }

    /// Deletes stored bodies older than the retention period; runs at most every quarter
    /// period (and at least every minute). Returns how many were deleted.
    pub fn apply_retention(&mut self, store: &dyn Store) -> Result<u64, String> {
        let Some(period) = self.bodies.as_ref().and_then(|b| b.retention) else {
            return Ok(0);
        };
        let every = (period / 4).min(std::time::Duration::from_secs(60));
        if self.last_retention.is_some_and(|t| t.elapsed() < every) {
            return Ok(0);
        }
        self.last_retention = Some(std::time::Instant::now());
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let cutoff = now_ms.saturating_sub(i64::try_from(period.as_millis()).unwrap_or(i64::MAX));
        store
            .delete_audit_bodies_before(cutoff)
            .map_err(|e| e.to_string())
    }

    /// The shared half.
    pub fn shared(&self) -> Arc<AuditShared> {
        self.shared.clone()
    }

    /// Adds committed leaves to the tree. `first` is the index the store gave the first
    /// of `hashes`; leaves other processes appended before it are read from the store.
    pub fn committed(
        &mut self,
        store: &dyn Store,
        first: u64,
        hashes: &[Hash],
    ) -> Result<(), String> {
        self.catch_up(store, first)?;
        let mut tree = self.shared.tree.write();
        for h in hashes {
            tree.push_leaf_hash(*h);
        }
        Ok(())
    }

    /// Reads leaves appended by other processes (up to `until`) into the tree.
    fn catch_up(&mut self, store: &dyn Store, until: u64) -> Result<(), String> {
        let have = self.shared.tree.read().size();
        if until == have {
            return Ok(());
        }
        if until < have || self.broken {
            self.broken = true;
            return Err(format!(
                "audit log: the store holds {until} leaves but {have} were committed; refusing to sign further checkpoints"
            ));
        }
        let missing = store
            .audit_leaf_hashes(have, until)
            .map_err(|e| e.to_string())?;
        if missing.len() as u64 != until - have {
            self.broken = true;
            return Err("audit log: leaves missing while catching up".into());
        }
        let mut tree = self.shared.tree.write();
        for h in missing {
            tree.push_leaf_hash(h);
        }
        Ok(())
    }

    /// Reads leaves other replicas' sequencer added into the tree (for proofs).
    pub fn catch_up_to_store(&mut self, store: &dyn Store) -> Result<(), String> {
        let size = store.audit_size().map_err(|e| e.to_string())?;
        self.catch_up(store, size)
    }

    /// On becoming the sequencer: continues from the last checkpoint any replica signed,
    /// so this one never signs a tree head inconsistent with it (or a smaller one).
    pub fn adopt_latest_checkpoint(&mut self, store: &dyn Store) -> Result<(), String> {
        if let Some(last) = store.latest_audit_checkpoint().map_err(|e| e.to_string())? {
            self.signer
                .adopt(&last.note)
                .map_err(|e| format!("audit log: the latest stored checkpoint: {e}"))?;
        }
        Ok(())
    }

    /// Signs and stores a checkpoint of the whole log if it grew since the last one;
    /// returns the stored note (`None` when nothing new).
    pub fn checkpoint(&mut self, store: &dyn Store) -> Result<Option<String>, String> {
        if self.broken {
            return Err("audit log is broken; not signing".into());
        }
        let size = store.audit_size().map_err(|e| e.to_string())?;
        self.catch_up(store, size)?;
        let tree = self.shared.tree.read();
        let last = self.signer.last_signed().map(|(s, _)| s);
        if tree.is_empty() || last == Some(tree.size()) {
            return Ok(None);
        }
        let note = self.signer.sign_tree(&tree).map_err(|e| e.to_string())?;
        store
            .put_audit_checkpoint(tree.size(), &note)
            .map_err(|e| e.to_string())?;
        Ok(Some(note))
    }
}

/// A new request id: 24 lowercase hex digits, the arrival time in Unix milliseconds (12
/// digits) then 48 random bits. Ids that grow with time keep the audit log's event-id
/// index appending at its right edge instead of touching a random page per insert, which
/// more than halves the cost of a durable append (see docs/benchmarks.md, "Audit log").
pub fn new_request_id(ts_ms: i64) -> String {
    let ms = u64::try_from(ts_ms).unwrap_or(0) & 0xffff_ffff_ffff;
    format!("{ms:012x}{}", hex::encode(rand::random::<[u8; 6]>()))
}

/// The event for a request's decision record.
pub fn request_event(rec: &DecisionRecord, a: &RequestAudit) -> AuditEvent {
    let mut e = AuditEvent::new(EventKind::Request, rec.ts_ms.max(0) as u64);
    e.request_id = rec.request_id.clone();
    e.principal = rec.principal.clone();
    e.identity_kind = a.identity_kind.clone();
    e.action = rec.action.clone();
    e.model = (!rec.model.is_empty()).then(|| rec.model.clone());
    e.upstream = (!rec.upstream.is_empty()).then(|| rec.upstream.clone());
    let split = |s: &str| -> Vec<String> {
        s.split(',')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect()
    };
    (e.decision, e.policy_ids) = match rec.decision.as_str() {
        // An allow's reason is `policies[;outcome]`.
        "allow" => (
            Some(Decision::Allow),
            split(rec.reason.split(';').next().unwrap_or_default()),
        ),
        "deny" => (Some(Decision::Deny), split(&rec.reason)),
        "error" => (None, vec![format!("error:{}", rec.reason)]),
        other => (
            Some(Decision::Deny),
            vec![format!("{other}:{}", rec.reason)],
        ),
    };
    if rec.decision == "allow" {
        e.prompt_tokens = Some(rec.prompt_tokens);
        e.completion_tokens = Some(rec.completion_tokens);
    }
    e.latency_us = Some(rec.latency_us);
    e.request_sha256 = a.request_sha256;
    e.response_sha256 = a.response_sha256;
    e.guard_findings = a.guard_findings.clone();
    // The policy set that decided: the first 64 bits of the digest that the
    // `policy_reloaded` event of that set records in full (`sha256:<digest> ...`).
    e.target = a
        .policy_digest
        .map(|d| format!("policy:sha256:{}", hex::encode(&d[..8])));
    e
}

/// A control-plane event (`key_created`, `key_revoked`, `policy_reloaded`) with a random
/// event id in `request_id`.
pub fn control_event(
    kind: EventKind,
    now_ms: i64,
    principal: &str,
    identity_kind: &str,
    action: &str,
    target: &str,
) -> AuditEvent {
    let mut e = AuditEvent::new(kind, now_ms.max(0) as u64);
    e.request_id = hex::encode(rand::random::<[u8; 12]>());
    e.principal = principal.into();
    e.identity_kind = identity_kind.into();
    e.action = action.into();
    e.target = Some(target.into());
    e
}

/// The target of a `policy_reloaded` event: the policy set's digest first (what a
/// later start compares against), then a count for people.
pub fn policy_target(digest: &[u8; 32], policies: usize, files: usize) -> String {
    format!(
        "sha256:{} ({policies} policies from {files} files)",
        hex::encode(digest)
    )
}

/// The target of a `guard_config_changed` event: the digest of the effective guard
/// configuration, then the configuration itself (`; `-separated lines), so the log shows
/// what changed, not only that something did.
pub fn guard_config_target(description: &str) -> String {
    let digest = sha2::Sha256::digest(description.as_bytes());
    let lines: Vec<&str> = description.lines().collect();
    format!("sha256:{} {}", hex::encode(digest), lines.join("; "))
}

/// The control-plane events a starting gateway owes the log: `policy_reloaded` when its
/// policy set differs from the last one the log recorded, `guard_config_changed` when
/// its guard configuration does (both on the first start). Compared by the digest that
/// starts each target.
pub fn start_events(
    store: &dyn Store,
    now_ms: i64,
    policy_target: String,
    guard_target: String,
) -> Result<Vec<AuditEvent>, String> {
    let q = portcullis_store::AuditQuery {
        principal: Some(SYSTEM.into()),
        ..Default::default()
    };
    let mut last: HashMap<EventKind, String> = HashMap::new();
    for leaf in store.query_audit(&q).map_err(|e| e.to_string())? {
        let Ok(e) = AuditEvent::from_canonical_bytes(&leaf.leaf.leaf) else {
            continue;
        };
        if let Some(t) = e.target {
            last.insert(e.kind, t);
        }
    }
    let digest = |t: &str| t.split(' ').next().unwrap_or_default().to_string();
    let mut out = Vec::new();
    for (kind, action, target) in [
        (EventKind::PolicyReloaded, "policy.load", policy_target),
        (EventKind::GuardConfigChanged, "guards.load", guard_target),
    ] {
        if last.get(&kind).map(|t| digest(t)) != Some(digest(&target)) {
            out.push(control_event(kind, now_ms, SYSTEM, SYSTEM, action, &target));
        }
    }
    Ok(out)
}

/// The principal of events the gateway itself records.
pub const SYSTEM: &str = "system";

/// The stored form of an event.
pub fn to_leaf(e: &AuditEvent) -> NewAuditLeaf {
    let leaf = e.to_canonical_bytes();
    NewAuditLeaf {
        leaf_hash: merkle::leaf_hash(&leaf),
        leaf,
        event_id: e.request_id.clone(),
        ts_ms: i64::try_from(e.time_unix_ms).unwrap_or(i64::MAX),
        principal: e.principal.clone(),
        decision: e.decision.map(|d| d.as_str().to_string()),
    }
}

/// Appends control-plane events directly to the store (the CLI, when the gateway may not
/// be running; the gateway's next checkpoint covers them). Returns the first index.
pub fn append_events(store: &dyn Store, events: &[AuditEvent]) -> Result<u64, String> {
    let leaves: Vec<_> = events.iter().map(to_leaf).collect();
    store.record_batch(&[], &leaves).map_err(|e| e.to_string())
}

/// A search from operator input: `since` is a duration back from now (`24h`, `7d`),
/// `decision` is `allow` or `deny`.
pub fn build_query(
    principal: Option<String>,
    since: Option<&str>,
    decision: Option<String>,
    limit: usize,
) -> Result<portcullis_store::AuditQuery, String> {
    let since_ms = match since {
        None => None,
        Some(s) => {
            let d = humantime::parse_duration(s)
                .map_err(|e| format!("since: `{s}` is not a duration: {e}"))?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            Some(now.saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
        }
    };
    if let Some(d) = &decision {
        if Decision::from_name(d).is_none() {
            return Err(format!("decision: `{d}` is not `allow` or `deny`"));
        }
    }
    Ok(portcullis_store::AuditQuery {
        principal,
        since_ms,
        until_ms: None,
        decision,
        limit,
    })
}

/// The matching leaves as JSON lines: `{"index":N,"event":{...}}`, oldest first.
pub fn query_lines(store: &dyn Store, q: &portcullis_store::AuditQuery) -> Result<String, String> {
    let mut out = String::new();
    for l in store.query_audit(q).map_err(|e| e.to_string())? {
        let event: Value =
            serde_json::from_slice(&l.leaf.leaf).map_err(|e| format!("leaf {}: {e}", l.index))?;
        out.push_str(&json!({"index": l.index, "event": event}).to_string());
        out.push('\n');
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------

/// What a successful verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Leaves in the log.
    pub size: u64,
    /// Checkpoints checked.
    pub checkpoints: usize,
    /// Size and root of the last checkpoint.
    pub latest: Option<(u64, Hash)>,
    /// The root of the whole log.
    pub root: Hash,
}

impl VerifyReport {
    /// Leaves after the last checkpoint (not yet covered by a signature).
    pub fn unsigned(&self) -> u64 {
        self.size - self.latest.map_or(0, |(s, _)| s)
    }
}

/// The first problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyFailure {
    /// A leaf is missing, altered or malformed.
    #[error("leaf {index}: {reason}")]
    Leaf {
        /// The first bad leaf index.
        index: u64,
        /// What is wrong.
        reason: String,
    },
    /// A checkpoint does not verify or does not match the leaves.
    #[error("checkpoint #{position} (size {size}): {reason}")]
    Checkpoint {
        /// 1-based position among the stored checkpoints.
        position: usize,
        /// The size it claims.
        size: u64,
        /// What is wrong (naming the first bad leaf index, or the range holding it).
        reason: String,
        /// The first bad leaf index, when it can be named exactly.
        first_bad_leaf: Option<u64>,
    },
    /// The store could not be read.
    #[error("store: {0}")]
    Store(String),
}

const VERIFY_CHUNK: u64 = 10_000;

/// Recomputes the whole tree from the stored leaves (each must be a canonical event whose
/// hash and query columns match), then checks every stored checkpoint, in order: its
/// signature and origin, that its root is the tree's root at its size, and that it is
/// consistent with the one before.
pub fn verify_log(
    store: &dyn Store,
    verifier: &CheckpointVerifier,
) -> Result<VerifyReport, VerifyFailure> {
    let storage = |e: portcullis_store::StoreError| VerifyFailure::Store(e.to_string());
    // Checkpoints first: a running gateway stores a checkpoint only after the leaves it
    // signs are committed, and leaves are only ever appended, so every checkpoint read
    // here has its leaves in the store when they are read below. Read the other way
    // round, a checkpoint signed in between would look like a truncated log.
    let checkpoints = store.audit_checkpoints().map_err(storage)?;
    let size = store.audit_size().map_err(storage)?;
    let mut tree = MerkleTree::new();
    let mut start = 0;
    while start < size {
        let end = (start + VERIFY_CHUNK).min(size);
        for l in store.audit_leaves(start, end).map_err(storage)? {
            let index = tree.size();
            if l.index != index {
                return Err(VerifyFailure::Leaf {
                    index,
                    reason: format!("missing (the next stored leaf is {})", l.index),
                });
            }
            check_leaf(&l.leaf).map_err(|reason| VerifyFailure::Leaf { index, reason })?;
            tree.push_leaf_hash(l.leaf.leaf_hash);
        }
        if tree.size() != end {
            return Err(VerifyFailure::Leaf {
                index: tree.size(),
                reason: "missing".into(),
            });
        }
        start = end;
    }
    let mut prev: Option<(u64, Hash)> = None;
    for (i, stored) in checkpoints.iter().enumerate() {
        let fail = |reason: String, first_bad_leaf: Option<u64>| VerifyFailure::Checkpoint {
            position: i + 1,
            size: stored.size,
            reason,
            first_bad_leaf,
        };
        let cp = verifier
            .open(&stored.note)
            .map_err(|e| fail(format!("does not verify: {e}"), None))?;
        if cp.size() != stored.size {
            return Err(fail(
                format!("its note signs size {}, not the stored size", cp.size()),
                None,
            ));
        }
        if cp.size() > tree.size() {
            return Err(fail(
                format!(
                    "signs {} leaves but the log holds {}: leaves from index {} are missing (truncated)",
                    cp.size(),
                    tree.size(),
                    tree.size()
                ),
                Some(tree.size()),
            ));
        }
        let good = prev.map_or(0, |(s, _)| s);
        let root = tree
            .root_at(cp.size())
            .map_err(|e| fail(e.to_string(), None))?;
        if root != *cp.root() {
            let (reason, first) = if cp.size() <= good {
                (
                    "root does not match the stored leaves, which matched the checkpoint before it"
                        .to_string(),
                    None,
                )
            } else if cp.size() > good + 1 {
                (
                    format!(
                        "root does not match the stored leaves: the first bad leaf is in [{good}, {})",
                        cp.size()
                    ),
                    None,
                )
            } else {
                (
                    format!("root does not match the stored leaves: leaf {good} was altered"),
                    Some(good),
                )
            };
            return Err(fail(reason, first));
        }
        if let Some((psize, proot)) = prev {
            if cp.size() < psize {
                return Err(fail(
                    format!("smaller than the checkpoint before it (size {psize})"),
                    None,
                ));
            }
            let proof = tree
                .consistency_proof(psize, cp.size())
                .map_err(|e| fail(e.to_string(), None))?;
            merkle::verify_consistency(psize, cp.size(), &proot, cp.root(), &proof).map_err(
                |e| {
                    fail(
                        format!("not consistent with the checkpoint before it (size {psize}): {e}"),
                        None,
                    )
                },
            )?;
        }
        prev = Some((cp.size(), *cp.root()));
    }
    Ok(VerifyReport {
        size: tree.size(),
        checkpoints: checkpoints.len(),
        latest: prev,
        root: tree.root(),
    })
}

fn check_leaf(l: &NewAuditLeaf) -> Result<(), String> {
    if merkle::leaf_hash(&l.leaf) != l.leaf_hash {
        return Err("the stored leaf hash does not match the leaf bytes (altered)".into());
    }
    let e = AuditEvent::from_canonical_bytes(&l.leaf)
        .map_err(|e| format!("not a canonical audit event: {e}"))?;
    let decision = e.decision.map(|d| d.as_str().to_string());
    if e.request_id != l.event_id
        || i64::try_from(e.time_unix_ms).ok() != Some(l.ts_ms)
        || e.principal != l.principal
        || decision != l.decision
    {
        return Err("the query columns do not match the leaf (altered or moved)".into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Proofs
// ---------------------------------------------------------------------------

fn hexes(hs: &[Hash]) -> Vec<String> {
    hs.iter().map(hex::encode).collect()
}

fn checkpoint_at(store: &dyn Store, size: u64) -> Result<Option<StoredCheckpoint>, String> {
    Ok(store
        .audit_checkpoints()
        .map_err(|e| e.to_string())?
        .into_iter()
        .rev()
        .find(|c| c.size == size))
}

/// The default tree size for proofs: the last checkpoint's (so the proof checks against a
/// signed root), else the whole tree.
pub fn default_size(store: &dyn Store, tree: &MerkleTree) -> Result<u64, String> {
    Ok(store
        .latest_audit_checkpoint()
        .map_err(|e| e.to_string())?
        .map_or(tree.size(), |c| c.size.min(tree.size())))
}

/// An inclusion proof as JSON: the leaf, its hash, the proof (hex, from the leaf's
/// sibling upwards), the root at `size`, and the signed checkpoint of that size if one is
/// stored.
pub fn inclusion_json(
    store: &dyn Store,
    tree: &MerkleTree,
    index: u64,
    size: Option<u64>,
) -> Result<Value, String> {
    let size = match size {
        Some(s) => s,
        None => {
            let d = default_size(store, tree)?;
            if index < d {
                d
            } else {
                tree.size()
            }
        }
    };
    let proof = tree
        .inclusion_proof(index, size)
        .map_err(|e| e.to_string())?;
    let leaf = store
        .audit_leaves(index, index + 1)
        .map_err(|e| e.to_string())?
        .pop()
        .ok_or_else(|| format!("leaf {index} is not stored"))?;
    let root = tree.root_at(size).map_err(|e| e.to_string())?;
    Ok(json!({
        "type": "inclusion",
        "index": index,
        "size": size,
        "leaf": String::from_utf8_lossy(&leaf.leaf.leaf),
        "leaf_hash": hex::encode(leaf.leaf.leaf_hash),
        "proof": hexes(&proof),
        "root": hex::encode(root),
        "checkpoint": checkpoint_at(store, size)?.map(|c| c.note),
    }))
}

/// A consistency proof between sizes `old` and `new` as JSON, with both roots and the
/// signed checkpoints of those sizes if stored.
pub fn consistency_json(
    store: &dyn Store,
    tree: &MerkleTree,
    old: u64,
    new: u64,
) -> Result<Value, String> {
    let proof = tree
        .consistency_proof(old, new)
        .map_err(|e| e.to_string())?;
    Ok(json!({
        "type": "consistency",
        "old": old,
        "new": new,
        "old_root": hex::encode(tree.root_at(old).map_err(|e| e.to_string())?),
        "new_root": hex::encode(tree.root_at(new).map_err(|e| e.to_string())?),
        "proof": hexes(&proof),
        "old_checkpoint": checkpoint_at(store, old)?.map(|c| c.note),
        "new_checkpoint": checkpoint_at(store, new)?.map(|c| c.note),
    }))
}

fn hash_field(v: &Value, name: &str) -> Result<Hash, String> {
    let s = v[name]
        .as_str()
        .ok_or_else(|| format!("proof: `{name}` is missing"))?;
    let mut h = [0u8; 32];
    hex::decode_to_slice(s, &mut h).map_err(|_| format!("proof: `{name}` is not a hex hash"))?;
    Ok(h)
}

fn proof_hashes(v: &Value) -> Result<Vec<Hash>, String> {
    let arr = v["proof"]
        .as_array()
        .ok_or("proof: `proof` must be an array")?;
    arr.iter()
        .map(|h| {
            let mut out = [0u8; 32];
            h.as_str()
                .and_then(|s| hex::decode_to_slice(s, &mut out).ok())
                .ok_or("proof: a proof hash is not hex")?;
            Ok(out)
        })
        .collect()
}

fn u64_field(v: &Value, name: &str) -> Result<u64, String> {
    v[name]
        .as_u64()
        .ok_or_else(|| format!("proof: `{name}` is missing"))
}

/// Opens a signed checkpoint with a verifier key alone (the origin is the note's own).
pub fn open_checkpoint(vkey: &NoteVerifier, note: &str) -> Result<Checkpoint, String> {
    let opened = vkey.open(note).map_err(|e| format!("checkpoint: {e}"))?;
    Checkpoint::from_note_text(opened.text()).map_err(|e| format!("checkpoint: {e}"))
}

/// Checks a proof (as printed by `audit proof`) offline, against a signed checkpoint and
/// the log's verifier key. An inclusion proof's leaf hash is recomputed from its `leaf`;
/// a consistency proof's old root comes from `old_checkpoint` when given (else from the
/// proof itself). Returns a one-line description of what was proved.
pub fn verify_proof(
    vkey: &NoteVerifier,
    checkpoint: &str,
    proof: &Value,
    old_checkpoint: Option<&str>,
) -> Result<String, String> {
    let cp = open_checkpoint(vkey, checkpoint)?;
    let hashes = proof_hashes(proof)?;
    match proof["type"].as_str() {
        Some("inclusion") => {
            let index = u64_field(proof, "index")?;
            let size = u64_field(proof, "size")?;
            if size != cp.size() {
                return Err(format!(
                    "the proof is for size {size} but the checkpoint signs size {}",
                    cp.size()
                ));
            }
            let leaf = proof["leaf"].as_str().ok_or("proof: `leaf` is missing")?;
            let event = AuditEvent::from_canonical_bytes(leaf.as_bytes())
                .map_err(|e| format!("leaf: {e}"))?;
            let lh = merkle::leaf_hash(leaf.as_bytes());
            if proof.get("leaf_hash").is_some() && hash_field(proof, "leaf_hash")? != lh {
                return Err("the leaf does not hash to the proof's leaf_hash".into());
            }
            merkle::verify_inclusion(index, size, &lh, &hashes, cp.root()).map_err(|e| {
                format!("leaf {index} is not in the checkpointed tree of size {size}: {e}")
            })?;
            Ok(format!(
                "ok: event {} ({}) is leaf {index} of {} at size {size}",
                event.request_id,
                event.kind.as_str(),
                cp.origin()
            ))
        }
        Some("consistency") => {
            let old = u64_field(proof, "old")?;
            let new = u64_field(proof, "new")?;
            if new != cp.size() {
                return Err(format!(
                    "the proof is to size {new} but the checkpoint signs size {}",
                    cp.size()
                ));
            }
            let old_root = match old_checkpoint {
                Some(n) => {
                    let o = open_checkpoint(vkey, n)?;
                    if o.size() != old || o.origin() != cp.origin() {
                        return Err(
                            "the old checkpoint is not for the proof's old size and origin".into(),
                        );
                    }
                    *o.root()
                }
                None => hash_field(proof, "old_root")?,
            };
            merkle::verify_consistency(old, new, &old_root, cp.root(), &hashes)
                .map_err(|e| format!("size {old} is not a prefix of size {new}: {e}"))?;
            Ok(format!(
                "ok: {} at size {old} is a prefix of size {new}",
                cp.origin()
            ))
        }
        _ => Err("proof: `type` must be `inclusion` or `consistency`".into()),
    }
}
