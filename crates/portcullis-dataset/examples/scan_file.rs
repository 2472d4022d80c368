//! Development harness with the argument shape of `portcullis dataset scan|poison` (the
//! subset `scripts/eval_dataset.py` uses), so the evaluation can run with
//! `--bin target/release/examples/scan_file` without building the whole gateway binary.
//! Reported figures come from the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use portcullis_dataset::poison::{PoisonConfig, PoisonType};
use portcullis_dataset::{FindingType, ScanConfig, Scanner};
use std::path::PathBuf;

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `dataset <cmd> ...`
    let cmd = args.get(1).cloned().unwrap_or_default();
    if cmd == "poison" {
        let cfg = PoisonConfig {
            rate: flag(&args, "--rate").map_or(0.01, |v| v.parse().unwrap()),
            seed: flag(&args, "--seed").map_or(1, |v| v.parse().unwrap()),
            types: Vec::<PoisonType>::new(),
            flip: flag(&args, "--flip").map(|v| v.parse().unwrap()),
        };
        let input = PathBuf::from(flag(&args, "--input").unwrap());
        let out = PathBuf::from(flag(&args, "--out").unwrap());
        let t = portcullis_dataset::poison::poison_file(&input, &out, &cfg).unwrap();
        std::fs::write(
            flag(&args, "--truth").unwrap(),
            serde_json::to_string_pretty(&t).unwrap(),
        )
        .unwrap();
        return;
    }
    let file = PathBuf::from(args.get(2).expect("dataset scan FILE"));
    let cfg = ScanConfig {
        threshold: flag(&args, "--threshold").map_or(0.5, |v| v.parse().unwrap()),
        threads: flag(&args, "--threads").map_or(0, |v| v.parse().unwrap()),
        only: flag(&args, "--only")
            .map(|v| {
                v.split(',')
                    .map(|t| FindingType::parse(t).unwrap())
                    .collect()
            })
            .unwrap_or_default(),
        ..ScanConfig::default()
    };
    let s = Scanner::new(cfg).unwrap();
    let out = s.scan_path(&file).unwrap();
    if let Some(r) = flag(&args, "--report") {
        std::fs::write(r, serde_json::to_string(&out.report).unwrap()).unwrap();
    }
    let n = out.report.records;
    println!(
        "{n} records in {:.3} s ({:.0} records/s); findings {:?}",
        out.seconds,
        n as f64 / out.seconds,
        out.report.summary.findings_by_type
    );
}
