//! Portcullis audit log core: the pieces of a tamper-evident, append-only audit log, with
//! no database and no network.
//!
//! - [`merkle`]: the RFC 6962 / RFC 9162 §2 Merkle tree: leaf and node hashing, an
//!   incremental tree with roots for any size, inclusion and consistency proofs and their
//!   verification.
//! - [`note`]: the C2SP signed-note format with Ed25519 keys (signing, strict parsing,
//!   verification, `vkey` / `skey` strings).
//! - [`checkpoint`]: C2SP tlog-checkpoint tree heads, their verifier, and a signer that
//!   never signs two inconsistent checkpoints.
//! - [`event`]: the audit event and its canonical byte encoding, which is the leaf content.
//!
//! A log appends `event.to_canonical_bytes()` (or `event.leaf_hash()`) to a
//! [`merkle::MerkleTree`], periodically signs a checkpoint of it with a
//! [`checkpoint::CheckpointSigner`], and serves inclusion and consistency proofs that
//! anyone holding the log's verifier key can check.

#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod event;
pub mod merkle;
pub mod note;

pub use checkpoint::{Checkpoint, CheckpointError, CheckpointSigner, CheckpointVerifier};
pub use event::{AuditEvent, Decision, EventError, EventKind, GuardFinding};
pub use merkle::{Hash, MerkleError, MerkleTree};
pub use note::{NoteError, NoteSigner, NoteVerifier, SignedNote};
