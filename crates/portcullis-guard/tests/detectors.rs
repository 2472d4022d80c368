//! Per-detector positives and decoys, and a property test on arbitrary Unicode input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_guard::{Detector, FindingKind};
use proptest::prelude::*;
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

fn subtype_of(text: &str) -> Option<&'static str> {
    let f = det().detect(text);
    assert_eq!(f.len(), 1, "{f:?} in {text:?}");
    f[0].subtype
}

#[test]
fn email() {
    assert_one(
        "write to jane.doe+x@mail.example.co.uk today",
        FindingKind::Email,
        "jane.doe+x@mail.example.co.uk",
    );
    assert_one(
        "(<J.García@startup.ai>)",
        FindingKind::Email,
        "J.García@startup.ai",
    );
    assert_one("mailto:ops@corp.io.", FindingKind::Email, "ops@corp.io");
    assert_none("see @handle and foo@bar without tld, user@localhost, a@b.c");
    assert_none("image: app@sha256:abc and git@github");
}

#[test]
fn phone_international() {
    for p in [
        "+44 20 7946 0958",
        "+49 30 123456",
        "+33 1 23 45 67 89",
        "+81 3-1234-5678",
        "+1 415 555 0123",
        "+1-415-555-0123",
        "+1 (415) 555-0123",
        "+91 98765 43210",
        "+55 11 91234-5678",
        "+61 2 9876 5432",
        "+34 612 34 56 78",
        "+4930123456",
        "+44 (0)20 7946 0958",
    ] {
        assert_one(&format!("Call {p} now"), FindingKind::Phone, p);
        assert_one(&format!("tel:'{p}'."), FindingKind::Phone, p);
    }
}

#[test]
fn phone_national() {
    for p in [
        "(415) 555-0123",
        "415-555-0123",
        "415.555.0123",
        "020 7946 0958",
        "01 23 45 67 89",
        "03-1234-5678",
    ] {
        assert_one(&format!("ring me on {p}."), FindingKind::Phone, p);
    }
    assert_one(
        "Order 12345, call 555-123-4567.",
        FindingKind::Phone,
        "555-123-4567",
    );
}

#[test]
fn phone_decoys() {
    assert_none("Order #123-456-7890 shipped");
    assert_none("Upgrade to v10.2.3.4 today, built 2024-03-15 12:30:45");
    assert_none("ISBN 978-3-16-148410-0 and order number 4829301847");
    assert_none("Part no 555-123-4567 and invoice 415.555.0123 are back-ordered");
    assert_none("uuid 550e8400-e29b-41d4-a716-446655440000, sha 3f78685038755012345678901234ab");
    assert_none("dates 03.15.2024, 15/03/2024, 2024-03-15, epoch 1712345678901");
    assert_none("price 1.234.567,00 EUR and 12,345,678 visits");
}

#[test]
fn credit_card() {
    for c in [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "5555555555554444",
        "3782-822463-10005",
        "6011 0009 9013 9424",
        "3530 1113 3330 0000",
        "2221 0000 0000 0009",
        "3056 930902 5904",
    ] {
        assert_one(&format!("card \"{c}\" ok"), FindingKind::CreditCard, c);
    }
    assert_none("card 4111 1111 1111 1112 declined");
    assert_none("id 1234567890123456 and 1700000000000 ms");
    assert_none("Loyalty account 9012345678901238 and order number 4111111111111111");
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
    assert_one(
        "(NL91ABNA0417164300)",
        FindingKind::Iban,
        "NL91ABNA0417164300",
    );
    assert_none("IBAN DE88 3704 0044 0532 0130 00 is wrong");
    assert_none("GB82WEST1234569876543 is one short, XX82WEST12345698765432 no country");
}

#[test]
fn ssn() {
    assert_one("SSN 123-45-6789.", FindingKind::UsSsn, "123-45-6789");
    assert_one("SSN: 123 45 6789", FindingKind::UsSsn, "123 45 6789");
    for bad in [
        "000-12-3456",
        "666-12-3456",
        "912-12-3456",
        "123-00-4567",
        "123-45-0000",
    ] {
        assert_none(&format!("SSN {bad}."));
    }
    assert_none("Ticket 123-45-6789 was escalated");
}

#[test]
fn ip() {
    assert_one(
        "from 192.168.1.20 port",
        FindingKind::IpAddress,
        "192.168.1.20",
    );
    assert_one("host=10.0.0.1:8080", FindingKind::IpAddress, "10.0.0.1");
    assert_one("ssh root@10.0.0.1", FindingKind::IpAddress, "10.0.0.1");
    assert_one(
        "allow 192.168.0.0/24 only",
        FindingKind::IpAddress,
        "192.168.0.0",
    );
    assert_one(
        "via 2001:db8:85a3::8a2e:370:7334.",
        FindingKind::IpAddress,
        "2001:db8:85a3::8a2e:370:7334",
    );
    assert_one("[2001:DB8::1]:443", FindingKind::IpAddress, "2001:DB8::1");
    assert_one("loopback ::1 only", FindingKind::IpAddress, "::1");
    assert_none("See section 3.2.1.4 of the spec.");
    assert_none("v10.2.3.4 and version 1.2.3.4 and 1.2.3.4.5 and 999.1.1.1");
    assert_none("at 12:30:45, std::vec, mac 00:1a:2b:3c:4d:5e, 2024-03-15T12:30:45Z");
    assert_none("OID 1.3.6.1.4.1.2021 and build 3.6.85.54");
}

#[test]
fn person() {
    assert_one(
        "I saw Dr. Maria Garcia today.",
        FindingKind::Person,
        "Maria Garcia",
    );
    assert_one("Ask Mr. de la Cruz.", FindingKind::Person, "de la Cruz");
    assert_one(
        "Hi, my name is Siobhan O'Brien and I need help.",
        FindingKind::Person,
        "Siobhan O'Brien",
    );
    assert_one(
        "Name: Thandiwe Müller\n",
        FindingKind::Person,
        "Thandiwe Müller",
    );
    assert_one(
        "Best regards,\nWojciech Kowalski\n",
        FindingKind::Person,
        "Wojciech Kowalski",
    );
    assert_one(
        "From: Eero Larsen\nSubject: hi",
        FindingKind::Person,
        "Eero Larsen",
    );
    assert_one("Hi Rashida,\nthanks", FindingKind::Person, "Rashida");
    assert_one(
        "I met Priya Patel yesterday.",
        FindingKind::Person,
        "Priya Patel",
    );
    assert_one(
        "Ludwig is late; Ingrid van der Berg will cover.",
        FindingKind::Person,
        "Ingrid van der Berg",
    );
}

#[test]
fn person_decoys() {
    assert_none("We met at Victoria Station near the Jordan River Park.");
    assert_none("Dear Customer, your order is on its way.");
    assert_none("Best regards,\nThe Support Team");
    assert_none("Hi team, the New York office reopens on Monday Morning.");
    assert_none("Thanks for the quick reply.\nRevenue grew 12%.");
    assert_none("The Florence Avenue branch of First National Bank is closed.");
    assert_none("Name: N/A");
    assert_none("Hello World, this is a test");
    assert_none("Maria Street is closed; Kevin Hospital opens Monday.");
}

#[test]
fn provider_keys() {
    let cases = [
        ("AKIAZ3MHQ7RXJ4WNTB5P", "aws_access_key_id"),
        ("ghp_R8dKq2LmZx7Vb4Nw1Ty9Pc3Hs6Jf0Ga5Ue2W", "github_token"),
        (
            "github_pat_11AQKZ3MG0aB3dE5fG7hJ9_kL1mN3pQ5rS7tV9wX1yZ3aB5cD7eF9gH1jK3mN5pQ7rS9tV1wX3yZ5aB7c",
            "github_token",
        ),
        ("glpat-Zx8vQ2mN4bR6tY1wK3pL", "gitlab_token"),
        (
            "xoxb-482915736204-5829371046285-Ab3dEf6hIj9kLm2nOp5qRs8t",
            "slack_token",
        ),
        (
            "https://hooks.slack.com/services/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",
            "slack_webhook",
        ),
        ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe_key"),
        ("whsec_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z", "stripe_webhook_secret"),
        (
            "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0f",
            "openai_key",
        ),
        (
            "sk-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh1iJk2l",
            "openai_key",
        ),
        (
            "sk-ant-api03-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z_Ab7cDe0f",
            "anthropic_key",
        ),
        ("AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", "google_api_key"),
        ("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", "google_oauth_secret"),
        (
            "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",
            "sendgrid_key",
        ),
        ("AC0a1b2c3d4e5f60718293a4b5c6d7e8f9", "twilio_key"),
        ("npm_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7c", "npm_token"),
        (
            "pypi-AgEIcHlwaS5vcmcCJGI5ZjY0ZmU3LTk4YzYtNDk0Zi1hMjA3LWE5NTk3ZTQ0YmQ2ZAACKlszLCJmMDg",
            "pypi_token",
        ),
        ("hf_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb", "huggingface_token"),
        (
            "dop_v1_0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9",
            "digitalocean_token",
        ),
        ("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", "shopify_token"),
        ("key-0a1b2c3d4e5f60718293a4b5c6d7e8f9", "mailgun_key"),
        (
            "https://discord.com/api/webhooks/482915736204582937/Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh1iJk2lMn3oPq4rSt5uVw6xYz7a",
            "discord_webhook",
        ),
        (
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "jwt",
        ),
    ];
    for (key, sub) in cases {
        assert_one(&format!("key: {key} ok"), FindingKind::Secret, key);
        assert_one(&format!("\"{key}\","), FindingKind::Secret, key);
        assert_eq!(subtype_of(&format!("use {key}")), Some(sub), "{key}");
    }
    let body: String =
        "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh1iJk2lMn3oPq4rSt5uVw6xYz7aB8cD9eF0gH1iJ2kL3mN4o"
            .chars()
            .take(86)
            .collect();
    assert_eq!(body.len(), 86);
    let azure = format!("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={body}==;EndpointSuffix=core.windows.net");
    assert_eq!(subtype_of(&azure), Some("azure_storage_key"));
}

#[test]
fn pem_and_connection_strings() {
    let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1b2\n-----END RSA PRIVATE KEY-----";
    assert_one(&format!("x\n{pem}\n"), FindingKind::Secret, pem);
    let ssh = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----";
    assert_one(ssh, FindingKind::Secret, ssh);
    assert_none("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----");
    assert_none("-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----");
    for (url, pw) in [
        ("postgres://app:S3cr3tPw@db.internal/app", "S3cr3tPw"),
        (
            "mongodb+srv://bob:Zx8vQ2mN4b@cluster0.ab1cd.mongodb.net/db",
            "Zx8vQ2mN4b",
        ),
        ("redis://:p4ssW0rdXy@cache:6379/0", "p4ssW0rdXy"),
        ("amqp://guest2:Kq9!rT2zLm@rabbit:5672/vhost", "Kq9!rT2zLm"),
    ] {
        assert_one(url, FindingKind::Secret, pw);
    }
    assert_none("postgres://user:${DB_PASSWORD}@db/app");
    assert_none("postgres://user:password@localhost/app and postgres://postgres:postgres@db");
    assert_none("redis://localhost:6379/0 and https://example.com/a:b@c");
}

#[test]
fn keyword_secrets() {
    assert_one(
        "password = \"Tr0ub4dor&3xq\"",
        FindingKind::Secret,
        "Tr0ub4dor&3xq",
    );
    assert_one(
        "{\"api_key\": \"Zx8vQ2mN4bR6tY1wK3pLq\"}",
        FindingKind::Secret,
        "Zx8vQ2mN4bR6tY1wK3pLq",
    );
    assert_one(
        "DB_PASSWORD=Winter2024!",
        FindingKind::Secret,
        "Winter2024!",
    );
    assert_one(
        "  token: a8Kd93jDk2LqPz0w\n",
        FindingKind::Secret,
        "a8Kd93jDk2LqPz0w",
    );
    assert_one(
        "my password is Summer2023# please reset",
        FindingKind::Secret,
        "Summer2023#",
    );
    assert_one(
        "Authorization: Bearer Zx8vQ2mN4bR6tY1wK3pLq9",
        FindingKind::Secret,
        "Zx8vQ2mN4bR6tY1wK3pLq9",
    );
    assert_eq!(
        subtype_of("aws_secret_access_key = qQdcRytoIAO25Ppen/NC9d0L4SCcdqPhmWyupD/x"),
        Some("aws_secret_access_key")
    );
}

#[test]
fn secret_decoys() {
    assert_none("commit 3f786850e387550fdab836ed7e6dc881de23001b fixed it");
    assert_none("digest sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_none("token = 123e4567-e89b-12d3-a456-426614174000");
    assert_none(
        "secret_hash = \"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"",
    );
    assert_none("password = \"YOUR_PASSWORD_HERE\" and api_key=<your-api-key> and secret=********");
    assert_none("max_tokens = 4096 and sk-this-is-not-a-key-at-all");
    assert_none("password: required_field, secret: not_applicable");
    assert_none("api_key = os.environ['OPENAI_API_KEY'] and token = getenv(\"TOKEN\")");
    assert_none("AWS docs: AKIAIOSFODNN7EXAMPLE / wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    assert_none("token: ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    assert_none("STRIPE_KEY=sk_test_XXXXXXXXXXXXXXXXXXXXXXXX and xoxb-your-token-here");
    assert_none("https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX");
    assert_none("GITHUB_TOKEN=${{ secrets.GITHUB_TOKEN }} and Authorization: Bearer <token>");
    assert_none("Use the scikit-learn (sk-learn) API; the ghp_ prefix is documented");
    assert_none("The file base64 is OcGlFysVdj7Qd2ih+vSTSDsqyet+dWlfG+T3AOrsoS2XYAurqoG13kL0lXOr=");
}

#[test]
fn secret_wins_over_pii_and_sorted() {
    let t = "a postgres://bob:hunter2xyz@db.example.com b 10.0.0.1 c";
    let f = det().detect(t);
    assert_eq!(f.len(), 2, "{f:?}");
    assert_eq!(f[0].kind, FindingKind::Secret);
    assert_eq!(f[1].kind, FindingKind::IpAddress);
    assert!(f[0].start < f[1].start);
    // A provider rule beats the keyword rule on the same value (better subtype).
    let t = "export OPENAI_API_KEY=sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0f";
    assert_eq!(subtype_of(t), Some("openai_key"));
}

#[test]
fn multiple_findings_in_order() {
    let t = "From: Maria Garcia <maria@example.com>\nCall +44 20 7946 0958, card 4111 1111 1111 1111, \
             IBAN DE89370400440532013000, SSN 123-45-6789, host 10.0.0.1, key AKIAZ3MHQ7RXJ4WNTB5P.";
    let kinds: Vec<FindingKind> = det().detect(t).into_iter().map(|f| f.kind).collect();
    use FindingKind::*;
    assert_eq!(
        kinds,
        vec![Person, Email, Phone, CreditCard, Iban, UsSsn, IpAddress, Secret]
    );
}

#[test]
fn serializes() {
    let f = det().detect("SSN 123-45-6789");
    let j = serde_json::to_string(&f).unwrap();
    assert!(j.contains(r#""type":"US_SSN""#), "{j}");
}

#[test]
fn non_ascii_text() {
    let t = "Größe: café 😀 mail me at josé@example.com — 📞 +49 30 1234567. 東京 Ángel Müller";
    let f = det().detect(t);
    for x in &f {
        assert!(t.is_char_boundary(x.start) && t.is_char_boundary(x.end));
    }
    assert!(f.iter().any(|x| x.kind == FindingKind::Phone));
    assert!(f.iter().any(|x| x.kind == FindingKind::Email));
}

#[test]
fn detect_into_reuses_buffer() {
    let mut buf = Vec::new();
    det().detect_into("SSN 123-45-6789", &mut buf);
    assert_eq!(buf.len(), 1);
    det().detect_into("nothing here", &mut buf);
    assert!(buf.is_empty());
}

fn check_spans(s: &str) {
    let f = det().detect(s);
    let mut last_end = 0;
    for x in &f {
        assert!(x.start < x.end && x.end <= s.len(), "{x:?}");
        assert!(
            s.is_char_boundary(x.start) && s.is_char_boundary(x.end),
            "{x:?}"
        );
        assert!(x.start >= last_end, "overlap or order: {f:?}");
        last_end = x.end;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics_and_spans_are_sane(s in "\\PC{0,300}") {
        check_spans(&s);
    }

    #[test]
    fn never_panics_on_near_tokens(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("@".to_string()), Just("://".to_string()), Just(":".to_string()),
                Just("sk-".to_string()), Just("AKIA".to_string()), Just("eyJ".to_string()),
                Just("-----BEGIN ".to_string()), Just("PRIVATE KEY-----".to_string()),
                Just("password=".to_string()), Just("Dr. ".to_string()), Just("+".to_string()),
                Just("(".to_string()), Just("Maria ".to_string()), Just("é".to_string()),
                Just(" ".to_string()), Just("\n".to_string()), Just("DE89".to_string()),
                "[0-9]{1,6}", "[A-Za-z]{1,8}", "[.\\-/ ]", "\\PC{1,3}",
            ],
            0..40,
        )
    ) {
        check_spans(&parts.concat());
    }
}
