//! Streaming responses: server-sent events passed through event by event.
//!
//! A task reads the upstream body, frames it into whole events (holding back only an
//! incomplete tail), reads usage and content from each, and sends each event on to the
//! client as soon as it is complete. Because it always stands on an event boundary, a
//! failure mid-stream (reset, timeout, oversized event) ends the client's stream with a
//! well-formed SSE error event and `data: [DONE]`. If the client goes away, the task
//! stops reading, which closes the upstream request. Either way the request is
//! reconciled and recorded when the task ends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use portcullis_core::openai::Usage;
use portcullis_core::sse::{event_data, SseFramer};
use portcullis_core::tokens::estimate_bytes;
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::state::{AppState, RequestCtx};

/// Largest single event accepted from an upstream.
const MAX_EVENT: usize = 1024 * 1024;

/// Where the events come from.
pub enum StreamSource {
    /// An upstream's body.
    Upstream(Incoming),
    /// Events made in process (the mock model).
    Events(Vec<Bytes>),
}

impl StreamSource {
    async fn next(&mut self) -> Option<Result<Bytes, String>> {
        match self {
            StreamSource::Events(v) => {
                if v.is_empty() {
                    None
                } else {
                    Some(Ok(v.remove(0)))
                }
            }
            StreamSource::Upstream(body) => loop {
                match body.frame().await {
                    None => return None,
                    Some(Err(e)) => return Some(Err(e.to_string())),
                    Some(Ok(f)) => {
                        if let Ok(data) = f.into_data() {
                            return Some(Ok(data));
                        }
                        // Trailers: nothing to forward.
                    }
                }
            },
        }
    }
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Option<Delta>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
}

/// What the pump saw in the events.
#[derive(Default)]
struct Observed {
    usage: Option<Usage>,
    content_bytes: usize,
}

impl Observed {
    fn event(&mut self, ev: &[u8]) {
        let Some(data) = event_data(ev) else { return };
        if data == b"[DONE]" {
            return;
        }
        if let Ok(c) = serde_json::from_slice::<Chunk>(&data) {
            if let Some(u) = c.usage {
                self.usage = Some(u);
            }
            for ch in c.choices {
                if let Some(t) = ch.delta.and_then(|d| d.content) {
                    self.content_bytes += t.len();
                }
            }
        }
    }
}

fn error_event(code: &str, message: &str) -> Bytes {
    let v = serde_json::json!({"error": {"message": message, "type": "upstream_error", "code": code, "param": null}});
    Bytes::from(format!("data: {v}\n\ndata: [DONE]\n\n"))
}

/// Starts the pump and returns the client's streaming response.
pub fn respond(
    st: Arc<AppState>,
    mut ctx: RequestCtx,
    mut source: StreamSource,
    deadline: Instant,
    t_up: Instant,
) -> Response {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(32);
    let idle = st
        .upstreams
        .get(&ctx.upstream)
        .map_or(Duration::from_secs(120), |u| u.config.first_byte_timeout);
    let t_head = Instant::now();
    let st_metrics = st.metrics.clone();
    let ctx_pre = ctx.pre_upstream.unwrap_or_default();
    tokio::spawn(async move {
        st.metrics.active_streams.inc();
        let mut framer = SseFramer::new(MAX_EVENT);
        let mut seen = Observed::default();
        let mut outcome: Option<&'static str> = None;
        // SHA-256 of every byte sent to the client, for the audit log.
        let mut sent = st.audit_on().then(<sha2::Sha256 as sha2::Digest>::new);
        let mut hash_sent = |b: &Bytes| {
            if let Some(h) = sent.as_mut() {
                sha2::Digest::update(h, b);
            }
        };
        let deadline = tokio::time::Instant::from_std(deadline);
        'pump: loop {
            let limit = deadline.min(tokio::time::Instant::now() + idle);
            let next = match tokio::time::timeout_at(limit, source.next()).await {
                Err(_) => Some(Err("timeout".to_string())),
                Ok(n) => n,
            };
            match next {
                None => {
                    let rest = framer.finish();
                    if !rest.is_empty() {
                        seen.event(&rest);
                        hash_sent(&rest);
                        let _ = tx.send(Ok(rest)).await;
                    }
                    break;
                }
                Some(Err(e)) => {
                    let (code, msg) = if e == "timeout" {
                        (
                            "upstream_timeout",
                            "The model provider stopped sending in time.",
                        )
                    } else {
                        (
                            "upstream_stream_error",
                            "The model provider's stream was interrupted.",
                        )
                    };
                    tracing::warn!(request_id = %ctx.request_id, upstream = %ctx.upstream, error = %e, "upstream stream failed");
                    outcome = Some(code);
                    let ev = error_event(code, msg);
                    hash_sent(&ev);
                    let _ = tx.send(Ok(ev)).await;
                    break;
                }
                Some(Ok(chunk)) => match framer.push(&chunk) {
                    Err(_) => {
                        outcome = Some("upstream_event_too_large");
                        let ev = error_event(
                            "upstream_invalid_response",
                            "The model provider sent an oversized event.",
                        );
                        hash_sent(&ev);
                        let _ = tx.send(Ok(ev)).await;
                        break;
                    }
                    Ok(events) => {
                        for ev in events {
                            seen.event(&ev);
                            hash_sent(&ev);
                            if tx.send(Ok(ev)).await.is_err() {
                                outcome = Some("client_disconnected");
                                break 'pump;
                            }
                        }
                    }
                },
            }
        }
        drop(source);
        ctx.response_sha256 = sent.map(|h| sha2::Digest::finalize(h).into());
        let (prompt, completion) = match seen.usage {
            Some(u) => (u.prompt_tokens, u.completion_tokens),
            None => (ctx.prompt_estimate, estimate_bytes(seen.content_bytes)),
        };
        st.metrics
            .upstream_latency
            .get_or_create(&crate::metrics::UpstreamLabels {
                upstream: ctx.upstream.clone(),
            })
            .observe(t_up.elapsed().as_secs_f64());
        st.finish_ok(&mut ctx, 200, prompt, completion, outcome)
            .await;
        st.metrics.active_streams.dec();
    });
    // The gateway's own time on a stream: before the upstream call, and from the
    // upstream's response head to ours.
    st_overhead(&st_metrics, ctx_pre + t_head.elapsed());
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

fn st_overhead(m: &crate::metrics::Metrics, d: Duration) {
    m.overhead.observe(d.as_secs_f64());
}
