//! The decision writer yields the CPU to request handlers (nice +10) when no handler
//! waits for it: decision records only, or audit events in the journal. When handlers
//! wait for its commits (the audit log without a journal), it keeps the default priority.
//! The SQLite store's checkpoint thread always yields (no request waits for it).
//! Its own test binary, so that no other test's writer thread is in the process.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use portcullis_audit::NoteSigner;
use portcullis_core::config::AuditConfig;
use portcullis_server::audit::AuditWriter;
use portcullis_server::metrics::Metrics;
use portcullis_store::sqlite::SqliteStore;
use portcullis_store::Store;
use secrecy::ExposeSecret;

const ORIGIN: &str = "portcullis.test/priority";

/// The nice value of a thread, from its `stat` file.
fn nice(stat_path: &std::path::Path) -> i64 {
    let stat = std::fs::read_to_string(stat_path).unwrap();
    // Fields after the parenthesised name: state is field 3, nice field 19.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split_whitespace().nth(16).unwrap().parse().unwrap()
}

/// This thread's nice value.
fn nice_here() -> i64 {
    nice(std::path::Path::new("/proc/thread-self/stat"))
}

/// The nice value of the process's one thread named `name`, relative to this thread's
/// (the test may run under `nice`).
fn thread_nice(name: &str) -> i64 {
    let found = threads_nice(name);
    assert_eq!(found.len(), 1, "{name} threads: {found:?}");
    found[0]
}

/// The nice values, relative to this thread's, of the process's threads named `name`.
fn threads_nice(name: &str) -> Vec<i64> {
    let own = nice(std::path::Path::new("/proc/thread-self/stat"));
    let mut found = Vec::new();
    for t in std::fs::read_dir("/proc/self/task").unwrap() {
        let t = t.unwrap().path();
        let Ok(comm) = std::fs::read_to_string(t.join("comm")) else {
            continue;
        };
        if comm.trim() == name {
            found.push(nice(&t.join("stat")) - own);
        }
    }
    found
}

/// The SQLite checkpoint thread's nice value once it runs and has lowered it (it does
/// so first thing, on a thread of its own, so poll briefly).
fn checkpointer_nice(expected: i64) -> i64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        // The thread may not be running yet on a busy machine: wait for it too.
        let found = threads_nice("sqlite-checkpoi");
        assert!(found.len() <= 1, "sqlite-checkpoi threads: {found:?}");
        if found.first() == Some(&expected) || std::time::Instant::now() > deadline {
            return thread_nice("sqlite-checkpoi");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Starts a writer (audit log on or off, journal or not), reads its nice value once
/// it has set it, and shuts it down.
fn nice_of(audit: bool, journal: bool) -> i64 {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("data")).unwrap());
    let writer = audit.then(|| {
        let key = NoteSigner::generate(ORIGIN).unwrap();
        std::fs::write(dir.path().join("audit.key"), key.to_skey().expose_secret()).unwrap();
        let cfg = AuditConfig {
            signing_key_file: dir.path().join("audit.key"),
            origin: ORIGIN.into(),
            checkpoint_interval: Duration::from_secs(60),
            bodies: None,
        };
        AuditWriter::open(&cfg, &*store).unwrap()
    });
    let jdir = dir.path().join("journal");
    let (sink, handle) = portcullis_server::decisions::start(
        store,
        Arc::new(Metrics::new()),
        writer,
        journal.then_some(jdir.as_path()),
    )
    .unwrap();
    // The thread sets its priority first thing; a flush round trip proves it has run.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(sink.flush());
    let nice = thread_nice("decision-writer");
    // The store's checkpoint thread yields in every case.
    let own = nice_here();
    let lowered = (own + 10).min(19) - own;
    assert_eq!(checkpointer_nice(lowered), lowered, "sqlite-checkpoint");
    drop(sink);
    handle.join().unwrap();
    nice
}

#[test]
fn background_threads_yield_to_handlers_only_when_none_waits_for_them() {
    // Run one after another: each case must see only its own writer thread.
    // +10, or up to 19 when the test itself runs at a nice value above 9.
    let own = nice(std::path::Path::new("/proc/thread-self/stat"));
    let lowered = (own + 10).min(19) - own;
    assert_eq!(nice_of(false, false), lowered, "decision records only");
    assert_eq!(nice_of(true, true), lowered, "audit events in the journal");
    assert_eq!(nice_of(true, false), 0, "handlers wait for the commit");
}
