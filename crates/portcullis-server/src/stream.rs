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

use std::collections::BTreeMap;

use portcullis_guard::action::ActionTable;
use portcullis_guard::guard::OutputScanner;
use portcullis_guard::pseudo::{Pseudonymizer, Restorer};
use portcullis_guard::stream::StreamGuard;
use portcullis_guard::FindingKind;
use serde_json::Value;

use crate::guards::RequestGuard;
use crate::state::{AppState, RequestCtx};

/// Longest streamed response whose bytes are kept for `[audit] store_bodies`.
const MAX_STORED_STREAM_BODY: usize = 8 * 1024 * 1024;

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

/// The output guard of one stream: per choice, the incremental guard then the
/// placeholder restorer, over `delta.content`. Events are rewritten only when guarded.
struct OutGuard<'a> {
    actions: &'a ActionTable,
    scanner: &'a OutputScanner,
    pseudo: &'a Pseudonymizer,
    choices: BTreeMap<u64, Choice<'a>>,
    /// `id`, `created`, `model` of the last chunk, for the closing chunk.
    meta: Option<(Value, Value, Value)>,
    counts: BTreeMap<FindingKind, u32>,
}

struct Choice<'a> {
    guard: StreamGuard<&'a OutputScanner>,
    restorer: Restorer<'a>,
    done: bool,
}

/// What to do with one event.
enum Guarded {
    /// Send these bytes.
    Send(Bytes),
    /// An output guard blocked: end the stream with this finding type.
    Blocked(FindingKind),
}

impl<'a> OutGuard<'a> {
    fn new(g: &'a RequestGuard, scanner: &'a OutputScanner) -> Self {
        Self {
            actions: &g.policy.output,
            scanner,
            pseudo: &g.pseudo,
            choices: BTreeMap::new(),
            meta: None,
            counts: BTreeMap::new(),
        }
    }

    fn choice(&mut self, index: u64) -> &mut Choice<'a> {
        let (scanner, actions, pseudo) = (self.scanner, self.actions, self.pseudo);
        self.choices.entry(index).or_insert_with(|| Choice {
            guard: StreamGuard::new(scanner, actions.clone()),
            restorer: pseudo.restorer(),
            done: false,
        })
    }

    /// Passes `text` through choice `index`'s guard and restorer; `finish` flushes it.
    fn text(&mut self, index: u64, text: &str, finish: bool) -> Result<String, FindingKind> {
        let c = self.choice(index);
        let mut step = c.guard.push(text);
        if finish && step.blocked.is_none() {
            let end = c.guard.finish();
            step.emit.push_str(&end.emit);
            step.findings.extend(end.findings);
            step.blocked = end.blocked;
            c.done = true;
        }
        let mut out = c.restorer.push(&step.emit);
        if finish {
            out.push_str(&c.restorer.finish());
        }
        for f in &step.findings {
            *self.counts.entry(f.kind).or_default() += 1;
        }
        match step.blocked {
            Some(b) => Err(b.kind),
            None => Ok(out),
        }
    }

    fn event(&mut self, ev: Bytes) -> Guarded {
        let Some(data) = event_data(&ev) else {
            // A comment or keep-alive: no model text in it.
            return Guarded::Send(ev);
        };
        if data == b"[DONE]" {
            return match self.close() {
                Ok(Some(last)) => {
                    let mut b = last.to_vec();
                    b.extend_from_slice(&ev);
                    Guarded::Send(Bytes::from(b))
                }
                Ok(None) => Guarded::Send(ev),
                Err(k) => Guarded::Blocked(k),
            };
        }
        let Ok(mut v) = serde_json::from_slice::<Value>(&data) else {
            // Text the guard cannot read must not reach the client unchecked.
            tracing::warn!("dropping an unparseable event from a guarded stream");
            return Guarded::Send(Bytes::new());
        };
        self.meta = Some((
            v.get("id").cloned().unwrap_or(Value::Null),
            v.get("created").cloned().unwrap_or(Value::Null),
            v.get("model").cloned().unwrap_or(Value::Null),
        ));
        if let Some(choices) = v.get_mut("choices").and_then(Value::as_array_mut) {
            for ch in choices {
                let index = ch.get("index").and_then(Value::as_u64).unwrap_or(0);
                let finish = ch.get("finish_reason").is_some_and(|f| !f.is_null());
                let text = ch
                    .get("delta")
                    .and_then(|d| d.get("content"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let out = match self.text(index, &text, finish) {
                    Ok(o) => o,
                    Err(k) => return Guarded::Blocked(k),
                };
                if let Some(delta) = ch.get_mut("delta").and_then(Value::as_object_mut) {
                    if delta.contains_key("content") || !out.is_empty() {
                        delta.insert("content".into(), Value::String(out));
                    }
                } else if !out.is_empty() {
                    ch["delta"] = serde_json::json!({ "content": out });
                }
            }
        }
        Guarded::Send(Bytes::from(format!("data: {v}\n\n")))
    }

    /// Flushes every open choice into one closing chunk (before `[DONE]` or at the end).
    fn close(&mut self) -> Result<Option<Bytes>, FindingKind> {
        let open: Vec<u64> = self
            .choices
            .iter()
            .filter(|(_, c)| !c.done)
            .map(|(i, _)| *i)
            .collect();
        let mut parts = Vec::new();
        for i in open {
            let out = self.text(i, "", true)?;
            if !out.is_empty() {
                parts.push(serde_json::json!({"index": i, "delta": {"content": out}, "finish_reason": null}));
            }
        }
        if parts.is_empty() {
            return Ok(None);
        }
        let (id, created, model) = self.meta.clone().unwrap_or_default();
        let v = serde_json::json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": parts});
        Ok(Some(Bytes::from(format!("data: {v}\n\n"))))
    }

    fn all_checked(&self) -> bool {
        self.choices.values().all(|c| c.guard.stats().all_checked())
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
    guard: Option<RequestGuard>,
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
        // With `[audit] store_bodies`, the bytes sent too, up to a cap: a longer stream's
        // body is not stored (its hash still is).
        let mut kept = st.audit_bodies().then(Vec::<u8>::new);
        let mut hash_sent = |b: &Bytes| {
            if let Some(h) = sent.as_mut() {
                sha2::Digest::update(h, b);
            }
            if let Some(k) = kept.as_mut() {
                if k.len() + b.len() <= MAX_STORED_STREAM_BODY {
                    k.extend_from_slice(b);
                } else {
                    kept = None;
                }
            }
        };
        let deadline = tokio::time::Instant::from_std(deadline);
        // The output guard borrows the request's guard state for the whole stream.
        let scanner = match guard.as_ref().map(RequestGuard::output_scanner) {
            Some(Err(e)) => {
                tracing::error!(request_id = %ctx.request_id, error = %e, "output guard unavailable; ending the stream");
                None
            }
            other => other.map(|r| r.ok()),
        };
        let fail_closed = guard.is_some() && !matches!(scanner, Some(Some(_)));
        let mut out_guard = match (&guard, &scanner) {
            (Some(g), Some(Some(sc))) => Some(OutGuard::new(g, sc)),
            _ => None,
        };
        if fail_closed {
            outcome = Some("output_guard_unavailable");
            let ev = error_event(
                "output_blocked",
                "The response could not be checked by the output guard.",
            );
            hash_sent(&ev);
            let _ = tx.send(Ok(ev)).await;
        }
        'pump: loop {
            if fail_closed {
                break;
            }
            let limit = deadline.min(tokio::time::Instant::now() + idle);
            let next = match tokio::time::timeout_at(limit, source.next()).await {
                Err(_) => Some(Err("timeout".to_string())),
                Ok(n) => n,
            };
            match next {
                None => {
                    let rest = framer.finish();
                    let mut out = Vec::new();
                    if !rest.is_empty() {
                        seen.event(&rest);
                        out.push(rest);
                    }
                    if let Some(og) = out_guard.as_mut() {
                        out = out
                            .into_iter()
                            .map(|ev| og.event(ev))
                            .map(|g| match g {
                                Guarded::Send(b) => Ok(b),
                                Guarded::Blocked(k) => Err(k),
                            })
                            .collect::<Result<Vec<_>, _>>()
                            .and_then(|mut v| {
                                v.extend(og.close()?);
                                Ok(v)
                            })
                            .unwrap_or_else(|k| {
                                outcome = Some("output_blocked");
                                vec![blocked_event(k)]
                            });
                    }
                    for ev in out {
                        hash_sent(&ev);
                        let _ = tx.send(Ok(ev)).await;
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
                            let ev = match out_guard.as_mut().map(|g| g.event(ev.clone())) {
                                None => ev,
                                Some(Guarded::Send(b)) if b.is_empty() => continue,
                                Some(Guarded::Send(b)) => b,
                                Some(Guarded::Blocked(k)) => {
                                    outcome = Some("output_blocked");
                                    let ev = blocked_event(k);
                                    hash_sent(&ev);
                                    let _ = tx.send(Ok(ev)).await;
                                    break 'pump;
                                }
                            };
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
        if let Some(og) = out_guard.take() {
            ctx.stream_checked = Some(og.all_checked());
            ctx.guard_out = og.counts;
        }
        ctx.response_sha256 = sent.map(|h| sha2::Digest::finalize(h).into());
        ctx.response_body = kept.map(Bytes::from);
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

fn blocked_event(k: FindingKind) -> Bytes {
    let v = serde_json::json!({"error": {"message": format!("The model's response was blocked by an output guard ({}).", k.as_str()), "type": "upstream_error", "code": "output_blocked", "param": null}});
    Bytes::from(format!("data: {v}\n\ndata: [DONE]\n\n"))
}

fn st_overhead(m: &crate::metrics::Metrics, d: Duration) {
    m.overhead.observe(d.as_secs_f64());
}
