//! The endpoint details' "Change endpoint" form: the current settings, the change (run while
//! the command waits, progress as events), and stopping the wait.

use std::sync::atomic::Ordering;

use ebb_core::deploy::update::{EndpointSettings, UpdateOutcome, UpdateProgress, UpdateRequest};
use serde::{Deserialize, Serialize};
use tauri_specta::Event;

use crate::AppState;
use crate::commands::CommandError;

/// One step or status change of the running update (sent while `update_endpoint` runs).
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct UpdateProgressEvent {
    pub endpoint: String,
    pub progress: UpdateProgress,
}

/// The endpoint's current instance type, count, concurrency, TGI version and environment.
#[tauri::command]
#[specta::specta]
pub async fn endpoint_settings(
    state: tauri::State<'_, AppState>,
    endpoint: String,
) -> Result<EndpointSettings, CommandError> {
    Ok(state.ebb.endpoint_settings(&endpoint).await?)
}

/// Changes the endpoint in place and waits for the outcome.
#[tauri::command]
#[specta::specta]
pub async fn update_endpoint(
    app: tauri::AppHandle,
    state: tauri::State<'_, AppState>,
    endpoint: String,
    request: UpdateRequest,
) -> Result<UpdateOutcome, CommandError> {
    state.update_cancel.store(false, Ordering::SeqCst);
    let name = endpoint.clone();
    let progress = move |p: &UpdateProgress| {
        let event = UpdateProgressEvent {
            endpoint: name.clone(),
            progress: p.clone(),
        };
        if let Err(e) = event.emit(&app) {
            tracing::warn!("could not send update progress: {e}");
        }
    };
    Ok(state
        .ebb
        .update_endpoint(&endpoint, &request, &progress, &state.update_cancel)
        .await?)
}

/// Stops waiting for the running update (SageMaker goes on with it); not while autoscaling is
/// away for an instance-type change, which has to go back first.
#[tauri::command]
#[specta::specta]
pub fn cancel_update(state: tauri::State<'_, AppState>) {
    state.update_cancel.store(true, Ordering::SeqCst);
}
