//! The C2SP `signed-note` format (<https://c2sp.org/signed-note>) with Ed25519 keys: the
//! envelope in which the log publishes its checkpoints.
//!
//! A signed note is a UTF-8 text ending in a newline, a blank line, then one or more lines
//! `— <key name> <base64(key ID (4 bytes, big-endian) || signature)>` (em dash U+2014).
//! Keys are named; an Ed25519 key's ID is `SHA-256(name || 0x0A || 0x01 || public key)[:4]`.
//! Keys are written as in Go's `golang.org/x/mod/sumdb/note`, so other tooling can use them:
//!
//! - verifier key (public): `<name>+<8 hex digits key ID>+<base64(0x01 || public key)>`
//! - signer key (secret): `PRIVATE+KEY+<name>+<8 hex digits key ID>+<base64(0x01 || seed)>`
//!
//! Parsing is strict: valid UTF-8, no control characters but newline, the text ends in a
//! newline, every signature line has exactly one space after the dash and one between name
//! and signature, names are valid, base64 is canonical and padded, at most
//! [`MAX_SIGNATURES`] signatures and [`MAX_NOTE_SIZE`] bytes.
//!
//! Verification follows the spec: signatures from other keys (witness cosignatures, a
//! rotated key) are ignored, every signature whose name *and* key ID match the trusted key
//! must verify, and at least one must be present. A note signed only by unknown keys is
//! rejected ([`NoteError::NoTrustedSignature`]).
//!
//! # Why not a crate
//!
//! `signed_note` 0.2 (and the note half of `tlog_tiles`) were checked: a faithful port of
//! Go's package, but it brings `thiserror` 1 and `base64` 0.21 next to this workspace's
//! `thiserror` 2 and `base64` 0.22, builds signers only from secret-key *strings*, and its
//! error type is too coarse to tell "unknown key" from "bad signature". The format is
//! small; this module is checked against Go's published `PeterNeumann` vectors instead.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use secrecy::SecretString;
use sha2::{Digest, Sha256};

/// Signature type byte for Ed25519 (signed-note §"Signature types").
pub const ALG_ED25519: u8 = 0x01;

/// Largest note accepted, in bytes.
pub const MAX_NOTE_SIZE: usize = 1 << 20;

/// Most signature lines accepted in one note (the spec asks for at least 16).
pub const MAX_SIGNATURES: usize = 100;

/// The em dash (U+2014) and space that open a signature line.
const SIG_PREFIX: &str = "\u{2014} ";

/// Why a note, key or signature was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The note's text or signature block is not well-formed.
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    /// A key name is empty or has a Unicode space or `+`.
    #[error("invalid key name {0:?}: it must be non-empty, with no spaces and no '+'")]
    InvalidKeyName(String),
    /// A verifier or signer key string is not well-formed.
    #[error("malformed key: {0}")]
    MalformedKey(&'static str),
    /// A key uses a signature type other than Ed25519.
    #[error("unsupported signature type {0:#04x}")]
    UnsupportedAlgorithm(u8),
    /// A key's stated ID is not the one its name and public key give.
    #[error("key ID {stated:08x} does not match {computed:08x} computed from name and key")]
    KeyIdMismatch {
        /// The ID written in the key string.
        stated: u32,
        /// The ID computed from the name and public key.
        computed: u32,
    },
    /// The note carries no signature from the trusted key.
    #[error("note has no signature from trusted key {name}+{key_id:08x}")]
    NoTrustedSignature {
        /// The trusted key's name.
        name: String,
        /// The trusted key's ID.
        key_id: u32,
    },
    /// A signature from the trusted key does not verify.
    #[error("invalid signature from key {name}+{key_id:08x}")]
    BadSignature {
        /// The key's name.
        name: String,
        /// The key's ID.
        key_id: u32,
    },
    /// The operating system's random number generator failed.
    #[error("random number generator failed: {0}")]
    Random(String),
}

/// Whether `name` is a valid key name: non-empty, no Unicode white space, no `+`.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// The key ID: `SHA-256(name || 0x0A || signature type || public key)[:4]`, big-endian.
pub fn key_id(name: &str, alg: u8, public_key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', alg]);
    h.update(public_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

fn check_key_name(name: &str) -> Result<(), NoteError> {
    if is_valid_key_name(name) {
        Ok(())
    } else {
        Err(NoteError::InvalidKeyName(name.to_string()))
    }
}

/// Checks the text of a note: at most [`MAX_NOTE_SIZE`] bytes, ends in a newline, and has
/// no control characters other than newline.
fn check_text(text: &str) -> Result<(), NoteError> {
    if text.len() > MAX_NOTE_SIZE {
        return Err(NoteError::Malformed("note is too large"));
    }
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed("text does not end in a newline"));
    }
    check_no_controls(text)
}

fn check_no_controls(s: &str) -> Result<(), NoteError> {
    if s.chars().any(|c| c < '\u{20}' && c != '\n') {
        return Err(NoteError::Malformed("control character other than newline"));
    }
    Ok(())
}

/// Decodes canonical, padded standard base64 (RFC 4648 §4), rejecting anything else.
pub(crate) fn decode_base64_strict(s: &str) -> Option<Vec<u8>> {
    let bytes = B64.decode(s).ok()?;
    (B64.encode(&bytes) == s).then_some(bytes)
}

/// Splits `<a>+<b>` at the first `+`.
fn split_plus(s: &str) -> Result<(&str, &str), NoteError> {
    s.split_once('+')
        .ok_or(NoteError::MalformedKey("missing '+' separator"))
}

/// Parses the 8 lowercase hex digit key ID of a key string.
fn parse_key_id_hex(s: &str) -> Result<u32, NoteError> {
    if s.len() != 8 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(NoteError::MalformedKey(
            "key ID must be 8 lowercase hex digits",
        ));
    }
    u32::from_str_radix(s, 16).map_err(|_| NoteError::MalformedKey("bad key ID"))
}

/// Decodes `base64(0x01 || 32 bytes)`.
fn parse_ed25519_key_bytes(s: &str) -> Result<[u8; 32], NoteError> {
    let bytes = decode_base64_strict(s).ok_or(NoteError::MalformedKey("bad base64"))?;
    match bytes.split_first() {
        Some((&ALG_ED25519, rest)) => rest
            .try_into()
            .map_err(|_| NoteError::MalformedKey("Ed25519 key must be 32 bytes")),
        Some((&alg, _)) => Err(NoteError::UnsupportedAlgorithm(alg)),
        None => Err(NoteError::MalformedKey("empty key")),
    }
}

/// A trusted Ed25519 public key with its name: checks signed notes.
#[derive(Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl std::fmt::Debug for NoteVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("NoteVerifier")
            .field(&self.to_vkey())
            .finish()
    }
}

impl NoteVerifier {
    /// A verifier for `key` under `name`.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, NoteError> {
        check_key_name(name)?;
        Ok(Self {
            name: name.to_string(),
            key_id: key_id(name, ALG_ED25519, key.as_bytes()),
            key,
        })
    }

    /// Parses a verifier key `<name>+<hex key ID>+<base64(0x01 || public key)>`, checking
    /// the key ID against the name and key.
    pub fn from_vkey(vkey: &str) -> Result<Self, NoteError> {
        let (name, rest) = split_plus(vkey)?;
        let (id_hex, key_b64) = split_plus(rest)?;
        check_key_name(name)?;
        let stated = parse_key_id_hex(id_hex)?;
        let bytes = parse_ed25519_key_bytes(key_b64)?;
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|_| NoteError::MalformedKey("not a valid Ed25519 public key"))?;
        let verifier = Self::new(name, key)?;
        if verifier.key_id != stated {
            return Err(NoteError::KeyIdMismatch {
                stated,
                computed: verifier.key_id,
            });
        }
        Ok(verifier)
    }

    /// The verifier key string, for publishing.
    pub fn to_vkey(&self) -> String {
        let mut key = Vec::with_capacity(33);
        key.push(ALG_ED25519);
        key.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.key_id, B64.encode(key))
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The Ed25519 public key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Whether `signature` (64 bytes, without the key ID) is this key's signature of `text`.
    /// Uses Ed25519 strict verification (rejects malleable signatures and weak keys).
    pub fn verify_signature(&self, text: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
            return false;
        };
        self.key.verify_strict(text, &sig).is_ok()
    }

    /// Parses a signed note and verifies it with this key (see the module docs for the
    /// rules). Returns the parsed note; only its text is authenticated.
    pub fn open(&self, message: &str) -> Result<SignedNote, NoteError> {
        let note = SignedNote::parse(message)?;
        note.verify(self)?;
        Ok(note)
    }
}

/// An Ed25519 private key with its name: signs notes. The secret never appears in `Debug`
/// output, and the key is zeroed on drop.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// A new random key (from the operating system's generator) named `name`.
    pub fn generate(name: &str) -> Result<Self, NoteError> {
        use rand::TryRngCore as _;
        let mut seed = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut seed)
            .map_err(|e| NoteError::Random(e.to_string()))?;
        let signer = Self::from_seed(name, &seed);
        seed.fill(0);
        signer
    }

    /// The key with this 32-byte Ed25519 seed (RFC 8032 private key), named `name`.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, NoteError> {
        check_key_name(name)?;
        let key = SigningKey::from_bytes(seed);
        Ok(Self {
            name: name.to_string(),
            key_id: key_id(name, ALG_ED25519, key.verifying_key().as_bytes()),
            key,
        })
    }

    /// Parses a signer key `PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || seed)>`,
    /// checking the key ID against the name and derived public key.
    pub fn from_skey(skey: &str) -> Result<Self, NoteError> {
        let rest = skey
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::MalformedKey("missing PRIVATE+KEY+ prefix"))?;
        let (name, rest) = split_plus(rest)?;
        let (id_hex, key_b64) = split_plus(rest)?;
        check_key_name(name)?;
        let stated = parse_key_id_hex(id_hex)?;
        let mut seed = parse_ed25519_key_bytes(key_b64)?;
        let signer = Self::from_seed(name, &seed);
        seed.fill(0);
        let signer = signer?;
        if signer.key_id != stated {
            return Err(NoteError::KeyIdMismatch {
                stated,
                computed: signer.key_id,
            });
        }
        Ok(signer)
    }

    /// The signer key string (secret: store it like a password).
    pub fn to_skey(&self) -> SecretString {
        let mut key = Vec::with_capacity(33);
        key.push(ALG_ED25519);
        key.extend_from_slice(self.key.as_bytes());
        let s = format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.key_id,
            B64.encode(&key)
        );
        key.fill(0);
        SecretString::from(s)
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The matching verifier (public key).
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// This key's signature line for `text` (which must be a valid note text).
    pub fn sign_line(&self, text: &str) -> Result<NoteSignature, NoteError> {
        check_text(text)?;
        Ok(NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            signature: self.key.sign(text.as_bytes()).to_bytes().to_vec(),
        })
    }

    /// Signs `text` and returns the whole signed note (text, blank line, signature line).
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        let mut note = SignedNote::new(text)?;
        note.add_signature(self)?;
        Ok(note.to_string())
    }
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The key ID.
    pub key_id: u32,
    /// The signature bytes (without the key ID).
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// Parses one line (without its newline) `— <name> <base64(key ID || signature)>`.
    pub fn parse_line(line: &str) -> Result<Self, NoteError> {
        let rest = line.strip_prefix(SIG_PREFIX).ok_or(NoteError::Malformed(
            "signature line must start with \"— \"",
        ))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or(NoteError::Malformed("signature line has no signature"))?;
        if !is_valid_key_name(name) {
            return Err(NoteError::Malformed("invalid key name in signature line"));
        }
        let bytes = decode_base64_strict(b64)
            .ok_or(NoteError::Malformed("signature is not canonical base64"))?;
        match bytes.as_slice() {
            [a, b, c, d, sig @ ..] if !sig.is_empty() => Ok(Self {
                name: name.to_string(),
                key_id: u32::from_be_bytes([*a, *b, *c, *d]),
                signature: sig.to_vec(),
            }),
            _ => Err(NoteError::Malformed("signature is too short")),
        }
    }

    /// The line, without its newline.
    pub fn to_line(&self) -> String {
        let mut bytes = Vec::with_capacity(4 + self.signature.len());
        bytes.extend_from_slice(&self.key_id.to_be_bytes());
        bytes.extend_from_slice(&self.signature);
        format!("{SIG_PREFIX}{} {}", self.name, B64.encode(bytes))
    }
}

/// A parsed note: its text and signature lines. Parsing checks the form only; use
/// [`SignedNote::verify`] (or [`NoteVerifier::open`]) before trusting the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNote {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl SignedNote {
    /// An unsigned note with this text (checked: ends in newline, no control characters).
    pub fn new(text: &str) -> Result<Self, NoteError> {
        check_text(text)?;
        Ok(Self {
            text: text.to_string(),
            signatures: Vec::new(),
        })
    }

    /// Parses a signed note strictly (see the module docs).
    pub fn parse(message: &str) -> Result<Self, NoteError> {
        if message.len() > MAX_NOTE_SIZE {
            return Err(NoteError::Malformed("note is too large"));
        }
        check_no_controls(message)?;
        // The text is separated from the signatures by the last blank line.
        let (text, sigs) = message
            .rsplit_once("\n\n")
            .ok_or(NoteError::Malformed("no blank line before signatures"))?;
        let sigs = sigs
            .strip_suffix('\n')
            .ok_or(NoteError::Malformed("last signature line has no newline"))?;
        let mut signatures = Vec::new();
        for line in sigs.split('\n') {
            if signatures.len() == MAX_SIGNATURES {
                return Err(NoteError::Malformed("too many signatures"));
            }
            signatures.push(NoteSignature::parse_line(line)?);
        }
        let text = format!("{text}\n");
        check_text(&text)?;
        Ok(Self { text, signatures })
    }

    /// Parses a signed note from bytes (which must be UTF-8).
    pub fn parse_bytes(message: &[u8]) -> Result<Self, NoteError> {
        let message =
            std::str::from_utf8(message).map_err(|_| NoteError::Malformed("not UTF-8"))?;
        Self::parse(message)
    }

    /// The note text (including its final newline).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signatures, in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Checks the note against a trusted key: every signature with the key's name and ID
    /// must verify, at least one must exist, others are ignored.
    pub fn verify(&self, verifier: &NoteVerifier) -> Result<(), NoteError> {
        let mut found = false;
        for sig in &self.signatures {
            if sig.name != verifier.name || sig.key_id != verifier.key_id {
                continue;
            }
            if !verifier.verify_signature(self.text.as_bytes(), &sig.signature) {
                return Err(NoteError::BadSignature {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                });
            }
            found = true;
        }
        if !found {
            return Err(NoteError::NoTrustedSignature {
                name: verifier.name.clone(),
                key_id: verifier.key_id,
            });
        }
        Ok(())
    }

    /// Adds `signer`'s signature, replacing any earlier one by the same key.
    pub fn add_signature(&mut self, signer: &NoteSigner) -> Result<(), NoteError> {
        let sig = signer.sign_line(&self.text)?;
        self.signatures
            .retain(|s| !(s.name == sig.name && s.key_id == sig.key_id));
        if self.signatures.len() >= MAX_SIGNATURES {
            return Err(NoteError::Malformed("too many signatures"));
        }
        self.signatures.push(sig);
        Ok(())
    }
}

impl std::fmt::Display for SignedNote {
    /// The encoded note: text, blank line, one line per signature.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)?;
        f.write_str("\n")?;
        for sig in &self.signatures {
            f.write_str(&sig.to_line())?;
            f.write_str("\n")?;
        }
        Ok(())
    }
}
