//! PII checks: email, phone, credit card, IBAN, US SSN, IPv4/IPv6.
//!
//! Every check runs at a prefilter hit (see [`crate::detector`]): `@` for emails, the start
//! of a number for phones, cards, SSNs and IPv4, a colon for IPv6, two capitals and two
//! digits for IBANs. Context rules (all cheap, local):
//! * numbers glued to letters, dots, dashes, slashes or `#` on the left are not PII
//!   (`v10.2.3.4`, `INV-123-456-7890`, `1.10.2.3.4`), nor are later groups of a longer
//!   run of digit groups (`BE67 0542 6542 0637`, `2024-03-15 12:30`);
//! * a number preceded within a few words by `order`, `invoice`, `ref`, `ticket`,
//!   `tracking`, `#`, `sku`, `serial`, `isbn`, ... is an identifier, not a phone/SSN/card,
//!   unless a phone word (`call`, `tel`, `mobile`) is right before it;
//! * dotted quads preceded by `version`, `release`, `build`, `ver` are version strings;
//! * cards need a known IIN prefix and length and a valid Luhn digit, IBANs the country's
//!   length and mod-97, SSNs an area/group/serial the SSA issues.

use crate::detector::{after, before, next_char, prev_char, push, Anch, Ctx};
use crate::{Finding, FindingKind};
use std::net::Ipv6Addr;

/// Words that, shortly before a number, mark it as an identifier.
pub(crate) const NEGATIVE_NUMBER_CONTEXT: &[&str] = &[
    "order",
    "invoice",
    "inv",
    "ref",
    "reference",
    "ticket",
    "tracking",
    "#",
    "no.",
    "sku",
    "serial",
    "isbn",
    "part no",
    "part number",
    "case",
    "po",
    "confirmation",
    "booking",
    "shipment",
    "build",
    "batch",
    "lot",
    "customer id",
    "loyalty",
];

/// Words that, right before a number, mark it as a phone number (and override the
/// identifier context further left: `order 12345, call 555-123-4567`).
pub(crate) const PHONE_CONTEXT: &[&str] = &[
    "call",
    "phone",
    "tel",
    "telephone",
    "mobile",
    "cell",
    "fax",
    "whatsapp",
    "sms",
    "text me",
    "reach",
    "contact",
    "number is",
    "ring",
];

/// Words that, shortly before a dotted quad, mark it as a version.
pub(crate) const VERSION_CONTEXT: &[&str] = &[
    "version",
    "section",
    "chapter",
    "§",
    "clause",
    "step",
    "release",
    "build",
    "ver",
    "firmware",
    "v",
    "update to",
    "upgrade to",
    "oid",
    "snmp",
];

/// Compiled phone shapes (the only numeric type that needs a regex: too many formats).
pub(crate) struct Rules {
    /// `+CC ...` with groups, an optional `(0)` trunk and a parenthesized area code.
    phone_intl: Anch,
    /// `(415) 555-0123`.
    phone_paren: Anch,
    /// `415-555-0123`, `415.555.0123`, `415 555 0123`.
    phone_us: Anch,
    /// Trunk-prefix national numbers: `020 7946 0958`, `030 1234567`, `01 23 45 67 89`,
    /// `03-1234-5678`.
    phone_trunk: Anch,
}

impl Rules {
    pub(crate) fn new() -> Result<Self, crate::GuardError> {
        Ok(Self {
            phone_intl: Anch::new(
                r"\+[1-9]\d{0,3}(?:[ .-]?\(0\))?(?:[ .-]?(?:\(\d{1,5}\)|\d{1,5})){1,7}(?-u:\b)",
            )?,
            phone_paren: Anch::new(r"\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}(?-u:\b)")?,
            phone_us: Anch::new(r"\d{3}[-. ]\d{3}[-. ]\d{4}(?-u:\b)")?,
            phone_trunk: Anch::new(r"0[1-9]\d{0,3}(?:[ ./-]?\d{2,4}){1,4}(?-u:\b)")?,
        })
    }
}

fn is_digit_at(b: &[u8], i: usize) -> bool {
    b.get(i).is_some_and(u8::is_ascii_digit)
}

fn count_digits(s: &str) -> usize {
    s.bytes().filter(u8::is_ascii_digit).count()
}

/// Separators other than parentheses are all the same (dates and mixed identifiers are
/// not phone numbers or cards).
fn consistent_seps(s: &str) -> bool {
    let mut sep = None;
    for b in s.bytes() {
        if b.is_ascii_digit() || b == b'(' || b == b')' || b == b'+' {
            continue;
        }
        match sep {
            None => sep = Some(b),
            Some(x) if x == b => {}
            Some(_) => return false,
        }
    }
    true
}

/// Whether a number may start at `i`: not glued on the left to a token, and not a later
/// group of a run of digit groups.
fn num_start_ok(text: &str, i: usize) -> bool {
    let b = text.as_bytes();
    let Some(j) = i.checked_sub(1) else {
        return true;
    };
    let p = b.get(j).copied().unwrap_or(b' ');
    if p.is_ascii_alphanumeric() || b"._-/#$%\\&".contains(&p) {
        return false;
    }
    if p == b':' && j > 0 && is_digit_at(b, j - 1) {
        return false; // `12:30`
    }
    if (p == b' ' || p == b'-' || p == b'.') && j > 0 && is_digit_at(b, j - 1) {
        return false; // later group of a digit run
    }
    // A later group of an alphanumeric run (`NL71 KLYN 0086 3896 66`).
    if p == b' ' && j >= 5 {
        let g = &b[j - 4..j];
        if g.iter()
            .all(|x| x.is_ascii_uppercase() || x.is_ascii_digit())
            && g.iter().any(u8::is_ascii_uppercase)
            && (j == 4 || b[j - 5] == b' ')
        {
            return false;
        }
    }
    if p >= 0x80 {
        return !matches!(prev_char(text, i), Some(c) if c.is_alphanumeric());
    }
    true
}

/// Glued on the right: `-5`, `.5`, `/5` continue the token.
fn glued_right(text: &str, end: usize) -> bool {
    let rest = after(text, end, 2);
    let mut it = rest.chars();
    match (it.next(), it.next()) {
        (Some(c), _) if c.is_alphanumeric() || c == '_' || c == '@' => true,
        (Some(c), Some(d)) if "-./:".contains(c) && d.is_ascii_alphanumeric() => true,
        _ => false,
    }
}

/// Whether `ac` matches a whole word (not inside another word: `server` is not `ver`,
/// `refund` is not `ref`, `getenv(` is not `v`) in `hay`, a window of `text`. Word
/// boundaries are checked in `text`, so a window cut mid-word does not create a word.
fn word_match(ac: &aho_corasick::AhoCorasick, text: &str, hay: &str) -> bool {
    let base = (hay.as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
    ac.find_iter(hay).any(|m| {
        !matches!(prev_char(text, base + m.start()), Some(c) if c.is_alphanumeric())
            && !matches!(next_char(text, base + m.end()), Some(c) if c.is_alphabetic())
    })
}

/// The current clause before `start`: at most `n` bytes, cut at a sentence or line end
/// (`booking 123. Call 555-...`: the booking word belongs to the previous sentence).
fn clause_before(text: &str, start: usize, n: usize) -> &str {
    let w = before(text, start, n);
    let cut = [". ", ".\n", "\n", "; ", "? ", "! "]
        .iter()
        .filter_map(|p| w.rfind(p).map(|i| i + p.len()))
        .max()
        .unwrap_or(0);
    w.get(cut..).unwrap_or(w)
}

fn negative_context(ctx: &Ctx, text: &str, start: usize) -> bool {
    word_match(
        &ctx.negative_number_context,
        text,
        clause_before(text, start, 24),
    )
}

fn phone_context(ctx: &Ctx, text: &str, start: usize) -> bool {
    word_match(&ctx.phone_context, text, before(text, start, 16))
}

/// Checks every numeric type at a number start `i` (a digit, `+` or `(`). Returns the
/// end of the longest finding, so the caller skips the positions inside it.
pub(crate) fn numeric(ctx: &Ctx, text: &str, i: usize, out: &mut Vec<Finding>) -> Option<usize> {
    let b = text.as_bytes();
    let c = *b.get(i)?;
    if !c.is_ascii_digit() && !is_digit_at(b, i + 1) {
        return None;
    }
    if !num_start_ok(text, i) {
        return None;
    }
    // Shape: digits reachable through number punctuation, the first run and what follows.
    let (mut digits, mut first_run, mut first_sep) = (0usize, 0usize, 0u8);
    let mut j = i;
    let mut in_first = true;
    while let Some(&x) = b.get(j) {
        if j - i >= 40 {
            break;
        }
        if x.is_ascii_digit() {
            digits += 1;
            if in_first {
                first_run += 1;
            }
        } else if matches!(x, b' ' | b'-' | b'.' | b'(' | b')' | b'+' | b'/') {
            if in_first && first_run > 0 {
                in_first = false;
                first_sep = x;
            }
            if !is_digit_at(b, j + 1) && !matches!(b.get(j + 1), Some(b'(' | b' ')) {
                break;
            }
        } else {
            break;
        }
        j += 1;
    }
    if digits < 4 {
        return None;
    }
    let before_len = out.len();
    if c.is_ascii_digit() {
        if first_run <= 3 && first_sep == b'.' {
            ipv4_at(ctx, text, i, out);
        }
        if first_run == 3 && (first_sep == b'-' || first_sep == b' ') && digits >= 9 {
            ssn_at(ctx, text, i, out);
        }
        if digits >= 13 {
            card_at(ctx, text, i, out);
        }
    }
    if digits >= 8 {
        phone_at(ctx, text, i, c, out);
    }
    out.get(before_len..)?.iter().map(|f| f.end).max()
}

fn phone_at(ctx: &Ctx, text: &str, i: usize, c: u8, out: &mut Vec<Finding>) {
    let r = &ctx.pii;
    let (re, intl) = match c {
        b'+' => (&r.phone_intl, true),
        b'(' => (&r.phone_paren, false),
        b'0' => (&r.phone_trunk, false),
        _ => (&r.phone_us, false),
    };
    let Some(end) = re.end_at(text, i, 40) else {
        return;
    };
    let s = text.get(i..end).unwrap_or("");
    let n = count_digits(s);
    let ok_len = if intl {
        (8..=15).contains(&n)
    } else if c == b'0' {
        (9..=11).contains(&n)
    } else {
        n == 10
    };
    if !ok_len || glued_right(text, end) {
        return;
    }
    if !intl && !s.starts_with('(') && !consistent_seps(s) {
        return;
    }
    if negative_context(ctx, text, i) && !phone_context(ctx, text, i) {
        return;
    }
    let (sub, score) = if intl {
        ("international", 0.9)
    } else {
        ("national", 0.8)
    };
    push(out, FindingKind::Phone, Some(sub), i, end, score);
}

fn ipv4_at(ctx: &Ctx, text: &str, i: usize, out: &mut Vec<Finding>) {
    let b = text.as_bytes();
    let mut j = i;
    for k in 0..4 {
        let s = j;
        let mut v = 0u32;
        while j < b.len() && j - s < 4 && b[j].is_ascii_digit() {
            v = v * 10 + u32::from(b[j] - b'0');
            j += 1;
        }
        let len = j - s;
        if len == 0 || len > 3 || v > 255 || (len > 1 && b[s] == b'0') {
            return;
        }
        if k < 3 {
            if b.get(j) != Some(&b'.') {
                return;
            }
            j += 1;
        }
    }
    // `1.2.3.4.5`, `1.2.3.4-beta`, `1.2.3.4a` are versions or identifiers.
    let rest = after(text, j, 2);
    if rest.starts_with('.') && rest[1..].starts_with(|c: char| c.is_ascii_digit()) {
        return;
    }
    if rest.starts_with(|c: char| c.is_alphanumeric() || c == '-' || c == '_') {
        return;
    }
    let lb = before(text, i, 16);
    if word_match(&ctx.version_context, text, lb) || lb.trim_end().ends_with(" v") {
        return;
    }
    push(out, FindingKind::IpAddress, Some("ipv4"), i, j, 0.9);
}

fn ssn_at(ctx: &Ctx, text: &str, i: usize, out: &mut Vec<Finding>) {
    let b = text.as_bytes();
    let Some(w) = b.get(i..i + 11) else {
        return;
    };
    let sep = w[3];
    let shape = w.iter().enumerate().all(|(k, &x)| {
        if k == 3 || k == 6 {
            x == sep
        } else {
            x.is_ascii_digit()
        }
    });
    if !shape || is_digit_at(b, i + 11) {
        return;
    }
    let num =
        |r: std::ops::Range<usize>| w[r].iter().fold(0u32, |a, &x| a * 10 + u32::from(x - b'0'));
    let (area, group, serial) = (num(0..3), num(4..6), num(7..11));
    if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 {
        return;
    }
    if glued_right(text, i + 11) || negative_context(ctx, text, i) {
        return;
    }
    // Above a national phone's 0.8: `018 54 0098` is shaped like an SSN, not a phone.
    let score = if sep == b'-' { 0.9 } else { 0.85 };
    push(out, FindingKind::UsSsn, None, i, i + 11, score);
}

fn card_at(ctx: &Ctx, text: &str, i: usize, out: &mut Vec<Finding>) {
    let b = text.as_bytes();
    // Digit groups with one consistent separator (space or dash).
    let mut groups: [(usize, usize); 8] = [(0, 0); 8];
    let mut n = 0;
    let mut sep = None;
    let mut j = i;
    let mut total = 0;
    while n < 8 {
        let s = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j == s {
            break;
        }
        groups[n] = (s, j);
        n += 1;
        total += j - s;
        if total > 19 {
            break;
        }
        match (b.get(j), sep) {
            (Some(&x @ (b' ' | b'-')), None) if is_digit_at(b, j + 1) => sep = Some(x),
            (Some(&x), Some(y)) if x == y && is_digit_at(b, j + 1) => {}
            _ => break,
        }
        j += 1;
    }
    let mut d = [0u8; 19];
    for k in (1..=n).rev() {
        let (_, end) = groups[k - 1];
        let digits: usize = groups[..k].iter().map(|(s, e)| e - s).sum();
        if !(13..=19).contains(&digits) {
            continue;
        }
        // Grouped numbers start with a 4-digit group and have groups of 3..=6.
        if k > 1 && (groups[0].1 - groups[0].0 != 4 || groups[..k].iter().any(|(s, e)| e - s > 6)) {
            continue;
        }
        let mut m = 0;
        for &(s, e) in &groups[..k] {
            for &x in &b[s..e] {
                d[m] = x - b'0';
                m += 1;
            }
        }
        let d = &d[..m];
        if !luhn(d) || !known_iin(d) {
            continue;
        }
        if glued_right(text, end) || negative_context(ctx, text, i) {
            return;
        }
        push(out, FindingKind::CreditCard, None, i, end, 0.95);
        return;
    }
}

/// An IBAN starting at the capital at `i` (`DE89 3704 ...` or `DE89370400...`).
pub(crate) fn iban_at(text: &str, i: usize, out: &mut Vec<Finding>) {
    let b = text.as_bytes();
    let Some(h) = b.get(i..i + 4) else {
        return;
    };
    if !(h[0].is_ascii_uppercase()
        && h[1].is_ascii_uppercase()
        && h[2].is_ascii_digit()
        && h[3].is_ascii_digit())
    {
        return;
    }
    let Some(want) = text.get(i..i + 2).and_then(iban_length) else {
        return;
    };
    let mut compact = [0u8; 34];
    let mut n = 0;
    let mut j = i;
    while n < want {
        match b.get(j) {
            Some(&x) if x.is_ascii_uppercase() || x.is_ascii_digit() => {
                compact[n] = x;
                n += 1;
                j += 1;
            }
            // Spaces only between groups of four.
            Some(b' ')
                if n % 4 == 0 && n > 0 && b.get(j + 1).is_some_and(u8::is_ascii_alphanumeric) =>
            {
                j += 1;
            }
            _ => return,
        }
    }
    if b.get(j).is_some_and(|x| x.is_ascii_alphanumeric()) {
        return;
    }
    let Ok(s) = std::str::from_utf8(&compact[..n]) else {
        return;
    };
    if iban_mod97(s) {
        push(out, FindingKind::Iban, None, i, j, 0.97);
    }
}

/// An email address around the `@` at `at`.
pub(crate) fn email_at(text: &str, at: usize, out: &mut Vec<Finding>) {
    let b = text.as_bytes();
    // Local part, scanning back (Unicode letters allowed: `josé@example.com`).
    let mut ls = at;
    for (count, (k, ch)) in text
        .get(..at)
        .unwrap_or("")
        .char_indices()
        .rev()
        .enumerate()
    {
        if count >= 64 || !(ch.is_alphanumeric() || "._%+-'".contains(ch)) {
            break;
        }
        ls = k;
    }
    while ls < at && b"._%+-'".contains(&b[ls]) {
        ls += 1;
    }
    if ls == at {
        return;
    }
    let local = text.get(ls..at).unwrap_or("");
    if local.ends_with('.') || local.contains("..") {
        return;
    }
    // `user:pass@host` in a URL is credentials, `/@handle` is a path.
    match prev_char(text, ls) {
        Some(':') => {
            let tok = before(text, ls, 80);
            let tok = tok.rsplit(char::is_whitespace).next().unwrap_or("");
            if tok.contains("://") {
                return;
            }
        }
        Some('/') => return,
        _ => {}
    }
    // Domain: labels of [A-Za-z0-9-], alphabetic TLD.
    let mut j = at + 1;
    let mut labels = 0;
    let mut last;
    loop {
        let s = j;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'-') && j - s < 63 {
            j += 1;
        }
        if j == s || b[s] == b'-' || b[j - 1] == b'-' {
            return;
        }
        labels += 1;
        last = (s, j);
        if b.get(j) == Some(&b'.') && b.get(j + 1).is_some_and(u8::is_ascii_alphanumeric) {
            j += 1;
        } else {
            break;
        }
    }
    let tld = &b[last.0..last.1];
    if labels < 2 || !(2..=24).contains(&tld.len()) || !tld.iter().all(u8::is_ascii_alphabetic) {
        return;
    }
    if matches!(next_char(text, j), Some(c) if c.is_alphanumeric() || c == '_' || c == '@') {
        return;
    }
    push(out, FindingKind::Email, None, ls, j, 0.95);
}

/// An IPv6 address around the colon at `i`. Returns the end of the examined token so
/// the caller skips its other colons.
pub(crate) fn ipv6_at_colon(text: &str, i: usize, out: &mut Vec<Finding>) -> usize {
    let b = text.as_bytes();
    let mut s = i;
    while s > 0 && (b[s - 1].is_ascii_hexdigit() || b[s - 1] == b':') && i - s < 40 {
        s -= 1;
    }
    let mut e = i + 1;
    while e < b.len() && (b[e].is_ascii_hexdigit() || b[e] == b':' || b[e] == b'.') && e - s < 46 {
        e += 1;
    }
    let skip = e;
    // Trim a trailing sentence dot or colon.
    while e > s && matches!(b[e - 1], b'.' | b':') && !(e >= 2 && b[e - 2] == b':') {
        e -= 1;
    }
    let Some(cand) = text.get(s..e) else {
        return skip;
    };
    if cand.bytes().filter(|&x| x == b':').count() < 2 {
        return skip;
    }
    if matches!(prev_char(text, s), Some(c) if c.is_alphanumeric() || c == '_')
        || matches!(next_char(text, e), Some(c) if c.is_alphanumeric() || c == '_')
    {
        return skip;
    }
    if cand.parse::<Ipv6Addr>().is_err() {
        return skip;
    }
    // `a::b`, `dead::beef` in code: require a digit and at least 3 hex digits.
    let hex = cand.bytes().filter(u8::is_ascii_hexdigit).count();
    if (hex < 3 && !cand.starts_with("::")) || !cand.bytes().any(|c| c.is_ascii_digit()) {
        return skip;
    }
    push(out, FindingKind::IpAddress, Some("ipv6"), s, e, 0.9);
    skip
}

/// Luhn checksum over digit values.
pub fn luhn(d: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &x) in d.iter().rev().enumerate() {
        let mut v = u32::from(x);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// Whether a digit string has a known card IIN prefix and length.
pub fn known_iin(d: &[u8]) -> bool {
    let len = d.len();
    let p = |k: usize| -> u32 { d.iter().take(k).fold(0u32, |a, &x| a * 10 + u32::from(x)) };
    let (p1, p2, p3, p4, p6) = (p(1), p(2), p(3), p(4), p(6));
    (p1 == 4 && matches!(len, 13 | 16 | 19))
        || (((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && len == 16)
        || ((p2 == 34 || p2 == 37) && len == 15)
        || ((p4 == 6011 || p2 == 65 || (644..=649).contains(&p3)) && (16..=19).contains(&len))
        || ((p2 == 36 || p2 == 38 || p2 == 39 || (300..=305).contains(&p3))
            && (14..=19).contains(&len))
        || ((3528..=3589).contains(&p4) && (16..=19).contains(&len))
        || (p2 == 62 && (16..=19).contains(&len))
        || ((p2 == 50 || (56..=58).contains(&p2) || p2 == 67 || p4 == 6304)
            && (12..=19).contains(&len))
        || ((222100..=272099).contains(&p6) && len == 16)
}

/// IBAN length per country (ISO 13616 registry, common countries).
pub fn iban_length(cc: &str) -> Option<usize> {
    Some(match cc {
        "AD" => 24,
        "AE" => 23,
        "AL" => 28,
        "AT" => 20,
        "AZ" => 28,
        "BA" => 20,
        "BE" => 16,
        "BG" => 22,
        "BH" => 22,
        "BR" => 29,
        "CH" => 21,
        "CR" => 22,
        "CY" => 28,
        "CZ" => 24,
        "DE" => 22,
        "DK" => 18,
        "DO" => 28,
        "EE" => 20,
        "EG" => 29,
        "ES" => 24,
        "FI" => 18,
        "FO" => 18,
        "FR" => 27,
        "GB" => 22,
        "GE" => 22,
        "GI" => 23,
        "GL" => 18,
        "GR" => 27,
        "GT" => 28,
        "HR" => 21,
        "HU" => 28,
        "IE" => 22,
        "IL" => 23,
        "IS" => 26,
        "IT" => 27,
        "JO" => 30,
        "KW" => 30,
        "KZ" => 20,
        "LB" => 28,
        "LI" => 21,
        "LT" => 20,
        "LU" => 20,
        "LV" => 21,
        "MC" => 27,
        "MD" => 24,
        "ME" => 22,
        "MK" => 19,
        "MR" => 27,
        "MT" => 31,
        "MU" => 30,
        "NL" => 18,
        "NO" => 15,
        "PK" => 24,
        "PL" => 28,
        "PS" => 29,
        "PT" => 25,
        "QA" => 29,
        "RO" => 24,
        "RS" => 22,
        "SA" => 24,
        "SE" => 24,
        "SI" => 19,
        "SK" => 24,
        "SM" => 27,
        "TN" => 24,
        "TR" => 26,
        "UA" => 29,
        "VG" => 24,
        "XK" => 20,
        _ => return None,
    })
}

/// ISO 7064 mod-97-10 over an IBAN without spaces.
pub fn iban_mod97(iban: &str) -> bool {
    if iban.len() < 5 {
        return false;
    }
    let (head, tail) = iban.split_at(4);
    let mut rem = 0u32;
    for c in tail.chars().chain(head.chars()) {
        let v = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A'..='Z' => c as u32 - 'A' as u32 + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}
