#!/usr/bin/env bash
# Builds Ebb's Debian package: the desktop app, the `ebb` CLI, a desktop entry, icons and the
# licence notices, in target/release/bundle/deb/. Install it with
#   sudo apt install ./target/release/bundle/deb/Ebb_*_amd64.deb
set -euo pipefail
source "$(dirname "$0")/lib/deps.sh"
cd "$ROOT"

prepare_build
say "building the CLI and the app for release (the first build takes about 15 minutes)"
# One cargo build for both binaries (shared dependencies compiled once), then Tauri's bundler
# packs the app with the files listed under bundle.linux.deb in tauri.conf.json. Only the deb
# bundle: it needs no downloads.
cargo build --release -p ebb-cli -p ebb-app "${CARGO_FEATURES[@]}"
rm -rf target/release/bundle/deb
# Run from src-tauri: the CLI takes the folder it finds tauri.conf.json in, with its Cargo.toml,
# as the app (the root one is the workspace's); paths in the config are relative to it.
(cd src-tauri && ../ui/node_modules/.bin/tauri bundle --bundles deb --ci)
deb="$(ls target/release/bundle/deb/*.deb)"
# Strip the symbol tables from both binaries, as Debian's own packaging does (dh_strip): a
# fraction of the size, and nothing a user needs.
unpacked="$(mktemp -d)"
dpkg-deb -R "$deb" "$unpacked"
strip --strip-unneeded "$unpacked/usr/bin/ebb" "$unpacked/usr/bin/ebb-app"
(cd "$unpacked" && find usr -type f -exec md5sum {} + | sort -k2 > DEBIAN/md5sums)
sed -i "s/^Installed-Size: .*/Installed-Size: $(du -sk "$unpacked/usr" | cut -f1)/" "$unpacked/DEBIAN/control"
dpkg-deb --root-owner-group -Zxz -b "$unpacked" "$deb" >/dev/null
rm -rf "$unpacked"
say "package: $deb"
say "install it with: sudo apt install ./$deb"
