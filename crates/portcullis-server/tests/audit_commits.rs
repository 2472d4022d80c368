//! The decision writer with the audit log on a local store: a handler that finds the
//! writer idle commits its own record; under concurrency records join the writer's
//! batches. Both paths, with control-plane events and checkpoints in between, must give
//! one whole log: every record in, indices without gaps, every checkpoint verifying.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use portcullis_audit::{AuditEvent, CheckpointVerifier, EventKind, NoteSigner};
use portcullis_core::config::AuditConfig;
use portcullis_server::audit::{self, AuditWriter, RequestAudit};
use portcullis_server::metrics::{CommitLabels, Metrics};
use portcullis_store::sqlite::SqliteStore;
use portcullis_store::{DecisionRecord, Store};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

const ORIGIN: &str = "portcullis.test/commits";

fn request(i: usize) -> (DecisionRecord, RequestAudit) {
    let ts_ms = 1_790_000_000_000 + i as i64;
    let rec = DecisionRecord {
        ts_ms,
        request_id: audit::new_request_id(ts_ms),
        principal: format!("user-{}", i % 7),
        groups: vec!["team".into()],
        key_id: "k".into(),
        action: "chat.completions".into(),
        model: "local".into(),
        upstream: "builtin".into(),
        decision: if i.is_multiple_of(5) { "deny" } else { "allow" }.into(),
        reason: "team-standard".into(),
        status: 200,
        prompt_tokens: 10,
        completion_tokens: 20,
        latency_us: 100,
        stream: false,
    };
    let a = RequestAudit {
        identity_kind: "api_key".into(),
        request_sha256: Some(Sha256::digest(rec.request_id.as_bytes()).into()),
        ..Default::default()
    };
    (rec, a)
}

fn commits(m: &Metrics, by: &'static str) -> u64 {
    m.decision_commits.get_or_create(&CommitLabels { by }).get()
}

#[test]
fn handler_and_writer_commits_make_one_whole_log() {
    let dir = tempfile::tempdir().unwrap();
    let key = NoteSigner::generate(ORIGIN).unwrap();
    std::fs::write(dir.path().join("audit.key"), key.to_skey().expose_secret()).unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("data")).unwrap());
    let config = AuditConfig {
        signing_key_file: dir.path().join("audit.key"),
        origin: ORIGIN.into(),
        checkpoint_interval: Duration::from_secs(60),
        bodies: None,
    };
    let writer = AuditWriter::open(&config, &*store).unwrap();
    let metrics = Arc::new(Metrics::new());
    let (sink, handle) =
        portcullis_server::decisions::start(store.clone(), metrics.clone(), Some(writer)).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    // One at a time, a millisecond apart (light load), with the writer idle: each
    // handler commits its own record.
    rt.block_on(async {
        for i in 0..20 {
            let (r, a) = request(i);
            sink.record(r, Some(a)).await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    assert_eq!(commits(&metrics, "handler"), 20);
    assert_eq!(commits(&metrics, "writer"), 0);
    assert_eq!(store.audit_size().unwrap(), 20);

    // Many at once, with control-plane events and checkpoints among them.
    let producers = 64;
    let per = 40;
    rt.block_on(async {
        let tasks: Vec<_> = (0..producers)
            .map(|p| {
                let sink = sink.clone();
                tokio::spawn(async move {
                    for i in 0..per {
                        let n = 20 + p * per + i;
                        let (r, a) = request(n);
                        sink.record(r, Some(a)).await;
                        // The rest of a request's work: without it the writer is never
                        // idle, and nothing tempts a handler to commit alone.
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        if i.is_multiple_of(10) {
                            let mut e = AuditEvent::new(EventKind::KeyCreated, n as u64);
                            e.principal = format!("admin-{p}");
                            assert!(sink.audit_event(e));
                        }
                        if p.is_multiple_of(16) && i == per / 2 {
                            sink.checkpoint().await.unwrap();
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        sink.checkpoint().await.unwrap();
    });
    let events = producers * per / 10;
    let total = (20 + producers * per + events) as u64;
    assert_eq!(store.audit_size().unwrap(), total);
    assert!(
        commits(&metrics, "handler") > 20,
        "no inline commit under load"
    );
    assert!(commits(&metrics, "writer") > 0, "no batch under load");
    // Under load records are batched: few commit alone (a commit per record would
    // cost throughput).
    let alone = commits(&metrics, "handler") - 20;
    eprintln!("inline commits under load: {alone} of {}", producers * per);
    assert!(
        alone < (producers * per / 20) as u64,
        "{alone} of {} records committed one at a time under load",
        producers * per
    );
    assert_eq!(
        store.recent_decisions(10_000).unwrap().len(),
        20 + producers * per
    );
    drop(sink);
    handle.join().unwrap();

    // The tree the writer kept in memory (and signed) is the tree of the stored leaves.
    let verifier = CheckpointVerifier::new(ORIGIN, key.verifier()).unwrap();
    let report = audit::verify_log(&*store, &verifier).unwrap();
    assert_eq!(report.size, total);
    assert_eq!(report.unsigned(), 0);
    assert!(report.checkpoints >= 2);
    assert_eq!(metrics.decision_write_failures.get(), 0);
}
