//! The decision-record writer: a dedicated thread that batches records into the store,
//! and, when the audit log is on, appends each request's audit event in the same
//! transaction and signs checkpoints.
//!
//! Handlers hand records to a bounded channel; the writer drains it in batches of up to
//! 1,000, one transaction each. Without the audit log the handler moves on at once and
//! the writer lingers a few milliseconds to fill a batch. With it, the handler waits
//! until its batch is committed (so an answered request has its event in the log).
//!
//! With the audit log on a local store (SQLite), at light load a handler that finds the
//! writer idle (nothing queued) and the log free commits its own record on its own
//! thread; "light" is a moving average of the gaps between records of at least
//! [`INLINE_GAP_US`]. At 1,000 req/s that is nearly every request: the hand-off to the
//! writer thread and back cost two thread wake-ups per request, which on a busy machine
//! put scheduling delays into the tail latency (p99 through the gateway at 1,000 req/s
//! in three alternating pairs: 1.56, 2.26, 1.84 ms before, 1.49, 1.58, 1.21 ms after;
//! docs/benchmarks.md). Under load the records queue for the writer as before, whose
//! batches keep throughput up: a first version where every handler joined a shared
//! queue and woke all waiters after each commit lost a quarter of the throughput. Both
//! paths commit under one lock, which keeps the log's indices and the in-memory tree in
//! order. A failed inline commit is handed to the writer thread, which retries it. The
//! cost: an inline commit that meets the SQLite checkpointer restarting the WAL (every
//! few seconds under load, a few milliseconds each) blocks a runtime thread, not the
//! writer thread, meanwhile; the runtime's other threads take its queued tasks.
//!
//! When the gateway shuts down, the channel closes and the writer writes what is left,
//! signs a last checkpoint and exits: records already accepted are not lost.
//!
//! On a store shared by several replicas (PostgreSQL), a commit only submits the events;
//! one replica at a time, the sequencer (it holds the store's lease), gives them their
//! log indices, extends its tree and signs checkpoints. Every replica's writer asks for
//! the lease every [`SEQUENCE_EVERY`], so when the sequencer dies another takes over
//! within a few of those; the other replicas read the new leaves into their trees to
//! serve proofs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;

use portcullis_audit::AuditEvent;
use portcullis_store::{AuditBody, DecisionRecord, NewAuditLeaf, Store};
use tokio::sync::{mpsc, oneshot};

use crate::audit::{self, AuditWriter, BodyCipher, RequestAudit};
use crate::metrics::Metrics;

const BATCH: usize = 1000;
/// How long the writer waits for more records before committing a batch (group commit):
/// one transaction per few milliseconds instead of one per request.
const LINGER: std::time::Duration = std::time::Duration::from_millis(5);
/// How often, on a shared store, the writer sequences submitted events (as the
/// sequencer) or reads the sequencer's new leaves (as a follower).
pub const SEQUENCE_EVERY: std::time::Duration = std::time::Duration::from_millis(250);
/// Records handed in at least this far apart on average (microseconds; a moving
/// average over about 16 records) may be committed by their own handler; closer
/// together the writer batches them. 300 µs is about 3,300 records/s.
const INLINE_GAP_US: u64 = 300;
/// Events sequenced per transaction.
const SEQUENCE_BATCH: usize = 5_000;

/// What the writer is asked to do.
#[derive(Debug)]
enum Msg {
    /// A request's record (and its audit leaf when the log is on).
    Decision {
        rec: DecisionRecord,
        leaf: Option<NewAuditLeaf>,
        /// Its encrypted bodies, when they are stored.
        bodies: Vec<AuditBody>,
        done: Option<oneshot::Sender<()>>,
    },
    /// A control-plane event for the audit log.
    Event(AuditEvent),
    /// Sign a checkpoint now (if the log grew).
    Checkpoint(CheckpointReply),
    /// Records an inline commit could not write: the writer retries them.
    Retry(Pending),
}

/// Where the writer answers a checkpoint request: the new note, if the log grew.
type CheckpointReply = oneshot::Sender<Result<Option<String>, String>>;

/// The log (when on), shared by the writer thread and inline committers; holding the
/// lock is the right to append.
type SharedAudit = Arc<Mutex<Option<AuditWriter>>>;

/// Inline commits (audit log on, local store): see the module docs.
struct Inline {
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    audit: SharedAudit,
}

/// Sends records to the writer.
#[derive(Clone, Debug)]
pub struct DecisionSink {
    tx: mpsc::Sender<Msg>,
    durable: bool,
    /// Encrypts bodies for the log, when `[audit] store_bodies` is on.
    bodies: Option<Arc<BodyCipher>>,
    /// Set when handlers commit their own records (see the module docs).
    inline: Option<Arc<Inline>>,
    /// When the last record was handed in, microseconds since `epoch`.
    last_arrival: Arc<AtomicU64>,
    /// Moving average of the gaps between records, microseconds: the load.
    avg_gap: Arc<AtomicU64>,
    epoch: std::time::Instant,
}

impl DecisionSink {
    /// Queues a record; waits if the writer is behind (backpressure, never a drop). With
    /// the audit log on, also waits until the record and its event are committed.
    pub async fn record(&self, d: DecisionRecord, audit: Option<RequestAudit>) {
        let (done, wait) = if self.durable {
            let (t, r) = oneshot::channel();
            (Some(t), Some(r))
        } else {
            (None, None)
        };
        // The event is encoded and hashed here, on the handler's task, so that work
        // spreads over the runtime's threads instead of queueing on the writer's one.
        let mut bodies = Vec::new();
        if let (Some(cipher), Some(a)) = (&self.bodies, &audit) {
            for (part, body) in audit::BODY_PARTS
                .into_iter()
                .zip([&a.request_body, &a.response_body])
            {
                let Some(body) = body else { continue };
                match cipher.seal(&d.request_id, part, d.ts_ms, body) {
                    Ok(b) => bodies.push(b),
                    Err(e) => {
                        tracing::error!(error = %e, request_id = %d.request_id, "audit body not stored")
                    }
                }
            }
        }
        let leaf = audit.map(|a| audit::to_leaf(&audit::request_event(&d, &a)));
        let msg = Msg::Decision {
            rec: d,
            leaf,
            bodies,
            done,
        };
        // Commit on this thread when the load is light (records at least INLINE_GAP_US
        // apart on average), the writer idle and the log free; otherwise join the
        // writer's next batch. A commit of one record costs several times a record's
        // share of a batch: under load, handlers that found the writer idle for a moment
        // made most commits one record each (at full load, 18,641 of 24,255 commits in a
        // profile), which cost throughput.
        let now = self.epoch.elapsed().as_micros() as u64;
        let gap = now.saturating_sub(self.last_arrival.swap(now, Ordering::Relaxed));
        // Racy read-modify-write: a lost update only nudges a heuristic.
        let avg = self.avg_gap.load(Ordering::Relaxed);
        let avg = avg - avg / 16 + gap.min(1_000_000) / 16;
        self.avg_gap.store(avg, Ordering::Relaxed);
        let msg = match &self.inline {
            Some(inline)
                if avg >= INLINE_GAP_US && self.tx.capacity() == self.tx.max_capacity() =>
            {
                inline.try_commit(msg, &self.tx)
            }
            _ => Some(msg),
        };
        if let Some(msg) = msg {
            if self.tx.send(msg).await.is_err() {
                tracing::error!("decision writer has stopped; record lost");
                return;
            }
        }
        if let Some(w) = wait {
            if w.await.is_err() {
                tracing::error!("decision record and audit event were not committed");
            }
        }
    }

    /// Whether request and response bodies are stored (encrypted) with the log; handlers
    /// keep the bodies only then.
    pub fn stores_bodies(&self) -> bool {
        self.bodies.is_some()
    }

    /// Queues a control-plane audit event without waiting (callable outside async code);
    /// false when the queue is full or the writer stopped.
    pub fn audit_event(&self, event: AuditEvent) -> bool {
        self.tx.try_send(Msg::Event(event)).is_ok()
    }

    /// Asks the writer to sign a checkpoint now; the new note, or `None` when the log has
    /// not grown since the last one.
    pub async fn checkpoint(&self) -> Result<Option<String>, String> {
        let (t, r) = oneshot::channel();
        self.tx
            .send(Msg::Checkpoint(t))
            .await
            .map_err(|_| "decision writer has stopped".to_string())?;
        r.await
            .map_err(|_| "decision writer has stopped".to_string())?
    }
}

/// Starts the writer thread; `audit` is the opened log when it is on.
pub fn start(
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    audit: Option<AuditWriter>,
) -> std::io::Result<(DecisionSink, JoinHandle<()>)> {
    let (tx, mut rx) = mpsc::channel::<Msg>(65_536);
    let durable = audit.is_some();
    let bodies = audit.as_ref().and_then(AuditWriter::body_cipher);
    let sequenced_at_commit = store.sequenced_at_commit();
    let audit: SharedAudit = Arc::new(Mutex::new(audit));
    let inline = (durable && sequenced_at_commit).then(|| {
        Arc::new(Inline {
            store: store.clone(),
            metrics: metrics.clone(),
            audit: audit.clone(),
        })
    });
    // A current-thread runtime of its own, so the writer can sleep and wait for records
    // without polling; SQLite calls then block this thread only.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let handle = std::thread::Builder::new()
        .name("decision-writer".into())
        .spawn(move || {
            rt.block_on(async {
                let mut batch = Vec::with_capacity(BATCH);
                let mut seq = Sequencer {
                    on: durable && !sequenced_at_commit,
                    leader: false,
                    last: std::time::Instant::now(),
                };
                loop {
                    let n = if seq.on {
                        match tokio::time::timeout(SEQUENCE_EVERY, rx.recv_many(&mut batch, BATCH))
                            .await
                        {
                            Ok(n) => n,
                            Err(_) => {
                                if let Some(a) = audit.lock().as_mut() {
                                    seq.step(&*store, &metrics, a);
                                }
                                continue;
                            }
                        }
                    } else {
                        rx.recv_many(&mut batch, BATCH).await
                    };
                    if n == 0 {
                        break;
                    }
                    if !durable && batch.len() < BATCH {
                        // Sleep through the linger, then take what arrived: waiting on
                        // the channel instead would wake this thread once per record.
                        tokio::time::sleep(LINGER).await;
                        while batch.len() < BATCH {
                            match rx.try_recv() {
                                Ok(m) => batch.push(m),
                                Err(_) => break,
                            }
                        }
                    }
                    {
                        let mut guard = audit.lock();
                        write_batch(&*store, &metrics, guard.as_mut(), &mut batch, &mut seq);
                        if seq.on && seq.last.elapsed() >= SEQUENCE_EVERY {
                            if let Some(a) = guard.as_mut() {
                                seq.step(&*store, &metrics, a);
                            }
                        }
                    }
                }
            });
            if let Some(a) = audit.lock().as_mut() {
                if !store.sequenced_at_commit() {
                    let mut seq = Sequencer {
                        on: true,
                        leader: false,
                        last: std::time::Instant::now(),
                    };
                    seq.step(&*store, &metrics, a);
                    if seq.leader {
                        let _ = sign(&*store, &metrics, a);
                    }
                } else {
                    let _ = sign(&*store, &metrics, a);
                }
            }
        });
    Ok((
        DecisionSink {
            tx,
            durable,
            bodies,
            inline,
            last_arrival: Arc::new(AtomicU64::new(0)),
            avg_gap: Arc::new(AtomicU64::new(1_000_000)),
            epoch: std::time::Instant::now(),
        },
        handle?,
    ))
}

/// This replica's part in sequencing a shared log.
struct Sequencer {
    /// The store is shared (events get their indices from the sequencer).
    on: bool,
    /// This replica holds the lease.
    leader: bool,
    /// When [`Sequencer::step`] last ran.
    last: std::time::Instant,
}

impl Sequencer {
    /// As the sequencer (taking the lease if free): moves every submitted event into the
    /// log, then reads the new leaves into the tree. As a follower: reads them only.
    fn step(&mut self, store: &dyn Store, metrics: &Metrics, a: &mut AuditWriter) {
        self.last = std::time::Instant::now();
        let lease = store.sequencer_lease();
        match lease {
            Ok(true) => {
                if !self.leader {
                    tracing::info!("this replica is now the audit log's sequencer");
                    if let Err(e) = a.catch_up_to_store(store) {
                        tracing::error!(error = %e, "audit log out of step with the store");
                    }
                    if let Err(e) = a.adopt_latest_checkpoint(store) {
                        metrics.decision_write_failures.inc();
                        tracing::error!(error = %e, "cannot continue the audit log's checkpoints");
                        return;
                    }
                    self.leader = true;
                }
                loop {
                    match store.sequence_pending(SEQUENCE_BATCH) {
                        Ok(n) if (n as usize) < SEQUENCE_BATCH => break,
                        Ok(_) => {}
                        Err(e) => {
                            metrics.decision_write_failures.inc();
                            tracing::error!(error = %e, "sequencing audit events failed");
                            break;
                        }
                    }
                }
            }
            Ok(false) => {
                if self.leader {
                    tracing::warn!("this replica lost the audit log's sequencer lease");
                }
                self.leader = false;
            }
            Err(e) => {
                if self.leader {
                    tracing::warn!(error = %e, "this replica lost the audit log's sequencer lease");
                }
                self.leader = false;
            }
        }
        if let Err(e) = a.catch_up_to_store(store) {
            tracing::error!(error = %e, "audit log out of step with the store");
        }
    }
}

fn sign(
    store: &dyn Store,
    metrics: &Metrics,
    a: &mut AuditWriter,
) -> Result<Option<String>, String> {
    let r = a.checkpoint(store);
    match &r {
        Ok(Some(_)) => tracing::debug!("audit checkpoint signed"),
        Ok(None) => {}
        Err(e) => {
            metrics.decision_write_failures.inc();
            tracing::error!(error = %e, "signing an audit checkpoint failed");
        }
    }
    r
}

/// A batch of records and events to commit in one transaction, with the handlers to
/// tell once it is in.
#[derive(Debug, Default)]
struct Pending {
    records: Vec<DecisionRecord>,
    leaves: Vec<NewAuditLeaf>,
    bodies: Vec<AuditBody>,
    acks: Vec<oneshot::Sender<()>>,
}

impl Pending {
    /// Sorts messages into a batch and the checkpoint requests among them.
    fn collect(msgs: impl Iterator<Item = Msg>, audit_on: bool) -> (Self, Vec<CheckpointReply>) {
        let mut p = Pending::default();
        let mut checkpoints = Vec::new();
        for msg in msgs {
            match msg {
                Msg::Decision {
                    rec,
                    leaf,
                    bodies,
                    done,
                } => {
                    if let (Some(l), true) = (leaf, audit_on) {
                        p.leaves.push(l);
                        p.bodies.extend(bodies);
                    }
                    p.records.push(rec);
                    p.acks.extend(done);
                }
                Msg::Event(e) => {
                    if audit_on {
                        p.leaves.push(audit::to_leaf(&e));
                    }
                }
                Msg::Checkpoint(t) => checkpoints.push(t),
                Msg::Retry(r) => {
                    p.records.extend(r.records);
                    p.leaves.extend(r.leaves);
                    p.bodies.extend(r.bodies);
                    p.acks.extend(r.acks);
                }
            }
        }
        (p, checkpoints)
    }

    fn is_empty(&self) -> bool {
        self.records.is_empty() && self.leaves.is_empty()
    }

    /// Writes the batch in one transaction, trying up to `attempts` times, then tells
    /// the handlers. On failure the batch is handed back.
    fn commit(
        mut self,
        store: &dyn Store,
        metrics: &Metrics,
        audit: Option<&mut AuditWriter>,
        seq: &Sequencer,
        attempts: u64,
        by: &'static str,
    ) -> Result<(), Pending> {
        if self.is_empty() {
            return Ok(());
        }
        // One id for every attempt: a retry after a commit whose answer was lost is then
        // not written twice (on PostgreSQL; SQLite's commits are never in doubt).
        let batch_id: u128 = rand::random();
        for attempt in 1..=attempts {
            match store.record_batch_once(batch_id, &self.records, &self.leaves, &self.bodies) {
                Ok(first) => {
                    metrics
                        .decision_commits
                        .get_or_create(&crate::metrics::CommitLabels { by })
                        .inc();
                    // On a shared store the sequencer gives the events their indices.
                    if let (Some(a), false) = (audit, seq.on) {
                        let hashes: Vec<_> = self.leaves.iter().map(|l| l.leaf_hash).collect();
                        if let Err(e) = a.committed(store, first, &hashes) {
                            metrics.decision_write_failures.inc();
                            tracing::error!(error = %e, "audit log out of step with the store");
                        }
                    }
                    for t in self.acks.drain(..) {
                        let _ = t.send(());
                    }
                    return Ok(());
                }
                Err(e) => {
                    metrics.decision_write_failures.inc();
                    tracing::error!(error = %e, attempt, records = self.records.len(), leaves = self.leaves.len(), "writing decision records failed");
                    if attempt < attempts {
                        std::thread::sleep(std::time::Duration::from_millis(100 * attempt));
                    }
                }
            }
        }
        Err(self)
    }
}

impl std::fmt::Debug for Inline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inline").finish_non_exhaustive()
    }
}

impl Inline {
    /// Commits `msg` now if the log's lock is free (the handler's wait then ends at
    /// once, or, if the commit failed, when the writer thread's retry ends); hands it
    /// back if the lock is taken.
    fn try_commit(&self, msg: Msg, tx: &mpsc::Sender<Msg>) -> Option<Msg> {
        let Some(mut guard) = self.audit.try_lock() else {
            return Some(msg);
        };
        let (pending, _) = Pending::collect(std::iter::once(msg), guard.is_some());
        let seq = Sequencer {
            on: false,
            leader: false,
            last: std::time::Instant::now(),
        };
        // One attempt here: retries sleep, which belongs on the writer thread.
        let failed = pending
            .commit(
                &*self.store,
                &self.metrics,
                guard.as_mut(),
                &seq,
                1,
                "handler",
            )
            .err();
        drop(guard);
        if let Some(p) = failed {
            if let Err(e) = tx.try_send(Msg::Retry(p)) {
                tracing::error!(error = %e, "decision records lost: the writer cannot take them");
            }
        }
        None
    }
}

fn write_batch(
    store: &dyn Store,
    metrics: &Metrics,
    mut audit: Option<&mut AuditWriter>,
    batch: &mut Vec<Msg>,
    seq: &mut Sequencer,
) {
    let (pending, checkpoints) = Pending::collect(batch.drain(..), audit.is_some());
    // Dropped after five attempts: the handlers waiting for it log the loss.
    let _ = pending.commit(store, metrics, audit.as_deref_mut(), seq, 5, "writer");
    for t in checkpoints {
        let r = match audit.as_deref_mut() {
            Some(a) => {
                // Retention rides on the checkpoint ticker, which runs even when idle.
                match a.apply_retention(store) {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "audit bodies past retention deleted"),
                    Err(e) => {
                        tracing::error!(error = %e, "deleting audit bodies past retention failed")
                    }
                }
                if seq.on {
                    // Signing is the sequencer's; a follower only reads what it signed.
                    seq.step(store, metrics, a);
                    if seq.leader {
                        sign(store, metrics, a)
                    } else {
                        Ok(None)
                    }
                } else {
                    sign(store, metrics, a)
                }
            }
            None => Err("the audit log is off".into()),
        };
        let _ = t.send(r);
    }
}
