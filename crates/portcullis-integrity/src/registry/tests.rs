//! Registry life cycle and every refusal of issue 6: wrong approver, duplicate approver,
//! replayed approval, tampered record, expired proposal, forged approval, and a model
//! whose files change after activation.
//!
//! Every test runs on SQLite and, in `on_postgres` (when `PORTCULLIS_TEST_POSTGRES` is
//! set), again on PostgreSQL: [`fixture`] opens the backend the thread asks for.

use portcullis_audit::NoteSigner;

use std::cell::RefCell;

use portcullis_store::testing::TestPostgres;

use super::postgres::PostgresRegistryStore;
use super::sqlite::SqliteRegistryStore;
use super::*;
use crate::keys::{Curve, ModelSigningKey};
use crate::manifest::HashOptions;
use crate::signing::sign_model;

const T0: i64 = 1_800_000_000;

thread_local! {
    /// Set by `on_postgres`: the fixture's registry lives in this schema.
    static POSTGRES: RefCell<Option<TestPostgres>> = const { RefCell::new(None) };
}

fn open_store() -> AnyRegistryStore {
    POSTGRES.with(|pg| match &*pg.borrow() {
        Some(db) => AnyRegistryStore::Postgres(PostgresRegistryStore::new(
            portcullis_store::postgres::SqlClient::open(&db.config()).unwrap(),
        )),
        None => AnyRegistryStore::Sqlite(SqliteRegistryStore::open_in_memory().unwrap()),
    })
}

/// Runs SQL with one text parameter (`?1`) as an attacker with database access would.
fn tamper(store: &AnyRegistryStore, sql: &str, param: &str) {
    match store {
        AnyRegistryStore::Sqlite(s) => {
            s.connection().execute(sql, [param]).unwrap();
        }
        AnyRegistryStore::Postgres(s) => {
            s.sql()
                .execute(&sql.replace("?1", "$1"), vec![Box::new(param.to_string())])
                .unwrap();
        }
    }
}

mod on_postgres {
    macro_rules! on_postgres {
        ($($name:ident),* $(,)?) => {
            $( #[test] fn $name() {
                let Some(db) = super::TestPostgres::or_skip(stringify!($name)) else { return };
                super::POSTGRES.with(|pg| *pg.borrow_mut() = Some(db));
                super::$name();
                super::POSTGRES.with(|pg| pg.borrow_mut().take());
            } )*
        };
    }
    on_postgres!(
        two_approvals_make_a_local_model_routable,
        a_changed_file_takes_the_model_out_of_service,
        an_approver_outside_the_set_is_refused,
        one_approver_cannot_approve_twice,
        an_approval_of_another_record_is_a_replay,
        a_tampered_record_is_detected,
        removing_an_approver_voids_their_approval,
        activating_a_new_version_retires_the_old_one,
        records_are_validated_and_unique,
    );
}

struct Fixture {
    reg: Registry<AnyRegistryStore>,
    alice: NoteSigner,
    bob: NoteSigner,
    carol: NoteSigner,
    policy: ApprovalPolicy,
    signer: ModelSigningKey,
    model: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let alice = NoteSigner::generate("alice").unwrap();
    let bob = NoteSigner::generate("bob").unwrap();
    let carol = NoteSigner::generate("carol").unwrap();
    let policy = ApprovalPolicy::new(
        vec![alice.verifier(), bob.verifier(), carol.verifier()],
        DEFAULT_THRESHOLD,
    )
    .unwrap();
    let model = tempfile::tempdir().unwrap();
    std::fs::write(model.path().join("config.json"), b"{}").unwrap();
    std::fs::write(model.path().join("weights.bin"), vec![3u8; 10_000]).unwrap();
    Fixture {
        reg: Registry::new(open_store()),
        alice,
        bob,
        carol,
        policy,
        signer: ModelSigningKey::generate(Curve::P256).unwrap(),
        model,
    }
}

fn local_record(f: &Fixture, version: &str) -> ModelRecord {
    let signed = sign_model(f.model.path(), &f.signer, &HashOptions::default()).unwrap();
    let verified = verify_model(
        f.model.path(),
        signed.bundle.as_bytes(),
        &f.signer.public_key(),
        &VerifyOptions::default(),
    )
    .unwrap();
    ModelRecord {
        artifacts: Artifacts::local(f.model.path(), &signed.bundle, &verified),
        expires_at: T0 + DEFAULT_PROPOSAL_TTL_SECS,
        name: "tiny-llm".into(),
        proposed_at: T0,
        proposed_by: "ops".into(),
        provenance: "fine-tune run 42, reviewed in TICKET-7".into(),
        source: "s3://models/tiny-llm".into(),
        version: version.into(),
    }
}

fn remote_record(version: &str, model_id: &str) -> ModelRecord {
    ModelRecord {
        artifacts: Artifacts::Remote {
            endpoint: "https://api.openai.com/v1".into(),
            provider_model_id: model_id.into(),
        },
        expires_at: T0 + 3600,
        name: "gpt".into(),
        proposed_at: T0,
        proposed_by: "ops".into(),
        provenance: "provider snapshot".into(),
        source: "openai".into(),
        version: version.into(),
    }
}

fn err_of<T: std::fmt::Debug>(r: Result<T>) -> RegistryError {
    match r {
        Err(Error::Registry(e)) => e,
        other => panic!("expected a registry error, got {other:?}"),
    }
}

#[test]
fn two_approvals_make_a_local_model_routable() {
    let mut f = fixture();
    let rec = local_record(&f, "1");
    let digest = f.reg.propose(&rec).unwrap();
    assert_eq!(digest, rec.digest());
    let keys = [f.signer.public_key()];
    // Not yet approved: activation is refused.
    let e = err_of(
        f.reg
            .activate("tiny-llm", "1", &f.policy, &keys, "ops", T0 + 1),
    );
    assert!(matches!(e, RegistryError::BadTransition { .. }), "{e}");
    let s = f
        .reg
        .approve("tiny-llm", "1", &f.alice, &f.policy, T0 + 10)
        .unwrap();
    assert_eq!(s, State::Proposed);
    let s = f
        .reg
        .approve("tiny-llm", "1", &f.bob, &f.policy, T0 + 20)
        .unwrap();
    assert_eq!(s, State::Approved);
    assert!(f.reg.active_version("tiny-llm").unwrap().is_none());
    let e = err_of(f.reg.route("tiny-llm"));
    assert!(e.to_string().contains("latest 1 is approved"), "{e}");
    let e = err_of(f.reg.route("unknown"));
    assert!(e.to_string().contains("no version is registered"), "{e}");
    f.reg
        .activate("tiny-llm", "1", &f.policy, &keys, "ops", T0 + 30)
        .unwrap();
    let active = f.reg.active_version("tiny-llm").unwrap().unwrap();
    assert_eq!(active.record, rec);
    assert_eq!(f.reg.route("tiny-llm").unwrap().record, rec);
    let actions: Vec<String> = f
        .reg
        .history("tiny-llm", "1")
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [
            "proposed",
            "approved_by",
            "approved_by",
            "approved",
            "activated"
        ]
    );
}

#[test]
fn a_changed_file_takes_the_model_out_of_service() {
    let mut f = fixture();
    let rec = local_record(&f, "1");
    f.reg.propose(&rec).unwrap();
    f.reg
        .approve("tiny-llm", "1", &f.alice, &f.policy, T0 + 1)
        .unwrap();
    f.reg
        .approve("tiny-llm", "1", &f.carol, &f.policy, T0 + 2)
        .unwrap();
    let keys = [f.signer.public_key()];
    f.reg
        .activate("tiny-llm", "1", &f.policy, &keys, "ops", T0 + 3)
        .unwrap();
    let ok = f.reg.check_active(&f.policy, &keys, T0 + 4).unwrap();
    assert!(ok[0].1.is_ok(), "{ok:?}");
    std::fs::write(f.model.path().join("weights.bin"), vec![4u8; 10_000]).unwrap();
    let checked = f.reg.check_active(&f.policy, &keys, T0 + 5).unwrap();
    let reason = checked[0].1.clone().unwrap_err();
    assert!(reason.contains("weights.bin"), "{reason}");
    let v = f.reg.get("tiny-llm", "1").unwrap();
    assert_eq!(v.state, State::Suspended);
    let e = err_of(f.reg.route("tiny-llm"));
    let RegistryError::NotRoutable { reason, .. } = &e else {
        panic!("{e}")
    };
    assert!(
        reason.contains("suspended") && reason.contains("weights.bin"),
        "{e}"
    );
    assert!(f.reg.active_version("tiny-llm").unwrap().is_none());
    let last = f.reg.history("tiny-llm", "1").unwrap().pop().unwrap();
    assert_eq!(last.action, "suspended");
    // Re-activation re-verifies, so it is refused while the file is wrong...
    let e = err_of(
        f.reg
            .activate("tiny-llm", "1", &f.policy, &keys, "ops", T0 + 6),
    );
    assert!(matches!(e, RegistryError::VerificationFailed { .. }), "{e}");
    // ...and works once it is restored.
    std::fs::write(f.model.path().join("weights.bin"), vec![3u8; 10_000]).unwrap();
    f.reg
        .activate("tiny-llm", "1", &f.policy, &keys, "ops", T0 + 7)
        .unwrap();
}

#[test]
fn activation_needs_a_trusted_signer_key() {
    let mut f = fixture();
    f.reg.propose(&local_record(&f, "1")).unwrap();
    f.reg
        .approve("tiny-llm", "1", &f.alice, &f.policy, T0 + 1)
        .unwrap();
    f.reg
        .approve("tiny-llm", "1", &f.bob, &f.policy, T0 + 2)
        .unwrap();
    let other = ModelSigningKey::generate(Curve::P256).unwrap().public_key();
    let e = err_of(
        f.reg
            .activate("tiny-llm", "1", &f.policy, &[other], "ops", T0 + 3),
    );
    assert!(e.to_string().contains("no trusted signer key"), "{e}");
}

#[test]
fn an_approver_outside_the_set_is_refused() {
    let mut f = fixture();
    f.reg
        .propose(&remote_record("1", "gpt-4o-2024-08-06"))
        .unwrap();
    let mallory = NoteSigner::generate("mallory").unwrap();
    let e = err_of(f.reg.approve("gpt", "1", &mallory, &f.policy, T0 + 1));
    assert_eq!(e, RegistryError::UnknownApprover("mallory".into()));
    // Same name as a real approver, different key: still unknown (key ids differ).
    let fake_alice = NoteSigner::generate("alice").unwrap();
    let e = err_of(f.reg.approve("gpt", "1", &fake_alice, &f.policy, T0 + 1));
    assert_eq!(e, RegistryError::UnknownApprover("alice".into()));
    assert!(f.reg.get("gpt", "1").unwrap().approvals.is_empty());
}

#[test]
fn one_approver_cannot_approve_twice() {
    let mut f = fixture();
    f.reg
        .propose(&remote_record("1", "gpt-4o-2024-08-06"))
        .unwrap();
    f.reg
        .approve("gpt", "1", &f.alice, &f.policy, T0 + 1)
        .unwrap();
    let e = err_of(f.reg.approve("gpt", "1", &f.alice, &f.policy, T0 + 2));
    assert_eq!(e, RegistryError::DuplicateApprover("alice".into()));
    assert_eq!(f.reg.get("gpt", "1").unwrap().state, State::Proposed);
}

#[test]
fn an_approval_of_another_record_is_a_replay() {
    let mut f = fixture();
    let v1 = remote_record("1", "gpt-4o-2024-08-06");
    let v2 = remote_record("2", "gpt-4o-2024-11-20");
    f.reg.propose(&v1).unwrap();
    f.reg.propose(&v2).unwrap();
    let note_for_v1 = f.alice.sign(&approval_text(&v1)).unwrap();
    let e = err_of(
        f.reg
            .submit_approval("gpt", "2", &note_for_v1, &f.policy, T0 + 1),
    );
    assert_eq!(
        e,
        RegistryError::ReplayedApproval {
            approved: v1.digest(),
            expected: v2.digest(),
        }
    );
    // It is still good for v1.
    f.reg
        .submit_approval("gpt", "1", &note_for_v1, &f.policy, T0 + 1)
        .unwrap();
    // A note that is not an approval at all.
    let other = f
        .alice
        .sign("portcullis policy approval v1\nsomething\n")
        .unwrap();
    let e = err_of(f.reg.submit_approval("gpt", "2", &other, &f.policy, T0 + 1));
    assert!(matches!(e, RegistryError::ReplayedApproval { .. }), "{e}");
}

#[test]
fn a_forged_approval_is_refused() {
    let mut f = fixture();
    let rec = remote_record("1", "gpt-4o-2024-08-06");
    f.reg.propose(&rec).unwrap();
    // Bob's signature relabelled as Alice's (name and key id of Alice).
    let bob_note = f.bob.sign(&approval_text(&rec)).unwrap();
    let bob_line = bob_note.lines().last().unwrap().to_string();
    let mut sig = portcullis_audit::note::NoteSignature::parse_line(&bob_line).unwrap();
    sig.name = "alice".into();
    sig.key_id = f.alice.key_id();
    let forged = format!("{}\n{}\n", approval_text(&rec), sig.to_line());
    let e = err_of(
        f.reg
            .submit_approval("gpt", "1", &forged, &f.policy, T0 + 1),
    );
    assert!(matches!(e, RegistryError::BadApproval { .. }), "{e}");
}

#[test]
fn an_expired_proposal_cannot_be_approved() {
    let mut f = fixture();
    let rec = remote_record("1", "gpt-4o-2024-08-06");
    f.reg.propose(&rec).unwrap();
    f.reg
        .approve("gpt", "1", &f.alice, &f.policy, rec.expires_at - 1)
        .unwrap();
    let e = err_of(f.reg.approve("gpt", "1", &f.bob, &f.policy, rec.expires_at));
    assert!(matches!(e, RegistryError::Expired { .. }), "{e}");
}

#[test]
fn a_tampered_record_is_detected() {
    let mut f = fixture();
    let rec = remote_record("1", "gpt-4o-2024-08-06");
    f.reg.propose(&rec).unwrap();
    f.reg
        .approve("gpt", "1", &f.alice, &f.policy, T0 + 1)
        .unwrap();
    f.reg
        .approve("gpt", "1", &f.bob, &f.policy, T0 + 2)
        .unwrap();
    // An attacker with database access repoints the approved model at their endpoint.
    let evil = rec
        .canonical_json()
        .replace("https://api.openai.com/v1", "https://evil.example/v1");
    tamper(
        f.reg.store(),
        "UPDATE model_versions SET record = ?1 WHERE name = 'gpt'",
        &evil,
    );
    let e = err_of(f.reg.activate("gpt", "1", &f.policy, &[], "ops", T0 + 3));
    assert!(matches!(e, RegistryError::TamperedRecord { .. }), "{e}");
    // Also rewriting the stored digest does not help: the approvals were over the
    // original record.
    let evil_digest = hex::encode(Sha256::digest(evil.as_bytes()));
    tamper(
        f.reg.store(),
        "UPDATE model_versions SET record_digest = ?1 WHERE name = 'gpt'",
        &evil_digest,
    );
    let e = err_of(f.reg.activate("gpt", "1", &f.policy, &[], "ops", T0 + 3));
    assert!(
        matches!(
            e,
            RegistryError::NotEnoughApprovals {
                have: 0,
                need: 2,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn removing_an_approver_voids_their_approval() {
    let mut f = fixture();
    f.reg
        .propose(&remote_record("1", "gpt-4o-2024-08-06"))
        .unwrap();
    f.reg
        .approve("gpt", "1", &f.alice, &f.policy, T0 + 1)
        .unwrap();
    f.reg
        .approve("gpt", "1", &f.bob, &f.policy, T0 + 2)
        .unwrap();
    let without_bob = ApprovalPolicy::new(vec![f.alice.verifier(), f.carol.verifier()], 2).unwrap();
    let e = err_of(f.reg.activate("gpt", "1", &without_bob, &[], "ops", T0 + 3));
    assert!(
        matches!(e, RegistryError::NotEnoughApprovals { have: 1, .. }),
        "{e}"
    );
    f.reg
        .activate("gpt", "1", &f.policy, &[], "ops", T0 + 3)
        .unwrap();
}

#[test]
fn activating_a_new_version_retires_the_old_one() {
    let mut f = fixture();
    for (v, id) in [("1", "gpt-4o-2024-08-06"), ("2", "gpt-4o-2024-11-20")] {
        f.reg.propose(&remote_record(v, id)).unwrap();
        f.reg
            .approve("gpt", v, &f.alice, &f.policy, T0 + 1)
            .unwrap();
        f.reg
            .approve("gpt", v, &f.carol, &f.policy, T0 + 2)
            .unwrap();
        f.reg
            .activate("gpt", v, &f.policy, &[], "ops", T0 + 3)
            .unwrap();
    }
    assert_eq!(f.reg.get("gpt", "1").unwrap().state, State::Retired);
    let active = f.reg.active_version("gpt").unwrap().unwrap();
    assert_eq!(active.record.version, "2");
    f.reg
        .retire("gpt", "2", "ops", "provider deprecation", T0 + 4)
        .unwrap();
    assert!(f.reg.active_version("gpt").unwrap().is_none());
    let e = err_of(f.reg.retire("gpt", "2", "ops", "again", T0 + 5));
    assert!(matches!(e, RegistryError::BadTransition { .. }), "{e}");
    // Retired versions take no approvals.
    let e = err_of(f.reg.approve("gpt", "2", &f.bob, &f.policy, T0 + 6));
    assert!(matches!(e, RegistryError::BadTransition { .. }), "{e}");
}

#[test]
fn records_are_validated_and_unique() {
    let mut f = fixture();
    let rec = remote_record("1", "gpt-4o-2024-08-06");
    f.reg.propose(&rec).unwrap();
    let e = err_of(f.reg.propose(&rec));
    assert!(matches!(e, RegistryError::AlreadyExists { .. }), "{e}");
    let mut bad = remote_record("2", " ");
    let e = err_of(f.reg.propose(&bad));
    assert!(matches!(e, RegistryError::InvalidRecord(_)), "{e}");
    bad = remote_record("../x", "m");
    assert!(matches!(
        err_of(f.reg.propose(&bad)),
        RegistryError::InvalidRecord(_)
    ));
    let mut local = local_record(&f, "3");
    if let Artifacts::Local { files, .. } = &mut local.artifacts {
        files[0].digest = "00".repeat(32);
    }
    let e = err_of(f.reg.propose(&local));
    assert!(e.to_string().contains("root digest"), "{e}");
}

#[test]
fn canonical_form_is_stable_and_strict() {
    let rec = remote_record("1", "gpt-4o-2024-08-06");
    let json = rec.canonical_json();
    assert!(
        json.starts_with(r#"{"artifacts":{"kind":"remote","endpoint":"#),
        "{json}"
    );
    assert_eq!(ModelRecord::from_canonical_json(&json).unwrap(), rec);
    let spaced = json.replace(",", ", ");
    assert!(ModelRecord::from_canonical_json(&spaced).is_err());
    let extra = json.replacen('{', r#"{"zzz":1,"#, 1);
    assert!(ModelRecord::from_canonical_json(&extra).is_err());
}

#[test]
fn policy_rules() {
    let a = NoteSigner::generate("a").unwrap();
    let b = NoteSigner::generate("b").unwrap();
    assert!(ApprovalPolicy::new(vec![a.verifier()], 2).is_err());
    assert!(ApprovalPolicy::new(vec![a.verifier()], 0).is_err());
    assert!(ApprovalPolicy::new(vec![a.verifier(), a.verifier()], 1).is_err());
    // A single operator sets k = 1 explicitly.
    let solo = ApprovalPolicy::new(vec![a.verifier()], 1).unwrap();
    assert_eq!(solo.threshold(), 1);
    let text = format!(
        "# approvers\n{}\n\n{}\n",
        a.verifier().to_vkey(),
        b.verifier().to_vkey()
    );
    assert_eq!(ApprovalPolicy::parse_approvers(&text).unwrap().len(), 2);
    assert!(ApprovalPolicy::parse_approvers("not-a-key\n").is_err());
}
