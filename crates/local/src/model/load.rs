//! A model loaded with candle from its snapshot's files: weights (safetensors, one file or
//! shards), `config.json`, `tokenizer.json`, and the optional `tokenizer_config.json`
//! (special tokens, chat template) and `generation_config.json` (end-of-sequence ids).

use std::path::PathBuf;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use candle_transformers::models::{llama, qwen2, t5};
use serde_json::Value;
use tokenizers::Tokenizer;

use super::family::Family;

/// The network, in the form each family's generation needs. Cloning one shares its
/// weights (candle's tensors are reference-counted) and gives the clone its own caches.
#[derive(Clone)]
pub enum Network {
    T5(t5::T5ForConditionalGeneration, u32),
    Llama(llama::Llama, llama::Config),
    Qwen2(qwen2::ModelForCausalLM),
}

/// One loaded model: every instance of every endpoint serving it shares this.
pub struct Loaded {
    pub model_id: String,
    pub family: Family,
    pub network: Network,
    pub tokenizer: Tokenizer,
    /// Token ids that end a generation.
    pub eos: Vec<u32>,
    /// The chat template, if the tokenizer has one (Jinja, as `transformers` renders it).
    pub chat_template: Option<String>,
    pub bos_token: Option<String>,
    pub eos_token: Option<String>,
    pub parameters: u64,
    /// The tokenizer's special tokens (TGI's `special` in a token's details).
    pub special: std::collections::HashSet<u32>,
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Loaded({}, {})", self.model_id, self.family.name())
    }
}

/// The files one model is loaded from.
pub struct Files {
    pub config: PathBuf,
    pub tokenizer: PathBuf,
    pub tokenizer_config: Option<PathBuf>,
    pub generation_config: Option<PathBuf>,
    /// A `chat_template.jinja` beside the tokenizer (newer repositories keep it there).
    pub chat_template: Option<PathBuf>,
    pub weights: Vec<PathBuf>,
}

fn read_json(path: &PathBuf) -> Result<Value, String> {
    let text =
        std::fs::read(path).map_err(|e| format!("{} could not be read: {e}", path.display()))?;
    serde_json::from_slice(&text).map_err(|e| format!("{} is not valid JSON: {e}", path.display()))
}

/// A special token's text in `tokenizer_config.json`: a string or `{"content": ...}`.
fn token_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

/// `eos_token_id` as a number or a list of numbers.
fn ids(v: Option<&Value>) -> Vec<u32> {
    match v {
        Some(Value::Number(n)) => n.as_u64().map(|n| n as u32).into_iter().collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_u64)
            .map(|n| n as u32)
            .collect(),
        _ => Vec::new(),
    }
}

/// Loads `model_id` of `family` from `files`. Errors are sentences for the endpoint's log.
pub fn load(
    model_id: &str,
    family: Family,
    files: &Files,
    parameters: u64,
) -> Result<Loaded, String> {
    let config = read_json(&files.config)?;
    let tokenizer = Tokenizer::from_file(&files.tokenizer)
        .map_err(|e| format!("{} could not be read: {e}", files.tokenizer.display()))?;
    let tokenizer_config = match &files.tokenizer_config {
        Some(p) => read_json(p)?,
        None => Value::Null,
    };
    let generation_config = match &files.generation_config {
        Some(p) => read_json(p)?,
        None => Value::Null,
    };
    let chat_template = match &files.chat_template {
        Some(p) => Some(std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?),
        None => tokenizer_config
            .get("chat_template")
            .and_then(chat_template_of),
    };
    let mut eos = ids(generation_config.get("eos_token_id"));
    eos.extend(ids(config.get("eos_token_id")));
    eos.sort_unstable();
    eos.dedup();
    // SAFETY: the files are the Hub cache's, which nothing rewrites in place (downloads go to
    // a temporary name and are renamed); candle maps them read-only.
    let vb =
        unsafe { VarBuilder::from_mmaped_safetensors(&files.weights, DType::F32, &Device::Cpu) }
            .map_err(|e| {
            let folder = files.config.parent().map(|p| p.display().to_string()).unwrap_or_default();
            format!(
                "its weights are not valid safetensors files ({e}); delete {folder} and fetch them again (`ebb local pull {model_id}`)"
            )
        })?;
    let network = network(family, &config, vb)?;
    let special = tokenizer
        .get_added_tokens_decoder()
        .into_iter()
        .filter(|(_, t)| t.special)
        .map(|(id, _)| id)
        .collect();
    Ok(Loaded {
        model_id: model_id.to_string(),
        family,
        network,
        tokenizer,
        eos,
        chat_template,
        special,
        bos_token: token_text(tokenizer_config.get("bos_token")),
        eos_token: token_text(tokenizer_config.get("eos_token")),
        parameters,
    })
}

/// `chat_template` is one template, or a list of named ones (the `default` is used).
fn chat_template_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(list) => list
            .iter()
            .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))
            .and_then(|t| t.get("template"))
            .and_then(Value::as_str)
            .map(str::to_string),
        _ => None,
    }
}

fn network(family: Family, config: &Value, vb: VarBuilder) -> Result<Network, String> {
    let bad_config = |e: serde_json::Error| {
        format!(
            "config.json does not describe a {} model: {e}",
            family.name()
        )
    };
    let bad_weights = |e: candle_core::Error| format!("the weights do not match config.json: {e}");
    // candle's Llama loader panics on a missing tensor instead of returning an error.
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match family {
        Family::T5 => {
            let c: t5::Config = serde_json::from_value(config.clone()).map_err(bad_config)?;
            let start = c.decoder_start_token_id.unwrap_or(c.pad_token_id) as u32;
            let m = t5::T5ForConditionalGeneration::load(vb, &c).map_err(bad_weights)?;
            Ok(Network::T5(m, start))
        }
        Family::Llama => {
            let c: llama::LlamaConfig =
                serde_json::from_value(config.clone()).map_err(bad_config)?;
            let c = c.into_config(false);
            let m = llama::Llama::load(vb, &c).map_err(bad_weights)?;
            Ok(Network::Llama(m, c))
        }
        Family::Qwen2 => {
            let c: qwen2::Config = serde_json::from_value(config.clone()).map_err(bad_config)?;
            let m = qwen2::ModelForCausalLM::new(&c, vb).map_err(bad_weights)?;
            Ok(Network::Qwen2(m))
        }
    }));
    caught.unwrap_or_else(|_| {
        Err("the weights do not match config.json (a tensor is missing)".into())
    })
}
