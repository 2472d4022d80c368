//! The incremental [`MerkleTree`] against a naive, literal transcription of RFC 6962 §2.1
//! (`MTH`, `PATH`, `PROOF`/`SUBPROOF` over slices), for every size up to 1,000 and for
//! random larger sizes; every generated proof must also pass the RFC 9162 verifiers.

// Test code: unwrap/expect/panic are the point of an assertion here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_audit::merkle::{
    empty_root, leaf_hash, node_hash, verify_consistency, verify_inclusion, Hash, MerkleTree,
};
use proptest::prelude::*;

/// Naive RFC 6962 reference, straight from the recursive definitions over `D[start..start+n]`
/// of one fixed leaf list. `MTH` results are memoized by `(start, n)` only to keep
/// unoptimized test builds fast; that changes no result, and the recursion is the RFC's.
struct Naive<'a> {
    d: &'a [Hash],
    memo: std::collections::HashMap<(usize, usize), Hash>,
}

impl<'a> Naive<'a> {
    fn new(d: &'a [Hash]) -> Self {
        Self {
            d,
            memo: std::collections::HashMap::new(),
        }
    }

    /// The largest power of two smaller than `n`.
    fn k(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    /// `MTH(D[start..start + n])`.
    fn mth(&mut self, start: usize, n: usize) -> Hash {
        if let Some(h) = self.memo.get(&(start, n)) {
            return *h;
        }
        let h = match n {
            0 => empty_root(),
            1 => self.d[start],
            n => {
                let k = Self::k(n);
                let left = self.mth(start, k);
                let right = self.mth(start + k, n - k);
                node_hash(&left, &right)
            }
        };
        self.memo.insert((start, n), h);
        h
    }

    /// `PATH(m, D[start..start + n])`.
    fn path(&mut self, m: usize, start: usize, n: usize) -> Vec<Hash> {
        if n == 1 {
            return vec![];
        }
        let k = Self::k(n);
        if m < k {
            let mut p = self.path(m, start, k);
            p.push(self.mth(start + k, n - k));
            p
        } else {
            let mut p = self.path(m - k, start + k, n - k);
            p.push(self.mth(start, k));
            p
        }
    }

    /// `PROOF(m, D[n])` for `0 < m <= n`.
    fn proof(&mut self, m: usize, n: usize) -> Vec<Hash> {
        self.subproof(m, 0, n, true)
    }

    /// `SUBPROOF(m, D[start..start + n], b)`.
    fn subproof(&mut self, m: usize, start: usize, n: usize, b: bool) -> Vec<Hash> {
        if m == n {
            return if b { vec![] } else { vec![self.mth(start, n)] };
        }
        let k = Self::k(n);
        if m <= k {
            let mut p = self.subproof(m, start, k, b);
            p.push(self.mth(start + k, n - k));
            p
        } else {
            let mut p = self.subproof(m - k, start + k, n - k, false);
            p.push(self.mth(start, k));
            p
        }
    }
}

fn leaves(n: usize) -> Vec<Hash> {
    (0..n as u64).map(|i| leaf_hash(&i.to_le_bytes())).collect()
}

/// Leaf or old-tree indexes to check for a tree of `n`: all of them for small trees, else
/// the edges, the powers of two around them and an even spread (SHA-256 in unoptimized
/// test builds is slow).
fn probe_points(n: u64) -> Vec<u64> {
    if n <= 128 {
        return (0..n).collect();
    }
    let mut v: Vec<u64> = vec![0, 1, n / 2, n - 2, n - 1];
    let mut p = 1;
    while p < n {
        v.extend([p - 1, p, (p + 1).min(n - 1)]);
        p *= 2;
    }
    let step = n / 7;
    v.extend((1..7).map(|i| i * step + i));
    v.retain(|&x| x < n);
    v.sort_unstable();
    v.dedup();
    v
}

fn check_size(tree: &MerkleTree, naive: &mut Naive, n: usize) {
    let size = n as u64;
    let root = naive.mth(0, n);
    assert_eq!(tree.root_at(size).unwrap(), root, "root at size {n}");
    for m in probe_points(size) {
        let proof = tree.inclusion_proof(m, size).unwrap();
        assert_eq!(proof, naive.path(m as usize, 0, n), "PATH({m}, D[{n}])");
        let leaf = naive.d[m as usize];
        verify_inclusion(m, size, &leaf, &proof, &root).unwrap();
    }
    for m in probe_points(size + 1) {
        let old_root = naive.mth(0, m as usize);
        let proof = tree.consistency_proof(m, size).unwrap();
        let want = if m == 0 {
            vec![]
        } else {
            naive.proof(m as usize, n)
        };
        assert_eq!(proof, want, "PROOF({m}, D[{n}])");
        verify_consistency(m, size, &old_root, &root, &proof).unwrap();
    }
}

#[test]
fn matches_naive_rfc6962_for_every_size_up_to_1000() {
    let d = leaves(1000);
    let mut naive = Naive::new(&d);
    let mut tree = MerkleTree::new();
    for (i, h) in d.iter().enumerate() {
        tree.push_leaf_hash(*h);
        // The root right after each append equals MTH of the prefix.
        assert_eq!(tree.root(), naive.mth(0, i + 1), "root after push {i}");
    }
    // Queries at every historical size of the 1,000-leaf tree.
    for n in 1..=1000 {
        check_size(&tree, &mut naive, n);
    }
}

#[test]
fn small_trees_exhaustive_all_pairs() {
    // Every (m, n) pair for n <= 64, on a tree that is exactly n leaves big.
    let d = leaves(64);
    let mut naive = Naive::new(&d);
    for n in 1..=64usize {
        let tree = MerkleTree::from_leaf_hashes(d[..n].iter().copied());
        assert_eq!(tree.size(), n as u64);
        assert_eq!(tree.root(), naive.mth(0, n));
        check_size(&tree, &mut naive, n);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn matches_naive_rfc6962_for_random_larger_sizes(
        n in 1001u64..20_000,
        m_seed in any::<u64>(),
        old_seed in any::<u64>(),
    ) {
        let d = leaves(n as usize);
        let tree = MerkleTree::from_leaf_hashes(d.iter().copied());
        let mut naive = Naive::new(&d);
        let root = naive.mth(0, d.len());
        prop_assert_eq!(tree.root(), root);

        let m = m_seed % n;
        let proof = tree.inclusion_proof(m, n).unwrap();
        prop_assert_eq!(&proof, &naive.path(m as usize, 0, d.len()));
        prop_assert!(verify_inclusion(m, n, &d[m as usize], &proof, &root).is_ok());

        let old = 1 + old_seed % n;
        let old_root = naive.mth(0, old as usize);
        prop_assert_eq!(tree.root_at(old).unwrap(), old_root);
        let proof = tree.consistency_proof(old, n).unwrap();
        prop_assert_eq!(&proof, &naive.proof(old as usize, d.len()));
        prop_assert!(verify_consistency(old, n, &old_root, &root, &proof).is_ok());
    }
}
