//! The deploy form's instance picker and fit check.

use ebb_core::catalog::InstanceOption;
use ebb_core::deploy::fit::{self, FitCheck};
use ebb_core::deploy::spec::DeploySpec;

use crate::AppState;
use crate::commands::CommandError;

/// Every instance type by family, priced from the AWS Price List where it answers, else the
/// bundled estimate (each says which).
#[tauri::command]
#[specta::specta]
pub async fn instance_picker(
    state: tauri::State<'_, AppState>,
) -> Result<Vec<InstanceOption>, CommandError> {
    Ok(state.ebb.instance_picker().await)
}

/// Whether the form's model fits its instance. `params` is the count the user typed (`11B`,
/// `6.7B`, `780M`); empty or absent asks the Hugging Face Hub. Errors only on a count that
/// does not read as one.
#[tauri::command]
#[specta::specta]
pub async fn fit_check(
    state: tauri::State<'_, AppState>,
    spec: DeploySpec,
    params: Option<String>,
) -> Result<FitCheck, CommandError> {
    let typed = match params.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        Some(text) => Some(fit::parse_params(text).map_err(CommandError::message)?),
        None => None,
    };
    Ok(state.ebb.fit_check(&spec, typed).await)
}
