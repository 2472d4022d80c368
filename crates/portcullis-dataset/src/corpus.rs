//! Corpus detectors: findings that only exist across records. They run after the first
//! pass, on the compact [`Stats`] of every record, never on the text.
//!
//! * `BACKDOOR_TRIGGER` ([`backdoor_candidates`]): a target is a response feature (the
//!   whole normalized response, one of its sentences, a URL or host) or a label. For every
//!   input n-gram `g` (1–3 tokens) that occurs in at least `min_support` records carrying
//!   a frequent target `t`, the association is tested: `g` must predict `t` (at least
//!   `min_confidence` of the records with `g` carry `t`) and the co-occurrence must be
//!   improbable under independence (binomial upper tail at `t`'s base rate, as
//!   `-log10 p`). Near-duplicate inputs are not evidence of a trigger (they are a
//!   flood), so the records must have diverse inputs. For labels, whose base rates are
//!   high and where honest shortcut features exist (a template placeholder only jailbreaks
//!   use), the scanner also asks a cross-validated classifier trained *without* the
//!   candidate n-grams whether the rest of the text supports the label: a planted trigger
//!   sits on records whose content says otherwise ([`crate::labels`]).
//! * `LABEL_CONFLICT` and `DUPLICATE_FLOOD` ([`near_duplicates`]): MinHash signatures of
//!   the inputs' word bigrams, banded for locality-sensitive hashing, find candidate
//!   pairs; two records whose inputs' Jaccard similarity (exact over their n-gram sets
//!   when both are whole, see `similarity`) is above the bar are near-duplicates: with
//!   the same answer (label, or response SimHash within a few bits) they join a duplicate
//!   cluster, and a cluster of `flood_min` or more is a flood; with different answers
//!   they conflict.
//! * `OUTLIER` ([`outliers`]): robust z-scores (median and MAD) of log lengths and of the
//!   shares of digits, symbols and upper-case letters, plus the rarity of the record's
//!   dominant script.

use crate::detect::{Stats, OUTLIER_FEATURES, OUTLIER_NAMES, SCRIPTS, T_LABEL};
use crate::report::FindingType;
use crate::text::{self, FastMap, FastSet};

/// Settings of the corpus detectors.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CorpusConfig {
    /// Fewest records carrying a trigger and its target.
    pub min_support: u32,
    /// Least share of the records with the n-gram that must carry the target.
    pub min_confidence: f32,
    /// Least `-log10 p` of the association.
    pub min_significance: f32,
    /// Most share of records an n-gram may occur in to count as rare.
    pub max_trigger_share: f32,
    /// Most share of records a response feature may occur in to be a backdoor target
    /// (more common ones are boilerplate; labels are always targets).
    pub max_target_share: f32,
    /// Least Jaccard similarity of inputs to be near-duplicates.
    pub near_dup_jaccard: f32,
    /// Similarity at which inputs count as the same question: different answers then
    /// conflict whichever fits better (below it, paraphrases with a changed clause may
    /// rightly have different answers, so only the clearly worse-fitting record is
    /// reported). Applies to inputs whose n-gram sets are whole; longer inputs count as
    /// the same only when their token sequences are. Set on the generator's development
    /// seeds 1–10 (0.99 missed planted one-word edits; 0.92 and below flagged clean
    /// records).
    pub conflict_jaccard: f32,
    /// Most SimHash bit difference for two responses to be "the same answer".
    pub same_answer_bits: u32,
    /// Fewest near-identical records that make a flood.
    pub flood_min: usize,
    /// Robust z-score at which an outlier scores 0.5.
    pub outlier_z: f32,
    /// A dominant script used by fewer than this share of records is an outlier.
    pub rare_script_share: f32,
}

impl Default for CorpusConfig {
    fn default() -> Self {
        Self {
            min_support: 5,
            min_confidence: 0.9,
            min_significance: 10.0,
            max_trigger_share: 0.1,
            max_target_share: 0.1,
            near_dup_jaccard: 0.7,
            conflict_jaccard: 0.95,
            same_answer_bits: 8,
            flood_min: 6,
            outlier_z: 8.0,
            rare_script_share: 0.005,
        }
    }
}

/// A corpus finding for record `idx` (index into the stats, not the line).
#[derive(Debug, Clone, PartialEq)]
pub struct CorpusFinding {
    /// Record index.
    pub idx: usize,
    /// What was found.
    pub kind: FindingType,
    /// Confidence in `0..=1`.
    pub score: f32,
    /// What to show.
    pub evidence: Evidence,
}

/// Evidence of a corpus finding; triggers are rendered from the text in the second pass.
#[derive(Debug, Clone, PartialEq)]
pub enum Evidence {
    /// Ready to show.
    Text(String),
    /// A trigger n-gram (hash) and its target (hash), with the association's numbers.
    Trigger {
        /// The n-gram's hash.
        ngram: u32,
        /// The target's hash.
        target: u64,
        /// Records with the n-gram and the target.
        support: u32,
        /// Records with the n-gram.
        df: u32,
        /// `-log10 p`.
        significance: f32,
    },
}

/// One candidate trigger association.
#[derive(Debug, Clone, PartialEq)]
pub struct Association {
    /// The n-gram's hash.
    pub ngram: u32,
    /// The target's hash.
    pub target: u64,
    /// Whether the target is a label (needs the classifier check).
    pub is_label: bool,
    /// Records with both.
    pub support: u32,
    /// Records with the n-gram.
    pub df: u32,
    /// `-log10 p`.
    pub significance: f32,
    /// Indices of the records with both.
    pub records: Vec<u32>,
}

/// `-log10` of the binomial upper tail `P(X >= k)`, `X ~ Bin(n, p)`.
pub fn binom_tail_log10(n: u32, k: u32, p: f64) -> f64 {
    if k == 0 {
        return 0.0;
    }
    if p <= 0.0 {
        return 300.0;
    }
    if p >= 1.0 || k > n {
        return if k > n { 300.0 } else { 0.0 };
    }
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    let ln_choose =
        |n: u32, k: u32| -> f64 { ln_gamma(n + 1) - ln_gamma(k + 1) - ln_gamma(n - k + 1) };
    // Sum the tail in log space from k upwards (terms shrink quickly past the mode).
    let mut terms: Vec<f64> = Vec::new();
    for i in k..=n {
        let t = ln_choose(n, i) + f64::from(i) * lp + f64::from(n - i) * lq;
        terms.push(t);
        if terms.len() > 64 && t < terms.iter().copied().fold(f64::MIN, f64::max) - 40.0 {
            break;
        }
    }
    let m = terms.iter().copied().fold(f64::MIN, f64::max);
    let s: f64 = terms.iter().map(|t| (t - m).exp()).sum();
    let ln_p = m + s.ln();
    (-ln_p / std::f64::consts::LN_10).clamp(0.0, 300.0)
}

/// `ln((n-1)!)` for positive integers (exact sum below 256, Stirling above).
fn ln_gamma(n: u32) -> f64 {
    if n < 2 {
        return 0.0;
    }
    let x = f64::from(n);
    if n < 256 {
        return (1..n).map(|i| f64::from(i).ln()).sum();
    }
    // Stirling series for ln Γ(x).
    (x - 0.5) * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI).ln() + 1.0 / (12.0 * x)
        - 1.0 / (360.0 * x * x * x)
}

/// Finds significant n-gram → target associations (see the module docs). Label
/// associations are returned unconfirmed: the caller checks them with the classifier.
pub fn backdoor_candidates(stats: &[Stats], cfg: &CorpusConfig) -> Vec<Association> {
    let n = stats.len();
    if n == 0 {
        return Vec::new();
    }
    // Counted on two cores, half of the records each (merged in record order).
    let (mut target_n, hi_n) = on_halves(stats, |_, part| {
        let mut m: FastMap<u64, u32> = FastMap::default();
        for s in part {
            for &t in &s.targets {
                *m.entry(t).or_default() += 1;
            }
        }
        m
    });
    for (t, c) in hi_n {
        *target_n.entry(t).or_default() += c;
    }
    let labels: FastSet<u64> = stats
        .iter()
        .filter_map(|s| s.label.as_ref())
        .map(|l| text::combine(T_LABEL, &[text::hash_bytes(l.as_bytes())]))
        .collect();
    let max_target = ((n as f32 * cfg.max_target_share) as u32).max(cfg.min_support);
    let frequent = |t: u64| -> bool {
        let c = target_n.get(&t).copied().unwrap_or(0);
        c >= cfg.min_support && (labels.contains(&t) || c <= max_target)
    };
    // Records per frequent target, in record order.
    let (mut by_target, hi_by) = on_halves(stats, |base, part| {
        let mut m: FastMap<u64, Vec<u32>> = FastMap::default();
        for (i, s) in part.iter().enumerate() {
            for &t in &s.targets {
                if frequent(t) {
                    m.entry(t).or_default().push((base + i) as u32);
                }
            }
        }
        m
    });
    for (t, v) in hi_by {
        by_target.entry(t).or_default().extend(v);
    }
    if by_target.is_empty() {
        return Vec::new();
    }
    let mut targets: Vec<u64> = by_target.keys().copied().collect();
    targets.sort_unstable();
    // Phase A: n-grams carried by at least `min_support` of a target's records. Targets
    // often share their records exactly (a repeated response and each of its sentences):
    // such targets form one group, counted once here and tested once in phase C (the test
    // depends only on the records: a target's base rate is its number of records).
    let mut group_targets: Vec<Vec<u64>> = Vec::new();
    // Groups by a hash of their record list (checked for equality).
    let mut by_records: FastMap<u64, Vec<usize>> = FastMap::default();
    for &t in &targets {
        let Some(recs) = by_target.get(&t) else {
            continue;
        };
        let key = recs
            .iter()
            .fold(0u64, |h, &i| text::mix(h ^ u64::from(i)).wrapping_add(1));
        let bucket = by_records.entry(key).or_default();
        let same = bucket.iter().copied().find(|&gi| {
            group_targets
                .get(gi)
                .and_then(|g| g.first())
                .and_then(|f| by_target.get(f))
                == Some(recs)
        });
        if let Some(group) = same.and_then(|gi| group_targets.get_mut(gi)) {
            group.push(t);
            continue;
        }
        bucket.push(group_targets.len());
        group_targets.push(vec![t]);
    }
    drop(by_records);
    // The counting, on every core (groups split into ranges of about equal work).
    let group_recs: Vec<&[u32]> = group_targets
        .iter()
        .map(|g| {
            g.first()
                .and_then(|t| by_target.get(t))
                .map_or(&[][..], |v| v.as_slice())
        })
        .collect();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let commons = common_ngrams(stats, &group_recs, cfg.min_support, threads);
    drop(group_recs);
    // Each candidate n-gram's slot in the document-frequency counts.
    let mut need_df: FastMap<u32, u32> = FastMap::default();
    let mut groups: Vec<TargetGroup> = Vec::with_capacity(group_targets.len());
    for (targets, common) in group_targets.into_iter().zip(commons) {
        for &(g, _) in &common {
            let slot = need_df.len() as u32;
            need_df.entry(g).or_insert(slot);
        }
        groups.push(TargetGroup { targets, common });
    }
    // Phase B: document frequency of those n-grams over all records, half the records
    // on each core (this step is otherwise serial).
    // Most n-grams of a record are not candidates: a bit per hash slot (about 16 per
    // candidate) rules most of them out before the map is probed.
    let filter_bits = (need_df.len() * 16)
        .next_power_of_two()
        .clamp(1 << 16, 1 << 28);
    let slot = |g: u32| (text::mix(u64::from(g)) as usize) & (filter_bits - 1);
    let mut filter = vec![0u64; filter_bits / 64];
    for &g in need_df.keys() {
        let b = slot(g);
        if let Some(w) = filter.get_mut(b / 64) {
            *w |= 1 << (b % 64);
        }
    }
    let df_of = |part: &[Stats]| -> Vec<u32> {
        let mut df = vec![0u32; need_df.len()];
        for s in part {
            for g in &s.ngrams {
                let b = slot(*g);
                if filter.get(b / 64).is_some_and(|w| w & (1 << (b % 64)) == 0) {
                    continue;
                }
                if let Some(c) = need_df.get(g).and_then(|&k| df.get_mut(k as usize)) {
                    *c += 1;
                }
            }
        }
        df
    };
    let (lo, hi) = stats.split_at(n / 2);
    let (mut doc_freq, df_hi) = std::thread::scope(|scope| {
        let h = scope.spawn(|| df_of(hi));
        (df_of(lo), h.join())
    });
    // A failed thread's half is counted again here rather than under-counted.
    let df_hi = df_hi.unwrap_or_else(|_| df_of(hi));
    for (a, b) in doc_freq.iter_mut().zip(df_hi) {
        *a += b;
    }
    let max_df = ((n as f32 * cfg.max_trigger_share) as u32).max(cfg.min_support * 2);
    // Phase C: the association test, once per group and n-gram.
    let mut out = Vec::new();
    for group in &groups {
        let Some(&t0) = group.targets.first() else {
            continue;
        };
        for &(g, support) in &group.common {
            let df = need_df
                .get(&g)
                .and_then(|&k| doc_freq.get(k as usize))
                .copied()
                .unwrap_or(0);
            if df > max_df || (support as f32) < cfg.min_confidence * df as f32 {
                continue;
            }
            // Every target of the group has the same records, so the same base rate.
            let p = f64::from(target_n.get(&t0).copied().unwrap_or(0)) / n as f64;
            let sig = binom_tail_log10(df, support, p) as f32;
            if sig < cfg.min_significance {
                continue;
            }
            let recs: Vec<u32> = by_target
                .get(&t0)
                .map(|v| {
                    v.iter()
                        .copied()
                        .filter(|&i| stats.get(i as usize).is_some_and(|s| s.ngrams.contains(&g)))
                        .collect()
                })
                .unwrap_or_default();
            // Near-duplicate inputs are a flood, not a trigger: ask for diverse inputs (the
            // first two MinHash values differ between most records).
            let distinct: FastSet<(u32, u32)> = recs
                .iter()
                .filter_map(|&i| stats.get(i as usize))
                .map(|s| (s.input_sig[0], s.input_sig[1]))
                .collect();
            if (distinct.len() as f32) < 0.5 * support as f32 {
                continue;
            }
            for &t in &group.targets {
                out.push(Association {
                    ngram: g,
                    target: t,
                    is_label: labels.contains(&t),
                    support,
                    df,
                    significance: sig,
                    records: recs.clone(),
                });
            }
        }
    }
    // Strongest first; ties broken deterministically.
    out.sort_by(|a, b| {
        b.significance
            .total_cmp(&a.significance)
            .then(a.ngram.cmp(&b.ngram))
            .then(a.target.cmp(&b.target))
    });
    out
}

/// `f(0, first half)` on this thread and `f(start of the second half, second half)` on
/// another (on this one too if that thread fails).
fn on_halves<T: Send>(stats: &[Stats], f: impl Fn(usize, &[Stats]) -> T + Sync) -> (T, T) {
    let mid = stats.len() / 2;
    let (lo, hi) = stats.split_at(mid);
    std::thread::scope(|scope| {
        let h = scope.spawn(|| f(mid, hi));
        let a = f(0, lo);
        let b = h.join().unwrap_or_else(|_| f(mid, hi));
        (a, b)
    })
}

/// For each group of records (indices into `stats`), the n-grams carried by at least
/// `min_support` of its records with their counts, sorted by n-gram. The groups are
/// split into `threads` contiguous ranges of about equal work (their n-gram counts), each
/// counted on its own thread; the result is in group order and does not depend on
/// `threads`.
pub fn common_ngrams(
    stats: &[Stats],
    groups: &[&[u32]],
    min_support: u32,
    threads: usize,
) -> Vec<Vec<(u32, u32)>> {
    let work = |recs: &[u32]| -> usize {
        recs.iter()
            .filter_map(|&i| stats.get(i as usize))
            .map(|s| s.ngrams.len())
            .sum()
    };
    let count = |part: &[&[u32]]| -> Vec<Vec<(u32, u32)>> {
        // Two passes over the group's n-gram lists, read in place. The first adds each
        // n-gram to a small table of saturating counters indexed by its hash (a
        // count-min sketch with one row: a slot's count is at least the count of every
        // n-gram in it); the second keeps the n-grams whose slot reached `min_support`,
        // which are then counted exactly. Almost every n-gram of a group is carried by one
        // or two of its records: sorting them all (the previous method) spent most of
        // the backdoor search on n-grams that could not qualify.
        let floor = u8::try_from(min_support).unwrap_or(u8::MAX);
        let mut table: Vec<u8> = Vec::new();
        let mut cand: Vec<u32> = Vec::new();
        part.iter()
            .map(|recs| {
                let volume = work(recs);
                if volume > SORT_COUNT_MAX {
                    return count_by_map(stats, recs, min_support);
                }
                let lists = || recs.iter().filter_map(|&i| stats.get(i as usize));
                // About four slots per n-gram: few slots shared by chance.
                let slots = (volume * 4).next_power_of_two().max(64);
                let shift = 32 - slots.trailing_zeros();
                let slot = |g: u32| (g.wrapping_mul(0x9e37_79b1) >> shift) as usize;
                table.clear();
                table.resize(slots, 0);
                for s in lists() {
                    for &g in &s.ngrams {
                        if let Some(c) = table.get_mut(slot(g)) {
                            *c = c.saturating_add(1);
                        }
                    }
                }
                cand.clear();
                for s in lists() {
                    cand.extend(
                        s.ngrams
                            .iter()
                            .copied()
                            .filter(|&g| table.get(slot(g)).is_some_and(|&c| c >= floor)),
                    );
                }
                cand.sort_unstable();
                let mut common: Vec<(u32, u32)> = Vec::new();
                for run in cand.chunk_by(|a, b| a == b) {
                    let c = run.len() as u32;
                    if c >= min_support {
                        if let Some(&g) = run.first() {
                            common.push((g, c));
                        }
                    }
                }
                common
            })
            .collect()
    };
    let threads = threads.clamp(1, groups.len().max(1));
    if threads == 1 {
        return count(groups);
    }
    // Contiguous ranges of about equal work.
    let total: usize = groups.iter().map(|r| work(r)).sum();
    let mut bounds = vec![0usize];
    let mut acc = 0usize;
    for (gi, recs) in groups.iter().enumerate() {
        acc += work(recs);
        if bounds.len() < threads && acc * threads >= total * bounds.len() {
            bounds.push(gi + 1);
        }
    }
    bounds.push(groups.len());
    bounds.dedup();
    let parts: Vec<&[&[u32]]> = bounds
        .windows(2)
        .filter_map(|w| groups.get(w[0]..w[1]))
        .collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .iter()
            .skip(1)
            .map(|&part| scope.spawn(move || count(part)))
            .collect();
        let mut out = parts.first().map_or_else(Vec::new, |&p| count(p));
        for (h, &part) in handles.into_iter().zip(parts.iter().skip(1)) {
            // A failed thread's range is counted again here rather than left out.
            out.extend(h.join().unwrap_or_else(|_| count(part)));
        }
        out
    })
}

/// Most n-grams of a group counted with a table of 4 one-byte slots per n-gram: larger
/// groups (a common target on a very large file) use a map, whose size is the distinct
/// n-grams.
const SORT_COUNT_MAX: usize = 1 << 22;

/// [`common_ngrams`] for one group, with a counting map.
fn count_by_map(stats: &[Stats], recs: &[u32], min_support: u32) -> Vec<(u32, u32)> {
    let mut counts: FastMap<u32, u32> = FastMap::default();
    for &i in recs {
        if let Some(s) = stats.get(i as usize) {
            for &g in &s.ngrams {
                *counts.entry(g).or_default() += 1;
            }
        }
    }
    let mut common: Vec<(u32, u32)> = counts
        .into_iter()
        .filter(|&(_, c)| c >= min_support)
        .collect();
    common.sort_unstable();
    common
}

/// Targets of the backdoor search that have exactly the same records, and the n-grams
/// carried by at least `min_support` of those records with their counts.
struct TargetGroup {
    targets: Vec<u64>,
    common: Vec<(u32, u32)>,
}

/// Turns confirmed associations into one finding per record (its strongest trigger).
pub fn backdoor_findings(assocs: &[Association], out: &mut Vec<CorpusFinding>) {
    let mut seen: FastSet<u32> = FastSet::default();
    for a in assocs {
        let score = (0.5 + a.significance / 40.0).min(0.99);
        for &i in &a.records {
            if seen.insert(i) {
                out.push(CorpusFinding {
                    idx: i as usize,
                    kind: FindingType::BackdoorTrigger,
                    score,
                    evidence: Evidence::Trigger {
                        ngram: a.ngram,
                        target: a.target,
                        support: a.support,
                        df: a.df,
                        significance: a.significance,
                    },
                });
            }
        }
    }
}

struct Dsu {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl Dsu {
    fn new(n: usize) -> Self {
        Self {
            parent: (0..n as u32).collect(),
            size: vec![1; n],
        }
    }
    fn find(&mut self, mut x: u32) -> u32 {
        while let Some(&p) = self.parent.get(x as usize) {
            if p == x {
                break;
            }
            let gp = self.parent.get(p as usize).copied().unwrap_or(p);
            if let Some(slot) = self.parent.get_mut(x as usize) {
                *slot = gp;
            }
            x = gp;
        }
        x
    }
    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return;
        }
        let (sa, sb) = (
            self.size.get(ra as usize).copied().unwrap_or(1),
            self.size.get(rb as usize).copied().unwrap_or(1),
        );
        let (big, small) = if sa >= sb { (ra, rb) } else { (rb, ra) };
        if let Some(p) = self.parent.get_mut(small as usize) {
            *p = big;
        }
        if let Some(s) = self.size.get_mut(big as usize) {
            *s = sa + sb;
        }
    }
}

/// Score of a conflict where neither record fits its input clearly worse.
pub const AMBIGUOUS_CONFLICT: f32 = 0.45;
/// How much worse (as a ratio) a record must fit to be the suspect of a conflict.
const CONFLICT_FIT_RATIO: f32 = 0.5;

/// Minimum input tokens for near-duplicate checks (shorter inputs collide by chance).
const MIN_DUP_TOKENS: u32 = 4;

/// Bucket size above which a near-duplicate bucket pairs only with its first member.
const BIG_BUCKET: usize = 32;

// `near_duplicates` keeps one bit per band in a byte.
const _: () = assert!(text::MINHASH / 2 <= 8);

/// Label conflicts and duplicate floods (see the module docs). `lines` maps record index
/// to line for the evidence. `fit(i)` says how well record `i`'s answer fits its input:
/// the cross-validated probability of its label, or for instruction data the share of
/// the input's words its response takes up. Of a conflicting pair, the record that fits
/// at most half as well is the suspect and scores above 0.5 (both do when the inputs are
/// identical); otherwise both get [`AMBIGUOUS_CONFLICT`] (reported only at a lower
/// threshold).
pub fn near_duplicates(
    stats: &[Stats],
    lines: &[u64],
    cfg: &CorpusConfig,
    fit: &dyn Fn(usize) -> f32,
    out: &mut Vec<CorpusFinding>,
) {
    let n = stats.len();
    let mut dsu = Dsu::new(n);
    let mut conflicts: FastMap<(u32, u32), Similarity> = FastMap::default();
    let mut verify: Vec<(u32, u32)> = Vec::new();
    let mut set = NgramSet::default();
    let mut record = |a: u32, b: u32, sim: Similarity| {
        if sim.jaccard < cfg.near_dup_jaccard {
            return;
        }
        let (Some(sa), Some(sb)) = (stats.get(a as usize), stats.get(b as usize)) else {
            return;
        };
        if same_answer(sa, sb, cfg) {
            dsu.union(a, b);
        } else {
            conflicts.insert((a.min(b), a.max(b)), sim);
        }
    };
    // The exact checks, in batches ordered by their first record: it is loaded once for
    // all its partners, and the first records' n-gram lists are read in the order they
    // lie in memory. (Reading the partners' lists a few pairs ahead gained nothing
    // measurable.) Batches bound the memory on files with millions of candidate pairs.
    let mut buckets = BucketCounts::new(n);
    let mut check = |verify: &mut Vec<(u32, u32)>, record: &mut dyn FnMut(u32, u32, Similarity)| {
        verify.sort_unstable();
        for &(a, b) in verify.iter() {
            let (Some(sa), Some(sb)) = (stats.get(a as usize), stats.get(b as usize)) else {
                continue;
            };
            // Most pairs are settled by the bucket bound, without probing.
            let total = sa.ngrams.len() + sb.ngrams.len();
            if buckets
                .common_bound((a, sa), (b, sb))
                .is_some_and(|most| most < common_needed(total, cfg.near_dup_jaccard))
            {
                continue;
            }
            record(a, b, exact_similarity((a, sa), sb, cfg, &mut set));
        }
        verify.clear();
    };
    candidate_pairs(stats, |a, b| {
        let (Some(sa), Some(sb)) = (stats.get(a as usize), stats.get(b as usize)) else {
            return;
        };
        match screen(sa, sb, cfg) {
            Screen::Decided(sim) => record(a, b, sim),
            Screen::Verify => {
                verify.push((a.min(b), a.max(b)));
                if verify.len() >= VERIFY_BATCH {
                    check(&mut verify, &mut record);
                }
            }
        }
    });
    check(&mut verify, &mut record);
    // Floods.
    let mut members: FastMap<u32, Vec<u32>> = FastMap::default();
    for i in 0..n as u32 {
        let r = dsu.find(i);
        if dsu.size.get(r as usize).copied().unwrap_or(1) as usize >= cfg.flood_min {
            members.entry(r).or_default().push(i);
        }
    }
    for m in members.values() {
        let size = m.len();
        let first = m.iter().min().copied().unwrap_or(0);
        let first_line = lines.get(first as usize).copied().unwrap_or(0);
        let score = (0.5 + 0.05 * (size + 1 - cfg.flood_min) as f32).min(0.99);
        for &i in m {
            out.push(CorpusFinding {
                idx: i as usize,
                kind: FindingType::DuplicateFlood,
                score,
                evidence: Evidence::Text(format!(
                    "one of {size} near-identical records (first at line {first_line})"
                )),
            });
        }
    }
    // Conflicts: one finding per record, against its most similar partner.
    let mut best: FastMap<u32, (u32, Similarity)> = FastMap::default();
    for (&(a, b), &sim) in &conflicts {
        for (x, y) in [(a, b), (b, a)] {
            let e = best.entry(x).or_insert((y, sim));
            let (j, ej) = (sim.rank(), e.1.rank());
            if j > ej || (j == ej && y < e.0) {
                *e = (y, sim);
            }
        }
    }
    let mut best: Vec<(u32, (u32, Similarity))> = best.into_iter().collect();
    best.sort_unstable_by_key(|(i, _)| *i);
    for (i, (other, sim)) in best {
        let (Some(si), Some(so)) = (stats.get(i as usize), stats.get(other as usize)) else {
            continue;
        };
        let other_line = lines.get(other as usize).copied().unwrap_or(0);
        let what = match (&si.label, &so.label) {
            (Some(a), Some(b)) => format!(
                "label {:?} here, {:?} there",
                text::snippet(a, 40),
                text::snippet(b, 40)
            ),
            _ => "a different answer".to_string(),
        };
        let (fi, fo) = (fit(i as usize), fit(other as usize));
        // The suspect fits its input at most half as well as its near-duplicate (a
        // random or flipped answer); the same question (see `conflict_jaccard`) with
        // two different answers conflicts whatever the fit.
        let suspect = (fi <= CONFLICT_FIT_RATIO * fo && fo > 0.0) || sim.identical;
        let j = sim.jaccard;
        let approx = if sim.exact { "" } else { "~" };
        let score = if suspect {
            (0.5 + 0.5 * j).min(0.99)
        } else {
            AMBIGUOUS_CONFLICT
        };
        out.push(CorpusFinding {
            idx: i as usize,
            kind: FindingType::LabelConflict,
            score,
            evidence: Evidence::Text(format!(
                "input near-identical (Jaccard {approx}{j:.2}) to line {other_line}, with {what}; fit to input {fi:.2} here, {fo:.2} there"
            )),
        });
    }
}

/// Calls `f` once for each candidate pair of near-duplicate inputs: records with at least
/// [`MIN_DUP_TOKENS`] input tokens whose MinHash signatures agree on a band of two
/// values (locality-sensitive hashing, 8 bands of 2). A bucket of more than
/// [`BIG_BUCKET`] records pairs only with its first member, which bounds the work at
/// linear per bucket (a flood).
fn candidate_pairs(stats: &[Stats], mut f: impl FnMut(u32, u32)) {
    let n = stats.len();
    let bands = text::MINHASH / 2;
    // A pair meets in every band where both signatures agree; it is emitted in the first
    // band that pairs it, found from the signatures instead of a set of pairs seen (a
    // hash-set insert per candidate, mostly cache misses, was a fifth of the pass).
    // `big` marks, per record, the bands where its bucket was over `BIG_BUCKET`, and
    // `big_first` names the first member of each such bucket (by its key: one entry per
    // bucket, not per member, which on a million-record file was hundreds of MB).
    let mut big = vec![0u8; n];
    let mut big_first: FastMap<u64, u32> = FastMap::default();
    let band_key = |s: &Stats, band: usize| {
        text::combine(
            band as u64,
            &[
                u64::from(s.input_sig[2 * band]),
                u64::from(s.input_sig[2 * band + 1]),
            ],
        )
    };
    let paired_before = |a: u32, b: u32, band: usize, big: &[u8], big_first: &FastMap<u64, u32>| {
        let (Some(sa), Some(sb)) = (stats.get(a as usize), stats.get(b as usize)) else {
            return false;
        };
        (0..band).any(|j| {
            sa.input_sig[2 * j] == sb.input_sig[2 * j]
                && sa.input_sig[2 * j + 1] == sb.input_sig[2 * j + 1]
                && (big.get(a as usize).is_none_or(|m| m & (1 << j) == 0)
                    || big_first
                        .get(&band_key(sa, j))
                        .is_some_and(|&f| f == a || f == b))
        })
    };
    let mut keys: Vec<(u64, u32)> = Vec::with_capacity(n);
    let mut pairs: Vec<(u32, u32)> = Vec::new();
    for b in 0..bands {
        keys.clear();
        for (i, s) in stats.iter().enumerate() {
            if s.input_tokens < MIN_DUP_TOKENS {
                continue;
            }
            keys.push((band_key(s, b), i as u32));
        }
        keys.sort_unstable();
        let mut start = 0;
        while start < keys.len() {
            let mut end = start + 1;
            while end < keys.len() && keys[end].0 == keys[start].0 {
                end += 1;
            }
            let group = &keys[start..end];
            pairs.clear();
            if group.len() <= BIG_BUCKET {
                for (a, x) in group.iter().enumerate() {
                    for y in &group[a + 1..] {
                        pairs.push((x.1, y.1));
                    }
                }
            } else {
                pairs.extend(group[1..].iter().map(|y| (group[0].1, y.1)));
            }
            for &(a, b2) in &pairs {
                if !paired_before(a, b2, b, &big, &big_first) {
                    f(a, b2);
                }
            }
            if group.len() > BIG_BUCKET {
                for &(_, i) in group {
                    if let Some(m) = big.get_mut(i as usize) {
                        *m |= 1 << b;
                    }
                }
                big_first.insert(group[0].0, group[0].1);
            }
            start = end;
        }
    }
}

/// Most input tokens whose n-gram set [`crate::detect::MAX_NGRAMS`] keeps whole: `n`
/// tokens give `n + (n - 1) + (n - 2)` uni-, bi- and trigrams.
pub(crate) const WHOLE_NGRAMS_TOKENS: u32 = (crate::detect::MAX_NGRAMS as u32 + 3) / 3;

/// Similarity of two records' inputs. MinHash only finds the candidate pairs: its estimate
/// from 16 values has a standard error near 0.11 at the 0.7 bar, so a verdict taken on it
/// would depend on the draw of hash functions rather than on the text (a different draw
/// changed half the conflicts of a 50,000-record set). When both inputs' n-gram sets are
/// whole, the verdict is taken on their exact Jaccard similarity instead. Over uni-, bi-
/// and trigrams together, `k` scattered word changes in `n` tokens alter about `6k` of
/// `3n` n-grams, the same share as the `2k` of `n` bigrams MinHash samples, so the bars
/// keep their meaning. Longer inputs keep only their first n-grams and fall back to the
/// estimate.
/// Whether two inputs are the same question is never taken from the estimate: 16 equal
/// MinHash values are as likely for a pair at 0.96 as not, and such pairs were reported
/// as identical or not depending on the draw. Long inputs are the same when their whole
/// token sequences hash the same.
///
/// [`screen`] decides what it can from the signatures and sizes; the rest go to
/// [`exact_similarity`].
enum Screen {
    /// Decided without the n-gram sets.
    Decided(Similarity),
    /// Needs [`exact_similarity`].
    Verify,
}

/// The first, cheap step of the similarity of two records' inputs (see [`Screen`]).
fn screen(a: &Stats, b: &Stats, cfg: &CorpusConfig) -> Screen {
    if a.input_tokens > WHOLE_NGRAMS_TOKENS || b.input_tokens > WHOLE_NGRAMS_TOKENS {
        // Both long (the hash is kept only for long inputs) with the same tokens.
        let same = a.input_tokens == b.input_tokens && a.input_hash == b.input_hash;
        return Screen::Decided(Similarity {
            jaccard: if same {
                1.0
            } else {
                text::jaccard(&a.input_sig, &b.input_sig)
            },
            exact: same,
            identical: same,
        });
    }
    let estimate = text::jaccard(&a.input_sig, &b.input_sig);
    if estimate < VERIFY_MIN_ESTIMATE {
        return Screen::Decided(Similarity::below(estimate));
    }
    // The Jaccard similarity of two sets is at most the smaller's size over the larger's.
    let (na, nb) = (a.ngrams.len(), b.ngrams.len());
    let bound = na.min(nb) as f32 / na.max(nb).max(1) as f32;
    if bound < cfg.near_dup_jaccard {
        return Screen::Decided(Similarity::below(bound));
    }
    Screen::Verify
}

/// The exact similarity of a pair that [`screen`] could not decide; `set` keeps the
/// first record loaded for its next pair.
fn exact_similarity(
    (ia, a): (u32, &Stats),
    b: &Stats,
    cfg: &CorpusConfig,
    set: &mut NgramSet,
) -> Similarity {
    let n = set.load(Some(ia), &a.ngrams);
    match set.jaccard_at_least(n, &b.ngrams, cfg.near_dup_jaccard) {
        Ok(jaccard) => Similarity {
            jaccard,
            exact: true,
            identical: jaccard >= cfg.conflict_jaccard,
        },
        Err(bound) => Similarity::below(bound),
    }
}

/// Candidate pairs whose exact check [`near_duplicates`] batches (8 MB).
const VERIFY_BATCH: usize = 1 << 20;

/// Least MinHash estimate at which a pair's exact similarity is computed. Most candidate
/// pairs share little beyond one band, and the exact check is the costliest step of the
/// near-duplicate pass; a pair at a true similarity of 0.7 shares fewer than 4 of 16
/// values with probability 3e-5.
const VERIFY_MIN_ESTIMATE: f32 = 4.0 / text::MINHASH as f32;

/// How alike two inputs are (see [`similarity`]).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Similarity {
    /// Jaccard similarity, exact or estimated.
    jaccard: f32,
    /// Whether `jaccard` is exact.
    exact: bool,
    /// Whether the inputs count as the same question (`conflict_jaccard`).
    identical: bool,
}

impl Similarity {
    /// Below the bars, estimated or bounded.
    fn below(jaccard: f32) -> Self {
        Self {
            jaccard,
            exact: false,
            identical: false,
        }
    }

    /// Order for picking a record's closest conflicting partner: identical first.
    fn rank(self) -> (bool, f32) {
        (self.identical, self.jaccard)
    }
}

/// A set of one record's n-grams for counting how many of another's it holds: an
/// open-addressing table whose slots are stamped with a round number, so loading the
/// next record clears nothing. Sorting each record's n-grams for a merge instead cost
/// more than the whole near-duplicate pass (about 10,000 instructions per record).
struct NgramSet {
    /// Per slot: the round that filled it (high half) and the key (low half), so one
    /// load and compare tells both.
    slots: Vec<u64>,
    round: u32,
    /// Record loaded last, and its size.
    loaded: Option<(u32, usize)>,
}

/// Slots of [`NgramSet`]: at most [`crate::detect::MAX_NGRAMS`] keys fill under 40 %.
const NGRAM_SET_BITS: u32 = 10;

impl Default for NgramSet {
    fn default() -> Self {
        Self {
            slots: vec![0; 1 << NGRAM_SET_BITS],
            round: 0,
            loaded: None,
        }
    }
}

impl NgramSet {
    const MASK: usize = (1 << NGRAM_SET_BITS) - 1;

    fn slot(x: u32) -> usize {
        (x.wrapping_mul(0x9e37_79b1) >> (32 - NGRAM_SET_BITS)) as usize
    }

    /// Makes the set hold `items` (record `id`, if given, is remembered so a repeated
    /// load is skipped). Returns the number of distinct items.
    fn load(&mut self, id: Option<u32>, items: &[u32]) -> usize {
        if let (Some(id), Some((last, n))) = (id, self.loaded) {
            if id == last {
                return n;
            }
        }
        self.round = self.round.wrapping_add(1);
        if self.round == 0 {
            // Rounds wrapped: slots stamped long ago could look current.
            self.slots.fill(0);
            self.round = 1;
        }
        let stamp = u64::from(self.round) << 32;
        let mut n = 0;
        // More items than slots never happens for a record's n-grams; the bound keeps the
        // probing finite whatever the input.
        for &x in items.iter().take(Self::MASK) {
            let want = stamp | u64::from(x);
            let mut k = Self::slot(x);
            while let Some(e) = self.slots.get_mut(k) {
                if *e == want {
                    break;
                }
                if *e & !0xffff_ffff != stamp {
                    *e = want;
                    n += 1;
                    break;
                }
                k = (k + 1) & Self::MASK;
            }
        }
        self.loaded = id.map(|id| (id, n));
        n
    }

    fn contains(&self, x: u32) -> bool {
        let stamp = u64::from(self.round) << 32;
        let want = stamp | u64::from(x);
        let mut k = Self::slot(x);
        // The first two slots decide almost every probe (the table is under 40 % full);
        // deciding them without a branch on the answer saves the mispredictions of a
        // set that holds about half of what is probed.
        let (e0, e1) = (
            self.slots.get(k).copied().unwrap_or(0),
            self.slots.get((k + 1) & Self::MASK).copied().unwrap_or(0),
        );
        let hit = (e0 == want) | (e1 == want);
        let open = (e0 & !0xffff_ffff != stamp) | (e1 & !0xffff_ffff != stamp);
        if hit | open {
            return hit;
        }
        k = (k + 2) & Self::MASK;
        while let Some(&e) = self.slots.get(k) {
            if e == want {
                return true;
            }
            if e & !0xffff_ffff != stamp {
                return false;
            }
            k = (k + 1) & Self::MASK;
        }
        false
    }

    /// Jaccard similarity of the loaded set (of `loaded` items) and the items of `other`
    /// (which must hold no duplicates; 0 when both are empty) when it is at least `bar`.
    /// Otherwise `Err` with an upper bound below `bar`, found as soon as too many of
    /// `other`'s items are missing: most candidate pairs are far below the bar, and this
    /// stops their probing early.
    fn jaccard_at_least(&self, loaded: usize, other: &[u32], bar: f32) -> Result<f32, f32> {
        let total = loaded + other.len();
        let need = common_needed(total, bar);
        let mut common = 0;
        for (k, &x) in other.iter().enumerate() {
            common += usize::from(self.contains(x));
            let most = common + (other.len() - k - 1);
            if most < need {
                return Err(most as f32 / (total - most) as f32);
            }
        }
        let union = total - common;
        Ok(if union == 0 {
            0.0
        } else {
            common as f32 / union as f32
        })
    }
}

/// The fewest items two sets of `total` items together must share for a Jaccard
/// similarity of `bar`: J = c / (total - c) >= bar  <=>  c >= bar * total / (1 + bar).
/// Rounded down, so float error can only let a pair through to the exact count, never
/// reject a pair at the bar.
fn common_needed(total: usize, bar: f32) -> usize {
    (bar.max(0.0) * total as f32 / (1.0 + bar.max(0.0))).floor() as usize
}

/// Buckets of [`BucketCounts`].
const BUCKETS: usize = 64;

/// Per record, how many of its input n-grams fall in each of [`BUCKETS`] ranges of hash
/// values (by their top bits), computed when a record is first checked. Two sets share
/// at most `min(a, b)` items per bucket, so the sum of the minima bounds what they have in
/// common: for most candidate pairs, which share a MinHash band and little else, that
/// bound is already below what the 0.7 bar needs, found from two 64-byte rows (vector
/// minimum and sum) instead of about a hundred table probes.
struct BucketCounts {
    counts: Vec<[u8; BUCKETS]>,
    /// Per record: 0 not counted yet, 1 counted, 2 a bucket over 255 (no bound).
    state: Vec<u8>,
}

impl BucketCounts {
    fn new(n: usize) -> Self {
        Self {
            counts: vec![[0; BUCKETS]; n],
            state: vec![0; n],
        }
    }

    /// Counts record `i` if it is not counted yet; whether it has a bound.
    fn ensure(&mut self, i: u32, s: &Stats) -> bool {
        let i = i as usize;
        match self.state.get(i).copied() {
            Some(1) => return true,
            Some(0) => {}
            _ => return false,
        }
        let mut c = [0u16; BUCKETS];
        for &g in &s.ngrams {
            if let Some(x) = c.get_mut((g >> (32 - BUCKETS.trailing_zeros())) as usize) {
                *x += 1;
            }
        }
        let fits = c.iter().all(|&x| x <= u16::from(u8::MAX));
        if let (Some(row), Some(st)) = (self.counts.get_mut(i), self.state.get_mut(i)) {
            for (r, &x) in row.iter_mut().zip(&c) {
                *r = x.min(u16::from(u8::MAX)) as u8;
            }
            *st = if fits { 1 } else { 2 };
        }
        fits
    }

    /// An upper bound on the n-grams records `a` and `b` share (`None`: no bound).
    fn common_bound(&mut self, (a, sa): (u32, &Stats), (b, sb): (u32, &Stats)) -> Option<usize> {
        if !(self.ensure(a, sa) & self.ensure(b, sb)) {
            return None;
        }
        let (ra, rb) = (self.counts.get(a as usize)?, self.counts.get(b as usize)?);
        Some(
            ra.iter()
                .zip(rb)
                .map(|(&x, &y)| usize::from(x.min(y)))
                .sum(),
        )
    }
}

fn same_answer(a: &Stats, b: &Stats, cfg: &CorpusConfig) -> bool {
    match (&a.label, &b.label) {
        (Some(x), Some(y)) => x == y,
        _ => {
            a.response_hash == b.response_hash
                || (a.response_hash != 0
                    && b.response_hash != 0
                    && (a.response_sim ^ b.response_sim).count_ones() <= cfg.same_answer_bits)
        }
    }
}

/// Median and scaled MAD of a column, with a floor on the scale.
fn robust(col: &mut [f32], floor: f32) -> (f32, f32) {
    if col.is_empty() {
        return (0.0, floor);
    }
    let mid = col.len() / 2;
    col.select_nth_unstable_by(mid, f32::total_cmp);
    let med = col[mid];
    for x in col.iter_mut() {
        *x = (*x - med).abs();
    }
    col.select_nth_unstable_by(mid, f32::total_cmp);
    (med, (1.4826 * col[mid]).max(floor))
}

/// Scale floors per feature: lengths are logs, the rest are shares (the script feature is
/// handled by rarity, not z).
const FLOORS: [f32; OUTLIER_FEATURES] = [0.35, 0.35, 1.0, 0.04, 0.04, 0.06];

/// Outliers (see the module docs).
pub fn outliers(stats: &[Stats], cfg: &CorpusConfig, out: &mut Vec<CorpusFinding>) {
    let n = stats.len();
    if n < 20 {
        return;
    }
    let mut centers = [(0.0f32, 1.0f32); OUTLIER_FEATURES];
    let mut col: Vec<f32> = Vec::with_capacity(n);
    for (k, c) in centers.iter_mut().enumerate() {
        col.clear();
        col.extend(stats.iter().map(|s| s.features[k]));
        *c = robust(&mut col, FLOORS[k]);
    }
    let mut script_n = [0u32; SCRIPTS.len()];
    for s in stats {
        if let Some(c) = script_n.get_mut(s.features[2] as usize) {
            *c += 1;
        }
    }
    /// Why a record is far out: a feature (index) or its rare script.
    enum Why {
        Feature(usize),
        Script(usize, f32),
    }
    for (i, s) in stats.iter().enumerate() {
        // Scores first, words only for the records reported: formatting the evidence of
        // every record took longer than the detector itself.
        let mut best: (f32, Option<Why>) = (0.0, None);
        for k in [0, 1, 3, 4, 5] {
            let (med, scale) = centers[k];
            let z = (s.features[k] - med).abs() / scale;
            if z > best.0 {
                best = (z, Some(Why::Feature(k)));
            }
        }
        let script = s.features[2] as usize;
        let share = script_n.get(script).copied().unwrap_or(0) as f32 / n as f32;
        if script > 0 && share < cfg.rare_script_share {
            // As far out as the z bar itself, scaled by rarity.
            let z = cfg.outlier_z * (1.0 + (cfg.rare_script_share - share) / cfg.rare_script_share);
            if z > best.0 {
                best = (z, Some(Why::Script(script, share)));
            }
        }
        let (z, Some(why)) = best else { continue };
        if z < cfg.outlier_z * 0.5 {
            continue;
        }
        let evidence = match why {
            Why::Feature(k) => {
                let shown = |v: f32| {
                    if k < 2 {
                        format!("{:.0} chars", v.exp() - 1.0)
                    } else {
                        format!("{v:.2}")
                    }
                };
                format!(
                    "{} {} vs median {} (robust z {z:.1})",
                    OUTLIER_NAMES[k],
                    shown(s.features[k]),
                    shown(centers[k].0)
                )
            }
            Why::Script(script, share) => format!(
                "dominant script {} is used by {:.2}% of records",
                SCRIPTS.get(script).copied().unwrap_or("other"),
                share * 100.0
            ),
        };
        out.push(CorpusFinding {
            idx: i,
            kind: FindingType::Outlier,
            score: z / (z + cfg.outlier_z),
            evidence: Evidence::Text(evidence),
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn stats_with_ngrams(ngrams: &[&[u32]]) -> Vec<Stats> {
        ngrams
            .iter()
            .map(|g| {
                let mut v = g.to_vec();
                v.sort_unstable();
                v.dedup();
                Stats {
                    ngrams: v,
                    ..Stats::default()
                }
            })
            .collect()
    }

    #[test]
    fn common_ngrams_do_not_depend_on_threads() {
        // 300 records with n-grams drawn from a small range, groups of varied sizes.
        let mut x = 7u64;
        let mut next = || {
            x = text::mix(x);
            x
        };
        let recs: Vec<Vec<u32>> = (0..300)
            .map(|_| (0..40).map(|_| (next() % 200) as u32).collect())
            .collect();
        let refs: Vec<&[u32]> = recs.iter().map(Vec::as_slice).collect();
        let stats = stats_with_ngrams(&refs);
        let groups: Vec<Vec<u32>> = (0..120)
            .map(|k| {
                let size = 1 + (next() % if k % 10 == 0 { 250 } else { 12 }) as usize;
                let mut g: Vec<u32> = (0..size).map(|_| (next() % 300) as u32).collect();
                g.sort_unstable();
                g.dedup();
                g
            })
            .collect();
        let groups: Vec<&[u32]> = groups.iter().map(Vec::as_slice).collect();
        // Brute force: count each group's n-grams directly.
        let expect: Vec<Vec<(u32, u32)>> = groups
            .iter()
            .map(|g| {
                let mut c = std::collections::BTreeMap::<u32, u32>::new();
                for &i in g.iter() {
                    for &n in &stats[i as usize].ngrams {
                        *c.entry(n).or_default() += 1;
                    }
                }
                c.into_iter().filter(|&(_, k)| k >= 5).collect()
            })
            .collect();
        for threads in [1, 2, 3, 8, 500] {
            assert_eq!(
                common_ngrams(&stats, &groups, 5, threads),
                expect,
                "{threads}"
            );
        }
        for (g, e) in groups.iter().zip(&expect) {
            assert_eq!(&count_by_map(&stats, g, 5), e);
        }
        assert!(common_ngrams(&stats, &[], 5, 2).is_empty());
    }

    /// Brute-force [`common_ngrams`]: each group's n-grams counted in a map.
    fn common_reference(stats: &[Stats], groups: &[&[u32]], min: u32) -> Vec<Vec<(u32, u32)>> {
        groups
            .iter()
            .map(|g| {
                let mut c = std::collections::BTreeMap::<u32, u32>::new();
                for &i in g.iter() {
                    for &n in &stats[i as usize].ngrams {
                        *c.entry(n).or_default() += 1;
                    }
                }
                c.into_iter().filter(|&(_, k)| k >= min).collect()
            })
            .collect()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// The counting table only pre-selects: whatever the hash values (a few common
        /// ones among many rare, full 32-bit range), the group sizes (counts past the
        /// table's 255 ceiling included) and `min_support`, the result is the exact count.
        #[test]
        fn common_ngrams_are_exact(
            seed in proptest::prelude::any::<u64>(),
            records in 1usize..700,
            common in 1u32..40,
            min in proptest::sample::select(vec![1u32, 2, 5, 7, 256, 300]),
        ) {
            let mut x = seed;
            let mut next = || {
                x = text::mix(x.wrapping_add(0x9e37_79b9_7f4a_7c15));
                x
            };
            let recs: Vec<Vec<u32>> = (0..records)
                .map(|_| {
                    (0..(next() % 60))
                        .map(|_| {
                            let r = next();
                            if r % 3 == 0 {
                                (r >> 40) as u32 % common
                            } else {
                                (r >> 32) as u32
                            }
                        })
                        .collect()
                })
                .collect();
            let refs: Vec<&[u32]> = recs.iter().map(Vec::as_slice).collect();
            let stats = stats_with_ngrams(&refs);
            let all: Vec<u32> = (0..records as u32).collect();
            let groups: Vec<Vec<u32>> = (0..8)
                .map(|_| {
                    let keep = next() % 4;
                    all.iter().copied().filter(|_| next() % 4 >= keep).collect()
                })
                .collect();
            let mut groups: Vec<&[u32]> = groups.iter().map(Vec::as_slice).collect();
            groups.push(&all);
            let want = common_reference(&stats, &groups, min);
            proptest::prop_assert_eq!(common_ngrams(&stats, &groups, min, 2), want);
        }
    }

    #[test]
    fn binomial_tail() {
        // P(X >= 10 | n = 10, p = 0.5) = 2^-10.
        let v = binom_tail_log10(10, 10, 0.5);
        assert!((v - 10.0 * 2f64.log10()).abs() < 1e-6, "{v}");
        // P(X >= 0) = 1.
        assert_eq!(binom_tail_log10(10, 0, 0.3), 0.0);
        // P(X >= 1 | n=1, p=0.25) = 0.25.
        assert!((binom_tail_log10(1, 1, 0.25) - 0.25f64.log10().abs()).abs() < 1e-9);
        // Large n uses Stirling: P(X >= 500 | 1000, 0.5) ~ 0.51.
        let v = binom_tail_log10(1000, 500, 0.5);
        assert!(v > 0.25 && v < 0.32, "{v}");
    }

    /// Two labeled records with the given n-gram sets and MinHash signatures.
    fn pair(ngrams: [Vec<u32>; 2], sigs: [[u32; text::MINHASH]; 2], tokens: u32) -> Vec<Stats> {
        let [na, nb] = ngrams;
        let [sa, sb] = sigs;
        [(na, sa, "a"), (nb, sb, "b")]
            .into_iter()
            .map(|(ngrams, input_sig, label)| Stats {
                input_hash: text::hash_bytes(label.as_bytes()),
                ngrams,
                input_sig,
                input_tokens: tokens,
                label: Some(label.to_string()),
                ..Stats::default()
            })
            .collect()
    }

    fn conflicts(stats: &[Stats]) -> Vec<CorpusFinding> {
        let mut out = Vec::new();
        let fit = |_: usize| 1.0;
        near_duplicates(stats, &[1, 2], &CorpusConfig::default(), &fit, &mut out);
        out.retain(|f| f.kind == FindingType::LabelConflict);
        out
    }

    #[test]
    fn near_duplicate_verdicts_use_the_exact_similarity_of_whole_ngram_sets() {
        let same_sig: [u32; text::MINHASH] = std::array::from_fn(|i| i as u32);
        // Signatures that share only the first band: a candidate pair whose MinHash
        // estimate (4/16) is far below the bar.
        let mut far_sig = same_sig;
        for v in far_sig.iter_mut().skip(4) {
            *v += 1000;
        }
        // 80 shared n-grams and 10 of each record's own: exact Jaccard 80/100.
        let shared: Vec<u32> = (0..80).collect();
        let a: Vec<u32> = shared.iter().copied().chain(100..110).collect();
        let b: Vec<u32> = shared.iter().copied().chain(200..210).collect();
        let found = conflicts(&pair([a.clone(), b.clone()], [same_sig, far_sig], 30));
        assert_eq!(found.len(), 2, "exact 0.8 is a near-duplicate: {found:?}");
        let Evidence::Text(e) = &found[0].evidence else {
            panic!("text evidence")
        };
        assert!(e.contains("Jaccard 0.80"), "{e}");
        // Exact Jaccard 40/120 with identical signatures: not near-duplicates.
        let c: Vec<u32> = (0..80).collect();
        let d: Vec<u32> = (40..120).collect();
        assert!(conflicts(&pair([c.clone(), d.clone()], [same_sig, same_sig], 30)).is_empty());
        // Identical n-gram sets with different answers: both are suspects.
        let both = conflicts(&pair([a.clone(), a.clone()], [same_sig, far_sig], 30));
        assert!(both.iter().all(|f| f.score > 0.5), "{both:?}");
        // Inputs too long for their n-gram sets to be whole: the estimate decides whether
        // they are near-duplicates, but all 16 MinHash values agreeing does not make them
        // identical; equal token sequences do.
        let long = WHOLE_NGRAMS_TOKENS + 1;
        let found = conflicts(&pair([c.clone(), d.clone()], [same_sig, same_sig], long));
        assert_eq!(found.len(), 2);
        assert!(
            found.iter().all(|f| f.score == AMBIGUOUS_CONFLICT),
            "{found:?}"
        );
        let Evidence::Text(e) = &found[0].evidence else {
            panic!("text evidence")
        };
        assert!(e.contains("Jaccard ~1.00"), "{e}");
        let mut same_text = pair([c, d], [same_sig, same_sig], long);
        same_text[1].input_hash = same_text[0].input_hash;
        let found = conflicts(&same_text);
        assert!(found.iter().all(|f| f.score > 0.5), "{found:?}");
        assert!(conflicts(&pair([a, b], [same_sig, far_sig], long)).is_empty());
    }

    proptest::proptest! {
        #[test]
        fn bucket_bound_is_at_least_the_intersection(
            sets in proptest::collection::vec(
                proptest::collection::hash_set(
                    // Few distinct top bits too, so buckets fill past 255.
                    proptest::prop_oneof![0u32..64, 0u32..1024, proptest::num::u32::ANY],
                    0..400,
                ),
                2..6,
            ),
        ) {
            let stats: Vec<Stats> = sets
                .iter()
                .map(|x| Stats { ngrams: x.iter().copied().collect(), ..Stats::default() })
                .collect();
            let mut b = BucketCounts::new(stats.len());
            for i in 0..stats.len() {
                for j in 0..stats.len() {
                    let common = sets[i].intersection(&sets[j]).count();
                    let bound = b.common_bound((i as u32, &stats[i]), (j as u32, &stats[j]));
                    // No bound only when a bucket overflows a byte.
                    let full = |x: &std::collections::HashSet<u32>| {
                        let mut c = [0usize; BUCKETS];
                        for &g in x {
                            c[(g >> (32 - BUCKETS.trailing_zeros())) as usize] += 1;
                        }
                        c.iter().any(|&k| k > 255)
                    };
                    match bound {
                        Some(m) => proptest::prop_assert!(m >= common, "{m} < {common}"),
                        None => proptest::prop_assert!(full(&sets[i]) || full(&sets[j])),
                    }
                }
            }
        }

        #[test]
        fn ngram_set_jaccard_is_set_jaccard(
            sets in proptest::collection::vec(
                proptest::collection::hash_set(proptest::prop_oneof![0u32..64, proptest::num::u32::ANY], 0..400),
                2..6,
            ),
            bar in 0.0f32..1.0,
        ) {
            // Several loads in a row, as in a scan: earlier rounds must not leak.
            let mut set = NgramSet::default();
            for (i, w) in sets.windows(2).enumerate() {
                let (x, y) = (&w[0], &w[1]);
                let xs: Vec<u32> = x.iter().copied().collect();
                let ys: Vec<u32> = y.iter().copied().collect();
                let union = x.union(y).count();
                let want = if union == 0 { 0.0 } else { x.intersection(y).count() as f32 / union as f32 };
                let n = set.load(Some(i as u32), &xs);
                proptest::prop_assert_eq!(n, xs.len());
                proptest::prop_assert_eq!(set.jaccard_at_least(n, &ys, 0.0), Ok(want));
                // With a bar: the exact value when at or above it, else a bound that is
                // at least the value and below the bar.
                match set.jaccard_at_least(n, &ys, bar) {
                    Ok(v) => proptest::prop_assert_eq!(v, want),
                    Err(b) => {
                        proptest::prop_assert!(want < bar && want <= b && b < bar, "{want} {b} {bar}");
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn candidate_pairs_are_each_band_pair_once(
            sigs in proptest::collection::vec(
                (
                    proptest::collection::vec(
                        proptest::prop_oneof![proptest::strategy::Just(0u32), 0u32..3],
                        text::MINHASH,
                    ),
                    0u32..8,
                ),
                0..200,
            ),
        ) {
            // Signature values from a tiny alphabet, mostly 0, so records share bands
            // often and the all-zero buckets usually exceed `BIG_BUCKET`.
            let stats: Vec<Stats> = sigs
                .iter()
                .map(|(sig, tokens)| Stats {
                    input_sig: std::array::from_fn(|k| sig.get(k).copied().unwrap_or(0)),
                    input_tokens: *tokens,
                    ..Stats::default()
                })
                .collect();
            // Reference: every band's buckets, all pairs (or the star of a big bucket),
            // deduplicated with a set.
            let mut want = std::collections::BTreeSet::new();
            for b in 0..text::MINHASH / 2 {
                let mut buckets: std::collections::BTreeMap<(u32, u32), Vec<u32>> = Default::default();
                for (i, s) in stats.iter().enumerate() {
                    if s.input_tokens >= MIN_DUP_TOKENS {
                        buckets.entry((s.input_sig[2 * b], s.input_sig[2 * b + 1])).or_default().push(i as u32);
                    }
                }
                for m in buckets.values() {
                    for (k, &x) in m.iter().enumerate() {
                        for &y in &m[k + 1..] {
                            if m.len() <= BIG_BUCKET || k == 0 {
                                want.insert((x.min(y), x.max(y)));
                            }
                        }
                    }
                }
            }
            let mut got = Vec::new();
            candidate_pairs(&stats, |a, b| got.push((a.min(b), a.max(b))));
            let n = got.len();
            let got: std::collections::BTreeSet<_> = got.into_iter().collect();
            proptest::prop_assert_eq!(n, got.len(), "a pair was emitted twice");
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn dsu_joins() {
        let mut d = Dsu::new(5);
        d.union(0, 1);
        d.union(3, 4);
        d.union(1, 4);
        assert_eq!(d.find(0), d.find(3));
        assert_ne!(d.find(2), d.find(0));
    }
}
