//! OpenAI-compatible request bodies: typed parsing, validation, and the error shape.
//!
//! The fields the gateway decides on (`model`, `messages`, `max_tokens`, `stream`,
//! `tools`, `input`) are typed; every other field is kept as JSON and passed through to
//! the upstream unchanged, so new OpenAI parameters work without a gateway release.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The JSON error body every API error uses: `{"error": {...}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// OpenAI's error object, plus `policy_id` on policy denials.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorDetail {
    /// Human-readable, safe to show.
    pub message: String,
    /// Error class, e.g. `invalid_request_error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The offending parameter, if any.
    pub param: Option<String>,
    /// Machine-readable code.
    pub code: Option<String>,
    /// The deciding policy of a denial.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub policy_id: Option<String>,
    /// The incident of an anomaly containment (quarantine, throttle, step-up).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub incident_id: Option<String>,
}

/// A request body that failed parsing or validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidRequest {
    /// What is wrong.
    pub message: String,
    /// The JSON path of the offending field.
    pub param: Option<String>,
}

impl InvalidRequest {
    fn new(message: impl Into<String>, param: impl Into<Option<String>>) -> Self {
        Self {
            message: message.into(),
            param: param.into(),
        }
    }
}

/// Message content: a string or a list of parts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Parts (text, images, ...). Text parts count toward the prompt estimate.
    Parts(Vec<Map<String, Value>>),
}

/// One chat message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Message {
    /// `system`, `developer`, `user`, `assistant`, `tool` or `function`.
    pub role: String,
    /// The content; may be null for an assistant message with tool calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    /// Everything else (`name`, `tool_calls`, `tool_call_id`, ...), passed through.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A tool offered to the model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tool {
    /// `function`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function, when `type` is `function`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<ToolFunction>,
    /// Passed through.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A function tool.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ToolFunction {
    /// The name policy sees in `context.tools`.
    pub name: String,
    /// Passed through.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `POST /v1/chat/completions`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChatRequest {
    /// The public model name; rewritten to the upstream's before forwarding.
    pub model: String,
    /// The conversation.
    pub messages: Vec<Message>,
    /// Stream the answer as server-sent events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Completion token cap (legacy name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Completion token cap (current name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u64>,
    /// Tools offered to the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// Everything else, passed through.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Embedding input.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum EmbeddingInput {
    /// One string.
    Text(String),
    /// Many strings.
    Texts(Vec<String>),
    /// One token array.
    Tokens(Vec<u32>),
    /// Many token arrays.
    TokenBatches(Vec<Vec<u32>>),
}

/// `POST /v1/embeddings`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EmbeddingsRequest {
    /// The public model name.
    pub model: String,
    /// What to embed.
    pub input: EmbeddingInput,
    /// Passed through.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Limits applied to request bodies.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// Largest `max_tokens` accepted.
    pub max_tokens_cap: u64,
    /// Most messages accepted.
    pub max_messages: usize,
}

/// The field that carries the completion cap the gateway adds to a request that has
/// none. OpenAI's reasoning models refuse `max_tokens`; every current OpenAI chat model
/// takes `max_completion_tokens`, but some other OpenAI-compatible servers know only
/// `max_tokens`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CapField {
    /// `max_completion_tokens` (the default).
    #[default]
    MaxCompletionTokens,
    /// `max_tokens`.
    MaxTokens,
}

impl CapField {
    /// Parses the configuration's name of the field.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "max_completion_tokens" => Some(Self::MaxCompletionTokens),
            "max_tokens" => Some(Self::MaxTokens),
            _ => None,
        }
    }
}

/// Most completions (`n`) one request may ask for (OpenAI's own limit).
pub const MAX_CHOICES: u64 = 128;

const ROLES: &[&str] = &[
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, InvalidRequest> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(InvalidRequest::new(
            "request body is empty; expected a JSON object",
            None,
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = if inner.is_syntax() || inner.is_eof() {
            format!("malformed JSON: {inner}")
        } else if path == "." {
            format!("invalid request body: {inner}")
        } else {
            format!("invalid value at `{path}`: {inner}")
        };
        InvalidRequest::new(message, (path != ".").then_some(path))
    })
}

fn check_model(model: &str) -> Result<(), InvalidRequest> {
    if model.is_empty() {
        return Err(InvalidRequest::new(
            "`model` must not be empty",
            Some("model".into()),
        ));
    }
    if model.len() > 256 {
        return Err(InvalidRequest::new(
            "`model` is too long",
            Some("model".into()),
        ));
    }
    Ok(())
}

impl ChatRequest {
    /// Parses and validates a body.
    pub fn parse(body: &[u8], limits: RequestLimits) -> Result<Self, InvalidRequest> {
        let req: Self = parse(body)?;
        check_model(&req.model)?;
        if req.messages.is_empty() {
            return Err(InvalidRequest::new(
                "`messages` must contain at least one message",
                Some("messages".into()),
            ));
        }
        if req.messages.len() > limits.max_messages {
            return Err(InvalidRequest::new(
                format!("`messages` has more than {} messages", limits.max_messages),
                Some("messages".into()),
            ));
        }
        for (i, m) in req.messages.iter().enumerate() {
            if !ROLES.contains(&m.role.as_str()) {
                return Err(InvalidRequest::new(
                    format!("unknown role `{}`", truncate(&m.role, 32)),
                    Some(format!("messages[{i}].role")),
                ));
            }
            if m.content.is_none() && m.role != "assistant" {
                return Err(InvalidRequest::new(
                    "message content is required",
                    Some(format!("messages[{i}].content")),
                ));
            }
        }
        for (name, v) in [
            ("max_tokens", req.max_tokens),
            ("max_completion_tokens", req.max_completion_tokens),
        ] {
            if let Some(v) = v {
                if v == 0 || v > limits.max_tokens_cap {
                    return Err(InvalidRequest::new(
                        format!("`{name}` must be between 1 and {}", limits.max_tokens_cap),
                        Some(name.into()),
                    ));
                }
            }
        }
        // `n` multiplies the completion tokens the upstream produces and bills, so it is
        // part of the reservation: it must be a number the gateway reads the same way.
        match req.extra.get("n") {
            None | Some(Value::Null) => {}
            Some(n) if n.as_u64().is_some_and(|n| (1..=MAX_CHOICES).contains(&n)) => {}
            Some(_) => {
                return Err(InvalidRequest::new(
                    format!("`n` must be an integer between 1 and {MAX_CHOICES}"),
                    Some("n".into()),
                ))
            }
        }
        if let Some(tools) = &req.tools {
            for (i, t) in tools.iter().enumerate() {
                if t.kind == "function" && t.function.is_none() {
                    return Err(InvalidRequest::new(
                        "a function tool needs `function`",
                        Some(format!("tools[{i}].function")),
                    ));
                }
            }
        }
        Ok(req)
    }

    /// Whether the caller asked for a stream.
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// How many completions the caller asked for (`n`, 1 when absent; validated by
    /// [`ChatRequest::parse`]).
    pub fn choices(&self) -> u64 {
        self.extra
            .get("n")
            .and_then(Value::as_u64)
            .unwrap_or(1)
            .clamp(1, MAX_CHOICES)
    }

    /// The completion cap the caller asked for, if any: with both fields, the larger, as
    /// an upstream may honour either.
    pub fn requested_max_tokens(&self) -> Option<u64> {
        match (self.max_tokens, self.max_completion_tokens) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// The completion cap in force: the caller's own (its field left as it chose), or,
    /// when it gave none, `default` written into `field`, so the upstream cannot write
    /// more per completion than the gateway reserves.
    pub fn cap_completion(&mut self, default: u64, field: CapField) -> u64 {
        if let Some(m) = self.requested_max_tokens() {
            return m;
        }
        match field {
            CapField::MaxCompletionTokens => self.max_completion_tokens = Some(default),
            CapField::MaxTokens => self.max_tokens = Some(default),
        }
        default
    }

    /// Names of the function tools offered.
    pub fn tool_names(&self) -> Vec<String> {
        self.tools
            .iter()
            .flatten()
            .filter_map(|t| t.function.as_ref().map(|f| f.name.clone()))
            .collect()
    }

    /// Every text of the request the input guards read, mutable so they can rewrite it:
    /// each message's content (a string, or the `text` of each part), the arguments of
    /// tool calls and legacy function calls in the assistant history (model-visible text
    /// too), then the tool definitions offered: of each function tool in `tools` (and
    /// each entry of the legacy `functions`), its `description` and every string under a
    /// `description` key anywhere in its `parameters` schema; of each custom tool, its
    /// `custom.description`. A tool description is
    /// instructions the model reads, so it is an injection vector of its own ("tool
    /// poisoning"). Names, property keys, `enum` values and other schema keywords are not
    /// returned: they are identifiers policy and the caller's code rely on, and rewriting
    /// them would break the tool. Messages come first, so the tools do not change how a
    /// message's placeholders are numbered.
    pub fn texts_mut(&mut self) -> Vec<&mut String> {
        self.texts_mut_split().0
    }

    /// [`ChatRequest::texts_mut`] and the index of each tool's first definition text, in
    /// order (the texts before the first are the messages'; a tool's texts, its
    /// description and then its parameters' descriptions, run to the next tool's first):
    /// the input guards weigh messages and definitions differently, and read each tool's
    /// texts together.
    pub fn texts_mut_split(&mut self) -> (Vec<&mut String>, Vec<usize>) {
        let mut out = Vec::new();
        for m in &mut self.messages {
            match &mut m.content {
                Some(Content::Text(t)) => out.push(t),
                Some(Content::Parts(parts)) => {
                    for p in parts {
                        if let Some(Value::String(t)) = p.get_mut("text") {
                            out.push(t);
                        }
                    }
                }
                None => {}
            }
            for (key, v) in m.extra.iter_mut() {
                match (key.as_str(), v) {
                    ("tool_calls", Value::Array(calls)) => {
                        for c in calls {
                            if let Some(Value::String(a)) =
                                c.get_mut("function").and_then(|f| f.get_mut("arguments"))
                            {
                                out.push(a);
                            }
                        }
                    }
                    // The legacy form of the same thing.
                    ("function_call", f) => {
                        if let Some(Value::String(a)) = f.get_mut("arguments") {
                            out.push(a);
                        }
                    }
                    _ => {}
                }
            }
        }
        let mut tool_starts = Vec::new();
        // Function tools, and custom tools (`{"type": "custom", "custom": {"name",
        // "description", "format"}}`): their descriptions are model-visible alike.
        let tools = self.tools.iter_mut().flatten().filter_map(|t| {
            match (t.function.as_mut(), t.kind.as_str()) {
                (Some(f), _) => Some(&mut f.extra),
                (None, "custom") => t.extra.get_mut("custom").and_then(Value::as_object_mut),
                _ => None,
            }
        });
        // The legacy form: `functions` holds the function objects themselves.
        let functions = match self.extra.get_mut("functions") {
            Some(Value::Array(fs)) => fs.iter_mut().filter_map(Value::as_object_mut).collect(),
            _ => Vec::new(),
        };
        for f in tools.chain(functions) {
            tool_starts.push(out.len());
            for (key, v) in f.iter_mut() {
                match (key.as_str(), v) {
                    ("description", Value::String(d)) => out.push(d),
                    ("parameters", schema) => schema_descriptions(schema, &mut out),
                    _ => {}
                }
            }
        }
        (out, tool_starts)
    }

    /// Appends `note` to the first system (or developer) message, or adds a system
    /// message in front when there is none (used for the output canary).
    pub fn add_system_note(&mut self, note: &str) {
        let sys = self
            .messages
            .iter_mut()
            .find(|m| m.role == "system" || m.role == "developer");
        match sys {
            Some(Message {
                content: Some(Content::Text(t)),
                ..
            }) => {
                t.push_str("\n\n");
                t.push_str(note);
            }
            _ => self.messages.insert(
                0,
                Message {
                    role: "system".into(),
                    content: Some(Content::Text(note.to_string())),
                    extra: Map::new(),
                },
            ),
        }
    }

    /// Bytes of text in the prompt (message contents and tool definitions), for the
    /// token estimate.
    pub fn prompt_text_bytes(&self) -> usize {
        let mut n = 0;
        for m in &self.messages {
            n += 8; // role and framing
            match &m.content {
                Some(Content::Text(t)) => n += t.len(),
                Some(Content::Parts(parts)) => {
                    for p in parts {
                        if let Some(Value::String(t)) = p.get("text") {
                            n += t.len();
                        } else {
                            // Images and audio: a flat charge, upstreams bill them separately.
                            n += 1024;
                        }
                    }
                }
                None => {}
            }
            if !m.extra.is_empty() {
                n += Value::Object(m.extra.clone()).to_string().len();
            }
        }
        if let Some(tools) = &self.tools {
            n += serde_json::to_string(tools).map_or(0, |s| s.len());
        }
        n
    }
}

/// Pushes every string under a `description` key anywhere in `schema` (a tool's JSON
/// Schema: the root, `properties`, `items`, `anyOf`, `$defs`, ... at any depth). An explicit
/// stack, not recursion: a hostile, deeply nested schema can neither overflow the stack
/// nor hide a description below a depth cap. The work is linear in the schema's size,
/// which the body limit bounds.
fn schema_descriptions<'a>(schema: &'a mut Value, out: &mut Vec<&'a mut String>) {
    let mut stack = vec![schema];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    match (key.as_str(), child) {
                        ("description", Value::String(d)) => out.push(d),
                        (_, c @ (Value::Object(_) | Value::Array(_))) => stack.push(c),
                        _ => {}
                    }
                }
            }
            Value::Array(items) => stack.extend(
                items
                    .iter_mut()
                    .filter(|c| matches!(c, Value::Object(_) | Value::Array(_))),
            ),
            _ => {}
        }
    }
}

impl EmbeddingsRequest {
    /// Parses and validates a body.
    pub fn parse(body: &[u8]) -> Result<Self, InvalidRequest> {
        let req: Self = parse(body)?;
        check_model(&req.model)?;
        let empty = match &req.input {
            EmbeddingInput::Text(t) => t.is_empty(),
            EmbeddingInput::Texts(v) => v.is_empty() || v.iter().any(String::is_empty),
            EmbeddingInput::Tokens(v) => v.is_empty(),
            EmbeddingInput::TokenBatches(v) => v.is_empty() || v.iter().any(Vec::is_empty),
        };
        if empty {
            return Err(InvalidRequest::new(
                "`input` must not be empty",
                Some("input".into()),
            ));
        }
        Ok(req)
    }

    /// The input strings, mutable for the input guards (token arrays carry no text).
    pub fn texts_mut(&mut self) -> Vec<&mut String> {
        match &mut self.input {
            EmbeddingInput::Text(t) => vec![t],
            EmbeddingInput::Texts(v) => v.iter_mut().collect(),
            EmbeddingInput::Tokens(_) | EmbeddingInput::TokenBatches(_) => Vec::new(),
        }
    }

    /// Estimated input tokens.
    pub fn estimated_tokens(&self) -> u64 {
        match &self.input {
            EmbeddingInput::Text(t) => crate::tokens::estimate_bytes(t.len()),
            EmbeddingInput::Texts(v) => v
                .iter()
                .map(|t| crate::tokens::estimate_bytes(t.len()))
                .sum(),
            EmbeddingInput::Tokens(v) => v.len() as u64,
            EmbeddingInput::TokenBatches(v) => v.iter().map(|b| b.len() as u64).sum(),
        }
    }
}

/// Token usage as upstreams report it.
///
/// Each count is capped at [`MAX_REPORTED_TOKENS`] when read: the numbers come from the
/// upstream, and the gateway adds them up (budgets, records, anomaly features), which
/// must neither overflow nor wrap to a small charge.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens.
    #[serde(default, deserialize_with = "capped")]
    pub prompt_tokens: u64,
    /// Completion tokens (absent for embeddings).
    #[serde(default, deserialize_with = "capped")]
    pub completion_tokens: u64,
    /// Total.
    #[serde(default, deserialize_with = "capped")]
    pub total_tokens: u64,
}

/// Largest token count taken from an upstream's `usage` (2^48, far above any real
/// response): sums of a few such counts stay within `u64` and `i64`.
pub const MAX_REPORTED_TOKENS: u64 = 1 << 48;

fn capped<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    u64::deserialize(d).map(|n| n.min(MAX_REPORTED_TOKENS))
}

impl Usage {
    /// Reads `usage` from a response body or a stream chunk, if present.
    pub fn from_json(body: &[u8]) -> Option<Usage> {
        #[derive(Deserialize)]
        struct WithUsage {
            usage: Option<Usage>,
        }
        let w: WithUsage = serde_json::from_slice(body).ok()?;
        let mut u = w.usage?;
        if u.total_tokens == 0 {
            u.total_tokens = u.prompt_tokens + u.completion_tokens;
        }
        Some(u)
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: RequestLimits = RequestLimits {
        max_tokens_cap: 1000,
        max_messages: 4,
    };

    #[test]
    fn parses_and_keeps_unknown_fields() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"hi","name":"x"}],"temperature":0.2,"stream":true}"#;
        let r = ChatRequest::parse(body, L).unwrap();
        assert!(r.is_stream());
        assert_eq!(r.extra["temperature"], 0.2);
        let out = serde_json::to_value(&r).unwrap();
        assert_eq!(out["messages"][0]["name"], "x");
        assert_eq!(out["temperature"], 0.2);
    }

    #[test]
    fn clear_errors() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "empty"),
            (b"{", "malformed JSON"),
            (br#"{"model":"m","messages":[]}"#, "at least one"),
            (br#"{"model":"m","messages":"hi"}"#, "messages"),
            (br#"{"model":"m","messages":[{"role":"user","content":5}]}"#, "messages[0].content"),
            (br#"{"model":"m","messages":[{"role":"wizard","content":"x"}]}"#, "unknown role"),
            (br#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":99999999}"#, "max_tokens"),
            (br#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":-1}"#, "max_tokens"),
            (br#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0}"#, "max_tokens"),
            (br#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":2.5}"#, "max_tokens"),
            (br#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":"64"}"#, "max_tokens"),
            (br#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_completion_tokens":0}"#, "max_completion_tokens"),
            (br#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_completion_tokens":1001}"#, "max_completion_tokens"),
            (br#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_completion_tokens":-5}"#, "max_completion_tokens"),
            (br#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_completion_tokens":true}"#, "max_completion_tokens"),
            (br#"{"messages":[{"role":"user","content":"x"}]}"#, "model"),
            (br#"[1,2]"#, "invalid"),
            (br#"{"model":"m","messages":[{"role":"user","content":"x"}],"n":0}"#, "`n`"),
            (br#"{"model":"m","messages":[{"role":"user","content":"x"}],"n":129}"#, "`n`"),
            (br#"{"model":"m","messages":[{"role":"user","content":"x"}],"n":2.5}"#, "`n`"),
            (br#"{"model":"m","messages":[{"role":"user","content":"x"}],"n":"4"}"#, "`n`"),
        ];
        for (body, want) in cases {
            let e = ChatRequest::parse(body, L).unwrap_err();
            let text = format!("{} {:?}", e.message, e.param);
            assert!(
                text.contains(want),
                "{}: {text}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn a_request_without_a_cap_gets_one_in_the_configured_field() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true}"#;
        for (field, name) in [
            (CapField::MaxCompletionTokens, "max_completion_tokens"),
            (CapField::MaxTokens, "max_tokens"),
        ] {
            let mut r = ChatRequest::parse(body, L).unwrap();
            assert_eq!(r.requested_max_tokens(), None);
            assert_eq!(r.cap_completion(300, field), 300);
            let out = serde_json::to_value(&r).unwrap();
            assert_eq!(out[name], 300, "{out}");
            assert_eq!(
                out.as_object().unwrap().len(),
                4,
                "only the cap added: {out}"
            );
            assert_eq!(CapField::parse(name), Some(field));
        }
        assert_eq!(CapField::parse("max_output_tokens"), None);
    }

    #[test]
    fn the_callers_own_cap_and_field_are_kept() {
        let m = |extra: &str| {
            let body =
                format!(r#"{{"model":"m","messages":[{{"role":"user","content":"x"}}]{extra}}}"#);
            ChatRequest::parse(body.as_bytes(), L).unwrap()
        };
        let mut r = m(r#","max_tokens":50"#);
        assert_eq!(r.cap_completion(300, CapField::MaxCompletionTokens), 50);
        let out = serde_json::to_value(&r).unwrap();
        assert_eq!(out["max_tokens"], 50);
        assert!(out.get("max_completion_tokens").is_none(), "{out}");
        let mut r = m(r#","max_completion_tokens":70"#);
        assert_eq!(r.cap_completion(300, CapField::MaxTokens), 70);
        let out = serde_json::to_value(&r).unwrap();
        assert!(out.get("max_tokens").is_none(), "{out}");
        // Both given: an upstream may honour either, so the larger is what it may write.
        let mut r = m(r#","max_tokens":900,"max_completion_tokens":70"#);
        assert_eq!(r.cap_completion(300, CapField::MaxCompletionTokens), 900);
        let mut r = m(r#","max_tokens":20,"max_completion_tokens":70"#);
        assert_eq!(r.cap_completion(300, CapField::MaxCompletionTokens), 70);
        // An explicit null is no cap.
        let mut r = m(r#","max_tokens":null"#);
        assert_eq!(r.cap_completion(300, CapField::MaxCompletionTokens), 300);
    }

    #[test]
    fn usage_from_json() {
        let u =
            Usage::from_json(br#"{"usage":{"prompt_tokens":3,"completion_tokens":4}}"#).unwrap();
        assert_eq!(u.total_tokens, 7);
        assert!(Usage::from_json(br#"{"choices":[]}"#).is_none());
    }

    #[test]
    fn usage_from_an_upstream_is_capped_so_sums_do_not_overflow() {
        let max = u64::MAX;
        let body = format!(r#"{{"usage":{{"prompt_tokens":{max},"completion_tokens":{max}}}}}"#);
        let u = Usage::from_json(body.as_bytes()).unwrap();
        assert_eq!(u.prompt_tokens, MAX_REPORTED_TOKENS);
        assert_eq!(u.completion_tokens, MAX_REPORTED_TOKENS);
        assert_eq!(u.total_tokens, 2 * MAX_REPORTED_TOKENS);
        // What the gateway does with it: no overflow, and it fits a database integer.
        let charged = u.prompt_tokens + u.completion_tokens;
        assert!(i64::try_from(charged).is_ok());
    }

    #[test]
    fn embeddings_validation() {
        assert!(EmbeddingsRequest::parse(br#"{"model":"e","input":"hello"}"#).is_ok());
        assert!(EmbeddingsRequest::parse(br#"{"model":"e","input":""}"#).is_err());
        assert!(EmbeddingsRequest::parse(br#"{"model":"e","input":[]}"#).is_err());
        assert!(EmbeddingsRequest::parse(br#"{"model":"e","input":{"a":1}}"#).is_err());
    }

    fn sorted(texts: Vec<&mut String>) -> Vec<String> {
        let mut v: Vec<String> = texts.into_iter().map(|t| t.clone()).collect();
        v.sort();
        v
    }

    /// A request offering two tools; every model-visible description is a distinct string.
    fn with_tools() -> ChatRequest {
        let body = serde_json::json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": "sys text"},
                {"role": "user", "content": "user text"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "tool result text"}
            ],
            "tools": [
                {"type": "function", "function": {
                    "name": "get_weather",
                    "description": "tool one description",
                    "parameters": {
                        "type": "object",
                        "description": "schema root description",
                        "properties": {
                            "city": {"type": "string", "description": "city description"},
                            "unit": {"type": "string", "enum": ["celsius", "description"]},
                            // A property named `description` is a key, not text; its own
                            // description is text.
                            "description": {"type": "string", "description": "property named description"},
                            "when": {"type": "object", "properties": {
                                "day": {"type": "string", "description": "nested object description"}
                            }}
                        },
                        "required": ["city", "description"]
                    }
                }},
                {"type": "function", "function": {
                    "name": "search_files",
                    "description": "tool two description",
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "paths": {"type": "array", "items": {"type": "string", "description": "items description"}},
                            "filter": {"anyOf": [
                                {"type": "string", "description": "anyOf first description"},
                                {"type": "object", "properties": {
                                    "glob": {"type": "string", "description": "anyOf nested description"}
                                }}
                            ]},
                            "limit": {"type": "integer", "description": 5}
                        }
                    }
                }},
                // A tool of another type, and a function tool without a description.
                {"type": "web_search", "description": "not a function tool"},
                // A custom tool: its description is read, its grammar is not.
                {"type": "custom", "custom": {"name": "run_sql", "description": "custom tool description",
                    "format": {"type": "grammar", "syntax": "lark", "definition": "start: QUERY"}}},
                {"type": "function", "function": {"name": "noop"}}
            ]
        });
        ChatRequest::parse(body.to_string().as_bytes(), L).unwrap()
    }

    #[test]
    fn texts_include_tool_descriptions_but_not_names_or_keys() {
        let mut r = with_tools();
        let mut want = vec![
            "sys text",
            "user text",
            "{\"city\":\"Paris\"}",
            "tool result text",
            "tool one description",
            "schema root description",
            "city description",
            "property named description",
            "nested object description",
            "tool two description",
            "items description",
            "anyOf first description",
            "anyOf nested description",
            "custom tool description",
        ];
        want.sort_unstable();
        assert_eq!(sorted(r.texts_mut()), want);
        // Messages come first, so placeholders are numbered as before.
        let texts = r.texts_mut();
        assert_eq!(*texts[0], "sys text");
        assert_eq!(*texts[3], "tool result text");
        // The split point is the first tool-definition text: every text before it is a
        // message's, every one from it on a definition's.
        let (texts, tools) = r.texts_mut_split();
        let tools_from = tools[0];
        assert_eq!(tools_from, 4);
        // One start per tool (get_weather's five texts, search_files' four, the custom
        // tool's one, none for `noop`), so each tool's texts can be read together.
        assert_eq!(tools, vec![4, 9, 13, 14]);
        assert_eq!(*texts[9], "tool two description");
        assert_eq!(*texts[13], "custom tool description");
        assert!(texts[..tools_from]
            .iter()
            .all(|t| !t.contains("description")));
        assert!(texts[tools_from..]
            .iter()
            .all(|t| t.contains("description")));
    }

    #[test]
    fn rewriting_a_tool_description_changes_only_that_string() {
        let mut r = with_tools();
        for t in r.texts_mut() {
            if t.contains("description") {
                *t = t.replace("description", "REWRITTEN");
            }
        }
        let out = serde_json::to_value(&r).unwrap();
        let f = &out["tools"][0]["function"];
        assert_eq!(f["name"], "get_weather");
        assert_eq!(f["description"], "tool one REWRITTEN");
        let props = &f["parameters"]["properties"];
        assert_eq!(props["city"]["description"], "city REWRITTEN");
        assert_eq!(
            props["description"]["description"],
            "property named REWRITTEN"
        );
        assert_eq!(props["unit"]["enum"][1], "description");
        assert_eq!(f["parameters"]["required"][1], "description");
        let p2 = &out["tools"][1]["function"]["parameters"]["properties"];
        assert_eq!(p2["paths"]["items"]["description"], "items REWRITTEN");
        assert_eq!(
            p2["filter"]["anyOf"][1]["properties"]["glob"]["description"],
            "anyOf nested REWRITTEN"
        );
        assert_eq!(p2["limit"]["description"], 5);
        assert_eq!(out["tools"][2]["description"], "not a function tool");
    }

    #[test]
    fn legacy_functions_descriptions_are_texts_too() {
        let body = serde_json::json!({
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "functions": [{"name": "f", "description": "legacy description",
                "parameters": {"type": "object", "properties": {
                    "x": {"type": "string", "description": "legacy param description"}}}}]
        });
        let mut r = ChatRequest::parse(body.to_string().as_bytes(), L).unwrap();
        assert_eq!(
            sorted(r.texts_mut()),
            ["hi", "legacy description", "legacy param description"]
        );
    }

    #[test]
    fn a_deeply_nested_schema_is_walked_without_recursion() {
        // Far deeper than serde_json's parse limit (128): the walk must neither overflow
        // the stack nor stop early and leave a description unread.
        let mut schema =
            serde_json::json!({"type": "string", "description": "deepest description"});
        for _ in 0..100_000 {
            // Built by hand: `json!` would copy `schema` through a (recursive) serializer.
            let props = Map::from_iter([("x".to_string(), schema)]);
            schema = Value::Object(Map::from_iter([
                ("type".to_string(), Value::from("object")),
                ("properties".to_string(), Value::Object(props)),
            ]));
        }
        let mut r = with_tools();
        let f = r.tools.as_mut().unwrap()[1].function.as_mut().unwrap();
        f.extra.insert("parameters".into(), schema);
        let texts = sorted(r.texts_mut());
        assert!(
            texts.iter().any(|t| t == "deepest description"),
            "{texts:?}"
        );
        assert!(!texts.iter().any(|t| t == "items description"));
        // Dropping a Value this deep recurses: leak it rather than risk the test's stack.
        std::mem::forget(r);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_any_bytes(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = ChatRequest::parse(&body, L);
            let _ = EmbeddingsRequest::parse(&body);
        }
    }
}
