//! Secret checks: provider key formats (each with a `subtype`), JWTs, PEM private keys,
//! credentials in URLs (`postgres://user:pass@host`), bearer tokens, and high-entropy
//! values assigned to a keyword (`password = ...`, `"api_key": "..."`).
//!
//! Provider keys are found from a literal anchor (`AKIA`, `ghp_`, `sk-ant-`, `AIza`, ...)
//! and confirmed by an anchored pattern; keyword values from a keyword hit, by parsing the
//! assignment by hand. Not secrets: UUIDs, 40-hex git SHAs, 64-hex SHA-256 digests,
//! placeholders (`YOUR_API_KEY`, `********`, `${TOKEN}`, `<password>`, documentation
//! examples such as `AKIAIOSFODNN7EXAMPLE` or `ghp_xxxxxxxx...`), and low-entropy values.

use crate::detector::{next_char, prev_char, push, Anch, Ctx};
use crate::FindingKind::Secret;
use crate::{Finding, GuardError};
use base64::Engine as _;

/// Keywords whose assigned value may be a secret (matched case-insensitively).
pub(crate) const KEYWORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "_pass",
    "secret",
    "token",
    "api_key",
    "api-key",
    "apikey",
    "access_key",
    "access-key",
    "accesskey",
    "auth_key",
    "private_key",
    "credential",
];

/// How a provider match is confirmed.
#[derive(Debug, Clone, Copy)]
enum Check {
    /// Token boundaries on both sides and not a documentation placeholder.
    Key,
    /// `sk-...`: also needs mixed case and digits (`sk-learn-style` words are not keys).
    OpenAi,
    /// Header must decode to JSON with `alg` or `typ`.
    Jwt,
    /// Header found: extend to the `-----END ...-----` line (or the end of the body).
    Pem,
    /// A webhook URL: include a preceding `https://`.
    Webhook,
    /// Report only the value after a `Name=` prefix of this many bytes.
    Value(usize),
}

struct Provider {
    subtype: &'static str,
    anchors: &'static [&'static str],
    re: Anch,
    /// Longest possible match, bounds the anchored search window.
    max: usize,
    check: Check,
    score: f32,
}

/// Compiled provider rules.
pub(crate) struct Rules {
    providers: Vec<Provider>,
}

type Spec = (
    &'static str,
    &'static [&'static str],
    &'static str,
    usize,
    Check,
);

const PROVIDERS: &[Spec] = &[
    (
        "aws_access_key_id",
        &["AKIA", "ASIA", "ABIA", "ACCA"],
        r"(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}(?-u:\b)",
        20,
        Check::Key,
    ),
    (
        "github_token",
        &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        r"gh[pousr]_[A-Za-z0-9]{36,255}(?-u:\b)",
        260,
        Check::Key,
    ),
    (
        "github_token",
        &["github_pat_"],
        r"github_pat_[A-Za-z0-9_]{50,255}(?-u:\b)",
        270,
        Check::Key,
    ),
    (
        "gitlab_token",
        &[
            "glpat-", "gldt-", "glrt-", "glptt-", "glsoat-", "gloas-", "glcbt-",
        ],
        r"gl(?:pat|dt|rt|ptt|soat|oas|cbt)-[A-Za-z0-9_-]{20,64}",
        80,
        Check::Key,
    ),
    (
        "slack_token",
        &[
            "xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxe-", "xoxe.", "xapp-",
        ],
        r"(?:xox[abprse](?:\.xox[bp])?|xapp)-[A-Za-z0-9-]{10,250}",
        260,
        Check::Key,
    ),
    (
        "slack_webhook",
        &["hooks.slack.com/"],
        r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/]{20,200}",
        230,
        Check::Webhook,
    ),
    (
        "stripe_key",
        &["sk_live_", "sk_test_", "rk_live_", "rk_test_"],
        r"[sr]k_(?:live|test)_[A-Za-z0-9]{16,247}(?-u:\b)",
        260,
        Check::Key,
    ),
    (
        "stripe_webhook_secret",
        &["whsec_"],
        r"whsec_[A-Za-z0-9]{24,64}(?-u:\b)",
        70,
        Check::Key,
    ),
    (
        "anthropic_key",
        &["sk-ant-"],
        r"sk-ant-[A-Za-z0-9_-]{20,250}",
        260,
        Check::Key,
    ),
    (
        "openai_key",
        &["sk-"],
        r"sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{20,250}",
        270,
        Check::OpenAi,
    ),
    (
        "google_api_key",
        &["AIza"],
        r"AIza[0-9A-Za-z_-]{35}",
        39,
        Check::Key,
    ),
    (
        "google_oauth_secret",
        &["GOCSPX-"],
        r"GOCSPX-[A-Za-z0-9_-]{28}",
        35,
        Check::Key,
    ),
    (
        "google_oauth_token",
        &["ya29."],
        r"ya29\.[0-9A-Za-z_-]{30,2000}",
        2010,
        Check::Key,
    ),
    (
        "sendgrid_key",
        &["SG."],
        r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}",
        69,
        Check::Key,
    ),
    (
        "twilio_key",
        &["SK", "AC"],
        r"(?:SK|AC)[0-9a-f]{32}(?-u:\b)",
        34,
        Check::Key,
    ),
    (
        "npm_token",
        &["npm_"],
        r"npm_[A-Za-z0-9]{36}(?-u:\b)",
        40,
        Check::Key,
    ),
    (
        "pypi_token",
        &["pypi-Ag"],
        r"pypi-Ag[A-Za-z0-9_-]{50,300}",
        310,
        Check::Key,
    ),
    (
        "huggingface_token",
        &["hf_"],
        r"hf_[A-Za-z0-9]{30,40}(?-u:\b)",
        43,
        Check::Key,
    ),
    (
        "azure_storage_key",
        &["AccountKey="],
        r"AccountKey=[A-Za-z0-9+/]{86}==",
        99,
        Check::Value(11),
    ),
    (
        "azure_shared_access_key",
        &["SharedAccessKey="],
        r"SharedAccessKey=[A-Za-z0-9+/]{43}=",
        60,
        Check::Value(16),
    ),
    (
        "digitalocean_token",
        &["dop_v1_", "doo_v1_", "dor_v1_"],
        r"do[opr]_v1_[a-f0-9]{64}(?-u:\b)",
        71,
        Check::Key,
    ),
    (
        "shopify_token",
        &["shpat_", "shpca_", "shppa_", "shpss_"],
        r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}(?-u:\b)",
        38,
        Check::Key,
    ),
    (
        "mailgun_key",
        &["key-"],
        r"key-[0-9a-f]{32}(?-u:\b)",
        36,
        Check::Key,
    ),
    (
        "discord_webhook",
        &["discord.com/api/webhooks/", "discordapp.com/api/webhooks/"],
        r"discord(?:app)?\.com/api/webhooks/\d{17,20}/[A-Za-z0-9_-]{60,70}",
        130,
        Check::Webhook,
    ),
    (
        "jwt",
        &["eyJ"],
        r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}",
        16384,
        Check::Jwt,
    ),
    (
        "private_key",
        &["-----BEGIN "],
        r"-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----",
        80,
        Check::Pem,
    ),
];

impl Rules {
    pub(crate) fn new() -> Result<Self, GuardError> {
        let mut providers = Vec::with_capacity(PROVIDERS.len());
        for &(subtype, anchors, pattern, max, check) in PROVIDERS {
            providers.push(Provider {
                subtype,
                anchors,
                re: Anch::new(pattern)?,
                max,
                check,
                score: 0.99,
            });
        }
        Ok(Self { providers })
    }

    /// `(rule index, anchor literal)` for every provider anchor.
    pub(crate) fn anchors(&self) -> impl Iterator<Item = (usize, &'static str)> + '_ {
        self.providers
            .iter()
            .enumerate()
            .flat_map(|(i, p)| p.anchors.iter().map(move |a| (i, *a)))
    }

    /// Runs provider rule `i` at an anchor hit at `start`.
    pub(crate) fn provider(&self, i: usize, text: &str, start: usize, out: &mut Vec<Finding>) {
        let Some(p) = self.providers.get(i) else {
            return;
        };
        if matches!(prev_char(text, start), Some(c) if is_token_char(c))
            && !matches!(p.check, Check::Webhook | Check::Pem)
        {
            return;
        }
        let Some(end) = p.re.end_at(text, start, p.max) else {
            return;
        };
        let s = text.get(start..end).unwrap_or("");
        let (mut from, mut to) = (start, end);
        match p.check {
            Check::Key => {
                if token_glued_right(text, end) || looks_fake(s) {
                    return;
                }
            }
            Check::OpenAi => {
                let body = s.trim_start_matches("sk-");
                let body = ["proj-", "svcacct-", "admin-", "None-"]
                    .iter()
                    .find_map(|p| body.strip_prefix(p))
                    .unwrap_or(body);
                if token_glued_right(text, end)
                    || classes(body) < 3
                    || entropy(body) < 3.5
                    || body.contains("--")
                    || looks_fake(body)
                {
                    return;
                }
            }
            Check::Jwt => {
                if token_glued_right(text, end) || !jwt_header_ok(s) {
                    return;
                }
            }
            Check::Pem => to = pem_end(text, end),
            Check::Webhook => {
                if looks_fake(s) {
                    return;
                }
                for scheme in ["https://", "http://"] {
                    if text.get(..start).is_some_and(|b| b.ends_with(scheme)) {
                        from = start - scheme.len();
                    }
                }
            }
            Check::Value(n) => {
                if looks_fake(s) {
                    return;
                }
                from = start + n;
            }
        }
        push(out, Secret, Some(p.subtype), from, to, p.score);
    }
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn token_glued_right(text: &str, end: usize) -> bool {
    matches!(next_char(text, end), Some(c) if is_token_char(c))
}

/// Documentation placeholders: `EXAMPLE`, `xxxx`, `your...`, long runs of one character,
/// ascending runs (`abcdefgh`, `123456789`), very few distinct characters.
pub fn looks_fake(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    const FAKE: &[&str] = &[
        "example",
        "xxxx",
        "your",
        "placeholder",
        "redacted",
        "dummy",
        "sample",
        "fake",
        "insert",
        "replace",
        "changeme",
        "...",
        "****",
        "<",
        "{",
    ];
    if FAKE.iter().any(|f| l.contains(f)) {
        return true;
    }
    let b = s.as_bytes();
    let (mut same, mut asc) = (1usize, 1usize);
    let (mut max_same, mut max_asc) = (1usize, 1usize);
    let mut seen = [false; 128];
    for (k, &x) in b.iter().enumerate() {
        if let Some(slot) = seen.get_mut(usize::from(x)) {
            *slot = true;
        }
        if k > 0 {
            let p = b[k - 1];
            same = if x == p { same + 1 } else { 1 };
            asc = if x == p.wrapping_add(1) { asc + 1 } else { 1 };
            max_same = max_same.max(same);
            max_asc = max_asc.max(asc);
        }
    }
    let distinct = seen.iter().filter(|x| **x).count();
    max_same >= 6 || max_asc >= 7 || (b.len() >= 16 && distinct < 8)
}

fn jwt_header_ok(s: &str) -> bool {
    let Some(header) = s.split('.').next() else {
        return false;
    };
    let Ok(raw) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header) else {
        return false;
    };
    match serde_json::from_slice::<serde_json::Value>(&raw) {
        Ok(serde_json::Value::Object(obj)) => obj.contains_key("alg") || obj.contains_key("typ"),
        _ => false,
    }
}

/// End of a PEM block whose header ends at `hdr_end`: the `-----END ...-----` line, or, for
/// a truncated paste, the end of the base64 body.
fn pem_end(text: &str, hdr_end: usize) -> usize {
    let rest = text.get(hdr_end..).unwrap_or("");
    if let Some(k) = rest.find("-----END ") {
        let tail = rest.get(k + 9..).unwrap_or("");
        if let Some(q) = tail.get(..80).unwrap_or(tail).find("-----") {
            return hdr_end + k + 9 + q + 5;
        }
    }
    let b = rest.as_bytes();
    let mut e = 0;
    for (k, &x) in b.iter().enumerate() {
        if x.is_ascii_alphanumeric() || b"+/=\\\r\n\t :-".contains(&x) {
            if !x.is_ascii_whitespace() {
                e = k + 1;
            }
        } else {
            break;
        }
    }
    hdr_end + e
}

fn is_placeholder(v: &str) -> bool {
    let l = v.to_ascii_lowercase();
    let b = v.as_bytes();
    // `$VAR`, `${VAR}`, `$(cmd)`; a password may still start with `$`.
    (b.first() == Some(&b'$')
        && (matches!(b.get(1), Some(b'{' | b'(')) || is_variable_name(&b[1..])))
        || l.starts_with('{')
        || l.starts_with('<')
        || l.starts_with("%s")
        || l.starts_with("%(")
        || l.starts_with("%{")
        || l.starts_with(':')
        || l.contains("{{")
        || l.contains('(')
        || l.contains('[')
        || l.contains("environ")
        || l.contains("process.env")
        || l.contains("getenv")
        || l.contains("xxxx")
        || l.contains("****")
        || l.contains("your")
        || l.contains("example")
        || l.contains("changeme")
        || l.contains("placeholder")
        || l.contains("redacted")
        || l.contains("password")
        || l.contains("secret")
        || l.contains("dummy")
        || l.chars()
            .all(|c| c == '*' || c == 'x' || c == '.' || c == '•')
}

/// `TOKEN`, `db_pass`, `API_KEY2`: one case only (a mixed-case run after `$` is more
/// likely a password such as `$lFC2RLivm5`).
fn is_variable_name(b: &[u8]) -> bool {
    let ident = b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_');
    let upper = b.iter().any(u8::is_ascii_uppercase);
    let lower = b.iter().any(u8::is_ascii_lowercase);
    ident && !(upper && lower)
}

/// Default credentials in documentation (`postgres://user:password@localhost`).
const DEFAULT_PASSWORDS: &[&str] = &[
    "pass", "password", "passwd", "secret", "postgres", "root", "admin", "guest", "changeme",
    "test", "example", "user", "pwd", "mysql", "redis", "rabbitmq", "toor", "1234",
];

/// Credentials in the userinfo of a URL whose `://` is at `u`.
pub(crate) fn url_userinfo(text: &str, u: usize, out: &mut Vec<Finding>) {
    let b = text.as_bytes();
    let mut s = u;
    while s > 0 && u - s < 24 && (b[s - 1].is_ascii_alphanumeric() || b"+.-".contains(&b[s - 1])) {
        s -= 1;
    }
    if u - s < 2 || !b[s].is_ascii_alphabetic() {
        return;
    }
    let a0 = u + 3;
    let mut a1 = a0;
    while a1 < b.len() && a1 - a0 < 256 && !b" \t\r\n/?#'\"<>\\`,;".contains(&b[a1]) {
        a1 += 1;
    }
    let Some(auth) = text.get(a0..a1) else {
        return;
    };
    let Some(at) = auth.rfind('@') else {
        return;
    };
    let (userinfo, host) = (&auth[..at], &auth[at + 1..]);
    let Some(colon) = userinfo.find(':') else {
        return;
    };
    let (user, pass) = (&userinfo[..colon], &userinfo[colon + 1..]);
    if pass.is_empty()
        || !host.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '[')
        || is_placeholder(pass)
        || pass == user
        || DEFAULT_PASSWORDS
            .iter()
            .any(|d| pass.eq_ignore_ascii_case(d))
    {
        return;
    }
    let ps = a0 + colon + 1;
    push(
        out,
        Secret,
        Some("connection_string"),
        ps,
        ps + pass.len(),
        0.95,
    );
}

fn ident_byte(x: u8) -> bool {
    x.is_ascii_alphanumeric() || x == b'_' || x == b'-' || x == b'.'
}

/// A value assigned to the identifier around the keyword at `ks..ke`
/// (`DB_PASSWORD=...`, `"api_key": "..."`, `password: ...`, `my password is ...`).
/// Returns the end of the identifier (keyword hits before it are the same identifier).
pub(crate) fn keyword_value(
    _ctx: &Ctx,
    text: &str,
    ks: usize,
    ke: usize,
    out: &mut Vec<Finding>,
) -> usize {
    let b = text.as_bytes();
    let mut is = ks;
    while is > 0 && ks - is < 40 && ident_byte(b[is - 1]) {
        is -= 1;
    }
    let mut ie = ke;
    while ie < b.len() && ie - ke < 30 && ident_byte(b[ie]) {
        ie += 1;
    }
    // `${DB_PASSWORD}`, `$TOKEN`, `%(secret)s` reference a variable.
    if is > 0 && b"${%".contains(&b[is - 1]) {
        return ie;
    }
    let ident = text.get(is..ie).unwrap_or("");
    let mut j = ie;
    if matches!(b.get(j), Some(b'"' | b'\'')) {
        j += 1;
    }
    while matches!(b.get(j), Some(b' ' | b'\t')) {
        j += 1;
    }
    let rest = text.get(j..).unwrap_or("");
    let sep = [":=", "=>", "=", ":", "is "]
        .into_iter()
        .find(|s| rest.starts_with(s));
    let Some(sep) = sep else {
        return ie;
    };
    j += sep.len();
    while matches!(b.get(j), Some(b' ' | b'\t')) {
        j += 1;
    }
    let quote = match b.get(j) {
        Some(&q @ (b'"' | b'\'' | b'`')) => {
            j += 1;
            Some(q)
        }
        _ => None,
    };
    if text.get(j..).is_some_and(|r| r.starts_with("Bearer ")) {
        j += 7;
    }
    let vs = j;
    let mut ve = j;
    while ve < b.len() && ve - vs < 256 {
        let x = b[ve];
        let stop = match quote {
            Some(q) => x == q || x == b'\n' || x == b'\r',
            None => x.is_ascii_whitespace() || b",;<>)]}\"'`".contains(&x),
        };
        if stop {
            break;
        }
        ve += 1;
    }
    // Sentence punctuation ends an unquoted value in prose (`my password is X.`); at the
    // end of a line it may belong to the value (`PASSWORD=Winter2024!`).
    if quote.is_none() && !matches!(b.get(ve), None | Some(b'\n' | b'\r')) {
        while ve > vs && b".!?:".contains(&b[ve - 1]) {
            ve -= 1;
        }
    }
    let Some(v) = text.get(vs..ve) else {
        return ie;
    };
    let Some(score) = strong_value(v) else {
        return ie;
    };
    let l = ident.to_ascii_lowercase();
    let subtype = if l.contains("aws")
        && v.len() == 40
        && v.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'/' || c == b'+')
    {
        "aws_secret_access_key"
    } else if l.contains("pass") || l.contains("pwd") {
        "password"
    } else {
        "generic_secret"
    };
    push(out, Secret, Some(subtype), vs, ve, score);
    ie
}

/// A bearer token after `Bearer ` (ending at `j`).
pub(crate) fn bearer(text: &str, j: usize, out: &mut Vec<Finding>) {
    let b = text.as_bytes();
    let mut e = j;
    while e < b.len()
        && e - j < 4096
        && (b[e].is_ascii_alphanumeric() || b"._~+/=-".contains(&b[e]))
    {
        e += 1;
    }
    let Some(v) = text.get(j..e) else {
        return;
    };
    if v.len() >= 16 {
        if let Some(score) = strong_value(v) {
            push(out, Secret, Some("bearer_token"), j, e, score.max(0.85));
        }
    }
}

/// Whether a keyword's value looks like a real credential; its score.
fn strong_value(v: &str) -> Option<f32> {
    if v.len() < 8 || is_placeholder(v) || is_benign_identifier(v) {
        return None;
    }
    let e = entropy(v);
    // High-entropy tokens carry digits; `required_field`, `not_applicable` do not.
    let c = classes(v);
    let digit = v.bytes().any(|b| b.is_ascii_digit());
    // Human passwords (`Winter2024!`) mix three classes at lower entropy; random tokens
    // mix two at high entropy.
    let human = c >= 3 && digit && e >= 2.5;
    let random = c >= 2 && e >= 3.0 && (digit || (v.len() >= 16 && c >= 3 && e >= 3.7));
    if !(human || random) {
        return None;
    }
    // Code, not a literal: `self.config.token2`, `true`, numbers.
    if v.bytes()
        .all(|c| c.is_ascii_digit() || c == b'.' || c == b'-')
    {
        return None;
    }
    Some((0.5 + (e - 2.5) / 4.0).clamp(0.5, 0.9) as f32)
}

/// Not secrets: UUIDs, git SHAs (40 hex), SHA-256 digests (64 hex), SHA-512 (128 hex).
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
    let v = v
        .strip_prefix("sha256:")
        .or_else(|| v.strip_prefix("sha1:"))
        .unwrap_or(v);
    uuid || (is_hex(v) && matches!(v.len(), 40 | 64 | 128))
}

fn is_hex(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|c| c.is_ascii_hexdigit())
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
