#!/usr/bin/env bash
# Measures the browser bundle as visitors download it: builds the release site (the WASM
# goes through the size-optimised `wasm-release` profile and wasm-opt), then prints the raw
# and gzip sizes of the WASM, JS and CSS. Run from a clean tree; about 5 minutes cold.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
say "building the release site"
cargo leptos build --release >/dev/null
total=0
for f in target/site/pkg/cortex.wasm target/site/pkg/cortex.js target/site/pkg/cortex.css; do
  raw=$(stat -c %s "$f")
  gz=$(gzip -9 -c "$f" | wc -c)
  total=$((total + gz))
  printf '%-32s %10d bytes  %10d gzip\n' "$f" "$raw" "$gz"
done
printf '%-32s %10s        %10d gzip (%d KiB; the aim is under 400 KiB)\n' "total" "" "$total" $((total / 1024))
