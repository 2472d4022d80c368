//! Prompt-injection and jailbreak detection.
//!
//! Three layers, all in-process and allocation-light:
//!
//! 1. [`crate::normalize`]: NFKC-style folding, invisible/tag characters, homoglyphs,
//!    leetspeak, and decoded base64/hex/url/rot13/split payloads appended as segments.
//! 2. [`rules`]: `aho-corasick` phrases (nine languages) and a `RegexSet` of structural
//!    patterns (fake role markers, transcripts, prompt extraction, exfiltration links,
//!    tool hijacking, persona/refusal-suppression framings).
//! 3. A linear model ([`model`]) with two logistic heads (injection, jailbreak) over
//!    hashed byte n-grams, word uni/bigrams ([`features`]) and the rule hits, trained by
//!    [`train`] and shipped as `model/injection.bin` (embedded at compile time).
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
}

impl InjectionScanner {
    /// Loads the embedded model and compiles the rules.
    pub fn new() -> Result<Self, GuardError> {
        Self::from_model_bytes(EMBEDDED_MODEL)
    }

    /// Builds a scanner from a model file's bytes (validated; never panics).
    pub fn from_model_bytes(bytes: &[u8]) -> Result<Self, GuardError> {
        let rules = Rules::new()?;
        let model = Model::from_bytes(bytes, rules.fingerprint())?;
        Ok(Self::with_model(rules, model))
    }

    pub(crate) fn with_model(rules: Rules, model: Model) -> Self {
        let bits = model.cfg.bits;
        let rule_buckets = rules
            .infos()
            .iter()
            .map(|i| features::rule_bucket(i.id, bits))
            .collect();
        Self {
            rules,
            model,
            rule_buckets,
        }
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
        if !d.hits.is_empty()
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
    /// whole-text logit and the best window's (see [`features`]).
    pub(crate) fn logits(&self, norm: &str, hits: &[RuleHit]) -> [f32; 3] {
        let w = &self.model.weights;
        let dw = &self.model.doc.weights;
        let nbins = norm.len() / features::BIN + 1;
        let windowed = nbins > features::WINDOW_BINS + 1;
        let mut bins: Vec<[i32; 4]> = if windowed {
            vec![[0; 4]; nbins]
        } else {
            Vec::new()
        };
        let (mut a, mut b) = (0i32, 0i32);
        let n = features::for_each(norm, self.model.cfg, |k, pos| {
            let p = w[k as usize];
            a += i32::from(p[0]);
            b += i32::from(p[1]);
            if windowed {
                if let Some(bin) = bins.get_mut(pos / features::BIN) {
                    bin[0] += i32::from(p[0]);
                    bin[1] += i32::from(p[1]);
                    bin[2] += 1;
                    bin[3] += i32::from(dw.get(k as usize).copied().unwrap_or(0));
                }
            }
        });
        let (ra, rb) = self.rule_sums(hits);
        let s = self.model.scale;
        let head = |sum: i32, count: u32, r: i32, h: usize| {
            let inv = if count == 0 {
                0.0
            } else {
                1.0 / (count as f32).sqrt()
            };
            self.model.bias[h] + s[h] * (sum as f32 * inv + r as f32)
        };
        let mut out = [
            head(a, n as u32, ra, 0),
            head(b, n as u32, rb, 1),
            f32::NEG_INFINITY,
        ];
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
        out
    }

    /// Summed quantized weights of the distinct rules hit, per head.
    fn rule_sums(&self, hits: &[RuleHit]) -> (i32, i32) {
        let w = &self.model.weights;
        let (mut ra, mut rb) = (0i32, 0i32);
        let mut seen: u64 = 0;
        for h in hits {
            // Each rule counts once, however often it hits.
            let bit = 1u64 << (h.rule % 64);
            if seen & bit != 0 {
                continue;
            }
            seen |= bit;
            let p = w[self.rule_buckets[h.rule as usize] as usize];
            ra += i32::from(p[0]);
            rb += i32::from(p[1]);
        }
        (ra, rb)
    }
}

impl InjectionScanner {
    /// Calibrated scores from the three logits: the document head's score (an inserted
    /// instruction in a long text) counts as injection.
    pub(crate) fn scores_of(&self, z: &[f32; 3]) -> Scores {
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
            },
        };
        let bytes = model.to_bytes();
        assert_eq!(
            Model::from_bytes(&bytes, rules.fingerprint()).unwrap(),
            model
        );
        assert!(Model::from_bytes(&bytes, rules.fingerprint() ^ 1).is_err());
        for i in (0..bytes.len()).step_by(97) {
            let mut b = bytes.clone();
            b[i] ^= 1;
            assert!(Model::from_bytes(&b, rules.fingerprint()).is_err());
        }
    }
}
