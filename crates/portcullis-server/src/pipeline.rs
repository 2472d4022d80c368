//! The data-plane request pipeline, in the order every request goes through it:
//! authenticate, read and validate the body, resolve the model from config, authorize
//! with Cedar, reserve budget, forward, reconcile and record.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use portcullis_core::config::Model;
use portcullis_core::identity::{Principal, PrincipalKind};
use portcullis_core::mock;
use portcullis_core::openai::{ChatRequest, EmbeddingsRequest, RequestLimits, Usage};
use portcullis_core::policy::{utc_hour_weekday, Action, GuardFacts, RequestFacts, Verdict};
use portcullis_core::tokens::estimate_bytes;
use serde_json::json;

use crate::authn::authenticate;
use crate::error::ApiError;
use crate::guards::{JsonRefused, RequestGuard};
use crate::ratelimit::{Held, LimitError};
use crate::state::{unix_now, AppState, ClientAddr, RequestCtx};
use crate::stream::{self, StreamSource};
use crate::tls::PeerIdentity;
use crate::upstream::status_error;

/// `POST /v1/chat/completions`.
pub async fn chat(
    State(st): State<Arc<AppState>>,
    Extension(addr): Extension<ClientAddr>,
    req: Request,
) -> Response {
    let mut ctx = RequestCtx::new(Action::ChatCompletions, addr.0);
    let result = chat_inner(&st, &mut ctx, req).await;
    conclude(&st, &mut ctx, result).await
}

/// `POST /v1/embeddings`.
pub async fn embeddings(
    State(st): State<Arc<AppState>>,
    Extension(addr): Extension<ClientAddr>,
    req: Request,
) -> Response {
    let mut ctx = RequestCtx::new(Action::Embeddings, addr.0);
    let result = embeddings_inner(&st, &mut ctx, req).await;
    conclude(&st, &mut ctx, result).await
}

/// Turns a pipeline result into the response, recording a failure.
async fn conclude(
    st: &AppState,
    ctx: &mut RequestCtx,
    result: Result<Response, ApiError>,
) -> Response {
    match result {
        Ok(r) => with_request_id(r, ctx),
        Err(e) => {
            st.finish_error(ctx, &e).await;
            with_request_id(e.into_response(), ctx)
        }
    }
}

/// `GET /v1/models`: only the models this caller may use.
pub async fn models(
    State(st): State<Arc<AppState>>,
    Extension(addr): Extension<ClientAddr>,
    req: Request,
) -> Response {
    let mut ctx = RequestCtx::new(Action::ModelsList, addr.0);
    let peer = req.extensions().get::<PeerIdentity>().cloned();
    let admitted = match anomaly_admit(&st, &mut ctx, &req, None) {
        Ok(_) => authenticate(&st, req.headers(), peer.as_ref()).await,
        Err(e) => Err(e),
    };
    let principal = match admitted.and_then(|p| {
        ctx.principal = Some(p.clone());
        anomaly_admit(&st, &mut ctx, &req, Some(Default::default())).map(|_| p)
    }) {
        Ok(p) => p,
        Err(e) => {
            st.finish_error(&mut ctx, &e).await;
            return with_request_id(e.into_response(), &ctx);
        }
    };
    let facts = facts(&ctx, 0, 0, false, vec![], GuardFacts::default());
    let policy = st.policy.load();
    let data: Vec<_> = st
        .config
        .models
        .values()
        .filter(|m| {
            let served = !m.registry
                || st
                    .integrity
                    .as_ref()
                    .is_some_and(|g| g.served(&m.name).is_some());
            served
                && policy
                    .authorize(&principal, Action::ModelsList, &m.name, &facts)
                    .is_allow()
        })
        .map(|m| json!({"id": m.name, "object": "model", "created": 0, "owned_by": m.provider}))
        .collect();
    ctx.policies = format!("listed:{}", data.len());
    st.finish_ok(&mut ctx, 200, 0, 0, None).await;
    let body = json!({"object": "list", "data": data}).to_string();
    with_request_id(
        ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        &ctx,
    )
}

/// Any other path.
pub async fn not_found() -> Response {
    ApiError::RouteNotFound.into_response()
}

/// A known path with the wrong method.
pub async fn method_not_allowed() -> Response {
    ApiError::MethodNotAllowed.into_response()
}

fn with_request_id(mut r: Response, ctx: &RequestCtx) -> Response {
    if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
        r.headers_mut().insert("x-request-id", v);
    }
    r
}

async fn read_body(st: &AppState, req: Request) -> Result<Bytes, ApiError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::UnsupportedMediaType);
    }
    let limit = st.config.max_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::BodyTooLarge(limit));
    }
    let limited = http_body_util::Limited::new(req.into_body(), limit);
    match tokio::time::timeout(st.config.request_timeout, limited.collect()).await {
        Err(_) => Err(ApiError::Invalid(portcullis_core::openai::InvalidRequest {
            message: "request body was not received in time".into(),
            param: None,
        })),
        Ok(Ok(c)) => Ok(c.to_bytes()),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ApiError::BodyTooLarge(limit))
        }
        Ok(Err(_)) => Err(ApiError::Invalid(portcullis_core::openai::InvalidRequest {
            message: "request body could not be read".into(),
            param: None,
        })),
    }
}

fn facts(
    ctx: &RequestCtx,
    max_tokens: u64,
    prompt_tokens: u64,
    stream: bool,
    tools: Vec<String>,
    guard: GuardFacts,
) -> RequestFacts {
    let (hour, weekday) = utc_hour_weekday(ctx.ts_ms.div_euclid(1000));
    RequestFacts {
        max_tokens,
        prompt_tokens,
        stream,
        tools,
        client_ip: ctx.client.ip(),
        hour,
        weekday,
        guard,
    }
}

/// Checks the credentials a model requires.
fn check_required(model: &Model, principal: &Principal) -> Result<(), ApiError> {
    if model.require_mtls && principal.workload.is_none() {
        return Err(ApiError::CredentialRequired("mtls"));
    }
    if model.require_jwt && !matches!(principal.kind, PrincipalKind::User { .. }) {
        return Err(ApiError::CredentialRequired("jwt"));
    }
    Ok(())
}

fn resolve<'a>(st: &'a AppState, name: &str, action: Action) -> Result<&'a Model, ApiError> {
    let model = st
        .config
        .models
        .get(name)
        .ok_or_else(|| ApiError::ModelNotFound(name.to_string()))?;
    let serves = match action {
        Action::ChatCompletions => model.chat,
        Action::Embeddings => model.embeddings,
        Action::ModelsList => true,
    };
    if !serves {
        return Err(ApiError::WrongEndpoint(name.to_string()));
    }
    Ok(model)
}

/// Authorizes and reserves: the single decision point, over the resolved model.
fn decide(
    st: &AppState,
    ctx: &mut RequestCtx,
    principal: &Principal,
    model: &Model,
    facts: &RequestFacts,
) -> Result<(), ApiError> {
    check_required(model, principal)?;
    let engine = st.policy.load();
    ctx.policy_digest = Some(engine.digest);
    let verdict = engine.authorize(principal, ctx.action, &model.name, facts);
    match verdict {
        Verdict::Deny { policy } => return Err(ApiError::Denied { policy }),
        Verdict::Allow { policies } => ctx.policies = policies.join(","),
    }
    // After policy, so a caller without access learns nothing about the registry.
    if model.registry {
        match st.integrity.as_ref().and_then(|g| g.served(&model.name)) {
            // The record and the audit event name the exact version that served it.
            Some(version) => ctx.model = version,
            None => return Err(ApiError::ModelNotApproved(model.name.clone())),
        }
    }
    Ok(())
}

/// Reserves the request and its token estimate (`tokens`: prompt and every completion)
/// against every limit of the principal (after the policy decision, so a denied caller
/// spends nothing).
async fn reserve(
    st: &AppState,
    ctx: &mut RequestCtx,
    principal: &Principal,
    tokens: u64,
) -> Result<(), ApiError> {
    let held = st
        .limits
        .reserve(&st.charges(principal), tokens, unix_now(), || {
            st.metrics.limits_fallback.inc();
        })
        .await;
    if st.limits.is_shared() {
        st.metrics
            .limits_shared_up
            .set(i64::from(st.limits.redis_up()));
    }
    let held = held.map_err(|e| match e {
        LimitError::Exceeded(x) => ApiError::RateLimited(x),
        LimitError::Unavailable => ApiError::LimitsUnavailable,
    })?;
    ctx.reservation = Some(held);
    Ok(())
}

fn deadline(st: &AppState, upstream: &str) -> Instant {
    let total = st
        .upstreams
        .get(upstream)
        .map_or(Duration::from_secs(600), |u| u.config.total_timeout);
    Instant::now() + total
}

async fn chat_inner(
    st: &Arc<AppState>,
    ctx: &mut RequestCtx,
    req: Request,
) -> Result<Response, ApiError> {
    let peer = req.extensions().get::<PeerIdentity>().cloned();
    let posture = anomaly_admit(st, ctx, &req, None)?;
    let principal = authenticate(st, req.headers(), peer.as_ref()).await?;
    ctx.principal = Some(principal.clone());
    let posture = anomaly_admit(st, ctx, &req, Some(posture))?;
    let body = read_body(st, req).await?;
    if st.audit_on() {
        ctx.request_sha256 = Some(portcullis_audit::event::body_sha256(&body));
    }
    if st.audit_bodies() {
        ctx.request_body = Some(body.clone());
    }
    let limits = RequestLimits {
        max_tokens_cap: st.config.max_tokens_cap,
        max_messages: st.config.max_messages,
    };
    let mut chat = ChatRequest::parse(&body, limits).map_err(ApiError::Invalid)?;
    let model = resolve(st, &chat.model, ctx.action)?.clone();
    ctx.model = model.name.clone();
    ctx.upstream = model.upstream.clone();
    ctx.stream = chat.is_stream();
    ctx.prompt_estimate = estimate_bytes(chat.prompt_text_bytes()) + 3;
    // A request without a cap gets the model's: the upstream then writes no more per
    // completion than is reserved, streamed or not.
    let max_tokens = chat.cap_completion(model.default_max_tokens, model.max_tokens_field);
    if let Some((_, incident)) = &posture.step_up {
        if !chat.tool_names().is_empty() {
            return Err(ApiError::Contained {
                incident: incident.clone(),
                code: "tools_forbidden",
            });
        }
    }
    let (mut texts, tools) = chat.texts_mut_split();
    let guard = input_guards(st, ctx, &model, &posture, &mut texts, &tools);
    let f = facts(
        ctx,
        max_tokens,
        ctx.prompt_estimate,
        ctx.stream,
        chat.tool_names(),
        guard.as_ref().map(RequestGuard::facts).unwrap_or_default(),
    );
    decide(st, ctx, &principal, &model, &f)?;
    // The upstream writes (and bills) up to `max_tokens` for each of the `n` choices.
    let completions = max_tokens.saturating_mul(chat.choices());
    reserve(
        st,
        ctx,
        &principal,
        f.prompt_tokens.saturating_add(completions),
    )
    .await?;
    if let Some(k) = guard.as_ref().and_then(|g| g.verdict.blocked) {
        return Err(ApiError::InputBlocked(k.as_str()));
    }
    if let Some(c) = guard.as_ref().and_then(|g| g.canary.as_ref()) {
        chat.add_system_note(&c.system_note());
    }

    let upstream = st
        .upstreams
        .get(&model.upstream)
        .cloned()
        .ok_or(ApiError::UpstreamUnavailable)?;
    let deadline = deadline(st, &model.upstream);
    let t_up = Instant::now();
    ctx.pre_upstream = Some(t_up - ctx.started);

    if upstream.is_mock() {
        let created = unix_now();
        if ctx.stream {
            let events = mock::chat_stream_events(&chat, created);
            return Ok(stream::respond(
                st.clone(),
                ctx.take(),
                StreamSource::Events(events),
                deadline,
                t_up,
                guard,
            ));
        }
        let body = mock::chat_completion(&chat, created);
        return finish_full(st, ctx, Bytes::from(body), t_up, t_up, guard.as_ref()).await;
    }

    chat.model = model.upstream_model.clone();
    let out = serde_json::to_vec(&chat).map_err(|_| ApiError::Unavailable)?;
    let resp = upstream
        .post("/chat/completions", Bytes::from(out), deadline)
        .await?;
    if !resp.status.is_success() {
        let status = resp.status;
        let retry = resp.retry_after;
        if let Ok(b) = upstream.read_body(resp.body, deadline).await {
            // Only the error's identifiers: its message often quotes the prompt, which
            // may hold the personal data and secrets the guards keep out of logs.
            let (kind, code) = upstream_error_ids(&b);
            tracing::debug!(upstream = %upstream.config.name, status = status.as_u16(), bytes = b.len(), kind = %kind, code = %code, "upstream error");
        }
        return Err(status_error(status, retry));
    }
    if resp.is_sse {
        let taken = ctx.take();
        return Ok(stream::respond(
            st.clone(),
            taken,
            StreamSource::Upstream(resp.body),
            deadline,
            t_up,
            guard,
        ));
    }
    let body = upstream.read_body(resp.body, deadline).await?;
    finish_full(st, ctx, body, t_up, Instant::now(), guard.as_ref()).await
}

async fn embeddings_inner(
    st: &Arc<AppState>,
    ctx: &mut RequestCtx,
    req: Request,
) -> Result<Response, ApiError> {
    let peer = req.extensions().get::<PeerIdentity>().cloned();
    let posture = anomaly_admit(st, ctx, &req, None)?;
    let principal = authenticate(st, req.headers(), peer.as_ref()).await?;
    ctx.principal = Some(principal.clone());
    let posture = anomaly_admit(st, ctx, &req, Some(posture))?;
    let body = read_body(st, req).await?;
    if st.audit_on() {
        ctx.request_sha256 = Some(portcullis_audit::event::body_sha256(&body));
    }
    if st.audit_bodies() {
        ctx.request_body = Some(body.clone());
    }
    let mut emb = EmbeddingsRequest::parse(&body).map_err(ApiError::Invalid)?;
    let model = resolve(st, &emb.model, ctx.action)?.clone();
    ctx.model = model.name.clone();
    ctx.upstream = model.upstream.clone();
    ctx.prompt_estimate = emb.estimated_tokens();
    let mut texts = emb.texts_mut();
    // No tool definitions in an embeddings request.
    let guard = input_guards(st, ctx, &model, &posture, &mut texts, &[]);
    let f = facts(
        ctx,
        0,
        ctx.prompt_estimate,
        false,
        vec![],
        guard.as_ref().map(RequestGuard::facts).unwrap_or_default(),
    );
    decide(st, ctx, &principal, &model, &f)?;
    reserve(st, ctx, &principal, f.prompt_tokens).await?;
    if let Some(k) = guard.as_ref().and_then(|g| g.verdict.blocked) {
        return Err(ApiError::InputBlocked(k.as_str()));
    }

    let upstream = st
        .upstreams
        .get(&model.upstream)
        .cloned()
        .ok_or(ApiError::UpstreamUnavailable)?;
    let deadline = deadline(st, &model.upstream);
    let t_up = Instant::now();
    ctx.pre_upstream = Some(t_up - ctx.started);
    if upstream.is_mock() {
        let body = mock::embeddings(&emb);
        return finish_full(st, ctx, Bytes::from(body), t_up, t_up, None).await;
    }
    emb.model = model.upstream_model.clone();
    let out = serde_json::to_vec(&emb).map_err(|_| ApiError::Unavailable)?;
    let resp = upstream
        .post("/embeddings", Bytes::from(out), deadline)
        .await?;
    if !resp.status.is_success() {
        return Err(status_error(resp.status, resp.retry_after));
    }
    let body = upstream.read_body(resp.body, deadline).await?;
    finish_full(st, ctx, body, t_up, Instant::now(), None).await
}

/// Runs the model's input guards over the request's texts (rewriting them in place; `tools`
/// are the indexes of each tool definition's first text) and notes what they found on the
/// request.
fn input_guards(
    st: &AppState,
    ctx: &mut RequestCtx,
    model: &Model,
    posture: &crate::anomaly::Posture,
    texts: &mut [&mut String],
    tools: &[usize],
) -> Option<RequestGuard> {
    // A stepped-up principal is guarded with the stricter profile.
    let profile = posture
        .step_up
        .as_ref()
        .map_or(model.guards.as_str(), |(p, _)| p.as_str());
    let g = st.guards.load().as_ref()?.check(profile, texts, tools)?;
    ctx.injection_score = f32::from(g.facts().injection_score) / 1000.0;
    ctx.guard_in = g.verdict.counts.clone();
    ctx.guarded = true;
    Some(g)
}

/// Anomaly containment: before authentication (`posture` `None`) a quarantined client
/// address is refused; after it, a quarantined principal is refused (before
/// authorization), a throttled one may be, and a stepped-up one gets its posture.
fn anomaly_admit(
    st: &AppState,
    ctx: &mut RequestCtx,
    req: &Request,
    posture: Option<crate::anomaly::Posture>,
) -> Result<crate::anomaly::Posture, ApiError> {
    let Some(a) = &st.anomaly else {
        return Ok(Default::default());
    };
    match (posture, &ctx.principal) {
        (None, _) => {
            if let Some(ua) = req.headers().get(header::USER_AGENT) {
                ctx.user_agent = String::from_utf8_lossy(ua.as_bytes())
                    .chars()
                    .take(256)
                    .collect();
            }
            a.admit_ip(ctx).map(|()| Default::default())
        }
        (Some(_), Some(p)) => {
            let id = p.identity();
            a.admit(st, ctx, &id)
        }
        (Some(p), None) => Ok(p),
    }
}

/// Completes a non-streamed response: usage from the body (or the reservation when the
/// upstream reports none), then reconcile, metrics and the decision record.
/// `error.type` and `error.code` of an OpenAI-style error body, when they are short
/// identifiers (`-` otherwise): safe to log, unlike the message.
fn upstream_error_ids(body: &[u8]) -> (String, String) {
    let v = serde_json::from_slice::<serde_json::Value>(body).ok();
    let id = |key: &str| -> String {
        let f = v
            .as_ref()
            .and_then(|v| v.get("error"))
            .and_then(|e| e.get(key));
        let s = match f {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => return "-".into(),
        };
        let ident = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'));
        if ident {
            s
        } else {
            "-".into()
        }
    };
    (id("type"), id("code"))
}

async fn finish_full(
    st: &AppState,
    ctx: &mut RequestCtx,
    body: Bytes,
    t_up: Instant,
    t_done: Instant,
    guard: Option<&RequestGuard>,
) -> Result<Response, ApiError> {
    let usage = Usage::from_json(&body);
    let (prompt, completion) = match usage {
        Some(u) => (u.prompt_tokens, u.completion_tokens),
        None => {
            tracing::debug!(request_id = %ctx.request_id, "upstream reported no usage; charging the reservation");
            let reserved = ctx
                .reservation
                .as_ref()
                .map_or(ctx.prompt_estimate, Held::tokens);
            (
                ctx.prompt_estimate,
                reserved.saturating_sub(ctx.prompt_estimate),
            )
        }
    };
    st.metrics
        .upstream_latency
        .get_or_create(&crate::metrics::UpstreamLabels {
            upstream: ctx.upstream.clone(),
        })
        .observe((t_done - t_up).as_secs_f64());
    let body = match guard {
        None => body,
        Some(g) => match g.guard_json(&body, &mut ctx.guard_out) {
            Ok(b) => b,
            Err(refused) => {
                // The tokens were spent: charge them before the refusal is recorded.
                if let Some(r) = ctx.reservation.take() {
                    st.limits
                        .reconcile(r, prompt + completion, unix_now())
                        .await;
                }
                return Err(match refused {
                    JsonRefused::Blocked(k) => ApiError::OutputBlocked(k.as_str()),
                    JsonRefused::Unreadable => {
                        tracing::warn!(request_id = %ctx.request_id, upstream = %ctx.upstream, "upstream answer is not a chat completion the output guard can read; refusing it");
                        ApiError::UpstreamInvalid
                    }
                });
            }
        },
    };
    if st.audit_on() {
        ctx.response_sha256 = Some(portcullis_audit::event::body_sha256(&body));
    }
    if st.audit_bodies() {
        ctx.response_body = Some(body.clone());
    }
    st.finish_ok(ctx, 200, prompt, completion, None).await;
    let overhead = ctx.pre_upstream.unwrap_or_default() + t_done.elapsed();
    st.metrics.overhead.observe(overhead.as_secs_f64());
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::OK;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(r)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::upstream_error_ids;

    #[test]
    fn only_short_error_identifiers_are_logged() {
        let b = br#"{"error":{"message":"prompt 'my SSN is 078-05-1120' is too long","type":"invalid_request_error","code":"context_length_exceeded"}}"#;
        assert_eq!(
            upstream_error_ids(b),
            (
                "invalid_request_error".into(),
                "context_length_exceeded".into()
            )
        );
        // A code that is not an identifier (it could quote input) is not logged.
        let b = br#"{"error":{"type":"bad input: john@example.com","code":400}}"#;
        assert_eq!(upstream_error_ids(b), ("-".into(), "400".into()));
        assert_eq!(
            upstream_error_ids(b"not json: secret"),
            ("-".into(), "-".into())
        );
    }
}
