//! Times the parts of the per-record pipeline on one thread (on-CPU time of this thread,
//! `/proc/thread-self/schedstat`, so other load matters little): JSON parsing, the
//! guards' PII/secret detector over every field, the corpus statistics, and the whole
//! per-record analysis.
//! `cargo run --release -p portcullis-dataset --example profile_parts -- FILE.jsonl`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use portcullis_dataset::detect::{stats, RecordDetectors};
use portcullis_dataset::format::{parse_json, Format};

fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let data = std::fs::read(&args[0]).unwrap();
    let lines: Vec<&[u8]> = data
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let n = lines.len() as f64;
    let per = |ns: u64| ns as f64 / 1e3 / n;
    let t0 = cpu_ns();
    let recs: Vec<_> = lines
        .iter()
        .map(|l| parse_json(l, Format::Alpaca).unwrap())
        .collect();
    println!("parse: {:.2} µs per record", per(cpu_ns() - t0));
    let det = portcullis_guard::Detector::new().unwrap();
    let mut found = Vec::new();
    let mut k = 0usize;
    let t0 = cpu_ns();
    for r in &recs {
        for (f, _) in r.fields() {
            det.detect_into(&f.text, &mut found);
            k += found.len();
        }
    }
    println!(
        "guards' detect_into: {:.2} µs per record ({k})",
        per(cpu_ns() - t0)
    );
    let t0 = cpu_ns();
    let mut x = 0u64;
    for r in &recs {
        x += stats(r).ngrams.len() as u64;
    }
    println!("stats: {:.2} µs per record ({x})", per(cpu_ns() - t0));
    let d = RecordDetectors::new(false).unwrap();
    let mut out = Vec::new();
    let t0 = cpu_ns();
    for r in &recs {
        out.clear();
        x += d.analyze(r, &mut out).ngrams.len() as u64;
    }
    println!(
        "analyze (all, incl. stats): {:.2} µs per record ({x})",
        per(cpu_ns() - t0)
    );
}
