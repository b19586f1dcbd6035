#!/usr/bin/env bash
# Installs what building Cortex needs, only when it is missing. Safe to run again.
# Sourced by start.sh and test.sh; on its own it just installs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }

# After a release build of the front end: the split loader (`__wasm_split.*.js`, which every
# page loads) names, above each of its hundreds of chunks, the pages that share it, in a
# comment, and repeats the same loader code for each chunk; the comments go and the loaders
# share one function (scripts/slim-split-loader.py), a third of its download.
slim_split_loader() {
  local f
  for f in target/site/pkg/__wasm_split.*.js; do
    [ -e "$f" ] && python3 scripts/slim-split-loader.py "$f"
  done
  return 0
}

# After any build of the front end: the admin console's styles (every page's classes) next
# to cortex.css (the storefront's only), for the console's pages to load.
build_admin_css() {
  mkdir -p target/site/pkg
  node_modules/.bin/tailwindcss --input style/admin.css --output target/site/pkg/admin.css --minify 2>/dev/null
}

command -v cargo >/dev/null || { echo "Rust is needed: install it with rustup first." >&2; exit 1; }
command -v npm >/dev/null || { echo "Node.js and npm are needed (for tailwind, wasm-opt and Playwright)." >&2; exit 1; }

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown Rust target"
  rustup target add wasm32-unknown-unknown
fi

# cargo-leptos 0.3.10 is the newest that builds on Rust 1.95 and goes with Leptos 0.8.
if ! cargo leptos --version >/dev/null 2>&1; then
  say "installing cargo-leptos 0.3.10 (about 15 minutes on 2 cores, once)"
  cargo install cargo-leptos --version 0.3.10 --locked
fi

# wasm-bindgen-cli must match the wasm-bindgen in Cargo.lock exactly.
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$want" != "$have" ]; then
  say "installing wasm-bindgen-cli $want"
  # Without --locked: its own lock names a yanked crate.
  cargo install wasm-bindgen-cli --version "=$want"
fi

# tailwind, wasm-opt (binaryen 132; older ones break hydration) and Playwright, from npm.
if [ ! -x node_modules/.bin/tailwindcss ] || [ ! -x node_modules/.bin/wasm-opt ] || [ ! -d node_modules/@playwright/test ] || [ ! -d node_modules/@axe-core/playwright ]; then
  say "installing npm tools (tailwind, binaryen, playwright, axe-core)"
  npm ci --no-audit --no-fund
fi
export PATH="$PWD/node_modules/.bin:$PATH"

# schemathesis (the API fuzzer the tests run against /api/openapi.json), in its own venv.
SCHEMATHESIS_VERSION=4.32.5
if ! .venv-tools/bin/st --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  say "installing schemathesis $SCHEMATHESIS_VERSION (API fuzzer) into .venv-tools"
  python3 -m venv .venv-tools
  .venv-tools/bin/pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
