//! The signed scan manifest: what was scanned (the dataset's SHA-256 and size), by what
//! (scanner version and every setting) and with what result (the summary), signed with an
//! Ed25519 key so a change-management check can require "this exact dataset was scanned
//! and came out clean" before a model trained on it is promoted.
//!
//! The envelope is the C2SP signed note the audit log already uses
//! ([`portcullis_audit::note`]): the manifest JSON is the note's text, followed by a blank
//! line and a signature line. Keys are the audit log's key format (`portcullis audit
//! keygen` or `portcullis dataset keygen` make one), so existing tooling verifies it.

use portcullis_audit::note::{NoteSigner, NoteVerifier};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

use crate::DatasetError;

/// Manifest format identifier.
pub const MANIFEST_KIND: &str = "portcullis-dataset-scan/v1";

/// The dataset a manifest covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetId {
    /// File name (informational; the digest is what counts).
    pub name: String,
    /// SHA-256 of the file's bytes, hex.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// A scan manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`MANIFEST_KIND`].
    pub kind: String,
    /// The dataset.
    pub dataset: DatasetId,
    /// Scanner name and version.
    pub scanner: String,
    /// Every setting of the scan.
    pub settings: serde_json::Value,
    /// The scan's summary (counts per type, format, threshold).
    pub summary: serde_json::Value,
    /// Whether nothing at or above the threshold was found and every record parsed.
    pub clean: bool,
}

impl Manifest {
    /// Builds a manifest from a scan.
    pub fn from_scan(
        path: &Path,
        out: &crate::ScanOutput,
        settings: &crate::ScanConfig,
    ) -> Result<Self, DatasetError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Self {
            kind: MANIFEST_KIND.to_string(),
            dataset: DatasetId {
                name,
                sha256: out.report.sha256.clone(),
                bytes: out.bytes,
            },
            scanner: format!("portcullis-dataset {}", crate::VERSION),
            settings: serde_json::to_value(settings)
                .map_err(|e| DatasetError::Manifest(e.to_string()))?,
            summary: serde_json::to_value(&out.report.summary)
                .map_err(|e| DatasetError::Manifest(e.to_string()))?,
            clean: out.report.is_clean(),
        })
    }

    /// Signs the manifest: returns the signed note.
    pub fn sign(&self, signer: &NoteSigner) -> Result<String, DatasetError> {
        let mut text = serde_json::to_string_pretty(self)
            .map_err(|e| DatasetError::Manifest(e.to_string()))?;
        text.push('\n');
        signer
            .sign(&text)
            .map_err(|e| DatasetError::Manifest(e.to_string()))
    }

    /// Verifies a signed manifest with `verifier` and parses it.
    pub fn verify(note: &str, verifier: &NoteVerifier) -> Result<Self, DatasetError> {
        let opened = verifier
            .open(note)
            .map_err(|e| DatasetError::Manifest(format!("signature: {e}")))?;
        let m: Manifest = serde_json::from_str(opened.text())
            .map_err(|e| DatasetError::Manifest(format!("body: {e}")))?;
        if m.kind != MANIFEST_KIND {
            return Err(DatasetError::Manifest(format!(
                "unknown manifest kind {:?}",
                m.kind
            )));
        }
        Ok(m)
    }

    /// Checks that `path` is the dataset this manifest covers (digest and size).
    pub fn check_file(&self, path: &Path) -> Result<(), DatasetError> {
        let (digest, bytes) = file_sha256(path)?;
        if digest != self.dataset.sha256 || bytes != self.dataset.bytes {
            return Err(DatasetError::Manifest(format!(
                "{} does not match the manifest: sha256 {digest} ({bytes} bytes), manifest {} ({} bytes)",
                path.display(),
                self.dataset.sha256,
                self.dataset.bytes
            )));
        }
        Ok(())
    }
}

/// SHA-256 (hex) and size of a file, streamed.
pub fn file_sha256(path: &Path) -> Result<(String, u64), DatasetError> {
    let mut f = std::fs::File::open(path).map_err(|e| DatasetError::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).map_err(|e| DatasetError::io(path, e))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((hex::encode(h.finalize()), n))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            kind: MANIFEST_KIND.into(),
            dataset: DatasetId {
                name: "train.jsonl".into(),
                sha256: "ab".repeat(32),
                bytes: 42,
            },
            scanner: "portcullis-dataset test".into(),
            settings: serde_json::json!({"threshold": 0.5}),
            summary: serde_json::json!({"records": 3}),
            clean: true,
        }
    }

    #[test]
    fn sign_verify_round_trip_and_tamper() {
        let key = NoteSigner::from_seed("datasets", &[7u8; 32]).unwrap();
        let note = manifest().sign(&key).unwrap();
        let m = Manifest::verify(&note, &key.verifier()).unwrap();
        assert_eq!(m, manifest());
        let tampered = note.replace("\"clean\": true", "\"clean\": false");
        assert_ne!(tampered, note);
        assert!(Manifest::verify(&tampered, &key.verifier()).is_err());
        let other = NoteSigner::from_seed("datasets", &[8u8; 32]).unwrap();
        assert!(Manifest::verify(&note, &other.verifier()).is_err());
    }

    #[test]
    fn file_check() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.jsonl");
        std::fs::write(&p, b"hello\n").unwrap();
        let (d, n) = file_sha256(&p).unwrap();
        let mut m = manifest();
        m.dataset.sha256 = d;
        m.dataset.bytes = n;
        m.check_file(&p).unwrap();
        std::fs::write(&p, b"hellO\n").unwrap();
        assert!(m.check_file(&p).is_err());
    }
}
