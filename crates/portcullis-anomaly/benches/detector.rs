//! Criterion benches: one detector update (the per-request cost in the gateway), and
//! replay throughput (JSON Lines parsed, scored, alerts written).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use portcullis_anomaly::config::DetectorConfig;
use portcullis_anomaly::replay::replay;
use portcullis_anomaly::sim::{SimConfig, Simulation};
use portcullis_anomaly::{Detector, Event};

fn sim() -> Simulation {
    Simulation::generate(SimConfig {
        seed: 1,
        ..SimConfig::default()
    })
}

fn update(c: &mut Criterion) {
    let s = sim();
    let events: Vec<Event<'_>> = s.events().collect();
    // Warm the detector on the first 80% (baselines, trees, maps at their working size),
    // then time updates on the rest, cycling.
    let split = events.len() * 8 / 10;
    let mut d = Detector::new(DetectorConfig::default());
    for e in events.get(..split).unwrap() {
        d.observe(e);
    }
    let rest = events.get(split..).unwrap();
    let mut i = 0usize;
    let mut g = c.benchmark_group("detector");
    g.throughput(Throughput::Elements(1));
    g.bench_function("observe (one request)", |b| {
        b.iter(|| {
            let mut e = rest[i % rest.len()].clone();
            // Keep event time moving forward while cycling.
            e.ts += (i / rest.len()) as i64 * 86_400_000;
            i += 1;
            black_box(d.observe(black_box(&e)))
        })
    });
    g.finish();
}

fn replay_throughput(c: &mut Criterion) {
    let s = sim();
    let mut buf = Vec::new();
    s.write_events(&mut buf).unwrap();
    // The first 200,000 events (a couple of days): a whole week takes too long per sample.
    let mut n = 0u64;
    let mut cut = 0usize;
    for (pos, b) in buf.iter().enumerate() {
        if *b == b'\n' {
            n += 1;
            if n == 200_000 {
                cut = pos + 1;
                break;
            }
        }
    }
    let input = &buf[..if cut == 0 { buf.len() } else { cut }];
    let mut g = c.benchmark_group("replay");
    g.throughput(Throughput::Elements(n));
    g.sample_size(10);
    g.bench_function("200k events, JSON Lines in, alerts out", |b| {
        b.iter(|| {
            let stats = replay(&DetectorConfig::default(), input, std::io::sink()).unwrap();
            black_box(stats)
        })
    });
    g.finish();
}

criterion_group!(benches, update, replay_throughput);
criterion_main!(benches);
