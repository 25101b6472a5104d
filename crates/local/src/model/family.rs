//! Which model architectures the local cloud runs for real, how much memory one needs, and
//! which small sibling to suggest when a model is too large for this computer.
//!
//! The architecture is read from the model's `config.json` as `transformers` reads it
//! (`model_type`, <https://huggingface.co/docs/transformers/main_classes/configuration>).

use serde::Deserialize;
use serde_json::Value;

/// A model family the local cloud generates with (candle's implementations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// T5 encoder-decoder models (`model_type` `t5`): the seed's flan-t5 and its siblings.
    T5,
    /// Llama-family decoders (`model_type` `llama`): SmolLM2, TinyLlama, Llama.
    Llama,
    /// Qwen2 decoders (`model_type` `qwen2`): Qwen2 and Qwen2.5.
    Qwen2,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::T5 => "T5",
            Family::Llama => "Llama",
            Family::Qwen2 => "Qwen2",
        }
    }
}

/// What the local cloud runs, for messages: "T5, Llama or Qwen2".
pub const SUPPORTED: &str = "T5 (flan-t5), Llama (SmolLM2, TinyLlama) or Qwen2 (Qwen2.5)";

/// A `config.json` the local cloud cannot run: its `model_type` (or architectures).
#[derive(Debug, Clone, PartialEq)]
pub struct Unsupported(pub String);

/// The family of a model from its `config.json`.
pub fn family_of(config: &Value) -> Result<Family, Unsupported> {
    let model_type = config
        .get("model_type")
        .and_then(Value::as_str)
        .unwrap_or("");
    match model_type {
        "t5" if config.get("is_encoder_decoder") != Some(&Value::Bool(false)) => Ok(Family::T5),
        "llama" => Ok(Family::Llama),
        "qwen2" => Ok(Family::Qwen2),
        "" => Err(Unsupported(
            config
                .get("architectures")
                .map(Value::to_string)
                .unwrap_or_else(|| "no model_type".into()),
        )),
        other => Err(Unsupported(other.to_string())),
    }
}

// Sizes as floats: a crafted config.json's huge numbers must not overflow (see `parameters`).
#[derive(Deserialize)]
struct T5Sizes {
    vocab_size: f64,
    d_model: f64,
    d_kv: f64,
    d_ff: f64,
    num_heads: f64,
    num_layers: f64,
    num_decoder_layers: Option<f64>,
    #[serde(default)]
    feed_forward_proj: String,
    tie_word_embeddings: Option<bool>,
}

#[derive(Deserialize)]
struct DecoderSizes {
    vocab_size: f64,
    hidden_size: f64,
    intermediate_size: f64,
    num_hidden_layers: f64,
    num_attention_heads: f64,
    num_key_value_heads: Option<f64>,
    #[serde(default)]
    tie_word_embeddings: bool,
}

/// More parameters than any model has (10 trillion): sizes beyond it are not believed.
const MAX_PARAMETERS: f64 = 1e13;

/// The model's parameter count, from its `config.json` (the weights' shapes as candle loads
/// them; norms and biases are counted too). `None` when the sizes are missing or past belief.
pub fn parameters(family: Family, config: &Value) -> Option<u64> {
    let count = match family {
        Family::T5 => t5_parameters(&serde_json::from_value(config.clone()).ok()?),
        Family::Llama | Family::Qwen2 => {
            decoder_parameters(&serde_json::from_value(config.clone()).ok()?)
        }
    };
    (count.is_finite() && (0.0..MAX_PARAMETERS).contains(&count)).then_some(count as u64)
}

fn t5_parameters(c: &T5Sizes) -> f64 {
    let inner = c.num_heads * c.d_kv;
    let gated = c.feed_forward_proj.starts_with("gated");
    let ff = if gated { 3.0 } else { 2.0 } * c.d_model * c.d_ff;
    let encoder = 4.0 * c.d_model * inner + ff + 2.0 * c.d_model;
    let decoder = 8.0 * c.d_model * inner + ff + 3.0 * c.d_model;
    let embeddings = c.vocab_size * c.d_model;
    let tied = c.tie_word_embeddings.unwrap_or(true);
    let head = if tied { 0.0 } else { embeddings };
    let decoders = c.num_decoder_layers.unwrap_or(c.num_layers);
    embeddings + head + c.num_layers * encoder + decoders * decoder
}

fn decoder_parameters(c: &DecoderSizes) -> f64 {
    let head_dim = c.hidden_size / c.num_attention_heads.max(1.0);
    let kv = c.num_key_value_heads.unwrap_or(c.num_attention_heads) * head_dim;
    let attention = 2.0 * c.hidden_size * c.hidden_size + 2.0 * c.hidden_size * kv;
    let layer = attention + 3.0 * c.hidden_size * c.intermediate_size + 2.0 * c.hidden_size;
    let embeddings = c.vocab_size * c.hidden_size;
    let head = if c.tie_word_embeddings {
        0.0
    } else {
        embeddings
    };
    embeddings + head + c.num_hidden_layers * layer + c.hidden_size
}

/// Bytes of memory a model of `parameters` takes on this computer's CPU: its weights as
/// 32-bit floats (how candle runs them on a CPU), a tenth more for activations and caches,
/// and 256 MiB for the tokenizer and the runtime.
pub fn memory_needed(parameters: u64) -> u64 {
    let weights = parameters.saturating_mul(4);
    weights
        .saturating_add(weights / 10)
        .saturating_add(256 << 20)
}

/// Large models whose size is known without their `config.json` (so a start offline can
/// still say they are too large, and name a sibling): the seed's and its large sibling.
const LARGE: &[(&str, Family, u64)] = &[
    ("google/flan-t5-xl", Family::T5, 2_850_000_000),
    ("google/flan-t5-xxl", Family::T5, 11_300_000_000),
];

/// The family and parameter count of a model in [`LARGE`].
pub fn known_large(model_id: &str) -> Option<(Family, u64)> {
    LARGE
        .iter()
        .find(|(id, _, _)| *id == model_id)
        .map(|(_, family, parameters)| (*family, *parameters))
}

/// A small model known to run on a laptop's CPU, suggested when the one asked for is too
/// large. Sizes are of the Hub's `model.safetensors` files.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Known {
    pub model_id: &'static str,
    pub family: Family,
    pub parameters: u64,
    /// Bytes to download (the weights).
    pub download_bytes: u64,
    /// Whether the tokenizer has a chat template (the Messages API works).
    pub chat: bool,
}

/// The siblings suggested, smallest first in each family.
pub const KNOWN: &[Known] = &[
    Known {
        model_id: "google/flan-t5-small",
        family: Family::T5,
        parameters: 77_000_000,
        download_bytes: 308_000_000,
        chat: false,
    },
    Known {
        model_id: "google/flan-t5-base",
        family: Family::T5,
        parameters: 248_000_000,
        download_bytes: 990_000_000,
        chat: false,
    },
    Known {
        model_id: "google/flan-t5-large",
        family: Family::T5,
        parameters: 783_000_000,
        download_bytes: 3_130_000_000,
        chat: false,
    },
    Known {
        model_id: "HuggingFaceTB/SmolLM2-135M-Instruct",
        family: Family::Llama,
        parameters: 135_000_000,
        download_bytes: 269_000_000,
        chat: true,
    },
    Known {
        model_id: "HuggingFaceTB/SmolLM2-360M-Instruct",
        family: Family::Llama,
        parameters: 362_000_000,
        download_bytes: 724_000_000,
        chat: true,
    },
    Known {
        model_id: "Qwen/Qwen2.5-0.5B-Instruct",
        family: Family::Qwen2,
        parameters: 494_000_000,
        download_bytes: 988_000_000,
        chat: true,
    },
];

/// The largest known sibling of `family` that fits in `budget` bytes, else the largest of
/// any family that does.
pub fn sibling_that_fits(family: Family, budget: u64) -> Option<&'static Known> {
    let fits = |k: &&Known| memory_needed(k.parameters) <= budget;
    let largest = |it: Vec<&'static Known>| it.into_iter().max_by_key(|k| k.parameters);
    largest(
        KNOWN
            .iter()
            .filter(|k| k.family == family)
            .filter(fits)
            .collect(),
    )
    .or_else(|| largest(KNOWN.iter().filter(fits).collect()))
}

/// Bytes as people read them: `1.2 GB`, `308 MB`.
pub fn human_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.0} MB", b / 1e6)
    } else {
        format!("{:.0} kB", b / 1e3)
    }
}

/// Parameters as people read them: `11.1B`, `248M`.
pub fn human_parameters(parameters: u64) -> String {
    if parameters >= 1_000_000_000 {
        format!("{:.1}B", parameters as f64 / 1e9)
    } else if parameters >= 1_000_000 {
        format!("{}M", parameters / 1_000_000)
    } else {
        format!("{}K", parameters / 1_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// flan-t5-xxl's and flan-t5-base's config.json (the sizes), and SmolLM2-135M's.
    #[test]
    fn parameters_match_the_published_model_sizes() {
        let xxl = json!({"model_type":"t5","vocab_size":32128,"d_model":4096,"d_kv":64,"d_ff":10240,
            "num_heads":64,"num_layers":24,"feed_forward_proj":"gated-gelu","tie_word_embeddings":false});
        let p = parameters(family_of(&xxl).unwrap(), &xxl).unwrap();
        assert!((11_000_000_000..11_400_000_000).contains(&p), "{p}");
        let base = json!({"model_type":"t5","vocab_size":32128,"d_model":768,"d_kv":64,"d_ff":2048,
            "num_heads":12,"num_layers":12,"feed_forward_proj":"gated-gelu","tie_word_embeddings":false});
        let p = parameters(Family::T5, &base).unwrap();
        assert!((240_000_000..256_000_000).contains(&p), "{p}");
        let smol = json!({"model_type":"llama","vocab_size":49152,"hidden_size":576,"intermediate_size":1536,
            "num_hidden_layers":30,"num_attention_heads":9,"num_key_value_heads":3,"tie_word_embeddings":true});
        let p = parameters(family_of(&smol).unwrap(), &smol).unwrap();
        assert!((130_000_000..140_000_000).contains(&p), "{p}");
    }

    #[test]
    fn sizes_past_belief_are_refused_not_overflowed() {
        let crafted = json!({"model_type":"llama","vocab_size":1e10,"hidden_size":1e10,
            "intermediate_size":1e10,"num_hidden_layers":1e10,"num_attention_heads":1});
        assert_eq!(parameters(Family::Llama, &crafted), None);
        assert_eq!(memory_needed(u64::MAX), u64::MAX);
    }

    #[test]
    fn unknown_architectures_are_named() {
        let bert = json!({"model_type":"bert"});
        assert_eq!(family_of(&bert), Err(Unsupported("bert".into())));
        let qwen = json!({"model_type":"qwen2"});
        assert_eq!(family_of(&qwen), Ok(Family::Qwen2));
    }

    #[test]
    fn the_sibling_suggested_fits_and_is_of_the_same_family_when_one_does() {
        let gb = 1_000_000_000;
        let s = sibling_that_fits(Family::T5, 16 * gb).unwrap();
        assert_eq!(s.model_id, "google/flan-t5-large");
        let s = sibling_that_fits(Family::T5, 2 * gb).unwrap();
        assert_eq!(s.model_id, "google/flan-t5-base");
        let s = sibling_that_fits(Family::Qwen2, 2 * gb).unwrap();
        assert_eq!(s.model_id, "HuggingFaceTB/SmolLM2-360M-Instruct");
        assert!(sibling_that_fits(Family::T5, 100_000_000).is_none());
    }
}
