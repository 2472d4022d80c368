//! Property tests for the audit log's parsers of untrusted input: signed notes, checkpoint
//! bodies and verifier keys come from files and HTTP responses an attacker may control.
//! No input makes a parser panic, a note that parses prints back byte for byte (the
//! parser is strict, so two encodings never stand for one note), and no single-byte
//! change to a signed checkpoint gets past verification.

// Test code: unwrap/expect/panic are the point of an assertion here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_audit::checkpoint::{Checkpoint, CheckpointSigner};
use portcullis_audit::note::{NoteSigner, NoteVerifier, SignedNote};
use proptest::prelude::*;

const ORIGIN: &str = "portcullis.example/audit";

/// The first checkpoint of a new log (size 0), signed by its checkpoint signer.
fn first_checkpoint() -> (String, CheckpointSigner) {
    let key = NoteSigner::from_seed(ORIGIN, &[42; 32]).unwrap();
    let mut signer = CheckpointSigner::new(ORIGIN, key).unwrap();
    let cp = Checkpoint::new(ORIGIN, 0, portcullis_audit::merkle::empty_root()).unwrap();
    let note = signer.sign(&cp, &[]).unwrap();
    (note, signer)
}

/// A signed note over a checkpoint body with any size and root (signed with the note key
/// directly, as a log's signer would after checking consistency).
fn signed_body(size: u64, root: [u8; 32]) -> (String, NoteVerifier) {
    let key = NoteSigner::from_seed(ORIGIN, &[42; 32]).unwrap();
    let cp = Checkpoint::new(ORIGIN, size, root).unwrap();
    (key.sign(&cp.to_note_text()).unwrap(), key.verifier())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_note_parser_never_panics_on_bytes(b in proptest::collection::vec(any::<u8>(), 0..700)) {
        let _ = SignedNote::parse_bytes(&b);
    }

    #[test]
    fn a_note_that_parses_prints_back_unchanged(
        lines in proptest::collection::vec("[a-z0-9./ ]{1,20}", 1..4),
        sigs in proptest::collection::vec(("[a-z.]{1,10}", proptest::collection::vec(any::<u8>(), 5..70)), 1..3),
        junk in "[a-z=\n —]{0,3}",
        at in any::<prop::sample::Index>(),
    ) {
        use base64::Engine as _;
        let mut note = String::new();
        for l in &lines {
            note.push_str(l);
            note.push('\n');
        }
        note.push('\n');
        for (name, sig) in &sigs {
            let b64 = base64::engine::general_purpose::STANDARD.encode(sig);
            note.push_str(&format!("— {name} {b64}\n"));
        }
        // Well formed: parses, prints back unchanged.
        let parsed = SignedNote::parse(&note).unwrap();
        prop_assert_eq!(parsed.to_string(), note.clone());
        // With a little junk inserted anywhere: refused, or printed back unchanged.
        let mut i = at.index(note.len() + 1);
        while !note.is_char_boundary(i) {
            i -= 1;
        }
        note.insert_str(i, &junk);
        if let Ok(n) = SignedNote::parse(&note) {
            prop_assert_eq!(n.to_string(), note);
        }
    }

    #[test]
    fn checkpoint_bodies_and_keys_never_panic(s in "\\PC{0,200}(\n\\PC{0,60}){0,5}") {
        let _ = Checkpoint::from_note_text(&s);
        let _ = NoteVerifier::from_vkey(&s);
    }

    #[test]
    fn any_one_byte_change_to_a_signed_checkpoint_is_refused(
        size in 0u64..1 << 40,
        root in any::<[u8; 32]>(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let (note, verifier) = signed_body(size, root);
        // The untouched note verifies, and its body is the checkpoint signed.
        let opened = verifier.open(&note).unwrap();
        prop_assert_eq!(Checkpoint::from_note_text(opened.text()).unwrap().size(), size);
        let mut bytes = note.into_bytes();
        let i = at.index(bytes.len());
        bytes[i] ^= flip;
        if let Ok(changed) = String::from_utf8(bytes) {
            prop_assert!(
                verifier.open(&changed).is_err(),
                "byte {} changed and the note still verifies:\n{}", i, changed
            );
        }
    }
}

#[test]
fn every_one_byte_change_to_a_first_checkpoint_is_refused() {
    // Every single-byte change of a real first checkpoint (size 0), exhaustively.
    let (note, signer) = first_checkpoint();
    let verifier = signer.verifier();
    verifier.open(&note).unwrap();
    for i in 0..note.len() {
        for flip in [0x01u8, 0x20, 0x80] {
            let mut bytes = note.clone().into_bytes();
            bytes[i] ^= flip;
            if let Ok(changed) = String::from_utf8(bytes) {
                assert!(
                    verifier.open(&changed).is_err(),
                    "byte {i} ^ {flip:#x} still verifies"
                );
            }
        }
    }
}
