//! Integration tests: the real gateway on an ephemeral port against an in-process mock
//! upstream, driven over HTTP.
// Test helpers outside #[test] functions: a failed fixture should panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use portcullis_testkit::{Behavior, MockUpstream, TestGateway};
use serde_json::{json, Value};

const POLICIES: &str = r#"
@id("team-standard")
permit (principal in Portcullis::Group::"team", action, resource)
when { resource.tier == "standard" };

@id("premium-for-vips")
permit (principal in Portcullis::Group::"vip", action, resource);

@id("max-tokens-cap")
forbid (principal, action == Portcullis::Action::"chat.completions", resource)
when { context.max_tokens > 2048 };
"#;

fn config(upstream: &str, extra: &str) -> String {
    format!(
        r#"
[upstreams.remote]
base_url = "{upstream}"
api_key_file = "upstream.secret"
first_byte_timeout = "500ms"
total_timeout = "5s"

[upstreams.builtin]
kind = "mock"

[models.standard]
upstream = "remote"
upstream_model = "upstream-standard-v1"
tier = "standard"

[models.premium]
upstream = "remote"
upstream_model = "upstream-premium-v9"
tier = "premium"

[models.local]
upstream = "builtin"
tier = "standard"

# These tests exercise the pass-through core (byte-for-byte streams, exact records);
# the guards have their own suite in tests/guards.rs.
[guards]
enabled = false
{extra}
"#
    )
}

struct Fixture {
    gw: TestGateway,
    mock: MockUpstream,
    http: reqwest::Client,
    key: String,
}

async fn fixture(extra: &str) -> Fixture {
    let mock = MockUpstream::start().await;
    // The upstream credential lives in a file next to the config.
    let gw = start_with_secret(&config(&mock.base_url(), extra)).await;
    let (_, key) = gw.key("alice", &["team"], None);
    Fixture {
        gw,
        mock,
        http: reqwest::Client::new(),
        key,
    }
}

async fn start_with_secret(cfg: &str) -> TestGateway {
    TestGateway::start_with_files(
        cfg,
        &[("main.cedar", POLICIES)],
        &[("upstream.secret", "sk-upstream-secret-123\n")],
    )
    .await
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 50})
}

impl Fixture {
    /// The mock answers "hi" with `finish` and reports `usage`, as one JSON completion or
    /// (`stream`) as one SSE chunk followed by `[DONE]`.
    fn answer_hi_with_usage(&self, usage: &Value, finish: &str, stream: bool) {
        if stream {
            let ev = json!({"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": finish}],
                "usage": usage});
            self.mock.set(Behavior::Chunks(
                vec![Bytes::from(format!("data: {ev}\n\ndata: [DONE]\n\n"))],
                Duration::from_millis(1),
            ));
        } else {
            self.mock.set(Behavior::Json(
                json!({"id": "x", "object": "chat.completion",
                "choices": [{"index": 0, "finish_reason": finish,
                    "message": {"role": "assistant", "content": "hi"}}],
                "usage": usage}),
            ));
        }
    }

    async fn post(&self, path: &str, key: Option<&str>, body: &Value) -> reqwest::Response {
        let mut r = self
            .http
            .post(format!("{}{path}", self.gw.url))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        r.send().await.unwrap()
    }
}

async fn error_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["message"].is_string(), "OpenAI error shape: {v}");
    assert!(v["error"]["type"].is_string(), "OpenAI error shape: {v}");
    (status, v)
}

fn rid(r: &reqwest::Response) -> String {
    r.headers()["x-request-id"].to_str().unwrap().to_string()
}

#[tokio::test]
async fn allowed_request_is_forwarded_with_gateway_credentials_and_resolved_model() {
    let f = fixture("").await;
    let r = f
        .post("/v1/chat/completions", Some(&f.key), &chat("standard"))
        .await;
    assert_eq!(r.status(), 200);
    let id = rid(&r);
    let v: Value = r.json().await.unwrap();
    assert!(v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .contains("hello there"));
    let seen = f.mock.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].uri, "/v1/chat/completions");
    assert_eq!(seen[0].body["model"], "upstream-standard-v1");
    // The gateway's credential goes upstream, the caller's never does.
    assert_eq!(
        seen[0].headers["authorization"],
        "Bearer sk-upstream-secret-123"
    );
    assert!(!seen[0].headers.values().any(|v| v.contains(&f.key)));
    let d = f.gw.decision(&id).await;
    assert_eq!(d.decision, "allow");
    assert_eq!(d.reason, "team-standard");
    assert_eq!(d.principal, "alice");
    assert_eq!(d.model, "standard");
    assert_eq!(d.upstream, "remote");
    assert!(d.prompt_tokens > 0 && d.completion_tokens > 0);
}

#[tokio::test]
async fn authentication_failures_are_401() {
    let f = fixture("").await;
    let (revoked_id, revoked) = f.gw.key("bob", &["team"], None);
    let (_, expired) = f.gw.key("carol", &["team"], Some(1));
    // A revoked key works until revoked, then fails on the very next request.
    assert_eq!(
        f.post("/v1/chat/completions", Some(&revoked), &chat("standard"))
            .await
            .status(),
        200
    );
    assert!(f.gw.store.revoke_key(&revoked_id, 1).unwrap());
    let forged = format!("pc_{}_{}", "0".repeat(16), "a".repeat(64));
    let wrong_secret = format!(
        "{}{}",
        &f.key[..f.key.len() - 1],
        if f.key.ends_with('0') { '1' } else { '0' }
    );
    for (key, code) in [
        (None, "missing_api_key"),
        (Some("not-a-key"), "invalid_api_key"),
        (Some(forged.as_str()), "invalid_api_key"),
        (Some(wrong_secret.as_str()), "invalid_api_key"),
        (Some(revoked.as_str()), "invalid_api_key"),
        (Some(expired.as_str()), "invalid_api_key"),
    ] {
        let r = f.post("/v1/chat/completions", key, &chat("standard")).await;
        assert!(r.headers().contains_key("www-authenticate"));
        let id = rid(&r);
        let (status, v) = error_of(r).await;
        assert_eq!(status, 401, "{key:?}");
        assert_eq!(v["error"]["code"], code);
        assert_eq!(f.gw.decision(&id).await.decision, "unauthenticated");
    }
    // Nothing reached the upstream except the one allowed request.
    assert_eq!(f.mock.seen().len(), 1);
}

#[tokio::test]
async fn cedar_allows_denies_and_uses_context() {
    let f = fixture("").await;
    let (_, vip) = f.gw.key("vera", &["vip"], None);
    // Default deny: team may not use premium.
    let r = f
        .post("/v1/chat/completions", Some(&f.key), &chat("premium"))
        .await;
    let id = rid(&r);
    let (status, v) = error_of(r).await;
    assert_eq!(status, 403);
    assert_eq!(v["error"]["policy_id"], "default-deny");
    assert!(
        !v.to_string().contains("permit"),
        "policy text must not leak: {v}"
    );
    assert_eq!(f.gw.decision(&id).await.reason, "default-deny");
    // A permit for vip.
    assert_eq!(
        f.post("/v1/chat/completions", Some(&vip), &chat("premium"))
            .await
            .status(),
        200
    );
    // A forbid that depends on the request context.
    let mut big = chat("standard");
    big["max_tokens"] = json!(4096);
    let (status, v) = error_of(f.post("/v1/chat/completions", Some(&f.key), &big).await).await;
    assert_eq!(status, 403);
    assert_eq!(v["error"]["policy_id"], "max-tokens-cap");
    assert_eq!(v["error"]["code"], "policy_denied");
    // max_completion_tokens counts the same.
    let mut big = chat("standard");
    big["max_tokens"] = Value::Null;
    big["max_completion_tokens"] = json!(3000);
    let (status, _) = error_of(f.post("/v1/chat/completions", Some(&f.key), &big).await).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn unknown_model_and_smuggling_attempts() {
    let f = fixture("").await;
    let (status, v) = error_of(
        f.post("/v1/chat/completions", Some(&f.key), &chat("gpt-99"))
            .await,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(v["error"]["code"], "model_not_found");

    // The query string cannot change the model: the body's model is what is decided on.
    let r = f
        .post(
            "/v1/chat/completions?model=standard&api-version=x",
            Some(&f.key),
            &chat("premium"),
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = f
        .post(
            "/v1/chat/completions?model=premium",
            Some(&f.key),
            &chat("standard"),
        )
        .await;
    assert_eq!(r.status(), 200);
    let seen = f.mock.seen();
    assert_eq!(
        seen.last().unwrap().uri,
        "/v1/chat/completions",
        "no query string reaches upstream"
    );
    assert_eq!(seen.last().unwrap().body["model"], "upstream-standard-v1");

    // Headers cannot change it either.
    let r = f
        .http
        .post(format!("{}/v1/chat/completions", f.gw.url))
        .bearer_auth(&f.key)
        .header("content-type", "application/json")
        .header("x-model", "premium")
        .header("openai-model", "premium")
        .body(chat("premium").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // No path but the three endpoints exists: no pass-through.
    for path in [
        "/v1/chat/completions/premium",
        "/v1/models/premium/chat/completions",
        "/v1/premium/chat/completions",
        "/v1//chat/completions",
        "/V1/chat/completions",
        "/v1/chat/completions/../../v1/chat/completions",
        "/v1/completions",
        "/v1/responses",
        "/openai/deployments/premium/chat/completions",
    ] {
        let (status, v) = error_of(f.post(path, Some(&f.key), &chat("premium")).await).await;
        assert!(status == 404 || status == 405, "{path}: {status}");
        assert_eq!(v["error"]["type"], "invalid_request_error", "{path}");
    }
    let premium_calls = f
        .mock
        .seen()
        .iter()
        .filter(|s| s.body["model"] == "upstream-premium-v9")
        .count();
    assert_eq!(premium_calls, 0, "premium was never reached");
}

#[tokio::test]
async fn models_lists_only_permitted_models() {
    let f = fixture("").await;
    let r = f
        .http
        .get(format!("{}/v1/models", f.gw.url))
        .bearer_auth(&f.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let mut ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["local", "standard"]);
    let r = f
        .http
        .get(format!("{}/v1/models", f.gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn fifty_concurrent_requests_against_a_budget_of_ten() {
    let f = fixture("[limits.default]\nrequests_per_minute = 10\n").await;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let http = f.http.clone();
        let url = format!("{}/v1/chat/completions", f.gw.url);
        let key = f.key.clone();
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .bearer_auth(key)
                .header("content-type", "application/json")
                .body(chat("local").to_string())
                .send()
                .await
                .unwrap();
            let retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
            (r.status().as_u16(), retry)
        }));
    }
    let mut ok = 0;
    let mut limited = 0;
    for t in tasks {
        match t.await.unwrap() {
            (200, _) => ok += 1,
            (429, Some(secs)) => {
                assert!((1..=60).contains(&secs));
                limited += 1
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(ok, 10, "exactly the budget passes");
    assert_eq!(limited, 40);
}

#[tokio::test]
async fn token_budget_holds_under_concurrency_and_reconciles() {
    // Each request reserves prompt estimate + max_tokens (50) ≈ 57 tokens; the
    // per-minute budget of 300 admits at most 5 at once.
    let f = fixture("[limits.groups.team]\ntokens_per_minute = 300\n").await;
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let http = f.http.clone();
        let url = format!("{}/v1/chat/completions", f.gw.url);
        let key = f.key.clone();
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .bearer_auth(key)
                .header("content-type", "application/json")
                .body(chat("local").to_string())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() == 200 {
            ok += 1;
        }
    }
    assert!(ok >= 5, "at least the reservations that fit pass: {ok}");
    // Reconciliation returns the unused part of each reservation, so more than five can
    // pass in total, but real usage never exceeds the budget (plus the little that
    // refills while the test runs).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let used: u64 =
        f.gw.store
            .recent_decisions(100)
            .unwrap()
            .iter()
            .filter(|d| d.decision == "allow")
            .map(|d| d.prompt_tokens + d.completion_tokens)
            .sum();
    assert!(
        used <= 300 + 10,
        "used {used} tokens against a budget of 300 (+10 of refill)"
    );
}

#[tokio::test]
async fn streaming_is_passed_through_byte_for_byte_before_upstream_finishes() {
    let f = fixture("").await;
    let events: Vec<Bytes> = (0..6)
        .map(|i| Bytes::from(format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"w{i} \"}}}}]}}\n\n")))
        .chain([
            Bytes::from_static(b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":6,\"total_tokens\":11}}\n\n"),
            Bytes::from_static(b"data: [DONE]\n\n"),
        ])
        .collect();
    // Split the upstream's bytes at awkward places (mid-event) to check reframing.
    let all: Bytes = events.concat().into();
    let chunks: Vec<Bytes> = vec![
        all.slice(..10),
        all.slice(10..95),
        all.slice(95..200),
        all.slice(200..),
    ];
    f.mock
        .set(Behavior::Chunks(chunks, Duration::from_millis(150)));
    let mut body = chat("standard");
    body["stream"] = json!(true);
    let r = f.post("/v1/chat/completions", Some(&f.key), &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let id = rid(&r);
    let mut stream = r.bytes_stream();
    let mut got = Vec::new();
    let mut first_at = None;
    while let Some(c) = stream.next().await {
        let c = c.unwrap();
        if first_at.is_none() && !c.is_empty() {
            first_at = Some(Instant::now());
        }
        got.extend_from_slice(&c);
    }
    assert_eq!(got, all.to_vec(), "byte for byte");
    let finished = f.mock.finished();
    assert_eq!(finished.len(), 1);
    assert!(
        first_at.unwrap() < finished[0],
        "first chunk reached the client before upstream finished"
    );
    let d = f.gw.decision(&id).await;
    assert_eq!(d.decision, "allow");
    assert!(d.stream);
    assert_eq!(
        (d.prompt_tokens, d.completion_tokens),
        (5, 6),
        "usage from the final chunk"
    );
}

#[tokio::test]
async fn builtin_mock_streams_too() {
    let f = fixture("").await;
    let mut body = chat("local");
    body["stream"] = json!(true);
    let r = f.post("/v1/chat/completions", Some(&f.key), &body).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.starts_with("data: "));
    assert!(text.ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn upstream_failures_become_clean_errors_and_are_recorded() {
    let f = fixture("").await;
    // First-byte timeout (config: 500ms).
    f.mock.set(Behavior::DelayHead(Duration::from_secs(3)));
    let r = f
        .post("/v1/chat/completions", Some(&f.key), &chat("standard"))
        .await;
    let id = rid(&r);
    let (status, v) = error_of(r).await;
    assert_eq!(status, 504);
    assert_eq!(v["error"]["code"], "upstream_timeout");
    let d = f.gw.decision(&id).await;
    assert_eq!(
        (d.decision.as_str(), d.reason.as_str()),
        ("error", "upstream_timeout")
    );

    // 5xx: the upstream's internals do not leak.
    f.mock.set(Behavior::Status(500));
    let r = f
        .post("/v1/chat/completions", Some(&f.key), &chat("standard"))
        .await;
    let id = rid(&r);
    let (status, v) = error_of(r).await;
    assert_eq!(status, 502);
    let text = v.to_string();
    assert!(
        !text.contains("10.0.0.7")
            && !text.contains("secret-internal-model")
            && !text.contains("upstream-standard-v1"),
        "{text}"
    );
    assert_eq!(f.gw.decision(&id).await.decision, "error");

    // Upstream authentication failure is the gateway's problem, not the caller's.
    f.mock.set(Behavior::Status(401));
    let (status, _) = error_of(
        f.post("/v1/chat/completions", Some(&f.key), &chat("standard"))
            .await,
    )
    .await;
    assert_eq!(status, 502);

    // Upstream rate limit.
    f.mock.set(Behavior::Status(429));
    let (status, _) = error_of(
        f.post("/v1/chat/completions", Some(&f.key), &chat("standard"))
            .await,
    )
    .await;
    assert_eq!(status, 503);

    // A 200 whose body is not JSON reports no usage: the reservation is charged, and
    // the caller gets the body as the upstream sent it.
    f.mock.set(Behavior::Garbage);
    let r = f
        .post("/v1/chat/completions", Some(&f.key), &chat("standard"))
        .await;
    assert_eq!(r.status(), 200);

    // Connection refused.
    let dead = TestGateway::start(
        &config("http://127.0.0.1:1/v1", "").replace("api_key_file = \"upstream.secret\"\n", ""),
        &[("main.cedar", POLICIES)],
    )
    .await;
    let (_, key) = dead.key("alice", &["team"], None);
    let r = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", dead.url))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(chat("standard").to_string())
        .send()
        .await
        .unwrap();
    let id = rid(&r);
    let (status, v) = error_of(r).await;
    assert_eq!(status, 502);
    assert_eq!(v["error"]["code"], "upstream_unavailable");
    assert_eq!(dead.decision(&id).await.reason, "upstream_unavailable");
}

#[tokio::test]
async fn reset_mid_stream_ends_with_an_sse_error_event() {
    let f = fixture("").await;
    f.mock.set(Behavior::ResetAfter(vec![
        Bytes::from_static(
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"partial\"}}]}\n\n",
        ),
        Bytes::from_static(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"con"),
    ]));
    let mut body = chat("standard");
    body["stream"] = json!(true);
    let r = f.post("/v1/chat/completions", Some(&f.key), &body).await;
    assert_eq!(r.status(), 200);
    let id = rid(&r);
    let text = r.text().await.unwrap();
    let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(events.len(), 3, "{text}");
    assert!(events[0].contains("partial"));
    // The half event was never forwarded; the stream ends well-formed.
    assert!(events[1].starts_with("data: {\"error\""), "{text}");
    assert_eq!(events[2], "data: [DONE]");
    let d = f.gw.decision(&id).await;
    assert!(d.reason.contains("upstream_stream_error"), "{d:?}");
}

#[tokio::test]
async fn bad_input_gets_clear_errors() {
    let f = fixture("").await;
    let url = format!("{}/v1/chat/completions", f.gw.url);
    // Oversized body: 413, before parsing.
    let big = "x".repeat(2 * 1024 * 1024);
    let r = f
        .http
        .post(&url)
        .bearer_auth(&f.key)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    let (status, v) = error_of(r).await;
    assert_eq!(status, 413);
    assert_eq!(v["error"]["code"], "request_too_large");
    // Malformed JSON.
    let r = f
        .http
        .post(&url)
        .bearer_auth(&f.key)
        .header("content-type", "application/json")
        .body("{\"model\": \"standard\", ")
        .send()
        .await
        .unwrap();
    let (status, v) = error_of(r).await;
    assert_eq!(status, 400);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("malformed JSON"),
        "{v}"
    );
    // Wrong types, empty messages, absurd max_tokens.
    for (body, param) in [
        (json!({"model": "standard", "messages": "hi"}), "messages"),
        (json!({"model": "standard", "messages": []}), "messages"),
        (
            json!({"model": "standard", "messages": [{"role": "user", "content": "x"}], "max_tokens": 1u64 << 40}),
            "max_tokens",
        ),
        (
            json!({"model": 7, "messages": [{"role": "user", "content": "x"}]}),
            "model",
        ),
    ] {
        let (status, v) = error_of(f.post("/v1/chat/completions", Some(&f.key), &body).await).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(v["error"]["param"], param, "{v}");
    }
    // Not JSON content type.
    let r = f
        .http
        .post(&url)
        .bearer_auth(&f.key)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    // Headers beyond the limit.
    let r = f
        .http
        .post(&url)
        .bearer_auth(&f.key)
        .header("content-type", "application/json")
        .header("x-padding", "p".repeat(64 * 1024))
        .body(chat("standard").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 431);
    // The server is still fine.
    assert_eq!(
        f.post("/v1/chat/completions", Some(&f.key), &chat("standard"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn policy_reload_is_atomic_and_refuses_broken_files() {
    let f = fixture("").await;
    let (_, vip) = f.gw.key("vera", &["vip"], None);
    assert_eq!(
        f.post("/v1/chat/completions", Some(&vip), &chat("premium"))
            .await
            .status(),
        200
    );
    // A broken file: reload refused, old policies stay.
    portcullis_testkit::write(
        &f.gw.policy_dir().join("main.cedar"),
        "permit(principal, action resource);",
    );
    let err = portcullis_server::reload_policies(&f.gw.state).unwrap_err();
    assert!(err.to_string().contains("main.cedar:1:"), "{err}");
    assert_eq!(
        f.post("/v1/chat/completions", Some(&vip), &chat("premium"))
            .await
            .status(),
        200
    );
    // A policy that parses but breaks the schema is refused too.
    portcullis_testkit::write(
        &f.gw.policy_dir().join("main.cedar"),
        "permit(principal, action, resource) when { context.nope == 1 };",
    );
    assert!(portcullis_server::reload_policies(&f.gw.state).is_err());
    assert_eq!(
        f.post("/v1/chat/completions", Some(&vip), &chat("premium"))
            .await
            .status(),
        200
    );
    // A good change takes effect.
    portcullis_testkit::write(&f.gw.policy_dir().join("main.cedar"), "@id(\"only-standard\") permit(principal, action, resource) when { resource.tier == \"standard\" };");
    assert_eq!(portcullis_server::reload_policies(&f.gw.state).unwrap(), 1);
    let (status, v) = error_of(
        f.post("/v1/chat/completions", Some(&vip), &chat("premium"))
            .await,
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(v["error"]["policy_id"], "default-deny");
    let metrics = f
        .http
        .get(format!("{}/metrics", f.gw.admin_url))
        .bearer_auth(&f.gw.admin_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("portcullis_policy_reload_failures_total 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn embeddings_and_admin_endpoints() {
    let f = fixture("").await;
    let r = f
        .post(
            "/v1/embeddings",
            Some(&f.key),
            &json!({"model": "standard", "input": ["a", "b"]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(f.mock.seen().last().unwrap().uri, "/v1/embeddings");
    assert_eq!(
        f.mock.seen().last().unwrap().body["model"],
        "upstream-standard-v1"
    );
    let r = f
        .post(
            "/v1/embeddings",
            Some(&f.key),
            &json!({"model": "premium", "input": "a"}),
        )
        .await;
    assert_eq!(r.status(), 403);

    let get = |p: &str| {
        f.http
            .get(format!("{}{p}", f.gw.admin_url))
            .bearer_auth(&f.gw.admin_token)
            .send()
    };
    let anon = |p: &str| f.http.get(format!("{}{p}", f.gw.admin_url)).send();
    // Without the admin token only /healthz answers.
    assert_eq!(anon("/healthz").await.unwrap().status(), 200);
    assert_eq!(anon("/metrics").await.unwrap().status(), 401);
    assert_eq!(anon("/readyz").await.unwrap().status(), 401);
    let wrong = f
        .http
        .get(format!("{}/metrics", f.gw.admin_url))
        .bearer_auth("admin-wrong")
        .send();
    assert_eq!(wrong.await.unwrap().status(), 401);
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    assert_eq!(get("/readyz").await.unwrap().status(), 200);
    let m = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(
        m.contains("portcullis_requests_total{action=\"embeddings\",decision=\"allow\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("portcullis_gateway_overhead_seconds_count"),
        "{m}"
    );
    // The admin port does not serve the data plane, and vice versa.
    assert_eq!(get("/v1/models").await.unwrap().status(), 404);
    assert_eq!(
        f.http
            .get(format!("{}/metrics", f.gw.url))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn shutdown_flushes_decision_records() {
    let f = fixture("").await;
    for _ in 0..20 {
        assert_eq!(
            f.post("/v1/chat/completions", Some(&f.key), &chat("local"))
                .await
                .status(),
            200
        );
    }
    let store = f.gw.store.clone();
    f.gw.stop().await;
    assert_eq!(store.recent_decisions(100).unwrap().len(), 20);
}

#[tokio::test]
async fn an_absurd_usage_report_from_the_upstream_is_capped_not_overflowed() {
    // Room for one capped charge (2 x 2^48) and the reservation of one more request.
    let f = fixture("[limits.groups.team]\ntokens_per_day = 562949953422312\n").await;
    let max = u64::MAX;
    for stream in [false, true] {
        let usage = json!({"prompt_tokens": max, "completion_tokens": max});
        f.answer_hi_with_usage(&usage, "stop", stream);
        let mut body = chat("standard");
        body["stream"] = json!(stream);
        let r = f.post("/v1/chat/completions", Some(&f.key), &body).await;
        assert_eq!(r.status(), 200, "stream={stream}");
        let id = rid(&r);
        r.bytes().await.unwrap();
        let d = f.gw.decision(&id).await;
        assert_eq!(d.decision, "allow");
        let cap = portcullis_core::openai::MAX_REPORTED_TOKENS;
        assert_eq!(
            (d.prompt_tokens, d.completion_tokens),
            (cap, cap),
            "stream={stream}"
        );
    }
    // The budget is spent, not wrapped around to a small charge.
    let r = f
        .post("/v1/chat/completions", Some(&f.key), &chat("standard"))
        .await;
    assert_eq!(r.status(), 429);
}

#[tokio::test]
async fn a_request_without_a_cap_is_forwarded_with_the_reserved_cap() {
    let f = fixture(
        "[models.legacy]\nupstream = \"remote\"\ndefault_max_tokens = 300\nmax_tokens_field = \"max_tokens\"\n",
    )
    .await;
    let uncapped = |model: &str, stream: bool| {
        json!({"model": model, "stream": stream,
            "messages": [{"role": "user", "content": "hello there"}]})
    };
    // Streamed or not, the default cap goes in `max_completion_tokens` (which OpenAI's
    // reasoning models take; they refuse `max_tokens`).
    for stream in [false, true] {
        let r = f
            .post(
                "/v1/chat/completions",
                Some(&f.key),
                &uncapped("standard", stream),
            )
            .await;
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
        let seen = f.mock.seen().pop().unwrap().body;
        assert_eq!(seen["max_completion_tokens"], 1024, "{seen}");
        assert!(seen.get("max_tokens").is_none(), "{seen}");
        assert_eq!(seen["stream"], stream);
    }
    // A model's own cap, in the field its upstream knows.
    let r = f
        .post(
            "/v1/chat/completions",
            Some(&f.key),
            &uncapped("legacy", true),
        )
        .await;
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap();
    let seen = f.mock.seen().pop().unwrap().body;
    assert_eq!(seen["max_tokens"], 300, "{seen}");
    assert!(seen.get("max_completion_tokens").is_none(), "{seen}");
    // The caller's own cap and field are left as they are.
    for field in ["max_tokens", "max_completion_tokens"] {
        let mut body = uncapped("standard", false);
        body[field] = json!(77);
        let r = f.post("/v1/chat/completions", Some(&f.key), &body).await;
        assert_eq!(r.status(), 200);
        let seen = f.mock.seen().pop().unwrap().body;
        assert_eq!(seen[field], 77, "{seen}");
        assert_eq!(
            seen.as_object().unwrap().len(),
            body.as_object().unwrap().len(),
            "{seen}"
        );
    }
    // Bad caps are refused before anything is forwarded, in OpenAI's error shape.
    let n = f.mock.seen().len();
    for (field, v) in [
        ("max_completion_tokens", json!(0)),
        ("max_completion_tokens", json!(2_000_000)),
        ("max_tokens", json!(-1)),
        ("max_tokens", json!("64")),
    ] {
        let mut body = uncapped("standard", false);
        body[field] = v;
        let (status, e) = error_of(f.post("/v1/chat/completions", Some(&f.key), &body).await).await;
        assert_eq!(
            (status, e["error"]["param"].as_str()),
            (400, Some(field)),
            "{e}"
        );
        assert_eq!(e["error"]["type"], "invalid_request_error", "{e}");
    }
    assert_eq!(f.mock.seen().len(), n);
}

#[tokio::test]
async fn usage_beyond_the_cap_is_charged_and_spends_the_budget() {
    // An upstream that ignores the cap: 5000 completion tokens where 1024 were reserved
    // (each uncapped request reserves 10 + 1024 here).
    let f = fixture("[limits.groups.team]\ntokens_per_day = 11000\n").await;
    let usage = json!({"prompt_tokens": 5, "completion_tokens": 5000, "total_tokens": 5005});
    let uncapped = json!({"model": "standard",
        "messages": [{"role": "user", "content": "hello there"}]});
    for stream in [false, true] {
        f.answer_hi_with_usage(&usage, "length", stream);
        let mut body = uncapped.clone();
        body["stream"] = json!(stream);
        let r = f.post("/v1/chat/completions", Some(&f.key), &body).await;
        assert_eq!(r.status(), 200, "stream={stream}");
        let id = rid(&r);
        r.bytes().await.unwrap();
        let d = f.gw.decision(&id).await;
        assert_eq!(
            (d.prompt_tokens, d.completion_tokens),
            (5, 5000),
            "stream={stream}"
        );
    }
    // 10010 of 11000 are spent: an uncapped request (1034) no longer fits, nor one of
    // 10 + 1000; one of 10 + 900 does.
    f.mock.set(Behavior::Normal);
    let (status, e) = error_of(
        f.post("/v1/chat/completions", Some(&f.key), &uncapped)
            .await,
    )
    .await;
    assert_eq!(status, 429, "{e}");
    let mut body = uncapped.clone();
    body["max_tokens"] = json!(1000);
    let r = f.post("/v1/chat/completions", Some(&f.key), &body).await;
    assert_eq!(r.status(), 429);
    body["max_tokens"] = json!(900);
    let r = f.post("/v1/chat/completions", Some(&f.key), &body).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn the_reservation_covers_every_choice_of_n() {
    let f = fixture("[limits.groups.team]\ntokens_per_day = 1000\n").await;
    // 200 tokens for each of 8 choices is more than the whole budget: refused before
    // the upstream is called.
    let mut body = chat("standard");
    body["max_tokens"] = json!(200);
    body["n"] = json!(8);
    let r = f.post("/v1/chat/completions", Some(&f.key), &body).await;
    let (status, v) = error_of(r).await;
    assert_eq!(status, 429, "{v}");
    assert!(f.mock.seen().is_empty());
    // One choice fits.
    body["n"] = json!(1);
    let r = f.post("/v1/chat/completions", Some(&f.key), &body).await;
    assert_eq!(r.status(), 200);
    // An `n` the gateway cannot count is refused.
    body["n"] = json!("8");
    let r = f.post("/v1/chat/completions", Some(&f.key), &body).await;
    let (status, v) = error_of(r).await;
    assert_eq!(
        (status, v["error"]["param"].as_str()),
        (400, Some("n")),
        "{v}"
    );
}
