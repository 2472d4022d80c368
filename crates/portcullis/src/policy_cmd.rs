//! `portcullis policy ...`: signed policy bundles over the gateway's database.
//!
//! The approver set and k are the configuration's `[integrity]` section, the same the
//! gateway re-verifies a bundle with before it enforces it. Every change is appended to
//! the audit log (when `[audit]` is configured) as a `policy_bundle_changed` event.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use portcullis_audit::EventKind;
use portcullis_core::config::Config;
use portcullis_integrity::policy_bundle::{diff, BundleState, BundleStore, StoredBundle};
use portcullis_integrity::registry::ApprovalPolicy;
use portcullis_server::state::unix_now;

use crate::cli::{audit_control, load, open_store};

/// `portcullis policy ...`.
#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Store the `.cedar` files (and `guards.toml`) of a directory as the next version.
    Propose {
        #[arg(long, short)]
        config: PathBuf,
        /// The directory with the policies.
        #[arg(long)]
        dir: PathBuf,
        /// Why (e.g. a change ticket).
        #[arg(long, default_value = "")]
        note: String,
        /// Who proposes it (default: the OS user).
        #[arg(long)]
        by: Option<String>,
    },
    /// Approve a version with an approver's key (`portcullis audit keygen` format), or
    /// submit an approval signed elsewhere (`policy approval-sign`).
    Approve {
        #[arg(long, short)]
        config: PathBuf,
        /// The version.
        version: u64,
        /// The approver's private key file.
        #[arg(long, conflicts_with = "approval")]
        key: Option<PathBuf>,
        /// A signed approval note.
        #[arg(long)]
        approval: Option<PathBuf>,
    },
    /// Sign an approval offline: reads the bundle's canonical JSON (`policy show
    /// --bundle`), writes a signed note to submit with `approve --approval` or the admin
    /// API.
    ApprovalSign {
        /// The bundle's canonical JSON.
        #[arg(long)]
        bundle: PathBuf,
        /// The approver's private key file.
        #[arg(long)]
        key: PathBuf,
        /// Where to write the approval.
        #[arg(long)]
        out: PathBuf,
    },
    /// Make an approved version the one the gateway enforces.
    Activate {
        #[arg(long, short)]
        config: PathBuf,
        /// The version.
        version: u64,
    },
    /// Activate an earlier approved version (default: the newest before the active one).
    Rollback {
        #[arg(long, short)]
        config: PathBuf,
        /// The version to go back to.
        #[arg(long)]
        to: Option<u64>,
    },
    /// A unified diff between two versions.
    Diff {
        #[arg(long, short)]
        config: PathBuf,
        /// The older version.
        from: u64,
        /// The newer version.
        to: u64,
    },
    /// List versions and their states.
    List {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Show a version: files, digest, state and which approvals verify.
    Show {
        #[arg(long, short)]
        config: PathBuf,
        /// The version.
        version: u64,
        /// Print only the canonical JSON (what approvers sign).
        #[arg(long)]
        bundle: bool,
    },
}

struct Ctx {
    config: Config,
    bundles: BundleStore,
}

impl Ctx {
    fn open(path: &std::path::Path) -> Result<Self> {
        let mut config = load(path)?;
        // Opened as the gateway opens it (creating the private data directory).
        config.policy_source = portcullis_core::config::PolicySource::Bundle;
        let bundles = portcullis_server::bundles::open_store(&config)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .context("policy bundle store")?
            .into_inner();
        Ok(Self { config, bundles })
    }

    fn approvers(&self) -> Result<ApprovalPolicy> {
        let Some(ic) = &self.config.integrity else {
            bail!("policy bundles need an [integrity] section (approvers_file, threshold) in the configuration");
        };
        portcullis_server::integrity::approval_policy(ic).map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// Appends the change to the audit log.
    fn record(&self, action: &str, b: &StoredBundle) -> Result<()> {
        let store = open_store(&self.config)?;
        audit_control(
            &self.config,
            &*store,
            EventKind::PolicyBundleChanged,
            action,
            &format!("bundle v{} sha256:{}", b.bundle.version, b.digest),
        )
    }
}

/// Runs a `policy` subcommand.
pub fn run(command: PolicyCommand) -> Result<()> {
    let now = unix_now();
    match command {
        PolicyCommand::Propose {
            config,
            dir,
            note,
            by,
        } => {
            let mut c = Ctx::open(&config)?;
            let by =
                by.unwrap_or_else(|| std::env::var("USER").unwrap_or_else(|_| "unknown".into()));
            let b = c.bundles.propose(&dir, &by, &note, now)?;
            // Refuse now what the gateway would refuse later: policies that do not
            // validate against the schema and models, a guards.toml that does not parse.
            let sources = b.bundle.policies();
            portcullis_core::policy::PolicyEngine::from_sources(&sources, &c.config.models)
                .map_err(|e| {
                    anyhow::anyhow!(
                        "{e} (version {} is stored but will not load)",
                        b.bundle.version
                    )
                })?;
            if let Some(g) = b.bundle.guards_toml() {
                portcullis_core::config::parse_guards_toml(
                    &dir.join(portcullis_integrity::policy_bundle::GUARDS_FILE),
                    g,
                    &c.config.models,
                )
                .map_err(|e| {
                    anyhow::anyhow!(
                        "{e} (version {} is stored but will not load)",
                        b.bundle.version
                    )
                })?;
            }
            c.record("policy.propose", &b)?;
            println!(
                "proposed version {} ({} files), sha256:{}",
                b.bundle.version,
                b.bundle.files.len(),
                b.digest
            );
        }
        PolicyCommand::Approve {
            config,
            version,
            key,
            approval,
        } => {
            let mut c = Ctx::open(&config)?;
            let policy = c.approvers()?;
            let state = match (key, approval) {
                (Some(key), _) => {
                    let signer = portcullis_server::audit::read_signing_key(&key)
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    c.bundles.approve(version, &signer, &policy, now)?
                }
                (None, Some(note)) => {
                    let text = std::fs::read_to_string(&note)
                        .with_context(|| format!("reading {}", note.display()))?;
                    c.bundles.submit_approval(version, &text, &policy, now)?
                }
                (None, None) => bail!("give --key or --approval"),
            };
            let b = c.bundles.get(version)?;
            c.record("policy.approve", &b)?;
            let have = BundleStore::valid_approvers(&b, &policy);
            println!(
                "version {version}: approved by {} ({} of {} needed); now {}",
                have.join(", "),
                have.len(),
                policy.threshold(),
                state.as_str()
            );
        }
        PolicyCommand::ApprovalSign { bundle, key, out } => {
            let text = std::fs::read_to_string(&bundle)
                .with_context(|| format!("reading {}", bundle.display()))?;
            let b = portcullis_integrity::policy_bundle::PolicyBundle::parse_canonical(
                text.trim_end_matches('\n'),
            )
            .with_context(|| format!("{} is not a canonical policy bundle", bundle.display()))?;
            let signer = portcullis_server::audit::read_signing_key(&key)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let note = signer
                .sign(&portcullis_integrity::policy_bundle::approval_text(&b))
                .map_err(|e| anyhow::anyhow!("signing: {e}"))?;
            std::fs::write(&out, note).with_context(|| format!("writing {}", out.display()))?;
            println!(
                "approval of policy bundle v{} (sha256:{}) by {} written to {}",
                b.version,
                b.digest(),
                signer.name(),
                out.display()
            );
        }
        PolicyCommand::Activate { config, version } => {
            let mut c = Ctx::open(&config)?;
            let policy = c.approvers()?;
            let b = c.bundles.activate(version, &policy, now)?;
            c.record("policy.activate", &b)?;
            println!("version {version} is active; gateways with [policy] source = \"bundle\" load it within a second");
        }
        PolicyCommand::Rollback { config, to } => {
            let mut c = Ctx::open(&config)?;
            let policy = c.approvers()?;
            let b = c.bundles.rollback(to, &policy, now)?;
            c.record("policy.rollback", &b)?;
            println!("rolled back: version {} is active", b.bundle.version);
        }
        PolicyCommand::Diff { config, from, to } => {
            let c = Ctx::open(&config)?;
            let (a, b) = (c.bundles.get(from)?, c.bundles.get(to)?);
            print!("{}", diff(&a.bundle, &b.bundle));
        }
        PolicyCommand::List { config } => {
            let c = Ctx::open(&config)?;
            for (v, state, digest) in c.bundles.list()? {
                println!("{v}\t{state}\tsha256:{digest}");
            }
        }
        PolicyCommand::Show {
            config,
            version,
            bundle,
        } => {
            let c = Ctx::open(&config)?;
            let b = c.bundles.get(version)?;
            if bundle {
                println!("{}", b.bundle.canonical_json());
                return Ok(());
            }
            let valid = match c.approvers() {
                Ok(p) => BundleStore::valid_approvers(&b, &p),
                Err(_) => Vec::new(),
            };
            println!("version {version}: {}", b.state.as_str());
            println!("sha256:{}", b.digest);
            println!(
                "proposed by {} at {}: {}",
                b.bundle.proposed_by, b.bundle.proposed_at, b.bundle.note
            );
            for f in &b.bundle.files {
                println!("file {} ({} bytes)", f.name, f.text.len());
            }
            for (approver, _) in &b.approvals {
                let ok = if valid.contains(approver) {
                    "verifies"
                } else {
                    "does NOT verify"
                };
                println!("approval by {approver}: {ok}");
            }
            if b.state == BundleState::Proposed && valid.is_empty() && !b.approvals.is_empty() {
                println!("(no approval verifies under the configured approvers)");
            }
        }
    }
    Ok(())
}
