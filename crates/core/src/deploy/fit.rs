//! Will the model fit the instance? A size check before deploy: the model's weights (parameter
//! count × bytes per parameter) against the memory of the GPUs TGI shards it over, with room
//! left for the KV cache.
//!
//! The rule, kept simple on purpose: TGI fills the memory the weights leave with the KV cache
//! (its `--max-batch-total-tokens` is sized from it), plus CUDA's own context and activations.
//! Weights up to half the GPU memory *fit*; up to 90% they load but leave little for the KV
//! cache (*tight*: short inputs, small batches); beyond that they *do not fit*.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalog::instances::InstanceInfo;
use crate::deploy::spec::GPUS_VAR;

/// Share of GPU memory the weights may take and still leave ample room for the KV cache.
pub const FITS_SHARE: f64 = 0.5;
/// Share beyond which the weights leave too little for TGI to start.
pub const TIGHT_SHARE: f64 = 0.9;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum FitVerdict {
    Fits,
    /// Loads, with little memory left for the KV cache.
    Tight,
    DoesNotFit,
    /// The parameter count or the instance's GPU memory is not known.
    Unknown,
}

/// The size check's answer: the verdict and one sentence for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct FitCheck {
    pub verdict: FitVerdict,
    /// e.g. `flan-t5-xxl (11B, 16-bit ≈ 22 GB) fits ml.g5.12xlarge (4 × 24 GB)`.
    pub sentence: String,
    /// The parameter count used, when known (from the Hub or typed); a float so that the
    /// desktop app's TypeScript reads it as a number.
    pub params: Option<f64>,
    /// The weights' size, GB (10⁹ bytes), when known.
    pub weights_gb: Option<f64>,
}

/// How the weights are held in GPU memory: a label and bytes per parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeightFormat {
    pub label: &'static str,
    pub bytes_per_param: f64,
    /// Pre-quantised checkpoints (AWQ, GPTQ, …): the Hub counts their packed tensors, so their
    /// stored size is the better measure.
    pub prequantized: bool,
}

const fn format(label: &'static str, bytes_per_param: f64, prequantized: bool) -> WeightFormat {
    WeightFormat {
        label,
        bytes_per_param,
        prequantized,
    }
}

/// The format from the model's environment: `HF_MODEL_QUANTIZE` (the SageMaker image passes it
/// to TGI as `QUANTIZE`) or `QUANTIZE`, with TGI launcher's `--quantize` values
/// (text-generation-inference `launcher/src/main.rs`, `Quantization`); else `DTYPE`
/// (`--dtype`); else 16-bit, TGI's default for CUDA.
pub fn weight_format(env: &BTreeMap<String, String>) -> WeightFormat {
    let get = |k: &str| env.get(k).map(|v| v.trim().to_ascii_lowercase());
    if let Some(q) = get("HF_MODEL_QUANTIZE").or_else(|| get("QUANTIZE")) {
        match q.as_str() {
            "bitsandbytes" => return format("bitsandbytes 8-bit", 1.0, false),
            "bitsandbytes-nf4" => return format("bitsandbytes-nf4", 0.5, false),
            "bitsandbytes-fp4" => return format("bitsandbytes-fp4", 0.5, false),
            "eetq" => return format("eetq", 1.0, false),
            "fp8" => return format("fp8", 1.0, false),
            "awq" => return format("awq", 0.5, true),
            "gptq" => return format("gptq", 0.5, true),
            "marlin" => return format("marlin", 0.5, true),
            "exl2" => return format("exl2", 0.5, true),
            "compressed-tensors" => return format("compressed-tensors", 1.0, true),
            _ => {}
        }
    }
    match get("DTYPE").as_deref() {
        Some("float32") => format("float32", 4.0, false),
        Some("bfloat16") => format("bf16", 2.0, false),
        Some("float16") => format("fp16", 2.0, false),
        _ => format("16-bit", 2.0, false),
    }
}

/// What is known of the model's size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelSize {
    pub params: u64,
    /// Bytes of the checkpoint's tensors as stored, when the Hub gave per-dtype counts.
    pub stored_bytes: Option<u64>,
}

/// `11B`, `6.7B`, `780M`: the count as people say it.
pub fn params_label(params: u64) -> String {
    let b = params as f64 / 1e9;
    if b >= 10.0 {
        format!("{b:.0}B")
    } else if b >= 1.0 {
        format!("{b:.1}B").replace(".0B", "B")
    } else {
        format!("{:.0}M", params as f64 / 1e6)
    }
}

/// A typed parameter count: `11B`, `6.7b`, `780M`, `1.5T` or a plain number.
pub fn parse_params(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (number, scale) = match t.char_indices().last() {
        Some((i, 'b' | 'B')) => (&t[..i], 1e9),
        Some((i, 'm' | 'M')) => (&t[..i], 1e6),
        Some((i, 't' | 'T')) => (&t[..i], 1e12),
        _ => (t, 1.0),
    };
    match number.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 && n * scale >= 1.0 => Ok((n * scale).round() as u64),
        _ => Err(format!(
            "`{text}` is not a parameter count: write it like 11B, 6.7B or 780M."
        )),
    }
}

/// The GPUs TGI shards over: `SM_NUM_GPUS` when it is a count the instance has, else all.
fn gpus_used(env: &BTreeMap<String, String>, instance: &InstanceInfo) -> u32 {
    env.get(GPUS_VAR)
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|n| (1..=instance.gpus).contains(n))
        .unwrap_or(instance.gpus)
}

/// The last segment of a Hub id: `google/flan-t5-xxl` → `flan-t5-xxl`.
fn short_name(model_id: &str) -> &str {
    model_id.rsplit('/').next().unwrap_or(model_id)
}

/// Judges `size` of `model_id`, held as `env` says, on `instance`.
pub fn judge(
    model_id: &str,
    size: ModelSize,
    env: &BTreeMap<String, String>,
    instance: &InstanceInfo,
) -> FitCheck {
    let fmt = weight_format(env);
    let weights_gb = match (fmt.prequantized, size.stored_bytes) {
        (true, Some(bytes)) => bytes as f64 / 1e9,
        _ => size.params as f64 * fmt.bytes_per_param / 1e9,
    };
    let gpus = gpus_used(env, instance);
    let memory_gb = f64::from(gpus * instance.gpu_memory_gb);
    let share = weights_gb / memory_gb;
    let verdict = if share <= FITS_SHARE {
        FitVerdict::Fits
    } else if share <= TIGHT_SHARE {
        FitVerdict::Tight
    } else {
        FitVerdict::DoesNotFit
    };
    let what = format!(
        "{} ({}, {} ≈ {:.0} GB)",
        short_name(model_id),
        params_label(size.params),
        fmt.label,
        weights_gb
    );
    let on = format!("{} ({gpus} × {} GB)", instance.name, instance.gpu_memory_gb);
    let sentence = match verdict {
        FitVerdict::Fits => format!("{what} fits {on}"),
        FitVerdict::Tight => format!(
            "{what} fits {on} only tightly: about {:.0} GB is left for the KV cache, so expect short inputs and small batches, or choose a larger instance",
            memory_gb - weights_gb
        ),
        _ => format!(
            "{what} does not fit {on}: choose an instance with more GPU memory, or quantise (HF_MODEL_QUANTIZE)"
        ),
    };
    FitCheck {
        verdict,
        sentence,
        params: Some(size.params as f64),
        weights_gb: Some(weights_gb),
    }
}

/// The check when the size cannot be judged: `why` says what is missing.
pub fn unknown(model_id: &str, why: &str) -> FitCheck {
    FitCheck {
        verdict: FitVerdict::Unknown,
        sentence: format!("size of {} unknown: {why}", short_name(model_id)),
        params: None,
        weights_gb: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::instances::find;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn verdict(params: &str, pairs: &[(&str, &str)], instance: &str) -> FitVerdict {
        let size = ModelSize {
            params: parse_params(params).unwrap(),
            stored_bytes: None,
        };
        judge("org/m", size, &env(pairs), find(instance).unwrap()).verdict
    }

    /// Parameters, the model's environment, instance type, expected verdict.
    type Row<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str, FitVerdict);

    #[test]
    fn models_against_instances() {
        use FitVerdict::*;
        let bf16 = [("DTYPE", "bfloat16")];
        let awq = [("HF_MODEL_QUANTIZE", "awq")];
        let table: &[Row] = &[
            ("7B", &bf16, "ml.g5.xlarge", Tight),
            ("7B", &awq, "ml.g5.xlarge", Fits),
            ("11B", &[], "ml.g5.12xlarge", Fits),
            ("11B", &[], "ml.g5.xlarge", DoesNotFit),
            ("11B", &[("DTYPE", "float32")], "ml.g6e.xlarge", DoesNotFit),
            ("70B", &bf16, "ml.g5.12xlarge", DoesNotFit),
            ("70B", &awq, "ml.g5.12xlarge", Fits),
            (
                "70B",
                &[("QUANTIZE", "bitsandbytes")],
                "ml.g5.12xlarge",
                Tight,
            ),
            ("70B", &bf16, "ml.g5.48xlarge", Tight),
            ("70B", &bf16, "ml.p4d.24xlarge", Fits),
            ("70B", &bf16, "ml.p5.48xlarge", Fits),
            ("8B", &bf16, "ml.g6e.xlarge", Fits),
            ("2B", &[], "ml.g4dn.xlarge", Fits),
            // SM_NUM_GPUS=1 shards over one of the four GPUs only.
            ("11B", &[("SM_NUM_GPUS", "1")], "ml.g5.12xlarge", DoesNotFit),
        ];
        for (params, pairs, instance, want) in table {
            assert_eq!(
                verdict(params, pairs, instance),
                *want,
                "{params} {pairs:?} on {instance}"
            );
        }
    }

    #[test]
    fn the_sentence_names_model_size_and_instance() {
        let size = ModelSize {
            params: 11_135_332_352,
            stored_bytes: None,
        };
        let check = judge(
            "google/flan-t5-xxl",
            size,
            &env(&[("DTYPE", "bfloat16")]),
            find("ml.g5.12xlarge").unwrap(),
        );
        assert_eq!(
            check.sentence,
            "flan-t5-xxl (11B, bf16 ≈ 22 GB) fits ml.g5.12xlarge (4 × 24 GB)"
        );
        let small = judge("m", size, &env(&[]), find("ml.g5.xlarge").unwrap());
        assert!(
            small
                .sentence
                .contains("does not fit ml.g5.xlarge (1 × 24 GB)")
        );
    }

    #[test]
    fn prequantized_checkpoints_are_measured_as_stored() {
        // The Hub counts AWQ's packed int32 tensors: 70B weights show as ~10B "parameters".
        let size = ModelSize {
            params: 10_000_000_000,
            stored_bytes: Some(36_000_000_000),
        };
        let g5 = find("ml.g5.12xlarge").unwrap();
        let check = judge("m", size, &env(&[("HF_MODEL_QUANTIZE", "awq")]), g5);
        assert_eq!(check.weights_gb, Some(36.0));
        assert_eq!(check.verdict, FitVerdict::Fits);
    }

    #[test]
    fn counts_are_read_and_written_as_people_say_them() {
        assert_eq!(parse_params("11B"), Ok(11_000_000_000));
        assert_eq!(parse_params(" 6.7b "), Ok(6_700_000_000));
        assert_eq!(parse_params("780M"), Ok(780_000_000));
        assert_eq!(parse_params("1000"), Ok(1000));
        assert!(parse_params("eleven").is_err());
        assert!(parse_params("-3B").is_err());
        assert!(parse_params("").is_err());
        assert_eq!(params_label(11_135_332_352), "11B");
        assert_eq!(params_label(6_738_415_616), "6.7B");
        assert_eq!(params_label(7_000_000_000), "7B");
        assert_eq!(params_label(783_150_080), "783M");
    }

    #[test]
    fn the_format_follows_quantize_then_dtype() {
        assert_eq!(weight_format(&env(&[])).bytes_per_param, 2.0);
        let f32 = env(&[("DTYPE", "float32")]);
        assert_eq!(weight_format(&f32).bytes_per_param, 4.0);
        let both = env(&[
            ("DTYPE", "float32"),
            ("HF_MODEL_QUANTIZE", "bitsandbytes-nf4"),
        ]);
        assert_eq!(weight_format(&both).bytes_per_param, 0.5);
        assert_eq!(weight_format(&env(&[("QUANTIZE", "EETQ")])).label, "eetq");
    }
}
