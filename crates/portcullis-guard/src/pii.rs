//! PII rules: email, phone, credit card, IBAN, US SSN, IPv4/IPv6.
//!
//! Context rules (all cheap, local):
//! * numbers glued to letters, dots, dashes, slashes or `#` on the left are not PII
//!   (`v10.2.3.4`, `INV-123-456-7890`, `1.10.2.3.4`);
//! * a number preceded within a few words by `order`, `invoice`, `ref`, `ticket`,
//!   `tracking`, `#`, `sku`, `serial`, `isbn`, ... is an identifier, not a phone/SSN/card;
//! * dotted quads preceded by `version`, `release`, `build`, `ver` are version strings.

use crate::detector::{after, before, next_char, prev_char, Ctx, RuleSpec};
use crate::FindingKind;
use std::net::Ipv6Addr;

/// Words that, shortly before a number, mark it as an identifier.
pub(crate) const NEGATIVE_NUMBER_CONTEXT: &[&str] = &[
    "order",
    "invoice",
    "inv",
    "ref",
    "ticket",
    "tracking",
    "#",
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
];

pub(crate) fn rules() -> Vec<RuleSpec> {
    use FindingKind::*;
    vec![
        RuleSpec {
            kind: Email,
            subtype: None,
            pattern: r"(?-u:\b)[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?-u:\b)",
            group: 0,
            validate: v_email,
        },
        RuleSpec {
            kind: Phone,
            subtype: Some("international"),
            pattern: r"\+[1-9]\d{0,2}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]?\d{1,5}){1,6}(?-u:\b)",
            group: 0,
            validate: v_phone_intl,
        },
        RuleSpec {
            kind: Phone,
            subtype: Some("national"),
            pattern: r"\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}(?-u:\b)",
            group: 0,
            validate: v_phone_national,
        },
        RuleSpec {
            kind: Phone,
            subtype: Some("national"),
            pattern: r"(?-u:\b)\d{3}([-. ])\d{3}[-. ]\d{4}(?-u:\b)",
            group: 0,
            validate: v_phone_national,
        },
        RuleSpec {
            kind: Phone,
            subtype: Some("national"),
            pattern: r"(?-u:\b)0[1-9]\d{0,3}[ -]\d{3,4}[ -]?\d{3,4}(?-u:\b)",
            group: 0,
            validate: v_phone_national,
        },
        RuleSpec {
            kind: Phone,
            subtype: Some("national"),
            pattern: r"(?-u:\b)0[1-9](?:[ .]\d{2}){4}(?-u:\b)",
            group: 0,
            validate: v_phone_national,
        },
        RuleSpec {
            kind: CreditCard,
            subtype: None,
            pattern: r"(?-u:\b)\d(?:[ -]?\d){12,18}(?-u:\b)",
            group: 0,
            validate: v_card,
        },
        RuleSpec {
            kind: Iban,
            subtype: None,
            pattern: r"(?-u:\b)[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?-u:\b)",
            group: 0,
            validate: v_iban,
        },
        RuleSpec {
            kind: UsSsn,
            subtype: None,
            pattern: r"(?-u:\b)\d{3}([- ])\d{2}[- ]\d{4}(?-u:\b)",
            group: 0,
            validate: v_ssn,
        },
        RuleSpec {
            kind: IpAddress,
            subtype: Some("ipv4"),
            pattern: r"(?-u:\b)\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?-u:\b)",
            group: 0,
            validate: v_ipv4,
        },
        RuleSpec {
            kind: IpAddress,
            subtype: Some("ipv6"),
            pattern: r"[0-9A-Fa-f:][0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*[0-9A-Fa-f:]",
            group: 0,
            validate: v_ipv6,
        },
    ]
}

fn digits(s: &str) -> Vec<u8> {
    s.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect()
}

/// Glued on the left to something that makes it part of a larger token.
fn glued_left(text: &str, start: usize) -> bool {
    matches!(prev_char(text, start), Some(c) if c.is_alphanumeric() || "._-/#:@$".contains(c))
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

/// Whether `ac` matches a word start (not inside another word: `server` is not `ver`,
/// `refund` is not `ref`) in `hay`.
fn word_match(ac: &aho_corasick::AhoCorasick, hay: &str) -> bool {
    ac.find_iter(hay).any(|m| {
        !matches!(prev_char(hay, m.start()), Some(c) if c.is_alphanumeric())
            && !matches!(next_char(hay, m.end()), Some(c) if c.is_alphabetic())
    })
}

fn negative_context(ctx: &Ctx, text: &str, start: usize) -> bool {
    word_match(&ctx.negative_number_context, before(text, start, 24))
}

fn phone_context(ctx: &Ctx, text: &str, start: usize) -> bool {
    word_match(&ctx.phone_context, before(text, start, 14))
}

/// Part of a longer run of digit groups (`BE67 0542 6542 0637 ...`).
fn in_digit_run(text: &str, start: usize, end: usize) -> bool {
    let b = before(text, start, 2).as_bytes();
    let a = after(text, end, 2).as_bytes();
    (b.len() == 2 && b[0].is_ascii_digit() && b" -.".contains(&b[1]))
        || (a.len() == 2 && b" -.".contains(&a[0]) && a[1].is_ascii_digit())
}

fn v_email(_: &Ctx, text: &str, start: usize, end: usize) -> Option<f32> {
    let s = text.get(start..end)?;
    let (local, _) = s.split_once('@')?;
    if local.ends_with('.') || local.contains("..") {
        return None;
    }
    if matches!(prev_char(text, start), Some(c) if c == '.' || c == '-' || c == '+') {
        return None;
    }
    Some(0.95)
}

fn v_phone_intl(ctx: &Ctx, text: &str, start: usize, end: usize) -> Option<f32> {
    let s = text.get(start..end)?;
    let n = digits(s).len();
    if !(8..=15).contains(&n) || glued_left(text, start) || glued_right(text, end) {
        return None;
    }
    if negative_context(ctx, text, start) && !phone_context(ctx, text, start) {
        return None;
    }
    Some(0.9)
}

fn v_phone_national(ctx: &Ctx, text: &str, start: usize, end: usize) -> Option<f32> {
    let s = text.get(start..end)?;
    let n = digits(s).len();
    if !(9..=12).contains(&n) || glued_left(text, start) || glued_right(text, end) {
        return None;
    }
    // Separators must be consistent (dates and mixed identifiers are not).
    let seps: Vec<char> = s
        .chars()
        .filter(|c| !c.is_ascii_digit() && *c != '(' && *c != ')')
        .collect();
    if !s.starts_with('(') && seps.windows(2).any(|w| w[0] != w[1]) {
        return None;
    }
    if (negative_context(ctx, text, start) && !phone_context(ctx, text, start))
        || in_digit_run(text, start, end)
    {
        return None;
    }
    Some(0.8)
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

fn v_card(ctx: &Ctx, text: &str, start: usize, end: usize) -> Option<f32> {
    let s = text.get(start..end)?;
    let d = digits(s);
    if !(13..=19).contains(&d.len()) || !luhn(&d) || !known_iin(&d) {
        return None;
    }
    let seps: Vec<char> = s.chars().filter(|c| !c.is_ascii_digit()).collect();
    if seps.windows(2).any(|w| w[0] != w[1]) {
        return None;
    }
    if glued_left(text, start) || glued_right(text, end) || negative_context(ctx, text, start) {
        return None;
    }
    Some(0.95)
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

fn v_iban(_: &Ctx, text: &str, start: usize, end: usize) -> Option<f32> {
    let s = text.get(start..end)?;
    let compact: String = s.chars().filter(|c| *c != ' ').collect();
    let want = iban_length(compact.get(..2)?)?;
    if compact.len() != want || !iban_mod97(&compact) || glued_left(text, start) {
        return None;
    }
    Some(0.97)
}

fn v_ssn(ctx: &Ctx, text: &str, start: usize, end: usize) -> Option<f32> {
    let s = text.get(start..end)?;
    let d = digits(s);
    let seps: Vec<char> = s.chars().filter(|c| !c.is_ascii_digit()).collect();
    if seps.windows(2).any(|w| w[0] != w[1]) {
        return None;
    }
    let area = u32::from(d[0]) * 100 + u32::from(d[1]) * 10 + u32::from(d[2]);
    let group = u32::from(d[3]) * 10 + u32::from(d[4]);
    let serial = d[5..].iter().fold(0u32, |a, &x| a * 10 + u32::from(x));
    if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 {
        return None;
    }
    if glued_left(text, start) || glued_right(text, end) || negative_context(ctx, text, start) {
        return None;
    }
    Some(if seps.first() == Some(&'-') { 0.9 } else { 0.7 })
}

fn v_ipv4(ctx: &Ctx, text: &str, start: usize, end: usize) -> Option<f32> {
    let s = text.get(start..end)?;
    for oct in s.split('.') {
        if oct.len() > 1 && oct.starts_with('0') {
            return None;
        }
        if oct.parse::<u16>().ok()? > 255 {
            return None;
        }
    }
    // `v10.2.3.4`, `1.2.3.4.5`, `lib-1.2.3.4`, `x/1.2.3.4` are versions or paths.
    if glued_left(text, start) && prev_char(text, start) != Some(':') {
        return None;
    }
    let rest = after(text, end, 2);
    if rest.starts_with('.') && rest[1..].starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    if rest.starts_with(|c: char| c.is_alphanumeric() || c == '-' || c == '_') {
        return None;
    }
    let lb = before(text, start, 16);
    if word_match(&ctx.version_context, lb) || lb.trim_end().ends_with(" v") {
        return None;
    }
    Some(0.9)
}

fn v_ipv6(_: &Ctx, text: &str, start: usize, mut end: usize) -> Option<f32> {
    // Trim a trailing sentence dot.
    while end > start && text.as_bytes().get(end - 1) == Some(&b'.') {
        end -= 1;
    }
    let s = text.get(start..end)?;
    if s.matches(':').count() < 2 {
        return None;
    }
    if matches!(prev_char(text, start), Some(c) if c.is_alphanumeric() || c == '_')
        || matches!(next_char(text, end), Some(c) if c.is_alphanumeric() || c == '_')
    {
        return None;
    }
    s.parse::<Ipv6Addr>().ok()?;
    // `a::b`, `dead::beef` in code: require a digit and at least 3 hex digits.
    let hex = s.chars().filter(char::is_ascii_hexdigit).count();
    if (hex < 3 && !s.starts_with("::")) || !s.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(0.9)
}
