//! Tiny models with random weights, written in the Hugging Face cache's layout with a
//! matching tokenizer, for tests and the benchmark: the real load-and-generate path without
//! a download. Their answers are random words, but real tokens from a real network.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::{llama, qwen2, t5};
use serde_json::{Value, json};
use tokenizers::models::wordlevel::WordLevel;
use tokenizers::pre_tokenizers::whitespace::Whitespace;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, Tokenizer};

use super::family::Family;

/// The commit every tiny model's snapshot is filed under.
pub const COMMIT: &str = "0000000000000000000000000000000000e66b00";

const WORDS: &str = "the a of and to in is it that was for on are with as at be this by from or have an they which one you were her all she there would their we him been has when who will more no if out so said what up its about into than them can only other new some could time these two may then do first any my now such like our over man me even most made after also did many before must through back years where much your way well down should because each just those people";

/// ChatML, the template SmolLM2 and Qwen2.5 use.
pub const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

fn config(family: Family) -> Value {
    match family {
        Family::T5 => json!({
            "model_type": "t5", "architectures": ["T5ForConditionalGeneration"],
            "vocab_size": 128, "d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 2,
            "num_decoder_layers": 2, "num_heads": 4, "relative_attention_num_buckets": 8,
            "relative_attention_max_distance": 16, "dropout_rate": 0.0, "layer_norm_epsilon": 1e-6,
            "initializer_factor": 1.0, "feed_forward_proj": "gated-gelu", "tie_word_embeddings": false,
            "is_encoder_decoder": true, "use_cache": true, "pad_token_id": 0, "eos_token_id": 1,
            "decoder_start_token_id": 0
        }),
        Family::Llama => json!({
            "model_type": "llama", "architectures": ["LlamaForCausalLM"],
            "vocab_size": 128, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5,
            "rope_theta": 10000.0, "max_position_embeddings": 2048, "bos_token_id": 1,
            "eos_token_id": 4, "tie_word_embeddings": true
        }),
        Family::Qwen2 => json!({
            "model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"],
            "vocab_size": 128, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-6,
            "rope_theta": 10000.0, "max_position_embeddings": 2048, "sliding_window": 2048,
            "max_window_layers": 2, "use_sliding_window": false, "hidden_act": "silu",
            "eos_token_id": 4, "tie_word_embeddings": true
        }),
    }
}

/// Special tokens first, then words, up to the vocabulary's 128 entries.
fn vocabulary(family: Family) -> Vec<String> {
    let specials: &[&str] = match family {
        Family::T5 => &["<pad>", "</s>", "<unk>"],
        Family::Llama | Family::Qwen2 => &["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"],
    };
    let mut vocab: Vec<String> = specials.iter().map(|s| s.to_string()).collect();
    vocab.extend(WORDS.split_whitespace().map(str::to_string));
    vocab.extend(["user", "assistant", "system", "?", ".", ","].map(str::to_string));
    vocab.truncate(128);
    vocab
}

fn tokenizer(family: Family) -> Result<Tokenizer, String> {
    let vocab = vocabulary(family);
    let unk = vocab
        .iter()
        .find(|t| t.as_str() == "<unk>")
        .cloned()
        .unwrap_or_default();
    let ids: HashMap<String, u32> = vocab
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let model = WordLevel::builder()
        .vocab(ids.into_iter().collect())
        .unk_token(unk)
        .build()
        .map_err(|e| e.to_string())?;
    let mut tokenizer = Tokenizer::new(model);
    tokenizer.with_pre_tokenizer(Some(Whitespace {}));
    let specials: Vec<AddedToken> = vocab
        .iter()
        .filter(|t| t.starts_with('<'))
        .map(|t| AddedToken::from(t.clone(), true))
        .collect();
    tokenizer
        .add_special_tokens(specials)
        .map_err(|e| e.to_string())?;
    // As the real tokenizers do: T5 ends a text with `</s>`, Llama starts one with `<s>`.
    let (template, token) = match family {
        Family::T5 => ("$A </s>", "</s>"),
        Family::Llama | Family::Qwen2 => ("<s> $A", "<s>"),
    };
    let id = vocab.iter().position(|t| t == token).unwrap_or(0) as u32;
    let processor = TemplateProcessing::builder()
        .try_single(template)
        .map_err(|e| e.to_string())?
        .special_tokens(vec![(token.to_string(), id)])
        .build()
        .map_err(|e| e.to_string())?;
    tokenizer.with_post_processor(Some(processor));
    Ok(tokenizer)
}

fn random_weights(family: Family, config: &Value, path: &Path) -> Result<(), String> {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let e = |e: candle_core::Error| e.to_string();
    let c = config.clone();
    match family {
        Family::T5 => {
            let c: t5::Config = serde_json::from_value(c).map_err(|e| e.to_string())?;
            t5::T5ForConditionalGeneration::load(vb, &c).map_err(e)?;
        }
        Family::Llama => {
            let c: llama::LlamaConfig = serde_json::from_value(c).map_err(|e| e.to_string())?;
            llama::Llama::load(vb, &c.into_config(false)).map_err(e)?;
        }
        Family::Qwen2 => {
            let c: qwen2::Config = serde_json::from_value(c).map_err(|e| e.to_string())?;
            qwen2::ModelForCausalLM::new(&c, vb).map_err(e)?;
        }
    }
    seeded(&varmap).map_err(e)?;
    varmap.save(path).map_err(e)
}

/// Replaces the random starting values with values from a fixed seed, at the same scale, so
/// a tiny model answers the same from run to run (candle's CPU generator cannot be seeded).
/// Constant tensors (norms' ones) are kept.
fn seeded(varmap: &VarMap) -> candle_core::Result<()> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(23);
    let data = varmap
        .data()
        .lock()
        .map_err(|_| candle_core::Error::Msg("poisoned".into()))?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in names {
        let var = &data[name];
        let values = var.flatten_all()?.to_vec1::<f32>()?;
        let mean = values.iter().sum::<f32>() / values.len().max(1) as f32;
        let spread =
            values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / values.len().max(1) as f32;
        if spread == 0.0 {
            continue;
        }
        let scale = (3.0 * spread).sqrt();
        let fresh: Vec<f32> = (0..values.len())
            .map(|_| mean + scale * rng.random_range(-1.0f32..1.0))
            .collect();
        var.set(&candle_core::Tensor::from_vec(
            fresh,
            var.shape(),
            &Device::Cpu,
        )?)?;
    }
    Ok(())
}

/// The snapshot folder `model_id` has (or gets) in `hub_cache`, with `refs/main` naming it.
pub fn snapshot_dir(hub_cache: &Path, model_id: &str) -> Result<PathBuf, String> {
    let repo = hub_cache.join(format!("models--{}", model_id.replace('/', "--")));
    let snapshot = repo.join("snapshots").join(COMMIT);
    std::fs::create_dir_all(&snapshot).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(repo.join("refs")).map_err(|e| e.to_string())?;
    std::fs::write(repo.join("refs").join("main"), COMMIT).map_err(|e| e.to_string())?;
    Ok(snapshot)
}

/// Writes a tiny random `family` model as `model_id` into `hub_cache` (`$HF_HOME/hub`):
/// `config.json`, `tokenizer.json`, `tokenizer_config.json` (with ChatML for the decoders)
/// and `model.safetensors`. Returns the snapshot folder.
pub fn write(hub_cache: &Path, model_id: &str, family: Family) -> Result<PathBuf, String> {
    write_sized(hub_cache, model_id, family, &Value::Null)
}

/// [`write`] with the sizes in `sizes` (e.g. `{"d_model": 512, "num_layers": 8}`) in place of
/// the tiny ones: a random model as large as a real one, for timing.
pub fn write_sized(
    hub_cache: &Path,
    model_id: &str,
    family: Family,
    sizes: &Value,
) -> Result<PathBuf, String> {
    let snapshot = snapshot_dir(hub_cache, model_id)?;
    let mut config = config(family);
    if let (Some(config), Some(sizes)) = (config.as_object_mut(), sizes.as_object()) {
        config.extend(sizes.clone());
    }
    let io = |e: std::io::Error| e.to_string();
    std::fs::write(snapshot.join("config.json"), config.to_string()).map_err(io)?;
    tokenizer(family)?
        .save(snapshot.join("tokenizer.json"), false)
        .map_err(|e| e.to_string())?;
    let tokenizer_config = match family {
        Family::T5 => json!({ "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>" }),
        _ => json!({ "bos_token": "<s>", "eos_token": "<|im_end|>", "chat_template": CHATML }),
    };
    std::fs::write(
        snapshot.join("tokenizer_config.json"),
        tokenizer_config.to_string(),
    )
    .map_err(io)?;
    random_weights(family, &config, &snapshot.join("model.safetensors"))?;
    Ok(snapshot)
}

/// Writes only a `config.json` (for models that must not load: too large, or of another
/// architecture).
pub fn write_config(hub_cache: &Path, model_id: &str, config: &Value) -> Result<PathBuf, String> {
    let snapshot = snapshot_dir(hub_cache, model_id)?;
    std::fs::write(snapshot.join("config.json"), config.to_string()).map_err(|e| e.to_string())?;
    Ok(snapshot)
}
