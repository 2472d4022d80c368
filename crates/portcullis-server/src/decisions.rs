//! The decision-record writer: a dedicated thread that batches records into the store.
//!
//! Handlers hand records to a bounded channel and move on; the writer drains it in
//! batches of up to 1,000, one transaction each, so the per-request cost is a channel
//! send. When the gateway shuts down, the channel closes and the writer writes what is
//! left before it exits: records already accepted are not lost.

use std::sync::Arc;
use std::thread::JoinHandle;

use portcullis_store::{DecisionRecord, Store};
use tokio::sync::mpsc;

use crate::metrics::Metrics;

const BATCH: usize = 1000;
/// How long the writer waits for more records before committing a batch (group commit):
/// one transaction per few milliseconds instead of one per request.
const LINGER: std::time::Duration = std::time::Duration::from_millis(5);

/// Sends records to the writer.
#[derive(Clone, Debug)]
pub struct DecisionSink {
    tx: mpsc::Sender<DecisionRecord>,
}

impl DecisionSink {
    /// Queues a record; waits if the writer is behind (backpressure, never a drop).
    pub async fn record(&self, d: DecisionRecord) {
        if self.tx.send(d).await.is_err() {
            tracing::error!("decision writer has stopped; record lost");
        }
    }
}

/// Starts the writer thread.
pub fn start(
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
) -> std::io::Result<(DecisionSink, JoinHandle<()>)> {
    let (tx, mut rx) = mpsc::channel::<DecisionRecord>(65_536);
    let handle = std::thread::Builder::new()
        .name("decision-writer".into())
        .spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            while let Some(first) = rx.blocking_recv() {
                batch.push(first);
                let until = std::time::Instant::now() + LINGER;
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(d) => batch.push(d),
                        Err(mpsc::error::TryRecvError::Empty) => {
                            if std::time::Instant::now() >= until {
                                break;
                            }
                            std::thread::sleep(std::time::Duration::from_micros(500));
                        }
                        Err(mpsc::error::TryRecvError::Disconnected) => break,
                    }
                }
                let mut attempts = 0;
                loop {
                    match store.record_decisions(&batch) {
                        Ok(()) => break,
                        Err(e) => {
                            attempts += 1;
                            metrics.decision_write_failures.inc();
                            tracing::error!(error = %e, attempts, records = batch.len(), "writing decision records failed");
                            if attempts >= 5 {
                                break;
                            }
                            std::thread::sleep(std::time::Duration::from_millis(100 * attempts));
                        }
                    }
                }
                batch.clear();
            }
        });
    Ok((DecisionSink { tx }, handle?))
}
