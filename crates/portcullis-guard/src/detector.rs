//! The combined detector: cheap prefilters first, anchored checks second.
//!
//! No regex ever scans the whole text. One pass of an Aho-Corasick automaton finds both
//! the literal anchors (`@`, `://`, `-----BEGIN`, `eyJ`, provider prefixes such as `AKIA`,
//! `ghp_`, `sk-`; case-sensitive) and the keywords (`password`, `token`, `Mr`, `my name
//! is`, `Regards`; any case), and one byte loop finds the starts of numbers, colons (IPv6)
//! and capitalized words (IBAN, names). Each hit then runs a small anchored check at that
//! position only: an anchored `regex-automata` search bounded to a short window, or a
//! hand-written parser, followed by validators (Luhn, mod-97, SSA ranges, `Ipv6Addr`
//! parsing, entropy, keyword context). Work is therefore linear in the
//! text plus a bounded amount per hit, and texts without anchors cost only the scans.

use crate::{person, pii, secrets, Finding, FindingKind, GuardError};
use aho_corasick::automaton::Automaton;
use aho_corasick::{AhoCorasick, MatchKind, StartKind};
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
    /// The literal anchors (patterns `0..lit_pats.len()`) and the keywords (the rest) in
    /// one ASCII-case-insensitive automaton that reports every occurrence (see
    /// [`Detector::anchor_hits`]).
    anchors: aho_corasick::dfa::DFA,
    /// The literal anchors as written: a literal counts only in this case.
    lit_pats: Vec<&'static str>,
    literal_act: Vec<Lit>,
    #[cfg(test)]
    kw_pats: Vec<&'static str>,
    keyword_act: Vec<Kw>,
    /// Index of the first watched literal (see [`Detector::with_watch`]); the patterns
    /// from here on are reported to the caller, not detected.
    watch_base: usize,
    ctx: Ctx,
}

/// One occurrence of an anchor pattern: byte span and pattern index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Hit {
    start: usize,
    /// `usize::MAX - end`, so sorting puts the longest first among equal starts.
    rev_end: usize,
    pattern: usize,
}

impl Hit {
    fn end(&self) -> usize {
        usize::MAX - self.rev_end
    }
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
        Self::with_watch(&[])
    }

    /// Like [`Detector::new`], with extra literals the same scan watches for (ASCII
    /// case-insensitively) on behalf of the caller: [`Detector::detect_into_watching`]
    /// reports each occurrence of one. A caller that would otherwise scan every text again
    /// for its own vocabulary (the dataset scanner's injection gate) gets it from the pass
    /// over the bytes that detection makes anyway. Findings do not depend on the watched
    /// literals.
    pub fn with_watch(watch: &[&str]) -> Result<Self, GuardError> {
        if watch.iter().any(|w| w.is_empty()) {
            return Err(GuardError::Pattern(regex::Error::Syntax(
                "empty watched literal".into(),
            )));
        }
        let secrets = secrets::Rules::new()?;
        let mut lit_pats: Vec<&'static str> = vec!["@", "://"];
        let mut literal_act = vec![Lit::Email, Lit::Url];
        for (i, anchor) in secrets.anchors() {
            lit_pats.push(anchor);
            literal_act.push(Lit::Provider(i));
        }
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
        // Leftmost-longest selection from all occurrences (`anchor_hits`) is unambiguous
        // only without duplicate patterns in a set (a bug in the lists otherwise).
        for (set, case_insensitive) in [(&lit_pats, false), (&kw_pats, true)] {
            let mut seen = std::collections::HashSet::new();
            for p in set.iter() {
                let key = if case_insensitive {
                    p.to_ascii_lowercase()
                } else {
                    (*p).to_string()
                };
                if !seen.insert(key) {
                    return Err(GuardError::Pattern(regex::Error::Syntax(format!(
                        "duplicate detector anchor {p:?}"
                    ))));
                }
            }
        }
        // One DFA for both sets: every byte of every text went through two automata, a
        // tenth of the dataset scanner's time each. Without a prefilter: the anchors start
        // with common letters, so a start-byte prefilter would stop at most bytes; the DFA
        // is one table lookup per byte.
        // The DFA itself (not the `AhoCorasick` wrapper), walked by `for_each_anchor`.
        let anchors = aho_corasick::dfa::DFA::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .start_kind(StartKind::Unanchored)
            .prefilter(false)
            .build(lit_pats.iter().chain(kw_pats.iter()).chain(watch.iter()))?;
        let watch_base = lit_pats.len() + kw_pats.len();

        let ctx = Ctx {
            negative_number_context: words(pii::NEGATIVE_NUMBER_CONTEXT)?,
            version_context: words(pii::VERSION_CONTEXT)?,
            phone_context: words(pii::PHONE_CONTEXT)?,
            pii: pii::Rules::new()?,
            secrets,
            person: person::Names::new(),
        };
        Ok(Self {
            anchors,
            lit_pats,
            literal_act,
            #[cfg(test)]
            kw_pats,
            keyword_act,
            watch_base,
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
        self.detect_into_watching(text, true, out, |_| {});
    }

    /// Like [`Detector::detect_into`], also calling `seen(i)` for each occurrence in
    /// `text` of the watched literal `i` (see [`Detector::with_watch`]), ASCII
    /// case-insensitively. With `persons` false, person names are not looked for at all
    /// (a caller that would drop them saves the capitalized-word checks, and a name can
    /// then never hide an overlapping finding of another kind).
    pub fn detect_into_watching(
        &self,
        text: &str,
        persons: bool,
        out: &mut Vec<Finding>,
        mut seen: impl FnMut(usize),
    ) {
        out.clear();
        let ctx = &self.ctx;
        let hits = self.anchor_hits(text, &mut seen);
        let n_lit = self.lit_pats.len();
        for h in leftmost_longest(&hits, |p| p < n_lit) {
            match self.literal_act.get(h.pattern) {
                Some(Lit::Email) => pii::email_at(text, h.start, out),
                Some(Lit::Url) => secrets::url_userinfo(text, h.start, out),
                Some(Lit::Provider(i)) => ctx.secrets.provider(*i, text, h.start, out),
                None => {}
            }
        }
        // Skip keyword hits inside an identifier already handled (`client_secret_token`).
        let mut kw_done = 0;
        for h in leftmost_longest(&hits, |p| p >= n_lit) {
            match self.keyword_act.get(h.pattern - n_lit) {
                Some(Kw::Secret) if h.start >= kw_done => {
                    kw_done = secrets::keyword_value(ctx, text, h.start, h.end(), out);
                }
                Some(Kw::Bearer) => secrets::bearer(text, h.end(), out),
                Some(Kw::Person(cue)) if persons => {
                    person::cue(ctx, *cue, text, h.start, h.end(), out)
                }
                _ => {}
            }
        }
        self.scan_bytes(text, persons, out);
        resolve(out);
    }

    /// Every occurrence of an anchor pattern in `text` (literals only in their own case),
    /// sorted by start, longest first. The two sets used to be scanned by one
    /// leftmost-longest automaton each; [`leftmost_longest`] picks from these exactly the
    /// matches those scans reported (tested against them).
    fn anchor_hits(&self, text: &str, seen: &mut impl FnMut(usize)) -> Vec<Hit> {
        let mut hits = Vec::new();
        let b = text.as_bytes();
        self.for_each_anchor(b, |start, end, pattern| {
            if pattern >= self.watch_base {
                seen(pattern - self.watch_base);
                return;
            }
            if let Some(lit) = self.lit_pats.get(pattern) {
                if b.get(start..end) != Some(lit.as_bytes()) {
                    return;
                }
            }
            hits.push(Hit {
                start,
                rev_end: usize::MAX - end,
                pattern,
            });
        });
        hits.sort_unstable();
        hits
    }

    /// Calls `f(start, end, pattern)` for every occurrence of every anchor pattern in `b`
    /// (overlapping ones included), in no particular order.
    ///
    /// Written by hand over the DFA's transitions (the crate's own overlapping search
    /// visits one state per byte, and each visit waits for the previous one's table load:
    /// the table is too large for the L1 cache, so the scan was bound by that latency, the
    /// largest single cost of the dataset scanner). A text of some length is walked as two
    /// halves side by side, two independent chains of loads in flight: the second half
    /// starts `max_pattern_len - 1` bytes early (an automaton started anywhere reports
    /// every occurrence that starts there or later) and reports only the occurrences that
    /// end inside it.
    fn for_each_anchor(&self, b: &[u8], mut f: impl FnMut(usize, usize, usize)) {
        let dfa = &self.anchors;
        let Ok(start) = dfa.start_state(aho_corasick::Anchored::No) else {
            return;
        };
        let mut report = |sid, end: usize| {
            for k in 0..dfa.match_len(sid) {
                let pid = dfa.match_pattern(sid, k);
                f(
                    end.saturating_sub(dfa.pattern_len(pid)),
                    end,
                    pid.as_usize(),
                );
            }
        };
        let step = |sid, byte| dfa.next_state(aho_corasick::Anchored::No, sid, byte);
        let overlap = dfa.max_pattern_len().saturating_sub(1);
        let n = b.len();
        if n < 4 * (overlap + 8) {
            let mut sid = start;
            for (j, &c) in b.iter().enumerate() {
                sid = step(sid, c);
                if dfa.is_special(sid) && dfa.is_match(sid) {
                    report(sid, j + 1);
                }
            }
            return;
        }
        // The first half reports ends in 1..=mid; the second, from `q`, ends after mid.
        let mid = (n + overlap) / 2;
        let q = mid - overlap;
        let (Some(lo), Some(hi)) = (b.get(..mid), b.get(q..)) else {
            return;
        };
        let (mut s1, mut s2) = (start, start);
        for (j, (&x, &y)) in lo.iter().zip(hi).enumerate() {
            s1 = step(s1, x);
            s2 = step(s2, y);
            if dfa.is_special(s1) && dfa.is_match(s1) {
                report(s1, j + 1);
            }
            if dfa.is_special(s2) && dfa.is_match(s2) && q + j + 1 > mid {
                report(s2, q + j + 1);
            }
        }
        // The second half is at most one byte longer.
        for (j, &y) in hi.iter().enumerate().skip(lo.len()) {
            s2 = step(s2, y);
            if dfa.is_special(s2) && dfa.is_match(s2) && q + j + 1 > mid {
                report(s2, q + j + 1);
            }
        }
    }

    /// One loop over the bytes: number starts, colons, capitalized words.
    ///
    /// The bytes are classified 64 at a time into a bit mask of the ones that can start
    /// something ([`interesting`]), and only those are visited: in prose, about one byte
    /// in twenty. Visiting every byte through the class table was a tenth of the
    /// dataset scan's per-record time.
    fn scan_bytes(&self, text: &str, persons: bool, out: &mut Vec<Finding>) {
        let ctx = &self.ctx;
        let b = text.as_bytes();
        let (mut num_skip, mut v6_skip, mut word_skip) = (0usize, 0usize, 0usize);
        for (k, chunk) in b.chunks(64).enumerate() {
            let mut m = interesting(chunk, persons);
            while m != 0 {
                let j = m.trailing_zeros() as usize;
                m &= m - 1;
                let i = k * 64 + j;
                let Some(&c) = chunk.get(j) else { break };
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
                            if persons {
                                word_skip = person::capitalized(ctx, text, i, out);
                            }
                        }
                    }
                    _ => {
                        // A non-ASCII lead byte after an ASCII non-letter: maybe `Ángel`.
                        if persons && i >= word_skip && i > 0 && word_start(b, i) {
                            word_skip = person::capitalized(ctx, text, i, out);
                        }
                    }
                }
            }
        }
    }
}

/// Bit `j` set when byte `j` of `chunk` (at most 64 bytes) is one [`Detector::scan_bytes`]
/// acts on: a digit, `+`, `(`, `:`, an upper-case ASCII letter, or, with `persons`, a
/// non-ASCII lead byte (`CLASS` other than `C_NONE`). Written so the compiler turns it
/// into vector compares and a mask move; compiled also for AVX-512 and AVX2, chosen at
/// run time (`multiversion`), the same mask on every path.
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx2+avx+sse4.2+sse4.1+ssse3+sse3",
    "x86_64+avx2+avx+sse4.2+sse4.1+ssse3+sse3"
))]
fn interesting(chunk: &[u8], persons: bool) -> u64 {
    let mut m = 0u64;
    for (j, &c) in chunk.iter().enumerate().take(64) {
        // Digits and `:` are 0x30..=0x3A.
        let hit = (c.wrapping_sub(b'0') <= 10)
            | (c == b'+')
            | (c == b'(')
            | (c.wrapping_sub(b'A') < 26)
            | (persons & (c >= 0xC0));
        m |= u64::from(hit) << j;
    }
    m
}

/// The matches a leftmost-longest scan for the patterns `keep` selects reports, from all
/// occurrences sorted by start and longest first: the first occurrence at or after the end
/// of the previous match (the scan resumes there), which is the leftmost and, among those,
/// the longest.
fn leftmost_longest<'a>(
    hits: &'a [Hit],
    keep: impl Fn(usize) -> bool + 'a,
) -> impl Iterator<Item = Hit> + 'a {
    let mut next = 0;
    hits.iter().copied().filter(move |h| {
        if keep(h.pattern) && h.start >= next {
            next = h.end();
            true
        } else {
            false
        }
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    /// `(start, end, pattern)` of the matches of one anchor set.
    type Spans = Vec<(usize, usize, usize)>;

    fn detector() -> &'static Detector {
        static D: OnceLock<Detector> = OnceLock::new();
        D.get_or_init(|| Detector::new().unwrap())
    }

    /// The scans the combined automaton replaced: one leftmost-longest automaton per set,
    /// the literals case-sensitive, the keywords not.
    fn reference(text: &str) -> (Spans, Spans) {
        static A: OnceLock<(AhoCorasick, AhoCorasick)> = OnceLock::new();
        let d = detector();
        let (lit, kw) = A.get_or_init(|| {
            let lit = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                .prefilter(false)
                .build(&d.lit_pats)
                .unwrap();
            let kw = AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::LeftmostLongest)
                .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                .prefilter(false)
                .build(&d.kw_pats)
                .unwrap();
            (lit, kw)
        });
        let spans = |a: &AhoCorasick, off: usize| -> Spans {
            a.find_iter(text)
                .map(|m| (m.start(), m.end(), m.pattern().as_usize() + off))
                .collect()
        };
        (spans(lit, 0), spans(kw, d.lit_pats.len()))
    }

    fn combined(text: &str) -> (Spans, Spans) {
        let d = detector();
        let hits = d.anchor_hits(text, &mut |_| {});
        let n = d.lit_pats.len();
        let spans = |keep: &dyn Fn(usize) -> bool| -> Spans {
            leftmost_longest(&hits, keep)
                .map(|h| (h.start, h.end(), h.pattern))
                .collect()
        };
        (spans(&|p| p < n), spans(&|p| p >= n))
    }

    #[test]
    fn combined_scan_reports_what_the_two_scans_did() {
        for text in [
            "",
            "Contact Mr Smith at john.smith@example.com or https://user:pw@host/",
            "password=hunter2 token: abc api_key=sk-ant-xyz AKIA1234567890ABCDEF",
            "MY NAME IS Ann; name: Bob; full name: Carl; Dear Dora, attn: Eve",
            "Bearer eyJhbGciOi.x.y -----BEGIN RSA PRIVATE KEY----- ghp_abcdef",
            "sk-sk-ant-sk_live_rk_test_ SKAC ACCA ASIA AccountKey=SharedAccessKey=",
            "mrs mr ms miss mx drdr professor prof passwordpasswd _pass secretoken",
            "from:to:cc:bcc: FROM: To: customer: employee: patient patient:",
        ] {
            assert_eq!(combined(text), reference(text), "{text:?}");
        }
    }

    /// The byte loop [`Detector::scan_bytes`] replaced: every byte through the class table.
    fn scan_bytes_reference(d: &Detector, text: &str, persons: bool) -> Vec<Finding> {
        let mut out = Vec::new();
        let ctx = &d.ctx;
        let b = text.as_bytes();
        let (mut num_skip, mut v6_skip, mut word_skip) = (0usize, 0usize, 0usize);
        for (i, &c) in b.iter().enumerate() {
            match CLASS[usize::from(c)] {
                C_NONE => {}
                C_DIGIT | C_PLUS_PAREN => {
                    if i >= num_skip {
                        if let Some(e) = pii::numeric(ctx, text, i, &mut out) {
                            num_skip = e;
                        }
                    }
                }
                C_COLON => {
                    if i >= v6_skip {
                        v6_skip = pii::ipv6_at_colon(text, i, &mut out);
                    }
                }
                C_UPPER => {
                    if i >= word_skip && word_start(b, i) {
                        pii::iban_at(text, i, &mut out);
                        if persons {
                            word_skip = person::capitalized(ctx, text, i, &mut out);
                        }
                    }
                }
                _ => {
                    if persons && i >= word_skip && i > 0 && word_start(b, i) {
                        word_skip = person::capitalized(ctx, text, i, &mut out);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn interesting_bytes_are_the_class_table_s() {
        for persons in [false, true] {
            for c in 0..=255u8 {
                let class = CLASS[usize::from(c)];
                let want = class != C_NONE && (persons || class != C_HIGH);
                // At every position of a chunk, alone among bytes that are never hits.
                for j in [0usize, 1, 31, 32, 63] {
                    let mut chunk = [b'a'; 64];
                    chunk[j] = c;
                    let m = interesting(&chunk, persons);
                    assert_eq!(
                        m,
                        u64::from(want) << j,
                        "byte {c:#x} at {j}, persons {persons}"
                    );
                }
                // And in a short last chunk.
                let m = interesting(&[b' ', c, b'x'], persons);
                assert_eq!(m, u64::from(want) << 1, "byte {c:#x}, short chunk");
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1500))]
        /// Texts dense in numbers, phones, cards, IBANs, IPv6 addresses and names, of every
        /// length around the 64-byte blocks: the masked walk finds what the byte loop found.
        #[test]
        fn masked_byte_scan_matches_the_byte_loop(
            parts in proptest::collection::vec(0usize..24, 0..60),
            persons in proptest::bool::ANY,
        ) {
            const P: [&str; 24] = [
                " ", "x", "Ana ", "Ángel ", "+1 (555) 010-9999", "4111 1111 1111 1111",
                "DE89370400440532013000", "GB82 WEST 1234 5698 7654 32", "2001:db8::1",
                "::ffff:10.0.0.1", "192.168.1.20", "123-45-6789", "(", "+", ":", "9",
                "Mr. John Smith", "Dear Maria,", "é", "日本", "\n", "\n\n", "v1.2.3", "ID:",
            ];
            let text: String = parts.iter().map(|&k| P[k]).collect();
            let d = detector();
            let mut got = Vec::new();
            d.scan_bytes(&text, persons, &mut got);
            proptest::prop_assert_eq!(got, scan_bytes_reference(d, &text, persons), "{:?}", text);
        }
    }

    fn fragments() -> Vec<String> {
        let d = detector();
        let mut v: Vec<String> = d
            .lit_pats
            .iter()
            .chain(&d.kw_pats)
            .map(|s| s.to_string())
            .collect();
        // Prefixes and overlaps of the patterns, and fillers.
        let more: Vec<String> = v
            .iter()
            .filter(|p| p.len() > 2)
            .map(|p| p.get(..p.len() / 2).unwrap_or_default().to_string())
            .collect();
        v.extend(more);
        v.extend([" ", "_", "-", ":", "=", "x", "1", "é", "\n"].map(String::from));
        v
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// Texts made of the patterns, their halves and fillers, in random case: the
        /// combined scan selects exactly the reference scans' matches.
        #[test]
        fn combined_scan_matches_the_reference_scans(
            parts in proptest::collection::vec((0usize..1000, proptest::bool::ANY, proptest::bool::ANY), 0..40),
        ) {
            let f = fragments();
            let mut text = String::new();
            for (i, upper, first_upper) in parts {
                let frag = &f[i % f.len()];
                if upper {
                    text.push_str(&frag.to_ascii_uppercase());
                } else if first_upper {
                    let mut c = frag.chars();
                    if let Some(h) = c.next() {
                        text.extend(h.to_uppercase());
                        text.push_str(c.as_str());
                    }
                } else {
                    text.push_str(frag);
                }
            }
            proptest::prop_assert_eq!(combined(&text), reference(&text), "{:?}", text);
        }

        #[test]
        fn combined_scan_matches_the_reference_on_any_text(text in "\\PC{0,200}") {
            proptest::prop_assert_eq!(combined(&text), reference(&text));
        }

        /// Watched literals (some overlapping each other and the detector's own anchors)
        /// are reported at every occurrence, in any ASCII case, and change no finding.
        #[test]
        fn watched_literals_are_reported_and_change_no_finding(
            parts in proptest::collection::vec((0usize..1000, proptest::bool::ANY), 0..40),
        ) {
            let f = fragments();
            let mut text = String::new();
            for (i, upper) in parts {
                let frag = f.get(i % (f.len() + WATCH.len())).map_or_else(
                    || WATCH[(i % (f.len() + WATCH.len())) - f.len()].to_string(),
                    Clone::clone,
                );
                text.push_str(&if upper { frag.to_ascii_uppercase() } else { frag });
            }
            let (got, counts) = watched(&text);
            proptest::prop_assert_eq!(got, detector().detect(&text));
            let low = text.to_ascii_lowercase();
            for (w, n) in WATCH.iter().zip(counts) {
                let want = (0..low.len()).filter(|&k| low.get(k..).is_some_and(|r| r.starts_with(w))).count();
                proptest::prop_assert_eq!(n, want, "{:?} in {:?}", w, text);
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]
        /// Without person names: no PERSON finding ever, and when the full detector
        /// reports no name either, exactly the same findings (a rejected name candidate
        /// never changes the others).
        #[test]
        fn without_persons_only_names_differ(
            parts in proptest::collection::vec(0usize..2000, 0..40),
        ) {
            let mut f = fragments();
            f.extend(
                [
                    "Maria Garcia", "Mr. Smith", "Dr. Anna Berger ", "my name is John Doe",
                    "Ángel Pérez", " Hans Müller,", "DE89 3704 0044 0532 0130 00",
                    "jane.doe@example.com", "+44 20 7946 0958", "Contact: ", "Dear Sam,",
                ]
                .map(String::from),
            );
            let text: String = parts.iter().map(|&i| f[i % f.len()].as_str()).collect();
            let d = detector();
            let full = d.detect(&text);
            let mut without = Vec::new();
            d.detect_into_watching(&text, false, &mut without, |_| {});
            proptest::prop_assert!(without.iter().all(|x| x.kind != FindingKind::Person));
            if full.iter().all(|x| x.kind != FindingKind::Person) {
                proptest::prop_assert_eq!(without, full);
            }
        }
    }

    #[test]
    fn without_persons_names_are_not_looked_for() {
        let text = "Please call Maria Garcia at +44 20 7946 0958 or write to maria@example.com.";
        let d = detector();
        assert!(d.detect(text).iter().any(|x| x.kind == FindingKind::Person));
        let mut without = Vec::new();
        d.detect_into_watching(text, false, &mut without, |_| {});
        let kinds: Vec<FindingKind> = without.iter().map(|x| x.kind).collect();
        assert!(!kinds.contains(&FindingKind::Person), "{kinds:?}");
        assert!(kinds.contains(&FindingKind::Email), "{kinds:?}");
        assert!(kinds.contains(&FindingKind::Phone), "{kinds:?}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]
        /// The hand-written walk (two halves side by side on longer texts) reports exactly
        /// the occurrences the crate's overlapping search reports.
        #[test]
        fn anchor_walk_matches_the_crates_overlapping_search(
            parts in proptest::collection::vec((0usize..1000, proptest::bool::ANY), 0..120),
        ) {
            let d = watching();
            let f = fragments();
            let mut text = String::new();
            for (i, upper) in parts {
                let k = i % (f.len() + WATCH.len());
                let frag = f.get(k).cloned().unwrap_or_else(|| WATCH[k - f.len()].to_string());
                text.push_str(&if upper { frag.to_ascii_uppercase() } else { frag });
            }
            let reference = AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .build(d.lit_pats.iter().chain(d.kw_pats.iter()).chain(WATCH.iter()))
                .unwrap();
            // As generated, and long enough to be walked in two halves.
            let long = text.repeat(1 + 8 * d.anchors.max_pattern_len() / text.len().max(1));
            proptest::prop_assert!(text.is_empty() || long.len() >= 8 * d.anchors.max_pattern_len());
            for t in [&text, &long] {
                let mut want: Vec<(usize, usize, usize)> = reference
                    .find_overlapping_iter(t.as_str())
                    .map(|m| (m.start(), m.end(), m.pattern().as_usize()))
                    .collect();
                let mut got = Vec::new();
                d.for_each_anchor(t.as_bytes(), |s, e, p| got.push((s, e, p)));
                want.sort_unstable();
                got.sort_unstable();
                proptest::prop_assert_eq!(got, want);
            }
        }
    }

    const WATCH: [&str; 6] = ["ignor", "ignore previous", "pass", "dan", "инструкц", "<|"];

    fn watching() -> &'static Detector {
        static D: std::sync::OnceLock<Detector> = std::sync::OnceLock::new();
        D.get_or_init(|| Detector::with_watch(&WATCH).unwrap())
    }

    fn watched(text: &str) -> (Vec<Finding>, Vec<usize>) {
        let d = watching();
        let mut counts = vec![0usize; WATCH.len()];
        let mut out = Vec::new();
        d.detect_into_watching(text, true, &mut out, |i| counts[i] += 1);
        (out, counts)
    }

    #[test]
    fn watched_literals_are_reported() {
        let (_, counts) =
            watched("Please IGNORE previous rules, Dan: <|im_start|> password ИНСТРУКЦ инструкция");
        // "инструкц" is matched byte for byte (ASCII case only is folded).
        assert_eq!(counts, vec![1, 1, 1, 1, 1, 1]);
        assert!(Detector::with_watch(&[""]).is_err());
    }
}
