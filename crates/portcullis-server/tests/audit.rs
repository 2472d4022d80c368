//! The audit log wired into the gateway: every request (allowed or refused) and control
//! change becomes a leaf in the same transaction as its decision record, checkpoints are
//! signed, proofs verify offline, and `verify_log` names the first bad leaf or
//! checkpoint after each kind of tampering with the database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use portcullis_audit::{AuditEvent, CheckpointVerifier, Decision, EventKind, NoteSigner};
use portcullis_server::audit::{verify_log, verify_proof, VerifyFailure};
use portcullis_store::sqlite::SqliteStore;
use portcullis_store::Store;
use portcullis_testkit::TestGateway;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const ORIGIN: &str = "portcullis.test/audit";

const POLICIES: &str = r#"
@id("team-standard")
permit (principal in Portcullis::Group::"team", action, resource)
when { resource.tier == "standard" };
"#;

fn config() -> String {
    format!(
        r#"
[upstreams.builtin]
kind = "mock"

[models.local]
upstream = "builtin"
tier = "standard"

[models.premium]
upstream = "builtin"
tier = "premium"

# Exact event contents are checked here; guard findings in events are tested with the
# guards (tests/guards.rs).
[guards]
enabled = false

[audit]
signing_key_file = "audit.key"
origin = "{ORIGIN}"
checkpoint_interval = "1h"
"#
    )
}

struct Run {
    gw: TestGateway,
    http: reqwest::Client,
    key: String,
    signer: NoteSigner,
}

async fn start() -> Run {
    let signer = NoteSigner::generate(ORIGIN).unwrap();
    use secrecy::ExposeSecret;
    let skey = signer.to_skey().expose_secret().to_string();
    let gw = TestGateway::start_with_files(
        &config(),
        &[("main.cedar", POLICIES)],
        &[("audit.key", &skey)],
    )
    .await;
    let (_, key) = gw.key("alice", &["team"], None);
    let run = Run {
        gw,
        http: reqwest::Client::new(),
        key,
        signer,
    };
    // The first checkpoint covers the two events of the start (policies and guards), so
    // each later one covers a single request and a changed root names a single leaf.
    run.checkpoint().await;
    run
}

impl Run {
    async fn chat(&self, model: &str, key: Option<&str>, stream: bool) -> (String, Vec<u8>) {
        let body = json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hello audit"}]}).to_string();
        let mut r = self
            .http
            .post(format!("{}/v1/chat/completions", self.gw.url))
            .header("content-type", "application/json")
            .body(body);
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        let resp = r.send().await.unwrap();
        let rid = resp.headers()["x-request-id"].to_str().unwrap().to_string();
        (rid, resp.bytes().await.unwrap().to_vec())
    }

    async fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::Response {
        self.http
            .request(method, format!("{}{path}", self.gw.admin_url))
            .bearer_auth(&self.gw.admin_token)
            .send()
            .await
            .unwrap()
    }

    async fn checkpoint(&self) -> String {
        let r = self.admin(reqwest::Method::POST, "/audit/checkpoint").await;
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    }

    fn verifier(&self) -> CheckpointVerifier {
        CheckpointVerifier::new(ORIGIN, self.signer.verifier()).unwrap()
    }
}

fn db_path(dir: &Path) -> PathBuf {
    dir.join("data").join("portcullis.db")
}

/// A consistent copy of the database (WAL included) to tamper with.
fn copy_db(src: &Path, name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join(name);
    let c = rusqlite::Connection::open(src).unwrap();
    c.execute("VACUUM INTO ?1", [dst.to_str().unwrap()])
        .unwrap();
    (dir, dst)
}

fn leaf_of(store: &dyn Store, event_id: &str) -> (u64, AuditEvent) {
    let l = store.audit_leaf_by_event(event_id).unwrap().unwrap();
    (
        l.index,
        AuditEvent::from_canonical_bytes(&l.leaf.leaf).unwrap(),
    )
}

#[tokio::test]
async fn every_request_is_logged_checkpointed_provable_and_tampering_is_named() {
    let run = start().await;
    // One checkpoint per request, so a changed root names a single leaf.
    let (allowed, allowed_body) = run.chat("local", Some(&run.key), false).await;
    run.checkpoint().await;
    let (streamed, streamed_body) = run.chat("local", Some(&run.key), true).await;
    run.checkpoint().await;
    let (unauth, _) = run.chat("local", None, false).await;
    run.checkpoint().await;
    let (denied, _) = run.chat("premium", Some(&run.key), false).await;
    run.checkpoint().await;
    portcullis_server::reload_policies(&run.gw.state).unwrap();
    let latest = run.checkpoint().await;
    for _ in 0..3 {
        run.chat("local", Some(&run.key), false).await;
    }
    let last = run.checkpoint().await;
    assert_ne!(latest, last);

    // The latest checkpoint is served and verifies.
    let served = run.admin(reqwest::Method::GET, "/audit/checkpoint").await;
    assert_eq!(served.text().await.unwrap(), last);
    let cp = run.verifier().open(&last).unwrap();
    assert_eq!(cp.size(), 10);

    // The events say what happened; bodies appear only as hashes.
    let store = run.gw.store.clone();
    // The start recorded the policy set and the guard configuration first.
    let start: Vec<AuditEvent> = store
        .audit_leaves(0, 2)
        .unwrap()
        .iter()
        .map(|l| AuditEvent::from_canonical_bytes(&l.leaf.leaf).unwrap())
        .collect();
    assert_eq!(start[0].kind, EventKind::PolicyReloaded);
    let policy_digest = hex::encode(run.gw.state.policy.load().digest);
    assert!(
        start[0]
            .target
            .as_deref()
            .unwrap()
            .starts_with(&format!("sha256:{policy_digest} (1 policies from 1 files)")),
        "{:?}",
        start[0].target
    );
    assert_eq!(start[1].kind, EventKind::GuardConfigChanged);
    let guards = start[1].target.as_deref().unwrap();
    assert!(guards.starts_with("sha256:"), "{guards}");
    assert!(
        guards.contains("classifier sha256:") && guards.contains("profile default: off"),
        "{guards}"
    );
    assert!(guards.contains("model local: profile default"), "{guards}");
    let (i, e) = leaf_of(&*store, &allowed);
    assert_eq!(i, 2);
    assert_eq!(e.kind, EventKind::Request);
    assert_eq!(e.principal, "alice");
    assert_eq!(e.identity_kind, "api_key");
    assert_eq!(e.action, "chat.completions");
    assert_eq!(e.model.as_deref(), Some("local"));
    // The request names the policy set that decided it, as the start event records it.
    assert_eq!(
        e.target.as_deref(),
        Some(format!("policy:sha256:{}", &policy_digest[..16]).as_str())
    );
    assert_eq!(e.upstream.as_deref(), Some("builtin"));
    assert_eq!(e.decision, Some(Decision::Allow));
    assert_eq!(e.policy_ids, vec!["team-standard".to_string()]);
    assert!(e.prompt_tokens.is_some() && e.latency_us.is_some());
    let sent = json!({"model": "local", "stream": false, "messages": [{"role": "user", "content": "hello audit"}]}).to_string();
    assert_eq!(
        e.request_sha256,
        Some(Sha256::digest(sent.as_bytes()).into())
    );
    assert_eq!(
        e.response_sha256,
        Some(Sha256::digest(&allowed_body).into())
    );
    let (_, e) = leaf_of(&*store, &streamed);
    assert_eq!(
        e.response_sha256,
        Some(Sha256::digest(&streamed_body).into()),
        "a stream's hash covers every byte sent"
    );
    let (_, e) = leaf_of(&*store, &unauth);
    assert_eq!(e.decision, Some(Decision::Deny));
    assert_eq!(e.identity_kind, "");
    assert!(
        e.policy_ids[0].starts_with("unauthenticated:"),
        "{:?}",
        e.policy_ids
    );
    let (_, e) = leaf_of(&*store, &denied);
    assert_eq!(e.decision, Some(Decision::Deny));
    assert_eq!(e.policy_ids, vec!["default-deny".to_string()]);
    let reload =
        AuditEvent::from_canonical_bytes(&store.audit_leaves(6, 7).unwrap()[0].leaf.leaf).unwrap();
    assert_eq!(reload.kind, EventKind::PolicyReloaded);

    // Inclusion proof by event id (at the last checkpoint), checked offline.
    let r = run
        .admin(
            reqwest::Method::GET,
            &format!("/audit/proof/inclusion?event_id={denied}"),
        )
        .await;
    assert_eq!(r.status(), 200);
    let proof: Value = r.json().await.unwrap();
    assert_eq!(proof["size"], 10);
    assert_eq!(proof["checkpoint"], Value::String(last.clone()));
    let ok = verify_proof(&run.signer.verifier(), &last, &proof, None).unwrap();
    assert!(ok.contains("leaf 5"), "{ok}");
    // A forged event (the same leaf saying "allow") does not verify.
    let mut forged = proof.clone();
    forged["leaf"] = Value::String(
        proof["leaf"]
            .as_str()
            .unwrap()
            .replace("\"decision\":\"deny\"", "\"decision\":\"allow\""),
    );
    forged.as_object_mut().unwrap().remove("leaf_hash");
    assert_ne!(forged["leaf"], proof["leaf"]);
    let err = verify_proof(&run.signer.verifier(), &last, &forged, None).unwrap_err();
    assert!(err.contains("not in the checkpointed tree"), "{err}");
    // Another key's checkpoint is refused.
    let other = NoteSigner::generate(ORIGIN).unwrap();
    assert!(verify_proof(&other.verifier(), &last, &proof, None).is_err());

    // Consistency proof between two checkpoints.
    let r = run
        .admin(
            reqwest::Method::GET,
            "/audit/proof/consistency?old=7&new=10",
        )
        .await;
    let cons: Value = r.json().await.unwrap();
    let ok = verify_proof(&run.signer.verifier(), &last, &cons, Some(&latest)).unwrap();
    assert!(ok.contains("prefix"), "{ok}");

    // Query on the admin API.
    let r = run
        .admin(
            reqwest::Method::GET,
            "/audit/query?principal=alice&decision=deny&since=1h",
        )
        .await;
    let lines = r.text().await.unwrap();
    assert_eq!(lines.lines().count(), 1, "{lines}");
    assert!(lines.contains(&denied));

    let verifier = run.verifier();
    let dir = run.gw.stop_keeping_dir().await;
    let src = db_path(dir.path());

    // Untouched: verifies.
    let s = SqliteStore::open_file(&src).unwrap();
    let report = verify_log(&s, &verifier).unwrap();
    assert_eq!(report.size, 10);
    assert_eq!(report.checkpoints, 7);
    assert_eq!(report.unsigned(), 0);

    let tamper = |name: &str, sql: &dyn Fn(&rusqlite::Connection)| -> VerifyFailure {
        let (_d, path) = copy_db(&src, name);
        {
            let c = rusqlite::Connection::open(&path).unwrap();
            sql(&c);
        }
        let s = SqliteStore::open_file(&path).unwrap();
        verify_log(&s, &verifier).expect_err(name)
    };

    // 1. One byte of a stored leaf.
    let f = tamper("byte", &|c| {
        let mut leaf: Vec<u8> = c
            .query_row("SELECT leaf FROM audit_leaves WHERE idx = 4", [], |r| {
                r.get(0)
            })
            .unwrap();
        leaf[20] ^= 1;
        c.execute("UPDATE audit_leaves SET leaf = ?1 WHERE idx = 4", [leaf])
            .unwrap();
    });
    assert!(matches!(f, VerifyFailure::Leaf { index: 4, .. }), "{f}");
    // 1b. ... with its leaf hash recomputed: the signed root catches it.
    let f = tamper("byte-rehashed", &|c| {
        let leaf: Vec<u8> = c
            .query_row("SELECT leaf FROM audit_leaves WHERE idx = 4", [], |r| {
                r.get(0)
            })
            .unwrap();
        let leaf = String::from_utf8(leaf)
            .unwrap()
            .replace("chat.completions", "chat.completionz")
            .into_bytes();
        let h = portcullis_audit::merkle::leaf_hash(&leaf).to_vec();
        c.execute(
            "UPDATE audit_leaves SET leaf = ?1, leaf_hash = ?2 WHERE idx = 4",
            rusqlite::params![leaf, h],
        )
        .unwrap();
    });
    assert!(
        matches!(
            f,
            VerifyFailure::Checkpoint {
                position: 4,
                first_bad_leaf: Some(4),
                ..
            }
        ),
        "{f}"
    );
    // 2. A deleted leaf.
    let f = tamper("delete", &|c| {
        c.execute("DELETE FROM audit_leaves WHERE idx = 7", [])
            .unwrap();
    });
    assert!(matches!(f, VerifyFailure::Leaf { index: 7, .. }), "{f}");
    // 3. Two leaves swapped (every column but the index).
    let f = tamper("swap", &|c| {
        c.execute_batch(
            "UPDATE audit_leaves SET idx = -1 WHERE idx = 3;
             UPDATE audit_leaves SET idx = 3 WHERE idx = 5;
             UPDATE audit_leaves SET idx = 5 WHERE idx = -1;",
        )
        .unwrap();
    });
    assert!(
        matches!(
            f,
            VerifyFailure::Checkpoint {
                first_bad_leaf: Some(3),
                ..
            }
        ),
        "{f}"
    );
    assert!(f.to_string().contains("leaf 3"), "{f}");
    // 4. Truncated.
    let f = tamper("truncate", &|c| {
        c.execute("DELETE FROM audit_leaves WHERE idx >= 8", [])
            .unwrap();
    });
    assert!(
        matches!(
            f,
            VerifyFailure::Checkpoint {
                first_bad_leaf: Some(8),
                ..
            }
        ),
        "{f}"
    );
    // 5. A checkpoint replaced: by one another key signed, and by an edited root.
    let other = NoteSigner::generate(ORIGIN).unwrap();
    let fake = other
        .sign(&verifier.open(&last).unwrap().to_note_text())
        .unwrap();
    let f = tamper("checkpoint-key", &|c| {
        c.execute(
            "UPDATE audit_checkpoints SET note = ?1 WHERE seq = (SELECT MAX(seq) FROM audit_checkpoints)",
            [&fake],
        )
        .unwrap();
    });
    assert!(
        matches!(f, VerifyFailure::Checkpoint { position: 7, .. }),
        "{f}"
    );
    let f = tamper("checkpoint-text", &|c| {
        let first: String = c
            .query_row(
                "SELECT note FROM audit_checkpoints ORDER BY seq LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let mut lines: Vec<String> = first.lines().map(str::to_string).collect();
        lines[1] = "3".into();
        c.execute(
            "UPDATE audit_checkpoints SET note = ?1 WHERE seq = (SELECT MIN(seq) FROM audit_checkpoints)",
            [lines.join("\n") + "\n"],
        )
        .unwrap();
    });
    assert!(
        matches!(f, VerifyFailure::Checkpoint { position: 1, .. }),
        "{f}"
    );
}

#[tokio::test]
async fn the_log_resumes_after_a_restart_and_refuses_a_tampered_one() {
    let run = start().await;
    run.chat("local", Some(&run.key), false).await;
    run.chat("local", None, false).await;
    let Run { gw, signer, .. } = run;
    let keep = gw.stop_keeping_dir().await; // signs a last checkpoint
    let verifier = CheckpointVerifier::new(ORIGIN, signer.verifier()).unwrap();
    let store = SqliteStore::open_file(&db_path(keep.path())).unwrap();
    let report = verify_log(&store, &verifier).unwrap();
    assert_eq!(
        (report.size, report.checkpoints, report.unsigned()),
        (4, 2, 0)
    );
    drop(store);

    // Restart on the same data: the tree is rebuilt and the signer resumed.
    let path = keep.path().join("portcullis.toml");
    let config = portcullis_core::config::Config::load(
        &path,
        &std::collections::BTreeMap::<String, String>::new(),
    )
    .unwrap();
    let store: std::sync::Arc<dyn Store> =
        std::sync::Arc::new(SqliteStore::open(&config.data_dir).unwrap());
    let gw = portcullis_server::Gateway::new(config.clone(), store.clone()).unwrap();
    assert_eq!(gw.state().audit.as_ref().unwrap().tree.read().size(), 4);
    let note = gw.state().decisions.checkpoint().await.unwrap();
    assert!(
        note.is_none(),
        "nothing new to sign: the same policies and guards are not recorded twice"
    );
    drop(gw);

    // Restarted with the guards switched on: one `guard_config_changed` event, and only
    // that (the policies are the same).
    let on = std::fs::read_to_string(&path)
        .unwrap()
        .replace("[guards]\nenabled = false", "[guards]\nenabled = true");
    let on_path = keep.path().join("guards-on.toml");
    std::fs::write(&on_path, on).unwrap();
    let config_on = portcullis_core::config::Config::load(
        &on_path,
        &std::collections::BTreeMap::<String, String>::new(),
    )
    .unwrap();
    let gw = portcullis_server::Gateway::new(config_on, store.clone()).unwrap();
    let note = gw.state().decisions.checkpoint().await.unwrap();
    assert!(note.is_some());
    drop(gw);
    let leaves = store.audit_leaves(4, 6).unwrap();
    assert_eq!(leaves.len(), 1);
    let e = AuditEvent::from_canonical_bytes(&leaves[0].leaf.leaf).unwrap();
    assert_eq!(e.kind, EventKind::GuardConfigChanged);
    let t = e.target.unwrap();
    assert!(
        t.contains("profile default: input ") && t.contains("INJECTION=block"),
        "{t}"
    );

    // A leaf altered under the last checkpoint: the gateway refuses to start.
    {
        let c = rusqlite::Connection::open(db_path(keep.path())).unwrap();
        c.execute(
            "UPDATE audit_leaves SET leaf_hash = zeroblob(32) WHERE idx = 0",
            [],
        )
        .unwrap();
    }
    let store: std::sync::Arc<dyn Store> =
        std::sync::Arc::new(SqliteStore::open(&config.data_dir).unwrap());
    let err = portcullis_server::Gateway::new(config, store)
        .err()
        .unwrap();
    assert!(err.to_string().contains("audit verify"), "{err}");
}

const BODY_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

#[tokio::test]
async fn stored_bodies_decrypt_expire_and_refuse_tampering_or_the_wrong_key() {
    use portcullis_server::audit::{read_body, BodyCipher};
    let signer = NoteSigner::generate(ORIGIN).unwrap();
    use secrecy::ExposeSecret;
    let skey = signer.to_skey().expose_secret().to_string();
    let config = format!(
        "{}store_bodies = true\nbody_key_file = \"body.key\"\nbody_retention = \"2s\"\n",
        config()
    );
    let gw = TestGateway::start_with_files(
        &config,
        &[("main.cedar", POLICIES)],
        &[("audit.key", &skey), ("body.key", &format!("{BODY_KEY}\n"))],
    )
    .await;
    let (_, key) = gw.key("alice", &["team"], None);
    let run = Run {
        gw,
        http: reqwest::Client::new(),
        key,
        signer,
    };
    let t0 = std::time::Instant::now();
    let (plain, plain_body) = run.chat("local", Some(&run.key), false).await;
    let (streamed, streamed_body) = run.chat("local", Some(&run.key), true).await;
    let (denied, _) = run.chat("premium", Some(&run.key), false).await;
    run.gw.flush_audit().await;
    let store = run.gw.store.clone();
    let cipher = BodyCipher::from_key_text(BODY_KEY, None).unwrap();

    // Round trip: what was sent and received, checked against the leaf's hashes.
    let sent = |stream: bool| {
        json!({"model": "local", "stream": stream, "messages": [{"role": "user", "content": "hello audit"}]})
            .to_string()
            .into_bytes()
    };
    assert_eq!(
        read_body(&*store, &cipher, &plain, "request").unwrap(),
        sent(false)
    );
    assert_eq!(
        read_body(&*store, &cipher, &plain, "response").unwrap(),
        plain_body
    );
    assert_eq!(
        read_body(&*store, &cipher, &streamed, "request").unwrap(),
        sent(true)
    );
    assert_eq!(
        read_body(&*store, &cipher, &streamed, "response").unwrap(),
        streamed_body,
        "a stream's body is every byte sent"
    );
    // A refused request keeps its request body; it had no response body.
    assert!(read_body(&*store, &cipher, &denied, "request").is_ok());
    assert!(read_body(&*store, &cipher, &denied, "response")
        .unwrap_err()
        .contains("no response body hash"));
    // At rest it is ciphertext.
    let stored = store.audit_body(&plain, "request").unwrap().unwrap();
    assert_eq!(stored.nonce.len(), 24);
    assert_eq!(stored.ciphertext.len(), sent(false).len() + 16);
    assert!(!stored.ciphertext.windows(11).any(|w| w == b"hello audit"));
    let other = store.audit_body(&streamed, "request").unwrap().unwrap();
    assert_ne!(stored.nonce, other.nonce, "a fresh nonce per body");

    // The wrong key fails cleanly.
    let wrong = BodyCipher::from_key_text(&"ab".repeat(32), None).unwrap();
    let err = read_body(&*store, &wrong, &plain, "request").unwrap_err();
    assert!(err.contains("does not decrypt"), "{err}");
    assert!(!err.contains(BODY_KEY));
    let err = BodyCipher::from_key_text("not-a-key", None).unwrap_err();
    assert!(
        err.contains("32 bytes") && !err.contains("not-a-key"),
        "{err}"
    );

    // Tampering: a flipped ciphertext bit, or a ciphertext moved to another event or part.
    {
        let c = rusqlite::Connection::open(db_path(run.gw.dir.path())).unwrap();
        let mut ct: Vec<u8> = c
            .query_row(
                "SELECT ciphertext FROM audit_bodies WHERE event_id = ?1 AND part = 'request'",
                [&plain],
                |r| r.get(0),
            )
            .unwrap();
        ct[3] ^= 1;
        c.execute(
            "UPDATE audit_bodies SET ciphertext = ?2 WHERE event_id = ?1 AND part = 'request'",
            rusqlite::params![&plain, ct],
        )
        .unwrap();
        c.execute(
            "DELETE FROM audit_bodies WHERE event_id = ?1 AND part = 'request'",
            [&streamed],
        )
        .unwrap();
        c.execute(
            "UPDATE audit_bodies SET part = 'request' WHERE event_id = ?1 AND part = 'response'",
            [&streamed],
        )
        .unwrap();
    }
    let err = read_body(&*store, &cipher, &plain, "request").unwrap_err();
    assert!(err.contains("does not decrypt"), "{err}");
    let err = read_body(&*store, &cipher, &streamed, "request").unwrap_err();
    assert!(
        err.contains("does not decrypt"),
        "moved to another part: {err}"
    );
    // The response body is intact.
    assert_eq!(
        read_body(&*store, &cipher, &plain, "response").unwrap(),
        plain_body
    );

    // Retention: after 2 s, the next checkpoint tick deletes the bodies; the leaves,
    // hashes and proofs are untouched and the log verifies.
    let wait = std::time::Duration::from_millis(2500).saturating_sub(t0.elapsed());
    tokio::time::sleep(wait).await;
    let (fresh, _) = run.chat("local", Some(&run.key), false).await;
    run.checkpoint().await;
    for id in [&plain, &streamed, &denied] {
        let err = read_body(&*store, &cipher, id, "request").unwrap_err();
        assert!(err.contains("deleted after the retention period"), "{err}");
    }
    assert!(read_body(&*store, &cipher, &fresh, "request").is_ok());
    let report = verify_log(&*store, &run.verifier()).unwrap();
    assert_eq!(report.size, 6, "two start events and four requests");
    assert_eq!(report.unsigned(), 0);
}
