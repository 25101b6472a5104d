//! TGI's answers on SageMaker's `/invocations`, whatever generates their text: the body is
//! read and checked as TGI's router reads and checks it (see [`tgi::validate`] and
//! [`chat::route`]), then a [`Generator`] (the simulated words, or a real model) generates,
//! and the answer takes TGI's shape (`[{"generated_text", "details"}]` or a chat completion).

use bytes::Bytes;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::backend::ModelError;
use super::chat::{self, Route};
use super::tgi;

/// What a generator made of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// `generated_text` as TGI answers it (the prompt first when `return_full_text`).
    pub text: String,
    /// The text generated, without the prompt (chat answers use it).
    pub generated: String,
    /// TGI's finish reason: `length`, `eos_token` or `stop_sequence`.
    pub finish: &'static str,
    pub generated_tokens: usize,
    /// TGI's `details` (built whether asked for or not; cheap next to generating).
    pub details: Value,
}

/// What generates the text of an answer.
pub trait Generator {
    /// Tokens in the request's `inputs`, for TGI's length checks.
    fn count(&self, request: &tgi::Request) -> Result<usize, ModelError>;
    /// The prompt a chat body becomes (the tokenizer's chat template); errors as TGI's.
    fn chat_prompt(&self, chat: &chat::ChatRequest) -> Result<String, ModelError>;
    /// Generates for a request that passed TGI's checks.
    fn generate(&self, request: &tgi::Request, valid: tgi::Valid) -> Result<Output, ModelError>;
}

/// The body SageMaker's TGI container could not read: axum's `Json` rejection, an HTTP 422 in
/// plain text (TGI adds no JSON around it).
pub fn unparsable(e: impl std::fmt::Display) -> ModelError {
    ModelError {
        status: 422,
        body: Bytes::from(format!(
            "Failed to deserialize the JSON body into the target type: {e}"
        )),
        log: None,
    }
}

/// Answers the body as the model's `/invocations` route takes it (see [`chat::route`]). A
/// body no route reads fails as TGI's router fails it. Returns the response JSON and how many
/// tokens were generated.
pub fn answer(
    body: &[u8],
    limits: &tgi::Limits,
    route: Route,
    model_id: &str,
    generator: &dyn Generator,
) -> Result<(String, u64), ModelError> {
    match route {
        Route::Generate => generate(body, limits, generator),
        Route::Chat => chat_answer(body, limits, model_id, generator),
        Route::Any => {
            if serde_json::from_slice::<tgi::Request>(body).is_ok() {
                generate(body, limits, generator)
            } else if serde_json::from_slice::<chat::ChatRequest>(body).is_ok() {
                chat_answer(body, limits, model_id, generator)
            } else {
                Err(unparsable(
                    "data did not match any variant of untagged enum SagemakerRequest",
                ))
            }
        }
    }
}

/// Checks the request as TGI does and generates: `[{"generated_text", "details"?}]`.
fn generate(
    body: &[u8],
    limits: &tgi::Limits,
    generator: &dyn Generator,
) -> Result<(String, u64), ModelError> {
    let request: tgi::Request = serde_json::from_slice(body).map_err(unparsable)?;
    let (out, _) = run(&request, limits, generator)?;
    let mut answer = json!({ "generated_text": out.text });
    if request.parameters.details {
        answer["details"] = out.details;
    }
    Ok((json!([answer]).to_string(), out.generated_tokens as u64))
}

/// Checks and generates; also returns the prompt's token count it checked.
fn run(
    request: &tgi::Request,
    limits: &tgi::Limits,
    generator: &dyn Generator,
) -> Result<(Output, usize), ModelError> {
    let tokens = generator.count(request)?;
    let valid = tgi::validate(request, tokens, limits).map_err(ModelError::validation)?;
    Ok((generator.generate(request, valid)?, tokens))
}

/// A chat-completions body, answered as TGI's `chat_completions` answers it: the generate
/// request it makes runs through the same checks and generator, and the usage counts the
/// prompt's and the generated tokens.
fn chat_answer(
    body: &[u8],
    limits: &tgi::Limits,
    model_id: &str,
    generator: &dyn Generator,
) -> Result<(String, u64), ModelError> {
    chat::require_model(body, limits.version).map_err(unparsable)?;
    let chat: chat::ChatRequest = serde_json::from_slice(body).map_err(unparsable)?;
    let prompt = generator.chat_prompt(&chat)?;
    let request = chat.to_generate(limits.version, prompt);
    let (out, prompt_tokens) = run(&request, limits, generator)?;
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let answer = chat::completion(&chat::Completion {
        version: limits.version,
        model: model_id,
        text: out.generated,
        finish_reason: chat::finish_reason(out.finish),
        prompt_tokens,
        completion_tokens: out.generated_tokens,
        created,
    });
    Ok((answer.to_string(), out.generated_tokens as u64))
}

/// Words the simulated generator strings together; deterministic per request.
const WORDS: &[&str] = &[
    "the",
    "capital",
    "river",
    "model",
    "answer",
    "city",
    "is",
    "of",
    "and",
    "a",
    "in",
    "large",
    "language",
    "queue",
    "endpoint",
    "async",
    "Washington",
    "D.C.",
    "north",
    "south",
    "data",
    "token",
    "result",
    "simple",
    "quick",
    "clear",
    "with",
    "from",
    "that",
    "this",
    "it",
    "was",
];

/// The built-in simulated generator: one token per word, words chosen from the prompt and
/// seed, always as many as `max_new_tokens`.
pub struct Simulated {
    /// Whether the simulated tokenizer has a chat template.
    pub template: bool,
}

impl Generator for Simulated {
    fn count(&self, request: &tgi::Request) -> Result<usize, ModelError> {
        Ok(request.inputs.split_whitespace().count())
    }

    fn chat_prompt(&self, chat: &chat::ChatRequest) -> Result<String, ModelError> {
        if self.template {
            Ok(chat.prompt())
        } else {
            Err(ModelError::no_chat_template())
        }
    }

    fn generate(&self, request: &tgi::Request, valid: tgi::Valid) -> Result<Output, ModelError> {
        let words = words(request, valid);
        let generated = words.join(" ");
        let text = if request.parameters.return_full_text == Some(true) {
            format!("{} {generated}", request.inputs)
        } else {
            generated.clone()
        };
        Ok(Output {
            text,
            generated,
            finish: "length",
            generated_tokens: words.len(),
            details: simulated_details(&words, request),
        })
    }
}

/// The words for a request, deterministic per prompt and seed.
fn words(request: &tgi::Request, valid: tgi::Valid) -> Vec<&'static str> {
    let seed = Sha256::digest(
        format!(
            "{}\u{0}{}",
            request.inputs,
            request
                .parameters
                .seed
                .map_or_else(|| "null".to_string(), |s| s.to_string())
        )
        .as_bytes(),
    );
    (0..valid.max_new_tokens as usize)
        .map(|i| {
            let byte = seed[i % seed.len()] as usize;
            WORDS[(byte + i * 7) % WORDS.len()]
        })
        .collect()
}

/// TGI's `Details` for an answer that ran to `max_new_tokens` (`router/src/lib.rs`):
/// finish reason, token count, seed, the prefill tokens when `decoder_input_details` asked
/// for them, and each generated token with an id, its text and a log-probability.
fn simulated_details(words: &[&str], request: &tgi::Request) -> Value {
    let token = |i: usize, word: &str| {
        let id = WORDS.iter().position(|w| *w == word).unwrap_or(0) + 100;
        let text = if i == 0 {
            word.to_string()
        } else {
            format!(" {word}")
        };
        json!({ "id": id, "text": text, "logprob": -0.05 * (1 + i % 7) as f64, "special": false })
    };
    let prefill: Vec<Value> = if request.parameters.decoder_input_details {
        request
            .inputs
            .split_whitespace()
            .enumerate()
            .map(|(i, w)| json!({ "id": 10_000 + i, "text": w, "logprob": null }))
            .collect()
    } else {
        Vec::new()
    };
    json!({
        "finish_reason": "length",
        "generated_tokens": words.len(),
        "seed": request.parameters.seed,
        "prefill": prefill,
        "tokens": words.iter().enumerate().map(|(i, w)| token(i, w)).collect::<Vec<_>>(),
    })
}
