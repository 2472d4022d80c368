//! A test OIDC issuer: a P-256 key made at run time, its JWKS, and tokens with any
//! header and claims (including malformed and hostile ones).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::Mac;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Value};

/// A throwaway issuer.
pub struct TestIssuer {
    /// `iss`.
    pub iss: String,
    /// `kid` of its key.
    pub kid: String,
    key: SigningKey,
}

fn b64(v: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(v)
}

impl TestIssuer {
    /// A new issuer with a fresh key.
    pub fn new(iss: &str, kid: &str) -> Self {
        Self {
            iss: iss.into(),
            kid: kid.into(),
            key: SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng),
        }
    }

    /// Its JWKS document.
    pub fn jwks(&self) -> String {
        let point = self.key.verifying_key().to_encoded_point(false);
        let (x, y) = (point.x().map(|x| b64(x)), point.y().map(|y| b64(y)));
        json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": self.kid, "use": "sig", "alg": "ES256", "x": x, "y": y}]}).to_string()
    }

    /// A token with this header and these claims, signed ES256 with the issuer's key.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig: Signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", b64(&sig.to_bytes()))
    }

    /// A well-formed token for `sub` with `groups`, audience `aud`, valid for an hour.
    pub fn token(&self, sub: &str, groups: &[&str], aud: &str) -> String {
        let now = now();
        self.sign(
            &json!({"alg": "ES256", "typ": "JWT", "kid": self.kid}),
            &json!({"iss": self.iss, "sub": sub, "aud": aud, "groups": groups, "iat": now, "nbf": now, "exp": now + 3600}),
        )
    }
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// An HS256 token signed with `secret` (for the key-confusion attack).
pub fn hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

/// An unsigned token (`alg` as given, empty signature).
pub fn unsigned(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}.",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}
