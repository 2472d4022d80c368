//! Runs the input pipeline (`Guards::check_input`, default policy) or the injection scan
//! on the `pipeline` bench's text in a loop, for profilers and for timing on a contended
//! machine: prints wall time and on-CPU time per call (the thread's run time from
//! `/proc/thread-self/schedstat`, which excludes time spent waiting for a core).
//!
//! `cargo run --release -p portcullis-guard --example profile_pipeline -- [pipeline|scan|detect] [BYTES] [ITERS]`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_guard::pseudo::Pseudonymizer;
use portcullis_guard::{GuardPolicy, Guards};

const PARAGRAPH: &str =
    "Our quarterly review covers the migration of the billing service to the new \
cluster. The team finished the database cut-over on Tuesday; latency stayed under the agreed \
budget and no customer tickets were opened. Next we will retire the old message queue, update \
the runbooks and schedule a game day. Questions can go to maria.lopez@example.org or to the \
on-call phone +1 415 555 0142. ";

fn text_of(len: usize) -> String {
    let mut s = String::with_capacity(len + PARAGRAPH.len());
    while s.len() < len {
        s.push_str(PARAGRAPH);
    }
    s.truncate(len);
    s
}

/// Nanoseconds this thread has run on a CPU (Linux); 0 elsewhere.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("pipeline", String::as_str).to_string();
    let len: usize = args.get(2).map_or(16384, |v| v.parse().expect("BYTES"));
    let iters: usize = args.get(3).map_or(2000, |v| v.parse().expect("ITERS"));
    let guards = Guards::new().expect("guards build");
    let policy = GuardPolicy::defaults(guards.injection().thresholds());
    let text = text_of(len);
    let run = |n: usize| {
        for _ in 0..n {
            match mode.as_str() {
                "scan" => {
                    std::hint::black_box(guards.injection().scan(std::hint::black_box(&text)));
                }
                "detect" => {
                    std::hint::black_box(guards.detector().detect(std::hint::black_box(&text)));
                }
                _ => {
                    let mut t = text.clone();
                    let mut pseudo = Pseudonymizer::new();
                    let v = guards.check_input(&policy, &mut [&mut t], &mut pseudo);
                    std::hint::black_box((v, t));
                }
            }
        }
    };
    run(iters / 10 + 1);
    let mut best_cpu = f64::MAX;
    let mut walls = Vec::new();
    let mut cpus = Vec::new();
    for _ in 0..5 {
        let (w0, c0) = (std::time::Instant::now(), cpu_ns());
        run(iters);
        let wall = w0.elapsed().as_secs_f64() * 1e6 / iters as f64;
        let cpu = (cpu_ns() - c0) as f64 / 1e3 / iters as f64;
        best_cpu = best_cpu.min(cpu);
        walls.push(wall);
        cpus.push(cpu);
    }
    cpus.sort_by(f64::total_cmp);
    walls.sort_by(f64::total_cmp);
    println!(
        "{mode} {len} B: cpu median {:.1} us (min {:.1}), wall median {:.1} us",
        cpus[2], best_cpu, walls[2]
    );
}
