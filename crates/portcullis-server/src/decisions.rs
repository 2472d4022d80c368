//! The decision-record writer: a dedicated thread that batches records into the store,
//! and, when the audit log is on, appends each request's audit event in the same
//! transaction and signs checkpoints.
//!
//! Handlers hand records to a bounded channel; the writer drains it in batches of up to
//! 1,000, one transaction each. Without the audit log the handler moves on at once and
//! the writer lingers a few milliseconds to fill a batch. With it, a request is answered
//! only once its event is durable: in the audit journal (local store), or committed
//! (shared store, or when a journal append failed).
//!
//! With the audit log on a local store (SQLite), the handler does not wait for a SQLite
//! commit: it appends the record to the audit journal ([`portcullis_store::journal`]),
//! one `write` that survives a crash of the process, and moves on; the writer then
//! commits journaled records in large batches (lingering `JOURNAL_LINGER`, 50 ms), and
//! that commit gives the events their log indices. A one-record SQLite commit rewrites
//! about nine pages and waiting for the writer cost two thread wake-ups per request: at
//! 1,000 req/s, 55-135 µs of gateway CPU per request in three of four paired runs. When
//! the gateway starts, records of the previous run still in the journal and not in the
//! store are committed before anything else, and its start events (policies, guards)
//! are appended directly, so they precede every request's event. Readers that must see
//! a request's event (the admin API's proofs and queries) call [`DecisionSink::flush`]
//! first. If an append fails, the handler falls back to waiting for the SQLite commit.
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

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;

use portcullis_audit::AuditEvent;
use portcullis_store::journal::{self, Journal, JournalEntry, JournalEntryRef};
use portcullis_store::{AuditBody, DecisionRecord, NewAuditLeaf, Store};
use tokio::sync::{mpsc, oneshot};

use crate::audit::{self, AuditWriter, BodyCipher, RequestAudit};
use crate::metrics::Metrics;

const BATCH: usize = 1000;
/// Records queued for the writer at most; a handler waits for room beyond that.
const QUEUE: usize = 8 * BATCH;
/// How long the writer waits for more records before committing a batch (group commit):
/// one transaction per few milliseconds instead of one per request.
const LINGER: std::time::Duration = std::time::Duration::from_millis(5);
/// The same with the audit journal: the records are already durable, and a commit costs
/// about the same for 5 records as for 50 (each touches the same few index pages), so
/// the writer waits longer. At 1,000 req/s, 5 ms batches cost the writer about 37 µs of
/// CPU per request.
const JOURNAL_LINGER: std::time::Duration = std::time::Duration::from_millis(50);
/// How often, on a shared store, the writer sequences submitted events (as the
/// sequencer) or reads the sequencer's new leaves (as a follower).
pub const SEQUENCE_EVERY: std::time::Duration = std::time::Duration::from_millis(250);
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
    /// A record (or a control-plane event's leaf) already in the audit journal, from
    /// the journal's `generation`.
    Journaled(JournalEntry, u64),
    /// Sign a checkpoint now (if the log grew).
    Checkpoint(CheckpointReply),
    /// Commit what is queued now, then answer.
    Flush(oneshot::Sender<()>),
}

/// Where the writer answers a checkpoint request: the new note, if the log grew.
type CheckpointReply = oneshot::Sender<Result<Option<String>, String>>;

/// The log (when on); holding the lock is the right to append.
type SharedAudit = Arc<Mutex<Option<AuditWriter>>>;

/// Sends records to the writer.
#[derive(Clone)]
pub struct DecisionSink {
    tx: mpsc::Sender<Msg>,
    durable: bool,
    /// Encrypts bodies for the log, when `[audit] store_bodies` is on.
    bodies: Option<Arc<BodyCipher>>,
    /// The audit journal (audit log on, local store): see the module docs.
    journal: Option<Arc<Journal>>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for DecisionSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionSink")
            .field("durable", &self.durable)
            .field("journal", &self.journal)
            .finish_non_exhaustive()
    }
}

impl DecisionSink {
    /// Queues a record; waits if the writer is behind (backpressure, never a drop). With
    /// the audit log on, also waits until the record and its event are committed.
    pub async fn record(&self, d: DecisionRecord, audit: Option<RequestAudit>) {
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
        let leaf = match (&self.journal, leaf) {
            (Some(journal), Some(leaf)) => {
                let entry = JournalEntryRef {
                    rec: Some(&d),
                    leaf: &leaf,
                    bodies: &bodies,
                };
                match journal.append(&entry) {
                    Ok(generation) => {
                        let entry = JournalEntry {
                            rec: Some(d),
                            leaf,
                            bodies,
                        };
                        if self
                            .tx
                            .send(Msg::Journaled(entry, generation))
                            .await
                            .is_err()
                        {
                            // In the journal: the next start commits it.
                            tracing::error!(
                                "decision writer has stopped; record left in the audit journal"
                            );
                        }
                        return;
                    }
                    Err(e) => {
                        // Fall back to waiting for the store's commit.
                        self.metrics.decision_write_failures.inc();
                        tracing::error!(error = %e, "audit journal append failed; committing directly");
                        Some(leaf)
                    }
                }
            }
            (_, leaf) => leaf,
        };
        let (done, wait) = if self.durable {
            let (t, r) = oneshot::channel();
            (Some(t), Some(r))
        } else {
            (None, None)
        };
        let msg = Msg::Decision {
            rec: d,
            leaf,
            bodies,
            done,
        };
        if self.tx.send(msg).await.is_err() {
            tracing::error!("decision writer has stopped; record lost");
            return;
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
    /// false when the queue is full or the writer stopped. With the journal, the event
    /// is in it when this returns true.
    pub fn audit_event(&self, event: AuditEvent) -> bool {
        if let Some(journal) = &self.journal {
            let leaf = audit::to_leaf(&event);
            let entry = JournalEntryRef {
                rec: None,
                leaf: &leaf,
                bodies: &[],
            };
            match journal.append(&entry) {
                Ok(generation) => {
                    let entry = JournalEntry {
                        rec: None,
                        leaf,
                        bodies: Vec::new(),
                    };
                    return self.tx.try_send(Msg::Journaled(entry, generation)).is_ok();
                }
                Err(e) => {
                    self.metrics.decision_write_failures.inc();
                    tracing::error!(error = %e, "audit journal append failed; queueing the event");
                }
            }
        }
        self.tx.try_send(Msg::Event(event)).is_ok()
    }

    /// Waits until every record queued before this call is committed to the store (or
    /// its commit failed): what readers of the log call before looking for a request's
    /// event.
    pub async fn flush(&self) {
        let (t, r) = oneshot::channel();
        if self.tx.send(Msg::Flush(t)).await.is_ok() {
            let _ = r.await;
        }
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

/// Where a gateway on a local store keeps its audit journal.
pub fn journal_dir(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("audit-journal")
}

/// Starts the writer thread; `audit` is the opened log when it is on. With the log on
/// a local store, `journal_dir` is where the audit journal lives (see the module docs);
/// what a previous run left there is committed before this returns, and an error here
/// (a damaged journal, a store that refuses the records) stops the gateway from starting.
pub fn start(
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    mut audit: Option<AuditWriter>,
    journal_dir: Option<&Path>,
) -> std::io::Result<(DecisionSink, JoinHandle<()>)> {
    // Bounded: with the journal, handlers no longer wait for commits, so this bounds how
    // far the store may fall behind (and the memory that holds it: about 10 MB).
    let (tx, mut rx) = mpsc::channel::<Msg>(QUEUE);
    let durable = audit.is_some();
    let bodies = audit.as_ref().and_then(AuditWriter::body_cipher);
    let sequenced_at_commit = store.sequenced_at_commit();
    let journal = match (journal_dir, audit.as_mut()) {
        (Some(dir), Some(a)) if sequenced_at_commit => {
            // What a previous run journaled and did not commit goes in first.
            let (journal, recovered) = Journal::open(dir).map_err(std::io::Error::other)?;
            if journal::commit_recovered(&*store, &recovered).map_err(std::io::Error::other)? > 0 {
                metrics
                    .decision_commits
                    .get_or_create(&crate::metrics::CommitLabels { by: "recovery" })
                    .inc();
            }
            journal
                .retire_recovered(&recovered)
                .map_err(std::io::Error::other)?;
            a.catch_up_to_store(&*store)
                .map_err(std::io::Error::other)?;
            Some(Arc::new(journal))
        }
        _ => None,
    };
    let audit: SharedAudit = Arc::new(Mutex::new(audit));
    let writer_journal = journal.clone();
    let sink_metrics = metrics.clone();
    // A current-thread runtime of its own, so the writer can sleep and wait for records
    // without polling; SQLite calls then block this thread only.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let handle = std::thread::Builder::new()
        .name("decision-writer".into())
        .spawn(move || {
            // When no request waits for its commits (decision records only, or audit
            // events in the journal), they are background work: a batch commit of a few
            // milliseconds at full priority holds a core that handlers wait for. When
            // the cores are saturated it still runs, because handlers block once its
            // queue is full.
            if !durable || writer_journal.is_some() {
                portcullis_store::priority::Background::lower_this_thread();
            }
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
                    let lingers = !durable || writer_journal.is_some();
                    let urgent = batch
                        .iter()
                        .any(|m| matches!(m, Msg::Flush(_) | Msg::Checkpoint(_)));
                    if lingers && !urgent && batch.len() < BATCH {
                        // Sleep through the linger, then take what arrived: waiting on
                        // the channel instead would wake this thread once per record.
                        tokio::time::sleep(if writer_journal.is_some() {
                            JOURNAL_LINGER
                        } else {
                            LINGER
                        })
                        .await;
                        while batch.len() < BATCH {
                            match rx.try_recv() {
                                Ok(m) => batch.push(m),
                                Err(_) => break,
                            }
                        }
                    }
                    {
                        let mut guard = audit.lock();
                        write_batch(
                            &*store,
                            &metrics,
                            guard.as_mut(),
                            writer_journal.as_deref(),
                            &mut batch,
                            &mut seq,
                        );
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
            if let Some(j) = &writer_journal {
                j.close();
            }
        });
    Ok((
        DecisionSink {
            tx,
            durable,
            bodies,
            journal,
            metrics: sink_metrics,
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
    /// Journaled records among them, per journal generation.
    journaled: BTreeMap<u64, u64>,
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
                Msg::Journaled(e, generation) => {
                    p.records.extend(e.rec);
                    if audit_on {
                        p.leaves.push(e.leaf);
                        p.bodies.extend(e.bodies);
                    }
                    *p.journaled.entry(generation).or_default() += 1;
                }
                Msg::Checkpoint(t) => checkpoints.push(t),
                Msg::Flush(t) => p.acks.push(t),
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

fn write_batch(
    store: &dyn Store,
    metrics: &Metrics,
    mut audit: Option<&mut AuditWriter>,
    journal: Option<&Journal>,
    batch: &mut Vec<Msg>,
    seq: &mut Sequencer,
) {
    let (mut pending, checkpoints) = Pending::collect(batch.drain(..), audit.is_some());
    let journaled = std::mem::take(&mut pending.journaled);
    // Dropped after five attempts: the handlers waiting for it log the loss; journaled
    // records stay in the journal, and the next start commits them.
    let ok = pending
        .commit(store, metrics, audit.as_deref_mut(), seq, 5, "writer")
        .is_ok();
    if let (true, Some(j)) = (ok, journal) {
        j.applied(&journaled);
    }
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
