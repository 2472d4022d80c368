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
            if let Some(v) = arg(&args, "--balance").and_then(|v| v.parse().ok()) {
                cfg.balance = v;
            }
            if let Some(v) = arg(&args, "--attack-windows").and_then(|v| v.parse().ok()) {
                cfg.attack_windows = v;
            }
            if let Some(v) = arg(&args, "--ngram-min").and_then(|v| v.parse().ok()) {
                cfg.features.ngram_min = v;
            }
            if let Some(v) = arg(&args, "--ngram-max").and_then(|v| v.parse().ok()) {
                cfg.features.ngram_max = v;
            }
            if let Some(v) = arg(&args, "--seed").and_then(|v| v.parse().ok()) {
                cfg.seed = v;
            }
            if let Some(v) = arg(&args, "--dim").and_then(|v| v.parse().ok()) {
                cfg.dim = v;
            }
            if let Some(v) = arg(&args, "--hidden").and_then(|v| v.parse().ok()) {
                cfg.hidden = v;
            }
            if let Some(v) = arg(&args, "--deep-lr").and_then(|v| v.parse().ok()) {
                cfg.deep_lr = v;
            }
            if let Some(v) = arg(&args, "--segments").and_then(|v| v.parse().ok()) {
                cfg.segments = v;
            }
            if let Some(v) = arg(&args, "--folds").and_then(|v| v.parse().ok()) {
                cfg.folds = v;
            }
            if let Some(v) = arg(&args, "--harmful").and_then(|v| v.parse().ok()) {
                cfg.harmful = v;
            }
            if let Some(v) = arg(&args, "--bag").and_then(|v| v.parse().ok()) {
                cfg.bag = v;
            }
            if let Some(v) = arg(&args, "--avg-last").and_then(|v| v.parse().ok()) {
                cfg.avg_last = v;
            }
            if let Some(v) = arg(&args, "--nb").and_then(|v| v.parse().ok()) {
                cfg.nb = v;
            }
            if let Some(v) = arg(&args, "--bits").and_then(|v| v.parse().ok()) {
                cfg.features.bits = v;
            }
            if let Some(v) = arg(&args, "--top-push").and_then(|v| v.parse().ok()) {
                cfg.top_push = v;
            }
            if let Some(v) = arg(&args, "--top-push-pos").and_then(|v| v.parse().ok()) {
                cfg.top_push_pos = v;
            }
            if let Some(v) = arg(&args, "--top-frac").and_then(|v| v.parse().ok()) {
                cfg.top_frac = v;
            }
            if let Some(v) = arg(&args, "--top-from").and_then(|v| v.parse().ok()) {
                cfg.top_from = v;
            }
            if let Some(v) = arg(&args, "--top-push-seg").and_then(|v| v.parse().ok()) {
                cfg.top_push_seg = v;
            }
            if let Some(v) = arg(&args, "--top-push-comb").and_then(|v| v.parse().ok()) {
                cfg.top_push_comb = v;
            }
            // `--augment F` may repeat.
            let augment: Vec<PathBuf> = args
                .windows(2)
                .filter(|w| w[0] == "--augment")
                .map(|w| PathBuf::from(&w[1]))
                .collect();
            if let Some(oof) = arg(&args, "--oof") {
                // Also write the combiner's out-of-fold inputs (for analysis).
                return match train_with_oof(&args, &augment, cfg, &oof) {
                    Ok(()) => std::process::ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("error: {e}");
                        std::process::ExitCode::FAILURE
                    }
                };
            }
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
        Some("time") => time_stages(),
        Some("features") => features(arg(&args, "--model")),
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

/// `train` that also writes the combiner's out-of-fold inputs as JSONL `{"x", "y"}`.
fn train_with_oof(
    args: &[String],
    augment: &[PathBuf],
    cfg: train::TrainConfig,
    oof: &str,
) -> Result<(), String> {
    use std::io::Write;
    let (mut rows, h) =
        train::load_jsonl(&PathBuf::from(arg(args, "--train").unwrap_or_default()))?;
    let mut parts = vec![h];
    for a in augment {
        let (more, h) = train::load_jsonl(a)?;
        rows.extend(more);
        parts.push(h);
    }
    let (dev, h) = train::load_jsonl(&PathBuf::from(arg(args, "--dev").unwrap_or_default()))?;
    parts.push(h);
    let o = train::train(&rows, &dev, cfg, &parts).map_err(|e| e.to_string())?;
    std::fs::write(arg(args, "--out").unwrap_or_default(), &o.bytes).map_err(|e| e.to_string())?;
    print!("{}", o.report);
    let mut f = std::io::BufWriter::new(std::fs::File::create(oof).map_err(|e| e.to_string())?);
    for (x, y) in &o.oof {
        writeln!(f, "{}", serde_json::json!({"x": x, "y": y})).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Prints the combiner's inputs per JSONL row (`{"id", "x": [...]}`), for analysis.
fn features(model: Option<String>) -> Result<(), String> {
    use std::io::{BufRead, Write};
    let s = match model {
        Some(p) => {
            InjectionScanner::from_model_bytes(&std::fs::read(p).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?
        }
        None => InjectionScanner::new().map_err(|e| e.to_string())?,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| e.to_string())?;
        let v: serde_json::Value = serde_json::from_str(&line).map_err(|e| e.to_string())?;
        let text = v.get("text").and_then(|t| t.as_str()).unwrap_or_default();
        let x = s.comb_inputs(text);
        let o = serde_json::json!({"id": v.get("id"), "x": x});
        writeln!(out, "{o}").map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Rough per-stage latency on a 1 KB and a 16 KB prompt (criterion has the real numbers).
fn time_stages() -> Result<(), String> {
    use portcullis_guard::injection::{features, rules::Rules};
    use portcullis_guard::normalize::normalize_text;
    let s = InjectionScanner::new().map_err(|e| e.to_string())?;
    let rules = Rules::new().map_err(|e| e.to_string())?;
    let unit = "Could you summarize the attached quarterly report for the board? Revenue grew 12% \
                year over year, driven by the EMEA region; churn fell to 3.1%. Les chiffres \
                sont en euros. Please keep it under 200 words and mention the hiring plan. ";
    for len in [1024usize, 16384] {
        let mut t = String::new();
        while t.len() < len {
            t.push_str(unit);
        }
        t.truncate(len);
        let iters = 200_000 / (len / 64);
        let time = |f: &mut dyn FnMut()| {
            let st = std::time::Instant::now();
            for _ in 0..iters {
                f();
            }
            st.elapsed().as_secs_f64() * 1e6 / iters as f64
        };
        let n = normalize_text(&t);
        let mut hits = Vec::new();
        let tn = time(&mut || {
            std::hint::black_box(normalize_text(std::hint::black_box(&t)));
        });
        let tr = time(&mut || {
            hits.clear();
            rules.scan(&n.text, n.main_len, &mut hits);
        });
        let tf = time(&mut || {
            let mut acc = 0u32;
            features::for_each(&n.text, s.model().cfg, |k, _| acc ^= k);
            std::hint::black_box(acc);
        });
        let ts = time(&mut || {
            std::hint::black_box(s.scan(std::hint::black_box(&t)));
        });
        println!(
            "{len} B: normalize {tn:.1} us, rules {tr:.1} us, features {tf:.1} us, scan {ts:.1} us"
        );
    }
    Ok(())
}
