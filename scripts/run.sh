#!/usr/bin/env bash
# Installs what is missing, builds Ebb and opens the desktop app (local mode unless you chose AWS
# in Settings). Extra arguments are ignored; EBB_HOME picks another settings folder.
set -euo pipefail
source "$(dirname "$0")/lib/deps.sh"
cd "$ROOT"

prepare_build
say "building the desktop app (the first build takes a while)"
cargo build -p ebb-app -p ebb-cli "${CARGO_FEATURES[@]}"
say "demo requests to try: $ROOT/demo (the seed article's 19 prompts, one JSON line each)"
say "command line: $ROOT/target/debug/ebb --help"
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  die "no display: run this from a desktop session (or under xvfb-run)"
fi
exec "$ROOT/target/debug/ebb-app"
