// Keep a console window from opening next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    // SAFETY: first thing in `main`: no other thread runs yet.
    unsafe { ebb_local::model::set_thread_env() };
    ebb_app::run();
}
