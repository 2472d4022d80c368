//! The built-in mock model.
//!
//! It answers chat and embedding requests deterministically, without a network, so the
//! quickstart works offline and tests and benchmarks have an upstream whose behaviour is
//! known. The same generator serves the in-process `mock` upstream kind and the
//! `portcullis mock-upstream` server used by the benchmarks.

use bytes::Bytes;
use serde_json::{json, Value};

use crate::openai::{ChatRequest, Content, EmbeddingInput, EmbeddingsRequest, Usage};
use crate::tokens::estimate_bytes;

/// The reply text for a chat request: a fixed sentence plus an echo of the last user
/// message (cut to 200 characters), capped by `max_tokens`.
pub fn reply_text(req: &ChatRequest) -> String {
    let last_user = req
        .messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .and_then(|m| match &m.content {
            Some(Content::Text(t)) => Some(t.clone()),
            Some(Content::Parts(p)) => p
                .iter()
                .find_map(|p| p.get("text").and_then(Value::as_str).map(str::to_owned)),
            None => None,
        })
        .unwrap_or_default();
    let echo: String = last_user.chars().take(200).collect();
    let mut words: Vec<&str> = "This is the Portcullis mock model. You said:"
        .split(' ')
        .collect();
    words.extend(echo.split_whitespace());
    let cap = req.requested_max_tokens().unwrap_or(u64::MAX) as usize;
    words.truncate(cap.max(1));
    words.join(" ")
}

fn usage_for(req: &ChatRequest, text: &str) -> Usage {
    let prompt = estimate_bytes(req.prompt_text_bytes());
    let completion = text.split(' ').count() as u64;
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
    }
}

/// A non-streamed chat completion body.
pub fn chat_completion(req: &ChatRequest, created: i64) -> Vec<u8> {
    let text = reply_text(req);
    let usage = usage_for(req, &text);
    let body = json!({
        "id": format!("chatcmpl-mock-{created}"),
        "object": "chat.completion",
        "created": created,
        "model": req.model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop"
        }],
        "usage": usage,
    });
    body.to_string().into_bytes()
}

/// The SSE events of a streamed chat completion, one word per event, ending with a usage
/// chunk (when `stream_options.include_usage` is set) and `data: [DONE]`.
pub fn chat_stream_events(req: &ChatRequest, created: i64) -> Vec<Bytes> {
    let text = reply_text(req);
    let usage = usage_for(req, &text);
    let id = format!("chatcmpl-mock-{created}");
    let chunk = |delta: Value, finish: Value| {
        let v = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": req.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
        });
        Bytes::from(format!("data: {v}\n\n"))
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    for (i, w) in text.split(' ').enumerate() {
        let piece = if i == 0 {
            w.to_string()
        } else {
            format!(" {w}")
        };
        events.push(chunk(json!({"content": piece}), Value::Null));
    }
    events.push(chunk(json!({}), json!("stop")));
    let include_usage = req
        .extra
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if include_usage {
        let v = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": req.model,
            "choices": [], "usage": usage
        });
        events.push(Bytes::from(format!("data: {v}\n\n")));
    }
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    events
}

/// An embeddings response: an 8-dimensional vector per input derived from its bytes.
pub fn embeddings(req: &EmbeddingsRequest) -> Vec<u8> {
    let inputs: Vec<Vec<u8>> = match &req.input {
        EmbeddingInput::Text(t) => vec![t.as_bytes().to_vec()],
        EmbeddingInput::Texts(v) => v.iter().map(|t| t.as_bytes().to_vec()).collect(),
        EmbeddingInput::Tokens(v) => vec![v.iter().flat_map(|t| t.to_le_bytes()).collect()],
        EmbeddingInput::TokenBatches(v) => v
            .iter()
            .map(|b| b.iter().flat_map(|t| t.to_le_bytes()).collect())
            .collect(),
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            let mut v = [0f32; 8];
            for (j, b) in bytes.iter().enumerate() {
                if let Some(slot) = v.get_mut(j % 8) {
                    *slot += f32::from(*b) / 255.0;
                }
            }
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
            let v: Vec<f32> = v.iter().map(|x| x / norm).collect();
            json!({"object": "embedding", "index": i, "embedding": v})
        })
        .collect();
    let tokens = req.estimated_tokens();
    json!({
        "object": "list",
        "data": data,
        "model": req.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}
    })
    .to_string()
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::RequestLimits;

    const L: RequestLimits = RequestLimits {
        max_tokens_cap: 100,
        max_messages: 10,
    };

    #[test]
    fn stream_and_non_stream_agree() {
        let req = ChatRequest::parse(
            br#"{"model":"m","messages":[{"role":"user","content":"hello there"}],"stream":true,"stream_options":{"include_usage":true}}"#,
            L,
        )
        .unwrap();
        let full: Value = serde_json::from_slice(&chat_completion(&req, 1)).unwrap();
        let text = full["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(text.ends_with("You said: hello there"));
        let mut streamed = String::new();
        let events = chat_stream_events(&req, 1);
        for e in &events {
            if let Some(d) = crate::sse::event_data(e) {
                if d == b"[DONE]" {
                    continue;
                }
                let v: Value = serde_json::from_slice(&d).unwrap();
                if let Some(c) = v["choices"][0]["delta"]["content"].as_str() {
                    streamed.push_str(c);
                }
            }
        }
        assert_eq!(streamed, text);
        let usage =
            Usage::from_json(&crate::sse::event_data(&events[events.len() - 2]).unwrap()).unwrap();
        assert_eq!(usage, Usage::from_json(&chat_completion(&req, 1)).unwrap());
    }
}
