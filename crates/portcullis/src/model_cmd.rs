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
use portcullis_integrity::manifest::{HashOptions, Method};
use portcullis_integrity::signing::{model_relative, read_bundle};
use portcullis_integrity::{Curve, ModelPublicKey, ModelSigningKey, VerifyOptions};

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
    },
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
                },
        } => verify(&model, &public_key, &signature, &paths),
        ModelCommand::Keygen {
            curve,
            out,
            public_out,
        } => keygen(curve, &out, public_out),
    }
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

fn verify(model: &Path, public_key: &Path, signature: &Path, paths: &PathArgs) -> Result<()> {
    let key = ModelPublicKey::from_pem_file(public_key)?;
    let bundle = read_bundle(signature)?;
    let opts = VerifyOptions {
        allow_symlinks: paths.allow_symlinks,
        ignore_paths: paths.relative_ignores(model, signature),
        ignore_git_paths: !paths.no_ignore_git_paths,
        threads: None,
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
