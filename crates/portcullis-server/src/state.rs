//! Shared state of a running gateway, and what every request records when it ends.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use portcullis_core::config::Config;
use portcullis_core::identity::Principal;
use portcullis_core::limits::{LimitSpec, Subject};
use portcullis_core::policy::{Action, PolicyEngine};
use portcullis_store::{DecisionRecord, Store};

use crate::decisions::DecisionSink;
use crate::error::ApiError;
use crate::metrics::{LimitLabels, Metrics, RequestLabels};
use crate::upstream::Upstreams;

/// The client's address, put on each request by the listener.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// Everything handlers share.
pub struct AppState {
    /// The validated configuration.
    pub config: Config,
    /// The active policy set; replaced whole on reload.
    pub policy: ArcSwap<PolicyEngine>,
    /// Keys, counters, decision records.
    pub store: Arc<dyn Store>,
    /// Rate limits and budgets (in process, or shared in Redis).
    pub limits: crate::ratelimit::Limits,
    /// Upstream clients.
    pub upstreams: Upstreams,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Decision-record writer.
    pub decisions: DecisionSink,
    /// OIDC issuers and their keys.
    pub jwt: crate::authn::JwtVerifier,
    /// API-key records, revalidated against the store's change marker.
    pub keys: crate::authn::KeyCache,
    /// Input and output guards; `None` when every guard profile is off. Replaced whole
    /// when a policy bundle brings another guard configuration.
    pub guards: arc_swap::ArcSwapOption<crate::guards::GuardEngine>,
    /// The guard profiles in force (the main file's, or the active bundle's).
    pub guard_profiles:
        ArcSwap<std::collections::BTreeMap<String, portcullis_core::config::GuardSettings>>,
    /// The policy bundles, when `[policy] source = "bundle"`.
    pub bundles: Option<parking_lot::Mutex<portcullis_integrity::policy_bundle::BundleStore>>,
    /// The version of the bundle in force (0: none).
    pub bundle_version: std::sync::atomic::AtomicU64,
    /// TLS on the data plane, when configured.
    pub tls: Option<Arc<crate::tls::TlsSwitch>>,
    /// The admin API's credential.
    pub admin_token: Option<secrecy::SecretString>,
    /// The audit log's tree and verifier, when `[audit]` is configured.
    pub audit: Option<Arc<crate::audit::AuditShared>>,
    /// Which `registry = true` models have a verified active version; `None` when no
    /// model uses the registry.
    pub integrity: Option<Arc<crate::integrity::IntegrityGate>>,
    /// Anomaly detection and containment, when `[anomaly]` is on.
    pub anomaly: Option<Arc<crate::anomaly::AnomalyEngine>>,
}

/// Unix seconds now.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Unix milliseconds now.
pub fn unix_now_ms() -> i64 {
    unix_ms()
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// What one request has learned so far; becomes its decision record.
#[derive(Debug)]
pub struct RequestCtx {
    /// Arrival.
    pub started: Instant,
    /// Arrival, wall clock.
    pub ts_ms: i64,
    /// Random id, returned in `x-request-id`.
    pub request_id: String,
    /// The action.
    pub action: Action,
    /// The client address.
    pub client: SocketAddr,
    /// Authenticated principal.
    pub principal: Option<Principal>,
    /// Resolved public model.
    pub model: String,
    /// Upstream name.
    pub upstream: String,
    /// Streaming.
    pub stream: bool,
    /// Estimated prompt tokens.
    pub prompt_estimate: u64,
    /// The held reservation.
    pub reservation: Option<crate::ratelimit::Held>,
    /// Deciding policies of an allow.
    pub policies: String,
    /// The digest of the policy set that decided (one set per request, even while a
    /// reload or a bundle activation swaps another in).
    pub policy_digest: Option<[u8; 32]>,
    /// Time spent in the gateway before the upstream was called.
    pub pre_upstream: Option<std::time::Duration>,
    /// SHA-256 of the request body (only with the audit log on).
    pub request_sha256: Option<[u8; 32]>,
    /// SHA-256 of the response body sent (only with the audit log on).
    pub response_sha256: Option<[u8; 32]>,
    /// The request body (only with `[audit] store_bodies`).
    pub request_body: Option<bytes::Bytes>,
    /// The response body sent (only with `[audit] store_bodies`).
    pub response_body: Option<bytes::Bytes>,
    /// Whether guards ran on this request.
    pub guarded: bool,
    /// Input guard findings by type (counts only).
    pub guard_in: std::collections::BTreeMap<portcullis_guard::FindingKind, u32>,
    /// Output guard findings by type (counts only).
    pub guard_out: std::collections::BTreeMap<portcullis_guard::FindingKind, u32>,
    /// For a guarded stream: whether every chunk was checked before it was sent.
    pub stream_checked: Option<bool>,
    /// The `User-Agent` header (for anomaly detection).
    pub user_agent: String,
    /// The input guards' injection score in [0, 1] (for anomaly detection).
    pub injection_score: f32,
    /// Refused by an anomaly containment (not fed back to the detector).
    pub anomaly_refused: bool,
}

impl RequestCtx {
    /// A new request.
    pub fn new(action: Action, client: SocketAddr) -> Self {
        let ts_ms = unix_ms();
        Self {
            started: Instant::now(),
            ts_ms,
            request_id: crate::audit::new_request_id(ts_ms),
            action,
            client,
            principal: None,
            model: String::new(),
            upstream: String::new(),
            stream: false,
            prompt_estimate: 0,
            reservation: None,
            policies: String::new(),
            policy_digest: None,
            pre_upstream: None,
            request_sha256: None,
            response_sha256: None,
            request_body: None,
            response_body: None,
            guarded: false,
            guard_in: Default::default(),
            guard_out: Default::default(),
            stream_checked: None,
            user_agent: String::new(),
            injection_score: 0.0,
            anomaly_refused: false,
        }
    }

    /// Moves the context out (to a stream task), leaving a shell with the same request
    /// id for the response headers.
    pub fn take(&mut self) -> RequestCtx {
        let shell = RequestCtx {
            request_id: self.request_id.clone(),
            ..RequestCtx::new(self.action, self.client)
        };
        std::mem::replace(self, shell)
    }

    fn record(
        &self,
        decision: &str,
        reason: String,
        status: u16,
        prompt: u64,
        completion: u64,
    ) -> DecisionRecord {
        let (principal, groups, key_id, identity) = match &self.principal {
            Some(p) => (
                p.name.clone(),
                p.groups.clone(),
                p.key_id.clone(),
                p.identity_key(),
            ),
            None => Default::default(),
        };
        // Guard findings go into the record as types and counts, never values.
        let reason = if self.guarded {
            let checked = match self.stream_checked {
                Some(true) => ";stream=all_checked",
                Some(false) => ";stream=not_all_checked",
                None => "",
            };
            format!(
                "{reason};guard:in={};out={}{checked}",
                crate::guards::summarize(&self.guard_in),
                crate::guards::summarize(&self.guard_out)
            )
        } else {
            reason
        };
        DecisionRecord {
            ts_ms: self.ts_ms,
            request_id: self.request_id.clone(),
            principal,
            groups,
            key_id,
            identity,
            action: self.action.as_str().into(),
            model: self.model.clone(),
            upstream: self.upstream.clone(),
            decision: decision.into(),
            reason,
            status,
            prompt_tokens: prompt,
            completion_tokens: completion,
            latency_us: self.started.elapsed().as_micros() as u64,
            stream: self.stream,
        }
    }

    fn audit(&self) -> crate::audit::RequestAudit {
        crate::audit::RequestAudit {
            identity_kind: self
                .principal
                .as_ref()
                .map_or("", |p| p.kind.as_str())
                .to_string(),
            request_sha256: self.request_sha256,
            response_sha256: self.response_sha256,
            policy_digest: self.policy_digest,
            guard_findings: self
                .guard_in
                .iter()
                .map(|(k, n)| ("input", k, n))
                .chain(self.guard_out.iter().map(|(k, n)| ("output", k, n)))
                .map(|(side, k, n)| portcullis_audit::event::GuardFinding {
                    kind: format!("{side}.{}", k.as_str()),
                    count: u64::from(*n),
                })
                .collect(),
            request_body: self.request_body.clone(),
            response_body: self.response_body.clone(),
        }
    }
}

impl AppState {
    /// The limits charged for a principal: its own (or the default) and each group's.
    /// The principal is counted by its identity (authenticator, issuer and name), so
    /// callers of the same name from different authenticators never share a counter.
    pub fn charges(&self, p: &Principal) -> Vec<(Subject, LimitSpec)> {
        let id = p.identity();
        let own = self.config.limits_for(&id);
        let mut out = vec![(Subject::Principal(id.to_string()), own)];
        for g in &p.groups {
            if let Some(spec) = self.config.group_limits.get(g) {
                out.push((Subject::Group(g.clone()), *spec));
            }
        }
        out
    }

    /// Ends a failed request: refunds its tokens, counts it, records it.
    pub async fn finish_error(&self, ctx: &mut RequestCtx, err: &ApiError) {
        if let Some(r) = ctx.reservation.take() {
            self.limits.reconcile(r, 0, unix_now()).await;
        }
        if let ApiError::RateLimited(e) = err {
            self.metrics
                .limit_rejections
                .get_or_create(&LimitLabels {
                    limit: e.kind.as_str(),
                    subject_kind: e.subject.kind(),
                })
                .inc();
        }
        self.count(ctx.action, err.decision());
        let status = err.parts().0.as_u16();
        tracing::info!(
            request_id = %ctx.request_id,
            principal = ctx.principal.as_ref().map_or("", |p| p.name.as_str()),
            action = ctx.action.as_str(),
            model = %ctx.model,
            decision = err.decision(),
            reason = %err.record_reason(),
            status,
            "request refused"
        );
        if let Some(a) = &self.anomaly {
            a.observe(self, ctx, err.decision(), 0, 0);
        }
        let rec = ctx.record(err.decision(), err.record_reason(), status, 0, 0);
        let audit = self.audit.is_some().then(|| ctx.audit());
        self.decisions.record(rec, audit).await;
    }

    /// Ends an allowed request: reconciles, counts, records. `outcome` names what went
    /// wrong after the upstream was called (e.g. a reset mid-stream); the record stays an
    /// `allow`, since the tokens were used, with the outcome in its reason.
    pub async fn finish_ok(
        &self,
        ctx: &mut RequestCtx,
        status: u16,
        prompt: u64,
        completion: u64,
        outcome: Option<&str>,
    ) {
        if let Some(r) = ctx.reservation.take() {
            self.limits
                .reconcile(r, prompt + completion, unix_now())
                .await;
        }
        self.count(
            ctx.action,
            if outcome.is_some() { "error" } else { "allow" },
        );
        let reason = match outcome {
            Some(o) => format!("{};{o}", ctx.policies),
            None => ctx.policies.clone(),
        };
        if let Some(a) = &self.anomaly {
            let d = if outcome.is_some() { "error" } else { "allow" };
            a.observe(self, ctx, d, prompt, completion);
        }
        let rec = ctx.record("allow", reason, status, prompt, completion);
        let audit = self.audit.is_some().then(|| ctx.audit());
        self.decisions.record(rec, audit).await;
    }

    /// Whether the audit log is on (handlers hash bodies only then).
    pub fn audit_on(&self) -> bool {
        self.audit.is_some()
    }

    /// Whether request and response bodies are kept (encrypted) with the audit log.
    pub fn audit_bodies(&self) -> bool {
        self.decisions.stores_bodies()
    }

    /// Counts a request in the metrics.
    pub fn count(&self, action: Action, decision: &'static str) {
        self.metrics
            .requests
            .get_or_create(&RequestLabels {
                action: action.as_str(),
                decision,
            })
            .inc();
    }
}
