//! The admin listener: health, readiness and Prometheus metrics. It binds to loopback
//! by default and is never the data-plane port. Everything but `/healthz` needs the
//! admin token (`Authorization: Bearer <token>`, compared in constant time), unless the
//! config's `dangerous.admin_anonymous` says otherwise; with no token configured, only
//! `/healthz` answers.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::{header, StatusCode};

use crate::state::AppState;

/// The admin router.
pub fn router(state: Arc<AppState>) -> Router {
    let protected = Router::new()
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
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
