//! The models the local cloud runs for real on this computer, for the Deploy form and Home.

use ebb_core::Mode;
use ebb_local::model::family::{human_bytes, human_parameters};
use ebb_local::model::{self, Runnable};
use serde::Serialize;

use crate::AppState;
use crate::commands::CommandError;

/// One model that answers for real in local mode (the local cloud's `Runnable`). Sizes are
/// bytes as numbers (JSON has no 64-bit integers; these stay far below 2^53) and as people
/// read them (`1.2 GB`, `308 MB`).
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct LocalModel {
    /// Hugging Face model id, for HF_MODEL_ID.
    pub model_id: String,
    /// `T5`, `Llama` or `Qwen2`.
    pub family: String,
    pub parameters: f64,
    /// `248M`, `1.1B`.
    pub parameters_text: String,
    /// Memory it needs on the CPU, bytes.
    pub memory_bytes: f64,
    pub memory_text: String,
    /// Its weights in the Hugging Face cache, or (not cached) to download, bytes.
    pub disk_bytes: f64,
    pub disk_text: String,
    /// Its files are in the Hugging Face cache; else deploying it downloads them.
    pub cached: bool,
    /// It fits in the memory available now.
    pub fits: bool,
    /// It has a chat template: the Messages API answers.
    pub chat: bool,
}

/// What `local_models` found.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct LocalModels {
    /// Whether the app is in local mode; in AWS mode `models` is empty (SageMaker runs any
    /// model the image can load).
    pub local: bool,
    /// Memory a model may take now, as people read it (`EBB_LOCAL_MODEL_MEMORY_MB`, else what
    /// the system reports available).
    pub memory_available: String,
    /// `HF_HUB_OFFLINE` is set: models not in the cache cannot download (their endpoints
    /// answer simulated).
    pub offline: bool,
    /// Models in the Hugging Face cache first, then small ones that download when deployed.
    pub models: Vec<LocalModel>,
}

impl From<Runnable> for LocalModel {
    fn from(r: Runnable) -> Self {
        LocalModel {
            family: r.family.name().to_string(),
            parameters: r.parameters as f64,
            parameters_text: human_parameters(r.parameters),
            memory_bytes: r.memory_bytes as f64,
            memory_text: human_bytes(r.memory_bytes),
            disk_bytes: r.disk_bytes as f64,
            disk_text: human_bytes(r.disk_bytes),
            cached: r.cached,
            fits: r.fits,
            chat: r.chat,
            model_id: r.model_id,
        }
    }
}

/// The models that run for real in local mode, read from the Hugging Face cache now (the
/// same settings the local cloud reads: `HF_HOME`, `HF_HUB_CACHE`, ...). Empty in AWS mode.
#[tauri::command]
#[specta::specta]
pub async fn local_models(state: tauri::State<'_, AppState>) -> Result<LocalModels, CommandError> {
    let mode = state.ebb.settings_view()?.target.mode;
    if mode != Mode::Local {
        return Ok(LocalModels {
            local: false,
            memory_available: String::new(),
            offline: false,
            models: Vec::new(),
        });
    }
    // Reading the cache's config files is disk work: off the async threads.
    let found = tauri::async_runtime::spawn_blocking(|| {
        let settings = model::Settings::from_env();
        let models = model::runnable(&settings);
        (settings.memory_budget(), settings.offline, models)
    })
    .await;
    let (budget, offline, models) = found.map_err(|e| CommandError::message(e.to_string()))?;
    Ok(LocalModels {
        local: true,
        memory_available: human_bytes(budget),
        offline,
        models: models.into_iter().map(LocalModel::from).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebb_local::model::family::Family;

    #[test]
    fn a_model_reads_as_people_write_its_sizes() {
        let view = LocalModel::from(Runnable {
            model_id: "HuggingFaceTB/SmolLM2-135M-Instruct".into(),
            family: Family::Llama,
            parameters: 135_000_000,
            memory_bytes: 1_024_000_000,
            disk_bytes: 269_000_000,
            cached: false,
            fits: true,
            chat: true,
        });
        assert_eq!(view.family, "Llama");
        assert_eq!(view.parameters_text, "135M");
        assert_eq!(
            (view.memory_text.as_str(), view.memory_bytes),
            ("1.0 GB", 1.024e9)
        );
        assert_eq!(
            (view.disk_text.as_str(), view.disk_bytes),
            ("269 MB", 2.69e8)
        );
        assert!(!view.cached && view.fits && view.chat);
    }
}
