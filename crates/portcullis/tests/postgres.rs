//! The binary on a PostgreSQL store (`[store] kind = "postgres"`): `check` refuses an
//! unmigrated database, `migrate` brings it up to date, and the key commands work on it;
//! the database password never shows. Runs when `PORTCULLIS_TEST_POSTGRES` is set.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

use portcullis_store::testing::TestPostgres;
use secrecy::ExposeSecret;

const BIN: &str = env!("CARGO_BIN_EXE_portcullis");
const PASSWORD: &str = "sekrit-db-pw";

fn run(dir: &Path, url: &str, args: &[&str]) -> (bool, String, String) {
    let out: Output = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("PORTCULLIS_TEST_DB_URL", url)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        !stdout.contains(PASSWORD) && !stderr.contains(PASSWORD),
        "the database password was printed: {stdout}{stderr}"
    );
    (out.status.success(), stdout, stderr)
}

#[test]
fn migrate_check_and_keys_on_postgres() {
    let Some(db) = TestPostgres::unmigrated_from_env().unwrap() else {
        eprintln!("skipped: PORTCULLIS_TEST_POSTGRES is not set");
        return;
    };
    // The test server trusts local connections, so a password in the URL is never
    // asked for; it is there to show that it is never printed.
    let url = db.url().expose_secret().to_string();
    let url = match url.strip_prefix("postgres://") {
        Some(rest)
            if rest
                .split('/')
                .next()
                .is_some_and(|a| a.contains('@') && !a.contains(':')) =>
        {
            let (user, host) = rest.split_once('@').unwrap();
            format!("postgres://{user}:{PASSWORD}@{host}")
        }
        _ => url,
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.toml"),
        format!(
            "[store]\nkind = \"postgres\"\nurl_env = \"PORTCULLIS_TEST_DB_URL\"\nschema = \"{}\"\n[upstreams.m]\nkind = \"mock\"\n[models.mock-model]\nupstream = \"m\"\n",
            db.schema()
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("policies")).unwrap();
    std::fs::write(
        dir.path().join("policies/main.cedar"),
        "@id(\"all\")\npermit(principal, action, resource);\n",
    )
    .unwrap();
    let d = dir.path();

    let (ok, _, err) = run(d, &url, &["check", "--config", "p.toml"]);
    assert!(!ok);
    assert!(err.contains("run `portcullis migrate`"), "{err}");
    let (ok, _, err) = run(d, &url, &["keys", "list", "--config", "p.toml"]);
    assert!(!ok && err.contains("run `portcullis migrate`"), "{err}");

    let (ok, out, err) = run(d, &url, &["migrate", "--config", "p.toml"]);
    assert!(ok, "{err}");
    assert!(out.contains("migrated from version 0 to"), "{out}");
    let (ok, out, _) = run(d, &url, &["migrate", "--config", "p.toml"]);
    assert!(ok && out.contains("already at version"), "{out}");

    let (ok, out, err) = run(d, &url, &["check", "--config", "p.toml"]);
    assert!(ok, "{err}");
    assert!(out.contains("reachable and at schema version"), "{out}");

    let (ok, out, err) = run(
        d,
        &url,
        &[
            "keys",
            "create",
            "--config",
            "p.toml",
            "--principal",
            "alice",
            "--group",
            "g",
        ],
    );
    assert!(ok, "{err}");
    let key = out.lines().last().unwrap().to_string();
    let id = key.strip_prefix("pc_").unwrap().split('_').next().unwrap();
    let (ok, out, _) = run(d, &url, &["keys", "list", "--config", "p.toml"]);
    assert!(
        ok && out.contains(id) && out.contains("alice") && out.contains("active"),
        "{out}"
    );
    let (ok, _, err) = run(d, &url, &["keys", "revoke", "--config", "p.toml", id]);
    assert!(ok, "{err}");
    let (_, out, _) = run(d, &url, &["keys", "list", "--config", "p.toml"]);
    assert!(out.contains("revoked"), "{out}");
    let store = db.open().unwrap();
    assert!(portcullis_store::Store::get_key(&store, id)
        .unwrap()
        .unwrap()
        .revoked_at
        .is_some());

    // Unreachable: the error names the host, never the password.
    let down = format!("postgres://postgres:{PASSWORD}@127.0.0.1:1/test");
    let (ok, _, err) = run(d, &down, &["check", "--config", "p.toml"]);
    assert!(!ok && err.contains("127.0.0.1:1"), "{err}");
}

#[test]
fn policy_bundles_live_in_the_shared_database() {
    let Some(db) = TestPostgres::from_env().unwrap() else {
        eprintln!("skipped: PORTCULLIS_TEST_POSTGRES is not set");
        return;
    };
    let url = db.url().expose_secret().to_string();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut vkeys = String::new();
    for name in ["alice", "bob"] {
        let (ok, out, err) = run(
            d,
            &url,
            &[
                "audit",
                "keygen",
                "--out",
                &format!("{name}.key"),
                "--name",
                name,
            ],
        );
        assert!(ok, "{err}");
        vkeys.push_str(out.trim());
        vkeys.push('\n');
    }
    std::fs::write(d.join("approvers.txt"), vkeys).unwrap();
    let (ok, _, err) = run(
        d,
        &url,
        &[
            "model",
            "keygen",
            "--out",
            "signer.key",
            "--public-out",
            "signer.pub",
        ],
    );
    assert!(ok, "{err}");
    std::fs::write(
        d.join("p.toml"),
        format!(
            "[store]\nkind = \"postgres\"\nurl_env = \"PORTCULLIS_TEST_DB_URL\"\nschema = \"{}\"\n[policy]\nsource = \"bundle\"\n[integrity]\napprovers_file = \"approvers.txt\"\ntrusted_signers = [\"signer.pub\"]\n[upstreams.m]\nkind = \"mock\"\n[models.mock-model]\nupstream = \"m\"\n",
            db.schema()
        ),
    )
    .unwrap();
    std::fs::create_dir(d.join("v1")).unwrap();
    std::fs::write(
        d.join("v1/main.cedar"),
        "@id(\"team\")\npermit (principal in Portcullis::Group::\"team\", action, resource);\n",
    )
    .unwrap();
    let policy = |args: &[&str]| {
        let mut all = vec!["policy"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--config", "p.toml"]);
        run(d, &url, &all)
    };
    let (ok, _, err) = policy(&["propose", "--dir", "v1", "--note", "CHG-1"]);
    assert!(ok, "{err}");
    for key in ["alice.key", "bob.key"] {
        let (ok, _, err) = policy(&["approve", "1", "--key", key]);
        assert!(ok, "{err}");
    }
    let (ok, _, err) = policy(&["activate", "1"]);
    assert!(ok, "{err}");
    // What another replica sees: the same active bundle, in the database.
    let bundles = portcullis_integrity::policy_bundle::BundleStore::open_postgres(
        portcullis_store::postgres::SqlClient::open(&db.config()).unwrap(),
    );
    assert_eq!(bundles.active_version().unwrap(), Some(1));
    assert_eq!(bundles.get(1).unwrap().approvals.len(), 2);
    // And `check` loads it from there (no bundle tables in a SQLite file).
    let (ok, out, err) = run(d, &url, &["check", "--config", "p.toml"]);
    assert!(ok, "{err}");
    assert!(out.contains("1 policies"), "{out}");
    assert!(!d.join("data/portcullis.db").exists());
}
