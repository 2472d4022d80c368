//! Checkpoint format, verification, and the signer's refusal to sign inconsistent trees.

// Test code: unwrap/expect/panic are the point of an assertion here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_audit::checkpoint::{
    Checkpoint, CheckpointError, CheckpointSigner, CheckpointVerifier,
};
use portcullis_audit::merkle::{empty_root, leaf_hash, Hash, MerkleTree};
use portcullis_audit::note::{NoteError, NoteSigner, SignedNote};

const ORIGIN: &str = "portcullis.example/audit";

fn signer() -> CheckpointSigner {
    let key = NoteSigner::from_seed(ORIGIN, &[42; 32]).unwrap();
    CheckpointSigner::new(ORIGIN, key).unwrap()
}

fn tree(n: u64) -> MerkleTree {
    let mut t = MerkleTree::new();
    for i in 0..n {
        t.push(format!("event {i}").as_bytes());
    }
    t
}

#[test]
fn spec_example_text_parses_and_round_trips() {
    // C2SP tlog-checkpoint.md example body.
    let text =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    let c = Checkpoint::from_note_text(text).unwrap();
    assert_eq!(c.origin(), "example.com/behind-the-sofa");
    assert_eq!(c.size(), 20852163);
    assert!(c.extensions().is_empty());
    assert_eq!(c.to_note_text(), text);
    // And the full signed example is a well-formed note.
    let signed = format!("{text}\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n");
    let note = SignedNote::parse(&signed).unwrap();
    assert_eq!(note.text(), text);
}

#[test]
fn extensions_round_trip() {
    let c = Checkpoint::new(ORIGIN, 7, leaf_hash(b"x"))
        .unwrap()
        .with_extensions(vec!["ext one".into(), "two".into()])
        .unwrap();
    let text = c.to_note_text();
    assert!(text.ends_with("\next one\ntwo\n"));
    assert_eq!(Checkpoint::from_note_text(&text).unwrap(), c);
    assert!(Checkpoint::new(ORIGIN, 1, [0; 32])
        .unwrap()
        .with_extensions(vec![String::new()])
        .is_err());
    assert!(Checkpoint::new(ORIGIN, 1, [0; 32])
        .unwrap()
        .with_extensions(vec!["a\nb".into()])
        .is_err());
}

#[test]
fn malformed_texts_are_rejected() {
    let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
    let bad = [
        String::new(),
        "origin\n5\n".to_string(),
        format!("origin\n5\n{root}"),    // no final newline
        format!("\n5\n{root}\n"),        // empty origin
        format!(" origin\n5\n{root}\n"), // leading space
        format!("origin \n5\n{root}\n"), // trailing space
        format!("origin\n05\n{root}\n"), // leading zero
        format!("origin\n+5\n{root}\n"), // sign
        format!("origin\n 5\n{root}\n"), // space
        format!("origin\n5 \n{root}\n"), // space
        format!("origin\n-1\n{root}\n"), // negative
        format!("origin\n18446744073709551616\n{root}\n"), // 2^64
        format!("origin\n0x5\n{root}\n"),
        format!("origin\n5\n{root} \n"), // trailing space on root
        format!("origin\n5\n {root}\n"),
        "origin\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n".to_string(), // unpadded
        "origin\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n".to_string(), // non-canonical
        "origin\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jx\n".to_string(),    // short
        format!("origin\n5\n{root}\n\n"), // empty extension line
        format!("origin\n5\n{root}\next\n\n"),
    ];
    for text in bad {
        assert!(
            matches!(
                Checkpoint::from_note_text(&text),
                Err(CheckpointError::Malformed(_))
            ),
            "accepted {text:?}"
        );
    }
    assert_eq!(
        Checkpoint::from_note_text(&format!("o\n18446744073709551615\n{root}\n"))
            .unwrap()
            .size(),
        u64::MAX
    );
    assert_eq!(
        Checkpoint::from_note_text(&format!("o\n0\n{root}\n"))
            .unwrap()
            .size(),
        0
    );
}

#[test]
fn sign_and_open_round_trip() {
    let mut s = signer();
    let t = tree(10);
    let signed = s.sign_tree(&t).unwrap();
    let v = s.verifier();
    let c = v.open(&signed).unwrap();
    assert_eq!(c.origin(), ORIGIN);
    assert_eq!(c.size(), 10);
    assert_eq!(c.root(), &t.root());
    assert_eq!(s.last_signed(), Some((10, t.root())));

    // Published verifier key string round trip.
    let vkey = v.key().to_vkey();
    assert!(vkey.starts_with(&format!("{ORIGIN}+")));
    let v2 = CheckpointVerifier::new(
        ORIGIN,
        portcullis_audit::note::NoteVerifier::from_vkey(&vkey).unwrap(),
    )
    .unwrap();
    assert_eq!(v2.open(&signed).unwrap(), c);

    // Another log's verifier (other origin) refuses it.
    let other = CheckpointVerifier::new("other.example/log", v.key().clone()).unwrap();
    assert!(matches!(
        other.open(&signed),
        Err(CheckpointError::OriginMismatch { .. })
    ));
}

#[test]
fn signer_follows_a_growing_tree() {
    let mut s = signer();
    let v = s.verifier();
    let mut t = MerkleTree::new();
    // The empty tree can be signed first.
    let signed = s.sign_tree(&t).unwrap();
    let mut prev = v.open(&signed).unwrap();
    assert_eq!(prev.root(), &empty_root());
    for step in [1u64, 1, 2, 5, 0, 13, 64] {
        for i in 0..step {
            t.push(&i.to_be_bytes());
        }
        let signed = s.sign_tree(&t).unwrap();
        // A client holding `prev` checks the new checkpoint and the consistency proof.
        let proof = t.consistency_proof(prev.size(), t.size()).unwrap();
        let next = v.open_consistent(&signed, &prev, &proof).unwrap();
        assert_eq!(next.size(), t.size());
        prev = next;
    }
}

#[test]
fn signer_refuses_rollback_fork_and_bad_proofs() {
    let mut s = signer();
    let t = tree(20);
    s.sign_tree(&t).unwrap();
    let root20 = t.root();

    // Smaller size.
    let smaller = Checkpoint::new(ORIGIN, 19, t.root_at(19).unwrap()).unwrap();
    assert!(matches!(
        s.sign(&smaller, &[]),
        Err(CheckpointError::Rollback {
            signed: 20,
            requested: 19
        })
    ));
    assert!(matches!(
        s.sign_tree(&tree(5)),
        Err(CheckpointError::Rollback { .. })
    ));

    // Same size, different root: a fork.
    let fork = Checkpoint::new(ORIGIN, 20, leaf_hash(b"fork")).unwrap();
    assert!(matches!(
        s.sign(&fork, &[]),
        Err(CheckpointError::Fork { size: 20 })
    ));

    // Same size and root: fine (re-signing the same head), but only with an empty proof.
    let same = Checkpoint::new(ORIGIN, 20, root20).unwrap();
    s.sign(&same, &[]).unwrap();
    assert!(s.sign(&same, &[root20]).is_err());

    // Larger size with a missing, wrong or truncated proof.
    let mut t30 = t.clone();
    for i in 20..30u64 {
        t30.push(&i.to_be_bytes());
    }
    let c30 = Checkpoint::new(ORIGIN, 30, t30.root()).unwrap();
    let good = t30.consistency_proof(20, 30).unwrap();
    assert!(matches!(
        s.sign(&c30, &[]),
        Err(CheckpointError::Inconsistent { .. })
    ));
    assert!(matches!(
        s.sign(&c30, &good[..good.len() - 1]),
        Err(CheckpointError::Inconsistent { .. })
    ));
    let mut wrong = good.clone();
    wrong[0][0] ^= 1;
    assert!(matches!(
        s.sign(&c30, &wrong),
        Err(CheckpointError::Inconsistent { .. })
    ));

    // A tree that rewrote history (different leaf 3) is refused even though it is larger.
    let mut rewritten = MerkleTree::new();
    for i in 0..30u64 {
        if i == 3 {
            rewritten.push(b"rewritten");
        } else if i < 20 {
            rewritten.push(format!("event {i}").as_bytes());
        } else {
            rewritten.push(&i.to_be_bytes());
        }
    }
    assert!(matches!(
        s.sign_tree(&rewritten),
        Err(CheckpointError::Inconsistent { .. })
    ));
    // The refusals changed nothing: the honest extension still signs.
    assert_eq!(s.last_signed(), Some((20, root20)));
    s.sign(&c30, &good).unwrap();
    assert_eq!(s.last_signed(), Some((30, t30.root())));

    // Wrong origin.
    let foreign = Checkpoint::new("other.example/log", 30, t30.root()).unwrap();
    assert!(matches!(
        s.sign(&foreign, &[]),
        Err(CheckpointError::OriginMismatch { .. })
    ));
}

#[test]
fn first_checkpoint_needs_no_proof_but_empty_tree_root_must_be_real() {
    let mut s = signer();
    let bogus_empty = Checkpoint::new(ORIGIN, 0, leaf_hash(b"not empty")).unwrap();
    assert!(s.sign(&bogus_empty, &[]).is_err());
    let c = Checkpoint::new(ORIGIN, 5, tree(5).root()).unwrap();
    s.sign(&c, &[]).unwrap();
}

#[test]
fn resume_continues_the_consistency_rule() {
    let key = NoteSigner::from_seed(ORIGIN, &[42; 32]).unwrap();
    let mut s = CheckpointSigner::new(ORIGIN, key.clone()).unwrap();
    let t = tree(8);
    let last = s.sign_tree(&t).unwrap();

    // After a restart, the signer resumes from the last published checkpoint.
    let mut resumed = CheckpointSigner::resume(ORIGIN, key, &last).unwrap();
    assert_eq!(resumed.last_signed(), Some((8, t.root())));
    assert!(matches!(
        resumed.sign_tree(&tree(7)),
        Err(CheckpointError::Rollback { .. })
    ));
    resumed.sign_tree(&tree(9)).unwrap();

    // A checkpoint signed by someone else cannot seed the signer.
    let other = NoteSigner::from_seed(ORIGIN, &[43; 32]).unwrap();
    let mut foreign = CheckpointSigner::new(ORIGIN, other.clone()).unwrap();
    let foreign_last = foreign.sign_tree(&t).unwrap();
    let key = NoteSigner::from_seed(ORIGIN, &[42; 32]).unwrap();
    assert!(matches!(
        CheckpointSigner::resume(ORIGIN, key, &foreign_last),
        Err(CheckpointError::Note(NoteError::NoTrustedSignature { .. }))
    ));
}

#[test]
fn verifier_open_consistent_rejects_a_forked_view() {
    let mut s = signer();
    let v = s.verifier();
    let t = tree(12);
    let signed12 = s.sign_tree(&t).unwrap();
    let c12 = v.open(&signed12).unwrap();

    // A client that (wrongly) trusted a different size-8 head sees the inconsistency.
    let fake_old = Checkpoint::new(ORIGIN, 8, leaf_hash(b"other history")).unwrap();
    let proof = t.consistency_proof(8, 12).unwrap();
    assert!(matches!(
        v.open_consistent(&signed12, &fake_old, &proof),
        Err(CheckpointError::Inconsistent { .. })
    ));
    let real_old = Checkpoint::new(ORIGIN, 8, t.root_at(8).unwrap()).unwrap();
    assert_eq!(
        v.open_consistent(&signed12, &real_old, &proof).unwrap(),
        c12
    );
    let _: Hash = *c12.root();
}
