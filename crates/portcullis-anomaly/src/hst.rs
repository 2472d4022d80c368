//! Half-Space Trees (Tan, Ting and Liu, "Fast anomaly detection for streaming data",
//! IJCAI 2011): a streaming, constant-memory, multivariate anomaly detector.
//!
//! Why it is written here: the brief asked for a well-kept crate first. `rcflib` (AWS's
//! Random Cut Forest) is not in the registry this project builds from (`cargo info
//! rcflib` finds nothing), and no other maintained Random Cut Forest or Half-Space Trees
//! crate is available; the algorithm is about a hundred lines, so it lives here, with
//! tests.
//!
//! Each tree halves a random dimension of the unit cube at every level, down to a fixed
//! depth. Instances are counted in the nodes they pass (the *latest* mass); every
//! `window` instances the latest mass becomes the *reference* mass and counting starts
//! again. An instance's score is the sum over trees of `reference mass × 2^depth` at
//! the deepest node on its path that still holds at least `size_limit` reference
//! instances: dense regions score high, rare regions low. Features must be scaled into
//! [0, 1]; values outside are clamped.

use crate::SplitMix64;

/// One node: its split (unused in leaves) and its two masses, together in 16 bytes so a
/// visit touches one cache line.
#[derive(Debug, Clone, Copy, Default)]
struct Node {
    split_val: f32,
    split_dim: u8,
    reference: u32,
    latest: u32,
}

/// A forest of Half-Space Trees.
#[derive(Debug, Clone)]
pub struct HalfSpaceTrees {
    dims: usize,
    depth: usize,
    window: usize,
    size_limit: u32,
    /// Per tree, in heap order, `nodes` nodes each.
    nodes: Vec<Node>,
    seen_in_window: usize,
    windows_done: u64,
    per_tree: usize,
    trees: usize,
}

impl HalfSpaceTrees {
    /// A forest of `trees` trees of `depth` levels over `dims` features (at most 255),
    /// learning in windows of `window` instances.
    pub fn new(dims: usize, trees: usize, depth: usize, window: usize, seed: u64) -> Self {
        let dims = dims.clamp(1, 255);
        let depth = depth.clamp(1, 20);
        let per_tree = (1usize << (depth + 1)) - 1;
        let internal = (1usize << depth) - 1;
        let mut rng = SplitMix64::new(seed);
        let mut nodes = Vec::with_capacity(trees * per_tree);
        let mut lo = vec![0f32; dims];
        let mut hi = vec![0f32; dims];
        for _ in 0..trees {
            // A random work space around the unit cube, so splits are not all at 0.5.
            for (l, h) in lo.iter_mut().zip(hi.iter_mut()) {
                let s = rng.f64() as f32;
                let r = 2.0 * s.max(1.0 - s);
                *l = s - r;
                *h = s + r;
            }
            let mut tree_dim = vec![0u8; internal];
            let mut tree_val = vec![0f32; internal];
            build(
                &mut rng,
                0,
                &mut lo,
                &mut hi,
                &mut tree_dim,
                &mut tree_val,
                internal,
            );
            for i in 0..per_tree {
                nodes.push(Node {
                    split_val: tree_val.get(i).copied().unwrap_or(0.5),
                    split_dim: tree_dim.get(i).copied().unwrap_or(0),
                    reference: 0,
                    latest: 0,
                });
            }
        }
        Self {
            dims,
            depth,
            window: window.max(1),
            size_limit: ((window as f64 * 0.01).round() as u32).max(1),
            nodes,
            seen_in_window: 0,
            windows_done: 0,
            per_tree,
            trees,
        }
    }

    /// Whether a full reference window has been learned (scores mean something).
    pub fn ready(&self) -> bool {
        self.windows_done > 0
    }

    /// The number of features.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// The highest possible score (every tree at full depth with the whole window), for
    /// normalization.
    pub fn max_score(&self) -> f64 {
        self.trees as f64 * self.window as f64 * (1u64 << self.depth) as f64
    }

    /// Scores `x` against the reference mass, then counts it in the latest mass. Lower
    /// is more anomalous; 0 until the first window is complete.
    pub fn score_and_update(&mut self, x: &[f32]) -> f64 {
        let mut xs = [0f32; 256];
        for (d, v) in xs.iter_mut().zip(x) {
            // NaN becomes 0; everything is clamped into the unit cube.
            *d = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
        }
        let mut score = 0u64;
        for tree in self.nodes.chunks_exact_mut(self.per_tree) {
            let mut node = 0usize;
            let mut scoring = true;
            for level in 0..=self.depth {
                let Some(n) = tree.get_mut(node) else { break };
                if scoring && (n.reference < self.size_limit || level == self.depth) {
                    score += u64::from(n.reference) << level;
                    scoring = false;
                }
                n.latest = n.latest.saturating_add(1);
                if level == self.depth {
                    break;
                }
                let xv = xs.get(n.split_dim as usize).copied().unwrap_or(0.0);
                node = 2 * node + if xv < n.split_val { 1 } else { 2 };
            }
        }
        self.seen_in_window += 1;
        if self.seen_in_window >= self.window {
            for n in &mut self.nodes {
                n.reference = n.latest;
                n.latest = 0;
            }
            self.seen_in_window = 0;
            self.windows_done += 1;
        }
        if self.windows_done == 0 {
            0.0
        } else {
            score as f64
        }
    }
}

fn build(
    rng: &mut SplitMix64,
    node: usize,
    lo: &mut [f32],
    hi: &mut [f32],
    dims: &mut [u8],
    vals: &mut [f32],
    internal: usize,
) {
    if node >= internal {
        return;
    }
    let q = rng.below(lo.len() as u64) as usize;
    let (Some(l), Some(h)) = (lo.get(q).copied(), hi.get(q).copied()) else {
        return;
    };
    let mid = (l + h) / 2.0;
    if let (Some(d), Some(v)) = (dims.get_mut(node), vals.get_mut(node)) {
        *d = q as u8;
        *v = mid;
    }
    if let Some(slot) = hi.get_mut(q) {
        *slot = mid;
    }
    build(rng, 2 * node + 1, lo, hi, dims, vals, internal);
    if let (Some(hs), Some(ls)) = (hi.get_mut(q), lo.get_mut(q)) {
        *hs = h;
        *ls = mid;
    }
    build(rng, 2 * node + 2, lo, hi, dims, vals, internal);
    if let Some(ls) = lo.get_mut(q) {
        *ls = l;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outlier_scores_lower_than_the_crowd() {
        let mut f = HalfSpaceTrees::new(3, 25, 8, 512, 1);
        let mut rng = SplitMix64::new(9);
        let crowd = |rng: &mut SplitMix64| {
            [
                0.2 + 0.05 * rng.normal() as f32,
                0.3 + 0.05 * rng.normal() as f32,
                0.25 + 0.05 * rng.normal() as f32,
            ]
        };
        assert!(!f.ready());
        for _ in 0..2048 {
            let x = crowd(&mut rng);
            f.score_and_update(&x);
        }
        assert!(f.ready());
        let normal: f64 = (0..200)
            .map(|_| {
                let x = crowd(&mut rng);
                f.score_and_update(&x)
            })
            .sum::<f64>()
            / 200.0;
        let outlier = f.score_and_update(&[0.95, 0.9, 0.97]);
        assert!(
            outlier < normal * 0.2,
            "outlier {outlier} vs normal {normal}"
        );
        assert!(normal <= f.max_score());
    }

    #[test]
    fn same_seed_same_scores() {
        let mut a = HalfSpaceTrees::new(2, 5, 6, 16, 3);
        let mut b = HalfSpaceTrees::new(2, 5, 6, 16, 3);
        for i in 0..100 {
            let x = [(i % 7) as f32 / 7.0, (i % 3) as f32 / 3.0];
            assert_eq!(a.score_and_update(&x), b.score_and_update(&x));
        }
    }

    #[test]
    fn odd_input_never_panics() {
        let mut f = HalfSpaceTrees::new(2, 3, 4, 4, 0);
        for x in [[f32::NAN, 2.0], [-1.0, f32::INFINITY], [0.5, 0.5]] {
            f.score_and_update(&x);
            f.score_and_update(&x[..1]);
        }
    }
}
