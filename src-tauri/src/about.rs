//! About Ebb: version and build, the logs folder, and the licence notices of what the app
//! bundles (embedded at build time; see build.rs and scripts/notices.py).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::commands::CommandError;

const NOTICES: &str = include_str!(concat!(env!("OUT_DIR"), "/notices.json"));

#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct AboutInfo {
    pub version: String,
    /// The source revision (`git describe`), or "unknown" outside a checkout.
    pub commit: String,
    /// The build date (UTC).
    pub built: String,
    /// What it was built for, e.g. x86_64-unknown-linux-gnu.
    pub target: String,
    pub licence: String,
    pub logs_dir: String,
}

/// One bundled package; `texts` index `LicenceNotices::texts` (shared texts are stored once).
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
pub struct LicenceNotice {
    pub name: String,
    pub version: String,
    pub licence: String,
    pub url: String,
    /// "crate" or "npm".
    pub kind: String,
    pub texts: Vec<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
pub struct LicenceNotices {
    pub packages: Vec<LicenceNotice>,
    pub texts: Vec<String>,
}

pub fn logs_dir(state: &AppState) -> PathBuf {
    ebb_core::logfile::logs_dir(state.ebb.home())
}

#[tauri::command]
#[specta::specta]
pub fn about(state: tauri::State<'_, AppState>) -> AboutInfo {
    AboutInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        commit: env!("EBB_COMMIT").to_string(),
        built: env!("EBB_BUILT").to_string(),
        target: env!("EBB_TARGET").to_string(),
        licence: env!("CARGO_PKG_LICENSE").to_string(),
        logs_dir: logs_dir(&state).display().to_string(),
    }
}

#[tauri::command]
#[specta::specta]
pub fn licence_notices() -> Result<LicenceNotices, CommandError> {
    serde_json::from_str(NOTICES)
        .map_err(|e| CommandError::message(format!("the bundled licence notices are damaged: {e}")))
}

/// Opens the logs folder in the desktop's file manager.
#[tauri::command]
#[specta::specta]
pub fn open_logs_folder(state: tauri::State<'_, AppState>) -> Result<(), CommandError> {
    let dir = logs_dir(&state);
    std::fs::create_dir_all(&dir)
        .map_err(|e| CommandError::message(format!("cannot create {}: {e}", dir.display())))?;
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join("xdg-open").is_file()));
    if !found {
        return Err(CommandError::message(format!(
            "cannot open a file manager (no xdg-open); the logs are in {}",
            dir.display()
        )));
    }
    // The file manager, and what it starts, makes the user's own files: with the user's umask,
    // not the owner-only one Ebb runs with.
    let umask = ebb_core::home::user_umask().unwrap_or(0o022);
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("umask {umask:03o} && exec xdg-open \"$0\""))
        .arg(&dir)
        .spawn()
        .map(|_| ())
        .map_err(|e| {
            CommandError::message(format!(
                "cannot open a file manager (xdg-open: {e}); the logs are in {}",
                dir.display()
            ))
        })
}
