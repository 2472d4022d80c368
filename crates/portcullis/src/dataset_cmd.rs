//! `portcullis dataset ...`: the training-data poisoning scanner (issue 9).
//!
//! * `scan` checks a dataset and writes the JSON report, optionally a clean copy and a
//!   signed manifest; it prints a summary and exits 0 when clean, 2 when something at or
//!   above the threshold was found (or a record could not be read), 1 on errors.
//! * `keygen` makes an Ed25519 signing key in the audit log's key format.
//! * `verify-manifest` checks a manifest's signature, and optionally that a file is the
//!   dataset it covers and that the scan was clean.
//! * `poison` plants poison in a clean dataset for benchmarks and writes the truth.
//!
//! The work is in [`portcullis_dataset`]; this module only parses arguments and handles
//! files and exit codes.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use portcullis_audit::note::{NoteSigner, NoteVerifier};
use portcullis_dataset::manifest::Manifest;
use portcullis_dataset::poison::{PoisonConfig, PoisonType};
use portcullis_dataset::{FindingType, Format, ScanConfig, Scanner};

/// `portcullis dataset ...`.
#[derive(Subcommand)]
pub enum DatasetCommand {
    /// Scan a dataset for poisoning; exit status 2 when anything is found.
    Scan {
        /// The dataset (JSON Lines or CSV).
        file: PathBuf,
        /// Where to write the JSON report.
        #[arg(long)]
        report: PathBuf,
        /// Write the records without findings here.
        #[arg(long)]
        clean: Option<PathBuf>,
        /// In the clean file, keep records whose only findings are PII, secrets or
        /// invisible characters, with those redacted.
        #[arg(long, requires = "clean")]
        redact: bool,
        /// chat, alpaca, classification or csv (default: detected).
        #[arg(long)]
        format: Option<String>,
        /// Report findings at or above this score (0..=1).
        #[arg(long, default_value_t = 0.5)]
        threshold: f32,
        /// Only these finding types (comma-separated, e.g. PII,SECRET).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// Also report person names as PII.
        #[arg(long)]
        person_names: bool,
        /// Longest line (record) in bytes; longer ones are reported and skipped.
        #[arg(long, default_value_t = portcullis_dataset::reader::DEFAULT_MAX_LINE)]
        max_line: usize,
        /// Worker threads (0: one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Ed25519 signing key (audit key format) for the manifest.
        #[arg(long, requires = "manifest")]
        sign_key: Option<PathBuf>,
        /// Where to write the signed manifest.
        #[arg(long, requires = "sign_key")]
        manifest: Option<PathBuf>,
        /// Top findings shown in the summary.
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// Label model: passes over the training folds.
        #[arg(long, default_value_t = portcullis_dataset::labels::LabelConfig::default().epochs)]
        label_epochs: usize,
        /// Label model: L2 penalty per step.
        #[arg(long, default_value_t = portcullis_dataset::labels::LabelConfig::default().l2)]
        label_l2: f32,
    },
    /// Make an Ed25519 signing key for manifests (written with mode 0600); prints the
    /// verifier key.
    Keygen {
        /// Where to write the signing key.
        #[arg(long)]
        out: PathBuf,
        /// Key name.
        #[arg(long, default_value = "portcullis-dataset")]
        name: String,
    },
    /// Verify a signed scan manifest.
    VerifyManifest {
        /// The signed manifest.
        manifest: PathBuf,
        /// The verifier key (`name+id+base64`), or a file holding it.
        #[arg(long)]
        vkey: String,
        /// Also check that this file is the scanned dataset.
        #[arg(long)]
        dataset: Option<PathBuf>,
        /// Also require that the scan was clean.
        #[arg(long)]
        require_clean: bool,
    },
    /// Plant poison in a clean dataset (benchmark generator).
    Poison {
        /// The clean dataset (alpaca, chat or classification JSON Lines).
        #[arg(long)]
        input: PathBuf,
        /// The poisoned dataset to write.
        #[arg(long)]
        out: PathBuf,
        /// The truth file to write: the poisoned lines and their types.
        #[arg(long)]
        truth: PathBuf,
        /// Share of records poisoned per type.
        #[arg(long, default_value_t = 0.01)]
        rate: f64,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Types to plant (comma-separated; default: every type that fits the format).
        #[arg(long, value_delimiter = ',')]
        types: Vec<String>,
        /// Label-flip mode (classification): flip this share of labels and nothing else.
        #[arg(long)]
        flip: Option<f64>,
    },
}

/// Runs a `dataset` subcommand.
pub fn run(command: DatasetCommand) -> Result<()> {
    match command {
        DatasetCommand::Scan {
            file,
            report,
            clean,
            redact,
            format,
            threshold,
            only,
            person_names,
            max_line,
            threads,
            sign_key,
            manifest,
            top,
            label_epochs,
            label_l2,
        } => {
            let format = match format {
                Some(f) => Some(Format::parse(&f).with_context(|| {
                    format!("unknown format {f:?} (chat, alpaca, classification, csv)")
                })?),
                None => None,
            };
            let only = only
                .iter()
                .map(|t| {
                    FindingType::parse(t).with_context(|| format!("unknown finding type {t:?}"))
                })
                .collect::<Result<Vec<_>>>()?;
            // Read the key before the scan: a bad key should not cost a whole scan.
            let signer = match &sign_key {
                Some(p) => {
                    let s = std::fs::read_to_string(p)
                        .with_context(|| format!("reading {}", p.display()))?;
                    Some(
                        NoteSigner::from_skey(s.trim())
                            .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
                    )
                }
                None => None,
            };
            let cfg = ScanConfig {
                format,
                threshold,
                max_line,
                threads,
                person_names,
                only,
                labels: portcullis_dataset::labels::LabelConfig {
                    epochs: label_epochs,
                    l2: label_l2,
                    ..Default::default()
                },
                ..ScanConfig::default()
            };
            let built = std::time::Instant::now();
            crate::keep_freed_memory();
            let scanner = Scanner::new(cfg)?;
            let build_secs = built.elapsed().as_secs_f64();
            let out = scanner.scan_path(&file)?;
            let json = serde_json::to_string_pretty(&out.report)?;
            std::fs::write(&report, json + "\n")
                .with_context(|| format!("writing {}", report.display()))?;
            print!("{}", out.report.human(top));
            println!(
                "{:.2} s, {:.0} records/s (detectors built in {:.2} s; records {:.2} s, corpus {:.2} s, evidence {:.2} s); report: {}",
                out.seconds,
                out.report.records as f64 / out.seconds.max(1e-9),
                build_secs,
                out.phases.records,
                out.phases.corpus,
                out.phases.evidence,
                report.display()
            );
            if let Some(c) = &clean {
                let (kept, dropped) =
                    scanner.write_clean(&file, out.format, &out.report, c, redact)?;
                println!(
                    "clean file: {} ({kept} records kept, {dropped} dropped)",
                    c.display()
                );
            }
            if let (Some(signer), Some(m)) = (signer, &manifest) {
                let note = Manifest::from_scan(&file, &out, scanner.config())?.sign(&signer)?;
                std::fs::write(m, note).with_context(|| format!("writing {}", m.display()))?;
                println!("signed manifest: {} (key {})", m.display(), signer.name());
            }
            if !out.report.is_clean() {
                std::process::exit(2);
            }
            Ok(())
        }
        DatasetCommand::Keygen { out, name } => crate::cli::note_keygen(&out, &name),
        DatasetCommand::VerifyManifest {
            manifest,
            vkey,
            dataset,
            require_clean,
        } => {
            let vkey = match std::fs::read_to_string(&vkey) {
                Ok(s) => s.trim().to_string(),
                Err(_) => vkey,
            };
            let verifier =
                NoteVerifier::from_vkey(&vkey).map_err(|e| anyhow::anyhow!("verifier key: {e}"))?;
            let note = std::fs::read_to_string(&manifest)
                .with_context(|| format!("reading {}", manifest.display()))?;
            let m = Manifest::verify(&note, &verifier)?;
            if let Some(d) = &dataset {
                m.check_file(d)?;
            }
            if require_clean && !m.clean {
                bail!(
                    "the scan of {} ({}) was not clean: {}",
                    m.dataset.name,
                    m.dataset.sha256,
                    m.summary
                );
            }
            println!(
                "ok: {} sha256 {} scanned by {}; clean: {}{}",
                m.dataset.name,
                m.dataset.sha256,
                m.scanner,
                m.clean,
                if dataset.is_some() {
                    "; file matches"
                } else {
                    ""
                }
            );
            Ok(())
        }
        DatasetCommand::Poison {
            input,
            out,
            truth,
            rate,
            seed,
            types,
            flip,
        } => {
            let types = types
                .iter()
                .map(|t| PoisonType::parse(t).with_context(|| format!("unknown poison type {t:?}")))
                .collect::<Result<Vec<_>>>()?;
            let cfg = PoisonConfig {
                rate,
                seed,
                types,
                flip,
            };
            let t = portcullis_dataset::poison::poison_file(&input, &out, &cfg)?;
            let json = serde_json::to_string_pretty(&t)?;
            std::fs::write(&truth, json + "\n")
                .with_context(|| format!("writing {}", truth.display()))?;
            println!(
                "{} records in, {} out, {} poisoned ({}); truth: {}",
                t.records_in,
                t.records_out,
                t.poisoned.len(),
                t.counts
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                truth.display()
            );
            Ok(())
        }
    }
}
