//! The Home screen's command: what matters at a glance, and the guide's steps in local mode.

use ebb_core::overview::Overview;

use crate::AppState;
use crate::commands::CommandError;

/// Running endpoints, unfinished jobs and (in local mode) where each step of the guide
/// stands, read from the cloud and the job store now.
#[tauri::command]
#[specta::specta]
pub async fn overview(state: tauri::State<'_, AppState>) -> Result<Overview, CommandError> {
    Ok(state.ebb.overview().await?)
}
