//! Prometheus metrics, served on the admin listener at `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of the request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `chat.completions`, `embeddings`, `models.list`, `other`.
    pub action: &'static str,
    /// `allow`, `deny`, `unauthenticated`, `invalid`, `rate_limited`, `error`.
    pub decision: &'static str,
}

/// Labels per upstream.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    /// Upstream name from config.
    pub upstream: String,
}

/// Labels of decision-record commits.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CommitLabels {
    /// `handler` or `writer`.
    pub by: &'static str,
}

/// Labels of limit rejections.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabels {
    /// `requests_per_minute`, `tokens_per_minute`, `tokens_per_day`.
    pub limit: &'static str,
    /// `principal` or `group`.
    pub subject_kind: &'static str,
}

/// Labels of anomaly alerts.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AnomalyLabels {
    /// `low`, `medium`, `high`, `critical`.
    pub severity: &'static str,
    /// `alert`, `throttle`, `step_up`, `quarantine`.
    pub action: &'static str,
    /// The alert kind (`volume`, `injection`, `auth_failures`, ...).
    pub kind: String,
}

/// All gateway metrics.
pub struct Metrics {
    /// The registry `/metrics` encodes.
    pub registry: Registry,
    /// Requests by action and decision.
    pub requests: Family<RequestLabels, Counter>,
    /// Upstream latency (to the end of the response) by upstream.
    pub upstream_latency: Family<UpstreamLabels, Histogram, fn() -> Histogram>,
    /// Time the gateway itself adds to a request.
    pub overhead: Histogram,
    /// Budget and rate-limit rejections.
    pub limit_rejections: Family<LimitLabels, Counter>,
    /// Streams in progress.
    pub active_streams: Gauge,
    /// Policy reloads that failed (the old set stayed).
    pub policy_reload_failures: Counter,
    /// Decision records that could not be written.
    pub decision_write_failures: Counter,
    /// Transactions of decision records (and audit events), by who committed them:
    /// `handler` (inline, audit log on and the writer idle) or `writer` (a batch).
    pub decision_commits: Family<CommitLabels, Counter>,
    /// Requests whose limits were checked per replica because Redis was unavailable
    /// (`redis.on_unavailable = "local"`).
    pub limits_fallback: Counter,
    /// 1 while the shared limit store answers (or limits are in process), else 0.
    pub limits_shared_up: Gauge,
    // --- anomaly detection (crate::anomaly) ---
    /// Anomaly alerts by severity, action and kind.
    pub anomaly_alerts: Family<AnomalyLabels, Counter>,
    /// Principals and addresses under a containment now.
    pub anomaly_contained: Gauge,
    /// Alert webhooks that failed.
    pub anomaly_webhook_failures: Counter,
}

fn upstream_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Metrics {
    /// Registers everything.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("portcullis");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Data-plane requests by action and decision",
            requests.clone(),
        );
        let upstream_latency: Family<UpstreamLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(upstream_histogram);
        registry.register(
            "upstream_latency_seconds",
            "Upstream latency until the response is complete",
            upstream_latency.clone(),
        );
        // 5 µs .. ~84 ms.
        let overhead = Histogram::new(exponential_buckets(0.000_005, 2.0, 15));
        registry.register(
            "gateway_overhead_seconds",
            "Time spent in the gateway itself, excluding the upstream",
            overhead.clone(),
        );
        let limit_rejections = Family::<LimitLabels, Counter>::default();
        registry.register(
            "limit_rejections",
            "Requests refused by a rate limit or budget",
            limit_rejections.clone(),
        );
        let active_streams = Gauge::default();
        registry.register(
            "active_streams",
            "Streaming responses in progress",
            active_streams.clone(),
        );
        let policy_reload_failures = Counter::default();
        registry.register(
            "policy_reload_failures",
            "Policy reloads rejected",
            policy_reload_failures.clone(),
        );
        let decision_write_failures = Counter::default();
        registry.register(
            "decision_write_failures",
            "Batches of decision records that failed to write",
            decision_write_failures.clone(),
        );
        let decision_commits = Family::<CommitLabels, Counter>::default();
        registry.register(
            "decision_commits",
            "Transactions of decision records and audit events, by committer (handler or writer)",
            decision_commits.clone(),
        );
        let limits_fallback = Counter::default();
        registry.register(
            "limits_fallback",
            "Requests whose limits were enforced per replica because Redis was unavailable",
            limits_fallback.clone(),
        );
        let limits_shared_up = Gauge::default();
        limits_shared_up.set(1);
        registry.register(
            "limits_shared_up",
            "1 while the shared limit store (Redis) answers, else 0",
            limits_shared_up.clone(),
        );
        let anomaly_alerts = Family::<AnomalyLabels, Counter>::default();
        registry.register(
            "anomaly_alerts",
            "Anomaly alerts by severity, action and kind",
            anomaly_alerts.clone(),
        );
        let anomaly_contained = Gauge::default();
        registry.register(
            "anomaly_contained",
            "Principals and client addresses under a containment (throttle, step-up, quarantine)",
            anomaly_contained.clone(),
        );
        let anomaly_webhook_failures = Counter::default();
        registry.register(
            "anomaly_webhook_failures",
            "Anomaly alert webhooks that failed",
            anomaly_webhook_failures.clone(),
        );
        Self {
            limits_fallback,
            limits_shared_up,
            registry,
            anomaly_alerts,
            anomaly_contained,
            anomaly_webhook_failures,
            requests,
            upstream_latency,
            overhead,
            limit_rejections,
            active_streams,
            policy_reload_failures,
            decision_write_failures,
            decision_commits,
        }
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
