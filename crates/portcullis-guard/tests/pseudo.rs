//! Pseudonymization round trips and the streaming restorer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_guard::pseudo::Pseudonymizer;
use portcullis_guard::{Detector, Finding, FindingKind};
use proptest::prelude::*;

const VALUES: &[(FindingKind, &str)] = &[
    (FindingKind::Email, "jane.doe@example.com"),
    (FindingKind::Email, "bob@corp.io"),
    (FindingKind::Phone, "+44 20 7946 0958"),
    (FindingKind::Phone, "555-123-4567"),
    (FindingKind::Person, "Jürgen Müller"),
    (FindingKind::CreditCard, "4111 1111 1111 1111"),
    (FindingKind::Iban, "DE89 3704 0044 0532 0130 00"),
    (FindingKind::IpAddress, "10.1.2.3"),
    (FindingKind::UsSsn, "123-45-6789"),
];

/// Filler, including bracket fragments that look like parts of placeholders.
const FILLER: &[&str] = &[
    " ", "hello ", "the ", "[", "]", "[EMAIL_", "_1", "2", "PHONE", "日本", "é", "\n", "[x] ",
    "IBAN", "[PERSON_", "[[", "]]", "_",
];

/// Text pieces: `Ok(filler)` or `Err(index into VALUES)`.
fn piece(allow_close: bool) -> impl Strategy<Value = Result<&'static str, usize>> {
    prop_oneof![
        (0..FILLER.len()).prop_map(move |i| Ok(if !allow_close && FILLER[i].contains(']') {
            " "
        } else {
            FILLER[i]
        })),
        (0..VALUES.len()).prop_map(Err),
    ]
}

/// Builds the text and its findings.
fn build(pieces: &[Result<&str, usize>]) -> (String, Vec<Finding>) {
    let mut text = String::new();
    let mut findings = Vec::new();
    for p in pieces {
        match p {
            Ok(s) => text.push_str(s),
            Err(i) => {
                let (kind, v) = VALUES[*i];
                let start = text.len();
                text.push_str(v);
                findings.push(Finding {
                    kind,
                    subtype: None,
                    start,
                    end: text.len(),
                    score: 0.9,
                });
            }
        }
    }
    (text, findings)
}

fn stream(p: &Pseudonymizer, text: &str, cuts: &[usize]) -> String {
    let mut r = p.restorer();
    let mut out = String::new();
    let mut prev = 0;
    for &c in cuts {
        out += &r.push(&text[prev..c]);
        assert!(
            r.held_back() < p.max_placeholder_len().max(1),
            "held {} >= max placeholder {}",
            r.held_back(),
            p.max_placeholder_len()
        );
        prev = c;
    }
    out += &r.push(&text[prev..]);
    out += &r.finish();
    out
}

fn cuts_from(text: &str, idx: &[prop::sample::Index]) -> Vec<usize> {
    let mut c: Vec<usize> = idx
        .iter()
        .map(|i| i.index(text.len() + 1))
        .filter(|&i| text.is_char_boundary(i))
        .collect();
    c.sort_unstable();
    c.dedup();
    c
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The model echoes placeholders: restoring gives the original back, whole or streamed.
    #[test]
    fn round_trip(pieces in proptest::collection::vec(piece(true), 0..60),
                  idx in proptest::collection::vec(any::<prop::sample::Index>(), 0..30)) {
        let (text, findings) = build(&pieces);
        let mut p = Pseudonymizer::new();
        let pseudo = p.pseudonymize(&text, &findings);
        for (_, v) in VALUES {
            prop_assert!(!pseudo.contains(v), "value {v:?} left in {pseudo:?}");
        }
        prop_assert_eq!(p.restore(&pseudo), text.clone());
        let cuts = cuts_from(&pseudo, &idx);
        prop_assert_eq!(stream(&p, &pseudo, &cuts), text);
    }

    /// Several messages share one mapping: same value, same placeholder; different values,
    /// different placeholders; each message round-trips.
    #[test]
    fn stable_across_messages(msgs in proptest::collection::vec(proptest::collection::vec(piece(false), 0..20), 1..5)) {
        let mut p = Pseudonymizer::new();
        let mut seen: std::collections::HashMap<String, String> = Default::default();
        for m in &msgs {
            let (text, findings) = build(m);
            let out = p.pseudonymize(&text, &findings);
            prop_assert_eq!(p.restore(&out), text.clone());
            for f in &findings {
                let v = &text[f.start..f.end];
                let ph = p.placeholder_for(f.kind, v).unwrap().to_string();
                prop_assert!(out.contains(&ph));
                if let Some(prev) = seen.insert(v.to_string(), ph.clone()) {
                    prop_assert_eq!(prev, ph);
                }
            }
        }
        let distinct: std::collections::HashSet<&String> = seen.values().collect();
        prop_assert_eq!(distinct.len(), seen.len());
    }

    /// Streaming equals restoring the whole response, for any response (echoed, unknown
    /// and truncated placeholders, brackets) and any split.
    #[test]
    fn streaming_equals_whole(pieces in proptest::collection::vec(piece(true), 1..30),
                              resp in proptest::collection::vec(prop_oneof![
                                  Just("[EMAIL_1]"), Just("[EMAIL_2]"), Just("[PHONE_1]"), Just("[EMAIL_99]"),
                                  Just("[EMAIL_"), Just("[PERSON_1]"), Just("[CREDIT_CARD_1]"), Just("["),
                                  Just("]"), Just("ok "), Just("日本"), Just("[IP_ADDRESS_1"), Just("_1]"),
                              ], 0..40),
                              idx in proptest::collection::vec(any::<prop::sample::Index>(), 0..40)) {
        let (text, findings) = build(&pieces);
        let mut p = Pseudonymizer::new();
        p.pseudonymize(&text, &findings);
        let response: String = resp.concat();
        let whole = p.restore(&response);
        let cuts = cuts_from(&response, &idx);
        prop_assert_eq!(stream(&p, &response, &cuts), whole.clone());
        // Every single split too.
        for c in (0..=response.len()).filter(|&c| response.is_char_boundary(c)) {
            prop_assert_eq!(stream(&p, &response, &[c]), whole.clone());
        }
    }
}

#[test]
fn unknown_placeholders_are_left_alone() {
    let mut p = Pseudonymizer::new();
    let t = "write to a@b.com";
    let f = Finding {
        kind: FindingKind::Email,
        subtype: None,
        start: 9,
        end: 16,
        score: 0.9,
    };
    assert_eq!(p.pseudonymize(t, &[f]), "write to [EMAIL_1]");
    let resp = "[EMAIL_99] [PHONE_1] [EMAIL_1 [email_1] [EMAIL_1]";
    assert_eq!(
        p.restore(resp),
        "[EMAIL_99] [PHONE_1] [EMAIL_1 [email_1] a@b.com"
    );
    let mut r = p.restorer();
    let mut out = String::new();
    for ch in resp.chars() {
        out += &r.push(ch.encode_utf8(&mut [0; 4]));
    }
    out += &r.finish();
    assert_eq!(out, p.restore(resp));
}

#[test]
fn with_the_detector() {
    let det = Detector::new().unwrap();
    let mut p = Pseudonymizer::new();
    let m1 = "Hi, I'm at jane.doe@example.com, card 4111 1111 1111 1111. Key: ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5";
    let m2 = "Again: jane.doe@example.com and +44 20 7946 0958";
    let o1 = p.pseudonymize(m1, &det.detect(m1));
    let o2 = p.pseudonymize(m2, &det.detect(m2));
    assert!(
        o1.contains("[EMAIL_1]") && o1.contains("[CREDIT_CARD_1]"),
        "{o1}"
    );
    // Secrets are not pseudonymized (they are redacted or blocked by policy instead).
    assert!(o1.contains("ghp_"), "{o1}");
    assert_eq!(o2, "Again: [EMAIL_1] and [PHONE_1]");
    assert_eq!(p.restore(&o1), m1);
    let owned = p.into_restorer();
    let mut r = owned;
    let s = r.push("Sure [EMA") + &r.push("IL_1], noted [PHO") + &r.push("NE_1].") + &r.finish();
    assert_eq!(s, "Sure jane.doe@example.com, noted +44 20 7946 0958.");
}
