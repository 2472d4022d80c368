//! `portcullis model ...`: model signing and verification in the OpenSSF model-signing
//! format (interoperable with the Python `model_signing` CLI), and the model registry
//! with k-of-n approvals.
//!
//! Flag names follow the Python CLI where they overlap (`sign key`, `verify key`,
//! `--signature`, `--ignore-paths`); its underscore spellings (`--private_key`,
//! `--public_key`, `--allow_symlinks`) are accepted as aliases so scripts carry over.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use portcullis_audit::NoteSigner;
use portcullis_integrity::manifest::{HashOptions, Method};
use portcullis_integrity::registry::sqlite::SqliteRegistryStore;
use portcullis_integrity::registry::AnyRegistryStore;
use portcullis_integrity::registry::{
    approval_text, ApprovalPolicy, Artifacts, Listed, ModelRecord, Registry, DEFAULT_THRESHOLD,
};
use portcullis_integrity::signing::{model_relative, read_bundle};
use portcullis_integrity::{Curve, ModelPublicKey, ModelSigningKey, VerifyOptions};
use secrecy::{ExposeSecret as _, SecretString};

/// `portcullis model ...`.
#[derive(Subcommand)]
pub enum ModelCommand {
    /// Sign a model directory (or file); writes a Sigstore bundle.
    Sign {
        #[command(subcommand)]
        method: SignMethod,
    },
    /// Verify a model directory (or file) against a signature.
    Verify {
        #[command(subcommand)]
        method: VerifyMethod,
    },
    /// Propose a model version (local files with their signature, or a pinned remote
    /// model); it needs k approvals before it can be activated.
    Propose {
        /// Model name (what clients ask for).
        name: String,
        /// Version label (unique per name).
        version: String,
        #[command(flatten)]
        what: ProposeArgs,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Approve a proposed version with an approver key (`portcullis audit keygen`), or
    /// submit an approval signed elsewhere (`--approval`).
    Approve {
        /// Model name.
        name: String,
        /// Version.
        version: String,
        /// The approver's signing key file (`PRIVATE+KEY+<name>+...`).
        #[arg(
            long,
            required_unless_present = "approval",
            conflicts_with = "approval"
        )]
        key: Option<PathBuf>,
        /// A signed approval note (from `model approval-sign`).
        #[arg(long)]
        approval: Option<PathBuf>,
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Sign an approval offline: reads the record (`model show --record`) and writes the
    /// signed approval note, without touching the registry.
    ApprovalSign {
        /// The canonical record (JSON from `model show NAME VERSION --record`).
        #[arg(long)]
        record: PathBuf,
        /// The approver's signing key file.
        #[arg(long)]
        key: PathBuf,
        /// Where to write the approval note.
        #[arg(long)]
        out: PathBuf,
    },
    /// Put an approved version in service: re-checks its approvals and verifies its
    /// files against the recorded signature; retires the previously active version.
    Activate {
        /// Model name.
        name: String,
        /// Version.
        version: String,
        /// Trusted signer public keys (SPKI PEM); the one matching the record's signer
        /// key id is used. Needed for local models. May repeat.
        #[arg(long = "public-key", alias = "public_key")]
        public_keys: Vec<PathBuf>,
        /// Who is activating (recorded in the history).
        #[arg(long, default_value = "operator")]
        by: String,
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Take a version out of service for good.
    Retire {
        /// Model name.
        name: String,
        /// Version.
        version: String,
        /// Why (recorded in the history).
        #[arg(long, default_value = "retired by operator")]
        reason: String,
        /// Who is retiring it.
        #[arg(long, default_value = "operator")]
        by: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Re-verify every active version (run on a schedule); a version that fails is moved
    /// to `suspended`. Exits non-zero when any failed.
    Check {
        /// Trusted signer public keys (SPKI PEM). May repeat.
        #[arg(long = "public-key", alias = "public_key")]
        public_keys: Vec<PathBuf>,
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Print what the gateway may route NAME to (its active version), or why not.
    Route {
        /// Model name.
        name: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List versions and their states.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Show a version: record, state, approvals and history (JSON).
    Show {
        /// Model name.
        name: String,
        /// Version.
        version: String,
        /// Print only the canonical record (the bytes approvers sign).
        #[arg(long)]
        record: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Make an ECDSA key pair for signing models: the private key as PKCS#8 PEM (mode
    /// 0600) and the public key as SPKI PEM.
    Keygen {
        /// `p256` or `p384`.
        #[arg(long, default_value = "p256")]
        curve: Curve,
        /// Where to write the private key.
        #[arg(long)]
        out: PathBuf,
        /// Where to write the public key (default: OUT with `.pub` appended).
        #[arg(long)]
        public_out: Option<PathBuf>,
    },
}

/// How to sign.
#[derive(Subcommand)]
pub enum SignMethod {
    /// Sign with an ECDSA private key (P-256 or P-384, PKCS#8 or SEC1 PEM).
    Key {
        /// The model directory or file.
        model: PathBuf,
        /// The private key (PEM).
        #[arg(long = "private-key", alias = "private_key")]
        private_key: PathBuf,
        /// Where to write the signature.
        #[arg(long, default_value = "model.sig")]
        signature: PathBuf,
        #[command(flatten)]
        paths: PathArgs,
        /// Hash files in shards of this many bytes (`shards` serialization) instead of
        /// whole files. The Python CLI only verifies whole-file signatures.
        #[arg(long)]
        shard_size: Option<u64>,
    },
}

/// How to verify.
#[derive(Subcommand)]
pub enum VerifyMethod {
    /// Verify with the signer's ECDSA public key (SPKI PEM).
    Key {
        /// The model directory or file.
        model: PathBuf,
        /// The trusted public key (PEM).
        #[arg(long = "public-key", alias = "public_key")]
        public_key: PathBuf,
        /// The signature file.
        #[arg(long)]
        signature: PathBuf,
        #[command(flatten)]
        paths: PathArgs,
        /// Accept files the signature does not cover (signed files must still match).
        #[arg(long = "ignore-unsigned-files", alias = "ignore_unsigned_files")]
        ignore_unsigned_files: bool,
    },
}

/// Where the registry lives: the gateway's database.
#[derive(Args, Clone)]
#[group(required = true, multiple = false)]
pub struct DbArgs {
    /// The gateway configuration; the registry uses `<data_dir>/portcullis.db`.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// The database file directly.
    #[arg(long)]
    db: Option<PathBuf>,
}

/// Who may approve.
#[derive(Args, Clone)]
pub struct PolicyArgs {
    /// The approver set: one verifier key (`name+keyid+base64`, printed by `portcullis
    /// audit keygen`) per line.
    #[arg(long)]
    approvers: PathBuf,
    /// Distinct approvals needed (k). A single-operator setup sets 1 explicitly.
    #[arg(long, default_value_t = DEFAULT_THRESHOLD)]
    threshold: usize,
}

/// What is proposed.
#[derive(Args, Clone)]
pub struct ProposeArgs {
    /// Local model: the directory (or file); verified now against `--signature`.
    #[arg(long, requires_all = ["signature", "public_key"], conflicts_with_all = ["endpoint", "provider_model_id"])]
    model: Option<PathBuf>,
    /// The model's signature (from `model sign key` or Python `model_signing`).
    #[arg(long)]
    signature: Option<PathBuf>,
    /// The signer's public key (SPKI PEM).
    #[arg(long = "public-key", alias = "public_key")]
    public_key: Option<PathBuf>,
    /// Remote model: the upstream endpoint (base URL).
    #[arg(
        long,
        requires = "provider_model_id",
        required_unless_present = "model"
    )]
    endpoint: Option<String>,
    /// Remote model: the provider's pinned model id (a dated snapshot).
    #[arg(long)]
    provider_model_id: Option<String>,
    /// Where the artifacts came from (URL, registry reference).
    #[arg(long, default_value = "")]
    source: String,
    /// Provenance notes (training run, upstream release, review ticket).
    #[arg(long, default_value = "")]
    notes: String,
    /// Who proposes.
    #[arg(long, default_value = "operator")]
    by: String,
    /// How long the proposal may collect approvals.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "7d")]
    ttl: std::time::Duration,
}

/// Which files take part, as in the Python CLI.
#[derive(Args, Clone, Default)]
pub struct PathArgs {
    /// Paths to leave out (relative to the working directory or absolute; must be inside
    /// the model). May repeat.
    #[arg(long = "ignore-paths", num_args = 1..)]
    ignore_paths: Vec<PathBuf>,
    /// Include `.git`, `.gitattributes`, `.github` and `.gitignore` (ignored by default).
    #[arg(long)]
    no_ignore_git_paths: bool,
    /// Follow symbolic links instead of refusing them.
    #[arg(long = "allow-symlinks", alias = "allow_symlinks")]
    allow_symlinks: bool,
}

impl PathArgs {
    /// The ignore list relative to the model, plus the signature file when it lies
    /// inside the model (as the Python CLI does).
    fn relative_ignores(&self, model: &Path, signature: &Path) -> Vec<String> {
        self.ignore_paths
            .iter()
            .map(PathBuf::as_path)
            .chain(std::iter::once(signature))
            .filter_map(|p| model_relative(model, p))
            .collect()
    }
}

/// Runs a `model` subcommand.
pub fn run(command: ModelCommand) -> Result<()> {
    match command {
        ModelCommand::Sign {
            method:
                SignMethod::Key {
                    model,
                    private_key,
                    signature,
                    paths,
                    shard_size,
                },
        } => sign(&model, &private_key, &signature, &paths, shard_size),
        ModelCommand::Verify {
            method:
                VerifyMethod::Key {
                    model,
                    public_key,
                    signature,
                    paths,
                    ignore_unsigned_files,
                },
        } => verify(
            &model,
            &public_key,
            &signature,
            &paths,
            ignore_unsigned_files,
        ),
        ModelCommand::Keygen {
            curve,
            out,
            public_out,
        } => keygen(curve, &out, public_out),
        ModelCommand::Propose {
            name,
            version,
            what,
            db,
        } => propose(&name, &version, &what, &db),
        ModelCommand::Approve {
            name,
            version,
            key,
            approval,
            policy,
            db,
        } => approve(
            &name,
            &version,
            key.as_deref(),
            approval.as_deref(),
            &policy,
            &db,
        ),
        ModelCommand::ApprovalSign { record, key, out } => approval_sign(&record, &key, &out),
        ModelCommand::Activate {
            name,
            version,
            public_keys,
            by,
            policy,
            db,
        } => {
            let mut reg = open_registry(&db)?;
            let keys = read_public_keys(&public_keys)?;
            reg.activate(&name, &version, &policy.load()?, &keys, &by, now())?;
            record_change(&db, "model.activate", &format!("{name}@{version} by {by}"))?;
            println!("{name}@{version} is active");
            Ok(())
        }
        ModelCommand::Retire {
            name,
            version,
            reason,
            by,
            db,
        } => {
            open_registry(&db)?.retire(&name, &version, &by, &reason, now())?;
            record_change(
                &db,
                "model.retire",
                &format!("{name}@{version} by {by}: {reason}"),
            )?;
            println!("{name}@{version} is retired");
            Ok(())
        }
        ModelCommand::Check {
            public_keys,
            policy,
            db,
        } => check(&public_keys, &policy, &db),
        ModelCommand::Route { name, db } => {
            let v = open_registry(&db)?.route(&name)?;
            println!(
                "{}@{} (record sha256 {})",
                v.record.name, v.record.version, v.digest
            );
            Ok(())
        }
        ModelCommand::List { db } => list(&db),
        ModelCommand::Show {
            name,
            version,
            record,
            db,
        } => show(&name, &version, record, &db),
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Appends a registry change to the audit log, when the registry was named by a
/// configuration with `[audit]` (with `--db` alone there is no log to write to).
fn record_change(db: &DbArgs, action: &str, target: &str) -> Result<()> {
    let Some(path) = &db.config else {
        return Ok(());
    };
    let config = crate::cli::load(path)?;
    if config.audit.is_none() {
        return Ok(());
    }
    let store = crate::cli::open_store(&config)?;
    crate::cli::audit_control(
        &config,
        &*store,
        portcullis_audit::EventKind::ModelChanged,
        action,
        target,
    )
}

fn open_registry(db: &DbArgs) -> Result<Registry<AnyRegistryStore>> {
    let path = match (&db.db, &db.config) {
        (Some(p), _) => p.clone(),
        (None, Some(config)) => {
            let config =
                portcullis_core::config::Config::load(config, &portcullis_core::config::ProcessEnv)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            // With `[store] kind = "postgres"`: the replicas' shared registry.
            return portcullis_server::shared_db::open_registry(
                &config,
                &config.data_dir.join("portcullis.db"),
            )
            .map_err(|e| anyhow::anyhow!("opening the model registry: {e}"));
        }
        (None, None) => bail!("give --config or --db"),
    };
    let store = SqliteRegistryStore::open(&path)
        .with_context(|| format!("opening the model registry in {}", path.display()))?;
    Ok(Registry::new(AnyRegistryStore::Sqlite(store)))
}

impl PolicyArgs {
    fn load(&self) -> Result<ApprovalPolicy> {
        let text = std::fs::read_to_string(&self.approvers)
            .with_context(|| format!("reading {}", self.approvers.display()))?;
        let approvers = ApprovalPolicy::parse_approvers(&text)
            .with_context(|| format!("{}", self.approvers.display()))?;
        ApprovalPolicy::new(approvers, self.threshold)
            .with_context(|| format!("{}", self.approvers.display()))
    }
}

fn read_public_keys(paths: &[PathBuf]) -> Result<Vec<ModelPublicKey>> {
    paths
        .iter()
        .map(|p| ModelPublicKey::from_pem_file(p).map_err(anyhow::Error::from))
        .collect()
}

fn read_approver_key(path: &Path) -> Result<NoteSigner> {
    // Held as a secret so it is zeroed on drop and never printed.
    let text = SecretString::from(
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
    );
    NoteSigner::from_skey(text.expose_secret().trim())
        .map_err(|e| anyhow::anyhow!("{}: not an approver signing key: {e}", path.display()))
}

fn propose(name: &str, version: &str, what: &ProposeArgs, db: &DbArgs) -> Result<()> {
    let at = now();
    let ttl = i64::try_from(what.ttl.as_secs()).unwrap_or(i64::MAX);
    let artifacts = match (&what.model, &what.endpoint) {
        (Some(model), _) => {
            let (Some(sig_path), Some(pub_path)) = (&what.signature, &what.public_key) else {
                bail!("a local model needs --signature and --public-key");
            };
            let key = ModelPublicKey::from_pem_file(pub_path)?;
            let bundle = read_bundle(sig_path)?;
            let bundle_text = String::from_utf8(bundle)
                .with_context(|| format!("{} is not UTF-8", sig_path.display()))?;
            let opts = VerifyOptions {
                ignore_paths: model_relative(model, sig_path).into_iter().collect(),
                ..VerifyOptions::default()
            };
            let verified =
                portcullis_integrity::verify_model(model, bundle_text.as_bytes(), &key, &opts)
                    .with_context(|| {
                        format!("{} does not verify; not proposing it", model.display())
                    })?;
            // Store an absolute path: activation and checks may run from elsewhere.
            let abs = std::fs::canonicalize(model)
                .with_context(|| format!("resolving {}", model.display()))?;
            Artifacts::local(&abs, &bundle_text, &verified)
        }
        (None, Some(endpoint)) => Artifacts::Remote {
            endpoint: endpoint.clone(),
            provider_model_id: what.provider_model_id.clone().unwrap_or_default(),
        },
        (None, None) => bail!("give --model (local) or --endpoint (remote)"),
    };
    let record = ModelRecord {
        artifacts,
        expires_at: at.saturating_add(ttl.max(1)),
        name: name.into(),
        proposed_at: at,
        proposed_by: what.by.clone(),
        provenance: what.notes.clone(),
        source: what.source.clone(),
        version: version.into(),
    };
    let digest = open_registry(db)?.propose(&record)?;
    record_change(
        db,
        "model.propose",
        &format!("{name}@{version} sha256:{digest}"),
    )?;
    println!("{name}@{version} proposed (record sha256 {digest}); it needs approvals");
    Ok(())
}

fn approve(
    name: &str,
    version: &str,
    key: Option<&Path>,
    approval: Option<&Path>,
    policy: &PolicyArgs,
    db: &DbArgs,
) -> Result<()> {
    let policy = policy.load()?;
    let mut reg = open_registry(db)?;
    let state = match (key, approval) {
        (Some(key), _) => {
            let signer = read_approver_key(key)?;
            reg.approve(name, version, &signer, &policy, now())?
        }
        (None, Some(note)) => {
            let text = std::fs::read_to_string(note)
                .with_context(|| format!("reading {}", note.display()))?;
            reg.submit_approval(name, version, &text, &policy, now())?
        }
        (None, None) => bail!("give --key or --approval"),
    };
    let view = reg.get(name, version)?;
    let have = reg.valid_approvers(&view, &policy);
    record_change(
        db,
        "model.approve",
        &format!(
            "{name}@{version} sha256:{} approvals {}: {state}",
            view.digest,
            have.join(",")
        ),
    )?;
    println!(
        "{name}@{version}: {} of {} approvals ({}); state {state}",
        have.len(),
        policy.threshold(),
        have.join(", ")
    );
    Ok(())
}

fn approval_sign(record: &Path, key: &Path, out: &Path) -> Result<()> {
    let text =
        std::fs::read_to_string(record).with_context(|| format!("reading {}", record.display()))?;
    let record = ModelRecord::from_canonical_json(text.trim_end_matches('\n'))
        .with_context(|| format!("{} is not a canonical model record", record.display()))?;
    let signer = read_approver_key(key)?;
    let note = signer
        .sign(&approval_text(&record))
        .map_err(|e| anyhow::anyhow!("signing: {e}"))?;
    std::fs::write(out, note).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "approval of {} (record sha256 {}) by {} written to {}",
        record.id(),
        record.digest(),
        signer.name(),
        out.display()
    );
    Ok(())
}

fn check(public_keys: &[PathBuf], policy: &PolicyArgs, db: &DbArgs) -> Result<()> {
    let policy = policy.load()?;
    let keys = read_public_keys(public_keys)?;
    let mut reg = open_registry(db)?;
    let results = reg.check_active(&policy, &keys, now())?;
    let mut failed = 0;
    for (id, r) in &results {
        match r {
            Ok(detail) => println!("ok        {id}: {detail}"),
            Err(reason) => {
                failed += 1;
                record_change(db, "model.suspend", &format!("{id}: {reason}"))?;
                println!("SUSPENDED {id}: {reason}");
            }
        }
    }
    if failed > 0 {
        bail!(
            "{failed} of {} active versions failed verification and were suspended",
            results.len()
        );
    }
    println!("{} active versions verified", results.len());
    Ok(())
}

fn list(db: &DbArgs) -> Result<()> {
    let reg = open_registry(db)?;
    for entry in reg.list()? {
        match entry {
            Listed::Version(v) => {
                let what = match &v.record.artifacts {
                    Artifacts::Local {
                        files, root_digest, ..
                    } => format!("local {} files sha256 {root_digest}", files.len()),
                    Artifacts::Remote {
                        endpoint,
                        provider_model_id,
                    } => format!("remote {provider_model_id} at {endpoint}"),
                };
                println!(
                    "{}@{}\t{}\t{} approvals\t{what}",
                    v.record.name,
                    v.record.version,
                    v.state,
                    v.approvals.len()
                );
            }
            Listed::Unreadable {
                name,
                version,
                error,
            } => println!("{name}@{version}\tUNREADABLE\t{error}"),
        }
    }
    Ok(())
}

fn show(name: &str, version: &str, record_only: bool, db: &DbArgs) -> Result<()> {
    let reg = open_registry(db)?;
    let v = reg.get(name, version)?;
    if record_only {
        println!("{}", v.record.canonical_json());
        return Ok(());
    }
    let approvals: Vec<serde_json::Value> = v
        .approvals
        .iter()
        .map(|a| {
            serde_json::json!({
                "approver": a.approver,
                "key_id": format!("{:08x}", a.key_id),
                "approved_at": a.approved_at,
                "record_digest": a.record_digest,
            })
        })
        .collect();
    let history: Vec<serde_json::Value> = reg
        .history(name, version)?
        .into_iter()
        .map(|e| serde_json::json!({"at": e.at, "action": e.action, "actor": e.actor, "detail": e.detail}))
        .collect();
    let record: serde_json::Value = serde_json::from_str(&v.record.canonical_json())?;
    let out = serde_json::json!({
        "name": name,
        "version": version,
        "state": v.state.as_str(),
        "state_reason": v.state_reason,
        "record_digest": v.digest,
        "record": record,
        "approvals": approvals,
        "history": history,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

fn sign(
    model: &Path,
    private_key: &Path,
    signature: &Path,
    paths: &PathArgs,
    shard_size: Option<u64>,
) -> Result<()> {
    let key = ModelSigningKey::from_pem_file(private_key)?;
    let opts = HashOptions {
        method: match shard_size {
            None => Method::Files,
            Some(0) => bail!("--shard-size must be positive"),
            Some(shard_size) => Method::Shards { shard_size },
        },
        allow_symlinks: paths.allow_symlinks,
        ignore_paths: paths.relative_ignores(model, signature),
        ignore_git_paths: !paths.no_ignore_git_paths,
        threads: None,
    };
    let signed = portcullis_integrity::sign_model(model, &key, &opts)
        .with_context(|| format!("signing {}", model.display()))?;
    std::fs::write(signature, &signed.bundle)
        .with_context(|| format!("writing {}", signature.display()))?;
    println!(
        "Signing succeeded: {} ({} files, sha256 {}) -> {}",
        signed.model_name,
        signed.manifest.len(),
        signed.root_digest,
        signature.display()
    );
    Ok(())
}

fn verify(
    model: &Path,
    public_key: &Path,
    signature: &Path,
    paths: &PathArgs,
    ignore_unsigned_files: bool,
) -> Result<()> {
    let key = ModelPublicKey::from_pem_file(public_key)?;
    let bundle = read_bundle(signature)?;
    let opts = VerifyOptions {
        allow_symlinks: paths.allow_symlinks,
        ignore_paths: paths.relative_ignores(model, signature),
        ignore_git_paths: !paths.no_ignore_git_paths,
        threads: None,
        ignore_unsigned_files,
    };
    let verified =
        portcullis_integrity::verify_model(model, &bundle, &key, &opts).with_context(|| {
            format!(
                "verification of {} against {} failed",
                model.display(),
                signature.display()
            )
        })?;
    println!(
        "Verification succeeded: {} ({} files, sha256 {}) signed by key {}",
        verified.model_name,
        verified.manifest.len(),
        verified.root_digest,
        verified.signer_hint
    );
    Ok(())
}

fn keygen(curve: Curve, out: &Path, public_out: Option<PathBuf>) -> Result<()> {
    let public_out = public_out.unwrap_or_else(|| {
        let mut s = out.as_os_str().to_owned();
        s.push(".pub");
        PathBuf::from(s)
    });
    for p in [out, public_out.as_path()] {
        if p.exists() {
            bail!("{} exists; refusing to overwrite a key", p.display());
        }
    }
    let key = ModelSigningKey::generate(curve)?;
    let pem = key.to_pkcs8_pem()?;
    portcullis_server::write_private_file(out, &pem)
        .with_context(|| format!("writing {}", out.display()))?;
    let public = key.public_key();
    std::fs::write(&public_out, public.to_spki_pem())
        .with_context(|| format!("writing {}", public_out.display()))?;
    eprintln!(
        "private key written to {} (mode 0600), public key to {}",
        out.display(),
        public_out.display()
    );
    println!("{}", public.hint());
    Ok(())
}
