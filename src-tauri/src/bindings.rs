//! The one list of commands and events, shared by the app and the TypeScript generator.

use std::path::{Path, PathBuf};

use specta_typescript::Typescript;
use tauri_specta::{collect_commands, collect_events};

use crate::{
    about, commands, home_commands, job_commands, model_commands, picker_commands,
    scaling_commands, update_commands,
};

pub fn builder() -> tauri_specta::Builder<tauri::Wry> {
    tauri_specta::Builder::<tauri::Wry>::new()
        .commands(collect_commands![
            commands::get_settings,
            commands::validate_settings,
            commands::save_settings,
            commands::run_doctor,
            commands::deploy_catalog,
            commands::seed_preset,
            commands::check_deploy,
            commands::deploy_names,
            commands::change_instance_type,
            commands::change_model,
            model_commands::local_models,
            picker_commands::instance_picker,
            picker_commands::fit_check,
            commands::deploy,
            commands::cancel_deploy,
            commands::list_endpoints,
            commands::invoke_endpoint,
            commands::teardown_plan,
            commands::teardown,
            commands::endpoint_logs,
            job_commands::choose_folder,
            job_commands::demo_folder,
            job_commands::scan_jobs,
            job_commands::submit_job,
            job_commands::list_jobs,
            job_commands::job_results,
            job_commands::job_input,
            job_commands::pause_job,
            job_commands::resume_job,
            job_commands::cancel_job,
            job_commands::export_job,
            job_commands::write_job_files,
            job_commands::retry_job,
            job_commands::request_status,
            job_commands::request_tries,
            job_commands::estimate_job,
            job_commands::cancel_work,
            scaling_commands::scaling_preset,
            scaling_commands::check_scaling,
            scaling_commands::autoscale,
            scaling_commands::scaling_status,
            scaling_commands::remove_autoscaling,
            scaling_commands::endpoint_metrics,
            scaling_commands::start_load_test,
            scaling_commands::cancel_load_test,
            scaling_commands::idle_endpoints,
            update_commands::endpoint_settings,
            update_commands::update_endpoint,
            update_commands::cancel_update,
            home_commands::overview,
            about::about,
            about::licence_notices,
            about::open_logs_folder,
        ])
        .events(collect_events![
            commands::DoctorProgress,
            commands::DeployProgressEvent,
            job_commands::JobProgressEvent,
            job_commands::JobErrorEvent,
            job_commands::WorkProgressEvent,
            scaling_commands::LoadTestProgressEvent,
            scaling_commands::LoadTestErrorEvent,
            update_commands::UpdateProgressEvent
        ])
}

pub fn default_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/bindings.ts")
}

pub fn export(path: &Path) -> Result<(), String> {
    builder()
        .export(Typescript::default().header("// @ts-nocheck"), path)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The UI's types must be what Rust generates today: run `cargo run -p ebb-app --example
    /// export-bindings` after changing a command or a type it uses.
    #[test]
    fn committed_bindings_are_current() {
        let dir = tempfile::tempdir().expect("temp dir");
        let fresh = dir.path().join("bindings.ts");
        export(&fresh).expect("export bindings");
        let fresh = std::fs::read_to_string(fresh).expect("read fresh bindings");
        let committed = std::fs::read_to_string(default_path()).unwrap_or_default();
        assert!(
            fresh == committed,
            "ui/src/bindings.ts is out of date: run `cargo run -p ebb-app --example export-bindings`"
        );
    }
}
