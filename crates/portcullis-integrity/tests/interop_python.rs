//! Interoperability with the Python reference implementation (`model_signing` on PyPI,
//! sigstore/model-transparency), in both directions, on P-256 and P-384:
//!
//! - ours signs, `model_signing verify key` accepts (and rejects the tampered model);
//! - `model_signing sign key` signs, ours accepts (and rejects the tampered model);
//! - the same for shard serialization through the Python API.
//!
//! The package is installed once into a virtual environment under
//! `$HOME/.cache/portcullis-venv-modelsign` (with `pyOpenSSL`, which it needs beside it)
//! and reused. When it cannot be installed (no `python3`, PyPI unreachable) the test
//! prints why and passes without checking anything.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may stop at the first failure

use std::path::{Path, PathBuf};
use std::process::Command;

use portcullis_integrity::manifest::{HashOptions, Method};
use portcullis_integrity::{
    sign_model, verify_model, Error, ModelPublicKey, ModelSigningKey, VerifyOptions,
};

/// The venv's `bin` directory, installing the package if needed; `Err` says why not.
fn venv() -> Result<PathBuf, String> {
    let home = std::env::var_os("HOME").ok_or("HOME is not set")?;
    let dir = PathBuf::from(home).join(".cache/portcullis-venv-modelsign");
    let bin = dir.join("bin");
    let ready = |bin: &Path| {
        Command::new(bin.join("model_signing"))
            .arg("--version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if ready(&bin) {
        return Ok(bin);
    }
    let st = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&dir)
        .status()
        .map_err(|e| format!("python3 not available: {e}"))?;
    if !st.success() {
        return Err("python3 -m venv failed".into());
    }
    let out = Command::new(bin.join("pip"))
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "model-signing",
            "pyOpenSSL",
        ])
        .output()
        .map_err(|e| format!("pip not runnable: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "pip install model-signing pyOpenSSL failed (PyPI unreachable?): {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    if ready(&bin) {
        Ok(bin)
    } else {
        Err("model_signing installed but does not run".into())
    }
}

macro_rules! venv_or_skip {
    () => {
        match venv() {
            Ok(bin) => bin,
            Err(why) => {
                eprintln!("SKIPPED: Python model_signing unavailable: {why}");
                return;
            }
        }
    };
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A key pair made by Python's `cryptography`: `sec1` picks the SEC1
/// (`EC PRIVATE KEY`) encoding, otherwise PKCS#8, so both formats are read.
fn python_keypair(bin: &Path, dir: &Path, curve: &str, sec1: bool) -> (PathBuf, PathBuf) {
    let key = dir.join(format!("{curve}.key"));
    let public = dir.join(format!("{curve}.pub"));
    let format = if sec1 { "TraditionalOpenSSL" } else { "PKCS8" };
    let script = format!(
        "from cryptography.hazmat.primitives.asymmetric import ec\n\
         from cryptography.hazmat.primitives import serialization as s\n\
         k = ec.generate_private_key(ec.{})\n\
         open(r'{}', 'wb').write(k.private_bytes(s.Encoding.PEM, s.PrivateFormat.{format}, s.NoEncryption()))\n\
         open(r'{}', 'wb').write(k.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo))\n",
        if curve == "p256" { "SECP256R1()" } else { "SECP384R1()" },
        key.display(),
        public.display()
    );
    let (ok, text) = run(Command::new(bin.join("python")).args(["-c", &script]));
    assert!(ok, "{text}");
    (key, public)
}

fn write(dir: &Path, rel: &str, content: &[u8]) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

fn model(root: &Path) -> PathBuf {
    let m = root.join("tiny-llm");
    write(&m, "config.json", br#"{"layers": 2}"#);
    write(&m, "a/b", b"component order: a/b sorts before a-c");
    write(&m, "a-c", b"x");
    write(&m, "weights/model.safetensors", &vec![7u8; 300_000]);
    write(&m, "weights/empty", b"");
    write(&m, "ignore-me", b"not signed");
    write(&m, ".git/HEAD", b"ref: refs/heads/main\n");
    m
}

fn flip_byte(path: &Path) {
    let mut b = std::fs::read(path).unwrap();
    b[0] ^= 0x20;
    std::fs::write(path, b).unwrap();
}

#[test]
fn ours_signs_python_verifies() {
    let bin = venv_or_skip!();
    for (curve, sec1) in [("p256", true), ("p384", false)] {
        let t = tempfile::tempdir().unwrap();
        let (key_file, pub_file) = python_keypair(&bin, t.path(), curve, sec1);
        let key = ModelSigningKey::from_pem_file(&key_file).unwrap();
        let m = model(t.path());
        let opts = HashOptions {
            ignore_paths: vec!["ignore-me".into()],
            ..HashOptions::default()
        };
        let signed = sign_model(&m, &key, &opts).unwrap();
        let sig = t.path().join("ours.sig");
        std::fs::write(&sig, &signed.bundle).unwrap();
        let verify = || {
            run(Command::new(bin.join("model_signing"))
                .args(["verify", "key"])
                .arg(&m)
                .arg("--signature")
                .arg(&sig)
                .arg("--public_key")
                .arg(&pub_file))
        };
        let (ok, text) = verify();
        assert!(ok, "{curve}: Python rejected our signature: {text}");
        assert!(text.contains("Verification succeeded"), "{text}");
        // The Python verifier really checks: it rejects the tampered model.
        flip_byte(&m.join("a/b"));
        let (ok, text) = verify();
        assert!(!ok, "{curve}: Python accepted a tampered model: {text}");
        assert!(text.contains("a/b"), "{text}");
    }
}

#[test]
fn single_file_model_both_ways() {
    let bin = venv_or_skip!();
    let t = tempfile::tempdir().unwrap();
    let (key_file, pub_file) = python_keypair(&bin, t.path(), "p256", false);
    let file = t.path().join("model.gguf");
    std::fs::write(&file, vec![9u8; 50_000]).unwrap();
    let key = ModelSigningKey::from_pem_file(&key_file).unwrap();
    let ours = t.path().join("ours.sig");
    std::fs::write(
        &ours,
        sign_model(&file, &key, &HashOptions::default())
            .unwrap()
            .bundle,
    )
    .unwrap();
    let (ok, text) = run(Command::new(bin.join("model_signing"))
        .args(["verify", "key"])
        .arg(&file)
        .arg("--signature")
        .arg(&ours)
        .arg("--public_key")
        .arg(&pub_file));
    assert!(ok, "Python rejected our single-file signature: {text}");
    let theirs = t.path().join("theirs.sig");
    let (ok, text) = run(Command::new(bin.join("model_signing"))
        .args(["sign", "key"])
        .arg(&file)
        .arg("--private_key")
        .arg(&key_file)
        .arg("--signature")
        .arg(&theirs));
    assert!(ok, "{text}");
    let public = ModelPublicKey::from_pem_file(&pub_file).unwrap();
    let v = verify_model(
        &file,
        &std::fs::read(&theirs).unwrap(),
        &public,
        &VerifyOptions::default(),
    )
    .unwrap();
    assert_eq!(v.model_name, "model.gguf");
}

#[test]
fn python_signs_ours_verifies() {
    let bin = venv_or_skip!();
    for (curve, sec1) in [("p256", false), ("p384", true)] {
        let t = tempfile::tempdir().unwrap();
        let (key_file, pub_file) = python_keypair(&bin, t.path(), curve, sec1);
        let m = model(t.path());
        // The signature inside the model, as upstream's default `model.sig`: the Python
        // CLI records it in the signed ignore list.
        let sig = m.join("model.sig");
        let (ok, text) = run(Command::new(bin.join("model_signing"))
            .args(["sign", "key"])
            .arg(&m)
            .arg("--private_key")
            .arg(&key_file)
            .arg("--signature")
            .arg(&sig)
            .arg("--ignore-paths")
            .arg(m.join("ignore-me")));
        assert!(ok, "{text}");
        let public = ModelPublicKey::from_pem_file(&pub_file).unwrap();
        let bundle = std::fs::read(&sig).unwrap();
        let v = verify_model(&m, &bundle, &public, &VerifyOptions::default())
            .unwrap_or_else(|e| panic!("{curve}: we rejected Python's signature: {e}"));
        let names: Vec<String> = v.manifest.items.keys().map(|k| k.name()).collect();
        assert_eq!(
            names,
            [
                "a/b",
                "a-c",
                "config.json",
                "weights/empty",
                "weights/model.safetensors"
            ]
        );
        // Our key hint matches the one Python wrote.
        assert!(String::from_utf8_lossy(&bundle).contains(&public.hint()));
        flip_byte(&m.join("weights/model.safetensors"));
        let err = verify_model(&m, &bundle, &public, &VerifyOptions::default()).unwrap_err();
        assert!(
            matches!(&err, Error::ModelMismatch(d) if d.changed.len() == 1),
            "{err}"
        );
    }
}

#[test]
fn shard_serialization_both_ways() {
    let bin = venv_or_skip!();
    let t = tempfile::tempdir().unwrap();
    let (key_file, pub_file) = python_keypair(&bin, t.path(), "p256", false);
    let m = model(t.path());
    std::fs::remove_file(m.join("ignore-me")).unwrap();
    // Python signs with 100 000-byte shards through its API.
    let theirs = t.path().join("theirs.sig");
    let script = format!(
        "import model_signing as ms\n\
         ms.signing.Config().use_elliptic_key_signer(private_key=r'{}')\
         .set_hashing_config(ms.hashing.Config().use_shard_serialization(shard_size=100000))\
         .sign(r'{}', r'{}')\n",
        key_file.display(),
        m.display(),
        theirs.display()
    );
    let (ok, text) = run(Command::new(bin.join("python")).args(["-c", &script]));
    assert!(ok, "{text}");
    let public = ModelPublicKey::from_pem_file(&pub_file).unwrap();
    let v = verify_model(
        &m,
        &std::fs::read(&theirs).unwrap(),
        &public,
        &VerifyOptions::default(),
    )
    .unwrap();
    assert!(v
        .manifest
        .items
        .keys()
        .any(|k| k.name() == "weights/model.safetensors:200000:300000"));
    // Ours signs with shards; the Python API verifier (settings taken from the
    // signature) accepts.
    let key = ModelSigningKey::from_pem_file(&key_file).unwrap();
    let opts = HashOptions {
        method: Method::Shards {
            shard_size: 100_000,
        },
        ..HashOptions::default()
    };
    let ours = t.path().join("ours.sig");
    std::fs::write(&ours, sign_model(&m, &key, &opts).unwrap().bundle).unwrap();
    let script = format!(
        "import model_signing as ms\n\
         ms.verifying.Config().use_elliptic_key_verifier(public_key=r'{}')\
         .verify(r'{}', r'{}')\n",
        pub_file.display(),
        m.display(),
        ours.display()
    );
    let (ok, text) = run(Command::new(bin.join("python")).args(["-c", &script]));
    assert!(ok, "Python rejected our shard signature: {text}");
}
