//! Scans one text in a loop, for profilers: `perf record` on
//! `cargo run --release -p portcullis-guard --example profile_detect -- FILE [ITERS]`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_guard::Detector;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let text = std::fs::read_to_string(args.get(1).expect("FILE argument")).expect("read FILE");
    let iters: usize = args
        .get(2)
        .map(|v| v.parse().expect("ITERS"))
        .unwrap_or(10_000);
    let det = Detector::new().expect("detector builds");
    let mut buf = Vec::new();
    let mut total = 0;
    let t = std::time::Instant::now();
    for _ in 0..iters {
        det.detect_into(std::hint::black_box(&text), &mut buf);
        total += buf.len();
    }
    let per = t.elapsed().as_secs_f64() * 1e6 / iters as f64;
    eprintln!(
        "{} bytes: {per:.2} µs per scan ({total} findings)",
        text.len()
    );
}
