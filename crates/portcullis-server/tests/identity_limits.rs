//! Rate limits and budgets are kept per identity, not per name: an API-key principal
//! `alice`, a user `alice` of one OIDC issuer and a user `alice` of another are three
//! callers, each with its own counters and its own `[limits]` entry. Over real
//! connections, against a real gateway on an ephemeral port.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_testkit::jwt::TestIssuer;
use portcullis_testkit::TestGateway;
use serde_json::{json, Value};

const POLICIES: &str = r#"
@id("everyone")
permit (principal, action, resource);
"#;

/// The start of every configuration here: the built-in mock model, guards off.
const BASE: &str = r#"
[upstreams.builtin]
kind = "mock"

[models.m]
upstream = "builtin"

[guards]
enabled = false
"#;

fn issuer(name: &str, iss: &str, jwks_file: &str) -> String {
    format!(
        r#"
[auth.oidc.{name}]
issuer = "{iss}"
audiences = ["portcullis"]
jwks_file = "{jwks_file}"
algorithms = ["ES256"]
"#
    )
}

async fn chat(gw: &TestGateway, bearer: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(bearer)
        .json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn statuses(gw: &TestGateway, bearer: &str, n: usize) -> Vec<u16> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(chat(gw, bearer).await.0);
    }
    out
}

#[tokio::test]
async fn same_name_from_different_authenticators_never_shares_limits() {
    same_name_never_shares_limits("").await;
}

/// The same with the counters in Redis (when `PORTCULLIS_TEST_REDIS` names one).
#[tokio::test]
async fn same_name_never_shares_limits_in_redis() {
    match std::env::var("PORTCULLIS_TEST_REDIS") {
        Ok(url) if !url.is_empty() => {
            let prefix = format!("pctest-{}", hex::encode(rand::random::<[u8; 6]>()));
            same_name_never_shares_limits(&format!(
                "[redis]\nurl = \"{url}\"\nkey_prefix = \"{prefix}\"\ntimeout = \"2s\"\n"
            ))
            .await;
        }
        _ => eprintln!("PORTCULLIS_TEST_REDIS is not set: skipping the Redis variant"),
    }
}

async fn same_name_never_shares_limits(extra: &str) {
    let corp = TestIssuer::new("https://corp.example", "c1");
    let partner = TestIssuer::new("https://partner.example", "p1");
    let config = format!(
        r#"{BASE}
[limits.default]
requests_per_day = 1

# The API-key principal alice.
[limits.principals.alice]
requests_per_day = 3

# The user alice of the issuer `partner`.
[limits.users.partner.alice]
requests_per_day = 2
{}{}
{extra}"#,
        issuer("corp", &corp.iss, "jwks-corp.json"),
        issuer("partner", &partner.iss, "jwks-partner.json"),
    );
    let gw = TestGateway::start_with_files(
        &config,
        &[("main.cedar", POLICIES)],
        &[
            ("jwks-corp.json", &corp.jwks()),
            ("jwks-partner.json", &partner.jwks()),
        ],
    )
    .await;
    let (_, key) = gw.key("alice", &["team"], None);
    let corp_alice = corp.token("alice", &["team"], "portcullis");
    let partner_alice = partner.token("alice", &["team"], "portcullis");

    // The key spends its own quota of 3 to the end.
    assert_eq!(statuses(&gw, &key, 4).await, [200, 200, 200, 429]);
    // The corp user alice is another caller: the key's counter and the key's
    // `[limits.principals.alice]` are not hers; she has the default of 1.
    assert_eq!(
        statuses(&gw, &corp_alice, 2).await,
        [200, 429],
        "an OIDC user shares the API key's budget or quota"
    );
    // The partner user alice: her own entry, her own counter.
    assert_eq!(statuses(&gw, &partner_alice, 3).await, [200, 200, 429]);
    // And the key is still refused: nobody else's requests refilled or drained it.
    assert_eq!(chat(&gw, &key).await.0, 429);

    // The refusal names the identity it counted against, unambiguously.
    let (_, v) = chat(&gw, &corp_alice).await;
    let msg = v["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("`oidc:corp:alice`"), "{msg}");
    let d = gw
        .wait_decision(|d| d.decision == "rate_limited" && d.reason.contains("oidc:corp:alice"))
        .await;
    assert_eq!(d.reason, "requests_per_day:principal:oidc:corp:alice");
    let d = gw
        .wait_decision(|d| d.decision == "rate_limited" && d.key_id.len() == 16)
        .await;
    assert_eq!(d.reason, "requests_per_day:principal:key:alice");
}

fn quarantine(gw: &TestGateway, id: &str, subject: &str) {
    use portcullis_server::anomaly::{Incident, IncidentStatus};
    let engine = gw.state.anomaly.as_ref().expect("anomaly on");
    engine
        .store()
        .save(&Incident {
            id: id.into(),
            subject_kind: "principal".into(),
            subject: subject.into(),
            status: IncidentStatus::Open,
            action: portcullis_anomaly::Action::Quarantine,
            severity: portcullis_anomaly::Severity::Critical,
            kind: "volume".into(),
            opened_ms: 1,
            updated_ms: 1,
            until_ms: None,
            timeline: vec![],
        })
        .unwrap();
}

/// Repeats the request until it answers `status` (the gateway re-reads incidents each
/// second); fails after 10 s.
async fn wait_status(gw: &TestGateway, bearer: &str, status: u16) {
    let t0 = std::time::Instant::now();
    loop {
        let (s, v) = chat(gw, bearer).await;
        if s == status {
            return;
        }
        assert!(t0.elapsed().as_secs() < 10, "still {s}: {v}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn containing_one_identity_leaves_another_of_the_same_name_alone() {
    let corp = TestIssuer::new("https://corp.example", "c1");
    let config = format!(
        r#"{BASE}
[guards.profiles.strict]
enabled = false

[anomaly]
enabled = true
{}"#,
        issuer("corp", &corp.iss, "jwks-corp.json"),
    );
    let gw = TestGateway::start_with_files(
        &config,
        &[("main.cedar", POLICIES)],
        &[("jwks-corp.json", &corp.jwks())],
    )
    .await;
    let (_, alice_key) = gw.key("alice", &[], None);
    let corp_alice = corp.token("alice", &[], "portcullis");
    // The API key alice is quarantined; the corp user alice is someone else.
    quarantine(&gw, "inc_00000000000000a1", "key:alice");
    wait_status(&gw, &alice_key, 403).await;
    assert_eq!(chat(&gw, &corp_alice).await.0, 200);

    // And the other way round.
    let (_, bob_key) = gw.key("bob", &[], None);
    let corp_bob = corp.token("bob", &[], "portcullis");
    quarantine(&gw, "inc_00000000000000b1", "oidc:corp:bob");
    wait_status(&gw, &corp_bob, 403).await;
    assert_eq!(chat(&gw, &bob_key).await.0, 200);

    // An incident stored before identities were qualified names only `carol`: which
    // carol it meant cannot be told, so it holds every carol until released.
    let (_, carol_key) = gw.key("carol", &[], None);
    let corp_carol = corp.token("carol", &[], "portcullis");
    quarantine(&gw, "inc_00000000000000c1", "carol");
    wait_status(&gw, &carol_key, 403).await;
    wait_status(&gw, &corp_carol, 403).await;
}
