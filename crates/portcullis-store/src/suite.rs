//! The storage test suite: each test in [`suite!`] runs against SQLite and, when
//! `PORTCULLIS_TEST_POSTGRES` holds a URL, against PostgreSQL (a fresh schema per test,
//! dropped afterwards). Backend-specific behaviour (SQLite's WAL, PostgreSQL's
//! migrations, listener, sequencer) is tested at the end of this file and in each
//! backend's module.
//!
//! ```sh
//! PORTCULLIS_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test cargo test -p portcullis-store
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_core::identity::KeyRecord;
use portcullis_core::limits::Subject;
use sha2::{Digest, Sha256};

use crate::sqlite::SqliteStore;
use crate::testing::TestPostgres;
use crate::{
    AuditBody, AuditQuery, DecisionRecord, NewAuditLeaf, Store, StoreError, StoredCheckpoint,
};

/// Tests that measure timing (SQLite's WAL bounds) take this for writing, so that the
/// busy multi-threaded tests of this binary do not starve them; every other test takes it
/// for reading.
pub(crate) static TIMING: parking_lot::RwLock<()> = parking_lot::RwLock::new(());

/// One database, and ways to reach it.
trait Backend {
    /// A new handle on the database (another process, or another replica).
    fn open(&self) -> Arc<dyn Store>;
    /// Runs SQL as is.
    fn exec(&self, sql: &str);
    /// Makes the write of an audit event with this id fail (and its whole batch).
    fn fail_event(&self, event_id: &str);
}

struct Sqlite(tempfile::TempDir);

impl Sqlite {
    fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }
}

impl Backend for Sqlite {
    fn open(&self) -> Arc<dyn Store> {
        Arc::new(SqliteStore::open(self.0.path()).unwrap())
    }
    fn exec(&self, sql: &str) {
        rusqlite::Connection::open(self.0.path().join("portcullis.db"))
            .unwrap()
            .execute_batch(sql)
            .unwrap();
    }
    fn fail_event(&self, id: &str) {
        self.exec(&format!("CREATE TRIGGER fail_{id} BEFORE INSERT ON audit_leaves WHEN NEW.event_id = '{id}' BEGIN SELECT RAISE(ABORT, 'boom'); END;"));
    }
}

impl Backend for TestPostgres {
    fn open(&self) -> Arc<dyn Store> {
        // No periodic resync within a test: only notifications move the marker, so a
        // test of them cannot pass on a resync tick.
        let cfg = self.config().with_resync_every(Duration::from_secs(600));
        Arc::new(crate::postgres::PostgresStore::open(&cfg).unwrap())
    }
    fn exec(&self, sql: &str) {
        self.execute(sql).unwrap();
    }
    fn fail_event(&self, id: &str) {
        self.exec(&format!(
            "CREATE FUNCTION fail_{id}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.event_id = '{id}' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$;
             CREATE TRIGGER fail_{id} BEFORE INSERT ON audit_pending FOR EACH ROW EXECUTE FUNCTION fail_{id}();"
        ));
    }
}

/// Every test body below, once per backend.
macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $( #[test] fn $name() {
                let _t = super::TIMING.read();
                super::$name(&super::Sqlite::new());
            } )*
        }
        mod on_postgres {
            $( #[test] fn $name() {
                let _t = super::TIMING.read();
                if let Some(db) = crate::testing::TestPostgres::or_skip(stringify!($name)) {
                    super::$name(&db);
                }
            } )*
        }
    };
}

suite!(
    keys_round_trip_and_revoke,
    a_revocation_by_another_handle_moves_the_change_marker,
    decisions_feed_usage,
    concurrent_writers_add_up_usage,
    audit_leaves_get_consecutive_indices_and_failed_batches_write_nothing,
    audit_query_and_checkpoints,
    audit_bodies_are_stored_with_their_leaves_and_expire,
    concurrent_submitters_and_racing_sequencers_log_every_event_once,
    calls_from_inside_a_multi_thread_runtime,
    a_retried_batch_is_written_once,
);

/// Moves every submitted event into the log (a no-op where leaves are sequenced when
/// they commit).
fn settle(s: &dyn Store) {
    if !s.sequenced_at_commit() {
        while s.sequence_pending(1000).unwrap() > 0 {}
    }
    assert_eq!(s.audit_pending_count().unwrap(), 0);
}

pub(crate) fn key(id: &str) -> KeyRecord {
    KeyRecord {
        id: id.into(),
        hash: [7; 32],
        principal: "alice".into(),
        groups: vec!["eng".into(), "bench".into()],
        created_at: 1,
        expires_at: Some(99),
        revoked_at: None,
    }
}

fn leaf(n: u8, principal: &str, decision: Option<&str>, ts_ms: i64) -> NewAuditLeaf {
    NewAuditLeaf {
        leaf: vec![n; 3],
        leaf_hash: [n; 32],
        event_id: format!("ev{n}"),
        ts_ms,
        principal: principal.into(),
        decision: decision.map(str::to_string),
    }
}

fn keys_round_trip_and_revoke(b: &dyn Backend) {
    let s = b.open();
    s.put_key(&key("a")).unwrap();
    assert!(s.put_key(&key("a")).is_err(), "duplicate id must fail");
    assert_eq!(s.get_key("a").unwrap().unwrap(), key("a"));
    assert!(s.get_key("b").unwrap().is_none());
    let mut later = key("c");
    later.created_at = 5;
    later.groups = vec![];
    later.expires_at = None;
    s.put_key(&later).unwrap();
    assert_eq!(s.get_key("c").unwrap().unwrap(), later);
    assert!(s.revoke_key("a", 5).unwrap());
    assert!(!s.revoke_key("a", 6).unwrap());
    assert!(!s.revoke_key("nope", 6).unwrap());
    assert_eq!(s.get_key("a").unwrap().unwrap().revoked_at, Some(5));
    // A second handle (another process, e.g. `portcullis keys revoke`) sees it too.
    let s2 = b.open();
    let ids: Vec<_> = s2.list_keys().unwrap().into_iter().map(|k| k.id).collect();
    assert_eq!(ids, vec!["c", "a"], "newest first");
    assert_eq!(s2.count_keys().unwrap(), 2);
    s2.ping().unwrap();
}

fn a_revocation_by_another_handle_moves_the_change_marker(b: &dyn Backend) {
    let gateway = b.open();
    let cli = b.open();
    cli.put_key(&key("k")).unwrap();
    // Once the creation has been seen (a stable marker), what the gateway's key cache
    // does: read the marker, then the key.
    let mut before = gateway.change_marker().unwrap();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = gateway.change_marker().unwrap();
        if now == before {
            break;
        }
        before = now;
    }
    assert_eq!(gateway.get_key("k").unwrap().unwrap().revoked_at, None);
    let revoked_at = Instant::now();
    assert!(cli.revoke_key("k", 9).unwrap());
    // "A key revoked on one replica is refused by all within 1 s."
    loop {
        if gateway.change_marker().unwrap() != before {
            break;
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(1),
            "the marker did not move within 1 s of a revocation elsewhere"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(gateway.get_key("k").unwrap().unwrap().revoked_at, Some(9));
}

fn decisions_feed_usage(b: &dyn Backend) {
    let s = b.open();
    let d = DecisionRecord {
        ts_ms: 86_400_000 * 3 + 5,
        request_id: "r1".into(),
        principal: "alice".into(),
        groups: vec!["eng".into()],
        key_id: "k1".into(),
        identity: "oidc:corp:alice".into(),
        action: "chat.completions".into(),
        model: "m".into(),
        upstream: "u".into(),
        decision: "allow".into(),
        reason: "p1".into(),
        status: 200,
        prompt_tokens: 10,
        completion_tokens: 5,
        latency_us: 1234,
        stream: true,
    };
    let denied = DecisionRecord {
        decision: "deny".into(),
        prompt_tokens: 100,
        status: 403,
        stream: false,
        // Kept in order.
        groups: vec!["zeta".into(), "alpha".into(), "mid".into()],
        ..d.clone()
    };
    // Another identity of the same name (an API key `alice`), and a record from before
    // identities were qualified (counted under the bare name).
    let key_alice = DecisionRecord {
        identity: "key:alice".into(),
        prompt_tokens: 1,
        completion_tokens: 0,
        groups: vec![],
        ..d.clone()
    };
    let legacy = DecisionRecord {
        identity: String::new(),
        prompt_tokens: 2,
        completion_tokens: 0,
        groups: vec![],
        ..d.clone()
    };
    s.record_decisions(&[d.clone(), d.clone(), denied.clone()])
        .unwrap();
    s.record_decisions(&[key_alice, legacy]).unwrap();
    s.record_decisions(&[]).unwrap();
    let mut u = s.day_usage(3).unwrap();
    u.sort();
    assert_eq!(
        u,
        vec![
            (Subject::Principal("alice".into()), 2),
            (Subject::Principal("key:alice".into()), 1),
            (Subject::Principal("oidc:corp:alice".into()), 30),
            (Subject::Group("eng".into()), 30)
        ]
    );
    assert!(s.day_usage(4).unwrap().is_empty());
    let recent = s.recent_decisions(10).unwrap();
    // Every field but the identity, which only the usage counters keep.
    let stored = |r: &DecisionRecord| DecisionRecord {
        identity: String::new(),
        ..r.clone()
    };
    assert_eq!(
        recent[2..],
        [stored(&denied), stored(&d), stored(&d)],
        "newest first, every field"
    );
    assert_eq!(s.recent_decisions(1).unwrap().len(), 1);
}

fn concurrent_writers_add_up_usage(b: &dyn Backend) {
    // Replicas charging the same counters at once (on PostgreSQL: upserts of the same
    // rows from several connections) lose no update and do not deadlock.
    let stores: Vec<_> = (0..3).map(|_| b.open()).collect();
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let s = stores[t % stores.len()].clone();
            std::thread::spawn(move || {
                for i in 0..20 {
                    let d = DecisionRecord {
                        ts_ms: 86_400_000 * 7,
                        principal: format!("p{}", (t + i) % 3),
                        // Several subjects per batch, in varying order.
                        groups: if i % 2 == 0 {
                            vec!["g1".into(), "g2".into()]
                        } else {
                            vec!["g2".into(), "g1".into()]
                        },
                        decision: "allow".into(),
                        prompt_tokens: 1,
                        completion_tokens: 1,
                        ..Default::default()
                    };
                    let other = DecisionRecord {
                        principal: format!("p{}", (t + i + 1) % 3),
                        ..d.clone()
                    };
                    s.record_decisions(&[d, other]).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let usage: HashMap<_, _> = stores[0].day_usage(7).unwrap().into_iter().collect();
    // 6 threads x 20 batches x 2 records x 2 tokens.
    assert_eq!(usage[&Subject::Group("g1".into())], 480);
    assert_eq!(usage[&Subject::Group("g2".into())], 480);
    let principals: u64 = (0..3)
        .map(|p| usage[&Subject::Principal(format!("p{p}"))])
        .sum();
    assert_eq!(principals, 480);
    assert_eq!(stores[1].recent_decisions(1000).unwrap().len(), 240);
}

fn audit_leaves_get_consecutive_indices_and_failed_batches_write_nothing(b: &dyn Backend) {
    let s = b.open();
    assert_eq!(s.audit_size().unwrap(), 0);
    let d = DecisionRecord {
        principal: "alice".into(),
        decision: "allow".into(),
        ..Default::default()
    };
    let first = s
        .record_batch(
            &[d.clone(), d.clone()],
            &[
                leaf(0, "alice", Some("allow"), 10),
                leaf(1, "bob", Some("deny"), 20),
            ],
        )
        .unwrap();
    if s.sequenced_at_commit() {
        assert_eq!(first, 0);
    } else {
        assert_eq!(first, 0, "the log size at commit");
        assert_eq!(s.audit_pending_count().unwrap(), 2);
        assert_eq!(
            s.audit_size().unwrap(),
            0,
            "not in the log before sequencing"
        );
    }
    settle(&*s);
    // No leaves: returns the size, writes the decisions.
    assert_eq!(s.record_batch(std::slice::from_ref(&d), &[]).unwrap(), 2);
    assert_eq!(s.recent_decisions(10).unwrap().len(), 3);
    // Another handle (another process or replica) appends after the same log.
    let s2 = b.open();
    let at = s2.record_batch(&[], &[leaf(2, "carol", None, 30)]).unwrap();
    if s2.sequenced_at_commit() {
        assert_eq!(at, 2);
    }
    settle(&*s2);
    let at = s
        .record_batch(&[], &[leaf(3, "alice", Some("deny"), 40)])
        .unwrap();
    if s.sequenced_at_commit() {
        assert_eq!(at, 3);
    }
    settle(&*s);
    assert_eq!(s.audit_size().unwrap(), 4);
    let all = s.audit_leaves(0, 10).unwrap();
    assert_eq!(
        all.iter().map(|l| l.index).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    assert_eq!(all[1].leaf, leaf(1, "bob", Some("deny"), 20));
    assert_eq!(all[2].leaf, leaf(2, "carol", None, 30));
    assert_eq!(s.audit_leaves(1, 3).unwrap().len(), 2);
    assert_eq!(
        s.audit_leaf_hashes(0, 4).unwrap(),
        vec![[0; 32], [1; 32], [2; 32], [3; 32]]
    );
    assert_eq!(s.audit_leaf_by_event("ev2").unwrap().unwrap().index, 2);
    assert!(s.audit_leaf_by_event("nope").unwrap().is_none());

    // A failed batch writes nothing (neither decisions nor leaves).
    b.fail_event("boom");
    let mut bad = leaf(9, "x", None, 0);
    bad.event_id = "boom".into();
    assert!(s.record_batch(&[d], &[leaf(4, "x", None, 0), bad]).is_err());
    settle(&*s);
    assert_eq!(s.audit_size().unwrap(), 4);
    assert_eq!(s.recent_decisions(10).unwrap().len(), 3);

    // A gap is reported when reading hashes.
    b.exec("DELETE FROM audit_leaves WHERE idx = 1");
    assert!(matches!(
        s.audit_leaf_hashes(0, 4),
        Err(StoreError::Corrupt(m)) if m.contains("leaf 1")
    ));
}

fn audit_query_and_checkpoints(b: &dyn Backend) {
    let s = b.open();
    s.record_batch(
        &[],
        &[
            leaf(0, "alice", Some("allow"), 10),
            leaf(1, "bob", Some("deny"), 20),
            leaf(2, "alice", Some("deny"), 30),
            leaf(3, "alice", None, 40),
        ],
    )
    .unwrap();
    settle(&*s);
    let idx = |q: AuditQuery| {
        s.query_audit(&q)
            .unwrap()
            .into_iter()
            .map(|l| l.index)
            .collect::<Vec<_>>()
    };
    assert_eq!(idx(AuditQuery::default()), vec![0, 1, 2, 3]);
    let alice = AuditQuery {
        principal: Some("alice".into()),
        ..Default::default()
    };
    assert_eq!(idx(alice.clone()), vec![0, 2, 3]);
    assert_eq!(
        idx(AuditQuery {
            decision: Some("deny".into()),
            ..alice.clone()
        }),
        vec![2]
    );
    assert_eq!(
        idx(AuditQuery {
            since_ms: Some(20),
            until_ms: Some(40),
            ..Default::default()
        }),
        vec![1, 2]
    );
    assert_eq!(idx(AuditQuery { limit: 2, ..alice }), vec![0, 2]);

    assert!(s.latest_audit_checkpoint().unwrap().is_none());
    s.put_audit_checkpoint(2, "two").unwrap();
    s.put_audit_checkpoint(4, "four").unwrap();
    let latest = s.latest_audit_checkpoint().unwrap().unwrap();
    assert_eq!((latest.size, latest.note.as_str()), (4, "four"));
    let all: Vec<StoredCheckpoint> = b.open().audit_checkpoints().unwrap();
    assert_eq!(all.iter().map(|c| c.size).collect::<Vec<_>>(), vec![2, 4]);
    assert!(all[0].seq < all[1].seq);
}

fn audit_bodies_are_stored_with_their_leaves_and_expire(b: &dyn Backend) {
    let s = b.open();
    let body = |id: &str, part: &str, ts_ms| AuditBody {
        event_id: id.into(),
        part: part.into(),
        ts_ms,
        nonce: vec![1; 24],
        ciphertext: vec![2; 40],
    };
    s.record_batch_with_bodies(
        &[],
        &[leaf(0, "a", None, 10), leaf(1, "a", None, 20)],
        &[
            body("ev0", "request", 10),
            body("ev0", "response", 10),
            body("ev1", "request", 20),
        ],
    )
    .unwrap();
    settle(&*s);
    assert_eq!(
        s.audit_body("ev0", "response").unwrap(),
        Some(body("ev0", "response", 10))
    );
    assert!(s.audit_body("ev1", "response").unwrap().is_none());
    assert_eq!(s.delete_audit_bodies_before(15).unwrap(), 2);
    assert!(s.audit_body("ev0", "request").unwrap().is_none());
    assert!(s.audit_body("ev1", "request").unwrap().is_some());
    assert_eq!(s.audit_size().unwrap(), 2, "the leaves stay");
    // A failed batch stores no bodies either.
    b.fail_event("ev2");
    assert!(s
        .record_batch_with_bodies(
            &[],
            &[leaf(2, "a", None, 30)],
            &[body("ev2", "request", 30)]
        )
        .is_err());
    assert!(s.audit_body("ev2", "request").unwrap().is_none());
}

/// The leaf of a submitted test event: its hash is the RFC 6962 leaf hash of its bytes.
fn event(writer: usize, n: usize) -> NewAuditLeaf {
    let id = format!("w{writer}-{n}");
    let bytes = format!("{{\"event\":\"{id}\"}}").into_bytes();
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(&bytes);
    NewAuditLeaf {
        leaf: bytes,
        leaf_hash: h.finalize().into(),
        event_id: id,
        ts_ms: n as i64,
        principal: format!("p{writer}"),
        decision: Some("allow".into()),
    }
}

fn concurrent_submitters_and_racing_sequencers_log_every_event_once(b: &dyn Backend) {
    // Several replicas (store handles) submit batches from threads while two of them run
    // the sequencer at once: every event ends up in the log exactly once, with indices
    // 0..n and the hash it was submitted with.
    const WRITERS: usize = 6;
    const BATCHES: usize = 25;
    let stores: Vec<_> = (0..4).map(|_| b.open()).collect();
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let s = stores[w % stores.len()].clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let mut n = 0;
                for i in 0..BATCHES {
                    let size = 1 + (w + i) % 4;
                    let leaves: Vec<_> = (0..size).map(|k| event(w, n + k)).collect();
                    n += size;
                    let d = DecisionRecord {
                        principal: format!("p{w}"),
                        decision: "allow".into(),
                        ..Default::default()
                    };
                    s.record_batch(&[d], &leaves).unwrap();
                }
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                n
            })
        })
        .collect();
    let sequencers: Vec<_> = [stores[0].clone(), stores[1].clone()]
        .into_iter()
        .map(|s| {
            let done = done.clone();
            std::thread::spawn(move || {
                let mut moved = 0;
                while done.load(std::sync::atomic::Ordering::SeqCst) < WRITERS {
                    moved += s.sequence_pending(7).unwrap();
                }
                moved
            })
        })
        .collect();
    let submitted: usize = writers.into_iter().map(|t| t.join().unwrap()).sum();
    let moved: u64 = sequencers.into_iter().map(|t| t.join().unwrap()).sum();
    settle(&*stores[2]);
    let n = stores[3].audit_size().unwrap();
    assert_eq!(n, submitted as u64);
    if !stores[0].sequenced_at_commit() {
        assert!(moved > 0, "the racing sequencers did some of the work");
    }
    // Contiguous: reading the hashes checks for gaps.
    assert_eq!(stores[3].audit_leaf_hashes(0, n).unwrap().len(), submitted);
    let leaves = stores[3].audit_leaves(0, n).unwrap();
    let mut seen = std::collections::HashSet::new();
    for (i, l) in leaves.iter().enumerate() {
        assert_eq!(l.index, i as u64);
        assert!(seen.insert(l.leaf.event_id.clone()), "duplicate {l:?}");
        let (w, k) = l.leaf.event_id[1..].split_once('-').unwrap();
        assert_eq!(l.leaf, event(w.parse().unwrap(), k.parse().unwrap()));
    }
    // Each writer's events are in the log in the order it submitted them.
    for w in 0..WRITERS {
        let mine: Vec<i64> = leaves
            .iter()
            .filter(|l| l.leaf.principal == format!("p{w}"))
            .map(|l| l.leaf.ts_ms)
            .collect();
        assert!(mine.windows(2).all(|p| p[0] < p[1]), "writer {w}: {mine:?}");
    }
    assert_eq!(stores[0].audit_pending_count().unwrap(), 0);
}

fn a_retried_batch_is_written_once(b: &dyn Backend) {
    // The gateway retries a batch whose commit answer it lost; on a shared database the
    // first attempt may have committed. Same id: written once; another id: written.
    let s = b.open();
    let d = DecisionRecord {
        ts_ms: 86_400_000 * 9,
        request_id: "r1".into(),
        principal: "alice".into(),
        decision: "allow".into(),
        prompt_tokens: 7,
        ..Default::default()
    };
    let leaves = [event(1, 0)];
    let at_commit = s.sequenced_at_commit();
    s.record_batch_once(42, std::slice::from_ref(&d), &leaves, &[])
        .unwrap();
    let again = s
        .record_batch_once(42, std::slice::from_ref(&d), &leaves, &[])
        .unwrap();
    settle(&*s);
    if at_commit {
        // SQLite's commits are never in doubt: it ignores the id (and appends again).
        assert_eq!(again, 1);
        assert_eq!(s.audit_size().unwrap(), 2);
        return;
    }
    assert_eq!(s.audit_size().unwrap(), 1, "one event, not two");
    assert_eq!(s.recent_decisions(10).unwrap().len(), 1);
    assert_eq!(
        s.day_usage(9).unwrap(),
        vec![(Subject::Principal("alice".into()), 7)]
    );
    // Another batch (another id) with the same content is another batch.
    b.open()
        .record_batch_once(43, std::slice::from_ref(&d), &[event(1, 1)], &[])
        .unwrap();
    settle(&*s);
    assert_eq!(s.audit_size().unwrap(), 2);
    assert_eq!(s.recent_decisions(10).unwrap().len(), 2);
}

fn calls_from_inside_a_multi_thread_runtime(b: &dyn Backend) {
    // The gateway looks keys up on its tokio workers; a store must neither panic nor
    // deadlock there, and may be opened and dropped inside the runtime too.
    let s = b.open();
    s.put_key(&key("rt")).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let again = rt.block_on(async move {
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move {
                    for _ in 0..10 {
                        s.change_marker().unwrap();
                        assert!(s.get_key("rt").unwrap().is_some());
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        drop(s);
        b.open().count_keys().unwrap()
    });
    assert_eq!(again, 1);
}

// --- PostgreSQL only -------------------------------------------------------------------

mod postgres_only {
    use super::*;
    use crate::postgres::{PostgresStore, SCHEMA_VERSION};
    use secrecy::ExposeSecret;

    fn db(test: &str) -> Option<(TestPostgres, parking_lot::RwLockReadGuard<'static, ()>)> {
        let t = TIMING.read();
        TestPostgres::or_skip(test).map(|db| (db, t))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn store_calls_on_tokio_workers_neither_panic_nor_deadlock() {
        // (Without the `TIMING` guard: it must not be held across an await.)
        let Some(db) = TestPostgres::or_skip("store_calls_on_tokio_workers") else {
            return;
        };
        // Opened, used and dropped on a worker thread of the caller's runtime, as the
        // gateway's `authn` does, with more concurrent callers than pooled connections.
        let s = Arc::new(PostgresStore::open(&db.config().with_pool_size(2)).unwrap());
        s.put_key(&key("w")).unwrap();
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move {
                    for _ in 0..5 {
                        let m = s.change_marker().unwrap();
                        let k = s.get_key("w").unwrap().unwrap();
                        assert_eq!((k.id.as_str(), m > 0), ("w", true));
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert!(s.revoke_key("w", 3).unwrap());
        drop(s);
    }

    #[test]
    fn open_refuses_an_older_or_newer_schema_and_migrate_is_idempotent() {
        let Some((db, _t)) = db("open_refuses_an_older_or_newer_schema") else {
            return;
        };
        // A schema nobody migrated.
        let fresh = db
            .config()
            .with_schema(&format!("{}_x", db.schema()))
            .unwrap();
        let e = PostgresStore::open(&fresh).unwrap_err();
        assert!(
            matches!(e, StoreError::SchemaTooOld { found: 0, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("run `portcullis migrate`"), "{e}");
        assert_eq!(PostgresStore::migrate(&fresh).unwrap(), (0, SCHEMA_VERSION));
        assert_eq!(
            PostgresStore::migrate(&fresh).unwrap(),
            (SCHEMA_VERSION, SCHEMA_VERSION)
        );
        assert_eq!(
            PostgresStore::schema_version(&fresh).unwrap(),
            SCHEMA_VERSION
        );
        PostgresStore::open(&fresh).unwrap().ping().unwrap();
        // A newer binary migrated it further.
        let raw = PostgresStore::raw(&fresh).unwrap();
        raw.execute_batch("INSERT INTO schema_version VALUES (999, 0)")
            .unwrap();
        assert!(matches!(
            PostgresStore::open(&fresh),
            Err(StoreError::SchemaTooNew { found: 999, .. })
        ));
        assert!(matches!(
            PostgresStore::migrate(&fresh),
            Err(StoreError::SchemaTooNew { found: 999, .. })
        ));
        raw.execute_batch(&format!(
            "DROP SCHEMA \"{}\" CASCADE",
            fresh.schema().unwrap()
        ))
        .unwrap();
    }

    #[test]
    fn sslmode_require_means_tls_with_a_verified_certificate_and_host_name() {
        let Some((db, _t)) = db("sslmode_require_means_tls") else {
            return;
        };
        // Debian's PostgreSQL serves a self-signed certificate for `localhost`.
        let ca = std::path::Path::new("/etc/ssl/certs/ssl-cert-snakeoil.pem");
        if !ca.exists() {
            eprintln!("sslmode_require_means_tls: skipped (no {})", ca.display());
            return;
        }
        let base: tokio_postgres::Config = db.url().expose_secret().parse().unwrap();
        let url = |host: &str| {
            format!(
                "host={host} port={} user={} dbname={} sslmode=require",
                base.get_ports().first().copied().unwrap_or(5432),
                base.get_user().unwrap_or("postgres"),
                base.get_dbname().unwrap_or("postgres"),
            )
        };
        let cfg = |host: &str| {
            crate::postgres::PostgresConfig::new(url(host).into())
                .with_schema(db.schema())
                .unwrap()
                .with_timeout(Duration::from_secs(5))
        };
        // Trusting that certificate, by the name in it: TLS.
        let sql = crate::postgres::SqlClient::open(&cfg("localhost").with_ca_file(ca)).unwrap();
        let rows = sql
            .query(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                vec![],
            )
            .unwrap();
        assert!(rows[0].get::<_, bool>(0), "the connection is not TLS");
        PostgresStore::open(&cfg("localhost").with_ca_file(ca))
            .unwrap()
            .ping()
            .unwrap();
        // Another name than the certificate's: refused.
        assert!(PostgresStore::open(&cfg("127.0.0.1").with_ca_file(ca)).is_err());
        // An issuer nobody trusts (the public roots only): refused.
        assert!(PostgresStore::open(&cfg("localhost")).is_err());
    }

    #[test]
    fn the_marker_is_stable_while_nothing_changes() {
        let Some((db, _t)) = db("the_marker_is_stable_while_nothing_changes") else {
            return;
        };
        let s = db.open().unwrap();
        // Caching works: two reads in a row agree (retrying past a resync tick).
        let stable = (0..5).any(|_| {
            let a = s.change_marker().unwrap();
            std::thread::sleep(Duration::from_millis(20));
            a == s.change_marker().unwrap()
        });
        assert!(stable);
        // And the periodic resync moves it even without a notification.
        let a = s.change_marker().unwrap();
        std::thread::sleep(crate::postgres::RESYNC_EVERY + Duration::from_millis(500));
        assert_ne!(a, s.change_marker().unwrap());
    }

    #[test]
    fn one_sequencer_lease_at_a_time_and_it_passes_on_when_its_holder_goes() {
        let Some((db, _t)) = db("one_sequencer_lease_at_a_time") else {
            return;
        };
        let a = db.open().unwrap();
        let b = db.open().unwrap();
        assert!(a.sequencer_lease().unwrap());
        assert!(!b.sequencer_lease().unwrap());
        assert!(a.sequencer_lease().unwrap(), "the holder keeps it");
        assert!(!b.sequencer_lease().unwrap());
        // Another deployment (schema) in the same database has a lease of its own.
        let other = TestPostgres::from_env().unwrap().unwrap();
        assert!(other.open().unwrap().sequencer_lease().unwrap());
        // The holder's process goes away: its session ends, and the lock with it.
        drop(a);
        let t = Instant::now();
        while !b.sequencer_lease().unwrap() {
            assert!(t.elapsed() < Duration::from_secs(5), "no failover in 5 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[test]
    fn a_sequencer_killed_mid_transaction_leaves_its_events_for_the_next() {
        let Some((db, _t)) = db("a_sequencer_killed_mid_transaction") else {
            return;
        };
        let replica = db.open().unwrap();
        let leaves: Vec<_> = (0..10).map(|n| event(0, n)).collect();
        replica.record_batch(&[], &leaves).unwrap();
        assert_eq!(replica.audit_pending_count().unwrap(), 10);

        // A sequencer that moved the events and dies before committing (kill -9: its
        // backend goes away without a COMMIT).
        let cfg = db.config();
        let pg = cfg.pg_config().unwrap();
        let bridge = crate::postgres::bridge::Bridge::start().unwrap();
        let key = crate::postgres::LockKeys::new(cfg.schema()).schema;
        let (pid, moved) = bridge
            .run(Duration::from_secs(10), {
                let pg = pg.clone();
                async move {
                    let c = crate::postgres::connect(&pg).await?;
                    let err = crate::postgres::pg_err;
                    c.batch_execute("BEGIN").await.map_err(err)?;
                    c.execute(
                        "SELECT pg_advisory_xact_lock($1, $2)",
                        &[&crate::postgres::SEQUENCE_LOCK_CLASS, &key],
                    )
                    .await
                    .map_err(err)?;
                    let moved = c
                        .execute(crate::postgres::SEQUENCE, &[&1000i64])
                        .await
                        .map_err(err)?;
                    let pid: i32 = c
                        .query_one("SELECT pg_backend_pid()", &[])
                        .await
                        .map_err(err)?
                        .get(0);
                    // Keep the connection (and its transaction) open.
                    std::mem::forget(c);
                    Ok((pid, moved))
                }
            })
            .unwrap();
        assert_eq!(moved, 10);
        // Meanwhile another sequencer waits for the first one's transaction.
        let next = Arc::new(db.open().unwrap());
        let waiting = {
            let next = next.clone();
            std::thread::spawn(move || next.sequence_pending(1000).unwrap())
        };
        std::thread::sleep(Duration::from_millis(300));
        assert!(!waiting.is_finished(), "the sequencing lock serializes");
        assert_eq!(replica.audit_size().unwrap(), 0);
        bridge
            .run(Duration::from_secs(10), async move {
                let c = crate::postgres::connect(&pg).await?;
                c.execute("SELECT pg_terminate_backend($1)", &[&pid])
                    .await
                    .map_err(crate::postgres::pg_err)
            })
            .unwrap();
        assert_eq!(waiting.join().unwrap(), 10, "the next sequencer moved them");
        assert_eq!(replica.audit_pending_count().unwrap(), 0);
        assert_eq!(replica.audit_size().unwrap(), 10);
        let logged: Vec<_> = replica
            .audit_leaves(0, 10)
            .unwrap()
            .into_iter()
            .map(|l| l.leaf)
            .collect();
        assert_eq!(logged, leaves);
    }
}
