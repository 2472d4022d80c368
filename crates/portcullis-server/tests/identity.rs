//! Verified identity over real connections: mTLS with SPIFFE IDs, OIDC JWTs (with the
//! well-known attacks), and both at once. Certificates and keys are made by the tests.
// Test helpers outside #[test] functions: a failed fixture should panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_testkit::jwt::{hs256, now, unsigned, TestIssuer};
use portcullis_testkit::tls::{https_client, post_json, Flaw, TestCa};
use portcullis_testkit::TestGateway;
use serde_json::{json, Value};

const POLICIES: &str = r#"
// A workload alone may use the standard model.
@id("summarizer-standard")
permit (
  principal == Portcullis::Workload::"spiffe://a.example/summarizer",
  action == Portcullis::Action::"chat.completions",
  resource == Portcullis::Model::"standard"
);

// Users of team-x may use the standard model.
@id("team-x-standard")
permit (principal in Portcullis::Group::"team-x", action, resource == Portcullis::Model::"standard");

// The premium model only for team-x users, and only through the summarizer.
@id("premium-via-summarizer")
permit (principal in Portcullis::Group::"team-x", action, resource == Portcullis::Model::"premium")
when { context has workload && context.workload.id == "spiffe://a.example/summarizer" };
"#;

const MODELS: &str = r#"
[upstreams.builtin]
kind = "mock"

[models.standard]
upstream = "builtin"

[models.premium]
upstream = "builtin"
tier = "premium"
"#;

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16})
}

struct Pki {
    a: TestCa,
    b: TestCa,
}

async fn mtls_gateway(
    pki: &Pki,
    client_auth: &str,
    extra: &str,
    files: &[(&str, &str)],
) -> TestGateway {
    let server = pki.a.server_cert();
    let mut all: Vec<(&str, &str)> = vec![
        ("server.crt", server.cert_pem.as_str()),
        ("server.key", server.key_pem.as_str()),
        ("a.pem", pki.a.pem.as_str()),
        ("b.pem", pki.b.pem.as_str()),
    ];
    all.extend_from_slice(files);
    let config = format!(
        r#"{MODELS}
[server.tls]
cert_file = "server.crt"
key_file = "server.key"
client_auth = "{client_auth}"
[server.tls.trust_domains."a.example"]
bundle_file = "a.pem"
[server.tls.trust_domains."b.example"]
bundle_file = "b.pem"
{extra}"#
    );
    // The harness writes `[server]` itself; TLS settings go in a sub-table.
    TestGateway::start_with_files(&config, &[("main.cedar", POLICIES)], &all).await
}

fn https(gw: &TestGateway) -> String {
    gw.url.replace("http://", "https://")
}

#[tokio::test]
async fn mtls_admits_valid_spiffe_ids_and_rejects_the_rest() {
    let pki = Pki {
        a: TestCa::new("a.example"),
        b: TestCa::new("b.example"),
    };
    let gw = mtls_gateway(&pki, "required", "", &[]).await;
    let url = format!("{}/v1/chat/completions", https(&gw));

    let good = pki.a.svid("/summarizer", Flaw::None);
    let c = https_client(&pki.a.pem, Some(&good));
    let (status, _) = post_json(&c, &url, None, &chat("standard")).await.unwrap();
    assert_eq!(
        status, 200,
        "a valid SVID is admitted and its ID reaches the policy"
    );
    let (status, v) = post_json(&c, &url, None, &chat("premium")).await.unwrap();
    assert_eq!(status, 403, "{v}");
    gw.wait_decision(|d| d.principal == "spiffe://a.example/summarizer" && d.decision == "allow")
        .await;

    // Another workload of the same domain: authenticated, but no policy permits it.
    let other = pki.a.svid("/indexer", Flaw::None);
    let (status, v) = post_json(
        &https_client(&pki.a.pem, Some(&other)),
        &url,
        None,
        &chat("standard"),
    )
    .await
    .unwrap();
    assert_eq!(status, 403);
    assert_eq!(v["error"]["policy_id"], "default-deny");

    let rejected = |name: &str, cert: Option<portcullis_testkit::tls::TestCert>| {
        let client = https_client(&pki.a.pem, cert.as_ref());
        let url = url.clone();
        let name = name.to_string();
        async move {
            let r = post_json(&client, &url, None, &chat("standard")).await;
            assert!(r.is_err(), "{name}: the handshake must fail, got {r:?}");
        }
    };
    rejected("no client certificate", None).await;
    rejected("expired", Some(pki.a.svid("/summarizer", Flaw::Expired))).await;
    // CA of b.example minting an identity in a.example.
    let forged = TestCa::new("a.example"); // an unknown CA claiming a.example
    rejected("unknown CA", Some(forged.svid("/summarizer", Flaw::None))).await;
    rejected(
        "other trust domain's CA",
        Some(cross_domain_svid(&pki.b, "a.example", "/summarizer")),
    )
    .await;
    rejected(
        "two URI SANs",
        Some(pki.a.svid("/summarizer", Flaw::TwoUris)),
    )
    .await;
    rejected(
        "non-SPIFFE URI",
        Some(pki.a.svid("/summarizer", Flaw::NotSpiffe)),
    )
    .await;
    rejected(
        "CA certificate as leaf",
        Some(pki.a.svid("/summarizer", Flaw::IsCa)),
    )
    .await;

    // b.example's own workloads are fine (their CA is trusted for b.example).
    let b_ok = pki.b.svid("/job", Flaw::None);
    let (status, _) = post_json(
        &https_client(&pki.a.pem, Some(&b_ok)),
        &url,
        None,
        &chat("standard"),
    )
    .await
    .unwrap();
    assert_eq!(
        status, 403,
        "authenticated (no handshake failure), denied by default"
    );
}

/// An SVID for `spiffe://<td><path>` issued by `ca` (a CA of another trust domain).
fn cross_domain_svid(ca: &TestCa, td: &str, path: &str) -> portcullis_testkit::tls::TestCert {
    ca.svid_in(td, path)
}

fn issuer_config(name: &str, iss: &str, jwks_file: &str) -> String {
    format!(
        r#"
[auth.oidc.{name}]
issuer = "{iss}"
audiences = ["portcullis"]
jwks_file = "{jwks_file}"
algorithms = ["ES256", "RS256"]
groups_claim = "groups"
leeway = "30s"
refresh_cooldown = "0s"
"#
    )
}

/// An RSA public JWK (random modulus: only its public form matters to the attack).
fn rsa_jwk(kid: &str) -> (Value, Vec<u8>) {
    let n: Vec<u8> = (0..256).map(|i| (i * 7 + 3) as u8 | 0x80).collect();
    let n_b64 = base64_url(&n);
    (
        json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": n_b64, "e": "AQAB"}),
        n,
    )
}

fn base64_url(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

#[tokio::test]
async fn jwt_negative_suite() {
    let a = TestIssuer::new("https://idp-a.example", "a1");
    let b = TestIssuer::new("https://idp-b.example", "b1");
    let attacker = TestIssuer::new("https://idp-a.example", "evil");
    // Issuer A publishes its EC key and an RSA key.
    let mut jwks_a: Value = serde_json::from_str(&a.jwks()).unwrap();
    let (rsa, rsa_n) = rsa_jwk("rsa1");
    jwks_a["keys"].as_array_mut().unwrap().push(rsa.clone());
    let config = format!(
        "{MODELS}{}{}",
        issuer_config("a", &a.iss, "jwks-a.json"),
        issuer_config("b", &b.iss, "jwks-b.json")
    );
    let gw = TestGateway::start_with_files(
        &config,
        &[("main.cedar", POLICIES)],
        &[
            ("jwks-a.json", &jwks_a.to_string()),
            ("jwks-b.json", &b.jwks()),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let call = |token: String| {
        let http = http.clone();
        let url = format!("{}/v1/chat/completions", gw.url);
        async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(chat("standard").to_string())
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap();
            (status, body)
        }
    };

    // A valid token passes and its groups drive the decision.
    let (status, _) = call(a.token("alice", &["team-x"], "portcullis")).await;
    assert_eq!(status, 200);
    let (status, v) = call(a.token("bob", &["team-y"], "portcullis")).await;
    assert_eq!(
        (status, v["error"]["policy_id"].as_str()),
        (403, Some("default-deny"))
    );
    gw.wait_decision(|d| d.principal == "alice" && d.decision == "allow")
        .await;

    let t = now();
    let claims = |extra: Value| {
        let mut c = json!({"iss": a.iss, "sub": "alice", "aud": "portcullis", "groups": ["team-x"], "iat": t, "exp": t + 600});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let es = |kid: &str| json!({"alg": "ES256", "typ": "JWT", "kid": kid});

    let mut cases: Vec<(&str, String)> = vec![
        (
            "alg none",
            unsigned(&json!({"alg": "none", "kid": "a1"}), &claims(json!({}))),
        ),
        (
            "alg None",
            unsigned(&json!({"alg": "None", "kid": "a1"}), &claims(json!({}))),
        ),
        (
            "alg NONE",
            unsigned(&json!({"alg": "NONE", "kid": "a1"}), &claims(json!({}))),
        ),
        ("empty signature", {
            let good = a.sign(&es("a1"), &claims(json!({})));
            format!("{}.", good.rsplit_once('.').unwrap().0)
        }),
        (
            "HS256 with the RSA public key as secret",
            hs256(
                &json!({"alg": "HS256", "kid": "rsa1"}),
                &claims(json!({})),
                &rsa_n,
            ),
        ),
        (
            "HS256 with the RSA JWK as secret",
            hs256(
                &json!({"alg": "HS256", "kid": "rsa1"}),
                &claims(json!({})),
                rsa.to_string().as_bytes(),
            ),
        ),
        ("unknown kid", a.sign(&es("nope"), &claims(json!({})))),
        (
            "kid with a path",
            a.sign(&es("../../../../etc/passwd"), &claims(json!({}))),
        ),
        (
            "kid with SQL",
            a.sign(&es("a1' OR '1'='1"), &claims(json!({}))),
        ),
        (
            "jku pointing elsewhere",
            attacker.sign(
                &json!({"alg": "ES256", "kid": "evil", "jku": "https://evil.example/jwks.json"}),
                &claims(json!({})),
            ),
        ),
        ("embedded jwk", {
            let jwk: Value = serde_json::from_str(&attacker.jwks()).unwrap();
            attacker.sign(
                &json!({"alg": "ES256", "kid": "a1", "jwk": jwk["keys"][0]}),
                &claims(json!({})),
            )
        }),
        (
            "expired beyond leeway",
            a.sign(&es("a1"), &claims(json!({"exp": t - 31}))),
        ),
        (
            "not yet valid beyond leeway",
            a.sign(&es("a1"), &claims(json!({"nbf": t + 35}))),
        ),
        (
            "missing exp",
            a.sign(&es("a1"), &claims(json!({"exp": null}))),
        ),
        (
            "wrong iss",
            a.sign(&es("a1"), &claims(json!({"iss": "https://other.example"}))),
        ),
        (
            "missing aud",
            a.sign(&es("a1"), &claims(json!({"aud": null}))),
        ),
        (
            "wrong aud",
            a.sign(&es("a1"), &claims(json!({"aud": "someone-else"}))),
        ),
        (
            "issuer B's token presented as issuer A",
            b.sign(&es("b1"), &claims(json!({}))),
        ),
        (
            "issuer B's key with A's kid",
            b.sign(&es("a1"), &claims(json!({}))),
        ),
        (
            "oversized",
            a.sign(&es("a1"), &claims(json!({"pad": "x".repeat(9000)}))),
        ),
        (
            "missing sub",
            a.sign(&es("a1"), &claims(json!({"sub": null}))),
        ),
        ("not a JWT", "abc.def".to_string()),
    ];
    cases.push(("garbage", "a.b.c".into()));
    for (name, token) in cases {
        let (status, v) = call(token).await;
        assert_eq!(status, 401, "{name}: {v}");
        assert_eq!(
            v["error"]["message"], "Invalid credential.",
            "{name}: no detail leaks"
        );
    }

    // At the leeway boundary, on the accepting side.
    let (status, _) = call(a.sign(&es("a1"), &claims(json!({"exp": t - 20})))).await;
    assert_eq!(status, 200, "expired 20 s ago is within a 30 s leeway");
    let (status, _) = call(a.sign(&es("a1"), &claims(json!({"nbf": t + 20})))).await;
    assert_eq!(status, 200, "valid in 20 s is within a 30 s leeway");
}

#[tokio::test]
async fn unknown_kid_refreshes_the_key_set_once() {
    let a = TestIssuer::new("https://idp-a.example", "a1");
    let rotated = TestIssuer::new("https://idp-a.example", "a2");
    let gw = TestGateway::start_with_files(
        &format!("{MODELS}{}", issuer_config("a", &a.iss, "jwks-a.json")),
        &[("main.cedar", POLICIES)],
        &[("jwks-a.json", &a.jwks())],
    )
    .await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", gw.url);
    let send = |t: String| {
        http.post(&url)
            .bearer_auth(t)
            .header("content-type", "application/json")
            .body(chat("standard").to_string())
            .send()
    };
    assert_eq!(
        send(rotated.token("alice", &["team-x"], "portcullis"))
            .await
            .unwrap()
            .status(),
        401
    );
    // The issuer rotates its key: the gateway picks it up on the next unknown kid.
    std::fs::write(gw.dir.path().join("jwks-a.json"), rotated.jwks()).unwrap();
    assert_eq!(
        send(rotated.token("alice", &["team-x"], "portcullis"))
            .await
            .unwrap()
            .status(),
        200
    );
    // A broken JWKS on refresh keeps the previous keys.
    std::fs::write(gw.dir.path().join("jwks-a.json"), "{not json").unwrap();
    assert_eq!(
        send(a.token("alice", &["team-x"], "portcullis"))
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        send(rotated.token("alice", &["team-x"], "portcullis"))
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn user_token_over_mtls_combines_identities() {
    let pki = Pki {
        a: TestCa::new("a.example"),
        b: TestCa::new("b.example"),
    };
    let idp = TestIssuer::new("https://idp-a.example", "a1");
    let jwks = idp.jwks();
    let gw = mtls_gateway(
        &pki,
        "optional",
        &format!(
            "{}\n[models.secure]\nupstream = \"builtin\"\nrequire = [\"mtls\", \"jwt\"]\n",
            issuer_config("a", &idp.iss, "jwks-a.json")
        ),
        &[("jwks-a.json", &jwks)],
    )
    .await;
    let url = format!("{}/v1/chat/completions", https(&gw));
    let token = idp.token("alice", &["team-x"], "portcullis");
    let via_summarizer = https_client(&pki.a.pem, Some(&pki.a.svid("/summarizer", Flaw::None)));
    let via_other = https_client(&pki.a.pem, Some(&pki.a.svid("/other", Flaw::None)));
    let no_cert = https_client(&pki.a.pem, None);

    let (s, v) = post_json(&via_summarizer, &url, Some(&token), &chat("premium"))
        .await
        .unwrap();
    assert_eq!(s, 200, "team-x through the summarizer: {v}");
    let (s, _) = post_json(&via_other, &url, Some(&token), &chat("premium"))
        .await
        .unwrap();
    assert_eq!(s, 403, "team-x through another workload");
    let (s, _) = post_json(&no_cert, &url, Some(&token), &chat("premium"))
        .await
        .unwrap();
    assert_eq!(s, 403, "team-x without a workload");
    let (s, _) = post_json(&no_cert, &url, Some(&token), &chat("standard"))
        .await
        .unwrap();
    assert_eq!(
        s, 200,
        "optional client auth: a user alone still works where policy allows"
    );

    // A model that requires both.
    let mut body = chat("secure");
    body["model"] = json!("secure");
    let (s, v) = post_json(&no_cert, &url, Some(&token), &body)
        .await
        .unwrap();
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("credential_required"))
    );
    let (s, v) = post_json(&via_summarizer, &url, None, &body).await.unwrap();
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("credential_required"))
    );
}

#[tokio::test]
async fn tls_certificate_reload_keeps_open_connections() {
    let pki = Pki {
        a: TestCa::new("a.example"),
        b: TestCa::new("b.example"),
    };
    let gw = mtls_gateway(&pki, "none", "", &[]).await;
    let (_, key) = gw.key("alice", &["team-x"], None);
    let url = format!("{}/v1/chat/completions", https(&gw));
    let old_client = https_client(&pki.a.pem, None);
    let (s, _) = post_json(&old_client, &url, Some(&key), &chat("standard"))
        .await
        .unwrap();
    assert_eq!(s, 200);

    // Rotate to a certificate from another CA and reload, as SIGHUP does.
    let new_ca = TestCa::new("c.example");
    let new_cert = new_ca.server_cert();
    std::fs::write(gw.dir.path().join("server.crt"), &new_cert.cert_pem).unwrap();
    std::fs::write(gw.dir.path().join("server.key"), &new_cert.key_pem).unwrap();
    assert_eq!(portcullis_server::reload_tls(&gw.state), Ok(true));

    // The open keep-alive connection goes on working.
    let (s, _) = post_json(&old_client, &url, Some(&key), &chat("standard"))
        .await
        .unwrap();
    assert_eq!(s, 200, "existing connection survives the reload");
    // New connections get the new certificate.
    let (s, _) = post_json(
        &https_client(&new_ca.pem, None),
        &url,
        Some(&key),
        &chat("standard"),
    )
    .await
    .unwrap();
    assert_eq!(s, 200);
    assert!(post_json(
        &https_client(&pki.a.pem, None),
        &url,
        Some(&key),
        &chat("standard")
    )
    .await
    .is_err());

    // A broken key file is refused and the current certificate stays.
    std::fs::write(gw.dir.path().join("server.key"), "not a key").unwrap();
    assert!(portcullis_server::reload_tls(&gw.state).is_err());
    let (s, _) = post_json(
        &https_client(&new_ca.pem, None),
        &url,
        Some(&key),
        &chat("standard"),
    )
    .await
    .unwrap();
    assert_eq!(s, 200);
}
