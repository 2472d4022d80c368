//! Audit log benchmarks, as ignored tests (run them in release mode; see
//! `docs/benchmarks.md`, section "Audit log"):
//!
//! - `append_throughput`: the real decision writer over the real SQLite store, with many
//!   concurrent producers each doing what a request handler does with `[audit]` on:
//!   hand over its decision record and audit data, then wait until the transaction that
//!   holds both has committed (group commit). Reports committed events per second.
//! - `generate_log`: fills a data directory with a log of real request events (1,000,000
//!   by default) and signed checkpoints, plus a config, so `portcullis audit verify` can
//!   be timed on it.
//!
//! ```sh
//! cargo test --release -p portcullis-server --test audit_bench -- --ignored --nocapture append_throughput
//! AUDIT_BENCH_DIR=/tmp/audit1m cargo test --release -p portcullis-server --test audit_bench -- --ignored --nocapture generate_log
//! time target/release/portcullis audit verify --config /tmp/audit1m/p.toml
//! ```
//!
//! Knobs (environment): `AUDIT_BENCH_EVENTS`, `AUDIT_BENCH_PRODUCERS`,
//! `AUDIT_BENCH_SYNC=full` (SQLite `synchronous=FULL`: an fsync per commit),
//! `AUDIT_BENCH_JOURNAL=1` (what the gateway does on SQLite: the handler returns once
//! the record is in the audit journal; the rate is then also reported up to the moment
//! every event is committed to SQLite).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_audit::{CheckpointSigner, CheckpointVerifier, MerkleTree, NoteSigner};
use portcullis_core::config::AuditConfig;
use portcullis_server::audit::{self, AuditWriter, RequestAudit};
use portcullis_server::metrics::Metrics;
use portcullis_store::sqlite::SqliteStore;
use portcullis_store::{DecisionRecord, Store};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

const ORIGIN: &str = "portcullis.bench/audit";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn full_sync() -> bool {
    std::env::var("AUDIT_BENCH_SYNC").is_ok_and(|v| v.eq_ignore_ascii_case("full"))
}

/// A record and audit data as a typical allowed chat completion produces them.
fn request(i: usize) -> (DecisionRecord, RequestAudit) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let rec = DecisionRecord {
        ts_ms: now,
        request_id: audit::new_request_id(now),
        principal: format!("user-{}", i % 50),
        groups: vec!["research".into(), "bench".into()],
        key_id: "0123456789abcdef".into(),
        identity: "key:bench".into(),
        action: "chat.completions".into(),
        model: "mock-model".into(),
        upstream: "mock".into(),
        decision: "allow".into(),
        reason: "team-standard".into(),
        status: 200,
        prompt_tokens: 23,
        completion_tokens: 64,
        latency_us: 412,
        stream: i.is_multiple_of(4),
    };
    let a = RequestAudit {
        identity_kind: "api_key".into(),
        request_sha256: Some(Sha256::digest(rec.request_id.as_bytes()).into()),
        response_sha256: Some(Sha256::digest(rec.principal.as_bytes()).into()),
        guard_findings: vec![portcullis_audit::event::GuardFinding {
            kind: "input.EMAIL".into(),
            count: 1,
        }],
        ..Default::default()
    };
    (rec, a)
}

fn signing_key(dir: &std::path::Path) -> NoteSigner {
    let key = NoteSigner::generate(ORIGIN).unwrap();
    std::fs::write(dir.join("audit.key"), key.to_skey().expose_secret()).unwrap();
    key
}

fn uptime() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default()
}

#[test]
#[ignore = "benchmark: run in release mode with --ignored"]
fn append_throughput() {
    let events = env_usize("AUDIT_BENCH_EVENTS", 200_000);
    let producers = env_usize("AUDIT_BENCH_PRODUCERS", 1024);
    let dir = tempfile::tempdir().unwrap();
    signing_key(dir.path());
    let store = SqliteStore::open(&dir.path().join("data")).unwrap();
    if full_sync() {
        store.set_full_sync(true).unwrap();
    }
    let store: Arc<dyn Store> = Arc::new(store);
    let config = AuditConfig {
        signing_key_file: dir.path().join("audit.key"),
        origin: ORIGIN.into(),
        checkpoint_interval: Duration::from_secs(10),
        bodies: None,
    };
    let writer = AuditWriter::open(&config, &*store).unwrap();
    let journal = std::env::var_os("AUDIT_BENCH_JOURNAL").is_some();
    let jdir = dir.path().join("journal");
    let (sink, handle) = portcullis_server::decisions::start(
        store.clone(),
        Arc::new(Metrics::new()),
        Some(writer),
        journal.then_some(jdir.as_path()),
    )
    .unwrap();
    // Handlers run on the gateway's multi-threaded runtime; so do the producers here.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    // Warm-up (not measured): the first batches create pages and caches.
    rt.block_on(async {
        for i in 0..1000 {
            let (r, a) = request(i);
            sink.record(r, Some(a)).await;
        }
    });
    let started = Instant::now();
    let max_wait = rt.block_on(async {
        let per = events / producers;
        let tasks: Vec<_> = (0..producers)
            .map(|p| {
                let sink = sink.clone();
                tokio::spawn(async move {
                    let mut worst = Duration::ZERO;
                    for i in 0..per {
                        let (r, a) = request(p * per + i);
                        let t = Instant::now();
                        // Returns once the record and its leaf are durable: committed,
                        // or (AUDIT_BENCH_JOURNAL) in the journal.
                        sink.record(r, Some(a)).await;
                        worst = worst.max(t.elapsed());
                    }
                    worst
                })
            })
            .collect();
        let mut worst = Duration::ZERO;
        for t in tasks {
            worst = worst.max(t.await.unwrap());
        }
        worst
    });
    let elapsed = started.elapsed();
    rt.block_on(sink.flush());
    let in_store = started.elapsed();
    let done = (events / producers) * producers;
    let checkpoint = rt.block_on(sink.checkpoint()).unwrap();
    assert!(checkpoint.is_some());
    drop(sink);
    handle.join().unwrap();
    assert_eq!(store.audit_size().unwrap(), (done + 1000) as u64);
    println!(
        "append_throughput: {done} events from {producers} concurrent producers in {elapsed:.2?}: {:.0} durable events/s ({}; synchronous={}; slowest wait {max_wait:.2?}); all in SQLite after {in_store:.2?}: {:.0} events/s; loadavg before: {}",
        done as f64 / elapsed.as_secs_f64(),
        if journal { "journal" } else { "group commit" },
        if full_sync() { "FULL" } else { "NORMAL" },
        done as f64 / in_store.as_secs_f64(),
        load.trim()
    );
    // The log the writer produced is whole.
    let key = audit::read_signing_key(&config.signing_key_file).unwrap();
    let verifier = CheckpointVerifier::new(ORIGIN, key.verifier()).unwrap();
    let report = audit::verify_log(&*store, &verifier).unwrap();
    assert_eq!(report.unsigned(), 0);
    println!("loadavg after: {}", uptime().trim());
}

#[test]
#[ignore = "benchmark: writes a large log to AUDIT_BENCH_DIR"]
fn generate_log() {
    let dir = std::path::PathBuf::from(
        std::env::var("AUDIT_BENCH_DIR").expect("set AUDIT_BENCH_DIR to an empty directory"),
    );
    let events = env_usize("AUDIT_BENCH_EVENTS", 1_000_000);
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    assert!(
        !dir.join("data").exists(),
        "{} already holds a data directory",
        dir.display()
    );
    std::fs::write(
        dir.join("p.toml"),
        format!(
            "[store]\ndata_dir = \"data\"\n[upstreams.m]\nkind = \"mock\"\n[models.mock-model]\nupstream = \"m\"\n[audit]\nsigning_key_file = \"audit.key\"\norigin = \"{ORIGIN}\"\n"
        ),
    )
    .unwrap();
    let key = signing_key(&dir);
    let store = SqliteStore::open(&dir.join("data")).unwrap();
    let mut signer = CheckpointSigner::new(ORIGIN, key).unwrap();
    let mut tree = MerkleTree::new();
    let started = Instant::now();
    let mut written = 0;
    while written < events {
        let n = 10_000.min(events - written);
        let leaves: Vec<_> = (written..written + n)
            .map(|i| {
                let (r, a) = request(i);
                audit::to_leaf(&audit::request_event(&r, &a))
            })
            .collect();
        store.record_batch(&[], &leaves).unwrap();
        for l in &leaves {
            tree.push_leaf_hash(l.leaf_hash);
        }
        written += n;
        // A checkpoint every 100,000 leaves, as a running gateway would have signed.
        if written.is_multiple_of(100_000) || written == events {
            let note = signer.sign_tree(&tree).unwrap();
            store.put_audit_checkpoint(tree.size(), &note).unwrap();
        }
    }
    println!(
        "generate_log: {written} events and their checkpoints written to {} in {:.2?}; now run: time portcullis audit verify --config {}",
        dir.display(),
        started.elapsed(),
        dir.join("p.toml").display()
    );
}
