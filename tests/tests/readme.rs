//! One version everywhere: the README's statements, the UI package and the app's Tauri config
//! (which names the .deb) against the version the workspace builds (`Cargo.toml`, which the
//! binaries and About report).

use ebb_testkit::repo_root;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every `vX.Y…` and `Ebb_X.Y.Z_` in the text, as written.
fn versions_named(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (marker, end) in [("(v", ')'), ("Ebb_", '_')] {
        for (at, _) in text.match_indices(marker) {
            let rest = &text[at + marker.len()..];
            let Some(len) = rest.find(end) else { continue };
            let candidate = &rest[..len];
            if candidate.starts_with(|c: char| c.is_ascii_digit())
                && candidate.chars().all(|c| c.is_ascii_digit() || c == '.')
            {
                found.push(candidate.to_string());
            }
        }
    }
    found
}

#[test]
fn readme_names_the_version_the_workspace_builds() {
    let readme = read("README.md");
    let named = versions_named(&readme);
    assert!(
        named.len() >= 2,
        "the README should state the version (status line and the package's file name): {named:?}"
    );
    for v in &named {
        assert_eq!(v, VERSION, "README says {v}, Cargo.toml says {VERSION}");
    }
}

#[test]
fn the_ui_package_has_the_same_version() {
    let package: serde_json::Value =
        serde_json::from_str(&read("ui/package.json")).expect("ui/package.json is JSON");
    assert_eq!(package["version"].as_str(), Some(VERSION));
}

#[test]
fn the_package_has_the_same_version() {
    let config: serde_json::Value =
        serde_json::from_str(&read("tauri.conf.json")).expect("tauri.conf.json is JSON");
    assert_eq!(
        config["version"].as_str(),
        Some(VERSION),
        "tauri.conf.json names the .deb"
    );
}

#[test]
fn a_different_version_is_seen() {
    assert_eq!(
        versions_named("> **Status (v0.1.0).** … Ebb_0.2.0_amd64.deb"),
        ["0.1.0", "0.2.0"]
    );
}
