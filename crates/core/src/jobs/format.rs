//! The request formats a job's lines may be in, told apart by their fields, and what each
//! carries: the id of the line and the body sent to the endpoint.
//!
//! - TGI: `{"inputs": "...", "parameters": {...}}`, sent as it is
//!   (<https://huggingface.github.io/text-generation-inference/>, `GenerateRequest`).
//! - OpenAI batch: `{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body"}`;
//!   `body` is sent (<https://platform.openai.com/docs/guides/batch>).
//! - Bedrock batch: `{"recordId", "modelInput"}`; `modelInput` is sent
//!   (<https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-data.html>).
//! - Chat: `{"messages": [...], ...}`, an OpenAI chat-completions body, sent as it is; TGI
//!   takes it on `/invocations` with its Messages API on (`MESSAGES_API_ENABLED=true`).

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use sha2::Digest;

/// How a file's lines are written (one format per file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum InputFormat {
    /// TGI's generate request, `{"inputs", "parameters"}`.
    Tgi,
    /// An OpenAI batch file line, `{"custom_id", "method", "url", "body"}`.
    OpenAi,
    /// A Bedrock batch inference record, `{"recordId", "modelInput"}`.
    Bedrock,
    /// An OpenAI chat-completions body, `{"messages": [...]}`.
    Chat,
}

impl InputFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            InputFormat::Tgi => "tgi",
            InputFormat::OpenAi => "openai",
            InputFormat::Bedrock => "bedrock",
            InputFormat::Chat => "chat",
        }
    }

    pub fn parse(s: &str) -> InputFormat {
        match s {
            "openai" => InputFormat::OpenAi,
            "bedrock" => InputFormat::Bedrock,
            "chat" => InputFormat::Chat,
            _ => InputFormat::Tgi,
        }
    }

    /// The name a person knows it by.
    pub fn label(self) -> &'static str {
        match self {
            InputFormat::Tgi => "TGI requests",
            InputFormat::OpenAi => "OpenAI batch lines",
            InputFormat::Bedrock => "Bedrock batch records",
            InputFormat::Chat => "chat messages",
        }
    }
}

/// The OpenAI batch `url` Ebb sends: TGI's Messages API takes chat-completions bodies on
/// SageMaker's `/invocations` (`/v1/completions` bodies only from TGI 2.4.0, so they are not
/// sent; <https://huggingface.co/docs/text-generation-inference/messages_api>).
pub const OPENAI_URLS: [&str; 1] = ["/v1/chat/completions"];

/// The longest id a line may carry.
pub const MAX_ID_BYTES: usize = 512;

/// InvokeEndpointAsync's `InferenceId`: 1-64 characters matching `\A\S[\p{Print}&&[^\s]]*\z`
/// (<https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpointAsync.html>).
pub const MAX_INFERENCE_ID: usize = 64;

/// A top-level value, as far as the checks need it.
#[derive(Debug, Clone, PartialEq)]
enum Peeked {
    Str(String),
    Num(String),
    Object,
    Array,
    Other,
}

/// Reads a value as [`Peeked`]; a string's text is kept only when asked for (ids, the method
/// and the url), so that a prompt is skipped without being copied.
struct PeekSeed {
    keep_text: bool,
}

impl<'de> DeserializeSeed<'de> for PeekSeed {
    type Value = Peeked;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Peeked, D::Error> {
        struct V(bool);
        impl<'de> Visitor<'de> for V {
            type Value = Peeked;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_str<E>(self, s: &str) -> Result<Peeked, E> {
                Ok(Peeked::Str(if self.0 {
                    s.to_string()
                } else {
                    String::new()
                }))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Peeked, E> {
                Ok(Peeked::Other)
            }
            fn visit_i64<E>(self, n: i64) -> Result<Peeked, E> {
                Ok(Peeked::Num(n.to_string()))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Peeked, E> {
                Ok(Peeked::Num(n.to_string()))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Peeked, E> {
                Ok(Peeked::Other)
            }
            fn visit_unit<E>(self) -> Result<Peeked, E> {
                Ok(Peeked::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Peeked, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Peeked::Array)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Peeked, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Peeked::Object)
            }
        }
        d.deserialize_any(V(self.keep_text))
    }
}

/// The fields of one line that tell its format and id; other values are skipped, never built.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct LineShape {
    inputs: Option<Peeked>,
    messages: Option<Peeked>,
    custom_id: Option<Peeked>,
    method: Option<Peeked>,
    url: Option<Peeked>,
    body: Option<Peeked>,
    record_id: Option<Peeked>,
    model_input: Option<Peeked>,
    named_id: Option<Peeked>,
}

/// Reads a line's shape; `id_field` is the field the user named as the id, if any.
pub(crate) struct ShapeSeed<'a> {
    pub id_field: Option<&'a str>,
}

impl<'de> DeserializeSeed<'de> for ShapeSeed<'_> {
    type Value = LineShape;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<LineShape, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ShapeSeed<'_> {
    type Value = LineShape;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object (one request per line)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LineShape, A::Error> {
        let mut shape = LineShape::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let named = Some(key.as_ref()) == self.id_field;
            let (slot, keep_text) = match key.as_ref() {
                "inputs" => (&mut shape.inputs, false),
                "messages" => (&mut shape.messages, false),
                "custom_id" => (&mut shape.custom_id, true),
                "method" => (&mut shape.method, true),
                "url" => (&mut shape.url, true),
                "body" => (&mut shape.body, false),
                "recordId" => (&mut shape.record_id, true),
                "modelInput" => (&mut shape.model_input, false),
                _ if named => {
                    shape.named_id = Some(map.next_value_seed(PeekSeed { keep_text: true })?);
                    continue;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            let value = map.next_value_seed(PeekSeed {
                keep_text: keep_text || named,
            })?;
            if named {
                shape.named_id = Some(value.clone());
            }
            *slot = Some(value);
        }
        Ok(shape)
    }
}

/// What a valid line is: its format, the id it carries (if any) and a warning to show.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LineKind {
    pub format: InputFormat,
    pub id: Option<String>,
    pub warning: Option<String>,
}

fn id_text(value: &Peeked, field: &str) -> Result<String, String> {
    let id = match value {
        Peeked::Str(s) => s.clone(),
        Peeked::Num(n) => n.clone(),
        _ => return Err(format!("\"{field}\" must be a string or a whole number")),
    };
    if id.trim().is_empty() {
        return Err(format!("\"{field}\" is empty"));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(format!(
            "\"{field}\" is {} bytes long; ids may be up to {MAX_ID_BYTES}",
            id.len()
        ));
    }
    Ok(id)
}

impl LineShape {
    fn format(&self) -> InputFormat {
        if self.custom_id.is_some() || (self.url.is_some() && self.body.is_some()) {
            InputFormat::OpenAi
        } else if self.record_id.is_some() || self.model_input.is_some() {
            InputFormat::Bedrock
        } else if self.messages.is_some() && self.inputs.is_none() {
            InputFormat::Chat
        } else {
            InputFormat::Tgi
        }
    }

    /// The line's format and id, or why it cannot be sent.
    pub(crate) fn kind(&self, id_field: Option<&str>) -> Result<LineKind, String> {
        let format = self.format();
        let mut warning = None;
        let own_id = match format {
            InputFormat::OpenAi => self.check_openai()?,
            InputFormat::Bedrock => self.check_bedrock()?,
            InputFormat::Chat => {
                if self.messages != Some(Peeked::Array) {
                    return Err(
                        "\"messages\" must be an array of {\"role\", \"content\"} objects".into(),
                    );
                }
                None
            }
            InputFormat::Tgi => {
                if !matches!(self.inputs, Some(Peeked::Str(_))) {
                    warning = Some("no string \"inputs\" field: TGI expects {\"inputs\": \"...\", \"parameters\": {...}}".into());
                }
                None
            }
        };
        let id = match (id_field, &self.named_id) {
            (Some(field), Some(value)) => Some(id_text(value, field)?),
            _ => own_id,
        };
        Ok(LineKind {
            format,
            id,
            warning,
        })
    }

    fn check_openai(&self) -> Result<Option<String>, String> {
        let id = match &self.custom_id {
            Some(v) => id_text(v, "custom_id")?,
            None => return Err("an OpenAI batch line needs a \"custom_id\"".into()),
        };
        match &self.method {
            Some(Peeked::Str(m)) if m == "POST" => {}
            _ => return Err("an OpenAI batch line needs \"method\": \"POST\"".into()),
        }
        match &self.url {
            Some(Peeked::Str(u)) if OPENAI_URLS.contains(&u.as_str()) => {}
            Some(Peeked::Str(u)) => {
                return Err(format!(
                    "\"url\" is {u}; Ebb sends {} lines only (TGI's Messages API)",
                    OPENAI_URLS.join(" and ")
                ));
            }
            _ => return Err("an OpenAI batch line needs a \"url\"".into()),
        }
        if self.body != Some(Peeked::Object) {
            return Err("an OpenAI batch line needs a \"body\" object: the request".into());
        }
        Ok(Some(id))
    }

    fn check_bedrock(&self) -> Result<Option<String>, String> {
        if self.model_input != Some(Peeked::Object) {
            return Err("a Bedrock record needs a \"modelInput\" object: the request".into());
        }
        self.record_id
            .as_ref()
            .map(|v| id_text(v, "recordId"))
            .transpose()
    }
}

/// The id of a line without one of its own: `file:line`.
pub fn line_id(rel: &str, line: u32) -> String {
    format!("{rel}:{line}")
}

/// The `InferenceId` sent for a request with id `id`: the id itself when SageMaker takes it,
/// else as much of it as fits (spaces and characters outside printable ASCII as `_`) and 16
/// hex digits of its SHA-256, so that different ids stay different.
pub fn inference_id(id: &str) -> String {
    // `\p{Print}` minus spaces, in SageMaker's (Java) pattern, is ASCII 0x21 to 0x7E only.
    let printable = |c: char| c.is_ascii_graphic();
    if id.chars().count() <= MAX_INFERENCE_ID && id.chars().all(printable) {
        return id.to_string();
    }
    let digest = sha2::Sha256::digest(id.as_bytes());
    let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let head: String = id
        .chars()
        .map(|c| if printable(c) { c } else { '_' })
        .take(MAX_INFERENCE_ID - hash.len() - 1)
        .collect();
    format!("{head}-{hash}")
}

/// The body to send for a line in `format`: OpenAI's `body`, Bedrock's `modelInput`, else the
/// line itself.
pub fn request_body(format: InputFormat, line: &[u8]) -> Result<Vec<u8>, String> {
    let field = match format {
        InputFormat::OpenAi => "body",
        InputFormat::Bedrock => "modelInput",
        InputFormat::Tgi | InputFormat::Chat => return Ok(line.to_vec()),
    };
    let mut value: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let inner = value
        .get_mut(field)
        .map(serde_json::Value::take)
        .ok_or_else(|| format!("no \"{field}\" in the line"))?;
    serde_json::to_vec(&inner).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(line: &str, id_field: Option<&str>) -> Result<LineKind, String> {
        let mut de = serde_json::Deserializer::from_str(line);
        let shape = ShapeSeed { id_field }
            .deserialize(&mut de)
            .expect("an object");
        shape.kind(id_field)
    }

    #[test]
    fn each_format_is_told_by_its_fields_with_its_id() {
        let openai = r#"{"custom_id": "req-1", "method": "POST", "url": "/v1/chat/completions", "body": {"messages": []}}"#;
        let k = kind(openai, None).unwrap();
        assert_eq!(
            (k.format, k.id.as_deref()),
            (InputFormat::OpenAi, Some("req-1"))
        );
        let bedrock = r#"{"recordId": "CALL0000001", "modelInput": {"inputs": "hi"}}"#;
        let k = kind(bedrock, None).unwrap();
        assert_eq!(
            (k.format, k.id.as_deref()),
            (InputFormat::Bedrock, Some("CALL0000001"))
        );
        let k = kind(r#"{"modelInput": {"inputs": "hi"}}"#, None).unwrap();
        assert_eq!((k.format, k.id), (InputFormat::Bedrock, None));
        let k = kind(
            r#"{"messages": [{"role": "user", "content": "hi"}], "id": 7}"#,
            Some("id"),
        )
        .unwrap();
        assert_eq!((k.format, k.id.as_deref()), (InputFormat::Chat, Some("7")));
        // A named id field that is also the format's own field still counts for the format.
        let k = kind(openai, Some("custom_id")).unwrap();
        assert_eq!(
            (k.format, k.id.as_deref()),
            (InputFormat::OpenAi, Some("req-1"))
        );
        let k = kind(r#"{"inputs": "hi", "parameters": {}}"#, Some("id")).unwrap();
        assert_eq!((k.format, k.id, k.warning), (InputFormat::Tgi, None, None));
        assert!(kind(r#"{"prompt": "hi"}"#, None).unwrap().warning.is_some());
    }

    #[test]
    fn lines_that_cannot_be_sent_say_what_is_missing() {
        let cases = [
            (
                r#"{"custom_id": "a", "method": "GET", "url": "/v1/chat/completions", "body": {}}"#,
                "\"method\": \"POST\"",
            ),
            (
                r#"{"custom_id": "a", "method": "POST", "url": "/v1/embeddings", "body": {}}"#,
                "/v1/embeddings; Ebb sends /v1/chat/completions lines only",
            ),
            (
                r#"{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": "x"}"#,
                "\"body\" object",
            ),
            (
                r#"{"url": "/v1/chat/completions", "body": {}}"#,
                "needs a \"custom_id\"",
            ),
            (
                r#"{"custom_id": "", "method": "POST", "url": "/v1/chat/completions", "body": {}}"#,
                "\"custom_id\" is empty",
            ),
            (
                r#"{"recordId": "r1", "modelInput": [1]}"#,
                "\"modelInput\" object",
            ),
            (
                r#"{"recordId": {"a": 1}, "modelInput": {}}"#,
                "\"recordId\" must be a string",
            ),
            (r#"{"messages": "hi"}"#, "\"messages\" must be an array"),
        ];
        for (line, expected) in cases {
            let e = kind(line, None).unwrap_err();
            assert!(e.contains(expected), "{line}: {e}");
        }
    }

    #[test]
    fn inference_ids_are_the_id_when_sagemaker_takes_it_else_a_distinct_hash() {
        assert_eq!(inference_id("req-1"), "req-1");
        assert_eq!(inference_id("a.jsonl:3"), "a.jsonl:3");
        let long = "x".repeat(100);
        let other = format!("{}y", "x".repeat(99));
        for id in [
            long.as_str(),
            other.as_str(),
            "two words",
            "tab\there",
            "日本語-id-3",
            "été.jsonl:1",
        ] {
            let got = inference_id(id);
            assert!(got.len() <= MAX_INFERENCE_ID, "{got}");
            assert!(got.chars().all(|c| c.is_ascii_graphic()), "{got}");
        }
        assert_ne!(inference_id("日本語-id-3"), inference_id("日本語-id-4"));
        assert_ne!(inference_id(&long), inference_id(&other));
        assert!(inference_id("two words").starts_with("two_words-"));
    }

    #[test]
    fn the_sent_body_is_the_request_inside_a_batch_line() {
        let openai = br#"{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"messages": [], "max_tokens": 5}}"#;
        let body = request_body(InputFormat::OpenAi, openai).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v, serde_json::json!({"messages": [], "max_tokens": 5}));
        let bedrock = br#"{"recordId": "r", "modelInput": {"inputs": "hi"}}"#;
        assert_eq!(
            request_body(InputFormat::Bedrock, bedrock).unwrap(),
            br#"{"inputs":"hi"}"#
        );
        let tgi = br#"{"inputs": "hi"}"#;
        assert_eq!(request_body(InputFormat::Tgi, tgi).unwrap(), tgi);
    }
}
