//! The incremental output guard: scans model output as it streams (SSE deltas), redacts
//! or blocks findings with a small bounded hold-back, and produces exactly what scanning
//! the complete output once would have produced.
//!
//! # Model
//!
//! [`guard_text`] is the reference (non-streamed) result: scan the whole output once with
//! a [`TextScanner`], apply the private-key rule (below), resolve overlaps, and apply the
//! per-kind [`ActionTable`] left to right: `redact`/`pseudonymize` replace the span with
//! `[REDACTED:<TYPE>]` ([`crate::action::redaction`]), `log` passes it through, and the first
//! `block` finding cuts the output at its start and ends it with a block verdict.
//!
//! [`StreamGuard`] produces the same thing incrementally. It keeps the raw text that is not
//! decided yet (the *hold-back*) plus a little already-decided text as left context, and on
//! a push re-scans only that window (`context + hold-back`, never the whole prefix). A byte
//! is decided and emitted only when at least [`StreamConfig::lookahead`] bytes follow it
//! and it is not inside a finding of the current window scan (the cut moves back to the
//! finding's start), nor after the start of an unterminated construct the scanner reports
//! through [`TextScanner::pending_start`] (held for up to [`StreamConfig::max_hold`]
//! bytes). So no byte of a finding is emitted before its action is decided.
//!
//! # Guarantee and its assumption
//!
//! For every split of the output into chunks (any byte position, UTF-8 never split since
//! deltas are `&str`), the concatenated `emit`, the concatenated `findings` and the block
//! verdict equal [`guard_text`] on the whole output, provided the scanner is *local*:
//! whether a span is a finding depends only on text within `context` bytes before it and
//! `lookahead` bytes after its start (the span plus the context its validators read),
//! and constructs longer than that are announced by `pending_start`. The built-in
//! [`Detector`] rules are at most ~270 bytes long and read at most 24 bytes of context,
//! well inside the defaults (512 lookahead, 320 context). Violations are counted in
//! [`StreamStats::late_findings`] / [`StreamStats::hold_cap_hits`].
//!
//! # Private keys
//!
//! PEM private keys are longer than any sensible hold-back, so the guard itself handles
//! them (in [`guard_text`] and on streams alike): from a `-----BEGIN … PRIVATE KEY-----`
//! line to the first following `-----END … PRIVATE KEY-----` line, or to the end of the
//! output if there is none, is one `SECRET`/`private_key` finding that replaces whatever
//! the scanner found inside. On a stream the action is taken as soon as the BEGIN line is
//! decided: `redact` emits `[REDACTED:SECRET]` once and swallows the key body as it
//! arrives (nothing is held back; the finding is reported when the END line or the end of
//! the stream arrives); `block` ends the stream at the BEGIN line and reports the finding
//! as the BEGIN line's span (the key body is not awaited); `log` passes it through.
//!
//! # Hold-back bound
//!
//! After a push, at most `lookahead + step` bytes are held back, plus the length of a
//! finding straddling the cut (≤ ~270 bytes for the built-in rules), or up to `max_hold`
//! bytes while the scanner reports an unterminated construct. The default costs about
//! 512–850 bytes (~130–210 tokens) of latency at the start of a response; after that the
//! output flows at the model's pace, shifted by that amount. [`StreamGuard::finish`]
//! flushes everything.

use crate::action::{redaction, Action, ActionTable};
use crate::{Detector, Finding, FindingKind};
use std::collections::VecDeque;
use std::sync::Arc;

/// Something that finds spans in text. Implemented by [`Detector`], the output checks in
/// [`crate::output`], references, boxes, `Arc`s and tuples (findings concatenated).
pub trait TextScanner {
    /// Every finding in `text` (byte offsets into `text`). Sorted and non-overlapping is
    /// preferred; the stream guard sorts and resolves overlaps itself.
    fn scan(&self, text: &str) -> Vec<Finding>;

    /// The start offset of an unterminated construct near the end of `text` that may still
    /// become a finding when more text arrives and may be longer than the guard's
    /// lookahead (e.g. a markdown image whose `(` is not closed yet). The stream guard does
    /// not emit past it (for up to [`StreamConfig::max_hold`] bytes). Default: none.
    fn pending_start(&self, _text: &str) -> Option<usize> {
        None
    }
}

impl TextScanner for Detector {
    fn scan(&self, text: &str) -> Vec<Finding> {
        self.detect(text)
    }
}

impl<T: TextScanner + ?Sized> TextScanner for &T {
    fn scan(&self, text: &str) -> Vec<Finding> {
        (**self).scan(text)
    }
    fn pending_start(&self, text: &str) -> Option<usize> {
        (**self).pending_start(text)
    }
}

impl<T: TextScanner + ?Sized> TextScanner for Box<T> {
    fn scan(&self, text: &str) -> Vec<Finding> {
        (**self).scan(text)
    }
    fn pending_start(&self, text: &str) -> Option<usize> {
        (**self).pending_start(text)
    }
}

impl<T: TextScanner + ?Sized> TextScanner for Arc<T> {
    fn scan(&self, text: &str) -> Vec<Finding> {
        (**self).scan(text)
    }
    fn pending_start(&self, text: &str) -> Option<usize> {
        (**self).pending_start(text)
    }
}

impl<A: TextScanner, B: TextScanner> TextScanner for (A, B) {
    fn scan(&self, text: &str) -> Vec<Finding> {
        let mut v = self.0.scan(text);
        v.extend(self.1.scan(text));
        v
    }
    fn pending_start(&self, text: &str) -> Option<usize> {
        min_opt(self.0.pending_start(text), self.1.pending_start(text))
    }
}

impl<A: TextScanner, B: TextScanner, C: TextScanner> TextScanner for (A, B, C) {
    fn scan(&self, text: &str) -> Vec<Finding> {
        let mut v = self.0.scan(text);
        v.extend(self.1.scan(text));
        v.extend(self.2.scan(text));
        v
    }
    fn pending_start(&self, text: &str) -> Option<usize> {
        min_opt(
            min_opt(self.0.pending_start(text), self.1.pending_start(text)),
            self.2.pending_start(text),
        )
    }
}

impl<T: TextScanner> TextScanner for [T] {
    fn scan(&self, text: &str) -> Vec<Finding> {
        self.iter().flat_map(|s| s.scan(text)).collect()
    }
    fn pending_start(&self, text: &str) -> Option<usize> {
        self.iter().filter_map(|s| s.pending_start(text)).min()
    }
}

impl<T: TextScanner> TextScanner for Vec<T> {
    fn scan(&self, text: &str) -> Vec<Finding> {
        self.as_slice().scan(text)
    }
    fn pending_start(&self, text: &str) -> Option<usize> {
        self.as_slice().pending_start(text)
    }
}

fn min_opt(a: Option<usize>, b: Option<usize>) -> Option<usize> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// Tuning of the stream guard. The defaults suit the built-in detectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamConfig {
    /// Bytes that must follow a byte before it is emitted (default 512). Must exceed the
    /// longest finding plus the right context validators read.
    pub lookahead: usize,
    /// Already-decided bytes re-scanned as left context (default 320). Must exceed the
    /// longest finding (so a match cut by the window edge cannot reach undecided text) and
    /// the left context validators read.
    pub context: usize,
    /// Re-scan only once this many new bytes can be decided (default 64): amortizes the
    /// window scan over several tiny deltas at the cost of this much extra hold-back.
    pub step: usize,
    /// Longest hold-back honoured for [`TextScanner::pending_start`] (default 4096).
    pub max_hold: usize,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            lookahead: 512,
            context: 320,
            step: 64,
            max_hold: 4096,
        }
    }
}

/// What one push (or finish) produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamStep {
    /// Text to send downstream now (already redacted).
    pub emit: String,
    /// Findings decided in this step, offsets in the whole raw output stream, in order.
    /// Includes the blocking finding, if any.
    pub findings: Vec<Finding>,
    /// Set once: the finding whose action is `block`. The output ends here (the gateway
    /// sends an error event and `[DONE]`); later pushes return empty steps.
    pub blocked: Option<Finding>,
}

/// Counters for the audit record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Chunks pushed (before any block).
    pub chunks: u64,
    /// Chunks whose every byte was scanned and decided (all of them after `finish`, or
    /// when a block verdict covers the rest).
    pub chunks_checked: u64,
    /// Raw bytes received.
    pub bytes_in: u64,
    /// Bytes emitted.
    pub bytes_out: u64,
    /// Largest hold-back observed after a push, in bytes.
    pub max_held_back: usize,
    /// Window scans run.
    pub scans: u64,
    /// Bytes scanned in total (cost indicator: ≈ window × scans).
    pub scanned_bytes: u64,
    /// Times a `pending_start` hold exceeded `max_hold` and text was emitted anyway.
    pub hold_cap_hits: u64,
    /// Findings that appeared straddling already-emitted text (a scanner locality
    /// violation; should stay 0).
    pub late_findings: u64,
}

impl StreamStats {
    /// Whether every chunk received was checked before its text was emitted.
    pub fn all_checked(&self) -> bool {
        self.chunks_checked == self.chunks
    }
}

/// An open private-key block on a stream.
#[derive(Debug, Clone, Copy)]
struct KeyBlock {
    start: usize,
    action: Action,
    /// END lines are searched from here (absolute).
    search_from: usize,
}

/// Incremental output guard for one response. See the module docs for the guarantee.
pub struct StreamGuard<S> {
    scanner: S,
    actions: ActionTable,
    cfg: StreamConfig,
    /// Raw text from `buf_start` to `total`: left context, then undecided text.
    buf: String,
    buf_start: usize,
    /// Text before this absolute offset is decided (emitted or swallowed).
    commit: usize,
    total: usize,
    last_scan: usize,
    /// PEM BEGIN lines are searched from here (after the last block).
    pem_from: usize,
    key: Option<KeyBlock>,
    blocked: bool,
    finished: bool,
    chunk_ends: VecDeque<usize>,
    stats: StreamStats,
}

impl<S> std::fmt::Debug for StreamGuard<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The buffer holds raw (possibly secret) text: counts only.
        f.debug_struct("StreamGuard")
            .field("total", &self.total)
            .field("commit", &self.commit)
            .field("blocked", &self.blocked)
            .field("stats", &self.stats)
            .finish()
    }
}

/// Longest END line searched for across chunk boundaries.
const END_MAX: usize = 256;

impl<S: TextScanner> StreamGuard<S> {
    /// A guard with the default [`StreamConfig`].
    pub fn new(scanner: S, actions: ActionTable) -> Self {
        Self::with_config(scanner, actions, StreamConfig::default())
    }

    /// A guard with an explicit configuration (`step` and `lookahead` are at least 1).
    pub fn with_config(scanner: S, actions: ActionTable, cfg: StreamConfig) -> Self {
        let cfg = StreamConfig {
            lookahead: cfg.lookahead.max(1),
            step: cfg.step.max(1),
            ..cfg
        };
        Self {
            scanner,
            actions,
            cfg,
            buf: String::new(),
            buf_start: 0,
            commit: 0,
            total: 0,
            last_scan: 0,
            pem_from: 0,
            key: None,
            blocked: false,
            finished: false,
            chunk_ends: VecDeque::new(),
            stats: StreamStats::default(),
        }
    }

    /// Feeds one delta of model output.
    pub fn push(&mut self, delta: &str) -> StreamStep {
        let mut step = StreamStep::default();
        if self.blocked || self.finished {
            return step;
        }
        self.buf.push_str(delta);
        self.total += delta.len();
        self.stats.chunks += 1;
        self.stats.bytes_in += delta.len() as u64;
        self.chunk_ends.push_back(self.total);
        self.process(false, &mut step);
        self.after_step(&step);
        self.stats.max_held_back = self.stats.max_held_back.max(self.held_back());
        step
    }

    /// The output ended: decides and emits everything still held back.
    pub fn finish(&mut self) -> StreamStep {
        let mut step = StreamStep::default();
        if self.blocked || self.finished {
            return step;
        }
        self.process(true, &mut step);
        self.finished = true;
        self.after_step(&step);
        step
    }

    /// Bytes received but not decided yet.
    pub fn held_back(&self) -> usize {
        self.total - self.commit
    }

    /// Whether a block verdict was returned.
    pub fn is_blocked(&self) -> bool {
        self.blocked
    }

    /// Counters so far.
    pub fn stats(&self) -> StreamStats {
        self.stats
    }

    /// The configuration in use.
    pub fn config(&self) -> StreamConfig {
        self.cfg
    }

    /// The scanner, mutably: for a scanner that keeps state about the raw text (e.g. a
    /// lexer fed each delta just before it is pushed). It must keep reporting findings
    /// for the window it is given as before; swapping it out mid-stream voids the
    /// guarantee.
    pub fn scanner_mut(&mut self) -> &mut S {
        &mut self.scanner
    }

    fn after_step(&mut self, step: &StreamStep) {
        self.stats.bytes_out += step.emit.len() as u64;
        if self.blocked {
            self.stats.chunks_checked += self.chunk_ends.len() as u64;
            self.chunk_ends.clear();
            self.buf.clear();
            return;
        }
        while self.chunk_ends.front().is_some_and(|&e| e <= self.commit) {
            self.chunk_ends.pop_front();
            self.stats.chunks_checked += 1;
        }
        // Keep left context for the next window (and the tail an END line may start in).
        let keep = if self.key.is_some() {
            self.cfg.context + END_MAX
        } else {
            self.cfg.context
        };
        let keep_from = self.commit.saturating_sub(keep);
        if keep_from > self.buf_start {
            let rel = floor_boundary(&self.buf, keep_from - self.buf_start);
            self.buf.drain(..rel);
            self.buf_start += rel;
        }
    }

    fn process(&mut self, last: bool, step: &mut StreamStep) {
        if self.key.is_some() {
            self.process_key(last, step);
            if self.key.is_some() || self.blocked {
                return;
            }
        }
        if self.commit == self.total {
            return;
        }
        let ready = self.total.saturating_sub(self.cfg.lookahead) >= self.commit + self.cfg.step
            && self.total >= self.last_scan + self.cfg.step;
        if last || ready {
            self.scan_window(last, step);
            if self.key.is_some() {
                self.process_key(last, step);
            }
        }
    }

    /// Open private-key block: look for its END line in what arrived.
    fn process_key(&mut self, last: bool, step: &mut StreamStep) {
        let Some(key) = self.key else {
            return;
        };
        let rel = key.search_from.saturating_sub(self.buf_start);
        let found = find_marker(&self.buf, rel, b"END").map(|(_, e)| e + self.buf_start);
        let end = match found {
            Some(e) => e,
            None if last => self.total,
            None => {
                if key.action == Action::Log {
                    step.emit.push_str(self.raw(self.commit, self.total));
                }
                self.commit = self.total;
                if let Some(k) = self.key.as_mut() {
                    k.search_from = self.total.saturating_sub(END_MAX).max(k.search_from);
                }
                return;
            }
        };
        if key.action == Action::Log {
            step.emit.push_str(self.raw(self.commit, end));
        }
        step.findings.push(pem_finding(key.start, end));
        self.commit = end;
        self.pem_from = end;
        self.key = None;
    }

    fn raw(&self, from: usize, to: usize) -> &str {
        self.buf
            .get(from.saturating_sub(self.buf_start)..to.saturating_sub(self.buf_start))
            .unwrap_or("")
    }

    fn scan_window(&mut self, last: bool, step: &mut StreamStep) {
        self.last_scan = self.total;
        self.stats.scans += 1;
        self.stats.scanned_bytes += self.buf.len() as u64;
        let base = self.buf_start;
        let win = self.buf.as_str();
        let found = shift(sanitize(self.scanner.scan(win), win), base);
        let found = resolve(found, &self.actions);
        let from = self.commit.max(self.pem_from);
        let (found, open) = apply_pem(win, base, from, found, &self.actions, last);

        let target = self.total.saturating_sub(self.cfg.lookahead);
        let mut cut = if last {
            self.total
        } else if target > base {
            base + floor_boundary(win, target - base)
        } else {
            base
        };
        if !last {
            if let Some(p) = self.scanner.pending_start(win) {
                let p = base + floor_boundary(win, p.min(win.len()));
                if p >= self.commit && p < cut {
                    if self.total - p <= self.cfg.max_hold {
                        cut = p;
                    } else {
                        self.stats.hold_cap_hits += 1;
                    }
                }
            }
        }
        let mut enter = None;
        if let Some((b, me)) = open {
            if b <= cut {
                cut = b;
                enter = Some((b, me));
            }
        }
        cut = cut.max(self.commit);
        for f in &found {
            if f.start >= self.commit && f.start < cut && f.end > cut {
                cut = f.start;
                enter = None;
            }
        }

        let mut emit = std::mem::take(&mut step.emit);
        let blocked = apply(
            win,
            base,
            self.commit,
            cut,
            &found,
            &self.actions,
            &mut emit,
            &mut step.findings,
            &mut self.stats.late_findings,
        );
        step.emit = emit;
        if let Some(b) = blocked {
            step.blocked = Some(b);
            self.blocked = true;
            self.commit = cut;
            return;
        }
        self.commit = cut;
        if let Some((b, me)) = enter {
            let action = self.actions.get(FindingKind::Secret);
            match action {
                Action::Block => {
                    let f = Finding {
                        end: me,
                        ..pem_finding(b, me)
                    };
                    step.findings.push(f.clone());
                    step.blocked = Some(f);
                    self.blocked = true;
                    return;
                }
                Action::Redact | Action::Pseudonymize => {
                    step.emit.push_str(&redaction(FindingKind::Secret));
                }
                Action::Log => {}
            }
            self.key = Some(KeyBlock {
                start: b,
                action,
                search_from: me,
            });
        }
    }
}

/// The non-streamed reference: scans `text` once and applies `actions`. Also the right
/// call for non-streaming responses.
pub fn guard_text<S: TextScanner + ?Sized>(
    scanner: &S,
    actions: &ActionTable,
    text: &str,
) -> StreamStep {
    let found = resolve(sanitize(scanner.scan(text), text), actions);
    let (found, _) = apply_pem(text, 0, 0, found, actions, true);
    let mut step = StreamStep::default();
    let mut late = 0;
    step.blocked = apply(
        text,
        0,
        0,
        text.len(),
        &found,
        actions,
        &mut step.emit,
        &mut step.findings,
        &mut late,
    );
    step
}

/// Emits the decided range `[from, to)` of the raw text (`win` starts at absolute `base`)
/// with the findings inside it acted upon. Returns the blocking finding, if any.
#[allow(clippy::too_many_arguments)]
fn apply(
    win: &str,
    base: usize,
    from: usize,
    to: usize,
    found: &[Finding],
    actions: &ActionTable,
    emit: &mut String,
    out: &mut Vec<Finding>,
    late: &mut u64,
) -> Option<Finding> {
    let raw = |a: usize, b: usize| {
        win.get(a.saturating_sub(base)..b.saturating_sub(base))
            .unwrap_or("")
    };
    let mut pos = from;
    for f in found {
        if f.start < from {
            if f.end > from {
                *late += 1;
            }
            continue;
        }
        if f.end > to {
            break;
        }
        emit.push_str(raw(pos, f.start));
        out.push(f.clone());
        match actions.get(f.kind) {
            Action::Block => return Some(f.clone()),
            Action::Redact | Action::Pseudonymize => emit.push_str(&redaction(f.kind)),
            Action::Log => emit.push_str(raw(f.start, f.end)),
        }
        pos = f.end;
    }
    emit.push_str(raw(pos, to));
    None
}

/// The private-key finding from `start` to `end`.
fn pem_finding(start: usize, end: usize) -> Finding {
    Finding {
        kind: FindingKind::Secret,
        subtype: Some("private_key"),
        start,
        end,
        score: 0.99,
    }
}

/// Applies the private-key rule to findings of `win` (absolute offset `base`): PEM blocks
/// starting at or after `from` replace the findings they overlap. Returns the findings and
/// an unterminated block `(start, end of BEGIN line)` (only when not `eof`; at `eof` it
/// runs to the end of the text).
fn apply_pem(
    win: &str,
    base: usize,
    from: usize,
    mut found: Vec<Finding>,
    actions: &ActionTable,
    eof: bool,
) -> (Vec<Finding>, Option<(usize, usize)>) {
    let block = actions.get(FindingKind::Secret) == Action::Block;
    let mut rel = from.saturating_sub(base);
    let mut blocks = Vec::new();
    let mut open = None;
    while let Some((b, me)) = find_marker(win, rel, b"BEGIN") {
        match find_marker(win, me, b"END") {
            Some((_, e)) => {
                blocks.push((b, me, e));
                rel = e;
            }
            None if eof => {
                blocks.push((b, me, win.len()));
                break;
            }
            None => {
                open = Some((b, me));
                break;
            }
        }
    }
    if blocks.is_empty() && open.is_none() {
        return (found, None);
    }
    found.retain(|f| {
        let (s, e) = (f.start - base, f.end - base);
        !blocks.iter().any(|&(b, _, end)| s < end && e > b) && open.is_none_or(|(b, _)| e <= b)
    });
    for (b, me, e) in blocks {
        // A blocking key ends the output at its BEGIN line; the body is not awaited.
        let end = if block { me } else { e };
        found.push(pem_finding(base + b, base + end));
    }
    found.sort_by_key(|f| (f.start, f.end));
    (found, open.map(|(b, me)| (base + b, base + me)))
}

/// Finds the first `-----<kw> (WORD )*PRIVATE KEY( BLOCK)?-----` line at or after `from`
/// (same grammar as the detector's private-key rule). Returns `(start, end)`.
fn find_marker(text: &str, from: usize, kw: &[u8]) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut i = from;
    while i + 5 <= bytes.len() {
        let rel = text.get(i..)?.find("-----")?;
        let s = i + rel;
        if let Some(e) = marker_at(bytes, s, kw) {
            return Some((s, e));
        }
        i = s + 1;
    }
    None
}

fn marker_at(b: &[u8], s: usize, kw: &[u8]) -> Option<usize> {
    let rest = b.get(s..)?;
    let rest = rest
        .strip_prefix(b"-----")?
        .strip_prefix(kw)?
        .strip_prefix(b" ")?;
    let mut j = b.len() - rest.len();
    loop {
        let r = b.get(j..)?;
        if let Some(t) = r.strip_prefix(b"PRIVATE KEY") {
            if t.starts_with(b" BLOCK-----") {
                return Some(j + 11 + 11);
            }
            if t.starts_with(b"-----") {
                return Some(j + 11 + 5);
            }
        }
        // Otherwise one `[A-Z0-9]+ ` word.
        let n = r
            .iter()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            .count();
        if n == 0 || r.get(n) != Some(&b' ') {
            return None;
        }
        j += n + 1;
    }
}

/// Drops findings with offsets outside `text` or off char boundaries (a buggy scanner must
/// not make the guard panic), and sorts.
fn sanitize(mut v: Vec<Finding>, text: &str) -> Vec<Finding> {
    v.retain(|f| {
        f.start < f.end
            && f.end <= text.len()
            && text.is_char_boundary(f.start)
            && text.is_char_boundary(f.end)
    });
    v.sort_by_key(|f| (f.start, f.end));
    v
}

fn shift(mut v: Vec<Finding>, base: usize) -> Vec<Finding> {
    for f in &mut v {
        f.start += base;
        f.end += base;
    }
    v
}

/// Overlapping findings: the stronger action wins, then the longer span, then the earlier.
fn resolve(v: Vec<Finding>, actions: &ActionTable) -> Vec<Finding> {
    if v.windows(2).all(|w| w[0].end <= w[1].start) {
        return v;
    }
    let mut c = v;
    c.sort_by(|a, b| {
        let (sa, sb) = (
            actions.get(a.kind).severity(),
            actions.get(b.kind).severity(),
        );
        sb.cmp(&sa)
            .then(b.len().cmp(&a.len()))
            .then(a.start.cmp(&b.start))
            .then(b.score.total_cmp(&a.score))
    });
    let mut out: Vec<Finding> = Vec::with_capacity(c.len());
    for f in c {
        if out.iter().all(|o| f.end <= o.start || f.start >= o.end) {
            out.push(f);
        }
    }
    out.sort_by_key(|f| (f.start, f.end));
    out
}

/// The largest char boundary of `s` at or below `i`.
fn floor_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}
