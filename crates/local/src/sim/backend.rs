//! What answers an invocation: the built-in TGI-shaped generator, or a proxy to a real
//! TGI-compatible server. Chosen per model through its container environment.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;

use super::answer::{self, Simulated};
use super::chat::{self, Route};
use super::clock::Clock;
use super::startup::FailureKind;
use super::tgi;

/// Model environment variables the local cloud understands (documented in the README).
pub const ENV_BACKEND: &str = "EBB_LOCAL_BACKEND";
pub const ENV_PROXY_URL: &str = "EBB_LOCAL_PROXY_URL";
pub const ENV_TOKEN_LATENCY_MS: &str = "EBB_LOCAL_TOKEN_LATENCY_MS";
pub const ENV_FAIL_STARTUP: &str = "EBB_LOCAL_FAIL_STARTUP";
/// A known failure to play, one of the kinds [`FailureKind`] lists (see [`super::startup`]).
pub const ENV_FAILURE: &str = "EBB_LOCAL_FAILURE";

const DEFAULT_TOKEN_LATENCY_MS: u64 = 20;

#[derive(Debug, Clone, PartialEq)]
pub enum Backend {
    Builtin {
        token_latency: Duration,
        /// The TGI release and launcher limits its request validation follows.
        limits: tgi::Limits,
        /// A start-up failure to simulate (the model "cannot load"), or the TGI router's own
        /// (an unreadable `MESSAGES_API_ENABLED`).
        fail_startup: Option<String>,
        /// Which bodies `/invocations` takes (see [`chat::route`]).
        route: Route,
        /// The model's `HF_MODEL_ID`, which chat answers name.
        model_id: String,
        /// A failure the model plays when invoked (`oom-request`, `no-chat-template`).
        failure: Option<FailureKind>,
    },
    Proxy {
        url: http::Uri,
    },
    /// A real model on this computer's CPU (see [`crate::model`]), checked and answered as
    /// the TGI release in the image checks and answers.
    Model {
        real: crate::model::serve::RealModel,
        limits: tgi::Limits,
        route: Route,
        model_id: String,
    },
}

/// A failed invocation: what the container answered, as SageMaker would record it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelError {
    pub status: u16,
    pub body: Bytes,
    /// The line TGI's router logs for this error, if it logs one.
    pub log: Option<String>,
}

impl ModelError {
    pub(crate) fn validation(message: impl Into<String>) -> ModelError {
        ModelError {
            status: 422,
            body: Bytes::from(
                json!({ "error": message.into(), "error_type": "validation" }).to_string(),
            ),
            log: None,
        }
    }

    /// TGI's answer to a generation that runs out of GPU memory: `InferError::GenerationError`,
    /// HTTP 424 (Failed Dependency) with `error_type` `generation`, which the router also logs
    /// at ERROR (`router/src/server.rs`, `router/src/infer/mod.rs`).
    fn generation_oom() -> ModelError {
        let error = "Request failed during generation: Server error: CUDA out of memory. Tried to allocate 1.50 GiB. GPU 0 has a total capacity of 22.05 GiB of which 312.00 MiB is free.";
        ModelError {
            status: 424,
            body: Bytes::from(json!({ "error": error, "error_type": "generation" }).to_string()),
            log: Some(format!("ERROR text_generation_router::infer: {error}")),
        }
    }

    /// TGI's answer to a chat body when the tokenizer has no chat template:
    /// `InferError::TemplateError` (minijinja's "template not found"), HTTP 422.
    pub(crate) fn no_chat_template() -> ModelError {
        ModelError {
            status: 422,
            body: Bytes::from(
                json!({ "error": "Template error: template not found", "error_type": "template_error" })
                    .to_string(),
            ),
            log: None,
        }
    }

    /// TGI's answer to a generation that failed (`InferError::GenerationError`, HTTP 424).
    pub(crate) fn generation(error: &str) -> ModelError {
        let error = format!("Request failed during generation: Server error: {error}");
        ModelError {
            status: 424,
            body: Bytes::from(json!({ "error": error, "error_type": "generation" }).to_string()),
            log: Some(format!("ERROR text_generation_router::infer: {error}")),
        }
    }

    pub fn message(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A successful answer: bytes and their content type.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub body: Bytes,
    pub content_type: String,
}

impl Backend {
    /// Reads the backend choice from a model's container environment (no image: the built-in
    /// model validates requests as the newest TGI in the image table).
    pub fn from_env(env: &BTreeMap<String, String>) -> Result<Backend, String> {
        Backend::for_model(env, None)
    }

    /// [`Backend::from_env`] for a model whose container image is `image`: the built-in model
    /// validates requests as the TGI release named in the image tag (`...-tgi1.1.0-...`).
    pub fn for_model(
        env: &BTreeMap<String, String>,
        image: Option<&str>,
    ) -> Result<Backend, String> {
        let failure = FailureKind::from_env(env)?;
        let proxy = env.get(ENV_PROXY_URL).filter(|v| !v.trim().is_empty());
        let kind = env
            .get(ENV_BACKEND)
            .map(|s| s.trim().to_ascii_lowercase())
            .unwrap_or_else(|| if proxy.is_some() { "proxy" } else { "builtin" }.into());
        match kind.as_str() {
            // A real model starts from the built-in one's TGI release, limits and route (see
            // `crate::model::Runtime::prepare`, which decides at the container's start).
            "builtin" | "model" | "auto" => {
                let token_latency = match env.get(ENV_TOKEN_LATENCY_MS) {
                    None => DEFAULT_TOKEN_LATENCY_MS,
                    Some(v) => v.trim().parse().map_err(|_| {
                        format!("{ENV_TOKEN_LATENCY_MS} must be a whole number of milliseconds, not `{v}`")
                    })?,
                };
                let limits = tgi::Limits::from_env(env, image);
                let (route, router_failure) = match chat::route(env, limits.version) {
                    Ok(route) => (route, None),
                    Err(e) => (Route::Generate, Some(e)),
                };
                Ok(Backend::Builtin {
                    token_latency: Duration::from_millis(token_latency),
                    fail_startup: env.get(ENV_FAIL_STARTUP).cloned().or(router_failure),
                    route,
                    model_id: env.get("HF_MODEL_ID").cloned().unwrap_or_default(),
                    limits,
                    failure,
                })
            }
            "proxy" => {
                let raw = proxy.ok_or_else(|| {
                    format!("{ENV_BACKEND}=proxy needs {ENV_PROXY_URL} (for example http://127.0.0.1:8080/)")
                })?;
                let url: http::Uri = raw
                    .trim()
                    .parse()
                    .map_err(|e| format!("{ENV_PROXY_URL} `{raw}` is not a URL: {e}"))?;
                if url.scheme_str() != Some("http") || url.host().is_none() {
                    return Err(format!(
                        "{ENV_PROXY_URL} `{raw}` must be an http:// URL with a host"
                    ));
                }
                Ok(Backend::Proxy { url })
            }
            other => Err(format!(
                "{ENV_BACKEND} is `{other}`; use `model` (a real model), `builtin` (simulated answers) or `proxy`"
            )),
        }
    }

    /// This backend answering with `real` instead of simulated words (a built-in one keeps
    /// its TGI release, limits and route; others are returned as they are).
    pub fn with_model(self, real: crate::model::serve::RealModel) -> Backend {
        match self {
            Backend::Builtin {
                limits,
                route,
                model_id,
                ..
            } => Backend::Model {
                real,
                limits,
                route,
                model_id,
            },
            other => other,
        }
    }

    /// What the container's start-up health check would find.
    pub async fn start(&self) -> Result<(), String> {
        match self {
            Backend::Model { .. } => Ok(()),
            Backend::Builtin { fail_startup, .. } => match fail_startup {
                Some(reason) => Err(reason.clone()),
                None => Ok(()),
            },
            Backend::Proxy { url } => {
                let host = url.host().unwrap_or("127.0.0.1");
                let port = url.port_u16().unwrap_or(80);
                let connect = tokio::net::TcpStream::connect((host, port));
                match tokio::time::timeout(Duration::from_secs(3), connect).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(format!("the model server at {url} did not answer: {e}")),
                    Err(_) => Err(format!(
                        "the model server at {url} did not answer within 3 s"
                    )),
                }
            }
        }
    }

    pub async fn invoke(
        &self,
        clock: &Clock,
        body: Bytes,
        content_type: Option<&str>,
        accept: Option<&str>,
    ) -> Result<Answer, ModelError> {
        match self {
            Backend::Builtin {
                token_latency,
                limits,
                route,
                model_id,
                failure,
                ..
            } => {
                let simulated = Simulated {
                    template: *failure != Some(FailureKind::NoChatTemplate),
                };
                let (text, tokens) = answer::answer(&body, limits, *route, model_id, &simulated)?;
                if *failure == Some(FailureKind::OomRequest) {
                    return Err(ModelError::generation_oom());
                }
                clock.sleep(*token_latency * tokens as u32).await;
                Ok(Answer {
                    body: Bytes::from(text),
                    content_type: "application/json".into(),
                })
            }
            Backend::Proxy { url } => proxy(url, body, content_type, accept).await,
            Backend::Model {
                real,
                limits,
                route,
                model_id,
            } => {
                let text = real.answer(body, limits, *route, model_id).await?;
                Ok(Answer {
                    body: Bytes::from(text),
                    content_type: "application/json".into(),
                })
            }
        }
    }
}

async fn proxy(
    url: &http::Uri,
    body: Bytes,
    content_type: Option<&str>,
    accept: Option<&str>,
) -> Result<Answer, ModelError> {
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let unreachable = |e: String| ModelError {
        status: 502,
        body: Bytes::from(json!({ "error": e, "error_type": "proxy" }).to_string()),
        log: None,
    };
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = http::Request::post(url.clone()).header(
        http::header::CONTENT_TYPE,
        content_type.unwrap_or("application/json"),
    );
    if let Some(accept) = accept {
        request = request.header(http::header::ACCEPT, accept);
    }
    let request = request
        .body(Full::new(body))
        .map_err(|e| unreachable(e.to_string()))?;
    let response = client
        .request(request)
        .await
        .map_err(|e| unreachable(format!("could not reach the model server at {url}: {e}")))?;
    let status = response.status();
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| unreachable(format!("the model server's answer broke off: {e}")))?
        .to_bytes();
    if status.is_success() {
        Ok(Answer { body, content_type })
    } else {
        Err(ModelError {
            status: status.as_u16(),
            body,
            log: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// A generate body answered by the simulated generator.
    fn generate(body: &[u8], limits: &tgi::Limits) -> Result<(String, u64), ModelError> {
        let simulated = Simulated { template: true };
        answer::answer(body, limits, Route::Generate, "m", &simulated)
    }

    /// Any body answered by the simulated generator (`template`: it has a chat template).
    fn answer(
        body: &[u8],
        limits: &tgi::Limits,
        (route, template): (Route, bool),
        model_id: &str,
    ) -> Result<(String, u64), ModelError> {
        answer::answer(body, limits, route, model_id, &Simulated { template })
    }

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn generator_is_deterministic_and_honours_max_new_tokens() {
        let req = br#"{"inputs": "What is the capital of the United States?", "parameters": {"max_new_tokens": 50}}"#;
        let (a, n) = generate(req, &tgi::Limits::default()).unwrap();
        let (b, _) = generate(req, &tgi::Limits::default()).unwrap();
        assert_eq!(a, b);
        assert_eq!(n, 50);
        let v: Value = serde_json::from_str(&a).unwrap();
        let text = v[0]["generated_text"].as_str().unwrap();
        assert_eq!(text.split(' ').count(), 50);
        let (_, default_n) = generate(br#"{"inputs": "hi"}"#, &tgi::Limits::default()).unwrap();
        assert_eq!(default_n, u64::from(tgi::DEFAULT_MAX_NEW_TOKENS));
    }

    #[test]
    fn malformed_requests_fail_like_tgi() {
        for (body, needle) in [
            (&b"not json"[..], "Failed to deserialize"),
            (br#"{"prompt": "x"}"#, "missing field `inputs`"),
            (
                br#"{"inputs": "x", "parameters": {"temperature": 0}}"#,
                "`temperature` must be strictly positive",
            ),
            (
                br#"{"inputs": "x", "parameters": {"max_new_tokens": 0}}"#,
                "strictly positive",
            ),
            (
                br#"{"inputs": "x", "parameters": {"max_new_tokens": 5000}}"#,
                "must be <= 2048",
            ),
        ] {
            let err = generate(body, &tgi::Limits::default()).unwrap_err();
            assert_eq!(err.status, 422);
            assert!(err.message().contains(needle), "{}", err.message());
        }
    }

    const CHAT: &[u8] = br#"{"model":"tgi","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"What is the capital of France?"}],"max_tokens":12,"seed":7}"#;

    fn builtin(pairs: &[(&str, &str)], tgi: &str) -> (tgi::Limits, Route, Option<String>) {
        let image = format!("x:2.1.1-tgi{tgi}-gpu");
        match Backend::for_model(&env(pairs), Some(&image)).unwrap() {
            Backend::Builtin {
                limits,
                route,
                fail_startup,
                ..
            } => (limits, route, fail_startup),
            other => unreachable!("no proxy configured, no model loaded: {other:?}"),
        }
    }

    #[test]
    fn the_messages_api_answers_chat_bodies_in_openais_shape() {
        let on = [(chat::ENV_MESSAGES_API, "true")];
        let (limits, route, _) = builtin(&on, "2.3.1");
        assert_eq!(route, Route::Chat);
        let (a, tokens) = answer(CHAT, &limits, (route, true), "google/flan-t5-xxl").unwrap();
        let (b, _) = answer(CHAT, &limits, (route, true), "google/flan-t5-xxl").unwrap();
        let (a, b): (Value, Value) = (
            serde_json::from_str(&a).unwrap(),
            serde_json::from_str(&b).unwrap(),
        );
        assert_eq!(tokens, 12);
        assert_eq!(a["object"], "chat.completion");
        assert_eq!(a["model"], "google/flan-t5-xxl");
        let choice = &a["choices"][0];
        assert_eq!(choice["message"]["role"], "assistant");
        assert_eq!(choice["finish_reason"], "length");
        let content = choice["message"]["content"].as_str().unwrap();
        assert_eq!(content.split(' ').count(), 12);
        assert_eq!(content, b["choices"][0]["message"]["content"], "seeded");
        // The prompt "system: Be brief.\nuser: What is the capital of France?\nassistant:"
        // is 11 words, the simulator's tokens.
        assert_eq!(a["usage"]["prompt_tokens"], 11);
        assert_eq!(a["usage"]["completion_tokens"], 12);
        assert_eq!(a["usage"]["total_tokens"], 23);
        // TGI's checks apply to the request it makes of the chat body.
        let five_stops = br#"{"model":"tgi","messages":[{"role":"user","content":"hi"}],"stop":["a","b","c","d","e"]}"#;
        let err = answer(five_stops, &limits, (route, true), "m").unwrap_err();
        assert_eq!(err.status, 422);
        let v: Value = serde_json::from_slice(&err.body).unwrap();
        assert_eq!(v["error_type"], "validation");
        // With the switch on, TGI 1.4 to 2.3 route /invocations to chat only.
        let generate_body = br#"{"inputs":"hi"}"#;
        let err = answer(generate_body, &limits, (route, true), "m").unwrap_err();
        assert!(
            err.message().contains("missing field `messages`"),
            "{}",
            err.message()
        );
        // Before 2.1 TGI called the object a text completion.
        let (old, route, _) = builtin(&on, "1.4.5");
        let (a, _) = answer(CHAT, &old, (route, true), "m").unwrap();
        assert!(a.contains(r#""object":"text_completion""#), "{a}");
    }

    #[test]
    fn without_the_switch_a_chat_body_is_refused_as_tgi_refuses_it() {
        let (limits, route, _) = builtin(&[], "2.3.1");
        assert_eq!(route, Route::Generate);
        let err = answer(CHAT, &limits, (route, true), "m").unwrap_err();
        assert_eq!(err.status, 422);
        assert!(
            err.message().starts_with(
                "Failed to deserialize the JSON body into the target type: missing field `inputs`"
            ),
            "{}",
            err.message()
        );
        // From TGI 2.4 /invocations takes either body, with or without the switch.
        let (limits, route, _) = builtin(&[], "3.0.1");
        assert!(answer(CHAT, &limits, (route, true), "m").is_ok());
        let (generated, _) = answer(br#"{"inputs":"hi"}"#, &limits, (route, true), "m").unwrap();
        assert!(generated.contains("generated_text"), "{generated}");
        let err = answer(br#"{"text":"hi"}"#, &limits, (route, true), "m").unwrap_err();
        assert!(err.message().contains("untagged enum SagemakerRequest"));
        // A value clap does not read as a boolean stops the router at start-up.
        let (_, _, failure) = builtin(&[(chat::ENV_MESSAGES_API, "1")], "2.0.1");
        assert!(failure.is_some_and(|f| f.contains("invalid value '1'")));
    }

    #[test]
    fn backend_choice_comes_from_the_model_environment() {
        assert!(matches!(
            Backend::from_env(&env(&[])),
            Ok(Backend::Builtin { .. })
        ));
        assert!(matches!(
            Backend::from_env(&env(&[(ENV_PROXY_URL, "http://127.0.0.1:8080/")])),
            Ok(Backend::Proxy { .. })
        ));
        let err = Backend::from_env(&env(&[(ENV_BACKEND, "proxy")])).unwrap_err();
        assert!(err.contains(ENV_PROXY_URL), "{err}");
        let err = Backend::from_env(&env(&[(ENV_PROXY_URL, "https://x/")])).unwrap_err();
        assert!(err.contains("http://"), "{err}");
        let err = Backend::from_env(&env(&[(ENV_TOKEN_LATENCY_MS, "fast")])).unwrap_err();
        assert!(err.contains("milliseconds"), "{err}");
    }
}
