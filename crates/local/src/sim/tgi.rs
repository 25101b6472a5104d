//! TGI's request validation, as its router applies it before generating: the checks and
//! their wording follow `router/src/validation.rs` (and `ValidationError` in it) of
//! huggingface/text-generation-inference, for the releases in Ebb's image table (0.6 - 3.0).
//! A failed check is an HTTP 422 with `{"error": ..., "error_type": "validation"}`.

use std::collections::BTreeMap;

use serde::Deserialize;

/// TGI's launcher defaults (`launcher/src/main.rs`), used where the model sets no variable.
const DEFAULT_MAX_BEST_OF: usize = 2;
const DEFAULT_MAX_STOP_SEQUENCES: usize = 4;
const DEFAULT_MAX_TOP_N_TOKENS: u32 = 5;
const DEFAULT_MAX_INPUT_LENGTH: usize = 1024;
pub const DEFAULT_MAX_TOTAL_TOKENS: usize = 2048;
/// TGI's default when a request sets no `max_new_tokens` (TGI 0.x and 1.x; kept for later
/// releases too, so the simulated work stays small).
pub const DEFAULT_MAX_NEW_TOKENS: u32 = 20;

/// A TGI release, `(major, minor, patch)`; what a check depends on is noted where it is made.
pub type Version = (u32, u32, u32);
/// The release assumed when the image names none (the newest in the image table).
const LATEST: Version = (3, 0, 1);

/// What the TGI launcher was started with: its release and the limits its router enforces.
/// Read from the model's container environment, where the SageMaker TGI image takes them.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Which checks exist (`frequency_penalty` from 1.4.5, `top_n_tokens` from 1.0).
    pub version: Version,
    /// Largest `best_of` (`MAX_BEST_OF`, default 2).
    pub max_best_of: usize,
    /// Most `stop` sequences (`MAX_STOP_SEQUENCES`, default 4).
    pub max_stop_sequences: usize,
    /// Largest `top_n_tokens` (`MAX_TOP_N_TOKENS`, default 5).
    pub max_top_n_tokens: u32,
    /// Most prompt tokens, and the largest `truncate` (`MAX_INPUT_LENGTH`, default 1024).
    pub max_input_length: usize,
    /// Most prompt plus generated tokens (`MAX_TOTAL_TOKENS`, default 2048).
    pub max_total_tokens: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            version: LATEST,
            max_best_of: DEFAULT_MAX_BEST_OF,
            max_stop_sequences: DEFAULT_MAX_STOP_SEQUENCES,
            max_top_n_tokens: DEFAULT_MAX_TOP_N_TOKENS,
            max_input_length: DEFAULT_MAX_INPUT_LENGTH,
            max_total_tokens: DEFAULT_MAX_TOTAL_TOKENS,
        }
    }
}

/// The TGI release in a SageMaker TGI image URI (`...:2.0.1-tgi1.1.0-gpu-...` -> 1.1.0).
pub fn version_of(image: &str) -> Option<Version> {
    let tag = image.rsplit(':').next()?;
    let rest = &tag[tag.find("tgi")? + 3..];
    let version = rest.split('-').next()?;
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

impl Limits {
    /// Limits from the launcher's variables (`MAX_BEST_OF`, `MAX_STOP_SEQUENCES`,
    /// `MAX_TOP_N_TOKENS`, `MAX_INPUT_LENGTH` or `MAX_INPUT_TOKENS`, `MAX_TOTAL_TOKENS`);
    /// unreadable values fall back to TGI's defaults.
    pub fn from_env(env: &BTreeMap<String, String>, image: Option<&str>) -> Limits {
        let get = |k: &str| env.get(k).and_then(|v| v.trim().parse::<usize>().ok());
        let d = Limits::default();
        let max_total_tokens = get("MAX_TOTAL_TOKENS").unwrap_or(d.max_total_tokens);
        Limits {
            version: image.and_then(version_of).unwrap_or(LATEST),
            max_best_of: get("MAX_BEST_OF").unwrap_or(d.max_best_of),
            max_stop_sequences: get("MAX_STOP_SEQUENCES").unwrap_or(d.max_stop_sequences),
            max_top_n_tokens: get("MAX_TOP_N_TOKENS")
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(d.max_top_n_tokens),
            max_input_length: get("MAX_INPUT_TOKENS")
                .or_else(|| get("MAX_INPUT_LENGTH"))
                .unwrap_or_else(|| d.max_input_length.min(max_total_tokens.saturating_sub(1))),
            max_total_tokens,
        }
    }
}

/// The request body TGI's `/generate` (and SageMaker's `/invocations`) takes. Unknown fields
/// are ignored, as TGI ignores them; wrong types fail deserialization, as in TGI.
#[derive(Debug, Deserialize)]
pub struct Request {
    pub inputs: String,
    #[serde(default)]
    pub parameters: Parameters,
    /// Whether the tokenizer adds its special tokens (`<s>`, `</s>`) to `inputs`; TGI's
    /// `chat_completions` turns it off, the template having put them in (TGI 2.1 and later).
    #[serde(default = "yes")]
    pub add_special_tokens: bool,
}

fn yes() -> bool {
    true
}

/// `GenerateParameters` in TGI's `router/src/lib.rs`, with TGI's types (so the same JSON is
/// rejected with the same serde message).
#[derive(Debug, Default, Deserialize)]
pub struct Parameters {
    pub best_of: Option<usize>,
    pub temperature: Option<f32>,
    pub repetition_penalty: Option<f32>,
    pub frequency_penalty: Option<f32>,
    pub top_k: Option<i32>,
    pub top_p: Option<f32>,
    pub typical_p: Option<f32>,
    #[serde(default)]
    pub do_sample: bool,
    pub max_new_tokens: Option<u32>,
    pub return_full_text: Option<bool>,
    #[serde(default)]
    pub stop: Vec<String>,
    pub truncate: Option<usize>,
    #[serde(default)]
    pub watermark: bool,
    #[serde(default)]
    pub details: bool,
    #[serde(default)]
    pub decoder_input_details: bool,
    pub seed: Option<u64>,
    pub top_n_tokens: Option<u32>,
}

/// A request that passed: how many tokens to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Valid {
    pub max_new_tokens: u32,
}

/// Runs TGI's checks in TGI's order; `Err` is the message TGI answers with (HTTP 422).
/// `input_tokens` counts the prompt's tokens (the simulator's stand-in for the tokenizer).
pub fn validate(request: &Request, input_tokens: usize, limits: &Limits) -> Result<Valid, String> {
    let p = &request.parameters;
    check_best_of(p, limits)?;
    check_sampling(p, limits.version)?;
    let max_new_tokens = p.max_new_tokens.unwrap_or(DEFAULT_MAX_NEW_TOKENS);
    if p.max_new_tokens == Some(0) {
        return Err("`max_new_tokens` must be strictly positive".into());
    }
    if p.stop.len() > limits.max_stop_sequences {
        return Err(format!(
            "`stop` supports up to {} stop sequences. Given: {}",
            limits.max_stop_sequences,
            p.stop.len()
        ));
    }
    if p.seed.is_some() && p.best_of.unwrap_or(1) > 1 {
        return Err("`seed` must not be set when `best_of` > 1".into());
    }
    check_top_n_tokens(p, limits)?;
    if request.inputs.is_empty() {
        return Err("`inputs` cannot be empty".into());
    }
    let input_tokens = check_truncate(p, input_tokens, limits)?;
    check_lengths(input_tokens, max_new_tokens, limits)?;
    Ok(Valid { max_new_tokens })
}

/// `validate_best_of`, which TGI's `generate` runs before the other checks when `best_of` > 1.
fn check_best_of(p: &Parameters, limits: &Limits) -> Result<(), String> {
    let best_of = p.best_of.unwrap_or(1);
    if best_of <= 1 {
        return Ok(());
    }
    if limits.max_best_of == 1 {
        return Err("`best_of` != 1 is not allowed for this endpoint".into());
    }
    if best_of > limits.max_best_of {
        return Err(format!(
            "`best_of` must be > 0 and <= {}. Given: {best_of}",
            limits.max_best_of
        ));
    }
    let sampling = p.do_sample
        || p.temperature.is_some()
        || p.top_k.is_some()
        || p.top_p.is_some()
        || p.typical_p.is_some();
    if !sampling {
        return Err("you must use sampling when `best_of` is > 1".into());
    }
    Ok(())
}

/// The sampling parameters' ranges; `frequency_penalty` exists from TGI 1.4.5.
fn check_sampling(p: &Parameters, version: Version) -> Result<(), String> {
    if p.temperature.is_some_and(|t| t <= 0.0) {
        return Err("`temperature` must be strictly positive".into());
    }
    if p.repetition_penalty.is_some_and(|r| r <= 0.0) {
        return Err("`repetition_penalty` must be strictly positive".into());
    }
    if version >= (1, 4, 5)
        && p.frequency_penalty
            .is_some_and(|f| !(-2.0..=2.0).contains(&f))
    {
        return Err("`frequency_penalty` must be >= -2.0 and <= 2.0".into());
    }
    let open_unit = |v: f32| v > 0.0 && v < 1.0;
    if p.top_p.is_some_and(|v| !open_unit(v)) {
        return Err("`top_p` must be > 0.0 and < 1.0".into());
    }
    if p.typical_p.is_some_and(|v| !open_unit(v)) {
        return Err("`typical_p` must be > 0.0 and < 1.0".into());
    }
    if p.top_k.is_some_and(|k| k <= 0) {
        return Err("`top_k` must be strictly positive".into());
    }
    Ok(())
}

/// `top_n_tokens` exists from TGI 1.0.
fn check_top_n_tokens(p: &Parameters, limits: &Limits) -> Result<(), String> {
    match p.top_n_tokens {
        Some(n) if limits.version >= (1, 0, 0) && n > limits.max_top_n_tokens => Err(format!(
            "`top_n_tokens` must be >= 0 and <= {}. Given: {n}",
            limits.max_top_n_tokens
        )),
        _ => Ok(()),
    }
}

/// Checks `truncate` and returns the prompt's length after truncation.
fn check_truncate(p: &Parameters, input_tokens: usize, limits: &Limits) -> Result<usize, String> {
    match p.truncate {
        None => Ok(input_tokens),
        Some(t) if t == 0 || t > limits.max_input_length => Err(format!(
            "`truncate` must be strictly positive and less than {}. Given: {t}",
            limits.max_input_length
        )),
        Some(t) => Ok(input_tokens.min(t)),
    }
}

fn check_lengths(input_tokens: usize, max_new_tokens: u32, limits: &Limits) -> Result<(), String> {
    if input_tokens + max_new_tokens as usize > limits.max_total_tokens {
        return Err(format!(
            "`inputs` tokens + `max_new_tokens` must be <= {}. Given: {input_tokens} `inputs` tokens and {max_new_tokens} `max_new_tokens`",
            limits.max_total_tokens
        ));
    }
    if input_tokens > limits.max_input_length {
        return Err(format!(
            "`inputs` must have less than {} tokens. Given: {input_tokens}",
            limits.max_input_length
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str, limits: &Limits) -> Result<Valid, String> {
        let request: Request = serde_json::from_str(body).unwrap();
        let tokens = request.inputs.split_whitespace().count();
        validate(&request, tokens, limits)
    }

    #[test]
    fn every_parameter_is_checked_with_tgis_wording() {
        let l = Limits::default();
        for (params, message) in [
            (
                r#"{"best_of":2,"do_sample":false}"#,
                "you must use sampling when `best_of` is > 1",
            ),
            (
                r#"{"best_of":3,"do_sample":true}"#,
                "`best_of` must be > 0 and <= 2. Given: 3",
            ),
            (
                r#"{"best_of":2,"do_sample":true,"seed":1}"#,
                "`seed` must not be set when `best_of` > 1",
            ),
            (r#"{"top_p":1.0}"#, "`top_p` must be > 0.0 and < 1.0"),
            (r#"{"top_p":0}"#, "`top_p` must be > 0.0 and < 1.0"),
            (r#"{"typical_p":1}"#, "`typical_p` must be > 0.0 and < 1.0"),
            (
                r#"{"temperature":0}"#,
                "`temperature` must be strictly positive",
            ),
            (
                r#"{"repetition_penalty":0}"#,
                "`repetition_penalty` must be strictly positive",
            ),
            (
                r#"{"frequency_penalty":2.5}"#,
                "`frequency_penalty` must be >= -2.0 and <= 2.0",
            ),
            (r#"{"top_k":0}"#, "`top_k` must be strictly positive"),
            (
                r#"{"max_new_tokens":0}"#,
                "`max_new_tokens` must be strictly positive",
            ),
            (
                r#"{"stop":["a","b","c","d","e"]}"#,
                "`stop` supports up to 4 stop sequences. Given: 5",
            ),
            (
                r#"{"top_n_tokens":6}"#,
                "`top_n_tokens` must be >= 0 and <= 5. Given: 6",
            ),
            (
                r#"{"truncate":0}"#,
                "`truncate` must be strictly positive and less than 1024. Given: 0",
            ),
            (
                r#"{"max_new_tokens":2048}"#,
                "`inputs` tokens + `max_new_tokens` must be <= 2048. Given: 1 `inputs` tokens and 2048 `max_new_tokens`",
            ),
        ] {
            let body = format!(r#"{{"inputs":"Hello","parameters":{params}}}"#);
            assert_eq!(check(&body, &l).unwrap_err(), message, "{params}");
        }
        assert_eq!(
            check(r#"{"inputs":"","parameters":{}}"#, &l).unwrap_err(),
            "`inputs` cannot be empty"
        );
        let ok = r#"{"inputs":"Hello","parameters":{"best_of":2,"do_sample":true,"top_p":0.9,"temperature":0.5,"stop":["a"],"max_new_tokens":5,"truncate":10}}"#;
        assert_eq!(check(ok, &l), Ok(Valid { max_new_tokens: 5 }));
    }

    #[test]
    fn release_and_launcher_limits_come_from_the_model() {
        let image = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.0.1-tgi1.1.0-gpu-py39-cu118-ubuntu20.04";
        assert_eq!(version_of(image), Some((1, 1, 0)));
        assert_eq!(version_of("x:2.4.0-tgi3.0.1-gpu"), Some((3, 0, 1)));
        assert_eq!(version_of("nginx:latest"), None);
        let env: BTreeMap<String, String> =
            [("MAX_STOP_SEQUENCES", "6"), ("MAX_INPUT_LENGTH", "3")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let l = Limits::from_env(&env, Some(image));
        assert_eq!((l.version, l.max_stop_sequences), ((1, 1, 0), 6));
        // TGI 1.1 has no frequency_penalty: it is ignored, not checked.
        assert!(check(r#"{"inputs":"a","parameters":{"frequency_penalty":9}}"#, &l).is_ok());
        assert_eq!(
            check(r#"{"inputs":"a b c d","parameters":{}}"#, &l).unwrap_err(),
            "`inputs` must have less than 3 tokens. Given: 4"
        );
    }
}
