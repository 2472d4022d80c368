//! ECDSA keys as OpenSSF model signing uses them: P-256 with SHA-256 and P-384 with
//! SHA-384 (`model_signing._signing.sign_ec_key.get_ec_key_hash`), signatures DER-encoded.
//!
//! Keys are read from PEM the way `cryptography`'s `load_pem_private_key` /
//! `load_pem_public_key` accept them for these curves: private keys as PKCS#8
//! (`PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`, also with OpenSSL's leading `EC PARAMETERS`
//! block), public keys as SPKI (`PUBLIC KEY`). Encrypted private keys are refused with a
//! hint to decrypt them first. P-521, which the Python package also accepts, is not
//! supported.
//!
//! The public-key hint written into bundles is the hex SHA-256 of the key's SPKI PEM with
//! `\n` line endings, exactly the bytes `cryptography` produces, so a bundle names its
//! signer the same way on both sides.

use std::fmt;
use std::path::Path;

use p256::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _};
use p256::pkcs8::{EncodePublicKey as _, LineEnding};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::error::{io_err, Error, Result};

/// The curves supported for model signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// NIST P-256 (secp256r1) with SHA-256.
    P256,
    /// NIST P-384 (secp384r1) with SHA-384.
    P384,
}

impl Curve {
    /// The name model signing and OpenSSL use (`secp256r1`, `secp384r1`).
    pub fn name(self) -> &'static str {
        match self {
            Curve::P256 => "secp256r1",
            Curve::P384 => "secp384r1",
        }
    }
}

impl std::str::FromStr for Curve {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "p256" | "p-256" | "secp256r1" | "prime256v1" => Ok(Curve::P256),
            "p384" | "p-384" | "secp384r1" => Ok(Curve::P384),
            _ => Err(format!("unsupported curve {s:?}: use p256 or p384")),
        }
    }
}

/// A private key for signing models. Zeroed on drop (the RustCrypto signing keys are
/// `ZeroizeOnDrop`); never shown by `Debug`.
pub struct ModelSigningKey {
    inner: SigningInner,
}

enum SigningInner {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

impl fmt::Debug for ModelSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelSigningKey")
            .field("curve", &self.curve())
            .field("public_key_hint", &self.public_key().hint())
            .finish_non_exhaustive()
    }
}

fn key_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::Key {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

const UNSUPPORTED: &str =
    "not an EC private key on P-256 or P-384 (model signing keys are ECDSA P-256 or P-384)";

impl ModelSigningKey {
    /// Reads a PEM private key file (PKCS#8 or SEC1).
    pub fn from_pem_file(path: &Path) -> Result<Self> {
        let text = Zeroizing::new(std::fs::read(path).map_err(io_err(path))?);
        Self::from_pem(&text, path)
    }

    /// Parses a PEM private key (PKCS#8 or SEC1); `origin` names it in errors.
    pub fn from_pem(pem_bytes: &[u8], origin: &Path) -> Result<Self> {
        let blocks =
            pem::parse_many(pem_bytes).map_err(|e| key_err(origin, format!("not PEM: {e}")))?;
        // Take each block's bytes out (`into_contents`) so the secret DER is zeroed on
        // drop and no un-zeroed copy stays behind in the parsed blocks.
        for block in blocks {
            let tag = block.tag().to_string();
            let der = Zeroizing::new(block.into_contents());
            let inner = match tag.as_str() {
                "PRIVATE KEY" => {
                    if let Ok(k) = p256::SecretKey::from_pkcs8_der(&der) {
                        SigningInner::P256(k.into())
                    } else if let Ok(k) = p384::SecretKey::from_pkcs8_der(&der) {
                        SigningInner::P384(k.into())
                    } else {
                        return Err(key_err(origin, UNSUPPORTED));
                    }
                }
                "EC PRIVATE KEY" => {
                    if let Ok(k) = p256::SecretKey::from_sec1_der(&der) {
                        SigningInner::P256(k.into())
                    } else if let Ok(k) = p384::SecretKey::from_sec1_der(&der) {
                        SigningInner::P384(k.into())
                    } else {
                        return Err(key_err(origin, UNSUPPORTED));
                    }
                }
                "ENCRYPTED PRIVATE KEY" => {
                    return Err(key_err(
                        origin,
                        "encrypted private keys are not supported; decrypt it first \
                         (openssl pkcs8 -in KEY -out PLAIN) and keep the plain key in a \
                         protected location",
                    ))
                }
                "PUBLIC KEY" => {
                    return Err(key_err(
                        origin,
                        "this is a public key; signing needs the private key",
                    ))
                }
                // OpenSSL's `ecparam -genkey` writes an `EC PARAMETERS` block first.
                _ => continue,
            };
            return Ok(Self { inner });
        }
        Err(key_err(
            origin,
            "no `PRIVATE KEY` or `EC PRIVATE KEY` PEM block found",
        ))
    }

    /// A new random key on `curve` (from the operating system's generator).
    pub fn generate(curve: Curve) -> Result<Self> {
        use rand::TryRngCore as _;
        let origin = Path::new("<generated>");
        // Rejection sampling: a uniformly random scalar below the group order. The chance
        // of a retry is about 2^-32 (P-256) or less, so the loop is bounded in practice;
        // the cap only turns a broken generator into an error instead of a hang.
        for _ in 0..64 {
            let mut bytes = Zeroizing::new(vec![0u8; if curve == Curve::P256 { 32 } else { 48 }]);
            rand::rngs::OsRng
                .try_fill_bytes(&mut bytes)
                .map_err(|e| key_err(origin, format!("random generator: {e}")))?;
            let inner = match curve {
                Curve::P256 => p256::SecretKey::from_slice(&bytes)
                    .ok()
                    .map(|k| SigningInner::P256(k.into())),
                Curve::P384 => p384::SecretKey::from_slice(&bytes)
                    .ok()
                    .map(|k| SigningInner::P384(k.into())),
            };
            if let Some(inner) = inner {
                return Ok(Self { inner });
            }
        }
        Err(key_err(origin, "random generator gave no valid scalar"))
    }

    /// The key as PKCS#8 PEM (secret: write it with restrictive permissions).
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>> {
        let r = match &self.inner {
            SigningInner::P256(k) => {
                p256::SecretKey::from(k.as_nonzero_scalar()).to_pkcs8_pem(LineEnding::LF)
            }
            SigningInner::P384(k) => {
                p384::SecretKey::from(k.as_nonzero_scalar()).to_pkcs8_pem(LineEnding::LF)
            }
        };
        r.map_err(|e| key_err(Path::new("<memory>"), format!("encoding PKCS#8: {e}")))
    }

    /// The key's curve.
    pub fn curve(&self) -> Curve {
        match self.inner {
            SigningInner::P256(_) => Curve::P256,
            SigningInner::P384(_) => Curve::P384,
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> ModelPublicKey {
        match &self.inner {
            SigningInner::P256(k) => ModelPublicKey::P256(*k.verifying_key()),
            SigningInner::P384(k) => ModelPublicKey::P384(*k.verifying_key()),
        }
    }

    /// ECDSA signature of `message` (hashed with the curve's hash), DER-encoded.
    /// Deterministic nonces (RFC 6979), so no random generator is involved in signing.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        use p256::ecdsa::signature::Signer as _;
        match &self.inner {
            SigningInner::P256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(message);
                sig.to_der().as_bytes().to_vec()
            }
            SigningInner::P384(k) => {
                let sig: p384::ecdsa::Signature = k.sign(message);
                sig.to_der().as_bytes().to_vec()
            }
        }
    }
}

/// A public key trusted to sign models.
#[derive(Clone, PartialEq, Eq)]
pub enum ModelPublicKey {
    /// P-256.
    P256(p256::ecdsa::VerifyingKey),
    /// P-384.
    P384(p384::ecdsa::VerifyingKey),
}

impl fmt::Debug for ModelPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelPublicKey")
            .field("curve", &self.curve())
            .field("hint", &self.hint())
            .finish()
    }
}

impl ModelPublicKey {
    /// Reads an SPKI PEM public key file.
    pub fn from_pem_file(path: &Path) -> Result<Self> {
        let text = std::fs::read(path).map_err(io_err(path))?;
        Self::from_pem(&text, path)
    }

    /// Parses an SPKI PEM public key; `origin` names it in errors.
    pub fn from_pem(pem_bytes: &[u8], origin: &Path) -> Result<Self> {
        let blocks =
            pem::parse_many(pem_bytes).map_err(|e| key_err(origin, format!("not PEM: {e}")))?;
        let block = blocks
            .iter()
            .find(|b| b.tag() == "PUBLIC KEY")
            .ok_or_else(|| {
                key_err(
                    origin,
                    "no `PUBLIC KEY` (SPKI) PEM block found; export it with \
                     `openssl ec -in KEY -pubout`",
                )
            })?;
        Self::from_spki_der(block.contents(), origin)
    }

    /// Parses a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8], origin: &Path) -> Result<Self> {
        if let Ok(k) = p256::PublicKey::from_public_key_der(der) {
            Ok(Self::P256(k.into()))
        } else if let Ok(k) = p384::PublicKey::from_public_key_der(der) {
            Ok(Self::P384(k.into()))
        } else {
            Err(key_err(origin, "not an EC public key on P-256 or P-384"))
        }
    }

    /// The key's curve.
    pub fn curve(&self) -> Curve {
        match self {
            Self::P256(_) => Curve::P256,
            Self::P384(_) => Curve::P384,
        }
    }

    /// SPKI PEM with `\n` line endings and 64-column base64, uncompressed point: the same
    /// bytes as `cryptography`'s `public_bytes(PEM, SubjectPublicKeyInfo)`.
    pub fn to_spki_pem(&self) -> String {
        let r = match self {
            Self::P256(k) => p256::PublicKey::from(k).to_public_key_pem(LineEnding::LF),
            Self::P384(k) => p384::PublicKey::from(k).to_public_key_pem(LineEnding::LF),
        };
        // Encoding a valid curve point as SPKI cannot fail; if it ever did, the empty
        // string's hint would match no bundle (fails closed).
        r.unwrap_or_default()
    }

    /// The public-key hint: hex SHA-256 of [`Self::to_spki_pem`].
    pub fn hint(&self) -> String {
        hex::encode(Sha256::digest(self.to_spki_pem().as_bytes()))
    }

    /// Checks a DER ECDSA signature over `message`.
    pub fn verify(&self, message: &[u8], der_signature: &[u8]) -> Result<()> {
        use p256::ecdsa::signature::Verifier as _;
        let ok = match self {
            Self::P256(k) => p256::ecdsa::Signature::from_der(der_signature)
                .map(|s| k.verify(message, &s).is_ok())
                .unwrap_or(false),
            Self::P384(k) => p384::ecdsa::Signature::from_der(der_signature)
                .map(|s| k.verify(message, &s).is_ok())
                .unwrap_or(false),
        };
        if ok {
            Ok(())
        } else {
            Err(Error::BadSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn memory_origin() -> PathBuf {
        PathBuf::from("<memory>")
    }

    #[test]
    fn generated_keys_sign_and_verify_on_both_curves() {
        for curve in [Curve::P256, Curve::P384] {
            let key = ModelSigningKey::generate(curve).unwrap();
            assert_eq!(key.curve(), curve);
            let sig = key.sign(b"message");
            key.public_key().verify(b"message", &sig).unwrap();
            assert!(matches!(
                key.public_key().verify(b"messagE", &sig),
                Err(Error::BadSignature)
            ));
            // Round trip through PKCS#8 and SPKI PEM.
            let pem = key.to_pkcs8_pem().unwrap();
            let again = ModelSigningKey::from_pem(pem.as_bytes(), &memory_origin()).unwrap();
            assert_eq!(again.public_key(), key.public_key());
            let pubkey = ModelPublicKey::from_pem(
                key.public_key().to_spki_pem().as_bytes(),
                &memory_origin(),
            )
            .unwrap();
            assert_eq!(pubkey, key.public_key());
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let key = ModelSigningKey::generate(Curve::P256).unwrap();
        let pem = key.to_pkcs8_pem().unwrap();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let debug = format!("{key:?}");
        assert!(!debug.contains(&body[..20]));
    }

    #[test]
    fn public_key_is_not_a_private_key() {
        let key = ModelSigningKey::generate(Curve::P256).unwrap();
        let err =
            ModelSigningKey::from_pem(key.public_key().to_spki_pem().as_bytes(), &memory_origin())
                .unwrap_err();
        assert!(err.to_string().contains("public key"), "{err}");
    }
}
