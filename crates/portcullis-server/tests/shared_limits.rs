//! Limits shared across replicas through Redis: several gateways on one Redis admit no
//! more than the budget however the requests are spread, and a Redis outage follows
//! `redis.on_unavailable`. Runs when `PORTCULLIS_TEST_REDIS` names a Redis
//! (`redis://127.0.0.1:6379`); skipped otherwise. When `PORTCULLIS_TEST_POSTGRES` is set
//! too, the replicas also share one PostgreSQL store, as deployed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_core::identity::{generate_key, KeyRecord};
use portcullis_testkit::TestGateway;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

const POLICIES: &str = r#"
@id("team")
permit (principal in Portcullis::Group::"team", action, resource);
"#;

fn redis_url() -> Option<String> {
    match std::env::var("PORTCULLIS_TEST_REDIS") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            eprintln!("PORTCULLIS_TEST_REDIS is not set: skipping the Redis tests");
            None
        }
    }
}

/// A key prefix no other test run shares.
fn prefix() -> String {
    format!("pctest-{}", hex::encode(rand::random::<[u8; 6]>()))
}

/// `timeout` is generous where the test is about exactness on a busy machine, short
/// where it is about outages.
fn config(redis_url: &str, prefix: &str, timeout: &str, extra: &str) -> String {
    format!(
        r#"
[upstreams.builtin]
kind = "mock"

[models.local]
upstream = "builtin"

[guards]
enabled = false

[redis]
url = "{redis_url}"
key_prefix = "{prefix}"
timeout = "{timeout}"
{extra}
"#
    )
}

/// One key, stored in every replica (as a shared database would).
fn shared_key(gws: &[&TestGateway]) -> String {
    let g = generate_key();
    for gw in gws {
        gw.store
            .put_key(&KeyRecord {
                id: g.id.clone(),
                hash: g.hash,
                principal: "alice".into(),
                groups: vec!["team".into()],
                created_at: 0,
                expires_at: None,
                revoked_at: None,
            })
            .unwrap();
    }
    g.key.expose_secret().to_string()
}

async fn chat(http: &reqwest::Client, url: &str, key: &str) -> (u16, Value) {
    let r = http
        .post(format!("{url}/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": "local", "max_tokens": 50,
            "messages": [{"role": "user", "content": "hello there"}]}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Fires `n` requests at once, spread round-robin over the replicas; the statuses.
async fn storm(urls: &[String], key: &str, n: usize) -> Vec<u16> {
    let http = reqwest::Client::new();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (http, url, key) = (http.clone(), urls[i % urls.len()].clone(), key.to_string());
            tokio::spawn(async move { chat(&http, &url, &key).await.0 })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// Three gateways on one Redis (and one PostgreSQL schema when the tests have one; it is
/// returned to keep it alive).
async fn replicas(
    url: &str,
    prefix: &str,
    limits: &str,
) -> (
    Vec<TestGateway>,
    Option<portcullis_store::testing::TestPostgres>,
) {
    let pg = portcullis_store::testing::TestPostgres::from_env().unwrap();
    let mut gws = Vec::new();
    for _ in 0..3 {
        let config = config(url, prefix, "2s", limits);
        let policies = [("p.cedar", POLICIES)];
        gws.push(match &pg {
            Some(pg) => {
                let store: Arc<dyn portcullis_store::Store> = Arc::new(
                    portcullis_store::postgres::PostgresStore::open(&pg.config()).unwrap(),
                );
                TestGateway::start_on_store(&config, &policies, &[], store).await
            }
            None => TestGateway::start(&config, &policies).await,
        });
    }
    (gws, pg)
}

/// One key for all replicas: put in each store (once, when they share one).
fn key_for(gws: &[TestGateway], shared_store: bool) -> String {
    if shared_store {
        shared_key(&[&gws[0]])
    } else {
        shared_key(&gws.iter().collect::<Vec<_>>())
    }
}

/// The `allow` records in a replica's store.
fn allowed(gw: &TestGateway) -> Vec<portcullis_store::DecisionRecord> {
    gw.store
        .recent_decisions(10_000)
        .unwrap()
        .into_iter()
        .filter(|r| r.decision == "allow")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_admit_exactly_a_request_budget() {
    let Some(url) = redis_url() else { return };
    let (gws, pg) = replicas(
        &url,
        &prefix(),
        "[limits.principals.alice]\nrequests_per_day = 50\n",
    )
    .await;
    let key = key_for(&gws, pg.is_some());
    let urls: Vec<String> = gws.iter().map(|g| g.url.clone()).collect();
    let statuses = storm(&urls, &key, 300).await;
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(
        ok, 50,
        "exactly the budget passes across three replicas: {statuses:?}"
    );
    assert_eq!(limited, 250, "{statuses:?}");
    // One budget, shared, not one per replica: the records say 50 were allowed in all.
    // (Records are written in batches: wait for them.)
    let t0 = Instant::now();
    let stores: Vec<&TestGateway> = if pg.is_some() {
        vec![&gws[0]]
    } else {
        gws.iter().collect()
    };
    loop {
        let n: usize = stores.iter().map(|g| allowed(g).len()).sum();
        if n >= 50 || t0.elapsed() > Duration::from_secs(5) {
            assert_eq!(n, 50);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, body) = chat(&reqwest::Client::new(), &urls[1], &key).await;
    assert_eq!(body["error"]["code"], "rate_limit_exceeded", "{body}");
    for gw in gws {
        gw.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_never_overshoot_a_token_budget() {
    let Some(url) = redis_url() else { return };
    let budget = 2_000u64;
    let (gws, pg) = replicas(
        &url,
        &prefix(),
        &format!("[limits.principals.alice]\ntokens_per_day = {budget}\n"),
    )
    .await;
    let key = key_for(&gws, pg.is_some());
    let urls: Vec<String> = gws.iter().map(|g| g.url.clone()).collect();
    let statuses = storm(&urls, &key, 300).await;
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert!(ok > 0 && ok < 300, "{ok} passed");
    // What the replicas recorded as used, all together, stays within the budget.
    let stores: Vec<&TestGateway> = if pg.is_some() {
        vec![&gws[0]]
    } else {
        gws.iter().collect()
    };
    let t0 = Instant::now();
    let used = loop {
        let recs: Vec<_> = stores.iter().flat_map(|g| allowed(g)).collect();
        if recs.len() >= ok || t0.elapsed() > Duration::from_secs(5) {
            assert_eq!(recs.len(), ok, "every allowed request recorded");
            break recs
                .iter()
                .map(|r| r.prompt_tokens + r.completion_tokens)
                .sum::<u64>();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(used <= budget, "{used} tokens used of {budget}");
    for gw in gws {
        gw.stop().await;
    }
}

/// A TCP proxy in front of Redis that the test can cut, to play an outage.
struct Switch {
    addr: std::net::SocketAddr,
    on: Arc<AtomicBool>,
    conns: Arc<parking_lot::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Switch {
    async fn start(target: &str) -> Self {
        let target = target
            .trim_start_matches("redis://")
            .trim_end_matches('/')
            .to_string();
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let on = Arc::new(AtomicBool::new(true));
        let conns = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let (on2, conns2) = (on.clone(), conns.clone());
        tokio::spawn(async move {
            while let Ok((mut c, _)) = l.accept().await {
                if !on2.load(Ordering::SeqCst) {
                    drop(c);
                    continue;
                }
                let target = target.clone();
                conns2.lock().push(tokio::spawn(async move {
                    if let Ok(mut up) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut c, &mut up).await;
                    }
                }));
            }
        });
        Self { addr, on, conns }
    }
    fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }
    fn cut(&self) {
        self.on.store(false, Ordering::SeqCst);
        for c in self.conns.lock().drain(..) {
            c.abort();
        }
    }
    fn restore(&self) {
        self.on.store(true, Ordering::SeqCst);
    }
}

async fn until_status(url: &str, key: &str, want: u16) -> Value {
    let http = reqwest::Client::new();
    let t0 = Instant::now();
    loop {
        let (s, body) = chat(&http, url, key).await;
        if s == want {
            return body;
        }
        assert!(t0.elapsed() < Duration::from_secs(5), "still {s}: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_fails_closed_with_503_and_recovers() {
    let Some(url) = redis_url() else { return };
    let switch = Switch::start(&url).await;
    let gw = TestGateway::start(
        &config(
            &switch.url(),
            &prefix(),
            "200ms",
            "[limits.principals.alice]\nrequests_per_minute = 1000\n",
        ),
        &[("p.cedar", POLICIES)],
    )
    .await;
    let key = shared_key(&[&gw]);
    until_status(&gw.url, &key, 200).await;
    switch.cut();
    let body = until_status(&gw.url, &key, 503).await;
    assert_eq!(body["error"]["code"], "limits_unavailable", "{body}");
    assert!(
        !body.to_string().contains(&switch.addr.to_string()),
        "the error names no address: {body}"
    );
    let rec = gw.wait_decision(|r| r.reason == "limits_unavailable").await;
    assert_eq!(rec.status, 503);
    switch.restore();
    until_status(&gw.url, &key, 200).await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_with_local_fallback_enforces_limits_per_replica_and_says_so() {
    let Some(url) = redis_url() else { return };
    let switch = Switch::start(&url).await;
    let gw = TestGateway::start(
        &config(
            &switch.url(),
            &prefix(),
            "200ms",
            "on_unavailable = \"local\"\n[limits.principals.alice]\nrequests_per_day = 3\n",
        ),
        &[("p.cedar", POLICIES)],
    )
    .await;
    let key = shared_key(&[&gw]);
    let http = reqwest::Client::new();
    assert_eq!(chat(&http, &gw.url, &key).await.0, 200);
    switch.cut();
    // In process the budget starts fresh: three pass, the fourth is refused.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(chat(&http, &gw.url, &key).await.0);
    }
    assert_eq!(statuses, vec![200, 200, 200, 429]);
    let metrics = reqwest::Client::new()
        .get(format!("{}/metrics", gw.admin_url))
        .bearer_auth(&gw.admin_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let fallback: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("portcullis_limits_fallback_total "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(fallback >= 4.0, "{metrics}");
    assert!(
        metrics.contains("portcullis_limits_shared_up 0"),
        "{metrics}"
    );
    // Back on Redis: its count (one request) holds again, so two more pass.
    switch.restore();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut after = Vec::new();
    for _ in 0..3 {
        after.push(chat(&http, &gw.url, &key).await.0);
    }
    assert_eq!(after, vec![200, 200, 429]);
    gw.stop().await;
}
