//! The admin listener: health, readiness and Prometheus metrics. It binds to loopback
//! by default and is never the data-plane port. Everything but `/healthz` needs the
//! admin token (`Authorization: Bearer <token>`, compared in constant time), unless the
//! config's `dangerous.admin_anonymous` says otherwise; with no token configured, only
//! `/healthz` answers.
//!
//! With the audit log on, it also serves (behind the same token): `GET /audit/checkpoint`
//! (the latest signed checkpoint), `POST /audit/checkpoint` (sign one now),
//! `GET /audit/proof/inclusion?index=N[&size=M]` or `?event_id=ID`,
//! `GET /audit/proof/consistency?old=A&new=B`, and
//! `GET /audit/query?principal=P&since=24h&decision=deny&limit=N` (JSON lines).
//! Change management (model registry, policy bundles): [`crate::admin_changes`].
//! Anomaly incidents (list, show, ack, release, resolve): [`crate::anomaly`].

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::{header, StatusCode};
use serde::Deserialize;

use crate::state::AppState;

/// The admin router.
pub fn router(state: Arc<AppState>) -> Router {
    let protected = Router::new()
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(
            "/audit/checkpoint",
            get(audit_checkpoint).post(audit_sign_checkpoint),
        )
        .route("/audit/proof/inclusion", get(audit_inclusion))
        .route("/audit/proof/consistency", get(audit_consistency))
        .route("/audit/query", get(audit_query))
        .merge(crate::admin_changes::routes())
        .merge(crate::anomaly::admin_routes())
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_admin,
        ));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(protected)
        .with_state(state)
}

async fn require_admin(
    State(st): State<Arc<AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if st.config.admin_anonymous {
        return next.run(req).await;
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let ok = match (&st.admin_token, presented) {
        (Some(want), Some(got)) => {
            use secrecy::ExposeSecret;
            use subtle::ConstantTimeEq;
            bool::from(want.expose_secret().as_bytes().ct_eq(got.trim().as_bytes()))
        }
        _ => false,
    };
    if ok {
        next.run(req).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                "Bearer realm=\"portcullis-admin\"",
            )],
            "admin credential required\n",
        )
            .into_response()
    }
}

async fn readyz(State(st): State<Arc<AppState>>) -> Response {
    if st.policy.load().is_empty() {
        return (StatusCode::SERVICE_UNAVAILABLE, "no policies loaded\n").into_response();
    }
    match st.store.ping() {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: store unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response()
        }
    }
}

async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        st.metrics.encode(),
    )
        .into_response()
}

fn audit_off() -> Response {
    (StatusCode::NOT_FOUND, "the audit log is off\n").into_response()
}

fn bad_request(msg: String) -> Response {
    (StatusCode::BAD_REQUEST, format!("{msg}\n")).into_response()
}

fn json_response(v: &serde_json::Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        format!("{v}\n"),
    )
        .into_response()
}

/// Runs a blocking store read off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(bad_request(e)),
        Err(_) => Err((StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()),
    }
}

async fn audit_checkpoint(State(st): State<Arc<AppState>>) -> Response {
    if !st.audit_on() {
        return audit_off();
    }
    let store = st.store.clone();
    match blocking(move || store.latest_audit_checkpoint().map_err(|e| e.to_string())).await {
        Ok(Some(c)) => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            c.note,
        )
            .into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, "no checkpoint signed yet\n").into_response(),
        Err(r) => r,
    }
}

async fn audit_sign_checkpoint(State(st): State<Arc<AppState>>) -> Response {
    if !st.audit_on() {
        return audit_off();
    }
    if let Err(e) = st.decisions.checkpoint().await {
        tracing::error!(error = %e, "on-demand audit checkpoint failed");
        return (StatusCode::INTERNAL_SERVER_ERROR, "checkpoint failed\n").into_response();
    }
    audit_checkpoint(State(st)).await
}

#[derive(Deserialize)]
struct InclusionParams {
    index: Option<u64>,
    event_id: Option<String>,
    size: Option<u64>,
}

async fn audit_inclusion(
    State(st): State<Arc<AppState>>,
    Query(q): Query<InclusionParams>,
) -> Response {
    let Some(audit) = st.audit.clone() else {
        return audit_off();
    };
    // A request answered a moment ago may still be on its way from the audit journal
    // into the store.
    st.decisions.flush().await;
    let store = st.store.clone();
    let r = blocking(move || {
        let index = match (q.index, q.event_id) {
            (Some(i), None) => i,
            (None, Some(id)) => {
                store
                    .audit_leaf_by_event(&id)
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("no event {id:?} in the log"))?
                    .index
            }
            _ => return Err("give exactly one of index, event_id".to_string()),
        };
        let tree = audit.tree.read();
        crate::audit::inclusion_json(&*store, &tree, index, q.size)
    })
    .await;
    match r {
        Ok(v) => json_response(&v),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct ConsistencyParams {
    old: u64,
    new: u64,
}

async fn audit_consistency(
    State(st): State<Arc<AppState>>,
    Query(q): Query<ConsistencyParams>,
) -> Response {
    let Some(audit) = st.audit.clone() else {
        return audit_off();
    };
    let store = st.store.clone();
    let r = blocking(move || {
        let tree = audit.tree.read();
        crate::audit::consistency_json(&*store, &tree, q.old, q.new)
    })
    .await;
    match r {
        Ok(v) => json_response(&v),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct QueryParams {
    principal: Option<String>,
    since: Option<String>,
    decision: Option<String>,
    limit: Option<usize>,
}

async fn audit_query(State(st): State<Arc<AppState>>, Query(q): Query<QueryParams>) -> Response {
    if !st.audit_on() {
        return audit_off();
    }
    let query = match crate::audit::build_query(
        q.principal,
        q.since.as_deref(),
        q.decision,
        q.limit.unwrap_or(1000),
    ) {
        Ok(q) => q,
        Err(e) => return bad_request(e),
    };
    st.decisions.flush().await;
    let store = st.store.clone();
    match blocking(move || crate::audit::query_lines(&*store, &query)).await {
        Ok(lines) => ([(header::CONTENT_TYPE, "application/x-ndjson")], lines).into_response(),
        Err(r) => r,
    }
}
