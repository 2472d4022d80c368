//! `portcullis audit ...` run as an operator would, on a log a real gateway wrote:
//! keygen, verify (and its failure on a tampered database), proofs checked offline with
//! `verify-proof` (and a forged one refused), query, export; `keys create` appends a
//! control-plane event from another process, which the gateway's next checkpoint covers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_testkit::TestGateway;

mod common;
use common::{ok, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_commands_verify_prove_query_and_export() {
    // keygen writes a 0600 key and prints the verifier key.
    let keys = tempfile::tempdir().unwrap();
    let out = run(keys.path(), &["audit", "keygen", "--out", "audit.key"]);
    let vkey = ok(&out).trim().to_string();
    assert!(vkey.starts_with("portcullis.local/audit+"), "{vkey}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(keys.path().join("audit.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(
        !run(keys.path(), &["audit", "keygen", "--out", "audit.key"])
            .status
            .success()
    );
    let skey = std::fs::read_to_string(keys.path().join("audit.key")).unwrap();

    let gw = TestGateway::start_with_files(
        "[upstreams.m]\nkind = \"mock\"\n[models.mock-model]\nupstream = \"m\"\n[audit]\nsigning_key_file = \"audit.key\"\n",
        &[("main.cedar", "@id(\"all\")\npermit(principal in Portcullis::Group::\"g\", action, resource);\n")],
        &[("audit.key", &skey)],
    )
    .await;
    let dir = gw.dir.path().to_path_buf();
    // Another process appends control-plane events while the gateway runs.
    let out = run(
        &dir,
        &[
            "keys",
            "create",
            "--config",
            "portcullis.toml",
            "--principal",
            "bob",
            "--group",
            "g",
        ],
    );
    let key = ok(&out).lines().last().unwrap().to_string();
    let id = key.split('_').nth(1).unwrap().to_string();
    ok(&run(
        &dir,
        &["keys", "revoke", "--config", "portcullis.toml", &id],
    ));
    let note = gw.state.decisions.checkpoint().await.unwrap().unwrap();
    assert!(
        note.contains("\n4\n"),
        "the checkpoint covers the gateway's two start events and both CLI events: {note}"
    );
    let dir = gw.stop_keeping_dir().await;
    let d = dir.path();

    let out = ok(&run(d, &["audit", "verify", "--config", "portcullis.toml"]));
    assert!(out.starts_with("ok: 4 leaves, 1 checkpoints"), "{out}");
    let out = ok(&run(
        d,
        &[
            "audit",
            "verify",
            "--config",
            "portcullis.toml",
            "--vkey",
            &vkey,
        ],
    ));
    assert!(out.starts_with("ok: 4 leaves"), "{out}");

    // Query: the start's policy and guard events, then bob's key, by the OS user.
    let out = ok(&run(
        d,
        &[
            "audit",
            "query",
            "--config",
            "portcullis.toml",
            "--since",
            "1h",
        ],
    ));
    assert_eq!(out.lines().count(), 4, "{out}");
    for kind in [
        "policy_reloaded",
        "guard_config_changed",
        "key_created",
        "key_revoked",
    ] {
        assert!(out.contains(kind), "{kind}: {out}");
    }
    let out = ok(&run(
        d,
        &[
            "audit",
            "query",
            "--config",
            "portcullis.toml",
            "--decision",
            "deny",
        ],
    ));
    assert_eq!(out, "");

    // Proofs, checked offline.
    let proof = ok(&run(
        d,
        &[
            "audit",
            "proof",
            "inclusion",
            "--config",
            "portcullis.toml",
            "--index",
            "3",
        ],
    ));
    std::fs::write(d.join("proof.json"), &proof).unwrap();
    std::fs::write(d.join("checkpoint"), &note).unwrap();
    std::fs::write(d.join("vkey"), &vkey).unwrap();
    let args = [
        "audit",
        "verify-proof",
        "--vkey",
        "vkey",
        "--checkpoint",
        "checkpoint",
        "--proof",
        "proof.json",
    ];
    let out = ok(&run(d, &args));
    assert!(out.contains("leaf 3"), "{out}");
    let forged = proof.replace("key_revoked", "key_created");
    assert_ne!(forged, proof);
    std::fs::write(d.join("proof.json"), forged).unwrap();
    let out = run(d, &args);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does NOT verify"));
    let cons = ok(&run(
        d,
        &[
            "audit",
            "proof",
            "consistency",
            "--config",
            "portcullis.toml",
            "--old",
            "3",
            "--new",
            "4",
        ],
    ));
    assert!(cons.contains("\"consistency\""), "{cons}");

    // Export for an outside verifier.
    let out = ok(&run(
        d,
        &[
            "audit",
            "export",
            "--config",
            "portcullis.toml",
            "--out",
            "export",
        ],
    ));
    assert!(out.contains("exported 4 leaves and 1 checkpoints"), "{out}");
    let leaves = std::fs::read_to_string(d.join("export/leaves.jsonl")).unwrap();
    assert_eq!(leaves.lines().count(), 4);
    assert_eq!(
        std::fs::read_to_string(d.join("export/checkpoint")).unwrap(),
        note
    );
    assert_eq!(
        std::fs::read_to_string(d.join("export/vkey"))
            .unwrap()
            .trim(),
        vkey
    );

    // Tampering makes verify fail (non-zero) and name the leaf.
    {
        let c = rusqlite::Connection::open(d.join("data/portcullis.db")).unwrap();
        c.execute("UPDATE audit_leaves SET leaf = CAST(REPLACE(CAST(leaf AS TEXT), 'bob', 'eve') AS BLOB) WHERE idx = 2", [])
            .unwrap();
    }
    let out = run(d, &["audit", "verify", "--config", "portcullis.toml"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("FAILED: leaf 2:"), "{err}");
}
