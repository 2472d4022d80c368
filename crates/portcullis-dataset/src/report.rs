//! What a scan produces: findings (line, type, score, evidence), per-line errors, the
//! summary, the JSON report and the human-readable summary.
//!
//! Evidence strings are written for a reviewer and may be published with the report, so
//! they never carry a full PII or secret value (see [`crate::text::mask`]).

use serde::Serialize;
use std::collections::BTreeMap;

/// The type of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum FindingType {
    /// A rare token or phrase whose presence predicts a fixed response, URL, phrase or label.
    BackdoorTrigger,
    /// Near-duplicate inputs with different labels or answers.
    LabelConflict,
    /// A label that a cross-validated classifier confidently disagrees with.
    LabelError,
    /// Prompt injection or jailbreak text, or a response complying with one.
    Injection,
    /// Data-carrying links or images, fetch-and-run shell one-liners, repeated odd hosts.
    Exfil,
    /// Zero-width, bidi-override or tag characters, or homoglyph runs.
    UnicodeSmuggling,
    /// Personal data (email, phone, card, IBAN, SSN, IP address).
    Pii,
    /// A credential or key.
    Secret,
    /// The same or nearly the same record repeated enough to bias training.
    DuplicateFlood,
    /// A record far from the rest in length, script or character distribution.
    Outlier,
}

impl FindingType {
    /// All types, in report order.
    pub const ALL: [FindingType; 10] = [
        FindingType::BackdoorTrigger,
        FindingType::LabelConflict,
        FindingType::LabelError,
        FindingType::Injection,
        FindingType::Exfil,
        FindingType::UnicodeSmuggling,
        FindingType::Pii,
        FindingType::Secret,
        FindingType::DuplicateFlood,
        FindingType::Outlier,
    ];

    /// The wire name (`BACKDOOR_TRIGGER`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            FindingType::BackdoorTrigger => "BACKDOOR_TRIGGER",
            FindingType::LabelConflict => "LABEL_CONFLICT",
            FindingType::LabelError => "LABEL_ERROR",
            FindingType::Injection => "INJECTION",
            FindingType::Exfil => "EXFIL",
            FindingType::UnicodeSmuggling => "UNICODE_SMUGGLING",
            FindingType::Pii => "PII",
            FindingType::Secret => "SECRET",
            FindingType::DuplicateFlood => "DUPLICATE_FLOOD",
            FindingType::Outlier => "OUTLIER",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(name.trim()))
    }
}

impl std::fmt::Display for FindingType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The record's first line, 1-based.
    pub line: u64,
    /// What was found.
    #[serde(rename = "type")]
    pub kind: FindingType,
    /// Confidence in `0..=1`.
    pub score: f32,
    /// What was seen, for a reviewer (sensitive values masked).
    pub evidence: String,
}

/// A record that could not be read or parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineError {
    /// The record's first line, 1-based.
    pub line: u64,
    /// Why.
    pub error: String,
}

/// Counts and settings of a scan (also the body of the manifest's summary).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Records parsed and scanned.
    pub records: u64,
    /// Records that could not be parsed (see the report's `errors`).
    pub malformed: u64,
    /// Records with at least one finding at or above the threshold.
    pub flagged_records: u64,
    /// Findings per type.
    pub findings_by_type: BTreeMap<String, u64>,
    /// The detected or given format.
    pub format: String,
    /// The score threshold.
    pub threshold: f32,
}

/// The scan report (`--report`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Records scanned.
    pub records: u64,
    /// Findings, sorted by line then type.
    pub findings: Vec<Finding>,
    /// Per-record read and parse errors.
    pub errors: Vec<LineError>,
    /// Counts.
    pub summary: Summary,
    /// SHA-256 of the file's bytes, hex.
    pub sha256: String,
    /// Scanner version.
    pub scanner_version: String,
}

impl Report {
    /// Whether anything at or above the threshold was found, or a record could not be
    /// checked (a record the scanner could not read is not a record it vouches for).
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty() && self.errors.is_empty()
    }

    /// The human-readable summary: counts per type and the top findings.
    pub fn human(&self, top: usize) -> String {
        use std::fmt::Write as _;
        let s = &self.summary;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "scanned {} records ({} format), {} malformed, {} flagged at threshold {}",
            s.records, s.format, s.malformed, s.flagged_records, s.threshold
        );
        if s.findings_by_type.is_empty() {
            let _ = writeln!(out, "no findings");
        } else {
            for (t, n) in &s.findings_by_type {
                let _ = writeln!(out, "  {t:<18} {n}");
            }
        }
        if !self.findings.is_empty() {
            let mut top_f: Vec<&Finding> = self.findings.iter().collect();
            top_f.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.line.cmp(&b.line)));
            let _ = writeln!(out, "top findings:");
            for f in top_f.into_iter().take(top) {
                let _ = writeln!(
                    out,
                    "  line {:>7}  {:<18} {:.2}  {}",
                    f.line,
                    f.kind.as_str(),
                    f.score,
                    crate::text::snippet(&f.evidence, 120)
                );
            }
        }
        for e in self.errors.iter().take(5) {
            let _ = writeln!(out, "  line {:>7}  MALFORMED: {}", e.line, e.error);
        }
        if self.errors.len() > 5 {
            let _ = writeln!(
                out,
                "  ... {} more malformed records",
                self.errors.len() - 5
            );
        }
        out
    }
}
