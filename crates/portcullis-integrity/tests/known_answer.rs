//! Known answers: signatures made by the Python reference implementation (upstream
//! fixtures from sigstore/model-transparency, see `testdata/upstream/README.md`) verify,
//! and every alteration of them is rejected.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may stop at the first failure

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use portcullis_integrity::signing::verify_bundle;
use portcullis_integrity::{
    verify_model, Curve, Error, ModelPublicKey, ModelSigningKey, VerifyOptions,
};
use serde_json::Value;

fn upstream() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/upstream")
}

fn upstream_key() -> ModelPublicKey {
    ModelPublicKey::from_pem_file(&upstream().join("signing-key-pub.pem")).unwrap()
}

fn v110() -> (PathBuf, Vec<u8>) {
    let dir = upstream().join("v1.1.0-elliptic-key");
    let sig = std::fs::read(dir.join("model.sig")).unwrap();
    (dir, sig)
}

/// Copies a fixture model to a scratch directory (tests must not alter testdata).
fn scratch_copy(dir: &Path) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), t.path().join(e.file_name())).unwrap();
    }
    t
}

#[test]
fn upstream_v1_1_0_p384_signature_verifies() {
    let key = upstream_key();
    assert_eq!(key.curve(), Curve::P384);
    // Our SPKI PEM hashes to the hint the Python signer wrote into the bundle.
    assert_eq!(
        key.hint(),
        "e8450dec4eb99dae995da9af1bc2cc9f76ed669ee2e744f57abba763df3e3f8e"
    );
    let (dir, sig) = v110();
    let v = verify_model(&dir, &sig, &key, &VerifyOptions::default()).unwrap();
    assert_eq!(v.model_name, "v1.1.0-elliptic-key");
    assert_eq!(
        v.root_digest,
        "92745110b1ab4368471cbe31664e10174e954b113a3df333db860317b2c6dec4"
    );
    let names: Vec<String> = v.manifest.items.keys().map(|k| k.name()).collect();
    assert_eq!(names, ["signme-1", "signme-2"]);
    // The signed ignore list (model.sig, ignore-me, git paths) was honoured: both of
    // those files are in the directory.
    assert!(dir.join("ignore-me").exists() && dir.join("model.sig").exists());
}

#[test]
fn upstream_v1_0_0_single_file_signature_verifies() {
    let dir = upstream().join("v1.0.0-elliptic-key");
    let sig = std::fs::read(dir.join("model.sig")).unwrap();
    let v = verify_model(
        &dir.join("signme-1"),
        &sig,
        &upstream_key(),
        &VerifyOptions::default(),
    )
    .unwrap();
    let names: Vec<String> = v.manifest.items.keys().map(|k| k.name()).collect();
    assert_eq!(names, ["."]);
}

#[test]
fn upstream_signature_rejects_a_changed_byte() {
    let (dir, sig) = v110();
    let t = scratch_copy(&dir);
    std::fs::write(t.path().join("signme-2"), b"signme-3").unwrap();
    let err = verify_model(t.path(), &sig, &upstream_key(), &VerifyOptions::default()).unwrap_err();
    let Error::ModelMismatch(diff) = &err else {
        panic!("{err}")
    };
    assert_eq!(diff.changed.len(), 1);
    assert_eq!(diff.changed[0].0, "signme-2");
    assert!(err.to_string().contains("signme-2"), "{err}");
}

#[test]
fn upstream_signature_rejects_added_and_removed_files() {
    let (dir, sig) = v110();
    let t = scratch_copy(&dir);
    std::fs::write(t.path().join("extra.bin"), b"payload").unwrap();
    let err = verify_model(t.path(), &sig, &upstream_key(), &VerifyOptions::default()).unwrap_err();
    assert!(
        matches!(&err, Error::ModelMismatch(d) if d.extra == ["extra.bin"]),
        "{err}"
    );
    std::fs::remove_file(t.path().join("extra.bin")).unwrap();
    std::fs::remove_file(t.path().join("signme-1")).unwrap();
    let err = verify_model(t.path(), &sig, &upstream_key(), &VerifyOptions::default()).unwrap_err();
    assert!(
        matches!(&err, Error::ModelMismatch(d) if d.missing == ["signme-1"]),
        "{err}"
    );
}

#[test]
fn upstream_signature_rejects_another_key() {
    let (dir, sig) = v110();
    for curve in [Curve::P256, Curve::P384] {
        let other = ModelSigningKey::generate(curve).unwrap().public_key();
        let err = verify_model(&dir, &sig, &other, &VerifyOptions::default()).unwrap_err();
        assert!(matches!(err, Error::UntrustedKey { .. }), "{err}");
    }
    // Without the hint (as in older bundles) the signature check itself refuses.
    let mut bundle: Value = serde_json::from_slice(&sig).unwrap();
    bundle["verificationMaterial"]["publicKey"] = serde_json::json!({});
    let stripped = serde_json::to_vec(&bundle).unwrap();
    verify_bundle(&stripped, &upstream_key()).unwrap();
    let other = ModelSigningKey::generate(Curve::P384).unwrap().public_key();
    let err = verify_bundle(&stripped, &other).unwrap_err();
    assert!(matches!(err, Error::BadSignature), "{err}");
}

#[test]
fn upstream_signature_rejects_an_edited_statement() {
    let (_, sig) = v110();
    let mut bundle: Value = serde_json::from_slice(&sig).unwrap();
    let payload = B64
        .decode(bundle["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    let text = String::from_utf8(payload).unwrap();
    // Swap in the digest of other content for signme-2: the signature must no longer hold.
    let edited = text.replace(
        "32dcb1f8e1ae52d5963e56a6ba06ab58b424c15ed2a6b70d2feca1d089370028",
        "ee6e00a2632ced18bf286a3f8e3a9c08f960ffb691b0efa8508bcf2741795530",
    );
    assert_ne!(edited, text);
    bundle["dsseEnvelope"]["payload"] = Value::String(B64.encode(edited));
    let err = verify_bundle(&serde_json::to_vec(&bundle).unwrap(), &upstream_key()).unwrap_err();
    assert!(matches!(err, Error::BadSignature), "{err}");
    // A corrupted signature is refused too.
    let mut bundle: Value = serde_json::from_slice(&sig).unwrap();
    let mut raw = B64
        .decode(
            bundle["dsseEnvelope"]["signatures"][0]["sig"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 1;
    bundle["dsseEnvelope"]["signatures"][0]["sig"] = Value::String(B64.encode(raw));
    let err = verify_bundle(&serde_json::to_vec(&bundle).unwrap(), &upstream_key()).unwrap_err();
    assert!(matches!(err, Error::BadSignature), "{err}");
}

#[test]
fn malformed_bundles_are_refused_with_a_reason() {
    let key = upstream_key();
    let cases: [(&[u8], &str); 4] = [
        (b"", "not JSON"),
        (b"[]", "not a JSON object"),
        (
            br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"e8450dec4eb99dae995da9af1bc2cc9f76ed669ee2e744f57abba763df3e3f8e"},"tlogEntries":[]}}"#,
            "no `dsseEnvelope`",
        ),
        (
            br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.2+json"}"#,
            "media type",
        ),
    ];
    for (bytes, want) in cases {
        let err = verify_bundle(bytes, &key).unwrap_err();
        assert!(err.to_string().contains(want), "{want}: {err}");
    }
}
