//! The signature file: a Sigstore bundle (`application/vnd.dev.sigstore.bundle.v0.3+json`)
//! holding a DSSE envelope whose payload is an in-toto v1 statement with the
//! model-signing v1.0 predicate. Reproduced from `model_signing` v1.1.1
//! (`_signing/signing.py` `Payload` and `dsse_payload_to_manifest`,
//! `_signing/sign_ec_key.py`, `_signing/sign_sigstore_pb.py`):
//!
//! ```text
//! bundle   = {mediaType, verificationMaterial: {publicKey: {hint}, tlogEntries: []},
//!             dsseEnvelope: {payload: base64(statement), payloadType, signatures: [{sig, keyid}]}}
//! statement = {_type: "https://in-toto.io/Statement/v1",
//!              subject: [{name: <model dir name>, digest: {sha256: SHA-256(d1 || d2 || ...)}}],
//!              predicateType: "https://model_signing/signature/v1.0",
//!              predicate: {serialization: {method, hash_type, allow_symlinks, ignore_paths?, shard_size?},
//!                          resources: [{name, algorithm, digest: hex}, ...]}}
//! sig      = base64(DER ECDSA over PAE(payloadType, statement bytes))
//! hint     = hex SHA-256 of the signer's SPKI PEM
//! algorithm = "sha256" (files) or "sha256-sharded-<shard_size>" (shards)
//! ```
//!
//! Parsing of the bundle and the statement is done on `serde_json::Value` so that each
//! missing or mistyped field gets its own message. Unknown fields are ignored, as the
//! Python verifier ignores them (v1.0 says verifiers ignore other predicate fields).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};

use crate::dsse::IN_TOTO_PAYLOAD_TYPE;
use crate::error::{Error, Result};
use crate::manifest::{split_rel, Manifest, Method, ResourceKey};

/// The bundle media type written and required.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The in-toto statement type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The model-signing predicate type.
pub const PREDICATE_TYPE: &str = "https://model_signing/signature/v1.0";

/// How the signed manifest was produced (the statement's `predicate.serialization`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serialization {
    /// Files or shards.
    pub method: Method,
    /// Whether symbolic links were followed.
    pub allow_symlinks: bool,
    /// Paths the signer left out, relative to the model.
    pub ignore_paths: Vec<String>,
}

/// The content of a signed statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The subject name (informative: the model directory's name).
    pub model_name: String,
    /// The subject's SHA-256 (over the resource digests).
    pub root_digest: [u8; 32],
    /// Serialization settings.
    pub serialization: Serialization,
    /// The signed resources.
    pub manifest: Manifest,
}

/// Serializes the statement for `manifest`. Pretty-printed with two-space indents like
/// the Python signer's `MessageToJson`; the exact bytes only matter to the signature,
/// which covers whatever bytes are sent.
pub fn statement_json(model_name: &str, manifest: &Manifest, ser: &Serialization) -> Vec<u8> {
    let mut serialization = Map::new();
    match ser.method {
        Method::Files => {
            serialization.insert("method".into(), json!("files"));
            serialization.insert("hash_type".into(), json!("sha256"));
        }
        Method::Shards { shard_size } => {
            serialization.insert("method".into(), json!("shards"));
            serialization.insert("hash_type".into(), json!("sha256"));
            serialization.insert("shard_size".into(), json!(shard_size));
        }
    }
    serialization.insert("allow_symlinks".into(), json!(ser.allow_symlinks));
    if !ser.ignore_paths.is_empty() {
        serialization.insert("ignore_paths".into(), json!(ser.ignore_paths));
    }
    let algorithm = algorithm_name(ser.method);
    let resources: Vec<Value> = manifest
        .items
        .iter()
        .map(|(k, d)| json!({"name": k.name(), "algorithm": algorithm, "digest": hex::encode(d)}))
        .collect();
    let statement = json!({
        "_type": STATEMENT_TYPE,
        "subject": [{"name": model_name, "digest": {"sha256": hex::encode(manifest.root_digest())}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {"serialization": Value::Object(serialization), "resources": resources},
    });
    // serde_json's map keeps keys sorted (no `preserve_order`); order is irrelevant to
    // verifiers, which parse the JSON.
    serde_json::to_vec_pretty(&statement).unwrap_or_default()
}

/// Builds the bundle JSON (compact, one line, like the Python signer's output).
pub fn bundle_json(statement: &[u8], der_signature: &[u8], public_key_hint: &str) -> String {
    json!({
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": public_key_hint}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": B64.encode(statement),
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "signatures": [{"sig": B64.encode(der_signature), "keyid": ""}],
        },
    })
    .to_string()
}

/// A parsed (not yet verified) bundle.
#[derive(Debug, Clone)]
pub struct ParsedBundle {
    /// The public-key hint, if the bundle has one (bundles from model_signing < 1.0.1
    /// carry the raw key instead, which is never trusted).
    pub hint: Option<String>,
    /// The DSSE payload type.
    pub payload_type: String,
    /// The decoded payload (the statement bytes).
    pub payload: Vec<u8>,
    /// The first signature, DER (the Python verifier checks only the first).
    pub signature: Vec<u8>,
}

fn field<'a>(v: &'a Value, key: &str, what: &str) -> Result<&'a Value> {
    v.get(key)
        .ok_or_else(|| Error::Bundle(format!("{what} has no `{key}`")))
}

fn str_field<'a>(v: &'a Value, key: &str, what: &str) -> Result<&'a str> {
    field(v, key, what)?
        .as_str()
        .ok_or_else(|| Error::Bundle(format!("{what}.{key} is not a string")))
}

fn b64(s: &str, what: &str) -> Result<Vec<u8>> {
    B64.decode(s.trim())
        .map_err(|e| Error::Bundle(format!("{what} is not base64: {e}")))
}

/// Parses a bundle file's bytes.
pub fn parse_bundle(bytes: &[u8]) -> Result<ParsedBundle> {
    let v: Value =
        serde_json::from_slice(bytes).map_err(|e| Error::Bundle(format!("not JSON: {e}")))?;
    if !v.is_object() {
        return Err(Error::Bundle("not a JSON object".into()));
    }
    let media = str_field(&v, "mediaType", "bundle")?;
    if media != BUNDLE_MEDIA_TYPE {
        return Err(Error::Bundle(format!(
            "media type is {media:?}, expected {BUNDLE_MEDIA_TYPE:?}"
        )));
    }
    let material = field(&v, "verificationMaterial", "bundle")?;
    let hint = match material.get("publicKey") {
        Some(pk) => pk.get("hint").and_then(Value::as_str).map(str::to_string),
        None => {
            let kind = if material.get("certificate").is_some()
                || material.get("x509CertificateChain").is_some()
            {
                "a certificate (Sigstore or certificate signing)"
            } else {
                "no public key"
            };
            return Err(Error::Bundle(format!(
                "verification material holds {kind}; only key-signed bundles are supported"
            )));
        }
    };
    let env = field(&v, "dsseEnvelope", "bundle")?;
    let payload_type = str_field(env, "payloadType", "dsseEnvelope")?.to_string();
    let payload = b64(
        str_field(env, "payload", "dsseEnvelope")?,
        "dsseEnvelope.payload",
    )?;
    let sigs = field(env, "signatures", "dsseEnvelope")?
        .as_array()
        .ok_or_else(|| Error::Bundle("dsseEnvelope.signatures is not a list".into()))?;
    let first = sigs
        .first()
        .ok_or_else(|| Error::Bundle("dsseEnvelope.signatures is empty".into()))?;
    let signature = b64(str_field(first, "sig", "signature")?, "signature.sig")?;
    Ok(ParsedBundle {
        hint,
        payload_type,
        payload,
        signature,
    })
}

/// Parses and checks a statement (payload already authenticated by the caller).
pub fn parse_statement(payload: &[u8]) -> Result<Statement> {
    let v: Value = serde_json::from_slice(payload)
        .map_err(|e| Error::Statement(format!("payload is not JSON: {e}")))?;
    let stype = v.get("_type").and_then(Value::as_str).unwrap_or_default();
    if stype != STATEMENT_TYPE {
        return Err(Error::Statement(format!(
            "statement type is {stype:?}, expected {STATEMENT_TYPE:?}"
        )));
    }
    let ptype = v
        .get("predicateType")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if ptype != PREDICATE_TYPE {
        return Err(Error::Statement(format!(
            "predicate type is {ptype:?}, expected {PREDICATE_TYPE:?} (model_signing v1.0 \
             or later; the v0.2 `Digests/v0.1` format is not supported)"
        )));
    }
    let subjects = v
        .get("subject")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Statement("no subject list".into()))?;
    let [subject] = subjects.as_slice() else {
        return Err(Error::Statement(format!(
            "expected exactly one subject, got {}",
            subjects.len()
        )));
    };
    let model_name = subject
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let subject_hex = subject
        .get("digest")
        .and_then(|d| d.get("sha256"))
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Statement("subject has no sha256 digest".into()))?;
    let root_digest = parse_digest(subject_hex, "subject")?;

    let predicate = v
        .get("predicate")
        .ok_or_else(|| Error::Statement("no predicate".into()))?;
    let serialization = parse_serialization(
        predicate
            .get("serialization")
            .ok_or_else(|| Error::Statement("predicate has no serialization".into()))?,
    )?;
    let resources = predicate
        .get("resources")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Statement("predicate has no resources list".into()))?;

    let expected_alg = algorithm_name(serialization.method);
    // The subject digest is over the digests in the order listed (as the Python verifier
    // computes it), which for a well-formed statement is the canonical order.
    let mut hasher = Sha256::new();
    let mut manifest = Manifest::default();
    for r in resources {
        let name = r
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Statement("a resource has no name".into()))?;
        let alg = r
            .get("algorithm")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if alg != expected_alg {
            return Err(Error::UnsupportedSerialization(format!(
                "resource {name:?} uses {alg:?}; expected {expected_alg:?}"
            )));
        }
        let hexd = r
            .get("digest")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Statement(format!("resource {name:?} has no digest")))?;
        let digest = parse_digest(hexd, name)?;
        hasher.update(digest);
        let key = ResourceKey::parse(name, serialization.method)?;
        if manifest.items.insert(key, digest).is_some() {
            return Err(Error::Statement(format!(
                "resource {name:?} is listed twice"
            )));
        }
    }
    let computed: [u8; 32] = hasher.finalize().into();
    if computed != root_digest {
        return Err(Error::InconsistentManifest {
            subject: hex::encode(root_digest),
            computed: hex::encode(computed),
        });
    }
    Ok(Statement {
        model_name,
        root_digest,
        serialization,
        manifest,
    })
}

/// The per-resource `algorithm`: `sha256` for files; for shards the Python hasher's
/// `digest_name`, `sha256-sharded-<shard size>` (`_hashing/io.py` `ShardedFileHasher`),
/// which its verifier compares along with the digest.
fn algorithm_name(method: Method) -> String {
    match method {
        Method::Files => "sha256".to_string(),
        Method::Shards { shard_size } => format!("sha256-sharded-{shard_size}"),
    }
}

fn parse_digest(hexd: &str, what: &str) -> Result<[u8; 32]> {
    let bytes = hex::decode(hexd)
        .map_err(|_| Error::Statement(format!("digest of {what:?} is not hex")))?;
    bytes
        .try_into()
        .map_err(|_| Error::Statement(format!("digest of {what:?} is not 32 bytes")))
}

fn parse_serialization(s: &Value) -> Result<Serialization> {
    let method = s.get("method").and_then(Value::as_str).unwrap_or_default();
    let hash = s
        .get("hash_type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if hash != "sha256" {
        return Err(Error::UnsupportedSerialization(format!(
            "hash_type {hash:?}; only sha256 is supported"
        )));
    }
    let method = match method {
        "files" => Method::Files,
        "shards" => {
            // A protobuf `Struct` carries numbers as doubles: accept 1e9 and 1000000000.
            let size = s.get("shard_size").and_then(|n| {
                n.as_u64().or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && *f >= 1.0 && *f < 9.0e15)
                        .map(|f| f as u64)
                })
            });
            match size {
                Some(shard_size) if shard_size > 0 => Method::Shards { shard_size },
                _ => {
                    return Err(Error::Statement(
                        "shard serialization without a positive shard_size".into(),
                    ))
                }
            }
        }
        other => {
            return Err(Error::UnsupportedSerialization(format!(
                "method {other:?}; expected files or shards"
            )))
        }
    };
    let allow_symlinks = s
        .get("allow_symlinks")
        .and_then(Value::as_bool)
        .ok_or_else(|| Error::Statement("serialization.allow_symlinks is not a boolean".into()))?;
    let ignore_paths = match s.get("ignore_paths") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|p| {
                p.as_str()
                    .map(|p| split_rel(p).join("/"))
                    .ok_or_else(|| Error::Statement("ignore_paths has a non-string".into()))
            })
            .collect::<Result<Vec<_>>>()?,
        Some(_) => return Err(Error::Statement("ignore_paths is not a list".into())),
    };
    Ok(Serialization {
        method,
        allow_symlinks,
        ignore_paths,
    })
}
