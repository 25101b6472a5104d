//! Ebb's desktop shell: thin Tauri commands over the engine, progress forwarded as events.

pub mod bindings;
mod commands;

use ebb_core::{Ebb, Overrides};
use tauri::Manager;

pub struct AppState {
    pub ebb: Ebb,
}

pub fn run() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EBB_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let builder = bindings::builder();
    let result = tauri::Builder::default()
        .invoke_handler(builder.invoke_handler())
        .setup(move |app| {
            builder.mount_events(app);
            // The desktop app follows the settings' mode: no CLI overrides here.
            let ebb = Ebb::open(Overrides::default())?;
            tracing::info!(home = %ebb.home().display(), "Ebb started");
            app.manage(AppState { ebb });
            Ok(())
        })
        .run(tauri::generate_context!());
    if let Err(e) = result {
        eprintln!("error: Ebb could not start: {e}");
        std::process::exit(1);
    }
}
