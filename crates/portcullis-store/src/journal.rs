//! The audit journal: an append-only file in front of the SQLite store that makes a
//! request's audit event durable with one `write` instead of one SQLite transaction.
//!
//! With the audit log on, a request is answered only once its event is durable. A SQLite
//! commit of one record rewrites every B-tree page it touches (about nine 4 KiB WAL
//! frames for a decision row, a leaf and their indexes), and waiting for the writer
//! thread's group commit costs two thread wake-ups per request. Instead, the handler
//! appends the record here (one `write` of about a kilobyte, under a mutex held only for
//! that call) and moves on; the decision writer inserts the records into SQLite later
//! in large batches, which is where they get their log indices and enter the Merkle
//! tree. A `write` that returned is in the kernel's page cache, so it survives a crash
//! of the process (`kill -9`), as SQLite's `synchronous=NORMAL` commits do; neither
//! survives the machine losing power.
//!
//! When the gateway starts, [`Journal::open`] reads back every record of the previous
//! run; the caller inserts those whose event is not in the store yet (so a record is
//! never logged twice) and then calls [`Journal::retire_recovered`]. A torn record at the
//! end of a file (the process died inside `write`) belongs to a request that was never
//! answered, and is dropped; a bad checksum before the end is an error, so the gateway
//! does not start on a damaged journal.
//!
//! Files are `journal-<generation>.log` in one directory; a new generation starts when
//! the current file passes [`ROTATE_BYTES`], and a file is deleted once every record in
//! it has been committed to the store ([`Journal::applied`]). An exclusive lock on the
//! directory keeps a second gateway on the same data directory out.
//!
//! Written by hand because the job is small and specific (length and CRC-32 framing of
//! `postcard`-encoded records, rotation keyed to the store's commits); the general
//! write-ahead-log crates bring their own recovery and storage model.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::{AuditBody, DecisionRecord, NewAuditLeaf, Store, StoreError};

/// Size past which the journal starts a new file (so applied records can be deleted).
pub const ROTATE_BYTES: u64 = if cfg!(test) { 4096 } else { 16 << 20 };

/// Bytes before each record: its length and the CRC-32 of its bytes.
const HEADER: usize = 8;

/// Largest record accepted when reading back (a record holds at most two encrypted
/// bodies, each bounded by the gateway's request and response limits).
const MAX_RECORD: usize = 256 << 20;

/// One journaled record: a request's decision record, its audit leaf and its encrypted
/// bodies; or a control-plane event's leaf alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The decision record (none for a control-plane event).
    pub rec: Option<DecisionRecord>,
    /// The audit leaf.
    pub leaf: NewAuditLeaf,
    /// Encrypted request and response bodies, when they are stored.
    pub bodies: Vec<AuditBody>,
}

/// The borrowed form of [`JournalEntry`], encoded identically (no copy to append).
#[derive(Serialize)]
pub struct JournalEntryRef<'a> {
    /// See [`JournalEntry::rec`].
    pub rec: Option<&'a DecisionRecord>,
    /// See [`JournalEntry::leaf`].
    pub leaf: &'a NewAuditLeaf,
    /// See [`JournalEntry::bodies`].
    pub bodies: &'a [AuditBody],
}

/// The journal of one gateway process; see the module docs.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    inner: Mutex<Inner>,
    /// Holds the directory's lock for the life of the journal.
    _lock: File,
}

#[derive(Debug)]
struct Inner {
    generation: u64,
    file: File,
    size: u64,
    /// Per generation still on disk: records written and records committed to the store.
    counts: BTreeMap<u64, (u64, u64)>,
    /// Set by [`Journal::close`]: appends are refused.
    closed: bool,
}

/// Records read back from a previous run, in the order they were written.
#[derive(Debug, Default)]
pub struct Recovered {
    /// The records.
    pub entries: Vec<JournalEntry>,
    /// Generations they came from (deleted by [`Journal::retire_recovered`]).
    generations: Vec<u64>,
    /// Torn records dropped at the end of a file.
    pub torn: usize,
}

fn file_name(generation: u64) -> String {
    format!("journal-{generation:016}.log")
}

fn io(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Database(format!("audit journal: {what} {}: {e}", path.display()))
}

impl Journal {
    /// Opens (creating) the journal in `dir`, reads back what a previous run left, and
    /// starts a new file. Fails if another process holds the directory.
    pub fn open(dir: &Path) -> Result<(Journal, Recovered), StoreError> {
        Self::try_open(dir)?.ok_or_else(|| {
            StoreError::Database(format!(
                "audit journal {} is in use by another process (one gateway per data directory)",
                dir.display()
            ))
        })
    }

    /// [`Journal::open`], or `None` when another process holds the directory.
    pub fn try_open(dir: &Path) -> Result<Option<(Journal, Recovered)>, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| io("creating", dir, e))?;
        let lock_path = dir.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io("opening", &lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(e)) => return Err(io("locking", &lock_path, e)),
        }
        let mut generations = Vec::new();
        for ent in std::fs::read_dir(dir).map_err(|e| io("listing", dir, e))? {
            let ent = ent.map_err(|e| io("listing", dir, e))?;
            let name = ent.file_name();
            let Some(g) = name
                .to_str()
                .and_then(|n| n.strip_prefix("journal-"))
                .and_then(|n| n.strip_suffix(".log"))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            generations.push(g);
        }
        generations.sort_unstable();
        let mut recovered = Recovered::default();
        for &g in &generations {
            let path = dir.join(file_name(g));
            let torn = read_file(&path, &mut recovered.entries)?;
            recovered.torn += torn;
        }
        recovered.generations = generations.clone();
        let generation = generations.last().map_or(1, |g| g + 1);
        let file = create(dir, generation)?;
        let mut counts = BTreeMap::new();
        counts.insert(generation, (0, 0));
        Ok(Some((
            Journal {
                dir: dir.to_path_buf(),
                inner: Mutex::new(Inner {
                    generation,
                    file,
                    size: 0,
                    counts,
                    closed: false,
                }),
                _lock: lock,
            },
            recovered,
        )))
    }

    /// Deletes the files read back by [`Journal::open`], once their records are in the
    /// store.
    pub fn retire_recovered(&self, r: &Recovered) -> Result<(), StoreError> {
        for &g in &r.generations {
            let path = self.dir.join(file_name(g));
            std::fs::remove_file(&path).map_err(|e| io("deleting", &path, e))?;
        }
        Ok(())
    }

    /// Appends one record (one `write`); returns its generation, to be passed to
    /// [`Journal::applied`] once the record is in the store.
    pub fn append(&self, entry: &JournalEntryRef<'_>) -> Result<u64, StoreError> {
        let mut buf = vec![0u8; HEADER];
        let mut buf = postcard::to_extend(entry, std::mem::take(&mut buf))
            .map_err(|e| StoreError::Database(format!("audit journal: encoding: {e}")))?;
        let len = buf.len() - HEADER;
        let len32 = u32::try_from(len)
            .map_err(|_| StoreError::Database("audit journal: record too large".into()))?;
        let crc = crc32fast::hash(&buf[HEADER..]);
        buf[..4].copy_from_slice(&len32.to_le_bytes());
        buf[4..HEADER].copy_from_slice(&crc.to_le_bytes());
        let mut inner = self.inner.lock();
        if inner.closed {
            return Err(StoreError::Database("audit journal: closed".into()));
        }
        let mut retired = Vec::new();
        if inner.size >= ROTATE_BYTES {
            retired = self.rotate(&mut inner)?;
        }
        let generation = inner.generation;
        let r = match inner.file.write_all(&buf) {
            Ok(()) => {
                inner.size += buf.len() as u64;
                inner.counts.entry(generation).or_default().0 += 1;
                Ok(generation)
            }
            Err(e) => {
                // A partial write leaves a torn record; start a new file so that the
                // next records are not written after it (reading back stops at a torn
                // record).
                let err = io("writing", &self.dir.join(file_name(generation)), e);
                if let Ok(more) = self.rotate(&mut inner) {
                    retired.extend(more);
                }
                Err(err)
            }
        };
        drop(inner);
        self.delete(retired);
        r
    }

    /// Starts the next generation's file; returns the generations to delete (after
    /// the lock is released).
    fn rotate(&self, inner: &mut Inner) -> Result<Vec<u64>, StoreError> {
        let generation = inner.generation + 1;
        let file = create(&self.dir, generation)?;
        inner.file = file;
        inner.size = 0;
        inner.generation = generation;
        inner.counts.insert(generation, (0, 0));
        Ok(Self::take_applied(inner))
    }

    /// Notes that `n` records of `generation` are now in the store; deletes the files
    /// of earlier generations all of whose records are.
    pub fn applied(&self, done: &BTreeMap<u64, u64>) {
        let retired = {
            let mut inner = self.inner.lock();
            for (g, n) in done {
                if let Some(c) = inner.counts.get_mut(g) {
                    c.1 += n;
                }
            }
            Self::take_applied(&mut inner)
        };
        self.delete(retired);
    }

    /// Takes the earlier generations all of whose records are in the store out of the
    /// counts. Their files are deleted by [`Journal::delete`] outside the lock: unlinking
    /// a 16 MiB file can take milliseconds, and every handler's append waits on it.
    fn take_applied(inner: &mut Inner) -> Vec<u64> {
        let current = inner.generation;
        let done: Vec<u64> = inner
            .counts
            .iter()
            .filter(|(g, (w, a))| **g < current && a >= w)
            .map(|(g, _)| *g)
            .collect();
        for g in &done {
            inner.counts.remove(g);
        }
        done
    }

    /// Deletes the files of `generations`. A file that cannot be deleted is read back
    /// at the next start, and its records, already in the store, are skipped then.
    fn delete(&self, generations: Vec<u64>) {
        for g in generations {
            let path = self.dir.join(file_name(g));
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(error = %e, path = %path.display(), "audit journal file not deleted");
            }
        }
    }

    /// Records written and not yet committed to the store.
    #[cfg(test)]
    fn outstanding(&self) -> u64 {
        self.inner
            .lock()
            .counts
            .values()
            .map(|(w, a)| w.saturating_sub(*a))
            .sum()
    }

    /// At shutdown, after the last commit: refuses further appends and, when every
    /// record is in the store, deletes the files, the current one included.
    pub fn close(&self) {
        let mut inner = self.inner.lock();
        inner.closed = true;
        if inner.counts.values().all(|(w, a)| a >= w) {
            for g in std::mem::take(&mut inner.counts).into_keys() {
                let _ = std::fs::remove_file(self.dir.join(file_name(g)));
            }
        }
    }
}

/// Inserts the recovered records whose events the store does not hold yet, in one
/// transaction (they get the next log indices, in journal order); returns how many.
pub fn commit_recovered(store: &dyn Store, r: &Recovered) -> Result<u64, StoreError> {
    let (mut records, mut leaves, mut bodies) = (Vec::new(), Vec::new(), Vec::new());
    let mut seen = std::collections::HashSet::new();
    for e in &r.entries {
        if !seen.insert(e.leaf.event_id.as_str())
            || store.audit_leaf_by_event(&e.leaf.event_id)?.is_some()
        {
            continue;
        }
        records.extend(e.rec.clone());
        leaves.push(e.leaf.clone());
        bodies.extend(e.bodies.iter().cloned());
    }
    if leaves.is_empty() {
        return Ok(0);
    }
    store.record_batch_once(rand::random(), &records, &leaves, &bodies)?;
    if r.torn > 0 {
        tracing::warn!(
            torn = r.torn,
            "audit journal: a record cut off by a crash was dropped (its request was not answered)"
        );
    }
    tracing::info!(
        records = leaves.len(),
        "audit journal: committed records a previous run left"
    );
    Ok(leaves.len() as u64)
}

/// For the operator's tools, run while the gateway is stopped: commits what the journal
/// in `dir` holds that the store does not, and empties the journal. `None` when a
/// running gateway holds the journal (it commits its records itself, within
/// milliseconds).
pub fn replay(store: &dyn Store, dir: &Path) -> Result<Option<u64>, StoreError> {
    if !dir.exists() {
        return Ok(Some(0));
    }
    let Some((journal, recovered)) = Journal::try_open(dir)? else {
        return Ok(None);
    };
    let n = commit_recovered(store, &recovered)?;
    journal.retire_recovered(&recovered)?;
    journal.close();
    Ok(Some(n))
}

fn create(dir: &Path, generation: u64) -> Result<File, StoreError> {
    let path = dir.join(file_name(generation));
    OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)
        .map_err(|e| io("creating", &path, e))
}

/// Reads the records of one file into `out`; returns how many torn records ended it
/// (0 or 1).
fn read_file(path: &Path, out: &mut Vec<JournalEntry>) -> Result<usize, StoreError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| io("reading", path, e))?;
    let mut at = 0usize;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let Some((head, body)) = rest.split_at_checked(HEADER) else {
            return Ok(1);
        };
        let mut len = [0u8; 4];
        let mut crc = [0u8; 4];
        len.copy_from_slice(&head[..4]);
        crc.copy_from_slice(&head[4..]);
        let len = u32::from_le_bytes(len) as usize;
        if len > MAX_RECORD {
            return Err(StoreError::Corrupt(format!(
                "audit journal {} at byte {at}: record length {len}",
                path.display()
            )));
        }
        let Some(record) = body.get(..len) else {
            // Shorter than its header says: the last write was cut off.
            return Ok(1);
        };
        if crc32fast::hash(record) != u32::from_le_bytes(crc) {
            if at + HEADER + len == bytes.len() {
                return Ok(1);
            }
            return Err(StoreError::Corrupt(format!(
                "audit journal {} at byte {at}: checksum mismatch",
                path.display()
            )));
        }
        let entry: JournalEntry = postcard::from_bytes(record).map_err(|e| {
            StoreError::Corrupt(format!(
                "audit journal {} at byte {at}: {e}",
                path.display()
            ))
        })?;
        out.push(entry);
        at += HEADER + len;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn entry(i: u64) -> JournalEntry {
        JournalEntry {
            rec: (!i.is_multiple_of(3)).then(|| DecisionRecord {
                ts_ms: i as i64,
                request_id: format!("req-{i}"),
                principal: "alice".into(),
                groups: vec!["team".into()],
                decision: "allow".into(),
                status: 200,
                prompt_tokens: i,
                ..Default::default()
            }),
            leaf: NewAuditLeaf {
                leaf: format!("{{\"event\":{i}}}").into_bytes(),
                leaf_hash: [i as u8; 32],
                event_id: format!("req-{i}"),
                ts_ms: i as i64,
                principal: "alice".into(),
                decision: Some("allow".into()),
            },
            bodies: if i.is_multiple_of(2) {
                vec![AuditBody {
                    event_id: format!("req-{i}"),
                    part: "request".into(),
                    ts_ms: i as i64,
                    nonce: vec![1; 24],
                    ciphertext: vec![7; 100],
                }]
            } else {
                vec![]
            },
        }
    }

    fn append(j: &Journal, e: &JournalEntry) -> u64 {
        j.append(&JournalEntryRef {
            rec: e.rec.as_ref(),
            leaf: &e.leaf,
            bodies: &e.bodies,
        })
        .unwrap()
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("journal-"))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn records_written_are_read_back_in_order_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let written: Vec<JournalEntry> = (0..200).map(entry).collect();
        {
            let (j, r) = Journal::open(dir.path()).unwrap();
            assert!(r.entries.is_empty());
            for e in &written {
                append(&j, e);
            }
            // Dropped without close or applied: as after kill -9.
        }
        assert!(files(dir.path()).len() > 1, "rotation did not happen");
        let (j, r) = Journal::open(dir.path()).unwrap();
        assert_eq!(r.entries, written);
        assert_eq!(r.torn, 0);
        j.retire_recovered(&r).unwrap();
        assert_eq!(files(dir.path()).len(), 1, "only the new file is left");
        drop(j);
        let (_j, r) = Journal::open(dir.path()).unwrap();
        assert!(r.entries.is_empty());
    }

    #[test]
    fn a_torn_last_record_is_dropped_and_a_damaged_middle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (j, _) = Journal::open(dir.path()).unwrap();
            for i in 0..3 {
                append(&j, &entry(i));
            }
        }
        let name = files(dir.path()).pop().unwrap();
        let path = dir.path().join(&name);
        let full = std::fs::read(&path).unwrap();
        // Every cut inside the last record drops that record only.
        let mut at = 0usize;
        for _ in 0..2 {
            let len = u32::from_le_bytes(full[at..at + 4].try_into().unwrap()) as usize;
            at += HEADER + len;
        }
        for cut in at + 1..full.len() {
            std::fs::write(&path, &full[..cut]).unwrap();
            let mut out = Vec::new();
            assert_eq!(read_file(&path, &mut out).unwrap(), 1, "cut at {cut}");
            assert_eq!(out, vec![entry(0), entry(1)]);
        }
        // A flipped byte in the first record is not a torn tail.
        let mut bad = full.clone();
        bad[HEADER + 2] ^= 0x40;
        std::fs::write(&path, &bad).unwrap();
        let err = Journal::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("checksum mismatch"), "{err}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// A journal file is read back at start-up after a crash or tampering: whatever
        /// follows the valid records (a torn write, garbage, a forged header), reading
        /// never panics, and when it succeeds the valid records come back first and intact.
        #[test]
        fn any_tail_after_valid_records_is_read_without_panic(
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            forged_len in proptest::prelude::any::<u32>(),
            forge in proptest::prelude::any::<bool>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            {
                let (j, _) = Journal::open(dir.path()).unwrap();
                for i in 0..3 {
                    append(&j, &entry(i));
                }
            }
            let path = dir.path().join(files(dir.path()).pop().unwrap());
            let mut bytes = std::fs::read(&path).unwrap();
            if forge {
                // A header with the tail's checksum claiming the tail's length (half
                // the cases) or any length, then the random bytes.
                let len = if forged_len % 2 == 0 { tail.len() as u32 } else { forged_len };
                bytes.extend_from_slice(&len.to_le_bytes());
                bytes.extend_from_slice(&crc32fast::hash(&tail).to_le_bytes());
            }
            bytes.extend_from_slice(&tail);
            std::fs::write(&path, &bytes).unwrap();
            let mut out = Vec::new();
            if read_file(&path, &mut out).is_ok() {
                proptest::prop_assert!(out.len() >= 3);
                proptest::prop_assert_eq!(&out[..3], &[entry(0), entry(1), entry(2)][..]);
            }
            // The whole start-up path as well.
            let _ = Journal::open(dir.path());
        }

        /// A file of arbitrary bytes is an error or a list of records, never a panic.
        #[test]
        fn arbitrary_journal_files_never_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(file_name(1));
            std::fs::write(&path, &bytes).unwrap();
            let mut out = Vec::new();
            let _ = read_file(&path, &mut out);
        }
    }

    #[test]
    fn applied_generations_are_deleted_and_close_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (j, _) = Journal::open(dir.path()).unwrap();
        let mut done = BTreeMap::new();
        for i in 0..100 {
            *done.entry(append(&j, &entry(i))).or_insert(0) += 1;
        }
        let before = files(dir.path()).len();
        assert!(before > 2);
        assert_eq!(j.outstanding(), 100);
        j.applied(&done);
        assert_eq!(j.outstanding(), 0);
        assert_eq!(files(dir.path()).len(), 1, "the current file stays");
        j.close();
        assert!(files(dir.path()).is_empty());
        assert!(j
            .append(&JournalEntryRef {
                rec: None,
                leaf: &entry(0).leaf,
                bodies: &[]
            })
            .is_err());
    }

    #[test]
    fn a_second_process_on_the_same_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (_j, _) = Journal::open(dir.path()).unwrap();
        let err = Journal::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("in use"), "{err}");
    }
}
