//! Helpers shared by the change-management tests (model registry, policy bundles):
//! chat requests, waiting for the gateway to pick up a change, and the system's audit
//! events.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use portcullis_audit::AuditEvent;
use portcullis_store::AuditQuery;
use portcullis_testkit::TestGateway;
use serde_json::{json, Value};

/// One chat request for `model`; status and JSON body.
pub async fn chat(gw: &TestGateway, key: &str, model: &str, text: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(key)
        .json(&json!({"model": model, "messages": [{"role": "user", "content": text}]}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Repeats the request until it answers `status` (the gateway polls for registry and
/// bundle changes each second); fails after 10 s.
pub async fn wait_for(gw: &TestGateway, key: &str, model: &str, text: &str, status: u16) -> Value {
    let t0 = Instant::now();
    loop {
        let (s, body) = chat(gw, key, model, text).await;
        if s == status {
            return body;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "still {s} after 10 s: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A request to the admin listener with the admin token.
pub fn admin(gw: &TestGateway, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(method, format!("{}{path}", gw.admin_url))
        .bearer_auth(&gw.admin_token)
}

/// The events the gateway and its operators recorded as `system`.
pub fn system_events(gw: &TestGateway) -> Vec<AuditEvent> {
    gw.store
        .query_audit(&AuditQuery {
            principal: Some("system".into()),
            ..Default::default()
        })
        .unwrap()
        .iter()
        .map(|l| AuditEvent::from_canonical_bytes(&l.leaf.leaf).unwrap())
        .collect()
}
