//! The outside-verification walkthrough in `docs/audit.md`, run as written: the shell
//! blocks marked `tested-by: ... (block "operator")` and `(block "auditor")` are taken
//! from the document and run with bash against a log a real gateway wrote, with the
//! `portcullis` binary on `PATH` and `scripts/` from this checkout. The auditor's block
//! gets only the export, the proofs and the verifier key. A tampered export must then
//! fail the independent verifier.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use portcullis_testkit::TestGateway;

mod common;
use common::{ok, BIN};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The first ```sh block after the marker naming `block`.
fn doc_block(block: &str) -> String {
    let doc = std::fs::read_to_string(repo().join("docs/audit.md")).unwrap();
    let marker = format!("(block \"{block}\")");
    let at = doc
        .find(&marker)
        .unwrap_or_else(|| panic!("no {marker} in docs/audit.md"));
    let rest = &doc[at..];
    let start = rest.find("```sh\n").unwrap() + "```sh\n".len();
    let end = rest[start..].find("```").unwrap();
    rest[start..start + end].to_string()
}

fn bash(dir: &Path, script: &str, env: &[(&str, &str)]) -> Output {
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = Command::new("bash");
    c.args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .env("PATH", path);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn has_python() -> bool {
    Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_outside_verification_works() {
    if !has_python() {
        eprintln!("SKIPPED: python3 is not installed (the documented commands use it)");
        return;
    }
    let keys = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["audit", "keygen", "--out", "audit.key"])
        .current_dir(keys.path())
        .output()
        .unwrap();
    let vkey = ok(&out).trim().to_string();
    let skey = std::fs::read_to_string(keys.path().join("audit.key")).unwrap();
    let gw = TestGateway::start_with_files(
        "[upstreams.m]\nkind = \"mock\"\n[models.mock-model]\nupstream = \"m\"\n[audit]\nsigning_key_file = \"audit.key\"\ncheckpoint_interval = \"1h\"\n",
        &[("main.cedar", "@id(\"all\")\npermit(principal in Portcullis::Group::\"g\", action, resource);\n")],
        &[("audit.key", &skey)],
    )
    .await;
    let (_, key) = gw.key("alice", &["g"], None);
    let http = reqwest_free_post(&gw.url, &key).await;
    // Three checkpoints over the start's two events and nine requests: sizes 5, 8, 11.
    let mut ids = Vec::new();
    for round in 0..3 {
        for _ in 0..3 {
            ids.push(http.send().await);
        }
        let note = gw.state.decisions.checkpoint().await.unwrap().unwrap();
        assert!(
            note.contains(&format!("\n{}\n", 2 + 3 * (round + 1))),
            "{note}"
        );
    }
    let dir = gw.stop_keeping_dir().await;
    let d = dir.path();
    std::os::unix::fs::symlink(repo().join("scripts"), d.join("scripts")).unwrap();
    std::fs::write(d.join("vkey"), format!("{vkey}\n")).unwrap();

    // The operator's block, then the auditor's, exactly as documented.
    ok(&bash(d, &doc_block("operator"), &[("EVENT_ID", &ids[2])]));
    // The auditor has only these files (and `scripts/`).
    let auditor = tempfile::tempdir().unwrap();
    let a = auditor.path();
    std::os::unix::fs::symlink(repo().join("scripts"), a.join("scripts")).unwrap();
    std::fs::create_dir(a.join("export")).unwrap();
    for f in ["leaves.jsonl", "checkpoints.jsonl", "checkpoint"] {
        std::fs::copy(d.join("export").join(f), a.join("export").join(f)).unwrap();
    }
    for f in ["inclusion.json", "consistency.json", "vkey"] {
        std::fs::copy(d.join(f), a.join(f)).unwrap();
    }
    let out = ok(&bash(a, &doc_block("auditor"), &[]));
    assert!(out.contains("ok: 3 checkpoints"), "{out}");
    assert!(
        out.contains("the latest signs 11 of the 11 exported leaves"),
        "{out}"
    );
    assert!(
        out.contains(&format!("ok: event {} (request) is leaf 4", ids[2])),
        "{out}"
    );
    assert!(
        out.contains("size 5 is a prefix of the log at size 11"),
        "{out}"
    );
    assert_eq!(out.matches("ok: ").count(), 5, "{out}");
    // Without the `cryptography` package, Ed25519 goes through the openssl command.
    if Command::new("openssl").arg("version").output().is_ok() {
        std::fs::create_dir_all(a.join("nocrypto/cryptography")).unwrap();
        std::fs::write(
            a.join("nocrypto/cryptography/__init__.py"),
            "raise ImportError('hidden by the test')\n",
        )
        .unwrap();
        let out = ok(&bash(
            a,
            "python3 scripts/audit_verify.py export --vkey vkey --inclusion inclusion.json",
            &[("PYTHONPATH", "nocrypto")],
        ));
        assert!(out.contains("ok: 3 checkpoints"), "{out}");
    }

    // Tampering with one exported leaf is caught by the independent verifier.
    let leaves = std::fs::read_to_string(a.join("export/leaves.jsonl")).unwrap();
    std::fs::write(
        a.join("export/leaves.jsonl"),
        leaves.replacen("\"alice\"", "\"mallory\"", 1),
    )
    .unwrap();
    let out = bash(a, "python3 scripts/audit_verify.py export --vkey vkey", &[]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("do not hash to its root"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // And a checkpoint checked with another key is refused.
    std::fs::write(a.join("export/leaves.jsonl"), &leaves).unwrap();
    let other = Command::new(BIN)
        .args(["audit", "keygen", "--out", "other.key"])
        .current_dir(a)
        .output()
        .unwrap();
    std::fs::write(a.join("vkey"), ok(&other)).unwrap();
    let out = bash(a, "python3 scripts/audit_verify.py export --vkey vkey", &[]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no signature by"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A tiny HTTP/1.1 client over a raw socket: this crate has no HTTP client dependency.
struct Poster {
    addr: String,
    key: String,
}

async fn reqwest_free_post(url: &str, key: &str) -> Poster {
    Poster {
        addr: url.trim_start_matches("http://").to_string(),
        key: key.to_string(),
    }
}

impl Poster {
    /// Sends one chat completion; returns its `x-request-id`.
    async fn send(&self) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let body = r#"{"model":"mock-model","messages":[{"role":"user","content":"audit me"}]}"#;
        let req = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.key,
            body.len()
        );
        let mut s = tokio::net::TcpStream::connect(&self.addr).await.unwrap();
        s.write_all(req.as_bytes()).await.unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).await.unwrap();
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        resp.lines()
            .find_map(|l| l.strip_prefix("x-request-id: "))
            .unwrap()
            .trim()
            .to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_body_commands_work() {
    let keys = tempfile::tempdir().unwrap();
    ok(&bash(keys.path(), &doc_block("body-keygen"), &[]));
    let body_key = std::fs::read_to_string(keys.path().join("audit-body.key")).unwrap();
    assert_eq!(body_key.trim().len(), 64, "64 hex digits");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(keys.path().join("audit-body.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let signer = portcullis_audit::NoteSigner::generate("portcullis.local/audit").unwrap();
    use secrecy::ExposeSecret;
    let skey = signer.to_skey().expose_secret().to_string();
    let gw = TestGateway::start_with_files(
        "[upstreams.m]\nkind = \"mock\"\n[models.mock-model]\nupstream = \"m\"\n[audit]\nsigning_key_file = \"audit.key\"\nstore_bodies = true\nbody_key_file = \"audit-body.key\"\nbody_retention = \"30d\"\n",
        &[("main.cedar", "@id(\"all\")\npermit(principal in Portcullis::Group::\"g\", action, resource);\n")],
        &[("audit.key", &skey), ("audit-body.key", &body_key)],
    )
    .await;
    let (_, key) = gw.key("alice", &["g"], None);
    let id = reqwest_free_post(&gw.url, &key).await.send().await;
    let dir = gw.stop_keeping_dir().await;
    let d = dir.path();
    ok(&bash(d, &doc_block("bodies"), &[("EVENT_ID", &id)]));
    assert_eq!(
        std::fs::read_to_string(d.join("request.json")).unwrap(),
        r#"{"model":"mock-model","messages":[{"role":"user","content":"audit me"}]}"#
    );
    let response: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("response.json")).unwrap()).unwrap();
    assert!(response["choices"].is_array(), "{response}");

    // `check` reads the keys too: a body key of the wrong size is refused, unechoed.
    std::fs::write(d.join("audit-body.key"), "c0ffee").unwrap();
    let out = bash(d, "portcullis check --config portcullis.toml", &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("audit-body.key") && err.contains("32 bytes"),
        "{err}"
    );
    assert!(!err.contains("c0ffee"), "{err}");

    // The wrong key fails cleanly, without printing anything of the body or the key.
    let other = "ab".repeat(32);
    std::fs::write(d.join("audit-body.key"), &other).unwrap();
    let out = bash(
        d,
        "portcullis audit body --config portcullis.toml \"$EVENT_ID\"",
        &[("EVENT_ID", &id)],
    );
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not decrypt"), "{err}");
    assert!(
        !err.contains(&other) && !err.contains(body_key.trim()),
        "{err}"
    );
}
