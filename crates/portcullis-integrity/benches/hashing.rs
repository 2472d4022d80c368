//! Hashing throughput of model verification: a multi-file model hashed with the same
//! code `portcullis model verify` runs (`hash_model`, files in parallel).
//!
//! `PORTCULLIS_BENCH_MODEL_MB` sets the size of each of the 4 files (default 64 MiB, so
//! `cargo bench` stays quick); the figure in docs/benchmarks.md used 512 MiB files
//! (`PORTCULLIS_BENCH_MODEL_MB=512`). Files live in a temporary directory that is removed
//! afterwards; the first pass warms the page cache, so this measures hashing, not disk.

// A benchmark, like a test, may stop at the first failure.
#![allow(clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use portcullis_integrity::{hash_model, HashOptions};

fn bench(c: &mut Criterion) {
    let mb: usize = std::env::var("PORTCULLIS_BENCH_MODEL_MB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    let dir = tempfile::tempdir().unwrap();
    let chunk: Vec<u8> = (0..1 << 20)
        .map(|i: u32| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    for f in 0..4 {
        let mut data = Vec::with_capacity(mb << 20);
        for _ in 0..mb {
            data.extend_from_slice(&chunk);
        }
        data[0] = f as u8;
        std::fs::write(
            dir.path()
                .join(format!("model-{f:05}-of-00004.safetensors")),
            &data,
        )
        .unwrap();
    }
    let total = (4 * mb as u64) << 20;
    let opts = HashOptions::default();
    hash_model(dir.path(), &opts).unwrap();
    let mut g = c.benchmark_group("verify_hashing");
    g.throughput(Throughput::Bytes(total));
    g.sample_size(10);
    g.bench_function(format!("4x{mb}MiB_parallel"), |b| {
        b.iter(|| hash_model(dir.path(), &opts).unwrap())
    });
    let serial = HashOptions {
        threads: Some(1),
        ..HashOptions::default()
    };
    g.bench_function(format!("4x{mb}MiB_one_thread"), |b| {
        b.iter(|| hash_model(dir.path(), &serial).unwrap())
    });
    g.finish();

    // The hash alone (no file reads), one thread: the ceiling for a single file.
    let mut g = c.benchmark_group("sha256_in_memory");
    let block = vec![0x5au8; 64 << 20];
    g.throughput(Throughput::Bytes(block.len() as u64));
    g.sample_size(10);
    g.bench_function("64MiB_one_thread", |b| {
        b.iter(|| {
            use sha2::Digest as _;
            sha2::Sha256::digest(&block)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
