//! How a gateway learns that the stored API keys changed, without a database read per
//! request.
//!
//! The gateway caches key records and must see a revocation on the next request, also
//! one made by another process (`portcullis keys revoke`). Asking SQLite on every request
//! (`PRAGMA data_version`) starts a read transaction: two `fcntl` locks, the WAL index
//! and a shared connection's mutex, about 5 % of the gateway's CPU at full load. And
//! every commit of the decision writer moved that value, so the cache was emptied many
//! times a second for nothing.
//!
//! Instead, every key write through [`super::SqliteStore`], in any process, writes a
//! fresh random value into a small file beside the database (`<db>-keygen`) after its
//! commit, and a reader compares those 8 bytes (one `pread`). Writes that do not come
//! through the store (a raw `sqlite3` session, or a process that died between its commit
//! and the signal) are caught by a backstop: `PRAGMA data_version` is still compared, at
//! most once a second. (So does a signal file deleted while a gateway runs: the gateway
//! keeps reading the unlinked file, and other processes write a new one.)

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::Mutex;
use rusqlite::Connection;

use crate::StoreError;

/// How often (milliseconds) the backstop compares SQLite's data version.
pub(super) const BACKSTOP_MS: u64 = 1000;

pub(super) struct KeySignal {
    file: File,
    /// Answers `PRAGMA data_version` only (meaningful only against earlier values from
    /// the same connection).
    version: Mutex<Connection>,
    /// The last data version the backstop saw, and how many changes it has counted.
    seen: Mutex<i64>,
    epoch: AtomicU64,
    /// Milliseconds after `start` of the backstop's last check.
    checked_ms: AtomicU64,
    pub(super) start: Instant,
    /// Handed out when the signal file cannot be read: a new value every time, so
    /// nothing is cached.
    fresh: AtomicU64,
}

/// The signal file beside `db`.
pub(super) fn path_for(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push("-keygen");
    PathBuf::from(p)
}

impl KeySignal {
    pub(super) fn open(db: &Path, version: Connection) -> Result<Self, StoreError> {
        let path = path_for(db);
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create(true);
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts
            .open(&path)
            .map_err(|e| StoreError::Database(format!("cannot open {}: {e}", path.display())))?;
        let seen = data_version(&version)?;
        let s = Self {
            file,
            version: Mutex::new(version),
            seen: Mutex::new(seen),
            epoch: AtomicU64::new(0),
            checked_ms: AtomicU64::new(0),
            start: Instant::now(),
            fresh: AtomicU64::new(rand::random()),
        };
        if s.read().is_none() {
            s.bump()?;
        }
        Ok(s)
    }

    /// Tells every reader that the keys changed (call after the commit).
    pub(super) fn bump(&self) -> Result<(), StoreError> {
        let v: u64 = rand::random();
        self.file
            .write_all_at(&v.to_le_bytes(), 0)
            .map_err(|e| StoreError::Database(format!("cannot signal a key change: {e}")))
    }

    fn read(&self) -> Option<u64> {
        let mut b = [0u8; 8];
        self.file.read_exact_at(&mut b, 0).ok()?;
        Some(u64::from_le_bytes(b))
    }

    /// A value that changes when the keys may have changed.
    pub(super) fn marker(&self) -> Result<u64, StoreError> {
        let Some(signal) = self.read() else {
            return Ok(self.fresh.fetch_add(1, Ordering::Relaxed));
        };
        self.backstop()?;
        let epoch = self.epoch.load(Ordering::Acquire);
        // Either part changing changes the marker (the signal is random, the epoch
        // counts up; a collision needs a 64-bit random value to hit exactly).
        Ok(signal ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    /// At most once per [`BACKSTOP_MS`]: counts a change of SQLite's data version.
    fn backstop(&self) -> Result<(), StoreError> {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.checked_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) < BACKSTOP_MS {
            return Ok(());
        }
        // One request does the check; the others go on with the current epoch.
        if self
            .checked_ms
            .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return Ok(());
        }
        let v = data_version(&self.version.lock())?;
        let mut seen = self.seen.lock();
        if v != *seen {
            *seen = v;
            self.epoch.fetch_add(1, Ordering::AcqRel);
        }
        Ok(())
    }
}

fn data_version(c: &Connection) -> Result<i64, StoreError> {
    let mut st = c.prepare_cached("PRAGMA data_version")?;
    Ok(st.query_row([], |r| r.get::<_, i64>(0))?)
}
