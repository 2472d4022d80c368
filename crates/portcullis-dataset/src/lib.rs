//! Portcullis dataset scanner: checks a fine-tuning or classification dataset for
//! poisoning before it is trusted (issue 9).
//!
//! A scan reads the file twice. The first pass streams records through the per-record
//! detectors (PII, secrets, injection, exfiltration, Unicode smuggling; see [`detect`]) in
//! parallel batches and keeps only compact statistics per record (hashed n-grams, MinHash
//! and SimHash signatures, response-feature hashes, a few numbers). The corpus detectors
//! ([`corpus`]: backdoor triggers, label conflicts, duplicate floods, outliers; [`labels`]:
//! cross-validated label errors) then work on those statistics. The second pass re-reads
//! only what it must: the text behind corpus findings (to show a trigger phrase as
//! evidence) and the records for the clean output.
//!
//! * [`reader`]: bounded line reading (long lines become per-line errors), CSV records.
//! * [`format`]: the four formats, detection, and parsing one line into a [`format::Record`].
//! * [`text`]: tokenization, hashing, MinHash/SimHash, masking of sensitive values.
//! * [`report`]: findings, the JSON report and the human summary.
//! * [`scan`]: the two-pass scanner ([`scan::Scanner`]).
//! * [`manifest`]: the signed scan manifest.
//! * [`poison`]: the poisoning benchmark generator.

pub mod corpus;
pub mod detect;
pub mod format;
pub mod labels;
pub mod manifest;
pub mod poison;
pub mod reader;
pub mod report;
pub mod scan;
pub mod text;

pub use format::Format;
pub use report::{Finding, FindingType, Report};
pub use scan::{Phases, ScanConfig, ScanOutput, Scanner};

/// The scanner's version, recorded in reports and manifests.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Errors of the dataset library. Per-record problems are not errors: they become
/// `MALFORMED` entries in the report and the scan goes on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The guards' detectors could not be built (a bug in a built-in pattern).
    #[error("guard detectors: {0}")]
    Guard(#[from] portcullis_guard::GuardError),
    /// The format could not be detected or does not fit the data.
    #[error("format: {0}")]
    Format(String),
    /// A manifest is malformed, its signature does not verify, or it does not match.
    #[error("manifest: {0}")]
    Manifest(String),
    /// A truth or input file for the generator is unusable.
    #[error("poison generator: {0}")]
    Poison(String),
    /// A setting is out of range.
    #[error("invalid setting: {0}")]
    Config(String),
}

impl DatasetError {
    /// An I/O error on `path`.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
