//! Portcullis core: everything the gateway decides that needs neither network nor database.
//!
//! - [`config`]: TOML configuration, loaded in two phases (raw, then validated) with
//!   `${VAR}` interpolation and errors that name file, line and reason.
//! - [`identity`]: API key format, generation, hashing and verification; the principal.
//! - [`policy`]: the Cedar schema, policy loading and the authorization call.
//! - [`limits`]: in-process rate limits and token budgets (reserve, then reconcile).
//! - [`openai`]: typed OpenAI-compatible request bodies, their validation and the error shape.
//! - [`tokens`]: the cheap token estimator used for reservations.
//! - [`mock`]: the built-in mock model, for offline use, tests and benchmarks.
//! - [`sse`]: an incremental server-sent-events framer that sees chunks, never whole bodies.

pub mod config;
pub mod identity;
pub mod limits;
pub mod mock;
pub mod openai;
pub mod policy;
pub mod sse;
pub mod tokens;
