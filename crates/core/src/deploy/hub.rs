//! The Hugging Face Hub's model info, for the fit check's parameter count:
//! `GET <endpoint>/api/models/<repo id>` (<https://huggingface.co/docs/hub/api>), whose
//! `safetensors` object has `total` (parameters) and `parameters` (count per stored dtype).
//!
//! The endpoint is `HF_ENDPOINT` if set, else <https://huggingface.co>; `HF_HUB_OFFLINE=1`
//! means no request at all (the same variables the `huggingface_hub` library reads).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::deploy::fit::ModelSize;

/// The public Hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// How long the whole lookup may take: the check is advice, not worth a long wait.
pub const TIMEOUT: Duration = Duration::from_secs(4);

/// Where to ask and with which token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubConfig {
    /// e.g. `https://huggingface.co`, without a trailing slash.
    pub endpoint: String,
    pub token: Option<String>,
}

/// Why the Hub gave no parameter count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeUnknown {
    #[error("the Hub is not asked while HF_HUB_OFFLINE is set")]
    Offline,
    #[error("local mode works offline and does not ask the Hub (set HF_ENDPOINT to have it asked)")]
    LocalMode,
    #[error("`{0}` is not a Hub model id")]
    NotAModelId(String),
    #[error("gated or private on the Hub: set HF_TOKEN in the model's environment")]
    Gated,
    #[error("the Hub refused HF_TOKEN for this model (gated or private)")]
    TokenRefused,
    #[error("model not found on the Hub")]
    NotFound,
    #[error("the Hub has no safetensors metadata for it")]
    NoMetadata,
    #[error("the Hub did not answer ({0})")]
    Unreachable(String),
}

/// True for the values `huggingface_hub` takes as on: 1, ON, YES, TRUE.
fn is_on(value: Option<String>) -> bool {
    value.is_some_and(|v| {
        matches!(
            v.trim().to_ascii_uppercase().as_str(),
            "1" | "ON" | "YES" | "TRUE"
        )
    })
}

/// Where to ask, from the process environment `env` and the model's environment `model_env`
/// (whose `HF_TOKEN` is the deploy's); `local` is local mode, which asks only an `HF_ENDPOINT`.
pub fn config(
    env: &dyn Fn(&str) -> Option<String>,
    model_env: &BTreeMap<String, String>,
    local: bool,
) -> Result<HubConfig, SizeUnknown> {
    if is_on(env("HF_HUB_OFFLINE")) {
        return Err(SizeUnknown::Offline);
    }
    let endpoint = env("HF_ENDPOINT").filter(|e| !e.trim().is_empty());
    if local && endpoint.is_none() {
        return Err(SizeUnknown::LocalMode);
    }
    let token = model_env
        .get("HF_TOKEN")
        .cloned()
        .or_else(|| env("HF_TOKEN"))
        .filter(|t| !t.trim().is_empty());
    Ok(HubConfig {
        endpoint: endpoint
            .unwrap_or_else(|| DEFAULT_ENDPOINT.into())
            .trim()
            .trim_end_matches('/')
            .to_string(),
        token,
    })
}

/// Bytes per element of a safetensors dtype name (`F16`, `I32`, …).
fn dtype_bytes(dtype: &str) -> Option<u64> {
    match dtype {
        "F64" | "I64" | "U64" => Some(8),
        "F32" | "I32" | "U32" => Some(4),
        "F16" | "BF16" | "I16" | "U16" => Some(2),
        "F8_E4M3" | "F8_E5M2" | "I8" | "U8" | "BOOL" => Some(1),
        _ => None,
    }
}

/// The size in one model-info answer; `None` without safetensors metadata.
pub fn size_from_info(info: &Value) -> Option<ModelSize> {
    let st = info.get("safetensors")?;
    let params = st.get("total")?.as_u64().filter(|n| *n > 0)?;
    let stored_bytes = st
        .get("parameters")
        .and_then(Value::as_object)
        .and_then(|per| {
            per.iter()
                .map(|(dtype, n)| Some(dtype_bytes(dtype)? * n.as_u64()?))
                .sum::<Option<u64>>()
        });
    Some(ModelSize {
        params,
        stored_bytes,
    })
}

/// Asks the Hub for `model_id`'s size.
pub async fn model_size(hub: &HubConfig, model_id: &str) -> Result<ModelSize, SizeUnknown> {
    if !crate::deploy::spec::is_hub_model_id(model_id) {
        return Err(SizeUnknown::NotAModelId(model_id.to_string()));
    }
    let unreachable = |e: reqwest::Error| SizeUnknown::Unreachable(without_url(e));
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .map_err(unreachable)?;
    let mut request = client.get(format!("{}/api/models/{model_id}", hub.endpoint));
    if let Some(token) = &hub.token {
        request = request.bearer_auth(token);
    }
    let answer = request.send().await.map_err(unreachable)?;
    match answer.status().as_u16() {
        200 => {}
        401 | 403 if hub.token.is_some() => return Err(SizeUnknown::TokenRefused),
        401 | 403 => return Err(SizeUnknown::Gated),
        404 => return Err(SizeUnknown::NotFound),
        code => return Err(SizeUnknown::Unreachable(format!("HTTP {code}"))),
    }
    let info: Value = answer.json().await.map_err(unreachable)?;
    size_from_info(&info).ok_or(SizeUnknown::NoMetadata)
}

/// The error without its URL (which is known) and its source chain's noise.
fn without_url(e: reqwest::Error) -> String {
    if e.is_timeout() {
        format!("no answer within {} s", TIMEOUT.as_secs())
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        e.without_url().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn offline_and_local_mode_do_not_ask() {
        let none = BTreeMap::new();
        let offline = env_of(&[("HF_HUB_OFFLINE", "1"), ("HF_ENDPOINT", "http://x")]);
        assert_eq!(config(&offline, &none, false), Err(SizeUnknown::Offline));
        assert_eq!(
            config(&env_of(&[]), &none, true),
            Err(SizeUnknown::LocalMode)
        );
        let mirror = env_of(&[("HF_ENDPOINT", "http://127.0.0.1:9/"), ("HF_TOKEN", "p")]);
        let with_token = BTreeMap::from([("HF_TOKEN".to_string(), "m".to_string())]);
        assert_eq!(
            config(&mirror, &with_token, true),
            Ok(HubConfig {
                endpoint: "http://127.0.0.1:9".into(),
                token: Some("m".into())
            })
        );
        let public = config(&env_of(&[("HF_HUB_OFFLINE", "0")]), &none, false).unwrap();
        assert_eq!(public.endpoint, DEFAULT_ENDPOINT);
        assert_eq!(public.token, None);
    }

    #[test]
    fn the_size_comes_from_safetensors_metadata() {
        let info =
            serde_json::json!({"safetensors": {"parameters": {"I32": 10, "F16": 4}, "total": 14}});
        assert_eq!(
            size_from_info(&info),
            Some(ModelSize {
                params: 14,
                stored_bytes: Some(48)
            })
        );
        assert_eq!(size_from_info(&serde_json::json!({"id": "x"})), None);
    }
}
