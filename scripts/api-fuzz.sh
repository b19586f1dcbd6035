#!/usr/bin/env bash
# Fuzzes every operation of the OpenAPI document with schemathesis against a fresh hub:
# no 5xx, no undocumented status, and no response that breaks the document's own schemas.
# Bounded (a few examples per operation) so it stays well under three minutes.
# Usage: scripts/api-fuzz.sh [path/to/cortex]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin="${1:-target/debug/cortex}"
st=".venv-tools/bin/st"
[ -x "$st" ] || { echo "schemathesis is missing: run scripts/setup.sh" >&2; exit 1; }
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
CORTEX_DATA_DIR="$work/hub" CORTEX_ADDR="127.0.0.1:$port" LEPTOS_SITE_ROOT=target/site CORTEX_LOG=error \
  "$bin" serve > "$work/hub.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  grep -q 'setup?token=' "$work/hub.log" 2>/dev/null && break
  sleep 0.2
done
setup=$(grep -o 'setup?token=[A-Za-z0-9_-]*' "$work/hub.log" | head -n1 | cut -d= -f2)
[ -n "$setup" ] || { echo "the hub did not start:" >&2; cat "$work/hub.log" >&2; exit 1; }
curl -fsS -c "$work/cookies" -H "Origin: $url" -H 'content-type: application/json' \
  -d "{\"token\":\"$setup\",\"username\":\"fuzz\",\"password\":\"a long enough fuzz password\"}" \
  "$url/api/auth/setup" > /dev/null
token=$(curl -fsS -b "$work/cookies" -H "Origin: $url" -H 'content-type: application/json' \
  -d '{"name":"schemathesis","role":"admin"}' "$url/api/tokens/create" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["secret"])')

cd "$work"
# (No --max-time: with one, schemathesis fuzzes until the time is spent; the examples bound
# it, and `timeout` is the backstop.)
timeout 170 "$OLDPWD/$st" run "$url/api/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing \
  --max-examples "${CORTEX_FUZZ_EXAMPLES:-10}" \
  --request-timeout 10 \
  --no-color
