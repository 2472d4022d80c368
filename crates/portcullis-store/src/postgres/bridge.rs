//! A tokio runtime of the store's own, on threads of its own, behind a blocking call.
//!
//! [`Store`](crate::Store) methods are blocking, and the gateway calls some of them
//! (`get_key`, `change_marker`) on its own tokio worker threads. A blocking PostgreSQL
//! client that starts or enters a runtime there panics ("Cannot start a runtime from
//! within a runtime"), and one that blocks on a future of the caller's runtime can
//! deadlock it. So the async client runs on a separate runtime started here; a call
//! spawns its future there and waits for the answer on a plain `std` channel, which is
//! legal on any thread (it blocks that one thread, like a SQLite call would).
//!
//! The runtime lives on a thread that owns it; dropping the [`Bridge`] tells that thread
//! to shut it down. Nothing is joined, so a bridge may be dropped anywhere, inside an
//! async context or on one of its own threads.

use std::future::Future;
use std::time::Duration;

use tokio::runtime::Handle;

use crate::StoreError;

/// Worker threads of the store's runtime: it only waits on sockets.
const WORKERS: usize = 2;

/// A handle on the store's runtime.
pub(crate) struct Bridge {
    handle: Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Bridge {
    /// Starts the runtime on a new thread.
    pub(crate) fn start() -> Result<Self, StoreError> {
        let (handle_tx, handle_rx) = std::sync::mpsc::sync_channel(1);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("portcullis-pg".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(WORKERS)
                    .thread_name("portcullis-pg-io")
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = handle_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let _ = handle_tx.send(Ok(rt.handle().clone()));
                // Until the bridge is dropped (the sender then closes).
                rt.block_on(async {
                    let _ = stopped.await;
                });
                rt.shutdown_timeout(Duration::from_secs(2));
            })
            .map_err(|e| StoreError::Database(format!("starting the PostgreSQL thread: {e}")))?;
        let handle = handle_rx
            .recv()
            .map_err(|_| StoreError::Database("the PostgreSQL runtime did not start".into()))?
            .map_err(|e| StoreError::Database(format!("starting the PostgreSQL runtime: {e}")))?;
        Ok(Self {
            handle,
            stop: Some(stop),
        })
    }

    /// The runtime, to spawn background tasks on.
    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Runs `fut` on the store's runtime and waits for it, at most `timeout`. Safe to call
    /// from any thread, including a tokio worker of another runtime.
    pub(crate) fn run<T, F>(&self, timeout: Duration, fut: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let r = match tokio::time::timeout(timeout, fut).await {
                Ok(r) => r,
                Err(_) => Err(StoreError::Database(format!(
                    "PostgreSQL did not answer within {timeout:?}"
                ))),
            };
            let _ = tx.send(r);
        });
        rx.recv()
            .map_err(|_| StoreError::Database("the PostgreSQL runtime has stopped".into()))?
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}
