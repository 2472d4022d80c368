//! Prompt-injection and jailbreak detection.
//!
//! Three layers, all in-process and allocation-light:
//!
//! 1. [`crate::normalize`]: NFKC-style folding, invisible/tag characters, homoglyphs,
//!    leetspeak, and decoded base64/hex/url/rot13/split payloads appended as segments.
//! 2. [`rules`]: `aho-corasick` phrases (nine languages) and a `RegexSet` of structural
//!    patterns (fake role markers, transcripts, prompt extraction, exfiltration links,
//!    tool hijacking, persona/refusal-suppression framings).
//! 3. A wide-and-deep model ([`model`]) with two logistic heads (injection, jailbreak)
//!    over hashed byte n-grams, word uni/bigrams ([`features`]) and the rule hits: a
//!    linear part plus a fastText-style embedding bag feeding a small ReLU MLP, trained
//!    jointly by [`train`] and shipped as `model/injection.bin` (embedded at compile time).
//!
//! Scores are Platt-calibrated on the dev split; [`InjectionScanner::thresholds`] gives
//! the default decision thresholds chosen there.

pub mod features;
pub mod model;
pub mod rules;
pub mod train;

use crate::normalize::{normalize, normalize_text, Normalized};
use crate::{Finding, FindingKind, GuardError};
use model::Model;
use rules::{RuleHit, Rules};
use serde::Serialize;

/// The shipped model, embedded so the gateway has no runtime file dependency.
static EMBEDDED_MODEL: &[u8] = include_bytes!("../../model/injection.bin");

/// SHA-256 of the classifier shipped in the binary (what the audit log records as part
/// of the guard configuration).
pub fn embedded_model_sha256() -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(EMBEDDED_MODEL).into()
}

/// The two attack classes (model heads).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Head {
    /// Instruction override, prompt extraction, task hijack.
    Injection = 0,
    /// Safety-rule removal: personas, developer mode, refusal suppression.
    Jailbreak = 1,
}

impl Head {
    fn kind(self) -> FindingKind {
        match self {
            Head::Injection => FindingKind::Injection,
            Head::Jailbreak => FindingKind::Jailbreak,
        }
    }
}

/// Separate scores for the two attack classes, each in `0..=1`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Scores {
    /// Instruction override, prompt extraction, task hijack.
    pub injection: f32,
    /// Safety-rule removal: personas, developer mode, refusal suppression.
    pub jailbreak: f32,
}

impl Scores {
    /// The larger of the two scores (the "any attack" score).
    pub fn max(&self) -> f32 {
        self.injection.max(self.jailbreak)
    }
}

/// Default decision thresholds on [`Scores`] (chosen on the dev split at training time).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    /// Flag INJECTION at or above this score.
    pub injection: f32,
    /// Flag JAILBREAK at or above this score.
    pub jailbreak: f32,
}

/// The result of scanning one text.
#[derive(Debug, Clone, Default)]
pub struct InjectionReport {
    /// Calibrated scores.
    pub scores: Scores,
    /// INJECTION / JAILBREAK findings with byte spans into the original text (a rule hit's
    /// span, or the whole text when only the classifier fired above its threshold).
    pub findings: Vec<Finding>,
}

/// Per-layer detail of one scan (for debugging and evaluation).
#[derive(Debug, Clone)]
pub struct ScanDetail {
    /// The normalized text (with decoded segments).
    pub normalized: Normalized,
    /// Rule hits in normalized text.
    pub hits: Vec<RuleHit>,
    /// Raw model logits (before calibration): injection, jailbreak, and the document
    /// head's best window (`-inf` for texts too short to window).
    pub logits: [f32; 3],
    /// Calibrated scores.
    pub scores: Scores,
}

/// Detects prompt injection and jailbreaks. Build once, share freely.
#[derive(Debug)]
pub struct InjectionScanner {
    rules: Rules,
    model: Model,
    /// Bucket of each rule's feature, by rule index.
    rule_buckets: Vec<u32>,
    /// Per bucket: the two linear weights then the deep embedding (zero-padded), so one
    /// feature costs one 16-byte load.
    rows: Vec<[i8; 16]>,
}

/// Per-bin accumulator: summed rows (linear weights + embedding) and the feature count.
#[derive(Clone, Copy, Default)]
struct Acc {
    sum: [i32; 16],
    count: i32,
    doc: i32,
}

impl Acc {
    fn add(&mut self, o: &Acc) {
        for (a, b) in self.sum.iter_mut().zip(&o.sum) {
            *a += *b;
        }
        self.count += o.count;
        self.doc += o.doc;
    }
}

impl InjectionScanner {
    /// Loads the embedded model and compiles the rules.
    pub fn new() -> Result<Self, GuardError> {
        Self::from_model_bytes(EMBEDDED_MODEL)
    }

    /// The embedded model with per-rule matching from the start (see
    /// [`InjectionScanner::with_per_rule_matching`]), for streams of distinct texts such as
    /// a dataset: it never compiles the rules' `RegexSet`, so it is ready sooner.
    pub fn new_per_rule() -> Result<Self, GuardError> {
        Self::with_rules(Rules::new_per_rule()?, EMBEDDED_MODEL)
    }

    /// Builds a scanner from a model file's bytes (validated; never panics).
    pub fn from_model_bytes(bytes: &[u8]) -> Result<Self, GuardError> {
        Self::with_rules(Rules::new()?, bytes)
    }

    fn with_rules(rules: Rules, bytes: &[u8]) -> Result<Self, GuardError> {
        let model = Model::from_bytes(bytes, rules.fingerprint())?;
        if let Some(d) = &model.deep {
            if d.rules() != rules.infos().len() {
                return Err(GuardError::Model(
                    "model's deep part was trained with a different rule count".into(),
                ));
            }
        }
        Ok(Self::with_model(rules, model))
    }

    pub(crate) fn with_model(rules: Rules, model: Model) -> Self {
        let bits = model.cfg.bits;
        let rule_buckets = rules
            .infos()
            .iter()
            .map(|i| features::rule_bucket(i.id, bits))
            .collect();
        let dim = model.deep.as_ref().map_or(0, |d| d.dim.min(model::MAX_DIM));
        // Only the wide-and-deep path uses the interleaved table.
        let linear_only: &[[i8; 2]] = if model.deep.is_some() {
            &model.weights
        } else {
            &[]
        };
        let rows = linear_only
            .iter()
            .enumerate()
            .map(|(k, w)| {
                let mut r = [0i8; 16];
                r[0] = w[0];
                r[1] = w[1];
                if let Some(d) = &model.deep {
                    if let Some(e) = d.emb.get(k * dim..(k + 1) * dim) {
                        r[2..2 + dim].copy_from_slice(e);
                    }
                }
                r
            })
            .collect();
        Self {
            rules,
            model,
            rule_buckets,
            rows,
        }
    }

    /// Matches the structural rules one pattern at a time (see [`Rules::set_per_rule`]):
    /// the same hits and scores, faster on a stream of distinct texts such as a dataset,
    /// slower on texts that recur.
    pub fn with_per_rule_matching(mut self, per_rule: bool) -> Self {
        self.rules.set_per_rule(per_rule);
        self
    }

    /// The default decision thresholds (chosen on dev).
    pub fn thresholds(&self) -> Thresholds {
        Thresholds {
            injection: self.model.thresholds[0],
            jailbreak: self.model.thresholds[1],
        }
    }

    /// The loaded model (header fields, weights).
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The compiled rules.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Scans one text.
    pub fn scan(&self, text: &str) -> InjectionReport {
        // Hot path without the byte map; it is rebuilt below only if a finding needs it.
        let mut d = self.scan_with(text, normalize_text(text));
        let th = self.thresholds();
        let mut findings = Vec::new();
        let seg_span = !self.model.doc.comb.is_empty() && d.scores.injection >= th.injection;
        if (!d.hits.is_empty() || seg_span)
            && (d.scores.injection >= th.injection || d.scores.jailbreak >= th.jailbreak)
        {
            d.normalized = normalize(text);
        }
        for (head, score, t) in [
            (Head::Injection, d.scores.injection, th.injection),
            (Head::Jailbreak, d.scores.jailbreak, th.jailbreak),
        ] {
            if score < t || text.is_empty() {
                continue;
            }
            let before = findings.len();
            // Report the spans of rules that push this head up; else the whole text.
            for h in &d.hits {
                let info = self.rules.infos()[h.rule as usize];
                let w =
                    self.model.weights[self.rule_buckets[h.rule as usize] as usize][head as usize];
                if info.head != head || w <= 0 {
                    continue;
                }
                if let Some((s, e)) = d.normalized.to_original(h.start, h.end) {
                    if s < e && e <= text.len() {
                        findings.push(Finding {
                            kind: head.kind(),
                            subtype: Some(info.id),
                            start: s,
                            end: e,
                            score,
                        });
                    }
                }
            }
            // A document flagged by the combiner: the segment that reads most like a
            // request addressed to the assistant.
            if findings.len() == before && head == Head::Injection && seg_span {
                if let Some((s, e)) = self
                    .best_segment(&d.normalized.text)
                    .and_then(|(s, e)| d.normalized.to_original(s, e))
                {
                    if s < e && e <= text.len() {
                        findings.push(Finding {
                            kind: head.kind(),
                            subtype: Some("segment"),
                            start: s,
                            end: e,
                            score,
                        });
                    }
                }
            }
            if findings.len() == before {
                findings.push(Finding {
                    kind: head.kind(),
                    subtype: Some("classifier"),
                    start: 0,
                    end: text.len(),
                    score,
                });
            }
        }
        findings.sort_by_key(|f| (f.start, f.end));
        findings.dedup_by(|a, b| a.kind == b.kind && a.start == b.start && a.end == b.end);
        InjectionReport {
            scores: d.scores,
            findings,
        }
    }

    /// Scans one text and returns every layer's output.
    pub fn scan_detail(&self, text: &str) -> ScanDetail {
        self.scan_with(text, normalize(text))
    }

    /// Like [`Self::scan_detail`] for a text already normalized by the caller with
    /// [`normalize_text`] or [`normalize`] (both give the same text, so the scores and
    /// hits are those of `scan_detail` on the original text). For callers that normalize
    /// anyway (the dataset scanner's gate): one normalization instead of two, and no byte
    /// map unless the caller built one.
    pub fn scan_normalized(&self, normalized: Normalized) -> ScanDetail {
        self.scan_with("", normalized)
    }

    fn scan_with(&self, _text: &str, normalized: Normalized) -> ScanDetail {
        let mut hits = Vec::new();
        self.rules
            .scan(&normalized.text, normalized.main_len, &mut hits);
        let logits = self.logits(&normalized.text, &hits);
        let scores = self.scores_of(&logits);
        ScanDetail {
            normalized,
            hits,
            logits,
            scores,
        }
    }

    /// Raw logits of both heads for normalized text and its rule hits: the larger of the
    /// whole-text logit and the best window's (see [`features`]). Each is the linear
    /// logit plus the deep part's.
    pub(crate) fn logits(&self, norm: &str, hits: &[RuleHit]) -> [f32; 3] {
        if self.model.deep.is_none() {
            // Also runs the segment head and the combiner, in the same feature pass.
            return self.logits_linear(norm, hits);
        }
        let mut z = self.logits_deep(norm, hits);
        if !self.model.doc.comb.is_empty() {
            z[2] = comb_logit(
                &self.model.doc.comb,
                &comb_features(z, self.segment_stats(norm)),
            );
        }
        z
    }

    /// The combiner's inputs for a text (training uses this on out-of-fold models;
    /// `guard features` prints them for analysis).
    pub fn comb_inputs(&self, text: &str) -> [f32; COMB_INPUTS] {
        let n = normalize_text(text);
        let mut hits = Vec::new();
        self.rules.scan(&n.text, n.main_len, &mut hits);
        let z = self.logits(&n.text, &hits);
        comb_features(z, self.segment_stats(&n.text))
    }

    /// Segment statistics of normalized text (see [`SegStats`]); all zero unless the
    /// text has at least [`DOC_SEGMENTS`] segments (only documents are segmented).
    pub(crate) fn segment_stats(&self, norm: &str) -> SegStats {
        SEGS.with(|cell| {
            let (mut segs, mut sums) = cell.take();
            features::segments(norm, &mut segs);
            let mut st = SegStats::default();
            if segs.len() >= DOC_SEGMENTS {
                let doc = &self.model.doc;
                features::segment_sums(norm, self.model.cfg, &doc.weights, &segs, &mut sums);
                st = self.stats_of(&sums);
            }
            cell.set((segs, sums));
            st
        })
    }

    /// [`SegStats`] from per-segment (sum, feature count) of the segment table.
    fn stats_of(&self, sums: &[(i32, u32)]) -> SegStats {
        let doc = &self.model.doc;
        let (mut n, mut max, mut total) = (0usize, f32::NEG_INFINITY, 0f32);
        for (sum, count) in sums {
            if *count < features::SEG_MIN_FEATS {
                continue;
            }
            let z = doc.bias + doc.scale * *sum as f32 / (*count as f32).sqrt();
            n += 1;
            max = max.max(z);
            total += z;
        }
        if n >= DOC_SEGMENTS {
            SegStats {
                doc: true,
                max,
                mean: total / n as f32,
            }
        } else {
            SegStats::default()
        }
    }

    /// The byte range (in normalized text, trailing whitespace excluded) of the
    /// document segment the segment head scores highest; `None` for non-documents.
    fn best_segment(&self, norm: &str) -> Option<(usize, usize)> {
        let mut segs = Vec::new();
        features::segments(norm, &mut segs);
        if segs.len() < DOC_SEGMENTS {
            return None;
        }
        let doc = &self.model.doc;
        let mut sums = Vec::new();
        features::segment_sums(norm, self.model.cfg, &doc.weights, &segs, &mut sums);
        let mut best: Option<(f32, (usize, usize))> = None;
        for (seg, (sum, count)) in segs.iter().zip(&sums) {
            if *count < features::SEG_MIN_FEATS {
                continue;
            }
            let z = *sum as f32 / (*count as f32).sqrt();
            if best.is_none_or(|(b, _)| z > b) {
                best = Some((z, *seg));
            }
        }
        let (s, e) = best?.1;
        let trimmed = norm.get(s..e)?.trim_end().len();
        Some((s, s + trimmed))
    }

    fn logits_deep(&self, norm: &str, hits: &[RuleHit]) -> [f32; 3] {
        let rows = &self.rows;
        let dw = &self.model.doc.weights;
        let has_doc = !dw.is_empty();
        let nbins = norm.len() / features::BIN + 1;
        let windowed = nbins > features::WINDOW_BINS + 1;
        let mut bins: Vec<Acc> = vec![Acc::default(); nbins];
        features::for_each(norm, self.model.cfg, |k, pos| {
            let Some(row) = rows.get(k as usize) else {
                return;
            };
            if let Some(bin) = bins.get_mut(pos / features::BIN) {
                for (a, b) in bin.sum.iter_mut().zip(row) {
                    *a += i32::from(*b);
                }
                bin.count += 1;
                if has_doc {
                    bin.doc += i32::from(dw.get(k as usize).copied().unwrap_or(0));
                }
            }
        });
        let mut total = Acc::default();
        for b in &bins {
            total.add(b);
        }
        let distinct = distinct_rules(hits);
        let (ra, rb) = self.rule_sums(&distinct);
        // The rule hits' contribution to the deep part's hidden layer (shared by windows).
        let pre = self.model.deep.as_ref().map(|d| {
            let mut pre = d.b1.clone();
            let nr = d.rules();
            for r in &distinct {
                let r = usize::from(*r);
                if r < nr {
                    for (j, p) in pre.iter_mut().enumerate() {
                        *p += d.u[j * nr + r];
                    }
                }
            }
            pre
        });
        let s = self.model.scale;
        let head = |acc: &Acc| -> [f32; 2] {
            let inv = if acc.count == 0 {
                0.0
            } else {
                1.0 / (acc.count as f32).sqrt()
            };
            let mut z = [
                self.model.bias[0] + s[0] * (acc.sum[0] as f32 * inv + ra as f32),
                self.model.bias[1] + s[1] * (acc.sum[1] as f32 * inv + rb as f32),
            ];
            if let (Some(d), Some(pre)) = (&self.model.deep, &pre) {
                let dim = d.dim.min(model::MAX_DIM);
                let mut x = [0f32; model::MAX_DIM];
                let es = d.emb_scale * inv;
                for (xi, a) in x.iter_mut().zip(&acc.sum[2..2 + dim]) {
                    *xi = *a as f32 * es;
                }
                let mut o = d.b2;
                for (j, p) in pre.iter().enumerate() {
                    let w = &d.w1[j * dim..(j + 1) * dim];
                    let mut v = *p;
                    for (wi, xi) in w.iter().zip(&x[..dim]) {
                        v += wi * xi;
                    }
                    if v > 0.0 {
                        o[0] += d.w2[j] * v;
                        o[1] += d.w2[d.hidden + j] * v;
                    }
                }
                z[0] += o[0];
                z[1] += o[1];
            }
            z
        };
        let [za, zb] = head(&total);
        let mut out = [za, zb, f32::NEG_INFINITY];
        if windowed {
            let doc = &self.model.doc;
            for win in bins.windows(features::WINDOW_BINS) {
                let mut acc = Acc::default();
                for b in win {
                    acc.add(b);
                }
                if acc.count < 32 {
                    continue;
                }
                let [wa, wb] = head(&acc);
                out[0] = out[0].max(wa);
                out[1] = out[1].max(wb);
                if has_doc {
                    let inv = 1.0 / (acc.count as f32).sqrt();
                    out[2] = out[2].max(doc.bias + doc.scale * acc.doc as f32 * inv);
                }
            }
        }
        out
    }

    /// [`Self::logits`] of a linear-only model: two i8 weights per bucket (a 512 KB
    /// table stays in cache far better than the interleaved one).
    fn logits_linear(&self, norm: &str, hits: &[RuleHit]) -> [f32; 3] {
        BINS.with(|cell| {
            let mut bins = cell.take();
            let out = SEGS.with(|sc| {
                let mut seg = sc.take();
                let out = self.logits_linear_in(norm, hits, &mut bins, &mut seg);
                sc.set(seg);
                out
            });
            cell.set(bins);
            out
        })
    }

    #[allow(clippy::type_complexity)]
    fn logits_linear_in(
        &self,
        norm: &str,
        hits: &[RuleHit],
        bins: &mut Vec<[i32; 4]>,
        (segs, sums): &mut (Vec<(usize, usize)>, Vec<(i32, u32)>),
    ) -> [f32; 3] {
        let comb = &self.model.doc.comb;
        let (cfg, w) = (self.model.cfg, &self.model.weights);
        let mut st = SegStats::default();
        if comb.is_empty() {
            features::linear_bins(norm, cfg, w, &self.model.doc.weights, bins);
        } else {
            // The document table is the segment head: documents are scored per segment
            // in the same feature pass.
            features::segments(norm, segs);
            if segs.len() >= DOC_SEGMENTS {
                let seg = &self.model.doc.weights;
                features::linear_bins_segments(norm, cfg, w, seg, segs, bins, sums);
                st = self.stats_of(sums);
            } else {
                features::linear_bins(norm, cfg, w, &[], bins);
            }
        }
        let windowed = bins.len() > features::WINDOW_BINS + 1;
        let (mut a, mut b, mut n) = (0i32, 0i32, 0u32);
        for x in bins.iter() {
            a += x[0];
            b += x[1];
            n += x[2] as u32;
        }
        if !windowed {
            bins.clear();
        }
        let (ra, rb) = self.rule_sums(&distinct_rules(hits));
        let s = self.model.scale;
        let head = |sum: i32, count: u32, r: i32, h: usize| {
            let inv = if count == 0 {
                0.0
            } else {
                1.0 / (count as f32).sqrt()
            };
            self.model.bias[h] + s[h] * (sum as f32 * inv + r as f32)
        };
        let mut out = [head(a, n, ra, 0), head(b, n, rb, 1), f32::NEG_INFINITY];
        let doc = &self.model.doc;
        for win in bins.windows(features::WINDOW_BINS) {
            let s = win.iter().fold([0i32; 4], |acc, x| {
                [acc[0] + x[0], acc[1] + x[1], acc[2] + x[2], acc[3] + x[3]]
            });
            let wc = s[2] as u32;
            if wc < 32 {
                continue;
            }
            out[0] = out[0].max(head(s[0], wc, ra, 0));
            out[1] = out[1].max(head(s[1], wc, rb, 1));
            let inv = 1.0 / (wc as f32).sqrt();
            out[2] = out[2].max(doc.bias + doc.scale * s[3] as f32 * inv);
        }
        if !comb.is_empty() {
            out[2] = comb_logit(comb, &comb_features(out, st));
        }
        out
    }

    /// Summed quantized weights of the distinct rules hit, per head.
    fn rule_sums(&self, rules: &[u16]) -> (i32, i32) {
        let w = &self.model.weights;
        let (mut ra, mut rb) = (0i32, 0i32);
        for r in rules {
            let p = w[self.rule_buckets[*r as usize] as usize];
            ra += i32::from(p[0]);
            rb += i32::from(p[1]);
        }
        (ra, rb)
    }
}

/// Texts with fewer scored segments than this are not treated as documents.
pub const DOC_SEGMENTS: usize = 3;

/// What the segment head says about a document: the best and the mean segment logit.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SegStats {
    /// Whether the text has at least [`DOC_SEGMENTS`] scored segments.
    pub doc: bool,
    /// Highest segment logit ("reads most like a request to the assistant").
    pub max: f32,
    /// Mean segment logit.
    pub mean: f32,
}

/// Number of inputs of the combiner.
pub const COMB_INPUTS: usize = 8;

/// Inputs of the second-stage combiner: the two heads' logits, and for documents the
/// segment statistics (zero otherwise), so the stage can weigh "one segment reads like
/// a request" differently inside a document than in a prompt.
pub fn comb_features(z: [f32; 3], s: SegStats) -> [f32; COMB_INPUTS] {
    let d = if s.doc { 1.0 } else { 0.0 };
    // A document's segments are mostly unlike requests (a low mean): its best segment
    // then stands out (the last two inputs).
    let doc_like = if s.mean < 0.0 { d } else { 0.0 };
    [
        z[0],
        z[1],
        d,
        d * s.max,
        d * s.mean,
        d * s.max.max(0.0),
        d * (-s.mean).max(0.0),
        doc_like * s.max,
    ]
}

/// The combiner's logit: `comb[0] + Σ comb[i+1]·x[i]`.
pub fn comb_logit(comb: &[f32], x: &[f32; COMB_INPUTS]) -> f32 {
    let mut z = comb.first().copied().unwrap_or(0.0);
    for (w, v) in comb.iter().skip(1).zip(x) {
        z += w * v;
    }
    z
}

thread_local! {
    /// Segment ranges and their sums, reused across scans on a thread.
    #[allow(clippy::type_complexity)]
    static SEGS: std::cell::Cell<(Vec<(usize, usize)>, Vec<(i32, u32)>)> =
        const { std::cell::Cell::new((Vec::new(), Vec::new())) };
    /// Per-bin sums, reused across scans on a thread (a 16 KB text has 129 bins).
    static BINS: std::cell::Cell<Vec<[i32; 4]>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The distinct rules hit (each rule counts once, however often it hits), sorted.
pub(crate) fn distinct_rules(hits: &[RuleHit]) -> Vec<u16> {
    let mut r: Vec<u16> = hits.iter().map(|h| h.rule).collect();
    r.sort_unstable();
    r.dedup();
    r
}

impl InjectionScanner {
    /// Calibrated scores from the three logits: the document head's score (an inserted
    /// instruction in a long text) counts as injection.
    pub(crate) fn scores_of(&self, z: &[f32; 3]) -> Scores {
        if !self.model.doc.comb.is_empty() {
            // The combiner saw the injection logit and the document's segments: its
            // score replaces the injection head's.
            return Scores {
                injection: calibrate(z[2], self.model.doc.calib),
                jailbreak: calibrate(z[1], self.model.calib[1]),
            };
        }
        let doc = if z[2].is_finite() && !self.model.doc.weights.is_empty() {
            calibrate(z[2], self.model.doc.calib)
        } else {
            0.0
        };
        Scores {
            injection: calibrate(z[0], self.model.calib[0]).max(doc),
            jailbreak: calibrate(z[1], self.model.calib[1]),
        }
    }
}

fn calibrate(z: f32, (a, b): (f32, f32)) -> f32 {
    sigmoid(a * z + b)
}

pub(crate) fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn corrupt_model_is_an_error_not_a_panic() {
        assert!(InjectionScanner::from_model_bytes(&[]).is_err());
        assert!(InjectionScanner::from_model_bytes(b"PCGINJ\0\x01garbage").is_err());
        let mut good = EMBEDDED_MODEL.to_vec();
        if good.len() > 200 {
            good[150] ^= 0x55;
            assert!(InjectionScanner::from_model_bytes(&good).is_err());
            let short = &EMBEDDED_MODEL[..EMBEDDED_MODEL.len() - 9];
            assert!(InjectionScanner::from_model_bytes(short).is_err());
        }
        let rules = Rules::new().unwrap();
        let model = Model {
            cfg: features::FeatureConfig {
                bits: 10,
                ..Default::default()
            },
            rules_fp: rules.fingerprint(),
            recipe: [0; 32],
            thresholds: [0.5, 0.5],
            calib: [(1.0, 0.0), (1.0, 0.0)],
            scale: [0.01, 0.01],
            bias: [0.0, 0.0],
            weights: vec![[0, 0]; 1024],
            doc: model::DocHead {
                calib: (1.0, 0.0),
                scale: 0.01,
                bias: 0.0,
                // Empty: the head is off (an all-zero table loads as empty).
                weights: Vec::new(),
                comb: Vec::new(),
            },
            deep: Some(model::Deep {
                dim: 3,
                hidden: 2,
                emb_scale: 0.01,
                emb: (0..3 * 1024).map(|i| (i % 7) as i8 - 3).collect(),
                w1: vec![0.5; 6],
                u: vec![0.25; 2 * rules.infos().len()],
                b1: vec![0.1, -0.1],
                w2: vec![1.0, -1.0, 0.5, 0.5],
                b2: [0.0, 0.1],
            }),
        };
        let bytes = model.to_bytes();
        assert_eq!(
            Model::from_bytes(&bytes, rules.fingerprint()).unwrap(),
            model
        );
        assert!(Model::from_bytes(&bytes, rules.fingerprint() ^ 1).is_err());
        // Version 4: a segment head and a combiner round-trip; a combiner without a
        // segment head, or of the wrong size, is refused.
        let mut m4 = model.clone();
        m4.deep = None;
        m4.doc.weights = (0..1024).map(|i| (i % 5) as i8 - 2).collect();
        m4.doc.comb = (0..model::COMB_LEN).map(|i| i as f32 * 0.5 - 1.0).collect();
        let b4 = m4.to_bytes();
        assert_eq!(Model::from_bytes(&b4, rules.fingerprint()).unwrap(), m4);
        let mut bad = m4.clone();
        bad.doc.weights = Vec::new();
        assert!(Model::from_bytes(&bad.to_bytes(), rules.fingerprint()).is_err());
        bad = m4.clone();
        bad.doc.comb.push(1.0);
        assert!(Model::from_bytes(&bad.to_bytes(), rules.fingerprint()).is_err());
        for i in (0..bytes.len()).step_by(97) {
            let mut b = bytes.clone();
            b[i] ^= 1;
            assert!(Model::from_bytes(&b, rules.fingerprint()).is_err());
        }
    }
}
