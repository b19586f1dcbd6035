#!/usr/bin/env bash
# Starts two fresh hubs (one per Playwright project: with and without JavaScript), waits for
# them, and runs the end-to-end tests against them. Usage: end2end/run.sh [path/to/cortex]
# [playwright options, e.g. --project ssr-only -g 'sign in']
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin="${1:-target/debug/cortex}"
shift || true
export PATH="$PWD/node_modules/.bin:$PATH"
# The console's styles (scripts/setup.sh's build_admin_css), when the site was built without
# the scripts.
if [ ! -e target/site/pkg/admin.css ]; then
  tailwindcss --input style/admin.css --output target/site/pkg/admin.css --minify 2>/dev/null
fi
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_hub() { # name -> prints "url token"
  local name=$1 port; port=$(free_port)
  CORTEX_DATA_DIR="$work/$name" CORTEX_ADDR="127.0.0.1:$port" LEPTOS_SITE_ROOT=target/site CORTEX_LOG=warn \
    CORTEX_NEURON_UNHEALTHY_AFTER=10m \
    "$bin" serve > "$work/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    if curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && grep -q 'setup?token=' "$work/$name.log"; then
      echo "http://127.0.0.1:$port $(grep -o 'setup?token=[A-Za-z0-9_-]*' "$work/$name.log" | head -n1 | cut -d= -f2)"
      return 0
    fi
    sleep 0.2
  done
  echo "hub $name did not start:" >&2; cat "$work/$name.log" >&2; return 1
}

# Screenshots of every page are written afresh on each run (end2end/screenshots/README.md).
rm -f end2end/screenshots/*.png

# Not in a subshell, so the hubs' pids reach the cleanup trap.
start_hub js > "$work/js.info"
start_hub nojs > "$work/nojs.info"
read -r CORTEX_URL_JS CORTEX_SETUP_JS < "$work/js.info"
read -r CORTEX_URL_NOJS CORTEX_SETUP_NOJS < "$work/nojs.info"
export CORTEX_URL_JS CORTEX_SETUP_JS CORTEX_URL_NOJS CORTEX_SETUP_NOJS
[ -n "$CORTEX_SETUP_JS" ] && [ -n "$CORTEX_SETUP_NOJS" ] || { echo "no setup tokens" >&2; exit 1; }

# Four demo neurons wait for approval on each hub; the tests approve one and add a fifth.
export CORTEX_BIN="$bin" CORTEX_DEMO_DIR_JS="$work/demo-js" CORTEX_DEMO_DIR_NOJS="$work/demo-nojs"
CORTEX_DATA_DIR="$CORTEX_DEMO_DIR_JS" "$bin" demo-neurons --hub "$CORTEX_URL_JS" --count 4 --once
CORTEX_DATA_DIR="$CORTEX_DEMO_DIR_NOJS" "$bin" demo-neurons --hub "$CORTEX_URL_NOJS" --count 4 --once

if ! npx playwright test -c end2end/playwright.config.ts "$@"; then
  echo "---- hub logs ----" >&2; tail -n 50 "$work"/*.log >&2; exit 1
fi
