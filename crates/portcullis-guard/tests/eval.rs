//! Span evaluation on the generated set: precision and recall per type with overlap
//! matching. Run with `-- --nocapture` to see the table.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_guard::gen::{generate, GENERATED_KINDS};
use portcullis_guard::{Detector, FindingKind};
use std::collections::BTreeMap;

#[test]
fn precision_recall_per_type() {
    let det = Detector::new().expect("detector builds");
    let records = generate(0x5EED_2026, 2000);
    // kind -> (pred, pred_matched, gold, gold_matched)
    let mut t: BTreeMap<FindingKind, [usize; 4]> = BTreeMap::new();
    let mut errors = Vec::new();
    let started = std::time::Instant::now();
    let preds_all: Vec<_> = records.iter().map(|r| det.detect(&r.text)).collect();
    let elapsed = started.elapsed();
    for (r, preds) in records.iter().zip(&preds_all) {
        let ov = |a0: usize, a1: usize, b0: usize, b1: usize| a0 < b1 && b0 < a1;
        for p in preds {
            let e = t.entry(p.kind).or_default();
            e[0] += 1;
            if r.gold
                .iter()
                .any(|g| g.kind == p.kind && ov(p.start, p.end, g.start, g.end))
            {
                e[1] += 1;
            } else {
                errors.push(format!(
                    "FP {} {:?} in {:?}",
                    p.kind,
                    &r.text[p.start..p.end],
                    r.text
                ));
            }
        }
        for g in &r.gold {
            let e = t.entry(g.kind).or_default();
            e[2] += 1;
            if preds
                .iter()
                .any(|p| g.kind == p.kind && ov(p.start, p.end, g.start, g.end))
            {
                e[3] += 1;
            } else {
                errors.push(format!(
                    "FN {} {:?} in {:?}",
                    g.kind,
                    &r.text[g.start..g.end],
                    r.text
                ));
            }
        }
    }
    for e in errors.iter().take(60) {
        println!("{e}");
    }
    println!(
        "{:<12} {:>6} {:>6} {:>9} {:>7}",
        "type", "gold", "pred", "precision", "recall"
    );
    let mut ok = true;
    for kind in GENERATED_KINDS {
        let [p, pm, g, gm] = t.get(&kind).copied().unwrap_or_default();
        let precision = if p == 0 { 1.0 } else { pm as f64 / p as f64 };
        let recall = if g == 0 { 1.0 } else { gm as f64 / g as f64 };
        println!(
            "{:<12} {:>6} {:>6} {:>9.4} {:>7.4}",
            kind.as_str(),
            g,
            p,
            precision,
            recall
        );
        assert!(g > 50, "too few gold {kind}");
        ok &= precision >= 0.97 && recall >= 0.97;
    }
    println!(
        "{} records, {:.1} µs per record (debug build unless --release)",
        records.len(),
        elapsed.as_secs_f64() * 1e6 / records.len() as f64
    );
    assert!(ok, "a type fell below 0.97 precision or recall");
}
