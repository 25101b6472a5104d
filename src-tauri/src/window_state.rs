//! The main window's size and position, remembered in `<home>/window.json` between runs. Saved
//! on every move or resize (a killed app keeps its last layout), restored only onto a screen
//! that still exists.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tauri::{PhysicalPosition, PhysicalSize, WebviewWindow, WindowEvent};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WindowState {
    pub width: u32,
    pub height: u32,
    pub x: i32,
    pub y: i32,
    pub maximized: bool,
}

fn file(home: &Path) -> PathBuf {
    home.join("window.json")
}

pub fn load(home: &Path) -> Option<WindowState> {
    let bytes = std::fs::read(file(home)).ok()?;
    let state: WindowState = serde_json::from_slice(&bytes).ok()?;
    (state.width >= 200 && state.height >= 150).then_some(state)
}

fn save(home: &Path, state: &WindowState) {
    let Ok(text) = serde_json::to_vec(state) else {
        return;
    };
    let tmp = home.join("window.json.tmp");
    let written = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, file(home)));
    if let Err(e) = written {
        tracing::debug!("window layout not saved: {e}");
    }
}

fn current(window: &WebviewWindow) -> Option<WindowState> {
    let size = window.inner_size().ok()?;
    let pos = window.outer_position().ok()?;
    Some(WindowState {
        width: size.width,
        height: size.height,
        x: pos.x,
        y: pos.y,
        maximized: window.is_maximized().unwrap_or(false),
    })
}

/// Whether the window's top-left corner area is on one of the screens.
fn on_a_screen(window: &WebviewWindow, state: &WindowState) -> bool {
    let Ok(monitors) = window.available_monitors() else {
        return false;
    };
    monitors.iter().any(|m| {
        let (p, s) = (m.position(), m.size());
        let (x, y) = (state.x + 40, state.y + 20);
        x >= p.x && y >= p.y && x < p.x + s.width as i32 && y < p.y + s.height as i32
    })
}

/// Puts the window back as it was, then keeps its layout up to date.
pub fn restore_and_track(window: &WebviewWindow, home: PathBuf) {
    if let Some(state) = load(&home) {
        if state.maximized {
            let _ = window.maximize();
        } else {
            let _ = window.set_size(PhysicalSize::new(state.width, state.height));
            if on_a_screen(window, &state) {
                let _ = window.set_position(PhysicalPosition::new(state.x, state.y));
            }
        }
    }
    let last = Mutex::new(current(window));
    let tracked = window.clone();
    window.on_window_event(move |event| {
        if !matches!(event, WindowEvent::Resized(_) | WindowEvent::Moved(_)) {
            return;
        }
        let Some(now) = current(&tracked) else {
            return;
        };
        // A maximized window keeps the size it had before, to come back to.
        let now = match (now.maximized, last.lock().ok().and_then(|l| *l)) {
            (true, Some(before)) => WindowState {
                maximized: true,
                ..before
            },
            _ => now,
        };
        if let Ok(mut l) = last.lock() {
            if *l == Some(now) {
                return;
            }
            *l = Some(now);
        }
        save(&home, &now);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_layout_comes_back_and_nonsense_is_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(load(dir.path()), None);
        let state = WindowState {
            width: 1000,
            height: 700,
            x: 40,
            y: -10,
            maximized: false,
        };
        save(dir.path(), &state);
        assert_eq!(load(dir.path()), Some(state));
        std::fs::write(file(dir.path()), "{\"width\": 3").expect("write");
        assert_eq!(load(dir.path()), None);
        save(dir.path(), &WindowState { width: 10, ..state });
        assert_eq!(
            load(dir.path()),
            None,
            "a window too small to use is not restored"
        );
    }
}
