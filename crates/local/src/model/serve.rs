//! A real model answering `/invocations`: TGI's checks and shapes (see [`crate::sim::answer`])
//! around candle generation, run on the model threads ([`Runtime::run`]).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use bytes::Bytes;
use serde_json::{Value, json};

use super::Runtime;
use super::generate::{Generation, Params, Sampling, Token};
use super::load::{Loaded, Network};
use crate::sim::answer::{self, Generator, Output};
use crate::sim::backend::ModelError;
use crate::sim::chat::{self, Route};
use crate::sim::tgi;

/// A loaded model and the runtime whose threads it generates on. Clones share both.
#[derive(Clone)]
pub struct RealModel {
    pub runtime: Arc<Runtime>,
    pub loaded: Arc<Loaded>,
}

impl PartialEq for RealModel {
    fn eq(&self, other: &RealModel) -> bool {
        Arc::ptr_eq(&self.loaded, &other.loaded)
    }
}

impl std::fmt::Debug for RealModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RealModel({:?})", self.loaded)
    }
}

impl RealModel {
    /// Answers one `/invocations` body (TGI's JSON), waiting for the model threads' turn.
    pub async fn answer(
        &self,
        body: Bytes,
        limits: &tgi::Limits,
        route: Route,
        model_id: &str,
    ) -> Result<String, ModelError> {
        let loaded = self.loaded.clone();
        let (limits, model_id) = (limits.clone(), model_id.to_string());
        let answered = self
            .runtime
            .run(move |stop| {
                let real = Real {
                    model: &loaded,
                    stop,
                };
                answer::answer(&body, &limits, route, &model_id, &real)
            })
            .await
            .map_err(|e| ModelError::generation(&e))?;
        answered.map(|(text, _)| text)
    }
}

/// The [`Generator`] of a loaded model for one request.
struct Real<'a> {
    model: &'a Loaded,
    stop: &'a AtomicBool,
}

impl Real<'_> {
    fn ids(&self, inputs: &str, special: bool) -> Result<Vec<u32>, ModelError> {
        self.model
            .tokenizer
            .encode(inputs, special)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| ModelError::validation(format!("the input could not be tokenized: {e}")))
    }
}

/// TGI samples when asked to, or when any warper would change the distribution
/// (`NextTokenChooser`: `do_sample or has_warpers`).
fn sampling(p: &tgi::Parameters) -> Option<Sampling> {
    let warped = p.temperature.is_some_and(|t| t != 1.0)
        || p.top_k.is_some()
        || p.top_p.is_some()
        || p.typical_p.is_some();
    (p.do_sample || warped).then(|| Sampling {
        seed: p.seed.unwrap_or_else(rand::random),
        temperature: p.temperature.unwrap_or(1.0),
        top_k: p.top_k.and_then(|k| usize::try_from(k).ok()),
        top_p: p.top_p,
    })
}

fn token_json(t: &Token) -> Value {
    json!({ "id": t.id, "text": t.text, "logprob": t.logprob, "special": t.special })
}

impl Generator for Real<'_> {
    fn count(&self, request: &tgi::Request) -> Result<usize, ModelError> {
        Ok(self.ids(&request.inputs, request.add_special_tokens)?.len())
    }

    fn chat_prompt(&self, chat: &chat::ChatRequest) -> Result<String, ModelError> {
        let Some(template) = &self.model.chat_template else {
            return Err(ModelError::no_chat_template());
        };
        let messages: Vec<Value> = chat
            .messages
            .iter()
            .map(|m| json!({ "role": m.role, "content": m.content.clone().unwrap_or(Value::Null) }))
            .collect();
        let bos = self.model.bos_token.as_deref();
        let eos = self.model.eos_token.as_deref();
        super::template::render(template, &messages, bos, eos).map_err(|e| ModelError {
            status: 422,
            body: Bytes::from(json!({ "error": e, "error_type": "template_error" }).to_string()),
            log: None,
        })
    }

    fn generate(&self, request: &tgi::Request, valid: tgi::Valid) -> Result<Output, ModelError> {
        let p = &request.parameters;
        let mut ids = self.ids(&request.inputs, request.add_special_tokens)?;
        if let Some(keep) = p.truncate.filter(|t| *t < ids.len()) {
            ids.drain(..ids.len() - keep);
        }
        let params = Params {
            max_new_tokens: valid.max_new_tokens,
            sampling: sampling(p),
            repetition_penalty: p.repetition_penalty,
            stop: p.stop.clone(),
            top_n_tokens: p.top_n_tokens.unwrap_or(0),
            min_new_tokens: 0,
        };
        let g = self
            .model
            .generate(&ids, &params, self.stop)
            .map_err(|e| ModelError::generation(&e))?;
        let text = if p.return_full_text == Some(true) {
            format!("{}{}", request.inputs, g.text)
        } else {
            g.text.clone()
        };
        Ok(Output {
            details: self.details(&g, &params, &ids, p.decoder_input_details),
            text,
            generated: g.text,
            finish: g.finish.tgi(),
            generated_tokens: g.tokens.len(),
        })
    }
}

impl Real<'_> {
    /// TGI's `Details`: finish reason, token count, the seed when sampling, the prefill when
    /// asked for (the prompt's tokens for a decoder, the decoder's start token for T5; without
    /// log-probabilities), each token with its log-probability, and the top tokens if asked.
    fn details(&self, g: &Generation, params: &Params, prompt: &[u32], prefill: bool) -> Value {
        let prefill: Vec<Value> = if !prefill {
            Vec::new()
        } else {
            let ids = match &self.model.network {
                Network::T5(_, start) => vec![*start],
                _ => prompt.to_vec(),
            };
            (0..ids.len())
                .map(|i| json!({ "id": ids[i], "text": self.model.piece(&ids[..=i]), "logprob": null }))
                .collect()
        };
        let mut details = json!({
            "finish_reason": g.finish.tgi(),
            "generated_tokens": g.tokens.len(),
            "seed": params.sampling.as_ref().map(|s| s.seed),
            "prefill": prefill,
            "tokens": g.tokens.iter().map(token_json).collect::<Vec<_>>(),
        });
        if params.top_n_tokens > 0 {
            details["top_tokens"] = g
                .top_tokens
                .iter()
                .map(|step| step.iter().map(token_json).collect::<Vec<_>>())
                .collect::<Vec<_>>()
                .into();
        }
        details
    }
}
