//! The audit event and its canonical encoding: the exact bytes that become a Merkle leaf.
//!
//! # Canonical encoding (format version 1)
//!
//! One JSON object on one line, UTF-8, no white space outside strings, with **every** field
//! present, in **this order**:
//!
//! | key | JSON type | meaning |
//! | --- | --- | --- |
//! | `v` | number | format version, `1` |
//! | `kind` | string | [`EventKind`]: `request`, `key_created`, `key_revoked`, `policy_reloaded`, `guard_config_changed`, `model_changed`, `policy_bundle_changed`, `incident` |
//! | `time_ms` | number | Unix time, milliseconds |
//! | `request_id` | string | request id (may be empty for control-plane events) |
//! | `principal` | string | who acted |
//! | `identity_kind` | string | how they authenticated (`api_key`, `user`, `workload`, ...) |
//! | `action` | string | the action (`chat.completions`, ...) |
//! | `model` | string or null | resolved model |
//! | `upstream` | string or null | upstream the request went to |
//! | `decision` | string or null | [`Decision`]: `allow` or `deny` |
//! | `policy_ids` | array of strings | deciding policy ids, in the order given |
//! | `guard_findings` | array of `[string, number]` | guard findings `[type, count]`, in the order given |
//! | `prompt_tokens` | number or null | prompt tokens |
//! | `completion_tokens` | number or null | completion tokens |
//! | `latency_us` | number or null | latency, microseconds |
//! | `request_sha256` | string or null | SHA-256 of the request body, 64 lowercase hex digits |
//! | `response_sha256` | string or null | SHA-256 of the response body, 64 lowercase hex digits |
//! | `target` | string or null | what a control-plane event acted on (key id, policy set version); for a request, the policy set that decided it |
//!
//! Numbers are unsigned 64-bit integers in plain decimal (no sign, fraction, exponent or
//! leading zero): there are no floats. Strings are written as-is (raw UTF-8) except `"`
//! → `\"`, `\` → `\\`, and control characters below U+0020: `\b`, `\t`, `\n`, `\f`, `\r`
//! for those five, `\u00XX` (lowercase hex) for the rest. Nothing else is escaped.
//!
//! The encoding is a function of the [`AuditEvent`] value, and decoding
//! ([`AuditEvent::from_canonical_bytes`]) accepts only bytes that re-encode identically, so
//! each event has exactly one leaf. Lists keep their order: producers should emit them in
//! a deterministic order (e.g. policy evaluation order, findings sorted by type).

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::merkle::{self, Hash};

/// The canonical encoding's format version (`"v"`).
pub const FORMAT_VERSION: u64 = 1;

/// Why bytes are not a canonical audit event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// Not JSON of the expected shape (or an unknown kind, decision or version).
    #[error("not an audit event: {0}")]
    Invalid(String),
    /// Valid, but not in canonical form (field order, spacing, escaping, hex case...).
    #[error("audit event is not in canonical form")]
    NotCanonical,
}

/// What kind of event: a data-plane request or a control-plane change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A data-plane request (allowed or denied).
    Request,
    /// An API key was created.
    KeyCreated,
    /// An API key was revoked.
    KeyRevoked,
    /// The policy set was reloaded, or the gateway started with a different one.
    PolicyReloaded,
    /// The gateway started with a guard configuration different from the last one the
    /// log recorded (or the first one).
    GuardConfigChanged,
    /// A model version in the registry changed state (proposed, approved, activated,
    /// suspended, retired).
    ModelChanged,
    /// A policy bundle was proposed, approved, activated or rolled back.
    PolicyBundleChanged,
    /// An anomaly incident was opened, escalated, acknowledged, released or resolved.
    Incident,
}

impl EventKind {
    /// All kinds.
    pub const ALL: [EventKind; 8] = [
        EventKind::Request,
        EventKind::KeyCreated,
        EventKind::KeyRevoked,
        EventKind::PolicyReloaded,
        EventKind::GuardConfigChanged,
        EventKind::ModelChanged,
        EventKind::PolicyBundleChanged,
        EventKind::Incident,
    ];

    /// The canonical name: `request`, `key_created`, `key_revoked`, `policy_reloaded`,
    /// `guard_config_changed`, `model_changed`, `policy_bundle_changed`, `incident`.
    pub fn as_str(&self) -> &'static str {
        match self {
            EventKind::Request => "request",
            EventKind::KeyCreated => "key_created",
            EventKind::KeyRevoked => "key_revoked",
            EventKind::PolicyReloaded => "policy_reloaded",
            EventKind::GuardConfigChanged => "guard_config_changed",
            EventKind::ModelChanged => "model_changed",
            EventKind::PolicyBundleChanged => "policy_bundle_changed",
            EventKind::Incident => "incident",
        }
    }

    /// The kind with this canonical name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// The authorization outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Allowed.
    Allow,
    /// Denied.
    Deny,
}

impl Decision {
    /// `allow` or `deny`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
        }
    }

    /// The decision with this canonical name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "allow" => Some(Decision::Allow),
            "deny" => Some(Decision::Deny),
            _ => None,
        }
    }
}

/// One guard finding type and how many times it was found.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GuardFinding {
    /// The finding type (e.g. `pii.email`).
    pub kind: String,
    /// How many.
    pub count: u64,
}

/// One audit log entry. See the module docs for its canonical encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Data-plane request or control-plane change.
    pub kind: EventKind,
    /// Unix time, milliseconds.
    pub time_unix_ms: u64,
    /// The request id (may be empty for control-plane events).
    pub request_id: String,
    /// Who acted (principal name).
    pub principal: String,
    /// How they authenticated (`api_key`, `user`, `workload`, ...).
    pub identity_kind: String,
    /// The action (`chat.completions`, `embeddings`, ...).
    pub action: String,
    /// The resolved model.
    pub model: Option<String>,
    /// The upstream the request went to.
    pub upstream: Option<String>,
    /// The authorization decision.
    pub decision: Option<Decision>,
    /// The deciding policy ids.
    pub policy_ids: Vec<String>,
    /// Guard findings: (type, count).
    pub guard_findings: Vec<GuardFinding>,
    /// Prompt tokens.
    pub prompt_tokens: Option<u64>,
    /// Completion tokens.
    pub completion_tokens: Option<u64>,
    /// Latency, microseconds.
    pub latency_us: Option<u64>,
    /// SHA-256 of the request body.
    pub request_sha256: Option<Hash>,
    /// SHA-256 of the response body.
    pub response_sha256: Option<Hash>,
    /// What a control-plane event acted on (key id, policy set version...).
    pub target: Option<String>,
}

/// SHA-256 of a body, for [`AuditEvent::request_sha256`] / [`AuditEvent::response_sha256`].
pub fn body_sha256(body: &[u8]) -> Hash {
    Sha256::digest(body).into()
}

impl AuditEvent {
    /// An event of `kind` at `time_unix_ms` with every other field empty.
    pub fn new(kind: EventKind, time_unix_ms: u64) -> Self {
        Self {
            kind,
            time_unix_ms,
            request_id: String::new(),
            principal: String::new(),
            identity_kind: String::new(),
            action: String::new(),
            model: None,
            upstream: None,
            decision: None,
            policy_ids: Vec::new(),
            guard_findings: Vec::new(),
            prompt_tokens: None,
            completion_tokens: None,
            latency_us: None,
            request_sha256: None,
            response_sha256: None,
            target: None,
        }
    }

    /// The canonical encoding (see the module docs), as a string.
    pub fn to_canonical_string(&self) -> String {
        let mut out = String::with_capacity(512);
        out.push('{');
        field_u64(&mut out, "v", Some(FORMAT_VERSION), true);
        field_str(&mut out, "kind", Some(self.kind.as_str()));
        field_u64(&mut out, "time_ms", Some(self.time_unix_ms), false);
        field_str(&mut out, "request_id", Some(&self.request_id));
        field_str(&mut out, "principal", Some(&self.principal));
        field_str(&mut out, "identity_kind", Some(&self.identity_kind));
        field_str(&mut out, "action", Some(&self.action));
        field_str(&mut out, "model", self.model.as_deref());
        field_str(&mut out, "upstream", self.upstream.as_deref());
        field_str(
            &mut out,
            "decision",
            self.decision.as_ref().map(Decision::as_str),
        );
        key(&mut out, "policy_ids", false);
        out.push('[');
        for (i, id) in self.policy_ids.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json_string(&mut out, id);
        }
        out.push(']');
        key(&mut out, "guard_findings", false);
        out.push('[');
        for (i, f) in self.guard_findings.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('[');
            json_string(&mut out, &f.kind);
            let _ = write!(out, ",{}]", f.count);
        }
        out.push(']');
        field_u64(&mut out, "prompt_tokens", self.prompt_tokens, false);
        field_u64(&mut out, "completion_tokens", self.completion_tokens, false);
        field_u64(&mut out, "latency_us", self.latency_us, false);
        let req = self.request_sha256.map(hex::encode);
        field_str(&mut out, "request_sha256", req.as_deref());
        let resp = self.response_sha256.map(hex::encode);
        field_str(&mut out, "response_sha256", resp.as_deref());
        field_str(&mut out, "target", self.target.as_deref());
        out.push('}');
        out
    }

    /// The canonical encoding: the Merkle leaf content.
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        self.to_canonical_string().into_bytes()
    }

    /// The Merkle leaf hash of this event: `SHA-256(0x00 || canonical bytes)`.
    pub fn leaf_hash(&self) -> Hash {
        merkle::leaf_hash(&self.to_canonical_bytes())
    }

    /// Decodes a canonical encoding, rejecting any other bytes (even equivalent JSON).
    pub fn from_canonical_bytes(bytes: &[u8]) -> Result<Self, EventError> {
        let raw: RawEvent =
            serde_json::from_slice(bytes).map_err(|e| EventError::Invalid(e.to_string()))?;
        let event = raw.into_event()?;
        if event.to_canonical_bytes() != bytes {
            return Err(EventError::NotCanonical);
        }
        Ok(event)
    }
}

fn key(out: &mut String, name: &str, first: bool) {
    if !first {
        out.push(',');
    }
    json_string(out, name);
    out.push(':');
}

fn field_str(out: &mut String, name: &str, value: Option<&str>) {
    key(out, name, false);
    match value {
        Some(s) => json_string(out, s),
        None => out.push_str("null"),
    }
}

fn field_u64(out: &mut String, name: &str, value: Option<u64>, first: bool) {
    key(out, name, first);
    match value {
        Some(n) => {
            let _ = write!(out, "{n}");
        }
        None => out.push_str("null"),
    }
}

/// Writes `s` as a JSON string with the escaping rules in the module docs.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    // Runs of characters that need no escape are copied whole; every byte that does
    // (quote, backslash, controls) is ASCII, so the runs end on character boundaries.
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        if b != b'"' && b != b'\\' && b >= 0x20 {
            continue;
        }
        out.push_str(&s[start..i]);
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x08 => out.push_str("\\b"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            0x0C => out.push_str("\\f"),
            b'\r' => out.push_str("\\r"),
            _ => {
                let _ = write!(out, "\\u{:04x}", b);
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod json_string_tests {
    use super::json_string;
    use proptest::prelude::*;
    use std::fmt::Write;

    /// The character-by-character encoder this one replaced: the canonical form.
    fn reference(out: &mut String, s: &str) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{08}' => out.push_str("\\b"),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\u{0C}' => out.push_str("\\f"),
                '\r' => out.push_str("\\r"),
                c if c < '\u{20}' => {
                    let _ = write!(out, "\\u{:04x}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }

    fn both(s: &str) -> (String, String) {
        let (mut a, mut b) = (String::new(), String::new());
        json_string(&mut a, s);
        reference(&mut b, s);
        (a, b)
    }

    #[test]
    fn escapes_match_the_canonical_form() {
        for s in [
            "",
            "plain",
            "a\"b\\c",
            "\u{0}\u{1f}\u{7f}\t\n\r\u{8}\u{c}",
            "é\"日本\n",
            "\"\"",
            "\\",
        ] {
            let (a, b) = both(s);
            assert_eq!(a, b, "{s:?}");
            let back: String = serde_json::from_str(&a).unwrap();
            assert_eq!(back, s);
        }
    }

    proptest! {
        #[test]
        fn any_string_is_encoded_as_before(s in "(?s).{0,64}|[\\x00-\\x7f]{0,64}") {
            let (a, b) = both(&s);
            prop_assert_eq!(a, b);
        }
    }
}

/// The decoding shape; every field is required (`Option`s must be present as `null`,
/// which the canonical re-encoding check enforces).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    v: u64,
    kind: String,
    time_ms: u64,
    request_id: String,
    principal: String,
    identity_kind: String,
    action: String,
    model: Option<String>,
    upstream: Option<String>,
    decision: Option<String>,
    policy_ids: Vec<String>,
    guard_findings: Vec<(String, u64)>,
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    latency_us: Option<u64>,
    request_sha256: Option<String>,
    response_sha256: Option<String>,
    target: Option<String>,
}

fn parse_sha256_hex(s: Option<String>) -> Result<Option<Hash>, EventError> {
    s.map(|s| {
        let mut out = [0u8; 32];
        hex::decode_to_slice(&s, &mut out)
            .map_err(|_| EventError::Invalid(format!("not a SHA-256 hex digest: {s:?}")))?;
        Ok(out)
    })
    .transpose()
}

impl RawEvent {
    fn into_event(self) -> Result<AuditEvent, EventError> {
        if self.v != FORMAT_VERSION {
            return Err(EventError::Invalid(format!(
                "unsupported format version {}",
                self.v
            )));
        }
        let kind = EventKind::from_name(&self.kind)
            .ok_or_else(|| EventError::Invalid(format!("unknown kind {:?}", self.kind)))?;
        let decision = self
            .decision
            .map(|d| {
                Decision::from_name(&d)
                    .ok_or_else(|| EventError::Invalid(format!("unknown decision {d:?}")))
            })
            .transpose()?;
        Ok(AuditEvent {
            kind,
            time_unix_ms: self.time_ms,
            request_id: self.request_id,
            principal: self.principal,
            identity_kind: self.identity_kind,
            action: self.action,
            model: self.model,
            upstream: self.upstream,
            decision,
            policy_ids: self.policy_ids,
            guard_findings: self
                .guard_findings
                .into_iter()
                .map(|(kind, count)| GuardFinding { kind, count })
                .collect(),
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            latency_us: self.latency_us,
            request_sha256: parse_sha256_hex(self.request_sha256)?,
            response_sha256: parse_sha256_hex(self.response_sha256)?,
            target: self.target,
        })
    }
}
