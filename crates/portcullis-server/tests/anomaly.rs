//! Anomaly detection in the live gateway: a stolen-key pattern (a new client hammering
//! the API with a principal's key) is quarantined from the next request on, with a 403
//! naming the incident; the incident has a timeline naming the features that drove it;
//! the alert webhook is signed; the change is in the audit log; and an operator's
//! release on the admin API lets the principal back in.
//!
//! The thresholds are lowered and the warm-up shortened: a test cannot produce the days
//! of history the defaults are tuned for (baselines take one sample per minute of
//! activity), so here the burst is judged against the reference floors (6 requests a
//! minute). docs/anomaly.md has the offline evaluation on the defaults.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use axum::routing::post;
use portcullis_audit::{AuditEvent, EventKind, NoteSigner};
use portcullis_store::AuditQuery;
use portcullis_testkit::TestGateway;
use serde_json::{json, Value};

const POLICIES: &str = r#"
@id("team")
permit (principal in Portcullis::Group::"team", action, resource);
"#;

const WEBHOOK_SECRET: &str = "webhook-secret-0123456789";

fn config(webhook: &str) -> String {
    format!(
        r#"
[upstreams.builtin]
kind = "mock"

[models.small]
upstream = "builtin"
tier = "standard"

[guards.profiles.strict]
canary = true

[audit]
signing_key_file = "audit.key"
origin = "test.local/anomaly"
checkpoint_interval = "1h"

[anomaly]
warmup_events = 5
warmup = "0s"
establish = "0s"
thresholds = {{ low = 1.0, medium = 1.5, high = 2.0, critical = 2.5 }}
quarantine_ttl = "0s"
webhook_url = "{webhook}"
webhook_secret_file = "webhook.secret"
"#
    )
}

async fn chat(http: &reqwest::Client, gw: &TestGateway, key: &str, ua: &str) -> (u16, Value) {
    let r = http
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(key)
        .header("user-agent", ua)
        .json(&json!({"model": "small", "messages": [{"role": "user", "content": "summarize the meeting notes"}]}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn admin(gw: &TestGateway, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(method, format!("{}{path}", gw.admin_url))
        .bearer_auth(&gw.admin_token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stolen_key_is_quarantined_then_released_by_an_operator() {
    // A webhook receiver that keeps what it gets.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(http::HeaderMap, bytes::Bytes)>();
    let hook = axum::Router::new().route(
        "/hook",
        post(move |headers: http::HeaderMap, body: bytes::Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((headers, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, hook).await;
    });

    let signer = NoteSigner::generate("test.local/anomaly").unwrap();
    use secrecy::ExposeSecret;
    let skey = signer.to_skey().expose_secret().to_string();
    let gw = TestGateway::start_with_files(
        &config(&hook_url),
        &[("main.cedar", POLICIES)],
        &[("audit.key", &skey), ("webhook.secret", WEBHOOK_SECRET)],
    )
    .await;
    let (_, key) = gw.key("alice", &["team"], None);
    let http = reqwest::Client::new();

    // Ordinary use: alice's own client, a few requests (the warm-up).
    for _ in 0..5 {
        let (s, body) = chat(&http, &gw, &key, "notes-app/2.1").await;
        assert_eq!(s, 200, "{body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The key is stolen: a script hammers the API with it.
    let mut quarantined = None;
    let mut served = 0;
    for _ in 0..600 {
        let (s, body) = chat(&http, &gw, &key, "python-requests/2.31").await;
        match s {
            200 => served += 1,
            // Throttle or step-up may come first; the test waits for the quarantine.
            429 => {}
            403 if body["error"]["code"] == "quarantined" => {
                quarantined = Some(body);
                break;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    if quarantined.is_none() {
        let m = admin(&gw, reqwest::Method::GET, "/metrics")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let inc = admin(&gw, reqwest::Method::GET, "/incidents")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        panic!(
            "never quarantined (served {served}); metrics:\n{}\nincidents: {inc}",
            m.lines()
                .filter(|l| l.contains("anomaly") || l.contains("requests_total"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    let body = quarantined.unwrap();
    assert!(served > 0, "the burst was refused before it was seen");
    let incident = body["error"]["incident_id"].as_str().unwrap().to_string();
    assert!(incident.starts_with("inc_"), "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains(&incident));
    assert_eq!(body["error"]["type"], "permission_error");

    // Every later request is refused too, even from alice's own client.
    let (s, again) = chat(&http, &gw, &key, "notes-app/2.1").await;
    assert_eq!(s, 403);
    assert_eq!(again["error"]["incident_id"], incident.as_str());
    let r = http
        .get(format!("{}/v1/models", gw.url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let models: Value = r.json().await.unwrap();
    assert_eq!(models["error"]["code"], "quarantined");

    // The incident and its timeline, on the admin API.
    let inc: Value = admin(&gw, reqwest::Method::GET, &format!("/incidents/{incident}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(inc["subject"], "key:alice");
    assert_eq!(inc["subject_kind"], "principal");
    assert_eq!(inc["status"], "open");
    assert_eq!(inc["action"], "quarantine");
    let timeline = inc["timeline"].as_array().unwrap();
    assert!(!timeline.is_empty());
    let last = timeline.last().unwrap();
    assert_eq!(last["by"], "detector");
    assert_eq!(last["action"], "quarantine");
    let features = last["detail"]["features"].as_object().unwrap();
    assert!(features.contains_key("requests_per_min"), "{features:?}");
    let list: Value = admin(&gw, reqwest::Method::GET, "/incidents")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["id"] == incident.as_str()));

    // The webhook got the alert, signed with HMAC-SHA256 over "TIMESTAMP.BODY".
    let (headers, hook_body) = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let (h, b) = rx.recv().await.unwrap();
            let v: Value = serde_json::from_slice(&b).unwrap();
            if v["incident_id"] == incident.as_str() && v["alert"]["action"] == "quarantine" {
                return (h, b);
            }
        }
    })
    .await
    .expect("no signed quarantine webhook");
    let ts: i64 = headers["x-portcullis-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let sig = headers["x-portcullis-signature"].to_str().unwrap();
    assert_eq!(
        sig,
        format!(
            "sha256={}",
            portcullis_server::anomaly::sign_webhook(WEBHOOK_SECRET.as_bytes(), ts, &hook_body)
        )
    );

    // An operator releases it; the next request is served.
    let r = admin(
        &gw,
        reqwest::Method::POST,
        &format!("/incidents/{incident}/release"),
    )
    .json(&json!({"by": "oncall:bob", "note": "key rotated, false positive ruled out"}))
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let released: Value = r.json().await.unwrap();
    assert_eq!(released["status"], "released");
    let step = released["timeline"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(step["event"], "released");
    assert_eq!(step["by"], "oncall:bob");
    let (s, body) = chat(&http, &gw, &key, "notes-app/2.1").await;
    assert_eq!(s, 200, "{body}");
    // Releasing twice is a conflict, not a silent success.
    let r = admin(
        &gw,
        reqwest::Method::POST,
        &format!("/incidents/{incident}/release"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 409);

    // The audit log has the incident's opening and its release.
    let mut kinds = Vec::new();
    for _ in 0..100 {
        kinds = gw
            .store
            .query_audit(&AuditQuery::default())
            .unwrap()
            .iter()
            .map(|l| AuditEvent::from_canonical_bytes(&l.leaf.leaf).unwrap())
            .filter(|e| e.kind == EventKind::Incident)
            .map(|e| {
                (
                    e.action.clone(),
                    e.principal.clone(),
                    e.target.clone().unwrap_or_default(),
                )
            })
            .collect::<Vec<_>>();
        if kinds.iter().any(|k| k.0 == "incident.release") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        kinds
            .iter()
            .any(|k| k.0 == "incident.open" && k.2.contains(&incident)),
        "{kinds:?}"
    );
    assert!(
        kinds
            .iter()
            .any(|k| k.0 == "incident.release" && k.1 == "oncall:bob"),
        "{kinds:?}"
    );

    // Prometheus counts the alert.
    let m = admin(&gw, reqwest::Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("portcullis_anomaly_alerts_total{severity=\"critical\",action=\"quarantine\""),
        "{m}"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_anomaly_section_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(
        &path,
        "[upstreams.builtin]\nkind = \"mock\"\n\n[anomaly]\nthresholds = { low = 5.0, medium = 4.0 }\n",
    )
    .unwrap();
    let e = portcullis_core::config::Config::load(
        &path,
        &std::collections::BTreeMap::<String, String>::new(),
    )
    .unwrap_err();
    assert_eq!(e.line, 4, "{e}");
    assert!(e.reason.contains("anomaly.thresholds"), "{e}");
    // Step-up needs its guard profile.
    std::fs::write(&path, "[upstreams.builtin]\nkind = \"mock\"\n\n[anomaly]\n").unwrap();
    let e = portcullis_core::config::Config::load(
        &path,
        &std::collections::BTreeMap::<String, String>::new(),
    )
    .unwrap_err();
    assert!(e.reason.contains("step_up_profile"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_stuffing_quarantines_the_address_until_released_from_the_cli() {
    let signer = NoteSigner::generate("test.local/anomaly").unwrap();
    use secrecy::ExposeSecret;
    let skey = signer.to_skey().expose_secret().to_string();
    let gw = TestGateway::start_with_files(
        &config("http://127.0.0.1:9/unused"),
        &[("main.cedar", POLICIES)],
        &[("audit.key", &skey), ("webhook.secret", WEBHOOK_SECRET)],
    )
    .await;
    let (_, key) = gw.key("alice", &["team"], None);
    let http = reqwest::Client::new();
    // Guessing keys from one address.
    let mut incident = None;
    for i in 0..100 {
        let (s, body) = chat(&http, &gw, &format!("pc_guess{i}_secret"), "stuffer/1").await;
        if s == 403 {
            assert_eq!(body["error"]["code"], "quarantined", "{body}");
            incident = Some(body["error"]["incident_id"].as_str().unwrap().to_string());
            break;
        }
        assert_eq!(s, 401, "{body}");
    }
    let incident = incident.expect("the address was never quarantined");
    // The admin API knows the incident as soon as a caller has been told its id (the
    // store is written on a writer thread; the API waits for it).
    let r = admin(&gw, reqwest::Method::GET, &format!("/incidents/{incident}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let shown: Value = r.json().await.unwrap();
    assert_eq!(shown["subject"], "127.0.0.1", "{shown}");
    // Before authentication: even a valid key from that address is refused.
    let (s, body) = chat(&http, &gw, &key, "notes-app/2.1").await;
    assert_eq!(s, 403, "{body}");
    assert_eq!(body["error"]["incident_id"], incident.as_str());

    // The operator releases it with the CLI's code path (straight to the database); the
    // gateway picks it up within a second or two.
    let store = portcullis_server::anomaly::SqliteIncidents::open(
        &gw.dir.path().join("data").join("portcullis.db"),
    )
    .unwrap();
    use portcullis_server::anomaly::IncidentStore;
    // The gateway saves incidents on a writer thread, off the request path: the 403 can
    // arrive before the row does.
    let mut inc = None;
    for _ in 0..100 {
        inc = store.get(&incident).unwrap();
        if inc.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let inc = inc.expect("the incident was never saved");
    assert_eq!(inc.subject_kind, "ip");
    assert_eq!(inc.subject, "127.0.0.1");
    let now = portcullis_server::state::unix_now_ms();
    portcullis_server::anomaly::operate(
        &store,
        &incident,
        portcullis_server::anomaly::Operation::Release,
        "cli:carol",
        "",
        now,
    )
    .unwrap();
    let t0 = std::time::Instant::now();
    loop {
        let (s, body) = chat(&http, &gw, &key, "notes-app/2.1").await;
        if s == 200 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(5), "still {s}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quarantine_ends_with_its_ttl_and_the_timeline_says_so() {
    let signer = NoteSigner::generate("test.local/anomaly").unwrap();
    use secrecy::ExposeSecret;
    let skey = signer.to_skey().expose_secret().to_string();
    let cfg = config("http://127.0.0.1:9/unused")
        .replace("quarantine_ttl = \"0s\"", "quarantine_ttl = \"1s\"");
    let gw = TestGateway::start_with_files(
        &cfg,
        &[("main.cedar", POLICIES)],
        &[("audit.key", &skey), ("webhook.secret", WEBHOOK_SECRET)],
    )
    .await;
    let (_, key) = gw.key("alice", &["team"], None);
    let http = reqwest::Client::new();
    let mut incident = None;
    for i in 0..100 {
        let (s, body) = chat(&http, &gw, &format!("pc_guess{i}_secret"), "stuffer/1").await;
        if s == 403 {
            incident = Some(body["error"]["incident_id"].as_str().unwrap().to_string());
            break;
        }
    }
    let incident = incident.expect("never quarantined");
    let (s, _) = chat(&http, &gw, &key, "notes-app/2.1").await;
    assert_eq!(s, 403);
    // After the TTL (and the next once-a-second sweep) the address is admitted again.
    let t0 = std::time::Instant::now();
    loop {
        let (s, body) = chat(&http, &gw, &key, "notes-app/2.1").await;
        if s == 200 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(5), "still {s}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The incident stays open for the analyst, with an `expired` step.
    let t0 = std::time::Instant::now();
    loop {
        let inc: Value = admin(&gw, reqwest::Method::GET, &format!("/incidents/{incident}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let events: Vec<&str> = inc["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["event"].as_str().unwrap())
            .collect();
        if events.contains(&"expired") {
            assert_eq!(inc["status"], "open");
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(5), "{inc}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    gw.stop().await;
}
