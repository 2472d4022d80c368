//! The one place where failures become HTTP responses.
//!
//! Every handler returns [`ApiError`]; its [`IntoResponse`] writes OpenAI's error JSON
//! with a status, a type and a code. Messages are written for callers and never carry
//! upstream bodies, policy text, credentials or internal addresses.

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use portcullis_core::limits::{Exceeded, LimitKind};
use portcullis_core::openai::{ErrorBody, ErrorDetail, InvalidRequest};

/// A failure of a data-plane request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// No such route.
    #[error("not found")]
    RouteNotFound,
    /// The route exists but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// No credential was presented.
    #[error("missing API key")]
    MissingCredential,
    /// The credential was not accepted (the reason is logged, not returned).
    #[error("invalid API key: {0}")]
    InvalidCredential(String),
    /// The model requires a kind of credential the caller did not present.
    #[error("credential required: {0}")]
    CredentialRequired(&'static str),
    /// Policy denied.
    #[error("denied by policy {policy}")]
    Denied {
        /// Deciding policy id.
        policy: String,
    },
    /// An input guard's action for a finding type is `block`.
    #[error("blocked by input guard: {0}")]
    InputBlocked(&'static str),
    /// An output guard's action for a finding type in the response is `block`.
    #[error("blocked by output guard: {0}")]
    OutputBlocked(&'static str),
    /// The requested model is not configured.
    #[error("model not found")]
    ModelNotFound(String),
    /// The model is served only from the registry, and has no approved, verified active
    /// version.
    #[error("model not approved")]
    ModelNotApproved(String),
    /// The model does not serve this endpoint.
    #[error("model does not serve this endpoint")]
    WrongEndpoint(String),
    /// The body failed parsing or validation.
    #[error("{0}")]
    Invalid(InvalidRequest),
    /// `Content-Type` is not JSON.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// The body is over the limit.
    #[error("request body larger than {0} bytes")]
    BodyTooLarge(usize),
    /// A rate limit or budget refused the request.
    #[error("rate limited")]
    RateLimited(Exceeded),
    /// The upstream could not be reached.
    #[error("upstream unavailable")]
    UpstreamUnavailable,
    /// The upstream did not answer in time.
    #[error("upstream timed out")]
    UpstreamTimeout,
    /// The upstream answered with an error status.
    #[error("upstream returned status {0}")]
    UpstreamStatus(u16),
    /// The upstream's answer could not be used (malformed, too large, cut off).
    #[error("upstream response invalid")]
    UpstreamInvalid,
    /// The upstream is rate-limiting the gateway.
    #[error("upstream rate limited")]
    UpstreamRateLimited(Option<Duration>),
    /// A dependency the decision needs (the store) failed: fail closed.
    #[error("service unavailable")]
    Unavailable,
    /// The shared rate limits (Redis) could not be checked, and the configuration says
    /// fail closed.
    #[error("limits unavailable")]
    LimitsUnavailable,
    /// The principal or client address is quarantined by anomaly detection.
    #[error("quarantined ({incident})")]
    Quarantined {
        /// The incident.
        incident: String,
    },
    /// A containment short of quarantine refused the request: `anomaly_throttled` (429)
    /// or `tools_forbidden` (403, stepped up).
    #[error("contained: {code} ({incident})")]
    Contained {
        /// The incident.
        incident: String,
        /// The code.
        code: &'static str,
    },
}

impl ApiError {
    /// Status, error type and code.
    pub fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use ApiError::*;
        match self {
            RouteNotFound => (StatusCode::NOT_FOUND, "invalid_request_error", "not_found"),
            MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request_error",
                "method_not_allowed",
            ),
            MissingCredential => (
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "missing_api_key",
            ),
            InvalidCredential(_) => (
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "invalid_api_key",
            ),
            Denied { .. } => (StatusCode::FORBIDDEN, "permission_error", "policy_denied"),
            InputBlocked(_) => (
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "content_blocked",
            ),
            OutputBlocked(_) => (StatusCode::BAD_GATEWAY, "upstream_error", "output_blocked"),
            ModelNotFound(_) => (
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "model_not_found",
            ),
            ModelNotApproved(_) => (
                StatusCode::FORBIDDEN,
                "permission_error",
                "model_not_approved",
            ),
            WrongEndpoint(_) => (
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "model_endpoint_mismatch",
            ),
            Invalid(_) => (
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "invalid_request",
            ),
            UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request_error",
                "unsupported_media_type",
            ),
            BodyTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                "request_too_large",
            ),
            CredentialRequired(_) => (
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "credential_required",
            ),
            RateLimited(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "rate_limit_exceeded",
            ),
            UpstreamUnavailable => (
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                "upstream_unavailable",
            ),
            UpstreamTimeout => (
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_error",
                "upstream_timeout",
            ),
            UpstreamStatus(s) if (400..500).contains(s) => (
                StatusCode::BAD_REQUEST,
                "upstream_error",
                "upstream_rejected",
            ),
            UpstreamStatus(_) => (StatusCode::BAD_GATEWAY, "upstream_error", "upstream_error"),
            UpstreamInvalid => (
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                "upstream_invalid_response",
            ),
            UpstreamRateLimited(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "upstream_error",
                "upstream_rate_limited",
            ),
            Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "unavailable",
            ),
            LimitsUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "limits_unavailable",
            ),
            Quarantined { .. } => (StatusCode::FORBIDDEN, "permission_error", "quarantined"),
            Contained {
                code: "anomaly_throttled",
                ..
            } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "anomaly_throttled",
            ),
            Contained { .. } => (StatusCode::FORBIDDEN, "permission_error", "tools_forbidden"),
        }
    }

    /// The word the decision record uses.
    pub fn decision(&self) -> &'static str {
        use ApiError::*;
        match self {
            MissingCredential | InvalidCredential(_) | CredentialRequired(_) => "unauthenticated",
            Denied { .. }
            | InputBlocked(_)
            | OutputBlocked(_)
            | ModelNotApproved(_)
            | Quarantined { .. }
            | Contained { .. } => "deny",
            RateLimited(_) => "rate_limited",
            RouteNotFound | MethodNotAllowed | ModelNotFound(_) | WrongEndpoint(_) | Invalid(_)
            | UnsupportedMediaType | BodyTooLarge(_) => "invalid",
            _ => "error",
        }
    }

    /// The reason the decision record keeps (more detail than the caller sees).
    pub fn record_reason(&self) -> String {
        match self {
            ApiError::Denied { policy } => policy.clone(),
            ApiError::InputBlocked(k) => format!("guard:input:{k}"),
            ApiError::OutputBlocked(k) => format!("guard:output:{k}"),
            ApiError::InvalidCredential(k) => k.clone(),
            ApiError::CredentialRequired(k) => format!("credential_required:{k}"),
            ApiError::ModelNotApproved(m) => format!("model_not_approved:{m}"),
            ApiError::Quarantined { incident } => format!("anomaly:quarantined:{incident}"),
            ApiError::Contained { incident, code } => format!("anomaly:{code}:{incident}"),
            ApiError::RateLimited(e) => format!(
                "{}:{}:{}",
                e.kind.as_str(),
                e.subject.kind(),
                e.subject.name()
            ),
            other => other.parts().2.to_string(),
        }
    }

    fn message(&self) -> String {
        use ApiError::*;
        match self {
            RouteNotFound => "Unknown endpoint. Portcullis serves POST /v1/chat/completions, POST /v1/embeddings and GET /v1/models.".into(),
            MethodNotAllowed => "Method not allowed for this endpoint.".into(),
            MissingCredential => "Missing API key. Send it as `Authorization: Bearer pc_...`.".into(),
            InvalidCredential(_) => "Invalid credential.".into(),
            CredentialRequired("mtls") => {
                "This model requires a client certificate (mTLS with a SPIFFE identity).".into()
            }
            CredentialRequired(_) => "This model requires a token from an identity provider.".into(),
            Denied { policy } => format!("Request denied by policy `{policy}`."),
            InputBlocked(k) => format!("The request was blocked by an input guard ({k})."),
            OutputBlocked(k) => format!("The model's response was blocked by an output guard ({k})."),
            ModelNotFound(m) => format!("The model `{}` does not exist or you do not have access to it.", shorten(m)),
            WrongEndpoint(m) => format!("The model `{}` does not serve this endpoint.", shorten(m)),
            ModelNotApproved(m) => format!("The model `{}` is not served: it has no active version in the model registry that is approved and whose artifacts verify.", shorten(m)),
            Invalid(e) => e.message.clone(),
            UnsupportedMediaType => "Content-Type must be application/json.".into(),
            BodyTooLarge(n) => format!("Request body is larger than the limit of {n} bytes."),
            RateLimited(e) => {
                let what = match e.kind {
                    LimitKind::Requests => "requests per minute",
                    LimitKind::TokensPerMinute => "tokens per minute",
                    LimitKind::TokensPerDay => "tokens per day",
                    LimitKind::RequestsPerDay => "requests per day",
                };
                match e.retry_after {
                    Some(_) => format!("Rate limit reached: {what} for {} `{}`.", e.subject.kind(), e.subject.name()),
                    None => format!("Request is larger than the whole limit of {what} for {} `{}`; lower max_tokens or the prompt.", e.subject.kind(), e.subject.name()),
                }
            }
            UpstreamUnavailable => "The model provider could not be reached.".into(),
            UpstreamTimeout => "The model provider did not answer in time.".into(),
            UpstreamStatus(s) if (400..500).contains(s) => format!("The model provider rejected the request (status {s})."),
            UpstreamStatus(s) => format!("The model provider failed (status {s})."),
            UpstreamInvalid => "The model provider sent an invalid response.".into(),
            UpstreamRateLimited(_) => "The model provider is rate-limiting this gateway; retry later.".into(),
            Unavailable => "The gateway cannot decide on this request right now; retry later.".into(),
            LimitsUnavailable => "The gateway cannot check this request's rate limits and budgets right now (the shared limit store is unreachable); retry later.".into(),
            Quarantined { incident } => format!("This credential or client address is quarantined after anomalous activity (incident {incident}). Contact your security team."),
            Contained { incident, code: "anomaly_throttled" } => format!("Request rate reduced after anomalous activity (incident {incident}); retry later."),
            Contained { incident, .. } => format!("Tool calls are not allowed for this credential after anomalous activity (incident {incident})."),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        let (_, kind, code) = self.parts();
        ErrorBody {
            error: ErrorDetail {
                message: self.message(),
                kind: kind.into(),
                param: match self {
                    ApiError::Invalid(e) => e.param.clone(),
                    ApiError::ModelNotFound(_)
                    | ApiError::WrongEndpoint(_)
                    | ApiError::ModelNotApproved(_) => Some("model".into()),
                    _ => None,
                },
                code: Some(code.into()),
                policy_id: match self {
                    ApiError::Denied { policy } => Some(policy.clone()),
                    _ => None,
                },
                incident_id: match self {
                    ApiError::Quarantined { incident } | ApiError::Contained { incident, .. } => {
                        Some(incident.clone())
                    }
                    _ => None,
                },
            },
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::RateLimited(e) => e.retry_after,
            ApiError::UpstreamRateLimited(r) => *r,
            ApiError::Unavailable => Some(Duration::from_secs(1)),
            ApiError::Contained {
                code: "anomaly_throttled",
                ..
            } => Some(Duration::from_secs(6)),
            _ => None,
        }
    }
}

fn shorten(s: &str) -> String {
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(64).collect();
    if s.chars().count() > 64 {
        out.push('…');
    }
    out
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, _, _) = self.parts();
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut resp = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        if let Some(d) = self.retry_after() {
            let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
            if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if matches!(
            self,
            ApiError::MissingCredential
                | ApiError::InvalidCredential(_)
                | ApiError::CredentialRequired(_)
        ) {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"portcullis\""),
            );
        }
        resp
    }
}
