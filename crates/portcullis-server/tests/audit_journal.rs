//! The decision writer with the audit log on a local store: handlers append their
//! records to the audit journal and the writer commits them in batches, with
//! control-plane events and checkpoints in between; the result must be one whole log
//! (every record in, indices without gaps, every checkpoint verifying), and records a
//! crash left in the journal must be committed exactly once at the next start.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use portcullis_audit::{AuditEvent, CheckpointVerifier, EventKind, NoteSigner};
use portcullis_core::config::AuditConfig;
use portcullis_server::audit::{self, AuditWriter, RequestAudit};
use portcullis_server::metrics::{CommitLabels, Metrics};
use portcullis_store::journal::{Journal, JournalEntryRef};
use portcullis_store::sqlite::SqliteStore;
use portcullis_store::{DecisionRecord, Store};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

const ORIGIN: &str = "portcullis.test/commits";

fn request(i: usize) -> (DecisionRecord, RequestAudit) {
    let ts_ms = 1_790_000_000_000 + i as i64;
    let rec = DecisionRecord {
        ts_ms,
        // Deterministic, so a test can make the same request twice.
        request_id: format!("req-{i:06}"),
        principal: format!("user-{}", i % 7),
        groups: vec!["team".into()],
        key_id: "k".into(),
        identity: "key:p".into(),
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

fn config(dir: &std::path::Path) -> AuditConfig {
    AuditConfig {
        signing_key_file: dir.join("audit.key"),
        origin: ORIGIN.into(),
        checkpoint_interval: Duration::from_secs(60),
        bodies: None,
    }
}

fn journal_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("journal-")
            })
            .count()
        })
        .unwrap_or(0)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Many producers at once, with control-plane events and checkpoints among them, with
/// the journal (`journal: true`, what the gateway does on SQLite) or with handlers
/// waiting for the store's group commit.
fn whole_log(journal: bool) {
    let dir = tempfile::tempdir().unwrap();
    let key = NoteSigner::generate(ORIGIN).unwrap();
    std::fs::write(dir.path().join("audit.key"), key.to_skey().expose_secret()).unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("data")).unwrap());
    let writer = AuditWriter::open(&config(dir.path()), &*store).unwrap();
    let metrics = Arc::new(Metrics::new());
    let jdir = dir.path().join("journal");
    let (sink, handle) = portcullis_server::decisions::start(
        store.clone(),
        metrics.clone(),
        Some(writer),
        journal.then_some(jdir.as_path()),
    )
    .unwrap();
    let rt = runtime();
    let producers = 64;
    let per = 40;
    rt.block_on(async {
        let tasks: Vec<_> = (0..producers)
            .map(|p| {
                let sink = sink.clone();
                tokio::spawn(async move {
                    for i in 0..per {
                        let n = p * per + i;
                        let (r, a) = request(n);
                        sink.record(r, Some(a)).await;
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
        // What a reader of the log does before looking for a request's event.
        sink.flush().await;
    });
    let events = producers * per / 10;
    let total = (producers * per + events) as u64;
    assert_eq!(store.audit_size().unwrap(), total);
    assert_eq!(
        store.recent_decisions(10_000).unwrap().len(),
        producers * per
    );
    // Batched: far fewer commits than records.
    let writer_commits = commits(&metrics, "writer");
    eprintln!("journal {journal}: {writer_commits} commits for {total} records");
    assert!(
        writer_commits > 0 && writer_commits < total / 2,
        "{writer_commits} commits"
    );
    rt.block_on(sink.checkpoint()).unwrap();
    drop(sink);
    handle.join().unwrap();
    if journal {
        assert_eq!(
            journal_files(&jdir),
            0,
            "a clean shutdown leaves no journal file"
        );
    }

    // The tree the writer kept in memory (and signed) is the tree of the stored leaves.
    let verifier = CheckpointVerifier::new(ORIGIN, key.verifier()).unwrap();
    let report = audit::verify_log(&*store, &verifier).unwrap();
    assert_eq!(report.size, total);
    assert_eq!(report.unsigned(), 0);
    assert!(report.checkpoints >= 2);
    assert_eq!(metrics.decision_write_failures.get(), 0);
}

#[test]
fn journaled_records_make_one_whole_log() {
    whole_log(true);
}

#[test]
fn group_committed_records_make_one_whole_log() {
    whole_log(false);
}

/// A crash between the journal append and the writer's commit: the next start commits
/// the journaled records whose events are missing, and only those.
#[test]
fn records_left_in_the_journal_by_a_crash_are_committed_once_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let key = NoteSigner::generate(ORIGIN).unwrap();
    std::fs::write(dir.path().join("audit.key"), key.to_skey().expose_secret()).unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("data")).unwrap());
    let jdir = dir.path().join("journal");
    let rt = runtime();

    // A first run commits 30 requests.
    let writer = AuditWriter::open(&config(dir.path()), &*store).unwrap();
    let (sink, handle) = portcullis_server::decisions::start(
        store.clone(),
        Arc::new(Metrics::new()),
        Some(writer),
        Some(&jdir),
    )
    .unwrap();
    rt.block_on(async {
        for i in 0..30 {
            let (r, a) = request(i);
            sink.record(r, Some(a)).await;
        }
    });
    drop(sink);
    handle.join().unwrap();
    assert_eq!(store.audit_size().unwrap(), 30);

    // A second run journals 20 more and five it had already committed (its file was not
    // deleted yet), then dies before committing.
    {
        let (journal, recovered) = Journal::open(&jdir).unwrap();
        assert!(recovered.entries.is_empty());
        for i in (30..50).chain(0..5) {
            let (r, a) = request(i);
            let leaf = audit::to_leaf(&audit::request_event(&r, &a));
            journal
                .append(&JournalEntryRef {
                    rec: Some(&r),
                    leaf: &leaf,
                    bodies: &[],
                })
                .unwrap();
        }
    }
    assert!(journal_files(&jdir) > 0);

    // The third start commits the 20 missing records before it serves anything.
    let writer = AuditWriter::open(&config(dir.path()), &*store).unwrap();
    let metrics = Arc::new(Metrics::new());
    let (sink, handle) = portcullis_server::decisions::start(
        store.clone(),
        metrics.clone(),
        Some(writer),
        Some(&jdir),
    )
    .unwrap();
    assert_eq!(store.audit_size().unwrap(), 50);
    assert_eq!(store.recent_decisions(1000).unwrap().len(), 50);
    assert_eq!(commits(&metrics, "recovery"), 1);
    for i in 0..50 {
        let (r, _) = request(i);
        assert!(
            store.audit_leaf_by_event(&r.request_id).unwrap().is_some(),
            "request {i}"
        );
    }
    rt.block_on(sink.checkpoint()).unwrap();
    drop(sink);
    handle.join().unwrap();
    let verifier = CheckpointVerifier::new(ORIGIN, key.verifier()).unwrap();
    let report = audit::verify_log(&*store, &verifier).unwrap();
    assert_eq!(report.size, 50);
    assert_eq!(report.unsigned(), 0);
}

/// One gateway per data directory: a second writer on the same journal is refused.
#[test]
fn a_second_writer_on_the_same_journal_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    signing(dir.path());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("data")).unwrap());
    let jdir = dir.path().join("journal");
    let w1 = AuditWriter::open(&config(dir.path()), &*store).unwrap();
    let (sink, handle) = portcullis_server::decisions::start(
        store.clone(),
        Arc::new(Metrics::new()),
        Some(w1),
        Some(&jdir),
    )
    .unwrap();
    let w2 = AuditWriter::open(&config(dir.path()), &*store).unwrap();
    let err = portcullis_server::decisions::start(
        store.clone(),
        Arc::new(Metrics::new()),
        Some(w2),
        Some(&jdir),
    )
    .unwrap_err();
    assert!(err.to_string().contains("in use"), "{err}");
    drop(sink);
    handle.join().unwrap();
}

fn signing(dir: &std::path::Path) {
    let key = NoteSigner::generate(ORIGIN).unwrap();
    std::fs::write(dir.join("audit.key"), key.to_skey().expose_secret()).unwrap();
}
