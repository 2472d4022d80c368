//! `[anomaly]` settings in two phases: [`RawAnomalyConfig`] as written (unknown keys are
//! refused), then [`RawAnomalyConfig::validate`] into the [`AnomalyConfig`] the detector
//! and the gateway run on. Errors name the key and the reason; the gateway's config
//! loader adds the file and line.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How bad an anomaly is, from its score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look.
    Low,
    /// Likely misuse.
    Medium,
    /// Misuse.
    High,
    /// A breach in progress.
    Critical,
}

impl Severity {
    /// All severities, lowest first.
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the gateway does about an alert. Ordered by strength: an incident escalates, it
/// never weakens on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Log it, count it, send the webhook.
    Alert,
    /// Shrink the principal's rate and token budget.
    Throttle,
    /// Switch the principal to the stricter guard profile and forbid tool calls.
    StepUp,
    /// Deny every request of the principal (or address) until the TTL ends or an operator
    /// releases it.
    Quarantine,
}

impl Action {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Alert => "alert",
            Action::Throttle => "throttle",
            Action::StepUp => "step_up",
            Action::Quarantine => "quarantine",
        }
    }

    /// Whether this action contains (more than an alert).
    pub fn contains(self) -> bool {
        self != Action::Alert
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "alert" => Ok(Action::Alert),
            "throttle" => Ok(Action::Throttle),
            "step_up" => Ok(Action::StepUp),
            "quarantine" => Ok(Action::Quarantine),
            other => Err(format!(
                "unknown action `{other}` (expected alert, throttle, step_up or quarantine)"
            )),
        }
    }
}

/// A value per severity, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLevels<T> {
    /// For `low`.
    pub low: Option<T>,
    /// For `medium`.
    pub medium: Option<T>,
    /// For `high`.
    pub high: Option<T>,
    /// For `critical`.
    pub critical: Option<T>,
}

/// `[anomaly]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAnomalyConfig {
    /// Detection on or off (default on).
    pub enabled: Option<bool>,
    /// Events a principal needs before its own baseline is trusted (default 50).
    pub warmup_events: Option<u64>,
    /// Age a principal needs before its own baseline is trusted (default `24h`).
    pub warmup: Option<String>,
    /// A network, user agent or model counts as the principal's own after five uses
    /// spread over at least this long (default `1h`).
    pub establish: Option<String>,
    /// Score at which each severity starts.
    #[serde(default)]
    pub thresholds: RawLevels<f64>,
    /// Action per severity.
    #[serde(default)]
    pub actions: RawLevels<String>,
    /// A principal is not alerted again at the same or a lower severity for this long
    /// (default `30m`).
    pub cooldown: Option<String>,
    /// How long a quarantine lasts; `0s` means until an operator releases it (default `1h`).
    pub quarantine_ttl: Option<String>,
    /// How long throttle and step-up last (default `1h`).
    pub containment_ttl: Option<String>,
    /// A throttled principal keeps this fraction of its request and token rate (default 0.1).
    pub throttle_factor: Option<f64>,
    /// The guard profile a stepped-up principal is switched to (default `strict`; must
    /// exist in `[guards.profiles]` when the gateway uses it).
    pub step_up_profile: Option<String>,
    /// Failed authentications per minute from one address that count as normal (default 5).
    pub ip_failures_per_minute: Option<f64>,
    /// Most principals tracked at once; the longest idle are dropped beyond (default 1,000,000).
    pub max_principals: Option<usize>,
    /// Most client addresses tracked at once (default 100,000).
    pub max_ips: Option<usize>,
    /// Half-Space Trees: number of trees (default 10).
    pub hst_trees: Option<usize>,
    /// Half-Space Trees: depth (default 10).
    pub hst_depth: Option<usize>,
    /// Half-Space Trees: events per mass window (default 4096).
    pub hst_window: Option<usize>,
    /// Half-Space Trees: seed (default 7).
    pub hst_seed: Option<u64>,
    /// Alerts are POSTed here, signed with HMAC-SHA256 (optional).
    pub webhook_url: Option<String>,
    /// The webhook's HMAC key, from this environment variable...
    pub webhook_secret_env: Option<String>,
    /// ...or this file.
    pub webhook_secret_file: Option<String>,
}

/// A setting that does not validate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("anomaly.{key}: {reason}")]
#[non_exhaustive]
pub struct ConfigError {
    /// The key, e.g. `thresholds.high`.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

fn err(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        reason: reason.into(),
    }
}

/// The detector's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorConfig {
    /// See [`RawAnomalyConfig::warmup_events`].
    pub warmup_events: u64,
    /// See [`RawAnomalyConfig::warmup`], milliseconds.
    pub warmup_ms: i64,
    /// See [`RawAnomalyConfig::establish`], milliseconds.
    pub establish_ms: i64,
    /// Score thresholds, low to critical (strictly increasing).
    pub thresholds: [f64; 4],
    /// Actions, low to critical (never weaker as severity rises).
    pub actions: [Action; 4],
    /// See [`RawAnomalyConfig::cooldown`], milliseconds.
    pub cooldown_ms: i64,
    /// See [`RawAnomalyConfig::ip_failures_per_minute`].
    pub ip_failures_per_minute: f64,
    /// See [`RawAnomalyConfig::max_principals`].
    pub max_principals: usize,
    /// See [`RawAnomalyConfig::max_ips`].
    pub max_ips: usize,
    /// Half-Space Trees: trees.
    pub hst_trees: usize,
    /// Half-Space Trees: depth.
    pub hst_depth: usize,
    /// Half-Space Trees: window.
    pub hst_window: usize,
    /// Half-Space Trees: seed.
    pub hst_seed: u64,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            warmup_events: 50,
            warmup_ms: 24 * 3_600_000,
            establish_ms: 3_600_000,
            thresholds: DEFAULT_THRESHOLDS,
            actions: DEFAULT_ACTIONS,
            cooldown_ms: 30 * 60_000,
            ip_failures_per_minute: 5.0,
            max_principals: 1_000_000,
            max_ips: 100_000,
            hst_trees: 10,
            hst_depth: 10,
            hst_window: 4096,
            hst_seed: 7,
        }
    }
}

impl DetectorConfig {
    /// The severity a score reaches, if any.
    pub fn severity(&self, score: f64) -> Option<Severity> {
        Severity::ALL
            .iter()
            .rev()
            .copied()
            .find(|s| score >= self.thresholds[s.index()])
    }

    /// The action for a severity.
    pub fn action(&self, s: Severity) -> Action {
        self.actions[s.index()]
    }
}

/// Default score thresholds (tuned on simulator seeds 1-3; see docs/anomaly.md).
pub const DEFAULT_THRESHOLDS: [f64; 4] = [2.5, 3.0, 4.5, 6.5];
/// Default actions per severity.
pub const DEFAULT_ACTIONS: [Action; 4] = [
    Action::Alert,
    Action::Throttle,
    Action::StepUp,
    Action::Quarantine,
];

/// Where the webhook's key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable.
    Env(String),
    /// A file (path resolved against the config file's directory).
    File(PathBuf),
}

/// The alert webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Where alerts are POSTed.
    pub url: String,
    /// The HMAC-SHA256 key's source.
    pub secret: SecretSource,
}

/// `[anomaly]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct AnomalyConfig {
    /// Detection on.
    pub enabled: bool,
    /// The detector.
    pub detector: DetectorConfig,
    /// Quarantine length; `None` until released.
    pub quarantine_ttl: Option<Duration>,
    /// Throttle and step-up length.
    pub containment_ttl: Duration,
    /// Fraction of budget a throttled principal keeps.
    pub throttle_factor: f64,
    /// Guard profile for step-up.
    pub step_up_profile: String,
    /// The webhook, when configured.
    pub webhook: Option<WebhookConfig>,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            detector: DetectorConfig::default(),
            quarantine_ttl: Some(Duration::from_secs(3600)),
            containment_ttl: Duration::from_secs(3600),
            throttle_factor: 0.1,
            step_up_profile: "strict".into(),
            webhook: None,
        }
    }
}

fn duration(key: &str, v: &Option<String>, default: Duration) -> Result<Duration, ConfigError> {
    match v {
        None => Ok(default),
        Some(s) => humantime::parse_duration(s)
            .map_err(|e| err(key, format!("`{s}` is not a duration: {e}"))),
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl RawAnomalyConfig {
    /// Checks meaning and builds the running settings; `resolve` turns a relative path
    /// into one relative to the config file.
    pub fn validate(
        &self,
        resolve: &dyn Fn(&str) -> PathBuf,
    ) -> Result<AnomalyConfig, ConfigError> {
        let d = DetectorConfig::default();
        let mut thresholds = d.thresholds;
        let mut actions = d.actions;
        let raw_t = [
            self.thresholds.low,
            self.thresholds.medium,
            self.thresholds.high,
            self.thresholds.critical,
        ];
        let raw_a = [
            &self.actions.low,
            &self.actions.medium,
            &self.actions.high,
            &self.actions.critical,
        ];
        for (i, s) in Severity::ALL.iter().enumerate() {
            if let (Some(v), Some(slot)) = (raw_t.get(i).copied().flatten(), thresholds.get_mut(i))
            {
                if !v.is_finite() || v <= 0.0 {
                    return Err(err(&format!("thresholds.{s}"), "must be a positive number"));
                }
                *slot = v;
            }
            if let (Some(Some(a)), Some(slot)) = (raw_a.get(i), actions.get_mut(i)) {
                *slot = a.parse().map_err(|e| err(&format!("actions.{s}"), e))?;
            }
        }
        for w in thresholds.windows(2) {
            if let [a, b] = w {
                if a >= b {
                    return Err(err(
                        "thresholds",
                        "must increase strictly from low to medium, high and critical",
                    ));
                }
            }
        }
        for w in actions.windows(2) {
            if let [a, b] = w {
                if a > b {
                    return Err(err(
                        "actions",
                        "an action may not be weaker than the one of a lower severity",
                    ));
                }
            }
        }
        let positive = |key: &str, v: Option<usize>, default: usize| match v {
            None => Ok(default),
            Some(0) => Err(err(key, "must be at least 1")),
            Some(n) => Ok(n),
        };
        let hst_depth = positive("hst_depth", self.hst_depth, d.hst_depth)?;
        if hst_depth > 20 {
            return Err(err("hst_depth", "must be at most 20"));
        }
        let hst_trees = positive("hst_trees", self.hst_trees, d.hst_trees)?;
        if hst_trees > 200 {
            return Err(err("hst_trees", "must be at most 200"));
        }
        let hst_window = positive("hst_window", self.hst_window, d.hst_window)?;
        let ip_failures_per_minute = match self.ip_failures_per_minute {
            None => d.ip_failures_per_minute,
            Some(v) if v.is_finite() && v > 0.0 => v,
            Some(_) => return Err(err("ip_failures_per_minute", "must be positive")),
        };
        let throttle_factor = match self.throttle_factor {
            None => 0.1,
            Some(v) if (0.0..1.0).contains(&v) => v,
            Some(_) => return Err(err("throttle_factor", "must be in [0, 1)")),
        };
        let quarantine_ttl = duration(
            "quarantine_ttl",
            &self.quarantine_ttl,
            Duration::from_secs(3600),
        )?;
        let webhook = match (
            &self.webhook_url,
            &self.webhook_secret_env,
            &self.webhook_secret_file,
        ) {
            (None, None, None) => None,
            (None, _, _) => {
                return Err(err(
                    "webhook_url",
                    "a webhook secret is set but no webhook_url",
                ))
            }
            (Some(u), env, file) => {
                // Alerts name principals and addresses: plaintext only to this host.
                let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
                    .iter()
                    .any(|p| {
                        u.strip_prefix(p)
                            .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
                    });
                if !(u.starts_with("https://") || loopback) {
                    return Err(err(
                        "webhook_url",
                        "must be an https:// URL (plain http only to a loopback address)",
                    ));
                }
                let secret = match (env, file) {
                    (Some(e), None) => SecretSource::Env(e.clone()),
                    (None, Some(f)) => SecretSource::File(resolve(f)),
                    _ => {
                        return Err(err(
                            "webhook_url",
                            "give exactly one of webhook_secret_env, webhook_secret_file (alerts are always signed)",
                        ))
                    }
                };
                Some(WebhookConfig {
                    url: u.clone(),
                    secret,
                })
            }
        };
        let step_up_profile = self
            .step_up_profile
            .clone()
            .unwrap_or_else(|| "strict".into());
        if step_up_profile.is_empty() {
            return Err(err("step_up_profile", "must not be empty"));
        }
        Ok(AnomalyConfig {
            enabled: self.enabled.unwrap_or(true),
            detector: DetectorConfig {
                warmup_events: self.warmup_events.unwrap_or(d.warmup_events),
                warmup_ms: ms(duration(
                    "warmup",
                    &self.warmup,
                    Duration::from_millis(d.warmup_ms as u64),
                )?),
                establish_ms: ms(duration(
                    "establish",
                    &self.establish,
                    Duration::from_millis(d.establish_ms as u64),
                )?),
                thresholds,
                actions,
                cooldown_ms: ms(duration(
                    "cooldown",
                    &self.cooldown,
                    Duration::from_millis(d.cooldown_ms as u64),
                )?),
                ip_failures_per_minute,
                max_principals: positive("max_principals", self.max_principals, d.max_principals)?,
                max_ips: positive("max_ips", self.max_ips, d.max_ips)?,
                hst_trees,
                hst_depth,
                hst_window,
                hst_seed: self.hst_seed.unwrap_or(d.hst_seed),
            },
            quarantine_ttl: (!quarantine_ttl.is_zero()).then_some(quarantine_ttl),
            containment_ttl: duration(
                "containment_ttl",
                &self.containment_ttl,
                Duration::from_secs(3600),
            )?,
            throttle_factor,
            step_up_profile,
            webhook,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<AnomalyConfig, String> {
        #[derive(Deserialize)]
        struct F {
            anomaly: RawAnomalyConfig,
        }
        let f: F = serde_json::from_str(s).map_err(|e| e.to_string())?;
        f.anomaly
            .validate(&|p| PathBuf::from(p))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults() {
        let c = parse(r#"{"anomaly": {}}"#).unwrap();
        assert_eq!(c, AnomalyConfig::default());
        assert_eq!(c.detector.severity(2.4), None);
        assert_eq!(c.detector.severity(2.5), Some(Severity::Low));
        assert_eq!(c.detector.severity(100.0), Some(Severity::Critical));
    }

    #[test]
    fn refuses_bad_values() {
        for (s, want) in [
            (r#"{"thresholds": {"low": 5, "medium": 4}}"#, "increase"),
            (r#"{"actions": {"low": "quarantine"}}"#, "weaker"),
            (r#"{"actions": {"low": "nuke"}}"#, "unknown action"),
            (r#"{"cooldown": "soon"}"#, "not a duration"),
            (r#"{"webhook_url": "https://x"}"#, "exactly one"),
            (
                r#"{"webhook_url": "http://hooks.example", "webhook_secret_env": "S"}"#,
                "https",
            ),
            (
                r#"{"webhook_url": "http://127.0.0.1.evil", "webhook_secret_env": "S"}"#,
                "https",
            ),
            (r#"{"throttle_factor": 1.5}"#, "[0, 1)"),
            (r#"{"hst_depth": 0}"#, "at least 1"),
            (r#"{"colour": 1}"#, "unknown field"),
        ] {
            let e = parse(&format!(r#"{{"anomaly": {s}}}"#)).unwrap_err();
            assert!(e.contains(want), "{s}: {e}");
        }
    }

    #[test]
    fn quarantine_until_released() {
        let c = parse(r#"{"anomaly": {"quarantine_ttl": "0s"}}"#).unwrap();
        assert_eq!(c.quarantine_ttl, None);
    }
}
