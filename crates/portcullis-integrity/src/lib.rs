//! Model integrity: signing and verifying model artifacts in the OpenSSF model-signing
//! format, and the change-management records that gate what the gateway serves.
//!
//! - [`keys`], [`dsse`], [`manifest`], [`bundle`], [`signing`]: `portcullis model sign key`
//!   and `verify key`, byte-compatible with the Python `model_signing` package
//!   (sigstore/model-transparency) for elliptic-curve keys: either side verifies what the
//!   other signs.
//! - [`registry`]: model versions moving `proposed -> approved -> active -> retired`,
//!   promoted only by k distinct Ed25519 approvals over the exact record.

#![deny(missing_docs)]

pub mod bundle;
pub mod dsse;
mod error;
pub mod keys;
pub mod manifest;
pub mod policy_bundle;
pub mod registry;
pub mod signing;

pub use error::{Error, ManifestDiff, RegistryError, Result};
pub use keys::{Curve, ModelPublicKey, ModelSigningKey};
pub use manifest::{hash_model, HashOptions, Manifest, Method};
pub use signing::{
    sign_model, verify_bundle, verify_model, SignedModel, VerifiedModel, VerifyOptions,
};
