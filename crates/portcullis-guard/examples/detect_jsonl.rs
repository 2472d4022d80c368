//! Runs the detector over JSONL `{"id", "text", ...}` lines from stdin and writes
//! `{"id", "findings": [{"type", "subtype", "start", "end", "score"}]}` lines to stdout.
//! The detection time alone (no JSON, no I/O) goes to stderr as
//! `{"records": N, "us_per_record": X, "bytes": B}`.
//!
//! `cargo run --release -p portcullis-guard --example detect_jsonl < set.jsonl`
//! With `--repeat K`, each text is scanned K times for a steadier timing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_guard::Detector;
use std::io::{BufRead, BufWriter, Write};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let repeat: usize = args
        .iter()
        .position(|a| a == "--repeat")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("--repeat takes a number"))
        .unwrap_or(1)
        .max(1);
    let det = Detector::new().expect("detector builds");
    let stdin = std::io::stdin();
    let mut rows: Vec<(serde_json::Value, String)> = Vec::new();
    for line in stdin.lock().lines() {
        let line = line.expect("read stdin");
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line).expect("JSON line");
        let text = v["text"].as_str().expect("text field").to_string();
        rows.push((v["id"].clone(), text));
    }
    let mut findings = Vec::with_capacity(rows.len());
    let mut buf = Vec::new();
    let started = Instant::now();
    for _ in 0..repeat {
        findings.clear();
        for (_, text) in &rows {
            det.detect_into(text, &mut buf);
            findings.push(buf.clone());
        }
    }
    let elapsed = started.elapsed();
    let out = std::io::stdout();
    let mut w = BufWriter::new(out.lock());
    for ((id, _), f) in rows.iter().zip(&findings) {
        let row = serde_json::json!({"id": id, "findings": f});
        writeln!(w, "{row}").expect("write");
    }
    w.flush().expect("flush");
    let n = rows.len().max(1) * repeat;
    let bytes: usize = rows.iter().map(|(_, t)| t.len()).sum();
    eprintln!(
        "{}",
        serde_json::json!({
            "records": rows.len(),
            "bytes": bytes,
            "us_per_record": elapsed.as_secs_f64() * 1e6 / n as f64,
        })
    );
}
