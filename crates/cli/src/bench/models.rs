//! Tokens per second of local mode's real models: tiny random T5 and Llama models (and the
//! smallest real model in the Hugging Face cache that fits, when there is one), each against
//! the same greedy generation in Hugging Face transformers on the CPU with as many threads,
//! measured in the same run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use ebb_local::model::family::{Family, human_parameters};
use ebb_local::model::generate::Params;
use ebb_local::model::load::Loaded;
use ebb_local::model::{Prepared, Runtime, Settings, tiny};

use super::BenchArgs;

/// The demo folder's first prompt.
const PROMPT: &str = "What is the capital of the United States?";

/// One model's figures.
pub struct ModelFigures {
    /// What was measured: "tiny random T5 (57K parameters)".
    pub name: String,
    /// Ebb's tokens per second, or why not measured.
    pub ebb: Result<f64, String>,
    /// transformers' tokens per second (and its version), or why it is missing.
    pub transformers: Result<(f64, String), String>,
    pub threads: usize,
}

/// A model to measure: its id, family and snapshot folder.
struct Subject {
    id: String,
    family: Family,
    snapshot: PathBuf,
    tiny: bool,
}

/// Every model row: the tiny models, then the smallest cached real model that fits.
pub async fn measure(args: &BenchArgs, work: &Path) -> Vec<ModelFigures> {
    let cache = work.join("hf-hub");
    let mut subjects = Vec::new();
    // flan-t5-small's sizes (its config.json), so one row is as much work per token as a real
    // small model.
    let small_t5 = serde_json::json!({"vocab_size": 32128, "d_model": 512, "d_kv": 64, "d_ff": 1024,
        "num_heads": 6, "num_layers": 8, "num_decoder_layers": 8, "relative_attention_num_buckets": 32,
        "relative_attention_max_distance": 128});
    let made = [
        ("ebb-bench/tiny-t5", Family::T5, serde_json::Value::Null),
        (
            "ebb-bench/tiny-llama",
            Family::Llama,
            serde_json::Value::Null,
        ),
        ("ebb-bench/t5-small-sized", Family::T5, small_t5),
    ];
    for (id, family, sizes) in made {
        match tiny::write_sized(&cache, id, family, &sizes) {
            Ok(snapshot) => subjects.push(Subject {
                id: id.into(),
                family,
                snapshot,
                tiny: true,
            }),
            Err(e) => eprintln!("could not write {id}: {e}"),
        }
    }
    let user = Settings::from_env();
    if let Some(real) = smallest_cached(&user) {
        subjects.push(real);
    }
    let mut figures = Vec::new();
    for s in subjects {
        eprintln!("model tokens/s: {}…", s.id);
        let settings = Settings {
            hub_cache: if s.tiny {
                cache.clone()
            } else {
                user.hub_cache.clone()
            },
            offline: true,
            ..user.clone()
        };
        figures.push(one(args, &s, settings).await);
    }
    figures
}

/// The smallest model in the user's cache that runs here, if any.
fn smallest_cached(settings: &Settings) -> Option<Subject> {
    let best = ebb_local::model::runnable(settings)
        .into_iter()
        .filter(|m| m.cached && m.fits)
        .min_by_key(|m| m.parameters)?;
    let snapshot = ebb_local::model::hub::cached_models(&settings.hub_cache)
        .into_iter()
        .find(|(id, _)| *id == best.model_id)?
        .1;
    Some(Subject {
        id: best.model_id,
        family: best.family,
        snapshot,
        tiny: false,
    })
}

async fn one(args: &BenchArgs, s: &Subject, settings: Settings) -> ModelFigures {
    let threads = settings.threads;
    let runtime = Runtime::new(settings);
    let env = [
        ("HF_MODEL_ID".to_string(), s.id.clone()),
        ("EBB_LOCAL_BACKEND".into(), "model".into()),
    ];
    let prepared = runtime.prepare(&env.into_iter().collect(), &|_| {}).await;
    let (name, ebb) = match prepared {
        Prepared::Real(loaded) => {
            let kind = if s.tiny { "random " } else { "" };
            let name = format!(
                "{kind}{} {} ({} parameters)",
                s.family.name(),
                s.id,
                human_parameters(loaded.parameters)
            );
            (name, tokens_per_s(args, &runtime, loaded).await)
        }
        other => (s.id.clone(), Err(format!("did not load: {other:?}"))),
    };
    ModelFigures {
        name,
        ebb,
        transformers: transformers(args, s, threads),
        threads,
    }
}

/// Greedy generation of exactly `--model-tokens` tokens, `--model-requests` times after a
/// warm-up, on the runtime's threads.
async fn tokens_per_s(
    args: &BenchArgs,
    runtime: &Runtime,
    loaded: Arc<Loaded>,
) -> Result<f64, String> {
    let ids = loaded
        .tokenizer
        .encode(PROMPT, true)
        .map_err(|e| e.to_string())?
        .get_ids()
        .to_vec();
    let params = Params {
        max_new_tokens: args.model_tokens,
        min_new_tokens: args.model_tokens,
        ..Params::default()
    };
    let mut generated = 0;
    let mut started = Instant::now();
    for i in 0..=args.model_requests {
        let (loaded, ids, params) = (loaded.clone(), ids.clone(), params.clone());
        let g = runtime
            .run(move |stop| loaded.generate(&ids, &params, stop))
            .await??;
        if i == 0 {
            started = Instant::now();
        } else {
            generated += g.tokens.len();
        }
    }
    Ok(generated as f64 / started.elapsed().as_secs_f64())
}

/// The baseline from `scripts/bench_transformers.py`, or why it is missing.
fn transformers(args: &BenchArgs, s: &Subject, threads: usize) -> Result<(f64, String), String> {
    let python = args
        .models_python
        .clone()
        .unwrap_or_else(|| PathBuf::from(".venv-models/bin/python"));
    if !python.exists() {
        return Err(format!(
            "transformers is not installed ({} is missing; `bash scripts/bench.sh` installs torch and transformers there)",
            python.display()
        ));
    }
    let family = match s.family {
        Family::T5 => "t5",
        Family::Llama => "llama",
        Family::Qwen2 => "qwen2",
    };
    let out = std::process::Command::new(&python)
        .arg("scripts/bench_transformers.py")
        .arg(&s.snapshot)
        .args([family, PROMPT])
        .args([
            args.model_tokens.to_string(),
            args.model_requests.to_string(),
            threads.to_string(),
        ])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or_default();
        return Err(format!("transformers failed: {last}"));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("transformers printed no figures: {e}"))?;
    let tps = v["tokens_per_s"]
        .as_f64()
        .ok_or("transformers printed no tokens_per_s")?;
    let version = format!(
        "transformers {}, torch {}",
        v["transformers"].as_str().unwrap_or("?"),
        v["torch"].as_str().unwrap_or("?")
    );
    Ok((tps, version))
}
