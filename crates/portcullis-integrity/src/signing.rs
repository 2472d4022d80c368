//! Signing a model and verifying it against a signature, with a key, in the OpenSSF
//! model-signing format (see [`crate::bundle`] for the format).
//!
//! Verification fails closed, in this order: the bundle must parse; its public-key hint
//! (when present) must name the trusted key; the ECDSA signature over the DSSE PAE must
//! verify with the trusted key; the payload must be a model-signing v1.0 statement whose
//! subject digest matches its resources; the statement must cover at least one file; and
//! the model on disk, hashed with the statement's serialization settings and ignore list,
//! must match the signed manifest exactly (no extra, missing or changed file).

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use crate::bundle::{self, Serialization, Statement};
use crate::dsse::{pae, IN_TOTO_PAYLOAD_TYPE};
use crate::error::{io_err, Error, Result};
use crate::keys::{ModelPublicKey, ModelSigningKey};
use crate::manifest::{hash_model, HashOptions, Manifest};

/// A signature made by [`sign_model`].
#[derive(Debug, Clone)]
pub struct SignedModel {
    /// The bundle JSON to write to the signature file.
    pub bundle: String,
    /// The subject name recorded.
    pub model_name: String,
    /// The subject digest (hex).
    pub root_digest: String,
    /// The manifest that was signed.
    pub manifest: Manifest,
}

/// A model that verified.
#[derive(Debug, Clone)]
pub struct VerifiedModel {
    /// The subject name in the signature.
    pub model_name: String,
    /// The subject digest (hex): names this exact set of files.
    pub root_digest: String,
    /// The signer's public-key hint (hex SHA-256 of its SPKI PEM).
    pub signer_hint: String,
    /// The verified manifest.
    pub manifest: Manifest,
}

/// The name `model_signing` records for a model: the last path component, or the
/// resolved directory's name for `.` and `..`.
pub fn model_name(model: &Path) -> String {
    let direct = match model.components().next_back() {
        Some(Component::Normal(n)) => n.to_str().map(str::to_string),
        _ => None,
    };
    direct
        .or_else(|| {
            std::fs::canonicalize(model)
                .ok()
                .and_then(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_string))
        })
        .unwrap_or_default()
}

/// Hashes and signs the model at `model`.
pub fn sign_model(model: &Path, key: &ModelSigningKey, opts: &HashOptions) -> Result<SignedModel> {
    let manifest = hash_model(model, opts)?;
    if manifest.is_empty() {
        return Err(Error::ModelPath {
            path: model.to_path_buf(),
            reason: "has no files to sign (after ignored paths)",
        });
    }
    let name = model_name(model);
    let ser = Serialization {
        method: opts.method,
        allow_symlinks: opts.allow_symlinks,
        ignore_paths: opts.effective_ignore_paths(),
    };
    let statement = bundle::statement_json(&name, &manifest, &ser);
    let signature = key.sign(&pae(IN_TOTO_PAYLOAD_TYPE, &statement));
    let bundle = bundle::bundle_json(&statement, &signature, &key.public_key().hint());
    Ok(SignedModel {
        bundle,
        model_name: name,
        root_digest: hex::encode(manifest.root_digest()),
        manifest,
    })
}

/// Checks the bundle's signature with `key` and returns the signed statement, without
/// looking at any model on disk.
pub fn verify_bundle(bundle_bytes: &[u8], key: &ModelPublicKey) -> Result<Statement> {
    let parsed = bundle::parse_bundle(bundle_bytes)?;
    let trusted = key.hint();
    if let Some(hint) = &parsed.hint {
        if !hint.eq_ignore_ascii_case(&trusted) {
            return Err(Error::UntrustedKey {
                bundle: hint.clone(),
                trusted,
            });
        }
    }
    // The signature covers PAE(payloadType, payload): checking it first means nothing
    // below reads attacker-chosen JSON.
    key.verify(
        &pae(&parsed.payload_type, &parsed.payload),
        &parsed.signature,
    )?;
    if parsed.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(Error::Statement(format!(
            "DSSE payload type is {:?}, expected {IN_TOTO_PAYLOAD_TYPE:?}",
            parsed.payload_type
        )));
    }
    let statement = bundle::parse_statement(&parsed.payload)?;
    if statement.manifest.is_empty() {
        return Err(Error::Statement(
            "the signature covers no files; refusing to treat any directory as verified".into(),
        ));
    }
    Ok(statement)
}

/// Verifier-side choices; the rest comes from the signed statement.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Follow symbolic links in the model.
    pub allow_symlinks: bool,
    /// More paths (relative to the model) to leave out, on top of the signed list.
    pub ignore_paths: Vec<String>,
    /// Also ignore `.git`, `.gitattributes`, `.github`, `.gitignore`.
    pub ignore_git_paths: bool,
    /// Hashing threads (`None`: one per CPU).
    pub threads: Option<usize>,
    /// Accept files the signature does not cover (Python's `--ignore_unsigned_files`).
    /// Signed files must still all be present and unchanged. Off by default: an extra
    /// file in a model directory (a pickle, a tokenizer override) can change behaviour.
    pub ignore_unsigned_files: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            allow_symlinks: false,
            ignore_paths: Vec::new(),
            ignore_git_paths: true,
            threads: None,
            ignore_unsigned_files: false,
        }
    }
}

/// Verifies the model at `model` against the bundle, trusting only `key`.
pub fn verify_model(
    model: &Path,
    bundle_bytes: &[u8],
    key: &ModelPublicKey,
    opts: &VerifyOptions,
) -> Result<VerifiedModel> {
    let statement = verify_bundle(bundle_bytes, key)?;
    let mut ignore_paths = statement.serialization.ignore_paths.clone();
    ignore_paths.extend(opts.ignore_paths.iter().cloned());
    let hash_opts = HashOptions {
        method: statement.serialization.method,
        allow_symlinks: opts.allow_symlinks,
        ignore_paths,
        ignore_git_paths: opts.ignore_git_paths,
        threads: opts.threads,
    };
    let mut actual = hash_model(model, &hash_opts)?;
    if opts.ignore_unsigned_files {
        // Only files the signature does not name at all are unsigned. With shards, bytes
        // appended to a signed file make a shard the signature does not list: that file
        // changed, so its shards all stay in the comparison.
        let signed: BTreeSet<&[String]> = statement
            .manifest
            .items
            .keys()
            .map(|k| k.path.as_slice())
            .collect();
        actual
            .items
            .retain(|k, _| signed.contains(k.path.as_slice()));
    }
    let diff = actual.diff(&statement.manifest);
    if !diff.is_empty() {
        return Err(Error::ModelMismatch(diff));
    }
    Ok(VerifiedModel {
        model_name: statement.model_name,
        root_digest: hex::encode(statement.root_digest),
        signer_hint: key.hint(),
        manifest: statement.manifest,
    })
}

/// Reads a signature file.
pub fn read_bundle(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(io_err(path))
}

/// `path` (absolute, or relative to the working directory) as a path relative to the
/// model root, or `None` when it lies outside the model. This is how the Python CLI
/// turns `--ignore-paths` and the signature path into ignore entries.
pub fn model_relative(model: &Path, path: &Path) -> Option<String> {
    let root = std::fs::canonicalize(model).ok()?;
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(path)
    };
    // Resolve what exists (symlinks, `..`); a path that does not exist yet (the
    // signature being written) is resolved through its parent.
    let resolved = std::fs::canonicalize(&abs).ok().or_else(|| {
        let parent = std::fs::canonicalize(abs.parent()?).ok()?;
        Some(parent.join(abs.file_name()?))
    })?;
    let rel: PathBuf = resolved.strip_prefix(&root).ok()?.to_path_buf();
    let parts: Vec<&str> = rel
        .components()
        .map(|c| c.as_os_str().to_str())
        .collect::<Option<Vec<_>>>()?;
    if parts.is_empty() {
        return None;
    }
    Some(parts.join("/"))
}
