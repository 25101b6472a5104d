//! The Scaling & metrics screen's commands: the scaling form (preset, checks, apply, remove),
//! what is in place, the charts' data, and the load test (run in the background, progress as
//! events, cancellable).

use std::sync::atomic::Ordering;

use ebb_core::deploy::teardown::Removed;
use ebb_core::loadtest::{LoadTestProgress, LoadTestSpec};
use ebb_core::metrics::EndpointMetrics;
use ebb_core::scaling::apply::Applied;
use ebb_core::scaling::guard::IdleEndpoint;
use ebb_core::scaling::spec::{Finding, ScalingSpec};
use ebb_core::scaling::status::ScalingStatus;
use serde::{Deserialize, Serialize};
use tauri::Manager;
use tauri_specta::Event;

use crate::AppState;
use crate::commands::CommandError;

/// The running load test's counts (about twice a second, and once at the end).
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct LoadTestProgressEvent {
    pub endpoint: String,
    pub progress: LoadTestProgress,
}

/// The load test could not start or stopped with an error.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct LoadTestErrorEvent {
    pub endpoint: String,
    pub message: String,
}

/// The seed's autoscaling (WORKFLOW.md part 3 plus scale from zero) for `endpoint`.
#[tauri::command]
#[specta::specta]
pub fn scaling_preset(endpoint: String) -> ScalingSpec {
    ScalingSpec::seed(&endpoint)
}

/// Problems with the form's values for the endpoint as it is now.
#[tauri::command]
#[specta::specta]
pub async fn check_scaling(
    state: tauri::State<'_, AppState>,
    spec: ScalingSpec,
) -> Result<Vec<Finding>, CommandError> {
    Ok(state.ebb.check_scaling(&spec).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn autoscale(
    state: tauri::State<'_, AppState>,
    spec: ScalingSpec,
) -> Result<Applied, CommandError> {
    Ok(state.ebb.autoscale(&spec).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn scaling_status(
    state: tauri::State<'_, AppState>,
    endpoint: String,
) -> Result<ScalingStatus, CommandError> {
    Ok(state.ebb.scaling_status(&endpoint).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn remove_autoscaling(
    state: tauri::State<'_, AppState>,
    endpoint: String,
) -> Result<Vec<Removed>, CommandError> {
    Ok(state.ebb.remove_autoscaling(&endpoint).await?)
}

/// The charts' series over the last `span_s` seconds.
#[tauri::command]
#[specta::specta]
pub async fn endpoint_metrics(
    state: tauri::State<'_, AppState>,
    endpoint: String,
    span_s: u32,
) -> Result<EndpointMetrics, CommandError> {
    let span = std::time::Duration::from_secs(u64::from(span_s.max(60)));
    Ok(state.ebb.endpoint_metrics(&endpoint, span).await?)
}

/// Starts a load test in the background; its progress comes as events. One at a time.
#[tauri::command]
#[specta::specta]
pub fn start_load_test(
    app: tauri::AppHandle,
    state: tauri::State<'_, AppState>,
    spec: LoadTestSpec,
) -> Result<(), CommandError> {
    let problems = spec.problems();
    if !problems.is_empty() {
        return Err(ebb_core::Error::InvalidRequest(problems.join("; ")).into());
    }
    if state.load_running.swap(true, Ordering::SeqCst) {
        return Err(ebb_core::Error::InvalidRequest(
            "a load test is already running; stop it first".into(),
        )
        .into());
    }
    state.load_cancel.store(false, Ordering::SeqCst);
    tauri::async_runtime::spawn(async move {
        let state = app.state::<AppState>();
        let emitter = app.clone();
        let endpoint = spec.endpoint.clone();
        let progress = move |p: &LoadTestProgress| {
            let event = LoadTestProgressEvent {
                endpoint: endpoint.clone(),
                progress: p.clone(),
            };
            if let Err(e) = event.emit(&emitter) {
                tracing::warn!("could not send load test progress: {e}");
            }
        };
        if let Err(e) = state
            .ebb
            .load_test(&spec, &progress, &state.load_cancel)
            .await
        {
            let event = LoadTestErrorEvent {
                endpoint: spec.endpoint.clone(),
                message: e.to_string(),
            };
            if let Err(e) = event.emit(&app) {
                tracing::warn!("could not send the load test's error: {e}");
            }
        }
        state.load_running.store(false, Ordering::SeqCst);
    });
    Ok(())
}

/// Stops the running load test (requests already sent are processed).
#[tauri::command]
#[specta::specta]
pub fn cancel_load_test(state: tauri::State<'_, AppState>) {
    state.load_cancel.store(true, Ordering::SeqCst);
}

/// Async endpoints paying for idle instances that nothing will take to zero (the cost guard).
#[tauri::command]
#[specta::specta]
pub async fn idle_endpoints(
    state: tauri::State<'_, AppState>,
) -> Result<Vec<IdleEndpoint>, CommandError> {
    Ok(state.ebb.idle_endpoints().await?)
}
