//! Dataset formats: OpenAI chat fine-tuning JSON Lines, Alpaca-style instruction data,
//! classification (`text`, `label`) and CSV with named columns. Each line (or CSV record)
//! becomes a [`Record`]: the texts the model reads (prompts), the texts it learns to write
//! (responses) and, for classification, the label. Parsing takes bytes, not a reader, so
//! tests and the property tests call it directly.

use serde::Deserialize;

/// A dataset format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `{"messages": [{"role": ..., "content": ...}, ...]}`.
    Chat,
    /// `{"instruction": ..., "input": ..., "output": ...}` (also `prompt` with
    /// `completion` or `response`).
    Alpaca,
    /// `{"text": ..., "label": ...}`.
    Classification,
    /// CSV with a header row naming the columns.
    Csv,
}

impl Format {
    /// Parses a `--format` value.
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "chat" | "openai" | "messages" => Some(Self::Chat),
            "alpaca" | "instruction" => Some(Self::Alpaca),
            "classification" | "text-label" => Some(Self::Classification),
            "csv" => Some(Self::Csv),
            _ => None,
        }
    }

    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Alpaca => "alpaca",
            Self::Classification => "classification",
            Self::Csv => "csv",
        }
    }

    /// Guesses the format from one non-empty line: a JSON object's keys, or CSV.
    pub fn detect(line: &[u8]) -> Option<Self> {
        let t = line.trim_ascii();
        if t.is_empty() {
            return None;
        }
        if t.first() == Some(&b'{') {
            let raw: RawJson = serde_json::from_slice(t).ok()?;
            return raw.json_format();
        }
        let s = std::str::from_utf8(t).ok()?;
        let cols = crate::reader::split_csv(s)?;
        (cols.len() >= 2).then_some(Self::Csv)
    }
}

/// One text of a record with the field (or chat role) it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Field name or chat role (`instruction`, `user`, `assistant`, a CSV column).
    pub name: String,
    /// The text.
    pub text: String,
}

/// One parsed record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// Texts the model reads: system and user turns, instruction, input, text.
    pub prompts: Vec<Field>,
    /// Texts the model is trained to produce: assistant turns, output.
    pub responses: Vec<Field>,
    /// The class label (classification), as a string.
    pub label: Option<String>,
}

impl Record {
    /// The prompts joined by newlines.
    pub fn input_text(&self) -> String {
        join(&self.prompts)
    }

    /// The responses joined by newlines.
    pub fn response_text(&self) -> String {
        join(&self.responses)
    }

    /// Every field, prompts first.
    pub fn fields(&self) -> impl Iterator<Item = (&Field, bool)> {
        self.prompts
            .iter()
            .map(|f| (f, false))
            .chain(self.responses.iter().map(|f| (f, true)))
    }
}

fn join(fields: &[Field]) -> String {
    let mut s = String::new();
    for f in fields {
        if f.text.is_empty() {
            continue;
        }
        if !s.is_empty() {
            s.push('\n');
        }
        s.push_str(&f.text);
    }
    s
}

#[derive(Deserialize)]
struct RawMsg {
    role: String,
    #[serde(default)]
    content: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawJson {
    messages: Option<Vec<RawMsg>>,
    instruction: Option<String>,
    input: Option<String>,
    output: Option<String>,
    prompt: Option<String>,
    completion: Option<String>,
    response: Option<String>,
    text: Option<String>,
    label: Option<serde_json::Value>,
}

impl RawJson {
    fn json_format(&self) -> Option<Format> {
        if self.messages.is_some() {
            Some(Format::Chat)
        } else if self.instruction.is_some()
            || self.output.is_some()
            || (self.prompt.is_some() && (self.completion.is_some() || self.response.is_some()))
        {
            Some(Format::Alpaca)
        } else if self.text.is_some() && self.label.is_some() {
            Some(Format::Classification)
        } else {
            None
        }
    }
}

/// Text of a chat message's `content`: a string, or the `text` of its parts.
fn content_text(v: &serde_json::Value) -> Result<String, String> {
    match v {
        serde_json::Value::Null => Ok(String::new()),
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Array(parts) => {
            let mut out = String::new();
            for p in parts {
                if let Some(t) = p.get("text").and_then(|t| t.as_str()) {
                    if !out.is_empty() {
                        out.push('\n');
                    }
                    out.push_str(t);
                }
            }
            Ok(out)
        }
        _ => Err("message `content` must be a string or a list of parts".into()),
    }
}

fn label_text(v: &serde_json::Value) -> Result<String, String> {
    match v {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::Bool(b) => Ok(b.to_string()),
        _ => Err("`label` must be a string, number or boolean".into()),
    }
}

fn field(name: &str, text: Option<String>) -> Option<Field> {
    text.map(|text| Field {
        name: name.to_string(),
        text,
    })
}

/// Parses one JSON line as `format` (`Chat`, `Alpaca` or `Classification`). The error is
/// a one-line reason for the report.
pub fn parse_json(bytes: &[u8], format: Format) -> Result<Record, String> {
    let s = std::str::from_utf8(bytes).map_err(|e| {
        format!(
            "invalid UTF-8 at byte {} of the line",
            e.valid_up_to().saturating_add(1)
        )
    })?;
    let raw: RawJson = serde_json::from_str(s).map_err(|e| format!("invalid JSON: {e}"))?;
    let mut rec = Record::default();
    match format {
        Format::Chat => {
            let msgs = raw
                .messages
                .ok_or("no `messages` list (chat format expected)")?;
            for m in msgs {
                let text = match &m.content {
                    Some(c) => content_text(c)?,
                    None => String::new(),
                };
                let f = Field { name: m.role, text };
                if f.name == "assistant" {
                    rec.responses.push(f);
                } else {
                    rec.prompts.push(f);
                }
            }
        }
        Format::Alpaca => {
            rec.prompts.extend(field("instruction", raw.instruction));
            rec.prompts.extend(field("prompt", raw.prompt));
            rec.prompts.extend(field("input", raw.input));
            rec.responses.extend(field("output", raw.output));
            rec.responses.extend(field("completion", raw.completion));
            rec.responses.extend(field("response", raw.response));
            if rec.prompts.is_empty() && rec.responses.is_empty() {
                return Err(
                    "no `instruction`/`input`/`output` fields (alpaca format expected)".into(),
                );
            }
        }
        Format::Classification => {
            let text = raw
                .text
                .ok_or("no string field `text` (classification format expected)")?;
            let label = raw
                .label
                .as_ref()
                .ok_or("no `label` (classification format expected)")?;
            rec.label = Some(label_text(label)?);
            rec.prompts.push(Field {
                name: "text".into(),
                text,
            });
        }
        Format::Csv => return Err("CSV records are parsed with a header".into()),
    }
    Ok(rec)
}

/// What a CSV column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Prompt,
    Response,
    Label,
}

/// A CSV header: column names and what each holds.
#[derive(Debug, Clone)]
pub struct CsvHeader {
    names: Vec<String>,
    kinds: Vec<Col>,
}

impl CsvHeader {
    /// Parses the header record. Columns named `label`/`class`/`category` are the label;
    /// `output`, `response`, `completion`, `answer`, `assistant` are responses; all
    /// others are prompts.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let s = std::str::from_utf8(bytes).map_err(|_| "CSV header is not valid UTF-8")?;
        let names = crate::reader::split_csv(s.trim_start_matches('\u{feff}'))
            .ok_or("CSV header has an unbalanced quote")?;
        let kinds = names
            .iter()
            .map(|n| match n.trim().to_ascii_lowercase().as_str() {
                "label" | "class" | "category" | "target" => Col::Label,
                "output" | "response" | "completion" | "answer" | "assistant" | "chosen" => {
                    Col::Response
                }
                _ => Col::Prompt,
            })
            .collect();
        Ok(Self { names, kinds })
    }

    /// Whether the header names a label column.
    pub fn has_label(&self) -> bool {
        self.kinds.contains(&Col::Label)
    }

    /// The column names.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Parses one CSV record.
    pub fn parse_record(&self, bytes: &[u8]) -> Result<Record, String> {
        let s = std::str::from_utf8(bytes).map_err(|e| {
            format!(
                "invalid UTF-8 at byte {} of the record",
                e.valid_up_to().saturating_add(1)
            )
        })?;
        let cols = crate::reader::split_csv(s).ok_or("unbalanced quote in CSV record")?;
        if cols.len() != self.names.len() {
            return Err(format!(
                "CSV record has {} fields, the header has {}",
                cols.len(),
                self.names.len()
            ));
        }
        let mut rec = Record::default();
        for ((text, name), kind) in cols.into_iter().zip(&self.names).zip(&self.kinds) {
            let f = Field {
                name: name.clone(),
                text,
            };
            match kind {
                Col::Prompt => rec.prompts.push(f),
                Col::Response => rec.responses.push(f),
                Col::Label => rec.label = Some(f.text),
            }
        }
        Ok(rec)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_format() {
        assert_eq!(
            Format::detect(br#"{"messages":[{"role":"user","content":"hi"}]}"#),
            Some(Format::Chat)
        );
        assert_eq!(
            Format::detect(br#"{"instruction":"a","input":"","output":"b"}"#),
            Some(Format::Alpaca)
        );
        assert_eq!(
            Format::detect(br#"{"text":"a","label":1}"#),
            Some(Format::Classification)
        );
        assert_eq!(Format::detect(b"text,label"), Some(Format::Csv));
        assert_eq!(Format::detect(br#"{"foo":1}"#), None);
    }

    #[test]
    fn chat_roles_split() {
        let r = parse_json(
            br#"{"messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"u"}]},{"role":"assistant","content":"a"}]}"#,
            Format::Chat,
        )
        .unwrap();
        assert_eq!(r.input_text(), "s\nu");
        assert_eq!(r.response_text(), "a");
    }

    #[test]
    fn per_line_errors_are_clear() {
        let e = parse_json(b"{\"text\": \"a\"", Format::Classification).unwrap_err();
        assert!(e.contains("invalid JSON"), "{e}");
        let e = parse_json(b"{\"text\": \"\xff\"}", Format::Classification).unwrap_err();
        assert!(e.contains("invalid UTF-8"), "{e}");
        // Deep nesting where a value is read: serde_json's recursion limit, an error.
        let deep = format!(
            "{{\"text\":\"a\",\"label\":{}1{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let e = parse_json(deep.as_bytes(), Format::Classification).unwrap_err();
        assert!(e.contains("recursion limit"), "{e}");
        // Deep nesting in an ignored field is skipped without recursion: no crash.
        let deep = format!(
            "{{\"text\":\"a\",\"label\":1,\"x\":{}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(parse_json(deep.as_bytes(), Format::Classification).is_ok());
    }

    #[test]
    fn csv_columns() {
        let h = CsvHeader::parse(b"text,label").unwrap();
        assert!(h.has_label());
        let r = h.parse_record(b"\"hello, world\",spam").unwrap();
        assert_eq!(r.label.as_deref(), Some("spam"));
        assert_eq!(r.input_text(), "hello, world");
        assert!(h.parse_record(b"a,b,c").is_err());
    }
}
