//! `portcullis scan` and `portcullis guard train|score`: the guards outside the gateway.
//!
//! `scan` runs the same code as the gateway's input guards ([`portcullis_guard::Guards`]
//! with a [`portcullis_guard::GuardPolicy`] built from the configuration, or the
//! defaults) over JSON Lines and prints one verdict per line. `guard train` rebuilds the
//! shipped injection classifier from labeled data; `guard score` prints its raw scores.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use portcullis_core::config::Config;
use portcullis_guard::action::Action;
use portcullis_guard::injection::train::{run_train, score_jsonl, TrainConfig};
use portcullis_guard::{GuardPolicy, Guards};
use serde_json::{json, Value};

/// `portcullis guard ...`.
#[derive(Subcommand)]
pub enum GuardCommand {
    /// Train the injection/jailbreak classifier and write the model file.
    Train {
        /// Training rows (JSON Lines with `text` and `label`).
        #[arg(long)]
        train: PathBuf,
        /// Extra training rows (augmentation); may repeat.
        #[arg(long)]
        augment: Vec<PathBuf>,
        /// Rows for choosing the decision thresholds (never the test split).
        #[arg(long)]
        dev: PathBuf,
        /// Where to write the model.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print `{"id", "injection", "jailbreak"}` per input line (classifier scores only).
    Score,
}

/// Runs `portcullis guard ...`.
pub fn guard(cmd: GuardCommand) -> Result<()> {
    match cmd {
        GuardCommand::Train {
            train,
            augment,
            dev,
            out,
        } => {
            let report = run_train(&train, &augment, &dev, &out, TrainConfig::default())
                .map_err(|e| anyhow::anyhow!("training failed: {e}"))?;
            println!("{report}");
            Ok(())
        }
        GuardCommand::Score => {
            let scanner = portcullis_guard::injection::InjectionScanner::new()?;
            let stdin = std::io::stdin();
            let stdout = std::io::stdout();
            score_jsonl(
                &scanner,
                stdin.lock(),
                std::io::BufWriter::new(stdout.lock()),
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok(())
        }
    }
}

/// Runs `portcullis scan`.
pub fn scan(config: Option<&Path>, profile: &str, load: fn(&Path) -> Result<Config>) -> Result<()> {
    let (guards, policy) = match config {
        None => {
            let g = Guards::new()?;
            let p = GuardPolicy::defaults(g.injection().thresholds());
            (std::sync::Arc::new(g), p)
        }
        Some(path) => {
            let config = load(path)?;
            let engine = portcullis_server::guards::GuardEngine::new(&config)
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .with_context(|| format!("{}: every guard profile is disabled", path.display()))?;
            let policy = engine
                .policy(profile)
                .with_context(|| format!("guard profile `{profile}` is missing or disabled"))?;
            (engine.guards().clone(), (**policy).clone())
        }
    };
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for (n, line) in stdin.lock().lines().enumerate() {
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line)
            .with_context(|| format!("stdin line {}: not JSON", n + 1))?;
        let text = v
            .get("text")
            .and_then(Value::as_str)
            .with_context(|| format!("stdin line {}: no string field `text`", n + 1))?;
        let id = v.get("id").cloned().unwrap_or(Value::Null);
        let scan = guards.scan_text(text, policy.injection_threshold, policy.jailbreak_threshold);
        // The verdict is the strongest configured action among the findings.
        let strongest = scan
            .findings
            .iter()
            .map(|f| policy.input.get(f.kind))
            .max_by_key(|a| a.severity());
        let action = match strongest {
            Some(Action::Block) => "block",
            Some(Action::Redact | Action::Pseudonymize) => "redact",
            Some(Action::Log) | None => "allow",
        };
        let findings: Vec<Value> = scan
            .findings
            .iter()
            .map(|f| {
                let mut o = json!({"type": f.kind.as_str(), "start": f.start, "end": f.end, "score": f.score});
                if let Some(s) = f.subtype {
                    o["subtype"] = json!(s);
                }
                o
            })
            .collect();
        let row = json!({
            "id": id,
            "action": action,
            "scores": {"injection": scan.scores.injection, "jailbreak": scan.scores.jailbreak},
            "findings": findings,
        });
        writeln!(out, "{row}")?;
    }
    out.flush()?;
    Ok(())
}
