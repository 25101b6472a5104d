//! The commands the UI calls. Each one forwards to the engine and shapes its error for the UI.

use std::sync::atomic::Ordering;

use ebb_core::catalog::DeployCatalog;
use ebb_core::deploy::endpoints::EndpointSummary;
use ebb_core::deploy::invoke::{InvokeRequest, InvokeResult};
use ebb_core::deploy::logs::EndpointLogs;
use ebb_core::deploy::run::{DeployOutcome, DeployProgress};
use ebb_core::deploy::spec::{DeployProblem, DeploySpec, DerivedNames};
use ebb_core::deploy::teardown::{Removed, TeardownPlan};
use ebb_core::{DoctorReport, FieldError, Settings, SettingsView};
use serde::{Deserialize, Serialize};
use tauri_specta::Event;

use crate::AppState;

/// An error as the UI shows it: one message, plus per-field problems for forms.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct CommandError {
    pub message: String,
    pub field_errors: Vec<FieldError>,
    /// Problems with the deploy form, by field.
    pub deploy_problems: Vec<DeployProblem>,
    /// The full story (AWS's own words, codes, request id), shown on request.
    pub detail: Option<String>,
}

impl CommandError {
    /// An error that is only a sentence.
    pub fn message(message: impl Into<String>) -> CommandError {
        CommandError {
            message: message.into(),
            field_errors: Vec::new(),
            deploy_problems: Vec::new(),
            detail: None,
        }
    }
}

impl From<ebb_core::Error> for CommandError {
    fn from(e: ebb_core::Error) -> Self {
        let deploy_problems = match &e {
            ebb_core::Error::InvalidDeploy(p) => p.clone(),
            _ => Vec::new(),
        };
        CommandError {
            field_errors: e.field_errors().to_vec(),
            message: e.to_string(),
            deploy_problems,
            detail: e.detail().map(str::to_string),
        }
    }
}

/// One deploy step or status change (sent while `deploy` is still running).
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct DeployProgressEvent {
    pub progress: DeployProgress,
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

#[tauri::command]
#[specta::specta]
pub fn deploy_catalog() -> DeployCatalog {
    ebb_core::catalog::deploy_catalog()
}

/// The seed article's deployment, for the form's "Seed preset" button.
#[tauri::command]
#[specta::specta]
pub async fn seed_preset(state: tauri::State<'_, AppState>) -> Result<DeploySpec, CommandError> {
    Ok(state.ebb.seed_preset().await?)
}

/// Live validation for the deploy form; no AWS calls.
#[tauri::command]
#[specta::specta]
pub fn check_deploy(state: tauri::State<'_, AppState>, spec: DeploySpec) -> Vec<DeployProblem> {
    let view = state.ebb.settings_view();
    let (region, role) = match &view {
        Ok(v) => (
            v.target
                .region
                .clone()
                .unwrap_or_else(|| "us-east-1".into()),
            v.target.role_arn.clone(),
        ),
        Err(_) => ("us-east-1".into(), None),
    };
    spec.problems(&region, role.as_deref())
}

/// The model and endpoint config names the form derives from an endpoint name (the engine's
/// rule, so they always fit SageMaker's 63 characters).
#[tauri::command]
#[specta::specta]
pub fn deploy_names(endpoint_name: String) -> DerivedNames {
    ebb_core::deploy::spec::derived_names(&endpoint_name)
}

/// The form's spec on another instance type, by the engine's rule for `SM_NUM_GPUS`.
#[tauri::command]
#[specta::specta]
pub fn change_instance_type(mut spec: DeploySpec, instance_type: String) -> DeploySpec {
    spec.set_instance_type(&instance_type);
    spec
}

/// The form's spec with another model, its generated endpoint name following the model (see
/// `DeploySpec::set_model`).
#[tauri::command]
#[specta::specta]
pub fn change_model(mut spec: DeploySpec, model_id: String) -> DeploySpec {
    spec.set_model(&model_id);
    spec
}

#[tauri::command]
#[specta::specta]
pub async fn deploy(
    app: tauri::AppHandle,
    state: tauri::State<'_, AppState>,
    spec: DeploySpec,
) -> Result<DeployOutcome, CommandError> {
    state.deploy_cancel.store(false, Ordering::SeqCst);
    let progress = move |p: &DeployProgress| {
        let event = DeployProgressEvent {
            progress: p.clone(),
        };
        if let Err(e) = event.emit(&app) {
            tracing::warn!("could not send deploy progress: {e}");
        }
    };
    Ok(state
        .ebb
        .deploy(&spec, &progress, &state.deploy_cancel)
        .await?)
}

/// Stops waiting for the running deploy (the endpoint keeps starting).
#[tauri::command]
#[specta::specta]
pub fn cancel_deploy(state: tauri::State<'_, AppState>) {
    state.deploy_cancel.store(true, Ordering::SeqCst);
}

#[tauri::command]
#[specta::specta]
pub async fn list_endpoints(
    state: tauri::State<'_, AppState>,
) -> Result<Vec<EndpointSummary>, CommandError> {
    Ok(state.ebb.endpoints().await?)
}

/// Submits one test request and waits (up to `wait_s`) for its output or failure.
#[tauri::command]
#[specta::specta]
pub async fn invoke_endpoint(
    state: tauri::State<'_, AppState>,
    request: InvokeRequest,
    wait_s: u32,
) -> Result<InvokeResult, CommandError> {
    let wait = std::time::Duration::from_secs(u64::from(wait_s));
    Ok(state.ebb.invoke(&request, Some(wait)).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn teardown_plan(
    state: tauri::State<'_, AppState>,
    endpoint: String,
    delete_data: bool,
) -> Result<TeardownPlan, CommandError> {
    Ok(state.ebb.teardown_plan(&endpoint, delete_data).await?)
}

/// Carries out the plan `teardown_plan` made, by its id: the page confirms a plan, it cannot
/// change one.
#[tauri::command]
#[specta::specta]
pub async fn teardown(
    state: tauri::State<'_, AppState>,
    plan_id: String,
) -> Result<Vec<Removed>, CommandError> {
    Ok(state.ebb.teardown(&plan_id).await?)
}

/// Status, time in it, and log lines newer than `since_ms` (a string: i64 milliseconds).
#[tauri::command]
#[specta::specta]
pub async fn endpoint_logs(
    state: tauri::State<'_, AppState>,
    endpoint: String,
    since_ms: String,
) -> Result<EndpointLogs, CommandError> {
    let since = since_ms.parse().unwrap_or(0);
    Ok(state.ebb.endpoint_logs(&endpoint, since).await?)
}
