//! The combined detector: cheap prefilters first, anchored checks second.
//!
//! No regex ever scans the whole text. One pass of a case-sensitive Aho-Corasick automaton
//! finds literal anchors (`@`, `://`, `-----BEGIN`, `eyJ`, provider prefixes such as
//! `AKIA`, `ghp_`, `sk-`), one pass of a case-insensitive automaton finds keywords
//! (`password`, `token`, `Mr`, `my name is`, `Regards`), and one byte loop finds the starts
//! of numbers, colons (IPv6) and capitalized words (IBAN, names). Each hit then runs a
//! small anchored check at that position only: an anchored `regex-automata` search bounded
//! to a short window, or a hand-written parser, followed by validators (Luhn, mod-97, SSA
//! ranges, `Ipv6Addr` parsing, entropy, keyword context). Work is therefore linear in the
//! text plus a bounded amount per hit, and texts without anchors cost only the scans.

use crate::{person, pii, secrets, Finding, FindingKind, GuardError};
use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use regex_automata::{meta, Anchored, Input};

/// An anchored pattern: matched only at a given start (a prefilter hit), within a bounded
/// window, so it never scans the text.
pub(crate) struct Anch(meta::Regex);

impl Anch {
    pub(crate) fn new(pattern: &str) -> Result<Self, GuardError> {
        meta::Regex::new(pattern)
            .map(Self)
            .map_err(|e| GuardError::Pattern(regex::Error::Syntax(e.to_string())))
    }

    /// End of the match that starts exactly at `start`, looking at most `max` bytes ahead.
    /// Look-around (`\b`) still sees the text outside the window.
    pub(crate) fn end_at(&self, text: &str, start: usize, max: usize) -> Option<usize> {
        if start >= text.len() {
            return None;
        }
        let end = start.saturating_add(max).min(text.len());
        let input = Input::new(text)
            .span(start..end)
            .anchored(Anchored::Yes)
            .earliest(false);
        self.0.search(&input).map(|m| m.end())
    }
}

/// What a literal (case-sensitive) anchor triggers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Lit {
    /// `@`: an email address around it.
    Email,
    /// `://`: credentials in a URL's userinfo.
    Url,
    /// A provider key rule (index into the secret rules).
    Provider(usize),
}

/// What a case-insensitive keyword triggers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kw {
    /// A secret keyword (`password`, `token`, ...): look for an assigned value.
    Secret,
    /// `Bearer `: an HTTP bearer token follows.
    Bearer,
    /// A cue for a person's name.
    Person(person::Cue),
}

/// Shared automata and compiled rules available to the checks.
pub(crate) struct Ctx {
    pub negative_number_context: AhoCorasick,
    pub version_context: AhoCorasick,
    pub phone_context: AhoCorasick,
    pub pii: pii::Rules,
    pub secrets: secrets::Rules,
    pub person: person::Names,
}

/// Detects PII and secrets. Build once, share freely (`Send + Sync`).
pub struct Detector {
    literal: AhoCorasick,
    literal_act: Vec<Lit>,
    keyword: AhoCorasick,
    keyword_act: Vec<Kw>,
    ctx: Ctx,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("literal_anchors", &self.literal_act.len())
            .field("keywords", &self.keyword_act.len())
            .finish()
    }
}

fn words(list: &[&str]) -> Result<AhoCorasick, GuardError> {
    Ok(AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::LeftmostLongest)
        .build(list)?)
}

/// Byte classes for the single scan loop.
const C_NONE: u8 = 0;
const C_DIGIT: u8 = 1;
const C_PLUS_PAREN: u8 = 2;
const C_COLON: u8 = 3;
const C_UPPER: u8 = 4;
const C_HIGH: u8 = 5;

const CLASS: [u8; 256] = {
    let mut t = [C_NONE; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = if b.is_ascii_digit() {
            C_DIGIT
        } else if b == b'+' || b == b'(' {
            C_PLUS_PAREN
        } else if b == b':' {
            C_COLON
        } else if b.is_ascii_uppercase() {
            C_UPPER
        } else if b >= 0xC0 {
            C_HIGH
        } else {
            C_NONE
        };
        i += 1;
    }
    t
};

impl Detector {
    /// Compiles every rule. Fails only if a built-in pattern is broken (a bug).
    pub fn new() -> Result<Self, GuardError> {
        let secrets = secrets::Rules::new()?;
        let mut lit_pats: Vec<&'static str> = vec!["@", "://"];
        let mut literal_act = vec![Lit::Email, Lit::Url];
        for (i, anchor) in secrets.anchors() {
            lit_pats.push(anchor);
            literal_act.push(Lit::Provider(i));
        }
        // A DFA without prefilter: the anchors start with common letters, so a start-byte
        // prefilter would stop at most bytes; the DFA is one table lookup per byte.
        let literal = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::DFA))
            .prefilter(false)
            .build(&lit_pats)?;

        let mut kw_pats: Vec<&'static str> = Vec::new();
        let mut keyword_act = Vec::new();
        for k in secrets::KEYWORDS {
            kw_pats.push(k);
            keyword_act.push(Kw::Secret);
        }
        kw_pats.push("bearer ");
        keyword_act.push(Kw::Bearer);
        for (k, cue) in person::CUES {
            kw_pats.push(k);
            keyword_act.push(Kw::Person(*cue));
        }
        let keyword = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::DFA))
            .prefilter(false)
            .build(&kw_pats)?;

        let ctx = Ctx {
            negative_number_context: words(pii::NEGATIVE_NUMBER_CONTEXT)?,
            version_context: words(pii::VERSION_CONTEXT)?,
            phone_context: words(pii::PHONE_CONTEXT)?,
            pii: pii::Rules::new()?,
            secrets,
            person: person::Names::new(),
        };
        Ok(Self {
            literal,
            literal_act,
            keyword,
            keyword_act,
            ctx,
        })
    }

    /// Every finding in `text`, sorted by start, non-overlapping.
    pub fn detect(&self, text: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        self.detect_into(text, &mut out);
        out
    }

    /// Like [`Detector::detect`], reusing `out` (cleared first) to avoid an allocation per
    /// call on hot paths.
    pub fn detect_into(&self, text: &str, out: &mut Vec<Finding>) {
        out.clear();
        let ctx = &self.ctx;
        for m in self.literal.find_iter(text) {
            match self.literal_act.get(m.pattern().as_usize()) {
                Some(Lit::Email) => pii::email_at(text, m.start(), out),
                Some(Lit::Url) => secrets::url_userinfo(text, m.start(), out),
                Some(Lit::Provider(i)) => ctx.secrets.provider(*i, text, m.start(), out),
                None => {}
            }
        }
        // Skip keyword hits inside an identifier already handled (`client_secret_token`).
        let mut kw_done = 0;
        for m in self.keyword.find_iter(text) {
            match self.keyword_act.get(m.pattern().as_usize()) {
                Some(Kw::Secret) if m.start() >= kw_done => {
                    kw_done = secrets::keyword_value(ctx, text, m.start(), m.end(), out);
                }
                Some(Kw::Bearer) => secrets::bearer(text, m.end(), out),
                Some(Kw::Person(cue)) => person::cue(ctx, *cue, text, m.start(), m.end(), out),
                _ => {}
            }
        }
        self.scan_bytes(text, out);
        resolve(out);
    }

    /// One loop over the bytes: number starts, colons, capitalized words.
    fn scan_bytes(&self, text: &str, out: &mut Vec<Finding>) {
        let ctx = &self.ctx;
        let b = text.as_bytes();
        let (mut num_skip, mut v6_skip, mut word_skip) = (0usize, 0usize, 0usize);
        for (i, &c) in b.iter().enumerate() {
            match CLASS[usize::from(c)] {
                C_NONE => {}
                C_DIGIT | C_PLUS_PAREN => {
                    if i >= num_skip {
                        if let Some(e) = pii::numeric(ctx, text, i, out) {
                            num_skip = e;
                        }
                    }
                }
                C_COLON => {
                    if i >= v6_skip {
                        v6_skip = pii::ipv6_at_colon(text, i, out);
                    }
                }
                C_UPPER => {
                    if i >= word_skip && word_start(b, i) {
                        pii::iban_at(text, i, out);
                        word_skip = person::capitalized(ctx, text, i, out);
                    }
                }
                _ => {
                    // A non-ASCII lead byte after an ASCII non-letter: maybe `Ángel`.
                    if i >= word_skip && i > 0 && word_start(b, i) {
                        word_skip = person::capitalized(ctx, text, i, out);
                    }
                }
            }
        }
    }
}

/// Whether position `i` starts a word (previous byte is ASCII and not a letter, digit or
/// `_`; a preceding non-ASCII byte counts as a letter).
fn word_start(b: &[u8], i: usize) -> bool {
    match i.checked_sub(1).and_then(|j| b.get(j)) {
        None => true,
        Some(&p) => p < 0x80 && !p.is_ascii_alphanumeric() && p != b'_',
    }
}

/// Overlap resolution: within each cluster of overlapping candidates, greedily keep SECRET
/// before PII, then the longer span, then the higher score. Sorting by start first keeps
/// this near-linear even with thousands of findings.
fn resolve(cands: &mut Vec<Finding>) {
    if cands.len() < 2 {
        return;
    }
    cands.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
    let all = std::mem::take(cands);
    let mut i = 0;
    while i < all.len() {
        let mut j = i + 1;
        let mut end = all[i].end;
        while j < all.len() && all[j].start < end {
            end = end.max(all[j].end);
            j += 1;
        }
        if j == i + 1 {
            cands.push(all[i].clone());
        } else {
            let mut cluster: Vec<&Finding> = all[i..j].iter().collect();
            cluster.sort_by(|a, b| {
                let pa = u8::from(a.kind == FindingKind::Secret);
                let pb = u8::from(b.kind == FindingKind::Secret);
                pb.cmp(&pa)
                    .then(b.len().cmp(&a.len()))
                    .then(b.score.total_cmp(&a.score))
                    .then(a.start.cmp(&b.start))
            });
            let from = cands.len();
            for c in cluster {
                if cands[from..]
                    .iter()
                    .all(|o| c.end <= o.start || c.start >= o.end)
                {
                    cands.push(c.clone());
                }
            }
            cands[from..].sort_by_key(|f| (f.start, f.end));
        }
        i = j;
    }
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
    let mut to = end.saturating_add(n).min(text.len());
    while to > end && !text.is_char_boundary(to) {
        to -= 1;
    }
    text.get(end..to).unwrap_or("")
}

/// Pushes a finding.
pub(crate) fn push(
    out: &mut Vec<Finding>,
    kind: FindingKind,
    subtype: Option<&'static str>,
    start: usize,
    end: usize,
    score: f32,
) {
    if start < end {
        out.push(Finding {
            kind,
            subtype,
            start,
            end,
            score,
        });
    }
}
