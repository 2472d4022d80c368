//! Portcullis guards: PII and secret detectors.
//!
//! This crate is a pure library (no network, no model files). A [`Detector`] is built
//! once with [`Detector::new`] and then scans text with [`Detector::detect`], returning
//! [`Finding`]s with byte offsets into the UTF-8 input (end exclusive), sorted by start,
//! with overlaps resolved (SECRET is preferred over PII, then the longer span, then the
//! higher score).
//!
//! Scanning is linear in the input: a [`regex::RegexSet`] tells which rules can match at
//! all, only those rules are then run (each regex runs in linear time), and candidates are
//! confirmed by validators (Luhn, mod-97, SSA ranges, `Ipv6Addr` parsing, Shannon
//! entropy, keyword context found with `aho-corasick`).
//!
//! * [`pii`]: EMAIL, PHONE, CREDIT_CARD, IBAN, US_SSN, IP_ADDRESS.
//! * [`secrets`]: provider keys (AWS, GitHub, Slack, Stripe, OpenAI, Anthropic, Google,
//!   SendGrid, Twilio), JWTs, PEM private keys, connection-string credentials and
//!   high-entropy values behind a keyword (`password = ...`).
//! * [`tool_poison`]: hidden instructions in tool definitions ("tool poisoning": conceal
//!   from the user, read a secret file, smuggle it through a parameter, steer another tool).
//! * [`gen`]: a deterministic labeled generator (positives and near-miss decoys) used by
//!   the evaluation test.

pub mod action;
pub mod detector;
pub mod gen;
pub mod guard;
pub mod injection;
pub mod normalize;
pub mod output;
pub mod person;
pub mod pii;
pub mod pseudo;
pub mod secrets;
pub mod stream;
pub mod tool_poison;

pub use detector::Detector;
pub use guard::{GuardPolicy, Guards};

use serde::Serialize;

/// The type of a finding. Serializes as `EMAIL`, `PHONE`, `CREDIT_CARD`, `IBAN`,
/// `US_SSN`, `IP_ADDRESS`, `SECRET`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FindingKind {
    /// An email address.
    Email,
    /// A phone number.
    Phone,
    /// A payment card number (Luhn-valid, known IIN prefix).
    CreditCard,
    /// An IBAN (country length and mod-97 checked).
    Iban,
    /// A US social security number.
    UsSsn,
    /// An IPv4 or IPv6 address.
    IpAddress,
    /// A credential or key; see [`Finding::subtype`].
    Secret,
    /// A person's name.
    Person,
    /// A prompt-injection attempt (instruction override, prompt extraction, hijack).
    Injection,
    /// A jailbreak attempt (persona, refusal suppression, developer mode, ...).
    Jailbreak,
    /// A markdown link or image whose URL carries data out (output guard).
    ExfilLink,
    /// The system-prompt canary echoed back (output guard).
    Canary,
}

impl FindingKind {
    /// All kinds, in a stable order.
    pub const ALL: [FindingKind; 12] = [
        FindingKind::Email,
        FindingKind::Phone,
        FindingKind::CreditCard,
        FindingKind::Iban,
        FindingKind::UsSsn,
        FindingKind::IpAddress,
        FindingKind::Secret,
        FindingKind::Person,
        FindingKind::Injection,
        FindingKind::Jailbreak,
        FindingKind::ExfilLink,
        FindingKind::Canary,
    ];

    /// Whether this is a personal-data kind (the kinds pseudonymization applies to).
    pub fn is_pii(self) -> bool {
        matches!(
            self,
            FindingKind::Email
                | FindingKind::Phone
                | FindingKind::CreditCard
                | FindingKind::Iban
                | FindingKind::UsSsn
                | FindingKind::IpAddress
                | FindingKind::Person
        )
    }

    /// Parses a wire name (`"CREDIT_CARD"`); `None` for unknown names.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The wire name (`"CREDIT_CARD"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Email => "EMAIL",
            FindingKind::Phone => "PHONE",
            FindingKind::CreditCard => "CREDIT_CARD",
            FindingKind::Iban => "IBAN",
            FindingKind::UsSsn => "US_SSN",
            FindingKind::IpAddress => "IP_ADDRESS",
            FindingKind::Secret => "SECRET",
            FindingKind::Person => "PERSON",
            FindingKind::Injection => "INJECTION",
            FindingKind::Jailbreak => "JAILBREAK",
            FindingKind::ExfilLink => "EXFIL_LINK",
            FindingKind::Canary => "CANARY",
        }
    }
}

impl std::fmt::Display for FindingKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One detected span.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// What was found.
    #[serde(rename = "type")]
    pub kind: FindingKind,
    /// A finer type, e.g. `"github_token"` for secrets or `"ipv6"` for addresses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subtype: Option<&'static str>,
    /// Start byte offset (inclusive).
    pub start: usize,
    /// End byte offset (exclusive).
    pub end: usize,
    /// Confidence in `0..=1`.
    pub score: f32,
}

impl Finding {
    /// Span length in bytes.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the span is empty (never true for detector output).
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// Errors building a [`Detector`].
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// A built-in pattern failed to compile (a bug).
    #[error("pattern failed to compile: {0}")]
    Pattern(#[from] regex::Error),
    /// The keyword automaton failed to build (a bug).
    #[error("keyword automaton failed to build: {0}")]
    Keywords(#[from] aho_corasick::BuildError),
    /// The injection model file is missing, corrupt or does not match the rules.
    #[error("injection model: {0}")]
    Model(String),
}
