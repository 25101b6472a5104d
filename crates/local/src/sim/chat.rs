//! TGI's Messages API (OpenAI chat completions) on SageMaker's `/invocations`, as the TGI
//! releases in Ebb's image table serve it. From huggingface/text-generation-inference:
//! - before 1.4.0 `/invocations` takes only generate bodies (`{"inputs", "parameters"}`);
//! - from 1.4.0 to 2.3.x the router's `MESSAGES_API_ENABLED` switch (`router/src/main.rs`, a
//!   clap boolean read from the environment) routes `/invocations` to `chat_completions`
//!   instead of `compat_generate` (`router/src/server.rs`): one kind of body or the other;
//! - from 2.4.0 the switch is gone and `/invocations` takes any supported body
//!   (`router/src/sagemaker.rs`, an untagged `SagemakerRequest`).
//!
//! A chat body becomes a generate request the way `chat_completions` builds it, and the answer
//! is TGI's `ChatCompletion` (`router/src/lib.rs`).
//! Doc: <https://huggingface.co/docs/text-generation-inference/messages_api>.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::tgi::{self, Version};

/// The model variable TGI 1.4.0 to 2.3.x read as the Messages API switch.
pub const ENV_MESSAGES_API: &str = "MESSAGES_API_ENABLED";

/// `max_tokens` when a chat body sets none (TGI's `chat_completions` before 3.0; kept for later
/// releases, which would generate up to the total-token limit, so the simulated work stays
/// small).
pub const DEFAULT_MAX_TOKENS: u32 = 100;

/// Which bodies the model's `/invocations` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Generate bodies only (before 1.4.0, or the switch off).
    Generate,
    /// Chat-completions bodies only (1.4.0 to 2.3.x with the switch on).
    Chat,
    /// Either, a generate body first (2.4.0 and later).
    Any,
}

/// The route of a model of TGI `version` with this environment. `Err` is why the router would
/// not start: clap's boolean parser takes only the literals `true` and `false`.
pub fn route(env: &BTreeMap<String, String>, version: Version) -> Result<Route, String> {
    if version < (1, 4, 0) {
        return Ok(Route::Generate);
    }
    if version >= (2, 4, 0) {
        return Ok(Route::Any);
    }
    match env.get(ENV_MESSAGES_API).map(String::as_str) {
        None | Some("false") => Ok(Route::Generate),
        Some("true") => Ok(Route::Chat),
        Some(other) => Err(format!(
            "invalid value '{other}' for '--messages-api-enabled' ({ENV_MESSAGES_API}): possible values are true and false"
        )),
    }
}

/// TGI's `ChatRequest`, the fields the simulated generator uses (others are ignored).
/// `model` is required before TGI 2.2.0 (see [`require_model`]).
#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    pub model: Option<String>,
    pub messages: Vec<Message>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub frequency_penalty: Option<f32>,
    pub seed: Option<u64>,
    pub stop: Option<Vec<String>>,
}

/// One chat message; `content` is a string or (later releases) a list of `{"type": "text",
/// "text"}` parts.
#[derive(Debug, Deserialize)]
pub struct Message {
    pub role: String,
    #[serde(default)]
    pub content: Option<Value>,
}

/// TGI before 2.2.0 declares `model: String`, so a body without it fails to deserialize.
#[derive(Deserialize)]
struct ModelRequired {
    #[allow(dead_code)]
    model: String,
}

/// The deserialization error TGI before 2.2.0 gives a body without `model`.
pub fn require_model(body: &[u8], version: Version) -> Result<(), serde_json::Error> {
    if version < (2, 2, 0) {
        serde_json::from_slice::<ModelRequired>(body)?;
    }
    Ok(())
}

fn text_of(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

impl ChatRequest {
    /// The prompt: the simulator's stand-in for the model's chat template, one `role: text`
    /// line per message and the assistant's turn last.
    pub fn prompt(&self) -> String {
        let mut lines: Vec<String> = self
            .messages
            .iter()
            .map(|m| format!("{}: {}", m.role, text_of(m.content.as_ref())))
            .collect();
        lines.push("assistant:".into());
        lines.join("\n")
    }

    /// The generate request `chat_completions` makes: `max_tokens` as `max_new_tokens`, with
    /// `details` on (the usage comes from them). From 2.2.0 a temperature of 0 means greedy
    /// decoding instead of a validation error.
    pub fn to_generate(&self, version: Version, prompt: String) -> tgi::Request {
        let temperature = self
            .temperature
            .filter(|t| !(version >= (2, 2, 0) && *t == 0.0));
        tgi::Request {
            // From TGI 2.1 the template's own special tokens are not added again.
            add_special_tokens: version < (2, 1, 0),
            inputs: prompt,
            parameters: tgi::Parameters {
                temperature,
                top_p: self.top_p,
                frequency_penalty: self.frequency_penalty,
                max_new_tokens: Some(self.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
                stop: self.stop.clone().unwrap_or_default(),
                seed: self.seed,
                details: true,
                ..tgi::Parameters::default()
            },
        }
    }
}

/// What a chat answer is made of.
pub struct Completion<'a> {
    pub version: Version,
    /// The model's `HF_MODEL_ID` (TGI's `info.model_id`).
    pub model: &'a str,
    pub text: String,
    /// OpenAI's finish reason (see [`finish_reason`]).
    pub finish_reason: &'static str,
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    /// Seconds since the Unix epoch.
    pub created: u64,
}

/// The chat finish reason for TGI's generate one (`FinishReason::format(true)` in TGI's
/// `router/src/lib.rs`): an end-of-sequence token or a stop sequence is `stop`.
pub fn finish_reason(generate: &str) -> &'static str {
    match generate {
        "length" => "length",
        _ => "stop",
    }
}

/// TGI's `ChatCompletion`: an empty `id` (TGI sets none) and `object` `chat.completion` from
/// 2.1.0 (`text_completion` before).
pub fn completion(c: &Completion<'_>) -> Value {
    let (major, minor, patch) = c.version;
    let object = if c.version >= (2, 1, 0) {
        "chat.completion"
    } else {
        "text_completion"
    };
    json!({
        "id": "",
        "object": object,
        "created": c.created,
        "model": c.model,
        "system_fingerprint": format!("{major}.{minor}.{patch}-native"),
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": c.text },
            "logprobs": null,
            "finish_reason": c.finish_reason,
        }],
        "usage": {
            "prompt_tokens": c.prompt_tokens,
            "completion_tokens": c.completion_tokens,
            "total_tokens": c.prompt_tokens + c.completion_tokens,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(value: Option<&str>) -> BTreeMap<String, String> {
        value
            .map(|v| (ENV_MESSAGES_API.to_string(), v.to_string()))
            .into_iter()
            .collect()
    }

    #[test]
    fn the_switch_counts_only_where_tgi_has_it_and_only_its_literals() {
        assert_eq!(route(&env(Some("true")), (1, 3, 3)), Ok(Route::Generate));
        assert_eq!(route(&env(None), (1, 4, 0)), Ok(Route::Generate));
        assert_eq!(route(&env(Some("false")), (2, 3, 1)), Ok(Route::Generate));
        assert_eq!(route(&env(Some("true")), (1, 4, 0)), Ok(Route::Chat));
        assert_eq!(route(&env(Some("true")), (2, 3, 1)), Ok(Route::Chat));
        assert_eq!(route(&env(None), (2, 4, 0)), Ok(Route::Any));
        for other in ["1", "TRUE", "yes", " true"] {
            let err = route(&env(Some(other)), (2, 0, 1)).unwrap_err();
            assert!(err.contains("possible values are true and false"), "{err}");
        }
    }

    #[test]
    fn a_chat_body_becomes_the_generate_request_tgi_makes() {
        let body = br#"{"model":"tgi","messages":[{"role":"user","content":"Hi there"}],"max_tokens":7,"temperature":0,"stop":["x"],"seed":3}"#;
        let chat: ChatRequest = serde_json::from_slice(body).unwrap();
        assert_eq!(chat.prompt(), "user: Hi there\nassistant:");
        let old = chat.to_generate((2, 0, 1), chat.prompt());
        assert_eq!(old.parameters.temperature, Some(0.0));
        let new = chat.to_generate((2, 2, 0), chat.prompt());
        assert_eq!(new.parameters.temperature, None);
        assert_eq!(new.parameters.max_new_tokens, Some(7));
        assert_eq!(new.parameters.stop, vec!["x".to_string()]);
        assert_eq!(new.parameters.seed, Some(3));
        let no_model = br#"{"messages":[]}"#;
        let err = require_model(no_model, (2, 1, 1)).unwrap_err();
        assert!(err.to_string().contains("missing field `model`"), "{err}");
        assert!(require_model(no_model, (2, 2, 0)).is_ok());
    }
}
