//! Tampering with the log, its proofs or its checkpoints is detected: every case here
//! must fail verification.

// Test code: unwrap/expect/panic are the point of an assertion here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use portcullis_audit::checkpoint::{CheckpointError, CheckpointSigner};
use portcullis_audit::event::{body_sha256, AuditEvent, Decision, EventKind, GuardFinding};
use portcullis_audit::merkle::{leaf_hash, verify_consistency, verify_inclusion, MerkleTree};
use portcullis_audit::note::{NoteError, NoteSigner};

const ORIGIN: &str = "portcullis.example/audit";

fn event(i: u64) -> AuditEvent {
    AuditEvent {
        request_id: format!("req-{i}"),
        principal: "alice".into(),
        identity_kind: "api_key".into(),
        action: "chat.completions".into(),
        model: Some("gpt-4o-mini".into()),
        upstream: Some("openai".into()),
        decision: Some(match i % 3 {
            0 => Decision::Deny,
            _ => Decision::Allow,
        }),
        policy_ids: vec![format!("policy{}", i % 4)],
        guard_findings: vec![GuardFinding {
            kind: "pii.email".into(),
            count: i % 2,
        }],
        prompt_tokens: Some(100 + i),
        completion_tokens: Some(20),
        latency_us: Some(1_500),
        request_sha256: Some(body_sha256(format!("request {i}").as_bytes())),
        response_sha256: Some(body_sha256(b"response")),
        ..AuditEvent::new(EventKind::Request, 1_700_000_000_000 + i)
    }
}

fn log(n: u64) -> (Vec<Vec<u8>>, MerkleTree) {
    let leaves: Vec<Vec<u8>> = (0..n).map(|i| event(i).to_canonical_bytes()).collect();
    let mut tree = MerkleTree::new();
    for l in &leaves {
        tree.push(l);
    }
    (leaves, tree)
}

#[test]
fn changed_leaf_byte_fails_inclusion() {
    let (leaves, tree) = log(37);
    let root = tree.root();
    for index in [0u64, 1, 17, 36] {
        let proof = tree.inclusion_proof(index, 37).unwrap();
        let leaf = &leaves[index as usize];
        verify_inclusion(index, 37, &leaf_hash(leaf), &proof, &root).unwrap();
        for pos in [0, leaf.len() / 2, leaf.len() - 1] {
            let mut changed = leaf.clone();
            changed[pos] ^= 0x01;
            assert!(
                verify_inclusion(index, 37, &leaf_hash(&changed), &proof, &root).is_err(),
                "leaf {index} byte {pos}"
            );
        }
    }
    // A rebuilt tree with one changed byte in one leaf has a different root, and its
    // consistency with the original fails at every size past the change.
    let mut changed = leaves.clone();
    changed[10][5] ^= 0x20;
    let forged = MerkleTree::from_leaf_hashes(changed.iter().map(|l| leaf_hash(l)));
    assert_ne!(forged.root(), root);
    for old in 11..=37 {
        let proof = forged.consistency_proof(old, 37).unwrap();
        assert!(
            verify_consistency(old, 37, &tree.root_at(old).unwrap(), &forged.root(), &proof)
                .is_err()
        );
    }
}

#[test]
fn swapped_leaves_fail() {
    let (leaves, tree) = log(16);
    let root = tree.root();
    let proof5 = tree.inclusion_proof(5, 16).unwrap();
    let proof6 = tree.inclusion_proof(6, 16).unwrap();
    // Leaf 6 presented at index 5 with 5's proof, and vice versa.
    assert!(verify_inclusion(5, 16, &leaf_hash(&leaves[6]), &proof5, &root).is_err());
    assert!(verify_inclusion(6, 16, &leaf_hash(&leaves[5]), &proof6, &root).is_err());
    // A log with the two leaves swapped has a different root.
    let mut swapped = leaves.clone();
    swapped.swap(5, 6);
    let t2 = MerkleTree::from_leaf_hashes(swapped.iter().map(|l| leaf_hash(l)));
    assert_ne!(t2.root(), root);
}

#[test]
fn proof_for_a_different_leaf_fails() {
    let (leaves, tree) = log(50);
    let root = tree.root();
    for (a, b) in [(0u64, 1u64), (3, 40), (49, 48), (20, 21)] {
        let proof_b = tree.inclusion_proof(b, 50).unwrap();
        assert!(verify_inclusion(a, 50, &leaf_hash(&leaves[a as usize]), &proof_b, &root).is_err());
        assert!(verify_inclusion(b, 50, &leaf_hash(&leaves[a as usize]), &proof_b, &root).is_err());
    }
    // A proof from a different tree size fails.
    let proof_49 = tree.inclusion_proof(3, 49).unwrap();
    assert!(verify_inclusion(3, 50, &leaf_hash(&leaves[3]), &proof_49, &root).is_err());
}

#[test]
fn truncated_or_extended_proofs_fail() {
    let (leaves, tree) = log(100);
    let root = tree.root();
    let index = 42;
    let lh = leaf_hash(&leaves[index as usize]);
    let proof = tree.inclusion_proof(index, 100).unwrap();
    for cut in 0..proof.len() {
        assert!(verify_inclusion(index, 100, &lh, &proof[..cut], &root).is_err());
    }
    let mut longer = proof.clone();
    longer.push(root);
    assert!(verify_inclusion(index, 100, &lh, &longer, &root).is_err());

    let cproof = tree.consistency_proof(37, 100).unwrap();
    let old = tree.root_at(37).unwrap();
    verify_consistency(37, 100, &old, &root, &cproof).unwrap();
    for cut in 0..cproof.len() {
        assert!(verify_consistency(37, 100, &old, &root, &cproof[..cut]).is_err());
    }
}

#[test]
fn forged_checkpoint_signature_fails() {
    let key = NoteSigner::from_seed(ORIGIN, &[9; 32]).unwrap();
    let mut signer = CheckpointSigner::new(ORIGIN, key).unwrap();
    let verifier = signer.verifier();
    let (_, tree) = log(10);
    let signed = signer.sign_tree(&tree).unwrap();
    verifier.open(&signed).unwrap();

    // Flip one bit of the signature itself (inside the base64, keeping it canonical).
    let (text, sig_line) = signed.rsplit_once("\n\n").unwrap();
    let b64 = sig_line.trim_end().rsplit_once(' ').unwrap().1;
    let mut raw = B64.decode(b64).unwrap();
    raw[10] ^= 0x01;
    let forged = format!(
        "{text}\n\n{} {}\n",
        sig_line.trim_end().rsplit_once(' ').unwrap().0,
        B64.encode(&raw)
    );
    assert!(matches!(
        verifier.open(&forged),
        Err(CheckpointError::Note(NoteError::BadSignature { .. }))
    ));

    // A signature by another key under the same name is not trusted.
    let impostor = NoteSigner::from_seed(ORIGIN, &[10; 32]).unwrap();
    let mut fake = CheckpointSigner::new(ORIGIN, impostor).unwrap();
    let fake_signed = fake.sign_tree(&tree).unwrap();
    assert!(matches!(
        verifier.open(&fake_signed),
        Err(CheckpointError::Note(NoteError::NoTrustedSignature { .. }))
    ));
    // ... even if the key ID is rewritten to the real one.
    let (fake_text, fake_line) = fake_signed.rsplit_once("\n\n").unwrap();
    let mut raw = B64
        .decode(fake_line.trim_end().rsplit_once(' ').unwrap().1)
        .unwrap();
    raw[..4].copy_from_slice(&verifier.key().key_id().to_be_bytes());
    let relabeled = format!("{fake_text}\n\n— {ORIGIN} {}\n", B64.encode(&raw));
    assert!(matches!(
        verifier.open(&relabeled),
        Err(CheckpointError::Note(NoteError::BadSignature { .. }))
    ));
}

#[test]
fn checkpoint_with_changed_root_or_size_fails() {
    let key = NoteSigner::from_seed(ORIGIN, &[9; 32]).unwrap();
    let mut signer = CheckpointSigner::new(ORIGIN, key).unwrap();
    let verifier = signer.verifier();
    let (_, tree) = log(10);
    let signed = signer.sign_tree(&tree).unwrap();

    // Replace the root line with another valid root.
    let other_root = B64.encode(leaf_hash(b"other"));
    let real_root = B64.encode(tree.root());
    let changed = signed.replacen(&real_root, &other_root, 1);
    assert_ne!(changed, signed);
    assert!(matches!(
        verifier.open(&changed),
        Err(CheckpointError::Note(NoteError::BadSignature { .. }))
    ));
    // Change the size line.
    let changed = signed.replacen("\n10\n", "\n11\n", 1);
    assert!(verifier.open(&changed).is_err());
    // Change the origin.
    let changed = signed.replacen("portcullis.example", "portcullis.exampIe", 1);
    assert!(verifier.open(&changed).is_err());
    // Add an extension line.
    let changed = signed.replacen(
        &format!("{real_root}\n"),
        &format!("{real_root}\nextra\n"),
        1,
    );
    assert!(verifier.open(&changed).is_err());
}
