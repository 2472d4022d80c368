//! Identity: who is calling. API keys (here), OIDC/JWT bearer tokens ([`jwt`]) and
//! SPIFFE workload identities from mTLS ([`spiffe`]) all end in a [`Principal`].
//!
//! A key is `pc_<id>_<secret>`: `id` is 16 hex digits (public, used to look the key up),
//! `secret` is 64 hex digits (256 random bits). Only a SHA-256 hash of the key is stored;
//! a fast hash is right here because the secret is uniformly random, so there is nothing
//! to brute-force that a slow hash would protect. Comparison is constant-time.

pub mod jwt;
pub mod spiffe;

use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Prefix of every Portcullis API key.
pub const KEY_PREFIX: &str = "pc_";
const ID_HEX: usize = 16;
const SECRET_HEX: usize = 64;

/// How the principal was authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A Portcullis API key.
    ApiKey,
    /// A person (or client) with a token from an OIDC issuer, named in config.
    User {
        /// The issuer's name from config.
        issuer: String,
    },
    /// A workload with a SPIFFE X.509-SVID (mTLS), and no bearer credential.
    Workload,
}

impl PrincipalKind {
    /// `api_key`, `user`, `workload`.
    pub fn as_str(&self) -> &'static str {
        match self {
            PrincipalKind::ApiKey => "api_key",
            PrincipalKind::User { .. } => "user",
            PrincipalKind::Workload => "workload",
        }
    }
}

/// Who is calling, as authentication established it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The principal's name (e.g. `alice`, `billing-service`; a JWT's subject; a SPIFFE ID).
    pub name: String,
    /// Groups the principal belongs to.
    pub groups: Vec<String>,
    /// The API key id (`anonymous` for anonymous access; empty for other kinds).
    pub key_id: String,
    /// How it was authenticated.
    pub kind: PrincipalKind,
    /// The workload the request came from over mTLS, if any (also when a user's token
    /// arrives over it: "service S acting for user U").
    pub workload: Option<spiffe::SpiffeId>,
}

impl Principal {
    /// An API-key principal.
    pub fn api_key(name: &str, groups: Vec<String>, key_id: &str) -> Self {
        Self {
            name: name.into(),
            groups,
            key_id: key_id.into(),
            kind: PrincipalKind::ApiKey,
            workload: None,
        }
    }
}

/// An identity as limits, budgets and anomaly detection count it: the authenticator, the
/// issuer for OIDC users, and the name. Two callers are the same identity only when all
/// three agree, so an API key `alice`, the user `alice` of one OIDC issuer and the user
/// `alice` of another never share a counter, a quota or a containment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdentityKey {
    /// An API-key principal (also the anonymous principal): `key:<name>`.
    ApiKey(String),
    /// A user of an OIDC issuer: `oidc:<issuer>:<name>`, the issuer being its name in
    /// the configuration with `%` and `:` written `%25` and `%3A`.
    User {
        /// The issuer's name in the configuration.
        issuer: String,
        /// The token's principal claim.
        name: String,
    },
    /// A workload authenticated by mTLS alone: `spiffe:<SPIFFE ID>`.
    Workload(String),
}

impl IdentityKey {
    /// Reads a key written by [`IdentityKey`]'s `Display`; `None` for anything else
    /// (e.g. a bare name stored before identities were qualified).
    pub fn parse(s: &str) -> Option<Self> {
        if let Some(name) = s.strip_prefix("key:") {
            return Some(IdentityKey::ApiKey(name.into()));
        }
        if let Some(id) = s.strip_prefix("spiffe:") {
            return Some(IdentityKey::Workload(id.into()));
        }
        let rest = s.strip_prefix("oidc:")?;
        let (issuer, name) = rest.split_once(':')?;
        Some(IdentityKey::User {
            issuer: unescape_issuer(issuer)?,
            name: name.into(),
        })
    }

    /// The name, without the authenticator.
    pub fn name(&self) -> &str {
        match self {
            IdentityKey::ApiKey(n) | IdentityKey::Workload(n) => n,
            IdentityKey::User { name, .. } => name,
        }
    }
}

impl std::fmt::Display for IdentityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdentityKey::ApiKey(n) => write!(f, "key:{n}"),
            IdentityKey::User { issuer, name } => {
                f.write_str("oidc:")?;
                for c in issuer.chars() {
                    match c {
                        '%' => f.write_str("%25")?,
                        ':' => f.write_str("%3A")?,
                        c => write!(f, "{c}")?,
                    }
                }
                write!(f, ":{name}")
            }
            IdentityKey::Workload(id) => write!(f, "spiffe:{id}"),
        }
    }
}

fn unescape_issuer(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3)? {
            "%25" => out.push('%'),
            "%3A" => out.push(':'),
            _ => return None,
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

impl Principal {
    /// Who this is for limits, budgets and anomaly detection.
    pub fn identity(&self) -> IdentityKey {
        match &self.kind {
            PrincipalKind::ApiKey => IdentityKey::ApiKey(self.name.clone()),
            PrincipalKind::User { issuer } => IdentityKey::User {
                issuer: issuer.clone(),
                name: self.name.clone(),
            },
            PrincipalKind::Workload => IdentityKey::Workload(self.name.clone()),
        }
    }

    /// [`Principal::identity`] written as a string (`key:alice`, `oidc:corp:alice`,
    /// `spiffe:spiffe://prod.example.com/ns/ai/sa/summarizer`): what counters are
    /// stored under.
    pub fn identity_key(&self) -> String {
        self.identity().to_string()
    }
}

/// A newly generated key: the full key (shown once) and what is stored.
pub struct GeneratedKey {
    /// The public id.
    pub id: String,
    /// The whole key, `pc_<id>_<secret>`. Shown to the operator once, never stored.
    pub key: SecretString,
    /// SHA-256 over the key, what the store keeps.
    pub hash: [u8; 32],
}

/// Generates a new key from the OS random source.
pub fn generate_key() -> GeneratedKey {
    let mut rng = rand::rng();
    let mut id = [0u8; ID_HEX / 2];
    let mut secret = [0u8; SECRET_HEX / 2];
    rng.fill_bytes(&mut id);
    rng.fill_bytes(&mut secret);
    let id = hex::encode(id);
    let key = format!("{KEY_PREFIX}{id}_{}", hex::encode(secret));
    let hash = hash_key(&key);
    GeneratedKey {
        id,
        key: SecretString::from(key),
        hash,
    }
}

/// The stored hash of a whole key string.
pub fn hash_key(key: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"portcullis-api-key-v1\0");
    h.update(key.as_bytes());
    h.finalize().into()
}

/// Why a presented key was not accepted. The variants are for logs and metrics; callers
/// all get the same 401 so the response tells an attacker nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not of the form `pc_<id>_<secret>`.
    #[error("malformed key")]
    Malformed,
    /// No key with that id.
    #[error("unknown key")]
    Unknown,
    /// The secret does not match.
    #[error("wrong secret")]
    Mismatch,
    /// Revoked.
    #[error("revoked key")]
    Revoked,
    /// Past its expiry.
    #[error("expired key")]
    Expired,
}

/// Splits a presented key into its id, checking the shape without looking anything up.
pub fn parse_key_id(presented: &str) -> Result<&str, KeyError> {
    let rest = presented
        .strip_prefix(KEY_PREFIX)
        .ok_or(KeyError::Malformed)?;
    let (id, secret) = rest.split_once('_').ok_or(KeyError::Malformed)?;
    let hex_lower = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if id.len() != ID_HEX || secret.len() != SECRET_HEX || !hex_lower(id) || !hex_lower(secret) {
        return Err(KeyError::Malformed);
    }
    Ok(id)
}

/// A stored key, as the gateway checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// Public id.
    pub id: String,
    /// Hash of the whole key.
    pub hash: [u8; 32],
    /// Principal name.
    pub principal: String,
    /// Groups.
    pub groups: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; `None` never expires.
    pub expires_at: Option<i64>,
    /// Unix seconds of revocation.
    pub revoked_at: Option<i64>,
}

impl KeyRecord {
    /// Checks a presented key against this record at time `now` (unix seconds).
    /// The hash comparison is constant-time.
    pub fn verify(&self, presented: &SecretString, now: i64) -> Result<Principal, KeyError> {
        let h = hash_key(presented.expose_secret());
        if !bool::from(h.ct_eq(&self.hash)) {
            return Err(KeyError::Mismatch);
        }
        if self.revoked_at.is_some() {
            return Err(KeyError::Revoked);
        }
        if self.expires_at.is_some_and(|e| now >= e) {
            return Err(KeyError::Expired);
        }
        Ok(Principal::api_key(
            &self.principal,
            self.groups.clone(),
            &self.id,
        ))
    }
}

/// Spends about as long as [`KeyRecord::verify`] does, for an id that does not exist, so
/// timing does not reveal which ids are valid.
pub fn verify_unknown(presented: &SecretString) -> KeyError {
    let h = hash_key(presented.expose_secret());
    let _ = h.ct_eq(&[0u8; 32]);
    KeyError::Unknown
}

/// Principal and group names: 1 to 128 characters from a safe set, so they can appear in
/// logs, metrics labels and Cedar entity ids without escaping surprises.
pub fn validate_principal_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 128 {
        return Err(format!("name `{name}` must be 1 to 128 characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | ':' | '/'))
    {
        return Err(format!(
            "name `{name}` may contain only letters, digits and - _ . @ : /"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(g: &GeneratedKey) -> KeyRecord {
        KeyRecord {
            id: g.id.clone(),
            hash: g.hash,
            principal: "alice".into(),
            groups: vec!["eng".into()],
            created_at: 0,
            expires_at: Some(100),
            revoked_at: None,
        }
    }

    #[test]
    fn generated_key_round_trips() {
        let g = generate_key();
        let k = g.key.expose_secret();
        assert!(k.starts_with("pc_"));
        assert_eq!(parse_key_id(k).unwrap(), g.id);
        let p = record(&g).verify(&g.key, 50).unwrap();
        assert_eq!(p.name, "alice");
        assert_eq!(p.key_id, g.id);
    }

    #[test]
    fn expiry_revocation_and_mismatch() {
        let g = generate_key();
        let mut r = record(&g);
        assert_eq!(r.verify(&g.key, 100), Err(KeyError::Expired));
        let other = generate_key();
        assert_eq!(r.verify(&other.key, 50), Err(KeyError::Mismatch));
        r.revoked_at = Some(10);
        assert_eq!(r.verify(&g.key, 50), Err(KeyError::Revoked));
    }

    #[test]
    fn identity_keys_are_distinct_and_round_trip() {
        let user = |issuer: &str, name: &str| IdentityKey::User {
            issuer: issuer.into(),
            name: name.into(),
        };
        let ids = [
            IdentityKey::ApiKey("alice".into()),
            user("corp", "alice"),
            user("partner", "alice"),
            IdentityKey::Workload("spiffe://a.example/alice".into()),
            // Names and issuers that try to forge another identity's key.
            IdentityKey::ApiKey("oidc:corp:alice".into()),
            user("corp:alice", "x"),
            user("corp", "alice:x"),
            user("co%3Arp", "x"),
            user("co:rp", "x"),
            IdentityKey::ApiKey("spiffe:spiffe://a.example/alice".into()),
        ];
        let keys: std::collections::HashSet<String> = ids.iter().map(|i| i.to_string()).collect();
        assert_eq!(keys.len(), ids.len(), "{keys:?}");
        for i in &ids {
            assert_eq!(IdentityKey::parse(&i.to_string()).as_ref(), Some(i), "{i}");
        }
        assert_eq!(user("corp", "alice").to_string(), "oidc:corp:alice");
        assert_eq!(user("a:b%c", "n").to_string(), "oidc:a%3Ab%25c:n");
        assert_eq!(IdentityKey::parse("alice"), None);
        assert_eq!(IdentityKey::parse("oidc:bad%zz:n"), None);
    }

    #[test]
    fn malformed_keys() {
        for k in [
            "",
            "pc_",
            "sk-abc",
            "pc_0123456789abcdef",
            "pc_0123456789abcdef_short",
            "pc_0123456789ABCDEF_0000000000000000000000000000000000000000000000000000000000000000",
            "pc_0123456789abcde_00000000000000000000000000000000000000000000000000000000000000000",
        ] {
            assert_eq!(parse_key_id(k), Err(KeyError::Malformed), "{k}");
        }
    }
}
