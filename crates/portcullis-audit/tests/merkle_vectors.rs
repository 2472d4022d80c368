//! Known-answer tests for the Merkle tree, with vectors copied from transparency-dev/merkle:
//! - `testonly/constants.go`: `LeafInputs`, `NodeHashes`, `RootHashes`;
//! - `proof/verify_test.go`: `inclusionProofs`, `consistencyProofs`, `roots`, and the
//!   corruption probes of `corruptInclusionProof` / `corruptConsistencyProof`;
//! - `rfc6962/rfc6962_test.go`: the hasher vectors.
//!
//! These are the reference tests shared with certificate-transparency-go's `merkletree`
//! package (the same eight leaves and roots).

// Test code: unwrap/expect/panic are the point of an assertion here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_audit::merkle::{
    self, empty_root, leaf_hash, merkle_tree_hash, root_from_inclusion_proof,
    root_from_leaf_hashes, verify_consistency, verify_inclusion, Hash, MerkleError, MerkleTree,
};

fn h(s: &str) -> Hash {
    hex::decode(s).unwrap().try_into().unwrap()
}

/// `testonly.LeafInputs()`.
fn leaf_inputs() -> Vec<Vec<u8>> {
    [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|s| hex::decode(s).unwrap())
    .collect()
}

/// `testonly.NodeHashes()`: `[level][index]` hashes of all complete subtrees.
fn node_hashes() -> Vec<Vec<Hash>> {
    vec![
        vec![
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
            h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
        ],
        vec![
            h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
        ],
        vec![
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
        vec![h(
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        )],
    ]
}

/// `testonly.RootHashes()`: roots of the trees of sizes 0..=8.
fn root_hashes() -> Vec<Hash> {
    vec![
        h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
        h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
        h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
        h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
    ]
}

/// `verify_test.go` `inclusionProofs`: (1-based leaf, tree size, proof).
fn inclusion_vectors() -> Vec<(u64, u64, Vec<Hash>)> {
    vec![
        (1, 1, vec![]),
        (
            1,
            8,
            vec![
                h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            ],
        ),
        (
            6,
            8,
            vec![
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
        (
            3,
            3,
            vec![h(
                "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            )],
        ),
        (
            2,
            5,
            vec![
                h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            ],
        ),
    ]
}

/// `verify_test.go` `consistencyProofs`: (size1, size2, proof).
fn consistency_vectors() -> Vec<(u64, u64, Vec<Hash>)> {
    vec![
        (1, 1, vec![]),
        (
            1,
            8,
            vec![
                h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            ],
        ),
        (
            6,
            8,
            vec![
                h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
        (
            2,
            5,
            vec![
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            ],
        ),
        (
            6,
            7,
            vec![
                h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
    ]
}

/// `sha256SomeHash` from `verify_test.go`.
fn some_hash() -> Hash {
    h("abacaba000000000000000000000000000000000000000000060061e00123456")
}

fn full_tree() -> MerkleTree {
    let mut tree = MerkleTree::new();
    for leaf in leaf_inputs() {
        tree.push(&leaf);
    }
    tree
}

#[test]
fn rfc6962_hasher_vectors() {
    // rfc6962_test.go: empty root, empty leaf, leaf "L123456".
    assert_eq!(
        empty_root(),
        h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    );
    assert_eq!(
        leaf_hash(b""),
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    );
    assert_eq!(
        leaf_hash(b"L123456"),
        h("395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56")
    );
    // Domain separation: a node is not the leaf hash of its children's concatenation, and
    // order matters (rfc6962_test.go TestRFC6962HasherCollisions).
    let (a, b) = (leaf_hash(b"Hello"), leaf_hash(b"World"));
    assert_ne!(a, b);
    assert_ne!(merkle::node_hash(&a, &b), leaf_hash(&[a, b].concat()));
    assert_ne!(merkle::node_hash(&a, &b), merkle::node_hash(&b, &a));
}

#[test]
fn leaf_and_node_hashes_match_testonly_constants() {
    let leaves = leaf_inputs();
    let nodes = node_hashes();
    let leaf_hashes: Vec<Hash> = leaves.iter().map(|l| leaf_hash(l)).collect();
    assert_eq!(leaf_hashes, nodes[0]);
    for (level, hashes) in nodes.iter().enumerate() {
        let width = 1usize << level;
        for (i, want) in hashes.iter().enumerate() {
            let got = root_from_leaf_hashes(&leaf_hashes[i * width..(i + 1) * width]);
            assert_eq!(&got, want, "level {level} index {i}");
        }
    }
    let tree = full_tree();
    for (i, want) in nodes[0].iter().enumerate() {
        assert_eq!(tree.leaf_hash_at(i as u64), Some(*want));
    }
    assert_eq!(tree.leaf_hash_at(8), None);
}

#[test]
fn roots_for_sizes_0_to_8() {
    let leaves = leaf_inputs();
    let roots = root_hashes();
    let mut tree = MerkleTree::new();
    assert_eq!(tree.root(), roots[0]);
    for (i, leaf) in leaves.iter().enumerate() {
        assert_eq!(tree.push(leaf), i as u64);
        assert_eq!(tree.size(), i as u64 + 1);
        assert_eq!(
            tree.root(),
            roots[i + 1],
            "incremental root at size {}",
            i + 1
        );
        assert_eq!(
            merkle_tree_hash(&leaves[..=i]),
            roots[i + 1],
            "MTH at size {}",
            i + 1
        );
    }
    for (size, want) in roots.iter().enumerate() {
        assert_eq!(tree.root_at(size as u64).unwrap(), *want, "root_at({size})");
    }
    assert_eq!(
        tree.root_at(9),
        Err(MerkleError::SizeOutOfRange {
            requested: 9,
            available: 8
        })
    );
    // Rebuilding from leaf hashes gives the same tree.
    let rebuilt = MerkleTree::from_leaf_hashes(tree.leaf_hashes().iter().copied());
    assert_eq!(rebuilt, tree);
}

#[test]
fn inclusion_proofs_match_vectors_and_verify() {
    let tree = full_tree();
    let roots = root_hashes();
    let leaves = leaf_inputs();
    for (leaf, size, want) in inclusion_vectors() {
        let index = leaf - 1;
        let got = tree.inclusion_proof(index, size).unwrap();
        assert_eq!(got, want, "proof for leaf {index} in tree {size}");
        let lh = leaf_hash(&leaves[index as usize]);
        let root = roots[size as usize];
        assert_eq!(
            root_from_inclusion_proof(index, size, &lh, &want).unwrap(),
            root
        );
        verify_inclusion(index, size, &lh, &want, &root).unwrap();
        for (desc, i, s, l, p, r) in corrupt_inclusion(index, size, &want, &root, &lh) {
            assert!(
                verify_inclusion(i, s, &l, &p, &r).is_err(),
                "corrupted inclusion proof verified: {desc} (leaf {index}, size {size})"
            );
        }
    }
}

type InclusionProbe = (&'static str, u64, u64, Hash, Vec<Hash>, Hash);

/// `corruptInclusionProof` from verify_test.go (garbage of the wrong length cannot be
/// expressed with fixed-size hashes, so "garbage" is a zero hash here).
fn corrupt_inclusion(
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
    leaf: &Hash,
) -> Vec<InclusionProbe> {
    let zero = [0u8; 32];
    let with = |mut p: Vec<Hash>, front: Option<Hash>, back: Option<Hash>| {
        if let Some(f) = front {
            p.insert(0, f);
        }
        if let Some(b) = back {
            p.push(b);
        }
        p
    };
    let p = proof.to_vec();
    let mut probes: Vec<InclusionProbe> = vec![
        (
            "index - 1",
            index.wrapping_sub(1),
            size,
            *leaf,
            p.clone(),
            *root,
        ),
        ("index + 1", index + 1, size, *leaf, p.clone(), *root),
        ("index ^ 2", index ^ 2, size, *leaf, p.clone(), *root),
        ("size * 2", index, size * 2, *leaf, p.clone(), *root),
        ("size / 2", index, size / 2, *leaf, p.clone(), *root),
        (
            "wrong leaf",
            index,
            size,
            leaf_hash(b"WrongLeaf"),
            p.clone(),
            *root,
        ),
        ("empty root", index, size, *leaf, p.clone(), empty_root()),
        ("random root", index, size, *leaf, p.clone(), some_hash()),
        (
            "trailing garbage",
            index,
            size,
            *leaf,
            with(p.clone(), None, Some(zero)),
            *root,
        ),
        (
            "trailing root",
            index,
            size,
            *leaf,
            with(p.clone(), None, Some(*root)),
            *root,
        ),
        (
            "preceding garbage",
            index,
            size,
            *leaf,
            with(p.clone(), Some(zero), None),
            *root,
        ),
        (
            "preceding root",
            index,
            size,
            *leaf,
            with(p.clone(), Some(*root), None),
            *root,
        ),
    ];
    for i in 0..p.len() {
        let mut q = p.clone();
        q[i][0] ^= 8;
        probes.push(("modified proof bit 3", index, size, *leaf, q, *root));
    }
    if !p.is_empty() {
        probes.push((
            "removed component",
            index,
            size,
            *leaf,
            p[..p.len() - 1].to_vec(),
            *root,
        ));
    }
    if p.len() > 1 {
        let mut q = vec![p[0], some_hash()];
        q.extend_from_slice(&p[1..]);
        probes.push(("inserted component", index, size, *leaf, q, *root));
    }
    probes
}

#[test]
fn consistency_proofs_match_vectors_and_verify() {
    let tree = full_tree();
    let roots = root_hashes();
    for (size1, size2, want) in consistency_vectors() {
        let got = tree.consistency_proof(size1, size2).unwrap();
        assert_eq!(got, want, "consistency proof {size1} -> {size2}");
        let (r1, r2) = (roots[size1 as usize], roots[size2 as usize]);
        verify_consistency(size1, size2, &r1, &r2, &want).unwrap();
        if want.is_empty() {
            continue; // verify_test.go probes only non-trivial proofs
        }
        for (desc, s1, s2, a, b, p) in corrupt_consistency(size1, size2, &r1, &r2, &want) {
            assert!(
                verify_consistency(s1, s2, &a, &b, &p).is_err(),
                "corrupted consistency proof verified: {desc} ({size1} -> {size2})"
            );
        }
    }
}

type ConsistencyProbe = (&'static str, u64, u64, Hash, Hash, Vec<Hash>);

/// `corruptConsistencyProof` from verify_test.go.
fn corrupt_consistency(
    s1: u64,
    s2: u64,
    r1: &Hash,
    r2: &Hash,
    proof: &[Hash],
) -> Vec<ConsistencyProbe> {
    let wrong = leaf_hash(b"WrongRoot");
    let zero = [0u8; 32];
    let p = proof.to_vec();
    let front = |x: Hash| [vec![x], p.clone()].concat();
    let back = |x: Hash| [p.clone(), vec![x]].concat();
    let mut probes: Vec<ConsistencyProbe> = vec![
        ("size1 - 1", s1 - 1, s2, *r1, *r2, p.clone()),
        ("size1 + 1", s1 + 1, s2, *r1, *r2, p.clone()),
        ("size1 ^ 2", s1 ^ 2, s2, *r1, *r2, p.clone()),
        ("size2 * 2", s1, s2 * 2, *r1, *r2, p.clone()),
        ("size2 / 2", s1, s2 / 2, *r1, *r2, p.clone()),
        ("wrong root1", s1, s2, wrong, *r2, p.clone()),
        ("wrong root2", s1, s2, *r1, wrong, p.clone()),
        ("swapped roots", s1, s2, *r2, *r1, p.clone()),
        ("empty proof", s1, s2, *r1, *r2, vec![]),
        ("trailing garbage", s1, s2, *r1, *r2, back(zero)),
        ("trailing root1", s1, s2, *r1, *r2, back(*r1)),
        ("trailing root2", s1, s2, *r1, *r2, back(*r2)),
        ("preceding garbage", s1, s2, *r1, *r2, front(zero)),
        ("preceding root1", s1, s2, *r1, *r2, front(*r1)),
        ("preceding root2", s1, s2, *r1, *r2, front(*r2)),
        ("preceding proof[0]", s1, s2, *r1, *r2, front(p[0])),
        (
            "truncated proof",
            s1,
            s2,
            *r1,
            *r2,
            p[..p.len() - 1].to_vec(),
        ),
    ];
    for i in 0..p.len() {
        let mut q = p.clone();
        q[i][0] ^= 16;
        probes.push(("modified proof bit 4", s1, s2, *r1, *r2, q));
    }
    probes
}

#[test]
fn consistency_edge_cases() {
    // After verify_test.go TestVerifyConsistency, with this crate's stricter empty-tree rule.
    let (a, b) = (leaf_hash(b"don't care 1"), leaf_hash(b"don't care 2"));
    let e = empty_root();
    // Equal sizes: empty proof and equal roots.
    assert!(verify_consistency(0, 0, &e, &e, &[]).is_ok());
    assert!(verify_consistency(1, 1, &b, &b, &[]).is_ok());
    assert!(verify_consistency(1, 1, &a, &b, &[]).is_err());
    assert!(verify_consistency(0, 0, &a, &a, &[]).is_err()); // not the empty-tree hash
                                                             // The empty tree is a prefix of every tree.
    assert!(verify_consistency(0, 1, &e, &b, &[]).is_ok());
    assert!(verify_consistency(0, 1, &a, &b, &[]).is_err());
    // Time travel to the past.
    assert!(matches!(
        verify_consistency(1, 0, &a, &b, &[]),
        Err(MerkleError::SizesReversed { .. })
    ));
    assert!(verify_consistency(2, 1, &a, &b, &[]).is_err());
    // Empty proof for different sizes.
    assert!(verify_consistency(1, 2, &a, &b, &[]).is_err());
    // Roots match but the proof is not empty.
    assert!(verify_consistency(0, 0, &e, &e, &[e]).is_err());
    assert!(verify_consistency(0, 1, &e, &e, &[e]).is_err());
    assert!(verify_consistency(1, 1, &e, &e, &[e]).is_err());
}

#[test]
fn inclusion_edge_cases() {
    // verify_test.go TestVerifyInclusionSingleEntry and TestVerifyInclusion probes.
    let hash = leaf_hash(b"data");
    assert!(verify_inclusion(0, 1, &hash, &[], &hash).is_ok());
    assert!(verify_inclusion(0, 1, &hash, &[], &some_hash()).is_err());
    for (index, size) in [(0, 0), (1, 0), (2, 1)] {
        assert!(matches!(
            verify_inclusion(index, size, &some_hash(), &[], &empty_root()),
            Err(MerkleError::IndexOutOfRange { .. })
        ));
    }
    let tree = full_tree();
    assert!(tree.inclusion_proof(8, 8).is_err());
    assert!(tree.inclusion_proof(0, 9).is_err());
    assert!(tree.inclusion_proof(3, 3).is_err());
    assert!(tree.consistency_proof(5, 4).is_err());
    assert!(tree.consistency_proof(1, 9).is_err());
    assert_eq!(tree.consistency_proof(0, 8).unwrap(), Vec::<Hash>::new());
    assert_eq!(tree.consistency_proof(8, 8).unwrap(), Vec::<Hash>::new());
}
