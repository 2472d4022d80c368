//! A stand-alone mock upstream (`portcullis mock-upstream`) serving the built-in mock
//! model over HTTP, for benchmarks and for trying a gateway against a "remote" model.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http::{header, StatusCode};
use portcullis_core::mock;
use portcullis_core::openai::{ChatRequest, EmbeddingsRequest, RequestLimits};

/// Mock behaviour.
#[derive(Debug, Clone, Copy, Default)]
pub struct MockOptions {
    /// Delay before answering.
    pub delay: Duration,
    /// Delay between stream events.
    pub chunk_delay: Duration,
}

const LIMITS: RequestLimits = RequestLimits {
    max_tokens_cap: u64::MAX,
    max_messages: usize::MAX,
};

/// The mock's router, with OpenAI paths under `/v1`.
pub fn router(opts: MockOptions) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/models", get(|| async { r#"{"object":"list","data":[{"id":"mock-model","object":"model","created":0,"owned_by":"mock"}]}"# }))
        .with_state(opts)
}

fn bad(msg: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({"error": {"message": msg, "type": "invalid_request_error"}}).to_string(),
    )
        .into_response()
}

async fn chat(State(opts): State<MockOptions>, body: Bytes) -> Response {
    if !opts.delay.is_zero() {
        tokio::time::sleep(opts.delay).await;
    }
    let req = match ChatRequest::parse(&body, LIMITS) {
        Ok(r) => r,
        Err(e) => return bad(e.message),
    };
    if req.is_stream() {
        let events = mock::chat_stream_events(&req, 0);
        let delay = opts.chunk_delay;
        let s = futures_util::stream::unfold(events.into_iter(), move |mut it| async move {
            let ev = it.next()?;
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Some((Ok::<_, std::convert::Infallible>(ev), it))
        });
        return (
            [(header::CONTENT_TYPE, "text/event-stream")],
            Body::from_stream(s),
        )
            .into_response();
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        mock::chat_completion(&req, 0),
    )
        .into_response()
}

async fn embeddings(State(opts): State<MockOptions>, body: Bytes) -> Response {
    if !opts.delay.is_zero() {
        tokio::time::sleep(opts.delay).await;
    }
    match EmbeddingsRequest::parse(&body) {
        Ok(r) => (
            [(header::CONTENT_TYPE, "application/json")],
            mock::embeddings(&r),
        )
            .into_response(),
        Err(e) => bad(e.message),
    }
}
