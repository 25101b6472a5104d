//! Ebb's desktop shell: thin Tauri commands over the engine, progress forwarded as events.

mod about;
pub mod bindings;
mod commands;
mod home_commands;
mod job_commands;
mod model_commands;
mod picker_commands;
mod scaling_commands;
mod update_commands;
mod window_layout;

use ebb_core::{Ebb, Overrides};
use ebb_local::home::{self, Attached};
use tauri::Manager;

pub struct AppState {
    pub ebb: Ebb,
    /// The local cloud this app started (stopped on exit) or found running.
    local: std::sync::Mutex<Option<Attached>>,
    /// Set by `cancel_deploy` to stop waiting for the running deploy.
    deploy_cancel: std::sync::atomic::AtomicBool,
    /// Set by `cancel_load_test`; `load_running` keeps it to one load test at a time.
    load_cancel: std::sync::atomic::AtomicBool,
    /// Set by `cancel_update`: stops waiting for the running endpoint update.
    update_cancel: std::sync::atomic::AtomicBool,
    load_running: std::sync::atomic::AtomicBool,
    /// Stop flags of scans, exports and result files, and the last scan kept for the submit.
    work: job_commands::WorkControl,
}

/// Local mode is the default, so the local cloud runs whenever the app does (switching modes
/// then needs no restart). A failure is reported by the connection check, not fatal.
fn start_local_cloud(ebb: &Ebb) -> Option<Attached> {
    match tauri::async_runtime::block_on(home::attach(ebb.home(), true)) {
        Ok(attached) => {
            tracing::info!(url = %attached.info().endpoint_url, "local cloud ready");
            let info = attached.info();
            ebb.set_local_cloud(Some(ebb_core::ProvidedCloud::new(
                &info.endpoint_url,
                &info.region,
                (&info.access_key_id, &info.secret_access_key),
                Some(ebb_local::PLACEHOLDER_ROLE_ARN),
            )));
            Some(attached)
        }
        Err(e) => {
            tracing::error!("the local cloud could not start: {e}");
            // Every screen's error then says why, not that the cloud "is not running".
            ebb.set_local_cloud_failure(e.to_string());
            None
        }
    }
}

pub fn run() {
    // Before any thread starts: everything Ebb creates is its user's alone.
    ebb_core::home::private_umask();
    let home = ebb_core::home::ebb_home().ok();
    let private = home.as_deref().map(ebb_core::home::make_private);
    if let Err(e) = ebb_core::logfile::init_tracing(home.as_deref(), "app", "info", "info") {
        tracing::warn!("{e}");
    }
    if let Some(Err(e)) = private {
        tracing::warn!("the Ebb home could not be made private: {e}");
    }
    let builder = bindings::builder();
    let mut app = tauri::Builder::default();
    let layout = home.as_deref().and_then(window_layout::plugin);
    let remembers_layout = layout.is_some();
    if let Some(plugin) = layout {
        app = app.plugin(plugin);
    }
    let app = app
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_dialog::init())
        .invoke_handler(builder.invoke_handler())
        .setup(move |app| {
            builder.mount_events(app);
            // The desktop app follows the settings' mode: no CLI overrides here.
            let ebb = Ebb::open(Overrides::default())?;
            tracing::info!(
                home = %ebb.home().display(),
                version = env!("CARGO_PKG_VERSION"),
                "Ebb started"
            );
            if let Some(window) = app.get_webview_window("main")
                && remembers_layout
            {
                window_layout::save_as_it_moves(&window);
            }
            let local = start_local_cloud(&ebb);
            app.manage(AppState {
                ebb,
                local: std::sync::Mutex::new(local),
                deploy_cancel: std::sync::atomic::AtomicBool::new(false),
                load_cancel: std::sync::atomic::AtomicBool::new(false),
                update_cancel: std::sync::atomic::AtomicBool::new(false),
                load_running: std::sync::atomic::AtomicBool::new(false),
                work: job_commands::WorkControl::default(),
            });
            // Jobs a previous run left sending or collecting carry on by themselves.
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                let unfinished = handle.state::<AppState>().ebb.unfinished_jobs().await;
                match unfinished {
                    Ok(ids) => {
                        for id in ids {
                            tracing::info!(job = id, "resuming an unfinished job");
                            job_commands::spawn_run(handle.clone(), id);
                        }
                    }
                    Err(e) => tracing::warn!("could not look for unfinished jobs: {e}"),
                }
            });
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            eprintln!("error: Ebb could not start: {e}");
            std::process::exit(1);
        }
    };
    app.run(|handle, event| {
        if let tauri::RunEvent::Exit = event {
            let state = handle.state::<AppState>();
            let attached = state.local.lock().ok().and_then(|mut l| l.take());
            if let Some(attached) = attached {
                tauri::async_runtime::block_on(attached.stop(state.ebb.home()));
            }
        }
    });
}
