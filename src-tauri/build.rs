//! Tauri's build step, plus what "About Ebb" shows: the source revision, the build date and the
//! licence notices of the bundled packages (scripts/notices.py writes them to
//! target/notices.json; EBB_NOTICES names another file; without one the app says so).

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest.parent().unwrap_or(Path::new(".")).to_path_buf();

    let commit = git(&["describe", "--always", "--dirty", "--exclude", "*"])
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=EBB_COMMIT={commit}");
    // Reproducible builds set SOURCE_DATE_EPOCH; otherwise the time of this build.
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        });
    let built =
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    println!(
        "cargo:rustc-env=EBB_BUILT={:04}-{:02}-{:02}",
        built.year(),
        u8::from(built.month()),
        built.day()
    );
    println!(
        "cargo:rustc-env=EBB_TARGET={}",
        std::env::var("TARGET").unwrap_or_default()
    );
    for p in [".git/HEAD", ".git/index"] {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");

    let notices = std::env::var_os("EBB_NOTICES")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/notices.json"));
    println!("cargo:rerun-if-env-changed=EBB_NOTICES");
    println!("cargo:rerun-if-changed={}", notices.display());
    let text = std::fs::read_to_string(&notices)
        .unwrap_or_else(|_| r#"{"packages":[],"texts":[]}"#.to_string());
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default());
    if let Err(e) = std::fs::write(out.join("notices.json"), text) {
        panic!("cannot write the licence notices: {e}");
    }

    tauri_build::build()
}
