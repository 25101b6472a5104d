#!/usr/bin/env bash
# Installs what the tests need and runs every test: UI checks and unit tests, Rust format, lints,
# unit and integration tests (with moto_server), and the real-webview end-to-end test.
set -euo pipefail
source "$(dirname "$0")/lib/deps.sh"
cd "$ROOT"
started=$SECONDS
step() { say "$* [$((SECONDS - started))s]"; }

apt_install "${APT_BUILD[@]}" "${APT_TEST[@]}"
need_rust
need_node

step "moto_server (independent AWS emulator) into .venv"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check 'moto[server]==5.2.5' 'boto3>=1.35'
export MOTO_SERVER="$ROOT/.venv/bin/moto_server"

if ! command -v tauri-driver >/dev/null; then
  step "tauri-driver (WebDriver bridge for the desktop app)"
  cargo install tauri-driver --version '^2.1' --locked
fi

build_ui
step "UI: type check, lint, format, unit tests"
(cd ui && npm run --silent check && npm run --silent lint && npm run --silent format:check && npm test --silent)

step "Rust: format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets "${CARGO_FEATURES[@]}" -- -D warnings

step "Rust: unit and integration tests"
cargo test --workspace "${CARGO_FEATURES[@]}"

step "end-to-end: the desktop app in a real webview (Xvfb + tauri-driver + WebKitWebDriver)"
# `cargo test` does not build the app binary itself; build it with the UI just built embedded.
cargo build -p ebb-app "${CARGO_FEATURES[@]}"
npm_ci "$ROOT/tests/e2e"
export EBB_APP="$ROOT/target/debug/ebb-app" TAURI_DRIVER="$(command -v tauri-driver)"
export E2E_ARTIFACTS="$ROOT/target/e2e"
xvfb-run -a -s "-screen 0 1280x800x24" node --test tests/e2e/settings.test.mjs
say "screenshots: $E2E_ARTIFACTS"
step "all tests passed"
