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

use crate::guards::{FieldScanner, JsonOut, RequestGuard};
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
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCallDelta>>,
    #[serde(default)]
    function_call: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    arguments: Option<String>,
}

impl Delta {
    /// Bytes of model text in this delta (for the completion estimate without usage).
    fn text_bytes(&self) -> usize {
        let args = |f: &Option<FunctionDelta>| {
            f.as_ref()
                .and_then(|f| f.arguments.as_ref())
                .map_or(0, String::len)
        };
        self.content.as_ref().map_or(0, String::len)
            + self.refusal.as_ref().map_or(0, String::len)
            + self
                .tool_calls
                .iter()
                .flatten()
                .map(|t| args(&t.function))
                .sum::<usize>()
            + args(&self.function_call)
    }
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
                if let Some(d) = ch.delta {
                    self.content_bytes += d.text_bytes();
                }
            }
        }
    }
}

/// A guarded text field of a choice's delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Field {
    /// `delta.content`.
    Content,
    /// `delta.refusal`.
    Refusal,
    /// `delta.reasoning_content` (vLLM, DeepSeek).
    ReasoningContent,
    /// `delta.reasoning` (OpenRouter).
    Reasoning,
    /// `function.arguments` of the `delta.tool_calls[]` entry with this `index`.
    Tool(u64),
    /// The legacy `delta.function_call.arguments`.
    FunctionCall,
}

/// The output guard of one stream: per choice and per text field (content, refusal,
/// each tool call's arguments by its `index`, a legacy function call's arguments), the
/// incremental guard then the placeholder restorer. Arguments are guarded as JSON text
/// ([`FieldScanner::json`], [`JsonOut`]). Events are rewritten only when guarded.
struct OutGuard<'a> {
    actions: &'a ActionTable,
    scanner: &'a OutputScanner,
    pseudo: &'a Pseudonymizer,
    parts: BTreeMap<(u64, Field), Part<'a>>,
    /// `id`, `created`, `model` of the last chunk, for the closing chunk.
    meta: Option<(Value, Value, Value)>,
    counts: BTreeMap<FindingKind, u32>,
}

struct Part<'a> {
    guard: StreamGuard<FieldScanner<&'a OutputScanner>>,
    restorer: Restorer<'a>,
    /// For arguments: keeps redactions JSON values.
    json: Option<JsonOut>,
    done: bool,
}

/// What to do with one event.
enum Guarded {
    /// Send these bytes.
    Send(Bytes),
    /// An output guard blocked: end the stream with this finding type.
    Blocked(FindingKind),
}

/// Appends guarded `text` to `field` in a delta object (creating what is missing).
fn place(delta: &mut serde_json::Map<String, Value>, field: Field, text: String) {
    if text.is_empty() {
        return;
    }
    fn append(slot: &mut Value, text: String) {
        match slot {
            Value::String(s) => s.push_str(&text),
            other => *other = Value::String(text),
        }
    }
    match field {
        Field::Content => append(delta.entry("content").or_insert(Value::Null), text),
        Field::Refusal => append(delta.entry("refusal").or_insert(Value::Null), text),
        Field::ReasoningContent => append(
            delta.entry("reasoning_content").or_insert(Value::Null),
            text,
        ),
        Field::Reasoning => append(delta.entry("reasoning").or_insert(Value::Null), text),
        Field::FunctionCall => {
            let fc = delta
                .entry("function_call")
                .or_insert_with(|| serde_json::json!({}));
            if !fc.is_object() {
                *fc = serde_json::json!({});
            }
            append(&mut fc["arguments"], text);
        }
        Field::Tool(k) => {
            let calls = delta
                .entry("tool_calls")
                .or_insert_with(|| serde_json::json!([]));
            if !calls.is_array() {
                *calls = serde_json::json!([]);
            }
            let Some(arr) = calls.as_array_mut() else {
                return;
            };
            match arr
                .iter_mut()
                .find(|c| c.get("index").and_then(Value::as_u64) == Some(k))
            {
                Some(c) => {
                    if !c.get("function").is_some_and(Value::is_object) {
                        c["function"] = serde_json::json!({});
                    }
                    append(&mut c["function"]["arguments"], text);
                }
                None => arr.push(serde_json::json!({"index": k, "function": {"arguments": text}})),
            }
        }
    }
}

impl<'a> OutGuard<'a> {
    fn new(g: &'a RequestGuard, scanner: &'a OutputScanner) -> Self {
        Self {
            actions: &g.policy.output,
            scanner,
            pseudo: &g.pseudo,
            parts: BTreeMap::new(),
            meta: None,
            counts: BTreeMap::new(),
        }
    }

    fn part(&mut self, index: u64, field: Field) -> &mut Part<'a> {
        let (scanner, actions, pseudo) = (self.scanner, self.actions, self.pseudo);
        self.parts.entry((index, field)).or_insert_with(|| {
            let json = matches!(field, Field::Tool(_) | Field::FunctionCall);
            let sc = if json {
                FieldScanner::json(scanner)
            } else {
                FieldScanner::text(scanner)
            };
            Part {
                guard: StreamGuard::new(sc, actions.clone()),
                restorer: pseudo.restorer(),
                json: json.then(JsonOut::default),
                done: false,
            }
        })
    }

    /// Passes `text` through the guard and restorer of `field` of choice `index`;
    /// `finish` flushes it.
    fn text(
        &mut self,
        index: u64,
        field: Field,
        text: &str,
        finish: bool,
    ) -> Result<String, FindingKind> {
        let p = self.part(index, field);
        p.guard.scanner_mut().feed(text);
        let mut step = p.guard.push(text);
        if finish && step.blocked.is_none() {
            let end = p.guard.finish();
            step.emit.push_str(&end.emit);
            step.findings.extend(end.findings);
            step.blocked = end.blocked;
            p.done = true;
        }
        let emit = std::mem::take(&mut step.emit);
        let emit = match p.json.as_mut() {
            Some(j) => j.fix(emit),
            None => emit,
        };
        let mut out = p.restorer.push(&emit);
        if finish {
            out.push_str(&p.restorer.finish());
        }
        for f in &step.findings {
            *self.counts.entry(f.kind).or_default() += 1;
        }
        match step.blocked {
            Some(b) => Err(b.kind),
            None => Ok(out),
        }
    }

    /// Guards the fields of one choice's delta in place; `finish` flushes every field of
    /// the choice into this delta.
    fn choice(&mut self, ch: &mut Value) -> Result<(), FindingKind> {
        let index = ch.get("index").and_then(Value::as_u64).unwrap_or(0);
        let finish = ch.get("finish_reason").is_some_and(|f| !f.is_null());
        if let Some(c) = ch.as_object_mut() {
            // Model text outside the delta (a whole `message`, a legacy `text`) is not
            // guarded incrementally, and `logprobs` spell the unguarded tokens of the
            // delta's text: none of it may reach the client.
            for key in ["message", "text", "logprobs"] {
                if c.get(key).is_some_and(|v| !v.is_null()) {
                    c.remove(key);
                }
            }
        }
        if !ch.get("delta").is_some_and(Value::is_object) {
            ch["delta"] = serde_json::json!({});
        }
        let Some(delta) = ch.get_mut("delta").and_then(Value::as_object_mut) else {
            return Ok(());
        };
        let had_content = delta.contains_key("content");
        let text = delta
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let out = self.text(index, Field::Content, &text, finish)?;
        if had_content || !out.is_empty() {
            delta.insert("content".into(), Value::String(out));
        }
        for (field, key) in [
            (Field::Refusal, "refusal"),
            (Field::ReasoningContent, "reasoning_content"),
            (Field::Reasoning, "reasoning"),
        ] {
            if let Some(Value::String(r)) = delta.get_mut(key) {
                *r = self.text(index, field, r, false)?;
            }
        }
        // Text the guard cannot read (a field that is not a string) is dropped.
        unreadable(delta, &["refusal", "reasoning_content", "reasoning"]);
        if !delta.get("tool_calls").is_none_or(Value::is_array) {
            delta.remove("tool_calls");
        }
        if !delta.get("function_call").is_none_or(Value::is_object) {
            delta.remove("function_call");
        }
        if let Some(calls) = delta.get_mut("tool_calls").and_then(Value::as_array_mut) {
            for (pos, call) in calls.iter_mut().enumerate() {
                let k = call
                    .get("index")
                    .and_then(Value::as_u64)
                    .unwrap_or(pos as u64);
                if let Some(Value::String(a)) = call
                    .get_mut("function")
                    .and_then(|f| f.get_mut("arguments"))
                {
                    *a = self.text(index, Field::Tool(k), a, false)?;
                }
                if let Some(f) = call.get_mut("function").and_then(Value::as_object_mut) {
                    unreadable(f, &["arguments"]);
                }
            }
        }
        if let Some(Value::String(a)) = delta
            .get_mut("function_call")
            .and_then(|f| f.get_mut("arguments"))
        {
            *a = self.text(index, Field::FunctionCall, a, false)?;
        }
        if let Some(f) = delta
            .get_mut("function_call")
            .and_then(Value::as_object_mut)
        {
            unreadable(f, &["arguments"]);
        }
        if finish {
            let open: Vec<Field> = self
                .parts
                .range((index, Field::Refusal)..=(index, Field::FunctionCall))
                .filter(|(_, p)| !p.done)
                .map(|((_, f), _)| *f)
                .collect();
            for f in open {
                let out = self.text(index, f, "", true)?;
                place(delta, f, out);
            }
        }
        Ok(())
    }

    fn event(&mut self, ev: Bytes) -> Guarded {
        let Some(data) = event_data(&ev) else {
            if inert(&ev) {
                // A comment or keep-alive: no model text in it.
                return Guarded::Send(ev);
            }
            // Not SSE (e.g. a JSON body sent as `text/event-stream`): a client reading
            // the raw bytes would see unchecked model text.
            tracing::warn!("dropping a non-SSE event from a guarded stream");
            return Guarded::Send(Bytes::new());
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
        // Only the choices' deltas are guarded: an event that is not a chunk (a bare JSON
        // string, an object of another shape) could carry model text past the guard. An
        // upstream's error event passes.
        if !v.get("choices").is_some_and(Value::is_array) && v.get("error").is_none() {
            tracing::warn!("dropping an event without choices from a guarded stream");
            return Guarded::Send(Bytes::new());
        }
        self.meta = Some((
            v.get("id").cloned().unwrap_or(Value::Null),
            v.get("created").cloned().unwrap_or(Value::Null),
            v.get("model").cloned().unwrap_or(Value::Null),
        ));
        if let Some(choices) = v.get_mut("choices").and_then(Value::as_array_mut) {
            for ch in choices {
                if let Err(k) = self.choice(ch) {
                    return Guarded::Blocked(k);
                }
            }
        }
        Guarded::Send(Bytes::from(format!("data: {v}\n\n")))
    }

    /// Flushes every open field into one closing chunk (before `[DONE]` or at the end):
    /// one choice entry per choice, its held-back content, refusal and arguments in its
    /// delta.
    fn close(&mut self) -> Result<Option<Bytes>, FindingKind> {
        let open: Vec<(u64, Field)> = self
            .parts
            .iter()
            .filter(|(_, p)| !p.done)
            .map(|(k, _)| *k)
            .collect();
        let mut deltas: BTreeMap<u64, serde_json::Map<String, Value>> = BTreeMap::new();
        for (i, f) in open {
            let out = self.text(i, f, "", true)?;
            if !out.is_empty() {
                place(deltas.entry(i).or_default(), f, out);
            }
        }
        if deltas.is_empty() {
            return Ok(None);
        }
        let parts: Vec<Value> = deltas
            .into_iter()
            .map(|(i, d)| serde_json::json!({"index": i, "delta": d, "finish_reason": null}))
            .collect();
        let (id, created, model) = self.meta.clone().unwrap_or_default();
        let v = serde_json::json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": parts});
        Ok(Some(Bytes::from(format!("data: {v}\n\n"))))
    }

    /// Whether every chunk of every field was checked before its text was sent.
    fn all_checked(&self) -> bool {
        self.parts.values().all(|p| p.guard.stats().all_checked())
    }
}

/// Removes the `keys` of `obj` holding something other than a string or null: model
/// text the guard cannot read (an array of parts, an object) must not pass unchecked.
fn unreadable(obj: &mut serde_json::Map<String, Value>, keys: &[&str]) {
    for key in keys {
        if obj
            .get(*key)
            .is_some_and(|v| !v.is_string() && !v.is_null())
        {
            tracing::warn!(
                field = key,
                "dropping a non-string text field from a guarded stream"
            );
            obj.remove(*key);
        }
    }
}

/// Whether an event without data carries only comments and the `event`, `id` and
/// `retry` fields: nothing a client could take for model text.
fn inert(ev: &[u8]) -> bool {
    ev.split(|b| *b == b'\n').all(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        line.is_empty()
            || line.starts_with(b":")
            || [&b"event"[..], b"id", b"retry"].iter().any(|f| {
                line.strip_prefix(*f)
                    .is_some_and(|r| r.is_empty() || r.starts_with(b":"))
            })
    })
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::guards::tests::{request_guard, EMAIL, LEAKED};
    use serde_json::json;

    fn ev(delta: Value, finish: Option<&str>) -> Bytes {
        let v = json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        Bytes::from(format!("data: {v}\n\n"))
    }

    fn tool_start(k: u64, name: &str) -> Bytes {
        ev(
            json!({"tool_calls": [{"index": k, "id": format!("call_{k}"), "type": "function",
                "function": {"name": name, "arguments": ""}}]}),
            None,
        )
    }

    fn tool_args(k: u64, frag: &str) -> Bytes {
        ev(
            json!({"tool_calls": [{"index": k, "function": {"arguments": frag}}]}),
            None,
        )
    }

    /// Runs events through an output guard: the bytes sent, or the blocking type.
    fn run(g: &RequestGuard, events: Vec<Bytes>) -> (String, Option<FindingKind>, bool) {
        let sc = g.output_scanner().unwrap();
        let mut og = OutGuard::new(g, &sc);
        let mut out = String::new();
        let mut blocked = None;
        for e in events {
            match og.event(e) {
                Guarded::Send(b) => out.push_str(std::str::from_utf8(&b).unwrap()),
                Guarded::Blocked(k) => {
                    blocked = Some(k);
                    break;
                }
            }
        }
        if blocked.is_none() {
            match og.close() {
                Ok(Some(b)) => out.push_str(std::str::from_utf8(&b).unwrap()),
                Ok(None) => {}
                Err(k) => blocked = Some(k),
            }
        }
        (out, blocked, og.all_checked())
    }

    /// Content and each tool call's (id, name, arguments) as a client accumulates them.
    fn assemble(sse: &str) -> (String, BTreeMap<u64, (String, String, String)>) {
        let mut content = String::new();
        let mut calls: BTreeMap<u64, (String, String, String)> = BTreeMap::new();
        for line in sse.lines() {
            let Some(d) = line.strip_prefix("data: ") else {
                continue;
            };
            if d == "[DONE]" {
                continue;
            }
            let v: Value = serde_json::from_str(d).unwrap();
            for c in v["choices"].as_array().unwrap() {
                if let Some(t) = c["delta"]["content"].as_str() {
                    content.push_str(t);
                }
                for tc in c["delta"]["tool_calls"].as_array().into_iter().flatten() {
                    let e = calls.entry(tc["index"].as_u64().unwrap()).or_default();
                    if let Some(id) = tc["id"].as_str() {
                        e.0.push_str(id);
                    }
                    if let Some(n) = tc["function"]["name"].as_str() {
                        e.1.push_str(n);
                    }
                    if let Some(a) = tc["function"]["arguments"].as_str() {
                        e.2.push_str(a);
                    }
                }
            }
        }
        (content, calls)
    }

    /// `text` cut into `n`-byte fragments (ASCII).
    fn frags(text: &str, n: usize) -> Vec<&str> {
        text.as_bytes()
            .chunks(n)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect()
    }

    #[test]
    fn a_secret_split_across_argument_fragments_is_redacted() {
        let g = request_guard(false);
        let args = json!({"cmd": format!("deploy --key {LEAKED} --env prod")}).to_string();
        let mut events = vec![tool_start(0, "run")];
        events.extend(frags(&args, 3).into_iter().map(|f| tool_args(0, f)));
        events.push(ev(json!({}), Some("tool_calls")));
        events.push(Bytes::from_static(b"data: [DONE]\n\n"));
        let (out, blocked, checked) = run(&g, events);
        assert!(blocked.is_none() && checked);
        assert!(!out.contains(&LEAKED[..8]), "{out}");
        assert!(out.ends_with("data: [DONE]\n\n"));
        let (_, calls) = assemble(&out);
        let (id, name, a) = &calls[&0];
        assert_eq!((id.as_str(), name.as_str()), ("call_0", "run"));
        let parsed: Value = serde_json::from_str(a).unwrap();
        assert_eq!(parsed["cmd"], "deploy --key [REDACTED:SECRET] --env prod");
    }

    #[test]
    fn arguments_held_back_are_flushed_without_a_finish_reason() {
        let g = request_guard(false);
        let args = json!({"to": "[EMAIL_1]"}).to_string();
        let mut events = vec![tool_start(0, "send")];
        events.extend(frags(&args, 2).into_iter().map(|f| tool_args(0, f)));
        // The upstream just stops: close() flushes into a final chunk.
        let (out, blocked, checked) = run(&g, events);
        assert!(blocked.is_none() && checked);
        let (_, calls) = assemble(&out);
        let parsed: Value = serde_json::from_str(&calls[&0].2).unwrap();
        assert_eq!(parsed["to"], EMAIL);
    }

    #[test]
    fn a_blocking_finding_in_arguments_blocks_the_stream() {
        let g = request_guard(true);
        let args = json!({"key": LEAKED}).to_string();
        let mut events = vec![tool_start(0, "f")];
        events.extend(frags(&args, 4).into_iter().map(|f| tool_args(0, f)));
        events.push(ev(json!({}), Some("tool_calls")));
        let (out, blocked, checked) = run(&g, events);
        assert_eq!(blocked, Some(FindingKind::Secret));
        assert!(checked);
        assert!(!out.contains(&LEAKED[..8]), "{out}");
    }

    #[test]
    fn parallel_tool_calls_are_guarded_apart() {
        let g = request_guard(false);
        let a0 = json!({"to": "[EMAIL_1]", "body": format!("key {LEAKED}")}).to_string();
        let a1 = json!({"city": "Paris", "unit": "C"}).to_string();
        let (f0, f1) = (frags(&a0, 5), frags(&a1, 3));
        let mut events = vec![
            ev(json!({"role": "assistant", "content": null}), None),
            tool_start(0, "send"),
            tool_start(1, "weather"),
        ];
        for i in 0..f0.len().max(f1.len()) {
            if let Some(f) = f0.get(i) {
                events.push(tool_args(0, f));
            }
            if let Some(f) = f1.get(i) {
                events.push(tool_args(1, f));
            }
        }
        events.push(ev(json!({}), Some("tool_calls")));
        events.push(Bytes::from_static(b"data: [DONE]\n\n"));
        let (out, blocked, checked) = run(&g, events);
        assert!(blocked.is_none() && checked);
        let (_, calls) = assemble(&out);
        assert_eq!(calls.len(), 2);
        let p0: Value = serde_json::from_str(&calls[&0].2).unwrap();
        let p1: Value = serde_json::from_str(&calls[&1].2).unwrap();
        assert_eq!(p0, json!({"to": EMAIL, "body": "key [REDACTED:SECRET]"}));
        assert_eq!(p1, json!({"city": "Paris", "unit": "C"}));
        assert_eq!(calls[&1].1, "weather");
    }

    #[test]
    fn text_that_is_not_sse_is_not_passed_through() {
        let g = request_guard(false);
        let sc = g.output_scanner().unwrap();
        let mut og = OutGuard::new(&g, &sc);
        // A JSON body sent as `text/event-stream`: no `data:` line.
        let body = json!({"choices": [{"message": {"content": format!("key {LEAKED}")}}]});
        match og.event(Bytes::from(body.to_string())) {
            Guarded::Send(b) => assert!(b.is_empty()),
            Guarded::Blocked(_) => panic!("dropped, not blocked"),
        }
        // Comments and fields without data still pass.
        for ev in [
            &b": keep-alive\n\n"[..],
            b"event: ping\nid: 7\nretry: 100\n\n",
        ] {
            match og.event(Bytes::copy_from_slice(ev)) {
                Guarded::Send(b) => assert_eq!(&b[..], ev),
                Guarded::Blocked(_) => panic!(),
            }
        }
    }

    #[test]
    fn refusal_and_legacy_function_call_are_guarded() {
        let g = request_guard(false);
        let refusal = format!("I will not print {LEAKED}.");
        let args = json!({"to": "[EMAIL_1]"}).to_string();
        let mut events: Vec<Bytes> = frags(&refusal, 4)
            .into_iter()
            .map(|f| ev(json!({"refusal": f}), None))
            .collect();
        events.push(ev(
            json!({"function_call": {"name": "send", "arguments": ""}}),
            None,
        ));
        events.extend(
            frags(&args, 3)
                .into_iter()
                .map(|f| ev(json!({"function_call": {"arguments": f}}), None)),
        );
        events.push(ev(json!({}), Some("stop")));
        let (out, blocked, checked) = run(&g, events);
        assert!(blocked.is_none() && checked);
        assert!(!out.contains(&LEAKED[..8]), "{out}");
        let (mut r, mut a) = (String::new(), String::new());
        for line in out.lines().filter_map(|l| l.strip_prefix("data: ")) {
            let v: Value = serde_json::from_str(line).unwrap();
            let d = &v["choices"][0]["delta"];
            r.push_str(d["refusal"].as_str().unwrap_or(""));
            a.push_str(d["function_call"]["arguments"].as_str().unwrap_or(""));
        }
        assert_eq!(r, "I will not print [REDACTED:SECRET].");
        assert_eq!(serde_json::from_str::<Value>(&a).unwrap()["to"], EMAIL);
    }

    /// Per-chunk cost of the guarded event path, release build:
    /// `cargo test --release -p portcullis-server --lib per_chunk_cost -- --ignored --nocapture`
    #[test]
    #[ignore = "timing; run in release"]
    fn per_chunk_cost() {
        let g = request_guard(false);
        let sc = g.output_scanner().unwrap();
        // The ~4 KB text of the guard crate's stream bench shape: prose with PII/secrets.
        let mut text = String::new();
        while text.len() < 4096 {
            text.push_str(&format!(
                "The service handles the request for {EMAIL} and validates the input; \
                 the key {LEAKED} was rotated. Call +44 20 7946 0958 if it fails. "
            ));
        }
        let content: Vec<Bytes> = frags(&text, 22)
            .into_iter()
            .map(|f| ev(json!({"content": f}), None))
            .collect();
        let args = json!({"query": text}).to_string();
        let tools: Vec<Bytes> = frags(&args, 22)
            .into_iter()
            .map(|f| tool_args(0, f))
            .collect();
        let escaped = json!({"query": text.replace(". ", ".\n")}).to_string();
        let tools_esc: Vec<Bytes> = frags(&escaped, 22)
            .into_iter()
            .map(|f| tool_args(0, f))
            .collect();
        for (name, evs) in [
            ("content", &content),
            ("tool args", &tools),
            ("tool args with \\n escapes", &tools_esc),
        ] {
            let iters = 200;
            let t = std::time::Instant::now();
            let mut n = 0usize;
            for _ in 0..iters {
                let mut og = OutGuard::new(&g, &sc);
                for e in evs.iter() {
                    if let Guarded::Send(b) = og.event(e.clone()) {
                        n += b.len();
                    }
                }
                n += og.close().unwrap().map_or(0, |b| b.len());
            }
            let per = t.elapsed().as_secs_f64() * 1e6 / (iters * evs.len()) as f64;
            println!(
                "{name}: {} chunks of 22 bytes, {per:.2} us per chunk (out {n})",
                evs.len()
            );
        }
    }
}
