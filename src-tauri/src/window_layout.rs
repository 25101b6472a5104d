//! The main window's size, position and maximized state between runs, kept by the official
//! window-state plugin in `<home>/window.json`: restored when the window opens (a position off
//! every screen is left to the desktop), and written as the window starts and stops moving
//! (see [`save_as_it_moves`]) and when the app exits.
//!
//! The page is granted none of the plugin's commands (capabilities/default.json): only the Rust
//! side restores and saves.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use tauri::plugin::TauriPlugin;
use tauri::{AppHandle, Manager, WebviewWindow, WindowEvent, Wry};
use tauri_plugin_window_state::{AppHandleExt, Builder, StateFlags};

/// What is remembered: not visibility, decorations or full screen, which Ebb does not change.
const FLAGS: StateFlags = StateFlags::SIZE
    .union(StateFlags::POSITION)
    .union(StateFlags::MAXIMIZED);

/// How long the window must stay still for a move to be over.
const QUIET: Duration = Duration::from_secs(1);

/// The plugin, keeping its file in the Ebb home.
///
/// The plugin joins its file name onto the app's config dir; an absolute name replaces that
/// base (`Path::join`), which keeps the file in the Ebb home like everything else of Ebb's, so
/// a test's `EBB_HOME` isolates it too. The plugin still creates the (then empty) config dir
/// when it saves. None when the home's path is not valid UTF-8 (the plugin takes a `String`):
/// the window then opens at its default size.
pub fn plugin(home: &Path) -> Option<TauriPlugin<Wry>> {
    // Absolute even when EBB_HOME is relative, so the config dir never becomes its base.
    let file = std::path::absolute(home.join("window.json")).ok()?;
    Some(
        Builder::new()
            .with_filename(file.to_str()?)
            .with_state_flags(FLAGS)
            .build(),
    )
}

/// Writes the layout when `window` starts to move or resize, and again once it has been still
/// for [`QUIET`] if it moved since: at most two writes a gesture, where a write on every
/// event would be dozens a second. The plugin alone writes only at exit, which a killed app
/// (or a closed test session) never reaches. One thread follows the moves; the writes run on
/// the main thread, where the plugin follows the window, so the two never wait on each other.
/// Needs [`plugin`] to be installed.
pub fn save_as_it_moves(window: &WebviewWindow) {
    let (moved, moves) = mpsc::channel::<()>();
    window.on_window_event(move |event| {
        if matches!(event, WindowEvent::Moved(_) | WindowEvent::Resized(_)) {
            let _ = moved.send(());
        }
    });
    let app = window.app_handle().clone();
    let spawned = std::thread::Builder::new()
        .name("window-layout".into())
        .spawn(move || {
            // Ends when the window, and with it the sender, is gone.
            while moves.recv().is_ok() {
                save(&app);
                let mut moved_since = false;
                loop {
                    match moves.recv_timeout(QUIET) {
                        Ok(()) => moved_since = true,
                        Err(mpsc::RecvTimeoutError::Timeout) => break,
                        Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                }
                if moved_since {
                    save(&app);
                }
            }
        });
    if let Err(e) = spawned {
        tracing::debug!("the window layout is saved at exit only: {e}");
    }
}

/// Has the plugin write the layout the window has now, on the main thread.
fn save(app: &AppHandle) {
    let handle = app.clone();
    let _ = app.run_on_main_thread(move || {
        if let Err(e) = handle.save_window_state(FLAGS) {
            tracing::debug!("window layout not saved: {e}");
        }
    });
}
