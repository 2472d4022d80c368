//! Development driver for the injection model without building the whole gateway:
//! `cargo run --release -p portcullis-guard --example guard -- train|score ...`.
//! The same functions back `portcullis guard train|score`.

use portcullis_guard::injection::{train, InjectionScanner};
use std::path::PathBuf;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let res = match args.first().map(String::as_str) {
        Some("train") => {
            let mut cfg = train::TrainConfig::default();
            if let Some(v) = arg(&args, "--epochs").and_then(|v| v.parse().ok()) {
                cfg.epochs = v;
            }
            if let Some(v) = arg(&args, "--lr").and_then(|v| v.parse().ok()) {
                cfg.lr = v;
            }
            if let Some(v) = arg(&args, "--l2").and_then(|v| v.parse().ok()) {
                cfg.l2 = v;
            }
            if let Some(v) = arg(&args, "--pos-weight").and_then(|v| v.parse().ok()) {
                cfg.pos_weight = v;
            }
            if let Some(v) = arg(&args, "--windows").and_then(|v| v.parse().ok()) {
                cfg.windows = v;
            }
            if let Some(v) = arg(&args, "--bits").and_then(|v| v.parse().ok()) {
                cfg.features.bits = v;
            }
            let augment: Vec<PathBuf> = arg(&args, "--augment").map(PathBuf::from).into_iter().collect();
            train::run_train(
                &PathBuf::from(arg(&args, "--train").unwrap_or_default()),
                &augment,
                &PathBuf::from(arg(&args, "--dev").unwrap_or_default()),
                &PathBuf::from(arg(&args, "--out").unwrap_or_default()),
                cfg,
            )
            .map(|r| print!("{r}"))
        }
        Some("score") => {
            let scanner = match arg(&args, "--model") {
                Some(p) => std::fs::read(p)
                    .map_err(|e| e.to_string())
                    .and_then(|b| InjectionScanner::from_model_bytes(&b).map_err(|e| e.to_string())),
                None => InjectionScanner::new().map_err(|e| e.to_string()),
            };
            scanner.and_then(|s| {
                let stdin = std::io::stdin();
                let stdout = std::io::stdout();
                train::score_jsonl(&s, stdin.lock(), std::io::BufWriter::new(stdout.lock())).map(|_| ())
            })
        }
        _ => Err("usage: guard train --train F --augment F --dev F --out F | guard score [--model F] < jsonl".into()),
    };
    match res {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
