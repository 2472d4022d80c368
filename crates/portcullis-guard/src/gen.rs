//! Deterministic labeled generator for evaluating the detectors.
//!
//! Records mix positives of every type with near-miss decoys (Luhn-invalid card
//! numbers, UUIDs, git SHAs, SHA-256 digests, version strings such as `v10.2.3.4`, order
//! numbers, IBANs with a broken checksum, SSNs in invalid SSA ranges, timestamps,
//! placeholders) inside ordinary sentences, with gold byte spans. A tiny xorshift64*
//! PRNG with a fixed seed keeps the set identical from run to run.

use crate::pii::{iban_length, luhn};
use crate::FindingKind;
use base64::Engine as _;
use std::net::Ipv6Addr;

/// Xorshift64* PRNG.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from a seed (0 is remapped).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % (n.max(1) as u64)) as usize
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// A random element.
    pub fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs.get(self.below(xs.len())).copied().unwrap_or("")
    }

    fn chars(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| {
                char::from(
                    alphabet
                        .get(self.below(alphabet.len()))
                        .copied()
                        .unwrap_or(b'x'),
                )
            })
            .collect()
    }
}

/// A labeled span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gold {
    /// Type.
    pub kind: FindingKind,
    /// Start byte (inclusive).
    pub start: usize,
    /// End byte (exclusive).
    pub end: usize,
}

/// A labeled record.
#[derive(Debug, Clone, Default)]
pub struct Record {
    /// The text.
    pub text: String,
    /// Gold spans.
    pub gold: Vec<Gold>,
}

impl Record {
    fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }

    fn span(&mut self, kind: FindingKind, s: &str) {
        let start = self.text.len();
        self.text.push_str(s);
        self.gold.push(Gold {
            kind,
            start,
            end: self.text.len(),
        });
    }
}

const DIGITS: &[u8] = b"0123456789";
const HEX: &[u8] = b"0123456789abcdef";
const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const PASSCHARS: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&*+-=?@^_~";

const FIRST: &[&str] = &[
    "alice", "bob", "maria", "jean", "li", "omar", "priya", "sven", "yuki", "carlos",
];
const LAST: &[&str] = &[
    "smith", "dupont", "garcia", "muller", "chen", "khan", "rossi", "tanaka", "silva", "berg",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "mail.acme.io",
    "corp.example.org",
    "gmail.com",
    "uni-heidelberg.de",
    "company.co.uk",
];

fn luhn_complete(rng: &mut XorShift, prefix: &str, len: usize) -> Vec<u8> {
    let mut d: Vec<u8> = prefix.bytes().map(|b| b - b'0').collect();
    while d.len() < len - 1 {
        d.push(rng.below(10) as u8);
    }
    for c in 0..10u8 {
        let mut t = d.clone();
        t.push(c);
        if luhn(&t) {
            return t;
        }
    }
    d.push(0);
    d
}

fn format_card(rng: &mut XorShift, d: &[u8]) -> String {
    let s: String = d.iter().map(|x| char::from(b'0' + x)).collect();
    let sep = match rng.below(3) {
        0 => "",
        1 => " ",
        _ => "-",
    };
    let groups: Vec<usize> = if d.len() == 15 {
        vec![4, 6, 5]
    } else {
        vec![4; d.len().div_ceil(4)]
    };
    let mut out = String::new();
    let mut i = 0;
    for (gi, g) in groups.iter().enumerate() {
        if i >= s.len() {
            break;
        }
        if gi > 0 {
            out.push_str(sep);
        }
        let j = (i + g).min(s.len());
        out.push_str(&s[i..j]);
        i = j;
    }
    out
}

fn card_digits(rng: &mut XorShift) -> Vec<u8> {
    let (prefix, len) = match rng.below(6) {
        0 => ("4", 16),
        1 => (["51", "52", "53", "54", "55"][rng.below(5)], 16),
        2 => (["34", "37"][rng.below(2)], 15),
        3 => ("6011", 16),
        4 => ("3530", 16),
        _ => ("2221", 16),
    };
    luhn_complete(rng, prefix, len)
}

fn iban(rng: &mut XorShift, valid: bool) -> String {
    let cc = rng.pick(&["DE", "GB", "FR", "ES", "IT", "NL", "BE", "CH", "AT", "PL"]);
    let len = iban_length(cc).unwrap_or(22);
    let mut bban = String::new();
    if cc == "GB" || cc == "NL" {
        bban.push_str(&rng.chars(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", 4));
    }
    while bban.len() < len - 4 {
        bban.push(char::from(b'0' + rng.below(10) as u8));
    }
    let rearranged = format!("{bban}{cc}00");
    let mut rem = 0u32;
    for c in rearranged.chars() {
        let v = c.to_digit(36).unwrap_or(0);
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    let mut check = 98 - rem;
    if !valid {
        check = (check + 1 + rng.below(90) as u32) % 100;
        if check == 98 - rem {
            check = (check + 1) % 100;
        }
    }
    let compact = format!("{cc}{check:02}{bban}");
    if rng.below(2) == 0 {
        compact
    } else {
        compact
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn phone(rng: &mut XorShift) -> String {
    let d = |rng: &mut XorShift, n| rng.chars(DIGITS, n);
    let nz = |rng: &mut XorShift| char::from(b'1' + rng.below(9) as u8);
    match rng.below(8) {
        0 => format!(
            "+1 {}{} {}{} {}",
            nz(rng),
            d(rng, 2),
            nz(rng),
            d(rng, 2),
            d(rng, 4)
        ),
        1 => format!(
            "({}{}) {}{}-{}",
            nz(rng),
            d(rng, 2),
            nz(rng),
            d(rng, 2),
            d(rng, 4)
        ),
        2 => format!(
            "{}{}-{}{}-{}",
            nz(rng),
            d(rng, 2),
            nz(rng),
            d(rng, 2),
            d(rng, 4)
        ),
        3 => format!("+44 20 {} {}", d(rng, 4), d(rng, 4)),
        4 => format!("+49 30 {}", d(rng, 7)),
        5 => format!(
            "+33 {} {} {} {} {}",
            nz(rng),
            d(rng, 2),
            d(rng, 2),
            d(rng, 2),
            d(rng, 2)
        ),
        6 => format!("0{} {}", ["20", "161", "121"][rng.below(3)], d(rng, 7)),
        7 if rng.below(2) == 0 => format!(
            "{}{}.{}{}.{}",
            nz(rng),
            d(rng, 2),
            nz(rng),
            d(rng, 2),
            d(rng, 4)
        ),
        _ => format!(
            "+{}{}",
            ["1", "44", "91", "81", "55"][rng.below(5)],
            d(rng, 10)
        ),
    }
}

fn ssn(rng: &mut XorShift) -> String {
    let mut area = rng.range(1, 899);
    if area == 666 {
        area = 667;
    }
    format!(
        "{area:03}-{:02}-{:04}",
        rng.range(1, 99),
        rng.range(1, 9999)
    )
}

fn ipv4(rng: &mut XorShift) -> String {
    format!(
        "{}.{}.{}.{}",
        rng.range(1, 223),
        rng.range(0, 255),
        rng.range(0, 255),
        rng.range(1, 254)
    )
}

fn ipv6(rng: &mut XorShift) -> String {
    let mut seg = [0u16; 8];
    seg[0] = [0x2001u16, 0xfe80, 0x2a00, 0x2607][rng.below(4)];
    for (i, s) in seg.iter_mut().enumerate().skip(1) {
        *s = if i < 3 && rng.below(3) == 0 {
            0
        } else {
            rng.next_u64() as u16
        };
    }
    if rng.below(2) == 0 {
        seg[3] = 0;
        seg[4] = 0;
    }
    Ipv6Addr::new(
        seg[0], seg[1], seg[2], seg[3], seg[4], seg[5], seg[6], seg[7],
    )
    .to_string()
}

fn secret(rng: &mut XorShift) -> (String, String) {
    // (prefix sentence part, secret value)
    let v = match rng.below(16) {
        0 => format!(
            "{}{}",
            rng.pick(&["AKIA", "ASIA"]),
            rng.chars(UPPER_DIGITS, 16)
        ),
        1 => return ("aws_secret_access_key = ".into(), rng.chars(B64, 40)),
        2 => format!(
            "{}_{}",
            rng.pick(&["ghp", "gho", "ghu", "ghs", "ghr"]),
            rng.chars(ALNUM, 36)
        ),
        3 => format!(
            "github_pat_{}_{}",
            rng.chars(ALNUM, 22),
            rng.chars(ALNUM, 59)
        ),
        4 => format!(
            "xoxb-{}-{}-{}",
            rng.chars(DIGITS, 12),
            rng.chars(DIGITS, 13),
            rng.chars(ALNUM, 24)
        ),
        5 => format!(
            "https://hooks.slack.com/services/T{}/B{}/{}",
            rng.chars(UPPER_DIGITS, 8),
            rng.chars(UPPER_DIGITS, 10),
            rng.chars(ALNUM, 24)
        ),
        6 => format!(
            "{}_{}",
            rng.pick(&["sk_live", "rk_live", "sk_test"]),
            rng.chars(ALNUM, 24)
        ),
        7 => format!(
            "sk-{}{}",
            if rng.below(2) == 0 { "proj-" } else { "" },
            rng.chars(ALNUM, 48)
        ),
        8 => format!("sk-ant-api03-{}", rng.chars(B64URL, 93)),
        9 => format!("AIza{}", rng.chars(B64URL, 35)),
        10 => format!("SG.{}.{}", rng.chars(B64URL, 22), rng.chars(B64URL, 43)),
        11 => format!("{}{}", rng.pick(&["AC", "SK"]), rng.chars(HEX, 32)),
        12 => {
            let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let payload = format!(
                r#"{{"sub":"{}","iat":{}}}"#,
                rng.below(100000),
                1_700_000_000 + rng.below(1_000_000)
            );
            format!(
                "{}.{}.{}",
                e.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
                e.encode(payload),
                rng.chars(B64URL, 43)
            )
        }
        13 => {
            let body: Vec<String> = (0..4).map(|_| rng.chars(B64, 64)).collect();
            format!(
                "-----BEGIN {}PRIVATE KEY-----\n{}\n-----END {}PRIVATE KEY-----",
                "RSA ",
                body.join("\n"),
                "RSA "
            )
        }
        14 => {
            let scheme = rng.pick(&["postgres", "mysql", "mongodb+srv", "redis", "amqp"]);
            let user = rng.pick(FIRST);
            let pw = rng.chars(PASSCHARS.get(..62).unwrap_or(ALNUM), 14);
            return (
                format!("DATABASE_URL={scheme}://{user}:"),
                format!("{pw}\u{0}@db{}.internal:5432/app", rng.below(9)),
            );
        }
        _ => {
            let kw = rng.pick(&[
                "password",
                "api_key",
                "client_secret",
                "auth_token",
                "SECRET_KEY",
            ]);
            let n = 10 + rng.below(14);
            let mut v = rng.chars(PASSCHARS, n);
            v.push_str(&rng.chars(DIGITS, 1));
            return (format!("{kw} = \""), format!("{v}\u{0}\""));
        }
    };
    (String::new(), v)
}

const POS_TEMPLATES: &[(&str, &str)] = &[
    ("Please contact ", " if anything changes."),
    ("My details: ", ". Thanks!"),
    ("Can you update the record to ", " before Friday?"),
    ("Logged value: ", "\n"),
    ("The customer wrote \"", "\" in the form."),
];

fn positive(rng: &mut XorShift, r: &mut Record) {
    let t = rng.below(7);
    let (pre, post) = POS_TEMPLATES[rng.below(POS_TEMPLATES.len())];
    match t {
        0 => {
            r.push(pre);
            let e = format!(
                "{}.{}@{}",
                rng.pick(FIRST),
                rng.pick(LAST),
                rng.pick(DOMAINS)
            );
            let angle = rng.below(3) == 0;
            if angle {
                r.push("<");
            }
            r.span(FindingKind::Email, &e);
            if angle {
                r.push(">");
            }
            r.push(post);
        }
        1 => {
            r.push(rng.pick(&[
                "Call me at ",
                "My phone number is ",
                "Reach the front desk on ",
                "Mobile: ",
            ]));
            let p = phone(rng);
            r.span(FindingKind::Phone, &p);
            r.push(rng.pick(&[" after 5pm.", ". Thanks.", " (office).", "\n"]));
        }
        2 => {
            r.push(rng.pick(&[
                "Charge it to my card ",
                "Card number: ",
                "I paid with ",
                "Visa ",
            ]));
            let d = card_digits(rng);
            let c = format_card(rng, &d);
            r.span(FindingKind::CreditCard, &c);
            r.push(rng.pick(&[", expiry 04/27.", " please.", ".\n"]));
        }
        3 => {
            r.push(rng.pick(&["Wire the refund to IBAN ", "My bank account: ", "IBAN: "]));
            let i = iban(rng, true);
            r.span(FindingKind::Iban, &i);
            r.push(rng.pick(&[" by Monday.", ".", "\n"]));
        }
        4 => {
            r.push(rng.pick(&["My SSN is ", "Social security number: ", "SSN "]));
            let s = ssn(rng);
            r.span(FindingKind::UsSsn, &s);
            r.push(rng.pick(&[" for the tax form.", ".", "\n"]));
        }
        5 => {
            r.push(rng.pick(&[
                "Login from ",
                "The server at ",
                "Blocked client ",
                "Connecting to ",
            ]));
            let ip = if rng.below(3) == 0 {
                ipv6(rng)
            } else {
                ipv4(rng)
            };
            r.span(FindingKind::IpAddress, &ip);
            r.push(rng.pick(&[
                " failed twice.",
                " is down.",
                ".\n",
                " port 443.",
                ", retrying.",
            ]));
        }
        _ => {
            r.push(rng.pick(&[
                "Here is my config: ",
                "Use this key: ",
                "export CRED=",
                "oops I pasted ",
            ]));
            let (p, v) = secret(rng);
            r.push(&p);
            // `\0` marks where the gold span ends and the rest is context.
            let (sec, rest) = v.split_once('\u{0}').unwrap_or((v.as_str(), ""));
            r.span(FindingKind::Secret, sec);
            r.push(rest);
            r.push(rng.pick(&[" in prod.", "\n", " — please rotate it."]));
        }
    }
}

fn decoy(rng: &mut XorShift, r: &mut Record) {
    let s = match rng.below(27) {
        0 => {
            let mut d = card_digits(rng);
            if let Some(last) = d.last_mut() {
                *last = (*last + 1 + rng.below(9) as u8) % 10;
            }
            format!(
                "Test card {} was declined (bad checksum).",
                format_card(rng, &d)
            )
        }
        1 => format!(
            "Request id {}-{}-4{}-a{}-{} completed.",
            rng.chars(HEX, 8),
            rng.chars(HEX, 4),
            rng.chars(HEX, 3),
            rng.chars(HEX, 3),
            rng.chars(HEX, 12)
        ),
        2 => format!("Fixed in commit {}.", rng.chars(HEX, 40)),
        3 => format!("sha256:{} is the image digest.", rng.chars(HEX, 64)),
        4 => format!(
            "Upgrade to v{}.{}.{}.{} today.",
            rng.range(1, 20),
            rng.range(0, 20),
            rng.range(0, 20),
            rng.range(0, 20)
        ),
        5 => format!(
            "Order #{}-{}-{} has shipped.",
            rng.chars(DIGITS, 3),
            rng.chars(DIGITS, 3),
            rng.chars(DIGITS, 4)
        ),
        6 => format!("Order number {} is delayed.", rng.chars(DIGITS, 10)),
        7 => format!("The IBAN {} was rejected.", iban(rng, false)),
        8 => format!(
            "{}-{:02}-{:04} is not a valid SSN.",
            ["000", "666", "912"][rng.below(3)],
            rng.range(1, 99),
            rng.range(1, 9999)
        ),
        9 => format!(
            "Event at 2024-{:02}-{:02} {:02}:{:02}:{:02} UTC.",
            rng.range(1, 12),
            rng.range(1, 28),
            rng.range(0, 23),
            rng.range(0, 59),
            rng.range(0, 59)
        ),
        10 => format!(
            "Timestamp 2025-{:02}-{:02}T{:02}:{:02}:{:02}.{}Z logged.",
            rng.range(1, 12),
            rng.range(1, 28),
            rng.range(0, 23),
            rng.range(0, 59),
            rng.range(0, 59),
            rng.chars(DIGITS, 3)
        ),
        11 => format!(
            "We used {} tokens; max_tokens = {}.",
            rng.range(100, 9999),
            rng.range(1000, 8192)
        ),
        12 => "Set password = \"YOUR_PASSWORD_HERE\" and api_key=<your-api-key>.".to_string(),
        13 => format!(
            "Build {}.{}.{}.{} passed, see release {}.{}.{}.{}.",
            rng.range(1, 9),
            rng.range(0, 9),
            rng.range(0, 99),
            rng.range(0, 999),
            rng.range(1, 9),
            rng.range(0, 9),
            rng.range(0, 99),
            rng.range(0, 255)
        ),
        14 => format!(
            "Invoice INV-2024-{} total $1,{:03}.{:02}.",
            rng.chars(DIGITS, 6),
            rng.range(0, 999),
            rng.range(0, 99)
        ),
        15 => format!(
            "ISBN 978-{}-{}-{}-{} is out of stock.",
            rng.range(0, 9),
            rng.chars(DIGITS, 2),
            rng.chars(DIGITS, 6),
            rng.range(0, 9)
        ),
        16 => format!(
            "{}-00-{:04} and {}-{:02}-0000 are placeholder SSNs.",
            rng.range(100, 899),
            rng.range(1, 9999),
            rng.range(100, 899),
            rng.range(1, 99)
        ),
        17 => format!(
            "Use the scikit-learn (sk-learn) API; token = {} chars.",
            rng.range(10, 99)
        ),
        18 => format!(
            "Tracking {} arrives on {:02}/{:02}/2025.",
            rng.chars(DIGITS, 12),
            rng.range(1, 28),
            rng.range(1, 12)
        ),
        19 => format!(
            "Checksum md5 {} and the call took {}.{} ms.",
            rng.chars(HEX, 32),
            rng.range(1, 99),
            rng.range(0, 9)
        ),
        20 => format!(
            "See section {}.{}.{}.{} of the spec.",
            rng.range(1, 9),
            rng.range(1, 9),
            rng.range(1, 9),
            rng.range(1, 9)
        ),
        21 => "api_key = os.environ['OPENAI_API_KEY'] and token = getenv(\"TOKEN\")".to_string(),
        22 => {
            let prefix = format!("9{}", rng.range(0, 9));
            let d = luhn_complete(rng, &prefix, 16);
            let s: String = d.iter().map(|x| char::from(b'0' + x)).collect();
            format!("Loyalty account {s} has 120 points.")
        }
        23 => format!(
            "Bad address {}.{}.{}.{} in the log.",
            rng.range(256, 999),
            rng.range(0, 255),
            rng.range(0, 255),
            rng.range(0, 255)
        ),
        24 => format!(
            "Meet at {:02}:{:02}:{:02}, pip install numpy=={}.{}.{}, std::collections::HashMap.",
            rng.range(0, 23),
            rng.range(0, 59),
            rng.range(0, 59),
            rng.range(1, 2),
            rng.range(0, 30),
            rng.range(0, 9)
        ),
        25 => format!(
            "Mail @{} or user@localhost; price 1.{:03}.{:03},00 EUR.",
            rng.pick(FIRST),
            rng.range(0, 999),
            rng.range(0, 999)
        ),
        _ => format!(
            "The sk-{} prefix and ghp_ prefixes are documented; key_id = kid-{}.",
            rng.pick(&["ant-", "proj-", "live"]),
            rng.range(1, 99)
        ),
    };
    r.push(&s);
}

/// `n` records from `seed`. Each record has 1–4 sentences, each a positive or a decoy.
pub fn generate(seed: u64, n: usize) -> Vec<Record> {
    let mut rng = XorShift::new(seed);
    (0..n)
        .map(|_| {
            let mut r = Record::default();
            let k = 1 + rng.below(4);
            for i in 0..k {
                if i > 0 {
                    r.push(" ");
                }
                if rng.below(2) == 0 {
                    positive(&mut rng, &mut r);
                } else {
                    decoy(&mut rng, &mut r);
                }
            }
            r
        })
        .collect()
}
