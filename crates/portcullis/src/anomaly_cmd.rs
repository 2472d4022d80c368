//! `portcullis anomaly simulate|replay|eval`: the detector offline, on the same code the
//! gateway runs.

use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use portcullis_anomaly::config::{AnomalyConfig, RawAnomalyConfig};
use portcullis_anomaly::eval;
use portcullis_anomaly::replay::replay;
use portcullis_anomaly::sim::{SimConfig, Simulation};

/// `portcullis anomaly ...`
#[derive(Subcommand)]
pub enum AnomalyCommand {
    /// Write a week of simulated traffic with labelled attack scenarios.
    Simulate {
        /// The seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Principals.
        #[arg(long, default_value_t = 300)]
        principals: usize,
        /// Days.
        #[arg(long, default_value_t = 7)]
        days: u32,
        /// Events, JSON Lines.
        #[arg(long)]
        out: PathBuf,
        /// Scenario labels, JSON Lines.
        #[arg(long)]
        labels: PathBuf,
    },
    /// Read request events (JSON Lines) on stdin, write alerts (JSON Lines) on stdout.
    Replay {
        /// A file with an `[anomaly]` section (the gateway's config will do); defaults
        /// when absent.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Simulate and replay several seeds; print the per-scenario table.
    Eval {
        /// Seeds: `1,2,3` or `101-105`.
        #[arg(long)]
        seeds: String,
        /// A file with an `[anomaly]` section.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Principals per run.
        #[arg(long, default_value_t = 300)]
        principals: usize,
        /// Days per run.
        #[arg(long, default_value_t = 7)]
        days: u32,
        /// Also write every run's results as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Score an alert file against a label file (for alerts made by `replay`).
    Score {
        /// Labels from `simulate`.
        #[arg(long)]
        labels: PathBuf,
        /// Alerts from `replay`.
        #[arg(long)]
        alerts: PathBuf,
        /// Principal-days of the traffic.
        #[arg(long, default_value_t = 2100.0)]
        principal_days: f64,
    },
}

/// Reads the `[anomaly]` section of a TOML file (other sections are ignored).
pub fn load_config(path: Option<&Path>) -> Result<AnomalyConfig> {
    let Some(path) = path else {
        return Ok(AnomalyConfig::default());
    };
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(default)]
        anomaly: RawAnomalyConfig,
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let f: File = toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    f.anomaly
        .validate(&|p| base.join(p))
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn parse_seeds(s: &str) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u64, u64) = (a.parse()?, b.parse()?);
                if b < a || b - a > 1000 {
                    bail!("bad seed range `{part}`");
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().with_context(|| format!("bad seed `{part}`"))?),
        }
    }
    if out.is_empty() {
        bail!("no seeds");
    }
    Ok(out)
}

fn create(path: &Path) -> Result<BufWriter<std::fs::File>> {
    Ok(BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    ))
}

/// Runs an `anomaly` subcommand.
pub fn run(cmd: AnomalyCommand) -> Result<()> {
    match cmd {
        AnomalyCommand::Simulate {
            seed,
            principals,
            days,
            out,
            labels,
        } => {
            let s = Simulation::generate(SimConfig {
                seed,
                principals,
                days,
                ..SimConfig::default()
            });
            s.write_events(create(&out)?)?;
            s.write_labels(create(&labels)?)?;
            eprintln!(
                "{} events, {} principals, {} days, {} scenarios",
                s.len(),
                s.principals,
                s.days,
                s.labels.len()
            );
            Ok(())
        }
        AnomalyCommand::Replay { config } => {
            let cfg = load_config(config.as_deref())?;
            let stdin = std::io::stdin().lock();
            let stdout = std::io::stdout().lock();
            let t = std::time::Instant::now();
            let stats = replay(
                &cfg.detector,
                BufReader::with_capacity(1 << 20, stdin),
                BufWriter::with_capacity(1 << 16, stdout),
            )?;
            let secs = t.elapsed().as_secs_f64();
            eprintln!(
                "{} events, {} alerts in {secs:.2} s ({:.0} events/s)",
                stats.events,
                stats.alerts,
                stats.events as f64 / secs.max(1e-9)
            );
            Ok(())
        }
        AnomalyCommand::Eval {
            seeds,
            config,
            principals,
            days,
            json,
        } => {
            let cfg = load_config(config.as_deref())?;
            let mut runs = Vec::new();
            for seed in parse_seeds(&seeds)? {
                let (r, _) = eval::run(
                    SimConfig {
                        seed,
                        principals,
                        days,
                        ..SimConfig::default()
                    },
                    &cfg.detector,
                );
                runs.push((seed, r));
            }
            if let Some(p) = json {
                serde_json::to_writer_pretty(create(&p)?, &runs)?;
            }
            print!("{}", eval::table(&runs));
            Ok(())
        }
        AnomalyCommand::Score {
            labels,
            alerts,
            principal_days,
        } => {
            let read = |p: &Path| -> Result<String> {
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
            };
            let labels: Vec<portcullis_anomaly::sim::Label> = read(&labels)?
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(serde_json::from_str)
                .collect::<Result<_, _>>()
                .context("labels")?;
            let alerts: Vec<portcullis_anomaly::Alert> = read(&alerts)?
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(serde_json::from_str)
                .collect::<Result<_, _>>()
                .context("alerts")?;
            let r = eval::score(&labels, &alerts, principal_days, 0);
            print!("{}", eval::table(&[(0, r)]));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds() {
        assert_eq!(parse_seeds("1,2, 5-7").unwrap(), vec![1, 2, 5, 6, 7]);
        assert!(parse_seeds("7-5").is_err());
        assert!(parse_seeds("x").is_err());
    }
}
