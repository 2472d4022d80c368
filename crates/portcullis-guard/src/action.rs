//! What to do with a finding: the [`Action`] enum used by configuration and the per-kind
//! [`ActionTable`] the output stream guard applies.
//!
//! On **output** (model responses) the actions mean:
//!
//! * `block`: the response is cut before the finding and a block verdict is returned;
//! * `redact`: the span is replaced by `[REDACTED:<TYPE>]` (see [`redaction`]);
//! * `pseudonymize`: same as `redact` (placeholders are an input-side mechanism);
//! * `log`: the finding is recorded, the text passes unchanged.

use crate::FindingKind;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// An action for a finding. Serializes (and parses) as `block`, `redact`, `pseudonymize`,
/// `log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Stop: the request or response is refused.
    Block,
    /// Replace the span by a marker.
    Redact,
    /// Replace the span by a reversible placeholder (input side); redacts on output.
    Pseudonymize,
    /// Record only.
    Log,
}

impl Action {
    /// All actions, in a stable order.
    pub const ALL: [Action; 4] = [
        Action::Block,
        Action::Redact,
        Action::Pseudonymize,
        Action::Log,
    ];

    /// The configuration name (`"block"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Block => "block",
            Action::Redact => "redact",
            Action::Pseudonymize => "pseudonymize",
            Action::Log => "log",
        }
    }

    /// Severity used to pick between overlapping findings: block > redact >
    /// pseudonymize > log.
    pub fn severity(self) -> u8 {
        match self {
            Action::Block => 3,
            Action::Redact => 2,
            Action::Pseudonymize => 1,
            Action::Log => 0,
        }
    }

    /// Whether the action changes the output text (redact or pseudonymize).
    pub fn rewrites_output(self) -> bool {
        matches!(self, Action::Redact | Action::Pseudonymize)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error parsing an [`Action`] or an [`ActionTable`] entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionParseError {
    /// Not one of `block`, `redact`, `pseudonymize`, `log`.
    #[error("unknown action {0:?} (expected block, redact, pseudonymize or log)")]
    Action(String),
    /// Not a finding type name (`EMAIL`, `SECRET`, ...).
    #[error("unknown finding type {0:?}")]
    Kind(String),
}

impl FromStr for Action {
    type Err = ActionParseError;

    /// Case-insensitive: `"Block"`, `"REDACT"` are accepted.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ActionParseError::Action(s.to_string()))
    }
}

/// The exact replacement text for a redacted span of `kind` on output:
/// `[REDACTED:<TYPE>]` with the wire type name, e.g. `[REDACTED:SECRET]`,
/// `[REDACTED:CREDIT_CARD]`, `[REDACTED:EXFIL_LINK]`.
pub fn redaction(kind: FindingKind) -> String {
    format!("[REDACTED:{}]", kind.as_str())
}

/// One action per [`FindingKind`].
///
/// Deserializes from a map of type name to action (`{ "SECRET" = "block", "EMAIL" =
/// "redact" }`); kinds not named keep the [`ActionTable::output_defaults`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionTable {
    actions: [Action; FindingKind::ALL.len()],
}

fn kind_index(kind: FindingKind) -> usize {
    FindingKind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or_default()
}

impl ActionTable {
    /// Every kind gets `action`.
    pub fn uniform(action: Action) -> Self {
        Self {
            actions: [action; FindingKind::ALL.len()],
        }
    }

    /// Output defaults: SECRET redact, CANARY block, EXFIL_LINK redact, everything else
    /// (PII, injection, jailbreak) log. PII in a response is often the user's own data;
    /// the configuration tightens this per route.
    pub fn output_defaults() -> Self {
        Self::uniform(Action::Log)
            .with(FindingKind::Secret, Action::Redact)
            .with(FindingKind::Canary, Action::Block)
            .with(FindingKind::ExfilLink, Action::Redact)
    }

    /// Sets the action for `kind` (builder style).
    pub fn with(mut self, kind: FindingKind, action: Action) -> Self {
        self.set(kind, action);
        self
    }

    /// Sets the action for `kind`.
    pub fn set(&mut self, kind: FindingKind, action: Action) {
        if let Some(slot) = self.actions.get_mut(kind_index(kind)) {
            *slot = action;
        }
    }

    /// The action for `kind`.
    pub fn get(&self, kind: FindingKind) -> Action {
        self.actions
            .get(kind_index(kind))
            .copied()
            .unwrap_or(Action::Log)
    }

    /// Builds a table from `(type name, action name)` pairs over the output defaults.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ActionParseError> {
        let mut t = Self::output_defaults();
        for (k, a) in pairs {
            let kind = FindingKind::parse(&k.trim().to_ascii_uppercase())
                .ok_or_else(|| ActionParseError::Kind(k.to_string()))?;
            t.set(kind, a.parse()?);
        }
        Ok(t)
    }
}

impl Default for ActionTable {
    /// [`ActionTable::output_defaults`].
    fn default() -> Self {
        Self::output_defaults()
    }
}

impl<'de> Deserialize<'de> for ActionTable {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map: HashMap<String, Action> = HashMap::deserialize(d)?;
        let mut t = Self::output_defaults();
        for (k, a) in map {
            let kind = FindingKind::parse(&k.trim().to_ascii_uppercase())
                .ok_or_else(|| serde::de::Error::custom(ActionParseError::Kind(k.clone())))?;
            t.set(kind, a);
        }
        Ok(t)
    }
}

impl Serialize for ActionTable {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(FindingKind::ALL.len()))?;
        for k in FindingKind::ALL {
            m.serialize_entry(k.as_str(), &self.get(k))?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn parse_and_display() {
        for a in Action::ALL {
            assert_eq!(a.as_str().parse::<Action>().unwrap(), a);
            assert_eq!(a.to_string(), a.as_str());
        }
        assert_eq!("BLOCK".parse::<Action>().unwrap(), Action::Block);
        assert!("drop".parse::<Action>().is_err());
        let j: Action = serde_json::from_str("\"pseudonymize\"").unwrap();
        assert_eq!(j, Action::Pseudonymize);
        assert_eq!(serde_json::to_string(&Action::Log).unwrap(), "\"log\"");
    }

    #[test]
    fn table() {
        let t: ActionTable =
            serde_json::from_str(r#"{"EMAIL":"redact","secret":"block"}"#).unwrap();
        assert_eq!(t.get(FindingKind::Email), Action::Redact);
        assert_eq!(t.get(FindingKind::Secret), Action::Block);
        assert_eq!(t.get(FindingKind::Canary), Action::Block);
        assert_eq!(t.get(FindingKind::Phone), Action::Log);
        assert!(serde_json::from_str::<ActionTable>(r#"{"NOPE":"log"}"#).is_err());
        let t2 = ActionTable::from_pairs([("phone", "redact")]).unwrap();
        assert_eq!(t2.get(FindingKind::Phone), Action::Redact);
        assert_eq!(redaction(FindingKind::CreditCard), "[REDACTED:CREDIT_CARD]");
    }
}
