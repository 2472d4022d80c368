//! A quarantine holds on every replica: two gateways on one PostgreSQL database, a
//! stolen-key burst quarantined by the replica that saw it, refused by the other within
//! seconds (each replica picks up the shared incidents every second), and a release
//! through either replica's admin API lets the principal back in on both. Runs when
//! `PORTCULLIS_TEST_POSTGRES` names a database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_store::postgres::PostgresStore;
use portcullis_store::testing::TestPostgres;
use portcullis_store::Store;
use portcullis_testkit::TestGateway;
use serde_json::{json, Value};

const POLICIES: &str = r#"
@id("team")
permit (principal in Portcullis::Group::"team", action, resource);
"#;

/// As in tests/anomaly.rs: thresholds lowered and warm-up shortened, since a test cannot
/// produce days of history.
fn config(pg: &TestPostgres) -> String {
    format!(
        r#"
[store]
kind = "postgres"
url_env = "PORTCULLIS_TEST_POSTGRES"
schema = "{schema}"
data_dir = "data"

[upstreams.builtin]
kind = "mock"

[models.small]
upstream = "builtin"

[guards.profiles.strict]
canary = true

[anomaly]
warmup_events = 5
warmup = "0s"
establish = "0s"
thresholds = {{ low = 1.0, medium = 1.5, high = 2.0, critical = 2.5 }}
quarantine_ttl = "0s"
"#,
        schema = pg.schema()
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

/// Polls until `gw` answers `want` for alice's own client; how long it took.
async fn until(http: &reqwest::Client, gw: &TestGateway, key: &str, want: u16) -> Duration {
    let t0 = Instant::now();
    loop {
        let (s, body) = chat(http, gw, key, "notes-app/2.1").await;
        if s == want {
            return t0.elapsed();
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "still {s}: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quarantine_by_one_replica_holds_on_the_other_until_released() {
    let Some(pg) = TestPostgres::or_skip("a_quarantine_by_one_replica_holds_on_the_other") else {
        return;
    };
    let open = || -> Arc<dyn Store> { Arc::new(PostgresStore::open(&pg.config()).unwrap()) };
    let policies = [("p.cedar", POLICIES)];
    let a = TestGateway::start_on_store(&config(&pg), &policies, &[], open()).await;
    let b = TestGateway::start_on_store(&config(&pg), &policies, &[], open()).await;
    let (_, key) = a.key("alice", &["team"], None);
    let http = reqwest::Client::new();
    for _ in 0..5 {
        assert_eq!(chat(&http, &a, &key, "notes-app/2.1").await.0, 200);
    }
    assert_eq!(chat(&http, &b, &key, "notes-app/2.1").await.0, 200);

    // The stolen key hammers replica A until A quarantines alice.
    let mut incident = None;
    for _ in 0..600 {
        let (s, body) = chat(&http, &a, &key, "python-requests/2.31").await;
        if s == 403 && body["error"]["code"] == "quarantined" {
            incident = Some(body["error"]["incident_id"].as_str().unwrap().to_string());
            break;
        }
        assert!(s == 200 || s == 429, "{s}: {body}");
    }
    let incident = incident.expect("replica A never quarantined alice");

    // Replica B, which saw none of it, refuses alice too, naming a quarantine incident
    // that replica A opened (the principal's, or the client address's: every request in
    // this test comes from 127.0.0.1, and the burst may have quarantined it as well).
    let took = until(&http, &b, &key, 403).await;
    let (_, body) = chat(&http, &b, &key, "notes-app/2.1").await;
    assert_eq!(body["error"]["code"], "quarantined", "{body}");
    eprintln!("quarantine reached the other replica after {took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    let admin = |gw: &TestGateway, method: reqwest::Method, path: &str| {
        reqwest::Client::new()
            .request(method, format!("{}{path}", gw.admin_url))
            .bearer_auth(&gw.admin_token)
    };
    let open: Vec<Value> = admin(&b, reqwest::Method::GET, "/incidents")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let named = body["error"]["incident_id"].as_str().unwrap();
    assert!(
        open.iter()
            .any(|i| i["id"] == named && i["action"] == "quarantine"),
        "{named} not among the open incidents: {open:?}"
    );
    assert!(
        open.iter().any(|i| i["id"] == incident.as_str()),
        "{open:?}"
    );

    // Released through B's admin API: both let alice in again.
    for i in &open {
        let id = i["id"].as_str().unwrap();
        let r = admin(
            &b,
            reqwest::Method::POST,
            &format!("/incidents/{id}/release"),
        )
        .json(&json!({"by": "analyst", "note": "key rotated"}))
        .send()
        .await
        .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    until(&http, &b, &key, 200).await;
    let took = until(&http, &a, &key, 200).await;
    assert!(took < Duration::from_secs(3), "{took:?}");
    a.stop().await;
    b.stop().await;
}
