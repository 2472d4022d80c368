//! Reversible pseudonymization: personal data in a request is replaced by stable
//! placeholders before it reaches the model, and the placeholders the model echoes are
//! put back in its response (whole or streamed).
//!
//! # Placeholder format
//!
//! `[<TYPE>_<n>]`: the finding's wire type name ([`FindingKind::as_str`]), an underscore
//! and a decimal number counted per type from 1, in square brackets: `[EMAIL_1]`,
//! `[PHONE_2]`, `[CREDIT_CARD_1]`, `[IP_ADDRESS_3]`, `[PERSON_1]`. Models copy these
//! verbatim (upper-case ASCII, no spaces, tokenizes into a few common tokens), they read
//! as "a redacted value of this type" so answers stay sensible, and bracketed upper-case
//! type names with a number are rare in ordinary text. Placeholder-shaped text that the
//! request already contains literally is never issued (numbering skips it), so restoring
//! never rewrites text the user wrote.
//!
//! # Guarantees
//!
//! * Within one [`Pseudonymizer`] (one request, all its messages): the same `(type,
//!   value)` always gets the same placeholder, different values get different ones.
//! * [`Pseudonymizer::restore`] replaces exactly the placeholders this pseudonymizer
//!   issued; anything else (`[EMAIL_99]` never issued, `[EMAIL_1` truncated) is left as is.
//! * The streaming [`Restorer`] gives, for any split of the response into chunks, the same
//!   concatenated output as [`Pseudonymizer::restore`] on the whole response. It holds
//!   back only a suffix that is a proper prefix of an issued placeholder, so at most
//!   [`Pseudonymizer::max_placeholder_len`]` - 1` bytes.
//!
//! The mapping lives in memory only: it is never serialized, `Debug` prints counts only,
//! and the original values are zeroized when the pseudonymizer is dropped.

use crate::{Finding, FindingKind};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::ops::Bound;
use zeroize::Zeroize;

/// Per-request reversible mapping between personal data and placeholders.
#[derive(Default)]
pub struct Pseudonymizer {
    /// `(kind, value)` to placeholder.
    forward: HashMap<(FindingKind, String), String>,
    /// Placeholder to value; ordered so "is this a prefix of some placeholder" is one
    /// range lookup.
    reverse: BTreeMap<String, String>,
    /// Last number issued per kind (index in `FindingKind::ALL`).
    counters: [u32; FindingKind::ALL.len()],
    /// Placeholder-shaped strings seen literally in pseudonymized input: never issued.
    reserved: HashSet<String>,
    max_len: usize,
}

impl fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values are personal data: never print them.
        f.debug_struct("Pseudonymizer")
            .field("placeholders", &self.reverse.len())
            .finish()
    }
}

impl Drop for Pseudonymizer {
    fn drop(&mut self) {
        for ((_, mut v), _) in self.forward.drain() {
            v.zeroize();
        }
        while let Some((_, mut v)) = self.reverse.pop_first() {
            v.zeroize();
        }
    }
}

/// The placeholder for the `n`-th value of `kind`.
fn placeholder(kind: FindingKind, n: u32) -> String {
    format!("[{}_{n}]", kind.as_str())
}

/// Whether `s` (starting with `[`) looks like `[TYPE_n]` for some known type.
pub(crate) fn placeholder_shaped(s: &str) -> bool {
    let Some(inner) = s.strip_prefix('[').and_then(|s| s.strip_suffix(']')) else {
        return false;
    };
    let Some((name, num)) = inner.rsplit_once('_') else {
        return false;
    };
    !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()) && FindingKind::parse(name).is_some()
}

/// Longest placeholder-shaped token we look for in input (`[IP_ADDRESS_` + 10 digits).
const MAX_SHAPED: usize = 32;

/// Whether `text` contains a placeholder-shaped token (`[EMAIL_1]`), issued or not.
pub fn contains_placeholder(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(rel) = text.get(i..).and_then(|t| t.find('[')) {
        let p = i + rel;
        i = p + 1;
        let window = &bytes[p..bytes.len().min(p + MAX_SHAPED)];
        if let Some(close) = window.iter().position(|b| *b == b']') {
            if text.get(p..=p + close).is_some_and(placeholder_shaped) {
                return true;
            }
        }
    }
    false
}

impl Pseudonymizer {
    /// An empty mapping (one per request).
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of distinct values replaced so far.
    pub fn len(&self) -> usize {
        self.reverse.len()
    }

    /// Whether nothing was replaced yet.
    pub fn is_empty(&self) -> bool {
        self.reverse.is_empty()
    }

    /// Length in bytes of the longest placeholder issued (0 if none): the streaming
    /// restorer never holds back more than this minus one.
    pub fn max_placeholder_len(&self) -> usize {
        self.max_len
    }

    /// The placeholder issued for `value` of `kind`, if any.
    pub fn placeholder_for(&self, kind: FindingKind, value: &str) -> Option<&str> {
        self.forward
            .get(&(kind, value.to_string()))
            .map(String::as_str)
    }

    /// Replaces every PII finding ([`FindingKind::is_pii`]) in `text` by its placeholder
    /// and returns the new text. Other kinds (secrets, injection, ...) are left alone;
    /// findings with offsets out of range or off a char boundary are ignored, and of
    /// overlapping findings the earlier (then longer) one wins. Call it for every message
    /// of the request with the same pseudonymizer.
    pub fn pseudonymize(&mut self, text: &str, findings: &[Finding]) -> String {
        self.reserve_literals(text);
        let mut spans: Vec<&Finding> = findings
            .iter()
            .filter(|f| {
                f.kind.is_pii()
                    && f.start < f.end
                    && f.end <= text.len()
                    && text.is_char_boundary(f.start)
                    && text.is_char_boundary(f.end)
            })
            .collect();
        spans.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for f in spans {
            if f.start < last {
                continue;
            }
            let (Some(before), Some(value)) = (text.get(last..f.start), text.get(f.start..f.end))
            else {
                continue;
            };
            out.push_str(before);
            let ph = self.issue(f.kind, value);
            out.push_str(&ph);
            last = f.end;
        }
        out.push_str(text.get(last..).unwrap_or(""));
        out
    }

    /// Marks placeholder-shaped text already present in the input as taken.
    fn reserve_literals(&mut self, text: &str) {
        let bytes = text.as_bytes();
        let mut i = 0;
        while let Some(rel) = text.get(i..).and_then(|t| t.find('[')) {
            let p = i + rel;
            i = p + 1;
            let window = &bytes[p..bytes.len().min(p + MAX_SHAPED)];
            if let Some(close) = window.iter().position(|b| *b == b']') {
                if let Some(tok) = text.get(p..=p + close) {
                    if placeholder_shaped(tok) && !self.reverse.contains_key(tok) {
                        self.reserved.insert(tok.to_string());
                    }
                }
            }
        }
    }

    /// The placeholder for `(kind, value)`, issuing a new one if needed.
    fn issue(&mut self, kind: FindingKind, value: &str) -> String {
        if let Some(ph) = self.forward.get(&(kind, value.to_string())) {
            return ph.clone();
        }
        let idx = FindingKind::ALL
            .iter()
            .position(|k| *k == kind)
            .unwrap_or_default();
        let ph = loop {
            let n = match self.counters.get_mut(idx) {
                Some(c) => {
                    *c += 1;
                    *c
                }
                None => 1,
            };
            let ph = placeholder(kind, n);
            if !self.reserved.contains(&ph) {
                break ph;
            }
        };
        self.max_len = self.max_len.max(ph.len());
        self.forward.insert((kind, value.to_string()), ph.clone());
        self.reverse.insert(ph.clone(), value.to_string());
        ph
    }

    /// Puts the original values back into a complete response.
    pub fn restore(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        self.restore_into(text, &mut out, true);
        out
    }

    /// A streaming restorer borrowing this mapping.
    pub fn restorer(&self) -> Restorer<'_> {
        Restorer {
            map: MapRef::Borrowed(self),
            pending: String::new(),
        }
    }

    /// A streaming restorer owning this mapping (for a response body that outlives the
    /// request handler).
    pub fn into_restorer(self) -> Restorer<'static> {
        Restorer {
            map: MapRef::Owned(Box::new(self)),
            pending: String::new(),
        }
    }

    /// Whether `rest` (starting with `[`) is a proper prefix of an issued placeholder.
    fn is_proper_prefix(&self, rest: &str) -> bool {
        rest.len() < self.max_len
            && self
                .reverse
                .range::<str, _>((Bound::Included(rest), Bound::Unbounded))
                .next()
                .is_some_and(|(k, _)| k.len() > rest.len() && k.starts_with(rest))
    }

    /// Restores `text` into `out`. Unless `last`, stops before a suffix that may still
    /// become a placeholder and returns its offset (everything before it is final).
    fn restore_into(&self, text: &str, out: &mut String, last: bool) -> usize {
        if self.reverse.is_empty() {
            out.push_str(text);
            return text.len();
        }
        let bytes = text.as_bytes();
        let mut i = 0;
        let mut copied = 0;
        while let Some(rel) = text.get(i..).and_then(|t| t.find('[')) {
            let p = i + rel;
            let window = &bytes[p..bytes.len().min(p + self.max_len)];
            // `]` only ends a placeholder, so the candidate is `[` up to the first `]`.
            if let Some(close) = window.iter().position(|b| *b == b']') {
                if let Some(value) = text.get(p..=p + close).and_then(|c| self.reverse.get(c)) {
                    out.push_str(text.get(copied..p).unwrap_or(""));
                    out.push_str(value);
                    i = p + close + 1;
                    copied = i;
                    continue;
                }
            } else if !last && self.is_proper_prefix(text.get(p..).unwrap_or("")) {
                out.push_str(text.get(copied..p).unwrap_or(""));
                return p;
            }
            i = p + 1;
        }
        out.push_str(text.get(copied..).unwrap_or(""));
        text.len()
    }
}

enum MapRef<'a> {
    Borrowed(&'a Pseudonymizer),
    Owned(Box<Pseudonymizer>),
}

impl MapRef<'_> {
    fn get(&self) -> &Pseudonymizer {
        match self {
            MapRef::Borrowed(p) => p,
            MapRef::Owned(p) => p,
        }
    }
}

/// Streaming restore: feed response deltas with [`Restorer::push`], then call
/// [`Restorer::finish`]. The concatenation of everything returned equals
/// [`Pseudonymizer::restore`] of the whole response, for any chunking (a placeholder may
/// be split at any byte). Only a suffix that is a proper prefix of an issued placeholder
/// is held back.
pub struct Restorer<'a> {
    map: MapRef<'a>,
    pending: String,
}

impl fmt::Debug for Restorer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Restorer")
            .field("map", self.map.get())
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl Restorer<'_> {
    /// Restores a delta; returns the text that is final.
    pub fn push(&mut self, chunk: &str) -> String {
        self.pending.push_str(chunk);
        let mut out = String::with_capacity(self.pending.len());
        let used = self.map.get().restore_into(&self.pending, &mut out, false);
        self.pending.drain(..used);
        out
    }

    /// Flushes what is held back (the response ended).
    pub fn finish(&mut self) -> String {
        let mut out = String::with_capacity(self.pending.len());
        self.map.get().restore_into(&self.pending, &mut out, true);
        self.pending.clear();
        out
    }

    /// Bytes currently held back.
    pub fn held_back(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn f(kind: FindingKind, text: &str, value: &str) -> Finding {
        let start = text.find(value).unwrap();
        Finding {
            kind,
            subtype: None,
            start,
            end: start + value.len(),
            score: 0.9,
        }
    }

    #[test]
    fn stable_and_distinct() {
        let mut p = Pseudonymizer::new();
        let t1 = "mail a@b.com or c@d.org";
        let out1 = p.pseudonymize(
            t1,
            &[
                f(FindingKind::Email, t1, "a@b.com"),
                f(FindingKind::Email, t1, "c@d.org"),
            ],
        );
        assert_eq!(out1, "mail [EMAIL_1] or [EMAIL_2]");
        let t2 = "again c@d.org, call 555-123-4567";
        let out2 = p.pseudonymize(
            t2,
            &[
                f(FindingKind::Email, t2, "c@d.org"),
                f(FindingKind::Phone, t2, "555-123-4567"),
                f(FindingKind::Secret, t2, "call"),
            ],
        );
        assert_eq!(out2, "again [EMAIL_2], call [PHONE_1]");
        assert_eq!(
            p.restore("[EMAIL_2] and [PHONE_1] not [EMAIL_9] [EMAIL_1"),
            "c@d.org and 555-123-4567 not [EMAIL_9] [EMAIL_1"
        );
        assert!(!format!("{p:?}").contains("d.org"));
    }

    #[test]
    fn literal_placeholders_are_not_issued() {
        let mut p = Pseudonymizer::new();
        let t = "template [EMAIL_1] for x@y.com";
        let out = p.pseudonymize(t, &[f(FindingKind::Email, t, "x@y.com")]);
        assert_eq!(out, "template [EMAIL_1] for [EMAIL_2]");
        assert_eq!(p.restore(&out), t);
    }

    #[test]
    fn streaming_split_everywhere() {
        let mut p = Pseudonymizer::new();
        let t = "x@y.com";
        p.pseudonymize(t, &[f(FindingKind::Email, t, t)]);
        let resp = "Hi [EMAIL_1], [[EMAIL_1]] [EMAIL_10] [EMAIL_1";
        let whole = p.restore(resp);
        for i in 0..=resp.len() {
            let mut r = p.restorer();
            let mut s = r.push(&resp[..i]);
            assert!(r.held_back() < p.max_placeholder_len());
            s += &r.push(&resp[i..]);
            s += &r.finish();
            assert_eq!(s, whole, "split at {i}");
        }
    }
}
