#!/usr/bin/env bash
# Runs every test: unit, storage contract on SQLite and Postgres, integration over HTTP, and
# Playwright end-to-end (with and without JavaScript). Installs what is missing first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
started=$(date +%s)
# A one-off build (CI on a clean clone) gains nothing from incremental caches, which take
# gigabytes of disk.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi

# Browser for the end-to-end tests.
if [ ! -x /usr/bin/chromium ]; then
  say "installing Debian's chromium"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi
fi

# Postgres for the contract tests: start the local cluster if it is down.
export CORTEX_TEST_PG_URL="${CORTEX_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432}"
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  say "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  pg_isready -h 127.0.0.1 -p 5432 || { echo "PostgreSQL is not reachable at 127.0.0.1:5432" >&2; exit 1; }
fi

say "building the browser bundle and styles"
cargo leptos build --frontend-only --split
# The end-to-end tests load the split loader as a release serves it.
slim_split_loader
build_admin_css

say "core compiles to WebAssembly"
cargo build -q -p cortex-core --target wasm32-unknown-unknown

say "targeting and bucketing fixtures agree with GrowthBook's own SDK"
node core/tests/growthbook-parity.mjs
node core/tests/growthbook-random.mjs

# gbstats (GrowthBook's statistics engine), the oracle the statistics fixtures are checked
# against, in its own venv (it pins numpy, pandas and scipy below 2).
GBSTATS_VERSION=0.8.0
if ! .venv-stats/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('gbstats') != '$GBSTATS_VERSION')" 2>/dev/null; then
  say "installing gbstats $GBSTATS_VERSION (statistics oracle) into .venv-stats"
  python3 -m venv .venv-stats
  .venv-stats/bin/pip install --quiet --disable-pip-version-check "gbstats==$GBSTATS_VERSION"
fi
say "the statistics fixtures agree with GrowthBook's own engine (gbstats)"
.venv-stats/bin/python core/tests/gbstats-oracle.py

say "unit, contract (SQLite + Postgres) and integration tests"
cargo test --workspace --no-fail-fast

say "API fuzzing (schemathesis over every operation of /api/openapi.json)"
bash scripts/api-fuzz.sh target/debug/cortex

say "end-to-end tests (Playwright, Chromium, with and without JavaScript)"
# The server binary the tests just built serves the bundle cargo-leptos built.
bash end2end/run.sh target/debug/cortex

say "the storefront's first visit stays within its download budget (release build)"
bash scripts/bundle-size.sh

say "all tests passed in $(( $(date +%s) - started )) s"
