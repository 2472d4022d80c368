//! Times the guards' injection scan (rules and classifier) on texts read from a file (one
//! JSON string per line), as the dataset scanner calls it on fields past its gate: on-CPU
//! time of this thread (`/proc/thread-self/schedstat`), so other load matters little.
//! `cargo run --release -p portcullis-dataset --example profile_gated -- TEXTS.jsonl [ROUNDS]`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use portcullis_guard::injection::InjectionScanner;
use portcullis_guard::normalize::normalize_text;

fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let texts: Vec<String> = std::fs::read_to_string(&args[0])
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rounds: usize = args.get(1).map_or(2, |v| v.parse().unwrap());
    let s = InjectionScanner::new().unwrap();
    let mut sum = 0.0f32;
    for round in 0..rounds {
        let t0 = cpu_ns();
        for t in &texts {
            sum += s.scan_normalized(normalize_text(t)).scores.max();
        }
        let ns = cpu_ns() - t0;
        println!(
            "round {round}: {} texts, {:.1} µs CPU per text",
            texts.len(),
            ns as f64 / 1e3 / texts.len() as f64
        );
    }
    let t0 = cpu_ns();
    for t in &texts {
        sum += normalize_text(t).text.len() as f32;
    }
    println!(
        "normalize_text alone: {:.1} µs per text ({sum})",
        (cpu_ns() - t0) as f64 / 1e3 / texts.len() as f64
    );
}
