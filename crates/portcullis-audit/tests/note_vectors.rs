//! Signed-note tests. Known answers are Go's published vectors from golang/mod
//! `sumdb/note/note_test.go` (`TestNewVerifier`, `TestNewSigner`, `TestSign`, `TestOpen`):
//! the `PeterNeumann` and `EnochRoot` keys, and their signatures of the same text. The
//! spec examples are from C2SP/C2SP `signed-note.md` and `tlog-checkpoint.md`.

// Test code: unwrap/expect/panic are the point of an assertion here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_audit::note::{
    key_id, NoteError, NoteSignature, NoteSigner, NoteVerifier, SignedNote, ALG_ED25519,
    MAX_SIGNATURES,
};
use secrecy::ExposeSecret;

const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
const PETER_SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

#[test]
fn go_vkey_and_skey_parse_and_agree() {
    let verifier = NoteVerifier::from_vkey(PETER_VKEY).unwrap();
    assert_eq!(verifier.name(), "PeterNeumann");
    assert_eq!(verifier.key_id(), 0xc74f20a3);
    assert_eq!(verifier.to_vkey(), PETER_VKEY);
    assert_eq!(
        key_id(
            "PeterNeumann",
            ALG_ED25519,
            verifier.verifying_key().as_bytes()
        ),
        0xc74f20a3
    );

    let signer = NoteSigner::from_skey(PETER_SKEY).unwrap();
    assert_eq!(signer.name(), "PeterNeumann");
    assert_eq!(signer.key_id(), 0xc74f20a3);
    assert_eq!(signer.verifier(), verifier);
    assert_eq!(signer.to_skey().expose_secret(), PETER_SKEY);
    // The secret never shows in Debug output.
    assert!(!format!("{signer:?}").contains("AYEKF"));
}

#[test]
fn go_sign_known_answer() {
    // Ed25519 is deterministic, so this is byte-for-byte Go's TestSign output.
    let signer = NoteSigner::from_skey(PETER_SKEY).unwrap();
    assert_eq!(signer.sign(TEXT).unwrap(), format!("{TEXT}\n{PETER_SIG}"));
    // Re-signing replaces the key's earlier signature.
    let mut note = SignedNote::parse(&format!("{TEXT}\n{PETER_SIG}")).unwrap();
    note.add_signature(&signer).unwrap();
    assert_eq!(note.to_string(), format!("{TEXT}\n{PETER_SIG}"));
    // Bad texts are refused.
    assert!(matches!(signer.sign("abc"), Err(NoteError::Malformed(_))));
    assert!(matches!(
        signer.sign("a\u{1}b\n"),
        Err(NoteError::Malformed(_))
    ));
}

#[test]
fn go_open_known_answer() {
    let peter = NoteVerifier::from_vkey(PETER_VKEY).unwrap();
    let enoch = NoteVerifier::from_vkey(ENOCH_VKEY).unwrap();
    let msg = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");

    let note = peter.open(&msg).unwrap();
    assert_eq!(note.text(), TEXT);
    assert_eq!(note.signatures().len(), 2);
    assert_eq!(note.signatures()[0].name, "PeterNeumann");
    assert_eq!(note.signatures()[0].key_id, 0xc74f20a3);
    assert_eq!(note.signatures()[1].name, "EnochRoot");
    assert_eq!(note.signatures()[1].key_id, 0xaf0cfe78);
    enoch.open(&msg).unwrap();
    assert_eq!(note.to_string(), msg);

    // A key that did not sign: rejected, even though other signatures are valid.
    let other = NoteSigner::from_seed("PeterNeumann", &[7; 32]).unwrap();
    assert!(matches!(
        other.verifier().open(&msg),
        Err(NoteError::NoTrustedSignature { .. })
    ));

    // Invalid signature from the trusted key (Go: peterSig[:60] + "ABCD" + peterSig[60:]).
    let bad = format!("{TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
    assert!(matches!(
        peter.open(&bad),
        Err(NoteError::BadSignature { .. })
    ));
    // ... and a bad duplicate next to a good one still fails.
    assert!(matches!(
        peter.open(&format!(
            "{TEXT}\n{PETER_SIG}{}ABCD{}",
            &PETER_SIG[..60],
            &PETER_SIG[60..]
        )),
        Err(NoteError::BadSignature { .. })
    ));

    // Too many signatures.
    let many = format!("{TEXT}\n{}", PETER_SIG.repeat(MAX_SIGNATURES + 1));
    assert!(matches!(peter.open(&many), Err(NoteError::Malformed(_))));
    let enough = format!("{TEXT}\n{}", PETER_SIG.repeat(16));
    peter.open(&enough).unwrap();
}

#[test]
fn go_bad_messages_are_malformed() {
    let peter = NoteVerifier::from_vkey(PETER_VKEY).unwrap();
    let bad_messages = [
        // From Go's TestOpen badMsgs.
        TEXT.to_string(),
        format!("{TEXT}\n"),
        format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
        format!("\u{1}{TEXT}\n{PETER_SIG}"),
        format!("{TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="),
        format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
        // Extra whitespace anywhere in the signature block.
        format!("{TEXT}\n{}", PETER_SIG.replacen("— ", "—  ", 1)),
        format!("{TEXT}\n{}", PETER_SIG.replacen("Neumann ", "Neumann  ", 1)),
        format!("{TEXT}\n{}", PETER_SIG.replacen("=\n", "= \n", 1)),
        format!("{TEXT}\n {PETER_SIG}"),
        format!("{TEXT}\n{PETER_SIG}\n"),
        format!("{TEXT}\n{}", PETER_SIG.replacen('\n', "\r\n", 1)),
        format!("{TEXT}\n{}", PETER_SIG.replacen("— ", "-- ", 1)),
        // Base64 without padding, and with a non-canonical last character.
        format!("{TEXT}\n{}", PETER_SIG.replacen("=\n", "\n", 1)),
        format!("{TEXT}\n{}", PETER_SIG.replacen("AM=\n", "AN=\n", 1)),
        // A signature with only a key ID.
        format!("{TEXT}\n— PeterNeumann x08gow==\n"),
    ];
    for msg in bad_messages {
        assert!(
            matches!(peter.open(&msg), Err(NoteError::Malformed(_))),
            "accepted: {msg:?}"
        );
    }
    // Not UTF-8.
    let mut bytes = vec![0xff];
    bytes.extend_from_slice(format!("{TEXT}\n{PETER_SIG}").as_bytes());
    assert!(matches!(
        SignedNote::parse_bytes(&bytes),
        Err(NoteError::Malformed(_))
    ));
}

#[test]
fn go_key_manglings_are_rejected() {
    // Go's TestNewVerifier / TestNewSigner: every proper substring and every one-byte
    // change of the key string fails.
    for (key, parse) in [
        (
            PETER_VKEY,
            (|k: &str| NoteVerifier::from_vkey(k).is_ok()) as fn(&str) -> bool,
        ),
        (PETER_SKEY, |k: &str| NoteSigner::from_skey(k).is_ok()),
    ] {
        let b = key.as_bytes();
        for i in 0..=b.len() {
            for j in i + 1..=b.len() {
                if i == 0 && j == b.len() {
                    continue;
                }
                let sub = &key[i..j];
                assert!(!parse(sub), "accepted substring {sub:?}");
            }
        }
        for i in 0..b.len() {
            let mut m = b.to_vec();
            m[i] = m[i].wrapping_add(1);
            if let Ok(s) = std::str::from_utf8(&m) {
                assert!(!parse(s), "accepted mangled key {s:?}");
            }
        }
        assert!(parse(key));
    }
    // Wrong key length and unknown algorithm, with adjusted key IDs (Go's badKey cases).
    assert!(NoteVerifier::from_vkey(
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
    )
    .is_err());
    assert_eq!(
        NoteVerifier::from_vkey(
            "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        ),
        Err(NoteError::UnsupportedAlgorithm(0x65))
    );
    // Upper-case key ID hex is not the canonical form.
    assert!(NoteVerifier::from_vkey(&PETER_VKEY.replace("c74f20a3", "C74F20A3")).is_err());
}

#[test]
fn round_trip_with_generated_key() {
    let signer = NoteSigner::generate("audit.example/log").unwrap();
    let verifier = NoteVerifier::from_vkey(&signer.verifier().to_vkey()).unwrap();
    assert_eq!(verifier, signer.verifier());
    let text = "line one\n\nline three after an empty line\n";
    let signed = signer.sign(text).unwrap();
    let note = verifier.open(&signed).unwrap();
    assert_eq!(note.text(), text);

    // Cosigned by a second key: both verify, each ignoring the other's signature.
    let witness = NoteSigner::generate("witness.example").unwrap();
    let mut note = SignedNote::parse(&signed).unwrap();
    note.add_signature(&witness).unwrap();
    let both = note.to_string();
    verifier.open(&both).unwrap();
    witness.verifier().open(&both).unwrap();

    // Changing one character of the text breaks the signature.
    let tampered = signed.replacen("one", "One", 1);
    assert!(matches!(
        verifier.open(&tampered),
        Err(NoteError::BadSignature { .. })
    ));

    // A signature line with the right name but another key ID is ignored (unknown key).
    let sig = signer.sign_line(text).unwrap();
    let forged = NoteSignature {
        key_id: sig.key_id ^ 1,
        ..sig
    };
    let msg = format!("{text}\n{}\n", forged.to_line());
    assert!(matches!(
        verifier.open(&msg),
        Err(NoteError::NoTrustedSignature { .. })
    ));
}

#[test]
fn invalid_key_names_are_refused() {
    for name in ["", "a b", "a+b", "tab\tname", "nbsp\u{a0}name"] {
        assert!(matches!(
            NoteSigner::from_seed(name, &[1; 32]),
            Err(NoteError::InvalidKeyName(_))
        ));
    }
}

#[test]
fn spec_examples_parse() {
    // C2SP signed-note.md: the text contains an empty line; the signatures follow the last.
    let msg = "Ognuno sta solo sul cuor della terra\n\
               trafitto da un raggio di sole:\n\
               \n\
               ed è subito sera.\n\
               \n\
               — quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";
    let note = SignedNote::parse(msg).unwrap();
    assert_eq!(
        note.text(),
        "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n"
    );
    assert_eq!(note.signatures().len(), 1);
    assert_eq!(note.signatures()[0].name, "quasimodo.example/salvatore");
    assert_eq!(note.to_string(), msg);
}
