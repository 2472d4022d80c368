//! Per-chunk cost of the streaming output guard: a ~4 KB response with PII and secrets,
//! cut into 4–40 byte deltas, pushed through a `StreamGuard` (the detector alone, then
//! the detector with the exfil and canary scanners). Divide the reported time by the chunk
//! count printed at start, or read the throughput line (elements are chunks).
//!
//! `cargo bench -p portcullis-guard --bench stream`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use portcullis_guard::action::ActionTable;
use portcullis_guard::gen;
use portcullis_guard::output::{Canary, ExfilScanner};
use portcullis_guard::stream::{guard_text, StreamGuard, TextScanner};
use portcullis_guard::Detector;

/// A ~4 KB response: generated records (PII, secrets, decoys) between prose.
fn response() -> String {
    let mut s = String::new();
    let prose = "The service handles the request, validates the input and returns a summary \
                 of the results with a short explanation of each step. ";
    for (i, r) in gen::generate(7, 64).into_iter().enumerate() {
        if s.len() >= 4096 {
            break;
        }
        s.push_str(&r.text);
        s.push(if i % 3 == 0 { '\n' } else { ' ' });
        s.push_str(prose);
    }
    s
}

/// Deltas of 4–40 bytes (deterministic), on char boundaries.
fn deltas(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut i = 0;
    while i < text.len() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut j = (i + 4 + (x % 37) as usize).min(text.len());
        while !text.is_char_boundary(j) {
            j += 1;
        }
        out.push(&text[i..j]);
        i = j;
    }
    out
}

fn stream<S: TextScanner>(scanner: S, chunks: &[&str]) -> usize {
    let mut g = StreamGuard::new(scanner, ActionTable::output_defaults());
    let mut n = 0;
    for c in chunks {
        n += g.push(c).emit.len();
    }
    n + g.finish().emit.len()
}

fn bench(c: &mut Criterion) {
    let det = match Detector::new() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("detector: {e}");
            return;
        }
    };
    let exfil = match ExfilScanner::new(["example.com"]) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("exfil: {e}");
            return;
        }
    };
    let canary = Canary::random();
    let text = response();
    let chunks = deltas(&text);
    eprintln!(
        "response {} bytes, {} chunks (mean {:.1} bytes)",
        text.len(),
        chunks.len(),
        text.len() as f64 / chunks.len() as f64
    );
    let mut g = c.benchmark_group("stream_guard");
    g.throughput(Throughput::Elements(chunks.len() as u64));
    g.bench_function("detector/4KB", |b| {
        b.iter(|| stream(&det, black_box(&chunks)))
    });
    g.bench_function("detector+exfil+canary/4KB", |b| {
        b.iter(|| stream((&det, &exfil, &canary), black_box(&chunks)))
    });
    g.bench_function("baseline_whole_text_once/4KB", |b| {
        b.iter(|| guard_text(&det, &ActionTable::output_defaults(), black_box(&text)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
