//! The detector's input and output, as JSON Lines.
//!
//! Input, one request per line:
//! `{"ts": epoch_ms, "principal": "...", "ip": "...", "user_agent": "...", "model": "...",
//! "decision": "allow"|"deny"|"error", "prompt_tokens": n, "completion_tokens": n,
//! "injection_score": x}`; an empty `principal` is a request that failed authentication.
//! An optional `"group"` names the principal's (first) group for the group baseline.
//!
//! Output, one alert per line: `{"ts", "principal", "ip" (alerts about a client
//! address), "kind", "score", "severity", "action", "features": {...}}`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{Action, Severity};

/// What the gateway decided for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Served.
    Allow,
    /// Refused (authentication, policy, limits, guards).
    Deny,
    /// Failed after it was admitted (upstream error, timeout).
    Error,
}

/// One finished request. Strings borrow from the input line when they can.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event<'a> {
    /// Event time, Unix milliseconds.
    pub ts: i64,
    /// The authenticated principal; empty when authentication failed.
    #[serde(default, borrow)]
    pub principal: Cow<'a, str>,
    /// The client address.
    #[serde(default, borrow)]
    pub ip: Cow<'a, str>,
    /// The `User-Agent` header.
    #[serde(default, borrow)]
    pub user_agent: Cow<'a, str>,
    /// The resolved model (empty when none was resolved).
    #[serde(default, borrow)]
    pub model: Cow<'a, str>,
    /// The decision.
    pub decision: Decision,
    /// Prompt tokens (0 for a refused request).
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Completion tokens.
    #[serde(default)]
    pub completion_tokens: u64,
    /// The input guards' prompt-injection score in [0, 1] (0 when guards are off).
    #[serde(default)]
    pub injection_score: f64,
    /// The principal's group, for the group baseline (optional).
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub group: Option<Cow<'a, str>>,
}

impl<'a> Event<'a> {
    /// Parses one JSON line.
    pub fn parse(line: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(line)
    }

    /// The same event owning its strings (to hand it to another thread).
    pub fn into_owned(self) -> Event<'static> {
        Event {
            ts: self.ts,
            principal: Cow::Owned(self.principal.into_owned()),
            ip: Cow::Owned(self.ip.into_owned()),
            user_agent: Cow::Owned(self.user_agent.into_owned()),
            model: Cow::Owned(self.model.into_owned()),
            decision: self.decision,
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            injection_score: self.injection_score,
            group: self.group.map(|g| Cow::Owned(g.into_owned())),
        }
    }
}

/// One feature's part in an alert: what it measured, what was expected, and how much it
/// added to the score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureReport {
    /// The measured value.
    pub value: f64,
    /// The baseline it was compared with.
    pub baseline: f64,
    /// Its contribution to the score.
    pub contribution: f64,
}

/// An alert: who, why, how bad, and what to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Event time of the event that raised it, Unix milliseconds.
    pub ts: i64,
    /// The principal (empty for an alert about a client address).
    pub principal: String,
    /// The client address, for alerts about an address (credential stuffing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// The feature family that contributed most: `volume`, `extraction`, `injection`,
    /// `new_context`, `unusual_model`, `refusals`, `auth_failures`, `multivariate`.
    pub kind: String,
    /// The anomaly score (sum of contributions).
    pub score: f64,
    /// The severity the score maps to.
    pub severity: Severity,
    /// The containment action configured for that severity.
    pub action: Action,
    /// The features that drove the score, by name.
    pub features: BTreeMap<String, FeatureReport>,
}
