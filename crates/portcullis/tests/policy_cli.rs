//! `portcullis policy ...` as an operator uses it: propose a directory, two approvers
//! approve with their keys, activate, diff, roll back; `check` validates the active
//! bundle; refusals name the reason; every change is an audit event.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{ok, run};

#[test]
fn propose_approve_activate_diff_rollback_and_audit() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let mut vkeys = String::new();
    for name in ["alice", "bob", "carol"] {
        let out = ok(&run(
            dir,
            &[
                "audit",
                "keygen",
                "--out",
                &format!("{name}.key"),
                "--name",
                name,
            ],
        ));
        vkeys.push_str(out.trim());
        vkeys.push('\n');
    }
    std::fs::write(dir.join("approvers.txt"), vkeys).unwrap();
    ok(&run(dir, &["audit", "keygen", "--out", "audit.key"]));
    ok(&run(
        dir,
        &[
            "model",
            "keygen",
            "--out",
            "signer.key",
            "--public-out",
            "signer.pub",
        ],
    ));
    std::fs::write(
        dir.join("portcullis.toml"),
        "[store]\ndata_dir = \"data\"\n[policy]\nsource = \"bundle\"\n[upstreams.u]\nkind = \"mock\"\n[models.m]\nupstream = \"u\"\n[integrity]\napprovers_file = \"approvers.txt\"\ntrusted_signers = [\"signer.pub\"]\n[audit]\nsigning_key_file = \"audit.key\"\n",
    )
    .unwrap();
    for (v, text) in [
        (
            "v1",
            "permit (principal in Portcullis::Group::\"team\", action, resource);\n",
        ),
        (
            "v2",
            "permit (principal in Portcullis::Group::\"admins\", action, resource);\n",
        ),
    ] {
        std::fs::create_dir(dir.join(v)).unwrap();
        std::fs::write(dir.join(v).join("main.cedar"), text).unwrap();
    }
    let c = ["--config", "portcullis.toml"];
    let policy = |args: &[&str]| {
        let mut all = vec!["policy"];
        all.extend_from_slice(args);
        all.extend_from_slice(&c);
        run(dir, &all)
    };

    // No active bundle yet: `check` says what to do.
    let out = run(dir, &["check", "--config", "portcullis.toml"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no policy bundle is active"));

    let out = ok(&policy(&["propose", "--dir", "v1", "--note", "CHG-1"]));
    assert!(
        out.starts_with("proposed version 1 (1 files), sha256:"),
        "{out}"
    );
    // Activation before approval, and a single approval, are not enough.
    assert!(!policy(&["activate", "1"]).status.success());
    assert!(ok(&policy(&["approve", "1", "--key", "alice.key"])).contains("1 of 2 needed"));
    let dup = policy(&["approve", "1", "--key", "alice.key"]);
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already approved"));
    ok(&run(
        dir,
        &[
            "audit",
            "keygen",
            "--out",
            "mallory.key",
            "--name",
            "mallory",
        ],
    ));
    let stranger = policy(&["approve", "1", "--key", "mallory.key"]);
    assert!(
        String::from_utf8_lossy(&stranger.stderr).contains("no signature by a configured approver")
    );
    assert!(ok(&policy(&["approve", "1", "--key", "bob.key"])).contains("now approved"));
    ok(&policy(&["activate", "1"]));
    assert!(ok(&run(dir, &["check", "--config", "portcullis.toml"])).starts_with("ok:"));
    // A missing trusted key is caught by `check`, as `serve` would refuse it.
    std::fs::rename(dir.join("signer.pub"), dir.join("signer.pub.bak")).unwrap();
    let out = run(dir, &["check", "--config", "portcullis.toml"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("integrity.trusted_signers"));
    std::fs::rename(dir.join("signer.pub.bak"), dir.join("signer.pub")).unwrap();

    ok(&policy(&["propose", "--dir", "v2"]));
    // Carol reviews the exact bundle and approves offline.
    let bundle = ok(&policy(&["show", "2", "--bundle"]));
    std::fs::write(dir.join("v2.json"), &bundle).unwrap();
    ok(&run(
        dir,
        &[
            "policy",
            "approval-sign",
            "--bundle",
            "v2.json",
            "--key",
            "carol.key",
            "--out",
            "carol.approval",
        ],
    ));
    ok(&policy(&["approve", "2", "--approval", "carol.approval"]));
    ok(&policy(&["approve", "2", "--key", "bob.key"]));
    ok(&policy(&["activate", "2"]));
    let diff = ok(&policy(&["diff", "1", "2"]));
    assert!(
        diff.contains("-permit (principal in Portcullis::Group::\"team\""),
        "{diff}"
    );
    assert!(
        diff.contains("+permit (principal in Portcullis::Group::\"admins\""),
        "{diff}"
    );
    assert!(ok(&policy(&["rollback"])).contains("version 1 is active"));
    let list = ok(&policy(&["list"]));
    assert!(
        list.contains("1\tactive") && list.contains("2\tapproved"),
        "{list}"
    );

    // Every change is in the audit log.
    let log = ok(&run(
        dir,
        &[
            "audit",
            "query",
            "--config",
            "portcullis.toml",
            "--since",
            "1h",
        ],
    ));
    let changes = log.matches("policy_bundle_changed").count();
    assert_eq!(
        changes, 9,
        "2 proposals, 4 approvals, 2 activations, 1 rollback: {log}"
    );
    assert!(log.contains("policy.rollback"));
}
