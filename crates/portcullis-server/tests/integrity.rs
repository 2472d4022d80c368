//! Model integrity end to end: a `registry = true` model is refused until a version of
//! it is proposed, approved by two approvers and activated; it is then served (and
//! listed); a version made `active` by writing the database directly, without
//! approvals, is not; after one of its files changes on disk the next scheduled
//! verification takes it out of service; each change of what is served is in the audit
//! log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use portcullis_audit::{AuditEvent, EventKind, NoteSigner};
use portcullis_integrity::manifest::HashOptions;
use portcullis_integrity::registry::sqlite::SqliteRegistryStore;
use portcullis_integrity::registry::{
    ApprovalPolicy, Artifacts, ModelRecord, Registry, State, DEFAULT_PROPOSAL_TTL_SECS,
};
use portcullis_integrity::{sign_model, verify_model, Curve, ModelSigningKey, VerifyOptions};
use portcullis_store::AuditQuery;
use portcullis_testkit::TestGateway;
use serde_json::{json, Value};

const POLICIES: &str = r#"
@id("all")
permit (principal in Portcullis::Group::"team", action, resource);
"#;

struct Setup {
    gw: TestGateway,
    key: String,
    alice: NoteSigner,
    bob: NoteSigner,
    policy: ApprovalPolicy,
    signer: ModelSigningKey,
    model: tempfile::TempDir,
}

async fn setup() -> Setup {
    let alice = NoteSigner::generate("alice").unwrap();
    let bob = NoteSigner::generate("bob").unwrap();
    let carol = NoteSigner::generate("carol").unwrap();
    let approvers = [&alice, &bob, &carol]
        .iter()
        .map(|s| s.verifier().to_vkey())
        .collect::<Vec<_>>()
        .join("\n");
    let policy =
        ApprovalPolicy::new(vec![alice.verifier(), bob.verifier(), carol.verifier()], 2).unwrap();
    let signer = ModelSigningKey::generate(Curve::P256).unwrap();
    let model = tempfile::tempdir().unwrap();
    std::fs::write(model.path().join("config.json"), b"{\"layers\": 2}").unwrap();
    std::fs::write(model.path().join("weights.bin"), vec![5u8; 100_000]).unwrap();
    let audit_key = NoteSigner::generate("portcullis.test/audit").unwrap();
    use secrecy::ExposeSecret;
    let skey = audit_key.to_skey().expose_secret().to_string();
    let config = r#"
[upstreams.builtin]
kind = "mock"

[models.tiny]
upstream = "builtin"
registry = true

[models.plain]
upstream = "builtin"

[guards]
enabled = false

[integrity]
approvers_file = "approvers.txt"
trusted_signers = ["signer.pub"]
verify_interval = "1s"

[audit]
signing_key_file = "audit.key"
origin = "portcullis.test/audit"
checkpoint_interval = "1h"
"#;
    let gw = TestGateway::start_with_files(
        config,
        &[("main.cedar", POLICIES)],
        &[
            ("approvers.txt", &approvers),
            ("signer.pub", &signer.public_key().to_spki_pem()),
            ("audit.key", &skey),
        ],
    )
    .await;
    let (_, key) = gw.key("alice", &["team"], None);
    Setup {
        gw,
        key,
        alice,
        bob,
        policy,
        signer,
        model,
    }
}

impl Setup {
    fn registry(&self) -> Registry<SqliteRegistryStore> {
        Registry::new(
            SqliteRegistryStore::open(&self.gw.dir.path().join("data").join("portcullis.db"))
                .unwrap(),
        )
    }

    fn record(&self, version: &str) -> ModelRecord {
        let signed = sign_model(self.model.path(), &self.signer, &HashOptions::default()).unwrap();
        let verified = verify_model(
            self.model.path(),
            signed.bundle.as_bytes(),
            &self.signer.public_key(),
            &VerifyOptions::default(),
        )
        .unwrap();
        let now = portcullis_server::state::unix_now();
        ModelRecord {
            artifacts: Artifacts::local(self.model.path(), &signed.bundle, &verified),
            expires_at: now + DEFAULT_PROPOSAL_TTL_SECS,
            name: "tiny".into(),
            proposed_at: now,
            proposed_by: "ops".into(),
            provenance: "test".into(),
            source: "local".into(),
            version: version.into(),
        }
    }

    async fn chat(&self, model: &str) -> (u16, Value) {
        common::chat(&self.gw, &self.key, model, "hi").await
    }

    async fn listed(&self) -> Vec<String> {
        let r: Value = reqwest::Client::new()
            .get(format!("{}/v1/models", self.gw.url))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    }

    async fn wait_for(&self, status: u16) -> Value {
        common::wait_for(&self.gw, &self.key, "tiny", "hi", status).await
    }

    fn model_events(&self) -> Vec<(String, String)> {
        common::system_events(&self.gw)
            .into_iter()
            .filter(|e| e.kind == EventKind::ModelChanged)
            .map(|e| (e.action, e.target.unwrap_or_default()))
            .collect()
    }
}

#[tokio::test]
async fn an_approved_model_is_served_until_its_files_change() {
    let s = setup().await;
    // Nothing registered: refused with a clear error; other models are unaffected.
    let (status, body) = s.chat("tiny").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "model_not_approved");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no active version in the model registry"),
        "{body}"
    );
    assert_eq!(s.chat("plain").await.0, 200);
    assert_eq!(s.listed().await, vec!["plain".to_string()]);

    // Proposed, then marked active by writing the database directly (no approvals): the
    // gateway re-checks approvals itself and does not serve it.
    let mut reg = s.registry();
    reg.propose(&s.record("1")).unwrap();
    reg.store()
        .connection()
        .execute(
            "UPDATE model_versions SET state = 'active' WHERE name = 'tiny' AND version = '1'",
            [],
        )
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(s.chat("tiny").await.0, 403);
    let now = portcullis_server::state::unix_now();
    assert_eq!(reg.get("tiny", "1").unwrap().state, State::Suspended);

    // Version 2: one approval is not enough; the second makes it approved; activation
    // verifies the files; then it is served and listed.
    reg.propose(&s.record("2")).unwrap();
    assert_eq!(
        reg.approve("tiny", "2", &s.alice, &s.policy, now).unwrap(),
        State::Proposed
    );
    // Bob approves over the admin API with a note he signed offline.
    let admin = |method, path: &str| common::admin(&s.gw, method, path);
    let shown: Value = admin(reqwest::Method::GET, "/registry/models/tiny/2")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let record = ModelRecord::from_canonical_json(shown["record"].as_str().unwrap()).unwrap();
    let note = s
        .bob
        .sign(&portcullis_integrity::registry::approval_text(&record))
        .unwrap();
    let r: Value = admin(reqwest::Method::POST, "/registry/models/tiny/2/approvals")
        .body(note.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["state"], "approved", "{r}");
    let r = admin(reqwest::Method::POST, "/registry/models/tiny/2/approvals")
        .body(note)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "the same approver twice");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(s.chat("tiny").await.0, 403, "approved is not active");
    reg.activate("tiny", "2", &s.policy, &[s.signer.public_key()], "ops", now)
        .unwrap();
    s.wait_for(200).await;
    let all: Value = admin(reqwest::Method::GET, "/registry/models")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let v2 = all["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == "2")
        .unwrap();
    assert_eq!(v2["served"], true, "{all}");
    assert_eq!(v2["approvals"], json!(["alice", "bob"]));
    let mut listed = s.listed().await;
    listed.sort();
    assert_eq!(listed, vec!["plain".to_string(), "tiny".to_string()]);

    // A file changes on disk: the next scheduled verification (1 s) suspends the version.
    std::fs::write(s.model.path().join("weights.bin"), vec![6u8; 100_000]).unwrap();
    let body = s.wait_for(403).await;
    assert_eq!(body["error"]["code"], "model_not_approved");
    assert_eq!(reg.get("tiny", "2").unwrap().state, State::Suspended);
    assert_eq!(s.listed().await, vec!["plain".to_string()]);

    // The audit log has what happened, in order.
    s.gw.state.decisions.checkpoint().await.unwrap();
    let events = s.model_events();
    let actions: Vec<&str> = events.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        [
            "model.suspend",
            "model.serve",
            "model.suspend",
            "model.unserve"
        ],
        "{events:?}"
    );
    assert!(events[0].1.starts_with("tiny@1: "), "{events:?}");
    assert_eq!(events[1].1, "tiny@2");
    assert!(
        events[2].1.starts_with("tiny@2: ") && events[2].1.contains("weights.bin"),
        "{events:?}"
    );
    // The request served by version 2 names it in its event.
    let served =
        s.gw.store
            .query_audit(&AuditQuery {
                principal: Some("alice".into()),
                decision: Some("allow".into()),
                ..Default::default()
            })
            .unwrap()
            .iter()
            .map(|l| AuditEvent::from_canonical_bytes(&l.leaf.leaf).unwrap())
            .filter(|e| e.model.as_deref() == Some("tiny@2"))
            .count();
    assert!(served >= 1);
}
