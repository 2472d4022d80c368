//! The canonical event encoding: a golden string, strict decoding, and round trips.

// Test code: unwrap/expect/panic are the point of an assertion here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_audit::event::{
    body_sha256, AuditEvent, Decision, EventError, EventKind, GuardFinding,
};
use portcullis_audit::merkle::leaf_hash;
use proptest::prelude::*;

fn request_event() -> AuditEvent {
    AuditEvent {
        request_id: "01J9Z3X".into(),
        principal: "alice".into(),
        identity_kind: "api_key".into(),
        action: "chat.completions".into(),
        model: Some("gpt-4o-mini".into()),
        upstream: Some("openai".into()),
        decision: Some(Decision::Allow),
        policy_ids: vec!["p1".into(), "team-quota".into()],
        guard_findings: vec![
            GuardFinding {
                kind: "pii.email".into(),
                count: 2,
            },
            GuardFinding {
                kind: "secret.aws".into(),
                count: 1,
            },
        ],
        prompt_tokens: Some(123),
        completion_tokens: Some(45),
        latency_us: Some(678_901),
        request_sha256: Some(body_sha256(b"")),
        response_sha256: None,
        ..AuditEvent::new(EventKind::Request, 1_717_000_000_123)
    }
}

const GOLDEN: &str = concat!(
    r#"{"v":1,"kind":"request","time_ms":1717000000123,"request_id":"01J9Z3X","#,
    r#""principal":"alice","identity_kind":"api_key","action":"chat.completions","#,
    r#""model":"gpt-4o-mini","upstream":"openai","decision":"allow","#,
    r#""policy_ids":["p1","team-quota"],"guard_findings":[["pii.email",2],["secret.aws",1]],"#,
    r#""prompt_tokens":123,"completion_tokens":45,"latency_us":678901,"#,
    r#""request_sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","#,
    r#""response_sha256":null,"target":null}"#
);

#[test]
fn golden_encoding() {
    let e = request_event();
    assert_eq!(e.to_canonical_string(), GOLDEN);
    assert_eq!(e.leaf_hash(), leaf_hash(GOLDEN.as_bytes()));
    assert_eq!(
        AuditEvent::from_canonical_bytes(GOLDEN.as_bytes()).unwrap(),
        e
    );
}

#[test]
fn control_plane_event() {
    let e = AuditEvent {
        principal: "admin".into(),
        identity_kind: "user".into(),
        action: "admin.keys.create".into(),
        target: Some("key_0123456789abcdef".into()),
        ..AuditEvent::new(EventKind::KeyCreated, 5)
    };
    let s = e.to_canonical_string();
    assert_eq!(
        s,
        concat!(
            r#"{"v":1,"kind":"key_created","time_ms":5,"request_id":"","principal":"admin","#,
            r#""identity_kind":"user","action":"admin.keys.create","model":null,"upstream":null,"#,
            r#""decision":null,"policy_ids":[],"guard_findings":[],"prompt_tokens":null,"#,
            r#""completion_tokens":null,"latency_us":null,"request_sha256":null,"#,
            r#""response_sha256":null,"target":"key_0123456789abcdef"}"#
        )
    );
    assert_eq!(AuditEvent::from_canonical_bytes(s.as_bytes()).unwrap(), e);
    for kind in EventKind::ALL {
        let e = AuditEvent::new(kind, 0);
        assert_eq!(
            AuditEvent::from_canonical_bytes(&e.to_canonical_bytes()).unwrap(),
            e
        );
    }
}

#[test]
fn string_escaping() {
    let e = AuditEvent {
        principal: "q\"b\\s/\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f}é😀\u{2028}".into(),
        ..AuditEvent::new(EventKind::Request, 0)
    };
    let s = e.to_canonical_string();
    assert!(s.contains(r#""principal":"q\"b\\s/\n\r\t\b\f\u0001\u001f"#));
    assert!(s.contains("\u{7f}é😀\u{2028}\""));
    assert_eq!(AuditEvent::from_canonical_bytes(s.as_bytes()).unwrap(), e);
}

#[test]
fn non_canonical_encodings_are_rejected() {
    let not_canonical = [
        // Whitespace.
        GOLDEN.replacen(r#""v":1,"#, r#""v": 1,"#, 1),
        format!("{GOLDEN}\n"),
        format!(" {GOLDEN}"),
        // Field order.
        GOLDEN.replacen(
            r#""v":1,"kind":"request","#,
            r#""kind":"request","v":1,"#,
            1,
        ),
        // Escapes that are valid JSON but not the canonical ones.
        GOLDEN.replacen(r#""alice""#, r#""\u0061lice""#, 1),
        GOLDEN.replacen(r#""openai""#, r#""open\/ai""#, 1),
        // Upper-case hex digest.
        GOLDEN.replacen("e3b0c442", "E3B0C442", 1),
        // A missing optional field (must be an explicit null).
        GOLDEN.replacen(r#","target":null"#, "", 1),
        // Numbers in other forms.
        GOLDEN.replacen(r#""prompt_tokens":123"#, r#""prompt_tokens":123.0"#, 1),
        GOLDEN.replacen(r#""prompt_tokens":123"#, r#""prompt_tokens":1.23e2"#, 1),
    ];
    for s in not_canonical {
        assert!(
            AuditEvent::from_canonical_bytes(s.as_bytes()).is_err(),
            "accepted {s}"
        );
    }
    // Whitespace/order variants parse as JSON but fail the canonical check.
    assert_eq!(
        AuditEvent::from_canonical_bytes(GOLDEN.replacen(r#""v":1,"#, r#""v": 1,"#, 1).as_bytes()),
        Err(EventError::NotCanonical)
    );

    let invalid = [
        GOLDEN.replacen(r#""v":1"#, r#""v":2"#, 1),
        GOLDEN.replacen(r#""request""#, r#""bogus""#, 1),
        GOLDEN.replacen(r#""allow""#, r#""maybe""#, 1),
        GOLDEN.replacen(r#","target":null"#, r#","target":null,"extra":1"#, 1),
        GOLDEN.replacen(r#""prompt_tokens":123"#, r#""prompt_tokens":-1"#, 1),
        GOLDEN.replacen("e3b0c442", "e3b0c4", 1),
        GOLDEN.replacen(r#"["pii.email",2]"#, r#"["pii.email"]"#, 1),
        "not json".to_string(),
    ];
    for s in invalid {
        assert!(
            matches!(
                AuditEvent::from_canonical_bytes(s.as_bytes()),
                Err(EventError::Invalid(_))
            ),
            "accepted {s}"
        );
    }
}

fn opt_string() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(any::<String>())
}

prop_compose! {
    fn arb_event()(
        kind in prop::sample::select(EventKind::ALL.to_vec()),
        time in any::<u64>(),
        request_id in any::<String>(),
        principal in any::<String>(),
        identity_kind in any::<String>(),
        action in any::<String>(),
        model in opt_string(),
        upstream in opt_string(),
        decision in proptest::option::of(prop::sample::select(vec![Decision::Allow, Decision::Deny])),
        policy_ids in prop::collection::vec(any::<String>(), 0..4),
        findings in prop::collection::vec((any::<String>(), any::<u64>()), 0..4),
        tokens in (proptest::option::of(any::<u64>()), proptest::option::of(any::<u64>())),
        latency in proptest::option::of(any::<u64>()),
        hashes in (proptest::option::of(any::<[u8; 32]>()), proptest::option::of(any::<[u8; 32]>())),
        target in opt_string(),
    ) -> AuditEvent {
        AuditEvent {
            kind,
            time_unix_ms: time,
            request_id,
            principal,
            identity_kind,
            action,
            model,
            upstream,
            decision,
            policy_ids,
            guard_findings: findings
                .into_iter()
                .map(|(kind, count)| GuardFinding { kind, count })
                .collect(),
            prompt_tokens: tokens.0,
            completion_tokens: tokens.1,
            latency_us: latency,
            request_sha256: hashes.0,
            response_sha256: hashes.1,
            target,
        }
    }
}

proptest! {
    #[test]
    fn canonical_round_trip(e in arb_event()) {
        let bytes = e.to_canonical_bytes();
        // It is valid JSON ...
        prop_assert!(serde_json::from_slice::<serde_json::Value>(&bytes).is_ok());
        // ... that decodes to the same event, and re-encodes to the same bytes.
        let back = AuditEvent::from_canonical_bytes(&bytes).unwrap();
        prop_assert_eq!(&back, &e);
        prop_assert_eq!(back.to_canonical_bytes(), bytes);
    }

    #[test]
    fn different_events_have_different_leaves(a in arb_event(), b in arb_event()) {
        prop_assume!(a != b);
        prop_assert_ne!(a.to_canonical_bytes(), b.to_canonical_bytes());
    }
}
