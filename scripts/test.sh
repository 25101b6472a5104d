#!/usr/bin/env bash
# Installs what the tests need and runs every test: UI checks and unit tests, Rust format, lints,
# unit and integration tests (with moto_server), and the real-webview end-to-end test.
set -euo pipefail
source "$(dirname "$0")/lib/deps.sh"
cd "$ROOT"
started=$SECONDS
# Keep a copy of everything printed, to total the runners' counts at the end.
mkdir -p "$ROOT/target"
LOG="$ROOT/target/test-output.log"
exec > >(tee "$LOG") 2>&1
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
# One build of every target (the app binary included) with one feature set, reused below.
cargo build --workspace --all-targets "${CARGO_FEATURES[@]}"
cargo test --workspace "${CARGO_FEATURES[@]}"

step "end-to-end: the desktop app in a real webview (Xvfb + tauri-driver + WebKitWebDriver)"
npm_ci "$ROOT/tests/e2e"
export EBB_APP="$ROOT/target/debug/ebb-app" TAURI_DRIVER="$(command -v tauri-driver)"
export E2E_ARTIFACTS="$ROOT/target/e2e"
xvfb-run -a -s "-screen 0 1280x800x24" node --test tests/e2e/settings.test.mjs
say "screenshots: $E2E_ARTIFACTS"
step "all tests passed"
# One closing line over every runner: cargo's "test result", Vitest's "Tests", node's "# pass".
sed 's/\x1b\[[0-9;]*m//g' "$LOG" | awk '
  /^test result:/ { p += $4; f += $6 }
  /^ +Tests +/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
  /^# pass / { p += $3 } /^# fail / { f += $3 }
  END { printf "summary: %d passed, %d failed\n", p, f }'

