//! C2SP `tlog-checkpoint` (<https://c2sp.org/tlog-checkpoint>): the signed tree head the log
//! publishes, and the signer that never signs two inconsistent ones.
//!
//! A checkpoint's note text is:
//!
//! ```text
//! <origin>
//! <tree size, decimal, no leading zeros>
//! <base64 root hash>
//! [extension lines, each non-empty]
//! ```
//!
//! wrapped in a [signed note](crate::note). Parsing is strict: exactly that shape, an
//! origin with no leading or trailing white space, a size of ASCII digits that fits a
//! `u64`, a root of exactly 32 bytes in canonical padded base64.
//!
//! [`CheckpointSigner`] enforces the spec's rule that "a log MUST not sign any checkpoint
//! which is inconsistent with any checkpoint it previously signed": it remembers the last
//! tree head it signed and refuses a smaller size, the same size with another root, or a
//! larger size without a valid consistency proof from the last one. Because consistency is
//! transitive, that covers every earlier checkpoint. After a restart, resume it from the
//! last checkpoint it published ([`CheckpointSigner::resume`]).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::merkle::{self, Hash, MerkleError, MerkleTree};
use crate::note::{self, NoteError, NoteSigner, NoteVerifier};

/// Why a checkpoint was rejected or not signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The checkpoint text is not well-formed.
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
    /// The signed note around it failed to parse or verify.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The checkpoint is for another log.
    #[error("checkpoint origin {found:?} is not the expected {expected:?}")]
    OriginMismatch {
        /// The origin expected.
        expected: String,
        /// The origin found.
        found: String,
    },
    /// Refused: the tree is smaller than one already signed.
    #[error("refusing to sign size {requested}: size {signed} was already signed")]
    Rollback {
        /// The size last signed.
        signed: u64,
        /// The size asked for.
        requested: u64,
    },
    /// Refused: same size as already signed, but a different root (a fork).
    #[error("refusing to sign size {size}: a different root was already signed at that size")]
    Fork {
        /// The size.
        size: u64,
    },
    /// Refused: the consistency proof from the last signed tree head does not verify.
    #[error(
        "refusing to sign size {requested}: not consistent with signed size {signed}: {source}"
    )]
    Inconsistent {
        /// The size last signed.
        signed: u64,
        /// The size asked for.
        requested: u64,
        /// Why the proof failed.
        source: MerkleError,
    },
    /// A Merkle tree operation failed.
    #[error(transparent)]
    Merkle(#[from] MerkleError),
}

fn check_origin(origin: &str) -> Result<(), CheckpointError> {
    if origin.is_empty() {
        return Err(CheckpointError::Malformed("empty origin"));
    }
    if origin.trim() != origin {
        return Err(CheckpointError::Malformed(
            "origin has leading or trailing white space",
        ));
    }
    if origin.chars().any(char::is_control) {
        return Err(CheckpointError::Malformed("origin has a control character"));
    }
    Ok(())
}

fn check_extension(line: &str) -> Result<(), CheckpointError> {
    if line.is_empty() {
        return Err(CheckpointError::Malformed("empty extension line"));
    }
    if line.chars().any(char::is_control) {
        return Err(CheckpointError::Malformed(
            "extension line has a control character",
        ));
    }
    Ok(())
}

/// Parses a tree size: ASCII digits, no sign, no leading zeros (except `0` itself).
fn parse_size(s: &str) -> Result<u64, CheckpointError> {
    let digits_ok = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits_ok || (s.len() > 1 && s.starts_with('0')) {
        return Err(CheckpointError::Malformed(
            "tree size must be a decimal number without leading zeros",
        ));
    }
    s.parse()
        .map_err(|_| CheckpointError::Malformed("tree size does not fit in 64 bits"))
}

/// A log's tree head: origin, size, root hash and optional extension lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
    extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Self, CheckpointError> {
        check_origin(origin)?;
        Ok(Self {
            origin: origin.to_string(),
            size,
            root,
            extensions: Vec::new(),
        })
    }

    /// The same checkpoint with these extension lines (each non-empty, no newlines).
    pub fn with_extensions(mut self, extensions: Vec<String>) -> Result<Self, CheckpointError> {
        for line in &extensions {
            check_extension(line)?;
        }
        self.extensions = extensions;
        Ok(self)
    }

    /// The log's origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tree size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash.
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// The extension lines.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The note text: origin, size, base64 root and extension lines, each ending in `\n`.
    pub fn to_note_text(&self) -> String {
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        for line in &self.extensions {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// Parses a checkpoint's note text strictly (see the module docs). Does not check any
    /// signature: use [`CheckpointVerifier::open`] on a signed checkpoint.
    pub fn from_note_text(text: &str) -> Result<Self, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::Malformed("text does not end in a newline"))?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(CheckpointError::Malformed("fewer than three lines"));
        };
        let size = parse_size(size)?;
        let root: Hash = note::decode_base64_strict(root)
            .and_then(|b| b.try_into().ok())
            .ok_or(CheckpointError::Malformed(
                "root hash must be 32 bytes in canonical base64",
            ))?;
        Checkpoint::new(origin, size, root)?.with_extensions(lines.map(str::to_string).collect())
    }
}

/// Checks signed checkpoints of one log: its origin and its key.
#[derive(Debug, Clone)]
pub struct CheckpointVerifier {
    origin: String,
    key: NoteVerifier,
}

impl CheckpointVerifier {
    /// A verifier for the log `origin` signing with `key`.
    pub fn new(origin: &str, key: NoteVerifier) -> Result<Self, CheckpointError> {
        check_origin(origin)?;
        Ok(Self {
            origin: origin.to_string(),
            key,
        })
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The log's key.
    pub fn key(&self) -> &NoteVerifier {
        &self.key
    }

    /// Verifies a signed checkpoint (signature by the log's key, strict form, expected
    /// origin) and returns it.
    pub fn open(&self, signed: &str) -> Result<Checkpoint, CheckpointError> {
        let note = self.key.open(signed)?;
        let checkpoint = Checkpoint::from_note_text(note.text())?;
        if checkpoint.origin != self.origin {
            return Err(CheckpointError::OriginMismatch {
                expected: self.origin.clone(),
                found: checkpoint.origin,
            });
        }
        Ok(checkpoint)
    }

    /// Verifies a signed checkpoint and that it extends `older` (a checkpoint already
    /// trusted) by the consistency `proof`; returns the newer checkpoint.
    pub fn open_consistent(
        &self,
        signed: &str,
        older: &Checkpoint,
        proof: &[Hash],
    ) -> Result<Checkpoint, CheckpointError> {
        let newer = self.open(signed)?;
        check_consistent(older.size, &older.root, &newer, proof)?;
        Ok(newer)
    }
}

/// The refusal rules shared by the signer and the verifier.
fn check_consistent(
    signed_size: u64,
    signed_root: &Hash,
    next: &Checkpoint,
    proof: &[Hash],
) -> Result<(), CheckpointError> {
    if next.size < signed_size {
        return Err(CheckpointError::Rollback {
            signed: signed_size,
            requested: next.size,
        });
    }
    if next.size == signed_size && next.root != *signed_root {
        return Err(CheckpointError::Fork { size: next.size });
    }
    merkle::verify_consistency(signed_size, next.size, signed_root, &next.root, proof).map_err(
        |source| CheckpointError::Inconsistent {
            signed: signed_size,
            requested: next.size,
            source,
        },
    )
}

/// Signs checkpoints for one log, refusing any that is inconsistent with the last one it
/// signed (see the module docs).
#[derive(Debug)]
pub struct CheckpointSigner {
    origin: String,
    key: NoteSigner,
    /// Size and root of the last checkpoint signed (or resumed from).
    last: Option<(u64, Hash)>,
}

impl CheckpointSigner {
    /// A signer for a log that has signed nothing yet. The spec recommends the key name be
    /// the origin; this is not enforced.
    pub fn new(origin: &str, key: NoteSigner) -> Result<Self, CheckpointError> {
        check_origin(origin)?;
        Ok(Self {
            origin: origin.to_string(),
            key,
            last: None,
        })
    }

    /// A signer that continues from `last_signed`, the last checkpoint this log published
    /// (verified with the signer's own key and origin).
    pub fn resume(
        origin: &str,
        key: NoteSigner,
        last_signed: &str,
    ) -> Result<Self, CheckpointError> {
        let mut signer = Self::new(origin, key)?;
        let last = signer.verifier().open(last_signed)?;
        signer.last = Some((last.size, last.root));
        Ok(signer)
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Takes over from another signer of the same log (another replica that held the
    /// sequencer role): `note`, which must verify under this signer's key and origin,
    /// becomes the last signed tree head when it is larger than this signer's own. The
    /// next signature then has to be consistent with it.
    pub fn adopt(&mut self, note: &str) -> Result<(), CheckpointError> {
        let c = self.verifier().open(note)?;
        if self.last.is_none_or(|(size, _)| c.size > size) {
            self.last = Some((c.size, c.root));
        }
        Ok(())
    }

    /// The verifier for this signer's checkpoints.
    pub fn verifier(&self) -> CheckpointVerifier {
        CheckpointVerifier {
            origin: self.origin.clone(),
            key: self.key.verifier(),
        }
    }

    /// Size and root of the last checkpoint signed, if any.
    pub fn last_signed(&self) -> Option<(u64, Hash)> {
        self.last
    }

    /// Signs `checkpoint`, given the consistency proof from the last signed tree head to it
    /// (empty for the first checkpoint or the same size). Returns the signed note.
    pub fn sign(
        &mut self,
        checkpoint: &Checkpoint,
        consistency_proof: &[Hash],
    ) -> Result<String, CheckpointError> {
        if checkpoint.origin != self.origin {
            return Err(CheckpointError::OriginMismatch {
                expected: self.origin.clone(),
                found: checkpoint.origin.clone(),
            });
        }
        let (size, root) = self.last.unwrap_or((0, merkle::empty_root()));
        check_consistent(size, &root, checkpoint, consistency_proof)?;
        let signed = self.key.sign(&checkpoint.to_note_text())?;
        self.last = Some((checkpoint.size, checkpoint.root));
        Ok(signed)
    }

    /// Signs a checkpoint of `tree` at its current size, proving consistency from the last
    /// signed tree head with the tree itself (so a tree that diverged from it is refused).
    pub fn sign_tree(&mut self, tree: &MerkleTree) -> Result<String, CheckpointError> {
        let checkpoint = Checkpoint::new(&self.origin, tree.size(), tree.root())?;
        let old_size = self.last.map_or(0, |(size, _)| size);
        let proof = if old_size <= tree.size() {
            tree.consistency_proof(old_size, tree.size())?
        } else {
            Vec::new() // a rollback; `sign` refuses it
        };
        self.sign(&checkpoint, &proof)
    }
}
