#!/usr/bin/env bash
# Quick start: installs what is missing, builds a release and runs Cortex on SQLite in ./data.
# Extra arguments go to `cortex serve` (see `cortex --help`); settings come from CORTEX_* and .env.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
say "building Cortex (release)"
cargo leptos build --release --split
slim_split_loader
build_admin_css
export LEPTOS_SITE_ROOT="${LEPTOS_SITE_ROOT:-target/site}"
exec ./target/release/cortex serve "$@"
