//! The real path end to end on tiny random models written into a temporary Hugging Face
//! cache: lookup, load, generation with each TGI parameter, TGI's shapes, and the reasons a
//! model stays simulated or fails.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};

use super::family::Family;
use super::serve::RealModel;
use super::{Prepared, Runtime, Settings, tiny};
use crate::sim::chat::Route;
use crate::sim::tgi;

fn settings(cache: &std::path::Path) -> Settings {
    Settings::offline_in(cache)
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn prepare(runtime: &Runtime, pairs: &[(&str, &str)]) -> (Prepared, Vec<String>) {
    let lines = std::sync::Mutex::new(Vec::new());
    let log = |l: String| lines.lock().unwrap().push(l);
    let prepared = runtime.prepare(&env(pairs), &log).await;
    (prepared, lines.into_inner().unwrap())
}

/// A runtime over a cache holding a tiny model of `family` as `ebb-test/tiny`.
async fn real(family: Family) -> (tempfile::TempDir, RealModel) {
    let cache = tempfile::tempdir().unwrap();
    tiny::write(cache.path(), "ebb-test/tiny", family).unwrap();
    let runtime = Runtime::new(settings(cache.path()));
    let (prepared, lines) = prepare(&runtime, &[("HF_MODEL_ID", "ebb-test/tiny")]).await;
    let Prepared::Real(loaded) = prepared else {
        panic!("not loaded: {prepared:?} {lines:?}");
    };
    assert!(
        lines.iter().any(|l| l.contains("Skipping download")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("runs for real")),
        "{lines:?}"
    );
    (cache, RealModel { runtime, loaded })
}

async fn ask(model: &RealModel, route: Route, body: Value) -> Result<Value, (u16, String)> {
    let limits = tgi::Limits::default();
    let body = Bytes::from(body.to_string());
    match model.answer(body, &limits, route, "ebb-test/tiny").await {
        Ok(text) => Ok(serde_json::from_str(&text).unwrap()),
        Err(e) => Err((e.status, e.message())),
    }
}

async fn generate(model: &RealModel, parameters: Value) -> Value {
    let body = json!({ "inputs": "what is the time of the day", "parameters": parameters });
    let answer = ask(model, Route::Generate, body).await.unwrap();
    answer[0].clone()
}

#[tokio::test]
async fn a_t5_model_generates_with_tgis_parameters_and_shapes() {
    let (_cache, model) = real(Family::T5).await;
    let greedy = generate(&model, json!({ "max_new_tokens": 6, "details": true })).await;
    let details = &greedy["details"];
    let tokens = details["tokens"].as_array().unwrap();
    let n = details["generated_tokens"].as_u64().unwrap() as usize;
    assert!((1..=6).contains(&n) && tokens.len() == n, "{greedy}");
    assert!(["length", "eos_token"].contains(&details["finish_reason"].as_str().unwrap()));
    assert!(
        tokens.iter().all(|t| t["logprob"].as_f64().unwrap() <= 0.0),
        "{greedy}"
    );
    assert_eq!(details["seed"], Value::Null, "greedy decoding has no seed");
    assert_eq!(
        greedy,
        generate(&model, json!({ "max_new_tokens": 6, "details": true })).await
    );
    // Sampling with a seed is reproducible and reports the seed.
    let seeded = json!({ "max_new_tokens": 8, "do_sample": true, "temperature": 1.5, "top_k": 50, "top_p": 0.95, "seed": 7, "details": true });
    let a = generate(&model, seeded.clone()).await;
    assert_eq!(a, generate(&model, seeded).await);
    assert_eq!(a["details"]["seed"], 7);
    // return_full_text puts the prompt first.
    let full = generate(
        &model,
        json!({ "max_new_tokens": 3, "return_full_text": true }),
    )
    .await;
    let text = full["generated_text"].as_str().unwrap();
    assert!(text.starts_with("what is the time of the day"), "{text}");
    // top_n_tokens: the most likely tokens at each step, most likely first.
    let top = generate(
        &model,
        json!({ "max_new_tokens": 3, "details": true, "top_n_tokens": 3 }),
    )
    .await;
    let steps = top["details"]["top_tokens"].as_array().unwrap();
    assert_eq!(
        steps.len(),
        top["details"]["tokens"].as_array().unwrap().len()
    );
    for step in steps {
        let lp: Vec<f64> = step
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["logprob"].as_f64().unwrap())
            .collect();
        assert_eq!(lp.len(), 3);
        assert!(lp.windows(2).all(|w| w[0] >= w[1]), "{lp:?}");
    }
}

#[tokio::test]
async fn a_stop_sequence_ends_the_generation_and_is_kept() {
    let (_cache, model) = real(Family::Llama).await;
    let long = generate(
        &model,
        json!({ "max_new_tokens": 12, "details": true, "repetition_penalty": 1.2 }),
    )
    .await;
    let tokens = long["details"]["tokens"].as_array().unwrap().clone();
    let word = tokens
        .iter()
        .skip(2)
        .map(|t| t["text"].as_str().unwrap().trim().to_string())
        .find(|w| !w.is_empty() && !w.starts_with('<'))
        .unwrap_or_else(|| panic!("a word among the tokens: {long}"));
    let stopped = generate(
        &model,
        json!({ "max_new_tokens": 12, "details": true, "repetition_penalty": 1.2, "stop": [word] }),
    )
    .await;
    assert_eq!(
        stopped["details"]["finish_reason"], "stop_sequence",
        "{stopped}"
    );
    let text = stopped["generated_text"].as_str().unwrap();
    assert!(text.ends_with(&word), "{text:?} should end with {word:?}");
    assert!(stopped["details"]["generated_tokens"].as_u64() < Some(12));
}

#[tokio::test]
async fn instruct_models_answer_chat_bodies_through_their_template() {
    for family in [Family::Llama, Family::Qwen2] {
        let (_cache, model) = real(family).await;
        let body = json!({ "model": "tgi", "messages": [{ "role": "user", "content": "what is the time" }], "max_tokens": 5, "seed": 3 });
        let chat = ask(&model, Route::Chat, body).await.unwrap();
        assert_eq!(chat["object"], "chat.completion");
        assert_eq!(chat["model"], "ebb-test/tiny");
        let choice = &chat["choices"][0];
        assert_eq!(choice["message"]["role"], "assistant");
        assert!(["stop", "length"].contains(&choice["finish_reason"].as_str().unwrap()));
        // "<|im_start|> user what is the time <|im_end|> <|im_start|> assistant": 9 tokens
        // (no `<s>` added: TGI tokenizes templated prompts without special tokens).
        assert_eq!(chat["usage"]["prompt_tokens"], 9, "{chat}");
        let completion = chat["usage"]["completion_tokens"].as_u64().unwrap();
        assert!((1..=5).contains(&completion), "{chat}");
    }
    // T5's tokenizer has no chat template: TGI refuses the body.
    let (_cache, t5) = real(Family::T5).await;
    let body = json!({ "model": "tgi", "messages": [{ "role": "user", "content": "hi" }] });
    let (status, message) = ask(&t5, Route::Chat, body).await.unwrap_err();
    assert_eq!(status, 422);
    assert!(message.contains("template not found"), "{message}");
}

#[tokio::test]
async fn tgis_checks_count_the_real_tokens() {
    let (_cache, model) = real(Family::T5).await;
    let limits = tgi::Limits {
        max_input_length: 3,
        ..tgi::Limits::default()
    };
    let body = Bytes::from(json!({ "inputs": "one two three four" }).to_string());
    let err = model
        .answer(body, &limits, Route::Generate, "m")
        .await
        .unwrap_err();
    assert_eq!(err.status, 422);
    // Four words and T5's end-of-sequence token.
    assert!(err.message().contains("Given: 5"), "{}", err.message());
}

#[tokio::test]
async fn endpoints_of_one_model_share_one_copy_of_its_weights() {
    let cache = tempfile::tempdir().unwrap();
    tiny::write(cache.path(), "ebb-test/tiny", Family::T5).unwrap();
    let runtime = Runtime::new(settings(cache.path()));
    let first = prepare(&runtime, &[("HF_MODEL_ID", "ebb-test/tiny")]).await;
    let second = prepare(&runtime, &[("HF_MODEL_ID", "ebb-test/tiny")]).await;
    match (first.0, second.0) {
        (Prepared::Real(a), Prepared::Real(b)) => assert!(Arc::ptr_eq(&a, &b)),
        other => panic!("{other:?}"),
    }
    assert!(
        second.1.iter().any(|l| l.contains("already in memory")),
        "{:?}",
        second.1
    );
}

#[tokio::test]
async fn models_that_cannot_run_stay_simulated_or_fail_with_a_reason() {
    let cache = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(settings(cache.path()));
    let missing = [("HF_MODEL_ID", "google/flan-t5-small")];
    let (prepared, _) = prepare(&runtime, &missing).await;
    let Prepared::Simulated(lines) = prepared else {
        panic!("{prepared:?}")
    };
    assert!(
        lines[0].contains("HF_HUB_OFFLINE") && lines[0].contains("google/flan-t5-small"),
        "{lines:?}"
    );
    let (prepared, _) = prepare(&runtime, &[missing[0], ("EBB_LOCAL_BACKEND", "model")]).await;
    let Prepared::Failed(why) = prepared else {
        panic!("{prepared:?}")
    };
    assert!(why.contains("not in the Hugging Face cache"), "{why}");
    // Another architecture.
    tiny::write_config(
        cache.path(),
        "ebb-test/bert",
        &json!({ "model_type": "bert" }),
    )
    .unwrap();
    let bert = [
        ("HF_MODEL_ID", "ebb-test/bert"),
        ("EBB_LOCAL_BACKEND", "model"),
    ];
    let (prepared, _) = prepare(&runtime, &bert).await;
    let Prepared::Failed(why) = prepared else {
        panic!("{prepared:?}")
    };
    assert!(why.contains("`bert`") && why.contains("T5"), "{why}");
    // Too large for the memory this runtime may use: simulated, naming a sibling that fits.
    let xxl = json!({"model_type":"t5","vocab_size":32128,"d_model":4096,"d_kv":64,"d_ff":10240,
        "num_heads":64,"num_layers":24,"feed_forward_proj":"gated-gelu","tie_word_embeddings":false});
    tiny::write_config(cache.path(), "google/flan-t5-xxl", &xxl).unwrap();
    let (prepared, _) = prepare(&runtime, &[("HF_MODEL_ID", "google/flan-t5-xxl")]).await;
    let Prepared::Simulated(lines) = prepared else {
        panic!("{prepared:?}")
    };
    assert!(
        lines[0].contains("11.1B parameters") && lines[0].contains("google/flan-t5-base"),
        "{lines:?}"
    );
    // Asked for simulated answers: no reason to give.
    let (prepared, lines) = prepare(
        &runtime,
        &[
            ("HF_MODEL_ID", "ebb-test/bert"),
            ("EBB_LOCAL_BACKEND", "builtin"),
        ],
    )
    .await;
    assert!(matches!(prepared, Prepared::Simulated(ref l) if l.is_empty()) && lines.is_empty());
}

#[tokio::test]
async fn weights_that_do_not_match_the_config_fail_the_load() {
    let cache = tempfile::tempdir().unwrap();
    let snapshot = tiny::write(cache.path(), "ebb-test/tiny", Family::Llama).unwrap();
    let mut config: Value =
        serde_json::from_slice(&std::fs::read(snapshot.join("config.json")).unwrap()).unwrap();
    config["num_hidden_layers"] = json!(3);
    std::fs::write(snapshot.join("config.json"), config.to_string()).unwrap();
    let runtime = Runtime::new(settings(cache.path()));
    let (prepared, _) = prepare(&runtime, &[("HF_MODEL_ID", "ebb-test/tiny")]).await;
    let Prepared::Failed(why) = prepared else {
        panic!("{prepared:?}")
    };
    assert!(
        why.contains("could not be loaded") && why.contains("do not match"),
        "{why}"
    );
}

#[tokio::test]
async fn a_cached_model_loads_without_the_network_even_when_not_told_offline() {
    let cache = tempfile::tempdir().unwrap();
    tiny::write(cache.path(), "ebb-test/tiny", Family::T5).unwrap();
    // Nothing answers on port 9: a Hub request would fail as with no network.
    let online = Settings {
        offline: false,
        ..settings(cache.path())
    };
    let runtime = Runtime::new(online);
    let (prepared, lines) = prepare(&runtime, &[("HF_MODEL_ID", "ebb-test/tiny")]).await;
    assert!(
        matches!(prepared, Prepared::Real(_)),
        "{prepared:?} {lines:?}"
    );
}

#[tokio::test]
async fn endpoints_starting_together_load_their_model_once() {
    let cache = tempfile::tempdir().unwrap();
    tiny::write(cache.path(), "ebb-test/tiny", Family::Llama).unwrap();
    let runtime = Runtime::new(settings(cache.path()));
    let env = [("HF_MODEL_ID", "ebb-test/tiny")];
    let (a, b) = tokio::join!(prepare(&runtime, &env), prepare(&runtime, &env));
    match (a.0, b.0) {
        (Prepared::Real(a), Prepared::Real(b)) => assert!(Arc::ptr_eq(&a, &b)),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_seeds_model_offline_is_still_named_too_large_with_a_sibling() {
    let cache = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(settings(cache.path()));
    let (prepared, _) = prepare(&runtime, &[("HF_MODEL_ID", "google/flan-t5-xxl")]).await;
    let Prepared::Simulated(lines) = prepared else {
        panic!("{prepared:?}")
    };
    assert!(
        lines[0].contains("11.3B parameters") && lines[0].contains("google/flan-t5-base"),
        "{lines:?}"
    );
}
