//! Per-request decision costs: Cedar authorization and a limiter reservation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use portcullis_core::config::Model;
use portcullis_core::identity::Principal;
use portcullis_core::limits::{LimitSpec, Limiter, Subject};
use portcullis_core::policy::{Action, PolicyEngine, RequestFacts};

fn bench(c: &mut Criterion) {
    let mut models = BTreeMap::new();
    models.insert(
        "mock-model".to_string(),
        Model {
            name: "mock-model".into(),
            upstream: "u".into(),
            upstream_model: "m".into(),
            provider: "mock".into(),
            tier: "standard".into(),
            chat: true,
            embeddings: true,
            require_mtls: false,
            require_jwt: false,
            guards: "default".into(),
            registry: false,
            default_max_tokens: 1024,
            max_tokens_field: Default::default(),
        },
    );
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/policies/main.cedar"
    ))
    .unwrap();
    let engine =
        PolicyEngine::from_sources(&[(PathBuf::from("main.cedar"), text)], &models).unwrap();
    let p = Principal::api_key("bench", vec!["bench".into()], "0123456789abcdef");
    let facts = RequestFacts {
        max_tokens: 64,
        prompt_tokens: 10,
        stream: false,
        tools: vec![],
        client_ip: "127.0.0.1".parse().unwrap(),
        hour: 12,
        weekday: "Wed",
        guard: Default::default(),
    };
    c.bench_function("cedar_authorize", |b| {
        b.iter(|| {
            assert!(engine
                .authorize(&p, Action::ChatCompletions, "mock-model", &facts)
                .is_allow())
        })
    });
    let limiter = Limiter::new();
    let spec = LimitSpec {
        requests_per_minute: Some(u64::MAX / 4),
        tokens_per_minute: Some(u64::MAX / 4),
        tokens_per_day: Some(u64::MAX / 4),
        requests_per_day: None,
    };
    let charges = vec![
        (Subject::Principal("bench".into()), spec),
        (Subject::Group("bench".into()), spec),
    ];
    c.bench_function("limiter_reserve_reconcile", |b| {
        b.iter(|| {
            let r = limiter
                .reserve(&charges, 74, Instant::now(), 1_795_633_200)
                .unwrap();
            limiter.reconcile(&r, 30, 1_795_633_200);
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
