//! The RFC 6962 / RFC 9162 §2 Merkle tree that makes the audit log tamper-evident.
//!
//! - Hashing (RFC 9162 §2.1.1): a leaf hashes as `SHA-256(0x00 || leaf)`, an interior
//!   node as `SHA-256(0x01 || left || right)`, the empty tree as `SHA-256("")`. A tree of
//!   `n > 1` leaves splits at `k`, the largest power of two smaller than `n`
//!   ([`merkle_tree_hash`], [`root_from_leaf_hashes`]).
//! - [`MerkleTree`]: an append-only tree of leaf hashes that answers the root, inclusion
//!   proofs and consistency proofs for *any* size up to its current one.
//! - Verification: [`verify_inclusion`] and [`verify_consistency`] follow the algorithms of
//!   RFC 9162 §2.1.3.2 and §2.1.4.2 step by step; proofs are generated per RFC 6962
//!   §2.1.1 (`PATH`) and §2.1.2 (`PROOF` / `SUBPROOF`), which RFC 9162 keeps unchanged.
//!
//! # Why not a crate
//!
//! Written by hand after checking the two candidates (2026-05):
//! - `ct-merkle` 0.3 keeps every leaf *value* and every node in memory, panics on push
//!   when full, and is built on `digest` 0.11 / `sha2` 0.11 while this workspace (and
//!   `ed25519-dalek` 2) use `sha2` 0.10, so it would bring a second SHA-2 stack.
//! - `tlog_tiles` 0.2 is a port of Go's `sumdb/tlog`: proofs are computed from a
//!   `HashReader` over "stored hash" indexes (the tile storage layout) and there is no
//!   in-memory tree; adapting it is about as much code as the algorithms themselves, and it
//!   pulls `thiserror` 1, `base64` 0.21 and `url` into the workspace.
//!
//! The algorithms are short, and this module is checked against the transparency-dev
//! known-answer vectors and against a naive recursive RFC 6962 implementation (see the
//! crate's tests).
//!
//! # Representation
//!
//! [`MerkleTree`] stores, for every level `h`, the hashes of all *complete* subtrees of
//! `2^h` leaves that exist so far (level 0 is the leaf hashes). Appending adds one leaf hash
//! and at most `log2(n)` parents: O(log n). Every subtree the RFC 6962 recursion visits is
//! either complete (one cached lookup) or the rightmost, incomplete one (one level of
//! recursion), so a root is O(log n) hashes and a proof O(log² n), for any size up to the
//! current one. Memory is about two hashes (64 bytes) per leaf.

use sha2::{Digest, Sha256};

/// Length of a SHA-256 hash.
pub const HASH_LEN: usize = 32;

/// A SHA-256 hash: a leaf hash, node hash or root.
pub type Hash = [u8; HASH_LEN];

/// Why a Merkle operation or proof check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// A leaf index is not inside the tree.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A tree size larger than the tree holds was asked for.
    #[error("tree size {requested} is larger than the tree's {available} leaves")]
    SizeOutOfRange {
        /// The size asked for.
        requested: u64,
        /// The tree's size.
        available: u64,
    },
    /// A consistency proof from a larger tree to a smaller one was asked for.
    #[error("old tree size {old} is larger than new tree size {new}")]
    SizesReversed {
        /// The first (old) size.
        old: u64,
        /// The second (new) size.
        new: u64,
    },
    /// The proof has the wrong number of hashes for the sizes given.
    #[error("proof has the wrong length: {0}")]
    ProofLength(&'static str),
    /// The proof was well-formed but led to a different root.
    #[error("proof does not lead to the expected root hash")]
    RootMismatch,
}

/// `SHA-256(0x00 || data)`: the hash of one leaf (RFC 9162 §2.1.1).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`: the hash of an interior node (RFC 9162 §2.1.1).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// `SHA-256("")`: the root of the empty tree.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two strictly smaller than `n`; `n` must be at least 2.
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The Merkle Tree Hash of the given leaf hashes, by the recursive definition of
/// RFC 9162 §2.1.1. O(n); for a growing log use [`MerkleTree`].
pub fn root_from_leaf_hashes(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => empty_root(),
        [only] => *only,
        _ => {
            // Lengths of slices always fit in u64 and the split point is below the length.
            let k = split_point(leaves.len() as u64) as usize;
            let (left, right) = leaves.split_at(k);
            node_hash(&root_from_leaf_hashes(left), &root_from_leaf_hashes(right))
        }
    }
}

/// The Merkle Tree Hash `MTH(D[n])` of the given leaves (each hashed with [`leaf_hash`]).
pub fn merkle_tree_hash<T: AsRef<[u8]>>(leaves: &[T]) -> Hash {
    let hashes: Vec<Hash> = leaves.iter().map(|l| leaf_hash(l.as_ref())).collect();
    root_from_leaf_hashes(&hashes)
}

/// An append-only RFC 6962 Merkle tree over leaf hashes (see the module docs for its
/// representation and costs).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct MerkleTree {
    /// `levels[h][i]` is the hash of the complete subtree of leaves `[i * 2^h, (i + 1) * 2^h)`;
    /// `levels[0]` holds the leaf hashes. `levels[h + 1].len() == levels[h].len() / 2`.
    levels: Vec<Vec<Hash>>,
}

impl std::fmt::Debug for MerkleTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MerkleTree")
            .field("size", &self.size())
            .field("root", &hex::encode(self.root()))
            .finish()
    }
}

impl MerkleTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tree holding these leaf hashes, in order (e.g. reloaded from storage). O(n).
    pub fn from_leaf_hashes<I: IntoIterator<Item = Hash>>(leaf_hashes: I) -> Self {
        let mut tree = Self::new();
        for h in leaf_hashes {
            tree.push_leaf_hash(h);
        }
        tree
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Whether the tree has no leaves.
    pub fn is_empty(&self) -> bool {
        self.size() == 0
    }

    /// Appends a leaf (hashed with [`leaf_hash`]) and returns its index.
    pub fn push(&mut self, leaf: &[u8]) -> u64 {
        self.push_leaf_hash(leaf_hash(leaf))
    }

    /// Appends an already computed leaf hash and returns its index. O(log n).
    pub fn push_leaf_hash(&mut self, hash: Hash) -> u64 {
        let index = self.size();
        let mut carry = hash;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let Some(nodes) = self.levels.get_mut(level) else {
                break; // unreachable: the level was just created
            };
            nodes.push(carry);
            // A complete pair of siblings at this level makes a new node one level up.
            match nodes.as_slice() {
                [.., left, right] if nodes.len() & 1 == 0 => {
                    carry = node_hash(left, right);
                    level += 1;
                }
                _ => break,
            }
        }
        index
    }

    /// The leaf hashes, in order (for persisting the tree).
    pub fn leaf_hashes(&self) -> &[Hash] {
        self.levels.first().map_or(&[], Vec::as_slice)
    }

    /// The hash of the leaf at `index`, if it exists.
    pub fn leaf_hash_at(&self, index: u64) -> Option<Hash> {
        self.cached(0, index)
    }

    /// The current root hash (the empty-tree hash when empty). O(log n).
    pub fn root(&self) -> Hash {
        match self.size() {
            0 => empty_root(),
            n => self.subtree(0, n),
        }
    }

    /// The root hash the tree had when it held `size` leaves. O(log n).
    pub fn root_at(&self, size: u64) -> Result<Hash, MerkleError> {
        self.check_size(size)?;
        Ok(match size {
            0 => empty_root(),
            n => self.subtree(0, n),
        })
    }

    /// The inclusion proof (audit path, RFC 6962 §2.1.1 `PATH(m, D[n])`) for leaf `index`
    /// in the tree of the first `size` leaves, listed from the leaf's sibling upwards.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, MerkleError> {
        self.check_size(size)?;
        if index >= size {
            return Err(MerkleError::IndexOutOfRange { index, size });
        }
        let mut proof = Vec::new();
        self.path(index, 0, size, &mut proof);
        Ok(proof)
    }

    /// The consistency proof (RFC 6962 §2.1.2 `PROOF(m, D[n])`) that the tree of the first
    /// `old_size` leaves is a prefix of the tree of the first `new_size` leaves. Empty when
    /// `old_size` is 0 or equal to `new_size`.
    pub fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<Vec<Hash>, MerkleError> {
        self.check_size(new_size)?;
        if old_size > new_size {
            return Err(MerkleError::SizesReversed {
                old: old_size,
                new: new_size,
            });
        }
        let mut proof = Vec::new();
        if old_size > 0 && old_size < new_size {
            self.subproof(old_size, 0, new_size, true, &mut proof);
        }
        Ok(proof)
    }

    fn check_size(&self, size: u64) -> Result<(), MerkleError> {
        let available = self.size();
        if size > available {
            return Err(MerkleError::SizeOutOfRange {
                requested: size,
                available,
            });
        }
        Ok(())
    }

    /// The cached hash of complete subtree `index` at `level`, if it exists.
    fn cached(&self, level: u32, index: u64) -> Option<Hash> {
        let nodes = self.levels.get(usize::try_from(level).ok()?)?;
        nodes.get(usize::try_from(index).ok()?).copied()
    }

    /// `MTH(D[start : start + len])`.
    ///
    /// Callers guarantee `len >= 1` and `start + len <= size`, and only pass subtrees that
    /// the RFC 6962 recursion from `(0, n)` visits: those start at a multiple of the
    /// smallest power of two `>= len`, so a complete one (`len` a power of two) is always
    /// in the cache and an incomplete one recurses once into a complete left half.
    fn subtree(&self, start: u64, len: u64) -> Hash {
        if len.is_power_of_two() && start & (len - 1) == 0 {
            let level = len.trailing_zeros();
            if let Some(h) = self.cached(level, start >> level) {
                return h;
            }
        }
        if len < 2 {
            // Unreachable under the preconditions above (every leaf is cached).
            return empty_root();
        }
        let k = split_point(len);
        node_hash(&self.subtree(start, k), &self.subtree(start + k, len - k))
    }

    /// RFC 6962 §2.1.1 `PATH(m, D[start : start + n])`, appended to `out`.
    fn path(&self, m: u64, start: u64, n: u64, out: &mut Vec<Hash>) {
        if n < 2 {
            return;
        }
        let k = split_point(n);
        if m < k {
            self.path(m, start, k, out);
            out.push(self.subtree(start + k, n - k));
        } else {
            self.path(m - k, start + k, n - k, out);
            out.push(self.subtree(start, k));
        }
    }

    /// RFC 6962 §2.1.2 `SUBPROOF(m, D[start : start + n], b)`, appended to `out`.
    fn subproof(&self, m: u64, start: u64, n: u64, b: bool, out: &mut Vec<Hash>) {
        if m == n {
            if !b {
                out.push(self.subtree(start, n));
            }
            return;
        }
        let k = split_point(n);
        if m <= k {
            self.subproof(m, start, k, b, out);
            out.push(self.subtree(start + k, n - k));
        } else {
            self.subproof(m - k, start + k, n - k, false, out);
            out.push(self.subtree(start, k));
        }
    }
}

/// The root that an inclusion proof leads to (RFC 9162 §2.1.3.2, steps 1–4 and the
/// `sn == 0` check of step 5). Fails on an out-of-range index or a proof of the wrong
/// length.
pub fn root_from_inclusion_proof(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
) -> Result<Hash, MerkleError> {
    // 1. leaf_index must be below tree_size.
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    // 2. fn = leaf_index, sn = tree_size - 1.
    let mut fnode = index;
    let mut snode = size - 1;
    // 3. r = hash.
    let mut r = *leaf;
    // 4. For each p in inclusion_path:
    for p in proof {
        // a. If sn is 0, the proof is too long.
        if snode == 0 {
            return Err(MerkleError::ProofLength("inclusion proof is too long"));
        }
        // b. If LSB(fn) is set, or fn equals sn:
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            // If LSB(fn) is not set, right-shift fn and sn until LSB(fn) is set or fn is 0.
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        // c. Right-shift both fn and sn one time.
        fnode >>= 1;
        snode >>= 1;
    }
    // 5. sn must be 0 (else the proof is too short).
    if snode != 0 {
        return Err(MerkleError::ProofLength("inclusion proof is too short"));
    }
    Ok(r)
}

/// Checks that `leaf` (a leaf *hash*) is at `index` in the tree of `size` leaves with root
/// `root`, by the algorithm of RFC 9162 §2.1.3.2.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    let computed = root_from_inclusion_proof(index, size, leaf, proof)?;
    if &computed != root {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}

/// Checks that the tree of `old_size` leaves with root `old_root` is a prefix of the tree
/// of `new_size` leaves with root `new_root`, by the algorithm of RFC 9162 §2.1.4.2.
///
/// Cases outside that algorithm's `0 < old_size < new_size`: equal sizes need an empty
/// proof and equal roots; `old_size == 0` needs an empty proof and `old_root` equal to the
/// empty-tree hash (stricter than some libraries, which ignore `old_root` there).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), MerkleError> {
    if old_size > new_size {
        return Err(MerkleError::SizesReversed {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == new_size || old_size == 0 {
        if !proof.is_empty() {
            return Err(MerkleError::ProofLength(
                "consistency proof must be empty for equal sizes or an empty old tree",
            ));
        }
        let roots_ok = if old_size == 0 {
            *old_root == empty_root() && (new_size > 0 || *new_root == empty_root())
        } else {
            old_root == new_root
        };
        if !roots_ok {
            return Err(MerkleError::RootMismatch);
        }
        return Ok(());
    }
    // 1. An empty consistency_path fails.
    let Some((head, tail)) = proof.split_first() else {
        return Err(MerkleError::ProofLength("consistency proof is empty"));
    };
    // 2. If first_size is an exact power of 2, prepend first_hash to the path.
    let (start, rest) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        (head, tail)
    };
    // 3. fn = first_size - 1, sn = second_size - 1.
    let mut fnode = old_size - 1;
    let mut snode = new_size - 1;
    // 4. If LSB(fn) is set, right-shift fn and sn until LSB(fn) is not set.
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    // 5. fr = sr = the first value in the path.
    let mut fr = *start;
    let mut sr = *start;
    // 6. For each subsequent value c in the path:
    for c in rest {
        // a. If sn is 0, the proof is too long.
        if snode == 0 {
            return Err(MerkleError::ProofLength("consistency proof is too long"));
        }
        // b. If LSB(fn) is set, or fn equals sn:
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            // If LSB(fn) is not set, right-shift fn and sn until LSB(fn) is set or fn is 0.
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        // c. Right-shift both fn and sn one time.
        fnode >>= 1;
        snode >>= 1;
    }
    // 7. sn must be 0, fr must equal first_hash and sr must equal second_hash.
    if snode != 0 {
        return Err(MerkleError::ProofLength("consistency proof is too short"));
    }
    if &fr != old_root || &sr != new_root {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_point_is_largest_power_of_two_below() {
        for n in 2u64..5000 {
            let k = split_point(n);
            assert!(k.is_power_of_two() && k < n && 2 * k >= n, "n={n} k={k}");
        }
        assert_eq!(split_point(u64::MAX), 1 << 63);
    }

    #[test]
    fn levels_invariant_holds() {
        let mut tree = MerkleTree::new();
        for i in 0u32..300 {
            tree.push(&i.to_be_bytes());
            for (h, pair) in tree.levels.windows(2).enumerate() {
                assert_eq!(
                    pair[1].len(),
                    pair[0].len() / 2,
                    "level {h} at size {}",
                    i + 1
                );
            }
        }
    }
}
