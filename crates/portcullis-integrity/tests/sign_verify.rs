//! Our signer against our verifier: round trips on both curves, and every tamper case of
//! issue 6 (a changed byte in any file, an added or removed file, an untrusted key, a
//! signature over a different model) is rejected with a specific error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may stop at the first failure

use std::path::Path;

use portcullis_integrity::manifest::{HashOptions, Method};
use portcullis_integrity::{
    sign_model, verify_model, Curve, Error, ModelSigningKey, VerifyOptions,
};

fn write(dir: &Path, rel: &str, content: &[u8]) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

const FILES: [&str; 5] = [
    "config.json",
    "tokenizer.json",
    "weights/model-00001-of-00002.safetensors",
    "weights/model-00002-of-00002.safetensors",
    "weights/empty",
];

fn model() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    for (i, f) in FILES.iter().enumerate() {
        let content: Vec<u8> = if f.ends_with("empty") {
            Vec::new()
        } else {
            (0..(i + 1) * 70_001).map(|j| (j * 31 + i) as u8).collect()
        };
        write(t.path(), f, &content);
    }
    write(t.path(), ".git/HEAD", b"ref: refs/heads/main\n");
    t
}

#[test]
fn round_trip_on_both_curves_and_methods() {
    let m = model();
    for curve in [Curve::P256, Curve::P384] {
        let key = ModelSigningKey::generate(curve).unwrap();
        for method in [Method::Files, Method::Shards { shard_size: 50_000 }] {
            let opts = HashOptions {
                method,
                ..HashOptions::default()
            };
            let signed = sign_model(m.path(), &key, &opts).unwrap();
            let v = verify_model(
                m.path(),
                signed.bundle.as_bytes(),
                &key.public_key(),
                &VerifyOptions::default(),
            )
            .unwrap();
            assert_eq!(v.root_digest, signed.root_digest);
            assert_eq!(v.signer_hint, key.public_key().hint());
            if method == Method::Files {
                // .git is ignored by default; the empty file is signed.
                assert_eq!(v.manifest.len(), FILES.len());
            } else {
                assert!(v.manifest.len() > FILES.len());
            }
        }
    }
}

#[test]
fn a_changed_byte_in_any_file_is_rejected() {
    let m = model();
    let key = ModelSigningKey::generate(Curve::P256).unwrap();
    let signed = sign_model(m.path(), &key, &HashOptions::default()).unwrap();
    for f in FILES {
        let path = m.path().join(f);
        let original = std::fs::read(&path).unwrap();
        let mut changed = original.clone();
        match changed.len() {
            0 => changed.push(0),
            n => changed[n / 2] ^= 0x01,
        }
        std::fs::write(&path, &changed).unwrap();
        let err = verify_model(
            m.path(),
            signed.bundle.as_bytes(),
            &key.public_key(),
            &VerifyOptions::default(),
        )
        .unwrap_err();
        match &err {
            Error::ModelMismatch(d) => {
                assert_eq!(d.changed.len(), 1, "{err}");
                assert_eq!(d.changed[0].0, f);
                assert!(d.extra.is_empty() && d.missing.is_empty());
            }
            other => panic!("{f}: {other}"),
        }
        std::fs::write(&path, &original).unwrap();
    }
    // Restored: verifies again (the test above was not failing for another reason).
    verify_model(
        m.path(),
        signed.bundle.as_bytes(),
        &key.public_key(),
        &VerifyOptions::default(),
    )
    .unwrap();
}

#[test]
fn added_and_removed_files_are_rejected() {
    let m = model();
    let key = ModelSigningKey::generate(Curve::P384).unwrap();
    let signed = sign_model(m.path(), &key, &HashOptions::default()).unwrap();
    let verify = || {
        verify_model(
            m.path(),
            signed.bundle.as_bytes(),
            &key.public_key(),
            &VerifyOptions::default(),
        )
    };
    write(m.path(), "weights/adapter.bin", b"lora");
    let err = verify().unwrap_err();
    assert!(
        matches!(&err, Error::ModelMismatch(d) if d.extra == ["weights/adapter.bin"]),
        "{err}"
    );
    // A hidden file counts too.
    std::fs::remove_file(m.path().join("weights/adapter.bin")).unwrap();
    write(m.path(), ".hidden", b"x");
    assert!(matches!(verify(), Err(Error::ModelMismatch(_))));
    std::fs::remove_file(m.path().join(".hidden")).unwrap();
    verify().unwrap();
    std::fs::remove_file(m.path().join("tokenizer.json")).unwrap();
    let err = verify().unwrap_err();
    assert!(
        matches!(&err, Error::ModelMismatch(d) if d.missing == ["tokenizer.json"]),
        "{err}"
    );
    // A renamed file is one missing and one extra.
    write(m.path(), "tokenizer.json.bak", b"x");
    let err = verify().unwrap_err();
    assert!(err.to_string().contains("missing: tokenizer.json"), "{err}");
}

#[test]
fn a_signature_by_an_untrusted_key_is_rejected() {
    let m = model();
    let signer = ModelSigningKey::generate(Curve::P256).unwrap();
    let trusted = ModelSigningKey::generate(Curve::P256).unwrap();
    let signed = sign_model(m.path(), &signer, &HashOptions::default()).unwrap();
    let err = verify_model(
        m.path(),
        signed.bundle.as_bytes(),
        &trusted.public_key(),
        &VerifyOptions::default(),
    )
    .unwrap_err();
    match err {
        Error::UntrustedKey { bundle, trusted: t } => {
            assert_eq!(bundle, signer.public_key().hint());
            assert_eq!(t, trusted.public_key().hint());
        }
        other => panic!("{other}"),
    }
    // An attacker who rewrites the hint to the trusted key's still fails the signature.
    let forged = signed
        .bundle
        .replace(&signer.public_key().hint(), &trusted.public_key().hint());
    let err = verify_model(
        m.path(),
        forged.as_bytes(),
        &trusted.public_key(),
        &VerifyOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::BadSignature), "{err}");
}

#[test]
fn a_signature_over_a_different_model_is_rejected() {
    let a = model();
    let b = tempfile::tempdir().unwrap();
    write(b.path(), "config.json", b"{}");
    write(b.path(), "weights.bin", b"other weights");
    let key = ModelSigningKey::generate(Curve::P256).unwrap();
    let sig_b = sign_model(b.path(), &key, &HashOptions::default()).unwrap();
    let err = verify_model(
        a.path(),
        sig_b.bundle.as_bytes(),
        &key.public_key(),
        &VerifyOptions::default(),
    )
    .unwrap_err();
    let Error::ModelMismatch(d) = &err else {
        panic!("{err}")
    };
    assert_eq!(d.missing, ["weights.bin"]);
    assert_eq!(d.changed.len(), 1);
}

#[test]
fn ignored_paths_are_recorded_and_honoured() {
    let m = model();
    write(m.path(), "README.md", b"notes");
    let key = ModelSigningKey::generate(Curve::P256).unwrap();
    let opts = HashOptions {
        ignore_paths: vec!["README.md".into()],
        ..HashOptions::default()
    };
    let signed = sign_model(m.path(), &key, &opts).unwrap();
    // The verifier needs no flag: the signed statement carries the ignore list.
    write(m.path(), "README.md", b"edited notes");
    verify_model(
        m.path(),
        signed.bundle.as_bytes(),
        &key.public_key(),
        &VerifyOptions::default(),
    )
    .unwrap();
    // The signed ignore list holds the git paths, so turning them off at verification
    // changes nothing.
    let err = verify_model(
        m.path(),
        signed.bundle.as_bytes(),
        &key.public_key(),
        &VerifyOptions {
            ignore_git_paths: false,
            ..VerifyOptions::default()
        },
    );
    assert!(err.is_ok(), "{err:?}");
}

#[test]
fn an_empty_model_cannot_be_signed() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), ".git/HEAD", b"x");
    let key = ModelSigningKey::generate(Curve::P256).unwrap();
    let err = sign_model(t.path(), &key, &HashOptions::default()).unwrap_err();
    assert!(err.to_string().contains("no files"), "{err}");
}

#[test]
fn ignoring_unsigned_files_still_rejects_data_appended_to_a_signed_file() {
    // With shards, bytes appended to a signed file whose size is a multiple of the shard
    // size form a new shard the signature does not list; that is a changed signed file,
    // not an unsigned one, and `ignore_unsigned_files` must not accept it.
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "weights.bin", &[7u8; 20]);
    write(t.path(), "config.json", b"{}");
    let key = ModelSigningKey::generate(Curve::P256).unwrap();
    let opts = HashOptions {
        method: Method::Shards { shard_size: 10 },
        ..HashOptions::default()
    };
    let signed = sign_model(t.path(), &key, &opts).unwrap();
    let lenient = VerifyOptions {
        ignore_unsigned_files: true,
        ..VerifyOptions::default()
    };
    let verify = || {
        verify_model(
            t.path(),
            signed.bundle.as_bytes(),
            &key.public_key(),
            &lenient,
        )
    };
    // A file the signature does not name is still accepted.
    write(t.path(), "README.md", b"notes");
    verify().unwrap();
    let mut grown = vec![7u8; 20];
    grown.extend_from_slice(b"evil!");
    write(t.path(), "weights.bin", &grown);
    let err = verify().unwrap_err();
    assert!(
        matches!(&err, Error::ModelMismatch(d) if d.extra == ["weights.bin:20:25"]),
        "{err}"
    );
}
