//! OIDC/JWT bearer tokens: verification against an issuer's keys.
//!
//! The pitfalls this module exists to avoid, each with a test:
//! - the algorithm comes from the issuer's key (and the issuer's allow-list), never from
//!   the token header, so `alg: none` and HS256-signed-with-the-RSA-public-key fail;
//! - `jku`, `x5u`, `jwk` and `x5c` headers are never used to find a key;
//! - `iss`, `aud` and `exp` are required; `nbf` is checked; leeway is small;
//! - the `kid` must look like an identifier (no paths, quotes or SQL text);
//! - tokens are size-capped before any parsing;
//! - symmetric (`oct`) keys in a JWKS are refused: a public key set never holds secrets.
//!
//! The signature and claim checks are `jsonwebtoken`'s; this module decides which key
//! and algorithm to give it.

use std::collections::HashMap;

use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

/// Largest token accepted, in bytes.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;

/// One configured issuer.
#[derive(Debug, Clone)]
pub struct IssuerConfig {
    /// Name in config (used in the principal and logs).
    pub name: String,
    /// The exact `iss` value.
    pub issuer: String,
    /// Accepted `aud` values (at least one).
    pub audiences: Vec<String>,
    /// Algorithms allowed for this issuer.
    pub algorithms: Vec<Algorithm>,
    /// Claim naming the principal (default `sub`).
    pub principal_claim: String,
    /// Claim holding the groups (a string array), if any.
    pub groups_claim: Option<String>,
    /// Clock leeway in seconds.
    pub leeway_secs: u64,
    /// Largest token accepted.
    pub max_token_bytes: usize,
}

/// Why a token was refused. Callers all get the same 401; the variant is for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// Over the size cap.
    #[error("token too large")]
    TooLarge,
    /// Not a well-formed JWS compact token (includes `alg: none`).
    #[error("malformed token: {0}")]
    Malformed(String),
    /// `iss` names no configured issuer.
    #[error("unknown issuer")]
    UnknownIssuer,
    /// The `kid` is not an identifier.
    #[error("invalid kid")]
    BadKid,
    /// No key with that `kid` (after a refresh).
    #[error("unknown key id")]
    UnknownKey,
    /// The header's algorithm is not the key's.
    #[error("algorithm not allowed for this key")]
    Algorithm,
    /// Signature or claims failed.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The principal or groups claim is missing or of the wrong type.
    #[error("claims: {0}")]
    Claims(String),
}

/// A verified token's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedUser {
    /// The principal claim's value.
    pub subject: String,
    /// Groups from the groups claim.
    pub groups: Vec<String>,
    /// The issuer's name from config.
    pub issuer: String,
}

/// An issuer's public keys, by `kid`.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Parses an algorithm name from config.
pub fn parse_algorithm(name: &str) -> Option<Algorithm> {
    Some(match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    })
}

fn key_algorithm(k: &KeyAlgorithm) -> Option<Algorithm> {
    Some(match k {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

fn valid_kid(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= 128
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'=' | b'+'))
}

impl KeySet {
    /// Reads a JWKS document, keeping the keys whose algorithm the issuer allows. The
    /// algorithm of a key is its `alg`, or, without one, the only one its type allows
    /// (RSA: the first RSA algorithm in the allow-list).
    pub fn from_jwks(json: &[u8], allowed: &[Algorithm]) -> Result<Self, String> {
        let set: JwkSet =
            serde_json::from_slice(json).map_err(|e| format!("not a JWKS document: {e}"))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            if !valid_kid(&kid) {
                continue;
            }
            let inferred = match &jwk.algorithm {
                AlgorithmParameters::OctetKey(_) => {
                    return Err(format!(
                        "key `{kid}` is a symmetric secret; a JWKS must hold public keys only"
                    ))
                }
                AlgorithmParameters::RSA(_) => allowed.iter().copied().find(|a| {
                    matches!(
                        a,
                        Algorithm::RS256
                            | Algorithm::RS384
                            | Algorithm::RS512
                            | Algorithm::PS256
                            | Algorithm::PS384
                            | Algorithm::PS512
                    )
                }),
                AlgorithmParameters::EllipticCurve(p) => match p.curve {
                    EllipticCurve::P256 => Some(Algorithm::ES256),
                    EllipticCurve::P384 => Some(Algorithm::ES384),
                    _ => None,
                },
                AlgorithmParameters::OctetKeyPair(_) => Some(Algorithm::EdDSA),
                _ => None,
            };
            let alg = match &jwk.common.key_algorithm {
                Some(k) => key_algorithm(k),
                None => inferred,
            };
            let Some(alg) = alg else { continue };
            if !allowed.contains(&alg) {
                continue;
            }
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            keys.insert(kid, (key, alg));
        }
        Ok(Self { keys })
    }

    /// Whether a key id is known.
    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// What can be read from a token before verifying it, to pick the issuer and key.
#[derive(Debug, Clone)]
pub struct Unverified {
    /// `iss` claim.
    pub iss: String,
    /// `kid` header.
    pub kid: Option<String>,
}

/// Reads `iss` and `kid` without verifying anything, after the size cap and shape checks.
pub fn peek(token: &str, max_bytes: usize) -> Result<Unverified, JwtError> {
    if token.len() > max_bytes {
        return Err(JwtError::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed("not three parts".into()));
    };
    if sig.is_empty() {
        return Err(JwtError::Malformed("empty signature".into()));
    }
    let header =
        jsonwebtoken::decode_header(token).map_err(|e| JwtError::Malformed(e.to_string()))?;
    let _ = h;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(p)
        .map_err(|_| JwtError::Malformed("payload is not base64url".into()))?;
    #[derive(Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    let iss: Iss = serde_json::from_slice(&payload)
        .map_err(|_| JwtError::Malformed("payload is not a JSON object".into()))?;
    let iss = iss
        .iss
        .ok_or_else(|| JwtError::Invalid("missing iss".into()))?;
    if let Some(kid) = &header.kid {
        if !valid_kid(kid) {
            return Err(JwtError::BadKid);
        }
    }
    Ok(Unverified {
        iss,
        kid: header.kid,
    })
}

/// Verifies a token against an issuer and its keys, and maps its claims to a user.
pub fn verify(
    token: &str,
    issuer: &IssuerConfig,
    keys: &KeySet,
    kid: Option<&str>,
) -> Result<VerifiedUser, JwtError> {
    let (key, alg) = match kid {
        Some(k) => keys.keys.get(k).ok_or(JwtError::UnknownKey)?,
        // Without a kid, only an issuer with exactly one key is unambiguous.
        None if keys.keys.len() == 1 => keys.keys.values().next().ok_or(JwtError::UnknownKey)?,
        None => return Err(JwtError::UnknownKey),
    };
    let mut v = Validation::new(*alg);
    v.algorithms = vec![*alg];
    v.set_issuer(&[&issuer.issuer]);
    v.set_audience(&issuer.audiences);
    v.set_required_spec_claims(&["exp", "iss", "aud"]);
    v.validate_exp = true;
    v.validate_nbf = true;
    v.validate_aud = true;
    v.leeway = issuer.leeway_secs;
    let data = jsonwebtoken::decode::<Value>(token, key, &v).map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => JwtError::Algorithm,
        k => JwtError::Invalid(format!("{k:?}")),
    })?;
    let claims = data.claims;
    let subject = claims
        .get(&issuer.principal_claim)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= 256 && !s.chars().any(char::is_control))
        .ok_or_else(|| {
            JwtError::Claims(format!(
                "`{}` missing or not a string",
                issuer.principal_claim
            ))
        })?
        .to_string();
    let mut groups = Vec::new();
    if let Some(gc) = &issuer.groups_claim {
        match claims.get(gc) {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) => {
                for g in a {
                    let g = g
                        .as_str()
                        .ok_or_else(|| JwtError::Claims(format!("`{gc}` must hold strings")))?;
                    if crate::identity::validate_principal_name(g).is_ok() {
                        groups.push(g.to_string());
                    }
                }
            }
            Some(_) => return Err(JwtError::Claims(format!("`{gc}` must be an array"))),
        }
    }
    Ok(VerifiedUser {
        subject,
        groups,
        issuer: issuer.name.clone(),
    })
}
