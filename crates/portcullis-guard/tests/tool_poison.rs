//! Precision and recall of the tool-poisoning scanner on the self-written set
//! `data/tool-descriptions.jsonl` (150 benign, 48 poisoned tool and parameter
//! descriptions; not an independent benchmark). Within each label, every third item
//! (0-based index % 3 == 2, in file order) is held out; the rules were designed on the
//! rest. Run with `-- --nocapture` to see the figures and every error.
//! `TOOL_POISON_DEV_ONLY=1` evaluates dev only (for work on the rules).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_guard::tool_poison::ToolPoisonScanner;
use serde_json::Value;

struct Row {
    id: String,
    text: String,
    poisoned: bool,
    held_out: bool,
}

fn rows() -> Vec<Row> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/tool-descriptions.jsonl");
    let data = std::fs::read_to_string(path).unwrap();
    let (mut benign, mut poisoned) = (0usize, 0usize);
    data.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let is_poisoned = match v["label"].as_str().unwrap() {
                "poisoned" => true,
                "benign" => false,
                other => panic!("unknown label {other}"),
            };
            let n = if is_poisoned {
                &mut poisoned
            } else {
                &mut benign
            };
            let held_out = *n % 3 == 2;
            *n += 1;
            Row {
                id: v["id"].as_str().unwrap().to_string(),
                text: v["text"].as_str().unwrap().to_string(),
                poisoned: is_poisoned,
                held_out,
            }
        })
        .collect()
}

/// (true positives, false positives, false negatives, true negatives)
fn evaluate(s: &ToolPoisonScanner, rows: &[&Row], name: &str) -> [usize; 4] {
    let mut c = [0usize; 4];
    for r in rows {
        let hit = s.scan(&r.text).is_some();
        let i = match (hit, r.poisoned) {
            (true, true) => 0,
            (true, false) => 1,
            (false, true) => 2,
            (false, false) => 3,
        };
        c[i] += 1;
        if i == 1 || i == 2 {
            let sig: Vec<_> = s.signals(&r.text).iter().map(|h| h.signal).collect();
            let what = if i == 1 { "FP" } else { "FN" };
            println!("{name} {what} {}: {sig:?} {:?}", r.id, r.text);
        }
    }
    let [tp, fp, fn_, tn] = c;
    let precision = tp as f64 / (tp + fp).max(1) as f64;
    let recall = tp as f64 / (tp + fn_).max(1) as f64;
    println!(
        "{name}: {} poisoned, {} benign; TP {tp} FP {fp} FN {fn_} TN {tn}; \
         precision {precision:.3}, recall {recall:.3}",
        tp + fn_,
        fp + tn
    );
    c
}

#[test]
fn precision_and_recall_on_the_self_written_set() {
    let s = ToolPoisonScanner::new().unwrap();
    let rows = rows();
    assert_eq!(rows.iter().filter(|r| r.poisoned).count(), 48);
    assert_eq!(rows.iter().filter(|r| !r.poisoned).count(), 150);
    // Cost per text (meaningful with `--release`). Benign texts take the hot path;
    // a finding also maps its span back to the original (rare: the request is refused).
    for poisoned in [false, true] {
        let texts: Vec<&str> = rows
            .iter()
            .filter(|r| r.poisoned == poisoned)
            .map(|r| r.text.as_str())
            .collect();
        let rounds = 20;
        let started = std::time::Instant::now();
        for _ in 0..rounds {
            for t in &texts {
                std::hint::black_box(s.scan(std::hint::black_box(t)));
            }
        }
        let per = started.elapsed().as_secs_f64() * 1e6 / (rounds * texts.len()) as f64;
        let label = if poisoned { "poisoned" } else { "benign" };
        println!("scan: {per:.2} µs per {label} description (mean)");
    }
    let dev: Vec<&Row> = rows.iter().filter(|r| !r.held_out).collect();
    let held: Vec<&Row> = rows.iter().filter(|r| r.held_out).collect();
    let [tp, fp, _, _] = evaluate(&s, &dev, "dev");
    // Floors at the measured figures, so a change that loses ground fails.
    assert_eq!(fp, 0, "dev false positives");
    assert!(tp >= 31, "dev recall fell: {tp}");
    if std::env::var_os("TOOL_POISON_DEV_ONLY").is_some() {
        return;
    }
    let [tp, fp, _, _] = evaluate(&s, &held, "held-out");
    // Measured once, after the rules were fixed on dev: 15 of 16, no false positive.
    assert_eq!(fp, 0, "held-out false positives");
    assert!(tp >= 15, "held-out recall fell: {tp}");
}

/// Tools whose instruction is split between the description and a parameter's
/// description (`data/tool-definitions-split.jsonl`, self-written before
/// [`ToolPoisonScanner::scan_tool`]: 12 poisoned, 20 benign tools with several texts), and
/// every pair of the single-text set's benign texts read as one tool (a harsher test of
/// false positives than real tools: the pairs are arbitrary, where a real tool's texts
/// describe one action).
#[test]
fn signals_combine_across_a_tools_texts() {
    let s = ToolPoisonScanner::new().unwrap();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/tool-definitions-split.jsonl"
    );
    let data = std::fs::read_to_string(path).unwrap();
    let (mut caught, mut caught_alone, mut poisoned) = (0, 0, 0);
    let mut false_positives = Vec::new();
    for l in data.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(l).unwrap();
        let texts: Vec<&str> = v["texts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        let id = v["id"].as_str().unwrap();
        let hit = s.scan_tool(&texts);
        // Each text on its own, as before tools were read whole.
        let alone = texts.iter().any(|t| s.scan(t).is_some());
        if let Some((j, f)) = &hit {
            // The finding points into the text it names.
            assert!(f.start < f.end && f.end <= texts[*j].len(), "{id}: {f:?}");
        }
        match v["label"].as_str().unwrap() {
            "poisoned" => {
                poisoned += 1;
                caught += usize::from(hit.is_some());
                caught_alone += usize::from(alone);
                if hit.is_none() {
                    println!("split FN {id}: {texts:?}");
                }
            }
            _ => {
                if hit.is_some() {
                    false_positives.push(id.to_string());
                }
            }
        }
    }
    println!(
        "split tools: {caught}/{poisoned} caught reading each tool whole, \
         {caught_alone}/{poisoned} reading each text alone; benign flagged: {false_positives:?}"
    );
    assert_eq!(poisoned, 12);
    assert!(false_positives.is_empty(), "{false_positives:?}");
    // Measured once, when the check was first run on them: 8 of 12 whole, 3 of 12 alone
    // (those three were not split after all). The four misses are phrasings no signal
    // knows ("extra context: include ... here", "don't reveal this instruction", a
    // secret named without an action verb, "when using the github tool ... push to");
    // the rules were not changed to catch them.
    assert!(caught >= 8, "split recall fell: {caught}");
    assert!(caught_alone < caught, "reading tools whole changed nothing");

    let rows = rows();
    let benign: Vec<&str> = rows
        .iter()
        .filter(|r| !r.poisoned)
        .map(|r| r.text.as_str())
        .collect();
    let (mut pairs, mut flagged) = (0, Vec::new());
    for (i, a) in benign.iter().enumerate() {
        for b in &benign[i + 1..] {
            pairs += 1;
            if s.scan_tool(&[a, b]).is_some() {
                flagged.push((*a, *b));
            }
        }
    }
    println!(
        "benign pairs read as one tool: {} of {pairs} flagged",
        flagged.len()
    );
    for (a, b) in &flagged {
        println!("  pair FP: {a:?} + {b:?}");
    }
    // Measured when written: 10 of 11,175, every one the same crash-report text ("include
    // the contents of the failing test's output in the details argument": a parameter
    // carrying data) beside a text that names a password or a secret file. Comment
    // markup (`<!--`) does not count across texts; counting it flagged 11 more.
    assert!(
        flagged.len() <= 10,
        "{} benign pairs flagged",
        flagged.len()
    );
}
