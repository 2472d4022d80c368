//! `portcullis model ...` end to end through the real binary: sign and verify (with the
//! tamper cases), and the registry workflow of issue 6: a model proposed and approved by
//! two approvers becomes active; a wrong approver, a duplicate approval, a replayed
//! approval, a tampered record and an expired proposal are refused; a file changed on
//! disk takes the active model out of service at the next check.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::path::Path;
use std::process::Output;

use common::{ok, run};

fn fails(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected failure; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn write(dir: &Path, rel: &str, content: &[u8]) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

fn model(dir: &Path) {
    write(dir, "m/config.json", br#"{"layers":2}"#);
    write(dir, "m/weights/model.safetensors", &vec![5u8; 200_000]);
    write(dir, "m/.git/HEAD", b"ref: refs/heads/main\n");
}

#[test]
fn sign_and_verify_with_tamper_cases() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    model(d);
    ok(&run(
        d,
        &["model", "keygen", "--curve", "p384", "--out", "signer.key"],
    ));
    ok(&run(d, &["model", "keygen", "--out", "other.key"]));
    // Python-style flag spelling is accepted; the signature inside the model is ignored.
    let out = ok(&run(
        d,
        &[
            "model",
            "sign",
            "key",
            "m",
            "--private_key",
            "signer.key",
            "--signature",
            "m/model.sig",
        ],
    ));
    assert!(out.contains("Signing succeeded: m (2 files"), "{out}");
    let verify = |key: &str| {
        run(
            d,
            &[
                "model",
                "verify",
                "key",
                "m",
                "--public-key",
                key,
                "--signature",
                "m/model.sig",
            ],
        )
    };
    let out = ok(&verify("signer.key.pub"));
    assert!(out.contains("Verification succeeded: m (2 files"), "{out}");
    let err = fails(&verify("other.key.pub"));
    assert!(
        err.contains("signature was made by a different key"),
        "{err}"
    );
    // A changed byte, an added file, a removed file.
    let w = d.join("m/weights/model.safetensors");
    let mut bytes = std::fs::read(&w).unwrap();
    bytes[123_456] ^= 1;
    std::fs::write(&w, &bytes).unwrap();
    let err = fails(&verify("signer.key.pub"));
    assert!(err.contains("changed: weights/model.safetensors"), "{err}");
    bytes[123_456] ^= 1;
    std::fs::write(&w, &bytes).unwrap();
    ok(&verify("signer.key.pub"));
    write(d, "m/extra.py", b"import os");
    let err = fails(&verify("signer.key.pub"));
    assert!(err.contains("not signed: extra.py"), "{err}");
    // Python's --ignore_unsigned_files accepts the extra file, and only that.
    let lenient = |model: &str| {
        run(
            d,
            &[
                "model",
                "verify",
                "key",
                model,
                "--public-key",
                "signer.key.pub",
                "--signature",
                "m/model.sig",
                "--ignore_unsigned_files",
            ],
        )
    };
    ok(&lenient("m"));
    std::fs::remove_file(d.join("m/extra.py")).unwrap();
    std::fs::remove_file(d.join("m/config.json")).unwrap();
    let err = fails(&verify("signer.key.pub"));
    assert!(err.contains("missing: config.json"), "{err}");
    let err = fails(&lenient("m"));
    assert!(err.contains("missing: config.json"), "{err}");
    // --ignore-paths at verification can leave out an unsigned file.
    write(d, "m/config.json", br#"{"layers":2}"#);
    write(d, "m/notes.txt", b"local notes");
    let out = run(
        d,
        &[
            "model",
            "verify",
            "key",
            "m",
            "--public-key",
            "signer.key.pub",
            "--signature",
            "m/model.sig",
            "--ignore-paths",
            "m/notes.txt",
        ],
    );
    ok(&out);
}

struct Reg<'a> {
    dir: &'a Path,
}

impl Reg<'_> {
    fn run(&self, args: &[&str]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--db", "data/portcullis.db"]);
        run(self.dir, &all)
    }
    fn with_policy(&self, args: &[&str]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--approvers", "approvers.txt"]);
        self.run(&all)
    }
}

fn approvers(d: &Path) {
    let mut vkeys = String::from("# model approvers\n");
    for name in ["alice", "bob", "carol"] {
        let out = ok(&run(
            d,
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
    std::fs::write(d.join("approvers.txt"), vkeys).unwrap();
    ok(&run(
        d,
        &[
            "audit",
            "keygen",
            "--out",
            "mallory.key",
            "--name",
            "mallory",
        ],
    ));
}

#[test]
fn registry_workflow_end_to_end() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    model(d);
    approvers(d);
    let reg = Reg { dir: d };
    ok(&run(d, &["model", "keygen", "--out", "signer.key"]));
    ok(&run(
        d,
        &[
            "model",
            "sign",
            "key",
            "m",
            "--private-key",
            "signer.key",
            "--signature",
            "m.sig",
        ],
    ));
    let out = ok(&reg.run(&[
        "model",
        "propose",
        "tiny",
        "1",
        "--model",
        "m",
        "--signature",
        "m.sig",
        "--public-key",
        "signer.key.pub",
        "--source",
        "s3://models/tiny",
        "--notes",
        "run 42",
    ]));
    assert!(out.contains("tiny@1 proposed"), "{out}");
    // A second proposal of the same version is refused.
    let err = fails(&reg.run(&[
        "model",
        "propose",
        "tiny",
        "1",
        "--endpoint",
        "https://x.example/v1",
        "--provider-model-id",
        "x",
    ]));
    assert!(err.contains("already exists"), "{err}");

    let activate = || {
        reg.with_policy(&[
            "model",
            "activate",
            "tiny",
            "1",
            "--public-key",
            "signer.key.pub",
        ])
    };
    let out = ok(&reg.with_policy(&["model", "approve", "tiny", "1", "--key", "alice.key"]));
    assert!(
        out.contains("1 of 2 approvals (alice); state proposed"),
        "{out}"
    );
    // One approver twice; an approver outside the set.
    let err = fails(&reg.with_policy(&["model", "approve", "tiny", "1", "--key", "alice.key"]));
    assert!(err.contains("alice has already approved"), "{err}");
    let err = fails(&reg.with_policy(&["model", "approve", "tiny", "1", "--key", "mallory.key"]));
    assert!(
        err.contains("mallory is not in the configured approver set"),
        "{err}"
    );
    let err = fails(&activate());
    assert!(err.contains("cannot activate"), "{err}");

    // Bob approves offline from the canonical record.
    let record = ok(&reg.run(&["model", "show", "tiny", "1", "--record"]));
    std::fs::write(d.join("tiny-1.json"), &record).unwrap();
    ok(&run(
        d,
        &[
            "model",
            "approval-sign",
            "--record",
            "tiny-1.json",
            "--key",
            "bob.key",
            "--out",
            "bob-1.note",
        ],
    ));
    let out = ok(&reg.with_policy(&["model", "approve", "tiny", "1", "--approval", "bob-1.note"]));
    assert!(
        out.contains("2 of 2 approvals (alice, bob); state approved"),
        "{out}"
    );
    ok(&activate());
    let list = ok(&reg.run(&["model", "list"]));
    assert!(list.contains("tiny@1\tactive\t2 approvals"), "{list}");
    let route = ok(&reg.run(&["model", "route", "tiny"]));
    assert!(route.starts_with("tiny@1 (record sha256 "), "{route}");
    let check = || reg.with_policy(&["model", "check", "--public-key", "signer.key.pub"]);
    let out = ok(&check());
    assert!(out.contains("ok        tiny@1"), "{out}");

    // Bob's approval of version 1 replayed for version 2.
    ok(&reg.run(&[
        "model",
        "propose",
        "tiny",
        "2",
        "--model",
        "m",
        "--signature",
        "m.sig",
        "--public-key",
        "signer.key.pub",
    ]));
    let err =
        fails(&reg.with_policy(&["model", "approve", "tiny", "2", "--approval", "bob-1.note"]));
    assert!(err.contains("replayed approval"), "{err}");

    // A file changes on disk: the next check takes the model out of service.
    write(d, "m/config.json", br#"{"layers":3}"#);
    let err = fails(&check());
    assert!(
        err.contains("failed verification and were suspended"),
        "{err}"
    );
    let list = ok(&reg.run(&["model", "list"]));
    assert!(list.contains("tiny@1\tsuspended"), "{list}");
    let err = fails(&reg.run(&["model", "route", "tiny"]));
    assert!(
        err.contains("model tiny is not routable: no active version"),
        "{err}"
    );
    let show = ok(&reg.run(&["model", "show", "tiny", "1"]));
    assert!(show.contains("\"action\": \"suspended\""), "{show}");
    assert!(show.contains("changed: config.json"), "{show}");
}

#[test]
fn tampered_records_and_expired_proposals_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    approvers(d);
    let reg = Reg { dir: d };
    let propose = |version: &str, ttl: &str| {
        ok(&reg.run(&[
            "model",
            "propose",
            "gpt",
            version,
            "--endpoint",
            "https://api.openai.com/v1",
            "--provider-model-id",
            "gpt-4o-2024-08-06",
            "--ttl",
            ttl,
        ]))
    };
    propose("1", "7d");
    ok(&reg.with_policy(&["model", "approve", "gpt", "1", "--key", "alice.key"]));
    ok(&reg.with_policy(&["model", "approve", "gpt", "1", "--key", "carol.key"]));
    // Someone with database access repoints the approved model.
    let db = rusqlite::Connection::open(d.join("data/portcullis.db")).unwrap();
    db.execute(
        "UPDATE model_versions SET record = replace(record, 'api.openai.com', 'evil.example')",
        [],
    )
    .unwrap();
    let err = fails(&reg.with_policy(&["model", "activate", "gpt", "1"]));
    assert!(err.contains("was altered after it was proposed"), "{err}");
    let list = ok(&reg.run(&["model", "list"]));
    assert!(list.contains("gpt@1\tUNREADABLE"), "{list}");

    propose("2", "1s");
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let err = fails(&reg.with_policy(&["model", "approve", "gpt", "2", "--key", "bob.key"]));
    assert!(err.contains("expired"), "{err}");

    // A single-operator setup must say k = 1 explicitly; k larger than the set is refused.
    propose("3", "1h");
    let out = ok(&reg.with_policy(&[
        "model",
        "approve",
        "gpt",
        "3",
        "--key",
        "bob.key",
        "--threshold",
        "1",
    ]));
    assert!(out.contains("state approved"), "{out}");
    let err = fails(&reg.with_policy(&[
        "model",
        "approve",
        "gpt",
        "3",
        "--key",
        "carol.key",
        "--threshold",
        "4",
    ]));
    assert!(err.contains("only 3 approvers"), "{err}");
}

#[test]
fn registry_uses_the_gateway_database_from_the_config() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(
        d.join("p.toml"),
        "[store]\ndata_dir = \"gw-data\"\n[upstreams.m]\nkind = \"mock\"\n[models.mock-model]\nupstream = \"m\"\n",
    )
    .unwrap();
    let out = run(
        d,
        &[
            "model",
            "propose",
            "gpt",
            "1",
            "--endpoint",
            "https://api.example/v1",
            "--provider-model-id",
            "m-2025-01-01",
            "--config",
            "p.toml",
        ],
    );
    ok(&out);
    assert!(d.join("gw-data/portcullis.db").exists());
    let list = ok(&run(d, &["model", "list", "--config", "p.toml"]));
    assert!(
        list.contains("gpt@1\tproposed\t0 approvals\tremote m-2025-01-01"),
        "{list}"
    );
}
