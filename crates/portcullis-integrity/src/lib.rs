//! Model integrity: signing and verifying model artifacts in the OpenSSF model-signing
//! format, and the change-management records that gate what the gateway serves.
