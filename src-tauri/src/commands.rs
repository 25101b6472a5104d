//! The commands the UI calls. Each one forwards to the engine and shapes its error for the UI.

use ebb_core::{DoctorReport, FieldError, Settings, SettingsView};
use serde::{Deserialize, Serialize};
use tauri_specta::Event;

use crate::AppState;

/// An error as the UI shows it: one message, plus per-field problems for forms.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct CommandError {
    pub message: String,
    pub field_errors: Vec<FieldError>,
}

impl From<ebb_core::Error> for CommandError {
    fn from(e: ebb_core::Error) -> Self {
        CommandError {
            field_errors: e.field_errors().to_vec(),
            message: e.to_string(),
        }
    }
}

/// One connection check finished (sent while `run_doctor` is still running).
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct DoctorProgress {
    pub check: ebb_core::Check,
}

#[tauri::command]
#[specta::specta]
pub fn get_settings(state: tauri::State<'_, AppState>) -> Result<SettingsView, CommandError> {
    Ok(state.ebb.settings_view()?)
}

/// Live validation for the form; no side effects.
#[tauri::command]
#[specta::specta]
pub fn validate_settings(settings: Settings) -> Vec<FieldError> {
    ebb_core::validate::settings(&settings)
}

#[tauri::command]
#[specta::specta]
pub fn save_settings(
    state: tauri::State<'_, AppState>,
    settings: Settings,
) -> Result<SettingsView, CommandError> {
    Ok(state.ebb.save_settings(settings)?)
}

#[tauri::command]
#[specta::specta]
pub async fn run_doctor(
    app: tauri::AppHandle,
    state: tauri::State<'_, AppState>,
) -> Result<DoctorReport, CommandError> {
    let progress = move |check: &ebb_core::Check| {
        let event = DoctorProgress {
            check: check.clone(),
        };
        if let Err(e) = event.emit(&app) {
            tracing::warn!("could not send doctor progress: {e}");
        }
    };
    Ok(state.ebb.doctor(&progress).await?)
}
