//! `portcullis incidents list|show|ack|release|resolve`: anomaly incidents in the
//! gateway's database. A running gateway picks up a release or resolve within a second.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use portcullis_core::config::{Config, ProcessEnv};
use portcullis_server::anomaly::{open_incidents, operate, IncidentStore, Operation};

/// `portcullis incidents ...`
#[derive(Subcommand)]
pub enum IncidentsCommand {
    /// Incidents whose containment may be in force (open, acknowledged); `--all` for every one.
    List {
        #[arg(long, short)]
        config: PathBuf,
        /// Include released and resolved incidents.
        #[arg(long)]
        all: bool,
    },
    /// One incident with its timeline, as JSON.
    Show {
        #[arg(long, short)]
        config: PathBuf,
        /// The incident id (`inc_...`).
        id: String,
    },
    /// Acknowledge: seen and being handled; the containment stays.
    Ack {
        #[arg(long, short)]
        config: PathBuf,
        id: String,
        /// Who (default: $USER).
        #[arg(long)]
        by: Option<String>,
        /// A note for the timeline.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Release: lift the containment (quarantine, throttle, step-up).
    Release {
        #[arg(long, short)]
        config: PathBuf,
        id: String,
        #[arg(long)]
        by: Option<String>,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Resolve: close the incident (and lift any containment).
    Resolve {
        #[arg(long, short)]
        config: PathBuf,
        id: String,
        #[arg(long)]
        by: Option<String>,
        #[arg(long, default_value = "")]
        note: String,
    },
}

fn open(config: &std::path::Path) -> Result<std::sync::Arc<dyn IncidentStore>> {
    let c = Config::load(config, &ProcessEnv).map_err(|e| anyhow::anyhow!("{e}"))?;
    open_incidents(&c)
        .map_err(anyhow::Error::msg)
        .context("opening the incident store")
}

fn operator(by: Option<String>) -> String {
    by.or_else(|| std::env::var("USER").ok())
        .filter(|s| !s.is_empty())
        .map_or_else(|| "cli".to_string(), |u| format!("cli:{u}"))
}

fn now_ms() -> i64 {
    portcullis_server::state::unix_now_ms()
}

/// Runs an `incidents` subcommand.
pub fn run(cmd: IncidentsCommand) -> Result<()> {
    let (config, id, op, by, note) = match cmd {
        IncidentsCommand::List { config, all } => {
            let s = open(&config)?;
            println!("ID\tSTATUS\tACTION\tSEVERITY\tSUBJECT\tKIND\tOPENED_MS\tUNTIL_MS");
            for i in s.list(all)? {
                println!(
                    "{}\t{}\t{}\t{}\t{}:{}\t{}\t{}\t{}",
                    i.id,
                    i.status.as_str(),
                    i.action,
                    i.severity,
                    i.subject_kind,
                    i.subject,
                    i.kind,
                    i.opened_ms,
                    i.until_ms.map_or("-".into(), |u| u.to_string())
                );
            }
            return Ok(());
        }
        IncidentsCommand::Show { config, id } => {
            let s = open(&config)?;
            let i = s
                .get(&id)?
                .ok_or_else(|| anyhow::anyhow!("no incident `{id}`"))?;
            println!("{}", serde_json::to_string_pretty(&i)?);
            return Ok(());
        }
        IncidentsCommand::Ack {
            config,
            id,
            by,
            note,
        } => (config, id, Operation::Ack, by, note),
        IncidentsCommand::Release {
            config,
            id,
            by,
            note,
        } => (config, id, Operation::Release, by, note),
        IncidentsCommand::Resolve {
            config,
            id,
            by,
            note,
        } => (config, id, Operation::Resolve, by, note),
    };
    let s = open(&config)?;
    let i = operate(&*s, &id, op, &operator(by), &note, now_ms())?;
    println!("{} {}", i.id, i.status.as_str());
    Ok(())
}
