//! A model's manifest: every file (or file shard) with its SHA-256, as `model_signing`
//! computes it (`model_signing.hashing`, `_serialization.file`, `_serialization.file_shard`,
//! `manifest`).
//!
//! Rules reproduced from the Python package (v1.1.1):
//! - a model is a directory (every regular file below it, hidden files included) or a
//!   single file (one resource named `.`);
//! - resource names are POSIX paths relative to the model; they are ordered by path
//!   *components* (Python's `PurePosixPath` ordering: `a/b` sorts before `a-c`), shards
//!   by (path, start, end);
//! - ignored paths are relative to the model and match a path and everything below it;
//!   `.git`, `.gitattributes`, `.github`, `.gitignore` are ignored by default;
//! - symbolic links are an error unless allowed; other special files are always errors;
//! - shards cover `[start, end)` of a file, ends at multiples of the shard size and at the
//!   file size; an empty file has no shards.
//!
//! Differences: ignored directories are not descended into (Python walks them and fails
//! on a symlink inside `.git`); non-UTF-8 file names are an error.
//!
//! Hashing streams each file through a reused buffer and runs files (or shards) in
//! parallel on scoped threads, largest first so one big file does not finish last alone.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use sha2::{Digest as _, Sha256};

use crate::error::{io_err, Error, ManifestDiff, Result};

/// The paths `model_signing` ignores unless told otherwise.
pub const GIT_PATHS: [&str; 4] = [".git", ".gitattributes", ".github", ".gitignore"];

/// The default shard size of `model_signing`'s shard serialization (1 GB).
pub const DEFAULT_SHARD_SIZE: u64 = 1_000_000_000;

/// How a model is cut into resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// One resource per file (`"method": "files"`, the CLI's only mode).
    Files,
    /// Files cut into shards of this many bytes (`"method": "shards"`).
    Shards {
        /// Shard size in bytes (> 0).
        shard_size: u64,
    },
}

/// A resource's identity: its path components and, for shards, its byte range. The
/// derived order is the Python order (components, then start, then end).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceKey {
    /// Path components relative to the model root (empty for a single-file model).
    pub path: Vec<String>,
    /// `(start, end)` for a shard.
    pub range: Option<(u64, u64)>,
}

impl ResourceKey {
    /// The name written in the statement: `a/b`, `.` for a single-file model, or
    /// `a/b:start:end` for a shard.
    pub fn name(&self) -> String {
        let path = if self.path.is_empty() {
            ".".to_string()
        } else {
            self.path.join("/")
        };
        match self.range {
            None => path,
            Some((s, e)) => format!("{path}:{s}:{e}"),
        }
    }

    /// Parses a statement name for `method`, normalizing like `PurePosixPath` (empty and
    /// `.` components dropped).
    pub fn parse(name: &str, method: Method) -> Result<Self> {
        let (path, range) = match method {
            Method::Files => (name, None),
            Method::Shards { .. } => {
                let parts: Vec<&str> = name.split(':').collect();
                let [path, start, end] = parts.as_slice() else {
                    return Err(Error::Bundle(format!(
                        "shard resource name {name:?} is not `path:start:end`"
                    )));
                };
                let num = |s: &str| {
                    s.parse::<u64>().map_err(|_| {
                        Error::Bundle(format!("shard resource name {name:?}: bad offset {s:?}"))
                    })
                };
                (*path, Some((num(start)?, num(end)?)))
            }
        };
        Ok(Self {
            path: split_rel(path),
            range,
        })
    }
}

/// Splits a relative POSIX path into components, dropping empty and `.` ones.
pub(crate) fn split_rel(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_string)
        .collect()
}

/// A model's resources and their SHA-256 digests, in canonical order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Resource → digest.
    pub items: BTreeMap<ResourceKey, [u8; 32]>,
}

impl Manifest {
    /// SHA-256 over the concatenated digests in canonical order: the statement's subject.
    pub fn root_digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for d in self.items.values() {
            h.update(d);
        }
        h.finalize().into()
    }

    /// The number of resources.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// No resources.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// What differs from `expected` (`self` is what is on disk).
    pub fn diff(&self, expected: &Manifest) -> ManifestDiff {
        let mut d = ManifestDiff::default();
        for (k, got) in &self.items {
            match expected.items.get(k) {
                None => d.extra.push(k.name()),
                Some(want) if want != got => {
                    d.changed
                        .push((k.name(), hex::encode(want), hex::encode(got)));
                }
                Some(_) => {}
            }
        }
        for k in expected.items.keys() {
            if !self.items.contains_key(k) {
                d.missing.push(k.name());
            }
        }
        d
    }
}

/// What to hash and how.
#[derive(Debug, Clone)]
pub struct HashOptions {
    /// Files or shards.
    pub method: Method,
    /// Follow symbolic links instead of refusing them.
    pub allow_symlinks: bool,
    /// Paths relative to the model root to leave out (with everything below them).
    pub ignore_paths: Vec<String>,
    /// Also ignore [`GIT_PATHS`].
    pub ignore_git_paths: bool,
    /// Worker threads; `None` for the number of CPUs.
    pub threads: Option<usize>,
}

impl Default for HashOptions {
    fn default() -> Self {
        Self {
            method: Method::Files,
            allow_symlinks: false,
            ignore_paths: Vec::new(),
            ignore_git_paths: true,
            threads: None,
        }
    }
}

impl HashOptions {
    /// The ignore list as recorded in a statement: user paths plus the git paths, as
    /// normalized relative paths, sorted and without duplicates.
    pub fn effective_ignore_paths(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .ignore_paths
            .iter()
            .map(|p| split_rel(p).join("/"))
            .filter(|p| !p.is_empty())
            .collect();
        if self.ignore_git_paths {
            all.extend(GIT_PATHS.iter().map(|s| s.to_string()));
        }
        all.sort();
        all.dedup();
        all
    }
}

/// One unit of hashing work.
struct Unit {
    key: ResourceKey,
    file: PathBuf,
    size: u64,
}

/// Hashes the model at `model` (a directory or a single file).
pub fn hash_model(model: &Path, opts: &HashOptions) -> Result<Manifest> {
    if let Method::Shards { shard_size: 0 } = opts.method {
        return Err(Error::UnsupportedSerialization(
            "shard size must be positive".into(),
        ));
    }
    let ignores: Vec<Vec<String>> = opts
        .effective_ignore_paths()
        .iter()
        .map(|p| split_rel(p))
        .collect();
    let mut files = Vec::new();
    collect_files(model, opts.allow_symlinks, &ignores, &mut files)?;
    let mut units = Vec::new();
    for (path, file, size) in files {
        match opts.method {
            Method::Files => units.push(Unit {
                key: ResourceKey { path, range: None },
                file,
                size,
            }),
            Method::Shards { shard_size } => {
                if path.iter().any(|c| c.contains(':')) {
                    return Err(Error::ModelPath {
                        path: file,
                        reason: "a file name with `:` cannot be named in a shard manifest",
                    });
                }
                let mut start = 0;
                while start < size {
                    let end = size.min(start.saturating_add(shard_size));
                    units.push(Unit {
                        key: ResourceKey {
                            path: path.clone(),
                            range: Some((start, end)),
                        },
                        file: file.clone(),
                        size: end - start,
                    });
                    start = end;
                }
            }
        }
    }
    hash_units(units, opts.threads)
}

/// Walks the model and returns (components, path, size) of every file to hash.
fn collect_files(
    model: &Path,
    allow_symlinks: bool,
    ignores: &[Vec<String>],
    out: &mut Vec<(Vec<String>, PathBuf, u64)>,
) -> Result<()> {
    let meta = std::fs::symlink_metadata(model).map_err(io_err(model))?;
    let meta = if meta.file_type().is_symlink() {
        if !allow_symlinks {
            return Err(Error::ModelPath {
                path: model.to_path_buf(),
                reason: "is a symbolic link (allow symlinks to follow it)",
            });
        }
        std::fs::metadata(model).map_err(io_err(model))?
    } else {
        meta
    };
    if meta.is_file() {
        out.push((Vec::new(), model.to_path_buf(), meta.len()));
        return Ok(());
    }
    if !meta.is_dir() {
        return Err(Error::ModelPath {
            path: model.to_path_buf(),
            reason: "is neither a file nor a directory",
        });
    }
    // Directories on the current path (canonical), to stop symlink cycles.
    let root = std::fs::canonicalize(model).map_err(io_err(model))?;
    walk(
        model,
        Vec::new(),
        &mut vec![root],
        allow_symlinks,
        ignores,
        out,
    )
}

fn walk(
    dir: &Path,
    rel: Vec<String>,
    ancestors: &mut Vec<PathBuf>,
    allow_symlinks: bool,
    ignores: &[Vec<String>],
    out: &mut Vec<(Vec<String>, PathBuf, u64)>,
) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(io_err(dir))?;
    for entry in entries {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            return Err(Error::ModelPath {
                path,
                reason: "file name is not valid UTF-8",
            });
        };
        let mut child = rel.clone();
        child.push(name);
        if ignores.iter().any(|ig| child.starts_with(ig)) {
            continue;
        }
        let ft = entry.file_type().map_err(io_err(&path))?;
        let meta = if ft.is_symlink() {
            if !allow_symlinks {
                return Err(Error::ModelPath {
                    path,
                    reason: "is a symbolic link (allow symlinks to follow it)",
                });
            }
            std::fs::metadata(&path).map_err(io_err(&path))?
        } else {
            entry.metadata().map_err(io_err(&path))?
        };
        if meta.is_file() {
            out.push((child, path, meta.len()));
        } else if meta.is_dir() {
            let canon = std::fs::canonicalize(&path).map_err(io_err(&path))?;
            if ancestors.contains(&canon) {
                return Err(Error::ModelPath {
                    path,
                    reason: "symbolic link loop",
                });
            }
            ancestors.push(canon);
            walk(&path, child, ancestors, allow_symlinks, ignores, out)?;
            ancestors.pop();
        } else {
            return Err(Error::ModelPath {
                path,
                reason: "is not a regular file or directory (socket, pipe or device)",
            });
        }
    }
    Ok(())
}

/// Read size per `read` call. 1 MiB keeps syscall overhead negligible next to SHA-256
/// while staying in L2/L3 cache.
const BUF_SIZE: usize = 1 << 18;

fn hash_units(mut units: Vec<Unit>, threads: Option<usize>) -> Result<Manifest> {
    // Largest first: the longest jobs start early, small files fill the gaps.
    units.sort_by_key(|u| std::cmp::Reverse(u.size));
    let workers = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, units.len().max(1));
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let results: Mutex<Vec<(usize, [u8; 32])>> = Mutex::new(Vec::with_capacity(units.len()));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                let mut buf = vec![0u8; BUF_SIZE];
                let mut mine = Vec::new();
                loop {
                    if failed.load(Ordering::Relaxed) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(unit) = units.get(i) else { break };
                    match hash_unit(unit, &mut buf) {
                        Ok(d) => mine.push((i, d)),
                        Err(e) => {
                            failed.store(true, Ordering::Relaxed);
                            if let Ok(mut slot) = first_error.lock() {
                                slot.get_or_insert(e);
                            }
                            break;
                        }
                    }
                }
                if let Ok(mut r) = results.lock() {
                    r.extend(mine);
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e);
    }
    let results = results.into_inner().unwrap_or_default();
    if results.len() != units.len() {
        // Only reachable if a worker's lock was poisoned (a panic): fail closed.
        return Err(Error::Io {
            path: PathBuf::new(),
            error: std::io::Error::other("a hashing worker failed"),
        });
    }
    let mut manifest = Manifest::default();
    for (i, digest) in results {
        if let Some(unit) = units.get(i) {
            manifest.items.insert(unit.key.clone(), digest);
        }
    }
    Ok(manifest)
}

fn hash_unit(unit: &Unit, buf: &mut [u8]) -> Result<[u8; 32]> {
    let mut f = File::open(&unit.file).map_err(io_err(&unit.file))?;
    let mut h = Sha256::new();
    let (start, len) = match unit.key.range {
        Some((s, e)) => (s, e - s),
        None => (0, u64::MAX),
    };
    if start > 0 {
        f.seek(SeekFrom::Start(start)).map_err(io_err(&unit.file))?;
    }
    let mut remaining = len;
    while remaining > 0 {
        let want = usize::try_from(remaining)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let Some(chunk) = buf.get_mut(..want) else {
            break;
        };
        let n = match f.read(chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(&unit.file)(e)),
        };
        h.update(chunk.get(..n).unwrap_or_default());
        remaining -= n as u64;
    }
    if unit.key.range.is_some() && remaining > 0 {
        return Err(Error::Io {
            path: unit.file.clone(),
            error: std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "file shrank while it was being hashed",
            ),
        });
    }
    Ok(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, content: &[u8]) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    fn names(m: &Manifest) -> Vec<String> {
        m.items.keys().map(ResourceKey::name).collect()
    }

    #[test]
    fn order_is_by_path_components_like_python() {
        let t = tempfile::tempdir().unwrap();
        for f in ["a-c", "a/b", "a.txt", "sub/b.bin", "A"] {
            write(t.path(), f, f.as_bytes());
        }
        let m = hash_model(t.path(), &HashOptions::default()).unwrap();
        // Python: sorted(PurePosixPath) -> A, a/b, a-c, a.txt, sub/b.bin
        assert_eq!(names(&m), ["A", "a/b", "a-c", "a.txt", "sub/b.bin"]);
        let digest = m.items.values().next().unwrap();
        assert_eq!(digest, &<[u8; 32]>::from(Sha256::digest(b"A")));
    }

    #[test]
    fn git_paths_and_ignored_dirs_are_skipped() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), ".git/config", b"x");
        write(t.path(), ".gitignore", b"x");
        write(t.path(), "keep/.hidden", b"x");
        write(t.path(), "docs/readme", b"x");
        write(t.path(), "docsx", b"x");
        let opts = HashOptions {
            ignore_paths: vec!["docs".into()],
            ..HashOptions::default()
        };
        let m = hash_model(t.path(), &opts).unwrap();
        assert_eq!(names(&m), ["docsx", "keep/.hidden"]);
        let all = hash_model(
            t.path(),
            &HashOptions {
                ignore_git_paths: false,
                ..HashOptions::default()
            },
        )
        .unwrap();
        assert_eq!(all.len(), 5);
    }

    #[test]
    fn single_file_model_is_named_dot() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "model.bin", b"weights");
        let m = hash_model(&t.path().join("model.bin"), &HashOptions::default()).unwrap();
        assert_eq!(names(&m), ["."]);
    }

    #[test]
    fn shards_cover_the_file_and_empty_files_have_none() {
        let t = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..25u8).collect();
        write(t.path(), "w", &data);
        write(t.path(), "empty", b"");
        let opts = HashOptions {
            method: Method::Shards { shard_size: 10 },
            threads: Some(3),
            ..HashOptions::default()
        };
        let m = hash_model(t.path(), &opts).unwrap();
        assert_eq!(names(&m), ["w:0:10", "w:10:20", "w:20:25"]);
        let third = m.items.values().nth(2).unwrap();
        assert_eq!(third, &<[u8; 32]>::from(Sha256::digest(&data[20..25])));
    }

    #[test]
    fn symlinks_are_refused_unless_allowed() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "real", b"data");
        std::os::unix::fs::symlink(t.path().join("real"), t.path().join("link")).unwrap();
        let err = hash_model(t.path(), &HashOptions::default()).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        let m = hash_model(
            t.path(),
            &HashOptions {
                allow_symlinks: true,
                ..HashOptions::default()
            },
        )
        .unwrap();
        assert_eq!(names(&m), ["link", "real"]);
        assert_eq!(m.items.values().next(), m.items.values().nth(1));
    }

    #[test]
    fn symlink_loops_are_an_error() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "d/f", b"data");
        std::os::unix::fs::symlink(t.path().join("d"), t.path().join("d/loop")).unwrap();
        let err = hash_model(
            t.path(),
            &HashOptions {
                allow_symlinks: true,
                ..HashOptions::default()
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("loop"), "{err}");
    }

    #[test]
    fn parallel_and_serial_agree() {
        let t = tempfile::tempdir().unwrap();
        for i in 0..20 {
            write(t.path(), &format!("f{i}"), &vec![i as u8; i * 100_000]);
        }
        let one = hash_model(
            t.path(),
            &HashOptions {
                threads: Some(1),
                ..HashOptions::default()
            },
        )
        .unwrap();
        let four = hash_model(
            t.path(),
            &HashOptions {
                threads: Some(4),
                ..HashOptions::default()
            },
        )
        .unwrap();
        assert_eq!(one, four);
        assert_eq!(one.len(), 20);
    }

    #[test]
    fn parse_normalizes_like_pure_posix_path() {
        let k = ResourceKey::parse("./a//b/", Method::Files).unwrap();
        assert_eq!(k.name(), "a/b");
        let s = ResourceKey::parse("a/b:0:10", Method::Shards { shard_size: 10 }).unwrap();
        assert_eq!(s.range, Some((0, 10)));
        assert!(ResourceKey::parse("a:b", Method::Shards { shard_size: 1 }).is_err());
    }
}
