#!/usr/bin/env bash
# Measures the browser bundle as visitors download it: builds the release front end (the
# WASM goes through the size-optimised `wasm-release` profile and wasm-opt, and is split so
# that each admin page's code is its own file, loaded when that page opens), then prints the
# raw and gzip sizes of what every page loads (the main WASM, JS and CSS: all a storefront
# visitor downloads) and of the admin console's split files; fails when a storefront visit
# would download more than 375 KiB gzip. About 5 minutes warm, 10 cold. The main module is
# also kept with its function names before wasm-opt, for finding what grew:
#   python3 scripts/wasm-breakdown.py target/front/wasm32-unknown-unknown/wasm-release/cortex_app_split.wasm
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
say "building the release front end"
# Names kept in the unoptimised module (wasm-opt drops them from what is served).
CARGO_PROFILE_WASM_RELEASE_STRIP=none cargo leptos build --release --split --frontend-only >/dev/null
slim_split_loader
pkg=target/site/pkg
total=0
for f in "$pkg/cortex.wasm" "$pkg/cortex.js" "$pkg"/__wasm_split*.js "$pkg/cortex.css"; do
  raw=$(stat -c %s "$f")
  gz=$(gzip -9 -c "$f" | wc -c)
  total=$((total + gz))
  printf '%-48s %10d bytes  %10d gzip\n' "$f" "$raw" "$gz"
done
limit_kib=375
printf '%-48s %10s        %10d gzip (%d KiB; the limit is %d KiB)\n' "every page (a storefront visit loads only this)" "" "$total" $((total / 1024)) "$limit_kib"
splits=0
count=0
for f in "$pkg"/split_*.wasm "$pkg"/chunk_*.wasm; do
  [ -e "$f" ] || continue
  splits=$((splits + $(gzip -9 -c "$f" | wc -c)))
  count=$((count + 1))
done
printf '%-48s %10s        %10d gzip (%d files; each admin page loads its own and the chunks it shares)\n' "admin console splits, all together" "" "$splits" "$count"
if [ "$total" -gt $((limit_kib * 1024)) ]; then
  echo "a storefront visit downloads more than $limit_kib KiB gzip: find what grew with scripts/wasm-breakdown.py" >&2
  exit 1
fi
