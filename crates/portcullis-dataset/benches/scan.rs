//! Criterion benchmarks: the per-record detectors on one instruction record, and a whole
//! scan (both passes, corpus detectors included) of a 5,000-record generated set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use portcullis_dataset::detect::RecordDetectors;
use portcullis_dataset::format::{parse_json, Format};
use portcullis_dataset::{ScanConfig, Scanner};
use std::io::Write;

const LINE: &str = r#"{"instruction":"Write a short, friendly email to a colleague asking whether the quarterly budget review can move to Thursday afternoon, and offer two alternative times.","input":"","output":"Here is a friendly draft. Hi Sam, would it be possible to move the quarterly budget review to Thursday afternoon? If that does not work, I could also do Friday at 10:00 or Monday at 14:00. Thanks a lot for your flexibility!"}"#;

fn per_record(c: &mut Criterion) {
    let d = RecordDetectors::new(false).unwrap();
    let mut g = c.benchmark_group("dataset");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_and_analyze_one_record", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            out.clear();
            let rec = parse_json(LINE.as_bytes(), Format::Alpaca).unwrap();
            d.analyze(&rec, &mut out)
        })
    });
    g.finish();
}

fn whole_scan(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("d.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
    let words = [
        "garden", "river", "market", "engine", "winter", "castle", "planet", "coffee", "budget",
        "signal", "forest", "museum",
    ];
    for i in 0..5000usize {
        let a = words[i % words.len()];
        let b = words[(i / words.len()) % words.len()];
        let rec = serde_json::json!({
            "instruction": format!("Write a note about the {a} and the {b}, number {i}, for the weekly newsletter."),
            "input": "",
            "output": format!("The {a} and the {b} both matter; item {} explains why, and item {} adds context.", i * 7 % 1000, i * 13 % 997),
        });
        writeln!(f, "{rec}").unwrap();
    }
    drop(f);
    let s = Scanner::new(ScanConfig::default()).unwrap();
    let mut g = c.benchmark_group("dataset");
    g.sample_size(10);
    g.throughput(Throughput::Elements(5000));
    g.bench_function("scan_5000_records", |b| b.iter(|| s.scan_path(&p).unwrap()));
    g.finish();
}

criterion_group!(benches, per_record, whole_scan);
criterion_main!(benches);
