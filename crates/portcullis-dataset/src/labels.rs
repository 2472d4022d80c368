//! `LABEL_ERROR`: labels a cross-validated classifier confidently disagrees with, the
//! confident-learning method behind cleanlab's `find_label_issues`.
//!
//! The classifier is a multinomial logistic regression over the records' hashed input
//! n-grams (the same hashes the backdoor detector uses, so nothing is re-read), trained
//! with SGD. Every record gets out-of-fold probabilities from `k` folds. Then, as in
//! cleanlab (Northcutt et al., "Confident Learning", 2021, `filter_by =
//! "prune_by_noise_rate"`):
//!
//! 1. the per-class threshold `t_j` is the mean probability of class `j` over records
//!    labelled `j`;
//! 2. the confident joint counts, per (given, true) pair, the records whose most probable
//!    class among those at or above their threshold is `true`; it is calibrated so each
//!    row sums to the class's count;
//! 3. for each off-diagonal cell, that many records with the given label are taken, those
//!    with the largest margin `p[true] - p[given]`;
//! 4. records whose given label is also the model's argmax are dropped.

use crate::detect::Stats;
use std::collections::{HashMap, HashSet};

/// Settings of the label model.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LabelConfig {
    /// Cross-validation folds.
    pub folds: usize,
    /// Passes over the training folds.
    pub epochs: usize,
    /// Hash buckets, as a power of two.
    pub bits: u32,
    /// SGD step size.
    pub learning_rate: f32,
    /// L2 penalty per step.
    pub l2: f32,
    /// Seed of the fold split and the SGD order.
    pub seed: u64,
}

impl Default for LabelConfig {
    fn default() -> Self {
        Self {
            folds: 5,
            epochs: 8,
            bits: 20,
            learning_rate: 0.5,
            l2: 5e-3,
            seed: 7,
        }
    }
}

/// Out-of-fold predictions.
#[derive(Debug, Clone)]
pub struct Oof {
    /// Class names, in index order.
    pub classes: Vec<String>,
    /// Given label index per record (`None` for records without a label).
    pub given: Vec<Option<usize>>,
    /// Probabilities, `records × classes`, row-major.
    pub probs: Vec<f32>,
}

impl Oof {
    /// The probability row of record `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        let k = self.classes.len();
        self.probs.get(i * k..(i + 1) * k).unwrap_or(&[])
    }

    /// The index of class `name`.
    pub fn class(&self, name: &str) -> Option<usize> {
        self.classes.iter().position(|c| c == name)
    }
}

/// A small deterministic generator (SplitMix64) for folds and SGD order.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed ^ 0x6a09_e667_f3bc_c909)
    }
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        crate::text::mix(self.0)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
    pub(crate) fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// Out-of-fold class probabilities for every labelled record, ignoring the n-grams in
/// `exclude`. `None` when fewer than two classes or too few records.
pub fn cross_val(stats: &[Stats], exclude: &HashSet<u32>, cfg: &LabelConfig) -> Option<Oof> {
    let mut classes: Vec<String> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut given = Vec::with_capacity(stats.len());
    for s in stats {
        given.push(s.label.as_deref().map(|l| {
            *index.entry(l).or_insert_with(|| {
                classes.push(l.to_string());
                classes.len() - 1
            })
        }));
    }
    let k = classes.len();
    let labelled: Vec<usize> = (0..stats.len()).filter(|&i| given[i].is_some()).collect();
    if k < 2 || labelled.len() < cfg.folds.max(2) * 4 {
        return None;
    }
    let mask = (1usize << cfg.bits) - 1;
    // Features per record: bucket indices (deduplicated), weight 1/sqrt(n).
    let feats: Vec<Vec<u32>> = stats
        .iter()
        .map(|s| {
            let mut v: Vec<u32> = s
                .ngrams
                .iter()
                .filter(|g| !exclude.contains(g))
                .map(|&g| (g as usize & mask) as u32)
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        })
        .collect();
    let mut rng = Rng::new(cfg.seed);
    let mut order = labelled.clone();
    rng.shuffle(&mut order);
    let folds = cfg.folds.max(2);
    let mut probs = vec![0.0f32; stats.len() * k];
    let mut w = vec![0.0f32; (mask + 1) * k];
    let mut bias = vec![0.0f32; k];
    let mut p = vec![0.0f32; k];
    for f in 0..folds {
        w.iter_mut().for_each(|x| *x = 0.0);
        bias.iter_mut().for_each(|x| *x = 0.0);
        let mut train: Vec<usize> = order
            .iter()
            .enumerate()
            .filter(|(j, _)| j % folds != f)
            .map(|(_, &i)| i)
            .collect();
        let mut step = 0usize;
        let total = (train.len() * cfg.epochs).max(1);
        for _ in 0..cfg.epochs {
            rng.shuffle(&mut train);
            for &i in &train {
                let (Some(x), Some(Some(y))) = (feats.get(i), given.get(i)) else {
                    continue;
                };
                let lr = cfg.learning_rate * (1.0 - step as f32 / total as f32).max(0.05);
                step += 1;
                let v = 1.0 / (x.len().max(1) as f32).sqrt();
                predict(&w, &bias, x, v, k, &mut p);
                for (c, pc) in p.iter().enumerate() {
                    let g = pc - if c == *y { 1.0 } else { 0.0 };
                    bias[c] -= lr * g * 0.1;
                    for &b in x {
                        let wi = &mut w[b as usize * k + c];
                        *wi -= lr * (g * v + cfg.l2 * *wi);
                    }
                }
            }
        }
        for (j, &i) in order.iter().enumerate() {
            if j % folds != f {
                continue;
            }
            if let Some(x) = feats.get(i) {
                let v = 1.0 / (x.len().max(1) as f32).sqrt();
                predict(&w, &bias, x, v, k, &mut p);
                probs[i * k..(i + 1) * k].copy_from_slice(&p);
            }
        }
    }
    Some(Oof {
        classes,
        given,
        probs,
    })
}

fn predict(w: &[f32], bias: &[f32], x: &[u32], v: f32, k: usize, out: &mut [f32]) {
    out.copy_from_slice(bias);
    for &b in x {
        let row = &w[b as usize * k..b as usize * k + k];
        for (o, r) in out.iter_mut().zip(row) {
            *o += r * v;
        }
    }
    let m = out.iter().copied().fold(f32::MIN, f32::max);
    let mut s = 0.0;
    for o in out.iter_mut() {
        *o = (*o - m).exp();
        s += *o;
    }
    for o in out.iter_mut() {
        *o /= s;
    }
}

/// One label issue.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelIssue {
    /// Record index.
    pub idx: usize,
    /// Given label index.
    pub given: usize,
    /// The model's class.
    pub suggested: usize,
    /// `p[suggested] - p[given]`.
    pub margin: f32,
    /// `p[given]`.
    pub self_confidence: f32,
}

/// Label issues by confident learning with pruning by noise rate (see the module docs).
pub fn label_issues(oof: &Oof) -> Vec<LabelIssue> {
    let k = oof.classes.len();
    let n = oof.given.len();
    let mut sum = vec![0.0f64; k];
    let mut cnt = vec![0usize; k];
    for i in 0..n {
        if let Some(y) = oof.given[i] {
            sum[y] += f64::from(oof.row(i)[y]);
            cnt[y] += 1;
        }
    }
    let thr: Vec<f32> = (0..k)
        .map(|j| {
            if cnt[j] == 0 {
                1.0
            } else {
                (sum[j] / cnt[j] as f64) as f32
            }
        })
        .collect();
    let mut joint = vec![0.0f64; k * k];
    for i in 0..n {
        let Some(y) = oof.given[i] else { continue };
        let row = oof.row(i);
        let best = (0..k)
            .filter(|&j| row[j] >= thr[j])
            .max_by(|&a, &b| row[a].total_cmp(&row[b]));
        if let Some(j) = best {
            joint[y * k + j] += 1.0;
        }
    }
    // Calibrate rows to the class counts.
    for y in 0..k {
        let row_sum: f64 = joint[y * k..(y + 1) * k].iter().sum();
        if row_sum > 0.0 {
            for j in 0..k {
                joint[y * k + j] *= cnt[y] as f64 / row_sum;
            }
        }
    }
    let mut flagged: HashMap<usize, LabelIssue> = HashMap::new();
    for y in 0..k {
        let members: Vec<usize> = (0..n).filter(|&i| oof.given[i] == Some(y)).collect();
        for j in 0..k {
            if j == y {
                continue;
            }
            let num = joint[y * k + j].round() as usize;
            if num == 0 {
                continue;
            }
            let mut by_margin: Vec<(f32, usize)> = members
                .iter()
                .map(|&i| (oof.row(i)[j] - oof.row(i)[y], i))
                .collect();
            by_margin.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            for &(m, i) in by_margin.iter().take(num) {
                let row = oof.row(i);
                let argmax = (0..k)
                    .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                    .unwrap_or(y);
                if argmax == y {
                    continue;
                }
                let e = flagged.entry(i).or_insert(LabelIssue {
                    idx: i,
                    given: y,
                    suggested: argmax,
                    margin: m,
                    self_confidence: row[y],
                });
                e.margin = e.margin.max(row[argmax] - row[y]);
            }
        }
    }
    let mut v: Vec<LabelIssue> = flagged.into_values().collect();
    v.sort_by_key(|x| x.idx);
    v
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::format::{Field, Record};

    fn rec(text: &str, label: &str) -> Stats {
        crate::detect::stats(&Record {
            prompts: vec![Field {
                name: "text".into(),
                text: text.into(),
            }],
            responses: vec![],
            label: Some(label.into()),
        })
    }

    #[test]
    fn finds_flipped_labels() {
        let mut rng = Rng::new(1);
        let pos = [
            "great",
            "wonderful",
            "excellent",
            "lovely",
            "superb",
            "happy",
        ];
        let neg = ["awful", "terrible", "horrible", "dreadful", "bad", "sad"];
        let filler = [
            "the", "movie", "was", "film", "plot", "really", "acting", "story",
        ];
        let mut stats = Vec::new();
        let mut flipped = Vec::new();
        for i in 0..400 {
            let positive = i % 2 == 0;
            let words = if positive { &pos } else { &neg };
            let mut t = Vec::new();
            for _ in 0..8 {
                t.push(filler[rng.below(filler.len())]);
                t.push(words[rng.below(words.len())]);
            }
            let mut label = if positive { "pos" } else { "neg" };
            if i % 25 == 3 {
                label = if positive { "neg" } else { "pos" };
                flipped.push(i);
            }
            stats.push(rec(&t.join(" "), label));
        }
        let oof = cross_val(&stats, &HashSet::new(), &LabelConfig::default()).unwrap();
        let issues: Vec<usize> = label_issues(&oof).into_iter().map(|x| x.idx).collect();
        let hit = flipped.iter().filter(|i| issues.contains(i)).count();
        assert!(
            hit * 10 >= flipped.len() * 9,
            "{hit}/{} {issues:?}",
            flipped.len()
        );
        assert!(issues.len() <= flipped.len() + 4, "{issues:?}");
    }
}
