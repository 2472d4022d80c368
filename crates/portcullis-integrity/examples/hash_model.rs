//! Hashes a model directory the way `portcullis model verify` does and prints the wall
//! time, the CPU time of the process and the throughput of each, so a measurement on a
//! shared machine can be read both ways (wall clock under load, and bytes per CPU-second,
//! which is what an idle machine would turn into wall clock given enough cores).
//!
//! `cargo run --release -p portcullis-integrity --example hash_model -- DIR [THREADS] [RUNS]`

use std::time::Instant;

use portcullis_integrity::{hash_model, HashOptions};

/// User + system CPU seconds of this process, from /proc/self/stat (Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th
    // fields overall, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or("usage: hash_model DIR [THREADS] [RUNS]")?;
    let threads = args.next().map(|s| s.parse()).transpose()?;
    let runs: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(3);
    let opts = HashOptions {
        threads,
        ..HashOptions::default()
    };
    // Warm the page cache.
    let m = hash_model(std::path::Path::new(&dir), &opts)?;
    let bytes: u64 = walk_size(std::path::Path::new(&dir))?;
    println!(
        "{} files, {:.3} GB, threads {:?}",
        m.len(),
        bytes as f64 / 1e9,
        threads
    );
    for _ in 0..runs {
        let (c0, t0) = (cpu_seconds(), Instant::now());
        hash_model(std::path::Path::new(&dir), &opts)?;
        let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
        println!(
            "wall {wall:.3} s = {:.2} GB/s; cpu {cpu:.2} s = {:.2} GB per CPU-second",
            bytes as f64 / 1e9 / wall,
            bytes as f64 / 1e9 / cpu.max(0.01)
        );
    }
    Ok(())
}

fn walk_size(p: &std::path::Path) -> std::io::Result<u64> {
    let meta = std::fs::metadata(p)?;
    if meta.is_file() {
        return Ok(meta.len());
    }
    let mut total = 0;
    for e in std::fs::read_dir(p)? {
        total += walk_size(&e?.path())?;
    }
    Ok(total)
}
