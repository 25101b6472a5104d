#!/usr/bin/env bash
# Builds Ebb for release and runs every benchmark (`ebb bench`): a million-line job scanned,
# submitted, collected and exported against `wc -l`, boto3, the local cloud's own ceiling and
# `cp`; peak memory; uploads; latency; the desktop results table at a million rows (in a
# real window, under Xvfb when there is no display); and local mode's real models' tokens/s
# against transformers. Prints one table.
# Arguments go to `ebb bench` (see `ebb bench --help`).
set -euo pipefail
source "$(dirname "$0")/lib/deps.sh"
cd "$ROOT"

prepare_build "${APT_TEST[@]}"
need_venv
need_models_venv
need_tauri_driver
npm_ci "$ROOT/tests/e2e"
say "building Ebb for release (the first build takes about 15 minutes)"
cargo build --release -p ebb-cli -p ebb-app "${CARGO_FEATURES[@]}"
exec "$ROOT/target/release/ebb" bench "$@"
