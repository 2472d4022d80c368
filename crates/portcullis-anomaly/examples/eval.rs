//! Development helper: `cargo run --release -p portcullis-anomaly --example eval -- 1 2 3`
//! prints the evaluation table for the given seeds with the default settings (the
//! `portcullis anomaly eval` command does the same with a config file).
#![allow(clippy::unwrap_used)]

use portcullis_anomaly::config::DetectorConfig;
use portcullis_anomaly::eval;
use portcullis_anomaly::sim::SimConfig;

fn cfg() -> DetectorConfig {
    let mut c = DetectorConfig::default();
    if let Ok(t) = std::env::var("HST_TREES") {
        c.hst_trees = t.parse().unwrap();
    }
    if let Ok(t) = std::env::var("THRESH") {
        let v: Vec<f64> = t.split(',').filter_map(|x| x.parse().ok()).collect();
        if let [a, b, cc, d] = v[..] {
            c.thresholds = [a, b, cc, d];
        }
    }
    c
}

/// Time this thread has spent on a CPU (Linux `/proc/thread-self/schedstat`, first
/// field, nanoseconds), so a replay rate can be read apart from a contended machine's
/// waiting; 0 elsewhere.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |ns| ns / 1e9)
}

fn main() {
    if let Ok(trees) = std::env::var("BENCH_TREES") {
        // Replay timing: one simulated week as JSON Lines, replayed with N trees.
        let sim = portcullis_anomaly::sim::Simulation::generate(SimConfig::default());
        let mut buf = Vec::new();
        sim.write_events(&mut buf).unwrap();
        let mut c = cfg();
        c.hst_trees = trees.parse().unwrap();
        if let Ok(d) = std::env::var("BENCH_DEPTH") {
            c.hst_depth = d.parse().unwrap();
        }
        let t = std::time::Instant::now();
        let cpu0 = cpu_seconds();
        let s = portcullis_anomaly::replay::replay(&c, buf.as_slice(), std::io::sink()).unwrap();
        let e = t.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu0;
        let t2 = std::time::Instant::now();
        let mut n = 0u64;
        for line in buf.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let ev: portcullis_anomaly::Event<'_> = serde_json::from_slice(line).unwrap();
            n += u64::from(ev.ts > 0);
        }
        let p = t2.elapsed().as_secs_f64();
        println!(
            "{} events in {e:.2} s: {:.0}/s; on the CPU {cpu:.2} s: {:.0}/s; parsing alone {p:.2} s ({n})",
            s.events,
            s.events as f64 / e,
            s.events as f64 / cpu
        );
        return;
    }
    let verbose = std::env::var_os("VERBOSE").is_some();
    if let (Ok(who), Some(seed)) = (
        std::env::var("TRACE"),
        std::env::args().nth(1).and_then(|s| s.parse::<u64>().ok()),
    ) {
        // TRACE=principal: every event of that principal with its score.
        let sim = portcullis_anomaly::sim::Simulation::generate(SimConfig {
            seed,
            ..SimConfig::default()
        });
        let mut d = portcullis_anomaly::Detector::new(cfg());
        d.explain(true);
        for e in sim.events() {
            let a = d.observe(&e);
            if e.principal == who.as_str() {
                let (score, f) = d.last_explained().cloned().unwrap_or_default();
                let f: Vec<String> = f
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "{k}={:.2}({:.0}/{:.0})",
                            v.contribution, v.value, v.baseline
                        )
                    })
                    .collect();
                println!(
                    "{} {:.2} {} p={} c={} {}",
                    e.ts,
                    score,
                    a.map_or("-".into(), |a| a.action.to_string()),
                    e.prompt_tokens,
                    e.completion_tokens,
                    f.join(" ")
                );
            }
        }
        return;
    }
    let mut runs = Vec::new();
    for seed in std::env::args()
        .skip(1)
        .filter_map(|s| s.parse::<u64>().ok())
    {
        let (r, alerts) = eval::run(
            SimConfig {
                seed,
                ..SimConfig::default()
            },
            &cfg(),
        );
        if verbose {
            let sim = portcullis_anomaly::sim::Simulation::generate(SimConfig {
                seed,
                ..SimConfig::default()
            });
            for l in &sim.labels {
                println!("L{seed} {}", serde_json::to_string(l).unwrap());
            }
            for a in &alerts {
                println!("{seed} {}", serde_json::to_string(a).unwrap());
            }
            for s in &r.scenarios {
                println!("{seed} {s:?}");
            }
        }
        runs.push((seed, r));
    }
    print!("{}", eval::table(&runs));
}
