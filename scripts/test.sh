#!/usr/bin/env bash
# Installs what the tests need and runs every test: UI checks and unit tests, Rust format, lints,
# unit and integration tests (with moto_server), and the real-webview end-to-end test.
# EBB_TEST_DEB=1 also builds the .deb and checks what it installs (CI does).
set -euo pipefail
source "$(dirname "$0")/lib/deps.sh"
cd "$ROOT"
started=$SECONDS
# Keep a copy of everything printed, to total the runners' counts at the end.
mkdir -p "$ROOT/target"
LOG="$ROOT/target/test-output.log"
exec > >(tee "$LOG") 2>&1
step() { say "$* [$((SECONDS - started))s]"; }

step "set-up: system packages, toolchains, crates, npm packages, moto_server, tauri-driver"
apt_install "${APT_BUILD[@]}" "${APT_TEST[@]}"
need_rust
need_node
fetch_crates
need_venv
need_tauri_driver
npm_ci "$ROOT/tests/e2e"
build_ui
make_notices
step "set-up done"
# Every local cloud the tests start (in-process, `ebb local serve`, the app's) behaves like a
# busy real account: throttled control plane, expiring sessions, empty log pages, failures
# named apart from outputs.
export EBB_LOCAL_AWS_LIKE=1
# No test reaches the real Hugging Face Hub: the deploy's fit check asks only a loopback
# recorded Hub that a test points HF_ENDPOINT at (and clears this for).
export HF_HUB_OFFLINE=1
step "licences and advisories"
python3 scripts/notices.py --check target/notices.json
# Known vulnerabilities: npm's advisory service where the registry offers it; a refusal of the
# service itself (some mirrors answer 405) is reported, not taken for a clean bill.
for dir in ui tests/e2e; do
  npm_ci "$ROOT/$dir"
  if out="$(cd "$dir" && npm audit --omit=dev 2>&1)"; then
    say "npm audit ($dir): no known vulnerabilities"
  elif grep -q "audit endpoint returned an error" <<<"$out"; then
    say "npm audit ($dir): not checked — this registry does not serve advisories ($(grep -o '[0-9]\{3\} [A-Za-z ]*' <<<"$out" | head -1))"
  else
    printf '%s\n' "$out"
    die "npm audit found vulnerabilities in $dir"
  fi
done
if command -v cargo-audit >/dev/null; then
  cargo audit
else
  say "cargo audit: not checked — it needs the RustSec advisory database, fetched from GitHub"
fi
step "UI: type check, lint, format, unit tests"
(cd ui && npm run --silent check && npm run --silent lint && npm run --silent format:check && npm test --silent)

step "Rust: format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets "${CARGO_FEATURES[@]}" -- -D warnings

step "Rust: unit and integration tests"
# One build of every target (the app binary included) with one feature set, reused below.
cargo build --workspace --all-targets "${CARGO_FEATURES[@]}"
cargo test --workspace "${CARGO_FEATURES[@]}"

step "S3 compatibility: Ceph's s3-tests against ebb local serve (expected passes in tests/s3tests)"
.venv/bin/python tests/s3tests/run.py --ebb "$ROOT/target/debug/ebb"

step "end-to-end: the desktop app in a real webview (Xvfb + tauri-driver + WebKitWebDriver)"
export EBB_APP="$ROOT/target/debug/ebb-app"
export E2E_ARTIFACTS="$ROOT/target/e2e"
xvfb-run -a -s "-screen 0 1280x800x24" node --test tests/e2e/settings.test.mjs
xvfb-run -a -s "-screen 0 1280x800x24" node --test tests/e2e/home.test.mjs
xvfb-run -a -s "-screen 0 1280x800x24" node --test tests/e2e/jobs.test.mjs
xvfb-run -a -s "-screen 0 1280x800x24" node --test tests/e2e/deploy.test.mjs
say "screenshots: $E2E_ARTIFACTS"

if [ "${EBB_TEST_DEB:-}" = 1 ]; then
  step "release package: build the .deb, unpack it into a throwaway root, run what it installs"
  bash scripts/package.sh
  deb="$(ls "$ROOT"/target/release/bundle/deb/*.deb)"
  debroot="$(mktemp -d)"
  dpkg -x "$deb" "$debroot"
  EBB_DEB="$deb" EBB_DEB_ROOT="$debroot" \
    xvfb-run -a -s "-screen 0 1280x800x24" node --test tests/e2e/package.test.mjs
  rm -rf "$debroot"
fi
step "all tests passed"
# One closing line over every runner: cargo's "test result", Vitest's "Tests", node's "# pass".
sed 's/\x1b\[[0-9;]*m//g' "$LOG" | awk '
  /^test result:/ { p += $4; f += $6 }
  /^ +Tests +/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
  /^# pass / { p += $3 } /^# fail / { f += $3 }
  END { printf "summary: %d passed, %d failed\n", p, f }'

