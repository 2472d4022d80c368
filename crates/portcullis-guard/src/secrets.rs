//! Secret rules: provider key formats (with a `subtype`), JWTs, PEM private keys,
//! connection-string credentials, and high-entropy values behind a keyword.
//!
//! Not secrets: UUIDs, 40-hex git SHAs, 64-hex SHA-256 digests, placeholders
//! (`YOUR_API_KEY`, `********`, `${TOKEN}`, `<password>`), and low-entropy values.

use crate::detector::{next_char, prev_char, Ctx, RuleSpec};
use crate::FindingKind::Secret;
use base64::Engine as _;

pub(crate) fn rules() -> Vec<RuleSpec> {
    let r = |subtype: &'static str, pattern: &'static str, validate| RuleSpec {
        kind: Secret,
        subtype: Some(subtype),
        pattern,
        group: 0,
        validate,
    };
    let g = |subtype: &'static str, pattern: &'static str, validate| RuleSpec {
        kind: Secret,
        subtype: Some(subtype),
        pattern,
        group: 1,
        validate,
    };
    vec![
        r(
            "aws_access_key_id",
            r"(?-u:\b)(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}(?-u:\b)",
            v_word,
        ),
        g(
            "aws_secret_access_key",
            r#"(?i)aws[a-z0-9_ .-]{0,30}(?:secret|sk)[a-z0-9_ .-]{0,30}["']?\s*(?:[:=]|=>)\s*["']?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)"#,
            v_aws_secret,
        ),
        r(
            "github_token",
            r"(?-u:\b)(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}(?-u:\b)",
            v_word,
        ),
        r(
            "github_token",
            r"(?-u:\b)github_pat_[A-Za-z0-9_]{50,255}(?-u:\b)",
            v_word,
        ),
        r(
            "slack_token",
            r"(?-u:\b)xox[abprs]-[A-Za-z0-9-]{10,250}",
            v_token_end,
        ),
        r(
            "slack_webhook",
            r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9_/]{20,200}",
            v_any,
        ),
        r(
            "stripe_key",
            r"(?-u:\b)(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,247}(?-u:\b)",
            v_word,
        ),
        r(
            "anthropic_key",
            r"(?-u:\b)sk-ant-[A-Za-z0-9_-]{20,250}",
            v_token_end,
        ),
        r(
            "openai_key",
            r"(?-u:\b)sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,250}",
            v_openai,
        ),
        r(
            "google_api_key",
            r"(?-u:\b)AIza[0-9A-Za-z_-]{35}",
            v_token_end,
        ),
        r(
            "sendgrid_key",
            r"(?-u:\b)SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}",
            v_token_end,
        ),
        r(
            "twilio_key",
            r"(?-u:\b)(?:AC|SK)[0-9a-f]{32}(?-u:\b)",
            v_word,
        ),
        r(
            "jwt",
            r"(?-u:\b)eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}",
            v_jwt,
        ),
        r(
            "private_key",
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
            v_any,
        ),
        g(
            "connection_string",
            r#"(?-u:\b)[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s:/@'"]{1,64}:([^\s/@'"]{1,128})@[A-Za-z0-9.\[\]-]+"#,
            v_conn_password,
        ),
        g(
            "generic_secret",
            r#"(?i)(?-u:\b)[a-z0-9_.-]{0,30}?(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|auth[_-]?key|credentials?)[a-z0-9_.-]{0,20}["']?\s*(?:[:=]|=>|:=)\s*["']?([^\s"'`,;<>]{7,199}[^\s"'`,;<>.)\]}!?:])"#,
            v_generic,
        ),
    ]
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn v_any(_: &Ctx, _: &str, _: usize, _: usize) -> Option<f32> {
    Some(0.99)
}

fn v_word(_: &Ctx, text: &str, start: usize, end: usize) -> Option<f32> {
    if matches!(prev_char(text, start), Some(c) if is_token_char(c))
        || matches!(next_char(text, end), Some(c) if is_token_char(c))
    {
        return None;
    }
    Some(0.99)
}

/// Patterns that end in `[..-]` cannot use `(?-u:\b)`: check the next char instead.
fn v_token_end(ctx: &Ctx, text: &str, start: usize, end: usize) -> Option<f32> {
    v_word(ctx, text, start, end)
}

fn v_openai(ctx: &Ctx, text: &str, start: usize, end: usize) -> Option<f32> {
    let s = text.get(start..end)?;
    if s.starts_with("sk-ant-") {
        return None;
    }
    let body = s.trim_start_matches("sk-");
    let body = ["proj-", "svcacct-", "admin-"]
        .iter()
        .find_map(|p| body.strip_prefix(p))
        .unwrap_or(body);
    // Hyphenated words (`sk-this-is-not-a-key`) are not keys.
    if classes(body) < 3 || entropy(body) < 3.5 || body.contains("--") {
        return None;
    }
    v_word(ctx, text, start, end)
}

fn v_aws_secret(_: &Ctx, text: &str, start: usize, end: usize) -> Option<f32> {
    let s = text.get(start..end)?;
    if is_hex(s) || entropy(s) < 3.5 {
        return None;
    }
    Some(0.95)
}

fn v_jwt(ctx: &Ctx, text: &str, start: usize, end: usize) -> Option<f32> {
    let s = text.get(start..end)?;
    let header = s.split('.').next()?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&raw).ok()?;
    let obj = v.as_object()?;
    if !obj.contains_key("alg") && !obj.contains_key("typ") {
        return None;
    }
    v_word(ctx, text, start, end).map(|_| 0.97)
}

fn is_placeholder(v: &str) -> bool {
    let l = v.to_ascii_lowercase();
    l.starts_with('$')
        || l.starts_with('{')
        || l.starts_with('<')
        || l.starts_with("%s")
        || l.starts_with("%(")
        || l.contains("{{")
        || l.contains('(')
        || l.contains('[')
        || l.contains("environ")
        || l.contains("process.env")
        || l.contains("xxxx")
        || l.contains("****")
        || l.contains("your")
        || l.contains("example")
        || l.contains("changeme")
        || l.contains("placeholder")
        || l.contains("redacted")
        || l.contains("password")
        || l.chars()
            .all(|c| c == '*' || c == 'x' || c == '.' || c == '•')
}

fn v_conn_password(_: &Ctx, text: &str, start: usize, end: usize) -> Option<f32> {
    let s = text.get(start..end)?;
    if is_placeholder(s) || s.len() < 3 {
        return None;
    }
    Some(0.95)
}

/// Not secrets: UUIDs, git SHAs (40 hex), SHA-256 digests (64 hex).
pub fn is_benign_identifier(v: &str) -> bool {
    let b = v.as_bytes();
    let uuid = b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    uuid || (is_hex(v) && matches!(v.len(), 40 | 64 | 128))
}

fn is_hex(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|c| c.is_ascii_hexdigit())
}

fn v_generic(_: &Ctx, text: &str, start: usize, end: usize) -> Option<f32> {
    let s = text.get(start..end)?;
    let v = s;
    if v.len() < 8 || is_placeholder(v) || is_benign_identifier(v) {
        return None;
    }
    let e = entropy(v);
    // High-entropy tokens carry digits; `required_field`, `not_applicable` do not.
    if classes(v) < 2 || e < 3.0 || !v.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((0.5 + (e - 3.0) / 4.0).clamp(0.5, 0.9) as f32)
}

/// Number of character classes present (lower, upper, digit, other).
pub fn classes(s: &str) -> usize {
    let mut c = [false; 4];
    for ch in s.chars() {
        let i = if ch.is_ascii_lowercase() {
            0
        } else if ch.is_ascii_uppercase() {
            1
        } else if ch.is_ascii_digit() {
            2
        } else {
            3
        };
        c[i] = true;
    }
    c.iter().filter(|x| **x).count()
}

/// Shannon entropy in bits per byte.
pub fn entropy(s: &str) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for b in s.bytes() {
        counts[usize::from(b)] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}
