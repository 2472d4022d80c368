//! The combined detector: one `RegexSet` prefilter over every rule, validators, and
//! overlap resolution.

use crate::{pii, secrets, Finding, FindingKind, GuardError};
use regex::{Regex, RegexSet};

/// Validates a candidate. Gets the whole text and the candidate span; returns a score, or
/// `None` to reject.
pub(crate) type Validator = fn(&Ctx, &str, usize, usize) -> Option<f32>;

/// One pattern rule.
pub(crate) struct RuleSpec {
    pub kind: FindingKind,
    pub subtype: Option<&'static str>,
    pub pattern: &'static str,
    /// Capture group whose span is reported (0 = whole match).
    pub group: usize,
    pub validate: Validator,
}

struct Rule {
    kind: FindingKind,
    subtype: Option<&'static str>,
    regex: Regex,
    group: usize,
    validate: Validator,
}

/// Shared helpers available to validators (keyword automata).
pub(crate) struct Ctx {
    pub negative_number_context: aho_corasick::AhoCorasick,
    pub version_context: aho_corasick::AhoCorasick,
    pub phone_context: aho_corasick::AhoCorasick,
}

/// Detects PII and secrets. Build once, share freely (`Send + Sync`).
pub struct Detector {
    set: RegexSet,
    rules: Vec<Rule>,
    ctx: Ctx,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("rules", &self.rules.len())
            .finish()
    }
}

impl Detector {
    /// Compiles every rule. Fails only if a built-in pattern is broken (a bug).
    pub fn new() -> Result<Self, GuardError> {
        let specs: Vec<RuleSpec> = pii::rules().into_iter().chain(secrets::rules()).collect();
        let set = RegexSet::new(specs.iter().map(|s| s.pattern))?;
        let mut rules = Vec::with_capacity(specs.len());
        for s in specs {
            rules.push(Rule {
                kind: s.kind,
                subtype: s.subtype,
                regex: Regex::new(s.pattern)?,
                group: s.group,
                validate: s.validate,
            });
        }
        let ctx = Ctx {
            negative_number_context: aho_corasick::AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                .build(pii::NEGATIVE_NUMBER_CONTEXT)?,
            version_context: aho_corasick::AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                .build(pii::VERSION_CONTEXT)?,
            phone_context: aho_corasick::AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                .build(pii::PHONE_CONTEXT)?,
        };
        Ok(Self { set, rules, ctx })
    }

    /// Every finding in `text`, sorted by start, non-overlapping.
    pub fn detect(&self, text: &str) -> Vec<Finding> {
        let mut cands = Vec::new();
        for idx in self.set.matches(text).iter() {
            let Some(rule) = self.rules.get(idx) else {
                continue;
            };
            let mut push = |start: usize, end: usize| {
                if start == end {
                    return;
                }
                if let Some(score) = (rule.validate)(&self.ctx, text, start, end) {
                    cands.push(Finding {
                        kind: rule.kind,
                        subtype: rule.subtype,
                        start,
                        end,
                        score,
                    });
                }
            };
            if rule.group == 0 {
                // No capture groups needed: the faster search path.
                for m in rule.regex.find_iter(text) {
                    push(m.start(), m.end());
                }
            } else {
                for caps in rule.regex.captures_iter(text) {
                    if let Some(m) = caps.get(rule.group) {
                        push(m.start(), m.end());
                    }
                }
            }
        }
        resolve(cands)
    }
}

/// Greedy overlap resolution: SECRET before PII, then longer, then higher score.
fn resolve(mut cands: Vec<Finding>) -> Vec<Finding> {
    cands.sort_by(|a, b| {
        let pa = u8::from(a.kind == FindingKind::Secret);
        let pb = u8::from(b.kind == FindingKind::Secret);
        pb.cmp(&pa)
            .then(b.len().cmp(&a.len()))
            .then(b.score.total_cmp(&a.score))
            .then(a.start.cmp(&b.start))
    });
    let mut out: Vec<Finding> = Vec::with_capacity(cands.len());
    for c in cands {
        if out.iter().all(|o| c.end <= o.start || c.start >= o.end) {
            out.push(c);
        }
    }
    out.sort_by_key(|f| (f.start, f.end));
    out
}

/// The character before `start`, if any.
pub(crate) fn prev_char(text: &str, start: usize) -> Option<char> {
    text.get(..start).and_then(|s| s.chars().next_back())
}

/// The character at `end`, if any.
pub(crate) fn next_char(text: &str, end: usize) -> Option<char> {
    text.get(end..).and_then(|s| s.chars().next())
}

/// Up to `n` bytes of text before `start`, clipped to a char boundary.
pub(crate) fn before(text: &str, start: usize, n: usize) -> &str {
    let mut from = start.saturating_sub(n);
    while from < start && !text.is_char_boundary(from) {
        from += 1;
    }
    text.get(from..start).unwrap_or("")
}

/// Up to `n` bytes of text after `end`, clipped to a char boundary.
pub(crate) fn after(text: &str, end: usize, n: usize) -> &str {
    let mut to = (end + n).min(text.len());
    while to > end && !text.is_char_boundary(to) {
        to -= 1;
    }
    text.get(end..to).unwrap_or("")
}
