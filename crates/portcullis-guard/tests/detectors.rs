//! Per-detector positives and decoys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_guard::{Detector, FindingKind};
use std::sync::OnceLock;

fn det() -> &'static Detector {
    static D: OnceLock<Detector> = OnceLock::new();
    D.get_or_init(|| Detector::new().expect("detector builds"))
}

/// Kinds and matched text.
fn found(text: &str) -> Vec<(FindingKind, String)> {
    det()
        .detect(text)
        .into_iter()
        .map(|f| (f.kind, text[f.start..f.end].to_string()))
        .collect()
}

fn assert_one(text: &str, kind: FindingKind, value: &str) {
    let f = found(text);
    assert_eq!(f, vec![(kind, value.to_string())], "in {text:?}");
}

fn assert_none(text: &str) {
    let f = found(text);
    assert!(f.is_empty(), "unexpected {f:?} in {text:?}");
}

#[test]
fn email() {
    assert_one(
        "write to jane.doe+x@mail.example.co.uk today",
        FindingKind::Email,
        "jane.doe+x@mail.example.co.uk",
    );
    assert_none("see @handle and foo@bar without tld");
}

#[test]
fn phone() {
    assert_one(
        "Call +1 415 555 0123 now",
        FindingKind::Phone,
        "+1 415 555 0123",
    );
    assert_one("Call (415) 555-0123.", FindingKind::Phone, "(415) 555-0123");
    assert_one("tel 415-555-0123.", FindingKind::Phone, "415-555-0123");
    assert_one(
        "bureau +33 1 23 45 67 89.",
        FindingKind::Phone,
        "+33 1 23 45 67 89",
    );
    assert_one("office 020 7946 0958.", FindingKind::Phone, "020 7946 0958");
    assert_one("ruf +4930123456 an", FindingKind::Phone, "+4930123456");
    assert_none("Order #123-456-7890 shipped");
    assert_none("Upgrade to v10.2.3.4 today, built 2024-03-15 12:30:45");
    assert_none("ISBN 978-3-16-148410-0 and order number 4829301847");
    assert_one(
        "Order 12345, call 555-123-4567.",
        FindingKind::Phone,
        "555-123-4567",
    );
    assert_one(
        "Call +1 (415) 555-0123 now",
        FindingKind::Phone,
        "+1 (415) 555-0123",
    );
    assert_none("uuid 550e8400-e29b-41d4-a716-446655440000, sha 3f78685038755012345678901234ab");
}

#[test]
fn credit_card() {
    assert_one(
        "card 4111 1111 1111 1111 ok",
        FindingKind::CreditCard,
        "4111 1111 1111 1111",
    );
    assert_one(
        "amex 3782-822463-10005.",
        FindingKind::CreditCard,
        "3782-822463-10005",
    );
    assert_one(
        "mc 5555555555554444.",
        FindingKind::CreditCard,
        "5555555555554444",
    );
    assert_none("card 4111 1111 1111 1112 declined");
    assert_none("id 1234567890123456 and 1700000000000 ms");
}

#[test]
fn iban() {
    assert_one(
        "IBAN DE89 3704 0044 0532 0130 00.",
        FindingKind::Iban,
        "DE89 3704 0044 0532 0130 00",
    );
    assert_one(
        "to GB82WEST12345698765432 now",
        FindingKind::Iban,
        "GB82WEST12345698765432",
    );
    assert_none("IBAN DE88 3704 0044 0532 0130 00 is wrong");
}

#[test]
fn ssn() {
    assert_one("SSN 123-45-6789.", FindingKind::UsSsn, "123-45-6789");
    for bad in [
        "000-12-3456",
        "666-12-3456",
        "912-12-3456",
        "123-00-4567",
        "123-45-0000",
    ] {
        assert_none(&format!("SSN {bad}."));
    }
}

#[test]
fn ip() {
    assert_one(
        "from 192.168.1.20 port",
        FindingKind::IpAddress,
        "192.168.1.20",
    );
    assert_one("host=10.0.0.1:8080", FindingKind::IpAddress, "10.0.0.1");
    assert_one(
        "allow 192.168.0.0/24 only",
        FindingKind::IpAddress,
        "192.168.0.0",
    );
    assert_none("See section 3.2.1.4 of the spec.");
    assert_one(
        "via 2001:db8:85a3::8a2e:370:7334.",
        FindingKind::IpAddress,
        "2001:db8:85a3::8a2e:370:7334",
    );
    assert_one("loopback ::1 only", FindingKind::IpAddress, "::1");
    assert_none("v10.2.3.4 and version 1.2.3.4 and 1.2.3.4.5 and 999.1.1.1");
    assert_none("at 12:30:45, std::vec, mac 00:1a:2b:3c:4d:5e");
}

#[test]
fn secrets() {
    let cases = [
        "AKIAIOSFODNN7EXAMPLE",
        "ghp_abcdefghijklmnopqrstuvwxyzABCDEF0123",
        "xoxb-123456789012-1234567890123-abcdefghijklmnopqrstuvwx",
        "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0f",
        "sk-ant-api03-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z_Ab7cDe0f",
        "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
        "SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ",
        "AC0123456789abcdef0123456789abcdef",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ];
    for c in cases {
        assert_one(&format!("key: {c} ok"), FindingKind::Secret, c);
    }
    let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----";
    assert_one(&format!("x\n{pem}\n"), FindingKind::Secret, pem);
    assert_one(
        "postgres://app:S3cr3tPw@db.internal/app",
        FindingKind::Secret,
        "S3cr3tPw",
    );
    assert_one(
        "password = \"Tr0ub4dor&3xq\"",
        FindingKind::Secret,
        "Tr0ub4dor&3xq",
    );
    let subtypes: Vec<_> = det()
        .detect("AKIAIOSFODNN7EXAMPLE")
        .into_iter()
        .map(|f| f.subtype)
        .collect();
    assert_eq!(subtypes, vec![Some("aws_access_key_id")]);
}

#[test]
fn secret_decoys() {
    assert_none("commit 3f786850e387550fdab836ed7e6dc881de23001b fixed it");
    assert_none("digest sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_none("token = 123e4567-e89b-12d3-a456-426614174000");
    assert_none("password = \"YOUR_PASSWORD_HERE\" and api_key=<your-api-key> and secret=********");
    assert_none("max_tokens = 4096 and sk-this-is-not-a-key-at-all");
    assert_none("postgres://user:${DB_PASSWORD}@db/app");
    assert_none("password: required_field, secret: not_applicable");
    assert_none("api_key = os.environ['OPENAI_API_KEY']");
}

#[test]
fn secret_wins_over_pii_and_sorted() {
    let t = "a postgres://bob:hunter2xyz@db.example.com b 10.0.0.1 c";
    let f = det().detect(t);
    assert_eq!(f.len(), 2, "{f:?}");
    assert_eq!(f[0].kind, FindingKind::Secret);
    assert_eq!(f[1].kind, FindingKind::IpAddress);
    assert!(f[0].start < f[1].start);
}

#[test]
fn serializes() {
    let f = det().detect("SSN 123-45-6789");
    let j = serde_json::to_string(&f).unwrap();
    assert!(j.contains(r#""type":"US_SSN""#), "{j}");
}

#[test]
fn non_ascii_text() {
    let t = "Größe: café 😀 mail me at josé@example.com — 📞 +49 30 1234567.";
    let f = det().detect(t);
    for x in &f {
        assert!(t.is_char_boundary(x.start) && t.is_char_boundary(x.end));
    }
    assert!(f.iter().any(|x| x.kind == FindingKind::Phone));
}
