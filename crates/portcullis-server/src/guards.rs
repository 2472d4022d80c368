//! Guards in the request path.
//!
//! The engines and the per-model profiles are built once ([`GuardEngine`]). For each
//! request, [`GuardEngine::check`] runs the input guards over every text of the parsed
//! request (rewriting it in place: redaction, pseudonymization, the canary note) and
//! returns a [`RequestGuard`] holding what the response side needs: the profile, the
//! request's placeholder mapping (memory only, dropped with the request), the values the
//! input guards saw (for the exfiltration check) and the canary. Non-streamed responses
//! are checked and restored by [`RequestGuard::guard_json`]; streams by
//! [`crate::stream`], incrementally, with the same scanner and actions.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use portcullis_core::config::{Config, GuardSettings};
use portcullis_core::policy::GuardFacts;
use portcullis_guard::guard::{InputVerdict, OutputScanner};
use portcullis_guard::output::Canary;
use portcullis_guard::pseudo::Pseudonymizer;
use portcullis_guard::stream::{guard_text, TextScanner};
use portcullis_guard::{Finding, FindingKind, GuardPolicy, Guards};
use serde_json::Value;

/// The guard engines and every profile's policy.
pub struct GuardEngine {
    guards: Arc<Guards>,
    /// Profile name to policy; `None` for a disabled profile.
    policies: HashMap<String, Option<Arc<GuardPolicy>>>,
}

impl GuardEngine {
    /// Builds the engines when any profile is enabled; `None` when every one is off.
    pub fn new(config: &Config) -> Result<Option<Self>, String> {
        Self::from_profiles(&config.guard_profiles, None)
    }

    /// Like [`GuardEngine::new`] over `profiles` (e.g. a policy bundle's), reusing
    /// `engines` when given: building them compiles every pattern.
    pub fn from_profiles(
        profiles: &BTreeMap<String, GuardSettings>,
        engines: Option<Arc<Guards>>,
    ) -> Result<Option<Self>, String> {
        if !profiles.values().any(|p| p.enabled) {
            return Ok(None);
        }
        let guards = match engines {
            Some(g) => g,
            None => Arc::new(Guards::new().map_err(|e| format!("guards: {e}"))?),
        };
        let defaults = guards.injection().thresholds();
        let mut policies = HashMap::new();
        for (name, s) in profiles {
            if !s.enabled {
                tracing::warn!(profile = %name, "guard profile is disabled: models using it are not guarded");
                policies.insert(name.clone(), None);
                continue;
            }
            let mut p = GuardPolicy::defaults(defaults);
            for (k, a) in &s.input {
                p.input.set(*k, *a);
            }
            for (k, a) in &s.output {
                p.output.set(*k, *a);
            }
            if let Some(t) = s.injection_threshold {
                p.injection_threshold = t;
            }
            if let Some(t) = s.jailbreak_threshold {
                p.jailbreak_threshold = t;
            }
            p.allowed_link_hosts = s.allowed_link_hosts.clone();
            p.canary = s.canary;
            policies.insert(name.clone(), Some(Arc::new(p)));
        }
        Ok(Some(Self { guards, policies }))
    }

    /// The effective guard configuration as canonical text, one line per item: the
    /// shipped classifier's digest, every profile's actions, thresholds, link hosts and
    /// canary setting (defaults resolved), and each model's profile. Two gateways with
    /// the same text enforce the same guards; the audit log records its digest.
    pub fn describe(
        engine: Option<&GuardEngine>,
        profiles: &BTreeMap<String, GuardSettings>,
        config: &Config,
    ) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "classifier sha256:{}",
            hex::encode(portcullis_guard::injection::embedded_model_sha256())
        );
        for name in profiles.keys() {
            let Some(p) = engine.and_then(|e| e.policy(name)) else {
                let _ = writeln!(out, "profile {name}: off");
                continue;
            };
            let table = |t: &portcullis_guard::action::ActionTable| {
                FindingKind::ALL
                    .iter()
                    .map(|k| format!("{}={}", k.as_str(), t.get(*k).as_str()))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let _ = writeln!(
                out,
                "profile {name}: input {}; output {}; injection_threshold {}; jailbreak_threshold {}; canary {}; allowed_link_hosts [{}]",
                table(&p.input),
                table(&p.output),
                p.injection_threshold,
                p.jailbreak_threshold,
                p.canary,
                p.allowed_link_hosts.join(",")
            );
        }
        for (model, m) in &config.models {
            let _ = writeln!(out, "model {model}: profile {}", m.guards);
        }
        out
    }

    /// The engines.
    pub fn guards(&self) -> &Arc<Guards> {
        &self.guards
    }

    /// The policy of a profile, `None` when it is disabled.
    pub fn policy(&self, profile: &str) -> Option<&Arc<GuardPolicy>> {
        self.policies.get(profile).and_then(Option::as_ref)
    }

    /// Runs the input guards over `texts` (rewritten in place) for `profile`; `tools` are
    /// the indexes of each tool definition's first text ([`Guards::check_request`]).
    /// `None` when the profile is disabled.
    pub fn check(
        &self,
        profile: &str,
        texts: &mut [&mut String],
        tools: &[usize],
    ) -> Option<RequestGuard> {
        let policy = self.policy(profile)?.clone();
        let mut pseudo = Pseudonymizer::new();
        let verdict = self
            .guards
            .check_request(&policy, texts, tools, &mut pseudo);
        Some(RequestGuard {
            guards: self.guards.clone(),
            canary: policy.canary.then(Canary::random),
            policy,
            pseudo,
            verdict,
        })
    }
}

/// One request's guard state.
pub struct RequestGuard {
    guards: Arc<Guards>,
    /// The profile in force.
    pub policy: Arc<GuardPolicy>,
    /// The request's placeholders (memory only).
    pub pseudo: Pseudonymizer,
    /// What the input guards found.
    pub verdict: InputVerdict,
    /// The canary put into the system prompt, if the profile asks for one.
    pub canary: Option<Canary>,
}

/// A response refused by an output guard.
#[derive(Debug, Clone, Copy)]
pub struct OutputBlocked(pub FindingKind);

/// Why a non-streamed response was not passed to the caller.
#[derive(Debug, Clone, Copy)]
pub enum JsonRefused {
    /// An output guard's action for a finding type is `block`.
    Blocked(FindingKind),
    /// The body is not a chat completion whose model text the guard can read (not JSON,
    /// compressed, no `choices`, a text field that is not a string): it cannot be checked,
    /// so it is not passed on.
    Unreadable,
}

impl From<OutputBlocked> for JsonRefused {
    fn from(b: OutputBlocked) -> Self {
        JsonRefused::Blocked(b.0)
    }
}

/// Model-text fields of a message (or a stream delta) guarded as plain text. The
/// reasoning fields are what reasoning-model servers (vLLM, DeepSeek, OpenRouter) add.
pub(crate) const TEXT_FIELDS: [&str; 4] = ["content", "refusal", "reasoning_content", "reasoning"];

/// The string in `slot`: `Ok(None)` when absent or null, `Unreadable` when it holds
/// anything else (an array of parts, an object), which the guard cannot read.
fn text_slot(slot: Option<&mut Value>) -> Result<Option<&mut String>, JsonRefused> {
    match slot {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(JsonRefused::Unreadable),
    }
}

impl RequestGuard {
    /// What policy sees in `context.guard`.
    pub fn facts(&self) -> GuardFacts {
        let permille = |s: f32| (s.clamp(0.0, 1.0) * 1000.0).round() as u16;
        GuardFacts {
            injection_score: permille(self.verdict.scores.injection),
            jailbreak_score: permille(self.verdict.scores.jailbreak),
            findings: self.verdict.kinds(),
        }
    }

    /// The output scanner for this request.
    pub fn output_scanner(&self) -> Result<OutputScanner, String> {
        self.guards
            .output_scanner(&self.policy, &self.verdict.sensitive, self.canary.clone())
            .map_err(|e| e.to_string())
    }

    /// Checks and rewrites a non-streamed chat completion: in each choice's message, the
    /// text fields ([`TEXT_FIELDS`]), every tool call's `function.arguments` and a legacy
    /// `function_call.arguments` are scanned with the output actions (arguments as JSON
    /// text, see [`FieldScanner`]), then their placeholders are restored; a choice's
    /// `logprobs` (the unguarded tokens of the same text) are removed. Counts go to
    /// `out`. A body that is not a chat completion the guard can read is refused
    /// ([`JsonRefused::Unreadable`]): passing it on would pass unchecked model text.
    pub fn guard_json(
        &self,
        body: &Bytes,
        out: &mut BTreeMap<FindingKind, u32>,
    ) -> Result<Bytes, JsonRefused> {
        let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
            return Err(JsonRefused::Unreadable);
        };
        let Ok(scanner) = self.output_scanner() else {
            // The scanner could not be built (a built-in pattern failed, a bug): fail
            // closed rather than pass unchecked output.
            tracing::error!("output guard unavailable; refusing the response");
            return Err(JsonRefused::Blocked(FindingKind::Secret));
        };
        let mut changed = false;
        let Some(choices) = v.get_mut("choices").and_then(Value::as_array_mut) else {
            return Err(JsonRefused::Unreadable);
        };
        for c in choices {
            if let Some(lp) = c.get_mut("logprobs").filter(|lp| !lp.is_null()) {
                *lp = Value::Null;
                changed = true;
            }
            let Some(m) = c.get_mut("message").and_then(Value::as_object_mut) else {
                return Err(JsonRefused::Unreadable);
            };
            for key in TEXT_FIELDS {
                if let Some(text) = text_slot(m.get_mut(key))? {
                    changed |= self.guard_field(&scanner, text, false, out)?;
                }
            }
            match m.get_mut("tool_calls") {
                None | Some(Value::Null) => {}
                Some(Value::Array(calls)) => {
                    for call in calls {
                        let f = call.get_mut("function");
                        if let Some(args) = text_slot(f.and_then(|f| f.get_mut("arguments")))? {
                            changed |= self.guard_field(&scanner, args, true, out)?;
                        }
                    }
                }
                Some(_) => return Err(JsonRefused::Unreadable),
            }
            let f = m.get_mut("function_call");
            if let Some(args) = text_slot(f.and_then(|f| f.get_mut("arguments")))? {
                changed |= self.guard_field(&scanner, args, true, out)?;
            }
        }
        if !changed {
            return Ok(body.clone());
        }
        Ok(Bytes::from(v.to_string()))
    }

    /// Guards one whole text field in place (`json`: tool-call arguments); whether it
    /// changed.
    fn guard_field(
        &self,
        scanner: &OutputScanner,
        text: &mut String,
        json: bool,
        out: &mut BTreeMap<FindingKind, u32>,
    ) -> Result<bool, OutputBlocked> {
        let mut step = if json {
            let mut sc = FieldScanner::json(scanner);
            sc.feed(text);
            let mut step = guard_text(&sc, &self.policy.output, text);
            step.emit = JsonOut::default().fix(std::mem::take(&mut step.emit));
            step
        } else {
            guard_text(scanner, &self.policy.output, text)
        };
        let emit = std::mem::take(&mut step.emit);
        for f in &step.findings {
            *out.entry(f.kind).or_default() += 1;
        }
        if let Some(b) = step.blocked {
            return Err(OutputBlocked(b.kind));
        }
        let restored = self.pseudo.restore(&emit);
        if restored != *text {
            *text = restored;
            return Ok(true);
        }
        Ok(false)
    }
}

/// `EMAIL*2,SECRET*1` for the decision record (types and counts, never values).
pub fn summarize(counts: &BTreeMap<FindingKind, u32>) -> String {
    counts
        .iter()
        .map(|(k, n)| format!("{}*{n}", k.as_str()))
        .collect::<Vec<_>>()
        .join(",")
}

// ---------------------------------------------------------------------------------------
// Tool-call arguments: JSON text inside a JSON string.
//
// A tool call's `function.arguments` is JSON text the model writes (`{"to": "a@b.c"}`),
// sent as a string. It is guarded as one text, like content, with three additions that
// keep the client's arguments well-formed JSON after an action:
//
// * A lexer ([`JsonLex`]) classifies each raw byte: outside any string, a string's quote,
//   string content, or part of an escape sequence. It runs over the whole text (a stream
//   included: it is fed each fragment before the guard sees it), so its classes are exact
//   for any window the stream guard re-scans.
// * The detectors scan a same-length *view* of the window in which escapes are replaced
//   by what they stand for, padded with spaces (`\n` -> two spaces, `\"` -> ` "`,
//   `\u0073` -> five spaces and `s`), so `"line\nsk-live-..."` is seen as a word boundary
//   and a secret written with `\u` escapes is still found. Offsets are the raw ones.
// * Findings are fitted to the JSON before any action: widened to whole escape sequences,
//   and split at string quotes so a replacement never swallows a quote or structure
//   (structural bytes and whitespace outside strings are dropped from a finding; a bare
//   literal outside strings, such as a card number written as a JSON number, is kept).
//   After the guard, [`JsonOut`] quotes a `[REDACTED:TYPE]` that landed outside a string
//   (that bare number), so it stays a JSON value.
//
// Restored placeholder values go back inside the string they were in; the personal-data
// types that are pseudonymized (email, phone, card, IBAN, SSN, IP, person) never contain
// `"`, `\` or control characters, so the string stays valid.
// ---------------------------------------------------------------------------------------

/// A raw byte outside any string (structure, whitespace, a number or literal).
const C_OUT: u8 = 0;
/// A quote opening or closing a string.
const C_QUOTE: u8 = 1;
/// Ordinary string content.
const C_STR: u8 = 2;
/// The backslash starting an escape sequence.
const C_ESC: u8 = 3;
/// A later byte of an escape sequence.
const C_ESC_CONT: u8 = 4;

/// Incremental lexer of JSON text: string state only (no validation).
#[derive(Debug, Default, Clone, Copy)]
struct JsonLex {
    in_str: bool,
    /// Just after a backslash inside a string.
    after_backslash: bool,
    /// Hex digits of a `\u` escape still expected.
    hex_left: u8,
}

impl JsonLex {
    fn class(&mut self, b: u8) -> u8 {
        if !self.in_str {
            if b == b'"' {
                self.in_str = true;
                return C_QUOTE;
            }
            return C_OUT;
        }
        if self.after_backslash {
            self.after_backslash = false;
            if b == b'u' {
                self.hex_left = 4;
            }
            return C_ESC_CONT;
        }
        if self.hex_left > 0 {
            if b.is_ascii_hexdigit() {
                self.hex_left -= 1;
                return C_ESC_CONT;
            }
            // A malformed `\u` escape: the byte counts as itself.
            self.hex_left = 0;
        }
        match b {
            b'\\' => {
                self.after_backslash = true;
                C_ESC
            }
            b'"' => {
                self.in_str = false;
                C_QUOTE
            }
            _ => C_STR,
        }
    }
}

/// A scanner for one guarded text field of a response. In JSON mode (tool-call
/// arguments) it keeps the lexer classes of the raw text and scans the escape-decoded
/// view, fitting findings to the JSON (see the notes above); otherwise it is `inner`.
pub(crate) struct FieldScanner<S> {
    inner: S,
    json: Option<JsonField>,
}

struct JsonField {
    lex: JsonLex,
    /// Class of each raw byte from absolute offset `base`.
    classes: Vec<u8>,
    base: usize,
    /// Raw bytes lexed so far.
    total: usize,
    /// Start of the last window scanned: later windows start at or after it (the stream
    /// guard only drops text from the front), so classes before it can go.
    min_base: std::cell::Cell<usize>,
}

impl<S> FieldScanner<S> {
    /// A plain text field (content, refusal).
    pub(crate) fn text(inner: S) -> Self {
        Self { inner, json: None }
    }

    /// A JSON-text field (tool-call or function-call arguments).
    pub(crate) fn json(inner: S) -> Self {
        Self {
            inner,
            json: Some(JsonField {
                lex: JsonLex::default(),
                classes: Vec::new(),
                base: 0,
                total: 0,
                min_base: std::cell::Cell::new(0),
            }),
        }
    }

    /// Feeds raw text that is about to be pushed to the guard (JSON mode; a no-op
    /// otherwise).
    pub(crate) fn feed(&mut self, delta: &str) {
        let Some(j) = self.json.as_mut() else { return };
        let keep_from = j.min_base.get();
        if keep_from > j.base {
            let n = (keep_from - j.base).min(j.classes.len());
            j.classes.drain(..n);
            j.base += n;
        }
        j.classes.reserve(delta.len());
        for &b in delta.as_bytes() {
            j.classes.push(j.lex.class(b));
        }
        j.total += delta.len();
    }
}

impl JsonField {
    /// The classes of a window that ends at the text lexed so far.
    fn window(&self, len: usize) -> Option<&[u8]> {
        let start = self.total.checked_sub(len)?;
        self.min_base.set(start);
        self.classes.get(start.checked_sub(self.base)?..)
    }
}

/// The escape-decoded view of a JSON-text window: the text with every escape sequence
/// replaced by the character it stands for (`\n` a newline, `\u0041` an `A`; a lone
/// surrogate or an escape cut by the window's edges a space), and for each of its bytes
/// the raw range it came from. `None` when the window has no escape (the view is the
/// window).
struct JsonView {
    text: String,
    /// Raw start and end of each view byte's source.
    src: Vec<(usize, usize)>,
}

impl JsonView {
    fn new(win: &str, cls: &[u8]) -> Option<Self> {
        let b = win.as_bytes();
        if !b.contains(&b'\\') {
            return None;
        }
        let mut text = String::with_capacity(b.len());
        let mut src = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            let (ch, len) = match cls.get(i) {
                Some(&C_ESC) => match b.get(i + 1) {
                    Some(b'u') => {
                        let len = (b.len() - i).min(6);
                        let ch = win
                            .get(i + 2..i + 6)
                            .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                            .and_then(|h| u32::from_str_radix(h, 16).ok())
                            .and_then(char::from_u32)
                            .unwrap_or(' ');
                        (ch, len)
                    }
                    Some(&c) => {
                        let ch = match c {
                            b'n' => '\n',
                            b'r' => '\r',
                            b't' => '\t',
                            b'"' => '"',
                            b'\\' => '\\',
                            b'/' => '/',
                            _ => ' ',
                        };
                        (ch, 2)
                    }
                    None => (' ', 1),
                },
                // The window starts inside an escape.
                Some(&C_ESC_CONT) => (' ', 1),
                _ => {
                    // Copy a whole character.
                    let len = win
                        .get(i..)
                        .and_then(|r| r.chars().next())
                        .map_or(1, char::len_utf8);
                    let chunk = win.get(i..i + len).unwrap_or(" ");
                    text.push_str(chunk);
                    for _ in 0..chunk.len() {
                        src.push((i, i + len));
                    }
                    i += len;
                    continue;
                }
            };
            let mut buf = [0u8; 4];
            let enc = ch.encode_utf8(&mut buf);
            text.push_str(enc);
            for _ in 0..enc.len() {
                src.push((i, i + len));
            }
            i += len;
        }
        Some(Self { text, src })
    }

    /// Maps findings on the view back to raw offsets.
    fn to_raw(&self, found: Vec<Finding>) -> Vec<Finding> {
        found
            .into_iter()
            .filter_map(|f| {
                let s = self.src.get(f.start)?.0;
                let e = self.src.get(f.end.checked_sub(1)?)?.1;
                Some(Finding {
                    start: s,
                    end: e,
                    ..f
                })
            })
            .collect()
    }
}

/// A byte of a bare JSON literal (number, `true`, ...) outside strings.
fn literal_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.')
}

/// Fits findings on a JSON-text window to its structure (see the notes above).
fn fit_json(found: Vec<Finding>, win: &str, cls: &[u8]) -> Vec<Finding> {
    let b = win.as_bytes();
    let mut out = Vec::with_capacity(found.len());
    for f in found {
        let (mut s, mut e) = (f.start.min(b.len()), f.end.min(b.len()));
        while s > 0 && cls.get(s) == Some(&C_ESC_CONT) {
            s -= 1;
        }
        while e < b.len() && cls.get(e) == Some(&C_ESC_CONT) {
            e += 1;
        }
        if s >= e {
            continue;
        }
        if cls[s..e].iter().all(|&c| c >= C_STR) {
            out.push(Finding {
                start: s,
                end: e,
                ..f
            });
            continue;
        }
        // Split at quotes; outside strings keep only bare literals.
        let mut i = s;
        while i < e {
            let in_str = cls[i] >= C_STR;
            if !in_str && (cls[i] == C_QUOTE || !literal_byte(b[i])) {
                i += 1;
                continue;
            }
            let mut j = i + 1;
            while j < e
                && if in_str {
                    cls[j] >= C_STR
                } else {
                    cls[j] == C_OUT && literal_byte(b[j])
                }
            {
                j += 1;
            }
            out.push(Finding {
                start: i,
                end: j,
                ..f.clone()
            });
            i = j;
        }
    }
    out
}

impl<S: TextScanner> TextScanner for FieldScanner<S> {
    fn scan(&self, text: &str) -> Vec<Finding> {
        let Some(j) = self.json.as_ref() else {
            return self.inner.scan(text);
        };
        let Some(cls) = j.window(text.len()).filter(|c| c.len() == text.len()) else {
            // Not fed (a bug): scan the raw text unfitted rather than not at all.
            return self.inner.scan(text);
        };
        let found = match JsonView::new(text, cls) {
            None => self.inner.scan(text),
            Some(v) => v.to_raw(self.inner.scan(&v.text)),
        };
        fit_json(found, text, cls)
    }

    fn pending_start(&self, text: &str) -> Option<usize> {
        let Some(j) = self.json.as_ref() else {
            return self.inner.pending_start(text);
        };
        let Some(cls) = j.window(text.len()).filter(|c| c.len() == text.len()) else {
            return self.inner.pending_start(text);
        };
        match JsonView::new(text, cls) {
            None => self.inner.pending_start(text),
            Some(v) => {
                let p = self.inner.pending_start(&v.text)?;
                Some(v.src.get(p).map_or(text.len(), |r| r.0))
            }
        }
    }
}

/// After the guard, on JSON-text output: quotes a redaction that stands outside any
/// string (a bare literal was redacted) so the text stays JSON. Redactions are emitted
/// whole by the guard, so no hold-back is needed.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct JsonOut {
    lex: JsonLex,
}

const REDACTED_PREFIX: &str = "[REDACTED:";

impl JsonOut {
    pub(crate) fn fix(&mut self, text: String) -> String {
        if !text.contains(REDACTED_PREFIX) {
            // Fast path: only the state needs updating.
            for &b in text.as_bytes() {
                self.lex.class(b);
            }
            return text;
        }
        let b = text.as_bytes();
        let mut out: Option<String> = None;
        let mut copied = 0;
        let mut i = 0;
        while i < b.len() {
            if !self.lex.in_str && b[i] == b'[' && text[i..].starts_with(REDACTED_PREFIX) {
                if let Some(close) = text[i..].find(']') {
                    let o = out.get_or_insert_with(|| String::with_capacity(text.len() + 8));
                    o.push_str(&text[copied..i]);
                    o.push('"');
                    o.push_str(&text[i..=i + close]);
                    o.push('"');
                    i += close + 1;
                    copied = i;
                    continue;
                }
            }
            self.lex.class(b[i]);
            i += 1;
        }
        match out {
            None => text,
            Some(mut o) => {
                o.push_str(&text[copied..]);
                o
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use portcullis_guard::action::Action;
    use portcullis_guard::stream::{StreamConfig, StreamGuard};
    use serde_json::json;

    pub(crate) const LEAKED: &str = "AKIAZ7Q3XK2LW9PRT4MV";
    pub(crate) const EMAIL: &str = "jane.doe@example.com";

    /// A request guard for profile `default` (secrets and cards redacted) or `strict`
    /// (secrets blocked),
    /// with `jane.doe@example.com` pseudonymized by the input guard as `[EMAIL_1]`.
    pub(crate) fn request_guard(strict: bool) -> RequestGuard {
        let mut profiles = BTreeMap::new();
        let mut d = GuardSettings::default();
        d.output.push((FindingKind::CreditCard, Action::Redact));
        profiles.insert("default".to_string(), d);
        let mut s = GuardSettings::default();
        s.output.push((FindingKind::Secret, Action::Block));
        profiles.insert("strict".to_string(), s);
        let engine = GuardEngine::from_profiles(&profiles, None)
            .unwrap()
            .unwrap();
        let mut t = format!("Write to {EMAIL} please.");
        let g = engine
            .check(
                if strict { "strict" } else { "default" },
                &mut [&mut t],
                &[],
            )
            .unwrap();
        assert!(t.contains("[EMAIL_1]"), "{t}");
        g
    }

    fn completion(message: Value) -> Bytes {
        Bytes::from(
            json!({"id": "x", "object": "chat.completion", "choices": [
                {"index": 0, "message": message, "finish_reason": "tool_calls"}]})
            .to_string(),
        )
    }

    fn guarded(g: &RequestGuard, message: Value) -> Result<Value, JsonRefused> {
        let mut counts = BTreeMap::new();
        let b = g.guard_json(&completion(message), &mut counts)?;
        Ok(serde_json::from_slice::<Value>(&b).unwrap()["choices"][0]["message"].clone())
    }

    #[test]
    fn view_decodes_escapes_and_maps_back() {
        let raw = r#"{"a":"x\nsk\u0041\"q\\é"}"#;
        let mut lex = JsonLex::default();
        let cls: Vec<u8> = raw.bytes().map(|b| lex.class(b)).collect();
        let v = JsonView::new(raw, &cls).unwrap();
        assert_eq!(v.text, "{\"a\":\"x\nskA\"q\\é\"}");
        assert_eq!(v.src.len(), v.text.len());
        // `skA` in the view is `sk\u0041` in the raw text.
        let s = v.text.find("skA").unwrap();
        let f = Finding {
            kind: FindingKind::Secret,
            subtype: None,
            start: s,
            end: s + 3,
            score: 1.0,
        };
        let r = v.to_raw(vec![f]);
        assert_eq!(&raw[r[0].start..r[0].end], "sk\\u0041");
    }

    #[test]
    fn findings_are_fitted_to_strings_and_escapes() {
        let raw = r#"{"k": "ab\ncd", "n": 4111}"#;
        let mut lex = JsonLex::default();
        let cls: Vec<u8> = raw.bytes().map(|b| lex.class(b)).collect();
        let f = |s, e| Finding {
            kind: FindingKind::Secret,
            subtype: None,
            start: s,
            end: e,
            score: 1.0,
        };
        // Starts inside `\n`: widened to the backslash.
        let n = raw.find("\\n").unwrap() + 1; // the `n` of `\n`
        let got = fit_json(vec![f(n, n + 3)], raw, &cls);
        assert_eq!((got[0].start, got[0].end), (n - 1, n + 3));
        // Across a closing quote and structure: split, structure dropped, the bare
        // number kept.
        let s = raw.find("cd").unwrap();
        let got = fit_json(vec![f(s, raw.len() - 1)], raw, &cls);
        let spans: Vec<&str> = got.iter().map(|g| &raw[g.start..g.end]).collect();
        assert_eq!(spans, vec!["cd", "n", "4111"]);
    }

    #[test]
    fn a_redaction_outside_a_string_is_quoted() {
        let mut o = JsonOut::default();
        let a = o.fix(r#"{"s": "[REDACTED:SECRET]", "n": "#.to_string());
        let b = o.fix("[REDACTED:CREDIT_CARD]}".to_string());
        let all = a + &b;
        assert_eq!(
            all,
            r#"{"s": "[REDACTED:SECRET]", "n": "[REDACTED:CREDIT_CARD]"}"#
        );
        assert!(serde_json::from_str::<Value>(&all).is_ok());
    }

    #[test]
    fn tool_call_arguments_are_redacted_and_stay_json() {
        let g = request_guard(false);
        let args =
            json!({"cmd": format!("deploy --key {LEAKED}"), "note": "line\nsecond"}).to_string();
        let m = guarded(
            &g,
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "run", "arguments": args}}]}),
        )
        .unwrap();
        let out = m["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap();
        assert!(!out.contains(LEAKED), "{out}");
        let parsed: Value = serde_json::from_str(out).unwrap();
        assert_eq!(parsed["cmd"], "deploy --key [REDACTED:SECRET]");
        assert_eq!(parsed["note"], "line\nsecond");
        assert_eq!(m["tool_calls"][0]["function"]["name"], "run");
    }

    #[test]
    fn escaped_secrets_in_arguments_are_found() {
        let g = request_guard(false);
        // After a `\n` escape (no word boundary in the raw text) and spelled with `\u`.
        let spelled: String = LEAKED
            .chars()
            .map(|c| format!("\\u{:04x}", c as u32))
            .collect();
        let args = format!(r#"{{"a": "x\n{LEAKED}", "b": "{spelled}"}}"#);
        let m = guarded(
            &g,
            json!({"role": "assistant", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": args}}]}),
        )
        .unwrap();
        let out = m["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap();
        let parsed: Value = serde_json::from_str(out).unwrap();
        assert_eq!(parsed["a"], "x\n[REDACTED:SECRET]", "{out}");
        assert_eq!(parsed["b"], "[REDACTED:SECRET]", "{out}");
    }

    #[test]
    fn placeholders_in_arguments_are_restored() {
        let g = request_guard(false);
        let args = r#"{"to": "[EMAIL_1]", "subject": "hi"}"#;
        let m = guarded(
            &g,
            json!({"role": "assistant", "function_call": {"name": "send", "arguments": args},
                   "tool_calls": [{"id": "c1", "type": "function",
                                   "function": {"name": "send", "arguments": args}}]}),
        )
        .unwrap();
        for out in [
            m["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .unwrap(),
            m["function_call"]["arguments"].as_str().unwrap(),
        ] {
            let parsed: Value = serde_json::from_str(out).unwrap();
            assert_eq!(parsed["to"], EMAIL);
        }
    }

    #[test]
    fn refusal_and_blocking_arguments() {
        let g = request_guard(false);
        let m = guarded(
            &g,
            json!({"role": "assistant", "content": null,
                   "refusal": format!("I cannot share {LEAKED}.")}),
        )
        .unwrap();
        assert_eq!(m["refusal"], "I cannot share [REDACTED:SECRET].");

        let strict = request_guard(true);
        let args = json!({"key": LEAKED}).to_string();
        let r = guarded(
            &strict,
            json!({"role": "assistant", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": args}}]}),
        );
        assert!(matches!(r, Err(JsonRefused::Blocked(FindingKind::Secret))));
    }

    #[test]
    fn a_card_number_written_as_a_json_number_is_redacted_as_a_string() {
        let g = request_guard(false);
        let args = r#"{"card": 4111111111111111, "amount": 12}"#;
        let m = guarded(
            &g,
            json!({"role": "assistant", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "pay", "arguments": args}}]}),
        )
        .unwrap();
        let out = m["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap();
        let parsed: Value = serde_json::from_str(out).unwrap();
        assert_eq!(parsed["card"], "[REDACTED:CREDIT_CARD]", "{out}");
        assert_eq!(parsed["amount"], 12);
    }

    /// Streamed arguments, cut at every byte position (and into 1-byte fragments), give
    /// what the whole arguments give, and stay JSON.
    #[test]
    fn streamed_arguments_equal_the_whole_at_every_split() {
        let g = request_guard(false);
        let scanner = g.output_scanner().unwrap();
        let args = format!(
            r#"{{"to": "[EMAIL_1]", "cmd": "use {LEAKED}\nthen ok", "card": 4111111111111111, "n": "a\"b", "pad": "the quick brown fox jumps over the lazy dog", "again": "x\n{LEAKED} and [EMAIL_1]"}}"#
        );
        let whole = {
            let mut sc = FieldScanner::json(&scanner);
            sc.feed(&args);
            let step = guard_text(&sc, &g.policy.output, &args);
            g.pseudo.restore(&JsonOut::default().fix(step.emit))
        };
        let parsed: Value = serde_json::from_str(&whole).unwrap();
        assert_eq!(parsed["to"], EMAIL);
        assert_eq!(parsed["cmd"], "use [REDACTED:SECRET]\nthen ok");
        assert_eq!(parsed["card"], "[REDACTED:CREDIT_CARD]");
        // A small window so the re-scans, not only the final flush, are exercised.
        let cfg = StreamConfig {
            lookahead: 64,
            context: 48,
            step: 8,
            max_hold: 4096,
        };
        let stream = |pieces: &[&str]| {
            let mut sg = StreamGuard::with_config(
                FieldScanner::json(&scanner),
                g.policy.output.clone(),
                cfg,
            );
            let mut fix = JsonOut::default();
            let mut r = g.pseudo.restorer();
            let mut out = String::new();
            for p in pieces {
                sg.scanner_mut().feed(p);
                let e = sg.push(p).emit;
                out.push_str(&r.push(&fix.fix(e)));
            }
            out.push_str(&r.push(&fix.fix(sg.finish().emit)));
            out.push_str(&r.finish());
            assert!(sg.stats().all_checked());
            out
        };
        for cut in 0..=args.len() {
            if !args.is_char_boundary(cut) {
                continue;
            }
            assert_eq!(stream(&[&args[..cut], &args[cut..]]), whole, "cut at {cut}");
        }
        let bytes: Vec<&str> = (0..args.len()).map(|i| &args[i..i + 1]).collect();
        assert_eq!(stream(&bytes), whole);
    }
}
