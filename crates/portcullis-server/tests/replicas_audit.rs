//! Replicas on one PostgreSQL database with the audit log on: the events of every replica
//! land in one log, each exactly once, sequenced by one replica at a time, under signed
//! checkpoints that verify. Runs when `PORTCULLIS_TEST_POSTGRES` names a database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_audit::note::NoteSigner;
use portcullis_store::postgres::PostgresStore;
use portcullis_store::testing::TestPostgres;
use portcullis_store::Store;
use portcullis_testkit::TestGateway;
use secrecy::ExposeSecret;
use serde_json::json;

const ORIGIN: &str = "replicas.test/audit";

const POLICIES: &str = r#"
@id("team")
permit (principal in Portcullis::Group::"team", action, resource);
"#;

fn config() -> String {
    format!(
        r#"
[upstreams.builtin]
kind = "mock"

[models.local]
upstream = "builtin"

[guards]
enabled = false

[audit]
signing_key_file = "audit.key"
origin = "{ORIGIN}"
checkpoint_interval = "1h"
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_write_one_log_each_event_once() {
    let Some(pg) = TestPostgres::or_skip("two_replicas_write_one_log_each_event_once") else {
        return;
    };
    let signer = NoteSigner::generate(ORIGIN).unwrap();
    let skey = signer.to_skey().expose_secret().to_string();
    let open = || -> Arc<dyn Store> { Arc::new(PostgresStore::open(&pg.config()).unwrap()) };
    let files = [("audit.key", skey.as_str())];
    let g1 = TestGateway::start_on_store(&config(), &[("p.cedar", POLICIES)], &files, open()).await;
    let g2 = TestGateway::start_on_store(&config(), &[("p.cedar", POLICIES)], &files, open()).await;
    // One database: a key made through one replica works on both.
    let (_, key) = g1.key("alice", &["team"], None);

    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..120 {
        let url = if i % 2 == 0 { &g1.url } else { &g2.url };
        let (http, url, key) = (http.clone(), url.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(format!("{url}/v1/chat/completions"))
                .bearer_auth(key)
                .json(&json!({"model": "local", "messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.headers()["x-request-id"].to_str().unwrap().to_string()
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }

    // Answered means submitted; the sequencer puts them in the log within moments.
    let store = &g1.store;
    let t0 = Instant::now();
    while store.audit_pending_count().unwrap() > 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "events stay unsequenced"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let size = store.audit_size().unwrap();
    let leaves = store.audit_leaves(0, size).unwrap();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, l) in leaves.iter().enumerate() {
        assert_eq!(l.index, i as u64, "indices are contiguous");
        *seen.entry(l.leaf.event_id.as_str()).or_default() += 1;
    }
    for id in &ids {
        assert_eq!(
            seen.get(id.as_str()),
            Some(&1),
            "request {id} in the log once"
        );
    }

    // Either replica can be asked for a checkpoint: the sequencer signs one, a follower
    // serves the latest (404 until the sequencer has signed any). Ask both until the
    // whole log is signed.
    let t0 = Instant::now();
    loop {
        for gw in [&g1, &g2] {
            let r = http
                .post(format!("{}/audit/checkpoint", gw.admin_url))
                .bearer_auth(&gw.admin_token)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            assert!(
                status == 200 || status == 404,
                "{status}: {}",
                r.text().await.unwrap()
            );
        }
        if store
            .latest_audit_checkpoint()
            .unwrap()
            .is_some_and(|c| c.size == size)
        {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the log was never signed whole"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let latest = store.latest_audit_checkpoint().unwrap().unwrap();
    assert_eq!(latest.size, size);
    let verifier =
        portcullis_audit::checkpoint::CheckpointVerifier::new(ORIGIN, signer.verifier()).unwrap();
    let report = portcullis_server::audit::verify_log(&**store, &verifier).unwrap();
    assert_eq!(report.size, size);
    assert_eq!(report.unsigned(), 0);
    g1.stop().await;
    g2.stop().await;
}
