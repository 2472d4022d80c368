//! Configuration: TOML, loaded in two phases.
//!
//! Phase one reads the file, interpolates `${VAR}` / `${VAR:-default}` and deserializes
//! into [`RawConfig`] with `deny_unknown_fields`, so a typo is an error rather than a
//! silently ignored setting. Phase two ([`Config::from_raw`]) checks meaning (addresses,
//! URLs, references between sections, the `dangerous` section) and produces the
//! [`Config`] the gateway runs on. Every error carries the file, the line and the reason.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use toml::Spanned;

use crate::limits::LimitSpec;
use crate::openai::CapField;

/// A configuration error, located in a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file the error is in.
    pub file: PathBuf,
    /// 1-based line, 0 when the error concerns the file as a whole.
    pub line: usize,
    /// 1-based column, 0 when unknown.
    pub column: usize,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (0, _) => write!(f, "{}: {}", self.file.display(), self.reason),
            (l, 0) => write!(f, "{}:{}: {}", self.file.display(), l, self.reason),
            (l, c) => write!(f, "{}:{}:{}: {}", self.file.display(), l, c, self.reason),
        }
    }
}

impl ConfigError {
    /// An error about the file as a whole.
    pub fn whole(file: &Path, reason: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            reason: reason.into(),
        }
    }

    /// An error at a byte offset of `text`.
    pub fn at_offset(file: &Path, text: &str, offset: usize, reason: impl Into<String>) -> Self {
        let (line, column) = line_col(text, offset);
        Self {
            file: file.to_path_buf(),
            line,
            column,
            reason: reason.into(),
        }
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Reads environment variables; a trait so tests need not mutate the process environment.
pub trait Env {
    /// The value of `name`, if set.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// Replaces `${VAR}` and `${VAR:-default}` in `text`; `$${` stands for a literal `${`.
///
/// Comment lines are left alone. A value that could change the structure of the TOML
/// document (quotes, backslashes, newlines, control characters) is refused: the
/// environment may fill in values, never add settings.
pub fn interpolate(file: &Path, text: &str, env: &dyn Env) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    let mut offset = 0usize;
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            offset += line.len();
            continue;
        }
        let mut rest = line;
        let mut pos = offset;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let tail = &rest[i..];
            if let Some(after) = tail.strip_prefix("$${") {
                out.push_str("${");
                rest = after;
                pos += i + 3;
                continue;
            }
            if !tail.starts_with("${") {
                out.push('$');
                rest = &tail[1..];
                pos += i + 1;
                continue;
            }
            let Some(end) = tail.find('}') else {
                return Err(ConfigError::at_offset(
                    file,
                    text,
                    pos + i,
                    "unterminated `${` (write `$${` for a literal)",
                ));
            };
            let inner = &tail[2..end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(ConfigError::at_offset(
                    file,
                    text,
                    pos + i,
                    format!("invalid variable name `{name}` in `${{{inner}}}`"),
                ));
            }
            let value = match (env.var(name), default) {
                (Some(v), _) => v,
                (None, Some(d)) => d.to_string(),
                (None, None) => {
                    return Err(ConfigError::at_offset(
                        file,
                        text,
                        pos + i,
                        format!("environment variable `{name}` is not set and has no default (write `${{{name}:-default}}`)"),
                    ))
                }
            };
            if value
                .chars()
                .any(|c| c == '"' || c == '\'' || c == '\\' || c.is_control())
            {
                return Err(ConfigError::at_offset(
                    file,
                    text,
                    pos + i,
                    format!("value of `{name}` contains a quote, backslash or control character, which is not allowed in interpolation"),
                ));
            }
            out.push_str(&value);
            rest = &tail[end + 1..];
            pos += i + end + 1;
        }
        out.push_str(rest);
        offset += line.len();
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Phase one: the raw file.
// ---------------------------------------------------------------------------

/// The configuration file as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub admin: RawAdmin,
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub policy: RawPolicy,
    #[serde(default)]
    pub upstreams: BTreeMap<String, Spanned<RawUpstream>>,
    #[serde(default)]
    pub models: BTreeMap<String, Spanned<RawModel>>,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub validation: RawValidation,
    #[serde(default)]
    pub bootstrap: RawBootstrap,
    #[serde(default)]
    pub auth: RawAuth,
    #[serde(default)]
    pub dangerous: RawDangerous,
    /// The tamper-evident audit log; off when absent.
    pub audit: Option<Spanned<RawAudit>>,
    /// Input and output guards (on by default, with default actions).
    #[serde(default)]
    pub guards: RawGuards,
    /// Model integrity: who approves models and whose model signatures are trusted.
    pub integrity: Option<Spanned<RawIntegrity>>,
    /// Anomaly detection and containment (`portcullis-anomaly`); off when absent.
    pub anomaly: Option<Spanned<portcullis_anomaly::RawAnomalyConfig>>,
    /// Shared rate limits and budgets across replicas; in process when absent.
    pub redis: Option<Spanned<RawRedis>>,
}

/// `[redis]`: where the limits every replica shares live.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRedis {
    /// `redis://host:port[/db]`; use `${VAR}` interpolation for a password.
    pub url: Spanned<String>,
    /// `fail_closed` (default) or `local`.
    pub on_unavailable: Option<Spanned<String>>,
    /// How long one Redis call may take before Redis counts as unavailable.
    pub timeout: Option<Spanned<String>>,
    /// Prefix of every key (several deployments can share one Redis).
    pub key_prefix: Option<String>,
}

/// `[integrity]`: the model registry's approval policy as the gateway enforces it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIntegrity {
    /// Approver verifier keys (`portcullis audit keygen` format), one per line.
    pub approvers_file: Spanned<String>,
    /// Distinct approvals a version needs (k); default 2.
    pub threshold: Option<Spanned<i64>>,
    /// Public keys (SPKI PEM files) whose model signatures are trusted.
    #[serde(default)]
    pub trusted_signers: Vec<Spanned<String>>,
    /// How often active versions are re-verified (files re-hashed), e.g. `5m`.
    pub verify_interval: Option<Spanned<String>>,
}

/// `[guards]`: the default guard profile, plus named profiles under `[guards.profiles]`.
/// The profile keys are repeated in [`RawGuardProfile`] rather than shared with
/// `#[serde(flatten)]`, because serde does not support `flatten` together with
/// `deny_unknown_fields`, and unknown keys must be refused.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawGuards {
    pub enabled: Option<bool>,
    pub injection_threshold: Option<Spanned<f32>>,
    pub jailbreak_threshold: Option<Spanned<f32>>,
    pub allowed_link_hosts: Option<Vec<String>>,
    pub canary: Option<bool>,
    #[serde(default)]
    pub input: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub output: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Spanned<RawGuardProfile>>,
}

/// `[guards.profiles.NAME]`: overrides of the default profile.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawGuardProfile {
    pub enabled: Option<bool>,
    pub injection_threshold: Option<Spanned<f32>>,
    pub jailbreak_threshold: Option<Spanned<f32>>,
    pub allowed_link_hosts: Option<Vec<String>>,
    pub canary: Option<bool>,
    #[serde(default)]
    pub input: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub output: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    /// The Ed25519 signing key, in the signed-note `PRIVATE+KEY+...` format.
    pub signing_key_file: Spanned<String>,
    /// The checkpoint origin line.
    pub origin: Option<Spanned<String>>,
    /// How often a checkpoint is signed, e.g. `10s`.
    pub checkpoint_interval: Option<Spanned<String>>,
    /// Keep request and response bodies, encrypted (off by default).
    pub store_bodies: Option<Spanned<bool>>,
    /// The body encryption key (32 bytes, hex or base64) in this file...
    pub body_key_file: Option<Spanned<String>>,
    /// ...or in this environment variable.
    pub body_key_env: Option<Spanned<String>>,
    /// Delete stored bodies older than this, e.g. `30d`.
    pub body_retention: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    /// OIDC issuers whose JWTs are accepted, by name.
    #[serde(default)]
    pub oidc: BTreeMap<String, Spanned<RawIssuer>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIssuer {
    pub issuer: String,
    pub audiences: Vec<String>,
    pub jwks_file: Option<String>,
    pub jwks_url: Option<String>,
    pub algorithms: Option<Vec<String>>,
    pub principal_claim: Option<String>,
    pub groups_claim: Option<String>,
    pub leeway: Option<Spanned<String>>,
    pub max_token_bytes: Option<usize>,
    pub refresh_cooldown: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub cert_file: String,
    pub key_file: String,
    /// `none` (default), `optional` or `required`.
    pub client_auth: Option<Spanned<String>>,
    /// Trust bundles for client certificates, one per SPIFFE trust domain.
    #[serde(default)]
    pub trust_domains: BTreeMap<String, RawTrustDomain>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrustDomain {
    pub bundle_file: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<Spanned<String>>,
    pub max_body_bytes: Option<usize>,
    pub max_header_bytes: Option<usize>,
    pub request_timeout: Option<Spanned<String>>,
    pub tls: Option<Spanned<RawTls>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub listen: Option<Spanned<String>>,
    /// The admin token, from an environment variable.
    pub token_env: Option<String>,
    /// The admin token, from a file.
    pub token_file: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub kind: Option<Spanned<String>>,
    pub data_dir: Option<String>,
    /// PostgreSQL: the connection URL, without a password (use `url_env` or `url_file`
    /// for one that has it).
    pub url: Option<Spanned<String>>,
    /// PostgreSQL: the environment variable holding the URL.
    pub url_env: Option<Spanned<String>>,
    /// PostgreSQL: a file holding the URL.
    pub url_file: Option<Spanned<String>>,
    /// PostgreSQL: the schema for Portcullis's tables (default `public`).
    pub schema: Option<Spanned<String>>,
    /// PostgreSQL: pooled connections per process (default 8).
    pub pool_size: Option<Spanned<i64>>,
    /// PostgreSQL: deadline of one store operation (default `10s`).
    pub timeout: Option<Spanned<String>>,
    /// PostgreSQL with `sslmode=require`: the CA certificates (PEM) to trust instead of
    /// the public web roots.
    pub ca_file: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub format: Option<Spanned<String>>,
    pub level: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub dir: Option<String>,
    /// `dir` (default: the `.cedar` files of `dir`) or `bundle` (the active approved
    /// policy bundle in the database).
    pub source: Option<Spanned<String>>,
}

/// Where the gateway's policies (and, for bundles, optionally its guard configuration)
/// come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicySource {
    /// The `.cedar` files of `[policy] dir`; reloaded on SIGHUP.
    Dir,
    /// The active policy bundle (`portcullis policy ...`), re-verified against the
    /// `[integrity]` approvers; picked up within a second of a change.
    Bundle,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    /// `openai` (any OpenAI-compatible `/v1` server) or `mock` (built in).
    pub kind: Option<String>,
    pub base_url: Option<Spanned<String>>,
    pub api_key_env: Option<String>,
    pub api_key_file: Option<String>,
    pub connect_timeout: Option<Spanned<String>>,
    pub first_byte_timeout: Option<Spanned<String>>,
    pub total_timeout: Option<Spanned<String>>,
    pub max_response_bytes: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub upstream: Spanned<String>,
    pub upstream_model: Option<String>,
    pub provider: Option<String>,
    pub tier: Option<String>,
    /// Which endpoints the model serves: `chat`, `embeddings`. Default: both.
    pub endpoints: Option<Vec<String>>,
    /// Credentials the caller must present for this model: `mtls`, `jwt`.
    pub require: Option<Vec<String>>,
    /// The guard profile (`[guards.profiles.NAME]`); default: `[guards]` itself.
    pub guards: Option<Spanned<String>>,
    /// Served only while the model registry has an active version of it (approved by k
    /// of the `[integrity]` approvers, artifacts verified). Default: false.
    pub registry: Option<bool>,
    /// The completion cap added to a chat request that has none (and reserved for each
    /// completion); default: `[validation] default_max_tokens`.
    pub default_max_tokens: Option<Spanned<u64>>,
    /// The field that cap is written in: `max_completion_tokens` (default) or
    /// `max_tokens`.
    pub max_tokens_field: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// Limits applied to each principal that has no entry of its own.
    pub default: Option<LimitSpec>,
    /// API-key principals by name (the anonymous principal too).
    #[serde(default)]
    pub principals: BTreeMap<String, Spanned<LimitSpec>>,
    #[serde(default)]
    pub groups: BTreeMap<String, LimitSpec>,
    /// Users of an OIDC issuer: `[limits.users.ISSUER.NAME]`, ISSUER the name of an
    /// `[auth.oidc.ISSUER]` section, NAME the token's principal claim.
    #[serde(default)]
    pub users: BTreeMap<String, Spanned<BTreeMap<String, LimitSpec>>>,
    /// Workloads authenticated by mTLS alone, by SPIFFE ID.
    #[serde(default)]
    pub workloads: BTreeMap<String, Spanned<LimitSpec>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawValidation {
    pub max_tokens_cap: Option<u64>,
    pub max_messages: Option<usize>,
    /// The completion cap added to a chat request that has none, for every model
    /// without its own.
    pub default_max_tokens: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawBootstrap {
    /// Create a demo key on first start (when the key store is empty) and write it to
    /// `<data_dir>/demo.key`. Meant for the quickstart only.
    pub demo_key: Option<RawDemoKey>,
    /// Create `admin.token_file` with a random token on first start if it is missing.
    #[serde(default)]
    pub admin_token: bool,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawDemoKey {
    pub principal: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// Settings that weaken security. They live only here, so a reviewer finds them at once.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawDangerous {
    /// Admit requests without credentials as this principal.
    pub anonymous: Option<RawDemoKey>,
    /// Upstream credentials written in the file, by upstream name.
    #[serde(default)]
    pub plaintext_credentials: BTreeMap<String, SecretString>,
    /// Upstreams whose TLS certificate is not verified.
    #[serde(default)]
    pub skip_tls_verify: Vec<String>,
    /// Serve the admin API (metrics, readiness) without a credential.
    #[serde(default)]
    pub admin_anonymous: bool,
}

// ---------------------------------------------------------------------------
// Phase two: the validated configuration.
// ---------------------------------------------------------------------------

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Which store backs keys, counters and decision records.
#[derive(Debug, Clone)]
pub enum StoreKind {
    /// SQLite in WAL mode under the data directory.
    Sqlite,
    /// A PostgreSQL database shared by the gateway's replicas.
    Postgres(PostgresStoreConfig),
}

/// `[store] kind = "postgres"`, validated.
#[derive(Debug, Clone)]
pub struct PostgresStoreConfig {
    /// Where the connection URL comes from (`Plaintext` only for a URL without a
    /// password); read at start, never logged.
    pub url: CredentialSource,
    /// The schema for Portcullis's tables; `None` is `public`.
    pub schema: Option<String>,
    /// Pooled connections per process.
    pub pool_size: usize,
    /// Deadline of one store operation.
    pub timeout: Duration,
    /// CA certificates to verify the server with (`sslmode=require`); `None`: the
    /// public web roots.
    pub ca_file: Option<PathBuf>,
}

/// Where a credential comes from. The value is read at start, never stored in config.
#[derive(Debug, Clone)]
pub enum CredentialSource {
    /// No credential (local servers such as vLLM or Ollama without auth).
    None,
    /// The named environment variable.
    Env(String),
    /// The file's content, trimmed.
    File(PathBuf),
    /// Written in the config's `dangerous` section.
    Plaintext(SecretString),
}

/// What serves an upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamKind {
    /// Any OpenAI-compatible HTTP server.
    OpenAi,
    /// The built-in mock model.
    Mock,
}

/// One upstream model server.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub name: String,
    pub kind: UpstreamKind,
    /// Base URL ending in the API root (e.g. `https://api.openai.com/v1`), without a trailing slash.
    pub base_url: String,
    pub credential: CredentialSource,
    pub connect_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub total_timeout: Duration,
    pub max_response_bytes: usize,
    pub skip_tls_verify: bool,
}

/// A public model name and where it goes.
#[derive(Debug, Clone)]
pub struct Model {
    pub name: String,
    pub upstream: String,
    pub upstream_model: String,
    pub provider: String,
    pub tier: String,
    pub chat: bool,
    pub embeddings: bool,
    /// The caller must come over mTLS with a SPIFFE identity.
    pub require_mtls: bool,
    /// The caller must present an OIDC token.
    pub require_jwt: bool,
    /// The guard profile's name (`default` for `[guards]`).
    pub guards: String,
    /// Served only while the model registry has an active version of it.
    pub registry: bool,
    /// The completion cap added to a chat request that gives none (and reserved for
    /// each of its completions).
    pub default_max_tokens: u64,
    /// The field that cap is written in.
    pub max_tokens_field: CapField,
}

/// `[integrity]`, validated: the gateway re-checks active registry versions with it.
#[derive(Debug, Clone)]
pub struct IntegrityConfig {
    /// The approver set file (read at start).
    pub approvers_file: PathBuf,
    /// k: distinct approvals needed.
    pub threshold: usize,
    /// Trusted model-signing public keys (PEM files, read at start).
    pub trusted_signers: Vec<PathBuf>,
    /// How often active versions are re-verified.
    pub verify_interval: Duration,
}

/// Approvals a model version needs when `[integrity] threshold` is not given.
pub const DEFAULT_APPROVAL_THRESHOLD: usize = 2;

/// A validated guard profile. Thresholds left unset take the shipped classifier's
/// dev-tuned defaults (known only once the model is loaded).
#[derive(Debug, Clone, PartialEq)]
pub struct GuardSettings {
    pub enabled: bool,
    pub injection_threshold: Option<f32>,
    pub jailbreak_threshold: Option<f32>,
    pub allowed_link_hosts: Vec<String>,
    pub canary: bool,
    /// Overrides of the default input actions, in file order.
    pub input: Vec<(
        portcullis_guard::FindingKind,
        portcullis_guard::action::Action,
    )>,
    /// Overrides of the default output actions, in file order.
    pub output: Vec<(
        portcullis_guard::FindingKind,
        portcullis_guard::action::Action,
    )>,
}

impl Default for GuardSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            injection_threshold: None,
            jailbreak_threshold: None,
            allowed_link_hosts: Vec::new(),
            canary: false,
            input: Vec::new(),
            output: Vec::new(),
        }
    }
}

/// The name of the profile `[guards]` itself defines.
pub const DEFAULT_GUARD_PROFILE: &str = "default";

/// Whether the data-plane listener asks for client certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificates.
    None,
    /// Verified when presented.
    Optional,
    /// Every connection must present a valid one.
    Required,
}

/// TLS on the data-plane listener.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub client_auth: ClientAuth,
    /// Trust domain to bundle file.
    pub trust_domains: BTreeMap<String, PathBuf>,
}

/// Where an issuer's keys come from.
#[derive(Debug, Clone)]
pub enum JwksSource {
    /// A file, re-read on refresh.
    File(PathBuf),
    /// An HTTPS URL.
    Url(String),
}

/// An OIDC issuer.
#[derive(Debug, Clone)]
pub struct OidcIssuer {
    pub config: crate::identity::jwt::IssuerConfig,
    pub jwks: JwksSource,
    /// Least time between two refreshes triggered by unknown key ids.
    pub refresh_cooldown: Duration,
}

/// A fixed principal (the demo key or anonymous access).
#[derive(Debug, Clone)]
pub struct FixedPrincipal {
    pub principal: String,
    pub groups: Vec<String>,
}

/// Default checkpoint origin of the audit log.
pub const DEFAULT_AUDIT_ORIGIN: &str = "portcullis.local/audit";

/// The tamper-evident audit log (`[audit]`).
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// The Ed25519 signing key file (`PRIVATE+KEY+<name>+<id>+<base64>`), read at start.
    pub signing_key_file: PathBuf,
    /// The checkpoint origin line (the log's name).
    pub origin: String,
    /// How often a checkpoint of the log is signed (when it grew).
    pub checkpoint_interval: Duration,
    /// Encrypted storage of request and response bodies; `None` when off.
    pub bodies: Option<AuditBodies>,
}

/// `[audit] store_bodies = true`: bodies kept encrypted at rest, for a while.
#[derive(Debug, Clone)]
pub struct AuditBodies {
    /// Where the 32-byte key comes from (`Env` or `File`); read at start.
    pub key: CredentialSource,
    /// Bodies older than this are deleted; `None` keeps them.
    pub retention: Option<Duration>,
}

/// What the gateway does when Redis cannot answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisFallback {
    /// Refuse the request with 503 (the default: a limit that cannot be checked is not
    /// enforced otherwise).
    FailClosed,
    /// Enforce the limits per replica, in process, and count it in a metric.
    Local,
}

/// `[redis]`, validated.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// The URL; secret because it may carry a password.
    pub url: secrecy::SecretString,
    /// What to do when Redis is unavailable.
    pub on_unavailable: RedisFallback,
    /// The budget of one Redis call.
    pub timeout: Duration,
    /// Key prefix.
    pub key_prefix: String,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// Guard profiles by name; `default` is `[guards]` itself.
    pub guard_profiles: BTreeMap<String, GuardSettings>,
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub max_body_bytes: usize,
    pub max_header_bytes: usize,
    pub request_timeout: Duration,
    pub store: StoreKind,
    pub data_dir: PathBuf,
    pub log_format: LogFormat,
    pub log_level: String,
    pub policy_dir: PathBuf,
    /// Where policies come from.
    pub policy_source: PolicySource,
    pub upstreams: BTreeMap<String, Upstream>,
    pub models: BTreeMap<String, Model>,
    pub default_limits: LimitSpec,
    /// `[limits.principals.NAME]`: API-key principals only.
    pub principal_limits: BTreeMap<String, LimitSpec>,
    /// `[limits.users.ISSUER.NAME]`: issuer name, then the user's name.
    pub user_limits: BTreeMap<String, BTreeMap<String, LimitSpec>>,
    /// `[limits.workloads."SPIFFE-ID"]`.
    pub workload_limits: BTreeMap<String, LimitSpec>,
    pub group_limits: BTreeMap<String, LimitSpec>,
    pub max_tokens_cap: u64,
    pub max_messages: usize,
    pub demo_key: Option<FixedPrincipal>,
    pub anonymous: Option<FixedPrincipal>,
    pub tls: Option<TlsConfig>,
    pub issuers: Vec<OidcIssuer>,
    /// Where the admin token comes from; `None` means only `/healthz` is served unless
    /// `admin_anonymous`.
    pub admin_token: Option<CredentialSource>,
    pub admin_anonymous: bool,
    /// Create the admin token file at first start if missing.
    pub bootstrap_admin_token: bool,
    /// The audit log; `None` when `[audit]` is absent (audit off).
    pub audit: Option<AuditConfig>,
    /// `[integrity]`; required when a model has `registry = true`.
    pub integrity: Option<IntegrityConfig>,
    /// `[redis]`: shared limits; `None` keeps them in process.
    pub redis: Option<RedisConfig>,
    /// `[anomaly]`; `None` when absent (detection off).
    pub anomaly: Option<portcullis_anomaly::AnomalyConfig>,
}

type ActionOverrides = Vec<(
    portcullis_guard::FindingKind,
    portcullis_guard::action::Action,
)>;

fn guard_actions(
    map: &BTreeMap<String, Spanned<String>>,
    section: &str,
    at: &dyn Fn(std::ops::Range<usize>, String) -> ConfigError,
) -> Result<ActionOverrides, ConfigError> {
    let mut out = Vec::new();
    for (kind, action) in map {
        let k =
            portcullis_guard::FindingKind::parse(&kind.to_ascii_uppercase()).ok_or_else(|| {
                let names: Vec<_> = portcullis_guard::FindingKind::ALL
                    .iter()
                    .map(|k| k.as_str())
                    .collect();
                at(
                    action.span(),
                    format!(
                        "{section}: unknown finding type `{kind}` (expected one of {})",
                        names.join(", ")
                    ),
                )
            })?;
        let a = action
            .get_ref()
            .parse::<portcullis_guard::action::Action>()
            .map_err(|e| at(action.span(), format!("{section}.{kind}: {e}")))?;
        out.push((k, a));
    }
    Ok(out)
}

fn threshold(
    t: &Option<Spanned<f32>>,
    name: &str,
    at: &dyn Fn(std::ops::Range<usize>, String) -> ConfigError,
) -> Result<Option<f32>, ConfigError> {
    match t {
        None => Ok(None),
        Some(v) if (0.0..=1.0).contains(v.get_ref()) => Ok(Some(*v.get_ref())),
        Some(v) => Err(at(v.span(), format!("{name} must be between 0 and 1"))),
    }
}

/// `[guards]` and its profiles; a profile starts from `[guards]` and overrides it.
/// The guard profiles of a policy bundle's `guards.toml` (only `[guards]` and
/// `[guards.profiles.NAME]`), checked like the main file's, and against the models'
/// profile names: a bundle cannot leave a model without its profile. Errors name
/// `name` (e.g. `bundle v3/guards.toml`) and the line.
pub fn parse_guards_toml(
    name: &Path,
    text: &str,
    models: &BTreeMap<String, Model>,
) -> Result<BTreeMap<String, GuardSettings>, ConfigError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct GuardsOnly {
        #[serde(default)]
        guards: RawGuards,
    }
    let raw: GuardsOnly = toml::from_str(text).map_err(|e| {
        ConfigError::at_offset(
            name,
            text,
            e.span().map_or(0, |s| s.start),
            e.message().trim(),
        )
    })?;
    let at = |span: std::ops::Range<usize>, reason: String| {
        ConfigError::at_offset(name, text, span.start, reason)
    };
    let profiles = guard_profiles(&raw.guards, &at)?;
    for m in models.values() {
        if !profiles.contains_key(&m.guards) {
            return Err(ConfigError::whole(
                name,
                format!(
                    "model `{}` uses guard profile `{}`, which this file does not define",
                    m.name, m.guards
                ),
            ));
        }
    }
    Ok(profiles)
}

fn guard_profiles(
    raw: &RawGuards,
    at: &dyn Fn(std::ops::Range<usize>, String) -> ConfigError,
) -> Result<BTreeMap<String, GuardSettings>, ConfigError> {
    let d = GuardSettings::default();
    let base = GuardSettings {
        enabled: raw.enabled.unwrap_or(d.enabled),
        injection_threshold: threshold(&raw.injection_threshold, "guards.injection_threshold", at)?,
        jailbreak_threshold: threshold(&raw.jailbreak_threshold, "guards.jailbreak_threshold", at)?,
        allowed_link_hosts: raw.allowed_link_hosts.clone().unwrap_or_default(),
        canary: raw.canary.unwrap_or(d.canary),
        input: guard_actions(&raw.input, "guards.input", at)?,
        output: guard_actions(&raw.output, "guards.output", at)?,
    };
    let mut out = BTreeMap::new();
    for (name, p) in &raw.profiles {
        if name == DEFAULT_GUARD_PROFILE {
            return Err(at(
                p.span(),
                format!("guards.profiles: `{DEFAULT_GUARD_PROFILE}` is the name of [guards] itself; choose another name"),
            ));
        }
        let r = p.get_ref();
        let section = format!("guards.profiles.{name}");
        let mut input = base.input.clone();
        input.extend(guard_actions(&r.input, &format!("{section}.input"), at)?);
        let mut output = base.output.clone();
        output.extend(guard_actions(&r.output, &format!("{section}.output"), at)?);
        out.insert(
            name.clone(),
            GuardSettings {
                enabled: r.enabled.unwrap_or(base.enabled),
                injection_threshold: threshold(
                    &r.injection_threshold,
                    &format!("{section}.injection_threshold"),
                    at,
                )?
                .or(base.injection_threshold),
                jailbreak_threshold: threshold(
                    &r.jailbreak_threshold,
                    &format!("{section}.jailbreak_threshold"),
                    at,
                )?
                .or(base.jailbreak_threshold),
                allowed_link_hosts: r
                    .allowed_link_hosts
                    .clone()
                    .unwrap_or_else(|| base.allowed_link_hosts.clone()),
                canary: r.canary.unwrap_or(base.canary),
                input,
                output,
            },
        );
    }
    out.insert(DEFAULT_GUARD_PROFILE.to_string(), base);
    Ok(out)
}

/// Drops the quoted values from a deserializer message (`invalid type: string "…",
/// expected a map`): a value in the wrong place may be a secret, e.g. an upstream key
/// written as `plaintext_credentials = "sk-…"`, and errors end up in logs and terminals.
fn redact_strings(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.find("string \"") {
        out.push_str(&rest[..i + "string".len()]);
        // serde quotes the value with Rust's escaping: skip to the unescaped closing quote.
        let mut chars = rest[i + "string \"".len()..].char_indices();
        let mut end = None;
        while let Some((j, c)) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => {
                    end = Some(i + "string \"".len() + j + 1);
                    break;
                }
                _ => {}
            }
        }
        match end {
            Some(e) => rest = &rest[e..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

type IdentityLimits = (
    BTreeMap<String, LimitSpec>,
    BTreeMap<String, BTreeMap<String, LimitSpec>>,
    BTreeMap<String, LimitSpec>,
);

/// The per-identity entries of `[limits]`, each for one kind of identity:
/// `principals` for API keys, `users.ISSUER` for one OIDC issuer's users, `workloads`
/// for SPIFFE IDs. Entries that could be meant for another kind are refused rather than
/// silently applied to the wrong identity (or to none).
fn identity_limits(
    raw: &RawLimits,
    auth: &RawAuth,
    at: &dyn Fn(std::ops::Range<usize>, String) -> ConfigError,
) -> Result<IdentityLimits, ConfigError> {
    let mut principals = BTreeMap::new();
    for (name, spec) in &raw.principals {
        if name.starts_with("spiffe://") {
            return Err(at(
                spec.span(),
                format!(
                    "limits.principals.\"{name}\": [limits.principals] applies to API-key principals only, and this is a SPIFFE ID; for the workload write [limits.workloads.\"{name}\"]"
                ),
            ));
        }
        crate::identity::validate_principal_name(name)
            .map_err(|e| at(spec.span(), format!("limits.principals: {e} ([limits.principals] applies to API-key principals only; for a user of an OIDC issuer write [limits.users.ISSUER.\"NAME\"])")))?;
        principals.insert(name.clone(), *spec.get_ref());
    }
    let mut users = BTreeMap::new();
    for (issuer, names) in &raw.users {
        if !auth.oidc.contains_key(issuer) {
            return Err(at(
                names.span(),
                format!(
                    "limits.users.{issuer}: no [auth.oidc.{issuer}] issuer is configured; [limits.users.ISSUER.NAME] names an issuer of [auth.oidc]"
                ),
            ));
        }
        let entry: &mut BTreeMap<String, LimitSpec> = users.entry(issuer.clone()).or_default();
        for (name, spec) in names.get_ref() {
            if name.is_empty() {
                return Err(at(
                    names.span(),
                    format!("limits.users.{issuer}: a user's name must not be empty"),
                ));
            }
            entry.insert(name.clone(), *spec);
        }
    }
    let mut workloads = BTreeMap::new();
    for (id, spec) in &raw.workloads {
        crate::identity::spiffe::SpiffeId::parse(id).map_err(|e| {
            at(
                spec.span(),
                format!("limits.workloads.\"{id}\": not a SPIFFE ID: {e}"),
            )
        })?;
        workloads.insert(id.clone(), *spec.get_ref());
    }
    Ok((principals, users, workloads))
}

impl Config {
    /// The limits of one identity: its own entry of `[limits.principals]`,
    /// `[limits.users.ISSUER]` or `[limits.workloads]`, by the kind of identity it is, or
    /// `[limits.default]`. An entry for one kind never applies to another kind's identity
    /// with the same name.
    pub fn limits_for(&self, id: &crate::identity::IdentityKey) -> LimitSpec {
        use crate::identity::IdentityKey;
        let own = match id {
            IdentityKey::ApiKey(name) => self.principal_limits.get(name),
            IdentityKey::User { issuer, name } => {
                self.user_limits.get(issuer).and_then(|u| u.get(name))
            }
            IdentityKey::Workload(id) => self.workload_limits.get(id),
        };
        own.copied().unwrap_or(self.default_limits)
    }
}

/// Default body limit: 1 MiB.
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;

impl Config {
    /// Reads, interpolates, parses and validates the file at `path`.
    pub fn load(path: &Path, env: &dyn Env) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::whole(path, format!("cannot read: {e}")))?;
        Self::parse(path, &text, env)
    }

    /// Like [`Config::load`] on text already read.
    pub fn parse(path: &Path, text: &str, env: &dyn Env) -> Result<Self, ConfigError> {
        let text = interpolate(path, text, env)?;
        let raw: RawConfig = toml::from_str(&text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            let reason = redact_strings(e.message().trim());
            let mut err = ConfigError::at_offset(path, &text, offset, reason);
            if e.span().is_none() {
                err.line = 0;
                err.column = 0;
            }
            err
        })?;
        Self::from_raw(path, &text, raw)
    }

    /// Phase two: checks meaning and builds the running configuration.
    pub fn from_raw(path: &Path, text: &str, raw: RawConfig) -> Result<Self, ConfigError> {
        let at = |span: std::ops::Range<usize>, reason: String| {
            ConfigError::at_offset(path, text, span.start, reason)
        };
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let resolve = |p: &str| {
            let p = PathBuf::from(p);
            if p.is_absolute() {
                p
            } else {
                base_dir.join(p)
            }
        };
        let addr =
            |s: &Option<Spanned<String>>, default: &str| -> Result<SocketAddr, ConfigError> {
                match s {
                    None => default
                        .parse()
                        .map_err(|_| ConfigError::whole(path, "bad default address")),
                    Some(s) => s.get_ref().parse().map_err(|_| {
                        at(
                            s.span(),
                            format!("`{}` is not an address of the form IP:PORT", s.get_ref()),
                        )
                    }),
                }
            };
        let dur =
            |s: &Option<Spanned<String>>, default: Duration| -> Result<Duration, ConfigError> {
                match s {
                    None => Ok(default),
                    Some(s) => humantime::parse_duration(s.get_ref()).map_err(|e| {
                        at(
                            s.span(),
                            format!("`{}` is not a duration: {e}", s.get_ref()),
                        )
                    }),
                }
            };

        let listen = addr(&raw.server.listen, "127.0.0.1:8080")?;
        let admin_listen = addr(&raw.admin.listen, "127.0.0.1:9090")?;
        if listen == admin_listen {
            return Err(ConfigError::whole(
                path,
                "server.listen and admin.listen must differ",
            ));
        }
        let max_body_bytes = raw.server.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY);
        if !(1024..=64 * 1024 * 1024).contains(&max_body_bytes) {
            return Err(ConfigError::whole(
                path,
                "server.max_body_bytes must be between 1024 and 67108864",
            ));
        }
        let max_header_bytes = raw.server.max_header_bytes.unwrap_or(16 * 1024);
        if !(8192..=1024 * 1024).contains(&max_header_bytes) {
            return Err(ConfigError::whole(
                path,
                "server.max_header_bytes must be between 8192 and 1048576",
            ));
        }
        let request_timeout = dur(&raw.server.request_timeout, Duration::from_secs(600))?;

        let store_timeout = dur(&raw.store.timeout, Duration::from_secs(10))?;
        let store = store_kind(&raw.store, &at, store_timeout, &resolve)?;
        let data_dir = resolve(raw.store.data_dir.as_deref().unwrap_or("data"));

        let log_format = match raw
            .log
            .format
            .as_ref()
            .map(|s| (s.get_ref().as_str(), s.span()))
        {
            None | Some(("text", _)) => LogFormat::Text,
            Some(("json", _)) => LogFormat::Json,
            Some((other, span)) => {
                return Err(at(
                    span,
                    format!("unknown log format `{other}` (expected `text` or `json`)"),
                ))
            }
        };
        let log_level = raw.log.level.unwrap_or_else(|| "info".into());
        let policy_dir = resolve(raw.policy.dir.as_deref().unwrap_or("policies"));
        let policy_source = match raw
            .policy
            .source
            .as_ref()
            .map(|s| (s.get_ref().as_str(), s.span()))
        {
            None | Some(("dir", _)) => PolicySource::Dir,
            Some(("bundle", span)) => {
                if raw.integrity.is_none() {
                    return Err(at(
                        span,
                        "policy.source = \"bundle\" needs an [integrity] section (the approvers a bundle's approvals are checked against)".into(),
                    ));
                }
                PolicySource::Bundle
            }
            Some((other, span)) => {
                return Err(at(
                    span,
                    format!("unknown policy source `{other}` (expected `dir` or `bundle`)"),
                ))
            }
        };

        for name in raw.dangerous.plaintext_credentials.keys() {
            if !raw.upstreams.contains_key(name) {
                return Err(ConfigError::whole(
                    path,
                    format!("dangerous.plaintext_credentials names unknown upstream `{name}`"),
                ));
            }
        }
        for name in &raw.dangerous.skip_tls_verify {
            if !raw.upstreams.contains_key(name) {
                return Err(ConfigError::whole(
                    path,
                    format!("dangerous.skip_tls_verify names unknown upstream `{name}`"),
                ));
            }
        }

        let mut upstreams = BTreeMap::new();
        for (name, spanned) in &raw.upstreams {
            let u = spanned.get_ref();
            let span = spanned.span();
            let kind = match u.kind.as_deref() {
                None | Some("openai") => UpstreamKind::OpenAi,
                Some("mock") => UpstreamKind::Mock,
                Some(other) => {
                    return Err(at(
                        span,
                        format!(
                        "upstream `{name}`: unknown kind `{other}` (expected `openai` or `mock`)"
                    ),
                    ))
                }
            };
            let base_url = match (&kind, &u.base_url) {
                (UpstreamKind::Mock, None) => "mock://builtin".to_string(),
                (UpstreamKind::Mock, Some(b)) => {
                    return Err(at(
                        b.span(),
                        format!("upstream `{name}`: a mock upstream takes no base_url"),
                    ))
                }
                (UpstreamKind::OpenAi, None) => {
                    return Err(at(span, format!("upstream `{name}`: base_url is required")))
                }
                (UpstreamKind::OpenAi, Some(b)) => {
                    let parsed = url::Url::parse(b.get_ref()).map_err(|e| {
                        at(
                            b.span(),
                            format!("upstream `{name}`: base_url is not a URL: {e}"),
                        )
                    })?;
                    if parsed.scheme() != "http" && parsed.scheme() != "https" {
                        return Err(at(
                            b.span(),
                            format!("upstream `{name}`: base_url must be http or https"),
                        ));
                    }
                    if parsed.query().is_some() || parsed.fragment().is_some() {
                        return Err(at(
                            b.span(),
                            format!(
                                "upstream `{name}`: base_url must not carry a query or fragment"
                            ),
                        ));
                    }
                    if !parsed.username().is_empty() || parsed.password().is_some() {
                        return Err(at(
                            b.span(),
                            format!("upstream `{name}`: credentials in base_url are not allowed; use api_key_env or api_key_file"),
                        ));
                    }
                    b.get_ref().trim_end_matches('/').to_string()
                }
            };
            let plaintext = raw.dangerous.plaintext_credentials.get(name);
            let credential = match (&u.api_key_env, &u.api_key_file, plaintext) {
                (None, None, None) => CredentialSource::None,
                (Some(e), None, None) => CredentialSource::Env(e.clone()),
                (None, Some(f), None) => CredentialSource::File(resolve(f)),
                (None, None, Some(s)) => CredentialSource::Plaintext(s.clone()),
                _ => {
                    return Err(at(
                        span,
                        format!("upstream `{name}`: give at most one of api_key_env, api_key_file, dangerous.plaintext_credentials"),
                    ))
                }
            };
            if kind == UpstreamKind::Mock && !matches!(credential, CredentialSource::None) {
                return Err(at(
                    span,
                    format!("upstream `{name}`: a mock upstream takes no credential"),
                ));
            }
            let max_response_bytes = u.max_response_bytes.unwrap_or(32 * 1024 * 1024);
            upstreams.insert(
                name.clone(),
                Upstream {
                    name: name.clone(),
                    kind,
                    base_url,
                    credential,
                    connect_timeout: dur(&u.connect_timeout, Duration::from_secs(5))?,
                    first_byte_timeout: dur(&u.first_byte_timeout, Duration::from_secs(120))?,
                    total_timeout: dur(&u.total_timeout, Duration::from_secs(600))?,
                    max_response_bytes,
                    skip_tls_verify: raw.dangerous.skip_tls_verify.contains(name),
                },
            );
        }

        let guard_profiles = guard_profiles(&raw.guards, &at)?;

        let max_tokens_cap = raw.validation.max_tokens_cap.unwrap_or(1_000_000);
        if max_tokens_cap == 0 {
            return Err(ConfigError::whole(
                path,
                "validation.max_tokens_cap must be at least 1",
            ));
        }
        let max_messages = raw.validation.max_messages.unwrap_or(4096);
        let cap_in_range = |v: &Spanned<u64>, what: String| -> Result<u64, ConfigError> {
            let n = *v.get_ref();
            if n == 0 || n > max_tokens_cap {
                return Err(at(
                    v.span(),
                    format!("{what} must be between 1 and max_tokens_cap ({max_tokens_cap})"),
                ));
            }
            Ok(n)
        };
        let default_max_tokens = match &raw.validation.default_max_tokens {
            Some(v) => cap_in_range(v, "validation.default_max_tokens".into())?,
            None => crate::tokens::DEFAULT_COMPLETION_RESERVATION.min(max_tokens_cap),
        };

        let mut models = BTreeMap::new();
        for (name, spanned) in &raw.models {
            let m = spanned.get_ref();
            if name.is_empty() || name.len() > 256 {
                return Err(at(
                    spanned.span(),
                    "model names must be 1 to 256 bytes".into(),
                ));
            }
            let Some(up) = upstreams.get(m.upstream.get_ref()) else {
                return Err(at(
                    m.upstream.span(),
                    format!(
                        "model `{name}`: unknown upstream `{}`",
                        m.upstream.get_ref()
                    ),
                ));
            };
            let (mut chat, mut embeddings) = (true, true);
            if let Some(eps) = &m.endpoints {
                chat = false;
                embeddings = false;
                for e in eps {
                    match e.as_str() {
                        "chat" => chat = true,
                        "embeddings" => embeddings = true,
                        other => {
                            return Err(at(
                                spanned.span(),
                                format!("model `{name}`: unknown endpoint `{other}` (expected `chat` or `embeddings`)"),
                            ))
                        }
                    }
                }
            }
            let (mut require_mtls, mut require_jwt) = (false, false);
            for r in m.require.iter().flatten() {
                match r.as_str() {
                    "mtls" => require_mtls = true,
                    "jwt" => require_jwt = true,
                    other => {
                        return Err(at(
                            spanned.span(),
                            format!("model `{name}`: unknown requirement `{other}` (expected `mtls` or `jwt`)"),
                        ))
                    }
                }
            }
            let guards = match &m.guards {
                None => DEFAULT_GUARD_PROFILE.to_string(),
                Some(g) if guard_profiles.contains_key(g.get_ref()) => g.get_ref().clone(),
                Some(g) => {
                    return Err(at(
                        g.span(),
                        format!(
                            "model `{name}`: unknown guard profile `{}` (define it under [guards.profiles.{}])",
                            g.get_ref(),
                            g.get_ref()
                        ),
                    ))
                }
            };
            let model_max_tokens = match &m.default_max_tokens {
                Some(v) => cap_in_range(v, format!("model `{name}`: default_max_tokens"))?,
                None => default_max_tokens,
            };
            let max_tokens_field = match &m.max_tokens_field {
                None => CapField::default(),
                Some(f) => CapField::parse(f.get_ref()).ok_or_else(|| {
                    at(
                        f.span(),
                        format!(
                            "model `{name}`: unknown max_tokens_field `{}` (expected `max_completion_tokens` or `max_tokens`)",
                            f.get_ref()
                        ),
                    )
                })?,
            };
            models.insert(
                name.clone(),
                Model {
                    default_max_tokens: model_max_tokens,
                    max_tokens_field,
                    guards,
                    registry: m.registry.unwrap_or(false),
                    require_mtls,
                    require_jwt,
                    name: name.clone(),
                    upstream: up.name.clone(),
                    upstream_model: m.upstream_model.clone().unwrap_or_else(|| name.clone()),
                    provider: m.provider.clone().unwrap_or_else(|| match up.kind {
                        UpstreamKind::Mock => "mock".into(),
                        UpstreamKind::OpenAi => up.name.clone(),
                    }),
                    tier: m.tier.clone().unwrap_or_else(|| "standard".into()),
                    chat,
                    embeddings,
                },
            );
        }

        let fixed = |d: RawDemoKey, what: &str| -> Result<FixedPrincipal, ConfigError> {
            crate::identity::validate_principal_name(&d.principal)
                .map_err(|e| ConfigError::whole(path, format!("{what}: {e}")))?;
            for g in &d.groups {
                crate::identity::validate_principal_name(g)
                    .map_err(|e| ConfigError::whole(path, format!("{what}: group: {e}")))?;
            }
            Ok(FixedPrincipal {
                principal: d.principal,
                groups: d.groups,
            })
        };
        let demo_key = raw
            .bootstrap
            .demo_key
            .map(|d| fixed(d, "bootstrap.demo_key"))
            .transpose()?;
        let anonymous = raw
            .dangerous
            .anonymous
            .map(|d| fixed(d, "dangerous.anonymous"))
            .transpose()?;

        let tls = match &raw.server.tls {
            None => None,
            Some(t) => {
                let span = t.span();
                let t = t.get_ref();
                let client_auth = match t.client_auth.as_ref().map(|c| (c.get_ref().as_str(), c.span())) {
                    None | Some(("none", _)) => ClientAuth::None,
                    Some(("optional", _)) => ClientAuth::Optional,
                    Some(("required", _)) => ClientAuth::Required,
                    Some((other, sp)) => {
                        return Err(at(sp, format!("unknown client_auth `{other}` (expected `none`, `optional` or `required`)")))
                    }
                };
                let mut trust_domains = BTreeMap::new();
                for (td, b) in &t.trust_domains {
                    // The parsed trust domain must be the whole name: `prod/ns` would
                    // otherwise pass as trust domain `prod` with a path, and its bundle
                    // would never match any client (a silent misconfiguration).
                    let parsed =
                        crate::identity::spiffe::SpiffeId::parse(&format!("spiffe://{td}/x"));
                    if !parsed.is_ok_and(|id| id.trust_domain() == td) {
                        return Err(at(
                            span.clone(),
                            format!("`{td}` is not a valid SPIFFE trust domain"),
                        ));
                    }
                    trust_domains.insert(td.clone(), resolve(&b.bundle_file));
                }
                if client_auth != ClientAuth::None && trust_domains.is_empty() {
                    return Err(at(
                        span,
                        "client_auth needs at least one [server.tls.trust_domains.NAME] bundle"
                            .into(),
                    ));
                }
                Some(TlsConfig {
                    cert_file: resolve(&t.cert_file),
                    key_file: resolve(&t.key_file),
                    client_auth,
                    trust_domains,
                })
            }
        };
        if models.values().any(|m| m.require_mtls)
            && !tls
                .as_ref()
                .is_some_and(|t| t.client_auth != ClientAuth::None)
        {
            return Err(ConfigError::whole(
                path,
                "a model requires mtls but [server.tls] client_auth is not `optional` or `required`",
            ));
        }

        let mut issuers = Vec::new();
        for (name, spanned) in &raw.auth.oidc {
            let i = spanned.get_ref();
            let span = spanned.span();
            if i.audiences.is_empty() {
                return Err(at(
                    span,
                    format!("oidc issuer `{name}`: audiences must not be empty"),
                ));
            }
            let jwks = match (&i.jwks_file, &i.jwks_url) {
                (Some(f), None) => JwksSource::File(resolve(f)),
                (None, Some(u)) => {
                    let parsed = url::Url::parse(u).map_err(|e| {
                        at(span.clone(), format!("oidc issuer `{name}`: jwks_url: {e}"))
                    })?;
                    if parsed.scheme() != "https"
                        && !matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
                    {
                        return Err(at(
                            span,
                            format!("oidc issuer `{name}`: jwks_url must be https"),
                        ));
                    }
                    JwksSource::Url(u.clone())
                }
                _ => {
                    return Err(at(
                        span,
                        format!("oidc issuer `{name}`: give exactly one of jwks_file, jwks_url"),
                    ))
                }
            };
            let names = i
                .algorithms
                .clone()
                .unwrap_or_else(|| vec!["RS256".into(), "ES256".into()]);
            let mut algorithms = Vec::new();
            for a in &names {
                algorithms.push(crate::identity::jwt::parse_algorithm(a).ok_or_else(|| {
                    at(span.clone(), format!("oidc issuer `{name}`: algorithm `{a}` is not allowed (asymmetric algorithms only: RS256..PS512, ES256, ES384, EdDSA)"))
                })?);
            }
            let leeway = dur(&i.leeway, Duration::from_secs(30))?;
            if leeway > Duration::from_secs(300) {
                return Err(at(
                    span,
                    format!("oidc issuer `{name}`: leeway above 5m is not allowed"),
                ));
            }
            issuers.push(OidcIssuer {
                config: crate::identity::jwt::IssuerConfig {
                    name: name.clone(),
                    issuer: i.issuer.clone(),
                    audiences: i.audiences.clone(),
                    algorithms,
                    principal_claim: i.principal_claim.clone().unwrap_or_else(|| "sub".into()),
                    groups_claim: i.groups_claim.clone(),
                    leeway_secs: leeway.as_secs(),
                    max_token_bytes: i
                        .max_token_bytes
                        .unwrap_or(crate::identity::jwt::DEFAULT_MAX_TOKEN_BYTES),
                },
                jwks,
                refresh_cooldown: dur(&i.refresh_cooldown, Duration::from_secs(60))?,
            });
        }
        let (principal_limits, user_limits, workload_limits) =
            identity_limits(&raw.limits, &raw.auth, &at)?;
        if models.values().any(|m| m.require_jwt) && issuers.is_empty() {
            return Err(ConfigError::whole(
                path,
                "a model requires jwt but no [auth.oidc.NAME] issuer is configured",
            ));
        }
        if raw.bootstrap.admin_token && raw.admin.token_file.is_none() {
            return Err(ConfigError::whole(
                path,
                "bootstrap.admin_token needs admin.token_file",
            ));
        }
        let admin_token = match (&raw.admin.token_env, &raw.admin.token_file) {
            (None, None) => None,
            (Some(e), None) => Some(CredentialSource::Env(e.clone())),
            (None, Some(f)) => Some(CredentialSource::File(resolve(f))),
            _ => {
                return Err(ConfigError::whole(
                    path,
                    "admin: give at most one of token_env, token_file",
                ))
            }
        };

        let audit = match &raw.audit {
            None => None,
            Some(a) => {
                let span = a.span();
                let a = a.get_ref();
                if a.signing_key_file.get_ref().trim().is_empty() {
                    return Err(at(
                        a.signing_key_file.span(),
                        "audit.signing_key_file must not be empty".into(),
                    ));
                }
                let origin = match &a.origin {
                    None => DEFAULT_AUDIT_ORIGIN.to_string(),
                    Some(o) => {
                        let v = o.get_ref();
                        if v.is_empty() || v.trim() != v || v.chars().any(char::is_control) {
                            return Err(at(
                                o.span(),
                                "audit.origin must be non-empty, without leading or trailing white space or control characters".into(),
                            ));
                        }
                        v.clone()
                    }
                };
                let checkpoint_interval = dur(&a.checkpoint_interval, Duration::from_secs(10))?;
                if checkpoint_interval < Duration::from_millis(100) {
                    return Err(at(
                        a.checkpoint_interval.as_ref().map_or(span, |s| s.span()),
                        "audit.checkpoint_interval must be at least 100ms".into(),
                    ));
                }
                let store_bodies = a.store_bodies.as_ref().is_some_and(|b| *b.get_ref());
                let key = match (&a.body_key_file, &a.body_key_env) {
                    (Some(f), None) if !f.get_ref().trim().is_empty() => {
                        Some(CredentialSource::File(resolve(f.get_ref())))
                    }
                    (None, Some(e)) if !e.get_ref().trim().is_empty() => {
                        Some(CredentialSource::Env(e.get_ref().clone()))
                    }
                    (Some(f), Some(_)) => {
                        return Err(at(
                            f.span(),
                            "audit: give one of body_key_file, body_key_env, not both".into(),
                        ))
                    }
                    (None, None) => None,
                    (Some(s), None) | (None, Some(s)) => {
                        return Err(at(s.span(), "audit: the body key must not be empty".into()))
                    }
                };
                let retention = match &a.body_retention {
                    None => None,
                    Some(r) => {
                        let d = dur(&a.body_retention, Duration::ZERO)?;
                        if d < Duration::from_secs(1) {
                            return Err(at(
                                r.span(),
                                "audit.body_retention must be at least 1s".into(),
                            ));
                        }
                        Some(d)
                    }
                };
                let bodies = match (store_bodies, key) {
                    (true, Some(key)) => Some(AuditBodies { key, retention }),
                    (true, None) => {
                        return Err(at(
                            a.store_bodies.as_ref().map_or(span, |s| s.span()),
                            "audit.store_bodies needs body_key_file or body_key_env (make a key with `portcullis audit body-keygen --out FILE`)".into(),
                        ))
                    }
                    (false, _) => {
                        let stray = [&a.body_key_file, &a.body_key_env, &a.body_retention]
                            .into_iter()
                            .flatten()
                            .next();
                        if let Some(s) = stray {
                            return Err(at(
                                s.span(),
                                "audit: body_key_file, body_key_env and body_retention need store_bodies = true".into(),
                            ));
                        }
                        None
                    }
                };
                Some(AuditConfig {
                    signing_key_file: resolve(a.signing_key_file.get_ref()),
                    origin,
                    checkpoint_interval,
                    bodies,
                })
            }
        };

        let integrity = match &raw.integrity {
            None => None,
            Some(i) => {
                let span = i.span();
                let i = i.get_ref();
                if i.approvers_file.get_ref().trim().is_empty() {
                    return Err(at(
                        i.approvers_file.span(),
                        "integrity.approvers_file must not be empty".into(),
                    ));
                }
                let threshold = match &i.threshold {
                    None => DEFAULT_APPROVAL_THRESHOLD,
                    Some(t) if *t.get_ref() >= 1 && *t.get_ref() <= 100 => *t.get_ref() as usize,
                    Some(t) => {
                        return Err(at(
                            t.span(),
                            "integrity.threshold must be between 1 and 100".into(),
                        ))
                    }
                };
                if i.trusted_signers.is_empty() {
                    return Err(at(
                        span,
                        "integrity.trusted_signers must name at least one public key file (without one no local model can verify)".into(),
                    ));
                }
                let verify_interval = dur(&i.verify_interval, Duration::from_secs(300))?;
                if verify_interval < Duration::from_secs(1) {
                    return Err(at(
                        i.verify_interval.as_ref().map_or(span, |s| s.span()),
                        "integrity.verify_interval must be at least 1s".into(),
                    ));
                }
                Some(IntegrityConfig {
                    approvers_file: resolve(i.approvers_file.get_ref()),
                    threshold,
                    trusted_signers: i
                        .trusted_signers
                        .iter()
                        .map(|p| resolve(p.get_ref()))
                        .collect(),
                    verify_interval,
                })
            }
        };
        if integrity.is_none() {
            if let Some((name, m)) = raw
                .models
                .iter()
                .find(|(_, m)| m.get_ref().registry == Some(true))
            {
                return Err(at(
                    m.span(),
                    format!("model `{name}` has registry = true, which needs an [integrity] section (approvers_file, trusted_signers)"),
                ));
            }
        }

        // [anomaly]: validated by its crate; step-up needs its guard profile.
        let anomaly = match &raw.anomaly {
            None => None,
            Some(a) => {
                let c = a
                    .get_ref()
                    .validate(&|p: &str| resolve(p))
                    .map_err(|e| at(a.span(), e.to_string()))?;
                let steps_up = c
                    .detector
                    .actions
                    .contains(&portcullis_anomaly::Action::StepUp);
                if c.enabled && steps_up && !guard_profiles.contains_key(&c.step_up_profile) {
                    return Err(at(
                        a.span(),
                        format!(
                            "anomaly: an action is step_up but the guard profile `{}` (step_up_profile) is not defined under [guards.profiles]",
                            c.step_up_profile
                        ),
                    ));
                }
                Some(c)
            }
        };
        let redis = match &raw.redis {
            None => None,
            Some(r) => {
                let r = r.get_ref();
                let url = r.url.get_ref();
                if url.starts_with("rediss://") {
                    return Err(at(
                        r.url.span(),
                        "redis.url: TLS to Redis (rediss://) is not supported yet; reach Redis over a private network or a local TLS tunnel".into(),
                    ));
                }
                if !url.starts_with("redis://") {
                    // The URL itself is not echoed: it may hold a password.
                    return Err(at(
                        r.url.span(),
                        "redis.url must start with redis://".into(),
                    ));
                }
                let on_unavailable = match r
                    .on_unavailable
                    .as_ref()
                    .map(|s| (s.get_ref().as_str(), s.span()))
                {
                    None | Some(("fail_closed", _)) => RedisFallback::FailClosed,
                    Some(("local", _)) => RedisFallback::Local,
                    Some((other, span)) => {
                        return Err(at(
                            span,
                            format!("unknown redis.on_unavailable `{other}` (expected `fail_closed` or `local`)"),
                        ))
                    }
                };
                let timeout = dur(&r.timeout, Duration::from_millis(250))?;
                if timeout < Duration::from_millis(1) || timeout > Duration::from_secs(10) {
                    return Err(at(
                        r.timeout.as_ref().map_or(r.url.span(), |s| s.span()),
                        "redis.timeout must be between 1ms and 10s".into(),
                    ));
                }
                Some(RedisConfig {
                    url: secrecy::SecretString::from(url.clone()),
                    on_unavailable,
                    timeout,
                    key_prefix: r.key_prefix.clone().unwrap_or_else(|| "portcullis".into()),
                })
            }
        };

        Ok(Config {
            redis,
            anomaly,
            integrity,
            guard_profiles,
            audit,
            tls,
            issuers,
            admin_token,
            admin_anonymous: raw.dangerous.admin_anonymous,
            bootstrap_admin_token: raw.bootstrap.admin_token,
            path: path.to_path_buf(),
            listen,
            admin_listen,
            max_body_bytes,
            max_header_bytes,
            request_timeout,
            store,
            data_dir,
            log_format,
            log_level,
            policy_dir,
            policy_source,
            upstreams,
            models,
            default_limits: raw.limits.default.unwrap_or_default(),
            principal_limits,
            user_limits,
            workload_limits,
            group_limits: raw.limits.groups,
            max_tokens_cap,
            max_messages,
            demo_key,
            anonymous,
        })
    }
}

/// `[store]`: the backend and, for PostgreSQL, where its URL comes from (`timeout`:
/// `store.timeout`, already parsed).
fn store_kind(
    raw: &RawStore,
    at: &dyn Fn(std::ops::Range<usize>, String) -> ConfigError,
    timeout: Duration,
    resolve: &dyn Fn(&str) -> PathBuf,
) -> Result<StoreKind, ConfigError> {
    let pg_only: [(&str, Option<std::ops::Range<usize>>); 7] = [
        ("url", raw.url.as_ref().map(|s| s.span())),
        ("url_env", raw.url_env.as_ref().map(|s| s.span())),
        ("url_file", raw.url_file.as_ref().map(|s| s.span())),
        ("schema", raw.schema.as_ref().map(|s| s.span())),
        ("pool_size", raw.pool_size.as_ref().map(|s| s.span())),
        ("timeout", raw.timeout.as_ref().map(|s| s.span())),
        ("ca_file", raw.ca_file.as_ref().map(|s| s.span())),
    ];
    let kind = raw.kind.as_ref().map(|s| (s.get_ref().as_str(), s.span()));
    match kind {
        None | Some(("sqlite", _)) => {
            if let Some((name, Some(span))) = pg_only.into_iter().find(|(_, s)| s.is_some()) {
                return Err(at(span, format!("store.{name} is for kind = \"postgres\"")));
            }
            Ok(StoreKind::Sqlite)
        }
        Some(("postgres", kind_span)) => {
            let url = match (&raw.url, &raw.url_env, &raw.url_file) {
                (Some(u), None, None) => {
                    if url_has_password(u.get_ref()) {
                        return Err(at(
                            u.span(),
                            "store.url holds a password; keep it out of the config file with url_env or url_file".into(),
                        ));
                    }
                    CredentialSource::Plaintext(SecretString::from(u.get_ref().clone()))
                }
                (None, Some(e), None) => {
                    if e.get_ref().is_empty() {
                        return Err(at(e.span(), "store.url_env is empty".into()));
                    }
                    CredentialSource::Env(e.get_ref().clone())
                }
                (None, None, Some(f)) => CredentialSource::File(resolve(f.get_ref())),
                (None, None, None) => {
                    return Err(at(
                        kind_span,
                        "kind = \"postgres\" needs url_env (recommended), url_file or url".into(),
                    ))
                }
                _ => {
                    return Err(at(
                        kind_span,
                        "give only one of store.url, store.url_env, store.url_file".into(),
                    ))
                }
            };
            let schema = match &raw.schema {
                None => None,
                Some(s) => {
                    let v = s.get_ref();
                    let ok = !v.is_empty()
                        && v.len() <= 63
                        && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                        && !v.as_bytes().first().is_some_and(u8::is_ascii_digit);
                    if !ok {
                        return Err(at(
                            s.span(),
                            format!("store.schema `{v}` must be letters, digits and `_` (not starting with a digit, at most 63)"),
                        ));
                    }
                    Some(v.clone())
                }
            };
            let pool_size = match &raw.pool_size {
                None => 8,
                Some(n) => match usize::try_from(*n.get_ref()) {
                    Ok(v @ 1..=256) => v,
                    _ => {
                        return Err(at(
                            n.span(),
                            "store.pool_size must be between 1 and 256".into(),
                        ))
                    }
                },
            };
            if timeout.is_zero() {
                if let Some(t) = &raw.timeout {
                    return Err(at(t.span(), "store.timeout must be positive".into()));
                }
            }
            Ok(StoreKind::Postgres(PostgresStoreConfig {
                url,
                schema,
                pool_size,
                timeout,
                ca_file: raw.ca_file.as_ref().map(|f| resolve(f.get_ref())),
            }))
        }
        Some((other, span)) => Err(at(
            span,
            format!("unknown store kind `{other}` (expected `sqlite` or `postgres`)"),
        )),
    }
}

/// Whether a PostgreSQL connection string carries a password: `user:password@` in a
/// URL, or `password=` in the key-value form.
fn url_has_password(url: &str) -> bool {
    match url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    {
        Some(rest) => {
            let authority = rest.split(['/', '?']).next().unwrap_or("");
            authority
                .rsplit_once('@')
                .is_some_and(|(userinfo, _)| userinfo.contains(':'))
                || rest.contains("password=")
        }
        None => url.contains("password"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn interpolation_fills_and_defaults() {
        let e = env(&[("A", "1.2.3.4:80")]);
        let out = interpolate(
            Path::new("c.toml"),
            "x = \"${A}\"\ny = \"${B:-d}\"\n# ${NOPE}\nz = \"$${lit}\"\n",
            &e,
        )
        .unwrap();
        assert_eq!(
            out,
            "x = \"1.2.3.4:80\"\ny = \"d\"\n# ${NOPE}\nz = \"${lit}\"\n"
        );
    }

    #[test]
    fn missing_env_names_line() {
        let err = interpolate(
            Path::new("c.toml"),
            "a = 1\nb = \"${MISSING}\"\n",
            &env(&[]),
        )
        .unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.reason.contains("MISSING"), "{err}");
        assert!(err.to_string().starts_with("c.toml:2:"), "{err}");
    }

    #[test]
    fn interpolation_cannot_inject_structure() {
        let e = env(&[("A", "x\"\n[dangerous]")]);
        let err = interpolate(Path::new("c.toml"), "a = \"${A}\"\n", &e).unwrap_err();
        assert!(err.reason.contains("quote"), "{err}");
    }

    #[test]
    fn unknown_field_names_line() {
        let text = "[server]\nlisten = \"127.0.0.1:1\"\nlistne = 3\n";
        let err = Config::parse(Path::new("c.toml"), text, &env(&[])).unwrap_err();
        assert_eq!(err.line, 3, "{err}");
        assert!(err.reason.contains("unknown field"), "{err}");
    }

    #[test]
    fn default_max_tokens_and_its_field() {
        let base = "[upstreams.local]\nkind = \"mock\"\n[models.a]\nupstream = \"local\"\n";
        let parse = |text: &str| Config::parse(Path::new("c.toml"), text, &env(&[]));
        let c = parse(base).unwrap();
        assert_eq!(c.models["a"].default_max_tokens, 1024);
        assert_eq!(
            c.models["a"].max_tokens_field,
            CapField::MaxCompletionTokens
        );
        let c = parse(&format!(
            "{base}default_max_tokens = 16384\nmax_tokens_field = \"max_tokens\"\n[models.b]\nupstream = \"local\"\n[validation]\ndefault_max_tokens = 256\n"
        ))
        .unwrap();
        assert_eq!(c.models["a"].default_max_tokens, 16384);
        assert_eq!(c.models["a"].max_tokens_field, CapField::MaxTokens);
        assert_eq!(c.models["b"].default_max_tokens, 256);
        // A cap below the default lowers it.
        let c = parse(&format!("{base}[validation]\nmax_tokens_cap = 100\n")).unwrap();
        assert_eq!(c.models["a"].default_max_tokens, 100);
        let err = parse(&format!("{base}[validation]\nmax_tokens_cap = 0\n")).unwrap_err();
        assert!(err.reason.contains("at least 1"), "{err}");
        for (extra, line, want) in [
            ("default_max_tokens = 0\n", 5, "between 1 and"),
            ("default_max_tokens = -3\n", 5, "integer"),
            (
                "max_tokens_field = \"max_output_tokens\"\n",
                5,
                "unknown max_tokens_field",
            ),
            (
                "[validation]\nmax_tokens_cap = 100\ndefault_max_tokens = 101\n",
                7,
                "between 1 and max_tokens_cap (100)",
            ),
            (
                "default_max_tokens = 2000000\n",
                5,
                "between 1 and max_tokens_cap",
            ),
        ] {
            let err = parse(&format!("{base}{extra}")).unwrap_err();
            assert_eq!(err.line, line, "{extra}: {err}");
            assert!(err.reason.contains(want), "{extra}: {err}");
        }
    }

    #[test]
    fn identity_limits_by_kind_and_their_errors() {
        use crate::identity::IdentityKey;
        let base = "[upstreams.local]\nkind = \"mock\"\n[auth.oidc.corp]\nissuer = \"https://corp.example\"\naudiences = [\"p\"]\njwks_file = \"j.json\"\n";
        let parse = |limits: &str| {
            Config::parse(Path::new("c.toml"), &format!("{base}{limits}"), &env(&[]))
        };
        let c = parse(
            "[limits.default]\nrequests_per_day = 1\n[limits.principals.alice]\nrequests_per_day = 2\n[limits.users.corp.alice]\nrequests_per_day = 3\n[limits.workloads.\"spiffe://a.example/alice\"]\nrequests_per_day = 4\n",
        )
        .unwrap();
        let rpd = |id: IdentityKey| c.limits_for(&id).requests_per_day;
        assert_eq!(rpd(IdentityKey::ApiKey("alice".into())), Some(2));
        let user = |issuer: &str, name: &str| IdentityKey::User {
            issuer: issuer.into(),
            name: name.into(),
        };
        assert_eq!(rpd(user("corp", "alice")), Some(3));
        assert_eq!(rpd(user("other", "alice")), Some(1));
        assert_eq!(rpd(user("corp", "bob")), Some(1));
        assert_eq!(
            rpd(IdentityKey::Workload("spiffe://a.example/alice".into())),
            Some(4)
        );
        assert_eq!(rpd(IdentityKey::Workload("alice".into())), Some(1));

        for (limits, line, reason) in [
            (
                "\n[limits.users.nope.alice]\nrequests_per_day = 3\n",
                8,
                "no [auth.oidc.nope] issuer",
            ),
            (
                "\n[limits.workloads.\"spiffe://A.example/x\"]\nrequests_per_day = 3\n",
                9,
                "not a SPIFFE ID",
            ),
            (
                "\n[limits.principals.\"spiffe://a.example/x\"]\nrequests_per_day = 3\n",
                9,
                "[limits.workloads.\"spiffe://a.example/x\"]",
            ),
            (
                "\n[limits.principals.\"auth0|123\"]\nrequests_per_day = 3\n",
                9,
                "[limits.users.ISSUER.\"NAME\"]",
            ),
        ] {
            let err = parse(limits).unwrap_err();
            assert!(err.reason.contains(reason), "{limits}: {err}");
            assert!(err.line >= 8 && err.line <= line, "{limits}: {err}");
        }
    }

    #[test]
    fn the_documented_default_max_tokens_example_parses() {
        let doc = include_str!("../../../docs/configuration.md");
        let start = doc
            .find("```toml\n[upstreams.openai]")
            .expect("the example");
        let block = &doc[start + "```toml\n".len()..];
        let block = &block[..block.find("```").unwrap()];
        let c = Config::parse(Path::new("c.toml"), block, &env(&[])).unwrap();
        assert_eq!(c.models["o3"].default_max_tokens, 16384);
        assert_eq!(
            c.models["o3"].max_tokens_field,
            CapField::MaxCompletionTokens
        );
        assert_eq!(c.models["llama"].default_max_tokens, 1024);
        assert_eq!(c.models["llama"].max_tokens_field, CapField::MaxTokens);
    }

    #[test]
    fn unknown_upstream_reference_names_line() {
        let text = "[models.m]\nupstream = \"nope\"\n";
        let err = Config::parse(Path::new("c.toml"), text, &env(&[])).unwrap_err();
        assert_eq!(err.line, 2, "{err}");
        assert!(err.reason.contains("unknown upstream"), "{err}");
    }

    #[test]
    fn store_postgres_and_its_errors() {
        let base = "[upstreams.local]\nkind = \"mock\"\n[models.m]\nupstream = \"local\"\n";
        let parse = |store: &str| {
            Config::parse(
                Path::new("/etc/p/c.toml"),
                &format!("{base}[store]\n{store}"),
                &env(&[]),
            )
        };
        assert!(matches!(parse("").unwrap().store, StoreKind::Sqlite));
        let c = parse("kind = \"postgres\"\nurl_env = \"PORTCULLIS_DB\"\nschema = \"gw_1\"\npool_size = 4\ntimeout = \"3s\"\n").unwrap();
        let StoreKind::Postgres(p) = &c.store else {
            panic!("{:?}", c.store)
        };
        assert!(matches!(&p.url, CredentialSource::Env(v) if v == "PORTCULLIS_DB"));
        assert_eq!(p.schema.as_deref(), Some("gw_1"));
        assert_eq!((p.pool_size, p.timeout), (4, Duration::from_secs(3)));
        let c =
            parse("kind = \"postgres\"\nurl_file = \"db.url\"\nca_file = \"ca.pem\"\n").unwrap();
        assert!(
            matches!(&c.store, StoreKind::Postgres(p) if p.ca_file.as_deref() == Some(Path::new("/etc/p/ca.pem")))
        );
        assert!(
            matches!(&c.store, StoreKind::Postgres(p) if matches!(&p.url, CredentialSource::File(f) if f == Path::new("/etc/p/db.url")))
        );
        let c = parse("kind = \"postgres\"\nurl = \"postgres://gw@db:5432/portcullis\"\n").unwrap();
        assert!(
            matches!(&c.store, StoreKind::Postgres(p) if matches!(&p.url, CredentialSource::Plaintext(_)))
        );
        // `[store]` is line 5.
        let cases = [
            ("kind = \"postgres\"\n", 6, "needs url_env"),
            (
                "kind = \"postgres\"\nurl = \"postgres://gw:hunter2@db/p\"\n",
                7,
                "holds a password",
            ),
            (
                "kind = \"postgres\"\nurl = \"host=db password=hunter2\"\n",
                7,
                "holds a password",
            ),
            (
                "kind = \"postgres\"\nurl = \"postgres://db/p?password=x\"\n",
                7,
                "holds a password",
            ),
            (
                "kind = \"postgres\"\nurl_env = \"A\"\nurl_file = \"b\"\n",
                6,
                "only one of",
            ),
            (
                "kind = \"postgres\"\nurl_env = \"A\"\nschema = \"a-b\"\n",
                8,
                "store.schema",
            ),
            (
                "kind = \"postgres\"\nurl_env = \"A\"\npool_size = 0\n",
                8,
                "between 1 and 256",
            ),
            (
                "kind = \"postgres\"\nurl_env = \"A\"\ntimeout = \"soon\"\n",
                8,
                "not a duration",
            ),
            ("url_env = \"A\"\n", 6, "is for kind = \"postgres\""),
            ("kind = \"mysql\"\n", 6, "unknown store kind"),
            (
                "kind = \"postgres\"\nurl_env = \"A\"\nuser = \"x\"\n",
                8,
                "unknown field",
            ),
        ];
        for (store, line, reason) in cases {
            let err = parse(store).unwrap_err();
            assert_eq!(err.line, line, "{store}: {err}");
            assert!(err.reason.contains(reason), "{store}: {err}");
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn minimal_config_with_mock() {
        let text =
            "[upstreams.local]\nkind = \"mock\"\n[models.mock-model]\nupstream = \"local\"\n";
        let c = Config::parse(Path::new("/etc/p/c.toml"), text, &env(&[])).unwrap();
        assert_eq!(c.models["mock-model"].upstream_model, "mock-model");
        assert_eq!(c.policy_dir, PathBuf::from("/etc/p/policies"));
        assert_eq!(c.max_body_bytes, DEFAULT_MAX_BODY);
    }

    #[test]
    fn guard_profiles_and_their_errors() {
        use portcullis_guard::action::Action;
        use portcullis_guard::FindingKind;
        let base = "[upstreams.local]\nkind = \"mock\"\n[models.a]\nupstream = \"local\"\n";
        let c = Config::parse(Path::new("c.toml"), base, &env(&[])).unwrap();
        let d = &c.guard_profiles[DEFAULT_GUARD_PROFILE];
        assert!(d.enabled, "guards are on without [guards]");
        assert_eq!(c.models["a"].guards, DEFAULT_GUARD_PROFILE);
        let text = format!(
            "{base}guards = \"strict\"\n[guards]\ninjection_threshold = 0.6\n[guards.input]\nEMAIL = \"redact\"\n[guards.profiles.strict]\ncanary = true\n[guards.profiles.strict.output]\nsecret = \"block\"\n"
        );
        let c = Config::parse(Path::new("c.toml"), &text, &env(&[])).unwrap();
        let s = &c.guard_profiles["strict"];
        assert!(s.canary && s.enabled);
        assert_eq!(
            s.injection_threshold,
            Some(0.6),
            "profiles start from [guards]"
        );
        assert_eq!(s.input, vec![(FindingKind::Email, Action::Redact)]);
        assert_eq!(s.output, vec![(FindingKind::Secret, Action::Block)]);
        assert_eq!(c.models["a"].guards, "strict");

        let cases = [
            (
                "[guards.input]\nEMAL = \"redact\"\n",
                6,
                "unknown finding type `EMAL`",
            ),
            ("[guards.output]\nSECRET = \"drop\"\n", 6, "unknown action"),
            (
                "[guards]\ninjection_threshold = 1.5\n",
                6,
                "between 0 and 1",
            ),
            ("[guards]\nenabeld = false\n", 6, "unknown field"),
            (
                "[guards.profiles.default]\ncanary = true\n",
                5,
                "name of [guards] itself",
            ),
        ];
        for (section, line, reason) in cases {
            let text = format!("{base}{section}");
            let err = Config::parse(Path::new("c.toml"), &text, &env(&[])).unwrap_err();
            assert_eq!(err.line, line, "{err}");
            assert!(err.reason.contains(reason), "{err}");
        }
        let text = format!("{base}guards = \"nope\"\n");
        let err = Config::parse(Path::new("c.toml"), &text, &env(&[])).unwrap_err();
        assert_eq!(err.line, 5, "{err}");
        assert!(err.reason.contains("unknown guard profile `nope`"), "{err}");
    }

    #[test]
    fn integrity_section_defaults_and_errors() {
        let base = "[upstreams.local]\nkind = \"mock\"\n[models.a]\nupstream = \"local\"\nregistry = true\n";
        let ok = format!("{base}[integrity]\napprovers_file = \"approvers.txt\"\ntrusted_signers = [\"s.pub\"]\n");
        let c = Config::parse(Path::new("/etc/p/c.toml"), &ok, &env(&[])).unwrap();
        assert!(c.models["a"].registry);
        let i = c.integrity.unwrap();
        assert_eq!(i.threshold, DEFAULT_APPROVAL_THRESHOLD);
        assert_eq!(i.verify_interval, Duration::from_secs(300));
        assert_eq!(i.trusted_signers, vec![PathBuf::from("/etc/p/s.pub")]);
        let cases = [
            (base.to_string(), 3, "needs an [integrity] section"),
            (
                format!("{base}[integrity]\napprovers_file = \"a\"\ntrusted_signers = [\"s\"]\nthreshold = 0\n"),
                9,
                "between 1 and 100",
            ),
            (
                format!("{base}[integrity]\napprovers_file = \"a\"\n"),
                6,
                "at least one public key",
            ),
            (
                format!("{base}[integrity]\napprovers_file = \"a\"\ntrusted_signers = [\"s\"]\nverify_interval = \"10ms\"\n"),
                9,
                "at least 1s",
            ),
            (
                format!("{base}[integrity]\napprovers = \"a\"\n"),
                7,
                "unknown field",
            ),
        ];
        for (text, line, reason) in cases {
            let err = Config::parse(Path::new("c.toml"), &text, &env(&[])).unwrap_err();
            assert_eq!(err.line, line, "{err}");
            assert!(err.reason.contains(reason), "{err}");
        }
        // Policy bundles need [integrity]; unknown sources are named.
        let plain = "[upstreams.local]\nkind = \"mock\"\n[models.a]\nupstream = \"local\"\n";
        let c = Config::parse(
            Path::new("c.toml"),
            &format!(
                "[policy]\nsource = \"bundle\"\n{}{}",
                plain,
                &ok[base.len()..]
            ),
            &env(&[]),
        )
        .unwrap();
        assert_eq!(c.policy_source, PolicySource::Bundle);
        for (text, reason) in [
            (
                format!("[policy]\nsource = \"bundle\"\n{plain}"),
                "needs an [integrity] section",
            ),
            (
                format!("[policy]\nsource = \"git\"\n{plain}"),
                "unknown policy source `git`",
            ),
        ] {
            let err = Config::parse(Path::new("c.toml"), &text, &env(&[])).unwrap_err();
            assert_eq!(err.line, 2, "{err}");
            assert!(err.reason.contains(reason), "{err}");
        }
    }

    #[test]
    fn audit_section_defaults_and_errors() {
        let base = "[upstreams.local]\nkind = \"mock\"\n";
        let c = Config::parse(Path::new("/etc/p/c.toml"), base, &env(&[])).unwrap();
        assert!(c.audit.is_none(), "audit is off without [audit]");
        let text = format!("{base}[audit]\nsigning_key_file = \"audit.key\"\n");
        let c = Config::parse(Path::new("/etc/p/c.toml"), &text, &env(&[])).unwrap();
        let a = c.audit.unwrap();
        assert_eq!(a.signing_key_file, PathBuf::from("/etc/p/audit.key"));
        assert_eq!(a.origin, DEFAULT_AUDIT_ORIGIN);
        assert_eq!(a.checkpoint_interval, Duration::from_secs(10));
        let text = format!(
            "{base}[audit]\nsigning_key_file = \"/k\"\norigin = \"example.com/log\"\ncheckpoint_interval = \"2s\"\n"
        );
        let a = Config::parse(Path::new("c.toml"), &text, &env(&[]))
            .unwrap()
            .audit
            .unwrap();
        assert_eq!(a.origin, "example.com/log");
        assert_eq!(a.checkpoint_interval, Duration::from_secs(2));

        let cases = [
            (
                "[audit]\nsigning_key_file = \"k\"\nsigning_kye = 1\n",
                5,
                "unknown field",
            ),
            ("[audit]\norigin = \"x\"\n", 3, "signing_key_file"),
            (
                "[audit]\nsigning_key_file = \"k\"\norigin = \" x\"\n",
                5,
                "audit.origin",
            ),
            (
                "[audit]\nsigning_key_file = \"k\"\ncheckpoint_interval = \"soon\"\n",
                5,
                "not a duration",
            ),
            (
                "[audit]\nsigning_key_file = \"k\"\ncheckpoint_interval = \"1ms\"\n",
                5,
                "at least 100ms",
            ),
        ];
        for (section, line, reason) in cases {
            let text = format!("{base}{section}");
            let err = Config::parse(Path::new("c.toml"), &text, &env(&[])).unwrap_err();
            assert_eq!(err.line, line, "{err}");
            assert!(err.reason.contains(reason), "{err}");
        }
    }

    #[test]
    fn audit_body_storage_options() {
        let base = "[upstreams.local]\nkind = \"mock\"\n[audit]\nsigning_key_file = \"k\"\n";
        let a = Config::parse(Path::new("/p/c.toml"), base, &env(&[]))
            .unwrap()
            .audit
            .unwrap();
        assert!(a.bodies.is_none(), "off by default");
        let text = format!(
            "{base}store_bodies = true\nbody_key_file = \"body.key\"\nbody_retention = \"30d\"\n"
        );
        let b = Config::parse(Path::new("/p/c.toml"), &text, &env(&[]))
            .unwrap()
            .audit
            .unwrap()
            .bodies
            .unwrap();
        assert!(matches!(&b.key, CredentialSource::File(f) if f == Path::new("/p/body.key")));
        assert_eq!(b.retention, Some(Duration::from_secs(30 * 86_400)));
        let text = format!("{base}store_bodies = true\nbody_key_env = \"BODY_KEY\"\n");
        let b = Config::parse(Path::new("c.toml"), &text, &env(&[]))
            .unwrap()
            .audit
            .unwrap()
            .bodies
            .unwrap();
        assert!(matches!(&b.key, CredentialSource::Env(e) if e == "BODY_KEY"));
        assert_eq!(b.retention, None);

        let cases = [
            (
                "store_bodies = true\n",
                5,
                "needs body_key_file or body_key_env",
            ),
            (
                "store_bodies = true\nbody_key_file = \"a\"\nbody_key_env = \"B\"\n",
                6,
                "not both",
            ),
            ("body_key_file = \"a\"\n", 5, "need store_bodies = true"),
            (
                "store_bodies = false\nbody_retention = \"1d\"\n",
                6,
                "need store_bodies = true",
            ),
            (
                "store_bodies = true\nbody_key_env = \"B\"\nbody_retention = \"soon\"\n",
                7,
                "not a duration",
            ),
            (
                "store_bodies = true\nbody_key_env = \"B\"\nbody_retention = \"0s\"\n",
                7,
                "at least 1s",
            ),
            ("store_bodies = \"yes\"\n", 5, "invalid type"),
            ("store_body = true\n", 5, "unknown field"),
        ];
        for (extra, line, reason) in cases {
            let text = format!("{base}{extra}");
            let err = Config::parse(Path::new("c.toml"), &text, &env(&[])).unwrap_err();
            assert_eq!(err.line, line, "{extra}: {err}");
            assert!(err.reason.contains(reason), "{extra}: {err}");
        }
    }

    #[test]
    fn redis_section_is_checked_and_keeps_its_url_secret() {
        let ok = "[redis]\nurl = \"redis://:hunter2@127.0.0.1:6379\"\non_unavailable = \"local\"\n";
        let c = Config::parse(Path::new("c.toml"), ok, &env(&[])).unwrap();
        let r = c.redis.as_ref().unwrap();
        assert_eq!(r.on_unavailable, RedisFallback::Local);
        assert_eq!(r.timeout, Duration::from_millis(250));
        assert!(!format!("{c:?}").contains("hunter2"));
        for (text, line, reason) in [
            (
                "[redis]\nurl = \"http://x\"\n",
                2,
                "must start with redis://",
            ),
            ("[redis]\nurl = \"rediss://x\"\n", 2, "not supported yet"),
            (
                "[redis]\nurl = \"redis://x\"\non_unavailable = \"open\"\n",
                3,
                "expected `fail_closed` or `local`",
            ),
            (
                "[redis]\nurl = \"redis://x\"\ntimeout = \"1m\"\n",
                3,
                "between 1ms and 10s",
            ),
        ] {
            let err = Config::parse(Path::new("c.toml"), text, &env(&[])).unwrap_err();
            assert_eq!(err.line, line, "{text}: {err}");
            assert!(err.reason.contains(reason), "{text}: {err}");
            assert!(!err.to_string().contains("redis://x"), "{err}");
        }
    }

    #[test]
    fn trust_domain_must_be_a_bare_trust_domain() {
        for td in ["prod.example/ns", "Prod.example", "prod.example:443", ""] {
            let text = format!(
                "[server.tls]\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"\nclient_auth = \"required\"\n[server.tls.trust_domains.\"{td}\"]\nbundle_file = \"b.pem\"\n"
            );
            let err = Config::parse(Path::new("c.toml"), &text, &env(&[])).unwrap_err();
            assert!(
                err.reason.contains("not a valid SPIFFE trust domain"),
                "{td}: {err}"
            );
        }
        let ok = "[server.tls]\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"\nclient_auth = \"required\"\n[server.tls.trust_domains.\"prod.example\"]\nbundle_file = \"b.pem\"\n";
        let c = Config::parse(Path::new("c.toml"), ok, &env(&[])).unwrap();
        let tls = c.tls.unwrap();
        assert!(tls.trust_domains.contains_key("prod.example"));
    }

    #[test]
    fn values_in_the_wrong_place_are_not_echoed() {
        for text in [
            "[dangerous]\nplaintext_credentials = \"sk-SECRET123\"\n",
            "[dangerous]\nplaintext_credentials = 'sk-SECRET\\\"123'\n",
            "[upstreams]\no = \"sk-SECRET123\"\n",
        ] {
            let err = Config::parse(Path::new("c.toml"), text, &env(&[])).unwrap_err();
            assert!(!err.to_string().contains("SECRET"), "{err}");
            assert!(
                err.reason.contains("invalid type: string, expected"),
                "{err}"
            );
            assert_eq!(err.line, 2, "{err}");
        }
        assert_eq!(
            redact_strings(r#"a string "x\"y" and string "z" end"#),
            "a string and string end"
        );
        assert_eq!(redact_strings(r#"string "unterminated"#), "string");
    }

    #[test]
    fn credential_in_url_is_refused() {
        let text = "[upstreams.o]\nbase_url = \"https://u:p@example.com/v1\"\n";
        let err = Config::parse(Path::new("c.toml"), text, &env(&[])).unwrap_err();
        assert!(err.reason.contains("credentials in base_url"), "{err}");
        assert!(!err.to_string().contains("u:p"));
    }
}
